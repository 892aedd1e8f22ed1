//! Hostile long-polling payloads and request patterns (catalogue rows P, E7, P6).

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Sends a request on a new connection and returns the stream without reading.
async fn send_only(srv: &Server, raw: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    s.write_all(raw).await.expect("write");
    s
}

/// P1: a POST whose Content-Length is over `max_payload` gets 413 before the body is sent;
/// the session stays open (Sockeye's decision, like Node's `maxHttpBufferSize` answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_oversized_post_is_413_and_session_stays() {
    let srv = start().await;
    let mut p = Poller::connect_sio(srv.addr).await;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000001\r\n\r\n4",
        poll_url(&p.sid)
    );
    let mut stream = send_only(&srv, head.as_bytes()).await;
    let mut buf = Vec::new();
    // Nothing more is sent: the answer must come before the body.
    let res = tokio::time::timeout(Duration::from_secs(2), read_response(&mut stream, &mut buf))
        .await
        .expect("413 must come before the body is read")
        .expect("a response");
    assert_eq!(res.status, 413);
    drop(stream);
    // A body over the limit with the exact length: 413 too.
    let big = format!("4{}", "a".repeat(10_000));
    assert_eq!(p.post(&big).await.status, 413);
    // The session goes on.
    p.post_ok(r#"42["echo","after 413"]"#).await;
    assert_eq!(p.recv().await, r#"42["echo","after 413"]"#);
    // Exactly max_payload bytes is accepted.
    let pad = "x".repeat(10_000 - r#"42["echo",""]"#.len());
    let exact = format!(r#"42["echo","{pad}"]"#);
    assert_eq!(exact.len(), 10_000);
    p.post_ok(&exact).await;
    assert_eq!(p.recv().await, exact);
    p.post_ok("1").await;
    srv.assert_healthy_no_leak().await;
}

/// P3: an octet-stream body on a v4 session is 400 (finished, not hanging) and closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p3_octet_stream_body() {
    let srv = start().await;
    let p = Poller::connect_sio(srv.addr).await;
    let res = request(
        srv.addr,
        "POST",
        &poll_url(&p.sid),
        &[("Content-Type", "application/octet-stream")],
        &[1, 2, 3],
    )
    .await;
    assert_eq!(res.status, 400);
    p.assert_closed().await;
    assert_eq!(srv.stats.disconnects(), 1);
    srv.assert_healthy_no_leak().await;
}

/// P4: a body that is no packet (`abc`) closes the session (400 here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_garbage_body_closes() {
    let srv = start().await;
    for body in ["abc", "x", "\u{7f}", "9"] {
        let p = Poller::connect_sio(srv.addr).await;
        let res = p.post(body).await;
        assert!(
            res.status == 400 || res.status == 200,
            "{body:?}: {}",
            res.status
        );
        p.assert_closed().await;
    }
    srv.assert_healthy_no_leak().await;
}

/// P5: 20 000 packets in one body: bounded work; over the packet cap the session closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_twenty_thousand_packets() {
    let srv = start_with(builder().max_payload(1_000_000), |_, _| {}).await;
    let p = Poller::connect_sio(srv.addr).await;
    let body = vec!["6"; 20_000].join("\x1e");
    let t0 = std::time::Instant::now();
    let res = p.post(&body).await;
    assert!(t0.elapsed() < Duration::from_secs(2), "bounded work");
    // As Node: the request is answered `ok`, the session is closed.
    assert_eq!(res.status, 200, "over the packet cap: {:?}", res.text());
    assert_eq!(res.text(), "ok");
    p.assert_closed().await;

    // 2000 echoes are within the cap: all answered, the output queue drains.
    let mut p = Poller::connect_sio(srv.addr).await;
    let body = vec![r#"42["echo",1]"#; 2000].join("\x1e");
    p.post_ok(&body).await;
    for _ in 0..2000 {
        assert_eq!(p.recv().await, r#"42["echo",1]"#);
    }
    p.post_ok("1").await;
    srv.assert_healthy_no_leak().await;
}

/// P6: a ping from a v4 client over polling closes the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p6_client_ping_over_polling_closes() {
    let srv = start().await;
    let p = Poller::connect_sio(srv.addr).await;
    let res = p.post("2").await;
    assert!(res.status == 400 || res.status == 200);
    p.assert_closed().await;
    srv.assert_healthy_no_leak().await;
}

/// P7: empty records are ignored: an empty body, a trailing, leading or doubled separator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p7_empty_records_are_ignored() {
    let srv = start().await;
    let mut p = Poller::open(srv.addr).await;
    p.post_ok("40\x1e").await;
    assert!(p.recv().await.starts_with("40{\"sid\":"));
    p.post_ok("").await;
    p.post_ok("\x1e\x1e").await;
    p.post_ok("\x1e42[\"echo\",\"a\"]").await;
    p.post_ok("42[\"echo\",\"b\"]\x1e\x1e42[\"echo\",\"c\"]\x1e")
        .await;
    for tag in ["a", "b", "c"] {
        assert_eq!(p.recv().await, format!("42[\"echo\",\"{tag}\"]"));
    }
    p.post_ok("1").await;
    srv.assert_healthy_no_leak().await;
}

/// P8: bad base64 closes; `b` + 2 MB is refused by size before any decoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p8_bad_base64() {
    let srv = start().await;
    for body in ["b!!!", "b", "bQQ", "b====", "bA"] {
        let p = Poller::connect_sio(srv.addr).await;
        let res = p.post(body).await;
        assert!(
            res.status == 400 || res.status == 200,
            "{body}: {}",
            res.status
        );
        // Bad base64 closes in the engine; a valid binary with no packet waiting closes in
        // Socket.IO (B8).
        p.assert_closed().await;
    }
    let p = Poller::connect_sio(srv.addr).await;
    let big = format!("b{}", "A".repeat(2 << 20));
    assert_eq!(p.post(&big).await.status, 413);
    p.post_ok("1").await;
    srv.assert_healthy_no_leak().await;
}

/// P9: multibyte characters where the packet type goes: an invalid type, never a panic;
/// multibyte data is carried intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p9_multibyte_packets() {
    let srv = start().await;
    for body in ["éabcd", "2éabc", "4éabc", "é", "4é"] {
        let p = Poller::connect_sio(srv.addr).await;
        let res = p.post(body).await;
        assert!(
            res.status == 400 || res.status == 200,
            "{body}: {}",
            res.status
        );
        p.assert_closed().await;
    }
    let mut p = Poller::connect_sio(srv.addr).await;
    p.post_ok("42[\"echo\",\"éabc𝕊\"]").await;
    assert_eq!(p.recv().await, "42[\"echo\",\"éabc𝕊\"]");
    p.post_ok("1").await;
    srv.assert_healthy_no_leak().await;
}

/// P10: two concurrent GETs: the first gets `1` (close), the second 400, the session is
/// closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p10_concurrent_gets() {
    let b = builder().ping_interval(Duration::from_secs(3));
    let srv = start_with(b, |_, _| {}).await;
    let p = Poller::connect_sio(srv.addr).await;
    let raw = format_request("GET", &poll_url(&p.sid), &[], b"");
    let mut first = send_only(&srv, &raw).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = raw_request(srv.addr, &raw).await;
    assert_eq!(second.status, 400, "second GET: {:?}", second.text());
    let mut buf = Vec::new();
    let first = read_response(&mut first, &mut buf)
        .await
        .expect("first GET answered");
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), "1", "the first GET gets the close packet");
    eio_get(srv.addr, &p.sid).await.assert_error(400, 1);
    assert_eq!(srv.stats.disconnects(), 1);
    srv.assert_healthy_no_leak().await;
}

/// P11: two concurrent POSTs: the second gets 400 and the session is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p11_concurrent_posts() {
    let b = builder().ping_interval(Duration::from_secs(3));
    let srv = start_with(b, |_, _| {}).await;
    let p = Poller::connect_sio(srv.addr).await;
    // The first POST announces 20 bytes and sends 3.
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n42[",
        poll_url(&p.sid)
    );
    let first = send_only(&srv, head.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = p.post(r#"42["echo","x"]"#).await;
    assert_eq!(second.status, 400, "second POST: {:?}", second.text());
    p.assert_closed().await;
    drop(first);
    assert!(wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 1).await);
    srv.assert_healthy_no_leak().await;
}

/// P12: polling requests with the sid of a session upgraded to WebSocket get 400; the
/// WebSocket session is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p12_polling_on_upgraded_session() {
    let srv = start().await;
    let p = Poller::connect_sio(srv.addr).await;
    let mut ws = Ws::upgrade_with(
        srv.addr,
        &format!("EIO=4&transport=websocket&sid={}", p.sid),
        &[],
    )
    .await
    .expect("upgrade");
    ws.text("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    ws.text("5").await;
    // Let the upgrade land.
    ws.assert_echo("upgraded").await;
    let res = eio_get(srv.addr, &p.sid).await;
    assert_eq!(res.status, 400, "GET after upgrade: {:?}", res.text());
    let res = p.post(r#"42["echo","via polling"]"#).await;
    assert_eq!(res.status, 400, "POST after upgrade: {:?}", res.text());
    ws.assert_echo("still upgraded").await;
    assert_eq!(srv.stats.disconnects(), 0);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// E7: a polling body that is not UTF-8 closes the session (no lossy replacement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e7_invalid_utf8_body() {
    let srv = start().await;
    for body in [
        &[0x34u8, 0xff, 0xfe][..],
        &[0x34, 0x32, 0x5b, 0xc0, 0xaf, 0x5d][..],
    ] {
        let p = Poller::connect_sio(srv.addr).await;
        let res = eio_post(srv.addr, &p.sid, body).await;
        assert_eq!((res.status, res.text().as_str()), (200, "ok"), "{body:?}");
        p.assert_closed().await;
    }
    srv.assert_healthy_no_leak().await;
}
