//! The emitter: what it publishes reaches the servers of a cluster, in the messages of
//! `@socket.io/redis-emitter` 5.1.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use sockeye_core::value::{msgpack, Value};
use sockeye_redis::{Emitter, RedisAdapter};
use support::*;

#[tokio::test]
async fn reaches_every_server() {
    let redis = Redis::start();
    let a = Server::start(RedisAdapter::builder(redis.url()), "/", "a").await;
    let b = Server::start(RedisAdapter::builder(redis.url()), "/", "b").await;
    let admin = Server::start(RedisAdapter::builder(redis.url()), "/admin", "b").await;
    let red_a = a.ns.connect(&["red"]);
    let blue_b = b.ns.connect(&["blue"]);
    let both_b = b.ns.connect(&["red", "blue"]);
    let adm = admin.ns.connect(&[]);
    let emitter = Emitter::connect(redis.url()).await.unwrap();

    emitter.emit("all", &("x", 1)).await.unwrap();
    emitter.to("red").emit_args("red", &(1, 2)).await.unwrap();
    emitter
        .to(["red", "blue"])
        .except("red")
        .emit("blue-only", &())
        .await
        .unwrap();
    emitter
        .to(red_a)
        .volatile()
        .emit("one", &Bytes::from_static(b"\x01\x02"))
        .await
        .unwrap();
    emitter.of("admin").emit("adm", &true).await.unwrap();
    emitter.emit("end", &0).await.unwrap();
    eventually("the end", || {
        [(&a.ns, red_a), (&b.ns, blue_b), (&b.ns, both_b)]
            .iter()
            .all(|(ns, s)| ns.inbox(*s).iter().any(|e| e.0 == "end"))
    })
    .await;
    let names = |ns: &TestNamespace, s| ns.inbox(s).into_iter().map(|e| e.0).collect::<Vec<_>>();
    assert_eq!(names(&a.ns, red_a), ["all", "red", "one", "end"]);
    assert_eq!(names(&b.ns, blue_b), ["all", "blue-only", "end"]);
    assert_eq!(names(&b.ns, both_b), ["all", "red", "end"]);
    eventually("admin", || !admin.ns.inbox(adm).is_empty()).await;
    assert_eq!(names(&admin.ns, adm), ["adm"]);
    let one = &a.ns.inbox(red_a)[2];
    assert_eq!(one.1, vec![Value::Bin(Bytes::from_static(b"\x01\x02"))]);
    assert!(one.2, "volatile");
    assert_eq!(
        a.ns.inbox(red_a)[0].1,
        vec![Value::Array(vec!["x".into(), Value::Int(1)])]
    );
    assert_eq!(a.ns.inbox(red_a)[1].1, vec![Value::Int(1), Value::Int(2)]);

    emitter.to("red").sockets_join("joined").await.unwrap();
    eventually("joined", || {
        a.ns.rooms_of(red_a).contains("joined") && b.ns.rooms_of(both_b).contains("joined")
    })
    .await;
    assert!(!b.ns.rooms_of(blue_b).contains("joined"));
    emitter.sockets_leave(["joined", "blue"]).await.unwrap();
    eventually("left", || !b.ns.rooms_of(both_b).contains("blue")).await;
    emitter
        .server_side_emit_args("sse", &("hello", 2))
        .await
        .unwrap();
    eventually("server events", || {
        !a.ns.record.lock().server_events.is_empty() && !b.ns.record.lock().server_events.is_empty()
    })
    .await;
    assert_eq!(
        a.ns.record.lock().server_events[0],
        ("sse".to_owned(), vec!["hello".into(), Value::Int(2)], false)
    );
    emitter
        .except(blue_b)
        .disconnect_sockets(true)
        .await
        .unwrap();
    eventually("disconnected", || !a.ns.is_connected(red_a)).await;
    assert_eq!(a.ns.record.lock().disconnected, [(red_a, true)]);
    eventually("both_b disconnected", || !b.ns.is_connected(both_b)).await;
    assert!(b.ns.is_connected(blue_b));
    assert_eq!(
        a.cluster.metrics().malformed + b.cluster.metrics().malformed,
        0
    );

    assert!(matches!(
        emitter.emit("disconnect", &()).await,
        Err(sockeye_redis::Error::ReservedEvent(_))
    ));
    assert!(matches!(
        emitter.emit_args("x", &7).await,
        Err(sockeye_redis::Error::Encode(_))
    ));
}

#[tokio::test]
async fn publishes_the_node_emitter_messages() {
    let redis = Redis::start();
    let emitter = Emitter::builder(redis.url())
        .key("k")
        .build()
        .await
        .unwrap();
    let mut sub = RawSub::new(
        &redis.url(),
        &["k#/#", "k#/#r#", "k-request#/chat#", "k-request#/#"],
        &[],
    )
    .await;
    emitter
        .to("r")
        .compress(false)
        .volatile()
        .emit("ev", &1.5)
        .await
        .unwrap();
    let (channel, bytes) = sub.next(2000).await.unwrap();
    assert_eq!(channel, "k#/#r#");
    assert_eq!(
        msgpack::decode(&bytes).unwrap(),
        Value::Array(vec![
            "emitter".into(),
            json(r#"{"type":2,"data":["ev",1.5],"nsp":"/"}"#),
            // The emitter's key order (rooms, flags, except), flags in the order they were set.
            json(r#"{"rooms":["r"],"flags":{"compress":false,"volatile":true},"except":[]}"#),
        ])
    );
    emitter.to(["r", "s"]).emit("ev", &()).await.unwrap();
    assert_eq!(
        sub.next(2000).await.unwrap().0,
        "k#/#",
        "several rooms: the namespace's channel"
    );
    let chat = emitter.of("/chat").to("a").except("b");
    chat.sockets_join("c").await.unwrap();
    let (channel, bytes) = sub.next(2000).await.unwrap();
    assert_eq!(channel, "k-request#/chat#");
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"type":2,"opts":{"rooms":["a"],"except":["b"]},"rooms":["c"]}"#
    );
    chat.sockets_leave(["c", "d"]).await.unwrap();
    assert_eq!(
        String::from_utf8(sub.next(2000).await.unwrap().1).unwrap(),
        r#"{"type":3,"opts":{"rooms":["a"],"except":["b"]},"rooms":["c","d"]}"#
    );
    chat.disconnect_sockets(false).await.unwrap();
    assert_eq!(
        String::from_utf8(sub.next(2000).await.unwrap().1).unwrap(),
        r#"{"type":4,"opts":{"rooms":["a"],"except":["b"]},"close":false}"#
    );
    emitter
        .server_side_emit_args("hey", &("a", Bytes::from_static(b"\x05")))
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(sub.next(2000).await.unwrap().1).unwrap(),
        r#"{"uid":"emitter","type":6,"data":["hey","a",{"type":"Buffer","data":[5]}]}"#
    );
}

#[tokio::test]
async fn fails_fast_while_redis_is_down_and_recovers() {
    let mut redis = Redis::start();
    let emitter = Emitter::builder(redis.url())
        .timeout(Duration::from_secs(3))
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    emitter.emit("ok", &1).await.unwrap();
    redis.kill();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let r = emitter.emit("down", &1).await;
    assert!(matches!(r, Err(sockeye_redis::Error::Cluster(_))), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    redis.restart();
    eventually_async("emits again", 10, || async {
        emitter.emit("up", &1).await.is_ok()
    })
    .await;
}
