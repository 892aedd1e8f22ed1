//! Error types shared by the crates.

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
    /// Bytes that are not valid MessagePack (truncated, a length longer than what is left,
    /// an unknown type byte, nesting deeper than 128, bytes after the packet).
    #[error("invalid MessagePack")]
    InvalidMsgpack,
    /// A text message where the parser expects binary ones (while a packet waits for its
    /// attachments; or any text, for the msgpack parser).
    #[error("unexpected text message")]
    UnexpectedText,
    /// A binary message where the parser expects none (no packet waits for attachments).
    #[error("unexpected binary message")]
    UnexpectedBinary,
    /// A binary packet's attachments add up to more bytes than allowed.
    #[error("binary attachments too large")]
    AttachmentsTooLarge,
}

/// Why a server-wide operation failed on the way to (or back from) other servers. Local
/// delivery never fails this way: an adapter delivers to this server's sockets first.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// Other servers did not answer in time (the adapter's request timeout).
    #[error("the cluster did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The adapter cannot reach the other servers now (its broker is down, for instance).
    #[error("the cluster is unreachable: {0}")]
    Unavailable(String),
    /// The adapter is closed.
    #[error("the adapter is closed")]
    Closed,
    /// Data that cannot cross the cluster (it does not serialize).
    #[error("cannot encode for the cluster: {0}")]
    Encode(String),
    /// Any other failure of the adapter.
    #[error("{0}")]
    Other(String),
}
