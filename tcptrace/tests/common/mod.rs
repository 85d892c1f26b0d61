//! What each integration test file gets with `mod common;`: the test kit
//! ([`tcptrace_testkit`]) and the tcptrace binary cargo built for these tests.
#![allow(dead_code)]

use std::{ffi::OsStr, process::Output};

pub use tcptrace_testkit::*;

/// The tcptrace binary cargo built for these tests.
pub fn tcptrace_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcptrace")
}

/// `TZ=UTC tcptrace args…`
pub fn tcptrace<S: AsRef<OsStr>>(args: &[S]) -> Output {
    run_utc(tcptrace_bin(), args)
}
