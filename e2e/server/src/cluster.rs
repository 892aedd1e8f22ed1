//! `e2e-server --cluster`: a cluster test node (`e2e/cluster/CONTRACT.md`) on Sockeye with
//! the Redis adapter of `sockeye-redis`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sockeye::adapter::{AckFailure, SocketInfo};
use sockeye::value::{to_value, Value};
use sockeye::{
    AckSender, BroadcastOperator, Cookie, Namespace, Payload, ServerAckError, ServerEvent,
    SocketIo, SocketRef,
};
use sockeye_redis::RedisAdapter;

/// The command line of a node.
struct Opts {
    port: u16,
    redis: String,
    name: String,
    sharded: bool,
    key: Option<String>,
    requests_timeout: Option<Duration>,
    specific: bool,
    cookie: Option<String>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        port: 3200,
        redis: String::new(),
        name: String::new(),
        sharded: false,
        key: None,
        requests_timeout: None,
        specific: false,
        cookie: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--cluster" => {}
            "--port" => o.port = value()?.parse().map_err(|_| "bad --port")?,
            "--redis" => o.redis = value()?,
            "--name" => o.name = value()?,
            "--sharded" => o.sharded = true,
            "--key" => o.key = Some(value()?),
            "--requests-timeout" => {
                let ms: u64 = value()?.parse().map_err(|_| "bad --requests-timeout")?;
                o.requests_timeout = Some(Duration::from_millis(ms));
            }
            "--publish-on-specific-response-channel" => o.specific = true,
            "--cookie" => {
                let name = value()?;
                // A cookie name is a token (Cookie::new panics on anything else).
                let token = |b: u8| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b);
                if name.is_empty() || !name.bytes().all(token) {
                    return Err(format!("bad --cookie {name:?}"));
                }
                o.cookie = Some(name);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.redis.is_empty() {
        return Err("--redis URL is required".into());
    }
    if o.name.is_empty() {
        o.name = format!("node-{}", o.port);
    }
    Ok(o)
}

/// What every handler can reach.
#[derive(Clone)]
struct Node {
    name: Arc<str>,
    uncaught: Arc<AtomicU64>,
    /// How long server-side emits wait for answers (Node's adapter: its `requestsTimeout`).
    requests_timeout: Duration,
}

/// A spec's field as a list of strings (a missing field is empty; one string is a list).
fn strings(spec: &Value, key: &str) -> Vec<String> {
    match spec.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::Str(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn flag(spec: &Value, key: &str) -> bool {
    matches!(spec.get(key), Some(Value::Bool(true)))
}

fn text(spec: &Value, key: &str) -> String {
    spec.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A spec's `args` as the arguments of an event (binary values in place).
fn args(spec: &Value) -> Payload {
    match spec.get("args") {
        Some(Value::Array(a)) => Payload::from_values(a.clone()),
        Some(Value::Null) | None => Payload::from_values(Vec::new()),
        Some(one) => Payload::from_values(vec![one.clone()]),
    }
}

fn timeout(spec: &Value) -> Option<Duration> {
    spec.get("timeout")
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
}

fn obj(fields: Vec<(&str, Value)>) -> Value {
    Value::Map(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn error(e: impl std::fmt::Display) -> Value {
    obj(vec![("error", Value::Str(e.to_string()))])
}

fn ok() -> Value {
    obj(vec![("ok", Value::Bool(true))])
}

fn sorted(rooms: impl IntoIterator<Item = impl AsRef<str>>) -> Value {
    let mut r: Vec<String> = rooms.into_iter().map(|r| r.as_ref().to_owned()).collect();
    r.sort();
    Value::Array(r.into_iter().map(Value::Str).collect())
}

/// The operator a spec's selector names (`fromSocket`, `rooms`, `except`, `volatile`,
/// `local`).
fn operator(socket: &SocketRef, spec: &Value) -> BroadcastOperator {
    let mut op = if flag(spec, "fromSocket") {
        socket.broadcast()
    } else {
        socket.ns().operator()
    };
    let rooms = strings(spec, "rooms");
    if !rooms.is_empty() {
        op = op.to(rooms);
    }
    let except = strings(spec, "except");
    if !except.is_empty() {
        op = op.except(except);
    }
    if flag(spec, "volatile") {
        op = op.volatile();
    }
    if flag(spec, "local") {
        op = op.local();
    }
    op
}

/// Node's `socket.data` defaults to `{}`.
fn data_or_empty(v: Value) -> Value {
    match v {
        Value::Null => Value::Map(Vec::new()),
        v => v,
    }
}

fn describe(info: SocketInfo, ns: &Namespace) -> Value {
    let remote = ns.get_socket(info.id).is_none();
    obj(vec![
        ("id", Value::Str(info.id.to_string())),
        ("handshake", to_value(&info.handshake).unwrap_or_default()),
        ("rooms", sorted(info.rooms.iter())),
        ("data", info.data),
        ("remote", Value::Bool(remote)),
    ])
}

fn first_arg(p: &Payload) -> Value {
    p.to_values()
        .ok()
        .and_then(|v| v.into_iter().next())
        .unwrap_or_default()
}

fn responses(list: impl IntoIterator<Item = Payload>) -> Value {
    Value::Array(list.into_iter().map(|p| first_arg(&p)).collect())
}

/// Runs one handler: the spec is the first argument, the answer the one ack argument.
async fn handle(node: Node, s: SocketRef, op: &str, spec: Value) -> Value {
    match op {
        "whoami" => obj(vec![
            ("node", Value::Str(node.name.to_string())),
            ("nsp", Value::Str(s.ns().name().to_owned())),
            ("id", Value::Str(s.id().to_string())),
            ("rooms", sorted(s.rooms())),
            ("data", data_or_empty(s.data_value())),
        ]),
        "join" => {
            s.join(strings(&spec, "rooms"));
            obj(vec![("rooms", sorted(s.rooms()))])
        }
        "leave" => {
            s.leave(text(&spec, "room"));
            obj(vec![("rooms", sorted(s.rooms()))])
        }
        "set-data" => match s.set_data(&spec.get("data").cloned().unwrap_or_default()) {
            Ok(()) => ok(),
            Err(e) => error(e),
        },
        "broadcast" => {
            // Node answers once the emit call returned, without waiting for the publish.
            let op = operator(&s, &spec);
            let event = text(&spec, "event");
            let args = args(&spec);
            tokio::spawn(async move {
                if let Err(e) = op.emit_payload(&event, &args).await {
                    eprintln!("broadcast: {e}");
                }
            });
            ok()
        }
        "broadcast-with-ack" => {
            let mut op = operator(&s, &spec);
            if let Some(t) = timeout(&spec) {
                op = op.timeout(t);
            }
            let event = text(&spec, "event");
            match op.emit_payload_with_ack(&event, &args(&spec)).await {
                Ok(replies) => {
                    let mut answers = Vec::new();
                    let mut failed = None;
                    for r in replies {
                        match r.result {
                            Ok(p) => answers.push(p),
                            Err(e) => failed = Some(e),
                        }
                    }
                    let mut fields = vec![
                        ("timedOut", Value::Bool(failed.is_some())),
                        ("responses", responses(answers)),
                    ];
                    if let Some(e) = failed {
                        fields.push(("error", Value::Str(e.to_string())));
                    }
                    obj(fields)
                }
                Err(e) => obj(vec![
                    ("timedOut", Value::Bool(true)),
                    ("responses", Value::Array(Vec::new())),
                    ("error", Value::Str(e.to_string())),
                ]),
            }
        }
        "fetch-sockets" => {
            let mut op = operator(&s, &spec);
            if let Some(t) = timeout(&spec) {
                op = op.timeout(t);
            }
            match op.fetch_sockets().await {
                Ok(found) => {
                    let mut list: Vec<SocketInfo> =
                        found.iter().map(|r| r.info().clone()).collect();
                    list.sort_by_key(|i| i.id);
                    let list = list.into_iter().map(|i| describe(i, s.ns())).collect();
                    obj(vec![("sockets", Value::Array(list))])
                }
                Err(e) => error(e),
            }
        }
        "remote-socket" => remote_socket(&s, &spec).await,
        "sockets-join" => result(
            operator(&s, &spec)
                .sockets_join(strings(&spec, "targets"))
                .await,
        ),
        "sockets-leave" => result(
            operator(&s, &spec)
                .sockets_leave(strings(&spec, "targets"))
                .await,
        ),
        "disconnect-sockets" => result(
            operator(&s, &spec)
                .disconnect_sockets(flag(&spec, "close"))
                .await,
        ),
        "server-side-emit" => {
            let event = text(&spec, "event");
            result(s.ns().server_side_emit_payload(&event, args(&spec)).await)
        }
        "server-side-emit-with-ack" => {
            let event = text(&spec, "event");
            let wait = node.requests_timeout;
            match s
                .ns()
                .server_side_emit_payload_with_ack(&event, args(&spec), wait)
                .await
            {
                Ok(list) => obj(vec![
                    ("timedOut", Value::Bool(false)),
                    ("responses", responses(list)),
                ]),
                Err(ServerAckError::Timeout { responses: r, .. }) => obj(vec![
                    ("timedOut", Value::Bool(true)),
                    ("responses", responses(r)),
                    ("error", Value::Str("timeout".into())),
                ]),
                Err(e) => obj(vec![
                    ("timedOut", Value::Bool(true)),
                    ("responses", Value::Array(Vec::new())),
                    ("error", Value::Str(e.to_string())),
                ]),
            }
        }
        "server-side-received" => {
            let received = s
                .extension::<Received>()
                .map(|r| Value::Array(r.0.lock().clone()))
                .unwrap_or_default();
            obj(vec![("received", received)])
        }
        "server-count" => match s.ns().adapter().server_count().await {
            Ok(n) => obj(vec![("count", Value::Int(n as i64))]),
            Err(e) => error(e),
        },
        "stats" => obj(vec![
            ("node", Value::Str(node.name.to_string())),
            ("kind", Value::Str("sockeye".into())),
            (
                "uncaught",
                Value::Int(node.uncaught.load(Ordering::SeqCst) as i64),
            ),
        ]),
        other => error(format!("unknown handler {other}")),
    }
}

fn result<E: std::fmt::Display>(r: Result<(), E>) -> Value {
    match r {
        Ok(()) => ok(),
        Err(e) => error(e),
    }
}

async fn remote_socket(s: &SocketRef, spec: &Value) -> Value {
    let id = text(spec, "id");
    let found = match s.ns().operator().fetch_sockets().await {
        Ok(found) => found,
        Err(e) => return error(e),
    };
    let Some(r) = found.into_iter().find(|r| r.id().as_str() == id) else {
        return obj(vec![("found", Value::Bool(false))]);
    };
    let remote = !r.is_local();
    let base = |extra: Vec<(&str, Value)>| {
        let mut fields = vec![
            ("found", Value::Bool(true)),
            ("remote", Value::Bool(remote)),
        ];
        fields.extend(extra);
        obj(fields)
    };
    let outcome = match text(spec, "op").as_str() {
        "emit" => r.emit_payload(&text(spec, "event"), &args(spec)).await,
        "emit-with-ack" => {
            let wait = timeout(spec).unwrap_or(Duration::from_secs(5));
            return match r
                .emit_payload_with_ack(&text(spec, "event"), &args(spec), wait)
                .await
            {
                Ok(Ok(p)) => base(vec![
                    ("timedOut", Value::Bool(false)),
                    ("response", first_arg(&p)),
                ]),
                Ok(Err(e)) => base(vec![
                    ("timedOut", Value::Bool(true)),
                    ("error", Value::Str(ack_failure(e))),
                ]),
                Err(e) => base(vec![
                    ("timedOut", Value::Bool(true)),
                    ("error", Value::Str(e.to_string())),
                ]),
            };
        }
        "join" => r.join(strings(spec, "rooms")).await,
        "leave" => r.leave(text(spec, "room")).await,
        "disconnect" => r.disconnect(flag(spec, "close")).await,
        other => return error(format!("unknown op {other}")),
    };
    match outcome {
        Ok(()) => base(Vec::new()),
        Err(e) => error(e),
    }
}

fn ack_failure(e: AckFailure) -> String {
    e.to_string()
}

/// The server-side events a namespace received, in order (a socket extension, so that each
/// handler reaches its namespace's list).
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Value>>>);

fn on_connect(node: Node, received: Received) -> impl Fn(SocketRef) + Send + Sync + 'static {
    move |socket: SocketRef| {
        socket.insert_extension(received.clone());
        socket.insert_extension(node.clone());
        for op in [
            "whoami",
            "join",
            "leave",
            "set-data",
            "broadcast",
            "broadcast-with-ack",
            "fetch-sockets",
            "remote-socket",
            "sockets-join",
            "sockets-leave",
            "disconnect-sockets",
            "server-side-emit",
            "server-side-emit-with-ack",
            "server-side-received",
            "server-count",
            "stats",
        ] {
            socket.on(
                op,
                move |s: SocketRef, p: Payload, ack: AckSender| async move {
                    let spec = first_arg(&p);
                    let Some(node) = s.extension::<Node>() else {
                        return;
                    };
                    let answer = handle(node, s, op, spec).await;
                    let _ = ack.send(&answer);
                },
            );
        }
    }
}

fn record(received: &Received, ev: &ServerEvent) {
    let args = ev.args().to_values().unwrap_or_default();
    received.0.lock().push(obj(vec![
        ("event", Value::Str(ev.event().to_owned())),
        ("args", Value::Array(args)),
        ("withAck", Value::Bool(ev.wants_ack())),
    ]));
}

/// Runs a cluster node until SIGTERM or Ctrl-C.
pub(crate) async fn run(args: &[String]) -> std::io::Result<()> {
    let opts = parse(args).unwrap_or_else(|e| {
        eprintln!("e2e-server --cluster: {e}");
        std::process::exit(2)
    });
    let uncaught = Arc::new(AtomicU64::new(0));
    let counted = uncaught.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    // The reference node's reconnection backoff (50 to 500 ms).
    let mut redis = RedisAdapter::builder(opts.redis.clone())
        .sharded(opts.sharded)
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500));
    if let Some(k) = &opts.key {
        redis = redis.key(k.clone());
    }
    if let Some(t) = opts.requests_timeout {
        redis = redis.requests_timeout(t);
    }
    if opts.specific {
        redis = redis.publish_on_specific_response_channel(true);
    }
    let redis = redis.build().await.map_err(std::io::Error::other)?;
    let mut builder = SocketIo::builder()
        .ping_interval(Duration::from_millis(1000))
        .ping_timeout(Duration::from_millis(2000))
        .connect_timeout(Duration::from_millis(3000))
        .max_payload(1_000_000)
        .adapter(redis.factory());
    if let Some(name) = &opts.cookie {
        // Node's `cookie: {name}`: `Path=/; HttpOnly; SameSite=Lax` on the polling handshake.
        builder = builder.cookie(Cookie::new(name.clone()));
    }
    let (svc, io) = builder.build_svc();
    let node = Node {
        name: opts.name.clone().into(),
        uncaught,
        // Node's sharded adapter waits a fixed 5 s; the classic one its requestsTimeout.
        requests_timeout: opts.requests_timeout.unwrap_or(Duration::from_secs(5)),
    };
    for name in ["/", "/other"] {
        let received = Received::default();
        let (r1, r2, r3) = (received.clone(), received.clone(), received.clone());
        let me = node.name.clone();
        io.ns(name, on_connect(node.clone(), received))
            .on_server_event("sse", move |ev: ServerEvent| record(&r1, &ev))
            .on_server_event("sse-ack", move |ev: ServerEvent| {
                record(&r2, &ev);
                let args = Value::Array(ev.args().to_values().unwrap_or_default());
                let _ = ev.ack(&obj(vec![
                    ("node", Value::Str(me.to_string())),
                    ("args", args),
                ]));
            })
            .on_server_event("sse-silent", move |ev: ServerEvent| record(&r3, &ev));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
    io.ready().await.map_err(std::io::Error::other)?;
    println!("listening on {}", listener.local_addr()?.port());
    sockeye::serve(listener, svc, async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    })
    .await;
    let _ = io.shutdown(Duration::from_secs(1)).await;
    redis.close().await;
    Ok(())
}
