//! Acknowledgements both ways.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, Stream};
use serde::Serialize;
use sockeye_core::adapter::{AckEvent, AckFailure, AckReply};
use sockeye_core::parser::{Args, ArgsMode, Packet};
use sockeye_core::{Payload, Sid};
use tokio::sync::oneshot;

use crate::socket::Prepared;

use crate::errors::{AckError, EmitError};
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
    ///
    /// # Examples
    /// ```
    /// use sockeye::AckSender;
    /// let handler = |ack: AckSender| {
    ///     if !ack.is_requested() {
    ///         println!("the client wants no answer");
    ///     }
    /// };
    /// # let _ = handler;
    /// ```
    pub fn is_requested(&self) -> bool {
        self.id.is_some()
    }

    /// Sends `data` as the ack's single argument.
    ///
    /// # Examples
    /// ```
    /// use sockeye::AckSender;
    /// let handler = |ack: AckSender| {
    ///     let _ = ack.send(&serde_json::json!({"ok": true}));
    /// };
    /// # let _ = handler;
    /// ```
    ///
    /// # Errors
    /// When `data` does not serialize or the socket cannot take it.
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        self.send_mode(data, ArgsMode::One)
    }

    /// Sends the items of `args` (a tuple, array or `Vec`) as the ack's arguments.
    ///
    /// # Examples
    /// ```
    /// use sockeye::AckSender;
    /// // The client's callback gets two arguments: (null, "done").
    /// let handler = |ack: AckSender| {
    ///     let _ = ack.send_args(&((), "done"));
    /// };
    /// # let _ = handler;
    /// ```
    ///
    /// # Errors
    /// When `args` does not serialize to an array or the socket cannot take it.
    pub fn send_args<T: Serialize + ?Sized>(self, args: &T) -> Result<(), EmitError> {
        self.send_mode(args, ArgsMode::Spread)
    }

    /// Sends back the arguments and attachments of a received payload, as they came.
    ///
    /// # Examples
    /// ```
    /// use sockeye::{AckSender, Payload};
    /// // Answers with what the client sent, attachments included.
    /// let handler = |p: Payload, ack: AckSender| {
    ///     let _ = ack.send_payload(&p);
    /// };
    /// # let _ = handler;
    /// ```
    ///
    /// # Errors
    /// When the socket cannot take it.
    pub fn send_payload(self, payload: &Payload) -> Result<(), EmitError> {
        self.send_encoded_args(Args::Payload(payload))
    }

    fn send_mode<T: Serialize + ?Sized>(self, data: &T, mode: ArgsMode) -> Result<(), EmitError> {
        self.send_encoded_args(Args::Data(&data, mode))
    }

    fn send_encoded_args(self, args: Args<'_>) -> Result<(), EmitError> {
        let Some(id) = self.id else { return Ok(()) };
        let ns = self.socket.ns_name();
        let encoded = self.socket.parser().encode(Packet::Ack { ns, id, args })?;
        self.socket.send_encoded(encoded)
    }
}

/// The answer to a server emit with ack: resolves to the client's ack arguments.
///
/// # Examples
/// ```
/// # async fn f(socket: sockeye::SocketRef) {
/// let answer = socket.emit_with_ack("question", &"ready?").await;
/// match answer {
///     Ok(payload) => println!("{} args", payload.len()),
///     Err(e) => println!("no answer: {e}"),
/// }
/// # }
/// ```
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
    /// # Examples
    /// ```
    /// # async fn f(socket: sockeye::SocketRef) -> Result<(), sockeye::AckError> {
    /// let payload = socket.emit_with_ack("question", &()).recv().await?;
    /// let first: String = payload.arg(0).map_err(sockeye::AckError::Deserialize)?;
    /// # Ok(()) }
    /// ```
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
            Err(_) => {
                crate::metrics::add(&crate::metrics::ACK_TIMEOUTS, 1);
                Err(AckError::Timeout(self.timeout))
            }
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

/// One local socket's awaited answer to a broadcast with acks. Dropped before the answer
/// came (the stream dropped, or its timeout), it forgets the socket's pending entry.
struct AckWait {
    socket: SocketRef,
    id: u64,
    rx: oneshot::Receiver<Payload>,
    done: bool,
}

impl Future for AckWait {
    type Output = AckReply;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AckReply> {
        let res = match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(p)) => Ok(p),
            // The socket went away (its pending acks were dropped with it).
            Poll::Ready(Err(_)) => Err(AckFailure::Disconnected),
        };
        // The answer (or the socket's end) took the entry.
        self.done = true;
        Poll::Ready(AckReply::new(Some(self.socket.id()), res))
    }
}

impl Drop for AckWait {
    fn drop(&mut self) {
        if !self.done {
            self.socket.forget_ack(self.id);
        }
    }
}

/// The answers of this server's sockets to a broadcast with acks: how many were sent the
/// packet, then each answer as it comes, then a timeout failure for each socket still silent
/// at the deadline.
pub(crate) struct LocalAcks {
    expected: Option<usize>,
    failed: Vec<AckReply>,
    waiting: FuturesUnordered<AckWait>,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Option<std::vec::IntoIter<Sid>>,
}

impl LocalAcks {
    /// Sends `encoded` (whose ack id is `id`) to each socket, waiting for the answers until
    /// `timeout` from now.
    pub(crate) fn send(
        sockets: Vec<SocketRef>,
        prepared: Option<&Prepared>,
        id: u64,
        timeout: Duration,
    ) -> LocalAcks {
        let expected = sockets.len();
        let waiting = FuturesUnordered::new();
        let mut failed = Vec::new();
        for s in sockets {
            let rx = s.register_ack(id);
            // `None`: the packet did not encode, and no socket is sent it.
            let sent = match prepared {
                Some(prepared) => s.send_prepared(prepared),
                None => Err(EmitError::Disconnected),
            };
            match sent {
                Ok(()) => {
                    crate::metrics::add(&crate::metrics::DELIVERIES, 1);
                    waiting.push(AckWait {
                        socket: s,
                        id,
                        rx,
                        done: false,
                    });
                }
                Err(_) => {
                    s.forget_ack(id);
                    failed.push(AckReply::new(Some(s.id()), Err(AckFailure::NotSent)));
                }
            }
        }
        LocalAcks {
            expected: Some(expected),
            failed,
            waiting,
            deadline: tokio::time::Instant::now() + timeout,
            sleep: None,
            timed_out: None,
        }
    }
}

impl Stream for LocalAcks {
    type Item = AckEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AckEvent>> {
        let this = &mut *self;
        if let Some(n) = this.expected.take() {
            return Poll::Ready(Some(AckEvent::Expected(n)));
        }
        if let Some(r) = this.failed.pop() {
            return Poll::Ready(Some(AckEvent::Reply(r)));
        }
        if let Some(silent) = &mut this.timed_out {
            let next = silent
                .next()
                .map(|sid| AckEvent::Reply(AckReply::new(Some(sid), Err(AckFailure::Timeout))));
            return Poll::Ready(next);
        }
        match Pin::new(&mut this.waiting).poll_next(cx) {
            Poll::Ready(Some(reply)) => return Poll::Ready(Some(AckEvent::Reply(reply))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // Time is up: the silent sockets' entries are forgotten as their waits drop.
        let silent: Vec<Sid> = this.waiting.iter().map(|w| w.socket.id()).collect();
        crate::metrics::add(&crate::metrics::ACK_TIMEOUTS, silent.len() as u64);
        this.waiting = FuturesUnordered::new();
        let mut silent = silent.into_iter();
        let next = silent
            .next()
            .map(|sid| AckEvent::Reply(AckReply::new(Some(sid), Err(AckFailure::Timeout))));
        this.timed_out = Some(silent);
        Poll::Ready(next)
    }
}
