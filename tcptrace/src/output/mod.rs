//! Outputs: what a trace makes of its segments and of the tracker's events. Each is one
//! [`Output`]: tcpdump's (or the classic) lines, `--explain` notes, `--json` objects, the
//! `--summary` table, `--graph` files, the `-w` file, `--stats`/`--metrics` totals. The
//! [`crate::pipeline`] builds the list once from the plan ([`list`]) and hands every
//! segment, event and summary to each output in turn, in list order; text goes into one
//! buffer that the pipeline writes to stdout.

pub mod graph;
pub mod json;
pub mod lines;
pub mod metrics;
pub mod notes;
pub mod pcapng;
pub mod rotate;
pub mod savefile;
pub mod stats;
pub mod summary;

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tcptrace_common::Record;

use crate::attribute::Process;
use crate::decode::{IcmpError, Segment, Timestamp};
use crate::render::Renderer;
use crate::timefmt::LocalClock;
use crate::track::Tracker;
use crate::track::event::{Endpoint, Event, EventKind};
use crate::track::fate::DropCause;
use crate::track::row::Row;

/// The flags that choose the text outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportOptions {
    /// `--explain`: a note after the line that causes an event.
    pub explain: bool,
    /// `--summary`: the connection table at exit and on SIGUSR1.
    pub summary: bool,
    /// `--summary=long`: a block per connection with the classic tcptrace's numbers.
    pub summary_long: bool,
    /// `--json`: segments, events and summary rows as JSON objects, one per line.
    pub json: bool,
    /// Print a line (or JSON object) per segment; false with `--no-lines`.
    pub lines: bool,
    /// `--max-connections`.
    pub max_connections: usize,
    /// `--graph DIR`: time-sequence graphs.
    pub graph: bool,
}

impl ReportOptions {
    /// Lines only: what tcptrace prints with none of these flags.
    pub const DEFAULT: ReportOptions = ReportOptions {
        explain: false,
        summary: false,
        summary_long: false,
        json: false,
        lines: true,
        max_connections: crate::track::DEFAULT_MAX_CONNECTIONS,
        graph: false,
    };
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl ReportOptions {
    /// Whether connections are tracked for these outputs.
    pub fn tracking(&self) -> bool {
        self.explain || self.summary || self.json || self.graph
    }
}

/// One segment as the outputs see it: decoded, attributed and tracked.
pub struct Seen<'a> {
    pub seg: &'a Segment,
    /// The kernel's record and the frame's first bytes (`-w`); None for a segment made
    /// by a test.
    pub raw: Option<(&'a Record, &'a [u8])>,
    /// Its connection, when tracking.
    pub conn: Option<u64>,
    /// The events it caused.
    pub events: &'a [Event],
    /// The processes owning its sending and receiving sockets (attribution on).
    pub sender: Option<Arc<Process>>,
    pub receiver: Option<Arc<Process>>,
}

impl Seen<'_> {
    /// The process a line names: the sender's, else the receiver's.
    pub fn shown(&self) -> Option<&Process> {
        self.sender.as_deref().or(self.receiver.as_deref())
    }
}

/// What the outputs share.
pub struct Shared {
    /// The one line formatter (its `-#` count and `-ttt` times run over every line).
    pub renderer: Renderer,
    /// Attribution on: each connection's local processes.
    pub owners: Option<Owners>,
    /// Something has been printed (the summary then starts with a blank line).
    pub wrote: bool,
}

/// One part of a trace's output. Every method has a default that does nothing.
pub trait Output {
    /// A segment before it is tracked (`-w`); `Break` ends the trace.
    fn record(&mut self, _s: &Seen) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// A tracked segment: after the events of the connections it outdated, before its own.
    fn segment(&mut self, _s: &Seen, _sh: &mut Shared, _out: &mut Vec<u8>) {}
    /// One of the tracker's events.
    fn event(&mut self, _e: &Event, _sh: &mut Shared, _out: &mut Vec<u8>) {}
    /// An ICMP error about a traced segment.
    fn icmp(&mut self, _e: &IcmpError, _sh: &mut Shared, _out: &mut Vec<u8>) {}
    /// A segment this host dropped, and why; `seen`: a hook saw it (its line is printed;
    /// false when no tracker runs, which alone knows).
    fn dropped(
        &mut self,
        _seg: &Segment,
        _seen: bool,
        _cause: &DropCause,
        _sh: &mut Shared,
        _out: &mut Vec<u8>,
    ) {
    }
    /// The summary now (exit, SIGUSR1): the tracker and its rows, processes named.
    fn summary(&mut self, _t: &Tracker, _rows: &[Row], _sh: &mut Shared, _out: &mut Vec<u8>) {}
    /// How often [`Output::periodic`] is wanted while live.
    fn every(&self) -> Option<Duration> {
        None
    }
    /// Every [`Output::every`], and once at the end of a live trace.
    fn periodic(&mut self) {}
    /// Live: every record stamped before `now` has been handed over (after each drain of
    /// the rings, at least every 10 ms); `Break` ends the trace.
    fn advance(&mut self, _now: Timestamp) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// The end: files closed, and the first error met on the way.
    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// The text outputs the flags ask for, in the order their text appears for one segment.
pub fn list(opts: &ReportOptions, show_process: bool, clock: &LocalClock) -> Vec<Box<dyn Output>> {
    let mut v: Vec<Box<dyn Output>> = Vec::new();
    if opts.json {
        v.push(Box::new(json::Json::new(opts.lines, show_process)));
        return v;
    }
    if opts.lines {
        v.push(Box::new(lines::Lines::new(show_process, opts.explain)));
    }
    if opts.explain {
        v.push(Box::new(notes::Notes::new(opts.lines, clock.clone())));
    }
    if opts.summary {
        v.push(Box::new(summary::Summary::new(
            opts.summary_long,
            clock.clone(),
        )));
    }
    v
}

/// Each connection's local processes by endpoint, as attribution named them.
#[derive(Default)]
pub struct Owners {
    by_conn: BTreeMap<u64, HashMap<Endpoint, Arc<Process>>>,
}

impl Owners {
    /// The owners of a segment's two ends; at most `2 × cap` connections are kept, like
    /// the tracker's rows.
    pub fn record(&mut self, conn: u64, s: &Seen, cap: usize) {
        let m = self.by_conn.entry(conn).or_default();
        if let Some(p) = &s.sender {
            m.insert(Endpoint::new(s.seg.src, s.seg.sport), p.clone());
        }
        if let Some(p) = &s.receiver {
            m.insert(Endpoint::new(s.seg.dst, s.seg.dport), p.clone());
        }
        while self.by_conn.len() > 2 * cap {
            self.by_conn.pop_first();
        }
    }

    pub fn of(&self, conn: u64, ep: &Endpoint) -> Option<&Arc<Process>> {
        self.by_conn.get(&conn)?.get(ep)
    }

    /// The process an event is about: the client's for verdicts on a connection attempt
    /// (refused, retried, gave up, no answer), else the process of the endpoint that acted.
    pub fn actor(&self, e: &Event) -> Option<(Option<&'static str>, &Arc<Process>)> {
        // Refused: `from` is the refusing server, `to` the client.
        if matches!(e.kind, EventKind::Refused { .. }) {
            return self.of(e.conn, &e.to).map(|p| (Some("client"), p));
        }
        let about_client = matches!(
            e.kind,
            EventKind::Retry { .. }
                | EventKind::NoAnswer { .. }
                | EventKind::DroppedHere { .. }
                | EventKind::IcmpRefused { .. }
                | EventKind::AcceptQueueFull { .. }
                | EventKind::GaveUp { .. }
                | EventKind::SynRetransmit { .. }
                | EventKind::Handshake1 { .. }
        );
        let p = self.of(e.conn, &e.from)?;
        Some((about_client.then_some("client"), p))
    }

    /// Names each row's processes (`client > server`, `-` where not local).
    pub fn label(&self, rows: &mut [Row]) {
        let label = |p: Option<&Arc<Process>>| p.map_or("-".to_string(), |p| p.label());
        for r in rows {
            let c = self.of(r.conn, &r.client);
            let s = self.of(r.conn, &r.server);
            r.process = Some(format!("{} > {}", label(c), label(s)));
        }
    }
}
