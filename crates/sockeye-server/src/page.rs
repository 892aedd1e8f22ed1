//! The built-in page.

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;

const INDEX: &str = include_str!("../assets/index.html");

/// Serves the tutorial page at `/` (and `/index.html`), 404 elsewhere.
#[derive(Clone, Debug)]
pub struct Page(Bytes);

impl Page {
    /// The page for clients of the JSON parser (`socket.io.js`).
    pub fn json() -> Page {
        Page(Bytes::from_static(INDEX.as_bytes()))
    }

    /// The page for the msgpack parser: the same, with the bundle that has
    /// `socket.io-msgpack-parser` built in (served, or from the CDN).
    pub fn msgpack() -> Page {
        let page = INDEX
            .replace(
                "/socket.io/socket.io.js",
                "/socket.io/socket.io.msgpack.min.js",
            )
            .replace("/socket.io.min.js", "/socket.io.msgpack.min.js");
        Page(Bytes::from(page))
    }
}

impl<B> tower_service::Service<Request<B>> for Page {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let found = matches!(req.uri().path(), "/" | "/index.html")
            && matches!(*req.method(), Method::GET | Method::HEAD);
        let res = if found {
            let mut r = Response::new(Full::new(self.0.clone()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        } else {
            let mut r = Response::new(Full::new(Bytes::from_static(b"Not Found")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        };
        std::future::ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_msgpack_page_loads_the_msgpack_bundle() {
        let json = String::from_utf8(Page::json().0.to_vec()).unwrap();
        let msgpack = String::from_utf8(Page::msgpack().0.to_vec()).unwrap();
        assert!(json.contains(r#"src="/socket.io/socket.io.js""#));
        assert!(msgpack.contains(r#"src="/socket.io/socket.io.msgpack.min.js""#));
        assert!(msgpack.contains("cdn.socket.io/4.8.1/socket.io.msgpack.min.js"));
        assert!(!msgpack.contains("socket.io.js\""));
    }
}
