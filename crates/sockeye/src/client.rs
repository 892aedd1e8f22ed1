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
use sockeye_core::parser::{self, DecodeLimits, Decoded, Incoming, Partial};

/// The Engine.IO session, carrying the client's state.
pub(crate) type Conn = EngineSocket<ClientData>;

/// A binary packet being completed, with its attachments so far.
struct Pending {
    partial: Partial,
    bins: Vec<Bytes>,
    started: Instant,
}

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
    connect_timer: Mutex<Option<tokio::task::AbortHandle>>,
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
    /// A binary packet waiting for its attachments.
    partial: Option<Box<Pending>>,
}

impl ClientState {
    fn socket(&self, ns: &str) -> Option<SocketRef> {
        self.sockets.iter().find(|s| s.ns_name() == ns).cloned()
    }
}

impl ClientData {
    pub(crate) fn add_socket(&self, socket: SocketRef) {
        self.state.lock().sockets.push(socket);
        if let Some(t) = self.connect_timer.lock().take() {
            t.abort();
        }
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

/// The connect error packet in the client's protocol.
pub(crate) fn connect_error(
    conn: &Conn,
    ns: &str,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Bytes {
    match conn.protocol() {
        ProtocolVersion::V3 => parser::encode_connect_error_v4(ns, message, data),
        _ => parser::encode_connect_error(ns, message, data),
    }
}

/// `a=1&b=x%20y` as the JSON object `{"a":"1","b":"x y"}` (the first value of a key wins).
fn query_to_json(q: &str) -> Bytes {
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
    Bytes::from(serde_json::Value::Object(map).to_string())
}

/// The Engine.IO handler that runs Socket.IO.
pub(crate) struct IoHandler(pub(crate) Arc<IoInner>);

impl IoHandler {
    fn limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_attachments: self.0.config.max_attachments,
        }
    }

    fn waiting_for_attachments(conn: &Arc<Conn>) {
        Self::protocol_error(conn, &"text while a binary packet waits for attachments");
    }

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
                    let packet = parser::encode_connect_error(&ns, "Too many namespaces", None);
                    let _ = conn.send_text(packet);
                    return;
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
        let weak = Arc::downgrade(conn);
        let timeout = self.0.config.connect_timeout;
        let task = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(conn) = weak.upgrade() {
                if conn.data().state.lock().sockets.is_empty() {
                    tracing::debug!(sid = %conn.sid(), "no namespace joined in time");
                    conn.close(EngineReason::ForcedClose);
                }
            }
        });
        *conn.data().connect_timer.lock() = Some(task.abort_handle());
    }

    fn on_upgrade(&self, conn: &Arc<Conn>) {
        let sockets: SmallVec<[SocketRef; 2]> = conn.data().state.lock().sockets.clone();
        for s in sockets {
            s.notify_upgrade(conn.transport());
        }
    }

    fn on_disconnect(&self, conn: &Arc<Conn>, reason: EngineReason) {
        let data = conn.data();
        if let Some(t) = data.connect_timer.lock().take() {
            t.abort();
        }
        // Middlewares still running for this connection stop (and let go of its socket).
        drop(std::mem::take(&mut *data.pending_ns.lock()));
        let sockets = {
            let mut st = data.state.lock();
            st.partial = None;
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
        let decoded = parser::decode(msg, self.limits());
        // The usual packet, an event, takes one lock: no binary packet may be waiting for
        // its attachments, and the event's socket is looked up at the same time.
        if let Ok(Decoded::Whole(Incoming::Event {
            ns,
            event,
            payload,
            id,
        })) = decoded
        {
            let socket = {
                let st = conn.data().state.lock();
                if st.partial.is_some() {
                    drop(st);
                    return Self::waiting_for_attachments(conn);
                }
                st.socket(&ns)
            };
            return match socket {
                Some(s) => s.dispatch(event, payload, id),
                None => Self::protocol_error(conn, &"event for an unknown namespace"),
            };
        }
        if conn.data().state.lock().partial.is_some() {
            return Self::waiting_for_attachments(conn);
        }
        match decoded {
            Ok(Decoded::Whole(p)) => self.dispatch(conn, p),
            Ok(Decoded::Partial(partial)) => {
                let started = Instant::now();
                conn.data().state.lock().partial = Some(Box::new(Pending {
                    partial,
                    bins: Vec::new(),
                    started,
                }));
                // A client that never sends the rest must not keep the buffers.
                let weak = Arc::downgrade(conn);
                let timeout = self.0.config.partial_timeout;
                tokio::spawn(async move {
                    tokio::time::sleep(timeout).await;
                    let Some(conn) = weak.upgrade() else { return };
                    let stale = conn
                        .data()
                        .state
                        .lock()
                        .partial
                        .as_ref()
                        .is_some_and(|p| p.started == started);
                    if stale {
                        Self::protocol_error(&conn, &"binary attachments did not arrive in time");
                    }
                });
            }
            Err(e) => Self::protocol_error(conn, &e),
        }
    }

    fn on_binary(&self, conn: &Arc<Conn>, data: Bytes) {
        if let Some(o) = self.0.observer() {
            o.packet_in(data.len());
        }
        let done = {
            let mut st = conn.data().state.lock();
            let Some(p) = st.partial.as_mut() else {
                drop(st);
                return Self::protocol_error(conn, &"unexpected binary message");
            };
            p.partial.bytes += data.len();
            let too_slow = p.started.elapsed() > self.0.config.partial_timeout;
            if p.partial.bytes > self.0.config.max_attachment_bytes || too_slow {
                drop(st);
                return Self::protocol_error(conn, &"binary attachments too large or too slow");
            }
            p.bins.push(data);
            if p.bins.len() == p.partial.expected {
                st.partial.take()
            } else {
                None
            }
        };
        let Some(pending) = done else {
            return;
        };
        let Pending { partial, bins, .. } = *pending;
        let packet = match partial.header {
            Incoming::Event {
                ns,
                event,
                payload,
                id,
            } => Incoming::Event {
                ns,
                event,
                payload: payload.with_bins(bins),
                id,
            },
            Incoming::Ack { ns, id, payload } => Incoming::Ack {
                ns,
                id,
                payload: payload.with_bins(bins),
            },
            other => other,
        };
        let payload = match &packet {
            Incoming::Event { payload, .. } | Incoming::Ack { payload, .. } => Some(payload),
            _ => None,
        };
        if let Some(p) = payload {
            if let Err(e) = parser::check_placeholders(p) {
                return Self::protocol_error(conn, &e);
            }
        }
        self.dispatch(conn, packet);
    }
}
