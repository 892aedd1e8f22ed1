//! The transports: HTTP long-polling and WebSocket.

pub(crate) mod polling;
pub(crate) mod websocket;
