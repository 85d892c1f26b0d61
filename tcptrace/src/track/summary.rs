//! Summary rows (one per connection) and the `--summary` table.

use std::fmt::Write as _;

use super::conn::{Conn, Counts, Fate, Half, State};
use super::event::{Endpoint, Span};
use super::stats::{Stats, SynOpts};
use crate::decode::{IcmpKind, Timestamp};
use crate::timefmt::{self, LocalClock};

/// How a connection ended (or did not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// No FIN or RST seen.
    Open,
    /// One FIN (`by` = side 0 client / 1 server), the other side not closed yet.
    HalfClosed { by: usize },
    /// Both FINs: `first` closed first; `simultaneous` when they crossed.
    Fin { first: usize, simultaneous: bool },
    /// RST by side `by`.
    Rst { by: usize },
    /// Every SYN answered by RST.
    Refused { attempts: u32 },
    /// SYNs never answered.
    NoAnswer { syns: u32 },
    /// SYNs answered by an ICMP destination unreachable (`what`) from `router`.
    IcmpRefused {
        syns: u32,
        what: &'static str,
        router: std::net::IpAddr,
    },
}

/// A connection as the summary shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub conn: u64,
    /// Side 0: the client when `roles_known`, else the first sender seen.
    pub client: Endpoint,
    pub server: Endpoint,
    pub roles_known: bool,
    pub state: State,
    pub start: Timestamp,
    pub duration: Span,
    pub handshake_rtt: Option<Span>,
    /// Per direction: [client → server, server → client].
    pub segments: [u64; 2],
    pub bytes: [u64; 2],
    pub retransmissions: [u64; 2],
    pub dup_acks: [u64; 2],
    pub zero_windows: [u64; 2],
    /// The analysis kinds, per direction (the sender's).
    pub counts: [Counts; 2],
    /// The classic tcptrace's numbers, per direction.
    pub stats: [Stats; 2],
    /// What each side's SYN asked for.
    pub syn_opts: [SynOpts; 2],
    pub end: End,
    pub fate: Fate,
    /// Segments the host dropped, and the last one's reason.
    pub drops: u32,
    pub last_drop: Option<String>,
    /// The local processes (`client > server`, `-` where not local), when attribution is
    /// on (the table then has a process column).
    pub process: Option<String>,
}

impl Row {
    pub fn of(c: &Conn) -> Row {
        let end = match c.state {
            State::Refused => End::Refused {
                attempts: c.refusals,
            },
            State::SynSent
                if c.roles_known
                    && c.h[1].segs == 0
                    && let Some(i) = c.icmp
                    && let IcmpKind::Unreachable(what) = i.kind =>
            {
                End::IcmpRefused {
                    syns: c.h[0].syns,
                    what,
                    router: i.router,
                }
            }
            State::SynSent if c.roles_known && c.h[1].segs == 0 => {
                End::NoAnswer { syns: c.h[0].syns }
            }
            State::Reset => End::Rst {
                by: c.reset_by.unwrap_or(0),
            },
            _ => match (c.h[0].fin_seq.is_some(), c.h[1].fin_seq.is_some()) {
                (true, true) => End::Fin {
                    first: c.first_closer.unwrap_or(0),
                    simultaneous: c.simultaneous_close,
                },
                (true, false) => End::HalfClosed { by: 0 },
                (false, true) => End::HalfClosed { by: 1 },
                (false, false) => End::Open,
            },
        };
        Row {
            conn: c.id,
            client: c.h[0].ep,
            server: c.h[1].ep,
            roles_known: c.roles_known,
            state: c.state,
            start: c.start,
            duration: Span::between(c.start, c.last),
            handshake_rtt: c.handshake_rtt,
            segments: [c.h[0].segs, c.h[1].segs],
            bytes: [c.h[0].bytes, c.h[1].bytes],
            retransmissions: [c.h[0].retrans, c.h[1].retrans],
            dup_acks: [c.h[0].dupacks, c.h[1].dupacks],
            zero_windows: [c.h[0].zero_windows, c.h[1].zero_windows],
            counts: [c.h[0].counts, c.h[1].counts],
            stats: [c.h[0].stats.snapshot(), c.h[1].stats.snapshot()],
            syn_opts: [syn_opts(&c.h[0]), syn_opts(&c.h[1])],
            end,
            fate: c.fate,
            drops: c.drops.count,
            last_drop: c.drops.last.clone(),
            process: None,
        }
    }

    fn who(&self, side: usize) -> &'static str {
        match (self.roles_known, side) {
            (true, 0) => "client",
            (true, _) => "server",
            (false, 0) => "first sender",
            (false, _) => "second sender",
        }
    }

    /// Machine name of the end (JSON `end`).
    pub fn end_name(&self) -> &'static str {
        match self.end {
            End::Open => "open",
            End::HalfClosed { .. } => "half_closed",
            End::Fin { .. } => "fin",
            End::Rst { .. } => "rst",
            End::Refused { .. } => "refused",
            End::NoAnswer { .. } => "no_answer",
            End::IcmpRefused { .. } => "refused_icmp",
        }
    }

    /// Machine name of the fate (JSON `fate`).
    pub fn fate_name(&self) -> &'static str {
        match self.fate {
            Fate::Tracked => "tracked",
            Fate::Expired => "expired",
            Fate::Evicted => "evicted",
            Fate::Replaced => "replaced",
            Fate::TraceEnd => "trace_end",
        }
    }

    /// Who ended it ("client" / "server" / …), if someone did.
    pub fn end_by(&self) -> Option<&'static str> {
        match self.end {
            End::HalfClosed { by } | End::Rst { by } => Some(self.who(by)),
            End::Fin { first, .. } => Some(self.who(first)),
            _ => None,
        }
    }

    /// The "end" column: how it ended, in words.
    pub fn end_text(&self) -> String {
        let mut s = match self.end {
            End::Open => "still open".to_string(),
            End::HalfClosed { by } => format!("FIN by {}, other side still open", self.who(by)),
            End::Fin {
                simultaneous: true, ..
            } => "FIN by both at once (simultaneous close)".to_string(),
            End::Fin { first, .. } => format!(
                "FIN by {} first, then {}",
                self.who(first),
                self.who(1 - first)
            ),
            End::Rst { by } => format!("RST by {}", self.who(by)),
            End::Refused { attempts } => {
                let mut s = format!("refused ×{attempts}");
                if self.fate != Fate::Tracked {
                    s += ", client gave up";
                }
                s
            }
            End::NoAnswer { syns } => format!("no answer to {syns} SYN{}", plural(syns as u64)),
            End::IcmpRefused { syns, what, router } => format!(
                "refused by an ICMP {what} unreachable from {router} ({syns} SYN{})",
                plural(syns as u64)
            ),
        };
        // (A refused SYN is dropped for want of a socket: the refusal says it already.)
        if let Some(r) = &self.last_drop
            && !(matches!(self.end, End::Refused { .. }) && r == "NO_SOCKET")
        {
            let _ = write!(s, ", {} dropped here (last: {r})", self.drops);
        }
        match self.fate {
            Fate::Evicted => s += " (evicted: table full)",
            Fate::Expired if matches!(self.end, End::Open | End::HalfClosed { .. }) => {
                s += " (forgotten when idle)"
            }
            Fate::Replaced if matches!(self.end, End::Open | End::HalfClosed { .. }) => {
                s += " (ports reused by a new connection)"
            }
            _ => {}
        }
        if !self.roles_known {
            s += " [joined mid-connection]";
        }
        if self.segments[1] == 0 || self.segments[0] == 0 {
            s += " [one direction seen]";
        }
        s
    }
}

/// Reads one count.
pub type CountOf = fn(&Counts) -> u64;

/// The per-direction counts, by JSON name (each a `[client, server]` pair in JSON).
pub const COUNT_FIELDS: [(&str, CountOf); 12] = [
    ("fast_retransmissions", |c| c.fast_retrans),
    ("spurious_retransmissions", |c| c.spurious_retrans),
    ("lost_segments", |c| c.lost_segments),
    ("late_arrivals", |c| c.late_arrivals),
    ("keep_alives", |c| c.keep_alives),
    ("keep_alive_acks", |c| c.keep_alive_acks),
    ("zero_window_probes", |c| c.zero_window_probes),
    ("zero_window_probe_acks", |c| c.zero_window_probe_acks),
    ("window_full", |c| c.window_full),
    ("dsacks", |c| c.dsacks),
    ("acked_unseen", |c| c.acked_unseen),
    ("holes_forgotten", |c| c.gap_overflow),
];

/// Short names for the summary's "analysis" column.
const COUNT_SHORT: [&str; 12] = [
    "fast",
    "spurious",
    "lost",
    "late",
    "keepalive",
    "keepalive-ack",
    "zwp",
    "zwp-ack",
    "win-full",
    "dsack",
    "acked-unseen",
    "holes-forgotten",
];

impl Row {
    /// The "analysis" column: the nonzero counts, `name c/s` each (`-` when none).
    pub fn analysis_text(&self) -> String {
        let mut parts = Vec::new();
        for ((_, get), short) in COUNT_FIELDS.iter().zip(COUNT_SHORT) {
            let (a, b) = (get(&self.counts[0]), get(&self.counts[1]));
            if a + b > 0 {
                parts.push(format!("{short} {a}/{b}"));
            }
        }
        if parts.is_empty() {
            "-".to_string()
        } else {
            parts.join(", ")
        }
    }
}

fn syn_opts(h: &Half) -> SynOpts {
    SynOpts {
        mss: h.mss,
        wscale: h.wscale,
        sack_ok: h.sack_ok,
        timestamps: h.timestamps,
        tfo: h.tfo,
        syn_data: h.syn_data,
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Totals shown above the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Connections currently tracked.
    pub tracked: usize,
    /// Connections ever seen.
    pub seen: u64,
    pub evicted: u64,
    pub expired: u64,
    /// Finished rows dropped from the summary to bound memory.
    pub rows_dropped: u64,
    pub max_connections: usize,
}

/// The text table: a heading line, a header and one line per row.
pub fn table(rows: &[Row], totals: &Totals, clock: &mut LocalClock) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "tcptrace summary: {} connection{} ({} tracked now, {} evicted, {} expired)",
        totals.seen,
        plural(totals.seen),
        totals.tracked,
        totals.evicted,
        totals.expired
    );
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
        let mut start = Vec::new();
        timefmt::put_date_hms(&mut start, clock.local_secs(r.start.secs));
        timefmt::put_frac(&mut start, r.start.nanos, false);
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
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tcptrace summary: {} connection{} ({} tracked now, {} evicted, {} expired)",
        totals.seen,
        plural(totals.seen),
        totals.tracked,
        totals.evicted,
        totals.expired
    );
    for r in rows {
        out.push('\n');
        let mut start = Vec::new();
        timefmt::put_date_hms(&mut start, clock.local_secs(r.start.secs));
        timefmt::put_frac(&mut start, r.start.nanos, false);
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
