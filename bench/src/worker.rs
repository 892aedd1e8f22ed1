//! The clients of one load-generator process (all of them, or one shard's share) on a
//! single-threaded runtime: connection ramp, phases, and the scenarios' client loops.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Semaphore};
use tokio::time::{interval_at, sleep, timeout, Instant, Interval, MissedTickBehavior};

use crate::client::{PollClient, WsClient};
use crate::proto::{client_frame, client_frame_deflated, Codec, Rng, Seen, OP_TEXT};
use crate::{Barrier, Config, Point, Scenario, Transport};

/// What the clients are doing; every client task watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Opening connections.
    Connecting,
    /// Sending, not counted.
    Warmup,
    /// Sending and counted.
    Measure,
    /// No new sends; waiting for the replies to measured sends.
    Drain,
    /// Done.
    Stop,
}

/// Counters shared by this process's client tasks.
pub struct Shared {
    cfg: Rc<Config>,
    phase: watch::Receiver<Phase>,
    gate: Semaphore,
    /// Client tasks started.
    pub clients: Cell<u64>,
    connected: Cell<u64>,
    failed: Cell<u64>,
    lost: Cell<u64>,
    drained: Cell<u64>,
    sent: Cell<u64>,
    received: Cell<u64>,
    ticks: Cell<u64>,
    subscribers: Cell<u64>,
    /// WebSocket clients whose server agreed `permessage-deflate`.
    deflated: Cell<u64>,
    /// Bytes read from the server by the WebSocket clients in the measured window.
    rx_bytes: Cell<u64>,
    /// Broadcast: the wire length of every measured tick's frame the subscribers read
    /// (compressed or not, frame header included): over the deliveries, the bytes a tick
    /// costs on the wire, whenever it arrives.
    tick_bytes: Cell<u64>,
    hist: RefCell<Histogram<u64>>,
    /// With several server addresses: what the clients of each one received, so that a
    /// cluster's nodes can be told apart (the publisher's node, and those behind Redis).
    by_addr: Vec<AddrStats>,
    errors: RefCell<BTreeMap<String, u64>>,
    cpu0: Cell<f64>,
    cpu1: Cell<f64>,
    /// Storm: the clients connected right now.
    up: Cell<u64>,
    /// Storm: the clients that lost their connection at least once.
    down_once: Cell<u64>,
    /// Storm: successful reconnections.
    reconnects: Cell<u64>,
    /// Storm: reconnection attempts, and those that failed, by cause.
    attempts: Cell<u64>,
    refused: Cell<u64>,
    timed_out: Cell<u64>,
    attempt_errors: Cell<u64>,
}

/// The counters of the clients of one server address.
struct AddrStats {
    /// Connected clients (subscribers, for broadcast; the publisher is not counted).
    clients: Cell<u64>,
    /// Measured messages received (echoes or deliveries).
    received: Cell<u64>,
    hist: RefCell<Histogram<u64>>,
}

/// Largest latency recorded: 60 s, in µs.
const MAX_LATENCY_US: u64 = 60_000_000;

/// An empty latency histogram (µs, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl Shared {
    fn error(&self, e: &io::Error) {
        let key = format!("{:?}: {}", e.kind(), e);
        let key: String = key.chars().take(120).collect();
        *self.errors.borrow_mut().entry(key).or_default() += 1;
    }

    fn bump(c: &Cell<u64>) {
        c.set(c.get() + 1);
    }

    /// Counts one measured reply received by a client of address `addr`, `us` after it was
    /// sent.
    fn record(&self, addr: usize, us: u64) {
        let us = us.clamp(1, MAX_LATENCY_US);
        Shared::bump(&self.received);
        self.hist.borrow_mut().saturating_record(us);
        if let Some(a) = self.by_addr.get(addr) {
            Shared::bump(&a.received);
            a.hist.borrow_mut().saturating_record(us);
        }
    }

    /// Counts a failed reconnection attempt by its cause (and its message in `errors`).
    fn attempt_failed(&self, e: &io::Error) {
        let cause = match e.kind() {
            // The kernel's refusal (no listener, or a full backlog with the kernel set to
            // refuse), not a refusal the load generator read from the server.
            io::ErrorKind::ConnectionRefused if e.raw_os_error().is_some() => &self.refused,
            io::ErrorKind::TimedOut => &self.timed_out,
            _ => &self.attempt_errors,
        };
        Shared::bump(cause);
        self.error(e);
    }

    /// Counts a connected client of address `addr` (not the publisher).
    fn connected_to(&self, addr: usize) {
        if let Some(a) = self.by_addr.get(addr) {
            Shared::bump(&a.clients);
        }
    }

    /// This process's results so far, as the JSON object the coordinator merges.
    pub fn partial(&self, timed_out: bool) -> Value {
        let hist = histogram_buckets(&self.hist.borrow());
        let cpu = if self.cpu1.get() > 0.0 {
            self.cpu1.get() - self.cpu0.get()
        } else {
            0.0
        };
        json!({
            "clients": self.clients.get(),
            "connected": self.connected.get(),
            "failed": self.failed.get(),
            "lost": self.lost.get(),
            "sent": self.sent.get(),
            "received": self.received.get(),
            "ticks": self.ticks.get(),
            "subscribers": self.subscribers.get(),
            "deflated": self.deflated.get(),
            "rx_bytes": self.rx_bytes.get(),
            "tick_bytes": self.tick_bytes.get(),
            "errors": *self.errors.borrow(),
            "up": self.up.get(),
            "down_once": self.down_once.get(),
            "reconnects": self.reconnects.get(),
            "attempts": self.attempts.get(),
            "refused": self.refused.get(),
            "timed_out": self.timed_out.get(),
            "attempt_errors": self.attempt_errors.get(),
            "loadgen_cpu_s": cpu,
            "timed_out": timed_out,
            "hist": hist,
            "by_addr": self.by_addr.iter().map(|a| json!({
                "clients": a.clients.get(),
                "received": a.received.get(),
                "hist": histogram_buckets(&a.hist.borrow()),
            })).collect::<Vec<_>>(),
        })
    }
}

/// A histogram's recorded buckets as `[value, count]` pairs (what the coordinator merges).
fn histogram_buckets(h: &Histogram<u64>) -> Vec<[u64; 2]> {
    h.iter_recorded()
        .map(|v| [v.value_iterated_to(), v.count_at_value()])
        .collect()
}

/// One process's load: creates the shared state; [`Worker::run`] drives the phases.
pub struct Worker {
    /// The shared counters (readable after a timeout too).
    pub shared: Rc<Shared>,
    tx: watch::Sender<Phase>,
    shard: usize,
    shards: usize,
}

/// What a client task does once connected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Idle,
    Echo,
    Subscriber,
    Publisher,
}

impl Worker {
    /// The worker for shard `shard` of `shards` (0 of 1 when not sharded).
    pub fn new(cfg: Rc<Config>, shard: usize, shards: usize) -> Worker {
        let (tx, rx) = watch::channel(Phase::Connecting);
        // Per-address counters only when there is more than one address: one histogram
        // fewer to fill on the hot path of a single-server run.
        let by_addr = if cfg.addrs.len() > 1 {
            (0..cfg.addrs.len())
                .map(|_| AddrStats {
                    clients: Cell::new(0),
                    received: Cell::new(0),
                    hist: RefCell::new(new_histogram()),
                })
                .collect()
        } else {
            Vec::new()
        };
        let shared = Rc::new(Shared {
            by_addr,
            gate: Semaphore::new(cfg.concurrency.max(1)),
            cfg,
            phase: rx,
            clients: Cell::new(0),
            connected: Cell::new(0),
            failed: Cell::new(0),
            lost: Cell::new(0),
            drained: Cell::new(0),
            sent: Cell::new(0),
            received: Cell::new(0),
            ticks: Cell::new(0),
            subscribers: Cell::new(0),
            deflated: Cell::new(0),
            rx_bytes: Cell::new(0),
            tick_bytes: Cell::new(0),
            hist: RefCell::new(new_histogram()),
            errors: RefCell::new(BTreeMap::new()),
            cpu0: Cell::new(0.0),
            cpu1: Cell::new(0.0),
            up: Cell::new(0),
            down_once: Cell::new(0),
            reconnects: Cell::new(0),
            attempts: Cell::new(0),
            refused: Cell::new(0),
            timed_out: Cell::new(0),
            attempt_errors: Cell::new(0),
        });
        Worker {
            shared,
            tx,
            shard,
            shards,
        }
    }

    /// Runs the scenario through its phases, stopping at each [`Point`] of `barrier`.
    /// Must run inside a `LocalSet`.
    pub async fn run(&self, barrier: &mut Barrier) {
        let sh = &self.shared;
        let cfg = sh.cfg.clone();
        barrier.at(Point::Start).await;
        let role = match cfg.scenario {
            Scenario::Connect | Scenario::Storm => Role::Idle,
            Scenario::Echo => Role::Echo,
            Scenario::Broadcast => Role::Subscriber,
        };
        let mut tasks = 0u64;
        if cfg.scenario == Scenario::Broadcast && self.shard == 0 {
            // The publisher connects first so that it is ready when the ramp ends.
            tokio::task::spawn_local(client_task(sh.clone(), cfg.clients, Role::Publisher));
            tasks += 1;
        }
        for i in (self.shard..cfg.clients).step_by(self.shards) {
            if cfg.scenario == Scenario::Storm {
                tokio::task::spawn_local(storm_task(sh.clone(), i));
            } else {
                tokio::task::spawn_local(client_task(sh.clone(), i, role));
            }
            tasks += 1;
        }
        sh.clients.set(tasks);
        wait_until(None, || sh.connected.get() + sh.failed.get() >= tasks).await;
        barrier.at(Point::Connected).await;
        if cfg.scenario == Scenario::Connect {
            barrier.at(Point::Measure).await;
            sh.cpu0.set(crate::procfs::self_cpu_seconds());
            let _ = self.tx.send(Phase::Measure);
            sleep(Duration::from_secs_f64(cfg.duration)).await;
        } else if cfg.scenario == Scenario::Storm {
            // Held for --warmup, then the coordinator restarts the server at this barrier;
            // the clients see their connections end and come back on their own.
            sleep(Duration::from_secs_f64(cfg.warmup)).await;
            barrier.at(Point::Measure).await;
            sh.cpu0.set(crate::procfs::self_cpu_seconds());
            let _ = self.tx.send(Phase::Measure);
            let deadline = Instant::now() + Duration::from_secs_f64(cfg.duration);
            let target = sh.connected.get();
            wait_until(Some(deadline), || {
                sh.down_once.get() >= target && sh.up.get() >= target
            })
            .await;
        } else {
            let _ = self.tx.send(Phase::Warmup);
            sleep(Duration::from_secs_f64(cfg.warmup)).await;
            barrier.at(Point::Measure).await;
            sh.cpu0.set(crate::procfs::self_cpu_seconds());
            let _ = self.tx.send(Phase::Measure);
            sleep(Duration::from_secs_f64(cfg.duration)).await;
            let _ = self.tx.send(Phase::Drain);
            let deadline = Instant::now() + Duration::from_secs_f64(cfg.drain);
            wait_until(Some(deadline), || {
                sh.drained.get() + sh.lost.get() >= sh.connected.get()
            })
            .await;
        }
        sh.cpu1.set(crate::procfs::self_cpu_seconds());
        barrier.at(Point::End).await;
        let _ = self.tx.send(Phase::Stop);
    }
}

/// Polls `done` every few milliseconds until it holds or `deadline` passes.
async fn wait_until(deadline: Option<Instant>, done: impl Fn() -> bool) {
    while !done() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for the next phase change (a dropped sender reads as [`Phase::Stop`]).
async fn next_phase(rx: &mut watch::Receiver<Phase>) -> Phase {
    match rx.changed().await {
        Ok(()) => *rx.borrow_and_update(),
        Err(_) => Phase::Stop,
    }
}

/// The next tick of an optional interval (never, without one).
async fn tick(iv: &mut Option<Interval>) -> Instant {
    match iv {
        Some(iv) => iv.tick().await,
        None => std::future::pending().await,
    }
}

/// How late a timer may fire before the lateness counts as latency: tokio's timer wheel has
/// a 1 ms resolution, so a tick routinely fires up to 1 ms after its scheduled instant.
const TIMER_SLACK: Duration = Duration::from_micros(1500);

/// When a fixed-rate send scheduled at `scheduled` starts its latency clock: at the scheduled
/// instant plus at most [`TIMER_SLACK`] of timer lateness. A send delayed further (a stall of
/// the load generator, or a server that does not read) counts the extra delay as latency, so
/// there is no coordinated omission.
fn send_base(scheduled: Instant) -> Instant {
    Instant::now().min(scheduled + TIMER_SLACK)
}

/// A fixed-rate schedule for client `i` of `n`, `per_s` sends per second in all, spread
/// evenly over the clients. Late ticks are sent at once (`Burst`); see [`send_base`].
fn schedule(i: usize, n: usize, per_s: f64) -> Interval {
    let period = Duration::from_secs_f64(n as f64 / per_s);
    let offset = period.mul_f64((i % n.max(1)) as f64 / n.max(1) as f64);
    let mut iv = interval_at(Instant::now() + offset, period);
    iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
    iv
}

/// With `--tick-size`: a fourth argument for the tick, a JSON object of quotes (other numbers
/// in every tick, the same keys) of at least `size` bytes. At least, not about: a packet just
/// under a server's compression threshold (1024 by default) would go uncompressed.
fn tick_extra(size: usize, seq: u64) -> String {
    if size == 0 {
        return String::new();
    }
    let mut rng = Rng::new(seq + 1);
    let mut s = String::from(",{\"quotes\":[");
    let mut i = 0;
    while s.len() + 2 < size {
        let r = rng.next_u64();
        if i > 0 {
            s.push(',');
        }
        // Cents without a trailing zero: the text a JSON encoder writes back for the number
        // (Node parses and encodes the tick again; `100.50` would come out as `100.5`), so
        // that every server sends the same bytes.
        let mut cents = 1 + (r >> 8) % 99;
        if cents.is_multiple_of(10) {
            cents += 1;
        }
        s.push_str(&format!(
            "{{\"sym\":\"S{:03}\",\"bid\":{}.{:02},\"qty\":{}}}",
            i,
            100 + r % 50,
            cents,
            (r >> 16) % 5000
        ));
        i += 1;
    }
    s.push_str("]}");
    s
}

/// With `--hello-size`: the client sends one `message` of that size (compressed when the
/// server agreed `permessage-deflate`) and waits for its echo, so that the connection has
/// used compression both ways before it idles.
async fn hello(c: &mut WsClient, size: usize) -> io::Result<()> {
    let msg = Codec::Json.message(size);
    let frame = if c.inflate.is_some() {
        client_frame_deflated(&msg, c.mask)
    } else {
        client_frame(OP_TEXT, &msg, c.mask)
    };
    c.stream.write_all(&frame).await?;
    let mut out = Vec::new();
    loop {
        c.read_some().await?;
        let mut echoed = false;
        c.frames(&mut out, |p, _| echoed |= p == &msg[..])?;
        if !out.is_empty() {
            c.stream.write_all(&out).await?;
            out.clear();
        }
        if echoed {
            return Ok(());
        }
    }
}

async fn client_task(sh: Rc<Shared>, i: usize, role: Role) {
    let cfg = sh.cfg.clone();
    // The clients are split evenly over the servers; the publisher goes where it is told.
    let a = if role == Role::Publisher {
        cfg.publish_to
    } else {
        i % cfg.addrs.len()
    };
    let addr = cfg.addrs[a];
    let mut rng = Rng::new(i as u64 + 1);
    let connect_timeout = Duration::from_secs_f64(cfg.connect_timeout);
    let permit = sh.gate.acquire().await.ok();
    let result = match cfg.transport {
        Transport::WebSocket | Transport::Upgrade => {
            let mut c = connect_ws(&cfg, addr, i, &mut rng).await;
            if role == Role::Idle && cfg.hello_size > 0 {
                if let Ok(conn) = &mut c {
                    let said = timeout(connect_timeout, hello(conn, cfg.hello_size))
                        .await
                        .unwrap_or_else(|_| {
                            Err(io::Error::new(io::ErrorKind::TimedOut, "hello timed out"))
                        });
                    if let Err(e) = said {
                        c = Err(e);
                    }
                }
            }
            drop(permit);
            match c {
                Ok(c) => {
                    Shared::bump(&sh.connected);
                    if c.inflate.is_some() {
                        Shared::bump(&sh.deflated);
                    }
                    if role == Role::Subscriber {
                        Shared::bump(&sh.subscribers);
                    }
                    if role != Role::Publisher {
                        sh.connected_to(a);
                    }
                    Ok(ws_loop(&sh, c, i, a, role).await)
                }
                Err(e) => Err(e),
            }
        }
        Transport::Polling => {
            let c = timeout(connect_timeout, PollClient::connect(addr, i)).await;
            drop(permit);
            match c {
                Ok(Ok(c)) => {
                    Shared::bump(&sh.connected);
                    sh.connected_to(a);
                    Ok(poll_echo(&sh, c, i, a).await)
                }
                Ok(Err(e)) => Err(e),
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            }
        }
    };
    match result {
        Err(e) => {
            Shared::bump(&sh.failed);
            sh.error(&e);
        }
        Ok(Err(e)) => {
            if *sh.phase.borrow() < Phase::Stop {
                Shared::bump(&sh.lost);
                sh.error(&e);
            }
        }
        Ok(Ok(())) => {}
    }
}

/// Opens client `i`'s WebSocket connection (directly, or by the upgrade path with
/// `--transport upgrade`) within `--connect-timeout`.
async fn connect_ws(
    cfg: &Config,
    addr: SocketAddr,
    i: usize,
    rng: &mut Rng,
) -> io::Result<WsClient> {
    let limit = Duration::from_secs_f64(cfg.connect_timeout);
    let mask = rng.mask();
    let mut at = "WebSocket";
    let c = match cfg.transport {
        Transport::Upgrade => {
            timeout(
                limit,
                WsClient::connect_upgrade(addr, i, mask, rng, &mut at),
            )
            .await
        }
        _ => {
            let c = WsClient::connect(addr, i, mask, cfg.deflate, cfg.parser);
            timeout(limit, c).await
        }
    };
    c.unwrap_or_else(|_| {
        let msg = format!("connect timed out (at: {at})");
        Err(io::Error::new(io::ErrorKind::TimedOut, msg))
    })
}

/// A client of the storm. It connects in the ramp like every client, holds its connection
/// (answering pings), and each time the connection ends reconnects as socket.io-client's
/// Manager does with its defaults: it waits the backoff's delay (1 s, moved by up to half of
/// it at random), tries, and after each failed attempt waits the next, doubled, delay (at
/// most 5 s), without limit on attempts; an attempt is the whole handshake of the ramp and
/// fails after `--connect-timeout`. Its time without a connection (from reading the close to
/// being connected again) goes into the histogram.
async fn storm_task(sh: Rc<Shared>, i: usize) {
    let cfg = sh.cfg.clone();
    let a = i % cfg.addrs.len();
    let addr = cfg.addrs[a];
    let mut rng = Rng::new(i as u64 + 1);
    let permit = sh.gate.acquire().await.ok();
    let first = connect_ws(&cfg, addr, i, &mut rng).await;
    drop(permit);
    let mut c = match first {
        Ok(c) => c,
        Err(e) => {
            Shared::bump(&sh.failed);
            sh.error(&e);
            return;
        }
    };
    Shared::bump(&sh.connected);
    sh.connected_to(a);
    let mut was_down = false;
    loop {
        Shared::bump(&sh.up);
        if ws_loop(&sh, c, i, a, Role::Idle).await.is_ok() {
            return; // the run is over
        }
        sh.up.set(sh.up.get() - 1);
        if !was_down {
            was_down = true;
            Shared::bump(&sh.down_once);
        }
        let down_at = Instant::now();
        let mut attempt = 0;
        c = loop {
            sleep(cfg.backoff.delay(attempt, &mut rng)).await;
            attempt += 1;
            if *sh.phase.borrow() == Phase::Stop {
                return;
            }
            Shared::bump(&sh.attempts);
            match connect_ws(&cfg, addr, i, &mut rng).await {
                Ok(c) => break c,
                Err(e) => sh.attempt_failed(&e),
            }
        };
        Shared::bump(&sh.reconnects);
        let us = (down_at.elapsed().as_micros() as u64).clamp(1, MAX_LATENCY_US);
        sh.hist.borrow_mut().saturating_record(us);
    }
}

/// A connected WebSocket client's life, by role.
/// `a` is the index of the client's server address.
async fn ws_loop(sh: &Shared, mut c: WsClient, i: usize, a: usize, role: Role) -> io::Result<()> {
    let cfg = &sh.cfg;
    let mut rx = sh.phase.clone();
    let mut phase = *rx.borrow_and_update();
    let mut out = Vec::new();
    let codec = cfg.parser;
    let msg = codec.frame(&codec.message(cfg.payload_size), c.mask);
    // Echo: send instants of the messages awaiting their echo, and whether they count.
    let mut pending: VecDeque<(Instant, bool)> = VecDeque::new();
    let mut iv: Option<Interval> = None;
    let mut drained = false;
    let mut seq = 0u64;
    loop {
        if phase == Phase::Stop {
            return Ok(());
        }
        let sending = phase == Phase::Warmup || phase == Phase::Measure;
        if sending && iv.is_none() {
            if let (Role::Echo, Some(rate)) = (role, cfg.rate) {
                iv = Some(schedule(i, cfg.clients, rate));
            } else if role == Role::Publisher {
                iv = Some(schedule(0, 1, cfg.rate.unwrap_or(10.0)));
            }
        }
        if role == Role::Echo && cfg.rate.is_none() && sending && pending.is_empty() {
            // Closed loop: the next message goes as soon as the previous one came back.
            let measured = phase == Phase::Measure;
            pending.push_back((Instant::now(), measured));
            c.stream.write_all(&msg).await?;
            if measured {
                Shared::bump(&sh.sent);
            }
        }
        if phase == Phase::Drain && !drained {
            let done = match role {
                Role::Echo => !pending.iter().any(|p| p.1),
                Role::Publisher => {
                    // The end marker follows every measured tick through the server.
                    let t = codec.frame(&codec.tick(now_us(), seq, 2, ""), c.mask);
                    c.stream.write_all(&t).await?;
                    true
                }
                Role::Subscriber | Role::Idle => false,
            };
            if done {
                drained = true;
                Shared::bump(&sh.drained);
            }
        }
        tokio::select! {
            r = c.read_some() => {
                let n = r?;
                if phase == Phase::Measure {
                    sh.rx_bytes.set(sh.rx_bytes.get() + n as u64);
                }
                let mut echoes = 0usize;
                let mut end_marker = false;
                let now = if role == Role::Subscriber { now_us() } else { 0 };
                c.frames(&mut out, |p, wire| match (role, codec.seen(p)) {
                    (Role::Echo, Seen::Message) => echoes += 1,
                    (Role::Subscriber, Seen::Tick(t, _n, 1)) => {
                        sh.record(a, now.saturating_sub(t));
                        sh.tick_bytes.set(sh.tick_bytes.get() + wire as u64);
                    }
                    (Role::Subscriber, Seen::Tick(_, _, 2)) => end_marker = true,
                    _ => {}
                })?;
                if !out.is_empty() {
                    c.stream.write_all(&out).await?;
                    out.clear();
                }
                if echoes > 0 {
                    let now = Instant::now();
                    for _ in 0..echoes {
                        if let Some((t, measured)) = pending.pop_front() {
                            if measured {
                                sh.record(a, (now - t).as_micros() as u64);
                            }
                        }
                    }
                }
                if end_marker && !drained {
                    drained = true;
                    Shared::bump(&sh.drained);
                }
            }
            t = tick(&mut iv), if sending => {
                let measured = phase == Phase::Measure;
                if role == Role::Publisher {
                    let extra = tick_extra(cfg.tick_size, seq);
                    let p = codec.tick(now_us(), seq, u64::from(measured), &extra);
                    seq += 1;
                    c.stream.write_all(&codec.frame(&p, c.mask)).await?;
                    if measured {
                        Shared::bump(&sh.ticks);
                    }
                } else {
                    pending.push_back((send_base(t), measured));
                    c.stream.write_all(&msg).await?;
                    if measured {
                        Shared::bump(&sh.sent);
                    }
                }
            }
            p = next_phase(&mut rx) => phase = p,
        }
    }
}

/// An echo client over long-polling (closed loop, or fixed rate with `--rate`).
async fn poll_echo(sh: &Shared, mut c: PollClient, i: usize, a: usize) -> io::Result<()> {
    let cfg = &sh.cfg;
    let mut rx = sh.phase.clone();
    let mut phase = *rx.borrow_and_update();
    let msg = Codec::Json.message(cfg.payload_size);
    let mut pending: VecDeque<(Instant, bool)> = VecDeque::new();
    let mut iv: Option<Interval> = None;
    let mut drained = false;
    loop {
        if phase == Phase::Stop {
            return Ok(());
        }
        let sending = phase == Phase::Warmup || phase == Phase::Measure;
        if let (true, None, Some(rate)) = (sending, &iv, cfg.rate) {
            iv = Some(schedule(i, cfg.clients, rate));
        }
        if cfg.rate.is_none() && sending && pending.is_empty() {
            let measured = phase == Phase::Measure;
            pending.push_back((Instant::now(), measured));
            c.push(&msg);
            if measured {
                Shared::bump(&sh.sent);
            }
        }
        if phase == Phase::Drain && !drained && !pending.iter().any(|p| p.1) {
            drained = true;
            Shared::bump(&sh.drained);
        }
        c.flush_post().await?;
        tokio::select! {
            r = c.get.read_some() => {
                r?;
                while let Some(resp) = c.get.try_response()? {
                    let mut echoes = 0usize;
                    c.packets(&resp.body, |p| {
                        if p.starts_with(b"42[\"message\"") {
                            echoes += 1;
                        }
                    })?;
                    c.send_get().await?;
                    let now = Instant::now();
                    for _ in 0..echoes {
                        if let Some((t, measured)) = pending.pop_front() {
                            if measured {
                                sh.record(a, (now - t).as_micros() as u64);
                            }
                        }
                    }
                }
            }
            r = c.post.read_some(), if c.post_inflight => {
                r?;
                if c.post.try_response()?.is_some() {
                    c.post_inflight = false;
                }
            }
            t = tick(&mut iv), if sending => {
                let measured = phase == Phase::Measure;
                pending.push_back((send_base(t), measured));
                c.push(&msg);
                if measured {
                    Shared::bump(&sh.sent);
                }
            }
            p = next_phase(&mut rx) => phase = p,
        }
    }
}
