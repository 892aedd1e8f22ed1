//! A plain WebSocket echo on the transport's connection code, for conformance tests of that
//! code (the Autobahn suite): every text and binary message comes back as it came.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::task::Context;

use bytes::BytesMut;
use http::{Request, Response, StatusCode};
use http_body_util::Full;

use super::conn::{Conn, Exit, Stream, Upper};
use crate::response::EngineBody;
use crate::socket::RunningGuard;
use crate::ws::{self, Encoder, Limits, Message, OpCode, PerMessageDeflate};

struct Echo {
    readable: Arc<AtomicBool>,
    max_unwritten: usize,
}

impl Upper for Echo {
    type Flag = AtomicBool;

    fn flag(&self) -> &Arc<AtomicBool> {
        &self.readable
    }

    fn max_unwritten(&self) -> usize {
        self.max_unwritten
    }

    fn on_message(&mut self, msg: Message, enc: &mut Encoder, wbuf: &mut BytesMut) -> Option<Exit> {
        match msg {
            Message::Text(t) => enc.message(OpCode::Text, &[&t], true, wbuf),
            Message::Binary(b) => enc.message(OpCode::Binary, &[&b], true, wbuf),
            _ => {}
        }
        None
    }

    fn paused(&self) -> bool {
        false
    }

    fn reading_allowed(&self, _: &mut Context<'_>) -> bool {
        true
    }

    fn running(&self) -> Option<RunningGuard> {
        None
    }

    // Echoes are written straight into the connection's buffer.
    type Taken = ();

    fn poll_take(&mut self, _: &mut Context<'_>, _: &mut BytesMut) -> Option<()> {
        None
    }

    fn frame(&self, (): (), _: &mut Encoder, _: &mut BytesMut) {}

    fn poll_end(&mut self, _: &mut Context<'_>, _: bool) -> Option<Exit> {
        None
    }

    fn on_exit(&mut self, _: Exit) {}
}

/// Answers a WebSocket upgrade request and echoes every message of the connection (see
/// [`crate::testing::websocket_echo`]), with `permessage-deflate` when `deflate` is set and
/// the client offers it.
pub(crate) fn accept<B>(
    mut req: Request<B>,
    limits: Limits,
    deflate: Option<PerMessageDeflate>,
) -> Response<EngineBody> {
    let bad = |msg: String| {
        let mut res = Response::new(Full::new(bytes::Bytes::from(msg)));
        *res.status_mut() = StatusCode::BAD_REQUEST;
        res
    };
    let accept = match ws::validate_upgrade(req.headers()) {
        Ok(a) => a,
        Err(e) => return bad(e.to_string()),
    };
    let (agreed, answer) = match super::negotiate(deflate.as_ref(), req.headers()) {
        Ok(Some((agreed, answer))) => (Some(agreed), Some(answer)),
        Ok(None) => (None, None),
        Err(e) => return bad(e.to_string()),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let echo = Echo {
            readable: Arc::new(AtomicBool::new(false)),
            // Twice the largest message: one being echoed, one being read.
            max_unwritten: limits.max_message_size.saturating_mul(2),
        };
        let codec = super::codec(limits, deflate.as_ref(), agreed);
        let mut conn = Conn::new(echo, Stream::from_upgraded(upgraded), codec);
        conn.run().await;
    });
    super::switching_protocols(accept, answer)
}
