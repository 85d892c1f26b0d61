//! Live overhead: iperf3 between two network namespaces over a veth pair, untraced, traced
//! by tcptrace (TC ingress, generic and native XDP) and by tcpdump, in interleaved rounds.
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

use crate::stats::{self, Proc, closing_lines, count_lines, map_memlock, median, vm_hwm_kib};

const PORT: &str = "5201";

/// Two namespaces joined by a veth pair, removed on drop: the test kit's.
pub use tcptrace_testkit::netns::NetnsPair as Netns;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Untraced,
    TcptraceTc,
    /// TC ingress with the static binary (`cargo xtask dist`'s).
    TcptraceTcStatic,
    TcptraceGeneric,
    TcptraceNative,
    Tcpdump,
}

impl Mode {
    pub const ALL: [Mode; 6] = [
        Mode::Untraced,
        Mode::TcptraceTc,
        Mode::TcptraceTcStatic,
        Mode::TcptraceGeneric,
        Mode::TcptraceNative,
        Mode::Tcpdump,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "untraced",
            Mode::TcptraceTc => "tcptrace (TC ingress)",
            Mode::TcptraceTcStatic => "tcptrace static (TC ingress)",
            Mode::TcptraceGeneric => "tcptrace (generic XDP)",
            Mode::TcptraceNative => "tcptrace (native XDP)",
            Mode::Tcpdump => "tcpdump -n",
        }
    }
}

/// One iperf3 run under one mode.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub bps: f64,
    pub bytes: u64,
    /// Tracer CPU (utime + stime) while the traffic ran, and before it (load, verifier).
    pub cpu_s: f64,
    pub startup_cpu_s: f64,
    pub lines: u64,
    pub captured: u64,
    pub received: u64,
    pub dropped: u64,
    pub hwm_kib: u64,
    pub memlock: u64,
    pub maps: usize,
}

#[derive(Clone, Debug)]
pub struct ModeResult {
    pub mode: Mode,
    pub runs: Vec<Run>,
    /// Median of per-round throughput / untraced throughput of the same round.
    pub ratio: f64,
    pub bps: f64,
}

pub struct Live {
    pub seconds: u64,
    pub rounds: usize,
    pub results: Vec<ModeResult>,
    /// `ethtool -k` offload lines per state (none / generic / native).
    pub offloads: Vec<(String, String)>,
    pub tracer_cmd: String,
    pub tcpdump_cmd: String,
    pub iperf_cmd: String,
}

fn iperf_bps(json: &str) -> Option<(f64, u64)> {
    let at = json.find("\"sum_received\"")?;
    let rest = &json[at..];
    let num = |key: &str| -> Option<f64> {
        let k = rest.find(key)? + key.len();
        let s = rest[k..].trim_start_matches([':', ' ']);
        let end = s.find([',', '\n', '}']).unwrap_or(s.len());
        s[..end].trim().parse().ok()
    };
    Some((num("\"bits_per_second\"")?, num("\"bytes\"")? as u64))
}

fn offload_state(n: &Netns) -> String {
    let mut s = String::new();
    for (ns, dev) in [(&n.a, &n.veth_a), (&n.b, &n.veth_b)] {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "ethtool", "-k", dev])
            .output();
        let Ok(out) = out else {
            return "ethtool not available".into();
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let pick: Vec<String> = text
            .lines()
            .filter(|l| {
                let l = l.trim();
                [
                    "tcp-segmentation-offload:",
                    "generic-segmentation-offload:",
                    "generic-receive-offload:",
                    "rx-gro-list:",
                ]
                .iter()
                .any(|k| l.starts_with(k))
            })
            .map(|l| {
                l.trim()
                    .replace("tcp-segmentation-offload", "tso")
                    .replace("generic-segmentation-offload", "gso")
                    .replace("generic-receive-offload", "gro")
                    .replace(" [fixed]", "")
                    .replace(": ", " ")
            })
            .collect();
        let side = if ns == &n.a {
            "sender"
        } else {
            "traced receiver"
        };
        s.push_str(&format!("{side} {dev}: {}; ", pick.join(", ")));
    }
    s.trim_end_matches("; ").to_string()
}

struct Ctx<'a> {
    n: &'a Netns,
    tcptrace: &'a Path,
    static_bin: Option<&'a Path>,
    tmp: &'a Path,
    seconds: u64,
}

fn iperf_client(c: &Ctx) -> Result<(f64, u64)> {
    for attempt in 0..3 {
        let out =
            c.n.exec(&c.n.a, "iperf3")
                .args(["-c", &c.n.b4, "-p", PORT, "-J", "-t"])
                .arg(c.seconds.to_string())
                .output()
                .context("iperf3 client")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(r) = iperf_bps(&text).filter(|_| out.status.success()) {
            return Ok(r);
        }
        if attempt == 2 {
            bail!(
                "iperf3 client failed: {}",
                text.chars().take(500).collect::<String>()
            );
        }
        thread::sleep(Duration::from_secs(1));
    }
    unreachable!()
}

fn one(c: &Ctx, mode: Mode, round: usize, offloads: &mut Vec<(String, String)>) -> Result<Run> {
    let out_path: PathBuf = c.tmp.join(format!("live-{round}-{mode:?}.txt"));
    let tracer = match mode {
        Mode::Untraced => None,
        Mode::TcptraceTc
        | Mode::TcptraceTcStatic
        | Mode::TcptraceGeneric
        | Mode::TcptraceNative => {
            let xdp = match mode {
                Mode::TcptraceNative => "native",
                Mode::TcptraceGeneric => "generic",
                _ => "auto",
            };
            let bin = match (mode, c.static_bin) {
                (Mode::TcptraceTcStatic, Some(s)) => s,
                _ => c.tcptrace,
            };
            let mut cmd = c.n.exec(&c.n.b, bin);
            cmd.args(["-i", &c.n.veth_b, "--port", PORT, "--xdp-mode", xdp]);
            let mut p = Proc::spawn(mode.name(), cmd, fs::File::create(&out_path)?.into())?;
            p.wait_stderr("listening on", Duration::from_secs(30))?;
            Some(p)
        }
        Mode::Tcpdump => {
            let mut cmd = c.n.exec(&c.n.b, "tcpdump");
            cmd.args(["-n", "-i", &c.n.veth_b, "tcp", "port", PORT]);
            let mut p = Proc::spawn(mode.name(), cmd, fs::File::create(&out_path)?.into())?;
            p.wait_stderr("listening on", Duration::from_secs(30))?;
            Some(p)
        }
    };
    if round == 0 {
        let state = match mode {
            Mode::Untraced => Some("no XDP program"),
            Mode::TcptraceTc => Some("tcptrace, TC ingress"),
            Mode::TcptraceTcStatic => None,
            Mode::TcptraceGeneric => Some("tcptrace, generic XDP"),
            Mode::TcptraceNative => Some("tcptrace, native XDP"),
            Mode::Tcpdump => None,
        };
        if let Some(s) = state {
            offloads.push((s.to_string(), offload_state(c.n)));
        }
    }
    thread::sleep(Duration::from_millis(200));
    let startup = tracer
        .as_ref()
        .and_then(|p| stats::cpu_so_far(p.pid()))
        .unwrap_or_default();
    let (bps, bytes) = iperf_client(c)?;
    let mut run = Run {
        bps,
        bytes,
        startup_cpu_s: startup.as_secs_f64(),
        ..Default::default()
    };
    if let Some(mut p) = tracer {
        run.hwm_kib = vm_hwm_kib(p.pid()).unwrap_or(0);
        (run.memlock, run.maps) = map_memlock(p.pid());
        thread::sleep(Duration::from_millis(200));
        p.signal(libc::SIGINT);
        let u = p.wait(Duration::from_secs(60))?;
        run.cpu_s = u.cpu.saturating_sub(startup).as_secs_f64();
        run.hwm_kib = run.hwm_kib.max(u.maxrss_kib);
        let (cap, rec, drop) = closing_lines(&p.err_lines).with_context(|| {
            format!(
                "{}: no closing lines on stderr:\n{}",
                mode.name(),
                p.err_lines.join("\n")
            )
        })?;
        run.captured = cap;
        run.received = rec;
        run.dropped = drop;
        run.lines = count_lines(&out_path)?;
    }
    let _ = fs::remove_file(&out_path);
    Ok(run)
}

/// `static_bin`: the static binary, measured beside this build (TC ingress); without it
/// that mode is left out.
pub fn run(quick: bool, tcptrace: &Path, static_bin: Option<&Path>, tmp: &Path) -> Result<Live> {
    let n = Netns::new();
    let seconds = if quick { 2 } else { 10 };
    let rounds = if quick { 3 } else { 5 };
    let mut server = Proc::spawn(
        "iperf3 server",
        {
            let mut c = n.exec(&n.b, "iperf3");
            c.args(["-s", "-p", PORT]);
            c
        },
        Stdio::null(),
    )?;
    thread::sleep(Duration::from_millis(700));
    let c = Ctx {
        n: &n,
        tcptrace,
        static_bin,
        tmp,
        seconds,
    };
    let modes: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|&m| m != Mode::TcptraceTcStatic || static_bin.is_some())
        .collect();
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); modes.len()];
    let mut offloads = Vec::new();
    for round in 0..rounds {
        // Rotate the order each round so no mode always follows the same one.
        for k in 0..modes.len() {
            let mi = (k + round) % modes.len();
            let mode = modes[mi];
            eprintln!("bench: live round {}/{rounds}: {}", round + 1, mode.name());
            runs[mi].push(one(&c, mode, round, &mut offloads)?);
        }
    }
    server.signal(libc::SIGTERM);
    let _ = server.wait(Duration::from_secs(5));
    drop(n);
    let base: Vec<f64> = runs[0].iter().map(|r| r.bps).collect();
    let results = modes
        .iter()
        .zip(runs)
        .map(|(&mode, runs)| ModeResult {
            mode,
            ratio: median(runs.iter().zip(&base).map(|(r, b)| r.bps / b).collect()),
            bps: median(runs.iter().map(|r| r.bps).collect()),
            runs,
        })
        .collect();
    Ok(Live {
        seconds,
        rounds,
        results,
        offloads,
        tracer_cmd: format!(
            "ip netns exec NS_B tcptrace -i VETH_B --port {PORT} --xdp-mode auto|generic|native > FILE"
        ),
        tcpdump_cmd: format!("ip netns exec NS_B tcpdump -n -i VETH_B tcp port {PORT} > FILE"),
        iperf_cmd: format!("ip netns exec NS_A iperf3 -c B -p {PORT} -J -t {seconds}"),
    })
}

pub fn median_of(runs: &[Run], f: fn(&Run) -> u64) -> u64 {
    stats::median_u64(&runs.iter().map(f).collect::<Vec<_>>())
}
