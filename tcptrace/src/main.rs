//! tcptrace: tcpdump's TCP lines, with the filtering and record building done in the kernel.
use std::{
    collections::BTreeMap,
    io::{self, Write},
    net::IpAddr,
    ops::ControlFlow,
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context as _, Result, bail};
use clap::{ArgAction, Parser};
use tcptrace::{
    decode::{Segment, Tail, Timestamp},
    kernel::{Counters, Kernel, KernelError, XdpModeArg, if_index},
    pcapng::{PcapngOut, WriteError},
    render::{RenderOptions, Renderer, TsStyle},
    source::{
        Sink,
        links::{self, LinkEvent},
        live, offline,
    },
    track::report::{Report, ReportOptions},
};
use tcptrace_common::{Config, Record};

/// Trace TCP connections on an interface (or in a capture file) and print them as
/// tcpdump -n does, with the filtering done in the kernel.
#[derive(Parser, Debug)]
#[command(name = "tcptrace", version, disable_help_flag = false)]
struct Cli {
    /// Interface to trace (XDP or TC on ingress, TC on egress; see --xdp-mode). Repeatable;
    /// `any`: every interface of the network namespace, new ones included. With more than
    /// one, lines start with the interface and direction, as tcpdump -i any prints them.
    #[arg(
        short = 'i',
        long = "iface",
        value_name = "IFACE",
        conflicts_with = "read"
    )]
    iface: Vec<String>,

    /// Trace inside another network namespace: an `ip netns` name, a namespace file
    /// (`/proc/PID/ns/net`, a bind mount) or a PID (e.g. `--netns $(pidof nginx) -i eth0`).
    #[arg(long = "netns", value_name = "NAME|PATH|PID", conflicts_with = "read")]
    netns: Option<String>,

    /// List the interfaces that can be traced (in the namespace in use), as tcpdump -D.
    #[arg(short = 'D', long = "list-interfaces")]
    list_interfaces: bool,

    /// Read packets from a pcap or pcapng file instead of an interface.
    #[arg(short = 'r', value_name = "FILE")]
    read: Option<PathBuf>,

    /// Also write the traced packets to FILE as pcapng (the first --snaplen bytes of each
    /// frame, as they were). Lines are still printed.
    #[arg(short = 'w', value_name = "FILE")]
    write: Option<PathBuf>,

    /// Bytes of each frame the kernel copies for -w (1 to 512).
    #[arg(short = 's', long = "snaplen", value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u16).range(1..=tcptrace_common::MAX_SNAP as i64))]
    snaplen: u16,

    /// Kernel ring buffer size in KiB, as tcpdump -B (rounded up to a power of two; 4 to
    /// 1048576; default 4 MiB, about 25 000 records). Records that do not fit are counted
    /// as dropped, never lost silently.
    #[arg(short = 'B', long = "buffer-size", value_name = "KiB",
          default_value_t = tcptrace_common::RING_BYTES / 1024,
          value_parser = clap::value_parser!(u32).range(4..=1_048_576))]
    buffer_size: u32,

    /// Only segments to or from this host (IPv4 or IPv6 address; repeatable: any of them).
    #[arg(long = "host", value_name = "ADDR")]
    hosts: Vec<String>,

    /// Only segments with this source or destination port (repeatable: any of them).
    #[arg(long = "port", value_name = "PORT")]
    ports: Vec<String>,

    /// Stop after printing N segments (1 or more).
    #[arg(short = 'c', value_name = "N", allow_negative_numbers = true,
          value_parser = parse_count)]
    count: Option<u64>,

    /// Print absolute, rather than relative, TCP sequence numbers.
    #[arg(short = 'S', long = "absolute-tcp-sequence-numbers")]
    absolute: bool,

    /// Ingress hook: auto (native XDP on NICs, TC on virtual interfaces such as veth) |
    /// native | generic (XDP) | off (no XDP: TC ingress).
    #[arg(long = "xdp-mode", value_enum, default_value = "auto")]
    xdp_mode: XdpModeArg,

    /// Verbose: IP header fields and TCP checksum verdicts, as tcpdump -v.
    #[arg(short = 'v', action = ArgAction::Count)]
    verbose: u8,

    /// Quiet: less protocol information (`tcp LEN`), as tcpdump -q.
    #[arg(short = 'q')]
    quiet: bool,

    /// Timestamps: -t none, -tt epoch seconds, -ttt delta to the previous line,
    /// -tttt date and time, -ttttt delta to the first line.
    #[arg(short = 't', action = ArgAction::Count)]
    ts: u8,

    /// Nanosecond timestamps.
    #[arg(long = "nano")]
    nano: bool,

    /// Number each line, as tcpdump -#.
    #[arg(short = '#', long = "number")]
    number: bool,

    /// Accepted for tcpdump compatibility: addresses and ports are always numeric.
    #[arg(short = 'n', action = ArgAction::Count)]
    _numeric: u8,

    /// tcpdump 3.x style lines, as in the article (`S 1:1(0) win 16384 <mss 1460> (DF)`).
    #[arg(long = "classic")]
    classic: bool,

    /// After a line that opens, closes, resets or troubles a connection, an indented note
    /// saying so in plain English.
    #[arg(long = "explain")]
    explain: bool,

    /// A table of connections at exit (and on SIGUSR1 while running).
    #[arg(long = "summary")]
    summary: bool,

    /// JSON instead of text, one object per line: segments, connection events, summary rows.
    #[arg(long = "json")]
    json: bool,

    /// Print no line per segment (only notes, the summary or JSON events).
    #[arg(long = "no-lines")]
    no_lines: bool,

    /// Connections tracked at most (--explain/--summary/--json); the least recently
    /// active are evicted when full.
    #[arg(long = "max-connections", value_name = "N",
          default_value_t = tcptrace::track::DEFAULT_MAX_CONNECTIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..=u32::MAX as u64))]
    max_connections: u64,

    /// A pcap-filter expression, as tcpdump takes it (TCP/IP part: host, net, port,
    /// portrange, ip, ip6, tcp, tcp[tcpflags], vlan, and/or/not); evaluated in the kernel.
    /// And-ed with --host/--port when both are given.
    #[arg(
        value_name = "EXPRESSION",
        trailing_var_arg = true,
        allow_hyphen_values = false
    )]
    expr: Vec<String>,
}

/// `-c N`: a packet count, 1 or more (tcpdump refuses 0 and negative counts too).
fn parse_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("invalid packet count {s} (must be 1 or more)")),
    }
}

/// A refusal of clap's as one line, without its `error: ` prefix, usage and hints; the
/// values an option takes, when clap lists them, follow in parentheses.
fn clap_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
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

fn parse_hosts(raw: &[String]) -> Result<Vec<IpAddr>> {
    raw.iter()
        .map(|h| {
            h.parse::<IpAddr>().with_context(|| {
                format!("invalid host '{h}': give an IPv4 or IPv6 address (names are not resolved)")
            })
        })
        .collect()
}

fn parse_ports(raw: &[String]) -> Result<Vec<u16>> {
    raw.iter()
        .map(|p| {
            p.parse::<u16>()
                .with_context(|| format!("invalid port '{p}': give a number from 0 to 65535"))
        })
        .collect()
}

/// Decode → render → stdout (and the -w file), counting what was printed.
struct Printer<W: Write> {
    renderer: Renderer,
    out: W,
    buf: Vec<u8>,
    printed: u64,
    limit: Option<u64>,
    error: Option<io::Error>,
    file: Option<PcapngOut>,
    file_error: Option<WriteError>,
    /// --explain/--summary/--json/--no-lines; None: plain lines.
    report: Option<Report>,
}

impl<W: Write> Printer<W> {
    fn new(renderer: Renderer, out: W, limit: Option<u64>, file: Option<PcapngOut>) -> Self {
        Printer {
            renderer,
            out,
            buf: Vec::with_capacity(64 * 1024),
            printed: 0,
            limit,
            error: None,
            file,
            file_error: None,
            report: None,
        }
    }

    /// Flushes stdout and closes the -w file; the first error met on the way.
    fn finish(mut self) -> Result<u64> {
        if let Some(r) = self.report.as_mut() {
            r.finish(&mut self.buf);
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
        if let Some(f) = self.file.as_mut()
            && let Err(e) = f.write(rec, ts, snap)
        {
            self.file_error = Some(e);
            return ControlFlow::Break(());
        }
        let seg = Segment {
            cooked,
            ..Segment::decode(rec, ts, tail)
        };
        match self.report.as_mut() {
            None => self.renderer.render(&seg, &mut self.buf),
            Some(r) => r.segment(&mut self.renderer, &seg, &mut self.buf),
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

    fn skipped(&mut self, ts: Timestamp) {
        self.renderer.observe(ts);
    }

    fn invalid(&mut self) {
        self.renderer.observe_invalid();
    }

    fn flush(&mut self) {
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

/// tcpdump's three closing lines, with tcptrace's meanings.
fn print_stats(printed: u64, c: &Counters) {
    eprintln!("{printed} packet{} captured", plural(printed));
    eprintln!(
        "{} packet{} received by filter",
        c.matched,
        plural(c.matched)
    );
    eprintln!("{} packet{} dropped by kernel", c.lost, plural(c.lost));
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
    if let Some(ns) = &cli.netns {
        tcptrace::source::netns::enter(ns)?;
    }
    if cli.list_interfaces {
        let mut out = io::stdout().lock();
        for l in tcptrace::source::netns::list() {
            writeln!(out, "{l}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let filter = tcptrace::filter::compile_with(
        &parse_hosts(&cli.hosts)?,
        &parse_ports(&cli.ports)?,
        &cli.expr.join(" "),
    )?;
    let opts = RenderOptions {
        absolute_seq: cli.absolute,
        verbose: cli.verbose,
        quiet: cli.quiet,
        ts: match cli.ts {
            0 => TsStyle::Local,
            1 => TsStyle::None,
            2 => TsStyle::Epoch,
            3 => TsStyle::Delta,
            4 => TsStyle::Date,
            _ => TsStyle::SinceFirst,
        },
        nano: cli.nano,
        number: cli.number,
        classic: cli.classic,
        iface_prefix: false,
    };
    let report_opts = ReportOptions {
        explain: cli.explain,
        summary: cli.summary,
        json: cli.json,
        lines: !cli.no_lines,
        max_connections: usize::try_from(cli.max_connections).unwrap_or(usize::MAX),
    };
    let cfg = Config {
        checksums: u8::from(cli.verbose > 0),
        snaplen: if cli.write.is_some() { cli.snaplen } else { 0 },
        ..Config::default()
    };
    let ring_bytes = (cli.buffer_size * 1024).next_power_of_two();
    let file_name = |read: &Option<PathBuf>| {
        read.as_ref().map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
    };

    if let Some(path) = &cli.read {
        // Replay reads the ring right after each frame's test run: no wakeups needed.
        let cfg = Config {
            no_wakeup: 1,
            ..cfg
        };
        let mut kernel = Kernel::load_sized(&filter, cfg, ring_bytes)?;
        let mut ring = kernel.take_ring()?;
        let file = match &cli.write {
            Some(w) => Some(PcapngOut::create(
                w,
                cli.snaplen.into(),
                file_name(&cli.read),
            )?),
            None => None,
        };
        let stdout = io::stdout().lock();
        let mut printer = Printer::new(
            Renderer::new(opts),
            io::BufWriter::new(stdout),
            cli.count,
            file,
        );
        printer.report = Report::new(report_opts);
        let unfiltered = filter.enabled == 0;
        let replayed = offline::replay(path, &mut kernel, &mut ring, &mut printer, unfiltered);
        let finished = printer.finish();
        replayed?;
        finished?;
        return Ok(ExitCode::SUCCESS);
    }

    if cli.iface.is_empty() {
        bail!("give an interface (-i IFACE) or a capture file (-r FILE); see --help");
    }
    let any = cli.iface.iter().any(|i| i == "any");
    if any && cli.iface.len() > 1 {
        bail!("-i any traces every interface: give it alone");
    }
    let targets: Vec<(u32, String)> = if any {
        links::all()
    } else {
        let mut t = Vec::new();
        for name in &cli.iface {
            let idx = if_index(name)?;
            if t.iter().any(|(i, _)| *i == idx) {
                bail!("interface {name} given twice");
            }
            t.push((idx, name.clone()));
        }
        t
    };
    let several = any || targets.len() > 1;
    let opts = RenderOptions {
        iface_prefix: several,
        ..opts
    };
    let mut kernel = Kernel::load_sized(&filter, cfg, ring_bytes)?;
    let ring = kernel.take_ring()?;
    let file = match &cli.write {
        Some(w) if several => Some(PcapngOut::create_cooked(w, cli.snaplen.into())?),
        Some(w) => Some(PcapngOut::create(w, cli.snaplen.into(), None)?),
        None => None,
    };
    let mut tracing = Tracing {
        kernel: &mut kernel,
        mode: cli.xdp_mode,
        any,
        several,
        traced: BTreeMap::new(),
        last_gone: None,
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    // Signals are caught from here on: a SIGINT right after the banner still detaches.
    let signals = {
        let _rt = rt.enter();
        live::Signals::new()?
    };
    if several {
        let what = if any {
            "any".to_string()
        } else {
            cli.iface.join(", ")
        };
        eprintln!("tcptrace: listening on {what}, printing TCP as tcpdump -n -i any");
    } else {
        eprintln!(
            "tcptrace: listening on {} ({hooks}), printing TCP as tcpdump -n",
            cli.iface[0]
        );
    }

    let stdout = io::stdout().lock();
    let mut printer = Printer::new(Renderer::new(opts), stdout, cli.count, file);
    printer.report = Report::new(report_opts);
    let clock = live::MonoClock::now();
    let (mut ring, stop) =
        rt.block_on(live::run(ring, clock, &mut tracing, signals, &mut printer))?;
    let gone = tracing.last_gone.take();
    drop(tracing);
    // Detach first, then take what is still in the ring, then read final counters.
    kernel.detach();
    if stop == live::Stop::Signal {
        let _ = live::drain(&mut ring, &clock, &mut printer);
    }
    let counters = kernel.counters()?;
    drop(kernel);
    let printed = printer.finish()?;
    if stop == live::Stop::Gone {
        // As tcpdump: the error, then the closing lines, then exit 1.
        let iface = gone.unwrap_or_default();
        eprintln!("tcptrace: {iface}: the interface disappeared");
        print_stats(printed, &counters);
        return Ok(ExitCode::FAILURE);
    }
    print_stats(printed, &counters);
    Ok(ExitCode::SUCCESS)
}
