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

/// Writes `frames` to `path` as a little-endian microsecond pcap with link type Ethernet
/// and snaplen 65535 (frames are stored whole: caplen = origlen).
pub fn write_pcap(path: &Path, frames: &[Frame]) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        snaplen: 65535,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(BufWriter::new(file), header).expect("pcap header");
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

/// A place for a test's scratch file (cargo's per-target temporary folder).
pub fn scratch(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}
