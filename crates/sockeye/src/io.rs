//! The server handle and its builder.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::RwLock;
use serde::Serialize;
use sockeye_engineio::{
    Cors, Engine, EngineConfig, HttpCompression, OverflowPolicy, PerMessageDeflate,
};

use sockeye_core::adapter::{
    AckReply, AckStream, Adapter, ConnectionStateRecovery, LocalAdapter, LocalHandle,
};
use sockeye_core::{AdapterError, IntoRooms, Payload};

use crate::client::IoHandler;
use crate::errors::{EmitError, ServerAckError};
use crate::handler::{
    box_connect, BoxedConnectHandler, BoxedMiddleware, ConnectHandler, Middleware,
};
use crate::ns::Namespace;
use crate::operators::{BroadcastOperator, RemoteSocket};
use crate::server_event::{ServerEvent, ServerHandlers};
use crate::service::{NotFound, SocketIoLayer, SocketIoService};
use crate::socket::SocketRef;
use crate::static_files::ClientBundle;

pub use sockeye_core::adapter::AdapterFactory;

/// Socket.IO options (the Engine.IO ones are in [`EngineConfig`]).
#[derive(Clone)]
pub(crate) struct SocketIoConfig {
    pub(crate) connect_timeout: Duration,
    pub(crate) ack_timeout: Duration,
    pub(crate) max_attachments: usize,
    pub(crate) max_attachment_bytes: usize,
    pub(crate) partial_timeout: Duration,
    pub(crate) max_waiting_handlers: usize,
    pub(crate) max_namespaces: usize,
    pub(crate) recovery: Option<ConnectionStateRecovery>,
}

struct DynNs {
    matcher: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    handler: BoxedConnectHandler,
    middlewares: Arc<RwLock<Vec<BoxedMiddleware>>>,
    server_handlers: ServerHandlers,
}

pub(crate) struct IoInner {
    pub(crate) config: SocketIoConfig,
    pub(crate) state: http::Extensions,
    pub(crate) adapter_factory: AdapterFactory,
    nsps: RwLock<HashMap<String, Arc<Namespace>>>,
    dyn_nsps: RwLock<Vec<DynNs>>,
    engine: OnceLock<Engine<IoHandler>>,
    self_ref: std::sync::Weak<IoInner>,
}

impl IoInner {
    fn arc(&self) -> Arc<IoInner> {
        // The inner value is only reachable through an Arc.
        self.self_ref.upgrade().unwrap_or_else(|| unreachable!())
    }

    pub(crate) fn get_or_create_ns(&self, name: &str) -> Option<Arc<Namespace>> {
        if let Some(ns) = self.nsps.read().get(name) {
            return Some(ns.clone());
        }
        if name.len() > 256 {
            return None;
        }
        let dyns = self.dyn_nsps.read();
        let d = dyns.iter().find(|d| (d.matcher)(name))?;
        let (handler, middlewares) = (d.handler.clone(), d.middlewares.clone());
        let server_handlers = d.server_handlers.clone();
        drop(dyns);
        let mut nsps = self.nsps.write();
        if let Some(ns) = nsps.get(name) {
            return Some(ns.clone());
        }
        let ns = Namespace::new(
            name.to_owned(),
            self.arc(),
            handler,
            middlewares,
            server_handlers,
            true,
        );
        nsps.insert(name.to_owned(), ns.clone());
        Some(ns)
    }

    pub(crate) fn remove_child_ns(&self, name: &str) {
        let removed = {
            let mut nsps = self.nsps.write();
            match nsps.get(name) {
                Some(ns) if ns.socket_count() == 0 => nsps.remove(name),
                _ => None,
            }
        };
        if let Some(ns) = removed {
            crate::handler::run(async move { ns.close_adapter().await });
        }
    }

    fn namespaces(&self) -> Vec<Arc<Namespace>> {
        self.nsps.read().values().cloned().collect()
    }
}

/// The server handle: namespaces, broadcasts, shutdown. Cheap to clone.
///
/// # Examples
/// The tutorial's reversing echo, mounted in axum:
/// ```no_run
/// use sockeye::{SocketIo, SocketRef, extract::Data};
///
/// # async fn run() -> std::io::Result<()> {
/// let (layer, io) = SocketIo::new_layer();
/// io.ns("/", |socket: SocketRef| {
///     socket.on("message", |socket: SocketRef, Data(text): Data<String>| async move {
///         println!("Socket ID: {}\n{text}", socket.id());
///         let reversed: String = text.chars().rev().collect();
///         let _ = socket.io().emit("message", &reversed).await;
///     });
/// });
/// let app = axum::Router::new().layer(layer);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<IoInner>,
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo")
            .field("namespaces", &self.inner.nsps.read().len())
            .finish_non_exhaustive()
    }
}

impl SocketIo {
    pub(crate) fn from_inner(inner: Arc<IoInner>) -> SocketIo {
        SocketIo { inner }
    }

    /// A builder with the default options.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::new()
    }

    /// A layer with the default options, and its handle.
    pub fn new_layer() -> (SocketIoLayer, SocketIo) {
        SocketIoBuilder::new().build_layer()
    }

    /// A standalone service (404 for other paths) with the default options, and its handle.
    pub fn new_svc() -> (SocketIoService<NotFound>, SocketIo) {
        SocketIoBuilder::new().build_svc()
    }

    /// Declares a namespace and its connect handler. Declaring it again replaces its handler
    /// (and starts its middlewares and server-side event handlers afresh); its sockets, rooms
    /// and adapter stay.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// use sockeye::{SocketRef, extract::Data};
    /// io.ns("/chat", |socket: SocketRef, Data(auth): Data<serde_json::Value>| {
    ///     println!("{} joined with {auth}", socket.id());
    /// });
    /// # }
    /// ```
    pub fn ns<H: ConnectHandler<M>, M>(&self, path: impl Into<String>, handler: H) -> NsHandle {
        let name = normalize(path.into());
        let mut nsps = self.inner.nsps.write();
        let ns = match nsps.get(&name) {
            // Declared again (`/` is declared by the builder): the new handler replaces the
            // old; the namespace, its sockets and its adapter stay.
            Some(ns) => {
                ns.redeclare(box_connect(handler));
                ns.clone()
            }
            None => {
                let ns = Namespace::new(
                    name.clone(),
                    self.inner.clone(),
                    box_connect(handler),
                    Arc::new(RwLock::new(Vec::new())),
                    ServerHandlers::default(),
                    false,
                );
                nsps.insert(name, ns.clone());
                ns
            }
        };
        NsHandle {
            target: NsTarget::Static(ns),
        }
    }

    /// Declares dynamic namespaces: every name `matcher` accepts is created on first connect,
    /// with this handler, and removed when its last socket leaves (with connection state
    /// recovery on, `max_disconnection_duration` later if it is still empty then, so that its
    /// adapter keeps the sessions of the clients that may come back).
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// use sockeye::SocketRef;
    /// io.dyn_ns(|name| name.starts_with("/room-"), |socket: SocketRef| {
    ///     println!("joined {}", socket.ns().name());
    /// });
    /// # }
    /// ```
    pub fn dyn_ns<H: ConnectHandler<M>, M>(
        &self,
        matcher: impl Fn(&str) -> bool + Send + Sync + 'static,
        handler: H,
    ) -> NsHandle {
        let middlewares = Arc::new(RwLock::new(Vec::new()));
        let server_handlers = ServerHandlers::default();
        self.inner.dyn_nsps.write().push(DynNs {
            matcher: Arc::new(matcher),
            handler: box_connect(handler),
            middlewares: middlewares.clone(),
            server_handlers: server_handlers.clone(),
        });
        NsHandle {
            target: NsTarget::Dynamic(middlewares, server_handlers),
        }
    }

    /// A namespace by name.
    pub fn of(&self, path: &str) -> Option<BroadcastOperator> {
        let ns = self.inner.nsps.read().get(path).cloned()?;
        Some(ns.operator())
    }

    fn root(&self) -> BroadcastOperator {
        match self.of("/") {
            Some(op) => op,
            None => self.ns("/", || {}).operator(),
        }
    }

    /// Selects the sockets of `/` in `rooms`.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.root().to(rooms)
    }

    /// Selects the sockets of `/` not in `rooms`.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.root().except(rooms)
    }

    /// Only this server's sockets of `/`.
    pub fn local(&self) -> BroadcastOperator {
        self.root().local()
    }

    /// Volatile emits to `/`.
    pub fn volatile(&self) -> BroadcastOperator {
        self.root().volatile()
    }

    /// A timeout for an emit with ack to `/`.
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.root().timeout(timeout)
    }

    /// Emits to `/` with Node's `compress` flag (see [`BroadcastOperator::compress`]).
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.root().compress(compress)
    }

    /// Emits to every socket of `/`.
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit`].
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.root().emit(event, data).await
    }

    /// Emits to every socket of `/`, on every server, and collects their acks (see
    /// [`BroadcastOperator::emit_with_ack`]).
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit_with_ack`].
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<AckReply>, EmitError> {
        self.root().emit_with_ack(event, data).await
    }

    /// Emits to every socket of `/`, on every server, and streams their acks (see
    /// [`BroadcastOperator::emit_with_ack_stream`]).
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit_with_ack`].
    pub async fn emit_with_ack_stream<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<AckStream, EmitError> {
        self.root().emit_with_ack_stream(event, data).await
    }

    /// The sockets of `/` on this server.
    pub fn sockets(&self) -> Vec<SocketRef> {
        self.root().sockets()
    }

    /// The sockets of `/` on every server (see [`BroadcastOperator::fetch_sockets`]).
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, EmitError> {
        self.root().fetch_sockets().await
    }

    /// Makes every socket of `/`, on every server, join `rooms` (Node's `socketsJoin`).
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.root().sockets_join(rooms).await
    }

    /// Makes every socket of `/`, on every server, leave `rooms` (Node's `socketsLeave`).
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.root().sockets_leave(rooms).await
    }

    /// Disconnects every socket of `/`, on every server (Node's `disconnectSockets`).
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitError> {
        self.root().disconnect_sockets(close).await
    }

    /// Sends an event to the handlers of `/` on every other server (see
    /// [`Namespace::server_side_emit`]).
    ///
    /// # Errors
    /// As [`Namespace::server_side_emit`].
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.root().ns().server_side_emit(event, data).await
    }

    /// Sends an event to the handlers of `/` on every other server and collects their answers
    /// (see [`Namespace::server_side_emit_with_ack`]).
    ///
    /// # Errors
    /// As [`Namespace::server_side_emit_with_ack`].
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<Vec<Payload>, ServerAckError> {
        self.root()
            .ns()
            .server_side_emit_with_ack(event, data, timeout)
            .await
    }

    /// Handles an event that another server sent to `/` with
    /// [`SocketIo::server_side_emit`] (replacing any handler it had).
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// io.on_server_event("cache:invalidate", |ev: sockeye::ServerEvent| {
    ///     println!("invalidate {:?}", ev.args().arg::<String>(0));
    /// });
    /// # }
    /// ```
    pub fn on_server_event(
        &self,
        event: impl Into<String>,
        handler: impl Fn(ServerEvent) + Send + Sync + 'static,
    ) {
        self.root()
            .ns()
            .server_handlers()
            .write()
            .insert(event.into(), Arc::new(handler));
    }

    /// How many servers serve `/` (this one included; 1 without a cluster adapter).
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn server_count(&self) -> Result<usize, AdapterError> {
        self.root().ns().adapter().server_count().await
    }

    /// Waits until the adapter of every namespace declared so far has started (a cluster
    /// adapter has subscribed to the other servers); the first error, if any.
    ///
    /// # Errors
    /// The first adapter's that could not start.
    pub async fn ready(&self) -> Result<(), AdapterError> {
        for ns in self.inner.namespaces() {
            ns.ready().await?;
        }
        Ok(())
    }

    /// How many Engine.IO connections are open.
    pub fn connection_count(&self) -> usize {
        self.inner.engine.get().map_or(0, |e| e.session_count())
    }

    /// Closes every connection (reason `server shutting down`): clients get a clean close;
    /// the adapters are closed in the background. See [`SocketIo::shutdown`] to wait for it.
    pub fn close(&self) {
        if let Some(e) = self.inner.engine.get() {
            e.close_all();
        }
        for ns in self.inner.namespaces() {
            crate::handler::run(async move { ns.close_adapter().await });
        }
    }

    /// Closes every connection and waits, at most `timeout`, until each has written its close
    /// and ended. Returns whether all ended in time. New clients are refused from the call on
    /// (their handshake gets `403`, and they reconnect later or elsewhere); the last poll of a
    /// closing polling client is still answered, so keep the listener accepting until this
    /// returns (as [`serve`](crate::serve)'s shutdown future can).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(io: sockeye::SocketIo) {
    /// io.shutdown(std::time::Duration::from_secs(3)).await;
    /// # }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        let done = match self.inner.engine.get() {
            Some(e) => e.shutdown(timeout).await,
            None => true,
        };
        for ns in self.inner.namespaces() {
            let _ = tokio::time::timeout(timeout, ns.close_adapter()).await;
        }
        done
    }
}

fn normalize(mut name: String) -> String {
    if !name.starts_with('/') {
        name.insert(0, '/');
    }
    name
}

enum NsTarget {
    Static(Arc<Namespace>),
    Dynamic(Arc<RwLock<Vec<BoxedMiddleware>>>, ServerHandlers),
}

/// A declared namespace, to add connect middlewares to.
pub struct NsHandle {
    target: NsTarget,
}

impl std::fmt::Debug for NsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsHandle").finish_non_exhaustive()
    }
}

impl NsHandle {
    /// Adds a connect middleware. Middlewares run in order before the connect handler; one
    /// that returns an error refuses the client with a `connect_error`.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// use sockeye::{SocketRef, extract::{Data, Refusal}};
    /// io.ns("/", |_: SocketRef| {}).with(|Data(auth): Data<serde_json::Value>| async move {
    ///     if auth["token"] == "secret" { Ok(()) } else { Err(Refusal::new("unauthorized")) }
    /// });
    /// # }
    /// ```
    pub fn with<M: Middleware<T>, T>(self, middleware: M) -> NsHandle {
        match &self.target {
            NsTarget::Static(ns) => ns.add_middleware(middleware),
            NsTarget::Dynamic(list, _) => list
                .write()
                .push(crate::handler::box_middleware(middleware)),
        }
        self
    }

    /// Handles an event that another server sends to this namespace (or, for dynamic
    /// namespaces, to each of them) with `server_side_emit`.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// use sockeye::{ServerEvent, SocketRef};
    /// io.ns("/chat", |_: SocketRef| {}).on_server_event("ping", |ev: ServerEvent| {
    ///     let _ = ev.ack(&"pong");
    /// });
    /// # }
    /// ```
    pub fn on_server_event(
        self,
        event: impl Into<String>,
        handler: impl Fn(ServerEvent) + Send + Sync + 'static,
    ) -> NsHandle {
        let handlers = match &self.target {
            NsTarget::Static(ns) => ns.server_handlers().clone(),
            NsTarget::Dynamic(_, h) => h.clone(),
        };
        handlers.write().insert(event.into(), Arc::new(handler));
        self
    }

    fn operator(&self) -> BroadcastOperator {
        match &self.target {
            NsTarget::Static(ns) => ns.operator(),
            NsTarget::Dynamic(..) => unreachable!("only static namespaces have an operator"),
        }
    }
}

/// Builds a Socket.IO server. Every option documents its default.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use sockeye::SocketIo;
/// let (layer, io) = SocketIo::builder()
///     .ping_interval(Duration::from_secs(10))
///     .max_payload(100_000)
///     .build_layer();
/// # let _ = (layer, io);
/// ```
#[must_use]
pub struct SocketIoBuilder {
    engine: EngineConfig,
    config: SocketIoConfig,
    state: http::Extensions,
    adapter_factory: AdapterFactory,
    bundle: Option<ClientBundle>,
}

impl Default for SocketIoBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SocketIoBuilder {
    /// The defaults (those of Node's socket.io).
    pub fn new() -> SocketIoBuilder {
        SocketIoBuilder {
            engine: EngineConfig::default(),
            config: SocketIoConfig {
                connect_timeout: Duration::from_secs(45),
                ack_timeout: Duration::from_secs(5),
                max_attachments: 10,
                max_attachment_bytes: 10_000_000,
                partial_timeout: Duration::from_secs(45),
                max_waiting_handlers: 256,
                max_namespaces: 64,
                recovery: None,
            },
            state: http::Extensions::new(),
            adapter_factory: Arc::new(|local| Arc::new(LocalAdapter::new(local))),
            bundle: None,
        }
    }

    /// The endpoint path. Default `/socket.io/`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let mut p = path.into();
        if !p.ends_with('/') {
            p.push('/');
        }
        self.engine.path = p;
        self
    }

    /// How often the server pings. Default 25 s.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.engine.ping_interval = d;
        self
    }

    /// How long a client has to answer a ping. Default 20 s. Also how long a closed
    /// session's WebSocket connection waits for its client to read what is left to write
    /// (a client that stopped reading), before it ends without it.
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.engine.ping_timeout = d;
        self
    }

    /// How long a WebSocket upgrade may take. Default 10 s.
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.engine.upgrade_timeout = d;
        self
    }

    /// How long a client has to join a namespace after connecting. Default 45 s.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self.config.partial_timeout = d;
        self
    }

    /// How many of one connection's async event handlers may be waiting at once (started,
    /// not finished). At the limit Sockeye stops reading that connection (TCP flow control
    /// then slows the client; over polling, the rest of a POST's packets wait, and so does
    /// its answer) until one of them finishes, so a client cannot pile up work on the server
    /// faster than its handlers complete.
    /// Handlers that finish without waiting, and all sync handlers, do not count. Default 256.
    ///
    /// # Examples
    /// ```
    /// let (layer, io) = sockeye::SocketIo::builder().max_waiting_handlers(64).build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn max_waiting_handlers(mut self, n: usize) -> Self {
        self.config.max_waiting_handlers = n.max(1);
        self
    }

    /// How many namespaces one connection may have joined or be joining at once. A `CONNECT`
    /// past it is answered with a `connect_error` ("Too many namespaces") and creates
    /// nothing, not even a child of a dynamic namespace. Default 64 (Node has no such bound).
    ///
    /// # Examples
    /// ```
    /// let (layer, io) = sockeye::SocketIo::builder().max_namespaces_per_connection(8).build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn max_namespaces_per_connection(mut self, n: usize) -> Self {
        self.config.max_namespaces = n.max(1);
        self
    }

    /// Turns on connection state recovery (Node's `connectionStateRecovery`; off by default,
    /// as in Node): a client whose connection drops and that comes back within
    /// `max_disconnection_duration` (default 2 minutes) gets its socket id, rooms and data
    /// back, and every broadcast it missed meanwhile, in order and once, before its
    /// `connect` event; [`Socket::recovered`](crate::Socket::recovered) is then true, and
    /// the connect middlewares are skipped unless `skip_middlewares` is false.
    ///
    /// It changes what clients receive, as in Node: the CONNECT acknowledgement carries a
    /// private session id (`pid`), and every emit that may be asked for again (a broadcast or
    /// an emit to one socket, not volatile, without ack) carries an offset as its last
    /// argument (socket.io-client takes it off; other clients see one more string argument).
    /// Those packets are kept by the namespace's adapter for the window, within the bounds of
    /// [`ConnectionStateRecovery`] (per namespace: 10,000 sessions, 10,000 packets, 16 MiB by
    /// default; past them the oldest go, and their clients get a new session). A session is
    /// kept only when the connection dropped (transport closed or failed, ping timeout,
    /// forced close, server shutdown), not when the client or the server left the namespace.
    /// The missed packets go into the client's outbound queue like any others: a client that
    /// missed more than `max_queued_bytes` is handled by the overflow policy (disconnected,
    /// by default).
    ///
    /// The default adapter, [`LocalAdapter`], keeps sessions and packets in memory; an adapter
    /// that does not implement [`Adapter::persist_session`] and [`Adapter::restore_session`]
    /// keeps none (see [`crate::adapter`]).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use sockeye::{ConnectionStateRecovery, SocketIo};
    /// let (layer, io) = SocketIo::builder()
    ///     .connection_state_recovery(
    ///         ConnectionStateRecovery::new().max_disconnection_duration(Duration::from_secs(30)),
    ///     )
    ///     .build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn connection_state_recovery(mut self, config: ConnectionStateRecovery) -> Self {
        self.config.recovery = Some(config);
        self
    }

    /// The default timeout of emits with ack. Default 5 s.
    pub fn ack_timeout(mut self, d: Duration) -> Self {
        self.config.ack_timeout = d;
        self
    }

    /// The largest message a client may send, in bytes (Node's `maxHttpBufferSize`): a
    /// polling body or a WebSocket message. Default 1,000,000.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.engine.max_payload = bytes;
        self.config.max_attachment_bytes = bytes.saturating_mul(10);
        self
    }

    /// The most binary attachments one packet may have. Default 10.
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.config.max_attachments = n;
        self
    }

    /// The most bytes queued for one client. Default 8 MiB.
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.engine.max_queued_bytes = bytes;
        self
    }

    /// What to do with a client whose queue is full. Default: disconnect it.
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.engine.overflow = policy;
        self
    }

    /// WebSocket compression (`permessage-deflate`, RFC 7692), as Node's `perMessageDeflate`:
    /// negotiated with the clients that offer it (browsers always do; socket.io-client in
    /// Node does by default). Default: off, as in socket.io 4. Messages from 1024 bytes are
    /// compressed (see [`PerMessageDeflate`] for the threshold, context takeover and windows,
    /// and the README for what it costs per connection).
    ///
    /// # Examples
    /// ```
    /// use sockeye::{PerMessageDeflate, SocketIo};
    /// let (layer, io) = SocketIo::builder()
    ///     // Each message compressed alone: no compressor per connection, and a broadcast
    ///     // compressed once for all its clients.
    ///     .per_message_deflate(PerMessageDeflate::new().server_no_context_takeover(true))
    ///     .build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn per_message_deflate(mut self, config: PerMessageDeflate) -> Self {
        self.engine.per_message_deflate = Some(config);
        self
    }

    /// gzip/deflate compression of long-polling responses by `Accept-Encoding`, as Node's
    /// `httpCompression`; `None` turns it off. Default: on, from 1024 bytes (as in Node).
    ///
    /// # Examples
    /// ```
    /// use sockeye::SocketIo;
    /// let (layer, io) = SocketIo::builder().http_compression(None).build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn http_compression(mut self, config: Option<HttpCompression>) -> Self {
        self.engine.http_compression = config;
        self
    }

    /// The most open connections; further handshakes get HTTP 403. Default: no limit.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.engine.max_connections = Some(n);
        self
    }

    /// Whether Engine.IO v3 / Socket.IO v4-protocol clients (socket.io-client 1.x and 2.x,
    /// python-socketio 4.x) are served, like Node's `allowEIO3`. Default false.
    pub fn allow_eio3(mut self, on: bool) -> Self {
        self.engine.allow_eio3 = on;
        self
    }

    /// Which transports are offered. Default: both.
    pub fn transports(mut self, polling: bool, websocket: bool) -> Self {
        self.engine.polling = polling;
        self.engine.websocket = websocket;
        self
    }

    /// Cross-origin rules. Default: no CORS headers (same-origin pages only).
    pub fn cors(mut self, cors: Cors) -> Self {
        self.engine.cors = cors;
        self
    }

    /// A hook that accepts (true) or refuses (false, HTTP 403) each handshake.
    pub fn allow_request(
        mut self,
        f: impl Fn(&http::request::Parts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.engine.allow_request = Some(Arc::new(f));
        self
    }

    /// Shared state for the [`crate::extract::State`] extractor.
    pub fn with_state<T: Clone + Send + Sync + 'static>(mut self, state: T) -> Self {
        self.state.insert(state);
        self
    }

    /// The adapter of each namespace, made from the namespace's [`LocalHandle`] (see
    /// [`crate::adapter`]). Default: [`LocalAdapter`], for a server that runs alone.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use sockeye::adapter::{Adapter, LocalAdapter, LocalHandle};
    /// let (layer, io) = sockeye::SocketIo::builder()
    ///     .adapter(|local: LocalHandle| -> Arc<dyn Adapter> { Arc::new(LocalAdapter::new(local)) })
    ///     .build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn adapter(
        mut self,
        factory: impl Fn(LocalHandle) -> Arc<dyn Adapter> + Send + Sync + 'static,
    ) -> Self {
        self.adapter_factory = Arc::new(factory);
        self
    }

    /// Serves the official client bundle (`socket.io.js`, `socket.io.min.js` and their
    /// source maps) from `dir` under the endpoint path, like Node's `serveClient`.
    /// Default: not served.
    pub fn serve_client(mut self, bundle: ClientBundle) -> Self {
        self.bundle = Some(bundle);
        self
    }

    /// Sets the whole Engine.IO configuration at once.
    pub fn engine_config(mut self, config: EngineConfig) -> Self {
        self.engine = config;
        self
    }

    fn build(self) -> (Engine<IoHandler>, SocketIo, Option<ClientBundle>) {
        let inner = Arc::new_cyclic(|w| IoInner {
            config: self.config,
            state: self.state,
            adapter_factory: self.adapter_factory,
            nsps: RwLock::new(HashMap::new()),
            dyn_nsps: RwLock::new(Vec::new()),
            engine: OnceLock::new(),
            self_ref: w.clone(),
        });
        let engine = Engine::new(IoHandler(inner.clone()), self.engine);
        let _ = inner.engine.set(engine.clone());
        let io = SocketIo { inner };
        // `/` always exists, as in Node: a client may join it before (or without) `io.ns("/")`.
        io.ns("/", || {});
        (engine, io, self.bundle)
    }

    /// A layer (to wrap an axum router or any tower service) and the handle.
    pub fn build_layer(self) -> (SocketIoLayer, SocketIo) {
        let (engine, io, bundle) = self.build();
        (SocketIoLayer::new(engine, bundle), io)
    }

    /// A standalone service (404 for other paths) and the handle.
    pub fn build_svc(self) -> (SocketIoService<NotFound>, SocketIo) {
        let (engine, io, bundle) = self.build();
        (SocketIoService::new(engine, bundle, NotFound), io)
    }
}
