//! One WebSocket connection, driven by a hand-written poll loop in one task: the stream, the
//! frame codec, the control frames and the close handshake. What the messages mean is the
//! [`Upper`] layer's: an Engine.IO session (`eio.rs`) or a plain echo (`echo.rs`, for the
//! Autobahn conformance suite, which so tests this very code).
//!
//! Each wake-up takes everything queued for the peer, frames it into one buffer and writes it
//! with one call; reads go to a buffer owned by the worker thread, so an idle connection holds
//! no read buffer (only the bytes of an incomplete frame stay with it). That holds for every
//! stream, not only a plain TCP one (TLS, a custom listener).
//!
//! A task that parks with nothing unwritten on a plain TCP stream lends the stream
//! ([`Upper::lend`]): what other connections' handlers send to it meanwhile is written by
//! their own thread when they are done, without waking this task (see `Socket::send`). The
//! task takes the stream back before it writes anything: with the queue it takes, or with
//! [`Upper::reclaim`] for bytes of its own; either waits, on the session's lock, for a write
//! under way, and the rest of that write goes first.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Wake, Waker};

use bytes::{Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use crate::socket::{RunningGuard, TransportKind};
use crate::ws::{self, Decoder, Encoder, Message, OpCode};

thread_local! {
    /// Each worker thread frames outgoing packets here and writes them from here, so a
    /// connection keeps a buffer only for what the kernel did not take.
    static SCRATCH: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
    /// Each worker thread reads here: a connection keeps a read buffer only for a frame that
    /// is not complete yet, and a read allocates nothing but the messages it completes.
    static READ_BUF: std::cell::Cell<BytesMut> = std::cell::Cell::new(BytesMut::new());
}

/// The size of a thread's read buffer.
const READ_CHUNK: usize = 64 << 10;

/// Runs `f` with the thread's framing buffer, emptied (a buffer of its own if the thread's
/// is in use further up the stack).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut BytesMut) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            scratch.clear();
            let r = f(&mut scratch);
            if scratch.capacity() > 1 << 20 {
                *scratch = BytesMut::new();
            }
            r
        }
        Err(_) => f(&mut BytesMut::new()),
    })
}

/// Appends a close frame with `code` and `reason` (`None`: a close frame without a status
/// code, which the peer sees as 1005).
pub(crate) fn encode_close(code: Option<u16>, reason: &[u8], out: &mut BytesMut) {
    match code {
        None => ws::encode_frame(OpCode::Close, b"", out),
        // A reason comes from a received close frame, checked to be UTF-8 then.
        Some(code) => ws::encode_close(code, std::str::from_utf8(reason).unwrap_or_default(), out),
    }
}

/// Why a connection's loop ended. Small (it is returned through the whole read path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The upper layer is done with the connection: close with this code (`None`: a close
    /// frame without one).
    Done(Option<u16>),
    /// The peer sent a close frame; its echo (its code and reason, as RFC 6455 asks) is
    /// already in the write buffer.
    PeerClosed,
    /// EOF or an I/O error: no close frame.
    Io,
    /// A WebSocket protocol error, with its close code.
    Protocol(u16),
    /// The upper layer refused a message (an invalid Engine.IO packet): 1002.
    Parse,
}

impl Exit {
    /// The close frame to end with, unless there is none or it is written already.
    fn close_code(self) -> Option<Option<u16>> {
        match self {
            Exit::Done(code) => Some(code),
            Exit::PeerClosed | Exit::Io => None,
            Exit::Protocol(code) => Some(Some(code)),
            Exit::Parse => Some(Some(1002)),
        }
    }
}

/// The flag a connection's read waker sets (see [`ReadWake`]).
pub(crate) trait ReadFlag: Send + Sync + 'static {
    fn readable(&self) -> &AtomicBool;
}

impl ReadFlag for AtomicBool {
    fn readable(&self) -> &AtomicBool {
        self
    }
}

/// What a connection carries: the layer above the frames.
pub(crate) trait Upper {
    type Flag: ReadFlag;

    /// The flag the read waker sets, beside the state each wake-up reads anyway.
    fn flag(&self) -> &Arc<Self::Flag>;
    /// The most bytes left unwritten before the peer stops being read.
    fn max_unwritten(&self) -> usize;
    /// A text or binary message arrived. `wbuf` is written before anything taken later;
    /// `enc` frames data messages (compressed when agreed).
    fn on_message(&mut self, msg: Message, enc: &mut Encoder, wbuf: &mut BytesMut) -> Option<Exit>;
    /// Whether the frames still in the buffer must wait (reading is paused).
    fn paused(&self) -> bool;
    /// Whether the peer's frames may be handled now; otherwise `cx` is woken when they may.
    fn reading_allowed(&self, cx: &mut Context<'_>) -> bool;
    /// Marks the handlers that run while a batch of frames is handled (see `RunningGuard`).
    fn running(&self) -> Option<RunningGuard>;
    /// What [`Upper::poll_take`] takes from the layer's queue.
    type Taken;
    /// Takes everything queued for the peer, if anything; `cx` is woken when more is queued.
    /// `wbuf` (empty) gets bytes that must go before what is taken (what another thread's
    /// write to the lent stream left: see [`Upper::lend`]).
    fn poll_take(&mut self, cx: &mut Context<'_>, wbuf: &mut BytesMut) -> Option<Self::Taken>;
    /// Frames what was taken into `out`, data messages with `enc`.
    fn frame(&self, taken: Self::Taken, enc: &mut Encoder, out: &mut BytesMut);
    /// After each pass: whether the connection ends now (`unwritten`: bytes the peer has not
    /// taken yet); `cx` is woken for what it waits on.
    fn poll_end(&mut self, cx: &mut Context<'_>, unwritten: bool) -> Option<Exit>;
    /// The loop ended: report it (to the session).
    fn on_exit(&mut self, exit: Exit);
    /// The task parks with nothing unwritten: other threads may write what is queued for
    /// the peer to `io` until the task takes it back (`enc`: whether messages are compressed,
    /// which only the task can do). The default lends nothing.
    fn lend(&mut self, io: &Stream, enc: &Encoder) {
        let _ = (io, enc);
    }
    /// Before the task writes bytes of its own (not taken by [`Upper::poll_take`]): takes the
    /// stream back, the rest of another thread's write put before `wbuf`'s contents.
    fn reclaim(&mut self, wbuf: &mut BytesMut) {
        let _ = wbuf;
    }
}

/// The stream of a connection: a plain TCP stream when hyper hands one over (the common case,
/// read and written without tokio's extra layers where it can), any other IO otherwise.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Other(Box<TokioIo<hyper::upgrade::Upgraded>>),
}

impl Stream {
    /// The descriptor a task may lend (see [`Upper::lend`]): a plain TCP stream's, on Linux.
    pub(crate) fn lendable_fd(&self) -> Option<i32> {
        match self {
            #[cfg(target_os = "linux")]
            Stream::Tcp(s) => Some(std::os::fd::AsRawFd::as_raw_fd(s)),
            _ => None,
        }
    }

    /// A WebSocket's TCP stream, with Nagle's algorithm off, as Node's `ws` turns it off for
    /// every WebSocket (`setNoDelay`). Whoever accepted the connection may have left it on
    /// (`axum::serve` does by default): then a frame written while the client has not yet
    /// acknowledged the one before waits for that acknowledgement, up to the client's delayed
    /// ACK (40 ms or more on Linux), which is what a client receiving a stream of updates
    /// without answering them does.
    fn tcp(stream: TcpStream) -> Stream {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on a WebSocket: {e}");
        }
        Stream::Tcp(stream)
    }

    /// The stream of an upgraded request, and the bytes hyper read past the request.
    ///
    /// The TCP stream is found when hyper's own connection served the request
    /// (`sockeye::serve`), and when hyper-util's automatic HTTP/1-or-2 connection did, as
    /// `axum::serve` does: that one wraps the stream in a type of its own, which only its
    /// `downcast` sees through.
    pub(crate) fn from_upgraded(upgraded: hyper::upgrade::Upgraded) -> (Stream, Bytes) {
        let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => return (Stream::tcp(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => upgraded,
        };
        match hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<TcpStream>>(upgraded) {
            Ok(parts) => (Stream::tcp(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => (
                Stream::Other(Box::new(TokioIo::new(upgraded))),
                Bytes::new(),
            ),
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => {
                // Wait for readability before reserving, so an idle connection holds no buffer.
                ready!(s.poll_read_ready(cx))?;
                if buf.capacity() - buf.len() < 1024 {
                    buf.reserve(4096);
                }
                // tokio's own read marks the socket drained after a short read, which saves
                // the extra read that would only return EAGAIN.
                match tokio_util::io::poll_read_buf(Pin::new(s), cx, buf) {
                    Poll::Pending => {
                        if buf.is_empty() {
                            *buf = BytesMut::new();
                        }
                        Poll::Pending
                    }
                    r => r,
                }
            }
            // Only a connection with an incomplete frame reads here (see `poll_read_shared`).
            Stream::Other(s) => {
                if buf.capacity() - buf.len() < 1024 {
                    buf.reserve(4096);
                }
                tokio_util::io::poll_read_buf(Pin::new(&mut **s), cx, buf)
            }
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => {
                // A plain `send` first: tokio's write would check (and so load) the stream's
                // readiness and take from the task's budget before the same system call. Only
                // a full socket buffer needs tokio, to wait for room.
                #[cfg(target_os = "linux")]
                match socket2::SockRef::from(&*s).send_with_flags(data, libc::MSG_NOSIGNAL) {
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    done => return Poll::Ready(done),
                }
                Pin::new(s).poll_write(cx, data)
            }
            Stream::Other(s) => Pin::new(&mut **s).poll_write(cx, data),
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Other(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }

    /// Writes what is left in `wbuf` (its close frame last), as far as the stream takes it
    /// now, and closes the stream: a peer whose receive window is full does not get to hold
    /// the task.
    pub(crate) fn close_now(&mut self, cx: &mut Context<'_>, wbuf: &mut BytesMut) {
        while !wbuf.is_empty() {
            match self.poll_write(cx, wbuf) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    let _ = wbuf.split_to(n);
                }
                _ => break,
            }
        }
        let _ = self.poll_shutdown(cx);
    }
}

/// The waker a connection's reads leave with its stream: it sets the upper layer's flag, then
/// wakes the task. A wake-up can then tell a readable stream from a sender's queue by a flag
/// (of the session, which it reads anyway) instead of loading the stream's readiness, a line
/// of its own that is cold when a broadcast wakes thousands of connections.
struct ReadWake<F> {
    flag: Arc<F>,
    task: Waker,
}

impl<F: ReadFlag> Wake for ReadWake<F> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.flag.readable().store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

// The fields a wake-up reads come first, in the order it reads them, so that they span as few
// cache lines as they can (with many connections they are cold each time); the decoder and
// the read waker are read only when there is something to read.
#[repr(C)]
pub(crate) struct Conn<U> {
    /// Declared before `io`, so dropped first: the upper layer ends a loan of the stream
    /// (see [`Upper::lend`]) before the stream closes.
    pub(crate) upper: U,
    io: Stream,
    pub(crate) wbuf: BytesMut,
    rbuf: BytesMut,
    encoder: Encoder,
    /// Whether the read buffer holds frames not yet handled (read with the handshake, or
    /// left while reading was paused).
    resume: bool,
    /// Whether the last shared read ended `Pending`: the stream then holds its `ReadWake`
    /// until it turns readable, and a wake-up that finds the flag unset (one that came from
    /// a sender) need not try to read.
    read_armed: bool,
    decoder: Decoder,
    /// The waker the shared reads register with the stream (made at the first one), and
    /// the task waker it was made for.
    read_wake: Option<(Waker, Waker)>,
}

impl<U: Upper> Conn<U> {
    pub(crate) fn new(
        upper: U,
        (io, pre_read): (Stream, Bytes),
        (decoder, encoder): (Decoder, Encoder),
    ) -> Self {
        Conn {
            upper,
            io,
            resume: !pre_read.is_empty(),
            rbuf: BytesMut::from(&pre_read[..]),
            wbuf: BytesMut::new(),
            decoder,
            encoder,
            read_armed: false,
            read_wake: None,
        }
    }

    /// Runs the connection to its end: reports the end to the upper layer, then closes.
    pub(crate) async fn run(&mut self) {
        poll_fn(|cx| self.poll_to_end(cx)).await;
    }

    /// Polls the connection to its end: reports the end to the upper layer, then closes.
    // One poll function for the whole life, the close included (it does not wait).
    pub(crate) fn poll_to_end(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let exit = ready!(self.poll_run(cx));
        // What another thread's write left goes before the close frame.
        self.upper.reclaim(&mut self.wbuf);
        self.upper.on_exit(exit);
        if exit != Exit::Io {
            if let Some(code) = exit.close_code() {
                encode_close(code, b"", &mut self.wbuf);
            }
            self.io.close_now(cx, &mut self.wbuf);
        }
        Poll::Ready(())
    }

    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Exit> {
        let max_unwritten = self.upper.max_unwritten();
        let mut budget = 64u32;
        // Whether the queue was taken (and the waker registered) since handlers last ran: then
        // only another task can have queued, and it wakes this one.
        let mut taken_clean = false;
        loop {
            let mut progress = false;
            // Frames left in the buffer (with the handshake, or when reading was paused) go
            // first, once reading is allowed.
            if self.resume && self.upper.reading_allowed(cx) {
                self.resume = false;
                if let Some(exit) = self.decode_all() {
                    return Poll::Ready(exit);
                }
                progress = true;
                taken_clean = false;
            }
            // Read first: the replies its handlers queue go out with the write below.
            // A client that does not read its replies (pongs, acks) stops being read.
            // A handler that paused reading (too much of this client's work in flight) keeps
            // the messages in the kernel's buffers until it resumes.
            if self.wbuf.len() < max_unwritten && self.upper.reading_allowed(cx) {
                let read = if self.rbuf.is_empty() {
                    self.poll_read_shared(cx)
                } else {
                    // This read registers the task's own waker, which sets no flag.
                    self.read_armed = false;
                    match self.io.poll_read(cx, &mut self.rbuf) {
                        Poll::Ready(Ok(0)) => Poll::Ready(Err(Exit::Io)),
                        Poll::Ready(Err(_)) => Poll::Ready(Err(Exit::Io)),
                        Poll::Ready(Ok(n)) => {
                            crate::metrics::received(TransportKind::Websocket, 0, n as u64);
                            Poll::Ready(self.decode_all().map_or(Ok(()), Err))
                        }
                        Poll::Pending => Poll::Pending,
                    }
                };
                match read {
                    Poll::Ready(Ok(())) => {
                        progress = true;
                        taken_clean = false;
                    }
                    Poll::Ready(Err(exit)) => return Poll::Ready(exit),
                    Poll::Pending => {}
                }
            }
            let taken = if self.wbuf.is_empty() && !std::mem::replace(&mut taken_clean, true) {
                self.upper.poll_take(cx, &mut self.wbuf)
            } else {
                None
            };
            let taken = match taken {
                Some(taken) if !self.wbuf.is_empty() => {
                    // The rest of a write to the lent stream goes first: frame behind it.
                    self.upper.frame(taken, &mut self.encoder, &mut self.wbuf);
                    None
                }
                taken => taken,
            };
            if let Some(taken) = taken {
                // One write for everything queued since the last wake-up.
                let (upper, io, wbuf) = (&self.upper, &mut self.io, &mut self.wbuf);
                let encoder = &mut self.encoder;
                let failed = with_scratch(|scratch| {
                    upper.frame(taken, encoder, scratch);
                    let mut off = 0;
                    let mut failed = false;
                    while off < scratch.len() {
                        match io.poll_write(cx, &scratch[off..]) {
                            Poll::Ready(Ok(n)) if n > 0 => off += n,
                            Poll::Ready(_) => {
                                failed = true;
                                break;
                            }
                            Poll::Pending => break,
                        }
                    }
                    if !failed && off < scratch.len() {
                        wbuf.extend_from_slice(&scratch[off..]);
                    }
                    failed
                });
                if failed {
                    return Poll::Ready(Exit::Io);
                }
            } else if !self.wbuf.is_empty() {
                // Bytes of its own (a pong, a close's echo, an earlier write's rest): the
                // stream must not be lent while they go out.
                self.upper.reclaim(&mut self.wbuf);
                match self.io.poll_write(cx, &self.wbuf) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Exit::Io),
                    Poll::Ready(Ok(n)) => {
                        progress = true;
                        if n == self.wbuf.len() {
                            // Idle connections keep no write buffer.
                            self.wbuf = BytesMut::new();
                        } else {
                            let _ = self.wbuf.split_to(n);
                        }
                    }
                    Poll::Pending => {}
                }
            }
            if let Some(exit) = self.upper.poll_end(cx, !self.wbuf.is_empty()) {
                return Poll::Ready(exit);
            }
            // Nothing was read: the queue was written and the waker is registered with the
            // queue and the stream.
            if !progress {
                if self.wbuf.is_empty() {
                    self.upper.lend(&self.io, &self.encoder);
                }
                return Poll::Pending;
            }
            budget -= 1;
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Reads into the thread's buffer and handles every whole frame there; what is left of
    /// an incomplete frame moves to the connection's own buffer, which later reads fill
    /// until it is empty again.
    fn poll_read_shared(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Exit>> {
        if let Stream::Tcp(_) = self.io {
            // The waker of the last `Pending` read is still with the stream (only its
            // readiness event takes it, through `ReadWake`, which sets the flag): without the
            // flag, this wake-up came from elsewhere and a read would only end `Pending` again.
            let flag = self.upper.flag().readable();
            if flag.load(Ordering::Acquire) {
                flag.store(false, Ordering::Release);
            } else if self.read_armed {
                return Poll::Pending;
            }
        }
        let mut buf = READ_BUF.with(std::cell::Cell::take);
        buf.clear();
        // Reuses the same memory: messages are copied out of it, never split off.
        buf.reserve(READ_CHUNK);
        let read = match &mut self.io {
            Stream::Tcp(stream) => {
                let read_wake = match &self.read_wake {
                    Some((task, wake)) if task.will_wake(cx.waker()) => wake,
                    _ => {
                        let task = cx.waker().clone();
                        let wake = Waker::from(Arc::new(ReadWake {
                            flag: self.upper.flag().clone(),
                            task: task.clone(),
                        }));
                        &self.read_wake.insert((task, wake)).1
                    }
                };
                let read = tokio_util::io::poll_read_buf(
                    Pin::new(stream),
                    &mut Context::from_waker(read_wake),
                    &mut buf,
                );
                self.read_armed = read.is_pending();
                read
            }
            // Any other stream is read with the task's own waker, every time: a wrapper may
            // register the waker of a write for reading too (TLS does), so a flag set only by
            // the read's waker could miss a readable stream. `AsyncRead` leaves a buffer's
            // contents alone when it returns `Pending`, so the thread's buffer serves here as
            // well.
            Stream::Other(stream) => {
                self.read_armed = false;
                tokio_util::io::poll_read_buf(Pin::new(&mut **stream), cx, &mut buf)
            }
        };
        let out = match read {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => Poll::Ready(Err(Exit::Io)),
            Poll::Ready(Err(_)) => Poll::Ready(Err(Exit::Io)),
            Poll::Ready(Ok(n)) => {
                crate::metrics::received(TransportKind::Websocket, 0, n as u64);
                let exit = self.handle_frames(&mut buf, true);
                // An incomplete frame, or the frames left while reading is paused.
                if !buf.is_empty() {
                    self.rbuf.extend_from_slice(&buf);
                }
                Poll::Ready(exit.map_or(Ok(()), Err))
            }
        };
        buf.clear();
        READ_BUF.with(|cell| cell.set(buf));
        out
    }

    /// Decodes and handles every whole frame in the connection's read buffer.
    fn decode_all(&mut self) -> Option<Exit> {
        let mut rbuf = std::mem::take(&mut self.rbuf);
        let exit = self.handle_frames(&mut rbuf, false);
        // An empty buffer is freed: idle connections keep none.
        if !rbuf.is_empty() {
            self.rbuf = rbuf;
        }
        exit
    }

    /// Decodes and handles every whole frame in `buf`, leaving an incomplete one there;
    /// `copy` copies each payload out instead of splitting it off (see
    /// [`Decoder::decode_copied`]).
    fn handle_frames(&mut self, buf: &mut BytesMut, copy: bool) -> Option<Exit> {
        // Replies queued by the handlers are written by this same poll (the loop takes the
        // queue after reading), so they must not wake the task a second time.
        let _running = self.upper.running();
        loop {
            // Paused by the handler: the other frames wait in the buffer.
            if self.upper.paused() && !buf.is_empty() {
                self.resume = true;
                return None;
            }
            let decoded = if copy {
                self.decoder.decode_copied(buf)
            } else {
                self.decoder.decode(buf)
            };
            let msg = match decoded {
                Ok(Some(m)) => m,
                Ok(None) => return None,
                Err(e) => return Some(Exit::Protocol(e.code)),
            };
            match msg {
                Message::Ping(p) => ws::encode_frame(OpCode::Pong, &p, &mut self.wbuf),
                Message::Pong(_) => {}
                Message::Close(frame) => {
                    match frame {
                        Some(f) => encode_close(Some(f.code), &f.reason, &mut self.wbuf),
                        None => encode_close(None, b"", &mut self.wbuf),
                    }
                    return Some(Exit::PeerClosed);
                }
                data => {
                    if let Some(exit) =
                        self.upper
                            .on_message(data, &mut self.encoder, &mut self.wbuf)
                    {
                        return Some(exit);
                    }
                }
            }
        }
    }
}
