//! Namespaces.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use sockeye_core::adapter::{
    AckStream, Adapter, BroadcastFlags, BroadcastOptions, BroadcastPacket, ConnectionStateRecovery,
    DeliveryGuard, LocalHandle, LocalNamespace, RestoredSession, ServerAck, SocketInfo,
};
use sockeye_core::parser::Parser;
use sockeye_core::{AdapterError, Payload, Room, Sid};

use crate::ack::LocalAcks;
use crate::client::Conn;
use crate::errors::{EmitError, ServerAckError};
use crate::handler::{
    box_middleware, BoxedConnectHandler, BoxedMiddleware, ConnectParts, Middleware,
};
use crate::io::IoInner;
use crate::operators::BroadcastOperator;
use crate::rooms::{RoomIndex, Selection};
use crate::server_event::{ServerEvent, ServerHandlers};
use crate::socket::{Prepared, Socket, SocketRef};

/// The sockets connected to a namespace, and the list of them all while it holds.
#[derive(Default)]
struct Members {
    map: HashMap<Sid, SocketRef>,
    all: Option<Arc<[SocketRef]>>,
}

impl Members {
    fn insert(&mut self, socket: SocketRef) {
        self.map.insert(socket.id(), socket);
        self.all = None;
    }

    fn remove(&mut self, sid: Sid) {
        if self.map.remove(&sid).is_some() {
            self.all = None;
        }
    }
}

impl std::ops::Deref for Members {
    type Target = HashMap<Sid, SocketRef>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

/// A namespace: its sockets and rooms on this server, its adapter (the way to every server),
/// its connect handler, middlewares and server-side event handlers.
///
/// # Examples
/// ```
/// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
/// let ns = socket.ns();
/// println!("{}: {} sockets here", ns.name(), ns.socket_count());
/// ns.operator().emit("count", &ns.socket_count()).await?;
/// # Ok(()) }
/// ```
pub struct Namespace {
    name: String,
    io: Arc<IoInner>,
    sockets: RwLock<Members>,
    rooms: RoomIndex,
    pending: Mutex<HashSet<Sid>>,
    adapter: Arc<dyn Adapter>,
    /// This side as the adapter sees it (its delivery lock orders session restores).
    local: LocalHandle,
    /// The server's connection state recovery, when on.
    recovery: Option<ConnectionStateRecovery>,
    /// The outcome of the adapter's `init`, once it finished.
    ready: tokio::sync::OnceCell<Result<(), AdapterError>>,
    /// The connect handler (replaced when the namespace is declared again).
    handler: RwLock<BoxedConnectHandler>,
    middlewares: Arc<RwLock<Vec<BoxedMiddleware>>>,
    server_handlers: ServerHandlers,
    ack_ids: AtomicU64,
    dynamic: bool,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("sockets", &self.sockets.read().len())
            .field("rooms", &self.rooms.len())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub(crate) fn new(
        name: String,
        io: Arc<IoInner>,
        handler: BoxedConnectHandler,
        middlewares: Arc<RwLock<Vec<BoxedMiddleware>>>,
        server_handlers: ServerHandlers,
        dynamic: bool,
    ) -> Arc<Namespace> {
        let ns = Arc::new_cyclic(|me: &Weak<Namespace>| {
            let weak: Weak<dyn LocalNamespace> = me.clone();
            let recovery = io.config.recovery.clone();
            let mut local = LocalHandle::new(weak, &name);
            if let Some(r) = &recovery {
                local = local.with_recovery(r.clone());
            }
            let adapter = (io.adapter_factory)(local.clone());
            Namespace {
                name,
                io,
                sockets: RwLock::new(Members::default()),
                rooms: RoomIndex::default(),
                pending: Mutex::new(HashSet::new()),
                adapter,
                local,
                recovery,
                ready: tokio::sync::OnceCell::new(),
                handler: RwLock::new(handler),
                middlewares,
                server_handlers,
                ack_ids: AtomicU64::new(0),
                dynamic,
            }
        });
        // The in-process adapter is ready at once; a remote one subscribes in the background.
        let me = ns.clone();
        crate::handler::run(async move {
            let _ = me.ready().await;
        });
        ns
    }

    /// The namespace's name, e.g. `/` or `/admin`.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// let ns = socket.ns();
    /// assert!(ns.name().starts_with('/'));
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The adapter.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::AdapterError> {
    /// let servers = socket.ns().adapter().server_count().await?;
    /// # Ok(()) }
    /// ```
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }

    /// Waits until the adapter has started (subscribed to the other servers, for a cluster
    /// adapter); its outcome.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::AdapterError> {
    /// socket.ns().ready().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The adapter's, when it could not start.
    pub async fn ready(&self) -> Result<(), AdapterError> {
        self.ready.get_or_init(|| self.adapter.init()).await.clone()
    }

    /// Stops the adapter.
    pub(crate) async fn close_adapter(&self) {
        if let Err(e) = self.adapter.close().await {
            crate::metrics::add(&crate::metrics::ADAPTER_ERRORS, 1);
            tracing::warn!(ns = %self.name, "closing the adapter: {e}");
        }
    }

    pub(crate) fn io_inner(&self) -> &Arc<IoInner> {
        &self.io
    }

    /// Whether a dynamic namespace made this one for a client.
    #[cfg(feature = "metrics")]
    pub(crate) fn is_dynamic(&self) -> bool {
        self.dynamic
    }

    /// How many sockets are connected here.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// let ns = socket.ns();
    /// println!("{} here", ns.socket_count());
    /// # }
    /// ```
    pub fn socket_count(&self) -> usize {
        self.sockets.read().len()
    }

    /// A connected socket by id.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// let ns = socket.ns();
    /// assert!(ns.get_socket(socket.id()).is_some());
    /// # }
    /// ```
    pub fn get_socket(&self, sid: Sid) -> Option<SocketRef> {
        self.sockets.read().get(&sid).cloned()
    }

    /// The connected sockets with these ids.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// let ns = socket.ns();
    /// let found = ns.get_sockets(&[socket.id()]);
    /// # }
    /// ```
    pub fn get_sockets(&self, sids: &[Sid]) -> Vec<SocketRef> {
        let map = self.sockets.read();
        sids.iter().filter_map(|s| map.get(s).cloned()).collect()
    }

    /// Every connected socket, shared: the list is made once after each change of the
    /// namespace's members, so a broadcast to all does not collect (and count references to)
    /// every socket each time.
    pub(crate) fn all_sockets(&self) -> Arc<[SocketRef]> {
        if let Some(all) = &self.sockets.read().all {
            return all.clone();
        }
        let mut members = self.sockets.write();
        let members = &mut *members;
        members
            .all
            .get_or_insert_with(|| members.map.values().cloned().collect())
            .clone()
    }

    /// The connected sockets whose id passes `keep`.
    ///
    /// # Examples
    /// ```
    /// # fn f(socket: sockeye::SocketRef) {
    /// let ns = socket.ns();
    /// let others = ns.local_sockets(|id| *id != socket.id());
    /// # }
    /// ```
    pub fn local_sockets(&self, keep: impl Fn(&Sid) -> bool) -> Vec<SocketRef> {
        self.sockets
            .read()
            .iter()
            .filter(|(sid, _)| keep(sid))
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// The sockets of this server that `opts` selects.
    pub(crate) fn select(&self, opts: &BroadcastOptions) -> Vec<SocketRef> {
        match self.rooms.select(&self.name, opts) {
            Selection::All => self.all_sockets().to_vec(),
            Selection::Some(sids) => self.get_sockets(&sids),
            Selection::AllBut(except) => self.local_sockets(|s| !except.contains(s)),
        }
    }

    /// An operator over every socket of the namespace.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.ns().operator().except("muted").emit("news", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn operator(self: &Arc<Self>) -> BroadcastOperator {
        BroadcastOperator::new(self.clone())
    }

    pub(crate) fn rooms_index(&self) -> &RoomIndex {
        &self.rooms
    }

    /// Adds a local socket to rooms, telling the adapter of each room that gets its first
    /// member here.
    pub(crate) fn join_rooms(&self, sid: Sid, rooms: &[Room]) {
        let Some(o) = self.io.observer() else {
            return self
                .rooms
                .add_all(sid, rooms, |r| self.adapter.room_created(r));
        };
        let before = self.rooms.socket_rooms(sid);
        self.rooms
            .add_all(sid, rooms, |r| self.adapter.room_created(r));
        for (i, r) in rooms.iter().enumerate() {
            if !before.contains(r) && !rooms[..i].contains(r) {
                o.room_joined(self, r, sid);
            }
        }
    }

    /// Removes a local socket from a room, telling the adapter when it was the last member.
    pub(crate) fn leave_room(&self, sid: Sid, room: &str) {
        let Some(o) = self.io.observer() else {
            return self.rooms.del(sid, room, |r| self.adapter.room_deleted(r));
        };
        let was_in = self.rooms.socket_rooms(sid)[1..].iter().any(|r| r == room);
        self.rooms.del(sid, room, |r| self.adapter.room_deleted(r));
        if was_in {
            o.room_left(self, room, sid);
        }
    }

    /// Removes a local socket from every room, telling the adapter of each room left empty.
    pub(crate) fn leave_all_rooms(&self, sid: Sid) {
        self.rooms.del_all(sid, |r| self.adapter.room_deleted(r));
    }

    /// The server's connection state recovery, when on.
    pub(crate) fn recovery(&self) -> Option<&ConnectionStateRecovery> {
        self.recovery.as_ref()
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn is_pending(&self, sid: Sid) -> bool {
        self.pending.lock().contains(&sid)
    }

    /// Adds a connect middleware; they run in order, each may refuse the client.
    pub(crate) fn add_middleware<M: Middleware<T>, T>(&self, mw: M) {
        self.middlewares.write().push(box_middleware(mw));
    }

    pub(crate) fn server_handlers(&self) -> &ServerHandlers {
        &self.server_handlers
    }

    /// A declaration of this (static) namespace again: its new connect handler replaces the
    /// old one, its middlewares and server-side event handlers start empty; its sockets,
    /// rooms and adapter stay.
    pub(crate) fn redeclare(&self, handler: BoxedConnectHandler) {
        *self.handler.write() = handler;
        self.middlewares.write().clear();
        self.server_handlers.write().clear();
    }

    /// Sends an event to this namespace's handlers on every *other* server of the cluster
    /// (Node's `serverSideEmit`); `data` is its single argument. Without a cluster adapter
    /// there is no other server, and nothing happens.
    ///
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::EmitError> {
    /// socket.ns().server_side_emit("cache:invalidate", &"user:42").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When `data` does not serialize, or the adapter cannot reach the other servers.
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let args = Payload::from_values(vec![sockeye_core::value::to_value(data)?]);
        self.adapter
            .server_side_emit(event.to_owned(), args)
            .await?;
        Ok(())
    }

    /// [`Namespace::server_side_emit`] with the arguments of a payload.
    ///
    /// # Errors
    /// When the adapter cannot reach the other servers.
    pub async fn server_side_emit_payload(
        &self,
        event: &str,
        args: Payload,
    ) -> Result<(), EmitError> {
        self.adapter
            .server_side_emit(event.to_owned(), args)
            .await?;
        Ok(())
    }

    /// [`Namespace::server_side_emit_with_ack`] with the arguments of a payload.
    ///
    /// # Errors
    /// As [`Namespace::server_side_emit_with_ack`].
    pub async fn server_side_emit_payload_with_ack(
        &self,
        event: &str,
        args: Payload,
        timeout: Duration,
    ) -> Result<Vec<Payload>, ServerAckError> {
        self.server_side_request(event, args, timeout).await
    }

    /// [`Namespace::server_side_emit`] with the items of `args` (a tuple, array or `Vec`) as
    /// the event's arguments.
    ///
    /// # Errors
    /// As [`Namespace::server_side_emit`], or when `args` does not serialize to an array.
    pub async fn server_side_emit_args<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        let args = crate::operators::spread(args)?;
        self.adapter
            .server_side_emit(event.to_owned(), args)
            .await?;
        Ok(())
    }

    /// [`Namespace::server_side_emit`], waiting at most `timeout` for one answer from each
    /// other server.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) {
    /// use std::time::Duration;
    /// match io.server_side_emit_with_ack("uptime", &(), Duration::from_secs(2)).await {
    ///     Ok(answers) => println!("{} servers answered", answers.len()),
    ///     Err(e) => println!("{e}"),
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ServerAckError::Timeout`] (with the answers that came) when some server did not
    /// answer in time; [`ServerAckError::Emit`] when the event could not be sent.
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<Vec<Payload>, ServerAckError> {
        let value = sockeye_core::value::to_value(data).map_err(EmitError::from)?;
        self.server_side_request(event, Payload::from_values(vec![value]), timeout)
            .await
    }

    /// [`Namespace::server_side_emit_with_ack`] with the items of `args` (a tuple, array or
    /// `Vec`) as the event's arguments.
    ///
    /// # Errors
    /// As [`Namespace::server_side_emit_with_ack`], or when `args` does not serialize to an
    /// array.
    pub async fn server_side_emit_args_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> Result<Vec<Payload>, ServerAckError> {
        let args = crate::operators::spread(args)?;
        self.server_side_request(event, args, timeout).await
    }

    async fn server_side_request(
        &self,
        event: &str,
        args: Payload,
        timeout: Duration,
    ) -> Result<Vec<Payload>, ServerAckError> {
        let acks = self
            .adapter
            .server_side_emit_with_ack(event.to_owned(), args, timeout)
            .await
            .map_err(EmitError::from)?;
        if acks.is_complete() {
            Ok(acks.responses)
        } else {
            Err(ServerAckError::Timeout {
                expected: acks.expected,
                responses: acks.responses,
            })
        }
    }

    pub(crate) fn remove_socket(self: &Arc<Self>, sid: Sid) {
        self.sockets.write().remove(sid);
        self.leave_all_rooms(sid);
        // Every socket is in the room of its own id (without an entry in the index).
        self.adapter.room_deleted(sid.as_str());
        self.remove_if_unused();
    }

    /// A client asks to join: recovers its session when it asks for it, runs the
    /// middlewares, then connects the socket.
    pub(crate) fn connect(self: &Arc<Self>, conn: &Arc<Conn>, auth: Option<Payload>) {
        // A v4-protocol client (socket.io-client 2.x) never got a pid to send back.
        let claim = match &self.recovery {
            Some(_) if conn.protocol() != sockeye_engineio::ProtocolVersion::V3 => {
                recovery_claim(auth.as_ref())
            }
            _ => None,
        };
        match claim {
            Some((pid, offset)) => self.connect_recovering(conn, auth, pid, offset),
            None => self.connect_with(conn, auth, None, None),
        }
    }

    /// Asks the adapter for the session `pid` and what its client missed after `offset`.
    fn connect_recovering(
        self: &Arc<Self>,
        conn: &Arc<Conn>,
        auth: Option<Payload>,
        pid: Sid,
        offset: String,
    ) {
        // Held until the restored socket is live, so that no kept broadcast falls between its
        // missed packets and its live ones (see `Adapter::restore_session`).
        let order = self.local.delivery_lock();
        let adapter = self.adapter.clone();
        let mut restore = Box::pin(async move { adapter.restore_session(pid, offset).await });
        if let Poll::Ready(found) = restore
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            let restored = self.check_restored(found);
            return self.connect_with(conn, auth, restored, Some(order));
        }
        drop(order);
        // The adapter has to ask elsewhere: the client waits, counted as joining, and
        // broadcasts made meanwhile may reach it only as missed packets or not at all (as
        // with Node's cluster adapters).
        let closed = conn.data().add_pending(&self.name);
        self.pending.lock().insert(pid);
        let (ns, conn) = (self.clone(), conn.clone());
        crate::handler::run(async move {
            let found = tokio::select! {
                found = restore => Some(found),
                _ = closed => None,
            };
            ns.pending.lock().remove(&pid);
            conn.data().remove_pending(&ns.name);
            match found {
                Some(found) => {
                    let restored = ns.check_restored(found);
                    ns.connect_with(&conn, auth, restored, None);
                }
                None => ns.remove_if_unused(),
            }
        });
    }

    /// The restored session, unless the adapter failed or its socket id is in use here.
    fn check_restored(
        &self,
        found: Result<Option<RestoredSession>, AdapterError>,
    ) -> Option<RestoredSession> {
        match found {
            Ok(Some(r)) => {
                let sid = r.session.sid;
                // Its socket is here already (recovered before, and its client came back
                // again before this server saw the connection drop) or is being connected:
                // Node would make a second socket with the same id; this client gets a new
                // session instead.
                let in_use = self.get_socket(sid).is_some() || self.is_pending(sid);
                (!in_use).then_some(r)
            }
            Ok(None) => None,
            Err(e) => {
                crate::metrics::add(&crate::metrics::ADAPTER_ERRORS, 1);
                tracing::warn!(ns = %self.name, "restoring a session: {e}");
                None
            }
        }
    }

    /// Makes the socket (restored, or new), runs the middlewares (unless they are skipped for
    /// a restored one), then connects it.
    fn connect_with(
        self: &Arc<Self>,
        conn: &Arc<Conn>,
        auth: Option<Payload>,
        restored: Option<RestoredSession>,
        order: Option<DeliveryGuard<'_>>,
    ) {
        let session = restored.as_ref().map(|r| &r.session);
        let socket = Arc::new(Socket::new(
            self.clone(),
            conn.clone(),
            auth.as_ref(),
            session,
        ));
        let mut skip_middlewares = false;
        if let Some(RestoredSession {
            session, missed, ..
        }) = restored
        {
            let sid = socket.id();
            let own = sid.to_string();
            let rooms: Vec<Room> = session.rooms.into_iter().filter(|r| *r != *own).collect();
            self.join_rooms(sid, &rooms);
            // Before the CONNECT acknowledgement, as Node sends them: the client hands them to
            // its listeners just before its `connect` event.
            let parser = &*self.io.config.parser;
            for p in &missed {
                match p.encoded(parser) {
                    Ok(e) => socket.send_unconnected(&e),
                    Err(e) => tracing::debug!(ns = %self.name, "a missed packet: {e}"),
                }
            }
            skip_middlewares = self.recovery.as_ref().is_some_and(|r| r.skip_middlewares);
        }
        let parts = ConnectParts { auth };
        let middlewares = if skip_middlewares {
            Vec::new()
        } else {
            self.middlewares.read().clone()
        };
        if middlewares.is_empty() {
            self.finish_connect(socket, parts, order);
            return;
        }
        drop(order);
        let sid = socket.id();
        self.pending.lock().insert(sid);
        let closed = conn.data().add_pending(&self.name);
        if conn.is_closed() {
            // Closed meanwhile: its pending list may already have been cleared.
            conn.data().remove_pending(&self.name);
        }
        let ns = self.clone();
        let conn = conn.clone();
        let fut = async move {
            let chain = async {
                for mw in middlewares {
                    mw(socket.clone(), parts.clone()).await?;
                }
                Ok::<(), crate::extract::Refusal>(())
            };
            // A middleware that never finishes is dropped when the connection closes.
            let outcome = tokio::select! {
                done = chain => Some(done),
                _ = closed => None,
            };
            ns.pending.lock().remove(&sid);
            conn.data().remove_pending(&ns.name);
            match outcome {
                Some(Ok(())) => return ns.finish_connect(socket, parts, None),
                Some(Err(refusal)) => {
                    crate::metrics::connect_refused(crate::metrics::ConnectRefusal::Middleware);
                    ns.leave_all_rooms(sid);
                    crate::client::send_connect_error(
                        &ns.io,
                        &conn,
                        &ns.name,
                        &refusal.message,
                        refusal.data.as_ref(),
                    );
                }
                None => ns.leave_all_rooms(sid),
            }
            drop(socket);
            ns.remove_if_unused();
        };
        crate::handler::run(fut);
    }

    /// A dynamic namespace with no socket, connected or joining, goes away: at once, or with
    /// connection state recovery on, once the sessions its adapter keeps have expired (if it
    /// is still unused then), so that a client whose connection dropped can come back to it.
    fn remove_if_unused(self: &Arc<Self>) {
        if !(self.dynamic && self.is_unused()) {
            return;
        }
        let Some(recovery) = &self.recovery else {
            return self.io.remove_child_ns(&self.name);
        };
        let ns = Arc::downgrade(self);
        let window = recovery.max_disconnection_duration;
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            if let Some(ns) = ns.upgrade().filter(|ns| ns.is_unused()) {
                ns.io.remove_child_ns(&ns.name);
            }
        });
    }

    fn is_unused(&self) -> bool {
        self.sockets.read().is_empty() && self.pending.lock().is_empty()
    }

    /// Makes the socket live (`order`, when held, is released once it is, before the connect
    /// handler runs), sends the CONNECT acknowledgement and runs the connect handler.
    fn finish_connect(
        self: &Arc<Self>,
        socket: SocketRef,
        parts: ConnectParts,
        order: Option<DeliveryGuard<'_>>,
    ) {
        let conn = socket.conn.clone();
        if conn.is_closed() {
            self.leave_all_rooms(socket.id());
            return;
        }
        socket.set_connected();
        self.adapter.room_created(socket.id().as_str());
        self.sockets.write().insert(socket.clone());
        conn.data().add_socket(socket.clone());
        match conn.protocol() {
            sockeye_engineio::ProtocolVersion::V3 => {
                let _ = conn.send_text(sockeye_core::parser::json::encode_connect_v4(&self.name));
            }
            _ => {
                let sid = socket.id();
                let packet = sockeye_core::parser::Packet::Connect {
                    ns: &self.name,
                    sid: sid.as_str(),
                    pid: socket.pid().map(|p| p.as_str()),
                };
                crate::client::send_packet(&self.io, &conn, packet);
            }
        }
        drop(order);
        if let Some(o) = self.io.observer() {
            o.socket_connected(&socket);
        }
        let handler = self.handler.read().clone();
        let _span = socket.span().entered();
        tracing::info!("socket connected");
        handler(socket, parts);
    }
}

/// The `{pid, offset}` a reconnecting client puts in its auth payload (both strings, as Node
/// requires; a client that never got an offset sends none and gets a new session).
fn recovery_claim(auth: Option<&Payload>) -> Option<(Sid, String)> {
    #[derive(serde::Deserialize)]
    struct Claim {
        pid: Option<String>,
        offset: Option<String>,
    }
    let claim: Claim = auth?.arg(0).ok()?;
    let pid = claim.pid?.parse().ok()?;
    Some((pid, claim.offset?))
}

/// Sends a broadcast's packet to each of `sockets`; returns how many were sent it.
fn send_each(
    parser: &dyn Parser,
    sockets: &[SocketRef],
    packet: &BroadcastPacket,
    flags: &BroadcastFlags,
) -> usize {
    let encoded = match packet.encoded(parser) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(ns = %packet.ns(), "a broadcast that does not encode: {e}");
            return 0;
        }
    };
    // Prepared once for all: a compressed form, when the transports make one, is made once.
    let prepared = Prepared::new(&encoded, flags.compress);
    let volatile = flags.volatile;
    let mut sent = 0;
    for (i, s) in sockets.iter().enumerate() {
        // With many sockets each one's lines are cold: start loading the Socket.IO socket
        // twice as far ahead as the session it points to, so that those loads overlap
        // instead of following one another.
        if let Some(ahead) = sockets.get(i + 2 * PREFETCH_AHEAD) {
            sockeye_engineio::prefetch(Arc::as_ptr(ahead));
        }
        if let Some(ahead) = sockets.get(i + PREFETCH_AHEAD) {
            ahead.conn.prefetch();
        }
        s.notify_broadcast(packet);
        if volatile && s.conn.queued_bytes() > 0 {
            crate::metrics::VOLATILE_DROPS.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if s.send_prepared(&prepared).is_ok() {
            sent += 1;
        }
    }
    sent
}

/// How many sockets ahead of the one it sends to a broadcast starts loading a session.
const PREFETCH_AHEAD: usize = 4;

impl LocalNamespace for Namespace {
    fn name(&self) -> &str {
        &self.name
    }

    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) -> usize {
        let flags = &opts.flags;
        let parser = &*self.io.config.parser;
        let sent = match self.rooms.select(&self.name, opts) {
            Selection::All => send_each(parser, &self.all_sockets(), packet, flags),
            Selection::Some(sids) => send_each(parser, &self.get_sockets(&sids), packet, flags),
            Selection::AllBut(except) => send_each(
                parser,
                &self.local_sockets(|s| !except.contains(s)),
                packet,
                flags,
            ),
        };
        if let Some(o) = self.io.observer() {
            // Cached by the sends above: not encoded again.
            if let Ok(encoded) = packet.encoded(parser) {
                let (packets, bytes) = crate::observe::size(&encoded);
                o.packets_out(packets * sent, bytes * sent);
            }
        }
        crate::metrics::add(&crate::metrics::BROADCASTS, 1);
        crate::metrics::add(&crate::metrics::DELIVERIES, sent as u64);
        sent
    }

    fn broadcast_with_ack(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> AckStream {
        let id = self.next_ack_id();
        let sockets = self.select(opts);
        for s in &sockets {
            s.notify_broadcast(packet);
        }
        let encoded = packet.encoded_with_id(&*self.io.config.parser, id);
        let prepared = match &encoded {
            Ok(encoded) => Some(Prepared::new(encoded, opts.flags.compress)),
            Err(e) => {
                tracing::warn!(ns = %packet.ns(), "a broadcast that does not encode: {e}");
                None
            }
        };
        crate::metrics::add(&crate::metrics::BROADCASTS, 1);
        Box::pin(LocalAcks::send(sockets, prepared.as_ref(), id, timeout))
    }

    fn fetch_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.select(opts).iter().map(|s| s.info()).collect()
    }

    fn socket_ids(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        match self.rooms.select(&self.name, opts) {
            Selection::Some(sids) => {
                let map = self.sockets.read();
                sids.into_iter().filter(|s| map.contains_key(s)).collect()
            }
            Selection::All => self.sockets.read().keys().copied().collect(),
            Selection::AllBut(except) => self
                .sockets
                .read()
                .keys()
                .filter(|s| !except.contains(s))
                .copied()
                .collect(),
        }
    }

    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for s in self.select(opts) {
            self.join_rooms(s.id(), rooms);
        }
    }

    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for s in self.select(opts) {
            for r in rooms {
                self.leave_room(s.id(), r);
            }
        }
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        for s in self.select(opts) {
            if close {
                s.disconnect_connection();
            } else {
                s.disconnect();
            }
        }
    }

    fn rooms(&self) -> Vec<Room> {
        self.rooms.rooms()
    }

    fn server_side_emit(&self, event: &str, args: Payload, ack: Option<ServerAck>) {
        let handler = self.server_handlers.read().get(event).cloned();
        match handler {
            Some(h) => {
                let event = ServerEvent::new(event.to_owned(), args, ack);
                crate::handler::run_sync(|| h(event));
            }
            None => tracing::debug!(ns = %self.name, event, "no handler for a server-side event"),
        }
    }
}
