//! Offline replay: every frame of a pcap or pcapng file goes through the same loaded XDP
//! program via BPF_PROG_TEST_RUN; its record comes out of the same ring buffer. Frames
//! without an Ethernet header get a synthetic one; the timestamp comes from the file.
use std::{
    fs::File,
    io::{self, BufReader},
    ops::ControlFlow,
    path::{Path, PathBuf},
    time::Duration,
};

use pcap_file::{
    DataLink,
    pcapng::{
        Block, PcapNgReader,
        blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
    },
};
use tcptrace_common::{DIR_EGRESS, DIR_INGRESS, FAMILY_V4, Record, status};

use super::{
    Captured, Sink,
    savefile::{self, Savefile},
};
use crate::{
    decode::{self, FileTime, Item, Tail, Timestamp},
    kernel::{Kernel, KernelError, Prog, Rings},
};

const ETH_HLEN: usize = 14;
/// The most BPF_PROG_TEST_RUN takes for XDP (a linear page plus 17 fragment pages); longer
/// frames (BIG TCP) are replayed cut to this, which keeps every header.
const MAX_REPLAY: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("{path}: {}", os_text(.error))]
    Open { path: PathBuf, error: io::Error },
    /// What libpcap says of a file it will not read, or of a record it cannot read (its
    /// own words: `truncated dump file; tried to read 16 header bytes, only got 8`).
    #[error("{path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path}: not a pcap or pcapng file ({detail})")]
    Format { path: PathBuf, detail: String },
    #[error(
        "{path}: unsupported link type {linktype:?} (supported: Ethernet, Linux cooked SLL and SLL2, raw IPv4/IPv6, BSD loopback, PPP, PPPoE, IP over InfiniBand, NFLOG)"
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

/// An I/O error as C's `strerror` words it (`No such file or directory`), without Rust's
/// ` (os error 2)`.
fn os_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// Linux cooked header packet type of an outgoing packet.
const SLL_OUTGOING: u8 = 4;

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
    /// PPP: address and control (0xff 0x03, may be left out), then the protocol in one
    /// byte (odd) or two.
    Ppp,
    /// PPPoE without Ethernet (PPP_ETHER): replayed as an Ethernet PPPoE session frame,
    /// which the kernel parses.
    PppEther,
    /// IP over InfiniBand: 44-byte header, the EtherType in bytes 40..42.
    IpOverIb,
    /// Linux netfilter log (NFLOG): address family, version, group, then TLVs in the
    /// writer's byte order (the file's) up to the packet payload.
    Nflog {
        big_endian: bool,
    },
}

impl Link {
    /// The link of `dl`; `big_endian`: the file's (or section's) byte order.
    fn of(dl: DataLink, big_endian: bool) -> Option<Link> {
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
            DataLink::PPP => Link::Ppp,
            DataLink::PPP_ETHER => Link::PppEther,
            DataLink::IPOIB => Link::IpOverIb,
            DataLink::NFLOG => Link::Nflog { big_endian },
            _ => return None,
        })
    }

    /// A Linux cooked v2 frame's interface index and packet type.
    fn cooked(self, data: &[u8]) -> Option<(u32, u8)> {
        match self {
            Link::Sll2 if data.len() >= 20 => Some((
                u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
                data[10],
            )),
            _ => None,
        }
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
            Link::Ppp => {
                let at = if data.starts_with(&[0xff, 0x03]) {
                    2
                } else {
                    0
                };
                let first = *data.get(at)?;
                let (proto, len) = if first & 1 == 1 {
                    (u16::from(first), 1)
                } else {
                    (u16::from_be_bytes([first, *data.get(at + 1)?]), 2)
                };
                match proto {
                    0x0021 => Some((at + len, 0x0800)),
                    0x0057 => Some((at + len, 0x86dd)),
                    _ => None,
                }
            }
            Link::PppEther => Some((0, 0x8864)),
            Link::IpOverIb => {
                (data.len() >= 44).then(|| (44, u16::from_be_bytes([data[40], data[41]])))
            }
            Link::Nflog { big_endian } => nflog_payload(data, big_endian),
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

/// The TCP checksum of a segment the kernel was given only the first [`MAX_REPLAY`]
/// bytes of (a BIG TCP jumbogram), worked out here over the whole segment when the file
/// holds it: the value the field should hold, as the kernel records it for the rest.
fn checksum_past_replay(rec: &mut Record, input: &[u8], tail: Option<&Tail>) {
    let (l3, l4) = (usize::from(rec.l3_off), usize::from(rec.l4_off));
    let hdrs = l4.saturating_sub(l3);
    let tcp_len = if rec.family == FAMILY_V4 {
        (rec.ip_len as usize).checked_sub(hdrs)
    } else {
        let payload = match rec.ip_len {
            0 => tail.and_then(Tail::jumbo),
            n => Some(n),
        };
        payload.and_then(|p| (p as usize).checked_sub(hdrs.saturating_sub(40)))
    };
    let Some(seg) = tcp_len.and_then(|n| input.get(l4..l4 + n)) else {
        return;
    };
    if seg.len() < 20 {
        return;
    }
    let mut sum: u64 = 6 + seg.len() as u64;
    let mut add = |b: &[u8]| {
        for w in b.chunks(2) {
            sum += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
    };
    if rec.family == FAMILY_V4 {
        add(&rec.saddr[..4]);
        add(&rec.daddr[..4]);
    } else {
        add(&rec.saddr);
        add(&rec.daddr);
    }
    // The segment with its checksum field as zero.
    add(&seg[..16]);
    add(&seg[18..]);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    rec.tcp_csum_calc = !(sum as u16);
    rec.status = (rec.status | status::CSUM_COMPUTED) & !status::CSUM_UNAVAILABLE;
}

/// NFLOG's payload TLV type.
const NFULA_PAYLOAD: u16 = 9;

/// Where an NFLOG frame's IP packet starts and its EtherType, walking the TLVs as
/// tcpdump does: version 0, family AF_INET or AF_INET6, each TLV (its length rounded up
/// to 4) captured whole, up to the payload TLV. None for anything else.
fn nflog_payload(data: &[u8], big_endian: bool) -> Option<(usize, u16)> {
    if *data.get(1)? != 0 {
        return None;
    }
    let ethertype = match data[0] {
        2 => 0x0800,
        10 => 0x86dd,
        _ => return None,
    };
    let u16_at = |i: usize| {
        let b = [data[i], data[i + 1]];
        if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let mut at = 4;
    while at + 4 <= data.len() {
        let size = usize::from(u16_at(at)).next_multiple_of(4);
        if size < 4 || at + size > data.len() {
            return None;
        }
        if u16_at(at + 2) == NFULA_PAYLOAD {
            return Some((at + 4, ethertype));
        }
        at += size;
    }
    None
}

/// One frame from the file, link header still on.
struct Frame<'a> {
    ts: Timestamp,
    orig_len: u32,
    /// tcpdump prints `[Invalid header: …]` for it and decodes nothing (see
    /// [`savefile::Packet::invalid`]).
    invalid: bool,
    data: &'a [u8],
}

/// tcpdump's `[Invalid header: …]` test on a record's captured and original lengths.
fn invalid_header(caplen: usize, len: u32) -> bool {
    let p = savefile::Packet {
        ts_sec: 0,
        ts_frac: 0,
        caplen: u32::try_from(caplen).unwrap_or(u32::MAX),
        len,
    };
    p.invalid().is_some()
}

/// A classic pcap record's time: seconds as the signed 32-bit field libpcap reads, and
/// the fraction in the file's unit. A fraction of a second or more, or a negative one (a
/// damaged file), is carried into the seconds, and the fields are kept for the tcpdump
/// renderer, which prints them as tcpdump does.
fn file_time(sec: i32, frac: i32, nano: bool) -> Timestamp {
    let per_sec: i64 = if nano { 1_000_000_000 } else { 1_000_000 };
    let raw = i64::from(frac);
    let secs = i64::from(sec) + raw.div_euclid(per_sec);
    let rem = raw.rem_euclid(per_sec);
    let mut ts = Timestamp::new(secs, (rem * (1_000_000_000 / per_sec)) as u32);
    if !(0..per_sec).contains(&raw) {
        ts.file = Some(FileTime { sec, frac, nano });
    }
    ts
}

/// Replays `path` through the kernel's XDP program into `sink`. Returns the number of
/// frames read. `unfiltered`: no filter is in force, so every frame is one tcpdump would
/// print, and frames without a record are reported to [`Sink::skipped`].
pub fn replay(
    path: &Path,
    kernel: &mut Kernel,
    ring: &mut Rings,
    sink: &mut dyn Sink,
    unfiltered: bool,
) -> Result<u64, OfflineError> {
    let open_err = |error| OfflineError::Open {
        path: path.to_path_buf(),
        error,
    };
    let read_err = |detail| OfflineError::Read {
        path: path.to_path_buf(),
        detail,
    };
    let mut file = BufReader::new(File::open(path).map_err(open_err)?);
    let mut magic = [0u8; 4];
    match savefile::read_full(&mut file, &mut magic) {
        Ok(4) => {}
        Ok(n) => {
            return Err(read_err(format!(
                "truncated dump file; tried to read 4 file header bytes, only got {n}"
            )));
        }
        Err(e) => return Err(read_err(savefile::read_error(&e))),
    }
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
        // pcap-file reads the section header from its start.
        replayer.pcapng(BufReader::new(File::open(path).map_err(open_err)?))?;
    } else if savefile::is_pcap(magic) {
        let file = Savefile::open(magic, file).map_err(read_err)?;
        replayer.pcap(file)?;
    } else {
        return Err(replayer.format_err("unknown file format"));
    }
    Ok(replayer.frames)
}

struct Replayer<'a> {
    path: &'a Path,
    kernel: &'a mut Kernel,
    ring: &'a mut Rings,
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

    fn link(&self, dl: DataLink, big_endian: bool) -> Result<Link, OfflineError> {
        Link::of(dl, big_endian).ok_or_else(|| OfflineError::LinkType {
            path: self.path.to_path_buf(),
            linktype: dl,
        })
    }

    fn pcap(&mut self, mut file: Savefile<BufReader<File>>) -> Result<(), OfflineError> {
        let link = self.link(DataLink::from(file.linktype), file.big_endian())?;
        let read_err = |detail| OfflineError::Read {
            path: self.path.to_path_buf(),
            detail,
        };
        let mut data = Vec::with_capacity(2048);
        while let Some(pkt) = file.next(&mut data).map_err(read_err)? {
            let frame = Frame {
                ts: file_time(pkt.ts_sec, pkt.ts_frac, file.nano),
                orig_len: pkt.len,
                invalid: pkt.invalid().is_some(),
                data: &data,
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
        let mut big_endian = false;
        while let Some(block) = reader.next_block() {
            let block = block.map_err(|e| self.corrupt(e))?;
            let (iface, raw_ts, orig_len, data) = match &block {
                Block::InterfaceDescription(idb) => {
                    ifaces.push((self.link(idb.linktype, big_endian)?, units_per_sec(idb)));
                    continue;
                }
                Block::SectionHeader(shb) => {
                    big_endian = shb.endianness == pcap_file::Endianness::Big;
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
                invalid: invalid_header(data.len(), orig_len),
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
            return Ok(self.skipped(frame));
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
            return Ok(self.skipped(frame));
        }
        // Wire length as the kernel would see it with our Ethernet header in front.
        let added = if link == Link::Ethernet { 0 } else { ETH_HLEN };
        let wire_len = (frame.orig_len as usize).saturating_sub(strip) + added;
        // A segment that runs past the replayed bytes has no checksum verdict: the kernel
        // marks it (CSUM_UNAVAILABLE), as any segment beyond the bytes it is given.
        self.kernel
            .run(Prog::Xdp, &input[..input.len().min(MAX_REPLAY)])?;
        let mut records = 0;
        while let Some(item) = self.ring.pop_oldest() {
            records += 1;
            if frame.invalid {
                // tcpdump decodes none of it: only whether the filter took it counts.
                continue;
            }
            let (mut rec, icmp, snap, tail) = match decode::item(&item) {
                Some(Item::Segment { rec, snap, tail }) => (rec, None, snap, tail),
                Some(Item::Icmp { rec, icmp }) => (rec, Some(icmp), &[][..], None),
                _ => continue,
            };
            rec.frame_len = wire_len.max(input.len()) as u32;
            let cooked = link.cooked(frame.data).map(|(ifindex, pkttype)| {
                // Linux cooked v2: the interface and packet type the capture recorded.
                rec.ifindex = ifindex;
                rec.direction = if pkttype == SLL_OUTGOING {
                    DIR_EGRESS
                } else {
                    DIR_INGRESS
                };
                pkttype
            });
            if let Some(i) = icmp {
                if self.sink.icmp(&rec, &i, frame.ts, cooked).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                continue;
            }
            if input.len() > MAX_REPLAY {
                checksum_past_replay(&mut rec, input, tail.as_ref());
            }
            let c = Captured {
                rec: &rec,
                ts: frame.ts,
                snap,
                cooked,
                tail: tail.as_ref(),
            };
            if self.sink.record(c).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        if frame.invalid && records > 0 {
            self.sink.invalid();
        } else if records == 0 {
            return Ok(self.skipped(frame));
        }
        Ok(ControlFlow::Continue(()))
    }

    /// A frame that gave no record: with no filter in force it is one tcpdump prints a
    /// line for (an `[Invalid header: …]` one, without a timestamp, for an invalid record).
    fn skipped(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        if self.unfiltered {
            if frame.invalid {
                self.sink.invalid();
            } else {
                self.sink.skipped(frame.ts);
            }
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
