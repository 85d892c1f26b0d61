//! `--metrics ADDR:PORT`: scraped during a live trace in a namespace pair, the text parsed
//! as Prometheus parses it (prometheus-parse): kernel counters per CPU, connections
//! opened, closed, refused by port, reset by side, the handshake RTT histogram.
mod common;

use std::{
    io::Read,
    net::{IpAddr, TcpStream},
};

use common::{listening, netns::NetnsPair, tracer_on_b};
use prometheus_parse::{Scrape, Value};

const PORT: u16 = 7201;
const CLOSED_PORT: u16 = 7202;
const RESET_PORT: u16 = 7203;
const METRICS: &str = "127.0.0.1:9465";

/// `GET path` of --metrics from inside namespace `ns`: status line and body.
fn get(ns: &str, path: &'static str) -> (String, String) {
    common::netns::http_get(ns, METRICS.to_string(), path.to_string())
}

fn value(scrape: &Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Untyped(v) | Value::Gauge(v) => *v,
            _ => 0.0,
        })
        .sum()
}

/// A connection the client resets (SO_LINGER 0, then close) after the handshake.
fn reset_by_client(net: &NetnsPair, b: IpAddr) {
    let serve = |mut s: TcpStream| {
        let _ = s.read(&mut [0u8; 8]);
    };
    common::netns::one_connection(net, b, RESET_PORT, serve, |s| {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on our socket with a correctly sized linger.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        drop(s);
    });
}

#[test]
fn metrics_scraped_during_a_live_trace() {
    let net = NetnsPair::new();
    let a: IpAddr = net.a4.parse().unwrap();
    let b: IpAddr = net.b4.parse().unwrap();
    let mut cmd = tracer_on_b(&net);
    cmd.args(["--metrics", METRICS, "tcp"]);
    let mut tt = listening(cmd);

    // Before any traffic: served, parsed, zero connections.
    let (status, body) = get(&net.b, "/metrics");
    assert!(status.contains(" 200 "), "{status}");
    let first = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("parses");
    assert_eq!(
        value(&first, "tcptrace_connections_opened_total", None),
        0.0,
        "{body}"
    );
    assert!(
        first
            .samples
            .iter()
            .any(|s| s.metric == "tcptrace_kernel_seen_total" && s.labels.get("cpu") == Some("0")),
        "per-CPU kernel counters: {body}"
    );

    // One session (opened, closed), one refusal, one reset by the client.
    let server = common::netns::echo_server(&net, b, PORT);
    common::netns::client_session(&net, b, PORT);
    server.join().unwrap();
    common::netns::refused(&net, a, b, 40001, CLOSED_PORT);
    reset_by_client(&net, b);
    // Counted before printed: once the RST's line is out, the totals hold it.
    tt.wait_stdout(&format!("{}.{CLOSED_PORT} > ", net.b4));
    tt.wait_stdout(&format!(".{RESET_PORT}: Flags [R"));

    let (status, body) = get(&net.b, "/metrics");
    assert!(status.contains(" 200 "), "{status}");
    let s = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let v = |name: &str| value(&s, name, None);
    assert_eq!(v("tcptrace_connections_opened_total"), 2.0, "{body}");
    assert_eq!(v("tcptrace_connections_closed_total"), 1.0, "{body}");
    let closed = CLOSED_PORT.to_string();
    for (name, label, want) in [
        (
            "tcptrace_connections_refused_total",
            ("port", &*closed),
            1.0,
        ),
        ("tcptrace_connections_reset_total", ("by", "client"), 1.0),
        ("tcptrace_connections_reset_total", ("by", "server"), 0.0),
    ] {
        assert_eq!(
            value(&s, name, Some(label)),
            want,
            "{name} {label:?}: {body}"
        );
    }
    let rtt = s
        .samples
        .iter()
        .find(|x| x.metric == "tcptrace_handshake_rtt_seconds")
        .unwrap_or_else(|| panic!("no RTT histogram: {body}"));
    let Value::Histogram(buckets) = &rtt.value else {
        panic!("not a histogram: {rtt:?}");
    };
    let inf = buckets
        .iter()
        .find(|b| b.less_than.is_infinite())
        .expect("+Inf bucket");
    assert_eq!(inf.count, 2.0, "{body}");
    let lines = tt.out_lines.len() as f64;
    assert!(v("tcptrace_kernel_emitted_total") >= lines, "{body}");
    assert_eq!(v("tcptrace_kernel_lost_total"), 0.0, "{body}");

    let (status, _) = get(&net.b, "/other");
    assert!(status.contains(" 404 "), "{status}");
    assert_eq!(tt.interrupt(), Some(0), "{:?}", tt.err_lines);
}

#[test]
fn metrics_address_that_cannot_be_bound_is_refused_before_attaching() {
    let net = NetnsPair::new();
    let err = common::refused_before_attaching(&net, &["--metrics", "192.0.2.1:9465"]);
    assert!(
        err.starts_with("tcptrace: --metrics 192.0.2.1:9465: cannot listen")
            && err.lines().count() == 1,
        "{err}"
    );
}
