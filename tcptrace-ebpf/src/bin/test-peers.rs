//! Other programs on tcptrace's hooks, for the tests that prove tracing changes nothing:
//! a TC program that drops IPv4 frames, recognised by their Ethernet type (so it also
//! checks that the Ethernet header is still there), counting what it dropped.
#![no_std]
#![no_main]

use aya_ebpf::{
    macros::{classifier, map},
    maps::PerCpuArray,
    programs::TcContext,
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

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
