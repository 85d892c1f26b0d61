//! One connection followed through the TCP states from the segments seen in both
//! directions (or one), and the events its segments cause.

use tcptrace_common::tcp_flags::{ACK, FIN, RST, SYN};

use super::event::{Endpoint, Event, EventKind, Span, ts_ns};
use super::fate::{self, Drops, IcmpSeen};
use super::opts;
use super::stats::{Stats, SynOpts};
use crate::decode::{Segment, Timestamp};

use super::seqnum::{seq_gt, seq_lt};

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

/// Holes remembered per direction. Past this, the oldest is forgotten and counted
/// ([`Half::gap_overflow`]); segments into forgotten sequence space get no note rather
/// than a guessed one.
pub const MAX_GAPS: usize = 256;

/// Without a handshake RTT, a hole filled this long (ns) after it opened is taken as
/// filled by a retransmission (Wireshark's out-of-order threshold).
pub const DEFAULT_REORDER_NS: u64 = 3_000_000;

/// A retransmission this long (ns) after the duplicate ACKs that ask for it is sent on
/// their account (fast retransmit; Wireshark's 20 ms), or within one and a half handshake
/// RTTs where that is longer (the ACKs travel to the sender and the data back past the
/// capture point). Later ones are a timeout's: Linux's RTO is at least RTT + 200 ms.
pub const FAST_RETRANSMIT_NS: u64 = 20_000_000;

/// A range of sequence space not seen (lost before the capture point, or still to come).
#[derive(Clone, Copy, Debug)]
pub struct Gap {
    pub start: u32,
    pub end: u32,
    /// When the segment that passed it was seen.
    pub opened: Timestamp,
    /// IPv4 ID of that segment (None: IPv6, or no usable ID).
    pub passer_id: Option<u16>,
    /// The receiver reported it: a duplicate ACK at its start or a SACK block above it.
    pub reported: bool,
}

/// What the last segment of a direction was, for the ACK that answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Special {
    #[default]
    None,
    KeepAlive,
    ZeroWindowProbe,
}

/// Counts of the analysis kinds, per direction (the sender's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub fast_retrans: u64,
    pub spurious_retrans: u64,
    /// Holes: segments seen after sequence space that was not (Wireshark's "previous
    /// segment not captured").
    pub lost_segments: u64,
    /// Holes filled by a segment judged a late arrival (reordering).
    pub late_arrivals: u64,
    pub keep_alives: u64,
    pub keep_alive_acks: u64,
    pub zero_window_probes: u64,
    pub zero_window_probe_acks: u64,
    pub window_full: u64,
    /// D-SACK blocks sent (the receiver got data twice).
    pub dsacks: u64,
    /// ACKs for bytes the trace did not show.
    pub acked_unseen: u64,
    /// Holes forgotten because more than [`MAX_GAPS`] were open at once.
    pub gap_overflow: u64,
}

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
    /// The ACKs of the run that repeat the last one (duplicate ACKs, and repeats sent
    /// while nothing was outstanding, such as the answer to a spurious retransmission):
    /// what a fast retransmission answers, as Wireshark counts them.
    repeats: u32,
    /// When the last repeat came.
    dup_at: Option<Timestamp>,
    zero_since: Option<Timestamp>,
    /// Holes in what this endpoint sent, lowest first (at most [`MAX_GAPS`]).
    pub gaps: Vec<Gap>,
    /// Sequence space below this may hold forgotten holes.
    forgotten_below: Option<u32>,
    /// Highest ACK this endpoint sent.
    max_ack: Option<u32>,
    /// Time of this endpoint's last segment.
    last_ts: Option<Timestamp>,
    /// Its last segment was a keep-alive or a zero-window probe.
    special: Special,
    /// A one-byte zero-window probe at this sequence number (not counted as sent).
    zwp_seq: Option<u32>,
    /// What its SYN negotiated.
    pub syn: SynOpts,
    pub counts: Counts,
    /// The classic tcptrace's numbers.
    pub stats: Stats,
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
            repeats: 0,
            dup_at: None,
            zero_since: None,
            gaps: Vec::new(),
            forgotten_below: None,
            max_ack: None,
            last_ts: None,
            special: Special::None,
            zwp_seq: None,
            syn: SynOpts::default(),
            counts: Counts::default(),
            stats: Stats::default(),
        }
    }

    /// A sequence number as the notes show it: relative to the ISN when known.
    fn rel(&self, seq: u32) -> u32 {
        match self.isn {
            Some(i) => seq.wrapping_sub(i),
            None => seq,
        }
    }

    /// Its SYN (with `plen` bytes of data: TCP Fast Open) and the options in it.
    fn sent_syn(&mut self, seg: &Segment, plen: u32) {
        let seq = seg.seq;
        self.isn = Some(seq);
        self.syns = 1;
        self.syn_first = Some(seg.ts);
        self.syn_last = Some(seg.ts);
        self.snd_max = Some(seq.wrapping_add(1).wrapping_add(plen));
        self.bytes += plen as u64;
        let o = opts::parse(seg);
        self.syn = SynOpts {
            mss: o.mss,
            wscale: o.wscale,
            sack_ok: o.sack_ok,
            timestamps: o.ts.is_some(),
            tfo: o.tfo,
            syn_data: plen,
        };
    }

    /// Remembers a hole, forgetting the oldest one past [`MAX_GAPS`].
    fn open_gap(&mut self, g: Gap) {
        if self.gaps.len() >= MAX_GAPS {
            let old = self.gaps.remove(0);
            self.counts.gap_overflow += 1;
            self.forgotten_below = Some(match self.forgotten_below {
                Some(f) if seq_gt(f, old.end) => f,
                _ => old.end,
            });
        }
        self.gaps.push(g);
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
    /// Window scale shifts [side 0, side 1], once both SYNs were seen.
    pub win_scale: Option<[u8; 2]>,
    /// Tracker clock (ns) at its last segment: what expiry measures idleness by.
    pub clock: i128,
    pub fate: Fate,
    /// Its segments the host dropped.
    pub drops: Drops,
    /// The last ICMP error about it.
    pub icmp: Option<IcmpSeen>,
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
            win_scale: None,
            clock: ts_ns(seg.ts),
            fate: Fate::Tracked,
            drops: Drops::default(),
            icmp: None,
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
            State::SynSent
                if self.roles_known
                    && let Some(i) = self.icmp
                    && let Some(what) = fate::unreachable_text(i.kind) =>
            {
                EventKind::IcmpRefused {
                    syns: self.h[0].syns,
                    router: i.router,
                    what,
                }
            }
            State::SynSent if self.roles_known && self.drops.syns > 0 => EventKind::DroppedHere {
                syns: self.h[0].syns.max(self.drops.syns),
                dropped: self.drops.syns,
                why: fate::meaning(
                    self.drops.last.as_deref().unwrap_or_default(),
                    self.h[1].ep.port,
                ),
                reason: self.drops.last.clone().unwrap_or_default(),
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
        self.drops.seen(d, seg);
        // Set again by `data` if this one is a keep-alive or a probe.
        self.h[d].special = Special::None;
        let plen = if (seg.hdr_len as u32) <= seg.tcp_len {
            seg.payload_len
        } else {
            0
        };
        self.count(d, seg, plen);

        if seg.has(RST) {
            self.rst(d, ts, ev);
            self.h[d].last_ts = Some(ts);
            return;
        }
        if seg.has(SYN) {
            if seg.has(ACK) {
                self.synack(d, seg, plen, ev);
            } else {
                self.syn(d, seg, plen, ev);
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
        self.h[d].last_ts = Some(ts);
    }

    /// The per-segment numbers of the classic tcptrace.
    fn count(&mut self, d: usize, seg: &Segment, plen: u32) {
        let scale = self.win_scale.map_or(0, |sc| sc[d]);
        let h = &mut self.h[d];
        let st = &mut h.stats;
        if let Some(l) = h.last_ts {
            st.idle_max = st.idle_max.max(Span::between(l, seg.ts).0);
        }
        if seg.has(SYN) {
            st.syn_segs += 1;
        }
        if seg.has(FIN) {
            st.fin_segs += 1;
        }
        if plen > 0 {
            st.data_segs += 1;
            st.data_bytes += plen as u64;
            st.seg_size.add(plen as u64);
        }
        if seg.has(ACK) && !seg.has(RST) {
            // Windows in SYNs are never scaled (RFC 7323).
            let shift = if seg.has(SYN) { 0 } else { scale };
            st.window.add((seg.window as u64) << shift);
            if plen == 0 && !seg.has(SYN) && !seg.has(FIN) {
                st.pure_acks += 1;
            }
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

    /// The window scale shifts of both sides, once both SYNs were seen (RFC 7323: only
    /// when both sent the option).
    fn set_scale(&mut self) {
        if self.h[0].syn_first.is_some() && self.h[1].syn_first.is_some() {
            self.win_scale = Some(match (self.h[0].syn.wscale, self.h[1].syn.wscale) {
                (Some(a), Some(b)) => [a, b],
                _ => [0, 0],
            });
        }
    }

    fn syn(&mut self, d: usize, seg: &Segment, plen: u32, ev: &mut Vec<Event>) {
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
                h.sent_syn(seg, plen);
                self.set_scale();
                ev.push(self.event(ts, d, EventKind::Handshake1 { isn: seg.seq }));
            }
        }
    }

    fn synack(&mut self, d: usize, seg: &Segment, plen: u32, ev: &mut Vec<Event>) {
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
        self.h[d].sent_syn(seg, plen);
        self.set_scale();
        // The SYN-ACK may acknowledge data sent with the SYN (Fast Open) too.
        let acked_isn = match (self.h[p].isn, self.h[p].snd_max) {
            (Some(i), Some(m)) if !seq_lt(seg.ack, i.wrapping_add(1)) && !seq_gt(seg.ack, m) => i,
            _ => seg.ack.wrapping_sub(1),
        };
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
                // The SYN to this ACK is still one round trip (Wireshark's initial RTT).
                let rtt = self.h[0].syn_last.map(|t| Span::between(t, ts));
                self.handshake_rtt = rtt;
                self.state = State::Established;
                ev.push(self.event(
                    ts,
                    d,
                    EventKind::Handshake3 {
                        after_synack: None,
                        rtt,
                    },
                ));
            }
        }
        if !syn && d == 1 && self.state == State::SynReceived && plen > 0 {
            // Only the server's direction is visible: it sends data, so it is open.
            self.state = State::Established;
        }

        // The byte of a one-byte zero-window probe, acknowledged: it was sent after all.
        if let (Some(z), Some(m)) = (self.h[p].zwp_seq, self.h[p].snd_max)
            && z == m
            && ack == z.wrapping_add(1)
        {
            self.h[p].snd_max = Some(ack);
            self.h[p].bytes += 1;
            self.h[p].zwp_seq = None;
        }

        // Data the trace did not show, acknowledged: it was sent (and received). Holes
        // below the ACK close; the ACK beyond everything seen moves the sequence space on.
        let mut unseen: u64 = 0;
        let mut first_unseen: Option<u32> = None;
        if let Some(m) = self.h[p].snd_max {
            let hp = &mut self.h[p];
            hp.gaps.retain_mut(|g| {
                if !seq_gt(ack, g.start) {
                    return true;
                }
                let upto = if seq_lt(ack, g.end) { ack } else { g.end };
                unseen += upto.wrapping_sub(g.start) as u64;
                first_unseen.get_or_insert(g.start);
                if seq_lt(ack, g.end) {
                    g.start = ack;
                    true
                } else {
                    false
                }
            });
            let ahead = ack.wrapping_sub(m);
            if ahead > 0 && ahead < 1 << 30 {
                hp.bytes += ahead as u64;
                hp.snd_max = Some(ack);
                unseen += ahead as u64;
                first_unseen.get_or_insert(m);
            }
        }
        if let Some(first) = first_unseen
            && self.h[p].segs > 0
        {
            self.h[d].counts.acked_unseen += 1;
            let kind = EventKind::AckedUnseen {
                start: self.h[p].rel(first),
                end: self.h[p].rel(ack),
                missing: unseen,
            };
            ev.push(self.event(ts, d, kind));
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

        // SACK blocks: a first block below the ACK or inside the second is a D-SACK (RFC
        // 2883: data received twice); the others report the holes below them.
        let o = if seg.opt_len > 0 {
            opts::parse(seg)
        } else {
            opts::TcpOpts::default()
        };
        self.h[p].stats.acked(ack, ts, o.ts.map(|t| t.1));
        if seg.opt_len > 0 && !syn {
            let blocks = o.sack_blocks();
            if !blocks.is_empty() {
                self.h[d].stats.sack_segs += 1;
            }
            let mut skip = 0;
            if let Some(&(s0, e0)) = blocks.first() {
                let inside_second = blocks
                    .get(1)
                    .is_some_and(|&(s1, e1)| !seq_lt(s0, s1) && !seq_gt(e0, e1));
                if seq_lt(s0, ack) || inside_second {
                    skip = 1;
                    self.h[d].counts.dsacks += 1;
                    let kind = EventKind::Dsack {
                        start: self.h[p].rel(s0),
                        end: self.h[p].rel(e0),
                    };
                    ev.push(self.event(ts, d, kind));
                }
            }
            for &(s, _) in &blocks[skip..] {
                for g in self.h[p].gaps.iter_mut() {
                    if !seq_lt(s, g.end) {
                        g.reported = true;
                    }
                }
            }
        }

        // Duplicate ACKs (RFC 5681): no data, no SYN/FIN, same ack and window as the last
        // ACK, while the other side has data outstanding beyond it. Answers to a
        // keep-alive or to a zero-window probe are not duplicates, nor is any ACK of a
        // zero window: flow control, not a loss signal (as Wireshark).
        let h = &self.h[d];
        let pure = plen == 0 && !syn && !seg.has(FIN);
        let same = h.last_ack == Some(ack) && h.last_win == seg.window;
        let outstanding = self.h[p].snd_max.is_some_and(|m| seq_gt(m, ack));
        let open = matches!(self.state, State::Established | State::Closing);
        let at_next = self.h[d].snd_max.is_none_or(|m| m == seg.seq);
        if pure && same && at_next && self.h[p].special == Special::KeepAlive && seg.window != 0 {
            self.h[d].counts.keep_alive_acks += 1;
            ev.push(self.event(ts, d, EventKind::KeepAliveAck));
        } else if pure
            && same
            && at_next
            && seg.window == 0
            && self.h[p].special == Special::ZeroWindowProbe
        {
            self.h[d].counts.zero_window_probe_acks += 1;
            ev.push(self.event(ts, d, EventKind::ZeroWindowProbeAck));
        } else if pure && open && outstanding && same && seg.window != 0 {
            let rel = self.h[p].rel(ack);
            for g in self.h[p].gaps.iter_mut() {
                if g.start == ack {
                    g.reported = true;
                }
            }
            let h = &mut self.h[d];
            h.dup_run += 1;
            h.repeats += 1;
            h.dup_at = Some(seg.ts);
            h.dupacks += 1;
            let count = h.dup_run;
            ev.push(self.event(ts, d, EventKind::DupAck { ack: rel, count }));
        } else if pure && same && seg.window != 0 {
            // A repeat while nothing is outstanding: not a duplicate ACK (RFC 5681), but
            // the sender that retransmits at once after one more acts on both.
            let h = &mut self.h[d];
            h.repeats += 1;
            h.dup_at = Some(seg.ts);
        } else if h.last_ack != Some(ack) {
            self.h[d].dup_run = 0;
            self.h[d].repeats = 0;
        }
        let h = &mut self.h[d];
        h.last_ack = Some(ack);
        h.last_win = seg.window;
        if h.max_ack.is_none_or(|a| seq_gt(ack, a)) {
            h.max_ack = Some(ack);
        }
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

    /// A segment without data (a pure ACK) whose sequence number is past everything seen
    /// from its side: bytes were sent that the capture missed. The hole is noted here,
    /// once (Wireshark's "previous segment not captured"); the peer's ACK of them is
    /// then an ACK of bytes not seen.
    fn empty_past_gap(&mut self, d: usize, seg: &Segment, ev: &mut Vec<Event>) {
        let Some(m) = self.h[d].snd_max else {
            return;
        };
        let seq = seg.seq;
        if !seq_gt(seq, m) || seq.wrapping_sub(m) >= 1 << 30 {
            return;
        }
        let h = &mut self.h[d];
        h.open_gap(Gap {
            start: m,
            end: seq,
            opened: seg.ts,
            passer_id: ipv4_id(seg),
            reported: false,
        });
        h.counts.lost_segments += 1;
        h.bytes += seq.wrapping_sub(m) as u64;
        h.snd_max = Some(seq);
        let kind = EventKind::AckPastUnseen {
            missing_start: h.rel(m),
            missing_end: h.rel(seq),
        };
        ev.push(self.event(seg.ts, d, kind));
    }

    /// Whether a segment filling hole `g` is a retransmission rather than a late
    /// arrival (README, "Holes"): an IPv4 ID newer than the one of the segment that
    /// passed the hole says sent later, an older one says sent earlier; without usable
    /// IDs, the receiver reporting the hole (duplicate ACK, SACK) or the hole being open
    /// for at least the handshake RTT (3 ms without one) says retransmission.
    fn fill_is_retransmission(&self, g: &Gap, seg: &Segment) -> bool {
        if let Some(pid) = g.passer_id
            && let Some(id) = ipv4_id(seg)
            && id != pid
        {
            return (id.wrapping_sub(pid) as i16) > 0;
        }
        if g.reported {
            return true;
        }
        let reorder = self.handshake_rtt.map_or(DEFAULT_REORDER_NS, |s| s.0);
        Span::between(g.opened, seg.ts).0 >= reorder
    }

    /// Sequence space of a segment without SYN: new, a keep-alive or a probe, a
    /// retransmission, beyond a hole, or filling one.
    fn data(&mut self, d: usize, seg: &Segment, plen: u32, ev: &mut Vec<Event>) {
        let ts = seg.ts;
        let p = 1 - d;
        let fin = seg.has(FIN);
        let len = plen + u32::from(fin);
        let seq = seg.seq;
        // The receiver's window as last advertised (scaled), once known.
        let peer_zero = self.h[p].last_ack.is_some() && self.h[p].last_win == 0;

        // A keep-alive: 0 or 1 byte one before the next sequence number. While the
        // receiver's window is zero it is a zero-window probe (Linux probes that way).
        if let Some(m) = self.h[d].snd_max
            && !fin
            && plen <= 1
            && seq == m.wrapping_sub(1)
            && seg.has(ACK)
        {
            let h = &mut self.h[d];
            let kind = if peer_zero {
                h.special = Special::ZeroWindowProbe;
                h.counts.zero_window_probes += 1;
                EventKind::ZeroWindowProbe
            } else {
                h.special = Special::KeepAlive;
                h.counts.keep_alives += 1;
                EventKind::KeepAlive
            };
            ev.push(self.event(ts, d, kind));
            return;
        }
        // A classic zero-window probe: one new byte into a zero window.
        if let Some(m) = self.h[d].snd_max
            && !fin
            && plen == 1
            && seq == m
            && peer_zero
        {
            let h = &mut self.h[d];
            h.special = Special::ZeroWindowProbe;
            h.counts.zero_window_probes += 1;
            h.zwp_seq = Some(m);
            ev.push(self.event(ts, d, EventKind::ZeroWindowProbe));
            return;
        }
        if len == 0 {
            self.empty_past_gap(d, seg, ev);
            return;
        }
        let end = seq.wrapping_add(len);
        let data_end = seq.wrapping_add(plen);
        // TS value, for RTT samples of retransmitted data (its echo tells which copy).
        let tsval = if seg.opt_len > 0 {
            opts::parse(seg).ts.map(|t| t.0)
        } else {
            None
        };
        // Data up to the right edge of the receiver's window.
        let window_full = plen > 0
            && !fin
            && self.win_scale.is_some_and(|sc| {
                self.h[p].last_ack.is_some_and(|a| {
                    let edge = a.wrapping_add((self.h[p].last_win as u32) << sc[p]);
                    data_end == edge
                })
            });
        let Some(m) = self.h[d].snd_max else {
            let h = &mut self.h[d];
            h.snd_max = Some(end);
            h.bytes += plen as u64;
            h.stats.sent(seq, end, ts, tsval);
            return;
        };
        if seq_gt(seq, m) {
            // A hole before this segment.
            let h = &mut self.h[d];
            h.open_gap(Gap {
                start: m,
                end: seq,
                opened: ts,
                passer_id: ipv4_id(seg),
                reported: false,
            });
            h.counts.lost_segments += 1;
            h.bytes += data_end.wrapping_sub(m) as u64;
            h.snd_max = Some(end);
            h.stats.sent(seq, end, ts, tsval);
            let kind = EventKind::OutOfOrder {
                start: h.rel(seq),
                end: h.rel(data_end),
                missing_start: h.rel(m),
                missing_end: h.rel(seq),
            };
            ev.push(self.event(ts, d, kind));
        } else if seq_lt(seq, m) {
            // Overlaps what was already seen: fills a hole, or repeats.
            let h = &mut self.h[d];
            let mut filled: Option<Gap> = None;
            // The holes it overlaps shrink or split (no allocation when there are none:
            // a plain retransmission).
            if !h.gaps.is_empty() {
                let mut kept = Vec::with_capacity(h.gaps.len() + 1);
                for g in &h.gaps {
                    if seq_lt(seq, g.end) && seq_gt(end, g.start) {
                        filled.get_or_insert(*g);
                        if seq_gt(seq, g.start) {
                            kept.push(Gap { end: seq, ..*g });
                        }
                        if seq_lt(end, g.end) {
                            kept.push(Gap { start: end, ..*g });
                        }
                    } else {
                        kept.push(*g);
                    }
                }
                h.gaps = kept;
            }
            if seq_gt(end, m) {
                if seq_gt(data_end, m) {
                    h.bytes += data_end.wrapping_sub(m) as u64;
                }
                h.snd_max = Some(end);
            }
            let forgotten = h.forgotten_below.is_some_and(|f| seq_lt(seq, f));
            let peer = &self.h[p];
            // Fast retransmission: the receiver's repeated ACKs (two at least) ask for
            // exactly this, and it comes on their account, not a timeout's.
            let soon = self
                .handshake_rtt
                .map_or(0, |s| s.0 + s.0 / 2)
                .max(FAST_RETRANSMIT_NS);
            let fast = peer.repeats >= 2
                && peer.last_ack == Some(seq)
                && peer.dup_at.is_some_and(|t| Span::between(t, ts).0 <= soon);
            let acked = peer.max_ack.is_some_and(|a| !seq_lt(a, end));
            let (start, rend) = (self.h[d].rel(seq), self.h[d].rel(data_end));
            let kind = match filled {
                Some(g) if !self.fill_is_retransmission(&g, seg) => {
                    self.h[d].counts.late_arrivals += 1;
                    Some(EventKind::LateArrival { start, end: rend })
                }
                Some(_) => Some(if fast {
                    EventKind::FastRetransmission { start, end: rend }
                } else {
                    EventKind::Retransmission { start, end: rend }
                }),
                // Sequence space whose holes were forgotten: no guess.
                None if forgotten => None,
                None if plen == 0 => Some(EventKind::FinRetransmit),
                None if acked => Some(EventKind::SpuriousRetransmission { start, end: rend }),
                None if fast => Some(EventKind::FastRetransmission { start, end: rend }),
                None => Some(EventKind::Retransmission { start, end: rend }),
            };
            let h = &mut self.h[d];
            if filled.is_some() {
                h.stats.hole_fills += 1;
            } else if !forgotten {
                // A FIN counts as one byte here, as `tcptrace -l` counts it.
                h.stats.rexmt_segs += 1;
                h.stats.rexmt_bytes += len as u64;
                h.stats.resent(seq, end, ts, tsval, fast);
            }
            match kind {
                Some(EventKind::LateArrival { .. }) | None => {}
                Some(EventKind::FastRetransmission { .. }) => {
                    h.retrans += 1;
                    h.counts.fast_retrans += 1;
                }
                Some(EventKind::SpuriousRetransmission { .. }) => {
                    h.retrans += 1;
                    h.counts.spurious_retrans += 1;
                }
                Some(_) => h.retrans += 1,
            }
            if let Some(kind) = kind {
                ev.push(self.event(ts, d, kind));
            }
        } else {
            let h = &mut self.h[d];
            h.bytes += plen as u64;
            h.snd_max = Some(end);
            h.stats.sent(seq, end, ts, tsval);
        }
        if window_full {
            self.h[d].counts.window_full += 1;
            ev.push(self.event(ts, d, EventKind::WindowFull));
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

/// The IPv4 ID of a segment, when it is one a sender numbers its packets with (IPv6
/// segments have none; 0 is what some stacks send for all).
fn ipv4_id(seg: &Segment) -> Option<u16> {
    (!seg.is_v6() && seg.ip_id != 0).then_some(seg.ip_id as u16)
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
