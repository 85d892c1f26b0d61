//! Socket attribution: raw tracepoints (no kprobes, no BTF: both are missing on some
//! production kernels) on the moments a process touches a TCP socket in its own context
//! record the current task under the socket's 4-tuple, and tell userspace on a ring of
//! their own. The packet programs never ask "who is current" (softirq: whoever was
//! interrupted); with `--pid`/`--comm`/`--container` they look their flow up here instead
//! ([`accept`]).
//!
//! The owner is kept by socket address (`ATTRIB_SOCKS`); by flow (`ATTRIB_FLOWS`) only
//! listeners, and every socket when the packet programs' process filter needs it.
//!
//! `inet_sock_set_state` in process context: `listen()` (→ LISTEN), `connect()` (CLOSE →
//! SYN_SENT: the local port may not be chosen yet, so userspace hears of the flow without
//! it, and again in full when the handshake ends), `close()`/`shutdown()` (→ FIN_WAIT1,
//! → LAST_ACK: whoever holds the socket last). In softirq, with the owner taken from the
//! maps, never from `current`: the connecting socket's SYN_SENT → ESTABLISHED/CLOSE. A
//! server connection has no entry of its own until it is read or closed: until then its
//! owner is the listener's (the packet filter and userspace fall back to the listener's
//! entry). `tcp_rcv_space_adjust` runs in `recv()`: a reader other than the recorded
//! owner (the server's process, a forked child, an inherited or passed socket) becomes
//! the owner.
//!
//! Only sockets that can carry traced segments are recorded: each term of the rule table
//! gives a test on ports or addresses, local or remote (userspace derives them,
//! `AttribFilter::tests`); any other connection costs each hook a read and a compare.
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
        MAX_SOCK_TESTS, Owner, counter, kind, sock_test,
    },
    item::{self, Header},
};

use crate::{frame::ld, maps::ro, parse::View};

/// Socket address → the task that last owned it: what the hooks consult (an 8-byte key,
/// no socket fields read). The common LRU list, per-CPU free caches in front of one
/// list: cheaper under connection churn than per-CPU lists in the bench.
#[map]
static ATTRIB_SOCKS: LruHashMap<u64, Owner> = LruHashMap::with_max_entries(MAX_FLOWS, 0);

/// Flow (local side first) → owner, for the packet programs' process filter and the
/// listeners: listeners under a key with only the local port (always); with the process
/// filter on, every recorded socket under its flow, and a connecting socket whose port is
/// not chosen yet under a key without the local port.
#[map]
static ATTRIB_FLOWS: LruHashMap<FlowKey, Owner> = LruHashMap::with_max_entries(MAX_FLOWS, 0);

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
pub(crate) fn sock_key(sk: u64, listener: bool, connecting: bool, key: &mut FlowKey) -> bool {
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

/// Tells userspace.
#[inline(always)]
fn emit(ev: &mut AttribEvent, what: u8) {
    ev.hdr = Header {
        kind: item::kind::ATTRIB,
        meta: 0,
        len: core::mem::size_of::<AttribEvent>() as u16,
    };
    ev.kind = what;
    ev._pad = [0; 3];
    // SAFETY: helper without arguments.
    ev.ts_ns = unsafe { bpf_ktime_get_ns() };
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

/// Adds or replaces an entry, counting the added ones (evictions are what is added and
/// neither removed nor still there).
#[inline(always)]
fn put<K, V>(map: &LruHashMap<K, V>, key: &K, value: &V) {
    const NOEXIST: u64 = aya_ebpf::bindings::BPF_NOEXIST as u64;
    if map.insert(key, value, NOEXIST).is_ok() {
        count(counter::ADDED);
    } else {
        let _ = map.insert(key, value, 0);
    }
}

#[inline(always)]
fn remove<K, V>(map: &LruHashMap<K, V>, key: &K) {
    if map.remove(key).is_ok() {
        count(counter::REMOVED);
    }
}

/// Tells userspace, and with `by_flow` keeps the owner under the event's flow key.
#[inline(never)]
fn record(ev: &mut AttribEvent, what: u8, by_flow: bool) {
    if by_flow {
        put(&ATTRIB_FLOWS, &ev.key, &ev.owner);
    }
    emit(ev, what);
}

/// What [`wanted`] is asked of: an established (or closing) socket, one from connect()
/// to the end of its handshake (its local port may still be chosen from the ephemeral
/// ones), or a listener (recorded whenever a test is on addresses: it may be bound to
/// any).
const SOCK: u32 = 0;
const CONNECTING: u32 = 1;
const LISTENER: u32 = 2;

/// Whether the socket can carry traced segments: it passes a test of the rule table's
/// terms (see `SockTest`; every socket when there is none). The test every hook makes
/// first, so that an untraced connection costs a read or two and a few compares.
#[inline(never)]
fn wanted(sk: u64, what: u32) -> bool {
    let n = ro!(TCPTRACE_ATTRIB.n_tests);
    if n == 0
        || (what == CONNECTING && ro!(TCPTRACE_ATTRIB.ephemeral) != 0)
        || (what == LISTENER && ro!(TCPTRACE_ATTRIB.addresses) != 0)
    {
        return true;
    }
    let p = sk as *const u8;
    if p.is_null() {
        return false;
    }
    // skc_dport, skc_num, skc_family; then skc_daddr, skc_rcv_saddr and the IPv6 ones.
    let mut head = [0u8; 8];
    let mut v4 = [0u8; 8];
    let mut v6 = [0u8; 32];
    // SAFETY: kernel memory read with the probe-read helper, which fails safely.
    if unsafe { bpf_probe_read_kernel_buf(p.add(12), &mut head) }.is_err() {
        return false;
    }
    let rport = u16::from_be_bytes([head[0], head[1]]);
    let lport = u16::from_ne_bytes([head[2], head[3]]);
    let is_v6 = u16::from_ne_bytes([head[4], head[5]]) == AF_INET6;
    if ro!(TCPTRACE_ATTRIB.addresses) != 0 {
        // SAFETY: as above.
        let ok = unsafe {
            bpf_probe_read_kernel_buf(p, &mut v4).is_ok()
                && (!is_v6 || bpf_probe_read_kernel_buf(p.add(SKC_V6), &mut v6).is_ok())
        };
        if !ok {
            return false;
        }
    }
    let word = |b: &[u8], i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut hit = false;
    for i in 0..MAX_SOCK_TESTS {
        if (i as u32) >= n {
            break;
        }
        let kind = ro!(TCPTRACE_ATTRIB.tests[i].kind);
        if kind == sock_test::PORT {
            let (lo, hi) = (
                ro!(TCPTRACE_ATTRIB.tests[i].lo),
                ro!(TCPTRACE_ATTRIB.tests[i].hi),
            );
            hit |= (lo <= rport && rport <= hi) || (lo <= lport && lport <= hi);
        } else if kind == sock_test::NET4 {
            let (a, m) = (
                ro!(TCPTRACE_ATTRIB.tests[i].addr[0]),
                ro!(TCPTRACE_ATTRIB.tests[i].mask[0]),
            );
            hit |= word(&v4, 0) & m == a || word(&v4, 4) & m == a;
        } else if kind == sock_test::NET6 && is_v6 {
            for side in [0, 16] {
                let mut same = true;
                for w in 0..4 {
                    same &= word(&v6, side + 4 * w) & ro!(TCPTRACE_ATTRIB.tests[i].mask[w])
                        == ro!(TCPTRACE_ATTRIB.tests[i].addr[w]);
                }
                hit |= same;
            }
        }
    }
    hit
}

/// TCP states (`include/net/tcp_states.h`).
const ESTABLISHED: i32 = 1;
const SYN_SENT: i32 = 2;
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
    match (old, new) {
        // Process context: listen(), connect(), close(), shutdown().
        (_, LISTEN) => listen(sk),
        (CLOSE, SYN_SENT) => connect(sk),
        (ESTABLISHED, FIN_WAIT1) | (CLOSE_WAIT, LAST_ACK) => take_over(sk, kind::CLOSE),
        // Softirq: the owner comes from the maps.
        (SYN_SENT, _) => connected(sk, new),
        (_, CLOSE) => forget(sk, old),
        _ => {}
    }
    0
}

#[inline(never)]
fn listen(sk: u64) {
    if let Some(ev) = scratch()
        && wanted(sk, LISTENER)
        && sock_key(sk, true, false, &mut ev.key)
    {
        current(&mut ev.owner);
        record(ev, kind::LISTEN, true);
    }
}

/// Whether the packet programs' process filter is on: only then do sockets need entries
/// by flow.
#[inline(always)]
fn by_flow() -> bool {
    ro!(TCPTRACE_ATTRIB.enabled) != 0
}

/// connect(): the owner under the socket's address, and for the packet filter under the
/// key without the local port (not chosen yet).
#[inline(never)]
fn connect(sk: u64) {
    if let Some(ev) = scratch()
        && wanted(sk, CONNECTING)
        && sock_key(sk, false, true, &mut ev.key)
    {
        current(&mut ev.owner);
        put(&ATTRIB_SOCKS, &sk, &ev.owner);
        record(ev, kind::CONNECT, by_flow());
    }
}

/// The handshake of a socket recorded at connect() ended (established, refused, or
/// given up): userspace hears of its whole key.
#[inline(never)]
fn connected(sk: u64, new: i32) {
    let Some(ev) = scratch() else {
        return;
    };
    if !wanted(sk, CONNECTING) {
        return;
    }
    // SAFETY: a map value, copied out.
    let Some(o) = (unsafe { ATTRIB_SOCKS.get(&sk) }) else {
        return;
    };
    ev.owner = *o;
    let whole = sock_key(sk, false, true, &mut ev.key);
    let lport = ev.key.lport;
    if whole && by_flow() {
        // The entry recorded at connect() without the port is done with.
        ev.key.lport = 0;
        remove(&ATTRIB_FLOWS, &ev.key);
        ev.key.lport = lport;
    }
    let traced = whole && lport != 0 && wanted(sk, SOCK);
    if traced {
        record(ev, kind::CONNECT, by_flow() && new != CLOSE);
    }
    if !traced || new == CLOSE {
        remove(&ATTRIB_SOCKS, &sk);
    }
}

/// A socket closed: its entries go (a full LRU map would otherwise evict one entry per
/// new connection, which costs every connect under churn). Late segments of a closed
/// connection then have no owner in the kernel filter; userspace keeps the events.
#[inline(never)]
fn forget(sk: u64, old: i32) {
    let Some(key) = ATTRIB_KEYS.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot, used only while the program runs.
    let key = unsafe { &mut *key };
    if old == LISTEN {
        if wanted(sk, LISTENER) && sock_key(sk, true, false, key) {
            remove(&ATTRIB_FLOWS, &*key);
        }
        return;
    }
    if !wanted(sk, SOCK) {
        return;
    }
    remove(&ATTRIB_SOCKS, &sk);
    if by_flow() && sock_key(sk, false, false, key) {
        remove(&ATTRIB_FLOWS, &*key);
    }
}

/// The current process becomes the owner of `sk` unless it already is (the common case:
/// one lookup by the socket's address, no socket field or task detail read).
#[inline(never)]
fn take_over(sk: u64, what: u8) {
    let Some(ev) = scratch() else {
        return;
    };
    if !wanted(sk, SOCK) {
        return;
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: a map value, read once.
    if ATTRIB_SOCKS
        .get_ptr(&sk)
        .is_some_and(|o| unsafe { (*o).tgid } == tgid)
    {
        return;
    }
    if !sock_key(sk, false, false, &mut ev.key) {
        count(counter::UNREADABLE);
        return;
    }
    current(&mut ev.owner);
    // An update, not a write into the entry read above: with the map full, an insertion
    // on another CPU may have evicted it and reused its memory for another socket.
    put(&ATTRIB_SOCKS, &sk, &ev.owner);
    record(ev, what, by_flow());
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
    // The listener's key: all zero but the local port. Word by word and volatile: a
    // memset here would be a third call frame, which 6.1's verifier counts (32 bytes at
    // least each) over the packet programs' 512 bytes of stack.
    let words = (key as *mut FlowKey).cast::<u16>();
    for i in 0..core::mem::size_of::<FlowKey>() / 2 {
        // SAFETY: inside the slot (FlowKey is 2-byte aligned, its size a multiple of 2).
        unsafe { core::ptr::write_volatile(words.add(i), 0) };
    }
    key.lport = lp;
    unsafe { ATTRIB_FLOWS.get(&*key) }
}

#[inline(always)]
fn matches(o: &Owner) -> bool {
    let pids = ro!(TCPTRACE_ATTRIB.n_pids);
    if !listed::<_, MAX_PIDS>(pids, |i| ro!(TCPTRACE_ATTRIB.pids[i]), o.tgid) {
        return false;
    }
    if ro!(TCPTRACE_ATTRIB.match_comm) != 0 {
        for i in 0..16 {
            if ro!(TCPTRACE_ATTRIB.comm[i]) != o.comm[i] {
                return false;
            }
        }
    }
    let cgroups = ro!(TCPTRACE_ATTRIB.n_cgroups);
    listed::<_, MAX_CGROUPS>(cgroups, |i| ro!(TCPTRACE_ATTRIB.cgroups[i]), o.cgroup_id)
}

/// Whether `v` is one of the first `n` of the `N` values `at` reads (true when `n` is 0:
/// no list, no test). A bounded loop over all `N`, as the verifier wants.
#[inline(always)]
fn listed<T: PartialEq, const N: usize>(n: u32, at: impl Fn(usize) -> T, v: T) -> bool {
    if n == 0 {
        return true;
    }
    let mut hit = false;
    for i in 0..N {
        if (i as u32) < n && at(i) == v {
            hit = true;
        }
    }
    hit
}
