//! Error types.

use std::time::Duration;

/// A client packet that is not valid Socket.IO; the client's connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The packet is not UTF-8.
    #[error("packet is not UTF-8")]
    InvalidUtf8,
    /// An unknown packet type, or one that only servers send.
    #[error("invalid packet type")]
    InvalidType,
    /// A malformed attachment count or placeholder.
    #[error("illegal attachments")]
    InvalidAttachments,
    /// More attachments than allowed.
    #[error("too many attachments")]
    TooManyAttachments,
    /// A malformed or out-of-range number (ack id).
    #[error("invalid number")]
    InvalidNumber,
    /// The JSON does not parse (or nests deeper than 128).
    #[error("invalid JSON")]
    InvalidJson,
    /// The payload does not fit the packet type.
    #[error("invalid payload")]
    InvalidPayload,
    /// A reserved event name (`connect`, `disconnect`, ...).
    #[error("reserved event name")]
    ReservedEvent,
}

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The data could not be serialized.
    #[error("serialize: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The socket is disconnected.
    #[error("the socket is disconnected")]
    Disconnected,
    /// The client reads too slowly; its queue is full.
    #[error("the client's outbound queue is full")]
    QueueFull,
    /// The adapter failed to deliver the broadcast.
    #[error("adapter: {0}")]
    Adapter(#[from] AdapterError),
}

/// Why an ack did not arrive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The client did not answer in time.
    #[error("ack timed out after {0:?}")]
    Timeout(Duration),
    /// The emit itself failed.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The socket disconnected before answering.
    #[error("the socket disconnected")]
    Disconnected,
    /// The answer could not be deserialized as the asked type.
    #[error("deserialize: {0}")]
    Deserialize(serde_json::Error),
}

/// An adapter failure (a remote adapter's transport, for instance).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AdapterError(pub String);
