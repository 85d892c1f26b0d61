//! One connection followed through the TCP states from the segments seen in both
//! directions (or one), and the events its segments cause.

use tcptrace_common::tcp_flags::{ACK, FIN, RST, SYN};

use super::event::{Endpoint, Event, EventKind, Span};
use crate::decode::{Segment, Timestamp};

/// Sequence-number comparisons modulo 2^32.
#[inline]
pub fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[inline]
pub fn seq_gt(a: u32, b: u32) -> bool {
    seq_lt(b, a)
}

/// The two endpoints in a fixed (canonical) order, so both directions find one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
}

impl ConnKey {
    pub fn of(seg: &Segment) -> ConnKey {
        let a = Endpoint::new(seg.src, seg.sport);
        let b = Endpoint::new(seg.dst, seg.dport);
        if a <= b {
            ConnKey { lo: a, hi: b }
        } else {
            ConnKey { lo: b, hi: a }
        }
    }
}

/// Where a connection is, as far as the segments show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// SYN sent, no answer yet.
    SynSent,
    /// SYN answered by RST (the client may still retry).
    Refused,
    /// SYN-ACK sent, the client's ACK not yet seen.
    SynReceived,
    Established,
    /// At least one FIN, not both acknowledged.
    Closing,
    /// Both FINs acknowledged (TIME_WAIT at the end that closed first).
    Closed,
    /// Ended by RST.
    Reset,
}

impl State {
    /// The name in the summary and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            State::SynSent => "SYN_SENT",
            State::Refused => "REFUSED",
            State::SynReceived => "SYN_RECEIVED",
            State::Established => "ESTABLISHED",
            State::Closing => "CLOSING",
            State::Closed => "CLOSED",
            State::Reset => "RESET",
        }
    }

    /// How the state reads in a sentence ("while …", "was …").
    pub fn phrase(self) -> &'static str {
        match self {
            State::SynSent => "opening",
            State::Refused => "refused",
            State::SynReceived => "opening",
            State::Established => "open",
            State::Closing => "closing",
            State::Closed => "closed",
            State::Reset => "reset",
        }
    }

    /// Over: a new SYN on the same ports starts a new connection.
    pub fn ended(self) -> bool {
        matches!(self, State::Closed | State::Reset | State::Refused)
    }
}

const MAX_GAPS: usize = 4;

/// One direction: what one endpoint sent.
#[derive(Clone, Debug)]
pub struct Half {
    pub ep: Endpoint,
    /// Segments seen from this endpoint.
    pub segs: u64,
    /// Payload bytes sent, by sequence numbers (bytes the trace missed count too).
    pub bytes: u64,
    /// Segments that repeated sequence space already seen (SYN, data, FIN).
    pub retrans: u64,
    /// Duplicate ACKs sent.
    pub dupacks: u64,
    /// Times the window went to zero.
    pub zero_windows: u64,
    /// Initial sequence number (from its SYN, or inferred from the peer's SYN-ACK).
    pub isn: Option<u32>,
    pub syns: u32,
    pub syn_first: Option<Timestamp>,
    pub syn_last: Option<Timestamp>,
    /// Sequence number after the highest one seen (SYN and FIN included).
    pub snd_max: Option<u32>,
    pub fin_seq: Option<u32>,
    pub fin_ts: Option<Timestamp>,
    pub fin_acked: bool,
    last_ack: Option<u32>,
    last_win: u16,
    dup_run: u32,
    zero_since: Option<Timestamp>,
    gaps: Vec<(u32, u32)>,
}

impl Half {
    fn new(ep: Endpoint) -> Half {
        Half {
            ep,
            segs: 0,
            bytes: 0,
            retrans: 0,
            dupacks: 0,
            zero_windows: 0,
            isn: None,
            syns: 0,
            syn_first: None,
            syn_last: None,
            snd_max: None,
            fin_seq: None,
            fin_ts: None,
            fin_acked: false,
            last_ack: None,
            last_win: 0,
            dup_run: 0,
            zero_since: None,
            gaps: Vec::new(),
        }
    }

    /// A sequence number as the notes show it: relative to the ISN when known.
    fn rel(&self, seq: u32) -> u32 {
        match self.isn {
            Some(i) => seq.wrapping_sub(i),
            None => seq,
        }
    }

    fn sent_syn(&mut self, seq: u32, ts: Timestamp) {
        self.isn = Some(seq);
        self.syns = 1;
        self.syn_first = Some(ts);
        self.syn_last = Some(ts);
        self.snd_max = Some(seq.wrapping_add(1));
    }
}

/// Why a connection left the table (for the summary's "end" column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Still in the table.
    Tracked,
    /// Forgotten after being idle too long (by segment time).
    Expired,
    /// Dropped to make room (`--max-connections`).
    Evicted,
    /// A new connection took its port pair.
    Replaced,
    /// The trace ended (exit).
    TraceEnd,
}

/// A connection.
#[derive(Clone, Debug)]
pub struct Conn {
    pub id: u64,
    /// `h[0]` is the client (the SYN's sender) when `roles_known`, else the first sender seen.
    pub h: [Half; 2],
    pub roles_known: bool,
    pub state: State,
    pub start: Timestamp,
    pub last: Timestamp,
    /// SYN → first ACK.
    pub handshake_rtt: Option<Span>,
    pub first_closer: Option<usize>,
    pub simultaneous_close: bool,
    pub reset_by: Option<usize>,
    pub refusals: u32,
    last_rst: Option<Timestamp>,
    /// When it closed, was reset or last refused.
    pub ended_at: Option<Timestamp>,
    half_close_noted: bool,
    pub fate: Fate,
}

impl Conn {
    /// A connection whose first segment is `seg`; its events go to `ev`.
    pub fn new(id: u64, seg: &Segment) -> Conn {
        let src = Endpoint::new(seg.src, seg.sport);
        let dst = Endpoint::new(seg.dst, seg.dport);
        let syn = seg.has(SYN);
        let ack = seg.has(ACK);
        // The SYN-ACK's receiver is the client.
        let (c, s) = if syn && ack { (dst, src) } else { (src, dst) };
        Conn {
            id,
            h: [Half::new(c), Half::new(s)],
            roles_known: syn,
            state: if syn {
                State::SynSent
            } else {
                State::Established
            },
            start: seg.ts,
            last: seg.ts,
            handshake_rtt: None,
            first_closer: None,
            simultaneous_close: false,
            reset_by: None,
            refusals: 0,
            last_rst: None,
            ended_at: None,
            half_close_noted: false,
            fate: Fate::Tracked,
        }
    }

    /// Which half sent `seg`.
    pub fn side(&self, seg: &Segment) -> usize {
        if self.h[0].ep.addr == seg.src && self.h[0].ep.port == seg.sport {
            0
        } else {
            1
        }
    }

    /// `seg` (a SYN without ACK from side `d`) starts a new connection on this port pair
    /// rather than repeating this one's SYN.
    pub fn is_new_syn(&self, d: usize, seq: u32) -> bool {
        match self.h[d].isn {
            Some(isn) => isn != seq,
            // No SYN from this side yet: fine while opening (simultaneous open), new if the
            // connection is further along.
            None => !matches!(self.state, State::SynSent),
        }
    }

    fn event(&self, ts: Timestamp, from: usize, kind: EventKind) -> Event {
        Event {
            ts,
            conn: self.id,
            from: self.h[from].ep,
            to: self.h[1 - from].ep,
            about_line: true,
            kind,
        }
    }

    /// A verdict reached without a segment (expiry, end of trace), if there is one.
    pub fn verdict(&self) -> Option<Event> {
        let kind = match self.state {
            State::Refused if self.roles_known => EventKind::GaveUp {
                attempts: self.refusals,
            },
            State::SynSent if self.roles_known && self.h[0].syns > 0 => EventKind::NoAnswer {
                syns: self.h[0].syns,
            },
            _ => return None,
        };
        let mut e = self.event(self.last, 0, kind);
        e.about_line = false;
        Some(e)
    }

    /// Follows one segment (which must belong to this connection); events go to `ev`.
    pub fn segment(&mut self, seg: &Segment, ev: &mut Vec<Event>) {
        let d = self.side(seg);
        let p = 1 - d;
        let ts = seg.ts;
        if ts > self.last {
            self.last = ts;
        }
        self.h[d].segs += 1;
        let plen = if (seg.hdr_len as u32) <= seg.tcp_len {
            seg.payload_len
        } else {
            0
        };

        if seg.has(RST) {
            self.rst(d, ts, ev);
            return;
        }
        if seg.has(SYN) {
            if seg.has(ACK) {
                self.synack(d, seg, ev);
            } else {
                self.syn(d, seg, ev);
            }
        }
        if seg.has(ACK) {
            self.ack(d, seg, plen, ev);
            if !seg.has(SYN) {
                self.window(d, seg, ev);
            }
        }
        if !seg.has(SYN) {
            self.data(d, seg, plen, ev);
        }
        if seg.has(FIN) && self.h[d].fin_seq.is_none() {
            let h = &mut self.h[d];
            h.fin_seq = Some(seg.seq.wrapping_add(plen));
            h.fin_ts = Some(ts);
            let kind = if self.h[p].fin_seq.is_none() {
                self.first_closer = Some(d);
                EventKind::ActiveClose {
                    sent: self.h[d].bytes,
                    received: self.h[p].bytes,
                }
            } else if self.h[p].fin_acked {
                EventKind::PassiveClose {
                    after_fin: Span::between(self.h[p].fin_ts.unwrap_or(ts), ts),
                }
            } else {
                self.simultaneous_close = true;
                EventKind::SimultaneousClose
            };
            if !matches!(self.state, State::Reset | State::Closed) {
                self.state = State::Closing;
            }
            ev.push(self.event(ts, d, kind));
        }
    }

    fn rst(&mut self, d: usize, ts: Timestamp, ev: &mut Vec<Event>) {
        let p = 1 - d;
        if matches!(self.state, State::SynSent | State::Refused) && d == 1 && self.roles_known {
            self.refusals += 1;
            self.state = State::Refused;
            self.last_rst = Some(ts);
            self.ended_at = Some(ts);
            let attempt = self.h[0].syns.max(1);
            ev.push(self.event(ts, d, EventKind::Refused { attempt }));
        } else if self.state != State::Reset {
            let was = self.state;
            self.state = State::Reset;
            self.reset_by = Some(d);
            self.ended_at = Some(ts);
            let kind = EventKind::Reset {
                sent: self.h[d].bytes,
                received: self.h[p].bytes,
                state: was.phrase(),
            };
            ev.push(self.event(ts, d, kind));
        }
    }

    fn syn(&mut self, d: usize, seg: &Segment, ev: &mut Vec<Event>) {
        let ts = seg.ts;
        let h = &mut self.h[d];
        match h.isn {
            Some(isn) if isn == seg.seq && h.syn_first.is_some() => {
                h.syns += 1;
                let attempt = h.syns;
                let kind = if self.state == State::Refused {
                    self.state = State::SynSent;
                    EventKind::Retry {
                        attempt,
                        isn,
                        since_reset: Span::between(self.last_rst.unwrap_or(ts), ts),
                    }
                } else {
                    h.retrans += 1;
                    EventKind::SynRetransmit {
                        attempt,
                        since_first: Span::between(h.syn_first.unwrap_or(ts), ts),
                    }
                };
                h.syn_last = Some(ts);
                ev.push(self.event(ts, d, kind));
            }
            _ => {
                // First SYN (its ISN may have been inferred from a SYN-ACK seen earlier).
                h.sent_syn(seg.seq, ts);
                ev.push(self.event(ts, d, EventKind::Handshake1 { isn: seg.seq }));
            }
        }
    }

    fn synack(&mut self, d: usize, seg: &Segment, ev: &mut Vec<Event>) {
        let ts = seg.ts;
        let p = 1 - d;
        if self.h[d].isn == Some(seg.seq) && self.h[d].syn_first.is_some() {
            let h = &mut self.h[d];
            h.syns += 1;
            h.retrans += 1;
            h.syn_last = Some(ts);
            let attempt = h.syns;
            ev.push(self.event(ts, d, EventKind::SynAckRetransmit { attempt }));
            return;
        }
        self.h[d].sent_syn(seg.seq, ts);
        let acked_isn = seg.ack.wrapping_sub(1);
        let after_syn = match (self.h[p].isn, self.h[p].syn_last) {
            (Some(isn), Some(t)) if isn == acked_isn => Some(Span::between(t, ts)),
            _ => None,
        };
        if self.h[p].isn.is_none() {
            // Joined after the SYN: the SYN-ACK tells the client's ISN.
            self.h[p].isn = Some(acked_isn);
            self.h[p].snd_max = Some(seg.ack);
        }
        if matches!(
            self.state,
            State::SynSent | State::Refused | State::Established
        ) {
            self.state = State::SynReceived;
        }
        ev.push(self.event(
            ts,
            d,
            EventKind::Handshake2 {
                acked_isn,
                after_syn,
            },
        ));
    }

    fn ack(&mut self, d: usize, seg: &Segment, plen: u32, ev: &mut Vec<Event>) {
        let ts = seg.ts;
        let p = 1 - d;
        let ack = seg.ack;
        let syn = seg.has(SYN);

        // Handshake 3/3: the client acknowledges the server's SYN.
        if !syn && d == 0 && self.roles_known {
            if self.state == State::SynReceived
                && self.h[1]
                    .isn
                    .is_some_and(|i| !seq_lt(ack, i.wrapping_add(1)))
            {
                let after_synack = self.h[1].syn_last.map(|t| Span::between(t, ts));
                let rtt = self.h[0].syn_last.map(|t| Span::between(t, ts));
                self.handshake_rtt = rtt;
                self.state = State::Established;
                ev.push(self.event(ts, d, EventKind::Handshake3 { after_synack, rtt }));
            } else if self.state == State::SynSent && self.h[1].segs == 0 {
                // Only the client's direction is visible: its ACK means the SYN-ACK came.
                self.state = State::Established;
                ev.push(self.event(
                    ts,
                    d,
                    EventKind::Handshake3 {
                        after_synack: None,
                        rtt: None,
                    },
                ));
            }
        }
        if !syn && d == 1 && self.state == State::SynReceived && plen > 0 {
            // Only the server's direction is visible: it sends data, so it is open.
            self.state = State::Established;
        }

        // Data the trace did not show: the other side acknowledges it, so it was sent.
        if let Some(m) = self.h[p].snd_max {
            let ahead = ack.wrapping_sub(m);
            if ahead > 0 && ahead < 1 << 30 {
                self.h[p].bytes += ahead as u64;
                self.h[p].snd_max = Some(ack);
            }
        }

        // A FIN acknowledged.
        if let Some(f) = self.h[p].fin_seq
            && !self.h[p].fin_acked
            && !seq_lt(ack, f.wrapping_add(1))
        {
            self.h[p].fin_acked = true;
            if self.h[d].fin_acked && self.state == State::Closing {
                self.state = State::Closed;
                self.ended_at = Some(ts);
                let time_wait = if self.simultaneous_close {
                    None
                } else {
                    self.first_closer.map(|c| self.h[c].ep)
                };
                ev.push(self.event(
                    ts,
                    d,
                    EventKind::Closed {
                        duration: Span::between(self.start, ts),
                        time_wait,
                    },
                ));
            }
        }

        // Duplicate ACKs (RFC 5681): no data, no SYN/FIN, same ack and window as the last
        // ACK, while the other side has data outstanding beyond it.
        let h = &self.h[d];
        let pure = plen == 0 && !syn && !seg.has(FIN);
        let outstanding = self.h[p].snd_max.is_some_and(|m| seq_gt(m, ack));
        let open = matches!(self.state, State::Established | State::Closing);
        if pure && open && outstanding && h.last_ack == Some(ack) && h.last_win == seg.window {
            let rel = self.h[p].rel(ack);
            let h = &mut self.h[d];
            h.dup_run += 1;
            h.dupacks += 1;
            let count = h.dup_run;
            if count <= 3 {
                ev.push(self.event(ts, d, EventKind::DupAck { ack: rel, count }));
            }
        } else if h.last_ack != Some(ack) {
            self.h[d].dup_run = 0;
        }
        let h = &mut self.h[d];
        h.last_ack = Some(ack);
        h.last_win = seg.window;
    }

    fn window(&mut self, d: usize, seg: &Segment, ev: &mut Vec<Event>) {
        let ts = seg.ts;
        let h = &mut self.h[d];
        if seg.window == 0 {
            if h.zero_since.is_none() {
                h.zero_since = Some(ts);
                h.zero_windows += 1;
                ev.push(self.event(ts, d, EventKind::ZeroWindow));
            }
        } else if let Some(z) = h.zero_since.take() {
            let kind = EventKind::WindowOpen {
                window: seg.window,
                after: Span::between(z, ts),
            };
            ev.push(self.event(ts, d, kind));
        }
    }

    /// Sequence space of a segment without SYN: new, a retransmission, beyond a hole, or
    /// filling one.
    fn data(&mut self, d: usize, seg: &Segment, plen: u32, ev: &mut Vec<Event>) {
        let ts = seg.ts;
        let p = 1 - d;
        let fin = seg.has(FIN);
        let len = plen + u32::from(fin);
        if len == 0 {
            return;
        }
        let seq = seg.seq;
        let end = seq.wrapping_add(len);
        let data_end = seq.wrapping_add(plen);
        let h = &mut self.h[d];
        let Some(m) = h.snd_max else {
            h.snd_max = Some(end);
            h.bytes += plen as u64;
            return;
        };
        if seq_gt(seq, m) {
            // A hole before this segment.
            if h.gaps.len() == MAX_GAPS {
                h.gaps.remove(0);
            }
            h.gaps.push((m, seq));
            h.bytes += data_end.wrapping_sub(m) as u64;
            h.snd_max = Some(end);
            let kind = if plen > 0 {
                EventKind::OutOfOrder {
                    start: h.rel(seq),
                    end: h.rel(data_end),
                    missing_start: h.rel(m),
                    missing_end: h.rel(seq),
                }
            } else {
                EventKind::OutOfOrder {
                    start: h.rel(seq),
                    end: h.rel(seq),
                    missing_start: h.rel(m),
                    missing_end: h.rel(seq),
                }
            };
            ev.push(self.event(ts, d, kind));
        } else if seq_lt(seq, m) {
            // Overlaps what was already seen: fills a hole, or repeats.
            let mut filled = false;
            let mut kept = Vec::with_capacity(h.gaps.len() + 1);
            for &(gs, ge) in &h.gaps {
                if seq_lt(seq, ge) && seq_gt(end, gs) {
                    filled = true;
                    if seq_gt(seq, gs) {
                        kept.push((gs, seq));
                    }
                    if seq_lt(end, ge) {
                        kept.push((end, ge));
                    }
                } else {
                    kept.push((gs, ge));
                }
            }
            h.gaps = kept;
            if seq_gt(end, m) {
                if seq_gt(data_end, m) {
                    h.bytes += data_end.wrapping_sub(m) as u64;
                }
                h.snd_max = Some(end);
            }
            let kind = if filled {
                EventKind::LateArrival {
                    start: h.rel(seq),
                    end: h.rel(data_end),
                }
            } else {
                h.retrans += 1;
                if plen == 0 {
                    EventKind::FinRetransmit
                } else {
                    EventKind::Retransmission {
                        start: h.rel(seq),
                        end: h.rel(data_end),
                    }
                }
            };
            ev.push(self.event(ts, d, kind));
        } else {
            h.bytes += plen as u64;
            h.snd_max = Some(end);
        }
        // Data after the other side's FIN (and before our own): a half-close.
        if plen > 0
            && !self.half_close_noted
            && self.h[p].fin_seq.is_some()
            && self.h[d].fin_seq.is_none()
            && self.state != State::Reset
        {
            self.half_close_noted = true;
            ev.push(self.event(ts, d, EventKind::HalfClose));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_compare_wraps() {
        assert!(seq_lt(1, 2));
        assert!(seq_lt(u32::MAX, 1));
        assert!(seq_gt(1, u32::MAX));
        assert!(!seq_lt(5, 5));
    }
}
