//! Dynamic namespaces with a raw client: a matcher that waits and sees the handshake, the
//! order of matchers, a connection that closes while its matcher waits, `new_namespace`,
//! and broadcasts from a parent namespace to its children.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use parking_lot::Mutex;
use sockeye::{AckSender, ParentNamespace, SocketIo, SocketRef};

/// Sets a flag when dropped: tells whether a matcher's future was dropped unfinished.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn on_child(s: SocketRef) {
    s.on("name", |s: SocketRef, ack: AckSender| {
        let _ = ack.send(s.ns().name());
    });
}

#[tokio::test]
async fn an_async_matcher_sees_the_auth_and_the_headers_and_decides_creation() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let server = start_with(builder(), move |io: &SocketIo, _| {
        io.dyn_ns_async(
            move |name, hs| {
                c.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    let tenant = hs.auth["tenant"].as_str().unwrap_or("").to_owned();
                    hs.header("host") == Some("localhost")
                        && name.strip_prefix("/t-") == Some(tenant.as_str())
                }
            },
            on_child,
        );
    })
    .await;
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    ws.text(r#"40/t-acme,{"tenant":"other"}"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"44/t-acme,{"message":"Invalid namespace"}"#
    );
    ws.text(r#"40/t-acme,{"tenant":"acme"}"#).await;
    assert!(ws.recv_text().await.starts_with(r#"40/t-acme,{"sid":"#));
    ws.text(r#"42/t-acme,1["name"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/t-acme,1["/t-acme"]"#);
    // Once it exists, joining it asks nobody.
    let before = calls.load(Ordering::SeqCst);
    let mut other = Ws::connect_eio(server.addr).await.0;
    other.text(r#"40/t-acme,{"tenant":"else"}"#).await;
    assert!(other.recv_text().await.starts_with(r#"40/t-acme,{"sid":"#));
    assert_eq!(calls.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn matchers_are_asked_in_order_and_the_first_claim_wins() {
    let server = start_with(builder(), |io: &SocketIo, _| {
        io.dyn_ns(
            |n| n.starts_with("/x-"),
            |s: SocketRef| {
                s.on("which", |ack: AckSender| {
                    let _ = ack.send("sync");
                });
            },
        );
        io.dyn_ns_async(
            |_, _| async { true },
            |s: SocketRef| {
                s.on("which", |ack: AckSender| {
                    let _ = ack.send("async");
                });
            },
        );
    })
    .await;
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    ws.text("40/x-1,").await;
    assert!(ws.recv_text().await.starts_with("40/x-1,"));
    ws.text(r#"42/x-1,1["which"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/x-1,1["sync"]"#);
    ws.text("40/y-1,").await;
    assert!(ws.recv_text().await.starts_with("40/y-1,"));
    ws.text(r#"42/y-1,2["which"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/y-1,2["async"]"#);
}

#[tokio::test]
async fn a_connection_that_closes_while_its_matcher_waits_leaves_nothing() {
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let server = start_with(builder(), move |io: &SocketIo, _| {
        let d = d.clone();
        io.dyn_ns_async(
            move |_, _| {
                let flag = DropFlag(d.clone());
                async move {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    drop(flag);
                    true
                }
            },
            on_child,
        );
    })
    .await;
    let (mut ws, _) = Ws::connect_eio(server.addr).await;
    ws.text("40/slow,").await;
    // A second CONNECT to the namespace being joined is a protocol error, as for a
    // namespace whose middlewares run.
    ws.text("40/slow,").await;
    ws.expect_close().await;
    assert!(
        wait_until(Duration::from_secs(2), || dropped.load(Ordering::SeqCst)).await,
        "the matcher's future was kept"
    );
    assert!(server.io.of("/slow").is_none());
    server.assert_healthy_no_leak().await;
}

#[tokio::test]
async fn new_namespace_announces_declared_namespaces_and_children_once() {
    let names: Arc<Mutex<Vec<String>>> = Arc::default();
    let n = names.clone();
    let server = start_with(builder(), move |io: &SocketIo, _| {
        let n = n.clone();
        io.on_new_namespace(move |ns| n.lock().push(ns.name().to_owned()));
        io.ns("/declared", |_: SocketRef| {});
        io.dyn_ns(|n| n.starts_with("/d-"), on_child);
    })
    .await;
    let mut a = Ws::connect_ns(server.addr, "/d-1").await;
    let mut b = Ws::connect_ns(server.addr, "/d-1").await;
    assert_eq!(*names.lock(), ["/declared", "/d-1"]);
    // Emptied, the child is removed; joined again, it is created (and announced) again.
    a.text("41/d-1,").await;
    b.text("41/d-1,").await;
    assert!(wait_until(Duration::from_secs(2), || server.io.of("/d-1").is_none()).await);
    let _c = Ws::connect_ns(server.addr, "/d-1").await;
    assert_eq!(*names.lock(), ["/declared", "/d-1", "/d-1"]);
}

#[tokio::test]
async fn a_parent_broadcast_reaches_every_child_and_honours_rooms() {
    let parent: Arc<Mutex<Option<ParentNamespace>>> = Arc::default();
    let p = parent.clone();
    let server = start_with(builder(), move |io: &SocketIo, _| {
        let family = io.dyn_ns(
            |n| n.starts_with("/p-"),
            |s: SocketRef| {
                s.on("vip", |s: SocketRef, ack: AckSender| {
                    s.join("vip");
                    let _ = ack.send(&true);
                });
            },
        );
        *p.lock() = Some(family);
    })
    .await;
    let family = parent.lock().clone().expect("declared");
    let mut one = Ws::connect_ns(server.addr, "/p-1").await;
    let mut two = Ws::connect_ns(server.addr, "/p-2").await;
    let mut root = Ws::connect_sio(server.addr).await;
    let mut names: Vec<String> = family
        .children()
        .iter()
        .map(|n| n.name().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["/p-1", "/p-2"]);

    family.emit("hi", &"all").await.unwrap();
    assert_eq!(one.recv_text().await, r#"42/p-1,["hi","all"]"#);
    assert_eq!(two.recv_text().await, r#"42/p-2,["hi","all"]"#);
    root.assert_quiet(Duration::from_millis(100)).await;

    one.text(r#"42/p-1,1["vip"]"#).await;
    assert_eq!(one.recv_text().await, r#"43/p-1,1[true]"#);
    family.to("vip").emit_args("hi", &("vip", 1)).await.unwrap();
    family.except("vip").emit("hi", &"others").await.unwrap();
    assert_eq!(one.recv_text().await, r#"42/p-1,["hi","vip",1]"#);
    assert_eq!(two.recv_text().await, r#"42/p-2,["hi","others"]"#);
    two.assert_quiet(Duration::from_millis(100)).await;

    // A child that is removed is no longer one of the family.
    two.text("41/p-2,").await;
    assert!(
        wait_until(Duration::from_secs(2), || family.children().len() == 1).await,
        "the emptied child is still listed"
    );
}
