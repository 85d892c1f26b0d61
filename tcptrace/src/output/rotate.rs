//! `-w` for long runs, as tcpdump rotates its files: `-C MB` starts a new file when the
//! current one has grown past MB million bytes, `-W N` keeps N of them (a ring: the oldest
//! is overwritten) and `-G SECONDS` starts a new file every SECONDS (the name taken through
//! strftime in local time). Each file is complete (its own section header and interface
//! blocks, everything flushed) when the next one starts.
//!
//! Names, as tcpdump makes them: the `-w` name (strftime'd with -G), then with -C or -W a
//! file number — none on the first file without -W, padded to the digits of N-1 with -W.
//! Rotation is checked before each packet is written, against the size of the file so far
//! and the wall clock, as tcpdump does.
use std::{
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use tcptrace_common::Record;

use crate::{
    decode::Timestamp,
    output::pcapng::{PcapngOut, WriteError},
};

/// `-C`, `-W`, `-G`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// `-C`: bytes (MB × 1 000 000).
    pub size: Option<u64>,
    /// `-W`: files.
    pub count: Option<u32>,
    /// `-G`: seconds.
    pub seconds: Option<u64>,
}

impl Rotation {
    pub fn active(&self) -> bool {
        self.size.is_some() || self.seconds.is_some()
    }
}

/// How a file is opened (plain or cooked, snap length, interface name).
pub type Opener = Box<dyn Fn(&Path) -> Result<PcapngOut, WriteError>>;

/// Why writing stopped.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("-w {0}: the strftime pattern makes an empty or invalid name")]
    Name(String),
}

/// The `-w` output, rotated.
pub struct Rotating {
    pattern: String,
    rot: Rotation,
    open: Opener,
    file: Option<PcapngOut>,
    /// The -C file number (0 = the first).
    number: u32,
    /// Digits of the -W file number.
    width: usize,
    /// Start of the current -G period (epoch seconds).
    period_start: i64,
    /// -G files made so far (with -W: stop at N).
    periods: u32,
    /// Packets in the current file.
    packets: u64,
    /// Names of the files made, in order.
    made: Vec<PathBuf>,
}

/// tcpdump's padding for -W N: the digits of N-1 (none for -W 1).
fn width(count: u32) -> usize {
    let mut x = count.saturating_sub(1);
    let mut c = 0;
    while x > 0 {
        c += 1;
        x /= 10;
    }
    c
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `pattern` through strftime at `secs`, local time.
pub fn strftime(pattern: &str, secs: i64) -> Option<String> {
    let t = jiff::Timestamp::from_second(secs).ok()?;
    let z = t.to_zoned(jiff::tz::TimeZone::system());
    let s = jiff::fmt::strtime::format(pattern, &z).ok()?;
    (!s.is_empty()).then_some(s)
}

impl Rotating {
    /// Opens the first file.
    pub fn create(path: &Path, rot: Rotation, open: Opener) -> Result<Rotating, RotateError> {
        let mut r = Rotating {
            pattern: path.to_string_lossy().into_owned(),
            rot,
            open,
            file: None,
            number: 0,
            width: rot.count.map_or(0, width),
            period_start: now_secs(),
            periods: 0,
            packets: 0,
            made: Vec::new(),
        };
        r.start()?;
        Ok(r)
    }

    /// The current file's name.
    fn name(&self) -> Result<PathBuf, RotateError> {
        let base = if self.rot.seconds.is_some() {
            strftime(&self.pattern, self.period_start)
                .ok_or_else(|| RotateError::Name(self.pattern.clone()))?
        } else {
            self.pattern.clone()
        };
        if !self.rot.active() || (self.number == 0 && self.width == 0) {
            return Ok(PathBuf::from(base));
        }
        Ok(PathBuf::from(format!(
            "{base}{:0w$}",
            self.number,
            w = self.width
        )))
    }

    fn start(&mut self) -> Result<(), RotateError> {
        if let Some(f) = self.file.take() {
            f.finish()?;
        }
        let name = self.name()?;
        self.file = Some((self.open)(&name)?);
        self.packets = 0;
        self.made.push(name);
        Ok(())
    }

    /// Rotates if due, then writes the packet (with its packet comments: the process,
    /// the host's drop). `Ok(false)`: -G with -W made its N files
    /// and the trace ends (tcpdump exits then). A file is never closed empty: a pcapng
    /// file without a packet has no interface block, which tcpdump refuses to read.
    pub fn write(
        &mut self,
        rec: &Record,
        ts: Timestamp,
        snap: &[u8],
        comments: &[&str],
    ) -> Result<bool, RotateError> {
        if let Some(g) = self.rot.seconds
            && self.packets > 0
        {
            let now = now_secs();
            if now.saturating_sub(self.period_start) >= g as i64 {
                self.periods += 1;
                if self.rot.count.is_some_and(|n| self.periods >= n) {
                    return Ok(false);
                }
                self.period_start = now;
                self.number = 0;
                self.start()?;
            }
        }
        if let Some(c) = self.rot.size
            && self.file.as_ref().is_some_and(|f| f.size() > c)
        {
            self.number += 1;
            if self.rot.count.is_some_and(|n| self.number >= n) {
                self.number = 0;
            }
            self.start()?;
        }
        if let Some(f) = self.file.as_mut() {
            f.write_commented(rec, ts, snap, comments)?;
            self.packets += 1;
        }
        Ok(true)
    }

    /// The files made so far, in order (a ring's reused names more than once).
    pub fn made(&self) -> &[PathBuf] {
        &self.made
    }

    /// Flushes and closes the current file.
    pub fn finish(mut self) -> Result<(), RotateError> {
        if let Some(f) = self.file.take() {
            f.finish()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_is_the_digits_of_n_minus_one() {
        assert_eq!(
            [1, 2, 10, 11, 100, 101].map(width),
            [0, 1, 1, 2, 2, 3],
            "tcpdump pads -W 10 as 0..9 and -W 11 as 00..10"
        );
    }

    #[test]
    fn strftime_of_a_pattern() {
        // SAFETY-free: TZ read by jiff at first use; the test pattern has no zone fields.
        let s = strftime("cap-%Y-%m-%d.pcapng", 0).unwrap();
        assert!(
            s == "cap-1970-01-01.pcapng" || s == "cap-1969-12-31.pcapng",
            "{s}"
        );
    }
}
