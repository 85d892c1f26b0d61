//! Long runs: `-w` rotated as tcpdump rotates (`-C` size, `-W` ring, `-G` time with
//! strftime names), each file complete and read back by tcpdump; `--stats` lines.
mod common;

use std::{
    fs,
    io::{Read, Write},
    net::{IpAddr, Shutdown, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use common::{
    listening,
    netns::{EVENT_TIMEOUT, NetnsPair, in_netns},
    stdout_ok, tcpdump, tracer,
};

/// A scratch directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("tcptrace-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A server in b on `port` answering each block of `block` bytes with one byte, until EOF.
fn stop_and_wait_server(
    net: &NetnsPair,
    addr: IpAddr,
    port: u16,
    block: usize,
) -> std::thread::JoinHandle<()> {
    common::netns::serve_one(net, addr, port, move |mut s| {
        let mut buf = vec![0u8; block];
        while s.read_exact(&mut buf).is_ok() {
            s.write_all(b"k").unwrap();
        }
    })
}

/// [`stop_and_wait_server`] in b, and a client in a: `rounds` blocks, each waiting for its
/// one-byte answer (so each block is one segment); then it closes and waits for the
/// server's FIN.
fn stop_and_wait(net: &NetnsPair, dst: IpAddr, port: u16, block: usize, rounds: usize) {
    let server = stop_and_wait_server(net, dst, port, block);
    in_netns(&net.a, move || {
        let mut s = TcpStream::connect(SocketAddr::new(dst, port)).unwrap();
        s.set_nodelay(true).unwrap();
        let data = vec![b'd'; block];
        let mut one = [0u8; 1];
        for _ in 0..rounds {
            s.write_all(&data).unwrap();
            s.read_exact(&mut one).unwrap();
        }
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0);
    })
    .join()
    .unwrap();
    server.join().unwrap();
}

/// tcpdump -S -r FILE: its lines (absolute sequence numbers: each file of a rotation is
/// read on its own); the file must read cleanly (exit 0, no warning).
fn read_back(file: &Path) -> String {
    let out = tcpdump(&["-n", "-S", "-r", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("truncated") && !err.contains("warning"),
        "{}: {err}",
        file.display()
    );
    stdout_ok(&format!("tcpdump -r {}", file.display()), &out)
}

const BLOCK: usize = 1400;
/// Source port of the refused connection that ends a run.
const MARKER_PORT: u16 = 40997;
/// About 650 bytes of pcapng per round (-s 512): 4000 rounds make about 2.6 MB.
const ROUNDS: usize = 4000;

#[test]
fn rotation_by_size_and_ring_read_back_as_the_live_lines() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    const PORT: u16 = 7101;
    let plain = Dir::new("rot-c");
    let ring = Dir::new("rot-w");
    let start = |extra: &[&str], file: PathBuf| {
        let mut cmd = tracer(&net, PORT);
        // A 64 MiB ring: the whole run (about 5 MB of records with their 512 bytes) fits
        // even if this busy machine starves the reader.
        cmd.args(["-S", "-s", "512", "-B", "65536"])
            .args(extra)
            .arg("-w")
            .arg(file);
        listening(cmd)
    };
    let mut by_size = start(&["-C", "1"], plain.0.join("c.pcapng"));
    let mut by_ring = start(&["-C", "1", "-W", "2"], ring.0.join("r.pcapng"));

    stop_and_wait(&net, b, PORT, BLOCK, ROUNDS);
    // A refused connection last: once both have printed its RST, they have printed
    // everything before it.
    let a: IpAddr = net.a4.parse().unwrap();
    common::netns::refused(&net, a, b, MARKER_PORT, PORT);
    let marker = format!(".{PORT} > {}.{MARKER_PORT}: Flags [R.]", net.a4);
    for p in [&mut by_size, &mut by_ring] {
        p.wait_stdout(&marker);
        assert_eq!(p.interrupt(), Some(0), "{:?}", p.err_lines);
        let none_lost = p
            .err_lines
            .iter()
            .any(|l| l.starts_with("0 packets dropped"));
        assert!(none_lost, "records were lost: {:?}", p.err_lines);
    }
    let live = by_size.out_lines.join("\n") + "\n";

    // -C 1: c.pcapng, c.pcapng1, c.pcapng2, ... (tcpdump's names), each but the last
    // just over 1 000 000 bytes; read back in order they are the live lines.
    let names = plain.files();
    assert!(names.len() >= 3, "expected at least 3 files: {names:?}");
    let mut expected: Vec<String> = vec!["c.pcapng".into()];
    expected.extend((1..names.len()).map(|i| format!("c.pcapng{i}")));
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(names, sorted_expected);
    let mut read = String::new();
    for (i, n) in expected.iter().enumerate() {
        let f = plain.0.join(n);
        let size = fs::metadata(&f).unwrap().len();
        if i + 1 < expected.len() {
            assert!(
                size > 1_000_000 && size < 1_000_000 + 2000,
                "{n}: {size} bytes: a file is rotated at the first packet past 1 MB"
            );
        }
        read += &read_back(&f);
    }
    assert!(
        read == live,
        "the rotated files differ from the live lines:\n{}",
        common::diff(&live, &read, 6)
    );

    // -C 1 -W 2: a ring of r.pcapng0 and r.pcapng1, the oldest overwritten: the first
    // file no longer starts with the handshake, the last lines are still there.
    assert_eq!(ring.files(), ["r.pcapng0", "r.pcapng1"]);
    let first = read_back(&ring.0.join("r.pcapng0"));
    let second = read_back(&ring.0.join("r.pcapng1"));
    assert!(!first.is_empty() && !second.is_empty());
    // Each tracer stamps its own records: compare lines without their timestamps.
    let untimed = |l: &str| l.split_once(' ').map_or(l, |x| x.1).to_string();
    let ring_lines: Vec<String> = first.lines().chain(second.lines()).map(untimed).collect();
    let syn = untimed(live.lines().next().unwrap());
    assert!(!ring_lines.contains(&syn), "the ring did not wrap");
    let last = untimed(live.lines().last().unwrap());
    assert!(last.contains(&marker), "{last}");
    assert!(
        ring_lines.contains(&last),
        "the last line is in neither file of the ring"
    );
}

#[test]
fn rotation_by_time_names_files_by_strftime() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    const PORT: u16 = 7102;
    let dir = Dir::new("rot-g");
    let pattern = dir.0.join("t-%Y%m%d-%H.pcapng");
    let hour = || {
        let out = std::process::Command::new("date")
            .args(["-u", "+t-%Y%m%d-%H.pcapng"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };

    // -G 3600: one file, named by strftime at the start (local time: TZ=UTC here).
    let before = hour();
    let mut cmd = tracer(&net, PORT);
    cmd.args(["-S", "-G", "3600", "-w"]).arg(&pattern);
    let mut tt = listening(cmd);
    stop_and_wait(&net, b, PORT, 100, 5);
    tt.wait_stdout(&format!("{}.{PORT} > {}", net.b4, net.a4));
    tt.wait_stdout("Flags [F");
    assert_eq!(tt.interrupt(), Some(0), "{:?}", tt.err_lines);
    let after = hour();
    let files = dir.files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0] == before || files[0] == after,
        "{files:?}, {before}"
    );
    let live = tt.out_lines.join("\n") + "\n";
    assert_eq!(read_back(&dir.0.join(&files[0])), live);
}

#[test]
fn rotation_by_time_with_w_ends_the_trace_after_n_files() {
    // -G 1 -W 1, as tcpdump: at the first rotation the trace ends, exit status 0, one
    // complete file. Traffic flows until the tracer has exited (awaited, not timed).
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    const PORT: u16 = 7103;
    let dir = Dir::new("rot-gw");
    let mut cmd = tracer(&net, PORT);
    cmd.args(["-G", "1", "-W", "1", "-w"])
        .arg(dir.0.join("g-%s.pcapng"));
    let mut tt = listening(cmd);
    let server = stop_and_wait_server(&net, b, PORT, 100);
    let stop = Arc::new(AtomicBool::new(false));
    let pid = tt.pid() as i32;
    let client = in_netns(&net.a, {
        let stop = stop.clone();
        move || {
            let deadline = Instant::now() + EVENT_TIMEOUT;
            let mut s = TcpStream::connect(SocketAddr::new(b, PORT)).unwrap();
            s.set_nodelay(true).unwrap();
            let mut one = [0u8; 1];
            while !stop.load(Ordering::SeqCst) {
                if Instant::now() > deadline {
                    // The trace did not end: kill it, so the test fails instead of hanging.
                    // SAFETY: signalling the test's own child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    break;
                }
                s.write_all(&[b'd'; 100]).unwrap();
                s.read_exact(&mut one).unwrap();
            }
        }
    });
    let code = tt.finish();
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    server.join().unwrap();
    assert_eq!(code, Some(0), "{:?}", tt.err_lines);
    let files = dir.files();
    assert_eq!(files.len(), 1, "{files:?}");
    let secs: i64 = files[0]
        .strip_prefix("g-")
        .and_then(|f| f.strip_suffix(".pcapng"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a %s name: {}", files[0]));
    assert!(secs > 1_600_000_000, "{secs}");
    let lines = read_back(&dir.0.join(&files[0]));
    assert!(lines.contains("Flags [S]"), "{lines}");
}

#[test]
fn stats_lines_show_the_counters_and_the_connections() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    const PORT: u16 = 7104;
    let start = |extra: &[&str]| {
        let mut cmd = tracer(&net, PORT);
        cmd.args(["--stats", "1"]).args(extra);
        listening(cmd)
    };
    let mut text = start(&[]);
    let mut json = start(&["--json", "--no-lines"]);
    let server = common::netns::echo_server(&net, b, PORT);
    common::netns::client_session(&net, b, PORT);
    server.join().unwrap();
    text.wait_stdout(&format!("{}.{PORT} > {}", net.b4, net.a4));
    text.wait_stdout("Flags [F");
    json.wait_stdout("\"kind\":\"closed\"");
    // The next lines after the session: one connection opened and closed.
    text.wait_stderr(
        "connections: 1 opened, 0 refused, 0 reset (0 by client, 0 by server), 1 closed",
    );
    json.wait_stderr("\"type\":\"stats\"");
    json.wait_stderr("\"closed\":1");
    assert_eq!(text.interrupt(), Some(0));
    assert_eq!(json.interrupt(), Some(0));
    let line = text
        .err_lines
        .iter()
        .find(|l| l.contains("1 closed"))
        .unwrap();
    assert!(line.starts_with("tcptrace: stats: "), "{line}");
    assert!(line.contains(" 0 lost,"), "{line}");
    let obj = json
        .err_lines
        .iter()
        .find(|l| l.contains("\"closed\":1"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(obj).expect("one JSON object");
    assert_eq!(v["type"], "stats");
    assert_eq!(v["connections"]["opened"], 1);
    assert_eq!(v["kernel"]["lost"], 0);
    assert!(v["kernel"]["matched"].as_u64().unwrap() >= 8, "{obj}");
}
