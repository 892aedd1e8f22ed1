//! A client's socket in one namespace.

use std::borrow::Cow;

use crate::fast_hash::FastMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use sockeye_engineio::payload::{Outgoing, SharedMessage};
use sockeye_engineio::{SendError, Sid, TransportKind};
use tokio::sync::oneshot;

use serde::de::DeserializeOwned;
use sockeye_core::adapter::{
    BroadcastOptions, BroadcastPacket, HandshakeInfo, Session, SocketInfo,
};
use sockeye_core::parser::{Args, ArgsMode, Encoded, EventName, Message, Packet, Parser};
use sockeye_core::value::{self, Value};
use sockeye_core::{IntoRooms, Payload, Room};

use crate::ack::AckFuture;
use crate::client::Conn;
use crate::errors::EmitError;
use crate::handler::{
    box_disconnect, box_message, BoxedDisconnectHandler, BoxedMessageHandler, DisconnectHandler,
    HandlerTable, MessageHandler, MessageParts, Refusal,
};
use crate::hooks::{Hooks, ListenerId, PacketMiddleware};
use crate::io::{IoInner, SocketIo};
use crate::ns::Namespace;
use crate::operators::BroadcastOperator;

/// A shared handle to a [`Socket`]: what handlers receive.
///
/// # Examples
/// ```
/// use sockeye::SocketRef;
/// fn on_connect(socket: SocketRef) {
///     println!("{} connected", socket.id());
/// }
/// # let _ = on_connect;
/// ```
pub type SocketRef = Arc<Socket>;

/// Why a socket left its namespace. The text forms are Node's.
///
/// # Examples
/// ```
/// # fn f(socket: sockeye::SocketRef) {
/// use sockeye::{DisconnectReason, SocketRef};
/// socket.on_disconnect(|s: SocketRef, reason: DisconnectReason| match reason {
///     DisconnectReason::PingTimeout => println!("{} went quiet", s.id()),
///     other => println!("{} left: {other}", s.id()),
/// });
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the connection.
    TransportClose,
    /// The connection failed, or the client read too slowly.
    TransportError,
    /// The client stopped answering pings.
    PingTimeout,
    /// The client sent an invalid packet.
    ParseError,
    /// The server closed the connection.
    ForcedClose,
    /// The server is shutting down.
    ServerShutdown,
    /// The client left the namespace (`socket.disconnect()` in the client).
    ClientNamespaceDisconnect,
    /// The server removed the socket (`socket.disconnect()` here).
    ServerNamespaceDisconnect,
}

impl DisconnectReason {
    /// Whether a socket that left for this reason keeps its session, when connection state
    /// recovery is on: the connection dropped (Node's `RECOVERABLE_DISCONNECT_REASONS`), as
    /// opposed to the client or the server leaving on purpose, or a protocol error.
    ///
    /// # Examples
    /// ```
    /// use sockeye::DisconnectReason;
    /// assert!(DisconnectReason::PingTimeout.is_recoverable());
    /// assert!(!DisconnectReason::ClientNamespaceDisconnect.is_recoverable());
    /// ```
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportClose
                | DisconnectReason::TransportError
                | DisconnectReason::PingTimeout
                | DisconnectReason::ForcedClose
                | DisconnectReason::ServerShutdown
        )
    }

    /// Node's name for the reason, e.g. `"client namespace disconnect"`.
    ///
    /// # Examples
    /// ```
    /// use sockeye::DisconnectReason;
    /// assert_eq!(DisconnectReason::PingTimeout.as_str(), "ping timeout");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ServerShutdown => "server shutting down",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
        }
    }

    /// More about the reason, where Node gives more (its `disconnect` event's second
    /// argument, `description`): only a transport error has one; every other reason is
    /// `None`, as in Node.
    ///
    /// Node describes a transport error by its cause (`"overlap from client"`, a WebSocket
    /// error, ...); the Engine.IO session does not report the cause yet, so the description
    /// names the possible ones.
    ///
    /// # Examples
    /// ```
    /// use sockeye::DisconnectReason;
    /// assert_eq!(DisconnectReason::ClientNamespaceDisconnect.description(), None);
    /// assert!(DisconnectReason::TransportError.description().is_some());
    /// ```
    pub fn description(self) -> Option<&'static str> {
        match self {
            DisconnectReason::TransportError => Some(
                "the connection failed: a network error, overlapping polling requests, an \
                 invalid frame, or a client too slow to read",
            ),
            _ => None,
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<sockeye_engineio::DisconnectReason> for DisconnectReason {
    fn from(r: sockeye_engineio::DisconnectReason) -> Self {
        use sockeye_engineio::DisconnectReason as E;
        match r {
            E::TransportClose => DisconnectReason::TransportClose,
            E::PingTimeout => DisconnectReason::PingTimeout,
            E::ParseError => DisconnectReason::ParseError,
            E::ForcedClose => DisconnectReason::ForcedClose,
            E::ServerShutdown => DisconnectReason::ServerShutdown,
            _ => DisconnectReason::TransportError,
        }
    }
}

/// What the client's handshake carried.
///
/// # Examples
/// ```
/// # fn f(socket: sockeye::SocketRef) {
/// let hs = socket.handshake();
/// println!("auth {} from {:?}", hs.auth, hs.address());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The auth payload of the namespace connect (`{}` when none was sent).
    pub auth: serde_json::Value,
    req: Arc<sockeye_engineio::RequestInfo>,
}

impl Handshake {
    /// The handshake of a namespace connect on `conn`, with its auth payload.
    pub(crate) fn new(conn: &Conn, auth: Option<&Payload>) -> Handshake {
        let auth = auth
            .and_then(|a| a.arg(0).ok())
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        Handshake {
            auth,
            req: conn.request().clone(),
        }
    }

    /// The handshake request's headers (rebuilt on each call; see [`Handshake::header`]).
    ///
    /// # Examples
    /// ```
    /// # fn f(h: &sockeye::Handshake) {
    /// if let Some(agent) = h.headers().get("user-agent") {
    ///     println!("{agent:?}");
    /// }
    /// # }
    /// ```
    pub fn headers(&self) -> http::HeaderMap {
        self.req.headers()
    }

    /// The first value of one header of the handshake request, when it is text.
    ///
    /// # Examples
    /// ```
    /// # fn f(h: &sockeye::Handshake) {
    /// let token = h.header("x-token").unwrap_or("none");
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.header(name)
    }

    /// The handshake request's URI; its query has the client's `query` option.
    ///
    /// # Examples
    /// ```
    /// # fn f(h: &sockeye::Handshake) {
    /// println!("query: {:?}", h.uri().query());
    /// # }
    /// ```
    pub fn uri(&self) -> http::Uri {
        self.req.uri()
    }

    /// The peer address, when the server put a [`std::net::SocketAddr`] in the request's
    /// extensions ([`crate::serve`] does).
    ///
    /// # Examples
    /// ```
    /// # fn f(h: &sockeye::Handshake) {
    /// if let Some(peer) = h.address() {
    ///     println!("from {}", peer.ip());
    /// }
    /// # }
    /// ```
    pub fn address(&self) -> Option<std::net::SocketAddr> {
        self.req.remote_addr
    }

    /// When the connection was opened.
    ///
    /// # Examples
    /// ```
    /// # fn f(h: &sockeye::Handshake) {
    /// let age = h.time().elapsed().unwrap_or_default();
    /// # }
    /// ```
    pub fn time(&self) -> std::time::SystemTime {
        self.req.time
    }

    /// The handshake as it crosses the cluster (the fields of Node's `socket.handshake`).
    ///
    /// # Examples
    /// ```
    /// # fn f(h: &sockeye::Handshake) {
    /// let info = h.info();
    /// println!("{} {}", info.url, info.address);
    /// # }
    /// ```
    pub fn info(&self) -> HandshakeInfo {
        let mut headers: Vec<(String, Value)> = Vec::new();
        for (name, value) in self.headers().iter() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match headers.iter_mut().find(|(n, _)| n == name.as_str()) {
                // Node joins a repeated header's values.
                Some((_, Value::Str(v))) => {
                    v.push_str(", ");
                    v.push_str(&value);
                }
                _ => headers.push((name.as_str().to_owned(), Value::Str(value))),
            }
        }
        let mut query: Vec<(String, Value)> = Vec::new();
        for pair in self
            .req
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (percent_decode(k), Value::Str(percent_decode(v)));
            match query.iter_mut().find(|(n, _)| *n == k) {
                // A repeated key gives an array, as Node's query parser does.
                Some((_, Value::Array(a))) => a.push(v),
                Some((_, prev)) => *prev = Value::Array(vec![std::mem::take(prev), v]),
                None => query.push((k, v)),
            }
        }
        let since_epoch = self
            .time()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        HandshakeInfo {
            headers: Value::Map(headers),
            time: sockeye_core::time::js_date_string(since_epoch.as_secs()),
            address: self
                .address()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            xdomain: self.header("origin").is_some(),
            secure: false,
            issued: i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX),
            url: self.req.uri_str().to_owned(),
            query: Value::Map(query),
            auth: value::to_value(&self.auth).unwrap_or_default(),
        }
    }

    /// One query parameter of the handshake URI (percent-decoding `+` and `%XX`).
    ///
    /// # Examples
    /// ```
    /// # fn f(h: &sockeye::Handshake) {
    /// let token = h.query("token");
    /// # }
    /// ```
    pub fn query(&self, key: &str) -> Option<String> {
        let q = self.req.query()?;
        q.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if c == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A client's socket in one namespace.
///
/// Handlers get it as a [`SocketRef`]. It emits to its client, answers acks, joins and
/// leaves rooms, and broadcasts to others.
// The fields every event touches (the reference count before them, the namespace to find
// the socket, the handlers, the connection to answer on) come first, in as few cache lines
// as the layout allows: with many connections they are cold each time.
///
/// # Examples
/// ```
/// # fn f(socket: sockeye::SocketRef) {
/// use sockeye::{SocketRef, extract::Data};
/// socket.join("lobby");
/// socket.on("chat", |s: SocketRef, Data(text): Data<String>| async move {
///     let _ = s.to("lobby").emit("chat", &text).await;
/// });
/// # }
/// ```
#[repr(C)]
pub struct Socket {
    ns: Arc<Namespace>,
    pub(crate) conn: Arc<Conn>,
    connected: AtomicBool,
    /// Whether the socket is a recovered one (in what would be padding after `connected`).
    recovered: bool,
    /// Whether outgoing catch-all listeners are set (read by every broadcast, beside
    /// `connected`, in the same padding, so a socket without them costs nothing more).
    listened: AtomicBool,
    handlers: RwLock<HandlerTable>,
    id: Sid,
    on_leave: Mutex<LeaveHandlers>,
    acks: Mutex<FastMap<u64, oneshot::Sender<Payload>>>,
    handshake: Handshake,
    extras: Mutex<Extras>,
    /// The private session id a client sends back to recover this socket (boxed: only with
    /// connection state recovery on).
    pid: Option<Box<Sid>>,
}

/// An event's handler with its name, or (when it has none) the fallback handler, if any.
type Found = Result<(Cow<'static, str>, BoxedMessageHandler), Option<BoxedMessageHandler>>;

/// The disconnect handlers of a socket, under one lock (each socket has room for both).
#[derive(Default)]
struct LeaveHandlers {
    on_disconnect: Option<BoxedDisconnectHandler>,
    on_disconnecting: Option<BoxedDisconnectHandler>,
}

/// What a socket keeps for the application, under one lock: its typed extensions and the data
/// that crosses the cluster (boxed: most sockets have none).
#[derive(Default)]
struct Extras {
    extensions: http::Extensions,
    data: Option<Box<Value>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("ns", &self.ns.name())
            .field("connected", &self.connected())
            .finish_non_exhaustive()
    }
}

impl Socket {
    /// A socket for `conn`: a new one, or the one `restored` describes (connection state
    /// recovery).
    pub(crate) fn new(
        ns: Arc<Namespace>,
        conn: Arc<Conn>,
        auth: Option<&Payload>,
        restored: Option<&Session>,
    ) -> Socket {
        let handshake = Handshake::new(&conn, auth);
        let v3 = conn.protocol() == sockeye_engineio::ProtocolVersion::V3;
        let (id, pid, data) = match restored {
            Some(s) => {
                let data = (s.data != Value::Null).then(|| Box::new(s.data.clone()));
                (s.sid, Some(Box::new(s.pid)), data)
            }
            // A v4-protocol client (socket.io-client 2.x) knows its socket by the engine's id,
            // and cannot recover it (its CONNECT acknowledgement carries no pid).
            None if v3 => (conn.sid(), None, None),
            None => {
                let pid = ns.recovery().map(|_| Box::new(Sid::new()));
                (Sid::new(), pid, None)
            }
        };
        Socket {
            id,
            handshake,
            ns,
            conn,
            connected: AtomicBool::new(false),
            listened: AtomicBool::new(false),
            handlers: RwLock::new(HandlerTable::default()),
            on_leave: Mutex::new(LeaveHandlers::default()),
            acks: Mutex::new(FastMap::default()),
            extras: Mutex::new(Extras {
                extensions: http::Extensions::new(),
                data,
            }),
            pid,
            recovered: restored.is_some(),
        }
    }

    /// The socket's id (per namespace; not the connection's engine id).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// let _ = socket.emit("your-id", &socket.id());
    /// # }
    /// ```
    pub fn id(&self) -> Sid {
        self.id
    }

    /// The id as the client knows it: [`Socket::id`] itself, except for a v4-protocol client
    /// (socket.io-client 2.x) outside `/`, which calls it `<namespace>#<engine id>`. Both name
    /// the socket's own room.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// println!("{} joined", socket.id_string());
    /// # }
    /// ```
    pub fn id_string(&self) -> String {
        match self.conn.protocol() {
            sockeye_engineio::ProtocolVersion::V3 if self.ns_name() != "/" => {
                format!("{}#{}", self.ns_name(), self.id)
            }
            _ => self.id.to_string(),
        }
    }

    /// The namespace.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// println!("in {}, with {} others", socket.ns().name(), socket.ns().socket_count() - 1);
    /// # }
    /// ```
    pub fn ns(&self) -> &Arc<Namespace> {
        &self.ns
    }

    pub(crate) fn ns_name(&self) -> &str {
        self.ns.name()
    }

    /// What the handshake carried.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// let room = socket.handshake().query("room").unwrap_or_else(|| "lobby".into());
    /// socket.join(room);
    /// # }
    /// ```
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// Whether this socket was recovered after a temporary disconnection (Node's
    /// `socket.recovered`; see
    /// [`SocketIoBuilder::connection_state_recovery`](crate::SocketIoBuilder::connection_state_recovery)):
    /// its id, rooms and data are those it had before, and the broadcasts it missed were sent
    /// to its client before the CONNECT acknowledgement. Always false without recovery.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// use sockeye::SocketRef;
    /// io.ns("/", |socket: SocketRef| {
    ///     if !socket.recovered() {
    ///         // A new session: set up what a recovered one already has.
    ///         socket.join("lobby");
    ///     }
    /// });
    /// # }
    /// ```
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The private session id, with connection state recovery on.
    pub(crate) fn pid(&self) -> Option<&Sid> {
        self.pid.as_deref()
    }

    /// Whether the socket is still connected.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// if socket.connected() {
    ///     let _ = socket.emit("still-here", &());
    /// }
    /// # }
    /// ```
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn set_connected(&self) {
        self.connected.store(true, Ordering::Release);
    }

    pub(crate) fn io_inner(&self) -> &Arc<IoInner> {
        self.ns.io_inner()
    }

    /// The server's packet codec.
    pub(crate) fn parser(&self) -> &dyn Parser {
        &*self.io_inner().config.parser
    }

    /// The server handle.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.io().emit("joined", &socket.id()).await?;
    /// # Ok(()) }
    /// ```
    pub fn io(&self) -> SocketIo {
        SocketIo::from_inner(self.io_inner().clone())
    }

    /// The engine id of the connection under this socket.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// println!("socket {} on connection {}", socket.id(), socket.engine_id());
    /// # }
    /// ```
    pub fn engine_id(&self) -> Sid {
        self.conn.sid()
    }

    /// The transport the socket's connection uses now (Node's
    /// `socket.conn.transport.name`): polling until an upgrade, then WebSocket.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// println!("{} is on {}", socket.id(), socket.transport()); // "polling" or "websocket"
    /// # }
    /// ```
    pub fn transport(&self) -> TransportKind {
        self.conn.transport()
    }

    /// Registers a listener of the connection's upgrade from polling to WebSocket (Node's
    /// `socket.conn.on("upgrade", transport => …)`); it gets the socket and the new
    /// transport. Listeners add up (they run in the order they were registered), and each
    /// runs at most once, on the connection's task while the upgrade completes: keep it
    /// short, and spawn for longer work. A connection that opened on WebSocket, or that
    /// stays on polling, never upgrades; a socket that left its namespace hears of no
    /// upgrade. The listener gets the socket as an argument: capture no `SocketRef` in it
    /// (that would keep the socket alive while it waits).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::{SocketRef, TransportKind};
    /// socket.on_upgrade(|s: SocketRef, transport: TransportKind| {
    ///     println!("{} upgraded to {transport}", s.id());
    /// });
    /// # }
    /// ```
    pub fn on_upgrade(&self, listener: impl Fn(SocketRef, TransportKind) + Send + Sync + 'static) {
        // Kept among the extensions, under a private type: no room in every socket for a
        // listener few register.
        let mut extras = self.extras.lock();
        let ext = &mut extras.extensions;
        let mut listeners = ext.remove::<UpgradeListeners>().unwrap_or_default();
        listeners.0.push(Arc::new(listener));
        ext.insert(listeners);
    }

    /// Runs the upgrade listeners (see [`Socket::on_upgrade`]).
    pub(crate) fn notify_upgrade(self: &Arc<Self>, transport: TransportKind) {
        let listeners = self
            .extras
            .lock()
            .extensions
            .get::<UpgradeListeners>()
            .cloned();
        let Some(listeners) = listeners else {
            return;
        };
        for l in listeners.0.iter() {
            // A panicking listener must not take the connection's task down with it.
            crate::handler::run_sync(|| l(self.clone(), transport));
        }
    }

    /// Drops the upgrade listeners of a socket that left (a listener may hold the socket).
    pub(crate) fn forget_upgrade_listeners(&self) {
        self.extras.lock().extensions.remove::<UpgradeListeners>();
    }

    /// Registers the handler of an event, replacing any handler it had.
    ///
    /// The name is a `&'static str` literal (kept as it is, shared by every socket) or a
    /// `String` (for names made at run time).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::{SocketRef, extract::Data};
    /// socket.on("message", |socket: SocketRef, Data(text): Data<String>| async move {
    ///     let reversed: String = text.chars().rev().collect();
    ///     let _ = socket.emit("message", &reversed);
    /// });
    /// let symbol = "ACME";
    /// socket.on(format!("quote:{symbol}"), |socket: SocketRef| {
    ///     let _ = socket.emit("price", &12.5);
    /// });
    /// # }
    /// ```
    pub fn on<H: MessageHandler<M>, M>(&self, event: impl Into<Cow<'static, str>>, handler: H) {
        // A literal name stays where it is: every socket's map then points at the same
        // bytes, which a lookup compares while they are in cache.
        self.handlers
            .write()
            .insert(event.into(), box_message(handler));
    }

    /// Registers a handler for every event that has no handler of its own (use the
    /// [`crate::extract::Event`] extractor for the name).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::{SocketRef, extract::Event};
    /// socket.on_fallback(|s: SocketRef, Event(name): Event| {
    ///     let _ = s.emit("unknown-event", &name);
    /// });
    /// # }
    /// ```
    pub fn on_fallback<H: MessageHandler<M>, M>(&self, handler: H) {
        self.handlers.write().fallback = Some(box_message(handler));
    }

    /// Registers the disconnect handler (called once, after the socket left its rooms).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::{DisconnectReason, SocketRef};
    /// socket.on_disconnect(|s: SocketRef, reason: DisconnectReason| {
    ///     println!("{} left: {reason}", s.id());
    /// });
    /// # }
    /// ```
    pub fn on_disconnect<H: DisconnectHandler<M>, M>(&self, handler: H) {
        self.on_leave.lock().on_disconnect = Some(box_disconnect(handler));
    }

    /// Registers the disconnecting handler (called while the socket is still in its rooms).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::{DisconnectReason, SocketRef};
    /// socket.on_disconnecting(|s: SocketRef, reason: DisconnectReason| async move {
    ///     // Still in its rooms: tell them.
    ///     for room in s.rooms() {
    ///         let _ = s.to(room).emit("left", &s.id()).await;
    ///     }
    /// });
    /// # }
    /// ```
    pub fn on_disconnecting<H: DisconnectHandler<M>, M>(&self, handler: H) {
        self.on_leave.lock().on_disconnecting = Some(box_disconnect(handler));
    }

    /// The span `socket{sid, ns, conn, transport, remote}` of this socket's work: made when
    /// the work starts (an event, the connect and disconnect handlers), kept by a handler's
    /// task while it waits, a root span so that a line is never filed under another client.
    /// With the INFO level off for `sockeye`, a level check and nothing else.
    pub(crate) fn span(&self) -> tracing::Span {
        tracing::info_span!(
            parent: None,
            "socket",
            sid = %self.id,
            ns = self.ns_name(),
            conn = %self.conn.sid(),
            transport = self.conn.transport().as_str(),
            remote = self.conn.request().remote_addr.map(tracing::field::display),
        )
    }

    /// Runs the handler of an event (or the fallback); takes the caller's reference, which
    /// the handler then owns.
    pub(crate) fn dispatch(self: Arc<Self>, event: EventName, payload: Payload, id: Option<u64>) {
        // With INFO off (as in production, usually) one comparison: no span is made or dropped.
        let _span = tracing::level_enabled!(tracing::Level::INFO).then(|| self.span().entered());
        tracing::debug!(
            event = ?String::from_utf8_lossy(event.bytes(payload.src())),
            ack = id.is_some(),
            "event"
        );
        let (found, hooks) = {
            let table = self.handlers.read();
            let found = match table.get(event.bytes(payload.src())) {
                Some((name, h)) => Ok((name.clone(), h.clone())),
                None => Err(table.fallback.clone()),
            };
            (found, table.hooks.clone())
        };
        if let Some(hooks) = hooks {
            return self.dispatch_hooked(&hooks, found, event, payload, id);
        }
        // The name handed on is the handler's own: a literal costs nothing to pass along.
        let (name, handler) = match found {
            Ok(found) => found,
            Err(None) => return,
            Err(Some(h)) => (Cow::Owned(event.into_string(payload.src())), h),
        };
        handler(self, MessageParts::new(name, payload, id));
    }

    /// [`Socket::dispatch`] for a socket with hooks: the catch-all listeners see the event
    /// first, then the packet middlewares run, then its handler (as in Node's `onevent`).
    fn dispatch_hooked(
        self: Arc<Self>,
        hooks: &Arc<Hooks>,
        found: Found,
        event: EventName,
        payload: Payload,
        id: Option<u64>,
    ) {
        let (name, handler) = match found {
            Ok((name, h)) => (name, Some(h)),
            Err(fallback) => (Cow::Owned(event.into_string(payload.src())), fallback),
        };
        Hooks::notify(&hooks.any, &self, name.clone(), &payload);
        if hooks.middlewares.is_empty() {
            if let Some(h) = handler {
                h(self, MessageParts::new(name, payload, id));
            }
            return;
        }
        let middlewares = hooks.middlewares.clone();
        let socket = self.clone();
        let chain = async move {
            for mw in middlewares {
                let parts = MessageParts::new(name.clone(), payload.clone(), id);
                if let Err(refusal) = mw(socket.clone(), parts).await {
                    let on_error = socket
                        .handlers
                        .read()
                        .hooks
                        .as_ref()
                        .and_then(|h| h.on_error.clone());
                    if let Some(on_error) = on_error {
                        crate::handler::run_sync(|| on_error(socket, refusal));
                    }
                    return;
                }
            }
            // A packet that arrives as the socket leaves is dropped, as in Node.
            if let Some(h) = handler.filter(|_| socket.connected()) {
                h(socket, MessageParts::new(name, payload, id));
            }
        };
        crate::handler::run_event(&self, chain);
    }

    /// Changes the socket's hooks (copied on write: readers keep the version they took).
    fn edit_hooks<R>(&self, f: impl FnOnce(&mut Hooks) -> R) -> R {
        if !self.connected() && !self.ns.is_pending(self.id) {
            // A socket that left keeps nothing (a hook holding it would keep it alive).
            return f(&mut Hooks::default());
        }
        let mut table = self.handlers.write();
        let mut hooks = table.hooks.as_deref().cloned().unwrap_or_default();
        let out = f(&mut hooks);
        self.listened
            .store(!hooks.outgoing.is_empty(), Ordering::Release);
        let empty = hooks.any.is_empty()
            && hooks.outgoing.is_empty()
            && hooks.middlewares.is_empty()
            && hooks.on_error.is_none();
        table.hooks = (!empty).then(|| Arc::new(hooks));
        out
    }

    /// Adds a catch-all listener: it is called with every event the client sends, before
    /// the packet middlewares and the event's own handler (Node's `socket.onAny`). It takes
    /// the same extractors as an event handler ([`crate::extract::Event`] gives the name);
    /// the ack is left to the event's handler. Returns its id, for [`Socket::off_any`].
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::{Payload, extract::Event};
    /// socket.on_any(|Event(name): Event, p: Payload| println!("{name}: {} args", p.len()));
    /// # }
    /// ```
    pub fn on_any<H: MessageHandler<M>, M>(&self, handler: H) -> ListenerId {
        let id = ListenerId::next();
        self.edit_hooks(|h| h.any.push((id, box_message(handler))));
        id
    }

    /// Adds a catch-all listener called before those already added (Node's
    /// `socket.prependAny`).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::extract::Event;
    /// socket.on_any(|Event(name): Event| println!("second: {name}"));
    /// socket.prepend_any(|Event(name): Event| println!("first: {name}"));
    /// # }
    /// ```
    pub fn prepend_any<H: MessageHandler<M>, M>(&self, handler: H) -> ListenerId {
        let id = ListenerId::next();
        self.edit_hooks(|h| h.any.insert(0, (id, box_message(handler))));
        id
    }

    /// Removes one catch-all listener (`id`), or all of them (`None`), as Node's
    /// `socket.offAny([listener])`. Returns whether one was removed.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::extract::Event;
    /// let id = socket.on_any(|Event(name): Event| println!("{name}"));
    /// assert!(socket.off_any(id));
    /// socket.off_any(None);
    /// # }
    /// ```
    pub fn off_any(&self, id: impl Into<Option<ListenerId>>) -> bool {
        let id = id.into();
        self.edit_hooks(|h| crate::hooks::remove(&mut h.any, id))
    }

    /// The catch-all listeners, in calling order (Node's `socket.listenersAny()`).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// let id = socket.on_any(|| {});
    /// assert_eq!(socket.any_listeners(), vec![id]);
    /// # }
    /// ```
    pub fn any_listeners(&self) -> Vec<ListenerId> {
        let table = self.handlers.read();
        let hooks = table.hooks.as_deref();
        hooks.map_or_else(Vec::new, |h| h.any.iter().map(|(id, _)| *id).collect())
    }

    /// Adds a catch-all listener of outgoing events: it is called with every event sent to
    /// this socket's client (its own emits and the broadcasts that reach it, not acks),
    /// before the packet is queued (Node's `socket.onAnyOutgoing`). It takes the same
    /// extractors as an event handler. Returns its id, for [`Socket::off_any_outgoing`].
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::extract::Event;
    /// socket.on_any_outgoing(|Event(name): Event| println!("sending {name}"));
    /// # }
    /// ```
    pub fn on_any_outgoing<H: MessageHandler<M>, M>(&self, handler: H) -> ListenerId {
        let id = ListenerId::next();
        self.edit_hooks(|h| h.outgoing.push((id, box_message(handler))));
        id
    }

    /// Adds an outgoing catch-all listener called before those already added (Node's
    /// `socket.prependAnyOutgoing`).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::extract::Event;
    /// socket.prepend_any_outgoing(|Event(name): Event| println!("sending {name}"));
    /// # }
    /// ```
    pub fn prepend_any_outgoing<H: MessageHandler<M>, M>(&self, handler: H) -> ListenerId {
        let id = ListenerId::next();
        self.edit_hooks(|h| h.outgoing.insert(0, (id, box_message(handler))));
        id
    }

    /// Removes one outgoing catch-all listener (`id`), or all of them (`None`), as Node's
    /// `socket.offAnyOutgoing([listener])`. Returns whether one was removed.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// let id = socket.on_any_outgoing(|| {});
    /// assert!(socket.off_any_outgoing(id));
    /// assert!(!socket.off_any_outgoing(None));
    /// # }
    /// ```
    pub fn off_any_outgoing(&self, id: impl Into<Option<ListenerId>>) -> bool {
        let id = id.into();
        self.edit_hooks(|h| crate::hooks::remove(&mut h.outgoing, id))
    }

    /// The outgoing catch-all listeners, in calling order (Node's
    /// `socket.listenersAnyOutgoing()`).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// assert!(socket.any_outgoing_listeners().is_empty());
    /// # }
    /// ```
    pub fn any_outgoing_listeners(&self) -> Vec<ListenerId> {
        let table = self.handlers.read();
        let hooks = table.hooks.as_deref();
        hooks.map_or_else(Vec::new, |h| h.outgoing.iter().map(|(id, _)| *id).collect())
    }

    /// Adds a packet middleware (Node's `socket.use`): it runs on every event the client
    /// sends, after the catch-all listeners and before the event's handler, in the order
    /// added. One that refuses stops the event there: its handler is not called, its ack is
    /// not answered, nothing is sent to the client, and the refusal goes to the
    /// [`Socket::on_error`] handler (Node emits `error` on the socket). Sync or async; see
    /// [`PacketMiddleware`].
    ///
    /// A middleware that takes the [`AckSender`](crate::AckSender) may answer the client
    /// (say, with an error) before refusing; the client keeps the first answer it gets.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::{SocketRef, extract::{Event, Refusal}};
    /// socket.use_middleware(|s: SocketRef, Event(name): Event| async move {
    ///     if name == "delete" && s.extension::<String>().as_deref() != Some("admin") {
    ///         return Err(Refusal::new("unauthorized event"));
    ///     }
    ///     Ok(())
    /// });
    /// socket.on_error(|s: SocketRef, err: Refusal| {
    ///     if err.message == "unauthorized event" {
    ///         s.disconnect();
    ///     }
    /// });
    /// # }
    /// ```
    pub fn use_middleware<H: PacketMiddleware<M>, M>(&self, middleware: H) {
        let mw = crate::hooks::box_packet_middleware(middleware);
        self.edit_hooks(|h| h.middlewares.push(mw));
    }

    /// Sets the handler of packet middleware refusals (Node's `socket.on("error")`),
    /// replacing any previous one. Without one, a refused event is dropped silently.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::{SocketRef, extract::Refusal};
    /// socket.on_error(|s: SocketRef, err: Refusal| {
    ///     let _ = s.emit("refused", &err.message);
    /// });
    /// # }
    /// ```
    pub fn on_error(&self, handler: impl Fn(SocketRef, Refusal) + Send + Sync + 'static) {
        self.edit_hooks(|h| h.on_error = Some(Arc::new(handler)));
    }

    /// Calls the outgoing catch-all listeners, if any, with an event about to be sent
    /// (`payload` makes its arguments, only when there are listeners).
    pub(crate) fn notify_outgoing(&self, event: &str, payload: impl FnOnce() -> Option<Payload>) {
        if !self.listened.load(Ordering::Acquire) {
            return;
        }
        let Some(hooks) = self.handlers.read().hooks.clone() else {
            return;
        };
        // Listeners get the socket as handlers do; it is in its namespace while connected.
        let (Some(me), Some(payload)) = (self.ns.get_socket(self.id), payload()) else {
            return;
        };
        Hooks::notify(&hooks.outgoing, &me, Cow::Owned(event.to_owned()), &payload);
    }

    /// Calls the outgoing catch-all listeners, if any, with a broadcast about to reach this
    /// socket.
    pub(crate) fn notify_broadcast(self: &Arc<Self>, packet: &BroadcastPacket) {
        if !self.listened.load(Ordering::Relaxed) {
            return;
        }
        let Some(hooks) = self.handlers.read().hooks.clone() else {
            return;
        };
        let event = Cow::Owned(packet.event().to_owned());
        Hooks::notify(&hooks.outgoing, self, event, packet.args());
    }

    /// Emits an event with `data` as its single argument to this socket's client.
    ///
    /// Binary values (`bytes::Bytes` or anything serialized as bytes) travel as binary
    /// attachments.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.emit("price", &serde_json::json!({"symbol": "ACME", "price": 12.5}))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When `data` does not serialize, the socket is disconnected, or its queue is full. With
    /// connection state recovery on, the emit goes through the adapter, as a broadcast to the
    /// socket (as in Node), and a full queue is handled as for a broadcast (by the overflow
    /// policy), not reported here.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_as(event, data, ArgsMode::One, false, true)
    }

    /// Emits an event whose arguments are the items of `args` (a tuple, array or `Vec`).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.emit_args("price", &("ACME", 12.5))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Socket::emit`], or when `args` does not serialize to an array.
    pub fn emit_args<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        self.emit_as(event, args, ArgsMode::Spread, false, true)
    }

    /// Emits an event with the arguments and attachments of a received payload.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::{Payload, SocketRef};
    /// socket.on("echo", |s: SocketRef, p: Payload| {
    ///     let _ = s.emit_payload("echo", &p);
    /// });
    /// # }
    /// ```
    ///
    /// # Errors
    /// When the socket is disconnected or its queue is full.
    pub fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.emit_payload_as(event, payload, false, true)
    }

    pub(crate) fn emit_as<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        mode: ArgsMode,
        volatile: bool,
        compress: bool,
    ) -> Result<(), EmitError> {
        if self.ns.recovery().is_some() {
            let args = match mode {
                ArgsMode::One => Payload::from_values(vec![value::to_value(data)?]),
                ArgsMode::Spread => crate::operators::spread(data)?,
            };
            return self.emit_kept(event, args, volatile, compress);
        }
        self.notify_outgoing(event, || args_payload(data, mode));
        if volatile && self.drops_volatile() {
            return Ok(());
        }
        let encoded = self.parser().encode(Packet::Event {
            ns: self.ns_name(),
            event,
            args: Args::Data(&data, mode),
            id: None,
            offset: None,
        })?;
        self.send_encoded_with(encoded, compress)
    }

    pub(crate) fn emit_payload_as(
        &self,
        event: &str,
        payload: &Payload,
        volatile: bool,
        compress: bool,
    ) -> Result<(), EmitError> {
        if self.ns.recovery().is_some() {
            return self.emit_kept(event, payload.clone(), volatile, compress);
        }
        self.notify_outgoing(event, || Some(payload.clone()));
        if volatile && self.drops_volatile() {
            return Ok(());
        }
        let encoded = self.parser().encode(Packet::Event {
            ns: self.ns_name(),
            event,
            args: Args::Payload(payload),
            id: None,
            offset: None,
        })?;
        self.send_encoded_with(encoded, compress)
    }

    /// Whether a volatile packet is dropped now: anything still queued for the client means
    /// it has not read what it was sent before (counted in [`crate::metrics::volatile_drops`]).
    fn drops_volatile(&self) -> bool {
        let drop = self.conn.queued_bytes() > 0;
        if drop {
            crate::metrics::VOLATILE_DROPS.fetch_add(1, Ordering::Relaxed);
        }
        drop
    }

    /// An emit with connection state recovery on: as in Node, it goes through the adapter as
    /// a broadcast to this socket's own room, so that it gets an offset and is kept for the
    /// client, should its connection drop before it read it (unless it is volatile: then,
    /// as in Node, it may be dropped and is not kept). The outgoing catch-all listeners see
    /// it there, as any broadcast. Failures to queue are not reported (as for any
    /// broadcast): a client over its queue is disconnected, and gets the packet when it
    /// recovers.
    #[inline(never)]
    fn emit_kept(
        &self,
        event: &str,
        args: Payload,
        volatile: bool,
        compress: bool,
    ) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let packet = BroadcastPacket::new(self.ns_name(), event, args);
        let mut opts = BroadcastOptions::default();
        opts.rooms.push(Room::Owned(self.id.to_string()));
        opts.flags.volatile = volatile;
        opts.flags.compress = compress;
        let adapter = self.ns.adapter().clone();
        crate::handler::run(async move {
            if let Err(e) = adapter.broadcast(packet, opts).await {
                crate::metrics::add(&crate::metrics::ADAPTER_ERRORS, 1);
                tracing::debug!("an emit to one socket did not reach the adapter: {e}");
            }
        });
        Ok(())
    }

    /// Queues a packet for the client of a socket not connected yet (the missed packets of a
    /// restored one).
    pub(crate) fn send_unconnected(&self, encoded: &Encoded) {
        if let Err(e) = crate::client::send_encoded(&self.conn, encoded) {
            tracing::debug!(sid = %self.id, "a missed packet could not be queued: {e:?}");
        }
    }

    /// Emits an event and waits for the client's ack (default timeout: the builder's
    /// `ack_timeout`, 5 s; see [`Socket::timeout`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::AckError> {
    /// let answer: String = socket.emit_with_ack("question", &"ready?").recv_as().await?;
    /// # Ok(()) }
    /// ```
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        self: &Arc<Self>,
        event: &str,
        data: &T,
    ) -> AckFuture {
        let timeout = self.io_inner().config.ack_timeout;
        self.emit_with_ack_as(event, data, timeout, false, true)
    }

    pub(crate) fn emit_with_ack_as<T: Serialize + ?Sized>(
        self: &Arc<Self>,
        event: &str,
        data: &T,
        timeout: Duration,
        volatile: bool,
        compress: bool,
    ) -> AckFuture {
        self.notify_outgoing(event, || args_payload(data, ArgsMode::One));
        let id = self.ns.next_ack_id();
        let encoded = self.parser().encode(Packet::Event {
            ns: self.ns_name(),
            event,
            args: Args::Data(&data, ArgsMode::One),
            id: Some(id),
            offset: None,
        });
        self.send_with_ack(encoded.map_err(Into::into), id, timeout, volatile, compress)
    }

    /// Emits an event with a payload's arguments and attachments, and waits for the ack.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef, p: sockeye::Payload) -> Result<(), sockeye::AckError> {
    /// let answer = socket.emit_payload_with_ack("question", &p).await?;
    /// # Ok(()) }
    /// ```
    pub fn emit_payload_with_ack(self: &Arc<Self>, event: &str, payload: &Payload) -> AckFuture {
        let timeout = self.io_inner().config.ack_timeout;
        self.emit_payload_with_ack_as(event, payload, timeout, false, true)
    }

    pub(crate) fn emit_payload_with_ack_as(
        self: &Arc<Self>,
        event: &str,
        payload: &Payload,
        timeout: Duration,
        volatile: bool,
        compress: bool,
    ) -> AckFuture {
        self.notify_outgoing(event, || Some(payload.clone()));
        let id = self.ns.next_ack_id();
        let encoded = self.parser().encode(Packet::Event {
            ns: self.ns_name(),
            event,
            args: Args::Payload(payload),
            id: Some(id),
            offset: None,
        });
        self.send_with_ack(encoded.map_err(Into::into), id, timeout, volatile, compress)
    }

    fn send_with_ack(
        self: &Arc<Self>,
        encoded: Result<Encoded, EmitError>,
        id: u64,
        timeout: Duration,
        volatile: bool,
        compress: bool,
    ) -> AckFuture {
        let encoded = match encoded {
            Ok(e) => e,
            Err(e) => {
                return AckFuture {
                    rx: None,
                    err: Some(e),
                    timeout,
                    cleanup: None,
                }
            }
        };
        let rx = self.register_ack(id);
        // A dropped volatile packet is never answered: its ack times out, as in Node.
        let sent = if volatile && self.drops_volatile() {
            Ok(())
        } else {
            self.send_encoded_with(encoded, compress)
        };
        if let Err(e) = sent {
            self.forget_ack(id);
            return AckFuture {
                rx: None,
                err: Some(e),
                timeout,
                cleanup: None,
            };
        }
        AckFuture {
            rx: Some(rx),
            err: None,
            timeout,
            cleanup: Some((self.clone(), id)),
        }
    }

    pub(crate) fn register_ack(&self, id: u64) -> oneshot::Receiver<Payload> {
        let (tx, rx) = oneshot::channel();
        self.acks.lock().insert(id, tx);
        rx
    }

    pub(crate) fn forget_ack(&self, id: u64) {
        self.acks.lock().remove(&id);
    }

    /// How many acks this socket is waiting for.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// println!("{} answers awaited", socket.pending_acks());
    /// # }
    /// ```
    pub fn pending_acks(&self) -> usize {
        self.acks.lock().len()
    }

    pub(crate) fn on_ack(&self, id: u64, payload: Payload) {
        if let Some(tx) = self.acks.lock().remove(&id) {
            let _ = tx.send(payload);
        }
    }

    /// Sets a timeout for the next emit with ack (Node's `socket.timeout(ms)`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) {
    /// use std::time::Duration;
    /// let answer = socket.timeout(Duration::from_secs(1)).emit_with_ack("ping", &()).await;
    /// # }
    /// ```
    pub fn timeout(self: &Arc<Self>, timeout: Duration) -> SocketEmitter {
        SocketEmitter::new(self.clone()).timeout(timeout)
    }

    /// Marks the next emit volatile (Node's `socket.volatile`): it is dropped when the
    /// client has not read what it was sent before (anything is still queued for it), as
    /// Node drops it when the transport is not ready. Counted in
    /// [`crate::metrics::volatile_drops`]. For data that is stale by the next message (a
    /// position, a price): losing one costs nothing, queueing them costs memory.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.volatile().emit("position", &(12, 40))?;
    /// # Ok(()) }
    /// ```
    pub fn volatile(self: &Arc<Self>) -> SocketEmitter {
        SocketEmitter::new(self.clone()).volatile()
    }

    /// Sets Node's `compress` flag for the next emit (true when not called): with `false`,
    /// its packet is never compressed, neither by WebSocket `permessage-deflate` nor in a
    /// polling response (which is then compressed only if another packet in it may be, as in
    /// Node). On a broadcast ([`SocketEmitter::to`] and kin) it travels with the packet to the
    /// adapter ([`adapter::BroadcastFlags`](crate::adapter::BroadcastFlags)).
    ///
    /// Node's socket.io 4.8 honours the flag over polling only (engine.io 6 no longer passes
    /// it to its WebSocket transport); Sockeye honours it on both.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// // Already compressed: deflating it again would only cost CPU.
    /// let jpeg = bytes::Bytes::from_static(b"\xff\xd8\xff\xe0");
    /// socket.compress(false).emit("photo", &jpeg)?;
    /// # Ok(()) }
    /// ```
    pub fn compress(self: &Arc<Self>, compress: bool) -> SocketEmitter {
        SocketEmitter::new(self.clone()).compress(compress)
    }

    /// Queues an encoded packet (and its attachments) for the client.
    pub(crate) fn send_encoded(&self, encoded: Encoded) -> Result<(), EmitError> {
        let Some(o) = self.io_inner().observer() else {
            return self.queue(encoded.message, encoded.bins.into_iter());
        };
        let (packets, bytes) = crate::observe::size(&encoded);
        self.queue(encoded.message, encoded.bins.into_iter())?;
        o.packets_out(packets, bytes);
        Ok(())
    }

    /// As [`Socket::send_encoded`], never compressed when `compress` is false.
    fn send_encoded_with(&self, encoded: Encoded, compress: bool) -> Result<(), EmitError> {
        if compress {
            return self.send_encoded(encoded);
        }
        self.send_prepared(&Prepared::new(&encoded, false))
    }

    /// Queues a packet shared with other sockets (a broadcast), prepared for the engine once
    /// (see [`Prepared`]): only reference counts are taken, the packet is not copied.
    pub(crate) fn send_prepared(&self, prepared: &Prepared) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let message = Outgoing::Shared(prepared.message.clone());
        let res = if prepared.bins.is_empty() {
            self.conn.send(message)
        } else {
            let bins = prepared.bins.iter().cloned().map(Outgoing::Shared);
            self.conn.send_many(std::iter::once(message).chain(bins))
        };
        res.map_err(queue_error)
    }

    /// Queues a packet's message and its attachments (all or none).
    fn queue(
        &self,
        message: Message,
        bins: impl ExactSizeIterator<Item = Bytes> + Clone,
    ) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let res = match (message, bins.len()) {
            (Message::Text(text), 0) => self.conn.send_text(text),
            (Message::Binary(data), 0) => self.conn.send_binary(data),
            (message, _) => {
                let first = match message {
                    Message::Text(text) => Outgoing::Message(text),
                    Message::Binary(data) => Outgoing::Binary(data),
                };
                let packets = std::iter::once(first).chain(bins.map(Outgoing::Binary));
                self.conn.send_many(packets)
            }
        };
        res.map_err(queue_error)
    }

    /// Joins rooms.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// socket.join("ACME");
    /// socket.join(["news", "sport"]);
    /// # }
    /// ```
    pub fn join(&self, rooms: impl IntoRooms) {
        if !self.connected() && !self.ns.is_pending(self.id) {
            return;
        }
        self.ns.join_rooms(self.id, &rooms.into_rooms());
    }

    /// Leaves rooms.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// socket.leave("lobby");
    /// socket.leave(["news", "sport"]);
    /// # }
    /// ```
    pub fn leave(&self, rooms: impl IntoRooms) {
        for r in rooms.into_rooms() {
            self.ns.leave_room(self.id, &r);
        }
    }

    /// Leaves every room (but its own).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// socket.join(["a", "b"]);
    /// socket.leave_all();
    /// assert_eq!(socket.rooms().len(), 1); // its own room
    /// # }
    /// ```
    pub fn leave_all(&self) {
        let own = self.id.to_string();
        for r in self.rooms() {
            if r != own.as_str() {
                self.ns.leave_room(self.id, &r);
            }
        }
    }

    /// The rooms this socket is in (its own id among them).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// for room in socket.rooms() {
    ///     println!("in {room}");
    /// }
    /// # }
    /// ```
    pub fn rooms(&self) -> Vec<Room> {
        let mut rooms = self.ns.rooms_index().socket_rooms(self.id);
        let own = self.id.to_string();
        if let Some(r) = rooms.iter_mut().find(|r| **r == *own) {
            *r = self.id_string().into();
        }
        rooms
    }

    /// Broadcasts to `rooms`, this socket left out even when it is a member (Node's
    /// `socket.to(room)`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.to("lobby").to("vip").emit("joined", &socket.id()).await?;
    /// # Ok(()) }
    /// ```
    pub fn to(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Same as [`Socket::to`] (Node's `socket.in(room)`; `in` is a Rust keyword).
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.within("lobby").emit("joined", &socket.id()).await?;
    /// # Ok(()) }
    /// ```
    pub fn within(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Broadcasts to every socket of the namespace but this one and those in `rooms` (Node's
    /// `socket.except(room)`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.except("muted").emit("news", &"hello").await?;
    /// # Ok(()) }
    /// ```
    pub fn except(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// Broadcasts to every socket of the namespace on this server only, but this one (Node's
    /// `socket.local`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.local().emit("here", &"only on this server").await?;
    /// # Ok(()) }
    /// ```
    pub fn local(self: &Arc<Self>) -> BroadcastOperator {
        self.broadcast().local()
    }

    /// Broadcasts to every socket of the namespace but this one.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.broadcast().emit("joined", &socket.id()).await?;
    /// # Ok(()) }
    /// ```
    pub fn broadcast(self: &Arc<Self>) -> BroadcastOperator {
        BroadcastOperator::new(self.ns.clone()).except_socket(self.id)
    }

    /// A typed extension stored on the socket (per-socket data).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// #[derive(Clone)]
    /// struct User(String);
    /// socket.insert_extension(User("ada".into()));
    /// assert_eq!(socket.extension::<User>().unwrap().0, "ada");
    /// # }
    /// ```
    pub fn insert_extension<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.extras.lock().extensions.insert(value)
    }

    /// A clone of a typed extension.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// #[derive(Clone)]
    /// struct UserId(u64);
    /// if let Some(UserId(id)) = socket.extension::<UserId>() {
    ///     println!("user {id}");
    /// }
    /// # }
    /// ```
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.extras.lock().extensions.get::<T>().cloned()
    }

    /// Removes a typed extension.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// #[derive(Clone)]
    /// struct Token(String);
    /// socket.insert_extension(Token("t".into()));
    /// assert!(socket.remove_extension::<Token>().is_some());
    /// assert!(socket.extension::<Token>().is_none());
    /// # }
    /// ```
    pub fn remove_extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.extras.lock().extensions.remove::<T>()
    }

    /// Sets the application's data on this socket (Node's `socket.data`): unlike an
    /// extension, it crosses the cluster, so other servers see it in
    /// [`BroadcastOperator::fetch_sockets`].
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), serde_json::Error> {
    /// socket.set_data(&serde_json::json!({"user": "ada", "role": "admin"}))?;
    /// let data: serde_json::Value = socket.data()?;
    /// assert_eq!(data["user"], "ada");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When `data` does not serialize.
    pub fn set_data<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), serde_json::Error> {
        let v = value::to_value(data)?;
        self.extras.lock().data = Some(Box::new(v));
        if let Some(o) = self.io_inner().observer() {
            o.data_set(self);
        }
        Ok(())
    }

    /// Changes the data in place (an empty map when none was set), telling no observer: for
    /// the admin UI's own fields, which Node's admin UI also keeps in `socket.data`.
    #[cfg_attr(not(feature = "admin-ui"), allow(dead_code))]
    pub(crate) fn update_data_quietly(&self, f: impl FnOnce(&mut Value)) {
        let mut extras = self.extras.lock();
        f(extras
            .data
            .get_or_insert_with(|| Box::new(Value::Map(Vec::new()))));
    }

    /// The application's data on this socket, as a `T` (an empty object when none was set,
    /// as Node's `socket.data` starts).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), serde_json::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct User { name: String }
    /// socket.set_data(&serde_json::json!({"name": "ada"}))?;
    /// let user: User = socket.data()?;
    /// assert_eq!(user.name, "ada");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the data does not deserialize as a `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        value::from_value(self.data_value())
    }

    /// The application's data on this socket, as it is (an empty [`Value::Map`] when none
    /// was set).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::value::Value;
    /// if socket.data_value() == Value::Map(vec![]) {
    ///     println!("no data yet");
    /// }
    /// # }
    /// ```
    pub fn data_value(&self) -> Value {
        self.extras
            .lock()
            .data
            .as_deref()
            .cloned()
            .unwrap_or(Value::Map(Vec::new()))
    }

    /// What crosses the cluster of this socket (see [`BroadcastOperator::fetch_sockets`]).
    pub(crate) fn info(&self) -> SocketInfo {
        SocketInfo::new(
            self.id,
            self.handshake.info(),
            self.rooms(),
            self.data_value(),
        )
    }

    /// Removes the socket from its namespace (Node's `socket.disconnect()`): the client gets
    /// a disconnect packet and sees `io server disconnect`; the connection and the client's
    /// other namespaces stay. Here the reason is `server namespace disconnect`.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::SocketRef;
    /// socket.on("logout", |s: SocketRef| s.disconnect());
    /// # }
    /// ```
    pub fn disconnect(self: &Arc<Self>) {
        if !self.connected() {
            return;
        }
        let packet = Packet::Disconnect { ns: self.ns_name() };
        crate::client::send_packet(self.io_inner(), &self.conn, packet);
        self.close(DisconnectReason::ServerNamespaceDisconnect);
    }

    /// The socket leaves its namespace for `reason`: the disconnecting handler runs while it
    /// is still in its rooms, then it leaves them, its pending acks fail, and the disconnect
    /// handler runs; with connection state recovery on, a dropped connection's session is
    /// kept for the client's return. Sends nothing: the callers ([`Socket::disconnect`], the
    /// connection's end, the client's own disconnect) have sent what they need.
    pub(crate) fn close(self: &Arc<Self>, reason: DisconnectReason) {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        let _span = self.span().entered();
        tracing::info!(%reason, "socket disconnected");
        // Taken out of the lock first: the handler may set the other one.
        let disconnecting = self.on_leave.lock().on_disconnecting.clone();
        if let Some(h) = disconnecting {
            h(self.clone(), reason);
        }
        if let Some(pid) = self.pid() {
            if reason.is_recoverable() {
                self.persist_session(*pid);
            }
        }
        let observed = self
            .io_inner()
            .observer()
            .map(|o| (o.clone(), self.rooms()));
        self.ns.remove_socket(self.id);
        self.conn.data().remove_socket(self.ns_name());
        // Dropping the senders ends every pending ack with `Disconnected`.
        self.acks.lock().clear();
        self.handlers.write().clear();
        self.listened.store(false, Ordering::Release);
        let h = std::mem::take(&mut *self.on_leave.lock()).on_disconnect;
        if let Some((o, rooms)) = observed {
            o.socket_disconnected(self, reason, &rooms);
        }
        if let Some(h) = h {
            h(self.clone(), reason);
        }
    }

    /// Has the adapter keep this socket's session (its connection dropped): id, rooms (as
    /// they are after the disconnecting handler) and data.
    fn persist_session(&self, pid: Sid) {
        let rooms = self.ns.rooms_index().socket_rooms(self.id);
        let session = Session::new(self.id, pid, rooms, self.data_value());
        let adapter = self.ns.adapter().clone();
        let ns = self.ns_name().to_owned();
        crate::handler::run(async move {
            if let Err(e) = adapter.persist_session(session).await {
                tracing::warn!(%ns, "keeping a session: {e}");
            }
        });
    }

    /// Disconnects every socket of this client's connection (each client socket sees `io
    /// server disconnect`), then closes the connection (Node's `socket.disconnect(true)`).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// use sockeye::SocketRef;
    /// socket.on("ban", |s: SocketRef| s.disconnect_connection());
    /// # }
    /// ```
    pub fn disconnect_connection(self: &Arc<Self>) {
        crate::client::disconnect_all(&self.conn);
    }
}

/// The listeners of a socket's connection upgrade (see [`Socket::on_upgrade`]).
#[derive(Clone, Default)]
struct UpgradeListeners(Vec<Arc<dyn Fn(SocketRef, TransportKind) + Send + Sync>>);

/// The arguments of an emit as a payload, for the outgoing catch-all listeners.
fn args_payload<T: Serialize + ?Sized>(data: &T, mode: ArgsMode) -> Option<Payload> {
    match mode {
        ArgsMode::One => value::to_value(data)
            .ok()
            .map(|v| Payload::from_values(vec![v])),
        ArgsMode::Spread => crate::operators::spread(data).ok(),
    }
}

fn queue_error(e: SendError) -> EmitError {
    match e {
        SendError::QueueFull => EmitError::QueueFull,
        _ => EmitError::Disconnected,
    }
}

/// A packet and its attachments as the engine queues them for many sockets, with the
/// `compress` flag: made once per broadcast, so that a compressed form, when the transport
/// makes one, is made once too.
pub(crate) struct Prepared {
    message: Arc<SharedMessage>,
    bins: Vec<Arc<SharedMessage>>,
}

impl Prepared {
    pub(crate) fn new(encoded: &Encoded, compress: bool) -> Prepared {
        let message = match &encoded.message {
            Message::Text(text) => SharedMessage::text(text.clone()),
            Message::Binary(data) => SharedMessage::binary(data.clone()),
        };
        Prepared {
            message: Arc::new(message.compress(compress)),
            bins: encoded
                .bins
                .iter()
                .map(|b| Arc::new(SharedMessage::binary(b.clone()).compress(compress)))
                .collect(),
        }
    }
}

/// A socket with flags for its next emit (Node's `socket.volatile`, `socket.compress(..)`,
/// `socket.timeout(..)`), made by [`Socket::volatile`], [`Socket::compress`] and
/// [`Socket::timeout`]. The flags chain, and carry over to a broadcast from the socket.
///
/// # Examples
/// ```
/// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::AckError> {
/// use std::time::Duration;
/// socket.volatile().compress(false).emit("tick", &1)?;
/// let answer = socket.timeout(Duration::from_secs(2)).emit_with_ack("ready?", &()).await?;
/// socket.volatile().to("lobby").emit("tick", &2).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "the flags do nothing until an emit is called"]
pub struct SocketEmitter {
    socket: SocketRef,
    volatile: bool,
    compress: bool,
    timeout: Option<Duration>,
}

impl SocketEmitter {
    fn new(socket: SocketRef) -> SocketEmitter {
        SocketEmitter {
            socket,
            volatile: false,
            compress: true,
            timeout: None,
        }
    }

    /// Marks the emit volatile (see [`Socket::volatile`]).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// use std::time::Duration;
    /// socket.timeout(Duration::from_secs(1)).volatile().emit("tick", &1)?;
    /// # Ok(()) }
    /// ```
    pub fn volatile(mut self) -> SocketEmitter {
        self.volatile = true;
        self
    }

    /// Sets whether the emit may be compressed (see [`Socket::compress`]).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.volatile().compress(false).emit("tick", &1)?;
    /// # Ok(()) }
    /// ```
    pub fn compress(mut self, compress: bool) -> SocketEmitter {
        self.compress = compress;
        self
    }

    /// Sets the timeout of an emit with ack (see [`Socket::timeout`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) {
    /// use std::time::Duration;
    /// let answer = socket.volatile().timeout(Duration::from_millis(500)).emit_with_ack("q", &1).await;
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> SocketEmitter {
        self.timeout = Some(timeout);
        self
    }

    fn ack_timeout(&self) -> Duration {
        self.timeout
            .unwrap_or(self.socket.io_inner().config.ack_timeout)
    }

    /// Emits an event with `data` as its single argument (see [`Socket::emit`]). A volatile
    /// packet that is dropped is not an error.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.volatile().emit("price", &12.5)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Socket::emit`].
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.socket
            .emit_as(event, data, ArgsMode::One, self.volatile, self.compress)
    }

    /// Emits an event whose arguments are the items of `args` (see [`Socket::emit_args`]).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.volatile().emit_args("price", &("ACME", 12.5))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Socket::emit_args`].
    pub fn emit_args<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        self.socket
            .emit_as(event, args, ArgsMode::Spread, self.volatile, self.compress)
    }

    /// Emits an event with a received payload's arguments (see [`Socket::emit_payload`]).
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef, p: sockeye::Payload) -> Result<(), sockeye::EmitError> {
    /// socket.volatile().emit_payload("relay", &p)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Socket::emit_payload`].
    pub fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.socket
            .emit_payload_as(event, payload, self.volatile, self.compress)
    }

    /// Emits an event and waits for the client's ack, at most the timeout (the builder's
    /// `ack_timeout` unless [`SocketEmitter::timeout`] set one). A volatile packet that was
    /// dropped is never answered: it times out.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::AckError> {
    /// use std::time::Duration;
    /// let n: u32 = socket.timeout(Duration::from_secs(1)).emit_with_ack("count", &()).recv_as().await?;
    /// # Ok(()) }
    /// ```
    pub fn emit_with_ack<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> AckFuture {
        self.socket.emit_with_ack_as(
            event,
            data,
            self.ack_timeout(),
            self.volatile,
            self.compress,
        )
    }

    /// Emits a payload's arguments and attachments and waits for the ack, as
    /// [`SocketEmitter::emit_with_ack`].
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef, p: sockeye::Payload) {
    /// use std::time::Duration;
    /// let answer = socket.timeout(Duration::from_secs(1)).emit_payload_with_ack("q", &p).await;
    /// # }
    /// ```
    pub fn emit_payload_with_ack(&self, event: &str, payload: &Payload) -> AckFuture {
        self.socket.emit_payload_with_ack_as(
            event,
            payload,
            self.ack_timeout(),
            self.volatile,
            self.compress,
        )
    }

    fn operator(&self) -> BroadcastOperator {
        let mut op = self.socket.broadcast();
        if self.volatile {
            op = op.volatile();
        }
        if let Some(t) = self.timeout {
            op = op.timeout(t);
        }
        op.compress(self.compress)
    }

    /// A broadcast to `rooms` from the socket (itself left out), with these flags.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.volatile().to("lobby").emit("cursor", &(3, 4)).await?;
    /// # Ok(()) }
    /// ```
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().to(rooms)
    }

    /// A broadcast to every socket of the namespace but the socket and those in `rooms`,
    /// with these flags.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.volatile().except("muted").emit("cursor", &(3, 4)).await?;
    /// # Ok(()) }
    /// ```
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().except(rooms)
    }

    /// A broadcast to every socket of the namespace but this one, with these flags.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.volatile().broadcast().emit("cursor", &(3, 4)).await?;
    /// # Ok(()) }
    /// ```
    pub fn broadcast(&self) -> BroadcastOperator {
        self.operator()
    }
}
