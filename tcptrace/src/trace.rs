//! One run, from its plan: list the interfaces, replay a capture (`-r`), or trace live
//! (`-i`): load and attach the kernel programs, build the [`Pipeline`], feed it from the
//! source until the end, detach, and print tcpdump's closing lines.
use std::{
    collections::BTreeMap,
    io::{self, Write},
    process::ExitCode,
};

use anyhow::{Context as _, Result, bail};

use crate::{
    attribute::{self, Attributor},
    kernel::{Counters, Kernel, KernelError, XdpModeArg, if_index},
    output::{
        graph::Graphs,
        metrics::{self, Metrics},
        pcapng::PcapngOut,
        rotate::Rotating,
    },
    pipeline::{Parts, Pipeline},
    plan::{self, Plan, Source},
    privileges,
    source::{
        Sink,
        links::{self, LinkEvent},
        live, netns, offline,
    },
};

/// Runs what the plan says; the exit status (tcpdump's: 1 when the interface went).
pub fn run(plan: &Plan) -> Result<ExitCode> {
    if let Some(ns) = &plan.netns {
        netns::enter(ns)?;
    }
    match &plan.source {
        Source::ListInterfaces => {
            let mut out = io::stdout().lock();
            for l in netns::list() {
                writeln!(out, "{l}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Source::Offline(path) => offline(plan, path),
        Source::Live(live) => live_trace(plan, live),
    }
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
    fn watched(&self, into: &mut Vec<u32>) {
        into.extend(self.traced.keys().copied());
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
    let mut ring = kernel.take_rings()?;
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
    let parts = Parts {
        file,
        graphs,
        ..Parts::default()
    };
    let mut pipeline = Pipeline::new(plan, stdout, parts);
    let unfiltered = plan.filter.enabled == 0;
    let replayed = offline::replay(path, &mut kernel, &mut ring, &mut pipeline, unfiltered);
    let finished = pipeline.finish();
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
    let ring = kernel.take_rings()?;
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
    let (mut attrib, mut attrib_ring) = (None, None);
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
                attrib_ring = Some(tracing.kernel.take_attrib_ring()?);
                attrib = Some(a);
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
        &privileges::kept(any, !crate::kernel::has_tcx()),
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

    let parts = Parts {
        file,
        graphs,
        attrib,
        attrib_ring,
        show_process: live.show_process,
        fate,
        stats: live.stats.zip(stats_reader),
        metrics,
        accept_queues: Some(attribute::listen::AcceptQueues::default()),
    };
    let mut printer = Pipeline::new(plan, io::stdout().lock(), parts);
    let clock = live::MonoClock::now();
    let (mut ring, stop) =
        rt.block_on(live::run(ring, clock, &mut tracing, signals, &mut printer))?;
    let gone = tracing.last_gone.take();
    let traced = std::mem::take(&mut tracing.traced);
    let mut per_iface = std::mem::take(&mut tracing.gone_counts);
    drop(tracing);
    // Detach first, then take what is still in the rings (all of it: nothing older can
    // come), then read final counters.
    kernel.detach();
    if stop != live::Stop::Sink {
        let _ = live::drain(&mut ring, crate::source::rings::ALL, &clock, &mut printer);
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
    let attrib_counters = (plan.verbose && printer.attributing())
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
