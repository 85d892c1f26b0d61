//! Packet fate: `skb:kfree_skb` (a raw tracepoint: no kprobes, BTF or tracefs needed to
//! attach). Every drop of the host passes here; a TCP segment over IPv4 or IPv6 whose
//! headers pass the wire hooks' filter (the same rule table and process filter) becomes a
//! [`DropRecord`] with the kernel's reason and the dropping code address. Any other drop
//! costs a few reads and compares. The `sk_buff` field offsets come from the running
//! kernel's BTF, written by userspace into `TCPTRACE_SKB` before loading.
//!
//! The same path serves `tcp:tcp_send_reset` (a RST this host sends, and the kernel's
//! reason) and `tcp:tcp_retransmit_skb` (a retransmission the kernel made, seen by the
//! wire hooks or not): their segment's headers are the answered segment's turned around,
//! or made from the socket's endpoints, then filtered and recorded alike.
use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_kernel_buf},
    macros::{map, raw_tracepoint},
    maps::PerCpuArray,
    programs::RawTracePointContext,
};
use tcptrace_common::{
    DIR_EGRESS, DIR_INGRESS, FAMILY_V4, FAMILY_V6, MAX_OPTIONS, Record,
    attrib::FlowKey,
    fate::{DropRecord, SkbLayout},
    item::{Header, kind},
    pkt_type,
    tcp_flags::{ACK, RST},
};

use crate::{
    attrib, filter,
    frame::ld,
    maps::{ring, ro, submit_flags},
    parse::View,
};

/// The `sk_buff` layout (`.rodata`, written by userspace before loading).
#[unsafe(no_mangle)]
static TCPTRACE_SKB: SkbLayout = SkbLayout::OFF;

/// Where the headers are copied: IP at 0 (40 bytes), TCP at [`TCP_AT`] (60 bytes).
const TCP_AT: usize = 64;
const SCRATCH: usize = TCP_AT + 60;

/// Per-CPU room for the copied headers (the 6.1 verifier's 512-byte stack is shared with
/// the filter's call chain).
#[map]
static FATE_SCRATCH: PerCpuArray<[u8; SCRATCH]> = PerCpuArray::with_max_entries(1, 0);

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;

/// `kfree_skb(skb, location, reason[, rx_sk])`.
#[raw_tracepoint(tracepoint = "kfree_skb")]
pub fn tcptrace_drop(ctx: RawTracePointContext) -> i32 {
    let skb = ctx.arg::<u64>(0) as *const u8;
    let location = ctx.arg::<u64>(1);
    let reason = ctx.arg::<u64>(2) as u32;
    dropped(skb, location, reason);
    0
}

/// `tcp_send_reset(sk, skb, reason)`, on kernels that give the reason (userspace attaches
/// it only there): `skb` is the segment answered (`sk` may then be NULL), or NULL for a
/// reset the socket sends of its own accord.
#[raw_tracepoint(tracepoint = "tcp_send_reset")]
pub fn tcptrace_reset(ctx: RawTracePointContext) -> i32 {
    reset(
        ctx.arg::<u64>(0),
        ctx.arg::<u64>(1),
        ctx.arg::<u64>(2) as u32,
    );
    0
}

/// `tcp_retransmit_skb(sk, skb)` (kernels before the `err` argument).
#[raw_tracepoint(tracepoint = "tcp_retransmit_skb")]
pub fn tcptrace_retransmit(ctx: RawTracePointContext) -> i32 {
    retransmit(ctx.arg::<u64>(0), ctx.arg::<u64>(1), 0)
}

/// `tcp_retransmit_skb(sk, skb, err)`.
#[raw_tracepoint(tracepoint = "tcp_retransmit_skb")]
pub fn tcptrace_retransmit_err(ctx: RawTracePointContext) -> i32 {
    let err = ctx.arg::<u64>(2) as u32;
    retransmit(ctx.arg::<u64>(0), ctx.arg::<u64>(1), err)
}

/// A field of the `sk_buff` (or any kernel object) at `base + off`.
#[inline(always)]
fn field<T>(base: *const u8, off: u16) -> Option<T> {
    // SAFETY: a probing read; a bad address gives an error, not a fault.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off as usize) as *const T) }.ok()
}

/// This CPU's scratch room.
#[inline(always)]
fn scratch() -> Option<&'static mut [u8; SCRATCH]> {
    // SAFETY: this CPU's slot, used only while the program runs.
    FATE_SCRATCH.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

/// Copies the IP and TCP headers of the skb's packet into `buf`: (family, IP header
/// length, whole TCP header copied); None when it is not TCP over IPv4 or IPv6 (IPv6:
/// TCP right after the fixed header; IPv4: no later fragment).
#[inline(always)]
fn copy_headers(skb: *const u8, buf: &mut [u8; SCRATCH]) -> Option<(u8, usize, bool)> {
    let l = &TCPTRACE_SKB;
    let proto = field::<u16>(skb, ro!(l.protocol))?;
    let family = match u16::from_be(proto) {
        ETH_P_IP => FAMILY_V4,
        ETH_P_IPV6 => FAMILY_V6,
        _ => return None,
    };
    let head = field::<u64>(skb, ro!(l.head))?;
    let nh = field::<u16>(skb, ro!(l.network_header))?;
    let ip = (head + nh as u64) as *const u8;
    // SAFETY: probing reads into the slot.
    unsafe { bpf_probe_read_kernel_buf(ip, &mut buf[..40]) }.ok()?;
    let ihl = if family == FAMILY_V4 {
        let vi = buf[0];
        if vi >> 4 != 4
            || u16::from_be_bytes([buf[6], buf[7]]) & 0x1fff != 0
            || buf[9] != IPPROTO_TCP
        {
            return None;
        }
        ((vi & 0xf) as usize) * 4
    } else {
        if buf[0] >> 4 != 6 || buf[6] != IPPROTO_TCP {
            return None;
        }
        40
    };
    if ihl < 20 {
        return None;
    }
    let tcp = ip.wrapping_add(ihl);
    // SAFETY: as above. The whole 60 bytes when they can be read, else the fixed header.
    let whole = unsafe { bpf_probe_read_kernel_buf(tcp, &mut buf[TCP_AT..TCP_AT + 60]) }.is_ok();
    if !whole {
        // SAFETY: as above.
        unsafe { bpf_probe_read_kernel_buf(tcp, &mut buf[TCP_AT..TCP_AT + 20]) }.ok()?;
    }
    Some((family, ihl, whole))
}

/// The headers in `buf` pass the wire hooks' filter and the process filter.
#[inline(always)]
fn accepted(buf: &[u8; SCRATCH], family: u8) -> bool {
    let p = buf.as_ptr();
    let view = View {
        ip: p,
        tcp: p.wrapping_add(TCP_AT),
        ports: true,
        flags: true,
        family,
        vlan_count: 0,
        vlan_ids: 0,
    };
    filter::accept(&view) && attrib::accept(&view)
}

/// The object at `obj` (a device or a socket) belongs to the traced namespace: its
/// `struct net` pointer is at `net_off`.
#[inline(always)]
fn traced_net(obj: u64, net_off: u16) -> bool {
    let l = &TCPTRACE_SKB;
    if obj == 0 {
        return false;
    }
    let Some(net) = field::<u64>(obj as *const u8, net_off) else {
        return false;
    };
    field::<u32>(net as *const u8, ro!(l.net_inum)) == Some(ro!(l.netns))
}

/// The skb is in the traced namespace: by its device, else (not routed yet) by its
/// socket. Its device (0: none).
#[inline(always)]
fn skb_in_traced_net(skb: *const u8) -> Option<u64> {
    let l = &TCPTRACE_SKB;
    let dev = field::<u64>(skb, ro!(l.dev)).unwrap_or(0);
    let ours = if dev != 0 {
        traced_net(dev, ro!(l.dev_net))
    } else {
        traced_net(field::<u64>(skb, ro!(l.sk)).unwrap_or(0), ro!(l.skc_net))
    };
    ours.then_some(dev)
}

#[inline(never)]
fn dropped(skb: *const u8, location: u64, reason: u32) {
    let l = &TCPTRACE_SKB;
    if ro!(l.enabled) == 0 || skb.is_null() {
        return;
    }
    let Some(buf) = scratch() else {
        return;
    };
    let Some((family, ihl, whole)) = copy_headers(skb, buf) else {
        return;
    };
    if !accepted(buf, family) {
        return;
    }
    let Some(dev) = skb_in_traced_net(skb) else {
        return;
    };
    let iif = field::<i32>(skb, ro!(l.skb_iif)).unwrap_or(0);
    let (direction, ifindex) = if iif > 0 {
        (DIR_INGRESS, iif as u32)
    } else {
        let idx = if dev == 0 {
            0
        } else {
            field::<i32>(dev as *const u8, ro!(l.dev_ifindex)).unwrap_or(0)
        };
        (DIR_EGRESS, idx as u32)
    };
    let hdr = (kind::DROP, reason, location);
    submit(hdr, buf, (family, ihl, whole), direction, ifindex);
}

/// A RST this host sends: the answered segment's headers turned around (its sequence
/// number the answered segment's ACK, or 0), else the socket's endpoints.
#[inline(never)]
fn reset(sk: u64, skb: u64, reason: u32) {
    let l = &TCPTRACE_SKB;
    if ro!(l.enabled) == 0 {
        return;
    }
    let Some(buf) = scratch() else {
        return;
    };
    let family = if skb != 0 {
        let Some((family, _, _)) = copy_headers(skb as *const u8, buf) else {
            return;
        };
        if skb_in_traced_net(skb as *const u8).is_none() {
            return;
        }
        turn_around(buf, family);
        family
    } else {
        let Some(family) = sock_headers(sk, buf) else {
            return;
        };
        if !traced_net(sk, ro!(l.skc_net)) {
            return;
        }
        family
    };
    if !accepted(buf, family) {
        return;
    }
    let ihl = if family == FAMILY_V4 { 20 } else { 40 };
    let hdr = (kind::RESET, reason, 0);
    submit(hdr, buf, (family, ihl, false), DIR_EGRESS, 0);
}

/// A retransmission the kernel made: the socket's endpoints, the segment's sequence
/// number and flags from its control block.
#[inline(never)]
fn retransmit(sk: u64, skb: u64, err: u32) -> i32 {
    let l = &TCPTRACE_SKB;
    if ro!(l.enabled) == 0 || skb == 0 {
        return 0;
    }
    let Some(buf) = scratch() else {
        return 0;
    };
    let Some(family) = sock_headers(sk, buf) else {
        return 0;
    };
    let skb = skb as *const u8;
    let seq = field::<u32>(skb, ro!(l.cb_seq)).unwrap_or(0);
    let flags = field::<u8>(skb, ro!(l.cb_flags)).unwrap_or(0);
    buf[TCP_AT + 4..TCP_AT + 8].copy_from_slice(&seq.to_be_bytes());
    buf[TCP_AT + 13] = flags;
    if !traced_net(sk, ro!(l.skc_net)) || !accepted(buf, family) {
        return 0;
    }
    let ihl = if family == FAMILY_V4 { 20 } else { 40 };
    let hdr = (kind::RETRANSMIT, err, 0);
    submit(hdr, buf, (family, ihl, false), DIR_EGRESS, 0);
    0
}

/// The answered segment's headers in `buf` become its RST's: addresses and ports
/// swapped, no options; sequence number its ACK (flags RST), else 0 (flags RST, ACK).
#[inline(always)]
fn turn_around(buf: &mut [u8; SCRATCH], family: u8) {
    let (at, n) = if family == FAMILY_V4 {
        (12, 4)
    } else {
        (8, 16)
    };
    for i in 0..16 {
        if i < n {
            buf.swap(at + i, at + n + i);
        }
    }
    for i in 0..2 {
        buf.swap(TCP_AT + i, TCP_AT + 2 + i);
    }
    let acked = buf[TCP_AT + 13] & (ACK as u8) != 0;
    let ack: [u8; 4] = [
        buf[TCP_AT + 8],
        buf[TCP_AT + 9],
        buf[TCP_AT + 10],
        buf[TCP_AT + 11],
    ];
    buf[TCP_AT + 4..TCP_AT + 8].copy_from_slice(if acked { &ack } else { &[0; 4] });
    buf[TCP_AT + 12] = 0x50;
    buf[TCP_AT + 13] = if acked { RST as u8 } else { (RST | ACK) as u8 };
    // The lengths of a bare RST (the filter may test them).
    if family == FAMILY_V4 {
        buf[0] = 0x45;
        buf[2..4].copy_from_slice(&40u16.to_be_bytes());
    } else {
        buf[4..6].copy_from_slice(&20u16.to_be_bytes());
    }
}

/// IP and TCP headers from a socket's endpoints (local side as the source), no options;
/// its family, None when it is no connected TCP socket over IPv4 or IPv6.
#[inline(always)]
fn sock_headers(sk: u64, buf: &mut [u8; SCRATCH]) -> Option<u8> {
    let mut key = FlowKey::default();
    // Closing clears the local port of the socket's hash entry: then from inet_sport.
    if !attrib::sock_key(sk, false, true, &mut key) {
        return None;
    }
    if key.lport == 0 {
        let sport = field::<u16>(sk as *const u8, ro!(TCPTRACE_SKB.inet_sport)).unwrap_or(0);
        key.lport = u16::from_be(sport);
        if key.lport == 0 {
            return None;
        }
    }
    buf[..40].fill(0);
    buf[TCP_AT..TCP_AT + 20].fill(0);
    if key.family == FAMILY_V4 {
        buf[0] = 0x45;
        buf[2..4].copy_from_slice(&40u16.to_be_bytes());
        buf[9] = IPPROTO_TCP;
        buf[12..16].copy_from_slice(&key.laddr[..4]);
        buf[16..20].copy_from_slice(&key.raddr[..4]);
    } else {
        buf[0] = 0x60;
        buf[4..6].copy_from_slice(&20u16.to_be_bytes());
        buf[6] = IPPROTO_TCP;
        buf[8..24].copy_from_slice(&key.laddr);
        buf[24..40].copy_from_slice(&key.raddr);
    }
    buf[TCP_AT..TCP_AT + 2].copy_from_slice(&key.lport.to_be_bytes());
    buf[TCP_AT + 2..TCP_AT + 4].copy_from_slice(&key.rport.to_be_bytes());
    buf[TCP_AT + 12] = 0x50;
    Some(key.family)
}

/// Records the headers in `buf` as an item of `kind` with `reason` and `location`.
#[inline(always)]
fn submit(
    (kind, reason, location): (u8, u32, u64),
    buf: &[u8; SCRATCH],
    (family, ihl, whole): (u8, usize, bool),
    direction: u8,
    ifindex: u32,
) {
    let Some(ring) = ring() else {
        return;
    };
    let Some(mut entry) = ring.reserve_untyped::<DropRecord>(0) else {
        return;
    };
    // SAFETY: the entry is ours until submitted; every field is written below.
    let d = unsafe { &mut *entry.as_mut_ptr() };
    d.hdr = Header {
        kind,
        meta: 0,
        len: core::mem::size_of::<DropRecord>() as u16,
    };
    d.reason = reason;
    d.location = location;
    let r = &mut d.rec;
    fill(r, buf, family, ihl, whole);
    r.direction = direction;
    r.ifindex = ifindex;
    r.pkt_type = if direction == DIR_EGRESS {
        pkt_type::OUTGOING
    } else {
        pkt_type::HOST
    };
    entry.submit(submit_flags(ring, r.ts_ns));
}

/// Zeroes the record with 8-byte stores. (A plain `*r = Record::ZERO` becomes a call to
/// a byte-at-a-time memset, which the verifier walks byte by byte at every call site.)
#[inline(always)]
fn zero(r: &mut Record) {
    const WORDS: usize = core::mem::size_of::<Record>() / 8;
    const _: () = assert!(core::mem::size_of::<Record>().is_multiple_of(8));
    let p = r as *mut Record as *mut u64;
    for i in 0..WORDS {
        // SAFETY: i < WORDS, inside the record; volatile keeps LLVM from making a memset.
        unsafe { p.add(i).write_volatile(0) };
    }
}

/// The record's fields from the copied headers.
#[inline(always)]
fn fill(r: &mut Record, buf: &[u8; SCRATCH], family: u8, ihl: usize, whole: bool) {
    zero(r);
    // SAFETY: helper without arguments.
    r.ts_ns = unsafe { bpf_ktime_get_ns() };
    let ip = buf.as_ptr();
    let tcp = ip.wrapping_add(TCP_AT);
    r.family = family;
    if family == FAMILY_V4 {
        r.tos = buf[1];
        r.ip_len = u16::from_be(ld!(u16, ip, 2)) as u32;
        r.ip_id = u16::from_be(ld!(u16, ip, 4)) as u32;
        r.frag = u16::from_be(ld!(u16, ip, 6));
        r.ttl = buf[8];
        r.ip_csum = u16::from_be(ld!(u16, ip, 10));
        r.saddr[..4].copy_from_slice(&buf[12..16]);
        r.daddr[..4].copy_from_slice(&buf[16..20]);
        r.ihl = ihl as u8;
        r.l4_off = ihl as u16;
        r.frame_len = r.ip_len;
    } else {
        r.tos = (buf[0] << 4) | (buf[1] >> 4);
        r.flow_label = u32::from_be(ld!(u32, ip, 0)) & 0xf_ffff;
        r.ip_len = u16::from_be(ld!(u16, ip, 4)) as u32;
        r.ttl = buf[7];
        r.saddr.copy_from_slice(&buf[8..24]);
        r.daddr.copy_from_slice(&buf[24..40]);
        r.l4_off = 40;
        r.frame_len = r.ip_len + 40;
    }
    r.sport = u16::from_be(ld!(u16, tcp, 0));
    r.dport = u16::from_be(ld!(u16, tcp, 2));
    r.seq = u32::from_be(ld!(u32, tcp, 4));
    r.ack = u32::from_be(ld!(u32, tcp, 8));
    let off = buf[TCP_AT + 12];
    r.doff = (off >> 4) * 4;
    r.flags = buf[TCP_AT + 13] as u16 | ((off as u16 & 1) << 8);
    r.window = u16::from_be(ld!(u16, tcp, 14));
    r.tcp_csum = u16::from_be(ld!(u16, tcp, 16));
    r.urg_ptr = u16::from_be(ld!(u16, tcp, 18));
    if !whole {
        r.tcp_caplen = 20;
        return;
    }
    r.tcp_caplen = r.doff;
    let opt_len = (r.doff as usize).saturating_sub(20).min(MAX_OPTIONS);
    r.opt_len = opt_len as u8;
    for i in 0..MAX_OPTIONS {
        if i < opt_len {
            r.options[i] = buf[TCP_AT + 20 + i];
        }
    }
}
