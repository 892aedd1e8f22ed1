//! Sockeye mounted in an axum router with one `.layer(...)`: axum's own routes keep working,
//! and Socket.IO answers on its path over both transports.

mod common;

use std::time::Duration;

use common::{get, Ws};
use sockeye::extract::Data;
use sockeye::{SocketIo, SocketRef};
use tokio::io::AsyncWriteExt;

/// The layer and its handle: `/` answers each `message` with its text reversed, to everyone.
fn reversing_layer() -> (sockeye::SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(400))
        .build_layer();
    io.ns("/", |socket: SocketRef| {
        socket.on(
            "message",
            |socket: SocketRef, Data(text): Data<String>| async move {
                let reversed: String = text.chars().rev().collect();
                let _ = socket.io().emit("message", &reversed).await;
            },
        );
    });
    (layer, io)
}

/// `app` behind `axum::serve` on a free port of 127.0.0.1: its address and the server's task.
async fn serve(
    app: axum::Router,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (
        addr,
        tokio::spawn(async move { axum::serve(listener, app).await }),
    )
}

#[tokio::test]
async fn mounts_in_axum_with_one_layer() {
    let (layer, io) = reversing_layer();
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hello from axum" }))
        .layer(layer);
    let (addr, server) = serve(app).await;

    // axum's route.
    let res = get(addr, "/hello").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "hello from axum");
    // Polling handshake through the layer.
    let res = get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(res.status, 200);
    assert!(res.text().starts_with("0{\"sid\":"), "{}", res.text());
    // Anything else falls through to axum (404 from the router).
    assert_eq!(get(addr, "/nope").await.status, 404);

    // A WebSocket session through the layer: connect, emit, get the reversed broadcast.
    let mut ws = Ws::connect_sio(addr).await;
    ws.text("42[\"message\",\"héllo 🌍\"]").await;
    assert_eq!(ws.recv_text().await, "42[\"message\",\"🌍 olléh\"]");
    assert_eq!(io.sockets().len(), 1);

    // A frame split over two reads (its start kept by the connection until the rest comes)
    // and a message larger than a worker's read buffer both arrive whole.
    assert_split_and_long_frames(&mut ws).await;
    server.abort();
}

/// Behind a listener whose connections are not a plain `TcpStream` (as a TLS listener's are
/// not), the upgraded stream is read and written through the generic path: the same
/// session works, split and long frames included.
#[tokio::test]
async fn a_wrapped_stream_takes_the_generic_path() {
    let (layer, _io) = reversing_layer();
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = common::wrapped::WrappedListener(listener);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut ws = Ws::connect_sio(addr).await;
    ws.text("42[\"message\",\"wrapped\"]").await;
    assert_eq!(ws.recv_text().await, "42[\"message\",\"depparw\"]");
    assert_split_and_long_frames(&mut ws).await;
    // Polling goes through the same wrapped connections.
    let mut p = common::Poller::connect_sio(addr).await;
    p.post_ok("42[\"message\",\"polled\"]").await;
    assert_eq!(p.recv().await, "42[\"message\",\"dellop\"]");
    server.abort();
}

async fn assert_split_and_long_frames(ws: &mut Ws) {
    let frame = common::masked_frame(0x81, "42[\"message\",\"split\"]".as_bytes());
    ws.send_raw(&frame[..5]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    ws.send_raw(&frame[5..]).await;
    assert_eq!(ws.recv_text().await, "42[\"message\",\"tilps\"]");
    let long = "ab".repeat(100_000);
    ws.text(&format!("42[\"message\",\"{long}\"]")).await;
    assert_eq!(
        ws.recv_text().await,
        format!("42[\"message\",\"{}\"]", "ba".repeat(100_000))
    );
}

/// Node's `ws` turns Nagle's algorithm off on every WebSocket; `axum::serve` leaves it on
/// for the connections it accepts. A WebSocket behind it, opened directly or by upgrading a
/// polling session, has it off (else a frame written before the client acknowledged the one
/// before it would wait for that acknowledgement, up to the client's delayed ACK); axum's own
/// HTTP connections keep the listener's setting.
#[tokio::test]
async fn websockets_behind_axum_serve_send_without_delay() {
    let (layer, _io) = reversing_layer();
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hello" }))
        .layer(layer);
    let (addr, server) = serve(app).await;

    // An HTTP connection that axum serves (kept alive): the listener's setting, Nagle on.
    let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    http.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let res = common::read_response(&mut http, &mut buf).await.unwrap();
    assert_eq!(res.status, 200);
    assert!(!server_side_nodelay(http.local_addr().unwrap()));

    // A WebSocket opened directly.
    let mut ws = Ws::connect_sio(addr).await;
    ws.text("42[\"message\",\"direct\"]").await;
    assert_eq!(ws.recv_text().await, "42[\"message\",\"tcerid\"]");
    assert!(server_side_nodelay(ws.stream.local_addr().unwrap()));

    // A polling session upgraded to WebSocket.
    let p = common::Poller::connect_sio(addr).await;
    let query = format!("EIO=4&transport=websocket&sid={}", p.sid);
    let mut up = Ws::upgrade_with(addr, &query, &[]).await.expect("upgrade");
    up.text("2probe").await;
    assert_eq!(up.recv_text().await, "3probe");
    up.text("5").await;
    up.text("42[\"message\",\"upgraded\"]").await;
    assert_eq!(up.recv_text().await, "42[\"message\",\"dedargpu\"]");
    assert!(server_side_nodelay(up.stream.local_addr().unwrap()));
    server.abort();
}

/// Whether the server's end of the TCP connection whose client end is `client` has
/// `TCP_NODELAY` set. The server runs in this process, so its sockets are among this
/// process's descriptors: the one whose peer is `client` is the server's end.
#[allow(unsafe_code)]
fn server_side_nodelay(client: std::net::SocketAddr) -> bool {
    use std::os::fd::BorrowedFd;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(fd) = entry.unwrap().file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: the descriptor is only queried (its peer's address, one option) while it is
        // borrowed here. If it was closed in between or is not a socket, the queries fail and
        // it is skipped; nothing is read from it or written to it.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        if socket.peer_addr().ok().and_then(|a| a.as_socket()) == Some(client) {
            return socket.tcp_nodelay().expect("TCP_NODELAY");
        }
    }
    panic!("no socket of this process has {client} as its peer");
}
