//! tcptrace's test kit: packets, captures, namespaces and processes, for the integration
//! tests (`tcptrace/tests/`, through their `common` module) and the benchmarks
//! (`tcptrace-bench`) alike.
// Helpers for tests, not an API: a pair is made by `new` only (it creates namespaces), a
// segment has a length but is never empty, the generator's `next` is not an iterator's.
#![allow(
    clippy::new_without_default,
    clippy::len_without_is_empty,
    clippy::should_implement_trait
)]

pub mod conn_pcap;
pub mod cut_down;
pub mod hooks;
pub mod netns;
pub mod packet;
pub mod pcap;
pub mod peers;
pub mod rng;

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

/// The workspace root: the parent of this crate.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("CARGO_MANIFEST_DIR has a parent")
        .to_path_buf()
}

/// `shared/SUB`: the shared data folder is `$TCPTRACE_SHARED` if set, else
/// `<workspace root>/../shared` (in CI the repository is cloned next to it).
/// Panics, with the places looked at, if the folder is missing: a missing corpus must
/// fail the test, not skip it.
pub fn shared_dir(sub: &str) -> PathBuf {
    let (base, how) = match std::env::var_os("TCPTRACE_SHARED") {
        Some(p) => (PathBuf::from(p), "$TCPTRACE_SHARED"),
        None => (
            workspace_root().join("..").join("shared"),
            "<workspace root>/../shared",
        ),
    };
    let dir = base.join(sub);
    assert!(
        dir.is_dir(),
        "shared test data not found: {} ({how}/{sub}) is not a directory.\n\
         Put the shared/ folder next to the repository root, or set TCPTRACE_SHARED to it.",
        dir.display()
    );
    dir
}

/// The oracle: tcpdump 4.99.3 (`$TCPTRACE_TCPDUMP` or /usr/bin/tcpdump). Panics if it is
/// missing or not 4.99.3.
pub fn tcpdump_bin() -> PathBuf {
    let bin = std::env::var_os("TCPTRACE_TCPDUMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/tcpdump"));
    let out = Command::new(&bin)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the oracle {} ({e}); install tcpdump 4.99.3 or set TCPTRACE_TCPDUMP",
                bin.display()
            )
        });
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("tcpdump version 4.99.3"),
        "the oracle {} is not tcpdump 4.99.3: {text}",
        bin.display()
    );
    bin
}

/// Runs `prog args…` with TZ=UTC and returns its output (panics if it cannot start).
pub fn run_utc<S: AsRef<OsStr>>(prog: impl AsRef<OsStr>, args: &[S]) -> Output {
    let prog = prog.as_ref();
    Command::new(prog)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(prog).display()))
}

/// `TZ=UTC tcpdump args…` (the 4.99.3 oracle).
pub fn tcpdump<S: AsRef<OsStr>>(args: &[S]) -> Output {
    run_utc(tcpdump_bin(), args)
}

/// stdout of a run that must have succeeded (panics with its stderr otherwise).
pub fn stdout_ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap_or_else(|e| panic!("{what}: stdout is not UTF-8: {e}"))
}

/// A short unified-ish diff: the first differing line with up to 2 lines of context before
/// it, then up to `max` `-expected` / `+actual` lines from there, and the line counts.
/// Empty when the texts are equal.
pub fn diff(expected: &str, actual: &str, max: usize) -> String {
    if expected == actual {
        return String::new();
    }
    let e: Vec<&str> = expected.split_inclusive('\n').collect();
    let a: Vec<&str> = actual.split_inclusive('\n').collect();
    let first = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let mut s = format!(
        "@@ first difference at line {} (expected {} lines, got {}) @@\n",
        first + 1,
        e.len(),
        a.len()
    );
    let show = |l: &str| {
        if l.ends_with('\n') {
            l.to_string()
        } else {
            format!("{l}\n\\ no newline at end\n")
        }
    };
    for l in &e[first.saturating_sub(2)..first] {
        s += &format!(" {}", show(l));
    }
    for l in e.iter().skip(first).take(max) {
        s += &format!("-{}", show(l));
    }
    for l in a.iter().skip(first).take(max) {
        s += &format!("+{}", show(l));
    }
    if e.len().max(a.len()) > first + max {
        s += "…\n";
    }
    s
}

/// Runs `f` over `items` on a few threads (each tcptrace run loads and verifies the kernel
/// programs, which takes seconds), returning the results in order. `$TCPTRACE_TEST_JOBS`
/// overrides the number of threads.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let jobs = std::env::var("TCPTRACE_TEST_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 16);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}
