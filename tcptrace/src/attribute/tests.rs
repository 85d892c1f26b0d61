use std::net::IpAddr;

use super::{cgroup::container_of, *};

#[test]
fn containers_from_cgroup_paths() {
    let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let cases = [
        (
            format!("/system.slice/docker-{id}.scope"),
            Some("docker:0123456789ab"),
        ),
        (format!("/docker/{id}"), Some("docker:0123456789ab")),
        (
            format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-{id}.scope"
            ),
            Some("cri-containerd:0123456789ab"),
        ),
        (
            format!("/kubepods/burstable/pod1234-5678/{id}"),
            Some("cri-containerd:0123456789ab"),
        ),
        (
            format!("/kubepods.slice/x/crio-{id}.scope"),
            Some("crio:0123456789ab"),
        ),
        (
            format!("/machine.slice/libpod-{id}.scope"),
            Some("podman:0123456789ab"),
        ),
        (
            format!(
                "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{id}.scope/container"
            ),
            Some("podman:0123456789ab"),
        ),
        (
            "/system.slice/nginx.service".to_string(),
            Some("nginx.service"),
        ),
        (
            "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service".to_string(),
            Some("foo.service"),
        ),
        (
            "/user.slice/user-1000.slice/session-3.scope".to_string(),
            None,
        ),
        ("/".to_string(), None),
        ("/tcptrace-test".to_string(), None),
    ];
    for (path, want) in cases {
        assert_eq!(container_of(&path).as_deref(), want, "{path}");
    }
}

fn seg(src: &str, sport: u16, dst: &str, dport: u16) -> Segment {
    let mut s = crate::decode::Segment::from_record(
        &tcptrace_common::Record::ZERO,
        crate::decode::Timestamp::default(),
    );
    s.src = src.parse::<IpAddr>().unwrap();
    s.dst = dst.parse::<IpAddr>().unwrap();
    s.sport = sport;
    s.dport = dport;
    s
}

pub(crate) fn proc_(pid: u32) -> Arc<Process> {
    Arc::new(Process {
        pid,
        tid: pid,
        comm: format!("p{pid}"),
        uid: 0,
        user: None,
        ppid: None,
        pcomm: None,
        cgroup_id: 0,
        cgroup: None,
        container: None,
        how: "connect",
    })
}

fn key(l: &str, lp: u16, r: &str, rp: u16) -> FlowKey {
    let (l, r): (IpAddr, IpAddr) = (l.parse().unwrap(), r.parse().unwrap());
    FlowKey {
        family: if l.is_ipv6() { 6 } else { 4 },
        lport: lp,
        rport: rp,
        laddr: addr_bytes(l),
        raddr: addr_bytes(r),
        ..FlowKey::default()
    }
}

#[test]
fn sender_then_receiver_then_listener() {
    let mut a = Attributor::new();
    a.insert(key("10.0.0.1", 40000, "10.0.0.2", 80), proc_(10));
    a.insert(
        FlowKey {
            lport: 80,
            ..FlowKey::default()
        },
        proc_(20),
    );
    // Client → server: the client sends.
    let out = seg("10.0.0.1", 40000, "10.0.0.2", 80);
    assert_eq!(a.of_segment(&out).unwrap().pid, 10);
    assert_eq!(a.receiver(&out).unwrap().pid, 20);
    // Server → client before the connection is established: the listener sends it.
    let back = seg("10.0.0.2", 80, "10.0.0.1", 40000);
    assert_eq!(a.of_segment(&back).unwrap().pid, 20);
    assert_eq!(a.receiver(&back).unwrap().pid, 10);
    a.insert(key("10.0.0.2", 80, "10.0.0.1", 40000), proc_(30));
    assert_eq!(a.of_segment(&back).unwrap().pid, 30);
    // connect() before the port was chosen: found without it, both ways.
    a.insert(key("10.0.0.1", 0, "10.0.0.3", 443), proc_(50));
    let syn = seg("10.0.0.1", 40001, "10.0.0.3", 443);
    assert_eq!(a.of_segment(&syn).unwrap().pid, 50);
    let rst = seg("10.0.0.3", 443, "10.0.0.1", 40001);
    assert_eq!(a.of_segment(&rst).unwrap().pid, 50);
    // Forwarded traffic: nobody.
    assert!(a.of_segment(&seg("10.9.0.1", 1, "10.9.0.2", 2)).is_none());
    let v6 = seg("fd00::1", 5, "fd00::2", 6);
    assert!(a.of_segment(&v6).is_none());
    a.insert(key("fd00::2", 6, "fd00::1", 5), proc_(40));
    assert_eq!(a.of_segment(&v6).unwrap().pid, 40);
}

#[test]
fn hooks_restricted_to_the_filters_sockets() {
    use tcptrace_common::attrib::sock_test::{NET4, NET6, PORT};
    let eph = (32768, 60999);
    // (kind, lo, hi, first address word) per test, the ephemeral and address flags.
    let of = |expr: &str| {
        let mut f = AttribFilter::OFF;
        restrict_to(&mut f, &crate::filter::compile(expr).unwrap(), eph);
        let tests: Vec<_> = f.tests[..f.n_tests as usize]
            .iter()
            .map(|t| (t.kind, t.lo, t.hi, t.addr[0]))
            .collect();
        (tests, f.ephemeral != 0, f.addresses != 0)
    };
    let a = u32::from_ne_bytes([10, 0, 0, 1]);
    assert_eq!(of(""), (vec![], false, false), "no filter: every socket");
    assert_eq!(of("port 8080"), (vec![(PORT, 8080, 8080, 0)], false, false));
    assert_eq!(of("host 10.0.0.1"), (vec![(NET4, 0, 0, a)], false, true));
    assert_eq!(
        of("host 10.0.0.1 and port 80"),
        (vec![(PORT, 80, 80, 0)], false, false),
        "a port outside the ephemeral ones first"
    );
    assert_eq!(
        of("host 10.0.0.1 and port 40000"),
        (vec![(NET4, 0, 0, a)], false, true),
        "then an address"
    );
    assert_eq!(
        of("port 23 or port 40000"),
        (
            vec![(PORT, 23, 23, 0), (PORT, 40000, 40000, 0)],
            true,
            false
        ),
        "an ephemeral port: connecting sockets whatever their remote port"
    );
    assert_eq!(of("host ::1").0[0].0, NET6);
    assert_eq!(
        of("net 10.0.0.0/8 and host 10.0.0.1 or port 80"),
        (vec![(NET4, 0, 0, a), (PORT, 80, 80, 0)], false, true),
        "the longest mask"
    );
    for every in [
        "port 80 or tcp[tcpflags] & tcp-syn != 0",
        "not port 80",
        "ip6",
    ] {
        assert_eq!(of(every), (vec![], false, false), "{every}");
    }
    assert_eq!(
        of("port 23 and not port 23"),
        (vec![(PORT, 1, 0, 0)], false, false),
        "nothing matches"
    );
    let (lo, hi) = ephemeral_ports();
    assert!(0 < lo && lo <= hi, "{lo}-{hi}");
}

#[test]
fn sockets_from_proc_net_tcp() {
    use super::existing::parse_line;
    use tcptrace_common::FAMILY_V6;
    let line = |l: &str, r: &str, st: &str, inode: u32| {
        format!(
            "   0: {l} {r} {st} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0"
        )
    };
    let listener = parse_line(&line("0100007F:1F90", "00000000:0000", "0A", 11)).unwrap();
    assert_eq!(
        listener,
        (
            11,
            FlowKey {
                lport: 8080,
                ..FlowKey::default()
            }
        )
    );
    let (inode, k) = parse_line(&line("0201E70A:A0F2", "0101E70A:1F90", "01", 12)).unwrap();
    assert_eq!(
        (inode, k.family, k.lport, k.rport),
        (12, FAMILY_V4, 41202, 8080)
    );
    assert_eq!(
        (&k.laddr[..4], &k.raddr[..4]),
        (&[10, 231, 1, 2][..], &[10, 231, 1, 1][..])
    );
    let (_, k) = parse_line(&line(
        "00000000000000000000000001000000:1F90",
        "00000000000000000000000001000000:A0F2",
        "01",
        13,
    ))
    .unwrap();
    assert_eq!((k.family, k.laddr[15], k.lport), (FAMILY_V6, 1, 8080));
    let (_, k) = parse_line(&line(
        "0000000000000000FFFF00000100007F:1F90",
        "0000000000000000FFFF00000200007F:A0F2",
        "01",
        14,
    ))
    .unwrap();
    assert_eq!(
        (k.family, &k.raddr[..5]),
        (FAMILY_V4, &[127, 0, 0, 2, 0][..]),
        "IPv4-mapped"
    );
    assert_eq!(
        parse_line(&line("0100007F:1F90", "0100007F:A0F2", "06", 15)),
        None,
        "TIME_WAIT"
    );
    assert_eq!(
        parse_line(&line("0100007F:1F90", "0100007F:A0F2", "01", 0)),
        None,
        "no inode"
    );
}
