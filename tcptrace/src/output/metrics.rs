//! `--metrics ADDR:PORT`: Prometheus text format on `GET /metrics` (prometheus-client,
//! served by hyper on the trace's own tokio runtime). The kernel's per-CPU counters are
//! read at each scrape; the connection totals are counted as the events happen
//! ([`crate::stats::Tally`]). Label values are bounded: `cpu` by the CPU count, `by` by
//! two sides, `port` by the first [`PORT_LABELS`] server ports refused (the rest are
//! `other`).
use std::{
    collections::HashSet,
    convert::Infallible,
    fmt,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Bytes, header, service::service_fn};
use hyper_util::rt::TokioIo;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _},
    metrics::{
        MetricType, counter::ConstCounter, counter::Counter, family::Family, histogram::Histogram,
    },
    registry::Registry,
};

use crate::kernel::{CounterReader, Counters};

/// Server ports that get a `port` label of their own on refusals.
pub const PORT_LABELS: usize = 32;

/// What `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    opened: Counter,
    closed: Counter,
    refused: Family<Vec<(String, String)>, Counter>,
    reset: Family<Vec<(String, String)>, Counter>,
    rtt: Histogram,
    retransmissions: Counter,
    zero_windows: Counter,
    ports: Mutex<HashSet<u16>>,
}

/// The kernel counters, read per CPU at each scrape.
struct KernelCounters(Mutex<CounterReader>);

impl fmt::Debug for KernelCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KernelCounters")
    }
}

type Field = fn(&Counters) -> u64;

const KERNEL: [(&str, &str, Field); 6] = [
    ("kernel_seen", "Packets the programs saw.", |c| c.seen),
    ("kernel_matched", "Packets the filter took.", |c| c.matched),
    ("kernel_emitted", "Records put in the ring buffer.", |c| {
        c.emitted
    }),
    (
        "kernel_lost",
        "Records lost: the ring buffer was full.",
        |c| c.lost,
    ),
    (
        "kernel_malformed",
        "Packets with a malformed IP or TCP header.",
        |c| c.malformed,
    ),
    (
        "kernel_cut_short",
        "Packets cut short before the end of their TCP header.",
        |c| c.truncated,
    ),
];

impl Collector for KernelCounters {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let per_cpu = self
            .0
            .lock()
            .ok()
            .and_then(|r| r.per_cpu().ok())
            .unwrap_or_default();
        for (name, help, field) in KERNEL {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (cpu, c) in per_cpu.iter().enumerate() {
                let labels = vec![("cpu".to_string(), cpu.to_string())];
                ConstCounter::new(field(c)).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Handshake RTT buckets: 50 µs to about 3.3 s, doubling.
fn rtt_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(50e-6, 2.0, 17)
}

impl Metrics {
    pub fn new(kernel: CounterReader) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("tcptrace");
        let m = Metrics {
            registry: Registry::default(),
            opened: Counter::default(),
            closed: Counter::default(),
            refused: Family::default(),
            reset: Family::default(),
            rtt: Histogram::new(rtt_buckets()),
            retransmissions: Counter::default(),
            zero_windows: Counter::default(),
            ports: Mutex::new(HashSet::new()),
        };
        registry.register_collector(Box::new(KernelCounters(Mutex::new(kernel))));
        // Each field under its name and help text.
        macro_rules! register {
            ($($field:ident: $name:literal, $help:literal;)*) => {
                $(registry.register($name, $help, m.$field.clone());)*
            };
        }
        register! {
            opened: "connections_opened", "Connections whose three-way handshake completed";
            closed: "connections_closed", "Connections closed by FIN on both sides";
            refused: "connections_refused",
                "SYNs answered by RST, by server port (the first 32 ports, then other)";
            reset: "connections_reset",
                "Connections reset, by the side that sent the RST (client or server)";
            rtt: "handshake_rtt_seconds",
                "Handshake round-trip time seen at the traced interface (SYN to the client's ACK)";
            retransmissions: "retransmissions", "Data segments sent again";
            zero_windows: "zero_windows", "Zero-window advertisements";
        }
        // Both sides exist from the start (Prometheus's advice for known label values):
        // a query over resets finds 0, not nothing, before the first one.
        for by in ["client", "server"] {
            drop(m.reset.get_or_create(&vec![("by".into(), by.into())]));
        }
        Arc::new(Metrics { registry, ..m })
    }

    pub fn opened(&self, rtt_secs: Option<f64>) {
        self.opened.inc();
        if let Some(r) = rtt_secs {
            self.rtt.observe(r);
        }
    }

    pub fn closed(&self) {
        self.closed.inc();
    }

    pub fn refused(&self, port: u16) {
        let label = match self.ports.lock() {
            Ok(mut seen) if seen.contains(&port) || seen.len() < PORT_LABELS => {
                seen.insert(port);
                port.to_string()
            }
            _ => "other".to_string(),
        };
        self.refused
            .get_or_create(&vec![("port".into(), label)])
            .inc();
    }

    pub fn reset(&self, by_client: bool) {
        let by = if by_client { "client" } else { "server" };
        self.reset
            .get_or_create(&vec![("by".into(), by.into())])
            .inc();
    }

    pub fn retransmission(&self) {
        self.retransmissions.inc();
    }

    pub fn zero_window(&self) {
        self.zero_windows.inc();
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// Binds `addr` now (so a bad address is refused before anything is attached).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Serves `/metrics` on `listener` until the runtime stops (call inside the runtime).
pub fn serve(listener: std::net::TcpListener, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let m = metrics.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let m = m.clone();
                    async move { Ok::<_, Infallible>(respond(&req, &m)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

fn respond(req: &Request<hyper::body::Incoming>, m: &Metrics) -> Response<Full<Bytes>> {
    let (status, ty, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            m.render(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "tcptrace serves /metrics\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, ty)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}
