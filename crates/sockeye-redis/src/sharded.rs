//! The adapter of `@socket.io/redis-adapter`'s `createShardedAdapter` (Redis 7 sharded
//! Pub/Sub), whose messages are those of socket.io-adapter's `ClusterAdapter`:
//! `{type, data, uid, nsp}`, JSON unless `data` holds binary (then msgpack).
//!
//! | shard channel | carries |
//! |---|---|
//! | `key#nsp#` | every message (every server subscribes) |
//! | `key#nsp#room#` | broadcasts to one room, in the dynamic modes (subscribed by the servers that have a member) |
//! | `key#nsp#uid#` | responses to the server `uid` |

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use sockeye_core::adapter::{
    with_unreachable, AckStream, Adapter, BoxFuture, BroadcastOptions, BroadcastPacket,
    LocalHandle, ServerAck, ServerAcks, SocketInfo,
};
use sockeye_core::value::{msgpack, Value};
use sockeye_core::{AdapterError, Payload, Room};
use tokio::sync::{mpsc, Notify};

use crate::connection::{Connection, Receiver, Subscriptions};
use crate::requests::{self, ClusterAcks, Collect, Fetched, Pending, RemoteAck, Table};
use crate::wire::{self, Malformed, Obj};
use crate::SubscriptionMode;

/// socket.io-adapter's `MessageType`.
mod kind {
    pub const BROADCAST: u64 = 3;
    pub const SOCKETS_JOIN: u64 = 4;
    pub const SOCKETS_LEAVE: u64 = 5;
    pub const DISCONNECT_SOCKETS: u64 = 6;
    pub const FETCH_SOCKETS: u64 = 7;
    pub const FETCH_SOCKETS_RESPONSE: u64 = 8;
    pub const SERVER_SIDE_EMIT: u64 = 9;
    pub const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    pub const BROADCAST_CLIENT_COUNT: u64 = 11;
    pub const BROADCAST_ACK: u64 = 12;
}

/// One namespace's sharded Redis adapter.
pub(crate) struct ShardedAdapter {
    core: Arc<Core>,
}

struct Core {
    conn: Arc<Connection>,
    local: LocalHandle,
    uid: String,
    mode: SubscriptionMode,
    channel: String,
    response_channel: String,
    requests: Arc<Table>,
    closed: AtomicBool,
    /// The rooms whose channels this server wants (dynamic modes), and a wake-up for the
    /// task that subscribes and unsubscribes.
    rooms_wanted: Mutex<HashSet<String>>,
    rooms_changed: Arc<Notify>,
}

impl ShardedAdapter {
    pub(crate) fn new(
        conn: Arc<Connection>,
        local: LocalHandle,
        mode: SubscriptionMode,
    ) -> ShardedAdapter {
        let key = &conn.settings.key;
        let ns = local.name();
        let uid = wire::hex16();
        ShardedAdapter {
            core: Arc::new(Core {
                channel: format!("{key}#{ns}#"),
                response_channel: format!("{key}#{ns}#{uid}#"),
                requests: Table::new(conn.settings.max_pending_requests),
                uid,
                mode,
                local,
                conn,
                closed: AtomicBool::new(false),
                rooms_wanted: Mutex::new(HashSet::new()),
                rooms_changed: Arc::new(Notify::new()),
            }),
        }
    }
}

/// Whether a message of this type may carry binary (and is then msgpack).
fn may_hold_binary(kind: u64) -> bool {
    matches!(
        kind,
        kind::BROADCAST
            | kind::BROADCAST_ACK
            | kind::FETCH_SOCKETS_RESPONSE
            | kind::SERVER_SIDE_EMIT
            | kind::SERVER_SIDE_EMIT_RESPONSE
    )
}

impl Core {
    fn timeout(&self) -> Duration {
        self.conn.settings.requests_timeout
    }

    fn check_open(&self) -> Result<(), AdapterError> {
        if self.closed.load(Ordering::Acquire) {
            Err(AdapterError::Closed)
        } else {
            Ok(())
        }
    }

    fn dynamic_channel(&self, room: &str) -> String {
        format!("{}{room}#", self.channel)
    }

    /// Whether a room gets its own channel in this mode (socket.io's `shouldUseASeparateNamespace`
    /// on the receiving side, `computeChannel` on the sending side).
    fn has_own_channel(&self, room: &str) -> bool {
        match self.mode {
            SubscriptionMode::Static => false,
            SubscriptionMode::Dynamic => !wire::looks_like_socket_id(room),
            SubscriptionMode::DynamicPrivate => true,
        }
    }

    /// `{type, data, uid, nsp}`, encoded as Node's sharded adapter does.
    fn encode(&self, kind: u64, data: Value) -> Vec<u8> {
        let binary = may_hold_binary(kind) && data.has_binary();
        let msg = Obj::new()
            .with("type", Value::Int(kind as i64))
            .with("data", data)
            .with("uid", self.uid.as_str())
            .with("nsp", self.local.name())
            .build();
        if binary {
            msgpack::encode(&msg)
        } else {
            wire::json(&msg)
        }
    }

    async fn publish(&self, channel: &str, kind: u64, data: Value) -> Result<(), AdapterError> {
        self.check_open()?;
        self.conn
            .publish(channel, self.encode(kind, data), true)
            .await
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        self.check_open()?;
        self.conn.numsub(&self.channel, true).await
    }

    fn respond(&self, requester: &Value, kind: u64, data: Value) {
        let channel = format!(
            "{}{}#",
            self.channel,
            requester.as_str().unwrap_or("undefined")
        );
        self.conn
            .publish_detached(channel, self.encode(kind, data), true);
    }

    fn on_message(&self, channel: &str, payload: &Bytes) -> Result<(), Malformed> {
        let msg = wire::decode(payload)?;
        if !matches!(msg, Value::Map(_)) {
            return Err(Malformed::Shape("a cluster message"));
        }
        if channel == self.response_channel {
            return self.on_response(&msg);
        }
        if msg.get("uid").and_then(Value::as_str) == Some(self.uid.as_str()) {
            return Ok(());
        }
        if msg.get("nsp").and_then(Value::as_str) != Some(self.local.name()) {
            return Ok(());
        }
        let Some(kind) = msg.get("type").and_then(Value::as_u64) else {
            return Err(Malformed::Shape("a message type"));
        };
        let requester = msg.get("uid").unwrap_or(&Value::Null);
        let data = msg.get("data");
        let field = |k: &str| data.and_then(|d| d.get(k));
        match kind {
            kind::BROADCAST => {
                let packet = wire::packet_from(field("packet"), self.local.name(), false)?
                    .ok_or(Malformed::Shape("a packet"))?;
                let opts = wire::opts_from(
                    Some(field("opts").ok_or(Malformed::Shape("options"))?),
                    true,
                )?;
                let Some(id) = field("requestId").cloned() else {
                    self.local.broadcast(&packet, &opts);
                    return Ok(());
                };
                let timeout = wire::ack_timeout(
                    field("opts"),
                    self.timeout(),
                    self.conn.settings.max_ack_timeout,
                );
                let acks = self.local.broadcast_with_ack(&packet, &opts, timeout);
                let channel = format!(
                    "{}{}#",
                    self.channel,
                    requester.as_str().unwrap_or("undefined")
                );
                let (uid, ns, id2) = (self.uid.clone(), self.local.name().to_owned(), id.clone());
                let (uid2, ns2) = (uid.clone(), ns.clone());
                self.conn.spawn_ack_responder(
                    acks,
                    channel,
                    true,
                    move |n| {
                        let data = Obj::new()
                            .with("requestId", id.clone())
                            .with("clientCount", Value::Int(n as i64))
                            .build();
                        response(kind::BROADCAST_CLIENT_COUNT, data, &uid, &ns)
                    },
                    move |arg| {
                        let data = Obj::new()
                            .with("requestId", id2.clone())
                            .with_opt("packet", arg)
                            .build();
                        response(kind::BROADCAST_ACK, data, &uid2, &ns2)
                    },
                );
            }
            kind::SOCKETS_JOIN | kind::SOCKETS_LEAVE => {
                let opts = wire::opts_from(
                    Some(field("opts").ok_or(Malformed::Shape("options"))?),
                    true,
                )?;
                let rooms = wire::rooms(field("rooms"))?;
                if kind == kind::SOCKETS_JOIN {
                    self.local.add_sockets(&opts, &rooms);
                } else {
                    self.local.del_sockets(&opts, &rooms);
                }
            }
            kind::DISCONNECT_SOCKETS => {
                let opts = wire::opts_from(
                    Some(field("opts").ok_or(Malformed::Shape("options"))?),
                    true,
                )?;
                self.local
                    .disconnect_sockets(&opts, wire::truthy(field("close")));
            }
            kind::FETCH_SOCKETS => {
                let opts = wire::opts_from(
                    Some(field("opts").ok_or(Malformed::Shape("options"))?),
                    true,
                )?;
                let sockets = self.local.fetch_sockets(&opts);
                let data = Obj::new()
                    .with("requestId", field("requestId").cloned().unwrap_or_default())
                    .with(
                        "sockets",
                        Value::Array(sockets.iter().map(wire::socket).collect()),
                    )
                    .build();
                self.respond(requester, kind::FETCH_SOCKETS_RESPONSE, data);
            }
            kind::SERVER_SIDE_EMIT => {
                let (event, args) = wire::split_event(field("packet"))?;
                let ack = field("requestId").cloned().map(|id| {
                    let conn = Arc::clone(&self.conn);
                    let channel = format!(
                        "{}{}#",
                        self.channel,
                        requester.as_str().unwrap_or("undefined")
                    );
                    let (uid, ns) = (self.uid.clone(), self.local.name().to_owned());
                    ServerAck::new(move |answer: Payload| {
                        let data = Obj::new()
                            .with("requestId", id)
                            .with_opt("packet", wire::first_arg(&answer))
                            .build();
                        let msg = response(kind::SERVER_SIDE_EMIT_RESPONSE, data, &uid, &ns);
                        conn.publish_detached(channel, msg, true);
                    })
                });
                self.local.server_side_emit(&event, args, ack);
            }
            kind::FETCH_SOCKETS_RESPONSE
            | kind::SERVER_SIDE_EMIT_RESPONSE
            | kind::BROADCAST_CLIENT_COUNT
            | kind::BROADCAST_ACK => return self.on_response(&msg),
            other => tracing::debug!(
                kind = other,
                "sockeye-redis: ignored a message of unknown type"
            ),
        }
        Ok(())
    }

    fn on_response(&self, msg: &Value) -> Result<(), Malformed> {
        let data = msg.get("data");
        let field = |k: &str| data.and_then(|d| d.get(k));
        let Some(id) = field("requestId").and_then(Value::as_str) else {
            return Ok(());
        };
        let kind = msg.get("type").and_then(Value::as_u64);
        let max = self.conn.settings.max_fetched_sockets;
        let outcome = self.requests.with(id, |pending| -> Result<(), Malformed> {
            match (pending, kind) {
                (Pending::Ack(tx), Some(kind::BROADCAST_CLIENT_COUNT)) => {
                    let n = field("clientCount")
                        .and_then(Value::as_u64)
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or(Malformed::Shape("a client count"))?;
                    tx.try_send(RemoteAck::Count(n))
                        .map_err(|_| Malformed::Shape("an ack its stream had room for"))?;
                }
                (Pending::Ack(tx), Some(kind::BROADCAST_ACK)) => {
                    tx.try_send(RemoteAck::Ack(field("packet").cloned()))
                        .map_err(|_| Malformed::Shape("an ack its stream had room for"))?;
                }
                (Pending::Fetch(c), Some(kind::FETCH_SOCKETS_RESPONSE)) => {
                    let Some(Value::Array(sockets)) = field("sockets") else {
                        return Err(Malformed::Shape("a list of sockets"));
                    };
                    for s in sockets {
                        match wire::socket_from(s) {
                            Some(_) if c.acc.sockets.len() >= max => c.acc.overflow = true,
                            Some(s) => c.acc.sockets.push(s),
                            None => return Err(Malformed::Shape("a socket")),
                        }
                    }
                    c.count();
                }
                (Pending::Emit(c), Some(kind::SERVER_SIDE_EMIT_RESPONSE)) => {
                    c.acc.push(Payload::from_values(
                        field("packet").cloned().into_iter().collect(),
                    ));
                    c.count();
                }
                _ => {}
            }
            Ok(())
        });
        outcome.unwrap_or(Ok(()))
    }

    /// Keeps the room channels subscribed to the rooms wanted, until the adapter closes.
    async fn sync_rooms(core: Weak<Core>, changed: Arc<Notify>) {
        let mut subscribed: HashSet<String> = HashSet::new();
        loop {
            let notified = changed.notified();
            let Some(c) = core.upgrade() else { return };
            let weak: Weak<dyn Receiver> = Arc::downgrade(&c) as Weak<dyn Receiver>;
            if c.closed.load(Ordering::Acquire) {
                for room in subscribed {
                    let _ = c.conn.sunsubscribe(&c.dynamic_channel(&room), &weak).await;
                }
                return;
            }
            let wanted = c.rooms_wanted.lock().clone();
            let mut failed = false;
            for room in wanted.difference(&subscribed).cloned().collect::<Vec<_>>() {
                match c
                    .conn
                    .ssubscribe(&c.dynamic_channel(&room), weak.clone())
                    .await
                {
                    Ok(()) => {
                        subscribed.insert(room);
                    }
                    Err(_) => failed = true,
                }
            }
            for room in subscribed.difference(&wanted).cloned().collect::<Vec<_>>() {
                match c.conn.sunsubscribe(&c.dynamic_channel(&room), &weak).await {
                    Ok(()) => {
                        subscribed.remove(&room);
                    }
                    Err(_) => failed = true,
                }
            }
            let retry = c.conn.settings.reconnect_max;
            drop(c);
            if failed {
                // Redis is away: try again later (or sooner, on the next change).
                let _ = tokio::time::timeout(retry, notified).await;
            } else {
                notified.await;
            }
        }
    }
}

/// A response message (`{type, data, uid, nsp}`), encoded as Node's sharded adapter does.
fn response(kind: u64, data: Value, uid: &str, ns: &str) -> Vec<u8> {
    let binary = may_hold_binary(kind) && data.has_binary();
    let msg = Obj::new()
        .with("type", Value::Int(kind as i64))
        .with("data", data)
        .with("uid", uid)
        .with("nsp", ns)
        .build();
    if binary {
        msgpack::encode(&msg)
    } else {
        wire::json(&msg)
    }
}

impl Receiver for Core {
    fn receive(&self, channel: &str, payload: Bytes) {
        if let Err(why) = self.on_message(channel, &payload) {
            self.conn.malformed(channel, why);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Adapter for ShardedAdapter {
    fn init(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let c = &self.core;
            if c.mode != SubscriptionMode::Static {
                let changed = Arc::clone(&c.rooms_changed);
                c.conn
                    .runtime()
                    .spawn(Core::sync_rooms(Arc::downgrade(c), changed));
            }
            let subs = Subscriptions {
                shard_channels: vec![c.channel.clone(), c.response_channel.clone()],
                ..Subscriptions::default()
            };
            let weak: Weak<dyn Receiver> = Arc::downgrade(c) as Weak<dyn Receiver>;
            c.conn.subscribe(subs, weak).await
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let c = &self.core;
            if c.closed.swap(true, Ordering::AcqRel) {
                return Ok(());
            }
            c.requests.clear();
            c.rooms_changed.notify_one();
            let weak: Weak<dyn Receiver> = Arc::downgrade(&self.core) as Weak<dyn Receiver>;
            c.conn
                .unsubscribe(
                    &Subscriptions {
                        shard_channels: vec![c.channel.clone(), c.response_channel.clone()],
                        ..Subscriptions::default()
                    },
                    &weak,
                )
                .await
        })
    }

    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        Box::pin(self.core.server_count())
    }

    fn room_created(&self, room: &str) {
        let c = &self.core;
        if c.has_own_channel(room) && c.rooms_wanted.lock().insert(room.to_owned()) {
            c.rooms_changed.notify_one();
        }
    }

    fn room_deleted(&self, room: &str) {
        let c = &self.core;
        if c.rooms_wanted.lock().remove(room) {
            c.rooms_changed.notify_one();
        }
    }

    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<usize, AdapterError>> {
        let c = &self.core;
        let sent = c.local.broadcast(&packet, &opts);
        Box::pin(async move {
            if opts.flags.local {
                return Ok(sent);
            }
            let channel = match opts.rooms.as_slice() {
                [room] if c.has_own_channel(room) => c.dynamic_channel(room),
                _ => c.channel.clone(),
            };
            let data = Obj::new()
                .with("packet", wire::packet(&packet, false)?)
                .with("opts", wire::opts_full(&opts, None))
                .build();
            c.publish(&channel, kind::BROADCAST, data).await?;
            Ok(sent)
        })
    }

    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<AckStream, AdapterError>> {
        let c = &self.core;
        let local = c.local.broadcast_with_ack(&packet, &opts, timeout);
        Box::pin(async move {
            if opts.flags.local {
                return Ok(local);
            }
            let asked = async {
                let servers = c.server_count().await?.saturating_sub(1);
                let (tx, rx) = mpsc::channel(requests::ACK_QUEUE);
                let id = wire::hex16();
                let guard = c.requests.insert(&id, Pending::Ack(tx))?;
                // Always the main channel: the server count covers every server, not only
                // those with a member in the room.
                let data = Obj::new()
                    .with("packet", wire::packet(&packet, false)?)
                    .with("requestId", id.as_str())
                    .with("opts", wire::opts_full(&opts, Some(timeout)))
                    .build();
                c.publish(&c.channel, kind::BROADCAST, data).await?;
                Ok::<_, AdapterError>((rx, servers, guard))
            };
            match asked.await {
                Ok((rx, servers, guard)) => {
                    Ok(Box::pin(ClusterAcks::new(local, rx, servers, timeout, guard)) as AckStream)
                }
                // This server's sockets were sent it: their answers still come.
                Err(e) => {
                    tracing::debug!(error = %e, "sockeye-redis: a broadcast with acks stayed local");
                    Ok(with_unreachable(local))
                }
            }
        })
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>> {
        Box::pin(self.fetch(opts))
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.core.local.add_sockets(&opts, &rooms);
        Box::pin(async move {
            if opts.flags.local {
                return Ok(());
            }
            let data = Obj::new()
                .with("opts", wire::opts_full(&opts, None))
                .with("rooms", wire::room_list(&rooms))
                .build();
            self.core
                .publish(&self.core.channel, kind::SOCKETS_JOIN, data)
                .await
        })
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.core.local.del_sockets(&opts, &rooms);
        Box::pin(async move {
            if opts.flags.local {
                return Ok(());
            }
            let data = Obj::new()
                .with("opts", wire::opts_full(&opts, None))
                .with("rooms", wire::room_list(&rooms))
                .build();
            self.core
                .publish(&self.core.channel, kind::SOCKETS_LEAVE, data)
                .await
        })
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.core.local.disconnect_sockets(&opts, close);
        Box::pin(async move {
            if opts.flags.local {
                return Ok(());
            }
            let data = Obj::new()
                .with("opts", wire::opts_full(&opts, None))
                .with("close", close)
                .build();
            self.core
                .publish(&self.core.channel, kind::DISCONNECT_SOCKETS, data)
                .await
        })
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        // The cluster protocol has no request for rooms: every socket's rooms are.
        Box::pin(async move {
            let mut all: HashSet<Room> = self.core.local.rooms().into_iter().collect();
            for s in self.fetch(BroadcastOptions::new()).await? {
                all.extend(s.rooms);
            }
            Ok(all.into_iter().collect())
        })
    }

    fn server_side_emit(
        &self,
        event: String,
        args: Payload,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let data = Obj::new()
                .with("packet", wire::event_array(&event, &args)?)
                .build();
            self.core
                .publish(&self.core.channel, kind::SERVER_SIDE_EMIT, data)
                .await
        })
    }

    fn server_side_emit_with_ack(
        &self,
        event: String,
        args: Payload,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<ServerAcks, AdapterError>> {
        let c = &self.core;
        Box::pin(async move {
            let packet = wire::event_array(&event, &args)?;
            let expected = c.server_count().await?.saturating_sub(1);
            if expected == 0 {
                return Ok(ServerAcks::new(Vec::new(), 0));
            }
            let id = wire::hex16();
            let (collect, done) = Collect::<Vec<Payload>>::new(expected);
            let guard = c.requests.insert(&id, Pending::Emit(collect))?;
            let data = Obj::new()
                .with("requestId", id.as_str())
                .with("packet", packet)
                .build();
            c.publish(&c.channel, kind::SERVER_SIDE_EMIT, data).await?;
            requests::wait(done, timeout).await;
            c.check_open()?;
            match guard.take() {
                Some(Pending::Emit(collect)) => Ok(ServerAcks::new(collect.acc, expected)),
                _ => Err(AdapterError::Closed),
            }
        })
    }
}

impl Drop for ShardedAdapter {
    fn drop(&mut self) {
        // Ends the room task (a dropped adapter that was not closed has no more use for it).
        self.core.closed.store(true, Ordering::Release);
        self.core.rooms_changed.notify_one();
    }
}

impl ShardedAdapter {
    async fn fetch(&self, opts: BroadcastOptions) -> Result<Vec<SocketInfo>, AdapterError> {
        let c = &self.core;
        let mut sockets = c.local.fetch_sockets(&opts);
        if opts.flags.local {
            return Ok(sockets);
        }
        let expected = c.server_count().await?.saturating_sub(1);
        if expected == 0 {
            return Ok(sockets);
        }
        let id = wire::hex16();
        let (collect, done) = Collect::<Fetched>::new(expected);
        let guard = c.requests.insert(&id, Pending::Fetch(collect))?;
        let data = Obj::new()
            .with("opts", wire::opts_full(&opts, None))
            .with("requestId", id.as_str())
            .build();
        c.publish(&c.channel, kind::FETCH_SOCKETS, data).await?;
        // The options' timeout, or the adapter's (Node's cluster adapter: 5 s).
        let timeout = opts.flags.timeout.unwrap_or_else(|| c.timeout());
        let complete = requests::wait(done, timeout).await;
        c.check_open()?;
        let Some(Pending::Fetch(collect)) = guard.take() else {
            return Err(AdapterError::Closed);
        };
        if !complete {
            return Err(AdapterError::Timeout(timeout));
        }
        if collect.acc.overflow {
            return Err(AdapterError::Other(format!(
                "more than {} sockets from other servers",
                c.conn.settings.max_fetched_sockets
            )));
        }
        sockets.extend(collect.acc.sockets);
        Ok(sockets)
    }
}
