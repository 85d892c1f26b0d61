//! `-w`: the segments' frames in pcapng files ([`pcapng`](super::pcapng)), rotated
//! ([`rotate`](super::rotate)), each with its process as a packet comment.

use std::ops::ControlFlow;

use anyhow::Result;

use super::rotate::{RotateError, Rotating};
use super::{Output, Seen};
use crate::attribute;

pub struct SaveFile {
    file: Rotating,
    error: Option<RotateError>,
}

impl SaveFile {
    pub fn new(file: Rotating) -> SaveFile {
        SaveFile { file, error: None }
    }
}

impl Output for SaveFile {
    fn record(&mut self, s: &Seen) -> ControlFlow<()> {
        let Some((rec, snap)) = s.raw else {
            return ControlFlow::Continue(());
        };
        let comment = s.shown().map(attribute::comment);
        match self.file.write(rec, s.seg.ts, snap, comment.as_deref()) {
            Ok(true) => ControlFlow::Continue(()),
            // -G with -W: the last file is done; the trace ends, as tcpdump's does.
            Ok(false) => ControlFlow::Break(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }

    fn finish(self: Box<Self>) -> Result<()> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        Ok(self.file.finish()?)
    }
}
