//! Bad input at the argument parser: one `tcptrace: …` line on stderr naming the option
//! and what it takes, nothing on stdout, exit status 1 (as tcpdump refuses its options),
//! and nothing loaded or attached. `--help` and `--version` still print clap's text on
//! stdout and exit 0.
mod common;

use std::{
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::tcptrace_bin;

/// `tcptrace args…`, killed (and the test failed) if it runs for 30 s: a refused option
/// must not start tracing.
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(tcptrace_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcptrace");
    let start = Instant::now();
    while child.try_wait().expect("wait for tcptrace").is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("tcptrace {args:?} still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("tcptrace output")
}

/// Exit status 1, nothing on stdout, exactly one stderr line starting with `tcptrace: `;
/// returns that line (without its newline).
fn refused(args: &[&str]) -> String {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}: stdout {:?}", out.stdout);
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err:?}");
    assert!(err.starts_with("tcptrace: "), "{args:?}: {err:?}");
    assert!(!err.contains("error:") && !err.contains("Usage"), "{err:?}");
    err.trim_end().to_string()
}

/// A capture the refused runs would otherwise read.
fn capture() -> String {
    common::shared_dir("conformance")
        .join("pcaps/whois.pcap")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn buffer_size_below_range() {
    assert_eq!(
        refused(&["-B", "1", "-r", &capture()]),
        "tcptrace: invalid value '1' for '--buffer-size <KiB>': 1 is not in 4..=1048576"
    );
}

#[test]
fn snaplen_zero() {
    assert_eq!(
        refused(&["-s", "0", "-r", &capture()]),
        "tcptrace: invalid value '0' for '--snaplen <N>': 0 is not in 1..=512"
    );
}

#[test]
fn count_negative() {
    assert_eq!(
        refused(&["-c", "-1", "-r", &capture()]),
        "tcptrace: invalid value '-1' for '-c <N>': invalid packet count -1 (must be 1 or more)"
    );
}

/// `-c 0` was taken as "no limit" and ran until a signal; tcpdump refuses it.
#[test]
fn count_zero() {
    let want =
        "tcptrace: invalid value '0' for '-c <N>': invalid packet count 0 (must be 1 or more)";
    assert_eq!(refused(&["-c", "0", "-i", "lo"]), want);
    assert_eq!(refused(&["-c", "0", "-r", &capture()]), want);
}

#[test]
fn xdp_mode_unknown() {
    assert_eq!(
        refused(&["--xdp-mode", "bogus", "-r", &capture()]),
        "tcptrace: invalid value 'bogus' for '--xdp-mode <XDP_MODE>' \
         (possible values: auto, native, generic, off)"
    );
}

#[test]
fn max_connections_zero() {
    assert_eq!(
        refused(&["--max-connections", "0", "-r", &capture()]),
        "tcptrace: invalid value '0' for '--max-connections <N>': 0 is not in 1..=4294967295"
    );
}

#[test]
fn unknown_option() {
    assert_eq!(
        refused(&["--xdp", "native"]),
        "tcptrace: unexpected argument '--xdp' found (did you mean '--xdp-mode'?)"
    );
}

/// `((((…tcp…))))` 10 000 deep overflowed the parser's stack (SIGABRT).
#[test]
fn expression_nested_10000_deep() {
    let expr = format!("{}tcp{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(
        refused(&["-r", &capture(), &expr]),
        "tcptrace: filter too long: 20001 tokens (words, operators, parentheses), at most 1024"
    );
    // Within the length, the depth is bounded too.
    let expr = format!("{}tcp{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(
        refused(&["-r", &capture(), &expr]),
        "tcptrace: filter nested too deep at word 1: more than 64 levels of parentheses and 'not'"
    );
}

/// 20 000 words of `tcp or` overflowed the parser's stack (SIGABRT).
#[test]
fn expression_of_20000_words() {
    let expr = "tcp or ".repeat(10_000) + "tcp";
    let words: Vec<&str> = expr.split(' ').collect();
    assert_eq!(words.len(), 20_001);
    let mut args = vec!["-r".to_string(), capture()];
    args.extend(words.iter().map(|w| w.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(
        refused(&args),
        "tcptrace: filter too long: 20001 tokens (words, operators, parentheses), at most 1024"
    );
}

/// Thousands of --host values: a clear refusal, not a stack overflow.
#[test]
fn many_host_options() {
    let mut args = vec!["-r".to_string(), capture()];
    for i in 0..20_000 {
        args.push("--host".into());
        args.push(format!("10.0.{}.{}", i / 250, i % 250));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = refused(&args);
    assert!(err.starts_with("tcptrace: filter too large: "), "{err}");
}

#[test]
fn help_and_version_still_exit_0() {
    for arg in ["--help", "-h"] {
        let out = run(&[arg]);
        assert_eq!(out.status.code(), Some(0), "{arg}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: tcptrace"), "{arg}: {text}");
        assert!(out.stderr.is_empty(), "{arg}");
    }
    for arg in ["--version", "-V"] {
        let out = run(&[arg]);
        assert_eq!(out.status.code(), Some(0), "{arg}");
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("tcptrace "),
            "{arg}"
        );
    }
}

#[test]
fn long_run_options_refused_in_one_line() {
    let cap = capture();
    for (args, needle) in [
        (
            vec!["-C", "0", "-w", "/tmp/x", "-r", &cap],
            "invalid value '0' for '-C <MB>'",
        ),
        (
            vec!["-C", "1k", "-w", "/tmp/x", "-r", &cap],
            "invalid value '1k' for '-C <MB>'",
        ),
        (vec!["-C", "1", "-r", &cap], "-w <FILE>"),
        (vec!["-G", "60", "-r", &cap], "-w <FILE>"),
        (
            vec!["-W", "3", "-w", "/tmp/x", "-r", &cap],
            "-W needs -C or -G",
        ),
        (
            vec!["--stats", "0", "-i", "lo"],
            "invalid value '0' for '--stats <SECONDS>'",
        ),
        (vec!["--stats", "5", "-r", &cap], "cannot be used with"),
        (
            vec!["--metrics", "nowhere", "-i", "lo"],
            "invalid value 'nowhere' for '--metrics <ADDR:PORT>'",
        ),
    ] {
        let line = refused(&args);
        assert!(line.contains(needle), "{args:?}: {line}");
    }
}
