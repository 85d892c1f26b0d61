//! A minimal frame builder for the benchmark: Ethernet, IPv4, IPv6 (with extension
//! headers) and TCP with options, checksums correct.

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_ARP: u16 = 0x0806;
const IPPROTO_TCP: u8 = 6;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

pub fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// A TCP segment to build.
#[derive(Clone, Debug, Default)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub urg: u16,
    pub options: Vec<u8>,
    pub payload_len: usize,
    /// Data offset override (words), for malformed headers.
    pub doff: Option<u8>,
}

impl Tcp {
    /// The header and payload (zero bytes), checksum field zero.
    fn bytes(&self) -> Vec<u8> {
        let mut opts = self.options.clone();
        while !opts.len().is_multiple_of(4) {
            opts.push(0);
        }
        let doff = self.doff.unwrap_or(5 + (opts.len() / 4) as u8);
        let mut t = Vec::with_capacity(20 + opts.len() + self.payload_len);
        t.extend_from_slice(&self.sport.to_be_bytes());
        t.extend_from_slice(&self.dport.to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        t.push(doff << 4);
        t.push(self.flags);
        t.extend_from_slice(&self.window.to_be_bytes());
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&self.urg.to_be_bytes());
        t.extend_from_slice(&opts);
        t.resize(t.len() + self.payload_len, 0x61);
        t
    }
}

/// Ethernet + IPv4 (DF, TTL 64) + TCP.
pub fn tcp4(src: [u8; 4], dst: [u8; 4], ip_id: u16, tcp: &Tcp) -> Vec<u8> {
    let mut t = tcp.bytes();
    let mut acc = sum16(0, &src);
    acc = sum16(acc, &dst);
    acc += u32::from(IPPROTO_TCP) + t.len() as u32;
    let c = fold(sum16(acc, &t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let total = (20 + t.len()) as u16;
    let mut ip = Vec::with_capacity(total as usize);
    ip.extend_from_slice(&[0x45, 0]);
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&ip_id.to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, IPPROTO_TCP, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = fold(sum16(0, &ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&t);
    ether(ETH_P_IP, &ip)
}

/// Ethernet + IPv6 + extension headers (each `(next-header value, 8-byte-multiple body)`,
/// in order) + TCP.
pub fn tcp6(src: [u8; 16], dst: [u8; 16], exts: &[(u8, Vec<u8>)], tcp: &Tcp) -> Vec<u8> {
    let mut t = tcp.bytes();
    let mut acc = sum16(0, &src);
    acc = sum16(acc, &dst);
    acc += u32::from(IPPROTO_TCP) + t.len() as u32;
    let c = fold(sum16(acc, &t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut chain = Vec::new();
    for (i, (_, body)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(IPPROTO_TCP, |e| e.0);
        let mut h = body.clone();
        h[0] = next;
        h[1] = (h.len() / 8 - 1) as u8;
        chain.extend_from_slice(&h);
    }
    let first = exts.first().map_or(IPPROTO_TCP, |e| e.0);
    let plen = (chain.len() + t.len()) as u16;
    let mut ip = Vec::with_capacity(40 + plen as usize);
    ip.extend_from_slice(&[0x60, 0x01, 0x23, 0x45]);
    ip.extend_from_slice(&plen.to_be_bytes());
    ip.push(first);
    ip.push(64);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&chain);
    ip.extend_from_slice(&t);
    ether(ETH_P_IPV6, &ip)
}

/// An ARP request (the non-IP case).
pub fn arp() -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 10, 0, 0, 1]);
    a.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    a.resize(46, 0);
    ether(ETH_P_ARP, &a)
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
