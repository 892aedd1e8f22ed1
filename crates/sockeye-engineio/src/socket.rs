//! One Engine.IO session, whatever its transport: the handle the application and the
//! drivers share. Its state is the session machine (`session`), under a lock.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};

use crate::config::OverflowPolicy;
use crate::errors::SendError;
use crate::packet::{Packet, ProtocolVersion};
use crate::payload::Outgoing;
pub use crate::session::{DisconnectReason, TransportKind};
use crate::session::{Output, ProbeStep, Session, Time, Timing, UpgradeDecision, Via};
use crate::sid::Sid;

/// What the HTTP handshake request carried, kept for the application.
///
/// It is stored compactly (one allocation for the headers, one for the URI) because every
/// session keeps it; [`RequestInfo::headers`] rebuilds a `HeaderMap` on demand.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    uri: Box<str>,
    /// `name: value\r\n` for every header, names lowercase, in order.
    headers: Box<[u8]>,
    /// The peer address, when the server put a [`std::net::SocketAddr`] in the request's
    /// extensions.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// When the handshake happened.
    pub time: std::time::SystemTime,
}

impl RequestInfo {
    /// Copies what the application may read later. The copy is deep: the request's own
    /// values share the HTTP read buffer (8 KiB or more), which must not live as long as the
    /// session.
    pub(crate) fn from_parts(req: &http::request::Parts) -> RequestInfo {
        // One allocation each, of the exact size (this runs for every connection).
        let len = req
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let mut headers = Vec::with_capacity(len);
        for (name, value) in &req.headers {
            headers.extend_from_slice(name.as_str().as_bytes());
            headers.extend_from_slice(b": ");
            headers.extend_from_slice(value.as_bytes());
            headers.extend_from_slice(b"\r\n");
        }
        let uri: Box<str> = match req.uri.path_and_query() {
            // The usual origin form (`/socket.io/?EIO=4...`), as the client sent it.
            Some(pq) if req.uri.scheme().is_none() && pq.as_str().starts_with('/') => {
                Box::from(pq.as_str())
            }
            _ => req.uri.to_string().into_boxed_str(),
        };
        RequestInfo {
            uri,
            headers: headers.into_boxed_slice(),
            remote_addr: req.extensions.get::<std::net::SocketAddr>().copied(),
            time: std::time::SystemTime::now(),
        }
    }

    fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers.split(|&b| b == b'\n').filter_map(|line| {
            let line = line.strip_suffix(b"\r")?;
            let at = line.windows(2).position(|w| w == b": ")?;
            Some((line.get(..at)?, line.get(at + 2..)?))
        })
    }

    /// The handshake URI (path and query), as text.
    pub fn uri_str(&self) -> &str {
        &self.uri
    }

    /// The handshake URI.
    pub fn uri(&self) -> http::Uri {
        http::Uri::try_from(&*self.uri).unwrap_or_default()
    }

    /// The query string of the handshake URI.
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }

    /// The first value of a header, when it is text (`name` in any case).
    ///
    /// # Examples
    /// ```
    /// # fn f<D>(socket: &sockeye_engineio::Socket<D>) {
    /// let agent = socket.request().header("user-agent");
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.pairs()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Every header, as a new `HeaderMap`.
    pub fn headers(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (n, v) in self.pairs() {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(n),
                http::HeaderValue::from_bytes(v),
            ) {
                map.append(n, v);
            }
        }
        map
    }
}

/// What a session needs from its engine: the timing settings, the shared timer, and to be
/// forgotten (and its handler told) when it closes.
pub(crate) trait Hub<D>: Send + Sync {
    fn timing(&self) -> &Timing;
    /// The session closed: forget it when `forget`, and tell the handler.
    fn on_close(&self, socket: &Arc<Socket<D>>, reason: DisconnectReason, forget: bool);
    /// Forgets a closed session (drained, or given up on).
    fn forget(&self, sid: Sid);
    /// Hands a deadline of `socket` to the shared timer.
    fn schedule(&self, at: Time, socket: &Arc<Socket<D>>);
}

pub(crate) use crate::session::Queue;

thread_local! {
    /// The session whose WebSocket task is running its handlers on this thread: what they
    /// queue for it is written by that same poll, so it need not be woken.
    static RUNNING: std::cell::Cell<*const ()> = const { std::cell::Cell::new(std::ptr::null()) };
    /// Sessions that handlers running on this thread sent to while their WebSocket tasks
    /// were idle: written by this thread when the handlers are done (see [`Socket::send`]).
    static DEFERRED: std::cell::RefCell<Vec<Deferred>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A session to write to when the running handlers are done: a strong count of an
/// `Arc<Socket<D>>`, the function that writes its queue and lets it go, and the address of
/// its lock (to load its line a few sessions ahead of the write).
struct Deferred {
    socket: *const (),
    flush: unsafe fn(*const ()),
    lock: *const (),
}

/// Writes the queue of the session behind `ptr` (a count from `Arc::into_raw`) and drops it.
///
/// # Safety
/// `ptr` comes from `Arc::<Socket<D>>::into_raw`, and is used once.
#[allow(unsafe_code)]
unsafe fn flush_deferred<D>(ptr: *const ()) {
    // SAFETY: as the function's contract says.
    let socket = unsafe { Arc::from_raw(ptr.cast::<Socket<D>>()) };
    socket.flush_direct();
}

/// Writes every session the finished handlers deferred (see [`Socket::send`]).
#[cold]
#[allow(unsafe_code)]
fn flush_all_deferred() {
    let mut list = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
    // After a broadcast to many sessions their lines are cold again: start loading the lines
    // a write touches (the lock and the queue after it, and the count dropped after the
    // write, at the start of the allocation) a few sessions ahead, so the loads overlap.
    const AHEAD: usize = 4;
    for i in 0..list.len() {
        if let Some(ahead) = list.get(i + AHEAD) {
            prefetch(ahead.socket);
            prefetch(ahead.lock);
            prefetch(ahead.lock.cast::<u8>().wrapping_add(64));
        }
        let d = &list[i];
        // SAFETY: each entry holds its own count, taken when it was pushed, and is used once
        // (the list is cleared below without running anything).
        unsafe { (d.flush)(d.socket) };
    }
    list.clear();
    // Keep the capacity for the next broadcast, unless one made it large.
    if list.capacity() <= 1 << 16 {
        DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            if d.is_empty() {
                *d = list;
            }
        });
    }
}

/// Marks a session as handled by the running task until dropped (see [`Socket::send`]).
pub(crate) struct RunningGuard {
    previous: *const (),
}

impl RunningGuard {
    pub(crate) fn enter<D>(socket: &Arc<Socket<D>>) -> RunningGuard {
        let me = Arc::as_ptr(socket).cast::<()>();
        RunningGuard {
            previous: RUNNING.with(|r| r.replace(me)),
        }
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(self.previous));
        flush_when_outermost();
    }
}

/// Writes what sends held back, once neither handlers (a [`RunningGuard`]) nor an adapter's
/// batch ([`sockeye_core::adapter::deliver_batch`]) are running on this thread any more: the
/// end of whichever of them is outermost. The engine gives it to the core as a batch's end.
pub(crate) fn flush_when_outermost() {
    if RUNNING.with(std::cell::Cell::get).is_null()
        && !sockeye_core::adapter::in_batch()
        && DEFERRED.with(|d| !d.borrow().is_empty())
    {
        flush_all_deferred();
    }
}

/// Who writes to a WebSocket session's stream (see [`Socket::send`]). Packed into 16 bytes.
#[derive(Default)]
pub(crate) struct Lending {
    /// The stream's descriptor, given with the first loan; `-1` before it and after the end.
    fd: i32,
    /// The session is in this thread's list of deferred writes.
    deferred: bool,
    /// What a deferred write left unwritten (the rest of its frames), for the task to write
    /// before anything else. Boxed: it is rare.
    #[allow(clippy::box_collection)]
    tail: Option<Box<Vec<u8>>>,
}

/// The fields a message touches come first (see [`Socket`]): the waker, then the session's
/// outbox.
#[repr(C)]
pub(crate) struct State {
    /// Who waits for the queue: the waiting poll, or the WebSocket task.
    pub(crate) waker: Option<Waker>,
    pub(crate) session: Session,
    /// Whoever waits for reading to resume (see [`Socket::pause_reading`]).
    pub(crate) resume: Option<Waker>,
    /// The WebSocket task of an upgrade under way (woken when the upgrade is aborted).
    pub(crate) probe: Option<Waker>,
    /// Whether other connections' handlers may write to the stream (see [`Socket::send`]).
    pub(crate) lending: Lending,
}

/// An Engine.IO session. `D` is the data the handler keeps per session.
///
/// Sending never blocks: a message is queued and the session's transport writes it. Each
/// session's queue is bounded by [`crate::EngineConfig::max_queued_bytes`].
///
/// A message that a WebSocket connection's handlers send to another connection whose task is
/// idle (a broadcast, most often) does not wake that task: when the handlers are done, the
/// sending connection writes it to the idle one's stream itself, everything the handlers
/// queued for that connection in one system call. What the stream does not take at once is
/// left for the connection's own task, which writes it before anything else, so the client
/// gets whole frames in the order they were sent. The more messages a connection's handlers
/// get per read, the more each of these writes carries: under load the writes batch. A cluster
/// adapter's deliveries from other servers take the same path inside
/// [`sockeye_core::adapter::deliver_batch`].
// The layout is fixed so that what each message touches sits together, in as few cache
// lines as possible: the end of the handler's data (where it keeps its hot fields), the
// flags, the queue and its lock. With many connections those lines are cold each time.
#[repr(C)]
pub struct Socket<D> {
    data: D,
    closed: AtomicBool,
    /// The handler asked to stop reading the client's messages for now.
    paused: AtomicBool,
    /// A v3 polling client that asked for base64 (`b64=1`): no binary payloads.
    pub(crate) b64: AtomicBool,
    /// Set by the WebSocket transport's read waker when the stream turns readable, so that
    /// its task tells such a wake-up from a sender's by a flag beside the others here.
    pub(crate) readable: AtomicBool,
    /// The WebSocket task is parked with nothing unwritten: handlers of other connections
    /// may write what they queue for it themselves (see [`Lending`]). Set by the task alone,
    /// without the lock (it writes nothing then); cleared under the lock.
    lent: AtomicBool,
    transport: AtomicU8,
    version: ProtocolVersion,
    overflow: OverflowPolicy,
    max_queued: usize,
    pub(crate) state: Mutex<State>,
    sid: Sid,
    req: Arc<RequestInfo>,
    hub: Weak<dyn Hub<D>>,
}

impl<D> std::fmt::Debug for Socket<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("sid", &self.sid)
            .field("transport", &self.transport())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Asks the CPU to start loading the cache line at `p` (a hint: it never faults, reads
/// nothing the program sees, and does nothing on targets without a prefetch instruction). For
/// loops over many cold objects, a few iterations ahead of the one they use.
///
/// # Examples
/// ```
/// let items: Vec<Box<u64>> = (0..100).map(Box::new).collect();
/// let mut sum = 0;
/// for (i, x) in items.iter().enumerate() {
///     if let Some(ahead) = items.get(i + 4) {
///         sockeye_engineio::prefetch(&**ahead);
///     }
///     sum += **x;
/// }
/// assert_eq!(sum, 4950);
/// ```
#[inline]
#[allow(unsafe_code)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address, and reads nothing the program
    // sees; SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl<D> Socket<D> {
    pub(crate) fn new(
        sid: Sid,
        session: Session,
        req: Arc<RequestInfo>,
        max_queued: usize,
        overflow: OverflowPolicy,
        hub: Weak<dyn Hub<D>>,
        data: D,
    ) -> Self {
        Socket {
            sid,
            version: session.version(),
            transport: AtomicU8::new(session.transport() as u8),
            closed: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            b64: AtomicBool::new(false),
            readable: AtomicBool::new(false),
            lent: AtomicBool::new(false),
            state: Mutex::new(State {
                waker: None,
                session,
                resume: None,
                probe: None,
                lending: Lending {
                    fd: -1,
                    ..Lending::default()
                },
            }),
            req,
            max_queued,
            overflow,
            hub,
            data,
        }
    }

    /// The session id (the engine's; the bearer token of a polling session).
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The protocol version the client speaks.
    pub fn protocol(&self) -> ProtocolVersion {
        self.version
    }

    /// The transport in use now.
    pub fn transport(&self) -> TransportKind {
        if self.transport.load(Ordering::Acquire) == TransportKind::Websocket as u8 {
            TransportKind::Websocket
        } else {
            TransportKind::Polling
        }
    }

    pub(crate) fn set_transport(&self, t: TransportKind) {
        self.transport.store(t as u8, Ordering::Release);
    }

    /// The handshake request.
    pub fn request(&self) -> &Arc<RequestInfo> {
        &self.req
    }

    /// The handler's data for this session.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Asks the CPU to start loading the lines a send to this session touches (its count, its
    /// flags and its queue), so that a loop sending to many sessions can overlap those loads:
    /// call it a few sessions ahead of the one being sent to. A hint only; it does nothing on
    /// targets without a prefetch instruction.
    ///
    /// # Examples
    /// ```
    /// # fn f<D>(sessions: &[std::sync::Arc<sockeye_engineio::Socket<D>>]) {
    /// for (i, s) in sessions.iter().enumerate() {
    ///     if let Some(ahead) = sessions.get(i + 4) {
    ///         ahead.prefetch();
    ///     }
    ///     let _ = s.queued_bytes();
    /// }
    /// # }
    /// ```
    #[inline]
    pub fn prefetch(&self) {
        // The start of the allocation holds the count a deferred write takes.
        prefetch(self);
        prefetch(&self.closed);
        prefetch(&self.state);
        prefetch(
            (&self.state as *const Mutex<State>)
                .cast::<u8>()
                .wrapping_add(64),
        );
    }

    /// How many bytes are queued for the client and not yet taken by its transport.
    pub fn queued_bytes(&self) -> usize {
        self.state.lock().session.outbox.bytes
    }

    /// Whether the session has closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether the session closed and has nothing left for its client.
    pub(crate) fn is_drained(&self) -> bool {
        self.state.lock().session.is_drained()
    }

    /// Queues a text message (the bytes must be UTF-8).
    ///
    /// # Errors
    /// [`SendError::Closed`] after the session closed, [`SendError::QueueFull`] when the client
    /// is too slow (and, with [`OverflowPolicy::Disconnect`], the session is then closed).
    pub fn send_text(self: &Arc<Self>, text: Bytes) -> Result<(), SendError> {
        self.send(Outgoing::Message(text))
    }

    /// Queues a binary message.
    ///
    /// # Errors
    /// As [`Socket::send_text`].
    pub fn send_binary(self: &Arc<Self>, data: Bytes) -> Result<(), SendError> {
        self.send(Outgoing::Binary(data))
    }

    /// Queues several messages at once, all or none (so a binary packet and its attachments
    /// are never split by the queue limit).
    ///
    /// # Errors
    /// As [`Socket::send_text`].
    pub fn send_many(
        self: &Arc<Self>,
        packets: impl IntoIterator<Item = Outgoing> + Clone,
    ) -> Result<(), SendError> {
        let len: usize = packets.clone().into_iter().map(|p| p.queue_len()).sum();
        let waker = {
            let mut st = self.state.lock();
            if self.is_closed() {
                return Err(SendError::Closed);
            }
            let outbox = &mut st.session.outbox;
            if outbox.bytes + len > self.max_queued && !outbox.is_empty() {
                drop(st);
                return self.overflowed();
            }
            outbox.queue.extend(packets);
            outbox.bytes += len;
            self.wake_or_defer(&mut st)
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Queues one packet: a message with options, or shared with other sessions, is an
    /// [`Outgoing::Shared`].
    ///
    /// # Errors
    /// As [`Socket::send_text`].
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use sockeye_engineio::payload::{Outgoing, SharedMessage};
    /// # fn f<D>(socket: &Arc<sockeye_engineio::Socket<D>>) {
    /// // Never compressed, whatever the transport negotiated.
    /// let msg = SharedMessage::binary(vec![0u8; 4096].into()).compress(false);
    /// let _ = socket.send(Outgoing::Shared(Arc::new(msg)));
    /// # }
    /// ```
    pub fn send(self: &Arc<Self>, packet: Outgoing) -> Result<(), SendError> {
        let len = packet.queue_len();
        let waker = {
            let mut st = self.state.lock();
            if self.is_closed() {
                return Err(SendError::Closed);
            }
            let outbox = &mut st.session.outbox;
            if outbox.bytes + len > self.max_queued && !outbox.is_empty() {
                drop(st);
                return self.overflowed();
            }
            outbox.queue.push(packet);
            outbox.bytes += len;
            self.wake_or_defer(&mut st)
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    fn overflowed(self: &Arc<Self>) -> Result<(), SendError> {
        crate::metrics::overflowed(self.overflow);
        if self.overflow == OverflowPolicy::Disconnect {
            tracing::debug!(sid = %self.sid, "outbound queue full: closing the session");
            self.close(DisconnectReason::TransportError);
        }
        Err(SendError::QueueFull)
    }

    /// Takes everything queued, or registers `cx` to be woken when something is queued.
    /// `wbuf` (empty) gets what a write to the lent stream left unwritten (see
    /// [`Socket::send`]), to go before what is taken.
    pub(crate) fn poll_take(
        &self,
        cx: &mut Context<'_>,
        out: &mut Queue,
        wbuf: &mut bytes::BytesMut,
    ) -> Poll<()> {
        let mut st = self.state.lock();
        // The waker stays registered while the task runs (it is taken only to be woken).
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.waker = Some(cx.waker().clone());
        }
        if let Some(tail) = st.lending.tail.take() {
            wbuf.extend_from_slice(&tail);
        } else if st.session.outbox.queue.is_empty() {
            return Poll::Pending;
        }
        // The task writes what it takes: from now on no one else may write to the stream.
        self.lent.store(false, Ordering::Relaxed);
        let outbox = &mut st.session.outbox;
        if out.is_empty() {
            std::mem::swap(out, &mut outbox.queue);
        } else {
            out.append(&mut outbox.queue);
        }
        outbox.bytes = 0;
        Poll::Ready(())
    }

    /// After queuing for a send: the waker to wake, or none when the session's own task is
    /// running its handlers on this thread, or when the handlers of another connection's task
    /// (or an adapter's batch of deliveries) are running here and this session's task lent
    /// its stream: then this thread writes the queue when they are done (see [`Socket::send`]).
    #[inline]
    fn wake_or_defer(self: &Arc<Self>, st: &mut State) -> Option<Waker> {
        let running = RUNNING.with(std::cell::Cell::get);
        if running == Arc::as_ptr(self).cast::<()>() {
            return None;
        }
        if self.lent.load(Ordering::Acquire)
            && (!running.is_null() || sockeye_core::adapter::in_batch())
        {
            if !st.lending.deferred {
                st.lending.deferred = true;
                let entry = Deferred {
                    socket: Arc::into_raw(self.clone()).cast::<()>(),
                    flush: flush_deferred::<D>,
                    lock: (&self.state as *const Mutex<State>).cast::<()>(),
                };
                DEFERRED.with(|d| d.borrow_mut().push(entry));
            }
            return None;
        }
        st.waker.take()
    }

    /// Writes the queue to the stream the idle task lent (see [`Socket::send`]), or wakes the
    /// task when it took the stream back, when it has to do the writing (a close, anything
    /// but a plain message), or for the rest of a write the stream did not take whole.
    fn flush_direct(&self) {
        let mut st = self.state.lock();
        st.lending.deferred = false;
        if st.session.outbox.is_empty() {
            return;
        }
        let wake = if self.lent.load(Ordering::Acquire) && self.write_lent(&mut st) {
            None
        } else {
            self.lent.store(false, Ordering::Relaxed);
            st.waker.take()
        };
        drop(st);
        if let Some(w) = wake {
            w.wake();
        }
    }

    /// Frames the queue and writes it to the lent stream, under the state's lock (which the
    /// task takes before it writes). Returns whether it is done; `false` leaves the rest, or
    /// the whole queue, to the task.
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn write_lent(&self, st: &mut State) -> bool {
        if !st
            .session
            .outbox
            .queue
            .iter()
            .all(crate::transport::websocket::frames_plainly)
        {
            return false;
        }
        let fd = st.lending.fd;
        crate::transport::websocket::with_scratch(|frame| {
            for p in &st.session.outbox.queue {
                crate::transport::websocket::frame_plain(frame, p);
            }
            // SAFETY: the descriptor is the lent stream's, open while it is lent: the task
            // ends the loan under this lock before its stream can close.
            let sent = unsafe {
                libc::send(
                    fd,
                    frame.as_ptr().cast(),
                    frame.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            // Nothing written (a full buffer, an error the task will see): the task writes.
            let Ok(sent @ 1..) = usize::try_from(sent) else {
                return false;
            };
            let count = st.session.outbox.queue.len() as u64;
            crate::metrics::sent(TransportKind::Websocket, count, frame.len() as u64);
            st.session.outbox.queue = Queue::new();
            st.session.outbox.bytes = 0;
            if sent == frame.len() {
                return true;
            }
            st.lending.tail = Some(Box::new(frame[sent..].to_vec()));
            false
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn write_lent(&self, _st: &mut State) -> bool {
        false
    }

    /// For the WebSocket task about to park with nothing unwritten, having taken back what
    /// it lent before: lends its stream to the handlers of other connections (see
    /// [`Socket::send`]); `fd` the first time, the stream's descriptor.
    pub(crate) fn lend(&self, fd: Option<i32>) {
        if let Some(fd) = fd {
            self.state.lock().lending.fd = fd;
        }
        self.lent.store(true, Ordering::Release);
    }

    /// For the WebSocket task before it writes anything but what [`Socket::poll_take`] gave
    /// it: takes the stream back, with the rest of a write left unwritten, to go first.
    pub(crate) fn reclaim(&self, wbuf: &mut bytes::BytesMut) {
        let mut st = self.state.lock();
        self.lent.store(false, Ordering::Relaxed);
        if let Some(tail) = st.lending.tail.take() {
            let rest = wbuf.split();
            wbuf.extend_from_slice(&tail);
            wbuf.extend_from_slice(&rest);
        }
    }

    /// For the WebSocket task at its end, before its stream closes: no one writes to it any
    /// more.
    pub(crate) fn end_lending(&self) {
        let mut st = self.state.lock();
        self.lent.store(false, Ordering::Relaxed);
        st.lending.fd = -1;
        st.lending.tail = None;
    }

    /// The waker to wake after queuing: none when the session's own task is running its
    /// handlers on this thread, as it writes the queue before it returns.
    fn waker_to_wake(&self, st: &mut State) -> Option<Waker> {
        let me = (self as *const Self).cast::<()>();
        if RUNNING.with(|r| r.get()) == me {
            None
        } else {
            st.waker.take()
        }
    }

    /// Stops reading the client's messages until [`Socket::resume_reading`]: the WebSocket
    /// task leaves them in the kernel's buffers (so TCP flow control slows the client down),
    /// and a polling POST hands on the rest of its packets, and is answered, only once reading
    /// resumes. Handlers use it to bound the work a client can queue on the server.
    ///
    /// # Examples
    /// ```
    /// # fn f<D>(socket: std::sync::Arc<sockeye_engineio::Socket<D>>) {
    /// socket.pause_reading();
    /// assert!(socket.is_reading_paused());
    /// socket.resume_reading();
    /// # }
    /// ```
    pub fn pause_reading(&self) {
        self.paused.store(true, Ordering::Release);
    }

    /// Reads the client's messages again after [`Socket::pause_reading`].
    pub fn resume_reading(&self) {
        if self.paused.swap(false, Ordering::AcqRel) {
            let w = self.state.lock().resume.take();
            if let Some(w) = w {
                w.wake();
            }
        }
    }

    /// Whether reading is paused (see [`Socket::pause_reading`]).
    pub fn is_reading_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Ready when reading is allowed (or the session closed); otherwise registers `cx` to be
    /// woken when it resumes.
    pub(crate) fn poll_reading(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.is_reading_paused() || self.is_closed() {
            return Poll::Ready(());
        }
        let mut st = self.state.lock();
        if !st.resume.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.resume = Some(cx.waker().clone());
        }
        // Checked again under the lock: a resume in between has found no waker to wake.
        if !self.is_reading_paused() || self.is_closed() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Closes the session; the handler's disconnect callback runs once, now. What is queued
    /// is still delivered over WebSocket, and over polling when the reason is the server's
    /// ([`DisconnectReason::ForcedClose`], [`DisconnectReason::ServerShutdown`]: the next
    /// poll takes it, then a close packet), for at most `ping_timeout`; over polling any other
    /// reason drops it, as Node does. A second close does nothing.
    ///
    /// # Examples
    /// ```no_run
    /// # fn f<D>(socket: std::sync::Arc<sockeye_engineio::Socket<D>>) {
    /// socket.close(sockeye_engineio::DisconnectReason::ForcedClose);
    /// # }
    /// ```
    pub fn close(self: &Arc<Self>, reason: DisconnectReason) {
        if self.is_closed() {
            return;
        }
        let timing = self
            .hub
            .upgrade()
            .map_or_else(Timing::default, |h| *h.timing());
        let mut st = self.state.lock();
        let out = st.session.close(crate::clock::now(), reason, &timing);
        self.apply(st, out);
    }

    /// A packet other than a message arrived on the session's transport. Returns the reason
    /// when it closed the session.
    pub(crate) fn on_packet(
        self: &Arc<Self>,
        via: Via,
        packet: &Packet,
        timing: &Timing,
    ) -> Option<DisconnectReason> {
        let mut st = self.state.lock();
        let out = st
            .session
            .on_packet(crate::clock::now(), via, packet, timing);
        let closed = out.closed;
        self.apply(st, out);
        closed
    }

    /// A packet arrived on the WebSocket of upgrade `id`.
    pub(crate) fn on_probe_packet(self: &Arc<Self>, id: u32, packet: &Packet) -> ProbeStep {
        let mut st = self.state.lock();
        let (step, out) = st.session.on_probe_packet(id, packet);
        if step == ProbeStep::Upgraded {
            self.set_transport(TransportKind::Websocket);
            crate::metrics::upgraded(self.version);
        }
        self.apply(st, out);
        if step == ProbeStep::Upgraded {
            tracing::info!(target: "sockeye_engineio", "upgraded to websocket");
        }
        step
    }

    /// A WebSocket request arrived for this session.
    pub(crate) fn upgrade_request(self: &Arc<Self>, timing: &Timing) -> UpgradeDecision {
        let mut st = self.state.lock();
        let (decision, out) = st.session.upgrade_request(crate::clock::now(), timing);
        self.apply(st, out);
        decision
    }

    /// The WebSocket of upgrade `id` went away before `5`.
    pub(crate) fn upgrade_ended(self: &Arc<Self>, id: u32) {
        let mut st = self.state.lock();
        let out = st.session.upgrade_ended(id);
        self.apply(st, out);
    }

    /// The shared timer reached `fired` for this session; returns its next deadline, for the
    /// timer (handed back, not scheduled, so the timer can take many at once).
    pub(crate) fn on_timer(
        self: &Arc<Self>,
        now: Time,
        fired: Time,
        timing: &Timing,
    ) -> Option<Time> {
        let mut st = self.state.lock();
        let mut out = st.session.on_timer(now, fired, timing);
        let arm = out.arm.take();
        self.apply(st, out);
        arm
    }

    /// Carries out what the session machine asked for: wakes its waiters (after the lock is
    /// released), and tells the engine of a close, a deadline or a session to forget.
    pub(crate) fn apply(self: &Arc<Self>, mut st: MutexGuard<'_, State>, out: Output) {
        let wake = if out.wake {
            self.waker_to_wake(&mut st)
        } else {
            None
        };
        let probe = if out.wake_probe {
            st.probe.take()
        } else {
            None
        };
        let resume = if out.closed.is_some() {
            // Under the lock, so that no send queues after the machine closed.
            self.closed.store(true, Ordering::Release);
            st.resume.take()
        } else {
            None
        };
        drop(st);
        for w in [wake, probe, resume].into_iter().flatten() {
            w.wake();
        }
        if out.arm.is_none() && out.closed.is_none() && !out.forget {
            return;
        }
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        if let Some(at) = out.arm {
            hub.schedule(at, self);
        }
        match out.closed {
            Some(reason) => hub.on_close(self, reason, out.forget),
            None if out.forget => hub.forget(self.sid),
            None => {}
        }
    }
}
