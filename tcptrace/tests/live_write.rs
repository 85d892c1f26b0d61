//! `-w`: capture live traffic to pcapng while printing; `tcpdump -r` and `tcptrace -r` on
//! the file must print tcptrace's own live lines, timestamps included.
mod common;

use std::{
    io::{Read, Write},
    net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::mpsc,
};

use common::{
    netns::{NetnsPair, Proc, in_netns},
    stdout_ok, tcpdump, tcptrace, tcptrace_bin,
};

const PORT: u16 = 7001;

fn session(net: &NetnsPair, b: IpAddr) {
    let (tx, rx) = mpsc::channel();
    let server = in_netns(&net.b, move || {
        let l = TcpListener::bind(SocketAddr::new(b, PORT)).expect("bind");
        tx.send(()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        common::netns::stop_listening(&l);
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
    });
    rx.recv().unwrap();
    in_netns(&net.a, move || {
        let mut s = TcpStream::connect(SocketAddr::new(b, PORT)).unwrap();
        s.write_all(&[b'y'; 3000]).unwrap();
        let mut buf = [0u8; 1200];
        s.read_exact(&mut buf).unwrap();
        s.shutdown(Shutdown::Both).unwrap();
    })
    .join()
    .unwrap();
    server.join().unwrap();
}

#[test]
fn written_pcapng_reads_back_as_the_live_lines() {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let dir = std::env::temp_dir().join(format!("tcptrace-w-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("live.pcapng");
    let port = PORT.to_string();

    let mut cmd = net.exec(&net.b, tcptrace_bin());
    cmd.args(["-i", &net.veth_b, "--port", &port, "-w"])
        .arg(&file)
        .env("TZ", "UTC");
    let mut tt = Proc::spawn("tcptrace", cmd);
    tt.wait_stderr("listening on");
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
