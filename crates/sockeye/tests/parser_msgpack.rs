//! A server with the msgpack parser (`SocketIoBuilder::parser(MsgpackParser)`), driven by raw
//! WebSocket peers that speak `socket.io-msgpack-parser`'s format: handlers, extractors, acks
//! both ways and broadcasts work as with JSON; hostile msgpack closes that client only,
//! including the cases where Sockeye is stricter than Node's parser (which the e2e suite
//! cannot check against Node).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use sockeye::parser::MsgpackParser;
use sockeye::value::{msgpack, Value};

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

/// A packet as socket.io-msgpack-parser writes it.
fn packet(ty: i64, nsp: &str, data: Option<Value>, id: Option<i64>) -> Vec<u8> {
    let mut m = vec![("type".to_owned(), Value::Int(ty))];
    if let Some(d) = data {
        m.push(("data".into(), d));
    }
    m.push(("nsp".into(), s(nsp)));
    if let Some(id) = id {
        m.push(("id".into(), Value::Int(id)));
    }
    msgpack::encode(&Value::Map(m))
}

fn event(args: Vec<Value>, id: Option<i64>) -> Vec<u8> {
    packet(2, "/", Some(Value::Array(args)), id)
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

/// The next packet (a binary message), decoded.
async fn recv(ws: &mut Ws) -> Value {
    let b = ws.recv_binary().await;
    msgpack::decode(&b).expect("the server's packet is msgpack")
}

/// A raw peer joined to `/` with a msgpack CONNECT.
async fn connect(srv: &Server) -> Ws {
    let (mut ws, _) = Ws::connect_eio(srv.addr).await;
    ws.binary(&packet(0, "/", None, None)).await;
    let ok = recv(&mut ws).await;
    assert_eq!(field(&ok, "type"), Some(&Value::Int(0)), "{ok:?}");
    assert!(matches!(
        field(&ok, "data").and_then(|d| field(d, "sid")),
        Some(Value::Str(_))
    ));
    ws
}

async fn msgpack_server() -> Server {
    start_with(builder().parser(MsgpackParser), |_, _| {}).await
}

/// `echo` comes back with the same arguments, as one binary message.
async fn assert_echo(ws: &mut Ws, tag: &str) {
    ws.binary(&event(vec![s("echo"), s(tag)], None)).await;
    let back = recv(ws).await;
    assert_eq!(
        field(&back, "data"),
        Some(&Value::Array(vec![s("echo"), s(tag)]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_extractors_acks_and_broadcasts() {
    let srv = msgpack_server().await;
    let mut a = connect(&srv).await;
    let mut b = connect(&srv).await;

    // Every kind of value is relayed as it came.
    let args = vec![
        s("echo"),
        s("ünï"),
        Value::Int(-33),
        Value::Int(1 << 40),
        Value::Float(1.5),
        Value::Bin(Bytes::from_static(&[0, 255, 7])),
        Value::Null,
        Value::Map(vec![("k".into(), Value::Array(vec![Value::Bool(true)]))]),
    ];
    a.binary(&event(args.clone(), None)).await;
    let back = recv(&mut a).await;
    assert_eq!(field(&back, "type"), Some(&Value::Int(2)));
    assert_eq!(field(&back, "data"), Some(&Value::Array(args)));

    // An ack from the server: an ACK packet with the id and the arguments.
    a.binary(&event(vec![s("echo-ack"), Value::Int(1), s("x")], Some(7)))
        .await;
    let ack = recv(&mut a).await;
    assert_eq!(field(&ack, "type"), Some(&Value::Int(3)));
    assert_eq!(field(&ack, "id"), Some(&Value::Int(7)));
    assert_eq!(
        field(&ack, "data"),
        Some(&Value::Array(vec![Value::Int(1), s("x")]))
    );

    // `Bin` sees the binary values, inline in msgpack.
    let bins = vec![
        s("bins"),
        Value::Bin(Bytes::from_static(b"abc")),
        Value::Map(vec![("b".into(), Value::Bin(Bytes::new()))]),
    ];
    a.binary(&event(bins, None)).await;
    let lens = recv(&mut a).await;
    assert_eq!(
        field(&lens, "data"),
        Some(&Value::Array(vec![
            s("bins"),
            Value::Array(vec![Value::Int(3), Value::Int(0)])
        ]))
    );

    // `Data<Vec<String>>` and a broadcast to a room reach the member only.
    b.binary(&event(
        vec![s("join"), Value::Array(vec![s("room")])],
        Some(1),
    ))
    .await;
    assert_eq!(
        field(&recv(&mut b).await, "data"),
        Some(&Value::Array(vec![s("joined")]))
    );
    srv.io
        .to("room")
        .emit_args("news", &("n", 2.5))
        .await
        .expect("broadcast");
    let news = recv(&mut b).await;
    assert_eq!(
        field(&news, "data"),
        Some(&Value::Array(vec![s("news"), s("n"), Value::Float(2.5)]))
    );
    a.assert_quiet(Duration::from_millis(150)).await;

    // An ack from the client: the server asks, the client answers (what the server got is
    // reported back; binary answers are in the e2e suite).
    a.binary(&event(vec![s("ask")], None)).await;
    let q = recv(&mut a).await;
    assert_eq!(
        field(&q, "data"),
        Some(&Value::Array(vec![s("q"), Value::Int(1)]))
    );
    let Some(Value::Int(id)) = field(&q, "id").cloned() else {
        panic!("no ack id: {q:?}")
    };
    a.binary(&packet(
        3,
        "/",
        Some(Value::Array(vec![s("yes")])),
        Some(id),
    ))
    .await;
    let answer = recv(&mut a).await;
    let Some(Value::Array(data)) = field(&answer, "data") else {
        panic!("{answer:?}")
    };
    assert_eq!(field(&data[1], "args"), Some(&Value::Int(1)));
    assert_eq!(field(&data[1], "first"), Some(&s("yes")));

    for mut ws in [a, b] {
        ws.binary(&packet(1, "/", None, None)).await;
        ws.text("1").await;
        ws.expect_close().await;
    }
    srv.assert_no_leak().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_msgpack_closes_that_client_only() {
    let srv = msgpack_server().await;
    let mut bystander = connect(&srv).await;
    let deep = {
        let mut v = Value::Null;
        for _ in 0..129 {
            v = Value::Array(vec![v]);
        }
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // Stricter than Node's parser, as the JSON parser is.
        ("a reserved event name", event(vec![s("disconnect")], None)),
        (
            "an object as event name",
            event(vec![Value::Map(vec![])], None),
        ),
        ("an event with no name", event(vec![], None)),
        (
            "an ACK without id",
            packet(3, "/", Some(Value::Array(vec![])), None),
        ),
        ("a negative ack id", event(vec![s("echo")], Some(-1))),
        ("an ack id of 2^53", event(vec![s("echo")], Some(1 << 53))),
        ("nesting 129 deep", event(vec![s("echo"), deep], None)),
        // As Node's parser.
        (
            "a CONNECT_ERROR from a client",
            packet(4, "/", Some(s("x")), None),
        ),
        (
            "a namespace not joined",
            packet(2, "/other", Some(Value::Array(vec![s("echo")])), None),
        ),
        ("2^32-1 items declared", vec![0xdd, 0xff, 0xff, 0xff, 0xff]),
        ("not msgpack", vec![0xc1]),
        ("trailing bytes", {
            let mut v = event(vec![s("echo")], None);
            v.push(0xc0);
            v
        }),
    ];
    for (name, bytes) in cases {
        let mut ws = connect(&srv).await;
        ws.binary(&bytes).await;
        let code = ws.expect_close().await;
        assert!(code.is_none_or(|c| c >= 1000), "{name}: {code:?}");
    }
    // Text is refused: a JSON event on a joined connection, and a JSON CONNECT.
    let mut ws = connect(&srv).await;
    ws.text(r#"42["echo","x"]"#).await;
    ws.expect_close().await;
    let (mut ws, _) = Ws::connect_eio(srv.addr).await;
    ws.text("40").await;
    ws.expect_close().await;

    assert_echo(&mut bystander, "still here").await;
    let mut fresh = connect(&srv).await;
    assert_echo(&mut fresh, "fresh").await;
    for mut ws in [bystander, fresh] {
        ws.text("1").await;
        ws.expect_close().await;
    }
    srv.assert_no_leak().await;
}
