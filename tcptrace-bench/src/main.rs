//! tcptrace-bench: what tracing costs, measured against the physical floor and tcpdump in
//! one run. Run through `cargo xtask bench [--quick]` (as root); writes a Markdown report
//! and SVG charts.
//!
//! 1. kernel cost per packet (BPF_PROG_TEST_RUN, empty XDP program as the floor);
//! 2. live overhead (iperf3 over veth between two network namespaces made here);
//! 3. userspace throughput (`tcptrace -r` against `tcpdump -n -r` on a generated capture);
//! 4. memory (VmHWM, BPF map memlock);
//! 5. producers, the reader at full rate, connection churn, packet fate (see each module).
mod churn;
mod drops;
mod live;
mod micro;
mod packets;
mod producers;
mod reader;
mod replay;
mod report;
mod stats;

use std::{path::PathBuf, process::Command, time::Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "tcptrace-bench",
    about = "Measure tcptrace's overhead (run as root)"
)]
struct Cli {
    /// Short runs (2 s live runs, fewer repeats, a smaller capture): a smoke check.
    #[arg(long)]
    quick: bool,
    /// Folder for REPORT.md and the charts.
    #[arg(long, default_value = "bench-report")]
    out: PathBuf,
    /// The command line to print in the report (xtask passes its own).
    #[arg(long, default_value = "tcptrace-bench")]
    command: String,
    /// Parts to run (comma-separated): kernel, producers, reader, live, replay, churn,
    /// drops.
    #[arg(
        long,
        default_value = "kernel,producers,reader,live,replay,churn,drops",
        value_delimiter = ','
    )]
    parts: Vec<String>,
    /// The static binary (`cargo xtask dist`'s) measured beside this build in the live and
    /// reader parts.
    #[arg(long, value_name = "PATH")]
    static_tracer: Option<PathBuf>,
    /// An older build of tcptrace measured beside this one in the reader part.
    #[arg(long, value_name = "PATH")]
    old_tracer: Option<PathBuf>,
    /// Profiling aid: run one kernel case (`CASE:xdp|tc|floor`) for 10 s and exit.
    #[arg(long, value_name = "CASE:PROG")]
    spin: Option<String>,
    /// Profiling aid: write the generated capture (`-r` part) to FILE and exit.
    #[arg(long, value_name = "FILE")]
    gen_capture: Option<PathBuf>,
}

/// Installs a Debian package when its program is missing.
fn ensure_tool(prog: &str, package: &str) -> bool {
    let has = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has(prog) {
        return true;
    }
    eprintln!("bench: {prog} missing, installing Debian package {package}");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-q", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    if !has(prog) {
        let _ = Command::new("apt-get").args(["update", "-q"]).status();
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-q", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    has(prog)
}

fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| {
            let s = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&s)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default()
}

pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    pub mem: String,
    pub tcpdump: String,
    pub iperf3: String,
    pub commit: String,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let mhz = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("cpu MHz"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let commit = {
        let head = first_line(Command::new("git").args(["rev-parse", "--short", "HEAD"]));
        let dirty = Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty());
        if dirty {
            format!("{head} + uncommitted changes")
        } else {
            head
        }
    };
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu: match mhz {
            Some(m) => format!("{cpu} ({m} MHz)"),
            None => cpu,
        },
        kernel,
        mem: format!("{:.1} GiB", mem_kib as f64 / (1024.0 * 1024.0)),
        tcpdump: first_line(Command::new("tcpdump").arg("--version")),
        iperf3: first_line(Command::new("iperf3").arg("--version")),
        commit,
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "tcptrace-bench loads BPF programs and makes network namespaces: run it as root (cargo xtask bench does)"
        );
    }
    if let Some(spec) = &cli.spin {
        return micro::spin(spec, 10);
    }
    if let Some(path) = &cli.gen_capture {
        let segments = if cli.quick { 100_000 } else { 1_000_000 };
        let (frames, conns) = replay::generate(path, segments)?;
        eprintln!(
            "bench: {frames} frames, {conns} connections in {}",
            path.display()
        );
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let tcptrace = exe
        .parent()
        .context("no folder for the bench binary")?
        .join("tcptrace");
    if !tcptrace.exists() {
        bail!(
            "{} is missing: build with cargo build --release -p tcptrace",
            tcptrace.display()
        );
    }
    let started = Instant::now();
    let want = |p: &str| cli.parts.iter().any(|x| x == p);
    let tmp = std::env::temp_dir().join(format!("tcptrace-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let _tmp_guard = RemoveDir(tmp.clone());
    ensure_tool("tcpdump", "tcpdump");
    if want("live") {
        if !ensure_tool("iperf3", "iperf3") {
            bail!("iperf3 is needed for the live part (apt-get install iperf3)");
        }
        ensure_tool("ethtool", "ethtool");
    }
    if want("churn") && !(ensure_tool("nginx", "nginx") && ensure_tool("wrk", "wrk")) {
        bail!("nginx and wrk are needed for the churn part (apt-get install nginx wrk)");
    }
    let m = machine();

    // Each part runs when asked for, announced on stderr.
    fn part<T>(wanted: bool, what: &str, run: impl FnOnce() -> Result<T>) -> Result<Option<T>> {
        if !wanted {
            return Ok(None);
        }
        eprintln!("bench: {what}");
        run().map(Some)
    }
    let micro = part(
        want("kernel"),
        "kernel cost per packet (BPF_PROG_TEST_RUN)",
        || micro::run(cli.quick),
    )?;
    let producers = part(
        want("producers"),
        "producers (floor ladder, one and two CPUs on one ring)",
        || producers::run(cli.quick),
    )?;
    let reader = part(want("reader"), "reader at full rate", || {
        let builds = reader::builds(
            &tcptrace,
            cli.static_tracer.as_deref(),
            cli.old_tracer.as_deref(),
        );
        reader::run(cli.quick, builds)
    })?;
    let live = part(want("live"), "live overhead (iperf3 over veth)", || {
        live::run(cli.quick, &tcptrace, cli.static_tracer.as_deref(), &tmp)
    })?;
    let replay = part(
        want("replay"),
        "userspace throughput (capture replay)",
        || replay::run(cli.quick, &tcptrace, &tmp),
    )?;
    let churn = part(
        want("churn"),
        "connection churn (nginx + wrk, Connection: close)",
        || {
            let builds = churn::Builds {
                glibc: &tcptrace,
                static_bin: cli.static_tracer.as_deref(),
            };
            churn::run(cli.quick, &builds, &tmp)
        },
    )?;
    let drops = part(
        want("drops"),
        "packet fate (refused connections, drop hook on and off)",
        || drops::run(cli.quick, &tcptrace),
    )?;
    let rep = report::Report {
        quick: cli.quick,
        command: &cli.command,
        machine: &m,
        micro: micro.as_ref(),
        live: live.as_ref(),
        replay: replay.as_ref(),
        elapsed: started.elapsed(),
    };
    std::fs::create_dir_all(&cli.out)?;
    let mut md = rep.markdown();
    if let Some(p) = &producers {
        md.push_str(&p.markdown());
    }
    if let Some(r) = &reader {
        md.push_str(&r.markdown());
    }
    if let Some(c) = &churn {
        md.push_str(&c.markdown());
    }
    if let Some(d) = &drops {
        md.push_str(&d.markdown());
    }
    std::fs::write(cli.out.join("REPORT.md"), &md)?;
    if let Some(svg) = rep.kernel_svg() {
        std::fs::write(cli.out.join("kernel.svg"), svg)?;
    }
    if let Some(svg) = rep.live_svg() {
        std::fs::write(cli.out.join("live.svg"), svg)?;
    }
    println!("{}", rep.summary());
    if let Some(p) = &producers {
        println!("{}", p.summary());
    }
    if let Some(r) = &reader {
        println!("{}", r.summary());
    }
    if let Some(c) = &churn {
        println!("{}", c.summary());
    }
    if let Some(d) = &drops {
        println!("{}", d.summary());
    }
    eprintln!(
        "bench: report written to {} ({:.0} s)",
        cli.out.join("REPORT.md").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Removes a scratch folder on drop.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
