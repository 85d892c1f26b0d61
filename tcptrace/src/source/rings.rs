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

use super::ring::Ring;
use crate::decode;

/// How long after its stamp an item is surely in its ring (see the module comment).
pub const SLACK_NS: u64 = 1_000_000;

/// Hand over everything (the programs are gone, or run one at a time).
pub const ALL: u64 = u64::MAX;

/// An item read from a ring and not handed over yet: `len` bytes at position `at` of ring
/// `ring`, where the kernel wrote it.
#[derive(Clone, Copy)]
struct Held {
    ts: u64,
    ring: u32,
    len: u32,
    at: usize,
}

/// The rings of all CPUs, merged.
pub struct Rings {
    rings: Vec<Ring>,
    /// The items not handed over yet, oldest first (ties in reading order).
    held: Vec<Held>,
    /// Per ring: where its oldest item still held lies (scratch for [`Rings::release`]).
    oldest: Vec<Option<usize>>,
    /// An epoll descriptor watching every ring: readable when one of them is.
    epoll: OwnedFd,
}

impl Rings {
    pub fn new(rings: Vec<Ring>) -> std::io::Result<Rings> {
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
            oldest: vec![None; rings.len()],
            rings,
            held: Vec::new(),
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

    /// Moves what every ring holds now into the merge: the items stay in their rings, the
    /// merge keeps where they are.
    fn gather(&mut self) {
        let before = self.held.len();
        for (i, r) in self.rings.iter_mut().enumerate() {
            while let Some((at, item)) = r.read_next() {
                self.held.push(Held {
                    ts: decode::item_ts(item),
                    ring: i as u32,
                    len: item.len() as u32,
                    at,
                });
            }
        }
        if self.held.len() > before {
            // What was held is in order and so is each ring's part (nearly always): the
            // stable sort merges these runs, and ties keep reading order.
            self.held.sort_by_key(|h| h.ts);
        }
    }

    fn bytes(&self, h: Held) -> &[u8] {
        self.rings[h.ring as usize].item(h.at, h.len as usize)
    }

    /// Forgets the `n` oldest items held (handed over), and gives each ring back the space
    /// before its oldest item still held.
    fn release(&mut self, n: usize) {
        self.held.drain(..n);
        self.oldest.fill(None);
        for h in &self.held {
            let o = &mut self.oldest[h.ring as usize];
            *o = Some(o.map_or(h.at, |o| o.min(h.at)));
        }
        for (r, o) in self.rings.iter_mut().zip(&self.oldest) {
            r.release(*o);
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
            flow = f(self.bytes(h));
        }
        self.release(done);
        flow
    }

    /// The oldest item of everything the rings hold now (for readers that run the programs
    /// themselves, one run at a time).
    pub fn pop_oldest(&mut self) -> Option<Vec<u8>> {
        self.gather();
        let bytes = self.bytes(*self.held.first()?).to_vec();
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
