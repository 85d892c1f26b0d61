//! Packet fate: what the host did with a traced segment after (or before) the wire hooks
//! saw it. The `skb:kfree_skb` program sends a [`DropRecord`] for each dropped segment
//! that passes the same filter as the wire hooks.

/// Where the fields the drop program reads are, in the running kernel's `struct sk_buff`
/// and `struct net_device` (byte offsets from BTF, resolved by userspace and written into
/// the read-only global `TCPTRACE_SKB` before loading). `enabled == 0`: the program does
/// nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkbLayout {
    pub enabled: u32,
    /// `sk_buff.head` (pointer).
    pub head: u16,
    /// `sk_buff.network_header` (u16, offset from `head`).
    pub network_header: u16,
    /// `sk_buff.protocol` (network byte order).
    pub protocol: u16,
    /// `sk_buff.skb_iif` (int): the interface it arrived on, 0 for locally made ones.
    pub skb_iif: u16,
    /// `sk_buff.dev` (pointer).
    pub dev: u16,
    /// `net_device.ifindex` (int).
    pub dev_ifindex: u16,
    /// `sk_buff.sk` (pointer), `sock_common.skc_net` and `net_device.nd_net` (pointers to
    /// the `struct net`), and the offset of its `ns.inum`.
    pub sk: u16,
    pub skc_net: u16,
    pub dev_net: u16,
    pub net_inum: u16,
    /// `sk_buff.cb` plus the offsets of `tcp_skb_cb.seq` and `tcp_skb_cb.tcp_flags`: a
    /// segment's sequence number and flags before its header is built.
    pub cb_seq: u16,
    pub cb_flags: u16,
    /// `inet_sock.inet_sport` (network byte order): a socket's local port, still there
    /// after closing cleared `skc_num`.
    pub inet_sport: u16,
    /// The traced namespace's inode number: drops in other namespaces are not ours.
    pub netns: u32,
}

impl SkbLayout {
    pub const OFF: SkbLayout = SkbLayout {
        enabled: 0,
        head: 0,
        network_header: 0,
        protocol: 0,
        skb_iif: 0,
        dev: 0,
        dev_ifindex: 0,
        sk: 0,
        skc_net: 0,
        dev_net: 0,
        net_inum: 0,
        cb_seq: 0,
        cb_flags: 0,
        inet_sport: 0,
        netns: 0,
    };
}

/// A dropped segment (kind [`crate::item::kind::DROP`]): its headers as a
/// [`super::Record`] (direction: ingress when it had arrived on an interface, egress when
/// this host made it), the kernel's drop reason (its number in the running kernel's `enum
/// skb_drop_reason`) and the dropping code address.
///
/// The same layout carries a RST this host sends ([`crate::item::kind::RESET`]: the RST's
/// endpoints, `reason` from `enum sk_rst_reason`, no `location`) and a retransmission
/// the kernel made ([`crate::item::kind::RETRANSMIT`]: its endpoints, sequence number and
/// flags, `reason` the transmit error as an `i32`, 0 where the kernel gives none).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DropRecord {
    /// Kind [`crate::item::kind::DROP`].
    pub hdr: crate::item::Header,
    pub reason: u32,
    pub location: u64,
    pub rec: super::Record,
}

const _: () = assert!(core::mem::size_of::<DropRecord>() == 176);

/// An ICMP or ICMPv6 error (destination unreachable, fragmentation needed / packet too
/// big, time exceeded, parameter problem) about a traced segment: `wide` is the quoted
/// segment, parsed and filtered like any other (its time, interface, direction, packet
/// type and `frame_len` are the ICMP packet's; `l3_off`/`l4_off` are the quoted headers'
/// offsets in the frame), of kind [`crate::item::kind::ICMP`]; the rest is the error's own
/// IP and ICMP header.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IcmpRecord {
    pub wide: crate::item::Wide,
    /// The 4 bytes after the ICMP checksum (unused, next-hop MTU, pointer), as on the wire.
    pub rest: [u8; 4],
    /// The error's source and destination address (IPv4 in the first four bytes).
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// The error's IPv4 total length or IPv6 payload length (raw header values).
    pub ip_len: u16,
    /// IPv4 identification (0 for IPv6).
    pub ip_id: u16,
    /// IPv4 flags and fragment offset field.
    pub frag: u16,
    /// IPv4 header checksum as on the wire, and the value it should hold (with
    /// [`super::status::CSUM_COMPUTED`] in `icmp_status`).
    pub ip_csum: u16,
    pub ip_csum_calc: u16,
    /// The ICMP checksum as on the wire and the value it should hold (same condition).
    pub icmp_csum: u16,
    pub icmp_csum_calc: u16,
    /// Offset of the error's IP header in the frame.
    pub l3_off: u16,
    /// IPv6 flow label (20 bits).
    pub flow_label: u32,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// IPv4 TTL or IPv6 hop limit; IPv4 TOS or IPv6 traffic class.
    pub ttl: u8,
    pub tos: u8,
    /// IPv4 header length in bytes.
    pub ihl: u8,
    /// [`super::status`] bits of the error's own headers (`CSUM_COMPUTED`,
    /// `CSUM_UNAVAILABLE` when not all of the ICMP message is in the frame).
    pub icmp_status: u8,
    pub _pad: u16,
}

const _: () =
    assert!(core::mem::size_of::<IcmpRecord>() == core::mem::size_of::<crate::item::Wide>() + 64);
