//! Valid segments: every field of the record, on every hook.
use super::*;

#[test]
fn ipv4_segment_all_fields() {
    K::new().each_hook(ctr(1, 1, 1, 1, 0, 0, 0), |k, hook| {
        let (ip, tcp) = (full_v4(), full_tcp());
        let frame = eth4(&ip.tcp(&tcp));
        let r = k.v4_frame(hook, &frame, &ip, &tcp);
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
    });
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
    K::new().each_hook(ctr(1, 1, 1, 1, 0, 0, 0), |k, hook| {
        let ip = Ipv4 {
            mf: true,
            id: 7,
            ..Ipv4::new(A4, B4)
        };
        let tcp = simple_tcp(1, 2);
        let r = k.v4(hook, &ip, &tcp);
        assert_eq!(r.frag, 0x2000, "MF");
    });
}

#[test]
fn ipv4_every_ihl_with_options() {
    K::new().each_hook(ctr(11, 11, 11, 11, 0, 0, 0), |k, hook| {
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
            let r = k.v4(hook, &ip, &tcp);
            assert_eq!(r.ihl, words * 4);
            assert_eq!(usize::from(r.l4_off), 14 + usize::from(words) * 4);
            assert_eq!(r.sport, 1000 + u16::from(words));
        }
    });
}

#[test]
fn ipv6_segment_all_fields() {
    K::new().each_hook(ctr(1, 1, 1, 1, 0, 0, 0), |k, hook| {
        let (ip, tcp) = (full_v6(), full_tcp());
        let frame = eth6(&ip.tcp(&tcp));
        let r = k.v6_frame(hook, &frame, &ip, &tcp);
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
    });
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
    let r = k.v4_frame(Hook::Xdp, &frame, &ip, &tcp);
    assert_eq!(r.frame_len, 9000);
    assert_eq!(r.ip_len, 9000 - 14);
    assert_eq!(r.tcp_caplen, 60);

    let (ip6, mut tcp6) = (full_v6(), full_tcp());
    tcp6.payload = vec![0xab; 9000 - 14 - 40 - 40];
    let r = k.v6(Hook::Xdp, &ip6, &tcp6);
    assert_eq!(r.frame_len, 9000);
    assert_eq!(k.take_counters(), ctr(2, 2, 2, 2, 0, 0, 0));
}

#[test]
fn large_frame_tc() {
    // BPF_PROG_TEST_RUN builds a linear skb for TC: a page at most. 3000 bytes fit.
    let mut k = K::new();
    let (ip, mut tcp) = (full_v4(), full_tcp());
    tcp.payload = vec![0x5a; 3000 - 14 - 20 - 40];
    let r = k.v4(Hook::Tc, &ip, &tcp);
    assert_eq!(r.frame_len, 3000);
    assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
}

#[test]
fn xdp_tcp_header_in_fragment() {
    // BPF_PROG_TEST_RUN puts what does not fit in 4096 - 256 - 320 = 3520 bytes of linear
    // area into fragments. 4096 bytes of extension headers push the TCP header (options
    // included) into the first fragment: it must be read through bpf_xdp_load_bytes.
    let mut k = K::new();
    let (ip, tcp, frame) = big_v6(vec![Ext::HopByHop(255), Ext::DestOpts(255)], 9000);
    let r = k.v6_frame(Hook::Xdp, &frame, &ip, &tcp);
    assert_eq!((r.l4_off, r.frame_len), (14 + 40 + 4096, 9000));
    assert_eq!((r.sport, r.dport, r.seq), (40000, 443, tcp.seq));
    assert_eq!((r.opt_len, r.status), (20, 0));
    assert_eq!(&r.options[..20], &OPTS);
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
    let r = k.v6_frame(Hook::Xdp, &frame, &ip, &tcp);
    assert_eq!(usize::from(r.l4_off), lin - 10);
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
    let r = k.v6_frame(Hook::Xdp, &frame, &ip, &tcp);
    assert_eq!(r.exts[..3], [0, 60, 43]);
    assert_eq!(k.take_counters(), ctr(1, 1, 1, 1, 0, 0, 0));
}
