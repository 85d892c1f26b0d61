//! Classic pcap files read the way libpcap 1.10 (`sf-pcap.c`) reads them for tcpdump
//! 4.99.3, refusals and repairs included:
//!
//! - the file header: the four magic numbers (micro- and nanosecond, either byte order,
//!   and the "Kuznetzov" patched format with 24-byte record headers), version 2.0–2.4 or
//!   543.0 (`archaic pcap savefile format` below 2, `unsupported pcap savefile version
//!   M.m` otherwise), the snapshot length (0 or above `INT_MAX` means 262144);
//! - each record: caplen and len swapped for versions before 2.3 (and for 2.3 when caplen
//!   exceeds len), a caplen above 262144 refused (`invalid packet capture length …`), a
//!   caplen above the file's snapshot length cut to it (the rest is skipped), a file that
//!   ends inside a record header or its data refused (`truncated dump file; tried to read
//!   16 header bytes, only got 8`).
//!
//! What tcpdump then does with a record whose lengths are inconsistent (its `[Invalid
//! header: …]` line) is [`Packet::invalid`].
use std::io::{self, Read};

/// libpcap's `MAXIMUM_SNAPLEN`: the largest caplen it accepts for the link types tcptrace
/// reads, and tcpdump's bound on caplen and len.
pub const MAXIMUM_SNAPLEN: u32 = 262_144;

const TCPDUMP_MAGIC: u32 = 0xa1b2_c3d4;
const KUZNETZOV_TCPDUMP_MAGIC: u32 = 0xa1b2_cd34;
const NSEC_TCPDUMP_MAGIC: u32 = 0xa1b2_3c4d;

/// Whether a file starting with `magic` is a classic pcap file.
pub fn is_pcap(magic: [u8; 4]) -> bool {
    let m = u32::from_ne_bytes(magic);
    [m, m.swap_bytes()]
        .iter()
        .any(|m| [TCPDUMP_MAGIC, KUZNETZOV_TCPDUMP_MAGIC, NSEC_TCPDUMP_MAGIC].contains(m))
}

/// How a record's caplen and len fields are ordered (they were swapped at version 2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lengths {
    InOrder,
    /// Version 2.3: swapped when caplen > len.
    MaybeSwapped,
    Swapped,
}

/// An open classic pcap file: what its header says.
#[derive(Debug)]
pub struct Savefile<R> {
    r: R,
    swapped: bool,
    /// Timestamps in nanoseconds (else microseconds).
    pub nano: bool,
    /// The link type field (FCS bits included).
    pub linktype: u32,
    /// The snapshot length libpcap reads with.
    pub snapshot: u32,
    hdrsize: usize,
    lengths: Lengths,
}

/// One record, as libpcap hands it to tcpdump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Seconds and fraction (micro- or nanoseconds, see [`Savefile::nano`]) as the file
    /// holds them: 32-bit signed fields, not checked.
    pub ts_sec: i32,
    pub ts_frac: i32,
    /// Bytes of the frame in the buffer (after any cut to the snapshot length).
    pub caplen: u32,
    /// The frame's length on the wire, as recorded.
    pub len: u32,
}

impl Packet {
    /// tcpdump's `[Invalid header: …]` text for a record it prints nothing else for (caplen
    /// or len 0, len below caplen, either above 262144), or None for a good one.
    pub fn invalid(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.caplen == 0 {
            parts.push("caplen==0".to_string());
        }
        if self.len == 0 {
            parts.push("len==0".to_string());
        } else if self.len < self.caplen {
            parts.push(format!("len({}) < caplen({})", self.len, self.caplen));
        }
        if self.caplen > MAXIMUM_SNAPLEN {
            parts.push(format!("caplen({}) > {MAXIMUM_SNAPLEN}", self.caplen));
        }
        if self.len > MAXIMUM_SNAPLEN {
            parts.push(format!("len({}) > {MAXIMUM_SNAPLEN}", self.len));
        }
        (!parts.is_empty()).then(|| format!("[Invalid header: {}]", parts.join(", ")))
    }
}

/// Reads into `buf` until it is full or the input ends (C's `fread`): the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// libpcap's words for a read error (`error reading dump file: Is a directory`).
pub(crate) fn read_error(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.rfind(" (os error ") {
        Some(i) => &s[..i],
        None => &s,
    };
    format!("error reading dump file: {s}")
}

impl<R> Savefile<R> {
    /// Whether the file was written big-endian.
    pub fn big_endian(&self) -> bool {
        self.swapped != cfg!(target_endian = "big")
    }
}

impl<R: Read> Savefile<R> {
    /// Reads the rest of the file header after `magic` (which [`is_pcap`] accepted).
    /// Errors are libpcap's messages.
    pub fn open(magic: [u8; 4], mut r: R) -> Result<Savefile<R>, String> {
        let mut m = u32::from_ne_bytes(magic);
        let swapped = ![TCPDUMP_MAGIC, KUZNETZOV_TCPDUMP_MAGIC, NSEC_TCPDUMP_MAGIC].contains(&m);
        if swapped {
            m = m.swap_bytes();
        }
        let mut h = [0u8; 20];
        let n = read_full(&mut r, &mut h).map_err(|e| read_error(&e))?;
        if n < h.len() {
            return Err(format!(
                "truncated dump file; tried to read 24 file header bytes, only got {}",
                n + 4
            ));
        }
        let u16_at = |i: usize| {
            let v = u16::from_ne_bytes([h[i], h[i + 1]]);
            if swapped { v.swap_bytes() } else { v }
        };
        let u32_at = |i: usize| {
            let v = u32::from_ne_bytes(h[i..i + 4].try_into().unwrap());
            if swapped { v.swap_bytes() } else { v }
        };
        let (major, minor) = (u16_at(0), u16_at(2));
        if major < 2 {
            return Err("archaic pcap savefile format".into());
        }
        if !((major == 2 && minor <= 4) || (major == 543 && minor == 0)) {
            return Err(format!("unsupported pcap savefile version {major}.{minor}"));
        }
        let linktype = u32_at(16);
        let mut snapshot = match u32_at(12) {
            0 => MAXIMUM_SNAPLEN,
            s if s > i32::MAX as u32 => MAXIMUM_SNAPLEN,
            s => s,
        };
        let kuznetzov = m == KUZNETZOV_TCPDUMP_MAGIC;
        if kuznetzov && linktype & 0x03ff_ffff == 1 {
            // Cooked captures with a fake Ethernet header in front (sf-pcap.c).
            snapshot = snapshot.saturating_add(14).min(i32::MAX as u32);
        }
        Ok(Savefile {
            r,
            swapped,
            nano: m == NSEC_TCPDUMP_MAGIC,
            linktype,
            snapshot,
            hdrsize: if kuznetzov { 24 } else { 16 },
            lengths: match (major, minor) {
                (2, 0..=2) | (543, _) => Lengths::Swapped,
                (2, 3) => Lengths::MaybeSwapped,
                _ => Lengths::InOrder,
            },
        })
    }

    /// The next record, its captured bytes in `buf`; None at the end of the file. Errors
    /// are libpcap's messages (the file cannot be read further).
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Packet>, String> {
        let mut h = [0u8; 24];
        let h = &mut h[..self.hdrsize];
        let n = read_full(&mut self.r, h).map_err(|e| read_error(&e))?;
        if n == 0 {
            return Ok(None);
        }
        if n < h.len() {
            return Err(format!(
                "truncated dump file; tried to read {} header bytes, only got {n}",
                h.len()
            ));
        }
        let field = |i: usize| {
            let v = u32::from_ne_bytes(h[i..i + 4].try_into().unwrap());
            if self.swapped { v.swap_bytes() } else { v }
        };
        let (mut caplen, mut len) = (field(8), field(12));
        let swap = match self.lengths {
            Lengths::InOrder => false,
            Lengths::MaybeSwapped => caplen > len,
            Lengths::Swapped => true,
        };
        if swap {
            std::mem::swap(&mut caplen, &mut len);
        }
        if caplen > MAXIMUM_SNAPLEN {
            return Err(if caplen > self.snapshot {
                format!(
                    "invalid packet capture length {caplen}, bigger than snaplen of {}",
                    self.snapshot
                )
            } else {
                format!(
                    "invalid packet capture length {caplen}, bigger than maximum of {MAXIMUM_SNAPLEN}"
                )
            });
        }
        let keep = caplen.min(self.snapshot);
        buf.resize(keep as usize, 0);
        let got = read_full(&mut self.r, buf).map_err(|e| read_error(&e))?;
        if got < buf.len() {
            return Err(format!(
                "truncated dump file; tried to read {keep} captured bytes, only got {got}"
            ));
        }
        if caplen > keep {
            // Captured beyond the file's snapshot length: skip the rest, as libpcap does.
            let rest = u64::from(caplen - keep);
            let skipped = io::copy(&mut (&mut self.r).take(rest), &mut io::sink())
                .map_err(|e| read_error(&e))?;
            if skipped < rest {
                return Err(format!(
                    "truncated dump file; tried to read {caplen} captured bytes, only got {}",
                    u64::from(keep) + skipped
                ));
            }
        }
        Ok(Some(Packet {
            ts_sec: field(0) as i32,
            ts_frac: field(4) as i32,
            caplen: keep,
            len,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian microsecond file header with these fields.
    fn header(major: u16, minor: u16, snaplen: u32) -> Vec<u8> {
        let mut h = TCPDUMP_MAGIC.to_le_bytes().to_vec();
        h.extend_from_slice(&major.to_le_bytes());
        h.extend_from_slice(&minor.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&snaplen.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        h
    }

    fn record(caplen: u32, len: u32, data: &[u8]) -> Vec<u8> {
        let mut r = vec![0; 8];
        r.extend_from_slice(&caplen.to_le_bytes());
        r.extend_from_slice(&len.to_le_bytes());
        r.extend_from_slice(data);
        r
    }

    fn open(bytes: &[u8]) -> Result<Savefile<&[u8]>, String> {
        Savefile::open(bytes[..4].try_into().unwrap(), &bytes[4..])
    }

    fn all(bytes: &[u8]) -> (Vec<(Packet, Vec<u8>)>, Option<String>) {
        let mut f = open(bytes).unwrap();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            match f.next(&mut buf) {
                Ok(Some(p)) => out.push((p, buf.clone())),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn header_refusals() {
        assert!(is_pcap([0xd4, 0xc3, 0xb2, 0xa1]));
        assert!(is_pcap([0xa1, 0xb2, 0x3c, 0x4d]));
        assert!(!is_pcap([0x0a, 0x0d, 0x0d, 0x0a]));
        assert_eq!(
            open(&header(1, 4, 0)).unwrap_err(),
            "archaic pcap savefile format"
        );
        assert_eq!(
            open(&header(2, 5, 0)).unwrap_err(),
            "unsupported pcap savefile version 2.5"
        );
        assert_eq!(
            open(&header(3, 4, 0)).unwrap_err(),
            "unsupported pcap savefile version 3.4"
        );
        assert_eq!(
            open(&header(2, 4, 0)[..10]).unwrap_err(),
            "truncated dump file; tried to read 24 file header bytes, only got 10"
        );
        assert_eq!(open(&header(543, 0, 100)).unwrap().snapshot, 100);
        assert_eq!(open(&header(2, 4, 0)).unwrap().snapshot, MAXIMUM_SNAPLEN);
        assert_eq!(
            open(&header(2, 4, 0x8000_0000)).unwrap().snapshot,
            MAXIMUM_SNAPLEN
        );
    }

    #[test]
    fn records() {
        let mut f = header(2, 4, 4);
        f.extend(record(3, 3, b"abc"));
        // Beyond the snapshot length: cut to it, the rest skipped.
        f.extend(record(6, 6, b"defghi"));
        f.extend(record(2, 1, b"jk"));
        let (p, err) = all(&f);
        assert_eq!(err, None);
        assert_eq!(p.len(), 3);
        assert_eq!(
            (p[1].0.caplen, p[1].0.len, p[1].1.as_slice()),
            (4, 6, &b"defg"[..])
        );
        assert_eq!(p[1].0.invalid(), None);
        assert_eq!(p[2].1, b"jk");
        assert_eq!(
            p[2].0.invalid().as_deref(),
            Some("[Invalid header: len(1) < caplen(2)]")
        );
        // Cut inside a record header, inside a record's data, inside the skipped part.
        let (p, err) = all(&f[..24 + 19 + 8]);
        assert_eq!(p.len(), 1);
        assert_eq!(
            err.as_deref(),
            Some("truncated dump file; tried to read 16 header bytes, only got 8")
        );
        let (_, err) = all(&f[..24 + 18]);
        assert_eq!(
            err.as_deref(),
            Some("truncated dump file; tried to read 3 captured bytes, only got 2")
        );
        let (_, err) = all(&f[..24 + 19 + 16 + 5]);
        assert_eq!(
            err.as_deref(),
            Some("truncated dump file; tried to read 6 captured bytes, only got 5")
        );
    }

    #[test]
    fn lengths_and_limits() {
        // Before 2.3 the two fields are the other way round.
        let mut f = header(2, 2, 0);
        f.extend(record(10, 3, b"abc"));
        let (p, _) = all(&f);
        assert_eq!((p[0].0.caplen, p[0].0.len), (3, 10));
        let mut f = header(2, 4, 0);
        f.extend(record(MAXIMUM_SNAPLEN + 1, 5, b""));
        assert_eq!(
            all(&f).1.as_deref(),
            Some("invalid packet capture length 262145, bigger than snaplen of 262144")
        );
        let z = Packet {
            ts_sec: 0,
            ts_frac: 0,
            caplen: 0,
            len: 0,
        };
        assert_eq!(
            z.invalid().as_deref(),
            Some("[Invalid header: caplen==0, len==0]")
        );
        let big = Packet {
            caplen: 60,
            len: 300_000,
            ..z
        };
        assert_eq!(
            big.invalid().as_deref(),
            Some("[Invalid header: len(300000) > 262144]")
        );
    }
}
