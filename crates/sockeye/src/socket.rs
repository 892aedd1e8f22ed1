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
use sockeye_engineio::{SendError, Sid};
use tokio::sync::oneshot;

use serde::de::DeserializeOwned;
use sockeye_core::adapter::{
    BroadcastOptions, BroadcastPacket, HandshakeInfo, Session, SocketInfo,
};
use sockeye_core::parser::{self, ArgsMode, Encoded, EventName};
use sockeye_core::value::{self, Value};
use sockeye_core::{IntoRooms, Payload, Room};

use crate::ack::AckFuture;
use crate::client::Conn;
use crate::errors::EmitError;
use crate::handler::{
    box_disconnect, box_message, BoxedDisconnectHandler, BoxedMessageHandler, DisconnectHandler,
    HandlerTable, MessageHandler, MessageParts,
};
use crate::io::{IoInner, SocketIo};
use crate::ns::Namespace;
use crate::operators::BroadcastOperator;

/// A shared handle to a [`Socket`]: what handlers receive.
pub type SocketRef = Arc<Socket>;

/// Why a socket left its namespace. The text forms are Node's.
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
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The auth payload of the namespace connect (`{}` when none was sent).
    pub auth: serde_json::Value,
    req: Arc<sockeye_engineio::RequestInfo>,
}

impl Handshake {
    /// The handshake request's headers (rebuilt on each call; see [`Handshake::header`]).
    pub fn headers(&self) -> http::HeaderMap {
        self.req.headers()
    }

    /// The first value of one header of the handshake request, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.header(name)
    }

    /// The handshake request's URI; its query has the client's `query` option.
    pub fn uri(&self) -> http::Uri {
        self.req.uri()
    }

    /// The peer address, when the server put a [`std::net::SocketAddr`] in the request's
    /// extensions ([`crate::serve`] does).
    pub fn address(&self) -> Option<std::net::SocketAddr> {
        self.req.remote_addr
    }

    /// When the connection was opened.
    pub fn time(&self) -> std::time::SystemTime {
        self.req.time
    }

    /// The handshake as it crosses the cluster (the fields of Node's `socket.handshake`).
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
            time: crate::js_date::to_js_string(since_epoch.as_secs()),
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
#[repr(C)]
pub struct Socket {
    ns: Arc<Namespace>,
    pub(crate) conn: Arc<Conn>,
    connected: AtomicBool,
    /// Whether the socket is a recovered one (in what would be padding after `connected`).
    recovered: bool,
    handlers: RwLock<HandlerTable>,
    id: Sid,
    fallback: RwLock<Option<BoxedMessageHandler>>,
    on_disconnect: Mutex<Option<BoxedDisconnectHandler>>,
    on_disconnecting: Mutex<Option<BoxedDisconnectHandler>>,
    acks: Mutex<FastMap<u64, oneshot::Sender<Payload>>>,
    handshake: Handshake,
    extensions: Mutex<http::Extensions>,
    /// The application's data that crosses the cluster (boxed: most sockets have none).
    data: Mutex<Option<Box<Value>>>,
    /// The private session id a client sends back to recover this socket (boxed: only with
    /// connection state recovery on).
    pid: Option<Box<Sid>>,
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
        auth: Option<&Bytes>,
        restored: Option<&Session>,
    ) -> Socket {
        let req = conn.request();
        let auth = auth
            .and_then(|a| serde_json::from_slice(a).ok())
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
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
            handshake: Handshake {
                auth,
                req: req.clone(),
            },
            ns,
            conn,
            connected: AtomicBool::new(false),
            handlers: RwLock::new(HandlerTable::default()),
            fallback: RwLock::new(None),
            on_disconnect: Mutex::new(None),
            on_disconnecting: Mutex::new(None),
            acks: Mutex::new(FastMap::default()),
            extensions: Mutex::new(http::Extensions::new()),
            data: Mutex::new(data),
            pid,
            recovered: restored.is_some(),
        }
    }

    /// The socket's id (per namespace; not the connection's engine id).
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
    pub fn ns(&self) -> &Arc<Namespace> {
        &self.ns
    }

    pub(crate) fn ns_name(&self) -> &str {
        self.ns.name()
    }

    /// What the handshake carried.
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
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn set_connected(&self) {
        self.connected.store(true, Ordering::Release);
    }

    pub(crate) fn io_inner(&self) -> &Arc<IoInner> {
        self.ns.io_inner()
    }

    /// The server handle.
    pub fn io(&self) -> SocketIo {
        SocketIo::from_inner(self.io_inner().clone())
    }

    /// The engine id of the connection under this socket.
    pub fn engine_id(&self) -> Sid {
        self.conn.sid()
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
    pub fn on_fallback<H: MessageHandler<M>, M>(&self, handler: H) {
        *self.fallback.write() = Some(box_message(handler));
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
        *self.on_disconnect.lock() = Some(box_disconnect(handler));
    }

    /// Registers the disconnecting handler (called while the socket is still in its rooms).
    pub fn on_disconnecting<H: DisconnectHandler<M>, M>(&self, handler: H) {
        *self.on_disconnecting.lock() = Some(box_disconnect(handler));
    }

    /// Runs the handler of an event (or the fallback); takes the caller's reference, which
    /// the handler then owns.
    pub(crate) fn dispatch(self: Arc<Self>, event: EventName, payload: Payload, id: Option<u64>) {
        let found = self
            .handlers
            .read()
            .get(event.bytes(payload.src()))
            .map(|(name, h)| (name.clone(), h.clone()));
        // The name handed on is the handler's own: a literal costs nothing to pass along.
        let (name, handler) = match found {
            Some(found) => found,
            None => {
                let Some(h) = self.fallback.read().clone() else {
                    return;
                };
                (Cow::Owned(event.into_string(payload.src())), h)
            }
        };
        handler(self, MessageParts::new(name, payload, id));
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
        self.emit_one(event, data, true)
    }

    fn emit_one<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        compress: bool,
    ) -> Result<(), EmitError> {
        if self.ns.recovery().is_some() {
            let args = Payload::from_values(vec![value::to_value(data)?]);
            return self.emit_kept(event, args, compress);
        }
        let encoded = parser::encode_event(self.ns_name(), event, data, ArgsMode::One, None)?;
        self.send_encoded_with(encoded, compress)
    }

    /// Emits an event whose arguments are the items of `args` (a tuple, array or `Vec`).
    ///
    /// # Errors
    /// As [`Socket::emit`], or when `args` does not serialize to an array.
    pub fn emit_args<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        self.emit_spread(event, args, true)
    }

    fn emit_spread<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        compress: bool,
    ) -> Result<(), EmitError> {
        if self.ns.recovery().is_some() {
            return self.emit_kept(event, crate::operators::spread(args)?, compress);
        }
        let encoded = parser::encode_event(self.ns_name(), event, args, ArgsMode::Spread, None)?;
        self.send_encoded_with(encoded, compress)
    }

    /// Emits an event with the arguments and attachments of a received payload.
    ///
    /// # Errors
    /// When the socket is disconnected or its queue is full.
    pub fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.emit_payload_with(event, payload, true)
    }

    fn emit_payload_with(
        &self,
        event: &str,
        payload: &Payload,
        compress: bool,
    ) -> Result<(), EmitError> {
        if self.ns.recovery().is_some() {
            return self.emit_kept(event, payload.clone(), compress);
        }
        let encoded = parser::encode_event_payload(self.ns_name(), event, payload, None);
        self.send_encoded_with(encoded, compress)
    }

    /// Sets Node's `compress` flag for the next emit (true when not called): with `false`,
    /// its packet is never compressed, neither by WebSocket `permessage-deflate` nor in a
    /// polling response (which is then compressed only if another packet in it may be, as in
    /// Node).
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
    pub fn compress(self: &Arc<Self>, compress: bool) -> CompressSocket {
        CompressSocket {
            socket: self.clone(),
            compress,
        }
    }

    /// An emit with connection state recovery on: as in Node, it goes through the adapter as
    /// a broadcast to this socket's own room, so that it gets an offset and is kept for the
    /// client, should its connection drop before it read it. Failures to queue are not
    /// reported (as for any broadcast): a client over its queue is disconnected, and gets the
    /// packet when it recovers.
    #[inline(never)]
    fn emit_kept(&self, event: &str, args: Payload, compress: bool) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let packet = BroadcastPacket::new(self.ns_name(), event, args);
        let mut opts = BroadcastOptions::default();
        opts.rooms.push(Room::Owned(self.id.to_string()));
        opts.flags.compress = compress;
        let adapter = self.ns.adapter().clone();
        crate::handler::run(async move {
            if let Err(e) = adapter.broadcast(packet, opts).await {
                tracing::debug!("an emit to one socket did not reach the adapter: {e}");
            }
        });
        Ok(())
    }

    /// Queues a packet for the client of a socket not connected yet (the missed packets of a
    /// restored one).
    pub(crate) fn send_unconnected(&self, encoded: &Encoded) {
        let res = if encoded.bins.is_empty() {
            self.conn.send_text(encoded.text.clone())
        } else {
            let bins = encoded.bins.iter().cloned().map(Outgoing::Binary);
            self.conn
                .send_many(std::iter::once(Outgoing::Message(encoded.text.clone())).chain(bins))
        };
        if let Err(e) = res {
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
        self.emit_with_ack_timeout(event, data, self.io_inner().config.ack_timeout, true)
    }

    pub(crate) fn emit_with_ack_timeout<T: Serialize + ?Sized>(
        self: &Arc<Self>,
        event: &str,
        data: &T,
        timeout: Duration,
        compress: bool,
    ) -> AckFuture {
        let id = self.ns.next_ack_id();
        let encoded = parser::encode_event(self.ns_name(), event, data, ArgsMode::One, Some(id));
        self.send_with_ack(encoded.map_err(Into::into), id, timeout, compress)
    }

    /// Emits an event with a payload's arguments and attachments, and waits for the ack.
    pub fn emit_payload_with_ack(self: &Arc<Self>, event: &str, payload: &Payload) -> AckFuture {
        let timeout = self.io_inner().config.ack_timeout;
        self.emit_payload_with_ack_timeout(event, payload, timeout, true)
    }

    pub(crate) fn emit_payload_with_ack_timeout(
        self: &Arc<Self>,
        event: &str,
        payload: &Payload,
        timeout: Duration,
        compress: bool,
    ) -> AckFuture {
        let id = self.ns.next_ack_id();
        let encoded = parser::encode_event_payload(self.ns_name(), event, payload, Some(id));
        self.send_with_ack(Ok(encoded), id, timeout, compress)
    }

    fn send_with_ack(
        self: &Arc<Self>,
        encoded: Result<Encoded, EmitError>,
        id: u64,
        timeout: Duration,
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
        if let Err(e) = self.send_encoded_with(encoded, compress) {
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
    pub fn pending_acks(&self) -> usize {
        self.acks.lock().len()
    }

    pub(crate) fn on_ack(&self, id: u64, payload: Payload) {
        if let Some(tx) = self.acks.lock().remove(&id) {
            let _ = tx.send(payload);
        }
    }

    /// Sets a timeout for the next emit with ack.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) {
    /// use std::time::Duration;
    /// let answer = socket.timeout(Duration::from_secs(1)).emit_with_ack("ping", &()).await;
    /// # }
    /// ```
    pub fn timeout(self: &Arc<Self>, timeout: Duration) -> TimeoutSocket {
        TimeoutSocket {
            socket: self.clone(),
            timeout,
            compress: true,
        }
    }

    /// Queues an encoded packet (and its attachments) for the client.
    pub(crate) fn send_encoded(&self, encoded: Encoded) -> Result<(), EmitError> {
        self.queue(encoded.text, encoded.bins.into_iter())
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
        let text = Outgoing::Shared(prepared.text.clone());
        let res = if prepared.bins.is_empty() {
            self.conn.send(text)
        } else {
            let bins = prepared.bins.iter().cloned().map(Outgoing::Shared);
            self.conn.send_many(std::iter::once(text).chain(bins))
        };
        res.map_err(queue_error)
    }

    /// Queues a text packet and its attachments (all or none).
    fn queue(
        &self,
        text: Bytes,
        bins: impl ExactSizeIterator<Item = Bytes> + Clone,
    ) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let res = if bins.len() == 0 {
            self.conn.send_text(text)
        } else {
            let packets =
                std::iter::once(Outgoing::Message(text)).chain(bins.map(Outgoing::Binary));
            self.conn.send_many(packets)
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
    pub fn leave(&self, rooms: impl IntoRooms) {
        for r in rooms.into_rooms() {
            self.ns.leave_room(self.id, &r);
        }
    }

    /// Leaves every room (but its own).
    pub fn leave_all(&self) {
        let own = self.id.to_string();
        for r in self.rooms() {
            if r != own.as_str() {
                self.ns.leave_room(self.id, &r);
            }
        }
    }

    /// The rooms this socket is in (its own id among them).
    pub fn rooms(&self) -> Vec<Room> {
        let mut rooms = self.ns.rooms_index().socket_rooms(self.id);
        let own = self.id.to_string();
        if let Some(r) = rooms.iter_mut().find(|r| **r == *own) {
            *r = self.id_string().into();
        }
        rooms
    }

    /// Broadcasts to `rooms` (this socket excluded).
    pub fn to(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Broadcasts to everyone in the namespace but `rooms` (this socket excluded).
    pub fn except(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
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
        self.extensions.lock().insert(value)
    }

    /// A clone of a typed extension.
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.extensions.lock().get::<T>().cloned()
    }

    /// Removes a typed extension.
    pub fn remove_extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.extensions.lock().remove::<T>()
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
        *self.data.lock() = Some(Box::new(v));
        Ok(())
    }

    /// The application's data on this socket, as a `T` (`null` when none was set).
    ///
    /// # Errors
    /// When the data does not deserialize as a `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        value::from_value(self.data_value())
    }

    /// The application's data on this socket, as it is (`Value::Null` when none was set).
    pub fn data_value(&self) -> Value {
        self.data.lock().as_deref().cloned().unwrap_or_default()
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

    /// Removes the socket from its namespace: the client gets a disconnect packet and sees
    /// `io server disconnect`.
    pub fn disconnect(self: &Arc<Self>) {
        if !self.connected() {
            return;
        }
        let _ = self
            .conn
            .send_text(parser::encode_disconnect(self.ns_name()));
        self.close(DisconnectReason::ServerNamespaceDisconnect);
    }

    /// Disconnects every socket of this client's connection, then closes the connection
    /// (Node's `socket.disconnect(true)`).
    pub fn close(self: &Arc<Self>, reason: DisconnectReason) {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        if let Some(h) = self.on_disconnecting.lock().clone() {
            h(self.clone(), reason);
        }
        if let Some(pid) = self.pid() {
            if reason.is_recoverable() {
                self.persist_session(*pid);
            }
        }
        self.ns.remove_socket(self.id);
        self.conn.data().remove_socket(self.ns_name());
        // Dropping the senders ends every pending ack with `Disconnected`.
        self.acks.lock().clear();
        self.handlers.write().clear();
        *self.fallback.write() = None;
        let h = self.on_disconnect.lock().take();
        self.on_disconnecting.lock().take();
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

    /// Disconnects every socket of this client's connection and closes it.
    pub fn disconnect_connection(self: &Arc<Self>) {
        crate::client::disconnect_all(&self.conn);
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
    text: Arc<SharedMessage>,
    bins: Vec<Arc<SharedMessage>>,
}

impl Prepared {
    pub(crate) fn new(encoded: &Encoded, compress: bool) -> Prepared {
        Prepared {
            text: Arc::new(SharedMessage::text(encoded.text.clone()).compress(compress)),
            bins: encoded
                .bins
                .iter()
                .map(|b| Arc::new(SharedMessage::binary(b.clone()).compress(compress)))
                .collect(),
        }
    }
}

/// A socket with a timeout set for its next emit with ack.
#[derive(Debug)]
pub struct TimeoutSocket {
    socket: SocketRef,
    timeout: Duration,
    compress: bool,
}

impl TimeoutSocket {
    /// Emits an event and waits at most the timeout for the client's ack.
    pub fn emit_with_ack<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> AckFuture {
        self.socket
            .emit_with_ack_timeout(event, data, self.timeout, self.compress)
    }

    /// Emits a payload's arguments and attachments and waits at most the timeout for the ack.
    pub fn emit_payload_with_ack(&self, event: &str, payload: &Payload) -> AckFuture {
        self.socket
            .emit_payload_with_ack_timeout(event, payload, self.timeout, self.compress)
    }

    /// Sets the `compress` flag of the emit (see [`Socket::compress`]).
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) {
    /// use std::time::Duration;
    /// let answer = socket
    ///     .timeout(Duration::from_secs(1))
    ///     .compress(false)
    ///     .emit_with_ack("ping", &())
    ///     .await;
    /// # }
    /// ```
    pub fn compress(mut self, compress: bool) -> TimeoutSocket {
        self.compress = compress;
        self
    }
}

/// A socket with Node's `compress` flag set for its next emit (see [`Socket::compress`]).
#[derive(Debug)]
pub struct CompressSocket {
    socket: SocketRef,
    compress: bool,
}

impl CompressSocket {
    /// As [`Socket::emit`], with the flag.
    ///
    /// # Errors
    /// As [`Socket::emit`].
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.socket.emit_one(event, data, self.compress)
    }

    /// As [`Socket::emit_args`], with the flag.
    ///
    /// # Errors
    /// As [`Socket::emit_args`].
    pub fn emit_args<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        self.socket.emit_spread(event, args, self.compress)
    }

    /// As [`Socket::emit_payload`], with the flag.
    ///
    /// # Errors
    /// As [`Socket::emit_payload`].
    pub fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.socket.emit_payload_with(event, payload, self.compress)
    }

    /// As [`Socket::emit_with_ack`], with the flag.
    pub fn emit_with_ack<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> AckFuture {
        let timeout = self.socket.io_inner().config.ack_timeout;
        self.socket
            .emit_with_ack_timeout(event, data, timeout, self.compress)
    }

    /// As [`Socket::emit_payload_with_ack`], with the flag.
    pub fn emit_payload_with_ack(&self, event: &str, payload: &Payload) -> AckFuture {
        let timeout = self.socket.io_inner().config.ack_timeout;
        self.socket
            .emit_payload_with_ack_timeout(event, payload, timeout, self.compress)
    }

    /// A timeout for the next emit with ack, keeping the flag.
    pub fn timeout(&self, timeout: Duration) -> TimeoutSocket {
        TimeoutSocket {
            socket: self.socket.clone(),
            timeout,
            compress: self.compress,
        }
    }
}
