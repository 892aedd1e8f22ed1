//! Acknowledgements both ways.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;

use crate::errors::{AckError, EmitError};
use crate::parser::{self, ArgsMode};
use crate::payload::Payload;
use crate::socket::SocketRef;

/// Answers a client's event that asked for an ack. Sending consumes it, so a client gets at
/// most one answer; when the client asked for none, sending does nothing.
///
/// # Examples
/// ```
/// # use sockeye::{AckSender, extract::Data};
/// let handler = |Data(n): Data<u32>, ack: AckSender| {
///     let _ = ack.send(&(n * 2));
/// };
/// # let _ = handler;
/// ```
#[derive(Debug)]
pub struct AckSender {
    socket: SocketRef,
    id: Option<u64>,
}

impl AckSender {
    pub(crate) fn new(socket: SocketRef, id: Option<u64>) -> AckSender {
        AckSender { socket, id }
    }

    /// Whether the client asked for an ack.
    pub fn is_requested(&self) -> bool {
        self.id.is_some()
    }

    /// Sends `data` as the ack's single argument.
    ///
    /// # Errors
    /// When `data` does not serialize or the socket cannot take it.
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        self.send_mode(data, ArgsMode::One)
    }

    /// Sends the items of `args` (a tuple, array or `Vec`) as the ack's arguments.
    ///
    /// # Errors
    /// When `args` does not serialize to an array or the socket cannot take it.
    pub fn send_args<T: Serialize + ?Sized>(self, args: &T) -> Result<(), EmitError> {
        self.send_mode(args, ArgsMode::Spread)
    }

    /// Sends back the arguments and attachments of a received payload, as they came.
    ///
    /// # Errors
    /// When the socket cannot take it.
    pub fn send_payload(self, payload: &Payload) -> Result<(), EmitError> {
        let Some(id) = self.id else { return Ok(()) };
        let encoded = parser::encode_ack_payload(self.socket.ns_name(), id, payload);
        self.socket.send_encoded(encoded)
    }

    fn send_mode<T: Serialize + ?Sized>(self, data: &T, mode: ArgsMode) -> Result<(), EmitError> {
        let Some(id) = self.id else { return Ok(()) };
        let encoded = parser::encode_ack(self.socket.ns_name(), id, data, mode)?;
        self.socket.send_encoded(encoded)
    }
}

/// The answer to a server emit with ack: resolves to the client's ack arguments.
#[must_use = "an ack does nothing unless awaited"]
pub struct AckFuture {
    pub(crate) rx: Option<oneshot::Receiver<Payload>>,
    pub(crate) err: Option<EmitError>,
    pub(crate) timeout: Duration,
    pub(crate) cleanup: Option<(SocketRef, u64)>,
}

impl AckFuture {
    /// Waits for the answer.
    ///
    /// # Errors
    /// [`AckError::Timeout`] when the client does not answer in time, [`AckError::Emit`] when
    /// the emit failed, [`AckError::Disconnected`] when the socket went away first.
    pub async fn recv(mut self) -> Result<Payload, AckError> {
        if let Some(e) = self.err.take() {
            return Err(AckError::Emit(e));
        }
        let Some(rx) = self.rx.take() else {
            return Err(AckError::Disconnected);
        };
        // Dropped while waiting, this future's `Drop` forgets the pending entry.
        let res = tokio::time::timeout(self.timeout, rx).await;
        match res {
            Ok(Ok(p)) => {
                // The answer took the entry.
                self.cleanup = None;
                Ok(p)
            }
            Ok(Err(_)) => {
                self.cleanup = None;
                Err(AckError::Disconnected)
            }
            // Dropping `self` forgets the pending entry: an answer after the timeout is
            // ignored.
            Err(_) => Err(AckError::Timeout(self.timeout)),
        }
    }

    /// Waits for the answer and deserializes its arguments (see [`Payload::args`]).
    ///
    /// # Errors
    /// As [`AckFuture::recv`], and [`AckError::Deserialize`].
    pub async fn recv_as<T: serde::de::DeserializeOwned>(self) -> Result<T, AckError> {
        self.recv().await?.args().map_err(AckError::Deserialize)
    }
}

impl Drop for AckFuture {
    /// Forgets the pending entry unless the answer (or the socket's end) took it: a future
    /// dropped before or while it waits leaves nothing behind.
    fn drop(&mut self) {
        if let Some((s, id)) = self.cleanup.take() {
            s.forget_ack(id);
        }
    }
}

impl std::future::IntoFuture for AckFuture {
    type Output = Result<Payload, AckError>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.recv())
    }
}
