//! `sockeye::admin::instrument` through the library: the options the binary does not expose
//! (another namespace, production mode), and the set-up errors. The protocol itself is tested
//! with the real socket.io-client against Node's own admin UI server side in `e2e/ops/`.

mod common;

use std::time::Duration;

use common::{builder, start_with, Ws};
use serde_json::Value;
use sockeye::admin::{instrument, AdminAuth, AdminError, AdminMode, AdminOptions};

/// The next event of `ns` (pings answered, other namespaces' packets skipped): its name and
/// arguments.
async fn next_event(ws: &mut Ws, ns: &str) -> (String, Vec<Value>) {
    let prefix = format!("42{ns},");
    loop {
        let text = ws.recv_text().await;
        if let Some(json) = text.strip_prefix(&prefix) {
            let mut v: Vec<Value> = serde_json::from_str(json).expect("event JSON");
            let name = v.remove(0).as_str().expect("event name").to_owned();
            return (name, v);
        }
    }
}

/// The first event of `ns` named `name` that `keep` accepts, within 6 seconds (three
/// statistics ticks); panics after.
async fn wait_event(
    ws: &mut Ws,
    ns: &str,
    name: &str,
    keep: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let wait = async {
        loop {
            let (n, args) = next_event(ws, ns).await;
            if n == name && keep(&args) {
                return args;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(6), wait)
        .await
        .unwrap_or_else(|_| panic!("no {name} on {ns} in time"))
}

/// A heartbeat longer than any test here, so that clients that read nothing stay connected.
fn slow_heartbeat() -> sockeye::SocketIoBuilder {
    builder()
        .ping_interval(Duration::from_secs(20))
        .ping_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn production_mode_on_another_namespace_sends_statistics_only() {
    let server = start_with(slow_heartbeat(), |io, _| {
        let opts = AdminOptions::new(AdminAuth::None)
            .namespace("/ops")
            .mode(AdminMode::Production)
            .server_id("eu-1");
        instrument(io, opts).expect("instrument");
    })
    .await;
    let mut admin = Ws::connect_ns(server.addr, "/ops").await;
    let (name, args) = next_event(&mut admin, "/ops").await;
    assert_eq!(name, "config");
    let features: Vec<&str> = args[0]["supportedFeatures"]
        .as_array()
        .expect("features")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert_eq!(
        features,
        [
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
            "AGGREGATED_EVENTS"
        ],
        "no ALL_EVENTS in production"
    );
    // A client of `/` arrives and talks: production mode says nothing of it, until the
    // statistics come (within their 2 s), which count it. Three ticks at most.
    let mut user = Ws::connect_sio(server.addr).await;
    user.text("42[\"echo\",1]").await;
    let mut ticks = 0;
    let stats = loop {
        ticks += 1;
        assert!(ticks <= 3, "three statistics without the user's socket");
        let (name, args) = next_event(&mut admin, "/ops").await;
        assert_eq!(
            name, "server_stats",
            "nothing but statistics in production mode"
        );
        let s = args[0].clone();
        if s["namespaces"].as_array().is_some_and(|n| {
            n.iter()
                .any(|ns| ns["name"] == "/" && ns["socketsCount"].as_u64() >= Some(1))
        }) {
            break s;
        }
    };
    assert_eq!(stats["serverId"], "eu-1");
    assert_eq!(stats["pid"], u64::from(std::process::id()));
    assert!(stats["clientsCount"].as_u64() >= Some(2));
    let names: Vec<&str> = stats["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names.first(), Some(&"/"), "/ first: {names:?}");
    assert!(names.contains(&"/ops"));
    // The sockets are not in the data of production mode.
    let data = server
        .stats
        .last_socket()
        .expect("the user's socket")
        .data_value();
    assert_eq!(data, sockeye::value::Value::Map(vec![]), "no _admin field");
    drop(user);
}

#[tokio::test]
async fn development_mode_keeps_the_ui_fields_in_the_data_and_reports_set_data() {
    let server = start_with(slow_heartbeat(), |io, _| {
        instrument(io, AdminOptions::new(AdminAuth::None)).expect("instrument");
    })
    .await;
    let mut admin = Ws::connect_ns(server.addr, "/admin").await;
    wait_event(&mut admin, "/admin", "all_sockets", |_| true).await;
    let _user = Ws::connect_sio(server.addr).await;
    let socket = server.stats.last_socket().expect("the user's socket");
    let data: Value = socket.data().expect("data");
    assert_eq!(data["_admin"]["transport"], "websocket", "{data}");
    assert_eq!(
        data["_admin"]["clientId"].as_str().map(str::len),
        Some(12),
        "{data}"
    );
    socket
        .set_data(&serde_json::json!({"user": "ada"}))
        .unwrap();
    let update = wait_event(&mut admin, "/admin", "socket_updated", |args| {
        args[0].get("data").is_some()
    })
    .await
    .remove(0);
    assert_eq!(update["id"], socket.id().as_str());
    assert_eq!(update["nsp"], "/");
    assert_eq!(update["data"], serde_json::json!({"user": "ada"}));
}

#[tokio::test]
async fn set_up_errors() {
    let server = start_with(builder(), |_, _| {}).await;
    let io = &server.io;
    assert!(matches!(
        instrument(io, AdminOptions::new(AdminAuth::None).namespace("admin")),
        Err(AdminError::InvalidNamespace(_))
    ));
    assert!(matches!(
        instrument(io, AdminOptions::new(AdminAuth::None).namespace("/other")),
        Err(AdminError::NamespaceTaken(_))
    ));
    instrument(io, AdminOptions::new(AdminAuth::None)).expect("first");
    assert!(matches!(
        instrument(io, AdminOptions::new(AdminAuth::None).namespace("/admin2")),
        Err(AdminError::AlreadyInstrumented)
    ));
    let (_, other) = sockeye::SocketIo::new_svc();
    let outside =
        std::thread::spawn(move || instrument(&other, AdminOptions::new(AdminAuth::None)))
            .join()
            .unwrap();
    assert!(matches!(outside, Err(AdminError::NoRuntime)));
}
