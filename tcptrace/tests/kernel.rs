//! The kernel programs run through BPF_PROG_TEST_RUN on hand-built frames: the records they
//! emit (every field) and the counters they keep. Needs root (loads BPF programs).
mod common;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hook {
    Xdp,
    /// The generic-XDP program (no frags flag).
    XdpSkb,
    /// TC egress.
    Tc,
    /// TC ingress (`--xdp-mode off`, and `auto` on virtual interfaces).
    TcIngress,
}

impl Hook {
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

    /// Runs `hook` once on `frame` and asserts the verdict: the clock before and after.
    fn exec(&mut self, hook: Hook, frame: &[u8]) -> (u64, u64) {
        let before = monotonic_ns();
        let verdict = match hook {
            Hook::Xdp => self.k.run_xdp(frame),
            Hook::XdpSkb => self.k.run_xdp_skb(frame),
            Hook::Tc => self.k.run_tc(frame),
            Hook::TcIngress => self.k.run_tc_ingress(frame),
        }
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

// ---------------------------------------------------------------------------------------
// Ring item sizes

/// Each ring item is as long as what it carries: a plain segment holds its family's
/// addresses and its option bytes only (and the checksum fields only when an output needs
/// them); IPv4 options, a snapshot (`-w`) make the larger items.
#[test]
fn item_sizes() {
    let ts = opt::ts(1, 2);
    let ts_sack = [opt::ts(1, 2), opt::sack(&[(10, 20)])].concat();
    let full = [
        opt::mss(1460),
        opt::wscale(7),
        opt::ts(1, 2),
        opt::sack(&[(10, 20), (30, 40)]),
    ]
    .concat();
    let seg = |options: &[u8]| Tcp {
        options: options.to_vec(),
        ..simple_tcp(40000, 443)
    };
    let v4 = |options: &[u8]| eth4(&Ipv4::new(A4, B4).tcp(&seg(options)));
    let v6 = |options: &[u8]| eth6(&Ipv6::new(A6, B6).tcp(&seg(options)));
    let v4_ip_opts = eth4(
        &Ipv4 {
            options: vec![1, 1, 1, 1],
            ..Ipv4::new(A4, B4)
        }
        .tcp(&seg(&ts)),
    );
    let sizes = |cfg: Config, frames: &[&[u8]]| -> Vec<usize> {
        let mut k = Kernel::load(&Filter::default(), cfg).expect("loading (run as root)");
        let mut ring = k.take_rings().expect("ring");
        frames
            .iter()
            .map(|f| {
                assert_eq!(k.run_xdp(f).expect("test run"), XDP_PASS);
                let item = ring.pop_oldest().expect("an item");
                assert!(decode::item(&item).is_some(), "decodable");
                item.len()
            })
            .collect()
    };
    let cases: [&[u8]; 7] = [
        &v4(&[]),
        &v4(&ts),
        &v4(&ts_sack),
        &v4(&full),
        &v6(&ts),
        &v6(&ts_sack),
        &v4_ip_opts,
    ];
    assert_eq!(full.len(), MAX_OPTIONS);
    assert_eq!(
        sizes(Config::default(), &cases),
        [52, 64, 76, 92, 88, 100, size_of::<TailItem>()],
        "plain v4 (none, TS, TS + SACK, 40 bytes), plain v6 (TS, TS + SACK), IPv4 options"
    );
    // -v: the checksum fields, 8 bytes more.
    let csums = Config {
        checksums: 1,
        ..Config::default()
    };
    assert_eq!(sizes(csums, &cases[1..2]), [72]);
    let snap = Config {
        snaplen: 96,
        ..Config::default()
    };
    assert_eq!(sizes(snap, &cases[1..2]), [size_of::<SnapItem>()]);
    assert_eq!(size_of::<TailItem>(), 432);
    assert_eq!(size_of::<SnapItem>(), 688);
}

/// One ring per CPU: two producers on two CPUs fill their own rings. Each CPU writes
/// exactly what its ring holds and counts the rest as lost; the merge hands over every item
/// written, in time order.
#[test]
fn per_cpu_rings_full_with_two_producers() {
    use aya::programs::{Program, TestRun as _, TestRunOptions};
    use std::ops::ControlFlow;
    use tcptrace::{kernel::Prog, source::rings::ALL};
    const RUNS: u32 = 1000;
    // SAFETY: plain call.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u32;
    let cpus = aya::util::nr_cpus().expect("CPUs") as u32;
    assert!(cpus >= 2, "needs two CPUs");
    let mut k = Kernel::load_sized(&Filter::default(), Config::default(), page * cpus)
        .expect("loading (run as root)");
    let mut rings = k.take_rings().expect("rings");
    assert_eq!(rings.len(), cpus as usize, "one ring per CPU");
    let frame = &v4_frame(A4, B4, 40000, 443);
    let prog = k.loaded(Prog::Xdp).expect("XDP program");
    std::thread::scope(|s| {
        for cpu in [0usize, 1] {
            s.spawn(move || {
                // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
                unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    assert_eq!(libc::sched_setaffinity(0, size_of_val(&set), &set), 0);
                }
                let Program::Xdp(x) = prog else {
                    panic!("not XDP")
                };
                let opts = TestRunOptions {
                    data_in: Some(frame),
                    repeat: RUNS,
                    ..Default::default()
                };
                assert_eq!(x.test_run(opts).expect("test run").return_value, XDP_PASS);
            });
        }
    });
    // A plain IPv4 segment without options: 52 bytes, 64 in the ring with its header; the
    // kernel keeps what is reserved below the ring's size (at most size - 1 bytes).
    let fit = u64::from((page - 1) / 64);
    let per_cpu = k.counter_reader().unwrap().per_cpu().unwrap();
    for cpu in [0, 1] {
        assert_eq!(per_cpu[cpu].emitted, fit, "CPU {cpu}: what its ring holds");
        assert_eq!(
            per_cpu[cpu].lost,
            u64::from(RUNS) - fit,
            "CPU {cpu}: the rest"
        );
    }
    let total = k.counters().unwrap();
    assert_eq!(
        (total.emitted, total.lost),
        (2 * fit, 2 * (u64::from(RUNS) - fit))
    );
    let (mut n, mut last) = (0u64, 0u64);
    let _ = rings.drain(ALL, &mut |item| {
        let ts = decode::item_ts(item);
        assert!(ts >= last, "time order: {ts} after {last}");
        last = ts;
        n += 1;
        ControlFlow::Continue(())
    });
    assert_eq!(n, total.emitted, "every item written is read");
}

// ---------------------------------------------------------------------------------------
// Valid segments

#[test]
fn ipv4_segment_all_fields() {
    let mut k = K::new();
    for hook in HOOKS {
        let (ip, tcp) = (full_v4(), full_tcp());
        let frame = eth4(&ip.tcp(&tcp));
        let r = k.record(hook, &frame);
        // Field by field against literal values first.
        assert_eq!(r.ifindex, 1, "test runs happen on lo");
        assert_eq!(r.frame_len, 14 + 20 + 40 + 11);
        assert_eq!(r.direction, hook.direction());
        assert_eq!(r.family, FAMILY_V4);
        assert_eq!(&r.saddr[..4], &A4);
        assert_eq!(&r.daddr[..4], &B4);
        assert_eq!(&r.saddr[4..], &[0; 12]);
        assert_eq!(&r.daddr[4..], &[0; 12]);
        assert_eq!((r.sport, r.dport), (40000, 443));
        assert_eq!((r.seq, r.ack), (0x0102_0304, 0xa0b0_c0d0));
        assert_eq!(r.window, 0xfedc);
        assert_eq!(r.urg_ptr, 0x1234);
        assert_eq!(r.flags, 0x1fa);
        assert_eq!(r.flags & tcp_flags::AE, tcp_flags::AE);
        assert_eq!((r.ttl, r.tos), (57, 0xb8));
        assert_eq!(r.ip_id, 0xbeef);
        assert_eq!(r.frag, 0x4000, "DF");
        assert_eq!(r.ip_len, 20 + 40 + 11);
        assert_eq!((r.ihl, r.doff), (20, 40));
        assert_eq!(r.tcp_caplen, 51);
        assert_eq!(usize::from(r.opt_len), OPTS.len());
        assert_eq!(&r.options[..20], &OPTS);
        assert_eq!(&r.options[20..], &[0; 20]);
        assert_eq!((r.l3_off, r.l4_off), (14, 34));
        assert_eq!(r.ip_csum, be16(&frame, 24));
        assert_eq!(r.tcp_csum, be16(&frame, 34 + 16));
        assert_eq!((r.ip_csum_calc, r.tcp_csum_calc), (0, 0));
        assert_eq!(r.status, 0);
        assert_eq!((r.vlan_count, r.vlan_ids), (0, [0, 0]));
        assert_eq!((r.ext_count, r.exts), (0, [0; MAX_IPV6_EXT]));
        assert_eq!(r.flow_label, 0);
        // And as a whole.
        assert_record(r, expect_v4(hook, &frame, 14, &ip, &tcp));
        assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
    }
}

/// The packet type each program records, by destination address: tcpdump's `B`, `M`,
/// `P`, `In`, `Out` with `-i any`. Columns: XDP, generic XDP, TC egress, TC ingress (whose
/// test-run device is loopback: address and broadcast address all zeros, so the kernel
/// calls all-ones multicast there).
#[test]
fn packet_types() {
    use pkt_type::{BROADCAST as B, HOST as H, MULTICAST as M, OTHERHOST as P, OUTGOING as O};
    let cases: [([u8; 6], [u8; 4]); 5] = [
        ([0xff; 6], [B, B, O, M]),
        ([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01], [M, M, O, M]),
        ([0x33, 0x33, 0x00, 0x00, 0x00, 0x01], [M, M, O, M]),
        (DST_MAC, [H, H, O, P]),
        ([0; 6], [H, H, O, H]),
    ];
    let mut k = K::new();
    for (dst, want) in cases {
        let mut frame = v4_frame(A4, B4, 40000, 443);
        frame[..6].copy_from_slice(&dst);
        for (hook, want) in HOOKS.into_iter().zip(want) {
            let r = k.record(hook, &frame);
            assert_eq!(r.pkt_type, want, "{hook:?} to {dst:02x?}");
        }
    }
}

/// With `per_iface`, every counter is kept per interface too (the test runs are on lo);
/// without it, nothing is.
#[test]
fn per_interface_counters() {
    for per_iface in [0, 1] {
        let mut k = K::load(
            Filter {
                hosts: vec![],
                ports: vec![443],
            },
            Config {
                per_iface,
                ..Config::default()
            },
        );
        for hook in HOOKS {
            k.record(hook, &v4_frame(A4, B4, 40000, 443));
            k.none(hook, &v4_frame(A4, B4, 40000, 80));
            let mut udp = v4_frame(A4, B4, 40000, 443);
            udp[14 + 9] = 17;
            k.none(hook, &udp);
        }
        let total = k.k.counters().unwrap();
        assert_eq!(total, ctr(12, 8, 4, 4, 0, 0, 0));
        let by_iface = k.k.iface_counters().unwrap();
        if per_iface == 0 {
            assert!(by_iface.is_empty(), "{by_iface:?}");
        } else {
            assert_eq!(by_iface.into_iter().collect::<Vec<_>>(), [(1, total)]);
            assert_eq!(k.k.take_iface_counters(1), Some(total));
            assert!(k.k.iface_counters().unwrap().is_empty());
        }
    }
}

#[test]
fn ipv4_mf_fragment_zero_offset_is_recorded() {
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv4 {
            mf: true,
            id: 7,
            ..Ipv4::new(A4, B4)
        };
        let tcp = simple_tcp(1, 2);
        let frame = eth4(&ip.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_eq!(r.frag, 0x2000, "MF");
        assert_record(r, expect_v4(hook, &frame, 14, &ip, &tcp));
        assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
    }
}

#[test]
fn ipv4_every_ihl_with_options() {
    let mut k = K::new();
    for hook in HOOKS {
        for words in 5u8..=15 {
            let ip = Ipv4 {
                // Record route style option padding: NOPs then an EOL.
                options: (0..(usize::from(words) - 5) * 4)
                    .map(|i| if i % 4 == 3 { 0 } else { 1 })
                    .collect(),
                id: u16::from(words),
                ..Ipv4::new(A4, B4)
            };
            assert_eq!(ip.ihl_words(), words);
            let tcp = simple_tcp(1000 + u16::from(words), 80);
            let frame = eth4(&ip.tcp(&tcp));
            let r = k.record(hook, &frame);
            assert_eq!(r.ihl, words * 4);
            assert_eq!(usize::from(r.l4_off), 14 + usize::from(words) * 4);
            assert_eq!(r.sport, 1000 + u16::from(words));
            assert_record(r, expect_v4(hook, &frame, 14, &ip, &tcp));
        }
        assert_eq!(k.take_counters(), ctr(11, 11, 11, 11, 0, 0, 0));
    }
}

#[test]
fn ipv6_segment_all_fields() {
    let mut k = K::new();
    for hook in HOOKS {
        let (ip, tcp) = (full_v6(), full_tcp());
        let frame = eth6(&ip.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_eq!(r.ifindex, 1);
        assert_eq!(r.frame_len, 14 + 40 + 40 + 11);
        assert_eq!(r.direction, hook.direction());
        assert_eq!(r.family, FAMILY_V6);
        assert_eq!((r.saddr, r.daddr), (A6, B6));
        assert_eq!((r.sport, r.dport), (40000, 443));
        assert_eq!((r.seq, r.ack), (0x0102_0304, 0xa0b0_c0d0));
        assert_eq!((r.window, r.urg_ptr, r.flags), (0xfedc, 0x1234, 0x1fa));
        assert_eq!((r.ttl, r.tos, r.flow_label), (33, 0xa5, 0xbcdef));
        assert_eq!((r.ip_id, r.frag, r.ihl), (0, 0, 0));
        assert_eq!(r.ip_len, 40 + 11, "IPv6 payload length");
        assert_eq!((r.l3_off, r.l4_off), (14, 54));
        assert_eq!((r.doff, r.tcp_caplen, r.opt_len), (40, 51, 20));
        assert_eq!(&r.options[..20], &OPTS);
        assert_eq!(r.tcp_csum, be16(&frame, 54 + 16));
        assert_eq!((r.ip_csum, r.ip_csum_calc, r.tcp_csum_calc), (0, 0, 0));
        assert_eq!(r.status, 0);
        assert_eq!((r.ext_count, r.vlan_count), (0, 0));
        assert_record(r, expect_v6(hook, &frame, 14, &ip, &tcp));
        assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
    }
}

#[test]
fn flags_one_by_one() {
    let all = [
        tcp_flags::FIN,
        tcp_flags::SYN,
        tcp_flags::RST,
        tcp_flags::PSH,
        tcp_flags::ACK,
        tcp_flags::URG,
        tcp_flags::ECE,
        tcp_flags::CWR,
        tcp_flags::AE,
        0,
    ];
    let mut k = K::new();
    for f in all {
        let tcp = Tcp {
            flags: f,
            // Reserved bits must not leak into the flags.
            reserved: 0b111,
            ..Tcp::new(5, 6)
        };
        let r = k.record(Hook::Xdp, &eth4(&Ipv4::new(A4, B4).tcp(&tcp)));
        assert_eq!(r.flags, f, "flag {f:#x}");
        assert_eq!(r.doff, 20);
    }
    assert_eq!(k.take_counters().emitted, all.len() as u64);
}

#[test]
fn large_frame_xdp_frags() {
    let mut k = K::new();
    let (ip, mut tcp) = (full_v4(), full_tcp());
    tcp.payload = (0..9000 - 14 - 20 - 40).map(|i| i as u8).collect();
    let frame = eth4(&ip.tcp(&tcp));
    assert_eq!(frame.len(), 9000);
    let r = k.record(Hook::Xdp, &frame);
    assert_eq!(r.frame_len, 9000);
    assert_eq!(r.ip_len, 9000 - 14);
    assert_eq!(r.tcp_caplen, 60);
    assert_record(r, expect_v4(Hook::Xdp, &frame, 14, &ip, &tcp));

    let (ip6, mut tcp6) = (full_v6(), full_tcp());
    tcp6.payload = vec![0xab; 9000 - 14 - 40 - 40];
    let frame6 = eth6(&ip6.tcp(&tcp6));
    let r = k.record(Hook::Xdp, &frame6);
    assert_eq!(r.frame_len, 9000);
    assert_record(r, expect_v6(Hook::Xdp, &frame6, 14, &ip6, &tcp6));
    assert_eq!(k.take_counters(), ctr(2, 2, 2, 2, 0, 0, 0));
}

#[test]
fn large_frame_tc() {
    // BPF_PROG_TEST_RUN builds a linear skb for TC: a page at most. 3000 bytes fit.
    let mut k = K::new();
    let (ip, mut tcp) = (full_v4(), full_tcp());
    tcp.payload = vec![0x5a; 3000 - 14 - 20 - 40];
    let frame = eth4(&ip.tcp(&tcp));
    let r = k.record(Hook::Tc, &frame);
    assert_eq!(r.frame_len, 3000);
    assert_record(r, expect_v4(Hook::Tc, &frame, 14, &ip, &tcp));
    assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
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

#[test]
fn xdp_tcp_header_in_fragment() {
    // BPF_PROG_TEST_RUN puts what does not fit in 4096 - 256 - 320 = 3520 bytes of linear
    // area into fragments. 4096 bytes of extension headers push the TCP header (options
    // included) into the first fragment: it must be read through bpf_xdp_load_bytes.
    let mut k = K::new();
    let (ip, tcp, frame) = big_v6(vec![Ext::HopByHop(255), Ext::DestOpts(255)], 9000);
    let r = k.record(Hook::Xdp, &frame);
    assert_eq!((r.l4_off, r.frame_len), (14 + 40 + 4096, 9000));
    assert_eq!((r.sport, r.dport, r.seq), (40000, 443, tcp.seq));
    assert_eq!((r.opt_len, r.status), (20, 0));
    assert_eq!(&r.options[..20], &OPTS);
    assert_record(r, expect_v6(Hook::Xdp, &frame, 14, &ip, &tcp));
    assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
}

#[test]
fn xdp_tcp_header_straddling_fragment() {
    // The TCP header starts 10 bytes before the end of the linear area.
    let mut k = K::new();
    let lin = 4096 - 256 - 320;
    let pad = lin - 10 - 14 - 40 - 2048;
    assert_eq!(pad % 8, 0);
    let (ip, tcp, frame) = big_v6(
        vec![Ext::HopByHop(255), Ext::DestOpts((pad / 8 - 1) as u8)],
        6000,
    );
    let r = k.record(Hook::Xdp, &frame);
    assert_eq!(usize::from(r.l4_off), lin - 10);
    assert_record(r, expect_v6(Hook::Xdp, &frame, 14, &ip, &tcp));
}

#[test]
#[ignore = "known limit (README): the IPv6 extension header walk reads the linear area only"]
fn xdp_extension_header_in_fragment() {
    // 4096 bytes of extension headers, then a third one that starts in the first
    // fragment: the walk must still reach TCP.
    let mut k = K::new();
    let (ip, tcp, frame) = big_v6(
        vec![Ext::HopByHop(255), Ext::DestOpts(255), routing()],
        9000,
    );
    let r = k.record(Hook::Xdp, &frame);
    assert_eq!(r.exts[..3], [0, 60, 43]);
    assert_record(r, expect_v6(Hook::Xdp, &frame, 14, &ip, &tcp));
    assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
}

// ---------------------------------------------------------------------------------------
// Cut short

#[test]
fn ethernet_below_14_bytes_refused_by_test_run() {
    let mut k = K::new();
    let frame = v4_frame(A4, B4, 1, 2);
    for n in [0usize, 1, 13] {
        assert!(k.k.run_xdp(&frame[..n]).is_err(), "XDP accepted {n} bytes");
        assert!(k.k.run_tc(&frame[..n]).is_err(), "TC accepted {n} bytes");
    }
    // Nothing ran.
    assert_eq!(k.take_counters(), Counters::default());
    assert!(k.ring.pop_oldest().is_none());
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

/// A PPPoE session frame (Ethernet type 0x8864) carrying `ip` with PPP protocol `proto`.
fn pppoe_frame(session: u16, proto: u16, ip: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, 0x00];
    p.extend_from_slice(&session.to_be_bytes());
    p.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    p.extend_from_slice(&proto.to_be_bytes());
    p.extend_from_slice(ip);
    ether(&[], 0x8864, &p)
}

#[test]
fn pppoe_sessions_reach_tcp() {
    let mut k = K::new();
    for hook in HOOKS {
        let ip4 = full_v4();
        let tcp = full_tcp();
        let frame = pppoe_frame(0x1234, 0x0021, &ip4.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_record(r, expect_v4(hook, &frame, 22, &ip4, &tcp));
        assert_eq!(k.last_tail.unwrap().pppoe, Some(0x1234));
        let ip6 = full_v6();
        let frame = pppoe_frame(0xbeef, 0x0057, &ip6.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_record(r, expect_v6(hook, &frame, 22, &ip6, &tcp));
        assert_eq!(k.last_tail.unwrap().pppoe, Some(0xbeef));
        // Another PPP protocol (LCP), a cut PPPoE header: nothing.
        k.none(hook, &pppoe_frame(1, 0xc021, &ip4.tcp(&tcp)));
        k.none(hook, &ether(&[], 0x8864, &[0x11, 0, 0]));
        assert_eq!(k.take_counters(), ctr(4, 2, 2, 2, 0, 1, 0));
    }
}

/// Tunnel payloads as the kernel follows them: (name, outer IP protocol, tunnel header
/// before the inner packet, whether an inner Ethernet header follows). UDP lengths and the
/// inner protocol fields are filled in by [`tunnel_frame`].
fn tunnel_heads() -> Vec<(&'static str, u8, Vec<u8>, bool)> {
    let udp = |sport: u16, dport: u16, h: &[u8]| {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&[0, 0, 0, 0]);
        u.extend_from_slice(h);
        u
    };
    vec![
        ("ip-in-ip", 4, vec![], false),
        (
            "vxlan",
            17,
            udp(40000, 4789, &[8, 0, 0, 0, 0, 0, 11, 0]),
            true,
        ),
        (
            "vxlan-source-port",
            17,
            udp(4789, 40000, &[8, 0, 0, 0, 0, 0, 11, 0]),
            true,
        ),
        (
            "geneve-ethernet-option",
            17,
            udp(40000, 6081, &[1, 0, 0x65, 0x58, 0, 0, 11, 0, 0, 1, 2, 3]),
            true,
        ),
        (
            "geneve-ip",
            17,
            udp(40000, 6081, &[0, 0, 0, 0, 0, 0, 11, 0]),
            false,
        ),
        ("gre", 47, vec![0, 0, 0, 0], false),
        (
            "gre-csum-key-seq",
            47,
            vec![0xb0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 9],
            false,
        ),
        ("gretap", 47, vec![0, 0, 0x65, 0x58], true),
    ]
}

/// An Ethernet frame: outer IPv4 or IPv6 (C → A), protocol `ipproto` (IP-in-IP becomes
/// SIT / IPv6-in-IPv6 for an IPv6 inner packet), `head`, an inner Ethernet header when
/// `eth`, then `inner`. Returns the frame and the inner IP header's offset.
fn tunnel_frame(
    outer_v6: bool,
    ipproto: u8,
    head: &[u8],
    eth: bool,
    inner_v6: bool,
    inner: &[u8],
) -> (Vec<u8>, usize) {
    let inner_type = if inner_v6 { ETH_P_IPV6 } else { ETH_P_IP };
    let mut p = head.to_vec();
    let n = p.len();
    match ipproto {
        // Geneve names its payload's type; GRE too.
        17 if !eth && n >= 16 => p[10..12].copy_from_slice(&inner_type.to_be_bytes()),
        47 if !eth => p[2..4].copy_from_slice(&inner_type.to_be_bytes()),
        _ => {}
    }
    if eth {
        p.extend_from_slice(&ether(&[], inner_type, &[]));
    }
    let at = p.len();
    p.extend_from_slice(inner);
    let proto = match ipproto {
        4 if inner_v6 => 41,
        p => p,
    };
    if proto == 17 {
        let len = p.len() as u16;
        p[4..6].copy_from_slice(&len.to_be_bytes());
    }
    let (frame, l3) = if outer_v6 {
        (eth6(&Ipv6::new(C6, A6).packet(proto, &p)), 14 + 40)
    } else {
        (eth4(&Ipv4::new(C4, A4).packet(proto, &p)), 14 + 20)
    };
    (frame, l3 + at)
}

/// Every tunnel shape (each head of [`tunnel_heads`], outer and inner IPv4 / IPv6)
/// carrying `ip4` or `ip6` with [`full_tcp`], through every hook: each gives the record
/// expected of the inner packet, then `check` sees it (`what` names hook and shape), the
/// frame and the inner IP header's offset; every frame is counted once.
fn each_tunnel(ip4: &Ipv4, ip6: &Ipv6, mut check: impl FnMut(&K, &str, &Record, &[u8], usize)) {
    let mut k = K::new();
    let tcp = full_tcp();
    for hook in HOOKS {
        let mut n = 0;
        for (name, ipproto, head, eth) in tunnel_heads() {
            for (outer_v6, inner_v6) in [(false, false), (false, true), (true, false), (true, true)]
            {
                let inner = if inner_v6 {
                    ip6.tcp(&tcp)
                } else {
                    ip4.tcp(&tcp)
                };
                let (frame, l3) = tunnel_frame(outer_v6, ipproto, &head, eth, inner_v6, &inner);
                let what = format!("{hook:?} {name}, outer v6 {outer_v6}, inner v6 {inner_v6}");
                let r = k
                    .run(hook, &frame)
                    .unwrap_or_else(|| panic!("{what}: no record"));
                check(&k, &what, &r, &frame, l3);
                let want = if inner_v6 {
                    expect_v6(hook, &frame, l3, ip6, &tcp)
                } else {
                    expect_v4(hook, &frame, l3, ip4, &tcp)
                };
                assert_record(r, want);
                n += 1;
            }
        }
        assert_eq!(k.take_counters(), ctr(n, n, n, n, 0, 0, 0));
    }
}

#[test]
fn tunnels_reach_the_inner_segment() {
    each_tunnel(&full_v4(), &full_v6(), |k, what, _, frame, l3| {
        let t = k.last_tail.as_ref().expect("tail");
        assert_eq!(t.outer(), &frame[14..l3], "{what}: outer headers");
    });
}

/// An inner IPv4 or IPv6 packet longer than the frame holds (mirrored or GRO'ed traffic
/// in a tunnel): recorded whole, its checksum unavailable, in every tunnel kind.
#[test]
fn tunnels_with_inner_packets_cut_short() {
    let ip4 = Ipv4 {
        total_len: Some(2960),
        ..full_v4()
    };
    let ip6 = Ipv6 {
        payload_len: Some(2920),
        ..full_v6()
    };
    each_tunnel(&ip4, &ip6, |_, what, r, _, _| {
        assert!([2920, 2960].contains(&r.ip_len), "{what}: {}", r.ip_len);
        assert_ne!(r.status & status::CSUM_UNAVAILABLE, 0, "{what}");
    });
}

#[test]
fn not_tunnels() {
    // UDP to other ports, GRE version 1 (PPTP) and with routing, Geneve version 1, an
    // outer fragment: no record.
    let mut k = K::new();
    let inner = full_v4().tcp(&full_tcp());
    let udp = |dport: u16| {
        let mut u = 40000u16.to_be_bytes().to_vec();
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&[0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 11, 0]);
        u
    };
    let mut frag = Ipv4::new(C4, A4);
    frag.mf = true;
    let frames = [
        tunnel_frame(false, 17, &udp(4790), true, false, &inner).0,
        tunnel_frame(false, 47, &[0x30, 0x01, 0x88, 0x0b], false, false, &inner).0,
        tunnel_frame(false, 47, &[0x40, 0, 0, 0], false, false, &inner).0,
        tunnel_frame(
            false,
            17,
            &[&udp(6081)[..8], &[0x40, 0, 8, 0, 0, 0, 0, 0]].concat(),
            false,
            false,
            &inner,
        )
        .0,
        eth4(&frag.packet(4, &inner)),
    ];
    for hook in HOOKS {
        for f in &frames {
            k.none(hook, f);
        }
    }
}

#[test]
fn tunnel_filters_match_the_inner_headers() {
    let tcp = simple_tcp(40001, 8080);
    let inner = Ipv4::new(A4, B4).tcp(&tcp);
    let (frame, _) = tunnel_frame(false, 17, &tunnel_heads()[1].2, true, false, &inner);
    let outer_host: IpAddr = Ipv4Addr::from(C4).into();
    let inner_host: IpAddr = Ipv4Addr::from(B4).into();
    for hook in HOOKS {
        assert!(
            K::filtered(&[inner_host], &[8080])
                .run(hook, &frame)
                .is_some()
        );
        assert!(K::filtered(&[], &[40001]).run(hook, &frame).is_some());
        assert!(K::filtered(&[outer_host], &[]).run(hook, &frame).is_none());
        assert!(K::filtered(&[], &[4789]).run(hook, &frame).is_none());
    }
}

#[test]
fn tc_test_run_refuses_untagged_cut_ip_header() {
    let mut k = K::new();
    let f4 = v4_frame(A4, B4, 1, 2);
    let f6 = v6_frame(A6, B6, 1, 2);
    for n in [14, 20, 33] {
        assert!(
            k.k.run_tc(&f4[..n]).is_err(),
            "TC accepted {n} bytes of IPv4"
        );
    }
    for n in [14, 40, 53] {
        assert!(
            k.k.run_tc(&f6[..n]).is_err(),
            "TC accepted {n} bytes of IPv6"
        );
    }
    // The whole IP header: accepted (a record with no TCP bytes).
    assert!(k.run(Hook::Tc, &f4[..34]).is_some());
    assert!(k.run(Hook::Tc, &f6[..54]).is_some());
    assert_eq!(k.take_counters(), ctr(2, 2, 2, 2, 0, 2, 0));
}

#[test]
fn ethernet_header_only() {
    let mut k = K::new();
    for hook in HOOKS {
        let mut runs = 0;
        for &tags in tag_variants(hook) {
            let (frame, l3) = tagged(tags, ETH_P_IP, &Ipv4::new(A4, B4).tcp(&simple_tcp(1, 2)));
            // The IPv4 header is missing entirely.
            k.none(hook, &frame[..l3]);
            runs += 1;
        }
        assert_eq!(k.take_counters(), ctr(runs, 0, 0, 0, 0, runs, 0));
    }
}

#[test]
fn cut_vlan_tag() {
    let mut k = K::new();
    for hook in HOOKS {
        let frame = ether(
            &[vlan(10)],
            ETH_P_IP,
            &Ipv4::new(A4, B4).tcp(&simple_tcp(1, 2)),
        );
        k.none(hook, &frame[..16]);
        let qq = ether(
            &qinq(10, 20),
            ETH_P_IP,
            &Ipv4::new(A4, B4).tcp(&simple_tcp(1, 2)),
        );
        // Outer tag whole, inner tag cut.
        k.none(hook, &qq[..20]);
        assert_eq!(k.take_counters(), ctr(2, 0, 0, 0, 0, 2, 0));
    }
}

/// An IP header cut short, after every tag count: counted as cut short, no record.
#[test]
fn cut_ip_header() {
    let cases: [(u16, Vec<u8>, [usize; 3]); 2] = [
        (
            ETH_P_IP,
            Ipv4::new(A4, B4).tcp(&simple_tcp(1, 2)),
            [1, 6, 19],
        ),
        (
            ETH_P_IPV6,
            Ipv6::new(A6, B6).tcp(&simple_tcp(1, 2)),
            [1, 20, 39],
        ),
    ];
    let mut k = K::new();
    for (ethertype, ip, cuts) in &cases {
        for hook in HOOKS {
            let mut runs = 0;
            for &tags in tag_variants(hook) {
                let (frame, l3) = tagged(tags, *ethertype, ip);
                for n in cuts {
                    k.none(hook, &frame[..l3 + n]);
                    runs += 1;
                }
            }
            assert_eq!(k.take_counters(), ctr(runs, 0, 0, 0, 0, runs, 0));
        }
    }
}

#[test]
fn cut_ipv4_options() {
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv4 {
            options: vec![1; 12],
            ..Ipv4::new(A4, B4)
        };
        let frame = eth4(&ip.tcp(&simple_tcp(1, 2)));
        for n in [14 + 20, 14 + 24, 14 + 31] {
            k.none(hook, &frame[..n]);
        }
        // Cut exactly at the end of the options: a record with no TCP bytes.
        let r = k.record(hook, &frame[..14 + 32]);
        assert_eq!((r.ihl, r.l4_off, r.tcp_caplen), (32, 46, 0));
        assert_eq!(r.status, status::TCP_TRUNCATED | status::CSUM_UNAVAILABLE);
        assert_eq!(k.take_counters(), ctr(4, 1, 1, 1, 0, 4, 0));
    }
}

#[test]
fn cut_ipv6_extension_header() {
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv6 {
            exts: vec![
                Ext::HopByHop(1),
                Ext::Fragment {
                    offset: 0,
                    more: true,
                    id: 9,
                },
            ],
            ..Ipv6::new(A6, B6)
        };
        let frame = eth6(&ip.tcp(&simple_tcp(1, 2)));
        // Inside the hop-by-hop header (16 bytes), and inside the fragment header (8).
        for n in [54 + 1, 54 + 2, 54 + 8, 54 + 15, 54 + 16 + 4, 54 + 16 + 7] {
            k.none(hook, &frame[..n]);
        }
        assert_eq!(k.take_counters(), ctr(6, 0, 0, 0, 0, 6, 0));
    }
}

#[test]
fn cut_tcp_header() {
    let mut k = K::new();
    for hook in HOOKS {
        for v6 in [false, true] {
            let tcp = full_tcp();
            let (frame, l3) = if v6 {
                (eth6(&full_v6().tcp(&tcp)), 14)
            } else {
                (eth4(&full_v4().tcp(&tcp)), 14)
            };
            let l4 = if v6 { 54 } else { 34 };
            let cuts = [0usize, 1, 2, 3, 4, 6, 12, 13, 14, 16, 18, 19];
            for n in cuts {
                let part = &frame[..l4 + n];
                let r = k.record(hook, part);
                let want = if v6 {
                    expect_v6(hook, part, l3, &full_v6(), &tcp)
                } else {
                    expect_v4(hook, part, l3, &full_v4(), &tcp)
                };
                assert_eq!(usize::from(r.tcp_caplen), n);
                assert_ne!(r.status & status::TCP_TRUNCATED, 0);
                assert_eq!(r.opt_len, 0);
                // Spot checks of what must be there and what must not.
                match n {
                    0 => assert_eq!((r.sport, r.dport, r.seq), (0, 0, 0)),
                    // Half a port: the byte that is there, the other zero.
                    1 => assert_eq!((r.sport, r.dport), (40000 & 0xff00, 0)),
                    2 => assert_eq!((r.sport, r.dport), (40000, 0)),
                    3 => assert_eq!((r.sport, r.dport), (40000, 443 & 0xff00)),
                    4 => assert_eq!((r.sport, r.dport, r.seq), (40000, 443, 0)),
                    12 => {
                        assert_eq!((r.seq, r.ack), (tcp.seq, tcp.ack));
                        assert_eq!((r.doff, r.flags, r.window), (0, 0, 0));
                        assert_eq!(r.status, status::TCP_TRUNCATED | status::CSUM_UNAVAILABLE);
                    }
                    19 => {
                        assert_eq!((r.doff, r.flags, r.window), (40, tcp.flags, tcp.window));
                        // Options announced but none captured.
                        assert_eq!(
                            r.status,
                            status::TCP_TRUNCATED
                                | status::OPT_TRUNCATED
                                | status::CSUM_UNAVAILABLE
                        );
                        // Only the urgent pointer's first byte is there.
                        assert_eq!(r.urg_ptr, tcp.urg & 0xff00);
                    }
                    _ => {}
                }
                assert_record(r, want);
            }
            let n = cuts.len() as u64;
            assert_eq!(
                k.take_counters(),
                ctr(n, n, n, n, 0, n, 0),
                "{hook:?} v6={v6}"
            );
        }
    }
}

#[test]
fn cut_tcp_header_without_options() {
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv4::new(A4, B4);
        let tcp = simple_tcp(7, 8);
        let frame = eth4(&ip.tcp(&tcp));
        let r = k.record(hook, &frame[..34 + 19]);
        assert_eq!(r.status, status::TCP_TRUNCATED | status::CSUM_UNAVAILABLE);
        assert_eq!((r.doff, r.tcp_caplen), (20, 19));
        assert_record(r, expect_v4(hook, &frame[..34 + 19], 14, &ip, &tcp));
        // Exactly 20 bytes: whole.
        let r = k.record(hook, &frame[..34 + 20]);
        assert_eq!((r.status, r.tcp_caplen), (0, 20));
        assert_eq!(k.take_counters(), ctr(2, 2, 2, 2, 0, 1, 0));
    }
}

#[test]
fn cut_tcp_options() {
    let mut k = K::new();
    for hook in HOOKS {
        let (ip, tcp) = (full_v4(), full_tcp());
        let frame = eth4(&ip.tcp(&tcp));
        for have in [1usize, 10, 19] {
            let part = &frame[..34 + 20 + have];
            let r = k.record(hook, part);
            assert_eq!(r.status, status::OPT_TRUNCATED | status::CSUM_UNAVAILABLE);
            assert_eq!(usize::from(r.opt_len), have);
            assert_eq!(&r.options[..have], &OPTS[..have]);
            assert!(r.options[have..].iter().all(|&b| b == 0));
            assert_eq!(usize::from(r.tcp_caplen), 20 + have);
            assert_eq!(r.doff, 40);
            assert_record(r, expect_v4(hook, part, 14, &ip, &tcp));
        }
        // Cut options are not counted as truncated frames (the fixed header is whole).
        assert_eq!(k.take_counters(), ctr(3, 3, 3, 3, 0, 0, 0));
    }
}

// ---------------------------------------------------------------------------------------
// Impossible headers

/// IPv4 headers that cannot be: no record, counted as malformed, or as cut short where
/// the header claims more bytes than the frame has.
#[test]
fn impossible_ipv4_headers() {
    let ip = |ihl: Option<u8>, total_len: Option<u16>, options: usize| Ipv4 {
        ihl,
        total_len,
        options: vec![1; options],
        ..Ipv4::new(A4, B4)
    };
    // (header, malformed rather than cut short)
    let mut cases: Vec<(Ipv4, bool)> = (0u8..5).map(|i| (ip(Some(i), None, 0), true)).collect();
    cases.extend([
        // IHL 15 (60 bytes) over a 20-byte header and a 20-byte TCP header; the total
        // length agrees with the IHL, so only the frame is too short.
        (ip(Some(15), Some(80), 0), false),
        // Total length below the header length.
        (ip(None, Some(0), 0), true),
        (ip(None, Some(19), 0), true),
        (ip(None, Some(27), 8), true),
    ]);
    let mut k = K::new();
    for hook in HOOKS {
        for (ip, malformed) in &cases {
            k.none(hook, &eth4(&ip.tcp(&simple_tcp(1, 2))));
            let (m, t) = if *malformed { (1, 0) } else { (0, 1) };
            assert_eq!(
                k.take_counters(),
                ctr(1, 0, 0, 0, m, t, 0),
                "{hook:?} {ip:?}"
            );
        }
    }
}

#[test]
fn ipv4_total_length_short_but_header_fits() {
    // Total length = IHL: no room for TCP by the header's account, but the bytes are there.
    // The kernel records what it captured; userspace cuts to the IP payload.
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv4 {
            total_len: Some(20),
            ..Ipv4::new(A4, B4)
        };
        let tcp = simple_tcp(1, 2);
        let frame = eth4(&ip.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_eq!(r.ip_len, 20);
        assert_record(r, expect_v4(hook, &frame, 14, &ip, &tcp));
        assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
    }
}

#[test]
fn ip_length_beyond_frame() {
    // The IP header claims more than the frame holds (a capture cut after the TCP header):
    // the record is whole but the checksum cannot be computed.
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv4 {
            total_len: Some(1500),
            ..full_v4()
        };
        let tcp = full_tcp();
        let frame = eth4(&ip.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_eq!(r.ip_len, 1500);
        assert_eq!(r.status, status::CSUM_UNAVAILABLE);
        assert_record(r, expect_v4(hook, &frame, 14, &ip, &tcp));

        let ip6 = Ipv6 {
            payload_len: Some(1460),
            ..full_v6()
        };
        let frame6 = eth6(&ip6.tcp(&tcp));
        let r = k.record(hook, &frame6);
        assert_eq!(r.status, status::CSUM_UNAVAILABLE);
        assert_record(r, expect_v6(hook, &frame6, 14, &ip6, &tcp));

        // IPv6 payload length shorter than the extension headers.
        let ip6 = Ipv6 {
            payload_len: Some(4),
            exts: vec![Ext::DestOpts(1)],
            ..full_v6()
        };
        let frame6 = eth6(&ip6.tcp(&tcp));
        let r = k.record(hook, &frame6);
        assert_eq!(r.status, status::CSUM_UNAVAILABLE);
        assert_record(r, expect_v6(hook, &frame6, 14, &ip6, &tcp));
        assert_eq!(k.take_counters(), ctr(3, 3, 3, 3, 0, 0, 0));
    }
}

#[test]
fn wrong_ip_version() {
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv4 {
            version: 6,
            ..Ipv4::new(A4, B4)
        };
        k.none(hook, &eth4(&ip.tcp(&simple_tcp(1, 2))));
        let ip6 = Ipv6 {
            version: 4,
            ..Ipv6::new(A6, B6)
        };
        k.none(hook, &eth6(&ip6.tcp(&simple_tcp(1, 2))));
        assert_eq!(k.take_counters(), ctr(2, 0, 0, 0, 2, 0, 0));
    }
}

#[test]
fn tcp_doff_below_5() {
    let mut k = K::new();
    for hook in HOOKS {
        for doff in 0u8..5 {
            let ip = Ipv4::new(A4, B4);
            let tcp = Tcp {
                doff: Some(doff),
                options: OPTS[..8].to_vec(),
                ..full_tcp()
            };
            let frame = eth4(&ip.tcp(&tcp));
            let r = k.record(hook, &frame);
            assert_eq!(r.status, status::BAD_DOFF);
            assert_eq!(r.doff, doff * 4);
            assert_eq!(r.opt_len, 0);
            assert_eq!(r.options, [0; MAX_OPTIONS]);
            // The fixed header is still all there.
            assert_eq!(
                (r.sport, r.dport, r.seq, r.ack),
                (40000, 443, tcp.seq, tcp.ack)
            );
            assert_eq!(
                (r.flags, r.window, r.urg_ptr),
                (tcp.flags, tcp.window, tcp.urg)
            );
            assert_record(r, expect_v4(hook, &frame, 14, &ip, &tcp));
        }
        // Recorded, and counted malformed.
        assert_eq!(k.take_counters(), ctr(5, 5, 5, 5, 5, 0, 0));
    }
}

#[test]
fn tcp_doff_15_with_40_option_bytes() {
    let mut k = K::new();
    for hook in HOOKS {
        let opts: Vec<u8> = OPTS
            .iter()
            .copied()
            .chain([1u8; 16])
            .chain([30, 4, 0xaa, 0xbb])
            .collect();
        assert_eq!(opts.len(), 40);
        let ip = full_v4();
        let tcp = Tcp {
            options: opts.clone(),
            ..full_tcp()
        };
        assert_eq!(tcp.doff_words(), 15);
        let frame = eth4(&ip.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_eq!((r.doff, r.opt_len, r.tcp_caplen), (60, 40, 60));
        assert_eq!(r.options.to_vec(), opts);
        assert_eq!(r.status, 0);
        assert_record(r, expect_v4(hook, &frame, 14, &ip, &tcp));
        assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
    }
}

#[test]
fn tcp_doff_beyond_segment() {
    // Data offset 15 but only 4 option bytes and no payload: the header runs past the
    // frame's end, the options are cut.
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv4::new(A4, B4);
        let tcp = Tcp {
            doff: Some(15),
            options: OPTS[..4].to_vec(),
            ..simple_tcp(1, 2)
        };
        let frame = eth4(&ip.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_eq!(r.status, status::OPT_TRUNCATED);
        assert_eq!((r.doff, r.opt_len, r.tcp_caplen), (60, 4, 24));
        assert_eq!(&r.options[..4], &OPTS[..4]);
        assert_record(r, expect_v4(hook, &frame, 14, &ip, &tcp));
    }
}

// ---------------------------------------------------------------------------------------
// VLAN tags

/// One or two VLAN tags (802.1Q, 802.1ad outer + 802.1Q inner, two 802.1Q) in front of
/// IPv4 and IPv6: their IDs, outer first, and offsets past them.
#[test]
fn vlan_tags() {
    let cases: [(Vec<Vlan>, [u16; 2]); 4] = [
        (vec![vlan(100)], [100, 0]),
        (vec![vlan(4095)], [4095, 0]),
        (qinq(300, 42).to_vec(), [300, 42]),
        (vec![vlan(1), vlan(2)], [1, 2]),
    ];
    let mut k = K::new();
    for (tags, ids) in &cases {
        let l3 = 14 + 4 * tags.len();
        for hook in HOOKS {
            let (ip, ip6, tcp) = (full_v4(), full_v6(), full_tcp());
            let frame = ether(tags, ETH_P_IP, &ip.tcp(&tcp));
            let frame6 = ether(tags, ETH_P_IPV6, &ip6.tcp(&tcp));
            for (frame, mut want) in [
                (&frame, expect_v4(hook, &frame, l3, &ip, &tcp)),
                (&frame6, expect_v6(hook, &frame6, l3, &ip6, &tcp)),
            ] {
                let r = k.record(hook, frame);
                assert_eq!((r.vlan_count as usize, r.vlan_ids), (tags.len(), *ids));
                assert_eq!(r.l3_off as usize, l3);
                want.vlan_count = tags.len() as u8;
                want.vlan_ids = *ids;
                assert_record(r, want);
            }
            assert_eq!(k.take_counters(), ctr(2, 2, 2, 2, 0, 0, 0));
        }
    }
}

/// Three to eight stacked tags (Q-in-Q-in-Q) are followed, the first two IDs kept; a
/// ninth tag is not (no record, as for any frame that is not parsed).
#[test]
fn vlan_three_to_eight_tags() {
    let mut k = K::new();
    for hook in HOOKS {
        for n in 3..=9u16 {
            let mut tags = qinq(1, 2).to_vec();
            tags.extend((3..=n).map(vlan));
            let (ip, ip6, tcp) = (full_v4(), full_v6(), full_tcp());
            let l3 = 14 + 4 * tags.len();
            let frame = ether(&tags, ETH_P_IP, &ip.tcp(&tcp));
            let frame6 = ether(&tags, ETH_P_IPV6, &ip6.tcp(&tcp));
            if n == 9 {
                k.none(hook, &frame);
                k.none(hook, &frame6);
                assert_eq!(k.take_counters(), ctr(2, 0, 0, 0, 0, 0, 0));
                continue;
            }
            for (frame, mut want) in [
                (&frame, expect_v4(hook, &frame, l3, &ip, &tcp)),
                (&frame6, expect_v6(hook, &frame6, l3, &ip6, &tcp)),
            ] {
                let r = k.record(hook, frame);
                assert_eq!((r.vlan_count as usize, r.vlan_ids), (tags.len(), [1, 2]));
                want.vlan_count = tags.len() as u8;
                want.vlan_ids = [1, 2];
                assert_record(r, want);
            }
            assert_eq!(
                k.take_counters(),
                ctr(2, 2, 2, 2, 0, 0, 0),
                "{hook:?} {n} tags"
            );
        }
    }
}

/// An 802.3 frame (length field) with 802.2 LLC/SNAP carrying IPv4 or IPv6, untagged and
/// behind one or three tags; other LLC frames are not parsed.
#[test]
fn llc_snap_reaches_tcp() {
    let snap = |ethertype: u16, ip: &[u8]| {
        let mut p = vec![0xaa, 0xaa, 0x03, 0, 0, 0];
        p.extend_from_slice(&ethertype.to_be_bytes());
        p.extend_from_slice(ip);
        p
    };
    let mut k = K::new();
    for hook in HOOKS {
        let (ip, ip6, tcp) = (full_v4(), full_v6(), full_tcp());
        for tags in [vec![], vec![vlan(7)], vec![vlan(7), vlan(8), vlan(9)]] {
            let p4 = snap(ETH_P_IP, &ip.tcp(&tcp));
            let p6 = snap(ETH_P_IPV6, &ip6.tcp(&tcp));
            let frame = ether(&tags, p4.len() as u16, &p4);
            let frame6 = ether(&tags, p6.len() as u16, &p6);
            let l3 = 14 + 4 * tags.len() + 8;
            for (frame, mut want) in [
                (&frame, expect_v4(hook, &frame, l3, &ip, &tcp)),
                (&frame6, expect_v6(hook, &frame6, l3, &ip6, &tcp)),
            ] {
                let r = k.record(hook, frame);
                want.vlan_count = tags.len() as u8;
                want.vlan_ids = [tags.len().min(1) as u16 * 7, (tags.len() > 1) as u16 * 8];
                assert_record(r, want);
            }
            assert_eq!(k.take_counters(), ctr(2, 2, 2, 2, 0, 0, 0));
        }
        // Plain LLC (no SNAP), and SNAP with a vendor OUI: not parsed.
        for head in [
            [0x42u8, 0x42, 0x03, 0, 0, 0],
            [0xaa, 0xaa, 0x03, 0, 0, 0x0c],
        ] {
            let mut p = head.to_vec();
            p.extend_from_slice(&ETH_P_IP.to_be_bytes());
            p.extend_from_slice(&ip.tcp(&tcp));
            k.none(hook, &ether(&[], p.len() as u16, &p));
        }
        assert_eq!(k.take_counters(), ctr(2, 0, 0, 0, 0, 0, 0));
    }
}

// ---------------------------------------------------------------------------------------
// IPv6 extension headers

fn routing() -> Ext {
    Ext::Routing {
        typ: 4,
        segments_left: 0,
        addrs: vec![C6],
    }
}

#[test]
fn ipv6_extension_chain() {
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv6 {
            exts: vec![
                Ext::HopByHop(0),
                Ext::DestOpts(2),
                routing(),
                Ext::Fragment {
                    offset: 0,
                    more: true,
                    id: 0xdead_beef,
                },
            ],
            ..full_v6()
        };
        let tcp = full_tcp();
        let frame = eth6(&ip.tcp(&tcp));
        let ext_len = 8 + 24 + 24 + 8;
        assert_eq!(ip.ext_len(), ext_len);
        let r = k.record(hook, &frame);
        assert_eq!(r.ext_count, 4);
        assert_eq!(r.exts, [0, 60, 43, 44, 0, 0]);
        assert_eq!((r.ip_id, r.frag), (0xdead_beef, 0x0001));
        assert_eq!(usize::from(r.l4_off), 54 + ext_len);
        assert_eq!(r.ip_len as usize, ext_len + tcp.len());
        assert_eq!((r.sport, r.dport, r.opt_len), (40000, 443, 20));
        assert_record(r, expect_v6(hook, &frame, 14, &ip, &tcp));
        assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
    }
}

#[test]
fn ipv6_extension_bound() {
    let mut k = K::new();
    for hook in HOOKS {
        let tcp = simple_tcp(1, 2);
        // Exactly MAX_IPV6_EXT headers: still parsed.
        let mut exts: Vec<Ext> = (0..MAX_IPV6_EXT - 1).map(|_| Ext::DestOpts(0)).collect();
        exts.insert(0, Ext::HopByHop(0));
        let ip = Ipv6 {
            exts,
            ..Ipv6::new(A6, B6)
        };
        let frame = eth6(&ip.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_eq!(usize::from(r.ext_count), MAX_IPV6_EXT);
        assert_eq!(r.exts, [0, 60, 60, 60, 60, 60]);
        assert_eq!(usize::from(r.l4_off), 54 + 8 * MAX_IPV6_EXT);
        assert_record(r, expect_v6(hook, &frame, 14, &ip, &tcp));
        assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));

        // One more: the walk gives up, no record, malformed.
        let ip = Ipv6 {
            exts: (0..=MAX_IPV6_EXT).map(|_| Ext::DestOpts(0)).collect(),
            ..Ipv6::new(A6, B6)
        };
        k.none(hook, &eth6(&ip.tcp(&tcp)));
        // Same with a fragment header last.
        let mut exts: Vec<Ext> = (0..MAX_IPV6_EXT).map(|_| Ext::DestOpts(0)).collect();
        exts.push(Ext::Fragment {
            offset: 0,
            more: false,
            id: 1,
        });
        let ip = Ipv6 {
            exts,
            ..Ipv6::new(A6, B6)
        };
        k.none(hook, &eth6(&ip.tcp(&tcp)));
        assert_eq!(k.take_counters(), ctr(2, 0, 0, 0, 2, 0, 0));
    }
}

#[test]
fn ipv6_extension_then_non_tcp() {
    let mut k = K::new();
    for hook in HOOKS {
        let ip = Ipv6 {
            exts: vec![Ext::HopByHop(0)],
            ..Ipv6::new(A6, B6)
        };
        k.none(hook, &eth6(&ip.packet(IPPROTO_UDP, &udp(53, 53, b"x"))));
        // No next header.
        k.none(hook, &eth6(&ip.packet(59, &[])));
        assert_eq!(k.take_counters(), ctr(2, 0, 0, 0, 0, 0, 0));
    }
}

// ---------------------------------------------------------------------------------------
// Not TCP, fragments

#[test]
fn non_tcp_frames() {
    let mut k = K::new();
    for hook in HOOKS {
        let v4 = Ipv4::new(A4, B4);
        let v6 = Ipv6::new(A6, B6);
        let frames = [
            eth4(&v4.packet(IPPROTO_UDP, &udp(1234, 80, b"not tcp at all"))),
            eth4(&v4.packet(IPPROTO_ICMP, &icmp_echo(1, 1, b"ping"))),
            eth6(&v6.packet(IPPROTO_UDP, &udp(1234, 80, b"x"))),
            eth6(&v6.packet(IPPROTO_ICMPV6, &[128, 0, 0, 0, 0, 1, 0, 1])),
            ether(&[], ETH_P_ARP, &arp_request(A4, B4)),
            ether(&[vlan(5)], ETH_P_ARP, &arp_request(A4, B4)),
            // Unknown ethertype carrying what looks like IPv4+TCP.
            ether(&[], 0x88b5, &v4.tcp(&simple_tcp(1, 2))),
        ];
        for f in &frames {
            k.none(hook, f);
        }
        let n = frames.len() as u64;
        assert_eq!(k.take_counters(), ctr(n, 0, 0, 0, 0, 0, 0));
    }
}

#[test]
fn ipv4_later_fragment() {
    let mut k = K::new();
    for hook in HOOKS {
        for (off, mf) in [(1u16, true), (185, false), (0x1fff, true)] {
            let ip = Ipv4 {
                frag_off: off,
                mf,
                id: 77,
                ..Ipv4::new(A4, B4)
            };
            // The payload looks like a TCP header, but it is not one.
            k.none(hook, &eth4(&ip.tcp(&simple_tcp(1, 2))));
        }
        assert_eq!(k.take_counters(), ctr(3, 0, 0, 0, 0, 0, 3));
    }
}

#[test]
fn ipv6_later_fragment() {
    let mut k = K::new();
    for hook in HOOKS {
        for (offset, more) in [(1u16, true), (185, false)] {
            let ip = Ipv6 {
                exts: vec![
                    Ext::HopByHop(0),
                    Ext::Fragment {
                        offset,
                        more,
                        id: 5,
                    },
                ],
                ..Ipv6::new(A6, B6)
            };
            k.none(hook, &eth6(&ip.tcp(&simple_tcp(1, 2))));
        }
        // First fragment without M (atomic fragment): recorded.
        let ip = Ipv6 {
            exts: vec![Ext::Fragment {
                offset: 0,
                more: false,
                id: 0x0102_0304,
            }],
            ..Ipv6::new(A6, B6)
        };
        let tcp = simple_tcp(1, 2);
        let frame = eth6(&ip.tcp(&tcp));
        let r = k.record(hook, &frame);
        assert_eq!((r.ip_id, r.frag, r.ext_count), (0x0102_0304, 0, 1));
        assert_record(r, expect_v6(hook, &frame, 14, &ip, &tcp));
        assert_eq!(k.take_counters(), ctr(3, 1, 1, 1, 0, 0, 2));
    }
}

// ---------------------------------------------------------------------------------------
// Filter

fn ip4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn ip6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}

#[test]
fn filter_hosts_only() {
    let mut k = K::filtered(&[ip4(A4)], &[]);
    for hook in HOOKS {
        let r = k.record(hook, &v4_frame(A4, B4, 1, 2));
        assert_eq!(&r.saddr[..4], &A4, "hit on source");
        let r = k.record(hook, &v4_frame(C4, A4, 3, 4));
        assert_eq!(&r.daddr[..4], &A4, "hit on destination");
        k.none(hook, &v4_frame(B4, C4, 5, 6));
        // An IPv6 packet never matches an IPv4 host.
        k.none(hook, &v6_frame(A6, B6, 1, 2));
        assert_eq!(k.take_counters(), ctr(4, 4, 2, 2, 0, 0, 0));
    }
}

#[test]
fn filter_ports_only() {
    let mut k = K::filtered(&[], &[443]);
    for hook in HOOKS {
        let r = k.record(hook, &v4_frame(A4, B4, 443, 50000));
        assert_eq!(r.sport, 443, "hit on source port");
        let r = k.record(hook, &v6_frame(A6, B6, 50000, 443));
        assert_eq!(r.dport, 443, "hit on destination port");
        k.none(hook, &v4_frame(A4, B4, 444, 442));
        k.none(hook, &v6_frame(A6, B6, 80, 8080));
        assert_eq!(k.take_counters(), ctr(4, 4, 2, 2, 0, 0, 0));
    }
}

#[test]
fn filter_port_zero_and_max() {
    let mut k = K::filtered(&[], &[0, 65535]);
    assert!(k.run(Hook::Xdp, &v4_frame(A4, B4, 0, 1)).is_some());
    assert!(k.run(Hook::Xdp, &v4_frame(A4, B4, 1, 65535)).is_some());
    k.none(Hook::Xdp, &v4_frame(A4, B4, 1, 65534));
    assert_eq!(k.take_counters(), ctr(3, 3, 2, 2, 0, 0, 0));
}

#[test]
fn filter_ports_on_cut_tcp_header() {
    let mut k = K::filtered(&[], &[443]);
    for hook in HOOKS {
        let frame = v4_frame(A4, B4, 1, 443);
        // The ports are not both there: no match.
        k.none(hook, &frame[..34]);
        k.none(hook, &frame[..34 + 3]);
        // Both ports there: match, record cut short.
        let r = k.record(hook, &frame[..34 + 4]);
        assert_eq!((r.sport, r.dport, r.tcp_caplen), (1, 443, 4));
        assert_eq!(r.status, status::TCP_TRUNCATED | status::CSUM_UNAVAILABLE);
        assert_eq!(k.take_counters(), ctr(3, 3, 1, 1, 0, 3, 0));
    }
}

#[test]
fn filter_hosts_and_ports() {
    let mut k = K::filtered(&[ip4(A4)], &[22]);
    for hook in HOOKS {
        assert!(k.run(hook, &v4_frame(A4, B4, 50000, 22)).is_some());
        assert!(k.run(hook, &v4_frame(B4, A4, 22, 50000)).is_some());
        // Host hit, port miss.
        k.none(hook, &v4_frame(A4, B4, 50000, 23));
        // Port hit, host miss.
        k.none(hook, &v4_frame(B4, C4, 22, 50000));
        assert_eq!(k.take_counters(), ctr(4, 4, 2, 2, 0, 0, 0));
    }
}

#[test]
fn filter_several_values() {
    let mut k = K::filtered(&[ip4(A4), ip4(B4), ip6(A6)], &[80, 443, 8080]);
    for hook in HOOKS {
        for (s, d, sp, dp) in [(A4, C4, 80, 1), (C4, B4, 1, 443), (B4, A4, 8080, 8080)] {
            let r = k.record(hook, &v4_frame(s, d, sp, dp));
            assert_eq!((r.sport, r.dport), (sp, dp));
        }
        k.none(hook, &v4_frame(C4, [10, 0, 0, 1], 80, 443));
        k.none(hook, &v4_frame(A4, B4, 81, 442));
        let r = k.record(hook, &v6_frame(C6, A6, 443, 1));
        assert_eq!(r.daddr, A6);
        k.none(hook, &v6_frame(C6, B6, 443, 1));
        assert_eq!(k.take_counters(), ctr(7, 7, 4, 4, 0, 0, 0));
    }
}

#[test]
fn filter_ipv6_host() {
    let mut k = K::filtered(&[ip6(B6)], &[]);
    for hook in HOOKS {
        let r = k.record(hook, &v6_frame(A6, B6, 1, 2));
        assert_eq!(r.daddr, B6);
        let r = k.record(hook, &v6_frame(B6, C6, 1, 2));
        assert_eq!(r.saddr, B6);
        k.none(hook, &v6_frame(A6, C6, 1, 2));
        // An IPv4 packet whose addresses are B6's first bytes does not match.
        let mut pre = [0u8; 4];
        pre.copy_from_slice(&B6[..4]);
        k.none(hook, &v4_frame(pre, A4, 1, 2));
        // Extension headers in front of TCP do not move the addresses.
        let ip = Ipv6 {
            exts: vec![Ext::HopByHop(0), routing()],
            ..Ipv6::new(A6, B6)
        };
        assert!(k.run(hook, &eth6(&ip.tcp(&simple_tcp(1, 2)))).is_some());
        // VLAN-tagged.
        let f = ether(
            &qinq(1, 2),
            ETH_P_IPV6,
            &Ipv6::new(B6, A6).tcp(&simple_tcp(1, 2)),
        );
        assert!(k.run(hook, &f).is_some());
        assert_eq!(k.take_counters(), ctr(6, 6, 4, 4, 0, 0, 0));
    }
}

#[test]
fn filter_ipv4_host_does_not_match_ipv6_address() {
    let mut k = K::filtered(&[ip4(A4)], &[]);
    for hook in HOOKS {
        // IPv6 addresses holding the IPv4 address in their low bytes (IPv4-compatible
        // ::192.0.2.1, and a global one).
        let mut compat = [0u8; 16];
        compat[12..].copy_from_slice(&A4);
        let mut global = A6;
        global[12..].copy_from_slice(&A4);
        k.none(hook, &v6_frame(compat, B6, 1, 2));
        k.none(hook, &v6_frame(B6, global, 1, 2));
        assert_eq!(k.take_counters(), ctr(2, 2, 0, 0, 0, 0, 0));
    }
}

#[test]
fn filter_ipv4_host_does_not_match_ipv4_mapped_ipv6_address() {
    // An IPv6 segment carrying ::ffff:192.0.2.1 must not match the IPv4 host 192.0.2.1
    // (tcpdump: `host 192.0.2.1` is IPv4 only).
    let mut k = K::filtered(&[ip4(A4)], &[]);
    for hook in HOOKS {
        let mapped = v4_mapped(A4);
        k.none(hook, &v6_frame(B6, mapped, 1, 2));
        k.none(hook, &v6_frame(mapped, B6, 1, 2));
        assert_eq!(k.take_counters(), ctr(2, 2, 0, 0, 0, 0, 0));
    }
}

#[test]
fn filter_ipv6_mapped_host_does_not_match_ipv4_packet() {
    for hook in HOOKS {
        // Asking for the IPv6 address ::ffff:192.0.2.1 is not asking for IPv4 192.0.2.1.
        let mapped = v4_mapped(A4);
        let mut k = K::filtered(&[ip6(mapped)], &[]);
        k.none(hook, &v4_frame(A4, B4, 1, 2));
        let r = k.record(hook, &v6_frame(mapped, B6, 1, 2));
        assert_eq!(r.family, FAMILY_V6);
        assert_eq!(k.take_counters(), ctr(2, 2, 1, 1, 0, 0, 0));
    }
}

#[test]
fn filter_does_not_drop_traffic() {
    // Filtered-out frames still pass (the verdict is checked in `run`), and the counters
    // show every frame seen.
    let mut k = K::filtered(&[ip4(C4)], &[9]);
    for i in 0..50u16 {
        k.none(Hook::Xdp, &v4_frame(A4, B4, i + 100, 80));
        k.none(Hook::Tc, &v4_frame(A4, B4, i + 100, 80));
    }
    assert_eq!(k.take_counters(), ctr(100, 100, 0, 0, 0, 0, 0));
}

// ---------------------------------------------------------------------------------------
// Checksums (Config.checksums)

/// Checks the computed checksums of a record for a whole, correct frame.
#[track_caller]
fn assert_csum_ok(r: &Record, want_ip: u16, want_tcp: u16) {
    assert_ne!(
        r.status & status::CSUM_COMPUTED,
        0,
        "CSUM_COMPUTED: {:#x}",
        r.status
    );
    assert_eq!(r.status & status::CSUM_UNAVAILABLE, 0);
    assert_eq!(r.ip_csum_calc, want_ip, "ip_csum_calc");
    assert_eq!(r.tcp_csum_calc, want_tcp, "tcp_csum_calc");
}

#[test]
fn checksums_off_by_default() {
    let mut k = K::new();
    for hook in HOOKS {
        let r = k.record(hook, &eth4(&full_v4().tcp(&full_tcp())));
        assert_eq!(
            r.status & (status::CSUM_COMPUTED | status::CSUM_UNAVAILABLE),
            0
        );
        assert_eq!((r.ip_csum_calc, r.tcp_csum_calc), (0, 0));
    }
}

#[test]
fn checksums_ipv4_correct() {
    let mut k = K::checksums();
    for hook in HOOKS {
        for (ip, tcp) in [
            (full_v4(), full_tcp()),
            (Ipv4::new(A4, B4), simple_tcp(1, 2)),
            // Odd payload length, IP options.
            (
                Ipv4 {
                    options: vec![1, 1, 1, 0, 0x44, 4, 5, 0],
                    ..full_v4()
                },
                Tcp {
                    payload: b"odd".to_vec(),
                    ..full_tcp()
                },
            ),
        ] {
            let frame = eth4(&ip.tcp(&tcp));
            let r = k.record(hook, &frame);
            let l4 = usize::from(r.l4_off);
            assert_csum_ok(&r, be16(&frame, 24), be16(&frame, l4 + 16));
            // Independent check of the builder: the on-wire values verify.
            assert_eq!(checksum(&frame[14..l4]), 0);
            let seg = &frame[l4..];
            assert_eq!(
                fold(sum16(
                    pseudo_v4(ip.src, ip.dst, IPPROTO_TCP, seg.len()),
                    seg
                )),
                0
            );
            let mut want = expect_v4(hook, &frame, 14, &ip, &tcp);
            want.status |= status::CSUM_COMPUTED;
            want.ip_csum_calc = r.ip_csum;
            want.tcp_csum_calc = r.tcp_csum;
            assert_record(r, want);
        }
    }
}

#[test]
fn checksums_ipv4_wrong_on_wire() {
    let mut k = K::checksums();
    for hook in HOOKS {
        let good_ip = full_v4();
        let tcp = full_tcp();
        let good = eth4(&good_ip.tcp(&tcp));
        let (ip_ok, tcp_ok) = (be16(&good, 24), be16(&good, 34 + 16));
        let ip = Ipv4 {
            csum: Some(ip_ok ^ 0x0101),
            ..full_v4()
        };
        let bad_tcp = Tcp {
            csum: Some(tcp_ok.wrapping_add(7)),
            ..full_tcp()
        };
        let frame = eth4(&ip.tcp(&bad_tcp));
        let r = k.record(hook, &frame);
        assert_eq!(
            (r.ip_csum, r.tcp_csum),
            (ip_ok ^ 0x0101, tcp_ok.wrapping_add(7))
        );
        assert_csum_ok(&r, ip_ok, tcp_ok);
        // Zero in the checksum fields.
        let frame = eth4(
            &Ipv4 {
                csum: Some(0),
                ..full_v4()
            }
            .tcp(&Tcp {
                csum: Some(0),
                ..full_tcp()
            }),
        );
        let r = k.record(hook, &frame);
        assert_eq!((r.ip_csum, r.tcp_csum), (0, 0));
        assert_csum_ok(&r, ip_ok, tcp_ok);
    }
}

#[test]
fn checksums_ipv6() {
    let mut k = K::checksums();
    for hook in HOOKS {
        for ip in [
            full_v6(),
            Ipv6 {
                exts: vec![
                    Ext::HopByHop(0),
                    Ext::Fragment {
                        offset: 0,
                        more: false,
                        id: 3,
                    },
                ],
                ..full_v6()
            },
        ] {
            let tcp = Tcp {
                payload: b"seventeen bytes!!".to_vec(),
                ..full_tcp()
            };
            let frame = eth6(&ip.tcp(&tcp));
            let r = k.record(hook, &frame);
            let l4 = usize::from(r.l4_off);
            let seg = &frame[l4..];
            assert_eq!(
                fold(sum16(
                    pseudo_v6(ip.src, ip.dst, IPPROTO_TCP, seg.len()),
                    seg
                )),
                0
            );
            // No IPv4 header checksum for IPv6.
            assert_csum_ok(&r, 0, be16(&frame, l4 + 16));
            let mut want = expect_v6(hook, &frame, 14, &ip, &tcp);
            want.status |= status::CSUM_COMPUTED;
            want.tcp_csum_calc = r.tcp_csum;
            assert_record(r, want);
        }
        // A wrong TCP checksum on the wire.
        let good = eth6(&full_v6().tcp(&full_tcp()));
        let ok = be16(&good, 54 + 16);
        let frame = eth6(&full_v6().tcp(&Tcp {
            csum: Some(!ok),
            ..full_tcp()
        }));
        let r = k.record(hook, &frame);
        assert_eq!(r.tcp_csum, !ok);
        assert_csum_ok(&r, 0, ok);
    }
}

#[test]
fn checksums_ignore_ethernet_trailer() {
    // A minimum-size frame: 54 bytes of headers, padded to 60 with non-zero bytes. The
    // checksum covers the IP total length, not the frame.
    let mut k = K::checksums();
    for hook in HOOKS {
        let ip = Ipv4::new(A4, B4);
        let tcp = simple_tcp(1, 2);
        let mut frame = eth4(&ip.tcp(&tcp));
        let (ip_ok, tcp_ok) = (be16(&frame, 24), be16(&frame, 34 + 16));
        frame.extend_from_slice(&[0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa]);
        let r = k.record(hook, &frame);
        assert_eq!(r.frame_len, 60);
        assert_csum_ok(&r, ip_ok, tcp_ok);
    }
}

#[test]
fn checksums_unavailable_when_cut() {
    let mut k = K::checksums();
    for hook in HOOKS {
        let frame = eth4(&full_v4().tcp(&full_tcp()));
        let ip_ok = be16(&frame, 24);
        for cut in [1usize, 11, 40, 45] {
            let r = k.record(hook, &frame[..frame.len() - cut]);
            assert_ne!(
                r.status & status::CSUM_UNAVAILABLE,
                0,
                "cut {cut}: {:#x}",
                r.status
            );
            // The IPv4 header is all there: its checksum can still be computed.
            assert_ne!(r.status & status::CSUM_COMPUTED, 0, "cut {cut}");
            assert_eq!(r.ip_csum_calc, ip_ok);
        }
    }
}

#[test]
fn checksums_large_frame_xdp() {
    let mut k = K::checksums();
    let mut tcp = full_tcp();
    tcp.payload = (0..9000 - 14 - 20 - 40).map(|i| (i * 7) as u8).collect();
    let frame = eth4(&full_v4().tcp(&tcp));
    let r = k.record(Hook::Xdp, &frame);
    assert_eq!(r.frame_len, 9000);
    assert_csum_ok(&r, be16(&frame, 24), be16(&frame, 34 + 16));
}

#[test]
fn checksums_xdp_segment_in_fragment() {
    // TCP header and payload beyond the linear area: the sum must walk the fragments.
    let mut k = K::checksums();
    let (ip, _, frame) = big_v6(vec![Ext::HopByHop(255), Ext::DestOpts(255)], 9001);
    let r = k.record(Hook::Xdp, &frame);
    let l4 = usize::from(r.l4_off);
    let seg = &frame[l4..];
    assert_eq!(
        fold(sum16(
            pseudo_v6(ip.src, ip.dst, IPPROTO_TCP, seg.len()),
            seg
        )),
        0
    );
    assert_csum_ok(&r, 0, be16(&frame, l4 + 16));
}

#[test]
#[ignore = "known limit (README): the IPv6 pseudo-header ignores the Routing header's final destination"]
fn checksums_ipv6_routing_header_final_destination() {
    // RFC 8200 8.1: with a Routing header the pseudo-header holds the final destination,
    // the last address of the Routing header (tcpdump does so for types 0 and 2).
    let mut k = K::checksums();
    for hook in HOOKS {
        for (typ, addrs) in [(2u8, vec![C6]), (0, vec![A6, C6])] {
            let ip = Ipv6 {
                exts: vec![Ext::Routing {
                    typ,
                    segments_left: addrs.len() as u8,
                    addrs: addrs.clone(),
                }],
                ..Ipv6::new(B6, A6)
            };
            let tcp = full_tcp();
            let seg = tcp.build(pseudo_v6(ip.src, C6, IPPROTO_TCP, tcp.len()));
            let frame = eth6(&ip.packet(IPPROTO_TCP, &seg));
            let r = k.record(hook, &frame);
            assert_eq!(r.daddr, A6);
            assert_csum_ok(&r, 0, be16(&seg, 16));
            eprintln!("{hook:?} routing type {typ}: ok");
        }
    }
}

/// The IPv4-mapped IPv6 address `::ffff:a.b.c.d`.
fn v4_mapped(a: [u8; 4]) -> [u8; 16] {
    std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
}

// ---------------------------------------------------------------------------------------
// ICMP errors about traced segments

/// A kernel object filtering on port 23, with ICMP errors on (and checksums: `-v`).
fn icmp_kernel(icmp: bool) -> K {
    K::load(
        Filter {
            hosts: Vec::new(),
            ports: vec![23],
        },
        Config {
            checksums: 1,
            icmp: u8::from(icmp),
            ..Config::default()
        },
    )
}

fn syn23(sport: u16) -> Tcp {
    Tcp {
        seq: 0x1122_3344,
        flags: tcp_flags::SYN,
        window: 64240,
        options: OPTS.to_vec(),
        ..Tcp::new(sport, 23)
    }
}

/// The error's own header fields, as the kernel should record them.
#[track_caller]
fn assert_icmp_header(i: &IcmpRecord, frame: &[u8], kind: u8, code: u8, rest: [u8; 4]) {
    let v6 = be16(frame, 12) == ETH_P_IPV6;
    let (icmp_at, len) = if v6 {
        (14 + 40, usize::from(be16(frame, 18)))
    } else {
        (14 + 20, usize::from(be16(frame, 16)) - 20)
    };
    assert_eq!((i.icmp_type, i.icmp_code, i.rest), (kind, code, rest));
    assert_eq!(i.l3_off, 14);
    assert_eq!(i.icmp_csum, be16(frame, icmp_at + 2));
    // Checksums computed (-v) and correct for these frames.
    assert_eq!(u16::from(i.icmp_status), status::CSUM_COMPUTED);
    assert_eq!(i.icmp_csum_calc, i.icmp_csum, "ICMP checksum verdict");
    assert_eq!(usize::from(i.ip_len), if v6 { len } else { len + 20 });
    if v6 {
        assert_eq!(i.saddr[..], frame[22..38]);
        assert_eq!(i.daddr[..], frame[38..54]);
        assert_eq!(i.ttl, frame[21]);
    } else {
        assert_eq!(i.saddr[..4], frame[26..30]);
        assert_eq!(i.daddr[..4], frame[30..34]);
        assert_eq!((i.ihl, i.tos, i.ttl), (20, frame[15], frame[22]));
        assert_eq!(i.ip_id, be16(frame, 18));
        assert_eq!(i.ip_csum_calc, i.ip_csum, "IPv4 header checksum verdict");
    }
}

/// Destination unreachable, frag needed, time exceeded and parameter problem quoting a
/// traced segment give one ICMP record each on every hook: the quoted segment parsed as
/// any segment (the record the wire hooks give for it, at the quote's offsets), the
/// error's own headers and checksum verdicts beside it.
#[test]
fn icmp_errors_quote_traced_segments() {
    let mut k = icmp_kernel(true);
    let client = Ipv4 {
        id: 7,
        df: true,
        ..Ipv4::new(A4, B4)
    };
    let syn = client.tcp(&syn23(40000));
    let router = Ipv4 {
        tos: 0xc0,
        id: 99,
        ..Ipv4::new(C4, A4)
    };
    let cases: [(u8, u8, [u8; 4]); 5] = [
        (3, 3, [0; 4]),
        (3, 13, [0; 4]),
        (3, 4, [0, 0, 0x05, 0x00]),
        (11, 0, [0; 4]),
        (12, 0, [20, 0, 0, 0]),
    ];
    for hook in HOOKS {
        for (kind, code, rest) in cases {
            let frame = eth4(&router.packet(IPPROTO_ICMP, &icmp_error(kind, code, rest, &syn)));
            let (rec, i) = k
                .icmp(hook, &frame)
                .unwrap_or_else(|| panic!("{hook:?}: no record for ICMP {kind}/{code}"));
            assert_icmp_header(&i, &frame, kind, code, rest);
            let mut want = expect_v4(hook, &frame, 14 + 20 + 8, &client, &syn23(40000));
            want.ip_csum_calc = want.ip_csum;
            want.tcp_csum_calc = want.tcp_csum;
            want.status |= status::CSUM_COMPUTED;
            assert_record(rec, want);
        }
    }
    assert_eq!(
        k.take_counters().emitted,
        (HOOKS.len() * cases.len()) as u64
    );
}

/// What routers quote: a full-size segment cut to 576 bytes (no checksum verdict for
/// it), or only 8 bytes of TCP (ports and sequence number).
#[test]
fn icmp_errors_with_cut_quotes() {
    let mut k = icmp_kernel(true);
    let client = Ipv4 {
        df: true,
        ..Ipv4::new(A4, B4)
    };
    let data = Tcp {
        flags: tcp_flags::ACK | tcp_flags::PSH,
        payload: vec![0x61; 1400],
        ..syn23(40001)
    };
    let seg = client.tcp(&data);
    let router = Ipv4::new(C4, A4);
    for hook in HOOKS {
        let frame = eth4(&router.packet(
            IPPROTO_ICMP,
            &icmp_error(3, 4, [0, 0, 0x05, 0x00], &seg[..548]),
        ));
        let (rec, _) = k.icmp(hook, &frame).expect("frag needed");
        assert_eq!(rec.ip_len, seg.len() as u32);
        assert_ne!(rec.status & status::CSUM_UNAVAILABLE, 0);
        assert_eq!((rec.sport, rec.dport, rec.seq), (40001, 23, 0x1122_3344));
        let frame = eth4(&router.packet(IPPROTO_ICMP, &icmp_error(11, 0, [0; 4], &seg[..28])));
        let (rec, _) = k.icmp(hook, &frame).expect("time exceeded, 8 bytes quoted");
        assert_eq!(rec.tcp_caplen, 8);
        assert_eq!((rec.sport, rec.dport, rec.seq), (40001, 23, 0x1122_3344));
    }
}

/// ICMPv6: destination unreachable (codes 0 to 4), packet too big, time exceeded,
/// parameter problem.
#[test]
fn icmp6_errors_quote_traced_segments() {
    let mut k = icmp_kernel(true);
    let client = Ipv6::new(A6, B6);
    let syn = client.tcp(&syn23(40002));
    let router = Ipv6 {
        hop_limit: 63,
        ..Ipv6::new(C6, A6)
    };
    let cases: [(u8, u8, [u8; 4]); 5] = [
        (1, 4, [0; 4]),
        (1, 1, [0; 4]),
        (2, 0, 1280u32.to_be_bytes()),
        (3, 0, [0; 4]),
        (4, 0, 6u32.to_be_bytes()),
    ];
    for hook in HOOKS {
        for (kind, code, rest) in cases {
            let m = icmp6_error(C6, A6, kind, code, rest, &syn);
            let frame = eth6(&router.packet(IPPROTO_ICMPV6, &m));
            let (rec, i) = k
                .icmp(hook, &frame)
                .unwrap_or_else(|| panic!("{hook:?}: no record for ICMPv6 {kind}/{code}"));
            assert_icmp_header(&i, &frame, kind, code, rest);
            let mut want = expect_v6(hook, &frame, 14 + 40 + 8, &client, &syn23(40002));
            want.tcp_csum_calc = want.tcp_csum;
            want.status |= status::CSUM_COMPUTED;
            assert_record(rec, want);
        }
    }
}

/// No record: an error quoting an untraced segment (the filter applies to the quote),
/// ICMP that is not an error about TCP, ICMPv6 unreachable codes tcpdump prints no line
/// for, and any ICMP error when ICMP is off (`--no-icmp`).
#[test]
fn icmp_errors_not_recorded() {
    let mut k = icmp_kernel(true);
    let other = Ipv4::new(A4, B4).tcp(&Tcp {
        dport: 80,
        ..syn23(40003)
    });
    let syn = Ipv4::new(A4, B4).tcp(&syn23(40003));
    let udp23 = Ipv4::new(A4, B4).packet(IPPROTO_UDP, &udp(40003, 23, b"x"));
    let router = Ipv4::new(C4, A4);
    let syn6 = Ipv6::new(A6, B6).tcp(&syn23(40004));
    let icmp4 = |m: Vec<u8>| eth4(&router.packet(IPPROTO_ICMP, &m));
    let frames = [
        icmp4(icmp_error(3, 3, [0; 4], &other)),
        icmp4(icmp_error(3, 3, [0; 4], &udp23)),
        icmp4(icmp_echo(1, 2, &syn)),
        // Redirect and source quench quote too, but are not about a connection's fate.
        icmp4(icmp_error(5, 1, C4, &syn)),
        icmp4(icmp_error(4, 0, [0; 4], &syn)),
        eth6(&Ipv6::new(C6, A6).packet(IPPROTO_ICMPV6, &icmp6_error(C6, A6, 1, 5, [0; 4], &syn6))),
    ];
    for hook in HOOKS {
        for f in &frames {
            assert!(k.icmp(hook, f).is_none(), "{hook:?}: a record for {f:02x?}");
        }
    }
    let mut off = icmp_kernel(false);
    let f = icmp4(icmp_error(3, 3, [0; 4], &syn));
    for hook in HOOKS {
        assert!(off.icmp(hook, &f).is_none(), "{hook:?}: ICMP off");
    }
}
