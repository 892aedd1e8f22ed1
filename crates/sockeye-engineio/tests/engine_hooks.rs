//! The application's hooks into the engine's HTTP exchanges, driven with raw requests
//! through `Engine::handle`: `allow_request` (sync and async, Node's codes and messages),
//! `on_connection_error`, `on_initial_headers` / `on_headers`, the session cookie,
//! `allow_upgrades` and the CORS options. Every expectation is what Node's engine.io 6.6
//! answers to the same request (checked against it by `e2e/node/engine.test.mjs`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use parking_lot::Mutex;
use sockeye_engineio::{
    AllowRequest, ConnectionError, Cookie, Cors, DisconnectReason, Engine, EngineBody,
    EngineConfig, Handler, HttpError, RequestRefusal, Socket,
};

struct Quiet;
impl Handler for Quiet {
    type Data = ();
    fn new_data(&self) {}
    fn on_connect(&self, _: &Arc<Socket<()>>) {}
    fn on_disconnect(&self, _: &Arc<Socket<()>>, _: DisconnectReason) {}
    fn on_message(&self, _: &Arc<Socket<()>>, _: Bytes) {}
    fn on_binary(&self, _: &Arc<Socket<()>>, _: Bytes) {}
}

const PATH: &str = "/socket.io/";

fn req(method: &str, query: &str, headers: &[(&str, &str)], body: &str) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("{PATH}?{query}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .expect("request")
}

fn ws_req(query: &str, extra: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut headers = vec![
        ("host", "127.0.0.1:3000"),
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];
    headers.extend_from_slice(extra);
    req("GET", query, &headers, "")
}

async fn text(res: Response<EngineBody>) -> (Response<()>, String) {
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn header<'a>(res: &'a Response<()>, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

fn config() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.ping_interval = Duration::from_secs(5);
    c.ping_timeout = Duration::from_secs(5);
    c
}

/// Opens a polling session; returns its id.
async fn open(engine: &Engine<Quiet>) -> String {
    let (res, body) = text(
        engine
            .handle(req("GET", "EIO=4&transport=polling", &[], ""))
            .await,
    )
    .await;
    assert_eq!(res.status(), 200, "{body}");
    let open: serde_json::Value = serde_json::from_str(&body[1..]).expect("open packet");
    open["sid"].as_str().expect("sid").to_owned()
}

type Errors = Arc<Mutex<Vec<(u8, String, Option<String>, String)>>>;

fn record_errors(c: &mut EngineConfig) -> Errors {
    let errors: Errors = Arc::default();
    let e = errors.clone();
    c.on_connection_error = Some(Arc::new(move |err: &ConnectionError<'_>| {
        e.lock().push((
            err.error.code(),
            err.error.message().to_owned(),
            err.refusal.map(str::to_owned),
            err.request.uri.to_string(),
        ));
    }));
    errors
}

#[tokio::test]
async fn allow_request_refuses_with_nodes_codes_and_message() {
    let mut c = config();
    c.allow_request = Some(AllowRequest::new_async(|req: &http::request::Parts| {
        let query = req.uri.query().unwrap_or("").to_owned();
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            match query.split('&').find_map(|p| p.strip_prefix("deny=")) {
                None => Ok(()),
                Some("code3") => Err(RequestRefusal::new(HttpError::BadRequest)),
                Some(m) => Err(RequestRefusal::forbidden().with_message(m.replace("%20", " "))),
            }
        }
    }));
    let errors = record_errors(&mut c);
    let engine = Engine::new(Quiet, c);

    let (res, body) = text(
        engine
            .handle(req(
                "GET",
                "EIO=4&transport=polling&deny=go%20away",
                &[],
                "",
            ))
            .await,
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(header(&res, "content-type"), Some("application/json"));
    assert_eq!(body, r#"{"code":4,"message":"go away"}"#);
    // An empty message keeps Node's own.
    let (res, body) = text(
        engine
            .handle(req("GET", "EIO=4&transport=polling&deny=", &[], ""))
            .await,
    )
    .await;
    assert_eq!(
        (res.status().as_u16(), body.as_str()),
        (403, r#"{"code":4,"message":"Forbidden"}"#)
    );
    // Another code: 400 (engine.io 3's `callback(code, false)`).
    let (res, body) = text(
        engine
            .handle(req("GET", "EIO=4&transport=polling&deny=code3", &[], ""))
            .await,
    )
    .await;
    assert_eq!(
        (res.status().as_u16(), body.as_str()),
        (400, r#"{"code":3,"message":"Bad request"}"#)
    );
    // A WebSocket handshake: 400 with the message as text.
    let (res, body) = text(
        engine
            .handle(ws_req("EIO=4&transport=websocket&deny=no%20sockets", &[]))
            .await,
    )
    .await;
    assert_eq!((res.status().as_u16(), body.as_str()), (400, "no sockets"));
    assert_eq!(header(&res, "content-type"), Some("text/html"));
    assert_eq!(engine.session_count(), 0);
    // Accepted.
    let sid = open(&engine).await;
    assert!(engine.session(sid.parse().expect("sid")).is_some());
    // Requests of a session are not asked about.
    let (res, _) = text(
        engine
            .handle(req(
                "POST",
                &format!("EIO=4&transport=polling&sid={sid}&deny=x"),
                &[],
                "6",
            ))
            .await,
    )
    .await;
    assert_eq!(res.status(), 200);

    let got = errors.lock().clone();
    assert_eq!(
        got.iter()
            .map(|e| (e.0, e.1.as_str(), e.2.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            (4, "Forbidden", Some("go away")),
            (4, "Forbidden", None),
            (3, "Bad request", None),
            (4, "Forbidden", Some("no sockets")),
        ]
    );
    assert_eq!(
        got[0].3,
        "/socket.io/?EIO=4&transport=polling&deny=go%20away"
    );
}

/// Node's order: the transport, then the method, the WebSocket handshake's `Upgrade`,
/// `allowRequest`, and only then the protocol version.
#[tokio::test]
async fn connection_errors_in_nodes_order() {
    let mut c = config();
    c.allow_request = Some(AllowRequest::new(|req: &http::request::Parts| {
        match req.uri.query().unwrap_or("").contains("deny") {
            true => Err(RequestRefusal::forbidden()),
            false => Ok(()),
        }
    }));
    let errors = record_errors(&mut c);
    let engine = Engine::new(Quiet, c);
    let sid = open(&engine).await;
    let cases: Vec<(Request<Full<Bytes>>, u16, u8)> = vec![
        (
            req("GET", "EIO=4&transport=carrier-pigeon", &[], ""),
            400,
            0,
        ),
        // The transport is checked before the version.
        (req("GET", "EIO=9&transport=nope", &[], ""), 400, 0),
        (
            req(
                "GET",
                "EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
                &[],
                "",
            ),
            400,
            1,
        ),
        (req("POST", "EIO=4&transport=polling", &[], "40"), 400, 2),
        (req("GET", "EIO=4&transport=websocket", &[], ""), 400, 3),
        // The session's protocol is 4: another one is a bad request, not code 5.
        (
            req(
                "GET",
                &format!("EIO=3&transport=polling&sid={sid}"),
                &[],
                "",
            ),
            400,
            3,
        ),
        // allowRequest comes before the version check.
        (
            req("GET", "EIO=3&transport=polling&deny=1", &[], ""),
            403,
            4,
        ),
        (req("GET", "EIO=3&transport=polling", &[], ""), 400, 5),
        (req("GET", "transport=polling", &[], ""), 400, 5),
    ];
    for (i, (r, status, code)) in cases.into_iter().enumerate() {
        let (res, body) = text(engine.handle(r).await).await;
        assert_eq!(res.status().as_u16(), status, "case {i}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(json["code"], code, "case {i}");
        let got = errors.lock().last().cloned().expect("reported");
        assert_eq!(got.0, code, "case {i}");
        assert_eq!(json["message"], got.1, "case {i}");
    }
    let messages: Vec<String> = errors.lock().iter().map(|e| e.1.clone()).collect();
    assert_eq!(
        messages,
        [
            "Transport unknown",
            "Transport unknown",
            "Session ID unknown",
            "Bad handshake method",
            "Bad request",
            "Bad request",
            "Forbidden",
            "Unsupported protocol version",
            "Unsupported protocol version",
        ]
    );
    // What a session's transport refuses is not a connection error (as in Node), and
    // neither is a preflight.
    let before = errors.lock().len();
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let (res, _) = text(engine.handle(req("POST", &q, &[], "6")).await).await;
    assert_eq!(res.status(), 200);
    let _ = text(
        engine
            .handle(req("OPTIONS", "EIO=4&transport=polling", &[], ""))
            .await,
    )
    .await;
    assert_eq!(errors.lock().len(), before);
}

#[tokio::test]
async fn headers_hooks_cookie_and_upgrades() {
    let mut c = config();
    // The poll below is answered by the first ping.
    c.ping_interval = Duration::from_millis(50);
    c.allow_upgrades = false;
    c.cookie = Some(Cookie::default());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    c.on_initial_headers = Some(Arc::new(
        move |h: &mut http::HeaderMap, r: &http::request::Parts| {
            // Node's order: the cookie is there already.
            let cookie = h.contains_key(header::SET_COOKIE);
            h.insert("x-initial", HeaderValue::from_static("1"));
            s.lock().push(format!("initial {} cookie={cookie}", r.uri));
        },
    ));
    let s = seen.clone();
    c.on_headers = Some(Arc::new(
        move |h: &mut http::HeaderMap, r: &http::request::Parts| {
            h.insert(
                "x-every",
                HeaderValue::from_str(r.method.as_str()).expect("method"),
            );
            s.lock().push(format!("every {} {}", r.method, r.uri));
        },
    ));
    let engine = Engine::new(Quiet, c);

    // The polling handshake: cookie, both hooks, and no upgrade offered.
    let (res, body) = text(
        engine
            .handle(req("GET", "EIO=4&transport=polling", &[], ""))
            .await,
    )
    .await;
    let open: serde_json::Value = serde_json::from_str(&body[1..]).expect("open");
    let sid = open["sid"].as_str().expect("sid").to_owned();
    assert_eq!(open["upgrades"], serde_json::json!([]));
    assert_eq!(
        header(&res, "set-cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );
    assert_eq!(header(&res, "x-initial"), Some("1"));
    assert_eq!(header(&res, "x-every"), Some("GET"));

    // A poll and a POST: `headers` only, no cookie.
    let q = format!("EIO=4&transport=polling&sid={sid}");
    for r in [req("POST", &q, &[], "6"), req("GET", &q, &[], "")] {
        let method = r.method().to_string();
        let (res, _) = text(engine.handle(r).await).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "x-every"), Some(method.as_str()));
        assert_eq!(header(&res, "x-initial"), None);
        assert_eq!(header(&res, "set-cookie"), None);
    }
    // Errors get neither.
    let (res, _) = text(
        engine
            .handle(req(
                "GET",
                "EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
                &[],
                "",
            ))
            .await,
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(header(&res, "x-every").is_none() && header(&res, "x-initial").is_none());

    // A WebSocket handshake: both hooks, but no cookie (Node's engine sets none there).
    let (res, _) = text(
        engine
            .handle(ws_req("EIO=4&transport=websocket", &[]))
            .await,
    )
    .await;
    assert_eq!(res.status(), 101);
    assert_eq!(header(&res, "x-initial"), Some("1"));
    assert_eq!(header(&res, "x-every"), Some("GET"));
    assert_eq!(header(&res, "set-cookie"), None);

    // An upgrade asked for anyway is carried out, as Node does: its 101 gets `headers` only.
    let up = format!("EIO=4&transport=websocket&sid={sid}");
    let (res, _) = text(engine.handle(ws_req(&up, &[])).await).await;
    assert_eq!(res.status(), 101);
    assert_eq!(header(&res, "x-initial"), None);
    assert_eq!(header(&res, "x-every"), Some("GET"));

    let seen = seen.lock().clone();
    assert_eq!(
        seen[0],
        "initial /socket.io/?EIO=4&transport=polling cookie=true"
    );
    assert_eq!(seen[1], "every GET /socket.io/?EIO=4&transport=polling");
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("initial")).count(),
        2,
        "{seen:?}"
    );

    // With the defaults, WebSocket is offered and no cookie is set.
    let engine = Engine::new(Quiet, config());
    let (res, body) = text(
        engine
            .handle(req("GET", "EIO=4&transport=polling", &[], ""))
            .await,
    )
    .await;
    assert!(body.contains(r#""upgrades":["websocket"]"#), "{body}");
    assert_eq!(header(&res, "set-cookie"), None);
}

#[tokio::test]
async fn cors_predicate_and_options() {
    let mut c = config();
    c.cors = Cors::predicate_async(|origin: &str| {
        let ok = origin == "http://allowed.example";
        async move {
            tokio::task::yield_now().await;
            ok
        }
    })
    .credentials(true)
    .methods(["GET", "POST"])
    .allowed_headers(["x-e2e"])
    .exposed_headers(["x-e2e-exposed"])
    .max_age(Duration::from_secs(600));
    let errors = record_errors(&mut c);
    let engine = Engine::new(Quiet, c);
    let allowed = [("origin", "http://allowed.example")];
    let (res, _) = text(
        engine
            .handle(req("GET", "EIO=4&transport=polling", &allowed, ""))
            .await,
    )
    .await;
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("http://allowed.example")
    );
    assert_eq!(
        header(&res, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        header(&res, "access-control-expose-headers"),
        Some("x-e2e-exposed")
    );
    assert_eq!(header(&res, "vary"), Some("Origin"));
    assert_eq!(header(&res, "access-control-max-age"), None);

    let (res, _) = text(
        engine
            .handle(req("OPTIONS", "EIO=4&transport=polling", &allowed, ""))
            .await,
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("http://allowed.example")
    );
    assert_eq!(
        header(&res, "access-control-allow-methods"),
        Some("GET,POST")
    );
    assert_eq!(header(&res, "access-control-allow-headers"), Some("x-e2e"));
    assert_eq!(header(&res, "access-control-max-age"), Some("600"));
    assert_eq!(
        header(&res, "access-control-expose-headers"),
        Some("x-e2e-exposed")
    );

    // A refused origin: no CORS headers at all, as Node's `cors` skips it.
    let other = [("origin", "http://other.example")];
    for method in ["GET", "OPTIONS"] {
        let (res, _) = text(
            engine
                .handle(req(method, "EIO=4&transport=polling", &other, ""))
                .await,
        )
        .await;
        for h in res.headers().keys() {
            assert!(!h.as_str().starts_with("access-control-"), "{method}: {h}");
        }
    }
    // ...and its WebSocket is refused, unless it is the server's own origin.
    let (res, body) = text(
        engine
            .handle(ws_req("EIO=4&transport=websocket", &other))
            .await,
    )
    .await;
    assert_eq!((res.status().as_u16(), body.as_str()), (400, "Forbidden"));
    assert_eq!(errors.lock().last().map(|e| e.0), Some(4));
    let own = [("origin", "http://127.0.0.1:3000")];
    let (res, _) = text(
        engine
            .handle(ws_req("EIO=4&transport=websocket", &own))
            .await,
    )
    .await;
    assert_eq!(res.status(), 101);
    let (res, _) = text(
        engine
            .handle(ws_req("EIO=4&transport=websocket", &allowed))
            .await,
    )
    .await;
    assert_eq!(res.status(), 101);
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("http://allowed.example")
    );
}
