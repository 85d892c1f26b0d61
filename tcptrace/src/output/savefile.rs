//! `-w`: the segments' frames in pcapng files ([`pcapng`](super::pcapng)), rotated
//! ([`rotate`](super::rotate)), each with its process as a packet comment, and with what
//! the host did with it when it dropped it (packet fate on).
//!
//! A drop is known after its segment: the kernel's `skb:kfree_skb` fires microseconds to
//! a few milliseconds after the wire hook saw the segment, and its record comes through
//! the same time-ordered merge of the rings. So with packet fate on, the frames wait in
//! memory for [`HORIZON_NS`] of record time (at most [`MAX_PENDING`] of them): a drop
//! marks the newest waiting frame that is its segment, and a frame is written once a newer
//! record, or the live loop's "nothing older can come" ([`Output::advance`], every 10 ms
//! or so), has passed its horizon; before the end (exit, `-c`, a signal) all of them. A
//! frame still waits when its file is due to rotate, and is written (rotating first) in
//! its turn: nothing is lost, nothing reordered.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::Arc;

use anyhow::Result;
use tcptrace_common::{MAX_SNAP, Record};

use super::rotate::{RotateError, Rotating};
use super::{Output, Seen, Shared};
use crate::attribute::{self, Process};
use crate::decode::{Segment, Timestamp};
use crate::track::event::ts_ns;
use crate::track::fate::DropCause;

/// How long a frame waits for its drop, in record time: well over the few milliseconds
/// between the wire hook and the drop (and the merge's 1 ms slack), short enough that a
/// live file lags little.
pub const HORIZON_NS: i128 = 100_000_000;

/// Frames waiting at most (about 11 MB of them); beyond, the oldest is written at once.
pub const MAX_PENDING: usize = 16_384;

/// What tells a segment from the ones around it.
type Key = (IpAddr, IpAddr, u16, u16, u32, u32, u16);

fn key(seg: &Segment) -> Key {
    (
        seg.src, seg.dst, seg.sport, seg.dport, seg.seq, seg.ack, seg.flags,
    )
}

/// A frame not written yet.
struct Pending {
    rec: Record,
    ts: Timestamp,
    snap: [u8; MAX_SNAP],
    len: usize,
    key: Key,
    process: Option<Arc<Process>>,
    /// What the host did with it: the drop's comment.
    drop: Option<String>,
}

pub struct SaveFile {
    file: Rotating,
    error: Option<RotateError>,
    /// Packet fate on: frames wait for their drop.
    waiting: bool,
    pending: VecDeque<Pending>,
    /// -G with -W made its last file: the trace ends, nothing more is written.
    done: bool,
}

impl SaveFile {
    /// `waiting`: packet fate is on (drops may come for the frames written).
    pub fn new(file: Rotating, waiting: bool) -> SaveFile {
        SaveFile {
            file,
            error: None,
            waiting,
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Writes one frame; false when the trace ends (-G with -W done, or an error).
    fn write(
        file: &mut Rotating,
        error: &mut Option<RotateError>,
        rec: &Record,
        ts: Timestamp,
        snap: &[u8],
        process: Option<&Process>,
        drop: Option<&str>,
    ) -> bool {
        let process = process.map(attribute::comment);
        let mut comments: [&str; 2] = [""; 2];
        let mut n = 0;
        for c in [process.as_deref(), drop].into_iter().flatten() {
            comments[n] = c;
            n += 1;
        }
        match file.write(rec, ts, snap, &comments[..n]) {
            Ok(true) => true,
            // -G with -W: the last file is done; the trace ends, as tcpdump's does.
            Ok(false) => false,
            Err(e) => {
                *error = Some(e);
                false
            }
        }
    }

    /// Writes the oldest waiting frame.
    fn write_oldest(&mut self) -> bool {
        let Some(p) = self.pending.front() else {
            return true;
        };
        let ok = Self::write(
            &mut self.file,
            &mut self.error,
            &p.rec,
            p.ts,
            &p.snap[..p.len],
            p.process.as_deref(),
            p.drop.as_deref(),
        );
        self.pending.pop_front();
        if !ok {
            self.done = true;
            self.pending.clear();
        }
        ok
    }

    /// Writes the frames older than the horizon before `now` (record time); false when
    /// the trace ends.
    fn write_until(&mut self, now: Timestamp) -> bool {
        let before = ts_ns(now) - HORIZON_NS;
        while self.pending.front().is_some_and(|p| ts_ns(p.ts) < before) {
            if !self.write_oldest() {
                return false;
            }
        }
        true
    }

    fn flow(&self) -> ControlFlow<()> {
        if self.done {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl Output for SaveFile {
    fn record(&mut self, s: &Seen) -> ControlFlow<()> {
        if self.done {
            return ControlFlow::Break(());
        }
        let Some((rec, snap)) = s.raw else {
            return ControlFlow::Continue(());
        };
        if !self.waiting {
            if !Self::write(
                &mut self.file,
                &mut self.error,
                rec,
                s.seg.ts,
                snap,
                s.shown(),
                None,
            ) {
                self.done = true;
            }
            return self.flow();
        }
        // The frames this one's time has taken past the horizon, and room for it.
        if !self.write_until(s.seg.ts) {
            return self.flow();
        }
        while self.pending.len() >= MAX_PENDING {
            if !self.write_oldest() {
                return self.flow();
            }
        }
        let len = snap.len().min(MAX_SNAP);
        // The deque's slots are reused once it has grown: no allocation per frame.
        let mut p = Pending {
            rec: *rec,
            ts: s.seg.ts,
            snap: [0; MAX_SNAP],
            len,
            key: key(s.seg),
            process: s.sender.clone().or_else(|| s.receiver.clone()),
            drop: None,
        };
        p.snap[..len].copy_from_slice(&snap[..len]);
        self.pending.push_back(p);
        ControlFlow::Continue(())
    }

    fn dropped(
        &mut self,
        seg: &Segment,
        _seen: bool,
        cause: &DropCause,
        _sh: &mut Shared,
        _out: &mut Vec<u8>,
    ) {
        // The newest waiting frame of this segment not later than the drop (a drop before
        // any hook saw its segment has no frame to mark).
        let k = key(seg);
        let t = ts_ns(seg.ts);
        if let Some(p) = self
            .pending
            .iter_mut()
            .rev()
            .find(|p| p.key == k && ts_ns(p.ts) <= t)
            && p.drop.is_none()
        {
            p.drop = Some(format!(
                "dropped in this host: {} ({})",
                cause.reason, cause.function
            ));
        }
    }

    fn advance(&mut self, now: Timestamp) -> ControlFlow<()> {
        if !self.done {
            self.write_until(now);
        }
        self.flow()
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        while !self.pending.is_empty() && self.write_oldest() {}
        if let Some(e) = self.error {
            return Err(e.into());
        }
        Ok(self.file.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::path::PathBuf;

    use pcap_file::pcapng::{Block, PcapNgReader, blocks::enhanced_packet::EnhancedPacketOption};

    use super::*;
    use crate::decode::fixture;
    use crate::output::pcapng::PcapngOut;
    use crate::output::rotate::Rotation;
    use crate::render::Renderer;

    fn shared() -> Shared {
        Shared {
            renderer: Renderer::new(Default::default()),
            owners: None,
            wrote: false,
        }
    }

    /// The frames in `path`: (seq, their comments), in order.
    fn frames(path: &std::path::Path) -> Vec<(u32, Vec<String>)> {
        let mut r = PcapNgReader::new(std::fs::File::open(path).unwrap()).unwrap();
        let mut v = Vec::new();
        while let Some(b) = r.next_block() {
            if let Block::EnhancedPacket(p) = b.unwrap() {
                let d = &p.data;
                let seq = u32::from_be_bytes(d[38..42].try_into().unwrap());
                let comments = p
                    .options
                    .iter()
                    .filter_map(|o| match o {
                        EnhancedPacketOption::Comment(Cow::Borrowed(c)) => Some(c.to_string()),
                        EnhancedPacketOption::Comment(Cow::Owned(c)) => Some(c.clone()),
                        _ => None,
                    })
                    .collect();
                v.push((seq, comments));
            }
        }
        v
    }

    /// A SYN with `seq` at `ms` milliseconds, and its frame (Ethernet, IPv4, TCP).
    fn syn(seq: u32, ms: i64) -> (Record, Segment, Vec<u8>) {
        let mut rec = fixture::v4([10, 0, 0, 1], [10, 0, 0, 2], 4000, 23);
        rec.seq = seq;
        rec.flags = tcptrace_common::tcp_flags::SYN;
        let ts = Timestamp::new(1000 + ms / 1000, (ms % 1000) as u32 * 1_000_000);
        let seg = Segment::from_record(&rec, ts);
        let mut frame = vec![0u8; 54];
        frame[12..14].copy_from_slice(&[8, 0]);
        frame[38..42].copy_from_slice(&seq.to_be_bytes());
        (rec, seg, frame)
    }

    fn seen<'a>(rec: &'a Record, seg: &'a Segment, frame: &'a [u8]) -> Seen<'a> {
        Seen {
            seg,
            raw: Some((rec, frame)),
            conn: None,
            events: &[],
            sender: None,
            receiver: None,
        }
    }

    /// A -w output waiting for drops: (a new directory, the file in it, the output).
    fn saver(what: &str) -> (PathBuf, PathBuf, Box<SaveFile>) {
        let dir =
            std::env::temp_dir().join(format!("tcptrace-savefile-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pcapng");
        let open: super::super::rotate::Opener =
            Box::new(|p| PcapngOut::create(p, 128, Some("eth0".into())));
        let file = Rotating::create(&path, Rotation::default(), open).unwrap();
        (dir, path, Box::new(SaveFile::new(file, true)))
    }

    #[test]
    fn a_drop_marks_its_waiting_frame_and_frames_go_out_past_the_horizon() {
        let (dir, path, mut f) = saver("drop");
        let cause = DropCause {
            reason: "NETFILTER_DROP".into(),
            function: "nf_hook_slow".into(),
        };
        let (mut sh, mut out) = (shared(), Vec::new());
        // Two SYNs alike but for the time: the drop at 11 ms is the second's.
        let (r1, s1, f1) = syn(7, 0);
        let (r2, s2, f2) = syn(7, 10);
        assert!(f.record(&seen(&r1, &s1, &f1)).is_continue());
        assert!(f.record(&seen(&r2, &s2, &f2)).is_continue());
        let mut d = s2;
        d.ts = Timestamp::new(1000, 11_000_000);
        f.dropped(&d, false, &cause, &mut sh, &mut out);
        assert_eq!(f.pending.len(), 2);
        // 105 ms: the first is past the horizon, the second not yet.
        let (r3, s3, f3) = syn(9, 105);
        assert!(f.record(&seen(&r3, &s3, &f3)).is_continue());
        assert_eq!(f.pending.len(), 2);
        // Nothing older than 300 ms can come: all three go out.
        assert!(f.advance(Timestamp::new(1000, 300_000_000)).is_continue());
        assert!(f.pending.is_empty());
        // A drop too late for its frame marks nothing.
        f.dropped(&s3, false, &cause, &mut sh, &mut out);
        f.finish().unwrap();
        let want = "dropped in this host: NETFILTER_DROP (nf_hook_slow)".to_string();
        assert_eq!(
            frames(&path),
            [(7, vec![]), (7, vec![want]), (9, vec![])],
            "in order, the drop on its frame"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn waiting_frames_are_capped_and_all_written_at_the_end() {
        let (dir, path, mut f) = saver("cap");
        let n = MAX_PENDING as u32 + 10;
        for seq in 0..n {
            let (r, s, fr) = syn(seq, 0);
            assert!(f.record(&seen(&r, &s, &fr)).is_continue());
            assert!(f.pending.len() <= MAX_PENDING);
        }
        f.finish().unwrap();
        let seqs: Vec<u32> = frames(&path).into_iter().map(|(s, _)| s).collect();
        assert_eq!(seqs, (0..n).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
