//! Engine configuration.

use std::time::Duration;

use crate::cookie::Cookie;
use crate::cors::Cors;
use crate::hooks::{AllowRequest, ConnectionErrorHook, HeadersHook};
use crate::http_compression::HttpCompression;
use crate::ws::PerMessageDeflate;

/// What to do with a client whose outbound queue is over [`EngineConfig::max_queued_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Close that client's session (reason `transport error`). The default.
    #[default]
    Disconnect,
    /// Drop the new packet and keep the session; the send reports [`crate::SendError::QueueFull`].
    Drop,
}

/// The Engine.IO options. Defaults follow Node's engine.io.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use sockeye_engineio::EngineConfig;
/// let mut config = EngineConfig::default();
/// config.ping_interval = Duration::from_secs(10);
/// assert_eq!(config.max_payload, 1_000_000);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The path the engine answers on, matched exactly. Default `/socket.io/`.
    pub path: String,
    /// How long after the session opened, and after each pong, the server pings the client
    /// (v4; a v3 client pings by itself and must do so within `ping_interval +
    /// ping_timeout`). Default 25 s. Pings leave at their due time, to the millisecond.
    pub ping_interval: Duration,
    /// How long a client has to answer a ping; the session closes at that deadline, to the
    /// millisecond. Default 20 s. Also how long a closed session waits for its client to
    /// take what is left to write (a WebSocket connection, a polling client's last poll),
    /// before it ends without it.
    pub ping_timeout: Duration,
    /// How long a WebSocket upgrade may take. Default 10 s.
    pub upgrade_timeout: Duration,
    /// The largest message a client may send, in bytes: a polling body, a WebSocket message and a
    /// whole binary packet alike (Node's `maxHttpBufferSize`). Default 1,000,000.
    pub max_payload: usize,
    /// The most packets one polling body may hold. Default 4096.
    pub max_packets_per_payload: usize,
    /// The most bytes queued for one client before [`EngineConfig::overflow`] applies.
    /// Default 8 MiB.
    pub max_queued_bytes: usize,
    /// What happens to a client that does not read fast enough. Default [`OverflowPolicy::Disconnect`].
    pub overflow: OverflowPolicy,
    /// The most WebSocket frames one message may be split into. Default 1024.
    pub max_ws_fragments: usize,
    /// The most open sessions; a handshake over it gets HTTP 403. Default: no limit.
    pub max_connections: Option<usize>,
    /// Whether Engine.IO v3 clients (socket.io-client 1.x and 2.x) are served, like Node's
    /// `allowEIO3`. Default false.
    pub allow_eio3: bool,
    /// Whether the long-polling transport is offered. Default true.
    pub polling: bool,
    /// Whether the WebSocket transport is offered. Default true.
    pub websocket: bool,
    /// Whether a polling session is told it may upgrade to WebSocket (Node's
    /// `allowUpgrades`): when false, the handshake's `upgrades` is `[]`, so clients stay on
    /// the transport they opened with. As in Node, an upgrade a client asks for anyway is
    /// still carried out. Default true.
    pub allow_upgrades: bool,
    /// Cross-origin rules. Default: no CORS headers, and WebSocket upgrades from any origin.
    pub cors: Cors,
    /// Sees each handshake and may refuse it (Node's `allowRequest`). Default: none.
    pub allow_request: Option<AllowRequest>,
    /// The sticky-session cookie set on the polling handshake (Node's `cookie`). Default:
    /// none.
    pub cookie: Option<Cookie>,
    /// Hears of each request the engine refused (Node's `connection_error` event). Default:
    /// none.
    pub on_connection_error: Option<ConnectionErrorHook>,
    /// Adds headers to the answer of each handshake, over polling (the open packet) or
    /// WebSocket (the `101`), after the cookie and before [`EngineConfig::on_headers`]
    /// (Node's `initial_headers` event). Default: none.
    pub on_initial_headers: Option<HeadersHook>,
    /// Adds headers to every answer the engine gives a session's requests: each poll, each
    /// POST, each `101` (Node's `headers` event); not to errors or preflights. Default: none.
    pub on_headers: Option<HeadersHook>,
    /// How long a long-polling request body may take to arrive. Default 10 s.
    pub body_timeout: Duration,
    /// WebSocket compression (`permessage-deflate`, RFC 7692), Node's `perMessageDeflate`:
    /// negotiated with clients that offer it. Default `None` (off, as in socket.io 4).
    pub per_message_deflate: Option<PerMessageDeflate>,
    /// gzip or deflate compression of long-polling responses, by `Accept-Encoding`, Node's
    /// `httpCompression`. Default on, with a threshold of 1024 bytes (as in Node).
    pub http_compression: Option<HttpCompression>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/socket.io/".to_owned(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            upgrade_timeout: Duration::from_secs(10),
            max_payload: 1_000_000,
            max_packets_per_payload: 4096,
            max_queued_bytes: 8 << 20,
            overflow: OverflowPolicy::Disconnect,
            max_ws_fragments: 1024,
            max_connections: None,
            allow_eio3: false,
            polling: true,
            websocket: true,
            allow_upgrades: true,
            cors: Cors::default(),
            allow_request: None,
            cookie: None,
            on_connection_error: None,
            on_initial_headers: None,
            on_headers: None,
            body_timeout: Duration::from_secs(10),
            per_message_deflate: None,
            http_compression: Some(HttpCompression::default()),
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("path", &self.path)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("max_payload", &self.max_payload)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("overflow", &self.overflow)
            .field("max_connections", &self.max_connections)
            .field("allow_upgrades", &self.allow_upgrades)
            .field("cors", &self.cors)
            .field("per_message_deflate", &self.per_message_deflate)
            .field("http_compression", &self.http_compression)
            .field("allow_request", &self.allow_request)
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}
