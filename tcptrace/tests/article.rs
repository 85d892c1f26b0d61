//! The article's 13 tcpdump 3.x lines (`shared/article`, see its README.md), end to end:
//! the packets behind them are rebuilt, written as a pcap, replayed through the kernel
//! program by `tcptrace -r`, and must come out as exactly those lines with `--classic`,
//! and as exactly what tcpdump 4.99.3 prints without it.
mod common;

use std::{path::PathBuf, time::Duration};

use common::{
    packet::{Ipv4, Tcp, eth4},
    pcap::{Frame, scratch, write_pcap},
};
use tcptrace_common::tcp_flags::{ACK, FIN, RST, SYN};

const CLIENT: [u8; 4] = [192, 168, 2, 10];
const SERVER: [u8; 4] = [192, 168, 2, 165];

/// mss 1460, nop, nop, sackOK: the SYNs' options.
const SYN_OPTS: [u8; 8] = [2, 4, 0x05, 0xb4, 1, 1, 4, 2];

/// The ISNs, read off the SYN lines (absolute there: tcpdump prints a SYN absolute).
const CLIENT_ISN: u32 = 3263977215; // line 1
const SERVER_ISN: u32 = 48495364; // line 2
const REFUSED_ISN: u32 = 3034008467; // line 8

/// The article gives times of day only (local time of the capture). They are written as UTC
/// on 2002-02-01 (lines 1–7) and the next day (lines 8–13: 05:28 comes after 20:07), and
/// tcptrace and tcpdump run with TZ=UTC.
const DAY: u64 = 1012521600; // 2002-02-01T00:00:00Z

/// One article line's packet.
struct Line {
    day: u64,
    time: &'static str,
    from_client: bool,
    client_port: u16,
    flags: u16,
    seq: u32,
    ack: u32,
    win: u16,
    syn_opts: bool,
    df: bool,
}

/// The 13 packets. Relative numbers in the lines are relative to the ISNs (in tcpdump 3.x a
/// conversation's bases are recorded from its first ACK-carrying packet, the SYN-ACK here):
/// the server's `F 147:147(0) ack 56` is seq SERVER_ISN+147, ack CLIENT_ISN+56, so the
/// server had sent 147 bytes and the client 56 (in packets not in the article's excerpt:
/// the capture holds exactly these 13). Lines without a seq (pure ACKs) carry the sender's
/// next sequence number. The RSTs answering a SYN carry seq 0 and ack REFUSED_ISN+1 (the
/// first prints absolute, the later two relative to the first), no DF, window 0.
fn lines() -> Vec<Line> {
    let (c, s, r) = (CLIENT_ISN, SERVER_ISN, REFUSED_ISN);
    #[rustfmt::skip]
    let t = [
        //  day  time               client port  flags      seq      ack      win    syn   df
        (0, "20:06:32.845356", true,  1249, SYN,       c,       0,       16384, true,  true),
        (0, "20:06:32.845725", false, 1249, SYN | ACK, s,       c + 1,   32120, true,  true),
        (0, "20:06:32.845921", true,  1249, ACK,       c + 1,   s + 1,   17520, false, true),
        (0, "20:07:32.916410", false, 1249, FIN | ACK, s + 147, c + 56,  32120, false, true),
        (0, "20:07:32.916680", true,  1249, ACK,       c + 56,  s + 148, 17374, false, true),
        (0, "20:07:32.928907", true,  1249, FIN | ACK, c + 56,  s + 148, 17374, false, true),
        (0, "20:07:32.929121", false, 1249, ACK,       s + 148, c + 57,  32120, false, true),
        (1, "05:28:00.080798", true,  1063, SYN,       r,       0,       16384, true,  true),
        (1, "05:28:00.080979", false, 1063, RST | ACK, 0,       r + 1,   0,     false, false),
        (1, "05:28:00.579420", true,  1063, SYN,       r,       0,       16384, true,  true),
        (1, "05:28:00.579524", false, 1063, RST | ACK, 0,       r + 1,   0,     false, false),
        (1, "05:28:01.080114", true,  1063, SYN,       r,       0,       16384, true,  true),
        (1, "05:28:01.080225", false, 1063, RST | ACK, 0,       r + 1,   0,     false, false),
    ];
    t.into_iter()
        .map(
            |(day, time, from_client, client_port, flags, seq, ack, win, syn_opts, df)| Line {
                day,
                time,
                from_client,
                client_port,
                flags,
                seq,
                ack,
                win,
                syn_opts,
                df,
            },
        )
        .collect()
}

/// `HH:MM:SS.uuuuuu` on day `day` after DAY, as a time since the epoch.
fn timestamp(day: u64, time: &str) -> Duration {
    let (hms, us) = time.split_once('.').expect("HH:MM:SS.uuuuuu");
    let f: Vec<u64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    assert_eq!((f.len(), us.len()), (3, 6), "{time}");
    let secs = DAY + day * 86400 + f[0] * 3600 + f[1] * 60 + f[2];
    Duration::from_secs(secs) + Duration::from_micros(us.parse().unwrap())
}

fn frame(l: &Line, ip_id: u16) -> Frame {
    let (src, dst, sport, dport) = if l.from_client {
        (CLIENT, SERVER, l.client_port, 23)
    } else {
        (SERVER, CLIENT, 23, l.client_port)
    };
    let mut tcp = Tcp::new(sport, dport);
    tcp.seq = l.seq;
    tcp.ack = l.ack;
    tcp.flags = l.flags;
    tcp.window = l.win;
    if l.syn_opts {
        tcp.options = SYN_OPTS.to_vec();
    }
    let mut ip = Ipv4::new(src, dst);
    ip.df = l.df;
    ip.id = ip_id;
    ip.ttl = if l.from_client { 128 } else { 64 };
    Frame {
        ts: timestamp(l.day, l.time),
        data: eth4(&ip.tcp(&tcp)),
    }
}

/// The article's capture, written once per test binary run (tests may run in parallel).
fn capture() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let frames: Vec<Frame> = lines()
            .iter()
            .enumerate()
            .map(|(i, l)| frame(l, 0x1000 + i as u16))
            .collect();
        assert_eq!(frames.len(), 13);
        // Written under a private name, then renamed: a concurrent run of this test binary
        // never sees a half-written file (both write the same bytes).
        let tmp = scratch(&format!("article.pcap.{}", std::process::id()));
        write_pcap(&tmp, &frames);
        let path = scratch("article.pcap");
        std::fs::rename(&tmp, &path).expect("rename the article capture");
        path
    })
    .clone()
}

fn classic_lines() -> String {
    let path = common::shared_dir("article").join("classic-lines.txt");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(text.lines().count(), 13, "{}", path.display());
    text
}

/// `TZ=UTC tcptrace -r CAPTURE args…`, which must succeed.
fn tcptrace(args: &[&str]) -> String {
    let cap = capture();
    let mut a = vec!["-r", cap.to_str().unwrap()];
    a.extend_from_slice(args);
    let out = common::tcptrace(&a);
    common::stdout_ok(&format!("tcptrace {}", a.join(" ")), &out)
}

/// `TZ=UTC tcpdump args… -r CAPTURE` (the oracle), which must succeed.
fn tcpdump(args: &[&str]) -> String {
    let cap = capture();
    let mut a = args.to_vec();
    a.extend_from_slice(&["-r", cap.to_str().unwrap()]);
    let out = common::tcpdump(&a);
    common::stdout_ok(&format!("tcpdump {}", a.join(" ")), &out)
}

#[track_caller]
fn assert_same(what: &str, expected: &str, actual: &str) {
    let d = common::diff(expected, actual, 13);
    assert!(d.is_empty(), "{what}: output differs\n{d}");
}

#[test]
fn timestamps_are_the_articles() {
    assert_eq!(
        timestamp(0, "20:06:32.845356"),
        Duration::from_secs(1012593992) + Duration::from_micros(845356)
    );
    assert_eq!(timestamp(1, "05:28:00.080798").as_secs(), 1012627680);
}

#[test]
fn classic_lines_exactly() {
    assert_same(
        "tcptrace --classic",
        &classic_lines(),
        &tcptrace(&["--classic"]),
    );
}

#[test]
fn classic_lines_with_host_and_port_filter() {
    // The article's own filter, `host 192.168.2.165 and port 23`: every line passes.
    assert_same(
        "tcptrace --classic --host 192.168.2.165 --port 23",
        &classic_lines(),
        &tcptrace(&["--classic", "--host", "192.168.2.165", "--port", "23"]),
    );
}

#[test]
fn port_filter_that_matches_nothing() {
    assert_same(
        "tcptrace --classic --port 24",
        "",
        &tcptrace(&["--classic", "--port", "24"]),
    );
}

#[test]
fn default_style_is_tcpdumps() {
    let oracle = tcpdump(&["-n"]);
    assert_eq!(oracle.lines().count(), 13, "tcpdump printed:\n{oracle}");
    assert_same("tcptrace vs tcpdump -n", &oracle, &tcptrace(&[]));
}

/// Not asked by the article, but the same capture under the other option sets of the
/// conformance corpus is a free oracle check.
#[test]
fn other_styles_are_tcpdumps() {
    let mut bad = Vec::new();
    for opts in [
        &["-S"][..],
        &["-v"],
        &["-q"],
        &["-tt"],
        &["-ttt"],
        &["-tttt"],
    ] {
        let mut td = vec!["-n"];
        td.extend_from_slice(opts);
        let want = tcpdump(&td);
        let got = tcptrace(opts);
        let d = common::diff(&want, &got, 4);
        if !d.is_empty() {
            bad.push(format!("tcptrace {}:\n{d}", opts.join(" ")));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
