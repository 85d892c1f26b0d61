//! Builds one fixed-size record per accepted segment, straight into the ring buffer.
use aya_ebpf::helpers::bpf_ktime_get_ns;
use tcptrace_common::{FAMILY_V4, MAX_OPTIONS, MAX_SNAP, Record, SnapRecord, counter, status};

use crate::{
    csum,
    frame::{Frame, at, read},
    maps::{EVENTS, config, count},
    parse::Layers,
};

#[inline(always)]
fn be16(a: u8, b: u8) -> u16 {
    u16::from_be_bytes([a, b])
}

#[inline(always)]
fn be32(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

#[inline(always)]
pub fn emit<F: Frame>(f: &F, l: &Layers, direction: u8) {
    let snaplen = config().snaplen as u32;
    if snaplen != 0 {
        return emit_snap(f, l, direction, snaplen);
    }
    let Some(mut entry) = EVENTS.reserve::<Record>(0) else {
        count(counter::LOST);
        return;
    };
    // SAFETY: the entry is ours until submitted; `fill` writes every field.
    let r = unsafe { &mut *entry.as_mut_ptr() };
    if fill(f, l, direction, r) {
        entry.submit(0);
        count(counter::EMITTED);
    } else {
        entry.discard(0);
        count(counter::MALFORMED);
    }
}

/// `-w`: the record plus the first `snaplen` bytes of the frame, as they are.
#[inline(always)]
fn emit_snap<F: Frame>(f: &F, l: &Layers, direction: u8, snaplen: u32) {
    let Some(mut entry) = EVENTS.reserve::<SnapRecord>(0) else {
        count(counter::LOST);
        return;
    };
    // SAFETY: the entry is ours until submitted; every field is written below.
    let s = unsafe { &mut *entry.as_mut_ptr() };
    if !fill(f, l, direction, &mut s.rec) {
        entry.discard(0);
        count(counter::MALFORMED);
        return;
    }
    s._pad = 0;
    let want = if l.frame_len < snaplen {
        l.frame_len
    } else {
        snaplen
    };
    s.snap_len = 0;
    if want > 0 && want <= MAX_SNAP as u32 {
        // Masked so the verifier sees 1..=MAX_SNAP (a power of two).
        let len = (core::hint::black_box(want - 1) & (MAX_SNAP as u32 - 1)) + 1;
        // SAFETY: len <= MAX_SNAP = s.data.len().
        let dst = unsafe { core::slice::from_raw_parts_mut(s.data.as_mut_ptr(), len as usize) };
        if f.load(0, dst) {
            s.snap_len = len;
        }
    }
    entry.submit(0);
    count(counter::EMITTED);
}

/// Zeroes the record with 8-byte stores. (A plain `*r = Record::ZERO` becomes a call to
/// a byte-at-a-time memset, which the verifier walks byte by byte at every call site.)
#[inline(always)]
fn zero(r: &mut Record) {
    const WORDS: usize = core::mem::size_of::<Record>() / 8;
    const _: () = assert!(core::mem::size_of::<Record>().is_multiple_of(8));
    let p = r as *mut Record as *mut u64;
    for i in 0..WORDS {
        // SAFETY: i < WORDS, inside the record; volatile keeps LLVM from making a memset.
        unsafe { p.add(i).write_volatile(0) };
    }
}

#[inline(always)]
fn fill<F: Frame>(f: &F, l: &Layers, direction: u8, r: &mut Record) -> bool {
    zero(r);
    // SAFETY: helper without arguments.
    r.ts_ns = unsafe { bpf_ktime_get_ns() };
    r.ifindex = f.ifindex();
    r.frame_len = l.frame_len;
    r.direction = direction;
    r.family = l.family;
    r.status = l.status;
    r.l3_off = l.l3 as u16;
    r.l4_off = l.l4 as u16;
    r.vlan_count = l.vlan_count;
    r.vlan_ids = l.vlan_ids;
    r.ext_count = l.ext_count;
    r.exts = l.exts;
    if !fill_ip(f, l, r) {
        return false;
    }
    fill_tcp(f, l, r);
    fill_checksums(f, l, r);
    true
}

/// Marks whether the whole segment is there and, when `-v` asked for it, computes the
/// values the IPv4 header and TCP checksum fields should hold.
#[inline(always)]
fn fill_checksums<F: Frame>(f: &F, l: &Layers, r: &mut Record) {
    let want = config().checksums != 0;
    if want
        && l.family == FAMILY_V4
        && let Some(s) = csum::add_range(f, l.l3 as u32, l.ihl as u32, 0)
    {
        r.ip_csum_calc = csum::should_be(s, r.ip_csum);
        r.status |= status::CSUM_COMPUTED;
    }
    let l4 = l.l4 as u32;
    let tcp_len = if l.family == FAMILY_V4 {
        r.ip_len - l.ihl as u32
    } else {
        let ext = l4 - l.l3 as u32 - 40;
        if r.ip_len < ext {
            r.status |= status::CSUM_UNAVAILABLE;
            return;
        }
        r.ip_len - ext
    };
    if l4 + tcp_len > l.frame_len || tcp_len > 0xffff {
        r.status |= status::CSUM_UNAVAILABLE;
        return;
    }
    if !want {
        return;
    }
    let len = (tcp_len as u16).to_be_bytes();
    let seed = if l.family == FAMILY_V4 {
        let mut p = [0u8; 12];
        p[..4].copy_from_slice(&r.saddr[..4]);
        p[4..8].copy_from_slice(&r.daddr[..4]);
        p[9] = 6;
        p[10] = len[0];
        p[11] = len[1];
        csum::add_words(&mut p, 0)
    } else {
        let mut p = [0u8; 40];
        p[..16].copy_from_slice(&r.saddr);
        p[16..32].copy_from_slice(&r.daddr);
        p[34] = len[0];
        p[35] = len[1];
        p[39] = 6;
        csum::add_words(&mut p, 0)
    };
    match csum::add_range(f, l4, tcp_len, seed) {
        Some(s) => {
            r.tcp_csum_calc = csum::should_be(s, r.tcp_csum);
            r.status |= status::CSUM_COMPUTED;
        }
        None => r.status |= status::CSUM_UNAVAILABLE,
    }
}

#[inline(always)]
fn fill_ip<F: Frame>(f: &F, l: &Layers, r: &mut Record) -> bool {
    if l.family == FAMILY_V4 {
        let Some(ip) = at::<F, [u8; 20]>(f, l.l3) else {
            return false;
        };
        // SAFETY: checked by `at`.
        let ip = unsafe { &*ip };
        r.tos = ip[1];
        r.ip_len = be16(ip[2], ip[3]) as u32;
        r.ip_id = be16(ip[4], ip[5]) as u32;
        r.frag = be16(ip[6], ip[7]);
        r.ttl = ip[8];
        r.ip_csum = be16(ip[10], ip[11]);
        r.saddr[..4].copy_from_slice(&ip[12..16]);
        r.daddr[..4].copy_from_slice(&ip[16..20]);
        r.ihl = l.ihl;
    } else {
        let Some(ip) = at::<F, [u8; 40]>(f, l.l3) else {
            return false;
        };
        // SAFETY: checked by `at`.
        let ip = unsafe { &*ip };
        r.tos = (ip[0] << 4) | (ip[1] >> 4);
        r.flow_label = be32(0, ip[1] & 0x0f, ip[2], ip[3]);
        r.ip_len = be16(ip[4], ip[5]) as u32;
        r.ttl = ip[7];
        r.saddr.copy_from_slice(&ip[8..24]);
        r.daddr.copy_from_slice(&ip[24..40]);
        r.ip_id = l.frag_id;
        r.frag = l.frag_off;
    }
    true
}

#[inline(always)]
fn fill_tcp<F: Frame>(f: &F, l: &Layers, r: &mut Record) {
    let avail = l.l4_avail;
    r.tcp_caplen = if avail > 60 { 60 } else { avail as u8 };
    let h: [u8; 20] = if avail >= 20 {
        match read::<F, 20>(f, l.l4) {
            Some(h) => h,
            None => return,
        }
    } else {
        // Cut short (rare, never on the live path): take the bytes that are there; the
        // rest stays zero and is not printed. The length is masked into [1, 32] in a way
        // the verifier can follow (32 = the buffer's size).
        let mut buf = [0u8; 32];
        let n = avail;
        if n > 0 && n < 20 {
            let len = (core::hint::black_box(n - 1) & 0x1f) + 1;
            // SAFETY: len <= 32 = buf.len().
            let part = unsafe { core::slice::from_raw_parts_mut(buf.as_mut_ptr(), len as usize) };
            if !f.load(l.l4 as u32, part) {
                return;
            }
        }
        let mut h = [0u8; 20];
        h.copy_from_slice(&buf[..20]);
        h
    };
    r.sport = be16(h[0], h[1]);
    r.dport = be16(h[2], h[3]);
    r.seq = be32(h[4], h[5], h[6], h[7]);
    r.ack = be32(h[8], h[9], h[10], h[11]);
    r.doff = (h[12] >> 4) * 4;
    r.flags = h[13] as u16 | (((h[12] & 1) as u16) << 8);
    r.window = be16(h[14], h[15]);
    r.tcp_csum = be16(h[16], h[17]);
    r.urg_ptr = be16(h[18], h[19]);
    if avail < 13 {
        return;
    }
    if r.doff < 20 {
        r.status |= status::BAD_DOFF;
        count(counter::MALFORMED);
        return;
    }
    let want = (r.doff - 20) as u32;
    if want == 0 {
        return;
    }
    let have = avail.saturating_sub(20);
    let mut n = if have < want { have } else { want };
    if n < want {
        r.status |= status::OPT_TRUNCATED;
    }
    // Hide what the compiler knows of `n` so that the bounds checks below stay in the
    // code: the verifier must see them before the helper call.
    n = core::hint::black_box(n);
    if n == 0 || n > MAX_OPTIONS as u32 {
        return;
    }
    // SAFETY: n <= MAX_OPTIONS = r.options.len().
    let dst = unsafe { core::slice::from_raw_parts_mut(r.options.as_mut_ptr(), n as usize) };
    if f.load(l.l4 as u32 + 20, dst) {
        r.opt_len = n as u8;
    } else {
        r.status |= status::OPT_TRUNCATED;
    }
}
