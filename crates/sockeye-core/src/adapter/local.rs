//! The adapter of a single process.

use std::time::Duration;

use super::{
    AckStream, Adapter, BoxFuture, BroadcastOptions, BroadcastPacket, LocalHandle, ServerAcks,
    SocketInfo,
};
use crate::errors::AdapterError;
use crate::payload::Payload;
use crate::room::Room;

/// The adapter of a server that runs alone: every operation is this server's alone, done
/// through its [`LocalHandle`]. The default of `SocketIoBuilder`.
///
/// A cluster adapter can hold one to do the local part of each operation.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use sockeye_core::adapter::{Adapter, LocalAdapter, LocalHandle};
/// let factory = |local: LocalHandle| -> Arc<dyn Adapter> { Arc::new(LocalAdapter::new(local)) };
/// # let _ = factory;
/// ```
#[derive(Debug, Clone)]
pub struct LocalAdapter {
    local: LocalHandle,
}

impl LocalAdapter {
    /// The adapter of the namespace `local` stands for.
    pub fn new(local: LocalHandle) -> LocalAdapter {
        LocalAdapter { local }
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
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.local.broadcast(&packet, &opts);
        ready(Ok(()))
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
}
