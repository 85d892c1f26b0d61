//! The one decoder of ring items ([`item`]), and of [`Record`]s into [`Segment`]s: plain
//! values with the lengths already worked out the way tcpdump works them out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tcptrace_common::{
    DIR_EGRESS, DIR_INGRESS, FAMILY_V4, FAMILY_V6, MAX_IPV6_EXT, MAX_OPTIONS, MAX_SNAP, MAX_TAIL,
    Record,
    attrib::AttribEvent,
    encap,
    fate::{DropRecord, IcmpRecord},
    item::{Csums, Header, Seg, SnapItem, TailItem, Wide, kind, meta},
    status, tcp_flags,
};

use crate::wire::checksum;

/// One ring item, decoded.
// Segments are nearly every item: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Item<'a> {
    /// A segment; the first bytes of its frame (`-w`; else empty); its header tail (IPv4
    /// options, IPv6 extension headers, PPPoE, a tunnel's outer headers), if it has one.
    Segment {
        rec: Record,
        snap: &'a [u8],
        tail: Option<Tail>,
    },
    /// A traced segment the kernel dropped, a RST it sends or a retransmission it made
    /// (by `hdr.kind`).
    Drop(DropRecord),
    /// An ICMP error quoting a traced segment: the quoted segment, and the error.
    Icmp { rec: Record, icmp: IcmpRecord },
    /// What a process did with a socket (the attribution ring).
    Attrib(AttribEvent),
}

/// A `T` read from the start of `b` (None: `b` is shorter).
fn read<T: Copy>(b: &[u8]) -> Option<T> {
    (b.len() >= size_of::<T>())
        // SAFETY: `T` is plain `#[repr(C)]` data for which every bit pattern is valid
        // (the item structs of tcptrace_common), and `b` holds enough bytes;
        // read_unaligned copes with any alignment.
        .then(|| unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<T>()) })
}

/// Decodes one ring item by its header (None: unknown kind, or cut short).
pub fn item(b: &[u8]) -> Option<Item<'_>> {
    let h: Header = read(b)?;
    let b = b.get(..usize::from(h.len))?;
    match h.kind {
        kind::SEG => Some(Item::Segment {
            rec: seg(b)?,
            snap: &[],
            tail: None,
        }),
        kind::TAIL => {
            let t: TailItem = read(b)?;
            let rec = wide(&t.wide)?;
            let len = usize::from(t.tail_len).min(MAX_TAIL);
            let pppoe = (t.encap & encap::PPPOE != 0).then_some(t.pppoe_session);
            let tail = if t.outer_len > 0 {
                Tail::tunnel(
                    &t.tail[..len],
                    pppoe,
                    usize::from(t.outer_len),
                    rec.family == FAMILY_V6,
                )
            } else {
                Tail::new(&t.tail[..len], pppoe)
            };
            Some(Item::Segment {
                rec,
                snap: &[],
                tail: Some(tail),
            })
        }
        kind::SNAP => {
            let s: SnapItem = read(b)?;
            let rec = wide(&s.wide)?;
            let data = std::mem::offset_of!(SnapItem, data);
            let snap = &b[data..data + (s.snap_len as usize).min(MAX_SNAP)];
            let tail = Tail::from_frame(&rec, snap, usize::from(s.outer_off));
            Some(Item::Segment { rec, snap, tail })
        }
        kind::ICMP => {
            let icmp: IcmpRecord = read(b)?;
            Some(Item::Icmp {
                rec: wide(&icmp.wide)?,
                icmp,
            })
        }
        kind::DROP | kind::RESET | kind::RETRANSMIT => read(b).map(Item::Drop),
        kind::ATTRIB => read(b).map(Item::Attrib),
        _ => None,
    }
}

/// The time an item was made (CLOCK_MONOTONIC ns; 0 for an unknown or cut item), read
/// without decoding the rest: the rings are merged by it.
pub fn item_ts(b: &[u8]) -> u64 {
    let seg_ts = |at: usize| -> Option<u64> {
        let s: Seg = read(b.get(at..)?)?;
        Some(u64::from(s.ts_lo) | u64::from(s.ts_hi) << 32)
    };
    let ts = match b.first() {
        Some(&kind::SEG) => seg_ts(0),
        Some(&kind::TAIL | &kind::SNAP | &kind::ICMP) => seg_ts(std::mem::offset_of!(Wide, seg)),
        Some(&kind::ATTRIB) => {
            let at = std::mem::offset_of!(AttribEvent, ts_ns);
            b.get(at..at + 8)
                .map(|t| u64::from_ne_bytes(t.try_into().unwrap_or_default()))
        }
        Some(&kind::DROP | &kind::RESET | &kind::RETRANSMIT) => {
            let at = std::mem::offset_of!(DropRecord, rec) + std::mem::offset_of!(Record, ts_ns);
            b.get(at..at + 8)
                .map(|t| u64::from_ne_bytes(t.try_into().unwrap_or_default()))
        }
        _ => None,
    };
    ts.unwrap_or(0)
}

/// A segment that is not plain: its `Seg` item with the fields spelled out.
fn wide(w: &Wide) -> Option<Record> {
    let r = seg(&w.seg)?;
    let v6 = r.family == FAMILY_V6;
    Some(Record {
        frame_len: w.frame_len,
        l3_off: w.l3_off,
        l4_off: w.l4_off,
        status: w.status,
        ihl: w.ihl,
        tcp_caplen: w.tcp_caplen,
        ip_id: if v6 { w.frag_id } else { r.ip_id },
        frag: if v6 { w.frag_off } else { r.frag },
        ext_count: w.ext_count,
        exts: w.exts,
        vlan_count: w.vlan_count,
        vlan_ids: w.vlan_ids,
        ..r
    })
}

/// A segment item's parts, as [`Item::Segment`] has them (None: not a segment).
pub fn segment(b: &[u8]) -> Option<(Record, &[u8], Option<Tail>)> {
    match item(b)? {
        Item::Segment { rec, snap, tail } => Some((rec, snap, tail)),
        _ => None,
    }
}

/// A [`Seg`] item; what a plain segment leaves out follows from its IP header.
fn seg(b: &[u8]) -> Option<Record> {
    let s: Seg = read(b)?;
    if s.hdr.kind != kind::SEG {
        return None;
    }
    let b = b.get(..usize::from(s.hdr.len))?;
    let v6 = s.hdr.meta & meta::V6 != 0;
    let mut r = Record::ZERO;
    let mut at = size_of::<Seg>();
    if s.hdr.meta & meta::CSUMS != 0 {
        let c: Csums = read(b.get(at..)?)?;
        r.ip_csum = c.ip_csum;
        r.tcp_csum = c.tcp_csum;
        r.ip_csum_calc = c.ip_csum_calc;
        r.tcp_csum_calc = c.tcp_csum_calc;
        at += size_of::<Csums>();
    }
    // Sizes known at compile time: copies inlined, no `memcpy` call.
    let alen = if v6 {
        r.saddr = read(b.get(at..)?)?;
        r.daddr = read(b.get(at + 16..)?)?;
        16
    } else {
        r.saddr[..4].copy_from_slice(b.get(at..at + 4)?);
        r.daddr[..4].copy_from_slice(b.get(at + 4..at + 8)?);
        4
    };
    let opts = &b[at + 2 * alen..];
    let n = opts.len().min(MAX_OPTIONS);
    r.options[..n].copy_from_slice(&opts[..n]);
    r.opt_len = n as u8;
    r.ts_ns = u64::from(s.ts_lo) | u64::from(s.ts_hi) << 32;
    r.ifindex = s.ifindex;
    r.seq = s.seq;
    r.ack = s.ack;
    r.sport = s.sport;
    r.dport = s.dport;
    r.window = s.window;
    r.urg_ptr = s.urg_ptr;
    r.flags = s.flags & 0x1ff;
    r.doff = ((s.flags >> 12) * 4) as u8;
    r.ip_len = u32::from(s.ip_len);
    r.ttl = s.ttl;
    r.tos = s.tos;
    r.status = u16::from(s.status);
    r.direction = if s.hdr.meta & meta::EGRESS != 0 {
        DIR_EGRESS
    } else {
        DIR_INGRESS
    };
    r.pkt_type = (s.hdr.meta >> meta::PKT_TYPE_SHIFT) & 7;
    r.l3_off = u16::from(s.l3_off);
    let hdrs = if v6 {
        r.family = FAMILY_V6;
        r.flow_label = s.ipx;
        40
    } else {
        r.family = FAMILY_V4;
        r.ip_id = s.ipx & 0xffff;
        r.frag = (s.ipx >> 16) as u16;
        r.ihl = 20;
        20
    };
    // A plain segment: the IP header without options, the whole datagram in the frame.
    r.l4_off = r.l3_off + hdrs;
    r.frame_len = u32::from(r.l3_off) + r.ip_len + if v6 { 40 } else { 0 };
    r.tcp_caplen = (r.frame_len - u32::from(r.l4_off)).min(60) as u8;
    Some(r)
}

/// A wall-clock instant: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
    /// A capture file record's time whose fraction field is out of range (a second or
    /// more, or negative as a signed field): `secs`/`nanos` carry it over, the tcpdump
    /// renderer prints the fields as tcpdump does (`17:16:10.1000000`).
    pub file: Option<FileTime>,
}

/// A pcap record's time fields as the file holds them (libpcap reads them as signed
/// 32-bit values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileTime {
    pub sec: i32,
    pub frac: i32,
    /// The fraction is in nanoseconds (else microseconds).
    pub nano: bool,
}

impl Timestamp {
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Timestamp {
            secs,
            nanos,
            file: None,
        }
    }
}

/// The headers a record's tail carries: the IPv4 options or the IPv6 extension headers
/// before TCP, as on the wire (at most [`MAX_TAIL`] bytes), and a PPPoE session ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail {
    len: u16,
    /// Where the IP options / extension headers start in `bytes` (after a tunnel's outer
    /// headers and inner IP header).
    opts_at: u16,
    outer_len: u16,
    bytes: [u8; MAX_TAIL],
    pub pppoe: Option<u16>,
}

impl Tail {
    pub const NONE: Tail = Tail {
        len: 0,
        opts_at: 0,
        outer_len: 0,
        bytes: [0; MAX_TAIL],
        pppoe: None,
    };

    pub fn new(bytes: &[u8], pppoe: Option<u16>) -> Tail {
        let mut t = Tail {
            pppoe,
            ..Tail::NONE
        };
        let n = bytes.len().min(MAX_TAIL);
        t.bytes[..n].copy_from_slice(&bytes[..n]);
        t.len = n as u16;
        t
    }

    /// A tunnelled segment's tail: `outer_len` bytes of outer headers (outer IP header to
    /// inner IP header), the inner IP header (`inner_v6`: 40 bytes, else 20), then the
    /// inner options or extension headers.
    pub fn tunnel(bytes: &[u8], pppoe: Option<u16>, outer_len: usize, inner_v6: bool) -> Tail {
        let mut t = Tail::new(bytes, pppoe);
        t.outer_len = outer_len.min(usize::from(t.len)) as u16;
        t.opts_at = (outer_len + if inner_v6 { 40 } else { 20 }).min(usize::from(t.len)) as u16;
        t
    }

    /// The IP options / extension header bytes of the (inner) packet.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[usize::from(self.opts_at)..usize::from(self.len)]
    }

    /// A tunnel's outer headers, from the outer IP header to the inner IP header (empty
    /// when the segment is not tunnelled).
    pub fn outer(&self) -> &[u8] {
        &self.bytes[..usize::from(self.outer_len)]
    }

    /// A tunnel's headers from the outer IP header to the inner TCP header (as far as
    /// the tail holds them).
    pub fn to_l4(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The tail of a record whose frame's first bytes are at hand (`-w`), as far as they
    /// reach; None when the packet has no such headers. `outer` is the tunnel's outer IP
    /// header offset (0: none).
    pub fn from_frame(r: &Record, frame: &[u8], outer: usize) -> Option<Tail> {
        let l3 = usize::from(r.l3_off);
        let v6 = r.family == FAMILY_V6;
        let start = l3 + if v6 { 40 } else { 20 };
        let l4 = usize::from(r.l4_off);
        let pppoe = |at: usize| {
            at.checked_sub(10)
                .and_then(|i| frame.get(i..at))
                .filter(|h| h[0..2] == [0x88, 0x64])
                .map(|h| u16::from_be_bytes([h[4], h[5]]))
        };
        if outer != 0 && outer < l3 {
            let bytes = frame.get(outer..l4.min(frame.len())).unwrap_or(&[]);
            return Some(Tail::tunnel(bytes, pppoe(outer), l3 - outer, v6));
        }
        let bytes = frame.get(start..l4.min(frame.len())).unwrap_or(&[]);
        let pppoe = pppoe(l3);
        (l4 > start || pppoe.is_some()).then(|| Tail::new(bytes, pppoe))
    }

    /// The IPv6 Jumbo Payload length in a hop-by-hop header at the start of the tail, as
    /// tcpdump takes it (the option's value when at least 65536).
    pub fn jumbo(&self) -> Option<u32> {
        let b = self.bytes();
        let hlen = (usize::from(*b.get(1)?) + 1) * 8;
        let opts = b.get(2..hlen)?;
        let mut i = 0;
        let mut found = None;
        while i < opts.len() {
            let t = opts[i];
            if t == 0 {
                i += 1;
                continue;
            }
            let l = usize::from(*opts.get(i + 1)?) + 2;
            let o = opts.get(i..i + l)?;
            if t == 0xc2 && l == 6 && found.is_none() {
                found = Some(u32::from_be_bytes([o[2], o[3], o[4], o[5]]));
            }
            i += l;
        }
        found.filter(|&j| j >= 65536)
    }
}

/// IPv6 extension header next-header values (as in `Record::exts`).
pub mod ext {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const DEST_OPTS: u8 = 60;
}

/// One TCP segment, decoded. A plain segment holds no heap data; one with IPv4 options,
/// IPv6 extension headers, a tunnel or PPPoE boxes their bytes ([`Segment::tail`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub ts: Timestamp,
    pub ifindex: u32,
    pub direction: u8,
    /// The packet type of a Linux cooked v2 frame read with `-r` (0 host, 1 broadcast,
    /// 2 multicast, 3 other host, 4 outgoing): its line starts with the interface and
    /// this type, as tcpdump prints it.
    pub cooked: Option<u8>,
    /// The kernel's packet type (`tcptrace_common::pkt_type`), for the `-i any` prefix.
    pub pkt_type: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// [`tcp_flags`] bits (AE in bit 8).
    pub flags: u16,
    pub window: u16,
    pub urg_ptr: u16,
    /// TCP header length from the data offset (bytes; may be below 20 when bad).
    pub hdr_len: u8,
    /// Bytes of the TCP header that can be looked at: what was captured, cut to the end of
    /// the IP payload (tcpdump cuts its snapshot end there).
    pub tcp_caplen: u8,
    /// The length tcpdump hands its TCP printer: the IP payload length the IP header claims
    /// (IPv4 total length minus header, IPv6 payload length minus extension headers).
    pub tcp_len: u32,
    /// TCP payload length as tcpdump prints it (`tcp_len - hdr_len`, wrapping like C `u_int`).
    pub payload_len: u32,
    /// IPv4 total length or IPv6 payload length, raw.
    pub ip_len: u32,
    /// IPv4 header bytes (0 for IPv6).
    pub ihl: u8,
    /// IPv4 identification or IPv6 fragment identification.
    pub ip_id: u32,
    /// IPv4 flags+offset field, or the IPv6 fragment header's offset field.
    pub frag: u16,
    pub ttl: u8,
    pub tos: u8,
    pub flow_label: u32,
    pub ip_csum: u16,
    pub ip_csum_calc: u16,
    pub tcp_csum: u16,
    pub tcp_csum_calc: u16,
    /// Original frame length from the link header on, and the IP/TCP header offsets in it.
    pub frame_len: u32,
    pub l3_off: u16,
    pub l4_off: u16,
    /// IPv6 extension headers before TCP (next-header values), in order.
    pub ext_count: u8,
    pub exts: [u8; MAX_IPV6_EXT],
    /// Raw TCP option bytes captured (`opt_len` of them).
    pub options: [u8; MAX_OPTIONS],
    pub opt_len: u8,
    /// [`status`] bits.
    pub status: u16,
    /// IPv4 options / IPv6 extension header bytes and PPPoE, when the packet has them
    /// (boxed: most segments have none, and a tail is a few hundred bytes to copy).
    pub extra: Option<Box<Tail>>,
}

impl Segment {
    /// Its IPv4 options / IPv6 extension headers, tunnel headers and PPPoE session
    /// ([`Tail::NONE`] when it has none).
    pub fn tail(&self) -> &Tail {
        self.extra.as_deref().unwrap_or(&Tail::NONE)
    }

    /// Decodes a kernel record stamped with wall-clock time `ts`.
    pub fn from_record(r: &Record, ts: Timestamp) -> Segment {
        Segment::decode(r, ts, None)
    }

    /// Decodes a kernel record and its header tail, if it has one.
    pub fn decode(r: &Record, ts: Timestamp, tail: Option<&Tail>) -> Segment {
        let v6 = r.family == FAMILY_V6;
        let (src, dst) = if v6 {
            (
                IpAddr::V6(Ipv6Addr::from(r.saddr)),
                IpAddr::V6(Ipv6Addr::from(r.daddr)),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(
                    r.saddr[0], r.saddr[1], r.saddr[2], r.saddr[3],
                )),
                IpAddr::V4(Ipv4Addr::new(
                    r.daddr[0], r.daddr[1], r.daddr[2], r.daddr[3],
                )),
            )
        };
        let ext_count = (r.ext_count as usize).min(MAX_IPV6_EXT) as u8;
        let tcp_len = if v6 {
            // IPv6 header + extension headers, as walked by the kernel.
            let hdrs = (r.l4_off as u32).saturating_sub(r.l3_off as u32);
            let ext_bytes = hdrs.saturating_sub(40);
            let jumbo = if r.ip_len == 0 && r.exts[0] == ext::HOP_BY_HOP && ext_count > 0 {
                tail.and_then(Tail::jumbo)
            } else {
                None
            };
            if let Some(j) = jumbo {
                // A jumbogram (BIG TCP): the Jumbo Payload option's length counts.
                j.saturating_sub(ext_bytes)
            } else if r.ip_len == 0 && ext_count == 0 {
                // tcpdump 4.99.3: no jumbo option, payload length 0 => nothing after the
                // IPv6 header belongs to the packet.
                0
            } else {
                r.ip_len.saturating_sub(ext_bytes)
            }
        } else {
            r.ip_len.saturating_sub(r.ihl as u32)
        };
        let tcp_caplen = (r.tcp_caplen as u32).min(tcp_len).min(60) as u8;
        let opt_len = (r.opt_len as usize).min(MAX_OPTIONS) as u8;
        Segment {
            ts,
            ifindex: r.ifindex,
            direction: r.direction,
            cooked: None,
            pkt_type: r.pkt_type,
            src,
            dst,
            sport: r.sport,
            dport: r.dport,
            seq: r.seq,
            ack: r.ack,
            flags: r.flags,
            window: r.window,
            urg_ptr: r.urg_ptr,
            hdr_len: r.doff,
            tcp_caplen,
            tcp_len,
            payload_len: tcp_len.wrapping_sub(r.doff as u32),
            ip_len: r.ip_len,
            ihl: if v6 { 0 } else { r.ihl },
            ip_id: r.ip_id,
            frag: r.frag,
            ttl: r.ttl,
            tos: r.tos,
            flow_label: r.flow_label,
            ip_csum: r.ip_csum,
            ip_csum_calc: r.ip_csum_calc,
            tcp_csum: r.tcp_csum,
            tcp_csum_calc: r.tcp_csum_calc,
            frame_len: r.frame_len,
            l3_off: r.l3_off,
            l4_off: r.l4_off,
            ext_count,
            exts: r.exts,
            options: r.options,
            opt_len,
            status: r.status,
            extra: tail.map(|t| Box::new(*t)),
        }
        .with_routed_checksum(r)
    }

    /// With source routing (IPv4 LSRR/SSRR, an IPv6 routing header) tcpdump checks the TCP
    /// checksum against the final destination: the kernel's value is moved over to it.
    fn with_routed_checksum(mut self, r: &Record) -> Segment {
        if self.status & status::CSUM_COMPUTED == 0 || self.tail().bytes().is_empty() {
            return self;
        }
        let v6 = self.is_v6();
        let from: &[u8] = if v6 { &r.daddr } else { &r.daddr[..4] };
        if let Some(to) =
            crate::render::iphdrs::final_dst(v6, self.ext_headers(), self.tail().bytes())
        {
            self.tcp_csum_calc = checksum::replace_in_pseudo_header(self.tcp_csum_calc, from, &to);
        }
        self
    }

    #[inline]
    pub fn is_v6(&self) -> bool {
        matches!(self.src, IpAddr::V6(_))
    }

    /// The IPv4 DF bit.
    #[inline]
    pub fn dont_fragment(&self) -> bool {
        !self.is_v6() && self.frag & 0x4000 != 0
    }

    /// The TCP flag byte (AE dropped), as tcpdump 4.99.3 reads it.
    #[inline]
    pub fn flag_byte(&self) -> u8 {
        self.flags as u8
    }

    #[inline]
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// The IPv6 extension headers walked before TCP.
    #[inline]
    pub fn ext_headers(&self) -> &[u8] {
        &self.exts[..self.ext_count as usize]
    }

    /// The captured TCP option bytes that lie inside the header (at most `hdr_len - 20`,
    /// at most what was captured).
    #[inline]
    pub fn option_bytes(&self) -> &[u8] {
        let in_hdr = (self.hdr_len as usize).saturating_sub(20);
        let in_cap = (self.tcp_caplen as usize).saturating_sub(20);
        let n = (self.opt_len as usize).min(in_hdr).min(in_cap);
        &self.options[..n]
    }

    /// The datagram is a fragment (IPv4 MF or offset set; IPv6 fragment header present):
    /// tcpdump then does not check the TCP checksum.
    #[inline]
    pub fn fragmented(&self) -> bool {
        if self.is_v6() {
            self.ext_headers().contains(&ext::FRAGMENT)
        } else {
            self.frag & 0x3fff != 0
        }
    }

    /// How many bytes of the IP datagram its header claims that the frame does not hold
    /// (tcpdump's `truncated-ip - N bytes missing!`), if any.
    #[inline]
    pub fn ip_bytes_missing(&self) -> Option<u32> {
        let have = self.frame_len.saturating_sub(self.l3_off as u32);
        let want = if self.is_v6() {
            if self.ip_len == 0 {
                return None;
            }
            self.ip_len + 40
        } else {
            self.ip_len
        };
        (want > have).then(|| want - have)
    }

    /// The one's complement sum of the TCP segment's bytes as on the wire (header and
    /// payload, folded, not complemented), worked back from the checksum the kernel
    /// computed (`-v`): None when it computed none.
    pub fn segment_sum(&self) -> Option<u16> {
        if self.status & status::CSUM_COMPUTED == 0 || self.status & status::CSUM_UNAVAILABLE != 0 {
            return None;
        }
        let p = match (self.src, self.dst) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                checksum::pseudo_header(&a.octets(), &b.octets(), 6, self.tcp_len)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                checksum::pseudo_header(&a.octets(), &b.octets(), 6, self.tcp_len)
            }
            _ => return None,
        };
        // With the field at the value the kernel computed, pseudo-header plus segment
        // sum to 0xffff; the field as it is differs by (field - computed).
        let with_calc = !checksum::fold(p);
        let s = u32::from(with_calc) + u32::from(self.tcp_csum) + u32::from(!self.tcp_csum_calc);
        Some(checksum::fold(s))
    }

    /// Whether every byte of the TCP segment (header and payload) was captured.
    #[inline]
    pub fn segment_captured(&self) -> bool {
        if self.status
            & (status::CSUM_UNAVAILABLE
                | status::TCP_TRUNCATED
                | status::OPT_TRUNCATED
                | status::IP_TRUNCATED)
            != 0
        {
            return false;
        }
        let end = self.l4_off as u64 + self.tcp_len as u64;
        end <= self.frame_len as u64
    }

    /// Whether the byte right after the TCP header was captured and lies inside the IP
    /// payload (tcpdump's snapshot end): a payload byte the option printer can run into.
    #[inline]
    pub fn byte_after_header(&self) -> bool {
        let hdr = self.hdr_len as u32;
        if hdr < 60 {
            // tcp_caplen counts captured bytes from the header's start, up to 60.
            self.tcp_caplen as u32 > hdr
        } else {
            self.tcp_len > hdr && self.segment_captured()
        }
    }

    /// IPv4 headers tcpdump refuses before printing TCP (`bad-hlen`, `bad-len`).
    #[inline]
    pub fn bad_ipv4(&self) -> bool {
        !self.is_v6()
            && (self.status & status::BAD_IHL != 0
                || self.ihl < 20
                || self.ip_len < self.ihl as u32)
    }

    /// SYN set.
    #[inline]
    pub fn syn(&self) -> bool {
        self.has(tcp_flags::SYN)
    }
}

/// An ICMP or ICMPv6 error about a traced segment, decoded: the error's own headers and
/// the segment it quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// The error's sender (the router or host that reports) and receiver.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub icmp_type: u8,
    pub code: u8,
    /// The 4 bytes after the checksum (next-hop MTU, pointer).
    pub rest: [u8; 4],
    /// The error's IPv4 total length or IPv6 payload length.
    pub ip_len: u16,
    pub ip_id: u16,
    pub frag: u16,
    pub ttl: u8,
    pub tos: u8,
    pub flow_label: u32,
    pub ihl: u8,
    /// IPv4 header and ICMP checksums as on the wire and as they should be, when the
    /// kernel computed them (`-v`): `csum_computed`, and for ICMP `icmp_whole`.
    pub ip_csum: u16,
    pub ip_csum_calc: u16,
    pub icmp_csum: u16,
    pub icmp_csum_calc: u16,
    pub csum_computed: bool,
    pub icmp_whole: bool,
    /// The quoted segment (its time, interface and direction are the error's).
    pub quoted: Segment,
}

impl IcmpError {
    /// The error `i` quoting the segment `rec`.
    pub fn decode(rec: &Record, i: &IcmpRecord, ts: Timestamp) -> IcmpError {
        let v6 = rec.family == FAMILY_V6;
        let addr = |a: [u8; 16]| {
            if v6 {
                IpAddr::V6(Ipv6Addr::from(a))
            } else {
                IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
            }
        };
        let mut quoted = Segment::decode(rec, ts, None);
        // tcpdump prints the quoted packet as if it ended where the quote ends.
        quoted.frame_len = quoted
            .frame_len
            .max(u32::from(quoted.l3_off) + quoted.ip_len + if v6 { 40 } else { 0 });
        IcmpError {
            src: addr(i.saddr),
            dst: addr(i.daddr),
            icmp_type: i.icmp_type,
            code: i.icmp_code,
            rest: i.rest,
            ip_len: i.ip_len,
            ip_id: i.ip_id,
            frag: i.frag,
            ttl: i.ttl,
            tos: i.tos,
            flow_label: i.flow_label,
            ihl: i.ihl,
            ip_csum: i.ip_csum,
            ip_csum_calc: i.ip_csum_calc,
            icmp_csum: i.icmp_csum,
            icmp_csum_calc: i.icmp_csum_calc,
            csum_computed: u16::from(i.icmp_status) & status::CSUM_COMPUTED != 0,
            icmp_whole: u16::from(i.icmp_status) & status::CSUM_UNAVAILABLE == 0,
            quoted,
        }
    }

    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// The ICMP message's length (tcpdump's `length`): the IP payload.
    pub fn icmp_len(&self) -> u32 {
        if self.is_v6() {
            u32::from(self.ip_len)
        } else {
            u32::from(self.ip_len).saturating_sub(u32::from(self.ihl))
        }
    }

    /// What the error says, for the connection's story.
    pub fn kind(&self) -> IcmpKind {
        let mtu = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        match (self.is_v6(), self.icmp_type, self.code) {
            (false, 3, 4) => IcmpKind::PathMtu(mtu(&[0, 0, self.rest[2], self.rest[3]])),
            (true, 2, _) => IcmpKind::PathMtu(mtu(&self.rest)),
            (false, 3, 3) | (true, 1, 4) => IcmpKind::Unreachable("port"),
            (false, 3, 9 | 10 | 13) | (true, 1, 1) => IcmpKind::Unreachable("admin-prohibited"),
            (false, 3, 0 | 6) | (true, 1, 0) => IcmpKind::Unreachable("net"),
            (false, 3, 2) => IcmpKind::Unreachable("protocol"),
            (false, 3, _) | (true, 1, _) => IcmpKind::Unreachable("host"),
            (false, 11, _) | (true, 3, _) => IcmpKind::TimeExceeded,
            _ => IcmpKind::ParameterProblem,
        }
    }
}

/// The story an ICMP error tells about a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpKind {
    /// Destination unreachable: port, host, net, protocol, admin-prohibited.
    Unreachable(&'static str),
    /// Fragmentation needed / packet too big, with the next hop's MTU (0: not given).
    PathMtu(u32),
    TimeExceeded,
    ParameterProblem,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_v4() {
        let mut r = Record::ZERO;
        r.family = tcptrace_common::FAMILY_V4;
        r.ihl = 20;
        r.ip_len = 60;
        r.doff = 40;
        r.tcp_caplen = 40;
        r.opt_len = 20;
        r.frame_len = 74;
        r.l3_off = 14;
        r.l4_off = 34;
        let s = Segment::from_record(&r, Timestamp::new(1, 2));
        assert_eq!(s.tcp_len, 40);
        assert_eq!(s.payload_len, 0);
        assert_eq!(s.option_bytes().len(), 20);
        assert_eq!(s.ip_bytes_missing(), None);
        assert!(s.segment_captured());
        r.frame_len = 60;
        let s = Segment::from_record(&r, Timestamp::new(1, 2));
        assert_eq!(s.ip_bytes_missing(), Some(14));
        assert!(!s.segment_captured());
    }

    #[test]
    fn lengths_v6_ext() {
        let mut r = fixture::v6_hbh(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 1, 2);
        assert_eq!((r.ip_len, r.frame_len), (32, 72));
        let s = Segment::from_record(&r, Timestamp::default());
        assert_eq!(s.tcp_len, 24);
        assert_eq!(s.payload_len, 0);
        assert!(!s.fragmented());
        // Payload length 0 without a jumbo option: nothing of TCP belongs to the packet.
        r.ip_len = 0;
        r.ext_count = 0;
        r.l4_off = 40;
        let s = Segment::from_record(&r, Timestamp::default());
        assert_eq!(s.tcp_len, 0);
        assert_eq!(s.tcp_caplen, 0);
    }
}

/// Records as the kernel program makes them, for unit tests that start after it.
#[cfg(test)]
pub(crate) mod fixture {
    use super::ext;
    use std::net::Ipv6Addr;
    use tcptrace_common::{FAMILY_V4, FAMILY_V6, Record};

    /// A plain IPv4 segment (DF, TTL 64) behind Ethernet, without options or payload.
    pub fn v4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Record {
        let mut r = Record::ZERO;
        r.family = FAMILY_V4;
        r.saddr[..4].copy_from_slice(&src);
        r.daddr[..4].copy_from_slice(&dst);
        r.sport = sport;
        r.dport = dport;
        r.ihl = 20;
        r.ttl = 64;
        r.frag = 0x4000;
        r.l3_off = 14;
        r.l4_off = 34;
        set_options(&mut r, &[]);
        r
    }

    /// TCP options (the header grows with them).
    pub fn set_options(r: &mut Record, opts: &[u8]) {
        r.options[..opts.len()].copy_from_slice(opts);
        r.opt_len = opts.len() as u8;
        r.doff = 20 + opts.len() as u8;
        r.tcp_caplen = r.doff;
        set_payload(r, 0);
    }

    /// An IPv6 segment (hop limit 64) without a link layer, behind one 8-byte hop-by-hop
    /// header, with an MSS option (1440) and no payload.
    pub fn v6_hbh(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16) -> Record {
        let mut r = Record::ZERO;
        r.family = FAMILY_V6;
        (r.saddr, r.daddr) = (src.octets(), dst.octets());
        (r.sport, r.dport, r.ttl) = (sport, dport, 64);
        r.ext_count = 1;
        r.exts[0] = ext::HOP_BY_HOP;
        (r.l3_off, r.l4_off) = (0, 48);
        set_options(&mut r, &[2, 4, 5, 0xa0]);
        r
    }

    /// `n` payload bytes (on the wire, not captured).
    pub fn set_payload(r: &mut Record, n: u32) {
        // IPv6's length leaves out its fixed header; IPv4's counts it.
        let fixed = if r.family == FAMILY_V6 { 40 } else { 0 };
        r.ip_len = (r.l4_off - r.l3_off) as u32 - fixed + r.doff as u32 + n;
        r.frame_len = r.l3_off as u32 + fixed + r.ip_len;
    }

    /// A fixture's TCP numbers and sizes, set in a chain.
    pub trait Tcp: Sized {
        /// Sequence, acknowledgement, flags and window.
        fn tcp(self, seq: u32, ack: u32, flags: u16, window: u16) -> Self;
        /// Option bytes (the header grows to hold them), then no payload.
        fn opts(self, opts: &[u8]) -> Self;
        /// `n` payload bytes on the wire.
        fn payload(self, n: u32) -> Self;
    }

    impl Tcp for Record {
        fn tcp(mut self, seq: u32, ack: u32, flags: u16, window: u16) -> Self {
            (self.seq, self.ack, self.flags, self.window) = (seq, ack, flags, window);
            self
        }
        fn opts(mut self, opts: &[u8]) -> Self {
            set_options(&mut self, opts);
            self
        }
        fn payload(mut self, n: u32) -> Self {
            set_payload(&mut self, n);
            self
        }
    }
}
