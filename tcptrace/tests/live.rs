//! End-to-end: real TCP endpoints in two network namespaces joined by a veth pair;
//! tcptrace and the oracle (tcpdump -n) watch the same interface at the same time and
//! must print the same lines, timestamps aside.
mod common;

use std::net::{IpAddr, SocketAddr};

use common::{
    netns::{NetnsPair, Proc, client_session, echo_server, refused},
    tcpdump_bin, tcptrace_bin,
};

const PORT: u16 = 7777;
const OTHER_PORT: u16 = 9090;
/// Source port of the last, refused connection: once both tools have printed its RST,
/// they have printed everything before it.
const MARKER_PORT: u16 = 40999;

/// tcptrace and tcpdump running on `veth_b` inside namespace `b`.
struct Watchers {
    tcptrace: Proc,
    tcpdump: Proc,
}

impl Watchers {
    fn start(net: &NetnsPair, tcptrace_args: &[&str], tcpdump_filter: &str) -> Watchers {
        let mut tt = vec!["-i", net.veth_b.as_str()];
        tt.extend_from_slice(tcptrace_args);
        Watchers::spawn(net, &tt, &["-i", &net.veth_b, tcpdump_filter])
    }

    /// `tcptrace TT…` and `tcpdump -n -l TD…` in namespace `b`, both listening.
    fn spawn(net: &NetnsPair, tt_args: &[&str], td_args: &[&str]) -> Watchers {
        let mut tt = net.exec(&net.b, tcptrace_bin());
        tt.args(tt_args).env("TZ", "UTC");
        let mut tcptrace = Proc::spawn("tcptrace", tt);
        tcptrace.wait_stderr("listening on");

        let mut td = net.exec(&net.b, tcpdump_bin());
        td.args(["-n", "-l"]).args(td_args).env("TZ", "UTC");
        let mut tcpdump = Proc::spawn("tcpdump", td);
        tcpdump.wait_stderr("listening on");
        Watchers { tcptrace, tcpdump }
    }

    /// Waits for a line with `needle` from both, stops both, returns their lines without
    /// timestamps (the first word).
    fn stop_after(&mut self, needle: &str) -> (Vec<String>, Vec<String>) {
        self.stop_after_n(needle, 1)
    }

    /// As [`Self::stop_after`], once `n` lines with `needle` have come from each.
    fn stop_after_n(&mut self, needle: &str, n: usize) -> (Vec<String>, Vec<String>) {
        self.tcptrace.wait_stdout_n(needle, n);
        self.tcpdump.wait_stdout_n(needle, n);
        let code = self.tcptrace.interrupt();
        assert_eq!(
            code,
            Some(0),
            "tcptrace exit; stderr:\n{}",
            self.tcptrace.err_lines.join("\n")
        );
        self.tcpdump.interrupt();
        // tcpdump ends its output with an empty line when interrupted; it is no packet.
        while self.tcpdump.out_lines.last().is_some_and(|l| l.is_empty()) {
            self.tcpdump.out_lines.pop();
        }
        (
            strip_ts(&self.tcptrace.out_lines),
            strip_ts(&self.tcpdump.out_lines),
        )
    }
}

fn strip_ts(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| match l.starts_with(' ') {
            // A continuation line (-v): no timestamp.
            true => l.clone(),
            false => l
                .split_once(' ')
                .map_or(l.as_str(), |(_, rest)| rest)
                .to_string(),
        })
        .collect()
}

fn assert_same(tcptrace: &[String], tcpdump: &[String]) {
    assert!(!tcpdump.is_empty(), "tcpdump printed nothing");
    let (tt, td) = (tcptrace.join("\n") + "\n", tcpdump.join("\n") + "\n");
    assert!(
        tt == td,
        "tcptrace differs from tcpdump (- tcpdump, + tcptrace):\n{}",
        common::diff(&td, &tt, 6)
    );
}

/// A whole connection traced with `--xdp-mode xdp_mode`, whose banner must name `ingress`
/// (e.g. "XDP native ingress", "TC ingress"); nothing stays attached afterwards.
fn full_connection(v6: bool, xdp_mode: &str, ingress: &str, extra: &[&str]) {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = if v6 {
        (net.a6.parse().unwrap(), net.b6.parse().unwrap())
    } else {
        (net.a4.parse().unwrap(), net.b4.parse().unwrap())
    };
    let port = PORT.to_string();
    let mut args = vec!["--port", &port, "--xdp-mode", xdp_mode];
    args.extend_from_slice(extra);
    let mut w = Watchers::start(&net, &args, &format!("tcp port {PORT}"));

    // Traffic on another port, which must not show up.
    let other = echo_server(&net, b, OTHER_PORT);
    client_session(&net, b, OTHER_PORT);
    other.join().unwrap();

    let server = echo_server(&net, b, PORT);
    client_session(&net, b, PORT);
    server.join().unwrap();
    refused(&net, a, b, MARKER_PORT, PORT);

    let marker = format!(".{PORT} > {}.{MARKER_PORT}: Flags [R.]", fmt_addr(a));
    let (tt, td) = w.stop_after(&marker);
    assert_same(&tt, &td);
    let text = tt.join("\n");
    for needle in common::netns::SESSION_FLAGS {
        assert!(text.contains(needle), "no '{needle}' in:\n{text}");
    }
    assert!(
        !text.contains(&format!(".{OTHER_PORT}")),
        "port {OTHER_PORT} leaked:\n{text}"
    );
    let stats = w.tcptrace.err_lines.join("\n");
    assert!(
        stats.contains(&format!("{} packets captured", tt.len())),
        "closing lines: {stats}"
    );
    assert!(stats.contains("0 packets dropped by kernel"), "{stats}");
    assert!(
        stats.contains(&format!("({ingress}, TC egress)")),
        "banner does not say {ingress}: {stats}"
    );
    drop(w);
    assert_no_programs(&net);
}

fn fmt_addr(a: IpAddr) -> String {
    a.to_string()
}

#[test]
fn ipv4_connection_native_xdp_matches_tcpdump() {
    full_connection(false, "native", "XDP native ingress", &[]);
}

#[test]
fn ipv6_connection_generic_xdp_matches_tcpdump() {
    full_connection(true, "generic", "XDP generic ingress", &[]);
}

#[test]
fn ipv4_connection_tc_ingress_small_ring_matches_tcpdump() {
    full_connection(false, "off", "TC ingress", &["-B", "8"]);
}

#[test]
fn auto_mode_on_veth_traces_ingress_with_tc() {
    full_connection(true, "auto", "TC ingress", &[]);
}

#[test]
fn verbose_absolute_lines_match_tcpdump() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let a: IpAddr = net.a4.parse().unwrap();
    let port = PORT.to_string();
    let mut w = Watchers::spawn(
        &net,
        &["-i", &net.veth_b, "--port", &port, "-v", "-S"],
        &["-v", "-S", "-i", &net.veth_b, &format!("tcp port {PORT}")],
    );

    let server = echo_server(&net, b, PORT);
    client_session(&net, b, PORT);
    server.join().unwrap();
    refused(&net, a, b, MARKER_PORT, PORT);
    let (tt, td) = w.stop_after(&format!("{}.{MARKER_PORT}: Flags [R.]", net.a4));
    assert_same(&tt, &td);
    assert!(tt.iter().any(|l| l.contains("cksum 0x")), "{tt:?}");
}

#[test]
fn refused_connection_matches_tcpdump() {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let host = net.b4.clone();
    let mut w = Watchers::start(
        &net,
        &["--host", &host, "--port", "23"],
        &format!("host {host} and port 23"),
    );
    for sport in [1063, 1064, MARKER_PORT] {
        refused(&net, a, b, sport, 23);
    }
    let (tt, td) = w.stop_after(&format!("{}.{MARKER_PORT}: Flags [R.]", net.a4));
    assert_same(&tt, &td);
    assert_eq!(tt.len(), 6, "three SYNs, three RSTs: {tt:#?}");
    assert!(tt[0].contains("Flags [S], seq"), "{}", tt[0]);
    assert!(tt[1].contains("Flags [R.], seq 0, ack"), "{}", tt[1]);
}

#[test]
fn count_stops_after_n_lines() {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let mut tt = net.exec(&net.b, tcptrace_bin());
    tt.args(["-i", &net.veth_b, "--port", "23", "-c", "3"]);
    let mut tcptrace = Proc::spawn("tcptrace", tt);
    tcptrace.wait_stderr("listening on");
    for sport in [2001, 2002] {
        refused(&net, a, b, sport, 23);
    }
    assert_eq!(tcptrace.finish(), Some(0), "{:?}", tcptrace.err_lines);
    assert_eq!(tcptrace.out_lines.len(), 3, "{:#?}", tcptrace.out_lines);
    let stats = tcptrace.err_lines.join("\n");
    assert!(stats.contains("3 packets captured"), "{stats}");
    assert!(stats.contains("packets dropped by kernel"), "{stats}");
    // Nothing stays attached once it exits.
    assert_no_programs(&net);
}

fn assert_no_programs(net: &NetnsPair) {
    common::hooks::assert_nothing_of_ours(&net.b, &net.veth_b);
}

#[test]
fn bad_input_is_refused_and_leaves_nothing_attached() {
    let net = NetnsPair::new();
    let run = |args: &[&str]| {
        let out = net
            .exec(&net.b, tcptrace_bin())
            .args(args)
            .output()
            .expect("run tcptrace");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["-i", "nosuchif0"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("no such interface: nosuchif0"), "{err}");
    let (code, err) = run(&["-i", &net.veth_b, "--host", "example.com"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("invalid host 'example.com'"), "{err}");
    let (code, err) = run(&["-i", &net.veth_b, "--port", "70000"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("invalid port '70000'"), "{err}");
    assert_eq!(err.lines().count(), 1, "one-line error: {err}");
    for size in ["0", "2000000", "lots"] {
        let (code, err) = run(&["-i", &net.veth_b, "-B", size]);
        assert_ne!(code, Some(0));
        assert!(err.contains("--buffer-size"), "{err}");
    }
    assert_no_programs(&net);

    // Without privileges (as nobody, no capabilities): a clear error, nothing attached.
    // A copy in a world-readable folder, since the build tree may not be.
    let dir = std::env::temp_dir().join(format!("tcptrace-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("tcptrace");
    std::fs::copy(tcptrace_bin(), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = net
        .exec(&net.b, "setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["-i", &net.veth_b])
        .output()
        .expect("run setpriv (util-linux)");
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.starts_with("tcptrace: missing capabilities CAP_BPF ("),
        "{err}"
    );
    assert_no_programs(&net);

    // Each capability missing alone (root without CAP_SYS_ADMIN, which stands in for
    // all three): named, with what it is for; with all three it runs.
    for cap in ["bpf", "net_admin", "perfmon"] {
        let out = net
            .exec(&net.b, "setpriv")
            .args(["--bounding-set", &format!("-sys_admin,-{cap}"), "--"])
            .arg(tcptrace_bin())
            .args(["-i", &net.veth_b])
            .output()
            .expect("run setpriv (util-linux)");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        let want = format!("tcptrace: missing capability CAP_{} (", cap.to_uppercase());
        assert!(err.starts_with(&want) && err.lines().count() == 1, "{err}");
        assert_no_programs(&net);
    }
    let mut capped = net.exec(&net.b, "setpriv");
    capped
        .args(["--bounding-set", "-sys_admin", "--"])
        .arg(tcptrace_bin())
        .args(["-i", &net.veth_b]);
    let mut capped = Proc::spawn("tcptrace (three capabilities)", capped);
    capped.wait_stderr("listening on");
    assert_eq!(capped.interrupt(), Some(0), "{:?}", capped.err_lines);
    assert_no_programs(&net);

    // An XDP program already on the interface: tcptrace must refuse and detach its own.
    let mut first = net.exec(&net.b, tcptrace_bin());
    first.args(["-i", &net.veth_b, "--xdp-mode", "generic"]);
    let mut first = Proc::spawn("tcptrace", first);
    first.wait_stderr("listening on");
    let (code, err) = run(&["-i", &net.veth_b, "--xdp-mode", "generic"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("already attached"), "{err}");
    assert_eq!(first.interrupt(), Some(0));
    assert_no_programs(&net);
}

#[test]
fn filter_expression_matches_tcpdump() {
    // The article's command, as a filter expression in the kernel: `host B and port 23`.
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let host = net.b4.clone();
    let expr = format!("host {host} and port 23");
    let words: Vec<&str> = expr.split_whitespace().collect();
    let mut w = Watchers::start(&net, &words, &expr);
    // Refused connections to another port and over IPv6 must not show up.
    refused(&net, a, b, 1062, 24);
    let (a6, b6): (IpAddr, IpAddr) = (net.a6.parse().unwrap(), net.b6.parse().unwrap());
    refused(&net, a6, b6, 1065, 23);
    for sport in [1063, 1064, MARKER_PORT] {
        refused(&net, a, b, sport, 23);
    }
    let (tt, td) = w.stop_after(&format!("{}.{MARKER_PORT}: Flags [R.]", net.a4));
    assert_same(&tt, &td);
    assert_eq!(tt.len(), 6, "three SYNs, three RSTs: {tt:#?}");
    assert!(tt.iter().all(|l| l.contains(".23")), "{tt:#?}");
}

/// Two tcptrace instances on one interface both print every line tcpdump prints; killing
/// one (SIGKILL: no clean exit) does not disturb the other.
#[test]
fn two_tracers_on_one_interface() {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let port = PORT.to_string();
    let mut w = Watchers::start(&net, &["--port", &port], &format!("tcp port {PORT}"));
    let mut cmd = net.exec(&net.b, tcptrace_bin());
    cmd.args(["-i", &net.veth_b, "--port", &port])
        .env("TZ", "UTC");
    let mut second = Proc::spawn("second tcptrace", cmd);
    second.wait_stderr("listening on");

    let server = echo_server(&net, b, PORT);
    client_session(&net, b, PORT);
    server.join().unwrap();
    refused(&net, a, b, MARKER_PORT, PORT);
    let marker1 = format!("{}.{MARKER_PORT}: Flags [R.]", net.a4);
    w.tcptrace.wait_stdout(&marker1);
    second.wait_stdout(&marker1);
    w.tcpdump.wait_stdout(&marker1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(w.tcptrace.pid() as i32, libc::SIGKILL) };
    w.tcptrace.finish();
    let first = strip_ts(&w.tcptrace.out_lines);

    let server = echo_server(&net, b, PORT);
    client_session(&net, b, PORT);
    server.join().unwrap();
    refused(&net, a, b, MARKER_PORT + 1, PORT);
    let marker = format!("{}.{}: Flags [R.]", net.a4, MARKER_PORT + 1);
    second.wait_stdout(&marker);
    w.tcpdump.wait_stdout(&marker);
    assert_eq!(second.interrupt(), Some(0), "{:?}", second.err_lines);
    w.tcpdump.interrupt();
    while w.tcpdump.out_lines.last().is_some_and(|l| l.is_empty()) {
        w.tcpdump.out_lines.pop();
    }
    let td = strip_ts(&w.tcpdump.out_lines);
    assert_same(&strip_ts(&second.out_lines), &td);
    assert_same(&first, &td[..first.len().min(td.len())]);
    assert!(
        first.last().is_some_and(|l| l.contains(&marker1)),
        "the killed tracer's last line is not the first refusal: {first:#?}"
    );
    if tcptrace::kernel::has_tcx() {
        // TCX links die with their process; clsact filters (before 6.6) outlive a SIGKILL.
        assert_no_programs(&net);
    }
}

/// The traced interface deleted under tcptrace: one line saying so, the closing lines,
/// exit 1 (as tcpdump's "The interface disappeared"); nothing left behind.
#[test]
fn interface_going_away_ends_the_trace() {
    let net = NetnsPair::new();
    let mut cmd = net.exec(&net.b, tcptrace_bin());
    cmd.args(["-i", &net.veth_b, "--port", "23"]);
    let mut tcptrace = Proc::spawn("tcptrace", cmd);
    tcptrace.wait_stderr("listening on");
    let del = std::process::Command::new("ip")
        .args(["-n", &net.b, "link", "del", &net.veth_b])
        .status()
        .unwrap();
    assert!(del.success());
    tcptrace.wait_stderr("packets dropped by kernel");
    assert_eq!(tcptrace.finish(), Some(1), "{:?}", tcptrace.err_lines);
    let gone = format!("tcptrace: {}: the interface disappeared", net.veth_b);
    assert_eq!(
        tcptrace
            .err_lines
            .iter()
            .filter(|l| l.starts_with("tcptrace: "))
            .count(),
        2,
        "the banner and one error line: {:?}",
        tcptrace.err_lines
    );
    assert!(
        tcptrace.err_lines.contains(&gone),
        "{:?}",
        tcptrace.err_lines
    );
}

/// Several interfaces (`-i any`, or `-i` repeated) against `tcpdump -i any` in namespace b:
/// lines carry tcpdump's `ifname In/Out` prefix. A connection over the veth, a refused one
/// over loopback (each packet once, `In`); with `-i any`, a veth made during the trace is
/// traced at once, and its deletion ends nothing.
fn several_interfaces(iface_args: &[&str], new_link: bool) {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let port = PORT.to_string();
    // `VETH` stands for the pair's veth end in b.
    let iface_args: Vec<&str> = iface_args
        .iter()
        .map(|a| if *a == "VETH" { net.veth_b.as_str() } else { a })
        .collect();
    // Both also write what they see: tcptrace pcapng (cooked v2), tcpdump its SLL2 pcap.
    let tt_file = common::pcap::scratch(&format!("several-{}-tt.pcapng", net.b));
    let td_file = common::pcap::scratch(&format!("several-{}-td.pcap", net.b));
    let (tt_path, td_path) = (
        tt_file.to_string_lossy().into_owned(),
        td_file.to_string_lossy().into_owned(),
    );
    let mut tt = iface_args.clone();
    tt.extend(["--port", &port, "-w", &tt_path]);
    let filter = format!("tcp port {PORT}");
    let mut w = Watchers::spawn(
        &net,
        &tt,
        &["-i", "any", "--print", "-U", "-w", &td_path, &filter],
    );

    let server = echo_server(&net, b, PORT);
    client_session(&net, b, PORT);
    server.join().unwrap();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    {
        let b_ns = net.b.clone();
        common::netns::in_netns(&b_ns, move || {
            let e = common::netns::connect_from(lo, MARKER_PORT - 1, SocketAddr::new(lo, PORT));
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        })
        .join()
        .unwrap();
    }
    let mut marker = format!("127.0.0.1.{}: Flags [R.]", MARKER_PORT - 1);
    if new_link {
        // A third namespace c behind a veth made now: vbc (in b) and vc (in c).
        let c = format!("{}c", net.b);
        let (vbc, vc) = (format!("{}c", net.veth_b), format!("{}c", net.veth_a));
        let subnet = net.a4.split('.').nth(2).unwrap().to_string();
        let (c4, bc4) = (format!("10.232.{subnet}.1"), format!("10.232.{subnet}.2"));
        let c_ns = common::netns::Netns::new(c.clone());
        common::netns::ip_batch(
            None,
            &format!(
                "link add {vbc} netns {b} type veth peer name {vc} netns {c}\n",
                b = net.b
            ),
        );
        w.tcptrace
            .wait_stderr(&format!("tcptrace: {vbc}: TC ingress, TC egress"));
        common::netns::ip_batch(
            Some(&c),
            &format!("addr add {c4}/24 dev {vc}\nlink set {vc} up\nlink set lo up\n"),
        );
        common::netns::ip_batch(
            Some(&net.b),
            &format!("addr add {bc4}/24 dev {vbc}\nlink set {vbc} up\n"),
        );
        let (c_ip, bc_ip): (IpAddr, IpAddr) = (c4.parse().unwrap(), bc4.parse().unwrap());
        common::netns::in_netns(&c, move || {
            let e =
                common::netns::connect_from(c_ip, MARKER_PORT - 2, SocketAddr::new(bc_ip, PORT));
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        })
        .join()
        .unwrap();
        let m = format!("{c4}.{}: Flags [R.]", MARKER_PORT - 2);
        w.tcptrace.wait_stdout(&m);
        w.tcpdump.wait_stdout(&m);
        drop(c_ns);
        // The kernel removes the pair after the namespace, in the background: await it, so
        // the files below are read with vbc gone for both readers.
        let deadline = std::time::Instant::now() + common::netns::EVENT_TIMEOUT;
        while std::process::Command::new("ip")
            .args(["-n", &net.b, "link", "show", &vbc])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{vbc} never went away"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Still tracing the rest afterwards.
        refused(&net, a, b, MARKER_PORT, PORT);
        marker = format!("{}.{MARKER_PORT}: Flags [R.]", net.a4);
    }
    let (tt, td) = w.stop_after(&marker);
    assert_same(&tt, &td);
    // The files, read back in the namespace by both tools: names are looked up when the
    // line is printed, as tcpdump does (`?` for the interface deleted since).
    let read = |prog: &std::path::Path, file: &str| {
        let mut c = net.exec(&net.b, prog);
        c.args(["-n", "-r", file]).env("TZ", "UTC");
        let out = c.output().unwrap();
        strip_ts(
            &common::stdout_ok("reading a capture", &out)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
    };
    let tcpdump_path = tcpdump_bin();
    let tcptrace_path = std::path::PathBuf::from(tcptrace_bin());
    let (tt_by_td, td_by_td) = (read(&tcpdump_path, &tt_path), read(&tcpdump_path, &td_path));
    assert_same(&read(&tcptrace_path, &tt_path), &tt_by_td);
    assert_same(&read(&tcptrace_path, &td_path), &td_by_td);
    assert_same(&tt_by_td, &td_by_td);
    if !new_link {
        // Every interface still there: the files print the live lines.
        assert_same(&tt_by_td, &tt);
    }
    let _ = (
        std::fs::remove_file(&tt_file),
        std::fs::remove_file(&td_file),
    );
    assert!(
        tt.iter()
            .any(|l| l.starts_with(&format!("{} In  IP ", net.veth_b))),
        "{tt:#?}"
    );
    assert!(tt.iter().any(|l| l.starts_with("lo    In  IP ")), "{tt:#?}");
    common::hooks::assert_nothing_of_ours_anywhere(&net.b);
}

#[test]
fn any_interface_matches_tcpdump_any() {
    several_interfaces(&["-i", "any"], true);
}

#[test]
fn repeated_interfaces_match_tcpdump_any() {
    several_interfaces(&["-i", "lo", "-i", "VETH"], false);
}

/// A Linux bridge in b joins the pair's veth and a veth to a third namespace c; a
/// connection to the bridge's own address and a refused one through it to c. Each packet
/// shows on every interface it crosses, as `tcpdump -i any -v` shows it (a frame for
/// another host's address is `P` on the bridge port it arrives on), and `-v`'s closing
/// lines count per interface what was printed for it.
#[test]
fn bridged_connections_match_tcpdump_any() {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let c = common::netns::Netns::new(format!("{}c", net.b));
    let br = format!("{}br", net.b);
    let (vbc, vc) = (format!("{}c", net.veth_b), format!("{}c", net.veth_a));
    let c4 = format!("{}.3", net.a4.rsplit_once('.').unwrap().0);
    common::netns::ip_batch(
        None,
        &format!(
            "link add {vbc} netns {b} type veth peer name {vc} netns {c}\n",
            b = net.b,
            c = c.0
        ),
    );
    common::netns::ip_batch(
        Some(&c.0),
        &format!("addr add {c4}/24 dev {vc}\nlink set {vc} up\nlink set lo up\n"),
    );
    common::netns::ip_batch(
        Some(&net.b),
        &format!(
            "link add {br} type bridge\naddr del {b4}/24 dev {vb}\naddr add {b4}/24 dev {br}\n\
             link set {vb} master {br}\nlink set {vbc} master {br}\n\
             link set {vbc} up\nlink set {br} up\n",
            b4 = net.b4,
            vb = net.veth_b
        ),
    );
    let port = PORT.to_string();
    let mut w = Watchers::spawn(
        &net,
        &["-i", "any", "-v", "--port", &port],
        &["-i", "any", "-v", &format!("tcp port {PORT}")],
    );
    for name in [&net.veth_b, &vbc, &br] {
        w.tcptrace
            .wait_stderr(&format!("tcptrace: {name}: TC ingress, TC egress"));
    }
    let server = echo_server(&net, b, PORT);
    client_session(&net, b, PORT);
    server.join().unwrap();
    let c_ip: IpAddr = c4.parse().unwrap();
    refused(&net, a, c_ip, MARKER_PORT, PORT);
    // The RST crosses vbc, then the veth: -v puts it on a line of its own.
    let (tt, td) = w.stop_after_n(
        &format!("{c4}.{PORT} > {}.{MARKER_PORT}: Flags [R.]", net.a4),
        2,
    );
    assert_same(&tt, &td);
    let first = |prefix: &str| tt.iter().filter(|l| l.starts_with(prefix)).count();
    // The bridged SYN arrives on the veth for c's address: `P`, then leaves by vbc.
    assert!(first(&format!("{} P   IP ", net.veth_b)) > 0, "{tt:#?}");
    assert!(first(&format!("{vbc} Out IP ")) > 0, "{tt:#?}");
    assert!(first(&format!("{br} In  IP ")) > 0, "{tt:#?}");
    // Per interface: what the filter took there is what was printed there.
    for name in [&net.veth_b, &vbc, &br] {
        let n = first(&format!("{name} "));
        let line = format!(
            "{name}: {n} packet{} received by filter, 0 dropped by kernel;",
            if n == 1 { "" } else { "s" }
        );
        assert!(
            w.tcptrace.err_lines.iter().any(|l| l.starts_with(&line)),
            "no '{line}' in:\n{}",
            w.tcptrace.err_lines.join("\n")
        );
    }
    common::hooks::assert_nothing_of_ours_anywhere(&net.b);
}

/// A VLAN sub-interface on each end of the veth (802.1Q; needs the `8021q` module, which
/// the kernel-matrix VMs have): the connection over it, as `tcpdump -i any` shows it on the
/// sub-interface and on the veth under it.
#[test]
fn vlan_subinterface_matches_tcpdump_any() {
    let net = NetnsPair::new();
    let (va, vb) = (format!("{}v", net.veth_a), format!("{}v", net.veth_b));
    let subnet = net.a4.split('.').nth(2).unwrap().to_string();
    let (a4, b4) = (format!("10.233.{subnet}.1"), format!("10.233.{subnet}.2"));
    let added = std::process::Command::new("ip")
        .args([
            "-n",
            &net.a,
            "link",
            "add",
            "link",
            &net.veth_a,
            "name",
            &va,
        ])
        .args(["type", "vlan", "id", "100"])
        .status()
        .unwrap();
    if !added.success() {
        assert!(
            !common::hooks::in_vm(),
            "no VLAN devices in the kernel-matrix VM"
        );
        eprintln!("skipped: this kernel makes no VLAN devices (8021q); the VMs run it");
        return;
    }
    common::netns::ip_batch(
        Some(&net.a),
        &format!("addr add {a4}/24 dev {va}\nlink set {va} up\n"),
    );
    common::netns::ip_batch(
        Some(&net.b),
        &format!(
            "link add link {vb0} name {vb} type vlan id 100\naddr add {b4}/24 dev {vb}\nlink set {vb} up\n",
            vb0 = net.veth_b
        ),
    );
    let port = PORT.to_string();
    let mut w = Watchers::spawn(
        &net,
        &["-i", "any", "--port", &port],
        &["-i", "any", &format!("tcp port {PORT}")],
    );
    let (a, b): (IpAddr, IpAddr) = (a4.parse().unwrap(), b4.parse().unwrap());
    let server = echo_server(&net, b, PORT);
    client_session(&net, b, PORT);
    server.join().unwrap();
    refused(&net, a, b, MARKER_PORT, PORT);
    let (tt, td) = w.stop_after(&format!(
        "{} Out IP {b4}.{PORT} > {a4}.{MARKER_PORT}: Flags [R.]",
        net.veth_b
    ));
    assert_same(&tt, &td);
    assert!(
        tt.iter().any(|l| l.starts_with(&format!("{vb} In  IP "))),
        "{tt:#?}"
    );
    common::hooks::assert_nothing_of_ours_anywhere(&net.b);
}

/// `--netns NAME` from outside the namespace traces its interface as tcpdump inside it
/// sees it; `-D` lists what `tcpdump -D` lists (its non-network pseudo-devices aside), by
/// name and by PID; a bad namespace is one line and exit 1.
#[test]
fn other_namespace_and_interface_list() {
    let net = NetnsPair::new();
    let (a, b): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    let port = PORT.to_string();
    let mut tt = std::process::Command::new(tcptrace_bin());
    tt.args(["--netns", &net.b, "-i", &net.veth_b, "--port", &port])
        .env("TZ", "UTC");
    let mut tcptrace = Proc::spawn("tcptrace --netns", tt);
    tcptrace.wait_stderr("listening on");
    let mut td = net.exec(&net.b, tcpdump_bin());
    td.args(["-n", "-l", "-i", &net.veth_b, &format!("tcp port {PORT}")])
        .env("TZ", "UTC");
    let mut tcpdump = Proc::spawn("tcpdump", td);
    tcpdump.wait_stderr("listening on");
    let mut w = Watchers { tcptrace, tcpdump };
    refused(&net, a, b, MARKER_PORT, PORT);
    let (tt, td) = w.stop_after(&format!("{}.{MARKER_PORT}: Flags [R.]", net.a4));
    assert_same(&tt, &td);
    drop(w);
    assert_no_programs(&net);

    // In the namespace, /sys must be the namespace's: a veth there named like one of the
    // host's device-backed interfaces is still virtual, so `auto` takes TC ingress (with
    // the host's /sys it would look like a NIC and get native XDP).
    let host_nic = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| {
            std::path::Path::new("/sys/class/net")
                .join(n)
                .join("device")
                .exists()
        });
    match host_nic {
        None => eprintln!("skipped: no device-backed interface here to name a veth after"),
        Some(nic) => {
            common::netns::ip_batch(
                Some(&net.b),
                &format!("link add {nic} type veth peer name {}x\n", net.veth_b),
            );
            let mut tt = std::process::Command::new(tcptrace_bin());
            tt.args(["--netns", &net.b, "-i", &nic]);
            let mut t = Proc::spawn("tcptrace --netns (virtual twin)", tt);
            t.wait_stderr("listening on");
            assert!(
                t.err_lines
                    .iter()
                    .any(|l| l.contains(&format!("listening on {nic} (TC ingress, TC egress)"))),
                "{:?}",
                t.err_lines
            );
            assert_eq!(t.interrupt(), Some(0), "{:?}", t.err_lines);
            common::hooks::assert_nothing_of_ours(&net.b, &nic);
        }
    }

    // -D, against tcpdump -D in the same namespace, once the veth's operational state is
    // up (the kernel sets it, and so `Running`, up to a second after the link comes up).
    let deadline = std::time::Instant::now() + common::netns::EVENT_TIMEOUT;
    loop {
        let st = std::process::Command::new("ip")
            .args(["-n", &net.b, "-o", "link", "show", "dev", &net.veth_b])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&st.stdout).contains("state UP") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never came up",
            net.veth_b
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let strip = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split_once('.').map_or(l, |(_, rest)| rest).to_string())
            .collect()
    };
    let td = net.exec(&net.b, tcpdump_bin()).arg("-D").output().unwrap();
    let names_in_b = std::process::Command::new("ip")
        .args(["-n", &net.b, "-o", "link", "show"])
        .output()
        .unwrap();
    let names_in_b = String::from_utf8_lossy(&names_in_b.stdout).to_string();
    let network = |line: &String| {
        let name = line.split([' ', '@']).next().unwrap_or("");
        name == "any"
            || names_in_b.contains(&format!(": {name}:"))
            || names_in_b.contains(&format!(": {name}@"))
    };
    let want: Vec<String> = strip(&String::from_utf8_lossy(&td.stdout))
        .into_iter()
        .filter(network)
        .collect();
    let by_name = common::tcptrace(&["--netns", &net.b, "-D"]);
    let got = common::stdout_ok("tcptrace -D", &by_name);
    assert_eq!(strip(&got), want, "tcptrace -D:\n{got}");
    for (i, l) in got.lines().enumerate() {
        assert!(l.starts_with(&format!("{}.", i + 1)), "{got}");
    }
    let mut holder = net.exec(&net.b, "sleep");
    holder.arg("60");
    let holder = Proc::spawn("sleep", holder);
    // Await its entering namespace b (`ip netns exec` moves it there before the exec).
    use std::os::unix::fs::MetadataExt;
    let b_ino = std::fs::metadata(format!("/var/run/netns/{}", net.b))
        .unwrap()
        .ino();
    let deadline = std::time::Instant::now() + common::netns::EVENT_TIMEOUT;
    while std::fs::metadata(format!("/proc/{}/ns/net", holder.pid()))
        .map(|m| m.ino())
        .ok()
        != Some(b_ino)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "sleep never entered {}",
            net.b
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let by_pid = common::tcptrace(&["--netns", &holder.pid().to_string(), "-D"]);
    assert_eq!(common::stdout_ok("tcptrace --netns PID -D", &by_pid), got);

    let bad = common::tcptrace(&["--netns", "no-such-namespace-here", "-i", "lo"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("tcptrace: --netns no-such-namespace-here: no such network namespace")
            && err.lines().count() == 1,
        "{err}"
    );
}
