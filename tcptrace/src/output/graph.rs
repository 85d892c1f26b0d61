//! `--graph DIR`: a time-sequence graph per connection and direction (the Stevens /
//! classic tcptrace kind) as SVG, plus `DIR/index.html` listing the connections with their
//! summary rows. Sequence numbers over time for data segments (retransmissions in red,
//! late arrivals in blue), the other side's ACK line (green) and receive-window line
//! (orange), SACK blocks (purple), zero windows (red crosses), SYN and FIN (black
//! triangles). Points are kept per connection up to [`MAX_POINTS`] (later ones are
//! counted, not drawn) and for at most `max_connections` connections.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{Output, Seen, Shared};
use crate::decode::{Segment, Timestamp};
use crate::track::Tracker;
use crate::track::event::{Endpoint, Event, EventKind, ts_ns};
use crate::track::opts;
use crate::track::row::Row;
use tcptrace_common::tcp_flags::{ACK, FIN, SYN};

/// Points kept per connection (data segments, ACKs, SACK blocks, marks).
pub const MAX_POINTS: usize = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataKind {
    New,
    Retransmitted,
    Late,
}

/// One direction: what its sender sent, and what the receiver answered.
#[derive(Default)]
struct DirSeries {
    /// The sender's first sequence number (its ISN when the SYN was seen).
    base: Option<u32>,
    /// Window scale the receiver announced (applies to the windows it advertises).
    rcv_scale: u8,
    data: Vec<(f64, u32, u32, DataKind)>,
    /// The receiver's ACKs and right window edges (ack + window).
    acks: Vec<(f64, u32, u32)>,
    sacks: Vec<(f64, u32, u32)>,
    zero: Vec<(f64, u32)>,
    marks: Vec<(f64, u32, &'static str)>,
}

struct ConnSeries {
    start: Timestamp,
    ends: [Endpoint; 2],
    dirs: [DirSeries; 2],
    points: usize,
    dropped: u64,
}

/// Records what the graphs need and writes them.
pub struct Graphs {
    dir: PathBuf,
    max_conns: usize,
    conns: HashMap<u64, ConnSeries>,
    /// Connections not recorded because `max_conns` were already.
    pub conns_dropped: u64,
    /// The first error met writing them.
    error: Option<io::Error>,
}

fn rel(base: Option<u32>, v: u32) -> u32 {
    base.map_or(0, |b| v.wrapping_sub(b))
}

impl Graphs {
    /// Creates `dir` if needed.
    pub fn new(dir: &Path, max_conns: usize) -> io::Result<Graphs> {
        std::fs::create_dir_all(dir)?;
        Ok(Graphs {
            dir: dir.to_path_buf(),
            max_conns,
            conns: HashMap::new(),
            conns_dropped: 0,
            error: None,
        })
    }

    /// One segment of connection `conn`, with the events it caused.
    pub fn segment(&mut self, conn: u64, seg: &Segment, events: &[Event]) {
        if !self.conns.contains_key(&conn) {
            if self.conns.len() >= self.max_conns {
                self.conns_dropped += 1;
                return;
            }
            let a = Endpoint::new(seg.src, seg.sport);
            let b = Endpoint::new(seg.dst, seg.dport);
            // The SYN-ACK's receiver is the client.
            let ends = if seg.has(SYN) && seg.has(ACK) {
                [b, a]
            } else {
                [a, b]
            };
            self.conns.insert(
                conn,
                ConnSeries {
                    start: seg.ts,
                    ends,
                    dirs: [DirSeries::default(), DirSeries::default()],
                    points: 0,
                    dropped: 0,
                },
            );
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.points >= MAX_POINTS {
            c.dropped += 1;
            return;
        }
        let d = usize::from(!(c.ends[0].addr == seg.src && c.ends[0].port == seg.sport));
        let p = 1 - d;
        let t = (ts_ns(seg.ts) - ts_ns(c.start)) as f64 / 1e9;
        let plen = if (seg.hdr_len as u32) <= seg.tcp_len {
            seg.payload_len
        } else {
            0
        };
        let o = opts::parse(seg);
        if seg.has(SYN) {
            c.dirs[d].base = Some(seg.seq);
            // The window scale this side announces applies to the windows it advertises,
            // that is to the other direction's receive-window line.
            c.dirs[p].rcv_scale = o.wscale.unwrap_or(0);
        }
        let me = &mut c.dirs[d];
        if me.base.is_none() {
            me.base = Some(seg.seq);
        }
        let base = me.base;
        let s = rel(base, seg.seq);
        if seg.has(SYN) {
            me.marks.push((t, s, "SYN"));
        }
        if plen > 0 {
            let kind = if events.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::Retransmission { .. }
                        | EventKind::FastRetransmission { .. }
                        | EventKind::SpuriousRetransmission { .. }
                )
            }) {
                DataKind::Retransmitted
            } else if events
                .iter()
                .any(|e| matches!(e.kind, EventKind::LateArrival { .. }))
            {
                DataKind::Late
            } else {
                DataKind::New
            };
            let s = s.wrapping_add(u32::from(seg.has(SYN)));
            me.data.push((t, s, s.wrapping_add(plen), kind));
        }
        if seg.has(FIN) {
            me.marks.push((t, s.wrapping_add(plen), "FIN"));
        }
        // This segment's ACK, window and SACK blocks belong to the other direction.
        if seg.has(ACK) {
            let other = &mut c.dirs[p];
            let base = other.base;
            let a = rel(base, seg.ack);
            let shift = if seg.has(SYN) { 0 } else { other.rcv_scale };
            let edge = a.wrapping_add((seg.window as u32) << shift);
            other.acks.push((t, a, edge));
            if seg.window == 0 {
                other.zero.push((t, a));
            }
            for &(l, r) in o.sack_blocks() {
                other.sacks.push((t, rel(base, l), rel(base, r)));
            }
        }
        c.points += 1 + o.nsack;
    }

    fn file_name(conn: u64, d: usize) -> String {
        format!("conn-{conn}-{}.svg", if d == 0 { "c2s" } else { "s2c" })
    }

    /// Writes every graph and the index (again, replacing the previous ones).
    pub fn write(&self, rows: &[Row]) -> io::Result<()> {
        let mut ids: Vec<u64> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in &ids {
            let c = &self.conns[id];
            for d in 0..2 {
                if c.dirs[d].data.is_empty() && c.dirs[d].marks.is_empty() {
                    continue;
                }
                let title = format!("#{id} {} > {}", c.ends[d], c.ends[1 - d]);
                draw(&self.dir.join(Self::file_name(*id, d)), &title, &c.dirs[d])
                    .map_err(|e| io::Error::other(e.to_string()))?;
            }
        }
        std::fs::write(self.dir.join("index.html"), self.index(rows))
    }

    fn index(&self, rows: &[Row]) -> String {
        let mut h = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>tcptrace connections</title>\n\
             <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style>\n\
             </head><body>\n<h1>tcptrace connections</h1>\n<table>\n<tr><th>#</th><th>client</th><th>server</th>\
             <th>state</th><th>duration</th><th>handshake</th><th>segs c&gt;s/s&gt;c</th><th>bytes c&gt;s/s&gt;c</th>\
             <th>retrans</th><th>analysis</th><th>end</th><th>graphs</th></tr>\n",
        );
        for r in rows {
            let mut links = String::new();
            if let Some(c) = self.conns.get(&r.conn) {
                for d in 0..2 {
                    if c.dirs[d].data.is_empty() && c.dirs[d].marks.is_empty() {
                        continue;
                    }
                    let name = Self::file_name(r.conn, d);
                    let label = if d == 0 {
                        "client&gt;server"
                    } else {
                        "server&gt;client"
                    };
                    let _ = write!(links, "<a href=\"{name}\">{label}</a> ");
                }
                if c.dropped > 0 {
                    let _ = write!(links, "({} segments not drawn)", c.dropped);
                }
            }
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td>\
                 <td>{}/{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.conn,
                esc(&r.client.to_string()),
                esc(&r.server.to_string()),
                r.state.name(),
                r.duration,
                r.handshake_rtt
                    .map_or_else(|| "-".to_string(), |t| t.to_string()),
                r.segments[0],
                r.segments[1],
                r.bytes[0],
                r.bytes[1],
                r.retransmissions[0],
                r.retransmissions[1],
                esc(&r.analysis_text()),
                esc(&r.end_text()),
                links.trim_end()
            );
        }
        h += "</table>\n";
        if self.conns_dropped > 0 {
            let _ = writeln!(
                h,
                "<p>{} connections not drawn (table full).</p>",
                self.conns_dropped
            );
        }
        h += "</body></html>\n";
        h
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Signed distance from the base, so bytes just before the ISN plot below zero.
fn y(v: u32) -> f64 {
    v as i32 as f64
}

fn draw(path: &Path, title: &str, s: &DirSeries) -> Result<(), Box<dyn std::error::Error>> {
    let mut tmax: f64 = 1e-6;
    let (mut ymin, mut ymax) = (0f64, 1f64);
    let mut see = |t: f64, v: u32| {
        tmax = tmax.max(t);
        ymin = ymin.min(y(v));
        ymax = ymax.max(y(v));
    };
    for &(t, a, e, _) in &s.data {
        see(t, a);
        see(t, e);
    }
    for &(t, a, _) in &s.acks {
        see(t, a);
    }
    for &(t, v, _) in &s.marks {
        see(t, v);
    }
    // The window line may run far above the data: show it up to a margin.
    let top = ymax + (ymax - ymin).max(1.0) * 0.25;
    let root = SVGBackend::new(path, (1200, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..tmax * 1.02, ymin..top)?;
    chart
        .configure_mesh()
        .x_desc("time since the connection's first segment (s)")
        .y_desc("sequence number (relative)")
        .draw()?;
    let step = |pts: Vec<(f64, f64)>| {
        let mut out: Vec<(f64, f64)> = Vec::with_capacity(pts.len() * 2);
        for (i, &(t, v)) in pts.iter().enumerate() {
            if i > 0 {
                out.push((t, out[out.len() - 1].1));
            }
            out.push((t, v));
        }
        out
    };
    let orange = RGBColor(230, 140, 0);
    let purple = RGBColor(140, 0, 200);
    let green = RGBColor(0, 150, 0);
    chart
        .draw_series(LineSeries::new(
            step(s.acks.iter().map(|&(t, _, e)| (t, y(e).min(top))).collect()),
            orange,
        ))?
        .label("receive window")
        .legend(move |(x, yy)| PathElement::new(vec![(x, yy), (x + 20, yy)], orange));
    chart
        .draw_series(LineSeries::new(
            step(s.acks.iter().map(|&(t, a, _)| (t, y(a))).collect()),
            green,
        ))?
        .label("ACK")
        .legend(move |(x, yy)| PathElement::new(vec![(x, yy), (x + 20, yy)], green));
    chart
        .draw_series(s.sacks.iter().map(|&(t, l, r)| {
            PathElement::new(vec![(t, y(l)), (t, y(r))], purple.stroke_width(3))
        }))?
        .label("SACK block")
        .legend(move |(x, yy)| PathElement::new(vec![(x, yy), (x + 20, yy)], purple));
    for (kind, color, label) in [
        (DataKind::New, BLACK, "data"),
        (DataKind::Retransmitted, RED, "retransmission"),
        (DataKind::Late, BLUE, "late arrival"),
    ] {
        chart
            .draw_series(s.data.iter().filter(|p| p.3 == kind).map(|&(t, a, e, _)| {
                PathElement::new(vec![(t, y(a)), (t, y(e))], color.stroke_width(2))
            }))?
            .label(label)
            .legend(move |(x, yy)| PathElement::new(vec![(x, yy), (x + 20, yy)], color));
    }
    chart
        .draw_series(s.zero.iter().map(|&(t, a)| Cross::new((t, y(a)), 6, RED)))?
        .label("zero window")
        .legend(|(x, yy)| Cross::new((x + 10, yy), 5, RED));
    chart.draw_series(s.marks.iter().map(|&(t, v, name)| {
        EmptyElement::at((t, y(v)))
            + TriangleMarker::new((0, 0), 6, BLACK.filled())
            + Text::new(name, (6, -14), ("sans-serif", 13))
    }))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// `--graph`: drawn as segments come, written with each summary (exit, SIGUSR1).
impl Output for Graphs {
    fn segment(&mut self, s: &Seen, _sh: &mut Shared, _out: &mut Vec<u8>) {
        if let Some(id) = s.conn {
            Graphs::segment(self, id, s.seg, s.events);
        }
    }

    fn summary(&mut self, _t: &Tracker, rows: &[Row], _sh: &mut Shared, _out: &mut Vec<u8>) {
        if let Err(e) = self.write(rows) {
            self.error.get_or_insert(e);
        }
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        match self.error {
            Some(e) => anyhow::bail!("--graph: cannot write the graphs: {e}"),
            None => Ok(()),
        }
    }
}
