//! The userspace pipeline: source → decode → attribute → track → outputs.
//!
//! A source ([`crate::source`]: live rings, or a capture replayed through the kernel
//! program) hands the kernel's records to [`Pipeline`], its [`Sink`]. Each record is
//! decoded once ([`crate::decode`]), attributed to its processes ([`crate::attribute`]),
//! tracked once by the run's one [`Tracker`] ([`crate::track`]), then handed with the
//! tracker's events to every output of the list ([`crate::output`]), in order.

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use aya::maps::{MapData, RingBuf};
use tcptrace_common::{
    Record,
    fate::{DropRecord, IcmpRecord},
    item::kind,
    tcp_flags::RST,
};

use crate::attribute::{Attributor, listen::AcceptQueues};
use crate::decode::{self, IcmpError, Segment, Timestamp};
use crate::kernel::CounterReader;
use crate::kernel::fate::Namer;
use crate::output::{
    self, Output, Owners, ReportOptions, Seen, Shared, graph::Graphs, metrics::Metrics,
    rotate::Rotating, savefile::SaveFile, stats::Tally,
};
use crate::plan::Plan;
use crate::render::Renderer;
use crate::source::{Captured, Sink};
use crate::timefmt::LocalClock;
use crate::track::event::{Event, EventKind};
use crate::track::fate::DropCause;
use crate::track::{TrackConfig, Tracker};

/// What a run adds to the plan's outputs: files opened and kernel parts taken once the
/// programs are loaded.
#[derive(Default)]
pub struct Parts {
    /// `-w`.
    pub file: Option<Rotating>,
    /// `--graph`.
    pub graphs: Option<Graphs>,
    /// Attribution on: what the socket hooks said so far.
    pub attrib: Option<Attributor>,
    /// Live: the socket hooks' events, read before each record.
    pub attrib_ring: Option<RingBuf<MapData>>,
    /// `--process`.
    pub show_process: bool,
    /// Packet fate on: names for the kernel's drop records.
    pub fate: Option<Namer>,
    /// `--stats`: how often, and the kernel's counters.
    pub stats: Option<(Duration, CounterReader)>,
    /// `--metrics`.
    pub metrics: Option<Arc<Metrics>>,
    /// Live: the traced namespace's listeners, for "no answer" verdicts.
    pub accept_queues: Option<AcceptQueues>,
}

/// What tells a segment from the ones around it.
type SegKey = (std::net::IpAddr, u16, u32, u32, u16);

fn seg_key(seg: &Segment) -> SegKey {
    (seg.src, seg.sport, seg.seq, seg.ack, seg.flags)
}

pub struct Pipeline<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Bytes written to `out` so far, and its first error.
    flushed: u64,
    error: Option<io::Error>,
    /// Segments taken, and `-c`.
    printed: u64,
    limit: Option<u64>,
    attrib: Option<Attributor>,
    attrib_ring: Option<RingBuf<MapData>>,
    fate: Option<Namer>,
    accept_queues: Option<AcceptQueues>,
    tracker: Option<Tracker>,
    events: Vec<Event>,
    /// The last segment taken (a drop note goes right under it when it is its).
    last: Option<SegKey>,
    max_connections: usize,
    shared: Shared,
    outputs: Vec<Box<dyn Output>>,
}

impl<W: Write> Pipeline<W> {
    /// The outputs the plan asks for, writing text to `out`.
    pub fn new(plan: &Plan, out: W, parts: Parts) -> Self {
        Self::with(
            Renderer::new(plan.render),
            &plan.report,
            &LocalClock::system(),
            plan.count,
            out,
            parts,
        )
    }

    /// The same from its pieces (tests give a renderer and a clock of their own).
    pub fn with(
        renderer: Renderer,
        opts: &ReportOptions,
        clock: &LocalClock,
        limit: Option<u64>,
        out: W,
        parts: Parts,
    ) -> Self {
        let attributing = parts.attrib.is_some();
        let counting = parts.stats.is_some() || parts.metrics.is_some();
        // One tracker, whichever outputs want its events and rows.
        let tracker = (opts.tracking() || counting).then(|| {
            Tracker::new(TrackConfig {
                max_connections: opts.max_connections,
                keep_rows: opts.summary || opts.json || opts.graph,
            })
        });
        let mut outputs: Vec<Box<dyn Output>> = Vec::new();
        // The -w file first: it may end the trace before a segment counts.
        if let Some(f) = parts.file {
            // With packet fate on, its frames wait for their drops.
            outputs.push(Box::new(SaveFile::new(f, parts.fate.is_some())));
        }
        if let Some(g) = parts.graphs {
            outputs.push(Box::new(g));
        }
        outputs.extend(output::list(opts, attributing && parts.show_process, clock));
        if counting {
            let stats = parts.stats.map(|(every, r)| (every, r, opts.json));
            outputs.push(Box::new(Tally::new(
                opts.max_connections,
                parts.metrics,
                stats,
            )));
        }
        Pipeline {
            out,
            buf: Vec::with_capacity(64 * 1024),
            flushed: 0,
            error: None,
            printed: 0,
            limit,
            attrib: parts.attrib,
            attrib_ring: parts.attrib_ring,
            fate: parts.fate,
            accept_queues: parts.accept_queues,
            tracker,
            events: Vec::new(),
            last: None,
            max_connections: opts.max_connections,
            shared: Shared {
                renderer,
                owners: attributing.then(Owners::default),
                wrote: false,
            },
            outputs,
        }
    }

    /// Whether connections are tracked.
    pub fn tracking(&self) -> bool {
        self.tracker.is_some()
    }

    /// Whether the socket hooks' events are read (attribution on).
    pub fn attributing(&self) -> bool {
        self.attrib.is_some()
    }

    /// One decoded segment through the stages: attribute, record (`-w`), track, outputs.
    pub fn segment(&mut self, seg: &Segment, raw: Option<(&Record, &[u8])>) -> ControlFlow<()> {
        if self.error.is_some() || self.limit.is_some_and(|n| self.printed >= n) {
            return ControlFlow::Break(());
        }
        // Attribute: the events the kernel sent before this record, then its processes.
        self.drain_attrib();
        let (sender, receiver) = match self.attrib.as_ref() {
            Some(a) => (a.sender(seg), a.receiver(seg)),
            None => (None, None),
        };
        let mut seen = Seen {
            seg,
            raw,
            conn: None,
            events: &[],
            sender,
            receiver,
        };
        for o in &mut self.outputs {
            o.record(&seen)?;
        }
        // Track: verdicts on the connections it outdated come before its line.
        if let Some(t) = self.tracker.as_mut() {
            t.sweep(seg.ts, &mut self.events);
        }
        self.emit();
        if let Some(t) = self.tracker.as_mut() {
            seen.conn = t.segment(seg, &mut self.events);
        }
        if let (Some(o), Some(id)) = (self.shared.owners.as_mut(), seen.conn) {
            o.record(id, &seen, self.max_connections);
        }
        self.last = Some(seg_key(seg));
        seen.events = &self.events;
        for o in &mut self.outputs {
            o.segment(&seen, &mut self.shared, &mut self.buf);
        }
        self.emit();
        self.printed += 1;
        if self.buf.len() >= 60 * 1024 {
            self.write_out();
        }
        if self.limit.is_some_and(|n| self.printed >= n) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// A segment the host dropped, and why: its note (a line of its own first when no
    /// hook printed it).
    pub fn drop_segment(&mut self, seg: &Segment, cause: &DropCause) {
        // Without a tracker (`-w` alone) whether a hook saw it is unknown: false, "not
        // known to be seen". Only the -w file is told then, and it finds the segment's
        // frame itself; the outputs that print something for an unseen segment
        // (`--explain`'s line) run with a tracker.
        let seen = match self.tracker.as_mut() {
            Some(t) => t.dropped(seg, cause, &mut self.events),
            None => false,
        };
        if seen && self.last != Some(seg_key(seg)) {
            // Its line is further up: a note of its own, naming the segment.
            for e in &mut self.events {
                e.about_line = false;
            }
        }
        for o in &mut self.outputs {
            o.dropped(seg, seen, cause, &mut self.shared, &mut self.buf);
        }
        self.emit();
    }

    /// Hands the tracker's events to every output, in order, and forgets them.
    fn emit(&mut self) {
        for e in self.events.iter_mut() {
            if let (EventKind::NoAnswer { syns }, Some(q)) = (&e.kind, &self.accept_queues)
                && let Some((queued, overflows)) = q.full(e.to.port)
            {
                e.kind = EventKind::AcceptQueueFull {
                    syns: *syns,
                    queued,
                    overflows,
                };
            }
            for o in self.outputs.iter_mut() {
                o.event(e, &mut self.shared, &mut self.buf);
            }
        }
        self.events.clear();
    }

    /// An ICMP error about a traced segment: its line, then its note.
    pub fn icmp(&mut self, e: &IcmpError) -> ControlFlow<()> {
        if self.error.is_some() || self.limit.is_some_and(|n| self.printed >= n) {
            return ControlFlow::Break(());
        }
        self.drain_attrib();
        if let Some(t) = self.tracker.as_mut() {
            t.sweep(e.quoted.ts, &mut self.events);
            self.emit();
        }
        if let Some(t) = self.tracker.as_mut() {
            t.icmp(e, &mut self.events);
        }
        for o in &mut self.outputs {
            o.icmp(e, &mut self.shared, &mut self.buf);
        }
        // The last line is no segment's now: a drop note after it names its segment.
        self.last = None;
        self.emit();
        self.printed += 1;
        if self.limit.is_some_and(|n| self.printed >= n) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Takes in every attribution event the kernel has sent so far.
    fn drain_attrib(&mut self) {
        if let (Some(ring), Some(a)) = (self.attrib_ring.as_mut(), self.attrib.as_mut()) {
            while let Some(item) = ring.next() {
                if let Some(decode::Item::Attrib(ev)) = decode::item(&item) {
                    a.event(&ev);
                }
            }
        }
    }

    fn write_out(&mut self) {
        if !self.buf.is_empty() && self.error.is_none() {
            if let Err(e) = self.out.write_all(&self.buf) {
                self.error = Some(e);
            }
            self.flushed += self.buf.len() as u64;
            self.buf.clear();
        }
    }

    /// The end: pending verdicts (a refused client that stopped retrying, SYNs never
    /// answered), the summary, stdout flushed and the files closed. The segments taken,
    /// or the first error met.
    pub fn finish(mut self) -> Result<u64> {
        if let Some(t) = self.tracker.as_mut() {
            t.finish(&mut self.events);
        }
        self.emit();
        self.summary();
        if let Some(n) = self
            .tracker
            .as_ref()
            .map(Tracker::evicted)
            .filter(|&n| n > 0)
        {
            let s = if n == 1 { "" } else { "s" };
            eprintln!("tcptrace: {n} connection{s} evicted from the tracker (--max-connections)");
        }
        if let Some(e) = self.error.take() {
            return Err(e.into());
        }
        for o in self.outputs {
            o.finish()?;
        }
        Ok(self.printed)
    }
}

impl<W: Write> Sink for Pipeline<W> {
    fn record(&mut self, c: Captured<'_>) -> ControlFlow<()> {
        let seg = Segment {
            cooked: c.cooked,
            ..Segment::decode(c.rec, c.ts, c.tail)
        };
        self.segment(&seg, Some((c.rec, c.snap)))
    }

    fn dropped(&mut self, d: &DropRecord, ts: Timestamp) {
        self.drain_attrib();
        let Some(namer) = self.fate.as_mut() else {
            return;
        };
        let seg = Segment::decode(&d.rec, ts, None);
        match d.hdr.kind {
            kind::RESET => {
                if let Some(t) = self.tracker.as_mut() {
                    t.reset_sent(&seg, namer.reset_reason(d.reason), &mut self.events);
                    // A note under the RST's line when it is the last one printed.
                    let last_rst = self.last.is_some_and(|(src, sport, _, _, flags)| {
                        src == seg.src && sport == seg.sport && flags & RST != 0
                    });
                    for e in &mut self.events {
                        e.about_line = last_rst;
                    }
                    self.emit();
                }
            }
            kind::RETRANSMIT => {
                if let Some(t) = self.tracker.as_mut() {
                    t.retransmitted(&seg, d.reason as i32, &mut self.events);
                    self.emit();
                }
            }
            _ => {
                let cause = DropCause {
                    reason: namer.reason(d.reason),
                    function: namer.function(d.location),
                };
                self.drop_segment(&seg, &cause);
            }
        }
    }

    fn icmp(
        &mut self,
        rec: &Record,
        i: &IcmpRecord,
        ts: Timestamp,
        cooked: Option<u8>,
    ) -> ControlFlow<()> {
        let mut e = IcmpError::decode(rec, i, ts);
        e.quoted.cooked = cooked;
        Pipeline::icmp(self, &e)
    }

    fn skipped(&mut self, ts: Timestamp) {
        self.shared.renderer.observe(ts);
    }

    fn invalid(&mut self) {
        self.shared.renderer.observe_invalid();
    }

    fn flush(&mut self) {
        // Also between records (the live loop flushes every 10 ms): the attribution ring
        // must not fill up with the events of connections the filter does not take.
        self.drain_attrib();
        self.write_out();
        if self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e);
        }
    }

    fn summary(&mut self) {
        if let Some(t) = self.tracker.as_ref() {
            let mut rows = t.rows();
            if let Some(o) = &self.shared.owners {
                o.label(&mut rows);
            }
            self.shared.wrote = self.flushed > 0 || !self.buf.is_empty();
            for o in &mut self.outputs {
                o.summary(t, &rows, &mut self.shared, &mut self.buf);
            }
        }
        self.flush();
    }

    fn every(&self) -> Option<Duration> {
        self.outputs.iter().find_map(|o| o.every())
    }

    fn advance(&mut self, now: Timestamp) -> ControlFlow<()> {
        for o in &mut self.outputs {
            o.advance(now)?;
        }
        ControlFlow::Continue(())
    }

    fn periodic(&mut self) {
        // Lines printed so far come first.
        self.flush();
        for o in &mut self.outputs {
            o.periodic();
        }
    }
}

#[cfg(test)]
mod tests;
