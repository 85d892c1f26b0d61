//! Filter expressions mean what they mean to tcpdump: random expressions from the supported
//! grammar (a fixed-seed PRNG, so every run tries the same ones) over a random TCP capture;
//! `tcptrace -r FILE EXPR…` must print exactly the lines `tcpdump -n -r FILE 'EXPR'` prints.
//!
//! Two captures: untagged IPv4/IPv6 frames for expressions without `vlan`, and the same
//! traffic mixed with single-tagged VLAN frames for expressions of the form
//! `vlan [ID] and (E)`. In pcap-filter, `vlan` moves the offsets every later test reads, and
//! a test without `vlan` never matches a tagged frame; tcptrace's tests always look through
//! the tags (README, "Filter expressions"). These two shapes are where both agree.
//! IPv6 frames carry no extension headers (tcpdump's `port`/`tcp` read the fixed header's
//! next-header field only).
mod common;

use std::{path::Path, sync::Mutex, time::Duration};

use common::{
    packet::{ETH_P_IP, ETH_P_IPV6, Ipv4, Ipv6, Tcp, eth4, eth6, ether, vlan},
    pcap::{Frame, scratch, write_pcap},
    rng::Rng,
    stdout_ok, tcpdump, tcptrace,
};

/// Expressions tried; `TCPTRACE_FILTER_DIFF_CASES=N` tries the first N of the same
/// sequence (the kernel-matrix VMs run a fixed slice).
const EXPRESSIONS: usize = 300;

fn expressions() -> usize {
    std::env::var("TCPTRACE_FILTER_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(EXPRESSIONS, |n: usize| n.min(EXPRESSIONS))
}
const SEED: u64 = 0x7463_7074_7261_6365;

const HOSTS4: &[[u8; 4]] = &[
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [10, 0, 1, 5],
    [192, 168, 2, 165],
    [192, 168, 2, 10],
    [172, 16, 3, 4],
];
const HOSTS6: &[&str] = &["fd00::1", "fd00::2", "fd00:1::5", "2001:db8::10"];
/// Ports tcpdump prints nothing more for on empty segments.
const PORTS: &[u16] = &[23, 80, 443, 1024, 1249, 5000, 40000];
const VLANS: &[u16] = &[5, 7, 100];

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn random_tcp(r: &mut Rng) -> Tcp {
    let port = |r: &mut Rng| {
        if r.chance(80) {
            r.pick(PORTS)
        } else {
            1 + r.below(65535) as u16
        }
    };
    let mut t = Tcp::new(port(r), port(r));
    t.seq = r.next() as u32;
    t.ack = r.next() as u32;
    t.flags = r.below(256) as u16;
    t.window = r.next() as u16;
    t
}

/// One random frame: IPv4 or IPv6 from the pools, random ports and flags; tagged with one
/// VLAN tag when `tagged`.
fn random_frame(r: &mut Rng, tagged: bool) -> Vec<u8> {
    let tcp = random_tcp(r);
    let (ethertype, ip) = if r.chance(60) {
        let (s, d) = (r.pick(HOSTS4), r.pick(HOSTS4));
        (ETH_P_IP, Ipv4::new(s, d).tcp(&tcp))
    } else {
        let (s, d) = (v6(r.pick(HOSTS6)), v6(r.pick(HOSTS6)));
        (ETH_P_IPV6, Ipv6::new(s, d).tcp(&tcp))
    };
    if tagged {
        ether(&[vlan(r.pick(VLANS))], ethertype, &ip)
    } else if ethertype == ETH_P_IP {
        eth4(&ip)
    } else {
        eth6(&ip)
    }
}

fn write_capture(path: &Path, r: &mut Rng, frames: usize, tagged_percent: usize) {
    let frames: Vec<Frame> = (0..frames)
        .map(|i| Frame {
            ts: Duration::from_micros(1_700_000_000_000_000 + i as u64 * 1_250),
            data: {
                let tagged = r.chance(tagged_percent);
                random_frame(r, tagged)
            },
        })
        .collect();
    write_pcap(path, &frames);
}

fn host(r: &mut Rng) -> String {
    if r.chance(60) {
        let h = r.pick(HOSTS4);
        format!("{}.{}.{}.{}", h[0], h[1], h[2], h[3])
    } else {
        r.pick(HOSTS6).to_string()
    }
}

fn net(r: &mut Rng) -> String {
    r.pick(&[
        "10",
        "10.0",
        "10.0.0",
        "192.168.2",
        "172.16.0.0/12",
        "10.0.0.0/31",
        "192.168.2.0 mask 255.255.255.0",
        "10.0.1.0 mask 255.255.255.0",
        "fd00::/16",
        "fd00:1::/32",
        "2001:db8::/32",
        "fd00::/120",
    ])
    .to_string()
}

fn port(r: &mut Rng) -> String {
    r.pick(PORTS).to_string()
}

fn dir(r: &mut Rng) -> &'static str {
    r.pick(&["", "", "src ", "dst ", "src or dst ", "src and dst "])
}

/// A primitive, possibly with bare values after it (`host a or b`, `port 1 and not 2`).
fn primitive(r: &mut Rng) -> String {
    let (head, value): (String, fn(&mut Rng) -> String) = match r.below(12) {
        0..=2 => (format!("{}host", dir(r)), host),
        3 => (dir(r).trim_end().to_string(), host),
        4..=5 => (format!("{}net", dir(r)), net),
        6..=7 => (format!("{}port", dir(r)), port),
        8 => {
            let (a, b) = (r.pick(PORTS), r.pick(PORTS));
            let (a, b) = (a.min(b), a.max(b));
            return format!("{}portrange {a}-{b}", dir(r));
        }
        9 => {
            return r
                .pick(&[
                    "ip",
                    "ip6",
                    "tcp",
                    "tcp port 80",
                    "ip host 10.0.0.1",
                    "ip6 net fd00::/16",
                ])
                .to_string();
        }
        _ => return flags(r),
    };
    let head = if head.is_empty() {
        "host".to_string()
    } else {
        head
    };
    let mut s = format!("{head} {}", value(r));
    while r.chance(25) {
        let op = r.pick(&["or", "and", "or not", "||"]);
        s += &format!(" {op} {}", value(r));
    }
    s
}

fn flag_value(r: &mut Rng) -> String {
    const NAMES: &[&str] = &[
        "tcp-fin", "tcp-syn", "tcp-rst", "tcp-push", "tcp-ack", "tcp-urg", "tcp-ece", "tcp-cwr",
    ];
    match r.below(4) {
        0 => r.below(256).to_string(),
        1 => format!("0x{:x}", 1 << r.below(8)),
        2 => format!("({}|{})", r.pick(NAMES), r.pick(NAMES)),
        _ => r.pick(NAMES).to_string(),
    }
}

fn flags(r: &mut Rng) -> String {
    let byte = r.pick(&["tcp[tcpflags]", "tcp[13]"]);
    let op = r.pick(&["!=", "==", "="]);
    if r.chance(75) {
        let mask = flag_value(r);
        let value = if r.chance(60) {
            "0".to_string()
        } else {
            flag_value(r)
        };
        format!("{byte} & {mask} {op} {value}")
    } else {
        format!("{byte} {op} {}", flag_value(r))
    }
}

/// A random expression of at most `depth` levels of operators.
fn expression(r: &mut Rng, depth: usize) -> String {
    if depth == 0 || r.chance(30) {
        let p = primitive(r);
        return if p.contains(" or ") || p.contains(" and ") || p.contains("||") {
            format!("({p})")
        } else {
            p
        };
    }
    match r.below(10) {
        0..=3 => format!(
            "{} {} {}",
            expression(r, depth - 1),
            r.pick(&["and", "&&"]),
            expression(r, depth - 1)
        ),
        4..=6 => format!(
            "{} {} {}",
            expression(r, depth - 1),
            r.pick(&["or", "||"]),
            expression(r, depth - 1)
        ),
        7..=8 => format!(
            "{} {}",
            r.pick(&["not", "!"]),
            paren(expression(r, depth - 1))
        ),
        _ => paren(expression(r, depth - 1)),
    }
}

fn paren(e: String) -> String {
    format!("( {e} )")
}

/// `vlan [ID] and (E)`: the shape where tcpdump's `vlan` and tcptrace's agree.
fn vlan_expression(r: &mut Rng) -> String {
    let v = match r.below(3) {
        0 => "vlan".to_string(),
        _ => format!("vlan {}", r.pick(VLANS)),
    };
    if r.chance(20) {
        return v;
    }
    format!("{v} and ({})", expression(r, 2))
}

enum Outcome {
    Same { lines: usize },
    TooLarge,
    Differs(String),
}

fn compare(file: &Path, expr: &str) -> Outcome {
    let words: Vec<&str> = expr.split_whitespace().collect();
    let mut args = vec!["-r", file.to_str().unwrap()];
    args.extend(&words);
    let tt = tcptrace(&args);
    let stderr = String::from_utf8_lossy(&tt.stderr);
    if !tt.status.success() && stderr.contains("filter too large") {
        return Outcome::TooLarge;
    }
    if !tt.status.success() {
        return Outcome::Differs(format!(
            "expression: {expr}
tcptrace failed: {stderr}"
        ));
    }
    let tt = String::from_utf8_lossy(&tt.stdout).into_owned();
    let td = tcpdump(&["-n", "-r", file.to_str().unwrap(), expr]);
    let td_err = String::from_utf8_lossy(&td.stderr);
    let td = if td.status.success() {
        String::from_utf8_lossy(&td.stdout).into_owned()
    } else if td_err.contains("expression rejects all packets") {
        // tcpdump's optimizer proved the filter constant false: nothing is printed.
        String::new()
    } else {
        return Outcome::Differs(format!(
            "expression: {expr}
tcpdump failed: {td_err}"
        ));
    };
    if tt == td {
        Outcome::Same {
            lines: td.lines().count(),
        }
    } else {
        Outcome::Differs(format!("expression: {expr}\n{}", common::diff(&td, &tt, 6)))
    }
}

#[test]
fn random_expressions_match_tcpdump() {
    let mut r = Rng(SEED);
    let plain = scratch("filter_diff_plain.pcap");
    let tagged = scratch("filter_diff_vlan.pcap");
    write_capture(&plain, &mut r, 240, 0);
    write_capture(&tagged, &mut r, 240, 50);

    let cases: Vec<(String, &Path)> = (0..expressions())
        .map(|i| {
            if i % 6 == 5 {
                (vlan_expression(&mut r), tagged.as_path())
            } else {
                (expression(&mut r, 3), plain.as_path())
            }
        })
        .collect();

    let next = Mutex::new(0usize);
    let results = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(4, |n| n.get().min(8));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some((expr, file)) = cases.get(i) else {
                        break;
                    };
                    let out = compare(file, expr);
                    results.lock().unwrap().push((i, out));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let (mut same, mut selective, mut too_large) = (0, 0, 0);
    let mut failures = Vec::new();
    for (i, out) in &results {
        match out {
            Outcome::Same { lines } => {
                same += 1;
                if *lines > 0 && *lines < 240 {
                    selective += 1;
                }
            }
            Outcome::TooLarge => too_large += 1,
            Outcome::Differs(d) => failures.push(format!("case {i}: {d}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} expressions print differently from tcpdump:\n{}",
        failures.len(),
        results.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{same} expressions printed the same lines as tcpdump ({selective} selected some but \
         not all packets); {too_large} refused as too large for the kernel table"
    );
    assert!(
        too_large * 10 <= expressions(),
        "too many refused: {too_large}"
    );
    assert!(
        selective * 2 >= same,
        "too few selective expressions: {selective} of {same}"
    );
}

#[test]
fn bad_expressions_are_refused_before_loading() {
    let file = scratch("filter_diff_bad.pcap");
    let mut r = Rng(1);
    write_capture(&file, &mut r, 4, 0);
    let f = file.to_str().unwrap();
    for (args, want) in [
        (
            vec!["host", "1.2.3.4", "and", "prot", "23"],
            "tcptrace: syntax error near 'prot' (word 4): expected host, net, port",
        ),
        (vec!["udp"], "tcptrace: 'udp' (word 1) is not supported"),
        (
            vec!["ether", "host", "1:2:3:4:5:6"],
            "'ether' (word 1) is not supported",
        ),
        (
            vec!["greater", "100"],
            "'greater' (word 1) is not supported",
        ),
        (vec!["host", "example.com"], "host names are not resolved"),
        (
            vec!["port", "23", "and"],
            "syntax error at the end of the expression",
        ),
        (
            vec![
                "(port 1 or port 2 or port 3 or port 4 or port 5) and (host 10.0.0.1 or 10.0.0.2 \
                 or 10.0.0.3 or 10.0.0.4 or 10.0.0.5 or 10.0.0.6 or 10.0.0.7 or 10.0.0.8)",
            ],
            "tcptrace: filter too large: 40 terms after expansion, the kernel table holds 16",
        ),
    ] {
        let mut a = vec!["-r", f];
        a.extend(&args);
        let out = tcptrace(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(out.stdout.is_empty());
    }
    // --host/--port and an expression are and-ed.
    let frames: Vec<Frame> = [(1u16, 23u16), (2, 80), (3, 23)]
        .iter()
        .enumerate()
        .map(|(i, (s, d))| Frame {
            ts: Duration::from_secs(1 + i as u64),
            data: eth4(&Ipv4::new([10, 0, 0, *s as u8], [10, 0, 0, 9]).tcp(&Tcp::new(1000, *d))),
        })
        .collect();
    write_pcap(&file, &frames);
    let out = tcptrace(&["-r", f, "--port", "23", "not", "host", "10.0.0.3"]);
    let text = stdout_ok("tcptrace --port 23 not host 10.0.0.3", &out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("10.0.0.1.1000 > 10.0.0.9.23"), "{text}");
}
