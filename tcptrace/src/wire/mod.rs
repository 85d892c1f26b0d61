//! Wire formats read in userspace, each parsed in one place: the Internet checksum and
//! the TCP option list. (The kernel program parses the packet headers; capture files are
//! read by [`crate::source::savefile`].)

pub mod checksum;
pub mod tcp_options;
