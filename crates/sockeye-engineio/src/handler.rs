//! The seam to the layer above: what it does with sessions and their messages.

use std::sync::Arc;

use bytes::Bytes;

use crate::socket::{DisconnectReason, Socket};

/// What the layer above (Socket.IO) does with sessions and their messages.
///
/// The callbacks run on the connection's task: keep them short and non-blocking (spawn
/// for long work).
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use sockeye_engineio::{DisconnectReason, Handler, Socket};
///
/// /// Counts messages per session.
/// struct Count;
/// impl Handler for Count {
///     type Data = std::sync::atomic::AtomicUsize;
///     fn new_data(&self) -> Self::Data {
///         Default::default()
///     }
///     fn on_connect(&self, _: &Arc<Socket<Self::Data>>) {}
///     fn on_disconnect(&self, _: &Arc<Socket<Self::Data>>, _: DisconnectReason) {}
///     fn on_message(&self, socket: &Arc<Socket<Self::Data>>, _: Bytes) {
///         socket.data().fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     }
///     fn on_binary(&self, socket: &Arc<Socket<Self::Data>>, _: Bytes) {
///         socket.data().fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Per-session data, created with the session.
    type Data: Send + Sync + 'static;

    /// Makes the data of a new session.
    fn new_data(&self) -> Self::Data;
    /// A session opened.
    fn on_connect(&self, socket: &Arc<Socket<Self::Data>>);
    /// A session closed (called exactly once per session).
    fn on_disconnect(&self, socket: &Arc<Socket<Self::Data>>, reason: DisconnectReason);
    /// A text message arrived (valid UTF-8).
    fn on_message(&self, socket: &Arc<Socket<Self::Data>>, msg: Bytes);
    /// A binary message arrived.
    fn on_binary(&self, socket: &Arc<Socket<Self::Data>>, data: Bytes);
    /// The session moved from polling to WebSocket (Node's `upgrade` event of the engine's
    /// socket): [`Socket::transport`] is WebSocket from now on. Called once per upgraded
    /// session, on its WebSocket's task, before the packets that follow the client's `5`.
    /// By default nothing happens.
    fn on_upgrade(&self, socket: &Arc<Socket<Self::Data>>) {
        let _ = socket;
    }
}
