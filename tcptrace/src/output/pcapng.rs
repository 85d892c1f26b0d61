//! `-w FILE`: writes what the kernel recorded as pcapng, with the real first bytes of each
//! frame (`SnapRecord`), one interface block per interface and the direction in each
//! packet block, so `tcpdump -r` and Wireshark read it. With several interfaces the frames
//! are written as Linux cooked v2 (SLL2), as `tcpdump -i any -w` writes them, so
//! `tcpdump -r` prints the interface and direction of each.
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
use tcptrace_common::{DIR_EGRESS, Record, pkt_type};

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
    /// Frames written as Linux cooked v2 (several interfaces).
    cooked: bool,
    buf: Vec<u8>,
    /// Bytes written so far, buffered ones included (-C compares it, as tcpdump's ftell).
    written: u64,
}

/// Linux cooked v2 header: protocol, reserved, interface index, ARPHRD type, packet type,
/// address length, address (8 bytes).
const SLL2_LEN: usize = 20;
const ETH_LEN: usize = 14;

impl PcapngOut {
    /// Creates (truncates) `path` and writes the section header.
    pub fn create(path: &Path, snaplen: u32, name: Option<String>) -> Result<Self, WriteError> {
        Self::create_as(path, snaplen, name, false)
    }

    /// [`PcapngOut::create`] for several interfaces: Linux cooked v2 frames.
    pub fn create_cooked(path: &Path, snaplen: u32) -> Result<Self, WriteError> {
        Self::create_as(path, snaplen, None, true)
    }

    fn create_as(
        path: &Path,
        snaplen: u32,
        name: Option<String>,
        cooked: bool,
    ) -> Result<Self, WriteError> {
        let file = File::create(path).map_err(|source| WriteError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let writer = PcapNgWriter::new(BufWriter::new(file)).map_err(|e| WriteError::Pcap {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        // The section header is still in the buffer.
        let written = writer.get_ref().buffer().len() as u64;
        Ok(PcapngOut {
            path: path.to_path_buf(),
            written,
            writer,
            ifaces: HashMap::new(),
            snaplen,
            name,
            cooked,
            buf: Vec::new(),
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
            .or_else(|| crate::source::links::name(ifindex))
            .unwrap_or_else(|| format!("if{ifindex}"));
        let (linktype, snaplen) = if self.cooked {
            (
                DataLink::LINUX_SLL2,
                self.snaplen + (SLL2_LEN - ETH_LEN) as u32,
            )
        } else {
            (DataLink::ETHERNET, self.snaplen)
        };
        let idb = InterfaceDescriptionBlock {
            linktype,
            snaplen,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(name)),
                // Nanosecond timestamps (pcap-file writes the raw units as nanoseconds).
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        self.written += self
            .writer
            .write_pcapng_block(idb)
            .map_err(|e| self.err(e))? as u64;
        let id = self.ifaces.len() as u32;
        self.ifaces.insert(ifindex, id);
        Ok(id)
    }

    /// Writes one packet: the frame bytes the kernel copied, the frame's real length.
    pub fn write(&mut self, rec: &Record, ts: Timestamp, snap: &[u8]) -> Result<(), WriteError> {
        self.write_commented(rec, ts, snap, &[])
    }

    /// [`PcapngOut::write`] with packet comments, one `opt_comment` each (the process,
    /// when known; what the host did with the segment, when it dropped it).
    pub fn write_commented(
        &mut self,
        rec: &Record,
        ts: Timestamp,
        snap: &[u8],
        comments: &[&str],
    ) -> Result<(), WriteError> {
        let id = self.iface_id(rec.ifindex)?;
        let nanos = ts.secs.max(0) as u64 * 1_000_000_000 + u64::from(ts.nanos);
        let dir = if rec.direction == DIR_EGRESS {
            EPB_OUTBOUND
        } else {
            EPB_INBOUND
        };
        let mut original_len = rec.frame_len.max(snap.len() as u32);
        let data = if self.cooked && snap.len() >= ETH_LEN {
            // The Ethernet header becomes a cooked v2 one: its type, the interface, the
            // direction, the source address.
            let b = &mut self.buf;
            b.clear();
            b.extend_from_slice(&snap[12..14]);
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&rec.ifindex.to_be_bytes());
            b.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
            b.push(if rec.direction == DIR_EGRESS {
                pkt_type::OUTGOING
            } else {
                rec.pkt_type
            });
            b.push(6);
            b.extend_from_slice(&snap[6..12]);
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&snap[ETH_LEN..]);
            original_len = original_len - ETH_LEN as u32 + SLL2_LEN as u32;
            Cow::Borrowed(&self.buf[..])
        } else {
            Cow::Borrowed(snap)
        };
        let epb = EnhancedPacketBlock {
            interface_id: id,
            timestamp: Duration::from_nanos(nanos),
            original_len,
            data,
            options: std::iter::once(EnhancedPacketOption::Flags(dir))
                .chain(
                    comments
                        .iter()
                        .map(|c| EnhancedPacketOption::Comment(Cow::Borrowed(*c))),
                )
                .collect(),
        };
        self.written += self
            .writer
            .write_pcapng_block(epb)
            .map_err(|e| self.err(e))? as u64;
        Ok(())
    }

    /// Bytes in the file so far (what is still buffered included).
    pub fn size(&self) -> u64 {
        self.written
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
