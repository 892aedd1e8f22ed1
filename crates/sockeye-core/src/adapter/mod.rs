//! The adapter: how a server-wide operation reaches the sockets of every server.
//!
//! A namespace has one [`Adapter`]. Every operation that concerns more than one socket goes
//! through it: broadcasts (with or without acks), fetching sockets, making sockets join or
//! leave rooms, disconnecting them, events from server to server, the server count. The
//! adapter is built with a [`LocalHandle`]: this server's side of the namespace, which does
//! each of those operations on the sockets connected *here*, without going back to the
//! adapter. So an adapter for one process ([`LocalAdapter`]) only forwards to its handle,
//! and a cluster adapter (`sockeye-redis`) does the operation here through the handle and
//! sends one message to the other servers, whose adapters do it there through theirs.
//!
//! ```text
//!   io.to("room").emit(..)          other server
//!          │                              ▲  one message per operation
//!          ▼                              │
//!      Adapter ──────── Redis ────────► Adapter
//!          │                              │
//!          ▼                              ▼
//!     LocalHandle                    LocalHandle
//!  (rooms, sockets here)          (rooms, sockets there)
//! ```
//!
//! Room membership is local state (each server knows the rooms of its own sockets) and lives
//! behind the handle; only what must reach other servers is the adapter's business.
//!
//! # Connection state recovery
//! With [`ConnectionStateRecovery`] on, the adapter also holds the sessions of clients whose
//! connection dropped and the broadcasts they may have missed, as Node's adapters do:
//! [`Adapter::persist_session`] keeps a socket's session when its connection drops,
//! [`Adapter::restore_session`] gives it back, with the packets broadcast since the client's
//! offset, when the client reconnects. An adapter that keeps packets gives each broadcast
//! without ack and not volatile an offset ([`BroadcastPacket::with_offset`]) before it
//! delivers it. Both methods do nothing by default, so an adapter that does not implement
//! them turns recovery off (its clients always get a new session). [`LocalAdapter`] implements
//! them in memory, within the bounds of the configuration. Of Node's cluster adapters,
//! `@socket.io/redis-adapter` (classic and sharded) implements neither: with it a client never
//! recovers its session. `@socket.io/redis-streams-adapter` keeps each session in Redis under
//! `sio:session:<pid>` with an expiry of `maxDisconnectionDuration`, uses the id of each
//! broadcast's entry in its Redis stream as the offset, and restores by taking the session
//! (`GETDEL`) and reading the stream after the offset (`XRANGE`), which works whichever server
//! the client comes back to, as long as the stream (trimmed at `maxLen`, 10,000 entries by
//! default) still holds the offset.
//!
//! # Implementing an adapter
//! Every method has the semantics of the method of the same name on Node's socket.io
//! adapters (`socket.io-adapter`), described on each. Bytes from other servers are untrusted:
//! a malformed message is dropped (and counted), never a panic.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use sockeye_core::adapter::*;
//! use sockeye_core::{AdapterError, Payload, Room};
//!
//! /// Logs each broadcast, then does what the in-process adapter does.
//! struct Logged(LocalAdapter);
//!
//! impl Adapter for Logged {
//!     fn broadcast(&self, packet: BroadcastPacket, opts: BroadcastOptions) -> BoxFuture<'_, Result<usize, AdapterError>> {
//!         println!("{} to {:?}", packet.event(), opts.rooms);
//!         self.0.broadcast(packet, opts)
//!     }
//!     fn broadcast_with_ack(&self, packet: BroadcastPacket, opts: BroadcastOptions, timeout: Duration) -> BoxFuture<'_, Result<AckStream, AdapterError>> {
//!         self.0.broadcast_with_ack(packet, opts, timeout)
//!     }
//!     fn fetch_sockets(&self, opts: BroadcastOptions) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>> {
//!         self.0.fetch_sockets(opts)
//!     }
//!     fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> BoxFuture<'_, Result<(), AdapterError>> {
//!         self.0.add_sockets(opts, rooms)
//!     }
//!     fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> BoxFuture<'_, Result<(), AdapterError>> {
//!         self.0.del_sockets(opts, rooms)
//!     }
//!     fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> BoxFuture<'_, Result<(), AdapterError>> {
//!         self.0.disconnect_sockets(opts, close)
//!     }
//!     fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
//!         self.0.rooms()
//!     }
//!     fn server_side_emit(&self, event: String, args: Payload) -> BoxFuture<'_, Result<(), AdapterError>> {
//!         self.0.server_side_emit(event, args)
//!     }
//!     fn server_side_emit_with_ack(&self, event: String, args: Payload, timeout: Duration) -> BoxFuture<'_, Result<ServerAcks, AdapterError>> {
//!         self.0.server_side_emit_with_ack(event, args, timeout)
//!     }
//!     // Without these two, connection state recovery would be off with this adapter.
//!     fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
//!         self.0.persist_session(session)
//!     }
//!     fn restore_session(&self, pid: sockeye_core::Sid, offset: String) -> BoxFuture<'_, Result<Option<RestoredSession>, AdapterError>> {
//!         self.0.restore_session(pid, offset)
//!     }
//! }
//!
//! // Installed with `SocketIo::builder().adapter(|local| Arc::new(Logged(LocalAdapter::new(local))))`.
//! let factory = |local: LocalHandle| -> Arc<dyn Adapter> { Arc::new(Logged(LocalAdapter::new(local))) };
//! # let _ = factory;
//! ```

mod batch;
mod local;
mod packet;
mod recovery;
mod socket_info;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_core::Stream;
use smallvec::SmallVec;

use crate::errors::AdapterError;
use crate::payload::Payload;
use crate::room::Room;
use crate::Sid;

pub use batch::{deliver_batch, in_batch, set_batch_flush};
pub use local::LocalAdapter;
pub use packet::BroadcastPacket;
pub use recovery::{ConnectionStateRecovery, RestoredSession, Session};
pub use socket_info::{HandshakeInfo, SocketInfo};

/// A boxed future, as adapter methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The answers to a broadcast with acks, as they come (see [`AckEvent`]). It ends once
/// every expected answer came, or at the timeout, after a [`AckFailure::Timeout`] for each
/// answer still expected.
pub type AckStream = Pin<Box<dyn Stream<Item = AckEvent> + Send>>;

/// Which sockets an operation concerns, and how a broadcast is delivered.
///
/// # Examples
/// ```
/// use sockeye_core::adapter::BroadcastOptions;
/// let mut opts = BroadcastOptions::default();
/// opts.rooms.push("ACME".into());
/// opts.except.push("muted".into());
/// opts.flags.volatile = true;
/// assert!(!opts.is_everyone());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct BroadcastOptions {
    /// The rooms whose sockets are selected (every socket of the namespace when empty). A
    /// socket's id names a room that holds just that socket.
    pub rooms: SmallVec<[Room; 2]>,
    /// Sockets in any of these rooms are left out.
    pub except: SmallVec<[Room; 2]>,
    /// How the packet is delivered.
    pub flags: BroadcastFlags,
}

impl BroadcastOptions {
    /// Every socket of the namespace, no flags.
    pub fn new() -> BroadcastOptions {
        BroadcastOptions::default()
    }

    /// Whether the options select every socket (no rooms, no exceptions).
    pub fn is_everyone(&self) -> bool {
        self.rooms.is_empty() && self.except.is_empty()
    }
}

/// How a broadcast is delivered (Node's broadcast flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastFlags {
    /// The packet may be dropped for a client that has not read what it was sent before.
    pub volatile: bool,
    /// Only this server's sockets: the adapter does not forward the operation.
    pub local: bool,
    /// The packet may be compressed (WebSocket `permessage-deflate`, when negotiated).
    pub compress: bool,
    /// How long to wait for answers: acks of a broadcast with acks, other servers' answers
    /// to a request such as `fetch_sockets` (the adapter's own timeout when `None`).
    pub timeout: Option<Duration>,
}

impl Default for BroadcastFlags {
    fn default() -> Self {
        BroadcastFlags {
            volatile: false,
            local: false,
            compress: true,
            timeout: None,
        }
    }
}

/// One event of an [`AckStream`].
#[derive(Debug)]
#[non_exhaustive]
pub enum AckEvent {
    /// This many more sockets were sent the packet and are expected to answer (one such
    /// event per server that delivered it).
    Expected(usize),
    /// One answer, or why one expected answer will not come.
    Reply(AckReply),
}

/// One socket's answer to a broadcast with acks.
#[derive(Debug)]
#[non_exhaustive]
pub struct AckReply {
    /// The socket, when it is known (sockets of other servers answer anonymously, as in
    /// Node's cluster protocol).
    pub socket: Option<Sid>,
    /// Its answer's arguments, or why there is none.
    pub result: Result<Payload, AckFailure>,
}

impl AckReply {
    /// An answer, or a failure, of `socket`.
    pub fn new(socket: Option<Sid>, result: Result<Payload, AckFailure>) -> AckReply {
        AckReply { socket, result }
    }
}

/// Why an expected ack did not come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckFailure {
    /// The socket did not answer before the timeout.
    #[error("no answer before the timeout")]
    Timeout,
    /// The socket disconnected before answering.
    #[error("the socket disconnected")]
    Disconnected,
    /// The packet could not be queued for that socket (its queue is full).
    #[error("the packet could not be sent")]
    NotSent,
    /// Other servers could not be reached: how many of their sockets would have answered is
    /// unknown. Yielded once, by [`with_unreachable`], after this server's answers.
    #[error("other servers could not be reached")]
    Unreachable,
}

/// This server's answers (`local`), then one [`AckFailure::Unreachable`] reply: what a
/// cluster adapter returns from [`Adapter::broadcast_with_ack`] when it could not ask the
/// other servers (the local part was delivered, and its answers still count).
///
/// # Examples
/// ```
/// use sockeye_core::adapter::{with_unreachable, AckStream};
/// fn redis_down(local: AckStream) -> AckStream {
///     with_unreachable(local)
/// }
/// # let _ = redis_down;
/// ```
pub fn with_unreachable(local: AckStream) -> AckStream {
    Box::pin(Unreachable {
        local: Some(local),
        done: false,
    })
}

struct Unreachable {
    local: Option<AckStream>,
    done: bool,
}

impl Stream for Unreachable {
    type Item = AckEvent;
    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<AckEvent>> {
        if let Some(local) = &mut self.local {
            match local.as_mut().poll_next(cx) {
                std::task::Poll::Ready(None) => self.local = None,
                other => return other,
            }
        }
        if self.done {
            return std::task::Poll::Ready(None);
        }
        self.done = true;
        let reply = AckReply::new(None, Err(AckFailure::Unreachable));
        std::task::Poll::Ready(Some(AckEvent::Reply(reply)))
    }
}

/// The other servers' answers to [`Adapter::server_side_emit_with_ack`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ServerAcks {
    /// Each answering server's answer, in arrival order.
    pub responses: Vec<Payload>,
    /// How many servers were expected to answer.
    pub expected: usize,
}

impl ServerAcks {
    /// Answers, and how many were expected.
    pub fn new(responses: Vec<Payload>, expected: usize) -> ServerAcks {
        ServerAcks {
            responses,
            expected,
        }
    }

    /// Whether every expected server answered.
    pub fn is_complete(&self) -> bool {
        self.responses.len() >= self.expected
    }
}

/// The answer to an event from another server that asked for one: the first call wins.
///
/// # Examples
/// ```
/// use sockeye_core::{adapter::ServerAck, Payload};
/// let ack = ServerAck::new(|p: Payload| println!("answered with {} args", p.len()));
/// ack.send(Payload::default());
/// ```
pub struct ServerAck(Box<dyn FnOnce(Payload) + Send>);

impl ServerAck {
    /// An ack that calls `f` with the answer.
    pub fn new(f: impl FnOnce(Payload) + Send + 'static) -> ServerAck {
        ServerAck(Box::new(f))
    }

    /// Sends the answer.
    pub fn send(self, answer: Payload) {
        (self.0)(answer)
    }
}

impl std::fmt::Debug for ServerAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerAck")
    }
}

/// A namespace's adapter: the way of every server-wide operation (see the [module
/// docs](self)).
///
/// Each method does its operation on this server's sockets (through the [`LocalHandle`] the
/// adapter was built with) and, unless the options say `local`, on every other server's. A
/// failure to reach other servers is an error *after* local delivery: the local part never
/// waits for them.
pub trait Adapter: Send + Sync + 'static {
    /// Starts the adapter (subscribes to the other servers' messages). Called once, in the
    /// background, when the namespace is created; `SocketIo::ready` waits for it.
    fn init(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Stops the adapter (`io.close()`, or a dynamic namespace removed).
    fn close(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// How many servers serve this namespace, this one included.
    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        Box::pin(std::future::ready(Ok(1)))
    }

    /// Called by the namespace when `room` gets its first member on this server, the room of
    /// a socket's own id included (Node's `create-room` event). An adapter that listens to
    /// other servers room by room (the sharded Redis adapter's dynamic mode) subscribes here.
    /// It may be called with the namespace's room index locked: it must return at once and
    /// must not call back into the [`LocalHandle`].
    fn room_created(&self, room: &str) {
        let _ = room;
    }

    /// Called by the namespace when the last member of `room` on this server leaves it (Node's
    /// `delete-room` event); see [`Adapter::room_created`].
    fn room_deleted(&self, room: &str) {
        let _ = room;
    }

    /// Delivers `packet` to the sockets `opts` selects on every server (Node's
    /// `broadcast`). The packet crosses to other servers once, not once per socket.
    ///
    /// Answers how many of this server's sockets it was queued for: what
    /// [`LocalHandle::broadcast`] returned (other servers' deliveries are not counted, and
    /// are not waited for).
    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<usize, AdapterError>>;

    /// Delivers `packet` asking each selected socket for an ack (Node's
    /// `broadcastWithAck`); the stream says how many answers to expect, then yields them,
    /// and ends after `timeout`.
    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<AckStream, AdapterError>>;

    /// The sockets `opts` selects on every server (Node's `fetchSockets`).
    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>>;

    /// Makes the sockets `opts` selects join `rooms`, on every server (Node's `addSockets`).
    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;

    /// Makes the sockets `opts` selects leave `rooms`, on every server (Node's `delSockets`).
    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;

    /// Disconnects the sockets `opts` selects, on every server, closing their connections
    /// when `close` (Node's `disconnectSockets`).
    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;

    /// Every room that has a member on some server (Node's `allRooms`).
    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>>;

    /// Sends an event to the *other* servers' handlers of this namespace (Node's
    /// `serverSideEmit`); this server's handlers are not called.
    fn server_side_emit(
        &self,
        event: String,
        args: Payload,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;

    /// [`Adapter::server_side_emit`], collecting one answer per other server, for at most
    /// `timeout`.
    fn server_side_emit_with_ack(
        &self,
        event: String,
        args: Payload,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<ServerAcks, AdapterError>>;

    /// Keeps the session of a socket whose connection dropped, for at most the
    /// [`ConnectionStateRecovery::max_disconnection_duration`] of the [`LocalHandle`] (Node's
    /// `persistSession`). Called only when recovery is on, and only for the reasons that allow
    /// it (the transport closed or failed, a ping timeout, a forced close, the server shutting
    /// down); a session with the same pid is replaced. By default nothing is kept.
    ///
    /// An adapter that keeps sessions elsewhere implements both this and
    /// [`Adapter::restore_session`]; one that wraps another forwards both (see the [module
    /// docs](self)).
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use sockeye_core::adapter::{Adapter, LocalAdapter, Session};
    /// use sockeye_core::{value::Value, Sid};
    /// # async fn f(adapter: Arc<LocalAdapter>) {
    /// let sid = Sid::new();
    /// let session = Session::new(sid, Sid::new(), vec![sid.to_string().into()], Value::Null);
    /// adapter.persist_session(session).await.unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    /// When the session cannot be stored (the namespace logs it; the client will get a new
    /// session).
    fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
        let _ = session;
        Box::pin(std::future::ready(Ok(())))
    }

    /// Gives back the session `pid` and the packets broadcast after `offset` (the last offset
    /// its client got) that its rooms select, oldest first (Node's `restoreSession`); `None`
    /// when there is no such session, it expired, or `offset` is unknown (too old, or not an
    /// offset of this adapter), and the client then gets a new session. `offset` is text the
    /// client sent: check it. By default nothing is found.
    ///
    /// Each missed packet goes to the client once and in order, then live broadcasts follow:
    /// the namespace holds [`LocalHandle::delivery_lock`] from this call until the restored
    /// socket receives live broadcasts, provided the returned future is ready when first
    /// polled (it is for [`LocalAdapter`]); an adapter that keeps packets holds the same lock
    /// from the moment it gives a packet its offset until it kept it.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::adapter::Adapter;
    /// use sockeye_core::Sid;
    /// # async fn f(adapter: &dyn Adapter, pid: Sid) {
    /// // `pid` and the offset as a reconnecting client sends them in its auth payload.
    /// match adapter.restore_session(pid, "MsR7a3l".into()).await {
    ///     Ok(Some(r)) => println!("{} is back, {} packets missed", r.session.sid, r.missed.len()),
    ///     Ok(None) => println!("a new session"),
    ///     Err(e) => println!("{e}"),
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// When the store cannot be reached (the namespace logs it; the client gets a new
    /// session).
    fn restore_session(
        &self,
        pid: Sid,
        offset: String,
    ) -> BoxFuture<'_, Result<Option<RestoredSession>, AdapterError>> {
        let _ = (pid, offset);
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// This server's side of a namespace, as its adapter sees it: the operations of
/// [`Adapter`] done on the sockets connected here, and nowhere else.
///
/// The `sockeye` crate implements it for its namespaces; adapters reach it through a
/// [`LocalHandle`].
pub trait LocalNamespace: Send + Sync + 'static {
    /// The namespace's name, e.g. `/`.
    fn name(&self) -> &str;

    /// Delivers `packet` to the local sockets `opts` selects; returns how many were sent it.
    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) -> usize;

    /// Delivers `packet` asking each selected local socket for an ack. The stream starts
    /// with one [`AckEvent::Expected`] (the number of sockets sent it), then yields each
    /// answer, and ends when all came or at `timeout` (after a timeout failure for each
    /// socket that did not answer).
    fn broadcast_with_ack(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> AckStream;

    /// The local sockets `opts` selects.
    fn fetch_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo>;

    /// The ids of the local sockets `opts` selects.
    fn socket_ids(&self, opts: &BroadcastOptions) -> Vec<Sid>;

    /// Makes the local sockets `opts` selects join `rooms`.
    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]);

    /// Makes the local sockets `opts` selects leave `rooms`.
    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]);

    /// Disconnects the local sockets `opts` selects (closing their connections when `close`).
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool);

    /// The rooms that have a local member.
    fn rooms(&self) -> Vec<Room>;

    /// Runs this server's handlers of an event sent by another server; `ack` answers it when
    /// the sender asked for an answer.
    fn server_side_emit(&self, event: &str, args: Payload, ack: Option<ServerAck>);
}

/// A handle on this server's side of a namespace (see [`LocalNamespace`]), given to its
/// adapter. It does not keep the namespace alive: once the namespace is gone, every
/// operation does nothing and reports no sockets.
#[derive(Clone)]
pub struct LocalHandle {
    ns: Weak<dyn LocalNamespace>,
    name: Arc<str>,
    shared: Arc<HandleShared>,
}

/// What the namespace and its adapter share besides the namespace itself.
#[derive(Default)]
struct HandleShared {
    recovery: Option<ConnectionStateRecovery>,
    /// Orders kept broadcasts with session restores (see [`LocalHandle::delivery_lock`]).
    /// Reentrant: delivering can run application code (a disconnect handler of a client
    /// whose queue overflowed) that broadcasts on the same thread.
    delivery: parking_lot::ReentrantMutex<()>,
}

/// The guard of [`LocalHandle::delivery_lock`]: the lock is held until it is dropped.
///
/// # Examples
/// ```
/// # fn f(local: &sockeye_core::adapter::LocalHandle) {
/// {
///     let _order = local.delivery_lock();
///     // number, deliver and keep a packet here
/// } // released
/// # }
/// ```
#[must_use = "the lock is released when the guard is dropped"]
pub struct DeliveryGuard<'a> {
    _guard: parking_lot::ReentrantMutexGuard<'a, ()>,
}

impl std::fmt::Debug for DeliveryGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliveryGuard")
    }
}

impl std::fmt::Debug for LocalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHandle")
            .field("ns", &self.name)
            .finish()
    }
}

impl LocalHandle {
    /// A handle on `ns`.
    pub fn new(ns: Weak<dyn LocalNamespace>, name: &str) -> LocalHandle {
        LocalHandle {
            ns,
            name: name.into(),
            shared: Arc::default(),
        }
    }

    /// The same handle, for a namespace whose server has connection state recovery on (the
    /// namespace makes its handle this way, before its adapter).
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, Weak};
    /// use sockeye_core::adapter::{ConnectionStateRecovery, LocalHandle, LocalNamespace};
    /// fn handle(ns: Weak<dyn LocalNamespace>) -> LocalHandle {
    ///     LocalHandle::new(ns, "/").with_recovery(ConnectionStateRecovery::new())
    /// }
    /// ```
    pub fn with_recovery(mut self, config: ConnectionStateRecovery) -> LocalHandle {
        self.shared = Arc::new(HandleShared {
            recovery: Some(config),
            delivery: parking_lot::ReentrantMutex::new(()),
        });
        self
    }

    /// The connection state recovery of the namespace's server, when it is on: an adapter
    /// that keeps sessions reads its bounds and window here.
    ///
    /// # Examples
    /// ```
    /// # fn f(local: &sockeye_core::adapter::LocalHandle) {
    /// if let Some(r) = local.recovery() {
    ///     println!("sessions kept for {:?}", r.max_disconnection_duration);
    /// }
    /// # }
    /// ```
    pub fn recovery(&self) -> Option<&ConnectionStateRecovery> {
        self.shared.recovery.as_ref()
    }

    /// Locks the order of this namespace's kept broadcasts against session restores: an
    /// adapter holds it from giving a packet its offset until it has delivered and kept it,
    /// and the namespace holds it from asking for a session until the restored socket is
    /// live, so that a restored client gets each packet once (among the missed ones or live)
    /// and in order. It is reentrant (the same thread may take it again) and must not be held
    /// across an `.await`.
    ///
    /// # Examples
    /// ```
    /// # fn f(local: &sockeye_core::adapter::LocalHandle, packet: sockeye_core::adapter::BroadcastPacket, opts: sockeye_core::adapter::BroadcastOptions) {
    /// let _order = local.delivery_lock();
    /// let packet = packet.with_offset("MsR7a3l");
    /// local.broadcast(&packet, &opts);
    /// // ... keep `packet` while still holding the lock
    /// # }
    /// ```
    pub fn delivery_lock(&self) -> DeliveryGuard<'_> {
        DeliveryGuard {
            _guard: self.shared.delivery.lock(),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace, while it exists.
    pub fn get(&self) -> Option<Arc<dyn LocalNamespace>> {
        self.ns.upgrade()
    }

    /// See [`LocalNamespace::broadcast`].
    pub fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) -> usize {
        self.get().map_or(0, |ns| ns.broadcast(packet, opts))
    }

    /// See [`LocalNamespace::broadcast_with_ack`].
    pub fn broadcast_with_ack(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> AckStream {
        match self.get() {
            Some(ns) => ns.broadcast_with_ack(packet, opts, timeout),
            None => Box::pin(Once(Some(AckEvent::Expected(0)))),
        }
    }

    /// See [`LocalNamespace::fetch_sockets`].
    pub fn fetch_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.get()
            .map_or_else(Vec::new, |ns| ns.fetch_sockets(opts))
    }

    /// See [`LocalNamespace::socket_ids`].
    pub fn socket_ids(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        self.get().map_or_else(Vec::new, |ns| ns.socket_ids(opts))
    }

    /// See [`LocalNamespace::add_sockets`].
    pub fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        if let Some(ns) = self.get() {
            ns.add_sockets(opts, rooms);
        }
    }

    /// See [`LocalNamespace::del_sockets`].
    pub fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        if let Some(ns) = self.get() {
            ns.del_sockets(opts, rooms);
        }
    }

    /// See [`LocalNamespace::disconnect_sockets`].
    pub fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        if let Some(ns) = self.get() {
            ns.disconnect_sockets(opts, close);
        }
    }

    /// See [`LocalNamespace::rooms`].
    pub fn rooms(&self) -> Vec<Room> {
        self.get().map_or_else(Vec::new, |ns| ns.rooms())
    }

    /// See [`LocalNamespace::server_side_emit`].
    pub fn server_side_emit(&self, event: &str, args: Payload, ack: Option<ServerAck>) {
        if let Some(ns) = self.get() {
            ns.server_side_emit(event, args, ack);
        }
    }
}

/// A stream of at most one item.
struct Once(Option<AckEvent>);

impl Stream for Once {
    type Item = AckEvent;
    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<AckEvent>> {
        std::task::Poll::Ready(self.0.take())
    }
}

/// Makes the adapter of each namespace, from the namespace's [`LocalHandle`].
pub type AdapterFactory = Arc<dyn Fn(LocalHandle) -> Arc<dyn Adapter> + Send + Sync>;
