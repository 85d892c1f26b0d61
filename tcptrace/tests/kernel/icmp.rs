//! ICMP errors about traced segments.
use super::*;

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
