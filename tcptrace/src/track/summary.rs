//! Summary rows (one per connection) and the `--summary` table.

use std::fmt::Write as _;

use super::conn::{Conn, Fate, State};
use super::event::{Endpoint, Span};
use crate::decode::Timestamp;
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
    pub end: End,
    pub fate: Fate,
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
            end,
            fate: c.fate,
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
        };
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
    const HEAD: [&str; 11] = [
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
        "end",
    ];
    let mut cells: Vec<[String; 11]> = Vec::with_capacity(rows.len() + 1);
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
                c.insert(10, p);
            }
            c
        })
        .collect();
    let last = if procs { 11 } else { 10 };
    let mut width = [0usize; 12];
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
