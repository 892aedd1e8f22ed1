//! Benchmark peer: socketioxide with the benchmark's two handlers. `bench/run.sh` copies this
//! file into a throwaway crate under `bench/.work/socketioxide` (outside the workspace).
//! `message` is echoed to its sender; `tick` is broadcast to every client (sender included).
//! Usage: `PORT=3012 WORKERS=1 socketioxide-bench-server`

use serde_json::Value;
use socketioxide::extract::{Data, SocketRef};
use socketioxide::SocketIo;

fn main() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    let port = env("PORT").unwrap_or(3012) as u16;
    let workers = env("WORKERS").unwrap_or(1).max(1);
    // One worker runs a current-thread runtime, as the Sockeye bench server does.
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    rt.block_on(async move {
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
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        println!("listening on {port}");
        axum::serve(listener, app).await.expect("serve");
    });
}
