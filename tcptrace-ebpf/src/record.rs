//! The one writer of segment items: builds the [`Seg`] item of an accepted segment in a
//! per-CPU scratch buffer, then sends it as it is (a plain segment: only the bytes it
//! carries) or inside a tail, snap or ICMP item ([`Wide`]).
use aya_ebpf::helpers::bpf_ktime_get_ns;
use tcptrace_common::{
    DIR_EGRESS, FAMILY_V4, MAX_OPTIONS, MAX_SNAP, MAX_TAIL, counter, encap,
    fate::IcmpRecord,
    item::{Csums, SEG_MAX, Seg, SnapItem, TailItem, Wide, kind, meta},
    pkt_type, status,
};

use crate::{
    csum,
    frame::{Frame, at, ld, opaque, read},
    maps::{
        Counts, SEG_BUF, Scratch, ring, snaplen, submit_flags, want_checksums, want_csum_fields,
    },
    parse::Layers,
};

const SEG_WORDS: usize = SEG_MAX / 8;
const HEAD: usize = core::mem::size_of::<Seg>();
const CSUMS: usize = core::mem::size_of::<Csums>();

/// A [`Seg`] item being built (this CPU's `SEG_BUF`): 8-aligned, as long as the longest.
type Buf = [u64; SEG_WORDS];

/// What [`fill`] found beyond the item's bytes (read back from [`Scratch`]).
struct Filled {
    /// Length of the `Seg` item.
    len: usize,
    ts: u64,
    status: u16,
    tcp_caplen: u8,
}

#[inline(always)]
pub fn emit<F: Frame>(f: &F, l: &Layers, direction: u8, c: Counts) {
    let Some(p) = SEG_BUF.get_ptr_mut(0) else {
        return;
    };
    for i in 0..SEG_WORDS {
        // SAFETY: i < SEG_WORDS, inside this CPU's buffer; volatile keeps LLVM from making
        // a memset (a call the verifier walks byte by byte).
        unsafe { (p as *mut u64).add(i).write_volatile(0) };
    }
    // SAFETY: this CPU's buffer, ours until the program ends (programs do not nest on a
    // CPU for these hooks).
    let sc = unsafe { &mut *p };
    if fill(f, l, direction, sc, c).is_none() {
        c.add(counter::MALFORMED);
        return;
    }
    // SAFETY: fields of this CPU's scratch, read back from memory (volatile).
    let (w, ip_total) = unsafe {
        (
            Filled {
                len: core::ptr::read_volatile(&sc.len) as usize,
                ts: core::ptr::read_volatile(&sc.ts),
                status: core::ptr::read_volatile(&sc.status) as u16,
                tcp_caplen: core::ptr::read_volatile(&sc.tcp_caplen) as u8,
            },
            core::ptr::read_volatile(&sc.ip_total),
        )
    };
    let b = &sc.seg;
    if l.icmp != 0 {
        return emit_icmp(f, l, b, &w, c);
    }
    let snaplen = snaplen();
    if snaplen != 0 {
        return emit_snap(f, l, b, &w, snaplen, c);
    }
    if !plain(l, &w, ip_total) {
        // A tunnel's tail starts at the outer IP header.
        let start = if l.outer != 0 {
            l.outer as usize
        } else if l.family == FAMILY_V4 {
            l.l3 + 20
        } else {
            l.l3 + 40
        };
        return emit_tail(f, l, b, &w, start, c);
    }
    // Masked so the verifier sees the length inside the buffer.
    let len = opaque(w.len) & (SEG_MAX - 1);
    // SAFETY: len < SEG_MAX bytes of the buffer, all written.
    let bytes = unsafe { core::slice::from_raw_parts(b.as_ptr() as *const u8, len) };
    if let Some(r) = ring()
        && r.output_untyped::<[u8]>(bytes, submit_flags(r, w.ts))
            .is_ok()
    {
        c.add(counter::EMITTED);
    } else {
        c.add(counter::LOST);
    }
}

/// Whether the `Seg` item says all there is to say: no IP options or extension headers,
/// VLAN tag, PPPoE or tunnel, the whole datagram in the frame, nothing odd.
#[inline(always)]
fn plain(l: &Layers, w: &Filled, ip_total: u32) -> bool {
    let hdrs = if l.family == FAMILY_V4 { 20 } else { 40 };
    let after = l.frame_len.saturating_sub(l.l4 as u32);
    l.l4 == l.l3 + hdrs
        && l.l3 < 256
        && l.pppoe == 0
        && l.outer == 0
        && l.vlan_count == 0
        && w.status & !status::CSUM_COMPUTED == 0
        && l.frame_len == l.l3 as u32 + ip_total
        && w.tcp_caplen as u32 == if after > 60 { 60 } else { after }
}

/// The fields of a [`Wide`] segment and its `Seg` item, of kind `kind` and `len` bytes.
#[inline(always)]
fn wide(d: &mut Wide, k: u8, len: usize, l: &Layers, b: &Buf, w: &Filled) {
    d.hdr.kind = k;
    d.hdr.meta = 0;
    d.hdr.len = len as u16;
    d.frame_len = l.frame_len;
    d.l3_off = l.l3 as u16;
    d.l4_off = l.l4 as u16;
    d.status = w.status;
    d.ihl = if l.family == FAMILY_V4 { l.ihl } else { 0 };
    d.tcp_caplen = w.tcp_caplen;
    d.frag_id = l.frag_id;
    d.frag_off = l.frag_off;
    d.ext_count = l.ext_count;
    d.vlan_count = l.vlan_count;
    let exts = l.exts.to_le_bytes();
    for (i, e) in d.exts.iter_mut().enumerate() {
        *e = exts[i];
    }
    d._pad = 0;
    d.vlan_ids = [l.vlan_id(0), l.vlan_id(1)];
    d._pad2 = 0;
    let dst = d.seg.as_mut_ptr() as *mut u64;
    for (i, v) in b.iter().enumerate() {
        // SAFETY: `seg` is SEG_MAX bytes at an 8-aligned offset.
        unsafe { dst.add(i).write(*v) };
    }
}

/// Reserves an item of type `$t` and kind `$k`, writes its segment, runs `$rest` (with
/// the item as `$s`) to write every other field, and submits the item, or discards it,
/// counted malformed, when `$rest` is false (the packet was not what it seemed). A macro,
/// not a function taking a closure: that one grew the stack past the verifier's limit.
macro_rules! emit_wide {
    ($t:ty, $k:expr, $l:expr, $b:expr, $w:expr, $c:expr, |$s:ident| $rest:block) => {{
        let Some(ring) = ring() else {
            $c.add(counter::LOST);
            return;
        };
        let Some(mut entry) = ring.reserve_untyped::<$t>(0) else {
            $c.add(counter::LOST);
            return;
        };
        // SAFETY: the entry is ours until submitted; `wide` and `$rest` write every field.
        let $s = unsafe { &mut *entry.as_mut_ptr() };
        wide(&mut $s.wide, $k, core::mem::size_of::<$t>(), $l, $b, $w);
        if !$rest {
            entry.discard(0);
            $c.add(counter::MALFORMED);
            return;
        }
        entry.submit(submit_flags(ring, $w.ts));
        $c.add(counter::EMITTED);
    }};
}

/// `-w`: the segment plus the first `snaplen` bytes of the frame, as they are.
#[inline(always)]
fn emit_snap<F: Frame>(f: &F, l: &Layers, b: &Buf, w: &Filled, snaplen: u32, c: Counts) {
    emit_wide!(SnapItem, kind::SNAP, l, b, w, c, |s| {
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
        true
    })
}

/// A segment that is not plain (IPv4 options, IPv6 extension headers, VLAN, PPPoE, a
/// tunnel, cut short): the segment plus the header bytes from `tail_at` to TCP.
#[inline(always)]
fn emit_tail<F: Frame>(f: &F, l: &Layers, b: &Buf, w: &Filled, tail_at: usize, c: Counts) {
    emit_wide!(TailItem, kind::TAIL, l, b, w, c, |s| {
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
            s.wide.status |= status::TAIL_CUT;
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
        true
    })
}

/// An ICMP error quoting a traced segment: the quoted segment's record, the error's own
/// IP and ICMP header (an [`IcmpRecord`]).
#[inline(always)]
fn emit_icmp<F: Frame>(f: &F, l: &Layers, b: &Buf, w: &Filled, c: Counts) {
    emit_wide!(IcmpRecord, kind::ICMP, l, b, w, c, |s| {
        fill_icmp(f, l, s)
    })
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
    s._pad = 0;
    s.ip_csum_calc = 0;
    s.icmp_csum_calc = 0;
    s.saddr = [0; 16];
    s.daddr = [0; 16];
    let v4 = l.family == FAMILY_V4;
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

/// Writes a little-endian-in-memory `u32` at byte `off` of the buffer (4-aligned).
#[inline(always)]
fn put32(b: &mut Buf, off: usize, v: u32) {
    // SAFETY: callers keep `off + 4 <= SEG_MAX` and `off` 4-aligned.
    unsafe { (b.as_mut_ptr() as *mut u8).add(off).cast::<u32>().write(v) };
}

/// Builds the `Seg` item in the scratch space and notes there what else it found; None
/// when the IP header cannot be read.
#[inline(always)]
fn fill<F: Frame>(f: &F, l: &Layers, direction: u8, sc: &mut Scratch, c: Counts) -> Option<()> {
    let b = &mut sc.seg;
    let csums = want_csum_fields();
    let addr_at = HEAD + if csums { CSUMS } else { 0 };
    let v4 = l.family == FAMILY_V4;
    let opt_at = addr_at + if v4 { 8 } else { 32 };
    // SAFETY: helper without arguments.
    let ts = unsafe { bpf_ktime_get_ns() };
    let pkt = if direction == DIR_EGRESS {
        pkt_type::OUTGOING
    } else {
        f.pkt_type()
    };
    let mut m = (pkt & 7) << meta::PKT_TYPE_SHIFT;
    if !v4 {
        m |= meta::V6;
    }
    if csums {
        m |= meta::CSUMS;
    }
    if direction == DIR_EGRESS {
        m |= meta::EGRESS;
    }
    let mut cs = Csums::default();
    let ip_total;
    {
        // SAFETY: the buffer is 8-aligned and starts with the fixed part.
        let s = unsafe { &mut *(b.as_mut_ptr() as *mut Seg) };
        s.hdr.kind = kind::SEG;
        s.hdr.meta = m;
        s.ifindex = f.ifindex();
        s.ts_lo = ts as u32;
        s.ts_hi = (ts >> 32) as u32;
        s.l3_off = l.l3 as u8;
        ip_total = fill_ip(f, l, s, &mut cs)?;
    }
    fill_addrs(f, l, b, addr_at)?;
    let mut st = l.status;
    let (caplen, n) = fill_tcp(f, l, b, opt_at, &mut cs, &mut st, c);
    let len = opt_at + n;
    // SAFETY: as above.
    let s = unsafe { &mut *(b.as_mut_ptr() as *mut Seg) };
    s.hdr.len = len as u16;
    let ip_len = s.ip_len as u32;
    fill_checksums(f, l, b, addr_at, ip_len, &mut cs, &mut st);
    // SAFETY: as above.
    let s = unsafe { &mut *(b.as_mut_ptr() as *mut Seg) };
    s.status = st as u8;
    if csums {
        // SAFETY: `Csums` right after the fixed part (4-aligned).
        unsafe {
            (b.as_mut_ptr() as *mut u8)
                .add(HEAD)
                .cast::<Csums>()
                .write(cs)
        };
    }
    sc.len = len as u32;
    sc.ts = ts;
    sc.status = st as u32;
    sc.tcp_caplen = caplen as u32;
    sc.ip_total = ip_total;
    Some(())
}

/// Computes, when `-v` asked for it, the values the IPv4 header and TCP checksum fields
/// should hold, and marks whether the whole segment is there.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fill_checksums<F: Frame>(
    f: &F,
    l: &Layers,
    b: &Buf,
    addr_at: usize,
    ip_len: u32,
    cs: &mut Csums,
    st: &mut u16,
) {
    let want = want_checksums();
    if want
        && l.family == FAMILY_V4
        && let Some(s) = csum::add_range(f, l.l3 as u32, l.ihl as u32, 0)
    {
        cs.ip_csum_calc = csum::should_be(s, cs.ip_csum);
        *st |= status::CSUM_COMPUTED;
    }
    let l4 = l.l4 as u32;
    let tcp_len = if l.family == FAMILY_V4 {
        ip_len - l.ihl as u32
    } else {
        let ext = l4 - l.l3 as u32 - 40;
        if ip_len < ext {
            *st |= status::CSUM_UNAVAILABLE;
            return;
        }
        ip_len - ext
    };
    if l4 + tcp_len > l.frame_len || tcp_len > 0xffff {
        *st |= status::CSUM_UNAVAILABLE;
        return;
    }
    if !want {
        return;
    }
    let len = (tcp_len as u16).to_be_bytes();
    // SAFETY: the addresses were written at `addr_at` (at most 32 bytes, inside).
    let addrs = unsafe { (b.as_ptr() as *const u8).add(addr_at) };
    let seed = if l.family == FAMILY_V4 {
        let mut p = [0u8; 12];
        // SAFETY: as above.
        unsafe { core::ptr::copy_nonoverlapping(addrs, p.as_mut_ptr(), 8) };
        p[9] = 6;
        p[10] = len[0];
        p[11] = len[1];
        csum::add_words(&mut p, 0)
    } else {
        let mut p = [0u8; 40];
        // SAFETY: as above.
        unsafe { core::ptr::copy_nonoverlapping(addrs, p.as_mut_ptr(), 32) };
        p[34] = len[0];
        p[35] = len[1];
        p[39] = 6;
        csum::add_words(&mut p, 0)
    };
    match csum::add_range(f, l4, tcp_len, seed) {
        Some(s) => {
            cs.tcp_csum_calc = csum::should_be(s, cs.tcp_csum);
            *st |= status::CSUM_COMPUTED;
        }
        None => *st |= status::CSUM_UNAVAILABLE,
    }
}

/// The IP header's fields; returns the datagram's length from the IP header on.
#[inline(always)]
fn fill_ip<F: Frame>(f: &F, l: &Layers, s: &mut Seg, cs: &mut Csums) -> Option<u32> {
    if l.family == FAMILY_V4 {
        let ip = at::<F, [u8; 20]>(f, l.l3)?;
        s.tos = ld!(u8, ip, 1);
        s.ip_len = u16::from_be(ld!(u16, ip, 2));
        let id = u16::from_be(ld!(u16, ip, 4)) as u32;
        let frag = u16::from_be(ld!(u16, ip, 6)) as u32;
        s.ipx = id | frag << 16;
        s.ttl = ld!(u8, ip, 8);
        cs.ip_csum = u16::from_be(ld!(u16, ip, 10));
        Some(s.ip_len as u32)
    } else {
        let ip = at::<F, [u8; 40]>(f, l.l3)?;
        let w0 = u32::from_be(ld!(u32, ip, 0));
        s.tos = (w0 >> 20) as u8;
        s.ipx = w0 & 0x000f_ffff;
        s.ip_len = u16::from_be(ld!(u16, ip, 4));
        s.ttl = ld!(u8, ip, 7);
        Some(s.ip_len as u32 + 40)
    }
}

/// The source and destination addresses at `at` (4 bytes each for IPv4, 16 for IPv6).
#[inline(always)]
fn fill_addrs<F: Frame>(f: &F, l: &Layers, b: &mut Buf, at_: usize) -> Option<()> {
    if l.family == FAMILY_V4 {
        let ip = at::<F, [u8; 20]>(f, l.l3)?;
        put32(b, at_, ld!(u32, ip, 12));
        put32(b, at_ + 4, ld!(u32, ip, 16));
    } else {
        let ip = at::<F, [u8; 40]>(f, l.l3)?;
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
            put32(b, at_ + 4 * i, w);
        }
    }
    Some(())
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

/// The TCP header's fields and its option bytes at `opt_at`; returns the captured header
/// length and the option bytes written.
#[inline(always)]
fn fill_tcp<F: Frame>(
    f: &F,
    l: &Layers,
    b: &mut Buf,
    opt_at: usize,
    cs: &mut Csums,
    st: &mut u16,
    c: Counts,
) -> (u8, usize) {
    let avail = l.l4_avail;
    let caplen = if avail > 60 { 60 } else { avail as u8 };
    let Some(h) = tcp_words(f, l) else {
        return (caplen, 0);
    };
    let (off_byte, flag_byte) = (h[3] as u8, (h[3] >> 8) as u8);
    let doff = (off_byte >> 4) * 4;
    {
        // SAFETY: the buffer starts with the fixed part.
        let s = unsafe { &mut *(b.as_mut_ptr() as *mut Seg) };
        s.sport = u16::from_be(h[0] as u16);
        s.dport = u16::from_be((h[0] >> 16) as u16);
        s.seq = u32::from_be(h[1]);
        s.ack = u32::from_be(h[2]);
        s.flags =
            flag_byte as u16 | (((off_byte & 1) as u16) << 8) | (((off_byte >> 4) as u16) << 12);
        s.window = u16::from_be((h[3] >> 16) as u16);
        s.urg_ptr = u16::from_be((h[4] >> 16) as u16);
    }
    cs.tcp_csum = u16::from_be(h[4] as u16);
    if avail < 13 {
        return (caplen, 0);
    }
    if doff < 20 {
        *st |= status::BAD_DOFF;
        c.add(counter::MALFORMED);
        return (caplen, 0);
    }
    let want = (doff - 20) as u32;
    if want == 0 {
        return (caplen, 0);
    }
    let have = avail.saturating_sub(20);
    let n = if have < want { have } else { want };
    if n < want {
        *st |= status::OPT_TRUNCATED;
    }
    // Hide what the compiler knows of `n` so that the bounds checks below stay in the
    // code: the verifier must see them before the helper call.
    let n = opaque(n as usize);
    if n == 0 || n > MAX_OPTIONS {
        return (caplen, 0);
    }
    // Usual case: all 40 bytes after the fixed header are in the linear area; copy them
    // as ten words and keep the `n` that are options (the rest stays zero).
    if let Some(p) = at::<F, [u8; MAX_OPTIONS]>(f, l.l4 + 20) {
        let words = [
            ld!(u64, p, 0),
            ld!(u64, p, 8),
            ld!(u64, p, 16),
            ld!(u64, p, 24),
            ld!(u64, p, 32),
        ];
        for (i, w) in words.into_iter().enumerate() {
            let have = n.saturating_sub(8 * i);
            let w = if have >= 8 {
                w
            } else {
                w & ((1u64 << (8 * have)) - 1)
            };
            put32(b, opt_at + 8 * i, w as u32);
            put32(b, opt_at + 8 * i + 4, (w >> 32) as u32);
        }
        return (caplen, n);
    }
    // SAFETY: opt_at + n <= SEG_MAX (n <= MAX_OPTIONS).
    let dst =
        unsafe { core::slice::from_raw_parts_mut((b.as_mut_ptr() as *mut u8).add(opt_at), n) };
    if f.load(l.l4 as u32 + 20, dst) {
        (caplen, n)
    } else {
        *st |= status::OPT_TRUNCATED;
        (caplen, 0)
    }
}
