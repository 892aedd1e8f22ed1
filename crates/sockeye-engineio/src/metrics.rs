//! Process-wide counters and gauges of the Engine.IO layer: sessions, handshakes and their
//! refusals, upgrades, disconnects by reason, packets and bytes each way, and the overflow
//! policy at work.
//!
//! The counters are always kept (a few relaxed atomic additions, no lock and no lookup);
//! with the `metrics` feature, `record` copies them into the application's
//! [`metrics`](https://docs.rs/metrics) recorder (see `sockeye::metrics` for the names and
//! why it is done that way). They count every engine of the process together.
//!
//! The per-packet counters (packets and bytes) are kept per thread: each thread adds to its
//! own cache line, so two workers moving packets at once never contend for one; a reading
//! adds the threads' lines up.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::errors::HttpError;
use crate::packet::ProtocolVersion;
use crate::session::{DisconnectReason, TransportKind};

/// How many per-thread copies of the traffic counters there are (threads past this many
/// share them, still correctly).
const SHARDS: usize = 16;

/// One thread's traffic counters, by transport (`[polling, websocket]`): one cache line.
#[repr(align(64))]
struct Traffic {
    received_packets: [AtomicU64; 2],
    sent_packets: [AtomicU64; 2],
    received_bytes: [AtomicU64; 2],
    sent_bytes: [AtomicU64; 2],
}

impl Traffic {
    const fn new() -> Traffic {
        Traffic {
            received_packets: [const { AtomicU64::new(0) }; 2],
            sent_packets: [const { AtomicU64::new(0) }; 2],
            received_bytes: [const { AtomicU64::new(0) }; 2],
            sent_bytes: [const { AtomicU64::new(0) }; 2],
        }
    }
}

static TRAFFIC: [Traffic; SHARDS] = [const { Traffic::new() }; SHARDS];
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's copy of the traffic counters (`usize::MAX` until its first count).
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn traffic() -> &'static Traffic {
    let i = SHARD.with(|s| match s.get() {
        usize::MAX => {
            let i = NEXT_SHARD.fetch_add(1, Relaxed) % SHARDS;
            s.set(i);
            i
        }
        i => i,
    });
    &TRAFFIC[i % SHARDS]
}

#[inline]
fn transport_index(t: TransportKind) -> usize {
    match t {
        TransportKind::Polling => 0,
        TransportKind::Websocket => 1,
    }
}

fn protocol_index(v: ProtocolVersion) -> usize {
    match v {
        ProtocolVersion::V3 => 0,
        _ => 1,
    }
}

/// Packets (and their bytes) read from clients over `t`.
#[inline]
pub(crate) fn received(t: TransportKind, packets: u64, bytes: u64) {
    let c = traffic();
    let i = transport_index(t);
    if packets > 0 {
        c.received_packets[i].fetch_add(packets, Relaxed);
    }
    if bytes > 0 {
        c.received_bytes[i].fetch_add(bytes, Relaxed);
    }
}

/// Packets (and their bytes) written to clients over `t`.
#[inline]
pub(crate) fn sent(t: TransportKind, packets: u64, bytes: u64) {
    let c = traffic();
    let i = transport_index(t);
    if packets > 0 {
        c.sent_packets[i].fetch_add(packets, Relaxed);
    }
    if bytes > 0 {
        c.sent_bytes[i].fetch_add(bytes, Relaxed);
    }
}

/// Sessions open now, `[transport][protocol]` (gauges: changed per session, not per packet).
static OPEN: [[AtomicI64; 2]; 2] = [const { [const { AtomicI64::new(0) }; 2] }; 2];
/// Sessions opened, `[transport][protocol]`.
static HANDSHAKES: [[AtomicU64; 2]; 2] = [const { [const { AtomicU64::new(0) }; 2] }; 2];
static UPGRADES: AtomicU64 = AtomicU64::new(0);
/// Sessions closed, by [`DisconnectReason`] (see [`DISCONNECT_REASONS`]).
static DISCONNECTS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];
/// Refused requests, by [`Refusal`].
static REFUSALS: [AtomicU64; Refusal::ALL.len()] =
    [const { AtomicU64::new(0) }; Refusal::ALL.len()];
/// Queue overflows, `[drop, disconnect]`.
static OVERFLOWS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

/// The label values of the disconnect reasons, in the order of [`DISCONNECTS`].
#[cfg(feature = "metrics")]
const DISCONNECT_REASONS: [&str; 6] = [
    "transport_close",
    "transport_error",
    "ping_timeout",
    "parse_error",
    "forced_close",
    "server_shutdown",
];

fn disconnect_index(r: DisconnectReason) -> usize {
    match r {
        DisconnectReason::TransportClose => 0,
        DisconnectReason::TransportError => 1,
        DisconnectReason::PingTimeout => 2,
        DisconnectReason::ParseError => 3,
        DisconnectReason::ForcedClose => 4,
        DisconnectReason::ServerShutdown => 5,
    }
}

/// A send found the client's queue full, and `policy` applied.
pub(crate) fn overflowed(policy: crate::OverflowPolicy) {
    let i = usize::from(policy == crate::OverflowPolicy::Disconnect);
    OVERFLOWS[i].fetch_add(1, Relaxed);
}

/// A session opened (its handshake was accepted).
pub(crate) fn opened(t: TransportKind, v: ProtocolVersion) {
    let (t, v) = (transport_index(t), protocol_index(v));
    HANDSHAKES[t][v].fetch_add(1, Relaxed);
    OPEN[t][v].fetch_add(1, Relaxed);
}

/// A polling session moved to WebSocket.
pub(crate) fn upgraded(v: ProtocolVersion) {
    let v = protocol_index(v);
    UPGRADES.fetch_add(1, Relaxed);
    OPEN[0][v].fetch_sub(1, Relaxed);
    OPEN[1][v].fetch_add(1, Relaxed);
}

/// A session closed (reported once per session).
pub(crate) fn closed(t: TransportKind, v: ProtocolVersion, reason: DisconnectReason) {
    OPEN[transport_index(t)][protocol_index(v)].fetch_sub(1, Relaxed);
    DISCONNECTS[disconnect_index(reason)].fetch_add(1, Relaxed);
}

/// Why a request to the engine path was refused: the engine's error, with a 403 split by
/// what refused it, and the application's hook's refusals apart whatever their code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    UnknownTransport,
    UnknownSid,
    BadHandshakeMethod,
    BadRequest,
    UnsupportedProtocolVersion,
    /// A refusal by the allow-request hook (a 403, or the code it chose).
    AllowRequest,
    /// A 403 at the connection limit.
    MaxConnections,
    /// A 403 while the server shuts down.
    ShuttingDown,
    /// A 403 for a WebSocket from an origin the CORS rules do not allow.
    Origin,
}

impl Refusal {
    const ALL: [Refusal; 9] = [
        Refusal::UnknownTransport,
        Refusal::UnknownSid,
        Refusal::BadHandshakeMethod,
        Refusal::BadRequest,
        Refusal::UnsupportedProtocolVersion,
        Refusal::AllowRequest,
        Refusal::MaxConnections,
        Refusal::ShuttingDown,
        Refusal::Origin,
    ];

    #[cfg(feature = "metrics")]
    fn label(self) -> &'static str {
        match self {
            Refusal::UnknownTransport => "unknown_transport",
            Refusal::UnknownSid => "unknown_sid",
            Refusal::BadHandshakeMethod => "bad_handshake_method",
            Refusal::BadRequest => "bad_request",
            Refusal::UnsupportedProtocolVersion => "unsupported_protocol_version",
            Refusal::AllowRequest => "allow_request",
            Refusal::MaxConnections => "max_connections",
            Refusal::ShuttingDown => "shutting_down",
            Refusal::Origin => "origin",
        }
    }

    /// The reason an error stands for when nothing else says who refused: the engine marks
    /// each of its 403s (and each `allow_request` refusal, whatever its code) where it is
    /// decided, so a 403 reaching here unmarked can only be the hook's.
    pub(crate) fn of(e: HttpError) -> Refusal {
        match e {
            HttpError::UnknownTransport => Refusal::UnknownTransport,
            HttpError::UnknownSid => Refusal::UnknownSid,
            HttpError::BadHandshakeMethod => Refusal::BadHandshakeMethod,
            HttpError::UnsupportedProtocolVersion => Refusal::UnsupportedProtocolVersion,
            HttpError::Forbidden => Refusal::AllowRequest,
            _ => Refusal::BadRequest,
        }
    }
}

/// A request was refused for this reason.
pub(crate) fn refused(r: Refusal) {
    REFUSALS[r as usize].fetch_add(1, Relaxed);
}

/// How many times a client's outbound queue overflowed (each one a dropped packet, or a
/// disconnect under [`crate::OverflowPolicy::Disconnect`]), since the process started.
///
/// # Examples
/// ```
/// let before = sockeye_engineio::metrics::queue_overflows();
/// assert!(sockeye_engineio::metrics::queue_overflows() >= before);
/// ```
pub fn queue_overflows() -> u64 {
    OVERFLOWS.iter().map(|c| c.load(Relaxed)).sum()
}

/// How many Engine.IO sessions are open now, in every engine of the process, over
/// `transport` and speaking `protocol`.
///
/// # Examples
/// ```
/// use sockeye_engineio::{metrics, ProtocolVersion, TransportKind};
/// let open = metrics::open_sessions(TransportKind::Websocket, ProtocolVersion::V4);
/// assert!(open >= 0);
/// ```
pub fn open_sessions(transport: TransportKind, protocol: ProtocolVersion) -> i64 {
    OPEN[transport_index(transport)][protocol_index(protocol)].load(Relaxed)
}

#[cfg(any(test, feature = "metrics"))]
fn sum(f: impl Fn(&Traffic) -> u64) -> u64 {
    TRAFFIC.iter().map(f).fold(0, u64::wrapping_add)
}

#[cfg(feature = "metrics")]
pub use self::record::record;

#[cfg(feature = "metrics")]
mod record {
    use super::*;
    use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};

    const TRANSPORTS: [&str; 2] = ["polling", "websocket"];
    const PROTOCOLS: [&str; 2] = ["3", "4"];

    /// Copies the Engine.IO figures into the installed [`metrics`] recorder (counters as
    /// absolute values, gauges as they are now), with their descriptions. Call it before
    /// each scrape (`sockeye::metrics::record` does).
    ///
    /// | name | type | labels |
    /// |---|---|---|
    /// | `sockeye_engineio_open_connections` | gauge | `transport`, `protocol` |
    /// | `sockeye_engineio_handshakes_total` | counter | `transport`, `protocol` |
    /// | `sockeye_engineio_refused_requests_total` | counter | `reason` |
    /// | `sockeye_engineio_upgrades_total` | counter | |
    /// | `sockeye_engineio_disconnects_total` | counter | `reason` |
    /// | `sockeye_engineio_received_packets_total`, `sockeye_engineio_sent_packets_total` | counter | `transport` |
    /// | `sockeye_engineio_received_bytes_total`, `sockeye_engineio_sent_bytes_total` | counter | `transport` |
    /// | `sockeye_engineio_queue_overflows_total` | counter | `policy` |
    ///
    /// # Examples
    /// ```
    /// // Without a recorder installed this does nothing.
    /// sockeye_engineio::metrics::record();
    /// ```
    pub fn record() {
        describe();
        for (t, tname) in TRANSPORTS.iter().enumerate() {
            for (v, vname) in PROTOCOLS.iter().enumerate() {
                let labels = [("transport", *tname), ("protocol", *vname)];
                gauge!("sockeye_engineio_open_connections", &labels)
                    .set(OPEN[t][v].load(Relaxed) as f64);
                counter!("sockeye_engineio_handshakes_total", &labels)
                    .absolute(HANDSHAKES[t][v].load(Relaxed));
            }
            let labels = [("transport", *tname)];
            let each = [
                (
                    "sockeye_engineio_received_packets_total",
                    sum(|c| c.received_packets[t].load(Relaxed)),
                ),
                (
                    "sockeye_engineio_sent_packets_total",
                    sum(|c| c.sent_packets[t].load(Relaxed)),
                ),
                (
                    "sockeye_engineio_received_bytes_total",
                    sum(|c| c.received_bytes[t].load(Relaxed)),
                ),
                (
                    "sockeye_engineio_sent_bytes_total",
                    sum(|c| c.sent_bytes[t].load(Relaxed)),
                ),
            ];
            for (name, value) in each {
                counter!(name, &labels).absolute(value);
            }
        }
        for r in Refusal::ALL {
            counter!("sockeye_engineio_refused_requests_total", "reason" => r.label())
                .absolute(REFUSALS[r as usize].load(Relaxed));
        }
        counter!("sockeye_engineio_upgrades_total").absolute(UPGRADES.load(Relaxed));
        for (i, reason) in DISCONNECT_REASONS.iter().enumerate() {
            counter!("sockeye_engineio_disconnects_total", "reason" => *reason)
                .absolute(DISCONNECTS[i].load(Relaxed));
        }
        for (i, policy) in ["drop", "disconnect"].iter().enumerate() {
            counter!("sockeye_engineio_queue_overflows_total", "policy" => *policy)
                .absolute(OVERFLOWS[i].load(Relaxed));
        }
    }

    fn describe() {
        describe_gauge!(
            "sockeye_engineio_open_connections",
            "Engine.IO sessions open now, by transport and protocol version (3 or 4)."
        );
        describe_counter!(
            "sockeye_engineio_handshakes_total",
            "Engine.IO sessions opened, by the transport and protocol version they opened with."
        );
        describe_counter!(
            "sockeye_engineio_refused_requests_total",
            "Requests to the engine path refused with an Engine.IO error, by reason."
        );
        describe_counter!(
            "sockeye_engineio_upgrades_total",
            "Sessions upgraded from long-polling to WebSocket."
        );
        describe_counter!(
            "sockeye_engineio_disconnects_total",
            "Engine.IO sessions closed, by reason (ping_timeout: a heartbeat timeout)."
        );
        describe_counter!(
            "sockeye_engineio_received_packets_total",
            "Engine.IO packets received from clients, by transport."
        );
        describe_counter!(
            "sockeye_engineio_sent_packets_total",
            "Engine.IO packets sent to clients, by transport."
        );
        describe_counter!(
            "sockeye_engineio_received_bytes_total",
            Unit::Bytes,
            "Bytes received from clients: WebSocket frames, polling request bodies."
        );
        describe_counter!(
            "sockeye_engineio_sent_bytes_total",
            Unit::Bytes,
            "Bytes sent to clients: the WebSocket frames of Engine.IO packets, polling response bodies."
        );
        describe_counter!(
            "sockeye_engineio_queue_overflows_total",
            "Sends refused because the client's outbound queue was full, by the overflow policy applied (drop: the packet was dropped; disconnect: the client was disconnected)."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_adds_up_over_threads() {
        let before = sum(|c| c.sent_bytes[1].load(Relaxed));
        let threads: Vec<_> = (0..SHARDS + 3)
            .map(|_| std::thread::spawn(|| sent(TransportKind::Websocket, 1, 10)))
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert!(sum(|c| c.sent_bytes[1].load(Relaxed)) >= before + 10 * (SHARDS as u64 + 3));
    }

    #[test]
    fn every_refusal_has_its_slot() {
        for (i, r) in Refusal::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }
}
