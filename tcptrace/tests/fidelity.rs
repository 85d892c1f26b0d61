//! Shapes tcpdump 4.99.3 prints that the conformance corpus does not hold, each in a
//! capture the test builds and compared with tcpdump's own output on it, in every output
//! style: damaged timestamp fractions, more link types (PPP, PPPoE, IP over InfiniBand).
mod common;

use std::path::PathBuf;

use common::{
    cut_down::cut_down,
    packet::{Ipv4, Tcp, eth4},
    par_map,
    pcap::{raw_file, scratch},
    tcpdump, tcptrace,
};
use tcptrace_common::tcp_flags::{ACK, PSH, SYN};

/// Every output style a capture is compared in.
const STYLES: &[&[&str]] = &[
    &[],
    &["-v"],
    &["-S"],
    &["-q"],
    &["-tt"],
    &["-ttt"],
    &["-tttt"],
    &["-ttttt"],
    &["--nano"],
    &["--nano", "-ttt"],
    &["-v", "-S", "--nano", "-tt"],
];

/// Writes `bytes` to a scratch file named for the test.
fn capture(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch(&format!("fidelity-{name}.{}.pcap", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// tcptrace prints exactly tcpdump's TCP lines for `path` in every style; `lines` is how
/// many packet lines tcpdump must print in the default style (so a capture tcpdump reads
/// differently than meant fails too).
fn same_as_tcpdump(path: &PathBuf, lines: usize) {
    let failures: Vec<String> = par_map(STYLES, |style| {
        let mut args: Vec<String> = style.iter().map(|s| s.to_string()).collect();
        args.push("-r".into());
        args.push(path.to_string_lossy().into_owned());
        let td = tcpdump(&[&["-n".to_string()], &args[..]].concat());
        let tt = tcptrace(&args);
        let quiet = style.contains(&"-q");
        let expected = cut_down(&String::from_utf8_lossy(&td.stdout), quiet);
        let got = String::from_utf8_lossy(&tt.stdout);
        let mut problems = Vec::new();
        if style.is_empty() && expected.lines().count() != lines {
            problems.push(format!(
                "tcpdump printed {} TCP lines, the test meant {lines}:\n{expected}",
                expected.lines().count()
            ));
        }
        if !tt.status.success() {
            problems.push(format!(
                "tcptrace failed: {}",
                String::from_utf8_lossy(&tt.stderr)
            ));
        }
        let d = common::diff(&expected, &got, 6);
        if !d.is_empty() {
            problems.push(d);
        }
        (!problems.is_empty()).then(|| format!("{}: {}", style.join(" "), problems.join("\n")))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failures.is_empty(),
        "{}: differs from tcpdump:\n{}",
        path.display(),
        failures.join("\n")
    );
}

fn syn(sport: u16, dport: u16) -> Tcp {
    let mut t = Tcp::new(sport, dport);
    t.seq = 1000;
    t.flags = SYN;
    t.window = 512;
    t.options = vec![2, 4, 5, 0xb4];
    t
}

fn data(sport: u16, dport: u16, len: usize) -> Tcp {
    let mut t = Tcp::new(sport, dport);
    t.seq = 1001;
    t.ack = 5001;
    t.flags = ACK | PSH;
    t.window = 502;
    t.payload = vec![0x61; len];
    t
}

fn v4_segments() -> Vec<Vec<u8>> {
    let ip = Ipv4::new([10, 0, 0, 1], [10, 0, 0, 2]);
    vec![ip.tcp(&syn(40001, 23)), ip.tcp(&data(40001, 23, 10))]
}

// ---------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------

/// Record time fields out of range (a fraction of a second or more, or with bit 31 set)
/// are printed as tcpdump prints them: the field as it is (scaled by libpcap's 32-bit
/// arithmetic for `--nano` or a nanosecond file), in every style, deltas included.
#[test]
fn out_of_range_fractions_print_as_tcpdump() {
    let seg = eth4(&v4_segments()[0]);
    for nano in [false, true] {
        let one = if nano { 1_000_000_000 } else { 1_000_000 };
        let recs: Vec<(u32, u32, Vec<u8>)> = [
            (1000, 5),
            (1000, one),
            (1001, 0x8000_0000),
            (1001, one - 1),
            (1002, u32::MAX),
            (1003, 2 * one + 7),
            (1003, 12),
        ]
        .into_iter()
        .map(|(s, f)| (s, f, seg.clone()))
        .collect();
        let path = capture(
            &format!("frac-{}", if nano { "ns" } else { "us" }),
            &raw_file(1, nano, &recs),
        );
        same_as_tcpdump(&path, recs.len());
    }
}
