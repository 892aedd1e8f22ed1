//! The adapter of a single process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::recovery::SessionStore;
use super::{
    AckStream, Adapter, BoxFuture, BroadcastOptions, BroadcastPacket, LocalHandle, RestoredSession,
    ServerAcks, Session, SocketInfo,
};
use crate::errors::AdapterError;
use crate::payload::Payload;
use crate::room::Room;
use crate::Sid;

/// The adapter of a server that runs alone: every operation is this server's alone, done
/// through its [`LocalHandle`]. The default of `SocketIoBuilder`.
///
/// A cluster adapter can hold one to do the local part of each operation.
///
/// When the handle's server has connection state recovery on
/// ([`LocalHandle::recovery`]), it is also Node's `SessionAwareAdapter`: it gives every
/// broadcast that is not volatile an offset and keeps it, and keeps the sessions of sockets
/// whose connection dropped, in memory, within the bounds of the
/// [`ConnectionStateRecovery`](super::ConnectionStateRecovery) (per namespace). Broadcasts of
/// the namespace are then delivered one at a time (under [`LocalHandle::delivery_lock`]), so
/// that each client gets them in the order they are kept. Without recovery it keeps nothing
/// and broadcasts cost nothing more.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use sockeye_core::adapter::{Adapter, LocalAdapter, LocalHandle};
/// let factory = |local: LocalHandle| -> Arc<dyn Adapter> { Arc::new(LocalAdapter::new(local)) };
/// # let _ = factory;
/// ```
#[derive(Clone)]
pub struct LocalAdapter {
    local: LocalHandle,
    /// The sessions and packets kept, when recovery is on.
    sessions: Option<Arc<SessionStore>>,
}

impl std::fmt::Debug for LocalAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAdapter")
            .field("local", &self.local)
            .field("recovery", &self.sessions.is_some())
            .finish()
    }
}

impl LocalAdapter {
    /// The adapter of the namespace `local` stands for (keeping sessions when `local`'s
    /// server has connection state recovery on).
    pub fn new(local: LocalHandle) -> LocalAdapter {
        let sessions = local
            .recovery()
            .map(|config| Arc::new(SessionStore::new(config.clone())));
        LocalAdapter { local, sessions }
    }

    /// The namespace's local side.
    pub fn local(&self) -> &LocalHandle {
        &self.local
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

impl Adapter for LocalAdapter {
    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<usize, AdapterError>> {
        let sent = match &self.sessions {
            // A volatile packet may be dropped anyway: Node neither numbers nor keeps it.
            // (A broadcast with ack never comes here: its ack could not be answered after a
            // reconnection.)
            Some(store) if !opts.flags.volatile => {
                let _order = self.local.delivery_lock();
                let (id, offset) = store.next_offset();
                let packet = packet.with_offset(offset);
                let sent = self.local.broadcast(&packet, &opts);
                store.keep(id, packet, opts, Instant::now());
                sent
            }
            _ => self.local.broadcast(&packet, &opts),
        };
        ready(Ok(sent))
    }

    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<AckStream, AdapterError>> {
        ready(Ok(self.local.broadcast_with_ack(&packet, &opts, timeout)))
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>> {
        ready(Ok(self.local.fetch_sockets(&opts)))
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.local.add_sockets(&opts, &rooms);
        ready(Ok(()))
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.local.del_sockets(&opts, &rooms);
        ready(Ok(()))
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.local.disconnect_sockets(&opts, close);
        ready(Ok(()))
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        ready(Ok(self.local.rooms()))
    }

    fn server_side_emit(
        &self,
        _event: String,
        _args: Payload,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        // There is no other server.
        ready(Ok(()))
    }

    fn server_side_emit_with_ack(
        &self,
        _event: String,
        _args: Payload,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<ServerAcks, AdapterError>> {
        ready(Ok(ServerAcks::default()))
    }

    fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
        if let Some(store) = &self.sessions {
            store.persist(session, Instant::now());
        }
        ready(Ok(()))
    }

    fn restore_session(
        &self,
        pid: Sid,
        offset: String,
    ) -> BoxFuture<'_, Result<Option<RestoredSession>, AdapterError>> {
        // Done now, not when polled: the future is ready at once, as the namespace's
        // in-order restore needs (see `Adapter::restore_session`).
        let restored = self
            .sessions
            .as_ref()
            .and_then(|store| store.restore(pid, &offset, Instant::now()));
        ready(Ok(restored))
    }
}
