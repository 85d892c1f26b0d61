//! The tcpdump conformance corpus (`shared/conformance`, see its README.md): for every case of
//! MANIFEST.tsv, `TZ=UTC tcptrace -r PCAP OPTIONS` must print exactly the expected file, as
//! it is. No case has an exception. `cut_down_reproduces_corpus` checks the corpus itself:
//! every expected file is tcpdump 4.99.3's own output put through the corpus's documented
//! cut-down rule ([`cut_down`]). `conformance_extra` runs the extra corpus
//! (`shared/conformance-extra`) the same way, with its two documented rules (see
//! [`run_extra_case`]).
mod common;

use std::path::PathBuf;

use common::{
    cut_down::{cut_down, tcp_end},
    par_map,
};

// ---------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct Case {
    name: String,
    pcap: PathBuf,
    options: Vec<String>,
    expected: PathBuf,
}

impl Case {
    fn quiet(&self) -> bool {
        self.options.iter().any(|o| o == "-q")
    }
    /// The command line of this case, for reports.
    fn command(&self) -> String {
        format!(
            "TZ=UTC tcptrace -r {} {}",
            self.pcap.display(),
            self.options.join(" ")
        )
    }
    fn pcap_name(&self) -> String {
        self.pcap
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
    fn expected_text(&self) -> String {
        std::fs::read_to_string(&self.expected)
            .unwrap_or_else(|e| panic!("{}: read {}: {e}", self.name, self.expected.display()))
    }
    /// `TZ=UTC tcpdump OPTIONS -r PCAP`: the oracle's raw stdout.
    fn tcpdump_raw(&self) -> String {
        let mut args: Vec<String> = self.options.clone();
        args.push("-r".into());
        args.push(self.pcap.to_string_lossy().into_owned());
        let out = common::tcpdump(&args);
        common::stdout_ok(&format!("{}: tcpdump {}", self.name, args.join(" ")), &out)
    }
}

fn manifest() -> (PathBuf, Vec<Case>) {
    manifest_of("conformance")
}

fn manifest_of(corpus: &str) -> (PathBuf, Vec<Case>) {
    let dir = common::shared_dir(corpus);
    let path = dir.join("MANIFEST.tsv");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("case\tpcap\toptions\texpected"),
        "{}: unexpected header",
        path.display()
    );
    let cases: Vec<Case> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "{}: bad line {l:?}", path.display());
            Case {
                name: f[0].to_string(),
                pcap: dir.join(f[1]),
                options: f[2].split_whitespace().map(String::from).collect(),
                expected: dir.join(f[3]),
            }
        })
        .collect();
    assert!(!cases.is_empty(), "{}: no cases", path.display());
    (dir, cases)
}

/// The cases to run: all of them, or with `$TCPTRACE_CASES` (comma-separated substrings of
/// case names) only the matching ones, for working on a few.
fn selected(cases: Vec<Case>) -> Vec<Case> {
    let Ok(filter) = std::env::var("TCPTRACE_CASES") else {
        return cases;
    };
    let pats: Vec<&str> = filter.split(',').filter(|p| !p.is_empty()).collect();
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| pats.iter().any(|p| c.name.contains(p)))
        .collect();
    eprintln!(
        "conformance: TCPTRACE_CASES={filter}: running {} case(s) only",
        cases.len()
    );
    cases
}

struct Outcome {
    name: String,
    command: String,
    passed: bool,
    report: String,
}

fn run_case(case: &Case) -> Outcome {
    let expected = case.expected_text();
    let mut args: Vec<String> = vec!["-r".into(), case.pcap.to_string_lossy().into_owned()];
    args.extend(case.options.iter().cloned());
    let out = common::tcptrace(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut report = String::new();
    if !out.status.success() {
        // The first lines of stderr only (a verifier log can run to thousands).
        let err = String::from_utf8_lossy(&out.stderr);
        let mut head: String = err.lines().take(3).collect::<Vec<_>>().join("\n    ");
        if head.len() > 600 {
            head = format!("{}…", head.chars().take(600).collect::<String>());
        }
        report += &format!("  tcptrace exited with {}: {head}\n", out.status);
    }
    let d = common::diff(&expected, &stdout, 4);
    if !d.is_empty() {
        report += &d;
    }
    Outcome {
        name: case.name.clone(),
        command: case.command(),
        passed: report.is_empty(),
        report,
    }
}

#[test]
fn conformance() {
    let (dir, cases) = manifest();
    check_all(&dir, &kernel_styles(cases), run_case);
}

/// Link types tcptrace does not read, as its error names them (pcap link type numbers).
const REFUSED_LINKS: [(u32, &str); 2] = [(129, "ARCNET_LINUX"), (178, "JUNIPER_ETHER")];

/// The link type field of a classic pcap file.
fn pcap_linktype(path: &std::path::Path) -> u32 {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let v: [u8; 4] = b[20..24].try_into().unwrap();
    if b[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || b[..4] == [0x4d, 0x3c, 0xb2, 0xa1] {
        u32::from_le_bytes(v)
    } else {
        u32::from_be_bytes(v)
    }
}

/// A case of the extra corpus. A capture of a link type tcptrace does not read conforms
/// when tcptrace refuses it with its one documented line on stderr (README, "Link types
/// read"), nothing on stdout, exit 1. Any other case conforms when tcptrace prints the
/// expected file, or lines that the cut-down rule turns into it where every line it drops
/// is one tcpdump printed whole (`-q` on a Geneve-tunnelled segment: tcpdump's outer
/// `UDP, length N` line, which the corpus, keeping TCP lines only, leaves out).
fn run_extra_case(case: &Case) -> Outcome {
    let Some((_, name)) = REFUSED_LINKS
        .iter()
        .find(|(lt, _)| *lt == pcap_linktype(&case.pcap))
    else {
        let mut o = run_case(case);
        if !o.passed {
            o = extra_lines_are_tcpdumps(case, o);
        }
        return o;
    };
    let mut args: Vec<String> = vec!["-r".into(), case.pcap.to_string_lossy().into_owned()];
    args.extend(case.options.iter().cloned());
    let out = common::tcptrace(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "tcptrace: {}: unsupported link type {name} (supported: ",
        case.pcap.display()
    );
    let passed = out.status.code() == Some(1)
        && out.stdout.is_empty()
        && err.lines().count() == 1
        && err.starts_with(&want)
        && err.ends_with(")\n");
    Outcome {
        name: case.name.clone(),
        command: case.command(),
        passed,
        report: if passed {
            String::new()
        } else {
            format!(
                "  expected exit 1 and one line `{want}…)`; got {} with stdout {:?} and stderr {err:?}\n",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            )
        },
    }
}

/// The second rule of [`run_extra_case`] for a case whose output differs from its file.
fn extra_lines_are_tcpdumps(case: &Case, failed: Outcome) -> Outcome {
    let mut args: Vec<String> = vec!["-r".into(), case.pcap.to_string_lossy().into_owned()];
    args.extend(case.options.iter().cloned());
    let out = common::tcptrace(&args);
    let got = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || cut_down(&got, case.quiet()) != case.expected_text() {
        return failed;
    }
    let raw = case.tcpdump_raw();
    let mut theirs = raw.lines();
    let cut = cut_down(&got, case.quiet());
    let kept: Vec<&str> = cut.lines().collect();
    let whole = got
        .lines()
        .filter(|l| !kept.contains(l))
        .all(|l| theirs.any(|t| t == l));
    if whole {
        Outcome {
            passed: true,
            report: String::new(),
            ..failed
        }
    } else {
        failed
    }
}

#[test]
fn conformance_extra() {
    let (dir, cases) = manifest_of("conformance-extra");
    let refused = cases
        .iter()
        .filter(|c| {
            REFUSED_LINKS
                .iter()
                .any(|(lt, _)| *lt == pcap_linktype(&c.pcap))
        })
        .count();
    if std::env::var("TCPTRACE_CASES").is_err() {
        assert_eq!(
            (cases.len(), refused),
            (366, 18),
            "the extra corpus's cases"
        );
    }
    check_all(&dir, &kernel_styles(cases), run_extra_case);
}

/// In the emulated kernel-matrix VMs (`TCPTRACE_KERNEL_STYLES=1`, set by `cargo xtask
/// vmtest`): only the option sets that change what the kernel program does, the default
/// and `-v` (checksums, computed in the kernel). The other styles (`-S`, `-q`, `-tt`,
/// `-ttt`, `-tttt`) run the same kernel code on the same frames and differ only in
/// userspace formatting, which the host run checks in full; under emulation each case
/// costs a verifier run (all 590 cases took 19 minutes per kernel).
fn kernel_styles(cases: Vec<Case>) -> Vec<Case> {
    if std::env::var("TCPTRACE_KERNEL_STYLES").is_err() {
        return cases;
    }
    let all = cases.len();
    let kept: Vec<Case> = cases
        .into_iter()
        .filter(|c| c.options.iter().all(|o| o == "-n" || o == "-v"))
        .collect();
    eprintln!(
        "conformance: TCPTRACE_KERNEL_STYLES: {} of {all} cases (default and -v: the kernel's two paths)",
        kept.len()
    );
    kept
}

/// Runs the selected `cases` of the corpus in `dir` with `run`; fails on any failure.
fn check_all(dir: &std::path::Path, cases: &[Case], run: fn(&Case) -> Outcome) {
    let cases = selected(cases.to_vec());
    eprintln!(
        "conformance: {} cases from {} (tcptrace {})",
        cases.len(),
        dir.display(),
        common::tcptrace_bin()
    );
    let outcomes = par_map(&cases, run);

    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed).collect();
    for o in &failed {
        eprintln!("FAIL {} ({})\n{}", o.name, o.command, o.report);
    }
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|o| o.name.as_str()).collect();
        eprintln!("conformance: failed: {}", names.join(" "));
    }
    let passed = outcomes.len() - failed.len();
    let line = format!("conformance: {passed}/{} passed", outcomes.len());
    eprintln!("{line}");
    println!("{line}");
    assert!(failed.is_empty(), "{line}");
}

/// The cut-down rule must reproduce every expected file, as it is, from tcpdump's own
/// output (the corpus holds no known faults any more).
#[test]
fn cut_down_reproduces_corpus() {
    let (_, cases) = manifest();
    let cases = selected(cases);
    let results = par_map(&cases, |case| {
        let got = cut_down(&case.tcpdump_raw(), case.quiet());
        let file = case.expected_text();
        (got != file).then(|| {
            format!(
                "{}: cut_down(tcpdump {} -r {}) differs from the expected file\n{}",
                case.name,
                case.options.join(" "),
                case.pcap_name(),
                common::diff(&file, &got, 3)
            )
        })
    });
    let bad: Vec<&String> = results.iter().flatten().collect();
    for m in &bad {
        eprintln!("MISMATCH: {m}");
    }
    let line = format!(
        "cut-down rule: {}/{} expected files reproduced",
        results.len() - bad.len(),
        results.len()
    );
    eprintln!("{line}");
    assert!(bad.is_empty(), "{line}");
}

// ---------------------------------------------------------------------------------------
// Unit tests of the cut-down rule
// ---------------------------------------------------------------------------------------

#[test]
fn cut_down_default_style() {
    let raw = "\
10:00:00.000001 ARP, Request who-has 1.0.2.1 tell 1.0.2.2, length 28
10:00:00.000002 IP 1.2.3.4.80 > 5.6.7.8.1234: Flags [P.], seq 1:19, ack 1, win 5, length 18: HTTP: GET / HTTP/1.1
\t0x0000:  4500 0034 f5c8 4000 3e06 4504 cc09 3384  E..4..@.>.E...3.
10:00:00.000003 IP 1.2.3.4.53 > 5.6.7.8.1234: 1234+ A? example.com. (29)
10:00:00.000004 IP 1.2.3.4.6633 > 5.6.7.8.1234: Flags [P.], seq 1:9, ack 1, win 5, length 8: OpenFlow
\tversion 1.0, type HELLO, length 8, xid 0x00000001
10:00:00.000005 IP 1.2.3.4 > 5.6.7.8: ip-proto-6
10:00:00.000006 IP6 2001:db8::1 > 2001:db8::2: [|tcp]
10:00:00.0000065 IP 10.1.1.11 > 10.1.1.10: GREv1, call 0, seq 0, length 60: LCP, Conf-Request (0x01), id 0, length 46
10:00:00.000007 84:b5:9c:be:30:48 Unknown SSAP 0x10 > 0c:c4:7a:08:e9:12 Unknown DSAP 0x44 Information, send seq 0, rcv seq 26, Flags [Command], length 52
10:00:00.000008 IP truncated-ip - 768 bytes missing! 1.2.3.4.22 > 5.6.7.8.1: Flags [.], seq 0:768, ack 1, win 4094, length 768 [|ssh]
";
    assert_eq!(
        cut_down(raw, false),
        "\
10:00:00.000002 IP 1.2.3.4.80 > 5.6.7.8.1234: Flags [P.], seq 1:19, ack 1, win 5, length 18
10:00:00.000004 IP 1.2.3.4.6633 > 5.6.7.8.1234: Flags [P.], seq 1:9, ack 1, win 5, length 8
10:00:00.000006 IP6 2001:db8::1 > 2001:db8::2: [|tcp]
10:00:00.000008 IP truncated-ip - 768 bytes missing! 1.2.3.4.22 > 5.6.7.8.1: Flags [.], seq 0:768, ack 1, win 4094, length 768
"
    );
}

#[test]
fn cut_down_verbose_keeps_two_lines() {
    let raw = "\
10:00:00.000001 IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 92)
    1.2.3.4.53 > 5.6.7.8.1234: Flags [P.], cksum 0x1234 (correct), seq 1:41, ack 1, win 5, length 40 1234 q: A? example.com. 1/0/0 example.com. A 1.1.1.1 (38)
\t0x0000:  4500
10:00:00.000002 IP6 (flowlabel 0x1, hlim 64, next-header TCP (6) payload length: 20) 2001:db8::1.1 > 2001:db8::2.2: Flags [.], cksum 0x1 (incorrect -> 0x2), ack 1, win 5, length 0
10:00:00.000003 IP (tos 0x0, ttl 64, id 2, offset 0, flags [none], proto UDP (17), length 40)
    1.2.3.4.53 > 5.6.7.8.1234: 1234 A? example.com. (12)
10:00:00.000035 IP (tos 0x0, ttl 128, id 956, offset 0, flags [none], proto GRE (47), length 80)
    10.1.1.11 > 10.1.1.10: GREv1, Flags [key present, sequence# present], call 0, seq 0, length 60
	LCP, Conf-Request (0x01), id 0, length 46
10:00:00.000004 IP (tos 0x0, ttl 64, id 3, offset 0, flags [DF], proto TCP (6), length 52)
    1.2.3.4.179 > 5.6.7.8.1: Flags [P.], cksum 0x1 (correct), seq 1:20, ack 1, win 5, length 19: BGP
\tKeepalive Message (4), length: 19
";
    assert_eq!(
        cut_down(raw, false),
        "\
10:00:00.000001 IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 92)
    1.2.3.4.53 > 5.6.7.8.1234: Flags [P.], cksum 0x1234 (correct), seq 1:41, ack 1, win 5, length 40
10:00:00.000002 IP6 (flowlabel 0x1, hlim 64, next-header TCP (6) payload length: 20) 2001:db8::1.1 > 2001:db8::2.2: Flags [.], cksum 0x1 (incorrect -> 0x2), ack 1, win 5, length 0
10:00:00.000004 IP (tos 0x0, ttl 64, id 3, offset 0, flags [DF], proto TCP (6), length 52)
    1.2.3.4.179 > 5.6.7.8.1: Flags [P.], cksum 0x1 (correct), seq 1:20, ack 1, win 5, length 19
"
    );
}

#[test]
fn cut_down_quiet() {
    let raw = "\
10:00:00.000001 IP 1.2.3.4.80 > 5.6.7.8.1234: tcp 18
10:00:00.000002 IP 1.2.3.4.53 > 5.6.7.8.1234: UDP, length 29
10:00:00.000003 IP6 2001:db8::1 > 2001:db8::2: [|tcp]
10:00:00.000004 IP 1.2.3.4.179 > 5.6.7.8.1: tcp 19: BGP
";
    assert_eq!(
        cut_down(raw, true),
        "\
10:00:00.000001 IP 1.2.3.4.80 > 5.6.7.8.1234: tcp 18
10:00:00.000003 IP6 2001:db8::1 > 2001:db8::2: [|tcp]
10:00:00.000004 IP 1.2.3.4.179 > 5.6.7.8.1: tcp 19
"
    );
}

#[test]
fn cut_down_timestamp_styles() {
    // -ttt (space or minus sign in front), -tt, -tttt.
    // (No `\` line continuations here: they would eat the leading spaces.)
    let raw = concat!(
        " 00:00:00.000000 ARP, Request who-has 1.0.2.1 tell 1.0.2.2, length 28\n",
        " 00:00:00.000063 IP 1.0.2.2.42741 > 1.0.2.1.179: Flags [S], seq 1, win 29200, length 0\n",
        "-00:00:00.315173 IP 1.0.2.1.179 > 1.0.2.2.42741: Flags [P.], seq 1:56, ack 1, win 58, length 55: BGP\n",
        "1454324209.891237 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.], ack 1, win 5, length 0\n",
        "2016-02-01 10:50:09.891237 IP6 ::1.1 > ::1.2: Flags [R], seq 1, win 0, length 0\n",
    );
    assert_eq!(
        cut_down(raw, false),
        concat!(
            " 00:00:00.000063 IP 1.0.2.2.42741 > 1.0.2.1.179: Flags [S], seq 1, win 29200, length 0\n",
            "-00:00:00.315173 IP 1.0.2.1.179 > 1.0.2.2.42741: Flags [P.], seq 1:56, ack 1, win 58, length 55\n",
            "1454324209.891237 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.], ack 1, win 5, length 0\n",
            "2016-02-01 10:50:09.891237 IP6 ::1.1 > ::1.2: Flags [R], seq 1, win 0, length 0\n",
        )
    );
}

#[test]
fn cut_down_needs_digits_after_length() {
    // `, length ` inside the flags text without a number does not end the packet.
    let t = "10:00:00.000001 IP a.1 > b.2: Flags [S], seq 1, win 5, options [xyz, length ], length 7: X";
    assert_eq!(
        cut_down(t, false),
        "10:00:00.000001 IP a.1 > b.2: Flags [S], seq 1, win 5, options [xyz, length ], length 7\n"
    );
    // `, length N` before `Flags [` (the -v IP header) is not the end either.
    assert_eq!(tcp_end("IP (length 52)\n    a > b: x", false), None);
}

#[test]
fn cut_down_malformed_tcp_headers() {
    let raw = "\
10:00:00.000001 IP 1.2.3.4.1 > 5.6.7.8.2:  tcp 16 [bad hdr length 12 - too short, < 20]
10:00:00.000002 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.] [bad hdr length 60 - too long, > 32]
10:00:00.000003 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [S], seq 1, win 5, options [mss 1460,[bad opt]]
10:00:00.000004 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [R.], seq 0, ack 1, win 256, options [[bad opt]
10:00:00.000005 IP 1.2.3.4.1 > 5.6.7.8.2: UDP, length 8 [bad hdr length 3]
10:00:00.000006 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.], ack 1, win 100, options [nop,mss [|tcp]>
[Error converting time] IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.], ack 1, win 100, length 0
";
    assert_eq!(
        cut_down(raw, false),
        "\
10:00:00.000001 IP 1.2.3.4.1 > 5.6.7.8.2:  tcp 16 [bad hdr length 12 - too short, < 20]
10:00:00.000002 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.] [bad hdr length 60 - too long, > 32]
10:00:00.000003 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [S], seq 1, win 5, options [mss 1460,[bad opt]]
10:00:00.000004 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [R.], seq 0, ack 1, win 256, options [[bad opt]
10:00:00.000006 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.], ack 1, win 100, options [nop,mss [|tcp]>
[Error converting time] IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.], ack 1, win 100, length 0
"
    );
    let quiet = "\
10:00:00.000001 IP 1.2.3.4.1 > 5.6.7.8.2:  tcp 16 [bad hdr length 12 - too short, < 20]
10:00:00.000002 IP 1.2.3.4.1 > 5.6.7.8.2: tcp 4294967268 [bad hdr length 60 - too long, > 32]
";
    assert_eq!(cut_down(quiet, true), quiet);
}
