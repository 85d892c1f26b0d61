//! Ring items: each as long as what it carries; one ring per CPU.
use super::*;

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
                assert_eq!(k.run(Hook::Xdp, f).expect("test run"), XDP_PASS);
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

/// Items wait in their ring until the merge hands them over: the kernel cannot write over
/// them, and counts as lost what does not fit beside them; once handed over, their space is
/// the kernel's again.
#[test]
fn held_items_keep_their_ring_space() {
    use aya::programs::{Program, TestRun as _, TestRunOptions};
    use std::ops::ControlFlow;
    use tcptrace::{
        kernel::{Prog, Rings},
        source::rings::ALL,
    };
    // Runs the XDP program `n` times on CPU 0 (its ring alone); CPU 0's lost count.
    fn produce(k: &mut Kernel, n: u32) -> u64 {
        let frame = &v4_frame(A4, B4, 40000, 443);
        let Program::Xdp(x) = k.loaded(Prog::Xdp).expect("XDP program") else {
            panic!("not XDP")
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
                unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(0, &mut set);
                    assert_eq!(libc::sched_setaffinity(0, size_of_val(&set), &set), 0);
                }
                let opts = TestRunOptions {
                    data_in: Some(frame),
                    repeat: n,
                    ..Default::default()
                };
                assert_eq!(x.test_run(opts).expect("test run").return_value, XDP_PASS);
            });
        });
        k.counter_reader().unwrap().per_cpu().unwrap()[0].lost
    }
    // What a drain hands over: (stamp, source port, sequence number) of each segment.
    fn take(rings: &mut Rings, until: u64) -> Vec<(u64, u16, u32)> {
        let mut handed = Vec::new();
        let _ = rings.drain(until, &mut |item| {
            let Some(decode::Item::Segment { rec, .. }) = decode::item(item) else {
                panic!("not a segment: written over?")
            };
            handed.push((decode::item_ts(item), rec.sport, rec.seq));
            ControlFlow::Continue(())
        });
        handed
    }
    // SAFETY: plain call.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u32;
    let cpus = aya::util::nr_cpus().expect("CPUs") as u32;
    let mut k = Kernel::load_sized(&Filter::default(), Config::default(), page * cpus)
        .expect("loading (run as root)");
    let mut rings = k.take_rings().expect("rings");
    // 64 bytes an item in the ring: a page holds 63 (see above).
    let fit = u64::from((page - 1) / 64);
    produce(&mut k, 20);
    // Read, and held: nothing is stamped at or before 0.
    assert!(take(&mut rings, 0).is_empty());
    let lost = produce(&mut k, 60);
    assert_eq!(lost, 20 + 60 - fit, "the held items keep their space");
    let handed = take(&mut rings, ALL);
    assert_eq!(handed.len() as u64, fit);
    assert!(handed.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
    assert!(
        handed
            .iter()
            .all(|&(_, sport, seq)| (sport, seq) == (40000, 1000))
    );
    // Handed over: the whole ring is free again.
    assert_eq!(produce(&mut k, fit as u32), lost, "nothing more lost");
    assert_eq!(take(&mut rings, ALL).len() as u64, fit);
}
