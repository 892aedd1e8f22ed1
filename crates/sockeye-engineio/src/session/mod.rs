//! The Engine.IO session as a sans-IO state machine.
//!
//! Everything a session decides lives here: when pings go out and when a silent client is
//! closed, the upgrade probe and its timeout, which packets a poll takes and what a waiting
//! poll answers, and what a close does to what is queued. No sockets, no clocks, no tasks:
//! each call takes the event and the current [`Time`], and returns an [`Output`] (who to wake,
//! whether the session closed, which deadline to hand to the shared timer). The transports
//! (`transport/`) are drivers that feed it what the network and the handler do, and the engine
//! drives its deadlines from one timer shared by every session.
//!
//! Data packets (messages) never change a session's state, so the drivers hand them to the
//! handler without coming here; everything else does come here.

use std::time::Duration;

use crate::packet::{Packet, ProtocolVersion};
use crate::payload::Outgoing;

#[cfg(test)]
mod tests;

/// Why a session ended. The text forms are Node's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the connection or sent a close packet.
    TransportClose,
    /// The connection failed, or the client was too slow to read (see
    /// [`crate::config::OverflowPolicy`]).
    TransportError,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client sent something that is not valid Engine.IO or Socket.IO.
    ParseError,
    /// The server closed the session.
    ForcedClose,
    /// The server is shutting down.
    ServerShutdown,
}

impl DisconnectReason {
    /// Node's name for the reason, e.g. `"ping timeout"`.
    ///
    /// # Examples
    /// ```
    /// use sockeye_engineio::DisconnectReason;
    /// assert_eq!(DisconnectReason::PingTimeout.as_str(), "ping timeout");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ServerShutdown => "server shutting down",
        }
    }

    /// Whether the server decided the close: only then is what is queued still delivered.
    fn server_side(self) -> bool {
        matches!(
            self,
            DisconnectReason::ForcedClose | DisconnectReason::ServerShutdown
        )
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport a session currently uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    Websocket,
}

impl TransportKind {
    /// Node's name for the transport (`socket.conn.transport.name`): `"polling"` or
    /// `"websocket"`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(sockeye_engineio::TransportKind::Websocket.as_str(), "websocket");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::Websocket => "websocket",
        }
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in time for the machine: microseconds since an origin the driver chooses (the
/// process's first use of the clock in the engine, zero in tests). Eight bytes, so a session
/// keeps its deadlines in little room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Time(u64);

impl Time {
    /// Later than any deadline: "none".
    pub(crate) const NEVER: Time = Time(u64::MAX);

    pub(crate) const fn from_micros(us: u64) -> Time {
        Time(us)
    }

    #[cfg(test)]
    pub(crate) const fn from_millis(ms: u64) -> Time {
        Time(ms * 1000)
    }

    pub(crate) const fn as_micros(self) -> u64 {
        self.0
    }

    fn after(self, d: Duration) -> Time {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        // Saturates below NEVER, so that a huge setting is a far deadline, not none.
        Time(self.0.saturating_add(us).min(u64::MAX - 1))
    }
}

/// The engine's timing settings, shared by its sessions (passed in, not stored per session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            upgrade_timeout: Duration::from_secs(10),
        }
    }
}

/// A session's outbound queue: one packet (the usual reply) fits without an allocation.
pub(crate) type Queue = smallvec::SmallVec<[Outgoing; 1]>;

/// What is queued for the client, and its size as counted against the queue's bound.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) queue: Queue,
    pub(crate) bytes: usize,
}

impl Outbox {
    pub(crate) fn push(&mut self, packet: Outgoing) {
        self.bytes += packet.queue_len();
        self.queue.push(packet);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn clear(&mut self) {
        self.queue = Queue::new();
        self.bytes = 0;
    }
}

/// What the driver must do after an event. Every field's default is "nothing".
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use]
pub(crate) struct Output {
    /// Wake whoever waits for the session's queue (a waiting poll, or the WebSocket task).
    pub(crate) wake: bool,
    /// Wake the WebSocket task of the upgrade in progress: it was aborted.
    pub(crate) wake_probe: bool,
    /// The session closed, for this reason: tell the handler (once; the machine reports a
    /// close once).
    pub(crate) closed: Option<DisconnectReason>,
    /// The engine no longer needs to find the session by its id.
    pub(crate) forget: bool,
    /// Hand this deadline to the shared timer (it is earlier than any the timer holds for
    /// this session).
    pub(crate) arm: Option<Time>,
}

impl Output {
    /// Both outputs' effects (the earlier deadline to arm).
    fn merge(self, other: Output) -> Output {
        Output {
            wake: self.wake || other.wake,
            wake_probe: self.wake_probe || other.wake_probe,
            closed: self.closed.or(other.closed),
            forget: self.forget || other.forget,
            arm: match (self.arm, other.arm) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// Which transport a control packet came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// A polling POST.
    Polling,
    /// The session's WebSocket (not a probe).
    Websocket,
}

/// What a poll (a GET on the polling transport) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollAnswer {
    /// The first `end` queued packets are for this poll (as many as fit the body; then
    /// [`Session::taken`] with how many did).
    Packets {
        /// How many packets at the head of the queue may go in this answer.
        end: usize,
    },
    /// `6`: the poll ends without packets (an upgrade is under way or done, or the client
    /// closed the session).
    Noop,
    /// `1`: the session is closed.
    Close,
    /// Nothing yet: the poll waits.
    Wait,
}

/// What to do with a second WebSocket request for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpgradeDecision {
    /// Run the probe; the upgrade is known by this number.
    Probe(u32),
    /// Complete the WebSocket handshake, then close that WebSocket (the session already
    /// upgraded, is upgrading, or is closed), as Node does.
    Close,
}

/// What a packet on a probing WebSocket means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeStep {
    /// `2probe`: answer `3probe`.
    Answer,
    /// `5`: the session now runs on this WebSocket.
    Upgraded,
    /// The upgrade is over without a change: close this WebSocket.
    Abort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beat {
    /// v4: the next ping goes out at `beat_at`.
    PingAt,
    /// v4: a ping went out; its pong must come by `beat_at`.
    PongBy,
    /// v3: the client must ping by `beat_at`.
    ClientBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    None,
    /// A WebSocket was accepted for the session; `2probe` not seen yet.
    Requested,
    /// `2probe` was answered; waiting for `5`. Polls are answered at once.
    Probed,
    /// The session moved to WebSocket.
    Done,
}

/// One session. The outbox comes first: it is what a send touches (see `socket::State`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) outbox: Outbox,
    /// When the heartbeat's next step is due (see [`Beat`]).
    beat_at: Time,
    /// The upgrade's deadline while one is under way; after a close, how long the session
    /// waits for its client to take what is left.
    other_at: Time,
    /// The earliest deadline the shared timer holds for this session.
    armed: Time,
    upgrade_id: u32,
    version: ProtocolVersion,
    transport: TransportKind,
    beat: Beat,
    upgrade: Upgrade,
    closed: Option<DisconnectReason>,
    /// The wait of a server-side close for the last poll (or write) is over.
    flush_expired: bool,
    get_active: bool,
    post_active: bool,
}

impl Session {
    /// A session opened at `now`. Its first deadline is for the shared timer (see
    /// [`Session::arm`]).
    pub(crate) fn new(
        now: Time,
        version: ProtocolVersion,
        transport: TransportKind,
        t: &Timing,
    ) -> Session {
        let (beat, beat_at) = match version {
            // The client pings; the server only checks that it still does.
            ProtocolVersion::V3 => (
                Beat::ClientBy,
                now.after(t.ping_interval).after(t.ping_timeout),
            ),
            _ => (Beat::PingAt, now.after(t.ping_interval)),
        };
        Session {
            outbox: Outbox::default(),
            beat_at,
            other_at: Time::NEVER,
            armed: Time::NEVER,
            upgrade_id: 0,
            version,
            transport,
            beat,
            upgrade: Upgrade::None,
            closed: None,
            flush_expired: false,
            get_active: false,
            post_active: false,
        }
    }

    pub(crate) fn version(&self) -> ProtocolVersion {
        self.version
    }

    pub(crate) fn transport(&self) -> TransportKind {
        self.transport
    }

    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Whether a closed session has nothing left for its client (or stopped waiting for it
    /// to take it): its transport ends now.
    pub(crate) fn is_drained(&self) -> bool {
        self.closed.is_some() && (self.outbox.is_empty() || self.flush_expired)
    }

    /// Whether a closed session stopped waiting for its client to take what is left.
    pub(crate) fn flush_expired(&self) -> bool {
        self.flush_expired
    }

    /// Whether an upgrade under way is the one numbered `id`.
    pub(crate) fn upgrade_is(&self, id: u32) -> bool {
        self.upgrade_id == id && matches!(self.upgrade, Upgrade::Requested | Upgrade::Probed)
    }

    /// The earliest deadline of the session, if it has one.
    pub(crate) fn deadline(&self) -> Option<Time> {
        let at = match self.closed {
            None => self.beat_at.min(self.other_at),
            Some(_) => self.other_at,
        };
        (at != Time::NEVER).then_some(at)
    }

    /// The deadline to hand to the shared timer: the session's earliest, when the timer holds
    /// nothing as early for it. Entries are never taken back: one that fires after its
    /// deadline moved later finds nothing due, and the next is armed then.
    pub(crate) fn arm(&mut self) -> Option<Time> {
        let at = self.deadline()?;
        if self.armed <= at {
            return None;
        }
        self.armed = at;
        Some(at)
    }

    fn finish(&mut self, mut out: Output) -> Output {
        if let Some(at) = self.arm() {
            out.arm = Some(out.arm.map_or(at, |a| a.min(at)));
        }
        out
    }

    /// The shared timer reached `fired`, an entry this session armed; `now` is the time.
    pub(crate) fn on_timer(&mut self, now: Time, fired: Time, t: &Timing) -> Output {
        if self.armed == fired {
            self.armed = Time::NEVER;
        }
        let mut out = Output::default();
        if self.closed.is_some() {
            if self.other_at <= now {
                // The close waited long enough for its client.
                self.other_at = Time::NEVER;
                self.flush_expired = true;
                out.wake = true;
                out.forget = true;
            }
            return self.finish(out);
        }
        if self.other_at <= now {
            // The client did not finish its upgrade in time; it goes on over polling.
            self.other_at = Time::NEVER;
            self.upgrade = Upgrade::None;
            out.wake_probe = true;
        }
        if self.beat_at <= now {
            match self.beat {
                Beat::PingAt => {
                    self.outbox.push(Outgoing::Ping);
                    self.beat = Beat::PongBy;
                    self.beat_at = now.after(t.ping_timeout);
                    out.wake = true;
                }
                Beat::PongBy | Beat::ClientBy => {
                    out = out.merge(self.close(now, DisconnectReason::PingTimeout, t));
                }
            }
        }
        self.finish(out)
    }

    /// A packet other than a message arrived on the session's transport.
    pub(crate) fn on_packet(&mut self, now: Time, via: Via, packet: &Packet, t: &Timing) -> Output {
        if self.closed.is_some() {
            return Output::default();
        }
        let v3 = self.version == ProtocolVersion::V3;
        match packet {
            Packet::Pong(_) if !v3 => {
                // Node restarts the interval from the pong: the next ping is an interval
                // after it, whether or not a ping was waiting for it.
                self.beat = Beat::PingAt;
                self.beat_at = now.after(t.ping_interval);
                self.finish(Output::default())
            }
            Packet::Ping(_) if v3 => {
                self.beat_at = now.after(t.ping_interval).after(t.ping_timeout);
                self.outbox.push(Outgoing::Pong);
                self.finish(Output {
                    wake: true,
                    ..Output::default()
                })
            }
            // Node's reason for a heartbeat in the wrong direction.
            Packet::Ping(_) | Packet::Pong(_) => {
                self.close(now, DisconnectReason::TransportError, t)
            }
            Packet::Close => self.close(now, DisconnectReason::TransportClose, t),
            Packet::Noop => Output::default(),
            Packet::Upgrade if via == Via::Websocket => Output::default(),
            // An open packet never comes from a client, and upgrades never travel over
            // polling; a message is not for this call.
            Packet::Upgrade | Packet::Open(_) | Packet::Message(_) | Packet::Binary(_) => {
                self.close(now, DisconnectReason::ParseError, t)
            }
        }
    }

    /// Closes the session. What is queued stays for a WebSocket client to take (its
    /// connection ends when it did, or after `ping_timeout` without it), and for a polling
    /// client when the server decided the close (followed by a close packet, for its next
    /// poll, which `ping_timeout` bounds too); a polling session closed for any other reason
    /// drops it, as Node does. A second close does nothing.
    pub(crate) fn close(&mut self, now: Time, reason: DisconnectReason, t: &Timing) -> Output {
        if self.closed.is_some() {
            return Output::default();
        }
        self.closed = Some(reason);
        let mut out = Output {
            wake: true,
            closed: Some(reason),
            forget: true,
            ..Output::default()
        };
        if matches!(self.upgrade, Upgrade::Requested | Upgrade::Probed) {
            self.upgrade = Upgrade::None;
            out.wake_probe = true;
        }
        match self.transport {
            TransportKind::Polling if reason.server_side() => {
                self.outbox.push(Outgoing::Close);
                // Its last poll takes the rest.
                out.forget = false;
                self.other_at = now.after(t.ping_timeout);
            }
            TransportKind::Polling => {
                self.outbox.clear();
                self.other_at = Time::NEVER;
            }
            TransportKind::Websocket => self.other_at = now.after(t.ping_timeout),
        }
        self.finish(out)
    }

    // --- polling -------------------------------------------------------------------------

    /// A GET begins. A second one while the first waits is an error of the client: the
    /// session closes (the waiting one answers `1`), and this one is refused.
    pub(crate) fn poll_begin(&mut self, now: Time, t: &Timing) -> Result<(), Output> {
        if self.get_active {
            return Err(self.close(now, DisconnectReason::TransportError, t));
        }
        self.get_active = true;
        Ok(())
    }

    /// What the GET under way answers now.
    pub(crate) fn poll_answer(&self) -> PollAnswer {
        if self.transport == TransportKind::Websocket {
            // The session moved to WebSocket while this poll waited.
            return PollAnswer::Noop;
        }
        if !self.outbox.queue.is_empty() {
            // The close packet travels alone, in the poll after the last messages: clients
            // handle a close at once but the packets of a payload a tick later.
            let is_close = |p: &Outgoing| matches!(p, Outgoing::Close);
            let end = match self.outbox.queue.iter().position(is_close) {
                Some(0) | None => self.outbox.queue.len(),
                Some(i) => i,
            };
            return PollAnswer::Packets { end };
        }
        match self.closed {
            // Node ends the poll with a noop when the client itself closed the session.
            Some(DisconnectReason::TransportClose) => PollAnswer::Noop,
            Some(_) => PollAnswer::Close,
            // After the probe, polls end at once so the client can pause its polling.
            None if self.upgrade == Upgrade::Probed => PollAnswer::Noop,
            None => PollAnswer::Wait,
        }
    }

    /// The answer of the GET under way took the first `n` queued packets.
    pub(crate) fn taken(&mut self, n: usize) {
        let n = n.min(self.outbox.queue.len());
        let bytes: usize = self.outbox.queue.drain(..n).map(|p| p.queue_len()).sum();
        self.outbox.bytes = self.outbox.bytes.saturating_sub(bytes);
        if self.outbox.queue.is_empty() && self.outbox.queue.spilled() {
            // Idle sessions keep no queue memory.
            self.outbox.queue = Queue::new();
        }
    }

    /// The GET under way ended (answered, or dropped by its client).
    pub(crate) fn poll_end(&mut self) {
        self.get_active = false;
    }

    /// A POST begins; a second one at the same time closes the session.
    pub(crate) fn post_begin(&mut self, now: Time, t: &Timing) -> Result<(), Output> {
        if self.post_active {
            return Err(self.close(now, DisconnectReason::TransportError, t));
        }
        self.post_active = true;
        Ok(())
    }

    /// The POST under way ended.
    pub(crate) fn post_end(&mut self) {
        self.post_active = false;
    }

    // --- upgrade -------------------------------------------------------------------------

    /// A WebSocket request arrived for this session (`sid` in its query).
    pub(crate) fn upgrade_request(&mut self, now: Time, t: &Timing) -> (UpgradeDecision, Output) {
        if self.closed.is_some()
            || self.transport != TransportKind::Polling
            || self.upgrade != Upgrade::None
        {
            return (UpgradeDecision::Close, Output::default());
        }
        self.upgrade = Upgrade::Requested;
        // Never 0: drivers use 0 for "no upgrade".
        self.upgrade_id = self.upgrade_id.wrapping_add(1).max(1);
        self.other_at = now.after(t.upgrade_timeout);
        let out = self.finish(Output::default());
        (UpgradeDecision::Probe(self.upgrade_id), out)
    }

    /// A packet arrived on the WebSocket of upgrade `id`.
    pub(crate) fn on_probe_packet(&mut self, id: u32, packet: &Packet) -> (ProbeStep, Output) {
        if !self.upgrade_is(id) {
            return (ProbeStep::Abort, Output::default());
        }
        match packet {
            Packet::Ping(data) if &data[..] == b"probe" => {
                self.upgrade = Upgrade::Probed;
                // A poll that waits answers `6` now.
                let out = Output {
                    wake: true,
                    ..Output::default()
                };
                (ProbeStep::Answer, out)
            }
            Packet::Upgrade if self.upgrade == Upgrade::Probed => {
                self.upgrade = Upgrade::Done;
                self.transport = TransportKind::Websocket;
                self.other_at = Time::NEVER;
                // The waiting poll (if any) answers `6`, and the queue is the WebSocket's.
                let out = Output {
                    wake: true,
                    ..Output::default()
                };
                (ProbeStep::Upgraded, out)
            }
            // Like Node, anything else ends the upgrade (the session stays on polling).
            _ => (ProbeStep::Abort, self.upgrade_ended(id)),
        }
    }

    /// The WebSocket of upgrade `id` went away (or was refused, or broke the protocol) before
    /// `5`: the session stays on polling.
    pub(crate) fn upgrade_ended(&mut self, id: u32) -> Output {
        if self.upgrade_is(id) {
            self.upgrade = Upgrade::None;
            if self.closed.is_none() {
                self.other_at = Time::NEVER;
            }
        }
        Output::default()
    }
}
