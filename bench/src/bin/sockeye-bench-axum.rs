//! The Sockeye server of the benchmark as a user writes it: the README's library example
//! (axum, `axum::serve`, `#[tokio::main]`'s multi-thread runtime with its default worker
//! count, no huge pages) with the benchmark's two handlers: `message` is echoed to its
//! sender, `tick` is broadcast to every socket of `/` (the sender included).
//!
//! `sockeye-bench-axum --port 3015` (also `PORT`). `bench/run.sh` builds it as a user's own
//! crate would be built (`cargo build --release` in a crate outside this workspace, with
//! cargo's default release profile) and runs it without pinning: the "user config" rows of
//! the benchmark. `sockeye-bench-server` is the tuned configuration.

use sockeye::{Payload, SocketIo, SocketRef};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("PORT").ok())
        .and_then(|p| p.parse().ok())
        .unwrap_or(3015);

    let (layer, io) = SocketIo::new_layer();
    io.ns("/", |socket: SocketRef| {
        socket.on("message", |s: SocketRef, p: Payload| {
            let _ = s.emit_payload("message", &p);
        });
        socket.on("tick", |io: SocketIo, p: Payload| async move {
            let _ = io.emit_payload("tick", &p).await;
        });
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {port}");
    axum::serve(listener, app).await
}
