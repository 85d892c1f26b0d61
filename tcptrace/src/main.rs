//! tcptrace: tcpdump's TCP lines, with the filtering and record building done in the kernel.
use std::{
    io::{self, Write},
    net::IpAddr,
    ops::ControlFlow,
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context as _, Result, bail};
use clap::{ArgAction, Parser};
use tcptrace::{
    decode::{Segment, Timestamp},
    kernel::{Counters, Filter, Kernel, XdpModeArg, if_index},
    render::{RenderOptions, Renderer, TsStyle},
    source::{Sink, live, offline},
};
use tcptrace_common::{Config, Record};

/// Trace TCP connections on an interface (or in a capture file) and print them as
/// tcpdump -n does, with the filtering done in the kernel.
#[derive(Parser, Debug)]
#[command(name = "tcptrace", version, disable_help_flag = false)]
struct Cli {
    /// Interface to trace (XDP on ingress, TC on egress).
    #[arg(short = 'i', long = "iface", value_name = "IFACE", conflicts_with = "read")]
    iface: Option<String>,

    /// Read packets from a pcap or pcapng file instead of an interface.
    #[arg(short = 'r', value_name = "FILE")]
    read: Option<PathBuf>,

    /// Only segments to or from this host (IPv4 or IPv6 address; repeatable: any of them).
    #[arg(long = "host", value_name = "ADDR")]
    hosts: Vec<String>,

    /// Only segments with this source or destination port (repeatable: any of them).
    #[arg(long = "port", value_name = "PORT")]
    ports: Vec<String>,

    /// Stop after printing N segments.
    #[arg(short = 'c', value_name = "N")]
    count: Option<u64>,

    /// Print absolute, rather than relative, TCP sequence numbers.
    #[arg(short = 'S', long = "absolute-tcp-sequence-numbers")]
    absolute: bool,

    /// How to attach XDP: native (falling back to generic) | native | generic.
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

/// Decode → render → stdout, counting what was printed.
struct Printer<W: Write> {
    renderer: Renderer,
    out: W,
    buf: Vec<u8>,
    printed: u64,
    limit: Option<u64>,
    error: Option<io::Error>,
}

impl<W: Write> Printer<W> {
    fn new(renderer: Renderer, out: W, limit: Option<u64>) -> Self {
        Printer {
            renderer,
            out,
            buf: Vec::with_capacity(64 * 1024),
            printed: 0,
            limit,
            error: None,
        }
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

impl<W: Write> Sink for Printer<W> {
    fn record(&mut self, rec: &Record, ts: Timestamp) -> ControlFlow<()> {
        if self.error.is_some() || self.limit.is_some_and(|n| self.printed >= n) {
            return ControlFlow::Break(());
        }
        let seg = Segment::from_record(rec, ts);
        self.renderer.render(&seg, &mut self.buf);
        self.printed += 1;
        if self.buf.len() >= 60 * 1024 {
            self.write_out();
        }
        if self.limit.is_some_and(|n| self.printed >= n) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn flush(&mut self) {
        self.write_out();
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
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
    eprintln!("{} packet{} received by filter", c.matched, plural(c.matched));
    eprintln!("{} packet{} dropped by kernel", c.lost, plural(c.lost));
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stdout (e.g. `| head`) is not an error worth a message.
            if e
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("tcptrace: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let filter = Filter {
        hosts: parse_hosts(&cli.hosts)?,
        ports: parse_ports(&cli.ports)?,
    };
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
    };
    let cfg = Config {
        checksums: u8::from(cli.verbose > 0),
        ..Config::default()
    };

    if let Some(path) = &cli.read {
        let mut kernel = Kernel::load(&filter, cfg)?;
        let mut ring = kernel.take_ring()?;
        let stdout = io::stdout().lock();
        let mut printer = Printer::new(Renderer::new(opts), io::BufWriter::new(stdout), cli.count);
        offline::replay(path, &mut kernel, &mut ring, &mut printer)?;
        printer.flush();
        if let Some(e) = printer.error.take() {
            return Err(e.into());
        }
        return Ok(());
    }

    let Some(iface) = cli.iface.as_deref() else {
        bail!("give an interface (-i IFACE) or a capture file (-r FILE); see --help");
    };
    if_index(iface)?;
    let mut kernel = Kernel::load(&filter, cfg)?;
    let ring = kernel.take_ring()?;
    let att = kernel.attach(iface, cli.xdp_mode)?;
    eprintln!(
        "tcptrace: listening on {iface} (XDP {} ingress, TC egress), printing TCP as tcpdump -n",
        att.xdp_mode
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stdout = io::stdout().lock();
    let mut printer = Printer::new(Renderer::new(opts), stdout, cli.count);
    let clock = live::MonoClock::now();
    let (mut ring, stop) = rt.block_on(live::run(ring, clock, &mut printer))?;
    // Detach first, then take what is still in the ring, then read final counters.
    kernel.detach();
    if stop == live::Stop::Signal {
        let _ = live::drain(&mut ring, &clock, &mut printer);
    }
    printer.flush();
    let counters = kernel.counters()?;
    drop(kernel);
    print_stats(printer.printed, &counters);
    if let Some(e) = printer.error.take() {
        return Err(e.into());
    }
    Ok(())
}
