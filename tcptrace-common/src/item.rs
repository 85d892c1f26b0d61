//! Ring items: what the kernel writes into the ring buffer. Every item starts with a
//! [`Header`] (its kind and length); userspace decodes them in one place
//! (`tcptrace::decode::item`). A new kind is a new [`kind`] value, its struct here, one
//! branch of the writer and one of the decoder.
//!
//! A plain segment (no IPv4 options or IPv6 extension headers, no VLAN tag, PPPoE or
//! tunnel, whole, no snap bytes) is a [`Seg`] followed by what it carries and no more:
//! [`Csums`] when asked for, the addresses of its family, and its TCP option bytes. Its
//! frame length, header offsets and captured TCP length follow from the IP header. Every
//! other segment is a [`TailItem`] or a [`SnapItem`]: a [`Wide`] (those fields spelled
//! out and a whole `Seg` item inside) followed by the header bytes or frame bytes.

use crate::{MAX_IPV6_EXT, MAX_OPTIONS, MAX_SNAP, MAX_TAIL};

/// `Header::kind` values.
pub mod kind {
    /// A [`super::Seg`]: one plain segment.
    pub const SEG: u8 = 1;
    /// A [`super::TailItem`]: a segment with its IP options, extension headers, PPPoE or
    /// tunnel headers.
    pub const TAIL: u8 = 2;
    /// A [`super::SnapItem`]: a segment and the first bytes of its frame (`-w`).
    pub const SNAP: u8 = 3;
    /// A [`crate::fate::DropRecord`]: a traced segment the kernel dropped.
    pub const DROP: u8 = 4;
    /// A [`crate::attrib::AttribEvent`] (on the attribution ring).
    pub const ATTRIB: u8 = 5;
    /// A [`crate::fate::IcmpRecord`]: an ICMP error quoting a traced segment.
    pub const ICMP: u8 = 6;
    /// A [`crate::fate::DropRecord`]: a RST this host sends on a traced connection
    /// (`tcp:tcp_send_reset`), with the kernel's `enum sk_rst_reason`.
    pub const RESET: u8 = 7;
    /// A [`crate::fate::DropRecord`]: a retransmission the kernel made on a traced
    /// connection (`tcp:tcp_retransmit_skb`), with its error where the kernel gives one.
    pub const RETRANSMIT: u8 = 8;
}

/// The first four bytes of every ring item.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// See [`kind`].
    pub kind: u8,
    /// Kind-specific bits ([`meta`] for a segment).
    pub meta: u8,
    /// Length of the whole item in bytes.
    pub len: u16,
}

const _: () = assert!(core::mem::size_of::<Header>() == 4);

/// `Header::meta` bits of a [`Seg`].
pub mod meta {
    /// IPv6 (16-byte addresses), else IPv4 (4-byte).
    pub const V6: u8 = 0x01;
    /// [`super::Csums`] follow the fixed part.
    pub const CSUMS: u8 = 0x02;
    /// Seen on egress (`DIR_EGRESS`).
    pub const EGRESS: u8 = 0x04;
    /// The packet type (`crate::pkt_type`) in bits 4..=6.
    pub const PKT_TYPE_SHIFT: u8 = 4;
}

/// A plain segment's fixed part: the TCP header and the IP header fields tcpdump prints.
/// Then [`Csums`] (with [`meta::CSUMS`]), the source and destination addresses (4 or 16
/// bytes each) and the TCP option bytes (the rest of the item).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seg {
    /// Kind [`kind::SEG`].
    pub hdr: Header,
    pub ifindex: u32,
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC), low and high half (the item is only
    /// 4-aligned: sizes step by 4).
    pub ts_lo: u32,
    pub ts_hi: u32,
    pub seq: u32,
    pub ack: u32,
    pub sport: u16,
    pub dport: u16,
    pub window: u16,
    pub urg_ptr: u16,
    /// TCP flags (`crate::tcp_flags`, bits 0..=8) and the data offset in 32-bit words
    /// (bits 12..=15).
    pub flags: u16,
    /// IPv4 total length, or IPv6 payload length.
    pub ip_len: u16,
    /// IPv4: identification (low half) and flags + fragment offset (high half). IPv6: the
    /// flow label.
    pub ipx: u32,
    pub ttl: u8,
    pub tos: u8,
    /// Offset of the IP header in the frame.
    pub l3_off: u8,
    /// `crate::status` bits (a plain segment has none above the low byte).
    pub status: u8,
}

const _: () = assert!(core::mem::size_of::<Seg>() == 44);

/// The checksum fields, as on the wire and as computed (`crate::Config::checksums`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Csums {
    pub ip_csum: u16,
    pub tcp_csum: u16,
    pub ip_csum_calc: u16,
    pub tcp_csum_calc: u16,
}

const _: () = assert!(core::mem::size_of::<Csums>() == 8);

/// Largest [`Seg`] item: fixed part, checksums, IPv6 addresses, 40 option bytes, rounded
/// up to 8.
pub const SEG_MAX: usize = 128;
const _: () = assert!(
    size_of::<Seg>() + size_of::<Csums>() + 32 + MAX_OPTIONS <= SEG_MAX
        && SEG_MAX.is_multiple_of(8)
);

/// A segment that is not plain: the fields a plain one leaves out, and a whole [`Seg`]
/// item (its own header and length) in `seg`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Wide {
    /// Kind [`kind::TAIL`] or [`kind::SNAP`]; `len` is the whole item's.
    pub hdr: Header,
    /// Length of the whole frame, from the link header on.
    pub frame_len: u32,
    pub l3_off: u16,
    pub l4_off: u16,
    /// `crate::status` bits.
    pub status: u16,
    /// IPv4 header length in bytes; how many bytes of the TCP header were captured.
    pub ihl: u8,
    pub tcp_caplen: u8,
    /// The IPv6 fragment header's identification and offset field.
    pub frag_id: u32,
    pub frag_off: u16,
    /// IPv6 extension headers walked before TCP (next-header values), in order.
    pub ext_count: u8,
    pub vlan_count: u8,
    pub exts: [u8; MAX_IPV6_EXT],
    pub _pad: u16,
    /// VLAN IDs, outer first.
    pub vlan_ids: [u16; 2],
    pub _pad2: u32,
    pub seg: [u8; SEG_MAX],
}

const _: () = assert!(core::mem::size_of::<Wide>() == 40 + SEG_MAX);
const _: () = assert!(core::mem::offset_of!(Wide, seg).is_multiple_of(8));

/// A [`Wide`] segment followed by its header bytes: the outer headers of a tunnel
/// (`outer_len` bytes, from the outer IP header to the inner one), then, for a tunnel, the
/// inner IP header, then the IPv4 options or IPv6 extension headers before TCP.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TailItem {
    pub wide: Wide,
    /// Valid bytes in `tail`.
    pub tail_len: u16,
    /// PPPoE session ID (with `crate::encap::PPPOE`).
    pub pppoe_session: u16,
    /// See `crate::encap`.
    pub encap: u8,
    pub _pad: u8,
    /// Bytes of outer headers at the start of `tail` (0: not tunnelled).
    pub outer_len: u16,
    pub tail: [u8; MAX_TAIL],
}

const _: () = assert!(core::mem::size_of::<TailItem>() == 40 + SEG_MAX + 8 + MAX_TAIL);

/// A [`Wide`] segment followed by the first bytes of its frame, as they were (`-w`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SnapItem {
    pub wide: Wide,
    /// Valid bytes in `data`.
    pub snap_len: u32,
    /// Offset of a tunnel's outer IP header in the frame (0: not tunnelled).
    pub outer_off: u16,
    pub _pad: u16,
    pub data: [u8; MAX_SNAP],
}

const _: () = assert!(core::mem::size_of::<SnapItem>() == 40 + SEG_MAX + 8 + MAX_SNAP);

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, `#[repr(C)]`, every bit pattern valid.
    unsafe impl aya::Pod for super::Header {}
    unsafe impl aya::Pod for super::Seg {}
}
