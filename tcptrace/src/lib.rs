//! tcptrace: kernel-assisted TCP tracing with tcpdump's own output.
//!
//! Pipeline: kernel parse → filter → record (tcptrace-ebpf), then here:
//! capture source ([`source`]: live ring buffer or offline replay) → [`decode`] →
//! [`attribute`] (which process) → [`track`] →
//! render ([`render`]: tcpdump lines, classic style).

pub mod attribute;
pub mod decode;
pub mod filter;
pub mod kernel;
pub mod pcapng;
pub mod render;
pub mod source;
pub mod timefmt;
pub mod track;
