//! A real Prometheus (Debian's package) scrapes `--metrics` during a live trace, configured
//! with deploy/prometheus/prometheus.yml (its scrape interval shortened to 1 s); the
//! counters it stored (records, lost, connections by state), read back through its HTTP
//! API, equal tcptrace's own closing lines. promtool finds nothing against Prometheus's
//! naming conventions in what tcptrace serves.
mod common;

use std::{
    fs,
    io::Write,
    net::IpAddr,
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::{
    netns::{NetnsPair, Proc, client_session, echo_server, http_get, refused},
    tcptrace_bin,
};
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

const PORT: u16 = 7221;
const CLOSED_PORT: u16 = 7222;
const PROMETHEUS: &str = "127.0.0.1:9090";

/// `GET path` on `addr` from inside namespace `ns`: the body of a 200 response.
fn get(ns: &str, addr: &str, path: String) -> String {
    let (status, body) = http_get(ns, addr.to_string(), path.clone());
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "{path}: {status}\n{body}"
    );
    body
}

/// An instant query through Prometheus's HTTP API (at `time`, Unix seconds): the value.
fn query(ns: &str, q: &str, time: Option<f64>) -> Option<f64> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let at = time.map(|t| format!("&time={t:.3}")).unwrap_or_default();
    let body = get(ns, PROMETHEUS, format!("/api/v1/query?query={enc}{at}"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{q}: {body}");
    let r = &v["data"]["result"];
    r.get(0).map(|s| {
        s["value"][1]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("{q}: {body}: {e}"))
    })
}

/// The scrape example with its interval shortened, written into `dir`.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let text =
        fs::read_to_string(common::workspace_root().join("deploy/prometheus/prometheus.yml"))
            .unwrap();
    let mut doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let job = &doc["scrape_configs"][0];
    assert_eq!(job["job_name"].as_str(), Some("tcptrace"));
    if let Yaml::Hash(h) = &mut doc
        && let Some(Yaml::Hash(g)) = h.get_mut(&Yaml::String("global".into()))
    {
        g.insert(
            Yaml::String("scrape_interval".into()),
            Yaml::String("1s".into()),
        );
    }
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(&doc).unwrap();
    let p = dir.join("prometheus.yml");
    fs::write(&p, out).unwrap();
    p
}

/// The target's address in the example (what tcptrace's --metrics must be).
fn target() -> String {
    let text =
        fs::read_to_string(common::workspace_root().join("deploy/prometheus/prometheus.yml"))
            .unwrap();
    let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
    doc["scrape_configs"][0]["static_configs"][0]["targets"][0]
        .as_str()
        .expect("a static target")
        .to_string()
}

fn number_before(lines: &[String], suffix: &str) -> f64 {
    lines
        .iter()
        .find_map(|l| l.strip_suffix(suffix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no '{suffix}' line: {lines:#?}"))
}

/// `N word` in the --stats line.
fn stat(line: &str, word: &str) -> f64 {
    let words: Vec<&str> = line
        .split([' ', ',', ';', '(', ')', ':'])
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .find(|w| w[1] == word)
        .and_then(|w| w[0].parse().ok())
        .unwrap_or_else(|| panic!("no '{word}' in {line}"))
}

#[test]
fn prometheus_scrapes_what_the_closing_lines_say() {
    let net = NetnsPair::new();
    let a: IpAddr = net.a4.parse().unwrap();
    let b: IpAddr = net.b4.parse().unwrap();
    let dir = std::env::temp_dir().join(format!("tcptrace-prom-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let cfg = config(&dir);

    let mut cmd = net.exec(&net.b, tcptrace_bin());
    cmd.args([
        "-i",
        &net.veth_b,
        "--metrics",
        &target(),
        "--stats",
        "3600",
        "tcp",
    ])
    .env("TZ", "UTC");
    let mut tt = Proc::spawn("tcptrace", cmd);
    tt.wait_stderr("listening on");

    // What tcptrace serves breaks none of Prometheus's conventions.
    let body = get(&net.b, "127.0.0.1:9465", "/metrics".into());
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus)");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut prom = net.exec(&net.b, "prometheus");
    prom.arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={PROMETHEUS}"));
    let mut prom = Proc::spawn("prometheus", prom);
    prom.wait_stderr("Server is ready to receive web requests.");

    // One session (opened, closed), one refusal.
    let server = echo_server(&net, b, PORT);
    client_session(&net, b, PORT);
    server.join().unwrap();
    refused(&net, a, b, 40002, CLOSED_PORT);
    // Counted before printed: once the RST's line is out, the totals hold it.
    tt.wait_stdout(&format!("{}.{CLOSED_PORT} > ", net.b4));

    // A scrape that started after everything was counted.
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(60);
    let scraped = loop {
        if let Some(t) = query(&net.b, "timestamp(tcptrace_connections_closed_total)", None)
            && t > t0
        {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape tcptrace"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(tt.interrupt(), Some(0), "{:?}", tt.err_lines);

    let at = |q: &str| query(&net.b, q, Some(scraped)).unwrap_or_else(|| panic!("no {q}"));
    let closing = &tt.err_lines;
    let stats = closing
        .iter()
        .rev()
        .find(|l| l.starts_with("tcptrace: stats: "))
        .expect("the last --stats line");
    assert_eq!(
        at("sum(tcptrace_kernel_matched_total)"),
        number_before(closing, " packets received by filter")
    );
    assert_eq!(
        at("sum(tcptrace_kernel_lost_total)"),
        number_before(closing, " packets dropped by kernel")
    );
    assert_eq!(
        at("sum(tcptrace_kernel_emitted_total)"),
        stat(stats, "emitted")
    );
    assert_eq!(
        at("tcptrace_connections_opened_total"),
        stat(stats, "opened")
    );
    assert_eq!(
        at("tcptrace_connections_closed_total"),
        stat(stats, "closed")
    );
    assert_eq!(
        at("sum(tcptrace_connections_refused_total)"),
        stat(stats, "refused")
    );
    assert_eq!(
        at("sum(tcptrace_connections_reset_total)"),
        stat(stats, "reset")
    );
    // What the test made: something to compare.
    assert_eq!(stat(stats, "opened"), 1.0, "{stats}");
    assert_eq!(stat(stats, "refused"), 1.0, "{stats}");
    assert_eq!(stat(stats, "closed"), 1.0, "{stats}");
    drop(prom);
    let _ = fs::remove_dir_all(&dir);
}
