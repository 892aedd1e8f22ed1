//! The adapter of `@socket.io/redis-adapter`'s `createAdapter` (Redis Pub/Sub).
//!
//! Channels, for the namespace `nsp` and the key `key`:
//!
//! | channel | carries |
//! |---|---|
//! | `key#nsp#` | broadcasts (msgpack `[uid, packet, opts]`) |
//! | `key#nsp#room#` | broadcasts to exactly one room |
//! | `key-request#nsp#` | requests (JSON, or msgpack for a broadcast with acks) |
//! | `key-response#nsp#` | responses |
//! | `key-response#nsp#uid#` | responses to this server, when the responder publishes on specific channels |

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use sockeye_core::adapter::{
    with_unreachable, AckStream, Adapter, BoxFuture, BroadcastOptions, BroadcastPacket,
    LocalHandle, ServerAck, ServerAcks, SocketInfo,
};
use sockeye_core::value::{msgpack, Value};
use sockeye_core::{AdapterError, Payload, Room};
use tokio::sync::mpsc;

use crate::connection::{Connection, Receiver, Subscriptions};
use crate::requests::{self, ClusterAcks, Collect, Fetched, Pending, RemoteAck, Table};
use crate::wire::{self, Malformed, Obj};

/// Request types of the classic adapter.
mod kind {
    pub const SOCKETS: u64 = 0;
    pub const ALL_ROOMS: u64 = 1;
    pub const REMOTE_JOIN: u64 = 2;
    pub const REMOTE_LEAVE: u64 = 3;
    pub const REMOTE_DISCONNECT: u64 = 4;
    pub const REMOTE_FETCH: u64 = 5;
    pub const SERVER_SIDE_EMIT: u64 = 6;
    pub const BROADCAST: u64 = 7;
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub const BROADCAST_ACK: u64 = 9;
}

/// One namespace's classic Redis adapter.
pub(crate) struct ClassicAdapter {
    core: Arc<Core>,
}

pub(crate) struct Core {
    conn: Arc<Connection>,
    local: LocalHandle,
    uid: String,
    channel: String,
    request_channel: String,
    response_channel: String,
    specific_response_channel: String,
    requests: Arc<Table>,
    closed: AtomicBool,
}

impl ClassicAdapter {
    pub(crate) fn new(conn: Arc<Connection>, local: LocalHandle) -> ClassicAdapter {
        let key = &conn.settings.key;
        let ns = local.name().to_owned();
        let uid = wire::uid6();
        let response_channel = format!("{key}-response#{ns}#");
        ClassicAdapter {
            core: Arc::new(Core {
                channel: format!("{key}#{ns}#"),
                request_channel: format!("{key}-request#{ns}#"),
                specific_response_channel: format!("{response_channel}{uid}#"),
                response_channel,
                requests: Table::new(conn.settings.max_pending_requests),
                uid,
                local,
                conn,
                closed: AtomicBool::new(false),
            }),
        }
    }
}

impl Core {
    fn subscriptions(&self) -> Subscriptions {
        Subscriptions {
            channels: vec![
                self.request_channel.clone(),
                self.response_channel.clone(),
                self.specific_response_channel.clone(),
            ],
            prefixes: vec![self.channel.clone()],
            shard_channels: Vec::new(),
        }
    }

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

    async fn publish(&self, channel: &str, payload: Vec<u8>) -> Result<(), AdapterError> {
        self.check_open()?;
        self.conn.publish(channel, payload, false).await
    }

    async fn request(&self, request: Value) -> Result<(), AdapterError> {
        self.publish(&self.request_channel, wire::json(&request))
            .await
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        self.check_open()?;
        self.conn.numsub(&self.request_channel, false).await
    }

    /// Where to answer `request`: the shared response channel, or the requester's own.
    fn response_channel_for(&self, request: &Value) -> String {
        if self.conn.settings.publish_on_specific_response_channel {
            format!(
                "{}{}#",
                self.response_channel,
                js_string(request.get("uid"))
            )
        } else {
            self.response_channel.clone()
        }
    }

    fn respond(&self, request: &Value, response: Vec<u8>) {
        self.conn
            .publish_detached(self.response_channel_for(request), response, false);
    }

    fn is_mine(&self, request: &Value) -> bool {
        request.get("uid").and_then(Value::as_str) == Some(self.uid.as_str())
    }

    fn known_request(&self, request: &Value) -> bool {
        wire::request_id(request).is_some_and(|id| self.requests.contains(id))
    }

    fn on_broadcast(&self, channel: &str, payload: &Bytes) -> Result<(), Malformed> {
        // `key#nsp#room#`: what is between the prefix and the last character.
        let room = channel
            .get(self.channel.len()..channel.len().saturating_sub(1))
            .unwrap_or_default();
        let msg = msgpack::decode_bytes(payload).map_err(|_| Malformed::Undecodable)?;
        let Some([uid, packet, opts]) =
            msg.as_array().and_then(|a| <&[Value; 3]>::try_from(a).ok())
        else {
            return Err(Malformed::Shape("[uid, packet, opts]"));
        };
        if uid.as_str() == Some(self.uid.as_str()) {
            return Ok(());
        }
        let Some(packet) = wire::packet_from(Some(packet), self.local.name(), true)? else {
            return Ok(());
        };
        let opts = wire::opts_from(Some(opts), true)?;
        // A single-room channel always names the broadcast's one room; Node's receivers
        // drop what they have no member for, which delivering to that room does too.
        if !room.is_empty() && !opts.rooms.iter().any(|r| r == room) {
            return Ok(());
        }
        self.local.broadcast(&packet, &opts);
        Ok(())
    }

    fn on_request(&self, payload: &Bytes) -> Result<(), Malformed> {
        let request = wire::decode(payload)?;
        if !matches!(request, Value::Map(_)) {
            return Err(Malformed::Shape("a request"));
        }
        let Some(kind) = request.get("type").and_then(Value::as_u64) else {
            return Err(Malformed::Shape("a request type"));
        };
        match kind {
            kind::SOCKETS => {
                if self.known_request(&request) {
                    return Ok(());
                }
                let mut opts = BroadcastOptions::new();
                opts.rooms = wire::rooms(request.get("rooms"))?;
                let ids = self.local.socket_ids(&opts);
                let response = Obj::new()
                    .with_opt("requestId", request.get("requestId").cloned())
                    .with(
                        "sockets",
                        Value::Array(ids.iter().map(|s| Value::Str(s.to_string())).collect()),
                    );
                self.respond(&request, wire::json(&response.build()));
            }
            kind::ALL_ROOMS => {
                if self.known_request(&request) {
                    return Ok(());
                }
                let response = Obj::new()
                    .with_opt("requestId", request.get("requestId").cloned())
                    .with("rooms", wire::room_list(&self.local.rooms()));
                self.respond(&request, wire::json(&response.build()));
            }
            kind::REMOTE_JOIN | kind::REMOTE_LEAVE | kind::REMOTE_DISCONNECT => {
                self.on_remote_change(kind, &request)?
            }
            kind::REMOTE_FETCH => {
                if self.known_request(&request) {
                    return Ok(());
                }
                let opts =
                    wire::opts_from(Some(request.get("opts").unwrap_or(&Value::Null)), false)
                        .map_err(|_| Malformed::Shape("fetch options"))?;
                let sockets = self.local.fetch_sockets(&opts);
                let response = Obj::new()
                    .with_opt("requestId", request.get("requestId").cloned())
                    .with(
                        "sockets",
                        Value::Array(sockets.iter().map(wire::socket).collect()),
                    );
                self.respond(&request, wire::json(&response.build()));
            }
            kind::SERVER_SIDE_EMIT => {
                if self.is_mine(&request) {
                    return Ok(());
                }
                let (event, args) = wire::split_event(request.get("data"))?;
                let ack = request.get("requestId").cloned().map(|id| {
                    let conn = Arc::clone(&self.conn);
                    // Always on the shared response channel, as Node's servers answer.
                    let channel = self.response_channel.clone();
                    ServerAck::new(move |answer: Payload| {
                        let response = Obj::new()
                            .with("type", Value::Int(kind::SERVER_SIDE_EMIT as i64))
                            .with("requestId", id)
                            .with_opt("data", wire::first_arg(&answer));
                        conn.publish_detached(channel, wire::json(&response.build()), false);
                    })
                });
                self.local.server_side_emit(&event, args, ack);
            }
            kind::BROADCAST => {
                if self.is_mine(&request) || self.known_request(&request) {
                    return Ok(());
                }
                let Some(id) = request.get("requestId").cloned() else {
                    return Err(Malformed::Shape("a broadcast request with its id"));
                };
                let packet = wire::packet_from(request.get("packet"), self.local.name(), false)?
                    .ok_or(Malformed::Shape("a packet"))?;
                // Node's servers use only the rooms of a request's options.
                let opts = wire::opts_from(request.get("opts"), false)?;
                let timeout = wire::ack_timeout(
                    request.get("opts"),
                    self.timeout(),
                    self.conn.settings.max_ack_timeout,
                );
                let acks = self.local.broadcast_with_ack(&packet, &opts, timeout);
                let id2 = id.clone();
                self.conn.spawn_ack_responder(
                    acks,
                    self.response_channel_for(&request),
                    false,
                    move |n| {
                        wire::json(
                            &Obj::new()
                                .with("type", Value::Int(kind::BROADCAST_CLIENT_COUNT as i64))
                                .with("requestId", id.clone())
                                .with("clientCount", Value::Int(n as i64))
                                .build(),
                        )
                    },
                    move |arg| {
                        msgpack::encode(
                            &Obj::new()
                                .with("type", Value::Int(kind::BROADCAST_ACK as i64))
                                .with("requestId", id2.clone())
                                .with_opt("packet", arg)
                                .build(),
                        )
                    },
                );
            }
            other => {
                tracing::debug!(
                    kind = other,
                    "sockeye-redis: ignored a request of unknown type"
                );
            }
        }
        Ok(())
    }

    /// `socketsJoin`, `socketsLeave`, `disconnectSockets` (with options), or their legacy
    /// per-socket forms (with `sid`, answered).
    fn on_remote_change(&self, kind: u64, request: &Value) -> Result<(), Malformed> {
        if let Some(opts) = request.get("opts").filter(|o| wire::truthy(Some(o))) {
            // This server did its own part before publishing.
            if self.is_mine(request) {
                return Ok(());
            }
            let opts = wire::opts_from(Some(opts), false)?;
            match kind {
                kind::REMOTE_JOIN => self
                    .local
                    .add_sockets(&opts, &wire::rooms(request.get("rooms"))?),
                kind::REMOTE_LEAVE => self
                    .local
                    .del_sockets(&opts, &wire::rooms(request.get("rooms"))?),
                _ => self
                    .local
                    .disconnect_sockets(&opts, wire::truthy(request.get("close"))),
            }
            return Ok(());
        }
        let Some(sid) = request.get("sid").and_then(wire::room) else {
            return Err(Malformed::Shape("a socket id"));
        };
        let mut opts = BroadcastOptions::new();
        opts.rooms.push(sid);
        if self.local.socket_ids(&opts).is_empty() {
            // Not one of this server's sockets: its own server answers.
            return Ok(());
        }
        match kind {
            kind::REMOTE_JOIN | kind::REMOTE_LEAVE => {
                let rooms: Vec<Room> = match request.get("room") {
                    Some(r @ Value::Array(_)) => wire::rooms(Some(r))?.into_vec(),
                    Some(r) => vec![wire::room(r).ok_or(Malformed::Shape("a room"))?],
                    None => return Err(Malformed::Shape("a room")),
                };
                if kind == kind::REMOTE_JOIN {
                    self.local.add_sockets(&opts, &rooms);
                } else {
                    self.local.del_sockets(&opts, &rooms);
                }
            }
            _ => self
                .local
                .disconnect_sockets(&opts, wire::truthy(request.get("close"))),
        }
        let response = Obj::new().with_opt("requestId", request.get("requestId").cloned());
        self.respond(request, wire::json(&response.build()));
        Ok(())
    }

    fn on_response(&self, payload: &Bytes) -> Result<(), Malformed> {
        let response = wire::decode(payload)?;
        let Some(id) = wire::request_id(&response) else {
            // Responses of other requesters' legacy requests, or of nothing: not ours.
            return Ok(());
        };
        let kind = response.get("type").and_then(Value::as_u64);
        let max = self.conn.settings.max_fetched_sockets;
        let outcome = self.requests.with(id, |pending| -> Result<(), Malformed> {
            match pending {
                Pending::Ack(tx) => {
                    let ev = match kind {
                        Some(kind::BROADCAST_CLIENT_COUNT) => RemoteAck::Count(
                            response
                                .get("clientCount")
                                .and_then(Value::as_u64)
                                .and_then(|n| usize::try_from(n).ok())
                                .ok_or(Malformed::Shape("a client count"))?,
                        ),
                        Some(kind::BROADCAST_ACK) => {
                            RemoteAck::Ack(response.get("packet").cloned())
                        }
                        _ => return Ok(()),
                    };
                    if tx.try_send(ev).is_err() {
                        return Err(Malformed::Shape("an ack its stream had room for"));
                    }
                }
                Pending::Fetch(c) => {
                    if let Some(Value::Array(sockets)) = response.get("sockets") {
                        for s in sockets {
                            match wire::socket_from(s) {
                                Some(_) if c.acc.sockets.len() >= max => c.acc.overflow = true,
                                Some(s) => c.acc.sockets.push(s),
                                None => return Err(Malformed::Shape("a socket")),
                            }
                        }
                    }
                    c.count();
                }
                Pending::Rooms(c) => {
                    if let Ok(rooms) = wire::rooms(response.get("rooms")) {
                        c.acc.extend(rooms);
                    }
                    c.count();
                }
                Pending::Emit(c) => {
                    c.acc.push(Payload::from_values(
                        response.get("data").cloned().into_iter().collect(),
                    ));
                    c.count();
                }
            }
            Ok(())
        });
        outcome.unwrap_or(Ok(()))
    }
}

impl Receiver for Core {
    fn receive(&self, channel: &str, payload: Bytes) {
        let result = if channel.starts_with(self.channel.as_str()) {
            self.on_broadcast(channel, &payload)
        } else if channel == self.request_channel {
            self.on_request(&payload)
        } else if channel == self.response_channel || channel == self.specific_response_channel {
            self.on_response(&payload)
        } else {
            Ok(())
        };
        if let Err(why) = result {
            self.conn.malformed(channel, why);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// JavaScript's `String(v)` for a uid: `undefined` when missing.
fn js_string(v: Option<&Value>) -> String {
    match v {
        None => "undefined".to_owned(),
        Some(Value::Null) => "null".to_owned(),
        Some(Value::Str(s)) => s.clone(),
        Some(other) => wire::room(other).map_or_else(|| "undefined".to_owned(), |r| r.into_owned()),
    }
}

impl Adapter for ClassicAdapter {
    fn init(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let weak: Weak<dyn Receiver> = Arc::downgrade(&self.core) as Weak<dyn Receiver>;
            self.core
                .conn
                .subscribe(self.core.subscriptions(), weak)
                .await
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let c = &self.core;
            if c.closed.swap(true, Ordering::AcqRel) {
                return Ok(());
            }
            c.requests.clear();
            let weak: Weak<dyn Receiver> = Arc::downgrade(&self.core) as Weak<dyn Receiver>;
            c.conn.unsubscribe(&c.subscriptions(), &weak).await
        })
    }

    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        Box::pin(self.core.server_count())
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
            let msg = Value::Array(vec![
                Value::Str(c.uid.clone()),
                wire::packet(&packet, true)?,
                wire::opts_full(&opts, None),
            ]);
            let channel = match opts.rooms.as_slice() {
                [room] => format!("{}{room}#", c.channel),
                _ => c.channel.clone(),
            };
            c.publish(&channel, msgpack::encode(&msg)).await?;
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
                let id = wire::uid6();
                let guard = c.requests.insert(&id, Pending::Ack(tx))?;
                let request = Obj::new()
                    .with("uid", c.uid.as_str())
                    .with("requestId", id.as_str())
                    .with("type", Value::Int(kind::BROADCAST as i64))
                    .with("packet", wire::packet(&packet, true)?)
                    .with("opts", wire::opts_full(&opts, Some(timeout)))
                    .build();
                c.publish(&c.request_channel, msgpack::encode(&request))
                    .await?;
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
        let c = &self.core;
        let mut sockets = c.local.fetch_sockets(&opts);
        Box::pin(async move {
            if opts.flags.local {
                return Ok(sockets);
            }
            let servers = c.server_count().await?;
            if servers <= 1 {
                return Ok(sockets);
            }
            let id = wire::uid6();
            let (collect, done) = Collect::<Fetched>::new(servers - 1);
            let guard = c.requests.insert(&id, Pending::Fetch(collect))?;
            let request = Obj::new()
                .with("uid", c.uid.as_str())
                .with("requestId", id.as_str())
                .with("type", Value::Int(kind::REMOTE_FETCH as i64))
                .with("opts", wire::opts_rooms(&opts))
                .build();
            c.request(request).await?;
            // The options' timeout, or the adapter's.
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
        })
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.core.local.add_sockets(&opts, &rooms);
        Box::pin(self.remote_change(kind::REMOTE_JOIN, opts, Some(rooms), false))
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.core.local.del_sockets(&opts, &rooms);
        Box::pin(self.remote_change(kind::REMOTE_LEAVE, opts, Some(rooms), false))
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.core.local.disconnect_sockets(&opts, close);
        Box::pin(self.remote_change(kind::REMOTE_DISCONNECT, opts, None, close))
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        let c = &self.core;
        let local = c.local.rooms();
        Box::pin(async move {
            let servers = c.server_count().await?;
            if servers <= 1 {
                return Ok(local);
            }
            let id = wire::uid6();
            let (collect, done) = Collect::<HashSet<Room>>::new(servers - 1);
            let guard = c.requests.insert(&id, Pending::Rooms(collect))?;
            let request = Obj::new()
                .with("uid", c.uid.as_str())
                .with("requestId", id.as_str())
                .with("type", Value::Int(kind::ALL_ROOMS as i64))
                .build();
            c.request(request).await?;
            let complete = requests::wait(done, c.timeout()).await;
            c.check_open()?;
            let Some(Pending::Rooms(collect)) = guard.take() else {
                return Err(AdapterError::Closed);
            };
            if !complete {
                return Err(AdapterError::Timeout(c.timeout()));
            }
            let mut all: HashSet<Room> = local.into_iter().collect();
            all.extend(collect.acc);
            Ok(all.into_iter().collect())
        })
    }

    fn server_side_emit(
        &self,
        event: String,
        args: Payload,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let c = &self.core;
        Box::pin(async move {
            let request = Obj::new()
                .with("uid", c.uid.as_str())
                .with("type", Value::Int(kind::SERVER_SIDE_EMIT as i64))
                .with("data", wire::event_array(&event, &args)?)
                .build();
            c.request(request).await
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
            let data = wire::event_array(&event, &args)?;
            let expected = c.server_count().await?.saturating_sub(1);
            if expected == 0 {
                return Ok(ServerAcks::new(Vec::new(), 0));
            }
            let id = wire::uid6();
            let (collect, done) = Collect::<Vec<Payload>>::new(expected);
            let guard = c.requests.insert(&id, Pending::Emit(collect))?;
            let request = Obj::new()
                .with("uid", c.uid.as_str())
                .with("requestId", id.as_str())
                .with("type", Value::Int(kind::SERVER_SIDE_EMIT as i64))
                .with("data", data)
                .build();
            c.request(request).await?;
            requests::wait(done, timeout).await;
            c.check_open()?;
            match guard.take() {
                Some(Pending::Emit(collect)) => Ok(ServerAcks::new(collect.acc, expected)),
                _ => Err(AdapterError::Closed),
            }
        })
    }
}

impl ClassicAdapter {
    /// Publishes `socketsJoin`/`socketsLeave`/`disconnectSockets` after the local part.
    async fn remote_change(
        &self,
        kind: u64,
        opts: BroadcastOptions,
        rooms: Option<Vec<Room>>,
        close: bool,
    ) -> Result<(), AdapterError> {
        if opts.flags.local {
            return Ok(());
        }
        let c = &self.core;
        let mut request = Obj::new()
            .with("uid", c.uid.as_str())
            .with("type", Value::Int(kind as i64))
            .with("opts", wire::opts_rooms(&opts));
        request = match rooms {
            Some(rooms) => request.with("rooms", wire::room_list(&rooms)),
            None => request.with("close", close),
        };
        c.request(request.build()).await
    }
}
