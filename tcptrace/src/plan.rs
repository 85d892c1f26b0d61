//! The plan of a run: what the command line asks for, checked and worked out once, before
//! anything is loaded or attached. Every "X needs Y" refusal is here, so that `run` only
//! carries the plan out, and the refusals can be tested without a kernel.
use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use tcptrace_common::{
    Config,
    attrib::{AttribFilter, COMM_LEN, MAX_CGROUPS, MAX_PIDS},
    rules::RuleTable,
};

use crate::{
    cli::{Cli, SummaryStyle, XdpModeArg},
    output::ReportOptions,
    output::rotate::Rotation,
    render::{RenderOptions, TsStyle},
};

/// Where the segments come from.
#[derive(Debug, PartialEq)]
pub enum Source {
    /// `-D`: list the interfaces, trace nothing.
    ListInterfaces,
    /// `-r FILE`: replayed through the kernel program.
    Offline(PathBuf),
    /// `-i`: the interfaces' hooks.
    Live(Live),
}

/// A live trace.
#[derive(Debug, PartialEq)]
pub struct Live {
    /// `-i any`: every interface, new ones included; else the names given.
    pub any: bool,
    pub ifaces: Vec<String>,
    pub xdp_mode: XdpModeArg,
    /// The socket hooks are wanted: a process filter, `--process`, or an output that
    /// names processes (`--explain`, `--summary`, `--json`, `-w` comments).
    pub attributing: bool,
    /// `--process`: the owner at the end of each line.
    pub show_process: bool,
    /// `--pid`, `--comm`, `--container`.
    pub procs: ProcessOptions,
    /// `--stats`: every so often.
    pub stats: Option<Duration>,
    /// `--metrics`.
    pub metrics: Option<SocketAddr>,
    /// `-Z USER`: who to become once attached.
    pub user: Option<String>,
}

impl Live {
    /// More than one interface: lines carry tcpdump's `-i any` prefix.
    pub fn several(&self) -> bool {
        self.any || self.ifaces.len() > 1
    }
}

/// The process filter as given (`--container` is resolved to cgroups when the trace
/// starts: the cgroups exist then, not when the plan is made).
#[derive(Debug, Default, PartialEq)]
pub struct ProcessOptions {
    pub pids: Vec<u32>,
    pub comm: Option<String>,
    pub container: Option<String>,
}

impl ProcessOptions {
    pub fn any(&self) -> bool {
        !self.pids.is_empty() || self.comm.is_some() || self.container.is_some()
    }

    /// The kernel's process filter; `cgroups` resolves a `--container` to cgroup ids.
    pub fn filter(&self, cgroups: impl Fn(&str) -> Vec<u64>) -> Result<AttribFilter> {
        let mut f = AttribFilter::OFF;
        if !self.any() {
            return Ok(f);
        }
        f.enabled = 1;
        for (i, p) in self.pids.iter().enumerate() {
            f.pids[i] = *p;
        }
        f.n_pids = self.pids.len() as u32;
        if let Some(c) = &self.comm {
            f.comm[..c.len()].copy_from_slice(c.as_bytes());
            f.match_comm = 1;
        }
        if let Some(c) = &self.container {
            let ids = cgroups(c);
            if ids.is_empty() {
                bail!("--container {c}: no container, unit or cgroup of that name or id");
            }
            if ids.len() > MAX_CGROUPS {
                bail!(
                    "--container {c}: names {} cgroups; at most {MAX_CGROUPS} (give a longer id)",
                    ids.len()
                );
            }
            for (i, id) in ids.iter().enumerate() {
                f.cgroups[i] = *id;
            }
            f.n_cgroups = ids.len() as u32;
        }
        Ok(f)
    }
}

/// `-w`: the file (a strftime pattern with `-G`), what is copied, when to rotate.
#[derive(Debug, PartialEq)]
pub struct Write {
    pub path: PathBuf,
    pub snaplen: u32,
    pub rotation: Rotation,
}

/// What a run does.
#[derive(Debug)]
pub struct Plan {
    /// `--netns`: entered before anything else.
    pub netns: Option<String>,
    pub source: Source,
    /// `--host`, `--port` and the expression, compiled to the kernel's rule table.
    pub filter: RuleTable,
    /// The kernel programs' settings (checksums with `-v`, snap bytes with `-w`, …).
    pub config: Config,
    /// `-B`, in bytes (a power of two).
    pub ring_bytes: u32,
    pub render: RenderOptions,
    pub report: ReportOptions,
    /// `--graph DIR`.
    pub graph: Option<PathBuf>,
    pub write: Option<Write>,
    /// `-c`.
    pub count: Option<u64>,
    /// `-v`: also the per-interface and attribution closing lines.
    pub verbose: bool,
}

impl Plan {
    pub fn new(cli: &Cli) -> Result<Plan> {
        let source = source(cli)?;
        if source == Source::ListInterfaces {
            // Nothing else is used: no filter to compile, nothing to refuse.
            return Ok(Plan {
                netns: cli.netns.clone(),
                source,
                filter: RuleTable::ALL,
                config: Config::default(),
                ring_bytes: 0,
                render: RenderOptions::default(),
                report: ReportOptions::default(),
                graph: None,
                write: None,
                count: None,
                verbose: false,
            });
        }
        let filter = crate::filter::compile_with(
            &parse_hosts(&cli.hosts)?,
            &parse_ports(&cli.ports)?,
            &cli.expr.join(" "),
        )?;
        let several = matches!(&source, Source::Live(l) if l.several());
        let live = matches!(source, Source::Live(_));
        let render = RenderOptions {
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
            iface_prefix: several,
        };
        let report = ReportOptions {
            explain: cli.explain,
            summary: cli.summary.is_some(),
            summary_long: cli.summary == Some(SummaryStyle::Long),
            json: cli.json,
            lines: !cli.no_lines,
            max_connections: usize::try_from(cli.max_connections).unwrap_or(usize::MAX),
            graph: cli.graph.is_some(),
        };
        if cli.rotate_count.is_some() && cli.rotate_size.is_none() && cli.rotate_seconds.is_none() {
            bail!("-W needs -C or -G");
        }
        let write = cli.write.as_ref().map(|path| Write {
            path: path.clone(),
            snaplen: cli.snaplen.into(),
            rotation: Rotation {
                size: cli.rotate_size.map(|mb| mb * 1_000_000),
                count: cli.rotate_count,
                seconds: cli.rotate_seconds,
            },
        });
        let config = Config {
            checksums: u8::from(cli.verbose > 0),
            snaplen: if cli.write.is_some() { cli.snaplen } else { 0 },
            // Live: per-interface counters with -v. Offline: the ring is read right after
            // each frame's test run, so no wakeups.
            per_iface: u8::from(live && cli.verbose > 0),
            no_wakeup: u8::from(!live),
            // Packet fate (live): the drop hook, for the outputs that show what it finds
            // (-w: a packet comment on each dropped segment's frame).
            drops: u8::from(
                live && (cli.explain || cli.json || cli.summary.is_some() || cli.write.is_some()),
            ),
            // The checksum fields as on the wire: printed with -v (which computes them
            // too) and in --json.
            wire_csums: u8::from(cli.json),
            icmp: u8::from(!cli.no_icmp),
            // Set by the loader, from each CPU's share of -B.
            wake_bytes: 0,
        };
        Ok(Plan {
            netns: cli.netns.clone(),
            source,
            filter,
            config,
            ring_bytes: (cli.buffer_size * 1024).next_power_of_two(),
            render,
            report,
            graph: cli.graph.clone(),
            write,
            count: cli.count,
            verbose: cli.verbose > 0,
        })
    }
}

/// The source, with the refusals that depend only on the options.
fn source(cli: &Cli) -> Result<Source> {
    if cli.list_interfaces {
        return Ok(Source::ListInterfaces);
    }
    if let Some(path) = &cli.read {
        if cli.process {
            bail!("--process needs a live trace (-i): a capture file says nothing of processes");
        }
        return Ok(Source::Offline(path.clone()));
    }
    if cli.iface.is_empty() {
        bail!("give an interface (-i IFACE) or a capture file (-r FILE); see --help");
    }
    let any = cli.iface.iter().any(|i| i == "any");
    if any && cli.iface.len() > 1 {
        bail!("-i any traces every interface: give it alone");
    }
    if let Some(twice) = cli
        .iface
        .iter()
        .enumerate()
        .find_map(|(i, n)| cli.iface[..i].contains(n).then_some(n))
    {
        bail!("interface {twice} given twice");
    }
    let procs = ProcessOptions {
        pids: cli.pids.clone(),
        comm: cli.comm.clone(),
        container: cli.container.clone(),
    };
    if procs.pids.len() > MAX_PIDS {
        bail!("at most {MAX_PIDS} --pid options");
    }
    if let Some(c) = &procs.comm
        && (c.is_empty() || c.len() >= COMM_LEN)
    {
        bail!(
            "invalid --comm '{c}': give 1 to {} bytes (the kernel keeps no more of a command name)",
            COMM_LEN - 1
        );
    }
    let attributing = procs.any()
        || cli.process
        || cli.explain
        || cli.summary.is_some()
        || cli.json
        || cli.write.is_some();
    Ok(Source::Live(Live {
        any,
        ifaces: cli.iface.clone(),
        xdp_mode: cli.xdp_mode,
        attributing,
        show_process: cli.process,
        procs,
        stats: cli.stats.map(Duration::from_secs),
        metrics: cli.metrics,
        user: cli.user.clone(),
    }))
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn plan(args: &[&str]) -> Result<Plan> {
        Plan::new(&Cli::try_parse_from(
            std::iter::once("tcptrace").chain(args.iter().copied()),
        )?)
    }

    fn refusal(args: &[&str]) -> String {
        plan(args).expect_err("refused").to_string()
    }

    #[test]
    fn refusals_without_a_kernel() {
        assert_eq!(
            refusal(&[]),
            "give an interface (-i IFACE) or a capture file (-r FILE); see --help"
        );
        assert_eq!(
            refusal(&["-i", "any", "-i", "eth0"]),
            "-i any traces every interface: give it alone"
        );
        assert_eq!(
            refusal(&["-i", "eth0", "-i", "eth0"]),
            "interface eth0 given twice"
        );
        assert_eq!(
            refusal(&["-r", "x.pcap", "--process"]),
            "--process needs a live trace (-i): a capture file says nothing of processes"
        );
        assert_eq!(
            refusal(&["-i", "eth0", "-w", "f", "-W", "3"]),
            "-W needs -C or -G"
        );
        assert!(refusal(&["-i", "eth0", "--host", "example.com"]).starts_with("invalid host"));
        assert!(refusal(&["-i", "eth0", "--port", "70000"]).starts_with("invalid port"));
        assert!(
            refusal(&["-i", "eth0", "--comm", "sixteen-bytes-xx"]).starts_with("invalid --comm")
        );
        let nine: Vec<String> = (1..=9)
            .flat_map(|p| ["--pid".into(), p.to_string()])
            .collect();
        let mut args = vec!["-i", "eth0"];
        args.extend(nine.iter().map(String::as_str));
        assert_eq!(refusal(&args), format!("at most {MAX_PIDS} --pid options"));
        assert!(refusal(&["-i", "eth0", "udp"]).contains("'udp' (word 1) is not supported"));
    }

    #[test]
    fn list_interfaces_needs_nothing_else() {
        let p = plan(&["-D", "not a filter ("]).unwrap();
        assert_eq!(p.source, Source::ListInterfaces);
    }

    #[test]
    fn live_and_offline_settings() {
        let p = plan(&[
            "-i",
            "a",
            "-i",
            "b",
            "-v",
            "-w",
            "f",
            "-C",
            "2",
            "--explain",
            "port 23",
        ])
        .unwrap();
        let Source::Live(l) = &p.source else { panic!() };
        assert!(l.several() && l.attributing && !l.show_process);
        assert!(p.render.iface_prefix && p.report.explain);
        assert_eq!(
            (p.config.per_iface, p.config.checksums, p.config.no_wakeup),
            (1, 1, 0)
        );
        assert_eq!(p.config.snaplen, 128);
        let w = p.write.unwrap();
        assert_eq!(w.rotation.size, Some(2_000_000));
        assert_eq!(p.ring_bytes, 4 << 20);

        let p = plan(&["-r", "x.pcap", "-v", "-B", "100"]).unwrap();
        assert_eq!(p.source, Source::Offline("x.pcap".into()));
        assert!(!p.render.iface_prefix);
        assert_eq!((p.config.per_iface, p.config.no_wakeup), (0, 1));
        assert_eq!(p.config.snaplen, 0);
        assert_eq!(p.ring_bytes, 128 * 1024);

        // Plain lines on one interface: no socket hooks.
        let p = plan(&["-i", "eth0", "port", "80"]).unwrap();
        let Source::Live(l) = &p.source else { panic!() };
        assert!(!l.attributing && !l.several());
    }

    #[test]
    fn process_filter() {
        let p = plan(&[
            "-i",
            "eth0",
            "--pid",
            "7",
            "--comm",
            "nginx",
            "--container",
            "abcd",
        ])
        .unwrap();
        let Source::Live(l) = &p.source else { panic!() };
        assert!(l.attributing);
        let f = l.procs.filter(|_| vec![11, 12]).unwrap();
        assert_eq!((f.enabled, f.n_pids, f.pids[0], f.match_comm), (1, 1, 7, 1));
        assert_eq!(&f.comm[..5], b"nginx");
        assert_eq!((f.n_cgroups, f.cgroups[1]), (2, 12));
        assert_eq!(
            l.procs.filter(|_| vec![]).unwrap_err().to_string(),
            "--container abcd: no container, unit or cgroup of that name or id"
        );
        let none = ProcessOptions::default()
            .filter(|_| unreachable!())
            .unwrap();
        assert_eq!(none.enabled, 0);
    }
}
