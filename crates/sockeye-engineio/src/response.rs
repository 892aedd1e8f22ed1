//! The HTTP answers the engine gives, shared by the router and the transports.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::errors::HttpError;
use crate::hooks::RequestRefusal;

/// The response body the engine answers with.
pub type EngineBody = Full<Bytes>;

/// A refused upgrade: 400 with the message as plain text, as Node answers.
pub(crate) fn upgrade_refused(r: &RequestRefusal) -> Response<EngineBody> {
    let mut res = Response::new(Full::new(Bytes::copy_from_slice(r.message().as_bytes())));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// An HTTP error answer with Node's JSON body.
pub(crate) fn error(e: HttpError) -> Response<EngineBody> {
    refused(&RequestRefusal::new(e))
}

/// A refused request: Node's status (403 for code 4, else 400) and JSON body.
pub(crate) fn refused(r: &RequestRefusal) -> Response<EngineBody> {
    let mut res = Response::new(Full::new(Bytes::from(r.body())));
    *res.status_mut() = r.error().status();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// A polling answer (`text/plain; charset=UTF-8`).
pub(crate) fn text(body: Vec<u8>) -> Response<EngineBody> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    res
}
