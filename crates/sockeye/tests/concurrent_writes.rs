//! A WebSocket connection that several tasks write to at once, while its client reads
//! slowly through a small receive window (so the server's writes often meet a full stream
//! and are partial): every frame arrives whole, each sender's messages in the order it sent
//! them, broadcasts in theirs, and the connection's own replies still arrive. The second
//! test has the handlers of another connection do the sending, which write to an idle
//! connection's stream themselves (see `sockeye_engineio::Socket::send`); the third has an
//! adapter deliver broadcasts in batches, as a cluster adapter delivers what other servers
//! sent (`sockeye::adapter::deliver_batch`), which takes the same path.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::Value;
use sockeye::extract::Data;
use sockeye::{SocketIo, SocketRef};

/// Messages per sender, senders per client, and the padding of each message: together
/// about 10 MB per client, more than the loopback's socket buffers hold.
const PER_SENDER: u64 = 2_000;
const SENDERS: u64 = 3;
const PAD: usize = 1_500;
/// The padding of `/relay`'s messages: 800 firings of four make about 19 MB per client.
const RELAY_PAD: usize = 6_000;

/// `/burst`: `go` starts `SENDERS` tasks, each emitting `PER_SENDER` `seq` messages to the
/// socket (`{k, i, p}`) in bursts of 400, and one more broadcasting `PER_SENDER` `bc` messages to the whole
/// namespace; `echo` answers with its argument.
fn install(io: &SocketIo) {
    // `fire` with `n`: four padded `seq` messages (`i` from 4n) to every other socket of
    // `/relay`, sent by the handler itself, in the firing connection's task.
    io.ns("/relay", |socket: SocketRef| {
        socket.on("echo", |s: SocketRef, Data(v): Data<Value>| {
            let _ = s.emit("echo", &v);
        });
        socket.on("fire", |s: SocketRef, Data(n): Data<u64>| async move {
            let pad = "y".repeat(RELAY_PAD);
            for j in 0..4 {
                let msg = serde_json::json!({ "i": n * 4 + j, "p": pad });
                let _ = s.broadcast().emit("seq", &msg).await;
            }
        });
    });
    io.ns("/burst", |socket: SocketRef| {
        socket.on("echo", |s: SocketRef, Data(v): Data<Value>| {
            let _ = s.emit("echo", &v);
        });
        socket.on("go", |s: SocketRef, io: SocketIo| {
            let pad = "x".repeat(PAD);
            for k in 0..SENDERS {
                let (s, pad) = (s.clone(), pad.clone());
                tokio::spawn(async move {
                    for i in 0..PER_SENDER {
                        let _ = s.emit("seq", &serde_json::json!({ "k": k, "i": i, "p": pad }));
                        // Bursts, so that the connection's task drains the stream between
                        // them and senders write to it again.
                        if i % 400 == 399 {
                            tokio::time::sleep(Duration::from_millis(40)).await;
                        } else if i.is_multiple_of(16) {
                            tokio::task::yield_now().await;
                        }
                    }
                });
            }
            tokio::spawn(async move {
                let Some(nsp) = io.of("/burst") else { return };
                for i in 0..PER_SENDER {
                    let _ = nsp.emit("bc", &serde_json::json!({ "i": i })).await;
                    if i.is_multiple_of(64) {
                        tokio::task::yield_now().await;
                    }
                }
            });
        });
    });
}

/// The arguments of an event packet of namespace `ns`, which must be whole JSON.
fn event_of(text: &str, ns: &str) -> Value {
    let body = text
        .strip_prefix("42")
        .and_then(|t| t.strip_prefix(ns))
        .and_then(|t| t.strip_prefix(','))
        .unwrap_or_else(|| panic!("not an event of {ns}: {text:.80}"));
    serde_json::from_str(body).expect("a whole JSON packet")
}

/// The end of a `/relay` test: every echo the slow client asked for arrives (after the last
/// `seq` at the latest), then each client is still answered.
async fn finish_relay(slow: &mut Ws, asked: u64, echoes: u64, others: &mut [&mut Ws]) {
    let mut seen = echoes;
    while seen < asked {
        let text = slow.recv_text().await;
        assert!(text.starts_with("42/relay,[\"echo\","), "{text:.80}");
        seen += 1;
    }
    for ws in std::iter::once(slow).chain(others.iter_mut().map(|w| &mut **w)) {
        ws.text("42/relay,[\"echo\",\"after\"]").await;
        assert_eq!(ws.recv_text().await, "42/relay,[\"echo\",\"after\"]");
    }
}

/// Reads until every `seq` and `bc` message has arrived, checking each sender's order;
/// `slow` pauses every 300 messages, so that the server's writes meet a full stream.
async fn read_all(ws: &mut Ws, slow: bool) -> (u64, u64) {
    let mut next: HashMap<u64, u64> = HashMap::new();
    let (mut seq, mut bc, mut next_bc) = (0u64, 0u64, 0u64);
    let want_seq = if slow { SENDERS * PER_SENDER } else { 0 };
    let mut frames = 0u64;
    while seq < want_seq || bc < PER_SENDER {
        if slow && frames.is_multiple_of(300) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        frames += 1;
        let text = ws.recv_text().await;
        let v = event_of(&text, "/burst");
        match v[0].as_str() {
            Some("seq") => {
                let (k, i) = (v[1]["k"].as_u64().unwrap(), v[1]["i"].as_u64().unwrap());
                assert_eq!(v[1]["p"].as_str().map(str::len), Some(PAD));
                let n = next.entry(k).or_insert(0);
                assert_eq!(i, *n, "sender {k}: message {i} after {}", *n);
                *n += 1;
                seq += 1;
            }
            Some("bc") => {
                assert_eq!(v[1]["i"].as_u64(), Some(next_bc), "broadcast order");
                next_bc += 1;
                bc += 1;
            }
            Some("echo") => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
    (seq, bc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_keep_frames_whole_and_in_order() {
    let b = builder()
        .ping_interval(Duration::from_secs(30))
        .max_queued_bytes(64 << 20);
    let srv = start_with(b, |io, _| install(io)).await;
    // A small receive window: the server's socket fills after a few frames.
    let mut slow = Ws::connect_ns_small_window(srv.addr, "/burst", 4096).await;
    let mut fast = Ws::connect_ns(srv.addr, "/burst").await;
    slow.text("42/burst,[\"go\"]").await;
    // The other client reads at full speed meanwhile.
    let fast_reader = tokio::spawn(async move {
        let counts = read_all(&mut fast, false).await;
        (fast, counts)
    });
    let (seq, bc) = read_all(&mut slow, true).await;
    assert_eq!((seq, bc), (SENDERS * PER_SENDER, PER_SENDER));
    let (mut fast, (fast_seq, fast_bc)) = fast_reader.await.expect("fast reader");
    assert_eq!((fast_seq, fast_bc), (0, PER_SENDER));
    // Both connections still carry the task's own replies.
    for ws in [&mut slow, &mut fast] {
        ws.text("42/burst,[\"echo\",\"after\"]").await;
        assert_eq!(ws.recv_text().await, "42/burst,[\"echo\",\"after\"]");
    }
    drop((slow, fast));
    srv.assert_healthy_no_leak().await;
}

/// Reads `/relay`'s `seq` messages up to `count`, in order and whole; `slow` pauses every 200
/// frames and sends an `echo` of its own then (the connection's task then writes beside
/// the other connection's writes). Returns the echoes asked for and those seen.
async fn read_relay(ws: &mut Ws, count: u64, slow: bool) -> (u64, u64) {
    let (mut next, mut frames, mut asked, mut echoes) = (0u64, 0u64, 0u64, 0u64);
    while next < count {
        frames += 1;
        // A stall early on: the server's buffers for this client fill, and what the
        // driver's handlers write to it meets a full stream.
        if slow && frames == 100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if slow && frames.is_multiple_of(200) {
            ws.text(&format!("42/relay,[\"echo\",{frames}]")).await;
            asked += 1;
        }
        let text = ws.recv_text().await;
        let v = event_of(&text, "/relay");
        match v[0].as_str() {
            Some("seq") => {
                assert_eq!(v[1]["i"].as_u64(), Some(next), "order");
                assert_eq!(v[1]["p"].as_str().map(str::len), Some(RELAY_PAD));
                next += 1;
            }
            Some("echo") => echoes += 1,
            other => panic!("unexpected event {other:?}"),
        }
    }
    (asked, echoes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_of_one_connection_writing_to_idle_ones_keep_frames_whole_and_in_order() {
    const FIRES: u64 = 800;
    let b = builder()
        .ping_interval(Duration::from_secs(30))
        .max_queued_bytes(64 << 20);
    let srv = start_with(b, |io, _| install(io)).await;
    let mut slow = Ws::connect_ns_small_window(srv.addr, "/relay", 4096).await;
    let mut fast = Ws::connect_ns(srv.addr, "/relay").await;
    let mut driver = Ws::connect_ns(srv.addr, "/relay").await;
    let fast_reader = tokio::spawn(async move {
        read_relay(&mut fast, FIRES * 4, false).await;
        fast
    });
    // The driver fires in bursts, so that the readers' tasks go idle between them and the
    // driver's handlers find their streams lent.
    let firing = tokio::spawn(async move {
        for n in 0..FIRES {
            driver.text(&format!("42/relay,[\"fire\",{n}]")).await;
            if n % 8 == 7 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        driver
    });
    let (asked, echoes) = read_relay(&mut slow, FIRES * 4, true).await;
    assert!(asked > 0);
    let mut driver = firing.await.expect("driver");
    let mut fast = fast_reader.await.expect("fast reader");
    finish_relay(&mut slow, asked, echoes, &mut [&mut fast, &mut driver]).await;
    drop((slow, fast, driver));
    srv.assert_healthy_no_leak().await;
}

/// `/relay`'s adapter hands its namespace's local side to the test: a task then delivers
/// padded `seq` broadcasts through it, four per batch, as a cluster adapter delivers the
/// messages it receives from Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapters_batches_to_idle_connections_keep_frames_whole_and_in_order() {
    use sockeye::adapter::{
        deliver_batch, Adapter, BroadcastOptions, BroadcastPacket, LocalAdapter, LocalHandle,
    };
    use sockeye::value::Value;
    use sockeye::Payload;
    use std::sync::{Arc, Mutex};

    const BATCHES: u64 = 800;
    let handle: Arc<Mutex<Option<LocalHandle>>> = Arc::default();
    let keep = handle.clone();
    let b = builder()
        .ping_interval(Duration::from_secs(30))
        .max_queued_bytes(64 << 20)
        .adapter(move |local: LocalHandle| -> Arc<dyn Adapter> {
            if local.name() == "/relay" {
                *keep.lock().unwrap() = Some(local.clone());
            }
            Arc::new(LocalAdapter::new(local))
        });
    let srv = start_with(b, |io, _| install(io)).await;
    let mut slow = Ws::connect_ns_small_window(srv.addr, "/relay", 4096).await;
    let mut fast = Ws::connect_ns(srv.addr, "/relay").await;
    let local = handle
        .lock()
        .unwrap()
        .clone()
        .expect("/relay's adapter was built");
    let fast_reader = tokio::spawn(async move {
        read_relay(&mut fast, BATCHES * 4, false).await;
        fast
    });
    // Bursts of batches, so that the readers' tasks go idle between them and the batches
    // find their streams lent.
    let delivering = tokio::spawn(async move {
        let pad = "y".repeat(RELAY_PAD);
        let mut sent = 0;
        for n in 0..BATCHES {
            sent += deliver_batch(|| {
                (0..4)
                    .map(|j| {
                        let msg = Value::Map(vec![
                            ("i".into(), Value::UInt(n * 4 + j)),
                            ("p".into(), Value::from(pad.as_str())),
                        ]);
                        let packet =
                            BroadcastPacket::new("/relay", "seq", Payload::from_values(vec![msg]));
                        local.broadcast(&packet, &BroadcastOptions::new())
                    })
                    .sum::<usize>()
            });
            if n % 8 == 7 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        sent
    });
    let (asked, echoes) = read_relay(&mut slow, BATCHES * 4, true).await;
    assert!(asked > 0);
    assert_eq!(
        delivering.await.expect("delivering task"),
        (BATCHES * 4 * 2) as usize,
        "each broadcast reached both clients"
    );
    let mut fast = fast_reader.await.expect("fast reader");
    finish_relay(&mut slow, asked, echoes, &mut [&mut fast]).await;
    drop((slow, fast));
    srv.assert_healthy_no_leak().await;
}
