//! The per-CPU rings read as one stream in time order.
//!
//! Each CPU writes its own ring, in the order its programs ran. An item is stamped
//! (`bpf_ktime_get_ns`) when its program starts and is visible once it commits, a few
//! microseconds later, with preemption off: so once the rings have been read at time `T`,
//! no item stamped before `T - SLACK_NS` can still turn up. [`Rings::drain`] reads every
//! ring, then hands over, oldest first, the items stamped before that horizon; the younger
//! ones wait for the next drain. The live loop drains at least every 10 ms (and at each
//! wakeup), so a line waits at most about 11 ms; the last drain, once the programs are
//! detached, hands over everything.
use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    ops::ControlFlow,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

use aya::maps::{MapData, RingBuf};

use crate::decode;

/// How long after its stamp an item is surely in its ring (see the module comment).
pub const SLACK_NS: u64 = 1_000_000;

/// Hand over everything (the programs are gone, or run one at a time).
pub const ALL: u64 = u64::MAX;

/// An item read from a ring and not handed over yet.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    ts: u64,
    /// Reading order: ties keep it.
    seq: u64,
    bytes: Vec<u8>,
}

/// The rings of all CPUs, merged.
pub struct Rings {
    rings: Vec<RingBuf<MapData>>,
    held: BinaryHeap<Reverse<Held>>,
    /// Buffers of items handed over, for reuse.
    spare: Vec<Vec<u8>>,
    seq: u64,
    /// An epoll descriptor watching every ring: readable when one of them is.
    epoll: OwnedFd,
}

impl Rings {
    pub fn new(rings: Vec<RingBuf<MapData>>) -> std::io::Result<Rings> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a new descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        for r in &rings {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 0,
            };
            // SAFETY: valid descriptors and event.
            if unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, r.as_raw_fd(), &mut ev) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(Rings {
            rings,
            held: BinaryHeap::new(),
            spare: Vec::new(),
            seq: 0,
            epoll,
        })
    }

    /// How many rings (one per possible CPU).
    pub fn len(&self) -> usize {
        self.rings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// Moves what every ring holds now into the merge.
    fn gather(&mut self) {
        for r in &mut self.rings {
            while let Some(item) = r.next() {
                let mut bytes = self.spare.pop().unwrap_or_default();
                bytes.clear();
                bytes.extend_from_slice(&item);
                self.seq += 1;
                self.held.push(Reverse(Held {
                    ts: decode::item_ts(&bytes),
                    seq: self.seq,
                    bytes,
                }));
            }
        }
    }

    /// Reads every ring, then calls `f` on each item stamped at or before `until`
    /// (CLOCK_MONOTONIC ns; [`ALL`]: every item), oldest first, until it says stop.
    pub fn drain(
        &mut self,
        until: u64,
        f: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.clear_wakeups();
        self.gather();
        while self.held.peek().is_some_and(|h| h.0.ts <= until) {
            let Some(Reverse(h)) = self.held.pop() else {
                break;
            };
            let flow = f(&h.bytes);
            self.spare.push(h.bytes);
            flow?;
        }
        ControlFlow::Continue(())
    }

    /// The oldest item of everything the rings hold now (for readers that run the programs
    /// themselves, one run at a time).
    pub fn pop_oldest(&mut self) -> Option<Vec<u8>> {
        self.gather();
        self.held.pop().map(|h| h.0.bytes)
    }

    /// The horizon for a drain now: items stamped before it are all in the rings.
    pub fn horizon() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64).saturating_sub(SLACK_NS)
    }

    /// Takes the pending readiness events off the epoll descriptor (the rings are read
    /// right after).
    fn clear_wakeups(&self) {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 16];
        // SAFETY: valid descriptor and buffer; no wait.
        while unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), evs.as_mut_ptr(), 16, 0) } == 16 {}
    }
}

impl AsRawFd for Rings {
    fn as_raw_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }
}

impl AsFd for Rings {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}
