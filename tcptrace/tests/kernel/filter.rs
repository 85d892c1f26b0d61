//! The filter in the kernel: hosts and ports.
use super::*;

fn ip4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn ip6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}

#[test]
fn filter_hosts_only() {
    K::filtered(&[ip4(A4)], &[]).each_hook(ctr(4, 4, 2, 2, 0, 0, 0), |k, hook| {
        let r = k.record(hook, &v4_frame(A4, B4, 1, 2));
        assert_eq!(&r.saddr[..4], &A4, "hit on source");
        let r = k.record(hook, &v4_frame(C4, A4, 3, 4));
        assert_eq!(&r.daddr[..4], &A4, "hit on destination");
        k.none(hook, &v4_frame(B4, C4, 5, 6));
        // An IPv6 packet never matches an IPv4 host.
        k.none(hook, &v6_frame(A6, B6, 1, 2));
    });
}

#[test]
fn filter_ports_only() {
    K::filtered(&[], &[443]).each_hook(ctr(4, 4, 2, 2, 0, 0, 0), |k, hook| {
        let r = k.record(hook, &v4_frame(A4, B4, 443, 50000));
        assert_eq!(r.sport, 443, "hit on source port");
        let r = k.record(hook, &v6_frame(A6, B6, 50000, 443));
        assert_eq!(r.dport, 443, "hit on destination port");
        k.none(hook, &v4_frame(A4, B4, 444, 442));
        k.none(hook, &v6_frame(A6, B6, 80, 8080));
    });
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
    K::filtered(&[], &[443]).each_hook(ctr(3, 3, 1, 1, 0, 3, 0), |k, hook| {
        let frame = v4_frame(A4, B4, 1, 443);
        // The ports are not both there: no match.
        k.none(hook, &frame[..34]);
        k.none(hook, &frame[..34 + 3]);
        // Both ports there: match, record cut short.
        let r = k.record(hook, &frame[..34 + 4]);
        assert_eq!((r.sport, r.dport, r.tcp_caplen), (1, 443, 4));
        assert_eq!(r.status, status::TCP_TRUNCATED | status::CSUM_UNAVAILABLE);
    });
}

#[test]
fn filter_hosts_and_ports() {
    K::filtered(&[ip4(A4)], &[22]).each_hook(ctr(4, 4, 2, 2, 0, 0, 0), |k, hook| {
        assert!(k.run(hook, &v4_frame(A4, B4, 50000, 22)).is_some());
        assert!(k.run(hook, &v4_frame(B4, A4, 22, 50000)).is_some());
        // Host hit, port miss.
        k.none(hook, &v4_frame(A4, B4, 50000, 23));
        // Port hit, host miss.
        k.none(hook, &v4_frame(B4, C4, 22, 50000));
    });
}

#[test]
fn filter_several_values() {
    K::filtered(&[ip4(A4), ip4(B4), ip6(A6)], &[80, 443, 8080]).each_hook(
        ctr(7, 7, 4, 4, 0, 0, 0),
        |k, hook| {
            for (s, d, sp, dp) in [(A4, C4, 80, 1), (C4, B4, 1, 443), (B4, A4, 8080, 8080)] {
                let r = k.record(hook, &v4_frame(s, d, sp, dp));
                assert_eq!((r.sport, r.dport), (sp, dp));
            }
            k.none(hook, &v4_frame(C4, [10, 0, 0, 1], 80, 443));
            k.none(hook, &v4_frame(A4, B4, 81, 442));
            let r = k.record(hook, &v6_frame(C6, A6, 443, 1));
            assert_eq!(r.daddr, A6);
            k.none(hook, &v6_frame(C6, B6, 443, 1));
        },
    );
}

#[test]
fn filter_ipv6_host() {
    K::filtered(&[ip6(B6)], &[]).each_hook(ctr(6, 6, 4, 4, 0, 0, 0), |k, hook| {
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
    });
}

#[test]
fn filter_ipv4_host_does_not_match_ipv6_address() {
    K::filtered(&[ip4(A4)], &[]).each_hook(ctr(2, 2, 0, 0, 0, 0, 0), |k, hook| {
        // IPv6 addresses holding the IPv4 address in their low bytes (IPv4-compatible
        // ::192.0.2.1, and a global one).
        let mut compat = [0u8; 16];
        compat[12..].copy_from_slice(&A4);
        let mut global = A6;
        global[12..].copy_from_slice(&A4);
        k.none(hook, &v6_frame(compat, B6, 1, 2));
        k.none(hook, &v6_frame(B6, global, 1, 2));
    });
}

#[test]
fn filter_ipv4_host_does_not_match_ipv4_mapped_ipv6_address() {
    // An IPv6 segment carrying ::ffff:192.0.2.1 must not match the IPv4 host 192.0.2.1
    // (tcpdump: `host 192.0.2.1` is IPv4 only).
    K::filtered(&[ip4(A4)], &[]).each_hook(ctr(2, 2, 0, 0, 0, 0, 0), |k, hook| {
        let mapped = v4_mapped(A4);
        k.none(hook, &v6_frame(B6, mapped, 1, 2));
        k.none(hook, &v6_frame(mapped, B6, 1, 2));
    });
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
