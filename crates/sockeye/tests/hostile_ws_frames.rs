//! Hostile WebSocket frames (catalogue rows W).

mod common;

use std::time::Duration;

use common::*;

/// A fresh WebSocket session joined to `/`.
async fn joined(srv: &Server) -> Ws {
    Ws::connect_sio(srv.addr).await
}

/// W1: a frame declaring 2^63-1 bytes is closed with 1009 at once (no allocation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w1_huge_declared_length() {
    let srv = start().await;
    let mut ws = joined(&srv).await;
    ws.send_raw(&[
        0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4,
    ])
    .await;
    ws.expect_close_code(1009, "2^63-1 declared").await;
    // The top bit set (2^63 and more) is a protocol error or too big.
    let mut ws = joined(&srv).await;
    ws.send_raw(&masked_header(0x82, u64::MAX)).await;
    let code = ws.expect_close().await;
    assert!(matches!(code, Some(1002) | Some(1009)), "{code:?}");
    srv.assert_healthy_no_leak().await;
}

/// W2: one frame of `max_payload + 1` bytes is closed with 1009; exactly `max_payload` is
/// accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w2_message_over_max_payload() {
    let srv = start().await;
    let mut ws = joined(&srv).await;
    // Exactly 10 000 bytes: `42["echo","xxx…"]`.
    let pad = "x".repeat(10_000 - r#"42["echo",""]"#.len());
    let exact = format!(r#"42["echo","{pad}"]"#);
    assert_eq!(exact.len(), 10_000);
    ws.text(&exact).await;
    assert_eq!(ws.recv_text().await, exact);
    // One byte more: declared in the header, nothing else sent.
    ws.send_raw(&masked_header(0x81, 10_001)).await;
    ws.expect_close_code(1009, "max_payload + 1").await;
    // The same with the payload actually sent.
    let mut ws = joined(&srv).await;
    let over = format!(r#"42["echo","{pad}x"]"#);
    ws.text(&over).await;
    ws.expect_close_code(1009, "max_payload + 1 with payload")
        .await;
    srv.assert_healthy_no_leak().await;
}

/// W3: a message split in 1 KiB continuations is closed with 1009 when the total passes the
/// limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w3_fragments_over_the_limit() {
    let srv = start().await;
    let mut ws = joined(&srv).await;
    let chunk = vec![b'a'; 1024];
    ws.send_frame(0x01, b"42[\"echo\",\"").await;
    let mut closed = None;
    for _ in 0..20 {
        ws.send_frame(0x00, &chunk).await;
        if let Some(f) = ws.recv_within(Duration::from_millis(5)).await {
            closed = Some(f);
            break;
        }
    }
    let code = match closed {
        Some(Frame::Close(c)) => c,
        Some(Frame::Text(t)) if t == "2" => ws.expect_close().await,
        Some(other) => panic!("unexpected {other:?}"),
        None => ws.expect_close().await,
    };
    assert_eq!(code, Some(1009));
    // A valid fragmented message is reassembled.
    let mut ws = joined(&srv).await;
    ws.send_frame(0x01, b"42[\"echo\",").await;
    ws.send_frame(0x00, b"\"frag").await;
    ws.send_frame(0x80, b"mented\"]").await;
    assert_eq!(ws.recv_text().await, r#"42["echo","fragmented"]"#);
    srv.assert_healthy_no_leak().await;
}

/// W4: an empty fragmented message followed by endless empty continuations is closed
/// (fragment-count limit: 1008, or 1009).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w4_endless_empty_continuations() {
    let srv = start().await;
    let mut ws = joined(&srv).await;
    let mut burst = masked_frame(0x01, b"");
    for _ in 0..5000 {
        burst.extend_from_slice(&masked_frame(0x00, b""));
    }
    ws.send_raw(&burst).await;
    let code = ws.expect_close().await;
    assert!(matches!(code, Some(1008) | Some(1009)), "{code:?}");
    srv.assert_healthy_no_leak().await;
}

/// W5: an unmasked client frame is closed with 1002.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w5_unmasked_frame() {
    let srv = start().await;
    let mut ws = joined(&srv).await;
    ws.send_raw(&[0x81, 0x02, 0x34, 0x30]).await;
    ws.expect_close_code(1002, "unmasked").await;
    srv.assert_healthy_no_leak().await;
}

/// W6: RSV bits without a negotiated extension: 1002, on that connection only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w6_rsv_bits() {
    let srv = start().await;
    let mut bystander = joined(&srv).await;
    for b0 in [0xC1u8, 0xA1, 0x91, 0xF1, 0xC2] {
        let mut ws = joined(&srv).await;
        ws.send_frame(b0, br#"2["echo","x"]"#).await;
        ws.expect_close_code(1002, &format!("first byte {b0:#x}"))
            .await;
    }
    bystander.assert_echo("bystander").await;
    bystander.text("1").await;
    bystander.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// W7: reserved opcodes are closed with 1002.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w7_reserved_opcodes() {
    let srv = start().await;
    for op in [0x3u8, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        let mut ws = joined(&srv).await;
        ws.send_frame(0x80 | op, b"x").await;
        ws.expect_close_code(1002, &format!("opcode {op:#x}")).await;
    }
    srv.assert_healthy_no_leak().await;
}

/// W8: a ping with 126 bytes, or a fragmented ping, is closed with 1002; a normal ping gets
/// its pong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w8_bad_control_frames() {
    let srv = start().await;
    let mut ws = joined(&srv).await;
    ws.send_frame(0x89, b"hello").await;
    assert_eq!(ws.recv_frame().await, Frame::Pong(b"hello".to_vec()));
    ws.send_frame(0x89, &[b'p'; 126]).await;
    ws.expect_close_code(1002, "126-byte ping").await;
    let mut ws = joined(&srv).await;
    ws.send_frame(0x09, b"frag").await;
    ws.expect_close_code(1002, "fragmented ping").await;
    let mut ws = joined(&srv).await;
    ws.send_frame(0x88 & 0x0F, b"").await; // close without FIN
    ws.expect_close_code(1002, "fragmented close").await;
    srv.assert_healthy_no_leak().await;
}

/// W9: a continuation with no message started, or a new data frame inside a fragmented
/// message, is closed with 1002.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w9_bad_fragmentation() {
    let srv = start().await;
    let mut ws = joined(&srv).await;
    ws.send_frame(0x80, b"42[]").await;
    ws.expect_close_code(1002, "orphan continuation").await;
    let mut ws = joined(&srv).await;
    ws.send_frame(0x01, b"42[\"echo\",").await;
    ws.send_frame(0x81, b"42[\"echo\",1]").await;
    ws.expect_close_code(1002, "text inside a fragmented message")
        .await;
    // A control frame between fragments is allowed.
    let mut ws = joined(&srv).await;
    ws.send_frame(0x01, b"42[\"echo\",").await;
    ws.send_frame(0x89, b"p").await;
    ws.send_frame(0x80, b"2]").await;
    assert_eq!(ws.recv_frame().await, Frame::Pong(b"p".to_vec()));
    assert_eq!(ws.recv_text().await, r#"42["echo",2]"#);
    srv.assert_healthy_no_leak().await;
}

/// W10: invalid UTF-8 in a text message is closed with 1007; a character split across
/// fragments is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w10_invalid_utf8() {
    let srv = start().await;
    for bad in [
        &b"42[\"\xC0\xAF\"]"[..],
        &b"42[\"\xED\xA0\x80\"]"[..],
        &b"\xFF"[..],
    ] {
        let mut ws = joined(&srv).await;
        ws.send_frame(0x81, bad).await;
        ws.expect_close_code(1007, &format!("{bad:?}")).await;
    }
    // 𝕊 is F0 9D 95 8A: split, then the message ends in the middle of it.
    let mut ws = joined(&srv).await;
    ws.send_frame(0x01, b"42[\"echo\",\"\xF0\x9D").await;
    ws.send_frame(0x80, b"\x95").await;
    ws.expect_close_code(1007, "cut 4-byte character").await;
    // A valid split.
    let mut ws = joined(&srv).await;
    ws.send_frame(0x01, b"42[\"echo\",\"\xF0\x9D").await;
    ws.send_frame(0x80, b"\x95\x8A\"]").await;
    assert_eq!(ws.recv_text().await, "42[\"echo\",\"𝕊\"]");
    srv.assert_healthy_no_leak().await;
}

/// W11: a close frame with a 1-byte payload or an invalid code is closed with 1002, one with
/// a reason that is not UTF-8 with 1007; a valid close is answered with its own code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w11_bad_close_frames() {
    let srv = start().await;
    let mut payloads: Vec<Vec<u8>> = vec![vec![0x03]];
    for code in [999u16, 1004, 1005, 1006, 1015, 5000, 0, 2999] {
        payloads.push(code.to_be_bytes().to_vec());
    }
    for payload in payloads {
        let mut ws = joined(&srv).await;
        ws.send_frame(0x88, &payload).await;
        ws.expect_close_code(1002, &format!("close payload {payload:?}"))
            .await;
    }
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.extend_from_slice(b"\xC0\xAF");
    let mut ws = joined(&srv).await;
    ws.send_frame(0x88, &bad_reason).await;
    ws.expect_close_code(1007, "a reason that is not UTF-8")
        .await;
    for code in [1000u16, 4001] {
        let mut ws = joined(&srv).await;
        let mut good = code.to_be_bytes().to_vec();
        good.extend_from_slice(b"bye");
        ws.send_frame(0x88, &good).await;
        ws.expect_close_code(code, "the code echoed").await;
    }
    srv.assert_healthy_no_leak().await;
    assert!(srv.stats.reasons().iter().all(|r| r != "ping timeout"));
}

/// W14: an empty text frame or an unknown packet type closes the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w14_empty_or_unknown_packet() {
    let srv = start().await;
    for text in ["", "9", "0", "0{}", "a", "7"] {
        let mut ws = joined(&srv).await;
        ws.text(text).await;
        let code = ws.expect_close().await;
        assert!(code.is_none_or(|c| c >= 1000), "{text:?}: {code:?}");
    }
    assert!(wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 6).await);
    assert!(srv
        .stats
        .reasons()
        .iter()
        .all(|r| r == "parse error" || r == "transport error"));
    srv.assert_healthy_no_leak().await;
}

/// W17: a valid message, then a TCP reset in the middle of the next frame: the session
/// closes cleanly and the disconnect handler runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w17_reset_mid_frame() {
    let srv = start().await;
    let mut ws = joined(&srv).await;
    ws.assert_echo("before reset").await;
    let frame = masked_frame(0x81, br#"42["echo","never complete"]"#);
    ws.send_raw(&frame[..frame.len() / 2]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    ws.reset();
    assert!(
        wait_until(Duration::from_secs(2), || srv.stats.disconnects() == 1).await,
        "disconnect handler not called"
    );
    srv.assert_no_leak().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(srv.stats.disconnects(), 1, "called exactly once");
    srv.assert_healthy_no_leak().await;
}
