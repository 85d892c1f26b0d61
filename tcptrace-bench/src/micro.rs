//! Kernel cost per packet: BPF_PROG_TEST_RUN with a large `repeat`, the empty XDP program
//! (the floor) and tcptrace's XDP and TC programs measured interleaved, medians reported.
use std::{
    ops::ControlFlow,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf, include_bytes_aligned,
    programs::{TestRun, TestRunOptions, Xdp},
};
use tcptrace::{
    kernel::{Filter, Kernel, Prog, Rings},
    source::rings::ALL,
};
use tcptrace_common::Config;

use crate::{
    packets::{self, ACK, Ext, PSH, SYN, Tcp, opt},
    stats::median,
};

static EMPTY: &[u8] = include_bytes_aligned!(concat!(env!("TCPTRACE_OBJECTS"), "/bench-empty"));

/// The port the loaded filter accepts (`--port 5201`).
pub const PORT: u16 = 5201;

pub struct Case {
    pub name: &'static str,
    pub what: &'static str,
    pub frame: Vec<u8>,
    /// Run through the kernel loaded with [`TEN_TERMS`] instead of `--port 5201`.
    pub expr: bool,
}

/// A 10-term filter expression (10 terms in the kernel's rule table); `tcp-accept`'s frame
/// matches only the last term, `tcp-reject`'s none, so every term is evaluated.
pub const TEN_TERMS: &str = "port 1 or port 2 or port 3 or port 4 or port 5 or port 6 or \
                             port 7 or port 8 or port 9 or (host 10.1.0.2 and port 5201)";

/// The `tcp-accept` case's frame.
pub fn accepted_frame() -> Vec<u8> {
    cases()
        .into_iter()
        .find(|c| c.name == "tcp-accept")
        .expect("tcp-accept is a case")
        .frame
}

pub fn cases() -> Vec<Case> {
    let a = [10, 1, 0, 1];
    let b = [10, 1, 0, 2];
    let ts = opt::ts(0x0102_0304, 0x0506_0708);
    let data = |sport, dport| Tcp {
        sport,
        dport,
        seq: 1_000_000,
        ack: 2_000_000,
        flags: ACK | PSH,
        window: 502,
        options: ts.clone(),
        payload: packets::payload(100),
        ..Default::default()
    };
    let mut a6 = [0u8; 16];
    a6[..4].copy_from_slice(&[0xfd, 0, 0, 1]);
    a6[15] = 1;
    let mut b6 = a6;
    b6[15] = 2;
    let mut syn6 = data(40000, PORT);
    syn6.flags = SYN;
    syn6.payload.clear();
    syn6.options = [
        opt::mss(1440),
        opt::sack_ok(),
        opt::ts(1, 0),
        opt::wscale(7),
    ]
    .concat();
    // Hop-by-hop and destination options (PadN), an SRH (routing type 4) with one segment.
    let exts = vec![
        Ext::HopByHop(0),
        Ext::DestOpts(0),
        Ext::Routing {
            typ: 4,
            segments_left: 0,
            addrs: vec![b6],
        },
    ];
    let mut bad = data(40000, PORT);
    bad.doff = Some(3);
    vec![
        Case {
            name: "non-ip",
            what: "ARP request (not IP)",
            frame: packets::arp(),
            expr: false,
        },
        Case {
            name: "tcp-reject",
            what: "IPv4 TCP data segment, ports 40000→80, filter --port 5201 rejects",
            frame: packets::tcp4(a, b, 1, &data(40000, 80)),
            expr: false,
        },
        Case {
            name: "tcp-accept",
            what: "IPv4 TCP data segment (timestamps, 100 B payload), port 5201: record written",
            frame: packets::tcp4(a, b, 1, &data(40000, PORT)),
            expr: false,
        },
        Case {
            name: "malformed",
            what: "IPv4 TCP, port 5201, data offset 3 (bad header length)",
            frame: packets::tcp4(a, b, 1, &bad),
            expr: false,
        },
        Case {
            name: "ipv6-ext",
            what: "IPv6 HBH + DSTOPT + SRH, TCP SYN with options to port 5201: record written",
            frame: packets::tcp6(a6, b6, &exts, &syn6),
            expr: false,
        },
        Case {
            name: "expr10-reject",
            what: "the `tcp-reject` frame against a 10-term filter expression (no term holds)",
            frame: packets::tcp4(a, b, 1, &data(40000, 80)),
            expr: true,
        },
        Case {
            name: "expr10-accept",
            what: "the `tcp-accept` frame against a 10-term filter expression (the last term holds): record written",
            frame: packets::tcp4(a, b, 1, &data(40000, PORT)),
            expr: true,
        },
    ]
}

#[derive(Clone, Debug)]
pub struct Row {
    pub case: &'static str,
    pub prog: &'static str,
    /// Medians over rounds, kernel-reported (integer ns per run, averaged over batches).
    pub kernel_ns: f64,
    pub floor_kernel_ns: f64,
    /// Median of the per-pair ratios case / floor (kernel-reported).
    pub ratio: f64,
    pub records: u64,
}

pub struct Micro {
    pub rows: Vec<Row>,
    pub runs_per_measurement: u32,
    pub batch: u32,
    pub rounds: usize,
    pub lost: u64,
    pub record_size: usize,
}

struct Floor {
    _ebpf: Ebpf,
}

impl Floor {
    fn load() -> Result<Floor> {
        if EMPTY.is_empty() {
            bail!("bench-empty object missing from this build");
        }
        let mut ebpf = Ebpf::load(EMPTY).context("loading bench-empty")?;
        let p: &mut Xdp = ebpf
            .program_mut("empty")
            .context("program `empty` missing")?
            .try_into()?;
        p.load().context("loading the empty XDP program")?;
        Ok(Floor { _ebpf: ebpf })
    }

    fn run(&self, frame: &[u8], repeat: u32) -> Result<Duration> {
        let p: &Xdp = self
            ._ebpf
            .program("empty")
            .context("program `empty` missing")?
            .try_into()?;
        let r = p.test_run(TestRunOptions {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        })?;
        Ok(r.duration)
    }
}

/// One measurement: `batches` test runs of `batch` repeats, the ring drained after each.
/// Returns (kernel-reported ns per run averaged over the batches, records drained).
fn measure(
    mut run: impl FnMut(u32) -> Result<Duration>,
    ring: &mut Rings,
    batch: u32,
    batches: u32,
) -> Result<(f64, u64)> {
    let mut kernel = 0f64;
    let mut drained = 0u64;
    for _ in 0..batches {
        kernel += run(batch)?.as_nanos() as f64;
        let _ = ring.drain(ALL, &mut |_| {
            drained += 1;
            ControlFlow::Continue(())
        });
    }
    Ok((kernel / f64::from(batches), drained))
}

pub fn run(quick: bool) -> Result<Micro> {
    let floor = Floor::load()?;
    let filter = Filter {
        hosts: vec![],
        ports: vec![PORT],
    };
    let mut kernel = Kernel::load_sized(&filter, Config::default(), BENCH_RING)?;
    let mut ring = kernel.take_rings()?;
    let table = tcptrace::filter::compile(TEN_TERMS)
        .map_err(|e| anyhow::anyhow!("compiling the 10-term expression: {e}"))?;
    let mut kernel10 = Kernel::load_sized(&table, Config::default(), BENCH_RING)?;
    let mut ring10 = kernel10.take_rings()?;
    // The accepted segment's item: IPv4 with timestamps.
    let record_size = ACCEPT_ITEM;
    let runs: u32 = if quick { 1 << 17 } else { 1 << 20 };
    let batch = batch(runs);
    let batches = runs / batch;
    let rounds = if quick { 3 } else { 7 };
    let cases = cases();
    let progs = [(Prog::Xdp, "XDP"), (Prog::Tc, "TC")];

    // samples[case][prog] = Vec<(case ns, paired floor ns)>
    let mut samples = vec![vec![Vec::new(); progs.len()]; cases.len()];
    let mut drained = vec![vec![0u64; progs.len()]; cases.len()];
    // Warm-up.
    for c in &cases {
        floor.run(&c.frame, 1000)?;
        for (p, _) in progs {
            let (k, r) = if c.expr {
                (&mut kernel10, &mut ring10)
            } else {
                (&mut kernel, &mut ring)
            };
            k.test_run_repeat(p, &c.frame, 1000)?;
            while r.pop_oldest().is_some() {}
        }
    }
    for _ in 0..rounds {
        for (ci, c) in cases.iter().enumerate() {
            for (pi, (p, _)) in progs.iter().enumerate() {
                let (k, r) = if c.expr {
                    (&mut kernel10, &mut ring10)
                } else {
                    (&mut kernel, &mut ring)
                };
                let (fk, _) = measure(|n| floor.run(&c.frame, n), r, batch, batches)?;
                let (k, d) = measure(
                    |n| Ok(k.test_run_repeat(*p, &c.frame, n)?),
                    r,
                    batch,
                    batches,
                )?;
                samples[ci][pi].push((k, fk));
                drained[ci][pi] += d;
            }
        }
    }
    let lost = kernel.counters()?.lost + kernel10.counters()?.lost;
    let mut rows = Vec::new();
    for (ci, c) in cases.iter().enumerate() {
        for (pi, (_, pname)) in progs.iter().enumerate() {
            let s = &samples[ci][pi];
            let col = |f: fn(&(f64, f64)) -> f64| median(s.iter().map(f).collect());
            rows.push(Row {
                case: c.name,
                prog: pname,
                kernel_ns: col(|x| x.0),
                floor_kernel_ns: col(|x| x.1),
                ratio: col(|x| if x.1 > 0.0 { x.0 / x.1 } else { f64::NAN }),
                records: drained[ci][pi],
            });
        }
    }
    Ok(Micro {
        rows,
        runs_per_measurement: batch * batches,
        batch,
        rounds,
        lost,
        record_size,
    })
}

/// The bench's ring buffer: 16 MiB, so that a test run can repeat a frame ~50 000 times
/// without filling it (8 MB of records, within the L3 cache). Long runs matter for XDP: the kernel swaps its XDP dispatcher to the
/// program and back around every XDP test run (milliseconds, mostly waiting), and with
/// short runs the CPU keeps going cold in between, which made every XDP instruction and
/// helper look ~40% slower than the same code under TC. The ring's size does not change
/// what a record costs (measured: 512 KiB and 4 MiB give the same ns per record).
const BENCH_RING: u32 = 1 << 24;

/// Bytes of the accepted segment's ring item (IPv4 with timestamps; the kernel tests
/// assert it).
pub const ACCEPT_ITEM: usize = 64;

/// Runs per test run: half of what the ring holds (8-byte header + the item rounded up to 8
/// per entry), so that it never fills between drains; at most `runs`.
fn batch(runs: u32) -> u32 {
    let entry = 8 + ACCEPT_ITEM.div_ceil(8) * 8;
    ((BENCH_RING as usize / entry / 2) as u32).min(runs)
}

/// For profiling (`perf record -a -g -- tcptrace-bench --spin tcp-accept:xdp`): runs one
/// case for `secs` seconds, draining the ring.
pub fn spin(spec: &str, secs: u64) -> Result<()> {
    let (name, prog) = spec.split_once(':').unwrap_or((spec, "xdp"));
    let case = cases()
        .into_iter()
        .find(|c| c.name == name)
        .with_context(|| format!("no case {name}"))?;
    let floor = Floor::load()?;
    let mut kernel = if case.expr {
        let table = tcptrace::filter::compile(TEN_TERMS)
            .map_err(|e| anyhow::anyhow!("compiling the 10-term expression: {e}"))?;
        Kernel::load_sized(&table, Config::default(), BENCH_RING)?
    } else {
        Kernel::load_sized(
            &Filter {
                hosts: vec![],
                ports: vec![PORT],
            },
            Config::default(),
            BENCH_RING,
        )?
    };
    let mut ring = kernel.take_rings()?;
    let end = Instant::now() + Duration::from_secs(secs);
    let mut sum = 0f64;
    let mut n = 0u32;
    let batch = batch(u32::MAX);
    while Instant::now() < end {
        let d = match prog {
            "tc" => kernel.test_run_repeat(Prog::Tc, &case.frame, batch)?,
            "floor" => floor.run(&case.frame, batch)?,
            _ => kernel.test_run_repeat(Prog::Xdp, &case.frame, batch)?,
        };
        sum += d.as_nanos() as f64;
        n += 1;
        while ring.pop_oldest().is_some() {}
    }
    println!(
        "{spec}: {:.1} ns per run over {n} batches of {batch}; {} records lost",
        sum / f64::from(n.max(1)),
        kernel.counters()?.lost
    );
    Ok(())
}
