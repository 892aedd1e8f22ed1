//! Connection state recovery with a raw WebSocket client: the ordering guarantee under
//! broadcasts that never stop (from another worker thread), and what recovery off leaves on
//! the wire. Node's semantics are checked with socket.io-client 4.8 in
//! `e2e/node/recovery.test.mjs`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use sockeye::{ConnectionStateRecovery, SocketIoBuilder};

fn recovering() -> SocketIoBuilder {
    builder().connection_state_recovery(
        ConnectionStateRecovery::new()
            .max_disconnection_duration(Duration::from_secs(10))
            .max_packets(1_000_000)
            .max_packet_bytes(256 << 20),
    )
}

/// What the client got of the `seq` stream, and its last offset.
#[derive(Default)]
struct Seen {
    numbers: Vec<i64>,
    offset: Option<String>,
}

impl Seen {
    fn record(&mut self, text: &str) {
        let json = text
            .strip_prefix("42")
            .unwrap_or_else(|| panic!("not an event: {text:?}"));
        let v: Value = serde_json::from_str(json).expect("event JSON");
        assert_eq!(v[0], "seq", "{text}");
        self.numbers.push(v[1].as_i64().expect("a number"));
        let offset = v[2].as_str().expect("the offset, last");
        self.offset = Some(offset.to_owned());
    }
}

/// Joins `/` (with `{pid, offset}` when given); records the events before the CONNECT
/// acknowledgement (the missed packets); returns its `sid` and `pid`.
async fn join(ws: &mut Ws, claim: Option<(&str, &str)>, seen: &mut Seen) -> (String, String) {
    let packet = match claim {
        Some((pid, offset)) => format!("40{}", json!({"pid": pid, "offset": offset})),
        None => "40".to_owned(),
    };
    ws.text(&packet).await;
    loop {
        let text = ws.recv_text().await;
        if let Some(ack) = text.strip_prefix("40") {
            let v: Value = serde_json::from_str(ack).expect("CONNECT JSON");
            let field = |k: &str| {
                v[k].as_str()
                    .unwrap_or_else(|| panic!("{k} in {ack}"))
                    .to_owned()
            };
            return (field("sid"), field("pid"));
        }
        seen.record(&text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn missed_then_live_packets_arrive_once_in_order_while_broadcasts_never_stop() {
    let server = start_with(recovering(), |_, _| {}).await;
    let stop = Arc::new(AtomicBool::new(false));
    // A thread of its own, one packet every 50 µs or so, independent of the runtime's timers.
    let publisher = {
        let (io, stop) = (server.io.clone(), stop.clone());
        let rt = tokio::runtime::Handle::current();
        std::thread::spawn(move || {
            let mut i: i64 = 0;
            while !stop.load(Ordering::Relaxed) && i < 2_000_000 {
                let _ = rt.block_on(io.emit("seq", &i));
                i += 1;
                std::thread::sleep(Duration::from_micros(50));
            }
            i
        })
    };
    let mut seen = Seen::default();
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    let (sid, pid) = join(&mut ws, None, &mut seen).await;
    let cycles = 25;
    for cycle in 1..=cycles {
        // Read a few live packets, then vanish (RST) and come back at once.
        let until = seen.numbers.len() + 5;
        while seen.numbers.len() < until {
            let text = ws.recv_text().await;
            seen.record(&text);
        }
        ws.reset();
        let stats = server.stats.clone();
        assert!(
            wait_until(READ_TIMEOUT, || stats.disconnects() == cycle).await,
            "the server did not see drop {cycle}"
        );
        let offset = seen.offset.clone().expect("an offset");
        let (again, _) = Ws::connect_eio(server.addr).await;
        ws = again;
        let (sid2, pid2) = join(&mut ws, Some((&pid, &offset)), &mut seen).await;
        assert_eq!((&sid2, &pid2), (&sid, &pid), "recovered, cycle {cycle}");
    }
    stop.store(true, Ordering::Relaxed);
    let sent = publisher.join().expect("publisher");
    let first = seen.numbers[0];
    let expected: Vec<i64> = (first..first + seen.numbers.len() as i64).collect();
    if seen.numbers != expected {
        let bad = seen
            .numbers
            .windows(2)
            .position(|w| w[1] != w[0] + 1)
            .unwrap_or(0);
        panic!(
            "not once and in order (of {sent} sent): {:?}",
            &seen.numbers[bad.saturating_sub(3)..(bad + 4).min(seen.numbers.len())]
        );
    }
    assert_eq!(server.stats.reasons().len(), cycles);
    assert!(server
        .stats
        .reasons()
        .iter()
        .all(|r| r == "transport close" || r == "transport error"));
}

#[tokio::test]
async fn recovery_off_leaves_the_wire_as_it_was() {
    let server = start().await;
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    ws.text("40").await;
    let ack = ws.recv_text().await;
    let v: Value = serde_json::from_str(ack.strip_prefix("40").expect("CONNECT")).unwrap();
    assert_eq!(v.as_object().map(|o| o.len()), Some(1), "no pid: {ack}");
    server.io.emit("plain", &1).await.unwrap();
    assert_eq!(ws.recv_text().await, r#"42["plain",1]"#);
    // A client that claims a session anyway gets a new socket, and nothing else.
    let (mut ws2, _) = Ws::connect_eio(server.addr).await;
    ws2.text(r#"40{"pid":"aaaaaaaaaaaaaaaaaaaa","offset":"x"}"#)
        .await;
    let ack2 = ws2.recv_text().await;
    assert!(ack2.starts_with("40{\"sid\":"), "{ack2}");
    assert!(!ack2.contains("pid"), "{ack2}");
}

#[tokio::test]
async fn a_session_is_kept_only_when_the_connection_drops() {
    let server = start_with(recovering(), |_, _| {}).await;
    let mut seen = Seen::default();
    // Left on purpose (`41`): nothing kept.
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    let (sid, pid) = join(&mut ws, None, &mut seen).await;
    server.io.emit("seq", &1).await.unwrap();
    seen.record(&ws.recv_text().await);
    ws.text("41").await;
    let stats = server.stats.clone();
    assert!(wait_until(READ_TIMEOUT, || stats.disconnects() == 1).await);
    let offset = seen.offset.clone().unwrap();
    ws.text(&format!("40{}", json!({"pid": pid, "offset": offset})))
        .await;
    let ack = ws.recv_text().await;
    assert!(!ack.contains(&sid), "left on purpose, yet recovered: {ack}");
    // Dropped (the TCP connection reset): kept, and the socket's rooms come back with it.
    let (_, pid2) = {
        let (mut ws, _) = Ws::connect_eio(server.addr).await;
        let ids = join(&mut ws, None, &mut seen).await;
        let socket = server
            .io
            .sockets()
            .into_iter()
            .find(|s| s.id().as_str() == ids.0)
            .expect("the socket");
        socket.join("kept-room");
        server.io.emit("seq", &2).await.unwrap();
        seen.record(&ws.recv_text().await);
        ws.reset();
        ids
    };
    assert!(wait_until(READ_TIMEOUT, || stats.disconnects() == 2).await);
    server.io.to("kept-room").emit("seq", &3).await.unwrap();
    server.io.to("another-room").emit("seq", &4).await.unwrap();
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    let offset = seen.offset.clone().unwrap();
    join(&mut ws, Some((&pid2, &offset)), &mut seen).await;
    assert_eq!(
        seen.numbers,
        [1, 2, 3],
        "the missed packet of its room only"
    );
    let restored = server.io.sockets();
    let restored = restored
        .iter()
        .find(|s| s.recovered())
        .expect("a recovered socket");
    assert!(restored.rooms().iter().any(|r| r == "kept-room"));
}

/// An adapter whose store answers later (as one across the network would): the local
/// adapter's work, after a pause.
struct Later(sockeye::adapter::LocalAdapter);

mod later {
    use std::time::Duration;

    use sockeye::adapter::*;
    use sockeye::{AdapterError, Payload, Room, Sid};

    impl Adapter for super::Later {
        fn broadcast(
            &self,
            packet: BroadcastPacket,
            opts: BroadcastOptions,
        ) -> BoxFuture<'_, Result<usize, AdapterError>> {
            self.0.broadcast(packet, opts)
        }
        fn broadcast_with_ack(
            &self,
            packet: BroadcastPacket,
            opts: BroadcastOptions,
            timeout: Duration,
        ) -> BoxFuture<'_, Result<AckStream, AdapterError>> {
            self.0.broadcast_with_ack(packet, opts, timeout)
        }
        fn fetch_sockets(
            &self,
            opts: BroadcastOptions,
        ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>> {
            self.0.fetch_sockets(opts)
        }
        fn add_sockets(
            &self,
            opts: BroadcastOptions,
            rooms: Vec<Room>,
        ) -> BoxFuture<'_, Result<(), AdapterError>> {
            self.0.add_sockets(opts, rooms)
        }
        fn del_sockets(
            &self,
            opts: BroadcastOptions,
            rooms: Vec<Room>,
        ) -> BoxFuture<'_, Result<(), AdapterError>> {
            self.0.del_sockets(opts, rooms)
        }
        fn disconnect_sockets(
            &self,
            opts: BroadcastOptions,
            close: bool,
        ) -> BoxFuture<'_, Result<(), AdapterError>> {
            self.0.disconnect_sockets(opts, close)
        }
        fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
            self.0.rooms()
        }
        fn server_side_emit(
            &self,
            event: String,
            args: Payload,
        ) -> BoxFuture<'_, Result<(), AdapterError>> {
            self.0.server_side_emit(event, args)
        }
        fn server_side_emit_with_ack(
            &self,
            event: String,
            args: Payload,
            timeout: Duration,
        ) -> BoxFuture<'_, Result<ServerAcks, AdapterError>> {
            self.0.server_side_emit_with_ack(event, args, timeout)
        }
        fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
            self.0.persist_session(session)
        }
        fn restore_session(
            &self,
            pid: Sid,
            offset: String,
        ) -> BoxFuture<'_, Result<Option<RestoredSession>, AdapterError>> {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.0.restore_session(pid, offset).await
            })
        }
    }
}

#[tokio::test]
async fn an_adapter_that_answers_later_restores_too() {
    let b = recovering().adapter(|local| {
        Arc::new(Later(sockeye::adapter::LocalAdapter::new(local)))
            as Arc<dyn sockeye::adapter::Adapter>
    });
    let server = start_with(b, |_, _| {}).await;
    let mut seen = Seen::default();
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    let (sid, pid) = join(&mut ws, None, &mut seen).await;
    server.io.emit("seq", &1).await.unwrap();
    seen.record(&ws.recv_text().await);
    ws.reset();
    let stats = server.stats.clone();
    assert!(wait_until(READ_TIMEOUT, || stats.disconnects() == 1).await);
    server.io.emit("seq", &2).await.unwrap();
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    let offset = seen.offset.clone().unwrap();
    let (sid2, _) = join(&mut ws, Some((&pid, &offset)), &mut seen).await;
    assert_eq!(sid2, sid);
    assert_eq!(seen.numbers, [1, 2]);
    server.io.emit("seq", &3).await.unwrap();
    seen.record(&ws.recv_text().await);
    assert_eq!(seen.numbers, [1, 2, 3]);
    // A client that goes away while its restore waits leaves nothing behind.
    ws.reset();
    assert!(wait_until(READ_TIMEOUT, || stats.disconnects() == 2).await);
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    let offset = seen.offset.clone().unwrap();
    ws.text(&format!("40{}", json!({"pid": pid, "offset": offset})))
        .await;
    ws.reset();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        stats.connects(),
        2,
        "no socket for the client that went away"
    );
    server.assert_no_leak().await;
}
