//! The sharded adapter (`createShardedAdapter`, Redis 7 sharded Pub/Sub): three servers in
//! this process through a real `redis-server`, every operation, each subscription mode.

mod support;

use std::time::Duration;

use bytes::Bytes;
use sockeye_core::adapter::{AckEvent, AckFailure, BroadcastOptions};
use sockeye_core::value::{msgpack, Value};
use sockeye_core::{Payload, Room, Sid};
use sockeye_redis::{RedisAdapter, SubscriptionMode};
use support::*;

fn builder(redis: &Redis, mode: SubscriptionMode) -> sockeye_redis::RedisAdapterBuilder {
    RedisAdapter::builder(redis.url())
        .subscription_mode(mode)
        .requests_timeout(Duration::from_millis(1500))
}

async fn three(redis: &Redis, mode: SubscriptionMode) -> (Server, Server, Server) {
    (
        Server::start(builder(redis, mode), "/", "a").await,
        Server::start(builder(redis, mode), "/", "b").await,
        Server::start(builder(redis, mode), "/", "c").await,
    )
}

fn events(ns: &TestNamespace, s: Sid) -> Vec<String> {
    let mut v: Vec<String> = ns.inbox(s).into_iter().map(|(e, _, _)| e).collect();
    v.sort();
    v
}

async fn every_operation(mode: SubscriptionMode) {
    let redis = Redis::start();
    let (a, b, c) = three(&redis, mode).await;
    assert_eq!(a.adapter.server_count().await.unwrap(), 3);
    let sa = a.ns.connect(&["red"]);
    let sb = b.ns.connect(&["red", "blue"]);
    let sc = c.ns.connect(&["blue"]);
    if mode != SubscriptionMode::Static {
        // The room channels are subscribed in the background.
        eventually("room channels", || {
            shard_numsub(&redis, "socket.io#/#red#") == 2
                && shard_numsub(&redis, "socket.io#/#blue#") == 2
        })
        .await;
    }

    // Broadcasts: all, one room (its own channel in the dynamic modes), except, binary.
    let bin = Value::Bin(Bytes::from_static(&[1, 2, 3]));
    a.adapter
        .broadcast(
            packet("/", "all", vec![bin.clone()]),
            BroadcastOptions::new(),
        )
        .await
        .unwrap();
    a.adapter
        .broadcast(packet("/", "red", vec![]), opts(&["red"], &[]))
        .await
        .unwrap();
    c.adapter
        .broadcast(packet("/", "blue", vec![]), opts(&["blue"], &[]))
        .await
        .unwrap();
    a.adapter
        .broadcast(packet("/", "notred", vec![]), opts(&[], &["red"]))
        .await
        .unwrap();
    a.adapter
        .broadcast(packet("/", "private", vec![]), opts(&[sc.as_str()], &[]))
        .await
        .unwrap();
    a.adapter
        .broadcast(packet("/", "z", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    eventually("the barrier", || {
        events(&b.ns, sb).contains(&"z".to_owned()) && events(&c.ns, sc).contains(&"z".to_owned())
    })
    .await;
    assert_eq!(events(&a.ns, sa), ["all", "red", "z"]);
    assert_eq!(events(&b.ns, sb), ["all", "blue", "red", "z"]);
    assert_eq!(events(&c.ns, sc), ["all", "blue", "notred", "private", "z"]);
    assert_eq!(c.ns.inbox(sc)[0].1, vec![bin], "binary arguments");

    // Broadcast with acks.
    c.ns.set_answers(sc, false);
    let mut stream = a
        .adapter
        .broadcast_with_ack(
            packet("/", "ask", vec![Value::Int(1)]),
            BroadcastOptions::new(),
            Duration::from_millis(700),
        )
        .await
        .unwrap();
    let (mut counts, mut acks, mut timeouts) = (Vec::new(), 0, 0);
    while let Some(ev) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        match ev {
            AckEvent::Expected(n) => counts.push(n),
            AckEvent::Reply(r) => match r.result {
                Ok(_) => acks += 1,
                Err(AckFailure::Timeout) => timeouts += 1,
                Err(e) => panic!("{e}"),
            },
            _ => {}
        }
    }
    counts.sort();
    assert_eq!((counts, acks, timeouts), (vec![1, 1, 1], 2, 1));

    // fetch_sockets, with rooms and data.
    let fetched = b.adapter.fetch_sockets(opts(&["red"], &[])).await.unwrap();
    let mut ids: Vec<Sid> = fetched.iter().map(|s| s.id).collect();
    ids.sort();
    let mut want = vec![sa, sb];
    want.sort();
    assert_eq!(ids, want);
    let remote = fetched.iter().find(|s| s.id == sa).unwrap();
    assert_eq!(remote.data.get("server"), Some(&Value::from("a")));
    assert!(remote.rooms.iter().any(|r| r == "red"));

    // rooms() of the cluster.
    let rooms: Vec<String> = c
        .adapter
        .rooms()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.into_owned())
        .collect();
    assert!(
        rooms.contains(&"red".to_owned()) && rooms.contains(&"blue".to_owned()),
        "{rooms:?}"
    );

    // Joins, leaves, disconnects.
    a.adapter
        .add_sockets(opts(&["blue"], &[]), vec![Room::from("green")])
        .await
        .unwrap();
    eventually("joined", || {
        b.ns.rooms_of(sb).contains("green") && c.ns.rooms_of(sc).contains("green")
    })
    .await;
    assert!(!a.ns.rooms_of(sa).contains("green"));
    b.adapter
        .del_sockets(BroadcastOptions::new(), vec![Room::from("green")])
        .await
        .unwrap();
    eventually("left", || !c.ns.rooms_of(sc).contains("green")).await;

    // Server-side events, with answers.
    a.adapter
        .server_side_emit("e".into(), Payload::from_values(vec![Value::Int(5)]))
        .await
        .unwrap();
    eventually("sse", || {
        !b.ns.record.lock().server_events.is_empty() && !c.ns.record.lock().server_events.is_empty()
    })
    .await;
    assert!(a.ns.record.lock().server_events.is_empty());
    let answers = a
        .adapter
        .server_side_emit_with_ack(
            "q".into(),
            Payload::from_values(vec![Value::from("x")]),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert!(answers.is_complete(), "{answers:?}");
    assert_eq!(answers.responses.len(), 2);

    b.adapter
        .disconnect_sockets(opts(&["red"], &[]), false)
        .await
        .unwrap();
    eventually("a disconnected", || !a.ns.is_connected(sa)).await;
    assert!(!b.ns.is_connected(sb));
    assert!(c.ns.is_connected(sc));
    assert_eq!(
        a.cluster.metrics().malformed + b.cluster.metrics().malformed,
        0
    );
}

#[tokio::test]
async fn every_operation_dynamic() {
    every_operation(SubscriptionMode::Dynamic).await;
}

#[tokio::test]
async fn every_operation_static() {
    every_operation(SubscriptionMode::Static).await;
}

#[tokio::test]
async fn every_operation_dynamic_private() {
    every_operation(SubscriptionMode::DynamicPrivate).await;
}

#[tokio::test]
async fn room_channels_follow_the_rooms() {
    let redis = Redis::start();
    let a = Server::start(builder(&redis, SubscriptionMode::Dynamic), "/", "a").await;
    let b = Server::start(builder(&redis, SubscriptionMode::Dynamic), "/", "b").await;
    let sb = b.ns.connect(&["late"]);
    eventually("subscribed", || {
        shard_numsub(&redis, "socket.io#/#late#") == 1
    })
    .await;
    // A room named like a socket id stays on the main channel (Node's looksLikeASocketId).
    b.ns.connect(&["abcdefghijklmnopqrst"]);
    let mut sub = RawSub::new(&redis.url(), &[], &["socket.io#/#", "socket.io#/#late#"]).await;
    a.adapter
        .broadcast(packet("/", "m", vec![Value::Int(1)]), opts(&["late"], &[]))
        .await
        .unwrap();
    let (channel, bytes) = sub.next(2000).await.unwrap();
    assert_eq!(channel, "socket.io#/#late#");
    let msg = decode(&bytes);
    let uid = msg.get("uid").unwrap().as_str().unwrap().to_owned();
    assert_eq!(uid.len(), 16);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        format!(
            r#"{{"type":3,"data":{{"packet":{{"type":2,"data":["m",1]}},"opts":{{"rooms":["late"],"except":[],"flags":{{}}}}}},"uid":"{uid}","nsp":"/"}}"#
        )
    );
    eventually("delivered", || !b.ns.inbox(sb).is_empty()).await;
    a.adapter
        .broadcast(
            packet("/", "m", vec![]),
            opts(&["abcdefghijklmnopqrst"], &[]),
        )
        .await
        .unwrap();
    assert_eq!(sub.next(2000).await.unwrap().0, "socket.io#/#");
    // Binary: the whole message is msgpack.
    a.adapter
        .broadcast(
            packet("/", "b", vec![Value::Bin(Bytes::from_static(b"\x09"))]),
            BroadcastOptions::new(),
        )
        .await
        .unwrap();
    let (channel, bytes) = sub.next(2000).await.unwrap();
    assert_eq!(channel, "socket.io#/#");
    assert_ne!(bytes[0], b'{');
    assert_eq!(
        msgpack::decode(&bytes).unwrap().get("type"),
        Some(&Value::Int(3))
    );
    // The room empties: its channel is let go.
    drop(sub);
    b.adapter
        .del_sockets(BroadcastOptions::new(), vec![Room::from("late")])
        .await
        .unwrap();
    eventually("unsubscribed", || {
        shard_numsub(&redis, "socket.io#/#late#") == 0
    })
    .await;
}

#[tokio::test]
async fn answers_cluster_messages_as_node_does() {
    let redis = Redis::start();
    let a = Server::start(builder(&redis, SubscriptionMode::Static), "/", "a").await;
    let sa = a.ns.connect(&["red"]);
    let mut answers = RawSub::new(&redis.url(), &[], &["socket.io#/#node0000node0000#"]).await;
    let send = |body: &str| redis.publish("socket.io#/#", body.as_bytes(), true);

    send(
        r#"{"type":7,"data":{"opts":{"rooms":["red"],"except":[]},"requestId":"f1"},"uid":"node0000node0000","nsp":"/"}"#,
    );
    let (_, r) = answers.next(2000).await.unwrap();
    let resp = decode(&r);
    assert_eq!(resp.get("type"), Some(&Value::Int(8)));
    assert_eq!(resp.get("nsp"), Some(&Value::from("/")));
    let data = resp.get("data").unwrap();
    assert_eq!(data.get("requestId"), Some(&Value::from("f1")));
    assert_eq!(
        data.get("sockets").unwrap().as_array().unwrap()[0].get("id"),
        Some(&Value::Str(sa.to_string()))
    );

    send(
        r#"{"type":9,"data":{"requestId":"s1","packet":["hello",1]},"uid":"node0000node0000","nsp":"/"}"#,
    );
    let (_, r) = answers.next(2000).await.unwrap();
    let resp = decode(&r);
    assert_eq!(resp.get("type"), Some(&Value::Int(10)));
    assert_eq!(
        resp.get("data"),
        Some(&json(r#"{"requestId":"s1","packet":["a",1]}"#))
    );

    send(
        r#"{"type":3,"data":{"packet":{"type":2,"data":["poll"]},"requestId":"b1","opts":{"rooms":[],"except":[],"flags":{"timeout":500}}},"uid":"node0000node0000","nsp":"/"}"#,
    );
    let (_, count) = answers.next(2000).await.unwrap();
    assert_eq!(
        decode(&count).get("data"),
        Some(&json(r#"{"requestId":"b1","clientCount":1}"#))
    );
    assert_eq!(decode(&count).get("type"), Some(&Value::Int(11)));
    let (_, ack) = answers.next(2000).await.unwrap();
    let ack = decode(&ack);
    assert_eq!(ack.get("type"), Some(&Value::Int(12)));
    assert_eq!(
        ack.get("data").unwrap().get("packet"),
        Some(&Value::Array(vec![
            "ack".into(),
            Value::Str(sa.to_string()),
            Value::Null
        ]))
    );

    // Messages of another namespace, and its own (by uid), are not for it.
    send(
        r#"{"type":4,"data":{"opts":{"rooms":[],"except":[]},"rooms":["x"]},"uid":"node0000node0000","nsp":"/other"}"#,
    );
    send(
        r#"{"type":4,"data":{"opts":{"rooms":[],"except":[]},"rooms":["y"]},"uid":"node0000node0000","nsp":"/"}"#,
    );
    eventually("joined y", || a.ns.rooms_of(sa).contains("y")).await;
    assert!(!a.ns.rooms_of(sa).contains("x"));
    send(
        r#"{"type":6,"data":{"opts":{"rooms":["red"],"except":[]},"close":true},"uid":"node0000node0000","nsp":"/"}"#,
    );
    eventually("disconnected", || !a.ns.is_connected(sa)).await;
    assert_eq!(a.cluster.metrics().malformed, 0);
}
