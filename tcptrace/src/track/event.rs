//! Connection events and the plain-English notes `--explain` prints for them.
//!
//! Every note names the endpoints it talks about, so it reads on its own (`--no-lines`,
//! JSON `text`). The wording is listed in README.md ("Connection notes"); tests assert on it.

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};

use crate::decode::{IcmpKind, Timestamp};

/// One end of a connection: address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(addr: IpAddr, port: u16) -> Self {
        Endpoint { addr, port }
    }
}

/// tcpdump's `ADDR.PORT` (IPv6 as tcpdump writes it).
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b = Vec::with_capacity(48);
        crate::render::put_ip(&mut b, &self.addr);
        // put_ip writes ASCII only.
        f.write_str(std::str::from_utf8(&b).unwrap_or("?"))?;
        write!(f, ".{}", self.port)
    }
}

/// A time span in nanoseconds, printed for people: `0.369 ms`, `499.412 ms`, `1.250 s`.
/// In JSON: the nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Span(pub u64);

impl Span {
    /// `later - earlier`, 0 if the clock went backwards.
    pub fn between(earlier: Timestamp, later: Timestamp) -> Span {
        let ns = ts_ns(later) - ts_ns(earlier);
        Span(ns.max(0) as u64)
    }

    pub fn ms(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns < 1_000_000_000 {
            write!(f, "{}.{:03} ms", ns / 1_000_000, (ns / 1_000) % 1_000)
        } else {
            write!(
                f,
                "{}.{:03} s",
                ns / 1_000_000_000,
                (ns / 1_000_000) % 1_000
            )
        }
    }
}

/// Nanoseconds since the epoch.
pub fn ts_ns(t: Timestamp) -> i128 {
    t.secs as i128 * 1_000_000_000 + t.nanos as i128
}

/// What happened. Endpoints are in [`Event`]: `from` is the one acting (the sender of the
/// segment, or the client for end-of-trace verdicts), `to` the other.
///
/// Serialized, a kind is its own fields of a JSON event object (`--json`), in the order
/// declared here, under the names given here; spans are in nanoseconds (`_ns`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EventKind {
    /// SYN: the client asks to open a connection.
    Handshake1 { isn: u32 },
    /// SYN-ACK: the server accepts. `after_syn`: time since the (last) SYN, if it was seen.
    Handshake2 {
        acked_isn: u32,
        #[serde(rename = "after_syn_ns")]
        after_syn: Option<Span>,
    },
    /// The client's first ACK: established. `rtt`: SYN → this ACK (the handshake RTT).
    Handshake3 {
        #[serde(rename = "after_synack_ns")]
        after_synack: Option<Span>,
        #[serde(rename = "handshake_rtt_ns")]
        rtt: Option<Span>,
    },
    /// The same SYN again while unanswered.
    SynRetransmit {
        attempt: u32,
        #[serde(rename = "since_first_ns")]
        since_first: Span,
    },
    /// The same SYN-ACK again.
    SynAckRetransmit { attempt: u32 },
    /// SYN answered by RST (`from` = the refusing server).
    Refused { attempt: u32 },
    /// After a refusal, the client sends the same SYN (same ISN) again.
    Retry {
        attempt: u32,
        isn: u32,
        #[serde(rename = "since_reset_ns")]
        since_reset: Span,
    },
    /// End of trace or expiry: the client stopped retrying after `attempts` refusals.
    GaveUp { attempts: u32 },
    /// End of trace or expiry: `syns` SYNs never answered.
    NoAnswer { syns: u32 },
    /// End of trace or expiry: the client's SYNs got no answer because this host dropped
    /// `dropped` of them (`why`, from the last drop's `reason`).
    DroppedHere {
        syns: u32,
        dropped: u32,
        #[serde(skip)]
        why: String,
        reason: String,
    },
    /// End of trace or expiry: the client's SYNs got no answer while the listener's accept
    /// queue was full: `queued` connections it has not accepted, `overflows` counted by the
    /// kernel since the trace started.
    AcceptQueueFull {
        syns: u32,
        queued: u32,
        #[serde(rename = "listen_overflows")]
        overflows: u64,
    },
    /// The host dropped the segment from `from`: the kernel's `reason`, in `function`;
    /// `ingress`: it had arrived (`after`: since the wire hook saw it), else this host
    /// made it (`after`: None when it never reached the wire).
    Dropped {
        seq: u32,
        #[serde(rename = "direction", serialize_with = "json::direction")]
        ingress: bool,
        reason: String,
        function: String,
        #[serde(rename = "after_wire_ns")]
        after: Option<Span>,
    },
    /// The kernel's reason for the RST `from` (this host) sent (`NO_SOCKET`).
    ResetReason { reason: String },
    /// The kernel retransmitted `from`'s segment `seq`, but the wire hooks never saw it
    /// (`err`: the transmit error, where the kernel gives it).
    RetransmitUnseen {
        seq: u32,
        #[serde(rename = "error")]
        err: Option<i32>,
    },
    /// An ICMP error from `router` about the segment from `from` (seq `seq`, an IP packet
    /// of `sent_len` bytes, `syn`: a SYN).
    Icmp {
        router: IpAddr,
        seq: u32,
        sent_len: u32,
        /// `icmp` and `mtu`.
        #[serde(flatten)]
        what: IcmpKind,
        #[serde(skip)]
        syn: bool,
    },
    /// End of trace or expiry: the client's SYNs were answered by an ICMP destination
    /// unreachable (`what`: `ICMP port unreachable`) from `router`.
    IcmpRefused {
        syns: u32,
        router: IpAddr,
        #[serde(rename = "icmp")]
        what: String,
    },
    /// A new SYN (new ISN) on the port pair of an earlier connection.
    PortReuse {
        isn: u32,
        #[serde(rename = "previous_conn")]
        previous: u64,
        previous_state: &'static str,
        #[serde(rename = "since_previous_ns")]
        since_end: Option<Span>,
    },
    /// First segment of a connection whose handshake the trace did not show.
    Midstream,
    /// First FIN of the connection.
    ActiveClose {
        #[serde(rename = "bytes_sent")]
        sent: u64,
        #[serde(rename = "bytes_received")]
        received: u64,
    },
    /// The second FIN, after the first was acknowledged.
    PassiveClose {
        #[serde(rename = "after_fin_ns")]
        after_fin: Span,
    },
    /// The second FIN crossed the first (neither acknowledged yet).
    SimultaneousClose,
    /// Data from `from` after `to` closed its sending side.
    HalfClose,
    /// The last FIN acknowledged. `time_wait`: who holds TIME_WAIT (None: both).
    Closed {
        #[serde(rename = "duration_ns")]
        duration: Span,
        #[serde(serialize_with = "json::time_wait")]
        time_wait: Option<Endpoint>,
    },
    /// RST on an open (or opening, or closing) connection.
    Reset {
        #[serde(rename = "bytes_sent")]
        sent: u64,
        #[serde(rename = "bytes_received")]
        received: u64,
        #[serde(rename = "while")]
        state: &'static str,
    },
    /// Bytes `start:end` (relative to the ISN when known) sent again.
    Retransmission { start: u32, end: u32 },
    /// The same FIN again.
    FinRetransmit,
    /// A segment beyond a hole: bytes `missing_start:missing_end` not seen before it.
    OutOfOrder {
        start: u32,
        end: u32,
        missing_start: u32,
        missing_end: u32,
    },
    /// A segment without data whose sequence number is past bytes of its side not seen.
    /// In JSON, as a FIN past a hole: an empty range (`start`, `end`) at the hole's end.
    #[serde(serialize_with = "json::past_unseen")]
    AckPastUnseen {
        missing_start: u32,
        missing_end: u32,
    },
    /// A segment filling an earlier hole.
    LateArrival { start: u32, end: u32 },
    /// `from` advertises a zero window.
    ZeroWindow,
    /// `from` opens its window again after `after` at zero.
    WindowOpen {
        #[serde(rename = "win")]
        window: u16,
        #[serde(rename = "after_ns")]
        after: Span,
    },
    /// `from` acknowledges `ack` again (`count`-th duplicate in a row).
    DupAck { ack: u32, count: u32 },
    /// Bytes sent again right after the receiver's duplicate ACKs asked for them.
    FastRetransmission { start: u32, end: u32 },
    /// Bytes sent again that the receiver had already acknowledged.
    SpuriousRetransmission { start: u32, end: u32 },
    /// 0 or 1 byte just below the next sequence number: is the peer still there?
    KeepAlive,
    /// The answer to a keep-alive.
    KeepAliveAck,
    /// A probe of the receiver's zero window.
    ZeroWindowProbe,
    /// The answer to a zero-window probe (the window still zero).
    ZeroWindowProbeAck,
    /// Data up to the right edge of the receiver's advertised window.
    WindowFull,
    /// `from` reports bytes `start:end` of `to`'s data as received twice (D-SACK).
    Dsack { start: u32, end: u32 },
    /// `from` acknowledges up to `end`, `missing` bytes of which (from `start` on) the
    /// trace did not show.
    AckedUnseen {
        start: u32,
        end: u32,
        #[serde(rename = "missing_bytes")]
        missing: u64,
    },
}

/// The fields serde cannot name alone.
mod json {
    use serde::{Serialize, Serializer};

    use super::Endpoint;

    /// `Dropped::ingress` in JSON.
    pub fn direction<S: Serializer>(ingress: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if *ingress { "ingress" } else { "egress" })
    }

    /// `Closed::time_wait` in JSON: the endpoint, or `both`.
    pub fn time_wait<S: Serializer>(t: &Option<Endpoint>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(t),
            None => s.serialize_str("both"),
        }
    }

    /// `AckPastUnseen` in JSON.
    pub fn past_unseen<S: Serializer>(from: &u32, to: &u32, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Range {
            start: u32,
            end: u32,
            missing_start: u32,
            missing_end: u32,
        }
        Range {
            start: *to,
            end: *to,
            missing_start: *from,
            missing_end: *to,
        }
        .serialize(s)
    }
}

/// An ICMP error in JSON: `icmp` (its name) and `mtu` (a path MTU's, else null).
impl Serialize for IcmpKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        match self {
            IcmpKind::Unreachable(k) => {
                m.serialize_entry("icmp", &format_args!("{k} unreachable"))?
            }
            IcmpKind::PathMtu(_) => m.serialize_entry("icmp", "path mtu")?,
            IcmpKind::TimeExceeded => m.serialize_entry("icmp", "time exceeded")?,
            IcmpKind::ParameterProblem => m.serialize_entry("icmp", "parameter problem")?,
        }
        let mtu = match self {
            IcmpKind::PathMtu(mtu) => Some(mtu),
            _ => None,
        };
        m.serialize_entry("mtu", &mtu)?;
        m.end()
    }
}

impl EventKind {
    /// A drop's reason and dropping function.
    pub fn drop_cause(&self) -> Option<(&str, &str)> {
        match self {
            EventKind::Dropped {
                reason, function, ..
            } => Some((reason, function)),
            _ => None,
        }
    }

    /// The stable machine name (JSON `kind`).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Handshake1 { .. } => "handshake_syn",
            EventKind::Handshake2 { .. } => "handshake_synack",
            EventKind::Handshake3 { .. } => "handshake_ack",
            EventKind::SynRetransmit { .. } => "syn_retransmit",
            EventKind::SynAckRetransmit { .. } => "synack_retransmit",
            EventKind::Refused { .. } => "refused",
            EventKind::Retry { .. } => "retry",
            EventKind::GaveUp { .. } => "gave_up",
            EventKind::NoAnswer { .. } => "no_answer",
            EventKind::DroppedHere { .. } => "no_answer_dropped",
            EventKind::Dropped { .. } => "drop",
            EventKind::ResetReason { .. } => "reset_reason",
            EventKind::RetransmitUnseen { .. } => "retransmit_unseen",
            EventKind::Icmp { .. } => "icmp_error",
            EventKind::AcceptQueueFull { .. } => "no_answer_accept_queue",
            EventKind::IcmpRefused { .. } => "refused_icmp",
            EventKind::PortReuse { .. } => "port_reuse",
            EventKind::Midstream => "midstream",
            EventKind::ActiveClose { .. } => "active_close",
            EventKind::PassiveClose { .. } => "passive_close",
            EventKind::SimultaneousClose => "simultaneous_close",
            EventKind::HalfClose => "half_close",
            EventKind::Closed { .. } => "closed",
            EventKind::Reset { .. } => "reset",
            EventKind::Retransmission { .. } => "retransmission",
            EventKind::FinRetransmit => "fin_retransmit",
            EventKind::OutOfOrder { .. } | EventKind::AckPastUnseen { .. } => "out_of_order",
            EventKind::LateArrival { .. } => "late_arrival",
            EventKind::ZeroWindow => "zero_window",
            EventKind::WindowOpen { .. } => "window_open",
            EventKind::DupAck { .. } => "dup_ack",
            EventKind::FastRetransmission { .. } => "fast_retransmission",
            EventKind::SpuriousRetransmission { .. } => "spurious_retransmission",
            EventKind::KeepAlive => "keep_alive",
            EventKind::KeepAliveAck => "keep_alive_ack",
            EventKind::ZeroWindowProbe => "zero_window_probe",
            EventKind::ZeroWindowProbeAck => "zero_window_probe_ack",
            EventKind::WindowFull => "window_full",
            EventKind::Dsack { .. } => "dsack",
            EventKind::AckedUnseen { .. } => "acked_unseen",
        }
    }
}

/// One event of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Time of the segment that caused it (or of the last segment, for verdicts at expiry).
    pub ts: Timestamp,
    /// Connection id (1, 2, … in order of first segment).
    pub conn: u64,
    pub from: Endpoint,
    pub to: Endpoint,
    /// Caused by the segment just printed (`^` note); false for verdicts reached later
    /// (expiry, end of trace: `*` note).
    pub about_line: bool,
    pub kind: EventKind,
}

impl Event {
    /// A note about `seg`, printed under its line: from its sender to its receiver.
    pub fn about(seg: &crate::decode::Segment, conn: u64, kind: EventKind) -> Event {
        Event {
            ts: seg.ts,
            conn,
            from: Endpoint::new(seg.src, seg.sport),
            to: Endpoint::new(seg.dst, seg.dport),
            about_line: true,
            kind,
        }
    }
}

/// What the kernel's reason for a RST it sends means (`NO_SOCKET` on port 23: nothing
/// listens on port 23); None for the reasons that say it all.
fn reset_meaning(reason: &str, port: u16) -> Option<String> {
    Some(match reason {
        "NO_SOCKET" => format!("nothing listens on port {port}"),
        "TCP_ABORT_ON_CLOSE" => "the application closed the socket with unread data".into(),
        "TCP_ABORT_ON_LINGER" => "closed, and the peer's FIN did not come in time".into(),
        "TCP_ABORT_ON_MEMORY" => "too many orphaned sockets, or out of socket memory".into(),
        "TCP_ABORT_ON_DATA" => "data arrived after the application closed the socket".into(),
        "TCP_STATE" => {
            "the application aborted the connection (SO_LINGER 0, or a disconnect)".into()
        }
        "TCP_DISCONNECT_WITH_DATA" => "the application disconnected with data not yet sent".into(),
        "TCP_KEEPALIVE_TIMEOUT" => "keep-alive probes went unanswered".into(),
        "TCP_TIMEWAIT_SOCKET" => "a segment for a connection in TIME_WAIT".into(),
        "TCP_INVALID_ACK_SEQUENCE" | "TCP_TOO_OLD_ACK" | "TCP_ACK_UNSENT_DATA" | "TCP_OLD_ACK" => {
            "an ACK this connection cannot accept".into()
        }
        "TCP_FLAGS" => "a segment with flags this connection cannot accept".into(),
        "INVALID_SYN" => "a SYN this connection cannot accept".into(),
        "TCP_RFC7323_PAWS" => "a segment with an old timestamp (PAWS)".into(),
        _ => return None,
    })
}

fn s(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The note's text (without the `    ^ ` prefix).
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = (self.from, self.to);
        match &self.kind {
            EventKind::Handshake1 { isn } => write!(
                f,
                "handshake 1/3: client {a} asks {b} to open a connection (SYN, ISN {isn})"
            ),
            EventKind::Handshake2 {
                acked_isn,
                after_syn,
            } => match after_syn {
                Some(t) => write!(
                    f,
                    "handshake 2/3: server {a} accepts (SYN-ACK acks {acked_isn}+1), {t} after the SYN"
                ),
                None => write!(
                    f,
                    "handshake 2/3: server {a} accepts (SYN-ACK acks {acked_isn}+1); the SYN was not seen"
                ),
            },
            EventKind::Handshake3 { after_synack, rtt } => match (after_synack, rtt) {
                (Some(t), Some(r)) => write!(
                    f,
                    "handshake 3/3: client {a} acknowledges the SYN-ACK {t} after it: connection established (handshake RTT {r})"
                ),
                (Some(t), None) => write!(
                    f,
                    "handshake 3/3: client {a} acknowledges the SYN-ACK {t} after it: connection established"
                ),
                (None, Some(r)) => write!(
                    f,
                    "handshake 3/3: client {a} sends its first ACK: connection established (the SYN-ACK from {b} was not seen; SYN to this ACK {r})"
                ),
                _ => write!(
                    f,
                    "handshake 3/3: client {a} sends its first ACK: connection established (the SYN-ACK from {b} was not seen)"
                ),
            },
            EventKind::SynRetransmit {
                attempt,
                since_first,
            } => write!(
                f,
                "retransmitted SYN: client {a} has no answer from {b} and sends the same SYN again (attempt {attempt}, {since_first} after the first)"
            ),
            EventKind::SynAckRetransmit { attempt } => write!(
                f,
                "retransmitted SYN-ACK: server {a} sends its SYN-ACK again ({} time): {b} has not acknowledged it",
                ordinal(*attempt)
            ),
            EventKind::Refused { attempt } => write!(
                f,
                "refused: {a} answers the SYN with a reset (attempt {attempt}): nothing accepts connections on port {} there (or a firewall rejects them)",
                a.port
            ),
            EventKind::Retry {
                attempt,
                isn,
                since_reset,
            } => write!(
                f,
                "retry: client {a} sends the same SYN again (attempt {attempt}, same ISN {isn}), {since_reset} after the reset"
            ),
            EventKind::GaveUp { attempts: 1 } => write!(
                f,
                "gave up: client {a} stopped after 1 attempt, refused by {b}"
            ),
            EventKind::GaveUp { attempts } => write!(
                f,
                "gave up: client {a} stopped after {attempts} attempts, each refused by {b}"
            ),
            EventKind::NoAnswer { syns } => write!(
                f,
                "no answer: {b} never answered the {syns} SYN{} from client {a} (host down, packets dropped, or the trace ended)",
                s(*syns as u64)
            ),
            EventKind::DroppedHere {
                syns,
                dropped,
                why,
                reason,
            } => write!(
                f,
                "no answer: {why} ({dropped} of {syns} SYN{} from client {a} to {b}, {reason})",
                s(*syns as u64)
            ),
            EventKind::Icmp {
                router,
                what,
                seq,
                sent_len,
                syn,
            } => match what {
                IcmpKind::Unreachable(k) if *syn => write!(
                    f,
                    "refused by an ICMP {k} unreachable from {router} (the SYN from client {a} to {b})"
                ),
                IcmpKind::Unreachable(k) => write!(
                    f,
                    "ICMP {k} unreachable from {router} about {a} > {b} seq {seq}"
                ),
                IcmpKind::PathMtu(mtu) => write!(
                    f,
                    "path MTU {mtu} reported by {router} while segments of {sent_len} bytes are sent ({a} > {b} seq {seq})"
                ),
                IcmpKind::TimeExceeded => write!(
                    f,
                    "time exceeded in transit, reported by {router} about {a} > {b} seq {seq} (a routing loop or too few hops)"
                ),
                IcmpKind::ParameterProblem => write!(
                    f,
                    "parameter problem reported by {router} about {a} > {b} seq {seq}"
                ),
            },
            EventKind::AcceptQueueFull {
                syns,
                queued,
                overflows,
            } => write!(
                f,
                "no answer: accept queue full on port {}: the listener has {queued} connection{} it has not accepted, and the {syns} SYN{} from client {a} found no room (ListenOverflows +{overflows})",
                self.to.port,
                s(u64::from(*queued)),
                s(u64::from(*syns))
            ),
            EventKind::IcmpRefused { syns, router, what } => write!(
                f,
                "refused by an {what} from {router} ({syns} SYN{} from client {a} to {b})",
                s(*syns as u64)
            ),
            EventKind::Dropped {
                seq,
                reason,
                function,
                ingress,
                after,
            } => {
                if !self.about_line {
                    write!(f, "{a} > {b} seq {seq}: ")?;
                }
                match (ingress, after) {
                    (true, Some(t)) => write!(
                        f,
                        "dropped in this host {t} after it arrived: {reason} ({function})"
                    ),
                    (true, None) => write!(f, "dropped in this host: {reason} ({function})"),
                    (false, Some(t)) => write!(
                        f,
                        "dropped in this host {t} after it left for the wire: {reason} ({function})"
                    ),
                    (false, None) => write!(
                        f,
                        "dropped in this host before it reached the wire: {reason} ({function})"
                    ),
                }?;
                // Without a reset reason from the kernel (before 6.10), this says why a
                // refusal came.
                if *ingress && reason == "NO_SOCKET" {
                    write!(f, ": nothing listens on port {}", b.port)?;
                }
                Ok(())
            }
            EventKind::ResetReason { reason } => {
                if !self.about_line {
                    write!(f, "{a} > {b} RST: ")?;
                }
                write!(f, "reset sent by this host's kernel: {reason}")?;
                match reset_meaning(reason, a.port) {
                    Some(m) => write!(f, " ({m})"),
                    None => Ok(()),
                }
            }
            EventKind::RetransmitUnseen { seq, err } => {
                write!(
                    f,
                    "{a} > {b} seq {seq}: retransmitted by this host's kernel, but it never reached the wire"
                )?;
                match err {
                    Some(e) => {
                        let text = std::io::Error::from_raw_os_error(-e).to_string();
                        let text = text.split(" (os error").next().unwrap_or_default();
                        write!(f, " (transmit error {e}: {text})")
                    }
                    None => Ok(()),
                }
            }
            EventKind::PortReuse {
                isn,
                previous,
                previous_state,
                since_end,
            } => {
                write!(
                    f,
                    "new connection on the same ports: client {a} sends a new SYN (ISN {isn}); connection #{previous} on this port pair was {previous_state}"
                )?;
                if let Some(t) = since_end {
                    write!(f, " {t} earlier")?;
                }
                Ok(())
            }
            EventKind::Midstream => write!(
                f,
                "{a} > {b}: connection already open when the trace started (no handshake seen)"
            ),
            EventKind::ActiveClose { sent, received } => write!(
                f,
                "close: {a} closes first (FIN, active close) after sending {sent} byte{} and receiving {received}",
                s(*sent)
            ),
            EventKind::PassiveClose { after_fin } => write!(
                f,
                "close: {a} closes its side too (FIN, passive close), {after_fin} after {b}'s FIN"
            ),
            EventKind::SimultaneousClose => write!(
                f,
                "close: {a} closes at the same time as {b} (the FINs crossed: simultaneous close)"
            ),
            EventKind::HalfClose => write!(
                f,
                "half-close: {a} keeps sending after {b} closed its sending side ({b} still receives)"
            ),
            EventKind::Closed {
                duration,
                time_wait,
            } => {
                write!(
                    f,
                    "closed: {a} acknowledges the last FIN; connection closed after {duration}; "
                )?;
                match time_wait {
                    Some(h) => write!(f, "{h} (it closed first) keeps the port pair in TIME_WAIT"),
                    None => write!(f, "both ends keep the port pair in TIME_WAIT"),
                }
            }
            EventKind::Reset {
                sent,
                received,
                state,
            } => write!(
                f,
                "reset: {a} aborts the connection (RST) while {state}, after sending {sent} byte{} and receiving {received}",
                s(*sent)
            ),
            EventKind::Retransmission { start, end } => write!(
                f,
                "retransmission: {a} sends bytes {start}:{end} again (not acknowledged by {b} in time, or lost)"
            ),
            EventKind::FinRetransmit => write!(
                f,
                "retransmitted FIN: {a} sends its FIN again ({b} has not acknowledged it)"
            ),
            EventKind::OutOfOrder {
                start,
                end,
                missing_start,
                missing_end,
            } if start == end => write!(
                f,
                "out-of-order: {a}'s FIN comes after bytes {missing_start}:{missing_end} that were not seen (lost before this point, or arriving late)"
            ),
            EventKind::OutOfOrder {
                start,
                end,
                missing_start,
                missing_end,
            } => write!(
                f,
                "out-of-order: {a} sends bytes {start}:{end} but {missing_start}:{missing_end} before them were not seen (lost before this point, or arriving late)"
            ),
            EventKind::AckPastUnseen {
                missing_start,
                missing_end,
            } => write!(
                f,
                "out-of-order: {a}'s ACK comes after bytes {missing_start}:{missing_end} of its own that were not seen (lost before this capture point)"
            ),
            EventKind::LateArrival { start, end } => write!(
                f,
                "out-of-order: bytes {start}:{end} from {a} arrive late, filling the gap"
            ),
            EventKind::ZeroWindow => write!(
                f,
                "zero window: {a} can take no more data (win 0); {b} must pause sending"
            ),
            EventKind::WindowOpen { window, after } => write!(
                f,
                "window open: {a} can take data again (win {window}) after {after} at zero"
            ),
            EventKind::DupAck { ack, count } => {
                write!(
                    f,
                    "duplicate ACK #{count}: {a} acknowledges {ack} again: data from {b} after that is missing"
                )?;
                if *count == 3 {
                    write!(f, "; {b} should retransmit it now (fast retransmit)")?;
                }
                Ok(())
            }
            EventKind::FastRetransmission { start, end } => write!(
                f,
                "fast retransmission: {a} sends bytes {start}:{end} again, as {b}'s duplicate ACKs asked"
            ),
            EventKind::SpuriousRetransmission { start, end } => write!(
                f,
                "spurious retransmission: {a} sends bytes {start}:{end} again, but {b} had already acknowledged them"
            ),
            EventKind::KeepAlive => write!(
                f,
                "keep-alive: {a} checks that {b} is still there (a segment just below the next sequence number)"
            ),
            EventKind::KeepAliveAck => write!(f, "keep-alive ACK: {a} answers {b}'s keep-alive"),
            EventKind::ZeroWindowProbe => write!(
                f,
                "zero-window probe: {a} asks whether {b}'s window is still zero"
            ),
            EventKind::ZeroWindowProbeAck => write!(
                f,
                "zero-window probe ACK: {a} answers {b}'s probe: its window is still zero"
            ),
            EventKind::WindowFull => write!(
                f,
                "window full: {a} has filled {b}'s advertised window and must wait for an ACK"
            ),
            EventKind::Dsack { start, end } => write!(
                f,
                "D-SACK: {a} got bytes {start}:{end} from {b} twice (a needless retransmission, or a duplicated packet)"
            ),
            EventKind::AckedUnseen {
                start,
                end,
                missing,
            } => write!(
                f,
                "ack for bytes not seen: {a} acknowledges up to {end}, but {missing} byte{} of {b}'s from {start} on were not seen here (lost before this capture point, or sent another way)",
                s(*missing)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(Span(369_000).to_string(), "0.369 ms");
        assert_eq!(Span(499_412_000).to_string(), "499.412 ms");
        assert_eq!(Span(60_070_764_000).to_string(), "60.070 s");
        assert_eq!(
            Span::between(
                Timestamp::new(10, 900_000_000),
                Timestamp::new(11, 100_000_000)
            ),
            Span(200_000_000)
        );
        assert_eq!(
            Span::between(Timestamp::new(11, 0), Timestamp::new(10, 0)),
            Span(0)
        );
    }

    #[test]
    fn endpoints_as_tcpdump() {
        let e = Endpoint::new("192.168.2.165".parse().unwrap(), 23);
        assert_eq!(e.to_string(), "192.168.2.165.23");
        let e = Endpoint::new("fd00::1".parse().unwrap(), 7777);
        assert_eq!(e.to_string(), "fd00::1.7777");
    }

    #[test]
    fn handshake_note_wording() {
        let ev = Event {
            ts: Timestamp::default(),
            conn: 1,
            from: Endpoint::new("192.168.2.165".parse().unwrap(), 23),
            to: Endpoint::new("192.168.2.10".parse().unwrap(), 1249),
            about_line: true,
            kind: EventKind::Handshake2 {
                acked_isn: 3263977215,
                after_syn: Some(Span(369_000)),
            },
        };
        assert_eq!(
            ev.to_string(),
            "handshake 2/3: server 192.168.2.165.23 accepts (SYN-ACK acks 3263977215+1), 0.369 ms after the SYN"
        );
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(23), "23rd");
    }
}
