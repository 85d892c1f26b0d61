//! tcptrace's kernel programs: XDP on ingress, TC on egress. Both run the same
//! parse → filter → record path and never change traffic.
#![no_std]
#![no_main]

mod csum;
mod filter;
mod frame;
mod maps;
mod parse;
mod record;

use aya_ebpf::{
    bindings::{TC_ACT_PIPE, xdp_action},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use tcptrace_common::{DIR_EGRESS, DIR_INGRESS, counter};

use crate::frame::Frame;

#[xdp(frags)]
pub fn tcptrace_xdp(ctx: XdpContext) -> u32 {
    trace(&frame::Xdp::new(&ctx), DIR_INGRESS);
    xdp_action::XDP_PASS
}

#[classifier]
pub fn tcptrace_tc(ctx: TcContext) -> i32 {
    trace(&frame::Tc::new(&ctx), DIR_EGRESS);
    TC_ACT_PIPE
}

#[inline(always)]
fn trace<F: Frame>(f: &F, direction: u8) {
    maps::count(counter::SEEN);
    let Some(layers) = parse::parse(f) else {
        return;
    };
    maps::count(counter::TCP);
    // Park the parse result in map memory and read it back after the filter. The parse
    // reaches the filter in many verifier states (VLANs, IPv4 options, IPv6 extension
    // headers); read back from a map, the offsets are plain bounded numbers, so the
    // filter's loop and everything after it are verified once, not once per state. Every
    // packet access after this point checks its bounds anyway.
    let Some(slot) = maps::LAYERS.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot, used only while this program runs.
    unsafe { slot.write_volatile(layers) };
    if !filter::accept(f, &layers) {
        return;
    }
    maps::count(counter::MATCHED);
    // SAFETY: as above; volatile so the compiler really reads the map.
    let layers = unsafe { slot.read_volatile() }.bounded();
    record::emit(f, &layers, direction);
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
