//! What the admin UI hears of the server: the aggregated counts of its dashboard, and in
//! development mode every socket's arrival, rooms, data, events and departure, each sent to
//! the admin namespace as it happens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value as Json};
use sockeye_core::value::Value;
use sockeye_core::{Payload, Room, Sid};
use sockeye_engineio::{DisconnectReason as EngineReason, TransportKind};

use crate::client::Conn;
use crate::extract::Event;
use crate::ns::Namespace;
use crate::observe::Observer;
use crate::socket::{DisconnectReason, Socket, SocketRef};

use super::serialize::{self, ADMIN_KEY};
use super::AdminMode;

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Now as a JavaScript `Date` reaches the UI (`JSON.stringify` writes its ISO form).
fn date() -> String {
    sockeye_core::time::to_iso_string(now_ms())
}

/// The transport a socket's connection used when the UI last heard of it (kept among the
/// socket's extensions, under this private type), to report upgrades.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct SeenTransport(pub(super) TransportKind);

/// Sends to the admin namespace, wherever the call comes from: on every server, through its
/// adapter, each message in the order of the calls (the in-process adapter delivers at once).
#[derive(Clone, Default)]
pub(super) struct Sink {
    admin: Weak<Namespace>,
}

impl Sink {
    pub(super) fn emit<T: Serialize + Send + Sync + 'static>(&self, event: &'static str, args: T) {
        let Some(ns) = self.admin.upgrade() else {
            return;
        };
        let op = ns.operator();
        crate::handler::run(async move {
            if let Err(e) = op.emit_args(event, &args).await {
                tracing::debug!("admin UI: {event} not sent: {e}");
            }
        });
    }

    fn is(&self, ns: &Namespace) -> bool {
        std::ptr::eq(self.admin.as_ptr(), ns)
    }
}

/// One line of the dashboard's charts: how many of `kind` (and `sub`) happened in the second
/// that starts at `second_ms` (Node's `NamespaceEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    second_ms: u64,
    kind: &'static str,
    sub: Option<&'static str>,
}

/// The admin UI's observer of one server.
pub(super) struct AdminObserver {
    mode: AdminMode,
    sink: OnceLock<Sink>,
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
    /// Connections and disconnections by second (and reason), until the next tick. Bounded:
    /// at most a handful of keys per second between two ticks.
    events: Mutex<HashMap<Key, u64>>,
}

impl AdminObserver {
    pub(super) fn new(mode: AdminMode) -> AdminObserver {
        AdminObserver {
            mode,
            sink: OnceLock::new(),
            packets_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            packets_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            events: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn set_admin(&self, ns: &Arc<Namespace>) {
        let _ = self.sink.set(Sink {
            admin: Arc::downgrade(ns),
        });
    }

    /// Where verbose messages go, in development mode once the namespace is set.
    fn verbose(&self) -> Option<&Sink> {
        match self.mode {
            AdminMode::Development => self.sink.get(),
            _ => None,
        }
    }

    fn count(&self, kind: &'static str, sub: Option<&'static str>) {
        let second_ms = now_ms() / 1000 * 1000;
        let key = Key {
            second_ms,
            kind,
            sub,
        };
        *self.events.lock().entry(key).or_default() += 1;
    }

    /// The aggregated events since the last call (Node's `getValuesAndClear`): the
    /// connections and disconnections of each second, and the messages and bytes in and out
    /// since then, counted in the current second.
    pub(super) fn drain(&self) -> Vec<Json> {
        let mut out: Vec<(Key, u64)> = self.events.lock().drain().collect();
        out.sort_by_key(|(k, _)| (k.second_ms, k.kind, k.sub));
        let second_ms = now_ms() / 1000 * 1000;
        for (kind, counter) in [
            ("packetsIn", &self.packets_in),
            ("bytesIn", &self.bytes_in),
            ("packetsOut", &self.packets_out),
            ("bytesOut", &self.bytes_out),
        ] {
            let n = counter.swap(0, Ordering::Relaxed);
            if n > 0 {
                let key = Key {
                    second_ms,
                    kind,
                    sub: None,
                };
                out.push((key, n));
            }
        }
        out.into_iter()
            .map(|(k, count)| {
                let mut e = json!({"timestamp": k.second_ms, "type": k.kind, "count": count});
                if let Some(sub) = k.sub {
                    e["subType"] = Json::String(sub.to_owned());
                }
                e
            })
            .collect()
    }

    /// Reports a transport upgrade noticed at a tick.
    pub(super) fn upgraded(&self, socket: &SocketRef, now: TransportKind) {
        socket.insert_extension(SeenTransport(now));
        let Some(sink) = self.verbose() else {
            return;
        };
        let name = serialize::transport_name(now);
        socket.update_data_quietly(|data| {
            if let Value::Map(entries) = data {
                if let Some((_, Value::Map(admin))) =
                    entries.iter_mut().find(|(k, _)| k == ADMIN_KEY)
                {
                    for (k, v) in admin.iter_mut() {
                        if k == "transport" {
                            *v = Value::Str(name.into());
                        }
                    }
                }
            }
        });
        sink.emit(
            "socket_updated",
            [json!({"id": socket.id_string(), "nsp": socket.ns().name(), "transport": name})],
        );
    }
}

impl Observer for AdminObserver {
    fn connection_opened(&self, _: &Arc<Conn>) {
        self.count("rawConnection", None);
    }

    fn connection_closed(&self, _: &Arc<Conn>, reason: EngineReason) {
        self.count("rawDisconnection", Some(reason.as_str()));
    }

    fn packet_in(&self, bytes: usize) {
        self.packets_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn packets_out(&self, packets: usize, bytes: usize) {
        self.packets_out
            .fetch_add(packets as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn socket_connected(&self, socket: &SocketRef) {
        socket.insert_extension(SeenTransport(socket.conn.transport()));
        let Some(sink) = self.verbose() else {
            return;
        };
        // As Node: the UI's own fields first in the socket's data (when it is an object).
        let fields = serialize::admin_fields(socket);
        socket.update_data_quietly(|data| {
            if let Value::Map(entries) = data {
                entries.retain(|(k, _)| k != ADMIN_KEY);
                entries.insert(0, (ADMIN_KEY.to_owned(), fields));
            }
        });
        let (nsp, id) = (socket.ns().name().to_owned(), socket.id_string());
        // Node's adapter reports the socket's own room before the `connection` listeners.
        sink.emit("room_joined", (nsp.clone(), id.clone(), id.clone(), date()));
        sink.emit("socket_connected", (serialize::local(socket), date()));
        if sink.is(socket.ns()) {
            return;
        }
        let received = sink.clone();
        let (n, i) = (nsp.clone(), id.clone());
        socket.on_any(move |Event(name): Event, args: Payload| {
            received.emit(
                "event_received",
                (n.clone(), i.clone(), event_args(&name, &args), date()),
            );
        });
        let sent = sink.clone();
        socket.on_any_outgoing(move |Event(name): Event, args: Payload| {
            sent.emit(
                "event_sent",
                (nsp.clone(), id.clone(), event_args(&name, &args), date()),
            );
        });
    }

    fn socket_disconnected(&self, socket: &SocketRef, reason: DisconnectReason, rooms: &[Room]) {
        let Some(sink) = self.verbose() else {
            return;
        };
        let (nsp, id) = (socket.ns().name().to_owned(), socket.id_string());
        sink.emit(
            "socket_disconnected",
            (nsp.clone(), id.clone(), reason.as_str(), date()),
        );
        // Node reports the rooms left on the next tick, so after the disconnection.
        for room in rooms {
            sink.emit(
                "room_left",
                (nsp.clone(), room.to_string(), id.clone(), date()),
            );
        }
    }

    fn room_joined(&self, ns: &Namespace, room: &str, sid: Sid) {
        if let Some(sink) = self.verbose() {
            let id = display_id(ns, sid);
            sink.emit(
                "room_joined",
                (ns.name().to_owned(), room.to_owned(), id, date()),
            );
        }
    }

    fn room_left(&self, ns: &Namespace, room: &str, sid: Sid) {
        if let Some(sink) = self.verbose() {
            let id = display_id(ns, sid);
            sink.emit(
                "room_left",
                (ns.name().to_owned(), room.to_owned(), id, date()),
            );
        }
    }

    fn data_set(&self, socket: &Socket) {
        if let Some(sink) = self.verbose() {
            let data = serialize::visible_data(&socket.data_value());
            let update = json!({"id": socket.id_string(), "nsp": socket.ns().name(), "data": data});
            sink.emit("socket_updated", [update]);
        }
    }
}

/// The socket's id as its client knows it (see [`Socket::id_string`]).
fn display_id(ns: &Namespace, sid: Sid) -> String {
    ns.get_socket(sid)
        .map_or_else(|| sid.to_string(), |s| s.id_string())
}

/// `[event, ...args]`, as Node's `onAny` listener hands them to the UI.
fn event_args(name: &str, args: &Payload) -> Vec<Value> {
    let mut out = vec![Value::Str(name.to_owned())];
    match args.to_values() {
        Ok(values) => out.extend(values),
        Err(_) => out.extend((0..args.len()).map(|_| Value::Null)),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drained_events_are_counted_and_cleared() {
        let o = AdminObserver::new(AdminMode::Production);
        o.count("rawConnection", None);
        o.count("rawConnection", None);
        o.count("rawDisconnection", Some("transport close"));
        o.packet_in(10);
        o.packet_in(5);
        o.packets_out(3, 300);
        let events = o.drain();
        let find = |kind: &str| events.iter().find(|e| e["type"] == kind).cloned();
        assert_eq!(find("rawConnection").unwrap()["count"], 2);
        let gone = find("rawDisconnection").unwrap();
        assert_eq!(
            (gone["count"].clone(), gone["subType"].clone()),
            (json!(1), json!("transport close"))
        );
        assert_eq!(find("packetsIn").unwrap()["count"], 2);
        assert_eq!(find("bytesIn").unwrap()["count"], 15);
        assert_eq!(find("packetsOut").unwrap()["count"], 3);
        assert_eq!(find("bytesOut").unwrap()["count"], 300);
        assert!(find("rawConnection").unwrap().get("subType").is_none());
        let ts = find("bytesOut").unwrap()["timestamp"].as_u64().unwrap();
        assert_eq!(ts % 1000, 0, "whole seconds, as Node's");
        assert!(o.drain().is_empty(), "cleared");
    }
}
