//! The python-socketio tutorial's reversing echo, with Sockeye mounted in an axum app by one
//! `.layer(layer)`.
//!
//! Every `message` event is printed (`Socket ID: <id>`, then the text) and its reverse is
//! emitted as `message` to every connected client, the sender included.
//!
//! ```sh
//! cd examples && cargo run -p tutorial-echo    # PORT=3000 to change the port
//! ```
//!
//! Open <http://127.0.0.1:8080> in two tabs and press "Hit Me" in one: both show
//! `DLROW OLLEH`. The page loads the client from the socket.io CDN.

use axum::{response::Html, routing::get, Router};
use sockeye::{extract::Data, SocketIo, SocketRef};

const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<meta charset="utf-8">
<title>Sockeye: reversing echo</title>
<script src="https://cdn.socket.io/4.8.1/socket.io.min.js"></script>
<button onClick="sendMsg()">Hit Me</button>
<ul id="replies"></ul>
<script>
  const socket = io();
  function sendMsg() {
    socket.emit("message", "HELLO WORLD");
  }
  socket.on("message", (data) => {
    console.log(data);
    const li = document.createElement("li");
    li.textContent = data;
    document.getElementById("replies").prepend(li);
  });
</script>
</html>
"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", |socket: SocketRef| {
        socket.on(
            "message",
            |socket: SocketRef, io: SocketIo, Data(text): Data<String>| async move {
                println!("Socket ID: {}", socket.id());
                println!("{text}");
                let reversed: String = text.chars().rev().collect();
                // python-socketio's `sio.emit`: everyone in `/`, not just the sender.
                if let Err(e) = io.emit("message", &reversed).await {
                    eprintln!("broadcast failed: {e}");
                }
            },
        );
    });

    // Socket.IO requests (`/socket.io/...`) are answered by the layer; the rest is axum's.
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .layer(layer);

    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
