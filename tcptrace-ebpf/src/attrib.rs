//! Socket attribution: raw tracepoints (no kprobes, no BTF: both are missing on some
//! production kernels) on the moments a process touches a TCP socket in its own context
//! record the current task under the socket's 4-tuple, and tell userspace on a ring of
//! their own. The packet programs never ask "who is current" (softirq: whoever was
//! interrupted); with `--pid`/`--comm`/`--container` they look their flow up here instead
//! ([`accept`]).
//!
//! `inet_sock_set_state` in process context: `listen()` (→ LISTEN), `connect()` (CLOSE →
//! SYN_SENT: the local port may not be chosen yet, so the flow is first recorded without
//! it, and again in full when the handshake ends), `close()`/`shutdown()` (→ FIN_WAIT1,
//! → LAST_ACK: whoever holds the socket last). In softirq, with the owner taken from the
//! maps, never from `current`: the connecting socket's SYN_SENT → ESTABLISHED/CLOSE, and a
//! server's SYN_RECV → ESTABLISHED (the listener's process, until the socket is read).
//! `tcp_rcv_space_adjust` runs in `recv()`: a reader other than the recorded owner (a
//! forked child, an inherited or passed socket) becomes the owner.
//!
//! The socket is read at the `struct sock_common` offsets every x86_64 kernel from 4.x
//! to 6.18 with network namespaces and IPv6 built in has (the tests assert exact pids on
//! every kernel of the matrix, so a moved field cannot pass unnoticed).
use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel,
    },
    macros::{map, raw_tracepoint},
    maps::{LruHashMap, PerCpuArray, RingBuf},
    programs::RawTracePointContext,
};
use tcptrace_common::{
    FAMILY_V4, FAMILY_V6,
    attrib::{
        ATTRIB_RING_BYTES, AttribEvent, AttribFilter, FlowKey, MAX_CGROUPS, MAX_FLOWS, MAX_PIDS,
        Owner, counter, kind,
    },
};

use crate::{frame::ld, maps::ro, parse::View};

/// Flow (local side first) → the task that last owned the socket; listeners under a key
/// with only the local port; connecting sockets whose port is not chosen yet under a key
/// without the local port.
#[map]
static ATTRIB_FLOWS: LruHashMap<FlowKey, Owner> = LruHashMap::with_max_entries(MAX_FLOWS, 0);

/// Socket address → owner, for the transitions that run in softirq.
#[map]
static ATTRIB_SOCKS: LruHashMap<u64, Owner> = LruHashMap::with_max_entries(MAX_FLOWS, 0);

/// Attribution events for userspace.
#[map]
static ATTRIB_EVENTS: RingBuf = RingBuf::with_byte_size(ATTRIB_RING_BYTES, 0);

/// Per-CPU counters, indexed by `tcptrace_common::attrib::counter`.
#[map]
static ATTRIB_COUNTERS: PerCpuArray<[u64; counter::COUNT as usize]> =
    PerCpuArray::with_max_entries(1, 0);

/// The process filter (`.rodata`, written by userspace before loading).
#[unsafe(no_mangle)]
static TCPTRACE_ATTRIB: AttribFilter = AttribFilter::OFF;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
/// `struct sock_common` offsets: skc_daddr, skc_rcv_saddr (0, 4), skc_dport (12, network
/// order), skc_num (14, host order), skc_family (16); skc_v6_daddr, skc_v6_rcv_saddr
/// (56, 72).
const SKC_V6: usize = 56;

#[inline(always)]
fn count(index: u32) {
    if let Some(block) = ATTRIB_COUNTERS.get_ptr_mut(0) {
        // SAFETY: this CPU's block, written only while the program runs on this CPU.
        if let Some(v) = unsafe { (*block).get_mut(index as usize) } {
            *v += 1;
        }
    }
}

/// The socket's flow key, local side first; None when it is not (yet) an IPv4/IPv6 socket
/// with both ports.
#[inline(always)]
fn sock_key(sk: *const u8, listener: bool, connecting: bool) -> Option<FlowKey> {
    if sk.is_null() {
        return None;
    }
    // SAFETY: a kernel pointer read with the probe-read helper, which fails safely.
    let head: [u8; 20] = unsafe { bpf_probe_read_kernel(sk as *const [u8; 20]) }.ok()?;
    let family = u16::from_ne_bytes([head[16], head[17]]);
    let lport = u16::from_ne_bytes([head[14], head[15]]);
    let rport = u16::from_be_bytes([head[12], head[13]]);
    let mut key = FlowKey {
        lport,
        ..FlowKey::default()
    };
    if lport == 0 && !connecting {
        return None;
    }
    if listener {
        // Any family, any address: a dual-stack listener takes IPv4 SYNs too.
        return Some(key);
    }
    if rport == 0 {
        return None;
    }
    key.rport = rport;
    let v6: [u8; 32] = if family == AF_INET6 {
        // SAFETY: as above.
        unsafe { bpf_probe_read_kernel(sk.add(SKC_V6) as *const [u8; 32]) }.ok()?
    } else {
        [0; 32]
    };
    let mapped = |a: &[u8]| a[..10].iter().all(|b| *b == 0) && a[10] == 0xff && a[11] == 0xff;
    if family == AF_INET || (family == AF_INET6 && mapped(&v6[..16]) && mapped(&v6[16..])) {
        key.family = FAMILY_V4;
        key.raddr[..4].copy_from_slice(&head[0..4]);
        key.laddr[..4].copy_from_slice(&head[4..8]);
    } else if family == AF_INET6 {
        key.family = FAMILY_V6;
        key.raddr.copy_from_slice(&v6[..16]);
        key.laddr.copy_from_slice(&v6[16..]);
    } else {
        return None;
    }
    Some(key)
}

#[inline(always)]
fn current() -> Owner {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    Owner {
        tgid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        uid: uid_gid as u32,
        gid: (uid_gid >> 32) as u32,
        // SAFETY: helper without arguments.
        cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    }
}

/// Remembers `owner` for `key` and tells userspace.
#[inline(always)]
fn record(key: FlowKey, owner: &Owner, what: u8) {
    let _ = ATTRIB_FLOWS.insert(key, *owner, 0);
    count(counter::RECORDED);
    let Some(mut entry) = ATTRIB_EVENTS.reserve::<AttribEvent>(0) else {
        count(counter::LOST);
        return;
    };
    // SAFETY: the entry is ours until submitted; written whole.
    unsafe {
        entry.as_mut_ptr().write(AttribEvent {
            ts_ns: bpf_ktime_get_ns(),
            key,
            owner: *owner,
            kind: what,
            _pad: [0; 7],
        })
    };
    entry.submit(0);
}

/// TCP states (`include/net/tcp_states.h`).
const ESTABLISHED: i32 = 1;
const SYN_SENT: i32 = 2;
const SYN_RECV: i32 = 3;
const FIN_WAIT1: i32 = 4;
const CLOSE: i32 = 7;
const CLOSE_WAIT: i32 = 8;
const LAST_ACK: i32 = 9;
const LISTEN: i32 = 10;

/// `inet_sock_set_state(sk, oldstate, newstate)`. Each case is its own function, so
/// that only one case's stack counts against the limit.
#[raw_tracepoint(tracepoint = "inet_sock_set_state")]
pub fn tcptrace_attrib_state(ctx: RawTracePointContext) -> i32 {
    let sk = ctx.arg::<u64>(0);
    let old = ctx.arg::<u64>(1) as i32;
    let new = ctx.arg::<u64>(2) as i32;
    match (old, new) {
        // Process context: listen(), connect(), close(), shutdown().
        (_, LISTEN) => on_listen(sk),
        (CLOSE, SYN_SENT) => on_connect(sk),
        (ESTABLISHED, FIN_WAIT1) | (CLOSE_WAIT, LAST_ACK) => on_close(sk),
        // Softirq: the owner comes from the maps.
        (SYN_SENT, _) => on_connected(sk),
        (SYN_RECV, ESTABLISHED) => on_accepted(sk),
        _ => {}
    }
    if new == CLOSE {
        let _ = ATTRIB_SOCKS.remove(sk);
    }
    0
}

#[inline(never)]
fn on_listen(sk: u64) {
    if let Some(key) = sock_key(sk as *const u8, true, false) {
        record(key, &current(), kind::LISTEN);
    }
}

#[inline(never)]
fn on_connect(sk: u64) {
    let owner = current();
    let _ = ATTRIB_SOCKS.insert(sk, owner, 0);
    if let Some(key) = sock_key(sk as *const u8, false, true) {
        record(key, &owner, kind::CONNECT);
    }
}

/// The handshake of a socket recorded at connect() ended (established or refused): its
/// whole key, for its owner.
#[inline(never)]
fn on_connected(sk: u64) {
    // SAFETY: a map value, copied out.
    if let Some(owner) = unsafe { ATTRIB_SOCKS.get(sk) }.copied()
        && let Some(key) = sock_key(sk as *const u8, false, false)
    {
        record(key, &owner, kind::CONNECT);
    }
}

/// A server connection established: the listener's process owns it until it is read.
#[inline(never)]
fn on_accepted(sk: u64) {
    let Some(key) = sock_key(sk as *const u8, false, false) else {
        return;
    };
    let listener = FlowKey {
        lport: key.lport,
        ..FlowKey::default()
    };
    // SAFETY: a map value, copied out.
    if let Some(owner) = unsafe { ATTRIB_FLOWS.get(listener) }.copied() {
        let _ = ATTRIB_SOCKS.insert(sk, owner, 0);
        record(key, &owner, kind::ACCEPT);
    }
}

#[inline(never)]
fn on_close(sk: u64) {
    take_over(sk, kind::CLOSE);
}

/// The current process becomes the owner of `sk` unless it already is.
#[inline(always)]
fn take_over(sk: u64, what: u8) {
    let Some(key) = sock_key(sk as *const u8, false, false) else {
        count(counter::UNREADABLE);
        return;
    };
    let owner = current();
    // SAFETY: a map value, read once.
    let same = ATTRIB_FLOWS
        .get_ptr(key)
        .is_some_and(|o| unsafe { (*o).tgid } == owner.tgid);
    if !same {
        record(key, &owner, what);
    }
}

/// `tcp_rcv_space_adjust(sk)`: `recv()` copied data, in the reader's context. A reader
/// other than the recorded owner becomes the owner.
#[raw_tracepoint(tracepoint = "tcp_rcv_space_adjust")]
pub fn tcptrace_attrib_recv(ctx: RawTracePointContext) -> i32 {
    take_over(ctx.arg::<u64>(0), kind::RECV);
    0
}

/// Whether the segment passes the process filter: the owner of either of its sockets
/// that is local (both are, between two namespaces of this host) matches every option
/// given. Each side is looked up by its flow, then as a connecting socket without its
/// port, then as a listener. No owner: it does not pass.
#[inline(always)]
pub fn accept(v: &View) -> bool {
    if ro!(TCPTRACE_ATTRIB.enabled) == 0 {
        return true;
    }
    if !v.ports || (v.family != FAMILY_V4 && v.family != FAMILY_V6) {
        return false;
    }
    let sport = u16::from_be(ld!(u16, v.tcp, 0));
    let dport = u16::from_be(ld!(u16, v.tcp, 2));
    let mut src = [0u32; 4];
    let mut dst = [0u32; 4];
    if v.family == FAMILY_V4 {
        src[0] = ld!(u32, v.ip, 12);
        dst[0] = ld!(u32, v.ip, 16);
    } else {
        src = [
            ld!(u32, v.ip, 8),
            ld!(u32, v.ip, 12),
            ld!(u32, v.ip, 16),
            ld!(u32, v.ip, 20),
        ];
        dst = [
            ld!(u32, v.ip, 24),
            ld!(u32, v.ip, 28),
            ld!(u32, v.ip, 32),
            ld!(u32, v.ip, 36),
        ];
    }
    let mut found = false;
    let mut hit = false;
    for local_is_src in [true, false] {
        let (l, r, lp, rp) = if local_is_src {
            (src, dst, sport, dport)
        } else {
            (dst, src, dport, sport)
        };
        if let Some(o) = side(v.family, l, r, lp, rp) {
            found = true;
            if matches(o) {
                hit = true;
            }
        }
    }
    count(if found { counter::HITS } else { counter::MISSES });
    hit
}

/// The owner of the local socket `l.lp` talking to `r.rp`, if it is known.
#[inline(never)]
fn side(family: u8, l: [u32; 4], r: [u32; 4], lp: u16, rp: u16) -> Option<&'static Owner> {
    let bytes = |w: [u32; 4]| {
        let mut b = [0u8; 16];
        for (i, x) in w.iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&x.to_ne_bytes());
        }
        b
    };
    let mut key = FlowKey {
        family,
        lport: lp,
        rport: rp,
        laddr: bytes(l),
        raddr: bytes(r),
        ..FlowKey::default()
    };
    // SAFETY (each get): a map value of a map that outlives the program run.
    if let Some(o) = unsafe { ATTRIB_FLOWS.get(key) } {
        return Some(o);
    }
    key.lport = 0;
    if let Some(o) = unsafe { ATTRIB_FLOWS.get(key) } {
        return Some(o);
    }
    let listener = FlowKey {
        lport: lp,
        ..FlowKey::default()
    };
    unsafe { ATTRIB_FLOWS.get(listener) }
}

#[inline(always)]
fn matches(o: &Owner) -> bool {
    let n = ro!(TCPTRACE_ATTRIB.n_pids);
    if n > 0 {
        let mut hit = false;
        for i in 0..MAX_PIDS {
            if (i as u32) < n && ro!(TCPTRACE_ATTRIB.pids[i]) == o.tgid {
                hit = true;
            }
        }
        if !hit {
            return false;
        }
    }
    if ro!(TCPTRACE_ATTRIB.match_comm) != 0 {
        for i in 0..16 {
            if ro!(TCPTRACE_ATTRIB.comm[i]) != o.comm[i] {
                return false;
            }
        }
    }
    let n = ro!(TCPTRACE_ATTRIB.n_cgroups);
    if n > 0 {
        let mut hit = false;
        for i in 0..MAX_CGROUPS {
            if (i as u32) < n && ro!(TCPTRACE_ATTRIB.cgroups[i]) == o.cgroup_id {
                hit = true;
            }
        }
        if !hit {
            return false;
        }
    }
    true
}
