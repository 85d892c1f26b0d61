//! tcptrace: kernel-assisted TCP tracing with tcpdump's own output.
//!
//! Pipeline: kernel parse → filter → attribute → record (tcptrace-ebpf), then here
//! ([`pipeline`]): capture source ([`source`]: live rings or offline replay) → [`decode`]
//! → [`attribute`] (which process) → [`track`] (one tracker) → [`output`] (lines through
//! the one formatter, [`render`]; notes, JSON, summary, graphs, `-w`, stats). [`plan`]
//! turns the command line into what a run does.

pub mod attribute;
pub use tcptrace_cli as cli;
pub mod decode;
pub mod filter;
pub mod kernel;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod privileges;
pub mod render;
pub mod source;
pub mod timefmt;
pub mod trace;
pub mod track;
pub mod wire;

/// What `f` writes, as text (for unit tests of the `put_*` writers).
#[cfg(test)]
pub(crate) fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut o = Vec::new();
    f(&mut o);
    String::from_utf8(o).unwrap()
}
