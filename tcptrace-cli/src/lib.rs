//! The command line: the options tcptrace takes (clap derive) and their documentation,
//! written once. A crate of its own so that `cargo xtask` makes the man page, the shell
//! completions and the guide's option reference from the very definitions the binary
//! parses, without building the tracer.
use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// `--summary` styles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryStyle {
    /// One line per connection.
    Table,
    /// One block per connection with the classic tcptrace's numbers.
    Long,
}

/// Trace TCP connections and print them as tcpdump -n does, filtered in the kernel.
///
/// tcptrace prints tcpdump's own lines for the TCP segments of an interface (or a capture
/// file), byte for byte, but parses and filters them in the kernel (XDP or TC programs and
/// a BPF ring buffer). Beyond tcpdump it explains and summarises connections (--explain,
/// --summary, --json, --graph), names the local process of each (--process), and runs as
/// a service (rotation, --stats, --metrics). It needs root, or CAP_BPF, CAP_NET_ADMIN and
/// CAP_PERFMON.
#[derive(Parser, Debug)]
#[command(name = "tcptrace", version, disable_help_flag = false)]
pub struct Cli {
    /// Interface to trace (repeatable; `any`: every interface).
    ///
    /// Ingress is traced with XDP or TC (see --xdp-mode), egress with TC. `any` traces every
    /// interface of the network namespace, those created while tracing included; several
    /// -i trace those interfaces. With more than one interface each line starts with the
    /// interface and the direction, as tcpdump -i any prints them.
    #[arg(
        short = 'i',
        long = "iface",
        value_name = "IFACE",
        conflicts_with = "read"
    )]
    pub iface: Vec<String>,

    /// Trace inside another network namespace.
    ///
    /// An `ip netns` name, a namespace file (`/proc/PID/ns/net`, a bind mount) or a PID
    /// (e.g. `--netns $(pidof nginx) -i eth0`). tcptrace enters it before it attaches
    /// anything; -i and -D then name that namespace's interfaces.
    #[arg(long = "netns", value_name = "NAME|PATH|PID", conflicts_with = "read")]
    pub netns: Option<String>,

    /// List the interfaces that can be traced (in the namespace in use), as tcpdump -D.
    #[arg(short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,

    /// Read packets from a pcap or pcapng file instead of an interface.
    ///
    /// Every frame goes through the same kernel program as live (BPF_PROG_TEST_RUN), so the
    /// lines are the same. Link types: Ethernet, Linux cooked SLL and SLL2, raw IPv4/IPv6,
    /// BSD loopback, PPP, PPPoE, IP over InfiniBand; others are refused in one line.
    #[arg(short = 'r', value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// Also write the traced packets to FILE as pcapng.
    ///
    /// The first --snaplen bytes of each frame, as they were, with one interface block per
    /// interface, the direction in each packet block and nanosecond timestamps. Lines are
    /// still printed (unlike tcpdump: add `> /dev/null`). Live, a segment this host
    /// dropped gets a packet comment with the kernel's reason (`dropped in this host:
    /// NETFILTER_DROP (nf_hook_slow)`); frames wait 100 ms for their drop before they are
    /// written (docs/packet-fate.md).
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// With -w: a new file once the current one holds more than MB million bytes.
    ///
    /// As tcpdump -C: the second file is FILE1, the third FILE2, ... (with -W, a ring).
    #[arg(short = 'C', value_name = "MB", requires = "write",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub rotate_size: Option<u64>,

    /// With -C or -G: keep N files, as tcpdump -W.
    ///
    /// With -C a ring (FILE0 .. FILE{N-1}, the oldest overwritten); with -G alone the trace
    /// ends after N files.
    #[arg(short = 'W', value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rotate_count: Option<u32>,

    /// With -w: a new file every SECONDS, as tcpdump -G.
    ///
    /// The -w name is a strftime pattern (local time), e.g.
    /// `-w trace-%Y%m%d-%H%M%S.pcapng`.
    #[arg(short = 'G', value_name = "SECONDS", requires = "write",
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub rotate_seconds: Option<u64>,

    /// Once attached, switch to USER and keep only the capabilities still needed (tcpdump -Z).
    ///
    /// Run as root without -Z, tcptrace switches to the user `tcptrace` if it exists, else
    /// stays user 0; `-Z root` never switches. Either way it then holds no capability with
    /// fixed interfaces (CAP_NET_ADMIN before Linux 6.6, to remove its clsact filters at
    /// exit), CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON with `-i any` (new interfaces), and
    /// sets no-new-privileges. The first -w file is created as USER, as tcpdump's is. A -Z
    /// user that does not exist is an error before anything is attached.
    #[arg(
        short = 'Z',
        long = "relinquish-privileges",
        value_name = "USER",
        conflicts_with = "read"
    )]
    pub user: Option<String>,

    /// Every SECONDS, one line on stderr with the kernel counters and connection totals.
    ///
    /// The kernel counters (seen, matched, emitted, lost, malformed, cut short) and the
    /// connection totals (opened, refused, reset, closed, retransmissions, zero windows);
    /// one JSON object with --json; once more at exit, before the closing lines.
    #[arg(long = "stats", value_name = "SECONDS", conflicts_with = "read",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub stats: Option<u64>,

    /// Serve Prometheus metrics on http://ADDR:PORT/metrics.
    ///
    /// The text format: the kernel counters and the connection totals of --stats,
    /// refusals by server port, resets by side, a handshake RTT histogram.
    #[arg(long = "metrics", value_name = "ADDR:PORT", conflicts_with = "read")]
    pub metrics: Option<std::net::SocketAddr>,

    /// Bytes of each frame the kernel copies for -w (1 to 512).
    ///
    /// Only paid when -w is given.
    #[arg(short = 's', long = "snaplen", value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u16).range(1..=tcptrace_common::MAX_SNAP as i64))]
    pub snaplen: u16,

    /// Kernel ring buffer size in KiB, as tcpdump -B.
    ///
    /// Rounded up to a power of two; 4 to 1048576; the default, 4 MiB, holds about 25 000
    /// records. Records that do not fit are counted as dropped by kernel, never lost
    /// silently.
    #[arg(short = 'B', long = "buffer-size", value_name = "KiB",
          default_value_t = tcptrace_common::RING_BYTES / 1024,
          value_parser = clap::value_parser!(u32).range(4..=1_048_576))]
    pub buffer_size: u32,

    /// Only segments to or from this host (IPv4 or IPv6 address; repeatable).
    ///
    /// Several --host are alternatives; with --port both must hold, as tcpdump's
    /// `host H and port P`; with an expression, and-ed with it. Names are not resolved.
    #[arg(long = "host", value_name = "ADDR")]
    pub hosts: Vec<String>,

    /// Only segments with this source or destination port (repeatable).
    ///
    /// Several --port are alternatives; and-ed with --host and the expression.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<String>,

    /// Stop after printing N segments (1 or more).
    ///
    /// As tcpdump -c: 0 and negative counts are refused.
    #[arg(short = 'c', value_name = "N", allow_negative_numbers = true,
          value_parser = parse_count)]
    pub count: Option<u64>,

    /// Print absolute, rather than relative, TCP sequence numbers.
    #[arg(short = 'S', long = "absolute-tcp-sequence-numbers")]
    pub absolute: bool,

    /// How ingress is traced: XDP (native or generic) or TC.
    #[arg(long = "xdp-mode", value_enum, default_value = "auto")]
    pub xdp_mode: XdpModeArg,

    /// Verbose: IP header fields and TCP checksum verdicts, as tcpdump -v.
    ///
    /// -vv and -vvv as tcpdump's (tunnel details). The kernel computes the checksums only
    /// when -v is given.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,

    /// Quiet: less protocol information (`tcp LEN`), as tcpdump -q.
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Timestamps: -t none, -tt epoch seconds, -ttt delta to the previous line,
    /// -tttt date and time, -ttttt delta to the first line.
    #[arg(short = 't', action = ArgAction::Count)]
    pub ts: u8,

    /// Nanosecond timestamps, as tcpdump --nano.
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

    /// Explain connections: an indented note in plain English after a line that opens,
    /// closes, resets or troubles one.
    ///
    /// Handshakes, refusals, retries, retransmissions (fast, spurious), holes, duplicate
    /// ACKs, zero windows, resets and closes; verdicts about a whole connection ("gave up",
    /// "no answer") start with `*`. With --no-lines each note stands on its own line with
    /// its time.
    #[arg(long = "explain")]
    pub explain: bool,

    /// Do not show ICMP errors about traced connections.
    ///
    /// By default tcptrace also shows the ICMP and ICMPv6 errors (destination
    /// unreachable, fragmentation needed / packet too big, time exceeded, parameter
    /// problem) whose quoted IP and TCP header passes the filter, as tcpdump prints them,
    /// and --explain says what they mean ("refused by an ICMP port unreachable from
    /// ROUTER", "path MTU N reported by ROUTER"). `tcpdump port 23` shows none of them:
    /// ICMP has no ports. With this flag the lines are exactly those of `tcpdump port 23`.
    #[arg(long = "no-icmp")]
    pub no_icmp: bool,

    /// A table of connections at exit (and on SIGUSR1 while running).
    ///
    /// `--summary=long`: a block per connection with the classic tcptrace's numbers (like
    /// `tcptrace -l`).
    #[arg(long = "summary", value_name = "STYLE", num_args = 0..=1, require_equals = true,
          default_missing_value = "table")]
    pub summary: Option<SummaryStyle>,

    /// Write time-sequence graphs (SVG) and DIR/index.html, at exit and on SIGUSR1.
    ///
    /// One graph per connection and direction, as the classic tcptrace's time-sequence
    /// graphs; index.html lists the connections.
    #[arg(long = "graph", value_name = "DIR")]
    pub graph: Option<PathBuf>,

    /// JSON instead of text, one object per line.
    ///
    /// Segments, connection events (those --explain notes), stats and summary rows, each
    /// with a `type` field.
    #[arg(long = "json")]
    pub json: bool,

    /// Print no line per segment: only notes, the summary or JSON events.
    ///
    /// For long runs; the kernel still records the segments for the tracker.
    #[arg(long = "no-lines")]
    pub no_lines: bool,

    /// Connections tracked at most (--explain, --summary, --json, --graph, --stats).
    ///
    /// When full the least recently active are evicted, and counted at exit.
    #[arg(long = "max-connections", value_name = "N",
          default_value_t = DEFAULT_MAX_CONNECTIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..=u32::MAX as u64))]
    pub max_connections: u64,

    /// End each line with the local process that owns the segment's socket. Live only.
    ///
    /// ` proc COMM[PID]`, or ` proc -` when there is none (forwarded traffic, a socket from
    /// before the trace not used since).
    #[arg(long = "process")]
    pub process: bool,

    /// Only segments of connections owned by process PID (repeatable, up to 8). Live only.
    ///
    /// Evaluated in the kernel, and-ed with the expression.
    #[arg(long = "pid", value_name = "PID", conflicts_with = "read")]
    pub pids: Vec<u32>,

    /// Only segments of connections owned by a process with this command name. Live only.
    ///
    /// As /proc/PID/comm: at most 15 bytes. In the kernel, and-ed with the rest.
    #[arg(long = "comm", value_name = "NAME", conflicts_with = "read")]
    pub comm: Option<String>,

    /// Only segments of connections owned by processes in this container. Live only.
    ///
    /// A container id (prefix of 4+ hex digits, optionally `docker:` etc.), a systemd unit
    /// name (`nginx.service`) or a cgroup path (`/system.slice/x.service`). Resolved to
    /// cgroups at start; in the kernel, and-ed with the rest.
    #[arg(long = "container", value_name = "ID|NAME", conflicts_with = "read")]
    pub container: Option<String>,

    /// A pcap-filter expression, as tcpdump takes it; evaluated in the kernel.
    ///
    /// The TCP/IP part of pcap-filter: host, net, port, portrange, ip, ip6, tcp,
    /// tcp[tcpflags], vlan, and/or/not, parentheses. Words it does not implement are
    /// refused by name. And-ed with --host/--port when both are given.
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

/// How ingress is traced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpModeArg {
    /// Native XDP on hardware interfaces (TC ingress where the driver refuses it);
    /// TC ingress on virtual ones (veth, bridges, tunnels), where native XDP changes how
    /// the device segments traffic.
    Auto,
    /// Native (driver) XDP only.
    Native,
    /// Generic (skb) XDP: works everywhere, but the kernel copies every non-linear
    /// (GSO/GRO) packet for it.
    Generic,
    /// No XDP: a TC classifier on ingress, like egress. Sees packets after GRO, as
    /// tcpdump does, and copies nothing.
    Off,
}

/// Connections the tracker holds at most unless --max-connections says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 65536;
