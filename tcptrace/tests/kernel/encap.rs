//! What comes before IP: VLAN tags, PPPoE, LLC/SNAP, and tunnels.
use super::*;

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
    K::new().each_hook(ctr(4, 2, 2, 2, 0, 1, 0), |k, hook| {
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
    });
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
