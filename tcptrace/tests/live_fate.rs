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

/// tcptrace's packet lines: those of segments that never reached the wire (marked), and
/// the others.
fn not_on_wire(tt: &Proc) -> (Vec<String>, Vec<String>) {
    packet_lines(tt)
        .into_iter()
        .partition(|l| l.ends_with(" [not on the wire]"))
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
/// Runs `line` (a command and its arguments, split at spaces) in namespace `ns`.
fn run_in(net: &NetnsPair, ns: &str, line: &str) {
    let mut words = line.split_whitespace();
    let cmd = words.next().expect("a command");
    let st = net.exec(ns, cmd).args(words).status().expect(cmd);
    assert!(st.success(), "{line}: {st}");
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
            &format!("iptables -A INPUT -p tcp --dport {port} --syn -j DROP"),
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
        !all.contains(&format!("{}.24", net.b4)),
        "an untraced drop left a trace:\n{all}"
    );
    let row = summary_row(&tt, &all);
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
        "iptables -A OUTPUT -p tcp --sport 23 --tcp-flags SYN,ACK SYN,ACK -j DROP",
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
    let (own, on_wire) = not_on_wire(&tt);
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

/// tcptrace's JSON lines, parsed; its segments' lines must be tcpdump's (`wire`).
fn json_lines(tt: &Proc, wire: &[String]) -> Vec<Value> {
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
    objs
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
    let objs = json_lines(&tt, &wire);
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

/// Without `--explain`, `--json`, `--summary`, `-w`: no drop hook at all (tcptrace holds
/// no raw tracepoint program).
#[test]
fn plain_lines_attach_nothing() {
    let net = NetnsPair::new();
    let (mut tt, mut td) = watch(&net, &["port", "23"], "port 23");
    assert_eq!(raw_tracepoints(&tt), 0);
    stop(&mut tt, &mut td);
}

/// `-w` alone attaches the drop hook (its frames get the drops as comments).
#[test]
fn write_attaches_the_drop_hook() {
    let net = NetnsPair::new();
    let file = std::env::temp_dir().join(format!("tcptrace-fate-w-{}.pcapng", std::process::id()));
    let (mut tt, mut td) = watch(
        &net,
        &["-w", file.to_str().unwrap(), "port", "23"],
        "port 23",
    );
    assert!(raw_tracepoints(&tt) > 0, "{:?}", tt.err_lines);
    stop(&mut tt, &mut td);
    let _ = std::fs::remove_file(&file);
}

/// The raw tracepoint programs tcptrace holds (it must hold some program).
fn raw_tracepoints(tt: &Proc) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{}/fdinfo", tt.pid())).unwrap();
    let (mut progs, mut raw) = (0, 0);
    for fd in fds {
        let info = std::fs::read_to_string(fd.unwrap().path()).unwrap_or_default();
        if info.contains("prog_type:") {
            progs += 1;
            // BPF_PROG_TYPE_RAW_TRACEPOINT
            if info.contains("prog_type:\t17\n") {
                raw += 1;
            }
        }
    }
    assert!(progs > 0, "tcptrace holds no program at all");
    raw
}

/// The summary's row of connection 1.
fn summary_row<'a>(tt: &'a Proc, all: &str) -> &'a str {
    tt.out_lines
        .iter()
        .find(|l| l.starts_with("1  "))
        .unwrap_or_else(|| panic!("no summary row:\n{all}"))
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
            run_in(&net, ns, &format!("sysctl -qw net.ipv4.conf.{k}.{key}"));
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

// ---------------------------------------------------------------------------------------
// ICMP errors about traced connections

/// tcpdump's filter for what `tcptrace port P` prints: the segments, and the ICMP errors
/// whose quoted TCP header has port P (IPv4 without options at either level).
fn with_icmp(port: u16) -> String {
    format!(
        "port {port} or (icmp and (icmp[28:2]={port} or icmp[30:2]={port})) \
         or (icmp6 and (ip6[88:2]={port} or ip6[90:2]={port}))"
    )
}

/// A capture with ICMP and ICMPv6 errors of every kind about port 23, and one about port
/// 80: `tcptrace -r` prints exactly what tcpdump prints for them in each style (the
/// corpus's styles, `-v` with the quoted packet, and a wrong ICMP checksum), and with
/// `--no-icmp` exactly what `tcpdump port 23` prints.
#[test]
fn icmp_capture_lines_are_tcpdumps() {
    use common::packet::*;
    use std::time::Duration;
    let (a, b, r) = ([10, 9, 0, 1], [10, 9, 0, 2], [10, 9, 1, 254]);
    let syn_tcp = |sport, dport| Tcp {
        seq: 1000,
        flags: tcptrace_common::tcp_flags::SYN,
        window: 64240,
        options: [opt::mss(1460), opt::sack_ok(), opt::ts(1, 0)].concat(),
        ..Tcp::new(sport, dport)
    };
    let client = Ipv4 {
        id: 7,
        df: true,
        ..Ipv4::new(a, b)
    };
    let syn = client.tcp(&syn_tcp(40000, 23));
    let data = client.tcp(&Tcp {
        flags: tcptrace_common::tcp_flags::ACK | tcptrace_common::tcp_flags::PSH,
        ack: 5001,
        payload: vec![b'x'; 1388],
        ..syn_tcp(40000, 23)
    });
    let from = |src, id| Ipv4 {
        tos: 0xc0,
        id,
        ..Ipv4::new(src, a)
    };
    let err = |src, kind, code, rest, quoted: &[u8]| {
        eth4(&from(src, 99).packet(IPPROTO_ICMP, &icmp_error(kind, code, rest, quoted)))
    };
    let mut bad = err(r, 3, 10, [0; 4], &syn);
    bad[14 + 20 + 2] ^= 1;
    let (a6, b6, r6) = (
        "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
        "2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
        "2001:db8:1::fe"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    let syn6 = Ipv6::new(a6, b6).tcp(&syn_tcp(40002, 23));
    let err6 = |src, kind, code, rest| {
        eth6(&Ipv6::new(src, a6).packet(
            IPPROTO_ICMPV6,
            &icmp6_error(src, a6, kind, code, rest, &syn6),
        ))
    };
    let frames = vec![
        eth4(&syn),
        err(b, 3, 3, [0; 4], &syn),
        err(r, 3, 13, [0; 4], &syn),
        err(r, 3, 1, [0; 4], &syn),
        err(r, 3, 4, [0, 0, 0x05, 0x00], &data[..548]),
        err(r, 11, 0, [0; 4], &syn[..28]),
        err(r, 12, 0, [20, 0, 0, 0], &syn),
        bad,
        err(b, 3, 3, [0; 4], &client.tcp(&syn_tcp(40001, 80))),
        eth6(&syn6),
        err6(b6, 1, 4, [0; 4]),
        err6(r6, 1, 1, [0; 4]),
        err6(r6, 2, 0, 1280u32.to_be_bytes()),
        err6(r6, 3, 0, [0; 4]),
        err6(r6, 4, 0, 6u32.to_be_bytes()),
    ];
    let frames: Vec<common::pcap::Frame> = frames
        .into_iter()
        .enumerate()
        .map(|(i, data)| common::pcap::Frame {
            ts: Duration::from_micros(1_700_000_000_000_000 + 1_001_000 * i as u64),
            data,
        })
        .collect();
    let path = common::pcap::scratch("icmp-errors.pcap");
    common::pcap::write_pcap(&path, &frames);
    let path = path.to_string_lossy().into_owned();
    let styles: [&[&str]; 8] = [
        &[],
        &["-v"],
        &["-v", "-S"],
        &["-vv"],
        &["-q"],
        &["-tt"],
        &["-ttt", "-#"],
        &["-tttt"],
    ];
    // In the emulated VMs (`TCPTRACE_KERNEL_STYLES`), the styles in which the kernel
    // program works differently (checksums with -v); the others differ only in userspace.
    let kernel_only = std::env::var_os("TCPTRACE_KERNEL_STYLES").is_some();
    let styles = if kernel_only {
        &styles[..2]
    } else {
        &styles[..]
    };
    for (style, icmp) in styles
        .iter()
        .map(|s| (*s, true))
        .chain([(&["-v"][..], false)])
    {
        let filter = if icmp {
            with_icmp(23)
        } else {
            "port 23".to_string()
        };
        let mut td: Vec<&str> = vec!["-n"];
        td.extend(style);
        td.extend(["-r", &path, &filter]);
        let want = common::stdout_ok("tcpdump", &common::tcpdump(&td));
        let mut tt: Vec<&str> = vec!["-r", &path, "-n"];
        tt.extend(style);
        if !icmp {
            tt.push("--no-icmp");
        }
        tt.extend(["port", "23"]);
        let got = common::stdout_ok("tcptrace", &common::tcptrace(&tt));
        assert!(want.matches("ICMP").count() >= if icmp { 12 } else { 0 });
        let d = common::diff(&want, &got, 6);
        assert!(
            d.is_empty(),
            "tcptrace {tt:?} differs from tcpdump {td:?}:\n{d}"
        );
    }
}

/// iptables REJECT on the traced host: port 23 with an ICMP port unreachable, port 25
/// with a TCP reset, port 24 (untraced) with an ICMP port unreachable too. tcptrace prints
/// tcpdump's lines for the SYNs, the ICMP error and the RST; the SYN's drop
/// (NETFILTER_DROP) and the ICMP error are tied to their connections; the verdict on
/// port 23 says the ICMP refused it; port 24 leaves no trace.
#[test]
fn rejected_by_the_firewall() {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    for (port, with) in [
        ("23", "icmp-port-unreachable"),
        ("24", "icmp-port-unreachable"),
        ("25", "tcp-reset"),
    ] {
        run_in(
            &net,
            &net.b,
            &format!("iptables -A INPUT -p tcp --dport {port} -j REJECT --reject-with {with}"),
        );
    }
    let (mut tt, mut td) = watch(
        &net,
        &["--explain", "--summary", "port", "23", "or", "port", "25"],
        &format!("{} or port 25", with_icmp(23)),
    );
    refused(&net, a, b, 40024, 24);
    refused(&net, a, b, 40023, 23);
    refused(&net, a, b, 40025, 25);
    tt.wait_stdout("Flags [R.]");
    td.wait_stdout("Flags [R.]");
    let wire = stop(&mut tt, &mut td);
    let all = tt.out_lines.join("\n");
    assert_eq!(
        packet_lines(&tt),
        wire,
        "tcptrace's lines are tcpdump's:\n{all}"
    );
    let (a4, b4) = (&net.a4, &net.b4);
    // The client may send its SYN again before the first ICMP error reaches its socket
    // (a soft error while connect holds the socket): one ICMP line under each SYN.
    let syn23 = format!("IP {a4}.40023 > {b4}.23: Flags [S], ");
    let syns = wire.iter().filter(|l| l.starts_with(&syn23)).count();
    assert!(syns >= 1, "{all}");
    let mut want: Vec<String> = Vec::new();
    for _ in 0..syns {
        want.push(syn23.clone());
        want.push(format!(
            "IP {b4} > {a4}: ICMP {b4} tcp port 23 unreachable, length 68"
        ));
    }
    want.push(format!("IP {a4}.40025 > {b4}.25: Flags [S], "));
    want.push(format!("IP {b4}.25 > {a4}.40025: Flags [R.], seq 0, "));
    assert_eq!(wire.len(), want.len(), "{all}");
    for (got, want) in wire.iter().zip(&want) {
        assert!(got.starts_with(want.as_str()), "{got}\nnot {want}\n{all}");
    }
    let notes = notes(&tt);
    let me = std::process::id();
    let icmp = format!(
        "refused by an ICMP port unreachable from {b4} (the SYN from client {a4}.40023 to {b4}.23)"
    );
    // (With the sender's process.)
    let mine = format!("{icmp} (");
    assert_eq!(
        notes.iter().filter(|n| n.starts_with(&mine)).count(),
        syns,
        "{all}"
    );
    // The SYNs' drops: NETFILTER_DROP, each naming its segment or under its line.
    let drops: Vec<&&str> = notes
        .iter()
        .filter(|n| n.contains("NETFILTER_DROP"))
        .collect();
    assert_eq!(drops.len(), syns + 1, "{all}");
    let ports = std::iter::repeat_n(23, syns).chain([25]);
    for (d, port) in drops.iter().zip(ports) {
        assert!(
            d.starts_with(&format!("{a4}.400{port} > {b4}.{port} seq "))
                || (port == 25 && d.starts_with("dropped in this host ")),
            "{d}\n{all}"
        );
        assert!(d.contains(" after it arrived: NETFILTER_DROP ("), "{d}");
    }
    let verdict = notes
        .iter()
        .rfind(|n| n.starts_with("refused by an ICMP port unreachable from "))
        .expect(&all);
    assert!(
        verdict.starts_with(&format!(
            "refused by an ICMP port unreachable from {b4} ({syns} SYN{} from client {a4}.40023 to {b4}.23) (client: ",
            if syns > 1 { "s" } else { "" }
        )) && verdict.ends_with(&format!(" pid {me})")),
        "{verdict}"
    );
    let row = summary_row(&tt, &all);
    assert!(
        row.contains(&format!(
            "refused by an ICMP port unreachable from {b4} ({syns} SYN{}), {syns} dropped here (last: NETFILTER_DROP)",
            if syns > 1 { "s" } else { "" }
        )),
        "{row}"
    );
    assert!(
        !all.contains(&format!("{}.24", net.b4)) && !all.contains("tcp port 24"),
        "an untraced connection left a trace:\n{all}"
    );
}

/// With traffic still going when the tracers stop (retransmissions), one may stop a
/// packet later than the other: every line both printed must be the same, in the same
/// order. Those lines.
fn common_lines(tt: &Proc, wire: &[String]) -> Vec<String> {
    let lines = packet_lines(tt);
    let n = lines.len().min(wire.len());
    assert_eq!(
        lines[..n],
        wire[..n],
        "tcptrace's lines are tcpdump's:\n{}",
        tt.out_lines.join("\n")
    );
    lines[..n].to_vec()
}

/// A path MTU black hole: the traced server in `b` sends to a client in a third
/// namespace through `a`, a router whose link to the client has an MTU of 1280; `b`'s
/// firewall drops the router's ICMP fragmentation needed, so `b` keeps sending full-size
/// DF segments. tcptrace prints each ICMP error as tcpdump does and says what it means
/// for the connection.
#[test]
fn path_mtu_black_hole() {
    use std::io::Write as _;
    use std::net::{SocketAddr, TcpStream};
    let net = NetnsPair::new();
    let c = common::netns::Netns::new(format!("{}c", net.b));
    let (vr, vc) = (format!("{}r", net.veth_a), format!("{}c", net.veth_a));
    // The client's subnet: the pair's third octet, in 10.232.0.0/16.
    let octet = net.a4.split('.').nth(2).unwrap().to_string();
    let (r4, c4) = (format!("10.232.{octet}.1"), format!("10.232.{octet}.2"));
    common::netns::ip_batch(
        None,
        &format!(
            "link add {vr} netns {} type veth peer name {vc} netns {}\n",
            net.a, c.0
        ),
    );
    common::netns::ip_batch(
        Some(&net.a),
        &format!("addr add {r4}/24 dev {vr}\nlink set {vr} mtu 1280 up\n"),
    );
    common::netns::ip_batch(
        Some(&c.0),
        &format!(
            "addr add {c4}/24 dev {vc}\nlink set {vc} up\nlink set lo up\nroute add {}/32 via {r4}\n",
            net.b4
        ),
    );
    common::netns::ip_batch(
        Some(&net.b),
        &format!("route add 10.232.{octet}.0/24 via {}\n", net.a4),
    );
    run_in(&net, &net.a, "sysctl -qw net.ipv4.ip_forward=1");
    run_in(
        &net,
        &net.b,
        "iptables -A INPUT -p icmp --icmp-type fragmentation-needed -j DROP",
    );
    let b: IpAddr = net.b4.parse().unwrap();
    let listener = in_netns(&net.b, move || {
        TcpListener::bind(SocketAddr::new(b, 23)).unwrap()
    })
    .join()
    .unwrap();
    let (mut tt, mut td) = watch(&net, &["--explain", "port", "23"], &with_icmp(23));
    let client = in_netns(&c.0, move || {
        TcpStream::connect(SocketAddr::new(b, 23)).unwrap()
    })
    .join()
    .unwrap();
    let (mut server, _) = listener.accept().unwrap();
    server.write_all(&[b'x'; 8000]).unwrap();
    // The first ICMP error and the one about a retransmission.
    tt.wait_stdout_n("need to frag (mtu 1280)", 2);
    td.wait_stdout_n("need to frag (mtu 1280)", 2);
    let wire = stop(&mut tt, &mut td);
    drop((client, server, listener));
    let all = tt.out_lines.join("\n");
    let both = common_lines(&tt, &wire);
    assert!(
        both.iter().filter(|l| l.contains("need to frag")).count() >= 2,
        "{all}"
    );
    let (a4, b4) = (&net.a4, &net.b4);
    let icmp = format!("IP {a4} > {b4}: ICMP {c4} unreachable - need to frag (mtu 1280), length ");
    let errors: Vec<usize> = tt
        .out_lines
        .iter()
        .enumerate()
        .filter(|(_, l)| without_ts(l).starts_with(&icmp))
        .map(|(i, _)| i)
        .collect();
    assert!(errors.len() >= 2, "{all}");
    for i in errors {
        let note = &tt.out_lines[i + 1];
        let prefix = format!("    ^ path MTU 1280 reported by {a4} while segments of ");
        let rest = note
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{note}\n{all}"));
        let (len, rest) = rest.split_once(" bytes are sent (").unwrap();
        assert!(len.parse::<u32>().unwrap() > 1280, "{note}");
        assert!(rest.starts_with(&format!("{b4}.23 > {c4}.")), "{note}");
    }
}

/// A full accept queue: a listener with backlog 1 that never accepts. The kernel ignores
/// the SYNs that find its queue full (no drop, no answer: it frees them as consumed); the
/// verdict on those connections says the queue was full, from the listener's queue and
/// the namespace's ListenOverflows counter.
#[test]
fn accept_queue_full() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let listener = in_netns(&net.b, move || listener(SocketAddr::new(b, 23), 1))
        .join()
        .unwrap();
    let (mut tt, mut td) = watch(&net, &["--explain", "port", "23"], "port 23");
    // Backlog 1 holds two connections; the third and fourth find it full.
    let conns: Vec<OwnedFd> = (0..4).map(|_| attempt(&net, b, 23)).collect();
    tt.wait_stdout_n("retransmitted SYN", 2);
    td.wait_stdout_n("Flags [S]", 6);
    let wire = stop(&mut tt, &mut td);
    drop((conns, listener));
    let all = tt.out_lines.join("\n");
    assert!(common_lines(&tt, &wire).len() >= 6, "{all}");
    let full: Vec<&str> = notes(&tt)
        .into_iter()
        .filter(|n| n.starts_with("no answer"))
        .collect();
    assert_eq!(full.len(), 2, "{all}");
    for n in full {
        assert!(
            n.starts_with(
                "no answer: accept queue full on port 23: the listener has 2 connections it has not accepted, and the "
            ) && n.contains(&format!(" from client {}.", net.a4))
                && n.contains(" found no room (ListenOverflows +"),
            "{n}\n{all}"
        );
    }
}

/// A listening socket on `addr` with this backlog (std's is 128).
fn listener(addr: SocketAddr, backlog: i32) -> OwnedFd {
    use std::os::fd::AsRawFd;
    let owned = common::netns::tcp_socket(addr, 0);
    let fd = owned.as_raw_fd();
    // SAFETY: plain socket calls with a valid, correctly sized address.
    unsafe {
        let (sa, len) = common::netns::sockaddr(addr);
        assert_eq!(libc::bind(fd, sa.as_ptr().cast(), len), 0, "bind");
        assert_eq!(libc::listen(fd, backlog), 0, "listen");
        owned
    }
}

// ---------------------------------------------------------------------------------------
// Resets explained, retransmissions the wire never saw

/// The running kernel's release as (major, minor).
fn kernel() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut n = r
        .split(['.', '-'])
        .map(|p| p.trim().parse::<u32>().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0))
}

/// `tcp:tcp_send_reset` gives the kernel's `enum sk_rst_reason` since 6.10 (the
/// `TCP_ABORT_ON_*` reasons since 6.11); before, tcptrace says once that reset reasons
/// are off.
fn reset_reasons() -> bool {
    kernel() >= (6, 11)
}

/// The one notice a kernel without reset reasons gives (and one with them never gives).
fn assert_reset_notice(tt: &Proc) {
    let notices: Vec<&String> = tt
        .err_lines
        .iter()
        .filter(|l| l.starts_with("tcptrace: reset reasons off: "))
        .collect();
    let want = usize::from(!reset_reasons());
    assert_eq!(notices.len(), want, "{:?}", tt.err_lines);
}

/// A closed port with `--explain`: the SYN is answered by a RST. Where the kernel gives
/// its reason, the note under the RST's line says it (`NO_SOCKET`: nothing listens on
/// port 23); on 6.1 the SYN's NO_SOCKET drop, which comes right after the RST, says it.
/// The summary row carries the reason; tcpdump's lines are unchanged.
#[test]
fn closed_port_explained() {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let (mut tt, mut td) = watch(&net, &["--explain", "--summary", "port", "23"], "port 23");
    refused(&net, a, b, 40023, 23);
    tt.wait_stdout("dropped in this host");
    td.wait_stdout("Flags [R.]");
    let wire = stop(&mut tt, &mut td);
    assert_eq!(packet_lines(&tt), wire, "tcptrace's lines are tcpdump's");
    assert_reset_notice(&tt);
    let all = tt.out_lines.join("\n");
    let (a4, b4) = (&net.a4, &net.b4);
    let rst = tt
        .out_lines
        .iter()
        .position(|l| l.contains("Flags [R.]"))
        .expect(&all);
    assert!(
        tt.out_lines[rst].contains(&format!("IP {b4}.23 > {a4}.40023: Flags [R.], seq 0, ack ")),
        "{all}"
    );
    let under: Vec<&str> = tt.out_lines[rst + 1..]
        .iter()
        .take_while(|l| l.starts_with("    "))
        .map(|l| l.as_str())
        .collect();
    let drop_note = under
        .iter()
        .find(|l| l.contains("dropped in this host"))
        .unwrap_or_else(|| panic!("no drop note after the RST:\n{all}"));
    assert!(
        drop_note.starts_with(&format!("    * {a4}.40023 > {b4}.23 seq "))
            && drop_note.contains(
                " ms after it arrived: NO_SOCKET (tcp_v4_rcv): nothing listens on port 23"
            ),
        "{all}"
    );
    let reset_note = under
        .iter()
        .find(|l| l.contains("reset sent by this host's kernel"));
    let row = summary_row(&tt, &all);
    if reset_reasons() {
        assert!(
            reset_note.is_some_and(|n| n.starts_with(
                "    ^ reset sent by this host's kernel: NO_SOCKET (nothing listens on port 23)"
            )),
            "{all}"
        );
        assert!(row.contains("refused ×1 (NO_SOCKET)"), "{row}");
    } else {
        assert_eq!(reset_note, None, "{all}");
        assert!(
            row.contains("refused ×1") && !row.contains("refused ×1 ("),
            "{row}"
        );
    }
}

/// The server (in the traced namespace) closes a connection with data it has not read:
/// the kernel aborts it with a RST. Where the kernel gives the reason, the RST's note
/// says it (TCP_ABORT_ON_CLOSE) and so does the JSON event `reset_reason` and the
/// summary row; on 6.1 the RST has its line and no reason.
#[test]
fn reset_on_close_with_unread_data() {
    use std::io::{Read, Write};
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let server = in_netns(&net.b, move || {
        TcpListener::bind(SocketAddr::new(b, 23)).unwrap()
    })
    .join()
    .unwrap();
    let (mut tt, mut td) = watch(&net, &["--json", "port", "23"], "port 23");
    let srv = std::thread::spawn(move || {
        let (s, _) = server.accept().unwrap();
        // Wait for the data without reading it, then close.
        let mut one = [0u8; 1];
        assert_eq!(s.peek(&mut one).unwrap(), 1);
        drop(s);
    });
    let client = in_netns(&net.a, move || {
        let mut c = std::net::TcpStream::connect(SocketAddr::new(b, 23)).unwrap();
        c.write_all(b"unread").unwrap();
        c
    })
    .join()
    .unwrap();
    srv.join().unwrap();
    tt.wait_stdout("Flags [R.]");
    td.wait_stdout("Flags [R.]");
    if reset_reasons() {
        tt.wait_stdout("\"reset_reason\"");
    }
    let mut client = client;
    let mut buf = [0u8; 8];
    assert!(client.read(&mut buf).is_err(), "the client sees the reset");
    let wire = stop(&mut tt, &mut td);
    assert_reset_notice(&tt);
    let objs = json_lines(&tt, &wire);
    let resets: Vec<&Value> = objs
        .iter()
        .filter(|o| o["kind"] == "reset_reason")
        .collect();
    let row = objs
        .iter()
        .find(|o| o["type"] == "summary")
        .expect("summary row");
    assert_eq!(row["end"], "rst", "{row}");
    if reset_reasons() {
        assert_eq!(resets.len(), 1, "{:?}", tt.out_lines);
        let r = resets[0];
        assert_eq!(r["reason"], "TCP_ABORT_ON_CLOSE");
        assert_eq!(r["conn"], 1);
        assert_eq!(r["from"], format!("{}.23", net.b4));
        assert_eq!(row["reset_reason"], "TCP_ABORT_ON_CLOSE");
    } else {
        assert!(resets.is_empty(), "{:?}", tt.out_lines);
        assert_eq!(row["reset_reason"], Value::Null);
    }
}

/// Whether this kernel's `tcp:tcp_retransmit_skb` reports failed retransmissions too
/// (its `err` field): from its format in tracefs (mounted here if it is not).
fn retransmit_has_err() -> bool {
    let tracefs = std::path::Path::new("/sys/kernel/tracing");
    let format = tracefs.join("events/tcp/tcp_retransmit_skb/format");
    if !format.exists() {
        let st = std::process::Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status()
            .expect("mount");
        assert!(st.success(), "mount tracefs: {st}");
    }
    let text = std::fs::read_to_string(&format).expect("tcp_retransmit_skb format");
    text.contains(" err;")
}

/// The traced server's data reaches the wire once and is lost (the client's firewall
/// drops it); then its OUTPUT firewall drops the retransmissions (nftables via
/// iptables): each gets a line of its own, marked `[not on the wire]`, with its
/// NETFILTER_DROP note. Where `tcp_retransmit_skb` reports failed retransmissions (its
/// `err`), the summary counts them as retransmissions not on the wire (told by their
/// drop lines, not by a second note); where it does not (6.1, 6.12) the count stays 0.
/// (A segment whose very first transmission the firewall drops is never retransmitted:
/// it stays unsent and the kernel sends it again as new data.)
#[test]
fn retransmissions_dropped_on_output() {
    use std::io::Write;
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let big = "-p tcp --sport 23 -m length --length 400:65535 -j DROP";
    run_in(&net, &net.a, &format!("iptables -A INPUT {big}"));
    let server = in_netns(&net.b, move || {
        TcpListener::bind(SocketAddr::new(b, 23)).unwrap()
    })
    .join()
    .unwrap();
    let (mut tt, mut td) = watch(&net, &["--explain", "--summary", "port", "23"], "port 23");
    let client = in_netns(&net.a, move || {
        std::net::TcpStream::connect(SocketAddr::new(b, 23)).unwrap()
    })
    .join()
    .unwrap();
    let (mut s, _) = server.accept().unwrap();
    s.write_all(&[b'x'; 500]).unwrap();
    tt.wait_stdout("length 500");
    run_in(&net, &net.b, &format!("iptables -A OUTPUT {big}"));
    tt.wait_stdout_n("[not on the wire]", 2);
    td.wait_stdout("length 500");
    let wire = stop(&mut tt, &mut td);
    drop((client, s));
    let all = tt.out_lines.join("\n");
    let (own, on_wire) = not_on_wire(&tt);
    let n = on_wire.len().min(wire.len());
    assert_eq!(
        on_wire[..n],
        wire[..n],
        "tcptrace's wire lines are tcpdump's"
    );
    assert!(n >= 4, "{all}");
    for l in &own {
        assert!(
            l.starts_with(&format!("IP {}.23 > {}.", net.b4, net.a4))
                && l.contains("Flags [P.], seq 1:501, ack 1,"),
            "{l}\n{all}"
        );
    }
    for (i, l) in tt.out_lines.iter().enumerate() {
        if l.ends_with("[not on the wire]") {
            assert!(
                tt.out_lines[i + 1].starts_with(
                    "    ^ dropped in this host before it reached the wire: NETFILTER_DROP ("
                ),
                "{all}"
            );
        }
    }
    let row = summary_row(&tt, &all);
    let counted = row
        .split(", ")
        .find_map(|p| p.strip_suffix(" not on the wire"))
        .map(|p| p.split(' ').next().unwrap().parse::<usize>().unwrap())
        .unwrap_or(0);
    if retransmit_has_err() {
        // Each dropped line is a retransmission; the trace may stop between a drop and
        // the kernel's report of it.
        assert!(
            counted >= 1 && (own.len() - 1..=own.len()).contains(&counted),
            "{} dropped lines, {counted} counted: {row}",
            own.len()
        );
        assert!(
            !all.contains("retransmitted by this host's kernel"),
            "{all}"
        );
    } else {
        assert_eq!(counted, 0, "{row}");
    }
    assert!(
        row.contains(&format!(
            ", {} dropped here (last: NETFILTER_DROP)",
            own.len()
        )),
        "{row}"
    );
}
