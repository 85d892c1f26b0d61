//! tcptrace's kernel programs: XDP (or TC) on ingress, TC on egress. All run the same
//! parse → filter → record path and never change traffic: each returns the verdict that
//! hands the packet on unchanged to whatever comes next on its hook.
#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

mod attrib;
mod csum;
mod fate;
mod filter;
mod frame;
mod maps;
mod parse;
mod record;

use aya_ebpf::{
    bindings::xdp_action,
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use tcptrace_common::{DIR_EGRESS, DIR_INGRESS, TC_NEXT, counter};

use crate::{frame::Frame, maps::Counts, parse::Copies};

/// Native XDP and BPF_PROG_TEST_RUN (`-r`): fragment-aware, so multi-buffer frames pass.
#[xdp(frags)]
#[inline(always)]
pub fn tcptrace_xdp(ctx: XdpContext) -> u32 {
    trace(&frame::Xdp::new(&ctx), DIR_INGRESS);
    xdp_action::XDP_PASS
}

/// Generic (skb) XDP: without the frags flag, because the kernel's generic path for a
/// frags program rebuilds the skb and later TC programs no longer see its Ethernet header.
#[xdp]
#[inline(always)]
pub fn tcptrace_xdp_skb(ctx: XdpContext) -> u32 {
    trace(&frame::Xdp::new(&ctx), DIR_INGRESS);
    xdp_action::XDP_PASS
}

#[classifier]
#[inline(always)]
pub fn tcptrace_tc(ctx: TcContext) -> i32 {
    trace(&frame::Tc::new(&ctx), DIR_EGRESS);
    TC_NEXT
}

/// Ingress without XDP (`--xdp-mode off`, and `auto` on virtual interfaces).
#[classifier]
#[inline(always)]
pub fn tcptrace_tc_ingress(ctx: TcContext) -> i32 {
    trace(&frame::Tc::new(&ctx), DIR_INGRESS);
    TC_NEXT
}

#[inline(always)]
fn trace<F: Frame>(f: &F, direction: u8) {
    let Some(c) = Counts::get(f.ifindex()) else {
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
    if !filter::accept(&view) || !attrib::accept(&view) {
        return;
    }
    c.add(counter::MATCHED);
    let mut layers = parsed.layers();
    layers.measure(f);
    record::emit(f, &layers, direction, c);
}

tcptrace_ebpf::object!();
