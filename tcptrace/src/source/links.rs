//! Interfaces going away while they are traced: rtnetlink link notifications.
use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use tokio::io::{Interest, unix::AsyncFd};

const RTMGRP_LINK: u32 = 1;
const RTM_DELLINK: u16 = 17;
/// struct nlmsghdr, then struct ifinfomsg (family, pad, type, index, flags, change).
const NLMSG_HDR: usize = 16;
const IFINFO_INDEX: usize = NLMSG_HDR + 4;

/// A NETLINK_ROUTE socket subscribed to link changes.
pub struct LinkWatch {
    fd: AsyncFd<OwnedFd>,
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
        Ok(LinkWatch { fd })
    }

    /// Returns once interface `ifindex` is deleted (or has left the namespace).
    pub async fn gone(&mut self, ifindex: u32) -> io::Result<()> {
        // It may have gone before we subscribed.
        if !exists(ifindex) {
            return Ok(());
        }
        let mut buf = vec![0u8; 64 * 1024];
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
                // ENOBUFS: notifications were lost; look for ourselves instead.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    if !exists(ifindex) {
                        return Ok(());
                    }
                    continue;
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            };
            if deleted(&buf[..n], ifindex) {
                return Ok(());
            }
        }
    }
}

/// Does a batch of netlink messages hold an RTM_DELLINK for `ifindex`?
fn deleted(mut msgs: &[u8], ifindex: u32) -> bool {
    while msgs.len() >= NLMSG_HDR {
        let len = u32::from_ne_bytes(msgs[0..4].try_into().unwrap_or_default()) as usize;
        let kind = u16::from_ne_bytes(msgs[4..6].try_into().unwrap_or_default());
        if len < NLMSG_HDR || len > msgs.len() {
            return false;
        }
        if kind == RTM_DELLINK && len >= IFINFO_INDEX + 4 {
            let idx = i32::from_ne_bytes(
                msgs[IFINFO_INDEX..IFINFO_INDEX + 4]
                    .try_into()
                    .unwrap_or_default(),
            );
            if idx as u32 == ifindex {
                return true;
            }
        }
        msgs = &msgs[len.next_multiple_of(4).min(msgs.len())..];
    }
    false
}

fn exists(ifindex: u32) -> bool {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has room for IF_NAMESIZE bytes, as if_indextoname requires.
    !unsafe { libc::if_indextoname(ifindex, name.as_mut_ptr()) }.is_null()
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
    fn finds_the_deletion_of_its_interface_only() {
        let mut batch = msg(16, 7); // RTM_NEWLINK
        batch.extend(msg(RTM_DELLINK, 8));
        assert!(!deleted(&batch, 7));
        assert!(deleted(&batch, 8));
        assert!(!deleted(&batch[..40], 8), "a cut message is not read");
    }
}
