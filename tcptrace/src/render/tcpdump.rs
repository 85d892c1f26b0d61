//! tcpdump 4.99.3 `-n` lines for TCP segments.
//!
//! What is reproduced, from `print-ip.c`, `print-ip6.c`, `print-tcp.c`, `print-mptcp.c`,
//! `util-print.c` and `print.c`:
//! - the timestamp column for `-t` … `-ttttt` and `--nano`, and the `-#` packet number;
//! - `IP `/`IP6 `, `truncated-ip - N bytes missing! ` / `truncated-ip6 - N bytes missing!`;
//! - `-v` IPv4 `(tos 0x..[,ECT(0)|,ECT(1)|,CE], ttl N, id N, offset N, flags [..], proto TCP (6),
//!   length N[, bad cksum X (->Y)!])` and a line break plus four spaces; `-v` IPv6
//!   `(class 0x.., flowlabel 0x....., hlim N, next-header NAME (N) payload length: N) `;
//! - IPv6 extension headers before TCP (`HBH `, `DSTOPT `, `frag (off|len) `), after which
//!   the TCP printer shows ports without addresses;
//! - the TCP part: `[|tcp]` cut-offs, `[bad hdr length ..]`, `-q`'s `tcp N`, `Flags [..]`,
//!   `cksum 0x.... (correct|incorrect -> 0x....)`, `seq a:b`, `ack`, `win`, `urg`, options
//!   and `length N`. Application-layer decoding after `length N` is not printed.

use crate::decode::{IcmpError, Segment, Timestamp, ext};
use crate::render::iphdrs::{Ipv4Verbose, Ipv6Verbose};
use crate::render::options::{OptStyle, put_ack_to_options};
use crate::render::seq::SeqTable;
use crate::render::{RenderOptions, TsStyle};
use crate::render::{classic, icmp, iphdrs, tunnel};
use crate::render::{put_hex, put_ip, put_u32, put_u64_spad};
use crate::timefmt::{self, LocalClock};
use tcptrace_common::{DIR_EGRESS, pkt_type, status, tcp_flags};

/// Turns segments into lines. Keeps the state tcpdump keeps between packets (relative
/// sequence numbers, previous and first timestamps, the packet count).
pub struct Renderer {
    opts: RenderOptions,
    seq: SeqTable,
    clock: LocalClock,
    prev: Option<Timestamp>,
    first: Option<Timestamp>,
    count: u64,
    names: IfNames,
}

/// Interface names by index, looked up when first printed (`?` for one that is gone).
#[derive(Default)]
struct IfNames(std::collections::HashMap<u32, String>);

impl IfNames {
    fn get(&mut self, ifindex: u32) -> &str {
        self.0
            .entry(ifindex)
            .or_insert_with(|| crate::source::links::name(ifindex).unwrap_or_else(|| "?".into()))
    }
}

impl Renderer {
    /// A renderer using the system time zone (`TZ`) for local times.
    pub fn new(opts: RenderOptions) -> Self {
        let clock = match opts.ts {
            TsStyle::Local | TsStyle::Date => LocalClock::system(),
            _ => LocalClock::utc(),
        };
        Self::with_clock(opts, clock)
    }

    /// A renderer with a given clock (tests, or a fixed zone).
    pub fn with_clock(opts: RenderOptions, clock: LocalClock) -> Self {
        Renderer {
            opts,
            seq: SeqTable::new(),
            clock,
            prev: None,
            first: None,
            count: 0,
            names: IfNames::default(),
        }
    }

    /// A packet tcpdump would have printed a (non-TCP) line for: it still moves the `-#`
    /// count and the `-ttt` / `-ttttt` references, as in tcpdump.
    pub fn observe(&mut self, ts: Timestamp) {
        self.count += 1;
        self.prev = Some(ts);
        self.first.get_or_insert(ts);
    }

    /// A packet tcpdump printed `[Invalid header: …]` for: it takes a `-#` number but,
    /// having no timestamp printed, moves no `-ttt` / `-ttttt` reference.
    pub fn observe_invalid(&mut self) {
        self.count += 1;
    }

    /// Appends the line(s) for one segment, trailing newline included. Appends nothing for
    /// segments tcpdump would not print a TCP line for (IPv4 `bad-hlen`, `bad-len`, an IP
    /// header cut short, an IPv6 extension header chain the kernel gave up on).
    pub fn render(&mut self, seg: &Segment, out: &mut Vec<u8>) {
        if seg.bad_ipv4() || seg.status & (status::IP_TRUNCATED | status::EXT_LIMIT) != 0 {
            self.observe(seg.ts);
            return;
        }
        self.put_lead(seg, out);
        if self.opts.classic {
            classic::body(&mut self.seq, &self.opts, seg, out);
        } else {
            self.body(seg, out);
        }
        out.push(b'\n');
    }

    /// What starts every line: `-#`'s number, the time, and the interface (`-i any`, or a
    /// cooked frame read with `-r`; never in the classic style).
    fn put_lead(&mut self, seg: &Segment, out: &mut Vec<u8>) {
        self.count += 1;
        if self.opts.number {
            put_u64_spad(out, self.count, 5);
            out.extend_from_slice(b"  ");
        }
        self.put_ts(seg.ts, out);
        if (self.opts.iface_prefix || seg.cooked.is_some()) && !self.opts.classic {
            self.put_iface(seg, out);
        }
    }

    /// Appends the line(s) tcpdump prints for an ICMP error about a traced segment
    /// (nothing in the classic style, which has no ICMP lines).
    pub fn render_icmp(&mut self, e: &IcmpError, out: &mut Vec<u8>) {
        let seg = &e.quoted;
        if self.opts.classic {
            return;
        }
        self.put_lead(seg, out);
        let v = self.opts.verbose > 0;
        if e.is_v6() {
            out.extend_from_slice(b"IP6 ");
            if v {
                let h = Ipv6Verbose {
                    class: e.tos,
                    flow_label: e.flow_label,
                    hlim: e.ttl,
                    next: (b"ICMPv6", 58),
                    payload_len: u32::from(e.ip_len),
                };
                h.put(out);
            }
        } else {
            out.extend_from_slice(b"IP ");
            if v {
                let bad = (e.csum_computed && e.ip_csum != e.ip_csum_calc)
                    .then_some((e.ip_csum, e.ip_csum_calc));
                let h = Ipv4Verbose {
                    tos: e.tos,
                    ttl: e.ttl,
                    id: u32::from(e.ip_id),
                    frag: e.frag,
                    proto: (b"ICMP", 1),
                    len: u32::from(e.ip_len),
                    options: None,
                    bad_csum: bad,
                };
                h.put(out);
            }
        }
        put_ip(out, &e.src);
        out.extend_from_slice(b" > ");
        put_ip(out, &e.dst);
        out.extend_from_slice(b": ");
        if e.is_v6() {
            icmp::icmp6(out, e, v);
        } else {
            icmp::icmp4(out, e, v);
            if v {
                // The quoted packet, as ip_print prints it.
                out.extend_from_slice(b"\n\t");
                self.body(seg, out);
            }
        }
        out.push(b'\n');
    }

    /// tcpdump's `%-5s %-3s ` of the interface name (looked up now) and the direction.
    fn put_iface(&mut self, seg: &Segment, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(self.names.get(seg.ifindex).as_bytes());
        while out.len() < start + 5 {
            out.push(b' ');
        }
        // Linux packet types, as tcpdump names them.
        let kind: &[u8] = match seg.cooked {
            None if seg.direction == DIR_EGRESS => b"Out",
            None => pkt_type_name(seg.pkt_type),
            Some(t) => pkt_type_name(t),
        };
        out.push(b' ');
        out.extend_from_slice(kind);
        out.push(b' ');
    }

    fn put_ts(&mut self, ts: Timestamp, out: &mut Vec<u8>) {
        let nano = self.opts.nano;
        match self.opts.ts {
            TsStyle::None => return,
            TsStyle::Local | TsStyle::Date | TsStyle::Epoch
                if timefmt::unconvertible(timefmt::timeval(ts, nano).0) =>
            {
                out.extend_from_slice(timefmt::ERROR_CONVERTING);
            }
            TsStyle::Local => {
                let (secs, frac) = timefmt::timeval(ts, nano);
                let l = self.clock.local_secs(secs);
                timefmt::put_hms(out, l);
                timefmt::put_tv_frac(out, frac, nano);
            }
            TsStyle::Epoch => timefmt::put_epoch(out, ts, nano),
            TsStyle::Delta => {
                let r = self.prev.unwrap_or(ts);
                timefmt::put_delta(out, ts, r, nano);
                self.prev = Some(ts);
            }
            TsStyle::Date => {
                let (secs, frac) = timefmt::timeval(ts, nano);
                let l = self.clock.local_secs(secs);
                timefmt::put_date_hms(out, l);
                timefmt::put_tv_frac(out, frac, nano);
            }
            TsStyle::SinceFirst => {
                let f = *self.first.get_or_insert(ts);
                timefmt::put_delta(out, ts, f, nano);
            }
        }
        out.push(b' ');
    }

    fn body(&mut self, seg: &Segment, out: &mut Vec<u8>) {
        let v = self.opts.verbose;
        if let Some(ses) = seg.tail().pppoe {
            // print-pppoe.c: the code name (empty for session data), then the session.
            out.extend_from_slice(b"PPPoE  [ses 0x");
            put_hex(out, u64::from(ses), 1);
            out.extend_from_slice(b"] ");
        }
        let outer = seg.tail().outer().len();
        if outer > 0
            && !tunnel::outer(
                out,
                seg.tail().to_l4(),
                outer,
                v,
                self.opts.quiet,
                seg.segment_sum(),
            )
        {
            return;
        }
        if seg.is_v6() {
            out.extend_from_slice(b"IP6 ");
            if let Some(m) = seg.ip_bytes_missing() {
                out.extend_from_slice(b"truncated-ip6 - ");
                put_u32(out, m);
                out.extend_from_slice(b" bytes missing!");
            }
            let exts = seg.ext_headers();
            if v > 0 {
                let nh = exts.first().copied().unwrap_or(6);
                let name = match nh {
                    6 => b"TCP".as_slice(),
                    ext::HOP_BY_HOP => b"Options",
                    ext::ROUTING => b"Routing",
                    ext::FRAGMENT => b"Fragment",
                    _ => b"unknown",
                };
                let h = Ipv6Verbose {
                    class: seg.tos,
                    flow_label: seg.flow_label,
                    hlim: seg.ttl,
                    next: (name, nh),
                    payload_len: seg.ip_len,
                };
                h.put(out);
            }
            if !exts.is_empty() {
                put_ip(out, &seg.src);
                out.extend_from_slice(b" > ");
                put_ip(out, &seg.dst);
                out.extend_from_slice(b": ");
                // The headers' bytes, when the record carries them (else names only).
                let mut hdrs = seg.tail().bytes();
                for &e in exts {
                    // A header the tail does not hold whole (past MAX_TAIL): names from
                    // here on.
                    let whole = match e {
                        ext::FRAGMENT => hdrs.len() >= 8,
                        _ => hdrs
                            .get(1)
                            .is_some_and(|&l| hdrs.len() >= (usize::from(l) + 1) * 8),
                    };
                    if !whole {
                        hdrs = &[];
                    }
                    let next = match e {
                        ext::HOP_BY_HOP | ext::DEST_OPTS if !hdrs.is_empty() => {
                            iphdrs::options_header(
                                out,
                                hdrs,
                                e == ext::HOP_BY_HOP,
                                v > 0,
                                seg.ip_len,
                            )
                        }
                        ext::ROUTING if !hdrs.is_empty() => {
                            iphdrs::routing_header(out, hdrs, v > 0)
                        }
                        ext::FRAGMENT => iphdrs::Next::Advance(8),
                        _ => iphdrs::Next::Advance(0),
                    };
                    match next {
                        iphdrs::Next::Stop => return,
                        iphdrs::Next::Advance(n) if !hdrs.is_empty() => {
                            hdrs = hdrs.get(n..).unwrap_or(&[]);
                            if e != ext::FRAGMENT {
                                continue;
                            }
                        }
                        iphdrs::Next::Advance(_) => {}
                    }
                    match e {
                        ext::HOP_BY_HOP => out.extend_from_slice(b"HBH "),
                        ext::DEST_OPTS => out.extend_from_slice(b"DSTOPT "),
                        ext::FRAGMENT => {
                            out.extend_from_slice(b"frag (");
                            if v > 0 {
                                out.extend_from_slice(b"0x");
                                put_hex(out, seg.ip_id as u64, 8);
                                out.push(b':');
                            }
                            put_u32(out, (seg.frag & 0xfff8) as u32);
                            out.push(b'|');
                            // The bytes after the fragment header (its payload).
                            let all = seg.tail().bytes().len();
                            let frag_len = if all > 0 {
                                seg.ip_len.wrapping_sub((all - hdrs.len()) as u32)
                            } else {
                                seg.tcp_len
                            };
                            put_u32(out, frag_len);
                            out.extend_from_slice(b") ");
                        }
                        ext::ROUTING => out.extend_from_slice(b"RT6 "),
                        _ => {}
                    }
                }
                if seg.ip_len == 0
                    && let Some(j) = seg.tail().jumbo()
                {
                    // A jumbogram cut short: tcpdump says so after the headers.
                    let have = seg.frame_len.saturating_sub(seg.l3_off as u32);
                    let want = j.saturating_add(40);
                    if want > have {
                        out.extend_from_slice(b"truncated-ip6 - ");
                        put_u32(out, want - have);
                        out.extend_from_slice(b" bytes missing!");
                    }
                }
            }
        } else {
            out.extend_from_slice(b"IP ");
            if let Some(m) = seg.ip_bytes_missing() {
                out.extend_from_slice(b"truncated-ip - ");
                put_u32(out, m);
                out.extend_from_slice(b" bytes missing! ");
            }
            if v > 0 {
                ipv4_verbose(seg, out);
            }
        }
        self.tcp(seg, out);
    }

    fn tcp(&mut self, seg: &Segment, out: &mut Vec<u8>) {
        // After IPv6 extension headers, tcpdump prints the ports alone.
        let endpoints = |out: &mut Vec<u8>| {
            if seg.is_v6() && seg.ext_count > 0 {
                put_u32(out, seg.sport as u32);
                out.extend_from_slice(b" > ");
                put_u32(out, seg.dport as u32);
            } else {
                super::put_endpoints(out, seg);
            }
        };
        if !super::put_tcp_lead(out, seg, endpoints, b" [|tcp]") {
            return;
        }
        let hlen = seg.hdr_len as u32;
        let length = seg.tcp_len;
        if self.opts.quiet {
            out.extend_from_slice(b"tcp ");
            put_u32(out, length.wrapping_sub(hlen));
            if hlen > length {
                super::bad_too_long(out, hlen, length);
            }
            return;
        }
        let flags = seg.flag_byte();
        out.extend_from_slice(b"Flags [");
        put_flags(out, flags);
        out.push(b']');

        let rel = self.seq.numbers(seg, self.opts.absolute_seq);
        if hlen > length {
            super::bad_too_long(out, hlen, length);
            return;
        }
        if self.opts.verbose > 0
            && !seg.fragmented()
            && seg.status & status::CSUM_COMPUTED != 0
            && seg.segment_captured()
        {
            out.extend_from_slice(b", cksum 0x");
            put_hex(out, seg.tcp_csum as u64, 4);
            if seg.tcp_csum == seg.tcp_csum_calc {
                out.extend_from_slice(b" (correct)");
            } else {
                out.extend_from_slice(b" (incorrect -> 0x");
                put_hex(out, seg.tcp_csum_calc as u64, 4);
                out.push(b')');
            }
        }
        let plen = length - hlen;
        let sfr = (tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST) as u8;
        if self.opts.verbose > 1 || plen > 0 || flags & sfr != 0 {
            out.extend_from_slice(b", seq ");
            put_u32(out, rel.seq);
            if plen > 0 {
                out.push(b':');
                put_u32(out, rel.seq.wrapping_add(plen));
            }
        }
        if !put_ack_to_options(out, seg, rel, plen, OptStyle::Modern) {
            return;
        }
        out.extend_from_slice(b", length ");
        put_u32(out, plen);
    }
}

/// tcpdump 4.99.3's flag letters, in its table order; `none` for no flag at all.
pub(crate) fn put_flags(out: &mut Vec<u8>, flags: u8) {
    if flags == 0 {
        out.extend_from_slice(b"none");
        return;
    }
    const LETTERS: [(u8, u8); 8] = [
        (0x01, b'F'),
        (0x02, b'S'),
        (0x04, b'R'),
        (0x08, b'P'),
        (0x10, b'.'),
        (0x20, b'U'),
        (0x40, b'E'),
        (0x80, b'W'),
    ];
    for (bit, c) in LETTERS {
        if flags & bit != 0 {
            out.push(c);
        }
    }
}

fn ipv4_verbose(seg: &Segment, out: &mut Vec<u8>) {
    let bad_csum = (seg.status & status::CSUM_COMPUTED != 0
        && seg.status & status::IP_TRUNCATED == 0
        && seg.ip_csum != seg.ip_csum_calc)
        .then_some((seg.ip_csum, seg.ip_csum_calc));
    let h = Ipv4Verbose {
        tos: seg.tos,
        ttl: seg.ttl,
        id: seg.ip_id,
        frag: seg.frag,
        proto: (b"TCP", 6),
        len: seg.ip_len,
        options: (seg.ihl > 20)
            .then(|| seg.tail().bytes())
            .filter(|b| !b.is_empty()),
        bad_csum,
    };
    h.put(out);
}

/// tcpdump's name for a Linux packet type, padded to three columns.
fn pkt_type_name(t: u8) -> &'static [u8] {
    match t {
        pkt_type::HOST => b"In ",
        pkt_type::BROADCAST => b"B  ",
        pkt_type::MULTICAST => b"M  ",
        pkt_type::OTHERHOST => b"P  ",
        pkt_type::OUTGOING => b"Out",
        _ => b"?  ",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcptrace_common::{FAMILY_V6, Record};

    fn utc(opts: RenderOptions) -> Renderer {
        Renderer::with_clock(opts, LocalClock::utc())
    }

    use crate::decode::fixture::{Tcp as _, v4 as rec4};

    /// No timestamps; `absolute_seq`: `-S`.
    fn plain(absolute_seq: bool) -> Renderer {
        utc(RenderOptions {
            ts: TsStyle::None,
            absolute_seq,
            ..Default::default()
        })
    }

    fn verbose() -> Renderer {
        utc(RenderOptions {
            verbose: 1,
            ..Default::default()
        })
    }

    /// `10.0.0.1.1000 > 10.0.0.2.80: Flags [S], seq 100, win 1000, length 0`.
    fn syn() -> Record {
        rec4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 80).tcp(100, 0, 2, 1000)
    }

    fn one(r: &mut Renderer, rec: &Record, secs: i64, micros: u32) -> String {
        let mut out = Vec::new();
        r.render(
            &Segment::from_record(rec, Timestamp::new(secs, micros * 1000)),
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn flags_every_combination() {
        let mut r = plain(true);
        for f in 0u16..=0x1ff {
            let rec = rec4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 80).tcp(0, 0, f, 0);
            let line = one(&mut r, &rec, 0, 0);
            let fb = f as u8;
            let mut letters = String::new();
            for (b, c) in [
                (1, 'F'),
                (2, 'S'),
                (4, 'R'),
                (8, 'P'),
                (16, '.'),
                (32, 'U'),
                (64, 'E'),
                (128, 'W'),
            ] {
                if fb & b != 0 {
                    letters.push(c);
                }
            }
            if letters.is_empty() {
                letters = "none".into();
            }
            let mut want = format!("IP 10.0.0.1.1000 > 10.0.0.2.80: Flags [{letters}]");
            if fb & 7 != 0 {
                want += ", seq 0";
            }
            if fb & 16 != 0 {
                want += ", ack 0";
            }
            want += ", win 0";
            if fb & 32 != 0 {
                want += ", urg 0";
            }
            want += ", length 0\n";
            assert_eq!(line, want, "flags {f:#x}");
        }
    }

    #[test]
    fn verbose_ipv4_and_checksums() {
        // print-flags.pcap packet 4: wrong TCP checksum.
        let mut r = verbose();
        let mut rec = rec4([127, 0, 0, 1], [127, 0, 0, 1], 55920, 80)
            .tcp(928549247, 930778610, 0x18, 8192)
            .opts(&[1, 1, 8, 10, 0x4d, 0xdc, 0x92, 0x17, 0x4d, 0xdc, 0x92, 0x16])
            .payload(202);
        rec.ip_id = 7020;
        rec.status = status::CSUM_COMPUTED;
        rec.tcp_csum = 0xfef2;
        rec.tcp_csum_calc = 0xc376;
        rec.ip_csum = 0x1234;
        rec.ip_csum_calc = 0x1234;
        assert_eq!(
            one(&mut r, &rec, 3 * 3600 + 57 * 60 + 35, 939423),
            "03:57:35.939423 IP (tos 0x0, ttl 64, id 7020, offset 0, flags [DF], proto TCP (6), length 254)\n    127.0.0.1.55920 > 127.0.0.1.80: Flags [P.], cksum 0xfef2 (incorrect -> 0xc376), seq 928549247:928549449, ack 930778610, win 8192, options [nop,nop,TS val 1306300951 ecr 1306300950], length 202\n"
        );
        // Bad IP header checksum, ECN bits, no DF.
        rec.ip_csum = 0x3030;
        rec.ip_csum_calc = 0x29a8;
        rec.tos = 0x2;
        rec.frag = 0;
        rec.tcp_csum_calc = rec.tcp_csum;
        let l = one(&mut r, &rec, 0, 0);
        assert!(
            l.starts_with("00:00:00.000000 IP (tos 0x2,ECT(0), ttl 64, id 7020, offset 0, flags [none], proto TCP (6), length 254, bad cksum 3030 (->29a8)!)\n    "),
            "{l}"
        );
        assert!(l.contains("cksum 0xfef2 (correct), seq 0:202"), "{l}");
        // First fragment: no TCP checksum verdict; MF+DF shown as "+, DF".
        rec.frag = 0x6000;
        rec.tos = 3;
        let l = one(&mut r, &rec, 0, 0);
        assert!(l.contains("(tos 0x3,CE, ttl 64"), "{l}");
        assert!(l.contains("flags [+, DF]"), "{l}");
        assert!(!l.contains("cksum 0xfef2"), "{l}");
    }

    #[test]
    fn ipv6_lines() {
        // bigtcp-ipv6.pcap: payload length 0, no jumbo option.
        let mut rec = Record::ZERO;
        rec.family = FAMILY_V6;
        let a: std::net::Ipv6Addr = "2604:1380:4091:ce00::b".parse().unwrap();
        let b: std::net::Ipv6Addr = "2604:1380:4091:ce00::d".parse().unwrap();
        rec.saddr = a.octets();
        rec.daddr = b.octets();
        rec.ttl = 61;
        rec.flow_label = 0x81ccd;
        rec.tcp_caplen = 32;
        rec.doff = 32;
        rec.l3_off = 14;
        rec.l4_off = 54;
        rec.frame_len = 0x12c0;
        let mut r = utc(RenderOptions::default());
        assert_eq!(
            one(&mut r, &rec, 15 * 3600 + 9 * 60 + 21, 939724),
            "15:09:21.939724 IP6 2604:1380:4091:ce00::b > 2604:1380:4091:ce00::d: [|tcp]\n"
        );
        let mut r = utc(RenderOptions {
            verbose: 1,
            ts: TsStyle::None,
            ..Default::default()
        });
        assert_eq!(
            one(&mut r, &rec, 0, 0),
            "IP6 (flowlabel 0x81ccd, hlim 61, next-header TCP (6) payload length: 0) 2604:1380:4091:ce00::b > 2604:1380:4091:ce00::d: [|tcp]\n"
        );
        // Extension headers (expectations from tcpdump 4.99.3 on hand-made packets).
        let a = "2001:db8::1".parse().unwrap();
        let b = "2001:db8::2".parse().unwrap();
        let mut rec = crate::decode::fixture::v6_hbh(a, b, 1000, 80).tcp(100, 0, 2, 1000);
        let mut q = plain(false);
        assert_eq!(
            one(&mut q, &rec, 0, 0),
            "IP6 2001:db8::1 > 2001:db8::2: HBH 1000 > 80: Flags [S], seq 100, win 1000, options [mss 1440], length 0\n"
        );
        rec.exts[0] = ext::FRAGMENT;
        rec.ip_id = 0xdeadbeef;
        rec.frag = 1;
        assert_eq!(
            one(&mut q, &rec, 0, 0),
            "IP6 2001:db8::1 > 2001:db8::2: frag (0|24) 1000 > 80: Flags [S], seq 100, win 1000, options [mss 1440], length 0\n"
        );
        rec.status = status::CSUM_COMPUTED;
        assert_eq!(
            one(&mut r, &rec, 0, 0),
            "IP6 (hlim 64, next-header Fragment (44) payload length: 32) 2001:db8::1 > 2001:db8::2: frag (0xdeadbeef:0|24) 1000 > 80: Flags [S], seq 100, win 1000, options [mss 1440], length 0\n"
        );
        rec.ext_count = 2;
        rec.exts[0] = ext::HOP_BY_HOP;
        rec.exts[1] = ext::DEST_OPTS;
        rec.l4_off = 56;
        rec.ip_len = 40;
        rec.frame_len = 80;
        assert_eq!(
            one(&mut q, &rec, 0, 0),
            "IP6 2001:db8::1 > 2001:db8::2: HBH DSTOPT 1000 > 80: Flags [S], seq 100, win 1000, options [mss 1440], length 0\n"
        );
        // Truncated: no space after the exclamation mark.
        rec.ext_count = 0;
        rec.l4_off = 40;
        rec.ip_len = 70;
        rec.frame_len = 100;
        rec.flags = 0x18;
        rec.doff = 20;
        rec.opt_len = 0;
        rec.tcp_caplen = 20;
        rec.status = 0;
        let mut s = plain(true);
        assert_eq!(
            one(&mut s, &rec, 0, 0),
            "IP6 truncated-ip6 - 10 bytes missing!2001:db8::1.1000 > 2001:db8::2.80: Flags [P.], seq 100:150, ack 0, win 1000, length 50\n"
        );
    }

    #[test]
    fn truncated_and_bad_headers() {
        let mut r = plain(false);
        let mut q = utc(RenderOptions {
            ts: TsStyle::None,
            quiet: true,
            ..Default::default()
        });
        let mut rec = syn();
        // tcp_caplen 10: ports only; 2: addresses only. (tcpdump 4.99.3 on hand-made packets)
        rec.tcp_caplen = 10;
        rec.frame_len = 14 + 30;
        rec.status = status::TCP_TRUNCATED;
        assert_eq!(
            one(&mut r, &rec, 0, 0),
            "IP truncated-ip - 10 bytes missing! 10.0.0.1.1000 > 10.0.0.2.80:  [|tcp]\n"
        );
        rec.tcp_caplen = 2;
        rec.frame_len = 14 + 22;
        assert_eq!(
            one(&mut q, &rec, 0, 0),
            "IP truncated-ip - 18 bytes missing! 10.0.0.1 > 10.0.0.2: [|tcp]\n"
        );
        // Data offset too small / too large.
        let mut rec = syn();
        rec.ip_len = 40;
        rec.frame_len = 54;
        rec.doff = 12;
        rec.status = status::BAD_DOFF;
        let want = "IP 10.0.0.1.1000 > 10.0.0.2.80:  tcp 8 [bad hdr length 12 - too short, < 20]\n";
        assert_eq!(one(&mut r, &rec, 0, 0), want);
        assert_eq!(one(&mut q, &rec, 0, 0), want);
        rec.doff = 60;
        rec.status = status::OPT_TRUNCATED;
        assert_eq!(
            one(&mut r, &rec, 0, 0),
            "IP 10.0.0.1.1000 > 10.0.0.2.80: Flags [S] [bad hdr length 60 - too long, > 20]\n"
        );
        assert_eq!(
            one(&mut q, &rec, 0, 0),
            "IP 10.0.0.1.1000 > 10.0.0.2.80: tcp 4294967256 [bad hdr length 60 - too long, > 20]\n"
        );
        // IPv4 total length below the header: tcpdump prints `bad-len`, no TCP line.
        rec.ip_len = 0;
        assert_eq!(one(&mut r, &rec, 0, 0), "");
    }

    #[test]
    fn timestamps_and_numbers() {
        let rec = syn();
        let body = "IP 10.0.0.1.1000 > 10.0.0.2.80: Flags [S], seq 100, win 1000, length 0\n";
        let times = [
            (1000, 500000),
            (1000, 200000),
            (177400, 100000),
            (177400, 100001),
        ];
        let run = |o: RenderOptions| -> Vec<String> {
            let mut r = utc(o);
            times
                .iter()
                .map(|&(s, u)| one(&mut r, &rec, s, u).replace(body, ""))
                .collect()
        };
        // Expected columns from tcpdump 4.99.3 (TZ=UTC) on the same four timestamps.
        let o = RenderOptions::default();
        assert_eq!(
            run(o),
            [
                "00:16:40.500000 ",
                "00:16:40.200000 ",
                "01:16:40.100000 ",
                "01:16:40.100001 "
            ]
        );
        assert_eq!(
            run(RenderOptions {
                ts: TsStyle::None,
                ..o
            }),
            ["", "", "", ""]
        );
        assert_eq!(
            run(RenderOptions {
                ts: TsStyle::Epoch,
                ..o
            }),
            [
                "1000.500000 ",
                "1000.200000 ",
                "177400.100000 ",
                "177400.100001 "
            ]
        );
        assert_eq!(
            run(RenderOptions {
                ts: TsStyle::Delta,
                ..o
            }),
            [
                " 00:00:00.000000 ",
                "-00:00:00.300000 ",
                " 00:59:59.900000 ",
                " 00:00:00.000001 "
            ]
        );
        assert_eq!(
            run(RenderOptions {
                ts: TsStyle::Date,
                ..o
            }),
            [
                "1970-01-01 00:16:40.500000 ",
                "1970-01-01 00:16:40.200000 ",
                "1970-01-03 01:16:40.100000 ",
                "1970-01-03 01:16:40.100001 "
            ]
        );
        assert_eq!(
            run(RenderOptions {
                ts: TsStyle::SinceFirst,
                ..o
            }),
            [
                " 00:00:00.000000 ",
                "-00:00:00.300000 ",
                " 00:59:59.600000 ",
                " 00:59:59.600001 "
            ]
        );
        assert_eq!(
            run(RenderOptions { number: true, ..o }),
            [
                "    1  00:16:40.500000 ",
                "    2  00:16:40.200000 ",
                "    3  01:16:40.100000 ",
                "    4  01:16:40.100001 "
            ]
        );
        assert_eq!(
            run(RenderOptions {
                ts: TsStyle::Epoch,
                nano: true,
                ..o
            }),
            [
                "1000.500000000 ",
                "1000.200000000 ",
                "177400.100000000 ",
                "177400.100001000 "
            ]
        );
        assert_eq!(
            run(RenderOptions {
                ts: TsStyle::Delta,
                nano: true,
                ..o
            })[2],
            " 00:59:59.900000000 "
        );
        // Local time follows the zone: 1000 s after the epoch is 19:16:40 in New York.
        let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let mut r = Renderer::with_clock(o, LocalClock::with_zone(tz));
        assert!(one(&mut r, &rec, 1000, 500000).starts_with("19:16:40.500000 IP "));
    }

    #[test]
    fn relative_vs_absolute_and_sack() {
        let c = [192, 168, 1, 1];
        let s = [192, 168, 1, 2];
        let (mut rel, mut abs) = (plain(false), plain(true));
        let syn = rec4(c, s, 40000, 443).tcp(1000, 0, 2, 0);
        let synack = rec4(s, c, 443, 40000).tcp(5000, 1001, 0x12, 0);
        let data = rec4(s, c, 443, 40000).tcp(5001, 1001, 0x18, 0).payload(100);
        let mut o = vec![1, 1, 5, 18];
        for v in [5101u32, 5201, 5301, 5401] {
            o.extend_from_slice(&v.to_be_bytes());
        }
        let sack = rec4(c, s, 40000, 443).tcp(1001, 5001, 0x10, 0).opts(&o);
        let lines: Vec<String> = [syn, synack, data, sack]
            .iter()
            .map(|x| one(&mut rel, x, 0, 0))
            .collect();
        assert_eq!(
            lines[1],
            "IP 192.168.1.2.443 > 192.168.1.1.40000: Flags [S.], seq 5000, ack 1001, win 0, length 0\n"
        );
        assert_eq!(
            lines[2],
            "IP 192.168.1.2.443 > 192.168.1.1.40000: Flags [P.], seq 1:101, ack 1, win 0, length 100\n"
        );
        assert_eq!(
            lines[3],
            "IP 192.168.1.1.40000 > 192.168.1.2.443: Flags [.], ack 1, win 0, options [nop,nop,sack 2 {101:201}{301:401}], length 0\n"
        );
        let l = one(&mut abs, &sack, 0, 0);
        assert!(
            l.contains("ack 5001, win 0, options [nop,nop,sack 2 {5101:5201}{5301:5401}]"),
            "{l}"
        );
    }

    #[test]
    fn rst_with_payload() {
        // tcp_rst_data.pcap: the RST payload is not printed after `length N`.
        let mut r = verbose();
        let mut rec = rec4([199, 204, 31, 89], [172, 16, 133, 41], 80, 52875)
            .tcp(1617159969, 1936660873, 0x14, 5785)
            .payload(58);
        (rec.tos, rec.ttl, rec.ip_id) = (0x20, 243, 8243);
        rec.status = status::CSUM_COMPUTED;
        rec.tcp_csum = 0x8471;
        rec.tcp_csum_calc = 0x8471;
        rec.ip_csum_calc = rec.ip_csum;
        assert_eq!(
            one(&mut r, &rec, 22 * 3600 + 3 * 60 + 19, 190965),
            "22:03:19.190965 IP (tos 0x20, ttl 243, id 8243, offset 0, flags [DF], proto TCP (6), length 98)\n    199.204.31.89.80 > 172.16.133.41.52875: Flags [R.], cksum 0x8471 (correct), seq 1617159969:1617160027, ack 1936660873, win 5785, length 58\n"
        );
        // tcp_rst_data-trunc.pcap: payload not all captured, no checksum verdict.
        rec.status |= status::CSUM_UNAVAILABLE;
        let l = one(&mut r, &rec, 0, 0);
        assert!(
            l.contains("Flags [R.], seq 0:58, ack 1, win 5785, length 58"),
            "{l}"
        );
    }
}
