//! tcptrace: kernel-assisted TCP tracing with tcpdump's own output.
//!
//! Pipeline: kernel parse → filter → record (tcptrace-ebpf), then here:
//! capture source ([`source`]: live ring buffer or offline replay) → [`decode`] →
//! [`attribute`] (which process) → [`track`] →
//! render ([`render`]: tcpdump lines, classic style).

pub mod attribute;
pub use tcptrace_cli as cli;
pub mod decode;
pub mod filter;
pub mod kernel;
pub mod metrics;
pub mod pcapng;
pub mod plan;
pub mod privileges;
pub mod render;
pub mod rotate;
pub mod source;
pub mod stats;
pub mod timefmt;
pub mod track;
