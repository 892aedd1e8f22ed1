//! The classic adapter (`createAdapter`): three servers in this process talking through a
//! real `redis-server`, every operation and request type.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use sockeye_core::adapter::{AckEvent, AckFailure, BroadcastOptions};
use sockeye_core::value::{msgpack, Value};
use sockeye_core::{AdapterError, Payload, Room, Sid};
use sockeye_redis::RedisAdapter;
use support::*;

async fn three(redis: &Redis) -> (Server, Server, Server) {
    let b = || RedisAdapter::builder(redis.url()).requests_timeout(Duration::from_millis(1500));
    (
        Server::start(b(), "/", "a").await,
        Server::start(b(), "/", "b").await,
        Server::start(b(), "/", "c").await,
    )
}

fn count_of(events: &[(String, Vec<Value>, bool)], event: &str) -> usize {
    events.iter().filter(|(e, _, _)| e == event).count()
}

#[tokio::test]
async fn broadcasts_reach_every_server_once() {
    let redis = Redis::start();
    let (a, b, c) = three(&redis).await;
    let sa = a.ns.connect(&[]);
    let sb = b.ns.connect(&[]);
    let sc = c.ns.connect(&[]);
    let bin = Value::Bin(Bytes::from_static(&[0, 1, 255]));
    let args = vec![
        Value::from("x"),
        Value::Float(1.5),
        Value::Map(vec![("b".into(), bin.clone())]),
    ];
    let here = a
        .adapter
        .broadcast(packet("/", "hello", args.clone()), BroadcastOptions::new())
        .await
        .unwrap();
    assert_eq!(here, 1, "the answer counts a's own socket only");
    eventually("b and c got it", || {
        !b.ns.inbox(sb).is_empty() && !c.ns.inbox(sc).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for (ns, sid) in [(&a.ns, sa), (&b.ns, sb), (&c.ns, sc)] {
        let inbox = ns.inbox(sid);
        assert_eq!(inbox.len(), 1, "exactly once: {inbox:?}");
        assert_eq!(inbox[0].0, "hello");
        assert_eq!(inbox[0].1, args, "arguments, binary included, unchanged");
        assert!(!inbox[0].2);
    }
    // Volatile crosses too.
    let mut o = BroadcastOptions::new();
    o.flags.volatile = true;
    b.adapter
        .broadcast(packet("/", "v", vec![]), o)
        .await
        .unwrap();
    eventually("volatile on a", || count_of(&a.ns.inbox(sa), "v") == 1).await;
    assert!(a
        .ns
        .inbox(sa)
        .iter()
        .any(|(e, _, volatile)| e == "v" && *volatile));
    assert_eq!(a.cluster.metrics().malformed, 0);
}

#[tokio::test]
async fn rooms_except_and_local() {
    let redis = Redis::start();
    let (a, b, c) = three(&redis).await;
    let red_b = b.ns.connect(&["red"]);
    let blue_b = b.ns.connect(&["blue"]);
    let both_c = c.ns.connect(&["red", "blue"]);
    let none_c = c.ns.connect(&[]);
    let red_a = a.ns.connect(&["red"]);

    // One room: its own channel.
    a.adapter
        .broadcast(packet("/", "r", vec![]), opts(&["red"], &[]))
        .await
        .unwrap();
    // Two rooms, minus one.
    a.adapter
        .broadcast(packet("/", "rb", vec![]), opts(&["red", "blue"], &["blue"]))
        .await
        .unwrap();
    // Everyone but a room.
    a.adapter
        .broadcast(packet("/", "ex", vec![]), opts(&[], &["red"]))
        .await
        .unwrap();
    // A socket's own room, on another server.
    a.adapter
        .broadcast(packet("/", "one", vec![]), opts(&[none_c.as_str()], &[]))
        .await
        .unwrap();
    // Local only.
    let mut local = opts(&["red"], &[]);
    local.flags.local = true;
    a.adapter
        .broadcast(packet("/", "local", vec![]), local)
        .await
        .unwrap();
    // A barrier: every server got everything before it.
    a.adapter
        .broadcast(packet("/", "end", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    eventually("the barrier", || {
        [
            (&b.ns, red_b),
            (&b.ns, blue_b),
            (&c.ns, both_c),
            (&c.ns, none_c),
        ]
        .iter()
        .all(|(ns, s)| count_of(&ns.inbox(*s), "end") == 1)
    })
    .await;
    let got = |ns: &TestNamespace, s: Sid| {
        let mut v: Vec<String> = ns
            .inbox(s)
            .into_iter()
            .map(|(e, _, _)| e)
            .filter(|e| e != "end")
            .collect();
        v.sort();
        v
    };
    assert_eq!(got(&b.ns, red_b), ["r", "rb"]);
    assert_eq!(got(&b.ns, blue_b), ["ex"]);
    assert_eq!(got(&c.ns, both_c), ["r"]);
    assert_eq!(got(&c.ns, none_c), ["ex", "one"]);
    assert_eq!(got(&a.ns, red_a), ["local", "r", "rb"]);
}

#[tokio::test]
async fn broadcast_with_acks_counts_then_answers_then_times_out() {
    let redis = Redis::start();
    let (a, b, c) = three(&redis).await;
    a.ns.connect(&["q"]);
    b.ns.connect(&["q"]);
    b.ns.connect(&["q"]);
    let quiet = c.ns.connect(&["q"]);
    c.ns.set_answers(quiet, false);
    c.ns.connect(&[]); // not in the room
    let timeout = Duration::from_millis(800);
    let started = Instant::now();
    let mut stream = a
        .adapter
        .broadcast_with_ack(
            packet("/", "ask", vec![Value::Int(42)]),
            opts(&["q"], &[]),
            timeout,
        )
        .await
        .unwrap();
    let mut expected = Vec::new();
    let mut answers = Vec::new();
    let mut timeouts = 0;
    while let Some(ev) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        match ev {
            AckEvent::Expected(n) => expected.push(n),
            AckEvent::Reply(r) => match r.result {
                Ok(p) => answers.push(p.to_values().unwrap()),
                Err(AckFailure::Timeout) => timeouts += 1,
                Err(e) => panic!("{e}"),
            },
            _ => {}
        }
    }
    expected.sort();
    assert_eq!(expected, [1, 1, 2], "a count from each server");
    assert_eq!(answers.len(), 3);
    for ans in &answers {
        assert_eq!(ans.len(), 1);
        assert_eq!(ans[0].as_array().unwrap()[0], Value::from("ack"));
        assert_eq!(ans[0].as_array().unwrap()[2], Value::Int(42));
    }
    assert_eq!(timeouts, 1, "the quiet socket");
    let took = started.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(700),
        "{took:?}"
    );
}

#[tokio::test]
async fn broadcast_with_acks_ends_early_when_all_answered() {
    let redis = Redis::start();
    let (a, b, _c) = three(&redis).await;
    b.ns.connect(&[]);
    let started = Instant::now();
    let mut stream = a
        .adapter
        .broadcast_with_ack(
            packet("/", "ask", vec![]),
            BroadcastOptions::new(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let mut n = 0;
    while let Some(ev) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        if matches!(ev, AckEvent::Reply(_)) {
            n += 1;
        }
    }
    assert_eq!(n, 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn fetch_sockets_with_handshake_rooms_and_data() {
    let redis = Redis::start();
    let (a, b, c) = three(&redis).await;
    let sa = a.ns.connect(&["room"]);
    let sb = b.ns.connect(&["room", "other"]);
    c.ns.connect(&["other"]);
    let all = a
        .adapter
        .fetch_sockets(BroadcastOptions::new())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    let in_room = a.adapter.fetch_sockets(opts(&["room"], &[])).await.unwrap();
    let mut ids: Vec<Sid> = in_room.iter().map(|s| s.id).collect();
    ids.sort();
    let mut want = vec![sa, sb];
    want.sort();
    assert_eq!(ids, want);
    let remote = in_room.iter().find(|s| s.id == sb).unwrap();
    assert_eq!(remote.handshake.address, "127.0.0.1");
    assert_eq!(remote.handshake.issued, 1_700_000_000_000);
    assert_eq!(remote.handshake.auth.get("token"), Some(&Value::from("t")));
    assert_eq!(remote.handshake.query.get("EIO"), Some(&Value::from("4")));
    let rooms: Vec<&str> = remote.rooms.iter().map(|r| &**r).collect();
    assert_eq!(rooms, [sb.as_str(), "other", "room"]);
    assert_eq!(remote.data.get("server"), Some(&Value::from("b")));
    let mut local = BroadcastOptions::new();
    local.flags.local = true;
    assert_eq!(a.adapter.fetch_sockets(local).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sockets_join_leave_and_disconnect_everywhere() {
    let redis = Redis::start();
    let (a, b, c) = three(&redis).await;
    let sa = a.ns.connect(&["x"]);
    let sb = b.ns.connect(&["x"]);
    let sc = c.ns.connect(&[]);
    a.adapter
        .add_sockets(opts(&["x"], &[]), vec![Room::from("joined")])
        .await
        .unwrap();
    eventually("b joined", || b.ns.rooms_of(sb).contains("joined")).await;
    assert!(a.ns.rooms_of(sa).contains("joined"), "the local part");
    assert!(!c.ns.rooms_of(sc).contains("joined"));
    b.adapter
        .del_sockets(BroadcastOptions::new(), vec![Room::from("x")])
        .await
        .unwrap();
    eventually("a left", || !a.ns.rooms_of(sa).contains("x")).await;
    assert!(!b.ns.rooms_of(sb).contains("x"));
    c.adapter
        .disconnect_sockets(opts(&["joined"], &[sb.as_str()]), true)
        .await
        .unwrap();
    eventually("a disconnected", || !a.ns.is_connected(sa)).await;
    assert_eq!(a.ns.record.lock().disconnected, [(sa, true)]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(b.ns.is_connected(sb) && c.ns.is_connected(sc));
}

#[tokio::test]
async fn rooms_and_server_count_of_the_cluster() {
    let redis = Redis::start();
    let (a, b, c) = three(&redis).await;
    a.ns.connect(&["ra"]);
    b.ns.connect(&["rb", "shared"]);
    c.ns.connect(&["shared"]);
    assert_eq!(a.adapter.server_count().await.unwrap(), 3);
    let rooms: Vec<String> = a
        .adapter
        .rooms()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.into_owned())
        .collect();
    for r in ["ra", "rb", "shared"] {
        assert!(rooms.iter().any(|x| x == r), "{r} in {rooms:?}");
    }
    assert_eq!(rooms.iter().filter(|r| *r == "shared").count(), 1);
    drop(c);
    eventually_async("two servers", 5, || async {
        a.adapter.server_count().await.ok() == Some(2)
    })
    .await;
}

#[tokio::test]
async fn server_side_events_reach_the_other_servers_with_answers() {
    let redis = Redis::start();
    let (a, b, c) = three(&redis).await;
    a.adapter
        .server_side_emit("hi".into(), Payload::from_values(vec![Value::Int(1)]))
        .await
        .unwrap();
    eventually("b and c", || {
        !b.ns.record.lock().server_events.is_empty() && !c.ns.record.lock().server_events.is_empty()
    })
    .await;
    assert_eq!(
        b.ns.record.lock().server_events[0],
        ("hi".to_owned(), vec![Value::Int(1)], false)
    );
    let acks = b
        .adapter
        .server_side_emit_with_ack(
            "q".into(),
            Payload::from_values(vec![Value::from("x")]),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert!(acks.is_complete());
    assert_eq!(acks.expected, 2);
    let mut names: Vec<Value> = acks
        .responses
        .iter()
        .map(|p| p.to_values().unwrap()[0].as_array().unwrap()[0].clone())
        .collect();
    names.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
    assert_eq!(names, [Value::from("a"), Value::from("c")]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Never the sender's own handlers.
    assert!(a
        .ns
        .record
        .lock()
        .server_events
        .iter()
        .all(|(e, _, _)| e != "hi"));
    assert!(b
        .ns
        .record
        .lock()
        .server_events
        .iter()
        .all(|(e, _, _)| e != "q"));
}

#[tokio::test]
async fn requests_time_out_when_a_server_does_not_answer() {
    let redis = Redis::start();
    let a = Server::start(
        RedisAdapter::builder(redis.url()).requests_timeout(Duration::from_millis(400)),
        "/",
        "a",
    )
    .await;
    // A subscriber to the request channel that never answers counts as a server.
    let _mute = RawSub::new(&redis.url(), &["socket.io-request#/#"], &[]).await;
    assert_eq!(a.adapter.server_count().await.unwrap(), 2);
    let started = Instant::now();
    let err = a
        .adapter
        .fetch_sockets(BroadcastOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, AdapterError::Timeout(_)), "{err}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1200),
        "{took:?}"
    );
    assert!(matches!(
        a.adapter.rooms().await,
        Err(AdapterError::Timeout(_))
    ));
    let partial = a
        .adapter
        .server_side_emit_with_ack("q".into(), Payload::default(), Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!((partial.responses.len(), partial.expected), (0, 1));
    assert!(!partial.is_complete());
}

#[tokio::test]
async fn wire_messages_are_node_shaped() {
    let redis = Redis::start();
    let a = Server::start(RedisAdapter::builder(redis.url()), "/chat", "a").await;
    let mut sub = RawSub::new(
        &redis.url(),
        &[
            "socket.io#/chat#",
            "socket.io#/chat#red#",
            "socket.io-request#/chat#",
        ],
        &[],
    )
    .await;
    a.adapter
        .broadcast(
            packet(
                "/chat",
                "m",
                vec![Value::Int(1), Value::Bin(Bytes::from_static(b"\x07"))],
            ),
            opts(&["red"], &["blue"]),
        )
        .await
        .unwrap();
    let (channel, bytes) = sub.next(2000).await.unwrap();
    assert_eq!(channel, "socket.io#/chat#red#");
    let msg = msgpack::decode(&bytes).unwrap();
    let parts = msg.as_array().unwrap();
    let uid = parts[0].as_str().unwrap();
    assert_eq!(uid.len(), 6);
    assert_eq!(
        parts[1],
        json(r#"{"type":2,"data":["m",1,"BIN"],"nsp":"/chat"}"#)
            .replace_bin("BIN", Value::Bin(Bytes::from_static(b"\x07")))
    );
    assert_eq!(
        parts[2],
        json(r#"{"rooms":["red"],"except":["blue"],"flags":{}}"#)
    );
    // Requests are JSON.
    a.adapter
        .add_sockets(opts(&[], &["x"]), vec![Room::from("y")])
        .await
        .unwrap();
    let (channel, bytes) = sub.next(2000).await.unwrap();
    assert_eq!(channel, "socket.io-request#/chat#");
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        format!(r#"{{"uid":"{uid}","type":2,"opts":{{"rooms":[],"except":["x"]}},"rooms":["y"]}}"#)
    );
    a.adapter
        .disconnect_sockets(opts(&["r"], &[]), false)
        .await
        .unwrap();
    let (_, bytes) = sub.next(2000).await.unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        format!(r#"{{"uid":"{uid}","type":4,"opts":{{"rooms":["r"],"except":[]}},"close":false}}"#)
    );
    a.adapter
        .server_side_emit("e".into(), Payload::from_values(vec![Value::Int(3)]))
        .await
        .unwrap();
    let (_, bytes) = sub.next(2000).await.unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        format!(r#"{{"uid":"{uid}","type":6,"data":["e",3]}}"#)
    );
    // A broadcast with acks is a msgpack request, with the timeout in its flags.
    let _s = a
        .adapter
        .broadcast_with_ack(
            packet("/chat", "q", vec![]),
            BroadcastOptions::new(),
            Duration::from_millis(1500),
        )
        .await
        .unwrap();
    let (channel, bytes) = sub.next(2000).await.unwrap();
    assert_eq!(channel, "socket.io-request#/chat#");
    let req = msgpack::decode(&bytes).unwrap();
    let Value::Map(fields) = &req else { panic!() };
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["uid", "requestId", "type", "packet", "opts"]);
    assert_eq!(req.get("type"), Some(&Value::Int(7)));
    assert_eq!(
        req.get("opts"),
        Some(&json(
            r#"{"rooms":[],"except":[],"flags":{"timeout":1500}}"#
        ))
    );
}

/// `replace_bin` for expected values written as JSON.
trait ReplaceBin {
    fn replace_bin(self, tag: &str, with: Value) -> Value;
}

impl ReplaceBin for Value {
    fn replace_bin(self, tag: &str, with: Value) -> Value {
        match self {
            Value::Str(s) if s == tag => with,
            Value::Array(a) => Value::Array(
                a.into_iter()
                    .map(|v| v.replace_bin(tag, with.clone()))
                    .collect(),
            ),
            Value::Map(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| (k, v.replace_bin(tag, with.clone())))
                    .collect(),
            ),
            other => other,
        }
    }
}

#[tokio::test]
async fn answers_every_request_type_as_node_does() {
    let redis = Redis::start();
    let a = Server::start(RedisAdapter::builder(redis.url()), "/", "a").await;
    let sa = a.ns.connect(&["red"]);
    let mut responses = RawSub::new(&redis.url(), &["socket.io-response#/#"], &[]).await;
    let req = |body: &str| redis.publish("socket.io-request#/#", body.as_bytes(), false);

    // 0 SOCKETS
    req(r#"{"uid":"other1","requestId":"r0","type":0,"rooms":["red"]}"#);
    let (_, r) = responses.next(2000).await.unwrap();
    assert_eq!(
        decode(&r),
        json(&format!(r#"{{"requestId":"r0","sockets":["{sa}"]}}"#))
    );

    // 1 ALL_ROOMS
    req(r#"{"uid":"other1","requestId":"r1","type":1}"#);
    let (_, r) = responses.next(2000).await.unwrap();
    let rooms = decode(&r);
    assert_eq!(rooms.get("requestId"), Some(&Value::from("r1")));
    let list: Vec<&str> = rooms
        .get("rooms")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        list.contains(&"red") && list.contains(&sa.as_str()),
        "{list:?}"
    );

    // 2 REMOTE_JOIN, the socketsJoin form: no answer.
    req(r#"{"uid":"other1","type":2,"opts":{"rooms":["red"],"except":[]},"rooms":["j1","j2"]}"#);
    eventually("joined", || a.ns.rooms_of(sa).contains("j2")).await;
    // ... and the legacy per-socket form: answered.
    req(&format!(
        r#"{{"uid":"other1","requestId":"r2","type":2,"sid":"{sa}","room":"legacy"}}"#
    ));
    let (_, r) = responses.next(2000).await.unwrap();
    assert_eq!(decode(&r), json(r#"{"requestId":"r2"}"#));
    assert!(a.ns.rooms_of(sa).contains("legacy"));
    // A socket that is not here: no answer (its own server answers).
    req(
        r#"{"uid":"other1","requestId":"rx","type":2,"sid":"AAAAAAAAAAAAAAAAAAAA","room":"legacy"}"#,
    );

    // 3 REMOTE_LEAVE, both forms.
    req(r#"{"uid":"other1","type":3,"opts":{"rooms":[],"except":[]},"rooms":["j1"]}"#);
    eventually("left", || !a.ns.rooms_of(sa).contains("j1")).await;
    req(&format!(
        r#"{{"uid":"other1","requestId":"r3","type":3,"sid":"{sa}","room":"legacy"}}"#
    ));
    let (_, r) = responses.next(2000).await.unwrap();
    assert_eq!(decode(&r), json(r#"{"requestId":"r3"}"#), "and not rx's");
    assert!(!a.ns.rooms_of(sa).contains("legacy"));

    // 5 REMOTE_FETCH
    req(r#"{"uid":"other1","requestId":"r5","type":5,"opts":{"rooms":["red"],"except":[]}}"#);
    let (_, r) = responses.next(2000).await.unwrap();
    let fetched = decode(&r);
    let socket = &fetched.get("sockets").unwrap().as_array().unwrap()[0];
    assert_eq!(socket.get("id"), Some(&Value::Str(sa.to_string())));
    let Some(Value::Map(h)) = socket.get("handshake") else {
        panic!()
    };
    let keys: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"]
    );
    assert_eq!(socket.get("data"), Some(&json(r#"{"server":"a"}"#)));

    // 6 SERVER_SIDE_EMIT, without and with an answer (always on the shared channel).
    req(r#"{"uid":"other1","type":6,"data":["plain",1]}"#);
    req(r#"{"uid":"other1","requestId":"r6","type":6,"data":["asked",{"k":[1]}]}"#);
    let (_, r) = responses.next(2000).await.unwrap();
    assert_eq!(
        decode(&r),
        json(r#"{"type":6,"requestId":"r6","data":["a",{"k":[1]}]}"#)
    );
    {
        let rec = a.ns.record.lock();
        assert_eq!(
            rec.server_events[0],
            ("plain".to_owned(), vec![Value::Int(1)], false)
        );
        assert_eq!(rec.server_events[1].0, "asked");
        assert!(rec.server_events[1].2);
    }

    // 7 BROADCAST (msgpack): the client count (JSON), then each answer (msgpack).
    let request = Value::Map(vec![
        ("uid".into(), "other1".into()),
        ("requestId".into(), "r7".into()),
        ("type".into(), Value::Int(7)),
        (
            "packet".into(),
            json(r#"{"type":2,"data":["poll",5],"nsp":"/"}"#),
        ),
        (
            "opts".into(),
            json(r#"{"rooms":["red"],"except":[],"flags":{"timeout":1000}}"#),
        ),
    ]);
    redis.publish("socket.io-request#/#", &msgpack::encode(&request), false);
    let (_, count) = responses.next(2000).await.unwrap();
    assert_eq!(
        String::from_utf8(count.clone()).unwrap(),
        r#"{"type":8,"requestId":"r7","clientCount":1}"#
    );
    let (_, ack) = responses.next(2000).await.unwrap();
    assert_ne!(ack[0], b'{');
    assert_eq!(
        msgpack::decode(&ack).unwrap(),
        Value::Map(vec![
            ("type".into(), Value::Int(9)),
            ("requestId".into(), "r7".into()),
            (
                "packet".into(),
                Value::Array(vec![
                    "ack".into(),
                    Value::Str(sa.to_string()),
                    Value::Int(5)
                ])
            ),
        ])
    );
    assert!(a
        .ns
        .inbox(sa)
        .iter()
        .any(|(e, args, _)| e == "poll" && args == &[Value::Int(5)]));

    // A msgpack request of another type (first byte not `{`).
    let join = Value::Map(vec![
        ("uid".into(), "other1".into()),
        ("type".into(), Value::Int(2)),
        ("opts".into(), json(r#"{"rooms":[],"except":[]}"#)),
        ("rooms".into(), json(r#"["via-msgpack"]"#)),
    ]);
    redis.publish("socket.io-request#/#", &msgpack::encode(&join), false);
    eventually("msgpack join", || a.ns.rooms_of(sa).contains("via-msgpack")).await;

    // 4 REMOTE_DISCONNECT, legacy form (answered), after the rest.
    req(&format!(
        r#"{{"uid":"other1","requestId":"r4","type":4,"sid":"{sa}","close":true}}"#
    ));
    let (_, r) = responses.next(2000).await.unwrap();
    assert_eq!(decode(&r), json(r#"{"requestId":"r4"}"#));
    assert_eq!(a.ns.record.lock().disconnected, [(sa, true)]);
    let sb = a.ns.connect(&["z"]);
    req(r#"{"uid":"other1","type":4,"opts":{"rooms":["z"],"except":[]},"close":false}"#);
    eventually("disconnected", || !a.ns.is_connected(sb)).await;

    assert!(responses.next(200).await.is_none(), "nothing else answered");
    assert_eq!(a.cluster.metrics().malformed, 0);
}

#[tokio::test]
async fn own_requests_and_unknown_responses_are_ignored() {
    let redis = Redis::start();
    let a = Server::start(RedisAdapter::builder(redis.url()), "/", "a").await;
    let sa = a.ns.connect(&[]);
    // The adapter's own broadcast comes back through its pattern subscription: not twice.
    a.adapter
        .broadcast(packet("/", "once", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    a.adapter
        .add_sockets(BroadcastOptions::new(), vec![Room::from("r")])
        .await
        .unwrap();
    a.adapter
        .server_side_emit("self".into(), Payload::default())
        .await
        .unwrap();
    // Responses nobody asked for.
    redis.publish(
        "socket.io-response#/#",
        br#"{"requestId":"nope","sockets":[]}"#,
        false,
    );
    redis.publish(
        "socket.io-response#/#",
        br#"{"type":8,"requestId":"nope","clientCount":3}"#,
        false,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.ns.inbox(sa).len(), 1);
    assert!(a.ns.record.lock().server_events.is_empty());
    assert_eq!(a.cluster.metrics().malformed, 0);
}

#[tokio::test]
async fn specific_response_channels_and_keys() {
    let redis = Redis::start();
    let a = Server::start(RedisAdapter::builder(redis.url()).key("app"), "/", "a").await;
    let b = Server::start(
        RedisAdapter::builder(redis.url())
            .key("app")
            .publish_on_specific_response_channel(true),
        "/",
        "b",
    )
    .await;
    // Another cluster on the same Redis, another key: unseen.
    let other = Server::start(RedisAdapter::builder(redis.url()), "/", "other").await;
    let sb = b.ns.connect(&[]);
    let so = other.ns.connect(&[]);
    let mut shared = RawSub::new(&redis.url(), &["app-response#/#"], &[]).await;
    let fetched = a
        .adapter
        .fetch_sockets(BroadcastOptions::new())
        .await
        .unwrap();
    assert_eq!(fetched.iter().map(|s| s.id).collect::<Vec<_>>(), [sb]);
    assert!(
        shared.next(200).await.is_none(),
        "b answered on a's own channel"
    );
    a.adapter
        .broadcast(packet("/", "k", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    eventually("b", || !b.ns.inbox(sb).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(other.ns.inbox(so).is_empty());
    assert_eq!(other.adapter.server_count().await.unwrap(), 1);
    assert_eq!(a.adapter.server_count().await.unwrap(), 2);
}

#[tokio::test]
async fn namespaces_share_the_connections_and_stay_apart() {
    let redis = Redis::start();
    let cluster_a = RedisAdapter::builder(redis.url()).build().await.unwrap();
    let cluster_b = RedisAdapter::builder(redis.url()).build().await.unwrap();
    let a_root = Server::with_cluster(cluster_a.clone(), "/", "a").await;
    let a_admin = Server::with_cluster(cluster_a.clone(), "/admin", "a").await;
    let b_root = Server::with_cluster(cluster_b.clone(), "/", "b").await;
    let b_admin = Server::with_cluster(cluster_b.clone(), "/admin", "b").await;
    let r = b_root.ns.connect(&[]);
    let ad = b_admin.ns.connect(&[]);
    a_admin
        .adapter
        .broadcast(packet("/admin", "adm", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    a_root
        .adapter
        .broadcast(packet("/", "root", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    eventually("both", || {
        !b_root.ns.inbox(r).is_empty() && !b_admin.ns.inbox(ad).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        b_root
            .ns
            .inbox(r)
            .iter()
            .map(|e| e.0.as_str())
            .collect::<Vec<_>>(),
        ["root"]
    );
    assert_eq!(
        b_admin
            .ns
            .inbox(ad)
            .iter()
            .map(|e| e.0.as_str())
            .collect::<Vec<_>>(),
        ["adm"]
    );
    a_admin.adapter.close().await.unwrap();
    assert_eq!(b_admin.adapter.server_count().await.unwrap(), 1);
    assert!(matches!(
        a_admin
            .adapter
            .broadcast(packet("/admin", "x", vec![]), BroadcastOptions::new())
            .await,
        Err(AdapterError::Closed)
    ));
    // The other namespace of the same connection goes on.
    a_root
        .adapter
        .broadcast(packet("/", "still", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    eventually("still", || b_root.ns.inbox(r).len() == 2).await;
}

#[tokio::test]
async fn passwords_in_urls() {
    let redis = Redis::start_with(&["--requirepass", "s3cret"]);
    let bad = RedisAdapter::builder(format!("redis://:wrong@127.0.0.1:{}", redis.port))
        .requests_timeout(Duration::from_secs(2))
        .build()
        .await;
    assert!(
        matches!(bad, Err(sockeye_redis::Error::Connect(_))),
        "{bad:?}"
    );
    let url = format!("redis://:s3cret@127.0.0.1:{}", redis.port);
    let a = Server::start(RedisAdapter::builder(url.clone()), "/", "a").await;
    let b = Server::start(RedisAdapter::builder(url), "/", "b").await;
    let sb = b.ns.connect(&[]);
    a.adapter
        .broadcast(packet("/", "auth", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    eventually("b", || !b.ns.inbox(sb).is_empty()).await;
    assert!(matches!(
        RedisAdapter::builder("http://x").build().await,
        Err(sockeye_redis::Error::InvalidUrl(_))
    ));
}

#[tokio::test]
async fn bounds_on_what_other_servers_send() {
    let redis = Redis::start();
    let a = Server::start(
        RedisAdapter::builder(redis.url())
            .max_fetched_sockets(2)
            .max_pending_requests(1)
            .requests_timeout(Duration::from_millis(800)),
        "/",
        "a",
    )
    .await;
    let b = Server::start(RedisAdapter::builder(redis.url()), "/", "b").await;
    b.ns.connect(&["few"]);
    for _ in 0..3 {
        b.ns.connect(&[]);
    }
    assert_eq!(
        a.adapter
            .fetch_sockets(opts(&["few"], &[]))
            .await
            .unwrap()
            .len(),
        1
    );
    let err = a
        .adapter
        .fetch_sockets(BroadcastOptions::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("more than 2 sockets"), "{err}");
    // One request in flight at most: a second one fails at once.
    let _mute = RawSub::new(&redis.url(), &["socket.io-request#/#"], &[]).await;
    let first = {
        let adapter = a.adapter.clone();
        tokio::spawn(async move { adapter.rooms().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = a
        .adapter
        .fetch_sockets(BroadcastOptions::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in flight"), "{err}");
    assert!(matches!(
        first.await.unwrap(),
        Err(AdapterError::Timeout(_))
    ));
}

#[tokio::test]
async fn the_options_timeout_wins_over_the_adapters() {
    let redis = Redis::start();
    let a = Server::start(
        RedisAdapter::builder(redis.url()).requests_timeout(Duration::from_secs(5)),
        "/",
        "a",
    )
    .await;
    let _mute = RawSub::new(&redis.url(), &["socket.io-request#/#"], &[]).await;
    let mut o = BroadcastOptions::new();
    o.flags.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let err = a.adapter.fetch_sockets(o).await.unwrap_err();
    assert!(
        matches!(err, AdapterError::Timeout(t) if t == Duration::from_millis(300)),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
