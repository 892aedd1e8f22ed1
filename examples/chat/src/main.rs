//! A chat with rooms and nicknames: rooms, a connect middleware, per-socket data and the
//! disconnecting handler.
//!
//! - Connecting needs `auth: { nick }`; without one the client gets a `connect_error`.
//! - `join` (room) and `leave` (room) announce `joined` / `left` `{room, nick}` to the room.
//! - `say` (room, text) sends `said` `{room, nick, text}` to everyone in the room.
//! - When a client goes away, each of its rooms gets `left`.
//!
//! ```sh
//! cd examples && cargo run -p chat    # PORT=3000 to change the port
//! ```
//!
//! Then, in a directory where `npm i socket.io-client` was run, `node chat.mjs`:
//!
//! ```js
//! import { io } from "socket.io-client";
//! const socket = io("http://127.0.0.1:8080", { auth: { nick: "ada" } });
//! socket.on("said", (m) => console.log(`[${m.room}] ${m.nick}: ${m.text}`));
//! socket.emit("join", "rust");
//! socket.emit("say", "rust", "hello, rustaceans");
//! ```

use serde::{Deserialize, Serialize};
use serde_json::json;
use sockeye::extract::{Data, Refusal};
use sockeye::{DisconnectReason, SocketIo, SocketRef};

/// The per-socket data, set by the connect middleware.
#[derive(Clone)]
struct Nick(String);

#[derive(Deserialize)]
struct Auth {
    nick: Option<String>,
}

#[derive(Serialize)]
struct Said {
    room: String,
    nick: String,
    text: String,
}

fn nick(socket: &SocketRef) -> String {
    socket.extension::<Nick>().map(|n| n.0).unwrap_or_default()
}

/// The rooms a socket chose (every socket is also in a room named by its id).
fn chat_rooms(socket: &SocketRef) -> Vec<String> {
    let own = socket.id();
    let rooms = socket.rooms().into_iter().filter(|r| r != own.as_str());
    rooms.map(|r| r.into_owned()).collect()
}

fn on_connect(socket: SocketRef) {
    socket.on(
        "join",
        |s: SocketRef, io: SocketIo, Data(room): Data<String>| async move {
            s.join(room.clone());
            let msg = json!({ "room": room, "nick": nick(&s) });
            let _ = io.to(room).emit("joined", &msg).await;
        },
    );
    socket.on(
        "leave",
        |s: SocketRef, io: SocketIo, Data(room): Data<String>| async move {
            if !chat_rooms(&s).contains(&room) {
                return;
            }
            s.leave(room.clone());
            let msg = json!({ "room": room, "nick": nick(&s) });
            let _ = io.to(room).emit("left", &msg).await;
        },
    );
    socket.on(
        "say",
        |s: SocketRef, io: SocketIo, Data((room, text)): Data<(String, String)>| async move {
            if !chat_rooms(&s).contains(&room) {
                return; // only members speak in a room
            }
            let said = Said {
                room: room.clone(),
                nick: nick(&s),
                text,
            };
            let _ = io.to(room).emit("said", &said).await;
        },
    );
    // `on_disconnecting`, not `on_disconnect`: the socket is still in its rooms here.
    socket.on_disconnecting(|s: SocketRef, reason: DisconnectReason| async move {
        println!("{} ({}) left: {reason}", nick(&s), s.id());
        for room in chat_rooms(&s) {
            let msg = json!({ "room": room, "nick": nick(&s) });
            let _ = s.to(room).emit("left", &msg).await;
        }
    });
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", on_connect)
        .with(|s: SocketRef, Data(auth): Data<Auth>| async move {
            match auth.nick.filter(|n| !n.trim().is_empty()) {
                Some(nick) => {
                    s.insert_extension(Nick(nick));
                    Ok(())
                }
                None => Err(Refusal::new("a nickname is required")
                    .with_data(json!({ "hint": "io(url, { auth: { nick: \"ada\" } })" }))),
            }
        });

    let app = axum::Router::new().layer(layer);
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
