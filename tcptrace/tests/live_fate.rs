//! Packet fate live: real drops with real causes in two network namespaces joined by a
//! veth pair (a firewall rule on INPUT or OUTPUT, a closed port), tcptrace and tcpdump on
//! the traced side. Each drop must carry the kernel's exact reason and be tied to its
//! connection; tcpdump's lines stay as tcpdump prints them; a drop of a connection the
//! filter does not take leaves no trace.
mod common;

use std::{
    net::{IpAddr, SocketAddr, TcpListener},
    os::fd::OwnedFd,
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
    let (code, err) = (tt.interrupt(), tt.err_lines.join("\n"));
    assert_eq!(code, Some(0), "tcptrace exit; stderr:\n{err}");
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
    closed_port(false);
}

/// The same over IPv6.
#[test]
fn closed_port_json_ipv6() {
    closed_port(true);
}

fn closed_port(v6: bool) {
    let net = NetnsPair::new();
    let (a4, b4) = if v6 {
        (&net.a6, &net.b6)
    } else {
        (&net.a4, &net.b4)
    };
    let (a, b): (IpAddr, IpAddr) = (a4.parse().unwrap(), b4.parse().unwrap());
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
    assert_eq!(d["from"], format!("{a4}.40023"));
    assert_eq!(d["to"], format!("{b4}.23"));
    let f = d["function"].as_str().unwrap();
    let rcv = if v6 { "tcp_v6_rcv" } else { "tcp_v4_rcv" };
    assert!(f.starts_with(rcv), "{f}");
    let row = objs
        .iter()
        .find(|o| o["type"] == "summary")
        .expect("summary row");
    assert_eq!(row["drops"], 1);
    assert_eq!(row["last_drop_reason"], "NO_SOCKET");
}

/// Without `--explain`, `--json`, `--summary`: no drop hook at all (tcptrace holds no
/// raw tracepoint program).
#[test]
fn plain_lines_attach_nothing() {
    let net = NetnsPair::new();
    let (mut tt, mut td) = watch(&net, &["port", "23"], "port 23");
    let fds = std::fs::read_dir(format!("/proc/{}/fdinfo", tt.pid())).unwrap();
    let mut progs = 0;
    for fd in fds {
        let info = std::fs::read_to_string(fd.unwrap().path()).unwrap_or_default();
        if info.contains("prog_type:") {
            progs += 1;
            // BPF_PROG_TYPE_RAW_TRACEPOINT
            assert!(!info.contains("prog_type:\t17\n"), "{info}");
        }
    }
    assert!(progs > 0, "tcptrace holds no program at all");
    stop(&mut tt, &mut td);
}

/// The verdict note of connection `client > server:port`.
fn verdict<'a>(tt: &'a Proc, all: &str) -> &'a str {
    notes(tt)
        .into_iter()
        .find(|n| n.starts_with("no answer"))
        .unwrap_or_else(|| panic!("no verdict:\n{all}"))
}

/// rp_filter: SYNs from an address namespace `b` has no route back to are dropped by the
/// reverse-path filter (IP_RPFILTER), each under its line.
#[test]
fn rp_filter_drops() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let stray = "10.232.0.1";
    common::netns::ip_batch(
        Some(&net.a),
        &format!(
            "addr add {stray}/32 dev {}\nroute add {b}/32 dev {} src {stray}\n",
            net.veth_a, net.veth_a
        ),
    );
    // ARP from a's own address on the link (else b's rp_filter refuses the ARP too).
    for (ns, dev, key) in [
        (&net.a, &net.veth_a, "arp_announce=2"),
        (&net.b, &net.veth_b, "rp_filter=1"),
    ] {
        for k in ["all", dev] {
            run_in(
                &net,
                ns,
                "sysctl",
                &["-qw", &format!("net.ipv4.conf.{k}.{key}")],
            );
        }
    }
    let (mut tt, mut td) = watch(&net, &["--explain", "port", "23"], "port 23");
    let c = attempt(&net, b, 23);
    tt.wait_stdout_n("IP_RPFILTER", 2);
    td.wait_stdout_n("Flags [S]", 2);
    drop(c);
    let wire = stop(&mut tt, &mut td);
    assert_eq!(packet_lines(&tt), wire);
    let all = tt.out_lines.join("\n");
    for (i, l) in tt.out_lines.iter().enumerate() {
        if l.contains("Flags [S]") {
            assert!(l.contains(&format!("IP {stray}.")), "{l}");
            assert!(
                tt.out_lines[i + 2].starts_with("    ^ dropped in this host ")
                    && tt.out_lines[i + 2].contains(" ms after it arrived: IP_RPFILTER ("),
                "{all}"
            );
        }
    }
    let v = verdict(&tt, &all);
    assert!(
        v.starts_with("no answer: dropped by this host's reverse-path filter (rp_filter) (")
            && v.contains(&format!("SYNs from client {stray}.")),
        "{v}"
    );
}

/// A SYN with a bad TCP checksum, sent from a raw socket: dropped with TCP_CSUM.
#[test]
fn bad_checksum_drop() {
    use common::packet::{Ipv4, Tcp};
    let net = NetnsPair::new();
    let (a, b): (std::net::Ipv4Addr, std::net::Ipv4Addr) =
        (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let (mut tt, mut td) = watch(&net, &["--explain", "port", "23"], "port 23");
    let mut tcp = Tcp::new(40123, 23);
    tcp.seq = 1000;
    tcp.flags = tcptrace_common::tcp_flags::SYN;
    tcp.window = 1000;
    tcp.csum = Some(0xdead);
    let pkt = Ipv4::new(a.octets(), b.octets()).tcp(&tcp);
    in_netns(&net.a, move || {
        // SAFETY: a raw socket, and sendto with a valid buffer and address.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW);
            assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
            let (sa, len) = common::netns::sockaddr(SocketAddr::new(IpAddr::V4(b), 0));
            let n = libc::sendto(
                fd,
                pkt.as_ptr().cast(),
                pkt.len(),
                0,
                sa.as_ptr().cast(),
                len,
            );
            assert_eq!(n as usize, pkt.len(), "{}", std::io::Error::last_os_error());
            libc::close(fd);
        }
    })
    .join()
    .unwrap();
    tt.wait_stdout("TCP_CSUM");
    td.wait_stdout("Flags [S]");
    let wire = stop(&mut tt, &mut td);
    assert_eq!(packet_lines(&tt), wire);
    let all = tt.out_lines.join("\n");
    assert_eq!(
        tt.out_lines[1],
        "    ^ handshake 1/3: client {a}.40123 asks {b}.23 to open a connection (SYN, ISN 1000)"
            .replace("{a}", &net.a4)
            .replace("{b}", &net.b4),
        "{all}"
    );
    assert!(
        tt.out_lines[2].starts_with("    ^ dropped in this host ")
            && tt.out_lines[2].ends_with(" ms after it arrived: TCP_CSUM (tcp_v4_rcv)"),
        "{all}"
    );
    assert_eq!(
        verdict(&tt, &all),
        format!(
            "no answer: dropped by this host: bad checksum (1 of 1 SYN from client {}.40123 to {}.23, TCP_CSUM)",
            net.a4, net.b4
        )
    );
}
