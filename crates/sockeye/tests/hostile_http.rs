//! Hostile HTTP handshakes and queries (catalogue rows H, C, I2, U6).

mod common;

use std::time::Duration;

use common::*;
use sockeye::Cors;

const POLL: &str = "/socket.io/?EIO=4&transport=polling";

/// H1: a missing or unsupported `EIO` is `400 {"code":5}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_unsupported_protocol_version() {
    let srv = start().await;
    for q in [
        "EIO=5&transport=polling",
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=3&transport=polling",
        "EIO=&transport=polling",
    ] {
        let res = get(srv.addr, &format!("/socket.io/?{q}")).await;
        res.assert_error(400, 5);
        assert_eq!(res.json()["message"], "Unsupported protocol version", "{q}");
    }
    assert_eq!(
        srv.io.connection_count(),
        0,
        "no session for a refused handshake"
    );
    srv.assert_healthy_no_leak().await;
}

/// H2: an unknown transport is `400 {"code":0}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_unknown_transport() {
    let srv = start().await;
    for q in [
        "EIO=4&transport=foo",
        "EIO=4&transport=",
        "EIO=4&transport=webtransport",
        "EIO=4",
        "EIO=4&transport=POLLING",
    ] {
        let res = get(srv.addr, &format!("/socket.io/?{q}")).await;
        res.assert_error(400, 0);
        assert_eq!(res.json()["message"], "Transport unknown", "{q}");
    }
    assert_eq!(srv.io.connection_count(), 0);
    srv.assert_healthy_no_leak().await;
}

/// H3: a handshake with another method than GET is `400 {"code":2}`; OPTIONS is a preflight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_bad_handshake_method() {
    let srv = start().await;
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let res = request(srv.addr, method, POLL, &[], b"40").await;
        res.assert_error(400, 2);
    }
    let res = request(
        srv.addr,
        "OPTIONS",
        POLL,
        &[
            ("Origin", "http://a.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .await;
    assert!(
        res.status == 204 || res.status == 200,
        "OPTIONS is a preflight: {} {:?}",
        res.status,
        res.text()
    );
    assert!(
        !res.text().starts_with('0'),
        "OPTIONS must not open a session"
    );
    assert_eq!(srv.io.connection_count(), 0, "no session opened");
    srv.assert_healthy_no_leak().await;
}

/// H4: `transport=websocket` without the upgrade headers is `400 {"code":3}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h4_websocket_without_upgrade_headers() {
    let srv = start().await;
    let res = get(srv.addr, "/socket.io/?EIO=4&transport=websocket").await;
    res.assert_error(400, 3);
    assert_eq!(srv.io.connection_count(), 0);
    srv.assert_healthy_no_leak().await;
}

/// H5: an upgrade with a wrong or duplicated transport gets 400 and no upgrade
/// (a refused upgrade answers in plain text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h5_upgrade_with_bad_transport() {
    let srv = start().await;
    for (q, message) in [
        ("EIO=4&transport=foo", "Transport unknown"),
        ("EIO=4&transport=polling&transport=websocket", "Bad request"),
        ("EIO=4&transport=websocket&transport=polling", "Bad request"),
    ] {
        let res = Ws::upgrade_with(srv.addr, q, &[])
            .await
            .err()
            .unwrap_or_else(|| panic!("{q}: the upgrade must be refused"));
        assert_eq!(res.status, 400, "{q}: {:?}", res.text());
        assert_eq!(res.text(), message, "{q}: plain-text body");
        assert!(res.header("sec-websocket-accept").is_none());
    }
    // Upgrade headers on a polling handshake: no upgrade either.
    let res = Ws::upgrade_with(srv.addr, "EIO=4&transport=polling", &[]).await;
    match res {
        Ok(_) => panic!("a polling handshake must not switch protocols"),
        Err(r) => assert_ne!(r.status, 101),
    }
    assert!(
        wait_until(Duration::from_secs(2), || srv.io.connection_count() <= 1).await,
        "at most the polling handshake's session"
    );
    srv.assert_healthy().await;
}

/// H6: malformed or unknown sids are `400 {"code":1}` and never open a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h6_bad_sids_never_open_a_session() {
    let srv = start().await;
    let long = "A".repeat(10 * 1024);
    let sids = [
        "__proto__",
        "constructor",
        "",
        "%00",
        long.as_str(),
        "a+b/c=d!",
        "AAAAAAAAAAAAAAAAAAAA",
        "..%2F..%2F",
    ];
    for sid in sids {
        let res = eio_get(srv.addr, sid).await;
        res.assert_error(400, 1);
        let res = eio_post(srv.addr, sid, b"40").await;
        res.assert_error(400, 1);
        assert_eq!(
            srv.io.connection_count(),
            0,
            "sid {sid:.20}: no session opened"
        );
    }
    // Over WebSocket too.
    let res = Ws::upgrade_with(srv.addr, "EIO=4&transport=websocket&sid=__proto__", &[])
        .await
        .err()
        .expect("an unknown sid must not upgrade");
    assert_eq!(res.status, 400);
    assert_eq!(srv.io.connection_count(), 0);
    srv.assert_healthy_no_leak().await;
}

/// H7: huge queries, many parameters, repeated keys and bad escapes are refused (or, for
/// repeated equal keys, answered consistently); the server stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h7_hostile_queries() {
    let srv = start().await;
    // 10k parameters.
    let many: String = (0..10_000).map(|i| format!("p{i}=1&")).collect();
    let res = get(
        srv.addr,
        &format!("/socket.io/?{many}EIO=4&transport=polling"),
    )
    .await;
    assert!(
        [400, 414, 431].contains(&res.status),
        "10k params: {} {:?}",
        res.status,
        res.text()
    );
    // A repeated EIO with different values: refused.
    for q in [
        "EIO=4&EIO=5&transport=polling",
        "EIO=5&EIO=4&transport=polling",
        "EIO=4&transport=polling&transport=websocket",
    ] {
        let res = get(srv.addr, &format!("/socket.io/?{q}")).await;
        assert_eq!(res.status, 400, "{q}: {:?}", res.text());
    }
    // Bad escapes in the engine's own parameters.
    for q in [
        "EIO=4&transport=polling%zz",
        "EIO=%C0%AF&transport=polling",
        "EIO=4&transport=%C0%AFpolling",
    ] {
        let res = get(srv.addr, &format!("/socket.io/?{q}")).await;
        assert_eq!(res.status, 400, "{q}: {:?}", res.text());
    }
    // Bad escapes in other parameters: either refused or a normal handshake.
    for q in [
        "EIO=4&transport=polling&x=%zz",
        "EIO=4&transport=polling&x=%C0%AF",
    ] {
        let res = get(srv.addr, &format!("/socket.io/?{q}")).await;
        assert!(
            res.status == 400 || (res.status == 200 && res.text().starts_with("0{")),
            "{q}: {} {:?}",
            res.status,
            res.text()
        );
    }
    // A 64 KB query string.
    let huge = format!(
        "/socket.io/?EIO=4&transport=polling&x={}",
        "a".repeat(64 * 1024)
    );
    let res = get(srv.addr, &huge).await;
    assert!(
        [400, 414, 431].contains(&res.status),
        "64 KB query: {} {:?}",
        res.status,
        res.text().get(..80)
    );
    srv.assert_healthy().await;
}

/// H8: paths that only look like the engine path are not handled by the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h8_lookalike_paths_are_not_the_engine() {
    let srv = start().await;
    for path in [
        "/socket.io-admin/",
        "/socket.iox/",
        "/SOCKET.IO/",
        "/socket.io",
        "/socket.io/../x",
        "/socket.io/x",
        "//socket.io/",
    ] {
        let res = get(srv.addr, &format!("{path}?EIO=4&transport=polling")).await;
        assert_eq!(res.status, 404, "{path}: {:?}", res.text());
        assert!(!res.text().starts_with('0'), "{path} opened a session");
    }
    assert_eq!(srv.io.connection_count(), 0);
    srv.assert_healthy_no_leak().await;
}

/// H12: a wrong WebSocket version gets 426 with `Sec-WebSocket-Version: 13`; a missing or bad
/// key gets 400. No upgrade either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h12_bad_websocket_version_or_key() {
    let srv = start().await;
    let q = "EIO=4&transport=websocket";
    let res = Ws::upgrade_with(srv.addr, q, &[("Sec-WebSocket-Version", "8")])
        .await
        .err()
        .expect("version 8 must be refused");
    assert!(
        res.status == 426 || res.status == 400,
        "version 8: {}",
        res.status
    );
    if res.status == 426 {
        assert_eq!(res.header("sec-websocket-version"), Some("13"));
    }
    for key in [
        "",
        "AAECAwQFBgcICQoLDA0O",
        "AAECAwQFBgcICQoLDA0ODxA=",
        "!!!!!!!!!!!!!!!!!!!!!!!!",
    ] {
        let res = Ws::upgrade_with(srv.addr, q, &[("Sec-WebSocket-Key", key)])
            .await
            .err()
            .unwrap_or_else(|| panic!("key {key:?} must be refused"));
        assert_eq!(res.status, 400, "key {key:?}");
    }
    // No key at all.
    let raw = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let res = raw_request(srv.addr, raw).await;
    assert_eq!(res.status, 400, "no key");
    assert_eq!(srv.io.connection_count(), 0);
    srv.assert_healthy_no_leak().await;
}

/// H14: an Origin with a control character is refused with 400 (code 3 when the engine sees
/// it; the HTTP layer may refuse the header itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h14_origin_with_control_char() {
    let srv = start().await;
    for origin in [&b"http://a\x01b"[..], &b"http://a\x7fb"[..]] {
        let mut raw =
            b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: ".to_vec();
        raw.extend_from_slice(origin);
        raw.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let res = raw_request(srv.addr, &raw).await;
        assert_eq!(res.status, 400, "origin {origin:?}: {:?}", res.text());
        if !res.body.is_empty() {
            res.assert_error(400, 3);
        }
    }
    assert_eq!(srv.io.connection_count(), 0);
    srv.assert_healthy_no_leak().await;
}

/// H17: a refusing `allow_request` hook answers 403 `{"code":4,"message":"Forbidden"}` and
/// opens nothing, on both transports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h17_allow_request_refusal() {
    let b = builder().allow_request(|parts| !parts.uri.query().unwrap_or("").contains("refuse=1"));
    let srv = start_with(b, |_, _| {}).await;
    let res = get(srv.addr, "/socket.io/?EIO=4&transport=polling&refuse=1").await;
    res.assert_error(403, 4);
    assert_eq!(res.json()["message"], "Forbidden");
    let res = Ws::upgrade_with(srv.addr, "EIO=4&transport=websocket&refuse=1", &[])
        .await
        .err()
        .expect("a refused WebSocket handshake must not upgrade");
    assert!(res.status == 400 || res.status == 403, "{}", res.status);
    assert_eq!(srv.io.connection_count(), 0, "nothing allocated");
    assert_eq!(srv.stats.connects(), 0);
    srv.assert_healthy_no_leak().await;
}

/// H18: with `max_connections`, handshakes over the limit get 403 code 4; abandoned
/// handshakes are reaped after `ping_interval + ping_timeout`, freeing the slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h18_max_connections_and_reaping() {
    let srv = start_with(builder().max_connections(3), |_, _| {}).await;
    let mut sids = Vec::new();
    for _ in 0..3 {
        sids.push(eio_open(srv.addr).await);
    }
    let res = get(srv.addr, POLL).await;
    res.assert_error(403, 4);
    let res = Ws::upgrade_with(srv.addr, "EIO=4&transport=websocket", &[])
        .await
        .err()
        .expect("over the limit: no upgrade");
    assert!(res.status == 400 || res.status == 403, "{}", res.status);
    assert_eq!(srv.io.connection_count(), 3);
    // Nobody follows up: every session is reaped (ping 300 + 400 ms, connect timeout 700 ms).
    assert!(
        wait_until(Duration::from_secs(3), || srv.io.connection_count() == 0).await,
        "abandoned sessions not reaped: {}",
        srv.io.connection_count()
    );
    for sid in &sids {
        let res = eio_get(srv.addr, sid).await;
        if res.status == 200 {
            // At most the close packet, then the session is gone.
            eio_get(srv.addr, sid).await.assert_error(400, 1);
        } else {
            res.assert_error(400, 1);
        }
    }
    srv.assert_healthy_no_leak().await;
}

/// I2: a sid whose session closed is never brought back to life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i2_sid_reuse_after_close() {
    let srv = start().await;
    let p = Poller::connect_sio(srv.addr).await;
    p.post_ok("1").await;
    p.assert_closed().await;
    // POST and WebSocket with the dead sid.
    eio_post(srv.addr, &p.sid, b"40").await.assert_error(400, 1);
    let res = Ws::upgrade_with(
        srv.addr,
        &format!("EIO=4&transport=websocket&sid={}", p.sid),
        &[],
    )
    .await
    .err()
    .expect("a dead sid must not upgrade");
    assert_eq!(res.status, 400);
    // A new handshake gets another sid.
    let p2 = Poller::connect_sio(srv.addr).await;
    assert_ne!(p2.sid, p.sid);
    p2.post_ok("1").await;
    srv.assert_healthy_no_leak().await;
}

/// U6: `transport=websocket` with a polling sid but no Upgrade header is `400 {"code":3}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u6_websocket_transport_without_upgrade() {
    let srv = start().await;
    let mut p = Poller::connect_sio(srv.addr).await;
    let res = get(
        srv.addr,
        &format!("/socket.io/?EIO=4&transport=websocket&sid={}", p.sid),
    )
    .await;
    res.assert_error(400, 3);
    // The polling session goes on.
    p.post_ok(r#"42["echo","still here"]"#).await;
    assert_eq!(p.recv().await, r#"42["echo","still here"]"#);
    p.post_ok("1").await;
    srv.assert_healthy_no_leak().await;
}

/// C1: a WebSocket upgrade from a foreign origin is refused while origins are restricted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_websocket_from_foreign_origin() {
    let b = builder().cors(Cors::origins(["https://example.com"]).credentials(true));
    let srv = start_with(b, |_, _| {}).await;
    let res = Ws::upgrade_with(
        srv.addr,
        "EIO=4&transport=websocket",
        &[("Origin", "https://evil.example")],
    )
    .await
    .err()
    .expect("foreign origin must not upgrade");
    assert!(res.status == 400 || res.status == 403, "{}", res.status);
    assert_eq!(srv.io.connection_count(), 0);
    // The allowed origin upgrades.
    let ws = Ws::upgrade_with(
        srv.addr,
        "EIO=4&transport=websocket",
        &[("Origin", "https://example.com")],
    )
    .await;
    assert!(ws.is_ok(), "the allowed origin must upgrade");
    drop(ws);
    srv.assert_healthy_no_leak().await;
}

/// C2: by default no CORS headers; with a list, the origin is reflected only when it
/// matches, with `Vary: Origin`; never `*` together with credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c2_cors_headers() {
    let srv = start().await;
    let res = request(
        srv.addr,
        "GET",
        POLL,
        &[("Origin", "https://a.example")],
        b"",
    )
    .await;
    assert_eq!(res.status, 200);
    assert!(
        res.header("access-control-allow-origin").is_none(),
        "default: no CORS"
    );
    assert!(res.header("access-control-allow-credentials").is_none());
    drop(srv);

    let b = builder().cors(Cors::origins(["https://example.com"]).credentials(true));
    let srv = start_with(b, |_, _| {}).await;
    let res = request(
        srv.addr,
        "GET",
        POLL,
        &[("Origin", "https://example.com")],
        b"",
    )
    .await;
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://example.com")
    );
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    assert!(res.header("vary").is_some_and(|v| v.contains("Origin")));
    let res = request(
        srv.addr,
        "OPTIONS",
        POLL,
        &[("Origin", "https://example.com")],
        b"",
    )
    .await;
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://example.com")
    );
    drop(srv);

    let b = builder().cors(Cors::any().credentials(true));
    let srv = start_with(b, |_, _| {}).await;
    let res = request(
        srv.addr,
        "GET",
        POLL,
        &[("Origin", "https://b.example")],
        b"",
    )
    .await;
    let acao = res.header("access-control-allow-origin");
    assert_ne!(acao, Some("*"), "never * with credentials");
    assert_eq!(acao, Some("https://b.example"));
    srv.assert_healthy().await;
}

/// C3 and C4: `null` and look-alike origins are refused (no reflected origin, no upgrade).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_c4_null_and_lookalike_origins() {
    let b = builder().cors(Cors::origins(["https://example.com"]).credentials(true));
    let srv = start_with(b, |_, _| {}).await;
    for origin in [
        "null",
        "https://example.com.evil.net",
        "https://evilexample.com",
        "http://example.com",
        "https://example.com:444",
        "https://EXAMPLE.com.",
    ] {
        let res = request(srv.addr, "GET", POLL, &[("Origin", origin)], b"").await;
        assert!(
            res.header("access-control-allow-origin").is_none(),
            "{origin}: reflected {:?}",
            res.header("access-control-allow-origin")
        );
        assert!(
            res.header("access-control-allow-credentials").is_none(),
            "{origin}"
        );
        let res = request(srv.addr, "OPTIONS", POLL, &[("Origin", origin)], b"").await;
        assert!(
            res.header("access-control-allow-origin").is_none(),
            "{origin} preflight"
        );
        let up =
            Ws::upgrade_with(srv.addr, "EIO=4&transport=websocket", &[("Origin", origin)]).await;
        match up {
            Ok(_) => panic!("{origin}: WebSocket upgrade accepted"),
            Err(r) => assert!(r.status == 400 || r.status == 403, "{origin}: {}", r.status),
        }
    }
    srv.assert_healthy().await;
}
