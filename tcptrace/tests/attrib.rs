//! Process attribution live: real processes (a Python peer whose pid the test knows and
//! whose command name it sets) in two network namespaces joined by a veth pair, tcptrace
//! on the server's side. Every assertion is on exact pids.
mod common;

use common::{
    listening,
    netns::{NetnsPair, Proc},
    packet::{Ipv4, Tcp, eth4, pseudo_v4},
    peers::{self, Cgroup, Gate},
    tracer_on_b,
};
use serde_json::Value;
use tcptrace::kernel::{Filter, Kernel, Prog};
use tcptrace_common::{
    Config,
    attrib::{AttribFilter, FlowKey, Owner},
};

/// tcptrace on `veth_b` in namespace `b`, started and listening.
fn start(net: &NetnsPair, args: &[&str]) -> Proc {
    let mut c = tracer_on_b(net);
    c.args(args);
    listening(c)
}

/// SIGINT, then a clean exit; the JSON objects it printed.
fn stop(p: &mut Proc) -> Vec<Value> {
    p.stop();
    assert!(
        !p.err_lines.iter().any(|l| l.contains("attribution off")),
        "attribution off:\n{}",
        p.err_lines.join("\n")
    );
    p.out_lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Waits for the process to exit with status 0.
fn done(p: &mut Proc) {
    let code = p.finish();
    assert_eq!(
        code,
        Some(0),
        "{} exit; stderr:\n{}",
        p.name,
        p.err_lines.join("\n")
    );
}

/// Each client in turn let through its gate and run to its end, then the server; the JSON
/// objects tcptrace printed.
fn in_turn(t: &mut Proc, clients: [(&Gate, &mut Proc); 2], server: &mut Proc) -> Vec<Value> {
    for (gate, client) in clients {
        gate.open();
        done(client);
    }
    done(server);
    stop(t)
}

/// The client's local port, from its `connected PORT` line.
fn client_port(p: &Proc) -> u64 {
    p.out_lines
        .iter()
        .find_map(|l| l.strip_prefix("connected "))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no 'connected' line: {:?}", p.out_lines))
}

fn segments(objs: &[Value]) -> Vec<&Value> {
    objs.iter().filter(|o| o["type"] == "segment").collect()
}

fn pid(o: &Value) -> Option<u64> {
    o["pid"].as_u64()
}

/// Segments from the client (its port as source) and to it.
fn split<'a>(segs: &[&'a Value], cport: u64) -> (Vec<&'a Value>, Vec<&'a Value>) {
    let out: Vec<_> = segs
        .iter()
        .copied()
        .filter(|s| s["sport"] == cport)
        .collect();
    let back: Vec<_> = segs
        .iter()
        .copied()
        .filter(|s| s["dport"] == cport)
        .collect();
    (out, back)
}

#[track_caller]
fn all_from(segs: &[&Value], want_pid: u32, comm: &str, what: &str) {
    assert!(!segs.is_empty(), "no {what} segments");
    for s in segs {
        assert_eq!(pid(s), Some(u64::from(want_pid)), "{what}: {s}");
        assert_eq!(s["comm"], comm, "{what}: {s}");
        let suffix = format!(" proc {comm}[{want_pid}]");
        assert!(
            s["line"].as_str().is_some_and(|l| l.ends_with(&suffix)),
            "{what}: {s}"
        );
    }
}

/// Client and server both attributed, each on the segments it sends, on both
/// directions; the client exits at once and is attributed all the same (from the kernel's
/// event, not /proc); the summary row names both.
#[test]
fn client_and_server_both_directions() {
    let net = NetnsPair::new();
    let port = 18001;
    // Tracing first: the server's listen() is seen.
    let pcap = std::env::temp_dir().join(format!("tcptrace-attrib-{}.pcapng", std::process::id()));
    let pcap_s = pcap.to_string_lossy().into_owned();
    let mut t = start(&net, &["--json", "--process", "-w", &pcap_s]);
    let mut server = peers::server(&net, false, port, 1, "tt-server");
    let mut client = peers::client(&net, port, "tt-client", None, None);
    let (spid, cpid) = (server.pid(), client.pid());
    done(&mut client);
    done(&mut server);
    // Both are gone before tcptrace says anything about them.
    assert!(!std::path::Path::new(&format!("/proc/{cpid}")).exists());
    let objs = stop(&mut t);
    let cport = client_port(&client);
    let segs = segments(&objs);
    let (out, back) = split(&segs, cport);
    all_from(&out, cpid, "tt-client", "client → server");
    all_from(&back, spid, "tt-server", "server → client");
    assert!(
        out.iter().any(|s| s["flags"] == "S"),
        "the SYN is attributed"
    );
    let row = objs
        .iter()
        .find(|o| o["type"] == "summary" && o["client_port"] == cport)
        .expect("summary row");
    assert_eq!(row["client_pid"], cpid);
    assert_eq!(row["server_pid"], spid);
    assert_eq!(
        row["pid"], cpid,
        "a row's process is its client's when local"
    );
    assert_eq!(row["comm"], "tt-client");
    assert_eq!(row["uid"], 0);
    assert_eq!(row["user"], "root");
    // -w: each packet's process as a pcapng packet comment.
    let file = std::fs::read(&pcap).expect("the -w file");
    let _ = std::fs::remove_file(&pcap);
    for (comm, pid) in [("tt-client", cpid), ("tt-server", spid)] {
        let want = format!("process: {comm}[{pid}] uid 0(root)");
        assert!(
            file.windows(want.len()).any(|w| w == want.as_bytes()),
            "no packet comment '{want}'"
        );
    }
}

/// Bad process options: one line, exit 1, nothing attached.
#[test]
fn bad_process_options_refused() {
    let capture = common::shared_dir("conformance").join("pcaps/whois.pcap");
    let capture = capture.to_string_lossy();
    let nine: Vec<String> = (1..=9)
        .flat_map(|p| ["--pid".to_string(), p.to_string()])
        .collect();
    let mut nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    nine.extend(["-i", "lo"]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--process", "-r", &capture],
            "tcptrace: --process needs a live trace",
        ),
        (
            vec!["--pid", "1", "-r", &capture],
            "tcptrace: the argument '--pid <PID>' cannot be used with",
        ),
        (
            vec!["--pid", "x", "-i", "lo"],
            "tcptrace: invalid value 'x' for '--pid <PID>'",
        ),
        (
            vec!["--comm", "sixteen-bytes-xx", "-i", "lo"],
            "tcptrace: invalid --comm 'sixteen-bytes-xx'",
        ),
        (
            vec!["--container", "no-such-unit-here.service", "-i", "lo"],
            "tcptrace: --container no-such-unit-here.service: no container",
        ),
        (nine, "tcptrace: at most 8 --pid options"),
    ];
    for (args, want) in cases {
        let out = common::tcptrace(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
}

/// A refused connection: the SYN and the RST are the client's, and so is the note.
#[test]
fn refused_connection_names_its_client() {
    let net = NetnsPair::new();
    // With a port: the socket hooks record only the sockets of that port.
    let mut t = start(&net, &["--explain", "--process", "--port", "18002"]);
    let mut client = peers::client(&net, 18002, "tt-refused", None, None);
    let cpid = client.pid();
    done(&mut client);
    assert!(client.out_lines.iter().any(|l| l.starts_with("refused")));
    assert_eq!(t.interrupt(), Some(0));
    let suffix = format!(" proc tt-refused[{cpid}]");
    let lines: Vec<&String> = t.out_lines.iter().filter(|l| !l.starts_with(' ')).collect();
    assert!(lines.len() >= 2, "{:?}", t.out_lines);
    for l in &lines {
        assert!(l.ends_with(&suffix), "{l}");
    }
    let note = format!("(client: tt-refused pid {cpid})");
    assert!(
        t.out_lines
            .iter()
            .any(|l| l.contains("refused: ") && l.ends_with(&note)),
        "{}",
        t.out_lines.join("\n")
    );
}

/// A forking server: the handshake is the listener's (the parent; nothing else owns the
/// connection yet); once the child reads, the child's.
#[test]
fn forked_server_child_takes_over() {
    let net = NetnsPair::new();
    let port = 18003;
    let mut t = start(&net, &["--json", "--process"]);
    let mut server = peers::server(&net, true, port, 1, "tt-parent");
    // The client connects at once, but sends only once tcptrace has printed the
    // handshake.
    let gate = Gate::new("fork");
    let mut client = peers::client(&net, port, "tt-client", None, Some(&gate));
    let ppid = server.pid();
    client.wait_stdout("connected");
    let cport = client_port(&client);
    t.wait_stdout(&format!(
        "\"sport\":{cport},\"dport\":{port},\"flags\":\".\""
    ));
    gate.open();
    done(&mut client);
    done(&mut server);
    let child: u32 = server
        .out_lines
        .iter()
        .find_map(|l| l.strip_prefix("child "))
        .and_then(|s| s.parse().ok())
        .expect("child pid");
    let objs = stop(&mut t);
    let segs = segments(&objs);
    let (_, back) = split(&segs, cport);
    let synack: Vec<&Value> = back
        .iter()
        .copied()
        .filter(|s| s["flags"] == "S.")
        .collect();
    all_from(&synack, ppid, "tt-parent", "SYN-ACK");
    let data: Vec<&Value> = back
        .iter()
        .copied()
        .filter(|s| s["payload_len"].as_u64() > Some(0))
        .collect();
    all_from(&data, child, "tt-parent", "the child's answer");
    for s in &data {
        if let Some(p) = s["ppid"].as_u64() {
            assert_eq!(p, u64::from(ppid), "{s}");
        }
    }
}

/// `--pid` and `--comm`: only the chosen client's connection, never the other one's.
#[test]
fn pid_and_comm_filters() {
    for by_comm in [false, true] {
        let net = NetnsPair::new();
        let port = if by_comm { 18005 } else { 18004 };
        let mut server = peers::server(&net, false, port, 2, "tt-server");
        let (g1, g2) = (
            Gate::new(&format!("f1{by_comm}")),
            Gate::new(&format!("f2{by_comm}")),
        );
        let mut chosen = peers::client(&net, port, "tt-chosen", Some(&g1), None);
        let mut other = peers::client(&net, port, "tt-other", Some(&g2), None);
        let cpid = chosen.pid().to_string();
        let port_s = port.to_string();
        let args: Vec<&str> = if by_comm {
            // With a port too: the hooks then record only that port's sockets.
            vec!["--json", "--comm", "tt-chosen", "--port", &port_s]
        } else {
            vec!["--json", "--pid", &cpid]
        };
        let mut t = start(&net, &args);
        let objs = in_turn(&mut t, [(&g1, &mut chosen), (&g2, &mut other)], &mut server);
        let segs = segments(&objs);
        let (p1, p2) = (client_port(&chosen), client_port(&other));
        let (out, back) = split(&segs, p1);
        assert!(
            out.len() >= 4 && back.len() >= 3,
            "by_comm {by_comm}: {segs:?}"
        );
        assert_eq!(
            out.len() + back.len(),
            segs.len(),
            "only the chosen client's segments"
        );
        let (o2, b2) = split(&segs, p2);
        assert!(o2.is_empty() && b2.is_empty(), "the other client appears");
        for s in out {
            assert_eq!(pid(s), Some(u64::from(chosen.pid())), "{s}");
        }
    }
}

/// A client in a cgroup of its own, named like a Docker container's: the segments carry
/// its cgroup path and container; `--container` selects it.
#[test]
fn process_in_its_own_cgroup() {
    let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let cg = Cgroup::new("cg", &format!("docker-{id}.scope"));
    let net = NetnsPair::new();
    let port = 18006;
    let mut server = peers::server(&net, false, port, 2, "tt-server");
    let (g1, g2) = (Gate::new("cg1"), Gate::new("cg2"));
    let mut boxed = peers::client(&net, port, "tt-boxed", Some(&g1), None);
    cg.add(boxed.pid());
    let mut other = peers::client(&net, port, "tt-other", Some(&g2), None);
    let mut t = start(
        &net,
        &["--json", "--process", "--container", "0123456789ab"],
    );
    let objs = in_turn(&mut t, [(&g1, &mut boxed), (&g2, &mut other)], &mut server);
    let segs = segments(&objs);
    let (out, back) = split(&segs, client_port(&boxed));
    all_from(&out, boxed.pid(), "tt-boxed", "boxed client");
    assert!(back.len() >= 3);
    assert_eq!(
        out.len() + back.len(),
        segs.len(),
        "only the boxed client's segments"
    );
    for s in &out {
        assert_eq!(s["container"], "docker:0123456789ab", "{s}");
        assert_eq!(s["cgroup"], cg.path().as_str(), "{s}");
    }
}

fn frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let tcp = Tcp::new(sport, dport);
    let seg = tcp.build(pseudo_v4(src, dst, 6, tcp.len()));
    eth4(&Ipv4::new(src, dst).packet(6, &seg))
}

fn flow(l: [u8; 4], lport: u16, r: [u8; 4], rport: u16) -> FlowKey {
    let mut k = FlowKey {
        family: 4,
        lport,
        rport,
        ..FlowKey::default()
    };
    k.laddr[..4].copy_from_slice(&l);
    k.raddr[..4].copy_from_slice(&r);
    k
}

fn owner(pid: u32, comm: &str) -> Owner {
    let mut o = Owner {
        tgid: pid,
        tid: pid,
        ..Owner::default()
    };
    o.comm[..comm.len()].copy_from_slice(comm.as_bytes());
    o
}

/// The packet programs' process filter, in the kernel (BPF_PROG_TEST_RUN on XDP and TC):
/// a segment passes when the owner of either local socket matches (by flow, by connecting
/// socket without its port, by listener); unknown flows and other owners do not.
#[test]
fn kernel_process_filter() {
    let (a, b, c) = ([10, 9, 0, 1], [10, 9, 0, 2], [10, 9, 0, 3]);
    let mut by_pid = AttribFilter::OFF;
    by_pid.enabled = 1;
    by_pid.n_pids = 2;
    by_pid.pids[..2].copy_from_slice(&[4242, 4343]);
    let mut by_comm = AttribFilter::OFF;
    by_comm.enabled = 1;
    by_comm.match_comm = 1;
    by_comm.comm[..4].copy_from_slice(b"curl");
    for (name, filter) in [("--pid", by_pid), ("--comm", by_comm)] {
        let mut k = Kernel::load_with(
            &Filter::default(),
            Config::default(),
            1 << 16,
            Some(&filter),
        )
        .expect("load (run as root)");
        let mut ring = k.take_rings().expect("ring");
        // a:40000 ↔ b:80 is curl 4242's; c:50000 ↔ b:80 is nginx 777's; b listens on 443
        // as nginx 777; a connects to c:22 as curl 4343, port not chosen yet.
        k.attrib_insert(&flow(a, 40000, b, 80), &owner(4242, "curl"))
            .unwrap();
        k.attrib_insert(&flow(c, 50000, b, 80), &owner(777, "nginx"))
            .unwrap();
        let listen = FlowKey {
            lport: 443,
            ..FlowKey::default()
        };
        k.attrib_insert(&listen, &owner(777, "nginx")).unwrap();
        k.attrib_insert(&flow(a, 0, c, 22), &owner(4343, "curl"))
            .unwrap();
        let cases = [
            (frame(a, 40000, b, 80), true, "curl's segment"),
            (frame(b, 80, a, 40000), true, "the answer to curl"),
            (frame(c, 50000, b, 80), false, "nginx's client segment"),
            (frame(b, 443, a, 40001), false, "nginx's listener"),
            (
                frame(a, 40002, c, 22),
                true,
                "curl connecting, port not chosen then",
            ),
            (frame(c, 22, a, 40002), true, "the refusal to curl"),
            (frame(c, 1, a, 2), false, "nobody's (forwarded)"),
        ];
        for (f, pass, what) in &cases {
            for tc in [false, true] {
                let verdict = k.run(if tc { Prog::Tc } else { Prog::Xdp }, f);
                verdict.expect("test run");
                let mut n = 0;
                while ring.pop_oldest().is_some() {
                    n += 1;
                }
                assert_eq!(n == 1, *pass, "{name}, {what} (tc: {tc}): {n} records");
            }
        }
        let c = k.attrib_counters().unwrap();
        assert_eq!(c.misses, 2, "{name}: the forwarded segment, on both hooks");
        assert_eq!(c.hits, 12, "{name}");
    }
}

/// The socket hooks record only sockets that can carry traced segments: with a port
/// filter, a connection on another port leaves no event and no entry; with an address
/// filter, only listeners (which may be bound to any address) and sockets with that
/// address. The maps' added/removed/live counts account for every entry (no evictions).
#[test]
fn hooks_record_only_traced_sockets() {
    use tcptrace::{
        attribute,
        decode::{self, Item},
    };
    use tcptrace_common::attrib::kind;
    let (traced, other) = (18007u16, 18008u16);
    let net = NetnsPair::new();
    let outside = "192.0.2.1";
    // (filter, whether each connection is recorded)
    let cases = [
        (format!("port {traced}"), true, false),
        (format!("host {outside}"), false, false),
        (format!("host {}", net.b4), true, true),
    ];
    for (expr, want_traced, want_other) in cases {
        let table = tcptrace::filter::compile(&expr).unwrap();
        let mut procs = AttribFilter::OFF;
        attribute::restrict_to(&mut procs, &table, attribute::ephemeral_ports());
        let mut k = Kernel::load_with(&table, Config::default(), 1 << 16, Some(&procs))
            .expect("load (run as root)");
        k.attach_attribution().expect("socket hooks");
        let mut ring = k.take_attrib_ring().expect("attribution ring");
        let mut s1 = peers::server(&net, false, traced, 1, "tt-server");
        let mut s2 = peers::server(&net, false, other, 1, "tt-other-srv");
        let mut c1 = peers::client(&net, traced, "tt-client", None, None);
        let mut c2 = peers::client(&net, other, "tt-other", None, None);
        for p in [&mut c1, &mut c2, &mut s1, &mut s2] {
            done(p);
        }
        k.detach_attribution();
        let mut events = Vec::new();
        while let Some(item) = ring.next() {
            let Some(Item::Attrib(ev)) = decode::item(&item) else {
                panic!("not an attribution event");
            };
            events.push(ev);
        }
        let seen =
            |pid: u32, what: u8| events.iter().any(|e| e.owner.tgid == pid && e.kind == what);
        let connected = |c: &Proc, port: u16| {
            let cport = client_port(c) as u16;
            events.iter().any(|e| {
                e.kind == kind::CONNECT
                    && e.owner.tgid == c.pid()
                    && (e.key.lport, e.key.rport) == (cport, port)
            })
        };
        assert_eq!(connected(&c1, traced), want_traced, "{expr}: {events:?}");
        assert_eq!(connected(&c2, other), want_other, "{expr}: {events:?}");
        assert_eq!(seen(s1.pid(), kind::RECV), want_traced, "{expr}");
        assert_eq!(seen(s2.pid(), kind::RECV), want_other, "{expr}");
        // Listeners: by port, or always when a test is on addresses.
        assert!(seen(s1.pid(), kind::LISTEN), "{expr}: {events:?}");
        assert_eq!(
            seen(s2.pid(), kind::LISTEN),
            expr.starts_with("host"),
            "{expr}"
        );
        // (Other tests' listeners may be recorded, their connections not.)
        for e in events.iter().filter(|e| e.kind != kind::LISTEN) {
            assert!(
                [s1.pid(), s2.pid(), c1.pid(), c2.pid()].contains(&e.owner.tgid),
                "{expr}: an event for another process: {e:?}"
            );
        }
        let c = k.attrib_counters().unwrap();
        assert_eq!(c.recorded, events.len() as u64, "{expr}: {c:?}");
        assert_eq!(c.lost, 0, "{expr}");
        assert!(
            c.added > 0 && c.added == c.removed + c.live,
            "{expr}: {c:?}"
        );
        assert_eq!(c.evicted(), 0, "{expr}");
    }
}

/// A server listening since before the trace (a production server tcptrace is started
/// next to): found at start in /proc, so its handshakes carry its pid before it has read
/// anything, in the kernel's `--pid` filter (the handshake passes only by the listener's
/// entry) and in the lines.
#[test]
fn server_listening_before_the_trace() {
    let net = NetnsPair::new();
    let port = 18009;
    let mut server = peers::server(&net, false, port, 1, "tt-early");
    let spid = server.pid();
    let (spid_s, port_s) = (spid.to_string(), port.to_string());
    let mut t = start(&net, &["--json", "--pid", &spid_s, "--port", &port_s]);
    let gate = Gate::new("early");
    let mut client = peers::client(&net, port, "tt-late", None, Some(&gate));
    client.wait_stdout("connected");
    t.wait_stdout("\"flags\":\"S.\"");
    gate.open();
    done(&mut client);
    done(&mut server);
    let objs = stop(&mut t);
    let segs = segments(&objs);
    let synack = segs.iter().find(|s| s["flags"] == "S.").expect("SYN-ACK");
    assert_eq!(pid(synack), Some(u64::from(spid)), "{synack}");
    let syn = segs.iter().find(|s| s["flags"] == "S").expect("the SYN");
    assert_eq!(pid(syn), Some(u64::from(client.pid())), "{syn}");
}
