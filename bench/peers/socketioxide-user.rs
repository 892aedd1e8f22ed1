//! Benchmark peer, the user configuration: socketioxide as its README mounts it (axum,
//! `axum::serve`, `#[tokio::main]`'s multi-thread runtime with its default worker count),
//! with the benchmark's two handlers: `message` is echoed to its sender; `tick` is broadcast
//! to every client (sender included). `bench/run.sh` builds it with `cargo build --release`
//! (cargo's default release profile) in the throwaway crate of `socketioxide-server.rs` and
//! runs it without pinning, beside Sockeye's `sockeye-bench-axum`.
//! Usage: `PORT=3016 socketioxide-bench-user`

use serde_json::Value;
use socketioxide::extract::{Data, SocketRef};
use socketioxide::SocketIo;

#[tokio::main]
async fn main() {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
        .unwrap_or(3016);
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |s: SocketRef| {
        s.on("message", async |s: SocketRef, Data::<Value>(d)| {
            s.emit("message", &d).ok();
        });
        s.on("tick", async |io: SocketIo, Data::<Value>(d)| {
            io.emit("tick", &d).await.ok();
        });
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    println!("listening on {port}");
    axum::serve(listener, app).await.expect("serve");
}
