//! Ethernet → up to two VLAN tags → IPv4 / IPv6 (+ extension headers) → TCP.
//! Every read is bounds-checked; every loop has a fixed bound.
use tcptrace_common::{FAMILY_V4, FAMILY_V6, MAX_IPV6_EXT, counter, status};

use crate::{
    frame::{Frame, at},
    maps::count,
};

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_TCP: u8 = 6;
const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_DEST: u8 = 60;

/// Where the headers are, and what the parse found on the way.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Layers {
    pub l3: usize,
    pub l4: usize,
    /// Bytes of the frame from the TCP header on (may be less than a header).
    pub l4_avail: u32,
    pub frame_len: u32,
    pub family: u8,
    pub ihl: u8,
    pub status: u16,
    pub ext_count: u8,
    pub exts: [u8; MAX_IPV6_EXT],
    /// IPv6 fragment header (first fragment): identification and offset field.
    pub frag_id: u32,
    pub frag_off: u16,
    pub vlan_count: u8,
    pub vlan_ids: [u16; 2],
}

#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

impl Layers {
    /// Bounds the offsets again after a round trip through map memory, where the
    /// verifier knows nothing of them (a variable packet offset plus the access must stay
    /// below 64 KiB; the extension header walk ends below 12.4 KiB).
    #[inline(always)]
    pub fn bounded(mut self) -> Self {
        self.l3 &= 0xff;
        self.l4 &= 0x3fff;
        self.ihl &= 0x3c;
        self.ext_count &= 0x7;
        self.vlan_count &= 0x3;
        self
    }
}

/// Parses down to the TCP header. `None` for anything that carries no TCP header
/// (counting malformed, cut-short and later-fragment frames on the way).
#[inline(always)]
pub fn parse<F: Frame>(f: &F) -> Option<Layers> {
    let mut l = Layers {
        l3: 0,
        l4: 0,
        l4_avail: 0,
        frame_len: 0,
        family: 0,
        ihl: 0,
        status: 0,
        ext_count: 0,
        exts: [0; MAX_IPV6_EXT],
        frag_id: 0,
        frag_off: 0,
        vlan_count: 0,
        vlan_ids: [0; 2],
    };
    let Some(eth) = at::<F, [u8; ETH_HLEN]>(f, 0) else {
        count(counter::TRUNCATED);
        return None;
    };
    // SAFETY: `at` checked the bytes are inside the frame.
    let mut proto = be16(unsafe { [(*eth)[12], (*eth)[13]] });
    let mut off = ETH_HLEN;
    for i in 0..2 {
        if proto != ETH_P_8021Q && proto != ETH_P_8021AD {
            break;
        }
        let Some(tag) = at::<F, [u8; 4]>(f, off) else {
            count(counter::TRUNCATED);
            return None;
        };
        // SAFETY: checked by `at`.
        let tag = unsafe { *tag };
        l.vlan_ids[i] = be16([tag[0], tag[1]]) & 0x0fff;
        l.vlan_count += 1;
        proto = be16([tag[2], tag[3]]);
        off += 4;
    }
    l.l3 = off;
    if proto != ETH_P_IP && proto != ETH_P_IPV6 {
        return None;
    }
    // Only now: for XDP the whole length is a helper call (fragments).
    l.frame_len = f.len();
    match proto {
        ETH_P_IP => parse_ipv4(f, &mut l)?,
        _ => parse_ipv6(f, &mut l)?,
    }
    l.l4_avail = l.frame_len.saturating_sub(l.l4 as u32);
    if l.l4_avail < 20 {
        l.status |= status::TCP_TRUNCATED;
        count(counter::TRUNCATED);
    }
    Some(l)
}

#[inline(always)]
fn parse_ipv4<F: Frame>(f: &F, l: &mut Layers) -> Option<()> {
    let Some(ip) = at::<F, [u8; 20]>(f, l.l3) else {
        count(counter::TRUNCATED);
        return None;
    };
    // SAFETY: checked by `at`.
    let ip = unsafe { &*ip };
    if ip[0] >> 4 != 4 {
        count(counter::MALFORMED);
        return None;
    }
    if ip[9] != IPPROTO_TCP {
        return None;
    }
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    if ihl < 20 {
        count(counter::MALFORMED);
        return None;
    }
    if be16([ip[6], ip[7]]) & 0x1fff != 0 {
        count(counter::FRAGMENTS);
        return None;
    }
    if (be16([ip[2], ip[3]]) as usize) < ihl {
        count(counter::MALFORMED);
        return None;
    }
    l.family = FAMILY_V4;
    l.ihl = ihl as u8;
    l.l4 = l.l3 + ihl;
    if l.l4 as u32 > l.frame_len {
        count(counter::TRUNCATED);
        return None;
    }
    Some(())
}

#[inline(always)]
fn parse_ipv6<F: Frame>(f: &F, l: &mut Layers) -> Option<()> {
    let Some(ip) = at::<F, [u8; 40]>(f, l.l3) else {
        count(counter::TRUNCATED);
        return None;
    };
    // SAFETY: checked by `at`.
    let ip = unsafe { &*ip };
    if ip[0] >> 4 != 6 {
        count(counter::MALFORMED);
        return None;
    }
    l.family = FAMILY_V6;
    let mut nh = ip[6];
    let mut off = l.l3 + 40;
    for i in 0..MAX_IPV6_EXT {
        match nh {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let Some(h) = at::<F, [u8; 2]>(f, off) else {
                    count(counter::TRUNCATED);
                    return None;
                };
                // SAFETY: checked by `at`.
                let h = unsafe { *h };
                l.exts[i] = nh;
                nh = h[0];
                off += (h[1] as usize + 1) * 8;
            }
            NEXTHDR_FRAGMENT => {
                let Some(h) = at::<F, [u8; 8]>(f, off) else {
                    count(counter::TRUNCATED);
                    return None;
                };
                // SAFETY: checked by `at`.
                let h = unsafe { *h };
                let frag_off = be16([h[2], h[3]]);
                if frag_off & 0xfff8 != 0 {
                    count(counter::FRAGMENTS);
                    return None;
                }
                l.exts[i] = nh;
                l.frag_off = frag_off;
                l.frag_id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                nh = h[0];
                off += 8;
            }
            _ => break,
        }
        l.ext_count += 1;
    }
    if nh != IPPROTO_TCP {
        if matches!(
            nh,
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST | NEXTHDR_FRAGMENT
        ) {
            count(counter::MALFORMED);
        }
        return None;
    }
    l.l4 = off;
    if l.l4 as u32 > l.frame_len {
        count(counter::TRUNCATED);
        return None;
    }
    Some(())
}
