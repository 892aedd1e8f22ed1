//! # sockeye-redis
//!
//! [Sockeye](https://docs.rs/sockeye)'s cluster adapter and emitter over Redis, speaking the
//! wire format of Node's `@socket.io/redis-adapter` 8.3 and `@socket.io/redis-emitter` 5.1
//! byte for byte: Sockeye nodes and Node socket.io nodes serve one cluster, and any backend
//! that publishes with the Node emitter reaches Sockeye's clients unchanged.
//!
//! - [`RedisAdapter`]: the cluster connection of a server, and the factory of its
//!   namespaces' adapters (Node's `createAdapter`, or `createShardedAdapter` with
//!   [`RedisAdapterBuilder::sharded`]). Every server-wide operation (broadcasts, acks,
//!   `fetch_sockets`, joining, leaving and disconnecting sockets, server-side events, the
//!   server count) reaches the other servers.
//! - [`Emitter`]: emit into a cluster from any process (Node's `@socket.io/redis-emitter`).
//!
//! ## Example: a server of a cluster
//! ```no_run
//! use std::time::Duration;
//! use sockeye_redis::RedisAdapter;
//!
//! # async fn run() -> Result<(), sockeye_redis::Error> {
//! let cluster = RedisAdapter::builder("redis://:secret@127.0.0.1:6379/0")
//!     .key("socket.io")
//!     .requests_timeout(Duration::from_secs(5))
//!     .build()
//!     .await?;
//! // Every namespace of the server gets its adapter from the factory:
//! // let io = sockeye::SocketIo::builder().adapter(cluster.factory()).build();
//! let factory = cluster.factory();
//! # let _ = factory;
//! println!("{:?}", cluster.metrics());
//! # Ok(()) }
//! ```
//!
//! ## Example: emitting from another process
//! ```no_run
//! # async fn run() -> Result<(), sockeye_redis::Error> {
//! let emitter = sockeye_redis::Emitter::connect("redis://127.0.0.1:6379").await?;
//! emitter.to("ACME").emit("price", &12.5).await?;
//! emitter.of("/admin").sockets_join("staff").await?;
//! # Ok(()) }
//! ```
//!
//! ## Feature flags
//!
//! | feature | default | what |
//! |---|---|---|
//! | `tls` | no | `rediss://` URLs (TLS with rustls and the system's root certificates) |
//! | `metrics` | no | `RedisAdapter::record_metrics`: the [`Metrics`] into the application's [`metrics`](https://docs.rs/metrics) recorder (Prometheus) |
//!
//! ## The Redis client
//! The connections are [fred](https://docs.rs/fred)'s. It was chosen over redis-rs because
//! it has everything the adapter needs on a single Redis server, built in and maintained:
//! sharded Pub/Sub (`SSUBSCRIBE`/`SPUBLISH`, which redis-rs offers only on a Redis
//! Cluster connection), a subscriber client that tracks its channels, patterns and shard
//! channels and subscribes again after a reconnection, a reconnection policy with
//! exponential backoff, and per-command options to fail at once while disconnected and to
//! time out. fred's own minimum Rust version is 1.75; what it pulls in (`url`, whose `idna`
//! uses ICU4X 2.4) needs 1.88, the workspace's.
//!
//! A server has two connections whatever its number of namespaces: one publishes and runs
//! commands, one receives every subscribed channel; a dispatcher task hands each message to
//! its namespace's adapter, in the order Redis sent them. It delivers them in batches
//! (`sockeye_core::adapter::deliver_batch`: each message that has already arrived, up to 64):
//! an idle WebSocket client gets what a batch holds for it in one write, without a wake-up of
//! its connection's task, and under load the batches, and each write, grow.
//!
//! ## When Redis is down or restarts
//! - Local delivery goes on: every operation does its part on this server's sockets first,
//!   and never waits for Redis for it.
//! - The part for other servers fails at once with [`AdapterError::Unavailable`]
//!   (`sockeye_core::AdapterError`), and after the request timeout at most
//!   ([`AdapterError::Timeout`]); requests waiting for answers end at their timeout.
//! - Both connections reconnect with exponential backoff (100 ms doubling to 5 s by
//!   default, [`RedisAdapterBuilder::reconnect_backoff`]), forever; the subscriber
//!   subscribes again, and the cluster heals by itself. Each reconnection is logged
//!   (`tracing`, target `sockeye_redis`) and counted ([`Metrics::reconnects`]).
//! - Messages published while a server was away are lost for it, as with Node's adapter.
//! - A namespace whose adapter starts while Redis is unreachable: `init` returns the error,
//!   and the adapter keeps subscribing in the background until it works.
//!
//! ## Untrusted bytes
//! Anything on the cluster's channels may come from anyone who can publish to Redis. A
//! message that does not decode (JSON nested deeper than 128, msgpack as
//! `sockeye_core::value::msgpack` refuses it) or does not have the shape of its type is
//! dropped and counted ([`Metrics::malformed`]; logged at warn level the first time and
//! every power of two, at debug level otherwise). Bounds: messages larger than
//! [`RedisAdapterBuilder::max_message_size`] are dropped; at most
//! [`RedisAdapterBuilder::max_pending_requests`] requests wait for answers per namespace;
//! a `fetch_sockets` takes at most [`RedisAdapterBuilder::max_fetched_sockets`] sockets
//! from other servers; another server's broadcast with acks holds this server's ack
//! entries for at most 10 minutes whatever timeout it asks for; answers to other servers
//! run at most 4096 at once.
//!
//! ## Wire compatibility
//! Channels, message layouts, ids and encodings follow the Node packages (see the modules'
//! sources for each table). Differences, all at the edges:
//! - a broadcast on a single-room channel whose options name another room is dropped (Node
//!   delivers it when this server has a member of the channel's room);
//! - an integral number of 2^64 or more is written as a float 64 (notepack wraps it);
//! - the sharded adapter's `rooms()` asks every server for its sockets' rooms (the cluster
//!   protocol has no request for rooms; Node's sharded adapter answers with local rooms);
//! - namespaces whose names contain `#` so that one's channels start with another's
//!   prefix may see a pattern message twice (Node routes by pattern, which fred does not
//!   report).

use std::sync::Arc;
use std::time::Duration;

use sockeye_core::adapter::{Adapter, LocalHandle};
pub use sockeye_core::AdapterError;

mod classic;
mod connection;
mod emitter;
#[cfg(feature = "metrics")]
mod record;
mod requests;
mod sharded;
mod wire;

pub use emitter::{Emitter, EmitterBuilder};

use connection::{Connection, Settings};

/// Why connecting, or emitting with an [`Emitter`], failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL does not parse, or names something other than one Redis server.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    /// The first connection failed (Redis unreachable, authentication refused, ...).
    #[error("cannot connect to Redis: {0}")]
    Connect(String),
    /// An event name that Socket.IO reserves (`connect`, `disconnect`, ...).
    #[error("\"{0}\" is a reserved event name")]
    ReservedEvent(String),
    /// Arguments that do not serialize.
    #[error("cannot encode the arguments: {0}")]
    Encode(String),
    /// Publishing failed (Redis unreachable, or no answer within the timeout).
    #[error(transparent)]
    Cluster(#[from] AdapterError),
}

/// Which shard channels the servers of a sharded cluster subscribe to (the sharded adapter's
/// `subscriptionMode`). Every server of a cluster must use the same mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SubscriptionMode {
    /// One channel per namespace: every server receives every broadcast.
    Static,
    /// Also one channel per room that has members, except the rooms of socket ids (Node's
    /// default): a broadcast to one room reaches only the servers with a member in it.
    /// Needs the namespace to report its rooms ([`Adapter::room_created`]).
    #[default]
    Dynamic,
    /// As `Dynamic`, the rooms of socket ids included.
    DynamicPrivate,
}

/// What the adapters and the emitter counted since their connection was made.
///
/// # Examples
/// ```
/// let m = sockeye_redis::Metrics::default();
/// assert_eq!(m.reconnects + m.malformed + m.publish_failures + m.lagged, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Reconnections to Redis (either connection).
    pub reconnects: u64,
    /// Messages from Redis dropped because they were malformed or too large.
    pub malformed: u64,
    /// Publishes that failed (Redis unreachable, or no answer in time).
    pub publish_failures: u64,
    /// Messages from Redis lost because they came faster than they were handled.
    pub lagged: u64,
}

/// The Redis cluster connection of a server, and the factory of its namespaces' adapters.
///
/// Cloning it is cheap; every clone and every adapter share the two connections.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), sockeye_redis::Error> {
/// let cluster = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1:6379")
///     .build()
///     .await?;
/// let factory = cluster.factory(); // for `SocketIoBuilder::adapter`
/// # let _ = factory;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisAdapter {
    conn: Arc<Connection>,
}

impl RedisAdapter {
    /// A builder for a server that connects to the Redis at `url`: `redis://[[user]:password@]host[:port][/db]`,
    /// or `rediss://` with the `tls` feature.
    pub fn builder(url: impl Into<String>) -> RedisAdapterBuilder {
        RedisAdapterBuilder {
            url: url.into(),
            settings: Settings::default(),
        }
    }

    /// The factory of the namespaces' adapters, for `SocketIoBuilder::adapter`.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() -> Result<(), sockeye_redis::Error> {
    /// use std::sync::Arc;
    /// use sockeye_core::adapter::{Adapter, LocalHandle};
    /// let cluster = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1").build().await?;
    /// let factory: Arc<dyn Fn(LocalHandle) -> Arc<dyn Adapter> + Send + Sync> = Arc::new(cluster.factory());
    /// # let _ = factory;
    /// # Ok(()) }
    /// ```
    pub fn factory(&self) -> impl Fn(LocalHandle) -> Arc<dyn Adapter> + Send + Sync + 'static {
        let conn = Arc::clone(&self.conn);
        move |local: LocalHandle| -> Arc<dyn Adapter> {
            match conn.settings.sharded {
                Some(mode) => {
                    Arc::new(sharded::ShardedAdapter::new(Arc::clone(&conn), local, mode))
                }
                None => Arc::new(classic::ClassicAdapter::new(Arc::clone(&conn), local)),
            }
        }
    }

    /// The adapter of one namespace (what [`RedisAdapter::factory`] makes).
    pub fn adapter(&self, local: LocalHandle) -> Arc<dyn Adapter> {
        (self.factory())(local)
    }

    /// The counters of this server's connection.
    pub fn metrics(&self) -> Metrics {
        self.conn.metrics()
    }

    /// Copies [`RedisAdapter::metrics`] into the installed [`metrics`](https://docs.rs/metrics)
    /// recorder (feature `metrics`), beside `sockeye::metrics::record`: the counters
    /// `sockeye_redis_reconnects_total`, `sockeye_redis_malformed_messages_total`,
    /// `sockeye_redis_publish_failures_total` and `sockeye_redis_lagged_messages_total`, as
    /// absolute values, with their descriptions. Without a recorder it does nothing.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() -> Result<(), sockeye_redis::Error> {
    /// let cluster = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1").build().await?;
    /// // Before rendering each scrape:
    /// cluster.record_metrics();
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "metrics")]
    pub fn record_metrics(&self) {
        record::record(&self.metrics());
    }

    /// The channels' prefix (`key`).
    pub fn key(&self) -> &str {
        &self.conn.settings.key
    }

    /// Closes both connections (after the namespaces' adapters were closed). Operations
    /// after this fail with [`AdapterError::Closed`].
    pub async fn close(&self) {
        self.conn.close().await;
    }
}

/// Configures a [`RedisAdapter`]; every option has Node's default.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), sockeye_redis::Error> {
/// use std::time::Duration;
/// use sockeye_redis::{RedisAdapter, SubscriptionMode};
/// let cluster = RedisAdapter::builder("redis://127.0.0.1:6379")
///     .key("myapp")
///     .requests_timeout(Duration::from_secs(2))
///     .publish_on_specific_response_channel(true)
///     .sharded(true)
///     .subscription_mode(SubscriptionMode::Static)
///     .build()
///     .await?;
/// # let _ = cluster;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisAdapterBuilder {
    url: String,
    settings: Settings,
}

impl RedisAdapterBuilder {
    /// The prefix of every channel (Node's `key`, or `channelPrefix` of the sharded adapter).
    /// Default: `socket.io`.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1").key("myapp");
    /// # let _ = b;
    /// ```
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.settings.key = key.into();
        self
    }

    /// How long a request to the other servers waits for their answers, and a Redis command
    /// for Redis (Node's `requestsTimeout`). Default: 5 s.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1")
    ///     .requests_timeout(std::time::Duration::from_secs(2));
    /// # let _ = b;
    /// ```
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.settings.requests_timeout = timeout;
        self
    }

    /// Answers other servers' requests on the requester's own channel
    /// (`key-response#nsp#uid#`) instead of the shared one (Node's
    /// `publishOnSpecificResponseChannel`). Default: `false`. Not used by the sharded
    /// adapter, which always answers on the requester's channel.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1")
    ///     .publish_on_specific_response_channel(true);
    /// # let _ = b;
    /// ```
    pub fn publish_on_specific_response_channel(mut self, yes: bool) -> Self {
        self.settings.publish_on_specific_response_channel = yes;
        self
    }

    /// Uses sharded Pub/Sub (Redis 7 `SSUBSCRIBE`/`SPUBLISH`), as Node's
    /// `createShardedAdapter`, instead of `createAdapter`'s Pub/Sub. Default: `false`.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1").sharded(true);
    /// # let _ = b;
    /// ```
    pub fn sharded(mut self, yes: bool) -> Self {
        self.settings.sharded = yes.then_some(self.settings.sharded.unwrap_or_default());
        self
    }

    /// The sharded adapter's subscription mode (implies [`RedisAdapterBuilder::sharded`]).
    /// Default: [`SubscriptionMode::Dynamic`].
    ///
    /// # Examples
    /// ```
    /// use sockeye_redis::{RedisAdapter, SubscriptionMode};
    /// let b = RedisAdapter::builder("redis://127.0.0.1").subscription_mode(SubscriptionMode::Static);
    /// # let _ = b;
    /// ```
    pub fn subscription_mode(mut self, mode: SubscriptionMode) -> Self {
        self.settings.sharded = Some(mode);
        self
    }

    /// Messages from Redis larger than this are dropped (and counted as malformed).
    /// Default: 4 MiB. Raise it when the cluster's broadcasts carry more.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1").max_message_size(16 << 20);
    /// # let _ = b;
    /// ```
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = bytes;
        self
    }

    /// Requests waiting for other servers' answers, per namespace; past this a request fails
    /// at once. Default: 1024.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1").max_pending_requests(4096);
    /// # let _ = b;
    /// ```
    pub fn max_pending_requests(mut self, n: usize) -> Self {
        self.settings.max_pending_requests = n.max(1);
        self
    }

    /// Sockets a `fetch_sockets` takes from other servers; past this it fails. Default:
    /// 100 000.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1").max_fetched_sockets(1_000_000);
    /// # let _ = b;
    /// ```
    pub fn max_fetched_sockets(mut self, n: usize) -> Self {
        self.settings.max_fetched_sockets = n;
        self
    }

    /// The reconnection backoff: the first delay, doubled after each failed attempt up to
    /// `max`. Default: 100 ms to 5 s.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let b = sockeye_redis::RedisAdapter::builder("redis://127.0.0.1")
    ///     .reconnect_backoff(Duration::from_millis(50), Duration::from_secs(2));
    /// # let _ = b;
    /// ```
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.settings.reconnect_min = min;
        self.settings.reconnect_max = max.max(min);
        self
    }

    /// Connects (both connections, within the request timeout).
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a URL that does not parse or names a Redis Cluster or
    /// Sentinel; [`Error::Connect`] when Redis cannot be reached or refuses the credentials.
    pub async fn build(self) -> Result<RedisAdapter, Error> {
        let conn = Connection::connect(&self.url, self.settings).await?;
        Ok(RedisAdapter { conn })
    }
}
