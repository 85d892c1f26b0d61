//! Uniform access to the frame for both program types.
use core::ffi::c_void;

use tcptrace_common::pkt_type;

use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_skb_load_bytes, bpf_xdp_get_buff_len, bpf_xdp_load_bytes},
    programs::{TcContext, XdpContext},
};

pub trait Frame {
    /// First byte of the frame's linear area.
    fn start(&self) -> usize;
    /// One past the last byte of the linear area.
    fn end(&self) -> usize;
    /// Length of the whole frame, linear area and fragments.
    fn len(&self) -> u32;
    fn ifindex(&self) -> u32;
    /// The kernel's packet type of an incoming frame (`tcptrace_common::pkt_type`).
    fn pkt_type(&self) -> u8;
    /// The program's context pointer, for `load_raw` in bpf_loop callbacks.
    fn raw(&self) -> *mut c_void;
    /// Fills `dst` (1..=4096 bytes) from `off` of the frame behind the context `raw`;
    /// false when the bytes are not all there.
    fn load_raw(raw: *mut c_void, off: u32, dst: &mut [u8]) -> bool;
    /// Fills `dst` (1..=4096 bytes) from `off`; false when the bytes are not all there.
    #[inline(always)]
    fn load(&self, off: u32, dst: &mut [u8]) -> bool {
        Self::load_raw(self.raw(), off, dst)
    }
}

/// `N` bytes at `off`: straight from the linear area when they are there, else through
/// the load helper (non-linear skbs, XDP fragments).
#[inline(always)]
pub fn read<F: Frame, const N: usize>(f: &F, off: usize) -> Option<[u8; N]> {
    if let Some(p) = at::<F, [u8; N]>(f, off) {
        // SAFETY: checked by `at`.
        return Some(unsafe { *p });
    }
    let mut b = [0u8; N];
    f.load(off as u32, &mut b).then_some(b)
}

/// A pointer to a `T` at `off` in the linear area, when all of it is there.
#[inline(always)]
pub fn at<F: Frame, T>(f: &F, off: usize) -> Option<*const T> {
    // The comparison must be made on this very pointer (the verifier learns the packet
    // range from it), not on an offset LLVM rearranged it into: hide where it came from.
    let p = opaque(f.start() + off);
    if p + core::mem::size_of::<T>() > f.end() {
        return None;
    }
    Some(p as *const T)
}

/// `v`, with everything the compiler knows about it forgotten (one register move; an
/// empty asm block would leave two line-info entries on one instruction, which the kernel
/// refuses).
#[inline(always)]
pub fn opaque(mut v: usize) -> usize {
    // SAFETY: an empty asm block that only claims to change `v`.
    unsafe { core::arch::asm!("{0} = {0}", inout(reg) v, options(pure, nomem, nostack)) };
    v
}

/// Loads a `u8`/`u16`/`u32`/`u64` (native byte order) from `$p + $off`, `$p` a pointer
/// `at` checked to cover the bytes. One BPF load: packet and map memory need no
/// alignment here, where a Rust read of a byte array becomes one load per byte.
macro_rules! ld {
    ($ty:ident, $p:expr, $off:expr) => {{
        let v: u64;
        // SAFETY: the caller's `at` check covers `$off + size_of::<$ty>()` bytes at `$p`.
        unsafe {
            core::arch::asm!(
                concat!("{v} = *(", stringify!($ty), " *)({p} + {off})"),
                v = lateout(reg) v,
                p = in(reg) $p,
                off = const $off,
                options(pure, readonly, nostack)
            )
        };
        v as $ty
    }};
}
pub(crate) use ld;

/// `n` as a helper's length argument, 1..=4096, in a form every verifier can prove:
/// older ones (6.1) learn nothing from `n != 0`, so the bound is checked on `n - 1`.
#[inline(always)]
fn helper_len(n: usize) -> Option<u32> {
    let m = opaque(n.wrapping_sub(1));
    if m >= 4096 {
        return None;
    }
    Some(m as u32 + 1)
}

/// The [`Frame`] methods both contexts implement alike, `$load` being the helper that
/// copies bytes out of the frame.
macro_rules! context_access {
    ($load:ident) => {
        #[inline(always)]
        fn start(&self) -> usize {
            self.ctx.data()
        }
        #[inline(always)]
        fn end(&self) -> usize {
            self.ctx.data_end()
        }
        #[inline(always)]
        fn raw(&self) -> *mut c_void {
            self.ctx.as_ptr()
        }
        #[inline(always)]
        fn load_raw(raw: *mut c_void, off: u32, dst: &mut [u8]) -> bool {
            let Some(len) = helper_len(dst.len()) else {
                return false;
            };
            let dst = dst.as_mut_ptr();
            // SAFETY: `raw` is the program's context; `dst` is valid for `len` bytes.
            unsafe { $load(raw.cast(), off, dst.cast(), len) == 0 }
        }
    };
}

pub struct Xdp<'a> {
    ctx: &'a XdpContext,
}

impl<'a> Xdp<'a> {
    #[inline(always)]
    pub fn new(ctx: &'a XdpContext) -> Self {
        Self { ctx }
    }
}

impl Frame for Xdp<'_> {
    context_access!(bpf_xdp_load_bytes);
    #[inline(always)]
    fn len(&self) -> u32 {
        // SAFETY: helper on our own context.
        unsafe { bpf_xdp_get_buff_len(self.ctx.as_ptr().cast()) as u32 }
    }
    #[inline(always)]
    fn ifindex(&self) -> u32 {
        self.ctx.ingress_ifindex() as u32
    }
    /// XDP runs before the kernel sets one: broadcast and multicast from the destination
    /// address, anything else as to this host.
    #[inline(always)]
    fn pkt_type(&self) -> u8 {
        let Some(p) = at::<Self, [u8; 6]>(self, 0) else {
            return pkt_type::HOST;
        };
        let lo = ld!(u32, p, 0);
        let hi = ld!(u16, p, 4);
        if lo == u32::MAX && hi == u16::MAX {
            pkt_type::BROADCAST
        } else if lo & 1 != 0 {
            pkt_type::MULTICAST
        } else {
            pkt_type::HOST
        }
    }
}

pub struct Tc<'a> {
    ctx: &'a TcContext,
}

impl<'a> Tc<'a> {
    #[inline(always)]
    pub fn new(ctx: &'a TcContext) -> Self {
        // No bpf_skb_pull_data: it would unshare and reallocate the head of cloned skbs
        // (every TCP segment on egress). Bytes outside the linear area are copied out with
        // bpf_skb_load_bytes instead; the skb is only ever read.
        Self { ctx }
    }
}

impl Frame for Tc<'_> {
    context_access!(bpf_skb_load_bytes);
    #[inline(always)]
    fn len(&self) -> u32 {
        self.ctx.len()
    }
    #[inline(always)]
    fn ifindex(&self) -> u32 {
        // SAFETY: reading a field of our own context.
        unsafe { (*self.ctx.skb.skb).ifindex }
    }
    #[inline(always)]
    fn pkt_type(&self) -> u8 {
        // SAFETY: reading a field of our own context.
        (unsafe { (*self.ctx.skb.skb).pkt_type } & 7) as u8
    }
}
