//! The e2e test server: the handlers of `e2e/CONTRACT.md` on Sockeye; with `--cluster`, a
//! cluster test node of `e2e/cluster/CONTRACT.md`, and with `--emitter`, the cluster suite's
//! emitter.

mod cluster;
mod emitter;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use sockeye::extract::{Data, Refusal, State};
use sockeye::{
    AckSender, ConnectionStateRecovery, Cors, DisconnectReason, NotFound, Payload,
    PerMessageDeflate, SocketIo, SocketIoService, SocketRef,
};

type Reasons = Arc<Mutex<Vec<Value>>>;

fn record(socket: &SocketRef) {
    socket.on_disconnect(
        |s: SocketRef, reason: DisconnectReason, State(r): State<Reasons>| {
            r.lock().push(
                json!({"id": s.id_string(), "nsp": s.ns().name(), "reason": reason.as_str()}),
            );
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
            // The question and the answer keep their binary attachments.
            let question = Payload::from_args(
                &[p.arg::<Value>(0).unwrap_or(Value::Null)],
                p.bins().to_vec(),
            );
            let Ok(question) = question else { return };
            let answer = s
                .timeout(Duration::from_millis(1000))
                .emit_payload_with_ack("question", &question)
                .await;
            let reply = match answer {
                Ok(a) => {
                    let arg = a.arg::<Value>(0).unwrap_or(Value::Null);
                    Payload::from_args(&[json!({"answer": arg})], a.bins().to_vec())
                }
                Err(_) => Payload::from_args(&[json!({"error": "timeout"})], vec![]),
            };
            if let Ok(reply) = reply {
                let _ = ack.send_payload(&reply);
            }
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
        let data = p.arg_text(0).unwrap_or("null");
        println!("message {} {}", s.id_string(), data);
        let _ = s.emit_payload("message", &p);
    });
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
    let (svc, io) = SocketIo::builder()
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
        .with_state(reasons)
        .build_svc();
    // The recovery servers answer on their own paths and hand everything else on.
    let recovery_reasons: Reasons = Arc::new(Mutex::new(Vec::new()));
    let svc = recovery_server("/recovery/", true, recovery_reasons.clone())
        .with_inner(recovery_server("/recovery-mw/", false, recovery_reasons).with_inner(svc));
    // The recovery servers answer on their own paths and hand everything else on.
    let recovery_reasons: Reasons = Arc::new(Mutex::new(Vec::new()));
    let svc = recovery_server("/recovery/", true, recovery_reasons.clone())
        .with_inner(recovery_server("/recovery-mw/", false, recovery_reasons).with_inner(svc));

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
    io.dyn_ns(is_dyn, |socket: SocketRef| {
        record(&socket);
        socket.on("name", |s: SocketRef, ack: AckSender| {
            let _ = ack.send(s.ns().name());
        });
    });

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port())).await?;
    println!("listening on {}", listener.local_addr()?.port());
    sockeye::serve(listener, svc, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    io.close();
    Ok(())
}
