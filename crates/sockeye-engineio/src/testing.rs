//! Hooks for conformance tests of this crate's own code; not for applications.

use http::{Request, Response};

use crate::response::EngineBody;
use crate::ws::{Limits, PerMessageDeflate};

/// Answers a WebSocket upgrade request (`101`, or `400` when it is not a valid one) and, on
/// the connection, echoes every text and binary message as it came, without Engine.IO: no
/// open packet, no heartbeat. The connection runs on the same code as the engine's WebSocket
/// transport (the frame codec, the per-thread read buffer, the one write per wake-up, the
/// control frames and the close handshake), so a conformance suite such as Autobahn's
/// `fuzzingclient` tests that code. Must be called within a tokio runtime.
///
/// # Examples
/// ```no_run
/// use sockeye_engineio::{testing::websocket_echo, ws::Limits};
/// # fn f(req: http::Request<()>) {
/// let limits = Limits { max_message_size: 16 << 20, max_fragments: 1 << 20 };
/// let res = websocket_echo(req, limits);
/// assert_eq!(res.status(), 101);
/// # }
/// ```
pub fn websocket_echo<B>(req: Request<B>, limits: Limits) -> Response<EngineBody> {
    crate::transport::websocket::echo::accept(req, limits, None)
}

/// As [`websocket_echo`], with `permessage-deflate` negotiated from `deflate` when the client
/// offers it (`400` for a `Sec-WebSocket-Extensions` header Node's `ws` refuses): the
/// compression code of the engine's WebSocket transport under the same conformance suite.
///
/// # Examples
/// ```no_run
/// use sockeye_engineio::{testing::websocket_echo_deflate, ws::{Limits, PerMessageDeflate}};
/// # fn f(req: http::Request<()>) {
/// let res = websocket_echo_deflate(req, Limits::default(), PerMessageDeflate::new().threshold(0));
/// # }
/// ```
pub fn websocket_echo_deflate<B>(
    req: Request<B>,
    limits: Limits,
    deflate: PerMessageDeflate,
) -> Response<EngineBody> {
    crate::transport::websocket::echo::accept(req, limits, Some(deflate))
}
