//! The engine: sessions, heartbeat and request routing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use parking_lot::RwLock;

use crate::config::EngineConfig;
use crate::errors::HttpError;
use crate::packet::ProtocolVersion;
use crate::payload::Outgoing;
use crate::sid::Sid;
use crate::socket::{Closer, DisconnectReason, RequestInfo, Socket, TransportKind};
use crate::transport::{polling, websocket};

/// What the layer above (Socket.IO) does with sessions and their messages.
///
/// The callbacks run on the connection's task: keep them short and non-blocking (spawn
/// for long work).
pub trait Handler: Send + Sync + 'static {
    /// Per-session data, created with the session.
    type Data: Send + Sync + 'static;

    /// Makes the data of a new session.
    fn new_data(&self) -> Self::Data;
    /// A session opened.
    fn on_connect(&self, socket: &Arc<Socket<Self::Data>>);
    /// A session closed (called exactly once per session).
    fn on_disconnect(&self, socket: &Arc<Socket<Self::Data>>, reason: DisconnectReason);
    /// A text message arrived (valid UTF-8).
    fn on_message(&self, socket: &Arc<Socket<Self::Data>>, msg: Bytes);
    /// A binary message arrived.
    fn on_binary(&self, socket: &Arc<Socket<Self::Data>>, data: Bytes);
}

/// The response body the engine answers with.
pub type EngineBody = Full<Bytes>;

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
    pub(crate) inner: Arc<Inner<H>>,
}

impl<H: Handler> Clone for Engine<H> {
    fn clone(&self) -> Self {
        Engine {
            inner: self.inner.clone(),
        }
    }
}

pub(crate) struct Inner<H: Handler> {
    pub(crate) config: EngineConfig,
    pub(crate) handler: H,
    sessions: RwLock<HashMap<Sid, Arc<Socket<H::Data>>>>,
    ticker: AtomicBool,
    /// Set by [`Engine::shutdown`]: handshakes are refused from then on.
    closing: AtomicBool,
    /// WebSocket tasks still running (they outlive their session by a close frame).
    live: std::sync::atomic::AtomicUsize,
    self_ref: Weak<Inner<H>>,
}

/// Counts a running connection task until dropped.
pub(crate) struct LiveTask<H: Handler>(Arc<Inner<H>>);

impl<H: Handler> Drop for LiveTask<H> {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<H: Handler> Closer<H::Data> for Inner<H> {
    fn on_close(&self, socket: &Arc<Socket<H::Data>>, reason: DisconnectReason) {
        // A polling session with packets left to flush stays reachable until its next poll
        // takes them (or the heartbeat reaps it).
        // Like Node, only a close decided here flushes what is queued first; a client that
        // left (or broke the protocol) is forgotten at once.
        let server_side = matches!(
            reason,
            DisconnectReason::ForcedClose | DisconnectReason::ServerShutdown
        );
        let keep = server_side && {
            let st = socket.state.lock();
            socket.transport() == TransportKind::Polling && !st.upgraded
        };
        if !keep {
            self.sessions.write().remove(&socket.sid());
        }
        self.handler.on_disconnect(socket, reason);
    }
}

impl<H: Handler> Engine<H> {
    /// A new engine around `handler`.
    pub fn new(handler: H, config: EngineConfig) -> Engine<H> {
        let inner = Arc::new_cyclic(|w| Inner {
            config,
            handler,
            sessions: RwLock::new(HashMap::new()),
            ticker: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            live: std::sync::atomic::AtomicUsize::new(0),
            self_ref: w.clone(),
        });
        Engine { inner }
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
        self.inner.sessions.read().len()
    }

    /// A session by id.
    pub fn session(&self, sid: Sid) -> Option<Arc<Socket<H::Data>>> {
        self.inner.sessions.read().get(&sid).cloned()
    }

    /// Closes every session (reason `server shutting down`).
    pub fn close_all(&self) {
        let all: Vec<_> = self.inner.sessions.read().values().cloned().collect();
        for s in all {
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
        self.inner.closing.store(true, Ordering::SeqCst);
        self.close_all();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let idle = self.inner.sessions.read().is_empty()
                && self.inner.live.load(Ordering::Acquire) == 0;
            if idle {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            // Polling sessions wait for their last poll; give it a chance, then drop them.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub(crate) fn live_task(&self) -> LiveTask<H> {
        self.inner.live.fetch_add(1, Ordering::AcqRel);
        LiveTask(self.inner.clone())
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
        let origin_headers = req.headers().clone();
        let upgrade = req.headers().contains_key(header::UPGRADE);
        let mut res = match self.route(req).await {
            Ok(res) => res,
            // Node answers a refused WebSocket upgrade with a plain 400 and the message.
            Err(e) if upgrade => upgrade_error_response(e),
            Err(e) => error_response(e),
        };
        self.inner
            .config
            .cors
            .apply(&origin_headers, res.headers_mut());
        res
    }

    async fn route<B>(&self, req: Request<B>) -> Result<Response<EngineBody>, HttpError>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.inner.config;
        if req.method() == Method::OPTIONS {
            let mut res = Response::new(Full::default());
            *res.status_mut() = StatusCode::NO_CONTENT;
            config
                .cors
                .apply_preflight(req.headers(), res.headers_mut());
            return Ok(res);
        }
        let query = Query::parse(req.uri().query().unwrap_or(""))?;
        let version = match query.eio {
            Some("4") => ProtocolVersion::V4,
            // Like Node with `allowEIO3`, any other value (or none) means v3.
            _ if config.allow_eio3 => ProtocolVersion::V3,
            _ => return Err(HttpError::UnsupportedProtocolVersion),
        };
        // JSONP (`j=N`) is a v3 polling mode; the index is digits only, as Node keeps it.
        let jsonp = match query.jsonp {
            Some(j) if version == ProtocolVersion::V3 => {
                let digits: String = j.chars().filter(char::is_ascii_digit).take(9).collect();
                Some(digits.parse::<u32>().unwrap_or(0))
            }
            Some(_) => return Err(HttpError::BadRequest),
            None => None,
        };
        let transport = match query.transport {
            Some("polling") if config.polling => TransportKind::Polling,
            Some("websocket") if config.websocket => TransportKind::Websocket,
            _ => return Err(HttpError::UnknownTransport),
        };
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            if origin.as_bytes().iter().any(|b| b.is_ascii_control()) {
                return Err(HttpError::BadRequest);
            }
        }
        let is_upgrade = req.headers().contains_key(header::UPGRADE);
        if transport == TransportKind::Websocket && config.cors.refuses_websocket(req.headers()) {
            return Err(HttpError::Forbidden);
        }
        let b64 = query.b64;
        let sid = query.sid.map(str::to_owned);
        match sid {
            None => {
                if req.method() != Method::GET {
                    return Err(HttpError::BadHandshakeMethod);
                }
                if transport == TransportKind::Websocket && !is_upgrade {
                    return Err(HttpError::BadRequest);
                }
                let (parts, body) = req.into_parts();
                if let Some(allow) = &config.allow_request {
                    if !allow(&parts) {
                        return Err(HttpError::Forbidden);
                    }
                }
                if let Some(max) = config.max_connections {
                    if self.session_count() >= max {
                        return Err(HttpError::Forbidden);
                    }
                }
                // A server shutting down takes no new clients (they reconnect elsewhere or
                // later); its listener may still accept, for the last polls of the old ones.
                if self.is_shutting_down() {
                    return Err(HttpError::Forbidden);
                }
                let req = Request::from_parts(parts, body);
                match transport {
                    TransportKind::Polling => Ok(self.open_polling(req, version, b64, jsonp)),
                    TransportKind::Websocket => websocket::accept(self, req, version, b64, None),
                }
            }
            Some(sid) => {
                let sid: Sid = sid.parse().map_err(|_| HttpError::UnknownSid)?;
                let socket = self.session(sid).ok_or(HttpError::UnknownSid)?;
                // A closed session stays only until its last packets are polled.
                if socket.is_closed()
                    && (req.method() != Method::GET || socket.state.lock().queue.is_empty())
                {
                    self.forget(sid);
                    return Err(HttpError::UnknownSid);
                }
                if socket.protocol() != version {
                    return Err(HttpError::BadRequest);
                }
                match transport {
                    TransportKind::Websocket => {
                        if !is_upgrade {
                            return Err(HttpError::BadRequest);
                        }
                        websocket::accept(self, req, version, b64, Some(socket))
                    }
                    TransportKind::Polling => {
                        if socket.transport() != TransportKind::Polling
                            || socket.state.lock().upgraded
                        {
                            return Err(HttpError::BadRequest);
                        }
                        match *req.method() {
                            Method::GET => Ok(polling::poll(self, socket, jsonp).await),
                            Method::POST => Ok(polling::post(self, socket, req, jsonp).await),
                            _ => Err(HttpError::BadRequest),
                        }
                    }
                }
            }
        }
    }

    fn open_polling<B>(
        &self,
        req: Request<B>,
        version: ProtocolVersion,
        b64: bool,
        jsonp: Option<u32>,
    ) -> Response<EngineBody> {
        let info = Arc::new(RequestInfo::from_request(&req));
        let socket = self.create_session(info, version, TransportKind::Polling);
        // A JSONP client cannot take binary payloads either.
        socket.b64.store(b64 || jsonp.is_some(), Ordering::Relaxed);
        let mut open = b"0".to_vec();
        open.extend_from_slice(&self.open_packet(socket.sid(), TransportKind::Polling));
        self.inner.handler.on_connect(&socket);
        self.refuse_if_closing(&socket);
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
        polling::text_response(polling::wrap_jsonp(body, jsonp))
    }

    /// The JSON of the open packet.
    pub(crate) fn open_packet(&self, sid: Sid, transport: TransportKind) -> Vec<u8> {
        let c = &self.inner.config;
        let upgrades = if transport == TransportKind::Polling && c.websocket {
            "[\"websocket\"]"
        } else {
            "[]"
        };
        format!(
            "{{\"sid\":\"{sid}\",\"upgrades\":{upgrades},\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            c.ping_interval.as_millis(),
            c.ping_timeout.as_millis(),
            c.max_payload
        )
        .into_bytes()
    }

    pub(crate) fn create_session(
        &self,
        info: Arc<RequestInfo>,
        version: ProtocolVersion,
        transport: TransportKind,
    ) -> Arc<Socket<H::Data>> {
        self.ensure_ticker();
        let closer: Weak<dyn Closer<H::Data>> = self.inner.self_ref.clone();
        let socket = Arc::new(Socket::new(
            Sid::new(),
            version,
            transport,
            info,
            self.inner.config.max_queued_bytes,
            self.inner.config.overflow,
            closer,
            self.inner.handler.new_data(),
        ));
        self.inner
            .sessions
            .write()
            .insert(socket.sid(), socket.clone());
        socket
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
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// Closes a session that was made while the shutdown began (its handshake passed the
    /// check just before): the shutdown's own pass may have listed the sessions before it.
    pub(crate) fn refuse_if_closing(&self, socket: &Arc<Socket<H::Data>>) {
        if self.is_shutting_down() {
            socket.close(DisconnectReason::ServerShutdown);
        }
    }

    /// Forgets a closed session (a drained polling session).
    pub(crate) fn forget(&self, sid: Sid) {
        self.inner.sessions.write().remove(&sid);
    }

    /// Starts the shared heartbeat task once.
    ///
    /// One task serves every session: it wakes a few times per ping period, pings the
    /// sessions whose ping is due and closes those whose pong is late.
    fn ensure_ticker(&self) {
        if self.inner.ticker.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let interval = self.inner.config.ping_interval;
        let timeout = self.inner.config.ping_timeout;
        let period = (interval.min(timeout) / 8).max(std::time::Duration::from_millis(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut due: Vec<(Arc<Socket<H::Data>>, bool)> = Vec::new();
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let now = Instant::now();
                {
                    let sessions = inner.sessions.read();
                    for s in sessions.values() {
                        if s.is_closed() {
                            // A closed polling session whose last packets were never polled.
                            due.push((s.clone(), false));
                            continue;
                        }
                        let mut st = s.state.lock();
                        if s.protocol() == ProtocolVersion::V3 {
                            // The client pings; the server only checks that it still does.
                            let last = st.ping_sent.unwrap_or(st.opened);
                            if now >= last + interval + timeout {
                                due.push((s.clone(), false));
                            }
                            continue;
                        }
                        match st.ping_sent {
                            Some(sent) if st.awaiting_pong => {
                                if now >= sent + timeout {
                                    due.push((s.clone(), false));
                                }
                            }
                            Some(sent) if now < sent + interval => {}
                            None if now < st.opened + interval => {}
                            _ => {
                                st.awaiting_pong = true;
                                st.ping_sent = Some(now);
                                due.push((s.clone(), true));
                            }
                        }
                    }
                }
                for (s, ping) in due.drain(..) {
                    if ping {
                        let _ = s.send(Outgoing::Ping);
                    } else if s.is_closed() {
                        let closed_at = s.state.lock().closed_at;
                        if closed_at.is_none_or(|c| now >= c + timeout) {
                            inner.sessions.write().remove(&s.sid());
                        }
                    } else {
                        s.close(DisconnectReason::PingTimeout);
                    }
                }
            }
        });
    }
}

/// The engine's query parameters; the first occurrence of a key wins.
struct Query<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
    /// `b64=1` or `b64=true`: a v3 client that cannot take binary payloads.
    b64: bool,
    /// `j=N`: JSONP polling (v3 only).
    jsonp: Option<&'a str>,
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
            let slot = match k {
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

/// A refused upgrade: 400 with the message as plain text, as Node answers.
pub(crate) fn upgrade_error_response(e: HttpError) -> Response<EngineBody> {
    let mut res = Response::new(Full::new(Bytes::from(e.to_string())));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// An HTTP error answer with Node's JSON body.
pub(crate) fn error_response(e: HttpError) -> Response<EngineBody> {
    let mut res = Response::new(Full::new(Bytes::from(e.body())));
    *res.status_mut() = e.status();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
