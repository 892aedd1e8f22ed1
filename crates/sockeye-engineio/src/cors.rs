//! Cross-origin resource sharing for the engine path, as Node's `cors` package answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};

/// Which origins may talk to the server from a browser, and what their pages may send and
/// read: Node's `cors` option (the options of the `cors` package).
///
/// The rule for origins is one of: none (the default: no CORS headers, same-origin pages
/// only), [`Cors::any`], a list compared exactly ([`Cors::origins`]: scheme, host and port,
/// never by prefix or pattern), or a predicate ([`Cors::predicate`], and
/// [`Cors::predicate_async`] for one that waits), Node's `origin: (origin, callback) => …`.
/// An allowed origin is reflected in `Access-Control-Allow-Origin` with `Vary: Origin`.
/// As with Node's function, an origin the predicate refuses gets no CORS headers at all,
/// while one missing from a list gets `Vary: Origin` only. With a list or a predicate,
/// WebSocket upgrades from a refused origin are refused too (`400`), unless the origin is
/// the server's own (its `Host`): a page of another site must not open a session that
/// carries the user's cookies (Node does not check WebSocket origins).
///
/// The other options are Node's, with its defaults: [`credentials`](Cors::credentials)
/// (off), the preflight's [`methods`](Cors::methods) (`GET,HEAD,PUT,PATCH,POST,DELETE`) and
/// [`allowed_headers`](Cors::allowed_headers) (default: those the preflight asks for, with
/// `Vary: Access-Control-Request-Headers`), [`exposed_headers`](Cors::exposed_headers)
/// (none) and [`max_age`](Cors::max_age) (none). A preflight (`OPTIONS`) is answered `204`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use sockeye_engineio::Cors;
/// let cors = Cors::origins(["https://example.com"]).credentials(true);
/// assert!(cors.allows("https://example.com"));
/// assert!(!cors.allows("https://example.com.evil.net"));
///
/// // Every subdomain of example.com, over HTTPS; pages may read `x-request-id`.
/// let cors = Cors::predicate(|origin: &str| {
///     origin.strip_prefix("https://").is_some_and(|host| host.ends_with(".example.com"))
/// })
/// .credentials(true)
/// .methods(["GET", "POST"])
/// .allowed_headers(["authorization"])
/// .exposed_headers(["x-request-id"])
/// .max_age(Duration::from_secs(600));
/// assert!(cors.allows("https://app.example.com"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cors {
    rule: Rule,
    credentials: bool,
    check_websocket: bool,
    methods: Option<HeaderValue>,
    allowed_headers: Option<HeaderValue>,
    exposed_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

type OriginFuture = Pin<Box<dyn Future<Output = bool> + Send>>;
type Predicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type AsyncPredicate = Arc<dyn Fn(&str) -> OriginFuture + Send + Sync>;

#[derive(Clone, Default)]
enum Rule {
    /// No CORS headers at all (same-origin pages only), and no origin check on WebSocket.
    #[default]
    Off,
    /// `Access-Control-Allow-Origin: *` (the origin reflected when credentials are on).
    Any,
    /// Reflect the request's origin when it is in the list.
    List(Vec<String>),
    /// Reflect the request's origin when the predicate allows it.
    Predicate(Predicate),
    /// The same, with a predicate that may wait.
    AsyncPredicate(AsyncPredicate),
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Off => f.write_str("Off"),
            Rule::Any => f.write_str("Any"),
            Rule::List(list) => f.debug_tuple("List").field(list).finish(),
            Rule::Predicate(_) => f.write_str("Predicate"),
            Rule::AsyncPredicate(_) => f.write_str("AsyncPredicate"),
        }
    }
}

/// What the CORS rule says of one request's origin, decided once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No CORS: no headers.
    Off,
    /// `Cors::any`.
    Any,
    /// The origin is allowed: reflect it.
    Allowed,
    /// A list does not have the origin (or there is none): `Vary: Origin` only.
    Listed,
    /// The predicate refused the origin: no headers, as Node's `cors` skips the request.
    Refused,
}

/// Node's `cors` default for `methods`.
const DEFAULT_METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE";

fn header_list<I, S>(what: &str, items: I) -> HeaderValue
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let joined = items
        .into_iter()
        .map(|s| s.as_ref().trim().to_owned())
        .collect::<Vec<_>>()
        .join(",");
    HeaderValue::from_str(&joined)
        .unwrap_or_else(|_| panic!("invalid CORS {what}: {joined:?} is not a header value"))
}

impl Cors {
    /// Any origin may call (`*`; the request's origin is reflected when credentials are on).
    ///
    /// # Examples
    /// ```
    /// assert!(sockeye_engineio::Cors::any().allows("https://anywhere.example"));
    /// ```
    pub fn any() -> Cors {
        Cors {
            rule: Rule::Any,
            ..Cors::default()
        }
    }

    /// Only these origins (e.g. `https://example.com`) may call. WebSocket upgrades from other
    /// origins are refused too.
    ///
    /// # Examples
    /// ```
    /// let cors = sockeye_engineio::Cors::origins(["https://a.example", "https://b.example"]);
    /// assert!(cors.allows("https://b.example"));
    /// ```
    pub fn origins<I, S>(origins: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cors {
            rule: Rule::List(origins.into_iter().map(Into::into).collect()),
            check_websocket: true,
            ..Cors::default()
        }
    }

    /// The origins `allow` returns true for may call (Node's `origin` function). It sees the
    /// request's `Origin` header, and runs once per request that has one. WebSocket upgrades
    /// from other origins are refused too.
    ///
    /// # Examples
    /// ```
    /// let cors = sockeye_engineio::Cors::predicate(|origin: &str| origin.ends_with(".example.com"));
    /// assert!(cors.allows("https://app.example.com"));
    /// assert!(!cors.allows("https://example.org"));
    /// ```
    pub fn predicate(allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> Cors {
        Cors {
            rule: Rule::Predicate(Arc::new(allow)),
            check_websocket: true,
            ..Cors::default()
        }
    }

    /// Like [`Cors::predicate`], for a predicate that may wait (a list of tenants in a
    /// database). It runs once per request that has an `Origin` header; that request waits
    /// for it, others do not.
    ///
    /// # Examples
    /// ```
    /// let cors = sockeye_engineio::Cors::predicate_async(|origin: &str| {
    ///     let origin = origin.to_owned();
    ///     async move { origin == "https://tenant.example" }
    /// });
    /// # let _ = cors;
    /// ```
    pub fn predicate_async<F, Fut>(allow: F) -> Cors
    where
        F: Fn(&str) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Cors {
            rule: Rule::AsyncPredicate(Arc::new(move |origin: &str| -> OriginFuture {
                Box::pin(allow(origin))
            })),
            check_websocket: true,
            ..Cors::default()
        }
    }

    /// Whether to send `Access-Control-Allow-Credentials: true` (pages may send cookies).
    /// Default false.
    ///
    /// # Examples
    /// ```
    /// let cors = sockeye_engineio::Cors::origins(["https://example.com"]).credentials(true);
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn credentials(mut self, on: bool) -> Cors {
        self.credentials = on;
        self
    }

    /// The methods a preflight allows (`Access-Control-Allow-Methods`). Default
    /// `GET,HEAD,PUT,PATCH,POST,DELETE`, as Node's.
    ///
    /// # Panics
    /// When a method is not a header value.
    ///
    /// # Examples
    /// ```
    /// let cors = sockeye_engineio::Cors::any().methods(["GET", "POST"]);
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn methods<I, S>(mut self, methods: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.methods = Some(header_list("methods", methods));
        self
    }

    /// The request headers a preflight allows (`Access-Control-Allow-Headers`). Default:
    /// those the preflight asks for (`Access-Control-Request-Headers`), as Node's.
    ///
    /// # Panics
    /// When a name is not a header value.
    ///
    /// # Examples
    /// ```
    /// let cors = sockeye_engineio::Cors::any().allowed_headers(["authorization", "x-token"]);
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn allowed_headers<I, S>(mut self, headers: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed_headers = Some(header_list("allowed headers", headers));
        self
    }

    /// The response headers pages may read (`Access-Control-Expose-Headers`, on every
    /// answer to an allowed origin). Default: none.
    ///
    /// # Panics
    /// When a name is not a header value.
    ///
    /// # Examples
    /// ```
    /// let cors = sockeye_engineio::Cors::any().exposed_headers(["x-request-id"]);
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn exposed_headers<I, S>(mut self, headers: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.exposed_headers = Some(header_list("exposed headers", headers));
        self
    }

    /// How long a browser may keep a preflight's answer (`Access-Control-Max-Age`, in whole
    /// seconds). Default: none (the browser's own).
    ///
    /// # Examples
    /// ```
    /// let cors = sockeye_engineio::Cors::any().max_age(std::time::Duration::from_secs(600));
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Cors {
        self.max_age = Some(HeaderValue::from(age.as_secs()));
        self
    }

    /// Whether `origin` may call. An asynchronous predicate cannot answer here: false.
    ///
    /// # Examples
    /// ```
    /// assert!(sockeye_engineio::Cors::default().allows("https://a.example"));
    /// ```
    pub fn allows(&self, origin: &str) -> bool {
        match &self.rule {
            Rule::Off | Rule::Any => true,
            Rule::List(list) => list.iter().any(|o| o == origin),
            Rule::Predicate(allow) => allow(origin),
            Rule::AsyncPredicate(_) => false,
        }
    }

    /// Decides on a request's origin (once per request: a predicate runs here).
    pub(crate) async fn verdict(&self, req: &HeaderMap) -> Verdict {
        let origin = req.get(header::ORIGIN).map(|o| o.to_str());
        match (&self.rule, origin) {
            (Rule::Off, _) => Verdict::Off,
            (Rule::Any, _) => Verdict::Any,
            (Rule::List(list), Some(Ok(o))) if list.iter().any(|l| l == o) => Verdict::Allowed,
            (Rule::List(_), _) => Verdict::Listed,
            (Rule::Predicate(allow), Some(Ok(o))) if allow(o) => Verdict::Allowed,
            (Rule::AsyncPredicate(allow), Some(Ok(o))) if allow(o).await => Verdict::Allowed,
            // No origin: not a cross-origin call; tell caches the answer depends on it.
            (Rule::Predicate(_) | Rule::AsyncPredicate(_), None) => Verdict::Listed,
            (Rule::Predicate(_) | Rule::AsyncPredicate(_), Some(_)) => Verdict::Refused,
        }
    }

    /// Whether a WebSocket upgrade carrying these headers is refused for its origin.
    pub(crate) fn refuses_websocket(&self, verdict: Verdict, headers: &HeaderMap) -> bool {
        if !self.check_websocket || verdict == Verdict::Allowed {
            return false;
        }
        match headers.get(header::ORIGIN).map(|o| o.to_str()) {
            None => false, // not a browser
            Some(Ok(o)) => !same_origin(o, headers),
            Some(Err(_)) => true,
        }
    }

    /// Adds the response headers for a request with these headers.
    pub(crate) fn apply(&self, verdict: Verdict, req: &HeaderMap, res: &mut HeaderMap) {
        let origin = req.get(header::ORIGIN);
        match (verdict, origin) {
            (Verdict::Off | Verdict::Refused, _) => return,
            (Verdict::Listed, _) => {
                add_vary(res, "Origin");
                return;
            }
            (Verdict::Any, Some(o)) if self.credentials => {
                res.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            }
            (Verdict::Any, _) => {
                res.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            (Verdict::Allowed, Some(o)) => {
                res.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            }
            (Verdict::Allowed, None) => {}
        }
        add_vary(res, "Origin");
        if self.credentials {
            res.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(h) = &self.exposed_headers {
            res.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, h.clone());
        }
    }

    /// Adds the preflight headers (answer to `OPTIONS`).
    pub(crate) fn apply_preflight(&self, verdict: Verdict, req: &HeaderMap, res: &mut HeaderMap) {
        self.apply(verdict, req, res);
        if matches!(verdict, Verdict::Off | Verdict::Refused) {
            return;
        }
        res.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.methods
                .clone()
                .unwrap_or(HeaderValue::from_static(DEFAULT_METHODS)),
        );
        match &self.allowed_headers {
            Some(h) => {
                res.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
            }
            None => {
                add_vary(res, "Access-Control-Request-Headers");
                if let Some(h) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                    if !h.is_empty() && h.len() <= 8192 {
                        res.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
                    }
                }
            }
        }
        if let Some(age) = &self.max_age {
            res.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
        }
    }
}

/// Adds `value` to the response's `Vary` (kept with what is there, as Node's `vary` does).
fn add_vary(res: &mut HeaderMap, value: &'static str) {
    let combined = match res.get(header::VARY).map(|v| v.to_str()) {
        None => HeaderValue::from_static(value),
        Some(Ok(v))
            if v.trim() == "*"
                || v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(value)) =>
        {
            return;
        }
        Some(Ok(v)) => match HeaderValue::from_str(&format!("{v}, {value}")) {
            Ok(h) => h,
            Err(_) => return,
        },
        Some(Err(_)) => HeaderValue::from_static(value),
    };
    res.insert(header::VARY, combined);
}

/// Whether `origin` names the host the request was sent to (a page of this server).
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h
    }

    fn verdict(cors: &Cors, req: &HeaderMap) -> Verdict {
        let mut fut = std::pin::pin!(cors.verdict(req));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("a ready predicate must not wait"),
        }
    }

    fn answer(cors: &Cors, req: &HeaderMap) -> HeaderMap {
        let mut res = HeaderMap::new();
        cors.apply(verdict(cors, req), req, &mut res);
        res
    }

    #[test]
    fn exact_origin_match() {
        let cors = Cors::origins(["https://example.com"]).credentials(true);
        for bad in [
            "https://example.com.evil.net",
            "https://evilexample.com",
            "http://example.com",
            "https://example.com:444",
            "null",
        ] {
            let req = headers(bad);
            let res = answer(&cors, &req);
            assert!(
                res.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
                "{bad}"
            );
            assert!(cors.refuses_websocket(verdict(&cors, &req), &req));
        }
        let res = answer(&cors, &headers("https://example.com"));
        assert_eq!(
            res[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://example.com"
        );
        assert_eq!(res[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(res[header::VARY], "Origin");
    }

    #[test]
    fn websocket_from_the_same_origin_is_allowed() {
        let cors = Cors::origins(["https://example.com"]);
        let mut h = headers("http://127.0.0.1:8080");
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(!cors.refuses_websocket(verdict(&cors, &h), &h));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9090"));
        assert!(cors.refuses_websocket(verdict(&cors, &h), &h));
    }

    #[test]
    fn never_star_with_credentials() {
        let cors = Cors::any().credentials(true);
        let res = answer(&cors, &headers("https://a.example"));
        assert_eq!(
            res[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://a.example"
        );
    }

    /// A predicate's refusal leaves the answer without CORS headers, as Node's `cors` skips
    /// a request its origin function refuses; its approval is answered like a listed origin.
    #[test]
    fn predicate_like_nodes_origin_function() {
        let cors = Cors::predicate(|o| o.ends_with(".example.com"))
            .credentials(true)
            .exposed_headers(["x-a", "x-b"]);
        let req = headers("https://app.example.com");
        let res = answer(&cors, &req);
        assert_eq!(
            res[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert_eq!(res[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(res[header::ACCESS_CONTROL_EXPOSE_HEADERS], "x-a,x-b");
        assert!(!cors.refuses_websocket(verdict(&cors, &req), &req));
        let req = headers("https://evil.example");
        assert!(answer(&cors, &req).is_empty());
        assert!(cors.refuses_websocket(verdict(&cors, &req), &req));
        let mut preflight = HeaderMap::new();
        cors.apply_preflight(verdict(&cors, &req), &req, &mut preflight);
        assert!(preflight.is_empty());
        // Without an Origin header the predicate is not asked.
        assert_eq!(answer(&cors, &HeaderMap::new())[header::VARY], "Origin");
    }

    #[test]
    fn preflight_options() {
        let mut req = headers("https://a.example");
        req.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("x-token"),
        );
        let cors = Cors::origins(["https://a.example"]);
        let mut res = HeaderMap::new();
        cors.apply_preflight(verdict(&cors, &req), &req, &mut res);
        assert_eq!(
            res[header::ACCESS_CONTROL_ALLOW_METHODS],
            "GET,HEAD,PUT,PATCH,POST,DELETE"
        );
        assert_eq!(res[header::ACCESS_CONTROL_ALLOW_HEADERS], "x-token");
        assert_eq!(res[header::VARY], "Origin, Access-Control-Request-Headers");
        assert!(res.get(header::ACCESS_CONTROL_MAX_AGE).is_none());

        let cors = cors
            .methods(["GET", "POST"])
            .allowed_headers(["authorization", " x-e2e"])
            .max_age(Duration::from_millis(600_500));
        let mut res = HeaderMap::new();
        cors.apply_preflight(verdict(&cors, &req), &req, &mut res);
        assert_eq!(res[header::ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(
            res[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization,x-e2e"
        );
        assert_eq!(res[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(res[header::VARY], "Origin");
    }

    #[test]
    fn vary_keeps_what_is_there() {
        let mut res = HeaderMap::new();
        res.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        add_vary(&mut res, "Origin");
        add_vary(&mut res, "origin");
        assert_eq!(res[header::VARY], "Accept-Encoding, Origin");
    }

    #[tokio::test]
    async fn async_predicate_waits() {
        let cors = Cors::predicate_async(|o: &str| {
            let ok = o == "https://a.example";
            async move {
                tokio::task::yield_now().await;
                ok
            }
        });
        assert_eq!(
            cors.verdict(&headers("https://a.example")).await,
            Verdict::Allowed
        );
        assert_eq!(
            cors.verdict(&headers("https://b.example")).await,
            Verdict::Refused
        );
    }
}
