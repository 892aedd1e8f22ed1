//! The e2e test server: the handlers of `e2e/CONTRACT.md` on Sockeye; with `--cluster`, a
//! cluster test node of `e2e/cluster/CONTRACT.md`, and with `--emitter`, the cluster suite's
//! emitter.

mod cluster;
mod emitter;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::HeaderValue;
use parking_lot::Mutex;
use serde_json::{json, Value};
use sockeye::extract::{Data, Event, Refusal, State};
use sockeye::parser::MsgpackParser;
use sockeye::value::Value as JsValue;
use sockeye::{
    AckSender, ConnectionError, ConnectionStateRecovery, Cookie, Cors, DisconnectReason,
    ListenerId, NotFound, ParentNamespace, Payload, PerMessageDeflate, RequestRefusal, SocketIo,
    SocketIoService, SocketRef, TransportKind,
};

type Reasons = Arc<Mutex<Vec<Value>>>;

/// What `/api` records across sockets, and the parent namespace of `/dyn-\d+`.
#[derive(Clone, Default)]
struct ApiState {
    disconnecting: Arc<Mutex<Vec<Value>>>,
    new_namespaces: Arc<Mutex<Vec<String>>>,
    dyn_parent: Arc<OnceLock<ParentNamespace>>,
}

/// The value `set-ext` keeps on a socket.
#[derive(Clone)]
struct Ext(Value);

/// The `onAny` listener `off-any` removes.
#[derive(Clone)]
struct AnyListener(ListenerId);

fn record(socket: &SocketRef) {
    socket.on_disconnect(
        |s: SocketRef, reason: DisconnectReason, State(r): State<Reasons>| {
            let mut entry =
                json!({"id": s.id_string(), "nsp": s.ns().name(), "reason": reason.as_str()});
            if let Some(d) = reason.description() {
                entry["description"] = json!(d);
            }
            r.lock().push(entry);
        },
    );
}

/// `handshake.auth[key]`, or the handshake query's `key` when the auth payload has none
/// (python-socketio 4.x sends no auth).
fn credential(s: &SocketRef, key: &str) -> Option<String> {
    let hs = s.handshake();
    match hs.auth.get(key) {
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => None,
        None => hs.query(key),
    }
}

fn sorted_rooms(s: &SocketRef) -> Vec<String> {
    let mut rooms: Vec<String> = s.rooms().into_iter().map(|r| r.into_owned()).collect();
    rooms.sort();
    rooms
}

fn on_root(socket: SocketRef) {
    record(&socket);
    let hs = socket.handshake();
    let _ = socket.emit(
        "welcome",
        &json!({"id": socket.id_string(), "auth": hs.auth, "foo": hs.query("foo")}),
    );
    socket.on("echo", |s: SocketRef, p: Payload| {
        let _ = s.emit_payload("echo", &p);
    });
    socket.on("echo-ack", |p: Payload, ack: AckSender| {
        let _ = ack.send_payload(&p);
    });
    socket.on(
        "join",
        |s: SocketRef, Data(room): Data<String>, ack: AckSender| {
            s.join(room);
            let _ = ack.send(&sorted_rooms(&s));
        },
    );
    socket.on(
        "leave",
        |s: SocketRef, Data(room): Data<String>, ack: AckSender| {
            s.leave(room);
            let _ = ack.send(&sorted_rooms(&s));
        },
    );
    socket.on("to-room", |io: SocketIo, p: Payload| async move {
        let (Ok(room), Ok(event)) = (p.arg::<String>(0), p.arg::<String>(1)) else {
            return;
        };
        let _ = io.to(room).emit_payload(&event, &p.skip(2)).await;
    });
    socket.on("to-room-except", |io: SocketIo, p: Payload| async move {
        let (Ok(room), Ok(except), Ok(event)) =
            (p.arg::<String>(0), p.arg::<String>(1), p.arg::<String>(2))
        else {
            return;
        };
        let _ = io
            .to(room)
            .except(except)
            .emit_payload(&event, &p.skip(3))
            .await;
    });
    socket.on("broadcast", |s: SocketRef, p: Payload| async move {
        let _ = s.broadcast().emit_payload("broadcast", &p).await;
    });
    socket.on("emit-all", |io: SocketIo, p: Payload| async move {
        let _ = io.of("/").expect("root").emit_payload("all", &p).await;
    });
    socket.on(
        "ask",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            // The question and the answer keep their binary values (as values, whatever the
            // parser).
            let first = |p: &Payload| p.to_values().ok().and_then(|v| v.into_iter().next());
            let question = Payload::from_values(vec![first(&p).unwrap_or_default()]);
            let answer = s
                .timeout(Duration::from_millis(1000))
                .emit_payload_with_ack("question", &question)
                .await;
            let reply = match answer {
                Ok(a) => JsValue::Map(vec![("answer".into(), first(&a).unwrap_or_default())]),
                Err(_) => JsValue::Map(vec![("error".into(), "timeout".into())]),
            };
            let _ = ack.send_payload(&Payload::from_values(vec![reply]));
        },
    );
    socket.on("server-disconnect", |s: SocketRef| s.disconnect());
    socket.on("server-close", |s: SocketRef| s.disconnect_connection());
    socket.on(
        "disconnect-reasons",
        |ack: AckSender, State(r): State<Reasons>| {
            let list = r.lock().clone();
            let _ = ack.send(&list);
        },
    );
    socket.on("handshake", |s: SocketRef, ack: AckSender| {
        let hs = s.handshake();
        let header = hs.header("x-e2e");
        let _ = ack.send(&json!({
            "query": {"foo": hs.query("foo")},
            "auth": hs.auth,
            "header": header,
            "address": hs.address().map(|a| a.ip().to_string()),
        }));
    });
    socket.on("message", |s: SocketRef, p: Payload| {
        let data = p.arg::<Value>(0).unwrap_or(Value::Null);
        println!("message {} {}", s.id_string(), data);
        let _ = s.emit_payload("message", &p);
    });
    on_transport(&socket);
}

/// `transport` (ack): the transport in use and the upgrades this socket has heard of.
fn on_transport(socket: &SocketRef) {
    let upgrades: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let heard = upgrades.clone();
    socket.on_upgrade(move |_: SocketRef, t: TransportKind| heard.lock().push(t.as_str()));
    socket.on("transport", move |s: SocketRef, ack: AckSender| {
        let upgrades = upgrades.lock().clone();
        let _ = ack.send(&json!({"transport": s.transport().as_str(), "upgrades": upgrades}));
    });
}

/// The allowed origin of the contract's CORS rules.
const ALLOWED_ORIGIN: &str = "http://allowed.example";

/// The first value of `key` in a query string, decoded as `URLSearchParams` does.
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_component(k) == key).then(|| decode_component(v))
    })
}

fn decode_component(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|&h| (h as char).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            (c, _, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The engine server of the contract: the engine's options and events, on `/engine/`.
fn engine_server() -> SocketIoService<NotFound> {
    let errors: Reasons = Arc::new(Mutex::new(Vec::new()));
    let record = errors.clone();
    let cors = Cors::predicate_async(|origin: &str| {
        let allowed = origin == ALLOWED_ORIGIN;
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            allowed
        }
    })
    .credentials(true)
    .methods(["GET", "POST"])
    .allowed_headers(["x-e2e"])
    .exposed_headers(["x-e2e-exposed"])
    .max_age(Duration::from_secs(600));
    let (svc, io) = SocketIo::builder()
        .path("/engine/")
        .ping_interval(Duration::from_millis(400))
        .ping_timeout(Duration::from_millis(800))
        .upgrade_timeout(Duration::from_millis(1000))
        .connect_timeout(Duration::from_millis(1500))
        .max_payload(100_000)
        .allow_upgrades(false)
        .cookie(Cookie::default())
        .cors(cors)
        .allow_request_async(|req| {
            let deny = query_value(req.uri.query(), "deny");
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                match deny {
                    Some(message) => Err(RequestRefusal::forbidden().with_message(message)),
                    None => Ok(()),
                }
            }
        })
        .on_initial_headers(|headers, _| {
            headers.insert("x-e2e-initial", HeaderValue::from_static("1"));
        })
        .on_headers(|headers, req| {
            if let Ok(v) = HeaderValue::from_str(req.method.as_str()) {
                headers.insert("x-e2e-every", v);
            }
        })
        .on_connection_error(move |err: &ConnectionError<'_>| {
            record.lock().push(json!({
                "code": err.error.code(),
                "message": err.error.message(),
                "refusal": err.refusal,
                "url": err.request.uri.to_string(),
            }));
        })
        .with_state(errors)
        .build_svc();
    io.ns("/", |socket: SocketRef| {
        on_transport(&socket);
        socket.on(
            "connection-errors",
            |ack: AckSender, State(errors): State<Reasons>| {
                let list = errors.lock().clone();
                let _ = ack.send(&list);
            },
        );
    });
    svc
}

/// An ack without arguments.
const NO_ARGS: [u8; 0] = [];

/// How long the recovery servers keep sessions and packets (see CONTRACT.md).
const RECOVERY_WINDOW: Duration = Duration::from_millis(3000);

/// One of the recovery servers of the contract: connection state recovery on, at `path`.
fn recovery_server(
    path: &'static str,
    skip_middlewares: bool,
    reasons: Reasons,
) -> SocketIoService<NotFound> {
    let (svc, io) = SocketIo::builder()
        .path(path)
        .ping_interval(Duration::from_millis(400))
        .ping_timeout(Duration::from_millis(800))
        .upgrade_timeout(Duration::from_millis(1000))
        .connect_timeout(Duration::from_millis(1500))
        .max_payload(100_000)
        .connection_state_recovery(
            ConnectionStateRecovery::new()
                .max_disconnection_duration(RECOVERY_WINDOW)
                .skip_middlewares(skip_middlewares),
        )
        .with_state(reasons)
        .build_svc();
    io.ns("/", move |socket: SocketRef| on_recovery(socket, path))
        .with(deny);
    io.dyn_ns(is_dyn, move |socket: SocketRef| on_recovery(socket, path))
        .with(deny);
    svc
}

/// The recovery servers' middleware: refuses `auth.deny === true`.
async fn deny(s: SocketRef) -> Result<(), Refusal> {
    if s.handshake().auth.get("deny") == Some(&Value::Bool(true)) {
        Err(Refusal::new("denied"))
    } else {
        Ok(())
    }
}

/// `^/dyn-\d+$`
fn is_dyn(name: &str) -> bool {
    name.strip_prefix("/dyn-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The handlers of the recovery servers' namespaces; every emit is to the socket's own
/// namespace.
fn on_recovery(socket: SocketRef, path: &'static str) {
    socket.on_disconnect(
        move |s: SocketRef, reason: DisconnectReason, State(r): State<Reasons>| {
            r.lock()
                .push(json!({"id": s.id_string(), "path": path, "reason": reason.as_str()}));
        },
    );
    socket.on("state", |s: SocketRef, ack: AckSender| {
        let data = s.data::<Value>().unwrap_or(Value::Null);
        let _ = ack.send(&json!({
            "id": s.id_string(),
            "recovered": s.recovered(),
            "rooms": sorted_rooms(&s),
            "data": data.get("value").cloned().unwrap_or(Value::Null),
        }));
    });
    socket.on(
        "join",
        |s: SocketRef, Data(room): Data<String>, ack: AckSender| {
            s.join(room);
            let _ = ack.send(&sorted_rooms(&s));
        },
    );
    socket.on(
        "set-data",
        |s: SocketRef, Data(value): Data<Value>, ack: AckSender| {
            let _ = s.set_data(&json!({ "value": value }));
            let _ = ack.send_args(&NO_ARGS);
        },
    );
    socket.on(
        "to-room",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let (Ok(room), Ok(event)) = (p.arg::<String>(0), p.arg::<String>(1)) else {
                return;
            };
            let op = s.ns().operator().to(room);
            let _ = op.emit_payload(&event, &p.skip(2)).await;
            let _ = ack.send_args(&NO_ARGS);
        },
    );
    socket.on(
        "burst",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let (Ok(room), Ok(event), Ok(count)) =
                (p.arg::<String>(0), p.arg::<String>(1), p.arg::<u32>(2))
            else {
                return;
            };
            for i in 0..count {
                let _ = s.ns().operator().to(room.clone()).emit(&event, &i).await;
            }
            let _ = ack.send_args(&NO_ARGS);
        },
    );
    socket.on(
        "emit-all",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let _ = s.ns().operator().emit_payload("all", &p).await;
            let _ = ack.send_args(&NO_ARGS);
        },
    );
    socket.on(
        "volatile-all",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let _ = s.ns().operator().volatile().emit_payload("all", &p).await;
            let _ = ack.send_args(&NO_ARGS);
        },
    );
    socket.on(
        "local-all",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let _ = s.ns().operator().local().emit_payload("all", &p).await;
            let _ = ack.send_args(&NO_ARGS);
        },
    );
    socket.on(
        "broadcast",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let _ = s.broadcast().emit_payload("broadcast", &p).await;
            let _ = ack.send_args(&NO_ARGS);
        },
    );
    socket.on("emit-self", |s: SocketRef, p: Payload, ack: AckSender| {
        let _ = s.emit_payload("self", &p);
        let _ = ack.send_args(&NO_ARGS);
    });
    socket.on(
        "ask-self",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let answer = s
                .timeout(Duration::from_millis(1000))
                .emit_payload_with_ack("question", &p)
                .await;
            let reply = match answer {
                Ok(a) => json!({"answer": a.arg::<Value>(0).unwrap_or(Value::Null)}),
                Err(_) => json!({"error": "timeout"}),
            };
            let _ = ack.send(&reply);
        },
    );
    socket.on(
        "ask-all",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let question = p.arg::<Value>(0).unwrap_or(Value::Null);
            let op = s.ns().operator().timeout(Duration::from_millis(1000));
            // Answered at once: the answers are not awaited (as in the reference).
            tokio::spawn(async move {
                let _ = op.emit_with_ack("question", &question).await;
            });
            let _ = ack.send_args(&NO_ARGS);
        },
    );
    socket.on("server-disconnect", |s: SocketRef| s.disconnect());
    socket.on(
        "disconnect-reasons",
        |ack: AckSender, State(r): State<Reasons>| {
            let list = r.lock().clone();
            let _ = ack.send(&list);
        },
    );
}

/// `blob(n)` of CONTRACT.md: compressible text that is not a plain repetition.
fn blob(n: usize) -> String {
    const ALPHABET: &[u8; 27] = b"abcdefghij klmnopqrstuvwxyz";
    (0..n)
        .map(|i| char::from(ALPHABET[(i * 7 + i / 13) % 27]))
        .collect()
}

/// One of the compression servers of the contract: `permessage-deflate` on, at `path`.
fn deflate_server(path: &'static str, deflate: PerMessageDeflate) -> SocketIoService<NotFound> {
    let (svc, io) = SocketIo::builder()
        .path(path)
        .ping_interval(Duration::from_millis(400))
        .ping_timeout(Duration::from_millis(800))
        .upgrade_timeout(Duration::from_millis(1000))
        .connect_timeout(Duration::from_millis(1500))
        .max_payload(100_000)
        .per_message_deflate(deflate)
        .build_svc();
    io.ns("/", |socket: SocketRef| {
        socket.on("echo", |s: SocketRef, p: Payload| {
            let _ = s.emit_payload("echo", &p);
        });
        socket.on("blob", |s: SocketRef, p: Payload| {
            let n = p.arg::<usize>(0).unwrap_or(0);
            let compress = p.arg::<bool>(1).unwrap_or(true);
            let _ = s.compress(compress).emit("blob", &blob(n));
        });
        socket.on("blob-all", |s: SocketRef, p: Payload| async move {
            let n = p.arg::<usize>(0).unwrap_or(0);
            let compress = p.arg::<bool>(1).unwrap_or(true);
            let _ = s.io().compress(compress).emit("blob", &blob(n)).await;
        });
    });
    svc
}

fn arg(p: &Payload, i: usize) -> Value {
    p.arg::<Value>(i).unwrap_or(Value::Null)
}

fn text(p: &Payload, i: usize) -> String {
    p.arg::<String>(i).unwrap_or_default()
}

/// JavaScript's default sort of strings (and of the text of other values).
fn js_sorted(mut list: Vec<Value>) -> Vec<Value> {
    let key = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    list.sort_by_key(key);
    list
}

fn on_api(socket: SocketRef) {
    record(&socket);
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = log.clone();
    let any = socket.on_any(move |Event(name): Event| l.lock().push(format!("any:{name}")));
    socket.insert_extension(AnyListener(any));
    let l = log.clone();
    socket.prepend_any(move |Event(name): Event| l.lock().push(format!("first:{name}")));
    let l = log.clone();
    socket.on_any_outgoing(move |Event(name): Event| l.lock().push(format!("out:{name}")));
    socket.use_middleware(|Event(name): Event| async move {
        match name.as_str() {
            "forbidden" => Err(Refusal::new("not allowed")),
            "slow" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    });
    socket.on_error(|s: SocketRef, err: Refusal| {
        let _ = s.emit("use-error", &err.message);
    });
    socket.on_disconnecting(
        |s: SocketRef, reason: DisconnectReason, State(st): State<ApiState>| {
            st.disconnecting.lock().push(
                json!({"id": s.id_string(), "reason": reason.as_str(), "rooms": sorted_rooms(&s)}),
            );
        },
    );

    socket.on("log", move |ack: AckSender| {
        let _ = ack.send(&*log.lock());
    });
    socket.on("off-any", |s: SocketRef, ack: AckSender| {
        if let Some(AnyListener(id)) = s.extension::<AnyListener>() {
            s.off_any(id);
        }
        let _ = ack.send(&true);
    });
    socket.on("forbidden", |ack: AckSender| {
        let _ = ack.send("ran");
    });
    socket.on("slow", |ack: AckSender| {
        let _ = ack.send("slow ran");
    });
    socket.on("emit-self", |s: SocketRef, p: Payload| async move {
        let _ = s.emit_payload("self", &p);
        let _ = s
            .ns()
            .operator()
            .to(s.id())
            .emit_payload("via-room", &p)
            .await;
    });
    socket.on(
        "join",
        |s: SocketRef, Data(room): Data<String>, ack: AckSender| {
            s.join(room);
            let _ = ack.send(&sorted_rooms(&s));
        },
    );
    socket.on("rooms", |s: SocketRef, ack: AckSender| {
        let _ = ack.send(&sorted_rooms(&s));
    });
    socket.on("leave-all", |s: SocketRef, ack: AckSender| {
        s.leave_all();
        let _ = ack.send(&sorted_rooms(&s));
    });
    socket.on(
        "volatile-seq",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let (target, n) = (text(&p, 0), arg(&p, 1));
            let op = s.ns().operator();
            let _ = op
                .clone()
                .to(target.clone())
                .emit_args("seq", &(&n, 1))
                .await;
            let volatile = op.clone().to(target.clone()).volatile();
            let _ = volatile.emit_args("seq", &(&n, 2)).await;
            let _ = op.to(target).emit_args("seq", &(&n, 3)).await;
            // Each emit above awaits the adapter (a Redis publish in a cluster), so the client's
            // next event may be handled before they are done: the ack says when they are.
            let _ = ack.send(&true);
        },
    );
    socket.on("volatile-self-seq", |s: SocketRef, Data(n): Data<Value>| {
        let _ = s.emit_args("seq", &(&n, 1));
        let _ = s.volatile().emit_args("seq", &(&n, 2));
        let _ = s.emit_args("seq", &(&n, 3));
    });
    socket.on("volatile-one", |s: SocketRef, Data(n): Data<Value>| {
        let _ = s.volatile().emit("vol", &n);
    });
    socket.on("compress-off", |s: SocketRef, p: Payload| {
        let _ = s.compress(false).emit_payload("compressed", &p);
    });
    socket.on("local-all", |s: SocketRef, p: Payload| async move {
        let _ = s.ns().operator().local().emit_payload("local", &p).await;
    });
    socket.on("socket-to", |s: SocketRef, p: Payload| async move {
        let _ = s
            .to(text(&p, 0))
            .emit_payload("socket-to", &p.skip(1))
            .await;
    });
    socket.on("socket-except", |s: SocketRef, p: Payload| async move {
        let op = s.except(text(&p, 0));
        let _ = op.emit_payload("socket-except", &p.skip(1)).await;
    });
    socket.on(
        "sockets-join",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let op = s.ns().operator().to(text(&p, 0));
            let _ = op.sockets_join(text(&p, 1)).await;
            let _ = ack.send(&true);
        },
    );
    socket.on(
        "sockets-leave",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let op = s.ns().operator().to(text(&p, 0));
            let _ = op.sockets_leave(text(&p, 1)).await;
            let _ = ack.send(&true);
        },
    );
    socket.on(
        "disconnect-sockets",
        |s: SocketRef, p: Payload| async move {
            let close = p.arg::<bool>(1).unwrap_or(false);
            let op = s.ns().operator().to(text(&p, 0));
            let _ = op.disconnect_sockets(close).await;
        },
    );
    socket.on(
        "fetch-ids",
        |s: SocketRef, Data(room): Data<String>, ack: AckSender| async move {
            let Ok(ids) = s.ns().operator().to(room).fetch_ids().await else {
                return;
            };
            let mut ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
            ids.sort();
            let _ = ack.send(&ids);
        },
    );
    socket.on(
        "fetch-sockets",
        |s: SocketRef, Data(room): Data<String>, ack: AckSender| async move {
            let Ok(found) = s.ns().operator().to(room).fetch_sockets().await else {
                return;
            };
            let mut list: Vec<Value> = found
                .iter()
                .map(|r| {
                    let mut rooms: Vec<String> = r.rooms().iter().map(|x| x.to_string()).collect();
                    rooms.sort();
                    let auth: Value =
                        sockeye::value::from_value(r.handshake().auth.clone()).unwrap_or_default();
                    json!({
                        "id": r.id().to_string(),
                        "rooms": rooms,
                        "data": r.data::<Value>().unwrap_or_default(),
                        "auth": auth,
                    })
                })
                .collect();
            list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            let _ = ack.send(&list);
        },
    );
    socket.on("remote-emit", |s: SocketRef, p: Payload| async move {
        let Ok(found) = s.ns().operator().to(text(&p, 0)).fetch_sockets().await else {
            return;
        };
        let (event, data) = (text(&p, 1), arg(&p, 2));
        for r in found {
            let _ = r.emit(&event, &data).await;
        }
    });
    socket.on(
        "set-data",
        |s: SocketRef, Data(data): Data<Value>, ack: AckSender| {
            let _ = s.set_data(&data);
            let _ = ack.send(&true);
        },
    );
    socket.on("get-data", |s: SocketRef, ack: AckSender| {
        let _ = ack.send(&s.data::<Value>().unwrap_or_default());
    });
    socket.on(
        "set-ext",
        |s: SocketRef, Data(v): Data<Value>, ack: AckSender| {
            s.insert_extension(Ext(v));
            let _ = ack.send(&true);
        },
    );
    socket.on("get-ext", |s: SocketRef, ack: AckSender| {
        let v = s.extension::<Ext>().map_or(Value::Null, |Ext(v)| v);
        let _ = ack.send(&v);
    });
    socket.on(
        "ask-room",
        |s: SocketRef, p: Payload, ack: AckSender| async move {
            let ms = p.arg::<u64>(1).unwrap_or(1000);
            let op = s.ns().operator().to(text(&p, 0));
            let op = op.timeout(Duration::from_millis(ms));
            let Ok(replies) = op.emit_with_ack("question", "ready?").await else {
                return;
            };
            let mut timed_out = false;
            let mut responses = Vec::new();
            for r in replies {
                match r.result {
                    Ok(answer) => responses.push(arg(&answer, 0)),
                    Err(_) => timed_out = true,
                }
            }
            let _ = ack.send(&json!({"timedOut": timed_out, "responses": js_sorted(responses)}));
        },
    );
    socket.on(
        "disconnecting-log",
        |ack: AckSender, State(st): State<ApiState>| {
            let _ = ack.send(&*st.disconnecting.lock());
        },
    );
    socket.on(
        "new-namespaces",
        |ack: AckSender, State(st): State<ApiState>| {
            let _ = ack.send(&*st.new_namespaces.lock());
        },
    );
    socket.on(
        "parent-emit",
        |p: Payload, State(st): State<ApiState>| async move {
            if let Some(parent) = st.dyn_parent.get() {
                let _ = parent.emit_payload("parent", &p).await;
            }
        },
    );
    socket.on(
        "parent-to",
        |p: Payload, State(st): State<ApiState>| async move {
            if let Some(parent) = st.dyn_parent.get() {
                let _ = parent
                    .to(text(&p, 0))
                    .emit_payload("parent-to", &p.skip(1))
                    .await;
            }
        },
    );
}

/// The contract's `/`, `/admin` and `^/dyn-\d+$` on `io` (the main server and the msgpack
/// one); the dynamic namespaces' parent.
fn contract_namespaces(io: &SocketIo) -> ParentNamespace {
    io.ns("/", on_root).with(|s: SocketRef| async move {
        if credential(&s, "token").as_deref() == Some("bad") {
            Err(Refusal::new("unauthorized").with_data(json!({"reason": "bad token"})))
        } else {
            Ok(())
        }
    });
    io.ns("/admin", |socket: SocketRef| {
        record(&socket);
        socket.on("whoami", |ack: AckSender| {
            let _ = ack.send("admin");
        });
    })
    .with(|s: SocketRef| async move {
        if credential(&s, "role").as_deref() == Some("admin") {
            Ok(())
        } else {
            Err(Refusal::new("forbidden"))
        }
    });
    let dyn_parent = io.dyn_ns(is_dyn, |socket: SocketRef| {
        record(&socket);
        socket.on("name", |s: SocketRef, ack: AckSender| {
            let _ = ack.send(s.ns().name());
        });
        socket.on(
            "join",
            |s: SocketRef, Data(room): Data<String>, ack: AckSender| {
                s.join(room);
                let _ = ack.send(&true);
            },
        );
    });
    dyn_parent
}

/// The msgpack server of the contract: `/msgpack/`, with the msgpack parser, the engine
/// options of the main one (not EIO3, CORS or `allow_request`), and its `/`, `/admin` and
/// dynamic namespaces.
fn msgpack_server(reasons: Reasons) -> (SocketIoService<NotFound>, SocketIo) {
    let (svc, io) = SocketIo::builder()
        .path("/msgpack/")
        .parser(MsgpackParser)
        .ping_interval(Duration::from_millis(400))
        .ping_timeout(Duration::from_millis(800))
        .upgrade_timeout(Duration::from_millis(1000))
        .connect_timeout(Duration::from_millis(1500))
        .max_payload(100_000)
        .with_state(reasons)
        .build_svc();
    contract_namespaces(&io);
    (svc, io)
}

/// `/tenant-<x>` is created for a client whose auth has `tenant == "<x>"`, after 20 ms.
async fn tenant_matches(name: String, handshake: sockeye::Handshake) -> bool {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let tenant = handshake.auth.get("tenant").and_then(Value::as_str);
    tenant.is_some_and(|t| name.strip_prefix("/tenant-") == Some(t))
}

/// The value after `flag` on the command line.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn port() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(3100)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--cluster") {
        return cluster::run(&args).await;
    }
    if args.iter().any(|a| a == "--emitter") {
        return emitter::run_cli(&args).await;
    }
    let reasons: Reasons = Arc::new(Mutex::new(Vec::new()));
    let api_state = ApiState::default();
    // `--redis URL`: the main server's adapter is the Redis one (a cluster of one), so that
    // the whole suite checks it behaves as the in-process adapter does.
    let redis = match flag_value(&args, "--redis") {
        Some(url) => Some(
            sockeye_redis::RedisAdapter::builder(url)
                .build()
                .await
                .map_err(std::io::Error::other)?,
        ),
        None => None,
    };
    let mut builder = SocketIo::builder();
    if let Some(redis) = &redis {
        builder = builder.adapter(redis.factory());
    }
    let (svc, io) = builder
        .ping_interval(Duration::from_millis(400))
        .ping_timeout(Duration::from_millis(800))
        .upgrade_timeout(Duration::from_millis(1000))
        .connect_timeout(Duration::from_millis(1500))
        .max_payload(100_000)
        .allow_eio3(true)
        .cors(Cors::origins(["http://allowed.example"]).credentials(true))
        .allow_request(|parts| {
            !parts
                .uri
                .query()
                .unwrap_or("")
                .split('&')
                .any(|p| p == "refuse=1")
        })
        .with_state(reasons.clone())
        .with_state(api_state.clone())
        .build_svc();
    {
        let names = api_state.new_namespaces.clone();
        io.on_new_namespace(move |ns| names.lock().push(ns.name().to_owned()));
    }
    // The recovery servers answer on their own paths and hand everything else on.
    let recovery_reasons: Reasons = Arc::new(Mutex::new(Vec::new()));
    let svc = recovery_server("/recovery/", true, recovery_reasons.clone())
        .with_inner(recovery_server("/recovery-mw/", false, recovery_reasons).with_inner(svc));
    // So do the msgpack server (which shares the disconnect records with the main one, as in
    // Node) and the engine server.
    let (msgpack_svc, msgpack) = msgpack_server(reasons.clone());
    let svc = msgpack_svc.with_inner(svc);
    let svc = engine_server().with_inner(svc);

    // The compression servers, on their own paths too.
    let svc = deflate_server("/deflate/", PerMessageDeflate::new()).with_inner(
        deflate_server(
            "/deflate-nct/",
            PerMessageDeflate::new()
                .server_no_context_takeover(true)
                .client_no_context_takeover(true)
                .server_max_window_bits(10),
        )
        .with_inner(svc),
    );

    let dyn_parent = contract_namespaces(&io);
    let _ = api_state.dyn_parent.set(dyn_parent);
    io.dyn_ns_async(tenant_matches, |socket: SocketRef| {
        record(&socket);
        socket.on("name", |s: SocketRef, ack: AckSender| {
            let _ = ack.send(s.ns().name());
        });
    });
    io.ns("/api", on_api);

    // A second server on the same port: /custom-io/, WebSocket only.
    let (custom_layer, custom) = SocketIo::builder()
        .path("/custom-io/")
        .transports(false, true)
        .ping_interval(Duration::from_millis(400))
        .ping_timeout(Duration::from_millis(800))
        .connect_timeout(Duration::from_millis(1500))
        .max_payload(100_000)
        .build_layer();
    custom.ns("/", |socket: SocketRef| {
        socket.on("where", |ack: AckSender| {
            let _ = ack.send("custom");
        });
    });
    let svc = sockeye::tower_layer::Layer::layer(&custom_layer, svc);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port())).await?;
    if redis.is_some() {
        // Subscribed before the first client, as the reference waits for its adapter.
        io.ready().await.map_err(std::io::Error::other)?;
    }
    println!("listening on {}", listener.local_addr()?.port());
    sockeye::serve(listener, svc, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    custom.close();
    msgpack.close();
    io.close();
    Ok(())
}
