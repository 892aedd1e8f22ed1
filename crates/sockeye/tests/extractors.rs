//! Extractors in every position (the last one takes the payload instead of cloning it, the
//! others share its bytes), handler lookup (replacement, many handlers) and one connection in
//! two namespaces.

mod common;

use common::*;
use sockeye::extract::{Data, Event, ExtractError, FromMessageParts, MessageParts};
use sockeye::{Payload, SocketRef};

/// Where a payload's bytes sit in memory: its JSON text and each attachment.
#[derive(Debug, PartialEq)]
struct Addresses {
    text: Option<usize>,
    bins: Vec<usize>,
}

impl Addresses {
    fn of(p: &Payload) -> Addresses {
        Addresses {
            text: p.json_parts().map(|(src, _)| src.as_ptr() as usize),
            bins: p.bins().iter().map(|b| b.as_ptr() as usize).collect(),
        }
    }
}

/// The addresses of the message's own payload, read by the handler's last extractor (after
/// the `Payload` before it took its clone).
impl FromMessageParts for Addresses {
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
        Ok(Addresses::of(&parts.payload))
    }
}

/// A namespace whose handlers put the payload and other extractors in various orders.
fn install(io: &sockeye::SocketIo) {
    io.ns("/ext", |socket: SocketRef| {
        // Payload first, then Data: the payload must still be whole for Data.
        socket.on(
            "payload-then-data",
            |s: SocketRef, p: Payload, Data(text): Data<String>| {
                let _ = s.emit("got", &(p.len(), p.arg_text(0).map(str::to_owned), text));
            },
        );
        // Data first, then Payload last (taken).
        socket.on(
            "data-then-payload",
            |s: SocketRef, Data(text): Data<String>, p: Payload| {
                let _ = s.emit("got", &(p.len(), p.arg_text(0).map(str::to_owned), text));
            },
        );
        // A payload that is not the last argument shares the message's bytes: a copy would
        // sit elsewhere in memory.
        socket.on("shared", |s: SocketRef, p: Payload, message: Addresses| {
            let mine = Addresses::of(&p);
            let _ = s.emit(
                "shared",
                &(
                    mine.text.is_some() && mine.text == message.text,
                    mine.bins == message.bins,
                    mine.bins.len(),
                ),
            );
        });
        // The event name last (taken), the payload before it (cloned).
        socket.on_fallback(|s: SocketRef, p: Payload, Event(name): Event| {
            let _ = s.emit("fallback", &(name, p.len()));
        });
        // Registered twice: the second handler wins.
        socket.on("twice", |s: SocketRef| {
            let _ = s.emit("twice", &"first");
        });
        socket.on("twice", |s: SocketRef| {
            let _ = s.emit("twice", &"second");
        });
        // Names that arrive escaped or as a number are matched by their decoded text.
        socket.on("say \"hi\"", |s: SocketRef, Event(name): Event| {
            let _ = s.emit("named", &name);
        });
        socket.on("42", |s: SocketRef, Event(name): Event| {
            let _ = s.emit("named", &name);
        });
        // More handlers than the in-place list holds; names made at run time.
        for i in 0..40 {
            socket.on(format!("many-{i}"), move |s: SocketRef| {
                let _ = s.emit("many", &i);
            });
        }
    });
}

#[tokio::test]
async fn the_last_extractor_takes_and_the_others_see_everything() {
    let srv = start_with(builder(), |io, _| install(io)).await;
    let mut ws = Ws::connect_ns(srv.addr, "/ext").await;

    ws.text(r#"42/ext,["payload-then-data","hello"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"42/ext,["got",[1,"\"hello\"","hello"]]"#
    );
    ws.text(r#"42/ext,["data-then-payload","world"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"42/ext,["got",[1,"\"world\"","world"]]"#
    );
    ws.text(r#"42/ext,["no-such-event",1,2,3]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"42/ext,["fallback",["no-such-event",3]]"#
    );
    srv.assert_healthy().await;
}

#[tokio::test]
async fn a_payload_before_the_last_argument_shares_the_message_bytes() {
    let srv = start_with(builder(), |io, _| install(io)).await;
    let mut ws = Ws::connect_ns(srv.addr, "/ext").await;

    ws.text(r#"42/ext,["shared",{"text":"hello"},2,3,4,5]"#)
        .await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["shared",[true,true,0]]"#);
    // With binary attachments: the attachments are shared too.
    ws.text(r#"452-/ext,["shared",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    ws.binary(&[1, 2, 3]).await;
    ws.binary(&[7u8; 4096]).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["shared",[true,true,2]]"#);
    srv.assert_healthy().await;
}

#[tokio::test]
async fn event_names_are_matched_and_handed_on_decoded() {
    let srv = start_with(builder(), |io, _| install(io)).await;
    let mut ws = Ws::connect_ns(srv.addr, "/ext").await;

    // Escaped in the packet, found by its text, handed to the handler unescaped.
    ws.text(r#"42/ext,["say \"hi\""]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["named","say \"hi\""]"#);
    // The same name with a needless escape is the same name.
    ws.text(r#"42/ext,["say \"h\u0069\""]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["named","say \"hi\""]"#);
    // A numeric name is matched as its decimal text.
    ws.text(r#"42/ext,[42,"x"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["named","42"]"#);
    // Unknown names reach the fallback whole: multi-byte text, escapes.
    ws.text(r#"42/ext,["prix-€",1]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["fallback",["prix-€",1]]"#);
    ws.text(r#"42/ext,["tab\there"]"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"42/ext,["fallback",["tab\there",0]]"#
    );
    // A prefix or an extension of a registered name is another name.
    ws.text(r#"42/ext,["twic"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["fallback",["twic",0]]"#);
    ws.text(r#"42/ext,["twice!"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["fallback",["twice!",0]]"#);
    srv.assert_healthy().await;
}

#[tokio::test]
async fn handlers_are_replaced_and_found_among_many() {
    let srv = start_with(builder(), |io, _| install(io)).await;
    let mut ws = Ws::connect_ns(srv.addr, "/ext").await;

    ws.text(r#"42/ext,["twice"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["twice","second"]"#);
    for i in [0, 15, 16, 17, 39] {
        ws.text(&format!(r#"42/ext,["many-{i}"]"#)).await;
        assert_eq!(ws.recv_text().await, format!(r#"42/ext,["many",{i}]"#));
    }
    // A name that differs only in length, or only in its last byte, is not a match.
    ws.text(r#"42/ext,["many-4"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["many",4]"#);
    ws.text(r#"42/ext,["many-40"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["fallback",["many-40",0]]"#);
    srv.assert_healthy().await;
}

#[tokio::test]
async fn one_connection_in_two_namespaces_reaches_each() {
    let srv = start_with(builder(), |io, _| install(io)).await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.text("40/ext,").await;
    let answer = ws.recv_text().await;
    assert!(answer.starts_with("40/ext,{\"sid\":"), "{answer}");

    ws.text(r#"42["echo","root"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["echo","root"]"#);
    ws.text(r#"42/ext,["twice"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["twice","second"]"#);
    // `/ext` has no `echo`: its fallback answers, not `/`'s handler.
    ws.text(r#"42/ext,["echo","x"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42/ext,["fallback",["echo",1]]"#);

    // Leaving `/ext` keeps `/`.
    ws.text("41/ext,").await;
    ws.text(r#"42["echo","still"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["echo","still"]"#);
    srv.assert_healthy().await;
}
