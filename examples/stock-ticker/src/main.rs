//! A stock ticker, as the python-socketio tutorial imagined one: a backend pushes live prices,
//! and every browser that subscribed to a symbol sees them move.
//!
//! - The page (`/`) lists the symbols in a live table, draws a chart of the subscribed ones
//!   (plain SVG, no library), and subscribes or unsubscribes per symbol.
//! - The server puts each subscriber in the room of its symbol (`subscribe` / `unsubscribe`,
//!   answered with the list of symbols subscribed), and knows nothing of prices.
//! - The feeder makes random-walk prices and pushes each into its symbol's room through the
//!   publish API (`POST /publish` with a bearer token): what a backend in any language would
//!   do. It runs inside the server by default (over HTTP all the same), or as its own process.
//!
//! ```sh
//! cd examples && cargo run -p stock-ticker        # the page on http://127.0.0.1:8080
//! ```
//!
//! With the feeder apart (e.g. on another machine, or replaced by your backend):
//!
//! ```sh
//! PUBLISH_TOKEN=$(openssl rand -hex 32) cargo run -p stock-ticker -- --no-feeder &
//! PUBLISH_TOKEN=... cargo run -p stock-ticker -- feed --addr 127.0.0.1:8080 --rate 20
//! curl -H "Authorization: Bearer $PUBLISH_TOKEN" -H 'Content-Type: application/json' \
//!      -d '{"rooms":["ACME"],"event":"price","args":[{"symbol":"ACME","price":123.45,"time":0}]}' \
//!      http://127.0.0.1:8080/publish
//! ```
//!
//! Flags: `--port P` (or `PORT`; default 8080), `--no-feeder`, `--rate N` (prices per second
//! over all symbols, default 10), `--volatile` (publish volatile prices), `--client-dir DIR`
//! (socket.io-client's `dist`; by default `node_modules/...` or the e2e suite's). `feed`
//! takes `--addr HOST:PORT`, `--rate`, `--volatile`, `--for SECONDS` and `--symbols A,B`; it
//! prints a JSON summary when it stops. The token comes from `PUBLISH_TOKEN`, or is made up
//! (and printed) when the server runs its own feeder.

mod feeder;
mod server;

use std::path::PathBuf;
use std::time::Duration;

struct Cli {
    feed_only: bool,
    port: u16,
    addr: Option<String>,
    no_feeder: bool,
    rate: f64,
    volatile: bool,
    duration: Option<Duration>,
    symbols: Vec<String>,
    client_dir: Option<PathBuf>,
}

fn parse() -> Result<Cli, String> {
    let mut cli = Cli {
        feed_only: false,
        port: match std::env::var("PORT") {
            Ok(p) => p.parse().map_err(|_| format!("PORT={p} is not a port"))?,
            Err(_) => 8080,
        },
        addr: None,
        no_feeder: false,
        rate: 10.0,
        volatile: false,
        duration: None,
        symbols: server::SYMBOLS.iter().map(|s| s.to_string()).collect(),
        client_dir: None,
    };
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("feed") {
        args.next();
        cli.feed_only = true;
    }
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => cli.port = value()?.parse().map_err(|_| "--port: not a port")?,
            "--addr" => cli.addr = Some(value()?),
            "--no-feeder" => cli.no_feeder = true,
            "--rate" => {
                cli.rate = value()?.parse().map_err(|_| "--rate: not a number")?;
                if !(cli.rate > 0.0 && cli.rate <= 10_000.0) {
                    return Err("--rate: between 0 and 10000 prices per second".into());
                }
            }
            "--volatile" => cli.volatile = true,
            "--for" => {
                let secs: f64 = value()?.parse().map_err(|_| "--for: not a number")?;
                cli.duration = Some(Duration::from_secs_f64(secs.max(0.0)));
            }
            "--symbols" => cli.symbols = value()?.split(',').map(str::to_owned).collect(),
            "--client-dir" => cli.client_dir = Some(value()?.into()),
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    Ok(cli)
}

#[tokio::main]
async fn main() {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("stock-ticker: {e}");
            std::process::exit(2);
        }
    };
    let token = std::env::var("PUBLISH_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    if cli.feed_only {
        let Some(token) = token else {
            eprintln!("stock-ticker feed: set PUBLISH_TOKEN to the server's token");
            std::process::exit(2);
        };
        let addr = cli
            .addr
            .clone()
            .unwrap_or_else(|| format!("127.0.0.1:{}", cli.port));
        let feed = feeder::Feed {
            addr,
            token,
            symbols: cli.symbols,
            rate: cli.rate,
            duration: cli.duration,
            volatile: cli.volatile,
        };
        let summary = tokio::select! {
            s = feeder::run(feed) => s,
            _ = tokio::signal::ctrl_c() => return,
        };
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
        return;
    }
    if let Err(e) = serve(cli, token).await {
        eprintln!("stock-ticker: {e}");
        std::process::exit(1);
    }
}

async fn serve(cli: Cli, token: Option<String>) -> Result<(), Box<dyn std::error::Error>> {
    let token = match token {
        Some(t) => t,
        None => {
            let t = format!("{:032x}", rand::random::<u128>());
            if cli.no_feeder {
                println!("publish token (set PUBLISH_TOKEN to choose it): {t}");
            }
            t
        }
    };
    let config = server::Config {
        port: cli.port,
        token: token.clone(),
        client_dir: cli.client_dir,
    };
    let (app, io) = server::app(&config)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    println!("stock ticker listening on http://{addr}");
    if !cli.no_feeder {
        let feed = feeder::Feed {
            addr: addr.to_string(),
            token,
            symbols: cli.symbols,
            rate: cli.rate,
            duration: None,
            volatile: cli.volatile,
        };
        tokio::spawn(feeder::run(feed));
    }
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        io.close();
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
