//! HTTP long-polling: a GET waits for queued packets, a POST delivers the client's packets.
//!
//! The driver of the session machine over HTTP: what a poll answers, and when overlapping
//! requests or packets close the session, is the machine's (`session`); this file reads and
//! writes the requests.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Buf, Bytes, BytesMut};
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::clock;
use crate::core::Shared;
use crate::errors::HttpError;
use crate::handler::Handler;
use crate::http_compression;
use crate::packet::{Packet, ProtocolVersion};
use crate::payload::{self, Outgoing};
use crate::payload_v3;
use crate::response::{self, EngineBody};
use crate::session::{PollAnswer, Via};
use crate::sid::Sid;
use crate::socket::{DisconnectReason, Hub, RequestInfo, Socket, TransportKind};

/// The handshake over polling: a new session, answered with its open packet.
pub(crate) fn open<H: Handler>(
    shared: &Arc<Shared<H>>,
    req: &Parts,
    version: ProtocolVersion,
    b64: bool,
    jsonp: Option<u32>,
) -> (Response<EngineBody>, Sid) {
    let info = Arc::new(RequestInfo::from_parts(req));
    let socket = shared.create_session(info, version, TransportKind::Polling);
    // A JSONP client cannot take binary payloads either.
    socket
        .b64
        .store(b64 || jsonp.is_some(), std::sync::atomic::Ordering::Relaxed);
    let mut open = b"0".to_vec();
    open.extend_from_slice(&shared.open_packet(socket.sid(), TransportKind::Polling));
    {
        let _span = crate::trace::span(&socket).entered();
        tracing::info!(target: "sockeye_engineio", "session opened");
        shared.handler.on_connect(&socket);
        shared.refuse_if_closing(&socket);
    }
    // What the handler queued (a v3 client's automatic connect to `/`) waits for the next
    // poll, as in Node: the handshake response is the open packet alone.
    let body = match version {
        ProtocolVersion::V3 => {
            let mut body = format!("{}:", open.len()).into_bytes();
            body.extend_from_slice(&open);
            body
        }
        _ => open,
    };
    crate::metrics::sent(TransportKind::Polling, 1, body.len() as u64);
    (response::text(wrap_jsonp(body, jsonp)), socket.sid())
}

/// Tells the session that a request ended, however it ends.
struct Active<'a, D> {
    socket: &'a Socket<D>,
    post: bool,
}

impl<D> Drop for Active<'_, D> {
    fn drop(&mut self) {
        let mut st = self.socket.state.lock();
        if self.post {
            st.session.post_end();
        } else {
            st.session.poll_end();
            // After an upgrade the waker is the WebSocket task's.
            if st.session.transport() == TransportKind::Polling {
                st.waker = None;
            }
        }
    }
}

/// A GET: answers with what is queued, waiting for something when the queue is empty.
/// `headers` are the request's (for `Accept-Encoding`).
pub(crate) async fn poll<H: Handler>(
    shared: &Arc<Shared<H>>,
    socket: Arc<Socket<H::Data>>,
    headers: &http::HeaderMap,
    jsonp: Option<u32>,
) -> Response<EngineBody> {
    // Chosen before waiting: the future should not keep the headers.
    let encoding = shared
        .config
        .http_compression
        .and_then(|c| http_compression::choose(headers).map(|e| (c, e)));
    {
        let mut st = socket.state.lock();
        if let Err(out) = st.session.poll_begin(clock::now(), &shared.timing) {
            socket.apply(st, out);
            return response::error(HttpError::BadRequest);
        }
    }
    let _active = Active {
        socket: &*socket,
        post: false,
    };
    let max = shared.config.max_payload;
    let version = socket.protocol();
    let (body, binary, compress) = poll_fn(|cx| {
        let mut st = socket.state.lock();
        let answer = match st.session.poll_answer() {
            PollAnswer::Wait => {
                if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    st.waker = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            // Node's noop and close packets may be compressed, but are far below any threshold.
            PollAnswer::Noop => {
                crate::metrics::sent(TransportKind::Polling, 1, 0);
                (single(version, b'6'), false, true)
            }
            PollAnswer::Close => {
                crate::metrics::sent(TransportKind::Polling, 1, 0);
                (single(version, b'1'), false, true)
            }
            PollAnswer::Packets { end } => {
                let queue = &st.session.outbox.queue[..end];
                let (body, binary, n) = match version {
                    ProtocolVersion::V3 => {
                        let binary = !socket.b64.load(std::sync::atomic::Ordering::Relaxed);
                        payload_v3::encode(queue, binary, max)
                    }
                    _ => {
                        let (body, n) = payload::encode_v4(queue, max);
                        (body, false, n)
                    }
                };
                // As Node: compressed when any of its packets may be.
                let compress = queue.iter().take(n).any(Outgoing::may_compress);
                st.session.taken(n);
                crate::metrics::sent(TransportKind::Polling, n as u64, 0);
                (body, binary, compress)
            }
        };
        Poll::Ready(answer)
    })
    .await;
    if socket.is_closed() && socket.is_drained() {
        shared.forget(socket.sid());
    }
    let body = wrap_jsonp(body, jsonp);
    let (body, coding) = match encoding {
        Some((c, e)) if compress && body.len() >= c.threshold => {
            (http_compression::compress(&body, e, c.level), Some(e))
        }
        _ => (body, None),
    };
    // The bytes that go out, as they go (compressed, or wrapped for JSONP).
    crate::metrics::sent(TransportKind::Polling, 0, body.len() as u64);
    let mut res = response::text(body);
    if binary && jsonp.is_none() {
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    if let Some(e) = coding {
        res.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(e.name()));
    }
    res
}

/// A payload of one packet without data (`6`, `1`).
fn single(version: ProtocolVersion, packet: u8) -> Vec<u8> {
    match version {
        ProtocolVersion::V3 => vec![b'1', b':', packet],
        _ => vec![packet],
    }
}

/// A POST: decodes the packets in the body and hands them to the session.
pub(crate) async fn post<H, B>(
    shared: &Arc<Shared<H>>,
    socket: Arc<Socket<H::Data>>,
    headers: &HeaderMap,
    body: B,
    jsonp: Option<u32>,
) -> Response<EngineBody>
where
    H: Handler,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    {
        let mut st = socket.state.lock();
        if let Err(out) = st.session.post_begin(clock::now(), &shared.timing) {
            socket.apply(st, out);
            return response::error(HttpError::BadRequest);
        }
    }
    let _active = Active {
        socket: &*socket,
        post: true,
    };
    let config = &shared.config;
    let max = config.max_payload;
    let binary_body = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    let v3 = socket.protocol() == ProtocolVersion::V3;
    if binary_body && !v3 {
        // v4 polling is text only.
        socket.close(DisconnectReason::ParseError);
        return response::error(HttpError::BadRequest);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Like Node, an oversized body is refused but the session goes on.
    if declared.is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let read = read_body(body, max);
    let body = match tokio::time::timeout(config.body_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(BodyError::TooLarge)) => return too_large(),
        Ok(Err(BodyError::Io)) | Err(_) => {
            socket.close(DisconnectReason::TransportError);
            return response::error(HttpError::BadRequest);
        }
    };
    let body = match jsonp {
        Some(_) => match unwrap_jsonp_post(&body) {
            Some(b) => b,
            None => {
                socket.close(DisconnectReason::ParseError);
                return ok_response();
            }
        },
        None => body,
    };
    let max_packets = config.max_packets_per_payload;
    let body_len = body.len() as u64;
    let decoded = match (v3, binary_body) {
        (true, true) => payload_v3::decode_binary(body, max_packets),
        (true, false) => payload_v3::decode_text(body, max_packets),
        _ => payload::decode_v4(body, max_packets),
    };
    let packets = match decoded {
        Ok(p) => p,
        Err(e) => {
            // Like Node: the request itself was fine, so it gets `ok`; the session is closed.
            tracing::debug!(sid = %socket.sid(), "bad polling payload: {e}");
            socket.close(DisconnectReason::ParseError);
            return ok_response();
        }
    };
    crate::metrics::received(TransportKind::Polling, packets.len() as u64, body_len);
    let handler = &shared.handler;
    // The packets not yet handed on: if the request is dropped while it waits for reading to
    // resume, the client has lost them, and the session ends rather than skip them silently.
    let mut undelivered = Undelivered {
        socket: &socket,
        left: packets.len(),
    };
    for p in packets {
        // A handler may pause reading (too much of this client's work waiting): the rest
        // of the body waits too, as the WebSocket task leaves frames in the kernel's buffer.
        std::future::poll_fn(|cx| socket.poll_reading(cx)).await;
        if socket.is_closed() {
            break;
        }
        undelivered.left -= 1;
        match p {
            Packet::Message(m) => handler.on_message(&socket, m),
            Packet::Binary(b) => handler.on_binary(&socket, b),
            // The machine's: heartbeats, a close, and what it refuses.
            other => {
                socket.on_packet(Via::Polling, &other, &shared.timing);
            }
        }
    }
    // A paused session (see `Socket::pause_reading`) answers once reading resumes: the
    // client sends its next POST only then.
    std::future::poll_fn(|cx| socket.poll_reading(cx)).await;
    ok_response()
}

/// Closes the session if a POST ends with packets it did not hand on.
struct Undelivered<'a, D> {
    socket: &'a Arc<Socket<D>>,
    left: usize,
}

impl<D> Drop for Undelivered<'_, D> {
    fn drop(&mut self) {
        if self.left > 0 && !self.socket.is_closed() {
            self.socket.close(DisconnectReason::TransportError);
        }
    }
}

fn ok_response() -> Response<EngineBody> {
    let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res
}

/// `___eio[j]("<payload as a JS string>");` (U+2028 and U+2029 escaped, as Node does).
pub(crate) fn wrap_jsonp(body: Vec<u8>, jsonp: Option<u32>) -> Vec<u8> {
    let Some(j) = jsonp else { return body };
    let text = String::from_utf8_lossy(&body);
    let quoted = serde_json::to_string(&text)
        .unwrap_or_default()
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    format!("___eio[{j}]({quoted});").into_bytes()
}

/// The payload of a JSONP POST: the form field `d`, URL-decoded, with the client's escaped
/// newlines restored.
fn unwrap_jsonp_post(body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    let field = text.split('&').find_map(|pair| pair.strip_prefix("d="))?;
    let mut out = Vec::with_capacity(field.len());
    let b = field.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    let text = String::from_utf8(out).ok()?;
    // The client escapes newlines: a backslash and `n` is a newline, unless another
    // backslash comes first (then the three characters stay).
    let mut restored = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut prev_backslash = false;
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'n') && !prev_backslash {
            chars.next();
            restored.push('\n');
            prev_backslash = false;
            continue;
        }
        prev_backslash = c == '\\';
        restored.push(c);
    }
    Some(Bytes::from(restored))
}

fn too_large() -> Response<EngineBody> {
    let mut res = Response::new(Full::default());
    *res.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    // The body was not read, so the connection cannot carry another request.
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

enum BodyError {
    TooLarge,
    Io,
}

/// Reads a body, giving up as soon as it passes `max` bytes.
async fn read_body<B>(body: B, max: usize) -> Result<Bytes, BodyError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Io)?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let total = first.as_ref().map_or(0, |f| f.len()) + buf.len() + data.remaining();
        if total > max {
            return Err(BodyError::TooLarge);
        }
        if first.is_none() && buf.is_empty() {
            first = Some(data.copy_to_bytes(data.remaining()));
        } else {
            if let Some(f) = first.take() {
                buf.extend_from_slice(&f);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                data.advance(n);
            }
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}
