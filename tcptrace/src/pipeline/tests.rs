//! Unit tests of the pipeline: hand-made segments through the tracker and the outputs,
//! asserting on the text.

use super::*;
use crate::attribute::tests::proc_;
use crate::attribute::{Attributor, flow_key};
use crate::decode::Segment;
use crate::output::ReportOptions;
use crate::pipeline::{Parts, Pipeline};
use crate::render::{RenderOptions, Renderer, TsStyle};
use crate::timefmt::LocalClock;
use crate::track::tests::{C, CI, S, SI, cs, handshake, sc, seg};
use tcptrace_common::tcp_flags::{ACK, FIN, RST, SYN};

const EXPLAIN: ReportOptions = ReportOptions {
    explain: true,
    ..ReportOptions::DEFAULT
};
const JSON: ReportOptions = ReportOptions {
    json: true,
    ..ReportOptions::DEFAULT
};

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
    let renderer = Renderer::with_clock(
        RenderOptions {
            ts: TsStyle::Local,
            ..RenderOptions::default()
        },
        LocalClock::utc(),
    );
    let mut out = Vec::new();
    let mut p = pipeline(renderer, opts, &mut out, Parts::default());
    for s in segs {
        let _ = p.segment(s, None);
    }
    p.finish().unwrap();
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
        lines[0].starts_with("00:16:40.000000 IP 192.168.2.10.1249 > 192.168.2.165.23: Flags [S]")
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
fn notes_stop_at_the_third_duplicate_ack_json_has_all() {
    let mut segs = handshake();
    segs.push(cs(10, ACK, CI + 1, SI + 1, 100, 100));
    segs.push(cs(11, ACK, CI + 201, SI + 1, 100, 100));
    for i in 0..6 {
        segs.push(sc(12 + i, ACK, SI + 1, CI + 101, 1000, 0));
    }
    let text = run(EXPLAIN, &segs);
    assert_eq!(text.matches("^ duplicate ACK #").count(), 3, "{text}");
    let json = run(JSON, &segs);
    assert_eq!(json.matches("\"kind\":\"dup_ack\"").count(), 5, "{json}");
}

#[test]
fn json_lines_parse() {
    let text = run(JSON, &article());
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
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

fn pipeline(
    renderer: Renderer,
    opts: ReportOptions,
    out: &mut Vec<u8>,
    parts: Parts,
) -> Pipeline<&mut Vec<u8>> {
    Pipeline::with(renderer, &opts, &LocalClock::utc(), None, out, parts)
}

/// `--explain` alone, on the test clock; with `owners`, attribution on.
fn explain(out: &mut Vec<u8>, owners: Option<Attributor>) -> Pipeline<&mut Vec<u8>> {
    let renderer = Renderer::with_clock(RenderOptions::default(), LocalClock::utc());
    let opts = EXPLAIN;
    let parts = Parts {
        attrib: owners,
        ..Parts::default()
    };
    pipeline(renderer, opts, out, parts)
}

/// Attribution that names `sender` and `receiver` the owners of `seg`'s two ends.
fn owners(seg: &Segment, sender: u32, receiver: u32) -> Attributor {
    let mut a = Attributor::new();
    a.insert(flow_key(seg, true, true), proc_(sender));
    a.insert(flow_key(seg, false, true), proc_(receiver));
    a
}

fn firewall() -> crate::track::fate::DropCause {
    crate::track::fate::DropCause {
        reason: "NETFILTER_DROP".into(),
        function: "nf_hook_slow".into(),
    }
}

/// `--explain` on a SYN from client process 7 to server process 9, with the firewall
/// dropping it `dropped_after` ns after its line (or never): the text.
fn owned_syn(dropped_after: Option<u32>) -> String {
    let mut out = Vec::new();
    let syn = cs(0, SYN, CI, 0, 16384, 0);
    let mut p = explain(&mut out, Some(owners(&syn, 7, 9)));
    let _ = p.segment(&syn, None);
    if let Some(ns) = dropped_after {
        let mut dropped = syn.clone();
        dropped.ts = Timestamp::new(syn.ts.secs, syn.ts.nanos + ns);
        p.drop_segment(&dropped, &firewall());
    }
    p.finish().unwrap();
    String::from_utf8(out).unwrap()
}

/// A SYN dropped by the firewall 21 µs after its line: the note under it, then the
/// verdict at the end naming the client's process (not the server's listener).
#[test]
fn drop_notes_and_the_clients_verdict() {
    let text = owned_syn(Some(21_000));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[2],
        "    ^ dropped in this host 0.021 ms after it arrived: NETFILTER_DROP (nf_hook_slow) (p7 pid 7)",
        "{text}"
    );
    assert_eq!(
        lines[3],
        "    * no answer: dropped by this host's firewall (1 of 1 SYN from client 192.168.2.10.1249 to 192.168.2.165.23, NETFILTER_DROP) (client: p7 pid 7)",
        "{text}"
    );
    assert_eq!(lines.len(), 4, "{text}");
}

/// SYNs without an answer nor a drop: the verdict names the client's process.
#[test]
fn no_answer_names_the_client() {
    let text = owned_syn(None);
    assert!(
        text.lines()
            .last()
            .unwrap()
            .ends_with("never answered the 1 SYN from client 192.168.2.10.1249 (host down, packets dropped, or the trace ended) (client: p7 pid 7)"),
        "{text}"
    );
}

/// A segment this host made and dropped before the wire: a line of its own, marked.
#[test]
fn a_drop_before_the_wire_gets_its_line() {
    let mut out = Vec::new();
    let mut p = explain(&mut out, None);
    let _ = p.segment(&cs(0, SYN, CI, 0, 16384, 0), None);
    let mut synack = sc(1, SYN | ACK, SI, CI + 1, 16384, 0);
    synack.direction = tcptrace_common::DIR_EGRESS;
    p.drop_segment(&synack, &firewall());
    p.finish().unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[2].ends_with(
            "Flags [S.], seq 48495364, ack 3263977216, win 16384, length 0 [not on the wire]"
        ),
        "{text}"
    );
    assert_eq!(
        lines[3],
        "    ^ dropped in this host before it reached the wire: NETFILTER_DROP (nf_hook_slow)"
    );
}

/// Plain lines and `--no-lines` alone track nothing; `--explain` does.
#[test]
fn tracking_only_when_an_output_needs_it() {
    let lines_off = ReportOptions {
        lines: false,
        ..ReportOptions::default()
    };
    assert!(!lines_off.tracking());
    let mut out = Vec::new();
    let p = explain(&mut out, None);
    assert!(p.tracking());
    let renderer = Renderer::with_clock(RenderOptions::default(), LocalClock::utc());
    let p = pipeline(renderer, lines_off, &mut out, Parts::default());
    assert!(!p.tracking());
}
