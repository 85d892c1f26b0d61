//! Types shared by the kernel programs and userspace.
//!
//! Everything here is `#[repr(C)]` plain data: the kernel writes it into maps and the
//! ring buffer, userspace reads it back byte for byte.
#![no_std]

pub mod attrib;
pub mod fate;
pub mod item;

/// Most TCP option bytes a header can carry (60 - 20).
pub const MAX_OPTIONS: usize = 40;
/// Most IPv6 extension headers the kernel walks before giving up on a packet.
pub const MAX_IPV6_EXT: usize = 6;
/// Default ring buffer size in bytes (a power of two, a multiple of the page size; `-B`
/// sets another).
pub const RING_BYTES: u32 = 1 << 22;

/// "Carry on with the next program, as if this one were not there": `TCX_NEXT` under TCX
/// (6.6+) and `TC_ACT_UNSPEC` for a clsact direct-action filter are both -1. Any other
/// value ends the chain (TC_ACT_PIPE would stop every TCX program attached after us).
pub const TC_NEXT: i32 = -1;

/// UDP ports decoded as VXLAN and Geneve (at either end), as tcpdump decides.
pub const VXLAN_PORT: u16 = 4789;
pub const GENEVE_PORT: u16 = 6081;

/// `Record::direction` values.
pub const DIR_INGRESS: u8 = 0;
pub const DIR_EGRESS: u8 = 1;

/// `Record::pkt_type` values: the kernel's `PACKET_*` (`linux/if_packet.h`), which the
/// Linux cooked v2 header carries too.
pub mod pkt_type {
    pub const HOST: u8 = 0;
    pub const BROADCAST: u8 = 1;
    pub const MULTICAST: u8 = 2;
    pub const OTHERHOST: u8 = 3;
    pub const OUTGOING: u8 = 4;
}

/// Most interfaces with counters of their own (`-v`); more share no counters.
pub const MAX_IFACE_COUNTERS: u32 = 1024;

/// `Record::family` values.
pub const FAMILY_V4: u8 = 4;
pub const FAMILY_V6: u8 = 6;

/// TCP flag bits as carried in `Record::flags` (the low byte is the header's flag byte,
/// bit 8 is AE, the low bit of the data-offset byte).
pub mod tcp_flags {
    pub const FIN: u16 = 0x01;
    pub const SYN: u16 = 0x02;
    pub const RST: u16 = 0x04;
    pub const PSH: u16 = 0x08;
    pub const ACK: u16 = 0x10;
    pub const URG: u16 = 0x20;
    pub const ECE: u16 = 0x40;
    pub const CWR: u16 = 0x80;
    pub const AE: u16 = 0x100;
}

/// `Record::status` bits: what the kernel could and could not see.
pub mod status {
    /// The IP header is cut short by the end of the captured bytes.
    pub const IP_TRUNCATED: u16 = 0x01;
    /// IPv4 IHL below 5.
    pub const BAD_IHL: u16 = 0x02;
    /// The TCP header is cut short (`Record::tcp_caplen` says how much is there).
    pub const TCP_TRUNCATED: u16 = 0x04;
    /// TCP data offset below 5.
    pub const BAD_DOFF: u16 = 0x08;
    /// The options are cut short (`Record::opt_len` is what was captured).
    pub const OPT_TRUNCATED: u16 = 0x10;
    /// Checksums were computed (only when asked for): `ip_csum_calc` for IPv4, and
    /// `tcp_csum_calc` unless `CSUM_UNAVAILABLE` is set too.
    pub const CSUM_COMPUTED: u16 = 0x20;
    /// The TCP segment is not all there (cut short), so it has no checksum verdict.
    pub const CSUM_UNAVAILABLE: u16 = 0x40;
    /// The IPv6 extension header walk stopped at its bound.
    pub const EXT_LIMIT: u16 = 0x80;
    /// The IPv4 options / IPv6 extension headers run past [`super::MAX_TAIL`] bytes: the
    /// tail holds their first `MAX_TAIL`.
    pub const TAIL_CUT: u16 = 0x100;
}

/// One TCP segment, every field spelled out: what userspace decodes a ring item into
/// ([`item`] has what the kernel writes), and the segment of a [`fate::DropRecord`].
/// Every field is in host byte order except the addresses and the option bytes, which are
/// as they are on the wire.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// `bpf_ktime_get_ns()` when the program ran (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// Raw TCP option bytes (8-aligned: the kernel copies them a word at a time).
    pub options: [u8; MAX_OPTIONS],
    /// Source and destination address; IPv4 uses the first four bytes.
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// Interface the packet was seen on.
    pub ifindex: u32,
    /// Length of the whole frame in bytes, from the link header on.
    pub frame_len: u32,
    /// Sequence and acknowledgement numbers as on the wire (absolute).
    pub seq: u32,
    pub ack: u32,
    /// IPv4 total length, or IPv6 payload length (raw header values).
    pub ip_len: u32,
    /// IPv4 identification, or the IPv6 fragment header's identification.
    pub ip_id: u32,
    /// IPv6 flow label (20 bits).
    pub flow_label: u32,
    pub sport: u16,
    pub dport: u16,
    pub window: u16,
    pub urg_ptr: u16,
    /// See [`tcp_flags`].
    pub flags: u16,
    /// IPv4 flags and fragment offset field (DF = 0x4000, MF = 0x2000), or the IPv6
    /// fragment header's offset field.
    pub frag: u16,
    /// IPv4 header checksum and TCP checksum as on the wire.
    pub ip_csum: u16,
    pub tcp_csum: u16,
    /// Checksums computed by the kernel (valid with `status::CSUM_COMPUTED`): the values
    /// the IPv4 header and TCP checksum fields should hold.
    pub ip_csum_calc: u16,
    pub tcp_csum_calc: u16,
    /// Offsets of the IP and TCP headers from the start of the frame.
    pub l3_off: u16,
    pub l4_off: u16,
    /// See [`status`].
    pub status: u16,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 TOS or IPv6 traffic class.
    pub tos: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    /// [`DIR_INGRESS`] or [`DIR_EGRESS`].
    pub direction: u8,
    /// IPv4 header length in bytes (IHL * 4).
    pub ihl: u8,
    /// TCP header length in bytes from the data offset (DOFF * 4).
    pub doff: u8,
    /// How many bytes of the TCP header were captured (0..=60).
    pub tcp_caplen: u8,
    /// How many bytes of `options` are valid (the rest are zero).
    pub opt_len: u8,
    /// IPv6 extension headers walked before TCP, in order (next-header values).
    pub ext_count: u8,
    pub exts: [u8; MAX_IPV6_EXT],
    /// VLAN tags seen (0..=2) and their IDs, outer first.
    pub vlan_count: u8,
    pub vlan_ids: [u16; 2],
    /// Linux packet type (see [`pkt_type`]): tcpdump's `In`/`B`/`M`/`P`/`Out` with `-i any`.
    pub pkt_type: u8,
    pub _pad: [u8; 5],
}

const _: () = assert!(core::mem::size_of::<Record>() == 160);
const _: () = assert!(core::mem::offset_of!(Record, options) % 8 == 0);

impl Record {
    pub const ZERO: Record = Record {
        ts_ns: 0,
        ifindex: 0,
        frame_len: 0,
        seq: 0,
        ack: 0,
        ip_len: 0,
        ip_id: 0,
        flow_label: 0,
        saddr: [0; 16],
        daddr: [0; 16],
        sport: 0,
        dport: 0,
        window: 0,
        urg_ptr: 0,
        flags: 0,
        frag: 0,
        ip_csum: 0,
        tcp_csum: 0,
        ip_csum_calc: 0,
        tcp_csum_calc: 0,
        l3_off: 0,
        l4_off: 0,
        status: 0,
        ttl: 0,
        tos: 0,
        family: 0,
        direction: 0,
        ihl: 0,
        doff: 0,
        tcp_caplen: 0,
        opt_len: 0,
        options: [0; MAX_OPTIONS],
        ext_count: 0,
        exts: [0; MAX_IPV6_EXT],
        vlan_count: 0,
        vlan_ids: [0; 2],
        pkt_type: 0,
        _pad: [0; 5],
    };
}

/// Mode settings. Userspace writes them into the object's read-only global
/// `TCPTRACE_CONFIG` before loading, so the verifier sees them as constants and drops the
/// code they switch off.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Non-zero: compute the IPv4 header and TCP checksums (`-v`). Segment items carry the
    /// checksum fields ([`item::Csums`]) only when this or `wire_csums` is set.
    pub checksums: u8,
    /// Non-zero: submit records without waking the reader (offline replay, which reads
    /// the ring right after each test run).
    pub no_wakeup: u8,
    /// Non-zero: also copy the first `snaplen` bytes of the frame (at most [`MAX_SNAP`])
    /// into a snap item ([`item::SnapItem`], `-w`).
    pub snaplen: u16,
    /// Non-zero: also count per interface (`-v`), in `IFACE_COUNTERS`.
    pub per_iface: u8,
    /// Non-zero: userspace asks for packet fate (drops, see [`fate`]); it then fills in
    /// `TCPTRACE_SKB` when the kernel's BTF gives the `sk_buff` layout.
    pub drops: u8,
    /// Non-zero: segment items carry the checksum fields as on the wire even without
    /// `checksums` (`--json` prints them).
    pub wire_csums: u8,
    /// Non-zero: also record ICMP/ICMPv6 errors whose quoted header passes the filter
    /// (a [`fate::IcmpRecord`] each; off with `--no-icmp`).
    pub icmp: u8,
    /// Wake the reader once this CPU's ring holds this many bytes it has not given back
    /// (the loader sets it: 16 KiB, or a sixteenth of a smaller ring).
    pub wake_bytes: u32,
}

const _: () = assert!(core::mem::size_of::<Config>() == 12);

impl Config {
    /// Plain records, no checksums.
    pub const OFF: Config = Config {
        checksums: 0,
        no_wakeup: 0,
        snaplen: 0,
        per_iface: 0,
        drops: 0,
        wire_csums: 0,
        icmp: 0,
        wake_bytes: 0,
    };
}

/// Most frame bytes a snap item ([`item::SnapItem`], `-w`) carries.
pub const MAX_SNAP: usize = 512;

/// Most bytes of IPv4 options or IPv6 extension headers a tail item ([`item::TailItem`])
/// carries.
pub const MAX_TAIL: usize = 256;

/// `TailItem::encap` bits: what the frame carried between the link header and IP.
pub mod encap {
    /// A PPPoE session header (Ethernet type 0x8864) and PPP protocol.
    pub const PPPOE: u8 = 1;
}

/// The in-kernel filter: a rule table in disjunctive normal form. A segment matches when
/// the table is off (`enabled == 0`), or when one of the first `n_terms` terms holds; a
/// term holds when all of its first `len` tests do. Userspace compiles pcap-filter
/// expressions (and `--host`/`--port`) into it; see `tcptrace::filter`.
pub mod rules {
    /// Most terms (alternatives) in the table.
    pub const MAX_TERMS: usize = 16;
    /// Most tests in one term.
    pub const MAX_TESTS: usize = 8;

    /// `Test::kind` values.
    /// Unused slot (never evaluated).
    pub const KIND_NONE: u8 = 0;
    /// IPv4 and (address & `mask[0]`) == `addr[0]`.
    pub const KIND_NET4: u8 = 1;
    /// IPv6 and (address & `mask`) == `addr`, word by word.
    pub const KIND_NET6: u8 = 2;
    /// `lo` <= port <= `hi` (needs the 4 port bytes).
    pub const KIND_PORT: u8 = 3;
    /// The packet is IPv4.
    pub const KIND_V4: u8 = 4;
    /// The packet is IPv6.
    pub const KIND_V6: u8 = 5;
    /// IPv4 and (TCP flag byte & `lo`) == `hi` (tcpdump's `tcp[13]` reads IPv4 only).
    pub const KIND_FLAGS_EQ: u8 = 6;
    /// IPv4 and (TCP flag byte & `lo`) != `hi`.
    pub const KIND_FLAGS_NE: u8 = 7;
    /// The frame carries a VLAN tag.
    pub const KIND_VLAN: u8 = 8;
    /// One of the frame's VLAN tags has ID `lo`.
    pub const KIND_VLAN_ID: u8 = 9;

    /// `Test::dir` bits for address and port tests: which side may match.
    pub const DIR_SRC: u8 = 1;
    pub const DIR_DST: u8 = 2;
    pub const DIR_EITHER: u8 = 3;

    /// One field test. Addresses and masks are the wire bytes read as native-endian
    /// 32-bit words (IPv4 uses word 0), so the kernel compares them without swapping.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Test {
        pub kind: u8,
        pub dir: u8,
        /// Non-zero: the test's result is inverted.
        pub negate: u8,
        pub _pad: u8,
        pub lo: u16,
        pub hi: u16,
        pub addr: [u32; 4],
        pub mask: [u32; 4],
    }

    /// A conjunction of up to [`MAX_TESTS`] tests.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Term {
        pub len: u32,
        pub _pad: u32,
        pub tests: [Test; MAX_TESTS],
    }

    /// The whole table: the object's read-only global `TCPTRACE_RULES`, written before
    /// the programs are loaded (the verifier then walks only the tests the table uses).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct RuleTable {
        /// Zero: every TCP segment matches.
        pub enabled: u32,
        pub n_terms: u32,
        pub _pad: [u32; 2],
        pub terms: [Term; MAX_TERMS],
    }

    impl RuleTable {
        /// The table that matches every TCP segment.
        pub const ALL: RuleTable = RuleTable {
            enabled: 0,
            n_terms: 0,
            _pad: [0; 2],
            terms: [Term {
                len: 0,
                _pad: 0,
                tests: [Test {
                    kind: KIND_NONE,
                    dir: 0,
                    negate: 0,
                    _pad: 0,
                    lo: 0,
                    hi: 0,
                    addr: [0; 4],
                    mask: [0; 4],
                }; MAX_TESTS],
            }; MAX_TERMS],
        };
    }
}

/// Indices into the per-CPU `COUNTERS` block (one `[u64; COUNT]` per CPU).
pub mod counter {
    /// Every frame the programs ran on.
    pub const SEEN: u32 = 0;
    /// Frames that carried a TCP header (whole or cut short).
    pub const TCP: u32 = 1;
    /// TCP segments the filter accepted.
    pub const MATCHED: u32 = 2;
    /// Records written to the ring buffer.
    pub const EMITTED: u32 = 3;
    /// Records lost because the ring buffer was full.
    pub const LOST: u32 = 4;
    /// Frames with an impossible header (bad IHL, bad data offset, bad lengths).
    pub const MALFORMED: u32 = 5;
    /// Frames cut short before the end of a header.
    pub const TRUNCATED: u32 = 6;
    /// IPv4 or IPv6 later fragments (no TCP header) skipped.
    pub const FRAGMENTS: u32 = 7;
    pub const COUNT: u32 = 8;
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, `#[repr(C)]`, every bit pattern valid.
    unsafe impl aya::Pod for super::Record {}
    unsafe impl aya::Pod for super::Config {}
    unsafe impl aya::Pod for super::rules::RuleTable {}
    unsafe impl aya::Pod for super::fate::SkbLayout {}
    unsafe impl aya::Pod for super::fate::DropRecord {}
    unsafe impl aya::Pod for super::fate::IcmpRecord {}
}
