//! The kernel programs run through BPF_PROG_TEST_RUN on hand-built frames: the records they
//! emit (every field) and the counters they keep. Needs root (loads BPF programs).
#[path = "../common/mod.rs"]
mod common;

mod checksums;
mod encap;
mod filter;
mod icmp;
mod items;
mod malformed;
mod network;
mod valid;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::packet::*;
use tcptrace::{
    decode::{self, Tail},
    kernel::{Counters, Filter, Kernel, Rings},
};
use tcptrace_common::{
    Config, DIR_EGRESS, DIR_INGRESS, FAMILY_V4, FAMILY_V6, MAX_IPV6_EXT, MAX_OPTIONS, MAX_TAIL,
    Record,
    fate::IcmpRecord,
    item::{SnapItem, TailItem},
    pkt_type, status, tcp_flags,
};

const XDP_PASS: u32 = 2;
/// TCX_NEXT / TC_ACT_UNSPEC (-1) as BPF_PROG_TEST_RUN returns it.
const TC_NEXT: u32 = tcptrace_common::TC_NEXT as u32;

const A4: [u8; 4] = [192, 0, 2, 1];
const B4: [u8; 4] = [198, 51, 100, 7];
const C4: [u8; 4] = [203, 0, 113, 9];
const A6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];
const B6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
];
const C6: [u8; 16] = [0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x33];

/// MSS 1460, SACK permitted, timestamps, NOP, window scale 7: 20 bytes.
const OPTS: [u8; 20] = [
    2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 1, 3, 3, 7,
];

/// The program a case runs on (generic XDP: no frags flag; TC ingress: `--xdp-mode off`,
/// and `auto` on virtual interfaces).
use tcptrace::kernel::Prog as Hook;

/// What each program records of where a frame went.
trait HookExt {
    fn direction(self) -> u8;
    fn pkt_type(self, dst: &[u8]) -> u8;
}

impl HookExt for Hook {
    fn direction(self) -> u8 {
        match self {
            Hook::Xdp | Hook::XdpSkb | Hook::TcIngress => DIR_INGRESS,
            Hook::Tc => DIR_EGRESS,
        }
    }

    /// The packet type the program should record for an Ethernet frame to `dst`: egress
    /// is outgoing; TC ingress has the kernel's (the test run's device is loopback, whose
    /// address is all zeros, so any other unicast address is another host's); XDP derives
    /// broadcast and multicast from the address, the rest is to this host.
    fn pkt_type(self, dst: &[u8]) -> u8 {
        let group = if dst.iter().all(|&b| b == 0xff) {
            Some(pkt_type::BROADCAST)
        } else if dst[0] & 1 != 0 {
            Some(pkt_type::MULTICAST)
        } else {
            None
        };
        match self {
            Hook::Tc => pkt_type::OUTGOING,
            Hook::TcIngress if dst.iter().all(|&b| b == 0) => pkt_type::HOST,
            Hook::TcIngress => group.unwrap_or(pkt_type::OTHERHOST),
            Hook::Xdp | Hook::XdpSkb => group.unwrap_or(pkt_type::HOST),
        }
    }
}

/// Every program: cases run on all of them.
const HOOKS: [Hook; 4] = [Hook::Xdp, Hook::XdpSkb, Hook::Tc, Hook::TcIngress];

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) },
        0
    );
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One loaded kernel object and its ring.
struct K {
    k: Kernel,
    ring: Rings,
    /// Counter totals already accounted for by `take_counters`.
    base: Counters,
    /// The header tail of the last record, if it had one.
    last_tail: Option<Tail>,
}

/// A ring item is a plain segment exactly when the packet has no IPv4 options, IPv6
/// extension headers, VLAN tag, PPPoE header or tunnel and is whole: then it is as long as
/// what it carries (fixed part, checksums, the family's addresses, the option bytes). Any
/// other is a tail item, with those headers' bytes as they are in the frame (at most
/// MAX_TAIL of them, `TAIL_CUT` set when there are more).
fn check_tail(item: &[u8], rec: &Record, tail: Option<&Tail>, frame: &[u8]) {
    let l3 = usize::from(rec.l3_off);
    let start = l3 + if rec.family == FAMILY_V6 { 40 } else { 20 };
    let l4 = usize::from(rec.l4_off);
    if let Some(t) = tail.filter(|t| !t.outer().is_empty()) {
        // A tunnel: the outer headers are the bytes before the inner IP header, starting
        // with an IP header of a tunnel protocol (the tunnel tests check the rest).
        assert_eq!(item.len(), size_of::<TailItem>(), "tail item size");
        let outer = t.outer();
        assert_eq!(outer, &frame[l3 - outer.len()..l3], "outer headers");
        let proto = if outer[0] >> 4 == 4 {
            outer[9]
        } else {
            outer[6]
        };
        assert!([4, 17, 41, 47].contains(&proto), "outer protocol {proto}");
        assert_eq!(t.bytes(), &frame[start..l4], "inner options");
        return;
    }
    let pppoe = l3 >= 22 && frame[l3 - 10..l3 - 8] == [0x88, 0x64];
    let total = l3 + rec.ip_len as usize + if rec.family == FAMILY_V6 { 40 } else { 0 };
    let whole = rec.status & !status::CSUM_COMPUTED == 0 && frame.len() == total;
    if l4 == start && !pppoe && rec.vlan_count == 0 && whole {
        // K loads with the checksum fields (8 bytes).
        let addrs = if rec.family == FAMILY_V6 { 32 } else { 8 };
        assert_eq!(
            item.len(),
            44 + 8 + addrs + usize::from(rec.opt_len),
            "plain segment size"
        );
        return;
    }
    assert_eq!(item.len(), size_of::<TailItem>(), "tail item size");
    let t = tail.expect("a tail");
    let want = &frame[start..l4.min(start + MAX_TAIL)];
    assert_eq!(t.bytes(), want, "tail bytes");
    assert_eq!(
        rec.status & status::TAIL_CUT != 0,
        l4 - start > MAX_TAIL,
        "TAIL_CUT"
    );
    assert_eq!(
        t.pppoe,
        pppoe.then(|| u16::from_be_bytes([frame[l3 - 6], frame[l3 - 5]])),
        "PPPoE session"
    );
}

impl K {
    /// Loads with the checksum fields in every item, so that every field can be checked.
    fn load(filter: Filter, cfg: Config) -> K {
        let cfg = Config {
            wire_csums: 1,
            ..cfg
        };
        let mut k = Kernel::load(&filter, cfg).expect("loading the kernel object (run as root)");
        let ring = k.take_rings().expect("ring");
        K {
            k,
            ring,
            base: Counters::default(),
            last_tail: None,
        }
    }

    fn new() -> K {
        K::load(Filter::default(), Config::default())
    }

    fn filtered(hosts: &[IpAddr], ports: &[u16]) -> K {
        K::load(
            Filter {
                hosts: hosts.to_vec(),
                ports: ports.to_vec(),
            },
            Config::default(),
        )
    }

    fn checksums() -> K {
        K::load(
            Filter::default(),
            Config {
                checksums: 1,
                ..Config::default()
            },
        )
    }

    /// Runs `case` on every program, then asserts the counters each run left.
    fn each_hook(mut self, counters: Counters, mut case: impl FnMut(&mut K, Hook)) {
        for hook in HOOKS {
            case(&mut self, hook);
            assert_eq!(self.take_counters(), counters, "{hook:?}");
        }
    }

    /// Runs `hook` once on `frame` and asserts the verdict: the clock before and after.
    fn exec(&mut self, hook: Hook, frame: &[u8]) -> (u64, u64) {
        let before = monotonic_ns();
        let verdict = self
            .k
            .run(hook, frame)
            .unwrap_or_else(|e| panic!("{hook:?} test run on {} bytes: {e}", frame.len()));
        let after = monotonic_ns();
        match hook {
            Hook::Xdp | Hook::XdpSkb => assert_eq!(verdict, XDP_PASS, "XDP verdict"),
            Hook::Tc | Hook::TcIngress => assert_eq!(verdict, TC_NEXT, "TC verdict"),
        }
        (before, after)
    }

    /// Runs `hook` once on `frame`: the ICMP error record it gave, if any (and nothing
    /// else).
    fn icmp(&mut self, hook: Hook, frame: &[u8]) -> Option<(Record, IcmpRecord)> {
        let (before, after) = self.exec(hook, frame);
        let mut items = Vec::new();
        while let Some(item) = self.ring.pop_oldest() {
            let Some(decode::Item::Icmp { rec, icmp }) = decode::item(&item) else {
                panic!("not an ICMP error item: {:02x?}", &item[..]);
            };
            assert_eq!(item.len(), size_of::<IcmpRecord>());
            assert!(before <= rec.ts_ns && rec.ts_ns <= after);
            items.push((rec, icmp));
        }
        assert!(items.len() <= 1, "{hook:?}: {} records", items.len());
        items.pop()
    }

    /// Runs `hook` once on `frame`, asserts the verdict, and drains the ring (at most one
    /// record expected).
    fn run(&mut self, hook: Hook, frame: &[u8]) -> Option<Record> {
        let (before, after) = self.exec(hook, frame);
        let mut recs = Vec::new();
        while let Some(item) = self.ring.pop_oldest() {
            // No snapshot asked for: plain records, or tail records for packets with IPv4
            // options, IPv6 extension headers or PPPoE (checked against the frame here).
            let (mut rec, snap, tail) = decode::segment(&item).expect("a segment item");
            assert!(snap.is_empty(), "snapshot bytes without a snaplen");
            check_tail(&item, &rec, tail.as_ref(), frame);
            rec.status &= !status::TAIL_CUT;
            self.last_tail = tail;
            recs.push(rec);
        }
        assert!(
            recs.len() <= 1,
            "{hook:?}: {} records for one frame",
            recs.len()
        );
        let r = recs.pop()?;
        assert!(
            before <= r.ts_ns && r.ts_ns <= after,
            "ts_ns {} outside [{before}, {after}]",
            r.ts_ns
        );
        Some(r)
    }

    /// Like `run`, but a record is required.
    fn record(&mut self, hook: Hook, frame: &[u8]) -> Record {
        self.run(hook, frame).unwrap_or_else(|| {
            panic!(
                "{hook:?}: no record for {} bytes {:02x?}..., counters {:?}",
                frame.len(),
                &frame[..frame.len().min(80)],
                self.k.counters()
            )
        })
    }

    /// Runs `hook` on an Ethernet `frame` carrying `ip` and `tcp` and checks the record,
    /// field by field, against what the frame holds: the record, for the case's own checks.
    fn v4_frame(&mut self, hook: Hook, frame: &[u8], ip: &Ipv4, tcp: &Tcp) -> Record {
        let r = self.record(hook, frame);
        assert_record(r, expect_v4(hook, frame, 14, ip, tcp));
        r
    }

    /// `v4_frame` on the frame `ip` and `tcp` make.
    fn v4(&mut self, hook: Hook, ip: &Ipv4, tcp: &Tcp) -> Record {
        self.v4_frame(hook, &eth4(&ip.tcp(tcp)), ip, tcp)
    }

    /// `v4_frame` for IPv6.
    fn v6_frame(&mut self, hook: Hook, frame: &[u8], ip: &Ipv6, tcp: &Tcp) -> Record {
        let r = self.record(hook, frame);
        assert_record(r, expect_v6(hook, frame, 14, ip, tcp));
        r
    }

    /// `v6_frame` on the frame `ip` and `tcp` make.
    fn v6(&mut self, hook: Hook, ip: &Ipv6, tcp: &Tcp) -> Record {
        self.v6_frame(hook, &eth6(&ip.tcp(tcp)), ip, tcp)
    }

    /// Like `run`, but no record is allowed.
    fn none(&mut self, hook: Hook, frame: &[u8]) {
        if let Some(r) = self.run(hook, frame) {
            panic!("{hook:?}: unexpected record {r:?}");
        }
    }

    /// The counters since the last call (each test run adds to them).
    fn take_counters(&mut self) -> Counters {
        let now = self.k.counters().expect("counters");
        let b = self.base;
        self.base = now;
        Counters {
            seen: now.seen - b.seen,
            tcp: now.tcp - b.tcp,
            matched: now.matched - b.matched,
            emitted: now.emitted - b.emitted,
            lost: now.lost - b.lost,
            malformed: now.malformed - b.malformed,
            truncated: now.truncated - b.truncated,
            fragments: now.fragments - b.fragments,
        }
    }
}

fn ctr(
    seen: u64,
    tcp: u64,
    matched: u64,
    emitted: u64,
    malformed: u64,
    truncated: u64,
    fragments: u64,
) -> Counters {
    Counters {
        seen,
        tcp,
        matched,
        emitted,
        lost: 0,
        malformed,
        truncated,
        fragments,
    }
}

fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

fn v4_16(a: [u8; 4]) -> [u8; 16] {
    let mut o = [0; 16];
    o[..4].copy_from_slice(&a);
    o
}

/// What the kernel should record for `frame`, an Ethernet frame whose IP header starts at
/// `l3` and TCP header at `l4`, built from `tcp`. The IP part is left to the caller; the TCP
/// part follows what was captured (fields from the bytes present, the rest zero).
fn expect_tcp(hook: Hook, frame: &[u8], l3: usize, l4: usize, tcp: &Tcp) -> Record {
    let mut r = Record::ZERO;
    r.ifindex = 1;
    r.frame_len = frame.len() as u32;
    r.direction = hook.direction();
    r.pkt_type = hook.pkt_type(&frame[..6]);
    r.l3_off = l3 as u16;
    r.l4_off = l4 as u16;
    let avail = frame.len().saturating_sub(l4);
    r.tcp_caplen = avail.min(60) as u8;
    let mut h = [0u8; 20];
    let n = avail.min(20);
    h[..n].copy_from_slice(&frame[l4..l4 + n]);
    if avail < 20 {
        r.status |= status::TCP_TRUNCATED;
    }
    r.sport = be16(&h, 0);
    r.dport = be16(&h, 2);
    r.seq = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    r.ack = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    r.doff = (h[12] >> 4) * 4;
    r.flags = u16::from(h[13]) | (u16::from(h[12] & 1) << 8);
    r.window = be16(&h, 14);
    r.tcp_csum = be16(&h, 16);
    r.urg_ptr = be16(&h, 18);
    if avail >= 20 {
        // The whole fixed header is there: it must be what was built.
        assert_eq!(
            (r.sport, r.dport, r.seq, r.ack, r.flags, r.window, r.urg_ptr),
            (
                tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.flags, tcp.window, tcp.urg
            )
        );
        assert_eq!(r.doff, tcp.doff_words() * 4);
    }
    if avail >= 13 {
        if r.doff < 20 {
            r.status |= status::BAD_DOFF;
        } else {
            let want = usize::from(r.doff) - 20;
            let got = want.min(avail.saturating_sub(20));
            if got < want {
                r.status |= status::OPT_TRUNCATED;
            }
            r.opt_len = got as u8;
            if got > 0 {
                r.options[..got].copy_from_slice(&frame[l4 + 20..l4 + 20 + got]);
            }
        }
    }
    r
}

/// Expected record for an IPv4 frame built with `ip` and `tcp` (`l3` = Ethernet + tags).
fn expect_v4(hook: Hook, frame: &[u8], l3: usize, ip: &Ipv4, tcp: &Tcp) -> Record {
    let ihl = usize::from(ip.ihl_words()) * 4;
    let mut r = expect_tcp(hook, frame, l3, l3 + ihl, tcp);
    r.family = FAMILY_V4;
    r.saddr = v4_16(ip.src);
    r.daddr = v4_16(ip.dst);
    r.tos = ip.tos;
    r.ttl = ip.ttl;
    r.ip_id = u32::from(ip.id);
    r.frag = ip.frag_field();
    r.ihl = ihl as u8;
    r.ip_len = u32::from(be16(frame, l3 + 2));
    r.ip_csum = be16(frame, l3 + 10);
    // The segment by the IP header's account must all be in the frame.
    if l3 + ihl + (r.ip_len as usize).saturating_sub(ihl) > frame.len() {
        r.status |= status::CSUM_UNAVAILABLE;
    }
    r
}

/// Expected record for an IPv6 frame built with `ip` and `tcp`.
fn expect_v6(hook: Hook, frame: &[u8], l3: usize, ip: &Ipv6, tcp: &Tcp) -> Record {
    let mut r = expect_tcp(hook, frame, l3, l3 + 40 + ip.ext_len(), tcp);
    r.family = FAMILY_V6;
    r.saddr = ip.src;
    r.daddr = ip.dst;
    r.tos = ip.tclass;
    r.flow_label = ip.flow & 0xfffff;
    r.ttl = ip.hop_limit;
    r.ip_len = u32::from(be16(frame, l3 + 4));
    for (i, e) in ip.exts.iter().enumerate() {
        r.exts[i] = e.next_header_value();
        if let Ext::Fragment { offset, more, id } = e {
            r.ip_id = *id;
            r.frag = Ext::frag_field(*offset, *more);
        }
    }
    r.ext_count = ip.exts.len() as u8;
    let ext = ip.ext_len();
    let l4 = l3 + 40 + ext;
    if (r.ip_len as usize) < ext || l4 + (r.ip_len as usize - ext) > frame.len() {
        r.status |= status::CSUM_UNAVAILABLE;
    }
    r
}

/// Compares everything but the timestamp (checked in `run`).
#[track_caller]
fn assert_record(got: Record, mut want: Record) {
    want.ts_ns = got.ts_ns;
    assert_eq!(got, want);
}

/// A segment with every field set to something distinctive.
fn full_tcp() -> Tcp {
    Tcp {
        sport: 40000,
        dport: 443,
        seq: 0x0102_0304,
        ack: 0xa0b0_c0d0,
        flags: tcp_flags::SYN
            | tcp_flags::ACK
            | tcp_flags::PSH
            | tcp_flags::URG
            | tcp_flags::ECE
            | tcp_flags::CWR
            | tcp_flags::AE,
        window: 0xfedc,
        urg: 0x1234,
        options: OPTS.to_vec(),
        payload: b"hello world".to_vec(),
        ..Tcp::new(0, 0)
    }
}

fn full_v4() -> Ipv4 {
    Ipv4 {
        tos: 0xb8,
        id: 0xbeef,
        df: true,
        ttl: 57,
        ..Ipv4::new(A4, B4)
    }
}

fn full_v6() -> Ipv6 {
    Ipv6 {
        tclass: 0xa5,
        flow: 0xbcdef,
        hop_limit: 33,
        ..Ipv6::new(A6, B6)
    }
}

fn simple_tcp(sport: u16, dport: u16) -> Tcp {
    Tcp {
        seq: 1000,
        ack: 2000,
        flags: tcp_flags::ACK,
        window: 512,
        ..Tcp::new(sport, dport)
    }
}

fn v4_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    eth4(&Ipv4::new(src, dst).tcp(&simple_tcp(sport, dport)))
}

fn v6_frame(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16) -> Vec<u8> {
    eth6(&Ipv6::new(src, dst).tcp(&simple_tcp(sport, dport)))
}

/// BPF_PROG_TEST_RUN for TC refuses an untagged IPv4 / IPv6 frame whose IP header is not
/// all there (the skb test run looks at it before the program runs); behind a VLAN tag it
/// does not look. So the cut-IP-header cases run untagged and tagged on XDP, tagged on TC.
fn tag_variants(hook: Hook) -> &'static [usize] {
    match hook {
        Hook::Xdp | Hook::XdpSkb => &[0, 1, 2],
        Hook::Tc | Hook::TcIngress => &[1, 2],
    }
}

/// `ip` behind an Ethernet header with `tags` VLAN tags; returns the frame and the L3 offset.
fn tagged(tags: usize, ethertype: u16, ip: &[u8]) -> (Vec<u8>, usize) {
    let [o, i] = qinq(11, 22);
    let t: &[Vlan] = match tags {
        0 => &[],
        1 => &[i],
        _ => &[o, i],
    };
    (ether(t, ethertype, ip), 14 + 4 * tags)
}

/// IPv6 with `exts` and a segment padded to `total` bytes of frame.
fn big_v6(exts: Vec<Ext>, total: usize) -> (Ipv6, Tcp, Vec<u8>) {
    let ip = Ipv6 { exts, ..full_v6() };
    let mut tcp = full_tcp();
    tcp.payload = (0..total - 14 - 40 - ip.ext_len() - 40)
        .map(|i| (i * 13) as u8)
        .collect();
    let frame = eth6(&ip.tcp(&tcp));
    assert_eq!(frame.len(), total);
    (ip, tcp, frame)
}

fn routing() -> Ext {
    Ext::Routing {
        typ: 4,
        segments_left: 0,
        addrs: vec![C6],
    }
}

/// The IPv4-mapped IPv6 address `::ffff:a.b.c.d`.
fn v4_mapped(a: [u8; 4]) -> [u8; 16] {
    std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
}
