//! What `--explain`, `--summary`, `--json` and `--no-lines` add to (or take from) the
//! printed lines. The printer hands every decoded segment to [`Report::segment`] instead
//! of rendering it itself when a [`Report`] exists; without those flags none is built and
//! the printing path is untouched.

use std::io::Write as _;

use super::event::{Event, EventKind};
use super::json::{self, SegmentWriter};
use super::summary;
use super::{TrackConfig, Tracker};
use crate::decode::Segment;
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
        if self.opts.lines {
            match self.json.as_mut() {
                None => renderer.render(seg, out),
                Some(w) => {
                    self.line.clear();
                    renderer.render(seg, &mut self.line);
                    let text = std::str::from_utf8(&self.line)
                        .ok()
                        .map(|l| l.trim_end_matches('\n'))
                        .filter(|l| !l.is_empty());
                    w.write(seg, conn, text, out);
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
        if self.opts.json {
            for e in &self.events {
                json::write_event(e, out);
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
                let _ = writeln!(out, "{e}");
            }
            self.wrote = true;
        }
        self.events.clear();
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
        let rows = t.rows();
        if self.opts.json {
            for r in &rows {
                json::write_row(r, out);
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
