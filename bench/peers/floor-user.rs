//! The floor of the user configuration: the least a WebSocket server mounted the way the
//! README mounts Sockeye (axum, `axum::serve`, `#[tokio::main]`'s multi-thread runtime, plain
//! `cargo build --release`, not pinned) can do for the benchmark's WebSocket scenarios.
//!
//! It is not a Socket.IO server and not part of Sockeye: no long-polling, no pings, no rooms,
//! no acks, no limits beyond one bound on a slow client's backlog. It answers the upgrade
//! itself, sends the Engine.IO open packet, answers `40` with `40{"sid":..}`, sends each
//! `42["message",..]` back to its sender unchanged and each `42["tick",..]` to every connected
//! client, the frame encoded once. A write to a client goes straight to its socket when
//! nothing is queued for it; what the socket does not take waits in the client's queue, which
//! its own task writes when the socket can take more. `bench/run.sh` runs it as the
//! `floor-user` server: what separates Sockeye's user configuration from the ceiling that is
//! not Sockeye's own work (tokio's scheduler, hyper's and axum's connection handling).
//!
//! `floor-user --port 3017` (also `PORT`).

use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use base64::Engine as _;
use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// A client whose queue grows past this is dropped.
const MAX_QUEUED: usize = 64 << 20;
/// The largest frame read from a client.
const MAX_FRAME: usize = 1 << 20;

static NEXT_SID: AtomicU64 = AtomicU64::new(1);

/// One client: its socket's write half and what the socket has not taken yet.
struct Client {
    socket: OwnedWriteHalf,
    queued: Mutex<Vec<u8>>,
    wake: Notify,
}

type Clients = Arc<Mutex<Vec<Arc<Client>>>>;

impl Client {
    /// Queues `frame`; true when the queue was empty (the caller then calls `write` once
    /// it has queued what it has for now). False in `.1` when the client must go.
    fn queue(&self, frame: &[u8]) -> (bool, bool) {
        let mut queued = self.queued.lock().unwrap();
        let first = queued.is_empty();
        queued.extend_from_slice(frame);
        (first, queued.len() <= MAX_QUEUED)
    }

    /// One write of what is queued; what the socket does not take is left to the client's
    /// task. False when the client must go.
    fn write(&self) -> bool {
        let mut queued = self.queued.lock().unwrap();
        if queued.is_empty() {
            return true;
        }
        match self.socket.try_write(&queued) {
            Ok(n) if n == queued.len() => {
                queued.clear();
                return true;
            }
            Ok(n) => drop(queued.drain(..n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
        self.wake.notify_one();
        true
    }

    /// Writes the queue until it is empty.
    async fn flush(&self) -> std::io::Result<()> {
        loop {
            {
                let mut queued = self.queued.lock().unwrap();
                if queued.is_empty() {
                    return Ok(());
                }
                match self.socket.try_write(&queued) {
                    Ok(n) => {
                        queued.drain(..n);
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            self.socket.writable().await?;
        }
    }
}

fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x81);
    let n = payload.len();
    if n < 126 {
        out.push(n as u8);
    } else if n < 65536 {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// The first whole client frame in `input`: (opcode, unmasked payload range, its length
/// with the header), the payload unmasked in place. None while incomplete; Err when too large.
fn next_frame(input: &mut [u8]) -> Result<Option<(u8, std::ops::Range<usize>, usize)>, ()> {
    if input.len() < 2 {
        return Ok(None);
    }
    let (len, head) = match input[1] & 0x7f {
        126 if input.len() >= 4 => (u16::from_be_bytes([input[2], input[3]]) as usize, 4),
        127 if input.len() >= 10 => (
            u64::from_be_bytes(input[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return Ok(None),
        n => (n as usize, 2),
    };
    if len > MAX_FRAME {
        return Err(());
    }
    let start = head + 4;
    if input.len() < start + len {
        return Ok(None);
    }
    let mask = [
        input[head],
        input[head + 1],
        input[head + 2],
        input[head + 3],
    ];
    for (i, b) in input[start..start + len].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
    Ok(Some((input[0] & 0x0f, start..start + len, start + len)))
}

async fn connection(upgraded: hyper::upgrade::Upgraded, clients: Clients) {
    // Behind axum::serve the stream comes wrapped by hyper-util's auto builder.
    let (io, read_buf) = match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => (parts.io, parts.read_buf),
        Err(upgraded) => {
            match hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<TcpStream>>(upgraded)
            {
                Ok(parts) => (parts.io, parts.read_buf),
                Err(_) => return,
            }
        }
    };
    let (mut reader, socket) = io.into_inner().into_split();
    let me = Arc::new(Client {
        socket,
        queued: Mutex::new(Vec::new()),
        wake: Notify::new(),
    });
    let sid = format!("{:020}", NEXT_SID.fetch_add(1, Ordering::Relaxed));
    let mut out = Vec::with_capacity(128);
    let open = format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}}"
    );
    frame(open.as_bytes(), &mut out);
    let mut joined = false;
    let mut input: Vec<u8> = read_buf.to_vec();
    me.queue(&out);
    let mut alive = me.write();
    // The clients this read's frames queued something for: one write each at its end.
    let mut dirty: Vec<Arc<Client>> = Vec::new();
    let mut chunk = vec![0u8; 4096];
    'run: while alive {
        let mut used = 0;
        loop {
            let (opcode, payload, len) = match next_frame(&mut input[used..]) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(()) => break 'run,
            };
            let p = &input[used + payload.start..used + payload.end];
            used += len;
            if opcode == 8 {
                break 'run;
            }
            out.clear();
            if p == b"40" {
                frame(format!("40{{\"sid\":\"{sid}\"}}").as_bytes(), &mut out);
                if !joined {
                    clients.lock().unwrap().push(me.clone());
                    joined = true;
                }
            } else if p.starts_with(b"42[\"message\"") {
                frame(p, &mut out);
            } else if p.starts_with(b"42[\"tick\"") {
                let mut tick = Vec::with_capacity(p.len() + 10);
                frame(p, &mut tick);
                for c in clients.lock().unwrap().iter() {
                    // A client over its bound ends when its own task next looks.
                    if c.queue(&tick).0 {
                        dirty.push(c.clone());
                    }
                }
            }
            if !out.is_empty() {
                let (first, ok) = me.queue(&out);
                if !ok {
                    break 'run;
                }
                if first {
                    dirty.push(me.clone());
                }
            }
        }
        input.drain(..used);
        for c in dirty.drain(..) {
            if !c.write() && Arc::ptr_eq(&c, &me) {
                alive = false;
            }
        }
        tokio::select! {
            r = reader.read(&mut chunk) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => input.extend_from_slice(&chunk[..n]),
            },
            _ = me.wake.notified() => alive = me.flush().await.is_ok(),
        }
        alive = alive && me.queued.lock().unwrap().len() <= MAX_QUEUED;
    }
    if joined {
        clients.lock().unwrap().retain(|c| !Arc::ptr_eq(c, &me));
    }
}

async fn handle(clients: Clients, mut req: Request<Body>) -> Response<Body> {
    let key = match req.headers().get("sec-websocket-key") {
        Some(k) => k.as_bytes().to_vec(),
        None => return Response::builder().status(400).body(Body::empty()).unwrap(),
    };
    let mut sha1 = Sha1::new();
    sha1.update(&key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            connection(upgraded, clients).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept)
        .body(Body::empty())
        .unwrap()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("PORT").ok())
        .and_then(|p| p.parse().ok())
        .unwrap_or(3017);
    let clients: Clients = Arc::default();
    let app = axum::Router::new().fallback(move |req: Request<Body>| handle(clients.clone(), req));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {port}");
    axum::serve(listener, app).await
}
