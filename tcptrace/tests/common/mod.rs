//! What each integration test file gets with `mod common;`: the test kit
//! ([`tcptrace_testkit`]) and the tcptrace binary cargo built for these tests.
#![allow(dead_code)]

use std::{
    ffi::OsStr,
    process::{Command, Output},
};

pub use tcptrace_testkit::*;

/// The tcptrace binary cargo built for these tests.
pub fn tcptrace_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcptrace")
}

/// `TZ=UTC tcptrace args…`
pub fn tcptrace<S: AsRef<OsStr>>(args: &[S]) -> Output {
    run_utc(tcptrace_bin(), args)
}

/// `TZ=UTC tcptrace -i VETH --port PORT` in namespace b of `net` (more arguments follow).
pub fn tracer(net: &netns::NetnsPair, port: u16) -> Command {
    let mut cmd = net.exec(&net.b, tcptrace_bin());
    cmd.args(["-i", &net.veth_b, "--port", &port.to_string()])
        .env("TZ", "UTC");
    cmd
}
