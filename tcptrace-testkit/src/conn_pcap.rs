//! Crafted conversations for the connection-tracking tests: one client and one server,
//! segments given as (time, direction, flags, seq, ack, window, payload length), written
//! as an Ethernet pcap with the shared packet builder and pcap writer.

use std::{path::PathBuf, time::Duration};

use super::{
    packet::{Ipv4, Tcp, eth4},
    pcap::{Frame, scratch, write_pcap},
};

/// Who sends a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client → server.
    C,
    /// Server → client.
    S,
}

/// One segment of a conversation.
#[derive(Clone, Debug)]
pub struct Seg {
    /// Microseconds after the conversation's start.
    pub us: u64,
    pub dir: Dir,
    pub flags: u16,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub len: usize,
    /// TCP options (e.g. the SYN's mss).
    pub options: Vec<u8>,
    pub df: bool,
    /// IPv4 ID (default: 0x100 + the frame's index, so later frames have newer IDs).
    pub ip_id: Option<u16>,
}

/// `Seg` without options, DF set.
pub fn s(us: u64, dir: Dir, flags: u16, seq: u32, ack: u32, win: u16, len: usize) -> Seg {
    Seg {
        us,
        dir,
        flags,
        seq,
        ack,
        win,
        len,
        options: Vec::new(),
        df: true,
        ip_id: None,
    }
}

/// A conversation between two IPv4 endpoints.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub client: [u8; 4],
    pub server: [u8; 4],
    pub cport: u16,
    pub sport: u16,
    /// Start: seconds since the epoch (UTC).
    pub start_secs: u64,
}

impl Conversation {
    pub fn new(cport: u16, sport: u16) -> Conversation {
        Conversation {
            client: [10, 0, 0, 1],
            server: [10, 0, 0, 2],
            cport,
            sport,
            // 2024-01-02T03:04:05Z
            start_secs: 1704164645,
        }
    }

    pub fn client_ep(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            self.client[0], self.client[1], self.client[2], self.client[3], self.cport
        )
    }

    pub fn server_ep(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            self.server[0], self.server[1], self.server[2], self.server[3], self.sport
        )
    }

    /// The frames of `segs` (payload bytes are 'x').
    pub fn frames(&self, segs: &[Seg]) -> Vec<Frame> {
        segs.iter()
            .enumerate()
            .map(|(i, g)| {
                let (src, dst, sp, dp) = match g.dir {
                    Dir::C => (self.client, self.server, self.cport, self.sport),
                    Dir::S => (self.server, self.client, self.sport, self.cport),
                };
                let mut tcp = Tcp::new(sp, dp);
                tcp.seq = g.seq;
                tcp.ack = g.ack;
                tcp.flags = g.flags;
                tcp.window = g.win;
                tcp.options = g.options.clone();
                tcp.payload = vec![b'x'; g.len];
                let mut ip = Ipv4::new(src, dst);
                ip.df = g.df;
                ip.id = g.ip_id.unwrap_or(0x100 + i as u16);
                Frame {
                    ts: Duration::from_secs(self.start_secs) + Duration::from_micros(g.us),
                    data: eth4(&ip.tcp(&tcp)),
                }
            })
            .collect()
    }
}

/// Writes `frames` as `name` under the test scratch folder (per process, so parallel test
/// binaries do not collide) and returns the path.
pub fn write(name: &str, frames: &[Frame]) -> PathBuf {
    let path = scratch(&format!("{name}.{}.pcap", std::process::id()));
    write_pcap(&path, frames);
    path
}
