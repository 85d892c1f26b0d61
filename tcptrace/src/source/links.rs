//! Interfaces coming and going while tcptrace runs: rtnetlink link notifications.
use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use tokio::io::{Interest, unix::AsyncFd};

const RTMGRP_LINK: u32 = 1;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;

/// A change of the namespace's interfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// Interface `ifindex` was created or changed (new ones are not told apart).
    New(u32),
    /// Interface `ifindex` was deleted or left the namespace.
    Gone(u32),
}
/// struct nlmsghdr, then struct ifinfomsg (family, pad, type, index, flags, change).
const NLMSG_HDR: usize = 16;
const IFINFO_INDEX: usize = NLMSG_HDR + 4;

/// A NETLINK_ROUTE socket subscribed to link changes.
pub struct LinkWatch {
    fd: AsyncFd<OwnedFd>,
    /// One receive buffer for the watch's life: `next` is called again at every turn of
    /// the live loop, and a buffer of its own each time cost an allocation and 64 KiB of
    /// zeroing per turn (with musl's allocator, an mmap and a munmap).
    buf: Box<[u8]>,
}

impl LinkWatch {
    /// Subscribes; needs a tokio runtime with I/O enabled.
    pub fn new() -> io::Result<LinkWatch> {
        // SAFETY: plain socket calls with a correctly sized sockaddr_nl.
        let fd = unsafe {
            let fd = libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            sa.nl_groups = RTMGRP_LINK;
            let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            if libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len) != 0 {
                return Err(io::Error::last_os_error());
            }
            fd
        };
        // SAFETY: the AsyncFd owns the socket, so it stays open while registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(LinkWatch {
            fd,
            buf: vec![0u8; 64 * 1024].into_boxed_slice(),
        })
    }

    /// The next link events (at least one). Lost notifications (ENOBUFS) come back as a
    /// `Gone` for each of `watched` that no longer exists.
    pub async fn next(&mut self, watched: &[u32]) -> io::Result<Vec<LinkEvent>> {
        let buf = &mut self.buf;
        loop {
            let mut guard = self.fd.readable_mut().await?;
            let n = match guard.try_io(|fd| {
                // SAFETY: reading into a buffer we own, of the length given.
                let n = unsafe {
                    libc::recv(
                        fd.get_ref().as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(Ok(n)) => n,
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    let gone: Vec<LinkEvent> = watched
                        .iter()
                        .filter(|&&i| !exists(i))
                        .map(|&i| LinkEvent::Gone(i))
                        .collect();
                    if gone.is_empty() {
                        continue;
                    }
                    return Ok(gone);
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            };
            let events = events(&buf[..n]);
            if !events.is_empty() {
                return Ok(events);
            }
        }
    }
}

/// The link events in a batch of netlink messages.
fn events(mut msgs: &[u8]) -> Vec<LinkEvent> {
    let mut out = Vec::new();
    while msgs.len() >= NLMSG_HDR {
        let len = u32::from_ne_bytes(msgs[0..4].try_into().unwrap_or_default()) as usize;
        let kind = u16::from_ne_bytes(msgs[4..6].try_into().unwrap_or_default());
        if len < NLMSG_HDR || len > msgs.len() {
            break;
        }
        if len >= IFINFO_INDEX + 4 {
            let idx = i32::from_ne_bytes(
                msgs[IFINFO_INDEX..IFINFO_INDEX + 4]
                    .try_into()
                    .unwrap_or_default(),
            ) as u32;
            match kind {
                RTM_NEWLINK => out.push(LinkEvent::New(idx)),
                RTM_DELLINK => out.push(LinkEvent::Gone(idx)),
                _ => {}
            }
        }
        msgs = &msgs[len.next_multiple_of(4).min(msgs.len())..];
    }
    out
}

/// Every interface of this network namespace: (index, name).
pub fn all() -> Vec<(u32, String)> {
    let mut out = Vec::new();
    // SAFETY: if_nameindex returns an array ended by a zero entry, freed below.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return out;
        }
        let mut p = list;
        while (*p).if_index != 0 {
            let name = std::ffi::CStr::from_ptr((*p).if_name);
            out.push(((*p).if_index, name.to_string_lossy().into_owned()));
            p = p.add(1);
        }
        libc::if_freenameindex(list);
    }
    out.sort();
    out
}

/// The name of interface `ifindex` now, if it exists.
pub fn name(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has room for IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into `buf`.
    Some(
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

pub fn exists(ifindex: u32) -> bool {
    name(ifindex).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, index: i32) -> Vec<u8> {
        let mut m = vec![0u8; 32];
        m[0..4].copy_from_slice(&32u32.to_ne_bytes());
        m[4..6].copy_from_slice(&kind.to_ne_bytes());
        m[IFINFO_INDEX..IFINFO_INDEX + 4].copy_from_slice(&index.to_ne_bytes());
        m
    }

    #[test]
    fn reads_new_and_deleted_links() {
        let mut batch = msg(RTM_NEWLINK, 7);
        batch.extend(msg(RTM_DELLINK, 8));
        batch.extend(msg(20, 9)); // RTM_NEWADDR: not a link event
        assert_eq!(events(&batch), vec![LinkEvent::New(7), LinkEvent::Gone(8)]);
        assert_eq!(
            events(&batch[..40]),
            vec![LinkEvent::New(7)],
            "a cut message is not read"
        );
    }

    #[test]
    fn lists_loopback() {
        assert!(all().iter().any(|(_, n)| n == "lo"));
        let (i, n) = all().into_iter().find(|(_, n)| n == "lo").unwrap();
        assert_eq!(name(i).as_deref(), Some(n.as_str()));
    }
}
