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

/// `TZ=UTC tcptrace -i VETH` in namespace b of `net` (more arguments follow).
pub fn tracer_on_b(net: &netns::NetnsPair) -> Command {
    let mut cmd = net.exec(&net.b, tcptrace_bin());
    cmd.args(["-i", &net.veth_b]).env("TZ", "UTC");
    cmd
}

/// `TZ=UTC tcptrace -i VETH --port PORT` in namespace b of `net` (more arguments follow).
pub fn tracer(net: &netns::NetnsPair, port: u16) -> Command {
    let mut cmd = tracer_on_b(net);
    cmd.args(["--port", &port.to_string()]);
    cmd
}

/// tcptrace run as `cmd`, once it says it is listening.
pub fn listening(cmd: Command) -> netns::Proc {
    let mut p = netns::Proc::spawn("tcptrace", cmd);
    p.wait_stderr("listening on");
    p
}

/// tcptrace on veth_b in namespace b of `net` with `args`, refused before it attaches:
/// exit status 1, and nothing of it left on the interface. Its stderr.
pub fn refused_before_attaching(net: &netns::NetnsPair, args: &[&str]) -> String {
    let out = net
        .exec(&net.b, tcptrace_bin())
        .args(["-i", &net.veth_b])
        .args(args)
        .output()
        .expect("run tcptrace");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    hooks::assert_nothing_of_ours(&net.b, &net.veth_b);
    err
}
