//! `--explain`: a note for each event, under the line that caused it (`^`), or as a line
//! of its own (`*`: a verdict reached later; a timestamp instead with `--no-lines`).

use std::io::Write as _;

use super::{Output, Shared};
use crate::timefmt::{self, LocalClock};
use crate::track::event::{Event, EventKind};

pub struct Notes {
    /// Lines are printed: notes go under them.
    beneath_lines: bool,
    clock: LocalClock,
}

impl Notes {
    pub fn new(beneath_lines: bool, clock: LocalClock) -> Notes {
        Notes {
            beneath_lines,
            clock,
        }
    }
}

impl Output for Notes {
    fn event(&mut self, e: &Event, sh: &mut Shared, out: &mut Vec<u8>) {
        // Notes for the first three duplicate ACKs of a run (JSON has them all).
        if matches!(e.kind, EventKind::DupAck { count, .. } if count > 3) {
            return;
        }
        if self.beneath_lines {
            out.extend_from_slice(if e.about_line { b"    ^ " } else { b"    * " });
        } else {
            timefmt::put_hms(out, self.clock.local_secs(e.ts.secs));
            timefmt::put_frac(out, e.ts.nanos, false);
            out.push(b' ');
        }
        let _ = write!(out, "{e}");
        if let Some((role, p)) = sh.owners.as_ref().and_then(|o| o.actor(e)) {
            let _ = match role {
                Some(role) => write!(out, " ({role}: {} pid {})", p.comm, p.pid),
                None => write!(out, " ({} pid {})", p.comm, p.pid),
            };
        }
        out.push(b'\n');
    }
}
