//! What an idle WebSocket costs the server's heap: behind `sockeye::serve` and behind
//! `axum::serve` (in both, the upgraded stream is found to be a plain `TcpStream`, so the two
//! must cost the same), and behind a listener whose connections are wrapped (as a TLS
//! listener's are), which Sockeye reads as any `AsyncRead + AsyncWrite`. None may keep a read
//! buffer per idle connection: the wrapped stream may cost its wrappers' few hundred bytes
//! more, not a buffer of kilobytes.
//!
//! The heap is counted by this binary's global allocator; the clients are blocking std
//! sockets, which allocate nothing per connection, so the count is the server's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use sockeye::{SocketIo, SocketRef};

#[path = "common/wrapped.rs"]
mod wrapped;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// A counting allocator needs `unsafe` (the trait is); nothing else in this test does.
// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is kept.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Connections opened before counting (the worker threads' buffers, the first pages of
/// tokio's registrations and of the namespace's maps), then the ones counted. Small enough
/// for a default limit of 1024 open files (both ends of each are in this process).
const WARM: usize = 40;
const COUNTED: usize = 300;

/// Reads one unmasked server frame of a short text message.
fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).expect("frame header");
    let len = match head[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).expect("frame length");
            u16::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("frame body");
    body
}

/// A Socket.IO client of `/` over a WebSocket: handshake, the open packet, CONNECT and its
/// answer. Returns once the server has answered, so its socket is set up.
fn connect(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost\r\n\
          Connection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    // The 101 response, byte by byte up to its blank line (no read past it).
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("101 response");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let open = read_frame(&mut s);
    assert!(
        open.starts_with(b"0{"),
        "{}",
        String::from_utf8_lossy(&open)
    );
    // "40", masked with a zero key.
    s.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'4', b'0']).unwrap();
    let answer = read_frame(&mut s);
    assert!(
        answer.starts_with(b"40{\"sid\":"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    s
}

/// Live heap bytes once the server has settled (its tasks parked again).
fn settled_live() -> isize {
    std::thread::sleep(Duration::from_millis(300));
    LIVE.load(Ordering::Relaxed)
}

/// Heap bytes per idle connection of a server listening at `addr`.
fn bytes_per_idle(addr: SocketAddr) -> f64 {
    let mut clients = Vec::with_capacity(WARM + COUNTED);
    for _ in 0..WARM {
        clients.push(connect(addr));
    }
    let before = settled_live();
    for _ in 0..COUNTED {
        clients.push(connect(addr));
    }
    let after = settled_live();
    drop(clients);
    (after - before) as f64 / COUNTED as f64
}

fn app() -> (sockeye::SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        // No heartbeat during the count.
        .ping_interval(Duration::from_secs(60))
        .build_layer();
    io.ns("/", |_: SocketRef| {});
    (layer, io)
}

/// A listener on a free port of 127.0.0.1.
fn bind(rt: &tokio::runtime::Runtime) -> tokio::net::TcpListener {
    rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap()
}

/// An axum router with Sockeye's layer ([`app`]).
fn router() -> axum::Router {
    axum::Router::new().layer(app().0)
}

#[test]
fn an_idle_websocket_behind_axum_holds_no_read_buffer() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Behind sockeye::serve: the raw TCP path.
    let (svc, io_raw) = SocketIo::builder()
        .ping_interval(Duration::from_secs(60))
        .build_svc();
    io_raw.ns("/", |_: SocketRef| {});
    let listener = bind(&rt);
    let raw_addr = listener.local_addr().unwrap();
    let raw = rt.spawn(sockeye::serve(listener, svc, std::future::pending()));
    let raw_bytes = bytes_per_idle(raw_addr);
    raw.abort();

    // Behind axum::serve: hyper-util's connection wraps the stream, Sockeye unwraps it.
    let listener = bind(&rt);
    let axum_addr = listener.local_addr().unwrap();
    let axum = rt.spawn(async move { axum::serve(listener, router()).await });
    let axum_bytes = bytes_per_idle(axum_addr);
    axum.abort();

    // Behind a listener of wrapped streams: the generic path.
    let listener = bind(&rt);
    let wrapped_addr = listener.local_addr().unwrap();
    let listener = wrapped::WrappedListener(listener);
    let wrapped = rt.spawn(async move { axum::serve(listener, router()).await });
    let wrapped_bytes = bytes_per_idle(wrapped_addr);
    wrapped.abort();

    eprintln!(
        "heap per idle WebSocket: {raw_bytes:.0} B behind sockeye::serve, \
         {axum_bytes:.0} B behind axum::serve, {wrapped_bytes:.0} B wrapped"
    );
    assert!(raw_bytes > 0.0, "nothing counted: {raw_bytes}");
    // The same stream, the same state: the same bytes (the wrapped path costs about 80
    // more, which this tells apart).
    assert!(
        (axum_bytes - raw_bytes).abs() < 40.0,
        "{axum_bytes:.0} B per idle WebSocket behind axum::serve, {raw_bytes:.0} B behind \
         sockeye::serve"
    );
    // A read buffer of its own would add 4 KiB; the wrappers (hyper-util's and hyper's boxes
    // around the stream) add far less.
    assert!(
        wrapped_bytes > raw_bytes && wrapped_bytes < raw_bytes + 1024.0,
        "{wrapped_bytes:.0} B per idle wrapped WebSocket, {raw_bytes:.0} B behind \
         sockeye::serve"
    );
    assert!(axum_bytes < 4096.0, "{axum_bytes:.0} B per idle WebSocket");
    rt.shutdown_timeout(Duration::from_secs(1));
}
