//! One client connection: the Engine.IO session and its sockets, one per namespace.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use smallvec::SmallVec;
use sockeye_engineio::{
    DisconnectReason as EngineReason, Handler, ProtocolVersion, Socket as EngineSocket,
};

use crate::handler::MessageParts;
use crate::io::IoInner;
use crate::parser::{self, DecodeLimits, Decoded, Incoming, Partial};
use crate::socket::{DisconnectReason, SocketRef};

/// The Engine.IO session, carrying the client's state.
pub(crate) type Conn = EngineSocket<ClientData>;

/// A binary packet being completed, with its attachments so far.
struct Pending {
    partial: Partial,
    bins: Vec<Bytes>,
    started: Instant,
}

/// What the Socket.IO layer keeps per connection.
#[derive(Default)]
pub(crate) struct ClientData {
    /// One socket per namespace; each knows its namespace's name (shared by all the
    /// namespace's sockets, so comparing with it stays in cache).
    sockets: Mutex<SmallVec<[SocketRef; 2]>>,
    pending_ns: Mutex<SmallVec<[String; 1]>>,
    partial: Mutex<Option<Box<Pending>>>,
    connect_timer: Mutex<Option<tokio::task::AbortHandle>>,
}

impl ClientData {
    pub(crate) fn add_socket(&self, socket: SocketRef) {
        self.sockets.lock().push(socket);
        if let Some(t) = self.connect_timer.lock().take() {
            t.abort();
        }
    }

    pub(crate) fn remove_socket(&self, ns: &str) {
        self.sockets.lock().retain(|s| s.ns_name() != ns);
    }

    fn socket(&self, ns: &str) -> Option<SocketRef> {
        self.sockets
            .lock()
            .iter()
            .find(|s| s.ns_name() == ns)
            .cloned()
    }

    pub(crate) fn add_pending(&self, ns: &str) {
        self.pending_ns.lock().push(ns.to_owned());
    }

    pub(crate) fn remove_pending(&self, ns: &str) {
        self.pending_ns.lock().retain(|n| n != ns);
    }

    fn knows(&self, ns: &str) -> bool {
        self.pending_ns.lock().iter().any(|n| n == ns) || self.socket(ns).is_some()
    }
}

/// Disconnects every socket of a connection (each gets a disconnect packet), then closes it.
pub(crate) fn disconnect_all(conn: &Arc<Conn>) {
    let sockets: Vec<SocketRef> = conn.data().sockets.lock().iter().cloned().collect();
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
                // A v4-protocol client authenticates through the namespace's query string.
                let auth = match (auth, query, conn.protocol()) {
                    (None, Some(q), ProtocolVersion::V3) => Some(query_to_json(&q)),
                    (auth, _, _) => auth,
                };
                match self.0.get_or_create_ns(&ns) {
                    Some(nsp) => nsp.connect(conn, auth),
                    None => {
                        // An object in both protocols, as Node sends it.
                        let packet = parser::encode_connect_error(&ns, "Invalid namespace", None);
                        let _ = conn.send_text(packet);
                    }
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
                Some(s) => s.dispatch(MessageParts::new(event, payload, id)),
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
        if conn.protocol() == ProtocolVersion::V3 {
            // A v4-protocol client is connected to `/` without asking, as Node does.
            if let Some(ns) = self.0.get_or_create_ns("/") {
                ns.connect(conn, None);
            }
        }
        let weak = Arc::downgrade(conn);
        let timeout = self.0.config.connect_timeout;
        let task = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(conn) = weak.upgrade() {
                if conn.data().sockets.lock().is_empty() {
                    tracing::debug!(sid = %conn.sid(), "no namespace joined in time");
                    conn.close(EngineReason::ForcedClose);
                }
            }
        });
        *conn.data().connect_timer.lock() = Some(task.abort_handle());
    }

    fn on_disconnect(&self, conn: &Arc<Conn>, reason: EngineReason) {
        let data = conn.data();
        if let Some(t) = data.connect_timer.lock().take() {
            t.abort();
        }
        data.partial.lock().take();
        let sockets: SmallVec<[SocketRef; 2]> = std::mem::take(&mut *data.sockets.lock());
        for s in sockets {
            s.close(reason.into());
        }
    }

    fn on_message(&self, conn: &Arc<Conn>, msg: Bytes) {
        if conn.data().partial.lock().is_some() {
            return Self::protocol_error(conn, &"text while a binary packet waits for attachments");
        }
        match parser::decode(msg, self.limits()) {
            Ok(Decoded::Whole(p)) => self.dispatch(conn, p),
            Ok(Decoded::Partial(partial)) => {
                let started = Instant::now();
                *conn.data().partial.lock() = Some(Box::new(Pending {
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
                        .partial
                        .lock()
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
        let done = {
            let mut slot = conn.data().partial.lock();
            let Some(p) = slot.as_mut() else {
                drop(slot);
                return Self::protocol_error(conn, &"unexpected binary message");
            };
            p.partial.bytes += data.len();
            let too_slow = p.started.elapsed() > self.0.config.partial_timeout;
            if p.partial.bytes > self.0.config.max_attachment_bytes || too_slow {
                drop(slot);
                return Self::protocol_error(conn, &"binary attachments too large or too slow");
            }
            p.bins.push(data);
            if p.bins.len() == p.partial.expected {
                slot.take()
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
