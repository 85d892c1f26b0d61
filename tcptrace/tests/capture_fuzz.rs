//! Capture files as tcpdump reads them.
//!
//! `mutated_captures_match_tcpdump`: a seeded mutation differential. Captures of the
//! conformance corpus (`shared/conformance/pcaps`) are mutated (byte flips, truncation, the
//! file header's version and snaplen, records' caplen and len, IP and TCP header lengths,
//! TCP option bytes), and each mutant is read by both `tcpdump -n -r` (4.99.3, the oracle)
//! and `tcptrace -r` with one of a few option sets. For every mutant:
//!
//! * tcptrace is never killed by a signal;
//! * both exit with the same status;
//! * tcptrace's stdout is tcpdump's stdout cut down to the TCP lines (the corpus's rule,
//!   `tcptrace-testkit/src/cut_down.rs`);
//! * tcptrace's stderr is empty on success, and exactly one `tcptrace: ` line on failure.
//!
//! The seed is fixed, so every run tries the same mutants; `TCPTRACE_FUZZ_SEED` and
//! `TCPTRACE_FUZZ_MUTANTS` try others (failing mutants are kept under the test's scratch
//! folder, `capture_fuzz/`, for a look with both tools).
//!
//! The other tests are one per shape that once printed differently from tcpdump.
mod common;

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use common::{
    conn_pcap::{Conversation, Dir, Seg, s},
    cut_down::cut_down,
    par_map,
    pcap::{RawPcap, hdr, rec, scratch, write_pcap},
    rng::Rng,
    shared_dir, tcpdump, tcptrace,
};
use tcptrace_common::tcp_flags::{ACK, PSH, SYN};

const SEED: u64 = 0x6361_7074_7572_6573;
const MUTANTS: usize = 150;

/// Option sets the mutants are read with (round robin).
const OPTIONS: &[&[&str]] = &[&[], &["-v"], &["-S"], &["-q"], &["-tt"]];

// ---------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------

/// Where the IP header of a record's data starts, for the link types of the corpus.
fn ip_offset(p: &RawPcap, data: &[u8]) -> Option<usize> {
    let linktype = p.get(&p.header, hdr::LINKTYPE) & 0x03ff_ffff;
    let off = match linktype {
        // Ethernet, possibly one VLAN tag.
        1 => match data.get(12..14)? {
            [0x81, 0x00] => 18,
            _ => 14,
        },
        // Linux cooked v1.
        113 => 16,
        // Raw IP.
        101 | 228 | 229 => 0,
        // BSD loopback.
        0 | 108 => 4,
        _ => return None,
    };
    (data.len() > off).then_some(off)
}

/// Offsets of the IP header, the TCP header, and the TCP header length (from its data
/// offset), for a record holding IPv4 or IPv6 (no extension headers) and TCP.
fn tcp_offsets(p: &RawPcap, data: &[u8]) -> Option<(usize, usize, usize)> {
    let l3 = ip_offset(p, data)?;
    let l4 = match data.get(l3)? >> 4 {
        4 if *data.get(l3 + 9)? == 6 => l3 + usize::from(data[l3] & 0x0f) * 4,
        6 if *data.get(l3 + 6)? == 6 => l3 + 40,
        _ => return None,
    };
    let doff = usize::from(data.get(l4 + 12)? >> 4) * 4;
    Some((l3, l4, doff))
}

/// Interesting values for a TCP option byte: kinds tcpdump decodes, lengths around theirs.
const OPTION_BYTES: &[u8] = &[0, 1, 2, 3, 4, 5, 6, 8, 10, 18, 19, 28, 29, 30, 34, 254, 255];

/// One mutation applied to `p`; returns what it did, for the report.
fn mutate(r: &mut Rng, p: &mut RawPcap) -> String {
    let n = p.records.len();
    if n == 0 {
        return "no record".into();
    }
    let i = r.below(n);
    match r.below(9) {
        // A byte of a record's first 80 bytes (the headers), flipped.
        0 | 1 => {
            let d = &mut p.records[i].data;
            if d.is_empty() {
                return format!("record {}: empty", i + 1);
            }
            let at = r.below(d.len().min(80));
            let x = 1 + r.below(255) as u8;
            d[at] ^= x;
            format!("record {}: byte {at} ^= {x:#04x}", i + 1)
        }
        // A byte anywhere in the file (headers included), flipped.
        2 => {
            let mut bytes = p.bytes();
            let at = r.below(bytes.len());
            let x = 1 + r.below(255) as u8;
            bytes[at] ^= x;
            *p = RawPcap::parse(&bytes);
            format!("file byte {at} ^= {x:#04x}")
        }
        // The file header's version or snaplen.
        4 => {
            if r.chance(50) {
                let (major, minor) = r.pick(&[
                    (2, 0),
                    (2, 2),
                    (2, 3),
                    (2, 5),
                    (3, 4),
                    (1, 4),
                    (543, 0),
                    (0, 0),
                ]);
                p.set_version(major, minor);
                format!("version {major}.{minor}")
            } else {
                let any = r.below(200) as u32;
                let s = r.pick(&[
                    0,
                    1,
                    14,
                    34,
                    40,
                    54,
                    60,
                    64,
                    68,
                    96,
                    262_144,
                    262_145,
                    0x7fff_ffff,
                    0x8000_0000,
                    any,
                ]);
                p.set_snaplen(s);
                format!("snaplen {s}")
            }
        }
        // A record's caplen or len.
        5 | 6 => {
            let field = if r.chance(50) { rec::LEN } else { rec::CAPLEN };
            let old = p.record_field(i, field);
            let v = match r.below(6) {
                0 => old.wrapping_sub(1),
                1 => old.wrapping_add(1),
                2 => old.wrapping_sub(1 + r.below(60) as u32),
                3 => old.wrapping_add(1 + r.below(2000) as u32),
                4 => r.pick(&[0, 262_144, 262_145, 300_000, 0xffff_ffff]),
                _ => old ^ (1 << r.below(32)),
            };
            p.set_record_field(i, field, v);
            let name = if field == rec::LEN { "len" } else { "caplen" };
            format!("record {}: {name} {old} -> {v}", i + 1)
        }
        // IP total length / payload length, IHL, or TCP data offset.
        7 => {
            let Some((l3, l4, _)) = tcp_offsets(p, &p.records[i].data) else {
                return format!("record {}: not TCP, left alone", i + 1);
            };
            let d = &mut p.records[i].data;
            let v4 = d[l3] >> 4 == 4;
            match r.below(3) {
                0 if d.len() > l3 + 6 => {
                    let at = if v4 { l3 + 2 } else { l3 + 4 };
                    let old = u16::from_be_bytes([d[at], d[at + 1]]);
                    let v = match r.below(3) {
                        0 => old.wrapping_sub(1 + r.below(24) as u16),
                        1 => old.wrapping_add(1 + r.below(24) as u16),
                        _ => r.below(70) as u16,
                    };
                    d[at..at + 2].copy_from_slice(&v.to_be_bytes());
                    format!("record {}: IP length {old} -> {v}", i + 1)
                }
                1 if v4 => {
                    let ihl = r.below(16) as u8;
                    d[l3] = 0x40 | ihl;
                    format!("record {}: IHL {ihl}", i + 1)
                }
                _ if d.len() > l4 + 12 => {
                    let doff = r.below(16) as u8;
                    d[l4 + 12] = (d[l4 + 12] & 0x0f) | (doff << 4);
                    format!("record {}: data offset {doff}", i + 1)
                }
                _ => format!("record {}: too short, left alone", i + 1),
            }
        }
        // A TCP option byte.
        _ => {
            // The first record with options at or after i.
            let found = (0..n).map(|k| (i + k) % n).find_map(|k| {
                let (_, l4, doff) = tcp_offsets(p, &p.records[k].data)?;
                let end = (l4 + doff).min(p.records[k].data.len());
                (end > l4 + 20).then_some((k, l4 + 20, end))
            });
            let Some((k, start, end)) = found else {
                return "no TCP options, left alone".into();
            };
            let at = start + r.below(end - start);
            let v = if r.chance(70) {
                r.pick(OPTION_BYTES)
            } else {
                r.next() as u8
            };
            let d = &mut p.records[k].data;
            let old = d[at];
            d[at] = v;
            format!("record {}: option byte {} {old} -> {v}", k + 1, at - start)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running both tools
// ---------------------------------------------------------------------------------------

/// What went wrong with one file, or None.
fn differential(path: &Path, options: &[&str]) -> Option<String> {
    let file = path.to_str().unwrap();
    let mut td_args = vec!["-n"];
    td_args.extend(options);
    td_args.extend(["-r", file]);
    let td = tcpdump(&td_args);
    let mut tt_args = vec!["-r", file];
    tt_args.extend(options);
    let tt = tcptrace(&tt_args);
    compare(&td, &tt, options.contains(&"-q"))
}

fn compare(td: &Output, tt: &Output, quiet: bool) -> Option<String> {
    let td_err = String::from_utf8_lossy(&td.stderr);
    let tt_err = String::from_utf8_lossy(&tt.stderr);
    let Some(code) = tt.status.code() else {
        return Some(format!("tcptrace was killed: {} ({tt_err})", tt.status));
    };
    let expected = cut_down(&String::from_utf8_lossy(&td.stdout), quiet);
    let got = String::from_utf8_lossy(&tt.stdout).into_owned();
    let mut problems = Vec::new();
    if td.status.code() != Some(code) {
        problems.push(format!(
            "exit status {code}, tcpdump {:?} (tcpdump stderr: {}; tcptrace stderr: {})",
            td.status.code(),
            td_err.trim(),
            tt_err.trim()
        ));
    }
    let one_line = tt_err.lines().count() == 1 && tt_err.starts_with("tcptrace: ");
    if code != 0 && !one_line {
        problems.push(format!(
            "failed without exactly one `tcptrace: ` line on stderr: {tt_err:?}"
        ));
    }
    if code == 0 && !tt_err.is_empty() {
        problems.push(format!("succeeded with stderr: {tt_err:?}"));
    }
    let d = common::diff(&expected, &got, 4);
    if !d.is_empty() {
        problems.push(d);
    }
    (!problems.is_empty()).then(|| problems.join("\n"))
}

/// The corpus captures used as seeds.
fn seeds() -> Vec<(String, RawPcap)> {
    let dir = shared_dir("conformance").join("pcaps");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no captures in {}", dir.display());
    files
        .into_iter()
        .map(|f| {
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            (name, RawPcap::read(&f))
        })
        .collect()
}

struct Mutant {
    name: String,
    what: Vec<String>,
    bytes: Vec<u8>,
    options: &'static [&'static str],
}

#[test]
fn mutated_captures_match_tcpdump() {
    let seed = std::env::var("TCPTRACE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let count = std::env::var("TCPTRACE_FUZZ_MUTANTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(MUTANTS);
    let seeds = seeds();
    let mut r = Rng(seed);
    let mutants: Vec<Mutant> = (0..count)
        .map(|i| {
            let (name, base) = &seeds[r.below(seeds.len())];
            let mut p = base.clone();
            let mut what: Vec<String> = (0..1 + r.below(3))
                .map(|_| mutate(&mut r, &mut p))
                .collect();
            let mut bytes = p.bytes();
            if r.chance(12) {
                // The file cut short, anywhere (the file header included).
                let at = r.below(bytes.len());
                bytes.truncate(at);
                what.push(format!("file cut to {at} bytes"));
            }
            Mutant {
                name: format!("{i:03}-{name}"),
                what,
                bytes,
                options: OPTIONS[i % OPTIONS.len()],
            }
        })
        .collect();
    let dir = scratch("capture_fuzz");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let results = par_map(&mutants, |m| {
        let path = dir.join(format!("{}.pcap", m.name));
        std::fs::write(&path, &m.bytes).unwrap();
        let out = differential(&path, m.options);
        if out.is_none() {
            let _ = std::fs::remove_file(&path);
        }
        out
    });
    let failures: Vec<String> = mutants
        .iter()
        .zip(&results)
        .filter_map(|(m, r)| {
            r.as_ref().map(|d| {
                format!(
                    "{} ({}; options {:?}):\n{d}",
                    dir.join(format!("{}.pcap", m.name)).display(),
                    m.what.join(", "),
                    m.options
                )
            })
        })
        .collect();
    eprintln!(
        "capture_fuzz: seed {seed:#x}, {} mutants, {} differ from tcpdump",
        mutants.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} mutants differ from tcpdump:\n\n{}",
        failures.len(),
        mutants.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------
// One test per shape that printed differently from tcpdump
// ---------------------------------------------------------------------------------------

/// SYN (with options), SYN-ACK, ACK, 20 bytes of data, its ACK: 10.0.0.1.40000 →
/// 10.0.0.2.8000 (a port tcpdump decodes nothing more for).
fn conversation() -> Vec<Seg> {
    const C: u32 = 1000;
    const S: u32 = 5000;
    let mut syn = s(0, Dir::C, SYN, C, 0, 64240, 0);
    // mss 1460, sackOK, TS val 1 ecr 0, nop, wscale 7.
    syn.options = vec![
        2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    vec![
        syn,
        s(100, Dir::S, SYN | ACK, S, C + 1, 65160, 0),
        s(200, Dir::C, ACK, C + 1, S + 1, 502, 0),
        s(300, Dir::C, PSH | ACK, C + 1, S + 1, 502, 20),
        s(400, Dir::S, ACK, S + 1, C + 21, 509, 0),
    ]
}

/// The conversation written to a scratch pcap, taken apart for editing.
fn capture(name: &str) -> (PathBuf, RawPcap) {
    let path = scratch(&format!("capture_fuzz_{name}.pcap"));
    write_pcap(
        &path,
        &Conversation::new(40000, 8000).frames(&conversation()),
    );
    let p = RawPcap::read(&path);
    (path, p)
}

/// Runs both tools on `path` with `options`; panics with the differences, if any. Returns
/// tcpdump's raw stdout and tcptrace's output.
fn same_as_tcpdump(path: &Path, options: &[&str]) -> (String, Output) {
    let file = path.to_str().unwrap();
    let td = tcpdump(&[&["-n"], options, &["-r", file]].concat());
    let tt = tcptrace(&[&["-r", file], options].concat());
    if let Some(d) = compare(&td, &tt, options.contains(&"-q")) {
        panic!("{file} {options:?}:\n{d}");
    }
    (String::from_utf8_lossy(&td.stdout).into_owned(), tt)
}

/// tcptrace's one error line.
fn error_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    err
}

/// tcpdump prints `[Invalid header: len(L) < caplen(C)]` for such a record and decodes
/// nothing of it: tcptrace skips it (it once printed it, and its SYN-ACK then moved the
/// relative sequence numbers). With `-#` it still takes its number.
#[test]
fn record_with_len_below_caplen_is_skipped() {
    let (path, mut p) = capture("len_below_caplen");
    let caplen = p.record_field(1, rec::CAPLEN);
    p.set_record_field(1, rec::LEN, caplen - 1);
    p.write(&path);
    for options in [&[][..], &["-S"], &["-v"]] {
        let (raw, tt) = same_as_tcpdump(&path, options);
        assert!(
            raw.contains(&format!(
                "[Invalid header: len({}) < caplen({caplen})]",
                caplen - 1
            )),
            "{raw}"
        );
        assert_eq!(
            String::from_utf8_lossy(&tt.stdout).matches("Flags").count(),
            4
        );
    }
    let file = path.to_str().unwrap();
    let td = tcpdump(&["-n", "-#", "-r", file]);
    let tt = tcptrace(&["-#", "-r", file]);
    let want: String = String::from_utf8_lossy(&td.stdout)
        .lines()
        .filter(|l| !l.contains("[Invalid header"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        want.starts_with("    1  ") && want.contains("\n    3  "),
        "{want}"
    );
    assert_eq!(String::from_utf8_lossy(&tt.stdout), want);
    // Every kind of invalid header, in one file.
    for (field, v) in [(rec::LEN, 0), (rec::LEN, 300_000), (rec::CAPLEN, 0)] {
        let (path, mut p) = capture("invalid_headers");
        p.set_record_field(2, field, v);
        if field == rec::CAPLEN {
            p.records[2].data.clear();
        }
        p.write(&path);
        let (raw, _) = same_as_tcpdump(&path, &[]);
        assert!(raw.contains("[Invalid header: "), "{raw}");
    }
}

/// A file header libpcap refuses is refused, with libpcap's words.
#[test]
fn file_header_refused_as_tcpdump_does() {
    for ((major, minor), want) in [
        ((3, 4), "unsupported pcap savefile version 3.4"),
        ((2, 5), "unsupported pcap savefile version 2.5"),
        ((1, 4), "archaic pcap savefile format"),
    ] {
        let (path, mut p) = capture(&format!("version_{major}_{minor}"));
        p.set_version(major, minor);
        p.write(&path);
        let (_, tt) = same_as_tcpdump(&path, &[]);
        assert!(tt.stdout.is_empty());
        assert_eq!(
            error_line(&tt),
            format!("tcptrace: {}: {want}\n", path.display())
        );
    }
    // Versions before 2.3 swap caplen and len: read as libpcap reads them.
    let (path, mut p) = capture("version_2_2");
    p.set_version(2, 2);
    p.write(&path);
    same_as_tcpdump(&path, &[]);
}

/// A record's caplen above 262144 and the file's snaplen (65535 here): the lines before it, then
/// libpcap's refusal (exit status 1).
#[test]
fn caplen_above_snaplen_is_refused() {
    let (path, mut p) = capture("caplen_above_snaplen");
    p.set_record_field(2, rec::CAPLEN, 300_000);
    p.write(&path);
    let (_, tt) = same_as_tcpdump(&path, &[]);
    assert_eq!(String::from_utf8_lossy(&tt.stdout).lines().count(), 2);
    assert_eq!(
        error_line(&tt),
        format!(
            "tcptrace: {}: invalid packet capture length 300000, bigger than snaplen of 65535\n",
            path.display()
        )
    );
}

/// Records captured beyond the file's snaplen are cut to it, as libpcap does: the options
/// of the SYN end in `[|tcp]`.
#[test]
fn record_beyond_snaplen_is_cut_to_it() {
    for snaplen in [60, 66, 54, 40] {
        let (path, mut p) = capture(&format!("snaplen_{snaplen}"));
        p.set_snaplen(snaplen);
        p.write(&path);
        let (_, tt) = same_as_tcpdump(&path, &[]);
        let text = String::from_utf8_lossy(&tt.stdout);
        assert!(text.contains("[|tcp]"), "{snaplen}: {text}");
        same_as_tcpdump(&path, &["-v"]);
    }
}

/// A SACK option of length 3 leaves its next kind at the header's last byte; tcpdump reads
/// that option's length from the payload and calls it bad (`[bad opt]`), or stops at the
/// end of the captured bytes (`[|tcp]`) when there is no payload byte.
#[test]
fn sack_of_length_three_before_the_last_header_byte() {
    let mut segs = conversation();
    // sack (length 3, one data byte), then kind 8 (TS) as the header's last byte.
    segs[3].options = vec![5, 3, 0, 8];
    segs[4].options = vec![5, 3, 0, 8];
    let path = scratch("capture_fuzz_sack3.pcap");
    write_pcap(&path, &Conversation::new(40000, 8000).frames(&segs));
    let (_, tt) = same_as_tcpdump(&path, &[]);
    let text = String::from_utf8_lossy(&tt.stdout);
    assert!(
        text.contains("options [sack invalid sack,[bad opt]]\n")
            && text.contains("options [sack invalid sack, [|tcp]\n"),
        "{text}"
    );
    // The data segment cut at the header's end: no payload byte captured.
    let mut p = RawPcap::read(&path);
    let keep = 14 + 20 + 24;
    p.records[3].data.truncate(keep);
    p.set_record_field(3, rec::CAPLEN, keep as u32);
    p.write(&path);
    let (_, tt) = same_as_tcpdump(&path, &[]);
    let text = String::from_utf8_lossy(&tt.stdout);
    assert_eq!(
        text.matches("options [sack invalid sack, [|tcp]\n").count(),
        2,
        "{text}"
    );
}

/// A file that ends early: the lines before the fault, then libpcap's words on one line,
/// exit status 1.
#[test]
fn truncated_files_end_as_tcpdump_does() {
    let (path, p) = capture("truncated");
    let bytes = p.bytes();
    let rec3 = 24
        + p.records[..2]
            .iter()
            .map(|r| 16 + r.data.len())
            .sum::<usize>();
    for (cut, lines, want) in [
        (
            rec3 + 8,
            2,
            "truncated dump file; tried to read 16 header bytes, only got 8".to_string(),
        ),
        (
            rec3 + 16 + 10,
            2,
            format!(
                "truncated dump file; tried to read {} captured bytes, only got 10",
                p.records[2].data.len()
            ),
        ),
        (
            10,
            0,
            "truncated dump file; tried to read 24 file header bytes, only got 10".to_string(),
        ),
        (
            0,
            0,
            "truncated dump file; tried to read 4 file header bytes, only got 0".to_string(),
        ),
    ] {
        let cut_path = scratch(&format!("capture_fuzz_truncated_{cut}.pcap"));
        std::fs::write(&cut_path, &bytes[..cut]).unwrap();
        let (_, tt) = same_as_tcpdump(&cut_path, &[]);
        assert_eq!(String::from_utf8_lossy(&tt.stdout).lines().count(), lines);
        assert_eq!(
            error_line(&tt),
            format!("tcptrace: {}: {want}\n", cut_path.display())
        );
    }
    let _ = std::fs::remove_file(path);
}

/// Errors about the file name their cause once.
#[test]
fn file_errors_say_their_cause_once() {
    let out = tcptrace(&["-r", "/nonexistent-dir/x.pcap"]);
    assert_eq!(
        error_line(&out),
        "tcptrace: /nonexistent-dir/x.pcap: No such file or directory\n"
    );
    let dir = scratch("");
    let out = tcptrace(&["-r", dir.to_str().unwrap()]);
    assert_eq!(
        error_line(&out),
        format!(
            "tcptrace: {}: error reading dump file: Is a directory\n",
            dir.display()
        )
    );
    let junk = scratch("capture_fuzz_junk.pcap");
    std::fs::write(&junk, b"this is not a capture file").unwrap();
    let out = tcptrace(&["-r", junk.to_str().unwrap()]);
    assert_eq!(
        error_line(&out),
        format!(
            "tcptrace: {}: not a pcap or pcapng file (unknown file format)\n",
            junk.display()
        )
    );
}

/// Seconds with bit 31 set (a damaged record header): tcpdump prints `[Error converting
/// time]` for the time, and so does tcptrace (it read them as a time after 2038).
#[test]
fn time_past_2038_is_an_error_converting_time() {
    let (path, mut p) = capture("time_bit31");
    p.set_record_field(2, rec::TS_SEC, 0x8000_0001);
    p.write(&path);
    for options in [&[][..], &["-tt"], &["-tttt"]] {
        let (_, tt) = same_as_tcpdump(&path, options);
        let text = String::from_utf8_lossy(&tt.stdout);
        assert!(
            text.contains("\n[Error converting time] IP 10.0.0.1.40000 > "),
            "{options:?}: {text}"
        );
    }
}

/// A frame longer than the 64 KiB replayed (BIG TCP) whose IP header claims a shorter
/// datagram: the segment lies in the replayed bytes, so -v shows its checksum verdict.
#[test]
fn long_frame_with_a_short_ip_datagram_has_a_checksum_verdict() {
    let src = shared_dir("conformance").join("pcaps/bigtcp-ipv6.pcap");
    let mut p = RawPcap::read(&src);
    // The IPv6 payload length (0 for a jumbogram) set to 21504.
    p.records[0].data[14 + 4..14 + 6].copy_from_slice(&21504u16.to_be_bytes());
    let path = scratch("capture_fuzz_bigtcp_short.pcap");
    p.write(&path);
    let (_, tt) = same_as_tcpdump(&path, &["-v"]);
    let text = String::from_utf8_lossy(&tt.stdout);
    assert!(text.contains("cksum 0x"), "{text}");
}
