//! musl's `memcpy` (`rep movsq`) pays a fixed start-up cost that dominates the short
//! copies of the per-segment path (records, addresses, option bytes, text): the static
//! binary read records at half the glibc build's rate. The static build links with
//! `--wrap=memcpy` (build.rs): copies up to 256 bytes are done here with overlapping
//! unaligned loads and stores (at most 64 bytes each, which the compiler never turns back
//! into a call), longer ones go to musl's.
use std::ptr::{read_unaligned as ld, write_unaligned as st};

unsafe extern "C" {
    fn __real_memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
}

/// # Safety
/// `memcpy`'s contract: `n` bytes readable at `src`, writable at `dst`, not overlapping.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wrap_memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: every access is within the first `n` bytes of both buffers; all loads come
    // before the stores of each pair, so the overlap of the two halves is harmless. The
    // typed accesses compile to moves, never to a call to `memcpy`.
    unsafe {
        match n {
            0 => {}
            1..=3 => {
                let (a, b, c) = (*src, *src.add(n / 2), *src.add(n - 1));
                *dst = a;
                *dst.add(n / 2) = b;
                *dst.add(n - 1) = c;
            }
            4..=7 => {
                let (a, b) = (ld(src.cast::<u32>()), ld(src.add(n - 4).cast::<u32>()));
                st(dst.cast::<u32>(), a);
                st(dst.add(n - 4).cast::<u32>(), b);
            }
            8..=16 => {
                let (a, b) = (ld(src.cast::<u64>()), ld(src.add(n - 8).cast::<u64>()));
                st(dst.cast::<u64>(), a);
                st(dst.add(n - 8).cast::<u64>(), b);
            }
            17..=32 => {
                let (a, b) = (ld(src.cast::<u128>()), ld(src.add(n - 16).cast::<u128>()));
                st(dst.cast::<u128>(), a);
                st(dst.add(n - 16).cast::<u128>(), b);
            }
            33..=64 => {
                let a = ld(src.cast::<[u128; 2]>());
                let b = ld(src.add(n - 32).cast::<[u128; 2]>());
                st(dst.cast::<[u128; 2]>(), a);
                st(dst.add(n - 32).cast::<[u128; 2]>(), b);
            }
            65..=128 => {
                let a = ld(src.cast::<[u128; 4]>());
                let b = ld(src.add(n - 64).cast::<[u128; 4]>());
                st(dst.cast::<[u128; 4]>(), a);
                st(dst.add(n - 64).cast::<[u128; 4]>(), b);
            }
            // Records and decoded segments (160–250 bytes) moved by value.
            129..=256 => {
                let a = ld(src.cast::<[u128; 4]>());
                let b = ld(src.add(64).cast::<[u128; 4]>());
                let c = ld(src.add(n - 128).cast::<[u128; 4]>());
                let d = ld(src.add(n - 64).cast::<[u128; 4]>());
                st(dst.cast::<[u128; 4]>(), a);
                st(dst.add(64).cast::<[u128; 4]>(), b);
                st(dst.add(n - 128).cast::<[u128; 4]>(), c);
                st(dst.add(n - 64).cast::<[u128; 4]>(), d);
            }
            _ => return __real_memcpy(dst, src, n),
        }
    }
    dst
}
