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
        netns: 0,
    };
}

/// A dropped segment: its headers as a [`super::Record`] (direction: ingress when it had
/// arrived on an interface, egress when this host made it), the kernel's drop reason
/// (its number in the running kernel's `enum skb_drop_reason`) and the dropping code
/// address.
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
