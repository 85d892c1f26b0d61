//! The benchmark's floors, a ladder of XDP programs that do the least a tracer of this
//! design must: `empty` passes the packet; `clock` also reads the clock; `reserve` also
//! reserves a ring entry of the size of tcptrace's item for the bench's accepted segment
//! (IPv4 with timestamps: 64 bytes), stamps it and commits it. Declared
//! frags-aware like tcptrace's, so BPF_PROG_TEST_RUN treats them alike.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action, helpers::bpf_ktime_get_ns, macros::map, macros::xdp, maps::RingBuf,
    programs::XdpContext,
};

/// The `reserve` floor's ring (the bench sizes it before loading).
#[map]
static FLOOR_RING: RingBuf = RingBuf::with_byte_size(1 << 24, 0);

#[xdp(frags)]
pub fn empty(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[xdp(frags)]
pub fn clock(_ctx: XdpContext) -> u32 {
    // SAFETY: a helper without arguments; the value is kept so the call stays.
    let t = unsafe { bpf_ktime_get_ns() };
    core::hint::black_box(t);
    xdp_action::XDP_PASS
}

#[xdp(frags)]
pub fn reserve(_ctx: XdpContext) -> u32 {
    // SAFETY: as above.
    let t = unsafe { bpf_ktime_get_ns() };
    if let Some(mut entry) = FLOOR_RING.reserve::<[u64; 8]>(0) {
        // SAFETY: the entry is ours until submitted; its first 8 bytes take the time.
        unsafe { (entry.as_mut_ptr() as *mut u64).write(t) };
        // No wakeup: the reader polls, as tcptrace's does between its wakeups.
        entry.submit(aya_ebpf::bindings::BPF_RB_NO_WAKEUP as u64);
    }
    xdp_action::XDP_PASS
}

tcptrace_ebpf::object!();
