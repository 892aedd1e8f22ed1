//! Error types.

use std::time::Duration;

pub use sockeye_core::{AdapterError, ParseError};

use sockeye_core::Payload;

/// Why an emit failed.
///
/// # Examples
/// ```
/// # fn f(socket: sockeye::SocketRef) {
/// use sockeye::EmitError;
/// match socket.emit("tick", &1) {
///     Ok(()) | Err(EmitError::Disconnected) => {}
///     Err(EmitError::QueueFull) => println!("{} reads too slowly", socket.id()),
///     Err(e) => println!("{e}"),
/// }
/// # }
/// ```
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
    /// The adapter could not reach the other servers (local delivery was done).
    #[error("adapter: {0}")]
    Adapter(AdapterError),
}

impl From<AdapterError> for EmitError {
    /// The adapter's error, counted in `sockeye_adapter_errors_total`.
    fn from(e: AdapterError) -> Self {
        crate::metrics::add(&crate::metrics::ADAPTER_ERRORS, 1);
        EmitError::Adapter(e)
    }
}

/// Why an ack did not arrive.
///
/// # Examples
/// ```
/// # async fn f(socket: sockeye::SocketRef) {
/// use sockeye::AckError;
/// match socket.emit_with_ack("question", &()).await {
///     Ok(answer) => println!("{answer:?}"),
///     Err(AckError::Timeout(after)) => println!("silent for {after:?}"),
///     Err(e) => println!("{e}"),
/// }
/// # }
/// ```
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

/// Why a server-side emit with ack did not get every server's answer.
///
/// # Examples
/// ```
/// # async fn f(io: sockeye::SocketIo) {
/// use std::time::Duration;
/// use sockeye::ServerAckError;
/// match io.server_side_emit_with_ack("uptime", &(), Duration::from_secs(1)).await {
///     Ok(answers) => println!("{} servers", answers.len()),
///     Err(ServerAckError::Timeout { expected, responses }) => {
///         println!("{} of {expected} answered", responses.len())
///     }
///     Err(e) => println!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerAckError {
    /// Some servers did not answer in time; the answers that came are here.
    #[error("only {} of {expected} servers answered in time", responses.len())]
    Timeout {
        /// How many servers were expected to answer.
        expected: usize,
        /// The answers that came.
        responses: Vec<Payload>,
    },
    /// The event could not be sent.
    #[error(transparent)]
    Emit(#[from] EmitError),
}
