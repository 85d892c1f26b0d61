//! Packet fate in a connection's story: the segments the host dropped, each tied to the
//! line it was printed as (or standing alone when it never reached the wire).

use tcptrace_common::{
    DIR_INGRESS,
    tcp_flags::{ACK, SYN},
};

use super::event::{Span, ts_ns};
use crate::decode::{IcmpKind, Segment, Timestamp};

/// Why and where the kernel dropped a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropCause {
    /// The kernel's drop reason (`NETFILTER_DROP`).
    pub reason: String,
    /// The function that dropped it (`nf_hook_slow`).
    pub function: String,
}

/// An egress drop after the wire hook (a qdisc) comes right after the hook saw the
/// segment; one this much later is of a retransmission the hook did not see.
const EGRESS_TWIN_NS: i128 = 1_000_000;

/// A connection's drops.
#[derive(Clone, Debug, Default)]
pub struct Drops {
    pub count: u32,
    /// The client's SYNs among them.
    pub syns: u32,
    pub last: Option<String>,
    /// The last segment each side sent that the wire hooks saw, not yet tied to a drop:
    /// (seq, ack, flags, time).
    seen: [Option<(u32, u32, u16, Timestamp)>; 2],
}

impl Drops {
    /// Side `d` sent `seg` (the wire hooks saw it).
    pub fn seen(&mut self, d: usize, seg: &Segment) {
        self.seen[d] = Some((seg.seq, seg.ack, seg.flags, seg.ts));
    }

    /// Side `d`'s segment `seg` was dropped (at `seg.ts`); the time since the wire hook
    /// saw it, if it did.
    pub fn dropped(&mut self, d: usize, seg: &Segment, cause: &DropCause) -> Option<Span> {
        self.count += 1;
        if seg.flags & (SYN | ACK) == SYN && d == 0 {
            self.syns += 1;
        }
        self.last = Some(cause.reason.clone());
        let (seq, ack, flags, ts) = self.seen[d]?;
        let twin = seq == seg.seq
            && ack == seg.ack
            && flags == seg.flags
            && (seg.direction == DIR_INGRESS || ts_ns(seg.ts) - ts_ns(ts) < EGRESS_TWIN_NS);
        if !twin {
            return None;
        }
        self.seen[d] = None;
        Some(Span::between(ts, seg.ts))
    }
}

/// What a drop reason means for a connection attempt that got no answer.
pub fn meaning(reason: &str, port: u16) -> String {
    match reason {
        "NETFILTER_DROP" => "dropped by this host's firewall".to_string(),
        "TCP_LISTEN_OVERFLOW" | "SOCKET_BACKLOG" => format!("accept queue full on port {port}"),
        "IP_RPFILTER" => "dropped by this host's reverse-path filter (rp_filter)".to_string(),
        "TCP_CSUM" | "IP_CSUM" => "dropped by this host: bad checksum".to_string(),
        "NO_SOCKET" => format!("dropped by this host: no socket on port {port}"),
        r => format!("dropped by this host ({r})"),
    }
}

/// The last ICMP error about a connection: who sent it and what it said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpSeen {
    pub router: std::net::IpAddr,
    pub kind: IcmpKind,
}

/// What an ICMP destination unreachable means for a connection attempt
/// (`port unreachable`, `admin-prohibited unreachable`).
pub fn unreachable_text(k: IcmpKind) -> Option<String> {
    match k {
        IcmpKind::Unreachable(what) => Some(format!("ICMP {what} unreachable")),
        _ => None,
    }
}
