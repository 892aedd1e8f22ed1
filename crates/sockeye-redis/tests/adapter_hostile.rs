//! Garbage published on every channel of the cluster (catalogue rows X1 to X3): each
//! malformed message is counted and dropped, nothing panics, and the servers go on.

mod support;

use std::time::Duration;

use sockeye_core::adapter::BroadcastOptions;
use sockeye_core::value::{msgpack, Value};
use sockeye_core::AdapterError;
use sockeye_redis::{RedisAdapter, SubscriptionMode};
use support::*;

fn mp(v: Value) -> Vec<u8> {
    msgpack::encode(&v)
}

fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

/// Byte strings no server could make sense of, whatever the channel.
fn undecodable() -> Vec<Vec<u8>> {
    let mut deep = vec![0x91u8; 10_000];
    deep.push(0xc0);
    vec![
        b"".to_vec(),
        b"\xc1".to_vec(),
        b"\x92\x01".to_vec(),
        b"\xdd\xff\xff\xff\xff".to_vec(),
        b"\xdb\xff\xff\xff\xffabc".to_vec(),
        deep,
        format!("{{{}", "\"a\":[".repeat(10_000)).into_bytes(),
        "{\"a\":".repeat(200).into_bytes(),
        b"{not json".to_vec(),
        vec![0xff; 64],
    ]
}

async fn wait_malformed(server: &Server, n: u64) {
    eventually(&format!("{n} malformed"), || {
        server.cluster.metrics().malformed >= n
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        server.cluster.metrics().malformed,
        n,
        "exactly these were dropped"
    );
}

#[tokio::test]
async fn classic_channels() {
    let redis = Redis::start();
    let b = || RedisAdapter::builder(redis.url()).requests_timeout(Duration::from_millis(1500));
    let a = Server::start(b(), "/", "a").await;
    let other = Server::start(b(), "/", "b").await;
    let sa = a.ns.connect(&["red"]);
    let so = other.ns.connect(&[]);
    let mut expected = 0;

    // Broadcast channels (the namespace's and a room's).
    let mut broadcast_garbage = undecodable();
    broadcast_garbage.extend([
        b"{\"json\":1}".to_vec(),
        mp(arr(vec![Value::Int(1), Value::Int(2)])),
        mp(arr(vec![
            "uid".into(),
            "not a packet".into(),
            Value::Map(vec![]),
        ])),
        mp(arr(vec![
            "uid".into(),
            json(r#"{"type":2,"data":[1]}"#),
            Value::Map(vec![]),
        ])),
        mp(arr(vec![
            "uid".into(),
            json(r#"{"type":2,"data":[]}"#),
            Value::Map(vec![]),
        ])),
        mp(arr(vec![
            "uid".into(),
            json(r#"{"type":3,"data":["e"]}"#),
            Value::Map(vec![]),
        ])),
        mp(arr(vec![
            "uid".into(),
            json(r#"{"type":2,"data":["e"]}"#),
            "opts".into(),
        ])),
        mp(arr(vec![
            "uid".into(),
            json(r#"{"type":2,"data":["e"]}"#),
            json(r#"{"rooms":"red"}"#),
        ])),
        mp(arr(vec![
            "uid".into(),
            json(r#"{"type":2,"data":["e"]}"#),
            json(r#"{"rooms":[{}]}"#),
        ])),
        mp(arr(vec![
            "uid".into(),
            json(r#"{"type":2,"data":["e"],"nsp":7}"#),
            Value::Map(vec![]),
        ])),
        vec![0x90; 5 << 20], // larger than max_message_size
    ]);
    for channel in ["socket.io#/#", "socket.io#/#red#"] {
        for g in &broadcast_garbage {
            redis.publish(channel, g, false);
            expected += 1;
        }
    }
    // Well-formed, but not for this namespace or this server: dropped, not counted.
    redis.publish(
        "socket.io#/#",
        &mp(arr(vec![
            "x".into(),
            json(r#"{"type":2,"data":["e"],"nsp":"/other"}"#),
            json("{}"),
        ])),
        false,
    );

    // The request channel.
    let mut requests = undecodable();
    requests.extend(
        [
            r#"{"type":"0"}"#,
            r#"{"uid":"x"}"#,
            r#"{"type":2}"#,
            r#"{"type":3,"sid":{}}"#,
            r#"{"type":2,"opts":{"rooms":"red"},"rooms":["x"]}"#,
            r#"{"type":2,"opts":{"rooms":[]},"rooms":[[1]]}"#,
            r#"{"type":0,"requestId":"s","rooms":7}"#,
            r#"{"type":5,"requestId":"x","opts":"bad"}"#,
            r#"{"type":6,"data":"notarray"}"#,
            r#"{"type":6,"data":[1,2]}"#,
            r#"{"type":7,"requestId":"x","packet":{"type":2,"data":[]},"opts":{}}"#,
            r#"{"type":7,"packet":{"type":2,"data":["e"]},"opts":{}}"#,
            r#"[1,2]"#,
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec()),
    );
    for g in &requests {
        redis.publish("socket.io-request#/#", g, false);
        expected += 1;
    }
    // Unknown types are another version's business: ignored, not counted.
    redis.publish("socket.io-request#/#", br#"{"type":99,"uid":"x"}"#, false);
    // A million rooms to join, for sockets that are not here: handled, bounded.
    let million: Vec<Value> = (0..1_000_000).map(|i| Value::Int(i % 100)).collect();
    let join = Value::Map(vec![
        ("uid".into(), "x".into()),
        ("type".into(), Value::Int(2)),
        ("opts".into(), json(r#"{"rooms":["nobody"],"except":[]}"#)),
        ("rooms".into(), Value::Array(million)),
    ]);
    redis.publish("socket.io-request#/#", &mp(join), false);

    // The response channels: garbage, unknown ids, and bad answers to a request in flight.
    for g in undecodable() {
        redis.publish("socket.io-response#/#", &g, false);
        expected += 1;
    }
    redis.publish(
        "socket.io-response#/#",
        br#"{"requestId":5,"sockets":[]}"#,
        false,
    );
    redis.publish(
        "socket.io-response#/#",
        br#"{"requestId":"unknown","sockets":[1]}"#,
        false,
    );
    wait_malformed(&a, expected).await;

    // A request in flight: a silent extra subscriber makes it wait for one more answer.
    let mut requests_seen = RawSub::new(&redis.url(), &["socket.io-request#/#"], &[]).await;
    let fetch = {
        let adapter = a.adapter.clone();
        tokio::spawn(async move { adapter.fetch_sockets(BroadcastOptions::new()).await })
    };
    let id = loop {
        let (_, bytes) = requests_seen.next(2000).await.expect("the fetch request");
        let v = decode(&bytes);
        if v.get("type") == Some(&Value::Int(5)) {
            break v.get("requestId").unwrap().as_str().unwrap().to_owned();
        }
    };
    for bad in [
        format!(r#"{{"requestId":"{id}","sockets":[{{"id":"not a socket id"}}]}}"#),
        format!(r#"{{"requestId":"{id}","sockets":[7]}}"#),
    ] {
        redis.publish("socket.io-response#/#", bad.as_bytes(), false);
        expected += 1;
    }
    let r = fetch.await.unwrap();
    assert!(matches!(r, Err(AdapterError::Timeout(_))), "{r:?}");
    wait_malformed(&a, expected).await;

    // Still a working server.
    drop(requests_seen);
    other
        .adapter
        .broadcast(packet("/", "alive", vec![]), opts(&["red"], &[]))
        .await
        .unwrap();
    eventually("alive", || a.ns.inbox(sa).iter().any(|e| e.0 == "alive")).await;
    eventually_async("fetch works again", 5, || async {
        a.adapter
            .fetch_sockets(BroadcastOptions::new())
            .await
            .map(|v| v.len())
            .ok()
            == Some(2)
    })
    .await;
    a.adapter
        .broadcast(packet("/", "back", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    eventually("back", || other.ns.inbox(so).iter().any(|e| e.0 == "back")).await;
}

#[tokio::test]
async fn sharded_channels() {
    let redis = Redis::start();
    let b = || {
        RedisAdapter::builder(redis.url())
            .subscription_mode(SubscriptionMode::Dynamic)
            .requests_timeout(Duration::from_millis(1500))
    };
    let a = Server::start(b(), "/", "a").await;
    let other = Server::start(b(), "/", "b").await;
    let sa = a.ns.connect(&["red"]);
    eventually("room channel", || {
        shard_numsub(&redis, "socket.io#/#red#") == 1
    })
    .await;
    let mut garbage = undecodable();
    garbage.extend(
        [
            r#"{"uid":"x","nsp":"/","type":"3"}"#,
            r#"{"uid":"x","nsp":"/"}"#,
            r#"{"uid":"x","nsp":"/","type":3}"#,
            r#"{"uid":"x","nsp":"/","type":3,"data":{"packet":{"type":2,"data":["e"]}}}"#,
            r#"{"uid":"x","nsp":"/","type":3,"data":{"packet":{"type":2,"data":[0]},"opts":{}}}"#,
            r#"{"uid":"x","nsp":"/","type":4,"data":{"opts":{},"rooms":"r"}}"#,
            r#"{"uid":"x","nsp":"/","type":6,"data":{}}"#,
            r#"{"uid":"x","nsp":"/","type":7,"data":{"opts":7}}"#,
            r#"{"uid":"x","nsp":"/","type":9,"data":{"packet":"e"}}"#,
            r#""a string""#,
            r#"[1]"#,
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec()),
    );
    let channels = ["socket.io#/#", "socket.io#/#red#"];
    let mut expected = 0;
    for channel in channels {
        for g in &garbage {
            redis.publish(channel, g, true);
            expected += 1;
        }
    }
    // Not for this namespace, or unknown types: not counted.
    redis.publish(
        "socket.io#/#",
        br#"{"uid":"x","nsp":"/other","type":3}"#,
        true,
    );
    redis.publish("socket.io#/#", br#"{"uid":"x","nsp":"/","type":99}"#, true);
    wait_malformed(&a, expected).await;
    other
        .adapter
        .broadcast(packet("/", "alive", vec![]), opts(&["red"], &[]))
        .await
        .unwrap();
    eventually("alive", || a.ns.inbox(sa).iter().any(|e| e.0 == "alive")).await;
    assert_eq!(
        a.adapter
            .fetch_sockets(BroadcastOptions::new())
            .await
            .unwrap()
            .len(),
        1
    );
}
