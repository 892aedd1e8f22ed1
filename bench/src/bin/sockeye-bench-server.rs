//! The Sockeye server of the benchmark: `message` is echoed to its sender, `tick` is
//! broadcast to every socket of `/` (the sender included).
//!
//! `sockeye-bench-server --port 3014 --workers 1` (also `PORT` and `WORKERS`); one worker runs
//! a current-thread runtime. Like the `sockeye` binary, it runs with the heap in transparent
//! huge pages (`sockeye::huge_pages`; `GLIBC_TUNABLES=` turns that off).
//!
//! `--per-message-deflate MODE` (also `PER_MESSAGE_DEFLATE`) turns WebSocket compression on,
//! as the `sockeye` binary's flag: `on` (Node's `perMessageDeflate: true`) or
//! `no-context-takeover` (each message compressed alone both ways); off by default.
//! `--ping-interval MS` (also `PING_INTERVAL`) sets the heartbeat (default 25000).

use std::time::Duration;

use sockeye::{Payload, PerMessageDeflate, SocketIo, SocketRef};

fn flag(name: &str, env: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .or_else(|| std::env::var(env).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A flag's text value, or its environment variable.
fn text_flag(name: &str, env: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .or_else(|| std::env::var(env).ok())
        .filter(|v| !v.is_empty())
}

fn deflate() -> Option<PerMessageDeflate> {
    match text_flag("--per-message-deflate", "PER_MESSAGE_DEFLATE")?.as_str() {
        "off" | "0" => None,
        "no-context-takeover" => Some(
            PerMessageDeflate::new()
                .server_no_context_takeover(true)
                .client_no_context_takeover(true),
        ),
        _ => Some(PerMessageDeflate::new()),
    }
}

async fn run(port: u16) -> std::io::Result<()> {
    let mut builder = SocketIo::builder().ping_interval(Duration::from_millis(flag(
        "--ping-interval",
        "PING_INTERVAL",
        25_000,
    ) as u64));
    if let Some(d) = deflate() {
        builder = builder.per_message_deflate(d);
    }
    let (svc, io) = builder.build_svc();
    io.ns("/", |socket: SocketRef| {
        socket.on("message", |s: SocketRef, p: Payload| {
            let _ = s.emit_payload("message", &p);
        });
        socket.on("tick", |s: SocketRef, p: Payload| async move {
            let _ = s.ns().operator().emit_payload("tick", &p).await;
        });
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {port}");
    sockeye::serve(listener, svc, std::future::pending()).await;
    Ok(())
}

fn main() -> std::io::Result<()> {
    sockeye::huge_pages::reexec();
    let port = flag("--port", "PORT", 3014) as u16;
    let workers = flag("--workers", "WORKERS", 1).max(1);
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
    rt.block_on(run(port))
}
