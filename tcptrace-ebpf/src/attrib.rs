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
// Map helpers get pointers into per-CPU map slots here, not copies on the stack.
#![allow(clippy::needless_borrows_for_generic_args)]

use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel_buf,
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
static ATTRIB_FLOWS: LruHashMap<FlowKey, Owner> =
    LruHashMap::with_max_entries(MAX_FLOWS, BPF_F_NO_COMMON_LRU);

/// Socket address → owner, for the transitions that run in softirq.
#[map]
static ATTRIB_SOCKS: LruHashMap<u64, Owner> =
    LruHashMap::with_max_entries(MAX_FLOWS, BPF_F_NO_COMMON_LRU);

/// Per-CPU LRU lists: no lock shared by all CPUs under connection churn (each CPU evicts
/// from its own share of the entries).
const BPF_F_NO_COMMON_LRU: u32 = aya_ebpf::bindings::BPF_F_NO_COMMON_LRU;

/// Per-CPU room where each hook builds its event (and the packet filter its keys): the
/// older verifiers (6.1) limit the stack of a whole call chain to 512 bytes.
#[map]
static ATTRIB_SCRATCH: PerCpuArray<AttribEvent> = PerCpuArray::with_max_entries(1, 0);
#[map]
static ATTRIB_KEYS: PerCpuArray<FlowKey> = PerCpuArray::with_max_entries(1, 0);

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

/// This CPU's scratch event.
#[inline(always)]
fn scratch() -> Option<&'static mut AttribEvent> {
    // SAFETY: this CPU's slot, used only while the program runs (hooks do not nest on a
    // CPU but for a state change in softirq landing on one in process context, which
    // at worst garbles that one event).
    ATTRIB_SCRATCH.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

/// Writes the socket's flow key, local side first, into `key`; false when it is not (yet)
/// an IPv4/IPv6 socket with both ports (`connecting`: the local port may be missing;
/// `listener`: only the local port is kept).
#[inline(never)]
fn sock_key(sk: u64, listener: bool, connecting: bool, key: &mut FlowKey) -> bool {
    let sk = sk as *const u8;
    if sk.is_null() {
        return false;
    }
    *key = FlowKey::default();
    let mut head = [0u8; 8];
    // SAFETY: kernel memory read with the probe-read helper, which fails safely.
    if unsafe { bpf_probe_read_kernel_buf(sk.add(12), &mut head) }.is_err() {
        return false;
    }
    let rport = u16::from_be_bytes([head[0], head[1]]);
    let lport = u16::from_ne_bytes([head[2], head[3]]);
    let family = u16::from_ne_bytes([head[4], head[5]]);
    key.lport = lport;
    if lport == 0 && !connecting {
        return false;
    }
    if listener {
        // Any family, any address: a dual-stack listener takes IPv4 SYNs too.
        return lport != 0;
    }
    if rport == 0 {
        return false;
    }
    key.rport = rport;
    if family == AF_INET6 {
        // SAFETY: as above.
        let ok = unsafe {
            bpf_probe_read_kernel_buf(sk.add(SKC_V6), &mut key.raddr).is_ok()
                && bpf_probe_read_kernel_buf(sk.add(SKC_V6 + 16), &mut key.laddr).is_ok()
        };
        if !ok {
            return false;
        }
        if !(mapped(&key.raddr) && mapped(&key.laddr)) {
            key.family = FAMILY_V6;
            return true;
        }
        key.raddr = [0; 16];
        key.laddr = [0; 16];
    } else if family != AF_INET {
        return false;
    }
    // IPv4, or IPv4-mapped IPv6: skc_daddr, skc_rcv_saddr.
    key.family = FAMILY_V4;
    // SAFETY: as above.
    unsafe {
        bpf_probe_read_kernel_buf(sk, &mut key.raddr[..4]).is_ok()
            && bpf_probe_read_kernel_buf(sk.add(4), &mut key.laddr[..4]).is_ok()
    }
}

/// `::ffff:a.b.c.d`.
#[inline(always)]
fn mapped(a: &[u8; 16]) -> bool {
    let w = |i: usize| u32::from_ne_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
    w(0) == 0 && w(4) == 0 && w(8) == u32::from_ne_bytes([0, 0, 0xff, 0xff])
}

#[inline(always)]
fn current(o: &mut Owner) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    o.tgid = (pid_tgid >> 32) as u32;
    o.tid = pid_tgid as u32;
    o.uid = uid_gid as u32;
    o.gid = (uid_gid >> 32) as u32;
    // SAFETY: helper without arguments.
    o.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    o.comm = bpf_get_current_comm().unwrap_or([0; 16]);
}

/// Remembers the event's owner for its key and tells userspace.
#[inline(never)]
fn record(ev: &mut AttribEvent, what: u8) {
    ev.kind = what;
    ev._pad = [0; 7];
    // SAFETY: helper without arguments.
    ev.ts_ns = unsafe { bpf_ktime_get_ns() };
    let _ = ATTRIB_FLOWS.insert(&ev.key, &ev.owner, 0);
    count(counter::RECORDED);
    // Nobody sleeps on this ring (userspace drains it before each record and on its
    // 10 ms timer): no wakeup, which would cost an irq_work per event.
    const NO_WAKEUP: u64 = aya_ebpf::bindings::BPF_RB_NO_WAKEUP as u64;
    if ATTRIB_EVENTS
        .output::<AttribEvent>(&*ev, NO_WAKEUP)
        .is_err()
    {
        count(counter::LOST);
    }
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

/// `inet_sock_set_state(sk, oldstate, newstate)`.
#[raw_tracepoint(tracepoint = "inet_sock_set_state")]
pub fn tcptrace_attrib_state(ctx: RawTracePointContext) -> i32 {
    let sk = ctx.arg::<u64>(0);
    let old = ctx.arg::<u64>(1) as i32;
    let new = ctx.arg::<u64>(2) as i32;
    if let Some(ev) = scratch() {
        match (old, new) {
            // Process context: listen(), connect(), close(), shutdown().
            (_, LISTEN) => {
                if sock_key(sk, true, false, &mut ev.key) {
                    current(&mut ev.owner);
                    record(ev, kind::LISTEN);
                }
            }
            (CLOSE, SYN_SENT) => {
                current(&mut ev.owner);
                let _ = ATTRIB_SOCKS.insert(&sk, &ev.owner, 0);
                if sock_key(sk, false, true, &mut ev.key) {
                    record(ev, kind::CONNECT);
                }
            }
            (ESTABLISHED, FIN_WAIT1) | (CLOSE_WAIT, LAST_ACK) => take_over(sk, ev, kind::CLOSE),
            // Softirq: the owner comes from the maps. The handshake of a socket recorded
            // at connect() ended (established or refused): its whole key.
            (SYN_SENT, _) => {
                // SAFETY: a map value, copied out.
                if let Some(o) = unsafe { ATTRIB_SOCKS.get(&sk) }
                    && sock_key(sk, false, false, &mut ev.key)
                {
                    ev.owner = *o;
                    record(ev, kind::CONNECT);
                    // The entry recorded at connect() without the port is done with.
                    let lport = ev.key.lport;
                    ev.key.lport = 0;
                    let _ = ATTRIB_FLOWS.remove(&ev.key);
                    ev.key.lport = lport;
                }
            }
            // A server connection established: the listener's process owns it until it
            // is read.
            (SYN_RECV, ESTABLISHED) if sock_key(sk, false, false, &mut ev.key) => {
                let lport = ev.key.lport;
                if let Some(keys) = ATTRIB_KEYS.get_ptr_mut(0) {
                    // SAFETY: this CPU's slot; a map value, copied out.
                    unsafe {
                        *keys = FlowKey {
                            lport,
                            ..FlowKey::default()
                        };
                        if let Some(o) = ATTRIB_FLOWS.get(&*keys) {
                            ev.owner = *o;
                            let _ = ATTRIB_SOCKS.insert(&sk, &ev.owner, 0);
                            record(ev, kind::ACCEPT);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if new == CLOSE {
        forget(sk, old);
    }
    0
}

/// A socket closed: its entries go (a full LRU map would otherwise evict one entry per
/// new connection, which costs every connect under churn). Late segments of a closed
/// connection then have no owner in the kernel filter; userspace keeps the events.
#[inline(never)]
fn forget(sk: u64, old: i32) {
    let _ = ATTRIB_SOCKS.remove(&sk);
    let Some(key) = ATTRIB_KEYS.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot, used only while the program runs.
    let key = unsafe { &mut *key };
    if sock_key(sk, old == LISTEN, old == SYN_SENT, key) {
        let _ = ATTRIB_FLOWS.remove(&*key);
        if old == SYN_SENT && key.lport != 0 {
            // Also the entry recorded at connect(), before the port was chosen.
            key.lport = 0;
            let _ = ATTRIB_FLOWS.remove(&*key);
        }
    }
}

/// The current process becomes the owner of `sk` unless it already is (the common case:
/// one lookup, no task details gathered).
#[inline(never)]
fn take_over(sk: u64, ev: &mut AttribEvent, what: u8) {
    if !sock_key(sk, false, false, &mut ev.key) {
        count(counter::UNREADABLE);
        return;
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: a map value, read once.
    let same = ATTRIB_FLOWS
        .get_ptr(&ev.key)
        .is_some_and(|o| unsafe { (*o).tgid } == tgid);
    if !same {
        current(&mut ev.owner);
        record(ev, what);
    }
}

/// `tcp_rcv_space_adjust(sk)`: `recv()` copied data, in the reader's context. A reader
/// other than the recorded owner becomes the owner.
#[raw_tracepoint(tracepoint = "tcp_rcv_space_adjust")]
pub fn tcptrace_attrib_recv(ctx: RawTracePointContext) -> i32 {
    if let Some(ev) = scratch() {
        take_over(ctx.arg::<u64>(0), ev, kind::RECV);
    }
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
        if let Some(o) = side(v.family, &l, &r, lp, rp) {
            found = true;
            if matches(o) {
                hit = true;
            }
        }
    }
    count(if found {
        counter::HITS
    } else {
        counter::MISSES
    });
    hit
}

/// The owner of the local socket `l.lp` talking to `r.rp`, if it is known. The keys are
/// built in a per-CPU map slot, not on the packet programs' crowded stack.
#[inline(never)]
fn side(family: u8, l: &[u32; 4], r: &[u32; 4], lp: u16, rp: u16) -> Option<&'static Owner> {
    // SAFETY: this CPU's slot, used only while the program runs.
    let key = unsafe { &mut *ATTRIB_KEYS.get_ptr_mut(0)? };
    key.family = family;
    key._pad = 0;
    key._pad2 = 0;
    key.lport = lp;
    key.rport = rp;
    for i in 0..4 {
        key.laddr[4 * i..4 * i + 4].copy_from_slice(&l[i].to_ne_bytes());
        key.raddr[4 * i..4 * i + 4].copy_from_slice(&r[i].to_ne_bytes());
    }
    // SAFETY (each get): a map value of a map that outlives the program run.
    if let Some(o) = unsafe { ATTRIB_FLOWS.get(&*key) } {
        return Some(o);
    }
    key.lport = 0;
    if let Some(o) = unsafe { ATTRIB_FLOWS.get(&*key) } {
        return Some(o);
    }
    *key = FlowKey {
        lport: lp,
        ..FlowKey::default()
    };
    unsafe { ATTRIB_FLOWS.get(&*key) }
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
