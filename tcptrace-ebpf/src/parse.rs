//! Ethernet → up to eight VLAN tags → 802.2 LLC/SNAP → PPPoE session → IPv4 / IPv6
//! (+ extension headers) → (one tunnel: VXLAN, Geneve, GRE, IP-in-IP → inner IPv4 / IPv6) → TCP.
//! Every read is bounds-checked; every loop has a fixed bound.
use tcptrace_common::{
    FAMILY_V4, FAMILY_V6, GENEVE_PORT, MAX_IPV6_EXT, VXLAN_PORT, counter, status,
};

use core::mem::MaybeUninit;

use aya_ebpf::{macros::map, maps::PerCpuArray};

use crate::{
    frame::{Frame, at, ld, opaque},
    maps::{Counts, want_icmp},
};

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
/// VLAN tags followed (the first two IDs are kept for the filter and the record).
const MAX_VLAN_TAGS: usize = 8;
/// An EtherType field this small is an 802.3 length: 802.2 LLC follows.
const ETH_MAX_LEN: u16 = 1500;
/// 802.2 LLC (DSAP, SSAP 0xaa, UI) and SNAP with OUI 0: the EtherType follows.
const LLC_SNAP: [u8; 6] = [0xaa, 0xaa, 0x03, 0, 0, 0];
const LLC_SNAP_HLEN: usize = 8;
/// PPPoE session stage; the PPP protocol numbers of IPv4 and IPv6.
const ETH_P_PPP_SES: u16 = 0x8864;
const PPP_IP: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const PPPOE_HLEN: usize = 8;
/// Transparent Ethernet bridging (GRETAP, Geneve carrying Ethernet).
const ETH_P_TEB: u16 = 0x6558;
const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_GRE: u8 = 47;
const IPPROTO_TCP: u8 = 6;
/// ICMP and ICMPv6: an error quotes the IP header and the first bytes of the packet it is
/// about, parsed (and filtered) here like a tunnel's inner packet.
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
/// The ICMP header before the quoted packet.
const ICMP_HLEN: usize = 8;
const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_DEST: u8 = 60;
const TCP_HLEN: usize = 20;

/// Per-CPU parking place for the parse result of an accepted segment (see `trace`).
#[map]
static LAYERS: PerCpuArray<Layers> = PerCpuArray::with_max_entries(1, 0);

/// Where the headers are, and what the parse found on the way. Plain scalars only, so the
/// compiler keeps it in registers (an aggregate with arrays gets zeroed by a memset call).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Layers {
    pub l3: usize,
    pub l4: usize,
    /// IPv6 extension headers walked (next-header values), header `i` in byte `i`.
    pub exts: u64,
    /// Length of the whole frame; 0 until [`Layers::measure`] when the TCP header was
    /// found whole in the linear area.
    pub frame_len: u32,
    /// Bytes of the frame from the TCP header on (at least 20 while `frame_len` is 0).
    pub l4_avail: u32,
    /// IPv6 fragment header (first fragment): identification and offset field.
    pub frag_id: u32,
    /// VLAN IDs, outer in the low 16 bits.
    pub vlan_ids: u32,
    /// PPPoE session: 0x1_0000 | session ID, or 0 without PPPoE.
    pub pppoe: u32,
    /// Offset of the outer IP header of a tunnel (VXLAN, Geneve, GRE, IP-in-IP), 0 when
    /// the segment is not tunnelled; `l3` is then the inner IP header.
    pub outer: u16,
    pub frag_off: u16,
    pub status: u16,
    pub family: u8,
    pub ihl: u8,
    pub ext_count: u8,
    pub vlan_count: u8,
    /// Non-zero: `outer` is the IP header of an ICMP error quoting this segment (its ICMP
    /// header ends where `l3` starts).
    pub icmp: u8,
}

impl Layers {
    /// Bounds the offsets again after a round trip through map memory, where the
    /// verifier knows nothing of them (a variable packet offset plus the access must stay
    /// below 64 KiB; the extension header walk ends below 12.4 KiB).
    #[inline(always)]
    fn bounded(mut self) -> Self {
        // (A tunnel's inner header: outer IP without extension headers, UDP or GRE, at
        // most 260 bytes of Geneve, an inner Ethernet header.)
        self.l3 &= 0x3ff;
        self.outer &= 0xff;
        self.l4 &= 0x3fff;
        self.ihl &= 0x3c;
        self.ext_count &= 0x7;
        self.vlan_count &= 0xf;
        self.icmp &= 1;
        self
    }

    /// Writes the fields to this CPU's map slot, each store straight from a register.
    #[inline(always)]
    pub fn park(self, slot: *mut Layers) {
        macro_rules! store {
            ($($f:ident)*) => {
                // SAFETY: `slot` is this CPU's map slot, used only while the program runs.
                unsafe { $(core::ptr::addr_of_mut!((*slot).$f).write_volatile(self.$f);)* }
            };
        }
        store!(l3 l4 exts frame_len l4_avail frag_id vlan_ids pppoe outer frag_off status family ihl ext_count vlan_count icmp);
    }

    /// Reads back what [`Layers::park`] wrote (volatile: the compiler really goes through
    /// the map), with the offsets bounded again.
    #[inline(always)]
    pub fn unpark(slot: *mut Layers) -> Layers {
        macro_rules! load {
            ($($f:ident)*) => {
                // SAFETY: as in `park`.
                unsafe { Layers { $($f: core::ptr::addr_of!((*slot).$f).read_volatile(),)* } }
            };
        }
        load!(l3 l4 exts frame_len l4_avail frag_id vlan_ids pppoe outer frag_off status family ihl ext_count vlan_count icmp).bounded()
    }

    /// IPv4 at `l3` with this IHL, the whole TCP header in the linear area (the general
    /// parse corrects the lengths when it is not).
    #[inline(always)]
    pub fn ipv4(l3: usize, ihl: usize) -> Layers {
        Layers {
            l3,
            l4: l3 + ihl,
            exts: 0,
            frame_len: 0,
            l4_avail: TCP_HLEN as u32,
            frag_id: 0,
            vlan_ids: 0,
            pppoe: 0,
            outer: 0,
            frag_off: 0,
            status: 0,
            family: FAMILY_V4,
            ihl: ihl as u8,
            ext_count: 0,
            vlan_count: 0,
            icmp: 0,
        }
    }

    /// Fills in the frame length (for XDP a helper call, so only for recorded segments).
    #[inline(always)]
    pub fn measure<F: Frame>(&mut self, f: &F) {
        if self.frame_len == 0 {
            self.frame_len = f.len();
            self.l4_avail = self.frame_len.saturating_sub(self.l4 as u32);
        }
    }

    pub fn vlan_id(&self, i: usize) -> u16 {
        (self.vlan_ids >> (16 * (i & 1))) as u16
    }
}

/// What the filter reads: the IP and TCP headers in the packet when they are in the
/// linear area (the usual case), else copies of them in [`Copies`].
pub struct View {
    /// IPv4: 20 bytes; IPv6: 40 bytes.
    pub ip: *const u8,
    /// 20 bytes, or the 4 (`ports`) or 14 (`flags`) bytes that could be copied.
    pub tcp: *const u8,
    pub ports: bool,
    pub flags: bool,
    pub family: u8,
    pub vlan_count: u8,
    pub vlan_ids: u32,
}

/// Bytes of the TCP header the filter may read (ports, flags).
const TCP_VIEW: usize = 14;

/// Stack room for header copies (slow path only; left uninitialised otherwise).
pub struct Copies {
    ip: MaybeUninit<[u8; 40]>,
    tcp: MaybeUninit<[u8; TCP_VIEW]>,
}

impl Copies {
    #[inline(always)]
    pub fn new() -> Copies {
        Copies {
            ip: MaybeUninit::uninit(),
            tcp: MaybeUninit::uninit(),
        }
    }
}

/// Where the layers are once the filter has run.
#[derive(Clone, Copy)]
pub enum Parsed {
    /// Untagged IPv4, TCP header in the linear area: [`Layers::ipv4`] after Ethernet.
    Ipv4 { ihl: usize },
    /// Anything else: parked in this map slot ([`Layers::unpark`]).
    Parked(*mut Layers),
}

impl Parsed {
    /// The layers, once the filter has accepted the segment.
    #[inline(always)]
    pub fn layers(self) -> Layers {
        match self {
            Parsed::Ipv4 { ihl } => Layers::ipv4(ETH_HLEN, ihl),
            Parsed::Parked(slot) => Layers::unpark(slot),
        }
    }
}

/// Parses down to the TCP header. `None` for anything that carries no TCP header
/// (counting malformed, cut-short and later-fragment frames on the way); the view is
/// `None` when the IP header could not be read for the filter.
#[inline(always)]
pub fn parse<F: Frame>(f: &F, c: Counts, copies: &mut Copies) -> Option<(Option<View>, Parsed)> {
    // Fast path: nothing to keep across the filter but the IHL.
    if let Some(eth) = at::<F, [u8; ETH_HLEN + 20]>(f, 0)
        && ld!(u16, eth, 12) == ETH_P_IP.to_be()
        && let ip = (eth as *const u8).wrapping_add(ETH_HLEN) as *const [u8; 20]
        && let Some(ihl) = ipv4_plain(ip)
        && let Some(tcp) = at::<F, [u8; TCP_HLEN]>(f, ETH_HLEN + ihl)
    {
        let view = View {
            ip: ip as *const u8,
            tcp: tcp as *const u8,
            ports: true,
            flags: true,
            family: FAMILY_V4,
            vlan_count: 0,
            vlan_ids: 0,
        };
        return Some((Some(view), Parsed::Ipv4 { ihl }));
    }
    let (l, hdrs) = parse_any(f, c)?;
    let view = match hdrs {
        Some(h) => Some(View {
            ip: h.ip,
            tcp: h.tcp,
            ports: true,
            flags: true,
            family: l.family,
            vlan_count: l.vlan_count,
            vlan_ids: l.vlan_ids,
        }),
        None => copy_headers(f, &l, copies),
    };
    // Park the layers in map memory. They reach this point in many verifier states
    // (VLANs, IPv4 options, IPv6 extension headers); read back from a map, the offsets
    // are plain bounded numbers, so what follows is verified once, not once per state.
    let slot = LAYERS.get_ptr_mut(0)?;
    l.park(slot);
    Some((view, Parsed::Parked(slot)))
}

/// The IHL in bytes of an IPv4 header that is version 4, IHL >= 5, TCP, a first (or only)
/// fragment, and whose total length covers the header; None for anything else.
#[inline(always)]
fn ipv4_plain(ip: *const [u8; 20]) -> Option<usize> {
    let w0 = ld!(u32, ip, 0);
    let w1 = ld!(u32, ip, 4);
    let vihl = w0 as u8;
    let ihl = ((vihl & 0x0f) as usize) * 4;
    let total = u16::from_be((w0 >> 16) as u16) as usize;
    (vihl.wrapping_sub(0x45) <= 0x0a
        && ld!(u8, ip, 9) == IPPROTO_TCP
        && w1 & 0xff1f_0000 == 0
        && total >= ihl)
        .then_some(ihl)
}

/// Headers not all in the linear area (XDP fragments, cut-short frames): copy what is
/// there. None when the IP header is not all there.
#[inline(always)]
fn copy_headers<F: Frame>(f: &F, l: &Layers, copies: &mut Copies) -> Option<View> {
    let ip_len = if l.family == FAMILY_V4 { 20 } else { 40 };
    // SAFETY: the buffers are 40 and TCP_VIEW bytes long; `load` only writes.
    let ip = unsafe { core::slice::from_raw_parts_mut(copies.ip.as_mut_ptr() as *mut u8, ip_len) };
    if !f.load(l.l3 as u32, ip) {
        return None;
    }
    let (ports, flags) = if l.l4_avail >= TCP_VIEW as u32 {
        (true, true)
    } else if l.l4_avail >= 4 {
        (true, false)
    } else {
        (false, false)
    };
    let want = if flags { TCP_VIEW } else { 4 };
    // SAFETY: `want` <= TCP_VIEW.
    let tcp = unsafe { core::slice::from_raw_parts_mut(copies.tcp.as_mut_ptr() as *mut u8, want) };
    let ports = ports && f.load(l.l4 as u32, tcp);
    Some(View {
        ip: copies.ip.as_ptr() as *const u8,
        tcp: copies.tcp.as_ptr() as *const u8,
        ports,
        flags: flags && ports,
        family: l.family,
        vlan_count: l.vlan_count,
        vlan_ids: l.vlan_ids,
    })
}

/// Checked pointers to the IP and TCP headers in the linear area (IP: 20 bytes for IPv4,
/// 40 for IPv6; TCP: 20), when both are there.
#[derive(Clone, Copy)]
struct Headers {
    ip: *const u8,
    tcp: *const u8,
}

/// Parses any frame down to the TCP header (see [`parse`]).
#[inline(always)]
fn parse_any<F: Frame>(f: &F, c: Counts) -> Option<(Layers, Option<Headers>)> {
    let Some(eth) = at::<F, [u8; ETH_HLEN]>(f, 0) else {
        c.add(counter::TRUNCATED);
        return None;
    };
    let mut proto = u16::from_be(ld!(u16, eth, 12));
    let mut off = ETH_HLEN;
    let mut vlan_ids = 0u32;
    let mut vlan_count = 0u8;
    for i in 0..MAX_VLAN_TAGS {
        if proto != ETH_P_8021Q && proto != ETH_P_8021AD {
            break;
        }
        let Some(tag) = at::<F, [u8; 4]>(f, off) else {
            c.add(counter::TRUNCATED);
            return None;
        };
        if i < 2 {
            vlan_ids |= ((u16::from_be(ld!(u16, tag, 0)) & 0x0fff) as u32) << (16 * i);
        }
        vlan_count += 1;
        proto = u16::from_be(ld!(u16, tag, 2));
        off += 4;
    }
    let mut rare = vlan_count > 2;
    if proto <= ETH_MAX_LEN {
        (off, proto) = llc_snap(f, off)?;
        rare = true;
    }
    if rare {
        // Three or more tags, LLC/SNAP: one verifier state for all of them (see the
        // tunnel below), not one per constant offset.
        off = opaque(off) & 0x3f;
        vlan_count = (opaque(vlan_count as usize) & 0xf) as u8;
    }
    let mut pppoe = 0u32;
    if proto == ETH_P_PPP_SES {
        // PPPoE session header (version/type, code, session ID, length), PPP protocol.
        let Some(h) = at::<F, [u8; PPPOE_HLEN]>(f, off) else {
            c.add(counter::TRUNCATED);
            return None;
        };
        proto = match u16::from_be(ld!(u16, h, 6)) {
            PPP_IP => ETH_P_IP,
            PPP_IPV6 => ETH_P_IPV6,
            _ => return None,
        };
        pppoe = 0x1_0000 | u16::from_be(ld!(u16, h, 2)) as u32;
        off += PPPOE_HLEN;
    }
    // One level of tunnel: the outer IP packet's payload may be the inner one.
    let mut tunnelled = false;
    let (mut l, ip) = match network(f, c, off, proto)? {
        Net::Tcp(l, ip) => (l, ip),
        Net::Tunnel { l4, ipproto } => {
            if off > 0xff {
                return None;
            }
            let (inner, inner_proto) = tunnel(f, l4, ipproto)?;
            // Hidden from the verifier behind a mask: every tunnel kind and outer shape
            // then reaches the inner parse (and the filter) in the same few states, not in
            // one state per constant offset (which on 6.1 runs past the 1M instruction
            // budget with a large filter).
            let outer = opaque(off) & 0xff;
            let inner = opaque(inner) & 0x3ff;
            match network(f, c, inner, inner_proto)? {
                Net::Tcp(mut l, _) => {
                    l.outer = outer as u16;
                    l.icmp = u8::from(ipproto == IPPROTO_ICMP || ipproto == IPPROTO_ICMPV6);
                    // The filter reads copies of the inner headers (one state shape).
                    tunnelled = true;
                    (l, core::ptr::null())
                }
                Net::Tunnel { .. } => return None,
            }
        }
    };
    l.vlan_ids = vlan_ids;
    l.vlan_count = vlan_count;
    l.pppoe = pppoe;
    if !tunnelled && let Some(tcp) = at::<F, [u8; TCP_HLEN]>(f, l.l4) {
        // The whole TCP header is in the linear area: the frame length can wait.
        l.frame_len = 0;
        l.l4_avail = TCP_HLEN as u32;
        let tcp = tcp as *const u8;
        return Some((l, Some(Headers { ip, tcp })));
    }
    l.frame_len = f.len();
    if l.l4 as u32 > l.frame_len {
        c.add(counter::TRUNCATED);
        return None;
    }
    l.l4_avail = l.frame_len - l.l4 as u32;
    if l.l4_avail < TCP_HLEN as u32 {
        l.status |= status::TCP_TRUNCATED;
        c.add(counter::TRUNCATED);
    }
    Some((l, None))
}

/// 802.2 LLC/SNAP at `off` (after an 802.3 length field): the offset past it and the
/// EtherType it carries; None for any other LLC frame.
#[inline(always)]
fn llc_snap<F: Frame>(f: &F, off: usize) -> Option<(usize, u16)> {
    let h = at::<F, [u8; LLC_SNAP_HLEN]>(f, off)?;
    let [a, b, c, d, e, g] = LLC_SNAP;
    if ld!(u32, h, 0) != u32::from_ne_bytes([a, b, c, d])
        || ld!(u16, h, 4) != u16::from_ne_bytes([e, g])
    {
        return None;
    }
    Some((off + LLC_SNAP_HLEN, u16::from_be(ld!(u16, h, 6))))
}

/// What an IP header leads to: the TCP segment, or a tunnel's payload (`l4`, protocol).
enum Net {
    Tcp(Layers, *const u8),
    Tunnel { l4: usize, ipproto: u8 },
}

#[inline(always)]
fn network<F: Frame>(f: &F, c: Counts, l3: usize, proto: u16) -> Option<Net> {
    match proto {
        ETH_P_IP => parse_ipv4(f, c, l3),
        ETH_P_IPV6 => parse_ipv6(f, c, l3),
        _ => None,
    }
}

fn is_tunnel(ipproto: u8) -> bool {
    matches!(
        ipproto,
        IPPROTO_IPIP | IPPROTO_IPV6 | IPPROTO_UDP | IPPROTO_GRE
    ) || ((ipproto == IPPROTO_ICMP || ipproto == IPPROTO_ICMPV6) && want_icmp())
}

/// The inner packet of a tunnel whose outer IP payload (protocol `ipproto`) starts at
/// `l4`, or the packet an ICMP error quotes: its offset and EtherType. IP-in-IP and SIT/IPv6-in-IP, VXLAN and Geneve (UDP
/// 4789 and 6081, either port, as tcpdump decides), GRE version 0 without routing (any of
/// checksum, key, sequence number) carrying IPv4, IPv6 or Ethernet (GRETAP). An inner
/// Ethernet header is followed by IP directly (no VLAN tags inside).
#[inline(always)]
fn tunnel<F: Frame>(f: &F, l4: usize, ipproto: u8) -> Option<(usize, u16)> {
    let (at_eth, proto) = match ipproto {
        IPPROTO_IPIP => return Some((l4, ETH_P_IP)),
        IPPROTO_IPV6 => return Some((l4, ETH_P_IPV6)),
        // Destination unreachable, time exceeded, parameter problem.
        IPPROTO_ICMP => {
            let h = at::<F, [u8; 2]>(f, l4)?;
            return matches!(ld!(u8, h, 0), 3 | 11 | 12).then_some((l4 + ICMP_HLEN, ETH_P_IP));
        }
        // Destination unreachable (the codes tcpdump prints a line for), packet too big,
        // time exceeded, parameter problem.
        IPPROTO_ICMPV6 => {
            let h = at::<F, [u8; 2]>(f, l4)?;
            let (t, code) = (ld!(u8, h, 0), ld!(u8, h, 1));
            return (matches!(t, 2..=4) || (t == 1 && code <= 4))
                .then_some((l4 + ICMP_HLEN, ETH_P_IPV6));
        }
        IPPROTO_UDP => {
            let u = at::<F, [u8; 16]>(f, l4)?;
            let (sport, dport) = (u16::from_be(ld!(u16, u, 0)), u16::from_be(ld!(u16, u, 2)));
            if sport == VXLAN_PORT || dport == VXLAN_PORT {
                (l4 + 16, ETH_P_TEB)
            } else if sport == GENEVE_PORT || dport == GENEVE_PORT {
                let b0 = ld!(u8, u, 8);
                if b0 >> 6 != 0 {
                    return None;
                }
                let opts = ((b0 & 0x3f) as usize) * 4;
                (l4 + 16 + opts, u16::from_be(ld!(u16, u, 10)))
            } else {
                return None;
            }
        }
        IPPROTO_GRE => {
            let g = at::<F, [u8; 4]>(f, l4)?;
            let flags = u16::from_be(ld!(u16, g, 0));
            // Version 0, no routing.
            if flags & 0x4007 != 0 {
                return None;
            }
            let mut len = 4;
            for bit in [0x8000u16, 0x2000, 0x1000] {
                if flags & bit != 0 {
                    len += 4;
                }
            }
            (l4 + len, u16::from_be(ld!(u16, g, 2)))
        }
        _ => return None,
    };
    if proto != ETH_P_TEB {
        return Some((at_eth, proto));
    }
    let e = at::<F, [u8; ETH_HLEN]>(f, at_eth)?;
    Some((at_eth + ETH_HLEN, u16::from_be(ld!(u16, e, 12))))
}

#[inline(always)]
fn parse_ipv4<F: Frame>(f: &F, c: Counts, l3: usize) -> Option<Net> {
    let Some(ip) = at::<F, [u8; 20]>(f, l3) else {
        c.add(counter::TRUNCATED);
        return None;
    };
    let Some(ihl) = ipv4_plain(ip) else {
        let vihl = ld!(u8, ip, 0);
        let ipproto = ld!(u8, ip, 9);
        if vihl >> 4 == 4
            && vihl & 0x0f >= 5
            && is_tunnel(ipproto)
            && ld!(u32, ip, 4) & 0xff3f_0000 == 0
        {
            return Some(Net::Tunnel {
                l4: l3 + ((vihl & 0x0f) as usize) * 4,
                ipproto,
            });
        }
        // Which check failed, in the order that decides what gets counted.
        let vihl = ld!(u8, ip, 0);
        if vihl >> 4 != 4 {
            c.add(counter::MALFORMED);
        } else if ld!(u8, ip, 9) != IPPROTO_TCP {
        } else if vihl & 0x0f < 5 {
            c.add(counter::MALFORMED);
        } else if ld!(u32, ip, 4) & 0xff1f_0000 != 0 {
            c.add(counter::FRAGMENTS);
        } else {
            c.add(counter::MALFORMED);
        }
        return None;
    };
    Some(Net::Tcp(Layers::ipv4(l3, ihl), ip as *const u8))
}

#[inline(always)]
fn parse_ipv6<F: Frame>(f: &F, c: Counts, l3: usize) -> Option<Net> {
    let Some(ip) = at::<F, [u8; 40]>(f, l3) else {
        c.add(counter::TRUNCATED);
        return None;
    };
    if ld!(u8, ip, 0) >> 4 != 6 {
        c.add(counter::MALFORMED);
        return None;
    }
    let mut nh = ld!(u8, ip, 6);
    let mut off = l3 + 40;
    let mut exts = 0u64;
    let mut ext_count = 0u8;
    let mut frag_id = 0u32;
    let mut frag_off = 0u16;
    for i in 0..MAX_IPV6_EXT {
        match nh {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let Some(h) = at::<F, [u8; 2]>(f, off) else {
                    c.add(counter::TRUNCATED);
                    return None;
                };
                exts |= (nh as u64) << (8 * i);
                nh = ld!(u8, h, 0);
                off += (ld!(u8, h, 1) as usize + 1) * 8;
            }
            NEXTHDR_FRAGMENT => {
                let Some(h) = at::<F, [u8; 8]>(f, off) else {
                    c.add(counter::TRUNCATED);
                    return None;
                };
                let fo = u16::from_be(ld!(u16, h, 2));
                if fo & 0xfff8 != 0 {
                    c.add(counter::FRAGMENTS);
                    return None;
                }
                exts |= (nh as u64) << (8 * i);
                frag_off = fo;
                frag_id = u32::from_be(ld!(u32, h, 4));
                nh = ld!(u8, h, 0);
                off += 8;
            }
            _ => break,
        }
        ext_count += 1;
    }
    if ext_count == 0 && is_tunnel(nh) {
        return Some(Net::Tunnel {
            l4: off,
            ipproto: nh,
        });
    }
    if nh != IPPROTO_TCP {
        if matches!(
            nh,
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST | NEXTHDR_FRAGMENT
        ) {
            c.add(counter::MALFORMED);
        }
        return None;
    }
    let l = Layers {
        l3,
        l4: off,
        exts,
        frame_len: 0,
        l4_avail: 0,
        frag_id,
        vlan_ids: 0,
        pppoe: 0,
        outer: 0,
        frag_off,
        status: 0,
        family: FAMILY_V6,
        ihl: 0,
        ext_count,
        vlan_count: 0,
        icmp: 0,
    };
    Some(Net::Tcp(l, ip as *const u8))
}
