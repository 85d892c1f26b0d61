//! The command line: the options tcptrace takes (clap derive). In the library so that the
//! man page and shell completions (`tcptrace-gen`, run by `cargo xtask dist`) are made from
//! the very definitions the binary parses.
use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// Trace TCP connections on an interface (or in a capture file) and print them as
/// tcpdump -n does, with the filtering done in the kernel.
/// `--summary` styles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryStyle {
    /// One line per connection.
    Table,
    /// One block per connection with the classic tcptrace's numbers.
    Long,
}

#[derive(Parser, Debug)]
#[command(name = "tcptrace", version, disable_help_flag = false)]
pub struct Cli {
    /// Interface to trace (XDP or TC on ingress, TC on egress; see --xdp-mode). Repeatable;
    /// `any`: every interface of the network namespace, new ones included. With more than
    /// one, lines start with the interface and direction, as tcpdump -i any prints them.
    #[arg(
        short = 'i',
        long = "iface",
        value_name = "IFACE",
        conflicts_with = "read"
    )]
    pub iface: Vec<String>,

    /// Trace inside another network namespace: an `ip netns` name, a namespace file
    /// (`/proc/PID/ns/net`, a bind mount) or a PID (e.g. `--netns $(pidof nginx) -i eth0`).
    #[arg(long = "netns", value_name = "NAME|PATH|PID", conflicts_with = "read")]
    pub netns: Option<String>,

    /// List the interfaces that can be traced (in the namespace in use), as tcpdump -D.
    #[arg(short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,

    /// Read packets from a pcap or pcapng file instead of an interface.
    #[arg(short = 'r', value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// Also write the traced packets to FILE as pcapng (the first --snaplen bytes of each
    /// frame, as they were). Lines are still printed.
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// With -w: start a new file when the current one holds more than N million bytes
    /// (1 000 000), as tcpdump -C: the second file is FILE1, the third FILE2, ...
    #[arg(short = 'C', value_name = "MB", requires = "write",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub rotate_size: Option<u64>,

    /// With -C or -G: keep N files, as tcpdump -W. With -C a ring (FILE0 .. FILE{N-1},
    /// the oldest overwritten); with -G alone the trace ends after N files.
    #[arg(short = 'W', value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rotate_count: Option<u32>,

    /// With -w: start a new file every N seconds, as tcpdump -G; FILE is a strftime
    /// pattern (local time), e.g. `-w trace-%Y%m%d-%H%M%S.pcapng`.
    #[arg(short = 'G', value_name = "SECONDS", requires = "write",
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub rotate_seconds: Option<u64>,

    /// Every N seconds, one line on stderr with the kernel counters (seen, matched,
    /// emitted, lost, malformed, cut short) and the connection totals (opened, refused,
    /// reset, closed, retransmissions, zero windows); one JSON object with --json.
    #[arg(long = "stats", value_name = "SECONDS", conflicts_with = "read",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub stats: Option<u64>,

    /// Serve Prometheus metrics (text format) on http://ADDR:PORT/metrics: the kernel
    /// counters and the connection totals of --stats, refusals by server port, resets by
    /// side, a handshake RTT histogram.
    #[arg(long = "metrics", value_name = "ADDR:PORT", conflicts_with = "read")]
    pub metrics: Option<std::net::SocketAddr>,

    /// Bytes of each frame the kernel copies for -w (1 to 512).
    #[arg(short = 's', long = "snaplen", value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u16).range(1..=tcptrace_common::MAX_SNAP as i64))]
    pub snaplen: u16,

    /// Kernel ring buffer size in KiB, as tcpdump -B (rounded up to a power of two; 4 to
    /// 1048576; default 4 MiB, about 25 000 records). Records that do not fit are counted
    /// as dropped, never lost silently.
    #[arg(short = 'B', long = "buffer-size", value_name = "KiB",
          default_value_t = tcptrace_common::RING_BYTES / 1024,
          value_parser = clap::value_parser!(u32).range(4..=1_048_576))]
    pub buffer_size: u32,

    /// Only segments to or from this host (IPv4 or IPv6 address; repeatable: any of them).
    #[arg(long = "host", value_name = "ADDR")]
    pub hosts: Vec<String>,

    /// Only segments with this source or destination port (repeatable: any of them).
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<String>,

    /// Stop after printing N segments (1 or more).
    #[arg(short = 'c', value_name = "N", allow_negative_numbers = true,
          value_parser = parse_count)]
    pub count: Option<u64>,

    /// Print absolute, rather than relative, TCP sequence numbers.
    #[arg(short = 'S', long = "absolute-tcp-sequence-numbers")]
    pub absolute: bool,

    /// Ingress hook: auto (native XDP on NICs, TC on virtual interfaces such as veth) |
    /// native | generic (XDP) | off (no XDP: TC ingress).
    #[arg(long = "xdp-mode", value_enum, default_value = "auto")]
    pub xdp_mode: crate::kernel::XdpModeArg,

    /// Verbose: IP header fields and TCP checksum verdicts, as tcpdump -v.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,

    /// Quiet: less protocol information (`tcp LEN`), as tcpdump -q.
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Timestamps: -t none, -tt epoch seconds, -ttt delta to the previous line,
    /// -tttt date and time, -ttttt delta to the first line.
    #[arg(short = 't', action = ArgAction::Count)]
    pub ts: u8,

    /// Nanosecond timestamps.
    #[arg(long = "nano")]
    pub nano: bool,

    /// Number each line, as tcpdump -#.
    #[arg(short = '#', long = "number")]
    pub number: bool,

    /// Accepted for tcpdump compatibility: addresses and ports are always numeric.
    #[arg(short = 'n', action = ArgAction::Count)]
    pub _numeric: u8,

    /// tcpdump 3.x style lines, as in the article (`S 1:1(0) win 16384 <mss 1460> (DF)`).
    #[arg(long = "classic")]
    pub classic: bool,

    /// After a line that opens, closes, resets or troubles a connection, an indented note
    /// saying so in plain English.
    #[arg(long = "explain")]
    pub explain: bool,

    /// A table of connections at exit (and on SIGUSR1 while running); `--summary=long`:
    /// a block per connection with the classic tcptrace's numbers (like `tcptrace -l`).
    #[arg(long = "summary", value_name = "STYLE", num_args = 0..=1, require_equals = true,
          default_missing_value = "table")]
    pub summary: Option<SummaryStyle>,

    /// Write a time-sequence graph per connection and direction (SVG) and DIR/index.html
    /// listing the connections, at exit and on SIGUSR1.
    #[arg(long = "graph", value_name = "DIR")]
    pub graph: Option<PathBuf>,

    /// JSON instead of text, one object per line: segments, connection events, summary rows.
    #[arg(long = "json")]
    pub json: bool,

    /// Print no line per segment (only notes, the summary or JSON events).
    #[arg(long = "no-lines")]
    pub no_lines: bool,

    /// Connections tracked at most (--explain/--summary/--json); the least recently
    /// active are evicted when full.
    #[arg(long = "max-connections", value_name = "N",
          default_value_t = crate::track::DEFAULT_MAX_CONNECTIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..=u32::MAX as u64))]
    pub max_connections: u64,

    /// End each line with the local process that owns the segment's socket:
    /// ` proc COMM[PID]` (` proc -` when none: forwarded traffic, sockets from before the
    /// trace). Live only.
    #[arg(long = "process")]
    pub process: bool,

    /// Only segments of connections owned by process PID (repeatable: any of them; up to
    /// 8). Evaluated in the kernel, and-ed with the expression. Live only.
    #[arg(long = "pid", value_name = "PID", conflicts_with = "read")]
    pub pids: Vec<u32>,

    /// Only segments of connections owned by a process with this command name (as
    /// /proc/PID/comm: at most 15 bytes). In the kernel, and-ed with the rest. Live only.
    #[arg(long = "comm", value_name = "NAME", conflicts_with = "read")]
    pub comm: Option<String>,

    /// Only segments of connections owned by processes in this container: a container id
    /// (prefix of 4+ hex digits, optionally `docker:` etc.), a systemd unit name
    /// (`nginx.service`) or a cgroup path (`/system.slice/x.service`). Resolved to cgroups
    /// at start; in the kernel, and-ed with the rest. Live only.
    #[arg(long = "container", value_name = "ID|NAME", conflicts_with = "read")]
    pub container: Option<String>,

    /// A pcap-filter expression, as tcpdump takes it (TCP/IP part: host, net, port,
    /// portrange, ip, ip6, tcp, tcp[tcpflags], vlan, and/or/not); evaluated in the kernel.
    /// And-ed with --host/--port when both are given.
    #[arg(
        value_name = "EXPRESSION",
        trailing_var_arg = true,
        allow_hyphen_values = false
    )]
    pub expr: Vec<String>,
}

/// `-c N`: a packet count, 1 or more (tcpdump refuses 0 and negative counts too).
pub fn parse_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("invalid packet count {s} (must be 1 or more)")),
    }
}
