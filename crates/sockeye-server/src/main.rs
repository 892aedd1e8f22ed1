//! `sockeye`: the tutorial's reversing echo, served on the Sockeye library.
//!
//! `cargo run --release` serves the page on <http://localhost:8080> and the Socket.IO endpoint
//! on the same port. Every `message` event is printed (`Socket ID: <id>`, then the message) and
//! its reverse is emitted as `message` to every connected client. `sockeye --help` lists the
//! flags.

mod args;
mod logging;
mod metrics;
mod page;
mod routes;

use std::time::Duration;

use serde_json::json;
use sockeye::{AckSender, ClientBundle, Payload, SocketIo, SocketRef, StaticDir};

use crate::args::{Args, ParserChoice};
use crate::page::Page;
use crate::routes::{AdminUi, Routes};

/// Reverses a string by Unicode scalar values (never by bytes), as Python's `s[::-1]` does.
fn reverse(text: &str) -> String {
    text.chars().rev().collect()
}

fn on_message(
    socket: SocketRef,
    payload: Payload,
    ack: AckSender,
) -> impl std::future::Future<Output = ()> {
    let text = payload.arg::<String>(0);
    async move {
        match text {
            Ok(text) => {
                println!("Socket ID: {}", socket.id());
                println!("{text}");
                if let Err(e) = socket.io().emit("message", &reverse(&text)).await {
                    eprintln!("could not broadcast the reply: {e}");
                }
                let _ = ack.send(&json!({"ok": true}));
            }
            Err(_) => {
                let got = payload.arg_text(0).unwrap_or("nothing");
                let shown: String = got.chars().take(200).collect();
                eprintln!(
                    "Socket ID: {}: ignored a message that is not a string: {shown}",
                    socket.id()
                );
                let _ = ack.send(&json!({"error": "message must be a string"}));
            }
        }
    }
}

/// The client bundle from the first folder that has it, or the folders looked in.
fn find_bundle(args: &Args) -> Result<ClientBundle, Vec<std::path::PathBuf>> {
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(dir) = &args.client_dir {
        candidates.push(dir.clone());
    }
    candidates.push("node_modules/socket.io-client/dist".into());
    candidates.push("e2e/node_modules/socket.io-client/dist".into());
    candidates.push(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../e2e/node_modules/socket.io-client/dist"
        )
        .into(),
    );
    for dir in &candidates {
        if let Ok(b) = ClientBundle::from_dir(dir) {
            return Ok(b);
        }
    }
    Err(candidates)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let mut builder = SocketIo::builder()
        .ping_interval(args.ping_interval)
        .ping_timeout(args.ping_timeout)
        .max_payload(args.max_payload)
        .allow_eio3(args.eio3)
        .http_compression(args.http_compression);
    if let Some(deflate) = args.per_message_deflate {
        builder = builder.per_message_deflate(deflate);
    }
    if args.parser == ParserChoice::Msgpack {
        builder = builder.parser(sockeye::parser::MsgpackParser);
    }
    if !args.cors.is_empty() {
        builder = builder.cors(sockeye::Cors::origins(args.cors.clone()).credentials(true));
    }
    if let Some(window) = args.recovery {
        builder = builder.connection_state_recovery(
            sockeye::ConnectionStateRecovery::new().max_disconnection_duration(window),
        );
    }
    let bundle_note = if args.no_client {
        "client bundle not served (--no-client): the page loads it from the CDN".to_owned()
    } else {
        match find_bundle(&args) {
            Ok(b) => {
                let note = format!("client bundle served ({})", b.file_names().join(", "));
                builder = builder.serve_client(b);
                note
            }
            Err(tried) => {
                let tried: Vec<String> = tried.iter().map(|d| d.display().to_string()).collect();
                format!(
                    "client bundle not found in {}: the page falls back to the CDN; install it \
                     with `npm install socket.io-client`, or point --client-dir at its dist folder",
                    tried.join(", ")
                )
            }
        }
    };
    let cluster = match &args.redis {
        Some(url) => {
            let mut redis = sockeye_redis::RedisAdapter::builder(url.clone());
            if let Some(key) = &args.redis_key {
                redis = redis.key(key.clone());
            }
            let redis = redis
                .build()
                .await
                .map_err(|e| std::io::Error::other(format!("--redis {}: {e}", redact(url))))?;
            builder = builder.adapter(redis.factory());
            Some(redis)
        }
        None => None,
    };
    let (layer, io) = builder.build_layer();
    io.ns("/", |socket: SocketRef| {
        socket.on("message", on_message);
    });
    let extras = extras(&args, &io)?;
    if let Some(redis) = &cluster {
        // Subscribed before the first client: what other nodes send is heard from then on.
        if let Err(e) = io.ready().await {
            eprintln!("the cluster is not reachable yet ({e}); retrying in the background");
        }
        let nodes = io.server_count().await.unwrap_or(1);
        println!("joined the cluster on {} ({nodes} nodes)", redis.key());
    }

    if let Some(addr) = args.metrics {
        let bound = metrics::serve(addr, io.clone(), cluster.clone()).await?;
        println!("metrics on http://{bound}/metrics");
    }
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| bind_error(&args, e))?;
    let addr = listener.local_addr()?;
    println!("Sockeye listening on http://{addr} ({bundle_note})");
    // Graceful shutdown: on the signal every client gets a clean close while the listener
    // still accepts (a polling client whose next request is on its way gets its close packet
    // instead of a refused connection; a new client gets 403), then the server stops and we
    // exit 0.
    let stop = async move {
        shutdown_signal().await;
        println!("shutting down");
        if !io.shutdown(Duration::from_secs(3)).await {
            eprintln!("some connections did not close in time");
        }
        if let Some(redis) = cluster {
            redis.close().await;
        }
    };
    match &args.static_dir {
        Some(dir) => {
            println!("serving {}", dir.display());
            let svc = tower_layer_apply(&layer, extras.around(StaticDir::new(dir)));
            sockeye::serve(listener, svc, stop).await;
        }
        None => {
            let page = match args.parser {
                ParserChoice::Json => Page::json(),
                ParserChoice::Msgpack => Page::msgpack(),
            };
            let svc = tower_layer_apply(&layer, extras.around(page));
            sockeye::serve(listener, svc, stop).await;
        }
    }
    Ok(())
}

/// The publish endpoint and the admin UI, as the flags ask (each off by default).
struct Extras {
    publisher: Option<sockeye::publish::Publisher>,
    admin_ui: Option<std::sync::Arc<AdminUi>>,
}

impl Extras {
    fn around<S>(&self, inner: S) -> Routes<S> {
        Routes {
            publisher: self.publisher.clone(),
            admin_ui: self.admin_ui.clone(),
            inner,
        }
    }
}

/// Sets up `--admin-ui` (its namespace on `io`, its files) and `--publish-token`.
fn extras(args: &Args, io: &SocketIo) -> std::io::Result<Extras> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let publisher = match &args.publish {
        Some(p) => {
            let publisher = sockeye::publish::Publisher::new(io, &p.token)
                .map_err(|e| invalid(format!("--publish-token: {e}")))?
                .max_body_bytes(p.max_bytes);
            println!("publish API on POST /publish (bearer token required)");
            Some(publisher)
        }
        None => None,
    };
    let Some(admin) = &args.admin else {
        return Ok(Extras {
            publisher,
            admin_ui: None,
        });
    };
    use sockeye::admin::{instrument, AdminAuth, AdminOptions};
    let auth = match &admin.credentials {
        Some((user, hash)) => AdminAuth::basic(user, hash)
            .map_err(|e| invalid(format!("SOCKEYE_ADMIN_PASSWORD_HASH: {e}")))?,
        None => AdminAuth::None,
    };
    instrument(io, AdminOptions::new(auth).readonly(admin.readonly))
        .map_err(|e| invalid(format!("--admin-ui: {e}")))?;
    let who = match &admin.credentials {
        Some((user, _)) => format!("user {user}"),
        None => "NO AUTHENTICATION".to_owned(),
    };
    let mode = if admin.readonly { ", read-only" } else { "" };
    let admin_ui = match AdminUi::find(admin.dir.as_deref()) {
        Ok(ui) => {
            let fonts = if ui.self_contained() {
                ""
            } else {
                "; its fonts load from CDNs"
            };
            println!(
                "admin UI on namespace /admin ({who}{mode}), its page at {} (from {}{fonts})",
                routes::ADMIN_PATH,
                ui.found_in.display()
            );
            Some(std::sync::Arc::new(ui))
        }
        Err(tried) => {
            let tried: Vec<String> = tried.iter().map(|d| d.display().to_string()).collect();
            println!(
                "admin UI on namespace /admin ({who}{mode}); its page is not served: not found \
                 in {} (install it with scripts/admin-ui.sh, or use https://admin.socket.io \
                 with --cors https://admin.socket.io)",
                tried.join(", ")
            );
            None
        }
    };
    Ok(Extras {
        publisher,
        admin_ui,
    })
}

/// The error of a listener that could not be opened, saying which address and what to do.
fn bind_error(args: &Args, e: std::io::Error) -> std::io::Error {
    let addr = format!("{}:{}", args.host, args.port);
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {} is already in use (another sockeye, or another server?): stop it, or pick \
             another port with --port PORT (or the PORT variable), e.g. --port {}",
            args.port,
            args.port.wrapping_add(1).max(1024)
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "port {} needs privileges on this system: pick one above 1023 with --port PORT",
            args.port
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine: pick another with --host HOST",
            args.host
        ),
        _ => "check --host HOST and --port PORT".to_owned(),
    };
    std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}; {hint}"))
}

/// A Redis URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn tower_layer_apply<S>(layer: &sockeye::SocketIoLayer, svc: S) -> sockeye::SocketIoService<S> {
    sockeye::tower_layer::Layer::layer(layer, svc)
}

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args::Parsed::Run(a)) => *a,
        Ok(args::Parsed::Exit(text)) => {
            print!("{text}");
            return;
        }
        Err(e) => {
            eprintln!("sockeye: {e}\nTry `sockeye --help`.");
            std::process::exit(2);
        }
    };
    // Many connections' state in 2 MiB pages rather than 4 KiB ones (`GLIBC_TUNABLES=` opts out).
    sockeye::huge_pages::reexec();
    logging::init(args.log_level, args.log_format);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        rt.worker_threads(n);
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sockeye: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("sockeye: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::reverse;

    #[test]
    fn reverses_by_characters() {
        assert_eq!(reverse("HELLO WORLD"), "DLROW OLLEH");
        assert_eq!(reverse("héllo 🌍 wörld"), "dlröw 🌍 olléh");
        assert_eq!(reverse(""), "");
    }
}
