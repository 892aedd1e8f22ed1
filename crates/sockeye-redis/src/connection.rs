//! The two Redis connections a server shares between its namespaces' adapters: one for
//! publishing and commands, one for subscriptions, whose messages a dispatcher task routes to
//! the adapter of each channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::config::{Config, Options, ReconnectPolicy};
use fred::types::{Builder, MessageKind};
use parking_lot::{Mutex, RwLock};
use sockeye_core::adapter::{AckEvent, AckReply, AckStream};
use sockeye_core::AdapterError;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::task::JoinHandle;

use crate::wire::Malformed;
use crate::{Error, Metrics};

/// What the builders configure, shared by every adapter of a server.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) key: String,
    pub(crate) requests_timeout: Duration,
    pub(crate) publish_on_specific_response_channel: bool,
    pub(crate) sharded: Option<crate::SubscriptionMode>,
    pub(crate) max_message_size: usize,
    pub(crate) max_pending_requests: usize,
    pub(crate) max_fetched_sockets: usize,
    pub(crate) max_ack_timeout: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            key: "socket.io".to_owned(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
            sharded: None,
            max_message_size: 4 << 20,
            max_pending_requests: 1024,
            max_fetched_sockets: 100_000,
            max_ack_timeout: Duration::from_secs(600),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

/// Receives the messages of the channels it registered.
pub(crate) trait Receiver: Send + Sync + 'static {
    /// A message on `channel`. Called by the dispatcher task, one message at a time, in
    /// the order Redis sent them: it must not wait.
    fn receive(&self, channel: &str, payload: Bytes);

    /// Whether it was closed (its subscriptions are no longer wanted).
    fn is_closed(&self) -> bool;
}

/// What an adapter subscribes to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subscriptions {
    /// SUBSCRIBE
    pub(crate) channels: Vec<String>,
    /// PSUBSCRIBE `<prefix>*`
    pub(crate) prefixes: Vec<String>,
    /// SSUBSCRIBE
    pub(crate) shard_channels: Vec<String>,
}

/// Who receives what; also what to subscribe to again after a reconnection.
///
/// Several receivers may share a channel (two adapters of one namespace for a moment: a
/// dynamic namespace removed and made again while the old adapter closes); the channel is
/// unsubscribed when its last receiver leaves.
#[derive(Default)]
struct Routes {
    /// Channels subscribed with SUBSCRIBE (`false`) or SSUBSCRIBE (`true`), and their
    /// receivers.
    exact: HashMap<String, (Vec<Weak<dyn Receiver>>, bool)>,
    /// Channel prefixes subscribed with PSUBSCRIBE (`<prefix>*`), one entry per receiver.
    prefixes: Vec<(String, Weak<dyn Receiver>)>,
}

impl Routes {
    fn all(&self) -> Subscriptions {
        let mut subs = Subscriptions::default();
        for (c, (_, shard)) in &self.exact {
            if *shard {
                subs.shard_channels.push(c.clone());
            } else {
                subs.channels.push(c.clone());
            }
        }
        for (p, _) in &self.prefixes {
            if !subs.prefixes.contains(p) {
                subs.prefixes.push(p.clone());
            }
        }
        subs
    }

    /// Adds `receiver` to `channel`.
    fn add(&mut self, channel: &str, receiver: &Weak<dyn Receiver>, shard: bool) {
        let (list, _) = self
            .exact
            .entry(channel.to_owned())
            .or_insert_with(|| (Vec::new(), shard));
        if !list.iter().any(|r| r.ptr_eq(receiver)) {
            list.push(receiver.clone());
        }
    }

    /// Removes `receiver` (and receivers that are gone) from `channel`; whether no receiver
    /// is left (the channel is then forgotten).
    fn remove(&mut self, channel: &str, receiver: &Weak<dyn Receiver>) -> bool {
        let Some((list, _)) = self.exact.get_mut(channel) else {
            return false;
        };
        list.retain(|r| !r.ptr_eq(receiver) && r.strong_count() > 0);
        if list.is_empty() {
            self.exact.remove(channel);
            true
        } else {
            false
        }
    }

    /// Removes `receiver`'s entry for `prefix`; whether no receiver of it is left.
    fn remove_prefix(&mut self, prefix: &str, receiver: &Weak<dyn Receiver>) -> bool {
        self.prefixes
            .retain(|(p, r)| !(p == prefix && r.ptr_eq(receiver)) && r.strong_count() > 0);
        !self.prefixes.iter().any(|(p, _)| p == prefix)
    }

    /// Forgets receivers that are gone (adapters dropped without being closed).
    fn prune(&mut self) {
        self.exact.retain(|_, (list, _)| {
            list.retain(|r| r.strong_count() > 0);
            !list.is_empty()
        });
        self.prefixes.retain(|(_, r)| r.strong_count() > 0);
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    reconnects: AtomicU64,
    malformed: AtomicU64,
    publish_failures: AtomicU64,
    lagged: AtomicU64,
}

/// Fire-and-forget publishes (responses to other servers) running at once, at most.
const MAX_DETACHED: usize = 4096;

/// Broadcasts with acks from other servers being answered at once, at most (each lasts until
/// its ack timeout).
const MAX_ACK_RESPONDERS: usize = 1024;

pub(crate) struct Connection {
    client: Client,
    subscriber: SubscriberClient,
    /// Every command: fail at once while disconnected, never wait past the timeout.
    command_options: Options,
    routes: RwLock<Routes>,
    counters: Counters,
    pub(crate) settings: Settings,
    runtime: tokio::runtime::Handle,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    detached: AtomicUsize,
    responders: AtomicUsize,
    closed: AtomicBool,
    /// Whether each connection is up, as its error and reconnection events tell: fred keeps
    /// a dropped connection "connected" until its first reconnection attempt, and holds the
    /// commands sent meanwhile; these fail at once instead.
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("key", &self.settings.key)
            .finish_non_exhaustive()
    }
}

fn redis_error(e: fred::error::Error) -> AdapterError {
    AdapterError::Unavailable(format!("redis: {e}"))
}

/// Connects a client (commands) and a subscriber to `url`.
pub(crate) async fn clients(
    url: &str,
    settings: &Settings,
    subscriber: bool,
) -> Result<(Client, Option<SubscriberClient>), Error> {
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    match scheme {
        "redis" => {}
        "rediss" if cfg!(feature = "tls") => {}
        "rediss" => {
            return Err(Error::InvalidUrl(
                "rediss:// needs sockeye-redis's `tls` feature".into(),
            ))
        }
        _ => {
            return Err(Error::InvalidUrl(format!(
                "{url:?}: expected redis:// or rediss://"
            )))
        }
    }
    let config = Config::from_url(url).map_err(|e| Error::InvalidUrl(e.to_string()))?;
    if !matches!(
        config.server,
        fred::types::config::ServerConfig::Centralized { .. }
    ) {
        return Err(Error::InvalidUrl(
            "only a single Redis server (redis:// or rediss://) is supported".into(),
        ));
    }
    let mut builder = Builder::from_config(config);
    let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1);
    builder.set_policy(ReconnectPolicy::new_exponential(
        0,
        ms(settings.reconnect_min),
        ms(settings.reconnect_max),
        2,
    ));
    builder.with_connection_config(|c| {
        c.connection_timeout = settings.requests_timeout;
        c.internal_command_timeout = settings.requests_timeout;
        // A command in flight when the connection drops fails instead of being replayed.
        c.max_command_attempts = 1;
    });
    builder.with_performance_config(|p| {
        p.default_command_timeout = settings.requests_timeout;
        // Messages wait here while the dispatcher routes earlier ones; past this it
        // counts them as lost (`Metrics::lagged`).
        p.broadcast_channel_capacity = 16_384;
    });
    let client = builder.build().map_err(|e| Error::Connect(e.to_string()))?;
    let sub = if subscriber {
        Some(
            builder
                .build_subscriber_client()
                .map_err(|e| Error::Connect(e.to_string()))?,
        )
    } else {
        None
    };
    Ok((client, sub))
}

/// Waits for `client`'s first connection, at most `timeout`.
pub(crate) async fn init(client: &impl ClientLike, timeout: Duration) -> Result<(), Error> {
    match tokio::time::timeout(timeout, client.init()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::Connect(e.to_string())),
        Err(_) => {
            let _ = client.quit().await;
            Err(Error::Connect(format!("no connection within {timeout:?}")))
        }
    }
}

pub(crate) fn command_options(timeout: Duration) -> Options {
    Options {
        max_attempts: Some(1),
        timeout: Some(timeout),
        fail_fast: true,
        ..Default::default()
    }
}

impl Connection {
    /// Connects both clients and starts the dispatcher.
    pub(crate) async fn connect(url: &str, settings: Settings) -> Result<Arc<Connection>, Error> {
        let (client, subscriber) = clients(url, &settings, true).await?;
        let subscriber = subscriber.ok_or_else(|| Error::Connect("no subscriber".into()))?;
        // Before `init`: the first "reconnection" event is the first connection.
        let client_reconnects = client.reconnect_rx();
        let sub_reconnects = subscriber.reconnect_rx();
        let client_errors = client.error_rx();
        let sub_errors = subscriber.error_rx();
        let messages = subscriber.message_rx();
        let (a, b) = tokio::join!(
            init(&client, settings.requests_timeout),
            init(&subscriber, settings.requests_timeout)
        );
        if let Err(e) = a.and(b) {
            let _ = tokio::join!(client.quit(), subscriber.quit());
            return Err(e);
        }
        let conn = Arc::new(Connection {
            command_options: command_options(settings.requests_timeout),
            client,
            subscriber,
            routes: RwLock::new(Routes::default()),
            counters: Counters::default(),
            settings,
            runtime: tokio::runtime::Handle::current(),
            tasks: Mutex::new(Vec::new()),
            detached: AtomicUsize::new(0),
            responders: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            publisher_up: AtomicBool::new(true),
            subscriber_up: AtomicBool::new(true),
        });
        let weak = Arc::downgrade(&conn);
        let tasks = vec![
            tokio::spawn(dispatch(weak.clone(), messages)),
            tokio::spawn(watch_reconnects(weak.clone(), client_reconnects, false)),
            tokio::spawn(watch_reconnects(weak.clone(), sub_reconnects, true)),
            tokio::spawn(watch_errors(weak.clone(), client_errors, false)),
            tokio::spawn(watch_errors(weak.clone(), sub_errors, true)),
        ];
        *conn.tasks.lock() = tasks;
        Ok(conn)
    }

    pub(crate) fn metrics(&self) -> Metrics {
        Metrics {
            reconnects: self.counters.reconnects.load(Ordering::Relaxed),
            malformed: self.counters.malformed.load(Ordering::Relaxed),
            publish_failures: self.counters.publish_failures.load(Ordering::Relaxed),
            lagged: self.counters.lagged.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    fn up_flag(&self, subscriber: bool) -> &AtomicBool {
        if subscriber {
            &self.subscriber_up
        } else {
            &self.publisher_up
        }
    }

    /// Fails when a connection an operation needs is down (or the connection is closed).
    fn check_up(&self, subscriber_too: bool) -> Result<(), AdapterError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(AdapterError::Closed);
        }
        let which = if !self.publisher_up.load(Ordering::Acquire) {
            "publishing"
        } else if subscriber_too && !self.subscriber_up.load(Ordering::Acquire) {
            "subscribing"
        } else {
            return Ok(());
        };
        Err(AdapterError::Unavailable(format!(
            "redis: the {which} connection is down (reconnecting)"
        )))
    }

    /// Counts and logs a message dropped because it is malformed.
    pub(crate) fn malformed(&self, channel: &str, why: Malformed) {
        let n = self.counters.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        // Every one at debug level; the first and then every power of two at warn level, so
        // that a flood does not flood the log.
        if n.is_power_of_two() {
            tracing::warn!(channel, %why, dropped = n, "sockeye-redis: dropped a malformed message");
        } else {
            tracing::debug!(channel, %why, dropped = n, "sockeye-redis: dropped a malformed message");
        }
    }

    fn publish_failed(&self, channel: &str, e: &AdapterError) {
        let n = self
            .counters
            .publish_failures
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        if n.is_power_of_two() {
            tracing::warn!(channel, error = %e, failures = n, "sockeye-redis: publish failed");
        } else {
            tracing::debug!(channel, error = %e, failures = n, "sockeye-redis: publish failed");
        }
    }

    /// Publishes `payload` on `channel` (with SPUBLISH when `sharded`); fails at once while
    /// Redis is unreachable, and after the request timeout at most.
    pub(crate) async fn publish(
        &self,
        channel: &str,
        payload: Vec<u8>,
        sharded: bool,
    ) -> Result<(), AdapterError> {
        if let Err(e) = self.check_up(false) {
            self.publish_failed(channel, &e);
            return Err(e);
        }
        let c = self.client.with_options(&self.command_options);
        let payload = Bytes::from(payload);
        let result: Result<i64, _> = if sharded {
            c.spublish(channel, payload).await
        } else {
            c.publish(channel, payload).await
        };
        result.map(drop).map_err(|e| {
            let e = redis_error(e);
            self.publish_failed(channel, &e);
            e
        })
    }

    /// Publishes without waiting (a response to another server, an ack): bounded, so that a
    /// flood of requests while Redis is slow cannot pile up tasks.
    pub(crate) fn publish_detached(
        self: &Arc<Self>,
        channel: String,
        payload: Vec<u8>,
        sharded: bool,
    ) {
        if self.detached.fetch_add(1, Ordering::AcqRel) >= MAX_DETACHED {
            self.detached.fetch_sub(1, Ordering::AcqRel);
            self.publish_failed(
                &channel,
                &AdapterError::Other("too many publishes in flight".into()),
            );
            return;
        }
        let conn = Arc::clone(self);
        self.runtime.spawn(async move {
            let _ = conn.publish(&channel, payload, sharded).await;
            conn.detached.fetch_sub(1, Ordering::AcqRel);
        });
    }

    /// Answers a broadcast with acks from another server: publishes on `channel`, in order,
    /// the client count and then each answer of this server's sockets, as `count` and `ack`
    /// encode them, until `acks` ends.
    pub(crate) fn spawn_ack_responder(
        self: &Arc<Self>,
        mut acks: AckStream,
        channel: String,
        sharded: bool,
        count: impl Fn(usize) -> Vec<u8> + Send + 'static,
        ack: impl Fn(Option<sockeye_core::value::Value>) -> Vec<u8> + Send + 'static,
    ) {
        if self.responders.fetch_add(1, Ordering::AcqRel) >= MAX_ACK_RESPONDERS {
            self.responders.fetch_sub(1, Ordering::AcqRel);
            self.publish_failed(
                &channel,
                &AdapterError::Other("too many ack broadcasts being answered".into()),
            );
            return;
        }
        let conn = Arc::clone(self);
        self.runtime.spawn(async move {
            while let Some(ev) = std::future::poll_fn(|cx| acks.as_mut().poll_next(cx)).await {
                let payload = match ev {
                    AckEvent::Expected(n) => count(n),
                    AckEvent::Reply(AckReply {
                        result: Ok(args), ..
                    }) => ack(crate::wire::first_arg(&args)),
                    // Node's servers send nothing for a socket that did not answer.
                    _ => continue,
                };
                let _ = conn.publish(&channel, payload, sharded).await;
            }
            conn.responders.fetch_sub(1, Ordering::AcqRel);
        });
    }

    /// `PUBSUB NUMSUB channel` (or `SHARDNUMSUB`): how many subscribers it has.
    /// Asked before every request that waits for answers: it fails at once when either
    /// connection is down, as the answers could not come.
    pub(crate) async fn numsub(&self, channel: &str, sharded: bool) -> Result<usize, AdapterError> {
        self.check_up(true)?;
        let c = self.client.with_options(&self.command_options);
        let reply: Vec<fred::types::Value> = if sharded {
            c.pubsub_shardnumsub(channel).await
        } else {
            c.pubsub_numsub(channel).await
        }
        .map_err(redis_error)?;
        // [channel, count]
        match reply.get(1) {
            Some(fred::types::Value::Integer(n)) => Ok(usize::try_from(*n).unwrap_or(0)),
            _ => Err(AdapterError::Other(format!(
                "unexpected PUBSUB reply {reply:?}"
            ))),
        }
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, AdapterError> {
        let t = self.settings.requests_timeout;
        match tokio::time::timeout(t, f).await {
            Ok(r) => r.map_err(redis_error),
            Err(_) => Err(AdapterError::Timeout(t)),
        }
    }

    /// Subscribes `receiver` to `subs`. When Redis does not answer, the error is returned
    /// and a background task keeps trying (with the reconnection backoff) until it works or
    /// the receiver is closed; once subscribed, the subscriber client subscribes again after
    /// every reconnection.
    pub(crate) async fn subscribe(
        self: &Arc<Self>,
        subs: Subscriptions,
        receiver: Weak<dyn Receiver>,
    ) -> Result<(), AdapterError> {
        {
            let mut routes = self.routes.write();
            for c in &subs.channels {
                routes.add(c, &receiver, false);
            }
            for c in &subs.shard_channels {
                routes.add(c, &receiver, true);
            }
            for p in &subs.prefixes {
                let known = routes
                    .prefixes
                    .iter()
                    .any(|(q, r)| q == p && r.ptr_eq(&receiver));
                if !known {
                    routes.prefixes.push((p.clone(), receiver.clone()));
                }
            }
        }
        let Err(first) = self.try_subscribe(&subs).await else {
            return Ok(());
        };
        let conn = Arc::downgrade(self);
        let (min, max) = (self.settings.reconnect_min, self.settings.reconnect_max);
        self.runtime.spawn(async move {
            let mut delay = min;
            loop {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(max);
                let (Some(conn), Some(r)) = (conn.upgrade(), receiver.upgrade()) else {
                    return;
                };
                if r.is_closed() || conn.closed.load(Ordering::Acquire) {
                    return;
                }
                match conn.try_subscribe(&subs).await {
                    Ok(()) => {
                        tracing::info!("sockeye-redis: subscribed after an earlier failure");
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "sockeye-redis: subscribing failed again")
                    }
                }
            }
        });
        Err(first)
    }

    async fn try_subscribe(&self, subs: &Subscriptions) -> Result<(), AdapterError> {
        if !subs.channels.is_empty() {
            self.timed(self.subscriber.subscribe(subs.channels.clone()))
                .await?;
        }
        for p in &subs.prefixes {
            self.timed(self.subscriber.psubscribe(glob_prefix(p)))
                .await?;
        }
        for c in &subs.shard_channels {
            // One at a time: several shard channels in one command must share a hash slot.
            self.timed(self.subscriber.ssubscribe(c.as_str())).await?;
        }
        self.confirm().await
    }

    /// Waits until Redis has run every command sent before on the subscriber connection:
    /// fred's SUBSCRIBE and PSUBSCRIBE return once written, before Redis subscribed, and a
    /// message published in between would be missed.
    async fn confirm(&self) -> Result<(), AdapterError> {
        let _: fred::types::Value = self.timed(self.subscriber.ping(None)).await?;
        Ok(())
    }

    /// Subscribes again to everything (after the subscriber reconnected).
    async fn resubscribe(&self) {
        let subs = {
            let mut routes = self.routes.write();
            // Adapters dropped without being closed: their channels are not wanted any more.
            routes.prune();
            routes.all()
        };
        match self.try_subscribe(&subs).await {
            Ok(()) => tracing::info!(
                channels = subs.channels.len() + subs.shard_channels.len(),
                patterns = subs.prefixes.len(),
                "sockeye-redis: subscribed again after reconnecting"
            ),
            // The next reconnection tries again.
            Err(e) => tracing::warn!(error = %e, "sockeye-redis: subscribing again failed"),
        }
    }

    /// Subscribes `receiver` to one more shard channel (a room of the sharded adapter's
    /// dynamic mode); the caller retries on failure.
    pub(crate) async fn ssubscribe(
        &self,
        channel: &str,
        receiver: Weak<dyn Receiver>,
    ) -> Result<(), AdapterError> {
        self.routes.write().add(channel, &receiver, true);
        self.timed(self.subscriber.ssubscribe(channel)).await
    }

    /// Unsubscribes `receiver` from a shard channel (a room's, in the dynamic modes); Redis
    /// is told when no other receiver wants it.
    pub(crate) async fn sunsubscribe(
        &self,
        channel: &str,
        receiver: &Weak<dyn Receiver>,
    ) -> Result<(), AdapterError> {
        if !self.routes.write().remove(channel, receiver) {
            return Ok(());
        }
        self.timed(self.subscriber.sunsubscribe(channel)).await
    }

    /// Unsubscribes `receiver` from `subs`; Redis is told of each channel and pattern no
    /// other receiver wants.
    pub(crate) async fn unsubscribe(
        &self,
        subs: &Subscriptions,
        receiver: &Weak<dyn Receiver>,
    ) -> Result<(), AdapterError> {
        let (channels, prefixes, shard_channels) = {
            let mut routes = self.routes.write();
            let mut left = |list: &[String]| -> Vec<String> {
                list.iter()
                    .filter(|c| routes.remove(c, receiver))
                    .cloned()
                    .collect()
            };
            let channels = left(&subs.channels);
            let shard_channels = left(&subs.shard_channels);
            let prefixes: Vec<String> = subs
                .prefixes
                .iter()
                .filter(|p| routes.remove_prefix(p, receiver))
                .cloned()
                .collect();
            (channels, prefixes, shard_channels)
        };
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        // One at a time: node-redis had a bug unsubscribing several at once, and shard
        // channels in one command must share a hash slot.
        for c in &channels {
            self.timed(self.subscriber.unsubscribe(c.as_str())).await?;
        }
        for p in &prefixes {
            self.timed(self.subscriber.punsubscribe(glob_prefix(p)))
                .await?;
        }
        for c in &shard_channels {
            self.timed(self.subscriber.sunsubscribe(c.as_str())).await?;
        }
        Ok(())
    }

    /// Hands a message to its receivers.
    fn route(&self, channel: &str, kind: MessageKind, payload: Bytes) {
        if payload.len() > self.settings.max_message_size {
            self.malformed(channel, Malformed::TooLarge);
            return;
        }
        let receivers: Vec<Arc<dyn Receiver>> = {
            let routes = self.routes.read();
            match kind {
                MessageKind::PMessage => routes
                    .prefixes
                    .iter()
                    .filter(|(p, _)| channel.starts_with(p.as_str()))
                    .filter_map(|(_, r)| r.upgrade())
                    .collect(),
                MessageKind::Message | MessageKind::SMessage => routes
                    .exact
                    .get(channel)
                    .map(|(list, _)| list.iter().filter_map(Weak::upgrade).collect())
                    .unwrap_or_default(),
            }
        };
        for r in receivers {
            r.receive(channel, payload.clone());
        }
    }

    /// Closes both connections.
    pub(crate) async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = tokio::join!(self.client.quit(), self.subscriber.quit());
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().drain(..) {
            t.abort();
        }
        if !self.closed.load(Ordering::Acquire) {
            let (c, s) = (self.client.clone(), self.subscriber.clone());
            self.runtime.spawn(async move {
                let _ = tokio::join!(c.quit(), s.quit());
            });
        }
    }
}

/// A PSUBSCRIBE pattern for the channels that start with `prefix`.
fn glob_prefix(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('*');
    p
}

async fn dispatch(
    conn: Weak<Connection>,
    mut rx: tokio::sync::broadcast::Receiver<fred::types::Message>,
) {
    loop {
        match rx.recv().await {
            Ok(msg) => {
                let Some(conn) = conn.upgrade() else { return };
                // What else has arrived goes in the same batch (bounded): under load a batch
                // holds more messages, and each idle client gets all of them in one write.
                sockeye_core::adapter::deliver_batch(|| {
                    conn.handle(msg);
                    for _ in 1..MAX_BATCH {
                        match rx.try_recv() {
                            Ok(msg) => conn.handle(msg),
                            Err(TryRecvError::Lagged(n)) => conn.lagged(n),
                            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        }
                    }
                });
            }
            Err(RecvError::Lagged(n)) => {
                let Some(conn) = conn.upgrade() else { return };
                conn.lagged(n);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// The most messages from Redis delivered in one batch (see [`dispatch`]).
const MAX_BATCH: usize = 64;

impl Connection {
    /// A message from the subscriber: routed to the namespaces it is for.
    fn handle(&self, msg: fred::types::Message) {
        let payload = match msg.value {
            fred::types::Value::Bytes(b) => b,
            fred::types::Value::String(s) => s.into_inner(),
            _ => {
                self.malformed(&msg.channel, Malformed::Undecodable);
                return;
            }
        };
        self.route(&msg.channel, msg.kind, payload);
    }

    /// `n` messages were lost: the subscriber's channel overflowed.
    fn lagged(&self, n: u64) {
        let total = self.counters.lagged.fetch_add(n, Ordering::Relaxed) + n;
        tracing::warn!(
            lost = n,
            total,
            "sockeye-redis: messages from Redis came faster than they were handled; some were lost"
        );
    }
}

/// Counts and logs reconnections; after the subscriber's, subscribes again to everything.
async fn watch_reconnects(
    conn: Weak<Connection>,
    mut rx: tokio::sync::broadcast::Receiver<fred::types::config::Server>,
    subscriber: bool,
) {
    let which = if subscriber {
        "subscriber"
    } else {
        "publisher"
    };
    let mut first = true;
    loop {
        match rx.recv().await {
            Ok(server) => {
                if std::mem::take(&mut first) {
                    continue;
                }
                let Some(conn) = conn.upgrade() else { return };
                conn.up_flag(subscriber).store(true, Ordering::Release);
                let n = conn.counters.reconnects.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(%server, connection = which, reconnects = n, "sockeye-redis: reconnected to Redis");
                if subscriber {
                    conn.resubscribe().await;
                }
            }
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
    }
}

/// Logs connection errors, and marks the connection down until it reconnects.
async fn watch_errors(
    conn: Weak<Connection>,
    mut rx: tokio::sync::broadcast::Receiver<(
        fred::error::Error,
        Option<fred::types::config::Server>,
    )>,
    subscriber: bool,
) {
    let which = if subscriber {
        "subscriber"
    } else {
        "publisher"
    };
    loop {
        match rx.recv().await {
            Ok((error, server)) => {
                let Some(conn) = conn.upgrade() else { return };
                conn.up_flag(subscriber).store(false, Ordering::Release);
                let server = server.map(|s| s.to_string()).unwrap_or_default();
                tracing::warn!(%error, %server, connection = which, "sockeye-redis: Redis connection error; reconnecting with backoff");
            }
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_only_the_prefix() {
        assert_eq!(glob_prefix("socket.io#/#"), "socket.io#/#*");
        assert_eq!(glob_prefix("k#/a*b?[c]\\#"), "k#/a\\*b\\?\\[c\\]\\\\#*");
    }
}
