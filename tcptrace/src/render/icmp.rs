//! ICMP and ICMPv6 errors about traced segments, as tcpdump 4.99.3 prints them
//! (print-icmp.c, print-icmp6.c): the error's own header, `ICMP …, length N`, and with
//! `-v` the quoted IPv4 packet on a line of its own (printed by the TCP line's code).

use super::{put_hex, put_ip, put_u32};
use crate::decode::IcmpError;

/// tcpdump's text for an ICMP (IPv4) error, from `ICMP` to `, length N` and the checksum
/// verdict of `-v`.
pub fn icmp4(out: &mut Vec<u8>, e: &IcmpError, verbose: bool) {
    let q = &e.quoted;
    let dst = |out: &mut Vec<u8>| put_ip(out, &q.dst);
    out.extend_from_slice(b"ICMP ");
    match (e.icmp_type, e.code) {
        (3, code) => {
            // tcpdump's words: what is unreachable, the address, then why.
            let pre: &[u8] = match code {
                0 | 6 | 9 | 11 => b"net ",
                1 | 7 | 10 | 12..=15 => b"host ",
                _ => b"",
            };
            let why: &[u8] = match code {
                5 => b" - source route failed",
                6 | 7 => b" - unknown",
                8 => b" - source host isolated",
                9 | 10 => b" - admin prohibited",
                11 | 12 => b" - tos prohibited",
                13 => b" - admin prohibited filter",
                14 => b" - host precedence violation",
                15 => b" - precedence cutoff",
                _ => b"",
            };
            out.extend_from_slice(pre);
            dst(out);
            match code {
                2 => out.extend_from_slice(b" protocol 6 unreachable"),
                3 => {
                    out.extend_from_slice(b" tcp port ");
                    put_u32(out, u32::from(q.dport));
                    out.extend_from_slice(b" unreachable");
                }
                4 => {
                    out.extend_from_slice(b" unreachable - need to frag");
                    let mtu = u16::from_be_bytes([e.rest[2], e.rest[3]]);
                    if mtu != 0 {
                        out.extend_from_slice(b" (mtu ");
                        put_u32(out, u32::from(mtu));
                        out.push(b')');
                    }
                }
                0..=15 => {
                    out.extend_from_slice(b" unreachable");
                    out.extend_from_slice(why);
                }
                _ => {
                    out.extend_from_slice(b" unreachable - #");
                    put_u32(out, u32::from(code));
                }
            }
        }
        (11, 0) => out.extend_from_slice(b"time exceeded in-transit"),
        (11, 1) => out.extend_from_slice(b"ip reassembly time exceeded"),
        (11, code) => {
            out.extend_from_slice(b"time exceeded-#");
            put_u32(out, u32::from(code));
        }
        (_, 0) => {
            out.extend_from_slice(b"parameter problem - octet ");
            put_u32(out, u32::from(e.rest[0]));
        }
        (_, code) => {
            out.extend_from_slice(b"parameter problem - code ");
            put_u32(out, u32::from(code));
        }
    }
    out.extend_from_slice(b", length ");
    put_u32(out, e.icmp_len());
    if verbose
        && e.frag & 0x3fff == 0
        && e.csum_computed
        && e.icmp_whole
        && e.icmp_csum != e.icmp_csum_calc
    {
        out.extend_from_slice(b" (wrong icmp cksum ");
        put_hex(out, u64::from(e.icmp_csum), 1);
        out.extend_from_slice(b" (->");
        put_hex(out, u64::from(e.icmp_csum_calc), 1);
        out.extend_from_slice(b")!)");
    }
}

/// tcpdump's text for an ICMPv6 error, from the `-v` checksum verdict to the end.
pub fn icmp6(out: &mut Vec<u8>, e: &IcmpError, verbose: bool) {
    let q = &e.quoted;
    if verbose && e.csum_computed && e.icmp_whole {
        if e.icmp_csum == e.icmp_csum_calc {
            out.extend_from_slice(b"[icmp6 sum ok] ");
        } else {
            out.extend_from_slice(b"[bad icmp6 cksum 0x");
            put_hex(out, u64::from(e.icmp_csum), 4);
            out.extend_from_slice(b" -> 0x");
            put_hex(out, u64::from(e.icmp_csum_calc), 4);
            out.extend_from_slice(b"!] ");
        }
    }
    out.extend_from_slice(b"ICMP6, ");
    match (e.icmp_type, e.code) {
        (1, code) => {
            out.extend_from_slice(b"destination unreachable, ");
            out.extend_from_slice(match code {
                0 => b"unreachable route ".as_slice(),
                1 => b" unreachable prohibited ",
                2 => b"beyond scope ",
                3 => b"unreachable address ",
                _ => b"unreachable port, ",
            });
            put_ip(out, &q.dst);
            match code {
                2 => {
                    out.extend_from_slice(b", source address ");
                    put_ip(out, &q.src);
                }
                4 => {
                    out.extend_from_slice(b" tcp port ");
                    put_u32(out, u32::from(q.dport));
                }
                _ => {}
            }
        }
        (2, _) => {
            out.extend_from_slice(b"packet too big, mtu ");
            put_u32(out, u32::from_be_bytes(e.rest));
        }
        (3, 0) => {
            out.extend_from_slice(b"time exceeded in-transit for ");
            put_ip(out, &q.dst);
        }
        (3, 1) => out.extend_from_slice(b"time exceeded in-transit (reassembly)"),
        (3, code) => {
            out.extend_from_slice(b"time exceeded in-transit, unknown code (");
            put_u32(out, u32::from(code));
            out.push(b')');
        }
        (_, code) => {
            out.extend_from_slice(b"parameter problem, ");
            let what: &[u8] = match code {
                0 => b"erroneous",
                1 => b"next header",
                2 => b"option",
                3 => b"incomplete header chain",
                _ => b"",
            };
            if what.is_empty() {
                out.extend_from_slice(b"code-#");
                put_u32(out, u32::from(code));
            } else {
                out.extend_from_slice(what);
                out.extend_from_slice(b" - octet ");
                put_u32(out, u32::from_be_bytes(e.rest));
            }
        }
    }
    if !verbose {
        out.extend_from_slice(b", length ");
        put_u32(out, e.icmp_len());
    }
}
