//! What `--explain`, `--summary`, `--json` and `--no-lines` add to (or take from) the
//! printed lines. The printer hands every decoded segment to [`Report::segment`] instead
//! of rendering it itself when a [`Report`] exists; without those flags none is built and
//! the printing path is untouched.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::Arc;

use super::event::{Endpoint, Event, EventKind};
use super::fate::DropCause;
use super::json::{self, SegmentWriter};
use super::summary;
use super::{TrackConfig, Tracker};
use crate::attribute::{self, Process, listen::AcceptQueues};
use crate::decode::{IcmpError, Segment};
use crate::render::Renderer;
use crate::render::graph::Graphs;
use crate::timefmt::{self, LocalClock};

/// The flags.
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
    /// `--graph DIR`: time-sequence graphs (see [`Report::set_graphs`]).
    pub graph: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            explain: false,
            summary: false,
            summary_long: false,
            json: false,
            lines: true,
            max_connections: super::DEFAULT_MAX_CONNECTIONS,
            graph: false,
        }
    }
}

impl ReportOptions {
    /// Whether any of the flags asks for more than plain lines.
    pub fn active(&self) -> bool {
        self.explain || self.summary || self.json || self.graph || !self.lines
    }

    /// Whether connections are tracked.
    pub fn tracking(&self) -> bool {
        self.explain || self.summary || self.json || self.graph
    }
}

/// What tells a segment from the ones around it.
fn seg_key(seg: &Segment) -> (std::net::IpAddr, u16, u32, u32, u16) {
    (seg.src, seg.sport, seg.seq, seg.ack, seg.flags)
}

pub struct Report {
    opts: ReportOptions,
    tracker: Option<Tracker>,
    json: Option<SegmentWriter>,
    events: Vec<Event>,
    line: Vec<u8>,
    clock: LocalClock,
    /// Something was written before the summary (it then gets a blank line before it).
    wrote: bool,
    graphs: Option<Graphs>,
    graph_error: Option<String>,
    /// Attribution on: each connection's local processes by endpoint.
    procs: Option<BTreeMap<u64, HashMap<Endpoint, Arc<Process>>>>,
    /// `--process`: lines end with the process.
    show_process: bool,
    /// The processes owning the next segment's sending and receiving sockets.
    next: (Option<Arc<Process>>, Option<Arc<Process>>),
    /// The last segment handed in (a drop note goes right under it when it is its).
    last: Option<(std::net::IpAddr, u16, u32, u32, u16)>,
    /// Live: the traced namespace's listeners, for "no answer" verdicts.
    accept_queues: Option<AcceptQueues>,
}

impl Report {
    /// None when no flag asks for anything: the caller then renders lines itself.
    pub fn new(opts: ReportOptions) -> Option<Report> {
        Self::with_clock(opts, LocalClock::system())
    }

    /// With a given clock for the times in notes and the summary (tests).
    pub fn with_clock(opts: ReportOptions, clock: LocalClock) -> Option<Report> {
        if !opts.active() {
            return None;
        }
        let tracker = opts.tracking().then(|| {
            Tracker::new(TrackConfig {
                max_connections: opts.max_connections,
                keep_rows: opts.summary || opts.json || opts.graph,
            })
        });
        Some(Report {
            opts,
            tracker,
            json: opts.json.then(SegmentWriter::new),
            events: Vec::new(),
            line: Vec::with_capacity(512),
            clock,
            wrote: false,
            graphs: None,
            graph_error: None,
            procs: None,
            show_process: false,
            next: (None, None),
            last: None,
            accept_queues: None,
        })
    }

    /// Draws the connections into `g` (written with the summary: at exit and on SIGUSR1).
    pub fn set_graphs(&mut self, g: Graphs) {
        self.graphs = Some(g);
    }

    /// Why the graphs could not be written, if they could not.
    pub fn graph_error(&self) -> Option<&str> {
        self.graph_error.as_deref()
    }

    /// Attribution is on: notes, rows and JSON objects name the processes; with
    /// `show_in_lines` (`--process`) lines end with it too.
    /// Live: "no answer" verdicts look at the local listener's accept queue.
    pub fn set_accept_queues(&mut self, q: AcceptQueues) {
        self.accept_queues = Some(q);
    }

    pub fn set_attribution(&mut self, show_in_lines: bool) {
        self.procs = Some(BTreeMap::new());
        self.show_process = show_in_lines;
    }

    /// The processes that own the sending and receiving sockets of the segment handed to
    /// the next [`Report::segment`].
    pub fn set_processes(&mut self, sender: Option<Arc<Process>>, receiver: Option<Arc<Process>>) {
        self.next = (sender, receiver);
    }

    fn process_of(&self, conn: u64, ep: &Endpoint) -> Option<&Arc<Process>> {
        self.procs.as_ref()?.get(&conn)?.get(ep)
    }

    pub fn tracker(&self) -> Option<&Tracker> {
        self.tracker.as_ref()
    }

    /// Connections evicted to respect `--max-connections`.
    pub fn evicted(&self) -> u64 {
        self.tracker.as_ref().map_or(0, Tracker::evicted)
    }

    /// One segment: verdicts on connections it outdated, its line (or JSON object), then
    /// the notes it causes.
    pub fn segment(&mut self, renderer: &mut Renderer, seg: &Segment, out: &mut Vec<u8>) {
        let mut conn = None;
        if let Some(t) = self.tracker.as_mut() {
            t.sweep(seg.ts, &mut self.events);
        }
        self.write_events(out);
        if let Some(t) = self.tracker.as_mut() {
            conn = t.segment(seg, &mut self.events);
        }
        if let (Some(g), Some(id)) = (self.graphs.as_mut(), conn) {
            g.segment(id, seg, &self.events);
        }
        self.last = Some(seg_key(seg));
        let (sender, receiver) = std::mem::take(&mut self.next);
        let shown = sender.clone().or_else(|| receiver.clone());
        if let (Some(procs), Some(id)) = (self.procs.as_mut(), conn) {
            let m = procs.entry(id).or_default();
            if let Some(p) = sender {
                m.insert(Endpoint::new(seg.src, seg.sport), p);
            }
            if let Some(p) = receiver {
                m.insert(Endpoint::new(seg.dst, seg.dport), p);
            }
            // Bounded like the tracker's rows.
            while procs.len() > 2 * self.opts.max_connections {
                procs.pop_first();
            }
        }
        if self.opts.lines {
            match self.json.as_mut() {
                None => {
                    let from = out.len();
                    renderer.render(seg, out);
                    if self.show_process {
                        attribute::append_to_line(out, from, shown.as_deref());
                    }
                }
                Some(w) => {
                    self.line.clear();
                    renderer.render(seg, &mut self.line);
                    if self.show_process {
                        attribute::append_to_line(&mut self.line, 0, shown.as_deref());
                    }
                    let text = std::str::from_utf8(&self.line)
                        .ok()
                        .map(|l| l.trim_end_matches('\n'))
                        .filter(|l| !l.is_empty());
                    let fields = self
                        .procs
                        .is_some()
                        .then(|| attribute::json_fields(shown.as_deref()));
                    w.write_with(seg, conn, text, fields, out);
                }
            }
            self.wrote = true;
        }
        self.write_events(out);
    }

    fn write_events(&mut self, out: &mut Vec<u8>) {
        if self.events.is_empty() {
            return;
        }
        if let Some(q) = self.accept_queues.as_ref() {
            for e in &mut self.events {
                if let EventKind::NoAnswer { syns } = e.kind
                    && let Some((queued, overflows)) = q.full(e.to.port)
                {
                    e.kind = EventKind::AcceptQueueFull {
                        syns,
                        queued,
                        overflows,
                    };
                }
            }
        }
        if self.opts.json {
            for e in &self.events {
                let fields = self
                    .procs
                    .is_some()
                    .then(|| attribute::json_fields(self.actor(e).map(|(_, p)| &**p)));
                json::write_event_with(e, fields, out);
            }
            self.wrote = true;
        } else if self.opts.explain {
            for e in &self.events {
                // Notes for the first three duplicate ACKs of a run (JSON has them all).
                if matches!(e.kind, EventKind::DupAck { count, .. } if count > 3) {
                    continue;
                }
                if self.opts.lines {
                    out.extend_from_slice(if e.about_line { b"    ^ " } else { b"    * " });
                } else {
                    timefmt::put_hms(out, self.clock.local_secs(e.ts.secs));
                    timefmt::put_frac(out, e.ts.nanos, false);
                    out.push(b' ');
                }
                let _ = write!(out, "{e}");
                if let Some((role, p)) = self.actor(e) {
                    let _ = match role {
                        Some(role) => write!(out, " ({role}: {} pid {})", p.comm, p.pid),
                        None => write!(out, " ({} pid {})", p.comm, p.pid),
                    };
                }
                out.push(b'\n');
            }
            self.wrote = true;
        }
        self.events.clear();
    }

    /// The process a note is about: the client's for verdicts on a connection attempt
    /// (refused, retried, gave up, no answer), else the process of the endpoint that acted.
    fn actor(&self, e: &Event) -> Option<(Option<&'static str>, &Arc<Process>)> {
        // Refused: `from` is the refusing server, `to` the client.
        let client = matches!(e.kind, EventKind::Refused { .. });
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
        if client {
            return self.process_of(e.conn, &e.to).map(|p| (Some("client"), p));
        }
        let p = self.process_of(e.conn, &e.from)?;
        Some((about_client.then_some("client"), p))
    }

    /// A segment the host dropped: its note (JSON event); one that never reached the wire
    /// gets a line of its own first (`--explain`), since no hook printed it.
    pub fn dropped(
        &mut self,
        renderer: &mut Renderer,
        seg: &Segment,
        cause: &DropCause,
        out: &mut Vec<u8>,
    ) {
        self.write_events(out);
        let Some(t) = self.tracker.as_mut() else {
            return;
        };
        let seen = t.dropped(seg, cause, &mut self.events);
        if seen && self.last != Some(seg_key(seg)) {
            // Its line is further up: a note of its own, naming the segment.
            for e in &mut self.events {
                e.about_line = false;
            }
        }
        if !seen && self.opts.explain && self.opts.lines && self.json.is_none() {
            let from = out.len();
            renderer.render(seg, out);
            if out.last() == Some(&b'\n') && out.len() > from {
                out.pop();
                out.extend_from_slice(b" [not on the wire]\n");
            }
            self.wrote = true;
        }
        self.write_events(out);
    }

    /// An ICMP error about a traced segment: its line (or JSON object, as the quoted
    /// segment's with the error's text), then its note.
    pub fn icmp(&mut self, renderer: &mut Renderer, e: &IcmpError, out: &mut Vec<u8>) {
        if let Some(t) = self.tracker.as_mut() {
            t.sweep(e.quoted.ts, &mut self.events);
        }
        self.write_events(out);
        if let Some(t) = self.tracker.as_mut() {
            t.icmp(e, &mut self.events);
        }
        if self.opts.lines && self.json.is_none() {
            renderer.render_icmp(e, out);
            self.wrote = true;
        }
        // The last line is no segment's now: a drop note after it names its segment.
        self.last = None;
        self.write_events(out);
    }

    /// The summary now (SIGUSR1), if `--summary` or `--json` asked for it.
    pub fn summary(&mut self, out: &mut Vec<u8>) {
        let Some(t) = self.tracker.as_ref() else {
            return;
        };
        if let Some(g) = self.graphs.as_ref()
            && let Err(e) = g.write(&t.rows())
        {
            self.graph_error.get_or_insert(e.to_string());
        }
        if !(self.opts.summary || self.opts.json) {
            return;
        }
        let mut rows = t.rows();
        if self.procs.is_some() {
            for r in &mut rows {
                let c = self.process_of(r.conn, &r.client);
                let s = self.process_of(r.conn, &r.server);
                let label = |p: Option<&Arc<Process>>| p.map_or("-".to_string(), |p| p.label());
                r.process = Some(format!("{} > {}", label(c), label(s)));
            }
        }
        if self.opts.json {
            for r in &rows {
                let fields = self.procs.is_some().then(|| {
                    let c = self.process_of(r.conn, &r.client);
                    let s = self.process_of(r.conn, &r.server);
                    let mut m = attribute::json_fields(c.or(s).map(|p| &**p));
                    m.insert("client_pid".into(), c.map(|p| p.pid).into());
                    m.insert("client_comm".into(), c.map(|p| p.comm.clone()).into());
                    m.insert("server_pid".into(), s.map(|p| p.pid).into());
                    m.insert("server_comm".into(), s.map(|p| p.comm.clone()).into());
                    m
                });
                json::write_row_with(r, fields, out);
            }
        } else {
            if self.wrote {
                out.push(b'\n');
            }
            let text = if self.opts.summary_long {
                summary::long(&rows, &t.totals(), &mut self.clock)
            } else {
                summary::table(&rows, &t.totals(), &mut self.clock)
            };
            out.extend_from_slice(text.as_bytes());
            self.wrote = true;
        }
    }

    /// End of the trace: pending verdicts (a refused client that stopped retrying, SYNs
    /// never answered), then the summary.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(t) = self.tracker.as_mut() {
            t.finish(&mut self.events);
            self.write_events(out);
        }
        self.summary(out);
    }
}
