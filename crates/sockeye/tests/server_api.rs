//! The server handle's shortcuts to `/` and a fetched socket's ack, with raw clients.

mod common;

use std::time::Duration;

use common::*;
use sockeye::Payload;

#[tokio::test]
async fn the_shortcuts_of_the_server_handle_reach_the_sockets_of_root() {
    let server = start().await;
    let mut member = Ws::connect_sio(server.addr).await;
    let mut other = Ws::connect_sio(server.addr).await;
    member.text(r#"42["join",["r"]]"#).await;
    member.text(r#"421["echo-ack","barrier"]"#).await;
    assert_eq!(member.recv_text().await, r#"431["barrier"]"#);
    let io = &server.io;

    io.within("r").emit_args("x", &(1, 2)).await.unwrap();
    assert_eq!(member.recv_text().await, r#"42["x",1,2]"#);
    io.compress(false).emit_args("y", &("a",)).await.unwrap();
    io.emit_payload("z", &Payload::from_args(&[true], vec![]).unwrap())
        .await
        .unwrap();
    for ws in [&mut member, &mut other] {
        assert_eq!(ws.recv_text().await, r#"42["y","a"]"#);
        assert_eq!(ws.recv_text().await, r#"42["z",true]"#);
    }
    other.assert_quiet(Duration::from_millis(100)).await;

    let mut ids = io.fetch_ids().await.unwrap();
    ids.sort();
    let mut expected: Vec<_> = io.sockets().iter().map(|s| s.id()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(ids.len(), 2);
}

#[tokio::test]
async fn a_fetched_socket_is_asked_with_a_timeout() {
    let server = start().await;
    let mut ws = Ws::connect_sio(server.addr).await;
    let found = server.io.fetch_sockets().await.unwrap();
    assert_eq!(found.len(), 1);
    let remote = found[0].clone();
    let asking = tokio::spawn(async move {
        remote
            .emit_with_ack("q", &"?", Duration::from_millis(500))
            .await
    });
    let question = ws.recv_text().await;
    let rest = question.strip_prefix("42").expect("an event");
    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(&rest[id.len()..], r#"["q","?"]"#);
    ws.text(&format!(r#"43{id}["!"]"#)).await;
    let answer = asking.await.unwrap().unwrap().unwrap();
    assert_eq!(answer.arg::<String>(0).unwrap(), "!");
}
