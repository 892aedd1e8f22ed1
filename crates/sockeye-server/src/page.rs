//! The built-in page.

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;

const INDEX: &str = include_str!("../assets/index.html");

/// Serves the tutorial page at `/` (and `/index.html`), 404 elsewhere.
#[derive(Clone, Copy, Debug)]
pub struct Page;

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
            let mut r = Response::new(Full::new(Bytes::from_static(INDEX.as_bytes())));
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
