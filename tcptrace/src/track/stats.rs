//! The classic tcptrace's per-direction numbers (`tcptrace -l`): fixed-size aggregates,
//! never lists, so memory per connection stays bounded.

use std::collections::VecDeque;

use super::event::ts_ns;
use super::seqnum::{seq_gt, seq_lt};
use crate::decode::Timestamp;

/// Segments remembered per direction for RTT samples and retransmission delays.
pub const MAX_IN_FLIGHT: usize = 128;

/// Count, min, max, mean and standard deviation of a series, in constant space.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Agg {
    pub n: u64,
    pub min: u64,
    pub max: u64,
    sum: f64,
    sumsq: f64,
}

impl Agg {
    pub fn add(&mut self, v: u64) {
        if self.n == 0 || v < self.min {
            self.min = v;
        }
        if v > self.max {
            self.max = v;
        }
        self.n += 1;
        self.sum += v as f64;
        self.sumsq += (v as f64) * (v as f64);
    }

    pub fn avg(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    /// Sample standard deviation (0 with fewer than two values).
    pub fn stdev(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = self.n as f64;
        let var = (self.sumsq - self.sum * self.sum / n) / (n - 1.0);
        var.max(0.0).sqrt()
    }
}

/// A data segment sent and not yet acknowledged.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sent {
    start: u32,
    end: u32,
    ts: Timestamp,
    /// Sent more than once: no RTT sample from its ACK (Karn's rule), unless the ACK
    /// echoes the TS value of the last copy (and not of the first).
    again: bool,
    tsval: Option<u32>,
    /// The last copy: when, and its TS value.
    last: Option<(Timestamp, Option<u32>)>,
}

/// One direction's numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Segments with payload, and their payload bytes (retransmissions included).
    pub data_segs: u64,
    pub data_bytes: u64,
    /// Segments repeating sequence space seen before (not hole fills), and its length (a
    /// FIN counts one byte, as `tcptrace -l` counts it).
    pub rexmt_segs: u64,
    pub rexmt_bytes: u64,
    /// Segments into a hole (retransmissions by evidence and late arrivals).
    pub hole_fills: u64,
    pub pure_acks: u64,
    pub sack_segs: u64,
    pub syn_segs: u64,
    pub fin_segs: u64,
    /// Payload size of data segments.
    pub seg_size: Agg,
    /// Advertised window, scaled once both SYNs were seen.
    pub window: Agg,
    /// Longest time between two segments of this direction (ns).
    pub idle_max: u64,
    /// RTT samples (ns): data → the ACK covering it, never from retransmitted data.
    pub rtt: Agg,
    /// Time from the original to a fast retransmission, and to any other one (RTO, SACK
    /// recovery, tail loss probe) (ns).
    pub fast_delay: Agg,
    pub rto_delay: Agg,
    in_flight: VecDeque<Sent>,
}

/// What one side's SYN negotiated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynOpts {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_ok: bool,
    pub timestamps: bool,
    pub tfo: bool,
    /// Payload bytes in the SYN.
    pub syn_data: u32,
}

impl Stats {
    /// The numbers without the in-flight list (for summary rows).
    pub fn snapshot(&self) -> Stats {
        Stats {
            in_flight: VecDeque::new(),
            ..self.clone()
        }
    }

    /// New data `start..end` sent at `ts` (with TS value `tsval`).
    pub fn sent(&mut self, start: u32, end: u32, ts: Timestamp, tsval: Option<u32>) {
        if self.in_flight.len() < MAX_IN_FLIGHT {
            self.in_flight.push_back(Sent {
                start,
                end,
                ts,
                again: false,
                tsval,
                last: None,
            });
        }
    }

    /// Bytes `seq..end` sent again at `ts`: marks them (Karn) and times the delay from
    /// the first transmission, if it is still remembered.
    pub fn resent(&mut self, seq: u32, end: u32, ts: Timestamp, tsval: Option<u32>, fast: bool) {
        let mut first: Option<Timestamp> = None;
        for s in self.in_flight.iter_mut() {
            if seq_lt(seq, s.end) && seq_lt(s.start, end) {
                first.get_or_insert(s.ts);
                s.again = true;
                s.last = Some((ts, tsval));
            }
        }
        if let Some(t) = first {
            let d = (ts_ns(ts) - ts_ns(t)).max(0) as u64;
            if fast {
                self.fast_delay.add(d);
            } else {
                self.rto_delay.add(d);
            }
        }
    }

    /// The peer acknowledges up to `ack` at `ts` (echoing TS value `tsecr`): one RTT
    /// sample from the newest segment it covers, unless that was sent more than once
    /// (Karn's rule) and the echo does not single out its last copy.
    pub fn acked(&mut self, ack: u32, ts: Timestamp, tsecr: Option<u32>) {
        let mut newest: Option<Sent> = None;
        while let Some(s) = self.in_flight.front() {
            if seq_gt(s.end, ack) {
                break;
            }
            newest = self.in_flight.pop_front();
        }
        let Some(s) = newest else { return };
        let from = if !s.again {
            Some(s.ts)
        } else {
            match (s.last, tsecr) {
                (Some((t, Some(v))), Some(e)) if v == e && s.tsval != Some(e) => Some(t),
                _ => None,
            }
        };
        if let Some(t) = from {
            self.rtt.add((ts_ns(ts) - ts_ns(t)).max(0) as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates() {
        let mut a = Agg::default();
        for v in [2, 4, 4, 4, 5, 5, 7, 9] {
            a.add(v);
        }
        assert_eq!((a.n, a.min, a.max), (8, 2, 9));
        assert_eq!(a.avg(), 5.0);
        assert!((a.stdev() - 2.138).abs() < 0.001);
    }

    #[test]
    fn karn_no_sample_from_retransmitted_data() {
        let t = |ms: i64| Timestamp::new(ms / 1000, (ms % 1000) as u32 * 1_000_000);
        let mut s = Stats::default();
        s.sent(0, 100, t(0), None);
        s.sent(100, 200, t(1), None);
        s.acked(100, t(10), None);
        assert_eq!((s.rtt.n, s.rtt.min), (1, 10_000_000));
        s.resent(100, 200, t(300), None, false);
        assert_eq!(s.rto_delay.max, 299_000_000);
        s.acked(200, t(301), None);
        assert_eq!(s.rtt.n, 1);
        // With timestamps: an ACK echoing the retransmission's TS value is its sample.
        s.sent(200, 300, t(400), Some(7));
        s.resent(200, 300, t(700), Some(10), false);
        s.acked(300, t(702), Some(10));
        assert_eq!((s.rtt.n, s.rtt.max), (2, 10_000_000));
        assert_eq!(s.rtt.min, 2_000_000);
        // Echoing the first copy's value: ambiguous, no sample.
        s.sent(300, 400, t(800), Some(20));
        s.resent(300, 400, t(900), Some(20), false);
        s.acked(400, t(901), Some(20));
        assert_eq!(s.rtt.n, 2);
    }
}
