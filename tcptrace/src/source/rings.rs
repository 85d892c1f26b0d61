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
    ops::ControlFlow,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

use aya::maps::{MapData, RingBuf};

use crate::decode;

/// How long after its stamp an item is surely in its ring (see the module comment).
pub const SLACK_NS: u64 = 1_000_000;

/// Hand over everything (the programs are gone, or run one at a time).
pub const ALL: u64 = u64::MAX;

/// An item read from a ring and not handed over yet: its bytes are `arena[at..at + len]`.
#[derive(Clone, Copy)]
struct Held {
    ts: u64,
    at: usize,
    len: usize,
}

/// The rings of all CPUs, merged.
pub struct Rings {
    rings: Vec<RingBuf<MapData>>,
    /// The bytes of the items read, one after another in reading order.
    arena: Vec<u8>,
    /// Where the arena's items are copied when it is compacted (kept for reuse).
    spare: Vec<u8>,
    /// The items not handed over yet, oldest first (ties in reading order).
    held: Vec<Held>,
    /// Bytes of the arena that `held` still points to.
    live: usize,
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
            arena: Vec::new(),
            spare: Vec::new(),
            held: Vec::new(),
            live: 0,
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

    /// Moves what every ring holds now into the merge: one copy into the arena, no
    /// allocation per item.
    fn gather(&mut self) {
        let before = self.held.len();
        for r in &mut self.rings {
            while let Some(item) = r.next() {
                self.held.push(Held {
                    ts: decode::item_ts(&item),
                    at: self.arena.len(),
                    len: item.len(),
                });
                self.arena.extend_from_slice(&item);
                self.live += item.len();
            }
        }
        if self.held.len() > before {
            // What was held is in order and so is each ring's part (nearly always): the
            // stable sort merges these runs, and ties keep reading order.
            self.held.sort_by_key(|h| h.ts);
        }
    }

    /// Forgets the `n` oldest items held (handed over); compacts the arena once most of
    /// it is dead, so each item is copied a bounded number of times.
    fn release(&mut self, n: usize) {
        for h in &self.held[..n] {
            self.live -= h.len;
        }
        self.held.drain(..n);
        if self.held.is_empty() {
            self.arena.clear();
        } else if self.arena.len() > 2 * self.live + (1 << 20) {
            self.spare.clear();
            for h in &mut self.held {
                let at = self.spare.len();
                self.spare
                    .extend_from_slice(&self.arena[h.at..h.at + h.len]);
                h.at = at;
            }
            std::mem::swap(&mut self.arena, &mut self.spare);
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
        let due = self.held.partition_point(|h| h.ts <= until);
        let mut done = 0;
        let mut flow = ControlFlow::Continue(());
        while done < due && flow.is_continue() {
            let h = self.held[done];
            done += 1;
            flow = f(&self.arena[h.at..h.at + h.len]);
        }
        self.release(done);
        flow
    }

    /// The oldest item of everything the rings hold now (for readers that run the programs
    /// themselves, one run at a time).
    pub fn pop_oldest(&mut self) -> Option<Vec<u8>> {
        self.gather();
        let h = *self.held.first()?;
        let bytes = self.arena[h.at..h.at + h.len].to_vec();
        self.release(1);
        Some(bytes)
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
