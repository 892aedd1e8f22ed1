//! Counters and gauges for Prometheus (or any other backend) through the
//! [`metrics`](https://docs.rs/metrics) facade, and the figures they are made of.
//!
//! The server always counts (a relaxed atomic addition per event, and per packet in the
//! engine a thread's own cache line: no lock, no lookup); with the `metrics` feature,
//! `record` copies every figure into the recorder the application installed, which renders
//! them (with `metrics-exporter-prometheus`, in the Prometheus text format). The `sockeye`
//! binary does that on `--metrics ADDR`.
//!
//! ```no_run
//! # #[cfg(feature = "metrics")]
//! # fn f(io: sockeye::SocketIo) {
//! // Once, at start-up (metrics-exporter-prometheus, without its own HTTP listener):
//! let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
//! let handle = recorder.handle();
//! metrics::set_global_recorder(recorder).expect("no other recorder");
//! // On each scrape of your `/metrics` route:
//! sockeye::metrics::record(&io);
//! let text = handle.render();
//! # let _ = text; }
//! ```
//!
//! # Why the `metrics` facade, and why counters of our own
//! - **The format operators' tools read.** `prometheus-client` (the official Rust client)
//!   writes OpenMetrics only, where a counter's `# TYPE` names the family without `_total`;
//!   Prometheus's own `promtool check metrics` and every scraper of the classic text format
//!   (version 0.0.4) then see untyped samples without help. `metrics-exporter-prometheus`
//!   writes that classic format, which Prometheus and OpenMetrics scrapers both take.
//! - **The application chooses the backend.** A library that reports through the facade
//!   imposes no exporter: the same figures go to Prometheus, StatsD, OpenTelemetry or a test
//!   recorder, whichever the application installs.
//! - **Nothing per packet goes through it.** A facade handle is a dynamic call into the
//!   recorder, and a handle made before the recorder is installed stays a no-op; the engine
//!   counts every packet, so it keeps plain atomics of its own (per thread for the per-packet
//!   ones) and `record` hands their totals over with `Counter::absolute`, the
//!   facade's way for counts kept elsewhere. A server that never records pays those additions
//!   and nothing else; without the feature the facade is not even compiled.
//!
//! # Bounded labels
//! Every label takes a fixed set of values (transports, protocol versions, reasons, policies)
//! except `namespace`, whose values come from the application. `record` gives each
//! namespace declared with [`SocketIo::ns`](crate::SocketIo::ns) its own series, up to
//! [`MAX_NAMESPACE_LABELS`] of them (by name order; the rest are summed as `(other)`), and
//! sums the children of every dynamic namespace ([`SocketIo::dyn_ns`](crate::SocketIo::dyn_ns),
//! which clients create by connecting) into one series, `(dynamic)`, with
//! `sockeye_namespaces{kind="dynamic"}` saying how many there are: a server with thousands
//! of tenant namespaces exports a handful of series, not thousands.
//!
//! # The figures
//! Counters count since the process started; every label value is always exported (zero
//! until something happens), so a rate is defined from the first scrape.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `sockeye_engineio_open_connections` | gauge | `transport` (`polling`, `websocket`), `protocol` (`3`, `4`) | Engine.IO sessions open now |
//! | `sockeye_engineio_handshakes_total` | counter | `transport`, `protocol` | sessions opened |
//! | `sockeye_engineio_refused_requests_total` | counter | `reason` (`unknown_transport`, `unknown_sid`, `bad_handshake_method`, `bad_request`, `unsupported_protocol_version`, `allow_request`, `max_connections`, `shutting_down`, `origin`) | requests to the engine path refused (HTTP 400/403) |
//! | `sockeye_engineio_upgrades_total` | counter | | sessions upgraded from polling to WebSocket |
//! | `sockeye_engineio_disconnects_total` | counter | `reason` (`transport_close`, `transport_error`, `ping_timeout`, `parse_error`, `forced_close`, `server_shutdown`) | sessions closed; `ping_timeout` is the heartbeat timeout |
//! | `sockeye_engineio_received_packets_total`, `sockeye_engineio_sent_packets_total` | counter | `transport` | Engine.IO packets from and to clients |
//! | `sockeye_engineio_received_bytes_total`, `sockeye_engineio_sent_bytes_total` | counter | `transport` | bytes from and to clients (WebSocket frames; polling bodies) |
//! | `sockeye_engineio_queue_overflows_total` | counter | `policy` (`drop`, `disconnect`) | sends that found a client's outbound queue full: the packet dropped, or the client disconnected |
//! | `sockeye_sockets` | gauge | `namespace` | sockets connected now |
//! | `sockeye_namespaces` | gauge | `kind` (`static`, `dynamic`) | namespaces that exist now |
//! | `sockeye_connect_refusals_total` | counter | `reason` (`middleware`, `invalid_namespace`, `too_many_namespaces`) | namespace CONNECTs refused |
//! | `sockeye_broadcasts_total` | counter | | broadcasts delivered to this server's sockets (made here or by another server of the cluster) |
//! | `sockeye_broadcast_deliveries_total` | counter | | packets queued for clients by those broadcasts |
//! | `sockeye_volatile_drops_total` | counter | | volatile packets dropped because their client had not read the previous one |
//! | `sockeye_read_pauses_total` | counter | | times a connection stopped being read, at `max_waiting_handlers` |
//! | `sockeye_ack_timeouts_total` | counter | | acks the server asked a client for that did not come in time |
//! | `sockeye_adapter_errors_total` | counter | | adapter operations that failed (the other servers could not be reached) |
//!
//! With a Redis cluster, `sockeye_redis::RedisAdapter::record_metrics` adds
//! `sockeye_redis_reconnects_total`, `sockeye_redis_malformed_messages_total`,
//! `sockeye_redis_publish_failures_total` and `sockeye_redis_lagged_messages_total`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[cfg(feature = "metrics")]
mod record;
#[cfg(feature = "metrics")]
pub use self::record::record;

/// At most this many namespaces declared with `SocketIo::ns` get a `namespace` label of
/// their own in `sockeye_sockets`; the others are summed as `(other)`.
pub const MAX_NAMESPACE_LABELS: usize = 64;

pub(crate) static VOLATILE_DROPS: AtomicU64 = AtomicU64::new(0);
pub(crate) static READ_PAUSES: AtomicU64 = AtomicU64::new(0);
pub(crate) static BROADCASTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static DELIVERIES: AtomicU64 = AtomicU64::new(0);
pub(crate) static ACK_TIMEOUTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static ADAPTER_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Refused namespace CONNECTs, by [`ConnectRefusal`].
pub(crate) static CONNECT_REFUSALS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// Why a namespace CONNECT was refused.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConnectRefusal {
    Middleware = 0,
    InvalidNamespace = 1,
    TooManyNamespaces = 2,
}

/// Counts `n` (a relaxed addition).
#[inline]
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

/// Counts a refused namespace CONNECT.
pub(crate) fn connect_refused(why: ConnectRefusal) {
    add(&CONNECT_REFUSALS[why as usize], 1);
}

/// Times a connection stopped being read because it had as many async event handlers waiting
/// as `SocketIoBuilder::max_waiting_handlers` allows, since the process started
/// (`sockeye_read_pauses_total`).
///
/// # Examples
/// ```
/// assert!(sockeye::metrics::read_pauses() < u64::MAX);
/// ```
pub fn read_pauses() -> u64 {
    READ_PAUSES.load(Relaxed)
}

/// Volatile packets dropped because their client's queue was not empty, since the process
/// started (`sockeye_volatile_drops_total`).
///
/// # Examples
/// ```
/// assert!(sockeye::metrics::volatile_drops() < u64::MAX);
/// ```
pub fn volatile_drops() -> u64 {
    VOLATILE_DROPS.load(Relaxed)
}

/// Outbound queue overflows (see `EngineConfig::max_queued_bytes`), since the process started
/// (`sockeye_engineio_queue_overflows_total`, both policies).
///
/// # Examples
/// ```
/// assert!(sockeye::metrics::queue_overflows() < u64::MAX);
/// ```
pub fn queue_overflows() -> u64 {
    sockeye_engineio::metrics::queue_overflows()
}

/// Acks asked of clients (`emit_with_ack`, one socket or a broadcast) that timed out, since
/// the process started (`sockeye_ack_timeouts_total`).
///
/// # Examples
/// ```
/// assert!(sockeye::metrics::ack_timeouts() < u64::MAX);
/// ```
pub fn ack_timeouts() -> u64 {
    ACK_TIMEOUTS.load(Relaxed)
}

/// Adapter operations that failed, since the process started (`sockeye_adapter_errors_total`).
///
/// # Examples
/// ```
/// assert!(sockeye::metrics::adapter_errors() < u64::MAX);
/// ```
pub fn adapter_errors() -> u64 {
    ADAPTER_ERRORS.load(Relaxed)
}
