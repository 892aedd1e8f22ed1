//! Shared helpers for the integration tests: an in-process server, raw HTTP/1.1 requests,
//! raw Engine.IO long-polling and a raw WebSocket client (hand-made handshake, masked frames).
//!
//! Every read has a deadline, so a hung server fails the test instead of hanging it.

#![allow(dead_code, missing_docs)]

pub mod wrapped;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use sockeye::extract::{Bin, Data, Event, Refusal};
use sockeye::{AckSender, DisconnectReason, Payload, SocketIo, SocketIoBuilder, SocketRef};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// How long one read may wait before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// The record separator of v4 polling payloads.
pub const SEP: char = '\x1e';

/// What the standard handlers record.
#[derive(Clone, Default)]
pub struct Stats {
    /// Connect handler calls (all namespaces).
    pub connects: Arc<AtomicUsize>,
    /// Disconnect handler calls (all namespaces).
    pub disconnects: Arc<AtomicUsize>,
    /// The disconnect reasons, in order.
    pub reasons: Arc<Mutex<Vec<String>>>,
    /// Middleware runs on `/other`.
    pub middleware_runs: Arc<AtomicUsize>,
    /// The last socket connected to `/`.
    pub last: Arc<Mutex<Option<SocketRef>>>,
}

impl Stats {
    pub fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
    pub fn disconnects(&self) -> usize {
        self.disconnects.load(Ordering::SeqCst)
    }
    pub fn reasons(&self) -> Vec<String> {
        self.reasons.lock().clone()
    }
    pub fn last_socket(&self) -> Option<SocketRef> {
        self.last.lock().clone()
    }
}

/// A server running on the test's runtime; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub io: SocketIo,
    pub stats: Stats,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.io.close();
        // Break the socket <-> stats cycle.
        self.stats.last.lock().take();
    }
}

/// Short timeouts so every test ends well under 5 s.
pub fn builder() -> SocketIoBuilder {
    SocketIo::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(400))
        .upgrade_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(700))
        .ack_timeout(Duration::from_millis(500))
        .max_payload(10_000)
}

/// Starts a server with [`builder`] and the standard namespaces.
pub async fn start() -> Server {
    start_with(builder(), |_, _| {}).await
}

/// Starts a server from `b` with the standard namespaces, then lets `extra` add more.
pub async fn start_with(b: SocketIoBuilder, extra: impl FnOnce(&SocketIo, &Stats)) -> Server {
    let stats = Stats::default();
    let (svc, io) = b.build_svc();
    install_standard(&io, &stats);
    extra(&io, &stats);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(sockeye::serve(listener, svc, async move {
        let _ = rx.await;
    }));
    Server {
        addr,
        io,
        stats,
        stop: Some(tx),
    }
}

fn on_connect(stats: &Stats, socket: &SocketRef) {
    stats.connects.fetch_add(1, Ordering::SeqCst);
    let st = stats.clone();
    socket.on_disconnect(move |reason: DisconnectReason| {
        st.disconnects.fetch_add(1, Ordering::SeqCst);
        st.reasons.lock().push(reason.as_str().to_owned());
    });
    socket.on("echo", |s: SocketRef, p: Payload| {
        let _ = s.emit_payload("echo", &p);
    });
    socket.on("echo-ack", |p: Payload, ack: AckSender| {
        let _ = ack.send_payload(&p);
    });
    socket.on("bins", |s: SocketRef, Bin(bins): Bin| {
        let lens: Vec<usize> = bins.iter().map(|b| b.len()).collect();
        let _ = s.emit("bins", &lens);
    });
    socket.on(
        "join",
        |s: SocketRef, Data(rooms): Data<Vec<String>>, ack: AckSender| {
            s.join(rooms);
            let _ = ack.send(&"joined");
        },
    );
    socket.on("panic", boom);
    socket.on("panic-async", |_: SocketRef| async move {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        panic!("an async handler panics (test)");
    });
    // The server asks the client (emit with ack) and reports what came back.
    socket.on("ask", |s: SocketRef| async move {
        let res = s
            .timeout(Duration::from_millis(400))
            .emit_with_ack("q", &1)
            .await;
        let report = match res {
            Ok(p) => json!({"args": p.len(), "bins": p.bins().len(),
                            "first": p.arg::<Value>(0).ok()}),
            Err(e) => json!({"error": e.to_string()}),
        };
        let _ = s.emit("answer", &report);
    });
    socket.on_fallback(|s: SocketRef, Event(name): Event| {
        let _ = s.emit("fallback", &name);
    });
}

fn boom(_: SocketRef) {
    panic!("a handler panics (test)");
}

fn install_standard(io: &SocketIo, stats: &Stats) {
    let st = stats.clone();
    io.ns("/", move |socket: SocketRef| {
        *st.last.lock() = Some(socket.clone());
        on_connect(&st, &socket);
    });
    let st = stats.clone();
    let mw = stats.middleware_runs.clone();
    io.ns("/other", move |socket: SocketRef| on_connect(&st, &socket))
        .with(move || {
            let mw = mw.clone();
            async move {
                mw.fetch_add(1, Ordering::SeqCst);
                Ok::<(), Refusal>(())
            }
        });
}

/// Polls `cond` every 10 ms until it holds or `within` passes.
pub async fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Server {
    /// Waits until no Engine.IO session and no socket of `/` is left.
    pub async fn assert_no_leak(&self) {
        let io = self.io.clone();
        let ok = wait_until(Duration::from_secs(3), || {
            io.connection_count() == 0 && io.sockets().is_empty()
        })
        .await;
        assert!(
            ok,
            "leak: {} sessions, {} sockets of / still open",
            self.io.connection_count(),
            self.io.sockets().len()
        );
    }

    /// A fresh, well-behaved WebSocket client connects to `/`, echoes, and leaves.
    pub async fn assert_healthy(&self) {
        let mut ws = Ws::connect_sio(self.addr).await;
        ws.text(r#"42["echo","healthy"]"#).await;
        assert_eq!(ws.recv_text().await, r#"42["echo","healthy"]"#);
        ws.text("1").await;
        ws.expect_close().await;
    }

    /// A fresh client echoes, then no session or socket is left.
    pub async fn assert_healthy_no_leak(&self) {
        self.assert_healthy().await;
        self.assert_no_leak().await;
    }
}

// ---------------------------------------------------------------------------------------
// Raw HTTP/1.1
// ---------------------------------------------------------------------------------------

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// Asserts Node's error answer: `status` and `{"code":code,"message":...}`.
    pub fn assert_error(&self, status: u16, code: u64) {
        assert_eq!(self.status, status, "status; body {:?}", self.text());
        let v = self.json();
        assert_eq!(v["code"], json!(code), "error code; body {:?}", self.text());
        assert!(v["message"].is_string(), "message; body {:?}", self.text());
    }
}

/// Reads one response head from `stream` (bytes already read are in `buf`; what follows the
/// head is left in `buf`).
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(u16, Vec<(String, String)>)> {
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap_or("");
            let status = status_line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            return Some((status, headers));
        }
        let mut chunk = [0u8; 8192];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "timed out waiting for a response head; got {:?}",
                String::from_utf8_lossy(buf)
            ),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads at least `n` bytes into `buf` (fewer on EOF).
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, n: usize) {
    let deadline = Instant::now() + READ_TIMEOUT;
    while buf.len() < n {
        let mut chunk = vec![0u8; 65536];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(k)) => buf.extend_from_slice(&chunk[..k]),
            Err(_) => panic!("timed out reading a response body"),
        }
    }
}

/// Reads one whole response (head and body).
pub async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<HttpResponse> {
    let (status, headers) = read_head(stream, buf).await?;
    let mut res = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if status == 101 || status == 204 || status == 304 {
        return Some(res);
    }
    if let Some(len) = res
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        fill(stream, buf, len).await;
        let n = len.min(buf.len());
        res.body = buf.drain(..n).collect();
    } else if res
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                let before = buf.len();
                fill(stream, buf, before + 1).await;
                if buf.len() == before {
                    return Some(res);
                }
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .unwrap_or(0);
            buf.drain(..line_end + 2);
            fill(stream, buf, size + 2).await;
            let n = size.min(buf.len());
            res.body.extend(buf.drain(..n));
            let crlf = 2.min(buf.len());
            buf.drain(..crlf);
            if size == 0 {
                break;
            }
        }
    } else {
        // Read to EOF.
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            let mut chunk = [0u8; 8192];
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        res.body = std::mem::take(buf);
    }
    Some(res)
}

/// Formats a request.
pub fn format_request(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n").into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// Sends raw bytes on a new connection and reads one response.
pub async fn raw_request(addr: SocketAddr, raw: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(raw).await;
    let mut buf = Vec::new();
    read_response(&mut stream, &mut buf)
        .await
        .expect("the server closed the connection without a response")
}

/// One request on a new connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    raw_request(addr, &format_request(method, target, headers, body)).await
}

pub async fn get(addr: SocketAddr, target: &str) -> HttpResponse {
    request(addr, "GET", target, &[], b"").await
}

// ---------------------------------------------------------------------------------------
// Engine.IO long-polling
// ---------------------------------------------------------------------------------------

pub fn poll_url(sid: &str) -> String {
    format!("/socket.io/?EIO=4&transport=polling&sid={sid}")
}

/// Opens a polling session; returns its sid.
pub async fn eio_open(addr: SocketAddr) -> String {
    let res = get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(res.status, 200, "handshake: {:?}", res.text());
    let text = res.text();
    let open = text
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("not an open packet: {text:?}"));
    let v: Value = serde_json::from_str(open).expect("open packet JSON");
    v["sid"].as_str().expect("sid").to_owned()
}

pub async fn eio_get(addr: SocketAddr, sid: &str) -> HttpResponse {
    get(addr, &poll_url(sid)).await
}

pub async fn eio_post(addr: SocketAddr, sid: &str, body: &[u8]) -> HttpResponse {
    request(
        addr,
        "POST",
        &poll_url(sid),
        &[("Content-Type", "text/plain;charset=UTF-8")],
        body,
    )
    .await
}

/// A Socket.IO client over long-polling.
pub struct Poller {
    pub addr: SocketAddr,
    pub sid: String,
    pending: Vec<String>,
}

impl Poller {
    /// Opens an Engine.IO session (no namespace joined).
    pub async fn open(addr: SocketAddr) -> Poller {
        let sid = eio_open(addr).await;
        Poller {
            addr,
            sid,
            pending: Vec::new(),
        }
    }

    /// Opens a session and joins `/`.
    pub async fn connect_sio(addr: SocketAddr) -> Poller {
        let mut p = Poller::open(addr).await;
        p.post_ok("40").await;
        let connect = p.recv().await;
        assert!(
            connect.starts_with("40{\"sid\":"),
            "connect answer: {connect:?}"
        );
        p
    }

    pub async fn post(&self, body: &str) -> HttpResponse {
        eio_post(self.addr, &self.sid, body.as_bytes()).await
    }

    pub async fn post_ok(&self, body: &str) {
        let res = self.post(body).await;
        assert_eq!(res.status, 200, "POST {body:?}: {:?}", res.text());
        assert_eq!(res.text(), "ok");
    }

    /// The next packet that is not a ping (pings are answered).
    pub async fn recv(&mut self) -> String {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            if !self.pending.is_empty() {
                let p = self.pending.remove(0);
                if p == "2" {
                    let _ = self.post("3").await;
                    continue;
                }
                return p;
            }
            assert!(Instant::now() < deadline, "no packet in time");
            let res = eio_get(self.addr, &self.sid).await;
            assert_eq!(res.status, 200, "GET: {:?}", res.text());
            self.pending
                .extend(res.text().split(SEP).map(str::to_owned));
        }
    }

    /// Asserts that the session is gone: a GET answers `1` (close) once, then 400 code 1.
    /// Pings on the way are answered, so the heartbeat cannot be what closed it.
    pub async fn assert_closed(&self) {
        for _ in 0..5 {
            let res = eio_get(self.addr, &self.sid).await;
            if res.status == 400 {
                res.assert_error(400, 1);
                return;
            }
            let text = res.text();
            assert!(
                text.split(SEP)
                    .all(|p| p == "1" || p == "2" || p.starts_with('4')),
                "unexpected poll body on a closing session: {text:?}"
            );
            if text.split(SEP).any(|p| p == "2") {
                // A session that is closing may refuse the answer.
                let _ = self.post("3").await;
            }
        }
        panic!("the session did not close");
    }
}

// ---------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------

pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame and its code.
    Close(Option<u16>),
    /// Any other opcode (a server bug).
    Other(u8, Vec<u8>),
    /// The TCP connection ended.
    Eof,
}

/// A raw WebSocket client.
pub struct Ws {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// The upgrade request for `query` with extra headers.
pub fn upgrade_request(query: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", WS_KEY),
        ("Sec-WebSocket-Version", "13"),
    ];
    for (n, _) in extra {
        headers.retain(|(h, _)| !h.eq_ignore_ascii_case(n));
    }
    headers.extend_from_slice(extra);
    let mut out = format!("GET /socket.io/?{query} HTTP/1.1\r\nHost: localhost\r\n").into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

impl Ws {
    /// Upgrades with `query`; the error is the refusal response.
    pub async fn upgrade_with(
        addr: SocketAddr,
        query: &str,
        extra: &[(&str, &str)],
    ) -> Result<Ws, HttpResponse> {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Ws::upgrade_on(stream, query, extra).await
    }

    /// Upgrades over a TCP connection made by the caller (with options of its own).
    pub async fn upgrade_on(
        mut stream: TcpStream,
        query: &str,
        extra: &[(&str, &str)],
    ) -> Result<Ws, HttpResponse> {
        stream
            .write_all(&upgrade_request(query, extra))
            .await
            .expect("write upgrade");
        let mut buf = Vec::new();
        let res = read_response(&mut stream, &mut buf)
            .await
            .expect("no answer to the upgrade");
        if res.status != 101 {
            return Err(res);
        }
        assert_eq!(res.header("sec-websocket-accept"), Some(WS_ACCEPT));
        Ok(Ws { stream, buf })
    }

    /// Opens an Engine.IO session over WebSocket; returns the client and the engine sid.
    pub async fn connect_eio(addr: SocketAddr) -> (Ws, String) {
        let mut ws = Ws::upgrade_with(addr, "EIO=4&transport=websocket", &[])
            .await
            .unwrap_or_else(|r| panic!("upgrade refused: {} {:?}", r.status, r.text()));
        let open = ws.recv_text().await;
        let json = open
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("not an open packet: {open:?}"));
        let v: Value = serde_json::from_str(json).expect("open JSON");
        let sid = v["sid"].as_str().expect("sid").to_owned();
        (ws, sid)
    }

    /// Opens a session and joins `/`.
    pub async fn connect_sio(addr: SocketAddr) -> Ws {
        Ws::connect_ns(addr, "/").await
    }

    /// Opens a session and joins `ns`.
    pub async fn connect_ns(addr: SocketAddr, ns: &str) -> Ws {
        let (ws, _) = Ws::connect_eio(addr).await;
        ws.join(ns).await
    }

    /// Opens a session whose TCP receive buffer is `rcvbuf` bytes (so the server's writes
    /// meet a full stream soon when the client does not read) and joins `ns`.
    pub async fn connect_ns_small_window(addr: SocketAddr, ns: &str, rcvbuf: u32) -> Ws {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("connect");
        let mut ws = Ws::upgrade_on(stream, "EIO=4&transport=websocket", &[])
            .await
            .unwrap_or_else(|r| panic!("upgrade refused: {} {:?}", r.status, r.text()));
        let open = ws.recv_text().await;
        assert!(open.starts_with("0{"), "not an open packet: {open:?}");
        ws.join(ns).await
    }

    /// Joins `ns` on an open session.
    async fn join(self, ns: &str) -> Ws {
        let mut ws = self;
        let (connect, prefix) = if ns == "/" {
            ("40".to_owned(), "40{\"sid\":".to_owned())
        } else {
            (format!("40{ns},"), format!("40{ns},{{\"sid\":"))
        };
        ws.text(&connect).await;
        let answer = ws.recv_text().await;
        assert!(answer.starts_with(&prefix), "connect answer: {answer:?}");
        ws
    }

    /// Writes raw bytes (errors ignored: the server may already have closed).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Writes one masked frame with the first byte `b0` (FIN, RSV, opcode).
    pub async fn send_frame(&mut self, b0: u8, payload: &[u8]) {
        let bytes = masked_frame(b0, payload);
        self.send_raw(&bytes).await;
    }

    /// A masked text frame.
    pub async fn text(&mut self, s: &str) {
        self.send_frame(0x81, s.as_bytes()).await;
    }

    /// A masked binary frame.
    pub async fn binary(&mut self, b: &[u8]) {
        self.send_frame(0x82, b).await;
    }

    /// The next frame, or `None` when nothing came within `within`.
    pub async fn recv_within(&mut self, within: Duration) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(f) = self.parse() {
                return Some(f);
            }
            let mut chunk = vec![0u8; 65536];
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(Frame::Eof),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }

    fn parse(&mut self) -> Option<Frame> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let opcode = b[0] & 0x0f;
        let masked = b[1] & 0x80 != 0;
        let (len, mut at) = match b[1] & 0x7f {
            126 => {
                if b.len() < 4 {
                    return None;
                }
                (usize::from(u16::from_be_bytes([b[2], b[3]])), 4)
            }
            127 => {
                if b.len() < 10 {
                    return None;
                }
                let mut l = [0u8; 8];
                l.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(l) as usize, 10)
            }
            n => (usize::from(n), 2),
        };
        assert!(!masked, "server frames must not be masked");
        if b.len() < at + len {
            return None;
        }
        let payload = b[at..at + len].to_vec();
        at += len;
        self.buf.drain(..at);
        Some(match opcode {
            0x1 => Frame::Text(String::from_utf8(payload).expect("server text is UTF-8")),
            0x2 => Frame::Binary(payload),
            0x8 => Frame::Close(
                (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
            ),
            0x9 => Frame::Ping(payload),
            0xA => Frame::Pong(payload),
            op => Frame::Other(op, payload),
        })
    }

    /// The next frame that is not an Engine.IO ping (pings are answered with `3`); panics
    /// on timeout.
    pub async fn recv_frame(&mut self) -> Frame {
        loop {
            match self.recv_within(READ_TIMEOUT).await {
                None => panic!("no frame from the server in time"),
                Some(Frame::Text(t)) if t == "2" => self.text("3").await,
                Some(f) => return f,
            }
        }
    }

    /// The next text message (pings answered); panics on anything else.
    pub async fn recv_text(&mut self) -> String {
        match self.recv_frame().await {
            Frame::Text(t) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next binary message (pings answered); panics on anything else.
    pub async fn recv_binary(&mut self) -> Vec<u8> {
        match self.recv_frame().await {
            Frame::Binary(b) => b,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Waits for the server to close: returns the close code (`None` for EOF or a close
    /// frame without code). Pings on the way are answered, so the heartbeat cannot be what
    /// closes (see [`Ws::expect_heartbeat_close`] for that); other frames are skipped. Panics
    /// if the connection is still open after `READ_TIMEOUT`.
    pub async fn expect_close(&mut self) -> Option<u16> {
        self.wait_close(true).await
    }

    /// Waits for the server to close without answering its pings: the heartbeat may close.
    pub async fn expect_heartbeat_close(&mut self) -> Option<u16> {
        self.wait_close(false).await
    }

    async fn wait_close(&mut self, pong: bool) -> Option<u16> {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left).await {
                None => panic!("the server did not close the connection"),
                Some(Frame::Close(code)) => return code,
                Some(Frame::Eof) => return None,
                Some(Frame::Text(t)) if pong && t == "2" => {
                    // A connection the server already closed may refuse the answer.
                    let _ = self.stream.write_all(&masked_frame(0x81, b"3")).await;
                }
                Some(_) => {}
            }
        }
    }

    /// Asserts a close with exactly `code`.
    pub async fn expect_close_code(&mut self, code: u16, what: &str) {
        let got = self.expect_close().await;
        assert_eq!(got, Some(code), "close code for {what}");
    }

    /// Answers pings for `dur` and asserts that nothing else arrives and the connection stays
    /// open.
    pub async fn assert_quiet(&mut self, dur: Duration) {
        let deadline = Instant::now() + dur;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.recv_within(left).await {
                None => return,
                Some(Frame::Text(t)) if t == "2" => self.text("3").await,
                Some(f) => panic!("expected silence, got {f:?}"),
            }
        }
    }

    /// Sends `42["echo",<tag>]` and expects it back.
    pub async fn assert_echo(&mut self, tag: &str) {
        let msg = format!("42[\"echo\",{}]", json!(tag));
        self.text(&msg).await;
        assert_eq!(self.recv_text().await, msg);
    }

    /// Resets the TCP connection (RST) by closing with a zero linger.
    pub fn reset(self) {
        let _ = self.stream.set_zero_linger();
        drop(self.stream);
    }
}

/// A masked frame (mask `37 fa 21 3d`).
pub fn masked_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut out = vec![b0];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A masked frame header announcing `len` bytes (payload not included).
pub fn masked_header(b0: u8, len: u64) -> Vec<u8> {
    let mut out = vec![b0, 0x80 | 127];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0x37, 0xfa, 0x21, 0x3d]);
    out
}

/// Standard base64 with padding (for polling `b` packets).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
