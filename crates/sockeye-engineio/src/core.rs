//! What an engine's connections share: the configuration, the handler, the sessions by id,
//! and the one timer every session's deadlines go through.
//!
//! The router (`engine.rs`) and the transports (`transport/`) both build on this; neither
//! imports the other's file in the other direction.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::Poll;

use parking_lot::RwLock;

use crate::clock;
use crate::config::EngineConfig;
use crate::handler::Handler;
use crate::packet::ProtocolVersion;
use crate::session::{Session, Time, Timing};
use crate::sid::Sid;
use crate::socket::{DisconnectReason, Hub, RequestInfo, Socket, TransportKind};
use crate::timer::{Scheduled, Timer};

/// A session as the timer knows it: it does not keep the session alive.
type TimerKey<D> = Weak<Socket<D>>;

pub(crate) struct Shared<H: Handler> {
    pub(crate) config: EngineConfig,
    pub(crate) timing: Timing,
    pub(crate) handler: H,
    sessions: RwLock<HashMap<Sid, Arc<Socket<H::Data>>>>,
    timer: Timer<TimerKey<H::Data>>,
    /// Set by `Engine::shutdown`: handshakes are refused from then on.
    closing: AtomicBool,
    /// WebSocket tasks still running (they outlive their session by a close frame).
    live: AtomicUsize,
    self_ref: Weak<Shared<H>>,
}

/// Counts a running connection task until dropped.
pub(crate) struct LiveTask<H: Handler>(Arc<Shared<H>>);

impl<H: Handler> Drop for LiveTask<H> {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<H: Handler> Hub<H::Data> for Shared<H> {
    fn timing(&self) -> &Timing {
        &self.timing
    }

    fn on_close(&self, socket: &Arc<Socket<H::Data>>, reason: DisconnectReason, forget: bool) {
        if forget {
            self.forget(socket.sid());
        }
        crate::metrics::closed(socket.transport(), socket.protocol(), reason);
        let _span = crate::trace::span(socket).entered();
        tracing::info!(target: "sockeye_engineio", %reason, "session closed");
        self.handler.on_disconnect(socket, reason);
    }

    fn forget(&self, sid: Sid) {
        self.sessions.write().remove(&sid);
    }

    fn schedule(&self, at: Time, socket: &Arc<Socket<H::Data>>) {
        self.schedule_many([(at, Arc::downgrade(socket))]);
    }
}

impl<H: Handler> Shared<H> {
    pub(crate) fn new(handler: H, config: EngineConfig) -> Arc<Shared<H>> {
        Arc::new_cyclic(|w| Shared {
            timing: Timing {
                ping_interval: config.ping_interval,
                ping_timeout: config.ping_timeout,
                upgrade_timeout: config.upgrade_timeout,
            },
            config,
            handler,
            sessions: RwLock::new(HashMap::new()),
            timer: Timer::default(),
            closing: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            self_ref: w.clone(),
        })
    }

    pub(crate) fn session(&self, sid: Sid) -> Option<Arc<Socket<H::Data>>> {
        self.sessions.read().get(&sid).cloned()
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions.read().len()
    }

    pub(crate) fn sessions(&self) -> Vec<Arc<Socket<H::Data>>> {
        self.sessions.read().values().cloned().collect()
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.sessions.read().is_empty() && self.live.load(Ordering::Acquire) == 0
    }

    pub(crate) fn live_task(self: &Arc<Self>) -> LiveTask<H> {
        self.live.fetch_add(1, Ordering::AcqRel);
        LiveTask(self.clone())
    }

    pub(crate) fn set_closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Closes a session that was made while the shutdown began (its handshake passed the
    /// check just before): the shutdown's own pass may have listed the sessions before it.
    pub(crate) fn refuse_if_closing(&self, socket: &Arc<Socket<H::Data>>) {
        if self.is_shutting_down() {
            socket.close(DisconnectReason::ServerShutdown);
        }
    }

    /// The JSON of the open packet.
    pub(crate) fn open_packet(&self, sid: Sid, transport: TransportKind) -> Vec<u8> {
        let c = &self.config;
        let upgrades = if transport == TransportKind::Polling && c.websocket && c.allow_upgrades {
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

    /// Opens a session: registered by its id, its first deadline with the timer.
    pub(crate) fn create_session(
        &self,
        info: Arc<RequestInfo>,
        version: ProtocolVersion,
        transport: TransportKind,
    ) -> Arc<Socket<H::Data>> {
        let mut session = Session::new(clock::now(), version, transport, &self.timing);
        let first = session.arm();
        let hub: Weak<dyn Hub<H::Data>> = self.self_ref.clone();
        let socket = Arc::new(Socket::new(
            Sid::new(),
            session,
            info,
            self.config.max_queued_bytes,
            self.config.overflow,
            hub,
            self.handler.new_data(),
        ));
        self.sessions.write().insert(socket.sid(), socket.clone());
        crate::metrics::opened(transport, version);
        if let Some(at) = first {
            self.schedule_many([(at, Arc::downgrade(&socket))]);
        }
        socket
    }

    fn schedule_many(&self, entries: impl IntoIterator<Item = (Time, TimerKey<H::Data>)>) {
        if self.timer.schedule(entries) == Scheduled::Start {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(run_timer(self.self_ref.clone()));
                }
                Err(_) => {
                    tracing::error!("sockeye-engineio: no tokio runtime for the heartbeat timer")
                }
            }
        }
    }
}

/// The engine's one timer task: sleeps until the earliest deadline of any session, hands
/// each due entry to its session, and arms what they need next. It ends with the engine.
async fn run_timer<H: Handler>(engine: Weak<Shared<H>>) {
    let mut sleep = Box::pin(tokio::time::sleep(std::time::Duration::ZERO));
    let mut due: Vec<(Time, TimerKey<H::Data>)> = Vec::new();
    let mut again: Vec<(Time, TimerKey<H::Data>)> = Vec::new();
    poll_fn(|cx| loop {
        let Some(shared) = engine.upgrade() else {
            return Poll::Ready(());
        };
        let now = clock::now();
        let next = shared.timer.poll_due(now, &mut due, cx.waker());
        if due.is_empty() {
            let Some(at) = next else { return Poll::Pending };
            sleep.as_mut().reset(clock::instant(at));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            continue;
        }
        for (fired, key) in due.drain(..) {
            if let Some(socket) = key.upgrade() {
                if let Some(at) = socket.on_timer(now, fired, &shared.timing) {
                    again.push((at, key));
                }
            }
        }
        shared.timer.schedule(again.drain(..));
        // Entries of sessions that are gone wait for their time; past a few per live session
        // they are dropped (a session holds one to a few of its own).
        let limit = 3 * shared.session_count() + 1024;
        shared.timer.compact(limit, |key| key.strong_count() > 0);
    })
    .await;
}
