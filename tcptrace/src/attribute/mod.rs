//! Which process: the stage between decode and track. The kernel's socket hooks
//! (tcptrace-ebpf `attrib.rs`) send an event each time a process connects or listens, or
//! a process other than the recorded owner reads or closes a TCP socket (a server
//! connection is its listener's until then); [`Attributor`] keeps them by
//! flow and answers, for each decoded segment, which local process owns its sockets.
//!
//! Everything a short-lived process needs is in the event (pid, thread, command, uid,
//! cgroup id) or resolved as soon as it arrives (user name, cgroup path and container;
//! the parent from `/proc` while the process still exists); nothing is looked up later.

pub mod cgroup;
pub mod existing;
pub mod listen;

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Arc,
};

use tcptrace_common::{
    FAMILY_V4,
    attrib::{AttribEvent, AttribFilter, FlowKey, MAX_SOCK_TESTS, SockTest, kind, sock_test},
    rules::{KIND_NET4, KIND_NET6, KIND_PORT, RuleTable, Test},
};

use crate::decode::Segment;

/// Flows remembered at most (the oldest are forgotten first, as the kernel's LRU map does).
pub const MAX_FLOWS: usize = 65536;

/// A local process that owns a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// Process id (tgid) and the thread that made the call.
    pub pid: u32,
    pub tid: u32,
    /// Command name (at most 15 bytes, as the kernel keeps it).
    pub comm: String,
    pub uid: u32,
    /// The user name of `uid`, when the passwd database has one.
    pub user: Option<String>,
    /// Parent process id and command, read when the event arrived (None: already gone).
    pub ppid: Option<u32>,
    pub pcomm: Option<String>,
    /// cgroup v2 id and path (relative to the cgroup2 mount), when found.
    pub cgroup_id: u64,
    pub cgroup: Option<String>,
    /// The container or unit the cgroup path names (`docker:0123456789ab`,
    /// `cri-containerd:…`, `crio:…`, `podman:…`, `nginx.service`), if any.
    pub container: Option<String>,
    /// What the kernel saw (`connect`, `listen`, `recv`, `close`), or `existing`: open
    /// before the trace, found in `/proc` at start.
    pub how: &'static str,
}

impl Process {
    /// `comm[pid]`, as `--process` and the summary show it.
    pub fn label(&self) -> String {
        format!("{}[{}]", self.comm, self.pid)
    }
}

/// The name of an attribution event's hook.
pub fn how(k: u8) -> &'static str {
    match k {
        kind::CONNECT => "connect",
        kind::LISTEN => "listen",
        kind::RECV => "recv",
        kind::CLOSE => "close",
        kind::EXISTING => "existing",
        _ => "?",
    }
}

/// NUL-terminated command bytes as text.
pub fn comm_str(comm: &[u8]) -> String {
    let end = comm.iter().position(|b| *b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

/// What an event says of its owner: pid, thread, command, uid, cgroup id, hook.
type OwnerId = (u32, u32, [u8; 16], u32, u64, u8);

/// A parent pid and command, when the process still existed.
type Parent = (Option<u32>, Option<String>);

/// Flow → process table, fed by the kernel's events.
pub struct Attributor {
    flows: HashMap<FlowKey, Arc<Process>>,
    order: VecDeque<FlowKey>,
    users: HashMap<u32, Option<String>>,
    /// (pid, command) → parent, so that a busy server's events read `/proc` once.
    parents: HashMap<(u32, [u8; 16]), Parent>,
    /// The same owner seen again (a client making connection after connection): one
    /// shared value, built once.
    known: HashMap<OwnerId, Arc<Process>>,
    cgroups: cgroup::Resolver,
    /// Events received.
    pub events: u64,
}

impl Default for Attributor {
    fn default() -> Self {
        Self::new()
    }
}

fn addr_bytes(a: IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v4) => b[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => b = v6.octets(),
    }
    b
}

impl Attributor {
    pub fn new() -> Attributor {
        Attributor {
            flows: HashMap::new(),
            order: VecDeque::new(),
            users: HashMap::new(),
            parents: HashMap::new(),
            known: HashMap::new(),
            cgroups: cgroup::Resolver::new(),
            events: 0,
        }
    }

    /// One kernel event: resolve what it names now, and remember it under its flow.
    pub fn event(&mut self, ev: &AttribEvent) {
        self.events += 1;
        let o = &ev.owner;
        let id = (o.tgid, o.tid, o.comm, o.uid, o.cgroup_id, ev.kind);
        if let Some(p) = self.known.get(&id) {
            let p = p.clone();
            self.insert(ev.key, p);
            return;
        }
        if self.parents.len() >= 4096 {
            self.parents.clear();
        }
        if self.known.len() >= 4096 {
            self.known.clear();
        }
        let (ppid, pcomm) = self
            .parents
            .entry((o.tgid, o.comm))
            .or_insert_with(|| parent_of(o.tgid))
            .clone();
        let user = self
            .users
            .entry(o.uid)
            .or_insert_with(|| user_name(o.uid))
            .clone();
        let cgroup = self.cgroups.path(o.cgroup_id);
        let container = cgroup.as_deref().and_then(cgroup::container_of);
        let p = Arc::new(Process {
            pid: o.tgid,
            tid: o.tid,
            comm: comm_str(&o.comm),
            uid: o.uid,
            user,
            ppid,
            pcomm,
            cgroup_id: o.cgroup_id,
            cgroup,
            container,
            how: how(ev.kind),
        });
        self.known.insert(id, p.clone());
        self.insert(ev.key, p);
    }

    /// Remembers `p` as the owner of `key` (tests feed flows this way too).
    pub fn insert(&mut self, key: FlowKey, p: Arc<Process>) {
        if self.flows.insert(key, p).is_none() {
            self.order.push_back(key);
            while self.order.len() > MAX_FLOWS {
                if let Some(old) = self.order.pop_front() {
                    self.flows.remove(&old);
                }
            }
        }
    }

    fn exact(&self, seg: &Segment, local_is_src: bool) -> Option<&Arc<Process>> {
        self.flow(seg, local_is_src, true)
    }

    /// The flow's owner; without `lport`: a connecting socket whose port was not chosen
    /// when it was recorded.
    fn flow(&self, seg: &Segment, local_is_src: bool, lport: bool) -> Option<&Arc<Process>> {
        self.flows.get(&flow_key(seg, local_is_src, lport))
    }

    fn listener(&self, port: u16) -> Option<&Arc<Process>> {
        self.flows.get(&FlowKey {
            lport: port,
            ..FlowKey::default()
        })
    }

    /// The process that owns the sending socket of `seg`, if it is local.
    /// (Or listens on its source port: a server connection before its first read.)
    pub fn sender(&self, seg: &Segment) -> Option<Arc<Process>> {
        self.exact(seg, true)
            .or_else(|| self.flow(seg, true, false))
            .or_else(|| self.listener(seg.sport))
            .cloned()
    }

    /// The process that owns the receiving socket of `seg` (or listens on its
    /// destination port, before its first read), if it is local.
    pub fn receiver(&self, seg: &Segment) -> Option<Arc<Process>> {
        self.exact(seg, false)
            .or_else(|| self.flow(seg, false, false))
            .or_else(|| self.listener(seg.dport))
            .cloned()
    }

    /// The local process a segment is shown with: its sender when that is local (egress,
    /// or both ends on this host), else its receiver.
    pub fn of_segment(&self, seg: &Segment) -> Option<Arc<Process>> {
        self.sender(seg).or_else(|| self.receiver(seg))
    }
}

/// The key the kernel records a socket of `seg`'s flow under: its local end is the
/// segment's source when `local_is_src`; without `lport`, a socket whose port was not
/// chosen yet.
pub fn flow_key(seg: &Segment, local_is_src: bool, lport: bool) -> FlowKey {
    let family = if seg.is_v6() { 6 } else { FAMILY_V4 };
    let (l, r, lp, rp) = if local_is_src {
        (seg.src, seg.dst, seg.sport, seg.dport)
    } else {
        (seg.dst, seg.src, seg.dport, seg.sport)
    };
    FlowKey {
        family,
        lport: if lport { lp } else { 0 },
        rport: rp,
        laddr: addr_bytes(l),
        raddr: addr_bytes(r),
        ..FlowKey::default()
    }
}

/// Limits the socket hooks to the sockets that can carry segments `table` matches: each
/// term gives one test a socket's endpoints must pass ([`sock_test_of`]); a term with no
/// port or address test leaves every socket recorded.
pub fn restrict_to(f: &mut AttribFilter, table: &RuleTable, ephemeral: (u16, u16)) {
    if table.enabled == 0 {
        return;
    }
    let mut tests: Vec<SockTest> = Vec::new();
    for term in table.terms.iter().take(table.n_terms as usize) {
        let Some(t) = sock_test_of(&term.tests[..term.len as usize], ephemeral) else {
            return;
        };
        if !tests.contains(&t) {
            tests.push(t);
        }
    }
    if tests.is_empty() {
        // Nothing matches: a port range no port is in.
        tests.push(SockTest {
            kind: sock_test::PORT,
            lo: 1,
            hi: 0,
            ..SockTest::NONE
        });
    }
    if tests.len() > MAX_SOCK_TESTS {
        return;
    }
    let overlaps =
        |t: &SockTest| t.kind == sock_test::PORT && t.lo <= ephemeral.1 && ephemeral.0 <= t.hi;
    f.ephemeral = u32::from(tests.iter().any(overlaps));
    f.addresses = u32::from(tests.iter().any(|t| t.kind != sock_test::PORT));
    f.tests[..tests.len()].copy_from_slice(&tests);
    f.n_tests = tests.len() as u32;
}

/// The socket test one term's segments all pass: its narrowest port test that misses the
/// ephemeral ports, else its narrowest address test, else its narrowest port test (a
/// connecting socket's local port is chosen after `connect()` is seen). None: the term
/// tests neither (or only negated).
pub fn sock_test_of(term: &[Test], ephemeral: (u16, u16)) -> Option<SockTest> {
    let ports = term.iter().filter(|t| t.kind == KIND_PORT && t.negate == 0);
    let port = |eph: bool| {
        ports
            .clone()
            .filter(|t| eph || t.hi < ephemeral.0 || t.lo > ephemeral.1)
            .min_by_key(|t| t.hi - t.lo)
            .map(|t| SockTest {
                kind: sock_test::PORT,
                lo: t.lo,
                hi: t.hi,
                ..SockTest::NONE
            })
    };
    let net = || {
        term.iter()
            .filter(|t| (t.kind == KIND_NET4 || t.kind == KIND_NET6) && t.negate == 0)
            .max_by_key(|t| t.mask.iter().map(|w| w.count_ones()).sum::<u32>())
            .map(|t| SockTest {
                kind: if t.kind == KIND_NET4 {
                    sock_test::NET4
                } else {
                    sock_test::NET6
                },
                addr: t.addr,
                mask: t.mask,
                ..SockTest::NONE
            })
    };
    port(false).or_else(net).or_else(|| port(true))
}

/// The local ports `connect()` chooses from (`net.ipv4.ip_local_port_range` of this
/// namespace; the kernel's default when it cannot be read).
pub fn ephemeral_ports() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut w = t.split_whitespace().map(|v| v.parse::<u16>().ok());
            Some((w.next()??, w.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// Parent pid and command of `pid`, from `/proc` (None when the process is gone).
fn parent_of(pid: u32) -> Parent {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (None, None);
    };
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
    let ppid = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
        .and_then(|p| p.parse::<u32>().ok());
    let pcomm = ppid.and_then(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm"))
            .ok()
            .map(|c| c.trim_end_matches('\n').to_string())
    });
    (ppid, pcomm)
}

/// The passwd name of `uid` (getpwuid_r), if any.
fn user_name(uid: u32) -> Option<String> {
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: valid pointers to a passwd, a buffer of the length given and a result slot.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut res) };
    if rc != 0 || res.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r filled pw_name with a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
pub(crate) mod tests;

/// What `--process` appends to a line: ` proc COMM[PID]`, or ` proc -` when no local
/// process owns the segment's sockets (forwarded traffic, sockets older than the trace).
pub fn put_suffix(out: &mut Vec<u8>, p: Option<&Process>) {
    use std::io::Write as _;
    let _ = match p {
        Some(p) => write!(out, " proc {}[{}]", p.comm, p.pid),
        None => write!(out, " proc -"),
    };
}

/// Appends [`put_suffix`] to the line that ends `out` (before its newline).
pub fn append_to_line(out: &mut Vec<u8>, from: usize, p: Option<&Process>) {
    if out.len() <= from {
        return;
    }
    let nl = out.last() == Some(&b'\n');
    if nl {
        out.pop();
    }
    put_suffix(out, p);
    if nl {
        out.push(b'\n');
    }
}

/// The pcapng packet comment for a process (`-w`): `process: COMM[PID] uid UID(USER)
/// ppid PPID(PCOMM) cgroup PATH container NAME`, the parts that are known.
pub fn comment(p: &Process) -> String {
    let mut s = format!("process: {}[{}] uid {}", p.comm, p.pid, p.uid);
    if let Some(u) = &p.user {
        s += &format!("({u})");
    }
    if let Some(pp) = p.ppid {
        s += &format!(" ppid {pp}");
        if let Some(c) = &p.pcomm {
            s += &format!("({c})");
        }
    }
    if let Some(c) = &p.cgroup {
        s += &format!(" cgroup {c}");
    }
    if let Some(c) = &p.container {
        s += &format!(" container {c}");
    }
    s
}
