//! Packet fate in a connection's story: the segments the host dropped, each tied to the
//! line it was printed as (or standing alone when it never reached the wire).

use tcptrace_common::{
    DIR_INGRESS,
    tcp_flags::{ACK, RST, SYN},
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

/// The kernel reports a retransmission it sent right after the wire hook saw it; this
/// much later (well under the shortest retransmission timeout, 200 ms, and lenient with
/// a slow machine) it is of a retransmission the hook did not see.
const RETRANSMIT_TWIN_NS: i128 = 100_000_000;

/// A connection's drops, and what else the kernel said about it: the reason for its
/// RST, the retransmissions that never reached the wire hooks.
#[derive(Clone, Debug, Default)]
pub struct Drops {
    pub count: u32,
    /// The client's SYNs among them.
    pub syns: u32,
    pub last: Option<String>,
    /// The kernel's reason for the RST this host sent.
    pub reset_reason: Option<String>,
    /// Retransmissions the kernel made that the wire hooks did not see, per side.
    pub unseen_retransmits: [u32; 2],
    /// The last segment each side sent that the wire hooks saw, not yet tied to a drop:
    /// (seq, ack, flags, time).
    seen: [Option<(u32, u32, u16, Timestamp)>; 2],
    /// The last segment each side sent that the wire hooks saw: (seq, time).
    sent: [Option<(u32, Timestamp)>; 2],
    /// The sequence number of each side's last segment dropped before the wire.
    dropped_unseen: [Option<u32>; 2],
    /// When the wire hooks last saw each side send a RST.
    rst_at: [Option<Timestamp>; 2],
}

impl Drops {
    /// Side `d` sent `seg` (the wire hooks saw it).
    pub fn seen(&mut self, d: usize, seg: &Segment) {
        self.seen[d] = Some((seg.seq, seg.ack, seg.flags, seg.ts));
        self.sent[d] = Some((seg.seq, seg.ts));
        if seg.flags & RST != 0 {
            self.rst_at[d] = Some(seg.ts);
        }
    }

    /// The kernel says (at `ts`) side `d` sends a RST, and why. A reset the socket sends
    /// of its own accord is told after the RST left: true when side `d`'s RST was seen
    /// just before (the reason is then this RST's).
    pub fn reset_sent(&mut self, d: usize, ts: Timestamp, reason: &str) -> bool {
        let just_sent = self.reset_reason.is_none()
            && self.rst_at[d]
                .is_some_and(|at| (0..EGRESS_TWIN_NS).contains(&(ts_ns(ts) - ts_ns(at))));
        if just_sent {
            self.reset_reason = Some(reason.to_string());
        }
        just_sent
    }

    /// The kernel retransmitted side `d`'s `seg` (`err`: its transmit error). The wire
    /// hook sees a retransmission just before the kernel reports it: None when it did;
    /// else Some(a drop of it was told already).
    pub fn retransmitted(&mut self, d: usize, seg: &Segment, err: i32) -> Option<bool> {
        let seen = err == 0
            && self.sent[d].is_some_and(|(seq, ts)| {
                seq == seg.seq && ts_ns(seg.ts) - ts_ns(ts) < RETRANSMIT_TWIN_NS
            });
        if seen {
            return None;
        }
        self.unseen_retransmits[d] += 1;
        Some(self.dropped_unseen[d] == Some(seg.seq))
    }

    /// Side `d`'s segment `seg` was dropped (at `seg.ts`); the time since the wire hook
    /// saw it, if it did.
    pub fn dropped(&mut self, d: usize, seg: &Segment, cause: &DropCause) -> Option<Span> {
        self.count += 1;
        if seg.flags & (SYN | ACK) == SYN && d == 0 {
            self.syns += 1;
        }
        self.last = Some(cause.reason.clone());
        let twin = self.seen[d].is_some_and(|(seq, ack, flags, ts)| {
            seq == seg.seq
                && ack == seg.ack
                && flags == seg.flags
                && (seg.direction == DIR_INGRESS || ts_ns(seg.ts) - ts_ns(ts) < EGRESS_TWIN_NS)
        });
        if !twin {
            if seg.direction != DIR_INGRESS {
                self.dropped_unseen[d] = Some(seg.seq);
            }
            return None;
        }
        let (_, _, _, ts) = self.seen[d]?;
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
