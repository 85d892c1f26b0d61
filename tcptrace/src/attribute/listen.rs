//! A local listener's accept queue. A SYN that finds it full is not dropped the way
//! `skb:kfree_skb` sees (on 6.1 to 6.18 the kernel frees it as consumed): what the kernel
//! does expose is the queue itself (`/proc/net/tcp`'s `rx_queue` of a listening socket,
//! `ss -l`'s Recv-Q: connections it has not accepted) and the namespace's
//! `TcpExt: ListenOverflows` counter. Read in tcptrace's own (the traced) namespace.
use std::fs;

/// `/proc/net/tcp` state of a listening socket.
const LISTEN: &str = "0A";

/// The namespace's listen overflows when the trace started.
pub struct AcceptQueues {
    overflows_at_start: u64,
}

impl Default for AcceptQueues {
    fn default() -> Self {
        AcceptQueues {
            overflows_at_start: overflows().unwrap_or(0),
        }
    }
}

impl AcceptQueues {
    /// When a listener on `port` has connections it has not accepted and the kernel
    /// counted listen overflows since the trace started: (connections waiting, overflows).
    pub fn full(&self, port: u16) -> Option<(u32, u64)> {
        let rose = overflows()?.saturating_sub(self.overflows_at_start);
        let queued = ["tcp", "tcp6"]
            .iter()
            .filter_map(|t| fs::read_to_string(format!("/proc/self/net/{t}")).ok())
            .flat_map(|text| {
                text.lines()
                    .skip(1)
                    .filter_map(|l| waiting(l, port))
                    .collect::<Vec<_>>()
            })
            .max()?;
        (rose > 0 && queued > 0).then_some((queued, rose))
    }
}

/// The accept queue length of a listening socket's `/proc/net/tcp` line on `port`.
fn waiting(line: &str, port: u16) -> Option<u32> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let lport = u16::from_str_radix(w.get(1)?.rsplit_once(':')?.1, 16).ok()?;
    if lport != port || *w.get(3)? != LISTEN {
        return None;
    }
    u32::from_str_radix(w.get(4)?.split_once(':')?.1, 16).ok()
}

/// `TcpExt: ListenOverflows` of this namespace.
fn overflows() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let i = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_queue() {
        let l = "   0: 0200070A:0017 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0";
        assert_eq!(waiting(l, 23), Some(2));
        assert_eq!(waiting(l, 24), None);
        let est = "   1: 0200070A:0017 0100070A:A55A 01 00000000:00000000 00:00000000 00000000     0        0 12346 1";
        assert_eq!(waiting(est, 23), None);
    }
}
