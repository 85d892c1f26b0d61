//! Real processes for the attribution tests: a small Python peer (server, forking server,
//! client) run inside a namespace, with a pid the test knows and a command name it sets.
use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use super::netns::{NetnsPair, Proc};

/// The peer. `server ADDR PORT N COMM`: serves N connections (one line in, `pong` out,
/// then until the client closes); `fork-server …`: the same, each served by a forked
/// child (prints `child PID`); `client ADDR PORT COMM GATE1 GATE2`: waits until GATE1 (a
/// FIFO; `-`: none) is written, connects, prints `connected PORT`, waits at GATE2, sends
/// `ping`, reads the answer, closes, exits.
const PEER: &str = r#"
import ctypes, os, socket, sys
def out(*a):
    print(*a, flush=True)
def name(comm):
    ctypes.CDLL(None).prctl(15, comm.encode(), 0, 0, 0)
def serve(c):
    data = b''
    try:
        while not data.endswith(b'\n'):
            d = c.recv(100)
            if not d:
                break
            data += d
        c.sendall(b'pong\n')
        c.recv(100)
    except OSError:
        pass
    c.close()
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
if mode in ('server', 'fork-server'):
    n = int(sys.argv[4]); name(sys.argv[5])
    l = socket.socket(fam)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port)); l.listen(8)
    out('listening')
    for _ in range(n):
        c, _ = l.accept()
        if mode == 'fork-server':
            pid = os.fork()
            if pid == 0:
                l.close(); serve(c); os._exit(0)
            out('child', pid); c.close(); os.waitpid(pid, 0)
        else:
            serve(c)
    out('done')
else:
    name(sys.argv[4])
    gates = [g if g != '-' else None for g in sys.argv[5:7]]
    out('waiting')
    if gates[0]:
        open(gates[0]).read()
    s = socket.socket(fam)
    try:
        s.connect((addr, port))
    except OSError as e:
        out('refused', e.errno); sys.exit(0)
    out('connected', s.getsockname()[1])
    if gates[1]:
        open(gates[1]).read()
    s.sendall(b'ping\n'); s.recv(100); s.close()
    out('done')
"#;

/// The real Python interpreter (not a version manager's shell shim, so the pid the test
/// sees is the interpreter's from the start).
pub fn python() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 (the attribution tests' peers) is not installed");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// A server in namespace `b`, listening when this returns.
pub fn server(net: &NetnsPair, fork: bool, port: u16, conns: u32, comm: &str) -> Proc {
    let mut c = net.exec(&net.b, python());
    c.args(["-c", PEER])
        .arg(if fork { "fork-server" } else { "server" })
        .args([&net.b4, &port.to_string(), &conns.to_string(), comm]);
    let mut p = Proc::spawn("server", c);
    p.wait_stdout("listening");
    p
}

/// A client in namespace `a`, started (and waiting at its first gate, if any) when this
/// returns.
pub fn client(
    net: &NetnsPair,
    port: u16,
    comm: &str,
    before_connect: Option<&Gate>,
    before_send: Option<&Gate>,
) -> Proc {
    let mut c = net.exec(&net.a, python());
    c.args(["-c", PEER, "client", &net.b4, &port.to_string(), comm]);
    for g in [before_connect, before_send] {
        c.arg(g.map_or_else(|| "-".into(), |g| g.0.as_os_str().to_owned()));
    }
    let mut p = Proc::spawn("client", c);
    p.wait_stdout("waiting");
    p
}

/// A FIFO a client waits at; [`Gate::open`] lets it go. Removed on drop.
pub struct Gate(pub PathBuf);

impl Gate {
    pub fn new(tag: &str) -> Gate {
        let p = std::env::temp_dir().join(format!("tcptrace-gate-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        Gate(p)
    }

    /// Opens the FIFO for writing (blocks until the client opens it) and closes it.
    pub fn open(&self) {
        std::fs::write(&self.0, b"go\n").expect("open the gate");
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A cgroup v2 directory made for one test (under the cgroup2 mount, mounting one if the
/// machine has none), removed on drop once its processes have exited.
pub struct Cgroup {
    pub dir: PathBuf,
    top: PathBuf,
    mounted: Option<PathBuf>,
}

fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
    })
}

impl Cgroup {
    /// `<mount>/tcptrace-test-PID-TAG/<leaf>`.
    pub fn new(tag: &str, leaf: &str) -> Cgroup {
        let (root, mounted) = match cgroup2_mount() {
            Some(r) => (r, None),
            None => {
                let d = std::env::temp_dir().join(format!("tcptrace-cg2-{}", std::process::id()));
                std::fs::create_dir_all(&d).expect("mkdir");
                let st = Command::new("mount")
                    .args(["-t", "cgroup2", "none"])
                    .arg(&d)
                    .status()
                    .expect("mount");
                assert!(st.success(), "mount cgroup2");
                (d.clone(), Some(d))
            }
        };
        let top = root.join(format!("tcptrace-test-{}-{tag}", std::process::id()));
        let dir = top.join(leaf);
        std::fs::create_dir_all(&dir).expect("mkdir cgroup");
        Cgroup { dir, top, mounted }
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).expect("join cgroup");
    }

    /// The path as tcptrace shows it (from the cgroup2 mount's root).
    pub fn path(&self) -> String {
        let root = self.top.parent().expect("root");
        format!(
            "/{}",
            self.dir.strip_prefix(root).expect("under root").display()
        )
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::remove_dir(&self.top);
        if let Some(m) = &self.mounted {
            let _ = Command::new("umount").arg(m).status();
            let _ = std::fs::remove_dir(m);
        }
    }
}
