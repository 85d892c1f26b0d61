//! Builds one fixed-size record per accepted segment, straight into the ring buffer.
use aya_ebpf::helpers::bpf_ktime_get_ns;
use tcptrace_common::{
    DIR_EGRESS, FAMILY_V4, MAX_OPTIONS, MAX_SNAP, MAX_TAIL, Record, SnapRecord, TailRecord,
    counter, encap,
    fate::{IcmpRecord, item},
    pkt_type, status,
};

use crate::{
    csum,
    frame::{Frame, at, ld, opaque, read},
    maps::{Counts, EVENTS, snaplen, submit_flags, want_checksums},
    parse::Layers,
};

#[inline(always)]
pub fn emit<F: Frame>(f: &F, l: &Layers, direction: u8, c: Counts) {
    if l.icmp != 0 {
        return emit_icmp(f, l, direction, c);
    }
    let snaplen = snaplen();
    if snaplen != 0 {
        return emit_snap(f, l, direction, snaplen, c);
    }
    let tail_at = if l.family == FAMILY_V4 {
        l.l3 + 20
    } else {
        l.l3 + 40
    };
    if l.l4 > tail_at || l.pppoe != 0 || l.outer != 0 {
        // A tunnel's tail starts at the outer IP header.
        let start = if l.outer != 0 {
            l.outer as usize
        } else {
            tail_at
        };
        return emit_tail(f, l, direction, start, c);
    }
    let Some(mut entry) = EVENTS.reserve::<Record>(0) else {
        c.add(counter::LOST);
        return;
    };
    // SAFETY: the entry is ours until submitted; `fill` writes every field.
    let r = unsafe { &mut *entry.as_mut_ptr() };
    if fill(f, l, direction, r, c) {
        entry.submit(submit_flags(r.ts_ns));
        c.add(counter::EMITTED);
    } else {
        entry.discard(0);
        c.add(counter::MALFORMED);
    }
}

/// `-w`: the record plus the first `snaplen` bytes of the frame, as they are.
#[inline(always)]
fn emit_snap<F: Frame>(f: &F, l: &Layers, direction: u8, snaplen: u32, c: Counts) {
    let Some(mut entry) = EVENTS.reserve::<SnapRecord>(0) else {
        c.add(counter::LOST);
        return;
    };
    // SAFETY: the entry is ours until submitted; every field is written below.
    let s = unsafe { &mut *entry.as_mut_ptr() };
    if !fill(f, l, direction, &mut s.rec, c) {
        entry.discard(0);
        c.add(counter::MALFORMED);
        return;
    }
    s._pad = 0;
    s.outer_off = l.outer;
    let want = if l.frame_len < snaplen {
        l.frame_len
    } else {
        snaplen
    };
    s.snap_len = 0;
    if want > 0 && want <= MAX_SNAP as u32 {
        // Masked so the verifier sees 1..=MAX_SNAP (a power of two).
        let len = (opaque((want - 1) as usize) as u32 & (MAX_SNAP as u32 - 1)) + 1;
        // SAFETY: len <= MAX_SNAP = s.data.len().
        let dst = unsafe { core::slice::from_raw_parts_mut(s.data.as_mut_ptr(), len as usize) };
        if f.load(0, dst) {
            s.snap_len = len;
        }
    }
    entry.submit(submit_flags(s.rec.ts_ns));
    c.add(counter::EMITTED);
}

/// A packet with IPv4 options, IPv6 extension headers, PPPoE or a tunnel: the record plus
/// the header bytes from `tail_at` to TCP (a [`TailRecord`]; plain segments never pay).
#[inline(always)]
fn emit_tail<F: Frame>(f: &F, l: &Layers, direction: u8, tail_at: usize, c: Counts) {
    let Some(mut entry) = EVENTS.reserve::<TailRecord>(0) else {
        c.add(counter::LOST);
        return;
    };
    // SAFETY: the entry is ours until submitted; every field read back is written below.
    let s = unsafe { &mut *entry.as_mut_ptr() };
    if !fill(f, l, direction, &mut s.rec, c) {
        entry.discard(0);
        c.add(counter::MALFORMED);
        return;
    }
    s._pad = 0;
    s.outer_len = if l.outer != 0 {
        (l.l3 - l.outer as usize) as u16
    } else {
        0
    };
    s.tail_len = 0;
    s.encap = if l.pppoe != 0 { encap::PPPOE } else { 0 };
    s.pppoe_session = l.pppoe as u16;
    let want = l.l4.saturating_sub(tail_at);
    let n = if want > MAX_TAIL {
        s.rec.status |= status::TAIL_CUT;
        MAX_TAIL
    } else {
        want
    };
    if n > 0 {
        // Masked so the verifier sees 1..=MAX_TAIL (a power of two).
        let len = (opaque(n - 1) & (MAX_TAIL - 1)) + 1;
        // SAFETY: len <= MAX_TAIL = s.tail.len().
        let dst = unsafe { core::slice::from_raw_parts_mut(s.tail.as_mut_ptr(), len) };
        if f.load(tail_at as u32, dst) {
            s.tail_len = len as u16;
        }
    }
    entry.submit(submit_flags(s.rec.ts_ns));
    c.add(counter::EMITTED);
}

/// An ICMP error quoting a traced segment: the quoted segment's record, the error's own
/// IP and ICMP header (an [`IcmpRecord`]).
#[inline(always)]
fn emit_icmp<F: Frame>(f: &F, l: &Layers, direction: u8, c: Counts) {
    let Some(mut entry) = EVENTS.reserve::<IcmpRecord>(0) else {
        c.add(counter::LOST);
        return;
    };
    // SAFETY: the entry is ours until submitted; every field is written below.
    let s = unsafe { &mut *entry.as_mut_ptr() };
    if !fill(f, l, direction, &mut s.rec, c) || !fill_icmp(f, l, s) {
        entry.discard(0);
        c.add(counter::MALFORMED);
        return;
    }
    entry.submit(submit_flags(s.rec.ts_ns));
    c.add(counter::EMITTED);
}

/// The error's IP header (at `l.outer`) and ICMP header (right before the quoted one).
#[inline(always)]
fn fill_icmp<F: Frame>(f: &F, l: &Layers, s: &mut IcmpRecord) -> bool {
    let outer = l.outer as usize;
    if l.l3 < outer + 8 {
        return false;
    }
    // Masked so that the verifier sees a non-negative offset.
    let icmp_at = (l.l3 - 8) & 0x3ff;
    let Some(h) = at::<F, [u8; 8]>(f, icmp_at) else {
        return false;
    };
    s.kind = item::ICMP;
    s.icmp_type = ld!(u8, h, 0);
    s.icmp_code = ld!(u8, h, 1);
    s.icmp_csum = u16::from_be(ld!(u16, h, 2));
    s.rest = ld!(u32, h, 4).to_ne_bytes();
    s.l3_off = outer as u16;
    s.icmp_status = if want_checksums() {
        status::CSUM_COMPUTED as u8
    } else {
        0
    };
    s._pad = [0; 6];
    s.ip_csum_calc = 0;
    s.icmp_csum_calc = 0;
    s.saddr = [0; 16];
    s.daddr = [0; 16];
    let v4 = s.rec.family == FAMILY_V4;
    let mut seed = 0;
    let icmp_len;
    if v4 {
        let Some(ip) = at::<F, [u8; 20]>(f, outer) else {
            return false;
        };
        s.tos = ld!(u8, ip, 1);
        s.ip_len = u16::from_be(ld!(u16, ip, 2));
        s.ip_id = u16::from_be(ld!(u16, ip, 4));
        s.frag = u16::from_be(ld!(u16, ip, 6));
        s.ttl = ld!(u8, ip, 8);
        s.ip_csum = u16::from_be(ld!(u16, ip, 10));
        s.flow_label = 0;
        let (src, dst) = (ld!(u32, ip, 12), ld!(u32, ip, 16));
        s.saddr[..4].copy_from_slice(&src.to_ne_bytes());
        s.daddr[..4].copy_from_slice(&dst.to_ne_bytes());
        let ihl = icmp_at.wrapping_sub(outer) & 0x3c;
        s.ihl = ihl as u8;
        icmp_len = (s.ip_len as usize).wrapping_sub(ihl) as u32;
        if want_checksums()
            && let Some(sum) = csum::add_range(f, outer as u32, ihl as u32, 0)
        {
            s.ip_csum_calc = csum::should_be(sum, s.ip_csum);
        }
    } else {
        let Some(ip) = at::<F, [u8; 40]>(f, outer) else {
            return false;
        };
        let w0 = u32::from_be(ld!(u32, ip, 0));
        s.tos = (w0 >> 20) as u8;
        s.flow_label = w0 & 0x000f_ffff;
        s.ip_len = u16::from_be(ld!(u16, ip, 4));
        s.ip_id = 0;
        s.frag = 0;
        s.ip_csum = 0;
        s.ttl = ld!(u8, ip, 7);
        s.ihl = 0;
        let words = [
            ld!(u32, ip, 8),
            ld!(u32, ip, 12),
            ld!(u32, ip, 16),
            ld!(u32, ip, 20),
            ld!(u32, ip, 24),
            ld!(u32, ip, 28),
            ld!(u32, ip, 32),
            ld!(u32, ip, 36),
        ];
        let mut p = [0u8; 40];
        for (i, w) in words.into_iter().enumerate() {
            p[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
        }
        s.saddr.copy_from_slice(&p[..16]);
        s.daddr.copy_from_slice(&p[16..32]);
        icmp_len = s.ip_len as u32;
        // The pseudo-header: addresses, upper-layer length, next header 58.
        let len = (s.ip_len).to_be_bytes();
        p[32..40].copy_from_slice(&[0, 0, len[0], len[1], 0, 0, 0, 58]);
        seed = csum::add_words(&mut p, 0);
    }
    if icmp_at as u32 + icmp_len > l.frame_len || icmp_len > 0xffff {
        s.icmp_status |= status::CSUM_UNAVAILABLE as u8;
    } else if want_checksums() {
        match csum::add_range(f, icmp_at as u32, icmp_len, seed) {
            Some(sum) => s.icmp_csum_calc = csum::should_be(sum, s.icmp_csum),
            None => s.icmp_status |= status::CSUM_UNAVAILABLE as u8,
        }
    }
    true
}

/// Zeroes the record with 8-byte stores. (A plain `*r = Record::ZERO` becomes a call to
/// a byte-at-a-time memset, which the verifier walks byte by byte at every call site.)
#[inline(always)]
pub fn zero(r: &mut Record) {
    const WORDS: usize = core::mem::size_of::<Record>() / 8;
    const _: () = assert!(core::mem::size_of::<Record>().is_multiple_of(8));
    let p = r as *mut Record as *mut u64;
    for i in 0..WORDS {
        // SAFETY: i < WORDS, inside the record; volatile keeps LLVM from making a memset.
        unsafe { p.add(i).write_volatile(0) };
    }
}

#[inline(always)]
fn fill<F: Frame>(f: &F, l: &Layers, direction: u8, r: &mut Record, c: Counts) -> bool {
    zero(r);
    // SAFETY: helper without arguments.
    r.ts_ns = unsafe { bpf_ktime_get_ns() };
    r.ifindex = f.ifindex();
    r.frame_len = l.frame_len;
    r.direction = direction;
    r.pkt_type = if direction == DIR_EGRESS {
        pkt_type::OUTGOING
    } else {
        f.pkt_type()
    };
    r.family = l.family;
    r.status = l.status;
    r.l3_off = l.l3 as u16;
    r.l4_off = l.l4 as u16;
    r.vlan_count = l.vlan_count;
    r.vlan_ids = [l.vlan_id(0), l.vlan_id(1)];
    r.ext_count = l.ext_count;
    let exts = l.exts.to_le_bytes();
    for (i, e) in r.exts.iter_mut().enumerate() {
        *e = exts[i];
    }
    if !fill_ip(f, l, r) {
        return false;
    }
    fill_tcp(f, l, r, c);
    fill_checksums(f, l, r);
    true
}

/// Marks whether the whole segment is there and, when `-v` asked for it, computes the
/// values the IPv4 header and TCP checksum fields should hold.
#[inline(always)]
fn fill_checksums<F: Frame>(f: &F, l: &Layers, r: &mut Record) {
    let want = want_checksums();
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
    let saddr = r.saddr.as_mut_ptr() as *mut u32;
    let daddr = r.daddr.as_mut_ptr() as *mut u32;
    if l.family == FAMILY_V4 {
        let Some(ip) = at::<F, [u8; 20]>(f, l.l3) else {
            return false;
        };
        r.tos = ld!(u8, ip, 1);
        r.ip_len = u16::from_be(ld!(u16, ip, 2)) as u32;
        r.ip_id = u16::from_be(ld!(u16, ip, 4)) as u32;
        r.frag = u16::from_be(ld!(u16, ip, 6));
        r.ttl = ld!(u8, ip, 8);
        r.ip_csum = u16::from_be(ld!(u16, ip, 10));
        let (src, dst) = (ld!(u32, ip, 12), ld!(u32, ip, 16));
        // SAFETY: the address fields are 16 bytes at 4-aligned offsets of the record.
        unsafe {
            saddr.write(src);
            daddr.write(dst);
        }
        r.ihl = l.ihl;
    } else {
        let Some(ip) = at::<F, [u8; 40]>(f, l.l3) else {
            return false;
        };
        let w0 = u32::from_be(ld!(u32, ip, 0));
        r.tos = (w0 >> 20) as u8;
        r.flow_label = w0 & 0x000f_ffff;
        r.ip_len = u16::from_be(ld!(u16, ip, 4)) as u32;
        r.ttl = ld!(u8, ip, 7);
        let words = [
            ld!(u32, ip, 8),
            ld!(u32, ip, 12),
            ld!(u32, ip, 16),
            ld!(u32, ip, 20),
            ld!(u32, ip, 24),
            ld!(u32, ip, 28),
            ld!(u32, ip, 32),
            ld!(u32, ip, 36),
        ];
        for (i, w) in words.into_iter().enumerate() {
            // SAFETY: as above; words 0..4 go to saddr, 4..8 to daddr.
            unsafe {
                if i < 4 {
                    saddr.add(i).write(w);
                } else {
                    daddr.add(i - 4).write(w);
                }
            }
        }
        r.ip_id = l.frag_id;
        r.frag = l.frag_off;
    }
    true
}

/// The TCP header's fixed part as five 32-bit words (wire bytes, native order).
#[inline(always)]
fn tcp_words<F: Frame>(f: &F, l: &Layers) -> Option<[u32; 5]> {
    if let Some(h) = at::<F, [u8; 20]>(f, l.l4) {
        return Some([
            ld!(u32, h, 0),
            ld!(u32, h, 4),
            ld!(u32, h, 8),
            ld!(u32, h, 12),
            ld!(u32, h, 16),
        ]);
    }
    let avail = l.l4_avail;
    let h: [u8; 20] = if avail >= 20 {
        read::<F, 20>(f, l.l4)?
    } else {
        // Cut short (rare, never on the live path): take the bytes that are there; the
        // rest stays zero and is not printed. The length is masked into [1, 32] in a way
        // the verifier can follow (32 = the buffer's size).
        let mut buf = [0u8; 32];
        let n = avail;
        if n > 0 && n < 20 {
            let len = (opaque((n - 1) as usize) & 0x1f) + 1;
            // SAFETY: len <= 32 = buf.len().
            let part = unsafe { core::slice::from_raw_parts_mut(buf.as_mut_ptr(), len) };
            if !f.load(l.l4 as u32, part) {
                return None;
            }
        }
        let mut h = [0u8; 20];
        h.copy_from_slice(&buf[..20]);
        h
    };
    let w = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    Some([w(0), w(4), w(8), w(12), w(16)])
}

#[inline(always)]
fn fill_tcp<F: Frame>(f: &F, l: &Layers, r: &mut Record, c: Counts) {
    let avail = l.l4_avail;
    r.tcp_caplen = if avail > 60 { 60 } else { avail as u8 };
    let Some(h) = tcp_words(f, l) else {
        return;
    };
    r.sport = u16::from_be(h[0] as u16);
    r.dport = u16::from_be((h[0] >> 16) as u16);
    r.seq = u32::from_be(h[1]);
    r.ack = u32::from_be(h[2]);
    let (off_byte, flag_byte) = (h[3] as u8, (h[3] >> 8) as u8);
    r.doff = (off_byte >> 4) * 4;
    r.flags = flag_byte as u16 | (((off_byte & 1) as u16) << 8);
    r.window = u16::from_be((h[3] >> 16) as u16);
    r.tcp_csum = u16::from_be(h[4] as u16);
    r.urg_ptr = u16::from_be((h[4] >> 16) as u16);
    if avail < 13 {
        return;
    }
    if r.doff < 20 {
        r.status |= status::BAD_DOFF;
        c.add(counter::MALFORMED);
        return;
    }
    let want = (r.doff - 20) as u32;
    if want == 0 {
        return;
    }
    let have = avail.saturating_sub(20);
    let n = if have < want { have } else { want };
    if n < want {
        r.status |= status::OPT_TRUNCATED;
    }
    // Hide what the compiler knows of `n` so that the bounds checks below stay in the
    // code: the verifier must see them before the helper call.
    let n = opaque(n as usize);
    if n == 0 || n > MAX_OPTIONS {
        return;
    }
    // Usual case: all 40 bytes after the fixed header are in the linear area; copy them
    // as five words and keep the `n` that are options (the rest stays zero).
    if let Some(p) = at::<F, [u8; MAX_OPTIONS]>(f, l.l4 + 20) {
        let words = [
            ld!(u64, p, 0),
            ld!(u64, p, 8),
            ld!(u64, p, 16),
            ld!(u64, p, 24),
            ld!(u64, p, 32),
        ];
        let dst = r.options.as_mut_ptr() as *mut u64;
        for (i, w) in words.into_iter().enumerate() {
            let have = n.saturating_sub(8 * i);
            let w = if have >= 8 {
                w
            } else {
                w & ((1u64 << (8 * have)) - 1)
            };
            // SAFETY: `options` is 40 bytes at an 8-aligned offset of the record.
            unsafe { dst.add(i).write(w) };
        }
        r.opt_len = n as u8;
        return;
    }
    // SAFETY: n <= MAX_OPTIONS = r.options.len().
    let dst = unsafe { core::slice::from_raw_parts_mut(r.options.as_mut_ptr(), n) };
    if f.load(l.l4 as u32 + 20, dst) {
        r.opt_len = n as u8;
    } else {
        r.status |= status::OPT_TRUNCATED;
    }
}
