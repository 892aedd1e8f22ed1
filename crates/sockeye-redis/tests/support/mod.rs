//! What the adapter tests share: a real `redis-server` on a free port, and a namespace's
//! local side (`LocalNamespace`) that keeps sockets in memory and records what it is asked.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use parking_lot::Mutex;
use sockeye_core::adapter::{
    AckEvent, AckFailure, AckReply, AckStream, Adapter, BroadcastOptions, BroadcastPacket,
    HandshakeInfo, LocalHandle, LocalNamespace, ServerAck, SocketInfo,
};
use sockeye_core::value::Value;
use sockeye_core::{Payload, Room, Sid};
use sockeye_redis::{RedisAdapter, RedisAdapterBuilder};

// --- redis-server -------------------------------------------------------------------------------

/// A `redis-server` started for one test on a free port of 127.0.0.1, in a temporary
/// directory, without persistence; killed when dropped.
pub struct Redis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    args: Vec<String>,
}

fn redis_binary() -> PathBuf {
    if let Ok(p) = std::env::var("REDIS_SERVER") {
        return PathBuf::from(p);
    }
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin", "/usr/sbin"])
    {
        let p = PathBuf::from(dir).join("redis-server");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "redis-server not found: these tests need a real Redis. Install Debian's package \
         (`apt-get install redis-server`, which scripts/test.sh does) or set REDIS_SERVER \
         to its path"
    );
}

/// A port no other test of this process was given, free when asked.
fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut given = GIVEN.lock();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

impl Redis {
    /// Starts a Redis with these extra arguments (e.g. `--requirepass x`).
    pub fn start_with(args: &[&str]) -> Redis {
        let dir = std::env::temp_dir().join(format!(
            "sockeye-redis-test-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut r = Redis {
            port: 0,
            dir,
            child: None,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        // Another process may take the port between our check and Redis's bind: then Redis
        // exits, and another port is tried.
        for _ in 0..10 {
            r.port = free_port();
            if r.spawn() {
                return r;
            }
        }
        panic!("redis-server did not start on any of 10 ports");
    }

    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// A Redis that serves TLS only (on [`Redis::port`]), with this certificate and key.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path, extra: &[&str]) -> Redis {
        let mut args = vec![
            "--tls-cert-file".to_owned(),
            cert.display().to_string(),
            "--tls-key-file".to_owned(),
            key.display().to_string(),
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
            "--tls-port".to_owned(),
            "TLS_PORT".to_owned(),
            "--port".to_owned(),
            "0".to_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Redis::start_with(&args)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port (after [`Redis::kill`]).
    pub fn restart(&mut self) {
        assert!(
            self.spawn(),
            "redis-server did not start again on {}",
            self.port
        );
    }

    /// Starts the server; `false` when it exits at once (its port was taken).
    fn spawn(&mut self) -> bool {
        assert!(self.child.is_none(), "already running");
        let mut cmd = Command::new(redis_binary());
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(self.args.iter().map(|a| {
                if a == "TLS_PORT" {
                    self.port.to_string()
                } else {
                    a.clone()
                }
            }))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            // Ours when it runs in our directory (the port may be someone else's).
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                if self.args.iter().any(|a| a == "--tls-port") {
                    // No plain connection to ask: ours if it is still running a moment later.
                    std::thread::sleep(Duration::from_millis(200));
                    if let Ok(Some(_)) = child.try_wait() {
                        return false;
                    }
                    self.child = Some(child);
                    return true;
                }
                self.child = Some(child);
                let dir = self.dir.to_string_lossy().into_owned();
                // The listener seen may have been another test's Redis, gone since (one that
                // is killed and restarted): then this one is not ours either.
                let reply = self.try_command_authed(&[b"CONFIG", b"GET", b"dir"]);
                if reply.is_ok_and(|r| String::from_utf8_lossy(&r).contains(&dir)) {
                    return true;
                }
                let mut c = self.child.take().expect("child");
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// [`Redis::command`] after `AUTH` when the server has a password; an error when
    /// nothing listens on the port.
    fn try_command_authed(&self, args: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        let pass = self
            .args
            .iter()
            .position(|a| a == "--requirepass")
            .map(|i| self.args[i + 1].as_bytes().to_vec());
        self.try_command_with_auth(pass.as_deref(), args)
    }

    /// Kills it (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs a command in raw RESP over TCP; returns the raw reply.
    pub fn command(&self, args: &[&[u8]]) -> Vec<u8> {
        self.try_command_with_auth(None, args).expect("connect")
    }

    fn try_command_with_auth(
        &self,
        password: Option<&[u8]>,
        args: &[&[u8]],
    ) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let resp = |args: &[&[u8]]| {
            let mut req = format!("*{}\r\n", args.len()).into_bytes();
            for a in args {
                req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                req.extend_from_slice(a);
                req.extend_from_slice(b"\r\n");
            }
            req
        };
        let mut buf = vec![0u8; 4096];
        if let Some(p) = password {
            s.write_all(&resp(&[b"AUTH", p]))?;
            let _ = s.read(&mut buf);
        }
        s.write_all(&resp(args))?;
        let n = s.read(&mut buf).unwrap_or(0);
        buf.truncate(n);
        Ok(buf)
    }

    /// PUBLISH (or SPUBLISH) raw bytes.
    pub fn publish(&self, channel: &str, payload: &[u8], sharded: bool) {
        let cmd: &[u8] = if sharded { b"SPUBLISH" } else { b"PUBLISH" };
        let reply = self.command(&[cmd, channel.as_bytes(), payload]);
        assert!(
            reply.starts_with(b":"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}

// --- the local side of a namespace -------------------------------------------------------------

/// One socket of a test namespace.
#[derive(Debug, Clone)]
pub struct TestSocket {
    pub rooms: BTreeSet<String>,
    pub data: Value,
    /// Whether it answers acks (with one argument, `["ack", <its id>, <the event's first
    /// argument>]`).
    pub answers: bool,
}

/// What a test namespace was asked.
#[derive(Debug, Default)]
pub struct Record {
    /// Per socket, the events it was sent: (event, arguments, volatile).
    pub inbox: HashMap<Sid, Vec<(String, Vec<Value>, bool)>>,
    /// Disconnected sockets and whether their connections were closed.
    pub disconnected: Vec<(Sid, bool)>,
    /// Server-side events: (event, arguments, asked for an answer).
    pub server_events: Vec<(String, Vec<Value>, bool)>,
}

/// A namespace's local side in memory: what a server's namespace does for its adapter.
pub struct TestNamespace {
    name: String,
    /// This server's name, in its answers to server-side events.
    server: String,
    pub sockets: Mutex<HashMap<Sid, TestSocket>>,
    pub record: Mutex<Record>,
    adapter: Mutex<Option<Weak<dyn Adapter>>>,
}

impl TestNamespace {
    pub fn new(name: &str, server: &str) -> Arc<TestNamespace> {
        Arc::new(TestNamespace {
            name: name.to_owned(),
            server: server.to_owned(),
            sockets: Mutex::new(HashMap::new()),
            record: Mutex::new(Record::default()),
            adapter: Mutex::new(None),
        })
    }

    /// A new socket in `rooms` (and its own id's room, reported as created as Node's
    /// adapter does).
    pub fn connect(&self, rooms: &[&str]) -> Sid {
        let sid = Sid::new();
        self.notify_created(&[sid.to_string()]);
        let s = TestSocket {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            data: Value::Map(vec![("server".into(), Value::Str(self.server.clone()))]),
            answers: true,
        };
        let created: Vec<String> = {
            let sockets = self.sockets.lock();
            let existing: HashSet<&String> = sockets.values().flat_map(|s| &s.rooms).collect();
            s.rooms
                .iter()
                .filter(|r| !existing.contains(r))
                .cloned()
                .collect()
        };
        self.sockets.lock().insert(sid, s);
        self.notify_created(&created);
        sid
    }

    pub fn set_answers(&self, sid: Sid, answers: bool) {
        if let Some(s) = self.sockets.lock().get_mut(&sid) {
            s.answers = answers;
        }
    }

    fn notify_created(&self, rooms: &[String]) {
        if let Some(a) = self.adapter.lock().as_ref().and_then(Weak::upgrade) {
            for r in rooms {
                a.room_created(r);
            }
        }
    }

    fn notify_deleted(&self, rooms: &[String]) {
        if let Some(a) = self.adapter.lock().as_ref().and_then(Weak::upgrade) {
            for r in rooms {
                a.room_deleted(r);
            }
        }
    }

    /// The events `sid` was sent.
    pub fn inbox(&self, sid: Sid) -> Vec<(String, Vec<Value>, bool)> {
        self.record
            .lock()
            .inbox
            .get(&sid)
            .cloned()
            .unwrap_or_default()
    }

    /// The rooms of `sid` (its own id's not included).
    pub fn rooms_of(&self, sid: Sid) -> BTreeSet<String> {
        self.sockets
            .lock()
            .get(&sid)
            .map(|s| s.rooms.clone())
            .unwrap_or_default()
    }

    pub fn is_connected(&self, sid: Sid) -> bool {
        self.sockets.lock().contains_key(&sid)
    }

    /// The local sockets `opts` selects (a socket is in the room of its own id).
    fn select(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        let sockets = self.sockets.lock();
        let in_room =
            |sid: &Sid, s: &TestSocket, r: &Room| s.rooms.contains(&**r) || sid.as_str() == &**r;
        let mut out: Vec<Sid> = sockets
            .iter()
            .filter(|(sid, s)| {
                opts.rooms.is_empty() || opts.rooms.iter().any(|r| in_room(sid, s, r))
            })
            .filter(|(sid, s)| !opts.except.iter().any(|r| in_room(sid, s, r)))
            .map(|(sid, _)| *sid)
            .collect();
        out.sort();
        out
    }

    fn info(&self, sid: Sid, s: &TestSocket) -> SocketInfo {
        let mut rooms: Vec<Room> = vec![sid.to_string().into()];
        rooms.extend(s.rooms.iter().map(|r| Room::from(r.clone())));
        let handshake = HandshakeInfo {
            address: "127.0.0.1".into(),
            url: "/socket.io/?EIO=4&transport=websocket".into(),
            issued: 1_700_000_000_000,
            time: "Tue Nov 14 2023 22:13:20 GMT+0000 (Coordinated Universal Time)".into(),
            headers: Value::Map(vec![("host".into(), "localhost".into())]),
            query: Value::Map(vec![("EIO".into(), "4".into())]),
            auth: Value::Map(vec![("token".into(), "t".into())]),
            ..Default::default()
        };
        SocketInfo::new(sid, handshake, rooms, s.data.clone())
    }
}

/// Registers `adapter` with `ns` for room events, and returns it.
pub fn attach(ns: &Arc<TestNamespace>, adapter: &Arc<dyn Adapter>) {
    *ns.adapter.lock() = Some(Arc::downgrade(adapter));
    let rooms: BTreeSet<String> = ns
        .sockets
        .lock()
        .values()
        .flat_map(|s| s.rooms.clone())
        .collect();
    ns.notify_created(&rooms.into_iter().collect::<Vec<_>>());
}

impl LocalNamespace for TestNamespace {
    fn name(&self) -> &str {
        &self.name
    }

    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) -> usize {
        let sids = self.select(opts);
        let args = packet.args().to_values().expect("structured arguments");
        let mut rec = self.record.lock();
        for sid in &sids {
            rec.inbox.entry(*sid).or_default().push((
                packet.event().to_owned(),
                args.clone(),
                opts.flags.volatile,
            ));
        }
        sids.len()
    }

    fn broadcast_with_ack(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> AckStream {
        let sids = self.select(opts);
        self.broadcast(packet, opts);
        let args = packet.args().to_values().expect("structured arguments");
        let first = args.first().cloned().unwrap_or_default();
        let sockets = self.sockets.lock();
        let mut now = vec![AckEvent::Expected(sids.len())];
        let mut silent = 0;
        for sid in &sids {
            if sockets.get(sid).is_some_and(|s| s.answers) {
                let answer = Value::Array(vec![
                    Value::from("ack"),
                    Value::Str(sid.to_string()),
                    first.clone(),
                ]);
                now.push(AckEvent::Reply(AckReply::new(
                    Some(*sid),
                    Ok(Payload::from_values(vec![answer])),
                )));
            } else {
                silent += 1;
            }
        }
        Box::pin(LocalAcks {
            now: now.into(),
            silent,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        })
    }

    fn fetch_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        let sids = self.select(opts);
        let sockets = self.sockets.lock();
        sids.iter()
            .filter_map(|sid| sockets.get(sid).map(|s| self.info(*sid, s)))
            .collect()
    }

    fn socket_ids(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        self.select(opts)
    }

    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        let sids = self.select(opts);
        let mut created = Vec::new();
        {
            let mut sockets = self.sockets.lock();
            for r in rooms {
                let exists = sockets.values().any(|s| s.rooms.contains(&**r));
                if !exists && !sids.is_empty() {
                    created.push(r.to_string());
                }
            }
            for sid in sids {
                if let Some(s) = sockets.get_mut(&sid) {
                    s.rooms.extend(rooms.iter().map(|r| r.to_string()));
                }
            }
        }
        self.notify_created(&created);
    }

    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        let sids = self.select(opts);
        let deleted: Vec<String> = {
            let mut sockets = self.sockets.lock();
            for sid in sids {
                if let Some(s) = sockets.get_mut(&sid) {
                    for r in rooms {
                        s.rooms.remove(&**r);
                    }
                }
            }
            rooms
                .iter()
                .filter(|r| !sockets.values().any(|s| s.rooms.contains(&***r)))
                .map(|r| r.to_string())
                .collect()
        };
        self.notify_deleted(&deleted);
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        let sids = self.select(opts);
        let mut deleted: Vec<String> = Vec::new();
        {
            let mut sockets = self.sockets.lock();
            let mut rec = self.record.lock();
            for sid in &sids {
                if let Some(s) = sockets.remove(sid) {
                    deleted.push(sid.to_string());
                    deleted.extend(s.rooms);
                }
                rec.disconnected.push((*sid, close));
            }
            deleted.retain(|r| !sockets.values().any(|s| s.rooms.contains(r)));
        }
        self.notify_deleted(&deleted);
    }

    fn rooms(&self) -> Vec<Room> {
        let sockets = self.sockets.lock();
        let mut all: BTreeSet<String> = BTreeSet::new();
        for (sid, s) in sockets.iter() {
            all.insert(sid.to_string());
            all.extend(s.rooms.iter().cloned());
        }
        all.into_iter().map(Room::from).collect()
    }

    fn server_side_emit(&self, event: &str, args: Payload, ack: Option<ServerAck>) {
        let values = args.to_values().expect("structured arguments");
        self.record
            .lock()
            .server_events
            .push((event.to_owned(), values.clone(), ack.is_some()));
        if let Some(ack) = ack {
            let answer = Value::Array(vec![
                Value::Str(self.server.clone()),
                values.first().cloned().unwrap_or_default(),
            ]);
            ack.send(Payload::from_values(vec![answer]));
        }
    }
}

/// Acks of a test namespace: the answers at once, then a timeout for each silent socket.
struct LocalAcks {
    now: std::collections::VecDeque<AckEvent>,
    silent: usize,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Stream for LocalAcks {
    type Item = AckEvent;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AckEvent>> {
        if let Some(ev) = self.now.pop_front() {
            return Poll::Ready(Some(ev));
        }
        if self.silent == 0 {
            return Poll::Ready(None);
        }
        if std::future::Future::poll(self.deadline.as_mut(), cx).is_pending() {
            return Poll::Pending;
        }
        self.silent -= 1;
        Poll::Ready(Some(AckEvent::Reply(AckReply::new(
            None,
            Err(AckFailure::Timeout),
        ))))
    }
}

// --- servers ------------------------------------------------------------------------------------

/// One server of a test cluster: its connection, one namespace and its adapter.
pub struct Server {
    pub cluster: RedisAdapter,
    pub ns: Arc<TestNamespace>,
    pub adapter: Arc<dyn Adapter>,
}

impl Server {
    /// A server on `builder`'s Redis with the namespace `ns` (named `name` in answers).
    pub async fn start(builder: RedisAdapterBuilder, ns: &str, name: &str) -> Server {
        let cluster = builder.build().await.expect("connect to redis");
        Server::with_cluster(cluster, ns, name).await
    }

    pub async fn with_cluster(cluster: RedisAdapter, ns: &str, name: &str) -> Server {
        let namespace = TestNamespace::new(ns, name);
        let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&namespace) as Weak<dyn LocalNamespace>;
        let adapter = cluster.adapter(LocalHandle::new(weak, ns));
        attach(&namespace, &adapter);
        adapter.init().await.expect("adapter init");
        Server {
            cluster,
            ns: namespace,
            adapter,
        }
    }
}

/// Waits until `f` holds, for at most 5 s.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `f()` resolves to true, for at most `secs`.
pub async fn eventually_async<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Options selecting `rooms`, except `except`.
pub fn opts(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
    let mut o = BroadcastOptions::new();
    o.rooms = rooms.iter().map(|r| Room::from(r.to_string())).collect();
    o.except = except.iter().map(|r| Room::from(r.to_string())).collect();
    o
}

/// A broadcast packet for `/`-like namespace `ns`.
pub fn packet(ns: &str, event: &str, args: Vec<Value>) -> BroadcastPacket {
    BroadcastPacket::new(ns, event, Payload::from_values(args))
}

// --- raw Redis clients, to see and make the wire bytes -------------------------------------------

/// A subscriber on `url` to `channels` (and `shard_channels`), receiving raw messages.
pub struct RawSub {
    client: fred::clients::SubscriberClient,
    rx: tokio::sync::broadcast::Receiver<fred::types::Message>,
}

impl RawSub {
    pub async fn new(url: &str, channels: &[&str], shard_channels: &[&str]) -> RawSub {
        use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
        let config = fred::types::config::Config::from_url(url).unwrap();
        let client = fred::types::Builder::from_config(config)
            .build_subscriber_client()
            .unwrap();
        client.init().await.unwrap();
        let rx = client.message_rx();
        for c in channels {
            client.subscribe(*c).await.unwrap();
        }
        for c in shard_channels {
            client.ssubscribe(*c).await.unwrap();
        }
        // fred's SUBSCRIBE returns once written: a PING's answer says Redis ran it.
        let _: fred::types::Value = client.ping(None).await.unwrap();
        RawSub { client, rx }
    }

    /// The next message (channel, bytes), within `ms`.
    pub async fn next(&mut self, ms: u64) -> Option<(String, Vec<u8>)> {
        match tokio::time::timeout(Duration::from_millis(ms), self.rx.recv()).await {
            Ok(Ok(m)) => {
                let bytes = match m.value {
                    fred::types::Value::Bytes(b) => b.to_vec(),
                    fred::types::Value::String(s) => s.as_bytes().to_vec(),
                    other => panic!("{other:?}"),
                };
                Some((m.channel.to_string(), bytes))
            }
            _ => None,
        }
    }

    /// Every message within `ms`.
    pub async fn drain(&mut self, ms: u64) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(ms);
        while let Some(m) = self
            .next(
                deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis() as u64,
            )
            .await
        {
            out.push(m);
        }
        out
    }
}

impl Drop for RawSub {
    fn drop(&mut self) {
        use fred::interfaces::ClientLike;
        let c = self.client.clone();
        tokio::spawn(async move {
            let _ = c.quit().await;
        });
    }
}

/// A message's bytes as a `Value` (JSON when it starts with `{`, msgpack otherwise).
pub fn decode(bytes: &[u8]) -> Value {
    if bytes.first() == Some(&b'{') {
        serde_json::from_slice(bytes).unwrap()
    } else {
        sockeye_core::value::msgpack::decode(bytes).unwrap()
    }
}

/// A `Value` from JSON text.
pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// `PUBSUB SHARDNUMSUB channel`.
pub fn shard_numsub(redis: &Redis, channel: &str) -> i64 {
    let reply = redis.command(&[b"PUBSUB", b"SHARDNUMSUB", channel.as_bytes()]);
    let text = String::from_utf8_lossy(&reply);
    let n = text.rsplit(':').next().unwrap_or_default().trim();
    n.parse().unwrap_or_else(|_| panic!("{text}"))
}
