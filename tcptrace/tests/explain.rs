//! `--explain`, `--summary`, `--json`, `--no-lines` and `--max-connections` on crafted
//! captures replayed with `tcptrace -r` (through the kernel program): the article's lines
//! (a server-initiated close; a connection refused three times from the same port), a
//! reset after data, a retransmission, out-of-order segments, a zero window, duplicate
//! ACKs, port reuse and eviction.
mod common;

use std::{path::Path, process::Command, time::Duration};

use common::{
    conn_pcap::{Conversation, Dir, Seg, s, write},
    packet::{Ipv4, Tcp, eth4},
    pcap::Frame,
};
use serde_json::Value;
use tcptrace_common::tcp_flags::{ACK, FIN, PSH, RST, SYN};

/// `TZ=UTC tcptrace -r PATH args…`: (stdout, stderr); it must succeed.
fn run(path: &Path, args: &[&str]) -> (String, String) {
    let mut a = vec!["-r", path.to_str().unwrap()];
    a.extend_from_slice(args);
    let out = common::tcptrace(&a);
    let stdout = common::stdout_ok(&format!("tcptrace {}", a.join(" ")), &out);
    (stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn is_note(l: &str) -> bool {
    l.starts_with("    ^ ") || l.starts_with("    * ")
}

/// The notes, each with the 1-based number of the segment line before it (0: before any).
fn notes(out: &str) -> Vec<(usize, String)> {
    let mut n = 0;
    let mut v = Vec::new();
    for l in out.lines() {
        if is_note(l) {
            v.push((n, l[6..].to_string()));
        } else {
            n += 1;
        }
    }
    v
}

/// Lines with the notes taken out must be exactly what tcptrace prints without --explain.
#[track_caller]
fn assert_lines_unchanged(path: &Path, explained: &str, args: &[&str]) {
    let plain = run(path, args).0;
    let stripped: String = explained
        .lines()
        .filter(|l| !is_note(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let d = common::diff(&plain, &stripped, 5);
    assert!(d.is_empty(), "--explain changed the lines:\n{d}");
}

/// Every stdout line parses as a JSON object on its own, with `v` 1 and a known `type`;
/// also through `jq` when it is installed.
fn json_lines(out: &str) -> Vec<Value> {
    let v: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for o in &v {
        assert_eq!(o["v"], 1, "{o}");
        assert!(
            matches!(o["type"].as_str(), Some("segment" | "event" | "summary")),
            "{o}"
        );
    }
    let jq = Command::new("jq").arg("--version").output();
    if jq.is_ok_and(|o| o.status.success()) {
        for l in out.lines() {
            let o = Command::new("sh")
                .arg("-c")
                .arg("printf '%s\\n' \"$1\" | jq -e -c .type")
                .arg("sh")
                .arg(l)
                .output()
                .unwrap();
            assert!(o.status.success(), "jq rejects: {l}");
        }
    }
    v
}

fn of_type<'a>(v: &'a [Value], ty: &str) -> Vec<&'a Value> {
    v.iter().filter(|o| o["type"] == ty).collect()
}

// ---------------------------------------------------------------------------------------
// The article's capture: lines 1–7 (server closes first) and 8–13 (refused three times).

const CLIENT: [u8; 4] = [192, 168, 2, 10];
const SERVER: [u8; 4] = [192, 168, 2, 165];
const SYN_OPTS: [u8; 8] = [2, 4, 0x05, 0xb4, 1, 1, 4, 2];
const CI: u32 = 3263977215;
const SI: u32 = 48495364;
const RI: u32 = 3034008467;

fn article() -> std::path::PathBuf {
    static ONCE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let syn = |mut g: Seg| {
            g.options = SYN_OPTS.to_vec();
            g
        };
        let rst = |mut g: Seg| {
            g.df = false;
            g
        };
        // 2002-02-01 20:06:32 UTC and the next day 05:28:00 UTC, as in tests/article.rs.
        let mut a = Conversation::new(1249, 23);
        a.client = CLIENT;
        a.server = SERVER;
        a.start_secs = 1012593992;
        let mut frames = a.frames(&[
            syn(s(845_356, Dir::C, SYN, CI, 0, 16384, 0)),
            syn(s(845_725, Dir::S, SYN | ACK, SI, CI + 1, 32120, 0)),
            s(845_921, Dir::C, ACK, CI + 1, SI + 1, 17520, 0),
            s(60_916_410, Dir::S, FIN | ACK, SI + 147, CI + 56, 32120, 0),
            s(60_916_680, Dir::C, ACK, CI + 56, SI + 148, 17374, 0),
            s(60_928_907, Dir::C, FIN | ACK, CI + 56, SI + 148, 17374, 0),
            s(60_929_121, Dir::S, ACK, SI + 148, CI + 57, 32120, 0),
        ]);
        let mut b = a.clone();
        b.cport = 1063;
        b.start_secs = 1012627680;
        frames.extend(b.frames(&[
            syn(s(80_798, Dir::C, SYN, RI, 0, 16384, 0)),
            rst(s(80_979, Dir::S, RST | ACK, 0, RI + 1, 0, 0)),
            syn(s(579_420, Dir::C, SYN, RI, 0, 16384, 0)),
            rst(s(579_524, Dir::S, RST | ACK, 0, RI + 1, 0, 0)),
            syn(s(1_080_114, Dir::C, SYN, RI, 0, 16384, 0)),
            rst(s(1_080_225, Dir::S, RST | ACK, 0, RI + 1, 0, 0)),
        ]));
        write("explain-article", &frames)
    })
    .clone()
}

#[test]
fn article_lines_explained() {
    let cap = article();
    let (out, _) = run(&cap, &["--explain"]);
    assert_lines_unchanged(&cap, &out, &[]);
    assert_eq!(out.lines().filter(|l| !is_note(l)).count(), 13, "{out}");
    let refused = "192.168.2.165.23 answers the SYN with a reset";
    let why = "nothing accepts connections on port 23 there (or a firewall rejects them)";
    let want: Vec<(usize, String)> = vec![
        (1, "handshake 1/3: client 192.168.2.10.1249 asks 192.168.2.165.23 to open a connection (SYN, ISN 3263977215)".into()),
        (2, "handshake 2/3: server 192.168.2.165.23 accepts (SYN-ACK acks 3263977215+1), 0.369 ms after the SYN".into()),
        (3, "handshake 3/3: client 192.168.2.10.1249 acknowledges the SYN-ACK 0.196 ms after it: connection established (handshake RTT 0.565 ms)".into()),
        // The article's trace leaves out the data: its ACKs acknowledge bytes not seen.
        (4, "ack for bytes not seen: 192.168.2.165.23 acknowledges up to 56, but 55 bytes of 192.168.2.10.1249's from 1 on were not seen here (lost before this capture point, or sent another way)".into()),
        (4, "out-of-order: 192.168.2.165.23's FIN comes after bytes 1:147 that were not seen (lost before this point, or arriving late)".into()),
        (4, "close: 192.168.2.165.23 closes first (FIN, active close) after sending 146 bytes and receiving 55".into()),
        (5, "ack for bytes not seen: 192.168.2.10.1249 acknowledges up to 148, but 146 bytes of 192.168.2.165.23's from 1 on were not seen here (lost before this capture point, or sent another way)".into()),
        (6, "close: 192.168.2.10.1249 closes its side too (FIN, passive close), 12.497 ms after 192.168.2.165.23's FIN".into()),
        (7, "closed: 192.168.2.165.23 acknowledges the last FIN; connection closed after 60.083 s; 192.168.2.165.23 (it closed first) keeps the port pair in TIME_WAIT".into()),
        (8, "handshake 1/3: client 192.168.2.10.1063 asks 192.168.2.165.23 to open a connection (SYN, ISN 3034008467)".into()),
        (9, format!("refused: {refused} (attempt 1): {why}")),
        (10, "retry: client 192.168.2.10.1063 sends the same SYN again (attempt 2, same ISN 3034008467), 498.441 ms after the reset".into()),
        (11, format!("refused: {refused} (attempt 2): {why}")),
        (12, "retry: client 192.168.2.10.1063 sends the same SYN again (attempt 3, same ISN 3034008467), 500.590 ms after the reset".into()),
        (13, format!("refused: {refused} (attempt 3): {why}")),
        (13, "gave up: client 192.168.2.10.1063 stopped after 3 attempts, each refused by 192.168.2.165.23".into()),
    ];
    assert_eq!(notes(&out), want, "output:\n{out}");
    // The verdict at the end is not about line 13: it is marked `*`.
    assert!(out.ends_with(
        "    * gave up: client 192.168.2.10.1063 stopped after 3 attempts, each refused by 192.168.2.165.23\n"
    ));
}

#[test]
fn article_notes_with_other_line_styles() {
    let cap = article();
    for style in [&["-q"][..], &["--classic"], &["-S", "-v"], &["-tt", "-#"]] {
        let mut args = style.to_vec();
        args.push("--explain");
        let (out, _) = run(&cap, &args);
        assert_lines_unchanged(&cap, &out, style);
        assert_eq!(notes(&out).len(), 16, "{style:?}:\n{out}");
    }
}

#[test]
fn article_summary_only() {
    let cap = article();
    let (out, _) = run(&cap, &["--summary", "--no-lines"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0],
        "tcptrace summary: 2 connections (1 tracked now, 0 evicted, 1 expired)"
    );
    let cols: Vec<&str> = lines[1].split("  ").filter(|c| !c.is_empty()).collect();
    let head = "#|client|server|state|start|duration|handshake|segs c>s/s>c|bytes c>s/s>c|\
                retrans|analysis c>s/s>c|end";
    let cols: Vec<&str> = cols.iter().map(|c| c.trim()).collect();
    assert_eq!(cols.join("|"), head);
    let row = |l: &str| -> Vec<String> {
        l.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    assert_eq!(
        row(lines[2]),
        [
            "1",
            "192.168.2.10.1249",
            "192.168.2.165.23",
            "CLOSED",
            "2002-02-01 20:06:32.845356",
            "60.083 s",
            "0.565 ms",
            "4/3",
            "55/146",
            "0/0",
            "lost 0/1, acked-unseen 1/1",
            "FIN by server first, then client"
        ]
    );
    assert_eq!(
        row(lines[3]),
        [
            "2",
            "192.168.2.10.1063",
            "192.168.2.165.23",
            "REFUSED",
            "2002-02-02 05:28:00.080798",
            "999.427 ms",
            "-",
            "3/3",
            "0/0",
            "0/0",
            "-",
            "refused ×3, client gave up"
        ]
    );
}

#[test]
fn article_as_json() {
    let cap = article();
    let (out, _) = run(&cap, &["--json"]);
    let v = json_lines(&out);
    let segs = of_type(&v, "segment");
    assert_eq!(segs.len(), 13);
    assert_eq!(segs[0]["flags"], "S");
    assert_eq!(segs[0]["seq"], CI);
    assert_eq!(segs[0]["src"], "192.168.2.10");
    assert_eq!(segs[0]["sport"], 1249);
    assert_eq!(segs[0]["options"], "020405b401010402");
    assert_eq!(segs[0]["conn"], 1);
    assert_eq!(segs[0]["ts"], "2002-02-01T20:06:32.845356000Z");
    assert_eq!(segs[0]["ts_sec"], 1012593992);
    assert_eq!(segs[0]["ts_nsec"], 845356000);
    // Absolute and relative numbers (tcpdump's relative numbers).
    assert_eq!(segs[2]["seq"], CI + 1);
    assert_eq!(segs[2]["ack"], SI + 1);
    assert_eq!(segs[2]["rel_ack"], 1);
    assert_eq!(segs[3]["rel_seq"], 147);
    assert_eq!(segs[3]["rel_ack"], 56);
    assert_eq!(segs[8]["conn"], 2);
    assert!(
        segs[3]["line"]
            .as_str()
            .unwrap()
            .contains("Flags [F.], seq 147, ack 56")
    );
    let events = of_type(&v, "event");
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "handshake_syn",
            "handshake_synack",
            "handshake_ack",
            "acked_unseen",
            "out_of_order",
            "active_close",
            "acked_unseen",
            "passive_close",
            "closed",
            "handshake_syn",
            "refused",
            "retry",
            "refused",
            "retry",
            "refused",
            "gave_up"
        ]
    );
    assert_eq!(events[1]["after_syn_ns"], 369_000);
    assert_eq!(events[1]["from"], "192.168.2.165.23");
    assert_eq!(events[1]["from_addr"], "192.168.2.165");
    assert_eq!(events[1]["from_port"], 23);
    assert_eq!(events[2]["handshake_rtt_ns"], 565_000);
    assert_eq!(events[3]["missing_bytes"], 55);
    assert_eq!(events[14]["attempt"], 3);
    assert_eq!(events[15]["attempts"], 3);
    assert_eq!(events[15]["about_segment"], false);
    assert!(
        events[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("handshake 2/3: server")
    );
    let rows = of_type(&v, "summary");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["state"], "CLOSED");
    assert_eq!(rows[0]["end"], "fin");
    assert_eq!(rows[0]["end_by"], "server");
    assert_eq!(rows[0]["segments"], serde_json::json!([4, 3]));
    assert_eq!(rows[0]["bytes"], serde_json::json!([55, 146]));
    assert_eq!(rows[0]["handshake_rtt_ns"], 565_000);
    assert_eq!(rows[1]["end"], "refused");
    assert_eq!(rows[1]["attempts"], 3);
    assert_eq!(rows[1]["fate"], "trace_end");
    // The JSON goes last: segment and event objects in order, the summary at the end.
    assert_eq!(v.last().unwrap()["type"], "summary");

    // --no-lines: no segment objects.
    let (out, _) = run(&cap, &["--json", "--no-lines"]);
    let v = json_lines(&out);
    assert!(of_type(&v, "segment").is_empty());
    assert_eq!(of_type(&v, "event").len(), 16);
    assert_eq!(of_type(&v, "summary").len(), 2);
}

// ---------------------------------------------------------------------------------------
// Crafted conversations, one per event kind.

const C0: u32 = 1000;
const S0: u32 = 5000;

fn handshake() -> Vec<Seg> {
    vec![
        s(0, Dir::C, SYN, C0, 0, 64240, 0),
        s(100, Dir::S, SYN | ACK, S0, C0 + 1, 65160, 0),
        s(200, Dir::C, ACK, C0 + 1, S0 + 1, 502, 0),
    ]
}

/// Client port `cport` to server port 8000: the handshake, then `rest`, written as `name`.
fn conversation(name: &str, cport: u16, rest: &[Seg]) -> (Conversation, std::path::PathBuf) {
    let conv = Conversation::new(cport, 8000);
    let mut segs = handshake();
    segs.extend_from_slice(rest);
    let cap = write(name, &conv.frames(&segs));
    (conv, cap)
}

/// The first event of `kind`.
fn event<'a>(v: &'a [Value], kind: &str) -> &'a Value {
    v.iter()
        .find(|o| o["type"] == "event" && o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event"))
}

#[test]
fn reset_after_data() {
    let (conv, cap) = conversation(
        "explain-reset",
        40000,
        &[
            s(1000, Dir::C, PSH | ACK, C0 + 1, S0 + 1, 502, 100),
            s(1100, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            s(1200, Dir::S, PSH | ACK, S0 + 1, C0 + 101, 509, 20),
            s(1300, Dir::C, RST | ACK, C0 + 101, S0 + 21, 0, 0),
        ],
    );
    let (out, _) = run(&cap, &["--explain", "--summary"]);
    assert_lines_unchanged(&cap, out.split("\n\n").next().unwrap(), &[]);
    let n = notes(&out);
    assert_eq!(
        n.last().unwrap(),
        &(
            7,
            format!(
                "reset: {} aborts the connection (RST) while open, after sending 100 bytes and receiving 20",
                conv.client_ep()
            )
        ),
        "{out}"
    );
    let row = out.lines().last().unwrap();
    assert!(row.contains("RESET"), "{row}");
    assert!(row.ends_with("RST by client"), "{row}");
    assert!(row.contains("100/20"), "{row}");
    let (out, _) = run(&cap, &["--json", "--no-lines"]);
    let v = json_lines(&out);
    let reset = event(&v, "reset");
    assert_eq!(reset["bytes_sent"], 100);
    assert_eq!(reset["bytes_received"], 20);
    assert_eq!(reset["while"], "open");
    let rows = of_type(&v, "summary");
    assert_eq!(rows[0]["end"], "rst");
    assert_eq!(rows[0]["end_by"], "client");
}

#[test]
fn retransmitted_data_segment() {
    let (conv, cap) = conversation(
        "explain-retrans",
        40001,
        &[
            s(1000, Dir::C, PSH | ACK, C0 + 1, S0 + 1, 502, 100),
            // Not acknowledged: the same bytes again 200 ms later.
            s(201_000, Dir::C, PSH | ACK, C0 + 1, S0 + 1, 502, 100),
            s(201_100, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
        ],
    );
    let (out, _) = run(&cap, &["--explain", "--summary"]);
    let n = notes(&out);
    assert_eq!(
        n[3],
        (
            5,
            format!(
                "retransmission: {} sends bytes 1:101 again (not acknowledged by {} in time, or lost)",
                conv.client_ep(),
                conv.server_ep()
            )
        ),
        "{out}"
    );
    assert_eq!(n.len(), 4, "{out}");
    let row = out.lines().last().unwrap();
    assert!(row.contains("1/0"), "retrans column: {row}");
    assert!(row.contains("ESTABLISHED"), "{row}");
    assert!(row.ends_with("still open"), "{row}");
    let v = json_lines(&run(&cap, &["--json", "--no-lines"]).0);
    assert_eq!(
        of_type(&v, "summary")[0]["retransmissions"],
        serde_json::json!([1, 0])
    );
    let r = event(&v, "retransmission");
    assert_eq!(
        (r["start"].as_u64(), r["end"].as_u64()),
        (Some(1), Some(101))
    );
}

#[test]
fn out_of_order_segments() {
    let (conv, cap) = conversation(
        "explain-ooo",
        40002,
        &[
            s(1000, Dir::C, ACK, C0 + 1, S0 + 1, 502, 100),
            s(1100, Dir::C, ACK, C0 + 201, S0 + 1, 502, 100),
            // Sent before the segment that passed it (an older IP ID): reordered.
            Seg {
                ip_id: Some(0x10),
                ..s(1200, Dir::C, ACK, C0 + 101, S0 + 1, 502, 100)
            },
            s(1300, Dir::S, ACK, S0 + 1, C0 + 301, 509, 0),
        ],
    );
    let (out, _) = run(&cap, &["--explain"]);
    let c = conv.client_ep();
    assert_eq!(
        notes(&out)[3..],
        [
            (
                5,
                format!(
                    "out-of-order: {c} sends bytes 201:301 but 101:201 before them were not seen (lost before this point, or arriving late)"
                )
            ),
            (
                6,
                format!("out-of-order: bytes 101:201 from {c} arrive late, filling the gap")
            ),
        ],
        "{out}"
    );
}

#[test]
fn zero_window_and_reopening() {
    let (conv, cap) = conversation(
        "explain-zwin",
        40003,
        &[
            s(1000, Dir::S, PSH | ACK, S0 + 1, C0 + 1, 509, 1000),
            s(1100, Dir::C, ACK, C0 + 1, S0 + 1001, 0, 0),
            s(251_100, Dir::C, ACK, C0 + 1, S0 + 1001, 502, 0),
            s(251_200, Dir::S, PSH | ACK, S0 + 1001, C0 + 1, 509, 1000),
        ],
    );
    let (out, _) = run(&cap, &["--explain", "--summary"]);
    let (c, sv) = (conv.client_ep(), conv.server_ep());
    assert_eq!(
        notes(&out)[3..],
        [
            (
                5,
                format!("zero window: {c} can take no more data (win 0); {sv} must pause sending")
            ),
            (
                6,
                format!("window open: {c} can take data again (win 502) after 250.000 ms at zero")
            ),
        ],
        "{out}"
    );
    let v = json_lines(&run(&cap, &["--json"]).0);
    let row = of_type(&v, "summary")[0];
    assert_eq!(row["zero_windows"], serde_json::json!([1, 0]));
    let open = event(&v, "window_open");
    assert_eq!(open["win"], 502);
    assert_eq!(open["after_ns"], 250_000_000);
}

#[test]
fn duplicate_acks_and_fast_retransmit() {
    let (conv, cap) = conversation(
        "explain-dupack",
        40004,
        &[
            s(1000, Dir::C, ACK, C0 + 1, S0 + 1, 502, 100),
            s(1100, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            // 101:201 lost before the capture point.
            s(1200, Dir::C, ACK, C0 + 201, S0 + 1, 502, 100),
            s(1300, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            s(1400, Dir::C, ACK, C0 + 301, S0 + 1, 502, 100),
            s(1500, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            s(1600, Dir::C, ACK, C0 + 401, S0 + 1, 502, 100),
            s(1700, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            s(1800, Dir::C, ACK, C0 + 101, S0 + 1, 502, 100),
            s(1900, Dir::S, ACK, S0 + 1, C0 + 501, 509, 0),
        ],
    );
    let (out, _) = run(&cap, &["--explain", "--summary"]);
    let (c, sv) = (conv.client_ep(), conv.server_ep());
    let dup = |n: u32| {
        format!(
            "duplicate ACK #{n}: {sv} acknowledges 101 again: data from {c} after that is missing"
        )
    };
    let n = notes(&out);
    let dups: Vec<&(usize, String)> = n
        .iter()
        .filter(|(_, t)| t.starts_with("duplicate"))
        .collect();
    assert_eq!(
        dups,
        [
            &(7, dup(1)),
            &(9, dup(2)),
            &(
                11,
                format!("{}; {c} should retransmit it now (fast retransmit)", dup(3))
            ),
        ],
        "{out}"
    );
    // The hole was reported by the duplicate ACKs, and the filler is newer: a fast
    // retransmission, not a late arrival.
    assert!(n.contains(&(
        12,
        format!(
            "fast retransmission: {c} sends bytes 101:201 again, as {sv}'s duplicate ACKs asked"
        )
    )));
    let v = json_lines(&run(&cap, &["--json", "--no-lines"]).0);
    assert_eq!(
        of_type(&v, "summary")[0]["dup_acks"],
        serde_json::json!([0, 3])
    );
    let d: Vec<_> = of_type(&v, "event")
        .into_iter()
        .filter(|e| e["kind"] == "dup_ack")
        .map(|e| (e["ack"].as_u64().unwrap(), e["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(d, [(101, 1), (101, 2), (101, 3)]);
}

#[test]
fn port_reuse_and_client_close() {
    let (conv, cap) = conversation(
        "explain-reuse",
        40005,
        &[
            s(1000, Dir::C, FIN | ACK, C0 + 1, S0 + 1, 502, 0),
            s(1100, Dir::S, FIN | ACK, S0 + 1, C0 + 2, 509, 0),
            s(1200, Dir::C, ACK, C0 + 2, S0 + 2, 502, 0),
            // Same ports, a new ISN, 2 s later.
            s(2_001_200, Dir::C, SYN, 777, 0, 64240, 0),
            s(3_001_200, Dir::C, SYN, 777, 0, 64240, 0),
        ],
    );
    let (out, _) = run(&cap, &["--explain", "--summary"]);
    let (c, sv) = (conv.client_ep(), conv.server_ep());
    assert_eq!(
        notes(&out)[3..],
        [
            (
                4,
                format!(
                    "close: {c} closes first (FIN, active close) after sending 0 bytes and receiving 0"
                )
            ),
            (
                5,
                format!(
                    "close: {sv} closes its side too (FIN, passive close), 0.100 ms after {c}'s FIN"
                )
            ),
            (
                6,
                format!(
                    "closed: {c} acknowledges the last FIN; connection closed after 1.200 ms; {c} (it closed first) keeps the port pair in TIME_WAIT"
                )
            ),
            (
                7,
                format!(
                    "new connection on the same ports: client {c} sends a new SYN (ISN 777); connection #1 on this port pair was closed 2.000 s earlier"
                )
            ),
            (
                7,
                format!("handshake 1/3: client {c} asks {sv} to open a connection (SYN, ISN 777)")
            ),
            (
                8,
                format!(
                    "retransmitted SYN: client {c} has no answer from {sv} and sends the same SYN again (attempt 2, 1.000 s after the first)"
                )
            ),
            (
                8,
                format!(
                    "no answer: {sv} never answered the 2 SYNs from client {c} (host down, packets dropped, or the trace ended)"
                )
            ),
        ],
        "{out}"
    );
    let rows: Vec<&str> = out.lines().rev().take(2).collect();
    assert!(
        rows[1].contains("FIN by client first, then server"),
        "{out}"
    );
    assert!(
        rows[0].contains("SYN_SENT") && rows[0].contains("no answer to 2 SYNs"),
        "{out}"
    );
}

#[test]
fn max_connections_evicts_and_reports() {
    // Ten SYNs from ten ports, a table of 3.
    let frames: Vec<Frame> = (0..10u16)
        .map(|i| {
            let mut tcp = Tcp::new(30000 + i, 80);
            tcp.seq = 1;
            tcp.flags = SYN;
            tcp.window = 1000;
            Frame {
                ts: Duration::from_secs(1704164645) + Duration::from_millis(i as u64),
                data: eth4(&Ipv4::new([10, 0, 0, 1], [10, 0, 0, 2]).tcp(&tcp)),
            }
        })
        .collect();
    let cap = write("explain-evict", &frames);
    let (out, err) = run(&cap, &["--summary", "--no-lines", "--max-connections", "3"]);
    assert!(
        err.contains("tcptrace: 7 connections evicted from the tracker (--max-connections)"),
        "{err}"
    );
    assert!(
        out.starts_with("tcptrace summary: 10 connections (3 tracked now, 7 evicted, 0 expired); --max-connections 3; 4 older rows not shown\n"),
        "{out}"
    );
    // Rows kept: 3 evicted (archive of 3) + 3 tracked.
    assert_eq!(out.lines().count(), 2 + 6, "{out}");
    assert_eq!(out.matches("(evicted: table full)").count(), 3, "{out}");
    // Without the flags: no tracker, no message.
    let (_, err) = run(&cap, &["--max-connections", "3"]);
    assert!(!err.contains("evicted"), "{err}");
}

#[test]
fn bad_max_connections_is_refused() {
    let out = common::tcptrace(&["-r", "/nonexistent", "--max-connections", "0"]);
    assert!(!out.status.success());
}

#[test]
fn graphs_with_r() {
    let (conv, cap) = conversation(
        "explain-graph",
        40010,
        &[
            s(1000, Dir::C, ACK, C0 + 1, S0 + 1, 502, 100),
            s(1100, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            // 101:201 not seen: a hole; the server's duplicate ACKs; the retransmission.
            s(1200, Dir::C, ACK, C0 + 201, S0 + 1, 502, 100),
            s(1300, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            s(1400, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            s(1500, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            s(1600, Dir::C, ACK, C0 + 101, S0 + 1, 502, 100),
            s(1700, Dir::S, ACK, S0 + 1, C0 + 301, 0, 0),
            s(300_000, Dir::S, ACK, S0 + 1, C0 + 301, 509, 0),
        ],
    );
    let dir = common::pcap::scratch(&format!("graphs.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (out, _) = run(&cap, &["--graph", dir.to_str().unwrap(), "--no-lines"]);
    assert_eq!(out, "", "--graph alone prints nothing");
    let index = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    assert!(index.starts_with("<!DOCTYPE html>"), "{index}");
    assert!(index.contains(&conv.client_ep()), "{index}");
    assert!(
        index.contains("<a href=\"conn-1-c2s.svg\">client&gt;server</a>"),
        "{index}"
    );
    // The summary row: 3 data segments, 300 bytes, 1 retransmission (fast).
    assert!(
        index.contains("<td>300/0</td><td>1/0</td><td>fast 1/0"),
        "{index}"
    );
    let svg = std::fs::read_to_string(dir.join("conn-1-c2s.svg")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // Data in black, the retransmission in red, the ACK line in green, the window line in
    // orange, the zero window as a red cross; legend texts.
    for needle in [
        "#000000",
        "#FF0000",
        "#009600",
        "#E68C00",
        "retransmission",
        "zero window",
        "receive window",
    ] {
        assert!(svg.contains(needle), "no {needle} in the graph");
    }
    // The server sent no data, but its SYN: a graph with the handshake marked.
    let svg = std::fs::read_to_string(dir.join("conn-1-s2c.svg")).expect("server's graph");
    assert!(svg.contains("SYN"));

    // A folder that cannot be made: one line, exit 1, nothing written.
    let out = common::tcptrace(&["-r", cap.to_str().unwrap(), "--graph", "/dev/null/graphs"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("tcptrace: --graph: cannot create /dev/null/graphs"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn summary_long_blocks() {
    let (conv, cap) = conversation(
        "explain-long",
        40011,
        &[
            s(1000, Dir::C, ACK, C0 + 1, S0 + 1, 502, 100),
            // Not acknowledged: sent again 200 ms later (a timeout).
            s(201_000, Dir::C, ACK, C0 + 1, S0 + 1, 502, 100),
            s(203_000, Dir::S, ACK, S0 + 1, C0 + 101, 509, 0),
            s(204_000, Dir::C, ACK, C0 + 101, S0 + 1, 502, 50),
            s(206_000, Dir::S, ACK, S0 + 1, C0 + 151, 509, 0),
        ],
    );
    let (out, _) = run(&cap, &["--summary=long", "--no-lines"]);
    let line = |label: &str| -> Vec<String> {
        let l = out
            .lines()
            .find(|l| l.starts_with(&format!("  {label}  ")))
            .unwrap_or_else(|| panic!("no '{label}' in:\n{out}"));
        l[2 + label.len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert!(out.starts_with("tcptrace summary: 1 connection "), "{out}");
    assert!(out.contains(&format!(
        "connection 1: {} > {}, ESTABLISHED, still open",
        conv.client_ep(),
        conv.server_ep()
    )));
    assert_eq!(line("total packets"), ["5", "3"]);
    assert_eq!(line("data packets"), ["3", "0"]);
    assert_eq!(line("data bytes (with retransmissions)"), ["250", "0"]);
    assert_eq!(line("unique bytes"), ["150", "0"]);
    assert_eq!(line("retransmitted data packets"), ["1", "0"]);
    assert_eq!(line("retransmitted packets (all)"), ["1", "0"]);
    assert_eq!(line("segment size min"), ["50", "0"]);
    assert_eq!(line("segment size max"), ["100", "0"]);
    assert_eq!(line("pure ACKs"), ["1", "2"]);
    // RTT: 204 → 206 ms; none from the data sent twice (Karn's rule).
    assert_eq!(line("RTT samples"), ["1", "0"]);
    assert_eq!(line("RTT min"), ["2.000", "ms", "0.000", "ms"]);
    assert_eq!(line("RTT max"), ["2.000", "ms", "0.000", "ms"]);
    assert_eq!(line("other retransmit delays"), ["1", "0"]);
    assert_eq!(
        line("other retransmit delay max"),
        ["200.000", "ms", "0.000", "ms"]
    );
    // These SYNs carry no options.
    assert_eq!(line("MSS requested"), ["-", "-"]);
}
