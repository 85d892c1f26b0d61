//! Sockets opened before the trace: the hooks only see what happens once they are attached,
//! so a server listening since before tcptrace started would have no owner until it reads
//! or closes. They are found once at start from `/proc`, as `ss -p` finds them: the TCP
//! sockets of each network namespace (`/proc/PID/net/tcp`, `tcp6`), then the processes
//! holding them (`/proc/PID/fd`). A socket held by several processes (a server's workers
//! share its listener) is the one with the lowest pid's, usually the one that opened it.
//! Only sockets the hooks would record (see [`super::restrict_to`]) are looked for.
use std::{
    collections::{HashMap, HashSet},
    fs,
    os::unix::fs::MetadataExt,
};

use tcptrace_common::{
    FAMILY_V4, FAMILY_V6,
    attrib::{AttribEvent, AttribFilter, COMM_LEN, FlowKey, Owner, kind, sock_test},
};

/// `/proc/net/tcp` states: established … closing, listen (not TIME_WAIT, CLOSE).
const STATES: [u8; 9] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0a, 0x0b];
const LISTEN: u8 = 0x0a;

/// The sockets open now that `f` would have the hooks record, each as an event of kind
/// [`kind::EXISTING`] with its owner.
pub fn scan(f: &AttribFilter) -> Vec<AttribEvent> {
    let pids: Vec<u32> = match fs::read_dir("/proc") {
        Ok(d) => d
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => return Vec::new(),
    };
    // inode → key, one read of the tables per network namespace.
    let mut socks: HashMap<u64, FlowKey> = HashMap::new();
    let mut seen_ns = HashSet::new();
    for pid in &pids {
        let Ok(ns) = fs::read_link(format!("/proc/{pid}/ns/net")) else {
            continue;
        };
        if !seen_ns.insert(ns) {
            continue;
        }
        for table in ["tcp", "tcp6"] {
            if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) {
                for (inode, key) in text.lines().skip(1).filter_map(parse_line) {
                    if wanted(f, &key) {
                        socks.insert(inode, key);
                    }
                }
            }
        }
    }
    // inode → the lowest pid holding it.
    let mut owners: HashMap<u64, u32> = HashMap::new();
    if !socks.is_empty() {
        for &pid in &pids {
            let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Some(inode) = fs::read_link(fd.path()).ok().and_then(|l| {
                    l.to_str()?
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .parse::<u64>()
                        .ok()
                }) else {
                    continue;
                };
                if socks.contains_key(&inode) {
                    owners
                        .entry(inode)
                        .and_modify(|p| *p = (*p).min(pid))
                        .or_insert(pid);
                }
            }
        }
    }
    let mut found: HashMap<u32, Option<Owner>> = HashMap::new();
    let mut events = Vec::new();
    for (inode, pid) in owners {
        let Some(owner) = *found.entry(pid).or_insert_with(|| owner_of(pid)) else {
            continue;
        };
        events.push(AttribEvent {
            key: socks[&inode],
            owner,
            kind: kind::EXISTING,
            ..AttribEvent::default()
        });
    }
    events
}

/// One line of `/proc/net/tcp{,6}`: the socket's inode and key (a listener's with only
/// its port, as the hooks key listeners; IPv4-mapped IPv6 as IPv4).
pub fn parse_line(line: &str) -> Option<(u64, FlowKey)> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let state = u8::from_str_radix(w.get(3)?, 16).ok()?;
    let inode: u64 = w.get(9)?.parse().ok()?;
    if !STATES.contains(&state) || inode == 0 {
        return None;
    }
    let (mut laddr, lport) = endpoint(w.get(1)?)?;
    let (mut raddr, rport) = endpoint(w.get(2)?)?;
    if state == LISTEN {
        return Some((
            inode,
            FlowKey {
                lport,
                ..FlowKey::default()
            },
        ));
    }
    let mapped = |a: &[u8; 16]| a[..10] == [0; 10] && a[10..12] == [0xff, 0xff];
    let family = if w[1].len() == 13 {
        FAMILY_V4
    } else if mapped(&laddr) && mapped(&raddr) {
        for a in [&mut laddr, &mut raddr] {
            a.copy_within(12..16, 0);
            a[4..].fill(0);
        }
        FAMILY_V4
    } else {
        FAMILY_V6
    };
    Some((
        inode,
        FlowKey {
            family,
            lport,
            rport,
            laddr,
            raddr,
            ..FlowKey::default()
        },
    ))
}

/// `0100007F:0050` (IPv4) or 32 hex digits and a port (IPv6): the kernel prints each
/// 32-bit word of the address as a host-order number.
fn endpoint(s: &str) -> Option<([u8; 16], u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut out = [0u8; 16];
    if addr.len() != 8 && addr.len() != 32 {
        return None;
    }
    for (i, chunk) in addr.as_bytes().chunks(8).enumerate() {
        let word = u32::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_ne_bytes());
    }
    Some((out, port))
}

/// Whether the hooks would record this socket ([`super::restrict_to`]'s tests, as the
/// kernel makes them).
fn wanted(f: &AttribFilter, key: &FlowKey) -> bool {
    let listener = key.family == 0;
    if f.n_tests == 0 || (listener && f.addresses != 0) {
        return true;
    }
    let word = |a: &[u8; 16], i: usize| u32::from_ne_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
    f.tests[..f.n_tests as usize].iter().any(|t| match t.kind {
        sock_test::PORT => [key.lport, key.rport]
            .iter()
            .any(|p| t.lo <= *p && *p <= t.hi),
        sock_test::NET4 => {
            key.family == FAMILY_V4
                && [&key.laddr, &key.raddr]
                    .iter()
                    .any(|a| word(a, 0) & t.mask[0] == t.addr[0])
        }
        sock_test::NET6 => {
            key.family == FAMILY_V6
                && [&key.laddr, &key.raddr]
                    .iter()
                    .any(|a| (0..4).all(|w| word(a, 4 * w) & t.mask[w] == t.addr[w]))
        }
        _ => false,
    })
}

/// What the hooks would have recorded of `pid`, from `/proc` (None: it is gone).
fn owner_of(pid: u32) -> Option<Owner> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ids = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse::<u32>().ok())
    };
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let mut o = Owner {
        tgid: pid,
        tid: pid,
        uid: ids("Uid:")?,
        gid: ids("Gid:")?,
        cgroup_id: cgroup_id(pid).unwrap_or(0),
        comm: [0; COMM_LEN],
    };
    let c = comm.trim_end_matches('\n').as_bytes();
    let n = c.len().min(COMM_LEN - 1);
    o.comm[..n].copy_from_slice(&c[..n]);
    Some(o)
}

/// The cgroup v2 id of `pid`: the inode of its cgroup's directory.
fn cgroup_id(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = super::cgroup::root()?.join(path.trim_start_matches('/'));
    Some(fs::metadata(dir).ok()?.ino())
}
