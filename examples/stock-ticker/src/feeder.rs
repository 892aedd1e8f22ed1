//! The feeder: random-walk prices, pushed to the ticker through its publish API, as any
//! backend (in any language) would: one `POST /publish` per price, on one keep-alive
//! HTTP/1.1 connection.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;

/// What to feed, where, how fast, how long.
pub struct Feed {
    /// The ticker's address, e.g. `127.0.0.1:8080`.
    pub addr: String,
    pub token: String,
    pub symbols: Vec<String>,
    /// Prices per second, all symbols together.
    pub rate: f64,
    /// Stop after this long (none: run until stopped).
    pub duration: Option<Duration>,
    /// Publish as volatile (a client still reading the previous price skips this one).
    pub volatile: bool,
}

/// What the feeder did.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Prices published, per symbol.
    pub published: Vec<(String, u64)>,
    /// Deliveries to the ticker's clients, as its answers counted them.
    pub deliveries: u64,
    /// Requests refused or failed.
    pub errors: u64,
}

#[derive(Serialize)]
struct Price<'a> {
    symbol: &'a str,
    price: f64,
    /// When the feeder made it (ms since the Unix epoch), for the page's latency.
    time: u64,
}

#[derive(Serialize)]
struct Publish<'a> {
    rooms: [&'a str; 1],
    event: &'static str,
    args: [Price<'a>; 1],
    volatile: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn connect(addr: &str) -> Result<SendRequest<Full<Bytes>>, Box<dyn std::error::Error>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Publishes one price; the number of the ticker's clients it reached.
async fn publish(
    sender: &mut SendRequest<Full<Bytes>>,
    feed: &Feed,
    body: Bytes,
) -> Result<u64, Box<dyn std::error::Error>> {
    sender.ready().await?;
    let req = hyper::Request::post("/publish")
        .header(hyper::header::HOST, &feed.addr)
        .header(
            hyper::header::AUTHORIZATION,
            format!("Bearer {}", feed.token),
        )
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let res = sender.send_request(req).await?;
    let status = res.status();
    let answer = res.into_body().collect().await?.to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&answer)?;
    if !status.is_success() {
        return Err(format!("{status}: {}", answer["error"]).into());
    }
    Ok(answer["local_clients"].as_u64().unwrap_or(0))
}

/// Feeds prices until the duration is over (or forever).
pub async fn run(feed: Feed) -> Summary {
    let mut prices: Vec<f64> = feed.symbols.iter().map(|_| 100.0).collect();
    let mut summary = Summary {
        published: feed.symbols.iter().map(|s| (s.clone(), 0)).collect(),
        ..Summary::default()
    };
    // One symbol per tick, in turn: a client subscribed to several gets them one at a time.
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / feed.rate.max(0.1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut sender = None;
    for i in (0..feed.symbols.len()).cycle() {
        tick.tick().await;
        if feed.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        prices[i] *= 1.0 + (rand::random::<f64>() - 0.5) / 50.0;
        let body = Publish {
            rooms: [&feed.symbols[i]],
            event: "price",
            args: [Price {
                symbol: &feed.symbols[i],
                price: (prices[i] * 100.0).round() / 100.0,
                time: now_ms(),
            }],
            volatile: feed.volatile,
        };
        let Ok(body) = serde_json::to_vec(&body) else {
            continue;
        };
        if sender.is_none() {
            match connect(&feed.addr).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    summary.errors += 1;
                    eprintln!("feeder: cannot reach {}: {e}", feed.addr);
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        match publish(s, &feed, body.into()).await {
            Ok(n) => {
                summary.deliveries += n;
                summary.published[i].1 += 1;
            }
            Err(e) => {
                summary.errors += 1;
                eprintln!("feeder: {e}");
                // A new connection next time: this one may be broken.
                sender = None;
            }
        }
    }
    summary
}
