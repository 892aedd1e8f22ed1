//! Hostile Engine.IO packets, heartbeat and upgrade sequences (catalogue rows E, U).

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The upgrade query for a polling session.
fn upgrade_query(sid: &str) -> String {
    format!("EIO=4&transport=websocket&sid={sid}")
}

/// E1: a ping from a v4 client (`2`, `2probe` outside an upgrade) closes the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e1_client_ping_closes() {
    let srv = start().await;
    for ping in ["2", "2probe"] {
        let mut ws = Ws::connect_sio(srv.addr).await;
        ws.text(ping).await;
        ws.expect_close().await;
    }
    assert!(wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 2).await);
    srv.assert_healthy_no_leak().await;
}

/// E2: unsolicited pongs do not end the session (like Node, each one postpones the next ping
/// by the interval); the session lives on as long as real pings are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2_unsolicited_pongs_are_ignored() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text("3").await;
    ws.text("3").await;
    ws.text("3probe").await;
    // Longer than ping_interval + ping_timeout (300 + 400 ms), answering the real pings.
    ws.assert_quiet(Duration::from_millis(1000)).await;
    ws.assert_echo("alive").await;
    assert_eq!(srv.stats.disconnects(), 0);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// E3: a client that never answers pings is closed after ping_interval + ping_timeout; its
/// rooms and pending acks are freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e3_never_answering_pings() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(r#"420["join",["deaf"]]"#).await;
    assert_eq!(ws.recv_text().await, r#"430["joined"]"#);
    let sock = srv.stats.last_socket().expect("socket");
    let ack = sock.timeout(Duration::from_secs(4)).emit_with_ack("q", &1);
    assert_eq!(sock.pending_acks(), 1);
    assert_eq!(srv.io.to("deaf").sockets().len(), 1);
    let t0 = Instant::now();
    // Read everything, answer nothing.
    let mut saw_ping = false;
    let code = loop {
        match ws.recv_within(Duration::from_secs(3)).await {
            Some(Frame::Text(t)) if t == "2" => saw_ping = true,
            Some(Frame::Text(_)) => {}
            Some(Frame::Close(c)) => break c,
            Some(Frame::Eof) => break None,
            other => panic!("unexpected {other:?}"),
        }
    };
    let elapsed = t0.elapsed();
    assert!(saw_ping, "the server pinged");
    assert!(code.is_none_or(|c| c == 1000), "{code:?}");
    assert!(
        elapsed >= Duration::from_millis(350) && elapsed < Duration::from_millis(2500),
        "closed after {elapsed:?}"
    );
    assert_eq!(srv.stats.reasons(), vec!["ping timeout"]);
    assert!(ack.await.is_err(), "the pending ack ends");
    assert_eq!(sock.pending_acks(), 0);
    assert!(srv.io.to("deaf").sockets().is_empty(), "rooms freed");
    drop(sock);
    srv.assert_healthy_no_leak().await;
}

/// E4: a close packet from the client closes cleanly; the disconnect handler runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e4_client_close_packet() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text("1").await;
    let code = ws.expect_close().await;
    assert!(code.is_none_or(|c| c == 1000), "{code:?}");
    assert!(wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 1).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(srv.stats.disconnects(), 1);
    assert_eq!(srv.stats.reasons(), vec!["transport close"]);
    // Over polling too.
    let p = Poller::connect_sio(srv.addr).await;
    p.post_ok("1").await;
    p.assert_closed().await;
    assert!(wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 2).await);
    srv.assert_healthy_no_leak().await;
}

/// E5: `6` (noop) and `5` (upgrade) on a fresh WebSocket are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e5_noop_and_upgrade_outside_an_upgrade() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text("6").await;
    ws.text("5").await;
    ws.text("6junk").await;
    ws.assert_echo("ignored").await;
    assert_eq!(srv.stats.disconnects(), 0);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// U1: a WebSocket opened with a polling sid that then sends nothing is closed after the
/// upgrade timeout; the polling session goes on; nothing leaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u1_upgrade_then_silence() {
    let srv = start().await;
    let mut p = Poller::connect_sio(srv.addr).await;
    let mut ws = Ws::upgrade_with(srv.addr, &upgrade_query(&p.sid), &[])
        .await
        .expect("upgrade");
    let t0 = Instant::now();
    match ws.recv_within(Duration::from_secs(3)).await {
        Some(Frame::Close(_)) | Some(Frame::Eof) => {}
        None => panic!("the probe WebSocket was not closed"),
        Some(f) => panic!("unexpected {f:?} on a probe WebSocket"),
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "closed too early"
    );
    // The polling session goes on.
    p.post_ok(r#"42["echo","polling"]"#).await;
    assert_eq!(p.recv().await, r#"42["echo","polling"]"#);
    assert_eq!(srv.stats.disconnects(), 0);
    // And may upgrade later.
    let mut ws = Ws::upgrade_with(srv.addr, &upgrade_query(&p.sid), &[])
        .await
        .expect("second upgrade");
    ws.text("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    ws.text("5").await;
    ws.assert_echo("upgraded late").await;
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// U2: `2probe` answered, then no `5`: the WebSocket closes after the upgrade timeout; the
/// pending poll got `6`; the polling session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u2_probe_without_upgrade() {
    let srv = start().await;
    let mut p = Poller::connect_sio(srv.addr).await;
    let mut ws = Ws::upgrade_with(srv.addr, &upgrade_query(&p.sid), &[])
        .await
        .expect("upgrade");
    ws.text("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    let res = eio_get(srv.addr, &p.sid).await;
    assert_eq!(res.status, 200);
    assert!(
        res.text().split(SEP).any(|x| x == "6"),
        "noop for the poll: {:?}",
        res.text()
    );
    let code = ws.expect_close().await;
    assert!(code.is_none_or(|c| c == 1000 || c == 1002), "{code:?}");
    p.post_ok(r#"42["echo","after abort"]"#).await;
    assert_eq!(p.recv().await, r#"42["echo","after abort"]"#);
    assert_eq!(srv.stats.disconnects(), 0);
    p.post_ok("1").await;
    srv.assert_healthy_no_leak().await;
}

/// U3: a second concurrent upgrade for one sid is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u3_two_concurrent_upgrades() {
    let srv = start().await;
    let p = Poller::connect_sio(srv.addr).await;
    let mut first = Ws::upgrade_with(srv.addr, &upgrade_query(&p.sid), &[])
        .await
        .expect("first upgrade");
    let second = Ws::upgrade_with(srv.addr, &upgrade_query(&p.sid), &[]).await;
    match second {
        Ok(mut ws) => {
            // Accepted at the HTTP level: it must be closed without taking the session.
            ws.text("2probe").await;
            let f = ws.recv_within(Duration::from_secs(2)).await;
            assert!(
                matches!(f, Some(Frame::Close(_)) | Some(Frame::Eof)),
                "second upgrade answered {f:?}"
            );
        }
        Err(res) => assert_eq!(res.status, 400),
    }
    first.text("2probe").await;
    assert_eq!(first.recv_text().await, "3probe");
    first.text("5").await;
    first.assert_echo("first wins").await;
    first.text("1").await;
    first.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// U4: a WebSocket with the sid of a session already upgraded to WebSocket is completed and
/// closed at once (no status code), as Node does; the existing socket is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u4_websocket_with_upgraded_sid() {
    let srv = start().await;
    let p = Poller::connect_sio(srv.addr).await;
    let mut ws = Ws::upgrade_with(srv.addr, &upgrade_query(&p.sid), &[])
        .await
        .expect("upgrade");
    ws.text("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    ws.text("5").await;
    ws.assert_echo("upgraded").await;
    let mut second = Ws::upgrade_with(srv.addr, &upgrade_query(&p.sid), &[])
        .await
        .expect("completed, then closed");
    second.text("2probe").await;
    assert_eq!(
        second.recv_within(Duration::from_secs(2)).await,
        Some(Frame::Close(None)),
        "closed at once, without taking the session"
    );
    ws.assert_echo("untouched").await;
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// U4 (direct WebSocket): a WebSocket with the sid of a session opened directly on
/// WebSocket is completed and closed at once; the existing socket keeps its queue (no hijack
/// via a probe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u4_websocket_with_direct_websocket_sid() {
    let srv = start().await;
    let (mut ws, sid) = Ws::connect_eio(srv.addr).await;
    ws.text("40").await;
    assert!(ws.recv_text().await.starts_with("40{"));
    let mut hijack = Ws::upgrade_with(srv.addr, &upgrade_query(&sid), &[])
        .await
        .expect("completed, then closed");
    hijack.text("2probe").await;
    hijack.text("5").await;
    assert_eq!(
        hijack.recv_within(Duration::from_secs(2)).await,
        Some(Frame::Close(None)),
        "closed at once"
    );
    ws.text(r#"42["echo","mine"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["echo","mine"]"#);
    let got = hijack.recv_within(Duration::from_millis(300)).await;
    assert!(
        matches!(got, None | Some(Frame::Eof)),
        "the closed WebSocket received {got:?}"
    );
    ws.assert_echo("untouched").await;
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// U9: `5` before `2probe` closes the probe or is ignored; either way the polling transport
/// keeps the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u9_upgrade_before_probe() {
    let srv = start().await;
    let mut p = Poller::connect_sio(srv.addr).await;
    let mut ws = Ws::upgrade_with(srv.addr, &upgrade_query(&p.sid), &[])
        .await
        .expect("upgrade");
    ws.text("5").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // No state change: polling still carries the session.
    p.post_ok(r#"42["echo","still polling"]"#).await;
    assert_eq!(p.recv().await, r#"42["echo","still polling"]"#);
    drop(ws);
    p.post_ok("1").await;
    srv.assert_healthy_no_leak().await;
}

/// S17: no CONNECT within the connect timeout closes the connection (WebSocket and polling).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s17_no_connect_in_time() {
    let b = builder()
        .ping_interval(Duration::from_secs(3))
        .connect_timeout(Duration::from_millis(300));
    let srv = start_with(b, |_, _| {}).await;
    let (mut ws, _) = Ws::connect_eio(srv.addr).await;
    let t0 = Instant::now();
    ws.expect_close().await;
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(2000),
        "closed after {elapsed:?}"
    );
    let p = Poller::open(srv.addr).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.assert_closed().await;
    srv.assert_healthy_no_leak().await;
}

/// S17b: the connect timeout ends with the first namespace joined, as in Node (it clears
/// its timer then): a client that leaves every namespace afterwards keeps its connection.
/// Connections opened later, in a burst, each still get their own timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s17b_connect_timeout_ends_with_the_first_namespace() {
    let b = builder()
        .ping_interval(Duration::from_secs(3))
        .connect_timeout(Duration::from_millis(300));
    let srv = start_with(b, |_, _| {}).await;
    let mut joined = Ws::connect_sio(srv.addr).await;
    joined.text("41").await;
    // Past the timeout, the connection is open and may join again.
    joined.assert_quiet(Duration::from_millis(600)).await;
    joined.text("40").await;
    assert!(joined.recv_text().await.starts_with("40{\"sid\":"));
    // A burst of connections that join nothing, opened while the first one's deadline is
    // already queued: every one of them is closed in time.
    let t0 = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(Ws::connect_eio(srv.addr).await.0);
    }
    for ws in &mut idle {
        ws.expect_close().await;
    }
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2000),
        "closed after {elapsed:?}"
    );
    joined.assert_echo("still here").await;
    drop(joined);
    srv.assert_healthy_no_leak().await;
}
