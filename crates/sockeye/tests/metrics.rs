//! The figures of `sockeye::metrics` move when they should, driven by raw clients, as a
//! Prometheus scrape shows them (`record` into metrics-exporter-prometheus's recorder), and
//! the rendered text passes Debian's `promtool check metrics`.
//!
//! The counters are the process's, so every test of this file holds one lock and compares
//! figures before and after; each scrape renders from a fresh recorder, so it shows this
//! test's server only (its namespaces).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use metrics_exporter_prometheus::PrometheusBuilder;
use sockeye::extract::{Data, Refusal};
use sockeye::{Cors, HttpError, OverflowPolicy, RequestRefusal, SocketIo, SocketRef};

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One scrape: every sample by `name{labels}` as rendered, and the text.
struct Scrape {
    text: String,
    samples: HashMap<String, f64>,
}

impl Scrape {
    fn get(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no series {series} in the scrape:\n{}", self.text))
    }

    fn has(&self, series: &str) -> bool {
        self.samples.contains_key(series)
    }
}

fn scrape(io: &SocketIo) -> Scrape {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || sockeye::metrics::record(io));
    let text = handle.render();
    let mut samples = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        samples.insert(series.to_owned(), value.parse().expect("sample value"));
    }
    Scrape { text, samples }
}

/// Waits until `series` has moved by `delta` from `before` (a figure set by another task).
async fn moved(io: &SocketIo, before: &Scrape, series: &str, delta: f64) -> Scrape {
    let from = before.get(series);
    let mut last = scrape(io);
    for _ in 0..300 {
        if last.get(series) - from >= delta {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        last = scrape(io);
    }
    panic!(
        "{series} went from {from} to {}, not by {delta}",
        last.get(series)
    );
}

#[tokio::test]
async fn the_rendered_text_passes_promtool() {
    let _g = LOCK.lock().await;
    let srv = start().await;
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.assert_echo("promtool").await;
    let text = scrape(&srv.io).text;
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{promtool}: {e}. This test needs Prometheus's promtool: install Debian's \
                 `prometheus` package (scripts/test.sh does) or set PROMTOOL"
            )
        });
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every family has its help and type, and the counters end in `_total`.
    for name in [
        "sockeye_engineio_open_connections",
        "sockeye_engineio_handshakes_total",
        "sockeye_engineio_sent_bytes_total",
        "sockeye_sockets",
        "sockeye_broadcasts_total",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
    }
}

#[tokio::test]
async fn engine_figures_follow_the_clients() {
    let _g = LOCK.lock().await;
    let srv = start().await;
    let io = &srv.io;
    let ws_open = r#"sockeye_engineio_open_connections{transport="websocket",protocol="4"}"#;
    let poll_open = r#"sockeye_engineio_open_connections{transport="polling",protocol="4"}"#;
    let ws_hs = r#"sockeye_engineio_handshakes_total{transport="websocket",protocol="4"}"#;
    let poll_hs = r#"sockeye_engineio_handshakes_total{transport="polling",protocol="4"}"#;

    // A WebSocket client: a handshake, a session open, packets and bytes both ways, and its
    // own close.
    let before = scrape(io);
    let mut ws = Ws::connect_sio(srv.addr).await;
    ws.assert_echo("figures").await;
    let after = moved(io, &before, ws_hs, 1.0).await;
    assert_eq!(after.get(ws_open) - before.get(ws_open), 1.0);
    for series in [
        r#"sockeye_engineio_received_packets_total{transport="websocket"}"#,
        r#"sockeye_engineio_sent_packets_total{transport="websocket"}"#,
    ] {
        // `40` and the echo in; the open packet, the CONNECT answer and the echo out.
        assert!(after.get(series) - before.get(series) >= 2.0, "{series}");
    }
    for series in [
        r#"sockeye_engineio_received_bytes_total{transport="websocket"}"#,
        r#"sockeye_engineio_sent_bytes_total{transport="websocket"}"#,
    ] {
        assert!(after.get(series) - before.get(series) >= 30.0, "{series}");
    }
    let closed = r#"sockeye_engineio_disconnects_total{reason="transport_close"}"#;
    let before = scrape(io);
    ws.text("1").await;
    ws.expect_close().await;
    let after = moved(io, &before, closed, 1.0).await;
    assert_eq!(after.get(ws_open) - before.get(ws_open), -1.0);

    // A polling client: its POST and GET bodies, then its upgrade.
    let before = scrape(io);
    let mut p = Poller::connect_sio(srv.addr).await;
    p.post_ok(r#"42["echo","poll"]"#).await;
    assert_eq!(p.recv().await, r#"42["echo","poll"]"#);
    let after = scrape(io);
    assert_eq!(after.get(poll_hs) - before.get(poll_hs), 1.0);
    assert_eq!(after.get(poll_open) - before.get(poll_open), 1.0);
    let rx = r#"sockeye_engineio_received_packets_total{transport="polling"}"#;
    assert!(after.get(rx) - before.get(rx) >= 2.0, "{rx}");
    let rx_bytes = r#"sockeye_engineio_received_bytes_total{transport="polling"}"#;
    assert!(
        after.get(rx_bytes) - before.get(rx_bytes) >= 19.0,
        "{rx_bytes}"
    );
    let tx_bytes = r#"sockeye_engineio_sent_bytes_total{transport="polling"}"#;
    assert!(
        after.get(tx_bytes) - before.get(tx_bytes) >= 19.0,
        "{tx_bytes}"
    );

    let before = scrape(io);
    let mut up = Ws::upgrade_with(
        srv.addr,
        &format!("EIO=4&transport=websocket&sid={}", p.sid),
        &[],
    )
    .await
    .unwrap_or_else(|r| panic!("upgrade refused: {}", r.status));
    up.text("2probe").await;
    assert_eq!(up.recv_text().await, "3probe");
    up.text("5").await;
    up.assert_echo("upgraded").await;
    let after = moved(io, &before, "sockeye_engineio_upgrades_total", 1.0).await;
    assert_eq!(after.get(poll_open) - before.get(poll_open), -1.0);
    assert_eq!(after.get(ws_open) - before.get(ws_open), 1.0);

    // A client that stops answering pings: the heartbeat timeout.
    let timeout = r#"sockeye_engineio_disconnects_total{reason="ping_timeout"}"#;
    let before = scrape(io);
    up.expect_heartbeat_close().await;
    let after = moved(io, &before, timeout, 1.0).await;
    assert_eq!(after.get(ws_open) - before.get(ws_open), -1.0);

    // Refused requests, by reason.
    let before = scrape(io);
    get(srv.addr, "/socket.io/?EIO=5&transport=polling")
        .await
        .assert_error(400, 5);
    get(srv.addr, "/socket.io/?EIO=4&transport=carrier-pigeon")
        .await
        .assert_error(400, 0);
    get(
        srv.addr,
        "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
    )
    .await
    .assert_error(400, 1);
    let after = scrape(io);
    for reason in [
        "unsupported_protocol_version",
        "unknown_transport",
        "unknown_sid",
    ] {
        let series = format!(r#"sockeye_engineio_refused_requests_total{{reason="{reason}"}}"#);
        assert_eq!(after.get(&series) - before.get(&series), 1.0, "{series}");
    }
    srv.assert_healthy_no_leak().await;
}

#[tokio::test]
async fn the_connection_limit_and_the_shutdown_are_refusals_of_their_own() {
    let _g = LOCK.lock().await;
    let srv = start_with(builder().max_connections(1), |_, _| {}).await;
    let before = scrape(&srv.io);
    let _first = Ws::connect_sio(srv.addr).await;
    get(srv.addr, "/socket.io/?EIO=4&transport=polling")
        .await
        .assert_error(403, 4);
    let after = scrape(&srv.io);
    let series = r#"sockeye_engineio_refused_requests_total{reason="max_connections"}"#;
    assert_eq!(after.get(series) - before.get(series), 1.0);
    let forbidden = r#"sockeye_engineio_refused_requests_total{reason="shutting_down"}"#;
    assert_eq!(after.get(forbidden), before.get(forbidden));
}

/// The application's refusals are counted as its own, whatever code it answers with, and a
/// WebSocket from an origin the CORS rules refuse is counted as `origin`.
#[tokio::test]
async fn the_hooks_refusals_and_the_origin_check_are_counted_by_reason() {
    let _g = LOCK.lock().await;
    let b = builder()
        .cors(Cors::origins(["https://example.com"]))
        .allow_request_async(|req: &http::request::Parts| {
            let query = req.uri.query().unwrap_or_default().to_owned();
            async move {
                if query.contains("deny=forbidden") {
                    Err(RequestRefusal::forbidden().with_message("not you"))
                } else if query.contains("deny=code3") {
                    Err(RequestRefusal::new(HttpError::BadRequest))
                } else {
                    Ok(())
                }
            }
        });
    let srv = start_with(b, |_, _| {}).await;
    let series =
        |reason: &str| format!(r#"sockeye_engineio_refused_requests_total{{reason="{reason}"}}"#);
    let before = scrape(&srv.io);
    get(
        srv.addr,
        "/socket.io/?EIO=4&transport=polling&deny=forbidden",
    )
    .await
    .assert_error(403, 4);
    get(srv.addr, "/socket.io/?EIO=4&transport=polling&deny=code3")
        .await
        .assert_error(400, 3);
    let refused = Ws::upgrade_with(
        srv.addr,
        "EIO=4&transport=websocket",
        &[("Origin", "https://evil.example")],
    )
    .await
    .err()
    .expect("a foreign origin must not upgrade");
    assert_eq!(refused.status, 400);
    // Accepted: the hook says yes, the origin is allowed.
    let _ok = Ws::upgrade_with(
        srv.addr,
        "EIO=4&transport=websocket",
        &[("Origin", "https://example.com")],
    )
    .await
    .unwrap_or_else(|r| panic!("the allowed origin must upgrade: {}", r.status));
    let after = scrape(&srv.io);
    let delta = |reason: &str| after.get(&series(reason)) - before.get(&series(reason));
    assert_eq!(delta("allow_request"), 2.0, "the hook's two refusals");
    assert_eq!(delta("origin"), 1.0, "the foreign origin");
    assert_eq!(delta("bad_request"), 0.0, "the hook's code 3 is the hook's");
}

#[tokio::test]
async fn socketio_figures_follow_the_sockets() {
    let _g = LOCK.lock().await;
    let srv = start_with(builder(), |io, _| {
        io.ns("/locked", |_: SocketRef| {})
            .with(|| async { Err::<(), _>(Refusal::new("no")) });
        io.dyn_ns(|n| n.starts_with("/tenant-"), |_: SocketRef| {});
    })
    .await;
    let io = &srv.io;

    // Sockets per namespace; the children of the dynamic namespace in one series.
    let before = scrape(io);
    let _a = Ws::connect_sio(srv.addr).await;
    let _b = Ws::connect_ns(srv.addr, "/other").await;
    let _t1 = Ws::connect_ns(srv.addr, "/tenant-1").await;
    let _t2 = Ws::connect_ns(srv.addr, "/tenant-2").await;
    let _t3 = Ws::connect_ns(srv.addr, "/tenant-2").await;
    let after = scrape(io);
    assert_eq!(before.get(r#"sockeye_sockets{namespace="/"}"#), 0.0);
    assert_eq!(after.get(r#"sockeye_sockets{namespace="/"}"#), 1.0);
    assert_eq!(after.get(r#"sockeye_sockets{namespace="/other"}"#), 1.0);
    assert_eq!(after.get(r#"sockeye_sockets{namespace="(dynamic)"}"#), 3.0);
    assert_eq!(after.get(r#"sockeye_namespaces{kind="dynamic"}"#), 2.0);
    assert_eq!(after.get(r#"sockeye_namespaces{kind="static"}"#), 3.0);
    assert!(!after.has(r#"sockeye_sockets{namespace="/tenant-1"}"#));

    // Refused CONNECTs: a middleware's, an unknown namespace.
    let before = scrape(io);
    let (mut ws, _) = Ws::connect_eio(srv.addr).await;
    ws.text("40/locked,").await;
    assert!(ws.recv_text().await.starts_with("44/locked,"));
    ws.text("40/nowhere,").await;
    assert!(ws.recv_text().await.starts_with("44/nowhere,"));
    let after = scrape(io);
    for reason in ["middleware", "invalid_namespace"] {
        let series = format!(r#"sockeye_connect_refusals_total{{reason="{reason}"}}"#);
        assert_eq!(after.get(&series) - before.get(&series), 1.0, "{series}");
    }

    // A broadcast: one, delivered to the two sockets of `/`.
    let mut c = Ws::connect_sio(srv.addr).await;
    let mut a = _a;
    let before = scrape(io);
    io.emit("news", &1).await.expect("emit");
    assert_eq!(a.recv_text().await, r#"42["news",1]"#);
    assert_eq!(c.recv_text().await, r#"42["news",1]"#);
    let after = scrape(io);
    assert_eq!(
        after.get("sockeye_broadcasts_total") - before.get("sockeye_broadcasts_total"),
        1.0
    );
    let deliveries = "sockeye_broadcast_deliveries_total";
    assert_eq!(after.get(deliveries) - before.get(deliveries), 2.0);

    // A volatile broadcast to a polling client that has not read the last one: dropped.
    let mut p = Poller::connect_sio(srv.addr).await;
    let before = scrape(io);
    io.emit("first", &1).await.expect("emit");
    io.volatile().emit("dropped", &2).await.expect("emit");
    let after = scrape(io);
    let drops = "sockeye_volatile_drops_total";
    assert!(after.get(drops) - before.get(drops) >= 1.0);
    assert_eq!(p.recv().await, r#"42["first",1]"#);

    // An ack the client never sends.
    let before = scrape(io);
    c.text(r#"42["ask"]"#).await;
    loop {
        let t = c.recv_text().await;
        if t.starts_with(r#"42["answer""#) {
            assert!(t.contains("timed out"), "{t}");
            break;
        }
    }
    let after = scrape(io);
    let acks = "sockeye_ack_timeouts_total";
    assert_eq!(after.get(acks) - before.get(acks), 1.0);
}

#[tokio::test]
async fn overflows_by_policy_and_read_pauses() {
    let _g = LOCK.lock().await;
    for (policy, label) in [
        (OverflowPolicy::Drop, "drop"),
        (OverflowPolicy::Disconnect, "disconnect"),
    ] {
        let srv = start_with(builder().max_queued_bytes(1000).overflow(policy), |_, _| {}).await;
        let series = format!(r#"sockeye_engineio_queue_overflows_total{{policy="{label}"}}"#);
        // A polling client that does not poll: its queue fills.
        let _p = Poller::connect_sio(srv.addr).await;
        let before = scrape(&srv.io);
        let big = "x".repeat(800);
        for _ in 0..3 {
            let _ = srv.io.emit("big", &big).await;
        }
        let after = scrape(&srv.io);
        assert!(after.get(&series) - before.get(&series) >= 1.0, "{series}");
        if policy == OverflowPolicy::Disconnect {
            let errors = r#"sockeye_engineio_disconnects_total{reason="transport_error"}"#;
            assert!(after.get(errors) - before.get(errors) >= 1.0);
        }
    }

    let srv = start_with(builder().max_waiting_handlers(1), |io, _| {
        io.ns("/slow", |s: SocketRef| {
            s.on("wait", |Data(ms): Data<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            });
        });
    })
    .await;
    let before = scrape(&srv.io);
    let mut ws = Ws::connect_ns(srv.addr, "/slow").await;
    ws.text(r#"42/slow,["wait",200]"#).await;
    ws.text(r#"42/slow,["wait",1]"#).await;
    moved(&srv.io, &before, "sockeye_read_pauses_total", 1.0).await;
}

#[tokio::test]
async fn declared_namespaces_past_the_label_limit_are_summed() {
    let _g = LOCK.lock().await;
    let max = sockeye::metrics::MAX_NAMESPACE_LABELS;
    let srv = start_with(builder(), |io, _| {
        for i in 0..max {
            io.ns(format!("/s-{i:03}"), |_: SocketRef| {});
        }
    })
    .await;
    // With `/` and `/other`, `max + 2` declared namespaces: by name order the last two are
    // past the limit.
    let last = format!("/s-{:03}", max - 1);
    let _c = Ws::connect_ns(srv.addr, &last).await;
    let s = scrape(&srv.io);
    assert_eq!(s.get(r#"sockeye_sockets{namespace="(other)"}"#), 1.0);
    assert!(!s.has(&format!(r#"sockeye_sockets{{namespace="{last}"}}"#)));
    assert_eq!(s.get(r#"sockeye_sockets{namespace="/"}"#), 0.0);
    assert_eq!(
        s.get(r#"sockeye_namespaces{kind="static"}"#),
        (max + 2) as f64
    );
    let series = s
        .samples
        .keys()
        .filter(|k| k.starts_with("sockeye_sockets{"))
        .count();
    assert_eq!(series, max + 1, "{max} namespaces and (other)");
}
