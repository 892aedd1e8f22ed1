//! Acks, rooms, handler faults and connection bookkeeping (catalogue rows A, R, I).

mod common;

use std::future::IntoFuture;
use std::time::Duration;

use common::*;
use sockeye::AckError;

/// Reads for `dur`, answering pings; returns the text messages.
async fn drain(ws: &mut Ws, dur: Duration) -> Vec<String> {
    let deadline = std::time::Instant::now() + dur;
    let mut texts = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return texts;
        }
        match ws.recv_within(left).await {
            None => return texts,
            Some(Frame::Text(t)) if t == "2" => ws.text("3").await,
            Some(Frame::Text(t)) => texts.push(t),
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
}

/// A1: an emit with ack to a client that never answers times out, and the pending entry is
/// removed (also when the future is dropped unawaited); a late answer is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_ack_timeout_frees_the_entry() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    let sock = srv.stats.last_socket().expect("socket");
    assert_eq!(sock.pending_acks(), 0);
    let fut = sock
        .timeout(Duration::from_millis(200))
        .emit_with_ack("q", &"never");
    assert_eq!(sock.pending_acks(), 1);
    let (res, texts) = tokio::join!(
        fut.into_future(),
        drain(&mut ws, Duration::from_millis(300))
    );
    assert!(matches!(res, Err(AckError::Timeout(_))), "{res:?}");
    assert_eq!(sock.pending_acks(), 0, "the entry is removed on timeout");
    assert_eq!(texts.len(), 1, "{texts:?}");
    let q = &texts[0];
    assert!(
        q.starts_with("42") && q.ends_with(r#"["q","never"]"#),
        "{q}"
    );
    // The client answers late: ignored.
    let id: String = q[2..].chars().take_while(char::is_ascii_digit).collect();
    ws.text(&format!(r#"43{id}["late"]"#)).await;
    ws.assert_echo("after late").await;
    // A dropped future frees its entry too.
    let fut = sock.emit_with_ack("q", &"dropped");
    assert_eq!(sock.pending_acks(), 1);
    drop(fut);
    assert_eq!(
        sock.pending_acks(),
        0,
        "the entry is removed when the future is dropped"
    );
    // So does one dropped while it waits (a `select!` or a timeout around it), for one
    // socket and for a broadcast.
    let waited = tokio::time::timeout(
        Duration::from_millis(50),
        sock.emit_with_ack("q", &"abandoned").into_future(),
    )
    .await;
    assert!(waited.is_err(), "{waited:?}");
    assert_eq!(sock.pending_acks(), 0, "an abandoned wait leaves no entry");
    let waited = tokio::time::timeout(
        Duration::from_millis(50),
        srv.io.emit_with_ack("q", &"abandoned broadcast"),
    )
    .await;
    assert!(waited.is_err(), "the client answers nothing");
    assert_eq!(
        sock.pending_acks(),
        0,
        "an abandoned broadcast leaves no entry"
    );
    let texts = drain(&mut ws, Duration::from_millis(100)).await;
    assert_eq!(
        texts.len(),
        3,
        "the dropped one and the two abandoned: {texts:?}"
    );
    // Many at once.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let f = sock
                .timeout(Duration::from_millis(100))
                .emit_with_ack("q", &i);
            tokio::spawn(f.into_future())
        })
        .collect();
    let texts = drain(&mut ws, Duration::from_millis(300)).await;
    assert_eq!(texts.len(), 50);
    for t in tasks {
        let res = t.await.expect("task");
        assert!(matches!(res, Err(AckError::Timeout(_))), "{res:?}");
    }
    assert_eq!(sock.pending_acks(), 0);
    assert_eq!(srv.stats.disconnects(), 0);
    drop(sock);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// A4: a client that reuses one ack id concurrently gets one reply per request, each with
/// that id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a4_reused_client_ack_id() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(r#"425["echo-ack","a"]"#).await;
    ws.text(r#"425["echo-ack","b"]"#).await;
    ws.text(r#"425["echo-ack","c"]"#).await;
    let mut got = vec![
        ws.recv_text().await,
        ws.recv_text().await,
        ws.recv_text().await,
    ];
    got.sort();
    assert_eq!(got, vec![r#"435["a"]"#, r#"435["b"]"#, r#"435["c"]"#]);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// N2: a connect middleware that never finishes is dropped when its connection closes, and
/// with it what it holds: the pending socket, and the rooms it joined while pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_middleware_is_dropped_with_its_connection() {
    use sockeye::adapter::{Adapter, LocalAdapter, LocalHandle};
    use sockeye::extract::Refusal;
    use sockeye::SocketRef;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts the middleware futures alive.
    struct Held(Arc<AtomicUsize>);
    impl Drop for Held {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let held = Arc::new(AtomicUsize::new(0));
    // The local side of `/stuck`, whose rooms the test watches.
    let stuck: Arc<parking_lot::Mutex<Option<LocalHandle>>> = Arc::default();
    let a2 = stuck.clone();
    let b = builder().adapter(move |local: LocalHandle| -> Arc<dyn Adapter> {
        if local.name() == "/stuck" {
            *a2.lock() = Some(local.clone());
        }
        Arc::new(LocalAdapter::new(local))
    });
    let stuck_rooms = move || stuck.lock().as_ref().map(|l| l.rooms()).unwrap_or_default();
    let h2 = held.clone();
    let srv = start_with(b, move |io, _| {
        let h2 = h2.clone();
        io.ns("/stuck", |_: SocketRef| {})
            .with(move |s: SocketRef| {
                h2.fetch_add(1, Ordering::SeqCst);
                let guard = Held(h2.clone());
                async move {
                    let _guard = guard;
                    s.join("r");
                    std::future::pending::<()>().await;
                    Ok::<(), Refusal>(())
                }
            });
    })
    .await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text("40/stuck,").await;
    assert!(
        wait_until(Duration::from_secs(2), || held.load(Ordering::SeqCst) == 1
            && stuck_rooms().iter().any(|r| r == "r"))
        .await,
        "the middleware did not start"
    );
    // The client gives up: the middleware, its socket and its room go.
    ws.text("1").await;
    ws.expect_close().await;
    assert!(
        wait_until(Duration::from_secs(2), || held.load(Ordering::SeqCst) == 0).await,
        "the middleware outlived its connection"
    );
    assert!(stuck_rooms().is_empty(), "{:?}", stuck_rooms());
    // A connection whose only namespace is stuck is closed by the connect timeout, and the
    // middleware goes with it.
    let (mut ws, _) = Ws::connect_eio(srv.addr).await;
    ws.text("40/stuck,").await;
    assert!(
        wait_until(Duration::from_secs(2), || held.load(Ordering::SeqCst) == 1).await,
        "the middleware did not start"
    );
    ws.expect_close().await;
    assert!(
        wait_until(Duration::from_secs(2), || held.load(Ordering::SeqCst) == 0).await,
        "the middleware outlived the connect timeout"
    );
    assert!(stuck_rooms().is_empty());
    srv.assert_healthy_no_leak().await;
}

/// N1 / N4: a socket that joins a room and is then refused by a middleware leaves no room
/// behind (the client gets the `connect_error`); a socket that joins after it disconnected
/// joins nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_of_refused_and_disconnected_sockets_are_gone() {
    use sockeye::adapter::{Adapter, LocalAdapter, LocalHandle};
    use sockeye::extract::Refusal;
    use sockeye::SocketRef;
    use std::sync::Arc;

    /// The local side of every namespace made.
    type Made = parking_lot::Mutex<Vec<LocalHandle>>;
    let adapters: Arc<Made> = Arc::default();
    let a2 = adapters.clone();
    let b = builder().adapter(move |local: LocalHandle| -> Arc<dyn Adapter> {
        a2.lock().push(local.clone());
        Arc::new(LocalAdapter::new(local))
    });
    let srv = start_with(b, |io, _| {
        io.ns("/refuse", |_: SocketRef| {})
            .with(|s: SocketRef| async move {
                s.join("r");
                Err::<(), Refusal>(Refusal::new("no"))
            });
    })
    .await;
    let adapter = |name: &str| {
        // The newest: a namespace declared again gets a new adapter.
        adapters
            .lock()
            .iter()
            .rev()
            .find(|l| l.name() == name)
            .cloned()
            .expect("adapter")
    };
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text("40/refuse,").await;
    assert_eq!(ws.recv_text().await, r#"44/refuse,{"message":"no"}"#);
    assert!(
        adapter("/refuse").rooms().is_empty(),
        "{:?}",
        adapter("/refuse").rooms()
    );
    // N4: on `/`, a join after the disconnect is a no-op.
    let sock = srv.stats.last_socket().expect("socket");
    sock.join("before");
    assert!(adapter("/").rooms().iter().any(|r| r == "before"));
    sock.disconnect();
    assert!(
        wait_until(Duration::from_secs(2), || adapter("/").rooms().is_empty()).await,
        "{:?}",
        adapter("/").rooms()
    );
    sock.join("after");
    assert!(
        adapter("/").rooms().is_empty(),
        "{:?}",
        adapter("/").rooms()
    );
    drop(sock);
    assert_eq!(ws.recv_text().await, "41", "the DISCONNECT of `/`");
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// W12 / A3: a client that sends and never reads. Its queue overflows and its session
/// closes; its connection, whose receive window stays shut, then gets `ping_timeout` to take
/// what is left and ends without it: no task, and none of its buffers, outlive the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_let_go_after_its_session_closes() {
    use tokio::io::AsyncWriteExt;
    // Pings far apart: only the overflow can close the session.
    let b = builder()
        .ping_interval(Duration::from_secs(30))
        .ping_timeout(Duration::from_millis(600))
        .max_queued_bytes(256 << 10);
    let srv = start_with(b, |_, _| {}).await;
    let mut stream = Ws::connect_sio(srv.addr).await.stream;
    let frame = masked_frame(
        0x81,
        format!(r#"42["echo","{}"]"#, "x".repeat(9_000)).as_bytes(),
    );
    let started = std::time::Instant::now();
    while srv.stats.disconnects() == 0 && started.elapsed() < Duration::from_secs(10) {
        // Whole frames only: a write that stalls (the server stopped reading) ends the loop,
        // leaving at most one frame unfinished.
        match tokio::time::timeout(Duration::from_millis(300), stream.write_all(&frame)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    assert!(
        wait_until(Duration::from_secs(5), || srv.stats.disconnects() == 1).await,
        "the session did not close"
    );
    assert_eq!(srv.stats.reasons(), vec!["transport error"]);
    let closed = std::time::Instant::now();
    // The client still reads nothing; the connection ends on its own.
    assert!(
        srv.io.shutdown(Duration::from_secs(5)).await,
        "the connection outlived its session"
    );
    assert!(
        closed.elapsed() >= Duration::from_millis(300),
        "the client was not given time to read: {:?}",
        closed.elapsed()
    );
    drop(stream);
}

/// R6: a socket in rooms a, b and c gets a broadcast to all three rooms once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_broadcast_to_overlapping_rooms_delivers_once() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(r#"421["join",["a","b","c"]]"#).await;
    assert_eq!(ws.recv_text().await, r#"431["joined"]"#);
    let mut other = Ws::connect_sio(srv.addr).await;
    other.text(r#"421["join",["b"]]"#).await;
    assert_eq!(other.recv_text().await, r#"431["joined"]"#);
    srv.io
        .to(["a", "b", "c"])
        .emit("x", &1)
        .await
        .expect("emit");
    assert_eq!(ws.recv_text().await, r#"42["x",1]"#);
    assert_eq!(other.recv_text().await, r#"42["x",1]"#);
    // Nothing more.
    ws.assert_quiet(Duration::from_millis(300)).await;
    other.assert_quiet(Duration::from_millis(50)).await;
    assert_eq!(srv.io.to(["a", "b", "c"]).sockets().len(), 2);
    // Except a room.
    srv.io
        .to(["a", "b"])
        .except("c")
        .emit("y", &2)
        .await
        .expect("emit");
    assert_eq!(other.recv_text().await, r#"42["y",2]"#);
    ws.assert_quiet(Duration::from_millis(200)).await;
    for mut c in [ws, other] {
        c.text("1").await;
        c.expect_close().await;
    }
    assert!(
        wait_until(Duration::from_secs(2), || srv
            .io
            .to(["a", "b", "c"])
            .sockets()
            .is_empty())
        .await,
        "rooms emptied"
    );
    srv.assert_healthy_no_leak().await;
}

/// R9: a broadcast to every socket of a namespace follows its members as they change: one that
/// joins gets the next broadcast, one that left the namespace (its connection still open) or
/// closed gets none, and the others are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r9_broadcast_to_all_follows_the_members() {
    let srv = start().await;
    let mut a = Ws::connect_sio(srv.addr).await;
    srv.io.emit("n", &1).await.expect("emit");
    assert_eq!(a.recv_text().await, r#"42["n",1]"#);
    // A second socket joins: both get the next one (and the same one again: nothing changed).
    let mut b = Ws::connect_sio(srv.addr).await;
    let b_socket = std::sync::Arc::downgrade(&srv.stats.last_socket().expect("b"));
    *srv.stats.last.lock() = None;
    for n in [2, 3] {
        srv.io.emit("n", &n).await.expect("emit");
        assert_eq!(a.recv_text().await, format!(r#"42["n",{n}]"#));
        assert_eq!(b.recv_text().await, format!(r#"42["n",{n}]"#));
    }
    // b leaves the namespace but keeps its connection: it is skipped from then on.
    b.text("41").await;
    let one = || srv.io.of("/").expect("ns").sockets().len() == 1;
    assert!(wait_until(Duration::from_secs(2), one).await, "b left /");
    srv.io.emit("n", &4).await.expect("emit");
    assert_eq!(a.recv_text().await, r#"42["n",4]"#);
    b.assert_quiet(Duration::from_millis(200)).await;
    // Nothing keeps the socket that left (the list of members made for the broadcasts included).
    let freed = || b_socket.upgrade().is_none();
    assert!(
        wait_until(Duration::from_secs(2), freed).await,
        "b's socket is freed"
    );
    // A third one joins, then a closes its connection.
    let mut c = Ws::connect_sio(srv.addr).await;
    srv.io.emit("n", &5).await.expect("emit");
    assert_eq!(a.recv_text().await, r#"42["n",5]"#);
    assert_eq!(c.recv_text().await, r#"42["n",5]"#);
    a.text("1").await;
    a.expect_close().await;
    assert!(wait_until(Duration::from_secs(2), one).await, "a closed");
    srv.io.emit("n", &6).await.expect("emit");
    assert_eq!(c.recv_text().await, r#"42["n",6]"#);
    c.assert_quiet(Duration::from_millis(100)).await;
    b.assert_quiet(Duration::from_millis(50)).await;
    for mut ws in [b, c] {
        ws.text("1").await;
        ws.expect_close().await;
    }
    srv.assert_healthy_no_leak().await;
}

/// R8: a panicking handler (sync or async) is contained: the same client and other clients
/// go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_panicking_handler_is_contained() {
    let srv = start().await;
    let mut bystander = Ws::connect_sio(srv.addr).await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    for _ in 0..3 {
        ws.text(r#"42["panic"]"#).await;
        ws.text(r#"42["panic-async"]"#).await;
    }
    ws.assert_echo("after panics").await;
    bystander.assert_echo("bystander").await;
    srv.assert_healthy().await;
    assert_eq!(
        srv.stats.disconnects(),
        1,
        "only the healthy check's client left"
    );
    for mut c in [ws, bystander] {
        c.text("1").await;
        c.expect_close().await;
    }
    srv.assert_no_leak().await;
}

/// Many clients come and go on both transports: the counts return to zero and every
/// disconnect handler ran once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_no_sessions() {
    let srv = start().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let addr = srv.addr;
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let mut ws = Ws::connect_sio(addr).await;
                ws.assert_echo(&format!("c{i}")).await;
                if i % 4 == 0 {
                    ws.text("1").await;
                    ws.expect_close().await;
                } else {
                    ws.reset();
                }
            } else {
                let mut p = Poller::connect_sio(addr).await;
                p.post_ok(r#"42["echo","p"]"#).await;
                assert_eq!(p.recv().await, r#"42["echo","p"]"#);
                p.post_ok("1").await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    srv.assert_no_leak().await;
    assert!(wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 20).await);
    assert_eq!(srv.stats.connects(), 20);
    srv.assert_healthy_no_leak().await;
}

/// Server-side disconnects: `socket.disconnect()` sends a DISCONNECT packet and keeps the
/// connection; `io.close()` closes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_disconnects() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    let sock = srv.stats.last_socket().expect("socket");
    sock.disconnect();
    assert_eq!(ws.recv_text().await, "41");
    assert!(!sock.connected());
    assert!(
        sock.emit("x", &1).is_err(),
        "emit on a disconnected socket fails"
    );
    assert_eq!(srv.stats.reasons(), vec!["server namespace disconnect"]);
    // The connection stays: join again.
    ws.text("40").await;
    assert!(ws.recv_text().await.starts_with("40{"));
    ws.assert_echo("rejoined").await;
    drop(sock);
    srv.io.close();
    ws.expect_close().await;
    assert!(wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 2).await);
    assert_eq!(srv.stats.reasons()[1], "server shutting down");
    srv.assert_no_leak().await;
}

/// `io.shutdown()`: open sessions get their close (a polling one at its next poll, which the
/// shutdown waits for), and a client that arrives meanwhile is refused instead of being
/// let in to be cut off when the process ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_refuses_new_clients_and_closes_the_open_ones() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    let sid = eio_open(srv.addr).await;
    let io = srv.io.clone();
    let shutdown = tokio::spawn(async move { io.shutdown(Duration::from_secs(5)).await });
    ws.expect_close().await;
    // New clients, over either transport, while the polling session waits for its poll.
    get(srv.addr, "/socket.io/?EIO=4&transport=polling")
        .await
        .assert_error(403, 4);
    match Ws::upgrade_with(srv.addr, "EIO=4&transport=websocket", &[]).await {
        Ok(_) => panic!("a WebSocket client was let in during the shutdown"),
        Err(res) => assert_eq!((res.status, res.text()), (400, "Forbidden".to_owned())),
    }
    assert!(
        !shutdown.is_finished(),
        "the polling session was not waited for"
    );
    let last = eio_get(srv.addr, &sid).await;
    assert_eq!((last.status, last.text()), (200, "1".to_owned()));
    let ended = tokio::time::timeout(Duration::from_secs(3), shutdown)
        .await
        .expect("the shutdown did not end")
        .expect("the shutdown task");
    assert!(ended, "some connection did not close in time");
    assert_eq!(srv.io.connection_count(), 0);
}

/// A connection woken by the server's sends (which look at the stream's readiness instead of
/// reading) still reads everything its client sends between and during them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_on_between_server_pushes() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    let io = srv.io.clone();
    // 300 pushes, 1 ms apart: most wake-ups of this connection come from a sender.
    let pusher = tokio::spawn(async move {
        for i in 0..300 {
            io.emit("push", &i).await.expect("emit");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let mut pushes = Vec::new();
    let mut echoes = Vec::new();
    for round in 0..30 {
        ws.text(&format!(r#"42["echo",{round}]"#)).await;
        // Read until this round's echo is back (pushes arrive in between).
        loop {
            let t = ws.recv_text().await;
            if let Some(n) = t.strip_prefix(r#"42["push","#) {
                pushes.push(n.trim_end_matches(']').parse::<u32>().expect("push number"));
            } else if t == format!(r#"42["echo",{round}]"#) {
                echoes.push(round);
                break;
            } else {
                panic!("unexpected {t}");
            }
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    // Reading goes on while the pusher finishes: the heartbeat's pings (300 ms / 400 ms
    // here, on time to the millisecond) must be answered meanwhile.
    let mut left = Vec::new();
    while !pusher.is_finished() {
        left.extend(drain(&mut ws, Duration::from_millis(50)).await);
    }
    pusher.await.expect("pusher");
    // The pushes still on their way.
    left.extend(drain(&mut ws, Duration::from_millis(300)).await);
    for t in left {
        let n = t
            .strip_prefix(r#"42["push","#)
            .expect("only pushes are left");
        pushes.push(n.trim_end_matches(']').parse().expect("push number"));
    }
    assert_eq!(
        echoes,
        (0..30).collect::<Vec<_>>(),
        "every message was read and answered"
    );
    assert_eq!(
        pushes,
        (0..300).collect::<Vec<_>>(),
        "every push arrived, in order"
    );
    // Quiet now, after a run of sender wake-ups: a message is still read at once (a
    // heartbeat ping may come first).
    ws.text(r#"42["echo","after"]"#).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match ws.recv_within(left).await {
            Some(Frame::Text(t)) if t == "2" => ws.text("3").await,
            Some(Frame::Text(t)) => {
                assert_eq!(t, r#"42["echo","after"]"#);
                break;
            }
            other => panic!("no echo after the pushes: {other:?}"),
        }
    }
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}
