//! Differential test of the connection analysis against Wireshark's TCP expert analysis
//! (tshark 4.0, `tcp.analysis.*`), per segment, on captures the test makes itself: two
//! namespaces, real kernel TCP at both ends, losses before the capture point (an XDP
//! program that drops every Nth data segment: holes, filled by retransmissions) and after
//! it (iptables `statistic`: original and retransmission both captured), a slow reader
//! (zero windows, probes), SO_KEEPALIVE with a short idle (keep-alives); once with the
//! veths' offloads (GRO/TSO super-packets) and once with them off.
//!
//! Where Wireshark is wrong by rule, the reference is corrected (adjudicated) and the cases
//! are counted; each kind must then reach precision and recall >= 0.95. Handshake RTTs
//! must be identical to the nanosecond.
mod common;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    process::Command,
    sync::mpsc,
    thread,
    time::Duration,
};

use common::{
    hooks::NthDrop,
    netns::{NetnsPair, Proc, in_netns, stop_listening},
    pcap::{RawPcap, scratch},
    stdout_ok, tcpdump_bin, tcptrace,
};
use serde_json::Value;

const BULK: u16 = 9101;
const SLOW: u16 = 9102;
const KEEP: u16 = 9103;

fn sh(ns: &str, args: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn setsockopt(fd: i32, level: i32, name: i32, v: i32) {
    // SAFETY: an int option on a socket we own.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// A server in namespace b: accepts one connection, waits `pause` before reading (a slow
/// reader), reads to EOF, closes.
fn server(
    net: &NetnsPair,
    port: u16,
    rcvbuf: Option<i32>,
    pause: Duration,
) -> thread::JoinHandle<u64> {
    let (tx, rx) = mpsc::channel();
    let addr: IpAddr = net.b4.parse().unwrap();
    let h = in_netns(&net.b, move || {
        let l = TcpListener::bind(SocketAddr::new(addr, port)).expect("bind");
        if let Some(b) = rcvbuf {
            setsockopt(l.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, b);
        }
        tx.send(()).unwrap();
        let (mut s, _) = l.accept().expect("accept");
        stop_listening(&l);
        // The workload: a reader that does not read for a while (not synchronisation).
        thread::sleep(pause);
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        loop {
            match s.read(&mut buf).expect("server read") {
                0 => break,
                k => n += k as u64,
            }
        }
        n
    });
    rx.recv().expect("server ready");
    h
}

/// A client in namespace a: sends `bytes`, keeps the connection idle for `idle` with
/// keep-alives every second when `keepalive`, then closes and waits for the server's FIN.
fn client(
    net: &NetnsPair,
    port: u16,
    bytes: usize,
    keepalive: bool,
    idle: Duration,
) -> thread::JoinHandle<u16> {
    let dst = SocketAddr::new(net.b4.parse().unwrap(), port);
    in_netns(&net.a, move || {
        let mut s = TcpStream::connect(dst).expect("connect");
        let cport = s.local_addr().expect("local address").port();
        if keepalive {
            let fd = s.as_raw_fd();
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
            setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 1);
            setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 1);
        }
        let chunk = vec![b'x'; 1 << 16];
        let mut left = bytes;
        while left > 0 {
            let k = left.min(chunk.len());
            s.write_all(&chunk[..k]).expect("client write");
            left -= k;
        }
        // The workload: an idle connection (keep-alives are sent meanwhile).
        thread::sleep(idle);
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        cport
    })
}

/// Makes the capture: returns its path and how many segments the XDP program dropped.
fn capture(name: &str, offloads: bool) -> (PathBuf, u64) {
    let net = NetnsPair::new();
    if !offloads {
        for (ns, veth) in [(&net.a, &net.veth_a), (&net.b, &net.veth_b)] {
            let off = ["tso", "off", "gso", "off", "gro", "off"];
            sh(ns, &[&["ethtool", "-K", veth][..], &off].concat());
        }
    }
    // After the capture point (b's INPUT): both the original and the retransmission are
    // in the capture. Data to the bulk server, and some of its ACKs on a's side.
    for (ns, port, every, packet) in [(&net.b, "--dport", 29, 7), (&net.a, "--sport", 37, 3)] {
        let rule = format!(
            "iptables -A INPUT -p tcp {port} {BULK} -m statistic --mode nth --every {every} \
             --packet {packet} -j DROP"
        );
        sh(ns, &rule.split_whitespace().collect::<Vec<_>>());
    }
    // Before it: holes.
    let xdp = NthDrop::attach(&net.b, &net.veth_b, 23, BULK).expect("attach drop_nth");
    let path = scratch(&format!("{name}.{}.pcap", std::process::id()));
    let mut dump = Proc::spawn("tcpdump", {
        let mut c = net.exec(&net.b, tcpdump_bin());
        c.args([
            "-n",
            "-i",
            &net.veth_b,
            "--immediate-mode",
            "-U",
            // Its lines (line-buffered) tell the test what it has written.
            "--print",
            "-l",
            "-s",
            "200",
            "-w",
        ])
        .arg(&path)
        .arg("tcp");
        c
    });
    dump.wait_stderr("listening on");

    let servers = [
        server(&net, BULK, None, Duration::ZERO),
        server(&net, SLOW, Some(4096), Duration::from_millis(1500)),
        server(&net, KEEP, None, Duration::ZERO),
    ];
    // The emulated kernel-matrix VMs are slow: less bulk there.
    let bulk = if common::hooks::in_vm() {
        1 << 20
    } else {
        4 << 20
    };
    let clients = [
        client(&net, BULK, bulk, false, Duration::ZERO),
        client(&net, SLOW, 256 << 10, false, Duration::ZERO),
        client(&net, KEEP, 1000, true, Duration::from_millis(3500)),
    ];
    let cports: Vec<u16> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    let got: Vec<u64> = servers
        .into_iter()
        .map(|s| s.join().expect("server"))
        .collect();
    assert_eq!(got, [bulk as u64, 256 << 10, 1000]);
    // Stop the capture once it has written each server's FIN (tcpdump may lag behind).
    for (port, cport) in [BULK, SLOW, KEEP].into_iter().zip(cports) {
        dump.wait_stdout(&format!(
            "IP {}.{port} > {}.{cport}: Flags [F.]",
            net.b4, net.a4
        ));
    }
    let dropped = xdp.counts()[1];
    drop(xdp);
    dump.interrupt();
    (path, dropped)
}

/// The kinds compared, by common name.
const KINDS: [&str; 14] = [
    "retransmission",
    "fast_retransmission",
    "spurious_retransmission",
    "out_of_order",
    "lost_segment",
    "ack_lost_segment",
    "duplicate_ack",
    "keep_alive",
    "keep_alive_ack",
    "zero_window",
    "zero_window_probe",
    "zero_window_probe_ack",
    "window_full",
    "dsack",
];

/// tcptrace's event kinds as the common names.
fn ours_as_common(kind: &str) -> &'static [&'static str] {
    match kind {
        "retransmission" | "fin_retransmit" | "syn_retransmit" | "synack_retransmit" => {
            &["retransmission"]
        }
        "fast_retransmission" => &["retransmission", "fast_retransmission"],
        "spurious_retransmission" => &["retransmission", "spurious_retransmission"],
        "late_arrival" => &["out_of_order"],
        "out_of_order" => &["lost_segment"],
        "acked_unseen" => &["ack_lost_segment"],
        "dup_ack" => &["duplicate_ack"],
        "keep_alive" => &["keep_alive"],
        "keep_alive_ack" => &["keep_alive_ack"],
        "zero_window" => &["zero_window"],
        "zero_window_probe" => &["zero_window_probe"],
        "zero_window_probe_ack" => &["zero_window_probe_ack"],
        "window_full" => &["window_full"],
        "dsack" => &["dsack"],
        _ => &[],
    }
}

type Labels = Vec<BTreeSet<&'static str>>;

/// Summary rows by client port.
type Rows = HashMap<u16, Value>;

/// tcptrace's events per frame (0-based), handshake RTTs and summary rows by client port.
fn tcptrace_labels(path: &Path) -> (Labels, HashMap<u16, u64>, Rows) {
    let out = tcptrace(&["-r", path.to_str().unwrap(), "--json"]);
    let out = stdout_ok("tcptrace -r --json", &out);
    let mut labels: Labels = Vec::new();
    let mut rtt = HashMap::new();
    let mut rows = HashMap::new();
    for l in out.lines() {
        let v: Value = serde_json::from_str(l).expect("JSON line");
        match v["type"].as_str() {
            Some("segment") => labels.push(BTreeSet::new()),
            Some("event") if v["about_segment"] == true => {
                let set = labels.last_mut().expect("an event after its segment");
                set.extend(ours_as_common(v["kind"].as_str().unwrap()));
            }
            Some("summary") => {
                let port = v["client_port"].as_u64().unwrap() as u16;
                if let Some(ns) = v["handshake_rtt_ns"].as_u64() {
                    rtt.insert(port, ns);
                }
                rows.insert(port, v);
            }
            _ => {}
        }
    }
    (labels, rtt, rows)
}

/// "0.000045123" seconds as nanoseconds, exactly.
fn secs_to_ns(s: &str) -> u64 {
    let (i, f) = s.split_once('.').unwrap_or((s, ""));
    let mut f = f.to_string();
    f.truncate(9);
    while f.len() < 9 {
        f.push('0');
    }
    i.parse::<u64>().unwrap() * 1_000_000_000 + f.parse::<u64>().unwrap()
}

const FIELDS: [&str; 27] = [
    "tcp.flags.ack",
    "frame.number",
    "tcp.srcport",
    "tcp.dstport",
    "ip.id",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.len",
    "tcp.flags.syn",
    "tcp.flags.fin",
    "tcp.window_size_value",
    "tcp.analysis.initial_rtt",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.out_of_order",
    "tcp.analysis.lost_segment",
    "tcp.analysis.ack_lost_segment",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.keep_alive",
    "tcp.analysis.keep_alive_ack",
    "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe",
    "tcp.analysis.zero_window_probe_ack",
    "tcp.analysis.window_full",
    "tcp.options.sack.dsack_le",
    "tcp.flags.reset",
];

/// Per direction (source port), as the reference walks the frames.
#[derive(Default)]
struct Dir {
    /// Highest sequence number + length seen, and the IP ID of that segment.
    max_end: Option<(u32, u16)>,
    last_win: Option<u32>,
    last_ack: Option<u32>,
    /// Its last segment was a keep-alive into a zero window (adjudicated a probe).
    probed: bool,
    /// Its first sequence number, the sequence space seen (relative, merged), and the
    /// highest ACK it sent (relative to the other direction's first sequence number).
    base: Option<u32>,
    seen: Vec<(i64, i64)>,
    max_ack: Option<i64>,
}

/// How much of `a..b` the sorted, disjoint intervals cover.
fn covered(iv: &[(i64, i64)], a: i64, b: i64) -> i64 {
    iv.iter().map(|&(s, e)| (e.min(b) - s.max(a)).max(0)).sum()
}

fn insert(iv: &mut Vec<(i64, i64)>, s: i64, e: i64) {
    if e <= s {
        return;
    }
    iv.push((s, e));
    iv.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(iv.len());
    for &(s, e) in iv.iter() {
        match out.last_mut() {
            Some(l) if s <= l.1 => l.1 = l.1.max(e),
            _ => out.push((s, e)),
        }
    }
    *iv = out;
}

fn rel(base: u32, v: u32) -> i64 {
    v.wrapping_sub(base) as i32 as i64
}

fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Counts of adjudicated cases, by rule.
#[derive(Debug, Default)]
struct Adjudicated {
    /// Wireshark's "out-of-order" on a segment sent after the one that passed the hole
    /// (a newer IP ID): a retransmission.
    ooo_newer_id: u64,
    /// Its "duplicate ACK" while nothing is outstanding: not one by RFC 5681.
    dupack_nothing_outstanding: u64,
    /// Its "keep-alive" into a zero window: Linux's zero-window probe (RFC 9293 3.8.6.1).
    keepalive_into_zero_window: u64,
    /// Its "zero window" on every segment of a zero-window run: the run starts once.
    zero_window_repeats: u64,
    /// The answer to such a probe (no data, window still 0, the same ACK), which it
    /// leaves unflagged: the probe's ACK.
    probe_ack_unflagged: u64,
    /// An ACK covering sequence space the capture never showed, which it leaves
    /// unflagged: after a retransmission fills the lowest hole it moves its "max seq to
    /// be acked" to the highest sequence number, over any other holes.
    acked_unseen_unflagged: u64,
    /// Its "ACKed unseen segment" on an ACK whose newly acknowledged bytes were all seen.
    acked_unseen_all_seen: u64,
    /// Its "previous segment not captured" on a segment whose missing bytes the receiver
    /// had already acknowledged (reported then, as ACKed unseen): one report per hole.
    lost_already_acked: u64,
}

/// Wireshark's flags per frame, adjudicated; handshake RTTs by client port.
fn tshark_labels(path: &Path) -> (Labels, HashMap<u16, u64>, Adjudicated) {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(path).args([
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=f",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark (install Debian's tshark)");
    let text = stdout_ok("tshark", &out);
    let mut labels: Labels = Vec::new();
    let mut rtt = HashMap::new();
    let mut dirs: HashMap<u16, Dir> = HashMap::new();
    let mut adj = Adjudicated::default();
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let col = |name: &str| c[FIELDS.iter().position(|f| *f == name).unwrap()];
        let flag = |name: &str| !col(name).is_empty();
        let num = |name: &str| col(name).parse::<u64>().unwrap_or(0);
        let (sport, dport) = (num("tcp.srcport") as u16, num("tcp.dstport") as u16);
        let id = u16::from_str_radix(col("ip.id").trim_start_matches("0x"), 16).unwrap_or(0);
        let seq = num("tcp.seq_raw") as u32;
        let ack = num("tcp.ack_raw") as u32;
        let len = num("tcp.len") as u32;
        let syn = col("tcp.flags.syn") == "1";
        let fin = col("tcp.flags.fin") == "1";
        let win = num("tcp.window_size_value") as u32;
        if syn && !flag("tcp.analysis.initial_rtt") {
            // (the RTT comes on later frames)
        }
        if flag("tcp.analysis.initial_rtt") {
            let client = if dport == BULK || dport == SLOW || dport == KEEP {
                sport
            } else {
                dport
            };
            rtt.entry(client)
                .or_insert_with(|| secs_to_ns(col("tcp.analysis.initial_rtt")));
        }
        let mut set = BTreeSet::new();
        for k in KINDS {
            let field = match k {
                "dsack" => "tcp.options.sack.dsack_le",
                _ => "",
            };
            let name = if field.is_empty() {
                format!("tcp.analysis.{k}")
            } else {
                field.to_string()
            };
            if flag(&name) {
                set.insert(k);
            }
        }
        if set.contains("fast_retransmission") || set.contains("spurious_retransmission") {
            set.insert("retransmission");
        }
        // ACKed unseen, by rule: this ACK newly covers bytes the capture never showed.
        let acks = col("tcp.flags.ack") == "1";
        let mut acked_unseen = false;
        let mut my_ack = None;
        if acks
            && let Some(pd) = dirs.get(&dport)
            && let Some(pb) = pd.base
        {
            let a = rel(pb, ack);
            my_ack = Some(a);
            if let Some(from) = dirs.get(&sport).and_then(|d| d.max_ack)
                && a > from
            {
                acked_unseen = a - from > covered(&pd.seen, from, a);
            }
        }
        match (acked_unseen, set.contains("ack_lost_segment")) {
            (true, false) => {
                adj.acked_unseen_unflagged += 1;
                set.insert("ack_lost_segment");
            }
            (false, true) => {
                adj.acked_unseen_all_seen += 1;
                set.remove("ack_lost_segment");
            }
            _ => {}
        }
        let peer = dirs.get(&dport);
        if set.contains("lost_segment")
            && let (Some(a), Some(b)) = (
                peer.and_then(|d| d.max_ack),
                dirs.get(&sport).and_then(|d| d.base),
            )
            && a >= rel(b, seq)
        {
            adj.lost_already_acked += 1;
            set.remove("lost_segment");
        }
        let peer_end = peer.and_then(|d| d.max_end).map(|(e, _)| e);
        let peer_win = peer.and_then(|d| d.last_win);
        let peer_probed = peer.is_some_and(|d| d.probed);
        let me = dirs.entry(sport).or_default();
        if set.remove("out_of_order") {
            let newer = me
                .max_end
                .is_some_and(|(_, pid)| id != 0 && pid != 0 && (id.wrapping_sub(pid) as i16) > 0);
            if newer {
                adj.ooo_newer_id += 1;
                set.insert("retransmission");
            } else {
                set.insert("out_of_order");
            }
        }
        if set.contains("duplicate_ack") && peer_end.is_none_or(|e| !seq_lt(ack, e)) {
            adj.dupack_nothing_outstanding += 1;
            set.remove("duplicate_ack");
        }
        me.probed = false;
        if set.contains("keep_alive") && peer_win == Some(0) {
            adj.keepalive_into_zero_window += 1;
            set.remove("keep_alive");
            set.insert("zero_window_probe");
            me.probed = true;
        }
        if peer_probed
            && len == 0
            && win == 0
            && me.last_ack == Some(ack)
            && !set.contains("zero_window_probe_ack")
        {
            adj.probe_ack_unflagged += 1;
            set.insert("zero_window_probe_ack");
        }
        if set.contains("zero_window") && me.last_win == Some(0) {
            adj.zero_window_repeats += 1;
            set.remove("zero_window");
        }
        let end = seq.wrapping_add(len + u32::from(syn) + u32::from(fin));
        let base = *me.base.get_or_insert(seq);
        insert(&mut me.seen, rel(base, seq), rel(base, end));
        if let Some(a) = my_ack {
            me.max_ack = Some(me.max_ack.map_or(a, |m| m.max(a)));
        }
        if me.max_end.is_none_or(|(e, _)| seq_lt(e, end)) {
            me.max_end = Some((end, id));
        }
        if col("tcp.flags.reset") != "1" {
            me.last_win = Some(win);
            me.last_ack = Some(ack);
        }
        labels.push(set);
    }
    (labels, rtt, adj)
}

fn compare(name: &str, offloads: bool) {
    let (path, dropped) = capture(name, offloads);
    assert!(dropped > 0, "the XDP program dropped nothing");
    let rows = agree(
        &path,
        name,
        offloads,
        dropped,
        &[
            "retransmission",
            "lost_segment",
            "duplicate_ack",
            "zero_window",
            "keep_alive",
            "keep_alive_ack",
        ],
    );
    ostermann(&path, &rows);

    // The same capture with frames the capture point missed (every 40th full-sized one of
    // the bulk connection taken out of the file): the receiver acknowledges bytes never
    // seen. The other connections keep all their frames: a keep-alive or a zero-window
    // probe after a gap in the capture is judged differently by tshark and tcptrace, and
    // whether the 40th frame fell before one depended on the run.
    let mut raw = RawPcap::read(&path);
    let mut n = 0;
    raw.records.retain(|r| {
        if r.data.len() < 200 || !bulk_frame(&r.data) {
            return true;
        }
        n += 1;
        n % 40 != 0
    });
    let missed = path.with_extension("missed.pcap");
    raw.write(&missed);
    agree(
        &missed,
        name,
        offloads,
        dropped,
        &["ack_lost_segment", "lost_segment"],
    );
}

/// Whether an Ethernet/IPv4/TCP frame is to or from the bulk server.
fn bulk_frame(frame: &[u8]) -> bool {
    let l4 = 14 + usize::from(frame.get(14).map_or(0, |v| v & 0x0f)) * 4;
    let port = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    port(l4) == Some(BULK) || port(l4 + 2) == Some(BULK)
}

/// Compares tcptrace's events with tshark's (adjudicated) on `path`, kind by kind, and
/// the handshake RTTs; `present`: kinds the reference must have. Returns the summary rows.
fn agree(path: &Path, name: &str, offloads: bool, dropped: u64, present: &[&str]) -> Rows {
    let (ours, our_rtt, rows) = tcptrace_labels(path);
    let (theirs, their_rtt, adj) = tshark_labels(path);
    assert_eq!(ours.len(), theirs.len(), "frames: tcptrace vs tshark");

    let mut report = String::new();
    let mut failed = Vec::new();
    let mut totals: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for k in KINDS {
        let (mut tp, mut fp, mut fneg) = (0u64, 0u64, 0u64);
        let mut fp_frames = Vec::new();
        let mut fn_frames = Vec::new();
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            match (o.contains(k), t.contains(k)) {
                (true, true) => tp += 1,
                (true, false) => {
                    fp += 1;
                    fp_frames.push(i + 1);
                }
                (false, true) => {
                    fneg += 1;
                    fn_frames.push(i + 1);
                }
                _ => {}
            }
        }
        totals.insert(k, (tp, fp, fneg));
        let precision = if tp + fp == 0 {
            1.0
        } else {
            tp as f64 / (tp + fp) as f64
        };
        let recall = if tp + fneg == 0 {
            1.0
        } else {
            tp as f64 / (tp + fneg) as f64
        };
        report += &format!(
            "{k:24} ref {:5} ours {:5} precision {precision:.3} recall {recall:.3}",
            tp + fneg,
            tp + fp
        );
        if precision < 0.95 || recall < 0.95 {
            failed.push(k);
            fp_frames.truncate(12);
            fn_frames.truncate(12);
            report += &format!("  only ours: {fp_frames:?} only tshark: {fn_frames:?}");
        }
        report.push('\n');
    }
    let summary = format!(
        "{name} (offloads {offloads}, {} frames, {dropped} dropped before the capture):\n{report}adjudicated: {adj:?}\n{}",
        ours.len(),
        path.display()
    );
    eprintln!("{summary}");
    assert!(failed.is_empty(), "below 0.95: {failed:?}\n{summary}");
    // The losses made what the test is about.
    for k in present {
        assert!(totals[k].0 > 0, "no {k} in the reference:\n{summary}");
    }
    // Handshake RTTs: identical, for every connection.
    assert_eq!(our_rtt.len(), 3, "{our_rtt:?}");
    assert_eq!(our_rtt, their_rtt);
    rows
}

/// The figures `tcptrace -l` (Ostermann's classic tool, Debian package `tcptrace`, run by
/// its absolute path: ours has the same name) defines as tcptrace does, per connection and
/// direction: packets, unique bytes, data packets and bytes, retransmitted data packets
/// and bytes (bytes seen before, sent again), out-of-order packets (its name for segments
/// into a hole), pure ACKs, SYN/FIN packets, segment sizes, MSS, window scale.
fn ostermann(path: &Path, rows: &Rows) {
    let out = Command::new("/usr/bin/tcptrace")
        .args(["-l", "-n", "-r"])
        .arg(path)
        .output()
        .expect("run /usr/bin/tcptrace (install Debian's tcptrace)");
    let text = stdout_ok("/usr/bin/tcptrace -l", &out);
    // (its label, our JSON summary field)
    let fields: [(&str, &str); 12] = [
        ("total packets", "segments"),
        ("unique bytes sent", "bytes"),
        ("actual data pkts", "data_segments"),
        ("actual data bytes", "data_bytes"),
        ("rexmt data pkts", "rexmt_data_segments"),
        ("rexmt data bytes", "rexmt_data_bytes"),
        ("outoforder pkts", "hole_fills"),
        ("pure acks sent", "pure_acks"),
        ("max segm size", "segment_size_max"),
        ("min segm size", "segment_size_min"),
        ("mss requested", "mss"),
        ("adv wind scale", "wscale"),
    ];
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for block in text.split("TCP connection ").skip(2) {
        let port = block
            .lines()
            // The first "host X:" line is the first sender (letters go on: a, b, c, …).
            .find_map(|l| l.trim().strip_prefix("host ").map(|h| h[2..].trim()))
            .and_then(|h| h.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok())
            .expect("host a");
        let row = rows
            .get(&port)
            .unwrap_or_else(|| panic!("no row for port {port}"));
        let mut check = |label: &str, a: &str, b: &str, ours: [String; 2]| {
            compared += 1;
            if [a, b] != [ours[0].as_str(), ours[1].as_str()] {
                mismatches.push(format!(
                    "port {port} {label}: tcptrace -l {a}/{b}, ours {}/{}",
                    ours[0], ours[1]
                ));
            }
        };
        for line in block.lines() {
            for (label, field) in fields {
                let parts: Vec<&str> = line.split(&format!("{label}:")).collect();
                if parts.len() != 3 {
                    continue;
                }
                let a = parts[1].split_whitespace().next().unwrap_or("");
                let b = parts[2].split_whitespace().next().unwrap_or("");
                let ours = [0, 1].map(|i| match &row[field][i] {
                    Value::Null => "0".to_string(),
                    v => v.to_string(),
                });
                check(label, a, b, ours);
            }
            let parts: Vec<&str> = line.split("SYN/FIN pkts sent:").collect();
            if parts.len() == 3 {
                let a = parts[1].split_whitespace().next().unwrap_or("");
                let b = parts[2].split_whitespace().next().unwrap_or("");
                let ours = [0, 1]
                    .map(|i| format!("{}/{}", row["syn_segments"][i], row["fin_segments"][i]));
                check("SYN/FIN pkts sent", a, b, ours);
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(compared, 3 * 13, "figures compared:\n{text}");
}

#[test]
fn agrees_with_wireshark_with_offloads() {
    compare("wireshark-offloads", true);
}

#[test]
fn agrees_with_wireshark_without_offloads() {
    compare("wireshark-no-offloads", false);
}

// ---------------------------------------------------------------------------------------
// Captures taken from one side or with capture loss, built segment by segment
// ---------------------------------------------------------------------------------------

/// One built connection (client 10.9.0.1:40000, server 10.9.0.2:80): (ms, from the
/// client, flags, seq, ack, window, payload bytes).
type Built = [(u64, bool, u16, u32, u32, u16, usize)];

fn built_capture(name: &str, segs: &Built) -> PathBuf {
    use common::packet::{Ipv4, Tcp, eth4};
    let (c, s) = ([10, 9, 0, 1], [10, 9, 0, 2]);
    let frames: Vec<common::pcap::Frame> = segs
        .iter()
        .map(|&(ms, client, flags, seq, ack, window, len)| {
            let (src, dst, sport, dport) = if client {
                (c, s, 40000, 80)
            } else {
                (s, c, 80, 40000)
            };
            let mut t = Tcp::new(sport, dport);
            (t.seq, t.ack, t.flags, t.window) = (seq, ack, flags, window);
            t.payload = vec![b'x'; len];
            common::pcap::Frame {
                ts: Duration::from_millis(1_700_000_000_000 + ms),
                data: eth4(&Ipv4::new(src, dst).tcp(&t)),
            }
        })
        .collect();
    let path = scratch(&format!("wireshark-{name}.{}.pcap", std::process::id()));
    common::pcap::write_pcap(&path, &frames);
    path
}

/// Per frame (1-based): Wireshark's `tcp.analysis` flags among `kinds`, and its initial RTT
/// in nanoseconds where it gives one.
fn tshark_flags(path: &Path, kinds: &[&str]) -> (Vec<BTreeSet<String>>, Option<u64>) {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(path)
        .args(["-T", "fields", "-E", "separator=\t"]);
    cmd.args(["-e", "tcp.analysis.initial_rtt"]);
    for k in kinds {
        cmd.args(["-e", &format!("tcp.analysis.{k}")]);
    }
    let out = cmd.output().expect("run tshark (install Debian's tshark)");
    let text = stdout_ok("tshark", &out);
    let mut rtt = None;
    let flags = text
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            if !c[0].is_empty() {
                rtt.get_or_insert(secs_to_ns(c[0]));
            }
            kinds
                .iter()
                .zip(&c[1..])
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, _)| k.to_string())
                .collect()
        })
        .collect();
    (flags, rtt)
}

/// tcptrace's events per frame as Wireshark's names (among `kinds`), and its handshake
/// RTT.
fn our_flags(path: &Path, kinds: &[&str]) -> (Vec<BTreeSet<String>>, Option<u64>) {
    let (labels, rtt, _) = tcptrace_labels(path);
    let flags = labels
        .into_iter()
        .map(|set| {
            set.into_iter()
                .filter(|k| kinds.contains(k))
                .map(String::from)
                .collect()
        })
        .collect();
    (flags, rtt.get(&40000).copied())
}

/// Capture loss seen on a pure ACK, a handshake whose SYN-ACK was not captured, and
/// repeated ACKs of a zero window: tcptrace's notes are Wireshark's, frame by frame, and
/// its handshake RTT is Wireshark's initial RTT.
#[test]
fn one_sided_and_lossy_captures_agree_with_wireshark() {
    use tcptrace_common::tcp_flags::{ACK, PSH, SYN};
    let (ci, si) = (1000u32, 5000u32);
    let kinds = ["lost_segment", "ack_lost_segment", "duplicate_ack"];
    let handshake = [
        (0, true, SYN, ci, 0, 64240, 0),
        (3, false, SYN | ACK, si, ci + 1, 65160, 0),
        (4, true, ACK, ci + 1, si + 1, 502, 0),
    ];
    let lossy = [
        &handshake[..],
        &[
            (10, true, ACK | PSH, ci + 1, si + 1, 502, 100),
            // Bytes 101:301 of the client not captured; its next segments carry none
            // (the second with a new window: not a duplicate ACK either way).
            (20, true, ACK, ci + 301, si + 1, 502, 0),
            (21, true, ACK, ci + 301, si + 1, 503, 0),
            (22, false, ACK, si + 1, ci + 301, 509, 0),
        ],
    ]
    .concat();
    let one_sided = [
        (0, true, SYN, ci, 0, 64240, 0),
        (7, true, ACK, ci + 1, si + 1, 502, 0),
        (8, true, ACK | PSH, ci + 1, si + 1, 502, 10),
    ];
    let mut zero = handshake.to_vec();
    zero.extend([
        (10, true, ACK | PSH, ci + 1, si + 1, 502, 100),
        (11, true, ACK | PSH, ci + 101, si + 1, 502, 100),
    ]);
    // Four ACKs of a zero window with data outstanding, then four with it open.
    zero.extend((0..4).map(|i| (12 + i, false, ACK, si + 1, ci + 101, 0, 0)));
    zero.extend((0..4).map(|i| (20 + i, false, ACK, si + 1, ci + 101, 509, 0)));
    for (name, segs, want_lost, want_dups, want_rtt) in [
        ("lossy", &lossy[..], 1, 0, Some(4_000_000)),
        ("one-sided", &one_sided[..], 0, 0, Some(7_000_000)),
        ("zero-window", &zero[..], 0, 3, Some(4_000_000)),
    ] {
        let path = built_capture(name, segs);
        let (theirs, their_rtt) = tshark_flags(&path, &kinds);
        let (ours, our_rtt) = our_flags(&path, &kinds);
        assert_eq!(ours, theirs, "{name}: tcptrace vs tshark, per frame");
        assert_eq!(our_rtt, their_rtt, "{name}: handshake RTT vs initial RTT");
        // The shapes are what the test is about.
        let n = |k: &str| theirs.iter().filter(|s| s.contains(k)).count();
        assert_eq!(
            (n("lost_segment"), n("duplicate_ack"), their_rtt),
            (want_lost, want_dups, want_rtt),
            "{name}: Wireshark's flags {theirs:?}"
        );
    }
}
