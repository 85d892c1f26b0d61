//! Capture sources: both hand their records ([`Captured`] segments, drops, ICMP errors)
//! to the same sink.
//! [`live`] drains the ring buffer of programs attached to an interface; [`offline`]
//! replays a capture file through the same XDP program with BPF_PROG_TEST_RUN; [`links`]
//! says when a traced interface goes away.

pub mod links;
pub mod live;
pub mod netns;
pub mod offline;
pub mod ring;
pub mod rings;
pub mod savefile;

use std::ops::ControlFlow;

use tcptrace_common::{
    Record,
    fate::{DropRecord, IcmpRecord},
};

use crate::decode::{Tail, Timestamp};

/// One segment's record as a source hands it over.
#[derive(Clone, Copy)]
pub struct Captured<'a> {
    pub rec: &'a Record,
    pub ts: Timestamp,
    /// The frame's first bytes when `-w` asked the kernel for them (else empty).
    pub snap: &'a [u8],
    /// A Linux cooked v2 frame's packet type (`-r`; `rec.ifindex` is the header's
    /// interface index).
    pub cooked: Option<u8>,
    /// The packet's IPv4 options, IPv6 extension headers, tunnel or PPPoE headers.
    pub tail: Option<&'a Tail>,
}

/// Where records go. `Break` stops the source (e.g. `-c` reached).
pub trait Sink {
    /// One segment's record.
    fn record(&mut self, c: Captured<'_>) -> ControlFlow<()>;
    /// A segment the host dropped (`skb:kfree_skb`): its headers, the kernel's reason
    /// number and the dropping code address.
    fn dropped(&mut self, _d: &DropRecord, _ts: Timestamp) {}
    /// An ICMP error about a traced segment (`cooked`: the packet type of a Linux cooked
    /// v2 frame read with `-r`).
    fn icmp(
        &mut self,
        _rec: &Record,
        _i: &IcmpRecord,
        _ts: Timestamp,
        _cooked: Option<u8>,
    ) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// A frame that gave no record but that tcpdump would have printed (offline replay
    /// without a filter): it still counts for `-#`, `-ttt` and `-ttttt`.
    fn skipped(&mut self, _ts: Timestamp) {}
    /// A record tcpdump prints `[Invalid header: …]` for (offline replay; with a filter,
    /// only when the filter takes it): it counts for `-#` only, having no timestamp.
    fn invalid(&mut self) {}
    /// Called after each batch, so output can be flushed while the source waits.
    fn flush(&mut self) {}
    /// Asked for a summary now (live: SIGUSR1).
    fn summary(&mut self) {}
    /// How often [`Sink::periodic`] is wanted while live (`--stats`); None: never.
    fn every(&self) -> Option<std::time::Duration> {
        None
    }
    /// Called every [`Sink::every`] while live.
    fn periodic(&mut self) {}
    /// Live: every record stamped before `now` has been handed over (after each drain);
    /// `Break` stops the source.
    fn advance(&mut self, _now: Timestamp) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}
