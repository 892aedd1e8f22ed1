//! Redis killed and restarted under running servers: local delivery goes on, cluster
//! operations fail fast with a clear error, the connections come back, the cluster heals.

mod support;

use std::time::{Duration, Instant};

use sockeye_core::adapter::{AckEvent, AckFailure, BroadcastOptions};
use sockeye_core::value::Value;
use sockeye_core::{AdapterError, Payload, Room};
use sockeye_redis::{RedisAdapter, RedisAdapterBuilder, SubscriptionMode};
use support::*;

const TIMEOUT: Duration = Duration::from_secs(3);

fn builder(redis: &Redis, sharded: bool) -> RedisAdapterBuilder {
    let b = RedisAdapter::builder(redis.url())
        .requests_timeout(TIMEOUT)
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(400));
    if sharded {
        b.subscription_mode(SubscriptionMode::Dynamic)
    } else {
        b
    }
}

/// Fails fast, and with the "unreachable" error, not a timeout.
fn assert_fast<T: std::fmt::Debug>(what: &str, started: Instant, r: Result<T, AdapterError>) {
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1000),
        "{what} took {took:?} (timeout {TIMEOUT:?})"
    );
    match r {
        Err(AdapterError::Unavailable(msg)) => assert!(msg.contains("redis"), "{what}: {msg}"),
        other => panic!("{what}: {other:?}"),
    }
}

async fn survives_a_restart(sharded: bool) {
    let mut redis = Redis::start();
    let a = Server::start(builder(&redis, sharded), "/", "a").await;
    let b = Server::start(builder(&redis, sharded), "/", "b").await;
    let sa = a.ns.connect(&["room"]);
    let sb = b.ns.connect(&["room"]);
    if sharded {
        // b subscribes to the room's channel in the background.
        eventually("room channel", || {
            shard_numsub(&redis, "socket.io#/#room#") == 2
        })
        .await;
    }
    a.adapter
        .broadcast(packet("/", "before", vec![]), opts(&["room"], &[]))
        .await
        .unwrap();
    eventually("before", || b.ns.inbox(sb).len() == 1).await;

    redis.kill();
    // Give the clients a moment to see the connection drop.
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Local delivery goes on; the cluster part fails at once.
    let t = Instant::now();
    let r = a
        .adapter
        .broadcast(
            packet("/", "during", vec![Value::Int(1)]),
            BroadcastOptions::new(),
        )
        .await;
    assert_fast("broadcast", t, r);
    assert_eq!(
        a.ns.inbox(sa).iter().filter(|e| e.0 == "during").count(),
        1,
        "delivered locally"
    );
    let t = Instant::now();
    assert_fast(
        "fetch_sockets",
        t,
        a.adapter.fetch_sockets(BroadcastOptions::new()).await,
    );
    let t = Instant::now();
    assert_fast("server_count", t, a.adapter.server_count().await);
    let t = Instant::now();
    assert_fast(
        "add_sockets",
        t,
        a.adapter
            .add_sockets(BroadcastOptions::new(), vec![Room::from("new")])
            .await,
    );
    assert!(a.ns.rooms_of(sa).contains("new"), "joined locally");
    let t = Instant::now();
    assert_fast(
        "server_side_emit",
        t,
        a.adapter
            .server_side_emit("x".into(), Payload::default())
            .await,
    );
    // A broadcast with acks is delivered here, and its stream ends with the local answers
    // and one "unreachable" failure, at once (this server's socket answers at once).
    let t = Instant::now();
    let mut acks = a
        .adapter
        .broadcast_with_ack(
            packet("/", "ask", vec![]),
            BroadcastOptions::new(),
            Duration::from_secs(2),
        )
        .await
        .expect("the local part's stream");
    let mut replies = Vec::new();
    while let Some(ev) = std::future::poll_fn(|cx| acks.as_mut().poll_next(cx)).await {
        if let AckEvent::Reply(r) = ev {
            replies.push(r.result);
        }
    }
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    assert!(
        replies.iter().any(|r| r.is_ok()),
        "the local answer: {replies:?}"
    );
    assert!(
        matches!(replies.last(), Some(Err(AckFailure::Unreachable))),
        "{replies:?}"
    );
    assert!(a.ns.inbox(sa).iter().any(|e| e.0 == "ask"), "asked locally");
    let t = Instant::now();
    assert_fast("rooms", t, a.adapter.rooms().await);
    assert!(a.cluster.metrics().publish_failures >= 3);

    // A local-only operation does not touch Redis at all.
    let mut local = BroadcastOptions::new();
    local.flags.local = true;
    a.adapter
        .broadcast(packet("/", "local", vec![]), local.clone())
        .await
        .unwrap();
    let mut stream = a
        .adapter
        .broadcast_with_ack(
            packet("/", "local-ask", vec![]),
            local,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    let mut answered = 0;
    while let Some(ev) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        if matches!(ev, AckEvent::Reply(_)) {
            answered += 1;
        }
    }
    assert_eq!(answered, 1);

    // Down for a while (several reconnection attempts), then back.
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.restart();
    eventually_async("reconnected", 10, || async {
        a.cluster.metrics().reconnects >= 2 && b.cluster.metrics().reconnects >= 2
    })
    .await;
    // Healed: broadcasts cross again (the subscriptions came back), and requests work.
    eventually_async("healed", 10, || async {
        let _ = a
            .adapter
            .broadcast(packet("/", "after", vec![]), opts(&["room"], &[]))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.ns.inbox(sb).iter().any(|e| e.0 == "after")
    })
    .await;
    eventually_async("b hears a", 10, || async {
        let _ = b
            .adapter
            .broadcast(packet("/", "back", vec![]), BroadcastOptions::new())
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        a.ns.inbox(sa).iter().any(|e| e.0 == "back")
    })
    .await;
    assert_eq!(a.adapter.server_count().await.unwrap(), 2);
    assert_eq!(
        a.adapter
            .fetch_sockets(BroadcastOptions::new())
            .await
            .unwrap()
            .len(),
        2
    );
    if sharded {
        // The room channel came back too: a single-room broadcast (on it) reaches b.
        let before = b.ns.inbox(sb).len();
        a.adapter
            .broadcast(packet("/", "room-again", vec![]), opts(&["room"], &[]))
            .await
            .unwrap();
        eventually("room channel", || b.ns.inbox(sb).len() > before).await;
    }
    assert_eq!(a.cluster.metrics().malformed, 0);
}

#[tokio::test]
async fn classic_survives_a_restart() {
    survives_a_restart(false).await;
}

#[tokio::test]
async fn sharded_survives_a_restart() {
    survives_a_restart(true).await;
}

#[tokio::test]
async fn requests_in_flight_end_at_their_timeout() {
    let mut redis = Redis::start();
    let a = Server::start(
        builder(&redis, false).requests_timeout(Duration::from_millis(600)),
        "/",
        "a",
    )
    .await;
    let _mute = RawSub::new(&redis.url(), &["socket.io-request#/#"], &[]).await;
    let started = Instant::now();
    let fetch = tokio::spawn(async move {
        let r = a.adapter.fetch_sockets(BroadcastOptions::new()).await;
        (r.map(|v| v.len()), a)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    redis.kill();
    let (r, _a) = fetch.await.unwrap();
    assert!(matches!(r, Err(AdapterError::Timeout(_))), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connecting_to_a_missing_redis_fails_fast() {
    let redis = Redis::start();
    let port = redis.port;
    drop(redis);
    let t = Instant::now();
    let r = RedisAdapter::builder(format!("redis://127.0.0.1:{port}"))
        .requests_timeout(Duration::from_secs(2))
        .build()
        .await;
    assert!(matches!(r, Err(sockeye_redis::Error::Connect(_))), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
}
