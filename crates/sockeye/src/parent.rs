//! Dynamic namespaces: a family of namespaces created on demand (Node's parent namespace,
//! `io.of(regex)` or `io.of(fn)`), and broadcasts to all of them.

use std::future::Future;
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use sockeye_core::adapter::{BoxFuture, BroadcastOptions, BroadcastPacket};
use sockeye_core::{value, IntoRooms, Payload};

use crate::errors::EmitError;
use crate::handler::{box_middleware, BoxedConnectHandler, BoxedMiddleware, Middleware};
use crate::ns::Namespace;
use crate::server_event::{ServerEvent, ServerHandlers};
use crate::socket::Handshake;

/// How a family of dynamic namespaces decides which names are its own.
pub(crate) enum NsMatcher {
    /// By the name alone, at once.
    Name(Box<dyn Fn(&str) -> bool + Send + Sync>),
    /// By the name and the client's handshake (auth included), maybe waiting.
    Handshake(Box<dyn Fn(String, Handshake) -> BoxFuture<'static, bool> + Send + Sync>),
}

/// A family of dynamic namespaces: its matcher, what each child gets, and the children that
/// exist now.
pub(crate) struct Parent {
    pub(crate) matcher: NsMatcher,
    pub(crate) handler: BoxedConnectHandler,
    pub(crate) middlewares: Arc<RwLock<Vec<BoxedMiddleware>>>,
    pub(crate) server_handlers: ServerHandlers,
    children: Mutex<Vec<Weak<Namespace>>>,
}

impl Parent {
    pub(crate) fn new(matcher: NsMatcher, handler: BoxedConnectHandler) -> Parent {
        Parent {
            matcher,
            handler,
            middlewares: Arc::default(),
            server_handlers: ServerHandlers::default(),
            children: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn add_child(&self, ns: &Arc<Namespace>) {
        self.children.lock().push(Arc::downgrade(ns));
    }

    /// Forgets a child that was removed (and any that no longer exists).
    pub(crate) fn remove_child(&self, ns: &Arc<Namespace>) {
        self.children
            .lock()
            .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(ns)));
    }

    fn children(&self) -> Vec<Arc<Namespace>> {
        self.children
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

/// A family of dynamic namespaces, made by [`SocketIo::dyn_ns`](crate::SocketIo::dyn_ns) or
/// [`SocketIo::dyn_ns_async`](crate::SocketIo::dyn_ns_async) (Node's parent namespace, what
/// `io.of(/regex/)` returns). Its connect middlewares and server-side event handlers apply to
/// every child; a broadcast from it reaches the sockets of every child that exists (each
/// child's adapter carries it to the other servers).
///
/// As in Node, a family has no sockets of its own: to fetch, join or disconnect sockets, use
/// a child ([`ParentNamespace::children`], or `socket.ns()` in a handler).
///
/// # Examples
/// ```
/// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
/// use sockeye::SocketRef;
/// let rooms = io.dyn_ns(|name| name.starts_with("/room-"), |socket: SocketRef| {
///     println!("{} joined {}", socket.id(), socket.ns().name());
/// });
/// // Every socket of /room-1, /room-2, ...
/// rooms.emit("announcement", &"maintenance at noon").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ParentNamespace {
    parent: Arc<Parent>,
}

impl std::fmt::Debug for ParentNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentNamespace")
            .field("children", &self.parent.children.lock().len())
            .finish_non_exhaustive()
    }
}

impl ParentNamespace {
    pub(crate) fn new(parent: Arc<Parent>) -> ParentNamespace {
        ParentNamespace { parent }
    }

    /// Adds a connect middleware to every child (those that exist and those to come).
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// use sockeye::{SocketRef, extract::{Data, Refusal}};
    /// io.dyn_ns(|n| n.starts_with("/room-"), |_: SocketRef| {})
    ///     .with(|Data(auth): Data<serde_json::Value>| async move {
    ///         if auth["token"].is_string() { Ok(()) } else { Err(Refusal::new("no token")) }
    ///     });
    /// # }
    /// ```
    pub fn with<M: Middleware<T>, T>(self, middleware: M) -> ParentNamespace {
        self.parent
            .middlewares
            .write()
            .push(box_middleware(middleware));
        self
    }

    /// Handles an event that another server sends to any child with `server_side_emit`.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// use sockeye::{ServerEvent, SocketRef};
    /// io.dyn_ns(|n| n.starts_with("/room-"), |_: SocketRef| {})
    ///     .on_server_event("ping", |ev: ServerEvent| { let _ = ev.ack(&"pong"); });
    /// # }
    /// ```
    pub fn on_server_event(
        self,
        event: impl Into<String>,
        handler: impl Fn(ServerEvent) + Send + Sync + 'static,
    ) -> ParentNamespace {
        self.parent
            .server_handlers
            .write()
            .insert(event.into(), Arc::new(handler));
        self
    }

    /// The children that exist on this server now.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// use sockeye::SocketRef;
    /// let rooms = io.dyn_ns(|n| n.starts_with("/room-"), |_: SocketRef| {});
    /// for ns in rooms.children() {
    ///     println!("{}: {} sockets", ns.name(), ns.socket_count());
    /// }
    /// # }
    /// ```
    pub fn children(&self) -> Vec<Arc<Namespace>> {
        self.parent.children()
    }

    fn operator(&self) -> ParentOperator {
        ParentOperator {
            parent: self.parent.clone(),
            opts: BroadcastOptions::default(),
        }
    }

    /// Selects the sockets in `rooms`, in every child.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.to("moderators").emit("report", &"spam in /room-3").await?;
    /// # Ok(()) }
    /// ```
    pub fn to(&self, rooms: impl IntoRooms) -> ParentOperator {
        self.operator().to(rooms)
    }

    /// Same as [`ParentNamespace::to`] (Node's `in`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.within("moderators").emit("report", &"spam").await?;
    /// # Ok(()) }
    /// ```
    pub fn within(&self, rooms: impl IntoRooms) -> ParentOperator {
        self.operator().to(rooms)
    }

    /// Leaves out the sockets in `rooms`, in every child.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.except("muted").emit("news", &"hello").await?;
    /// # Ok(()) }
    /// ```
    pub fn except(&self, rooms: impl IntoRooms) -> ParentOperator {
        self.operator().except(rooms)
    }

    /// Only this server's sockets.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.local().emit("news", &"hello").await?;
    /// # Ok(()) }
    /// ```
    pub fn local(&self) -> ParentOperator {
        self.operator().local()
    }

    /// Volatile emits (see [`crate::BroadcastOperator::volatile`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.volatile().emit("tick", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn volatile(&self) -> ParentOperator {
        self.operator().volatile()
    }

    /// Emits to every socket of every child.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.emit("announcement", &"hello, every room").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`ParentOperator::emit`].
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.operator().emit(event, data).await
    }

    /// Emits to every socket of every child, with the items of `args` as the arguments.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.emit_args("score", &("home", 2)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`ParentOperator::emit_args`].
    pub async fn emit_args<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.operator().emit_args(event, args).await
    }

    /// Emits a received payload to every socket of every child.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace, p: sockeye::Payload) -> Result<(), sockeye::EmitError> {
    /// rooms.emit_payload("relay", &p).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`ParentOperator::emit_payload`].
    pub async fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.operator().emit_payload(event, payload).await
    }
}

/// A selection of sockets in every child of a [`ParentNamespace`]: by rooms, minus other
/// rooms, with flags. It only emits (Node's parent namespace only broadcasts).
///
/// # Examples
/// ```
/// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
/// rooms.to("moderators").except("away").volatile().emit("report", &"spam").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "an operator does nothing until `emit` is called"]
pub struct ParentOperator {
    parent: Arc<Parent>,
    opts: BroadcastOptions,
}

impl std::fmt::Debug for ParentOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentOperator")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl ParentOperator {
    /// Adds rooms to send to.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.to("a").to("b").emit("hi", &()).await?;
    /// # Ok(()) }
    /// ```
    pub fn to(mut self, rooms: impl IntoRooms) -> ParentOperator {
        self.opts.rooms.extend(rooms.into_rooms());
        self
    }

    /// Same as [`ParentOperator::to`].
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.to("a").within("b").emit("hi", &()).await?;
    /// # Ok(()) }
    /// ```
    pub fn within(self, rooms: impl IntoRooms) -> ParentOperator {
        self.to(rooms)
    }

    /// Leaves out the sockets in these rooms.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.to("a").except("muted").emit("hi", &()).await?;
    /// # Ok(()) }
    /// ```
    pub fn except(mut self, rooms: impl IntoRooms) -> ParentOperator {
        self.opts.except.extend(rooms.into_rooms());
        self
    }

    /// Only this server's sockets.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.to("a").local().emit("hi", &()).await?;
    /// # Ok(()) }
    /// ```
    pub fn local(mut self) -> ParentOperator {
        self.opts.flags.local = true;
        self
    }

    /// Volatile emits (see [`crate::BroadcastOperator::volatile`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.to("a").volatile().emit("tick", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn volatile(mut self) -> ParentOperator {
        self.opts.flags.volatile = true;
        self
    }

    /// Whether the packet may be compressed (see [`crate::BroadcastOperator::compress`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.to("a").compress(false).emit("tick", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn compress(mut self, compress: bool) -> ParentOperator {
        self.opts.flags.compress = compress;
        self
    }

    /// Sends one packet per child (each names its namespace) through the child's adapter.
    async fn send(&self, event: &str, args: Payload) -> Result<(), EmitError> {
        let mut first_err = None;
        for ns in self.parent.children() {
            let packet = BroadcastPacket::new(ns.name(), event, args.clone());
            if let Err(e) = ns.adapter().broadcast(packet, self.opts.clone()).await {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Emits an event with `data` as its single argument to the selected sockets of every
    /// child.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.to("a").emit("hi", &serde_json::json!({"from": "the server"})).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When `data` does not serialize, or a child's adapter cannot reach the other servers
    /// (every child's local sockets were sent it; the first error is returned).
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let args = Payload::from_values(vec![value::to_value(data)?]);
        self.send(event, args).await
    }

    /// Emits an event whose arguments are the items of `args` (a tuple, array or `Vec`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace) -> Result<(), sockeye::EmitError> {
    /// rooms.to("a").emit_args("score", &("home", 2)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`ParentOperator::emit`], or when `args` does not serialize to an array.
    pub async fn emit_args<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.send(event, crate::operators::spread(args)?).await
    }

    /// Emits an event with the arguments and attachments of a received payload.
    ///
    /// # Examples
    /// ```
    /// # async fn f(rooms: sockeye::ParentNamespace, p: sockeye::Payload) -> Result<(), sockeye::EmitError> {
    /// rooms.to("a").emit_payload("relay", &p).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When a child's adapter cannot reach the other servers.
    pub async fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.send(event, payload.clone()).await
    }
}

/// Boxes an async namespace matcher.
pub(crate) fn box_handshake_matcher<F, Fut>(f: F) -> NsMatcher
where
    F: Fn(String, Handshake) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    NsMatcher::Handshake(Box::new(move |name, hs| Box::pin(f(name, hs))))
}
