//! A stock ticker: a background task publishes random-walk prices 10 times a second to one
//! room per symbol, with volatile emits (a slow client skips prices instead of queueing stale
//! ones). Also shows the `State` extractor and an emit with ack from the server.
//!
//! - `subscribe` / `unsubscribe` (symbol) join or leave the symbol's room (unknown symbols
//!   are ignored); the ack is the list of subscribed symbols.
//! - `price` `{symbol, price}` arrives for each subscribed symbol.
//! - On connect the server emits `clock` (its time, ms) and waits up to 2 s for the client's
//!   ack with its own time, then prints how far the client's clock is from the server's.
//!
//! ```sh
//! cd examples && cargo run -p stock-ticker    # PORT=3000 to change the port
//! ```
//!
//! Then, in a directory where `npm i socket.io-client` was run, `node ticker.mjs`:
//!
//! ```js
//! import { io } from "socket.io-client";
//! const socket = io("http://127.0.0.1:8080");
//! socket.on("clock", (_serverTime, ack) => ack(Date.now()));
//! socket.on("price", ({ symbol, price }) => console.log(symbol, price));
//! socket.emit("subscribe", "ACME", (reply) => console.log(reply));
//! ```

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use sockeye::extract::{Data, State};
use sockeye::{AckSender, SocketIo, SocketRef};

/// Shared configuration, handed to handlers by the `State` extractor.
#[derive(Clone)]
struct Config {
    symbols: &'static [&'static str],
    tick: Duration,
    clock_timeout: Duration,
}

#[derive(Serialize)]
struct Price {
    symbol: &'static str,
    price: f64,
}

fn now_ms() -> i64 {
    UNIX_EPOCH.elapsed().unwrap_or_default().as_millis() as i64
}

fn subscriptions(socket: &SocketRef, config: &Config) -> Vec<&'static str> {
    let rooms = socket.rooms();
    let subscribed = |s: &&str| rooms.iter().any(|r| r == s);
    config.symbols.iter().copied().filter(subscribed).collect()
}

async fn publish_prices(io: SocketIo, config: Config) {
    let n = config.symbols.len();
    let mut prices = vec![100.0_f64; n];
    // One symbol per tick, in turn. A volatile emit is dropped for a client that still has
    // something queued, so prices of several symbols sent at the same instant would reach a
    // client subscribed to several only for the first one.
    let mut tick = tokio::time::interval(config.tick / n as u32);
    // After a stall, carry on from now rather than sending a burst of late prices.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    for i in (0..n).cycle() {
        tick.tick().await;
        let symbol = config.symbols[i];
        prices[i] *= 1.0 + (rand::random::<f64>() - 0.5) / 100.0;
        let price = (prices[i] * 100.0).round() / 100.0;
        let _ = io
            .to(symbol)
            .volatile()
            .emit("price", &Price { symbol, price })
            .await;
    }
}

async fn on_connect(socket: SocketRef, State(config): State<Config>) {
    socket.on(
        "subscribe",
        |s: SocketRef, Data(symbol): Data<String>, ack: AckSender, State(config): State<Config>| {
            if config.symbols.contains(&symbol.as_str()) {
                s.join(symbol);
            }
            let _ = ack.send(&subscriptions(&s, &config));
        },
    );
    socket.on(
        "unsubscribe",
        |s: SocketRef, Data(symbol): Data<String>, ack: AckSender, State(config): State<Config>| {
            s.leave(symbol);
            let _ = ack.send(&subscriptions(&s, &config));
        },
    );

    // The handlers above are in place before this first `.await`.
    let sent = now_ms();
    let ask = socket
        .timeout(config.clock_timeout)
        .emit_with_ack("clock", &sent);
    match ask.recv_as::<i64>().await {
        Ok(client) => {
            let rtt = now_ms() - sent;
            let offset = client - sent - rtt / 2;
            println!("{}: client clock {offset:+} ms (rtt {rtt} ms)", socket.id());
        }
        Err(e) => println!("{}: no clock from the client: {e}", socket.id()),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let config = Config {
        symbols: &["ACME", "GLOBEX", "INITECH"],
        tick: Duration::from_millis(100),
        clock_timeout: Duration::from_secs(2),
    };
    let (layer, io) = SocketIo::builder().with_state(config.clone()).build_layer();
    io.ns("/", on_connect);
    tokio::spawn(publish_prices(io, config));

    let app = axum::Router::new().layer(layer);
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
