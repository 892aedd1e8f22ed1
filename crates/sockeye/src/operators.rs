//! Broadcast operators: choose sockets by room, then emit, fetch, join, leave or disconnect,
//! on every server of the adapter.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sockeye_core::adapter::{
    AckEvent, AckFailure, AckReply, AckStream, BroadcastOptions, BroadcastPacket, HandshakeInfo,
    SocketInfo,
};
use sockeye_core::value::{self, Value};
use sockeye_core::{IntoRooms, Payload, Room, Sid};

use crate::errors::EmitError;
use crate::ns::Namespace;
use crate::socket::SocketRef;

/// A selection of sockets in a namespace, on every server of its adapter: by rooms, minus
/// other rooms, with flags.
///
/// Made by [`crate::SocketIo::to`], [`crate::Socket::broadcast`] and friends. Every action
/// goes through the namespace's adapter, so with a cluster adapter it reaches the sockets of
/// every server (unless [`BroadcastOperator::local`]).
///
/// # Examples
/// ```
/// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
/// io.to("ACME").except("muted").emit("price", &12.5).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "an operator does nothing until an action such as `emit` is called"]
pub struct BroadcastOperator {
    ns: Arc<Namespace>,
    opts: BroadcastOptions,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<Namespace>) -> BroadcastOperator {
        BroadcastOperator {
            ns,
            opts: BroadcastOptions::default(),
        }
    }

    /// Leaves out one socket (a broadcast from it): its own room is an exception, which is
    /// also how other servers learn of it.
    pub(crate) fn except_socket(mut self, sid: Sid) -> BroadcastOperator {
        self.opts.except.push(Room::Owned(sid.to_string()));
        self
    }

    /// Adds rooms to send to.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("a").to(["b", "c"]).emit("news", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn to(mut self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.opts.rooms.extend(rooms.into_rooms());
        self
    }

    /// Same as [`BroadcastOperator::to`].
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.within("a").within("b").emit("news", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn within(self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Leaves out the sockets in these rooms.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("lobby").except("muted").emit("news", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn except(mut self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.opts.except.extend(rooms.into_rooms());
        self
    }

    /// Only this server's sockets, even with a cluster adapter.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("lobby").local().emit("news", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn local(mut self) -> BroadcastOperator {
        self.opts.flags.local = true;
        self
    }

    /// The packet may be dropped for a client that has not read what it was sent before
    /// (counted in [`crate::metrics::volatile_drops`]): anything still queued for that client
    /// makes this packet go. Send one volatile stream per client at a time, or several
    /// volatile emits in the same instant will drop all but the first for each client.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("ACME").volatile().emit("price", &12.5).await?;
    /// # Ok(()) }
    /// ```
    pub fn volatile(mut self) -> BroadcastOperator {
        self.opts.flags.volatile = true;
        self
    }

    /// How long to wait for answers: the acks of [`BroadcastOperator::emit_with_ack`]
    /// (default: the builder's `ack_timeout`), and other servers' answers to
    /// [`BroadcastOperator::fetch_sockets`] (default: the adapter's request timeout).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// use std::time::Duration;
    /// let answers = io.to("voters").timeout(Duration::from_secs(5)).emit_with_ack("vote", &()).await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> BroadcastOperator {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// Node's `compress` flag (true when not called): with `false` the packet is never
    /// compressed, neither by WebSocket `permessage-deflate` nor in a polling response (see
    /// [`crate::Socket::compress`]). It crosses a cluster with the broadcast, as in Node.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// let frame = bytes::Bytes::from(vec![0u8; 64 * 1024]); // an already compressed video frame
    /// io.to("viewers").compress(false).emit("frame", &frame).await?;
    /// # Ok(()) }
    /// ```
    pub fn compress(mut self, compress: bool) -> BroadcastOperator {
        self.opts.flags.compress = compress;
        self
    }

    /// The selection.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// let op = io.to("a").except("b");
    /// assert_eq!(op.options().rooms.len(), 1);
    /// # }
    /// ```
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    /// The namespace.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// assert_eq!(io.to("a").ns().name(), "/");
    /// # }
    /// ```
    pub fn ns(&self) -> &Arc<Namespace> {
        &self.ns
    }

    async fn send(&self, event: &str, args: Payload) -> Result<(), EmitError> {
        self.send_counted(event, args).await.map(|_| ())
    }

    /// Broadcasts; answers how many of this server's clients it was queued for.
    pub(crate) async fn send_counted(
        &self,
        event: &str,
        args: Payload,
    ) -> Result<usize, EmitError> {
        let packet = BroadcastPacket::new(self.ns.name(), event, args);
        Ok(self
            .ns
            .adapter()
            .broadcast(packet, self.opts.clone())
            .await?)
    }

    /// Emits an event with `data` as its single argument to every selected socket. The packet
    /// is encoded once for this server's sockets and shared by them, and crosses to other
    /// servers once.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("ACME").emit("price", &serde_json::json!({"price": 12.5})).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When `data` does not serialize, or the adapter cannot reach the other servers (this
    /// server's sockets were sent it).
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
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("ACME").emit_args("price", &("ACME", 12.5)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit`], or when `args` does not serialize to an array.
    pub async fn emit_args<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.send(event, spread(args)?).await
    }

    /// Emits an event with the arguments and attachments of a received payload.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo, p: sockeye::Payload) -> Result<(), sockeye::EmitError> {
    /// io.to("lobby").emit_payload("relay", &p).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.send(event, payload.clone()).await
    }

    /// Emits an event to every selected socket and collects each one's ack, waiting at most
    /// the timeout (the builder's `ack_timeout` by default) for all of them. Sockets of other
    /// servers answer anonymously (their [`AckReply::socket`] is `None`), as in Node's
    /// cluster protocol.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// use std::time::Duration;
    /// let answers = io.timeout(Duration::from_secs(2)).emit_with_ack("poll", &"ready?").await?;
    /// for a in answers {
    ///     println!("{:?}: {:?}", a.socket, a.result);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When `data` does not serialize, or the adapter cannot reach the other servers.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<AckReply>, EmitError> {
        let mut stream = self.emit_with_ack_stream(event, data).await?;
        let mut out = Vec::new();
        while let Some(ev) = stream.next().await {
            if let AckEvent::Reply(r) = ev {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// [`BroadcastOperator::emit_with_ack`] with the arguments (and attachments) of a
    /// payload.
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: &Payload,
    ) -> Result<Vec<AckReply>, EmitError> {
        let mut stream = self.ack_stream(event, payload.clone()).await?;
        let mut out = Vec::new();
        while let Some(ev) = stream.next().await {
            if let AckEvent::Reply(r) = ev {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// [`BroadcastOperator::emit_with_ack`], as a stream: how many answers to expect (one
    /// [`AckEvent::Expected`] per server), then each answer as it comes; it ends once all
    /// came, or at the timeout (after a timeout failure for each answer still expected).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// use futures_util::StreamExt;
    /// use sockeye::adapter::AckEvent;
    /// let mut acks = io.emit_with_ack_stream("poll", &"ready?").await?;
    /// while let Some(ev) = acks.next().await {
    ///     if let AckEvent::Reply(r) = ev {
    ///         println!("{:?}", r.result);
    ///     }
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
        let args = Payload::from_values(vec![value::to_value(data)?]);
        self.ack_stream(event, args).await
    }

    async fn ack_stream(&self, event: &str, args: Payload) -> Result<AckStream, EmitError> {
        let timeout = self
            .opts
            .flags
            .timeout
            .unwrap_or(self.ns.io_inner().config.ack_timeout);
        let packet = BroadcastPacket::new(self.ns.name(), event, args);
        Ok(self
            .ns
            .adapter()
            .broadcast_with_ack(packet, self.opts.clone(), timeout)
            .await?)
    }

    /// The selected sockets of this server.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// for s in io.to("lobby").sockets() {
    ///     s.leave("lobby");
    /// }
    /// # }
    /// ```
    pub fn sockets(&self) -> Vec<SocketRef> {
        self.ns.select(&self.opts)
    }

    /// The selected sockets of every server (Node's `fetchSockets`): each one's id,
    /// handshake, rooms and data, and a handle to emit to it, make it join or leave rooms, or
    /// disconnect it, wherever it is.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.to("ACME").fetch_sockets().await? {
    ///     println!("{} from {}", s.id(), s.handshake().address);
    ///     s.emit("hello", &"from the server").await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, EmitError> {
        let infos = self.ns.adapter().fetch_sockets(self.opts.clone()).await?;
        Ok(infos
            .into_iter()
            .map(|info| RemoteSocket {
                info,
                ns: self.ns.clone(),
            })
            .collect())
    }

    /// The ids of the selected sockets, on every server.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// let ids = io.to("lobby").fetch_ids().await?;
    /// println!("{} in the lobby", ids.len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn fetch_ids(&self) -> Result<Vec<Sid>, EmitError> {
        let infos = self.ns.adapter().fetch_sockets(self.opts.clone()).await?;
        Ok(infos.into_iter().map(|s| s.id).collect())
    }

    /// Makes the selected sockets, on every server, join `rooms` (Node's `socketsJoin`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("lobby").sockets_join("game-1").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers (this server's sockets joined).
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        let rooms: Vec<Room> = rooms.into_rooms().into_vec();
        Ok(self
            .ns
            .adapter()
            .add_sockets(self.opts.clone(), rooms)
            .await?)
    }

    /// Makes the selected sockets, on every server, leave `rooms` (Node's `socketsLeave`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("game-1").sockets_leave("game-1").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers (this server's sockets left).
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        let rooms: Vec<Room> = rooms.into_rooms().into_vec();
        Ok(self
            .ns
            .adapter()
            .del_sockets(self.opts.clone(), rooms)
            .await?)
    }

    /// Disconnects the selected sockets, on every server (Node's `disconnectSockets`); with
    /// `close`, their whole connections are closed (every namespace of each client).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// io.to("banned").disconnect_sockets(true).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers (this server's sockets were
    /// disconnected).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitError> {
        Ok(self
            .ns
            .adapter()
            .disconnect_sockets(self.opts.clone(), close)
            .await?)
    }
}

/// `args` (serializing to an array) as the arguments of an event.
pub(crate) fn spread<T: Serialize + ?Sized>(args: &T) -> Result<Payload, EmitError> {
    match value::to_value(args)? {
        Value::Array(items) => Ok(Payload::from_values(items)),
        _ => Err(EmitError::Serialize(serde::ser::Error::custom(
            "the arguments must serialize to an array",
        ))),
    }
}

/// A socket found by [`BroadcastOperator::fetch_sockets`], on this server or another (Node's
/// `RemoteSocket`): what it was when fetched, and actions that reach it wherever it is.
///
/// # Examples
/// ```
/// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
/// for s in io.fetch_sockets().await? {
///     if s.data::<serde_json::Value>().ok().and_then(|d| d["banned"].as_bool()) == Some(true) {
///         s.disconnect(true).await?;
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    info: SocketInfo,
    ns: Arc<Namespace>,
}

impl RemoteSocket {
    /// The socket's id.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     println!("{}", s.id());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> Sid {
        self.info.id
    }

    /// What its client's handshake carried.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     println!("{} from {}", s.id(), s.handshake().address);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn handshake(&self) -> &HandshakeInfo {
        &self.info.handshake
    }

    /// What was fetched of it.
    pub fn info(&self) -> &SocketInfo {
        &self.info
    }

    /// Its rooms when fetched (its own id among them).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     println!("{}: {:?}", s.id(), s.rooms());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn rooms(&self) -> &[Room] {
        &self.info.rooms
    }

    /// The application's data on it when fetched (see [`crate::Socket::set_data`]), as a `T`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     let user: serde_json::Value = s.data().unwrap_or_default();
    ///     println!("{user}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the data does not deserialize as a `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        value::from_value(self.info.data.clone())
    }

    /// The application's data on it when fetched, as it is.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     println!("{:?}", s.data_value());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn data_value(&self) -> &Value {
        &self.info.data
    }

    /// Whether it is connected to this server (it was when fetched).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// let here = io.fetch_sockets().await?.iter().filter(|s| s.is_local()).count();
    /// # Ok(()) }
    /// ```
    pub fn is_local(&self) -> bool {
        self.local_socket().is_some()
    }

    /// The socket itself, when it is connected to this server.
    pub(crate) fn local_socket(&self) -> Option<SocketRef> {
        self.ns.get_socket(self.info.id)
    }

    fn operator(&self) -> BroadcastOperator {
        self.ns.operator().to(self.info.id)
    }

    /// Emits an event to it.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     s.emit("hello", &"from the server").await?;
    /// }
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
        self.operator().emit(event, data).await
    }

    /// Emits an event with the arguments (and attachments) of a payload to it.
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit_payload`].
    pub async fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.operator().emit_payload(event, payload).await
    }

    /// Emits an event to it and waits at most `timeout` for its ack (Node's
    /// `remoteSocket.timeout(ms).emitWithAck`).
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit`]; the ack's own failure (no answer in time, the socket
    /// gone) is the inner `Err`.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<Result<Payload, AckFailure>, EmitError> {
        let args = Payload::from_values(vec![value::to_value(data)?]);
        self.emit_payload_with_ack(event, &args, timeout).await
    }

    /// [`RemoteSocket::emit_with_ack`] with the arguments (and attachments) of a payload.
    ///
    /// # Errors
    /// As [`RemoteSocket::emit_with_ack`].
    pub async fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> Result<Result<Payload, AckFailure>, EmitError> {
        let replies = self
            .operator()
            .timeout(timeout)
            .emit_payload_with_ack(event, payload)
            .await?;
        Ok(replies
            .into_iter()
            .next()
            .map_or(Err(AckFailure::Disconnected), |r| r.result))
    }

    /// Makes it join `rooms`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     s.join("everyone").await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`BroadcastOperator::sockets_join`].
    pub async fn join(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.operator().sockets_join(rooms).await
    }

    /// Makes it leave `rooms`.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     s.leave("lobby").await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`BroadcastOperator::sockets_leave`].
    pub async fn leave(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.operator().sockets_leave(rooms).await
    }

    /// Disconnects it (and closes its whole connection when `close`).
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
    /// for s in io.fetch_sockets().await? {
    ///     s.disconnect(false).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`BroadcastOperator::disconnect_sockets`].
    pub async fn disconnect(&self, close: bool) -> Result<(), EmitError> {
        self.operator().disconnect_sockets(close).await
    }
}
