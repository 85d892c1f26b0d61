//! Frames cut short and impossible headers.
use super::*;

#[test]
fn ethernet_below_14_bytes_refused_by_test_run() {
    let mut k = K::new();
    let frame = v4_frame(A4, B4, 1, 2);
    for n in [0usize, 1, 13] {
        assert!(
            k.k.run(Hook::Xdp, &frame[..n]).is_err(),
            "XDP accepted {n} bytes"
        );
        assert!(
            k.k.run(Hook::Tc, &frame[..n]).is_err(),
            "TC accepted {n} bytes"
        );
    }
    // Nothing ran.
    assert_eq!(k.take_counters(), Counters::default());
    assert!(k.ring.pop_oldest().is_none());
}

#[test]
fn tc_test_run_refuses_untagged_cut_ip_header() {
    let mut k = K::new();
    let f4 = v4_frame(A4, B4, 1, 2);
    let f6 = v6_frame(A6, B6, 1, 2);
    for n in [14, 20, 33] {
        assert!(
            k.k.run(Hook::Tc, &f4[..n]).is_err(),
            "TC accepted {n} bytes of IPv4"
        );
    }
    for n in [14, 40, 53] {
        assert!(
            k.k.run(Hook::Tc, &f6[..n]).is_err(),
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
    K::new().each_hook(ctr(2, 0, 0, 0, 0, 2, 0), |k, hook| {
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
    });
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
    K::new().each_hook(ctr(4, 1, 1, 1, 0, 4, 0), |k, hook| {
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
    });
}

#[test]
fn cut_ipv6_extension_header() {
    K::new().each_hook(ctr(6, 0, 0, 0, 0, 6, 0), |k, hook| {
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
    });
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
    K::new().each_hook(ctr(2, 2, 2, 2, 0, 1, 0), |k, hook| {
        let ip = Ipv4::new(A4, B4);
        let tcp = simple_tcp(7, 8);
        let frame = eth4(&ip.tcp(&tcp));
        let r = k.v4_frame(hook, &frame[..34 + 19], &ip, &tcp);
        assert_eq!(r.status, status::TCP_TRUNCATED | status::CSUM_UNAVAILABLE);
        assert_eq!((r.doff, r.tcp_caplen), (20, 19));
        // Exactly 20 bytes: whole.
        let r = k.record(hook, &frame[..34 + 20]);
        assert_eq!((r.status, r.tcp_caplen), (0, 20));
    });
}

#[test]
fn cut_tcp_options() {
    K::new().each_hook(ctr(3, 3, 3, 3, 0, 0, 0), |k, hook| {
        let (ip, tcp) = (full_v4(), full_tcp());
        let frame = eth4(&ip.tcp(&tcp));
        for have in [1usize, 10, 19] {
            let part = &frame[..34 + 20 + have];
            let r = k.v4_frame(hook, part, &ip, &tcp);
            assert_eq!(r.status, status::OPT_TRUNCATED | status::CSUM_UNAVAILABLE);
            assert_eq!(usize::from(r.opt_len), have);
            assert_eq!(&r.options[..have], &OPTS[..have]);
            assert!(r.options[have..].iter().all(|&b| b == 0));
            assert_eq!(usize::from(r.tcp_caplen), 20 + have);
            assert_eq!(r.doff, 40);
        }
        // Cut options are not counted as truncated frames (the fixed header is whole).
    });
}

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
    K::new().each_hook(ctr(1, 1, 1, 1, 0, 0, 0), |k, hook| {
        let ip = Ipv4 {
            total_len: Some(20),
            ..Ipv4::new(A4, B4)
        };
        let tcp = simple_tcp(1, 2);
        let r = k.v4(hook, &ip, &tcp);
        assert_eq!(r.ip_len, 20);
    });
}

#[test]
fn ip_length_beyond_frame() {
    // The IP header claims more than the frame holds (a capture cut after the TCP header):
    // the record is whole but the checksum cannot be computed.
    K::new().each_hook(ctr(3, 3, 3, 3, 0, 0, 0), |k, hook| {
        let ip = Ipv4 {
            total_len: Some(1500),
            ..full_v4()
        };
        let tcp = full_tcp();
        let r = k.v4(hook, &ip, &tcp);
        assert_eq!(r.ip_len, 1500);
        assert_eq!(r.status, status::CSUM_UNAVAILABLE);

        let ip6 = Ipv6 {
            payload_len: Some(1460),
            ..full_v6()
        };
        let r = k.v6(hook, &ip6, &tcp);
        assert_eq!(r.status, status::CSUM_UNAVAILABLE);

        // IPv6 payload length shorter than the extension headers.
        let ip6 = Ipv6 {
            payload_len: Some(4),
            exts: vec![Ext::DestOpts(1)],
            ..full_v6()
        };
        let r = k.v6(hook, &ip6, &tcp);
        assert_eq!(r.status, status::CSUM_UNAVAILABLE);
    });
}

#[test]
fn wrong_ip_version() {
    K::new().each_hook(ctr(2, 0, 0, 0, 2, 0, 0), |k, hook| {
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
    });
}

#[test]
fn tcp_doff_below_5() {
    K::new().each_hook(ctr(5, 5, 5, 5, 5, 0, 0), |k, hook| {
        for doff in 0u8..5 {
            let ip = Ipv4::new(A4, B4);
            let tcp = Tcp {
                doff: Some(doff),
                options: OPTS[..8].to_vec(),
                ..full_tcp()
            };
            let r = k.v4(hook, &ip, &tcp);
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
        }
        // Recorded, and counted malformed.
    });
}

#[test]
fn tcp_doff_15_with_40_option_bytes() {
    K::new().each_hook(ctr(1, 1, 1, 1, 0, 0, 0), |k, hook| {
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
        let r = k.v4(hook, &ip, &tcp);
        assert_eq!((r.doff, r.opt_len, r.tcp_caplen), (60, 40, 60));
        assert_eq!(r.options.to_vec(), opts);
        assert_eq!(r.status, 0);
    });
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
        let r = k.v4(hook, &ip, &tcp);
        assert_eq!(r.status, status::OPT_TRUNCATED);
        assert_eq!((r.doff, r.opt_len, r.tcp_caplen), (60, 4, 24));
        assert_eq!(&r.options[..4], &OPTS[..4]);
    }
}
