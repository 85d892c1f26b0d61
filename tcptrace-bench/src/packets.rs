//! The benchmark's frames, made with the test kit's packet builder.
use tcptrace_testkit::packet as builder;

use builder::{ETH_P_ARP, Ipv4, Ipv6, arp_request, eth4, eth6, ether};
pub use builder::{Ext, Tcp, opt};
pub use tcptrace_common::tcp_flags::{ACK, FIN, PSH, RST, SYN, URG};

/// Ethernet + IPv4 (DF) + TCP.
pub fn tcp4(src: [u8; 4], dst: [u8; 4], id: u16, tcp: &Tcp) -> Vec<u8> {
    let ip = Ipv4 {
        id,
        df: true,
        ..Ipv4::new(src, dst)
    };
    eth4(&ip.tcp(tcp))
}

/// Ethernet + IPv6 + extension headers + TCP.
pub fn tcp6(src: [u8; 16], dst: [u8; 16], exts: &[Ext], tcp: &Tcp) -> Vec<u8> {
    let ip = Ipv6 {
        exts: exts.to_vec(),
        ..Ipv6::new(src, dst)
    };
    eth6(&ip.tcp(tcp))
}

/// An ARP request (the non-IP case).
pub fn arp() -> Vec<u8> {
    ether(&[], ETH_P_ARP, &arp_request([10, 0, 0, 1], [10, 0, 0, 2]))
}

/// `n` bytes of payload.
pub fn payload(n: usize) -> Vec<u8> {
    vec![0x61; n]
}
