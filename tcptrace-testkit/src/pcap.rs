//! Writing test captures: classic pcap, Ethernet link type, microsecond timestamps.
use std::{fs::File, io::BufWriter, path::Path, time::Duration};

use pcap_file::{
    DataLink, Endianness, TsResolution,
    pcap::{PcapHeader, PcapPacket, PcapWriter},
};

/// One frame of a capture: its time since the epoch (UTC) and its bytes (captured whole).
pub struct Frame {
    pub ts: Duration,
    pub data: Vec<u8>,
}

/// A little-endian microsecond pcap file with link type Ethernet and snaplen 65535.
pub fn writer(path: &Path) -> std::io::Result<PcapWriter<BufWriter<File>>> {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        snaplen: 65535,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };
    PcapWriter::with_header(BufWriter::new(File::create(path)?), header)
        .map_err(std::io::Error::other)
}

/// Writes `frames` to `path` with [`writer`] (frames are stored whole: caplen = origlen).
pub fn write_pcap(path: &Path, frames: &[Frame]) {
    let mut w = writer(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    for f in frames {
        assert!(
            f.ts.subsec_nanos() % 1000 == 0,
            "microsecond pcap: {:?} has sub-microsecond digits",
            f.ts
        );
        w.write_packet(&PcapPacket::new(f.ts, f.data.len() as u32, &f.data))
            .expect("write pcap packet");
    }
    use std::io::Write as _;
    w.into_writer().flush().expect("flush pcap");
}

/// A place for a test's scratch file: `$TCPTRACE_SCRATCH`, else `tcptrace-tests` in the
/// system's temporary folder (made if missing).
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("TCPTRACE_SCRATCH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("tcptrace-tests"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
    dir.join(name)
}

/// A classic pcap file taken apart into its file header and records, for editing fields
/// byte by byte (fuzzing, malformed files). Fields are read and written in the file's own
/// byte order (from its magic); records are split on their caplen fields (the last one
/// keeps what is left when its caplen runs past the end).
#[derive(Clone, Debug)]
pub struct RawPcap {
    pub header: [u8; 24],
    pub records: Vec<RawRecord>,
    /// Bytes after the last record too few for a record header (a file cut short).
    pub trailer: Vec<u8>,
}

/// One record: its 16-byte header (ts_sec, ts_frac, caplen, len) and captured bytes.
#[derive(Clone, Debug)]
pub struct RawRecord {
    pub header: [u8; 16],
    pub data: Vec<u8>,
}

/// File header field offsets.
pub mod hdr {
    pub const VERSION_MAJOR: usize = 4;
    pub const VERSION_MINOR: usize = 6;
    pub const SNAPLEN: usize = 16;
    pub const LINKTYPE: usize = 20;
}

/// Record header field offsets.
pub mod rec {
    pub const TS_SEC: usize = 0;
    pub const TS_FRAC: usize = 4;
    pub const CAPLEN: usize = 8;
    pub const LEN: usize = 12;
}

impl RawPcap {
    /// Splits a well-formed classic pcap file (16-byte record headers).
    pub fn parse(bytes: &[u8]) -> RawPcap {
        assert!(bytes.len() >= 24, "pcap file header: {} bytes", bytes.len());
        let mut p = RawPcap {
            header: bytes[..24].try_into().unwrap(),
            records: Vec::new(),
            trailer: Vec::new(),
        };
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let header: [u8; 16] = bytes[at..at + 16].try_into().unwrap();
            let caplen = p.get(&header, rec::CAPLEN) as usize;
            let end = (at + 16 + caplen).min(bytes.len());
            p.records.push(RawRecord {
                header,
                data: bytes[at + 16..end].to_vec(),
            });
            at = end;
        }
        p.trailer = bytes[at..].to_vec();
        p
    }

    pub fn read(path: &Path) -> RawPcap {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        RawPcap::parse(&bytes)
    }

    /// The file as bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.header.to_vec();
        for r in &self.records {
            out.extend_from_slice(&r.header);
            out.extend_from_slice(&r.data);
        }
        out.extend_from_slice(&self.trailer);
        out
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.bytes())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The file is big-endian (magic `a1 b2 …` in the first byte).
    pub fn big_endian(&self) -> bool {
        self.header[0] == 0xa1
    }

    /// A 32-bit field of `bytes` at `off`, in the file's byte order.
    pub fn get(&self, bytes: &[u8], off: usize) -> u32 {
        let b: [u8; 4] = bytes[off..off + 4].try_into().unwrap();
        if self.big_endian() {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    /// Sets a 32-bit field of `bytes` at `off`, in the file's byte order.
    pub fn put(&self, bytes: &mut [u8], off: usize, v: u32) {
        let b = if self.big_endian() {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        bytes[off..off + 4].copy_from_slice(&b);
    }

    /// Sets a 16-bit field of the file header (the version numbers), in the file's order.
    pub fn put_header16(&mut self, off: usize, v: u16) {
        let b = if self.big_endian() {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.header[off..off + 2].copy_from_slice(&b);
    }

    pub fn set_version(&mut self, major: u16, minor: u16) {
        self.put_header16(hdr::VERSION_MAJOR, major);
        self.put_header16(hdr::VERSION_MINOR, minor);
    }

    pub fn set_snaplen(&mut self, snaplen: u32) {
        let mut h = self.header;
        self.put(&mut h, hdr::SNAPLEN, snaplen);
        self.header = h;
    }

    /// A record header field (see [`rec`]).
    pub fn record_field(&self, i: usize, off: usize) -> u32 {
        self.get(&self.records[i].header, off)
    }

    /// Sets a record header field (see [`rec`]); the data is left as it is.
    pub fn set_record_field(&mut self, i: usize, off: usize, v: u32) {
        let mut h = self.records[i].header;
        self.put(&mut h, off, v);
        self.records[i].header = h;
    }
}

/// A classic little-endian pcap file, every field given: link type, nanosecond magic or
/// not, and each record's raw time fields (seconds, fraction: any value, in range or not)
/// and bytes (caplen = len).
pub fn raw_file(linktype: u32, nano: bool, records: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let magic: u32 = if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut out = Vec::new();
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (sec, frac, data) in records {
        for v in [*sec, *frac, data.len() as u32, data.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(data);
    }
    out
}
