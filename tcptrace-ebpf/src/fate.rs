//! Packet fate: `skb:kfree_skb` (a raw tracepoint: no kprobes, BTF or tracefs needed to
//! attach). Every drop of the host passes here; a TCP segment over IPv4 or IPv6 whose
//! headers pass the wire hooks' filter (the same rule table and process filter) becomes a
//! [`DropRecord`] with the kernel's reason and the dropping code address. Any other drop
//! costs a few reads and compares. The `sk_buff` field offsets come from the running
//! kernel's BTF, written by userspace into `TCPTRACE_SKB` before loading.
use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_kernel_buf},
    macros::{map, raw_tracepoint},
    maps::PerCpuArray,
    programs::RawTracePointContext,
};
use tcptrace_common::{
    DIR_EGRESS, DIR_INGRESS, FAMILY_V4, FAMILY_V6, MAX_OPTIONS, Record,
    fate::{DropRecord, SkbLayout},
    item::{Header, kind},
    pkt_type,
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

/// A field of the `sk_buff` (or any kernel object) at `base + off`.
#[inline(always)]
fn field<T>(base: *const u8, off: u16) -> Option<T> {
    // SAFETY: a probing read; a bad address gives an error, not a fault.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off as usize) as *const T) }.ok()
}

#[inline(never)]
fn dropped(skb: *const u8, location: u64, reason: u32) {
    let l = &TCPTRACE_SKB;
    if ro!(l.enabled) == 0 || skb.is_null() {
        return;
    }
    let Some(proto) = field::<u16>(skb, ro!(l.protocol)) else {
        return;
    };
    let family = match u16::from_be(proto) {
        ETH_P_IP => FAMILY_V4,
        ETH_P_IPV6 => FAMILY_V6,
        _ => return,
    };
    let (Some(head), Some(nh)) = (
        field::<u64>(skb, ro!(l.head)),
        field::<u16>(skb, ro!(l.network_header)),
    ) else {
        return;
    };
    let Some(buf) = FATE_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot, used only while the program runs.
    let buf = unsafe { &mut *buf };
    let ip = (head + nh as u64) as *const u8;
    // SAFETY: probing reads into the slot.
    if unsafe { bpf_probe_read_kernel_buf(ip, &mut buf[..40]) }.is_err() {
        return;
    }
    let ihl = if family == FAMILY_V4 {
        let vi = buf[0];
        // Version 4, no later fragment, TCP.
        if vi >> 4 != 4
            || u16::from_be_bytes([buf[6], buf[7]]) & 0x1fff != 0
            || buf[9] != IPPROTO_TCP
        {
            return;
        }
        ((vi & 0xf) as usize) * 4
    } else {
        // Version 6, TCP right after the fixed header (extension headers: not traced here).
        if buf[0] >> 4 != 6 || buf[6] != IPPROTO_TCP {
            return;
        }
        40
    };
    if ihl < 20 {
        return;
    }
    let tcp = ip.wrapping_add(ihl);
    // SAFETY: as above. The whole 60 bytes when they can be read, else the fixed header.
    let whole = unsafe { bpf_probe_read_kernel_buf(tcp, &mut buf[TCP_AT..TCP_AT + 60]) }.is_ok();
    if !whole && unsafe { bpf_probe_read_kernel_buf(tcp, &mut buf[TCP_AT..TCP_AT + 20]) }.is_err() {
        return;
    }
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
    if !filter::accept(&view) || !attrib::accept(&view) {
        return;
    }
    // In the traced namespace: by its device, else (not routed yet) by its socket.
    let dev = field::<u64>(skb, ro!(l.dev)).unwrap_or(0);
    let net = if dev != 0 {
        field::<u64>(dev as *const u8, ro!(l.dev_net))
    } else {
        let sk = field::<u64>(skb, ro!(l.sk)).unwrap_or(0);
        if sk == 0 {
            return;
        }
        field::<u64>(sk as *const u8, ro!(l.skc_net))
    };
    let Some(net) = net else {
        return;
    };
    if field::<u32>(net as *const u8, ro!(l.net_inum)) != Some(ro!(l.netns)) {
        return;
    }
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
    let Some(mut entry) = ring().and_then(|r| r.reserve_untyped::<DropRecord>(0)) else {
        return;
    };
    // SAFETY: the entry is ours until submitted; every field is written below.
    let d = unsafe { &mut *entry.as_mut_ptr() };
    d.hdr = Header {
        kind: kind::DROP,
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
    entry.submit(submit_flags(r.ts_ns));
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
