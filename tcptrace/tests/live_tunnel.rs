//! Tunnels live: two network namespaces joined by a veth pair (the underlay), a VXLAN or
//! GRE device in each over it, TCP across the tunnel; tcptrace and `tcpdump -n` on the
//! underlay veth at the same time must print the same lines, timestamps aside. tcptrace's
//! filter (`--port`) applies to the inner segment; tcpdump is given the equivalent byte
//! offsets into the tunnel payload.
//!
//! The host has VXLAN; GRE (`ip_gre`) exists only in the kernel-matrix VMs: on a host
//! without it the GRE test says so and passes, in the VMs (`TCPTRACE_VM=1`) it must run.
mod common;

use std::{net::IpAddr, process::Command};

use common::{
    hooks::in_vm,
    netns::{NetnsPair, Proc, client_session, echo_server, ip_batch, refused},
    tcpdump_bin, tcptrace_bin,
};

const PORT: u16 = 7777;
const MARKER_PORT: u16 = 40999;

/// The tunnel devices' own addresses (inside the tunnel), per test.
struct Overlay {
    a: IpAddr,
    b: IpAddr,
}

/// Adds a tunnel device `dev` of `kind` (ip link arguments after `type`) in both
/// namespaces, with fixed MAC addresses and static neighbours (no ARP inside the tunnel).
/// Err with `ip`'s words when the kernel lacks the device type.
fn overlay(net: &NetnsPair, dev: &str, kind: &str, third: u8) -> Result<Overlay, String> {
    let subnet = net.a4.split('.').nth(2).unwrap().to_string();
    let (ia, ib) = (
        format!("10.{third}.{subnet}.1"),
        format!("10.{third}.{subnet}.2"),
    );
    for (ns, local, remote, me, peer, mac, peer_mac) in [
        (
            &net.a,
            &net.a4,
            &net.b4,
            &ia,
            &ib,
            "02:00:00:00:7a:01",
            "02:00:00:00:7a:02",
        ),
        (
            &net.b,
            &net.b4,
            &net.a4,
            &ib,
            &ia,
            "02:00:00:00:7a:02",
            "02:00:00:00:7a:01",
        ),
    ] {
        let kind = kind.replace("{local}", local).replace("{remote}", remote);
        let out = Command::new("ip")
            .args(["-n", ns, "link", "add", dev])
            .args(kind.split_whitespace())
            .output()
            .expect("run ip");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let ether = !kind.starts_with("type gre ") && !kind.starts_with("type ipip");
        let mut cmds = String::new();
        if ether {
            cmds += &format!("link set {dev} address {mac}\n");
        }
        cmds += &format!(
            "link set {dev} addrgenmode none\naddr add {me}/24 dev {dev}\nlink set {dev} up\n"
        );
        if ether {
            cmds += &format!("neigh add {peer} lladdr {peer_mac} dev {dev} nud permanent\n");
        }
        ip_batch(Some(ns), &cmds);
    }
    Ok(Overlay {
        a: ia.parse().unwrap(),
        b: ib.parse().unwrap(),
    })
}

/// Lines without their timestamps (the first word of a line that starts with a digit;
/// the inner line of a VXLAN packet has none).
fn strip_ts(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| match l.starts_with(|c: char| c.is_ascii_digit()) {
            true => l.split_once(' ').map_or(l.as_str(), |(_, r)| r).to_string(),
            false => l.clone(),
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// A session and a refused connection across `ov`, traced on the underlay with
/// `style`; tcpdump gets `td_filter` (the inner segment by byte offsets).
fn trace_across(net: &NetnsPair, ov: &Overlay, style: &[&str], td_filter: &str) -> Vec<String> {
    let port = PORT.to_string();
    let mut tt = net.exec(&net.b, tcptrace_bin());
    tt.args(["-i", &net.veth_b, "--port", &port])
        .args(style)
        .env("TZ", "UTC");
    let mut tcptrace = Proc::spawn("tcptrace", tt);
    tcptrace.wait_stderr("listening on");
    let mut td = net.exec(&net.b, tcpdump_bin());
    td.args(["-n", "-l", "-i", &net.veth_b])
        .args(style)
        .arg(td_filter)
        .env("TZ", "UTC");
    let mut tcpdump = Proc::spawn("tcpdump", td);
    tcpdump.wait_stderr("listening on");

    let server = echo_server(net, ov.b, PORT);
    client_session(net, ov.b, PORT);
    server.join().unwrap();
    refused(net, ov.a, ov.b, MARKER_PORT, PORT);
    let marker = format!("{}.{MARKER_PORT}: Flags [R.]", ov.a);
    tcptrace.wait_stdout(&marker);
    tcpdump.wait_stdout(&marker);
    assert_eq!(tcptrace.interrupt(), Some(0), "{:?}", tcptrace.err_lines);
    tcpdump.interrupt();
    let (tt, td) = (strip_ts(&tcptrace.out_lines), strip_ts(&tcpdump.out_lines));
    let (tt, td) = (tt.join("\n") + "\n", td.join("\n") + "\n");
    assert!(
        tt == td,
        "tcptrace differs from tcpdump (- tcpdump, + tcptrace):\n{}",
        common::diff(&td, &tt, 8)
    );
    for needle in common::netns::SESSION_FLAGS {
        assert!(tt.contains(needle), "no {needle} in:\n{tt}");
    }
    tt.lines().map(String::from).collect()
}

/// tcpdump's filter for TCP port PORT inside a tunnel: `outer` selects the tunnel, whose
/// inner IPv4 header (IHL 5) starts `at` bytes into `proto`'s payload.
fn inner_port(outer: &str, proto: &str, at: usize) -> String {
    format!(
        "{outer} and {proto}[{}] = 6 and ({proto}[{}:2] = {PORT} or {proto}[{}:2] = {PORT})",
        at + 9,
        at + 20,
        at + 22
    )
}

fn vxlan(style: &[&str]) {
    let net = NetnsPair::new();
    let ov = overlay(
        &net,
        "vx0",
        "type vxlan id 11 local {local} remote {remote} dstport 4789",
        232,
    )
    .expect("VXLAN device");
    // UDP header, VXLAN header, inner Ethernet header.
    let lines = trace_across(
        &net,
        &ov,
        style,
        &inner_port("udp port 4789", "udp", 8 + 8 + 14),
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(".4789: VXLAN, flags [I] (0x08), vni 11")),
        "{lines:#?}"
    );
}

#[test]
fn vxlan_tunnel_matches_tcpdump() {
    vxlan(&[]);
}

#[test]
fn vxlan_tunnel_verbose_matches_tcpdump() {
    vxlan(&["-v", "-S"]);
}

#[test]
fn gre_tunnel_matches_tcpdump() {
    let net = NetnsPair::new();
    let ov = match overlay(
        &net,
        "gre1",
        "type gre local {local} remote {remote} key 5",
        233,
    ) {
        Ok(ov) => ov,
        Err(e) if !in_vm() => {
            eprintln!("skipped: this kernel has no GRE devices ({e}); runs in the VMs");
            return;
        }
        Err(e) => panic!("GRE device: {e}"),
    };
    // GRE header with a key: 8 bytes, then the inner IPv4 header.
    let lines = trace_across(&net, &ov, &[], &inner_port("ip proto 47", "ip", 20 + 8));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(": GREv0, key=0x5, length ")),
        "{lines:#?}"
    );
}
