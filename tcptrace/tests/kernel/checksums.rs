//! Checksums (`Config::checksums`, `-v`).
use super::*;

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

/// An IPv6 segment whose checksum is right (it sums to zero with the pseudo-header): the
/// record has it computed, and no IPv4 header checksum.
fn assert_csum6_ok(r: &Record, ip: &Ipv6, frame: &[u8]) {
    let l4 = usize::from(r.l4_off);
    let seg = &frame[l4..];
    let sum = fold(sum16(
        pseudo_v6(ip.src, ip.dst, IPPROTO_TCP, seg.len()),
        seg,
    ));
    assert_eq!(sum, 0, "the segment's checksum");
    assert_csum_ok(r, 0, be16(frame, l4 + 16));
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
            assert_csum6_ok(&r, &ip, &frame);
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
    assert_csum6_ok(&r, &ip, &frame);
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
