//! Relative sequence numbers, as tcpdump 4.99.3's `print-tcp.c` keeps them.
//!
//! tcpdump keeps one entry per conversation (separate tables for IPv4 and IPv6), keyed on
//! the address pair and the port pair put in a fixed order so both directions find the same
//! entry: the side with the lower port first (on equal ports, the lower address bytes
//! first). It consults the table only for segments with ACK set (and not under `-S`).
//! A segment that finds no entry, or carries SYN, (re)sets the entry from its own numbers —
//! base sequence = its seq, base ack = its ack - 1, stored swapped when the segment runs in
//! the reverse of the key's order — and prints its numbers absolute; later segments print
//! theirs minus the bases. SACK blocks are shown relative to the same bases.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

/// A small fast hasher for fixed-size keys (multiply-rotate, FxHash style).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rem = chunks.remainder();
        if !rem.is_empty() {
            let mut b = [0u8; 8];
            b[..rem.len()].copy_from_slice(rem);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

type Build = BuildHasherDefault<FastHasher>;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key<const N: usize> {
    src: [u8; N],
    dst: [u8; N],
    ports: u32,
}

#[derive(Clone, Copy)]
struct Bases {
    seq: u32,
    ack: u32,
}

/// What the printer needs from the table for one segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relative {
    /// Sequence and acknowledgement numbers to print.
    pub seq: u32,
    pub ack: u32,
    /// The segment runs against the key's order (tcpdump's `rev`).
    pub rev: bool,
    /// The entry's stored bases (tcpdump's `thseq`, `thack`), for SACK blocks.
    pub thseq: u32,
    pub thack: u32,
}

impl Relative {
    /// Numbers printed as they are (no table involved: `-S`, or ACK not set).
    pub fn absolute(seq: u32, ack: u32) -> Self {
        Relative {
            seq,
            ack,
            rev: false,
            thseq: 0,
            thack: 0,
        }
    }

    /// A SACK block edge as tcpdump prints it.
    #[inline]
    pub fn sack_edge(&self, v: u32) -> u32 {
        if self.rev {
            v.wrapping_sub(self.thseq)
        } else {
            v.wrapping_sub(self.thack)
        }
    }
}

/// The conversation table.
#[derive(Default)]
pub struct SeqTable {
    v4: HashMap<Key<4>, Bases, Build>,
    v6: HashMap<Key<16>, Bases, Build>,
}

impl SeqTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of conversations remembered.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The numbers tcpdump prints for `seg`: relative once the conversation is known,
    /// absolute with `-S` (`absolute`) or without ACK (tcpdump only tracks ACK segments).
    pub fn numbers(&mut self, seg: &crate::decode::Segment, absolute: bool) -> Relative {
        if absolute || !seg.has(tcptrace_common::tcp_flags::ACK) {
            return Relative::absolute(seg.seq, seg.ack);
        }
        let ends = Ends {
            sport: seg.sport,
            dport: seg.dport,
            seq: seg.seq,
            ack: seg.ack,
            syn: seg.syn(),
        };
        self.relate(&seg.src, &seg.dst, ends)
    }

    /// Looks up (or records) the conversation of a segment with ACK set and returns the
    /// numbers to print.
    pub fn relate(&mut self, src: &IpAddr, dst: &IpAddr, e: Ends) -> Relative {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => relate(&mut self.v4, s.octets(), d.octets(), e),
            (IpAddr::V6(s), IpAddr::V6(d)) => relate(&mut self.v6, s.octets(), d.octets(), e),
            _ => Relative::absolute(e.seq, e.ack),
        }
    }
}

/// What the table needs of a segment besides its addresses.
#[derive(Clone, Copy, Debug)]
pub struct Ends {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// The segment carries SYN.
    pub syn: bool,
}

#[inline]
fn relate<const N: usize>(
    table: &mut HashMap<Key<N>, Bases, Build>,
    src: [u8; N],
    dst: [u8; N],
    e: Ends,
) -> Relative {
    let Ends {
        sport,
        dport,
        seq,
        ack,
        syn,
    } = e;
    let rev = sport > dport || (sport == dport && src > dst);
    let key = if rev {
        Key {
            src: dst,
            dst: src,
            ports: (dport as u32) << 16 | sport as u32,
        }
    } else {
        Key {
            src,
            dst,
            ports: (sport as u32) << 16 | dport as u32,
        }
    };
    let fresh = |seq: u32, ack: u32| {
        if rev {
            Bases {
                seq: ack.wrapping_sub(1),
                ack: seq,
            }
        } else {
            Bases {
                seq,
                ack: ack.wrapping_sub(1),
            }
        }
    };
    let (pseq, pack, b) = match table.get_mut(&key) {
        Some(b) if !syn => {
            let (s, a) = if rev {
                (seq.wrapping_sub(b.ack), ack.wrapping_sub(b.seq))
            } else {
                (seq.wrapping_sub(b.seq), ack.wrapping_sub(b.ack))
            };
            (s, a, *b)
        }
        Some(b) => {
            *b = fresh(seq, ack);
            (seq, ack, *b)
        }
        None => {
            let b = fresh(seq, ack);
            table.insert(key, b);
            (seq, ack, b)
        }
    };
    Relative {
        seq: pseq,
        ack: pack,
        rev,
        thseq: b.seq,
        thack: b.ack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(sport: u16, dport: u16, seq: u32, ack: u32, syn: bool) -> Ends {
        Ends {
            sport,
            dport,
            seq,
            ack,
            syn,
        }
    }

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn handshake_and_teardown() {
        // print-flags.pcap: client 55920 -> server 80.
        let (c, s) = (a("127.0.0.1"), a("127.0.0.1"));
        let mut t = SeqTable::new();
        // SYN (no ACK) does not touch the table; SYN-ACK sets it and prints absolute.
        let r = t.relate(&s, &c, ends(80, 55920, 930778609, 928549247, true));
        assert_eq!((r.seq, r.ack), (930778609, 928549247));
        let r = t.relate(&c, &s, ends(55920, 80, 928549247, 930778610, false));
        assert_eq!((r.seq, r.ack), (1, 1));
        let r = t.relate(&s, &c, ends(80, 55920, 930778610, 928549449, false));
        assert_eq!((r.seq, r.ack), (1, 203));
        let r = t.relate(&c, &s, ends(55920, 80, 928549449, 930784169, false));
        assert_eq!((r.seq, r.ack), (203, 5560));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn first_packet_with_ack_is_absolute_and_sets_bases() {
        let mut t = SeqTable::new();
        let (x, y) = (a("10.0.0.1"), a("10.0.0.2"));
        let r = t.relate(&x, &y, ends(1000, 80, 100, 0, false));
        assert!(r.rev);
        assert_eq!((r.seq, r.ack), (100, 0));
        // SACK edges relative to ack base (0 - 1).
        assert_eq!(r.sack_edge(10), 11);
        let r = t.relate(&y, &x, ends(80, 1000, 5, 150, false));
        assert!(!r.rev);
        assert_eq!((r.seq, r.ack), (6, 50));
    }

    #[test]
    fn equal_ports_order_by_address() {
        let mut t = SeqTable::new();
        let (x, y) = (a("48.48.48.49"), a("48.48.48.48"));
        let r = t.relate(&x, &y, ends(12336, 12336, 10, 20, false));
        assert!(r.rev);
        let r = t.relate(&y, &x, ends(12336, 12336, 20, 11, false));
        assert!(!r.rev);
        assert_eq!((r.seq, r.ack), (1, 1));
    }
}
