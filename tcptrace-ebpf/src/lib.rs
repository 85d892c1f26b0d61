//! The kernel programs live in the `tcptrace-ebpf` binary (src/main.rs); this empty library
//! only lets the userspace crate name this package as a build dependency.
#![no_std]
