//! `--json`: one JSON object per line, schema version [`SCHEMA_VERSION`]. Every object has
//! `"v"` and `"type"` (`"segment"`, `"event"` or `"summary"`); the fields are listed in
//! README.md ("JSON output").

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Output, Seen, Shared};
use crate::attribute;
use crate::decode::{IcmpKind, Segment, Timestamp};
use crate::render::seq::SeqTable;
use crate::render::tcpdump::put_flags;
use crate::track::Tracker;
use crate::track::event::{Event, EventKind};
use crate::track::row::{End, Row};
use tcptrace_common::{DIR_EGRESS, status};

pub const SCHEMA_VERSION: u32 = 1;

/// RFC 3339 UTC with nanoseconds (`2002-02-01T20:06:32.845356000Z`).
pub fn rfc3339(ts: Timestamp) -> String {
    match jiff::Timestamp::new(ts.secs, ts.nanos as i32) {
        Ok(t) => format!("{t:.9}"),
        Err(_) => String::new(),
    }
}

#[derive(Serialize)]
struct SegmentJson<'a> {
    v: u32,
    #[serde(rename = "type")]
    ty: &'static str,
    ts: String,
    ts_sec: i64,
    ts_nsec: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    conn: Option<u64>,
    ifindex: u32,
    direction: &'static str,
    ip: u8,
    src: String,
    dst: String,
    sport: u16,
    dport: u16,
    flags: &'a str,
    flag_bits: u16,
    seq: u32,
    ack: u32,
    rel_seq: u32,
    rel_ack: u32,
    win: u16,
    urg: u16,
    hdr_len: u8,
    payload_len: u32,
    tcp_len: u32,
    ip_len: u32,
    ihl: u8,
    ip_id: u32,
    frag: u16,
    ttl: u8,
    tos: u8,
    flow_label: u32,
    ext_headers: &'a [u8],
    options: String,
    checksums: bool,
    ip_csum: u16,
    ip_csum_calc: u16,
    tcp_csum: u16,
    tcp_csum_calc: u16,
    frame_len: u32,
    l3_off: u16,
    l4_off: u16,
    status: u16,
    line: Option<&'a str>,
    /// The local process (attribution on): pid, comm, uid, user, ppid, pcomm, cgroup,
    /// container, each null when unknown.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    process: Option<Map<String, Value>>,
}

/// Writes segment objects; keeps tcpdump's relative-number table for `rel_seq`/`rel_ack`.
#[derive(Default)]
pub struct SegmentWriter {
    seq: SeqTable,
}

impl SegmentWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one segment object and a newline. `line`: the tcpdump line (without its
    /// newline), if one is printed for it; `conn`: its connection id when tracking;
    /// `process`: the process fields (attribution on).
    pub fn write_with(
        &mut self,
        seg: &Segment,
        conn: Option<u64>,
        line: Option<&str>,
        process: Option<Map<String, Value>>,
        out: &mut Vec<u8>,
    ) {
        let rel = self.seq.numbers(seg, false);
        let mut flags = Vec::with_capacity(8);
        put_flags(&mut flags, seg.flag_byte());
        let flags = std::str::from_utf8(&flags).unwrap_or("");
        let mut options = Vec::with_capacity(seg.opt_len as usize * 2);
        crate::render::put_hex_bytes(&mut options, seg.option_bytes());
        let j = SegmentJson {
            v: SCHEMA_VERSION,
            ty: "segment",
            ts: rfc3339(seg.ts),
            ts_sec: seg.ts.secs,
            ts_nsec: seg.ts.nanos,
            conn,
            ifindex: seg.ifindex,
            direction: if seg.direction == DIR_EGRESS {
                "egress"
            } else {
                "ingress"
            },
            ip: if seg.is_v6() { 6 } else { 4 },
            src: seg.src.to_string(),
            dst: seg.dst.to_string(),
            sport: seg.sport,
            dport: seg.dport,
            flags,
            flag_bits: seg.flags,
            seq: seg.seq,
            ack: seg.ack,
            rel_seq: rel.seq,
            rel_ack: rel.ack,
            win: seg.window,
            urg: seg.urg_ptr,
            hdr_len: seg.hdr_len,
            payload_len: seg.payload_len,
            tcp_len: seg.tcp_len,
            ip_len: seg.ip_len,
            ihl: seg.ihl,
            ip_id: seg.ip_id,
            frag: seg.frag,
            ttl: seg.ttl,
            tos: seg.tos,
            flow_label: seg.flow_label,
            ext_headers: seg.ext_headers(),
            options: String::from_utf8(options).unwrap_or_default(),
            checksums: seg.status & status::CSUM_COMPUTED != 0,
            ip_csum: seg.ip_csum,
            ip_csum_calc: seg.ip_csum_calc,
            tcp_csum: seg.tcp_csum,
            tcp_csum_calc: seg.tcp_csum_calc,
            frame_len: seg.frame_len,
            l3_off: seg.l3_off,
            l4_off: seg.l4_off,
            status: seg.status,
            line,
            process,
        };
        // Serializing plain fields into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &j);
        out.push(b'\n');
    }
}

fn ends(m: &mut Map<String, Value>, prefix: &str, ep: &crate::track::event::Endpoint) {
    m.insert(prefix.to_string(), json!(ep.to_string()));
    m.insert(format!("{prefix}_addr"), json!(ep.addr.to_string()));
    m.insert(format!("{prefix}_port"), json!(ep.port));
}

fn ns(s: Option<crate::track::event::Span>) -> Value {
    s.map_or(Value::Null, |s| json!(s.0))
}

/// Appends one event object and a newline, with extra fields (the process, attribution
/// on) after the others.
pub fn write_event_with(e: &Event, extra: Option<Map<String, Value>>, out: &mut Vec<u8>) {
    let mut m = Map::new();
    m.insert("v".into(), json!(SCHEMA_VERSION));
    m.insert("type".into(), json!("event"));
    m.insert("ts".into(), json!(rfc3339(e.ts)));
    m.insert("ts_sec".into(), json!(e.ts.secs));
    m.insert("ts_nsec".into(), json!(e.ts.nanos));
    m.insert("conn".into(), json!(e.conn));
    m.insert("kind".into(), json!(e.kind.name()));
    ends(&mut m, "from", &e.from);
    ends(&mut m, "to", &e.to);
    m.insert("about_segment".into(), json!(e.about_line));
    m.insert("text".into(), json!(e.to_string()));
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    match &e.kind {
        EventKind::Handshake1 { isn } => put("isn", json!(isn)),
        EventKind::Handshake2 {
            acked_isn,
            after_syn,
        } => {
            put("acked_isn", json!(acked_isn));
            put("after_syn_ns", ns(*after_syn));
        }
        EventKind::Handshake3 { after_synack, rtt } => {
            put("after_synack_ns", ns(*after_synack));
            put("handshake_rtt_ns", ns(*rtt));
        }
        EventKind::SynRetransmit {
            attempt,
            since_first,
        } => {
            put("attempt", json!(attempt));
            put("since_first_ns", json!(since_first.0));
        }
        EventKind::SynAckRetransmit { attempt } | EventKind::Refused { attempt } => {
            put("attempt", json!(attempt))
        }
        EventKind::Retry {
            attempt,
            isn,
            since_reset,
        } => {
            put("attempt", json!(attempt));
            put("isn", json!(isn));
            put("since_reset_ns", json!(since_reset.0));
        }
        EventKind::GaveUp { attempts } => put("attempts", json!(attempts)),
        EventKind::NoAnswer { syns } => put("syns", json!(syns)),
        EventKind::DroppedHere {
            syns,
            dropped,
            reason,
            ..
        } => {
            put("syns", json!(syns));
            put("dropped", json!(dropped));
            put("reason", json!(reason));
        }
        EventKind::Icmp {
            router,
            what,
            seq,
            sent_len,
            ..
        } => {
            put("router", json!(router.to_string()));
            put("seq", json!(seq));
            put("sent_len", json!(sent_len));
            let (text, mtu) = match what {
                IcmpKind::Unreachable(k) => (format!("{k} unreachable"), None),
                IcmpKind::PathMtu(m) => ("path mtu".to_string(), Some(*m)),
                IcmpKind::TimeExceeded => ("time exceeded".to_string(), None),
                IcmpKind::ParameterProblem => ("parameter problem".to_string(), None),
            };
            put("icmp", json!(text));
            put("mtu", json!(mtu));
        }
        EventKind::AcceptQueueFull {
            syns,
            queued,
            overflows,
        } => {
            put("syns", json!(syns));
            put("queued", json!(queued));
            put("listen_overflows", json!(overflows));
        }
        EventKind::IcmpRefused { syns, router, what } => {
            put("syns", json!(syns));
            put("router", json!(router.to_string()));
            put("icmp", json!(what));
        }
        EventKind::Dropped {
            seq,
            after,
            ingress,
            ..
        } => {
            put("seq", json!(seq));
            put(
                "direction",
                json!(if *ingress { "ingress" } else { "egress" }),
            );
            if let Some((reason, function)) = e.kind.drop_cause() {
                put("reason", json!(reason));
                put("function", json!(function));
            }
            put("after_wire_ns", ns(*after));
        }
        EventKind::ResetReason { reason } => put("reason", json!(reason)),
        EventKind::RetransmitUnseen { seq, err } => {
            put("seq", json!(seq));
            put("error", json!(err));
        }
        EventKind::PortReuse {
            isn,
            previous,
            previous_state,
            since_end,
        } => {
            put("isn", json!(isn));
            put("previous_conn", json!(previous));
            put("previous_state", json!(previous_state));
            put("since_previous_ns", ns(*since_end));
        }
        EventKind::ActiveClose { sent, received } => {
            put("bytes_sent", json!(sent));
            put("bytes_received", json!(received));
        }
        EventKind::PassiveClose { after_fin } => put("after_fin_ns", json!(after_fin.0)),
        EventKind::Closed {
            duration,
            time_wait,
        } => {
            put("duration_ns", json!(duration.0));
            put(
                "time_wait",
                time_wait.map_or(json!("both"), |t| json!(t.to_string())),
            );
        }
        EventKind::Reset {
            sent,
            received,
            state,
        } => {
            put("bytes_sent", json!(sent));
            put("bytes_received", json!(received));
            put("while", json!(state));
        }
        EventKind::Retransmission { start, end }
        | EventKind::LateArrival { start, end }
        | EventKind::FastRetransmission { start, end }
        | EventKind::SpuriousRetransmission { start, end }
        | EventKind::Dsack { start, end } => {
            put("start", json!(start));
            put("end", json!(end));
        }
        EventKind::OutOfOrder {
            start,
            end,
            missing_start,
            missing_end,
        } => {
            put("start", json!(start));
            put("end", json!(end));
            put("missing_start", json!(missing_start));
            put("missing_end", json!(missing_end));
        }
        // As a FIN past a hole: an empty range at the hole's end.
        EventKind::AckPastUnseen {
            missing_start: from,
            missing_end: to,
        } => {
            for (k, v) in [
                ("start", to),
                ("end", to),
                ("missing_start", from),
                ("missing_end", to),
            ] {
                put(k, json!(v));
            }
        }
        EventKind::WindowOpen { window, after } => {
            put("win", json!(window));
            put("after_ns", json!(after.0));
        }
        EventKind::DupAck { ack, count } => {
            put("ack", json!(ack));
            put("count", json!(count));
        }
        EventKind::AckedUnseen {
            start,
            end,
            missing,
        } => {
            put("start", json!(start));
            put("end", json!(end));
            put("missing_bytes", json!(missing));
        }
        EventKind::Midstream
        | EventKind::KeepAlive
        | EventKind::KeepAliveAck
        | EventKind::ZeroWindowProbe
        | EventKind::ZeroWindowProbeAck
        | EventKind::WindowFull
        | EventKind::SimultaneousClose
        | EventKind::HalfClose
        | EventKind::FinRetransmit
        | EventKind::ZeroWindow => {}
    }
    if let Some(extra) = extra {
        m.extend(extra);
    }
    let _ = serde_json::to_writer(&mut *out, &Value::Object(m));
    out.push(b'\n');
}

/// Appends one summary-row object and a newline.
pub fn write_row(r: &Row, out: &mut Vec<u8>) {
    write_row_with(r, None, out);
}

/// [`write_row`] with extra fields (the processes, attribution on) after the others.
pub fn write_row_with(r: &Row, extra: Option<Map<String, Value>>, out: &mut Vec<u8>) {
    let mut m = Map::new();
    m.insert("v".into(), json!(SCHEMA_VERSION));
    m.insert("type".into(), json!("summary"));
    m.insert("conn".into(), json!(r.conn));
    ends(&mut m, "client", &r.client);
    ends(&mut m, "server", &r.server);
    m.insert("roles_known".into(), json!(r.roles_known));
    m.insert("state".into(), json!(r.state.name()));
    m.insert("start".into(), json!(rfc3339(r.start)));
    m.insert("start_sec".into(), json!(r.start.secs));
    m.insert("start_nsec".into(), json!(r.start.nanos));
    m.insert("duration_ns".into(), json!(r.duration.0));
    m.insert("handshake_rtt_ns".into(), ns(r.handshake_rtt));
    m.insert("segments".into(), json!(r.segments));
    m.insert("bytes".into(), json!(r.bytes));
    m.insert("retransmissions".into(), json!(r.retransmissions));
    m.insert("dup_acks".into(), json!(r.dup_acks));
    m.insert("zero_windows".into(), json!(r.zero_windows));
    m.insert("drops".into(), json!(r.drops));
    m.insert("last_drop_reason".into(), json!(r.last_drop));
    m.insert("reset_reason".into(), json!(r.reset_reason));
    m.insert(
        "retransmits_not_on_wire".into(),
        json!(r.unseen_retransmits),
    );
    for (name, get) in crate::track::row::COUNT_FIELDS {
        m.insert(name.into(), json!([get(&r.counts[0]), get(&r.counts[1])]));
    }
    // The classic tcptrace's numbers, each [client→server, server→client].
    let st = &r.stats;
    let secs = r.duration.0 as f64 / 1e9;
    let mut pair = |k: &str, f: &dyn Fn(usize) -> Value| {
        m.insert(k.to_string(), Value::Array(vec![f(0), f(1)]));
    };
    pair("data_segments", &|i| json!(st[i].data_segs));
    pair("data_bytes", &|i| json!(st[i].data_bytes));
    pair("rexmt_data_segments", &|i| json!(st[i].rexmt_segs));
    pair("rexmt_data_bytes", &|i| json!(st[i].rexmt_bytes));
    pair("hole_fills", &|i| json!(st[i].hole_fills));
    pair("pure_acks", &|i| json!(st[i].pure_acks));
    pair("sack_segments", &|i| json!(st[i].sack_segs));
    pair("syn_segments", &|i| json!(st[i].syn_segs));
    pair("fin_segments", &|i| json!(st[i].fin_segs));
    pair("segment_size_min", &|i| json!(st[i].seg_size.min));
    pair("segment_size_avg", &|i| json!(st[i].seg_size.avg()));
    pair("segment_size_max", &|i| json!(st[i].seg_size.max));
    pair("window_min", &|i| json!(st[i].window.min));
    pair("window_avg", &|i| json!(st[i].window.avg()));
    pair("window_max", &|i| json!(st[i].window.max));
    pair("idle_max_ns", &|i| json!(st[i].idle_max));
    pair("throughput_bps", &|i| {
        if secs > 0.0 {
            json!(r.bytes[i] as f64 / secs)
        } else {
            Value::Null
        }
    });
    pair("rtt_samples", &|i| json!(st[i].rtt.n));
    pair("rtt_min_ns", &|i| json!(st[i].rtt.min));
    pair("rtt_avg_ns", &|i| json!(st[i].rtt.avg()));
    pair("rtt_max_ns", &|i| json!(st[i].rtt.max));
    pair("rtt_stdev_ns", &|i| json!(st[i].rtt.stdev()));
    pair("fast_retransmit_delays", &|i| json!(st[i].fast_delay.n));
    pair("fast_retransmit_delay_avg_ns", &|i| {
        json!(st[i].fast_delay.avg())
    });
    pair("other_retransmit_delays", &|i| json!(st[i].rto_delay.n));
    pair("other_retransmit_delay_min_ns", &|i| {
        json!(st[i].rto_delay.min)
    });
    pair("other_retransmit_delay_avg_ns", &|i| {
        json!(st[i].rto_delay.avg())
    });
    pair("other_retransmit_delay_max_ns", &|i| {
        json!(st[i].rto_delay.max)
    });
    let o = &r.syn_opts;
    pair("mss", &|i| json!(o[i].mss));
    pair("wscale", &|i| json!(o[i].wscale));
    pair("sack_permitted", &|i| json!(o[i].sack_ok));
    pair("timestamps", &|i| json!(o[i].timestamps));
    pair("fast_open", &|i| json!(o[i].tfo));
    pair("syn_data_bytes", &|i| json!(o[i].syn_data));
    m.insert("end".into(), json!(r.end_name()));
    m.insert("end_by".into(), json!(r.end_by()));
    let attempts = match r.end {
        End::Refused { attempts } => json!(attempts),
        End::NoAnswer { syns } | End::IcmpRefused { syns, .. } => json!(syns),
        _ => Value::Null,
    };
    m.insert("attempts".into(), attempts);
    m.insert("fate".into(), json!(r.fate_name()));
    m.insert("end_text".into(), json!(r.end_text()));
    if let Some(extra) = extra {
        m.extend(extra);
    }
    let _ = serde_json::to_writer(&mut *out, &Value::Object(m));
    out.push(b'\n');
}

/// The `--json` output: segment objects (unless `--no-lines`), events, and summary rows.
pub struct Json {
    writer: SegmentWriter,
    lines: bool,
    /// `--process`: the `line` field ends with the process, as the printed line would.
    show_process: bool,
    line: Vec<u8>,
}

impl Json {
    pub fn new(lines: bool, show_process: bool) -> Json {
        Json {
            writer: SegmentWriter::new(),
            lines,
            show_process,
            line: Vec::with_capacity(512),
        }
    }
}

impl Output for Json {
    fn segment(&mut self, s: &Seen, sh: &mut Shared, out: &mut Vec<u8>) {
        if !self.lines {
            return;
        }
        self.line.clear();
        sh.renderer.render(s.seg, &mut self.line);
        if self.show_process {
            attribute::append_to_line(&mut self.line, 0, s.shown());
        }
        let text = std::str::from_utf8(&self.line)
            .ok()
            .map(|l| l.trim_end_matches('\n'))
            .filter(|l| !l.is_empty());
        let fields = sh
            .owners
            .is_some()
            .then(|| attribute::json_fields(s.shown()));
        self.writer.write_with(s.seg, s.conn, text, fields, out);
    }

    fn event(&mut self, e: &Event, sh: &mut Shared, out: &mut Vec<u8>) {
        let fields = sh
            .owners
            .as_ref()
            .map(|o| attribute::json_fields(o.actor(e).map(|(_, p)| &**p)));
        write_event_with(e, fields, out);
    }

    fn summary(&mut self, _t: &Tracker, rows: &[Row], sh: &mut Shared, out: &mut Vec<u8>) {
        for r in rows {
            let fields = sh.owners.as_ref().map(|o| {
                let c = o.of(r.conn, &r.client);
                let s = o.of(r.conn, &r.server);
                let mut m = attribute::json_fields(c.or(s).map(|p| &**p));
                m.insert("client_pid".into(), c.map(|p| p.pid).into());
                m.insert("client_comm".into(), c.map(|p| p.comm.clone()).into());
                m.insert("server_pid".into(), s.map(|p| p.pid).into());
                m.insert("server_comm".into(), s.map(|p| p.comm.clone()).into());
                m
            });
            write_row_with(r, fields, out);
        }
    }
}
