//! `--json`: one JSON object per line, schema version [`SCHEMA_VERSION`]. Every object has
//! `"v"` and `"type"` (`"segment"`, `"event"` or `"summary"`); the fields are listed in
//! README.md ("JSON output").
//!
//! Objects are streamed into the output buffer field by field ([`Object`]): no
//! `serde_json::Value` is built, and a segment object allocates nothing.

use std::fmt;

use serde::{Serialize, Serializer};

use super::{Output, Seen, Shared};
use crate::attribute::{self, Process};
use crate::decode::{Segment, Timestamp};
use crate::render::seq::SeqTable;
use crate::render::tcpdump::put_flags;
use crate::track::Tracker;
use crate::track::event::{Endpoint, Event, Span};
use crate::track::row::{End, Row};
use tcptrace_common::{DIR_EGRESS, status};

pub const SCHEMA_VERSION: u32 = 1;

/// A process's fields in an object (`--json`, attribution on): `pid`, `tid`, `comm`, `uid`,
/// `user`, `ppid`, `pcomm`, `cgroup`, `container`, each null when unknown.
#[derive(Clone, Copy)]
pub struct JsonFields<'a>(pub Option<&'a Process>);

impl JsonFields<'_> {
    /// Writes the fields into `o`.
    pub fn put(&self, o: &mut Object<'_>) {
        let p = self.0;
        o.field("pid", &p.map(|p| p.pid));
        o.field("tid", &p.map(|p| p.tid));
        o.field("comm", &p.map(|p| &p.comm));
        o.field("uid", &p.map(|p| p.uid));
        o.field("user", &p.and_then(|p| p.user.as_ref()));
        o.field("ppid", &p.and_then(|p| p.ppid));
        o.field("pcomm", &p.and_then(|p| p.pcomm.as_ref()));
        o.field("cgroup", &p.and_then(|p| p.cgroup.as_ref()));
        o.field("container", &p.and_then(|p| p.container.as_ref()));
    }
}

/// RFC 3339 UTC with nanoseconds (`2002-02-01T20:06:32.845356000Z`).
pub fn rfc3339(ts: Timestamp) -> String {
    Rfc3339(ts).to_string()
}

/// [`rfc3339`] without the String: nothing when the time is out of range.
struct Rfc3339(Timestamp);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::new(self.0.secs, self.0.nanos as i32) {
            Ok(t) => write!(f, "{t:.9}"),
            Err(_) => Ok(()),
        }
    }
}

/// A JSON string of what `T` displays (its `to_string()`), escaped as it is written.
struct Text<T>(T);

impl<T: fmt::Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// One JSON object written straight into a buffer: `{`, then `"key":value` for each
/// [`field`](Object::field) (values by serde_json: its escaping and number formatting,
/// `null` for None and for non-finite floats), then `}` at [`end`](Object::end).
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    /// What goes before the next key: `{` for the first, then `,`.
    sep: u8,
}

impl<'a> Object<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Object { out, sep: b'{' }
    }

    /// An object of type `ty` stamped `ts`: `v`, `type`, `ts`, `ts_sec`, `ts_nsec`.
    fn stamped(out: &'a mut Vec<u8>, ty: &str, ts: Timestamp) -> Self {
        let mut o = Object::new(out);
        o.field("v", &SCHEMA_VERSION);
        o.field("type", ty);
        o.field("ts", &Text(Rfc3339(ts)));
        o.field("ts_sec", &ts.secs);
        o.field("ts_nsec", &ts.nanos);
        o
    }

    /// `"key":value`. The key is written as is: a plain name, nothing in it to escape.
    pub fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        debug_assert!(
            key.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'),
            "{key:?}"
        );
        self.out.push(self.sep);
        self.sep = b',';
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        // Numbers, strings and displayed values into a Vec: this cannot fail.
        let _ = value.serialize(&mut serde_json::Serializer::new(&mut *self.out));
    }

    /// The fields of `value` (a struct or map to serde) as this object's own; nothing
    /// for a unit.
    fn flatten<T: Serialize>(&mut self, value: &T) {
        let at = self.out.len();
        let _ = value.serialize(&mut serde_json::Serializer::new(&mut *self.out));
        if self.out.len() > at + 2 && self.out[at] == b'{' {
            // `{"a":1,"b":2}`: the braces go, the fields stay.
            self.out[at] = self.sep;
            self.out.pop();
            self.sep = b',';
        } else {
            self.out.truncate(at);
        }
    }

    /// `[a,b]`: a value per direction, `[client→server, server→client]`.
    fn pair<T: Serialize>(&mut self, key: &str, f: impl Fn(usize) -> T) {
        self.field(key, &[f(0), f(1)]);
    }

    /// An endpoint's three fields: `ADDR.PORT` as tcpdump writes it, the address, the port.
    fn endpoint(&mut self, keys: [&str; 3], ep: &Endpoint) {
        self.field(keys[0], &Text(ep));
        self.field(keys[1], &Text(ep.addr));
        self.field(keys[2], &ep.port);
    }

    /// Closes the object.
    pub fn end(self) {
        if self.sep == b'{' {
            self.out.push(b'{');
        }
        self.out.push(b'}');
    }
}

/// Writes segment objects; keeps tcpdump's relative-number table for `rel_seq`/`rel_ack`.
#[derive(Default)]
pub struct SegmentWriter {
    seq: SeqTable,
    /// Scratch for the `flags` and `options` text.
    flags: Vec<u8>,
    options: Vec<u8>,
}

impl SegmentWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one segment object and a newline. `line`: the tcpdump line (without its
    /// newline), if one is printed for it; `conn`: its connection id when tracking;
    /// `process`: the process fields (attribution on): pid, comm, uid, user, ppid, pcomm,
    /// cgroup, container, each null when unknown.
    pub fn write_with(
        &mut self,
        seg: &Segment,
        conn: Option<u64>,
        line: Option<&str>,
        process: Option<JsonFields<'_>>,
        out: &mut Vec<u8>,
    ) {
        let rel = self.seq.numbers(seg, false);
        self.flags.clear();
        put_flags(&mut self.flags, seg.flag_byte());
        self.options.clear();
        crate::render::put_hex_bytes(&mut self.options, seg.option_bytes());
        let mut o = Object::stamped(out, "segment", seg.ts);
        if let Some(c) = conn {
            o.field("conn", &c);
        }
        o.field("ifindex", &seg.ifindex);
        let direction = if seg.direction == DIR_EGRESS {
            "egress"
        } else {
            "ingress"
        };
        o.field("direction", direction);
        o.field("ip", &(if seg.is_v6() { 6u8 } else { 4 }));
        o.field("src", &Text(seg.src));
        o.field("dst", &Text(seg.dst));
        o.field("sport", &seg.sport);
        o.field("dport", &seg.dport);
        o.field("flags", std::str::from_utf8(&self.flags).unwrap_or(""));
        o.field("flag_bits", &seg.flags);
        o.field("seq", &seg.seq);
        o.field("ack", &seg.ack);
        o.field("rel_seq", &rel.seq);
        o.field("rel_ack", &rel.ack);
        o.field("win", &seg.window);
        o.field("urg", &seg.urg_ptr);
        o.field("hdr_len", &seg.hdr_len);
        o.field("payload_len", &seg.payload_len);
        o.field("tcp_len", &seg.tcp_len);
        o.field("ip_len", &seg.ip_len);
        o.field("ihl", &seg.ihl);
        o.field("ip_id", &seg.ip_id);
        o.field("frag", &seg.frag);
        o.field("ttl", &seg.ttl);
        o.field("tos", &seg.tos);
        o.field("flow_label", &seg.flow_label);
        o.field("ext_headers", seg.ext_headers());
        o.field("options", std::str::from_utf8(&self.options).unwrap_or(""));
        o.field("checksums", &(seg.status & status::CSUM_COMPUTED != 0));
        o.field("ip_csum", &seg.ip_csum);
        o.field("ip_csum_calc", &seg.ip_csum_calc);
        o.field("tcp_csum", &seg.tcp_csum);
        o.field("tcp_csum_calc", &seg.tcp_csum_calc);
        o.field("frame_len", &seg.frame_len);
        o.field("l3_off", &seg.l3_off);
        o.field("l4_off", &seg.l4_off);
        o.field("status", &seg.status);
        o.field("line", &line);
        if let Some(p) = process {
            p.put(&mut o);
        }
        o.end();
        out.push(b'\n');
    }
}

/// A span in nanoseconds, null when unknown.
fn ns(s: Option<Span>) -> Option<u64> {
    s.map(|s| s.0)
}

/// Appends one event object and a newline, with the process fields (attribution on) after
/// the others.
pub fn write_event_with(e: &Event, process: Option<JsonFields<'_>>, out: &mut Vec<u8>) {
    let mut o = Object::stamped(out, "event", e.ts);
    o.field("conn", &e.conn);
    o.field("kind", e.kind.name());
    o.endpoint(["from", "from_addr", "from_port"], &e.from);
    o.endpoint(["to", "to_addr", "to_port"], &e.to);
    o.field("about_segment", &e.about_line);
    o.field("text", &Text(e));
    o.flatten(&e.kind);
    if let Some(p) = process {
        p.put(&mut o);
    }
    o.end();
    out.push(b'\n');
}

/// Appends one summary-row object and a newline.
pub fn write_row(r: &Row, out: &mut Vec<u8>) {
    write_row_with(r, None, out);
}

/// [`write_row`] with the processes (attribution on), `[client, server]`, after the
/// others: the fields of the client's (else the server's), then each one's pid and comm.
pub fn write_row_with(r: &Row, procs: Option<[Option<&Process>; 2]>, out: &mut Vec<u8>) {
    let mut o = Object::new(out);
    row_fields(&mut o, r);
    if let Some([c, s]) = procs {
        JsonFields(c.or(s)).put(&mut o);
        o.field("client_pid", &c.map(|p| p.pid));
        o.field("client_comm", &c.map(|p| &p.comm));
        o.field("server_pid", &s.map(|p| p.pid));
        o.field("server_comm", &s.map(|p| &p.comm));
    }
    o.end();
    out.push(b'\n');
}

fn row_fields(o: &mut Object, r: &Row) {
    o.field("v", &SCHEMA_VERSION);
    o.field("type", "summary");
    o.field("conn", &r.conn);
    o.endpoint(["client", "client_addr", "client_port"], &r.client);
    o.endpoint(["server", "server_addr", "server_port"], &r.server);
    o.field("roles_known", &r.roles_known);
    o.field("state", r.state.name());
    o.field("start", &Text(Rfc3339(r.start)));
    o.field("start_sec", &r.start.secs);
    o.field("start_nsec", &r.start.nanos);
    o.field("duration_ns", &r.duration.0);
    o.field("handshake_rtt_ns", &ns(r.handshake_rtt));
    o.field("segments", &r.segments);
    o.field("bytes", &r.bytes);
    o.field("retransmissions", &r.retransmissions);
    o.field("dup_acks", &r.dup_acks);
    o.field("zero_windows", &r.zero_windows);
    o.field("drops", &r.drops);
    o.field("last_drop_reason", &r.last_drop);
    o.field("reset_reason", &r.reset_reason);
    o.field("retransmits_not_on_wire", &r.unseen_retransmits);
    for (name, get) in crate::track::row::COUNT_FIELDS {
        o.pair(name, |i| get(&r.counts[i]));
    }
    // The classic tcptrace's numbers, each [client→server, server→client].
    let st = &r.stats;
    let secs = r.duration.0 as f64 / 1e9;
    o.pair("data_segments", |i| st[i].data_segs);
    o.pair("data_bytes", |i| st[i].data_bytes);
    o.pair("rexmt_data_segments", |i| st[i].rexmt_segs);
    o.pair("rexmt_data_bytes", |i| st[i].rexmt_bytes);
    o.pair("hole_fills", |i| st[i].hole_fills);
    o.pair("pure_acks", |i| st[i].pure_acks);
    o.pair("sack_segments", |i| st[i].sack_segs);
    o.pair("syn_segments", |i| st[i].syn_segs);
    o.pair("fin_segments", |i| st[i].fin_segs);
    o.pair("segment_size_min", |i| st[i].seg_size.min);
    o.pair("segment_size_avg", |i| st[i].seg_size.avg());
    o.pair("segment_size_max", |i| st[i].seg_size.max);
    o.pair("window_min", |i| st[i].window.min);
    o.pair("window_avg", |i| st[i].window.avg());
    o.pair("window_max", |i| st[i].window.max);
    o.pair("idle_max_ns", |i| st[i].idle_max);
    o.pair("throughput_bps", |i| {
        (secs > 0.0).then(|| r.bytes[i] as f64 / secs)
    });
    o.pair("rtt_samples", |i| st[i].rtt.n);
    o.pair("rtt_min_ns", |i| st[i].rtt.min);
    o.pair("rtt_avg_ns", |i| st[i].rtt.avg());
    o.pair("rtt_max_ns", |i| st[i].rtt.max);
    o.pair("rtt_stdev_ns", |i| st[i].rtt.stdev());
    o.pair("fast_retransmit_delays", |i| st[i].fast_delay.n);
    o.pair("fast_retransmit_delay_avg_ns", |i| st[i].fast_delay.avg());
    o.pair("other_retransmit_delays", |i| st[i].rto_delay.n);
    o.pair("other_retransmit_delay_min_ns", |i| st[i].rto_delay.min);
    o.pair("other_retransmit_delay_avg_ns", |i| st[i].rto_delay.avg());
    o.pair("other_retransmit_delay_max_ns", |i| st[i].rto_delay.max);
    let so = &r.syn_opts;
    o.pair("mss", |i| so[i].mss);
    o.pair("wscale", |i| so[i].wscale);
    o.pair("sack_permitted", |i| so[i].sack_ok);
    o.pair("timestamps", |i| so[i].timestamps);
    o.pair("fast_open", |i| so[i].tfo);
    o.pair("syn_data_bytes", |i| so[i].syn_data);
    o.field("end", r.end_name());
    o.field("end_by", &r.end_by());
    let attempts = match r.end {
        End::Refused { attempts } => Some(attempts),
        End::NoAnswer { syns } | End::IcmpRefused { syns, .. } => Some(syns),
        _ => None,
    };
    o.field("attempts", &attempts);
    o.field("fate", r.fate_name());
    o.field("end_text", &r.end_text());
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
        let fields = sh.owners.is_some().then(|| JsonFields(s.shown()));
        self.writer.write_with(s.seg, s.conn, text, fields, out);
    }

    fn event(&mut self, e: &Event, sh: &mut Shared, out: &mut Vec<u8>) {
        let fields = sh
            .owners
            .as_ref()
            .map(|o| JsonFields(o.actor(e).map(|(_, p)| &**p)));
        write_event_with(e, fields, out);
    }

    fn summary(&mut self, _t: &Tracker, rows: &[Row], sh: &mut Shared, out: &mut Vec<u8>) {
        for r in rows {
            let procs = sh
                .owners
                .as_ref()
                .map(|o| [&r.client, &r.server].map(|ep| o.of(r.conn, ep).map(|p| &**p)));
            write_row_with(r, procs, out);
        }
    }
}

#[cfg(test)]
mod tests;
