//! The WebSocket transport: one task per connection, driven by a hand-written poll loop.
//!
//! The task owns the TCP stream. Each wake-up it takes everything queued for the session,
//! frames it into one buffer and writes it with one call; it reads into a buffer that is freed
//! whenever no partial frame is pending, so an idle connection holds no read buffer.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Wake, Waker};

use bytes::{BufMut, Bytes, BytesMut};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use crate::engine::{Engine, EngineBody, Handler};
use crate::errors::HttpError;
use crate::packet::{Packet, ProtocolVersion};
use crate::payload::Outgoing;
use crate::socket::{DisconnectReason, Queue, RequestInfo, RunningGuard, Socket, TransportKind};
use crate::transport::polling;
use crate::ws::{self, Decoder, Limits, Message, OpCode};

/// Validates an upgrade request, answers 101 and spawns the connection's task.
pub(crate) fn accept<H: Handler, B>(
    engine: &Engine<H>,
    mut req: Request<B>,
    version: ProtocolVersion,
    b64: bool,
    existing: Option<Arc<Socket<H::Data>>>,
) -> Result<Response<EngineBody>, HttpError> {
    let accept = match ws::validate_upgrade(req.headers()) {
        Ok(a) => a,
        Err(ws::HandshakeError::UnsupportedVersion) => {
            let mut res = Response::new(Full::default());
            *res.status_mut() = StatusCode::UPGRADE_REQUIRED;
            res.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return Ok(res);
        }
        Err(_) => return Err(HttpError::BadRequest),
    };
    if let Some(socket) = &existing {
        let mut st = socket.state.lock();
        if st.upgrading
            || st.upgraded
            || socket.is_closed()
            || socket.transport() == TransportKind::Websocket
        {
            return Err(HttpError::BadRequest);
        }
        st.upgrading = true;
    }
    let info = Arc::new(RequestInfo::from_request(&req));
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(task(
        engine.clone(),
        on_upgrade,
        info,
        version,
        b64,
        existing,
    ));
    let mut res = Response::new(Full::default());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(res)
}

/// The connection's task: waits for hyper to hand over the stream, then runs the session.
async fn task<H: Handler>(
    engine: Engine<H>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    info: Arc<RequestInfo>,
    version: ProtocolVersion,
    b64: bool,
    existing: Option<Arc<Socket<H::Data>>>,
) {
    let _live = engine.live_task();
    let stream = match on_upgrade.await {
        Ok(upgraded) => Stream::from_upgraded(upgraded),
        Err(e) => {
            tracing::debug!("websocket upgrade failed: {e}");
            if let Some(s) = existing {
                s.state.lock().upgrading = false;
            }
            return;
        }
    };
    if let Some(socket) = existing {
        // Boxed: the rare path should not grow every connection's task.
        return Box::pin(upgrade(engine, stream, socket)).await;
    }
    let socket = engine.create_session(info, version, TransportKind::Websocket);
    socket.b64.store(b64, std::sync::atomic::Ordering::Relaxed);
    let mut conn = Conn::new(&engine, stream, socket.clone(), Phase::Open);
    conn.write_open_packet();
    engine.handler().on_connect(&socket);
    engine.refuse_if_closing(&socket);
    drop(socket);
    conn.run().await;
}

/// Runs the probe phase of an upgrade from polling, then the connection.
async fn upgrade<H: Handler>(
    engine: Engine<H>,
    stream: (Stream, Bytes),
    socket: Arc<Socket<H::Data>>,
) {
    let mut conn = Conn::new(&engine, stream, socket.clone(), Phase::Probe);
    let timeout = engine.config().upgrade_timeout;
    let probe = poll_fn(|cx| conn.poll_run(cx));
    match tokio::time::timeout(timeout, probe).await {
        Ok(Exit::Upgraded) => {}
        other => {
            tracing::debug!(sid = %socket.sid(), "upgrade aborted: {other:?}");
            socket.state.lock().upgrading = false;
            conn.shutdown(1000).await;
            return;
        }
    }
    conn.phase = Phase::Open;
    // Frames that came in the same read as `5` wait in the buffer: handle them first.
    conn.resume = true;
    conn.run().await;
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Upgrading from polling: only `2probe` and `5` are allowed; the queue still belongs to
    /// the polling transport.
    Probe,
    /// The session's transport.
    Open,
}

#[derive(Debug)]
enum Exit {
    /// The probe phase ended with `5`.
    Upgraded,
    /// The session was closed by the server (already reported).
    Closed,
    /// The peer closed (EOF, close frame or close packet).
    PeerClosed,
    /// An I/O error.
    Io,
    /// A WebSocket protocol error, with its close code.
    Protocol(u16),
    /// An invalid Engine.IO packet.
    Parse,
}

enum Stream {
    Tcp(TcpStream),
    Other(Box<TokioIo<hyper::upgrade::Upgraded>>),
}

impl Stream {
    fn from_upgraded(upgraded: hyper::upgrade::Upgraded) -> (Stream, Bytes) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Stream::Tcp(parts.io.into_inner()), parts.read_buf),
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
            Stream::Other(s) => {
                buf.reserve(4096);
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
}

// Every field is read on every wake-up: kept small and in order, so the connection's state
// spans as few cache lines as it can (with many connections they are cold each time).
#[repr(C)]
struct Conn<H: Handler> {
    engine: Engine<H>,
    socket: Arc<Socket<H::Data>>,
    io: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    decoder: Decoder,
    phase: Phase,
    /// Whether `2probe` was answered (the probe phase only).
    probed: bool,
    /// Whether the read buffer holds frames not yet handled (after the upgrade, or while
    /// reading was paused).
    resume: bool,
    /// Whether the last shared read ended `Pending`: the stream then holds its `ReadWake`
    /// until it turns readable, and a wake-up that finds the session's `readable` flag unset
    /// (one that came from a sender) need not try to read.
    read_armed: bool,
    version: ProtocolVersion,
    /// The waker the shared reads register with the stream (made at the first one), and
    /// the task waker it was made for.
    read_wake: Option<(Waker, Waker)>,
    /// When a closed session's connection stops waiting for its client to take the rest.
    flush_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The waker a connection's reads leave with its stream: it marks the session readable, then
/// wakes the task. A wake-up can then tell a readable stream from a sender's queue by a flag
/// of the session (which it reads anyway) instead of loading the stream's readiness, a line
/// of its own that is cold when a broadcast wakes thousands of connections.
struct ReadWake<D> {
    socket: Arc<Socket<D>>,
    task: Waker,
}

impl<D: Send + Sync + 'static> Wake for ReadWake<D> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.socket.readable.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
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

/// Frames one queued packet for the wire.
fn frame(out: &mut BytesMut, p: &Outgoing, framing: Framing) {
    match p {
        Outgoing::Binary(b) if framing == Framing::V3Base64 => {
            let mut text = b"b4".to_vec();
            crate::packet::encode_base64(b, &mut text);
            ws::encode_frame(OpCode::Text, &text, out);
        }
        Outgoing::Message(b) => {
            ws::encode_header(OpCode::Text, b.len() + 1, true, out);
            out.put_u8(b'4');
            out.extend_from_slice(b);
        }
        Outgoing::Binary(b) => {
            if framing == Framing::V3 {
                ws::encode_header(OpCode::Binary, b.len() + 1, true, out);
                out.put_u8(4);
            } else {
                ws::encode_header(OpCode::Binary, b.len(), true, out);
            }
            out.extend_from_slice(b);
        }
        Outgoing::Ping => ws::encode_frame(OpCode::Text, b"2", out),
        Outgoing::Pong => ws::encode_frame(OpCode::Text, b"3", out),
        Outgoing::Noop => ws::encode_frame(OpCode::Text, b"6", out),
        // The WebSocket close frame ends the session instead.
        Outgoing::Close => {}
    }
}

impl<H: Handler> Conn<H> {
    fn new(
        engine: &Engine<H>,
        (io, pre_read): (Stream, Bytes),
        socket: Arc<Socket<H::Data>>,
        phase: Phase,
    ) -> Self {
        let config = engine.config();
        Conn {
            engine: engine.clone(),
            version: socket.protocol(),
            socket,
            io,
            rbuf: BytesMut::from(&pre_read[..]),
            wbuf: BytesMut::new(),
            decoder: Decoder::new(Limits {
                max_message_size: config.max_payload,
                max_fragments: config.max_ws_fragments,
            }),
            phase,
            probed: false,
            resume: false,
            read_armed: false,
            read_wake: None,
            flush_deadline: None,
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

    fn write_open_packet(&mut self) {
        let mut open = b"0".to_vec();
        open.extend_from_slice(
            &self
                .engine
                .open_packet(self.socket.sid(), TransportKind::Websocket),
        );
        ws::encode_frame(OpCode::Text, &open, &mut self.wbuf);
    }

    /// Runs the open connection to its end and reports the end to the session.
    async fn run(&mut self) {
        let exit = poll_fn(|cx| self.poll_run(cx)).await;
        let (reason, code) = match exit {
            Exit::Closed | Exit::Upgraded => (None, 1000),
            Exit::PeerClosed => (Some(DisconnectReason::TransportClose), 1000),
            Exit::Io => (Some(DisconnectReason::TransportClose), 1006),
            Exit::Protocol(code) => (Some(DisconnectReason::TransportError), code),
            Exit::Parse => (Some(DisconnectReason::ParseError), 1002),
        };
        if let Some(reason) = reason {
            self.socket.close(reason);
        }
        if code != 1006 {
            self.shutdown(code).await;
        }
    }

    /// Sends a close frame and closes the stream, without waiting: everything queued was
    /// already written, and a peer whose receive window is full does not get to hold the task.
    async fn shutdown(&mut self, code: u16) {
        ws::encode_close(code, "", &mut self.wbuf);
        poll_fn(|cx| {
            while !self.wbuf.is_empty() {
                match self.io.poll_write(cx, &self.wbuf) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        let _ = self.wbuf.split_to(n);
                    }
                    _ => break,
                }
            }
            let _ = self.io.poll_shutdown(cx);
            Poll::Ready(())
        })
        .await;
    }

    /// Whether the client's frames may be handled now: always while probing, otherwise unless
    /// a handler paused reading (then `cx` is woken when it resumes).
    fn reading_allowed(&self, cx: &mut Context<'_>) -> bool {
        self.phase == Phase::Probe || self.socket.poll_reading(cx).is_ready()
    }

    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Exit> {
        let max_unwritten = self.engine.config().max_queued_bytes;
        let mut budget = 64u32;
        // Whether the queue was taken (and the waker registered) since handlers last ran: then
        // only another task can have queued, and it wakes this one.
        let mut taken_clean = false;
        let mut taken = Queue::new();
        loop {
            let mut progress = false;
            // Frames left in the buffer (after an upgrade, or when reading was paused) go
            // first, once reading is allowed.
            if self.resume && self.reading_allowed(cx) {
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
            if self.wbuf.len() < max_unwritten && self.reading_allowed(cx) {
                let read = if self.rbuf.is_empty() && matches!(self.io, Stream::Tcp(_)) {
                    self.poll_read_shared(cx)
                } else {
                    // This read registers the task's own waker, which sets no flag.
                    self.read_armed = false;
                    match self.io.poll_read(cx, &mut self.rbuf) {
                        Poll::Ready(Ok(0)) => Poll::Ready(Err(Exit::PeerClosed)),
                        Poll::Ready(Err(_)) => Poll::Ready(Err(Exit::Io)),
                        Poll::Ready(Ok(_)) => Poll::Ready(self.decode_all().map_or(Ok(()), Err)),
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
            if self.wbuf.is_empty()
                && self.phase == Phase::Open
                && !std::mem::replace(&mut taken_clean, true)
                && self.socket.poll_take(cx, &mut taken).is_ready()
            {
                // One write for everything queued since the last wake-up.
                let framing = self.framing();
                let (io, wbuf) = (&mut self.io, &mut self.wbuf);
                let taken = std::mem::take(&mut taken);
                let failed = SCRATCH.with(|cell| {
                    let mut scratch = cell.borrow_mut();
                    scratch.clear();
                    for p in &taken {
                        frame(&mut scratch, p, framing);
                    }
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
                    if scratch.capacity() > 1 << 20 {
                        *scratch = BytesMut::new();
                    }
                    failed
                });
                if failed {
                    return Poll::Ready(Exit::Io);
                }
            } else if !self.wbuf.is_empty() {
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
            if self.phase == Phase::Open && self.socket.is_closed() {
                if self.wbuf.is_empty() && self.socket.state.lock().queue.is_empty() {
                    return Poll::Ready(Exit::Closed);
                }
                // A client that does not read what is left (its receive window stays shut)
                // gets `ping_timeout` to take it; then the connection ends without it.
                let timeout = self.engine.config().ping_timeout;
                let deadline = self
                    .flush_deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if deadline.as_mut().poll(cx).is_ready() {
                    tracing::debug!("closed session's client did not take its last packets");
                    return Poll::Ready(Exit::Closed);
                }
            }
            // Nothing was read: the queue was written and the waker is registered with the
            // socket, the session and the stream.
            if !progress {
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
        let Stream::Tcp(stream) = &mut self.io else {
            return Poll::Ready(Err(Exit::Io));
        };
        // The waker of the last `Pending` read is still with the stream (only its readiness
        // event takes it, through `ReadWake`, which sets `readable`): without the flag, this
        // wake-up came from elsewhere and a read would only end `Pending` again.
        if self.socket.readable.load(Ordering::Acquire) {
            self.socket.readable.store(false, Ordering::Release);
        } else if self.read_armed {
            return Poll::Pending;
        }
        let read_wake = match &self.read_wake {
            Some((task, wake)) if task.will_wake(cx.waker()) => wake,
            _ => {
                let task = cx.waker().clone();
                let wake = Waker::from(Arc::new(ReadWake {
                    socket: self.socket.clone(),
                    task: task.clone(),
                }));
                &self.read_wake.insert((task, wake)).1
            }
        };
        let mut buf = READ_BUF.with(std::cell::Cell::take);
        buf.clear();
        // Reuses the same memory: messages are copied out of it, never split off.
        buf.reserve(READ_CHUNK);
        let read = tokio_util::io::poll_read_buf(
            Pin::new(stream),
            &mut Context::from_waker(read_wake),
            &mut buf,
        );
        self.read_armed = read.is_pending();
        let out = match read {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => Poll::Ready(Err(Exit::PeerClosed)),
            Poll::Ready(Err(_)) => Poll::Ready(Err(Exit::Io)),
            Poll::Ready(Ok(_)) => {
                let exit = self.handle_frames(&mut buf, true);
                // An incomplete frame, or the frames after `5` during an upgrade.
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
        // (During an upgrade the waker belongs to the pending poll: leave it alone.)
        let _running = (self.phase == Phase::Open).then(|| RunningGuard::enter(&self.socket));
        loop {
            // Paused by the handler: the other frames wait in the buffer.
            if self.phase == Phase::Open && self.socket.is_reading_paused() && !buf.is_empty() {
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
            if let Some(exit) = self.on_message(msg) {
                return Some(exit);
            }
        }
    }

    fn on_message(&mut self, msg: Message) -> Option<Exit> {
        let packet = match msg {
            Message::Text(t) => Packet::decode_text(t, false),
            Message::Binary(b) => Packet::decode_binary(b, self.version),
            Message::Ping(p) => {
                ws::encode_frame(OpCode::Pong, &p, &mut self.wbuf);
                return None;
            }
            Message::Pong(_) => return None,
            Message::Close(_) => return Some(Exit::PeerClosed),
        };
        let Ok(packet) = packet else {
            return Some(Exit::Parse);
        };
        let socket = &self.socket;
        match (self.phase, packet) {
            (Phase::Probe, Packet::Ping(d)) if &d[..] == b"probe" => {
                self.probed = true;
                ws::encode_frame(OpCode::Text, b"3probe", &mut self.wbuf);
                polling::send_noop(socket);
                None
            }
            // `5` before the probe was answered: refused, nothing changes.
            (Phase::Probe, Packet::Upgrade) if !self.probed => Some(Exit::Parse),
            (Phase::Probe, Packet::Upgrade) => {
                let waker = {
                    let mut st = socket.state.lock();
                    if socket.is_closed() {
                        return Some(Exit::Closed);
                    }
                    st.upgraded = true;
                    st.upgrading = false;
                    // Noops were for the polling transport only.
                    let before = st.queue.len();
                    st.queue.retain(|p| *p != Outgoing::Noop);
                    st.queued_bytes = st.queued_bytes.saturating_sub(before - st.queue.len());
                    socket.set_transport(TransportKind::Websocket);
                    st.waker.take()
                };
                // The pending poll (if any) now answers `6` and the queue is ours.
                if let Some(w) = waker {
                    w.wake();
                }
                Some(Exit::Upgraded)
            }
            (Phase::Probe, _) => Some(Exit::Parse),
            (Phase::Open, Packet::Message(m)) => {
                self.engine.handler().on_message(socket, m);
                None
            }
            (Phase::Open, Packet::Binary(b)) => {
                self.engine.handler().on_binary(socket, b);
                None
            }
            (Phase::Open, Packet::Pong(_)) if self.version != ProtocolVersion::V3 => {
                socket.on_pong();
                None
            }
            // A v3 client pings; the answer goes out with this wake-up's write.
            (Phase::Open, Packet::Ping(d)) if self.version == ProtocolVersion::V3 => {
                let mut pong = Vec::with_capacity(1 + d.len());
                pong.push(b'3');
                pong.extend_from_slice(&d);
                ws::encode_frame(OpCode::Text, &pong, &mut self.wbuf);
                socket.on_client_ping(false);
                None
            }
            (Phase::Open, Packet::Close) => Some(Exit::PeerClosed),
            (Phase::Open, Packet::Noop | Packet::Upgrade) => None,
            // v4 clients never ping, and never send an open packet.
            (Phase::Open, _) => Some(Exit::Parse),
        }
    }
}
