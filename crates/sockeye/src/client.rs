//! One client connection: the Engine.IO session and its sockets, one per namespace.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use smallvec::SmallVec;
use sockeye_engineio::{
    DisconnectReason as EngineReason, Handler, ProtocolVersion, Socket as EngineSocket,
};

use crate::io::IoInner;
use crate::socket::{DisconnectReason, SocketRef};
use sockeye_core::parser::{self, DecodeState, Encoded, Incoming, Message, Packet};
use sockeye_core::Payload;
use sockeye_engineio::payload::Outgoing;
use sockeye_engineio::SendError;

/// The Engine.IO session, carrying the client's state.
pub(crate) type Conn = EngineSocket<ClientData>;

/// A namespace being joined, and the sender whose drop stops its connect middlewares.
type PendingNs = (String, tokio::sync::oneshot::Sender<()>);

/// What the Socket.IO layer keeps per connection.
///
/// The engine places it just before its own hot fields (see `sockeye_engineio::Socket`), so
/// the fields every packet touches come last here.
#[derive(Default)]
#[repr(C)]
pub(crate) struct ClientData {
    /// Namespaces whose connect middlewares are running, each with the sender whose drop
    /// (when the connection closes) stops them.
    pending_ns: Mutex<SmallVec<[PendingNs; 1]>>,
    /// A namespace was joined: the connect timeout no longer applies (Node clears it then,
    /// even if the client leaves every namespace later).
    joined: std::sync::atomic::AtomicBool,
    /// Async event handlers started and not finished (see `max_waiting_handlers`).
    waiting: std::sync::atomic::AtomicUsize,
    /// What every packet looks at, under one lock.
    state: Mutex<ClientState>,
}

#[derive(Default)]
struct ClientState {
    /// One socket per namespace; each knows its namespace's name (shared by all the
    /// namespace's sockets, so comparing with it stays in cache).
    sockets: SmallVec<[SocketRef; 2]>,
    /// What the parser keeps between messages (a binary packet waiting for its attachments).
    decode: DecodeState,
    /// Since when a packet waits for more messages.
    waiting_since: Option<Instant>,
}

impl ClientState {
    fn socket(&self, ns: &str) -> Option<SocketRef> {
        self.sockets.iter().find(|s| s.ns_name() == ns).cloned()
    }
}

impl ClientData {
    pub(crate) fn add_socket(&self, socket: SocketRef) {
        self.state.lock().sockets.push(socket);
        self.joined
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the connection has joined a namespace (it may have left it since).
    pub(crate) fn has_joined(&self) -> bool {
        self.joined.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn remove_socket(&self, ns: &str) {
        let mut st = self.state.lock();
        if let Some(i) = st.sockets.iter().position(|s| s.ns_name() == ns) {
            let gone = st.sockets.remove(i);
            drop(st);
            gone.forget_upgrade_listeners();
        }
    }

    fn socket(&self, ns: &str) -> Option<SocketRef> {
        self.state.lock().socket(ns)
    }

    /// Marks `ns` as joining; the receiver completes when the connection closes.
    pub(crate) fn add_pending(&self, ns: &str) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pending_ns.lock().push((ns.to_owned(), tx));
        rx
    }

    pub(crate) fn remove_pending(&self, ns: &str) {
        self.pending_ns.lock().retain(|(n, _)| n != ns);
    }

    fn knows(&self, ns: &str) -> bool {
        self.pending_ns.lock().iter().any(|(n, _)| n == ns) || self.socket(ns).is_some()
    }

    /// Namespaces joined or being joined.
    fn namespaces(&self) -> usize {
        self.pending_ns.lock().len() + self.state.lock().sockets.len()
    }
}

/// One waiting async event handler of a connection, counted until dropped: at the limit the
/// connection is not read, and it is read again when the count falls below.
pub(crate) struct WaitingHandler {
    conn: Arc<Conn>,
    limit: usize,
}

impl WaitingHandler {
    pub(crate) fn new(conn: Arc<Conn>, limit: usize) -> WaitingHandler {
        use std::sync::atomic::Ordering;
        let n = conn.data().waiting.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= limit {
            crate::metrics::READ_PAUSES.fetch_add(1, Ordering::Relaxed);
            conn.pause_reading();
        }
        WaitingHandler { conn, limit }
    }
}

impl Drop for WaitingHandler {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        let n = self.conn.data().waiting.fetch_sub(1, Ordering::AcqRel) - 1;
        if n < self.limit && self.conn.is_reading_paused() {
            self.conn.resume_reading();
        }
    }
}

/// Disconnects every socket of a connection (each gets a disconnect packet), then closes it.
pub(crate) fn disconnect_all(conn: &Arc<Conn>) {
    let sockets: Vec<SocketRef> = conn.data().state.lock().sockets.to_vec();
    for s in sockets {
        s.disconnect();
    }
    conn.close(EngineReason::ForcedClose);
}

/// Queues an encoded packet (and its attachments, all or none) on a connection.
pub(crate) fn send_encoded(conn: &Arc<Conn>, e: &Encoded) -> Result<(), SendError> {
    match (&e.message, e.bins.is_empty()) {
        (Message::Text(t), true) => conn.send_text(t.clone()),
        (Message::Binary(b), true) => conn.send_binary(b.clone()),
        (first, false) => {
            let first = match first {
                Message::Text(t) => Outgoing::Message(t.clone()),
                Message::Binary(b) => Outgoing::Binary(b.clone()),
            };
            let bins = e.bins.iter().cloned().map(Outgoing::Binary);
            conn.send_many(std::iter::once(first).chain(bins))
        }
    }
}

/// Encodes `packet` with the server's parser and queues it on `conn` (a packet that does
/// not encode, or a connection that cannot take it, is only logged: the caller has nobody to
/// tell).
pub(crate) fn send_packet(io: &IoInner, conn: &Arc<Conn>, packet: Packet<'_>) {
    let sent = match io.config.parser.encode(packet) {
        Ok(e) => send_encoded(conn, &e).map_err(|e| format!("{e:?}")),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = sent {
        tracing::debug!(sid = %conn.sid(), "a packet was not sent: {e}");
    }
}

/// Sends the connect error packet in the client's protocol.
pub(crate) fn send_connect_error(
    io: &IoInner,
    conn: &Arc<Conn>,
    ns: &str,
    message: &str,
    data: Option<&serde_json::Value>,
) {
    match conn.protocol() {
        ProtocolVersion::V3 => {
            let _ = conn.send_text(parser::json::encode_connect_error_v4(ns, message, data));
        }
        _ => send_packet(io, conn, Packet::ConnectError { ns, message, data }),
    }
}

/// `a=1&b=x%20y` as the JSON object `{"a":"1","b":"x y"}` (the first value of a key wins).
fn query_to_json(q: &str) -> Payload {
    let mut map = serde_json::Map::new();
    for pair in q.split('&').filter(|p| !p.is_empty()).take(256) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = crate::socket::percent_decode(k);
        if !map.contains_key(&k) {
            map.insert(
                k,
                serde_json::Value::String(crate::socket::percent_decode(v)),
            );
        }
    }
    let text = Bytes::from(serde_json::Value::Object(map).to_string());
    let whole = 0..text.len();
    Payload::from_json_parts(text, std::iter::once(whole).collect(), Vec::new())
}

/// The Engine.IO handler that runs Socket.IO.
pub(crate) struct IoHandler(pub(crate) Arc<IoInner>);

impl IoHandler {
    fn protocol_error(conn: &Arc<Conn>, what: &dyn std::fmt::Display) {
        tracing::debug!(sid = %conn.sid(), "closing the connection: {what}");
        conn.close(EngineReason::ParseError);
    }

    fn dispatch(&self, conn: &Arc<Conn>, packet: Incoming) {
        match packet {
            Incoming::Connect { ns, auth, query } => {
                if conn.data().knows(&ns) {
                    // A second CONNECT to the same namespace: Node closes the connection.
                    return Self::protocol_error(conn, &"duplicate connect");
                }
                if conn.data().namespaces() >= self.0.config.max_namespaces {
                    crate::metrics::connect_refused(
                        crate::metrics::ConnectRefusal::TooManyNamespaces,
                    );
                    return send_connect_error(&self.0, conn, &ns, "Too many namespaces", None);
                }
                // A v4-protocol client authenticates through the namespace's query string.
                let auth = match (auth, query, conn.protocol()) {
                    (None, Some(q), ProtocolVersion::V3) => Some(query_to_json(&q)),
                    (auth, _, _) => auth,
                };
                match self.0.get_ns(&ns) {
                    Some(nsp) => nsp.connect(conn, auth),
                    None => self.0.connect_dynamic(conn, ns.into_owned(), auth),
                }
            }
            Incoming::Disconnect { ns } => match conn.data().socket(&ns) {
                Some(s) => s.close(DisconnectReason::ClientNamespaceDisconnect),
                None => Self::protocol_error(conn, &"disconnect from an unknown namespace"),
            },
            Incoming::Event {
                ns,
                event,
                payload,
                id,
            } => match conn.data().socket(&ns) {
                Some(s) => s.dispatch(event, payload, id),
                None => Self::protocol_error(conn, &"event for an unknown namespace"),
            },
            Incoming::Ack { ns, id, payload } => match conn.data().socket(&ns) {
                Some(s) => s.on_ack(id, payload),
                None => Self::protocol_error(conn, &"ack for an unknown namespace"),
            },
        }
    }
}

impl Handler for IoHandler {
    type Data = ClientData;

    fn new_data(&self) -> ClientData {
        ClientData::default()
    }

    fn on_connect(&self, conn: &Arc<Conn>) {
        if let Some(o) = self.0.observer() {
            o.connection_opened(conn);
        }
        if conn.protocol() == ProtocolVersion::V3 {
            // A v4-protocol client is connected to `/` without asking, as Node does.
            if let Some(ns) = self.0.get_ns("/") {
                ns.connect(conn, None);
            }
        }
        if !conn.data().has_joined() {
            self.0
                .connect_timeouts
                .add(&self.0, conn, self.0.config.connect_timeout);
        }
    }

    fn on_upgrade(&self, conn: &Arc<Conn>) {
        let sockets: SmallVec<[SocketRef; 2]> = conn.data().state.lock().sockets.clone();
        for s in sockets {
            s.notify_upgrade(conn.transport());
        }
    }

    fn on_disconnect(&self, conn: &Arc<Conn>, reason: EngineReason) {
        let data = conn.data();
        // Middlewares still running for this connection stop (and let go of its socket).
        drop(std::mem::take(&mut *data.pending_ns.lock()));
        let sockets = {
            let mut st = data.state.lock();
            st.decode.clear();
            st.waiting_since = None;
            std::mem::take(&mut st.sockets)
        };
        for s in sockets {
            s.close(reason.into());
        }
        if let Some(o) = self.0.observer() {
            o.connection_closed(conn, reason);
        }
    }

    fn on_message(&self, conn: &Arc<Conn>, msg: Bytes) {
        if let Some(o) = self.0.observer() {
            o.packet_in(msg.len());
        }
        self.on_any_message(conn, Message::Text(msg));
    }

    fn on_binary(&self, conn: &Arc<Conn>, data: Bytes) {
        if let Some(o) = self.0.observer() {
            o.packet_in(data.len());
        }
        self.on_any_message(conn, Message::Binary(data));
    }
}

impl IoHandler {
    /// Hands a message to the parser, then the packet it completes to its socket. The usual
    /// packet, an event, takes one lock: the parser's state and the event's socket are
    /// behind the same one.
    fn on_any_message(&self, conn: &Arc<Conn>, msg: Message) {
        let config = &self.0.config;
        let mut st = conn.data().state.lock();
        if msg.is_binary()
            && st
                .waiting_since
                .is_some_and(|t| t.elapsed() > config.partial_timeout)
        {
            drop(st);
            return Self::protocol_error(conn, &"binary attachments too slow");
        }
        // Matched in place (no move of the whole packet): the fields go where they are used.
        match config.parser.decode(msg, &mut st.decode, &config.limits) {
            Ok(Some(Incoming::Event {
                ns,
                event,
                payload,
                id,
            })) => {
                st.waiting_since = None;
                let socket = st.socket(&ns);
                drop(st);
                match socket {
                    Some(s) => s.dispatch(event, payload, id),
                    None => Self::protocol_error(conn, &"event for an unknown namespace"),
                }
            }
            Ok(Some(packet)) => {
                st.waiting_since = None;
                drop(st);
                self.dispatch(conn, packet);
            }
            Ok(None) => {
                let started = match st.waiting_since {
                    None if st.decode.is_waiting() => {
                        let now = Instant::now();
                        st.waiting_since = Some(now);
                        Some(now)
                    }
                    _ => None,
                };
                drop(st);
                if let Some(started) = started {
                    self.expire_partial(conn, started);
                }
            }
            Err(e) => {
                drop(st);
                Self::protocol_error(conn, &e);
            }
        }
    }

    /// A client that never sends the rest of a packet must not keep its buffers: closed
    /// when the packet that started waiting at `started` still waits after the timeout.
    fn expire_partial(&self, conn: &Arc<Conn>, started: Instant) {
        let weak = Arc::downgrade(conn);
        let timeout = self.0.config.partial_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(conn) = weak.upgrade() else { return };
            let stale = conn.data().state.lock().waiting_since == Some(started);
            if stale {
                Self::protocol_error(&conn, &"binary attachments did not arrive in time");
            }
        });
    }
}
