//! The TCP options the analysis uses (MSS, window scale, SACK, timestamps, Fast Open),
//! read from a segment's captured option bytes with the one option walk
//! ([`crate::wire::tcp_options`]). Malformed or truncated options end the walk: what was
//! read before them stays.

use crate::decode::Segment;
use crate::wire::tcp_options::{Options, kind};

/// SACK blocks kept per segment (a TCP header has room for 4 at most).
pub const MAX_SACK: usize = 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOpts {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_ok: bool,
    /// TS value and echo reply.
    pub ts: Option<(u32, u32)>,
    /// A Fast Open option (cookie request or cookie).
    pub tfo: bool,
    pub sacks: [(u32, u32); MAX_SACK],
    pub nsack: usize,
}

impl TcpOpts {
    pub fn sack_blocks(&self) -> &[(u32, u32)] {
        &self.sacks[..self.nsack]
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The options of `seg`.
pub fn parse(seg: &Segment) -> TcpOpts {
    parse_bytes(seg.option_bytes())
}

pub fn parse_bytes(b: &[u8]) -> TcpOpts {
    let mut o = TcpOpts::default();
    for opt in Options::new(b, b.len()) {
        let Some(d) = opt.ok().and_then(|opt| Some((opt.kind, opt.data()?))) else {
            break;
        };
        match d {
            (kind::MSS, [h, l]) => o.mss = Some(u16::from_be_bytes([*h, *l])),
            (kind::WSCALE, [s]) => o.wscale = Some((*s).min(14)),
            (kind::SACK_OK, []) => o.sack_ok = true,
            (kind::SACK, d) if d.len() % 8 == 0 => {
                for blk in d.chunks_exact(8).take(MAX_SACK) {
                    o.sacks[o.nsack] = (be32(blk), be32(&blk[4..]));
                    o.nsack += 1;
                }
            }
            (kind::TIMESTAMP, d) if d.len() == 8 => o.ts = Some((be32(d), be32(&d[4..]))),
            (kind::FAST_OPEN, _) => o.tfo = true,
            _ => {}
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syn_options_and_sack_blocks() {
        // mss 1460, sackOK, TS val 1 ecr 0, nop, wscale 7
        let b = [
            2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = parse_bytes(&b);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.wscale, Some(7));
        assert!(o.sack_ok);
        assert_eq!(o.ts, Some((1, 0)));
        let b = [1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20, 34, 2];
        let o = parse_bytes(&b);
        assert_eq!(o.sack_blocks(), &[(10, 20)]);
        assert!(o.tfo);
        // A length past the end stops the walk.
        assert_eq!(parse_bytes(&[2, 9, 1]).mss, None);
    }
}
