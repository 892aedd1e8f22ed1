//! A socket's hooks with a raw client: catch-all listeners both ways (order, removal, what
//! they are given), packet middlewares (order, refusal, the error handler), volatile emits
//! and the flags of `SocketEmitter`, and a broadcast with acks answered socket by socket.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use parking_lot::Mutex;
use sockeye::adapter::AckFailure;
use sockeye::extract::{Data, Event, Refusal};
use sockeye::{AckSender, ListenerId, Payload, SocketIo, SocketRef};

type Log = Arc<Mutex<Vec<String>>>;

/// A server whose `/hooks` sockets log their listeners' calls, and whose `ids` (sockets
/// connected to `/hooks`, in order) the test reads.
async fn hooked() -> (Server, Log, Arc<Mutex<Vec<SocketRef>>>) {
    let log: Log = Arc::default();
    let sockets: Arc<Mutex<Vec<SocketRef>>> = Arc::default();
    let (l, sk) = (log.clone(), sockets.clone());
    let server = start_with(builder(), move |io: &SocketIo, _| {
        io.ns("/hooks", move |s: SocketRef| {
            sk.lock().push(s.clone());
            let l1 = l.clone();
            s.on_any(move |Event(name): Event, p: Payload| {
                l1.lock().push(format!("any:{name}:{}", p.len()));
            });
            let l2 = l.clone();
            s.prepend_any(move |Event(name): Event, ack: AckSender| {
                // The ack belongs to the event's handler.
                l2.lock()
                    .push(format!("first:{name}:{}", ack.is_requested()));
            });
            let l3 = l.clone();
            s.on_any_outgoing(move |Event(name): Event, p: Payload| {
                l3.lock().push(format!("out:{name}:{}", p.len()));
            });
            let l4 = l.clone();
            s.use_middleware(move |Event(name): Event| {
                l4.lock().push(format!("mw1:{name}"));
                if name == "deny" {
                    Err(Refusal::new("denied"))
                } else {
                    Ok(())
                }
            });
            let l5 = l.clone();
            s.use_middleware(move |Event(name): Event| {
                let l5 = l5.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    l5.lock().push(format!("mw2:{name}"));
                    Ok::<(), Refusal>(())
                }
            });
            let l6 = l.clone();
            s.on_error(move |_: SocketRef, err: Refusal| {
                l6.lock().push(format!("error:{}", err.message));
            });
            let l7 = l.clone();
            s.on("ping", move |s: SocketRef, ack: AckSender| {
                l7.lock().push("handler:ping".into());
                let _ = ack.send(&"pong");
                let _ = s.emit_args("two", &(1, 2));
            });
            let l8 = l.clone();
            s.on("deny", move |ack: AckSender| {
                l8.lock().push("handler:deny".into());
                let _ = ack.send(&"ran");
            });
        });
    })
    .await;
    (server, log, sockets)
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock())
}

#[tokio::test]
async fn listeners_then_middlewares_in_order_then_the_handler() {
    let (server, log, _) = hooked().await;
    let mut ws = Ws::connect_ns(server.addr, "/hooks").await;
    ws.text(r#"42/hooks,1["ping","a"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/hooks,1["pong"]"#);
    assert_eq!(ws.recv_text().await, r#"42/hooks,["two",1,2]"#);
    assert_eq!(
        take(&log),
        [
            "first:ping:false",
            "any:ping:1",
            "mw1:ping",
            "mw2:ping",
            "handler:ping",
            "out:two:2"
        ]
    );
}

#[tokio::test]
async fn a_refusal_stops_the_chain_reaches_on_error_and_sends_nothing() {
    let (server, log, _) = hooked().await;
    let mut ws = Ws::connect_ns(server.addr, "/hooks").await;
    ws.text(r#"42/hooks,7["deny"]"#).await;
    ws.assert_quiet(Duration::from_millis(300)).await;
    assert_eq!(
        take(&log),
        ["first:deny:false", "any:deny:0", "mw1:deny", "error:denied"]
    );
    // The socket goes on.
    ws.text(r#"42/hooks,8["ping"]"#).await;
    assert_eq!(ws.recv_text().await, r#"43/hooks,8["pong"]"#);
}

#[tokio::test]
async fn listeners_are_removed_by_id_or_all_at_once() {
    let (server, log, sockets) = hooked().await;
    let mut ws = Ws::connect_ns(server.addr, "/hooks").await;
    let s = sockets.lock()[0].clone();
    let ids = s.any_listeners();
    assert_eq!(ids.len(), 2);
    assert!(s.off_any(ids[0]), "the prepended listener");
    assert!(!s.off_any(ids[0]), "already removed");
    assert_eq!(s.any_listeners(), vec![ids[1]]);
    let extra: ListenerId = s.on_any_outgoing(|| {});
    assert_eq!(s.any_outgoing_listeners().len(), 2);
    assert!(s.off_any_outgoing(extra));
    ws.text(r#"42/hooks,["ping"]"#).await;
    let _ = ws.recv_text().await;
    assert!(take(&log).starts_with(&["any:ping:0".to_owned()]));
    assert!(s.off_any(None));
    assert!(s.off_any_outgoing(None));
    assert!(s.any_listeners().is_empty() && s.any_outgoing_listeners().is_empty());
    ws.text(r#"42/hooks,["ping"]"#).await;
    let _ = ws.recv_text().await;
    assert_eq!(take(&log), ["mw1:ping", "mw2:ping", "handler:ping"]);
}

#[tokio::test]
async fn outgoing_listeners_see_every_emit_and_broadcast_but_not_acks() {
    let (server, log, sockets) = hooked().await;
    let mut ws = Ws::connect_ns(server.addr, "/hooks").await;
    let s = sockets.lock()[0].clone();
    s.emit("one", &1).unwrap();
    s.emit_payload("payload", &Payload::from_args(&[1, 2, 3], vec![]).unwrap())
        .unwrap();
    s.volatile().emit("vol", &()).unwrap();
    let ns = s.ns().clone();
    ns.operator().to(s.id()).emit("room", &"x").await.unwrap();
    let acks = ns.operator().timeout(Duration::from_millis(50));
    let replies = acks.emit_with_ack("asked", &0).await.unwrap();
    assert_eq!(replies.len(), 1);
    let names: Vec<String> = take(&log);
    assert_eq!(
        names,
        [
            "out:one:1",
            "out:payload:3",
            "out:vol:1",
            "out:room:1",
            "out:asked:1"
        ]
    );
    // The listeners saw the volatile packet though it was dropped (it followed packets the
    // client had not read yet), as Node notifies them before the transport drops it.
    let mut got = Vec::new();
    while !got.iter().any(|m: &String| m.contains("asked")) && got.len() < 5 {
        got.push(ws.recv_text().await);
    }
    assert_eq!(got.len(), 4, "{got:?}");
}

#[tokio::test]
async fn a_volatile_emit_is_dropped_while_the_client_has_not_read_the_previous_one() {
    let sockets: Arc<Mutex<Vec<SocketRef>>> = Arc::default();
    let sk = sockets.clone();
    // No ping meanwhile: a queued one would drop a volatile packet the test expects.
    let b = builder().ping_interval(Duration::from_secs(10));
    let server = start_with(b, move |io: &SocketIo, _| {
        io.ns("/v", move |s: SocketRef| sk.lock().push(s));
    })
    .await;
    let mut p = Poller::open(server.addr).await;
    p.post_ok("40/v,").await;
    assert!(p.recv().await.starts_with("40/v,"));
    let s = sockets.lock()[0].clone();
    let before = sockeye::metrics::volatile_drops();
    // Nothing is parked: the first packet stays queued, so the volatile ones go.
    s.emit("n", &1).unwrap();
    s.volatile().emit("n", &2).unwrap();
    let dropped = s
        .volatile()
        .timeout(Duration::from_millis(100))
        .emit_with_ack("n", &3);
    s.emit("n", &4).unwrap();
    assert!(sockeye::metrics::volatile_drops() >= before + 2);
    // Never sent, so never answered.
    let res = tokio::time::timeout(Duration::from_secs(2), dropped.recv()).await;
    assert!(
        matches!(res, Ok(Err(sockeye::AckError::Timeout(_)))),
        "{res:?}"
    );
    assert_eq!(p.recv().await, r#"42/v,["n",1]"#);
    assert_eq!(p.recv().await, r#"42/v,["n",4]"#);

    // A client that has read everything gets a volatile packet.
    let mut ws = Ws::connect_ns(server.addr, "/v").await;
    let s = sockets.lock()[1].clone();
    s.volatile().compress(false).emit("n", &5).unwrap();
    assert_eq!(ws.recv_text().await, r#"42/v,["n",5]"#);
}

#[tokio::test]
async fn a_broadcast_with_acks_names_each_socket_and_each_silent_one() {
    let sockets: Arc<Mutex<Vec<SocketRef>>> = Arc::default();
    let sk = sockets.clone();
    let server = start_with(builder(), move |io: &SocketIo, _| {
        io.ns("/a", move |s: SocketRef| sk.lock().push(s));
    })
    .await;
    let mut answering = Ws::connect_ns(server.addr, "/a").await;
    let mut silent = Ws::connect_ns(server.addr, "/a").await;
    let (first, second) = {
        let list = sockets.lock();
        (list[0].clone(), list[1].clone())
    };
    let ns = first.ns().clone();
    let op = ns.operator().timeout(Duration::from_millis(300));
    let asking = tokio::spawn(async move { op.emit_with_ack("q", &"?").await });
    let question = answering.recv_text().await;
    let id = question
        .strip_prefix("42/a,")
        .and_then(|r| r.split('[').next())
        .expect("an ack id");
    answering.text(&format!(r#"43/a,{id}["yes"]"#)).await;
    assert!(silent.recv_text().await.starts_with("42/a,"));
    let mut replies = asking.await.unwrap().unwrap();
    replies.sort_by_key(|r| r.result.is_err());
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].socket, Some(first.id()));
    let answer: String = replies[0].result.as_ref().unwrap().arg(0).unwrap();
    assert_eq!(answer, "yes");
    assert_eq!(replies[1].socket, Some(second.id()));
    assert_eq!(
        replies[1].result.as_ref().unwrap_err(),
        &AckFailure::Timeout
    );
    assert_eq!(
        second.pending_acks(),
        0,
        "the silent socket's entry is forgotten"
    );
}

#[tokio::test]
async fn a_middleware_still_running_when_the_socket_leaves_does_not_call_the_handler() {
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let server = start_with(builder(), move |io: &SocketIo, _| {
        let c = c.clone();
        io.ns("/m", move |s: SocketRef| {
            s.use_middleware(|| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<(), Refusal>(())
            });
            let c = c.clone();
            s.on("late", move |Data(_): Data<u8>| {
                c.fetch_add(1, Ordering::SeqCst);
            });
        });
    })
    .await;
    let mut ws = Ws::connect_ns(server.addr, "/m").await;
    ws.text(r#"42/m,["late",1]"#).await;
    ws.text("41/m,").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(called.load(Ordering::SeqCst), 0);
    ws.text("1").await;
    server.assert_no_leak().await;
}

#[tokio::test]
async fn with_recovery_on_an_emit_goes_through_the_adapter_and_is_seen_once() {
    let sockets: Arc<Mutex<Vec<SocketRef>>> = Arc::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let (sk, sn) = (sockets.clone(), seen.clone());
    // No ping meanwhile: a queued one would make the volatile packet go.
    let b = builder()
        .ping_interval(Duration::from_secs(10))
        .connection_state_recovery(sockeye::ConnectionStateRecovery::new());
    let server = start_with(b, move |io: &SocketIo, _| {
        io.ns("/r", move |s: SocketRef| {
            let sn = sn.clone();
            s.on_any_outgoing(move |Event(name): Event| {
                assert_eq!(name, "x");
                sn.fetch_add(1, Ordering::SeqCst);
            });
            sk.lock().push(s);
        });
    })
    .await;
    let mut ws = Ws::connect_ns(server.addr, "/r").await;
    let s = sockets.lock()[0].clone();
    s.emit("x", &1).unwrap();
    // Kept for the client: the packet carries its offset, as Node's.
    let kept = ws.recv_text().await;
    assert!(kept.starts_with(r#"42/r,["x",1,""#), "{kept}");
    // A volatile one is neither numbered nor kept.
    s.volatile().emit("x", &2).unwrap();
    assert_eq!(ws.recv_text().await, r#"42/r,["x",2]"#);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}
