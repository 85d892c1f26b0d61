//! A small hand-written packet builder for tests: Ethernet (+ VLAN tags), IPv4 (options,
//! fragments, length overrides), IPv6 (extension headers), TCP (every header field,
//! options, payload), and a few non-TCP payloads. Checksums are correct unless overridden.

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88a8;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const NEXTHDR_HOP: u8 = 0;
pub const NEXTHDR_ROUTING: u8 = 43;
pub const NEXTHDR_FRAGMENT: u8 = 44;
pub const NEXTHDR_DEST: u8 = 60;

pub const SRC_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
pub const DST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

/// One VLAN tag: the TPID in front of it and its TCI (PCP/DEI/VID).
#[derive(Clone, Copy, Debug)]
pub struct Vlan {
    pub tpid: u16,
    pub tci: u16,
}

/// An 802.1Q tag with `vid` (and a non-zero priority, so the VID masking is exercised).
pub fn vlan(vid: u16) -> Vlan {
    Vlan {
        tpid: ETH_P_8021Q,
        tci: (5 << 13) | vid,
    }
}

/// QinQ: an 802.1ad outer tag then an 802.1Q inner tag.
pub fn qinq(outer: u16, inner: u16) -> [Vlan; 2] {
    [
        Vlan {
            tpid: ETH_P_8021AD,
            tci: (3 << 13) | (1 << 12) | outer,
        },
        vlan(inner),
    ]
}

/// Ethernet header, tags, then `payload` of type `ethertype`.
pub fn ether(vlans: &[Vlan], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 4 * vlans.len() + payload.len());
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&SRC_MAC);
    for v in vlans {
        f.extend_from_slice(&v.tpid.to_be_bytes());
        f.extend_from_slice(&v.tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Untagged Ethernet frame around an IPv4 packet.
pub fn eth4(ip: &[u8]) -> Vec<u8> {
    ether(&[], ETH_P_IP, ip)
}

/// Untagged Ethernet frame around an IPv6 packet.
pub fn eth6(ip: &[u8]) -> Vec<u8> {
    ether(&[], ETH_P_IPV6, ip)
}

use tcptrace::wire::checksum::pseudo_header;
pub use tcptrace::wire::checksum::{checksum, sum16};

/// Folds a 32-bit sum and complements it: the value for a checksum field.
pub fn fold(acc: u32) -> u16 {
    !tcptrace::wire::checksum::fold(acc)
}

/// Pseudo-header sum for IPv4.
pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> u32 {
    pseudo_header(&src, &dst, proto, len as u32)
}

/// Pseudo-header sum for IPv6.
pub fn pseudo_v6(src: [u8; 16], dst: [u8; 16], proto: u8, len: usize) -> u32 {
    pseudo_header(&src, &dst, proto, len as u32)
}

/// A TCP segment. `flags` uses tcptrace_common::tcp_flags bits (AE = 0x100 goes into the
/// low bit of the data-offset byte).
#[derive(Clone, Debug, Default)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u16,
    pub window: u16,
    pub urg: u16,
    /// Data offset in 32-bit words; `None` = 5 + options (padded to 4 bytes).
    pub doff: Option<u8>,
    /// Reserved bits (3 bits between the data offset and AE).
    pub reserved: u8,
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
    /// Checksum field; `None` = the correct checksum.
    pub csum: Option<u16>,
}

impl Tcp {
    pub fn new(sport: u16, dport: u16) -> Tcp {
        Tcp {
            sport,
            dport,
            seq: 0,
            ack: 0,
            flags: 0,
            window: 0,
            urg: 0,
            doff: None,
            reserved: 0,
            options: Vec::new(),
            payload: Vec::new(),
            csum: None,
        }
    }

    /// Option bytes padded with EOL (0) to a multiple of 4.
    pub fn padded_options(&self) -> Vec<u8> {
        let mut o = self.options.clone();
        while !o.len().is_multiple_of(4) {
            o.push(0);
        }
        o
    }

    /// The data offset field as it will be written.
    pub fn doff_words(&self) -> u8 {
        self.doff
            .unwrap_or(5 + (self.padded_options().len() / 4) as u8)
    }

    /// Header and payload with the checksum computed from the pseudo-header sum `pseudo`
    /// (which must include the segment length).
    pub fn build(&self, pseudo: u32) -> Vec<u8> {
        let opts = self.padded_options();
        let mut s = Vec::with_capacity(20 + opts.len() + self.payload.len());
        s.extend_from_slice(&self.sport.to_be_bytes());
        s.extend_from_slice(&self.dport.to_be_bytes());
        s.extend_from_slice(&self.seq.to_be_bytes());
        s.extend_from_slice(&self.ack.to_be_bytes());
        s.push(
            ((self.doff_words() & 0x0f) << 4)
                | ((self.reserved & 0x07) << 1)
                | ((self.flags >> 8) & 1) as u8,
        );
        s.push(self.flags as u8);
        s.extend_from_slice(&self.window.to_be_bytes());
        s.extend_from_slice(&[0, 0]);
        s.extend_from_slice(&self.urg.to_be_bytes());
        s.extend_from_slice(&opts);
        s.extend_from_slice(&self.payload);
        let c = self.csum.unwrap_or_else(|| fold(sum16(pseudo, &s)));
        s[16..18].copy_from_slice(&c.to_be_bytes());
        s
    }

    /// Length of the built segment.
    pub fn len(&self) -> usize {
        20 + self.padded_options().len() + self.payload.len()
    }
}

/// A UDP datagram (checksum 0 = none, fine for IPv4 tests).
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// An ICMP echo request with a correct checksum.
pub fn icmp_echo(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ICMP error (`kind`, `code`, the 4 bytes after the checksum) quoting `quoted`, with a
/// correct checksum.
pub fn icmp_error(kind: u8, code: u8, rest: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(quoted);
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ICMPv6 error from `src` to `dst` quoting `quoted`, with a correct checksum.
pub fn icmp6_error(
    src: [u8; 16],
    dst: [u8; 16],
    kind: u8,
    code: u8,
    rest: [u8; 4],
    quoted: &[u8],
) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(quoted);
    let c = fold(sum16(pseudo_v6(src, dst, IPPROTO_ICMPV6, m.len()), &m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ARP request (Ethernet/IPv4), without the Ethernet header.
pub fn arp_request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    a.extend_from_slice(&SRC_MAC);
    a.extend_from_slice(&sender);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target);
    a
}

/// An IPv4 header.
#[derive(Clone, Debug)]
pub struct Ipv4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub tos: u8,
    pub id: u16,
    pub df: bool,
    pub mf: bool,
    /// Fragment offset in 8-byte units (13 bits).
    pub frag_off: u16,
    pub ttl: u8,
    /// Option bytes (padded with EOL to a multiple of 4).
    pub options: Vec<u8>,
    /// IHL field override (0..=15); `None` = 5 + options.
    pub ihl: Option<u8>,
    /// Total length override; `None` = header + payload.
    pub total_len: Option<u16>,
    /// Header checksum override; `None` = correct.
    pub csum: Option<u16>,
    /// Version field override (default 4).
    pub version: u8,
}

impl Ipv4 {
    pub fn new(src: [u8; 4], dst: [u8; 4]) -> Ipv4 {
        Ipv4 {
            src,
            dst,
            tos: 0,
            id: 0,
            df: false,
            mf: false,
            frag_off: 0,
            ttl: 64,
            options: Vec::new(),
            ihl: None,
            total_len: None,
            csum: None,
            version: 4,
        }
    }

    pub fn padded_options(&self) -> Vec<u8> {
        let mut o = self.options.clone();
        while !o.len().is_multiple_of(4) {
            o.push(0);
        }
        o
    }

    /// Header length as written (the bytes, not the IHL field).
    pub fn header_len(&self) -> usize {
        20 + self.padded_options().len()
    }

    /// The IHL field as it will be written.
    pub fn ihl_words(&self) -> u8 {
        self.ihl.unwrap_or((self.header_len() / 4) as u8)
    }

    /// The flags + fragment offset field.
    pub fn frag_field(&self) -> u16 {
        (u16::from(self.df) << 14) | (u16::from(self.mf) << 13) | (self.frag_off & 0x1fff)
    }

    /// The header followed by `payload` (protocol `proto`).
    pub fn packet(&self, proto: u8, payload: &[u8]) -> Vec<u8> {
        let opts = self.padded_options();
        let hlen = 20 + opts.len();
        let total = self.total_len.unwrap_or((hlen + payload.len()) as u16);
        let mut p = Vec::with_capacity(hlen + payload.len());
        p.push((self.version << 4) | (self.ihl_words() & 0x0f));
        p.push(self.tos);
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&self.id.to_be_bytes());
        p.extend_from_slice(&self.frag_field().to_be_bytes());
        p.push(self.ttl);
        p.push(proto);
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&self.src);
        p.extend_from_slice(&self.dst);
        p.extend_from_slice(&opts);
        let c = self.csum.unwrap_or_else(|| checksum(&p[..hlen]));
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// The header checksum this header should carry.
    pub fn correct_csum(&self, proto: u8, payload_len: usize) -> u16 {
        let mut h = self.clone();
        h.csum = None;
        let p = h.packet(proto, &vec![0; payload_len]);
        u16::from_be_bytes([p[10], p[11]])
    }

    /// IPv4 + TCP with a correct TCP checksum (unless `tcp.csum` overrides it).
    pub fn tcp(&self, tcp: &Tcp) -> Vec<u8> {
        let seg = tcp.build(pseudo_v4(self.src, self.dst, IPPROTO_TCP, tcp.len()));
        self.packet(IPPROTO_TCP, &seg)
    }
}

/// An IPv6 extension header.
#[derive(Clone, Debug)]
pub enum Ext {
    /// Hop-by-hop options; the value is the Hdr Ext Len field (8-byte units past the first
    /// 8), the options are PadN.
    HopByHop(u8),
    /// Destination options, as hop-by-hop.
    DestOpts(u8),
    /// Routing header: routing type, segments left, addresses.
    Routing {
        typ: u8,
        segments_left: u8,
        addrs: Vec<[u8; 16]>,
    },
    /// Fragment header: offset in 8-byte units, M flag, identification.
    Fragment { offset: u16, more: bool, id: u32 },
    /// Hop-by-hop (`hbh`) or destination options holding these option bytes, padded with
    /// a PadN (or Pad1) option to a multiple of 8.
    Options { hbh: bool, opts: Vec<u8> },
    /// A routing header of any type: type, segments left, then these bytes after the
    /// first four (reserved or type-specific fields, addresses).
    RoutingRaw {
        typ: u8,
        segments_left: u8,
        rest: Vec<u8>,
    },
}

impl Ext {
    pub fn next_header_value(&self) -> u8 {
        match self {
            Ext::HopByHop(_) => NEXTHDR_HOP,
            Ext::DestOpts(_) => NEXTHDR_DEST,
            Ext::Routing { .. } | Ext::RoutingRaw { .. } => NEXTHDR_ROUTING,
            Ext::Fragment { .. } => NEXTHDR_FRAGMENT,
            Ext::Options { hbh: true, .. } => NEXTHDR_HOP,
            Ext::Options { hbh: false, .. } => NEXTHDR_DEST,
        }
    }

    pub fn build(&self, next: u8) -> Vec<u8> {
        match self {
            Ext::HopByHop(len) | Ext::DestOpts(len) => {
                let total = (usize::from(*len) + 1) * 8;
                let mut h = vec![next, *len];
                // One PadN option covering the remaining bytes.
                h.push(1);
                h.push((total - 4) as u8);
                h.resize(total, 0);
                h
            }
            Ext::Routing {
                typ,
                segments_left,
                addrs,
            } => {
                let mut h = vec![
                    next,
                    (addrs.len() * 2) as u8,
                    *typ,
                    *segments_left,
                    0,
                    0,
                    0,
                    0,
                ];
                for a in addrs {
                    h.extend_from_slice(a);
                }
                h
            }
            Ext::Options { opts, .. } => {
                let mut h = vec![next, 0];
                h.extend_from_slice(opts);
                match 8 - h.len() % 8 {
                    8 => {}
                    1 => h.push(0),
                    n => {
                        h.push(1);
                        h.push((n - 2) as u8);
                        h.resize(h.len() + n - 2, 0);
                    }
                }
                h[1] = (h.len() / 8 - 1) as u8;
                h
            }
            Ext::RoutingRaw {
                typ,
                segments_left,
                rest,
            } => {
                let mut h = vec![next, 0, *typ, *segments_left];
                h.extend_from_slice(rest);
                h.resize(h.len().next_multiple_of(8), 0);
                h[1] = (h.len() / 8 - 1) as u8;
                h
            }
            Ext::Fragment { offset, more, id } => {
                let mut h = vec![next, 0];
                h.extend_from_slice(&(((offset & 0x1fff) << 3) | u16::from(*more)).to_be_bytes());
                h.extend_from_slice(&id.to_be_bytes());
                h
            }
        }
    }

    /// The fragment header's offset field (offset << 3 | M).
    pub fn frag_field(offset: u16, more: bool) -> u16 {
        ((offset & 0x1fff) << 3) | u16::from(more)
    }
}

/// An IPv6 header with its extension headers.
#[derive(Clone, Debug)]
pub struct Ipv6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub tclass: u8,
    pub flow: u32,
    pub hop_limit: u8,
    pub exts: Vec<Ext>,
    /// Payload length override; `None` = extension headers + payload.
    pub payload_len: Option<u16>,
    /// Version field override (default 6).
    pub version: u8,
}

impl Ipv6 {
    pub fn new(src: [u8; 16], dst: [u8; 16]) -> Ipv6 {
        Ipv6 {
            src,
            dst,
            tclass: 0,
            flow: 0,
            hop_limit: 64,
            exts: Vec::new(),
            payload_len: None,
            version: 6,
        }
    }

    /// Bytes of extension headers.
    pub fn ext_len(&self) -> usize {
        self.exts.iter().map(|e| e.build(0).len()).sum()
    }

    /// Header, extension headers, then `payload` of protocol `proto`.
    pub fn packet(&self, proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut chain = Vec::new();
        for (i, e) in self.exts.iter().enumerate() {
            let next = self.exts.get(i + 1).map_or(proto, Ext::next_header_value);
            chain.extend_from_slice(&e.build(next));
        }
        let first = self.exts.first().map_or(proto, Ext::next_header_value);
        let plen = self
            .payload_len
            .unwrap_or((chain.len() + payload.len()) as u16);
        let mut p = Vec::with_capacity(40 + chain.len() + payload.len());
        let vtf = (u32::from(self.version) << 28)
            | (u32::from(self.tclass) << 20)
            | (self.flow & 0x000f_ffff);
        p.extend_from_slice(&vtf.to_be_bytes());
        p.extend_from_slice(&plen.to_be_bytes());
        p.push(first);
        p.push(self.hop_limit);
        p.extend_from_slice(&self.src);
        p.extend_from_slice(&self.dst);
        p.extend_from_slice(&chain);
        p.extend_from_slice(payload);
        p
    }

    /// IPv6 + TCP with a correct TCP checksum (pseudo-header on the header's addresses).
    pub fn tcp(&self, tcp: &Tcp) -> Vec<u8> {
        let seg = tcp.build(pseudo_v6(self.src, self.dst, IPPROTO_TCP, tcp.len()));
        self.packet(IPPROTO_TCP, &seg)
    }
}

/// TCP option builders.
pub mod opt {
    pub fn mss(v: u16) -> Vec<u8> {
        let b = v.to_be_bytes();
        vec![2, 4, b[0], b[1]]
    }
    pub fn wscale(s: u8) -> Vec<u8> {
        vec![1, 3, 3, s]
    }
    pub fn sack_ok() -> Vec<u8> {
        vec![4, 2]
    }
    pub fn ts(val: u32, ecr: u32) -> Vec<u8> {
        let mut o = vec![1, 1, 8, 10];
        o.extend_from_slice(&val.to_be_bytes());
        o.extend_from_slice(&ecr.to_be_bytes());
        o
    }
    pub fn sack(blocks: &[(u32, u32)]) -> Vec<u8> {
        let mut o = vec![1, 1, 5, (2 + 8 * blocks.len()) as u8];
        for (l, r) in blocks {
            o.extend_from_slice(&l.to_be_bytes());
            o.extend_from_slice(&r.to_be_bytes());
        }
        o
    }
    pub fn md5() -> Vec<u8> {
        let mut o = vec![19, 18];
        o.extend((0u8..16).map(|i| i.wrapping_mul(37)));
        o
    }
    pub fn tfo(cookie: &[u8]) -> Vec<u8> {
        let mut o = vec![34, (2 + cookie.len()) as u8];
        o.extend_from_slice(cookie);
        o
    }
    pub fn user_timeout(v: u16) -> Vec<u8> {
        let b = v.to_be_bytes();
        vec![28, 4, b[0], b[1]]
    }
    /// MPTCP MP_CAPABLE (v1) with the sender's key, as on a SYN.
    pub fn mptcp_capable(key: u64) -> Vec<u8> {
        let mut o = vec![30, 12, 0x01, 0x81];
        o.extend_from_slice(&key.to_be_bytes());
        o
    }
    /// An experimental / unknown option kind.
    pub fn unknown(kind: u8, len: u8) -> Vec<u8> {
        let mut o = vec![kind, len];
        o.resize(len as usize, 0xab);
        o
    }
    pub fn nop() -> Vec<u8> {
        vec![1]
    }
    pub fn eol() -> Vec<u8> {
        vec![0]
    }
}
