//! Error types of the Engine.IO layer.

use http::StatusCode;

/// A packet or payload that cannot be decoded. The session that sent it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// An empty packet.
    #[error("empty packet")]
    Empty,
    /// A packet type that does not exist.
    #[error("unknown packet type")]
    UnknownType,
    /// `b` followed by bytes that are not base64.
    #[error("invalid base64")]
    BadBase64,
    /// A payload that is not UTF-8.
    #[error("payload is not valid UTF-8")]
    InvalidUtf8,
    /// More packets in one polling payload than allowed.
    #[error("too many packets in one payload")]
    TooManyPackets,
    /// A v3 length prefix that is malformed, too large or cuts a character.
    #[error("invalid packet length")]
    InvalidLength,
}

/// Why the server refused an HTTP request to the engine path.
///
/// The answer mirrors Node's engine.io: status 400 (403 for [`HttpError::Forbidden`]) and a body
/// `{"code":N,"message":"..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Code 0: a missing or unknown `transport`.
    #[error("Transport unknown")]
    UnknownTransport,
    /// Code 1: an unknown, closed or malformed `sid`.
    #[error("Session ID unknown")]
    UnknownSid,
    /// Code 2: a handshake with a method other than GET.
    #[error("Bad handshake method")]
    BadHandshakeMethod,
    /// Code 3: anything else wrong with the request.
    #[error("Bad request")]
    BadRequest,
    /// Code 4: refused by the allow-request hook, the origin check or the connection limit.
    #[error("Forbidden")]
    Forbidden,
    /// Code 5: a missing or unsupported `EIO` version.
    #[error("Unsupported protocol version")]
    UnsupportedProtocolVersion,
}

impl HttpError {
    /// Node's numeric error code.
    pub fn code(self) -> u8 {
        match self {
            HttpError::UnknownTransport => 0,
            HttpError::UnknownSid => 1,
            HttpError::BadHandshakeMethod => 2,
            HttpError::BadRequest => 3,
            HttpError::Forbidden => 4,
            HttpError::UnsupportedProtocolVersion => 5,
        }
    }

    /// Node's message for the code (engine.io's `Server.errorMessages`), e.g. `"Bad request"`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(sockeye_engineio::HttpError::UnknownSid.message(), "Session ID unknown");
    /// ```
    pub fn message(self) -> &'static str {
        match self {
            HttpError::UnknownTransport => "Transport unknown",
            HttpError::UnknownSid => "Session ID unknown",
            HttpError::BadHandshakeMethod => "Bad handshake method",
            HttpError::BadRequest => "Bad request",
            HttpError::Forbidden => "Forbidden",
            HttpError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status to answer with.
    pub fn status(self) -> StatusCode {
        match self {
            HttpError::Forbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body, e.g. `{"code":1,"message":"Session ID unknown"}`.
    pub fn body(self) -> String {
        format!(
            "{{\"code\":{},\"message\":\"{}\"}}",
            self.code(),
            self.message()
        )
    }
}

/// Why a message could not be queued for a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// The client's outbound queue is over its byte limit (a slow consumer).
    #[error("the client's outbound queue is full")]
    QueueFull,
}
