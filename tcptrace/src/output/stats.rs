//! Totals for a long-running trace: the tracker's connection events counted (opened,
//! refused, reset, closed, retransmissions, zero windows, handshake RTTs), and the
//! `--stats` line that shows them with the kernel counters, so a service's journal shows
//! that nothing is lost. `--metrics` ([`super::metrics`]) serves the same numbers.
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde_json::json;

use super::json::{SCHEMA_VERSION, rfc3339};
use super::metrics::Metrics;
use super::{Output, Shared};
use crate::{
    decode::Timestamp,
    kernel::{CounterReader, Counters},
    track::event::{Endpoint, Event, EventKind},
};

/// Connection totals since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnTotals {
    /// Handshakes completed (the client's ACK of the SYN-ACK).
    pub opened: u64,
    /// SYNs answered by RST.
    pub refused: u64,
    pub reset_by_client: u64,
    pub reset_by_server: u64,
    /// Both FINs acknowledged.
    pub closed: u64,
    pub retransmissions: u64,
    pub zero_windows: u64,
}

/// `--stats` and `--metrics`: counts the tracker's events.
pub struct Tally {
    pub totals: ConnTotals,
    /// Connection id → its client (the first sender), to tell who reset it; the oldest
    /// ids are forgotten beyond `cap`.
    clients: BTreeMap<u64, Endpoint>,
    cap: usize,
    metrics: Option<Arc<Metrics>>,
    /// `--stats`: how often, the kernel's counters, and whether as JSON.
    stats: Option<(Duration, CounterReader, bool)>,
}

impl Tally {
    pub fn new(
        max_connections: usize,
        metrics: Option<Arc<Metrics>>,
        stats: Option<(Duration, CounterReader, bool)>,
    ) -> Tally {
        Tally {
            totals: ConnTotals::default(),
            clients: BTreeMap::new(),
            cap: max_connections.max(1),
            metrics,
            stats,
        }
    }

    fn count(&mut self, e: &Event) {
        // A connection's first event comes from its first sender.
        if let std::collections::btree_map::Entry::Vacant(v) = self.clients.entry(e.conn) {
            v.insert(e.from);
            if self.clients.len() > self.cap {
                self.clients.pop_first();
            }
        }
        let t = &mut self.totals;
        let m = self.metrics.as_deref();
        match &e.kind {
            EventKind::Handshake3 { rtt, .. } => {
                t.opened += 1;
                if let Some(m) = m {
                    m.opened(rtt.map(|r| r.0 as f64 / 1e9));
                }
            }
            EventKind::Refused { .. } => {
                t.refused += 1;
                if let Some(m) = m {
                    m.refused(e.from.port);
                }
            }
            EventKind::Reset { .. } => {
                let by_client = self.clients.get(&e.conn) == Some(&e.from);
                if by_client {
                    t.reset_by_client += 1;
                } else {
                    t.reset_by_server += 1;
                }
                if let Some(m) = m {
                    m.reset(by_client);
                }
            }
            EventKind::Closed { .. } => {
                t.closed += 1;
                if let Some(m) = m {
                    m.closed();
                }
            }
            EventKind::Retransmission { .. } => {
                t.retransmissions += 1;
                if let Some(m) = m {
                    m.retransmission();
                }
            }
            EventKind::ZeroWindow => {
                t.zero_windows += 1;
                if let Some(m) = m {
                    m.zero_window();
                }
            }
            _ => {}
        }
    }
}

impl Output for Tally {
    fn event(&mut self, e: &Event, _sh: &mut Shared, _out: &mut Vec<u8>) {
        self.count(e);
    }

    fn every(&self) -> Option<Duration> {
        self.stats.as_ref().map(|s| s.0)
    }

    fn periodic(&mut self) {
        let Some((_, reader, json)) = self.stats.as_ref() else {
            return;
        };
        let k = reader.totals().unwrap_or_default();
        let line = if *json {
            self::json(now(), &k, &self.totals)
        } else {
            self::line(&k, &self.totals)
        };
        eprintln!("{line}");
    }
}

/// The wall clock now.
fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::new(d.as_secs() as i64, d.subsec_nanos())
}

fn s(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The `--stats` line (without a newline): kernel counters, then connection totals.
pub fn line(k: &Counters, c: &ConnTotals) -> String {
    format!(
        "tcptrace: stats: {} seen, {} matched, {} emitted, {} lost, {} malformed, {} cut short; \
         connections: {} opened, {} refused, {} reset ({} by client, {} by server), {} closed; \
         {} retransmission{}, {} zero window{}",
        k.seen,
        k.matched,
        k.emitted,
        k.lost,
        k.malformed,
        k.truncated,
        c.opened,
        c.refused,
        c.reset_by_client + c.reset_by_server,
        c.reset_by_client,
        c.reset_by_server,
        c.closed,
        c.retransmissions,
        s(c.retransmissions),
        c.zero_windows,
        s(c.zero_windows),
    )
}

/// The `--stats --json` object (one line, without a newline).
pub fn json(now: Timestamp, k: &Counters, c: &ConnTotals) -> String {
    json!({
        "v": SCHEMA_VERSION,
        "type": "stats",
        "ts": rfc3339(now),
        "kernel": {
            "seen": k.seen, "matched": k.matched, "emitted": k.emitted, "lost": k.lost,
            "malformed": k.malformed, "cut_short": k.truncated,
        },
        "connections": {
            "opened": c.opened, "refused": c.refused,
            "reset_by_client": c.reset_by_client, "reset_by_server": c.reset_by_server,
            "closed": c.closed, "retransmissions": c.retransmissions,
            "zero_windows": c.zero_windows,
        },
    })
    .to_string()
}
