//! A subscriber can follow one client: what happens for a socket is logged in its span
//! (`socket{sid, ns, conn, transport, remote}`), the connection's own lines in its span
//! (`connection{sid, transport, protocol, remote}`), through tracing-subscriber's JSON
//! formatter as the `sockeye` binary's `--log-format json` uses it.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::Value;

/// Collects what the formatter writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().expect("capture").clone()).expect("UTF-8");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

// A current-thread runtime: the server's tasks run on this thread, under its subscriber.
#[tokio::test]
async fn a_clients_lines_carry_its_ids_namespace_and_transport() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let srv = start().await;
    let (mut ws, engine_sid) = Ws::connect_eio(srv.addr).await;
    ws.text("40").await;
    assert!(ws.recv_text().await.starts_with("40{\"sid\":"));
    ws.assert_echo("traced").await;
    let socket_id = srv.stats.last_socket().expect("a socket").id().to_string();
    ws.text("1").await;
    ws.expect_close().await;
    assert!(
        wait_until(READ_TIMEOUT, || capture
            .lines()
            .iter()
            .any(|l| l["fields"]["message"] == "session closed"))
        .await
    );

    let lines = capture.lines();
    let event = lines
        .iter()
        .find(|l| l["fields"]["message"] == "event" && l["fields"]["event"] == "\"echo\"")
        .unwrap_or_else(|| panic!("no event line in {lines:#?}"));
    let span = &event["span"];
    assert_eq!(span["name"], "socket");
    assert_eq!(span["sid"], socket_id.as_str());
    assert_eq!(span["ns"], "/");
    assert_eq!(span["conn"], engine_sid.as_str());
    assert_eq!(span["transport"], "websocket");
    assert!(span["remote"]
        .as_str()
        .is_some_and(|r| r.starts_with("127.0.0.1:")));
    // A root span: the line is filed under this socket only.
    assert_eq!(event["spans"].as_array().map(Vec::len), Some(1));

    for message in ["session opened", "session closed"] {
        let line = lines
            .iter()
            .find(|l| l["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line"));
        assert_eq!(line["span"]["name"], "connection", "{message}");
        assert_eq!(line["span"]["sid"], engine_sid.as_str(), "{message}");
        assert_eq!(line["span"]["protocol"], 4, "{message}");
    }
    let connected = lines
        .iter()
        .find(|l| l["fields"]["message"] == "socket connected")
        .expect("the socket's connect line");
    assert_eq!(connected["span"]["sid"], socket_id.as_str());
}
