//! tcptrace: tcpdump's TCP lines, with the filtering and record building done in the kernel.
use std::{
    collections::BTreeMap,
    io::{self, Write},
    ops::ControlFlow,
    process::ExitCode,
};

use anyhow::{Context as _, Result, bail};
use aya::maps::{MapData, RingBuf};
use clap::Parser as _;
use tcptrace::{
    attribute::{self, Attributor},
    cli::Cli,
    decode::{IcmpError, Segment, Tail, Timestamp},
    kernel::attrib::event_from_bytes,
    kernel::{CounterReader, Counters, Kernel, KernelError, XdpModeArg, fate::Namer, if_index},
    metrics::{self, Metrics},
    pcapng::PcapngOut,
    plan::{self, Plan, Source},
    privileges,
    render::{Renderer, graph::Graphs},
    rotate::{RotateError, Rotating},
    source::{
        Sink,
        links::{self, LinkEvent},
        live, offline,
    },
    stats::{self, Tally},
    track::{fate::DropCause, report::Report},
};
use tcptrace_common::{
    Record,
    fate::{DropRecord, IcmpRecord},
};

/// A refusal of clap's as one line, without its `error: ` prefix, usage and hints; the
/// values an option takes, when clap lists them, follow in parentheses.
fn clap_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
    // "the following required arguments were not provided:" lists them on later lines.
    if line.ends_with(':')
        && let Some(ContextValue::Strings(args)) = e.get(ContextKind::InvalidArg)
    {
        line.push(' ');
        line.push_str(&args.join(", "));
    }
    if let Some(ContextValue::Strings(values)) = e.get(ContextKind::ValidValue)
        && !values.is_empty()
    {
        line.push_str(&format!(" (possible values: {})", values.join(", ")));
    }
    let suggested = match e.get(ContextKind::SuggestedArg) {
        Some(ContextValue::String(s)) => Some(s),
        Some(ContextValue::Strings(v)) => v.first(),
        _ => None,
    };
    if let Some(s) = suggested {
        line.push_str(&format!(" (did you mean '{s}'?)"));
    }
    line
}

/// Decode → render → stdout (and the -w file), counting what was printed.
struct Printer<W: Write> {
    renderer: Renderer,
    out: W,
    buf: Vec<u8>,
    printed: u64,
    limit: Option<u64>,
    error: Option<io::Error>,
    file: Option<Rotating>,
    file_error: Option<RotateError>,
    /// --explain/--summary/--json/--no-lines; None: plain lines.
    report: Option<Report>,
    /// --stats/--metrics: connection totals.
    tally: Option<Tally>,
    /// --stats: every so often, with the kernel counters from here; JSON with --json.
    stats: Option<(std::time::Duration, CounterReader, bool)>,
    /// Attribution on (live): the kernel's attribution events and what they say.
    attrib: Option<(RingBuf<MapData>, Attributor)>,
    /// `--process`.
    show_process: bool,
    /// Packet fate on: names for the kernel's drop records.
    fate: Option<Namer>,
}

impl<W: Write> Printer<W> {
    /// The lines, or the tracker's outputs (`--explain`, `--summary`, `--json`, `--graph`),
    /// and the `-w` file, as the plan says.
    fn new(plan: &Plan, out: W, file: Option<Rotating>, graphs: Option<Graphs>) -> Self {
        let mut report = Report::new(plan.report);
        if let (Some(r), Some(g)) = (report.as_mut(), graphs) {
            r.set_graphs(g);
        }
        Printer {
            renderer: Renderer::new(plan.render),
            out,
            buf: Vec::with_capacity(64 * 1024),
            printed: 0,
            limit: plan.count,
            error: None,
            file,
            file_error: None,
            report,
            tally: None,
            stats: None,
            attrib: None,
            show_process: false,
            fate: None,
        }
    }

    /// Flushes stdout and closes the -w file; the first error met on the way.
    fn finish(mut self) -> Result<u64> {
        if let Some(r) = self.report.as_mut() {
            r.finish(&mut self.buf);
            if let Some(e) = r.graph_error() {
                let e = format!("--graph: cannot write the graphs: {e}");
                self.flush();
                bail!(e);
            }
            if r.evicted() > 0 {
                eprintln!(
                    "tcptrace: {} connection{} evicted from the tracker (--max-connections)",
                    r.evicted(),
                    plural(r.evicted())
                );
            }
        }
        self.flush();
        if let Some(e) = self.error.take() {
            return Err(e.into());
        }
        if let Some(e) = self.file_error.take() {
            return Err(e.into());
        }
        if let Some(f) = self.file.take() {
            f.finish()?;
        }
        Ok(self.printed)
    }

    fn write_out(&mut self) {
        if !self.buf.is_empty() && self.error.is_none() {
            if let Err(e) = self.out.write_all(&self.buf) {
                self.error = Some(e);
            }
            self.buf.clear();
        }
    }
}

impl<W: Write> Printer<W> {
    /// One record: to the -w file, then decoded and printed (or tracked).
    fn segment(
        &mut self,
        rec: &Record,
        ts: Timestamp,
        snap: &[u8],
        cooked: Option<u8>,
        tail: Option<&Tail>,
    ) -> ControlFlow<()> {
        if self.error.is_some()
            || self.file_error.is_some()
            || self.limit.is_some_and(|n| self.printed >= n)
        {
            return ControlFlow::Break(());
        }
        let seg = Segment {
            cooked,
            ..Segment::decode(rec, ts, tail)
        };
        // Attribute: the events the kernel sent before this record, then its processes.
        self.drain_attrib();
        let (sender, receiver) = match self.attrib.as_ref() {
            Some((_, a)) => (a.sender(&seg), a.receiver(&seg)),
            None => (None, None),
        };
        let shown = sender.clone().or_else(|| receiver.clone());
        if let Some(f) = self.file.as_mut() {
            let comment = shown.as_deref().map(attribute::comment);
            match f.write(rec, ts, snap, comment.as_deref()) {
                Ok(true) => {}
                // -G with -W: the last file is done; the trace ends, as tcpdump's does.
                Ok(false) => return ControlFlow::Break(()),
                Err(e) => {
                    self.file_error = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        if let Some(t) = self.tally.as_mut() {
            t.segment(&seg);
        }
        match self.report.as_mut() {
            None => {
                let from = self.buf.len();
                self.renderer.render(&seg, &mut self.buf);
                if self.show_process {
                    attribute::append_to_line(&mut self.buf, from, shown.as_deref());
                }
            }
            Some(r) => {
                r.set_processes(sender, receiver);
                r.segment(&mut self.renderer, &seg, &mut self.buf)
            }
        }
        self.printed += 1;
        if self.buf.len() >= 60 * 1024 {
            self.write_out();
        }
        if self.limit.is_some_and(|n| self.printed >= n) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

impl<W: Write> Printer<W> {
    /// Takes in every attribution event the kernel has sent so far.
    fn drain_attrib(&mut self) {
        if let Some((ring, a)) = self.attrib.as_mut() {
            while let Some(item) = ring.next() {
                if let Some(ev) = event_from_bytes(&item) {
                    a.event(&ev);
                }
            }
        }
    }
}

impl<W: Write> Sink for Printer<W> {
    fn record(&mut self, rec: &Record, ts: Timestamp, snap: &[u8]) -> ControlFlow<()> {
        self.segment(rec, ts, snap, None, None)
    }

    fn cooked(&mut self, rec: &Record, ts: Timestamp, snap: &[u8], pkttype: u8) -> ControlFlow<()> {
        self.segment(rec, ts, snap, Some(pkttype), None)
    }

    fn record_tail(
        &mut self,
        rec: &Record,
        ts: Timestamp,
        snap: &[u8],
        cooked: Option<u8>,
        tail: &Tail,
    ) -> ControlFlow<()> {
        self.segment(rec, ts, snap, cooked, Some(tail))
    }

    fn dropped(&mut self, d: &DropRecord, ts: Timestamp) {
        self.drain_attrib();
        let (Some(namer), Some(r)) = (self.fate.as_mut(), self.report.as_mut()) else {
            return;
        };
        let cause = DropCause {
            reason: namer.reason(d.reason),
            function: namer.function(d.location),
        };
        let seg = Segment::decode(&d.rec, ts, None);
        r.dropped(&mut self.renderer, &seg, &cause, &mut self.buf);
    }

    fn icmp(&mut self, i: &IcmpRecord, ts: Timestamp, cooked: Option<u8>) -> ControlFlow<()> {
        if self.error.is_some()
            || self.file_error.is_some()
            || self.limit.is_some_and(|n| self.printed >= n)
        {
            return ControlFlow::Break(());
        }
        self.drain_attrib();
        let mut e = IcmpError::decode(i, ts);
        e.quoted.cooked = cooked;
        match self.report.as_mut() {
            None => self.renderer.render_icmp(&e, &mut self.buf),
            Some(r) => r.icmp(&mut self.renderer, &e, &mut self.buf),
        }
        self.printed += 1;
        if self.limit.is_some_and(|n| self.printed >= n) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn skipped(&mut self, ts: Timestamp) {
        self.renderer.observe(ts);
    }

    fn invalid(&mut self) {
        self.renderer.observe_invalid();
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
        if let Some(r) = self.report.as_mut() {
            r.summary(&mut self.buf);
            self.flush();
        }
    }

    fn every(&self) -> Option<std::time::Duration> {
        self.stats.as_ref().map(|s| s.0)
    }

    fn periodic(&mut self) {
        // Lines printed so far come first.
        self.flush();
        let (Some((_, reader, json)), Some(tally)) = (self.stats.as_ref(), self.tally.as_ref())
        else {
            return;
        };
        let k = reader.totals().unwrap_or_default();
        let line = if *json {
            stats::json(now(), &k, &tally.totals)
        } else {
            stats::line(&k, &tally.totals)
        };
        eprintln!("{line}");
    }
}

/// The wall clock now.
fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::new(d.as_secs() as i64, d.subsec_nanos())
}

/// The interfaces being traced; attaches to new ones with `-i any`.
struct Tracing<'k> {
    kernel: &'k mut Kernel,
    mode: XdpModeArg,
    any: bool,
    several: bool,
    traced: BTreeMap<u32, String>,
    /// The last traced interface, once it has gone.
    last_gone: Option<String>,
    /// Counters of interfaces that have gone (`-v`), by name.
    gone_counts: BTreeMap<String, Counters>,
}

impl Tracing<'_> {
    /// Attaches to `name`; returns the hooks used (the banner's words).
    fn attach(&mut self, idx: u32, name: String) -> Result<String, (String, KernelError)> {
        match self.kernel.attach(&name, self.mode) {
            Ok(att) => {
                let hooks = att.hooks();
                if self.several {
                    eprintln!("tcptrace: {name}: {hooks}");
                }
                self.traced.insert(idx, name);
                Ok(hooks)
            }
            Err(e) => Err((name, e)),
        }
    }
}

impl live::LinkHandler for Tracing<'_> {
    fn watched(&self) -> Vec<u32> {
        self.traced.keys().copied().collect()
    }

    fn event(&mut self, ev: LinkEvent) -> bool {
        match ev {
            LinkEvent::New(idx) if self.any && !self.traced.contains_key(&idx) => {
                if let Some(name) = links::name(idx)
                    && let Err((name, e)) = self.attach(idx, name)
                {
                    eprintln!("tcptrace: {name}: not traced: {e}");
                }
                true
            }
            LinkEvent::New(_) => true,
            LinkEvent::Gone(idx) => {
                let Some(name) = self.traced.remove(&idx) else {
                    return true;
                };
                if let Some(c) = self.kernel.take_iface_counters(idx) {
                    self.gone_counts.entry(name.clone()).or_default().add(&c);
                }
                if self.any {
                    return true;
                }
                if self.traced.is_empty() {
                    self.last_gone = Some(name);
                    return false;
                }
                eprintln!("tcptrace: {name}: the interface disappeared; tracing the others");
                true
            }
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// tcpdump's three closing lines, with tcptrace's meanings; then, with `-v`, one line
/// per interface.
fn print_stats(printed: u64, c: &Counters, per_iface: &BTreeMap<String, Counters>) {
    eprintln!("{printed} packet{} captured", plural(printed));
    eprintln!(
        "{} packet{} received by filter",
        c.matched,
        plural(c.matched)
    );
    eprintln!("{} packet{} dropped by kernel", c.lost, plural(c.lost));
    for (name, c) in per_iface {
        eprintln!(
            "{name}: {} packet{} received by filter, {} dropped by kernel; {} seen, {} TCP, {} malformed, {} cut short, {} fragments",
            c.matched,
            plural(c.matched),
            c.lost,
            c.seen,
            c.tcp,
            c.malformed,
            c.truncated,
            c.fragments
        );
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                // --help, --version: clap's text on stdout, exit status 0.
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // Bad arguments: one line and exit status 1, as tcpdump.
            eprintln!("tcptrace: {}", clap_line(&e));
            return ExitCode::FAILURE;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout (e.g. `| head`) is not an error worth a message.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("tcptrace: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, each said once: a cause whose text the
/// message already holds (`{path}: {io error}` over that io error) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

fn run(cli: Cli) -> Result<ExitCode> {
    let plan = Plan::new(&cli)?;
    if let Some(ns) = &plan.netns {
        tcptrace::source::netns::enter(ns)?;
    }
    match &plan.source {
        Source::ListInterfaces => {
            let mut out = io::stdout().lock();
            for l in tcptrace::source::netns::list() {
                writeln!(out, "{l}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Source::Offline(path) => offline(&plan, path),
        Source::Live(live) => live_trace(&plan, live),
    }
}

/// `--graph`: the folder made before anything is attached (a bad one is one error line).
fn graphs(plan: &Plan) -> Result<Option<Graphs>> {
    plan.graph
        .as_ref()
        .map(|dir| {
            Graphs::new(dir, plan.report.max_connections)
                .with_context(|| format!("--graph: cannot create {}", dir.display()))
        })
        .transpose()
}

/// `-w`: pcapng files, rotated; Linux cooked v2 frames for several interfaces, the input
/// file's name in the section header when replaying one.
fn write_file(w: &plan::Write, cooked: bool, input: Option<String>) -> Result<Rotating> {
    let snaplen = w.snaplen;
    let open: Box<dyn Fn(&std::path::Path) -> _> = if cooked {
        Box::new(move |p| PcapngOut::create_cooked(p, snaplen))
    } else {
        Box::new(move |p| PcapngOut::create(p, snaplen, input.clone()))
    };
    Ok(Rotating::create(&w.path, w.rotation, open)?)
}

/// `-r`: every frame through the kernel program, then the same outputs as live.
fn offline(plan: &Plan, path: &std::path::Path) -> Result<ExitCode> {
    let graphs = graphs(plan)?;
    let mut kernel = Kernel::load_sized(&plan.filter, plan.config, plan.ring_bytes)?;
    let mut ring = kernel.take_ring()?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let file = plan
        .write
        .as_ref()
        .map(|w| write_file(w, false, Some(name)))
        .transpose()?;
    let stdout = io::BufWriter::new(io::stdout().lock());
    let mut printer = Printer::new(plan, stdout, file, graphs);
    let unfiltered = plan.filter.enabled == 0;
    let replayed = offline::replay(path, &mut kernel, &mut ring, &mut printer, unfiltered);
    let finished = printer.finish();
    replayed?;
    finished?;
    Ok(ExitCode::SUCCESS)
}

/// `-i`: attach, trace until a signal, `-c` or the interfaces go, detach, closing lines.
fn live_trace(plan: &Plan, live: &plan::Live) -> Result<ExitCode> {
    let graphs = graphs(plan)?;
    let targets: Vec<(u32, String)> = if live.any {
        links::all()
    } else {
        live.ifaces
            .iter()
            .map(|name| Ok((if_index(name)?, name.clone())))
            .collect::<Result<_, KernelError>>()?
    };
    let several = live.several();
    let filter = &plan.filter;
    let mut procs = live.procs.filter(attribute::cgroup::ids_for)?;
    let attributing = live.attributing;
    if attributing {
        // The socket hooks record only sockets that can carry segments the filter matches.
        attribute::restrict_to(&mut procs, filter, attribute::ephemeral_ports());
    }
    // -Z: who to become once attached (a missing -Z user is an error before anything is).
    let user = privileges::target(live.user.as_deref())?;
    let mut kernel = Kernel::load_with(
        filter,
        plan.config,
        plan.ring_bytes,
        attributing.then_some(&procs),
    )?;
    let ring = kernel.take_ring()?;
    // The first file as the -Z user (tcpdump opens it after its switch); the next ones are.
    let file = privileges::as_user(user.as_ref(), || {
        plan.write
            .as_ref()
            .map(|w| write_file(w, several, None))
            .transpose()
    })?;
    // --metrics: bound before anything is attached, served once the runtime runs.
    let metrics_listener = match live.metrics {
        Some(addr) => {
            Some(metrics::bind(addr).with_context(|| format!("--metrics {addr}: cannot listen"))?)
        }
        None => None,
    };
    let metrics = match &metrics_listener {
        Some(_) => Some(Metrics::new(kernel.counter_reader()?)),
        None => None,
    };
    let stats_reader = match live.stats {
        Some(_) => Some(kernel.counter_reader()?),
        None => None,
    };
    let any = live.any;
    let mut tracing = Tracing {
        kernel: &mut kernel,
        mode: live.xdp_mode,
        any,
        several,
        traced: BTreeMap::new(),
        last_gone: None,
        gone_counts: BTreeMap::new(),
    };
    let mut hooks = String::new();
    for (idx, name) in targets {
        match tracing.attach(idx, name) {
            Ok(h) => hooks = h,
            // With -i any, an interface that cannot be traced is said and skipped.
            Err((name, e)) if any => eprintln!("tcptrace: {name}: not traced: {e}"),
            Err((_, e)) => return Err(e.into()),
        }
    }
    // The drop hook: after the interfaces too; without it, the trace goes on as before.
    let fate = match tracing.kernel.attach_drops() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("tcptrace: packet fate off: {e}");
            None
        }
    };
    // The socket hooks: after the interfaces, so that a refusal there costs nothing here.
    let mut attrib = None;
    if attributing {
        match tracing.kernel.attach_attribution() {
            Ok(()) => {
                // Sockets opened before the trace, after the hooks are on (one opened
                // meanwhile is seen by both; the hooks' newer events are applied after).
                let mut a = Attributor::new();
                for ev in attribute::existing::scan(&procs) {
                    if procs.enabled != 0 {
                        tracing.kernel.attrib_insert(&ev.key, &ev.owner)?;
                    }
                    a.event(&ev);
                }
                attrib = Some((tracing.kernel.take_attrib_ring()?, a))
            }
            // The process filter cannot work without them.
            Err(e) if procs.enabled != 0 => {
                bail!("--pid/--comm/--container need the socket hooks: {e}")
            }
            Err(e) => eprintln!("tcptrace: process attribution off: {e}"),
        }
    }
    // Attached, maps and rings open, sockets scanned: the rest needs at most what -i any's
    // new interfaces and clsact's detach at exit need.
    privileges::drop_to(
        user.as_ref(),
        &privileges::kept(any, !tcptrace::kernel::has_tcx()),
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    // Signals are caught from here on: a SIGINT right after the banner still detaches.
    let signals = {
        let _rt = rt.enter();
        if let (Some(l), Some(m)) = (metrics_listener, &metrics) {
            metrics::serve(l, m.clone())?;
        }
        live::Signals::new()?
    };
    if several {
        let what = if any {
            "any".to_string()
        } else {
            live.ifaces.join(", ")
        };
        eprintln!("tcptrace: listening on {what}, printing TCP as tcpdump -n -i any");
    } else {
        eprintln!(
            "tcptrace: listening on {} ({hooks}), printing TCP as tcpdump -n",
            live.ifaces[0]
        );
    }

    let stdout = io::stdout().lock();
    let mut printer = Printer::new(plan, stdout, file, graphs);
    if live.stats.is_some() || metrics.is_some() {
        printer.tally = Some(Tally::new(plan.report.max_connections, metrics.clone()));
    }
    if let (Some(every), Some(reader)) = (live.stats, stats_reader) {
        printer.stats = Some((every, reader, plan.report.json));
    }
    if attrib.is_some() {
        printer.show_process = live.show_process;
        if let Some(r) = printer.report.as_mut() {
            r.set_attribution(live.show_process);
        }
    }
    if let Some(r) = printer.report.as_mut() {
        r.set_accept_queues(attribute::listen::AcceptQueues::default());
    }
    printer.attrib = attrib;
    printer.fate = fate;
    let clock = live::MonoClock::now();
    let (mut ring, stop) =
        rt.block_on(live::run(ring, clock, &mut tracing, signals, &mut printer))?;
    let gone = tracing.last_gone.take();
    let traced = std::mem::take(&mut tracing.traced);
    let mut per_iface = std::mem::take(&mut tracing.gone_counts);
    drop(tracing);
    // Detach first, then take what is still in the ring, then read final counters.
    kernel.detach();
    if stop == live::Stop::Signal {
        let _ = live::drain(&mut ring, &clock, &mut printer);
    }
    // --stats: one last line, the whole run's totals.
    printer.periodic();
    let counters = kernel.counters()?;
    if plan.verbose {
        for (idx, c) in kernel.iface_counters()? {
            if let Some(name) = traced.get(&idx) {
                per_iface.entry(name.clone()).or_default().add(&c);
            }
        }
    }
    // -v: what the socket hooks did, one line before tcpdump's closing lines.
    let attrib_counters = (plan.verbose && printer.attrib.is_some())
        .then(|| {
            // Detached first: the live entries and the counters then agree.
            kernel.detach_attribution();
            kernel.attrib_counters()
        })
        .transpose()?;
    drop(kernel);
    let printed = printer.finish()?;
    if let Some(a) = attrib_counters {
        eprintln!(
            "tcptrace: attribution: {} owners recorded, {} evicted, {} events lost, {} unreadable; filter lookups: {} with an owner, {} without",
            a.recorded,
            a.evicted(),
            a.lost,
            a.unreadable,
            a.hits,
            a.misses
        );
    }
    if stop == live::Stop::Gone {
        // As tcpdump: the error, then the closing lines, then exit 1.
        let iface = gone.unwrap_or_default();
        eprintln!("tcptrace: {iface}: the interface disappeared");
        print_stats(printed, &counters, &per_iface);
        return Ok(ExitCode::FAILURE);
    }
    print_stats(printed, &counters, &per_iface);
    Ok(ExitCode::SUCCESS)
}
