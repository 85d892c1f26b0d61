//! TCP option printing, as tcpdump 4.99.3 (`print-tcp.c`, `print-mptcp.c`) does it.
//!
//! The walk is tcpdump's, quirks included: after an option the cursor moves on by the
//! number of bytes the printer used (not by the option's length byte), a length that
//! disagrees is shown as `[len N]`, a length below 2 or past the header is `[bad opt]`, and
//! running out of captured bytes ends the line with ` [|tcp]` — followed by `>` when that
//! happens inside an option's data after the first option (tcpdump's `trunc:` label), but
//! not when the kind or length byte itself is missing (tcpdump's longjmp path).

use std::net::Ipv6Addr;

use super::seq::Relative;
use super::{put_hex, put_hex_bytes, put_ipv4, put_ipv6, put_u32, put_u64};
use crate::decode::Segment;
use crate::wire::tcp_options::{Malformed, Options, kind};
use tcptrace_common::tcp_flags;

/// Which line format the options are embedded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptStyle {
    /// tcpdump 4.x: `, options [a,b,c]`.
    Modern,
    /// tcpdump 3.x: ` <a,b,c>`.
    Classic,
}

/// Facts about the segment the option printers need.
#[derive(Clone, Copy, Debug)]
pub struct OptContext {
    /// The TCP flag byte.
    pub flags: u8,
    /// Relative-sequence bases for SACK blocks.
    pub rel: Relative,
    /// The TCP payload is all captured (or empty): tcpdump's MD5 check can run.
    pub payload_captured: bool,
    /// The byte after the header is captured and inside the segment (a payload byte):
    /// tcpdump reads an option's length byte there when the kind is the header's last
    /// byte, and calls the option bad rather than cut short.
    pub byte_after_header: bool,
}

/// Why the walk stopped early.
enum Stop {
    /// A kind or length byte was not captured (tcpdump longjmps out).
    Short,
    /// Option data not captured (tcpdump's `trunc:` label).
    Trunc,
    /// Malformed option (tcpdump's `bad:` label).
    Bad,
}

fn name(opt: u8) -> Option<&'static [u8]> {
    Some(match opt {
        kind::EOL => b"eol",
        kind::NOP => b"nop",
        kind::MSS => b"mss",
        kind::WSCALE => b"wscale",
        kind::SACK_OK => b"sackOK",
        kind::SACK => b"sack",
        kind::ECHO => b"echo",
        kind::ECHO_REPLY => b"echoreply",
        kind::TIMESTAMP => b"TS",
        kind::CC => b"cc",
        kind::CC_NEW => b"ccnew",
        kind::CC_ECHO => b"", // sic: tcpdump 4.99.3's table has an empty name here
        kind::MD5 => b"md5",
        kind::SCPS => b"scps",
        kind::UTO => b"uto",
        kind::TCP_AO => b"tcp-ao",
        kind::MPTCP => b"mptcp",
        kind::FAST_OPEN => b"tfo",
        kind::EXPERIMENT2 => b"exp",
        _ => return None,
    })
}

#[inline]
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

#[inline]
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[inline]
fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap())
}

/// The end of a TCP line: `ack N`, `win N`, `urg N` and the options, each after `, `
/// (tcpdump 4) or ` ` (the classic format). False when the line ended inside the options.
pub fn put_ack_to_options(
    out: &mut Vec<u8>,
    seg: &Segment,
    rel: Relative,
    plen: u32,
    style: OptStyle,
) -> bool {
    let sep: &[u8] = if style == OptStyle::Modern {
        b", "
    } else {
        b" "
    };
    let flags = seg.flag_byte();
    let mut field = |name: &[u8], v: u32| {
        out.extend_from_slice(sep);
        out.extend_from_slice(name);
        put_u32(out, v);
    };
    if flags & tcp_flags::ACK as u8 != 0 {
        field(b"ack ", rel.ack);
    }
    field(b"win ", seg.window.into());
    if flags & tcp_flags::URG as u8 != 0 {
        field(b"urg ", seg.urg_ptr.into());
    }
    let hlen = usize::from(seg.hdr_len);
    if hlen <= 20 {
        return true;
    }
    let ctx = OptContext {
        flags,
        rel,
        payload_captured: plen == 0 || seg.segment_captured(),
        byte_after_header: seg.byte_after_header(),
    };
    put_options(out, seg.option_bytes(), hlen - 20, &ctx, style)
}

/// Prints the options of a TCP header.
///
/// `opts` are the captured option bytes, `hdr_opts` the option length the data offset
/// claims (`hdr_len - 20`, > 0). Returns `false` when the line ended inside the options
/// (`[bad opt]`, ` [|tcp]`), in which case nothing more is printed for the segment.
pub fn put_options(
    out: &mut Vec<u8>,
    opts: &[u8],
    hdr_opts: usize,
    ctx: &OptContext,
    style: OptStyle,
) -> bool {
    let modern = style == OptStyle::Modern;
    out.extend_from_slice(if modern { b", options [" } else { b" <" });
    let mut first = true;
    match walk(out, opts, hdr_opts, ctx, &mut first) {
        Ok(()) => {
            out.push(if modern { b']' } else { b'>' });
            true
        }
        Err(stop) => {
            match (stop, modern) {
                (Stop::Short, true) => out.extend_from_slice(b" [|tcp]"),
                (Stop::Trunc, true) => {
                    out.extend_from_slice(b" [|tcp]");
                    if !first {
                        out.push(b'>');
                    }
                }
                (Stop::Bad, true) => {
                    out.extend_from_slice(b"[bad opt]");
                    if !first {
                        out.push(b']');
                    }
                }
                (Stop::Short | Stop::Trunc, false) => out.extend_from_slice(b"[|tcp]>"),
                (Stop::Bad, false) => out.extend_from_slice(b"[bad opt]>"),
            }
            false
        }
    }
}

fn walk(
    out: &mut Vec<u8>,
    opts: &[u8],
    hdr_opts: usize,
    ctx: &OptContext,
    first: &mut bool,
) -> Result<(), Stop> {
    let mut walk = Options::new(opts, hdr_opts);
    while let Some(o) = walk.next() {
        if !*first {
            out.push(b',');
        }
        let o = o.map_err(|m| match m {
            // At the header's end the length byte is the payload's first byte, and any
            // length is more than the 1 byte left.
            Malformed::Short { at, len_byte: true }
                if at + 1 == hdr_opts && ctx.byte_after_header =>
            {
                Stop::Bad
            }
            Malformed::Short { .. } => Stop::Short,
            Malformed::BadLength { .. } => Stop::Bad,
        })?;
        let (opt, len) = (o.kind, o.len);
        // LENCHECK(l): l bytes of data must be in the header and captured.
        let check = |l: usize| -> Result<(), Stop> {
            if l > o.room {
                Err(Stop::Bad)
            } else if l > o.after.len() {
                Err(Stop::Trunc)
            } else {
                Ok(())
            }
        };

        match name(opt) {
            Some(n) => out.extend_from_slice(n),
            None => {
                out.extend_from_slice(b"unknown-");
                put_u32(out, opt as u32);
            }
        }
        let d = o.after;
        let mut datalen = 0usize;
        match opt {
            kind::MSS => {
                datalen = 2;
                check(datalen)?;
                out.push(b' ');
                put_u32(out, be16(d) as u32);
            }
            kind::WSCALE => {
                datalen = 1;
                check(datalen)?;
                out.push(b' ');
                put_u32(out, d[0] as u32);
            }
            kind::SACK => {
                datalen = len - 2;
                if !datalen.is_multiple_of(8) {
                    out.extend_from_slice(b" invalid sack");
                } else {
                    out.push(b' ');
                    put_u32(out, (datalen / 8) as u32);
                    out.push(b' ');
                    let mut i = 0;
                    while i < datalen {
                        check(i + 4)?;
                        let s = ctx.rel.sack_edge(be32(&d[i..]));
                        check(i + 8)?;
                        let e = ctx.rel.sack_edge(be32(&d[i + 4..]));
                        out.push(b'{');
                        put_u32(out, s);
                        out.push(b':');
                        put_u32(out, e);
                        out.push(b'}');
                        i += 8;
                    }
                }
            }
            kind::CC | kind::CC_NEW | kind::CC_ECHO | kind::ECHO | kind::ECHO_REPLY => {
                datalen = 4;
                check(datalen)?;
                out.push(b' ');
                put_u32(out, be32(d));
            }
            kind::TIMESTAMP => {
                datalen = 8;
                check(datalen)?;
                out.extend_from_slice(b" val ");
                put_u32(out, be32(d));
                out.extend_from_slice(b" ecr ");
                put_u32(out, be32(&d[4..]));
            }
            kind::MD5 => {
                datalen = 16;
                check(datalen)?;
                // tcpdump 4.99.3 as Debian builds it (with libcrypto), without `-M`.
                out.push(b' ');
                if ctx.payload_captured {
                    out.extend_from_slice(b"shared secret not supplied with -M, ");
                } else {
                    out.extend_from_slice(b"snaplen too short, ");
                }
                out.extend_from_slice(b"can't check - ");
                put_hex_bytes(out, &d[..16]);
            }
            kind::SCPS => {
                datalen = 2;
                check(datalen)?;
                out.extend_from_slice(b" cap ");
                put_hex(out, d[0] as u64, 2);
                out.extend_from_slice(b" id ");
                put_u32(out, d[1] as u32);
            }
            kind::TCP_AO => {
                datalen = len - 2;
                if datalen < 2 {
                    out.extend_from_slice(b" (invalid)");
                } else {
                    check(1)?;
                    out.extend_from_slice(b" keyid ");
                    put_u32(out, d[0] as u32);
                    check(2)?;
                    out.extend_from_slice(b" rnextkeyid ");
                    put_u32(out, d[1] as u32);
                    if datalen > 2 {
                        out.extend_from_slice(b" mac 0x");
                        for i in 2..datalen {
                            check(i + 1)?;
                            put_hex_bytes(out, &d[i..i + 1]);
                        }
                    }
                }
            }
            kind::EOL | kind::NOP | kind::SACK_OK => {}
            kind::UTO => {
                datalen = 2;
                check(datalen)?;
                let mut v = be16(d) as u32;
                out.extend_from_slice(b" 0x");
                put_hex(out, v as u64, 1);
                if v & 1 != 0 {
                    v = (v >> 1) * 60;
                } else {
                    v >>= 1;
                }
                out.push(b' ');
                put_u32(out, v);
            }
            kind::MPTCP => {
                datalen = len - 2;
                check(datalen)?;
                let whole = &opts[o.at..o.at + len];
                if !mptcp(out, whole, ctx.flags) {
                    return Err(Stop::Bad);
                }
            }
            kind::FAST_OPEN => {
                datalen = len - 2;
                check(datalen)?;
                out.push(b' ');
                fast_open(out, &d[..datalen], false);
            }
            kind::EXPERIMENT2 => {
                datalen = len - 2;
                check(datalen)?;
                if datalen < 2 {
                    return Err(Stop::Bad);
                }
                let magic = be16(d);
                out.push(b'-');
                if magic == 0xf989 {
                    fast_open(out, &d[2..datalen], true);
                } else {
                    put_hex(out, magic as u64, 4);
                }
            }
            _ => {
                datalen = len - 2;
                if datalen > 0 {
                    out.extend_from_slice(b" 0x");
                }
                for i in 0..datalen {
                    check(i + 1)?;
                    put_hex_bytes(out, &d[i..i + 1]);
                }
            }
        }
        // tcpdump moves on by the bytes it read, whatever the length byte said.
        let used = o.head() + datalen;
        walk.resume_at(o.at + used);
        if used != len {
            out.extend_from_slice(b"[len ");
            put_u32(out, len as u32);
            out.push(b']');
        }
        *first = false;
    }
    Ok(())
}

fn fast_open(out: &mut Vec<u8>, data: &[u8], exp: bool) {
    if exp {
        out.extend_from_slice(b"tfo");
    }
    if data.is_empty() {
        out.extend_from_slice(b" cookiereq");
    } else if !data.len().is_multiple_of(2) || data.len() < 4 || data.len() > 16 {
        out.extend_from_slice(b" (invalid)");
    } else {
        out.extend_from_slice(b" cookie ");
        put_hex_bytes(out, data);
    }
}

/// MPTCP option (`opt` = the whole option, kind and length included), as print-mptcp.c
/// prints it. Returns `false` for an option tcpdump rejects (then `[bad opt]`).
pub fn mptcp(out: &mut Vec<u8>, opt: &[u8], flags: u8) -> bool {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    let len = opt.len();
    if len < 3 {
        return false;
    }
    let subtype = (opt[2] >> 4).min(8);
    out.push(b' ');
    put_u32(out, len as u32);
    out.push(b' ');
    out.extend_from_slice(match subtype {
        0 => b"capable".as_slice(),
        1 => b"join",
        2 => b"dss",
        3 => b"add-addr",
        4 => b"rem-addr",
        5 => b"prio",
        6 => b"fail",
        7 => b"fast-close",
        _ => b"unknown",
    });
    match subtype {
        0 => {
            if !((len == 12 || len == 4) && flags & SYN != 0)
                && !((len == 20 || len == 22) && flags & (SYN | ACK) == ACK)
            {
                return false;
            }
            let version = opt[2] & 0xf;
            if version > 1 {
                out.extend_from_slice(b" Unknown Version (");
                put_u32(out, version as u32);
                out.push(b')');
                return true;
            }
            out.extend_from_slice(b" v");
            put_u32(out, version as u32);
            if opt[3] & 0x80 != 0 {
                out.extend_from_slice(b" csum");
            }
            if len == 12 || len >= 20 {
                out.extend_from_slice(b" {0x");
                put_hex(out, be64(&opt[4..]), 1);
                if len >= 20 {
                    out.extend_from_slice(b",0x");
                    put_hex(out, be64(&opt[12..]), 1);
                }
                out.push(b'}');
            }
            true
        }
        1 => {
            let ok = (len == 12 && flags & SYN != 0)
                || (len == 16 && flags & (SYN | ACK) == SYN | ACK)
                || (len == 24 && flags & ACK != 0);
            if !ok {
                return false;
            }
            if len != 24 {
                if opt[2] & 1 != 0 {
                    out.extend_from_slice(b" backup");
                }
                out.extend_from_slice(b" id ");
                put_u32(out, opt[3] as u32);
            }
            match len {
                12 => {
                    out.extend_from_slice(b" token 0x");
                    put_hex(out, be32(&opt[4..]) as u64, 1);
                    out.extend_from_slice(b" nonce 0x");
                    put_hex(out, be32(&opt[8..]) as u64, 1);
                }
                16 => {
                    out.extend_from_slice(b" hmac 0x");
                    put_hex(out, be64(&opt[4..]), 1);
                    out.extend_from_slice(b" nonce 0x");
                    put_hex(out, be32(&opt[12..]) as u64, 1);
                }
                _ => {
                    out.extend_from_slice(b" hmac 0x");
                    put_hex_bytes(out, &opt[4..24]);
                }
            }
            true
        }
        2 => dss(out, opt, flags),
        3 => {
            if !matches!(len, 8 | 10 | 16 | 18 | 20 | 22 | 28 | 30) {
                return false;
            }
            out.push(b' ');
            out.extend_from_slice(match opt[2] & 0xf {
                6 => b"v0-ip6".as_slice(),
                4 => b"v0-ip4",
                1 => b"v1-echo",
                0 => b"v1",
                _ => b"[bad version/echo]",
            });
            out.extend_from_slice(b" id ");
            put_u32(out, opt[3] as u32);
            // The address (IPv4 or IPv6), then a port, then an HMAC, each there or not.
            out.push(b' ');
            let mut at = if matches!(len, 8 | 10 | 16 | 18) {
                put_ipv4(out, [opt[4], opt[5], opt[6], opt[7]]);
                8
            } else {
                let a: [u8; 16] = opt[4..20].try_into().unwrap();
                put_ipv6(out, Ipv6Addr::from(a).octets());
                20
            };
            let rest = len - at;
            if rest == 2 || rest == 10 {
                out.push(b':');
                put_u32(out, be16(&opt[at..]) as u32);
                at += 2;
            }
            if rest >= 8 {
                out.extend_from_slice(b" hmac 0x");
                put_hex(out, be64(&opt[at..]), 1);
            }
            true
        }
        4 => {
            if len < 4 {
                return false;
            }
            out.extend_from_slice(b" id");
            for &id in &opt[3..] {
                out.push(b' ');
                put_u32(out, id as u32);
            }
            true
        }
        5 => {
            if len != 3 && len != 4 {
                return false;
            }
            if opt[2] & 1 != 0 {
                out.extend_from_slice(b" backup");
            } else {
                out.extend_from_slice(b" non-backup");
            }
            if len == 4 {
                out.extend_from_slice(b" id ");
                put_u32(out, opt[3] as u32);
            }
            true
        }
        6 => {
            if len != 12 {
                return false;
            }
            out.extend_from_slice(b" seq ");
            put_u64(out, be64(&opt[4..]));
            true
        }
        7 => {
            if len != 12 {
                return false;
            }
            out.extend_from_slice(b" key 0x");
            put_hex(out, be64(&opt[4..]), 1);
            true
        }
        _ => true,
    }
}

/// A DSS data ACK or sequence number: 8 bytes when `wide`, else 4; false when `p` is
/// shorter. Moves `p` past it.
fn put_dss_number(out: &mut Vec<u8>, p: &mut &[u8], wide: bool) -> bool {
    let n = if wide { 8 } else { 4 };
    if p.len() < n {
        return false;
    }
    if wide {
        put_u64(out, be64(p));
    } else {
        put_u32(out, be32(p));
    }
    *p = &p[n..];
    true
}

fn dss(out: &mut Vec<u8>, opt: &[u8], flags: u8) -> bool {
    const F: u8 = 0x10;
    const SMALL_M: u8 = 0x08;
    const BIG_M: u8 = 0x04;
    const SMALL_A: u8 = 0x02;
    const BIG_A: u8 = 0x01;
    if opt.len() < 4 || flags & 0x02 != 0 {
        return false;
    }
    let f = opt[3];
    if f & F != 0 {
        out.extend_from_slice(b" fin");
    }
    let mut p = &opt[4..];
    if f & BIG_A != 0 {
        out.extend_from_slice(b" ack ");
        if !put_dss_number(out, &mut p, f & SMALL_A != 0) {
            return false;
        }
    }
    if f & BIG_M != 0 {
        out.extend_from_slice(b" seq ");
        if !put_dss_number(out, &mut p, f & SMALL_M != 0) {
            return false;
        }
        if p.len() < 4 {
            return false;
        }
        out.extend_from_slice(b" subseq ");
        put_u32(out, be32(p));
        p = &p[4..];
        if p.len() < 2 {
            return false;
        }
        out.extend_from_slice(b" len ");
        put_u32(out, be16(p) as u32);
        p = &p[2..];
        if p.len() >= 2 {
            out.extend_from_slice(b" csum 0x");
            put_hex(out, be16(p) as u64, 1);
            p = &p[2..];
        }
    }
    p.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn ctx(flags: u8) -> OptContext {
        OptContext {
            flags,
            rel: Relative::absolute(0, 0),
            payload_captured: true,
            byte_after_header: false,
        }
    }

    fn show(bytes: &[u8], hdr: usize, c: &OptContext) -> (String, bool) {
        let mut o = Vec::new();
        let ok = put_options(&mut o, bytes, hdr, c, OptStyle::Modern);
        (String::from_utf8(o).unwrap(), ok)
    }

    fn full(bytes: &str, flags: u8) -> String {
        let b = hex(bytes);
        show(&b, b.len(), &ctx(flags)).0
    }

    #[test]
    fn common() {
        // print-flags.pcap, first SYN.
        assert_eq!(
            full("0204400c0402080a4ddc9216000000000103 0302", 0x02),
            ", options [mss 16396,sackOK,TS val 1306300950 ecr 0,nop,wscale 2]"
        );
        // accecn_handshake.pcap: experimental option and eol.
        assert_eq!(
            full("0101080a06af3cf2a5e4dec4fe04acc000", 0x10),
            ", options [nop,nop,TS val 112147698 ecr 2783239876,exp-acc0,eol]"
        );
    }

    #[test]
    fn quirks_match_tcpdump() {
        // Expected texts are from tcpdump 4.99.3 on hand-made packets.
        assert_eq!(full("01021001", 2), ", options [nop,[bad opt]]");
        assert_eq!(
            full("220a0001020304050607 2202 fe04f989", 2),
            ", options [tfo  cookie 0001020304050607,tfo  cookiereq,exp-tfo cookiereq]"
        );
        assert_eq!(
            full("1c04012d 14040506 060600000007 0b0600000009 040300 00", 2),
            ", options [uto 0x12d 9000,scps cap 05 id 6,echo 7,cc 9,sackOK[len 3],eol]"
        );
        assert_eq!(
            full("1312000102030405060708090a0b0c0d0e0f 0000", 2),
            ", options [md5 shared secret not supplied with -M, can't check - 000102030405060708090a0b0c0d0e0f,eol]"
        );
        assert_eq!(
            full("220561626303040700 02030100", 2),
            ", options [tfo  (invalid),wscale 7[len 4],eol]"
        );
        assert_eq!(full("1d030100", 0x10), ", options [tcp-ao (invalid),eol]");
        assert_eq!(
            full("0505010203 01 6302", 2),
            ", options [sack invalid sack,nop,unknown-99]"
        );
        assert_eq!(full("1e042000", 2), ", options [mptcp 4 dss[bad opt]");
        assert_eq!(
            full("0d0600000005 0c0600000006", 2),
            ", options [ 5,ccnew 6]"
        );
        assert_eq!(
            full("fd040102 1c040000", 2),
            ", options [unknown-253 0x0102,uto 0x0 0]"
        );
    }

    #[test]
    fn truncation() {
        let c = ctx(2);
        // nop, then the mss kind byte missing / its length byte missing / its data cut.
        let b = hex("01020405b4010101");
        assert_eq!(show(&b[..1], 8, &c).0, ", options [nop, [|tcp]");
        assert_eq!(show(&b[..2], 8, &c).0, ", options [nop, [|tcp]");
        assert_eq!(show(&b[..0], 8, &c).0, ", options [ [|tcp]");
        assert_eq!(
            show(&b[..3], 8, &c),
            (", options [nop,mss [|tcp]>".into(), false)
        );
        // heapoverflow-tcp_print.pcap: first option cut: no '>'.
        let b = hex("30 28 3030303030303030");
        assert_eq!(
            show(&b, 40, &c).0,
            ", options [unknown-48 0x3030303030303030 [|tcp]"
        );
        // tcp-auth-heapoverflow.pcap.
        let b = hex("1d 15 3030 303030303030");
        assert_eq!(
            show(&b, 40, &c).0,
            ", options [tcp-ao keyid 48 rnextkeyid 48 mac 0x303030303030 [|tcp]"
        );
        // SACK cut after the first block.
        let b = hex("0101 0512 00000000 00000000 00000000 00000000");
        let r = OptContext {
            flags: 0x10,
            rel: Relative {
                seq: 0,
                ack: 0,
                rev: true,
                thseq: u32::MAX,
                thack: 100,
            },
            payload_captured: true,
            byte_after_header: false,
        };
        assert_eq!(
            show(&b[..14], 20, &r).0,
            ", options [nop,nop,sack 2 {1:1} [|tcp]>"
        );
    }

    #[test]
    fn mptcp_subtypes() {
        // mptcp-v1 / mptcp-v0 / mptcp-fclose / mptcp-tcprst / mptcp-aa-v1 expectations.
        assert_eq!(full("1e040101", 2), ", options [mptcp 4 capable v1]");
        assert_eq!(
            full("1e0c 0081 9b59be3d695e66a7", 2),
            ", options [mptcp 12 capable v0 csum {0x9b59be3d695e66a7}]"
        );
        assert_eq!(
            full("1e14 0081 9b59be3d695e66a7 d005b1ab34bad344", 0x10),
            ", options [mptcp 20 capable v0 csum {0x9b59be3d695e66a7,0xd005b1ab34bad344}]"
        );
        assert_eq!(
            full("1e14 2005 c9dc1c61 b1712fb6 00000001 0001 9e91", 0x18),
            ", options [mptcp 20 dss ack 3386645601 seq 2976985014 subseq 1 len 1 csum 0x9e91]"
        );
        assert_eq!(
            full("1e08 2001 b1712fb7", 0x10),
            ", options [mptcp 8 dss ack 2976985015]"
        );
        assert_eq!(
            full("1e0c 7000 d005b1ab34bad344", 0x10),
            ", options [mptcp 12 fast-close key 0xd005b1ab34bad344]"
        );
        assert_eq!(full("1e04 8000", 0x14), ", options [mptcp 4 unknown]");
        assert_eq!(
            full("1e08 3401 0a010202", 0x18),
            ", options [mptcp 8 add-addr v0-ip4 id 1 10.1.2.2]"
        );
        assert_eq!(
            full("1e10 3001 c0a888e1 669928744366716c", 0x10),
            ", options [mptcp 16 add-addr v1 id 1 192.168.136.225 hmac 0x669928744366716c]"
        );
        assert_eq!(full("1e04 4000", 0x10), ", options [mptcp 4 rem-addr id 0]");
        assert_eq!(
            full("1e0c 1000 e47f0142 1b665a18", 0x02),
            ", options [mptcp 12 join id 0 token 0xe47f0142 nonce 0x1b665a18]"
        );
        assert_eq!(
            full("1e10 1001 5ab680c7884af03d 33abe9d5", 0x12),
            ", options [mptcp 16 join id 1 hmac 0x5ab680c7884af03d nonce 0x33abe9d5]"
        );
        assert_eq!(
            full("1e18 1000 cb7b87f5e5f0502f43b535fb70ef6607df2e6c7a", 0x10),
            ", options [mptcp 24 join hmac 0xcb7b87f5e5f0502f43b535fb70ef6607df2e6c7a]"
        );
        assert_eq!(
            full("1e04 5101", 0x10),
            ", options [mptcp 4 prio backup id 1]"
        );
        assert_eq!(full("1e03 50", 0x10), ", options [mptcp 3 prio non-backup]");
        assert_eq!(
            full("1e0c 6000 0000000000000005", 0x10),
            ", options [mptcp 12 fail seq 5]"
        );
    }

    #[test]
    fn classic_style() {
        let b = hex("020405b401010402");
        let mut o = Vec::new();
        assert!(put_options(&mut o, &b, 8, &ctx(2), OptStyle::Classic));
        assert_eq!(String::from_utf8(o).unwrap(), " <mss 1460,nop,nop,sackOK>");
    }
}
