//! # sockeye-engineio
//!
//! The Engine.IO layer of [Sockeye](https://docs.rs/sockeye): a server for the transport
//! protocol under Socket.IO. It speaks Engine.IO v4 over HTTP long-polling and WebSocket,
//! upgrades from one to the other, keeps sessions alive with a heartbeat, and hands text and
//! binary messages to a [`Handler`].
//!
//! The codecs ([`packet`], [`payload`], [`ws`]) are sans-IO: bytes in, values out, no sockets
//! or clocks, so they are tested and fuzzed alone. So is each session's logic (heartbeat,
//! upgrade probe, polling hand-over, close): a state machine that takes events and the time
//! and returns what to wake and its next deadline, tested under a simulated clock. The
//! transports are thin drivers around it, and one timer per [`Engine`] (a heap of deadlines,
//! one task) runs every session's deadlines: pings leave, and silent clients are closed, at
//! their due time to the millisecond, with no task or timer per session.
//!
//! Most users want the `sockeye` crate, which puts Socket.IO on top of this one.
//!
//! ## Limits and defaults
//! | option | default |
//! |---|---|
//! | [`EngineConfig::ping_interval`] | 25 s |
//! | [`EngineConfig::ping_timeout`] | 20 s |
//! | [`EngineConfig::upgrade_timeout`] | 10 s |
//! | [`EngineConfig::max_payload`] (polling body and WebSocket message) | 1,000,000 bytes |
//! | [`EngineConfig::max_queued_bytes`] (outbound, per client) | 8 MiB |
//! | [`EngineConfig::max_packets_per_payload`] | 4096 |
//! | [`EngineConfig::max_ws_fragments`] | 1024 |
//! | [`EngineConfig::per_message_deflate`] (WebSocket compression) | off |
//! | [`EngineConfig::http_compression`] (gzip/deflate polling responses) | on, from 1024 bytes |
//!
//! ## Compression
//! WebSocket `permessage-deflate` (RFC 7692, [`PerMessageDeflate`]) is negotiated with the
//! client as Node's `ws` does; compressed messages are inflated within `max_payload` (a
//! decompression bomb closes its connection with 1009, one byte past the limit), and an idle
//! connection holds no zlib state: see [`ws::Encoder`] for what each side keeps. Polling
//! responses are compressed by `Accept-Encoding` ([`HttpCompression`]); request bodies never
//! are inflated (as Node). A packet queued with `compress(false)`
//! ([`payload::SharedMessage::compress`]) is never compressed.
//!
//! ## What the application decides
//! | option | default | Node's |
//! |---|---|---|
//! | [`EngineConfig::allow_request`]: refuse a handshake, with Node's codes and a message ([`AllowRequest`], sync or async) | none | `allowRequest` |
//! | [`EngineConfig::cors`]: origins (a list, any, a predicate, sync or async), credentials, methods, allowed and exposed headers, max age ([`Cors`]) | none | `cors` |
//! | [`EngineConfig::allow_upgrades`]: offer WebSocket to polling sessions | true | `allowUpgrades` |
//! | [`EngineConfig::cookie`]: the sticky-session cookie on the polling handshake ([`Cookie`]) | none | `cookie` |
//! | [`EngineConfig::on_connection_error`]: each refused request ([`ConnectionError`]) | none | `connection_error` event |
//! | [`EngineConfig::on_initial_headers`] / [`EngineConfig::on_headers`]: headers added to handshake answers / to every answer | none | `initial_headers` / `headers` events |
//! | [`Handler::on_upgrade`]: a session moved to WebSocket | nothing | the socket's `upgrade` event |
//!
//! ## Feature flags
//! | feature | default | what |
//! |---|---|---|
//! | `metrics` | no | `metrics::record`: the engine's counters and gauges ([`metrics`]) into the application's [`metrics`](https://docs.rs/metrics) recorder |
//!
//! ## Observability
//! The engine counts sessions, handshakes, refusals, upgrades, disconnects, packets and bytes
//! ([`metrics`]: relaxed atomic additions, per thread for the per-packet ones), and runs each
//! session's work in a `tracing` span `connection{sid, transport, protocol, remote}` (INFO,
//! target `sockeye_engineio`, made when the work starts: an idle session holds none), with a
//! line when a session opens, upgrades and closes.
//!
//! ## Example
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use sockeye_engineio::{DisconnectReason, Engine, EngineConfig, Handler, Socket};
//!
//! /// Echoes every message back to its sender.
//! struct Echo;
//! impl Handler for Echo {
//!     type Data = ();
//!     fn new_data(&self) {}
//!     fn on_connect(&self, _: &Arc<Socket<()>>) {}
//!     fn on_disconnect(&self, _: &Arc<Socket<()>>, _: DisconnectReason) {}
//!     fn on_message(&self, socket: &Arc<Socket<()>>, msg: Bytes) {
//!         let _ = socket.send_text(msg);
//!     }
//!     fn on_binary(&self, socket: &Arc<Socket<()>>, data: Bytes) {
//!         let _ = socket.send_binary(data);
//!     }
//! }
//! let engine = Engine::new(Echo, EngineConfig::default());
//! // Serve it: `engine.handle(request).await` answers each request to `engine.config().path`.
//! # let _ = engine;
//! ```

mod clock;
mod config;
mod cookie;
mod core;
mod cors;
mod engine;
mod errors;
mod handler;
mod hooks;
mod http_compression;
pub mod metrics;
pub mod packet;
pub mod payload;
pub mod payload_v3;
mod response;
mod session;
/// Ids are shared with the Socket.IO layer and its adapters.
mod sid {
    pub(crate) use sockeye_core::Sid;
}
mod socket;
pub mod testing;
mod timer;
mod trace;
mod transport;
pub mod ws;

pub use config::{EngineConfig, OverflowPolicy};
pub use cookie::{Cookie, SameSite};
pub use cors::Cors;
pub use engine::Engine;
pub use errors::{HttpError, PacketError, SendError};
pub use handler::Handler;
pub use hooks::{
    AllowFuture, AllowRequest, ConnectionError, ConnectionErrorHook, HeadersHook, RequestRefusal,
};
pub use http_compression::HttpCompression;
pub use packet::ProtocolVersion;
pub use response::EngineBody;
pub use session::{DisconnectReason, TransportKind};
pub use socket::{prefetch, RequestInfo, Socket};
pub use sockeye_core::{InvalidSid, Sid};
pub use ws::PerMessageDeflate;
