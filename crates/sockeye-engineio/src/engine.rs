//! The engine: the public handle, and the routing of each HTTP request to the transport
//! that answers it.

use std::borrow::Cow;
use std::sync::Arc;

use http::request::Parts;
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use tracing::Instrument;

use crate::config::EngineConfig;
use crate::core::Shared;
use crate::cors::Verdict;
use crate::errors::HttpError;
use crate::handler::Handler;
use crate::hooks::{ConnectionError, RequestRefusal};
use crate::metrics::Refusal;
use crate::packet::ProtocolVersion;
use crate::response::EngineBody;
use crate::response::{refused, upgrade_refused};
use crate::sid::Sid;
use crate::socket::{DisconnectReason, Hub, Socket, TransportKind};
use crate::transport::{polling, websocket};

/// An Engine.IO server: cheap to clone, shared by all connections.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use sockeye_engineio::{DisconnectReason, Engine, EngineConfig, Handler, Socket};
///
/// struct Echo;
/// impl Handler for Echo {
///     type Data = ();
///     fn new_data(&self) {}
///     fn on_connect(&self, _: &Arc<Socket<()>>) {}
///     fn on_disconnect(&self, _: &Arc<Socket<()>>, _: DisconnectReason) {}
///     fn on_message(&self, socket: &Arc<Socket<()>>, msg: Bytes) {
///         let _ = socket.send_text(msg);
///     }
///     fn on_binary(&self, socket: &Arc<Socket<()>>, data: Bytes) {
///         let _ = socket.send_binary(data);
///     }
/// }
/// let engine = Engine::new(Echo, EngineConfig::default());
/// assert_eq!(engine.session_count(), 0);
/// ```
pub struct Engine<H: Handler> {
    inner: Arc<Shared<H>>,
}

impl<H: Handler> Clone for Engine<H> {
    fn clone(&self) -> Self {
        Engine {
            inner: self.inner.clone(),
        }
    }
}

impl<H: Handler> Engine<H> {
    /// A new engine around `handler`.
    pub fn new(handler: H, config: EngineConfig) -> Engine<H> {
        // An adapter's batch of deliveries ends with this engine's held-back writes.
        sockeye_core::adapter::set_batch_flush(crate::socket::flush_when_outermost);
        Engine {
            inner: Shared::new(handler, config),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.inner.handler
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.inner.session_count()
    }

    /// A session by id.
    pub fn session(&self, sid: Sid) -> Option<Arc<Socket<H::Data>>> {
        self.inner.session(sid)
    }

    /// Closes every session (reason `server shutting down`).
    pub fn close_all(&self) {
        for s in self.inner.sessions() {
            s.close(DisconnectReason::ServerShutdown);
        }
    }

    /// Closes every session and waits, at most `timeout`, until every connection has written
    /// its close and ended. Returns whether everything ended in time. From the call on, new
    /// handshakes are refused (`403`, code 4), while requests of the closing sessions (a
    /// polling client's last poll) are still answered: keep the listener accepting until it
    /// returns.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f<H: sockeye_engineio::Handler>(engine: sockeye_engineio::Engine<H>) {
    /// engine.shutdown(std::time::Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub async fn shutdown(&self, timeout: std::time::Duration) -> bool {
        // Before the sessions are listed: a session made after the listing sees the flag
        // (see `refuse_if_closing`).
        self.inner.set_closing();
        self.close_all();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.inner.is_idle() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            // Polling sessions wait for their last poll; give it a chance, then drop them.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Whether [`Engine::shutdown`] has begun: from then on handshakes are refused
    /// (`403`, code 4).
    ///
    /// # Examples
    /// ```
    /// # fn f<H: sockeye_engineio::Handler>(engine: sockeye_engineio::Engine<H>) {
    /// if engine.is_shutting_down() {
    ///     println!("draining");
    /// }
    /// # }
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.inner.is_shutting_down()
    }

    /// Whether a request is for this engine (its path is exactly the engine path).
    pub fn is_engine_request<B>(&self, req: &Request<B>) -> bool {
        req.uri().path() == self.inner.config.path
    }

    /// Answers one HTTP request to the engine path: a handshake, a poll, a POST of packets or a
    /// WebSocket upgrade.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<EngineBody>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.inner.config;
        let (mut parts, body) = req.into_parts();
        let cors = config.cors.verdict(&parts.headers).await;
        if parts.method == Method::OPTIONS {
            let mut res = Response::new(Full::default());
            *res.status_mut() = StatusCode::NO_CONTENT;
            config
                .cors
                .apply_preflight(cors, &parts.headers, res.headers_mut());
            return res;
        }
        let upgrade = parts.headers.contains_key(header::UPGRADE);
        let mut exchange = Exchange::default();
        let mut res = match self.route(&mut parts, body, cors, &mut exchange).await {
            Ok(res) => res,
            Err(refusal) => {
                crate::metrics::refused(
                    exchange
                        .refused_by
                        .unwrap_or_else(|| Refusal::of(refusal.error())),
                );
                if let Some(hook) = &config.on_connection_error {
                    hook(&ConnectionError {
                        error: refusal.error(),
                        refusal: refusal.custom_message(),
                        request: &parts,
                    });
                }
                // Node answers a refused WebSocket upgrade with a plain 400 and the message.
                if upgrade {
                    upgrade_refused(&refusal)
                } else {
                    refused(&refusal)
                }
            }
        };
        config.cors.apply(cors, &parts.headers, res.headers_mut());
        let answered = res.status().is_success() || res.status() == StatusCode::SWITCHING_PROTOCOLS;
        if answered {
            self.add_headers(&parts, &exchange, res.headers_mut());
        }
        res
    }

    /// The application's headers on a successful answer, in Node's order: the session cookie
    /// and `initial_headers` on a handshake, then `headers`.
    fn add_headers(&self, parts: &Parts, exchange: &Exchange, headers: &mut HeaderMap) {
        let config = &self.inner.config;
        if exchange.handshake {
            if let (Some(cookie), Some(sid)) = (&config.cookie, exchange.opened) {
                if let Some(v) = cookie.header_value(&sid.to_string()) {
                    headers.append(header::SET_COOKIE, v);
                }
            }
            if let Some(hook) = &config.on_initial_headers {
                hook(headers, parts);
            }
        }
        if let Some(hook) = &config.on_headers {
            hook(headers, parts);
        }
    }

    /// Checks a request in the order of Node's `verify` (the transport, the `Origin` header,
    /// then the session, or the handshake), and hands it to its transport.
    async fn route<B>(
        &self,
        parts: &mut Parts,
        body: B,
        cors: Verdict,
        exchange: &mut Exchange,
    ) -> Result<Response<EngineBody>, RequestRefusal>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.inner.config;
        // The query borrows a copy (a reference count), so that `parts` can be lent on.
        let uri = parts.uri.clone();
        let query = Query::parse(uri.query().unwrap_or(""))?;
        let transport = match query.transport.as_deref() {
            Some("polling") if config.polling => TransportKind::Polling,
            Some("websocket") if config.websocket => TransportKind::Websocket,
            _ => return Err(HttpError::UnknownTransport.into()),
        };
        if let Some(origin) = parts.headers.get(header::ORIGIN) {
            if origin.as_bytes().iter().any(|b| b.is_ascii_control()) {
                return Err(HttpError::BadRequest.into());
            }
        }
        let is_upgrade = parts.headers.contains_key(header::UPGRADE);
        if transport == TransportKind::Websocket
            && config.cors.refuses_websocket(cors, &parts.headers)
        {
            exchange.refused_by = Some(Refusal::Origin);
            return Err(HttpError::Forbidden.into());
        }
        // What Node calls the protocol revision: 4, or 3 for anything else.
        let v4 = query.eio.as_deref() == Some("4");
        let Some(sid) = &query.sid else {
            exchange.handshake = true;
            let query = Handshake {
                v4,
                b64: query.b64,
                jsonp: query.jsonp.as_deref(),
            };
            return self
                .handshake(parts, body, query, transport, is_upgrade, exchange)
                .await;
        };
        let sid: Sid = sid.parse().map_err(|_| HttpError::UnknownSid)?;
        let socket = self.inner.session(sid).ok_or(HttpError::UnknownSid)?;
        // A closed session stays only until its last packets are polled.
        if socket.is_closed() && (parts.method != Method::GET || socket.is_drained()) {
            self.inner.forget(sid);
            return Err(HttpError::UnknownSid.into());
        }
        // Node: a transport other than the session's without an upgrade, a protocol other
        // than the session's.
        if transport == TransportKind::Websocket && !is_upgrade {
            return Err(HttpError::BadRequest.into());
        }
        if transport == TransportKind::Polling && socket.transport() != TransportKind::Polling {
            return Err(HttpError::BadRequest.into());
        }
        let version = socket.protocol();
        if v4 != (version == ProtocolVersion::V4) {
            return Err(HttpError::BadRequest.into());
        }
        let jsonp = jsonp_index(query.jsonp.as_deref(), version)?;
        let b64 = query.b64;
        match transport {
            TransportKind::Websocket => {
                websocket::accept(&self.inner, parts, version, b64, Some(socket))
                    .map_err(Into::into)
            }
            TransportKind::Polling => match parts.method {
                Method::GET => Ok(polling::poll(&self.inner, socket, &parts.headers, jsonp).await),
                Method::POST => {
                    let span = crate::trace::span(&socket);
                    Ok(
                        polling::post(&self.inner, socket, &parts.headers, body, jsonp)
                            .instrument(span)
                            .await,
                    )
                }
                _ => Err(HttpError::BadRequest.into()),
            },
        }
    }

    /// A request without `sid`: a new session. Node's order: the method, the WebSocket
    /// handshake's `Upgrade`, `allowRequest`, then (in its `handshake`) the protocol version.
    async fn handshake<B>(
        &self,
        parts: &mut Parts,
        body: B,
        query: Handshake<'_>,
        transport: TransportKind,
        is_upgrade: bool,
        exchange: &mut Exchange,
    ) -> Result<Response<EngineBody>, RequestRefusal> {
        let config = &self.inner.config;
        if parts.method != Method::GET {
            return Err(HttpError::BadHandshakeMethod.into());
        }
        if transport == TransportKind::Websocket && !is_upgrade {
            return Err(HttpError::BadRequest.into());
        }
        if let Some(allow) = &config.allow_request {
            if let Err(refusal) = allow.check(parts).await {
                // Whatever code the hook chose, the hook refused it.
                exchange.refused_by = Some(Refusal::AllowRequest);
                return Err(refusal);
            }
        }
        let version = match query.v4 {
            true => ProtocolVersion::V4,
            // Like Node with `allowEIO3`, any other value (or none) means v3.
            false if config.allow_eio3 => ProtocolVersion::V3,
            false => return Err(HttpError::UnsupportedProtocolVersion.into()),
        };
        let jsonp = jsonp_index(query.jsonp, version)?;
        if let Some(max) = config.max_connections {
            if self.session_count() >= max {
                exchange.refused_by = Some(Refusal::MaxConnections);
                return Err(HttpError::Forbidden.into());
            }
        }
        // A server shutting down takes no new clients (they reconnect elsewhere or
        // later); its listener may still accept, for the last polls of the old ones.
        if self.is_shutting_down() {
            exchange.refused_by = Some(Refusal::ShuttingDown);
            return Err(HttpError::Forbidden.into());
        }
        drop(body);
        match transport {
            TransportKind::Polling => {
                let (res, sid) = polling::open(&self.inner, parts, version, query.b64, jsonp);
                exchange.opened = Some(sid);
                Ok(res)
            }
            TransportKind::Websocket => {
                websocket::accept(&self.inner, parts, version, query.b64, None).map_err(Into::into)
            }
        }
    }
}

/// What routing found out about a request, for the headers of its answer and the metrics.
#[derive(Default)]
struct Exchange {
    /// The request had no `sid`.
    handshake: bool,
    /// The session its answer opens, when known now (polling; a WebSocket session is made
    /// after the `101`).
    opened: Option<Sid>,
    /// Who refused it, where its error alone does not say (a 403, or a code an
    /// `allow_request` hook chose), for the refusals' metric.
    refused_by: Option<Refusal>,
}

/// What a handshake reads from the query.
struct Handshake<'a> {
    v4: bool,
    b64: bool,
    jsonp: Option<&'a str>,
}

/// JSONP (`j=N`) is a v3 polling mode; the index is digits only, as Node keeps it.
fn jsonp_index(j: Option<&str>, version: ProtocolVersion) -> Result<Option<u32>, HttpError> {
    match j {
        Some(j) if version == ProtocolVersion::V3 => {
            let digits: String = j.chars().filter(char::is_ascii_digit).take(9).collect();
            Ok(Some(digits.parse::<u32>().unwrap_or(0)))
        }
        Some(_) => Err(HttpError::BadRequest),
        None => Ok(None),
    }
}

/// The engine's query parameters, percent-decoded as Node's `querystring` does; the first
/// occurrence of a key wins.
struct Query<'a> {
    eio: Option<Cow<'a, str>>,
    transport: Option<Cow<'a, str>>,
    sid: Option<Cow<'a, str>>,
    /// `b64=1` or `b64=true`: a v3 client that cannot take binary payloads.
    b64: bool,
    /// `j=N`: JSONP polling (v3 only).
    jsonp: Option<Cow<'a, str>>,
}

impl<'a> Query<'a> {
    fn parse(q: &'a str) -> Result<Query<'a>, HttpError> {
        let mut out = Query {
            eio: None,
            transport: None,
            sid: None,
            b64: false,
            jsonp: None,
        };
        for (i, pair) in q.split('&').enumerate() {
            if i >= 256 {
                return Err(HttpError::BadRequest);
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (percent_decode(k), percent_decode(v));
            let slot = match &*k {
                "EIO" => &mut out.eio,
                "transport" => &mut out.transport,
                "sid" => &mut out.sid,
                "b64" => {
                    out.b64 = v == "1" || v == "true";
                    continue;
                }
                "j" => {
                    out.jsonp.get_or_insert(v);
                    continue;
                }
                _ => continue,
            };
            match slot {
                None => *slot = Some(v),
                Some(prev) if *prev == v => {}
                Some(_) => return Err(HttpError::BadRequest),
            }
        }
        Ok(out)
    }
}

/// Decodes a query component like Node's `querystring.unescape`: `+` is a space, `%XX` a
/// byte; a `%` not followed by two hex digits stays as it is; bytes that are not UTF-8
/// become U+FFFD. Borrows when there is nothing to decode.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|&h| (h as char).to_digit(16));
        match c {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_and_keys_are_percent_decoded() {
        let q = Query::parse("EIO=%34&%74ransport=%70olling&sid=a%2Bb+c&b64=%31").expect("query");
        assert_eq!(q.eio.as_deref(), Some("4"));
        assert_eq!(q.transport.as_deref(), Some("polling"));
        assert_eq!(q.sid.as_deref(), Some("a+b c"));
        assert!(q.b64);
        // Duplicates compare decoded.
        assert!(Query::parse("EIO=4&EIO=%34").is_ok());
        assert!(Query::parse("EIO=4&EIO=3").is_err());
    }

    #[test]
    fn percent_decoding_is_lenient_like_node() {
        assert!(matches!(percent_decode("plain"), Cow::Borrowed("plain")));
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%F0%9D%95%8A"), "𝕊");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        assert_eq!(percent_decode("a+b"), "a b");
    }
}
