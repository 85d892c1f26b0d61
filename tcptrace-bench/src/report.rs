//! The Markdown report, its summary table (for the README) and two SVG bar charts
//! (written by hand: no font or plotting dependencies).
use std::{fmt::Write as _, time::Duration};

use crate::{
    Machine,
    live::{Live, Mode, ModeResult, median_of},
    micro::Micro,
    replay::Replay,
};

pub struct Report<'a> {
    pub quick: bool,
    pub command: &'a str,
    pub machine: &'a Machine,
    pub micro: Option<&'a Micro>,
    pub live: Option<&'a Live>,
    pub replay: Option<&'a Replay>,
    pub elapsed: Duration,
}

struct Target {
    what: &'static str,
    measured: String,
    met: Option<bool>,
    note: String,
}

fn status(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl Report<'_> {
    fn row(&self, case: &str, prog: &str) -> Option<&crate::micro::Row> {
        self.micro?
            .rows
            .iter()
            .find(|r| r.case == case && r.prog == prog)
    }

    fn mode(&self, m: Mode) -> Option<&ModeResult> {
        self.live?.results.iter().find(|r| r.mode == m)
    }

    fn targets(&self) -> Vec<Target> {
        let mut t = Vec::new();
        let ratio_target = |what, case, limit: f64| {
            let xdp = self.row(case, "XDP");
            let tc = self.row(case, "TC");
            Target {
                what,
                measured: match (xdp, tc) {
                    (Some(x), Some(c)) => format!(
                        "XDP {:.2}× ({:.0} ns), TC {:.2}× ({:.0} ns)",
                        x.ratio, x.kernel_ns, c.ratio, c.kernel_ns
                    ),
                    _ => "—".into(),
                },
                met: xdp.map(|x| x.ratio <= limit),
                note: match xdp {
                    Some(x) if x.ratio > limit => format!(
                        "XDP over by {:.2}× ({:.0} ns more than {limit}× the floor)",
                        x.ratio - limit,
                        x.kernel_ns - limit * x.floor_kernel_ns
                    ),
                    _ => String::new(),
                },
            }
        };
        t.push(ratio_target(
            "non-matching TCP ≤ 1.5× the empty program",
            "tcp-reject",
            1.5,
        ));
        t.push(ratio_target(
            "matching TCP (record written) ≤ 4× the empty program",
            "tcp-accept",
            4.0,
        ));
        let g = self.mode(Mode::TcptraceGeneric);
        for (what, m, why) in [
            (
                "live throughput, every segment traced, generic XDP ≥ 0.95× untraced",
                g,
                "; the kernel copies every non-linear (GSO) skb for generic XDP (skb_cow_data_for_xdp) before the program runs",
            ),
            (
                "live throughput, every segment traced, TC ingress (`--xdp-mode auto` on veth) ≥ 0.95× untraced",
                self.mode(Mode::TcptraceTc),
                "",
            ),
        ] {
            t.push(Target {
                what,
                measured: m.map_or("—".into(), |m| format!("{:.3}×", m.ratio)),
                met: m.map(|m| m.ratio >= 0.95),
                note: m
                    .filter(|m| m.ratio < 0.95)
                    .map(|m| format!("short by {:.3}×{why}", 0.95 - m.ratio))
                    .unwrap_or_default(),
            });
        }
        if let Some(m) = self.mode(Mode::TcptraceTcStatic) {
            t.push(Target {
                what: "live throughput, every segment traced, TC ingress, the static binary ≥ 0.97× untraced",
                measured: format!("{:.3}×", m.ratio),
                met: Some(m.ratio >= 0.97),
                note: match self.mode(Mode::TcptraceTc) {
                    Some(g) => format!("glibc build {:.3}× in the same run", g.ratio),
                    None => String::new(),
                },
            });
        }
        // Records (tcptrace) or packets (tcpdump) lost, summed over the rounds.
        let lost = |m: Mode| {
            self.mode(m)
                .map(|x| x.runs.iter().map(|r| r.dropped).sum::<u64>())
        };
        let tracers = [
            Mode::TcptraceTc,
            Mode::TcptraceGeneric,
            Mode::TcptraceNative,
        ];
        let tt: Option<Vec<u64>> = tracers.iter().map(|&m| lost(m)).collect();
        let td = lost(Mode::Tcpdump);
        t.push(Target {
            what: "tcptrace loses fewer packets than tcpdump (same run)",
            measured: match (&tt, td) {
                (Some(tt), Some(td)) => format!(
                    "tcptrace {} (TC) / {} (generic) / {} (native) vs tcpdump {td} lost (sums over rounds)",
                    tt[0], tt[1], tt[2]
                ),
                _ => "—".into(),
            },
            met: match (&tt, td) {
                (Some(tt), Some(td)) => {
                    Some(tt.iter().all(|&n| n < td || (n == 0 && td == 0)))
                }
                _ => None,
            },
            note: match (&tt, td) {
                (Some(tt), Some(0)) if tt.iter().all(|&n| n == 0) => {
                    "neither lost any: a tie, counted as met".into()
                }
                _ => String::new(),
            },
        });
        let r = self.replay;
        t.push(Target {
            what: "≥ 1 M lines/s formatted",
            measured: r.map_or("—".into(), |r| {
                format!(
                    "decode + render {:.2} M lines/s; whole `tcptrace -r` {:.2} M lines/s",
                    1e3 / r.render_ns,
                    r.total_lines.0 as f64 / r.tcptrace_s / 1e6
                )
            }),
            met: r.map(|r| 1e3 / r.render_ns >= 1.0),
            note: r
                .filter(|r| r.total_lines.0 as f64 / r.tcptrace_s < 1e6)
                .map(|r| {
                    format!(
                        "the whole command is held back by the per-frame BPF_PROG_TEST_RUN replay ({:.0} ns/record)",
                        r.replay_ns
                    )
                })
                .unwrap_or_default(),
        });
        t
    }

    fn targets_table(&self, out: &mut String) {
        out.push_str("| target | measured | status | note |\n| --- | --- | --- | --- |\n");
        for t in self.targets() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.what,
                t.measured,
                status(t.met),
                t.note
            );
        }
    }

    /// The short version for the README and the terminal.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let m = self.machine;
        let _ = writeln!(
            s,
            "Measured with `{}` on {} × {}, Linux {}, {} RAM ({}).\n",
            self.command, m.nproc, m.cpu, m.kernel, m.mem, m.commit
        );
        self.targets_table(&mut s);
        if let Some(mi) = self.micro {
            s.push_str("\n| kernel cost per packet | XDP ns | XDP × floor | TC ns | TC × floor |\n| --- | --- | --- | --- | --- |\n");
            let floor = mi
                .rows
                .iter()
                .map(|r| r.floor_kernel_ns)
                .fold(f64::NAN, f64::min);
            let _ = writeln!(s, "| empty XDP program (floor) | {floor:.0} | 1.00 | | |");
            for c in crate::micro::cases() {
                if let (Some(x), Some(t)) = (self.row(c.name, "XDP"), self.row(c.name, "TC")) {
                    let _ = writeln!(
                        s,
                        "| {} | {:.0} | {:.2} | {:.0} | {:.2} |",
                        c.name, x.kernel_ns, x.ratio, t.kernel_ns, t.ratio
                    );
                }
            }
        }
        if let Some(l) = self.live {
            let _ = write!(
                s,
                "\n| iperf3 over veth, {} s × {} rounds | throughput | × untraced | tracer CPU during traffic | lines | lost |\n| --- | --- | --- | --- | --- | --- |\n",
                l.seconds, l.rounds
            );
            for r in &l.results {
                let _ = writeln!(
                    s,
                    "| {} | {:.1} Gbit/s | {:.3} | {} | {} | {} |",
                    r.mode.name(),
                    r.bps / 1e9,
                    r.ratio,
                    if r.mode == Mode::Untraced {
                        "—".into()
                    } else {
                        format!(
                            "{:.2} s",
                            crate::stats::median(r.runs.iter().map(|x| x.cpu_s).collect())
                        )
                    },
                    if r.mode == Mode::Untraced {
                        "—".into()
                    } else {
                        median_of(&r.runs, |x| x.lines).to_string()
                    },
                    if r.mode == Mode::Untraced {
                        "—".into()
                    } else {
                        median_of(&r.runs, |x| x.dropped).to_string()
                    },
                );
            }
        }
        if let Some(r) = self.replay {
            let _ = write!(
                s,
                "\n| reading a {}-segment capture to /dev/null | wall | CPU | lines/s (wall) |\n| --- | --- | --- | --- |\n| `tcptrace -r` | {:.2} s | {:.2} s | {:.2} M |\n| `tcpdump -n -r` | {:.2} s | {:.2} s | {:.2} M |\n| tcptrace decode + render only | | {:.0} ns/line | {:.2} M (CPU) |\n",
                r.frames,
                r.tcptrace_s,
                r.tcptrace_cpu_s,
                r.total_lines.0 as f64 / r.tcptrace_s / 1e6,
                r.tcpdump_s,
                r.tcpdump_cpu_s,
                r.total_lines.1 as f64 / r.tcpdump_s / 1e6,
                r.render_ns,
                1e3 / r.render_ns
            );
        }
        s
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = self.machine;
        let when = jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string();
        let _ = writeln!(
            s,
            "# tcptrace benchmark{}\n",
            if self.quick { " (quick smoke run)" } else { "" }
        );
        let _ = writeln!(
            s,
            "Written by `tcptrace-bench` on {when}; the whole run took {:.0} s.\n",
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(s, "- command: `{}` (as root)", self.command);
        let _ = writeln!(
            s,
            "- machine: {} CPUs, {}, Linux {}, {} RAM",
            m.nproc, m.cpu, m.kernel, m.mem
        );
        let _ = writeln!(s, "- tools: {}; {}", m.tcpdump, m.iperf3);
        let _ = writeln!(s, "- tree: {}\n", m.commit);
        s.push_str(
            "These are 2-core shared machines: absolute numbers move from run to run, so every \
             comparison is a ratio between measurements interleaved in the same run, and each \
             figure is a median.\n\n## Targets\n\n",
        );
        self.targets_table(&mut s);
        if let Some(mi) = self.micro {
            self.micro_section(&mut s, mi);
        }
        if let Some(l) = self.live {
            self.live_section(&mut s, l);
        }
        if let Some(r) = self.replay {
            self.replay_section(&mut s, r);
        }
        self.memory_section(&mut s);
        s.push_str(COSTS);
        s
    }

    fn micro_section(&self, s: &mut String, mi: &Micro) {
        let _ = write!(
            s,
            "\n## 1. Kernel cost per packet\n\n\
             BPF_PROG_TEST_RUN with `repeat`: each measurement is {} runs of one frame, in \
             batches of {} with the ring buffer drained between batches (so it never fills: \
             {} records lost). The floor is the empty XDP program (`bench-empty`, returns \
             XDP_PASS) measured right before each case, {} rounds, medians. *kernel ns* is the \
             kernel's own average per run (`duration`, whole nanoseconds, averaged over the \
             batches). The wall time of the syscall is not used: with `repeat` > 1 the kernel \
             swaps its XDP dispatcher to the program and back around every XDP test run \
             (milliseconds, mostly waiting), which it rightly leaves out of `duration`. The \
             kernels here are loaded with a 16 MiB ring (`-B 16384`) so that a test run can be \
             long: with short runs the CPU goes cold between XDP runs and every XDP instruction \
             and helper looks ~40% slower than the same code under TC. The ring's size does \
             not change what a record costs (512 KiB and 4 MiB measured alike). The \
             TC program is compared with the same XDP floor; the skb test run around it is not \
             the XDP one, so TC ratios include that harness difference. Record size: {} \
             bytes.\n\n\
             ![kernel cost per packet](kernel.svg)\n\n\
             | case | program | ns per packet | floor ns (paired) | × floor | records drained |\n\
             | --- | --- | --- | --- | --- | --- |\n",
            mi.runs_per_measurement, mi.batch, mi.lost, mi.rounds, mi.record_size
        );
        for r in &mi.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.1} | {:.2} | {} |",
                r.case, r.prog, r.kernel_ns, r.floor_kernel_ns, r.ratio, r.records
            );
        }
        s.push_str("\nCases:\n\n");
        for c in crate::micro::cases() {
            let _ = writeln!(s, "- `{}`: {} ({} bytes)", c.name, c.what, c.frame.len());
        }
        if !crate::micro::cases().iter().any(|c| c.expr) {
            s.push_str("- a 10-term filter expression: not measured in this build.\n");
        }
        let _ = writeln!(
            s,
            "\nThe `expr10-*` cases load the kernel with the expression `{}`.",
            crate::micro::TEN_TERMS
        );
    }

    fn live_section(&self, s: &mut String, l: &Live) {
        let _ = write!(
            s,
            "\n## 2. Live overhead\n\n\
             iperf3 (one TCP stream) from namespace A to namespace B over a veth pair, {} s per \
             run, {} rounds; each round runs every mode once, the order rotating from round to \
             round. The tracer watches B's veth end (data segments arrive on the ingress hook, \
             XDP or TC, and ACKs leave through TC) with a filter that matches every iperf3 segment, and prints every line \
             to a file. Ratios are per round against that round's untraced run, then the \
             median.\n\n\
             - iperf3: `{}`\n- tcptrace: `{}`\n- tcpdump: `{}`\n\n\
             ![live throughput](live.svg)\n\n\
             | mode | throughput (median) | × untraced | tracer CPU during traffic | CPU % of run | tracer CPU before traffic (load, verifier) | lines printed | captured | received by filter | dropped by kernel | avg bytes per line |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
            l.seconds, l.rounds, l.iperf_cmd, l.tracer_cmd, l.tcpdump_cmd
        );
        for r in &l.results {
            if r.mode == Mode::Untraced {
                let _ = writeln!(
                    s,
                    "| {} | {:.2} Gbit/s | 1 | — | — | — | — | — | — | — | — |",
                    r.mode.name(),
                    r.bps / 1e9
                );
                continue;
            }
            let cpu = crate::stats::median(r.runs.iter().map(|x| x.cpu_s).collect());
            let bytes = median_of(&r.runs, |x| x.bytes);
            let lines = median_of(&r.runs, |x| x.lines);
            let _ = writeln!(
                s,
                "| {} | {:.2} Gbit/s | {:.3} | {:.2} s | {:.0}% | {:.2} s | {} | {} | {} | {} | {} |",
                r.mode.name(),
                r.bps / 1e9,
                r.ratio,
                cpu,
                100.0 * cpu / l.seconds as f64,
                crate::stats::median(r.runs.iter().map(|x| x.startup_cpu_s).collect()),
                lines,
                median_of(&r.runs, |x| x.captured),
                median_of(&r.runs, |x| x.received),
                median_of(&r.runs, |x| x.dropped),
                bytes.checked_div(lines).unwrap_or(0)
            );
        }
        s.push_str(
            "\n*captured / received by filter / dropped by kernel* are each tool's own closing \
             lines. For tcptrace: lines printed, segments its kernel filter accepted, records \
             lost because the ring buffer was full (its counters). For tcpdump: lines printed, \
             packets its socket filter accepted, packets the socket dropped. *Avg bytes per \
             line* is iperf3's payload bytes divided by lines (both directions' lines: ACKs \
             count too): far above the MTU means the \
             tracer sees GSO/GRO super-segments, not wire-sized ones.\n\nPer round:\n\n\
             | round | mode | Gbit/s | tracer CPU s | lines | captured | received | dropped | VmHWM | map memlock |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for round in 0..l.rounds {
            for r in &l.results {
                let x = &r.runs[round];
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} |",
                    round + 1,
                    r.mode.name(),
                    x.bps / 1e9,
                    x.cpu_s,
                    x.lines,
                    x.captured,
                    x.received,
                    x.dropped,
                    if x.hwm_kib > 0 {
                        format!("{:.1} MiB", x.hwm_kib as f64 / 1024.0)
                    } else {
                        "—".into()
                    },
                    if x.maps > 0 {
                        mib(x.memlock)
                    } else {
                        "—".into()
                    }
                );
            }
        }
        s.push_str("\nOffloads on the veth pair (`ethtool -k`) in each state:\n\n");
        for (state, o) in &l.offloads {
            let _ = writeln!(s, "- {state}: {o}");
        }
        s.push_str(
            "\nWhat native mode does to veth (see the offload lines above, measured, and *avg \
             bytes per line*): attaching a native XDP program to a veth end switches that end's \
             receive path to NAPI and makes the kernel clear TSO on the peer, so the sender \
             hands veth wire-sized (MTU) segments instead of 64 KB GSO super-segments, and GRO \
             stays off on the traced end: the stack, the program and the tracer all handle \
             ~30× more packets for the same bytes, which is most of native mode's throughput \
             loss here. Generic mode runs the program from `netif_receive_skb` on the skb (a \
             super-segment is one program run and one line, as tcpdump sees it), but copies \
             every non-linear skb first; TC ingress sees the same skb and copies nothing. On a \
             physical NIC native mode is the cheap one; on veth, `--xdp-mode auto` uses TC \
             ingress.\n",
        );
    }

    fn replay_section(&self, s: &mut String, r: &Replay) {
        let _ = write!(
            s,
            "\n## 3. Userspace throughput\n\n\
             A generated pcap: {} frames ({}), {} connections (64 at a time, interleaved), \
             IPv4 and IPv6, handshakes with mss / sackOK / TS / wscale / TFO / MPTCP / \
             user-timeout, data with TS, SACK blocks, MD5, EOL, unknown kinds, URG, closes and \
             resets. Both commands write to /dev/null; {} rounds, medians.\n\n\
             | command | wall | CPU (user + sys) | lines | lines/s (wall) | lines/s (CPU) | peak RSS |\n| --- | --- | --- | --- | --- | --- | --- |\n\
             {}{}\n\
             tcptrace's own split, in process, over its {} records, in CPU time of the thread \
             (user + system, so other load on the machine does not count): replay (pcap read + \
             one BPF_PROG_TEST_RUN per frame + ring read) **{:.0} ns** per record; decode + \
             render into a buffer **{:.0} ns** per record ({:.2} M lines/s of CPU).\n\n",
            r.frames,
            mib(r.file_bytes),
            r.conns,
            r.rounds,
            replay_row(
                "tcptrace -r FILE",
                r.tcptrace_s,
                r.tcptrace_cpu_s,
                r.total_lines.0,
                r.tcptrace_hwm_kib
            ),
            replay_row(
                "tcpdump -n -r FILE",
                r.tcpdump_s,
                r.tcpdump_cpu_s,
                r.total_lines.1,
                r.tcpdump_hwm_kib
            ),
            r.records,
            r.replay_ns,
            r.render_ns,
            1e3 / r.render_ns
        );
        match &r.first_diff {
            None => {
                let _ = writeln!(
                    s,
                    "Output check (TZ=UTC): all {} lines identical to tcpdump's.",
                    r.same_lines
                );
            }
            Some((n, a, b)) => {
                let _ = writeln!(
                    s,
                    "Output check (TZ=UTC): {} of {} lines identical to tcpdump's ({} from \
                     tcptrace); first difference at line {n}:\n\n```\ntcptrace: {a}\ntcpdump:  {b}\n```",
                    r.same_lines, r.total_lines.1, r.total_lines.0
                );
            }
        }
    }

    fn memory_section(&self, s: &mut String) {
        s.push_str("\n## 4. Memory\n\n| scenario | tcptrace VmHWM | BPF map memlock (kernel) |\n| --- | --- | --- |\n");
        if let Some(l) = self.live {
            for r in &l.results {
                if r.mode == Mode::Untraced {
                    continue;
                }
                let hwm = median_of(&r.runs, |x| x.hwm_kib);
                let lock = median_of(&r.runs, |x| x.memlock);
                let maps = r.runs.first().map_or(0, |x| x.maps);
                let _ = writeln!(
                    s,
                    "| live, {} | {:.1} MiB | {} |",
                    r.mode.name(),
                    hwm as f64 / 1024.0,
                    if r.mode == Mode::Tcpdump {
                        "— (AF_PACKET ring, not a BPF map)".into()
                    } else {
                        format!("{} in {maps} maps", mib(lock))
                    }
                );
            }
        }
        if let Some(r) = self.replay {
            let _ = writeln!(
                s,
                "| `tcptrace -r` ({} frames) | {:.1} MiB | (same maps) |\n| `tcpdump -n -r`, for comparison | {:.1} MiB | — |",
                r.frames,
                r.tcptrace_hwm_kib as f64 / 1024.0,
                r.tcpdump_hwm_kib as f64 / 1024.0
            );
        }
        s.push_str(
            "\nVmHWM is read from /proc/PID/status while the tracer runs (sampled every 5 ms \
             for the `-r` commands, so the last few milliseconds may be missed; not \
             ru_maxrss, which Linux keeps from before the exec); memlock is the sum of the `memlock:` \
             lines in /proc/PID/fdinfo over the tracer's BPF map fds.\n",
        );
    }

    pub fn kernel_svg(&self) -> Option<String> {
        let mi = self.micro?;
        let cases = crate::micro::cases();
        let floor = mi
            .rows
            .iter()
            .map(|r| r.floor_kernel_ns)
            .fold(f64::NAN, f64::min);
        let mut bars: Vec<(String, f64, f64, &str)> =
            vec![("floor".into(), floor, f64::NAN, "#888")];
        for c in &cases {
            let x = self.row(c.name, "XDP").map_or(f64::NAN, |r| r.kernel_ns);
            let t = self.row(c.name, "TC").map_or(f64::NAN, |r| r.kernel_ns);
            bars.push((c.name.to_string(), x, t, ""));
        }
        let max = bars
            .iter()
            .flat_map(|b| [b.1, b.2])
            .filter(|v| !v.is_nan())
            .fold(1.0, f64::max)
            * 1.15;
        let (w, h, left, top, bottom) = (760.0, 360.0, 60.0, 40.0, 60.0);
        let plot_h = h - top - bottom;
        let group = (w - left - 20.0) / bars.len() as f64;
        let y = |v: f64| top + plot_h * (1.0 - v / max);
        let mut s = svg_head(
            w,
            h,
            "Kernel cost per packet (ns, BPF_PROG_TEST_RUN median)",
        );
        axis(&mut s, left, top, w, plot_h, max, "ns");
        for lim in [1.5, 4.0] {
            let v = floor * lim;
            if v < max {
                let _ = write!(
                    s,
                    r##"<line x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#c33" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" font-size="10" fill="#c33" text-anchor="end">{lim}× floor</text>"##,
                    w - 20.0,
                    y(v),
                    y(v),
                    w - 22.0,
                    y(v) - 3.0
                );
            }
        }
        for (i, (name, x, t, _)) in bars.iter().enumerate() {
            let gx = left + group * i as f64 + group * 0.15;
            let bw = group * 0.35;
            for (j, (v, color)) in [(*x, "#3a7bd5"), (*t, "#f0a030")].iter().enumerate() {
                if v.is_nan() {
                    continue;
                }
                let color = if i == 0 { "#888" } else { color };
                let _ = write!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{v:.0}</text>"#,
                    gx + bw * j as f64,
                    y(*v),
                    top + plot_h - y(*v),
                    gx + bw * j as f64 + bw / 2.0,
                    y(*v) - 3.0
                );
            }
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{name}</text>"#,
                gx + bw,
                top + plot_h + 16.0
            );
        }
        let _ = write!(
            s,
            r##"<rect x="{left}" y="{:.1}" width="10" height="10" fill="#3a7bd5"/><text x="{}" y="{:.1}" font-size="11">XDP</text><rect x="{}" y="{:.1}" width="10" height="10" fill="#f0a030"/><text x="{}" y="{:.1}" font-size="11">TC</text><rect x="{}" y="{:.1}" width="10" height="10" fill="#888"/><text x="{}" y="{:.1}" font-size="11">empty XDP program (floor)</text></svg>"##,
            h - 22.0,
            left + 14.0,
            h - 13.0,
            left + 60.0,
            h - 22.0,
            left + 74.0,
            h - 13.0,
            left + 120.0,
            h - 22.0,
            left + 134.0,
            h - 13.0
        );
        Some(s)
    }

    pub fn live_svg(&self) -> Option<String> {
        let l = self.live?;
        let (w, h, left, top, bottom) = (640.0, 300.0, 60.0, 40.0, 40.0);
        let plot_h = h - top - bottom;
        let max = l.results.iter().map(|r| r.ratio).fold(1.0, f64::max) * 1.1;
        let y = |v: f64| top + plot_h * (1.0 - v / max);
        let mut s = svg_head(
            w,
            h,
            "Live iperf3 throughput, × untraced (median of rounds)",
        );
        axis(&mut s, left, top, w, plot_h, max, "×");
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#c33" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" font-size="10" fill="#c33" text-anchor="end">0.95 target</text>"##,
            w - 20.0,
            y(0.95),
            y(0.95),
            w - 22.0,
            y(0.95) + 11.0
        );
        let group = (w - left - 20.0) / l.results.len() as f64;
        for (i, r) in l.results.iter().enumerate() {
            let bw = group * 0.6;
            let x = left + group * i as f64 + group * 0.2;
            let color = match r.mode {
                Mode::Untraced => "#888",
                Mode::Tcpdump => "#9a5cc6",
                _ => "#3a7bd5",
            };
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{:.3}</text><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
                y(r.ratio),
                top + plot_h - y(r.ratio),
                x + bw / 2.0,
                y(r.ratio) - 3.0,
                r.ratio,
                x + bw / 2.0,
                top + plot_h + 16.0,
                r.mode.name()
            );
        }
        s.push_str("</svg>");
        Some(s)
    }
}

/// What the profiles of the missed targets showed (perf, on the 2-core VM this bench was
/// written on). Reproduce with the commands given.
const COSTS: &str = "
## What costs it (measured)

Measured on this build with `tcptrace-bench --spin CASE:xdp|tc|floor` (one case for 10 s,
the ring drained between runs) and variants of the kernel program built for the purpose;
profiles with `perf record -a -- tcptrace-bench --spin tcp-accept:tc`.

- **Non-matching segment** (at the target). One lookup of the per-CPU counter block and two
  increments (~6 ns), the untagged-IPv4 fast path (Ethernet type, then version/IHL, protocol,
  fragment field and total length from three loads; the TCP header's bounds) (~8 ns), and
  the filter (~4 ns): the rule table is a frozen read-only global, so the verifier knows
  every kind, direction and value, keeps only the code for the tests the table has, and a
  `--port` test is two 16-bit loads and four compares. Before this build: a `bpf_loop`
  callback per test slot with two map lookups each, every header field read through
  `bpf_xdp_load_bytes`, and a BPF `memset` subprogram for the parse result.
- **Matching segment** (at the edge: from run to run ~3.7–4.3× under TC and ~4.2–5.5×
  under XDP, whose test runs also pay for the dispatcher swap around them). On top of the
  above: `bpf_ktime_get_ns` (~30–45 ns; in the profile `read_tsc` alone is ~38% as much
  time as the program's own instructions; it is the only fine-grained clock a BPF program
  has, `bpf_ktime_get_coarse_ns` ticks in milliseconds), the ring buffer's reserve and
  commit (~20–25 ns: a spin lock taken with interrupts off, then the commit), writing the
  160-byte record (~25 ns, 2.6 new cache lines of ring memory per record), and for XDP
  `bpf_xdp_get_buff_len` (~5 ns; with fragments the linear length is not the frame's).
  Tried and measured, not kept: building the record on the stack and copying it in with
  one `bpf_ringbuf_output` call (slower: 172 vs 137 ns), not zeroing the record first (no
  change), a ring small enough for the L2 cache (no change). What would still cut it: a
  smaller record (most segments carry 0–12 of the 40 option bytes reserved, IPv4 uses 8 of
  the 32 address bytes), or a clock kfunc the JIT inlines.
- **Live.** On this 2-core machine the tracer's own CPU was the cost: with the ring
  buffer's default (adaptive) wakeup the kernel woke tcptrace for nearly every record —
  about 100 000 wakeups a second, 39–41% of a core in the previous report — and that CPU
  came out of iperf3's. The kernel now asks for a wakeup only when a CPU's ring holds
  16 KiB unread and tcptrace drains the rings every 10 ms besides (12% of a core for the
  same lines with a wakeup at most once a millisecond per CPU; a third less again now).
  Generic XDP also copies every cloned or non-linear skb (each 64 KB GSO super-segment)
  before running the program (`skb_cow_data_for_xdp` → `skb_copy_bits`, ~35% of the
  receiving path in a system-wide profile of the previous build); TC ingress sees the same
  skb without a copy, and is what `--xdp-mode auto` uses on veth and where native XDP is
  refused.
- **Live, native XDP on veth.** Not the program: veth clears the peer's TSO when a native
  program attaches, so the stack handles wire-sized segments (see section 2).
- **`tcptrace -r`, whole command.** Each frame is one BPF_PROG_TEST_RUN (set-up, copy in).
  Replay now loads (verifies) only the XDP program and submits records with
  `BPF_RB_NO_WAKEUP` (it reads the ring right after each run), which removes an irq_work
  self-IPI per frame — an APIC write, so a VM exit, on this machine.
";

fn svg_head(w: f64, h: f64, title: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="{}" y="20" font-size="14" text-anchor="middle">{title}</text>"##,
        w / 2.0
    )
}

fn axis(s: &mut String, left: f64, top: f64, w: f64, plot_h: f64, max: f64, unit: &str) {
    let _ = write!(
        s,
        r##"<line x1="{left}" x2="{left}" y1="{top}" y2="{:.1}" stroke="#333"/><line x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        top + plot_h,
        w - 20.0,
        top + plot_h,
        top + plot_h
    );
    let step = nice_step(max / 5.0);
    let mut v = 0.0;
    while v <= max {
        let yy = top + plot_h * (1.0 - v / max);
        let _ = write!(
            s,
            r##"<line x1="{:.1}" x2="{left}" y1="{yy:.1}" y2="{yy:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            left - 4.0,
            left - 6.0,
            yy + 3.0,
            if step < 1.0 {
                format!("{v:.1}{unit}")
            } else {
                format!("{v:.0}{unit}")
            }
        );
        v += step;
    }
}

fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    p * if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// One command's row of the userspace throughput table.
fn replay_row(cmd: &str, wall_s: f64, cpu_s: f64, lines: u64, hwm_kib: u64) -> String {
    format!(
        "| `{cmd}` | {wall_s:.2} s | {cpu_s:.2} s | {lines} | {:.2} M | {:.2} M | {:.1} MiB |\n",
        lines as f64 / wall_s / 1e6,
        lines as f64 / cpu_s / 1e6,
        hwm_kib as f64 / 1024.0
    )
}
