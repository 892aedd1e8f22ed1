//! The server handle and its builder.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::RwLock;
use serde::Serialize;
use sockeye_engineio::{
    AllowRequest, ConnectionError, Cookie, Cors, Engine, EngineConfig, HttpCompression,
    OverflowPolicy, PerMessageDeflate, RequestRefusal,
};

use sockeye_core::adapter::{
    AckReply, AckStream, Adapter, ConnectionStateRecovery, LocalAdapter, LocalHandle,
};
use sockeye_core::parser::{DecodeLimits, JsonParser, Parser};
use sockeye_core::{AdapterError, IntoRooms, Payload};

use crate::client::{Conn, IoHandler};
use crate::errors::{EmitError, ServerAckError};
use crate::handler::{box_connect, BoxedConnectHandler, ConnectHandler, Middleware};
use crate::ns::Namespace;
use crate::observe::Observer;
use crate::operators::{BroadcastOperator, RemoteSocket};
use crate::parent::{box_handshake_matcher, NsMatcher, Parent, ParentNamespace};
use crate::server_event::{ServerEvent, ServerHandlers};
use crate::service::{NotFound, SocketIoLayer, SocketIoService};
use crate::socket::Handshake;
use crate::socket::SocketRef;
use crate::static_files::ClientBundle;

pub use sockeye_core::adapter::AdapterFactory;

/// Socket.IO options (the Engine.IO ones are in [`EngineConfig`]).
#[derive(Clone)]
pub(crate) struct SocketIoConfig {
    pub(crate) connect_timeout: Duration,
    pub(crate) ack_timeout: Duration,
    /// The packet codec (one per server, as in Node) and the limits it decodes with.
    pub(crate) parser: Arc<dyn Parser>,
    pub(crate) limits: DecodeLimits,
    pub(crate) partial_timeout: Duration,
    pub(crate) max_waiting_handlers: usize,
    pub(crate) max_namespaces: usize,
    pub(crate) recovery: Option<ConnectionStateRecovery>,
}

/// A listener of `new_namespace`.
type NewNsListener = Arc<dyn Fn(&Arc<Namespace>) + Send + Sync>;

pub(crate) struct IoInner {
    pub(crate) config: SocketIoConfig,
    pub(crate) state: http::Extensions,
    pub(crate) adapter_factory: AdapterFactory,
    nsps: RwLock<HashMap<String, Arc<Namespace>>>,
    dyn_nsps: RwLock<Vec<Arc<Parent>>>,
    new_ns_listeners: RwLock<Vec<NewNsListener>>,
    engine: OnceLock<Engine<IoHandler>>,
    /// The instrument watching this server (the admin UI), once one is set.
    observer: OnceLock<Arc<dyn Observer>>,
    /// The connections that have not joined a namespace yet, and when they run out.
    pub(crate) connect_timeouts: crate::connect_timeout::ConnectTimeouts,
    self_ref: std::sync::Weak<IoInner>,
}

impl IoInner {
    fn arc(&self) -> Arc<IoInner> {
        // The inner value is only reachable through an Arc.
        self.self_ref.upgrade().unwrap_or_else(|| unreachable!())
    }

    /// The instrument watching this server, if any.
    #[inline]
    pub(crate) fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.observer.get()
    }

    /// Sets the instrument watching this server; false when one is set already.
    #[cfg_attr(not(feature = "admin-ui"), allow(dead_code))]
    pub(crate) fn set_observer(&self, observer: Arc<dyn Observer>) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// A namespace that exists: declared, or a dynamic one's child already created.
    pub(crate) fn get_ns(&self, name: &str) -> Option<Arc<Namespace>> {
        self.nsps.read().get(name).cloned()
    }

    /// A client asks to join `name`, which does not exist: the dynamic namespaces are asked
    /// in the order they were declared, and the first that claims it creates it (Node's
    /// `_checkNamespace`); the client gets `Invalid namespace` when none does.
    pub(crate) fn connect_dynamic(&self, conn: &Arc<Conn>, name: String, auth: Option<Payload>) {
        let parents: Vec<Arc<Parent>> = self.dyn_nsps.read().clone();
        if name.len() > 256 {
            return invalid_namespace(self, conn, &name);
        }
        for (i, p) in parents.iter().enumerate() {
            match &p.matcher {
                NsMatcher::Name(matches) => {
                    if matches(&name) {
                        return self.create_child(p, &name).connect(conn, auth);
                    }
                }
                NsMatcher::Handshake(_) => {
                    let rest = parents[i..].to_vec();
                    return self.connect_dynamic_async(conn, name, auth, rest);
                }
            }
        }
        invalid_namespace(self, conn, &name)
    }

    /// [`IoInner::connect_dynamic`] past the first matcher that may wait: the namespace
    /// counts as being joined meanwhile (a second CONNECT to it is refused, and the wait
    /// ends with the connection).
    fn connect_dynamic_async(
        &self,
        conn: &Arc<Conn>,
        name: String,
        auth: Option<Payload>,
        parents: Vec<Arc<Parent>>,
    ) {
        let closed = conn.data().add_pending(&name);
        if conn.is_closed() {
            conn.data().remove_pending(&name);
            return;
        }
        let handshake = Handshake::new(conn, auth.as_ref());
        let io = self.arc();
        let conn = conn.clone();
        crate::handler::run(async move {
            let search = async {
                for p in parents {
                    let claimed = match &p.matcher {
                        NsMatcher::Name(matches) => matches(&name),
                        NsMatcher::Handshake(matches) => {
                            matches(name.clone(), handshake.clone()).await
                        }
                    };
                    if claimed {
                        return Some(p);
                    }
                }
                None
            };
            let outcome = tokio::select! {
                found = search => Some(found),
                _ = closed => None,
            };
            conn.data().remove_pending(&name);
            match outcome {
                Some(Some(p)) if !conn.is_closed() => {
                    io.create_child(&p, &name).connect(&conn, auth)
                }
                Some(None) => invalid_namespace(&io, &conn, &name),
                _ => {}
            }
        });
    }

    /// The child `name` of `parent` (created now unless it exists).
    fn create_child(&self, parent: &Arc<Parent>, name: &str) -> Arc<Namespace> {
        let created = {
            let mut nsps = self.nsps.write();
            if let Some(ns) = nsps.get(name) {
                return ns.clone();
            }
            let ns = Namespace::new(
                name.to_owned(),
                self.arc(),
                parent.handler.clone(),
                parent.middlewares.clone(),
                parent.server_handlers.clone(),
                true,
            );
            nsps.insert(name.to_owned(), ns.clone());
            ns
        };
        parent.add_child(&created);
        self.announce(&created);
        created
    }

    /// Calls the `new_namespace` listeners.
    fn announce(&self, ns: &Arc<Namespace>) {
        let listeners = self.new_ns_listeners.read().clone();
        for l in listeners {
            crate::handler::run_sync(|| l(ns));
        }
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
            for p in self.dyn_nsps.read().iter() {
                p.remove_child(&ns);
            }
            crate::handler::run(async move { ns.close_adapter().await });
        }
    }

    pub(crate) fn namespaces(&self) -> Vec<Arc<Namespace>> {
        self.nsps.read().values().cloned().collect()
    }

    /// Whether a dynamic namespace was declared (`dyn_ns`).
    #[cfg(feature = "metrics")]
    pub(crate) fn has_dynamic_namespaces(&self) -> bool {
        !self.dyn_nsps.read().is_empty()
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
    pub(crate) inner: Arc<IoInner>,
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

    #[cfg_attr(not(feature = "admin-ui"), allow(dead_code))]
    pub(crate) fn inner(&self) -> &Arc<IoInner> {
        &self.inner
    }

    /// A builder with the default options.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let (layer, io) = sockeye::SocketIo::builder()
    ///     .ping_interval(Duration::from_secs(10))
    ///     .build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::new()
    }

    /// A layer with the default options, and its handle.
    ///
    /// # Examples
    /// ```
    /// let (layer, io) = sockeye::SocketIo::new_layer();
    /// let app: axum::Router = axum::Router::new().layer(layer);
    /// # let _ = (app, io);
    /// ```
    pub fn new_layer() -> (SocketIoLayer, SocketIo) {
        SocketIoBuilder::new().build_layer()
    }

    /// A standalone service (404 for other paths) with the default options, and its handle.
    ///
    /// # Examples
    /// ```
    /// # async fn f() -> std::io::Result<()> {
    /// let (svc, io) = sockeye::SocketIo::new_svc();
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// sockeye::serve(listener, svc, std::future::pending()).await;
    /// # let _ = io; Ok(()) }
    /// ```
    pub fn new_svc() -> (SocketIoService<NotFound>, SocketIo) {
        SocketIoBuilder::new().build_svc()
    }

    /// Declares a namespace and its connect handler (Node's `io.of(name).on("connection")`).
    /// Declaring it again replaces its handler (and starts its middlewares and server-side
    /// event handlers afresh); its sockets, rooms and adapter stay.
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
        let (ns, created) = match nsps.get(&name) {
            // Declared again (`/` is declared by the builder): the new handler replaces the
            // old; the namespace, its sockets and its adapter stay.
            Some(ns) => {
                ns.redeclare(box_connect(handler));
                (ns.clone(), false)
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
                (ns, true)
            }
        };
        drop(nsps);
        if created && ns.name() != "/" {
            self.inner.announce(&ns);
        }
        NsHandle { ns }
    }

    /// Declares dynamic namespaces (Node's `io.of(regex)`): every name `matcher` accepts is
    /// created when a client first asks for it, with this handler, and removed when its last
    /// socket leaves (Node's `cleanupEmptyChildNamespaces`; with connection state recovery
    /// on, `max_disconnection_duration` later if it is still empty then, so that its adapter
    /// keeps the sessions of the clients that may come back). Dynamic namespaces are asked in
    /// the order they were declared; a declared namespace of the same name comes first.
    ///
    /// The returned [`ParentNamespace`] adds middlewares to every child and broadcasts to
    /// all of them.
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
    ) -> ParentNamespace {
        self.add_parent(NsMatcher::Name(Box::new(matcher)), box_connect(handler))
    }

    /// Declares dynamic namespaces matched by a function of the name and the client's
    /// [`Handshake`] (the namespace's auth payload included) that may wait, as Node's
    /// `io.of((name, auth, next) => ...)`: a name it accepts is created for that client. The
    /// function only decides creation: once the namespace exists, other clients join it
    /// without asking (use [`ParentNamespace::with`] to check each client). While it waits,
    /// the connection counts the namespace as being joined; if the connection closes first,
    /// the answer is dropped.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// use sockeye::SocketRef;
    /// // `/tenant-acme` exists for a client whose auth says `{"tenant": "acme"}`.
    /// io.dyn_ns_async(
    ///     |name, handshake| async move {
    ///         let tenant = handshake.auth["tenant"].as_str().unwrap_or_default().to_owned();
    ///         name.strip_prefix("/tenant-") == Some(tenant.as_str())
    ///     },
    ///     |socket: SocketRef| println!("{} in {}", socket.id(), socket.ns().name()),
    /// );
    /// # }
    /// ```
    pub fn dyn_ns_async<H, M, F, Fut>(&self, matcher: F, handler: H) -> ParentNamespace
    where
        H: ConnectHandler<M>,
        F: Fn(String, Handshake) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        self.add_parent(box_handshake_matcher(matcher), box_connect(handler))
    }

    fn add_parent(&self, matcher: NsMatcher, handler: BoxedConnectHandler) -> ParentNamespace {
        let parent = Arc::new(Parent::new(matcher, handler));
        self.inner.dyn_nsps.write().push(parent.clone());
        ParentNamespace::new(parent)
    }

    /// Adds a listener of namespace creation (Node's `io.on("new_namespace")`): it is
    /// called with each namespace declared after it (but `/`) and each child of a dynamic
    /// namespace when it is created.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// io.on_new_namespace(|ns| println!("namespace {} created", ns.name()));
    /// # }
    /// ```
    pub fn on_new_namespace(&self, listener: impl Fn(&Arc<Namespace>) + Send + Sync + 'static) {
        self.inner.new_ns_listeners.write().push(Arc::new(listener));
    }

    /// An operator over every socket of an existing namespace (declared, or a dynamic
    /// namespace's child that exists now).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// if let Some(admin) = io.of("/admin") {
    ///     admin.emit("notice", &"restarting").await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn of(&self, path: &str) -> Option<BroadcastOperator> {
        let ns = self.inner.nsps.read().get(path).cloned()?;
        Some(ns.operator())
    }

    fn root(&self) -> BroadcastOperator {
        match self.of("/") {
            Some(op) => op,
            None => self.ns("/", || {}).ns().operator(),
        }
    }

    /// Selects the sockets of `/` in `rooms`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("lobby").emit("news", &"hello").await?;
    /// # Ok(()) }
    /// ```
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.root().to(rooms)
    }

    /// Same as [`SocketIo::to`] (Node's `io.in(room)`; `in` is a Rust keyword).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.within("lobby").emit("news", &"hello").await?;
    /// # Ok(()) }
    /// ```
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.root().to(rooms)
    }

    /// Selects the sockets of `/` not in `rooms`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.except("muted").emit("news", &"hello").await?;
    /// # Ok(()) }
    /// ```
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.root().except(rooms)
    }

    /// Only this server's sockets of `/`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.local().emit("news", &"this server only").await?;
    /// # Ok(()) }
    /// ```
    pub fn local(&self) -> BroadcastOperator {
        self.root().local()
    }

    /// Volatile emits to `/` (see [`BroadcastOperator::volatile`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.volatile().emit("tick", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn volatile(&self) -> BroadcastOperator {
        self.root().volatile()
    }

    /// Whether emits to `/` may be compressed (see [`BroadcastOperator::compress`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.compress(false).emit("tick", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.root().compress(compress)
    }

    /// A timeout for an emit with ack to `/`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// use std::time::Duration;
    /// let answers = io.timeout(Duration::from_secs(1)).emit_with_ack("poll", &()).await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.root().timeout(timeout)
    }

    /// Emits to every socket of `/` an event whose arguments are the items of `args`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.emit_args("score", &("home", 2)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit_args`].
    pub async fn emit_args<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.root().emit_args(event, args).await
    }

    /// Emits a received payload to every socket of `/`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo, p: sockeye::Payload) -> Result<(), sockeye::EmitError> {
    /// io.emit_payload("relay", &p).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit_payload`].
    pub async fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.root().emit_payload(event, payload).await
    }

    /// The ids of the sockets of `/` on every server (Node's `io.allSockets()`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// println!("{} clients", io.fetch_ids().await?.len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn fetch_ids(&self) -> Result<Vec<sockeye_core::Sid>, EmitError> {
        self.root().fetch_ids().await
    }

    /// Emits to every socket of `/`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.emit("news", &serde_json::json!({"title": "hello"})).await?;
    /// # Ok(()) }
    /// ```
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
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for answer in io.emit_with_ack("poll", &"ready?").await? {
    ///     println!("{:?}", answer.result);
    /// }
    /// # Ok(()) }
    /// ```
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
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// use futures_util::StreamExt;
    /// let mut acks = io.emit_with_ack_stream("poll", &"ready?").await?;
    /// while let Some(ev) = acks.next().await {
    ///     println!("{ev:?}");
    /// }
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// for s in io.sockets() {
    ///     let _ = s.emit("hello", &());
    /// }
    /// # }
    /// ```
    pub fn sockets(&self) -> Vec<SocketRef> {
        self.root().sockets()
    }

    /// The sockets of `/` on every server (see [`BroadcastOperator::fetch_sockets`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     println!("{} in {:?}", s.id(), s.rooms());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, EmitError> {
        self.root().fetch_sockets().await
    }

    /// Makes every socket of `/`, on every server, join `rooms` (Node's `socketsJoin`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.sockets_join("everyone").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.root().sockets_join(rooms).await
    }

    /// Makes every socket of `/`, on every server, leave `rooms` (Node's `socketsLeave`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.sockets_leave("lobby").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.root().sockets_leave(rooms).await
    }

    /// Disconnects every socket of `/`, on every server (Node's `disconnectSockets`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.disconnect_sockets(true).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitError> {
        self.root().disconnect_sockets(close).await
    }

    /// Sends an event to the handlers of `/` on every other server (see
    /// [`Namespace::server_side_emit`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.server_side_emit("cache:invalidate", &"user:42").await?;
    /// # Ok(()) }
    /// ```
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
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) {
    /// use std::time::Duration;
    /// let answers = io.server_side_emit_with_ack("uptime", &(), Duration::from_secs(1)).await;
    /// # }
    /// ```
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
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::AdapterError> {
    /// println!("{} servers", io.server_count().await?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn server_count(&self) -> Result<usize, AdapterError> {
        self.root().ns().adapter().server_count().await
    }

    /// Waits until the adapter of every namespace declared so far has started (a cluster
    /// adapter has subscribed to the other servers); the first error, if any.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::AdapterError> {
    /// io.ready().await?; // the cluster adapter has subscribed
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// println!("{} connections", io.connection_count());
    /// # }
    /// ```
    pub fn connection_count(&self) -> usize {
        self.inner.engine.get().map_or(0, |e| e.session_count())
    }

    /// Closes every connection (reason `server shutting down`): clients get a clean close;
    /// the adapters are closed in the background. See [`SocketIo::shutdown`] to wait for it.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// io.close();
    /// # }
    /// ```
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

/// Answers a CONNECT to a namespace that does not exist.
fn invalid_namespace(io: &IoInner, conn: &Arc<Conn>, name: &str) {
    crate::metrics::connect_refused(crate::metrics::ConnectRefusal::InvalidNamespace);
    // An object in both protocols, as Node sends it.
    if conn.protocol() == sockeye_engineio::ProtocolVersion::V3 {
        let packet =
            sockeye_core::parser::json::encode_connect_error(name, "Invalid namespace", None);
        let _ = conn.send_text(packet);
    } else {
        let packet = sockeye_core::parser::Packet::ConnectError {
            ns: name,
            message: "Invalid namespace",
            data: None,
        };
        crate::client::send_packet(io, conn, packet);
    }
}

fn normalize(mut name: String) -> String {
    if !name.starts_with('/') {
        name.insert(0, '/');
    }
    name
}

/// A declared namespace, to add connect middlewares to.
///
/// # Examples
/// ```
/// # fn f(io: sockeye::SocketIo) {
/// use sockeye::{SocketRef, extract::Refusal};
/// let admin = io.ns("/admin", |_: SocketRef| {});
/// admin.with(|| async { Err::<(), _>(Refusal::new("closed for now")) });
/// # }
/// ```
pub struct NsHandle {
    ns: Arc<Namespace>,
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
        self.ns.add_middleware(middleware);
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
        self.ns
            .server_handlers()
            .write()
            .insert(event.into(), Arc::new(handler));
        self
    }

    /// The namespace.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// use sockeye::SocketRef;
    /// let chat = io.ns("/chat", |_: SocketRef| {});
    /// chat.ns().operator().emit("topic", &"welcome").await?;
    /// # Ok(()) }
    /// ```
    pub fn ns(&self) -> &Arc<Namespace> {
        &self.ns
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
    ///
    /// # Examples
    /// ```
    /// let builder = sockeye::SocketIoBuilder::new().max_payload(100_000);
    /// # let _ = builder;
    /// ```
    pub fn new() -> SocketIoBuilder {
        SocketIoBuilder {
            engine: EngineConfig::default(),
            config: SocketIoConfig {
                connect_timeout: Duration::from_secs(45),
                ack_timeout: Duration::from_secs(5),
                parser: Arc::new(JsonParser),
                limits: DecodeLimits::default(),
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
    ///
    /// # Examples
    /// ```
    /// let (layer, io) = sockeye::SocketIo::builder().path("/realtime/").build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let mut p = path.into();
        if !p.ends_with('/') {
            p.push('/');
        }
        self.engine.path = p;
        self
    }

    /// How often the server pings. Default 25 s.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let b = sockeye::SocketIo::builder().ping_interval(Duration::from_secs(10));
    /// # let _ = b;
    /// ```
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.engine.ping_interval = d;
        self
    }

    /// How long a client has to answer a ping. Default 20 s. Also how long a closed
    /// session's WebSocket connection waits for its client to read what is left to write
    /// (a client that stopped reading), before it ends without it.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let b = sockeye::SocketIo::builder().ping_timeout(Duration::from_secs(5));
    /// # let _ = b;
    /// ```
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.engine.ping_timeout = d;
        self
    }

    /// How long a WebSocket upgrade may take. Default 10 s.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let b = sockeye::SocketIo::builder().upgrade_timeout(Duration::from_secs(5));
    /// # let _ = b;
    /// ```
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.engine.upgrade_timeout = d;
        self
    }

    /// How long a client has to join a namespace after connecting. Default 45 s.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let b = sockeye::SocketIo::builder().connect_timeout(Duration::from_secs(10));
    /// # let _ = b;
    /// ```
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
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let b = sockeye::SocketIo::builder().ack_timeout(Duration::from_secs(2));
    /// # let _ = b;
    /// ```
    pub fn ack_timeout(mut self, d: Duration) -> Self {
        self.config.ack_timeout = d;
        self
    }

    /// The largest message a client may send, in bytes (Node's `maxHttpBufferSize`): a
    /// polling body or a WebSocket message. Default 1,000,000.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye::SocketIo::builder().max_payload(64 * 1024);
    /// # let _ = b;
    /// ```
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.engine.max_payload = bytes;
        self.config.limits.max_attachment_bytes = bytes.saturating_mul(10);
        self
    }

    /// The most binary attachments one packet may have. Default 10.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye::SocketIo::builder().max_attachments(2);
    /// # let _ = b;
    /// ```
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.config.limits.max_attachments = n;
        self
    }

    /// The packet codec (Node's `parser` option): [`JsonParser`](crate::parser::JsonParser)
    /// by default (Node's `socket.io-parser`), or, with the `msgpack` feature,
    /// `MsgpackParser` (`socket.io-msgpack-parser`: its clients need
    /// `parser: require("socket.io-msgpack-parser")`, or the `socket.io.msgpack.min.js`
    /// bundle). One per server, as in Node: every client must use the same. The legacy
    /// protocol ([`SocketIoBuilder::allow_eio3`]) is served with the JSON parser only: with
    /// another one, Engine.IO v3 clients are refused.
    ///
    /// # Examples
    /// ```
    /// use sockeye::parser::JsonParser;
    /// let (layer, io) = sockeye::SocketIo::builder().parser(JsonParser).build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn parser(mut self, parser: impl Parser) -> Self {
        self.config.parser = Arc::new(parser);
        self
    }

    /// The most bytes queued for one client. Default 8 MiB.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye::SocketIo::builder().max_queued_bytes(1 << 20);
    /// # let _ = b;
    /// ```
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.engine.max_queued_bytes = bytes;
        self
    }

    /// What to do with a client whose queue is full. Default: disconnect it.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye::SocketIo::builder().overflow(sockeye::OverflowPolicy::Drop);
    /// # let _ = b;
    /// ```
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
    ///
    /// # Examples
    /// ```
    /// let b = sockeye::SocketIo::builder().max_connections(10_000);
    /// # let _ = b;
    /// ```
    pub fn max_connections(mut self, n: usize) -> Self {
        self.engine.max_connections = Some(n);
        self
    }

    /// Whether Engine.IO v3 / Socket.IO v4-protocol clients (socket.io-client 1.x and 2.x,
    /// python-socketio 4.x) are served, like Node's `allowEIO3`. Default false.
    ///
    /// # Examples
    /// ```
    /// let b = sockeye::SocketIo::builder().allow_eio3(true);
    /// # let _ = b;
    /// ```
    pub fn allow_eio3(mut self, on: bool) -> Self {
        self.engine.allow_eio3 = on;
        self
    }

    /// Which transports are offered. Default: both.
    ///
    /// # Examples
    /// ```
    /// // WebSocket only, as Node's `transports: ["websocket"]`.
    /// let b = sockeye::SocketIo::builder().transports(false, true);
    /// # let _ = b;
    /// ```
    pub fn transports(mut self, polling: bool, websocket: bool) -> Self {
        self.engine.polling = polling;
        self.engine.websocket = websocket;
        self
    }

    /// Whether clients that open over polling are offered the upgrade to WebSocket (Node's
    /// `allowUpgrades`). When false, the handshake's `upgrades` list is empty, so
    /// socket.io-client stays on polling; as in Node, an upgrade a client asks for anyway
    /// (a raw client that ignores the list) still goes through. Default true.
    ///
    /// # Examples
    /// ```
    /// let (layer, io) = sockeye::SocketIo::builder().allow_upgrades(false).build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn allow_upgrades(mut self, on: bool) -> Self {
        self.engine.allow_upgrades = on;
        self
    }

    /// Cross-origin rules (Node's `cors`): which origins (a list, any, or a predicate that
    /// may be async), credentials, the preflight's methods and allowed headers, the headers
    /// pages may read, and how long a preflight holds; see [`Cors`]. Default: no CORS headers
    /// (same-origin pages only).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use sockeye::Cors;
    /// let cors = Cors::predicate(|origin: &str| origin.ends_with(".example.com"))
    ///     .credentials(true)
    ///     .allowed_headers(["authorization"])
    ///     .exposed_headers(["x-request-id"])
    ///     .max_age(Duration::from_secs(600));
    /// let (layer, io) = sockeye::SocketIo::builder().cors(cors).build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn cors(mut self, cors: Cors) -> Self {
        self.engine.cors = cors;
        self
    }

    /// A hook that accepts (true) or refuses (false) each handshake: a refused one gets
    /// `403 {"code":4,"message":"Forbidden"}` (over WebSocket, `400` and `Forbidden`), as
    /// Node's `allowRequest` answers. To refuse with a message, or to decide asynchronously,
    /// use [`SocketIoBuilder::allow_request_async`]. Default: none.
    ///
    /// # Examples
    /// ```
    /// let (layer, io) = sockeye::SocketIo::builder()
    ///     .allow_request(|req| req.headers.contains_key("x-api-key"))
    ///     .build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn allow_request(
        mut self,
        f: impl Fn(&http::request::Parts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.engine.allow_request = Some(AllowRequest::new(move |req| match f(req) {
            true => Ok(()),
            false => Err(RequestRefusal::forbidden()),
        }));
        self
    }

    /// Node's `allowRequest(req, callback)`: a hook that sees each handshake (over polling
    /// or WebSocket, before the session exists), may wait (a database, a rate limiter), and
    /// accepts (`Ok`) or refuses with a [`RequestRefusal`]: by default code 4 and status
    /// `403`, with its message in the body (`{"code":4,"message":"..."}`; over WebSocket,
    /// `400` and the message as text), as Node answers `callback(message, false)`. The
    /// request is borrowed only while the hook is called: copy what the future needs.
    /// Refusals are reported to [`SocketIoBuilder::on_connection_error`]. Default: none.
    ///
    /// # Examples
    /// ```
    /// use sockeye::RequestRefusal;
    /// let (layer, io) = sockeye::SocketIo::builder()
    ///     .allow_request_async(|req| {
    ///         let token = req.headers.get("x-token").cloned();
    ///         async move {
    ///             match token {
    ///                 Some(t) if t == "secret" => Ok(()),
    ///                 _ => Err(RequestRefusal::forbidden().with_message("bad token")),
    ///             }
    ///         }
    ///     })
    ///     .build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn allow_request_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(&http::request::Parts) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), RequestRefusal>> + Send + 'static,
    {
        self.engine.allow_request = Some(AllowRequest::new_async(f));
        self
    }

    /// The sticky-session cookie (Node's `cookie`; `Cookie::default()` is Node's
    /// `cookie: true`): the answer to a polling handshake sets it to the session id, e.g.
    /// `io=<sid>; Path=/; HttpOnly; SameSite=Lax`, so that a load balancer (haproxy's
    /// `cookie io prefix`) sends the client's next requests to this server. As in Node, a
    /// session opened on WebSocket gets none. Default: none.
    ///
    /// # Examples
    /// ```
    /// use sockeye::Cookie;
    /// let (layer, io) = sockeye::SocketIo::builder().cookie(Cookie::new("io")).build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn cookie(mut self, cookie: Cookie) -> Self {
        self.engine.cookie = Some(cookie);
        self
    }

    /// Hears of each request the engine refused (Node's `io.engine.on("connection_error")`):
    /// its code and message (Node's, 0 to 5), the message an
    /// [`allow_request_async`](SocketIoBuilder::allow_request_async) hook refused with, and
    /// the request; see [`ConnectionError`] for what is reported. Runs on the request's task:
    /// keep it short. Default: none.
    ///
    /// # Examples
    /// ```
    /// let (layer, io) = sockeye::SocketIo::builder()
    ///     .on_connection_error(|err: &sockeye::ConnectionError<'_>| {
    ///         eprintln!("{} refused: {} ({})", err.request.uri, err.error.code(), err.error);
    ///     })
    ///     .build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn on_connection_error(
        mut self,
        f: impl Fn(&ConnectionError<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.engine.on_connection_error = Some(Arc::new(f));
        self
    }

    /// Adds headers to the answer of each handshake (Node's
    /// `io.engine.on("initial_headers")`): the polling open packet, or the `101` of a
    /// WebSocket that opens a session. It runs after the cookie is set and before
    /// [`SocketIoBuilder::on_headers`]. Default: none.
    ///
    /// # Examples
    /// ```
    /// use http::HeaderValue;
    /// let (layer, io) = sockeye::SocketIo::builder()
    ///     .on_initial_headers(|headers, _req| {
    ///         headers.insert("x-served-by", HeaderValue::from_static("node-1"));
    ///     })
    ///     .build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn on_initial_headers(
        mut self,
        f: impl Fn(&mut http::HeaderMap, &http::request::Parts) + Send + Sync + 'static,
    ) -> Self {
        self.engine.on_initial_headers = Some(Arc::new(f));
        self
    }

    /// Adds headers to every answer the engine gives (Node's `io.engine.on("headers")`): the
    /// handshake, each poll and POST, each WebSocket `101`; not errors nor CORS preflights,
    /// as in Node. Default: none.
    ///
    /// # Examples
    /// ```
    /// use http::HeaderValue;
    /// let (layer, io) = sockeye::SocketIo::builder()
    ///     .on_headers(|headers, req| {
    ///         if req.uri.query().is_some_and(|q| q.contains("debug=1")) {
    ///             headers.insert("x-debug", HeaderValue::from_static("on"));
    ///         }
    ///     })
    ///     .build_layer();
    /// # let _ = (layer, io);
    /// ```
    pub fn on_headers(
        mut self,
        f: impl Fn(&mut http::HeaderMap, &http::request::Parts) + Send + Sync + 'static,
    ) -> Self {
        self.engine.on_headers = Some(Arc::new(f));
        self
    }

    /// Shared state for the [`crate::extract::State`] extractor.
    ///
    /// # Examples
    /// ```
    /// #[derive(Clone)]
    /// struct Db;
    /// let b = sockeye::SocketIo::builder().with_state(Db);
    /// # let _ = b;
    /// ```
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
    ///
    /// # Examples
    /// ```
    /// # fn f() -> std::io::Result<()> {
    /// use sockeye::ClientBundle;
    /// let bundle = ClientBundle::from_dir("node_modules/socket.io-client/dist")?;
    /// let (layer, io) = sockeye::SocketIo::builder().serve_client(bundle).build_layer();
    /// # let _ = (layer, io); Ok(()) }
    /// ```
    pub fn serve_client(mut self, bundle: ClientBundle) -> Self {
        self.bundle = Some(bundle);
        self
    }

    /// Sets the whole Engine.IO configuration at once.
    ///
    /// # Examples
    /// ```
    /// let mut config = sockeye_engineio::EngineConfig::default();
    /// config.max_packets_per_payload = 100;
    /// let b = sockeye::SocketIo::builder().engine_config(config);
    /// # let _ = b;
    /// ```
    pub fn engine_config(mut self, config: EngineConfig) -> Self {
        self.engine = config;
        self
    }

    fn build(mut self) -> (Engine<IoHandler>, SocketIo, Option<ClientBundle>) {
        let legacy = self.engine.allow_eio3;
        if legacy && !(&*self.config.parser as &dyn std::any::Any).is::<JsonParser>() {
            // socket.io-client 2.x speaks the v4 protocol, which Sockeye serves in JSON only.
            tracing::warn!("allow_eio3 is ignored: the legacy protocol needs the JSON parser");
            self.engine.allow_eio3 = false;
        }
        let inner = Arc::new_cyclic(|w| IoInner {
            config: self.config,
            state: self.state,
            adapter_factory: self.adapter_factory,
            nsps: RwLock::new(HashMap::new()),
            dyn_nsps: RwLock::new(Vec::new()),
            new_ns_listeners: RwLock::new(Vec::new()),
            engine: OnceLock::new(),
            observer: OnceLock::new(),
            connect_timeouts: Default::default(),
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
    ///
    /// # Examples
    /// ```
    /// let (layer, io) = sockeye::SocketIo::builder().build_layer();
    /// let app: axum::Router = axum::Router::new().layer(layer);
    /// # let _ = (app, io);
    /// ```
    pub fn build_layer(self) -> (SocketIoLayer, SocketIo) {
        let (engine, io, bundle) = self.build();
        (SocketIoLayer::new(engine, bundle), io)
    }

    /// A standalone service (404 for other paths) and the handle.
    ///
    /// # Examples
    /// ```
    /// let (svc, io) = sockeye::SocketIo::builder().build_svc();
    /// # let _ = (svc, io);
    /// ```
    pub fn build_svc(self) -> (SocketIoService<NotFound>, SocketIo) {
        let (engine, io, bundle) = self.build();
        (SocketIoService::new(engine, bundle, NotFound), io)
    }
}
