//! The exact bytes of `--json` objects: events of every kind, summary rows and segment
//! objects, with and without process fields. The expected strings were produced by the
//! earlier writer (a `serde_json::Map` per object), so the streaming writer is pinned to
//! its output byte for byte.

use std::net::IpAddr;

use super::*;
use crate::attribute::Process;
use crate::decode::IcmpKind;
use crate::decode::fixture;
use crate::track::conn::{Counts, Fate, State};
use crate::track::event::{Endpoint, EventKind, Span};
use crate::track::stats::{Stats, SynOpts};
use tcptrace_common::tcp_flags::{ACK, PSH, SYN};

fn ep(a: &str, port: u16) -> Endpoint {
    Endpoint::new(a.parse().unwrap(), port)
}

fn ip(a: &str) -> IpAddr {
    a.parse().unwrap()
}

/// Every field known, with characters JSON must escape.
fn full() -> Process {
    Process {
        pid: 4242,
        tid: 4243,
        comm: "cu\"r\\l\u{1}é\n".to_string(),
        uid: 1000,
        user: Some("alice".to_string()),
        ppid: Some(1),
        pcomm: Some("bash".to_string()),
        cgroup_id: 7,
        cgroup: Some("/system.slice/x\ty.service".to_string()),
        container: Some("docker:0123456789ab".to_string()),
        how: "connect",
    }
}

/// Only what the kernel gives.
fn partial() -> Process {
    Process {
        tid: 8,
        comm: "nginx".to_string(),
        uid: 33,
        how: "listen",
        ..(*crate::attribute::tests::proc_(7)).clone()
    }
}

fn events() -> Vec<Event> {
    let c4 = ep("192.168.2.10", 1249);
    let s4 = ep("192.168.2.165", 23);
    let c6 = ep("2001:db8::a", 50000);
    let s6 = ep("::ffff:10.0.0.1", 443);
    let kinds = vec![
        EventKind::Handshake1 { isn: 3263977215 },
        EventKind::Handshake2 {
            acked_isn: 1,
            after_syn: None,
        },
        EventKind::Handshake2 {
            acked_isn: u32::MAX,
            after_syn: Some(Span(369_000)),
        },
        EventKind::Handshake3 {
            after_synack: Some(Span(1_500_000)),
            rtt: Some(Span(2_250_000_001)),
        },
        EventKind::Handshake3 {
            after_synack: None,
            rtt: None,
        },
        EventKind::SynRetransmit {
            attempt: 2,
            since_first: Span(1_000_000_000),
        },
        EventKind::SynAckRetransmit { attempt: 3 },
        EventKind::Refused { attempt: 1 },
        EventKind::Retry {
            attempt: 2,
            isn: 77,
            since_reset: Span(12),
        },
        EventKind::GaveUp { attempts: 4 },
        EventKind::NoAnswer { syns: 6 },
        EventKind::DroppedHere {
            syns: 3,
            dropped: 2,
            why: "this host dropped them".to_string(),
            reason: "NETFILTER_DROP".to_string(),
        },
        EventKind::AcceptQueueFull {
            syns: 5,
            queued: 128,
            overflows: u64::MAX,
        },
        EventKind::Dropped {
            seq: 100,
            reason: "TCP_\"ODD\"".to_string(),
            function: "tcp_v4_rcv".to_string(),
            ingress: true,
            after: Some(Span(4_321)),
        },
        EventKind::Dropped {
            seq: 0,
            reason: "NO_SOCKET".to_string(),
            function: "".to_string(),
            ingress: false,
            after: None,
        },
        EventKind::ResetReason {
            reason: "NO_SOCKET".to_string(),
        },
        EventKind::RetransmitUnseen {
            seq: 5,
            err: Some(-105),
        },
        EventKind::RetransmitUnseen { seq: 6, err: None },
        EventKind::Icmp {
            router: ip("2001:db8::1"),
            what: IcmpKind::PathMtu(1280),
            seq: 1,
            sent_len: 1500,
            syn: false,
        },
        EventKind::Icmp {
            router: ip("10.0.0.254"),
            what: IcmpKind::Unreachable("port"),
            seq: 2,
            sent_len: 60,
            syn: true,
        },
        EventKind::Icmp {
            router: ip("10.0.0.254"),
            what: IcmpKind::TimeExceeded,
            seq: 3,
            sent_len: 60,
            syn: false,
        },
        EventKind::Icmp {
            router: ip("10.0.0.254"),
            what: IcmpKind::ParameterProblem,
            seq: 4,
            sent_len: 60,
            syn: false,
        },
        EventKind::IcmpRefused {
            syns: 2,
            router: ip("10.0.0.254"),
            what: "host".to_string(),
        },
        EventKind::PortReuse {
            isn: 9,
            previous: 2,
            previous_state: "TIME_WAIT",
            since_end: Some(Span(60_000_000_000)),
        },
        EventKind::PortReuse {
            isn: 10,
            previous: 3,
            previous_state: "ESTABLISHED",
            since_end: None,
        },
        EventKind::Midstream,
        EventKind::ActiveClose {
            sent: 1 << 40,
            received: 0,
        },
        EventKind::PassiveClose {
            after_fin: Span(100),
        },
        EventKind::SimultaneousClose,
        EventKind::HalfClose,
        EventKind::Closed {
            duration: Span(3_000_000_000),
            time_wait: None,
        },
        EventKind::Closed {
            duration: Span(1),
            time_wait: Some(c6),
        },
        EventKind::Reset {
            sent: 10,
            received: 20,
            state: "ESTABLISHED",
        },
        EventKind::Retransmission { start: 1, end: 101 },
        EventKind::FinRetransmit,
        EventKind::OutOfOrder {
            start: 201,
            end: 301,
            missing_start: 101,
            missing_end: 201,
        },
        EventKind::AckPastUnseen {
            missing_start: 5,
            missing_end: 9,
        },
        EventKind::LateArrival { start: 1, end: 2 },
        EventKind::ZeroWindow,
        EventKind::WindowOpen {
            window: 65535,
            after: Span(7),
        },
        EventKind::DupAck { ack: 1, count: 3 },
        EventKind::FastRetransmission { start: 3, end: 4 },
        EventKind::SpuriousRetransmission { start: 5, end: 6 },
        EventKind::KeepAlive,
        EventKind::KeepAliveAck,
        EventKind::ZeroWindowProbe,
        EventKind::ZeroWindowProbeAck,
        EventKind::WindowFull,
        EventKind::Dsack { start: 7, end: 8 },
        EventKind::AckedUnseen {
            start: 1,
            end: 1001,
            missing: 1000,
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let (from, to) = if i % 2 == 0 { (c4, s4) } else { (c6, s6) };
            // One out of jiff's range: `ts` is then empty.
            let ts = if i == 5 {
                Timestamp::new(i64::MAX / 2, 1)
            } else {
                Timestamp::new(1012615592 + i as i64, 845356000 + i as u32)
            };
            Event {
                ts,
                conn: i as u64 + 1,
                from,
                to,
                about_line: i % 3 != 0,
                kind,
            }
        })
        .collect()
}

fn rows() -> Vec<Row> {
    let mut st = [Stats::default(), Stats::default()];
    st[0].data_segs = 3;
    st[0].data_bytes = 3000;
    st[0].rexmt_segs = 1;
    st[0].rexmt_bytes = 1000;
    st[0].hole_fills = 1;
    st[0].pure_acks = 2;
    st[0].sack_segs = 1;
    st[0].syn_segs = 1;
    st[0].fin_segs = 1;
    for v in [1000, 1000, 1001] {
        st[0].seg_size.add(v);
    }
    for v in [65535, 501, 3] {
        st[0].window.add(v);
        st[1].window.add(v * 2);
    }
    st[0].idle_max = 1_234_567_890;
    for v in [1_000_000, 2_500_001, 3_000_000] {
        st[0].rtt.add(v);
    }
    st[1].rtt.add(77);
    st[0].fast_delay.add(10);
    st[0].rto_delay.add(200_000_000);
    st[0].rto_delay.add(400_000_001);
    let counts = [
        Counts {
            fast_retrans: 1,
            spurious_retrans: 2,
            lost_segments: 3,
            late_arrivals: 4,
            keep_alives: 5,
            keep_alive_acks: 6,
            zero_window_probes: 7,
            zero_window_probe_acks: 8,
            window_full: 9,
            dsacks: 10,
            acked_unseen: 11,
            gap_overflow: 12,
        },
        Counts::default(),
    ];
    let a = Row {
        conn: 3,
        client: ep("192.168.2.10", 1249),
        server: ep("192.168.2.165", 23),
        roles_known: true,
        state: State::Reset,
        start: Timestamp::new(1012615592, 845356000),
        duration: Span(3_000_000_007),
        handshake_rtt: Some(Span(2_000_001)),
        segments: [6, 5],
        bytes: [3001, 7],
        retransmissions: [1, 0],
        dup_acks: [0, 2],
        zero_windows: [0, 1],
        counts,
        stats: st,
        syn_opts: [
            SynOpts {
                mss: Some(1460),
                wscale: Some(7),
                sack_ok: true,
                timestamps: true,
                tfo: false,
                syn_data: 0,
            },
            SynOpts::default(),
        ],
        end: End::Rst { by: 1 },
        fate: Fate::Expired,
        drops: 2,
        last_drop: Some("TCP_\"X\"".to_string()),
        reset_reason: Some("NOT_SPECIFIED".to_string()),
        unseen_retransmits: [1, 0],
        process: Some("curl[1] > -".to_string()),
    };
    let b = Row {
        conn: 4,
        client: ep("2001:db8::a", 50000),
        server: ep("2001:db8::b", 80),
        roles_known: false,
        state: State::SynSent,
        duration: Span(0),
        handshake_rtt: None,
        end: End::IcmpRefused {
            syns: 3,
            what: "port",
            router: ip("2001:db8::1"),
        },
        fate: Fate::TraceEnd,
        last_drop: None,
        reset_reason: None,
        stats: [Stats::default(), Stats::default()],
        syn_opts: [SynOpts::default(), SynOpts::default()],
        ..a.clone()
    };
    let c = Row {
        conn: 5,
        end: End::Refused { attempts: 2 },
        state: State::Refused,
        fate: Fate::Tracked,
        ..b.clone()
    };
    let d = Row {
        conn: 6,
        end: End::NoAnswer { syns: 1 },
        state: State::SynSent,
        roles_known: true,
        ..b.clone()
    };
    let e = Row {
        conn: 7,
        end: End::Fin {
            first: 0,
            simultaneous: false,
        },
        state: State::Closed,
        ..a.clone()
    };
    vec![a, b, c, d, e]
}

fn segments() -> Vec<Segment> {
    let mut r = fixture::v4([192, 168, 2, 10], [192, 168, 2, 165], 1249, 23);
    // MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    fixture::set_options(
        &mut r,
        &[
            2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ],
    );
    r.seq = 3263977215;
    r.flags = SYN;
    r.window = 64240;
    let syn = Segment::from_record(&r, Timestamp::new(1012615592, 845356000));
    let mut r = fixture::v4([192, 168, 2, 165], [192, 168, 2, 10], 23, 1249);
    r.seq = 48495364;
    r.ack = 3263977216;
    r.flags = SYN | ACK;
    let synack = Segment::from_record(&r, Timestamp::new(1012615592, 845357001));
    let mut r = fixture::v4([192, 168, 2, 10], [192, 168, 2, 165], 1249, 23);
    r.seq = 3263977216;
    r.ack = 48495365;
    r.flags = ACK | PSH;
    fixture::set_payload(&mut r, 100);
    let data = Segment::from_record(&r, Timestamp::new(1012615593, 0));
    vec![syn, synack, data]
}

/// One event object, with the process fields when `p` is given.
fn event_json(e: &Event, p: Option<Option<&Process>>) -> String {
    let mut out = Vec::new();
    write_event_with(e, p.map(JsonFields), &mut out);
    String::from_utf8(out).unwrap()
}

/// One summary row, with the processes when `procs` (client, server) is given.
fn row_json(r: &Row, procs: Option<(Option<&Process>, Option<&Process>)>) -> String {
    let mut out = Vec::new();
    write_row_with(r, procs.map(|(c, s)| [c, s]), &mut out);
    String::from_utf8(out).unwrap()
}

fn segment_json(
    w: &mut SegmentWriter,
    s: &Segment,
    conn: Option<u64>,
    line: Option<&str>,
    p: Option<Option<&Process>>,
) -> String {
    let mut out = Vec::new();
    w.write_with(s, conn, line, p.map(JsonFields), &mut out);
    String::from_utf8(out).unwrap()
}

/// Everything the golden strings cover, one object a line.
fn all() -> String {
    let (f, p) = (full(), partial());
    let procs = [None, Some(Some(&f)), Some(None), Some(Some(&p))];
    let mut s = String::new();
    for (i, e) in events().iter().enumerate() {
        s += &event_json(e, procs[i % procs.len()]);
    }
    let pairs = [
        None,
        Some((Some(&f), Some(&p))),
        Some((None, Some(&p))),
        Some((None, None)),
        Some((Some(&p), None)),
    ];
    for (r, procs) in rows().iter().zip(pairs) {
        s += &row_json(r, procs);
    }
    let mut w = SegmentWriter::new();
    let segs = segments();
    s += &segment_json(
        &mut w,
        &segs[0],
        Some(1),
        Some("line \"quoted\" \\ é"),
        Some(Some(&f)),
    );
    s += &segment_json(&mut w, &segs[1], None, None, None);
    s += &segment_json(&mut w, &segs[2], Some(u64::MAX), Some("x"), Some(None));
    s
}

#[test]
fn objects_are_byte_identical_to_the_map_writer() {
    let got = all();
    let (got, want): (Vec<_>, Vec<_>) = (got.lines().collect(), GOLDEN.lines().collect());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "object {i}");
    }
    assert_eq!(got.len(), want.len());
    assert!(all().ends_with('\n'));
}

/// No key twice in an object: the map writer kept one of each (`extend` replaced a value in
/// place), so a duplicate would be a difference the golden strings may not cover. Every
/// event kind is above, and an object's keys depend only on its kind.
#[test]
fn keys_are_distinct() {
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys(Vec<String>);
    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, IgnoredAny)) = m.next_entry::<String, IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    for line in all().lines() {
        let Keys(keys) = serde_json::from_str(line).unwrap();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), keys.len(), "{line}");
    }
}

/// Non-finite numbers are `null`, as `json!` made them.
#[test]
fn non_finite_is_null() {
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let v = serde_json::to_string(&serde_json::json!(x)).unwrap();
        assert_eq!(v, "null");
        assert_eq!(serde_json::to_string(&x).unwrap(), v);
        assert_eq!(serde_json::to_string(&[x, 1.5]).unwrap(), "[null,1.5]");
    }
}

/// Written by the map writer (`all()` before the streaming rewrite).
const GOLDEN: &str = r#"{"v":1,"type":"event","ts":"2002-02-02T02:06:32.845356000Z","ts_sec":1012615592,"ts_nsec":845356000,"conn":1,"kind":"handshake_syn","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":false,"text":"handshake 1/3: client 192.168.2.10.1249 asks 192.168.2.165.23 to open a connection (SYN, ISN 3263977215)","isn":3263977215}
{"v":1,"type":"event","ts":"2002-02-02T02:06:33.845356001Z","ts_sec":1012615593,"ts_nsec":845356001,"conn":2,"kind":"handshake_synack","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"handshake 2/3: server 2001:db8::a.50000 accepts (SYN-ACK acks 1+1); the SYN was not seen","acked_isn":1,"after_syn_ns":null,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:06:34.845356002Z","ts_sec":1012615594,"ts_nsec":845356002,"conn":3,"kind":"handshake_synack","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"handshake 2/3: server 192.168.2.10.1249 accepts (SYN-ACK acks 4294967295+1), 0.369 ms after the SYN","acked_isn":4294967295,"after_syn_ns":369000,"pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:35.845356003Z","ts_sec":1012615595,"ts_nsec":845356003,"conn":4,"kind":"handshake_ack","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":false,"text":"handshake 3/3: client 2001:db8::a.50000 acknowledges the SYN-ACK 1.500 ms after it: connection established (handshake RTT 2.250 s)","after_synack_ns":1500000,"handshake_rtt_ns":2250000001,"pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:36.845356004Z","ts_sec":1012615596,"ts_nsec":845356004,"conn":5,"kind":"handshake_ack","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"handshake 3/3: client 192.168.2.10.1249 sends its first ACK: connection established (the SYN-ACK from 192.168.2.165.23 was not seen)","after_synack_ns":null,"handshake_rtt_ns":null}
{"v":1,"type":"event","ts":"","ts_sec":4611686018427387903,"ts_nsec":1,"conn":6,"kind":"syn_retransmit","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"retransmitted SYN: client 2001:db8::a.50000 has no answer from ::ffff:10.0.0.1.443 and sends the same SYN again (attempt 2, 1.000 s after the first)","attempt":2,"since_first_ns":1000000000,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:06:38.845356006Z","ts_sec":1012615598,"ts_nsec":845356006,"conn":7,"kind":"synack_retransmit","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":false,"text":"retransmitted SYN-ACK: server 192.168.2.10.1249 sends its SYN-ACK again (3rd time): 192.168.2.165.23 has not acknowledged it","attempt":3,"pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:39.845356007Z","ts_sec":1012615599,"ts_nsec":845356007,"conn":8,"kind":"refused","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"refused: 2001:db8::a.50000 answers the SYN with a reset (attempt 1): nothing accepts connections on port 50000 there (or a firewall rejects them)","attempt":1,"pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:40.845356008Z","ts_sec":1012615600,"ts_nsec":845356008,"conn":9,"kind":"retry","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"retry: client 192.168.2.10.1249 sends the same SYN again (attempt 2, same ISN 77), 0.000 ms after the reset","attempt":2,"isn":77,"since_reset_ns":12}
{"v":1,"type":"event","ts":"2002-02-02T02:06:41.845356009Z","ts_sec":1012615601,"ts_nsec":845356009,"conn":10,"kind":"gave_up","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":false,"text":"gave up: client 2001:db8::a.50000 stopped after 4 attempts, each refused by ::ffff:10.0.0.1.443","attempts":4,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:06:42.845356010Z","ts_sec":1012615602,"ts_nsec":845356010,"conn":11,"kind":"no_answer","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"no answer: 192.168.2.165.23 never answered the 6 SYNs from client 192.168.2.10.1249 (host down, packets dropped, or the trace ended)","syns":6,"pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:43.845356011Z","ts_sec":1012615603,"ts_nsec":845356011,"conn":12,"kind":"no_answer_dropped","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"no answer: this host dropped them (2 of 3 SYNs from client 2001:db8::a.50000 to ::ffff:10.0.0.1.443, NETFILTER_DROP)","syns":3,"dropped":2,"reason":"NETFILTER_DROP","pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:44.845356012Z","ts_sec":1012615604,"ts_nsec":845356012,"conn":13,"kind":"no_answer_accept_queue","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":false,"text":"no answer: accept queue full on port 23: the listener has 128 connections it has not accepted, and the 5 SYNs from client 192.168.2.10.1249 found no room (ListenOverflows +18446744073709551615)","syns":5,"queued":128,"listen_overflows":18446744073709551615}
{"v":1,"type":"event","ts":"2002-02-02T02:06:45.845356013Z","ts_sec":1012615605,"ts_nsec":845356013,"conn":14,"kind":"drop","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"dropped in this host 0.004 ms after it arrived: TCP_\"ODD\" (tcp_v4_rcv)","seq":100,"direction":"ingress","reason":"TCP_\"ODD\"","function":"tcp_v4_rcv","after_wire_ns":4321,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:06:46.845356014Z","ts_sec":1012615606,"ts_nsec":845356014,"conn":15,"kind":"drop","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"dropped in this host before it reached the wire: NO_SOCKET ()","seq":0,"direction":"egress","reason":"NO_SOCKET","function":"","after_wire_ns":null,"pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:47.845356015Z","ts_sec":1012615607,"ts_nsec":845356015,"conn":16,"kind":"reset_reason","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":false,"text":"2001:db8::a.50000 > ::ffff:10.0.0.1.443 RST: reset sent by this host's kernel: NO_SOCKET (nothing listens on port 50000)","reason":"NO_SOCKET","pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:48.845356016Z","ts_sec":1012615608,"ts_nsec":845356016,"conn":17,"kind":"retransmit_unseen","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"192.168.2.10.1249 > 192.168.2.165.23 seq 5: retransmitted by this host's kernel, but it never reached the wire (transmit error -105: No buffer space available)","seq":5,"error":-105}
{"v":1,"type":"event","ts":"2002-02-02T02:06:49.845356017Z","ts_sec":1012615609,"ts_nsec":845356017,"conn":18,"kind":"retransmit_unseen","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"2001:db8::a.50000 > ::ffff:10.0.0.1.443 seq 6: retransmitted by this host's kernel, but it never reached the wire","seq":6,"error":null,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:06:50.845356018Z","ts_sec":1012615610,"ts_nsec":845356018,"conn":19,"kind":"icmp_error","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":false,"text":"path MTU 1280 reported by 2001:db8::1 while segments of 1500 bytes are sent (192.168.2.10.1249 > 192.168.2.165.23 seq 1)","router":"2001:db8::1","seq":1,"sent_len":1500,"icmp":"path mtu","mtu":1280,"pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:51.845356019Z","ts_sec":1012615611,"ts_nsec":845356019,"conn":20,"kind":"icmp_error","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"refused by an ICMP port unreachable from 10.0.0.254 (the SYN from client 2001:db8::a.50000 to ::ffff:10.0.0.1.443)","router":"10.0.0.254","seq":2,"sent_len":60,"icmp":"port unreachable","mtu":null,"pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:52.845356020Z","ts_sec":1012615612,"ts_nsec":845356020,"conn":21,"kind":"icmp_error","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"time exceeded in transit, reported by 10.0.0.254 about 192.168.2.10.1249 > 192.168.2.165.23 seq 3 (a routing loop or too few hops)","router":"10.0.0.254","seq":3,"sent_len":60,"icmp":"time exceeded","mtu":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:53.845356021Z","ts_sec":1012615613,"ts_nsec":845356021,"conn":22,"kind":"icmp_error","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":false,"text":"parameter problem reported by 10.0.0.254 about 2001:db8::a.50000 > ::ffff:10.0.0.1.443 seq 4","router":"10.0.0.254","seq":4,"sent_len":60,"icmp":"parameter problem","mtu":null,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:06:54.845356022Z","ts_sec":1012615614,"ts_nsec":845356022,"conn":23,"kind":"refused_icmp","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"refused by an host from 10.0.0.254 (2 SYNs from client 192.168.2.10.1249 to 192.168.2.165.23)","syns":2,"router":"10.0.0.254","icmp":"host","pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:55.845356023Z","ts_sec":1012615615,"ts_nsec":845356023,"conn":24,"kind":"port_reuse","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"new connection on the same ports: client 2001:db8::a.50000 sends a new SYN (ISN 9); connection #2 on this port pair was TIME_WAIT 60.000 s earlier","isn":9,"previous_conn":2,"previous_state":"TIME_WAIT","since_previous_ns":60000000000,"pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:56.845356024Z","ts_sec":1012615616,"ts_nsec":845356024,"conn":25,"kind":"port_reuse","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":false,"text":"new connection on the same ports: client 192.168.2.10.1249 sends a new SYN (ISN 10); connection #3 on this port pair was ESTABLISHED","isn":10,"previous_conn":3,"previous_state":"ESTABLISHED","since_previous_ns":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:57.845356025Z","ts_sec":1012615617,"ts_nsec":845356025,"conn":26,"kind":"midstream","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"2001:db8::a.50000 > ::ffff:10.0.0.1.443: connection already open when the trace started (no handshake seen)","pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:06:58.845356026Z","ts_sec":1012615618,"ts_nsec":845356026,"conn":27,"kind":"active_close","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"close: 192.168.2.10.1249 closes first (FIN, active close) after sending 1099511627776 bytes and receiving 0","bytes_sent":1099511627776,"bytes_received":0,"pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:06:59.845356027Z","ts_sec":1012615619,"ts_nsec":845356027,"conn":28,"kind":"passive_close","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":false,"text":"close: 2001:db8::a.50000 closes its side too (FIN, passive close), 0.000 ms after ::ffff:10.0.0.1.443's FIN","after_fin_ns":100,"pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:00.845356028Z","ts_sec":1012615620,"ts_nsec":845356028,"conn":29,"kind":"simultaneous_close","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"close: 192.168.2.10.1249 closes at the same time as 192.168.2.165.23 (the FINs crossed: simultaneous close)"}
{"v":1,"type":"event","ts":"2002-02-02T02:07:01.845356029Z","ts_sec":1012615621,"ts_nsec":845356029,"conn":30,"kind":"half_close","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"half-close: 2001:db8::a.50000 keeps sending after ::ffff:10.0.0.1.443 closed its sending side (::ffff:10.0.0.1.443 still receives)","pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:07:02.845356030Z","ts_sec":1012615622,"ts_nsec":845356030,"conn":31,"kind":"closed","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":false,"text":"closed: 192.168.2.10.1249 acknowledges the last FIN; connection closed after 3.000 s; both ends keep the port pair in TIME_WAIT","duration_ns":3000000000,"time_wait":"both","pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:03.845356031Z","ts_sec":1012615623,"ts_nsec":845356031,"conn":32,"kind":"closed","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"closed: 2001:db8::a.50000 acknowledges the last FIN; connection closed after 0.000 ms; 2001:db8::a.50000 (it closed first) keeps the port pair in TIME_WAIT","duration_ns":1,"time_wait":"2001:db8::a.50000","pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:04.845356032Z","ts_sec":1012615624,"ts_nsec":845356032,"conn":33,"kind":"reset","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"reset: 192.168.2.10.1249 aborts the connection (RST) while ESTABLISHED, after sending 10 bytes and receiving 20","bytes_sent":10,"bytes_received":20,"while":"ESTABLISHED"}
{"v":1,"type":"event","ts":"2002-02-02T02:07:05.845356033Z","ts_sec":1012615625,"ts_nsec":845356033,"conn":34,"kind":"retransmission","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":false,"text":"retransmission: 2001:db8::a.50000 sends bytes 1:101 again (not acknowledged by ::ffff:10.0.0.1.443 in time, or lost)","start":1,"end":101,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:07:06.845356034Z","ts_sec":1012615626,"ts_nsec":845356034,"conn":35,"kind":"fin_retransmit","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"retransmitted FIN: 192.168.2.10.1249 sends its FIN again (192.168.2.165.23 has not acknowledged it)","pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:07.845356035Z","ts_sec":1012615627,"ts_nsec":845356035,"conn":36,"kind":"out_of_order","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"out-of-order: 2001:db8::a.50000 sends bytes 201:301 but 101:201 before them were not seen (lost before this point, or arriving late)","start":201,"end":301,"missing_start":101,"missing_end":201,"pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:08.845356036Z","ts_sec":1012615628,"ts_nsec":845356036,"conn":37,"kind":"out_of_order","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":false,"text":"out-of-order: 192.168.2.10.1249's ACK comes after bytes 5:9 of its own that were not seen (lost before this capture point)","start":9,"end":9,"missing_start":5,"missing_end":9}
{"v":1,"type":"event","ts":"2002-02-02T02:07:09.845356037Z","ts_sec":1012615629,"ts_nsec":845356037,"conn":38,"kind":"late_arrival","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"out-of-order: bytes 1:2 from 2001:db8::a.50000 arrive late, filling the gap","start":1,"end":2,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:07:10.845356038Z","ts_sec":1012615630,"ts_nsec":845356038,"conn":39,"kind":"zero_window","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"zero window: 192.168.2.10.1249 can take no more data (win 0); 192.168.2.165.23 must pause sending","pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:11.845356039Z","ts_sec":1012615631,"ts_nsec":845356039,"conn":40,"kind":"window_open","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":false,"text":"window open: 2001:db8::a.50000 can take data again (win 65535) after 0.000 ms at zero","win":65535,"after_ns":7,"pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:12.845356040Z","ts_sec":1012615632,"ts_nsec":845356040,"conn":41,"kind":"dup_ack","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"duplicate ACK #3: 192.168.2.10.1249 acknowledges 1 again: data from 192.168.2.165.23 after that is missing; 192.168.2.165.23 should retransmit it now (fast retransmit)","ack":1,"count":3}
{"v":1,"type":"event","ts":"2002-02-02T02:07:13.845356041Z","ts_sec":1012615633,"ts_nsec":845356041,"conn":42,"kind":"fast_retransmission","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"fast retransmission: 2001:db8::a.50000 sends bytes 3:4 again, as ::ffff:10.0.0.1.443's duplicate ACKs asked","start":3,"end":4,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:07:14.845356042Z","ts_sec":1012615634,"ts_nsec":845356042,"conn":43,"kind":"spurious_retransmission","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":false,"text":"spurious retransmission: 192.168.2.10.1249 sends bytes 5:6 again, but 192.168.2.165.23 had already acknowledged them","start":5,"end":6,"pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:15.845356043Z","ts_sec":1012615635,"ts_nsec":845356043,"conn":44,"kind":"keep_alive","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"keep-alive: 2001:db8::a.50000 checks that ::ffff:10.0.0.1.443 is still there (a segment just below the next sequence number)","pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:16.845356044Z","ts_sec":1012615636,"ts_nsec":845356044,"conn":45,"kind":"keep_alive_ack","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"keep-alive ACK: 192.168.2.10.1249 answers 192.168.2.165.23's keep-alive"}
{"v":1,"type":"event","ts":"2002-02-02T02:07:17.845356045Z","ts_sec":1012615637,"ts_nsec":845356045,"conn":46,"kind":"zero_window_probe","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":false,"text":"zero-window probe: 2001:db8::a.50000 asks whether ::ffff:10.0.0.1.443's window is still zero","pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"event","ts":"2002-02-02T02:07:18.845356046Z","ts_sec":1012615638,"ts_nsec":845356046,"conn":47,"kind":"zero_window_probe_ack","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":true,"text":"zero-window probe ACK: 192.168.2.10.1249 answers 192.168.2.165.23's probe: its window is still zero","pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:19.845356047Z","ts_sec":1012615639,"ts_nsec":845356047,"conn":48,"kind":"window_full","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"window full: 2001:db8::a.50000 has filled ::ffff:10.0.0.1.443's advertised window and must wait for an ACK","pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
{"v":1,"type":"event","ts":"2002-02-02T02:07:20.845356048Z","ts_sec":1012615640,"ts_nsec":845356048,"conn":49,"kind":"dsack","from":"192.168.2.10.1249","from_addr":"192.168.2.10","from_port":1249,"to":"192.168.2.165.23","to_addr":"192.168.2.165","to_port":23,"about_segment":false,"text":"D-SACK: 192.168.2.10.1249 got bytes 7:8 from 192.168.2.165.23 twice (a needless retransmission, or a duplicated packet)","start":7,"end":8}
{"v":1,"type":"event","ts":"2002-02-02T02:07:21.845356049Z","ts_sec":1012615641,"ts_nsec":845356049,"conn":50,"kind":"acked_unseen","from":"2001:db8::a.50000","from_addr":"2001:db8::a","from_port":50000,"to":"::ffff:10.0.0.1.443","to_addr":"::ffff:10.0.0.1","to_port":443,"about_segment":true,"text":"ack for bytes not seen: 2001:db8::a.50000 acknowledges up to 1001, but 1000 bytes of ::ffff:10.0.0.1.443's from 1 on were not seen here (lost before this capture point, or sent another way)","start":1,"end":1001,"missing_bytes":1000,"pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"summary","conn":3,"client":"192.168.2.10.1249","client_addr":"192.168.2.10","client_port":1249,"server":"192.168.2.165.23","server_addr":"192.168.2.165","server_port":23,"roles_known":true,"state":"RESET","start":"2002-02-02T02:06:32.845356000Z","start_sec":1012615592,"start_nsec":845356000,"duration_ns":3000000007,"handshake_rtt_ns":2000001,"segments":[6,5],"bytes":[3001,7],"retransmissions":[1,0],"dup_acks":[0,2],"zero_windows":[0,1],"drops":2,"last_drop_reason":"TCP_\"X\"","reset_reason":"NOT_SPECIFIED","retransmits_not_on_wire":[1,0],"fast_retransmissions":[1,0],"spurious_retransmissions":[2,0],"lost_segments":[3,0],"late_arrivals":[4,0],"keep_alives":[5,0],"keep_alive_acks":[6,0],"zero_window_probes":[7,0],"zero_window_probe_acks":[8,0],"window_full":[9,0],"dsacks":[10,0],"acked_unseen":[11,0],"holes_forgotten":[12,0],"data_segments":[3,0],"data_bytes":[3000,0],"rexmt_data_segments":[1,0],"rexmt_data_bytes":[1000,0],"hole_fills":[1,0],"pure_acks":[2,0],"sack_segments":[1,0],"syn_segments":[1,0],"fin_segments":[1,0],"segment_size_min":[1000,0],"segment_size_avg":[1000.3333333333334,0.0],"segment_size_max":[1001,0],"window_min":[3,6],"window_avg":[22013.0,44026.0],"window_max":[65535,131070],"idle_max_ns":[1234567890,0],"throughput_bps":[1000.3333309992222,2.3333333278888886],"rtt_samples":[3,1],"rtt_min_ns":[1000000,77],"rtt_avg_ns":[2166667.0,77.0],"rtt_max_ns":[3000000,77],"rtt_stdev_ns":[1040833.159861368,0.0],"fast_retransmit_delays":[1,0],"fast_retransmit_delay_avg_ns":[10.0,0.0],"other_retransmit_delays":[2,0],"other_retransmit_delay_min_ns":[200000000,0],"other_retransmit_delay_avg_ns":[300000000.5,0.0],"other_retransmit_delay_max_ns":[400000001,0],"mss":[1460,null],"wscale":[7,null],"sack_permitted":[true,false],"timestamps":[true,false],"fast_open":[false,false],"syn_data_bytes":[0,0],"end":"rst","end_by":"server","attempts":null,"fate":"expired","end_text":"RST by server (NOT_SPECIFIED), 2 dropped here (last: TCP_\"X\"), 1 retransmission not on the wire"}
{"v":1,"type":"summary","conn":4,"client":"2001:db8::a.50000","client_addr":"2001:db8::a","client_port":50000,"server":"2001:db8::b.80","server_addr":"2001:db8::b","server_port":80,"roles_known":false,"state":"SYN_SENT","start":"2002-02-02T02:06:32.845356000Z","start_sec":1012615592,"start_nsec":845356000,"duration_ns":0,"handshake_rtt_ns":null,"segments":[6,5],"bytes":[3001,7],"retransmissions":[1,0],"dup_acks":[0,2],"zero_windows":[0,1],"drops":2,"last_drop_reason":null,"reset_reason":null,"retransmits_not_on_wire":[1,0],"fast_retransmissions":[1,0],"spurious_retransmissions":[2,0],"lost_segments":[3,0],"late_arrivals":[4,0],"keep_alives":[5,0],"keep_alive_acks":[6,0],"zero_window_probes":[7,0],"zero_window_probe_acks":[8,0],"window_full":[9,0],"dsacks":[10,0],"acked_unseen":[11,0],"holes_forgotten":[12,0],"data_segments":[0,0],"data_bytes":[0,0],"rexmt_data_segments":[0,0],"rexmt_data_bytes":[0,0],"hole_fills":[0,0],"pure_acks":[0,0],"sack_segments":[0,0],"syn_segments":[0,0],"fin_segments":[0,0],"segment_size_min":[0,0],"segment_size_avg":[0.0,0.0],"segment_size_max":[0,0],"window_min":[0,0],"window_avg":[0.0,0.0],"window_max":[0,0],"idle_max_ns":[0,0],"throughput_bps":[null,null],"rtt_samples":[0,0],"rtt_min_ns":[0,0],"rtt_avg_ns":[0.0,0.0],"rtt_max_ns":[0,0],"rtt_stdev_ns":[0.0,0.0],"fast_retransmit_delays":[0,0],"fast_retransmit_delay_avg_ns":[0.0,0.0],"other_retransmit_delays":[0,0],"other_retransmit_delay_min_ns":[0,0],"other_retransmit_delay_avg_ns":[0.0,0.0],"other_retransmit_delay_max_ns":[0,0],"mss":[null,null],"wscale":[null,null],"sack_permitted":[false,false],"timestamps":[false,false],"fast_open":[false,false],"syn_data_bytes":[0,0],"end":"refused_icmp","end_by":null,"attempts":3,"fate":"trace_end","end_text":"refused by an ICMP port unreachable from 2001:db8::1 (3 SYNs), 1 retransmission not on the wire [joined mid-connection]","pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab","client_pid":4242,"client_comm":"cu\"r\\l\u0001é\n","server_pid":7,"server_comm":"nginx"}
{"v":1,"type":"summary","conn":5,"client":"2001:db8::a.50000","client_addr":"2001:db8::a","client_port":50000,"server":"2001:db8::b.80","server_addr":"2001:db8::b","server_port":80,"roles_known":false,"state":"REFUSED","start":"2002-02-02T02:06:32.845356000Z","start_sec":1012615592,"start_nsec":845356000,"duration_ns":0,"handshake_rtt_ns":null,"segments":[6,5],"bytes":[3001,7],"retransmissions":[1,0],"dup_acks":[0,2],"zero_windows":[0,1],"drops":2,"last_drop_reason":null,"reset_reason":null,"retransmits_not_on_wire":[1,0],"fast_retransmissions":[1,0],"spurious_retransmissions":[2,0],"lost_segments":[3,0],"late_arrivals":[4,0],"keep_alives":[5,0],"keep_alive_acks":[6,0],"zero_window_probes":[7,0],"zero_window_probe_acks":[8,0],"window_full":[9,0],"dsacks":[10,0],"acked_unseen":[11,0],"holes_forgotten":[12,0],"data_segments":[0,0],"data_bytes":[0,0],"rexmt_data_segments":[0,0],"rexmt_data_bytes":[0,0],"hole_fills":[0,0],"pure_acks":[0,0],"sack_segments":[0,0],"syn_segments":[0,0],"fin_segments":[0,0],"segment_size_min":[0,0],"segment_size_avg":[0.0,0.0],"segment_size_max":[0,0],"window_min":[0,0],"window_avg":[0.0,0.0],"window_max":[0,0],"idle_max_ns":[0,0],"throughput_bps":[null,null],"rtt_samples":[0,0],"rtt_min_ns":[0,0],"rtt_avg_ns":[0.0,0.0],"rtt_max_ns":[0,0],"rtt_stdev_ns":[0.0,0.0],"fast_retransmit_delays":[0,0],"fast_retransmit_delay_avg_ns":[0.0,0.0],"other_retransmit_delays":[0,0],"other_retransmit_delay_min_ns":[0,0],"other_retransmit_delay_avg_ns":[0.0,0.0],"other_retransmit_delay_max_ns":[0,0],"mss":[null,null],"wscale":[null,null],"sack_permitted":[false,false],"timestamps":[false,false],"fast_open":[false,false],"syn_data_bytes":[0,0],"end":"refused","end_by":null,"attempts":2,"fate":"tracked","end_text":"refused ×2, 1 retransmission not on the wire [joined mid-connection]","pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null,"client_pid":null,"client_comm":null,"server_pid":7,"server_comm":"nginx"}
{"v":1,"type":"summary","conn":6,"client":"2001:db8::a.50000","client_addr":"2001:db8::a","client_port":50000,"server":"2001:db8::b.80","server_addr":"2001:db8::b","server_port":80,"roles_known":true,"state":"SYN_SENT","start":"2002-02-02T02:06:32.845356000Z","start_sec":1012615592,"start_nsec":845356000,"duration_ns":0,"handshake_rtt_ns":null,"segments":[6,5],"bytes":[3001,7],"retransmissions":[1,0],"dup_acks":[0,2],"zero_windows":[0,1],"drops":2,"last_drop_reason":null,"reset_reason":null,"retransmits_not_on_wire":[1,0],"fast_retransmissions":[1,0],"spurious_retransmissions":[2,0],"lost_segments":[3,0],"late_arrivals":[4,0],"keep_alives":[5,0],"keep_alive_acks":[6,0],"zero_window_probes":[7,0],"zero_window_probe_acks":[8,0],"window_full":[9,0],"dsacks":[10,0],"acked_unseen":[11,0],"holes_forgotten":[12,0],"data_segments":[0,0],"data_bytes":[0,0],"rexmt_data_segments":[0,0],"rexmt_data_bytes":[0,0],"hole_fills":[0,0],"pure_acks":[0,0],"sack_segments":[0,0],"syn_segments":[0,0],"fin_segments":[0,0],"segment_size_min":[0,0],"segment_size_avg":[0.0,0.0],"segment_size_max":[0,0],"window_min":[0,0],"window_avg":[0.0,0.0],"window_max":[0,0],"idle_max_ns":[0,0],"throughput_bps":[null,null],"rtt_samples":[0,0],"rtt_min_ns":[0,0],"rtt_avg_ns":[0.0,0.0],"rtt_max_ns":[0,0],"rtt_stdev_ns":[0.0,0.0],"fast_retransmit_delays":[0,0],"fast_retransmit_delay_avg_ns":[0.0,0.0],"other_retransmit_delays":[0,0],"other_retransmit_delay_min_ns":[0,0],"other_retransmit_delay_avg_ns":[0.0,0.0],"other_retransmit_delay_max_ns":[0,0],"mss":[null,null],"wscale":[null,null],"sack_permitted":[false,false],"timestamps":[false,false],"fast_open":[false,false],"syn_data_bytes":[0,0],"end":"no_answer","end_by":null,"attempts":1,"fate":"trace_end","end_text":"no answer to 1 SYN, 1 retransmission not on the wire","pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null,"client_pid":null,"client_comm":null,"server_pid":null,"server_comm":null}
{"v":1,"type":"summary","conn":7,"client":"192.168.2.10.1249","client_addr":"192.168.2.10","client_port":1249,"server":"192.168.2.165.23","server_addr":"192.168.2.165","server_port":23,"roles_known":true,"state":"CLOSED","start":"2002-02-02T02:06:32.845356000Z","start_sec":1012615592,"start_nsec":845356000,"duration_ns":3000000007,"handshake_rtt_ns":2000001,"segments":[6,5],"bytes":[3001,7],"retransmissions":[1,0],"dup_acks":[0,2],"zero_windows":[0,1],"drops":2,"last_drop_reason":"TCP_\"X\"","reset_reason":"NOT_SPECIFIED","retransmits_not_on_wire":[1,0],"fast_retransmissions":[1,0],"spurious_retransmissions":[2,0],"lost_segments":[3,0],"late_arrivals":[4,0],"keep_alives":[5,0],"keep_alive_acks":[6,0],"zero_window_probes":[7,0],"zero_window_probe_acks":[8,0],"window_full":[9,0],"dsacks":[10,0],"acked_unseen":[11,0],"holes_forgotten":[12,0],"data_segments":[3,0],"data_bytes":[3000,0],"rexmt_data_segments":[1,0],"rexmt_data_bytes":[1000,0],"hole_fills":[1,0],"pure_acks":[2,0],"sack_segments":[1,0],"syn_segments":[1,0],"fin_segments":[1,0],"segment_size_min":[1000,0],"segment_size_avg":[1000.3333333333334,0.0],"segment_size_max":[1001,0],"window_min":[3,6],"window_avg":[22013.0,44026.0],"window_max":[65535,131070],"idle_max_ns":[1234567890,0],"throughput_bps":[1000.3333309992222,2.3333333278888886],"rtt_samples":[3,1],"rtt_min_ns":[1000000,77],"rtt_avg_ns":[2166667.0,77.0],"rtt_max_ns":[3000000,77],"rtt_stdev_ns":[1040833.159861368,0.0],"fast_retransmit_delays":[1,0],"fast_retransmit_delay_avg_ns":[10.0,0.0],"other_retransmit_delays":[2,0],"other_retransmit_delay_min_ns":[200000000,0],"other_retransmit_delay_avg_ns":[300000000.5,0.0],"other_retransmit_delay_max_ns":[400000001,0],"mss":[1460,null],"wscale":[7,null],"sack_permitted":[true,false],"timestamps":[true,false],"fast_open":[false,false],"syn_data_bytes":[0,0],"end":"fin","end_by":"client","attempts":null,"fate":"expired","end_text":"FIN by client first, then server, 2 dropped here (last: TCP_\"X\"), 1 retransmission not on the wire","pid":7,"tid":8,"comm":"nginx","uid":33,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null,"client_pid":7,"client_comm":"nginx","server_pid":null,"server_comm":null}
{"v":1,"type":"segment","ts":"2002-02-02T02:06:32.845356000Z","ts_sec":1012615592,"ts_nsec":845356000,"conn":1,"ifindex":0,"direction":"ingress","ip":4,"src":"192.168.2.10","dst":"192.168.2.165","sport":1249,"dport":23,"flags":"S","flag_bits":2,"seq":3263977215,"ack":0,"rel_seq":3263977215,"rel_ack":0,"win":64240,"urg":0,"hdr_len":40,"payload_len":0,"tcp_len":40,"ip_len":60,"ihl":20,"ip_id":0,"frag":16384,"ttl":64,"tos":0,"flow_label":0,"ext_headers":[],"options":"020405b40402080a000000010000000001030307","checksums":false,"ip_csum":0,"ip_csum_calc":0,"tcp_csum":0,"tcp_csum_calc":0,"frame_len":74,"l3_off":14,"l4_off":34,"status":0,"line":"line \"quoted\" \\ é","pid":4242,"tid":4243,"comm":"cu\"r\\l\u0001é\n","uid":1000,"user":"alice","ppid":1,"pcomm":"bash","cgroup":"/system.slice/x\ty.service","container":"docker:0123456789ab"}
{"v":1,"type":"segment","ts":"2002-02-02T02:06:32.845357001Z","ts_sec":1012615592,"ts_nsec":845357001,"ifindex":0,"direction":"ingress","ip":4,"src":"192.168.2.165","dst":"192.168.2.10","sport":23,"dport":1249,"flags":"S.","flag_bits":18,"seq":48495364,"ack":3263977216,"rel_seq":48495364,"rel_ack":3263977216,"win":0,"urg":0,"hdr_len":20,"payload_len":0,"tcp_len":20,"ip_len":40,"ihl":20,"ip_id":0,"frag":16384,"ttl":64,"tos":0,"flow_label":0,"ext_headers":[],"options":"","checksums":false,"ip_csum":0,"ip_csum_calc":0,"tcp_csum":0,"tcp_csum_calc":0,"frame_len":54,"l3_off":14,"l4_off":34,"status":0,"line":null}
{"v":1,"type":"segment","ts":"2002-02-02T02:06:33.000000000Z","ts_sec":1012615593,"ts_nsec":0,"conn":18446744073709551615,"ifindex":0,"direction":"ingress","ip":4,"src":"192.168.2.10","dst":"192.168.2.165","sport":1249,"dport":23,"flags":"P.","flag_bits":24,"seq":3263977216,"ack":48495365,"rel_seq":1,"rel_ack":1,"win":0,"urg":0,"hdr_len":20,"payload_len":100,"tcp_len":120,"ip_len":140,"ihl":20,"ip_id":0,"frag":16384,"ttl":64,"tos":0,"flow_label":0,"ext_headers":[],"options":"","checksums":false,"ip_csum":0,"ip_csum_calc":0,"tcp_csum":0,"tcp_csum_calc":0,"frame_len":154,"l3_off":14,"l4_off":34,"status":0,"line":"x","pid":null,"tid":null,"comm":null,"uid":null,"user":null,"ppid":null,"pcomm":null,"cgroup":null,"container":null}
"#;
