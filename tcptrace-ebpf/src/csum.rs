//! Checksums for `-v`, computed only when userspace asks (`Config::checksums`): the
//! bytes are copied a chunk at a time into a per-CPU scratch buffer and summed with
//! `bpf_csum_diff`, so fragments and non-linear skbs are covered too.
use aya_ebpf::{helpers::bpf_csum_diff, macros::map, maps::PerCpuArray};

use crate::frame::Frame;

const CHUNK: u32 = 512;
/// Longest segment summed (IPv4/IPv6 payload lengths are 16-bit).
const MAX_CHUNKS: u32 = 65536 / CHUNK;

#[map]
static SCRATCH: PerCpuArray<[u8; CHUNK as usize]> = PerCpuArray::with_max_entries(1, 0);

/// Adds `len` bytes at `off` (little-endian 32-bit words, zero-padded) to the 32-bit
/// one's-complement sum `seed`. None if the bytes are not all there.
#[inline(always)]
pub fn add_range<F: Frame>(f: &F, off: u32, len: u32, seed: u32) -> Option<u32> {
    let buf = SCRATCH.get_ptr_mut(0)?;
    let buf = buf as *mut u8;
    let mut sum = seed;
    let mut done = 0u32;
    for _ in 0..MAX_CHUNKS {
        let left = len - done;
        if left == 0 {
            break;
        }
        let n = if left >= CHUNK {
            // SAFETY: the scratch buffer holds CHUNK bytes.
            let dst = unsafe { core::slice::from_raw_parts_mut(buf, CHUNK as usize) };
            if !f.load(off + done, dst) {
                return None;
            }
            CHUNK
        } else {
            // Zero the word the tail ends in, then copy the tail over it. Lengths are
            // masked in ways the verifier can follow.
            let word = core::hint::black_box(left) & (CHUNK - 4);
            // SAFETY: word <= CHUNK - 4, so the 4 bytes are inside the buffer.
            unsafe { (buf.add(word as usize) as *mut u32).write_unaligned(0) };
            let copy = (core::hint::black_box(left - 1) & (CHUNK - 1)) + 1;
            // SAFETY: copy <= CHUNK.
            let dst = unsafe { core::slice::from_raw_parts_mut(buf, copy as usize) };
            if !f.load(off + done, dst) {
                return None;
            }
            let padded = core::hint::black_box(left + 3) & (2 * CHUNK - 4);
            if padded == 0 || padded > CHUNK {
                return None;
            }
            padded
        };
        // SAFETY: `n` bytes of the scratch buffer are initialised and n % 4 == 0.
        let r = unsafe { bpf_csum_diff(core::ptr::null_mut(), 0, buf.cast(), n, sum) };
        if r < 0 {
            return None;
        }
        sum = r as u32;
        done += if n > left { left } else { n };
    }
    if done != len {
        return None;
    }
    Some(sum)
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
