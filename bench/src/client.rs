//! The two client connections: Engine.IO v4 / Socket.IO v5 over a hand-framed WebSocket, and
//! over HTTP long-polling with a hand-written HTTP/1.1 client.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::proto::{self, client_frame, Inbuf, Inflate, OP_CLOSE, OP_PING, OP_TEXT};

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
}

impl WsClient {
    /// Connects: WebSocket upgrade, Engine.IO open, `40` and its `40{"sid":..}` reply. With
    /// `deflate`, offers `permessage-deflate` as browsers do.
    pub async fn connect(
        addr: SocketAddr,
        index: usize,
        mask: [u8; 4],
        deflate: bool,
    ) -> io::Result<WsClient> {
        let mut stream = connect_tcp(addr, index).await?;
        let offer = if deflate {
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        } else {
            ""
        };
        let req = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n{offer}\
             Sec-WebSocket-Key: c29ja2V5ZS1iZW5jaC0xNg==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await?;
        let mut inbuf = Inbuf::new(4096);
        let hend = loop {
            if let Some(p) = proto::find(inbuf.pending(), b"\r\n\r\n") {
                break p;
            }
            if inbuf.pending().len() > 16 << 10 {
                return Err(err(
                    io::ErrorKind::InvalidData,
                    "upgrade response too large",
                ));
            }
            let n = stream.read(inbuf.space()).await?;
            if n == 0 {
                return Err(err(io::ErrorKind::UnexpectedEof, "closed during upgrade"));
            }
            inbuf.filled(n);
        };
        if !inbuf.pending().starts_with(b"HTTP/1.1 101") {
            let line = inbuf.pending().split(|&b| b == b'\r').next().unwrap_or(b"");
            let msg = format!("upgrade refused: {}", String::from_utf8_lossy(line));
            return Err(io::Error::new(io::ErrorKind::ConnectionRefused, msg));
        }
        let head = String::from_utf8_lossy(&inbuf.pending()[..hend]).to_ascii_lowercase();
        let inflate = head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-extensions:"))
            .filter(|v| v.contains("permessage-deflate"))
            .map(|v| Box::new(Inflate::new(v)));
        inbuf.consume(hend + 4);
        let mut c = WsClient {
            stream,
            inbuf,
            mask,
            pong: client_frame(OP_TEXT, b"3", mask),
            inflate,
        };
        let mut out = Vec::new();
        let mut opened = false;
        loop {
            let mut state = 0u8; // 1 = got the open packet, 2 = connected, 3 = refused
            c.handle_frames(&mut out, |p| state = connect_state(p, state), &mut opened)?;
            if !out.is_empty() {
                c.stream.write_all(&out).await?;
                out.clear();
            }
            match state {
                2 => return Ok(c),
                3 => {
                    return Err(err(
                        io::ErrorKind::ConnectionRefused,
                        "namespace connect refused",
                    ))
                }
                _ => {}
            }
            c.read_some().await?;
        }
    }

    /// Reads whatever is available (at least one byte); returns how many bytes.
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
    /// packets go to `on_packet`.
    pub fn frames(&mut self, out: &mut Vec<u8>, on_packet: impl FnMut(&[u8])) -> io::Result<()> {
        let mut opened = true;
        self.handle_frames(out, on_packet, &mut opened)
    }

    fn handle_frames(
        &mut self,
        out: &mut Vec<u8>,
        mut on_packet: impl FnMut(&[u8]),
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
                    Some(b'4') => on_packet(p),
                    Some(b'2') => out.extend_from_slice(&self.pong),
                    Some(b'0') if !*opened => {
                        *opened = true;
                        out.extend_from_slice(&client_frame(OP_TEXT, b"40", self.mask));
                    }
                    Some(b'1') => {
                        return Err(err(io::ErrorKind::ConnectionAborted, "engine closed"))
                    }
                    _ => {}
                },
                OP_PING => out.extend_from_slice(&client_frame(OP_PONG, p, self.mask)),
                OP_CLOSE => return Err(err(io::ErrorKind::ConnectionAborted, "websocket closed")),
                _ => {}
            }
        }
        self.inbuf.settle();
        Ok(())
    }
}

/// Tracks the namespace handshake: 2 once `40` (connected) arrived, 3 on `44` (refused).
fn connect_state(p: &[u8], state: u8) -> u8 {
    if p.starts_with(b"40") {
        2
    } else if p.starts_with(b"44") {
        3
    } else {
        state
    }
}

/// One HTTP/1.1 keep-alive connection.
pub struct HttpConn {
    /// The socket.
    pub stream: TcpStream,
    inbuf: Inbuf,
}

impl HttpConn {
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
        let mut get = HttpConn {
            stream: connect_tcp(addr, index).await?,
            inbuf: Inbuf::new(4096),
        };
        let hs =
            format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        get.stream.write_all(hs.as_bytes()).await?;
        let open = get.response().await?;
        let body = String::from_utf8_lossy(&open.body).into_owned();
        let sid = body
            .strip_prefix('0')
            .and_then(|b| b.split("\"sid\":\"").nth(1))
            .and_then(|b| b.split('"').next())
            .ok_or_else(|| err(io::ErrorKind::InvalidData, "no sid in the open packet"))?
            .to_string();
        let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        let post = HttpConn {
            stream: connect_tcp(addr, index).await?,
            inbuf: Inbuf::new(1024),
        };
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
            c.packets(&r.body, |p| state = connect_state(p, state))?;
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
        if !self.queue.is_empty() {
            self.queue.push(0x1e);
        }
        self.queue.extend_from_slice(packet);
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
