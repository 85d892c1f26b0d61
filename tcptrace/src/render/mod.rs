//! Text rendering of decoded segments: tcpdump 4.99.3 `-n` lines ([`tcpdump`]), the
//! tcpdump 3.x style of the article ([`classic`]), and the pieces they share (TCP options,
//! relative sequence numbers, number and address formatting).
//!
//! Everything here appends to a caller-owned `Vec<u8>`; nothing allocates per segment.

pub mod classic;
pub mod icmp;
pub mod iphdrs;
pub mod options;
pub mod seq;
pub mod tcpdump;
pub mod tunnel;

pub use tcpdump::Renderer;

use std::net::IpAddr;

/// The timestamp column (tcpdump's `-t` family).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TsStyle {
    /// Default: local `HH:MM:SS.ffffff`.
    #[default]
    Local,
    /// `-t`: none.
    None,
    /// `-tt`: seconds since the epoch.
    Epoch,
    /// `-ttt`: time since the previous printed packet.
    Delta,
    /// `-tttt`: local `YYYY-MM-DD HH:MM:SS.ffffff`.
    Date,
    /// `-ttttt`: time since the first printed packet.
    SinceFirst,
}

/// Output settings (tcpdump's flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// `-S`: absolute sequence numbers.
    pub absolute_seq: bool,
    /// Number of `-v`.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    pub ts: TsStyle,
    /// `--nano`: nine fraction digits.
    pub nano: bool,
    /// `-#`: packet numbers.
    pub number: bool,
    /// `--classic`: tcpdump 3.x style lines.
    pub classic: bool,
    /// Several interfaces (`-i any`): `ifname In ` / `ifname Out ` after the timestamp, as
    /// tcpdump prints Linux cooked v2 frames.
    pub iface_prefix: bool,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `v` in base `BASE` (10 or 16), left-padded with `fill` to at least `width`
/// columns. The base is a constant so the divisions become multiplications, and the
/// digits are written in place (no call to `memcpy` for a few bytes).
#[inline]
fn put_digits<const BASE: u64>(out: &mut Vec<u8>, v: u64, width: usize, fill: u8) {
    let mut digits = 1;
    let mut rest = v / BASE;
    while rest != 0 {
        digits += 1;
        rest /= BASE;
    }
    let pad = width.saturating_sub(digits);
    out.reserve(pad + digits);
    let spare = &mut out.spare_capacity_mut()[..pad + digits];
    for b in &mut spare[..pad] {
        b.write(fill);
    }
    let mut v = v;
    for b in spare[pad..].iter_mut().rev() {
        b.write(HEX[(v % BASE) as usize]);
        v /= BASE;
    }
    // SAFETY: the `pad + digits` bytes past the length were just written.
    unsafe { out.set_len(out.len() + pad + digits) };
}

/// Appends `v` in decimal.
#[inline]
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    put_digits::<10>(out, v, 0, b'0');
}

/// Appends `v` in decimal.
#[inline]
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    put_u64(out, v as u64);
}

/// Appends `v` in decimal, zero-padded to at least `width` digits.
#[inline]
pub(crate) fn put_u64_pad(out: &mut Vec<u8>, v: u64, width: usize) {
    put_digits::<10>(out, v, width, b'0');
}

/// Appends `v` in decimal, space-padded on the left to at least `width` columns (`%5u`).
#[inline]
pub(crate) fn put_u64_spad(out: &mut Vec<u8>, v: u64, width: usize) {
    put_digits::<10>(out, v, width, b' ');
}

/// Appends `v` in lower-case hex, zero-padded to at least `width` digits (`%0Nx`).
#[inline]
pub(crate) fn put_hex(out: &mut Vec<u8>, v: u64, width: usize) {
    put_digits::<16>(out, v, width, b'0');
}

/// Appends each byte as two hex digits (`%02x` in a loop).
#[inline]
pub(crate) fn put_hex_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 0xf) as usize]);
    }
}

/// Appends an IPv4 address in dotted quad.
#[inline]
pub(crate) fn put_ipv4(out: &mut Vec<u8>, a: [u8; 4]) {
    put_u64(out, a[0] as u64);
    out.push(b'.');
    put_u64(out, a[1] as u64);
    out.push(b'.');
    put_u64(out, a[2] as u64);
    out.push(b'.');
    put_u64(out, a[3] as u64);
}

/// Appends an IPv6 address the way tcpdump's `addrtostr6` (BIND's `inet_ntop6`) writes it:
/// the first longest run of two or more zero words becomes `::`, and IPv4-compatible
/// (`::a.b.c.d`) and IPv4-mapped (`::ffff:a.b.c.d`) addresses end in a dotted quad.
pub(crate) fn put_ipv6(out: &mut Vec<u8>, a: [u8; 16]) {
    let mut words = [0u16; 8];
    for (i, w) in words.iter_mut().enumerate() {
        *w = u16::from_be_bytes([a[2 * i], a[2 * i + 1]]);
    }
    // Longest run of zero words (first wins on ties), only if at least two long.
    let (mut best_base, mut best_len) = (usize::MAX, 0usize);
    let (mut cur_base, mut cur_len) = (usize::MAX, 0usize);
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            if cur_base == usize::MAX {
                cur_base = i;
                cur_len = 1;
            } else {
                cur_len += 1;
            }
        } else if cur_base != usize::MAX {
            if best_base == usize::MAX || cur_len > best_len {
                best_base = cur_base;
                best_len = cur_len;
            }
            cur_base = usize::MAX;
        }
    }
    if cur_base != usize::MAX && (best_base == usize::MAX || cur_len > best_len) {
        best_base = cur_base;
        best_len = cur_len;
    }
    if best_base != usize::MAX && best_len < 2 {
        best_base = usize::MAX;
    }
    let mut i = 0;
    while i < 8 {
        if best_base != usize::MAX && i >= best_base && i < best_base + best_len {
            if i == best_base {
                out.push(b':');
            }
            i += 1;
            continue;
        }
        if i != 0 {
            out.push(b':');
        }
        if i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)) {
            put_ipv4(out, [a[12], a[13], a[14], a[15]]);
            return;
        }
        put_hex(out, words[i] as u64, 1);
        i += 1;
    }
    if best_base != usize::MAX && best_base + best_len == 8 {
        out.push(b':');
    }
}

/// Appends an address (IPv4 dotted quad or IPv6 as tcpdump prints it).
#[inline]
pub(crate) fn put_ip(out: &mut Vec<u8>, a: &IpAddr) {
    match a {
        IpAddr::V4(v4) => put_ipv4(out, v4.octets()),
        IpAddr::V6(v6) => put_ipv6(out, v6.octets()),
    }
}

/// `SRC.SPORT > DST.DPORT`, as both styles print the endpoints.
pub(crate) fn put_endpoints(out: &mut Vec<u8>, seg: &crate::decode::Segment) {
    put_ip(out, &seg.src);
    out.push(b'.');
    put_u32(out, seg.sport as u32);
    out.extend_from_slice(b" > ");
    put_ip(out, &seg.dst);
    out.push(b'.');
    put_u32(out, seg.dport as u32);
}

/// A segment cut before its ports end: the addresses and tcpdump's `[|tcp]`.
fn put_cut_before_ports(out: &mut Vec<u8>, seg: &crate::decode::Segment) {
    put_ip(out, &seg.src);
    out.extend_from_slice(b" > ");
    put_ip(out, &seg.dst);
    out.extend_from_slice(b": [|tcp]");
}

/// tcpdump's note for a TCP header longer than the segment.
pub(crate) fn bad_too_long(out: &mut Vec<u8>, hlen: u32, length: u32) {
    out.extend_from_slice(b" [bad hdr length ");
    put_u32(out, hlen);
    out.extend_from_slice(b" - too long, > ");
    put_u32(out, length);
    out.push(b']');
}

/// The names of the bits of `value` that are set, joined by `sep`; `none` when none is.
pub(crate) fn put_bit_names(out: &mut Vec<u8>, value: u16, names: &[(u16, &[u8])], sep: &[u8]) {
    let mut any = false;
    for &(bit, name) in names {
        if value & bit != 0 {
            if any {
                out.extend_from_slice(sep);
            }
            out.extend_from_slice(name);
            any = true;
        }
    }
    if !any {
        out.extend_from_slice(b"none");
    }
}

/// What both styles print of TCP before its flags: the endpoints (`endpoints` prints them
/// once the ports are in), `: `, then the end of a header cut before its flags (`cut`) or
/// of a data offset below 5 words. False when the line ends there.
pub(crate) fn put_tcp_lead(
    out: &mut Vec<u8>,
    seg: &crate::decode::Segment,
    endpoints: impl FnOnce(&mut Vec<u8>),
    cut: &[u8],
) -> bool {
    if seg.tcp_caplen < 4 {
        put_cut_before_ports(out, seg);
        return false;
    }
    endpoints(out);
    out.extend_from_slice(b": ");
    if seg.tcp_caplen < 20 {
        out.extend_from_slice(cut);
        return false;
    }
    !put_bad_hdr_len(out, seg)
}

/// tcpdump's text for a data offset below 5 words; true when it printed it (the line ends
/// there).
fn put_bad_hdr_len(out: &mut Vec<u8>, seg: &crate::decode::Segment) -> bool {
    let hlen = seg.hdr_len as u32;
    if hlen >= 20 {
        return false;
    }
    out.extend_from_slice(b" tcp ");
    put_u32(out, seg.tcp_len.wrapping_sub(hlen));
    out.extend_from_slice(b" [bad hdr length ");
    put_u32(out, hlen);
    out.extend_from_slice(b" - too short, < 20]");
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn v6(s: &str) -> String {
        let a: Ipv6Addr = s.parse().unwrap();
        let mut out = Vec::new();
        put_ipv6(&mut out, a.octets());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ipv6_text() {
        assert_eq!(v6("2604:1380:4091:ce00::b"), "2604:1380:4091:ce00::b");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("fe80::"), "fe80::");
        assert_eq!(v6("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
        assert_eq!(v6("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(v6("1:0:0:2:3:0:0:4"), "1::2:3:0:0:4");
        assert_eq!(v6("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(v6("::1.2.3.4"), "::1.2.3.4");
    }

    #[test]
    fn numbers() {
        let mut o = Vec::new();
        put_u64(&mut o, 0);
        o.push(b' ');
        put_u64(&mut o, u64::MAX);
        o.push(b' ');
        put_hex(&mut o, 0x1421, 4);
        o.push(b' ');
        put_hex(&mut o, 0x21, 4);
        o.push(b' ');
        put_u64_spad(&mut o, 1, 5);
        o.push(b'|');
        put_u64_pad(&mut o, 7, 6);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "0 18446744073709551615 1421 0021     1|000007"
        );
    }
}
