//! Other programs on tcptrace's hooks, for the tests that prove tracing changes nothing:
//! a TC program that drops IPv4 frames, recognised by their Ethernet type (so it also
//! checks that the Ethernet header is still there), counting what it dropped; and an XDP
//! program that drops every Nth IPv4 TCP data segment to one port, so a capture behind
//! it has holes that the sender's retransmissions fill (the Wireshark differential test).
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    macros::{classifier, map, xdp},
    maps::{Array, PerCpuArray},
    programs::{TcContext, XdpContext},
};

#[map]
static DROPPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// TC_ACT_SHOT, which is also TCX_DROP.
const DROP: i32 = 2;
/// TC_ACT_UNSPEC, which is also TCX_NEXT.
const NEXT: i32 = -1;

#[classifier]
pub fn drop_ipv4(ctx: TcContext) -> i32 {
    match ctx.load::<[u8; 2]>(12) {
        Ok([0x08, 0x00]) => {
            if let Some(n) = DROPPED.get_ptr_mut(0) {
                // SAFETY: a per-CPU slot of our own map.
                unsafe { *n += 1 };
            }
            DROP
        }
        _ => NEXT,
    }
}

/// `drop_nth` settings, written by the test: [N, destination port].
#[map]
static NTH_CONFIG: Array<u32> = Array::with_max_entries(2, 0);

/// `drop_nth` counters: [data segments seen, dropped].
#[map]
static NTH_COUNT: Array<u64> = Array::with_max_entries(2, 0);

/// Drops every Nth IPv4 TCP segment with payload to the configured port (N = 0: none).
#[xdp]
pub fn drop_nth(ctx: XdpContext) -> u32 {
    if nth_data_segment(&ctx) {
        xdp_action::XDP_DROP
    } else {
        xdp_action::XDP_PASS
    }
}

/// Headers of a frame without IP options: Ethernet, IPv4, TCP.
const HDRS: usize = 14 + 20 + 20;

fn nth_data_segment(ctx: &XdpContext) -> bool {
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + HDRS > end {
        return false;
    }
    // SAFETY: HDRS bytes from `start` are inside the packet (checked above).
    let b = unsafe { &*(start as *const [u8; HDRS]) };
    if b[12] != 0x08 || b[13] != 0x00 || b[14] != 0x45 || b[23] != 6 {
        return false;
    }
    let tot_len = u16::from_be_bytes([b[16], b[17]]) as u32;
    let dport = u16::from_be_bytes([b[36], b[37]]) as u32;
    let doff = ((b[46] >> 4) as u32) * 4;
    if tot_len <= 20 + doff {
        return false;
    }
    let (Some(every), Some(port)) = (NTH_CONFIG.get(0), NTH_CONFIG.get(1)) else {
        return false;
    };
    if *every == 0 || dport != *port {
        return false;
    }
    let Some(seen) = NTH_COUNT.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: a slot of our own map; one receive queue, so no concurrent writer.
    let n = unsafe {
        *seen += 1;
        *seen
    };
    if n % (*every as u64) != 0 {
        return false;
    }
    if let Some(d) = NTH_COUNT.get_ptr_mut(1) {
        // SAFETY: as above.
        unsafe { *d += 1 };
    }
    true
}

tcptrace_ebpf::object!();
