//! The outer part of a tunnelled segment's line, as tcpdump 4.99.3 prints it before the
//! inner packet (`print-ip.c`, `print-ip6.c`, `print-udp.c`, `print-vxlan.c`,
//! `print-geneve.c`, `print-gre.c`): from the outer header bytes a record's tail carries
//! (outer IP header to inner IP header).
use crate::render::iphdrs::{Ipv4Verbose, Ipv6Verbose};
use crate::render::{put_bit_names, put_hex, put_ipv4, put_ipv6, put_u32};
use crate::wire::checksum::{checksum, fold, pseudo_header, should_be, sum16};

use tcptrace_common::{GENEVE_PORT, VXLAN_PORT};

const ETH_P_TEB: u16 = 0x6558;

/// Appends the outer headers' text for a tunnel whose headers, from the outer IP header
/// to the inner TCP header, are `all` (the outer ones are the first `outer_len`). False
/// when tcpdump prints nothing of the inner packet (`-q` on a UDP tunnel: `UDP, length
/// N`), or the bytes are not a tunnel. `seg_sum`: the inner TCP segment's byte sum
/// ([`crate::decode::Segment::segment_sum`]), which with the header bytes gives the outer
/// UDP checksum's verdict.
pub fn outer(
    out: &mut Vec<u8>,
    all: &[u8],
    outer_len: usize,
    verbose: u8,
    quiet: bool,
    seg_sum: Option<u16>,
) -> bool {
    let b = &all[..outer_len.min(all.len())];
    let Some(&first) = b.first() else {
        return false;
    };
    let v = verbose > 0;
    // The outer IP header: its payload offset, protocol and payload length.
    let (l4, proto, payload_len, src, dst): (usize, u8, u32, &[u8], &[u8]) = if first >> 4 == 4 {
        let ihl = usize::from(first & 0x0f) * 4;
        if b.len() < ihl.max(20) {
            return false;
        }
        let total = u32::from(u16::from_be_bytes([b[2], b[3]]));
        out.extend_from_slice(b"IP ");
        if v {
            ipv4_verbose(out, &b[..ihl]);
        }
        (
            ihl,
            b[9],
            total.saturating_sub(ihl as u32),
            &b[12..16],
            &b[16..20],
        )
    } else {
        if b.len() < 40 {
            return false;
        }
        let plen = u32::from(u16::from_be_bytes([b[4], b[5]]));
        out.extend_from_slice(b"IP6 ");
        if v {
            ipv6_verbose(out, b);
        }
        (40, b[6], plen, &b[8..24], &b[24..40])
    };
    let addr = |out: &mut Vec<u8>, a: &[u8]| match a.len() {
        4 => put_ipv4(out, [a[0], a[1], a[2], a[3]]),
        _ => {
            let mut x = [0u8; 16];
            x.copy_from_slice(a);
            put_ipv6(out, x);
        }
    };
    let rest = &b[l4..];
    match proto {
        17 => {
            let Some(u) = rest.get(..8) else {
                return false;
            };
            let sport = u16::from_be_bytes([u[0], u[1]]);
            let dport = u16::from_be_bytes([u[2], u[3]]);
            addr(out, src);
            out.push(b'.');
            put_u32(out, sport.into());
            out.extend_from_slice(b" > ");
            addr(out, dst);
            out.push(b'.');
            put_u32(out, dport.into());
            out.extend_from_slice(b": ");
            let field = u16::from_be_bytes([u[6], u[7]]);
            let v6 = src.len() == 16;
            if verbose > 1 && !v6 && field == 0 {
                out.extend_from_slice(b"[no cksum] ");
            } else if (verbose > 1 || (v6 && verbose > 0))
                && let Some(ss) = seg_sum
            {
                udp_verdict(out, src, dst, &all[l4..], field, ss);
            }
            if quiet {
                out.extend_from_slice(b"UDP, length ");
                put_u32(
                    out,
                    u32::from(u16::from_be_bytes([u[4], u[5]])).saturating_sub(8),
                );
                return false;
            }
            let h = &rest[8..];
            if sport == VXLAN_PORT || dport == VXLAN_PORT {
                vxlan(out, h)
            } else if sport == GENEVE_PORT || dport == GENEVE_PORT {
                geneve(out, h, verbose)
            } else {
                false
            }
        }
        47 => {
            addr(out, src);
            out.extend_from_slice(b" > ");
            addr(out, dst);
            out.extend_from_slice(b": ");
            gre(out, rest, payload_len, v)
        }
        _ => {
            addr(out, src);
            out.extend_from_slice(b" > ");
            addr(out, dst);
            out.extend_from_slice(b": ");
            true
        }
    }
}

/// `[udp sum ok] ` or `[bad udp cksum 0x.. -> 0x..!] ` for a UDP datagram made of `hdrs`
/// (UDP header to the inner TCP header) and a TCP segment whose byte sum is `seg_sum`.
fn udp_verdict(out: &mut Vec<u8>, src: &[u8], dst: &[u8], hdrs: &[u8], field: u16, seg_sum: u16) {
    let len = u16::from_be_bytes([hdrs[4], hdrs[5]]);
    let mut acc = pseudo_header(src, dst, 17, len.into()) + sum16(0, hdrs);
    // The segment's words start at an odd offset of the datagram: its sum swaps bytes.
    acc += u32::from(if hdrs.len() % 2 == 1 {
        seg_sum.swap_bytes()
    } else {
        seg_sum
    });
    let computed = !fold(acc);
    if computed == 0 {
        out.extend_from_slice(b"[udp sum ok] ");
    } else {
        out.extend_from_slice(b"[bad udp cksum 0x");
        put_hex(out, field.into(), 4);
        out.extend_from_slice(b" -> 0x");
        put_hex(out, should_be(field, computed).into(), 4);
        out.extend_from_slice(b"!] ");
    }
}

/// `VXLAN, flags [I] (0x08), vni 11` and a new line (the inner Ethernet header prints
/// nothing without `-e`).
fn vxlan(out: &mut Vec<u8>, h: &[u8]) -> bool {
    let Some(h) = h.get(..8) else {
        return false;
    };
    out.extend_from_slice(b"VXLAN, flags [");
    out.extend_from_slice(if h[0] & 0x08 != 0 { b"I" } else { b"invalid" });
    out.extend_from_slice(b"] (0x");
    put_hex(out, h[0].into(), 2);
    out.extend_from_slice(b"), vni ");
    put_u32(out, u32::from_be_bytes([0, h[4], h[5], h[6]]));
    out.push(b'\n');
    true
}

/// `Geneve, Flags [none], vni 0xb` then `: ` (`\n\t` with `-v`). Options print as
/// `options [N bytes]`, decoded with `-v` ([`geneve_options`]).
fn geneve(out: &mut Vec<u8>, h: &[u8], verbose: u8) -> bool {
    let Some(g) = h.get(..8) else {
        return false;
    };
    out.extend_from_slice(b"Geneve, Flags [");
    let names: [(u16, &[u8]); 8] = [
        (0x80, b"O"),
        (0x40, b"C"),
        (0x20, b"R1"),
        (0x10, b"R2"),
        (0x08, b"R3"),
        (0x04, b"R4"),
        (0x02, b"R5"),
        (0x01, b"R6"),
    ];
    put_bit_names(out, g[1].into(), &names, b"");
    out.extend_from_slice(b"], vni 0x");
    put_hex(out, u32::from_be_bytes([0, g[4], g[5], g[6]]).into(), 1);
    if g[7] != 0 {
        out.extend_from_slice(b", rsvd 0x");
        put_hex(out, g[7].into(), 1);
    }
    let opts = usize::from(g[0] & 0x3f) * 4;
    if opts > 0 {
        out.extend_from_slice(b", options [");
        match h.get(8..8 + opts) {
            Some(o) if verbose > 0 => geneve_options(out, o, verbose > 1),
            // Without -v, or options past the tail's MAX_TAIL bytes: their size.
            _ => {
                put_u32(out, opts as u32);
                out.extend_from_slice(b" bytes");
            }
        }
        out.push(b']');
    }
    out.extend_from_slice(if verbose > 0 { b"\n\t" } else { b": " });
    let proto = u16::from_be_bytes([g[2], g[3]]);
    matches!(proto, 0x0800 | 0x86dd | ETH_P_TEB)
}

/// The options area `o` of a Geneve header as tcpdump prints it with `-v`, `, `
/// between options: `class Standard (0x0) type 0x80(C) len 8` (the length with the
/// option's own 4-byte header), then ` data 0000000a ...` (each 32-bit word) with
/// `-vv`; an option running past the area ends the list with ` [bad length]`.
fn geneve_options(out: &mut Vec<u8>, mut o: &[u8], data: bool) {
    let mut first = true;
    while let Some(&[c0, c1, kind, l]) = o.get(..4) {
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        let class = u16::from_be_bytes([c0, c1]);
        out.extend_from_slice(b"class ");
        out.extend_from_slice(match class {
            0x0100 => b"Linux".as_slice(),
            0x0101 => b"Open vSwitch",
            0x0102 => b"Open Virtual Networking (OVN)",
            0x0103 => b"In-band Network Telemetry (INT)",
            0x0104 => b"VMware",
            0..=0xff => b"Standard",
            0xfff0.. => b"Experimental",
            _ => b"Unknown",
        });
        out.extend_from_slice(b" (0x");
        put_hex(out, class.into(), 1);
        out.extend_from_slice(b") type 0x");
        put_hex(out, kind.into(), 1);
        if kind & 0x80 != 0 {
            out.extend_from_slice(b"(C)");
        }
        let len = 4 + usize::from(l & 0x1f) * 4;
        out.extend_from_slice(b" len ");
        put_u32(out, len as u32);
        let Some(opt) = o.get(..len) else {
            out.extend_from_slice(b" [bad length]");
            return;
        };
        if data && len > 4 {
            out.extend_from_slice(b" data");
            for w in opt[4..].chunks_exact(4) {
                out.push(b' ');
                put_hex(out, u32::from_be_bytes([w[0], w[1], w[2], w[3]]).into(), 8);
            }
        }
        o = &o[len..];
    }
}

/// `GREv0, [Flags [...], ][sum 0x.., ]off 0x.., key=0x.., seq N, length L` then `: `
/// (`\n\t` with `-v`).
fn gre(out: &mut Vec<u8>, h: &[u8], length: u32, v: bool) -> bool {
    let Some(g) = h.get(..4) else {
        return false;
    };
    let flags = u16::from_be_bytes([g[0], g[1]]);
    out.extend_from_slice(b"GREv");
    put_u32(out, u32::from(flags & 7));
    if v {
        out.extend_from_slice(b", Flags [");
        let names: [(u16, &[u8]); 6] = [
            (0x8000, b"checksum present"),
            (0x4000, b"routing present"),
            (0x2000, b"key present"),
            (0x1000, b"sequence# present"),
            (0x0800, b"source routing present"),
            (0x0080, b"ack present"),
        ];
        put_bit_names(out, flags, &names, b", ");
        out.push(b']');
    }
    let mut at = 4;
    let word = |at: usize| h.get(at..at + 4).map(|w| [w[0], w[1], w[2], w[3]]);
    if flags & 0xc000 != 0 {
        let Some(w) = word(at) else {
            return false;
        };
        if v {
            out.extend_from_slice(b", sum 0x");
            put_hex(out, u16::from_be_bytes([w[0], w[1]]).into(), 1);
        }
        out.extend_from_slice(b", off 0x");
        put_hex(out, u16::from_be_bytes([w[2], w[3]]).into(), 1);
        at += 4;
    }
    if flags & 0x2000 != 0 {
        let Some(w) = word(at) else {
            return false;
        };
        out.extend_from_slice(b", key=0x");
        put_hex(out, u32::from_be_bytes(w).into(), 1);
        at += 4;
    }
    if flags & 0x1000 != 0 {
        let Some(w) = word(at) else {
            return false;
        };
        out.extend_from_slice(b", seq ");
        put_u32(out, u32::from_be_bytes(w));
    }
    out.extend_from_slice(b", length ");
    put_u32(out, length);
    out.extend_from_slice(if v { b"\n\t" } else { b": " });
    true
}

/// The name tcpdump gives an outer header's protocol.
fn proto_name(p: u8) -> &'static [u8] {
    match p {
        4 => b"IPIP",
        6 => b"TCP",
        17 => b"UDP",
        41 => b"IPv6",
        47 => b"GRE",
        _ => b"unknown",
    }
}

/// `(tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto UDP (17), length 90)` and the new
/// line, as for the inner header, the checksum verified over the header bytes.
fn ipv4_verbose(out: &mut Vec<u8>, h: &[u8]) {
    let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let computed = checksum(h);
    Ipv4Verbose {
        tos: h[1],
        ttl: h[8],
        id: be16(4).into(),
        frag: be16(6),
        proto: (proto_name(h[9]), h[9]),
        len: be16(2).into(),
        options: (h.len() > 20).then(|| &h[20..]),
        bad_csum: (computed != 0).then(|| (be16(10), should_be(be16(10), computed))),
    }
    .put(out);
}

/// `(class 0x.., flowlabel 0x....., hlim 64, next-header IPv6 (41) payload length: 60) `.
fn ipv6_verbose(out: &mut Vec<u8>, h: &[u8]) {
    let w0 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    Ipv6Verbose {
        class: (w0 >> 20) as u8,
        flow_label: w0 & 0xfffff,
        hlim: h[7],
        next: (proto_name(h[6]), h[6]),
        payload_len: u16::from_be_bytes([h[4], h[5]]).into(),
    }
    .put(out);
}
