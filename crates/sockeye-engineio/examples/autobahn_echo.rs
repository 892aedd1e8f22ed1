//! The server the Autobahn test suite's `fuzzingclient` drives (`e2e/autobahn/run.sh`): a
//! plain WebSocket echo on any path, running on the engine's own WebSocket connection code
//! (see `sockeye_engineio::testing::websocket_echo_deflate`), with `permessage-deflate` for
//! the clients that offer it (the suite's cases 12 and 13). Every echoed message is compressed
//! (threshold 0), so that the compression code sees every size the suite sends.
//!
//!     cargo run --release --example autobahn_echo -p sockeye-engineio -- --port 9001
//!
//! Listens on 127.0.0.1 only, and prints `listening on <port>` once ready.

use std::convert::Infallible;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sockeye_engineio::testing::websocket_echo_deflate;
use sockeye_engineio::ws::{Limits, PerMessageDeflate};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = match args.iter().position(|a| a == "--port") {
        Some(i) => args
            .get(i + 1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| std::io::Error::other("--port needs a number"))?,
        None => 9001,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?.port());
    // The suite's largest message is 16 MiB; its most fragmented one, 65,536 frames.
    let limits = Limits {
        max_message_size: 17 << 20,
        max_fragments: 1 << 20,
    };
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(move |req| async move {
                let deflate = PerMessageDeflate::new().threshold(0);
                Ok::<_, Infallible>(websocket_echo_deflate(req, limits, deflate))
            });
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            let _ = conn.await;
        });
    }
}
