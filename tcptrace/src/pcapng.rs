//! `-w FILE`: writes what the kernel recorded as pcapng, with the real first bytes of each
//! frame (`SnapRecord`), one interface block per interface and the direction in each
//! packet block, so `tcpdump -r` and Wireshark read it.
use std::{
    borrow::Cow,
    collections::HashMap,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use pcap_file::{
    DataLink,
    pcapng::{
        PcapNgWriter,
        blocks::{
            enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption},
            interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
        },
    },
};
use tcptrace_common::{DIR_EGRESS, Record};

use crate::decode::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Pcap { path: PathBuf, detail: String },
}

/// pcapng `epb_flags` direction bits.
const EPB_INBOUND: u32 = 1;
const EPB_OUTBOUND: u32 = 2;

pub struct PcapngOut {
    path: PathBuf,
    writer: PcapNgWriter<BufWriter<File>>,
    /// ifindex → interface id in the file.
    ifaces: HashMap<u32, u32>,
    snaplen: u32,
    /// Interface name to use instead of the kernel's (offline replay).
    name: Option<String>,
}

impl PcapngOut {
    /// Creates (truncates) `path` and writes the section header.
    pub fn create(path: &Path, snaplen: u32, name: Option<String>) -> Result<Self, WriteError> {
        let file = File::create(path).map_err(|source| WriteError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let writer = PcapNgWriter::new(BufWriter::new(file)).map_err(|e| WriteError::Pcap {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        Ok(PcapngOut {
            path: path.to_path_buf(),
            writer,
            ifaces: HashMap::new(),
            snaplen,
            name,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> WriteError {
        WriteError::Pcap {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }

    fn iface_id(&mut self, ifindex: u32) -> Result<u32, WriteError> {
        if let Some(id) = self.ifaces.get(&ifindex) {
            return Ok(*id);
        }
        let name = self
            .name
            .clone()
            .or_else(|| if_name(ifindex))
            .unwrap_or_else(|| format!("if{ifindex}"));
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: self.snaplen,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(name)),
                // Nanosecond timestamps (pcap-file writes the raw units as nanoseconds).
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        self.writer
            .write_pcapng_block(idb)
            .map_err(|e| self.err(e))?;
        let id = self.ifaces.len() as u32;
        self.ifaces.insert(ifindex, id);
        Ok(id)
    }

    /// Writes one packet: the frame bytes the kernel copied, the frame's real length.
    pub fn write(&mut self, rec: &Record, ts: Timestamp, snap: &[u8]) -> Result<(), WriteError> {
        let id = self.iface_id(rec.ifindex)?;
        let nanos = ts.secs.max(0) as u64 * 1_000_000_000 + u64::from(ts.nanos);
        let dir = if rec.direction == DIR_EGRESS {
            EPB_OUTBOUND
        } else {
            EPB_INBOUND
        };
        let epb = EnhancedPacketBlock {
            interface_id: id,
            timestamp: Duration::from_nanos(nanos),
            original_len: rec.frame_len.max(snap.len() as u32),
            data: Cow::Borrowed(snap),
            options: vec![EnhancedPacketOption::Flags(dir)],
        };
        self.writer
            .write_pcapng_block(epb)
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Flushes everything to the file.
    pub fn finish(mut self) -> Result<(), WriteError> {
        let path = self.path.clone();
        self.writer
            .get_mut()
            .flush()
            .map_err(|source| WriteError::Io { path, source })
    }
}

fn if_name(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf holds IF_NAMESIZE bytes as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}
