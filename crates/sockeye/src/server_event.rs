//! Events from other servers of the cluster (Node's `serverSideEmit`).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Serialize;
use sockeye_core::adapter::ServerAck;
use sockeye_core::Payload;

/// A namespace's handlers of server-side events, by event name (shared by the children of a
/// dynamic namespace).
pub(crate) type ServerHandlers = Arc<RwLock<HashMap<String, BoxedServerHandler>>>;

pub(crate) type BoxedServerHandler = Arc<dyn Fn(ServerEvent) + Send + Sync>;

/// An event another server of the cluster sent to this namespace with
/// [`SocketIo::server_side_emit`](crate::SocketIo::server_side_emit), as a handler registered
/// with [`SocketIo::on_server_event`](crate::SocketIo::on_server_event) receives it.
///
/// # Examples
/// ```
/// # fn f(io: sockeye::SocketIo) {
/// io.on_server_event("uptime", |ev: sockeye::ServerEvent| {
///     let _ = ev.ack(&42);
/// });
/// # }
/// ```
#[derive(Debug)]
pub struct ServerEvent {
    event: String,
    args: Payload,
    ack: Option<ServerAck>,
}

impl ServerEvent {
    pub(crate) fn new(event: String, args: Payload, ack: Option<ServerAck>) -> ServerEvent {
        ServerEvent { event, args, ack }
    }

    /// The event's name.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// io.on_server_event("cache:invalidate", |ev: sockeye::ServerEvent| {
    ///     assert_eq!(ev.event(), "cache:invalidate");
    /// });
    /// # }
    /// ```
    pub fn event(&self) -> &str {
        &self.event
    }

    /// Its arguments.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// io.on_server_event("cache:invalidate", |ev: sockeye::ServerEvent| {
    ///     let key: Result<String, _> = ev.args().arg(0);
    /// });
    /// # }
    /// ```
    pub fn args(&self) -> &Payload {
        &self.args
    }

    /// Whether the sending server waits for an answer.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// io.on_server_event("uptime", |ev: sockeye::ServerEvent| {
    ///     if ev.wants_ack() {
    ///         let _ = ev.ack(&123);
    ///     }
    /// });
    /// # }
    /// ```
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// Answers the sending server with `data` (once; nothing happens when it asked for no
    /// answer).
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) {
    /// io.on_server_event("uptime", |ev: sockeye::ServerEvent| {
    ///     let _ = ev.ack(&serde_json::json!({"seconds": 123}));
    /// });
    /// # }
    /// ```
    ///
    /// # Errors
    /// When `data` does not serialize.
    pub fn ack<T: Serialize + ?Sized>(self, data: &T) -> Result<(), serde_json::Error> {
        if let Some(ack) = self.ack {
            let v = sockeye_core::value::to_value(data)?;
            ack.send(Payload::from_values(vec![v]));
        }
        Ok(())
    }
}
