//! The two client connections: Engine.IO v4 / Socket.IO v5 over a hand-framed WebSocket, and
//! over HTTP long-polling with a hand-written HTTP/1.1 client.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::proto::{
    self, client_frame, Codec, Inbuf, Inflate, Rng, Seen, OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT,
};

/// WebSocket opcode of a pong frame.
const OP_PONG: u8 = 0xA;

fn err(kind: io::ErrorKind, msg: &str) -> io::Error {
    io::Error::new(kind, msg.to_string())
}

/// Opens a TCP connection with Nagle off. On loopback, client `index` binds its source address
/// to 127.0.0.(2 + index % 250) first, so that 10k+ connections do not run out of ephemeral
/// ports on a single source address.
pub async fn connect_tcp(addr: SocketAddr, index: usize) -> io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    if addr.ip().is_loopback() {
        let src = Ipv4Addr::new(127, 0, 0, (2 + index % 250) as u8);
        sock.bind(SocketAddr::new(src.into(), 0))?;
    }
    let s = sock.connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A Socket.IO client over WebSocket, connected to namespace `/`.
pub struct WsClient {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read and not yet parsed.
    pub inbuf: Inbuf,
    /// This connection's mask key.
    pub mask: [u8; 4],
    pong: Vec<u8>,
    /// `permessage-deflate`, when the server agreed to it.
    pub inflate: Option<Box<Inflate>>,
    /// The packet encoding (JSON unless `--parser msgpack`).
    pub codec: Codec,
}

impl WsClient {
    /// Connects: WebSocket upgrade, Engine.IO open, `40` and its `40{"sid":..}` reply (their
    /// msgpack forms with [`Codec::Msgpack`]). With `deflate`, offers `permessage-deflate` as
    /// browsers do.
    pub async fn connect(
        addr: SocketAddr,
        index: usize,
        mask: [u8; 4],
        deflate: bool,
        codec: Codec,
    ) -> io::Result<WsClient> {
        let mut stream = connect_tcp(addr, index).await?;
        let mut req = ws_request(addr, "EIO=4&transport=websocket");
        if deflate {
            // Before the blank line that ends the request's head.
            req.truncate(req.len() - 2);
            req.push_str(
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
            );
        }
        stream.write_all(req.as_bytes()).await?;
        let mut inbuf = Inbuf::new(4096);
        let agreed = loop {
            // Read before the head is taken off the buffer.
            let agreed = deflate_agreed(inbuf.pending());
            if upgrade_head(&mut inbuf)? {
                break agreed;
            }
            read_into(&mut stream, &mut inbuf, "closed during upgrade").await?;
        };
        let mut c = WsClient::new(stream, inbuf, mask);
        c.inflate = agreed.map(|v| Box::new(Inflate::new(&v)));
        c.codec = codec;
        c.await_namespace(false).await?;
        Ok(c)
    }

    /// Connects the way socket.io-client and browsers do by default: the Engine.IO handshake
    /// over long-polling, then at once the namespace CONNECT (`40`) in a POST, the next
    /// long-polling GET and a WebSocket to the same session, probed with `2probe`; on
    /// `3probe` polling pauses (the pending GET is answered by the server, typically with a
    /// `6` noop, and no new one is sent) and `5` on the WebSocket completes the upgrade. The
    /// `40{"sid":..}` reply comes in a polling response or, after the upgrade, on the
    /// WebSocket. As a browser does, the GETs share one keep-alive connection and the POSTs
    /// another; both are closed once the WebSocket took over.
    /// `at` follows the step under way (the handshake, a polling GET, the CONNECT POST, the
    /// WebSocket), and an error names it.
    pub async fn connect_upgrade(
        addr: SocketAddr,
        index: usize,
        mask: [u8; 4],
        rng: &mut Rng,
        at: &mut &'static str,
    ) -> io::Result<WsClient> {
        *at = "handshake";
        WsClient::upgrade_steps(addr, index, mask, rng, at)
            .await
            .map_err(|e| match e.raw_os_error() {
                // The kernel's errors keep their code (a refusal is told apart by it).
                Some(_) => e,
                None => io::Error::new(e.kind(), format!("{}: {e}", *at)),
            })
    }

    async fn upgrade_steps(
        addr: SocketAddr,
        index: usize,
        mask: [u8; 4],
        rng: &mut Rng,
        at: &mut &'static str,
    ) -> io::Result<WsClient> {
        // engine.io-client adds a cache-busting `t` to every polling request.
        let mut t = || format!("{:08x}", rng.next_u64() as u32);
        let mut get = HttpConn::new(connect_tcp(addr, index).await?, 4096);
        let handshake = format!(
            "GET /socket.io/?EIO=4&transport=polling&t={} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n",
            t()
        );
        get.stream.write_all(handshake.as_bytes()).await?;
        let open = get.response().await?;
        let sid = open_sid(&open.body)?;
        if !offers_websocket(&open.body) {
            return Err(err(
                io::ErrorKind::InvalidData,
                "the open packet offers no websocket upgrade",
            ));
        }
        *at = "opening the CONNECT POST's and the WebSocket's connections";
        let mut post = HttpConn::new(connect_tcp(addr, index).await?, 1024);
        let mut ws = connect_tcp(addr, index).await?;
        let get_req = |t: String| {
            format!(
                "GET /socket.io/?EIO=4&transport=polling&t={t}&sid={sid} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n"
            )
        };
        let post_req = |t: String, body: &[u8]| {
            let mut r = format!(
                "POST /socket.io/?EIO=4&transport=polling&t={t}&sid={sid} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\
                 Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        };
        // On open, engine.io-client flushes the CONNECT, starts the probe and polls again.
        post.stream.write_all(&post_req(t(), b"40")).await?;
        ws.write_all(ws_request(addr, &format!("EIO=4&transport=websocket&sid={sid}")).as_bytes())
            .await?;
        get.stream.write_all(get_req(t()).as_bytes()).await?;
        let (mut get_inflight, mut post_inflight) = (true, true);
        let mut queued: Vec<u8> = Vec::new(); // pongs to POST
        let mut ws_in = Inbuf::new(4096);
        let (mut head_done, mut probe_acked, mut state) = (false, false, 0u8);
        loop {
            // Paused: no request in flight on the polling transport; `5` hands over.
            if probe_acked && !get_inflight && !post_inflight {
                ws.write_all(&client_frame(OP_TEXT, b"5", mask)).await?;
                break;
            }
            tokio::select! {
                r = get.read_some(), if get_inflight => {
                    *at = "polling GET";
                    r?;
                    while let Some(resp) = get.try_response()? {
                        get_inflight = false;
                        for p in resp.body.split(|&b| b == 0x1e) {
                            match p.first() {
                                Some(b'4') => state = connect_state(Codec::Json, p, state),
                                Some(b'2') => push_packet(&mut queued, b"3"),
                                Some(b'1') => return Err(err(io::ErrorKind::ConnectionAborted, "engine closed")),
                                _ => {}
                            }
                        }
                        if state == 3 {
                            return Err(err(io::ErrorKind::ConnectionRefused, "namespace connect refused"));
                        }
                        if !probe_acked {
                            get.stream.write_all(get_req(t()).as_bytes()).await?;
                            get_inflight = true;
                        }
                    }
                }
                r = post.read_some(), if post_inflight => {
                    *at = "CONNECT POST";
                    r?;
                    if post.try_response()?.is_some() {
                        post_inflight = false;
                        if !queued.is_empty() && !probe_acked {
                            post.stream.write_all(&post_req(t(), &queued)).await?;
                            queued.clear();
                            post_inflight = true;
                        }
                    }
                }
                r = read_into(&mut ws, &mut ws_in, "closed during the upgrade") => {
                    *at = "WebSocket upgrade";
                    r?;
                    if !head_done && upgrade_head(&mut ws_in)? {
                        head_done = true;
                        ws.write_all(&client_frame(OP_TEXT, b"2probe", mask)).await?;
                    }
                    if head_done {
                        while let Some(f) = ws_in.next_frame()? {
                            let p = &ws_in.data[f.payload];
                            if f.opcode == OP_CLOSE {
                                return Err(err(io::ErrorKind::ConnectionAborted, "websocket closed during the upgrade"));
                            }
                            if f.opcode == OP_TEXT && p == b"3probe" {
                                probe_acked = true;
                            }
                        }
                        ws_in.settle();
                    }
                }
            }
        }
        drop((get, post));
        *at = "namespace CONNECT over the WebSocket";
        let mut c = WsClient::new(ws, ws_in, mask);
        if state != 2 {
            c.await_namespace(true).await?;
        }
        Ok(c)
    }

    fn new(stream: TcpStream, inbuf: Inbuf, mask: [u8; 4]) -> WsClient {
        WsClient {
            stream,
            inbuf,
            mask,
            pong: client_frame(OP_TEXT, b"3", mask),
            inflate: None,
            codec: Codec::Json,
        }
    }

    /// Reads until the namespace handshake is done: the Engine.IO open packet first (and
    /// `40` sent in reply) unless `opened`, then `40{"sid":..}`.
    async fn await_namespace(&mut self, mut opened: bool) -> io::Result<()> {
        let mut out = Vec::new();
        loop {
            let mut state = 0u8; // 1 = got the open packet, 2 = connected, 3 = refused
            let codec = self.codec;
            let seen = |p: &[u8], _| state = connect_state(codec, p, state);
            self.handle_frames(&mut out, seen, &mut opened)?;
            if !out.is_empty() {
                self.stream.write_all(&out).await?;
                out.clear();
            }
            match state {
                2 => return Ok(()),
                3 => {
                    return Err(err(
                        io::ErrorKind::ConnectionRefused,
                        "namespace connect refused",
                    ))
                }
                _ => {}
            }
            self.read_some().await?;
        }
    }

    /// Reads whatever is available (at least one byte).
    pub async fn read_some(&mut self) -> io::Result<usize> {
        let n = self.stream.read(self.inbuf.space()).await?;
        if n == 0 {
            return Err(err(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        self.inbuf.filled(n);
        Ok(n)
    }

    /// Handles every complete frame in the buffer: Engine.IO pings get a pong and WebSocket
    /// pings a pong frame (both appended to `out`, to be written by the caller); Socket.IO
    /// packets go to `on_packet` (the text of an Engine.IO message, `4...`, or with
    /// [`Codec::Msgpack`] a binary message; inflated when it came compressed) with the length
    /// of their frame on the wire.
    pub fn frames(
        &mut self,
        out: &mut Vec<u8>,
        on_packet: impl FnMut(&[u8], usize),
    ) -> io::Result<()> {
        let mut opened = true;
        self.handle_frames(out, on_packet, &mut opened)
    }

    fn handle_frames(
        &mut self,
        out: &mut Vec<u8>,
        mut on_packet: impl FnMut(&[u8], usize),
        opened: &mut bool,
    ) -> io::Result<()> {
        while let Some(f) = self.inbuf.next_frame()? {
            let mut p = &self.inbuf.data[f.payload];
            if f.compressed {
                let Some(inflate) = self.inflate.as_mut() else {
                    return Err(err(
                        io::ErrorKind::InvalidData,
                        "compressed frame not agreed",
                    ));
                };
                inflate.inflate(p)?;
                p = &inflate.out;
            }
            match f.opcode {
                OP_TEXT => match p.first() {
                    Some(b'4') => on_packet(p, f.wire_len),
                    Some(b'2') => out.extend_from_slice(&self.pong),
                    Some(b'0') if !*opened => {
                        *opened = true;
                        let connect = self.codec.connect();
                        out.extend_from_slice(&self.codec.frame(&connect, self.mask));
                    }
                    Some(b'1') => {
                        return Err(err(io::ErrorKind::ConnectionAborted, "engine closed"))
                    }
                    _ => {}
                },
                OP_BINARY if self.codec == Codec::Msgpack => on_packet(p, f.wire_len),
                OP_PING => out.extend_from_slice(&client_frame(OP_PONG, p, self.mask)),
                OP_CLOSE => return Err(err(io::ErrorKind::ConnectionAborted, "websocket closed")),
                _ => {}
            }
        }
        self.inbuf.settle();
        Ok(())
    }
}

/// Tracks the namespace handshake: 2 once the CONNECT's reply arrived, 3 on CONNECT_ERROR.
fn connect_state(codec: Codec, p: &[u8], state: u8) -> u8 {
    match codec.seen(p) {
        Seen::Connected => 2,
        Seen::Refused => 3,
        _ => state,
    }
}

/// The WebSocket upgrade request for `query`.
fn ws_request(addr: SocketAddr, query: &str) -> String {
    format!(
        "GET /socket.io/?{query} HTTP/1.1\r\nHost: {addr}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: c29ja2V5ZS1iZW5jaC0xNg==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// The `Sec-WebSocket-Extensions` value of a complete upgrade response's head at the start of
/// `pending`, when it agrees `permessage-deflate`.
fn deflate_agreed(pending: &[u8]) -> Option<String> {
    let hend = proto::find(pending, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&pending[..hend]).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("sec-websocket-extensions:"))
        .filter(|v| v.contains("permessage-deflate"))
        .map(str::to_owned)
}

/// Takes the upgrade response's head off `inbuf` once it is complete: `Ok(true)` for a
/// `101`, `Ok(false)` while incomplete, an error for any other answer.
fn upgrade_head(inbuf: &mut Inbuf) -> io::Result<bool> {
    let Some(hend) = proto::find(inbuf.pending(), b"\r\n\r\n") else {
        if inbuf.pending().len() > 16 << 10 {
            return Err(err(
                io::ErrorKind::InvalidData,
                "upgrade response too large",
            ));
        }
        return Ok(false);
    };
    if !inbuf.pending().starts_with(b"HTTP/1.1 101") {
        let line = inbuf.pending().split(|&b| b == b'\r').next().unwrap_or(b"");
        let msg = format!("upgrade refused: {}", String::from_utf8_lossy(line));
        return Err(io::Error::new(io::ErrorKind::ConnectionRefused, msg));
    }
    inbuf.consume(hend + 4);
    Ok(true)
}

/// Reads what is available into `inbuf` (at least one byte); `eof` names an early close.
async fn read_into(stream: &mut TcpStream, inbuf: &mut Inbuf, eof: &str) -> io::Result<()> {
    let n = stream.read(inbuf.space()).await?;
    if n == 0 {
        return Err(err(io::ErrorKind::UnexpectedEof, eof));
    }
    inbuf.filled(n);
    Ok(())
}

/// The session id of an Engine.IO open packet (`0{"sid":"..",..}`).
fn open_sid(body: &[u8]) -> io::Result<String> {
    let body = String::from_utf8_lossy(body);
    body.strip_prefix('0')
        .and_then(|b| b.split("\"sid\":\"").nth(1))
        .and_then(|b| b.split('"').next())
        .map(str::to_string)
        .ok_or_else(|| err(io::ErrorKind::InvalidData, "no sid in the open packet"))
}

/// Whether an open packet lists `websocket` among its `upgrades`.
fn offers_websocket(body: &[u8]) -> bool {
    let body = String::from_utf8_lossy(body);
    body.split_once("\"upgrades\"")
        .and_then(|(_, rest)| rest.split(']').next())
        .is_some_and(|list| list.contains("\"websocket\""))
}

/// Appends one Engine.IO packet to a polling payload (0x1e between packets).
fn push_packet(queue: &mut Vec<u8>, packet: &[u8]) {
    if !queue.is_empty() {
        queue.push(0x1e);
    }
    queue.extend_from_slice(packet);
}

/// One HTTP/1.1 keep-alive connection.
pub struct HttpConn {
    /// The socket.
    pub stream: TcpStream,
    inbuf: Inbuf,
}

impl HttpConn {
    /// A connection with `cap` bytes of input buffer.
    pub fn new(stream: TcpStream, cap: usize) -> HttpConn {
        HttpConn {
            stream,
            inbuf: Inbuf::new(cap),
        }
    }

    /// Reads whatever is available (at least one byte).
    pub async fn read_some(&mut self) -> io::Result<()> {
        let n = self.stream.read(self.inbuf.space()).await?;
        if n == 0 {
            return Err(err(
                io::ErrorKind::UnexpectedEof,
                "server closed the HTTP connection",
            ));
        }
        self.inbuf.filled(n);
        Ok(())
    }

    /// Takes a complete response off the buffer, if one is there.
    pub fn try_response(&mut self) -> io::Result<Option<proto::Response>> {
        let r = proto::parse_response(self.inbuf.pending())?;
        if let Some(r) = &r {
            self.inbuf.consume(r.consumed);
            if r.status != 200 {
                let msg = format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body));
                return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
            }
        }
        Ok(r)
    }

    /// Waits for the next complete response.
    pub async fn response(&mut self) -> io::Result<proto::Response> {
        loop {
            if let Some(r) = self.try_response()? {
                return Ok(r);
            }
            self.read_some().await?;
        }
    }
}

/// A Socket.IO client over Engine.IO long-polling: one connection keeps a GET pending, the
/// other carries POSTs (one at a time, as Engine.IO requires).
pub struct PollClient {
    /// The connection with the pending GET.
    pub get: HttpConn,
    /// The connection for POSTs.
    pub post: HttpConn,
    /// Whether a POST is awaiting its response.
    pub post_inflight: bool,
    /// Packets waiting for the next POST, already joined with the 0x1e separator.
    pub queue: Vec<u8>,
    get_req: Vec<u8>,
    post_head: String,
}

impl PollClient {
    /// Connects: Engine.IO handshake GET, POST `40`, GET until `40{"sid":..}`. Leaves a GET pending.
    pub async fn connect(addr: SocketAddr, index: usize) -> io::Result<PollClient> {
        let mut get = HttpConn::new(connect_tcp(addr, index).await?, 4096);
        let hs =
            format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        get.stream.write_all(hs.as_bytes()).await?;
        let open = get.response().await?;
        let sid = open_sid(&open.body)?;
        let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        let post = HttpConn::new(connect_tcp(addr, index).await?, 1024);
        let mut c = PollClient {
            get,
            post,
            post_inflight: false,
            queue: Vec::new(),
            get_req: format!("GET {q} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes(),
            post_head: format!(
                "POST {q} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: "
            ),
        };
        c.push(b"40");
        c.flush_post().await?;
        c.post.response().await?;
        c.post_inflight = false;
        loop {
            c.send_get().await?;
            let r = c.get.response().await?;
            let mut state = 0;
            c.packets(&r.body, |p| state = connect_state(Codec::Json, p, state))?;
            match state {
                2 => break,
                3 => {
                    return Err(err(
                        io::ErrorKind::ConnectionRefused,
                        "namespace connect refused",
                    ))
                }
                _ => {}
            }
        }
        c.send_get().await?;
        c.flush_post().await?;
        Ok(c)
    }

    /// Queues one Engine.IO packet for the next POST.
    pub fn push(&mut self, packet: &[u8]) {
        push_packet(&mut self.queue, packet);
    }

    /// Sends the next long-polling GET.
    pub async fn send_get(&mut self) -> io::Result<()> {
        self.get.stream.write_all(&self.get_req).await
    }

    /// POSTs the queued packets unless a POST is already in flight or nothing is queued.
    pub async fn flush_post(&mut self) -> io::Result<()> {
        if self.post_inflight || self.queue.is_empty() {
            return Ok(());
        }
        let mut req = Vec::with_capacity(self.post_head.len() + 8 + self.queue.len());
        req.extend_from_slice(self.post_head.as_bytes());
        req.extend_from_slice(format!("{}\r\n\r\n", self.queue.len()).as_bytes());
        req.extend_from_slice(&self.queue);
        self.queue.clear();
        self.post_inflight = true;
        self.post.stream.write_all(&req).await
    }

    /// Splits a GET body into packets: pings are answered (queued `3`), Socket.IO packets go
    /// to `on_packet`.
    pub fn packets(&mut self, body: &[u8], mut on_packet: impl FnMut(&[u8])) -> io::Result<()> {
        for p in body.split(|&b| b == 0x1e) {
            match p.first() {
                Some(b'4') => on_packet(p),
                Some(b'2') => self.push(b"3"),
                Some(b'1') => return Err(err(io::ErrorKind::ConnectionAborted, "engine closed")),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_packets() {
        let open = br#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000}"#;
        assert_eq!(open_sid(open).unwrap(), "abc");
        assert!(offers_websocket(open));
        assert!(!offers_websocket(br#"0{"sid":"abc","upgrades":[]}"#));
        // A websocket named elsewhere than in the upgrades is not an offer.
        assert!(!offers_websocket(
            br#"0{"sid":"websocket","upgrades":[],"x":"websocket"}"#
        ));
        assert!(open_sid(b"40{}").is_err());
    }

    #[test]
    fn upgrade_heads() {
        let mut buf = Inbuf::new(64);
        buf.push(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
        assert!(!upgrade_head(&mut buf).unwrap());
        buf.push(b"\r\n\x81\x063probe");
        assert!(upgrade_head(&mut buf).unwrap());
        // The frame that came in the same read is kept.
        let f = buf.next_frame().unwrap().unwrap();
        assert_eq!(&buf.data[f.payload], b"3probe");
        let mut refused = Inbuf::new(64);
        refused.push(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        let e = upgrade_head(&mut refused).unwrap_err();
        assert!(e.to_string().contains("400"), "{e}");
    }

    /// The default path against a real Sockeye server: connected and upgraded, and the
    /// WebSocket then carries the session (an event and its answer).
    #[tokio::test]
    async fn the_default_path_upgrades_against_sockeye() {
        let (svc, io) = sockeye::SocketIo::new_svc();
        io.ns("/", |s: sockeye::SocketRef| {
            s.on("message", |s: sockeye::SocketRef, p: sockeye::Payload| {
                let _ = s.emit_payload("message", &p);
            });
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(sockeye::serve(listener, svc, std::future::pending()));
        let mut rng = Rng::new(7);
        let mut at = "";
        let mut c = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            WsClient::connect_upgrade(addr, 0, [1, 2, 3, 4], &mut rng, &mut at),
        )
        .await
        .expect("connected within 10 s")
        .expect("connected");
        assert_eq!(at, "namespace CONNECT over the WebSocket");
        c.stream
            .write_all(&client_frame(OP_TEXT, br#"42["message","up"]"#, c.mask))
            .await
            .unwrap();
        let mut got = Vec::new();
        while got.is_empty() {
            c.read_some().await.unwrap();
            let mut out = Vec::new();
            c.frames(&mut out, |p, _| got.push(p.to_vec())).unwrap();
        }
        assert_eq!(got, vec![br#"42["message","up"]"#.to_vec()]);
    }
}
