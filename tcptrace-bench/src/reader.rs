//! Reader (`--parts reader`): the records/s a whole tracer process reads, decodes and
//! prints when its kernel program is fed faster than it can follow.
//!
//! The tracer runs as users run it (`-i VETH --port 5201`, TC ingress on a veth in a
//! namespace of its own, stdout to /dev/null), pinned to CPU 1. The bench finds the
//! tracer's loaded TC ingress program by its id (the tracer's own descriptors) and runs it
//! with BPF_PROG_TEST_RUN on the accepted-segment frame from a thread pinned to CPU 0, in
//! batches, for a fixed time: the records reach the tracer's real ring(s) and its real
//! reader, exactly as packets would, only faster than a veth can carry them. Then SIGINT:
//! the tracer prints what is left and its closing lines. Records read per second = lines
//! (segments) it took / (production time + its final drain); the kernel's "dropped by
//! kernel" says whether it fell behind. Any tracer binary works (the old build, the glibc
//! and the static build of this tree): nothing here depends on its version.
use std::{
    fs,
    os::fd::{AsFd as _, AsRawFd as _},
    path::{Path, PathBuf},
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    micro, producers,
    stats::{Proc, closing_lines, median},
};

/// One tracer binary under test.
#[derive(Clone, Debug)]
pub struct Build {
    pub label: String,
    pub path: PathBuf,
}

/// The output modes measured.
pub const MODES: [(&str, &[&str]); 3] = [
    ("lines", &[]),
    ("--no-lines --summary", &["--no-lines", "--summary"]),
    ("--json", &["--json"]),
];

/// One run: one build, one mode.
#[derive(Clone, Copy, Debug, Default)]
pub struct Run {
    /// Records the kernel program accepted (offered), and per second of production.
    pub offered: u64,
    pub offered_rate: f64,
    /// Records the tracer took (its "captured") per second, from the first record to its
    /// exit.
    pub read_rate: f64,
    pub lost: u64,
    /// Tracer CPU per record read (user + system).
    pub cpu_ns: f64,
    /// The kernel's ns per run of the tracer's TC ingress program (median over batches).
    pub kernel_ns: f64,
}

pub struct Cell {
    pub build: usize,
    pub mode: usize,
    pub runs: Vec<Run>,
}

impl Cell {
    pub fn read_rate(&self) -> f64 {
        median(self.runs.iter().map(|r| r.read_rate).collect())
    }
    fn med(&self, f: fn(&Run) -> f64) -> f64 {
        median(self.runs.iter().map(f).collect())
    }
}

pub struct Reader {
    pub builds: Vec<Build>,
    pub seconds: f64,
    pub rounds: usize,
    pub cells: Vec<Cell>,
}

/// `BPF_PROG_TEST_RUN`'s part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// Runs the program behind `fd` `repeat` times on `frame`: the kernel's ns per run.
fn test_run(fd: i32, frame: &[u8], repeat: u32) -> Result<u32> {
    let mut attr = TestRunAttr {
        prog_fd: fd as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat,
        ..Default::default()
    };
    // SAFETY: a valid attr of the size given; the frame outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            &mut attr as *mut TestRunAttr,
            size_of::<TestRunAttr>(),
        )
    };
    if r < 0 {
        bail!("BPF_PROG_TEST_RUN: {}", std::io::Error::last_os_error());
    }
    Ok(attr.duration)
}

/// The ids of the BPF programs a process holds descriptors of.
fn prog_ids(pid: i32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("prog_id:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .collect()
}

/// The tracer's TC ingress program (held by `pid`), opened here.
fn ingress_prog(pid: i32) -> Result<aya::programs::ProgramFd> {
    let ids = prog_ids(pid);
    for info in aya::programs::loaded_programs().flatten() {
        if ids.contains(&info.id())
            && info
                .name_as_str()
                .is_some_and(|n| n.starts_with("tcptrace_tc_in"))
        {
            return Ok(info.fd()?);
        }
    }
    bail!("no tcptrace_tc_ingress program held by pid {pid} (ids {ids:?})")
}

/// The CPU time (user + system) process `pid` has used so far (/proc, in clock ticks).
fn cpu_so_far(pid: i32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the
    // 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // SAFETY: plain libc call.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

fn one(
    n: &crate::live::Netns,
    build: &Build,
    args: &[&str],
    seconds: f64,
    frame: &[u8],
) -> Result<Run> {
    let mut cmd = n.exec(&n.b, "taskset");
    cmd.args(["-c", "1"])
        .arg(&build.path)
        .args(["-i", &n.veth_b, "--port", "5201"])
        .args(args);
    let mut p = Proc::spawn(&build.label, cmd, Stdio::null())?;
    p.wait_stderr("listening on", Duration::from_secs(30))?;
    let prog = ingress_prog(p.pid())?;
    // Its start (the verifier above all) is not reading: left out of the CPU per record.
    let start_cpu = cpu_so_far(p.pid());
    let fd = prog.as_fd().as_raw_fd();
    let started = Instant::now();
    // The producer on CPU 0, on a thread of its own (the pinning stays with it).
    let (produced, kernel_ns) = thread::scope(|s| {
        s.spawn(|| -> Result<(Duration, f64)> {
            producers::pin(0)?;
            let t = Instant::now();
            let mut ns = Vec::new();
            while t.elapsed().as_secs_f64() < seconds {
                ns.push(f64::from(test_run(fd, frame, 20_000)?));
            }
            Ok((t.elapsed(), median(ns)))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))?
    })?;
    p.signal(libc::SIGINT);
    let u = p.wait(Duration::from_secs(120))?;
    // Production, then the tracer's last drain and exit (wait polls every 5 ms).
    let elapsed = started.elapsed();
    let (read, offered, lost) = closing_lines(&p.err_lines).with_context(|| {
        format!(
            "{}: no closing lines on stderr:\n{}",
            build.label,
            p.err_lines.join("\n")
        )
    })?;
    Ok(Run {
        offered,
        offered_rate: offered as f64 / produced.as_secs_f64(),
        read_rate: read as f64 / elapsed.as_secs_f64(),
        lost,
        kernel_ns,
        cpu_ns: u.cpu.saturating_sub(start_cpu).as_nanos() as f64 / read.max(1) as f64,
    })
}

pub fn run(quick: bool, builds: Vec<Build>) -> Result<Reader> {
    if thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        bail!("the reader part needs two CPUs");
    }
    for b in &builds {
        if !b.path.exists() {
            bail!("{}: {} is missing", b.label, b.path.display());
        }
    }
    let n = crate::live::Netns::new();
    let frame = micro::accepted_frame();
    let seconds = if quick { 2.0 } else { 5.0 };
    let rounds = if quick { 1 } else { 3 };
    let mut cells: Vec<Cell> = (0..builds.len())
        .flat_map(|b| {
            (0..MODES.len()).map(move |m| Cell {
                build: b,
                mode: m,
                runs: Vec::new(),
            })
        })
        .collect();
    for round in 0..rounds {
        // Builds interleaved within each mode, the order rotating per round.
        for (mi, (mode, args)) in MODES.iter().enumerate() {
            for k in 0..builds.len() {
                let bi = (k + round) % builds.len();
                eprintln!(
                    "bench: reader round {}/{rounds}: {} {mode}",
                    round + 1,
                    builds[bi].label
                );
                let r = one(&n, &builds[bi], args, seconds, &frame)?;
                let c = cells
                    .iter_mut()
                    .find(|c| c.build == bi && c.mode == mi)
                    .context("cell")?;
                c.runs.push(r);
            }
        }
    }
    Ok(Reader {
        builds,
        seconds,
        rounds,
        cells,
    })
}

impl Reader {
    pub fn cell(&self, build: usize, mode: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.build == build && c.mode == mode)
    }

    pub fn markdown(&self) -> String {
        let mut s = format!(
            "\n## Reader: records/s a tracer reads at full rate\n\n\
             Each tracer runs as users run it (`ip netns exec NS_B taskset -c 1 TRACER -i VETH_B \
             --port 5201 [MODE] > /dev/null`, TC ingress); the bench opens the tracer's loaded \
             TC ingress program by id and runs it with BPF_PROG_TEST_RUN on the accepted-segment \
             frame from a thread pinned to CPU 0 for {:.0} s, so the records go through the \
             tracer's own rings and reader, faster than it can follow. *read/s*: segments the \
             tracer took (its \"captured\") per second from the first record to its exit (the \
             last drain included); *offered/s*: what its program accepted per second of \
             production; *kernel ns per run*: the kernel's own time per run of the tracer's TC \
             ingress program on that frame, record written (so old and new programs side by \
             side); *lost*: its \"dropped by kernel\" (the ring was full); *CPU per record*: \
             the tracer's user + system time from its first record to its exit, per record \
             read (1 / this is what one CPU of it reads, whatever else runs on the machine). Every record \
             is the same segment, so the tracker sees a retransmission each time. {} round(s), \
             builds interleaved, medians.\n\n\
             | tracer | mode | read/s | offered/s | lost (share) | tracer CPU per record read | kernel ns per run |\n\
             | --- | --- | --- | --- | --- | --- | --- |\n",
            self.seconds, self.rounds
        );
        for c in &self.cells {
            let off = c.med(|r| r.offered as f64);
            let lost = c.med(|r| r.lost as f64);
            s += &format!(
                "| {} | {} | {:.2} M | {:.2} M | {:.0} ({:.0}%) | {:.0} ns | {:.1} |\n",
                self.builds[c.build].label,
                MODES[c.mode].0,
                c.read_rate() / 1e6,
                c.med(|r| r.offered_rate) / 1e6,
                lost,
                100.0 * lost / off.max(1.0),
                c.med(|r| r.cpu_ns),
                c.med(|r| r.kernel_ns),
            );
        }
        if let Some(i) = self.builds.iter().position(|b| b.label == "glibc")
            && let Some(c) = self.cell(i, 0)
        {
            let r = c.read_rate();
            s += &format!(
                "\nTarget: this build reads ≥ 4 M records/s with lines to /dev/null: {:.2} M/s \
                 ({:.2} M per CPU-second of it), {}.\n",
                r / 1e6,
                1e3 / c.med(|r| r.cpu_ns),
                if r >= 4e6 { "met" } else { "missed" }
            );
        }
        let label = |l: &str| self.builds.iter().position(|b| b.label == l);
        if let (Some(o), Some(n)) = (label("old"), label("glibc")) {
            let k = |b| {
                let v: Vec<f64> = self
                    .cells
                    .iter()
                    .filter(|c| c.build == b)
                    .flat_map(|c| c.runs.iter().map(|r| r.kernel_ns))
                    .collect();
                median(v)
            };
            let (ko, kn) = (k(o), k(n));
            s += &format!(
                "\nKernel cost of the accepted segment (TC ingress, every run of both builds): \
                 {kn:.1} ns against the old build's {ko:.1} ns, {:.2}× (target ≤ 0.6×: {}). \
                 A run whose record finds the ring full writes nothing and costs less, so \
                 this compares the programs fairly only at equal loss.\n",
                kn / ko,
                if kn / ko <= 0.6 { "met" } else { "missed" }
            );
        }
        if self.builds.len() > 1 {
            s += "\nRatios of read/s, same mode, same run:\n\n| mode |";
            for b in &self.builds[1..] {
                s += &format!(" {} / {} |", b.label, self.builds[0].label);
            }
            s += "\n| --- |";
            s += &" --- |".repeat(self.builds.len() - 1);
            s += "\n";
            for (mi, (mode, _)) in MODES.iter().enumerate() {
                s += &format!("| {mode} |");
                let base = self.cell(0, mi).map_or(f64::NAN, Cell::read_rate);
                for bi in 1..self.builds.len() {
                    let r = self.cell(bi, mi).map_or(f64::NAN, Cell::read_rate);
                    s += &format!(" {:.2}× |", r / base);
                }
                s += "\n";
            }
        }
        s
    }

    pub fn summary(&self) -> String {
        let mut s = String::from("reader (read/s at full rate):");
        for c in &self.cells {
            s += &format!(
                " {} {} {:.2} M/s;",
                self.builds[c.build].label,
                MODES[c.mode].0,
                c.read_rate() / 1e6
            );
        }
        s
    }
}

/// The builds to compare: this tree's (next to the bench), its static one and an old one
/// when given.
pub fn builds(tcptrace: &Path, static_bin: Option<&Path>, old: Option<&Path>) -> Vec<Build> {
    let mut v = Vec::new();
    if let Some(o) = old {
        v.push(Build {
            label: "old".into(),
            path: o.to_path_buf(),
        });
    }
    v.push(Build {
        label: "glibc".into(),
        path: tcptrace.to_path_buf(),
    });
    if let Some(s) = static_bin {
        v.push(Build {
            label: "static".into(),
            path: s.to_path_buf(),
        });
    }
    v
}
