//! Sockeye without a web framework: the standalone service (`SocketIo::new_svc`, 404 for
//! every other path) on the built-in hyper loop (`sockeye::serve`), with a graceful shutdown
//! on Ctrl-C that closes every client cleanly.
//!
//! - `echo` (any arguments, binary included) is acked with the same arguments.
//! - Connects and disconnects are printed with the peer address and the reason.
//!
//! ```sh
//! cd examples && cargo run -p hyper-only    # PORT=3000 to change the port
//! ```
//!
//! Then, in a directory where `npm i socket.io-client` was run, `node echo.mjs`, and press
//! Ctrl-C in the server's terminal to see the client disconnected:
//!
//! ```js
//! import { io } from "socket.io-client";
//! const socket = io("http://127.0.0.1:8080");
//! socket.on("disconnect", (reason) => console.log("disconnected:", reason));
//! socket.emit("echo", "hi", Buffer.from([1, 2, 3]), (...args) => console.log(args));
//! ```

use std::time::Duration;

use sockeye::{AckSender, DisconnectReason, Payload, SocketIo, SocketRef};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (svc, io) = SocketIo::new_svc();
    io.ns("/", |socket: SocketRef| {
        let peer = socket.handshake().address();
        println!("{} connected from {peer:?}", socket.id());
        socket.on("echo", |payload: Payload, ack: AckSender| {
            let _ = ack.send_payload(&payload);
        });
        socket.on_disconnect(|s: SocketRef, reason: DisconnectReason| {
            println!("{} disconnected: {reason}", s.id());
        });
    });

    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Close every session inside the shutdown future, while `serve` still accepts: a polling
    // client whose next request is on its way then gets its close packet rather than a
    // refused connection, and WebSocket tasks write their close frame before we exit.
    sockeye::serve(listener, svc, async {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down ({} connections)", io.connection_count());
        if !io.shutdown(Duration::from_secs(3)).await {
            println!("some connections did not close in time");
        }
    })
    .await;
    Ok(())
}
