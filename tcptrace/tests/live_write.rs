//! `-w`: capture live traffic to pcapng while printing; `tcpdump -r` and `tcptrace -r` on
//! the file must print tcptrace's own live lines, timestamps included.
mod common;

use std::{
    io::{Read, Write},
    net::{IpAddr, Shutdown, SocketAddr},
};

use common::{
    listening,
    netns::{
        NetnsPair, Proc, client_session, connect_nonblocking, echo_server, in_netns, one_connection,
    },
    stdout_ok, tcpdump, tcpdump_bin, tcptrace, tracer, tracer_on_b,
};

const PORT: u16 = 7001;

fn session(net: &NetnsPair, b: IpAddr) {
    one_connection(
        net,
        b,
        PORT,
        |mut s| {
            let mut buf = vec![0u8; 4000];
            let mut got = 0;
            while got < 3000 {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0);
                got += n;
            }
            // A reply longer than the snap length, so the file holds cut frames.
            s.write_all(&[b'x'; 1200]).unwrap();
            let _ = s.read(&mut buf);
        },
        |mut s| {
            s.write_all(&[b'y'; 3000]).unwrap();
            let mut buf = [0u8; 1200];
            s.read_exact(&mut buf).unwrap();
            s.shutdown(Shutdown::Both).unwrap();
        },
    );
}

#[test]
fn written_pcapng_reads_back_as_the_live_lines() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let dir = scratch("live");
    let file = dir.join("live.pcapng");

    let mut cmd = tracer(&net, PORT);
    cmd.arg("-w").arg(&file);
    let mut tt = listening(cmd);
    session(&net, b);
    // The session ends with the client's RST or last ACK; wait for a FIN from each side.
    tt.wait_stdout(&format!("{}.{PORT} > ", net.b4));
    tt.wait_stdout("Flags [F");
    assert_eq!(tt.interrupt(), Some(0), "{:?}", tt.err_lines);
    let live = tt.out_lines.join("\n") + "\n";
    assert!(live.lines().count() >= 8, "{live}");

    let file_s = file.to_str().unwrap();
    let by_tcpdump = stdout_ok("tcpdump -r", &tcpdump(&["-n", "-r", file_s]));
    let by_tcptrace = stdout_ok("tcptrace -r", &tcptrace(&["-r", file_s]));
    assert!(
        by_tcpdump == live,
        "tcpdump -r differs from the live lines:\n{}",
        common::diff(&live, &by_tcpdump, 6)
    );
    assert!(
        by_tcptrace == live,
        "tcptrace -r differs from the live lines:\n{}",
        common::diff(&live, &by_tcptrace, 6)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unwritable_file_is_a_clear_error_and_attaches_nothing() {
    let net = NetnsPair::new();
    let err = common::refused_before_attaching(&net, &["-w", "/nonexistent-dir/x.pcapng"]);
    assert!(err.contains("/nonexistent-dir/x.pcapng"), "{err}");
}

/// A scratch directory for one test's files.
fn scratch(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tcptrace-w-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// tcpdump (the oracle) live on `veth_b` in namespace `b`, `-n -l FILTER`.
fn live_tcpdump(net: &NetnsPair, filter: &[&str]) -> Proc {
    let mut td = net.exec(&net.b, tcpdump_bin());
    td.args(["-n", "-l", "-i", &net.veth_b])
        .args(filter)
        .env("TZ", "UTC");
    let mut td = Proc::spawn("tcpdump", td);
    td.wait_stderr("listening on");
    td
}

fn without_ts(l: &str) -> String {
    l.split_once(' ').map_or(l, |(_, rest)| rest).to_string()
}

/// iptables drops the SYNs to port 7023 on INPUT in the traced namespace; tcptrace `-w`
/// alone (no --explain): its lines stay tcpdump's, and in the file exactly the dropped
/// SYNs carry the drop as a packet comment (a connection to port 7024 that opens and
/// closes carries none).
#[test]
fn dropped_segments_are_commented_in_the_file() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let st = net
        .exec(&net.b, "iptables")
        .args([
            "-A", "INPUT", "-p", "tcp", "--dport", "7023", "--syn", "-j", "DROP",
        ])
        .status()
        .expect("iptables");
    assert!(st.success(), "iptables: {st}");
    let dir = scratch("drop");
    let file = dir.join("drop.pcapng");
    let filter = ["port", "7023", "or", "port", "7024"];
    let mut cmd = tracer_on_b(&net);
    cmd.arg("-w").arg(&file).args(filter);
    let mut tt = listening(cmd);
    let mut td = live_tcpdump(&net, &filter);

    let dropped = in_netns(&net.a, move || {
        connect_nonblocking(SocketAddr::new(b, 7023))
    })
    .join()
    .expect("connect");
    // The first SYN and its retransmission.
    let syn = format!("{}.7023: Flags [S]", net.b4);
    tt.wait_stdout_n(&syn, 2);
    td.wait_stdout_n(&syn, 2);
    drop(dropped);
    let server = echo_server(&net, b, 7024);
    client_session(&net, b, 7024);
    server.join().unwrap();
    for p in [&mut tt, &mut td] {
        p.wait_stdout_n("Flags [F", 2);
    }
    assert_eq!(tt.interrupt(), Some(0), "{:?}", tt.err_lines);
    td.interrupt();
    let wire: Vec<String> = td
        .out_lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| without_ts(l))
        .collect();
    let lines: Vec<String> = tt.out_lines.iter().map(|l| without_ts(l)).collect();
    assert_eq!(lines, wire, "tcptrace's lines are tcpdump's");

    let out = std::process::Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&file)
        .args([
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "tcp.dstport",
            "-e",
            "tcp.flags.syn",
            "-e",
            "tcp.flags.ack",
            "-e",
            "frame.comment",
        ])
        .output()
        .expect("tshark");
    let frames = stdout_ok("tshark -r", &out);
    let frames: Vec<&str> = frames.lines().collect();
    assert_eq!(frames.len(), wire.len(), "{frames:#?}");
    let mut commented = 0;
    for f in &frames {
        let fields: Vec<&str> = f.split('|').collect();
        let [port, syn, ack, comment] = fields[..] else {
            panic!("{f}")
        };
        let syn = matches!(syn, "1" | "True") && !matches!(ack, "1" | "True");
        if port == "7023" && syn {
            assert!(
                comment.contains("dropped in this host: NETFILTER_DROP ("),
                "a dropped SYN without its comment: {f}\n{frames:#?}"
            );
            commented += 1;
        } else {
            assert!(
                !comment.contains("dropped in this host"),
                "{f}\n{frames:#?}"
            );
        }
    }
    assert!(commented >= 2, "{frames:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-w` with `-C 1` while packet fate holds frames back: every frame is in the files, in
/// order (the files read one after the other print tcptrace's live lines, timestamps
/// included), as many as tcpdump saw live.
#[test]
fn rotated_files_lose_and_reorder_nothing() {
    const PORT: u16 = 7025;
    const ROUNDS: usize = 4000;
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let dir = scratch("rotate");
    let file = dir.join("rot.pcapng");
    let port = PORT.to_string();
    let mut cmd = tracer_on_b(&net);
    // -S: each file starts tcpdump's relative numbering anew; absolute ones compare.
    cmd.args(["-S", "-s", "512", "-C", "1", "-w"])
        .arg(&file)
        .args(["port", &port]);
    let mut tt = listening(cmd);
    let mut td = live_tcpdump(&net, &["port", &port]);

    // Request and reply, one after the other: thousands of frames, none coalesced.
    one_connection(
        &net,
        b,
        PORT,
        |mut s| {
            s.set_nodelay(true).unwrap();
            let mut buf = vec![0u8; 1400];
            for _ in 0..ROUNDS {
                s.read_exact(&mut buf).unwrap();
                s.write_all(b"k").unwrap();
            }
            let _ = s.read(&mut buf);
        },
        |mut s| {
            s.set_nodelay(true).unwrap();
            let req = [b'y'; 1400];
            let mut k = [0u8; 1];
            for _ in 0..ROUNDS {
                s.write_all(&req).unwrap();
                s.read_exact(&mut k).unwrap();
            }
            s.shutdown(Shutdown::Both).unwrap();
        },
    );
    for p in [&mut tt, &mut td] {
        p.wait_stdout_n("Flags [F", 2);
    }
    assert_eq!(tt.interrupt(), Some(0), "{:?}", tt.err_lines);
    td.interrupt();
    let live = tt.out_lines.join("\n") + "\n";
    // The files, in order: rot.pcapng, rot.pcapng1, rot.pcapng2, …
    let mut read = String::new();
    let mut files = 0;
    loop {
        let name = if files == 0 {
            file.clone()
        } else {
            dir.join(format!("rot.pcapng{files}"))
        };
        if !name.exists() {
            break;
        }
        read += &stdout_ok(
            "tcpdump -r",
            &tcpdump(&["-n", "-S", "-r", name.to_str().unwrap()]),
        );
        files += 1;
    }
    assert!(files >= 2, "-C 1 made {files} file(s)");
    assert!(
        read == live,
        "the files differ from the live lines:\n{}",
        common::diff(&live, &read, 30)
    );
    assert_eq!(
        read.lines().count(),
        td.out_lines.iter().filter(|l| !l.is_empty()).count(),
        "frames in the files vs tcpdump's live lines"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
