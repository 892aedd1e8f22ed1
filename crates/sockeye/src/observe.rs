//! Lifecycle hooks for instrumentation inside the crate (the admin UI): what Node's
//! `@socket.io/admin-ui` learns from the engine's events, the adapter's `join-room` and
//! `leave-room`, and the listeners it prepends on every namespace.
//!
//! One observer per server, set once. A server without one pays a load and a branch at each
//! hook; none of the hooks is on the path of a single broadcast delivery (a broadcast reports
//! its deliveries once, after its loop).

use std::sync::Arc;

use sockeye_core::{Room, Sid};
use sockeye_engineio::DisconnectReason as EngineReason;

use crate::client::Conn;
use crate::ns::Namespace;
use crate::socket::{DisconnectReason, Socket, SocketRef};
use crate::Encoded;

/// What an instrument hears of a server. Every method has a default that does nothing. The
/// hooks are called on the task where the event happens, with no lock of the crate held:
/// they must return quickly (spawn for anything slow).
pub(crate) trait Observer: Send + Sync + 'static {
    /// An Engine.IO session opened.
    fn connection_opened(&self, conn: &Arc<Conn>) {
        let _ = conn;
    }

    /// An Engine.IO session closed.
    fn connection_closed(&self, conn: &Arc<Conn>, reason: EngineReason) {
        let _ = (conn, reason);
    }

    /// A message (text or binary) of `bytes` arrived from a client.
    fn packet_in(&self, bytes: usize) {
        let _ = bytes;
    }

    /// `packets` messages of `bytes` in all were queued for clients.
    fn packets_out(&self, packets: usize, bytes: usize) {
        let _ = (packets, bytes);
    }

    /// A socket joined its namespace: its CONNECT acknowledgement is queued, its namespace's
    /// connect handler has not run yet (as Node's admin UI prepends its `connection`
    /// listener).
    fn socket_connected(&self, socket: &SocketRef) {
        let _ = socket;
    }

    /// A socket left its namespace for `reason`; it was in `rooms` (its own among them).
    /// Called before the socket's disconnect handler.
    fn socket_disconnected(&self, socket: &SocketRef, reason: DisconnectReason, rooms: &[Room]) {
        let _ = (socket, reason, rooms);
    }

    /// Socket `sid` of `ns` joined `room` (it was not in it).
    fn room_joined(&self, ns: &Namespace, room: &str, sid: Sid) {
        let _ = (ns, room, sid);
    }

    /// Socket `sid` of `ns` left `room` (it was in it). Not called for the rooms a socket
    /// leaves when it disconnects (see [`Observer::socket_disconnected`]).
    fn room_left(&self, ns: &Namespace, room: &str, sid: Sid) {
        let _ = (ns, room, sid);
    }

    /// The application set the socket's data.
    fn data_set(&self, socket: &Socket) {
        let _ = socket;
    }
}

/// How many messages and bytes an encoded packet is on the wire (its text, then one binary
/// message per attachment).
pub(crate) fn size(encoded: &Encoded) -> (usize, usize) {
    let bins: usize = encoded.bins.iter().map(|b| b.len()).sum();
    (1 + encoded.bins.len(), encoded.text.len() + bins)
}
