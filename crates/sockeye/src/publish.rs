//! An HTTP endpoint through which any backend broadcasts to rooms (feature `publish`).
//!
//! A backend in any language `POST`s a JSON body naming the namespace, the rooms, the rooms
//! to leave out, the event and its arguments; the server broadcasts it as
//! `io.of(namespace).to(rooms).except(except).emit(event, ...args)` would, through the
//! namespace's adapter, so with a cluster adapter (`sockeye_redis`) it reaches the clients of
//! every server. The answer says how many clients of *this* server it was queued for.
//!
//! ```text
//! POST /publish
//! Authorization: Bearer <token>
//! Content-Type: application/json
//!
//! {"namespace": "/", "rooms": ["ACME"], "except": [], "event": "price",
//!  "args": [{"symbol": "ACME", "price": 12.5}], "volatile": false}
//!
//! 200 OK
//! {"ok":true,"local_clients":3}
//! ```
//!
//! Only `event` is required: `namespace` is `/` by default, no `rooms` means every client of
//! the namespace, `args` is `[]`, `volatile` false. Arguments are JSON (no binary). Unknown
//! fields are refused, so that a misspelt `room` does not broadcast to everyone.
//!
//! | answer | when | body |
//! |---|---|---|
//! | 200 | broadcast | `{"ok":true,"local_clients":N}` |
//! | 400 | not JSON, a field of the wrong type or unknown, no `event`, a reserved event name | `{"ok":false,"error":"..."}` |
//! | 401 | no `Authorization: Bearer` token, or not the right one (with `WWW-Authenticate: Bearer`) | |
//! | 404 | the namespace does not exist on this server | |
//! | 405 | not a `POST` (with `Allow: POST`) | |
//! | 413 | a body over the limit (1 MB by default), told by its `Content-Length` or found reading it | |
//! | 415 | a `Content-Type` other than JSON (none is taken as JSON) | |
//! | 503 | the cluster could not be reached (this server's clients were sent it) | |
//!
//! The token is checked before the body is read, and compared in constant time (the SHA-256
//! digests of the expected and the given token, compared with `subtle`, so neither its
//! content nor its length shows in the answer's timing). It must be at least 16 characters
//! of printable ASCII: make one with `openssl rand -hex 32`.
//!
//! # Examples
//! Mounted in front of any service (here the tutorial's), at `/publish`:
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use sockeye::publish::Publisher;
//! let (layer, io) = sockeye::SocketIo::new_layer();
//! let publisher = Publisher::new(&io, std::env::var("PUBLISH_TOKEN")?)?;
//! let app = axum::Router::new().layer(layer).layer(publisher.layer());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//! Then, from anywhere: `curl -H "Authorization: Bearer $PUBLISH_TOKEN" -H 'Content-Type:
//! application/json' -d '{"rooms":["ACME"],"event":"price","args":[12.5]}'
//! http://127.0.0.1:8080/publish`.

use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sockeye_core::parser::RESERVED_EVENTS;
use sockeye_core::{value, AdapterError, Payload};
use subtle::ConstantTimeEq;

use crate::service::{ResponseFuture, SioBody};
use crate::{EmitError, SocketIo};

/// The default path of [`PublishLayer`].
pub const DEFAULT_PATH: &str = "/publish";

/// The default limit of a request's body, in bytes (Node's `maxHttpBufferSize`).
pub const DEFAULT_MAX_BODY: usize = 1_000_000;

/// What to broadcast: the JSON body of a publish request.
///
/// # Examples
/// ```
/// use sockeye::publish::PublishRequest;
/// let req: PublishRequest = serde_json::from_str(
///     r#"{"rooms": ["ACME"], "event": "price", "args": [{"price": 12.5}]}"#,
/// ).unwrap();
/// assert_eq!((req.namespace.as_str(), req.rooms.len()), ("/", 1));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PublishRequest {
    /// The namespace (default `/`).
    #[serde(default = "root")]
    pub namespace: String,
    /// The rooms to send to (a socket's id is a room too); none: every client of the
    /// namespace.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// The rooms whose clients are left out.
    #[serde(default)]
    pub except: Vec<String>,
    /// The event's name.
    pub event: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<serde_json::Value>,
    /// Whether a client that has not read what it was sent before may miss it (see
    /// [`BroadcastOperator::volatile`](crate::BroadcastOperator::volatile)).
    #[serde(default)]
    pub volatile: bool,
}

fn root() -> String {
    "/".to_owned()
}

impl PublishRequest {
    /// A request for `event` with `args` to every client of `/`.
    ///
    /// # Examples
    /// ```
    /// use sockeye::publish::PublishRequest;
    /// let mut req = PublishRequest::new("price", vec![serde_json::json!(12.5)]);
    /// req.rooms.push("ACME".into());
    /// ```
    pub fn new(event: impl Into<String>, args: Vec<serde_json::Value>) -> PublishRequest {
        PublishRequest {
            namespace: root(),
            rooms: Vec::new(),
            except: Vec::new(),
            event: event.into(),
            args,
            volatile: false,
        }
    }
}

/// Why a publish request was refused; [`PublishError::status`] is its HTTP status.
///
/// # Examples
/// ```
/// use sockeye::publish::PublishError;
/// assert_eq!(PublishError::UnknownNamespace("/x".into()).status(), http::StatusCode::NOT_FOUND);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// No bearer token was given.
    #[error("missing bearer token (send `Authorization: Bearer <token>`)")]
    MissingToken,
    /// The token is not the right one.
    #[error("invalid token")]
    InvalidToken,
    /// The request is not a `POST`.
    #[error("method not allowed: use POST")]
    MethodNotAllowed,
    /// The body is not JSON.
    #[error("unsupported content type `{0}`: send application/json")]
    UnsupportedMediaType(String),
    /// The body is over the limit (in bytes).
    #[error("body over {0} bytes")]
    TooLarge(usize),
    /// The body is not a valid request.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The namespace does not exist on this server.
    #[error("unknown namespace `{0}`")]
    UnknownNamespace(String),
    /// The cluster could not be reached (this server's clients were sent the event).
    #[error("the other servers could not be reached: {0}")]
    Cluster(AdapterError),
}

impl PublishError {
    /// The HTTP status of the answer.
    ///
    /// # Examples
    /// ```
    /// use sockeye::publish::PublishError;
    /// assert_eq!(PublishError::InvalidToken.status().as_u16(), 401);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            PublishError::MissingToken | PublishError::InvalidToken => StatusCode::UNAUTHORIZED,
            PublishError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PublishError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PublishError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            PublishError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PublishError::UnknownNamespace(_) => StatusCode::NOT_FOUND,
            PublishError::Cluster(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The token is unfit: shorter than 16 characters, or not printable ASCII.
///
/// # Examples
/// ```
/// # let (_layer, io) = sockeye::SocketIo::new_layer();
/// assert!(sockeye::publish::Publisher::new(&io, "short").is_err());
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the publish token must be at least 16 characters of printable ASCII, without spaces")]
pub struct InvalidToken;

/// Broadcasts what backends publish (see the [module docs](self)). Cheap to clone.
///
/// # Examples
/// ```
/// # async fn f(io: sockeye::SocketIo) -> Result<(), Box<dyn std::error::Error>> {
/// use sockeye::publish::{PublishRequest, Publisher};
/// let publisher = Publisher::new(&io, "0123456789abcdef0123456789abcdef")?.max_body_bytes(64 * 1024);
/// // In process, without HTTP:
/// let reached = publisher.publish(PublishRequest::new("news", vec!["hello".into()])).await?;
/// println!("{reached} clients here");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Publisher {
    io: SocketIo,
    digest: [u8; 32],
    max_body: usize,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher for `io` that accepts requests bearing `token`.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo) -> Result<(), sockeye::publish::InvalidToken> {
    /// let publisher = sockeye::publish::Publisher::new(&io, "0123456789abcdef0123456789abcdef")?;
    /// # let _ = publisher; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`InvalidToken`] when the token is shorter than 16 characters or has characters
    /// other than printable ASCII (it travels in a header).
    pub fn new(io: &SocketIo, token: impl AsRef<str>) -> Result<Publisher, InvalidToken> {
        let token = token.as_ref();
        if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidToken);
        }
        Ok(Publisher {
            io: io.clone(),
            digest: Sha256::digest(token.as_bytes()).into(),
            max_body: DEFAULT_MAX_BODY,
        })
    }

    /// The largest body accepted, in bytes (default [`DEFAULT_MAX_BODY`], 1,000,000).
    ///
    /// # Examples
    /// ```
    /// # fn f(p: sockeye::publish::Publisher) {
    /// let p = p.max_body_bytes(64 * 1024);
    /// # }
    /// ```
    pub fn max_body_bytes(mut self, bytes: usize) -> Publisher {
        self.max_body = bytes;
        self
    }

    /// A layer that answers publish requests at [`DEFAULT_PATH`] (`/publish`) and passes
    /// every other request to the service it wraps.
    ///
    /// # Examples
    /// ```
    /// # fn f(io: sockeye::SocketIo, p: sockeye::publish::Publisher) {
    /// let svc = tower_layer::Layer::layer(&p.layer(), sockeye::StaticDir::new("public"));
    /// # }
    /// ```
    pub fn layer(self) -> PublishLayer {
        PublishLayer {
            publisher: self,
            path: DEFAULT_PATH.into(),
        }
    }

    /// Broadcasts `req` (no token check: for a caller in the process); answers how many
    /// clients of this server it was queued for.
    ///
    /// # Examples
    /// See [`Publisher`].
    ///
    /// # Errors
    /// [`PublishError::BadRequest`] for an empty or reserved event name,
    /// [`PublishError::UnknownNamespace`], [`PublishError::Cluster`] when the adapter could
    /// not reach the other servers (after delivering here).
    pub async fn publish(&self, req: PublishRequest) -> Result<usize, PublishError> {
        if req.event.is_empty() || RESERVED_EVENTS.contains(&req.event.as_str()) {
            return Err(PublishError::BadRequest(format!(
                "`{}` cannot be published: it is empty or reserved",
                req.event
            )));
        }
        let Some(mut op) = self.io.of(&req.namespace) else {
            return Err(PublishError::UnknownNamespace(req.namespace));
        };
        if !req.rooms.is_empty() {
            op = op.to(req.rooms);
        }
        if !req.except.is_empty() {
            op = op.except(req.except);
        }
        if req.volatile {
            op = op.volatile();
        }
        let args = req
            .args
            .iter()
            .map(value::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PublishError::BadRequest(e.to_string()))?;
        match op
            .send_counted(&req.event, Payload::from_values(args))
            .await
        {
            Ok(n) => Ok(n),
            Err(EmitError::Adapter(e)) => Err(PublishError::Cluster(e)),
            Err(e) => Err(PublishError::BadRequest(e.to_string())),
        }
    }

    /// Answers one HTTP request: checks the method, the token, the content type and the
    /// size, reads the body, and broadcasts it. Every answer has a JSON body.
    ///
    /// # Examples
    /// As an axum handler:
    /// ```
    /// # fn f(io: sockeye::SocketIo, publisher: sockeye::publish::Publisher) {
    /// use axum::{body::Body, http::Request, routing::post};
    /// let app: axum::Router = axum::Router::new().route(
    ///     "/api/publish",
    ///     post(move |req: Request<Body>| async move { publisher.handle(req).await }),
    /// );
    /// # }
    /// ```
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match self.handle_inner(req).await {
            Ok(n) => answer(
                StatusCode::OK,
                serde_json::json!({"ok": true, "local_clients": n}),
            ),
            Err(e) => {
                let mut res = answer(
                    e.status(),
                    serde_json::json!({"ok": false, "error": e.to_string()}),
                );
                let h = res.headers_mut();
                match e {
                    PublishError::MissingToken | PublishError::InvalidToken => {
                        h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    }
                    PublishError::MethodNotAllowed => {
                        h.insert(header::ALLOW, HeaderValue::from_static("POST"));
                    }
                    _ => {}
                }
                res
            }
        }
    }

    async fn handle_inner<B>(&self, req: Request<B>) -> Result<usize, PublishError>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if req.method() != Method::POST {
            return Err(PublishError::MethodNotAllowed);
        }
        self.check_token(req.headers())?;
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if mime != "application/json" && !mime.ends_with("+json") {
                return Err(PublishError::UnsupportedMediaType(
                    ct.chars().take(100).collect(),
                ));
            }
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return Err(PublishError::TooLarge(self.max_body));
        }
        let body = match Limited::new(req.into_body(), self.max_body).collect().await {
            Ok(collected) => collected.aggregate(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(PublishError::TooLarge(self.max_body));
            }
            Err(e) => return Err(PublishError::BadRequest(format!("reading the body: {e}"))),
        };
        let publish: PublishRequest = serde_json::from_reader(body.reader())
            .map_err(|e| PublishError::BadRequest(format!("invalid JSON body: {e}")))?;
        self.publish(publish).await
    }

    fn check_token(&self, headers: &http::HeaderMap) -> Result<(), PublishError> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(PublishError::MissingToken)?;
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        if bool::from(digest.ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(PublishError::InvalidToken)
        }
    }
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // An answer about a secret-bearing request is nobody's to keep.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A tower layer that answers publish requests at one path (see [`Publisher::layer`]).
///
/// # Examples
/// ```
/// # fn f(p: sockeye::publish::Publisher) {
/// let layer = p.layer().path("/api/publish");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PublishLayer {
    publisher: Publisher,
    path: String,
}

impl PublishLayer {
    /// Answers at `path` instead of [`DEFAULT_PATH`] (matched exactly).
    ///
    /// # Examples
    /// See [`PublishLayer`].
    pub fn path(mut self, path: impl Into<String>) -> PublishLayer {
        self.path = path.into();
        self
    }
}

impl<S> tower_layer::Layer<S> for PublishLayer {
    type Service = PublishService<S>;

    fn layer(&self, inner: S) -> PublishService<S> {
        PublishService {
            publisher: self.publisher.clone(),
            path: self.path.clone().into(),
            inner,
        }
    }
}

/// The service of [`PublishLayer`]: publish requests at its path, the rest to `S`.
///
/// # Examples
/// ```
/// # fn f(p: sockeye::publish::Publisher) {
/// let svc: sockeye::publish::PublishService<sockeye::NotFound> =
///     tower_layer::Layer::layer(&p.layer(), sockeye::NotFound);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PublishService<S> {
    publisher: Publisher,
    path: std::sync::Arc<str>,
    inner: S,
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for PublishService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<SioBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if req.uri().path() != &*self.path {
            return ResponseFuture::Inner {
                fut: self.inner.call(req),
            };
        }
        let publisher = self.publisher.clone();
        ResponseFuture::Engine {
            fut: Box::pin(async move { publisher.handle(req).await }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_defaults_and_refuse_unknown_fields() {
        let r: PublishRequest = serde_json::from_str(r#"{"event":"e"}"#).unwrap();
        assert_eq!(r.namespace, "/");
        assert!(r.rooms.is_empty() && r.except.is_empty() && r.args.is_empty() && !r.volatile);
        assert!(serde_json::from_str::<PublishRequest>(r#"{"event":"e","room":"x"}"#).is_err());
        assert!(serde_json::from_str::<PublishRequest>(r#"{"rooms":["x"]}"#).is_err());
        assert!(serde_json::from_str::<PublishRequest>(r#"{"event":1}"#).is_err());
    }

    #[test]
    fn statuses() {
        assert_eq!(PublishError::MissingToken.status(), 401);
        assert_eq!(PublishError::TooLarge(1).status(), 413);
        assert_eq!(PublishError::BadRequest(String::new()).status(), 400);
        assert_eq!(
            PublishError::UnsupportedMediaType(String::new()).status(),
            415
        );
        assert_eq!(PublishError::MethodNotAllowed.status(), 405);
    }
}
