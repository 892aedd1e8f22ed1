//! Emitting into a cluster from any process, as Node's `@socket.io/redis-emitter` 5.1 does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use serde::Serialize;
use smallvec::SmallVec;
use sockeye_core::value::{msgpack, to_value, Value};
use sockeye_core::{AdapterError, IntoRooms, Payload, Room};
use tokio::sync::broadcast::error::RecvError;

use crate::connection::{self, Settings};
use crate::wire::{self, Obj};
use crate::Error;

/// The uid of every message an emitter publishes.
const UID: &str = "emitter";

/// Events a client reserves (`socket.io`'s `RESERVED_EVENTS`).
const RESERVED: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

struct Shared {
    client: Client,
    options: fred::types::config::Options,
    key: String,
    /// Down from the connection's error event to its reconnection (see the adapter's).
    up: Arc<AtomicBool>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.watcher.abort();
        let client = self.client.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = client.quit().await;
            });
        }
    }
}

/// Emits into a cluster of Socket.IO servers (Sockeye or Node) that share a Redis, from any
/// process, as Node's `@socket.io/redis-emitter` does: the same channels and messages (uid
/// `emitter`), so the servers cannot tell them apart.
///
/// Each selector ([`Emitter::of`], [`Emitter::to`], [`Emitter::except`],
/// [`Emitter::volatile`], [`Emitter::compress`]) returns a new emitter; cloning is cheap and
/// every clone shares one connection. Nothing is answered: there are no acks through an
/// emitter.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), sockeye_redis::Error> {
/// use sockeye_redis::Emitter;
/// let emitter = Emitter::connect("redis://127.0.0.1:6379").await?;
/// emitter.emit("time", &"12:00").await?;
/// emitter.to("room1").except("room2").volatile().emit_args("quote", &("ACME", 12.5)).await?;
/// emitter.of("/admin").in_("staff").disconnect_sockets(true).await?;
/// emitter.server_side_emit("reload", &("config",)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Emitter {
    shared: Arc<Shared>,
    nsp: Arc<str>,
    rooms: SmallVec<[Room; 2]>,
    except: SmallVec<[Room; 2]>,
    /// Broadcast flags in the order they were set (a JavaScript object's order).
    flags: Vec<(&'static str, Value)>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("key", &self.shared.key)
            .field("nsp", &self.nsp)
            .field("rooms", &self.rooms)
            .field("except", &self.except)
            .field("flags", &self.flags)
            .finish()
    }
}

/// Configures an [`Emitter`].
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), sockeye_redis::Error> {
/// let emitter = sockeye_redis::Emitter::builder("redis://127.0.0.1:6379").key("myapp").build().await?;
/// # let _ = emitter;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct EmitterBuilder {
    url: String,
    settings: Settings,
}

impl EmitterBuilder {
    /// The prefix of the cluster's channels (the emitter's `key`). Default: `socket.io`.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye_redis::Emitter::builder("redis://127.0.0.1").key("myapp");
    /// # let _ = b;
    /// ```
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.settings.key = key.into();
        self
    }

    /// How long connecting and each publish may take. Default: 5 s.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye_redis::Emitter::builder("redis://127.0.0.1").timeout(std::time::Duration::from_secs(1));
    /// # let _ = b;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.requests_timeout = timeout;
        self
    }

    /// The reconnection backoff (see [`crate::RedisAdapterBuilder::reconnect_backoff`]).
    /// Default: 100 ms to 5 s.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let b = sockeye_redis::Emitter::builder("redis://127.0.0.1")
    ///     .reconnect_backoff(Duration::from_millis(50), Duration::from_secs(2));
    /// # let _ = b;
    /// ```
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.settings.reconnect_min = min;
        self.settings.reconnect_max = max.max(min);
        self
    }

    /// Connects.
    ///
    /// # Errors
    /// As [`crate::RedisAdapterBuilder::build`].
    pub async fn build(self) -> Result<Emitter, Error> {
        let (client, _) = connection::clients(&self.url, &self.settings, false).await?;
        let mut errors = client.error_rx();
        let mut reconnects = client.reconnect_rx();
        connection::init(&client, self.settings.requests_timeout).await?;
        let up = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&up);
        let watcher = tokio::spawn(async move {
            loop {
                tokio::select! {
                    e = errors.recv() => match e {
                        Ok((error, _)) => {
                            flag.store(false, Ordering::Release);
                            tracing::warn!(%error, "sockeye-redis emitter: Redis connection error; reconnecting with backoff");
                        }
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    },
                    r = reconnects.recv() => match r {
                        Ok(server) => {
                            if !flag.swap(true, Ordering::AcqRel) {
                                tracing::info!(%server, "sockeye-redis emitter: reconnected to Redis");
                            }
                        }
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        });
        Ok(Emitter {
            shared: Arc::new(Shared {
                client,
                options: connection::command_options(self.settings.requests_timeout),
                key: self.settings.key,
                up,
                watcher,
            }),
            nsp: Arc::from("/"),
            rooms: SmallVec::new(),
            except: SmallVec::new(),
            flags: Vec::new(),
        })
    }
}

impl Emitter {
    /// An emitter for the main namespace `/`, with the default key, connected to `url` (see
    /// [`crate::RedisAdapter::builder`] for the URL's form).
    ///
    /// # Errors
    /// As [`crate::RedisAdapterBuilder::build`].
    pub async fn connect(url: impl Into<String>) -> Result<Emitter, Error> {
        Emitter::builder(url).build().await
    }

    /// A builder for an emitter that connects to `url`.
    pub fn builder(url: impl Into<String>) -> EmitterBuilder {
        EmitterBuilder {
            url: url.into(),
            settings: Settings::default(),
        }
    }

    /// The emitter of another namespace (`/` is added in front when missing), with no rooms
    /// or flags.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.of("/admin").emit("notice", &"maintenance at 2").await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn of(&self, nsp: &str) -> Emitter {
        let nsp = if nsp.starts_with('/') {
            Arc::from(nsp)
        } else {
            Arc::from(format!("/{nsp}"))
        };
        Emitter {
            shared: Arc::clone(&self.shared),
            nsp,
            rooms: SmallVec::new(),
            except: SmallVec::new(),
            flags: Vec::new(),
        }
    }

    /// Selects the sockets in `rooms` (added to the rooms already selected).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.to("ACME").to(["GLOBEX", "INITECH"]).emit("price", &12.5).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn to(&self, rooms: impl IntoRooms) -> Emitter {
        let mut e = self.clone();
        for r in rooms.into_rooms() {
            if !e.rooms.contains(&r) {
                e.rooms.push(r);
            }
        }
        e
    }

    /// The same as [`Emitter::to`] (Node's `in`).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.in_("lobby").emit("hello", &()).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn in_(&self, rooms: impl IntoRooms) -> Emitter {
        self.to(rooms)
    }

    /// Leaves out the sockets in `rooms`.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.except("muted").emit("news", &"…").await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn except(&self, rooms: impl IntoRooms) -> Emitter {
        let mut e = self.clone();
        for r in rooms.into_rooms() {
            if !e.except.contains(&r) {
                e.except.push(r);
            }
        }
        e
    }

    /// The event may be dropped for a client that is not ready to receive it.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.volatile().emit("tick", &1).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn volatile(&self) -> Emitter {
        self.with_flag("volatile", Value::Bool(true))
    }

    /// Whether the event may be compressed.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.compress(false).emit("blob", &bytes::Bytes::from_static(b"\x00\x01")).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn compress(&self, compress: bool) -> Emitter {
        self.with_flag("compress", Value::Bool(compress))
    }

    fn with_flag(&self, name: &'static str, value: Value) -> Emitter {
        let mut e = self.clone();
        match e.flags.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => e.flags.push((name, value)),
        }
        e
    }

    /// Emits `event` with `data` as its single argument to the selected sockets of every
    /// server.
    ///
    /// # Errors
    /// [`Error::ReservedEvent`], [`Error::Encode`], or [`Error::Cluster`] when Redis is
    /// unreachable or does not answer within the timeout.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.emit("quote", &serde_json::json!({"symbol": "ACME", "price": 12.5})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), Error> {
        let arg = to_value(data).map_err(|e| Error::Encode(e.to_string()))?;
        self.emit_values(event, vec![arg]).await
    }

    /// Emits `event` with the items of `args` (a tuple, array or `Vec`) as its arguments.
    ///
    /// # Errors
    /// As [`Emitter::emit`]; [`Error::Encode`] when `args` is not a sequence.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.emit_args("quote", &("ACME", 12.5)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn emit_args<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), Error> {
        match to_value(args).map_err(|e| Error::Encode(e.to_string()))? {
            Value::Array(items) => self.emit_values(event, items).await,
            Value::Null => self.emit_values(event, Vec::new()).await,
            _ => Err(Error::Encode("the arguments must be a sequence".into())),
        }
    }

    /// Emits `event` with the arguments of `payload`.
    ///
    /// # Errors
    /// As [`Emitter::emit`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// let args = sockeye_core::Payload::from_values(vec!["ACME".into(), 12.5.into()]);
    /// emitter.emit_payload("quote", &args).await?;
    /// # Ok(()) }
    /// ```
    pub async fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), Error> {
        let args = payload
            .to_values()
            .map_err(|e| Error::Encode(e.to_string()))?;
        self.emit_values(event, args).await
    }

    async fn emit_values(&self, event: &str, args: Vec<Value>) -> Result<(), Error> {
        if RESERVED.contains(&event) {
            return Err(Error::ReservedEvent(event.to_owned()));
        }
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::Str(event.to_owned()));
        data.extend(args);
        let packet = Obj::new()
            .with("type", Value::Int(2))
            .with("data", Value::Array(data))
            .with("nsp", &*self.nsp)
            .build();
        // The emitter's own key order: rooms, flags, except.
        let opts = Obj::new()
            .with("rooms", wire::room_list(&self.rooms))
            .with(
                "flags",
                Value::Map(
                    self.flags
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect(),
                ),
            )
            .with("except", wire::room_list(&self.except))
            .build();
        let msg = Value::Array(vec![Value::Str(UID.to_owned()), packet, opts]);
        let mut channel = format!("{}#{}#", self.shared.key, self.nsp);
        if let [room] = self.rooms.as_slice() {
            channel.push_str(room);
            channel.push('#');
        }
        self.publish(&channel, msgpack::encode(&msg)).await
    }

    /// Makes the selected sockets of every server join `rooms` (Node's `socketsJoin`).
    ///
    /// # Errors
    /// [`Error::Cluster`] when publishing fails.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.to("user:42").sockets_join("premium").await?;
    /// # Ok(()) }
    /// ```
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), Error> {
        self.change(2, Some(rooms.into_rooms()), false).await
    }

    /// Makes the selected sockets of every server leave `rooms` (Node's `socketsLeave`).
    ///
    /// # Errors
    /// [`Error::Cluster`] when publishing fails.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.sockets_leave(["beta", "alpha"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), Error> {
        self.change(3, Some(rooms.into_rooms()), false).await
    }

    /// Disconnects the selected sockets of every server, closing their connections when
    /// `close` (Node's `disconnectSockets`).
    ///
    /// # Errors
    /// [`Error::Cluster`] when publishing fails.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.to("banned").disconnect_sockets(true).await?;
    /// # Ok(()) }
    /// ```
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), Error> {
        self.change(4, None, close).await
    }

    async fn change(
        &self,
        kind: i64,
        rooms: Option<SmallVec<[Room; 2]>>,
        close: bool,
    ) -> Result<(), Error> {
        let opts = Obj::new()
            .with("rooms", wire::room_list(&self.rooms))
            .with("except", wire::room_list(&self.except))
            .build();
        let mut request = Obj::new().with("type", Value::Int(kind)).with("opts", opts);
        request = match rooms {
            Some(rooms) => request.with("rooms", wire::room_list(&rooms)),
            None => request.with("close", close),
        };
        self.publish(&self.request_channel(), wire::json(&request.build()))
            .await
    }

    /// Sends `event` with `data` as its single argument to the handlers of every server of
    /// the namespace (Node's `serverSideEmit`; rooms and flags do not apply, and no answer
    /// comes back).
    ///
    /// # Errors
    /// [`Error::Encode`] when `data` does not serialize, [`Error::Cluster`] when publishing
    /// fails.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.server_side_emit("reload", &"config").await?;
    /// # Ok(()) }
    /// ```
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), Error> {
        let arg = to_value(data).map_err(|e| Error::Encode(e.to_string()))?;
        self.server_side_values(event, vec![arg]).await
    }

    /// [`Emitter::server_side_emit`] with the items of `args` (a tuple, array or `Vec`) as
    /// the event's arguments.
    ///
    /// # Errors
    /// As [`Emitter::server_side_emit`]; [`Error::Encode`] when `args` is not a sequence.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// emitter.server_side_emit_args("reload", &("config", 3)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn server_side_emit_args<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), Error> {
        match to_value(args).map_err(|e| Error::Encode(e.to_string()))? {
            Value::Array(items) => self.server_side_values(event, items).await,
            Value::Null => self.server_side_values(event, Vec::new()).await,
            _ => Err(Error::Encode("the arguments must be a sequence".into())),
        }
    }

    /// [`Emitter::server_side_emit`] with the arguments of `payload`.
    ///
    /// # Errors
    /// As [`Emitter::server_side_emit`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(emitter: sockeye_redis::Emitter) -> Result<(), sockeye_redis::Error> {
    /// let args = sockeye_core::Payload::from_values(vec!["config".into()]);
    /// emitter.server_side_emit_payload("reload", &args).await?;
    /// # Ok(()) }
    /// ```
    pub async fn server_side_emit_payload(
        &self,
        event: &str,
        payload: &Payload,
    ) -> Result<(), Error> {
        let args = payload
            .to_values()
            .map_err(|e| Error::Encode(e.to_string()))?;
        self.server_side_values(event, args).await
    }

    async fn server_side_values(&self, event: &str, args: Vec<Value>) -> Result<(), Error> {
        let mut data = vec![Value::Str(event.to_owned())];
        data.extend(args);
        let request = Obj::new()
            .with("uid", UID)
            .with("type", Value::Int(6))
            .with("data", Value::Array(data))
            .build();
        self.publish(&self.request_channel(), wire::json(&request))
            .await
    }

    fn request_channel(&self) -> String {
        format!("{}-request#{}#", self.shared.key, self.nsp)
    }

    async fn publish(&self, channel: &str, payload: Vec<u8>) -> Result<(), Error> {
        if !self.shared.up.load(Ordering::Acquire) {
            return Err(Error::Cluster(AdapterError::Unavailable(
                "redis: the connection is down (reconnecting)".into(),
            )));
        }
        let c = self.shared.client.with_options(&self.shared.options);
        let result: Result<i64, _> = c.publish(channel, bytes::Bytes::from(payload)).await;
        result
            .map(drop)
            .map_err(|e| Error::Cluster(AdapterError::Unavailable(format!("redis: {e}"))))
    }
}
