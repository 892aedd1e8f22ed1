//! The WebSocket transport: the HTTP side of the handshake, then one task per connection
//! (`conn.rs`) carrying an Engine.IO session (`eio.rs`).

mod conn;
pub(crate) mod echo;
mod eio;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use tracing::Instrument;

pub(crate) use self::conn::with_scratch;
use self::conn::{encode_close, Conn, Stream};
pub(crate) use self::eio::{frame_plain, frames_plainly};
use self::eio::{Eio, Phase};
use crate::config::EngineConfig;
use crate::core::{LiveTask, Shared};
use crate::errors::HttpError;
use crate::handler::Handler;
use crate::packet::ProtocolVersion;
use crate::response::EngineBody;
use crate::session::UpgradeDecision;
use crate::socket::{RequestInfo, Socket, TransportKind};
use crate::ws::{
    self, Agreed, Decoder, Encoder, ExtensionError, Limits, OpCode, PerMessageDeflate,
};

/// What the connection's task does once hyper hands the stream over, and the
/// `permessage-deflate` parameters agreed in the handshake.
struct Task<D> {
    then: Then<D>,
    agreed: Option<Agreed>,
}

enum Then<D> {
    /// A new session on this WebSocket.
    Open {
        info: Arc<RequestInfo>,
        version: ProtocolVersion,
        b64: bool,
    },
    /// The probe of an upgrade of a polling session (the upgrade's number).
    Probe(Arc<Socket<D>>, u32),
    /// Close it at once (the session upgraded or is upgrading already), as Node does.
    Close,
}

/// Validates an upgrade request, answers 101 and spawns the connection's task.
pub(crate) fn accept<H: Handler>(
    shared: &Arc<Shared<H>>,
    req: &mut Parts,
    version: ProtocolVersion,
    b64: bool,
    existing: Option<Arc<Socket<H::Data>>>,
) -> Result<Response<EngineBody>, HttpError> {
    let accept = match ws::validate_upgrade(&req.headers) {
        Ok(a) => a,
        Err(ws::HandshakeError::UnsupportedVersion) => {
            let mut res = Response::new(Full::default());
            *res.status_mut() = StatusCode::UPGRADE_REQUIRED;
            res.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return Ok(res);
        }
        Err(_) => return Err(HttpError::BadRequest),
    };
    let config = shared.config.per_message_deflate.as_ref();
    let (agreed, answer) = match negotiate(config, &req.headers) {
        Ok(Some((agreed, answer))) => (Some(agreed), Some(answer)),
        Ok(None) => (None, None),
        Err(e) => return Ok(extension_error(e)),
    };
    let then = match existing {
        None => Then::Open {
            info: Arc::new(RequestInfo::from_parts(req)),
            version,
            b64,
        },
        Some(socket) => match socket.upgrade_request(&shared.timing) {
            UpgradeDecision::Probe(id) => Then::Probe(socket, id),
            UpgradeDecision::Close => Then::Close,
        },
    };
    // What `hyper::upgrade::on` takes from a whole request.
    let on_upgrade = req.extensions.remove::<hyper::upgrade::OnUpgrade>();
    tokio::spawn(task(shared.clone(), on_upgrade, Task { then, agreed }));
    Ok(switching_protocols(accept, answer))
}

fn switching_protocols(
    accept: HeaderValue,
    extensions: Option<HeaderValue>,
) -> Response<EngineBody> {
    let mut res = Response::new(Full::default());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    if let Some(v) = extensions {
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, v);
    }
    res
}

/// Negotiates `permessage-deflate` when the engine offers it (otherwise the client's offer is
/// ignored, as Node's `ws` does when `perMessageDeflate` is off).
fn negotiate(
    config: Option<&PerMessageDeflate>,
    headers: &http::HeaderMap,
) -> Result<Option<(Agreed, HeaderValue)>, ExtensionError> {
    match config {
        Some(config) => ws::negotiate(config, headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS)),
        None => Ok(None),
    }
}

/// A `Sec-WebSocket-Extensions` header Node's `ws` refuses: `400` with its message.
fn extension_error(e: ExtensionError) -> Response<EngineBody> {
    let mut res = Response::new(Full::new(Bytes::from(e.to_string())));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The frame codec of a connection, inflating and deflating when `permessage-deflate` was
/// agreed.
fn codec(
    limits: Limits,
    config: Option<&PerMessageDeflate>,
    agreed: Option<Agreed>,
) -> (Decoder, Encoder) {
    match (config, agreed) {
        (Some(config), Some(agreed)) => (
            Decoder::with_deflate(limits, agreed),
            Encoder::with_deflate(agreed, config),
        ),
        _ => (Decoder::new(limits), Encoder::new()),
    }
}

fn engine_codec(config: &EngineConfig, agreed: Option<Agreed>) -> (Decoder, Encoder) {
    let limits = Limits {
        max_message_size: config.max_payload,
        max_fragments: config.max_ws_fragments,
    };
    codec(limits, config.per_message_deflate.as_ref(), agreed)
}

/// The connection's task: waits for hyper to hand over the stream (boxed, as every rare
/// path), then runs the connection inline.
///
/// A broadcast wakes every connection's task, and with many connections each task's memory is
/// cold when it runs: a running connection is the first variant, so tokio places its fields
/// (the ones every wake-up reads first, see [`Conn`]) right after the task's header, in as few
/// cache lines as they fit. An `async fn` would keep the locals of its start beside them.
enum ConnTask<H: Handler> {
    Running {
        conn: Conn<Eio<H>>,
        /// Counts the task as live until it ends.
        _live: LiveTask<H>,
    },
    /// Until the upgrade completes; then the task becomes what it yields.
    Starting(Pin<Box<dyn Future<Output = ConnTask<H>> + Send>>),
    /// A probe, a refused socket, a connection traced in a span.
    Other(Pin<Box<dyn Future<Output = ()> + Send>>),
    Done,
}

impl<H: Handler> Future for ConnTask<H> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every variant is `Unpin` (the futures are boxed).
        let this = self.get_mut();
        loop {
            match this {
                ConnTask::Running { conn, .. } => {
                    ready!(conn.poll_to_end(cx));
                    *this = ConnTask::Done;
                }
                ConnTask::Starting(start) => {
                    *this = ready!(start.as_mut().poll(cx));
                    continue;
                }
                ConnTask::Other(other) => {
                    ready!(other.as_mut().poll(cx));
                    *this = ConnTask::Done;
                }
                ConnTask::Done => {}
            }
            return Poll::Ready(());
        }
    }
}

fn task<H: Handler>(
    shared: Arc<Shared<H>>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    start: Task<H::Data>,
) -> ConnTask<H> {
    ConnTask::Starting(Box::pin(start_task(shared, on_upgrade, start)))
}

/// The start of a connection's task: what it becomes once hyper hands over the stream.
async fn start_task<H: Handler>(
    shared: Arc<Shared<H>>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    Task { then, agreed }: Task<H::Data>,
) -> ConnTask<H> {
    let live = shared.live_task();
    let upgraded = match on_upgrade {
        Some(on_upgrade) => on_upgrade.await.map_err(|e| e.to_string()),
        None => Err("the server cannot upgrade this connection".to_owned()),
    };
    let stream = match upgraded {
        Ok(upgraded) => Stream::from_upgraded(upgraded),
        Err(e) => {
            tracing::debug!("websocket upgrade failed: {e}");
            if let Then::Probe(socket, id) = then {
                socket.upgrade_ended(id);
            }
            return ConnTask::Done;
        }
    };
    let (info, version, b64) = match then {
        Then::Open { info, version, b64 } => (info, version, b64),
        Then::Probe(socket, id) => {
            return ConnTask::Other(Box::pin(async move {
                let _live = live;
                probe(shared, stream, socket, id, agreed).await;
            }))
        }
        Then::Close => {
            return ConnTask::Other(Box::pin(async move {
                let _live = live;
                refuse(stream).await;
            }))
        }
    };
    let socket = shared.create_session(info, version, TransportKind::Websocket);
    socket.b64.store(b64, std::sync::atomic::Ordering::Relaxed);
    let mut conn = Conn::new(
        Eio::new(shared.clone(), socket.clone(), Phase::Open),
        stream,
        engine_codec(&shared.config, agreed),
    );
    write_open_packet(&shared, &socket, &mut conn.wbuf);
    let span = crate::trace::span(&socket);
    {
        let _entered = span.enter();
        tracing::info!(target: "sockeye_engineio", "session opened");
        shared.handler.on_connect(&socket);
        shared.refuse_if_closing(&socket);
    }
    if span.is_disabled() {
        ConnTask::Running { conn, _live: live }
    } else {
        ConnTask::Other(Box::pin(
            async move {
                let _live = live;
                conn.run().await;
            }
            .instrument(span),
        ))
    }
}

// Not inline in `task`: a local there would be kept, with its heap buffer, for as long as
// the connection lives.
fn write_open_packet<H: Handler>(shared: &Shared<H>, socket: &Socket<H::Data>, out: &mut BytesMut) {
    let mut open = b"0".to_vec();
    open.extend_from_slice(&shared.open_packet(socket.sid(), TransportKind::Websocket));
    let start = out.len();
    ws::encode_frame(OpCode::Text, &open, out);
    crate::metrics::sent(TransportKind::Websocket, 1, (out.len() - start) as u64);
}

/// The upgrade of a polling session: the probe, then (after `5`) the session itself.
async fn probe<H: Handler>(
    shared: Arc<Shared<H>>,
    stream: (Stream, Bytes),
    socket: Arc<Socket<H::Data>>,
    id: u32,
    agreed: Option<Agreed>,
) {
    let codec = engine_codec(&shared.config, agreed);
    let span = crate::trace::span_via(&socket, TransportKind::Websocket);
    let mut conn = Conn::new(Eio::new(shared, socket, Phase::Probe(id)), stream, codec);
    conn.run().instrument(span).await;
}

/// A WebSocket this session cannot take: completed, then closed without a status code.
async fn refuse((mut io, _): (Stream, Bytes)) {
    std::future::poll_fn(|cx| {
        let mut wbuf = BytesMut::new();
        encode_close(None, b"", &mut wbuf);
        io.close_now(cx, &mut wbuf);
        std::task::Poll::Ready(())
    })
    .await;
}
