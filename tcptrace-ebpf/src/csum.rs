//! Checksums for `-v`, computed only when userspace asks (`Config::checksums`): the
//! bytes are copied a chunk at a time into a per-CPU scratch buffer and summed with
//! `bpf_csum_diff`, so fragments and non-linear skbs are covered too.
use core::ffi::c_void;

use aya_ebpf::{
    helpers::{bpf_csum_diff, bpf_loop},
    macros::map,
    maps::PerCpuArray,
};

use crate::frame::Frame;

/// Bytes copied per step; summed in `bpf_csum_diff`'s 512-byte pieces.
const CHUNK: u32 = 4096;
const PIECE: u32 = 512;
/// Longest segment summed (IPv4/IPv6 payload lengths are 16-bit). Few, large steps keep
/// the verifier's work small.
const MAX_CHUNKS: u32 = 65536 / CHUNK + 1;

#[map]
static SCRATCH: PerCpuArray<[u8; CHUNK as usize]> = PerCpuArray::with_max_entries(1, 0);

/// State of one `add_range`, shared with the bpf_loop callback.
#[repr(C)]
struct SumCtx {
    raw: *mut c_void,
    off: u32,
    len: u32,
    done: u32,
    sum: u32,
    ok: u32,
}

/// Adds `len` bytes at `off` (little-endian 32-bit words, zero-padded) to the 32-bit
/// one's-complement sum `seed`. None if the bytes are not all there. The chunks are
/// walked with bpf_loop, so the verifier checks one chunk, not every one.
#[inline(always)]
pub fn add_range<F: Frame>(f: &F, off: u32, len: u32, seed: u32) -> Option<u32> {
    let mut c = SumCtx {
        raw: f.raw(),
        off,
        len,
        done: 0,
        sum: seed,
        ok: 1,
    };
    // SAFETY: `sum_chunk` has the callback signature bpf_loop expects; `c` outlives the call.
    unsafe {
        bpf_loop(
            MAX_CHUNKS,
            sum_chunk::<F> as *mut c_void,
            (&mut c as *mut SumCtx).cast(),
            0,
        )
    };
    (c.ok != 0 && c.done == len).then_some(c.sum)
}

/// One chunk: returns 0 to go on, 1 when done or failed.
#[inline(never)]
extern "C" fn sum_chunk<F: Frame>(_i: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: bpf_loop hands back the pointer add_range gave it.
    let c = unsafe { &mut *(ctx as *mut SumCtx) };
    match chunk::<F>(c) {
        Some(true) => 0,
        Some(false) => 1,
        None => {
            c.ok = 0;
            1
        }
    }
}

/// Sums the next chunk into `c`; Some(true) when more remain.
#[inline(always)]
fn chunk<F: Frame>(c: &mut SumCtx) -> Option<bool> {
    let buf = SCRATCH.get_ptr_mut(0)? as *mut u8;
    if c.done >= c.len {
        return Some(false);
    }
    let left = c.len - c.done;
    let at = c.off + c.done;
    if left >= CHUNK {
        // SAFETY: the scratch buffer holds CHUNK bytes.
        let dst = unsafe { core::slice::from_raw_parts_mut(buf, CHUNK as usize) };
        if !F::load_raw(c.raw, at, dst) {
            return None;
        }
        for p in 0..CHUNK / PIECE {
            // SAFETY: p * PIECE + PIECE <= CHUNK, all of it initialised.
            let piece = unsafe { buf.add((p * PIECE) as usize) };
            let r = unsafe { bpf_csum_diff(core::ptr::null_mut(), 0, piece.cast(), PIECE, c.sum) };
            if r < 0 {
                return None;
            }
            c.sum = r as u32;
        }
        c.done += CHUNK;
        return Some(c.done < c.len);
    }
    // The tail: zero the word it ends in, copy it over, sum it zero-padded to 4 bytes.
    // Lengths are masked in ways the verifier can follow.
    let word = core::hint::black_box(left) & (CHUNK - 4);
    // SAFETY: word <= CHUNK - 4, so the 4 bytes are inside the buffer.
    unsafe { (buf.add(word as usize) as *mut u32).write_unaligned(0) };
    let copy = (core::hint::black_box(left - 1) & (CHUNK - 1)) + 1;
    // SAFETY: copy <= CHUNK.
    let dst = unsafe { core::slice::from_raw_parts_mut(buf, copy as usize) };
    if !F::load_raw(c.raw, at, dst) {
        return None;
    }
    let n = core::hint::black_box(left + 3) & (2 * CHUNK - 4);
    if n == 0 || n > CHUNK {
        return None;
    }
    let mut pos = 0u32;
    for _ in 0..CHUNK / PIECE {
        if pos >= n {
            break;
        }
        let rest = n - pos;
        let step = if rest > PIECE { PIECE } else { rest };
        let step = core::hint::black_box(step) & (2 * PIECE - 4);
        if step == 0 || step > PIECE || pos > CHUNK - PIECE {
            return None;
        }
        // SAFETY: pos + step <= CHUNK, initialised, step % 4 == 0.
        let piece = unsafe { buf.add(pos as usize) };
        let r = unsafe { bpf_csum_diff(core::ptr::null_mut(), 0, piece.cast(), step, c.sum) };
        if r < 0 {
            return None;
        }
        c.sum = r as u32;
        pos += step;
    }
    c.done = c.len;
    Some(false)
}

/// Adds a small stack buffer (length a multiple of 4) to the sum.
#[inline(always)]
pub fn add_words(words: &mut [u8], seed: u32) -> u32 {
    // SAFETY: `words` is valid for its length, a multiple of 4 by the callers' contract.
    let r = unsafe {
        bpf_csum_diff(
            core::ptr::null_mut(),
            0,
            words.as_mut_ptr().cast(),
            words.len() as u32,
            seed,
        )
    };
    if r < 0 { seed } else { r as u32 }
}

/// The value a checksum field should hold, given the sum over everything including the
/// field's current value `wire` (host order, as read big-endian from the packet).
#[inline(always)]
pub fn should_be(sum: u32, wire: u16) -> u16 {
    // The sum is over little-endian words; the field's bytes in that order are swapped.
    let wire_le = wire.swap_bytes();
    let mut s = sum as u64 + (!wire_le) as u64;
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    (!(s as u16)).swap_bytes()
}
