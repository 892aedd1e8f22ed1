//! Hostile Socket.IO packet text (catalogue rows S).

mod common;

use std::time::Duration;

use common::*;

/// Sends `text` on a session joined to `/` and expects the connection to close.
async fn closes_after(srv: &Server, text: &str) {
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(text).await;
    let code = ws.expect_close().await;
    assert!(code.is_none_or(|c| c >= 1000), "{text:?}: {code:?}");
}

/// Sends `text` on a session that joined no namespace and expects the connection to close.
async fn closes_before_connect(srv: &Server, text: &str) {
    let (mut ws, _) = Ws::connect_eio(srv.addr).await;
    ws.text(text).await;
    ws.expect_close().await;
}

/// S1: an event before any CONNECT closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_event_before_connect() {
    let srv = start().await;
    for text in [r#"42["m"]"#, r#"42["echo","x"]"#, r#"430["x"]"#, "41"] {
        closes_before_connect(&srv, text).await;
    }
    assert_eq!(srv.stats.connects(), 0);
    srv.assert_healthy_no_leak().await;
}

/// S2 and S3: an event to, or a DISCONNECT from, a namespace the client did not join closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_s3_unjoined_namespace() {
    let srv = start().await;
    for text in [
        r#"42/other,["m"]"#,
        "41/other",
        r#"42/nope,["m"]"#,
        r#"43/other,1["x"]"#,
    ] {
        closes_after(&srv, text).await;
    }
    assert_eq!(
        srv.stats
            .middleware_runs
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    srv.assert_healthy_no_leak().await;
}

/// S4: unknown or server-only packet types close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_unknown_or_server_only_types() {
    let srv = start().await;
    for text in ["47", "49", r#"44{"message":"x"}"#, "4abc", "4", "4-1"] {
        closes_after(&srv, text).await;
    }
    srv.assert_healthy_no_leak().await;
}

/// S5 and S6: event payloads that are not an array starting with a string or a number close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_s6_bad_event_payloads() {
    let srv = start().await;
    for text in [
        "42{}",
        r#"42"x""#,
        "42[]",
        "42null",
        r#"42["m",]"#,
        r#"42["m""#,
        "42",
        r#"42[{"toString":"x"}]"#,
        "42[null]",
        "42[true]",
        "42[[\"m\"]]",
    ] {
        closes_after(&srv, text).await;
    }
    srv.assert_healthy_no_leak().await;
}

/// S7: a numeric event name is accepted (as its decimal text); the connection stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s7_numeric_event_name() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text("42[1,2]").await;
    assert_eq!(ws.recv_text().await, r#"42["fallback","1"]"#);
    ws.text("42[42]").await;
    assert_eq!(ws.recv_text().await, r#"42["fallback","42"]"#);
    ws.assert_echo("after numeric").await;
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// S8: reserved event names close the connection and never run lifecycle handlers: the
/// disconnect handler runs exactly once, for the real close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s8_reserved_event_names() {
    let srv = start().await;
    let names = [
        r#"42["disconnect","fake"]"#,
        r#"42["connect"]"#,
        r#"42["connect_error"]"#,
        r#"42["disconnecting"]"#,
        r#"42["newListener"]"#,
        r#"42["removeListener"]"#,
        r#"421["disconnect"]"#,
    ];
    for (i, text) in names.iter().enumerate() {
        closes_after(&srv, text).await;
        assert!(
            wait_until(Duration::from_secs(2), || srv.stats.disconnects() == i + 1).await,
            "{text}: disconnect handler"
        );
        assert_eq!(
            srv.stats.connects(),
            i + 1,
            "{text}: connect handler ran again"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        srv.stats.disconnects(),
        names.len(),
        "one disconnect per connection"
    );
    assert!(
        srv.stats.reasons().iter().all(|r| r == "parse error"),
        "{:?}",
        srv.stats.reasons()
    );
    srv.assert_healthy_no_leak().await;
}

/// S9: `error` is an ordinary user event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s9_error_is_an_ordinary_event() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(r#"42["error"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["fallback","error"]"#);
    ws.text(r#"42["error",{"x":1}]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["fallback","error"]"#);
    ws.assert_echo("after error").await;
    assert_eq!(srv.stats.disconnects(), 0);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// S10: malformed ack ids close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s10_malformed_ack_ids() {
    let srv = start().await;
    for text in [
        r#"42abc["echo-ack"]"#,
        r#"42-1["echo-ack"]"#,
        r#"42 1["echo-ack"]"#,
        r#"421.5["echo-ack"]"#,
        r#"42+1["echo-ack"]"#,
    ] {
        closes_after(&srv, text).await;
    }
    srv.assert_healthy_no_leak().await;
}

/// S11: ack ids at or above 2^53 close; 2^53 - 1 is echoed exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s11_huge_ack_ids() {
    let srv = start().await;
    for text in [
        r#"4212345678901234567890123["echo-ack"]"#,
        r#"429007199254740992["echo-ack"]"#,
        r#"4218446744073709551616["echo-ack"]"#,
        &format!(r#"42{}["echo-ack"]"#, "9".repeat(1000)),
    ] {
        closes_after(&srv, text).await;
    }
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(r#"429007199254740991["echo-ack","max"]"#).await;
    assert_eq!(ws.recv_text().await, r#"439007199254740991["max"]"#);
    ws.text(r#"420["echo-ack","zero"]"#).await;
    assert_eq!(ws.recv_text().await, r#"430["zero"]"#);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// S12: acks for unknown ids, repeated acks and late acks are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s12_unknown_and_repeated_acks() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(r#"43999["x"]"#).await;
    ws.text(r#"43999["x"]"#).await;
    ws.text(r#"43999[]"#).await;
    ws.assert_echo("after unknown acks").await;
    // A real ack, answered twice, then one after its timeout.
    ws.text(r#"42["ask"]"#).await;
    let q = ws.recv_text().await;
    let id: String = q
        .strip_prefix("42")
        .expect("event")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(!id.is_empty(), "emit with ack carries an id: {q}");
    ws.text(&format!(r#"43{id}["first"]"#)).await;
    ws.text(&format!(r#"43{id}["second"]"#)).await;
    assert_eq!(
        ws.recv_text().await,
        r#"42["answer",{"args":1,"bins":0,"first":"first"}]"#
    );
    ws.assert_echo("after repeated ack").await;
    let sock = srv.stats.last_socket().expect("socket");
    assert_eq!(sock.pending_acks(), 0);
    ws.text(r#"42["ask"]"#).await;
    let q = ws.recv_text().await;
    assert!(q.starts_with("42"));
    let answer = ws.recv_text().await;
    assert!(answer.contains("error"), "timeout reported: {answer}");
    let id: String = q[2..].chars().take_while(char::is_ascii_digit).collect();
    ws.text(&format!(r#"43{id}["late"]"#)).await;
    ws.assert_echo("after late ack").await;
    assert_eq!(sock.pending_acks(), 0);
    assert_eq!(srv.stats.disconnects(), 0);
    drop(sock);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// S13: unknown namespaces get `44/<nsp>,{"message":"Invalid namespace"}` and no state; a
/// v4-style query is cut off the name; the connection stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s13_unknown_namespaces() {
    let srv = start().await;
    // Long, but the whole packet stays under max_payload (10 000).
    let long = format!("/{}", "n".repeat(9 * 1024));
    let mut ws = Ws::connect_sio(srv.addr).await;
    for (send, nsp) in [
        (format!("40{long},"), long.as_str()),
        ("40/../admin,".to_owned(), "/../admin"),
        ("40//,".to_owned(), "//"),
        ("40/a%00,".to_owned(), "/a%00"),
        ("40/nsp?x=1,{}".to_owned(), "/nsp"),
        ("40/admin".to_owned(), "/admin"),
    ] {
        ws.text(&send).await;
        let answer = ws.recv_text().await;
        assert_eq!(
            answer,
            format!(r#"44{nsp},{{"message":"Invalid namespace"}}"#),
            "{:.40}",
            send
        );
        assert!(srv.io.of(nsp).is_none(), "no state kept for {nsp:.40}");
    }
    ws.assert_echo("after unknown namespaces").await;
    // Joining a real namespace still works, with a v4 query cut off.
    ws.text("40/other?x=1,{}").await;
    assert!(ws.recv_text().await.starts_with("40/other,{\"sid\":"));
    ws.text(r#"42/other,["echo","o"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/other,["echo","o"]"#);
    ws.text("1").await;
    ws.expect_close().await;
    // `40nsp` (no slash) is not a namespace: invalid payload, or an unknown namespace.
    let (mut ws, _) = Ws::connect_eio(srv.addr).await;
    ws.text("40nsp").await;
    match ws.recv_within(READ_TIMEOUT).await {
        Some(Frame::Close(_)) | Some(Frame::Eof) => {}
        Some(Frame::Text(t)) => assert!(t.starts_with("44"), "{t}"),
        other => panic!("{other:?}"),
    }
    drop(ws);
    srv.assert_healthy_no_leak().await;
}

/// S14: a CONNECT payload that is not an object closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s14_connect_payload_not_an_object() {
    let srv = start().await;
    for text in ["40[1]", r#"40"x""#, "40/other,1", "40null", "401{}", "40{"] {
        closes_before_connect(&srv, text).await;
    }
    assert_eq!(srv.stats.connects(), 0);
    // An object is fine.
    let (mut ws, _) = Ws::connect_eio(srv.addr).await;
    ws.text(r#"40{"token":"t"}"#).await;
    assert!(ws.recv_text().await.starts_with("40{\"sid\":"));
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// S15: a second CONNECT to a joined namespace closes the connection; middlewares ran once,
/// and the first socket is not leaked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s15_duplicate_connect() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text("40").await;
    ws.expect_close().await;
    assert!(wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 1).await);
    // Through a middleware.
    let mut ws = Ws::connect_ns(srv.addr, "/other").await;
    ws.text("40/other,").await;
    ws.expect_close().await;
    assert!(wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 2).await);
    assert_eq!(
        srv.stats
            .middleware_runs
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(srv.stats.connects(), 2);
    srv.assert_healthy_no_leak().await;
}

/// S16: against a dynamic namespace pattern, one connection joins at most
/// `max_namespaces_per_connection` namespaces; a CONNECT past it gets a `connect_error` and
/// creates nothing; leaving one makes room; the children go when the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_namespaces_per_connection_are_bounded() {
    let b = builder().max_namespaces_per_connection(4);
    let srv = start_with(b, |io, _| {
        io.dyn_ns(|n| n.starts_with("/d"), |_: sockeye::SocketRef| {});
    })
    .await;
    // `/` is the first of the four.
    let mut ws = Ws::connect_sio(srv.addr).await;
    for i in 1..=3 {
        ws.text(&format!("40/d{i},")).await;
        let reply = ws.recv_text().await;
        assert!(reply.starts_with(&format!("40/d{i},{{\"sid\":")), "{reply}");
    }
    for i in 4..=200 {
        ws.text(&format!("40/d{i},")).await;
        assert_eq!(
            ws.recv_text().await,
            format!(r#"44/d{i},{{"message":"Too many namespaces"}}"#)
        );
    }
    assert!(srv.io.of("/d3").is_some());
    assert!((4..=200).all(|i| srv.io.of(&format!("/d{i}")).is_none()));
    ws.text("41/d3,").await;
    assert!(
        wait_until(Duration::from_secs(2), || srv.io.of("/d3").is_none()).await,
        "an empty child namespace is removed"
    );
    ws.text("40/d5,").await;
    let reply = ws.recv_text().await;
    assert!(reply.starts_with("40/d5,{\"sid\":"), "{reply}");
    ws.assert_echo("still here").await;
    ws.text("1").await;
    ws.expect_close().await;
    assert!(
        wait_until(Duration::from_secs(2), || (1..=5)
            .all(|i| srv.io.of(&format!("/d{i}")).is_none()))
        .await,
        "the children outlived the connection"
    );
    srv.assert_healthy_no_leak().await;
}

/// S18: deeply nested JSON does not overflow the stack. As in Node, an event's arguments are
/// accepted at any depth (the skimmer that splits them is iterative) and echoed verbatim;
/// the connection stays usable. Nesting inside a binary packet, whose placeholders are
/// looked for, closes; moderate nesting is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_deep_nesting() {
    let b = builder().max_payload(100_000);
    let srv = start_with(b, |_, _| {}).await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    let deep = format!(r#"42["echo",{}{}]"#, "[".repeat(10_000), "]".repeat(10_000));
    ws.text(&deep).await;
    assert_eq!(ws.recv_text().await, deep);
    let deep_obj = format!(
        r#"42["echo",{}1{}]"#,
        r#"{"a":"#.repeat(10_000),
        "}".repeat(10_000)
    );
    ws.text(&deep_obj).await;
    assert_eq!(ws.recv_text().await, deep_obj);
    ws.assert_echo("still here").await;
    ws.text("1").await;
    ws.expect_close().await;
    // Deep nesting inside a binary packet (placeholder walk).
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(&format!(
        r#"451-["echo",{}{{"_placeholder":true,"num":0}}{}]"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    ))
    .await;
    ws.binary(&[1]).await;
    ws.expect_close().await;
    // 50 levels are fine.
    let mut ws = Ws::connect_sio(srv.addr).await;
    let ok = format!(r#"42["echo",{}{}]"#, "[".repeat(50), "]".repeat(50));
    ws.text(&ok).await;
    assert_eq!(ws.recv_text().await, ok);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}
