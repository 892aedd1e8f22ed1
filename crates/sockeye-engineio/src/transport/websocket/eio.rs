//! The Engine.IO side of a WebSocket connection: the session machine's driver over frames.
//!
//! Messages go to the handler directly (they change no session state); every other packet,
//! the probe of an upgrade, and the end of the connection go through the machine.

use std::sync::Arc;
use std::task::Context;

use bytes::BytesMut;

use super::conn::{Exit, ReadFlag, Stream, Upper};
use crate::core::Shared;
use crate::handler::Handler;
use crate::packet::{Packet, ProtocolVersion};
use crate::payload::{Outgoing, SharedMessage};
use crate::session::{ProbeStep, Via};
use crate::socket::{DisconnectReason, Queue, RunningGuard, Socket, TransportKind};
use crate::ws::{self, Encoder, Message, OpCode};

impl<D: Send + Sync + 'static> ReadFlag for Socket<D> {
    fn readable(&self) -> &std::sync::atomic::AtomicBool {
        &self.readable
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Upgrading from polling (upgrade number `id`): only `2probe` and `5` are allowed; the
    /// queue still belongs to the polling transport.
    Probe(u32),
    /// The session's transport.
    Open,
}

/// How binary messages are framed for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// v4: raw binary frames.
    V4,
    /// v3: binary frames that start with the byte 4.
    V3,
    /// v3 with `b64=1`: text frames `b4<base64>`.
    V3Base64,
}

/// Frames one queued packet for the wire (compressed when `permessage-deflate` was agreed,
/// the packet allows it and it is large enough: see [`Encoder`]).
fn frame(enc: &mut Encoder, out: &mut BytesMut, p: &Outgoing, framing: Framing) {
    match p {
        Outgoing::Message(b) => enc.message(OpCode::Text, &[b"4", b], true, out),
        Outgoing::Binary(b) => binary(enc, out, b, true, None, framing),
        Outgoing::Shared(m) => shared(enc, out, m, framing),
        // The heartbeat tells the encoder how long the connection has been quiet.
        Outgoing::Ping => {
            enc.idle();
            ws::encode_frame(OpCode::Text, b"2", out);
        }
        Outgoing::Pong => {
            enc.idle();
            ws::encode_frame(OpCode::Text, b"3", out);
        }
        Outgoing::Noop => ws::encode_frame(OpCode::Text, b"6", out),
        // The WebSocket close frame ends the session instead.
        Outgoing::Close => {}
    }
}

fn shared(enc: &mut Encoder, out: &mut BytesMut, m: &SharedMessage, framing: Framing) {
    let compress = m.compress_allowed();
    if m.is_binary() {
        binary(enc, out, m.data(), compress, Some(m), framing);
    } else {
        enc.shared(OpCode::Text, &[b"4", m.data()], compress, m.deflated(), out);
    }
}

fn binary(
    enc: &mut Encoder,
    out: &mut BytesMut,
    b: &[u8],
    compress: bool,
    shared: Option<&SharedMessage>,
    framing: Framing,
) {
    match (framing, shared) {
        (Framing::V3Base64, _) => {
            let mut text = b"b4".to_vec();
            crate::packet::encode_base64(b, &mut text);
            enc.message(OpCode::Text, &[&text], compress, out);
        }
        (Framing::V3, _) => enc.message(OpCode::Binary, &[&[4], b], compress, out),
        (Framing::V4, Some(m)) => enc.shared(OpCode::Binary, &[b], compress, m.deflated(), out),
        (Framing::V4, None) => enc.message(OpCode::Binary, &[b], compress, out),
    }
}

/// Whether a queued packet can be written by another connection's thread to a lent stream
/// (see `Socket::send`): all but the close, which ends the connection.
pub(crate) fn frames_plainly(p: &Outgoing) -> bool {
    !matches!(p, Outgoing::Close)
}

/// Frames a packet as a v4 connection without compression does (a lent stream's: see
/// `Socket::send`).
pub(crate) fn frame_plain(out: &mut BytesMut, p: &Outgoing) {
    frame(&mut Encoder::new(), out, p, Framing::V4);
}

// Packed into 24 bytes: every idle connection's task holds one.
pub(crate) struct Eio<H: Handler> {
    shared: Arc<Shared<H>>,
    socket: Arc<Socket<H::Data>>,
    /// The upgrade being probed (see [`Phase`]); 0 once the session runs here (upgrade
    /// numbers start at 1).
    probe: u32,
    version: ProtocolVersion,
    /// Whether the stream may be lent to other connections' handlers now (see
    /// `Socket::send`): set when the task parks, cleared when it takes the stream back.
    lent: bool,
    /// Whether the session has the stream's descriptor (given with the first loan).
    fd_given: bool,
}

impl<H: Handler> Eio<H> {
    pub(crate) fn new(shared: Arc<Shared<H>>, socket: Arc<Socket<H::Data>>, phase: Phase) -> Self {
        Eio {
            version: socket.protocol(),
            shared,
            socket,
            probe: match phase {
                Phase::Probe(id) => id,
                Phase::Open => 0,
            },
            lent: false,
            fd_given: false,
        }
    }

    fn phase(&self) -> Phase {
        match self.probe {
            0 => Phase::Open,
            id => Phase::Probe(id),
        }
    }

    fn framing(&self) -> Framing {
        match self.version {
            ProtocolVersion::V3 if self.socket.b64.load(std::sync::atomic::Ordering::Relaxed) => {
                Framing::V3Base64
            }
            ProtocolVersion::V3 => Framing::V3,
            _ => Framing::V4,
        }
    }

    #[cold]
    fn poll_end_slow(&mut self, cx: &mut Context<'_>, unwritten: bool) -> Option<Exit> {
        match self.phase() {
            Phase::Probe(id) => {
                // Ends when the upgrade is aborted (its timeout, the session's close).
                let mut st = self.socket.state.lock();
                if !st.session.upgrade_is(id) {
                    return Some(Exit::Done(Some(1000)));
                }
                if !st.probe.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    st.probe = Some(cx.waker().clone());
                }
                None
            }
            Phase::Open => {
                // A client that does not read what is left (its receive window stays shut)
                // gets the machine's flush deadline to take it; then the connection ends
                // without it.
                let mut st = self.socket.state.lock();
                if st.session.flush_expired() || (!unwritten && st.session.outbox.is_empty()) {
                    return Some(Exit::Done(Some(1000)));
                }
                if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    st.waker = Some(cx.waker().clone());
                }
                None
            }
        }
    }

    fn on_probe_packet(&mut self, id: u32, packet: &Packet, wbuf: &mut BytesMut) -> Option<Exit> {
        match self.socket.on_probe_packet(id, packet) {
            ProbeStep::Answer => {
                ws::encode_frame(OpCode::Text, b"3probe", wbuf);
                None
            }
            ProbeStep::Upgraded => {
                // The frames after `5` are the session's: handled in this same batch.
                self.probe = 0;
                self.shared.handler.on_upgrade(&self.socket);
                None
            }
            ProbeStep::Abort => Some(Exit::Done(Some(1000))),
        }
    }
}

impl<H: Handler> Upper for Eio<H> {
    type Flag = Socket<H::Data>;

    #[inline]
    fn flag(&self) -> &Arc<Self::Flag> {
        &self.socket
    }

    #[inline]
    fn max_unwritten(&self) -> usize {
        self.shared.config.max_queued_bytes
    }

    #[inline]
    fn on_message(&mut self, msg: Message, _: &mut Encoder, wbuf: &mut BytesMut) -> Option<Exit> {
        crate::metrics::received(TransportKind::Websocket, 1, 0);
        let packet = match msg {
            Message::Text(t) => Packet::decode_text(t, false),
            Message::Binary(b) => Packet::decode_binary(b, self.version),
            _ => return None,
        };
        let Ok(packet) = packet else {
            return Some(Exit::Parse);
        };
        let Phase::Probe(id) = self.phase() else {
            return match packet {
                Packet::Message(m) => {
                    self.shared.handler.on_message(&self.socket, m);
                    None
                }
                Packet::Binary(b) => {
                    self.shared.handler.on_binary(&self.socket, b);
                    None
                }
                // A v3 pong, if any, is queued and goes out with this wake-up's write.
                other => match self
                    .socket
                    .on_packet(Via::Websocket, &other, &self.shared.timing)
                {
                    None => None,
                    Some(DisconnectReason::TransportClose) => Some(Exit::Done(Some(1000))),
                    Some(_) => Some(Exit::Done(Some(1002))),
                },
            };
        };
        self.on_probe_packet(id, &packet, wbuf)
    }

    #[inline]
    fn paused(&self) -> bool {
        self.probe == 0 && self.socket.is_reading_paused()
    }

    #[inline]
    fn reading_allowed(&self, cx: &mut Context<'_>) -> bool {
        self.probe != 0 || self.socket.poll_reading(cx).is_ready()
    }

    #[inline]
    fn running(&self) -> Option<RunningGuard> {
        // During an upgrade the waker belongs to the waiting poll: leave it alone.
        (self.probe == 0).then(|| RunningGuard::enter(&self.socket))
    }

    type Taken = Queue;

    #[inline]
    fn poll_take(&mut self, cx: &mut Context<'_>, wbuf: &mut BytesMut) -> Option<Queue> {
        if self.probe != 0 {
            // During an upgrade the queue is the polling transport's.
            return None;
        }
        let mut taken = Queue::new();
        let ready = self.socket.poll_take(cx, &mut taken, wbuf).is_ready();
        if ready {
            // Taking the queue took the stream back.
            self.lent = false;
        }
        ready.then_some(taken)
    }

    #[inline]
    fn lend(&mut self, io: &Stream, enc: &Encoder) {
        // Only the session's own transport, framed the plain v4 way, on TCP.
        if self.lent || self.probe != 0 || self.version != ProtocolVersion::V4 {
            return;
        }
        if enc.is_deflating() {
            return;
        }
        if self.fd_given {
            self.socket.lend(None);
            self.lent = true;
        } else if let Some(fd) = io.lendable_fd() {
            self.socket.lend(Some(fd));
            self.lent = true;
            self.fd_given = true;
        }
    }

    #[inline]
    fn reclaim(&mut self, wbuf: &mut BytesMut) {
        if std::mem::take(&mut self.lent) {
            self.socket.reclaim(wbuf);
        }
    }

    #[inline]
    fn frame(&self, taken: Queue, enc: &mut Encoder, out: &mut BytesMut) {
        let framing = self.framing();
        let start = out.len();
        for p in &taken {
            frame(enc, out, p, framing);
        }
        // Counted as framed (what the connection writes next): one count per wake-up.
        let bytes = (out.len() - start) as u64;
        crate::metrics::sent(TransportKind::Websocket, taken.len() as u64, bytes);
    }

    #[inline]
    fn poll_end(&mut self, cx: &mut Context<'_>, unwritten: bool) -> Option<Exit> {
        // Every pass of every connection comes here: the open, live session is the one
        // checked inline.
        if self.probe == 0 && !self.socket.is_closed() {
            return None;
        }
        self.poll_end_slow(cx, unwritten)
    }

    fn on_exit(&mut self, exit: Exit) {
        if let Phase::Probe(id) = self.phase() {
            // The session goes on over polling.
            tracing::debug!(sid = %self.socket.sid(), "upgrade aborted: {exit:?}");
            self.socket.upgrade_ended(id);
            return;
        }
        let reason = match exit {
            Exit::Done(_) => return,
            Exit::PeerClosed | Exit::Io => DisconnectReason::TransportClose,
            Exit::Protocol(_) => DisconnectReason::TransportError,
            Exit::Parse => DisconnectReason::ParseError,
        };
        self.socket.close(reason);
    }
}

impl<H: Handler> Drop for Eio<H> {
    fn drop(&mut self) {
        // However the task ends (an abort, the runtime's shutdown), no one writes to its
        // stream once it is gone (the connection drops this before its stream).
        if self.lent {
            self.socket.end_lending();
        }
    }
}
