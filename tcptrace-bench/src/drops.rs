//! Packet fate's cost: `skb:kfree_skb` runs on every packet the host drops. A client in
//! one namespace connects again and again to a closed port in the other (each SYN is
//! dropped there, NO_SOCKET, and answered by a RST), in interleaved rounds under three
//! modes: tcptrace tracing another port without the drop hook (`--port 1 --process`:
//! the socket hooks, which `--summary` attaches too), with it (`--port 1 --summary`:
//! every drop is read and rejected by the filter), and tracing the refused connections
//! themselves (`--port 9 --summary`: their segments and drops recorded and tracked). The
//! hook's cost is the median per-round ratio of the refused connections per second with
//! it to without.
use std::{fmt::Write as _, path::Path, process::Stdio, time::Duration};

use anyhow::{Context as _, Result};

use crate::{
    live::Netns,
    stats::{Proc, median},
};

const MODES: [(&str, &[&str]); 3] = [
    (
        "tcptrace --port 1 --process (no drop hook)",
        &["--port", "1", "--process"],
    ),
    (
        "tcptrace --port 1 --summary (drop hook, drops untraced)",
        &["--port", "1", "--summary"],
    ),
    (
        "tcptrace --port 9 --summary (drop hook, drops traced)",
        &["--port", "9", "--summary"],
    ),
];

pub struct Drops {
    pub seconds: u64,
    pub rounds: usize,
    /// Per mode: refused connections/s of each round.
    pub rates: Vec<Vec<f64>>,
    /// Median per-round ratios to the first mode.
    pub untraced: f64,
    pub traced: f64,
}

/// Refused connections per second from `a` to port 9 of `b` for `seconds`.
fn flood(n: &Netns, seconds: u64) -> Result<f64> {
    let script = format!(
        "import socket,time\nn=0\nend=time.time()+{seconds}\nwhile time.time()<end:\n \
         s=socket.socket()\n try: s.connect(('{}',9))\n except OSError: n+=1\n s.close()\nprint(n/{seconds})\n",
        n.b4
    );
    let out = n
        .exec(&n.a, "python3")
        .args(["-c", &script])
        .output()
        .context("python3")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("no rate from the client: {text}"))
}

fn one(n: &Netns, tcptrace: &Path, args: &[&str], seconds: u64) -> Result<f64> {
    let mut cmd = n.exec(&n.b, tcptrace);
    cmd.args(["-i", &n.veth_b, "--xdp-mode", "off"]).args(args);
    let mut p = Proc::spawn("tcptrace", cmd, Stdio::null())?;
    p.wait_stderr("listening on", Duration::from_secs(30))?;
    let rate = flood(n, seconds)?;
    p.signal(libc::SIGINT);
    p.wait(Duration::from_secs(60))?;
    Ok(rate)
}

pub fn run(quick: bool, tcptrace: &Path) -> Result<Drops> {
    let n = Netns::new();
    let seconds = if quick { 2 } else { 8 };
    let rounds = if quick { 3 } else { 5 };
    let mut rates = vec![Vec::new(); MODES.len()];
    for round in 0..rounds {
        for k in 0..MODES.len() {
            let mi = (k + round) % MODES.len();
            eprintln!("bench: drops round {}/{rounds}: {}", round + 1, MODES[mi].0);
            rates[mi].push(one(&n, tcptrace, MODES[mi].1, seconds)?);
        }
    }
    let ratio = |m: usize| median(rates[m].iter().zip(&rates[0]).map(|(x, b)| x / b).collect());
    Ok(Drops {
        seconds,
        rounds,
        untraced: ratio(1),
        traced: ratio(2),
        rates,
    })
}

impl Drops {
    /// The report's section.
    pub fn markdown(&self) -> String {
        let mut s = String::from("\n## Packet fate: the drop hook's cost\n\n");
        let _ = writeln!(
            s,
            "A client connects again and again to a closed port in the other namespace for {} s \
             per run: every SYN is dropped (NO_SOCKET) and answered by a RST. {} interleaved \
             rounds; ratios are medians of per-round ratios to the run without the drop hook. \
             **Drop hook: {:.3}× the refused connections/s without it** (drops of another \
             port: read and rejected), {:.3}× when the refused connections themselves are traced \
             (segments and drops recorded, tracked and summarised). The baseline has the \
             socket hooks (`--process`), which `--summary` attaches as well.\n",
            self.seconds, self.rounds, self.untraced, self.traced
        );
        s.push_str("| mode | refused connections/s (median) | rounds |\n| --- | --- | --- |\n");
        for ((name, _), r) in MODES.iter().zip(&self.rates) {
            let rounds: Vec<String> = r.iter().map(|x| format!("{x:.0}")).collect();
            let _ = writeln!(
                s,
                "| {name} | {:.0} | {} |",
                median(r.clone()),
                rounds.join(", ")
            );
        }
        s
    }

    /// One line for the console summary.
    pub fn summary(&self) -> String {
        format!(
            "drops: drop hook {:.3}x the refused connections/s without it (drops untraced), {:.3}x (drops traced)",
            self.untraced, self.traced
        )
    }
}
