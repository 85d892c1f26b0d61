//! The `--summary` table and `--summary=long` blocks.

use std::fmt::Write as _;

use super::{Output, Shared};
use crate::timefmt::{self, LocalClock};
use crate::track::Tracker;
use crate::track::row::{Row, Totals};

/// The `--summary` output: the table (or the long blocks) at exit and on SIGUSR1.
pub struct Summary {
    long: bool,
    clock: LocalClock,
}

impl Summary {
    pub fn new(long: bool, clock: LocalClock) -> Summary {
        Summary { long, clock }
    }
}

impl Output for Summary {
    fn summary(&mut self, t: &Tracker, rows: &[Row], sh: &mut Shared, out: &mut Vec<u8>) {
        if sh.wrote {
            out.push(b'\n');
        }
        let text = if self.long {
            long(rows, &t.totals(), &mut self.clock)
        } else {
            table(rows, &t.totals(), &mut self.clock)
        };
        out.extend_from_slice(text.as_bytes());
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The first line's start: how many connections, and what became of them.
fn heading(totals: &Totals) -> String {
    format!(
        "tcptrace summary: {} connection{} ({} tracked now, {} evicted, {} expired)",
        totals.seen,
        plural(totals.seen),
        totals.tracked,
        totals.evicted,
        totals.expired
    )
}

/// When a row's connection started, in local time.
fn start_of(r: &Row, clock: &mut LocalClock) -> Vec<u8> {
    let mut start = Vec::new();
    timefmt::put_date_hms(&mut start, clock.local_secs(r.start.secs));
    timefmt::put_frac(&mut start, r.start.nanos, false);
    start
}

/// The text table: a heading line, a header and one line per row.
pub fn table(rows: &[Row], totals: &Totals, clock: &mut LocalClock) -> String {
    let mut out = heading(totals);
    if totals.evicted > 0 {
        let _ = write!(out, "; --max-connections {}", totals.max_connections);
    }
    if totals.rows_dropped > 0 {
        let _ = write!(out, "; {} older rows not shown", totals.rows_dropped);
    }
    out.push('\n');
    let procs = rows.iter().any(|r| r.process.is_some());
    const HEAD: [&str; 12] = [
        "#",
        "client",
        "server",
        "state",
        "start",
        "duration",
        "handshake",
        "segs c>s/s>c",
        "bytes c>s/s>c",
        "retrans",
        "analysis c>s/s>c",
        "end",
    ];
    let mut cells: Vec<[String; 12]> = Vec::with_capacity(rows.len() + 1);
    cells.push(HEAD.map(String::from));
    for r in rows {
        let start = start_of(r, clock);
        cells.push([
            r.conn.to_string(),
            r.client.to_string(),
            r.server.to_string(),
            r.state.name().to_string(),
            String::from_utf8_lossy(&start).into_owned(),
            r.duration.to_string(),
            r.handshake_rtt
                .map_or_else(|| "-".to_string(), |t| t.to_string()),
            format!("{}/{}", r.segments[0], r.segments[1]),
            format!("{}/{}", r.bytes[0], r.bytes[1]),
            format!("{}/{}", r.retransmissions[0], r.retransmissions[1]),
            r.analysis_text(),
            r.end_text(),
        ]);
    }
    // With attribution: a process column before *end*.
    let cells: Vec<Vec<String>> = cells
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut c = c.to_vec();
            if procs {
                let p = match i {
                    0 => "process".to_string(),
                    _ => rows[i - 1].process.clone().unwrap_or_else(|| "-".into()),
                };
                c.insert(11, p);
            }
            c
        })
        .collect();
    let last = if procs { 12 } else { 11 };
    let mut width = [0usize; 13];
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in &cells {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i == last {
                line += c;
            } else if i == 0 {
                // Right-aligned numbers.
                let _ = write!(line, "{:>w$}  ", c, w = width[i]);
            } else {
                let _ = write!(line, "{:<w$}  ", c, w = width[i]);
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

fn ms(ns: f64) -> String {
    format!("{:.3} ms", ns / 1e6)
}

fn yn(b: bool) -> String {
    if b { "Y" } else { "N" }.to_string()
}

/// `--summary=long`: one block per connection with the classic tcptrace's numbers (`tcptrace
/// -l`), per direction.
pub fn long(rows: &[Row], totals: &Totals, clock: &mut LocalClock) -> String {
    let mut out = heading(totals);
    out.push('\n');
    for r in rows {
        out.push('\n');
        let start = start_of(r, clock);
        let (a, b) = if r.roles_known {
            ("client>server", "server>client")
        } else {
            ("first>second", "second>first")
        };
        let _ = writeln!(
            out,
            "connection {}: {} > {}, {}, {}",
            r.conn,
            r.client,
            r.server,
            r.state.name(),
            r.end_text()
        );
        let _ = writeln!(
            out,
            "  first segment {}, duration {}, handshake RTT {}",
            String::from_utf8_lossy(&start),
            r.duration,
            r.handshake_rtt
                .map_or_else(|| "-".to_string(), |t| t.to_string())
        );
        let secs = r.duration.0 as f64 / 1e9;
        let s = &r.stats;
        let o = &r.syn_opts;
        let c = &r.counts;
        let pair = |f: &dyn Fn(usize) -> String| [f(0), f(1)];
        let lines: Vec<(&str, [String; 2])> = vec![
            ("total packets", pair(&|i| r.segments[i].to_string())),
            ("data packets", pair(&|i| s[i].data_segs.to_string())),
            (
                "data bytes (with retransmissions)",
                pair(&|i| s[i].data_bytes.to_string()),
            ),
            ("unique bytes", pair(&|i| r.bytes[i].to_string())),
            (
                "retransmitted packets (all)",
                pair(&|i| r.retransmissions[i].to_string()),
            ),
            (
                "retransmitted data packets",
                pair(&|i| s[i].rexmt_segs.to_string()),
            ),
            (
                "retransmitted data bytes",
                pair(&|i| s[i].rexmt_bytes.to_string()),
            ),
            (
                "fast retransmissions",
                pair(&|i| c[i].fast_retrans.to_string()),
            ),
            (
                "spurious retransmissions",
                pair(&|i| c[i].spurious_retrans.to_string()),
            ),
            (
                "holes (not seen here)",
                pair(&|i| c[i].lost_segments.to_string()),
            ),
            (
                "hole fills (out of order)",
                pair(&|i| s[i].hole_fills.to_string()),
            ),
            ("late arrivals", pair(&|i| c[i].late_arrivals.to_string())),
            ("pure ACKs", pair(&|i| s[i].pure_acks.to_string())),
            ("duplicate ACKs", pair(&|i| r.dup_acks[i].to_string())),
            ("SACK packets", pair(&|i| s[i].sack_segs.to_string())),
            ("D-SACKs", pair(&|i| c[i].dsacks.to_string())),
            (
                "ACKs for bytes not seen",
                pair(&|i| c[i].acked_unseen.to_string()),
            ),
            (
                "SYN/FIN packets",
                pair(&|i| format!("{}/{}", s[i].syn_segs, s[i].fin_segs)),
            ),
            ("zero windows", pair(&|i| r.zero_windows[i].to_string())),
            (
                "zero-window probes",
                pair(&|i| c[i].zero_window_probes.to_string()),
            ),
            ("keep-alives", pair(&|i| c[i].keep_alives.to_string())),
            ("window full", pair(&|i| c[i].window_full.to_string())),
            (
                "MSS requested",
                pair(&|i| o[i].mss.map_or("-".to_string(), |m| m.to_string())),
            ),
            (
                "window scale",
                pair(&|i| o[i].wscale.map_or("-".to_string(), |m| m.to_string())),
            ),
            ("SACK permitted", pair(&|i| yn(o[i].sack_ok))),
            ("timestamps", pair(&|i| yn(o[i].timestamps))),
            (
                "Fast Open (SYN data bytes)",
                pair(&|i| format!("{} ({})", yn(o[i].tfo), o[i].syn_data)),
            ),
            ("segment size min", pair(&|i| s[i].seg_size.min.to_string())),
            (
                "segment size avg",
                pair(&|i| format!("{:.0}", s[i].seg_size.avg())),
            ),
            ("segment size max", pair(&|i| s[i].seg_size.max.to_string())),
            (
                "window advertised min",
                pair(&|i| s[i].window.min.to_string()),
            ),
            (
                "window advertised avg",
                pair(&|i| format!("{:.0}", s[i].window.avg())),
            ),
            (
                "window advertised max",
                pair(&|i| s[i].window.max.to_string()),
            ),
            ("idle time max", pair(&|i| ms(s[i].idle_max as f64))),
            (
                "throughput (unique bytes/s)",
                pair(&|i| {
                    if secs > 0.0 {
                        format!("{:.0}", r.bytes[i] as f64 / secs)
                    } else {
                        "-".to_string()
                    }
                }),
            ),
            ("RTT samples", pair(&|i| s[i].rtt.n.to_string())),
            ("RTT min", pair(&|i| ms(s[i].rtt.min as f64))),
            ("RTT avg", pair(&|i| ms(s[i].rtt.avg()))),
            ("RTT max", pair(&|i| ms(s[i].rtt.max as f64))),
            ("RTT stdev", pair(&|i| ms(s[i].rtt.stdev()))),
            (
                "fast retransmit delays",
                pair(&|i| s[i].fast_delay.n.to_string()),
            ),
            (
                "fast retransmit delay avg",
                pair(&|i| ms(s[i].fast_delay.avg())),
            ),
            (
                "other retransmit delays",
                pair(&|i| s[i].rto_delay.n.to_string()),
            ),
            (
                "other retransmit delay min",
                pair(&|i| ms(s[i].rto_delay.min as f64)),
            ),
            (
                "other retransmit delay avg",
                pair(&|i| ms(s[i].rto_delay.avg())),
            ),
            (
                "other retransmit delay max",
                pair(&|i| ms(s[i].rto_delay.max as f64)),
            ),
        ];
        let _ = writeln!(out, "  {:34}{a:>18}{b:>18}", "");
        for (label, [x, y]) in lines {
            let _ = writeln!(out, "  {label:34}{x:>18}{y:>18}");
        }
    }
    out
}
