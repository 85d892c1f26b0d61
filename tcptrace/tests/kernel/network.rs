//! IPv6 extension headers, protocols other than TCP, later fragments.
use super::*;

#[test]
fn ipv6_extension_chain() {
    K::new().each_hook(ctr(1, 1, 1, 1, 0, 0, 0), |k, hook| {
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
        let r = k.v6_frame(hook, &frame, &ip, &tcp);
        assert_eq!(r.ext_count, 4);
        assert_eq!(r.exts, [0, 60, 43, 44, 0, 0]);
        assert_eq!((r.ip_id, r.frag), (0xdead_beef, 0x0001));
        assert_eq!(usize::from(r.l4_off), 54 + ext_len);
        assert_eq!(r.ip_len as usize, ext_len + tcp.len());
        assert_eq!((r.sport, r.dport, r.opt_len), (40000, 443, 20));
    });
}

#[test]
fn ipv6_extension_bound() {
    K::new().each_hook(ctr(2, 0, 0, 0, 2, 0, 0), |k, hook| {
        let tcp = simple_tcp(1, 2);
        // Exactly MAX_IPV6_EXT headers: still parsed.
        let mut exts: Vec<Ext> = (0..MAX_IPV6_EXT - 1).map(|_| Ext::DestOpts(0)).collect();
        exts.insert(0, Ext::HopByHop(0));
        let ip = Ipv6 {
            exts,
            ..Ipv6::new(A6, B6)
        };
        let r = k.v6(hook, &ip, &tcp);
        assert_eq!(usize::from(r.ext_count), MAX_IPV6_EXT);
        assert_eq!(r.exts, [0, 60, 60, 60, 60, 60]);
        assert_eq!(usize::from(r.l4_off), 54 + 8 * MAX_IPV6_EXT);
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
    });
}

#[test]
fn ipv6_extension_then_non_tcp() {
    K::new().each_hook(ctr(2, 0, 0, 0, 0, 0, 0), |k, hook| {
        let ip = Ipv6 {
            exts: vec![Ext::HopByHop(0)],
            ..Ipv6::new(A6, B6)
        };
        k.none(hook, &eth6(&ip.packet(IPPROTO_UDP, &udp(53, 53, b"x"))));
        // No next header.
        k.none(hook, &eth6(&ip.packet(59, &[])));
    });
}

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
    K::new().each_hook(ctr(3, 0, 0, 0, 0, 0, 3), |k, hook| {
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
    });
}

#[test]
fn ipv6_later_fragment() {
    K::new().each_hook(ctr(3, 1, 1, 1, 0, 0, 2), |k, hook| {
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
        let r = k.v6(hook, &ip, &tcp);
        assert_eq!((r.ip_id, r.frag, r.ext_count), (0x0102_0304, 0, 1));
    });
}
