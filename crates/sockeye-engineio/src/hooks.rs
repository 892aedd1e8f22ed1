//! The application's say in the HTTP exchanges: refusing a handshake (Node's
//! `allowRequest`), hearing of refused requests (the engine's `connection_error` event) and
//! adding response headers (its `initial_headers` and `headers` events).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::request::Parts;
use http::HeaderMap;

use crate::errors::HttpError;

/// A refused request: one of Node's error codes, and the message the answer carries.
///
/// An [`AllowRequest`] hook refuses with it. Node's `allowRequest(req, callback)` refuses
/// with `callback(message, false)`: code 4 ("Forbidden", status `403`) and the message, or
/// "Forbidden" when the message is empty; that is [`RequestRefusal::forbidden`] and
/// [`RequestRefusal::with_message`]. Another code (engine.io 3's form of the callback,
/// `callback(code, false)`) is answered with status `400`. Over polling the body is Node's
/// JSON, `{"code":4,"message":"..."}`; a WebSocket upgrade gets `400` with the message as
/// plain text, as Node answers both.
///
/// # Examples
/// ```
/// use sockeye_engineio::{HttpError, RequestRefusal};
/// let r = RequestRefusal::forbidden().with_message("try later");
/// assert_eq!(r.error(), HttpError::Forbidden);
/// assert_eq!(r.message(), "try later");
/// assert_eq!(RequestRefusal::forbidden().message(), "Forbidden");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRefusal {
    error: HttpError,
    message: Option<String>,
}

impl RequestRefusal {
    /// A refusal with Node's code and message for `error` (e.g. code 3, "Bad request").
    ///
    /// # Examples
    /// ```
    /// use sockeye_engineio::{HttpError, RequestRefusal};
    /// assert_eq!(RequestRefusal::new(HttpError::BadRequest).message(), "Bad request");
    /// ```
    pub fn new(error: HttpError) -> RequestRefusal {
        RequestRefusal {
            error,
            message: None,
        }
    }

    /// Code 4, "Forbidden" (status `403`): what Node's `allowRequest` refuses with.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(sockeye_engineio::RequestRefusal::forbidden().code(), 4);
    /// ```
    pub fn forbidden() -> RequestRefusal {
        RequestRefusal::new(HttpError::Forbidden)
    }

    /// The message the answer carries instead of the code's own (Node's first argument of
    /// `allowRequest`'s callback). An empty message keeps the code's own, as in Node.
    ///
    /// # Examples
    /// ```
    /// let r = sockeye_engineio::RequestRefusal::forbidden().with_message("banned");
    /// assert_eq!(r.to_string(), "banned");
    /// ```
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> RequestRefusal {
        let message = message.into();
        self.message = (!message.is_empty()).then_some(message);
        self
    }

    /// What was wrong.
    ///
    /// # Examples
    /// ```
    /// use sockeye_engineio::{HttpError, RequestRefusal};
    /// assert_eq!(RequestRefusal::from(HttpError::UnknownSid).error(), HttpError::UnknownSid);
    /// ```
    pub fn error(&self) -> HttpError {
        self.error
    }

    /// Node's numeric code (0 to 5).
    ///
    /// # Examples
    /// ```
    /// use sockeye_engineio::{HttpError, RequestRefusal};
    /// assert_eq!(RequestRefusal::new(HttpError::UnknownSid).code(), 1);
    /// ```
    pub fn code(&self) -> u8 {
        self.error.code()
    }

    /// The message the answer carries: the one given, or the code's own.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(sockeye_engineio::RequestRefusal::forbidden().message(), "Forbidden");
    /// ```
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or(self.error.message())
    }

    /// The message given with [`RequestRefusal::with_message`], if any.
    ///
    /// # Examples
    /// ```
    /// let r = sockeye_engineio::RequestRefusal::forbidden();
    /// assert_eq!(r.custom_message(), None);
    /// ```
    pub fn custom_message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The JSON body of a polling answer, `{"code":4,"message":"..."}`.
    pub(crate) fn body(&self) -> String {
        let message = serde_json::to_string(self.message()).unwrap_or_default();
        format!("{{\"code\":{},\"message\":{message}}}", self.code())
    }
}

impl From<HttpError> for RequestRefusal {
    fn from(error: HttpError) -> Self {
        RequestRefusal::new(error)
    }
}

impl std::fmt::Display for RequestRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for RequestRefusal {}

/// The future an asynchronous [`AllowRequest`] hook returns.
pub type AllowFuture = Pin<Box<dyn Future<Output = Result<(), RequestRefusal>> + Send>>;

type SyncHook = dyn Fn(&Parts) -> Result<(), RequestRefusal> + Send + Sync;
type AsyncHook = dyn Fn(&Parts) -> AllowFuture + Send + Sync;

/// A hook that sees each handshake request (a request without `sid`, over polling or
/// WebSocket) and may refuse it: Node's `allowRequest`. It runs where Node runs it: after
/// the transport, the `Origin` header, the method (a handshake is a `GET`) and, for a
/// WebSocket handshake, the `Upgrade` header are checked, and before the protocol version
/// is. A refused request is answered as [`RequestRefusal`] says, and reported to
/// [`EngineConfig::on_connection_error`](crate::EngineConfig::on_connection_error).
///
/// # Examples
/// ```
/// use sockeye_engineio::{AllowRequest, RequestRefusal};
/// // Synchronous: refuses clients without a token in the query.
/// let sync = AllowRequest::new(|req: &http::request::Parts| {
///     match req.uri.query().is_some_and(|q| q.contains("token=")) {
///         true => Ok(()),
///         false => Err(RequestRefusal::forbidden().with_message("no token")),
///     }
/// });
/// // Asynchronous: copy what the check needs out of the request, then wait for it.
/// let lookup = AllowRequest::new_async(|req: &http::request::Parts| {
///     let ip = req.headers.get("x-forwarded-for").cloned();
///     async move {
///         tokio::task::yield_now().await; // a database, a rate limiter...
///         match ip {
///             Some(_) => Ok(()),
///             None => Err(RequestRefusal::forbidden()),
///         }
///     }
/// });
/// # let _ = (sync, lookup);
/// ```
#[derive(Clone)]
pub struct AllowRequest(Hook);

#[derive(Clone)]
enum Hook {
    Sync(Arc<SyncHook>),
    Async(Arc<AsyncHook>),
}

impl std::fmt::Debug for AllowRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Hook::Sync(_) => "AllowRequest(sync)",
            Hook::Async(_) => "AllowRequest(async)",
        })
    }
}

impl AllowRequest {
    /// A hook that decides at once.
    ///
    /// # Examples
    /// ```
    /// let allow = sockeye_engineio::AllowRequest::new(|_req: &http::request::Parts| Ok(()));
    /// # let _ = allow;
    /// ```
    pub fn new(
        hook: impl Fn(&Parts) -> Result<(), RequestRefusal> + Send + Sync + 'static,
    ) -> AllowRequest {
        AllowRequest(Hook::Sync(Arc::new(hook)))
    }

    /// A hook that may wait (a database, another service) before it decides. The request
    /// is borrowed only while the hook is called: take what the future needs from it first.
    /// The client's request waits meanwhile; other requests do not.
    ///
    /// # Examples
    /// ```
    /// use sockeye_engineio::{AllowRequest, RequestRefusal};
    /// let allow = AllowRequest::new_async(|req: &http::request::Parts| {
    ///     let banned = req.uri.query() == Some("EIO=4&transport=polling&user=mallory");
    ///     async move { if banned { Err(RequestRefusal::forbidden()) } else { Ok(()) } }
    /// });
    /// # let _ = allow;
    /// ```
    pub fn new_async<F, Fut>(hook: F) -> AllowRequest
    where
        F: Fn(&Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), RequestRefusal>> + Send + 'static,
    {
        AllowRequest(Hook::Async(Arc::new(move |req: &Parts| -> AllowFuture {
            Box::pin(hook(req))
        })))
    }

    /// Runs the hook on a request.
    pub(crate) async fn check(&self, req: &Parts) -> Result<(), RequestRefusal> {
        match &self.0 {
            Hook::Sync(hook) => hook(req),
            Hook::Async(hook) => hook(req).await,
        }
    }
}

/// A request the engine refused before it reached a session: Node's `connection_error`
/// event, with its code and message, the message an [`AllowRequest`] hook refused with, and
/// the request.
///
/// What Node reports is reported: an unknown transport (code 0), an unknown or closed
/// session id (1), a handshake that is not a `GET` (2), a bad request (3: a WebSocket
/// handshake without `Upgrade`, a transport or protocol version other than the session's,
/// an invalid `Origin`), a refusal (4: [`AllowRequest`], and Sockeye's own: a WebSocket
/// from an origin CORS does not allow, [`EngineConfig::max_connections`], a server shutting
/// down), an unsupported protocol version (5). Problems found once a session has the
/// request (a second concurrent poll, an oversized body) are not, as in Node.
///
/// [`EngineConfig::max_connections`]: crate::EngineConfig::max_connections
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use sockeye_engineio::{ConnectionError, EngineConfig};
/// let mut config = EngineConfig::default();
/// config.on_connection_error = Some(Arc::new(|err: &ConnectionError<'_>| {
///     eprintln!("refused {} (code {}: {})", err.request.uri, err.error.code(), err.error);
/// }));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ConnectionError<'a> {
    /// What was wrong: its [`HttpError::code`] and text are Node's `err.code` and
    /// `err.message`.
    pub error: HttpError,
    /// The message an [`AllowRequest`] hook refused with, when it gave one (Node's
    /// `err.context.message`).
    pub refusal: Option<&'a str>,
    /// The request (Node's `err.req`).
    pub request: &'a Parts,
}

/// Hears of every request the engine refused (see [`ConnectionError`]). It runs on the
/// request's task: keep it short.
pub type ConnectionErrorHook = Arc<dyn Fn(&ConnectionError<'_>) + Send + Sync>;

/// Adds or changes headers of a response, seeing the request it answers (Node's
/// `initial_headers` and `headers` events). It runs on the request's task: keep it short.
pub type HeadersHook = Arc<dyn Fn(&mut HeaderMap, &Parts) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_nodes() {
        assert_eq!(
            RequestRefusal::forbidden().body(),
            r#"{"code":4,"message":"Forbidden"}"#
        );
        assert_eq!(
            RequestRefusal::forbidden()
                .with_message("say \"please\"")
                .body(),
            r#"{"code":4,"message":"say \"please\""}"#
        );
        assert_eq!(
            RequestRefusal::new(HttpError::BadRequest)
                .with_message("")
                .body(),
            r#"{"code":3,"message":"Bad request"}"#
        );
    }
}
