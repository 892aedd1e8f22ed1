//! The session machine under a simulated clock: a perfect shared timer fires each armed
//! entry at its exact time, so every deadline is asserted to the microsecond.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use super::*;

fn ms(v: u64) -> Time {
    Time::from_millis(v)
}

fn timing(interval_ms: u64, timeout_ms: u64) -> Timing {
    Timing {
        ping_interval: Duration::from_millis(interval_ms),
        ping_timeout: Duration::from_millis(timeout_ms),
        upgrade_timeout: Duration::from_millis(1000),
    }
}

/// What happened, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Ping,
    Pong,
    Closed(DisconnectReason),
    ProbeWoken,
    Forgotten,
}

/// A session with a simulated clock and a perfect shared timer.
struct Sim {
    s: Session,
    t: Timing,
    now: Time,
    /// Armed timer entries (a multiset: time -> count).
    timer: BTreeMap<Time, usize>,
    log: Vec<(Time, Event)>,
    /// Wake-ups of the transport's waiter, in order.
    wakes: usize,
}

impl Sim {
    fn new(version: ProtocolVersion, transport: TransportKind, t: Timing) -> Sim {
        let mut s = Session::new(Time::from_micros(0), version, transport, &t);
        let first = s.arm();
        let mut sim = Sim {
            s,
            t,
            now: Time::from_micros(0),
            timer: BTreeMap::new(),
            log: Vec::new(),
            wakes: 0,
        };
        sim.add_entry(first.expect("a new session has a deadline"));
        sim
    }

    fn v4(interval: u64, timeout: u64) -> Sim {
        Sim::new(
            ProtocolVersion::V4,
            TransportKind::Websocket,
            timing(interval, timeout),
        )
    }

    fn add_entry(&mut self, at: Time) {
        *self.timer.entry(at).or_default() += 1;
    }

    fn apply(&mut self, out: Output) {
        if let Some(at) = out.arm {
            self.add_entry(at);
        }
        if out.wake {
            self.wakes += 1;
        }
        if out.wake_probe {
            self.log.push((self.now, Event::ProbeWoken));
        }
        if let Some(r) = out.closed {
            self.log.push((self.now, Event::Closed(r)));
        }
        if out.forget {
            self.log.push((self.now, Event::Forgotten));
        }
    }

    /// Runs the clock to `until`, firing every entry due on the way at its own time, and
    /// taking what the session queues as a transport would (pings and pongs are logged).
    fn run_to(&mut self, until: Time) {
        while let Some((&at, _)) = self.timer.iter().next() {
            if at > until {
                break;
            }
            let n = self.timer.get_mut(&at).expect("entry");
            *n -= 1;
            if *n == 0 {
                self.timer.remove(&at);
            }
            self.now = at;
            let out = self.s.on_timer(at, at, &self.t);
            self.apply(out);
            self.drain();
        }
        self.now = until;
    }

    fn run_for(&mut self, d: u64) {
        self.run_to(Time::from_micros(self.now.as_micros() + d * 1000));
    }

    /// Takes the queue, logging heartbeat packets.
    fn drain(&mut self) -> Vec<Outgoing> {
        let taken: Vec<Outgoing> = self.s.outbox.queue.drain(..).collect();
        self.s.outbox.bytes = 0;
        for p in &taken {
            match p {
                Outgoing::Ping => self.log.push((self.now, Event::Ping)),
                Outgoing::Pong => self.log.push((self.now, Event::Pong)),
                _ => {}
            }
        }
        taken
    }

    fn packet(&mut self, via: Via, p: Packet) {
        let out = self.s.on_packet(self.now, via, &p, &self.t);
        self.apply(out);
    }

    fn close(&mut self, reason: DisconnectReason) {
        let out = self.s.close(self.now, reason, &self.t);
        self.apply(out);
    }

    fn events(&self) -> Vec<(u64, Event)> {
        self.log
            .iter()
            .map(|(t, e)| (t.as_micros() / 1000, e.clone()))
            .collect()
    }

    fn pings(&self) -> Vec<u64> {
        self.events()
            .into_iter()
            .filter(|(_, e)| *e == Event::Ping)
            .map(|(t, _)| t)
            .collect()
    }

    fn closed_at(&self) -> Option<(u64, DisconnectReason)> {
        self.events().into_iter().find_map(|(t, e)| match e {
            Event::Closed(r) => Some((t, r)),
            _ => None,
        })
    }
}

fn pong() -> Packet {
    Packet::Pong(Bytes::new())
}

fn ping() -> Packet {
    Packet::Ping(Bytes::new())
}

/// Every setting: interval and timeout from a millisecond to Node's defaults, either one
/// larger, and equal.
const SETTINGS: [(u64, u64); 9] = [
    (1, 1),
    (1, 5),
    (5, 1),
    (300, 200),
    (400, 800),
    (1000, 1000),
    (25_000, 20_000),
    (20_000, 25_000),
    (60_000, 1),
];

#[test]
fn v4_silent_client_pinged_at_the_interval_and_closed_at_the_timeout() {
    for (i, tmo) in SETTINGS {
        let mut sim = Sim::v4(i, tmo);
        sim.run_to(ms(i + 2 * tmo + 10));
        assert_eq!(sim.pings(), vec![i], "{i}/{tmo}: one ping, at the interval");
        assert_eq!(
            sim.closed_at(),
            Some((i + tmo, DisconnectReason::PingTimeout)),
            "{i}/{tmo}: closed at interval + timeout, to the microsecond"
        );
        assert!(sim.s.is_closed());
        // Past the flush wait a closed session keeps no deadline, and it queued nothing more.
        assert_eq!(sim.s.deadline(), None);
        assert!(sim.s.outbox.is_empty());
    }
}

#[test]
fn v4_answering_client_pinged_an_interval_after_each_pong() {
    for (i, tmo) in SETTINGS {
        // The client answers each ping after `delay` (within the timeout).
        let delay = tmo / 2;
        let mut sim = Sim::v4(i, tmo);
        let mut expected = Vec::new();
        let mut next_ping = i;
        for _ in 0..5 {
            sim.run_to(ms(next_ping));
            expected.push(next_ping);
            assert_eq!(sim.pings(), expected, "{i}/{tmo}");
            sim.run_to(ms(next_ping + delay));
            sim.packet(Via::Websocket, pong());
            next_ping += delay + i;
        }
        // Just before the next ping nothing more happened.
        sim.run_to(Time::from_micros(next_ping * 1000 - 1));
        assert_eq!(sim.pings(), expected, "{i}/{tmo}");
        assert_eq!(sim.closed_at(), None, "{i}/{tmo}");
        sim.run_to(ms(next_ping));
        assert_eq!(sim.pings().last(), Some(&next_ping), "{i}/{tmo}");
    }
}

#[test]
fn v4_pong_at_the_last_microsecond_keeps_the_session() {
    let mut sim = Sim::v4(300, 200);
    sim.run_to(Time::from_micros(499_999));
    sim.packet(Via::Websocket, pong());
    sim.run_to(ms(799));
    assert_eq!(sim.closed_at(), None);
    assert_eq!(sim.pings(), vec![300]);
    sim.run_to(ms(800));
    assert_eq!(sim.pings().len(), 2, "next ping at the pong + 300 ms");
}

#[test]
fn v4_timer_entries_stay_few() {
    // With a timeout longer than the interval, a pong moves the deadline earlier than the
    // armed pong deadline: a new entry is armed, and the stale one fires harmlessly later.
    // So a session holds at most timeout / interval + 2 entries.
    for (i, tmo) in [(400u64, 800u64), (1, 5), (300, 200)] {
        let bound = tmo.div_ceil(i) as usize + 2;
        let mut sim = Sim::v4(i, tmo);
        let mut most = 0;
        for _ in 0..50 {
            let next = sim.s.deadline().expect("deadline");
            sim.run_to(next);
            sim.run_for(i.min(tmo) / 2);
            sim.packet(Via::Websocket, pong());
            most = most.max(sim.timer.values().sum::<usize>());
        }
        assert!(most <= bound, "{i}/{tmo}: {most} entries armed at once");
        assert_eq!(sim.closed_at(), None);
        assert_eq!(sim.pings().len(), 50);
    }
    // With Node's defaults a pong arms nothing: the pong deadline entry fires first and
    // arms the next ping.
    let mut sim = Sim::v4(25_000, 20_000);
    sim.run_to(ms(25_000));
    sim.run_for(5);
    let before: usize = sim.timer.values().sum();
    sim.packet(Via::Websocket, pong());
    assert_eq!(sim.timer.values().sum::<usize>(), before);
    sim.run_to(ms(45_000));
    assert_eq!(sim.pings(), vec![25_000]);
    sim.run_to(ms(50_005));
    assert_eq!(sim.pings(), vec![25_000, 50_005]);
}

#[test]
fn v4_unsolicited_pong_postpones_the_next_ping() {
    let mut sim = Sim::v4(300, 200);
    sim.run_to(ms(100));
    sim.packet(Via::Websocket, pong());
    sim.run_to(ms(399));
    assert!(sim.pings().is_empty());
    sim.run_to(ms(400));
    assert_eq!(sim.pings(), vec![400]);
}

#[test]
fn v4_client_ping_is_a_transport_error() {
    for via in [Via::Polling, Via::Websocket] {
        let mut sim = Sim::v4(300, 200);
        sim.packet(via, Packet::Ping(Bytes::from_static(b"probe")));
        assert_eq!(sim.closed_at(), Some((0, DisconnectReason::TransportError)));
    }
}

#[test]
fn v3_client_pings_keep_it_and_silence_closes_it() {
    for (i, tmo) in SETTINGS {
        let mut sim = Sim::new(ProtocolVersion::V3, TransportKind::Polling, timing(i, tmo));
        let life = i + tmo;
        // The server never pings; the client pings just in time, three times.
        let mut last = 0;
        for _ in 0..3 {
            last += life - 1;
            sim.run_to(ms(last));
            sim.packet(Via::Polling, ping());
            assert_eq!(sim.drain(), vec![Outgoing::Pong], "{i}/{tmo}");
        }
        assert_eq!(sim.closed_at(), None, "{i}/{tmo}");
        assert!(sim.pings().is_empty(), "{i}/{tmo}: a v3 server never pings");
        sim.run_to(Time::from_micros((last + life) * 1000 - 1));
        assert_eq!(sim.closed_at(), None, "{i}/{tmo}");
        sim.run_to(ms(last + life));
        assert_eq!(
            sim.closed_at(),
            Some((last + life, DisconnectReason::PingTimeout)),
            "{i}/{tmo}"
        );
    }
}

#[test]
fn v3_pong_from_the_client_is_a_transport_error() {
    let mut sim = Sim::new(
        ProtocolVersion::V3,
        TransportKind::Websocket,
        timing(300, 200),
    );
    sim.packet(Via::Websocket, pong());
    assert_eq!(sim.closed_at(), Some((0, DisconnectReason::TransportError)));
}

#[test]
fn noop_and_upgrade_packets_are_ignored_on_a_websocket_and_refused_over_polling() {
    for v in [ProtocolVersion::V3, ProtocolVersion::V4] {
        let mut sim = Sim::new(v, TransportKind::Websocket, timing(300, 200));
        sim.packet(Via::Websocket, Packet::Noop);
        sim.packet(Via::Websocket, Packet::Upgrade);
        assert!(!sim.s.is_closed());
        let mut sim = Sim::new(v, TransportKind::Polling, timing(300, 200));
        sim.packet(Via::Polling, Packet::Noop);
        assert!(!sim.s.is_closed());
        sim.packet(Via::Polling, Packet::Upgrade);
        assert_eq!(sim.closed_at(), Some((0, DisconnectReason::ParseError)));
        let mut sim = Sim::new(v, TransportKind::Websocket, timing(300, 200));
        sim.packet(Via::Websocket, Packet::Open(Bytes::new()));
        assert_eq!(sim.closed_at(), Some((0, DisconnectReason::ParseError)));
    }
}

// --- polling -----------------------------------------------------------------------------

fn polling(v: ProtocolVersion) -> Sim {
    Sim::new(v, TransportKind::Polling, timing(300, 200))
}

#[test]
fn poll_waits_then_takes_the_queue_with_the_close_alone() {
    let mut sim = polling(ProtocolVersion::V4);
    sim.s.poll_begin(sim.now, &sim.t).expect("first GET");
    assert_eq!(sim.s.poll_answer(), PollAnswer::Wait);
    sim.s.outbox.push(Outgoing::Message("a".into()));
    sim.s.outbox.push(Outgoing::Message("b".into()));
    assert_eq!(sim.s.poll_answer(), PollAnswer::Packets { end: 2 });
    sim.s.taken(1);
    assert_eq!(sim.s.outbox.queue.len(), 1);
    assert_eq!(sim.s.outbox.bytes, 2);
    sim.s.poll_end();
    // A close decided by the server: the message first, then the close alone.
    sim.close(DisconnectReason::ForcedClose);
    assert!(!sim.s.is_drained());
    assert_eq!(
        sim.events(),
        vec![(0, Event::Closed(DisconnectReason::ForcedClose))],
        "not forgotten: its last poll takes the rest"
    );
    sim.s.poll_begin(sim.now, &sim.t).expect("GET");
    assert_eq!(sim.s.poll_answer(), PollAnswer::Packets { end: 1 });
    sim.s.taken(1);
    sim.s.poll_end();
    sim.s.poll_begin(sim.now, &sim.t).expect("GET");
    assert_eq!(sim.s.poll_answer(), PollAnswer::Packets { end: 1 });
    assert_eq!(sim.s.outbox.queue[0], Outgoing::Close);
    sim.s.taken(1);
    assert!(sim.s.is_drained());
    assert_eq!(sim.s.poll_answer(), PollAnswer::Close);
}

#[test]
fn server_close_over_polling_waits_ping_timeout_for_the_last_poll() {
    for v in [ProtocolVersion::V3, ProtocolVersion::V4] {
        let mut sim = polling(v);
        sim.run_to(ms(50));
        sim.s.outbox.push(Outgoing::Message("last".into()));
        sim.close(DisconnectReason::ServerShutdown);
        sim.run_to(ms(249));
        assert!(!sim.s.is_drained());
        assert!(!sim.events().contains(&(249, Event::Forgotten)));
        sim.run_to(ms(250));
        assert!(
            sim.s.is_drained(),
            "gave up on the client at close + ping timeout"
        );
        assert!(sim.events().contains(&(250, Event::Forgotten)));
        // No heartbeat after a close.
        sim.run_to(ms(10_000));
        assert!(sim.pings().is_empty());
    }
}

#[test]
fn server_close_over_websocket_is_forgotten_at_once_and_bounded_by_ping_timeout() {
    let mut sim = Sim::v4(300, 200);
    sim.s.outbox.push(Outgoing::Message("last".into()));
    sim.run_to(ms(10));
    sim.close(DisconnectReason::ForcedClose);
    assert_eq!(
        sim.events(),
        vec![
            (10, Event::Closed(DisconnectReason::ForcedClose)),
            (10, Event::Forgotten)
        ]
    );
    // No close packet over WebSocket (the close frame ends it), the message stays.
    assert_eq!(
        sim.s.outbox.queue.to_vec(),
        vec![Outgoing::Message("last".into())]
    );
    assert!(!sim.s.is_drained());
    let wakes = sim.wakes;
    sim.run_to(ms(210));
    assert!(
        sim.s.is_drained(),
        "the flush wait ends at close + ping timeout"
    );
    assert_eq!(sim.wakes, wakes + 1, "and wakes the transport");
}

#[test]
fn client_close_while_a_poll_waits_answers_noop() {
    for v in [ProtocolVersion::V3, ProtocolVersion::V4] {
        let mut sim = polling(v);
        sim.s.poll_begin(sim.now, &sim.t).expect("GET");
        assert_eq!(sim.s.poll_answer(), PollAnswer::Wait);
        let wakes = sim.wakes;
        sim.s.post_begin(sim.now, &sim.t).expect("POST");
        sim.packet(Via::Polling, Packet::Close);
        sim.s.post_end();
        assert_eq!(sim.wakes, wakes + 1, "the waiting GET is woken");
        assert_eq!(sim.s.poll_answer(), PollAnswer::Noop);
        assert_eq!(
            sim.events(),
            vec![
                (0, Event::Closed(DisconnectReason::TransportClose)),
                (0, Event::Forgotten)
            ]
        );
        assert!(sim.s.is_drained());
    }
}

#[test]
fn any_other_close_while_a_poll_waits_answers_close_and_drops_the_queue() {
    for reason in [
        DisconnectReason::TransportError,
        DisconnectReason::ParseError,
        DisconnectReason::PingTimeout,
    ] {
        let mut sim = polling(ProtocolVersion::V4);
        sim.s.outbox.push(Outgoing::Message("dropped".into()));
        sim.close(reason);
        assert_eq!(sim.s.deadline(), None);
        assert!(sim.s.outbox.is_empty());
        assert_eq!(sim.s.outbox.bytes, 0);
        assert_eq!(sim.s.poll_answer(), PollAnswer::Close);
        assert!(sim.events().contains(&(0, Event::Forgotten)));
    }
}

#[test]
fn overlapping_polls_close_the_session() {
    let mut sim = polling(ProtocolVersion::V4);
    sim.s.poll_begin(sim.now, &sim.t).expect("first GET");
    let out = sim.s.poll_begin(sim.now, &sim.t).expect_err("second GET");
    assert_eq!(out.closed, Some(DisconnectReason::TransportError));
    assert!(out.wake, "the first GET is woken");
    assert_eq!(sim.s.poll_answer(), PollAnswer::Close, "and answers `1`");
    // Sequential polls are fine.
    let mut sim = polling(ProtocolVersion::V4);
    for _ in 0..3 {
        sim.s.poll_begin(sim.now, &sim.t).expect("GET");
        sim.s.poll_end();
    }
    assert!(!sim.s.is_closed());
    // So are POSTs, but not two at once.
    sim.s.post_begin(sim.now, &sim.t).expect("POST");
    let out = sim.s.post_begin(sim.now, &sim.t).expect_err("second POST");
    assert_eq!(out.closed, Some(DisconnectReason::TransportError));
}

#[test]
fn polling_heartbeat_pings_go_to_the_waiting_poll() {
    let mut sim = polling(ProtocolVersion::V4);
    sim.s.poll_begin(sim.now, &sim.t).expect("GET");
    let wakes = sim.wakes;
    // Run the timer without a transport taking the queue.
    let at = sim.s.deadline().expect("deadline");
    assert_eq!(at, ms(300));
    let out = sim.s.on_timer(at, at, &sim.t);
    assert!(out.wake);
    sim.apply(out);
    assert_eq!(sim.wakes, wakes + 1);
    assert_eq!(sim.s.poll_answer(), PollAnswer::Packets { end: 1 });
    assert_eq!(sim.s.outbox.queue[0], Outgoing::Ping);
}

// --- upgrade -----------------------------------------------------------------------------

fn upgrade(sim: &mut Sim) -> u32 {
    let (decision, out) = sim.s.upgrade_request(sim.now, &sim.t);
    sim.apply(out);
    match decision {
        UpgradeDecision::Probe(id) => id,
        other => panic!("upgrade refused: {other:?}"),
    }
}

fn probe(sim: &mut Sim, id: u32, p: Packet) -> ProbeStep {
    let (step, out) = sim.s.on_probe_packet(id, &p);
    sim.apply(out);
    step
}

#[test]
fn upgrade_probe_then_polls_answer_noop_at_once_then_upgraded() {
    for v in [ProtocolVersion::V3, ProtocolVersion::V4] {
        let mut sim = Sim::new(v, TransportKind::Polling, timing(25_000, 20_000));
        sim.s.poll_begin(sim.now, &sim.t).expect("GET");
        let id = upgrade(&mut sim);
        // Before the probe, a poll waits as usual.
        assert_eq!(sim.s.poll_answer(), PollAnswer::Wait);
        let wakes = sim.wakes;
        assert_eq!(
            probe(&mut sim, id, Packet::Ping(Bytes::from_static(b"probe"))),
            ProbeStep::Answer
        );
        assert_eq!(sim.wakes, wakes + 1, "the waiting GET is woken");
        // Every poll now answers noop at once.
        for _ in 0..3 {
            assert_eq!(sim.s.poll_answer(), PollAnswer::Noop);
            sim.s.poll_end();
            sim.s.poll_begin(sim.now, &sim.t).expect("GET");
        }
        // ...unless there is something to take.
        sim.s.outbox.push(Outgoing::Message("x".into()));
        assert_eq!(sim.s.poll_answer(), PollAnswer::Packets { end: 1 });
        assert_eq!(probe(&mut sim, id, Packet::Upgrade), ProbeStep::Upgraded);
        assert_eq!(sim.s.transport(), TransportKind::Websocket);
        assert_eq!(sim.s.poll_answer(), PollAnswer::Noop, "the last poll ends");
        // The queue is the WebSocket's now.
        assert_eq!(sim.s.outbox.queue.len(), 1);
        // No upgrade deadline is left: the timeout passes and nothing happens.
        sim.run_to(ms(1100));
        assert!(!sim
            .events()
            .iter()
            .any(|(_, e)| *e == Event::ProbeWoken || matches!(e, Event::Closed(_))));
        // A second WebSocket for the session is accepted, then closed.
        let (decision, _) = sim.s.upgrade_request(sim.now, &sim.t);
        assert_eq!(decision, UpgradeDecision::Close);
    }
}

#[test]
fn upgrade_times_out_exactly_and_the_session_goes_on() {
    for probed in [false, true] {
        let mut sim = Sim::new(
            ProtocolVersion::V4,
            TransportKind::Polling,
            timing(25_000, 20_000),
        );
        sim.run_to(ms(100));
        let id = upgrade(&mut sim);
        if probed {
            sim.run_to(ms(200));
            assert_eq!(
                probe(&mut sim, id, Packet::Ping(Bytes::from_static(b"probe"))),
                ProbeStep::Answer
            );
        }
        sim.run_to(Time::from_micros(1_099_999));
        assert!(sim.s.upgrade_is(id));
        sim.run_to(ms(1100));
        assert!(
            !sim.s.upgrade_is(id),
            "timed out at request + upgrade_timeout"
        );
        assert_eq!(sim.events(), vec![(1100, Event::ProbeWoken)]);
        assert!(!sim.s.is_closed());
        assert_eq!(sim.s.transport(), TransportKind::Polling);
        // Polls wait again, and a `5` that comes late changes nothing.
        sim.s.poll_begin(sim.now, &sim.t).expect("GET");
        assert_eq!(sim.s.poll_answer(), PollAnswer::Wait);
        assert_eq!(probe(&mut sim, id, Packet::Upgrade), ProbeStep::Abort);
        assert_eq!(sim.s.transport(), TransportKind::Polling);
        // The heartbeat went on meanwhile.
        sim.run_to(ms(25_000));
        assert_eq!(sim.pings(), vec![25_000]);
        // And it may upgrade again, with a new number.
        let again = upgrade(&mut sim);
        assert_ne!(again, id);
    }
}

#[test]
fn upgrade_aborted_by_unexpected_packets() {
    for p in [
        Packet::Upgrade,
        Packet::Message("x".into()),
        Packet::Ping(Bytes::from_static(b"other")),
        Packet::Close,
    ] {
        let mut sim = polling(ProtocolVersion::V4);
        let id = upgrade(&mut sim);
        assert_eq!(probe(&mut sim, id, p.clone()), ProbeStep::Abort, "{p:?}");
        assert!(!sim.s.upgrade_is(id));
        assert!(
            !sim.s.is_closed(),
            "{p:?}: the session goes on over polling"
        );
        // No upgrade deadline remains.
        assert_eq!(sim.s.deadline(), Some(ms(300)));
    }
}

#[test]
fn second_websocket_while_upgrading_is_closed_and_the_first_goes_on() {
    let mut sim = polling(ProtocolVersion::V4);
    let id = upgrade(&mut sim);
    let (decision, _) = sim.s.upgrade_request(sim.now, &sim.t);
    assert_eq!(decision, UpgradeDecision::Close);
    assert!(sim.s.upgrade_is(id));
    assert_eq!(
        probe(&mut sim, id, Packet::Ping(Bytes::from_static(b"probe"))),
        ProbeStep::Answer
    );
    assert_eq!(probe(&mut sim, id, Packet::Upgrade), ProbeStep::Upgraded);
}

#[test]
fn websocket_session_never_upgrades() {
    let mut sim = Sim::v4(300, 200);
    let (decision, _) = sim.s.upgrade_request(sim.now, &sim.t);
    assert_eq!(decision, UpgradeDecision::Close);
}

#[test]
fn session_closed_during_the_probe_wakes_it_and_refuses_5() {
    let mut sim = polling(ProtocolVersion::V4);
    let id = upgrade(&mut sim);
    assert_eq!(
        probe(&mut sim, id, Packet::Ping(Bytes::from_static(b"probe"))),
        ProbeStep::Answer
    );
    sim.close(DisconnectReason::ForcedClose);
    assert!(sim.events().contains(&(0, Event::ProbeWoken)));
    assert_eq!(probe(&mut sim, id, Packet::Upgrade), ProbeStep::Abort);
    assert_eq!(sim.s.transport(), TransportKind::Polling);
    let (decision, _) = sim.s.upgrade_request(sim.now, &sim.t);
    assert_eq!(decision, UpgradeDecision::Close);
}

#[test]
fn upgrade_ended_by_its_websocket() {
    let mut sim = polling(ProtocolVersion::V4);
    let id = upgrade(&mut sim);
    let _ = sim.s.upgrade_ended(id);
    assert!(!sim.s.upgrade_is(id));
    assert_eq!(sim.s.deadline(), Some(ms(300)));
    // An old upgrade's end does not touch a newer one.
    let newer = upgrade(&mut sim);
    let _ = sim.s.upgrade_ended(id);
    assert!(sim.s.upgrade_is(newer));
}

#[test]
fn upgrade_pings_stay_on_polling_until_5() {
    let mut sim = Sim::new(
        ProtocolVersion::V4,
        TransportKind::Polling,
        timing(300, 5000),
    );
    sim.run_to(ms(250));
    let id = upgrade(&mut sim);
    assert_eq!(
        probe(&mut sim, id, Packet::Ping(Bytes::from_static(b"probe"))),
        ProbeStep::Answer
    );
    // A ping due during the probe is for the polling transport (it is taken by the sim's
    // "transport" here): the heartbeat does not pause.
    sim.run_to(ms(300));
    assert_eq!(sim.pings(), vec![300]);
    assert_eq!(probe(&mut sim, id, Packet::Upgrade), ProbeStep::Upgraded);
    sim.packet(Via::Websocket, pong());
    sim.run_to(ms(600));
    assert_eq!(sim.pings(), vec![300, 600]);
}

// --- close from either side --------------------------------------------------------------

#[test]
fn close_is_reported_once() {
    for first in [
        DisconnectReason::TransportClose,
        DisconnectReason::ForcedClose,
        DisconnectReason::PingTimeout,
    ] {
        let mut sim = Sim::v4(300, 200);
        sim.close(first);
        sim.close(DisconnectReason::TransportError);
        sim.packet(Via::Websocket, Packet::Close);
        sim.run_to(ms(10_000));
        let closes: Vec<_> = sim
            .events()
            .into_iter()
            .filter(|(_, e)| matches!(e, Event::Closed(_)))
            .collect();
        assert_eq!(closes, vec![(0, Event::Closed(first))]);
    }
}

#[test]
fn closes_over_websocket_keep_the_queue_for_ping_timeout() {
    for (v, reason) in [
        (ProtocolVersion::V3, DisconnectReason::TransportClose),
        (ProtocolVersion::V4, DisconnectReason::TransportClose),
        (ProtocolVersion::V4, DisconnectReason::TransportError),
        (ProtocolVersion::V4, DisconnectReason::PingTimeout),
    ] {
        let mut sim = Sim::new(v, TransportKind::Websocket, timing(300, 200));
        sim.s.outbox.push(Outgoing::Message("last".into()));
        sim.run_to(ms(100));
        match reason {
            DisconnectReason::TransportClose => sim.packet(Via::Websocket, Packet::Close),
            _ => sim.close(reason),
        }
        assert_eq!(
            sim.events(),
            vec![(100, Event::Closed(reason)), (100, Event::Forgotten)],
            "{v:?} {reason:?}"
        );
        assert!(
            !sim.s.is_drained(),
            "{reason:?}: its connection may still flush"
        );
        sim.run_to(ms(299));
        assert!(!sim.s.flush_expired());
        sim.run_to(ms(300));
        assert!(
            sim.s.flush_expired(),
            "{reason:?}: until close + ping timeout"
        );
        assert!(sim.s.is_drained());
    }
}

#[test]
fn packets_after_a_close_change_nothing() {
    let mut sim = Sim::v4(300, 200);
    sim.close(DisconnectReason::ParseError);
    sim.packet(Via::Websocket, pong());
    sim.packet(Via::Websocket, ping());
    // Only the flush wait of the close is left.
    assert_eq!(sim.s.deadline(), Some(ms(200)));
    assert!(sim.s.outbox.is_empty());
}

#[test]
fn time_saturates_instead_of_wrapping() {
    let far = Time::from_micros(u64::MAX - 10).after(Duration::from_secs(1));
    assert!(far < Time::NEVER);
    let t = Timing {
        ping_interval: Duration::MAX,
        ping_timeout: Duration::MAX,
        upgrade_timeout: Duration::MAX,
    };
    let s = Session::new(ms(5), ProtocolVersion::V4, TransportKind::Websocket, &t);
    assert!(s.deadline().is_some_and(|d| d < Time::NEVER));
}
