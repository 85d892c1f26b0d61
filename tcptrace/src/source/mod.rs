//! Capture sources: both hand `(Record, Timestamp)` pairs to the same sink.
//! [`live`] drains the ring buffer of programs attached to an interface; [`offline`]
//! replays a capture file through the same XDP program with BPF_PROG_TEST_RUN.

pub mod live;
pub mod offline;

use std::ops::ControlFlow;

use tcptrace_common::Record;

use crate::decode::Timestamp;

/// Where records go. `Break` stops the source (e.g. `-c` reached).
pub trait Sink {
    fn record(&mut self, rec: &Record, ts: Timestamp) -> ControlFlow<()>;
    /// Called after each batch, so output can be flushed while the source waits.
    fn flush(&mut self) {}
}
