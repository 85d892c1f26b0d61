//! Summary rows: one per connection, as the tracker sees it now.

use std::fmt::Write as _;

use super::conn::{Conn, Counts, Fate, State};
use super::event::{Endpoint, Span};
use super::stats::{Stats, SynOpts};
use crate::decode::{IcmpKind, Timestamp};

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
    /// The kernel's reason for the RST this host sent.
    pub reset_reason: Option<String>,
    /// Retransmissions the kernel made that never reached the wire hooks, per direction.
    pub unseen_retransmits: [u32; 2],
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
            syn_opts: [c.h[0].syn, c.h[1].syn],
            end,
            fate: c.fate,
            drops: c.drops.count,
            last_drop: c.drops.last.clone(),
            reset_reason: c.drops.reset_reason.clone(),
            unseen_retransmits: c.drops.unseen_retransmits,
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
            End::Rst { by } => match &self.reset_reason {
                Some(r) => format!("RST by {} ({r})", self.who(by)),
                None => format!("RST by {}", self.who(by)),
            },
            End::Refused { attempts } => {
                let mut s = format!("refused ×{attempts}");
                if let Some(r) = &self.reset_reason {
                    let _ = write!(s, " ({r})");
                }
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
        let unseen = self.unseen_retransmits[0] + self.unseen_retransmits[1];
        if unseen > 0 {
            let _ = write!(
                s,
                ", {unseen} retransmission{} not on the wire",
                plural(u64::from(unseen))
            );
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
