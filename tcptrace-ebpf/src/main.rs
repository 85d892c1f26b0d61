//! tcptrace's kernel programs: XDP (or TC) on ingress, TC on egress. All run the same
//! parse → filter → record path and never change traffic.
#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

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

use crate::{frame::Frame, maps::Counts, parse::Copies};

#[xdp(frags)]
#[inline(always)]
pub fn tcptrace_xdp(ctx: XdpContext) -> u32 {
    trace(&frame::Xdp::new(&ctx), DIR_INGRESS);
    xdp_action::XDP_PASS
}

#[classifier]
#[inline(always)]
pub fn tcptrace_tc(ctx: TcContext) -> i32 {
    trace(&frame::Tc::new(&ctx), DIR_EGRESS);
    TC_ACT_PIPE
}

/// Ingress without XDP (`--xdp-mode off`, and `auto` on virtual interfaces).
#[classifier]
#[inline(always)]
pub fn tcptrace_tc_ingress(ctx: TcContext) -> i32 {
    trace(&frame::Tc::new(&ctx), DIR_INGRESS);
    TC_ACT_PIPE
}

#[inline(always)]
fn trace<F: Frame>(f: &F, direction: u8) {
    let Some(c) = Counts::get() else {
        return;
    };
    c.add(counter::SEEN);
    let mut copies = Copies::new();
    let Some((view, parsed)) = parse::parse(f, c, &mut copies) else {
        return;
    };
    c.add(counter::TCP);
    let Some(view) = view else {
        return;
    };
    if !filter::accept(&view) {
        return;
    }
    c.add(counter::MATCHED);
    let mut layers = parsed.layers();
    layers.measure(f);
    record::emit(f, &layers, direction, c);
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
