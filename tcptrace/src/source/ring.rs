//! One BPF ring buffer, read in place. aya's `RingBuf` gives the kernel an item's space
//! back as soon as the item is read; the merge ([`super::rings`]) holds items until every
//! CPU's ring has been read past them, so here an item stays where the kernel wrote it
//! until [`Ring::release`] (the kernel reserves no space that is not released yet).
//!
//! The layout (`kernel/bpf/ringbuf.c`): a page holding the consumer position (written by
//! the reader), a page holding the producer position, then the data pages, mapped twice
//! in a row so that an item that wraps around is contiguous. Each item is an 8-byte header
//! (its length, a busy bit while the producer writes it, a discard bit) and its bytes,
//! padded to 8.
use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd},
    ptr::NonNull,
    sync::atomic::{AtomicU32, AtomicUsize, Ordering},
};

use aya::maps::MapData;

/// `BPF_RINGBUF_BUSY_BIT`, `BPF_RINGBUF_DISCARD_BIT` and `BPF_RINGBUF_HDR_SZ`.
const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HEADER: usize = 8;

/// A shared mapping of a map's pages, unmapped on drop.
struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    fn new(fd: BorrowedFd<'_>, len: usize, prot: libc::c_int, offset: usize) -> io::Result<Mmap> {
        // SAFETY: a new mapping of a valid descriptor; the kernel checks the bounds.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap at 0"))?;
        Ok(Mmap { ptr, len })
    }
}

// SAFETY: the mapping is owned memory like a heap allocation: moving its owner to another
// thread moves nothing the kernel or another thread holds.
unsafe impl Send for Mmap {}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; nothing borrows from it past its owner.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// One ring, its items read in order and given back in order.
pub struct Ring {
    map: MapData,
    consumer: Mmap,
    /// The producer page, then the data pages twice.
    producer: Mmap,
    page: usize,
    mask: usize,
    /// Position after the last item read.
    read: usize,
    /// The consumer position last given to the kernel.
    released: usize,
    /// The producer position last seen.
    produced: usize,
}

impl Ring {
    pub fn new(map: MapData) -> io::Result<Ring> {
        let size = map.info().map_err(io::Error::other)?.max_entries() as usize;
        if !size.is_power_of_two() {
            return Err(io::Error::other(format!("ring of {size} bytes")));
        }
        // SAFETY: plain libc call.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let fd = map.fd().as_fd();
        let consumer = Mmap::new(fd, page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = Mmap::new(fd, page + 2 * size, libc::PROT_READ, page)?;
        let mut r = Ring {
            map,
            consumer,
            producer,
            page,
            mask: size - 1,
            read: 0,
            released: 0,
            produced: 0,
        };
        r.read = r.consumer_pos().load(Ordering::Acquire);
        (r.released, r.produced) = (r.read, r.read);
        Ok(r)
    }

    fn consumer_pos(&self) -> &AtomicUsize {
        // SAFETY: the consumer page starts with the position, which the kernel aligns.
        unsafe { self.consumer.ptr.cast::<AtomicUsize>().as_ref() }
    }

    fn producer_pos(&self) -> &AtomicUsize {
        // SAFETY: as above, on the producer page.
        unsafe { self.producer.ptr.cast::<AtomicUsize>().as_ref() }
    }

    /// `len` bytes at data offset `off` (within the double mapping).
    fn bytes(&self, off: usize, len: usize) -> &[u8] {
        assert!(off + len <= 2 * (self.mask + 1));
        // SAFETY: within the data pages, checked above. Not released yet, so the kernel
        // does not write there.
        unsafe { std::slice::from_raw_parts(self.producer.ptr.as_ptr().add(self.page + off), len) }
    }

    /// The next committed item after those read: its position and bytes. None when the
    /// ring holds no more, or the next one is still being written.
    pub fn read_next(&mut self) -> Option<(usize, &[u8])> {
        loop {
            if self.read == self.produced {
                // The kernel publishes the producer position with a release store.
                self.produced = self.producer_pos().load(Ordering::Acquire);
                if self.read == self.produced {
                    return None;
                }
            }
            let off = self.read & self.mask;
            // SAFETY: an 8-aligned header inside the data pages.
            let header = unsafe {
                self.producer
                    .ptr
                    .add(self.page + off)
                    .cast::<AtomicU32>()
                    .as_ref()
            }
            // The kernel commits with a full barrier (xchg): its bytes are visible after.
            .load(Ordering::Acquire);
            if header & BUSY != 0 {
                return None;
            }
            let len = (header & !(BUSY | DISCARD)) as usize;
            let at = self.read;
            self.read += (HEADER + len).next_multiple_of(8);
            if header & DISCARD == 0 {
                return Some((at, self.bytes(off + HEADER, len)));
            }
        }
    }

    /// The bytes of the item read at position `at` (not released yet).
    pub fn item(&self, at: usize, len: usize) -> &[u8] {
        debug_assert!(self.released <= at && at < self.read);
        self.bytes((at & self.mask) + HEADER, len)
    }

    /// Gives the kernel back the space of every item read before position `upto` (or,
    /// with None, of every item read). The position is written only when it moves: every
    /// reserve on the producing CPU reads it.
    pub fn release(&mut self, upto: Option<usize>) {
        let pos = upto.unwrap_or(self.read);
        debug_assert!(self.released <= pos && pos <= self.read);
        if pos != self.released {
            self.consumer_pos().store(pos, Ordering::Release);
            self.released = pos;
        }
    }
}

impl AsFd for Ring {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd().as_fd()
    }
}

impl AsRawFd for Ring {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
