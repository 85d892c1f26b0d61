//! Unit tests of the tracker: hand-made segments through [`Tracker`], asserting on events,
//! states and rows.

use super::conn::{Fate, State};
use super::event::{EventKind, Span};
use super::row::End;
use super::*;
use crate::decode::{Segment, Timestamp, fixture};
use tcptrace_common::tcp_flags::{ACK, FIN, PSH, RST, SYN};

pub(crate) const C: [u8; 4] = [192, 168, 2, 10];
pub(crate) const S: [u8; 4] = [192, 168, 2, 165];

/// A segment at `ms` milliseconds, from `src:sport` to `dst:dport`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn seg(
    ms: u64,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    flags: u16,
    seq: u32,
    ack: u32,
    win: u16,
    plen: u32,
) -> Segment {
    let mut r = fixture::v4(src, dst, sport, dport);
    r.seq = seq;
    r.ack = ack;
    r.flags = flags;
    r.window = win;
    fixture::set_payload(&mut r, plen);
    let ts = Timestamp::new(1000 + (ms / 1000) as i64, ((ms % 1000) * 1_000_000) as u32);
    Segment::from_record(&r, ts)
}

/// Client 1249 → server 23 (and back).
pub(crate) fn cs(ms: u64, flags: u16, seq: u32, ack: u32, win: u16, plen: u32) -> Segment {
    seg(ms, C, 1249, S, 23, flags, seq, ack, win, plen)
}
pub(crate) fn sc(ms: u64, flags: u16, seq: u32, ack: u32, win: u16, plen: u32) -> Segment {
    seg(ms, S, 23, C, 1249, flags, seq, ack, win, plen)
}

pub(crate) const CI: u32 = 3263977215;
pub(crate) const SI: u32 = 48495364;

fn run(t: &mut Tracker, segs: &[Segment]) -> Vec<Vec<EventKind>> {
    segs.iter()
        .map(|s| {
            let mut ev = Vec::new();
            t.sweep(s.ts, &mut ev);
            t.segment(s, &mut ev);
            ev.into_iter().map(|e| e.kind).collect()
        })
        .collect()
}

/// A fresh tracker run over `segs`: the tracker and each segment's events.
fn track(segs: &[Segment]) -> (Tracker, Vec<Vec<EventKind>>) {
    let mut t = Tracker::new(TrackConfig::default());
    let ev = run(&mut t, segs);
    (t, ev)
}

/// [`track`] over the handshake, then `more`.
fn after_handshake(more: impl IntoIterator<Item = Segment>) -> (Tracker, Vec<Vec<EventKind>>) {
    let mut segs = handshake();
    segs.extend(more);
    track(&segs)
}

fn names(evs: &[Vec<EventKind>]) -> Vec<Vec<&'static str>> {
    evs.iter()
        .map(|v| v.iter().map(EventKind::name).collect())
        .collect()
}

pub(crate) fn handshake() -> Vec<Segment> {
    vec![
        cs(0, SYN, CI, 0, 16384, 0),
        sc(1, SYN | ACK, SI, CI + 1, 32120, 0),
        cs(2, ACK, CI + 1, SI + 1, 17520, 0),
    ]
}

#[test]
fn handshake_then_server_closes_first() {
    let (t, ev) = after_handshake([
        cs(10, PSH | ACK, CI + 1, SI + 1, 17520, 56),
        sc(11, PSH | ACK, SI + 1, CI + 57, 32120, 146),
        sc(60_000, FIN | ACK, SI + 147, CI + 57, 32120, 0),
        cs(60_001, ACK, CI + 57, SI + 148, 17374, 0),
        cs(60_013, FIN | ACK, CI + 57, SI + 148, 17374, 0),
        sc(60_014, ACK, SI + 148, CI + 58, 32120, 0),
    ]);
    assert_eq!(
        names(&ev),
        vec![
            vec!["handshake_syn"],
            vec!["handshake_synack"],
            vec!["handshake_ack"],
            vec![],
            vec![],
            vec!["active_close"],
            vec![],
            vec!["passive_close"],
            vec!["closed"],
        ]
    );
    assert_eq!(
        ev[1][0],
        EventKind::Handshake2 {
            acked_isn: CI,
            after_syn: Some(Span(1_000_000))
        }
    );
    assert_eq!(
        ev[2][0],
        EventKind::Handshake3 {
            after_synack: Some(Span(1_000_000)),
            rtt: Some(Span(2_000_000))
        }
    );
    assert_eq!(
        ev[5][0],
        EventKind::ActiveClose {
            sent: 146,
            received: 56
        }
    );
    let EventKind::Closed { time_wait, .. } = &ev[8][0] else {
        panic!()
    };
    assert_eq!(time_wait.unwrap().port, 23);
    let rows = t.rows();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.state, State::Closed);
    assert_eq!(r.bytes, [56, 146]);
    assert_eq!(r.segments, [5, 4]);
    assert_eq!(
        r.end,
        End::Fin {
            first: 1,
            simultaneous: false
        }
    );
    assert_eq!(r.end_text(), "FIN by server first, then client");
    assert_eq!(r.handshake_rtt, Some(Span(2_000_000)));
}

/// Client 1063's SYN (ISN `isn`) at `ms`, and server 23's reset 1 ms later.
fn refused_at(ms: u64, isn: u32) -> [Segment; 2] {
    [
        seg(ms, C, 1063, S, 23, SYN, isn, 0, 16384, 0),
        seg(ms + 1, S, 23, C, 1063, RST | ACK, 0, isn + 1, 0, 0),
    ]
}

#[test]
fn refused_three_times_then_gave_up() {
    let mut t = Tracker::new(TrackConfig::default());
    let r = 3034008467u32;
    let segs: Vec<Segment> = [0, 500, 1000]
        .into_iter()
        .flat_map(|ms| refused_at(ms, r))
        .collect();
    let ev = run(&mut t, &segs);
    assert_eq!(ev[1], vec![EventKind::Refused { attempt: 1 }]);
    assert_eq!(
        ev[2],
        vec![EventKind::Retry {
            attempt: 2,
            isn: r,
            since_reset: Span(499_000_000)
        }]
    );
    assert_eq!(ev[5], vec![EventKind::Refused { attempt: 3 }]);
    let mut fin = Vec::new();
    t.finish(&mut fin);
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].kind, EventKind::GaveUp { attempts: 3 });
    assert!(!fin[0].about_line);
    assert_eq!(
        fin[0].to_string(),
        "gave up: client 192.168.2.10.1063 stopped after 3 attempts, each refused by 192.168.2.165.23"
    );
    let rows = t.rows();
    assert_eq!(rows[0].end, End::Refused { attempts: 3 });
    assert_eq!(rows[0].end_text(), "refused ×3, client gave up");
}

#[test]
fn refused_client_gives_up_by_segment_time() {
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = refused_at(0, 77).to_vec();
    // Another connection, 10 s later: the refused one is decided.
    segs.push(seg(10_000, C, 2000, S, 80, SYN, 5, 0, 16384, 0));
    let ev = run(&mut t, &segs);
    assert_eq!(
        ev[2],
        vec![
            EventKind::GaveUp { attempts: 1 },
            EventKind::Handshake1 { isn: 5 }
        ]
    );
    assert_eq!(t.len(), 1);
    let rows = t.rows();
    assert_eq!(rows[0].fate, Fate::Expired);
}

#[test]
fn port_reuse_with_new_isn_starts_a_new_connection() {
    let (t, ev) = after_handshake([
        cs(10, FIN | ACK, CI + 1, SI + 1, 100, 0),
        sc(11, FIN | ACK, SI + 1, CI + 1, 100, 0), // crosses the client's FIN
        cs(12, ACK, CI + 2, SI + 2, 100, 0),
        sc(13, ACK, SI + 2, CI + 2, 100, 0),
        // Same ports, new ISN.
        cs(5000, SYN, 999, 0, 100, 0),
        // The same SYN again is a retransmission of the new connection's SYN.
        cs(6000, SYN, 999, 0, 100, 0),
    ]);
    assert_eq!(
        names(&ev[3..]),
        vec![
            vec!["active_close"],
            vec!["simultaneous_close"],
            vec![],
            vec!["closed"],
            vec!["port_reuse", "handshake_syn"],
            vec!["syn_retransmit"],
        ]
    );
    let EventKind::Closed { time_wait, .. } = &ev[6][0] else {
        panic!("{:?}", ev[6])
    };
    assert_eq!(*time_wait, None, "both ends hold TIME_WAIT");
    let rows = t.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].state, State::Closed);
    assert_eq!(
        rows[0].end_text(),
        "FIN by both at once (simultaneous close)"
    );
    assert_eq!(rows[0].fate, Fate::Replaced);
    assert_eq!(rows[1].state, State::SynSent);
    assert_eq!(rows[1].retransmissions, [1, 0]);
}

#[test]
fn reset_after_data_counts_bytes_each_way() {
    let (t, ev) = after_handshake([
        cs(10, PSH | ACK, CI + 1, SI + 1, 100, 100),
        sc(11, PSH | ACK, SI + 1, CI + 101, 100, 20),
        sc(12, RST | ACK, SI + 21, CI + 101, 0, 0),
    ]);
    assert_eq!(
        ev[5],
        vec![EventKind::Reset {
            sent: 20,
            received: 100,
            state: "open"
        }]
    );
    let r = &t.rows()[0];
    assert_eq!(r.end, End::Rst { by: 1 });
    assert_eq!(r.end_text(), "RST by server");
}

#[test]
fn retransmission_out_of_order_and_late_arrival() {
    let (t, ev) = after_handshake([
        cs(10, ACK, CI + 1, SI + 1, 100, 100),
        cs(11, ACK, CI + 1, SI + 1, 100, 100), // same bytes again
        cs(12, ACK, CI + 201, SI + 1, 100, 100), // 101:201 missing
        cs(13, ACK, CI + 101, SI + 1, 100, 100), // fills it
    ]);
    let ooo = EventKind::OutOfOrder {
        start: 201,
        end: 301,
        missing_start: 101,
        missing_end: 201,
    };
    let late = EventKind::LateArrival {
        start: 101,
        end: 201,
    };
    assert_eq!(
        ev[4..],
        [
            vec![EventKind::Retransmission { start: 1, end: 101 }],
            vec![ooo],
            vec![late]
        ]
    );
    let r = &t.rows()[0];
    assert_eq!(r.retransmissions, [1, 0]);
    assert_eq!(r.bytes, [300, 0]);
}

#[test]
fn zero_window_and_dup_acks() {
    let (t, ev) = after_handshake([
        cs(10, ACK, CI + 1, SI + 1, 100, 100),
        sc(11, ACK, SI + 1, CI + 101, 0, 0),     // zero window
        sc(500, ACK, SI + 1, CI + 101, 5000, 0), // open again
        cs(501, ACK, CI + 101, SI + 1, 100, 100),
        cs(502, ACK, CI + 201, SI + 1, 100, 100),
        sc(503, ACK, SI + 1, CI + 101, 5000, 0),  // dup 1
        sc(504, ACK, SI + 1, CI + 101, 5000, 0),  // dup 2
        sc(505, ACK, SI + 1, CI + 101, 5000, 0),  // dup 3
        sc(506, ACK, SI + 1, CI + 101, 5000, 0),  // dup 4: an event, no note
        cs(507, ACK, CI + 101, SI + 1, 100, 100), // fast retransmit
        sc(508, ACK, SI + 1, CI + 301, 5000, 0),
    ]);
    assert_eq!(ev[4], vec![EventKind::ZeroWindow]);
    assert_eq!(
        ev[5],
        vec![EventKind::WindowOpen {
            window: 5000,
            after: Span(489_000_000)
        }]
    );
    // The ACK for 101 after the window update is not a duplicate (first time with this
    // window); the next four are, each an event (the notes stop at #3: see report).
    let dups = [1, 2, 3, 4].map(|count| vec![EventKind::DupAck { ack: 101, count }]);
    assert_eq!(ev[8..12], dups);
    // The duplicate ACKs asked for exactly these bytes.
    assert_eq!(
        ev[12],
        vec![EventKind::FastRetransmission {
            start: 101,
            end: 201
        }]
    );
    assert_eq!(ev[13], vec![]);
    let r = &t.rows()[0];
    assert_eq!(r.dup_acks, [0, 4]);
    assert_eq!(r.zero_windows, [0, 1]);
}

/// Duplicate ACKs ask for bytes that come again only 200 ms later: a timeout's
/// retransmission, not a fast one (as Wireshark's 20 ms rule says); a second copy of a
/// fast retransmission after its RTO neither.
#[test]
fn retransmission_long_after_dup_acks_is_not_fast() {
    for (at, fast_first) in [(707, false), (507, true)] {
        let (_, ev) = after_handshake([
            cs(501, ACK, CI + 1, SI + 1, 100, 100),
            cs(502, ACK, CI + 101, SI + 1, 100, 100),
            sc(503, ACK, SI + 1, CI + 1, 5000, 0),
            sc(504, ACK, SI + 1, CI + 1, 5000, 0), // dup 1
            sc(505, ACK, SI + 1, CI + 1, 5000, 0), // dup 2
            cs(at, ACK, CI + 1, SI + 1, 100, 100),
            cs(at + 400, ACK, CI + 1, SI + 1, 100, 100),
        ]);
        let n = ev.len();
        let (start, end) = (1, 101);
        let first = if fast_first {
            EventKind::FastRetransmission { start, end }
        } else {
            EventKind::Retransmission { start, end }
        };
        assert_eq!(ev[n - 2], vec![first], "retransmission at {at} ms");
        assert_eq!(ev[n - 1], vec![EventKind::Retransmission { start, end }]);
    }
}

/// The receiver's answer to a spurious retransmission repeats its ACK while nothing is
/// outstanding (no duplicate ACK, RFC 5681); new data follows with a hole, one duplicate
/// ACK with a SACK block above the hole, and the hole's bytes come at once: a fast
/// retransmission, on two repeats of the ACK (Wireshark counts both; a 6.12 capture).
#[test]
fn repeat_with_nothing_outstanding_counts_toward_fast() {
    let ack = |ms, blocks| opt(sc(ms, ACK, SI + 1, CI + 201, 5000, 0), &sack(blocks));
    let (t, ev) = after_handshake([
        cs(10, ACK, CI + 1, SI + 1, 100, 100),
        cs(11, ACK, CI + 101, SI + 1, 100, 100),
        sc(12, ACK, SI + 1, CI + 201, 5000, 0),
        cs(230, ACK, CI + 101, SI + 1, 100, 100), // spurious
        ack(231, &[(CI + 101, CI + 201)]),
        cs(232, ACK, CI + 301, SI + 1, 100, 100), // 201:301 lost before the capture
        ack(233, &[(CI + 301, CI + 401)]),
        cs(234, ACK, CI + 201, SI + 1, 100, 100),
    ]);
    let n = ev.len();
    assert_eq!(names(&ev[n - 4..n - 3]), [["dsack"]]);
    assert_eq!(ev[n - 2], vec![EventKind::DupAck { ack: 201, count: 1 }]);
    assert_eq!(
        ev[n - 1],
        vec![EventKind::FastRetransmission {
            start: 201,
            end: 301
        }]
    );
    assert_eq!(t.rows()[0].dup_acks, [0, 1]);
}

#[test]
fn midstream_and_one_direction() {
    let (t, ev) = track(&[
        cs(0, ACK, 5000, 7000, 100, 10),
        cs(1, ACK, 5010, 7000, 100, 10),
        cs(2, FIN | ACK, 5020, 7000, 100, 0),
    ]);
    assert_eq!(
        names(&ev),
        vec![vec!["midstream"], vec![], vec!["active_close"]]
    );
    let r = &t.rows()[0];
    assert!(!r.roles_known);
    assert_eq!(r.bytes, [20, 0]);
    assert!(
        r.end_text().contains("[one direction seen]"),
        "{}",
        r.end_text()
    );
    assert!(r.end_text().contains("[joined mid-connection]"));
}

#[test]
fn half_close_and_syn_retransmit_and_synack_first() {
    let (_, ev) = track(&[
        cs(0, SYN, CI, 0, 100, 0),
        cs(1000, SYN, CI, 0, 100, 0),
        sc(1001, SYN | ACK, SI, CI + 1, 100, 0),
        cs(1002, ACK, CI + 1, SI + 1, 100, 0),
        cs(1003, FIN | ACK, CI + 1, SI + 1, 100, 0),
        sc(1004, ACK, SI + 1, CI + 2, 100, 0),
        sc(1005, PSH | ACK, SI + 1, CI + 2, 100, 50),
        sc(1006, PSH | ACK, SI + 51, CI + 2, 100, 50),
    ]);
    assert_eq!(
        ev[1],
        vec![EventKind::SynRetransmit {
            attempt: 2,
            since_first: Span(1_000_000_000)
        }]
    );
    // The handshake time counts from the last SYN.
    assert_eq!(
        ev[3],
        vec![EventKind::Handshake3 {
            after_synack: Some(Span(1_000_000)),
            rtt: Some(Span(2_000_000))
        }]
    );
    // The second 50 bytes reach the edge of the client's window (ack 1 + win 100).
    assert_eq!(
        names(&ev[6..]),
        vec![vec!["half_close"], vec!["window_full"]]
    );

    // Joined at the SYN-ACK: the client's ISN comes from its ack.
    let (t, ev) = track(&[
        sc(0, SYN | ACK, SI, CI + 1, 100, 0),
        cs(1, ACK, CI + 1, SI + 1, 100, 0),
        cs(2, ACK, CI + 1, SI + 1, 100, 10),
        cs(3, ACK, CI + 1, SI + 1, 100, 10),
    ]);
    assert_eq!(
        ev[0],
        vec![EventKind::Handshake2 {
            acked_isn: CI,
            after_syn: None
        }]
    );
    assert_eq!(
        names(&ev[1..]),
        vec![vec!["handshake_ack"], vec![], vec!["retransmission"]]
    );
    let r = &t.rows()[0];
    assert_eq!(r.client.port, 1249);
    assert!(r.roles_known);
}

#[test]
fn unanswered_syn_expires_with_a_verdict() {
    let (t, ev) = track(&[
        cs(0, SYN, CI, 0, 100, 0),
        cs(1000, SYN, CI, 0, 100, 0),
        seg(200_000, C, 5, S, 6, ACK, 1, 1, 1, 0),
    ]);
    assert_eq!(
        ev[2],
        vec![EventKind::NoAnswer { syns: 2 }, EventKind::Midstream]
    );
    assert_eq!(t.totals().expired, 1);
    assert_eq!(
        t.rows()[0].end_text(),
        "no answer to 2 SYNs [one direction seen]"
    );
}

#[test]
fn max_connections_evicts_least_recently_active() {
    let mut t = Tracker::new(TrackConfig {
        max_connections: 2,
        keep_rows: true,
    });
    let segs = [
        seg(0, C, 1, S, 80, SYN, 1, 0, 1, 0),
        seg(1, C, 2, S, 80, SYN, 1, 0, 1, 0),
        seg(2, C, 1, S, 80, SYN, 1, 0, 1, 0), // port 1 active again
        seg(3, C, 3, S, 80, SYN, 1, 0, 1, 0), // evicts port 2
    ];
    run(&mut t, &segs);
    assert_eq!(t.len(), 2);
    assert_eq!(t.evicted(), 1);
    let rows = t.rows();
    // Two rows kept at most: the evicted one was archived, then the oldest archived row
    // would go first when the archive is full.
    let evicted: Vec<_> = rows.iter().filter(|r| r.fate == Fate::Evicted).collect();
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0].client.port, 2);
    assert!(evicted[0].end_text().contains("evicted"));
}

#[test]
fn memory_stays_bounded_under_many_connections() {
    let mut t = Tracker::new(TrackConfig {
        max_connections: 1000,
        keep_rows: true,
    });
    let mut ev = Vec::new();
    for i in 0..10_000u32 {
        let s = seg(
            i as u64,
            C,
            (i % 60000) as u16 + 1,
            [10, 0, (i >> 8) as u8, i as u8],
            80,
            SYN,
            i,
            0,
            1,
            0,
        );
        t.segment(&s, &mut ev);
    }
    assert!(t.len() <= 1000);
    assert_eq!(t.totals().seen, 10_000);
    assert!(t.evicted() >= 9000);
    assert!(t.rows().len() <= 2000);
}

/// `s` with IPv4 ID `id`.
fn id(mut s: Segment, id: u16) -> Segment {
    s.ip_id = id as u32;
    s
}

/// `s` with TCP options `o` (a multiple of 4 bytes) in its header.
fn opt(mut s: Segment, o: &[u8]) -> Segment {
    s.options[..o.len()].copy_from_slice(o);
    s.opt_len = o.len() as u8;
    s.hdr_len += o.len() as u8;
    s.tcp_caplen += o.len() as u8;
    s.tcp_len += o.len() as u32;
    s
}

/// A SACK option with one or two blocks (`nop, nop, sack …`).
fn sack(blocks: &[(u32, u32)]) -> Vec<u8> {
    let mut o = vec![1, 1, 5, 2 + 8 * blocks.len() as u8];
    for (a, b) in blocks {
        o.extend(a.to_be_bytes());
        o.extend(b.to_be_bytes());
    }
    o
}

/// Handshake, then the client sends 100-byte segments 1:101, 201:301, 401:501, … (every
/// other one missing from the trace), `holes` holes in all, IP IDs 1, 3, 5, ….
fn holes(holes: u32) -> Vec<Segment> {
    let mut segs = handshake();
    segs.push(id(cs(10, ACK, CI + 1, SI + 1, 100, 100), 1));
    for i in 1..=holes {
        segs.push(id(
            cs(10, ACK, CI + 1 + 200 * i, SI + 1, 100, 100),
            1 + 2 * i as u16,
        ));
    }
    segs
}

fn count(evs: &[Vec<EventKind>], name: &str) -> usize {
    evs.iter().flatten().filter(|k| k.name() == name).count()
}

#[test]
fn many_holes_are_remembered_and_none_is_called_a_retransmission_falsely() {
    // Seven holes (the old tracker kept four and called first-time bytes in the others
    // retransmissions), then the missing bytes: sent after the segments that passed the
    // holes (newer IP IDs), so retransmissions, never "sends again" for unseen bytes.
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = holes(7);
    for i in 1..=7u32 {
        segs.push(id(
            cs(20, ACK, CI + 1 + 200 * i - 100, SI + 1, 100, 100),
            100 + i as u16,
        ));
    }
    let ev = run(&mut t, &segs);
    assert_eq!(count(&ev, "out_of_order"), 7);
    assert_eq!(count(&ev, "retransmission"), 7);
    for (i, e) in ev[11..].iter().enumerate() {
        let s = 200 * (i as u32 + 1) - 99;
        assert_eq!(
            e,
            &vec![EventKind::Retransmission {
                start: s,
                end: s + 100
            }]
        );
    }
    let r = &t.rows()[0];
    assert_eq!(r.counts[0].lost_segments, 7);
    assert_eq!(r.counts[0].gap_overflow, 0);
    assert_eq!(r.bytes[0], 1500);
    // Sent again now: these bytes were all seen, a plain retransmission.
    let ev = run(&mut t, &[cs(30, ACK, CI + 101, SI + 1, 100, 100)]);
    assert_eq!(names(&ev), vec![vec!["retransmission"]]);
}

#[test]
fn holes_beyond_the_limit_are_counted_and_get_no_note() {
    let n = conn::MAX_GAPS as u32 + 3;
    let mut t = Tracker::new(TrackConfig::default());
    let ev = run(&mut t, &holes(n));
    assert_eq!(count(&ev, "out_of_order"), n as usize);
    // The three oldest holes were forgotten: bytes into them get no note at all.
    let mut segs = Vec::new();
    for i in 1..=3u32 {
        segs.push(id(
            cs(20, ACK, CI + 1 + 200 * i - 100, SI + 1, 100, 100),
            9000,
        ));
    }
    // The newest hole is still known.
    segs.push(id(
        cs(20, ACK, CI + 1 + 200 * n - 100, SI + 1, 100, 100),
        9001,
    ));
    let ev = run(&mut t, &segs);
    assert_eq!(
        names(&ev),
        vec![vec![], vec![], vec![], vec!["retransmission"]]
    );
    let r = &t.rows()[0];
    assert_eq!(r.counts[0].gap_overflow, 3);
    assert_eq!(r.retransmissions[0], 1);
    let mut out = Vec::new();
    crate::output::json::write_row(r, &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["holes_forgotten"], serde_json::json!([3, 0]));
}

#[test]
fn hole_fills_are_classified_by_evidence() {
    // Handshake RTT 2 ms (see `handshake`). The hole 101:201 opens at 10 ms.
    let base = || {
        let mut segs = handshake();
        segs.push(cs(10, ACK, CI + 1, SI + 1, 100, 100));
        segs.push(cs(10, ACK, CI + 201, SI + 1, 100, 100));
        segs
    };
    let fill = |ms: u64| cs(ms, ACK, CI + 101, SI + 1, 100, 100);
    let last = |t: &mut Tracker, segs: &[Segment]| run(t, segs).pop().unwrap();

    // No IDs, no report, within an RTT: reordering.
    let mut segs = base();
    segs.push(fill(11));
    let mut t = Tracker::new(TrackConfig::default());
    assert_eq!(
        last(&mut t, &segs),
        vec![EventKind::LateArrival {
            start: 101,
            end: 201
        }]
    );
    assert_eq!(t.rows()[0].counts[0].late_arrivals, 1);
    assert_eq!(t.rows()[0].retransmissions[0], 0);

    // No IDs, no report, an RTT or more after the hole opened: a retransmission.
    let mut segs = base();
    segs.push(fill(12));
    let mut t = Tracker::new(TrackConfig::default());
    assert_eq!(names(&[last(&mut t, &segs)]), vec![vec!["retransmission"]]);

    // A SACK block above the hole reported it: a retransmission even at once.
    let mut segs = base();
    segs.push(opt(
        sc(10, ACK, SI + 1, CI + 101, 1000, 0),
        &sack(&[(CI + 201, CI + 301)]),
    ));
    segs.push(fill(10));
    let mut t = Tracker::new(TrackConfig::default());
    assert_eq!(names(&[last(&mut t, &segs)]), vec![vec!["retransmission"]]);

    // Duplicate ACKs for the hole: a fast retransmission.
    let mut segs = base();
    for _ in 0..3 {
        segs.push(sc(10, ACK, SI + 1, CI + 101, 1000, 0));
    }
    segs.push(fill(10));
    let mut t = Tracker::new(TrackConfig::default());
    let ev = run(&mut t, &segs);
    assert_eq!(
        ev.last().unwrap(),
        &vec![EventKind::FastRetransmission {
            start: 101,
            end: 201
        }]
    );
    assert_eq!(t.rows()[0].counts[0].fast_retrans, 1);
    assert_eq!(t.rows()[0].retransmissions[0], 1);

    // IP IDs decide when there are any: older than the segment that passed the hole is
    // a late arrival even long after, newer is a retransmission even at once.
    let mut segs = base();
    segs[4] = id(segs[4].clone(), 7);
    segs.push(id(fill(500), 6));
    let mut t = Tracker::new(TrackConfig::default());
    assert_eq!(names(&[last(&mut t, &segs)]), vec![vec!["late_arrival"]]);
    let mut segs = base();
    segs[4] = id(segs[4].clone(), 0xffff);
    segs.push(id(fill(10), 2)); // newer, across the 16-bit wrap
    let mut t = Tracker::new(TrackConfig::default());
    assert_eq!(names(&[last(&mut t, &segs)]), vec![vec!["retransmission"]]);
}

#[test]
fn syn_data_is_in_the_sequence_space() {
    // TCP Fast Open: 5 bytes in the SYN, acknowledged by the SYN-ACK; then FIN.
    let (t, ev) = track(&[
        opt(
            cs(0, SYN, CI, 0, 100, 5),
            &[34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1],
        ),
        sc(1, SYN | ACK, SI, CI + 6, 100, 0),
        cs(2, ACK, CI + 6, SI + 1, 100, 0),
        cs(3, FIN | ACK, CI + 6, SI + 1, 100, 0),
    ]);
    assert_eq!(
        names(&ev),
        vec![
            vec!["handshake_syn"],
            vec!["handshake_synack"],
            vec!["handshake_ack"],
            vec!["active_close"]
        ]
    );
    assert_eq!(
        ev[1][0],
        EventKind::Handshake2 {
            acked_isn: CI,
            after_syn: Some(Span(1_000_000))
        }
    );
    let c = &t.rows()[0];
    assert_eq!(c.bytes, [5, 0]);
    // The server took only the SYN: the data comes again after the handshake.
    let (_, ev) = track(&[
        cs(0, SYN, CI, 0, 100, 5),
        sc(1, SYN | ACK, SI, CI + 1, 100, 0),
        cs(2, ACK, CI + 1, SI + 1, 100, 5),
    ]);
    assert_eq!(
        names(&ev[2..]),
        vec![vec!["handshake_ack", "retransmission"]]
    );
}

#[test]
fn ack_for_bytes_not_seen_is_noted_once() {
    let data = |ms, seq| cs(ms, ACK, CI + seq, SI + 1, 100, 100);
    let acked = |ms| sc(ms, ACK, SI + 1, CI + 301, 1000, 0);
    let unseen = |missing| {
        vec![EventKind::AckedUnseen {
            start: 101,
            end: 301,
            missing,
        }]
    };
    // 101:301 never seen; the server acknowledges them, twice.
    let (t, ev) = after_handshake([data(10, 1), acked(11), acked(12), data(13, 301)]);
    assert_eq!(ev[4], unseen(200));
    assert!(ev[5].is_empty() && ev[6].is_empty(), "{ev:?}");
    let r = &t.rows()[0];
    assert_eq!(r.counts[1].acked_unseen, 1);
    assert_eq!(r.bytes[0], 400);

    // A hole acknowledged (its filler went past the capture point unseen): noted once,
    // and the hole is closed (the bytes again later are spurious, not a fill).
    let (t, ev) = after_handshake([data(10, 1), data(10, 201), acked(11), data(12, 101)]);
    assert_eq!(ev[5], unseen(100));
    assert_eq!(names(&ev[6..]), vec![vec!["spurious_retransmission"]]);
    assert_eq!(t.rows()[0].counts[0].spurious_retrans, 1);
}

#[test]
fn clock_jumps_do_not_expire_connections() {
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = handshake();
    segs.push(cs(10, ACK, CI + 1, SI + 1, 100, 100));
    // A misdated frame three weeks ahead (of another connection), then back to normal.
    segs.push(seg(21 * 86_400_000, C, 4000, S, 80, SYN, 1, 0, 100, 0));
    segs.push(sc(20, ACK, SI + 1, CI + 101, 100, 0));
    // And one a week behind.
    segs.push(seg(0, C, 4001, S, 80, SYN, 1, 0, 100, 0));
    let mut behind = segs.last().cloned().unwrap();
    behind.ts = Timestamp::new(1000 - 7 * 86_400, 0);
    *segs.last_mut().unwrap() = behind;
    segs.push(cs(30, ACK, CI + 101, SI + 1, 100, 100));
    segs.push(cs(40, FIN | ACK, CI + 201, SI + 1, 100, 0));
    let ev = run(&mut t, &segs);
    assert_eq!(count(&ev, "retransmission"), 0, "{ev:?}");
    assert_eq!(t.totals().expired, 0);
    assert_eq!(t.rows().iter().filter(|r| r.client.port == 1249).count(), 1);
    assert_eq!(t.clock_steps(), 4);
    let r = t
        .rows()
        .into_iter()
        .find(|r| r.client.port == 1249)
        .unwrap();
    assert_eq!(r.segments, [5, 2]);
    assert_eq!(r.state, State::Closing);

    // Time that really passes (within the step limit) still expires idle connections.
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = handshake();
    segs.push(seg(
        (IDLE_TIMEOUT as u64 + 2) * 1000,
        C,
        4000,
        S,
        80,
        SYN,
        1,
        0,
        100,
        0,
    ));
    run(&mut t, &segs);
    assert_eq!(t.totals().expired, 1);
}

#[test]
fn keep_alives_probes_window_full_and_dsack() {
    let (t, ev) = after_handshake([
        cs(10, ACK, CI + 1, SI + 1, 100, 100),
        sc(11, ACK, SI + 1, CI + 101, 100, 0),
        // Keep-alive (seq one below the next, no data) and its answer.
        cs(7000, ACK, CI + 100, SI + 1, 100, 0),
        sc(7001, ACK, SI + 1, CI + 101, 100, 0),
        // The server's window fills: 100 bytes up to ack 101 + win 100.
        cs(7002, ACK, CI + 101, SI + 1, 100, 100),
        sc(7003, ACK, SI + 1, CI + 201, 0, 0),
        // Linux's probe (like a keep-alive, into a zero window) and its answer.
        cs(7200, ACK, CI + 200, SI + 1, 100, 0),
        sc(7201, ACK, SI + 1, CI + 201, 0, 0),
        // A classic probe: one new byte; acknowledged when the window opens.
        cs(7400, ACK, CI + 201, SI + 1, 100, 1),
        sc(7401, ACK, SI + 1, CI + 201, 0, 0),
        sc(7500, ACK, SI + 1, CI + 202, 100, 0),
        // Data again, already acknowledged: spurious; the server D-SACKs it.
        cs(7501, ACK, CI + 101, SI + 1, 100, 100),
        opt(
            sc(7502, ACK, SI + 1, CI + 202, 100, 0),
            &sack(&[(CI + 101, CI + 201)]),
        ),
    ]);
    assert_eq!(
        names(&ev[3..]),
        vec![
            vec![],
            vec![],
            vec!["keep_alive"],
            vec!["keep_alive_ack"],
            vec!["window_full"],
            vec!["zero_window"],
            vec!["zero_window_probe"],
            vec!["zero_window_probe_ack"],
            vec!["zero_window_probe"],
            vec!["zero_window_probe_ack"],
            vec!["window_open"],
            vec!["spurious_retransmission"],
            vec!["dsack"],
        ]
    );
    assert_eq!(
        ev[15],
        vec![EventKind::Dsack {
            start: 101,
            end: 201
        }]
    );
    let r = &t.rows()[0];
    assert_eq!(r.counts[0].keep_alives, 1);
    assert_eq!(r.counts[1].keep_alive_acks, 1);
    assert_eq!(r.counts[0].zero_window_probes, 2);
    assert_eq!(r.counts[1].zero_window_probe_acks, 2);
    assert_eq!(r.counts[0].window_full, 1);
    assert_eq!(r.counts[1].dsacks, 1);
    assert_eq!(r.counts[0].spurious_retrans, 1);
    // The probe byte was acknowledged, so it counts as sent: no "ack for bytes not seen".
    assert_eq!(r.counts[1].acked_unseen, 0);
    assert_eq!(r.bytes[0], 201);
    assert_eq!(r.retransmissions[0], 1);
    assert_eq!(
        r.analysis_text(),
        "spurious 1/0, keepalive 1/0, keepalive-ack 0/1, zwp 2/0, zwp-ack 0/2, win-full 1/0, dsack 0/1"
    );
}

/// A pure ACK whose sequence number jumps past bytes of its own side never seen (capture
/// loss): the hole is noted there, once (Wireshark's "previous segment not captured");
/// the peer's ACK of those bytes is then an ACK of bytes not seen.
#[test]
fn pure_ack_past_unseen_bytes_notes_the_gap_once() {
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = handshake();
    segs.push(cs(10, ACK, CI + 1, SI + 1, 100, 100));
    // 101:301 sent but not captured; the client's next segments carry no data.
    segs.extend([20, 21].map(|ms| cs(ms, ACK, CI + 301, SI + 1, 100, 0)));
    segs.push(sc(22, ACK, SI + 1, CI + 301, 1000, 0));
    let ev = run(&mut t, &segs);
    let gap = EventKind::AckPastUnseen {
        missing_start: 101,
        missing_end: 301,
    };
    let acked = EventKind::AckedUnseen {
        start: 101,
        end: 301,
        missing: 200,
    };
    assert_eq!(ev[4..], [vec![gap], vec![], vec![acked]]);
    assert_eq!(ev[4][0].name(), "out_of_order");
    let r = &t.rows()[0];
    assert_eq!(r.counts[0].lost_segments, 1);
    assert_eq!(r.bytes[0], 300);
}

/// The SYN-ACK not captured: the initial RTT is the SYN to the handshake's ACK (as
/// Wireshark's), the client's side of one round trip.
#[test]
fn one_sided_handshake_has_an_initial_rtt() {
    let (t, ev) = track(&[
        cs(0, SYN, CI, 0, 16384, 0),
        cs(7, ACK, CI + 1, SI + 1, 17520, 0),
        cs(8, ACK | PSH, CI + 1, SI + 1, 17520, 10),
    ]);
    assert_eq!(
        ev[1],
        vec![EventKind::Handshake3 {
            after_synack: None,
            rtt: Some(Span(7_000_000))
        }]
    );
    assert_eq!(t.rows()[0].handshake_rtt, Some(Span(7_000_000)));
}

/// Repeated ACKs of a zero window with data outstanding are flow control, not duplicate
/// ACKs (RFC 5681's loss signal; Wireshark's rule too); the same with the window open are.
#[test]
fn zero_window_acks_are_not_duplicate_acks() {
    for (win, dups) in [(0u16, 0u64), (5000, 3)] {
        let (t, ev) = after_handshake([
            cs(10, ACK, CI + 1, SI + 1, 100, 100),
            cs(11, ACK, CI + 101, SI + 1, 100, 100),
            sc(12, ACK, SI + 1, CI + 101, win, 0),
            sc(13, ACK, SI + 1, CI + 101, win, 0),
            sc(14, ACK, SI + 1, CI + 101, win, 0),
            sc(15, ACK, SI + 1, CI + 101, win, 0),
        ]);
        assert_eq!(count(&ev, "dup_ack"), dups as usize, "win {win}: {ev:?}");
        assert_eq!(t.rows()[0].dup_acks, [0, dups], "win {win}");
    }
}
