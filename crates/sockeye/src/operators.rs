//! Broadcast operators: choose sockets by room, then emit, fetch, join, leave or disconnect.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sockeye_engineio::Sid;

use crate::adapter::{BroadcastOptions, BroadcastPacket, IntoRooms, Room};
use crate::errors::{AckError, EmitError};
use crate::ns::Namespace;
use crate::parser::{self, ArgsMode, Encoded};
use crate::payload::Payload;
use crate::socket::SocketRef;

/// A selection of sockets in a namespace: by rooms, minus other rooms, with flags.
///
/// Made by [`crate::SocketIo::to`], [`crate::Socket::broadcast`] and friends.
///
/// # Examples
/// ```
/// # async fn f(io: sockeye::SocketIo) -> Result<(), sockeye::EmitError> {
/// io.to("ACME").except("muted").emit("price", &12.5).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "an operator does nothing until an action such as `emit` is called"]
pub struct BroadcastOperator {
    ns: Arc<Namespace>,
    opts: BroadcastOptions,
    timeout: Option<Duration>,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<Namespace>) -> BroadcastOperator {
        BroadcastOperator {
            ns,
            opts: BroadcastOptions::default(),
            timeout: None,
        }
    }

    pub(crate) fn except_socket(mut self, sid: Sid) -> BroadcastOperator {
        self.opts.except_sid = Some(sid);
        self
    }

    /// Adds rooms to send to.
    pub fn to(mut self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.opts.rooms.extend(rooms.into_rooms());
        self
    }

    /// Same as [`BroadcastOperator::to`].
    pub fn within(self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Leaves out the sockets in these rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.opts.except.extend(rooms.into_rooms());
        self
    }

    /// Only this server's sockets, even with a remote adapter.
    pub fn local(mut self) -> BroadcastOperator {
        self.opts.local = true;
        self
    }

    /// The packet may be dropped for a client that has not read what it was sent before
    /// (counted in [`crate::metrics::volatile_drops`]): anything still queued for that client
    /// makes this packet go. Send one volatile stream per client at a time, or several
    /// volatile emits in the same instant will drop all but the first for each client.
    pub fn volatile(mut self) -> BroadcastOperator {
        self.opts.volatile = true;
        self
    }

    /// The timeout of [`BroadcastOperator::emit_with_ack`].
    pub fn timeout(mut self, timeout: Duration) -> BroadcastOperator {
        self.timeout = Some(timeout);
        self
    }

    /// The selection.
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    async fn send(&self, encoded: Encoded) -> Result<(), EmitError> {
        let packet = BroadcastPacket {
            ns: self.ns.name().to_owned(),
            encoded,
        };
        self.ns
            .adapter()
            .broadcast(&self.ns, &packet, &self.opts)
            .await?;
        Ok(())
    }

    /// Emits an event with `data` as its single argument to every selected socket. The packet
    /// is encoded once and shared.
    ///
    /// # Errors
    /// When `data` does not serialize, or the adapter fails.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let encoded = parser::encode_event(self.ns.name(), event, data, ArgsMode::One, None)?;
        self.send(encoded).await
    }

    /// Emits an event whose arguments are the items of `args` (a tuple, array or `Vec`).
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit`].
    pub async fn emit_args<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        let encoded = parser::encode_event(self.ns.name(), event, args, ArgsMode::Spread, None)?;
        self.send(encoded).await
    }

    /// Emits an event with the arguments and attachments of a received payload.
    ///
    /// # Errors
    /// When the adapter fails.
    pub async fn emit_payload(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        let encoded = parser::encode_event_payload(self.ns.name(), event, payload, None);
        self.send(encoded).await
    }

    /// Emits an event to every selected socket and collects each one's ack, waiting at most
    /// the timeout (the builder's `ack_timeout` by default) for all of them.
    ///
    /// # Examples
    /// ```
    /// # async fn f(io: sockeye::SocketIo) {
    /// use std::time::Duration;
    /// let answers = io.timeout(Duration::from_secs(2)).emit_with_ack("poll", &"ready?").await;
    /// for (sid, answer) in answers {
    ///     println!("{sid}: {answer:?}");
    /// }
    /// # }
    /// ```
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Vec<(Sid, Result<Payload, AckError>)> {
        let timeout = self
            .timeout
            .unwrap_or(self.ns.io_inner().config.ack_timeout);
        let id = self.ns.next_ack_id();
        let encoded =
            match parser::encode_event(self.ns.name(), event, data, ArgsMode::One, Some(id)) {
                Ok(e) => e,
                Err(_) => return Vec::new(),
            };
        let sockets = self.sockets();
        let mut waiting = Vec::with_capacity(sockets.len());
        for s in &sockets {
            let rx = s.register_ack(id);
            match s.send_shared(&encoded) {
                Ok(()) => waiting.push(Ok(rx)),
                Err(e) => {
                    s.forget_ack(id);
                    waiting.push(Err(e));
                }
            }
        }
        // Dropped before every answer came, this future forgets the entries it still waits
        // for (the guard owns the sockets; `next` is the first one not settled yet).
        let mut pending = ForgetAcks {
            id,
            sockets,
            next: 0,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::with_capacity(waiting.len());
        for (i, rx) in waiting.into_iter().enumerate() {
            let s = &pending.sockets[i];
            let res = match rx {
                Err(e) => Err(AckError::Emit(e)),
                Ok(rx) => match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(p)) => Ok(p),
                    Ok(Err(_)) => Err(AckError::Disconnected),
                    Err(_) => {
                        s.forget_ack(id);
                        Err(AckError::Timeout(timeout))
                    }
                },
            };
            out.push((s.id(), res));
            pending.next = i + 1;
        }
        out
    }

    /// The selected sockets of this server.
    pub fn sockets(&self) -> Vec<SocketRef> {
        self.ns.adapter().local_sockets(&self.ns, &self.opts)
    }

    /// The ids of the selected sockets, on every server of the adapter.
    ///
    /// # Errors
    /// When the adapter fails.
    pub async fn fetch_ids(&self) -> Result<Vec<Sid>, EmitError> {
        Ok(self.ns.adapter().sockets(&self.ns, &self.opts).await?)
    }

    /// Makes the selected sockets join `rooms`.
    ///
    /// # Errors
    /// When the adapter fails.
    pub async fn join(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        let rooms: Vec<Room> = rooms.into_rooms().into_vec();
        Ok(self
            .ns
            .adapter()
            .add_sockets(&self.ns, &self.opts, &rooms)
            .await?)
    }

    /// Makes the selected sockets leave `rooms`.
    ///
    /// # Errors
    /// When the adapter fails.
    pub async fn leave(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        let rooms: Vec<Room> = rooms.into_rooms().into_vec();
        Ok(self
            .ns
            .adapter()
            .del_sockets(&self.ns, &self.opts, &rooms)
            .await?)
    }

    /// Disconnects the selected sockets.
    ///
    /// # Errors
    /// When the adapter fails.
    pub async fn disconnect(&self) -> Result<(), EmitError> {
        Ok(self
            .ns
            .adapter()
            .disconnect_sockets(&self.ns, &self.opts, false)
            .await?)
    }
}

/// Forgets a broadcast's pending ack entries from `next` on when dropped: those of the
/// sockets whose answer was still awaited (the others were answered, timed out or failed).
struct ForgetAcks {
    id: u64,
    sockets: Vec<SocketRef>,
    next: usize,
}

impl Drop for ForgetAcks {
    fn drop(&mut self) {
        for s in &self.sockets[self.next..] {
            s.forget_ack(self.id);
        }
    }
}
