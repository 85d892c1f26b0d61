//! Connection churn: what the process-attribution socket hooks cost the host. nginx in one
//! namespace, wrk in the other with `Connection: close` (a new TCP connection per request),
//! connections per second in interleaved rounds, under seven modes: untraced; tcptrace
//! attached but tracing another port (`--port 1`: the packet programs run and reject
//! every segment), and the same with the socket hooks (`--port 1 --process`: every
//! connect, listen, close and receive of the host runs them, and finds the socket
//! untraced); a filter that names no port or address and matches no segment here (urgent
//! segments), with and without the hooks (they record every socket); tcptrace tracing the
//! traffic (`--port 8080`), and the same with attribution. The hooks' cost is the ratio of
//! each pair, round by round.
use std::{
    fmt::Write as _,
    fs,
    path::Path,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    live::Netns,
    stats::{Proc, median},
};

const PORT: &str = "8080";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Untraced,
    Other,
    OtherHooks,
    Every,
    EveryHooks,
    Traced,
    TracedHooks,
    /// `Traced` with the static binary users install.
    TracedStatic,
}

const URGENT: &str = "tcp[tcpflags] & tcp-urg != 0";

impl Mode {
    pub const ALL: [Mode; 8] = [
        Mode::Untraced,
        Mode::Other,
        Mode::OtherHooks,
        Mode::Every,
        Mode::EveryHooks,
        Mode::Traced,
        Mode::TracedHooks,
        Mode::TracedStatic,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "untraced",
            Mode::Other => "tcptrace --port 1 (another port)",
            Mode::OtherHooks => "tcptrace --port 1 --process (socket hooks)",
            Mode::Every => "tcptrace 'tcp[tcpflags] & tcp-urg != 0' (no port or address)",
            Mode::EveryHooks => {
                "tcptrace 'tcp[tcpflags] & tcp-urg != 0' --process (every socket recorded)"
            }
            Mode::Traced => "tcptrace --port 8080",
            Mode::TracedHooks => "tcptrace --port 8080 --process",
            Mode::TracedStatic => "tcptrace static --port 8080",
        }
    }

    fn args(self) -> Option<&'static [&'static str]> {
        match self {
            Mode::Untraced => None,
            Mode::Other => Some(&["--port", "1"]),
            Mode::OtherHooks => Some(&["--port", "1", "--process"]),
            Mode::Every => Some(&[URGENT]),
            Mode::EveryHooks => Some(&["--process", URGENT]),
            Mode::Traced | Mode::TracedStatic => Some(&["--port", PORT]),
            Mode::TracedHooks => Some(&["--port", PORT, "--process"]),
        }
    }
}

pub struct Churn {
    pub seconds: u64,
    pub rounds: usize,
    /// Per mode: connections/s of each round, the median, and the median of per-round
    /// ratios to the untraced rate.
    pub results: Vec<(Mode, Vec<f64>, f64, f64)>,
    /// Median per-round ratio with the hooks to without them: tracing another port, a
    /// filter that makes the hooks record every socket, and tracing the traffic.
    pub hooks_idle: f64,
    pub hooks_every: f64,
    pub hooks_traced: f64,
}

fn nginx_conf(dir: &Path, addr: &str) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;\nuser root;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         server {{ listen {addr}:{PORT}; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n"
    )
}

/// Requests (= connections) per second of one wrk run.
fn wrk(n: &Netns, seconds: u64) -> Result<f64> {
    let out = n
        .exec(&n.a, "wrk")
        .args([
            "-t1",
            "-c8",
            &format!("-d{seconds}s"),
            "-H",
            "Connection: close",
        ])
        .arg(format!("http://{}:{PORT}/", n.b4))
        .output()
        .context("wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))
}

/// Waits until nginx answers (a bench, not a test: polling is fine here).
fn wait_ready(n: &Netns) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let ok = n
            .exec(&n.a, "bash")
            .args(["-c", &format!("exec 3<>/dev/tcp/{}/{PORT}", n.b4)])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(100));
    }
    bail!("nginx did not start")
}

/// The two tracer builds: this tree's, and the static one (when given).
pub struct Builds<'a> {
    pub glibc: &'a Path,
    pub static_bin: Option<&'a Path>,
}

fn one(n: &Netns, builds: &Builds, mode: Mode, seconds: u64) -> Result<f64> {
    let tracer = match mode.args() {
        None => None,
        Some(args) => {
            let bin = match (mode, builds.static_bin) {
                (Mode::TracedStatic, Some(b)) => b,
                _ => builds.glibc,
            };
            let mut cmd = n.exec(&n.b, bin);
            cmd.args(["-i", &n.veth_b, "--xdp-mode", "off"]).args(args);
            let mut p = Proc::spawn(mode.name(), cmd, Stdio::null())?;
            p.wait_stderr("listening on", Duration::from_secs(30))?;
            if p.err_lines.iter().any(|l| l.contains("attribution off")) {
                bail!("attribution off: {}", p.err_lines.join("\n"));
            }
            Some(p)
        }
    };
    let rate = wrk(n, seconds)?;
    if let Some(mut p) = tracer {
        p.signal(libc::SIGINT);
        p.wait(Duration::from_secs(60))?;
    }
    Ok(rate)
}

pub fn run(quick: bool, builds: &Builds, tmp: &Path) -> Result<Churn> {
    let n = Netns::new();
    // Tens of thousands of connections a round: without reusing TIME_WAIT ports the client
    // runs out of them within a round or two, and the rate collapses mid-run.
    for ns in [&n.a, &n.b] {
        let st = n
            .exec(ns, "sysctl")
            .args([
                "-qw",
                "net.ipv4.tcp_tw_reuse=1",
                "net.ipv4.ip_local_port_range=1024 65535",
            ])
            .status()?;
        if !st.success() {
            bail!("sysctl in {ns}: {st}");
        }
    }
    let dir = tmp.join("nginx");
    fs::create_dir_all(&dir)?;
    let conf = dir.join("nginx.conf");
    fs::write(&conf, nginx_conf(&dir, &n.b4))?;
    let mut server = Proc::spawn(
        "nginx",
        {
            let mut c = n.exec(&n.b, "nginx");
            c.arg("-p").arg(&dir).arg("-c").arg(&conf);
            c
        },
        Stdio::null(),
    )?;
    wait_ready(&n)?;
    let seconds = if quick { 2 } else { 8 };
    let rounds = if quick { 3 } else { 5 };
    // Without a static binary its mode is left out.
    let modes: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|&m| m != Mode::TracedStatic || builds.static_bin.is_some())
        .collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for round in 0..rounds {
        for k in 0..modes.len() {
            let mi = (k + round) % modes.len();
            let mode = modes[mi];
            eprintln!("bench: churn round {}/{rounds}: {}", round + 1, mode.name());
            rates[mi].push(one(&n, builds, mode, seconds)?);
        }
    }
    server.signal(libc::SIGQUIT);
    let _ = server.wait(Duration::from_secs(10));
    drop(n);
    let pair = |with: usize, without: usize| {
        median(
            rates[with]
                .iter()
                .zip(&rates[without])
                .map(|(x, b)| x / b)
                .collect(),
        )
    };
    let (hooks_idle, hooks_every, hooks_traced) = (pair(2, 1), pair(4, 3), pair(6, 5));
    let base = rates[0].clone();
    let results = modes
        .iter()
        .zip(rates)
        .map(|(&m, r)| {
            let ratio = median(r.iter().zip(&base).map(|(x, b)| x / b).collect());
            let med = median(r.clone());
            (m, r, med, ratio)
        })
        .collect();
    Ok(Churn {
        seconds,
        rounds,
        results,
        hooks_idle,
        hooks_every,
        hooks_traced,
    })
}

impl Churn {
    /// The median per-round ratio to untraced of `mode`, when it ran.
    pub fn ratio(&self, mode: Mode) -> Option<f64> {
        self.results
            .iter()
            .find(|r| r.0 == mode)
            .map(|&(_, _, _, ratio)| ratio)
    }

    /// Tracing the traffic, each build, against the target (≥ 0.95× untraced).
    fn traced(&self) -> String {
        let f = |m| {
            self.ratio(m)
                .map_or("not run".into(), |r| format!("{r:.3}×"))
        };
        format!(
            "tracing the traffic (`--port 8080`, lines to /dev/null): {} untraced with this \
             build, {} with the static binary (target ≥ 0.95×)",
            f(Mode::Traced),
            f(Mode::TracedStatic)
        )
    }

    /// The report's section.
    pub fn markdown(&self) -> String {
        let mut s = String::from("\n## Connection churn: the attribution hooks' cost\n\n");
        let _ = writeln!(
            s,
            "nginx (`return 200`, one worker) in one namespace, `wrk -t1 -c8 -d{}s -H 'Connection: close'` \
             in the other: every request is a new TCP connection. {} interleaved rounds; \
             the ratio is the median of each round's rate over the untraced rate of the same \
             round. `--port 1` traces another port: the packet programs run and reject every \
             segment; `--process` adds the socket hooks, which run on every connection of the \
             host and record the sockets that can carry traced segments. **Socket hooks: {:.3}× \
             the connections/s without them** (tracing another port: no socket recorded), \
             {:.3}× with a filter that names no port or address (every socket recorded), \
             {:.3}× while tracing the traffic (median of per-round ratios).\n",
            self.seconds, self.rounds, self.hooks_idle, self.hooks_every, self.hooks_traced
        );
        let _ = writeln!(s, "\nConnection churn {}.\n", self.traced());
        s.push_str("| mode | connections/s (median) | ratio to untraced | rounds |\n| --- | --- | --- | --- |\n");
        for (m, r, med, ratio) in &self.results {
            let rounds: Vec<String> = r.iter().map(|x| format!("{x:.0}")).collect();
            let _ = writeln!(
                s,
                "| {} | {med:.0} | {ratio:.3} | {} |",
                m.name(),
                rounds.join(", ")
            );
        }
        s
    }

    /// One line for the console summary.
    pub fn summary(&self) -> String {
        format!(
            "churn: socket hooks {:.3}x the connections/s without them (another port traced), {:.3}x (every socket recorded), {:.3}x (the traffic traced); {}",
            self.hooks_idle,
            self.hooks_every,
            self.hooks_traced,
            self.traced()
        )
    }
}
