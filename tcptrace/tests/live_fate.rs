//! Packet fate live: real drops with real causes in two network namespaces joined by a
//! veth pair (a firewall rule on INPUT or OUTPUT, a closed port), tcptrace and tcpdump on
//! the traced side. Each drop must carry the kernel's exact reason and be tied to its
//! connection; tcpdump's lines stay as tcpdump prints them; a drop of a connection the
//! filter does not take leaves no trace.
mod common;

use std::{
    net::{IpAddr, SocketAddr, TcpListener},
    os::fd::OwnedFd,
    process::Command,
};

use common::{
    netns::{NetnsPair, Proc, connect_nonblocking, in_netns, refused},
    tcpdump_bin, tcptrace_bin,
};
use serde_json::Value;

/// tcptrace (with `args`) and tcpdump (`-n -l FILTER`) on `veth_b` in namespace `b`.
fn watch(net: &NetnsPair, args: &[&str], filter: &str) -> (Proc, Proc) {
    let mut tt = net.exec(&net.b, tcptrace_bin());
    tt.args(["-i", &net.veth_b]).args(args).env("TZ", "UTC");
    let mut tcptrace = Proc::spawn("tcptrace", tt);
    tcptrace.wait_stderr("listening on");
    let mut td = net.exec(&net.b, tcpdump_bin());
    td.args(["-n", "-l", "-i", &net.veth_b, filter])
        .env("TZ", "UTC");
    let mut tcpdump = Proc::spawn("tcpdump", td);
    tcpdump.wait_stderr("listening on");
    (tcptrace, tcpdump)
}

/// Stops both (tcptrace first, which must exit 0); tcpdump's packet lines.
fn stop(tt: &mut Proc, td: &mut Proc) -> Vec<String> {
    let code = tt.interrupt();
    assert_eq!(
        code,
        Some(0),
        "tcptrace exit; stderr:\n{}",
        tt.err_lines.join("\n")
    );
    td.interrupt();
    td.out_lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| without_ts(l))
        .collect()
}

fn without_ts(l: &str) -> String {
    l.split_once(' ').map_or(l, |(_, rest)| rest).to_string()
}

/// tcptrace's packet lines (not notes, not the summary), without timestamps.
fn packet_lines(tt: &Proc) -> Vec<String> {
    tt.out_lines
        .iter()
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with(' '))
        .map(|l| without_ts(l))
        .collect()
}

fn notes(tt: &Proc) -> Vec<&str> {
    tt.out_lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("    ^ ")
                .or_else(|| l.strip_prefix("    * "))
        })
        .collect()
}

/// Runs `cmd args` in namespace `ns`; it must succeed.
fn run_in(net: &NetnsPair, ns: &str, cmd: &str, args: &[&str]) {
    let st = net.exec(ns, cmd).args(args).status().expect(cmd);
    assert!(st.success(), "{cmd} {args:?}: {st}");
}

/// A connection attempt from namespace `a` left open (retransmitting its SYN) until the
/// returned socket is dropped.
fn attempt(net: &NetnsPair, dst: IpAddr, port: u16) -> OwnedFd {
    in_netns(&net.a, move || {
        connect_nonblocking(SocketAddr::new(dst, port))
    })
    .join()
    .expect("connect")
}

/// iptables drops the SYNs to ports 23 and 24 on INPUT; tcptrace traces port 23 only.
/// Every SYN of port 23 gets a NETFILTER_DROP note under its line; the closing note
/// says the host's firewall dropped them and names the client's process (ours); port
/// 24's drops leave nothing.
#[test]
fn syns_dropped_on_input() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    for port in ["23", "24"] {
        run_in(
            &net,
            &net.b,
            "iptables",
            &[
                "-A", "INPUT", "-p", "tcp", "--dport", port, "--syn", "-j", "DROP",
            ],
        );
    }
    let (mut tt, mut td) = watch(&net, &["--explain", "--summary", "port", "23"], "port 23");
    let untraced = attempt(&net, b, 24);
    let traced = attempt(&net, b, 23);
    // The first SYN and its retransmission.
    tt.wait_stdout_n("NETFILTER_DROP", 2);
    td.wait_stdout_n("Flags [S]", 2);
    drop((traced, untraced));
    let wire = stop(&mut tt, &mut td);
    assert_eq!(packet_lines(&tt), wire, "tcptrace's lines are tcpdump's");
    let syns = wire.len();
    let all = tt.out_lines.join("\n");
    let notes = notes(&tt);
    let drops: Vec<&&str> = notes.iter().filter(|n| n.starts_with("dropped")).collect();
    assert_eq!(drops.len(), syns, "one drop note per SYN:\n{all}");
    for n in drops {
        assert!(
            n.starts_with("dropped in this host ")
                && n.contains(" ms after it arrived: NETFILTER_DROP ("),
            "{n}"
        );
    }
    // Each note right under its SYN's line (after the handshake/retransmission note).
    for (i, l) in tt.out_lines.iter().enumerate() {
        if l.contains("Flags [S]") {
            assert!(tt.out_lines[i + 2].contains("NETFILTER_DROP"), "{all}");
        }
    }
    let last = notes
        .iter()
        .find(|n| n.starts_with("no answer"))
        .expect(&all);
    let me = std::process::id();
    assert!(
        last.starts_with(&format!(
            "no answer: dropped by this host's firewall ({syns} of {syns} SYNs from client {}.",
            net.a4
        )) && last.contains(&format!(" to {}.23, NETFILTER_DROP) (client: ", net.b4))
            && last.ends_with(&format!(" pid {me})")),
        "{last}"
    );
    assert!(
        !all.contains(".24"),
        "an untraced drop left a trace:\n{all}"
    );
    let row = tt
        .out_lines
        .iter()
        .find(|l| l.starts_with("1  "))
        .expect(&all);
    assert!(
        row.contains(&format!(
            "no answer to {syns} SYNs, {syns} dropped here (last: NETFILTER_DROP)"
        )),
        "{row}"
    );
}

/// iptables drops the server's SYN-ACK on OUTPUT: the wire never sees it, so tcpdump has
/// no line for it; tcptrace gives it a line of its own, marked, with its note.
#[test]
fn synack_dropped_on_output() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    run_in(
        &net,
        &net.b,
        "iptables",
        &[
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "--sport",
            "23",
            "--tcp-flags",
            "SYN,ACK",
            "SYN,ACK",
            "-j",
            "DROP",
        ],
    );
    let listener = in_netns(&net.b, move || {
        TcpListener::bind(SocketAddr::new(b, 23)).unwrap()
    })
    .join()
    .unwrap();
    let (mut tt, mut td) = watch(&net, &["--explain", "port", "23"], "port 23");
    let c = attempt(&net, b, 23);
    tt.wait_stdout("[not on the wire]");
    td.wait_stdout("Flags [S]");
    let wire = stop(&mut tt, &mut td);
    drop((c, listener));
    let all = tt.out_lines.join("\n");
    let lines = packet_lines(&tt);
    let (own, on_wire): (Vec<String>, Vec<String>) = lines
        .into_iter()
        .partition(|l| l.ends_with(" [not on the wire]"));
    assert_eq!(
        on_wire,
        wire[..on_wire.len()],
        "tcptrace's wire lines are tcpdump's"
    );
    assert!(!own.is_empty());
    for l in &own {
        assert!(
            l.starts_with(&format!("IP {}.23 > {}.", net.b4, net.a4)) && l.contains("Flags [S.]"),
            "{l}"
        );
    }
    let i = tt
        .out_lines
        .iter()
        .position(|l| l.ends_with("[not on the wire]"))
        .unwrap();
    assert!(
        tt.out_lines[i + 1]
            .starts_with("    ^ dropped in this host before it reached the wire: NETFILTER_DROP ("),
        "{all}"
    );
}

/// A closed port: the SYN is dropped with NO_SOCKET (and answered by a RST); the JSON
/// `drop` event names the reason, the function, the direction and the connection.
#[test]
fn closed_port_json() {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let (mut tt, mut td) = watch(&net, &["--json", "port", "23"], "port 23");
    refused(&net, a, b, 40023, 23);
    tt.wait_stdout("\"drop\"");
    td.wait_stdout("Flags [R.]");
    let wire = stop(&mut tt, &mut td);
    let objs: Vec<Value> = tt
        .out_lines
        .iter()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    let texts: Vec<String> = objs
        .iter()
        .filter(|o| o["type"] == "segment")
        .map(|o| without_ts(o["line"].as_str().unwrap()))
        .collect();
    assert_eq!(texts, wire);
    let drops: Vec<&Value> = objs.iter().filter(|o| o["kind"] == "drop").collect();
    assert_eq!(drops.len(), 1, "{:?}", tt.out_lines);
    let d = drops[0];
    assert_eq!(d["reason"], "NO_SOCKET");
    assert_eq!(d["direction"], "ingress");
    assert_eq!(d["conn"], 1);
    assert_eq!(d["from"], format!("{}.40023", net.a4));
    assert_eq!(d["to"], format!("{}.23", net.b4));
    let f = d["function"].as_str().unwrap();
    assert!(f.starts_with("tcp_v4_rcv"), "{f}");
    let row = objs
        .iter()
        .find(|o| o["type"] == "summary")
        .expect("summary row");
    assert_eq!(row["drops"], 1);
    assert_eq!(row["last_drop_reason"], "NO_SOCKET");
}

/// Without `--explain`, `--json`, `--summary`: no drop hook at all.
#[test]
fn plain_lines_attach_nothing() {
    let net = NetnsPair::new();
    let (mut tt, mut td) = watch(&net, &["port", "23"], "port 23");
    let out = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .unwrap();
    let progs = String::from_utf8_lossy(&out.stdout);
    assert!(!progs.contains("tcptrace_drop"), "{progs}");
    stop(&mut tt, &mut td);
}
