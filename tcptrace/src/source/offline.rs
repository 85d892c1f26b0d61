//! Offline replay: every frame of a pcap or pcapng file goes through the same loaded XDP
//! program via BPF_PROG_TEST_RUN; its record comes out of the same ring buffer. Frames
//! without an Ethernet header get a synthetic one; the timestamp comes from the file.
use std::{
    fs::File,
    io::{BufReader, Read},
    ops::ControlFlow,
    path::{Path, PathBuf},
    time::Duration,
};

use aya::maps::{MapData, RingBuf};
use pcap_file::{
    DataLink, TsResolution,
    pcap::PcapReader,
    pcapng::{
        Block, PcapNgReader,
        blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
    },
};

use tcptrace_common::status;

use super::Sink;
use crate::{
    decode::Timestamp,
    kernel::{Kernel, KernelError, record_from_bytes},
};

const ETH_HLEN: usize = 14;
/// The most BPF_PROG_TEST_RUN takes for XDP (a linear page plus 17 fragment pages); longer
/// frames (BIG TCP) are replayed cut to this, which keeps every header.
const MAX_REPLAY: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("{path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a pcap or pcapng file ({detail})")]
    Format { path: PathBuf, detail: String },
    #[error(
        "{path}: unsupported link type {linktype:?} (supported: Ethernet, Linux cooked SLL and SLL2, raw IPv4/IPv6, BSD loopback)"
    )]
    LinkType { path: PathBuf, linktype: DataLink },
    #[error("{path}: packet {index}: {detail}")]
    Corrupt {
        path: PathBuf,
        index: u64,
        detail: String,
    },
    #[error(transparent)]
    Kernel(#[from] KernelError),
}

/// How a link type's frames become Ethernet frames for the XDP program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Ethernet,
    /// Linux cooked v1: 16-byte header, protocol in bytes 14..16.
    Sll,
    /// Linux cooked v2: 20-byte header, protocol in bytes 0..2.
    Sll2,
    /// Raw IP: version from the first nibble.
    Raw,
    /// BSD loopback: 4-byte address family, host order (NULL) or network order (LOOP).
    Null {
        big_endian: bool,
    },
}

impl Link {
    fn of(dl: DataLink) -> Option<Link> {
        // The top bits of a pcap link type field carry FCS details (libpcap's
        // LT_LINKTYPE mask); the type itself is in the low bits.
        let dl = DataLink::from(u32::from(dl) & 0x03ff_ffff);
        Some(match dl {
            DataLink::ETHERNET => Link::Ethernet,
            DataLink::LINUX_SLL => Link::Sll,
            DataLink::LINUX_SLL2 => Link::Sll2,
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Link::Raw,
            DataLink::NULL => Link::Null { big_endian: false },
            DataLink::LOOP => Link::Null { big_endian: true },
            _ => return None,
        })
    }

    /// Header bytes to strip and the EtherType to put in front, or None when the frame
    /// carries nothing we could parse (it is then skipped, as tcpdump prints no TCP for it).
    fn split(self, data: &[u8]) -> Option<(usize, u16)> {
        match self {
            Link::Ethernet => Some((0, 0)),
            Link::Sll => (data.len() >= 16).then(|| (16, u16::from_be_bytes([data[14], data[15]]))),
            Link::Sll2 => (data.len() >= 20).then(|| (20, u16::from_be_bytes([data[0], data[1]]))),
            Link::Raw => match data.first()? >> 4 {
                4 => Some((0, 0x0800)),
                6 => Some((0, 0x86dd)),
                _ => None,
            },
            Link::Null { big_endian } => {
                let b: [u8; 4] = data.get(..4)?.try_into().ok()?;
                let family = if big_endian {
                    u32::from_be_bytes(b)
                } else {
                    // Files written on either byte order: take whichever reads small.
                    let le = u32::from_le_bytes(b);
                    if le < 0x100 {
                        le
                    } else {
                        u32::from_be_bytes(b)
                    }
                };
                match family {
                    2 => Some((4, 0x0800)),
                    10 | 24 | 28 | 30 => Some((4, 0x86dd)),
                    _ => None,
                }
            }
        }
    }
}

/// One frame from the file, link header still on.
struct Frame<'a> {
    ts: Timestamp,
    orig_len: u32,
    data: &'a [u8],
}

/// Replays `path` through the kernel's XDP program into `sink`. Returns the number of
/// frames read. `unfiltered`: no filter is in force, so every frame is one tcpdump would
/// print, and frames without a record are reported to [`Sink::skipped`].
pub fn replay(
    path: &Path,
    kernel: &mut Kernel,
    ring: &mut RingBuf<MapData>,
    sink: &mut dyn Sink,
    unfiltered: bool,
) -> Result<u64, OfflineError> {
    let open_err = |source| OfflineError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = BufReader::new(File::open(path).map_err(open_err)?);
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|e| OfflineError::Format {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    let file = BufReader::new(File::open(path).map_err(open_err)?);
    let mut replayer = Replayer {
        path,
        kernel,
        ring,
        sink,
        buf: Vec::with_capacity(2048),
        frames: 0,
        unfiltered,
    };
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        replayer.pcapng(file)?;
    } else {
        replayer.pcap(file)?;
    }
    Ok(replayer.frames)
}

struct Replayer<'a> {
    path: &'a Path,
    kernel: &'a mut Kernel,
    ring: &'a mut RingBuf<MapData>,
    sink: &'a mut dyn Sink,
    buf: Vec<u8>,
    frames: u64,
    unfiltered: bool,
}

impl Replayer<'_> {
    fn format_err(&self, e: impl std::fmt::Display) -> OfflineError {
        OfflineError::Format {
            path: self.path.to_path_buf(),
            detail: e.to_string(),
        }
    }

    fn corrupt(&self, e: impl std::fmt::Display) -> OfflineError {
        OfflineError::Corrupt {
            path: self.path.to_path_buf(),
            index: self.frames + 1,
            detail: e.to_string(),
        }
    }

    fn link(&self, dl: DataLink) -> Result<Link, OfflineError> {
        Link::of(dl).ok_or_else(|| OfflineError::LinkType {
            path: self.path.to_path_buf(),
            linktype: dl,
        })
    }

    fn pcap(&mut self, file: BufReader<File>) -> Result<(), OfflineError> {
        let mut reader = PcapReader::new(file).map_err(|e| self.format_err(e))?;
        let header = reader.header();
        let link = self.link(header.datalink)?;
        let nano = header.ts_resolution == TsResolution::NanoSecond;
        while let Some(pkt) = reader.next_raw_packet() {
            let pkt = pkt.map_err(|e| self.corrupt(e))?;
            let frac = if nano {
                pkt.ts_frac
            } else {
                pkt.ts_frac.saturating_mul(1000)
            };
            if frac >= 1_000_000_000 {
                return Err(self.corrupt("timestamp fraction out of range"));
            }
            let frame = Frame {
                ts: Timestamp::new(i64::from(pkt.ts_sec), frac),
                orig_len: pkt.orig_len,
                data: &pkt.data,
            };
            if self.frame(link, &frame)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn pcapng(&mut self, file: BufReader<File>) -> Result<(), OfflineError> {
        let mut reader = PcapNgReader::new(file).map_err(|e| self.format_err(e))?;
        // Per interface: link type and timestamp units per second.
        let mut ifaces: Vec<(Link, u64)> = Vec::new();
        while let Some(block) = reader.next_block() {
            let block = block.map_err(|e| self.corrupt(e))?;
            let (iface, raw_ts, orig_len, data) = match &block {
                Block::InterfaceDescription(idb) => {
                    ifaces.push((self.link(idb.linktype)?, units_per_sec(idb)));
                    continue;
                }
                Block::SectionHeader(_) => {
                    ifaces.clear();
                    continue;
                }
                Block::EnhancedPacket(epb) => {
                    (epb.interface_id, epb.timestamp, epb.original_len, &epb.data)
                }
                Block::SimplePacket(spb) => (0, Duration::ZERO, spb.original_len, &spb.data),
                _ => continue,
            };
            let Some(&(link, per_sec)) = ifaces.get(iface as usize) else {
                return Err(self.corrupt(format!("packet on undeclared interface {iface}")));
            };
            // pcap-file hands the raw timestamp units over as nanoseconds.
            let units = raw_ts.as_nanos();
            let secs = units / u128::from(per_sec);
            let frac = units % u128::from(per_sec);
            let nanos = (frac * 1_000_000_000 / u128::from(per_sec)) as u32;
            let frame = Frame {
                ts: Timestamp::new(secs as i64, nanos),
                orig_len,
                data,
            };
            if self.frame(link, &frame)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Runs one frame through the XDP program and hands on what it recorded.
    fn frame(&mut self, link: Link, frame: &Frame<'_>) -> Result<ControlFlow<()>, OfflineError> {
        self.frames += 1;
        let Some((strip, ethertype)) = link.split(frame.data) else {
            return Ok(self.skipped(frame.ts));
        };
        let data = &frame.data[strip..];
        let input: &[u8] = if link == Link::Ethernet {
            data
        } else {
            self.buf.clear();
            self.buf.extend_from_slice(&[0u8; 12]);
            self.buf.extend_from_slice(&ethertype.to_be_bytes());
            self.buf.extend_from_slice(data);
            &self.buf
        };
        if input.len() < ETH_HLEN {
            return Ok(self.skipped(frame.ts));
        }
        // Wire length as the kernel would see it with our Ethernet header in front.
        let added = if link == Link::Ethernet { 0 } else { ETH_HLEN };
        let wire_len = (frame.orig_len as usize).saturating_sub(strip) + added;
        let cut = input.len() > MAX_REPLAY;
        self.kernel.run_xdp(&input[..input.len().min(MAX_REPLAY)])?;
        let mut records = 0;
        while let Some(item) = self.ring.next() {
            records += 1;
            let Some((mut rec, snap)) = record_from_bytes(&item) else {
                continue;
            };
            rec.frame_len = wire_len.max(input.len()) as u32;
            if cut {
                // The kernel did not see the whole segment: no checksum verdict.
                rec.status |= status::CSUM_UNAVAILABLE;
            }
            if self.sink.record(&rec, frame.ts, snap).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        if records == 0 {
            return Ok(self.skipped(frame.ts));
        }
        Ok(ControlFlow::Continue(()))
    }

    fn skipped(&mut self, ts: Timestamp) -> ControlFlow<()> {
        if self.unfiltered {
            self.sink.skipped(ts);
        }
        ControlFlow::Continue(())
    }
}

/// Timestamp units per second from an interface's `if_tsresol` (default microseconds).
fn units_per_sec(idb: &InterfaceDescriptionBlock<'_>) -> u64 {
    for opt in &idb.options {
        if let InterfaceDescriptionOption::IfTsResol(r) = opt {
            let exp = u32::from(r & 0x7f);
            return if r & 0x80 != 0 {
                2u64.checked_pow(exp).unwrap_or(1_000_000)
            } else {
                10u64.checked_pow(exp).unwrap_or(1_000_000)
            };
        }
    }
    1_000_000
}
