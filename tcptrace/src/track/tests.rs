//! Unit tests of the tracker: hand-made segments through [`Tracker`], asserting on events,
//! states and rows.

use super::conn::{Fate, State};
use super::event::{EventKind, Span};
use super::summary::End;
use super::*;
use crate::decode::{Segment, Timestamp};
use tcptrace_common::{
    FAMILY_V4, Record,
    tcp_flags::{ACK, FIN, PSH, RST, SYN},
};

const C: [u8; 4] = [192, 168, 2, 10];
const S: [u8; 4] = [192, 168, 2, 165];

/// A segment at `ms` milliseconds, from `src:sport` to `dst:dport`.
#[allow(clippy::too_many_arguments)]
fn seg(
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
    let mut r = Record::ZERO;
    r.family = FAMILY_V4;
    r.saddr[..4].copy_from_slice(&src);
    r.daddr[..4].copy_from_slice(&dst);
    r.sport = sport;
    r.dport = dport;
    r.seq = seq;
    r.ack = ack;
    r.flags = flags;
    r.window = win;
    r.ihl = 20;
    r.doff = 20;
    r.ip_len = 40 + plen;
    r.tcp_caplen = 20;
    r.l3_off = 14;
    r.l4_off = 34;
    r.frame_len = 54 + plen;
    let ts = Timestamp::new(1000 + (ms / 1000) as i64, ((ms % 1000) * 1_000_000) as u32);
    Segment::from_record(&r, ts)
}

/// Client 1249 → server 23 (and back).
fn cs(ms: u64, flags: u16, seq: u32, ack: u32, win: u16, plen: u32) -> Segment {
    seg(ms, C, 1249, S, 23, flags, seq, ack, win, plen)
}
fn sc(ms: u64, flags: u16, seq: u32, ack: u32, win: u16, plen: u32) -> Segment {
    seg(ms, S, 23, C, 1249, flags, seq, ack, win, plen)
}

const CI: u32 = 3263977215;
const SI: u32 = 48495364;

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

fn names(evs: &[Vec<EventKind>]) -> Vec<Vec<&'static str>> {
    evs.iter()
        .map(|v| v.iter().map(EventKind::name).collect())
        .collect()
}

fn handshake() -> Vec<Segment> {
    vec![
        cs(0, SYN, CI, 0, 16384, 0),
        sc(1, SYN | ACK, SI, CI + 1, 32120, 0),
        cs(2, ACK, CI + 1, SI + 1, 17520, 0),
    ]
}

#[test]
fn handshake_then_server_closes_first() {
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = handshake();
    segs.extend([
        cs(10, PSH | ACK, CI + 1, SI + 1, 17520, 56),
        sc(11, PSH | ACK, SI + 1, CI + 57, 32120, 146),
        sc(60_000, FIN | ACK, SI + 147, CI + 57, 32120, 0),
        cs(60_001, ACK, CI + 57, SI + 148, 17374, 0),
        cs(60_013, FIN | ACK, CI + 57, SI + 148, 17374, 0),
        sc(60_014, ACK, SI + 148, CI + 58, 32120, 0),
    ]);
    let ev = run(&mut t, &segs);
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

#[test]
fn refused_three_times_then_gave_up() {
    let mut t = Tracker::new(TrackConfig::default());
    let r = 3034008467u32;
    let segs = [
        seg(0, C, 1063, S, 23, SYN, r, 0, 16384, 0),
        seg(1, S, 23, C, 1063, RST | ACK, 0, r + 1, 0, 0),
        seg(500, C, 1063, S, 23, SYN, r, 0, 16384, 0),
        seg(501, S, 23, C, 1063, RST | ACK, 0, r + 1, 0, 0),
        seg(1000, C, 1063, S, 23, SYN, r, 0, 16384, 0),
        seg(1001, S, 23, C, 1063, RST | ACK, 0, r + 1, 0, 0),
    ];
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
    let r = 77u32;
    let segs = [
        seg(0, C, 1063, S, 23, SYN, r, 0, 16384, 0),
        seg(1, S, 23, C, 1063, RST | ACK, 0, r + 1, 0, 0),
        // Another connection, 10 s later: the refused one is decided.
        seg(10_000, C, 2000, S, 80, SYN, 5, 0, 16384, 0),
    ];
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
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = handshake();
    segs.extend([
        cs(10, FIN | ACK, CI + 1, SI + 1, 100, 0),
        sc(11, FIN | ACK, SI + 1, CI + 1, 100, 0), // crosses the client's FIN
        cs(12, ACK, CI + 2, SI + 2, 100, 0),
        sc(13, ACK, SI + 2, CI + 2, 100, 0),
        // Same ports, new ISN.
        cs(5000, SYN, 999, 0, 100, 0),
        // The same SYN again is a retransmission of the new connection's SYN.
        cs(6000, SYN, 999, 0, 100, 0),
    ]);
    let ev = run(&mut t, &segs);
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
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = handshake();
    segs.extend([
        cs(10, PSH | ACK, CI + 1, SI + 1, 100, 100),
        sc(11, PSH | ACK, SI + 1, CI + 101, 100, 20),
        sc(12, RST | ACK, SI + 21, CI + 101, 0, 0),
    ]);
    let ev = run(&mut t, &segs);
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
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = handshake();
    segs.extend([
        cs(10, ACK, CI + 1, SI + 1, 100, 100),
        cs(11, ACK, CI + 1, SI + 1, 100, 100), // same bytes again
        cs(12, ACK, CI + 201, SI + 1, 100, 100), // 101:201 missing
        cs(13, ACK, CI + 101, SI + 1, 100, 100), // fills it
    ]);
    let ev = run(&mut t, &segs);
    assert_eq!(
        ev[4],
        vec![EventKind::Retransmission { start: 1, end: 101 }]
    );
    assert_eq!(
        ev[5],
        vec![EventKind::OutOfOrder {
            start: 201,
            end: 301,
            missing_start: 101,
            missing_end: 201
        }]
    );
    assert_eq!(
        ev[6],
        vec![EventKind::LateArrival {
            start: 101,
            end: 201
        }]
    );
    let r = &t.rows()[0];
    assert_eq!(r.retransmissions, [1, 0]);
    assert_eq!(r.bytes, [300, 0]);
}

#[test]
fn zero_window_and_dup_acks() {
    let mut t = Tracker::new(TrackConfig::default());
    let mut segs = handshake();
    segs.extend([
        cs(10, ACK, CI + 1, SI + 1, 100, 100),
        sc(11, ACK, SI + 1, CI + 101, 0, 0),     // zero window
        sc(500, ACK, SI + 1, CI + 101, 5000, 0), // open again
        cs(501, ACK, CI + 101, SI + 1, 100, 100),
        cs(502, ACK, CI + 201, SI + 1, 100, 100),
        sc(503, ACK, SI + 1, CI + 101, 5000, 0),  // dup 1
        sc(504, ACK, SI + 1, CI + 101, 5000, 0),  // dup 2
        sc(505, ACK, SI + 1, CI + 101, 5000, 0),  // dup 3
        sc(506, ACK, SI + 1, CI + 101, 5000, 0),  // dup 4: counted, no note
        cs(507, ACK, CI + 101, SI + 1, 100, 100), // fast retransmit
        sc(508, ACK, SI + 1, CI + 301, 5000, 0),
    ]);
    let ev = run(&mut t, &segs);
    assert_eq!(ev[4], vec![EventKind::ZeroWindow]);
    assert_eq!(
        ev[5],
        vec![EventKind::WindowOpen {
            window: 5000,
            after: Span(489_000_000)
        }]
    );
    // The ACK for 101 after the window update is not a duplicate (first time with this
    // window); the next three are.
    assert_eq!(ev[8], vec![EventKind::DupAck { ack: 101, count: 1 }]);
    assert_eq!(ev[9], vec![EventKind::DupAck { ack: 101, count: 2 }]);
    assert_eq!(ev[10], vec![EventKind::DupAck { ack: 101, count: 3 }]);
    assert_eq!(ev[11], vec![]);
    assert_eq!(
        ev[12],
        vec![EventKind::Retransmission {
            start: 101,
            end: 201
        }]
    );
    assert_eq!(ev[13], vec![]);
    let r = &t.rows()[0];
    assert_eq!(r.dup_acks, [0, 4]);
    assert_eq!(r.zero_windows, [0, 1]);
}

#[test]
fn midstream_and_one_direction() {
    let mut t = Tracker::new(TrackConfig::default());
    let segs = [
        cs(0, ACK, 5000, 7000, 100, 10),
        cs(1, ACK, 5010, 7000, 100, 10),
        cs(2, FIN | ACK, 5020, 7000, 100, 0),
    ];
    let ev = run(&mut t, &segs);
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
    let mut t = Tracker::new(TrackConfig::default());
    let segs = [
        cs(0, SYN, CI, 0, 100, 0),
        cs(1000, SYN, CI, 0, 100, 0),
        sc(1001, SYN | ACK, SI, CI + 1, 100, 0),
        cs(1002, ACK, CI + 1, SI + 1, 100, 0),
        cs(1003, FIN | ACK, CI + 1, SI + 1, 100, 0),
        sc(1004, ACK, SI + 1, CI + 2, 100, 0),
        sc(1005, PSH | ACK, SI + 1, CI + 2, 100, 50),
        sc(1006, PSH | ACK, SI + 51, CI + 2, 100, 50),
    ];
    let ev = run(&mut t, &segs);
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
    assert_eq!(names(&ev[6..]), vec![vec!["half_close"], vec![]]);

    // Joined at the SYN-ACK: the client's ISN comes from its ack.
    let mut t = Tracker::new(TrackConfig::default());
    let segs = [
        sc(0, SYN | ACK, SI, CI + 1, 100, 0),
        cs(1, ACK, CI + 1, SI + 1, 100, 0),
        cs(2, ACK, CI + 1, SI + 1, 100, 10),
        cs(3, ACK, CI + 1, SI + 1, 100, 10),
    ];
    let ev = run(&mut t, &segs);
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
    let mut t = Tracker::new(TrackConfig::default());
    let segs = [
        cs(0, SYN, CI, 0, 100, 0),
        cs(1000, SYN, CI, 0, 100, 0),
        seg(200_000, C, 5, S, 6, ACK, 1, 1, 1, 0),
    ];
    let ev = run(&mut t, &segs);
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

mod report {
    use super::*;
    use crate::render::{RenderOptions, Renderer, TsStyle};
    use crate::timefmt::LocalClock;
    use crate::track::report::{Report, ReportOptions};

    fn article() -> Vec<Segment> {
        let r = 3034008467u32;
        let mut v = handshake();
        v.extend([
            sc(60_000, FIN | ACK, SI + 147, CI + 56, 32120, 0),
            cs(60_001, ACK, CI + 56, SI + 148, 17374, 0),
            cs(60_013, FIN | ACK, CI + 56, SI + 148, 17374, 0),
            sc(60_014, ACK, SI + 148, CI + 57, 32120, 0),
            seg(70_000, C, 1063, S, 23, SYN, r, 0, 16384, 0),
            seg(70_001, S, 23, C, 1063, RST | ACK, 0, r + 1, 0, 0),
            seg(70_500, C, 1063, S, 23, SYN, r, 0, 16384, 0),
            seg(70_501, S, 23, C, 1063, RST | ACK, 0, r + 1, 0, 0),
        ]);
        v
    }

    fn run(opts: ReportOptions, segs: &[Segment]) -> String {
        let mut renderer = Renderer::with_clock(
            RenderOptions {
                ts: TsStyle::Local,
                ..RenderOptions::default()
            },
            LocalClock::utc(),
        );
        let mut rep = Report::with_clock(opts, LocalClock::utc()).expect("active");
        let mut out = Vec::new();
        for s in segs {
            rep.segment(&mut renderer, s, &mut out);
        }
        rep.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn explain_and_summary_text() {
        let text = run(
            ReportOptions {
                explain: true,
                summary: true,
                ..ReportOptions::default()
            },
            &article(),
        );
        println!("{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0]
                .starts_with("00:16:40.000000 IP 192.168.2.10.1249 > 192.168.2.165.23: Flags [S]")
        );
        assert_eq!(
            lines[1],
            "    ^ handshake 1/3: client 192.168.2.10.1249 asks 192.168.2.165.23 to open a connection (SYN, ISN 3263977215)"
        );
        assert_eq!(
            lines[3],
            "    ^ handshake 2/3: server 192.168.2.165.23 accepts (SYN-ACK acks 3263977215+1), 1.000 ms after the SYN"
        );
        assert!(text.contains("    * gave up: client 192.168.2.10.1063 stopped after 2 attempts"));
        assert!(text.contains("tcptrace summary: 2 connections"));
        assert!(text.contains("refused ×2, client gave up"));
    }

    #[test]
    fn json_lines_parse() {
        let text = run(
            ReportOptions {
                json: true,
                ..ReportOptions::default()
            },
            &article(),
        );
        let mut kinds = std::collections::BTreeMap::<String, usize>::new();
        for l in text.lines() {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["v"], 1);
            *kinds
                .entry(v["type"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        assert_eq!(kinds["segment"], 11);
        assert_eq!(kinds["summary"], 2);
        assert!(kinds["event"] >= 8);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["flags"], "S");
        assert_eq!(first["seq"], 3263977215u32);
        assert_eq!(first["conn"], 1);
        assert_eq!(first["ts"], "1970-01-01T00:16:40.000000000Z");
        assert!(first["line"].as_str().unwrap().contains("Flags [S]"));
    }

    #[test]
    fn no_flags_no_report() {
        assert!(Report::new(ReportOptions::default()).is_none());
        let r = Report::new(ReportOptions {
            lines: false,
            ..ReportOptions::default()
        })
        .unwrap();
        assert!(r.tracker().is_none(), "--no-lines alone does not track");
    }
}
