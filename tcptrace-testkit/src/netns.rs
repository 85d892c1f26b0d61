//! Two network namespaces joined by a veth pair, created for one test and always removed
//! (RAII), plus processes and sockets run inside them.
use std::{
    fs::File,
    io::{BufRead, BufReader, ErrorKind, Read, Write},
    net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Upper bound for waiting on an event that should come at once; only a guard against a
/// hung test, never a timing assertion.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `ip [-n ns] -batch -` with `commands`, one per line.
pub fn ip_batch(ns: Option<&str>, commands: &str) {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    let mut child = c
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ip (install iproute2): {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(commands.as_bytes())
        .expect("write to ip -batch");
    let out = child.wait_with_output().expect("ip -batch");
    assert!(
        out.status.success(),
        "ip -batch:\n{commands}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace of a test's own beyond a [`NetnsPair`]'s, deleted (with the
/// interfaces in it) on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(name: String) -> Netns {
        ip_batch(None, &format!("netns add {name}\n"));
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Namespace `a` (the client side) and `b` (the traced side), joined by `veth_a` / `veth_b`.
pub struct NetnsPair {
    pub a: String,
    pub b: String,
    pub veth_a: String,
    pub veth_b: String,
    pub a4: String,
    pub b4: String,
    pub a6: String,
    pub b6: String,
}

impl NetnsPair {
    pub fn new() -> NetnsPair {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}x{n}", std::process::id() % 100_000);
        let subnet = (std::process::id() % 200 + n) % 250 + 1;
        let pair = NetnsPair {
            a: format!("tt{id}a"),
            b: format!("tt{id}b"),
            veth_a: format!("tt{id}va"),
            veth_b: format!("tt{id}vb"),
            a4: format!("10.231.{subnet}.1"),
            b4: format!("10.231.{subnet}.2"),
            a6: format!("fd00:231:{subnet:x}::1"),
            b6: format!("fd00:231:{subnet:x}::2"),
        };
        // From here on, Drop cleans up whatever was made. Three `ip -batch` runs (each `ip`
        // start is slow in the emulated kernel-matrix VMs).
        ip_batch(
            None,
            &format!(
                "netns add {a}\nnetns add {b}\nlink add {va} netns {a} type veth peer name {vb} netns {b}\n",
                a = pair.a,
                b = pair.b,
                va = pair.veth_a,
                vb = pair.veth_b
            ),
        );
        for (ns, dev, v4, v6) in [
            (&pair.a, &pair.veth_a, &pair.a4, &pair.a6),
            (&pair.b, &pair.veth_b, &pair.b4, &pair.b6),
        ] {
            ip_batch(
                Some(ns),
                &format!(
                    "addr add {v4}/24 dev {dev}\naddr add {v6}/64 dev {dev} nodad\n\
                     link set {dev} up\nlink set lo up\n"
                ),
            );
        }
        pair
    }

    /// A command run inside namespace `ns` (`ip netns exec`).
    pub fn exec(&self, ns: &str, prog: impl AsRef<Path>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(prog.as_ref());
        c
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it (and so its peer).
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `f` on a thread that has entered namespace `ns`; sockets made there live there.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    thread::spawn(move || {
        let fd = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns on this thread only, with a valid namespace fd.
        let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
        f()
    })
}

/// A child process whose stdout lines and stderr lines arrive on channels. Killed on drop.
pub struct Proc {
    pub name: &'static str,
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    pub out_lines: Vec<String>,
    pub err_lines: Vec<String>,
}

/// The lines `r` yields, read on a thread of their own, as they come.
pub fn lines_to(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    pub fn spawn(name: &'static str, mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = lines_to(child.stdout.take().expect("stdout"));
        let stderr = lines_to(child.stderr.take().expect("stderr"));
        Proc {
            name,
            child,
            stdout,
            stderr,
            out_lines: Vec::new(),
            err_lines: Vec::new(),
        }
    }

    fn pump(&mut self) {
        while let Ok(l) = self.stdout.try_recv() {
            self.out_lines.push(l);
        }
        while let Ok(l) = self.stderr.try_recv() {
            self.err_lines.push(l);
        }
    }

    /// Waits until a stderr line contains `needle` (tcptrace's start: its programs are
    /// verified first, which in the emulated VMs takes several times as long).
    pub fn wait_stderr(&mut self, needle: &str) {
        let guard = if crate::hooks::in_vm() {
            4 * EVENT_TIMEOUT
        } else {
            EVENT_TIMEOUT
        };
        let deadline = Instant::now() + guard;
        loop {
            self.pump();
            if self.err_lines.iter().any(|l| l.contains(needle)) {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                // Exited: take everything it wrote, then decide.
                while let Ok(l) = self.stderr.recv_timeout(Duration::from_secs(5)) {
                    self.err_lines.push(l);
                }
                if self.err_lines.iter().any(|l| l.contains(needle)) {
                    return;
                }
                panic!(
                    "{} exited ({st}) before printing '{needle}'; stderr:\n{}",
                    self.name,
                    self.err_lines.join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not print '{needle}' on stderr; stderr so far:\n{}",
                self.name,
                self.err_lines.join("\n")
            );
            if let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(50)) {
                self.err_lines.push(l);
            }
        }
    }

    /// Waits until a stdout line contains `needle`.
    pub fn wait_stdout(&mut self, needle: &str) {
        self.wait_stdout_n(needle, 1);
    }

    /// Waits until `n` stdout lines contain `needle`.
    pub fn wait_stdout_n(&mut self, needle: &str, n: usize) {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            self.pump();
            if self.out_lines.iter().filter(|l| l.contains(needle)).count() >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not print {n} lines with '{needle}'; stdout so far:\n{}\nstderr:\n{}",
                self.name,
                self.out_lines.join("\n"),
                self.err_lines.join("\n")
            );
            if let Ok(l) = self.stdout.recv_timeout(Duration::from_millis(50)) {
                self.out_lines.push(l);
            }
        }
    }

    /// The child's process id (e.g. to send it a signal).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGINT and waits for the exit; returns the exit status code.
    pub fn interrupt(&mut self) -> Option<i32> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.finish()
    }

    /// SIGINT, and a clean exit (status 0) asserted.
    pub fn stop(&mut self) {
        let code = self.interrupt();
        assert_eq!(
            code,
            Some(0),
            "exit status; stderr:\n{}",
            self.err_lines.join("\n")
        );
    }

    /// Waits for the process to exit and collects all its output.
    pub fn finish(&mut self) -> Option<i32> {
        let st = self.child.wait().expect("wait");
        // The reader threads end at EOF; collect everything.
        while let Ok(l) = self.stdout.recv_timeout(Duration::from_secs(5)) {
            self.out_lines.push(l);
        }
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            self.err_lines.push(l);
        }
        st.code()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Connects from a fixed source port (raw libc: std has no bind-before-connect); returns
/// the error (a refusal is what the callers expect).
pub fn connect_from(src: IpAddr, sport: u16, dst: SocketAddr) -> std::io::Error {
    use std::os::fd::AsRawFd;
    let sock = tcp_socket(dst, 0);
    let fd = sock.as_raw_fd();
    // SAFETY: plain socket calls with valid, correctly sized addresses.
    unsafe {
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        );
        let (sa, len) = sockaddr(SocketAddr::new(src, sport));
        assert_eq!(libc::bind(fd, sa.as_ptr().cast(), len), 0, "bind");
        let (da, dlen) = sockaddr(dst);
        if libc::connect(fd, da.as_ptr().cast(), dlen) == 0 {
            return std::io::Error::other("connected");
        }
        std::io::Error::last_os_error()
    }
}

/// A new TCP socket of `addr`'s family; `flags` (e.g. `SOCK_NONBLOCK`) added to its type.
pub fn tcp_socket(addr: SocketAddr, flags: libc::c_int) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: a plain syscall; the descriptor it returns is new and ours.
    unsafe {
        let fd = libc::socket(domain, libc::SOCK_STREAM | flags, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        std::os::fd::OwnedFd::from_raw_fd(fd)
    }
}

/// A `sockaddr_in` / `sockaddr_in6` as bytes, with its length.
pub fn sockaddr(a: SocketAddr) -> ([u8; 28], libc::socklen_t) {
    let mut buf = [0u8; 28];
    match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in is 16 bytes of plain data.
            let b: [u8; 16] = unsafe { std::mem::transmute(sin) };
            buf[..16].copy_from_slice(&b);
            (buf, 16)
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as u16,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_in6 is 28 bytes of plain data.
            let b: [u8; 28] = unsafe { std::mem::transmute(sin6) };
            buf.copy_from_slice(&b);
            (buf, 28)
        }
    }
}

/// A server in namespace `b` on `addr`:`port` for one connection, which `serve` gets (the
/// listener stops listening first). Returns once it listens.
pub fn serve_one(
    net: &NetnsPair,
    addr: IpAddr,
    port: u16,
    serve: impl FnOnce(TcpStream) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let h = in_netns(&net.b, move || {
        let l = TcpListener::bind(SocketAddr::new(addr, port)).expect("bind");
        ready_tx.send(()).unwrap();
        let (s, _) = l.accept().expect("accept");
        stop_listening(&l);
        serve(s);
    });
    ready_rx.recv().expect("server ready");
    h
}

/// One connection from namespace a to `addr`:`port` in b: `serve` gets the server's end
/// ([`serve_one`]), `client` the connected client's. Returns once both are done.
pub fn one_connection(
    net: &NetnsPair,
    addr: IpAddr,
    port: u16,
    serve: impl FnOnce(TcpStream) + Send + 'static,
    client: impl FnOnce(TcpStream) + Send + 'static,
) {
    let server = serve_one(net, addr, port, serve);
    in_netns(&net.a, move || {
        client(TcpStream::connect(SocketAddr::new(addr, port)).unwrap());
    })
    .join()
    .unwrap();
    server.join().unwrap();
}

/// Starts a server in `b` on `port` that answers each request line with "pong", then
/// closes when the client does. Returns once it listens.
pub fn echo_server(net: &NetnsPair, addr: IpAddr, port: u16) -> std::thread::JoinHandle<()> {
    serve_one(net, addr, port, |mut s| {
        let mut buf = [0u8; 64];
        loop {
            let n = s.read(&mut buf).expect("server read");
            if n == 0 {
                break;
            }
            s.write_all(b"pong\n").expect("server write");
        }
        // Client closed first; now close our side.
        drop(s);
    })
}

/// Stops `l` listening now. Closing it is not enough: a child another thread is just
/// spawning holds a copy of every descriptor until its exec, and the socket listens (and
/// completes handshakes) until the last copy is closed.
pub fn stop_listening(l: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: shutdown on a socket we own.
    unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
}

/// Client in `a`: connect from `sport` (0 = any), one request and reply, then close.
pub fn client_session(net: &NetnsPair, dst: IpAddr, port: u16) {
    in_netns(&net.a, move || {
        let mut s = TcpStream::connect(SocketAddr::new(dst, port)).expect("connect");
        s.write_all(b"ping\n").unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong\n");
        s.shutdown(Shutdown::Write).unwrap();
        // Wait for the server's FIN.
        let n = s.read(&mut [0u8; 8]).unwrap();
        assert_eq!(n, 0);
    })
    .join()
    .expect("client");
}

/// What a `client_session` and a `refused` connection show on the wire between them, as
/// tcpdump names the flags.
pub const SESSION_FLAGS: [&str; 5] = [
    "Flags [S]",
    "Flags [S.]",
    "Flags [P.]",
    "Flags [F.]",
    "Flags [R.]",
];

/// A connection from `sport` to a closed port: SYN answered by RST.
pub fn refused(net: &NetnsPair, src: IpAddr, dst: IpAddr, sport: u16, port: u16) {
    in_netns(&net.a, move || {
        let sock = connect_from(src, sport, SocketAddr::new(dst, port));
        assert_eq!(sock.kind(), ErrorKind::ConnectionRefused, "{sock}");
    })
    .join()
    .expect("refused client");
}

/// Starts a connection to `dst` without waiting for it (a non-blocking connect); the
/// socket stays open, retransmitting its SYN, until the returned fd is dropped.
pub fn connect_nonblocking(dst: SocketAddr) -> std::os::fd::OwnedFd {
    use std::os::fd::AsRawFd;
    let owned = tcp_socket(dst, libc::SOCK_NONBLOCK);
    let fd = owned.as_raw_fd();
    // SAFETY: plain socket calls with a valid, correctly sized address.
    unsafe {
        let (da, dlen) = sockaddr(dst);
        let rc = libc::connect(fd, da.as_ptr().cast(), dlen);
        let err = std::io::Error::last_os_error();
        assert!(
            rc == 0 || err.raw_os_error() == Some(libc::EINPROGRESS),
            "connect: {err}"
        );
        owned
    }
}

/// Runs `tracer` (its -i and port added here) beside tcpdump on veth_b; one session and a
/// refusal; both print the same lines; `stop` (SIGTERM) ends the trace with status 0 and
/// nothing attached.
pub fn live_matches_tcpdump(
    net: &NetnsPair,
    mut tracer: Command,
    port: u16,
    stop: impl FnOnce(&Proc),
) {
    let a: IpAddr = net.a4.parse().unwrap();
    let b: IpAddr = net.b4.parse().unwrap();
    let p = port.to_string();
    tracer.args(["-i", &net.veth_b, "--port", &p]);
    let mut tt = Proc::spawn("tcptrace (dist)", tracer);
    tt.wait_stderr("listening on");
    let mut td = net.exec(&net.b, crate::tcpdump_bin());
    td.args(["-n", "-l", "-i", &net.veth_b, "tcp", "port", &p])
        .env("TZ", "UTC");
    let mut dump = Proc::spawn("tcpdump", td);
    dump.wait_stderr("listening on");

    let server = echo_server(net, b, port);
    client_session(net, b, port);
    server.join().unwrap();
    refused(net, a, b, 40998, port);
    let marker = format!(".{port} > {a}.40998: Flags [R.]");
    tt.wait_stdout(&marker);
    dump.wait_stdout(&marker);
    stop(&tt);
    assert_eq!(tt.finish(), Some(0), "{:?}", tt.err_lines);
    dump.interrupt();
    let strip = |v: &[String]| -> String {
        v.iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.split_once(' ').map_or(l.as_str(), |x| x.1).to_string() + "\n")
            .collect()
    };
    let (got, want) = (strip(&tt.out_lines), strip(&dump.out_lines));
    assert!(
        got == want,
        "live lines differ from tcpdump (- tcpdump, + dist):\n{}",
        crate::diff(&want, &got, 6)
    );
    assert!(
        got.contains("Flags [S.]") && got.contains("Flags [F."),
        "{got}"
    );
    crate::hooks::assert_nothing_of_ours(&net.b, &net.veth_b);
}

/// SIGTERM to the tracer, as systemd stops a service.
pub fn sigterm(p: &Proc) {
    // SAFETY: signalling the test's own child.
    unsafe { libc::kill(p.pid() as i32, libc::SIGTERM) };
}

/// `GET path` on `addr` from inside namespace `ns`: the status line and the body.
pub fn http_get(ns: &str, addr: String, path: String) -> (String, String) {
    in_netns(ns, move || {
        let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
        (
            head.lines().next().unwrap_or("").to_string(),
            body.to_string(),
        )
    })
    .join()
    .unwrap()
}

/// The JSON lines (`{…}`) among `lines` hold a session's handshake and close on `port`.
pub fn assert_session_events<'a>(lines: impl Iterator<Item = &'a str>, port: u16) {
    let events: Vec<serde_json::Value> = lines
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    for kind in ["handshake_ack", "closed"] {
        assert!(
            events
                .iter()
                .any(|e| e["kind"] == kind && (e["to_port"] == port || e["from_port"] == port)),
            "no {kind} event for port {port}: {events:#?}"
        );
    }
}
