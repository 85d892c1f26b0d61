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
    if !filter::accept(f, &layers) {
        return;
    }
    maps::count(counter::MATCHED);
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
