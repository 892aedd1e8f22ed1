//! Hostile binary attachments and placeholders (catalogue rows B).

mod common;

use std::time::Duration;

use common::*;

fn ph(num: &str) -> String {
    format!(r#"{{"_placeholder":true,"num":{num}}}"#)
}

/// Sends a binary packet header and `bins` frames, then expects the connection to close.
async fn closes_after(srv: &Server, header: &str, bins: usize) {
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(header).await;
    for i in 0..bins {
        ws.binary(&[i as u8]).await;
    }
    let code = ws.expect_close().await;
    assert!(code.is_none_or(|c| c >= 1000), "{header}: {code:?}");
}

/// B1: more than 10 attachments close; 10 are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_too_many_attachments() {
    let srv = start().await;
    closes_after(&srv, r#"4511-["bins"]"#, 0).await;
    closes_after(&srv, r#"451000000-["bins"]"#, 0).await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    let phs: Vec<String> = (0..10).map(|i| ph(&i.to_string())).collect();
    ws.text(&format!(r#"4510-["bins",{}]"#, phs.join(",")))
        .await;
    for i in 0..10u8 {
        ws.binary(&vec![i; usize::from(i) + 1]).await;
    }
    assert_eq!(ws.recv_text().await, r#"42["bins",[1,2,3,4,5,6,7,8,9,10]]"#);
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// B2: malformed attachment counts close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b2_malformed_attachment_counts() {
    let srv = start().await;
    for header in [
        r#"45-["m"]"#,
        r#"45a-["m"]"#,
        r#"450-["m"]"#,
        r#"45-1-["m"]"#,
        r#"4599999999999999999999-["m"]"#,
        r#"451["m"]"#,
        r#"46-0[]"#,
        r#"451-"#,
    ] {
        closes_after(&srv, header, 1).await;
    }
    srv.assert_healthy_no_leak().await;
}

/// B3 and B4: placeholders whose `num` is out of range or not an integer close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_b4_bad_placeholder_num() {
    let srv = start().await;
    closes_after(&srv, &format!(r#"452-["bins",{}]"#, ph("5")), 2).await;
    closes_after(&srv, &format!(r#"452-["bins",{}]"#, ph("2")), 2).await;
    for num in [
        r#""splice""#,
        "-1",
        "1.5",
        "null",
        r#""0""#,
        "1e0",
        "[0]",
        "{}",
        "true",
    ] {
        closes_after(&srv, &format!(r#"451-["bins",{}]"#, ph(num)), 1).await;
    }
    // Missing num.
    closes_after(&srv, r#"451-["bins",{"_placeholder":true}]"#, 1).await;
    // Nested deeper in the arguments.
    closes_after(&srv, &format!(r#"451-["bins",{{"a":[{}]}}]"#, ph("9")), 1).await;
    srv.assert_healthy_no_leak().await;
}

/// B4: `_placeholder` must be exactly `true`; other values make a plain object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b4_placeholder_flag_must_be_true() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    for flag in [r#""true""#, "1", "false"] {
        let obj = format!(r#"{{"_placeholder":{flag},"num":"splice"}}"#);
        ws.text(&format!(r#"451-["echo",{obj}]"#)).await;
        ws.binary(&[7]).await;
        // A plain object: the event is delivered with its attachment.
        assert_eq!(
            ws.recv_text().await,
            format!(r#"451-["echo",{obj}]"#),
            "flag {flag}"
        );
        assert_eq!(ws.recv_binary().await, vec![7]);
    }
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// B5: two placeholders with the same `num`, and an attachment nobody refers to, are
/// accepted (as Node does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b5_duplicate_and_unused_placeholders() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(&format!(r#"452-["bins",{},{}]"#, ph("0"), ph("0")))
        .await;
    ws.binary(&[1]).await;
    ws.binary(&[2, 2]).await;
    assert_eq!(ws.recv_text().await, r#"42["bins",[1,2]]"#);
    ws.assert_echo("after duplicates").await;
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// B6: a binary packet whose attachments never all arrive is closed after the completion
/// timeout (here the connect timeout, 700 ms), even if the client keeps answering pings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b6_incomplete_binary_packet_times_out() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    let phs: Vec<String> = (0..10).map(|i| ph(&i.to_string())).collect();
    ws.text(&format!(r#"4510-["bins",{}]"#, phs.join(",")))
        .await;
    ws.binary(&[0]).await;
    // Keep the session alive (answer pings) and wait for the server to give up.
    let deadline = std::time::Instant::now() + Duration::from_millis(2500);
    let mut closed = false;
    while std::time::Instant::now() < deadline {
        match ws.recv_within(Duration::from_millis(100)).await {
            Some(Frame::Text(t)) if t == "2" => ws.text("3").await,
            Some(Frame::Close(_)) | Some(Frame::Eof) => {
                closed = true;
                break;
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => {}
        }
    }
    assert!(
        closed,
        "an incomplete binary packet held the session for 2.5 s"
    );
    srv.assert_healthy_no_leak().await;
}

/// B7: a text packet while a binary packet waits for attachments closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b7_text_while_waiting_for_attachments() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(&format!(r#"452-["bins",{},{}]"#, ph("0"), ph("1")))
        .await;
    ws.binary(&[1]).await;
    ws.text(r#"42["echo","m"]"#).await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// B8: a binary frame with no binary packet pending closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b8_unexpected_binary() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.binary(&[1, 2, 3]).await;
    ws.expect_close().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.binary(&[]).await;
    ws.expect_close().await;
    // Before any namespace too.
    let (mut ws, _) = Ws::connect_eio(srv.addr).await;
    ws.binary(&[1]).await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// B10: one attachment and no placeholder: accepted, the attachment is carried along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b10_attachment_without_placeholder() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(r#"451-["bins"]"#).await;
    ws.binary(&[9, 9, 9]).await;
    assert_eq!(ws.recv_text().await, r#"42["bins",[3]]"#);
    ws.assert_echo("after b10").await;
    ws.text("1").await;
    ws.expect_close().await;
    srv.assert_healthy_no_leak().await;
}

/// B11: binary packets over v4 polling follow the same rules; bad base64 closes; a missing
/// attachment followed by text closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b11_binary_over_polling() {
    let srv = start().await;
    let mut p = Poller::connect_sio(srv.addr).await;
    p.post_ok(&format!(
        "451-[\"echo\",{}]\x1eb{}",
        ph("0"),
        base64(&[1, 2, 3])
    ))
    .await;
    assert_eq!(p.recv().await, format!(r#"451-["echo",{}]"#, ph("0")));
    assert_eq!(p.recv().await, "bAQID");
    p.post_ok("1").await;

    let p = Poller::connect_sio(srv.addr).await;
    let res = p.post(&format!("451-[\"echo\",{}]\x1eb!!!", ph("0"))).await;
    // As Node: the request is answered `ok`, the session is closed.
    assert_eq!(res.status, 200);
    p.assert_closed().await;

    let p = Poller::connect_sio(srv.addr).await;
    p.post_ok(&format!("451-[\"echo\",{}]", ph("0"))).await;
    let _ = p.post(r#"42["echo","x"]"#).await;
    p.assert_closed().await;

    let p = Poller::connect_sio(srv.addr).await;
    let res = p
        .post(&format!("451-[\"echo\",{}]\x1eb{}", ph("3"), base64(&[1])))
        .await;
    assert!(res.status == 200 || res.status == 400);
    p.assert_closed().await;
    srv.assert_healthy_no_leak().await;
}

/// B12: a BINARY_ACK for a pending id delivers its attachment; bad placeholders in it close;
/// one for an unknown id is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b12_binary_ack() {
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text(r#"42["ask"]"#).await;
    let q = ws.recv_text().await;
    let id: String = q[2..].chars().take_while(char::is_ascii_digit).collect();
    assert!(!id.is_empty(), "{q}");
    ws.text(&format!("461-{id}[{}]", ph("0"))).await;
    ws.binary(&[5, 5]).await;
    assert_eq!(
        ws.recv_text().await,
        format!(r#"42["answer",{{"args":1,"bins":1,"first":{}}}]"#, ph("0"))
    );
    // Unknown id: ignored.
    ws.text(&format!("461-7777[{}]", ph("0"))).await;
    ws.binary(&[1]).await;
    ws.assert_echo("after unknown binary ack").await;
    // Bad placeholder in a binary ack.
    ws.text(&format!("461-0[{}]", ph("1"))).await;
    ws.binary(&[1]).await;
    ws.expect_close().await;
    // No id at all.
    closes_after(&srv, &format!("461-[{}]", ph("0")), 1).await;
    srv.assert_healthy_no_leak().await;
}
