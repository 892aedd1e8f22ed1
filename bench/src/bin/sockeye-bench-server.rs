//! The Sockeye server of the benchmark: `message` is echoed to its sender, `tick` is
//! broadcast to every socket of `/` (the sender included).
//!
//! `sockeye-bench-server --port 3014 --workers 1 [--redis URL]` (also `PORT`, `WORKERS` and
//! `REDIS_URL`); one worker runs a current-thread runtime. With `--redis` the server is a
//! node of a cluster (`sockeye_redis::RedisAdapter`, the wire format of Node's
//! `@socket.io/redis-adapter`): a `tick` then reaches the clients of every node, through one
//! Redis publish per tick. Like the `sockeye` binary, it runs with the heap in transparent
//! huge pages (`sockeye::huge_pages`; `GLIBC_TUNABLES=` turns that off).
//!
//! `--per-message-deflate MODE` (also `PER_MESSAGE_DEFLATE`) turns WebSocket compression on,
//! as the `sockeye` binary's flag: `on` (Node's `perMessageDeflate: true`) or
//! `no-context-takeover` (each message compressed alone both ways); off by default.
//! `--parser msgpack` (also `PARSER`) speaks Node's `socket.io-msgpack-parser` instead of JSON,
//! as the `sockeye` binary's flag.
//! `--ping-interval MS` (also `PING_INTERVAL`) sets the heartbeat (default 25000).

use std::time::Duration;

use sockeye::{Payload, PerMessageDeflate, SocketIo, SocketRef};

/// The value after `name` on the command line, else the environment variable `env`.
fn arg(name: &str, env: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .or_else(|| std::env::var(env).ok())
        .filter(|v| !v.is_empty())
}

fn flag(name: &str, env: &str, default: usize) -> usize {
    arg(name, env)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn deflate() -> Option<PerMessageDeflate> {
    match arg("--per-message-deflate", "PER_MESSAGE_DEFLATE")?.as_str() {
        "off" | "0" => None,
        "no-context-takeover" => Some(
            PerMessageDeflate::new()
                .server_no_context_takeover(true)
                .client_no_context_takeover(true),
        ),
        _ => Some(PerMessageDeflate::new()),
    }
}

async fn run(port: u16, redis: Option<String>) -> std::io::Result<()> {
    let mut builder = SocketIo::builder().ping_interval(Duration::from_millis(flag(
        "--ping-interval",
        "PING_INTERVAL",
        25_000,
    ) as u64));
    if let Some(d) = deflate() {
        builder = builder.per_message_deflate(d);
    }
    match arg("--parser", "PARSER").as_deref() {
        None | Some("json") => {}
        Some("msgpack") => builder = builder.parser(sockeye::parser::MsgpackParser),
        Some(other) => {
            return Err(std::io::Error::other(format!(
                "--parser {other}: json or msgpack"
            )))
        }
    }
    let cluster = match redis {
        Some(url) => {
            let redis = sockeye_redis::RedisAdapter::builder(url)
                .build()
                .await
                .map_err(|e| std::io::Error::other(format!("--redis: {e}")))?;
            builder = builder.adapter(redis.factory());
            Some(redis)
        }
        None => None,
    };
    let (svc, io) = builder.build_svc();
    io.ns("/", |socket: SocketRef| {
        socket.on("message", |s: SocketRef, p: Payload| {
            let _ = s.emit_payload("message", &p);
        });
        socket.on("tick", |s: SocketRef, p: Payload| async move {
            let _ = s.ns().operator().emit_payload("tick", &p).await;
        });
    });
    if cluster.is_some() {
        // Subscribed before the port opens: `run.sh` takes an open port for a ready node, and
        // the first tick of another node must reach this one.
        io.ready().await.map_err(std::io::Error::other)?;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {port}");
    let stop = async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return std::future::pending().await;
        };
        term.recv().await;
        // What a delivery ratio under 1 needs to be read: messages Redis sent that this node
        // could not keep up with, or publishes that failed.
        if let Some(redis) = &cluster {
            eprintln!("redis adapter: {:?}", redis.metrics());
        }
    };
    sockeye::serve(listener, svc, stop).await;
    Ok(())
}

fn main() -> std::io::Result<()> {
    sockeye::huge_pages::reexec();
    let port = flag("--port", "PORT", 3014) as u16;
    let workers = flag("--workers", "WORKERS", 1).max(1);
    let redis = arg("--redis", "REDIS_URL");
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?
    };
    if let Err(e) = rt.block_on(run(port, redis)) {
        eprintln!("sockeye-bench-server: {e}");
        std::process::exit(1);
    }
    // Stopped by SIGTERM: thousands of connections need no orderly teardown.
    std::process::exit(0)
}
