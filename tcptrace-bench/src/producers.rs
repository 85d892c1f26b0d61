//! Producers (`--parts producers`): what a record costs against the physical floor of this
//! design, and what a second producer CPU does to the first.
//!
//! - The ladder, one producer: the floor programs (`empty`; `clock`: + `bpf_ktime_get_ns`;
//!   `reserve`: + reserve/commit of a record of tcptrace's size) and tcptrace's XDP and TC
//!   programs on the accepted-segment frame, interleaved, kernel-reported ns per run.
//! - Scaling: the same frame from one thread, then from two threads pinned to different
//!   CPUs at once, against the *same* loaded object (one ring), while a reader thread
//!   drains the ring as tcptrace does (poll with a 10 ms timeout, then read every record).
//!   Records/s per producer and in total, and every record lost, counted.
use std::{
    ops::ControlFlow,
    os::fd::{AsFd as _, AsRawFd as _},
    sync::{
        Barrier,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

use anyhow::{Context as _, Result, anyhow, bail};
use aya::{
    Ebpf, EbpfLoader, include_bytes_aligned,
    maps::{MapData, RingBuf},
    programs::{Program, TestRun, TestRunOptions, Xdp},
};
use tcptrace::{
    kernel::{Filter, Kernel, Prog, Rings},
    source::rings::ALL,
};
use tcptrace_common::Config;

use crate::{micro, stats::median};

static FLOORS: &[u8] = include_bytes_aligned!(concat!(env!("TCPTRACE_OBJECTS"), "/bench-empty"));

/// Every ring here: 64 MiB, so that a batch from each producer (below) never fills it even
/// when the reader falls behind by a whole round.
const RING: u32 = 1 << 26;
/// Runs per BPF_PROG_TEST_RUN call: 2 × 100 000 records of 168 bytes is half the ring.
const BATCH: u32 = 100_000;

/// The scaling rows read after each batch: the kernel side without the reader's CPU time.
const KERNEL_XDP: &str = "tcptrace XDP, read between batches";
const KERNEL_TC: &str = "tcptrace TC, read between batches";

/// One rung of the ladder: kernel-reported ns per run, median over rounds.
pub struct Rung {
    pub name: &'static str,
    pub what: &'static str,
    pub ns: f64,
}

/// One program from one and from two producers.
pub struct Scale {
    pub name: &'static str,
    /// Records/s of the lone producer (median over rounds).
    pub one: f64,
    /// Records/s of each of the two producers (median over rounds of the slower one).
    pub each_of_two: f64,
    /// Median over rounds of (slower of two) / (lone), per-round pairs.
    pub ratio: f64,
    pub records: u64,
    pub lost: u64,
}

pub struct Producers {
    pub ladder: Vec<Rung>,
    pub scaling: Vec<Scale>,
    pub rounds: usize,
    /// Batches of [`BATCH`] runs per producer and round.
    pub batches: u32,
    pub cpus: usize,
    /// Records tcptrace's programs counted as lost (ring full) over the whole part.
    pub tracer_lost: u64,
}

/// Per scaling target: (lone rate, slower of two) per round; records read; records lost.
type Samples = (Vec<(f64, f64)>, u64, u64);

/// The programs measured, each with the ring its records go to.
enum Target {
    Floor(&'static str),
    Tracer(Prog),
}

struct Loaded {
    floors: Ebpf,
    floor_ring: Option<RingBuf<MapData>>,
    tracer: Kernel,
    ring: Option<Rings>,
}

impl Loaded {
    fn load() -> Result<Loaded> {
        if FLOORS.is_empty() {
            bail!("bench-empty object missing from this build");
        }
        let mut floors = EbpfLoader::new()
            .map_max_entries("FLOOR_RING", RING)
            .load(FLOORS)
            .context("loading bench-empty")?;
        for name in ["empty", "clock", "reserve"] {
            let p: &mut Xdp = floors
                .program_mut(name)
                .with_context(|| format!("program `{name}` missing"))?
                .try_into()?;
            p.load().with_context(|| format!("loading `{name}`"))?;
        }
        let floor_ring = RingBuf::try_from(
            floors
                .take_map("FLOOR_RING")
                .context("FLOOR_RING missing")?,
        )?;
        let filter = Filter {
            hosts: vec![],
            ports: vec![micro::PORT],
        };
        let mut tracer = Kernel::load_sized(&filter, Config::default(), RING)?;
        let ring = tracer.take_rings()?;
        // Load both programs now: `program()` below only borrows.
        tracer.loaded(Prog::Xdp)?;
        tracer.loaded(Prog::Tc)?;
        Ok(Loaded {
            floors,
            floor_ring: Some(floor_ring),
            tracer,
            ring: Some(ring),
        })
    }

    fn program(&mut self, t: &Target) -> Result<&Program> {
        Ok(match t {
            Target::Floor(name) => self.floors.program(name).context("floor program")?,
            Target::Tracer(p) => self.tracer.loaded(*p)?,
        })
    }
}

/// Runs `frame` `repeat` times in one BPF_PROG_TEST_RUN: kernel-reported ns per run.
fn test_run(p: &Program, frame: &[u8], repeat: u32) -> Result<f64> {
    let opts = TestRunOptions {
        data_in: Some(frame),
        repeat,
        ..Default::default()
    };
    let r = match p {
        Program::Xdp(x) => x.test_run(opts),
        Program::SchedClassifier(c) => c.test_run(opts),
        _ => return Err(anyhow!("not an XDP or TC program")),
    }?;
    Ok(r.duration.as_nanos() as f64)
}

/// Pins the calling thread to `cpu`.
pub fn pin(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
            bail!("pinning to CPU {cpu}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The calling thread's CPUs, given back on drop (the parts after this one, and what they
/// start, must not inherit a pinning).
struct Affinity(libc::cpu_set_t);

impl Affinity {
    fn save() -> Affinity {
        // SAFETY: a zeroed cpu_set_t is valid; the kernel fills it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set);
            Affinity(set)
        }
    }
}

impl Drop for Affinity {
    fn drop(&mut self) {
        // SAFETY: the set read by `save`.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&self.0), &self.0) };
    }
}

/// What the producers write into: bench-empty's one ring, or tcptrace's rings.
trait Drain: Send {
    fn fd(&self) -> i32;
    /// Reads every item there now; how many.
    fn drain(&mut self) -> u64;
}

impl Drain for RingBuf<MapData> {
    fn fd(&self) -> i32 {
        self.as_fd().as_raw_fd()
    }
    fn drain(&mut self) -> u64 {
        let mut n = 0;
        while let Some(item) = self.next() {
            std::hint::black_box(item.len());
            n += 1;
        }
        n
    }
}

impl Drain for Rings {
    fn fd(&self) -> i32 {
        self.as_raw_fd()
    }
    fn drain(&mut self) -> u64 {
        let mut n = 0;
        let _ = Rings::drain(self, ALL, &mut |item| {
            std::hint::black_box(item.len());
            n += 1;
            ControlFlow::Continue(())
        });
        n
    }
}

/// Drains `ring` until `stop` (and then once more), as tcptrace's reader does: wait for
/// the ring's fd to become readable (or 10 ms), then read every item there.
fn reader(ring: &mut dyn Drain, drained: &AtomicU64, stop: &AtomicBool) {
    let fd = ring.fd();
    loop {
        let done = stop.load(Ordering::Acquire);
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 10) };
        let n = ring.drain();
        drained.fetch_add(n, Ordering::Release);
        if done {
            return;
        }
    }
}

/// When the reader drains the ring.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    /// While the producers run, as tcptrace does: it takes CPU time from them.
    During,
    /// After each batch (the ring holds a whole batch): the kernel side alone.
    Between,
}

/// `producers` threads, on CPUs 0, 1, …, each running `batches` batches of [`BATCH`] at
/// once (a barrier per batch; between batches the producers wait until the reader has
/// caught up, so the ring never fills; `writes`: whether the program writes a record per
/// run). Returns each producer's records/s (from the kernel-reported time) and the records
/// drained.
fn burst(
    p: &Program,
    ring: &mut dyn Drain,
    frame: &[u8],
    producers: usize,
    (batches, writes, read): (u32, bool, Read),
) -> Result<(Vec<f64>, u64)> {
    let drained = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let start = Barrier::new(producers);
    // Between: the producers and the reader meet here at the end of each batch.
    let end = Barrier::new(producers + 1);
    let expect_per_batch = u64::from(writes) * BATCH as u64 * producers as u64;
    thread::scope(|s| -> Result<(Vec<f64>, u64)> {
        let r = s.spawn(|| match read {
            Read::During => reader(ring, &drained, &stop),
            Read::Between => {
                for _ in 0..batches {
                    end.wait();
                    drained.fetch_add(ring.drain(), Ordering::Release);
                }
            }
        });
        let workers: Vec<_> = (0..producers)
            .map(|cpu| {
                let (start, end, drained) = (&start, &end, &drained);
                s.spawn(move || -> Result<f64> {
                    pin(cpu)?;
                    let mut ns = 0.0;
                    for b in 0..batches {
                        // Wait for the reader to have drained the previous batch.
                        while drained.load(Ordering::Acquire) < expect_per_batch * b as u64 {
                            thread::sleep(Duration::from_micros(200));
                        }
                        start.wait();
                        let run = test_run(p, frame, BATCH);
                        if read == Read::Between {
                            end.wait();
                        }
                        ns += run?;
                    }
                    Ok(1e9 / (ns / f64::from(batches)))
                })
            })
            .collect();
        let rates: Result<Vec<f64>> = workers
            .into_iter()
            .map(|w| w.join().map_err(|_| anyhow!("producer panicked"))?)
            .collect();
        stop.store(true, Ordering::Release);
        r.join().map_err(|_| anyhow!("reader panicked"))?;
        Ok((rates?, drained.load(Ordering::Acquire)))
    })
}

pub fn run(quick: bool) -> Result<Producers> {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        bail!("the producers part needs two CPUs");
    }
    let mut k = Loaded::load()?;
    let frame = micro::accepted_frame();
    let rounds = if quick { 3 } else { 7 };
    let batches: u32 = if quick { 5 } else { 20 };
    let ladder_targets = [
        ("empty", "empty XDP program", Target::Floor("empty")),
        ("clock", "+ bpf_ktime_get_ns", Target::Floor("clock")),
        (
            "reserve",
            "+ reserve/commit of a record of tcptrace's size",
            Target::Floor("reserve"),
        ),
        (
            "tcptrace XDP",
            "tcptrace's XDP program",
            Target::Tracer(Prog::Xdp),
        ),
        (
            "tcptrace TC",
            "tcptrace's TC program",
            Target::Tracer(Prog::Tc),
        ),
    ];
    let mut ladder: Vec<Vec<f64>> = vec![Vec::new(); ladder_targets.len()];
    // The clock floor writes no record: two CPUs that share nothing, the control for
    // what two producers keep on this machine whatever a ring does.
    let scale_targets = [
        (
            "clock floor, no ring (control)",
            Target::Floor("clock"),
            Read::During,
        ),
        (
            "reserve floor, one shared ring",
            Target::Floor("reserve"),
            Read::During,
        ),
        ("tcptrace XDP", Target::Tracer(Prog::Xdp), Read::During),
        ("tcptrace TC", Target::Tracer(Prog::Tc), Read::During),
        (KERNEL_XDP, Target::Tracer(Prog::Xdp), Read::Between),
        (KERNEL_TC, Target::Tracer(Prog::Tc), Read::Between),
    ];
    let mut scale: Vec<Samples> = (0..scale_targets.len())
        .map(|_| (Vec::new(), 0, 0))
        .collect();
    let lost_before = k.tracer.counters()?.lost;
    let mut floor_ring = k.floor_ring.take().context("floor ring")?;
    let mut ring = k.ring.take().context("ring")?;
    let _restore = Affinity::save();
    pin(0)?;
    for _ in 0..rounds {
        for (i, (_, _, t)) in ladder_targets.iter().enumerate() {
            let p = k.program(t)?;
            let ns = test_run(p, &frame, BATCH)?;
            ladder[i].push(ns);
            let r: &mut dyn Drain = if matches!(t, Target::Floor(_)) {
                &mut floor_ring
            } else {
                &mut ring
            };
            r.drain();
        }
        for (i, (_, t, read)) in scale_targets.iter().enumerate() {
            let r: &mut dyn Drain = if matches!(t, Target::Floor(_)) {
                &mut floor_ring
            } else {
                &mut ring
            };
            let p = k.program(t)?;
            let writes = !matches!(t, Target::Floor("clock"));
            let (one, d1) = burst(p, r, &frame, 1, (batches, writes, *read))?;
            let (two, d2) = burst(p, r, &frame, 2, (batches, writes, *read))?;
            let slower = two.iter().copied().fold(f64::INFINITY, f64::min);
            scale[i].0.push((one[0], slower));
            let offered = u64::from(writes) * u64::from(BATCH) * u64::from(batches) * 3;
            scale[i].1 += d1 + d2;
            scale[i].2 += offered.saturating_sub(d1 + d2);
        }
    }
    let tracer_lost = k.tracer.counters()?.lost - lost_before;
    let ladder = ladder_targets
        .iter()
        .zip(ladder)
        .map(|((name, what, _), ns)| Rung {
            name,
            what,
            ns: median(ns),
        })
        .collect();
    let scaling = scale_targets
        .iter()
        .zip(scale)
        .map(|((name, _, _), (pairs, records, lost))| Scale {
            name,
            one: median(pairs.iter().map(|p| p.0).collect()),
            each_of_two: median(pairs.iter().map(|p| p.1).collect()),
            ratio: median(pairs.iter().map(|p| p.1 / p.0).collect()),
            records,
            lost,
        })
        .collect();
    Ok(Producers {
        ladder,
        scaling,
        rounds,
        batches,
        cpus,
        tracer_lost,
    })
}

impl Producers {
    fn rung(&self, name: &str) -> f64 {
        self.ladder
            .iter()
            .find(|r| r.name == name)
            .map_or(f64::NAN, |r| r.ns)
    }

    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "\n## Producers: the physical floor, and two CPUs on one ring\n\n\
             BPF_PROG_TEST_RUN of the accepted-segment frame (`tcp-accept`), kernel-reported \
             ns per run, medians over rounds; the floor's record is tcptrace's ({} bytes); the ring drained by a reader thread as tcptrace \
             drains it (poll, 10 ms timeout, read every record).\n\n\
             | program | what it does | ns per run | × empty | × reserve floor |\n\
             | --- | --- | --- | --- | --- |\n",
        )
        .replace("{}", &micro::ACCEPT_ITEM.to_string());
        let (empty, floor) = (self.rung("empty"), self.rung("reserve"));
        for r in &self.ladder {
            s += &format!(
                "| {} | {} | {:.1} | {:.2}× | {:.2}× |\n",
                r.name,
                r.what,
                r.ns,
                r.ns / empty,
                r.ns / floor
            );
        }
        s += &format!(
            "\nOne producer, then two pinned to CPUs 0 and 1 at once, on the same loaded \
             object and ring ({} CPUs here; {} rounds of {} × {BATCH} runs per producer; \
             between batches the producers wait for the reader, so the ring never fills). \
             Records/s from the kernel-reported time of each producer; records lost = \
             offered − read (tcptrace's own lost counter: {}). The control row runs the \
             clock floor, which writes no record: what two producers keep on this machine \
             when they share nothing, the ceiling for any ring design here. The rows \
             \"read between batches\" keep the reader off the CPUs while the producers run \
             (the ring holds a whole batch): what the kernel side keeps, without the reader's \
             share of this 2-CPU machine.\n\n\
             | program | lone producer | each of two (slower) | two / lone | records read | records lost |\n\
             | --- | --- | --- | --- | --- | --- |\n",
            self.cpus, self.rounds, self.batches, self.tracer_lost
        );
        for x in &self.scaling {
            s += &format!(
                "| {} | {:.2} M/s | {:.2} M/s | {:.3}× | {} | {} |\n",
                x.name,
                x.one / 1e6,
                x.each_of_two / 1e6,
                x.ratio,
                x.records,
                x.lost
            );
        }
        let ratio = |name: &str| {
            self.scaling
                .iter()
                .find(|x| x.name == name)
                .map_or(f64::NAN, |x| x.ratio)
        };
        let control = ratio("clock floor, no ring (control)");
        for name in ["tcptrace XDP", "tcptrace TC", KERNEL_XDP, KERNEL_TC] {
            let r = ratio(name);
            s += &format!(
                "\nTarget, {name}: each of two producers keeps ≥ 0.95× a lone one: {r:.3}× ({}); \
                 {:.3}× what the control keeps ({control:.3}×).\n",
                if r >= 0.95 { "met" } else { "missed" },
                r / control
            );
        }
        s
    }

    pub fn summary(&self) -> String {
        let floor = self.rung("reserve");
        let mut s = format!(
            "producers: floor ladder empty {:.1} / clock {:.1} / reserve {:.1} ns; tcptrace XDP {:.1} ns ({:.2}× the floor), TC {:.1} ns ({:.2}×)",
            self.rung("empty"),
            self.rung("clock"),
            floor,
            self.rung("tcptrace XDP"),
            self.rung("tcptrace XDP") / floor,
            self.rung("tcptrace TC"),
            self.rung("tcptrace TC") / floor
        );
        for x in &self.scaling {
            s += &format!("; {} two/lone {:.3}×", x.name, x.ratio);
        }
        s
    }
}
