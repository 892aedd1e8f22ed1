//! `Socket::transport` and `Socket::on_upgrade` (Node's `socket.conn.transport.name` and
//! `socket.conn.on("upgrade")`), with a raw client that upgrades a polling session by hand.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use parking_lot::Mutex;
use sockeye::{AckSender, SocketRef, TransportKind};

type Log = Arc<Mutex<Vec<String>>>;

/// `/up`, `/up2` and `/left`: each socket logs its transport when it connects and each
/// upgrade it hears of, and acks `transport` with its transport's name; on `/up2` a first
/// listener panics.
fn install(io: &sockeye::SocketIo, log: &Log) {
    for ns in ["/up", "/up2", "/left"] {
        let log = log.clone();
        io.ns(ns, move |s: SocketRef| {
            log.lock()
                .push(format!("connect {} {}", s.ns().name(), s.transport()));
            if s.ns().name() == "/up2" {
                // A listener that panics harms neither the next one nor the connection.
                s.on_upgrade(|_: SocketRef, _: TransportKind| {
                    panic!("an upgrade listener panics (test)")
                });
            }
            let l = log.clone();
            s.on_upgrade(move |s: SocketRef, t: TransportKind| {
                l.lock()
                    .push(format!("upgrade {} {t} {}", s.ns().name(), s.transport()));
            });
            if s.ns().name() == "/up" {
                // Listeners add up.
                let l = log.clone();
                s.on_upgrade(move |_: SocketRef, _: TransportKind| {
                    l.lock().push("upgrade /up again".to_owned());
                });
            }
            s.on("transport", |s: SocketRef, ack: AckSender| {
                let _ = ack.send(s.transport().as_str());
            });
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_then_upgrade() {
    let log: Log = Arc::default();
    let l = log.clone();
    let srv = start_with(builder(), move |io, _| install(io, &l)).await;
    let mut p = Poller::open(srv.addr).await;
    for ns in ["/up", "/up2", "/left"] {
        p.post_ok(&format!("40{ns},")).await;
        let answer = p.recv().await;
        assert!(
            answer.starts_with(&format!("40{ns},{{\"sid\":")),
            "{answer}"
        );
    }
    p.post_ok(r#"42/up,1["transport"]"#).await;
    assert_eq!(p.recv().await, r#"43/up,1["polling"]"#);
    // A socket that left hears of no upgrade.
    p.post_ok("41/left,").await;
    assert!(
        wait_until(Duration::from_secs(2), || srv
            .io
            .of("/left")
            .is_some_and(|op| op.sockets().is_empty()))
        .await
    );

    let mut ws = Ws::upgrade_with(
        srv.addr,
        &format!("EIO=4&transport=websocket&sid={}", p.sid),
        &[],
    )
    .await
    .unwrap_or_else(|r| panic!("upgrade refused: {}", r.status));
    ws.text("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    assert!(
        !log.lock().iter().any(|l| l.starts_with("upgrade")),
        "no upgrade before `5`"
    );
    ws.text("5").await;
    ws.text(r#"42/up,2["transport"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/up,2["websocket"]"#);
    assert!(wait_until(Duration::from_secs(2), || log.lock().len() >= 6).await);
    let mut got = log.lock().clone();
    got.sort();
    assert_eq!(
        got,
        [
            "connect /left polling",
            "connect /up polling",
            "connect /up2 polling",
            "upgrade /up again",
            "upgrade /up websocket websocket",
            "upgrade /up2 websocket websocket",
        ]
    );
    // Once only.
    ws.text(r#"42/up2,3["transport"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/up2,3["websocket"]"#);
    assert_eq!(log.lock().len(), 6);
    drop(ws);
    srv.assert_no_leak().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_from_the_start_never_upgrades() {
    let log: Log = Arc::default();
    let l = log.clone();
    let srv = start_with(builder(), move |io, _| install(io, &l)).await;
    let mut ws = Ws::connect_ns(srv.addr, "/up").await;
    ws.text(r#"42/up,1["transport"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/up,1["websocket"]"#);
    assert_eq!(log.lock().clone(), ["connect /up websocket"]);
    drop(ws);
    srv.assert_no_leak().await;
}
