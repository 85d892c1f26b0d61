//! `--explain`, `--summary` (at exit and on SIGUSR1) and `--json` live: real TCP endpoints
//! in two network namespaces joined by a veth pair, tcptrace on the traced side.
mod common;

use std::{
    io::{ErrorKind, Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    os::fd::AsRawFd,
    sync::mpsc,
    thread,
    time::Duration,
};

use common::{
    netns::{NetnsPair, Proc, connect_from, in_netns, sockaddr},
    tcptrace_bin,
};
use serde_json::Value;

/// tcptrace on `veth_b` in namespace `b`, started and listening.
fn start(net: &NetnsPair, args: &[&str]) -> Proc {
    let mut c = net.exec(&net.b, tcptrace_bin());
    c.args(["-i", &net.veth_b]).args(args).env("TZ", "UTC");
    let mut p = Proc::spawn("tcptrace", c);
    p.wait_stderr("listening on");
    p
}

fn notes(p: &Proc) -> Vec<String> {
    p.out_lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("    ^ ")
                .or_else(|| l.strip_prefix("    * "))
        })
        .map(|n| without_process(n).to_string())
        .collect()
}

/// A note without the process it names (` (client: COMM pid N)`, ` (COMM pid N)`: the
/// test's own threads here; tests/attrib.rs checks those).
fn without_process(note: &str) -> &str {
    match note.rfind(" (") {
        Some(i) if note.ends_with(')') && note[i..].contains(" pid ") => &note[..i],
        _ => note,
    }
}

#[track_caller]
fn has_note(notes: &[String], prefix: &str) -> usize {
    notes
        .iter()
        .position(|n| n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no note starting with '{prefix}' in:\n{}", notes.join("\n")))
}

fn ep(a: &str, port: u16) -> String {
    format!("{a}.{port}")
}

/// A server in `b` that answers one request line with "pong\n" and closes once the
/// client has closed. Returns once it listens.
fn pong_server(net: &NetnsPair, addr: IpAddr, port: u16) -> thread::JoinHandle<()> {
    common::netns::serve_one(net, addr, port, |mut s| {
        let mut buf = [0u8; 5];
        if s.read_exact(&mut buf).is_ok() {
            let _ = s.write_all(b"pong\n");
        }
        // Until the client closes or resets.
        let _ = s.read(&mut [0u8; 16]);
    })
}

/// Client in `a`: "ping\n", read "pong\n", then `end` the connection.
fn ping_client(net: &NetnsPair, dst: IpAddr, port: u16, reset: bool) -> u16 {
    in_netns(&net.a, move || {
        let mut s = TcpStream::connect(SocketAddr::new(dst, port)).expect("connect");
        let sport = s.local_addr().unwrap().port();
        s.write_all(b"ping\n").unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong\n");
        if reset {
            // Linger 0: close() sends RST.
            let lg = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: valid socket and a correctly sized linger struct.
            let rc = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&lg as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0);
            drop(s);
        } else {
            s.shutdown(std::net::Shutdown::Write).unwrap();
            assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0, "server's FIN");
        }
        sport
    })
    .join()
    .expect("client")
}

#[test]
fn connection_explained_with_summary_on_sigusr1_and_at_exit() {
    let net = NetnsPair::new();
    let port = 7781;
    let mut tt = start(&net, &["--port", "7781", "--explain", "--summary"]);
    let server = pong_server(&net, net.b4.parse().unwrap(), port);
    let sport = ping_client(&net, net.b4.parse().unwrap(), port, false);
    server.join().unwrap();
    tt.wait_stdout("    ^ closed: ");

    // SIGUSR1: the table now, the tracer keeps running.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(tt.pid() as i32, libc::SIGUSR1) };
    tt.wait_stdout("tcptrace summary: 1 connection ");
    tt.stop();

    let (c, s) = (ep(&net.a4, sport), ep(&net.b4, port));
    let n = notes(&tt);
    let i1 = has_note(
        &n,
        &format!("handshake 1/3: client {c} asks {s} to open a connection (SYN, ISN "),
    );
    let i2 = has_note(
        &n,
        &format!("handshake 2/3: server {s} accepts (SYN-ACK acks "),
    );
    let i3 = has_note(
        &n,
        &format!("handshake 3/3: client {c} acknowledges the SYN-ACK "),
    );
    assert!(
        n[i3].contains("connection established (handshake RTT "),
        "{}",
        n[i3]
    );
    let i4 = has_note(
        &n,
        &format!(
            "close: {c} closes first (FIN, active close) after sending 5 bytes and receiving 5"
        ),
    );
    let i5 = has_note(
        &n,
        &format!("close: {s} closes its side too (FIN, passive close), "),
    );
    let i6 = has_note(&n, "closed: ");
    assert!(
        n[i6].ends_with(&format!(
            "{c} (it closed first) keeps the port pair in TIME_WAIT"
        )),
        "{}",
        n[i6]
    );
    assert!(
        i1 < i2 && i2 < i3 && i3 < i4 && i4 < i5 && i5 < i6,
        "{n:#?}"
    );
    // Nothing went wrong on a veth: no retransmission, dup ACK or zero window notes.
    for bad in [
        "retransm",
        "duplicate",
        "zero window",
        "out-of-order",
        "reset",
    ] {
        assert!(
            !n.iter().any(|x| x.starts_with(bad)),
            "unexpected '{bad}' note:\n{}",
            n.join("\n")
        );
    }

    // Two summaries (SIGUSR1 and exit), each with the connection's row.
    let heads = tt
        .out_lines
        .iter()
        .filter(|l| l.starts_with("tcptrace summary: 1 connection "))
        .count();
    assert_eq!(heads, 2, "{}", tt.out_lines.join("\n"));
    let rows: Vec<&String> = tt
        .out_lines
        .iter()
        .filter(|l| l.trim_start().starts_with("1  ") && l.contains(&c))
        .collect();
    assert_eq!(rows.len(), 2, "{}", tt.out_lines.join("\n"));
    for r in rows {
        assert!(r.contains("CLOSED"), "{r}");
        assert!(r.contains("5/5"), "bytes each way: {r}");
        assert!(r.ends_with("FIN by client first, then server"), "{r}");
    }
}

#[test]
fn refused_connection_and_port_reuse_live() {
    let net = NetnsPair::new();
    let (port, sport) = (7782u16, 41782u16);
    let mut tt = start(&net, &["--port", "7782", "--explain", "--summary"]);
    let (src, dst): (IpAddr, IpAddr) = (net.a4.parse().unwrap(), net.b4.parse().unwrap());
    // Twice from the same port: Linux picks a new ISN, so the second is a new connection.
    for _ in 0..2 {
        in_netns(&net.a, move || {
            let e = connect_from(src, sport, SocketAddr::new(dst, port));
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        })
        .join()
        .unwrap();
    }
    tt.wait_stdout("(attempt 1)");
    tt.wait_stdout("new connection on the same ports");
    // Both RSTs printed and explained.
    let deadline = std::time::Instant::now() + common::netns::EVENT_TIMEOUT;
    while tt
        .out_lines
        .iter()
        .filter(|l| l.starts_with("    ^ refused: "))
        .count()
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "second refusal not explained:\n{}",
            tt.out_lines.join("\n")
        );
        tt.wait_stdout("    ^ refused: ");
        thread::sleep(Duration::from_millis(50));
    }
    tt.stop();
    let (c, s) = (ep(&net.a4, sport), ep(&net.b4, port));
    let n = notes(&tt);
    let refused = format!(
        "refused: {s} answers the SYN with a reset (attempt 1): nothing accepts connections on port {port} there"
    );
    assert_eq!(
        n.iter().filter(|x| x.starts_with(&refused)).count(),
        2,
        "{n:#?}"
    );
    let gave_up = format!("gave up: client {c} stopped after 1 attempt, refused by {s}");
    assert_eq!(n.iter().filter(|x| **x == gave_up).count(), 2, "{n:#?}");
    has_note(
        &n,
        &format!("new connection on the same ports: client {c} sends a new SYN (ISN "),
    );
    let rows: Vec<&String> = tt
        .out_lines
        .iter()
        .filter(|l| l.contains("REFUSED"))
        .collect();
    assert_eq!(rows.len(), 2, "{}", tt.out_lines.join("\n"));
    // The reason is the kernel's (tcp_send_reset's on this host kernel: --summary attaches
    // the packet fate hooks).
    for r in rows {
        assert!(r.ends_with("refused ×1 (NO_SOCKET), client gave up"), "{r}");
    }
}

#[test]
fn reset_after_data_as_json_ipv6() {
    let net = NetnsPair::new();
    let port = 7783;
    let mut tt = start(&net, &["--port", "7783", "--json"]);
    let server = pong_server(&net, net.b6.parse().unwrap(), port);
    let sport = ping_client(&net, net.b6.parse().unwrap(), port, true);
    server.join().unwrap();
    tt.wait_stdout("\"kind\":\"reset\"");
    tt.stop();
    let objs: Vec<Value> = tt
        .out_lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(objs.iter().all(|o| o["v"] == 1));
    let c = ep(&net.a6, sport);
    let segs: Vec<&Value> = objs.iter().filter(|o| o["type"] == "segment").collect();
    assert!(segs.len() >= 6, "{}", tt.out_lines.join("\n"));
    assert_eq!(segs[0]["ip"], 6);
    assert_eq!(segs[0]["flags"], "S");
    assert_eq!(segs[0]["src"], net.a6.as_str());
    assert_eq!(segs[0]["conn"], 1);
    let reset = objs
        .iter()
        .find(|o| o["type"] == "event" && o["kind"] == "reset")
        .unwrap();
    assert_eq!(reset["from"], c.as_str());
    assert_eq!(reset["bytes_sent"], 5);
    assert_eq!(reset["bytes_received"], 5);
    let kinds: Vec<&str> = objs
        .iter()
        .filter(|o| o["type"] == "event")
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        &kinds[..3],
        ["handshake_syn", "handshake_synack", "handshake_ack"],
        "{kinds:?}"
    );
    let rows: Vec<&Value> = objs.iter().filter(|o| o["type"] == "summary").collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["state"], "RESET");
    assert_eq!(rows[0]["end"], "rst");
    assert_eq!(rows[0]["end_by"], "client");
    assert_eq!(rows[0]["client"], c.as_str());
    assert_eq!(rows[0]["bytes"], serde_json::json!([5, 5]));
    assert!(rows[0]["handshake_rtt_ns"].as_u64().unwrap() > 0);
}

#[test]
fn zero_window_live() {
    let net = NetnsPair::new();
    let port = 7784;
    let mut tt = start(
        &net,
        &["--port", "7784", "--explain", "--no-lines", "--summary"],
    );
    let dst: IpAddr = net.b4.parse().unwrap();
    // Server: writes 2 MB as fast as it can, then closes.
    let server = common::netns::serve_one(&net, dst, port, |mut s| {
        let chunk = vec![b'z'; 64 * 1024];
        for _ in 0..32 {
            s.write_all(&chunk).expect("server write");
        }
    });
    // Client: a small receive buffer; reads nothing until tcptrace has reported the zero
    // window (the event is awaited, not slept for), then everything.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let client = in_netns(&net.a, move || {
        // SAFETY: plain socket calls.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        assert!(fd >= 0);
        let small: libc::c_int = 4096;
        // SAFETY: valid fd and option size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&small as *const libc::c_int).cast(),
                4,
            );
        }
        use std::os::fd::FromRawFd;
        // SAFETY: fd is a fresh socket we own.
        let sock = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        let (sa, len) = sockaddr(SocketAddr::new(dst, port));
        // SAFETY: valid address of the given length.
        let rc = unsafe { libc::connect(fd, sa.as_ptr().cast(), len) };
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        go_rx.recv().expect("go");
        let mut s = sock;
        let mut total = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = s.read(&mut buf).expect("client read");
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, 2 * 1024 * 1024);
    });
    tt.wait_stdout("zero window: ");
    go_tx.send(()).unwrap();
    client.join().unwrap();
    server.join().unwrap();
    tt.wait_stdout("window open: ");
    tt.stop();
    let out = tt.out_lines.join("\n");
    let c = format!("{}.", net.a4);
    let zero = tt
        .out_lines
        .iter()
        .find(|l| l.contains("zero window: "))
        .unwrap_or_else(|| panic!("no zero window note:\n{out}"));
    // --no-lines: notes start with the time, not `    ^`.
    assert!(!zero.starts_with(' '), "{zero}");
    assert!(zero.contains(&format!("zero window: {c}")), "{zero}");
    assert!(
        without_process(zero).ends_with("must pause sending"),
        "{zero}"
    );
    assert!(out.contains(&format!("window open: {c}")), "{out}");
    // No segment lines.
    assert!(!out.contains(" IP "), "{out}");
    assert!(out.contains("tcptrace summary: 1 connection "), "{out}");
}

#[test]
fn graphs_on_sigusr1_and_at_exit() {
    let net = NetnsPair::new();
    let port = 7786;
    let dir = common::pcap::scratch(&format!("live-graphs.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // --summary too: its table comes right after the graphs are written, so its heading
    // says they are on disk.
    let mut tt = start(
        &net,
        &[
            "--port",
            "7786",
            "--graph",
            dir.to_str().unwrap(),
            "--summary",
            "--no-lines",
        ],
    );
    let server = pong_server(&net, net.b4.parse().unwrap(), port);
    let sport = ping_client(&net, net.b4.parse().unwrap(), port, false);
    server.join().unwrap();
    let c = ep(&net.a4, sport);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(tt.pid() as i32, libc::SIGUSR1) };
    tt.wait_stdout("tcptrace summary: 1 connection ");
    let index = std::fs::read_to_string(dir.join("index.html")).expect("index.html on SIGUSR1");
    assert!(index.contains(&c), "{index}");
    assert!(dir.join("conn-1-c2s.svg").exists());
    assert!(dir.join("conn-1-s2c.svg").exists());
    // Written again at exit.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    tt.stop();
    let index = std::fs::read_to_string(dir.join("index.html")).expect("index.html at exit");
    assert!(index.contains("CLOSED"), "{index}");
    let svg = std::fs::read_to_string(dir.join("conn-1-c2s.svg")).expect("svg at exit");
    assert!(
        svg.contains("SYN") && svg.contains("FIN"),
        "handshake and FIN marked"
    );
}
