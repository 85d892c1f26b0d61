//! Connection tracking in userspace: the decoded segments (live or `-r`, the same ones the
//! outputs get) followed per connection through the TCP states: the events and rows that
//! `--explain`, `--summary`, `--json`, `--graph`, `--stats` and `--metrics` show. One
//! tracker per run, whatever the outputs ([`crate::pipeline`]).
//!
//! Connections are keyed by their two endpoints in canonical order. Memory is bounded:
//! connections expire by *segment* time (so replaying a file behaves as the live run did)
//! and `--max-connections` evicts the least recently active ones when the table is full.

pub mod conn;
pub mod event;
pub mod fate;
pub mod opts;
pub mod row;
pub mod seqnum;
pub mod stats;

use std::collections::{HashMap, VecDeque};

use conn::{Conn, ConnKey, Fate, State};
use event::{Event, EventKind, Span, ts_ns};
use row::{Row, Totals};

use crate::decode::{IcmpError, IcmpKind, Segment, Timestamp};
use crate::render::seq::FastHasher;
use tcptrace_common::{
    status,
    tcp_flags::{ACK, RST, SYN},
};

type Build = std::hash::BuildHasherDefault<FastHasher>;

pub use tcptrace_cli::DEFAULT_MAX_CONNECTIONS;

/// How long (segment time, seconds) a connection stays in the table without segments,
/// by state. A refused connection whose client has not retried for
/// [`REFUSED_TIMEOUT`] seconds has given up.
pub const REFUSED_TIMEOUT: i64 = 5;
/// An unanswered SYN: Linux gives up after 6 retries (127 s).
pub const SYN_TIMEOUT: i64 = 130;
/// Closed or reset: about TIME_WAIT (60 s on Linux); late segments still find it.
pub const ENDED_TIMEOUT: i64 = 60;
/// Open, opening or closing, without a segment.
pub const IDLE_TIMEOUT: i64 = 300;

/// The idle time after which a connection in `state` is forgotten.
pub fn timeout(state: State) -> i64 {
    match state {
        State::Refused => REFUSED_TIMEOUT,
        State::SynSent => SYN_TIMEOUT,
        State::Closed | State::Reset => ENDED_TIMEOUT,
        State::SynReceived | State::Established | State::Closing => IDLE_TIMEOUT,
    }
}

/// A jump of segment time (forwards or backwards) larger than this many seconds is a
/// clock step or a misdated frame, not time passing: it expires nothing.
pub const CLOCK_STEP: i64 = 3600;

/// Tracker settings.
#[derive(Clone, Copy, Debug)]
pub struct TrackConfig {
    pub max_connections: usize,
    /// Keep rows of finished connections for the summary (at most `max_connections`).
    pub keep_rows: bool,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            keep_rows: true,
        }
    }
}

/// The connection table.
pub struct Tracker {
    cfg: TrackConfig,
    map: HashMap<ConnKey, Conn, Build>,
    /// Rows of connections that left the table, oldest first (bounded).
    rows: VecDeque<Row>,
    rows_dropped: u64,
    next_id: u64,
    evicted: u64,
    expired: u64,
    /// The tracker's clock (ns): segment time with clock steps taken out
    /// ([`CLOCK_STEP`]); it never goes backwards.
    clock: Option<i128>,
    /// Added to segment time to get the tracker's clock.
    offset: i128,
    /// Clock steps seen.
    steps: u64,
    /// A forward step just happened: the next sweep forgets ended connections.
    stepped_forward: bool,
    last_sweep: i64,
    /// RSTs the kernel said it sends, with its reason, until their segment is seen:
    /// (connection, sender, reason).
    resets: VecDeque<(ConnKey, event::Endpoint, String)>,
}

/// Reset reasons kept waiting for their RST (the RST follows within microseconds).
const PENDING_RESETS: usize = 16;

/// Segments the tracker does not follow: those tcpdump prints no TCP header for.
fn trackable(seg: &Segment) -> bool {
    !seg.bad_ipv4()
        && seg.status & (status::IP_TRUNCATED | status::EXT_LIMIT) == 0
        && seg.tcp_caplen >= 20
        && seg.hdr_len >= 20
}

impl Tracker {
    pub fn new(cfg: TrackConfig) -> Tracker {
        Tracker {
            cfg: TrackConfig {
                max_connections: cfg.max_connections.max(1),
                ..cfg
            },
            map: HashMap::default(),
            rows: VecDeque::new(),
            rows_dropped: 0,
            next_id: 1,
            evicted: 0,
            expired: 0,
            clock: None,
            offset: 0,
            steps: 0,
            stepped_forward: false,
            last_sweep: i64::MIN,
            resets: VecDeque::new(),
        }
    }

    /// Connections in the table.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Connections evicted so far to respect `max_connections`.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn totals(&self) -> Totals {
        Totals {
            tracked: self.map.len(),
            seen: self.next_id - 1,
            evicted: self.evicted,
            expired: self.expired,
            rows_dropped: self.rows_dropped,
            max_connections: self.cfg.max_connections,
        }
    }

    fn archive(&mut self, mut c: Conn, fate: Fate) {
        if !self.cfg.keep_rows {
            return;
        }
        c.fate = fate;
        if self.rows.len() >= self.cfg.max_connections {
            self.rows.pop_front();
            self.rows_dropped += 1;
        }
        self.rows.push_back(Row::of(&c));
    }

    /// Moves the clock to segment time `ts` and returns it. A jump of more than
    /// [`CLOCK_STEP`] either way is absorbed: the clock stays where it was and later
    /// segments count from there (so live connections survive it; ended ones are
    /// forgotten at a forward step, as a long silence would have).
    fn advance(&mut self, ts: Timestamp) -> i128 {
        let raw = ts_ns(ts);
        let Some(clock) = self.clock else {
            self.clock = Some(raw);
            return raw;
        };
        let t = raw + self.offset;
        if (t - clock).abs() > CLOCK_STEP as i128 * 1_000_000_000 {
            self.offset = clock - raw;
            self.steps += 1;
            self.stepped_forward |= t > clock;
            return clock;
        }
        let now = t.max(clock);
        self.clock = Some(now);
        now
    }

    /// Clock steps seen (segment time jumping by more than [`CLOCK_STEP`]).
    pub fn clock_steps(&self) -> u64 {
        self.steps
    }

    /// Forgets connections idle past their state's timeout at segment time `now` (at most
    /// once per second of segment time); their verdicts (gave up, no answer) go to `ev`.
    pub fn sweep(&mut self, now: Timestamp, ev: &mut Vec<Event>) {
        let now = self.advance(now).div_euclid(1_000_000_000) as i64;
        let stepped = std::mem::take(&mut self.stepped_forward);
        if now < self.last_sweep.saturating_add(1) && !stepped {
            return;
        }
        self.last_sweep = now;
        let mut gone: Vec<ConnKey> = self
            .map
            .iter()
            .filter(|(_, c)| {
                (stepped && c.state.ended())
                    || now.saturating_sub(c.clock.div_euclid(1_000_000_000) as i64)
                        > timeout(c.state)
            })
            .map(|(k, _)| *k)
            .collect();
        if gone.is_empty() {
            return;
        }
        gone.sort_by_key(|k| self.map[k].id);
        for k in gone {
            if let Some(c) = self.map.remove(&k) {
                self.expired += 1;
                if let Some(e) = c.verdict() {
                    ev.push(e);
                }
                self.archive(c, Fate::Expired);
            }
        }
    }

    /// Makes room for one more connection: evicts the least recently active 1/64 of the
    /// table (at least one), so a full table costs O(1) per new connection on average.
    fn make_room(&mut self) {
        if self.map.len() < self.cfg.max_connections {
            return;
        }
        let n = (self.map.len() / 64).max(1);
        let mut by_age: Vec<(i128, u64, ConnKey)> =
            self.map.iter().map(|(k, c)| (c.clock, c.id, *k)).collect();
        by_age.select_nth_unstable(n - 1);
        by_age.truncate(n);
        by_age.sort();
        for (_, _, k) in by_age {
            if let Some(c) = self.map.remove(&k) {
                self.evicted += 1;
                self.archive(c, Fate::Evicted);
            }
        }
    }

    /// Follows one segment. Returns its connection id (None for segments not followed);
    /// events go to `ev`. A RST the kernel gave a reason for gets it, after its own event.
    pub fn segment(&mut self, seg: &Segment, ev: &mut Vec<Event>) -> Option<u64> {
        let id = self.follow(seg, ev)?;
        if seg.has(RST) && !self.resets.is_empty() {
            let key = ConnKey::of(seg);
            let from = event::Endpoint::new(seg.src, seg.sport);
            if let Some(i) = self
                .resets
                .iter()
                .position(|(k, f, _)| *k == key && *f == from)
                && let Some((_, _, reason)) = self.resets.remove(i)
                && let Some(c) = self.map.get_mut(&key)
            {
                c.drops.reset_reason = Some(reason.clone());
                ev.push(Event::about(seg, id, EventKind::ResetReason { reason }));
            }
        }
        Some(id)
    }

    /// The kernel says it sends a RST on the connection of `seg` (the RST's endpoints),
    /// and why: the RST's note. A RST answering a segment is told before it leaves (the
    /// note waits for its line); one the socket sends of its own accord, after (the note
    /// goes to `ev` now).
    pub fn reset_sent(&mut self, seg: &Segment, reason: String, ev: &mut Vec<Event>) {
        let key = ConnKey::of(seg);
        let from = event::Endpoint::new(seg.src, seg.sport);
        if let Some(c) = self.map.get_mut(&key) {
            let d = c.side(seg);
            if c.drops.reset_sent(d, seg.ts, &reason) {
                ev.push(Event::about(seg, c.id, EventKind::ResetReason { reason }));
                return;
            }
        }
        if self.resets.len() == PENDING_RESETS {
            self.resets.pop_front();
        }
        self.resets.push_back((key, from, reason));
    }

    /// The kernel retransmitted `seg` (its endpoints, sequence number and flags; `err`:
    /// the transmit error, 0 for none or not known). A retransmission the wire hooks did
    /// not see gets a note, unless a drop of it was told already.
    pub fn retransmitted(&mut self, seg: &Segment, err: i32, ev: &mut Vec<Event>) {
        let Some(c) = self.map.get_mut(&ConnKey::of(seg)) else {
            return;
        };
        let d = c.side(seg);
        if let Some(false) = c.drops.retransmitted(d, seg, err) {
            ev.push(Event {
                ts: seg.ts,
                conn: c.id,
                from: c.h[d].ep,
                to: c.h[1 - d].ep,
                about_line: false,
                kind: EventKind::RetransmitUnseen {
                    seq: seg.seq,
                    err: (err != 0).then_some(err),
                },
            });
        }
    }

    fn follow(&mut self, seg: &Segment, ev: &mut Vec<Event>) -> Option<u64> {
        if !trackable(seg) {
            return None;
        }
        let clock = self.advance(seg.ts);
        let key = ConnKey::of(seg);
        let syn_only = seg.has(SYN) && !seg.has(ACK);
        let mut reuse = None;
        if let Some(c) = self.map.get_mut(&key) {
            let d = c.side(seg);
            if !(syn_only && c.is_new_syn(d, seg.seq)) {
                c.segment(seg, ev);
                c.clock = clock;
                return Some(c.id);
            }
            // A new SYN on this port pair: the old connection is over (a refused client
            // that now sends a new SYN has given up on the old one).
            let old = self.map.remove(&key).expect("present");
            if let Some(e) = old.verdict() {
                ev.push(e);
            }
            reuse = Some((
                old.id,
                old.state.phrase(),
                Span::between(old.ended_at.unwrap_or(old.last), seg.ts),
            ));
            self.archive(old, Fate::Replaced);
        }
        self.make_room();
        let id = self.next_id;
        self.next_id += 1;
        let mut c = Conn::new(id, seg);
        // A new connection on a port pair in use, or one joined after its handshake.
        let kind = match reuse {
            Some((previous, previous_state, since)) => Some(EventKind::PortReuse {
                isn: seg.seq,
                previous,
                previous_state,
                since_end: Some(since),
            }),
            None if !seg.has(SYN) => Some(EventKind::Midstream),
            None => None,
        };
        if let Some(kind) = kind {
            ev.push(Event {
                ts: seg.ts,
                conn: id,
                from: c.h[0].ep,
                to: c.h[1].ep,
                about_line: true,
                kind,
            });
        }
        c.segment(seg, ev);
        c.clock = clock;
        self.map.insert(key, c);
        Some(id)
    }

    /// A segment the host dropped (`seg.ts`: when). Its event goes to `ev`, tied to the
    /// connection (none, conn 0, when the trace has not seen it); true when the wire
    /// hooks saw the segment (its line was printed).
    pub fn dropped(&mut self, seg: &Segment, cause: &fate::DropCause, ev: &mut Vec<Event>) -> bool {
        if !trackable(seg) {
            return false;
        }
        let (conn, after) = match self.map.get_mut(&ConnKey::of(seg)) {
            Some(c) => {
                let d = c.side(seg);
                (c.id, c.drops.dropped(d, seg, cause))
            }
            None => (0, None),
        };
        ev.push(Event::about(
            seg,
            conn,
            EventKind::Dropped {
                seq: seg.seq,
                reason: cause.reason.clone(),
                function: cause.function.clone(),
                ingress: seg.direction == tcptrace_common::DIR_INGRESS,
                after,
            },
        ));
        after.is_some()
    }

    /// An ICMP error about a segment of a traced connection: its note (tied to the
    /// connection, conn 0 when the trace has not seen it), and the connection remembers
    /// it for its verdict.
    pub fn icmp(&mut self, e: &IcmpError, ev: &mut Vec<Event>) {
        let seg = &e.quoted;
        // Routers may quote only 8 bytes of TCP: ports and sequence number.
        if seg.bad_ipv4() || seg.tcp_caplen < 8 {
            return;
        }
        let conn = match self.map.get_mut(&ConnKey::of(seg)) {
            Some(c) => {
                // A refusal stays the story of the attempt; other errors do not hide it.
                let refused = c
                    .icmp
                    .is_some_and(|i| matches!(i.kind, IcmpKind::Unreachable(_)));
                if !refused || matches!(e.kind(), IcmpKind::Unreachable(_)) {
                    c.icmp = Some(fate::IcmpSeen {
                        router: e.src,
                        kind: e.kind(),
                    });
                }
                c.id
            }
            None => 0,
        };
        let sent_len = if seg.is_v6() {
            seg.ip_len + 40
        } else {
            seg.ip_len
        };
        ev.push(Event::about(
            seg,
            conn,
            EventKind::Icmp {
                router: e.src,
                what: e.kind(),
                seq: seg.seq,
                sent_len,
                syn: seg.tcp_caplen >= 14 && seg.flags & (SYN | ACK) == SYN,
            },
        ));
    }

    /// End of the trace: the verdicts still pending (a refused client that did not retry,
    /// SYNs never answered), in connection order. Connections stay in the table.
    pub fn finish(&mut self, ev: &mut Vec<Event>) {
        let mut ids: Vec<(u64, ConnKey)> = self.map.iter().map(|(k, c)| (c.id, *k)).collect();
        ids.sort();
        for (_, k) in ids {
            if let Some(c) = self.map.get_mut(&k) {
                if let Some(e) = c.verdict() {
                    ev.push(e);
                }
                c.fate = Fate::TraceEnd;
            }
        }
    }

    /// Every row (finished and tracked), in connection order.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self.rows.iter().cloned().collect();
        rows.extend(self.map.values().map(Row::of));
        rows.sort_by_key(|r| r.conn);
        rows
    }
}

#[cfg(test)]
pub(crate) mod tests;
