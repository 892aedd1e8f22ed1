//! Cross-origin resource sharing for the engine path.

use http::{header, HeaderMap, HeaderValue};

/// Which origins may talk to the server from a browser.
///
/// Origins are compared exactly (scheme, host and port), never by prefix or pattern.
///
/// # Examples
/// ```
/// use sockeye_engineio::Cors;
/// let cors = Cors::origins(["https://example.com"]).credentials(true);
/// assert!(cors.allows("https://example.com"));
/// assert!(!cors.allows("https://example.com.evil.net"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cors {
    rule: Rule,
    credentials: bool,
    check_websocket: bool,
}

#[derive(Debug, Clone, Default)]
enum Rule {
    /// No CORS headers at all (same-origin pages only), and no origin check on WebSocket.
    #[default]
    Off,
    /// `Access-Control-Allow-Origin: *` (never together with credentials).
    Any,
    /// Reflect the request's origin when it is in the list.
    List(Vec<String>),
}

impl Cors {
    /// Any origin may call (`*`; the request's origin is reflected when credentials are on).
    pub fn any() -> Cors {
        Cors {
            rule: Rule::Any,
            ..Cors::default()
        }
    }

    /// Only these origins (e.g. `https://example.com`) may call. WebSocket upgrades from other
    /// origins are refused too.
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

    /// Whether to send `Access-Control-Allow-Credentials: true`.
    #[must_use]
    pub fn credentials(mut self, on: bool) -> Cors {
        self.credentials = on;
        self
    }

    /// Whether `origin` may call.
    pub fn allows(&self, origin: &str) -> bool {
        match &self.rule {
            Rule::Off | Rule::Any => true,
            Rule::List(list) => list.iter().any(|o| o == origin),
        }
    }

    /// Whether a WebSocket upgrade carrying these headers is refused for its origin.
    pub(crate) fn refuses_websocket(&self, headers: &HeaderMap) -> bool {
        if !self.check_websocket {
            return false;
        }
        match headers.get(header::ORIGIN).map(|o| o.to_str()) {
            None => false, // not a browser
            Some(Ok(o)) => !self.allows(o) && !same_origin(o, headers),
            Some(Err(_)) => true,
        }
    }

    /// Adds the response headers for a request with these headers.
    pub(crate) fn apply(&self, req: &HeaderMap, res: &mut HeaderMap) {
        let origin = req.get(header::ORIGIN);
        match (&self.rule, origin) {
            (Rule::Off, _) => return,
            (Rule::Any, Some(o)) if self.credentials => {
                res.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            }
            (Rule::Any, _) => {
                res.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            (Rule::List(_), Some(o)) if o.to_str().is_ok_and(|o| self.allows(o)) => {
                res.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            }
            (Rule::List(_), _) => {
                res.insert(header::VARY, HeaderValue::from_static("Origin"));
                return;
            }
        }
        res.insert(header::VARY, HeaderValue::from_static("Origin"));
        if self.credentials {
            res.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    /// Adds the preflight headers (answer to `OPTIONS`).
    pub(crate) fn apply_preflight(&self, req: &HeaderMap, res: &mut HeaderMap) {
        self.apply(req, res);
        if matches!(self.rule, Rule::Off) {
            return;
        }
        res.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
        );
        if let Some(h) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            if h.len() <= 8192 {
                res.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
            }
        }
    }
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
            let mut res = HeaderMap::new();
            cors.apply(&headers(bad), &mut res);
            assert!(
                res.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
                "{bad}"
            );
            assert!(cors.refuses_websocket(&headers(bad)));
        }
        let mut res = HeaderMap::new();
        cors.apply(&headers("https://example.com"), &mut res);
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
        assert!(!cors.refuses_websocket(&h));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9090"));
        assert!(cors.refuses_websocket(&h));
    }

    #[test]
    fn never_star_with_credentials() {
        let cors = Cors::any().credentials(true);
        let mut res = HeaderMap::new();
        cors.apply(&headers("https://a.example"), &mut res);
        assert_eq!(
            res[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://a.example"
        );
    }
}
