//! Wire compatibility with the real npm packages: a Rust server (this crate's adapter) and a
//! Node socket.io 4.8 server with `@socket.io/redis-adapter` 8.3 (tests/node/peer.js, with
//! socket.io-client 4.8 clients) in one cluster through a real `redis-server`, every
//! operation in both directions; `@socket.io/redis-emitter` 5.1 and this crate's emitter
//! publishing the same bytes.
//!
//! The npm packages come from `e2e/node_modules` (`npm ci` in `e2e/` is run once when they
//! are missing), or from the directory `SOCKEYE_REDIS_NODE_MODULES` names.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value as Json};
use sockeye_core::adapter::{AckEvent, BoxFuture, BroadcastOptions};
use sockeye_core::value::Value;
use sockeye_core::{Payload, Room};
use sockeye_redis::{Emitter, RedisAdapter, SubscriptionMode};
use support::*;

// --- the Node peer ------------------------------------------------------------------------------

const PACKAGES: [&str; 6] = [
    "socket.io",
    "socket.io-client",
    "@socket.io/redis-adapter",
    "@socket.io/redis-emitter",
    "redis",
    "notepack.io",
];

fn has_packages(dir: &Path) -> bool {
    PACKAGES
        .iter()
        .all(|p| dir.join(p).join("package.json").is_file())
}

/// Where the npm packages are, installing them from `e2e/`'s lock file the first time.
fn node_modules() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    if let Some(dir) = std::env::var_os("SOCKEYE_REDIS_NODE_MODULES") {
        let dir = PathBuf::from(dir);
        assert!(
            has_packages(&dir),
            "SOCKEYE_REDIS_NODE_MODULES={} lacks one of {PACKAGES:?}",
            dir.display()
        );
        return dir;
    }
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    let dir = e2e.join("node_modules");
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_packages(&dir) {
        let manifest = std::fs::read_to_string(e2e.join("package.json")).unwrap_or_default();
        assert!(
            manifest.contains("@socket.io/redis-adapter")
                && manifest.contains("@socket.io/redis-emitter"),
            "e2e/package.json does not list {PACKAGES:?} (the cluster suite adds them); \
             set SOCKEYE_REDIS_NODE_MODULES to a node_modules directory that has them"
        );
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&e2e)
            .status()
            .expect("run npm (Node 20 and npm are needed)");
        assert!(status.success(), "npm ci in e2e/ failed");
        assert!(
            has_packages(&dir),
            "npm ci in e2e/ did not install {PACKAGES:?}"
        );
    }
    dir
}

/// The Node server and its clients (tests/node/peer.js).
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
}

impl Peer {
    fn start(redis: &Redis, args: &[&str]) -> Peer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/peer.js");
        let mut child = Command::new("node")
            .arg(script)
            .args(["--redis", &redis.url()])
            .args(args)
            .env("NODE_PATH", node_modules())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run node (Node 20 is needed)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the Node peer did not start");
        Peer {
            child,
            stdin,
            stdout,
            next: 0,
        }
    }

    /// Runs a command (blocking this thread: the Node side answers within its own timeouts).
    fn call(&mut self, mut cmd: Json) -> Json {
        self.next += 1;
        cmd["id"] = json!(self.next);
        writeln!(self.stdin, "{cmd}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let reply: Json = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(reply["id"], json!(self.next));
        assert_eq!(reply["ok"], json!(true), "{cmd} failed: {reply}");
        reply
    }

    /// `call` off the async runtime's thread.
    async fn run(&mut self, cmd: Json) -> Json {
        tokio::task::block_in_place(|| self.call(cmd))
    }

    async fn client(&mut self, name: &str, rooms: &[&str]) -> String {
        let r = self
            .run(json!({"cmd": "client", "name": name, "rooms": rooms}))
            .await;
        r["sid"].as_str().unwrap().to_owned()
    }

    async fn received(&mut self, name: &str) -> Vec<Json> {
        let r = self.run(json!({"cmd": "received", "name": name})).await;
        r["events"].as_array().unwrap().clone()
    }

    /// Runs `cmd` until its reply passes `pred` (at most 5 s).
    async fn until(&mut self, what: &str, cmd: Json, pred: impl Fn(&Json) -> bool) {
        for _ in 0..200 {
            if pred(&self.run(cmd.clone()).await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Waits until client `name` received an event named `event`; returns its arguments.
    async fn wait_for(&mut self, name: &str, event: &str) -> Vec<Json> {
        for _ in 0..200 {
            if let Some(e) = self
                .received(name)
                .await
                .into_iter()
                .find(|e| e[0] == json!(event))
            {
                return e.as_array().unwrap()[1..].to_vec();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{name} never received {event}: {:?}",
            self.received(name).await
        );
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Node value (JSON with `{"$bin": hex}`) as a `Value`.
fn from_node(v: &Json) -> Value {
    match v {
        Json::Object(o) if o.len() == 1 && o.contains_key("$bin") => {
            let hex = o["$bin"].as_str().unwrap();
            Value::Bin(Bytes::from(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect::<Vec<u8>>(),
            ))
        }
        Json::Object(o) => Value::Map(o.iter().map(|(k, v)| (k.clone(), from_node(v))).collect()),
        Json::Array(a) => Value::Array(a.iter().map(from_node).collect()),
        other => serde_json::from_value(other.clone()).unwrap(),
    }
}

async fn collect_acks(
    mut stream: sockeye_core::adapter::AckStream,
) -> (Vec<usize>, Vec<Vec<Value>>, usize) {
    let (mut counts, mut answers, mut failures) = (Vec::new(), Vec::new(), 0);
    while let Some(ev) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        match ev {
            AckEvent::Expected(n) => counts.push(n),
            AckEvent::Reply(r) => match r.result {
                Ok(p) => answers.push(p.to_values().unwrap()),
                Err(_) => failures += 1,
            },
            _ => {}
        }
    }
    counts.sort();
    (counts, answers, failures)
}

// --- a mixed cluster ----------------------------------------------------------------------------

async fn mixed_cluster(sharded: bool) {
    let redis = Redis::start();
    let mut builder = RedisAdapter::builder(redis.url()).requests_timeout(Duration::from_secs(3));
    if sharded {
        builder = builder.subscription_mode(SubscriptionMode::Dynamic);
    }
    let r = Server::start(builder, "/", "rust").await;
    let mut node = Peer::start(&redis, if sharded { &["--sharded"] } else { &[] });
    let r_red = r.ns.connect(&["red"]);
    let r_plain = r.ns.connect(&[]);
    let n_red = node.client("n_red", &["red"]).await;
    let n_blue = node.client("n_blue", &["blue"]).await;
    assert_eq!(r.adapter.server_count().await.unwrap(), 2);
    assert_eq!(
        node.run(json!({"cmd": "serverCount"})).await["count"],
        json!(2)
    );
    if sharded {
        eventually("room channels", || {
            shard_numsub(&redis, "socket.io#/#red#") == 2
                && shard_numsub(&redis, "socket.io#/#blue#") == 1
        })
        .await;
    }

    // Rust -> Node broadcasts: everyone (binary and nested values), one room, except.
    let args = vec![
        Value::from("x"),
        Value::Bin(Bytes::from_static(&[1, 2, 255])),
        Value::Map(vec![
            ("f".into(), Value::Float(1.5)),
            ("n".into(), Value::Null),
            ("i".into(), Value::Int(-7)),
        ]),
    ];
    r.adapter
        .broadcast(packet("/", "r2n", args), BroadcastOptions::new())
        .await
        .unwrap();
    let got = node.wait_for("n_blue", "r2n").await;
    assert_eq!(
        got,
        vec![
            json!("x"),
            json!({"$bin": "0102ff"}),
            json!({"f": 1.5, "n": null, "i": -7})
        ]
    );
    node.wait_for("n_red", "r2n").await;
    r.adapter
        .broadcast(packet("/", "r2n-red", vec![]), opts(&["red"], &[]))
        .await
        .unwrap();
    r.adapter
        .broadcast(packet("/", "r2n-notred", vec![]), opts(&[], &["red"]))
        .await
        .unwrap();
    r.adapter
        .broadcast(
            packet("/", "r2n-one", vec![]),
            opts(&[n_blue.as_str()], &[]),
        )
        .await
        .unwrap();
    r.adapter
        .broadcast(packet("/", "r2n-end", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    node.wait_for("n_red", "r2n-end").await;
    node.wait_for("n_blue", "r2n-end").await;
    let evs = |v: Vec<Json>| {
        v.iter()
            .map(|e| e[0].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        evs(node.received("n_red").await),
        ["r2n", "r2n-red", "r2n-end"]
    );
    assert_eq!(
        evs(node.received("n_blue").await),
        ["r2n", "r2n-notred", "r2n-one", "r2n-end"]
    );

    // Node -> Rust broadcasts.
    node.run(
        json!({"cmd": "emit", "event": "n2r", "args": ["y", {"$bin": "ff00"}, [1, {"k": true}]]}),
    )
    .await;
    node.run(json!({"cmd": "emit", "rooms": ["red"], "event": "n2r-red"}))
        .await;
    node.run(json!({"cmd": "emit", "except": ["red"], "event": "n2r-notred", "volatile": true}))
        .await;
    node.run(json!({"cmd": "emit", "rooms": [r_plain.to_string()], "event": "n2r-one"}))
        .await;
    node.run(json!({"cmd": "emit", "event": "n2r-end"})).await;
    let has = |s, e: &str| r.ns.inbox(s).iter().any(|x| x.0 == e);
    eventually("n2r-end", || {
        has(r_plain, "n2r-end") && has(r_red, "n2r-end")
    })
    .await;
    let inbox = |s| {
        r.ns.inbox(s)
            .into_iter()
            .filter(|e| e.0.starts_with("n2r"))
            .collect::<Vec<_>>()
    };
    let n2r = &inbox(r_red)[0];
    assert_eq!(n2r.0, "n2r");
    assert_eq!(
        n2r.1,
        vec![
            Value::from("y"),
            Value::Bin(Bytes::from_static(&[0xff, 0])),
            Value::Array(vec![
                Value::Int(1),
                Value::Map(vec![("k".into(), Value::Bool(true))])
            ]),
        ]
    );
    let names = |s| inbox(s).into_iter().map(|e| e.0).collect::<Vec<_>>();
    assert_eq!(names(r_red), ["n2r", "n2r-red", "n2r-end"]);
    assert_eq!(names(r_plain), ["n2r", "n2r-notred", "n2r-one", "n2r-end"]);
    assert!(inbox(r_plain)[1].2, "volatile crossed");
    assert!(!inbox(r_plain)[0].2);

    // Broadcasts with acks, both ways.
    let stream = r
        .adapter
        .broadcast_with_ack(
            packet("/", "ask", vec![Value::Int(9)]),
            BroadcastOptions::new(),
            Duration::from_secs(3),
        )
        .await
        .unwrap();
    let (counts, answers, failures) = collect_acks(stream).await;
    assert_eq!(counts, [2, 2], "this server's count and Node's");
    assert_eq!(failures, 0);
    let node_answers: Vec<&Vec<Value>> = answers
        .iter()
        .filter(|a| {
            a[0].as_array()
                .is_some_and(|x| x[0] == Value::from("node-ack"))
        })
        .collect();
    assert_eq!(node_answers.len(), 2, "{answers:?}");
    for a in node_answers {
        assert_eq!(a.len(), 1, "Node sends an ack's first argument only");
        assert_eq!(a[0].as_array().unwrap()[0], Value::from("node-ack"));
    }
    let reply = node
        .run(json!({"cmd": "emitWithAck", "event": "ask", "args": ["q"], "timeout": 3000}))
        .await;
    let responses = reply["responses"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"));
    assert_eq!(responses.len(), 4, "{reply}");
    let from_rust: Vec<&Json> = responses.iter().filter(|a| a[0] == json!("ack")).collect();
    assert_eq!(from_rust.len(), 2, "{reply}");
    assert!(from_rust.iter().all(|a| a[2] == json!("q")));

    // fetchSockets, both ways: ids, rooms, data, handshake.
    let fetched = r
        .adapter
        .fetch_sockets(BroadcastOptions::new())
        .await
        .unwrap();
    assert_eq!(fetched.len(), 4);
    let nr = fetched
        .iter()
        .find(|s| s.id.as_str() == n_red)
        .expect("Node's socket");
    assert_eq!(
        nr.data,
        Value::Map(vec![
            ("server".into(), "node".into()),
            ("name".into(), "n_red".into())
        ])
    );
    assert!(nr.rooms.iter().any(|x| x == "red") && nr.rooms.iter().any(|x| x == n_red.as_str()));
    assert!(!nr.handshake.address.is_empty());
    assert!(nr.handshake.issued > 1_600_000_000_000);
    assert_eq!(nr.handshake.auth.get("name"), Some(&Value::from("n_red")));
    assert!(
        nr.handshake.url.starts_with("/socket.io/"),
        "{}",
        nr.handshake.url
    );
    let in_red = r.adapter.fetch_sockets(opts(&["red"], &[])).await.unwrap();
    assert_eq!(in_red.len(), 2);
    let reply = node.run(json!({"cmd": "fetch", "rooms": ["red"]})).await;
    let sockets = reply["sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 2, "{reply}");
    let rs = sockets
        .iter()
        .find(|s| s["id"] == json!(r_red.to_string()))
        .expect("Rust's socket");
    assert_eq!(rs["data"], json!({"server": "rust"}));
    assert_eq!(rs["rooms"], {
        // Node sorts them (by UTF-16 units: ASCII byte order here).
        let mut want = vec![r_red.to_string(), "red".to_owned()];
        want.sort();
        json!(want)
    });
    assert_eq!(rs["address"], json!("127.0.0.1"));
    assert_eq!(rs["issued"], json!(1_700_000_000_000u64));
    assert_eq!(rs["auth"], json!({"token": "t"}));

    // socketsJoin / socketsLeave / disconnectSockets, both ways.
    r.adapter
        .add_sockets(opts(&["red"], &[]), vec![Room::from("joined")])
        .await
        .unwrap();
    node.until(
        "n_red joined",
        json!({"cmd": "roomsOf", "sid": n_red}),
        |r| {
            r["rooms"]
                .as_array()
                .is_some_and(|r| r.contains(&json!("joined")))
        },
    )
    .await;
    assert!(r.ns.rooms_of(r_red).contains("joined"));
    node.run(json!({"cmd": "join", "except": ["red"], "target": "from-node"}))
        .await;
    eventually("r_plain joined", || {
        r.ns.rooms_of(r_plain).contains("from-node")
    })
    .await;
    assert!(!r.ns.rooms_of(r_red).contains("from-node"));
    node.run(json!({"cmd": "leave", "target": "joined"})).await;
    eventually("r_red left", || !r.ns.rooms_of(r_red).contains("joined")).await;
    node.run(json!({"cmd": "disconnect", "rooms": [r_plain.to_string()], "close": true}))
        .await;
    eventually("r_plain disconnected", || !r.ns.is_connected(r_plain)).await;
    assert_eq!(r.ns.record.lock().disconnected, [(r_plain, true)]);
    r.adapter
        .disconnect_sockets(opts(&[n_blue.as_str()], &[]), false)
        .await
        .unwrap();
    node.until(
        "n_blue disconnected",
        json!({"cmd": "roomsOf", "sid": n_blue}),
        |r| r["rooms"].is_null(),
    )
    .await;

    // Server-side events, with and without answers, both ways.
    r.adapter
        .server_side_emit("sse".into(), Payload::from_values(vec![Value::Int(1)]))
        .await
        .unwrap();
    let acks = r
        .adapter
        .server_side_emit_with_ack(
            "sse-ack".into(),
            Payload::from_values(vec![Value::from("q")]),
            Duration::from_secs(3),
        )
        .await
        .unwrap();
    assert!(acks.is_complete(), "{acks:?}");
    assert_eq!(
        acks.responses[0].to_values().unwrap(),
        vec![Value::Array(vec!["node".into(), "q".into()])]
    );
    let events = node.run(json!({"cmd": "serverEvents"})).await["events"].clone();
    assert_eq!(events, json!([["sse", 1, false], ["sse-ack", "q", true]]));
    node.run(json!({"cmd": "sse", "event": "from-node", "args": [2, "x"]}))
        .await;
    eventually("server event", || {
        !r.ns.record.lock().server_events.is_empty()
    })
    .await;
    assert_eq!(
        r.ns.record.lock().server_events[0],
        (
            "from-node".to_owned(),
            vec![Value::Int(2), "x".into()],
            false
        )
    );
    let reply = node
        .run(json!({"cmd": "sseAck", "event": "asked", "args": ["hello"]}))
        .await;
    assert_eq!(reply["responses"], json!([["rust", "hello"]]), "{reply}");

    if !sharded {
        // allRooms (the classic adapter's request), both ways.
        let rooms = node.run(json!({"cmd": "allRooms"})).await["rooms"].clone();
        // The rooms of this server's socket (its own id's included) come from here.
        assert!(
            rooms
                .as_array()
                .unwrap()
                .contains(&json!(r_red.to_string())),
            "{rooms}"
        );
        let ours: Vec<String> = r
            .adapter
            .rooms()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.into_owned())
            .collect();
        assert!(
            ours.contains(&"red".to_owned()) && ours.contains(&n_red),
            "{ours:?}"
        );
    }
    assert_eq!(r.cluster.metrics().malformed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_mixed_cluster() {
    mixed_cluster(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_mixed_cluster() {
    mixed_cluster(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_specific_response_channels_with_node() {
    let redis = Redis::start();
    let r = Server::start(RedisAdapter::builder(redis.url()).key("app"), "/", "rust").await;
    let mut node = Peer::start(&redis, &["--key", "app", "--specific"]);
    let n = node.client("n", &[]).await;
    r.ns.connect(&[]);
    let mut shared = RawSub::new(&redis.url(), &["app-response#/#"], &[]).await;
    // Node answers on the requester's own channel...
    let fetched = r
        .adapter
        .fetch_sockets(BroadcastOptions::new())
        .await
        .unwrap();
    assert!(fetched.iter().any(|s| s.id.as_str() == n));
    assert!(
        shared.next(300).await.is_none(),
        "Node answered on Rust's own channel"
    );
    // ... and Rust, without the option, on the shared one, which Node listens to.
    let reply = node.run(json!({"cmd": "fetch"})).await;
    assert_eq!(reply["sockets"].as_array().unwrap().len(), 2);
    assert!(shared.next(2000).await.is_some());
}

// --- the emitters -----------------------------------------------------------------------------

/// Both emitters do the same: the bytes on every channel must be the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_emitters_publish_the_same_bytes() {
    let redis = Redis::start();
    let mut node = Peer::start(&redis, &[]);
    let ours = Emitter::connect(redis.url()).await.unwrap();
    let mut sub = RawSub::new(
        &redis.url(),
        &[
            "socket.io#/#",
            "socket.io#/#red#",
            "socket.io#/admin#",
            "socket.io-request#/#",
            "socket.io-request#/admin#",
        ],
        &[],
    )
    .await;
    let args = json!([1, -2, 1.5, "é", null, true, {"a": [{"$bin": "00ff"}]}, {"$bin": ""}, 4294967296u64]);
    let rust_args = from_node(&args).as_array().unwrap().to_vec();
    type Case = Box<dyn Fn(&Emitter) -> BoxFuture<'_, ()>>;
    let cases: Vec<(Json, Case)> = vec![
        (
            json!({"op": "emit", "event": "e", "args": args}),
            Box::new(move |e| {
                let payload = Payload::from_values(rust_args.clone());
                Box::pin(async move { e.emit_payload("e", &payload).await.unwrap() })
            }),
        ),
        (
            json!({"op": "emit", "rooms": ["red"], "volatile": true, "event": "v", "args": []}),
            Box::new(|e| {
                Box::pin(async move { e.to("red").volatile().emit_args("v", &()).await.unwrap() })
            }),
        ),
        (
            json!({"op": "emit", "nsp": "/admin", "rooms": ["a", "b"], "except": ["c"], "event": "x", "args": ["y"]}),
            Box::new(|e| {
                Box::pin(async move {
                    e.of("/admin")
                        .to(["a", "b"])
                        .except("c")
                        .emit("x", "y")
                        .await
                        .unwrap()
                })
            }),
        ),
        (
            json!({"op": "join", "rooms": ["red"], "target": "t"}),
            Box::new(|e| Box::pin(async move { e.to("red").sockets_join("t").await.unwrap() })),
        ),
        (
            json!({"op": "leave", "except": ["red"], "target": ["t", "u"]}),
            Box::new(|e| {
                Box::pin(async move { e.except("red").sockets_leave(["t", "u"]).await.unwrap() })
            }),
        ),
        (
            json!({"op": "disconnect", "nsp": "/admin", "close": true}),
            Box::new(|e| {
                Box::pin(async move { e.of("/admin").disconnect_sockets(true).await.unwrap() })
            }),
        ),
        (
            json!({"op": "sse", "event": "s", "args": [1, {"k": "v"}]}),
            Box::new(|e| {
                Box::pin(async move {
                    e.server_side_emit_args("s", &(1, json!({"k": "v"})))
                        .await
                        .unwrap()
                })
            }),
        ),
    ];
    for (node_cmd, rust) in &cases {
        let mut cmd = node_cmd.clone();
        cmd["cmd"] = json!("emitter");
        node.run(cmd).await;
        let theirs = sub.next(2000).await.expect("the Node emitter's message");
        rust(&ours).await;
        let mine = sub.next(2000).await.expect("our emitter's message");
        assert_eq!(mine.0, theirs.0, "channel of {node_cmd}");
        assert_eq!(
            mine.1,
            theirs.1,
            "bytes of {node_cmd}: {:?} vs Node's {:?}",
            String::from_utf8_lossy(&mine.1),
            String::from_utf8_lossy(&theirs.1)
        );
    }
}

/// Both emitters reach both kinds of servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emitters_reach_both_servers() {
    let redis = Redis::start();
    let r = Server::start(RedisAdapter::builder(redis.url()), "/", "rust").await;
    let mut node = Peer::start(&redis, &[]);
    let rs = r.ns.connect(&["red"]);
    node.client("n", &["red"]).await;
    let ours = Emitter::connect(redis.url()).await.unwrap();
    ours.to("red")
        .emit_args("from-rust", &(1, Bytes::from_static(b"\x07")))
        .await
        .unwrap();
    node.run(json!({"cmd": "emitter", "op": "emit", "rooms": ["red"], "event": "from-node", "args": [2, {"$bin": "08"}]})).await;
    assert_eq!(
        node.wait_for("n", "from-rust").await,
        vec![json!(1), json!({"$bin": "07"})]
    );
    assert_eq!(
        node.wait_for("n", "from-node").await,
        vec![json!(2), json!({"$bin": "08"})]
    );
    eventually("both at rust", || r.ns.inbox(rs).len() == 2).await;
    assert_eq!(
        r.ns.inbox(rs)[1].1,
        vec![Value::Int(2), Value::Bin(Bytes::from_static(b"\x08"))]
    );
    ours.server_side_emit("sse", &"hi").await.unwrap();
    node.until("the Node handler", json!({"cmd": "serverEvents"}), |r| {
        r["events"] == json!([["sse", "hi", false]])
    })
    .await;
}

// --- the adapters' messages ----------------------------------------------------------------------

/// `haystack` with every `from` replaced by `to` (the same length: ids).
fn replace_bytes(haystack: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = haystack.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from.as_bytes() {
            out[i..i + from.len()].copy_from_slice(to.as_bytes());
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

/// The uid and request id of a message of either adapter.
fn ids(bytes: &[u8]) -> (Option<String>, Option<String>) {
    let v = decode(bytes);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match &v {
        Value::Array(a) => (text(a.first()), None),
        _ => (
            text(v.get("uid")),
            text(
                v.get("requestId")
                    .or_else(|| v.get("data").and_then(|d| d.get("requestId"))),
            ),
        ),
    }
}

/// The Node adapter and ours, doing the same operation, publish the same bytes (but for the
/// ids each makes).
async fn adapter_messages_match_node(sharded: bool) {
    let redis = Redis::start();
    let mut builder =
        RedisAdapter::builder(redis.url()).requests_timeout(Duration::from_millis(800));
    if sharded {
        builder = builder.subscription_mode(SubscriptionMode::Dynamic);
    }
    let r = Server::start(builder, "/", "rust").await;
    let mut node = Peer::start(&redis, if sharded { &["--sharded"] } else { &[] });
    let channels = ["socket.io#/#", "socket.io#/#red#", "socket.io-request#/#"];
    let mut sub = if sharded {
        RawSub::new(&redis.url(), &[], &channels[..2]).await
    } else {
        RawSub::new(&redis.url(), &channels, &[]).await
    };
    let bin = Value::Bin(Bytes::from_static(&[1, 255]));
    type Ours<'a> = BoxFuture<'a, ()>;
    let a = &r.adapter;
    let cases: Vec<(Json, Ours<'_>)> = vec![
        (
            json!({"cmd": "emit", "rooms": ["red"], "event": "m", "args": [1, "x", {"$bin": "01ff"}, 2.5]}),
            Box::pin(async move {
                let args = vec![Value::Int(1), "x".into(), bin, Value::Float(2.5)];
                a.broadcast(packet("/", "m", args), opts(&["red"], &[]))
                    .await
                    .unwrap();
            }),
        ),
        (
            json!({"cmd": "emit", "except": ["red"], "volatile": true, "event": "v"}),
            Box::pin(async move {
                let mut o = opts(&[], &["red"]);
                o.flags.volatile = true;
                a.broadcast(packet("/", "v", vec![]), o).await.unwrap();
            }),
        ),
        (
            json!({"cmd": "join", "rooms": ["red"], "target": "t"}),
            Box::pin(async move {
                a.add_sockets(opts(&["red"], &[]), vec![Room::from("t")])
                    .await
                    .unwrap()
            }),
        ),
        (
            json!({"cmd": "leave", "target": "t"}),
            Box::pin(async move {
                a.del_sockets(BroadcastOptions::new(), vec![Room::from("t")])
                    .await
                    .unwrap()
            }),
        ),
        (
            json!({"cmd": "disconnect", "rooms": ["red"], "close": true}),
            Box::pin(async move {
                a.disconnect_sockets(opts(&["red"], &[]), true)
                    .await
                    .unwrap()
            }),
        ),
        (
            json!({"cmd": "sse", "event": "s", "args": [1, {"k": null}]}),
            Box::pin(async move {
                let args = Payload::from_values(vec![Value::Int(1), json(r#"{"k":null}"#)]);
                a.server_side_emit("s".into(), args).await.unwrap();
            }),
        ),
        (
            json!({"cmd": "fetch", "rooms": ["red"], "nowait": true}),
            Box::pin(async move {
                let _ = a.fetch_sockets(opts(&["red"], &[])).await;
            }),
        ),
        (
            json!({"cmd": "emitWithAck", "rooms": ["red"], "event": "q", "args": [7], "timeout": 800, "nowait": true}),
            Box::pin(async move {
                let stream = a
                    .broadcast_with_ack(
                        packet("/", "q", vec![Value::Int(7)]),
                        opts(&["red"], &[]),
                        Duration::from_millis(800),
                    )
                    .await
                    .unwrap();
                collect_acks(stream).await;
            }),
        ),
        (
            json!({"cmd": "sseAck", "event": "sq", "args": ["x"], "nowait": true}),
            Box::pin(async move {
                let _ = a
                    .server_side_emit_with_ack(
                        "sq".into(),
                        Payload::from_values(vec!["x".into()]),
                        Duration::from_millis(800),
                    )
                    .await;
            }),
        ),
    ];
    for (node_cmd, ours) in cases {
        node.run(node_cmd.clone()).await;
        let theirs = sub
            .next(3000)
            .await
            .unwrap_or_else(|| panic!("Node published nothing for {node_cmd}"));
        // Node's answers to our requests, and ours to its, come on other channels.
        ours.await;
        let mine = loop {
            let m = sub
                .next(3000)
                .await
                .unwrap_or_else(|| panic!("we published nothing for {node_cmd}"));
            if ids(&m.1).0 != ids(&theirs.1).0 {
                break m;
            }
        };
        assert_eq!(mine.0, theirs.0, "channel of {node_cmd}");
        let (their_uid, their_rid) = ids(&theirs.1);
        let (my_uid, my_rid) = ids(&mine.1);
        let mut normalized = replace_bytes(&theirs.1, &their_uid.unwrap(), &my_uid.unwrap());
        if let (Some(t), Some(m)) = (their_rid, my_rid) {
            normalized = replace_bytes(&normalized, &t, &m);
        }
        assert_eq!(
            mine.1,
            normalized,
            "bytes of {node_cmd}:\n ours {:?}\n Node {:?}",
            String::from_utf8_lossy(&mine.1),
            String::from_utf8_lossy(&theirs.1)
        );
        // Whatever else either side published (answers) is not compared.
        sub.drain(300).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_messages_match_node() {
    adapter_messages_match_node(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_messages_match_node() {
    adapter_messages_match_node(true).await;
}
