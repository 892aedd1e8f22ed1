//! `sockeye::publish` through the library: the layer at a path of one's choosing in front of
//! another service, inside an axum router, and the in-process `Publisher::publish`. The HTTP
//! behaviour (statuses, limits, the cluster) is tested against the binary in `e2e/ops/`.

mod common;

use common::{request, Ws};
use sockeye::publish::{PublishError, PublishRequest, Publisher};
use sockeye::{SocketIo, SocketRef};

const TOKEN: &str = "library-token-0123456789";

async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The next text frame that is an event (pings answered).
async fn next_event(ws: &mut Ws) -> String {
    loop {
        let t = ws.recv_text().await;
        if t.starts_with("42") {
            return t;
        }
    }
}

#[tokio::test]
async fn a_layer_at_its_own_path_in_an_axum_router() {
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", |s: SocketRef| s.join("news"));
    let publisher = Publisher::new(&io, TOKEN).unwrap();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "page" }))
        .layer(layer)
        .layer(publisher.layer().path("/api/publish"));
    let addr = serve(app).await;
    let mut ws = Ws::connect_sio(addr).await;

    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let body = br#"{"rooms":["news"],"event":"headline","args":["hello",{"n":1}]}"#;
    let res = request(addr, "POST", "/api/publish", &headers, body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["local_clients"], 1);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(
        next_event(&mut ws).await,
        r#"42["headline","hello",{"n":1}]"#
    );

    // Elsewhere, the router answers as before.
    let page = request(addr, "GET", "/", &[], b"").await;
    assert_eq!((page.status, page.text().as_str()), (200, "page"));
    let default_path = request(addr, "POST", "/publish", &headers, body).await;
    assert_eq!(default_path.status, 404, "only the path chosen");
    let no_token = request(addr, "POST", "/api/publish", &[], body).await;
    assert_eq!(no_token.status, 401);
    assert_eq!(no_token.json()["ok"], false);
}

#[tokio::test]
async fn publishing_in_process() {
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", |s: SocketRef| s.join("a"));
    io.ns("/feeds", |_: SocketRef| {});
    let addr = serve(axum::Router::new().layer(layer)).await;
    let mut one = Ws::connect_sio(addr).await;
    let _two = Ws::connect_sio(addr).await;
    let publisher = Publisher::new(&io, TOKEN).unwrap();

    let mut req = PublishRequest::new("tick", vec![serde_json::json!(1)]);
    assert_eq!(publisher.publish(req.clone()).await.unwrap(), 2);
    assert_eq!(next_event(&mut one).await, r#"42["tick",1]"#);
    req.namespace = "/feeds".into();
    assert_eq!(
        publisher.publish(req.clone()).await.unwrap(),
        0,
        "no one there"
    );
    req.namespace = "/missing".into();
    assert!(matches!(
        publisher.publish(req).await,
        Err(PublishError::UnknownNamespace(ns)) if ns == "/missing"
    ));
    let reserved = PublishRequest::new("connect", vec![]);
    assert!(matches!(
        publisher.publish(reserved).await,
        Err(PublishError::BadRequest(_))
    ));
    assert!(Publisher::new(&io, "too short").is_err());
    assert!(Publisher::new(&io, "has a space in it, long enough").is_err());
}
