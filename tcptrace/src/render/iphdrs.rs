//! IPv4 options and IPv6 extension header contents, as tcpdump 4.99.3 prints them
//! (`print-ip.c` `ip_optprint`, `print-ip6opts.c`, `print-rt6.c`), from the header bytes a
//! record's tail carries.
use crate::render::{put_bit_names, put_hex, put_ipv4, put_ipv6, put_u32, put_u64};

/// What an extension header printer says about the rest of the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Go on with the next header, `n` bytes further.
    Advance(usize),
    /// tcpdump stops printing the packet here.
    Stop,
}

/// `options (…)` contents: each option, comma-separated (`RR 1.2.3.4,EOL`).
pub fn ipv4_options(out: &mut Vec<u8>, mut b: &[u8]) {
    let mut sep = false;
    while !b.is_empty() {
        if sep {
            out.push(b',');
        }
        sep = true;
        let code = b[0];
        match code {
            0 => out.extend_from_slice(b"EOL"),
            1 => out.extend_from_slice(b"NOP"),
            68 => out.extend_from_slice(b"timestamp"),
            130 => out.extend_from_slice(b"security"),
            7 => out.extend_from_slice(b"RR"),
            137 => out.extend_from_slice(b"SSRR"),
            131 => out.extend_from_slice(b"LSRR"),
            148 => out.extend_from_slice(b"RA"),
            82 => out.extend_from_slice(b"traceroute"),
            _ => {
                out.extend_from_slice(b"unknown ");
                put_u32(out, u32::from(code));
            }
        }
        let len = if code <= 1 {
            1
        } else {
            let Some(&l) = b.get(1) else {
                // tcpdump's read past the header: the option is cut short.
                out.extend_from_slice(b" [truncated-option]");
                return;
            };
            if l < 2 {
                bad_length(out, l.into());
                return;
            }
            usize::from(l)
        };
        if len > b.len() {
            bad_length(out, len as u32);
            return;
        }
        let opt = &b[..len];
        match code {
            0 => return,
            68 => timestamp(out, opt),
            7 | 137 | 131 => route(out, opt),
            148 => {
                if len < 4 {
                    bad_length(out, len as u32);
                } else {
                    let v = u16::from_be_bytes([opt[2], opt[3]]);
                    if v != 0 {
                        out.extend_from_slice(b" value ");
                        put_u32(out, v.into());
                    }
                }
            }
            _ => {}
        }
        b = &b[len..];
    }
}

fn bad_length(out: &mut Vec<u8>, len: u32) {
    out.extend_from_slice(b" [bad length ");
    put_u32(out, len);
    out.push(b']');
}

/// `ip_printroute`: the addresses of a RR/LSRR/SSRR option, `,` after those already
/// passed.
fn route(out: &mut Vec<u8>, opt: &[u8]) {
    let length = opt.len() as u32;
    if length < 3 {
        bad_length(out, length);
        return;
    }
    if (length + 1) & 3 != 0 {
        bad_length(out, length);
    }
    let ptr = u32::from(opt[2]).wrapping_sub(1);
    if ptr < 3 || (ptr.wrapping_add(1)) & 3 != 0 || ptr > length + 1 {
        out.extend_from_slice(b" [bad ptr ");
        put_u32(out, opt[2].into());
        out.push(b']');
    }
    let mut at = 3usize;
    while at < opt.len() {
        let Some(a) = opt.get(at..at + 4) else {
            return;
        };
        out.push(b' ');
        put_ipv4(out, [a[0], a[1], a[2], a[3]]);
        if ptr > at as u32 {
            out.push(b',');
        }
        at += 4;
    }
}

/// `ip_printts`: a timestamp option.
fn timestamp(out: &mut Vec<u8>, opt: &[u8]) {
    let length = opt.len() as u32;
    if length < 4 {
        out.extend_from_slice(b"[bad length ");
        put_u32(out, length);
        out.push(b']');
        return;
    }
    out.extend_from_slice(b" TS{");
    let flags = opt[3];
    let hoplen: u32 = if flags & 0xf != 0 { 8 } else { 4 };
    if (length - 4) & (hoplen - 1) != 0 {
        out.extend_from_slice(b"[bad length ");
        put_u32(out, length);
        out.push(b']');
    }
    let ptr = u32::from(opt[2]).wrapping_sub(1);
    let mut len = 0u32;
    if ptr < 4 || (ptr.wrapping_sub(4)) & (hoplen - 1) != 0 || ptr > length + 1 {
        out.extend_from_slice(b"[bad ptr ");
        put_u32(out, opt[2].into());
        out.push(b']');
    }
    let known = match flags & 0xf {
        0 => {
            out.extend_from_slice(b"TSONLY");
            true
        }
        1 => {
            out.extend_from_slice(b"TS+ADDR");
            true
        }
        3 => {
            out.extend_from_slice(b"PRESPEC");
            true
        }
        t => {
            out.extend_from_slice(b"[bad ts type ");
            put_u32(out, t.into());
            out.push(b']');
            false
        }
    };
    if known {
        let mut kind: &[u8] = b" ";
        len = 4;
        while len < length {
            if ptr == len {
                kind = b" ^ ";
            }
            let at = len as usize;
            let Some(hop) = opt.get(at..at + hoplen as usize) else {
                return;
            };
            out.extend_from_slice(kind);
            let n = hop.len();
            put_u32(
                out,
                u32::from_be_bytes([hop[n - 4], hop[n - 3], hop[n - 2], hop[n - 1]]),
            );
            out.push(b'@');
            if hoplen == 8 {
                put_ipv4(out, [hop[0], hop[1], hop[2], hop[3]]);
            }
            kind = b" ";
            len += hoplen;
        }
    }
    if ptr == len {
        out.extend_from_slice(b" ^ ");
    }
    if flags >> 4 != 0 {
        out.extend_from_slice(b" [");
        put_u32(out, (flags >> 4).into());
        out.extend_from_slice(b" hops not recorded]} ");
    } else {
        out.push(b'}');
    }
}

/// Hop-by-hop (`hbh`) or destination options header `h` (whole): `HBH ` / `DSTOPT ` and,
/// with `-v`, its options. `payload_len` is the IPv6 header's field (hop-by-hop only:
/// the Jumbo Payload option is checked against it).
pub fn options_header(
    out: &mut Vec<u8>,
    h: &[u8],
    hbh: bool,
    verbose: bool,
    payload_len: u32,
) -> Next {
    let len = (usize::from(h.get(1).copied().unwrap_or(0)) + 1) * 8;
    let cut: &[u8] = if hbh { b" [|hbhopt]" } else { b" [|dstopt]" };
    if h.len() < len {
        out.extend_from_slice(cut);
        return Next::Stop;
    }
    out.extend_from_slice(if hbh { b"HBH " } else { b"DSTOPT " });
    if hbh || verbose {
        let mut jumbo = false;
        if opt_process(
            out,
            &h[2..len],
            verbose,
            hbh.then_some(payload_len),
            &mut jumbo,
        )
        .is_none()
        {
            // tcpdump's `nd_print_trunc` after any option it gave up on.
            out.extend_from_slice(cut);
            return Next::Stop;
        }
        if hbh && payload_len == 0 && !jumbo {
            out.extend_from_slice(b"[No valid Jumbo Payload Hop-by-Hop option found] (invalid)");
            return Next::Stop;
        }
    }
    Next::Advance(len)
}

/// `ip6_opt_process`: None where tcpdump gives up (a cut-short or invalid option).
fn opt_process(
    out: &mut Vec<u8>,
    b: &[u8],
    v: bool,
    payload_len: Option<u32>,
    found: &mut bool,
) -> Option<()> {
    if b.is_empty() {
        return Some(());
    }
    let len = b.len();
    let mut seen_jumbo = false;
    for item in tlv_items(b) {
        let (i, optlen) = item?;
        let t = b[i];
        match t {
            0 => {
                if v {
                    out.extend_from_slice(b"(pad1)");
                }
            }
            1 => {
                checked(out, &b[i..], b"padn", 2, |_| true)?;
                if v {
                    out.extend_from_slice(b"(padn)");
                }
            }
            5 => {
                checked(out, &b[i..], b"rtalert", 4, |l| l == 2)?;
                if v {
                    out.extend_from_slice(b"(rtalert: 0x");
                    put_hex(out, u16::from_be_bytes([b[i + 2], b[i + 3]]).into(), 4);
                    out.extend_from_slice(b") ");
                }
            }
            0xc2 => {
                checked(out, &b[i..], b"jumbo", 6, |l| l == 4)?;
                let j = u32::from_be_bytes([b[i + 2], b[i + 3], b[i + 4], b[i + 5]]);
                let why: Option<&[u8]> = if seen_jumbo {
                    Some(b" - already seen")
                } else {
                    seen_jumbo = true;
                    match payload_len {
                        None => Some(b" - not a hop-by-hop option"),
                        Some(p) if p != 0 => Some(b" - payload len != 0"),
                        Some(_) if j < 65536 => Some(b" - < 65536"),
                        Some(_) => {
                            *found = true;
                            None
                        }
                    }
                };
                if v {
                    out.extend_from_slice(b"(jumbo: ");
                    put_u32(out, j);
                    out.extend_from_slice(why.unwrap_or(b""));
                    out.extend_from_slice(b") ");
                }
            }
            201 => {
                checked(out, &b[i..], b"homeaddr", 18, |l| l >= 16)?;
                if v {
                    out.extend_from_slice(b"(homeaddr: ");
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&b[i + 2..i + 18]);
                    put_ipv6(out, a);
                    if b[i + 1] > 16 {
                        sub_options(out, &b[i + 18..i + optlen])?;
                    }
                    out.push(b')');
                }
            }
            _ => {
                if len - i < 2 {
                    out.extend_from_slice(b"(type ");
                    put_u32(out, t.into());
                    out.extend_from_slice(b": trunc)");
                    return None;
                }
                if v {
                    out.extend_from_slice(b"(opt_type 0x");
                    put_hex(out, t.into(), 2);
                    out.extend_from_slice(b": len=");
                    put_u32(out, b[i + 1].into());
                    out.push(b')');
                }
            }
        }
    }
    if v {
        out.push(b' ');
    }
    Some(())
}

/// The items of an IPv6 option area (type, length, value; Pad1 a lone byte): each one's
/// offset and length, then `None` for one that runs past the end (the walk stops there).
fn tlv_items(b: &[u8]) -> impl Iterator<Item = Option<(usize, usize)>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let at = i;
        let optlen = match b.get(at)? {
            0 => 1,
            _ => b.get(at + 1).map_or(usize::MAX, |&l| usize::from(l) + 2),
        };
        i = at.saturating_add(optlen).min(b.len() + 1);
        Some((i <= b.len()).then_some((at, optlen)))
    })
}

/// tcpdump's two checks of the option at the start of `opt`, named `name`: at least `min`
/// bytes left (else `(NAME: trunc)`) and a length byte `ok` accepts (else `(NAME: invalid
/// len N)`); None when one failed and the options end there.
fn checked(
    out: &mut Vec<u8>,
    opt: &[u8],
    name: &[u8],
    min: usize,
    ok: impl Fn(u8) -> bool,
) -> Option<()> {
    let cut = opt.len() < min;
    if !cut && ok(opt[1]) {
        return Some(());
    }
    out.push(b'(');
    out.extend_from_slice(name);
    if cut {
        out.extend_from_slice(b": trunc)");
    } else {
        out.extend_from_slice(b": invalid len ");
        put_u32(out, opt[1].into());
        out.push(b')');
    }
    None
}

/// `ip6_sopt_print`: the sub-options of a home address option.
fn sub_options(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    for item in tlv_items(b) {
        let (i, _) = item?;
        match b[i] {
            0 => out.extend_from_slice(b", pad1"),
            1 => out.extend_from_slice(b", padn"),
            t => {
                out.extend_from_slice(b", sopt_type 0x");
                put_hex(out, t.into(), 2);
                out.extend_from_slice(b": len=");
                put_u32(out, b[i + 1].into());
            }
        }
    }
    Some(())
}

/// `rt6_print`: `RT6 (len=…, type=…, segleft=…[, rsv=…][, [i]addr…]) `.
pub fn routing_header(out: &mut Vec<u8>, h: &[u8], verbose: bool) -> Next {
    out.extend_from_slice(b"RT6");
    let (Some(&len), Some(&typ), Some(&segleft)) = (h.get(1), h.get(2), h.get(3)) else {
        out.extend_from_slice(b" [|rt6]");
        return Next::Stop;
    };
    out.extend_from_slice(b" (len=");
    put_u32(out, len.into());
    out.extend_from_slice(b", type=");
    put_u32(out, typ.into());
    if typ == 0 {
        out.extend_from_slice(b" [Deprecated]");
    }
    out.extend_from_slice(b", segleft=");
    put_u32(out, segleft.into());
    let addrs_at = match typ {
        0 | 2 => {
            let Some(r) = h.get(4..8) else {
                out.extend_from_slice(b" [|rt6]");
                return Next::Stop;
            };
            let rsv = u32::from_be_bytes([r[0], r[1], r[2], r[3]]);
            if rsv != 0 || verbose {
                out.extend_from_slice(b", rsv=0x");
                put_hex(out, rsv.into(), 1);
            }
            8
        }
        4 => {
            let (Some(&last), Some(&flags), Some(tag)) = (h.get(4), h.get(5), h.get(6..8)) else {
                out.extend_from_slice(b" [|rt6]");
                return Next::Stop;
            };
            out.extend_from_slice(b", last-entry=");
            put_u32(out, last.into());
            if flags != 0 || verbose {
                out.extend_from_slice(b", flags=0x");
                put_hex(out, flags.into(), 1);
            }
            out.extend_from_slice(b", tag=");
            put_hex(out, u16::from_be_bytes([tag[0], tag[1]]).into(), 1);
            8
        }
        _ => {
            out.extend_from_slice(b" (unknown type) (invalid)");
            return Next::Stop;
        }
    };
    if len % 2 == 1 {
        out.extend_from_slice(b" (invalid length ");
        put_u32(out, len.into());
        out.extend_from_slice(b") (invalid)");
        return Next::Stop;
    }
    for i in 0..usize::from(len / 2) {
        let at = addrs_at + 16 * i;
        let Some(a) = h.get(at..at + 16) else {
            out.extend_from_slice(b" [|rt6]");
            return Next::Stop;
        };
        out.extend_from_slice(b", [");
        put_u32(out, i as u32);
        out.push(b']');
        let mut addr = [0u8; 16];
        addr.copy_from_slice(a);
        put_ipv6(out, addr);
    }
    out.extend_from_slice(b") ");
    Next::Advance((usize::from(len) + 1) * 8)
}

/// The destination tcpdump puts in the TCP pseudo-header when source routing is present
/// (`ip_finddst`, `ip6_finddst`): the last LSRR/SSRR address of the IPv4 options, or the
/// final address of an IPv6 type 0/2/4 routing header in `exts` (walked over `hdrs`).
pub fn final_dst(v6: bool, exts: &[u8], hdrs: &[u8]) -> Option<Vec<u8>> {
    if !v6 {
        let mut b = hdrs;
        while let Some(&t) = b.first() {
            if t == 0 {
                break;
            }
            let len = if t == 1 {
                1
            } else {
                let l = usize::from(*b.get(1)?);
                if l < 2 {
                    break;
                }
                l
            };
            let opt = b.get(..len)?;
            if (t == 131 || t == 137) && len >= 7 {
                return Some(opt[len - 4..].to_vec());
            }
            b = &b[len..];
        }
        return None;
    }
    let mut b = hdrs;
    for &e in exts {
        let len = match e {
            44 => 8,
            43 => {
                let (len, typ) = (*b.get(1)?, *b.get(2)?);
                if len % 2 == 1 {
                    return None;
                }
                let n = usize::from(len / 2);
                return match typ {
                    0 | 2 if n > 0 => b.get(8 + 16 * (n - 1)..8 + 16 * n).map(<[u8]>::to_vec),
                    4 => b.get(8..24).map(<[u8]>::to_vec),
                    _ => None,
                };
            }
            _ => (usize::from(*b.get(1)?) + 1) * 8,
        };
        b = b.get(len..)?;
    }
    None
}

/// tcpdump's `-v` IPv4 header text: `(tos 0x0, ttl 64, …, length L)` and the line break.
pub(crate) struct Ipv4Verbose<'a> {
    pub tos: u8,
    pub ttl: u8,
    pub id: u32,
    pub frag: u16,
    /// `(b"TCP", 6)`: printed `TCP (6)`.
    pub proto: (&'a [u8], u8),
    pub len: u32,
    pub options: Option<&'a [u8]>,
    /// The checksum field and the value it should hold, when they differ.
    pub bad_csum: Option<(u16, u16)>,
}

/// tcpdump's `-v` IPv6 header text: `(class 0x.., flowlabel 0x.., hlim H, next-header N (n)
/// payload length: L) `.
pub(crate) struct Ipv6Verbose<'a> {
    pub class: u8,
    pub flow_label: u32,
    pub hlim: u8,
    pub next: (&'a [u8], u8),
    pub payload_len: u32,
}

impl Ipv6Verbose<'_> {
    pub(crate) fn put(&self, out: &mut Vec<u8>) {
        out.push(b'(');
        if self.class != 0 {
            out.extend_from_slice(b"class 0x");
            put_hex(out, self.class as u64, 2);
            out.extend_from_slice(b", ");
        }
        if self.flow_label & 0xfffff != 0 {
            out.extend_from_slice(b"flowlabel 0x");
            put_hex(out, (self.flow_label & 0xfffff) as u64, 5);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"hlim ");
        put_u32(out, self.hlim as u32);
        out.extend_from_slice(b", next-header ");
        out.extend_from_slice(self.next.0);
        out.extend_from_slice(b" (");
        put_u32(out, self.next.1 as u32);
        out.extend_from_slice(b") payload length: ");
        put_u32(out, self.payload_len);
        out.extend_from_slice(b") ");
    }
}

impl Ipv4Verbose<'_> {
    pub(crate) fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"(tos 0x");
        put_hex(out, self.tos as u64, 1);
        match self.tos & 3 {
            1 => out.extend_from_slice(b",ECT(1)"),
            2 => out.extend_from_slice(b",ECT(0)"),
            3 => out.extend_from_slice(b",CE"),
            _ => {}
        }
        if self.ttl >= 1 {
            out.extend_from_slice(b", ttl ");
            put_u32(out, self.ttl as u32);
        }
        out.extend_from_slice(b", id ");
        put_u32(out, self.id & 0xffff);
        out.extend_from_slice(b", offset ");
        put_u32(out, (self.frag as u32 & 0x1fff) * 8);
        out.extend_from_slice(b", flags [");
        let names: [(u16, &[u8]); 3] = [(0x2000, b"+"), (0x4000, b"DF"), (0x8000, b"rsvd")];
        put_bit_names(out, self.frag, &names, b", ");
        out.extend_from_slice(b"], proto ");
        out.extend_from_slice(self.proto.0);
        out.extend_from_slice(b" (");
        put_u32(out, self.proto.1 as u32);
        out.extend_from_slice(b"), length ");
        put_u64(out, self.len as u64);
        if let Some(opts) = self.options {
            out.extend_from_slice(b", options (");
            ipv4_options(out, opts);
            out.push(b')');
        }
        if let Some((wire, calc)) = self.bad_csum {
            out.extend_from_slice(b", bad cksum ");
            put_hex(out, wire as u64, 1);
            out.extend_from_slice(b" (->");
            put_hex(out, calc as u64, 1);
            out.extend_from_slice(b")!");
        }
        out.extend_from_slice(b")\n    ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::written as s;

    #[test]
    fn ipv4_option_texts() {
        // RR with one address recorded, then EOL (tcpdump 4.99.3).
        assert_eq!(
            s(|o| ipv4_options(o, &[7, 7, 8, 1, 2, 3, 4, 0])),
            "RR 1.2.3.4,,EOL"
        );
        assert_eq!(s(|o| ipv4_options(o, &[1, 148, 4, 0, 0])), "NOP,RA");
        assert_eq!(
            s(|o| ipv4_options(o, &[99, 1])),
            "unknown 99 [bad length 1]"
        );
    }

    #[test]
    fn routing_header_text() {
        let h = [6, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            s(|o| assert_eq!(routing_header(o, &h, false), Next::Advance(8))),
            "RT6 (len=0, type=0 [Deprecated], segleft=0) "
        );
        assert_eq!(
            s(|o| {
                routing_header(o, &h, true);
            }),
            "RT6 (len=0, type=0 [Deprecated], segleft=0, rsv=0x0) "
        );
    }
}
