//! tcpdump's lines (or the classic tcptrace's), one per segment.

use super::{Output, Seen, Shared};
use crate::attribute;
use crate::decode::{IcmpError, Segment};
use crate::track::fate::DropCause;

pub struct Lines {
    /// `--process`: each line ends with the process.
    show_process: bool,
    /// `--explain`: a segment dropped before any hook saw it gets a line of its own.
    explain: bool,
}

impl Lines {
    pub fn new(show_process: bool, explain: bool) -> Lines {
        Lines {
            show_process,
            explain,
        }
    }
}

impl Output for Lines {
    fn segment(&mut self, s: &Seen, sh: &mut Shared, out: &mut Vec<u8>) {
        let from = out.len();
        sh.renderer.render(s.seg, out);
        if self.show_process {
            attribute::append_to_line(out, from, s.shown());
        }
    }

    fn icmp(&mut self, e: &IcmpError, sh: &mut Shared, out: &mut Vec<u8>) {
        sh.renderer.render_icmp(e, out);
    }

    fn dropped(
        &mut self,
        seg: &Segment,
        seen: bool,
        _cause: &DropCause,
        sh: &mut Shared,
        out: &mut Vec<u8>,
    ) {
        if seen || !self.explain {
            return;
        }
        // The wire never saw it: its line, marked, before the note.
        let from = out.len();
        sh.renderer.render(seg, out);
        if out.last() == Some(&b'\n') && out.len() > from {
            out.pop();
            out.extend_from_slice(b" [not on the wire]\n");
        }
    }
}
