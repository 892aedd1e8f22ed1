//! The ticker's server: the page, the Socket.IO endpoint where browsers subscribe to symbols
//! (one room each), and the publish API through which the feeder pushes prices into those
//! rooms.

use std::path::PathBuf;

use sockeye::extract::Data;
use sockeye::publish::Publisher;
use sockeye::{AckSender, ClientBundle, SocketIo, SocketRef};

/// The symbols the page offers, in its order.
pub const SYMBOLS: [&str; 5] = ["ACME", "GLOBEX", "INITECH", "UMBRELLA", "HOOLI"];

/// The page: a table of prices, a chart, a subscribe button per symbol.
const PAGE: &str = include_str!("../page/index.html");

/// The server's settings.
pub struct Config {
    pub port: u16,
    /// The publish API's token.
    pub token: String,
    /// Where `socket.io.js` is (socket.io-client's `dist`), if not in the usual places.
    pub client_dir: Option<PathBuf>,
}

/// The symbols a socket is subscribed to, in the page's order.
fn subscriptions(socket: &SocketRef) -> Vec<&'static str> {
    let rooms = socket.rooms();
    SYMBOLS
        .into_iter()
        .filter(|s| rooms.iter().any(|r| r == s))
        .collect()
}

fn on_connect(socket: SocketRef) {
    let _ = socket.emit("symbols", &SYMBOLS);
    // `subscribe` / `unsubscribe` (a symbol) join or leave its room; the ack is the list of
    // symbols subscribed now. Unknown symbols are ignored.
    socket.on(
        "subscribe",
        |s: SocketRef, Data(symbol): Data<String>, ack: AckSender| {
            if SYMBOLS.contains(&symbol.as_str()) {
                s.join(symbol);
            }
            let _ = ack.send(&subscriptions(&s));
        },
    );
    socket.on(
        "unsubscribe",
        |s: SocketRef, Data(symbol): Data<String>, ack: AckSender| {
            s.leave(symbol);
            let _ = ack.send(&subscriptions(&s));
        },
    );
}

/// The client bundle from `--client-dir`, or the folders where `npm` puts it.
fn find_bundle(explicit: Option<&PathBuf>) -> Option<ClientBundle> {
    let mut dirs: Vec<PathBuf> = explicit.into_iter().cloned().collect();
    dirs.push("node_modules/socket.io-client/dist".into());
    dirs.push(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../e2e/node_modules/socket.io-client/dist"
        )
        .into(),
    );
    dirs.iter().find_map(|d| ClientBundle::from_dir(d).ok())
}

/// The app (page, Socket.IO, publish API) and its Socket.IO handle.
pub fn app(config: &Config) -> Result<(axum::Router, SocketIo), Box<dyn std::error::Error>> {
    let mut builder = SocketIo::builder();
    match find_bundle(config.client_dir.as_ref()) {
        Some(bundle) => builder = builder.serve_client(bundle),
        None => println!("socket.io-client not found: the page loads it from the CDN"),
    }
    let (layer, io) = builder.build_layer();
    io.ns("/", on_connect);
    let publisher = Publisher::new(&io, &config.token)?.max_body_bytes(16 * 1024);
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Html(PAGE) }),
        )
        .layer(layer)
        .layer(publisher.layer());
    Ok((app, io))
}
