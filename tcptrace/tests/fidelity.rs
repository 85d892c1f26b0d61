//! Shapes tcpdump 4.99.3 prints that the conformance corpus does not hold, each in a
//! capture the test builds and compared with tcpdump's own output on it, in every output
//! style: damaged timestamp fractions, more link types (PPP, PPPoE, IP over InfiniBand),
//! IPv4 options, IPv6 extension headers and jumbograms, tunnels (VXLAN, Geneve, GRE,
//! IP-in-IP, SIT, IPv6-in-IPv6).
mod common;

use std::path::{Path, PathBuf};

use common::{
    cut_down::cut_down,
    packet::{ETH_P_IP, ETH_P_IPV6, Ext, Ipv4, Ipv6, Tcp, eth4, eth6, ether, udp},
    par_map,
    pcap::{raw_file, scratch},
    tcpdump, tcptrace,
};
use tcptrace_common::tcp_flags::{ACK, PSH, SYN};

/// Every output style a capture is compared in.
const STYLES: &[&[&str]] = &[
    &[],
    &["-v"],
    &["-S"],
    &["-q"],
    &["-tt"],
    &["-ttt"],
    &["-tttt"],
    &["-ttttt"],
    &["--nano"],
    &["--nano", "-ttt"],
    &["-v", "-S", "--nano", "-tt"],
    &["-vv"],
    &["-vv", "-q"],
];

/// Writes `bytes` to a scratch file named for the test.
fn capture(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch(&format!("fidelity-{name}.{}.pcap", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// tcptrace prints exactly tcpdump's TCP lines for `path` in every style; `lines` is how
/// many packet lines tcpdump must print in the default style (so a capture tcpdump reads
/// differently than meant fails too).
fn same_as_tcpdump(path: &Path, lines: usize) {
    compare_styles(path, Some(lines));
}

/// tcptrace prints exactly what tcpdump prints for `path` in every style, whole (every
/// packet of these captures is a tunnelled TCP segment; a VXLAN packet takes two lines).
fn all_same_as_tcpdump(path: &Path) {
    compare_styles(path, None);
}

/// Runs both in every style on `path`: tcpdump's TCP lines (`lines` of them in the
/// default style) or, with `None`, all it prints, must be tcptrace's.
fn compare_styles(path: &Path, lines: Option<usize>) {
    let failures: Vec<String> = par_map(STYLES, |style| {
        let mut args: Vec<String> = style.iter().map(|s| s.to_string()).collect();
        args.push("-r".into());
        args.push(path.to_string_lossy().into_owned());
        let td = tcpdump(&[&["-n".to_string()], &args[..]].concat());
        let tt = tcptrace(&args);
        let all = String::from_utf8_lossy(&td.stdout);
        let expected = match lines {
            Some(_) => cut_down(&all, style.contains(&"-q")),
            None => all.into_owned(),
        };
        let got = String::from_utf8_lossy(&tt.stdout);
        let mut problems = Vec::new();
        if let Some(n) = lines
            && style.is_empty()
            && expected.lines().count() != n
        {
            problems.push(format!(
                "tcpdump printed {} TCP lines, the test meant {n}:\n{expected}",
                expected.lines().count()
            ));
        }
        if !tt.status.success() {
            problems.push(format!(
                "tcptrace failed: {}",
                String::from_utf8_lossy(&tt.stderr)
            ));
        }
        let d = common::diff(&expected, &got, 8);
        if !d.is_empty() {
            problems.push(d);
        }
        (!problems.is_empty()).then(|| format!("{}: {}", style.join(" "), problems.join("\n")))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failures.is_empty(),
        "{}: differs from tcpdump:\n{}",
        path.display(),
        failures.join("\n")
    );
}

fn syn(sport: u16, dport: u16) -> Tcp {
    let mut t = Tcp::new(sport, dport);
    t.seq = 1000;
    t.flags = SYN;
    t.window = 512;
    t.options = vec![2, 4, 5, 0xb4];
    t
}

fn data(sport: u16, dport: u16, len: usize) -> Tcp {
    let mut t = Tcp::new(sport, dport);
    t.seq = 1001;
    t.ack = 5001;
    t.flags = ACK | PSH;
    t.window = 502;
    t.payload = vec![0x61; len];
    t
}

fn v4_segments() -> Vec<Vec<u8>> {
    let ip = Ipv4::new([10, 0, 0, 1], [10, 0, 0, 2]);
    vec![ip.tcp(&syn(40001, 23)), ip.tcp(&data(40001, 23, 10))]
}

// ---------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------

/// Record time fields out of range (a fraction of a second or more, or with bit 31 set)
/// are printed as tcpdump prints them: the field as it is (scaled by libpcap's 32-bit
/// arithmetic for `--nano` or a nanosecond file), in every style, deltas included.
#[test]
fn out_of_range_fractions_print_as_tcpdump() {
    let seg = eth4(&v4_segments()[0]);
    for nano in [false, true] {
        let one = if nano { 1_000_000_000 } else { 1_000_000 };
        let recs: Vec<(u32, u32, Vec<u8>)> = [
            (1000, 5),
            (1000, one),
            (1001, 0x8000_0000),
            (1001, one - 1),
            (1002, u32::MAX),
            (1003, 2 * one + 7),
            (1003, 12),
        ]
        .into_iter()
        .map(|(s, f)| (s, f, seg.clone()))
        .collect();
        let path = capture(
            &format!("frac-{}", if nano { "ns" } else { "us" }),
            &raw_file(1, nano, &recs),
        );
        same_as_tcpdump(&path, recs.len());
    }
}

// ---------------------------------------------------------------------------------------
// Link types
// ---------------------------------------------------------------------------------------

fn v6_segments() -> Vec<Vec<u8>> {
    let ip = Ipv6::new(addr6(1), addr6(2));
    vec![ip.tcp(&syn(40001, 23)), ip.tcp(&data(40001, 23, 10))]
}

fn addr6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[15] = last;
    a
}

/// A PPPoE session header and PPP protocol in front of `ip`.
fn pppoe(session: u16, v6: bool, ip: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, 0x00];
    p.extend_from_slice(&session.to_be_bytes());
    p.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    p.extend_from_slice(if v6 { &[0x00, 0x57] } else { &[0x00, 0x21] });
    p.extend_from_slice(ip);
    p
}

fn records(frames: Vec<Vec<u8>>) -> Vec<(u32, u32, Vec<u8>)> {
    frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| (1_700_000_000, 1000 * i as u32, f))
        .collect()
}

/// PPP (with and without address/control, one- and two-byte protocols), PPPoE without
/// Ethernet, PPPoE sessions inside Ethernet (through the kernel's parser), IP over
/// InfiniBand: the TCP lines tcpdump prints for them.
#[test]
fn more_link_types_print_as_tcpdump() {
    let mut ips: Vec<(bool, Vec<u8>)> = v4_segments().into_iter().map(|p| (false, p)).collect();
    ips.extend(v6_segments().into_iter().map(|p| (true, p)));
    let n = ips.len();
    let ppp: Vec<Vec<u8>> = ips
        .iter()
        .enumerate()
        .map(|(i, (v6, ip))| {
            let mut f = match (i % 3, v6) {
                (0, false) => vec![0xff, 0x03, 0x00, 0x21],
                (0, true) => vec![0xff, 0x03, 0x00, 0x57],
                (1, false) => vec![0x00, 0x21],
                (1, true) => vec![0x00, 0x57],
                (_, false) => vec![0x21],
                (_, true) => vec![0x57],
            };
            f.extend_from_slice(ip);
            f
        })
        .collect();
    let ppp_ether: Vec<Vec<u8>> = ips.iter().map(|(v6, ip)| pppoe(0x1234, *v6, ip)).collect();
    let in_ethernet: Vec<Vec<u8>> = ips
        .iter()
        .map(|(v6, ip)| ether(&[], 0x8864, &pppoe(0xbeef, *v6, ip)))
        .collect();
    let ipoib: Vec<Vec<u8>> = ips
        .iter()
        .map(|(v6, ip)| {
            let mut f = vec![0x5a; 40];
            f.extend_from_slice(&(if *v6 { ETH_P_IPV6 } else { ETH_P_IP }).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
            f.extend_from_slice(ip);
            f
        })
        .collect();
    for (name, linktype, frames) in [
        ("ppp", 9, ppp),
        ("ppp-ether", 51, ppp_ether),
        ("pppoe", 1, in_ethernet),
        ("ipoib", 242, ipoib),
    ] {
        same_as_tcpdump(
            &capture(name, &raw_file(linktype, false, &records(frames))),
            n,
        );
    }
}

// ---------------------------------------------------------------------------------------
// IP options, IPv6 extension headers, jumbograms
// ---------------------------------------------------------------------------------------

/// IPv4 options of every kind tcpdump names, with `-v` printed inside the header's
/// parentheses (`options (RR 1.2.3.4,EOL)`); without `-v` nothing changes.
#[test]
fn ipv4_options_print_as_tcpdump() {
    let option_sets: Vec<Vec<u8>> = vec![
        vec![7, 7, 4, 1, 2, 3, 4, 0], // RR, nothing recorded yet, EOL
        vec![7, 11, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0], // RR, one recorded
        vec![1, 1, 148, 4, 0, 0],     // NOP NOP RA
        vec![148, 4, 0, 5],           // RA with a value
        vec![131, 7, 4, 9, 9, 9, 9, 0], // LSRR
        vec![68, 12, 5, 0, 0, 0, 0, 1, 0, 0, 0, 2], // timestamp, TSONLY
        vec![68, 12, 13, 1, 1, 2, 3, 4, 0, 0, 0, 9], // timestamp, TS+ADDR
        vec![130, 3, 0, 1],           // security, NOP
        vec![99, 4, 0, 0],            // unknown
        vec![7, 1, 0, 0],             // bad length
        vec![82, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // traceroute
    ];
    let mut frames = Vec::new();
    for opts in &option_sets {
        let mut ip = Ipv4::new([10, 0, 0, 1], [10, 0, 0, 2]);
        ip.id = 7;
        ip.options = opts.clone();
        frames.push(eth4(&ip.tcp(&data(40001, 23, 5))));
    }
    let n = frames.len();
    same_as_tcpdump(
        &capture("ipv4-options", &raw_file(1, false, &records(frames))),
        n,
    );
}

/// IPv6 routing headers (type 0 with and without addresses, type 2, segment routing,
/// unknown types), hop-by-hop and destination options of every kind tcpdump names, and
/// jumbograms (payload length 0 with a Jumbo Payload option, as BIG TCP sends them).
#[test]
fn ipv6_extension_headers_print_as_tcpdump() {
    let (src, dst) = (addr6(1), addr6(2));
    let rt = |typ: u8, segleft: u8, rest: Vec<u8>| Ext::RoutingRaw {
        typ,
        segments_left: segleft,
        rest,
    };
    let hbh = |opts: Vec<u8>| Ext::Options { hbh: true, opts };
    let dst_opts = |opts: Vec<u8>| Ext::Options { hbh: false, opts };
    let mut addrs = vec![0u8; 4];
    addrs.extend_from_slice(&addr6(9));
    addrs.extend_from_slice(&addr6(10));
    let chains: Vec<Vec<Ext>> = vec![
        vec![rt(0, 0, vec![0; 4])],
        vec![rt(0, 1, addrs.clone())],
        vec![rt(2, 1, [vec![0, 0, 0, 1], addr6(3).to_vec()].concat())],
        vec![rt(4, 0, [vec![0, 0, 0, 7], addr6(4).to_vec()].concat())],
        vec![hbh(vec![]), dst_opts(vec![])],
        vec![hbh(vec![0]), dst_opts(vec![1, 0])],
        vec![hbh(vec![5, 2, 0, 0])],
        vec![
            hbh(vec![5, 2, 0, 1]),
            rt(0, 0, vec![0; 4]),
            dst_opts(vec![0x1e, 2, 0, 0]),
        ],
        vec![dst_opts(vec![0xc2, 4, 0, 1, 0, 0])],
        vec![hbh(vec![0xc9, 16].into_iter().chain(addr6(5)).collect())],
        vec![
            Ext::Fragment {
                offset: 0,
                more: true,
                id: 77,
            },
            dst_opts(vec![]),
        ],
    ];
    let mut frames = Vec::new();
    for exts in chains {
        let mut ip = Ipv6::new(src, dst);
        ip.exts = exts;
        frames.push(eth6(&ip.tcp(&data(40001, 23, 5))));
    }
    // A jumbogram: payload length 0, a Jumbo Payload option with the length; the frame
    // holds 70000 bytes less (tcpdump says so, and prints the option's length).
    let seg = data(41851, 43913, 100);
    let jumbo = 8 + 20 + seg.payload.len() as u32 + 70_000;
    let mut ip = Ipv6::new(src, dst);
    ip.exts = vec![hbh([vec![0xc2, 4], jumbo.to_be_bytes().to_vec()].concat())];
    ip.payload_len = Some(0);
    frames.push(eth6(&ip.tcp(&seg)));
    let n = frames.len();
    same_as_tcpdump(
        &capture("ipv6-exts", &raw_file(1, false, &records(frames))),
        n,
    );

    // Options whose length byte tcpdump refuses, or cut short: it prints no TCP part then,
    // so the whole output is compared.
    let bad = [
        hbh(vec![5, 3, 0, 0, 0]),
        dst_opts(vec![0xc2, 2, 0, 0]),
        hbh(vec![0xc9, 14].into_iter().chain([0; 14]).collect()),
        hbh(vec![5, 1, 0]),
    ];
    let frames = bad.into_iter().map(|e| {
        let mut ip = Ipv6::new(src, dst);
        ip.exts = vec![e];
        eth6(&ip.tcp(&data(40001, 23, 5)))
    });
    let path = capture(
        "ipv6-bad-opts",
        &raw_file(1, false, &records(frames.collect())),
    );
    all_same_as_tcpdump(&path);
    let out = tcpdump(&["-n", "-v", "-r", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "(rtalert: invalid len 3)",
        "(jumbo: invalid len 2)",
        "(homeaddr: ",
    ] {
        assert!(text.contains(want), "tcpdump -v shows no {want}:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Tunnels
// ---------------------------------------------------------------------------------------

/// Every tunnel the kernel follows, one level deep, with IPv4 and IPv6 on either side:
/// VXLAN, Geneve (Ethernet and IP payloads), GRE (plain, key, key and sequence number,
/// checksum, GRETAP, IPv6 inside), IP-in-IP, SIT, IPv6-in-IPv6, IPv4-in-IPv6; an outer
/// header with a bad checksum; inner IPv4 options.
#[test]
fn tunnels_print_as_tcpdump() {
    let o4 = || {
        let mut ip = Ipv4::new([20, 0, 0, 2], [20, 0, 0, 1]);
        ip.id = 9;
        ip.df = true;
        ip
    };
    let o6 = Ipv6::new(addr6(0x21), addr6(0x22));
    let i4 = Ipv4::new([30, 0, 0, 2], [30, 0, 0, 1]);
    let i6 = Ipv6::new(addr6(0x31), addr6(0x32));
    let mut i4_opts = i4.clone();
    i4_opts.options = vec![7, 7, 4, 0, 0, 0, 0, 0];
    let seg = data(51225, 22, 12);
    let inner4 = i4.tcp(&seg);
    let inner6 = i6.tcp(&seg);
    let teb = |ethertype: u16, ip: &[u8]| ether(&[], ethertype, ip);
    let vxlan = |vni: u32, inner: Vec<u8>| {
        let mut h = vec![0x08, 0, 0, 0];
        h.extend_from_slice(&(vni << 8).to_be_bytes());
        h.extend_from_slice(&inner);
        udp(43443, 4789, &h)
    };
    let geneve = |proto: u16, inner: &[u8]| {
        let mut h = vec![0, 0];
        h.extend_from_slice(&proto.to_be_bytes());
        h.extend_from_slice(&(0xbu32 << 8).to_be_bytes());
        h.extend_from_slice(inner);
        udp(43444, 6081, &h)
    };
    let gre = |words: &[u32], flags: u16, proto: u16, inner: &[u8]| {
        let mut h = flags.to_be_bytes().to_vec();
        h.extend_from_slice(&proto.to_be_bytes());
        for w in words {
            h.extend_from_slice(&w.to_be_bytes());
        }
        h.extend_from_slice(inner);
        h
    };
    let mut bad = o4();
    bad.csum = Some(0x1234);
    let frames: Vec<Vec<u8>> = vec![
        eth4(&o4().packet(17, &vxlan(11, teb(ETH_P_IP, &inner4)))),
        eth4(&o4().packet(17, &vxlan(0x123456, teb(ETH_P_IPV6, &inner6)))),
        eth6(&o6.packet(17, &vxlan(12, teb(ETH_P_IP, &inner4)))),
        eth4(&o4().packet(17, &vxlan(13, teb(ETH_P_IP, &i4_opts.tcp(&seg))))),
        eth4(&o4().packet(17, &geneve(0x6558, &teb(ETH_P_IP, &inner4)))),
        eth4(&o4().packet(17, &geneve(0x0800, &inner4))),
        eth6(&o6.packet(17, &geneve(0x86dd, &inner6))),
        eth4(&o4().packet(47, &gre(&[], 0, 0x0800, &inner4))),
        eth4(&o4().packet(47, &gre(&[5], 0x2000, 0x0800, &inner4))),
        eth4(&o4().packet(47, &gre(&[5, 9], 0x3000, 0x0800, &inner4))),
        eth4(&o4().packet(47, &gre(&[0], 0x8000, 0x0800, &inner4))),
        eth4(&o4().packet(47, &gre(&[], 0, 0x6558, &teb(ETH_P_IP, &inner4)))),
        eth4(&o4().packet(47, &gre(&[7], 0x2000, 0x86dd, &inner6))),
        eth6(&o6.packet(47, &gre(&[], 0, 0x0800, &inner4))),
        eth4(&o4().packet(4, &inner4)),
        eth4(&o4().packet(41, &inner6)),
        eth6(&o6.packet(41, &inner6)),
        eth6(&o6.packet(4, &inner4)),
        eth4(&bad.packet(4, &inner4)),
    ];
    let path = capture("tunnels", &raw_file(1, false, &records(frames)));
    all_same_as_tcpdump(&path);
}

/// One Geneve option: class, type, data (a multiple of 4 bytes); `len_bits` are ORed
/// into the length byte (its reserved bits, or a length the data does not have).
fn geneve_opt(class: u16, kind: u8, data: &[u8], len_bits: u8) -> Vec<u8> {
    let mut o = class.to_be_bytes().to_vec();
    o.push(kind);
    o.push((data.len() / 4) as u8 | len_bits);
    o.extend_from_slice(data);
    o
}

/// A UDP datagram to port 6081: a Geneve header (vni 11) with these flags and options,
/// then `inner` of EtherType `proto`.
fn geneve(flags: u8, opts: &[u8], proto: u16, inner: &[u8]) -> Vec<u8> {
    assert!(opts.len().is_multiple_of(4) && opts.len() <= 252);
    let mut h = vec![(opts.len() / 4) as u8, flags];
    h.extend_from_slice(&proto.to_be_bytes());
    h.extend_from_slice(&(0xbu32 << 8).to_be_bytes());
    h.extend_from_slice(opts);
    h.extend_from_slice(inner);
    udp(43444, 6081, &h)
}

/// Geneve options, decoded with `-v` (class name and number, type with the critical
/// bit, length) and their data words with `-vv`: one option, several, every named
/// class, an unknown class, option length 0, reserved bits in the length byte, an
/// option running past the header's option length (alone and after a good one), with
/// the header's own flags, over IPv6, as much as a record's tail holds.
#[test]
fn geneve_options_print_as_tcpdump() {
    let opt = geneve_opt;
    // (header flags, options area)
    let cases: Vec<(u8, Vec<u8>)> = vec![
        (0, opt(0x0000, 0x80, &[0, 0, 0, 0x0a], 0)),
        (0, opt(0x0000, 0x01, &[], 0)),
        (
            0,
            [
                opt(0x0100, 0x01, &[1, 2, 3, 4, 5, 6, 7, 8], 0),
                opt(0x0101, 0x02, &[0xde, 0xad, 0xbe, 0xef], 0),
                opt(0x0102, 0x83, &[], 0),
                opt(0x0103, 0x7f, &[0, 0, 0, 1], 0),
                opt(0x0104, 0xff, &[0xff; 12], 0),
            ]
            .concat(),
        ),
        (0, opt(0x1234, 0x05, &[0, 0, 0, 9], 0)),
        (
            0,
            [opt(0x00ff, 0, &[], 0), opt(0xfff0, 0x90, &[9; 4], 0)].concat(),
        ),
        (0, opt(0xffff, 0x10, &[0, 1, 0, 2], 0xe0)),
        // The option claims 3 more words, the header's option length holds 1.
        (0, opt(0x0101, 0x80, &[0, 0, 0, 7], 2)),
        (
            0,
            [opt(0x0000, 0x80, &[0, 0, 0, 1], 0), opt(0x0105, 1, &[], 4)].concat(),
        ),
        (0xc0, opt(0x0101, 0x80, &[0xa0, 0xb0, 0xc0, 0xd0], 0)),
        (0x80, opt(0x0000, 0x00, &[], 0)),
        // 200 bytes of options: the whole tail (MAX_TAIL) with outer and inner IPv4.
        (
            0,
            (0..8)
                .flat_map(|i| opt(0x0100 + i, i as u8, &[i as u8; 20], 0))
                .chain(opt(0x00aa, 0xaa, &[0xaa; 4], 0))
                .collect(),
        ),
    ];
    let o4 = Ipv4::new([20, 0, 0, 2], [20, 0, 0, 1]);
    let o6 = Ipv6::new(addr6(0x21), addr6(0x22));
    let inner4 = Ipv4::new([30, 0, 0, 2], [30, 0, 0, 1]).tcp(&data(51225, 22, 12));
    let mut frames: Vec<Vec<u8>> = cases
        .iter()
        .map(|(flags, opts)| eth4(&o4.packet(17, &geneve(*flags, opts, 0x0800, &inner4))))
        .collect();
    let (_, one) = &cases[0];
    let teb = ether(&[], ETH_P_IP, &inner4);
    frames.push(eth4(&o4.packet(17, &geneve(0, one, 0x6558, &teb))));
    frames.push(eth6(
        &o6.packet(17, &geneve(0, &cases[2].1, 0x0800, &inner4)),
    ));
    let path = capture("geneve-opts", &raw_file(1, false, &records(frames)));
    all_same_as_tcpdump(&path);
}

/// Geneve options past the 256 bytes a record's tail holds (here the most the header
/// allows, 252 bytes) print as their size with `-v` and `-vv` too, where tcpdump decodes
/// them; the rest of the line is tcpdump's (README, Tunnels).
#[test]
fn geneve_options_past_the_tail_print_their_size() {
    let opts: Vec<u8> = (0..9)
        .flat_map(|i| geneve_opt(0x0100 + i, i as u8, &[i as u8; 24], 0))
        .collect();
    let inner = Ipv4::new([30, 0, 0, 2], [30, 0, 0, 1]).tcp(&data(51225, 22, 12));
    let o4 = Ipv4::new([20, 0, 0, 2], [20, 0, 0, 1]);
    let frame = eth4(&o4.packet(17, &geneve(0, &opts, 0x0800, &inner)));
    let path = capture(
        "geneve-long-opts",
        &raw_file(1, false, &records(vec![frame])),
    );
    let p = path.to_string_lossy().into_owned();
    for style in [&[][..], &["-v"], &["-vv"]] {
        let args = [style, &["-r", &p]].concat();
        let td = tcpdump(&[&["-n"], &args[..]].concat());
        let td = String::from_utf8_lossy(&td.stdout).into_owned();
        let expected = match (td.find("options [class"), td.find("]\n")) {
            (Some(a), Some(b)) if a < b => format!("{}options [252 bytes{}", &td[..a], &td[b..]),
            _ => td.clone(),
        };
        if !style.is_empty() {
            assert_ne!(expected, td, "tcpdump did not decode the options:\n{td}");
        }
        let tt = tcptrace(&args);
        assert!(
            tt.status.success(),
            "{}",
            String::from_utf8_lossy(&tt.stderr)
        );
        let got = String::from_utf8_lossy(&tt.stdout);
        let d = common::diff(&expected, &got, 4);
        assert!(d.is_empty(), "{}: {d}", style.join(" "));
    }
}

/// `--json` and `--summary` of a connection seen through a VXLAN tunnel: the inner
/// connection (its endpoints, its handshake), not the outer UDP flow.
#[test]
fn tunnelled_connections_are_the_inner_ones() {
    let (c, s) = ([30, 0, 0, 2], [30, 0, 0, 1]);
    let seg = |from_client: bool, flags: u16, seq: u32, ack: u32| {
        let mut t = Tcp::new(
            if from_client { 51225 } else { 22 },
            if from_client { 22 } else { 51225 },
        );
        (t.flags, t.seq, t.ack, t.window) = (flags, seq, ack, 500);
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        let inner = ether(&[], ETH_P_IP, &Ipv4::new(src, dst).tcp(&t));
        let mut h = vec![0x08, 0, 0, 0, 0, 0, 11, 0];
        h.extend_from_slice(&inner);
        eth4(&Ipv4::new([20, 0, 0, 2], [20, 0, 0, 1]).packet(17, &udp(43443, 4789, &h)))
    };
    let frames = vec![
        seg(true, SYN, 100, 0),
        seg(false, SYN | ACK, 700, 101),
        seg(true, ACK, 101, 701),
    ];
    let path = capture("tunnel-conn", &raw_file(1, false, &records(frames)));
    let p = path.to_string_lossy().into_owned();
    let out = tcptrace(&["-r", &p, "--json", "--summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut segments = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect(line);
        if v["type"] == "segment" {
            segments += 1;
            assert!(
                ["30.0.0.2", "30.0.0.1"].contains(&v["src"].as_str().unwrap()),
                "{line}"
            );
            assert_eq!(v["conn"], 1, "{line}");
        }
    }
    assert_eq!(segments, 3, "{text}");
    assert!(
        text.contains("handshake_done") || text.contains("\"handshake"),
        "{text}"
    );
    let summary = tcptrace(&["-r", &p, "--summary", "--no-lines"]);
    let s = String::from_utf8_lossy(&summary.stdout).into_owned()
        + &String::from_utf8_lossy(&summary.stderr);
    assert!(
        s.contains("30.0.0.2.51225") && s.contains("30.0.0.1.22"),
        "{s}"
    );
    assert!(!s.contains("20.0.0."), "{s}");
}

// ---------------------------------------------------------------------------------------
// Real-world capture shapes
// ---------------------------------------------------------------------------------------

/// Tunnels whose inner IPv4 or IPv6 packet is longer than what was captured (mirrored or
/// GRO'ed traffic): tcpdump's `IP truncated-ip - N bytes missing!` (and IPv6's
/// `truncated-ip6`) inside GRE with a key, plain GRE, GRETAP, VXLAN, Geneve, IP-in-IP,
/// SIT, IPv4-in-IPv6; and the outer frame itself cut by the snapshot length.
#[test]
fn tunnels_with_inner_packets_cut_short_print_as_tcpdump() {
    let o4 = Ipv4::new([10, 0, 0, 1], [10, 0, 0, 2]);
    let o6 = Ipv6::new(addr6(0x21), addr6(0x22));
    // (Ports tcpdump decodes nothing on: every line is whole.)
    let seg = data(40080, 49162, 1440);
    let i4 = Ipv4 {
        total_len: Some(2960),
        ..Ipv4::new([192, 168, 69, 2], [192, 168, 69, 10])
    };
    let i6 = Ipv6 {
        payload_len: Some(2920),
        ..Ipv6::new(addr6(0x31), addr6(0x32))
    };
    let (in4, in6) = (i4.tcp(&seg), i6.tcp(&seg));
    let head = |h: &[u8], inner: &[u8]| [h, inner].concat();
    let eth_in = |ethertype: u16, ip: &[u8]| ether(&[], ethertype, ip);
    let frames: Vec<Vec<u8>> = vec![
        eth4(&o4.packet(47, &head(&[0x20, 0, 8, 0, 2, 0, 0, 0], &in4))),
        eth4(&o4.packet(47, &head(&[0, 0, 8, 0], &in4))),
        eth4(&o4.packet(47, &head(&[0, 0, 0x86, 0xdd], &in6))),
        eth4(&o4.packet(47, &head(&[0, 0, 0x65, 0x58], &eth_in(ETH_P_IP, &in4)))),
        eth4(&o4.packet(
            17,
            &udp(
                40000,
                4789,
                &head(&[8, 0, 0, 0, 0, 0, 11, 0], &eth_in(ETH_P_IP, &in4)),
            ),
        )),
        eth4(&o4.packet(
            17,
            &udp(40000, 6081, &head(&[0, 0, 8, 0, 0, 0, 11, 0], &in4)),
        )),
        eth4(&o4.packet(4, &in4)),
        eth4(&o4.packet(41, &in6)),
        eth6(&o6.packet(4, &in4)),
    ];
    let mut recs = records(frames);
    // The same GRE frame cut by a snapshot length inside the inner TCP payload.
    let mut cut = recs[0].clone();
    cut.2.truncate(200);
    recs.push(cut);
    let mut file = raw_file(1, false, &recs);
    // The last record's original length: the whole frame.
    let whole = recs[0].2.len() as u32;
    let at = file.len() - 200 - 4;
    file[at..at + 4].copy_from_slice(&whole.to_le_bytes());
    all_same_as_tcpdump(&capture("inner-cut-short", &file));
}

/// Three, four and eight stacked 802.1Q/802.1ad tags (Q-in-Q-in-Q), and IPv4 / IPv6 in
/// 802.2 LLC/SNAP on Ethernet (an 802.3 length field), untagged and tagged.
#[test]
fn stacked_tags_and_llc_snap_print_as_tcpdump() {
    use common::packet::vlan;
    let mut ips: Vec<(u16, Vec<u8>)> = v4_segments().into_iter().map(|p| (ETH_P_IP, p)).collect();
    ips.extend(v6_segments().into_iter().map(|p| (ETH_P_IPV6, p)));
    let mut frames = Vec::new();
    for n in [3u16, 4, 8] {
        let mut tags = vec![common::packet::Vlan {
            tpid: common::packet::ETH_P_8021AD,
            ..vlan(100)
        }];
        tags.extend((1..n).map(|i| vlan(100 + i)));
        frames.extend(ips.iter().map(|(t, ip)| ether(&tags, *t, ip)));
    }
    for tags in [vec![], vec![vlan(5)], vec![vlan(5), vlan(6), vlan(7)]] {
        for (t, ip) in &ips {
            let mut p = vec![0xaa, 0xaa, 0x03, 0, 0, 0];
            p.extend_from_slice(&t.to_be_bytes());
            p.extend_from_slice(ip);
            frames.push(ether(&tags, p.len() as u16, &p));
        }
    }
    let n = frames.len();
    same_as_tcpdump(
        &capture("tags-snap", &raw_file(1, false, &records(frames))),
        n,
    );
}

/// NFLOG captures (link type 239, what `tcpdump -i nflog:N -w` writes): IPv4 and IPv6
/// payload TLVs after other TLVs, in a little- and a big-endian file (the TLVs are in
/// the writer's byte order); a frame whose payload TLV is cut short prints no TCP line.
#[test]
fn nflog_prints_as_tcpdump() {
    let tlv = |kind: u16, v: &[u8], big: bool| {
        let len = (4 + v.len()) as u16;
        let mut t = if big {
            [len.to_be_bytes(), kind.to_be_bytes()].concat()
        } else {
            [len.to_le_bytes(), kind.to_le_bytes()].concat()
        };
        t.extend_from_slice(v);
        t.resize(t.len().next_multiple_of(4), 0);
        t
    };
    for big in [false, true] {
        let mut frames = Vec::new();
        let mut ips: Vec<(u8, Vec<u8>)> = v4_segments().into_iter().map(|p| (2, p)).collect();
        ips.extend(v6_segments().into_iter().map(|p| (10, p)));
        for (family, ip) in &ips {
            let mut f = vec![*family, 0, 0, 5];
            f.extend(tlv(1, &[8, 0, 1, 0], big));
            f.extend(tlv(10, b"log-prefix\0", big));
            f.extend(tlv(9, ip, big));
            frames.push(f);
        }
        let n = frames.len();
        let mut cut = frames[0].clone();
        cut.truncate(cut.len() - 3);
        frames.push(cut);
        let mut file = raw_file(239, false, &records(frames));
        if big {
            // The same file written big-endian: header and record fields swapped.
            let swap = |b: &mut [u8]| b.reverse();
            swap(&mut file[0..4]);
            swap(&mut file[4..6]);
            swap(&mut file[6..8]);
            for r in [8..12, 12..16, 16..20, 20..24] {
                swap(&mut file[r]);
            }
            let mut at = 24;
            while at < file.len() {
                let caplen = u32::from_le_bytes(file[at + 8..at + 12].try_into().unwrap());
                for i in 0..4 {
                    swap(&mut file[at + 4 * i..at + 4 * i + 4]);
                }
                at += 16 + caplen as usize;
            }
        }
        same_as_tcpdump(&capture(&format!("nflog-{big}"), &file), n);
    }
}
