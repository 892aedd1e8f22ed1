//! `sockeye-loadgen`: a lean Socket.IO v5 / Engine.IO v4 load generator for the Sockeye
//! benchmark. One single-threaded runtime per process, hand-written WebSocket framing with
//! pre-encoded (masked) frames, an HTTP/1.1 long-polling client, and one JSON line of results.
//!
//! Scenarios: `connect` (ramp and hold idle connections: connects/s, server CPU and RSS per
//! connection; over WebSocket directly, or `--transport upgrade` the way socket.io-client and
//! browsers connect by default: long-polling handshake, then the WebSocket upgrade), `echo`
//! (`message` echoed to the sender: closed loop, or `--rate` msgs/s in all; throughput and
//! latency percentiles), `broadcast` (one publisher emits `tick` at `--rate`, the server
//! broadcasts it to all: deliveries/s, delivery ratio, fan-out latency), `storm` (clients
//! connected, the server restarted, every client reconnecting with socket.io-client's
//! backoff: time until all are back, failed attempts, server CPU per reconnection).
//! The clients may be split over several servers (`--addr A,B`, the nodes of a cluster), and
//! the server CPU summed over several processes (`--server-pid P1,P2,...`, Redis included).
//! Run with `--help` for the options.

mod client;
mod procfs;
mod proto;
mod restart;
mod worker;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

const USAGE: &str = "\
usage: sockeye-loadgen <connect|echo|broadcast|storm> [options]

  --addr HOST:PORT[,..] server address (default 127.0.0.1:3000); --port N = 127.0.0.1:N.
                        Several (comma-separated, e.g. the nodes of a cluster): client i
                        connects to address i % count, so the clients are split evenly
  --publish-to K        broadcast: the publisher connects to the K-th address (0)
  --clients N           connections; for broadcast, subscribers (one publisher is added)
                        (defaults: connect 1000, echo 100, broadcast 1000, storm 1000)
  --duration S          measured seconds; for connect, how long the clients are held (10);
                        for storm, the longest wait for every client to be back (60)
  --warmup S            seconds of unmeasured traffic before measuring (1); for storm,
                        how long the connected clients are held before the restart
  --drain S             at most this long to wait for replies after the window (5)
  --rate R              echo: R messages/s in all, fixed rate (default: closed loop);
                        broadcast: R ticks/s (default 10)
  --transport T         websocket (default); polling (echo only); upgrade (connect and
                        storm): socket.io-client's default path, a long-polling handshake
                        and CONNECT, then the WebSocket upgrade (2probe, 3probe, 5)
  --payload-size B      length of the echoed string (32)
  --tick-size B         broadcast: add at least B bytes of JSON to each tick (0: none)
  --deflate             WebSocket clients offer permessage-deflate (as browsers do) and
                        inflate what the server compresses
  --parser P            json (default) or msgpack: the packets of Node's
                        socket.io-msgpack-parser, one binary message each (WebSocket only;
                        the server must use that parser too)
  --hello-size B        connect: each client first sends one `message` of B bytes
                        (compressed with --deflate) and waits for its echo
  --server-pid PID[,..] read the server's CPU time and RSS from /proc/PID; several
                        (comma-separated or repeated: the nodes of a cluster and Redis):
                        the server figures are their sums, each one's CPU is listed too
  --concurrency N       handshakes in flight during the ramp (256)
  --connect-timeout S   per-connection handshake timeout (10)
  --timeout S           hard limit for the whole run (default: derived from the sizes)
  --shards N            split the clients over N processes (1)
  --restart-cmd CMD     storm: the command that starts the server again (sh -c \"exec CMD\";
                        it inherits this process's CPU affinity unless it sets its own);
                        the server (the one --server-pid) is stopped with SIGTERM first
  --restart-log FILE    storm: where the restarted server's output goes (appended)
  --restart-pidfile F   storm: written with the restarted server's pid once it is known
  --backoff MIN,MAX,J   storm: the reconnection delays, as socket.io-client's
                        reconnectionDelay, reconnectionDelayMax (ms) and
                        randomizationFactor (default its defaults: 1000,5000,0.5);
                        0,0,0 reconnects at once
  --label TEXT          copied into the output (e.g. the server's name)
  --tag KEY=VALUE       adds the field KEY (a string) to the output (repeatable)

Prints exactly one JSON line on stdout; progress and errors go to stderr.";

/// The scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Ramp up idle connections and hold them.
    Connect,
    /// `message` echoed to its sender.
    Echo,
    /// `tick` broadcast to every client.
    Broadcast,
    /// Clients connected, the server restarted, every client reconnecting.
    Storm,
}

/// The Engine.IO transport the clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket from the first request.
    WebSocket,
    /// HTTP long-polling only.
    Polling,
    /// socket.io-client's default: long-polling handshake, then the WebSocket upgrade.
    Upgrade,
}

/// socket.io-client's reconnection delays (its `Backoff`): attempt `n` (from 0) waits
/// `min · 2^n` ms, moved up or down at random by up to `jitter` of itself, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// `reconnectionDelay` (ms).
    pub min_ms: f64,
    /// `reconnectionDelayMax` (ms).
    pub max_ms: f64,
    /// `randomizationFactor`.
    pub jitter: f64,
}

impl Backoff {
    /// socket.io-client's defaults.
    pub const CLIENT_DEFAULT: Backoff = Backoff {
        min_ms: 1000.0,
        max_ms: 5000.0,
        jitter: 0.5,
    };

    /// The delay before attempt `attempt` (0 for the first), drawn as backo2 draws it: one
    /// random number gives both the size of the deviation and, by the parity of its first
    /// decimal, its sign.
    pub fn delay(&self, attempt: u32, rng: &mut proto::Rng) -> Duration {
        let mut ms = self.min_ms * 2f64.powi(attempt.min(30) as i32);
        if self.jitter > 0.0 {
            let r = rng.unit();
            let deviation = (r * self.jitter * ms).floor();
            ms = if ((r * 10.0).floor() as u64) & 1 == 0 {
                ms - deviation
            } else {
                ms + deviation
            };
        }
        Duration::from_millis(ms.min(self.max_ms).max(0.0) as u64)
    }
}

/// The run's settings, from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to run.
    pub scenario: Scenario,
    /// Which transport.
    pub transport: Transport,
    /// The servers: client `i` connects to `addrs[i % addrs.len()]` (never empty).
    pub addrs: Vec<SocketAddr>,
    /// Broadcast: the index in `addrs` of the publisher's server.
    pub publish_to: usize,
    /// Clients (subscribers for broadcast).
    pub clients: usize,
    /// Measured seconds (hold time for connect).
    pub duration: f64,
    /// Unmeasured seconds before measuring.
    pub warmup: f64,
    /// Longest wait for outstanding replies after the window.
    pub drain: f64,
    /// Echo: total msgs/s (None = closed loop); broadcast: ticks/s.
    pub rate: Option<f64>,
    /// Echoed string length.
    pub payload_size: usize,
    /// Broadcast: the tick's size in bytes (0: not padded).
    pub tick_size: usize,
    /// Offer `permessage-deflate`.
    pub deflate: bool,
    /// The packet encoding (`--parser`).
    pub parser: crate::proto::Codec,
    /// Connect: one message of this size each first (0: none).
    pub hello_size: usize,
    /// The server processes to observe (their CPU and RSS are summed).
    pub server_pids: Vec<u32>,
    /// Handshakes in flight.
    pub concurrency: usize,
    /// Per-connection handshake timeout.
    pub connect_timeout: f64,
    /// Hard limit for the whole run.
    pub timeout: f64,
    /// Processes to spread the clients over.
    pub shards: usize,
    /// This process's shard, in a child process.
    pub shard: Option<(usize, usize)>,
    /// Free text for the output.
    pub label: Option<String>,
    /// Storm: how the server is started again.
    pub restart_cmd: Option<String>,
    /// Storm: the restarted server's log.
    pub restart_log: Option<std::path::PathBuf>,
    /// Storm: where the restarted server's pid is written.
    pub restart_pidfile: Option<std::path::PathBuf>,
    /// Storm: the reconnection delays.
    pub backoff: Backoff,
    /// Extra `KEY=VALUE` fields for the output.
    pub tags: Vec<(String, String)>,
}

fn parse_args(args: &[String]) -> Result<Config, String> {
    let scenario = match args.first().map(String::as_str) {
        Some("connect") => Scenario::Connect,
        Some("echo") => Scenario::Echo,
        Some("broadcast") => Scenario::Broadcast,
        Some("storm") => Scenario::Storm,
        Some(other) => return Err(format!("unknown scenario {other:?}")),
        None => return Err("no scenario given".into()),
    };
    let mut cfg = Config {
        scenario,
        transport: Transport::WebSocket,
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 3000))],
        publish_to: 0,
        clients: match scenario {
            Scenario::Connect | Scenario::Broadcast | Scenario::Storm => 1000,
            Scenario::Echo => 100,
        },
        duration: if scenario == Scenario::Storm {
            60.0
        } else {
            10.0
        },
        warmup: 1.0,
        drain: 5.0,
        rate: (scenario == Scenario::Broadcast).then_some(10.0),
        payload_size: 32,
        tick_size: 0,
        deflate: false,
        parser: crate::proto::Codec::Json,
        hello_size: 0,
        server_pids: Vec::new(),
        concurrency: 256,
        connect_timeout: 10.0,
        timeout: 0.0,
        shards: 1,
        shard: None,
        label: None,
        tags: Vec::new(),
        restart_cmd: None,
        restart_log: None,
        restart_pidfile: None,
        backoff: Backoff::CLIENT_DEFAULT,
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("bad value for {flag}: {v:?}"))
        }
        match flag.as_str() {
            "--addr" => cfg.addrs = list(flag, val()?, |v| num(flag, v))?,
            "--port" => {
                cfg.addrs = list(flag, val()?, |v| {
                    Ok(SocketAddr::from(([127, 0, 0, 1], num::<u16>(flag, v)?)))
                })?
            }
            "--publish-to" => cfg.publish_to = num(flag, val()?)?,
            "--clients" | "--subscribers" => cfg.clients = num(flag, val()?)?,
            "--duration" => cfg.duration = num(flag, val()?)?,
            "--warmup" => cfg.warmup = num(flag, val()?)?,
            "--drain" => cfg.drain = num(flag, val()?)?,
            "--rate" => {
                let r: f64 = num(flag, val()?)?;
                cfg.rate = (r > 0.0).then_some(r);
            }
            "--transport" => {
                cfg.transport = match val()?.as_str() {
                    "websocket" | "ws" => Transport::WebSocket,
                    "polling" => Transport::Polling,
                    "upgrade" | "polling-upgrade" => Transport::Upgrade,
                    t => return Err(format!("unknown transport {t:?}")),
                }
            }
            "--payload-size" => cfg.payload_size = num(flag, val()?)?,
            "--tick-size" => cfg.tick_size = num(flag, val()?)?,
            "--deflate" => cfg.deflate = true,
            "--parser" => {
                cfg.parser = match val()?.as_str() {
                    "json" => crate::proto::Codec::Json,
                    "msgpack" => crate::proto::Codec::Msgpack,
                    p => return Err(format!("unknown parser {p:?} (json or msgpack)")),
                }
            }
            "--hello-size" => cfg.hello_size = num(flag, val()?)?,
            "--server-pid" => cfg
                .server_pids
                .extend(list(flag, val()?, |v| num::<u32>(flag, v))?),
            "--concurrency" => cfg.concurrency = num(flag, val()?)?,
            "--connect-timeout" => cfg.connect_timeout = num(flag, val()?)?,
            "--timeout" => cfg.timeout = num(flag, val()?)?,
            "--shards" => cfg.shards = num::<usize>(flag, val()?)?.max(1),
            "--shard" => {
                let v = val()?;
                let (i, n) = v.split_once('/').ok_or("--shard takes I/N")?;
                cfg.shard = Some((num(flag, i)?, num(flag, n)?));
            }
            "--label" => cfg.label = Some(val()?.clone()),
            "--restart-cmd" => cfg.restart_cmd = Some(val()?.clone()),
            "--restart-log" => cfg.restart_log = Some(val()?.into()),
            "--restart-pidfile" => cfg.restart_pidfile = Some(val()?.into()),
            "--backoff" => {
                let v: Vec<f64> = list(flag, val()?, |v| num(flag, v))?;
                let [min_ms, max_ms, jitter] = v[..] else {
                    return Err("--backoff takes MIN_MS,MAX_MS,JITTER".into());
                };
                if !(min_ms >= 0.0 && max_ms >= 0.0 && (0.0..=1.0).contains(&jitter)) {
                    return Err(format!("bad --backoff: {min_ms},{max_ms},{jitter}"));
                }
                cfg.backoff = Backoff {
                    min_ms,
                    max_ms,
                    jitter,
                };
            }
            "--tag" => {
                let v = val()?;
                let (k, v) = v.split_once('=').ok_or("--tag takes KEY=VALUE")?;
                cfg.tags.push((k.to_string(), v.to_string()));
            }
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    if cfg.publish_to >= cfg.addrs.len() {
        return Err(format!(
            "--publish-to {} names no address (there are {})",
            cfg.publish_to,
            cfg.addrs.len()
        ));
    }
    if cfg.transport == Transport::Polling && scenario != Scenario::Echo {
        return Err("--transport polling is supported by the echo scenario only".into());
    }
    if cfg.transport == Transport::Upgrade
        && !matches!(scenario, Scenario::Connect | Scenario::Storm)
    {
        return Err("--transport upgrade is supported by connect and storm only".into());
    }
    if scenario == Scenario::Storm {
        if cfg.restart_cmd.is_none() {
            return Err("storm needs --restart-cmd (how to start the server again)".into());
        }
        if cfg.server_pids.len() != 1 || cfg.addrs.len() != 1 {
            return Err("storm needs exactly one server: one --server-pid, one address".into());
        }
    } else if cfg.restart_cmd.is_some() {
        return Err("--restart-cmd is for the storm scenario only".into());
    }
    if cfg.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    if cfg.parser == crate::proto::Codec::Msgpack {
        if cfg.transport != Transport::WebSocket {
            return Err("--parser msgpack is supported over --transport websocket only".into());
        }
        if cfg.tick_size > 0 || cfg.hello_size > 0 {
            return Err("--parser msgpack takes neither --tick-size nor --hello-size".into());
        }
    }
    if scenario == Scenario::Broadcast && cfg.rate.is_none() {
        return Err("broadcast needs --rate > 0".into());
    }
    if cfg.timeout <= 0.0 {
        // Room for a slow ramp (100 connections/s), the phases, and the drain.
        cfg.timeout = 30.0
            + cfg.connect_timeout
            + cfg.clients as f64 / 100.0
            + cfg.warmup
            + cfg.duration
            + cfg.drain;
    }
    Ok(cfg)
}

/// The open files one process of `procs` needs: the connections its clients hold, those they
/// hold only while connecting (the upgrade path's two polling connections: during a ramp for
/// at most `--concurrency` clients at once, in a storm for every client), and some spare.
fn open_files_needed(cfg: &Config, procs: usize) -> usize {
    let share = cfg.clients.div_ceil(procs.max(1)) + 1;
    let (held, while_connecting) = match cfg.transport {
        Transport::WebSocket => (1, 0),
        Transport::Polling => (2, 0),
        Transport::Upgrade => (1, 2),
    };
    let connecting = if cfg.scenario == Scenario::Storm {
        share
    } else {
        share.min(cfg.concurrency)
    };
    share * held + connecting * while_connecting + 64
}

/// The comma-separated values of `flag`, each parsed by `one`; at least one.
fn list<T>(flag: &str, v: &str, one: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let items = v
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(one)
        .collect::<Result<Vec<T>, String>>()?;
    if items.is_empty() {
        return Err(format!("{flag} needs at least one value"));
    }
    Ok(items)
}

/// The points where every shard waits for the others and the coordinator reads the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Before the first connection.
    Start,
    /// Every client connected (or failed).
    Connected,
    /// The measured window opens.
    Measure,
    /// The window closed and the replies are in (or the drain timed out).
    End,
}

impl Point {
    const ALL: [Point; 4] = [Point::Start, Point::Connected, Point::Measure, Point::End];

    fn name(self) -> &'static str {
        match self {
            Point::Start => "start",
            Point::Connected => "connected",
            Point::Measure => "measure",
            Point::End => "end",
        }
    }
}

/// What the coordinator saw at one [`Point`].
#[derive(Debug, Clone)]
struct Snap {
    at: Instant,
    /// The CPU times of each server process, in the order of `--server-pid`.
    cpu: Vec<Option<procfs::CpuTimes>>,
    /// The RSS of each server process.
    rss: Vec<Option<u64>>,
    /// The kernel's count of connections dropped at listening sockets.
    listen_drops: Option<u64>,
}

impl Snap {
    /// The servers' CPU times summed; `None` without a server process or when one of them
    /// could not be read (a sum without it would understate the cost).
    fn cpu_sum(&self) -> Option<procfs::CpuTimes> {
        sum_all(&self.cpu)
    }

    /// The servers' RSS summed (`None` as for [`Snap::cpu_sum`]).
    fn rss_sum(&self) -> Option<u64> {
        sum_all(&self.rss)
    }
}

/// The sum of every value, or `None` when there are none or one is missing.
fn sum_all<T: Copy + std::ops::Add<Output = T>>(values: &[Option<T>]) -> Option<T> {
    let (first, rest) = values.split_first()?;
    rest.iter().try_fold((*first)?, |acc, v| Some(acc + (*v)?))
}

/// Records the time and the servers' CPU and RSS at each [`Point`]; in a storm, restarts
/// the server at [`Point::Measure`].
pub struct Coord {
    pids: Vec<u32>,
    snaps: [Option<Snap>; 4],
    /// Storm: the restart still to do.
    restart: Option<restart::Spec>,
    /// Storm: what the restart did.
    restarted: Option<restart::Done>,
}

impl Coord {
    fn new(cfg: &Config) -> Coord {
        let restart = cfg
            .restart_cmd
            .as_ref()
            .zip(cfg.server_pids.first())
            .map(|(cmd, &pid)| restart::Spec {
                pid,
                cmd: cmd.clone(),
                log: cfg.restart_log.clone(),
                pidfile: cfg.restart_pidfile.clone(),
                addr: cfg.addrs[0],
            });
        Coord {
            pids: cfg.server_pids.clone(),
            snaps: Default::default(),
            restart,
            restarted: None,
        }
    }

    /// Storm: the restart to do now, when `p` is where it is due and it was not done yet.
    fn restart_due(&mut self, p: Point) -> Option<restart::Spec> {
        if p == Point::Measure && self.snaps[p as usize].is_none() {
            self.restart.take()
        } else {
            None
        }
    }

    /// Records a restart: from now on the new process is the one observed (its CPU from the
    /// moment it listens).
    fn restarted(&mut self, done: restart::Done) {
        if let Some(pid) = done.new_pid {
            self.pids = vec![pid];
        }
        let secs = |t: Option<Instant>| t.map(|t| t.duration_since(done.kill_at).as_secs_f64());
        eprintln!(
            "loadgen: server restarted: gone after {:?} s, listening after {:?} s, pid {:?}",
            secs(done.exited_at),
            secs(done.listening_at),
            done.new_pid
        );
        self.restarted = Some(done);
    }

    fn snap(&mut self, p: Point) {
        let i = p as usize;
        if self.snaps[i].is_none() {
            self.snaps[i] = Some(Snap {
                at: Instant::now(),
                cpu: self.pids.iter().map(|&p| procfs::cpu_times(p)).collect(),
                rss: self.pids.iter().map(|&p| procfs::rss_kib(p)).collect(),
                listen_drops: procfs::listen_drops(),
            });
            eprintln!("loadgen: {}", p.name());
        }
    }
}

/// How a worker waits at a [`Point`]: in one process the coordinator is local; in a shard
/// the parent process is told on stdout and answers `go` on stdin.
pub enum Barrier {
    /// Single process (boxed: the snapshots make it large).
    Local(Box<Coord>),
    /// Child process of a sharded run.
    Child(tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>),
}

impl Barrier {
    /// Stops at `p` until every shard got there.
    pub async fn at(&mut self, p: Point) {
        match self {
            Barrier::Local(c) => {
                if let Some(spec) = c.restart_due(p) {
                    // Off this thread: the clients must see the server go at once, as real
                    // ones would, not once the restart is over.
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    std::thread::spawn(move || {
                        let _ = tx.send(restart::run(&spec));
                    });
                    if let Ok(done) = rx.await {
                        c.restarted(done);
                    }
                }
                c.snap(p)
            }
            Barrier::Child(lines) => {
                println!("@barrier {}", p.name());
                let _ = lines.next_line().await;
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs the worker with a hard timeout; returns its partial results.
fn run_worker(cfg: &Rc<Config>, shard: usize, shards: usize, barrier: &mut Barrier) -> Value {
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    let worker = worker::Worker::new(cfg.clone(), shard, shards);
    let limit = Duration::from_secs_f64(cfg.timeout);
    let timed_out = local.block_on(&rt, async {
        tokio::time::timeout(limit, worker.run(barrier))
            .await
            .is_err()
    });
    if timed_out {
        eprintln!("loadgen: hard timeout ({} s) reached", cfg.timeout);
    }
    worker.shared.partial(timed_out)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let cfg = match parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sockeye-loadgen: {e}\n\n{USAGE}");
            println!("{}", json!({ "error": e }));
            std::process::exit(2);
        }
    };
    // Raise the open-files soft limit to the hard limit.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let procs = cfg.shard.map_or(cfg.shards, |s| s.1).max(1);
    let needed = open_files_needed(&cfg, procs);
    if needed as u64 > limit {
        let enough = (1..=256)
            .find(|&n| (open_files_needed(&cfg, n) as u64) < limit)
            .unwrap_or(256);
        let e = format!(
            "{} clients need about {needed} open files per process, over this process's limit of {limit}: \
             split them across processes with --shards {enough} (or run several loadgens)",
            cfg.clients,
        );
        eprintln!("sockeye-loadgen: {e}");
        let mut o =
            json!({ "ok": false, "error": e, "scenario": scenario_name(&cfg), "label": cfg.label });
        for (k, v) in &cfg.tags {
            o[k] = json!(v);
        }
        println!("{o}");
        std::process::exit(1);
    }
    let cfg = Rc::new(cfg);
    if let Some((i, n)) = cfg.shard {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let mut barrier = Barrier::Child(tokio::io::AsyncBufReadExt::lines(stdin));
        let part = run_worker(&cfg, i, n, &mut barrier);
        println!("@result {part}");
    } else if cfg.shards > 1 {
        let (coord, parts, errors) = run_shards(&cfg, &args);
        println!("{}", report(&cfg, &coord, &parts, errors));
    } else {
        let mut barrier = Barrier::Local(Box::new(Coord::new(&cfg)));
        let part = run_worker(&cfg, 0, 1, &mut barrier);
        let Barrier::Local(mut coord) = barrier else {
            unreachable!()
        };
        coord.snap(Point::End);
        println!("{}", report(&cfg, &coord, &[part], Vec::new()));
    }
    let _ = std::io::stdout().flush();
    // Leave at once: no need to wind down thousands of connections one by one.
    std::process::exit(0);
}

/// Runs `cfg.shards` child processes of this program, releasing them together at each
/// [`Point`]; returns the coordinator's snapshots, their partial results and any errors.
fn run_shards(cfg: &Config, args: &[String]) -> (Coord, Vec<Value>, Vec<String>) {
    let n = cfg.shards;
    let exe = std::env::current_exe().expect("own executable path");
    let (tx, rx) = mpsc::channel::<(usize, Option<String>)>();
    let mut children = Vec::new();
    let mut stdins = Vec::new();
    let mut errors = Vec::new();
    for i in 0..n {
        let mut child = Command::new(&exe)
            .args(args)
            .arg("--shard")
            .arg(format!("{i}/{n}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a shard");
        stdins.push(child.stdin.take());
        let out = child.stdout.take().expect("piped stdout");
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((i, Some(line)));
            }
            let _ = tx.send((i, None));
        });
        children.push(child);
    }
    drop(tx);
    let mut coord = Coord::new(cfg);
    let mut at: Vec<usize> = vec![0; n]; // barriers reported per child
    let mut done = vec![false; n];
    let mut parts = Vec::new();
    let mut released = 0usize; // barriers released so far
    let deadline = Instant::now() + Duration::from_secs_f64(cfg.timeout + 10.0);
    while done.iter().any(|d| !d) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((i, line)) = rx.recv_timeout(left) else {
            errors.push("shards did not finish before the hard timeout: killed".to_string());
            for c in &mut children {
                let _ = c.kill();
            }
            break;
        };
        match line.as_deref() {
            Some(l) if l.starts_with("@barrier ") => at[i] += 1,
            Some(l) if l.starts_with("@result ") => {
                parts.push(serde_json::from_str(&l[8..]).unwrap_or(Value::Null));
                done[i] = true;
            }
            Some(l) => eprintln!("shard {i}: {l}"),
            None => {
                if !done[i] {
                    errors.push(format!("shard {i} exited without a result"));
                    done[i] = true;
                }
            }
        }
        // Release the next barrier once every live shard reached it.
        while released < Point::ALL.len()
            && (0..n).all(|j| done[j] || at[j] > released)
            && (0..n).any(|j| !done[j])
        {
            if let Some(spec) = coord.restart_due(Point::ALL[released]) {
                // The shards' clients see the server go while this process waits.
                coord.restarted(restart::run(&spec));
            }
            coord.snap(Point::ALL[released]);
            released += 1;
            for s in stdins.iter_mut().flatten() {
                let _ = s.write_all(b"go\n");
                let _ = s.flush();
            }
        }
    }
    coord.snap(Point::End);
    for mut c in children {
        let _ = c.wait();
    }
    (coord, parts, errors)
}

fn scenario_name(cfg: &Config) -> &'static str {
    match cfg.scenario {
        Scenario::Connect => "connect",
        Scenario::Echo => "echo",
        Scenario::Broadcast => "broadcast",
        Scenario::Storm => "storm",
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// Adds the `[value, count]` buckets of a partial result to `hist`.
fn merge_buckets(hist: &mut hdrhistogram::Histogram<u64>, buckets: &Value) {
    for b in buckets.as_array().into_iter().flatten() {
        let (v, c) = (b[0].as_u64().unwrap_or(1), b[1].as_u64().unwrap_or(0));
        let _ = hist.record_n(v.max(1), c);
    }
}

/// The summary of a latency histogram (µs), or null when it is empty.
fn latency_json(hist: &hdrhistogram::Histogram<u64>) -> Value {
    if hist.is_empty() {
        return Value::Null;
    }
    json!({
        "count": hist.len(),
        "mean": round(hist.mean(), 1),
        "p50": hist.value_at_quantile(0.5),
        "p90": hist.value_at_quantile(0.9),
        "p99": hist.value_at_quantile(0.99),
        "p999": hist.value_at_quantile(0.999),
        "max": hist.max(),
    })
}

/// Merges the partial results and the coordinator's snapshots into the output object.
fn report(cfg: &Config, coord: &Coord, parts: &[Value], mut errs: Vec<String>) -> Value {
    let sum = |k: &str| {
        parts
            .iter()
            .map(|p| p[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let mut hist = worker::new_histogram();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut loadgen_cpu = 0.0;
    let mut timed_out = false;
    // With several addresses: (clients, received, histogram) of each one's clients.
    let mut by_addr: Vec<(u64, u64, hdrhistogram::Histogram<u64>)> = Vec::new();
    if cfg.addrs.len() > 1 {
        by_addr = (0..cfg.addrs.len())
            .map(|_| (0, 0, worker::new_histogram()))
            .collect();
    }
    for p in parts {
        merge_buckets(&mut hist, &p["hist"]);
        for (mine, theirs) in by_addr
            .iter_mut()
            .zip(p["by_addr"].as_array().into_iter().flatten())
        {
            mine.0 += theirs["clients"].as_u64().unwrap_or(0);
            mine.1 += theirs["received"].as_u64().unwrap_or(0);
            merge_buckets(&mut mine.2, &theirs["hist"]);
        }
        for (k, v) in p["errors"].as_object().into_iter().flatten() {
            *errors.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
        }
        loadgen_cpu += p["loadgen_cpu_s"].as_f64().unwrap_or(0.0);
        timed_out |= p["timed_out"].as_bool().unwrap_or(true);
    }
    if timed_out {
        errs.push("hard timeout reached".into());
    }
    if let Some(done) = &coord.restarted {
        errs.extend(done.problems.iter().cloned());
    } else if cfg.scenario == Scenario::Storm {
        errs.push("the server was not restarted".into());
    }
    let snap = |p: Point| coord.snaps[p as usize].as_ref();
    let secs = |a: Point, b: Point| match (snap(a), snap(b)) {
        (Some(a), Some(b)) => Some(b.at.duration_since(a.at).as_secs_f64()),
        _ => None,
    };
    let times = |a: Point, b: Point| match (
        snap(a).and_then(Snap::cpu_sum),
        snap(b).and_then(Snap::cpu_sum),
    ) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    // Each server process's CPU seconds between two points, in the order of --server-pid.
    let each = |a: Point, b: Point| -> Vec<Option<f64>> {
        (0..cfg.server_pids.len())
            .map(|i| {
                let at = |p: Point| snap(p).and_then(|s| s.cpu.get(i).copied().flatten());
                Some(round((at(b)? - at(a)?).total(), 2))
            })
            .collect()
    };
    let cpu = |a: Point, b: Point| times(a, b).map(procfs::CpuTimes::total);
    // Connections the kernel dropped at a full accept queue: during the ramp, or from the
    // end of the ramp to the end of a storm (the restart included).
    let drops_from = if cfg.scenario == Scenario::Storm {
        Point::Connected
    } else {
        Point::Start
    };
    let drops_to = if cfg.scenario == Scenario::Storm {
        Point::End
    } else {
        Point::Connected
    };
    let listen_drops = snap(drops_from)
        .and_then(|a| a.listen_drops)
        .zip(snap(drops_to).and_then(|b| b.listen_drops))
        .map(|(a, b)| b.saturating_sub(a));
    let rss = |p: Point| snap(p).and_then(Snap::rss_sum);
    for p in Point::ALL {
        if cfg.server_pids.len() > 1 && snap(p).is_some_and(|s| s.cpu.iter().any(Option::is_none)) {
            errs.push(format!(
                "a server process could not be read at {}: no server CPU reported",
                p.name()
            ));
        }
    }
    let (connected, failed, lost) = (sum("connected"), sum("failed"), sum("lost"));
    let mut all_back = false;
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    put("scenario", json!(scenario_name(cfg)));
    put("label", json!(cfg.label));
    put(
        "transport",
        json!(match cfg.transport {
            Transport::WebSocket => "websocket",
            Transport::Polling => "polling",
            Transport::Upgrade => "upgrade",
        }),
    );
    put("addr", json!(cfg.addrs[0].to_string()));
    if cfg.addrs.len() > 1 {
        put(
            "addrs",
            json!(cfg.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>()),
        );
    }
    put("clients", json!(cfg.clients));
    put("shards", json!(cfg.shards));
    put("duration_s", json!(cfg.duration));
    put("connected", json!(connected));
    put("deflate", json!(cfg.deflate));
    put(
        "parser",
        json!(match cfg.parser {
            crate::proto::Codec::Json => "json",
            crate::proto::Codec::Msgpack => "msgpack",
        }),
    );
    put("deflate_agreed", json!(sum("deflated")));
    put("connect_failures", json!(failed));
    put("lost", json!(lost));
    let connect_s = secs(Point::Start, Point::Connected);
    put("connect_s", json!(connect_s.map(|s| round(s, 3))));
    put("listen_drops", json!(listen_drops));
    put(
        "connects_per_s",
        json!(connect_s.map(|s| round(connected as f64 / s.max(1e-9), 1))),
    );
    put("server_pid", json!(cfg.server_pids.first()));
    if cfg.server_pids.len() > 1 {
        put("server_pids", json!(cfg.server_pids));
    }
    put("server_rss_kib_start", json!(rss(Point::Start)));
    put("server_rss_kib_connected", json!(rss(Point::Connected)));
    put("server_rss_kib_end", json!(rss(Point::End)));
    let window = secs(Point::Measure, Point::End);
    let server_cpu = cpu(Point::Measure, Point::End);
    put("measured_wall_s", json!(window.map(|s| round(s, 3))));
    put("server_cpu_s", json!(server_cpu.map(|c| round(c, 2))));
    if cfg.server_pids.len() > 1 {
        // Where the summed CPU went (the nodes of a cluster, Redis), in --server-pid order.
        put("server_cpu_s_each", json!(each(Point::Measure, Point::End)));
    }
    // The split: the kernel's share (TCP) is much the same for every server; the user share
    // is the server's own code.
    let split = times(Point::Measure, Point::End);
    put("server_user_s", json!(split.map(|t| round(t.user, 2))));
    put("server_sys_s", json!(split.map(|t| round(t.system, 2))));
    put(
        "server_cpu_pct",
        json!(server_cpu
            .zip(window)
            .map(|(c, w)| round(100.0 * c / w.max(1e-9), 1))),
    );
    put("loadgen_cpu_s", json!(round(loadgen_cpu, 2)));
    // Above ~90 % (per process) the load generator itself limits the run.
    put(
        "loadgen_cpu_pct",
        json!(window.map(|w| round(
            100.0 * loadgen_cpu / w.max(1e-9) / cfg.shards.max(1) as f64,
            1
        ))),
    );
    let latency = latency_json(&hist);
    // Per server address: for a cluster, the publisher's node against the nodes that got
    // each message through Redis.
    let ticks = sum("ticks");
    let by_addr: Vec<Value> = by_addr
        .iter()
        .zip(&cfg.addrs)
        .map(|((clients, received, h), addr)| {
            let mut o = json!({
                "addr": addr.to_string(),
                "clients": clients,
                "received": received,
                "latency_us": latency_json(h),
            });
            if cfg.scenario == Scenario::Broadcast {
                let expected = ticks * clients;
                o["delivery_ratio"] =
                    json!((expected > 0).then(|| round(*received as f64 / expected as f64, 4)));
            }
            o
        })
        .collect();
    if !by_addr.is_empty() {
        put("by_addr", json!(by_addr));
    }
    // The count every scenario is judged on, per second and per server CPU-second.
    let (count, per_s): (u64, f64) = match cfg.scenario {
        Scenario::Connect => {
            let held = connected.saturating_sub(lost);
            put("held", json!(held));
            let grown = rss(Point::End)
                .zip(rss(Point::Start))
                .map(|(e, s)| e as f64 - s as f64);
            put(
                "rss_per_conn_kib",
                json!(grown
                    .filter(|_| connected > 0)
                    .map(|g| round(g / connected as f64, 2))),
            );
            let ccpu = cpu(Point::Start, Point::Connected);
            put("server_cpu_connect_s", json!(ccpu.map(|c| round(c, 2))));
            put(
                "connects_per_server_cpu_s",
                json!(ccpu
                    .filter(|c| *c > 0.0)
                    .map(|c| round(connected as f64 / c, 0))),
            );
            (
                connected,
                connect_s.map_or(0.0, |s| connected as f64 / s.max(1e-9)),
            )
        }
        Scenario::Echo => {
            let (sent, received) = (sum("sent"), sum("received"));
            put(
                "mode",
                json!(if cfg.rate.is_some() { "rate" } else { "closed" }),
            );
            put("rate", json!(cfg.rate));
            put("payload_size", json!(cfg.payload_size));
            put("sent", json!(sent));
            put("received", json!(received));
            put("missing", json!(sent.saturating_sub(received)));
            let per_s = received as f64 / cfg.duration.max(1e-9);
            put("msgs_per_s", json!(round(per_s, 1)));
            put(
                "rx_bytes_per_msg",
                json!((received > 0 && cfg.transport == Transport::WebSocket)
                    .then(|| round(sum("rx_bytes") as f64 / received as f64, 1))),
            );
            put("latency_us", latency);
            put(
                "msgs_per_server_cpu_s",
                json!(server_cpu
                    .filter(|c| *c > 0.0)
                    .map(|c| round(received as f64 / c, 0))),
            );
            (received, per_s)
        }
        Scenario::Broadcast => {
            let (ticks, subs, got) = (sum("ticks"), sum("subscribers"), sum("received"));
            let expected = ticks * subs;
            put("rate", json!(cfg.rate));
            put("subscribers", json!(subs));
            put("ticks_sent", json!(ticks));
            put("expected", json!(expected));
            put("delivered", json!(got));
            put(
                "delivery_ratio",
                json!((expected > 0).then(|| round(got as f64 / expected as f64, 4))),
            );
            let per_s = got as f64 / cfg.duration.max(1e-9);
            put("deliveries_per_s", json!(round(per_s, 1)));
            put("tick_size", json!(cfg.tick_size));
            // A delivery's bytes on the wire: the frames of the measured ticks (compressed or
            // not, WebSocket header included) over the deliveries. Counted per frame, not as
            // what was read in the window, which a server with a backlog would skew.
            put(
                "rx_bytes_per_delivery",
                json!((got > 0).then(|| round(sum("tick_bytes") as f64 / got as f64, 1))),
            );
            put("latency_us", latency);
            put(
                "deliveries_per_server_cpu_s",
                json!(server_cpu
                    .filter(|c| *c > 0.0)
                    .map(|c| round(got as f64 / c, 0))),
            );
            (got, per_s)
        }
        Scenario::Storm => {
            // Every client that connected in the ramp lost its connection in the restart and
            // is back when it is connected again (the same handshake as in the ramp).
            let (down, up, reconnects) = (sum("down_once"), sum("up"), sum("reconnects"));
            all_back = connected > 0 && down >= connected && up >= connected;
            put("disconnected", json!(down));
            put("back", json!(up.min(connected)));
            put("not_back", json!(connected.saturating_sub(up)));
            put("reconnects", json!(reconnects));
            put("reconnect_attempts", json!(sum("attempts")));
            // Failed attempts, by cause: the port closed (the server not listening yet, or
            // its backlog full and the kernel refusing), no answer within --connect-timeout,
            // anything else (a reset, an HTTP error, a refused upgrade; listed in `errors`).
            put("refused", json!(sum("refused")));
            put("timed_out", json!(sum("timed_out")));
            put("attempt_errors", json!(sum("attempt_errors")));
            put(
                "backoff",
                json!([cfg.backoff.min_ms, cfg.backoff.max_ms, cfg.backoff.jitter]),
            );
            let restart = coord.restarted.as_ref();
            let since_kill = |t: Option<Instant>| {
                restart
                    .zip(t)
                    .map(|(r, t)| round(t.duration_since(r.kill_at).as_secs_f64(), 3))
            };
            put(
                "restart_exit_s",
                json!(since_kill(restart.and_then(|r| r.exited_at))),
            );
            put(
                "restart_down_s",
                json!(since_kill(restart.and_then(|r| r.listening_at))),
            );
            put(
                "server_pid_after_restart",
                json!(restart.and_then(|r| r.new_pid)),
            );
            let all_back_s = since_kill(snap(Point::End).map(|s| s.at)).filter(|_| all_back);
            put("storm_all_back_s", json!(all_back_s));
            // Each client's time without a connection: from reading the close to being back.
            put("downtime_us", latency);
            let grown = rss(Point::End)
                .zip(rss(Point::Measure))
                .map(|(e, s)| e as f64 - s as f64);
            put(
                "rss_per_conn_kib",
                json!(grown.filter(|_| up > 0).map(|g| round(g / up as f64, 2))),
            );
            put(
                "reconnects_per_server_cpu_s",
                json!(server_cpu
                    .filter(|c| *c > 0.0)
                    .map(|c| round(reconnects as f64 / c, 0))),
            );
            (
                reconnects,
                all_back_s.map_or(0.0, |s| up as f64 / s.max(1e-9)),
            )
        }
    };
    put("throughput_per_s", json!(round(per_s, 1)));
    let base_cpu = if cfg.scenario == Scenario::Connect {
        cpu(Point::Start, Point::Connected)
    } else {
        server_cpu
    };
    put(
        "server_cpu_us_per_msg",
        json!(base_cpu
            .filter(|_| count > 0)
            .map(|c| round(c * 1e6 / count as f64, 3))),
    );
    // For connect, the ramp's split; otherwise the measured window's.
    let split = if cfg.scenario == Scenario::Connect {
        times(Point::Start, Point::Connected)
    } else {
        split
    };
    let per = |c: f64| round(c * 1e6 / count as f64, 3);
    let split = split.filter(|_| count > 0);
    put("server_user_us_per_msg", json!(split.map(|t| per(t.user))));
    put("server_sys_us_per_msg", json!(split.map(|t| per(t.system))));
    put("errors", json!(errors));
    put("problems", json!(errs));
    for (k, v) in &cfg.tags {
        put(k, json!(v));
    }
    let storm_ok = cfg.scenario != Scenario::Storm
        || (all_back
            && coord
                .restarted
                .as_ref()
                .is_some_and(|r| r.problems.is_empty()));
    put(
        "ok",
        json!(
            !timed_out && failed == 0 && lost == 0 && storm_ok && parts.len() == cfg.shards.max(1)
        ),
    );
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn several_servers_and_pids() {
        let cfg = parse_args(&args(
            "broadcast --port 3014,3024 --server-pid 11,12 --server-pid 13 --publish-to 1",
        ))
        .unwrap();
        let ports: Vec<u16> = cfg.addrs.iter().map(SocketAddr::port).collect();
        assert_eq!(ports, [3014, 3024]);
        assert!(cfg.addrs.iter().all(|a| a.ip().is_loopback()));
        assert_eq!(cfg.server_pids, [11, 12, 13]);
        assert_eq!(cfg.publish_to, 1);

        let one = parse_args(&args("echo --addr 127.0.0.1:3010 --server-pid 7")).unwrap();
        assert_eq!(one.addrs, [SocketAddr::from(([127, 0, 0, 1], 3010))]);
        assert_eq!(one.server_pids, [7]);
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(parse_args(&args("broadcast --port 3014 --publish-to 1")).is_err());
        assert!(parse_args(&args("broadcast --port ,")).is_err());
        assert!(parse_args(&args("broadcast --port 3014,x")).is_err());
        assert!(parse_args(&args("broadcast --server-pid 1,-2")).is_err());
    }

    #[test]
    fn storm_and_upgrade_options() {
        let storm = parse_args(&args(
            "storm --transport upgrade --port 3014 --server-pid 9 --restart-cmd x --backoff 0,0,0",
        ))
        .unwrap();
        assert_eq!(storm.transport, Transport::Upgrade);
        assert_eq!(storm.duration, 60.0);
        assert_eq!(storm.backoff.max_ms, 0.0);
        // The restart needs a command, and one server to restart.
        assert!(parse_args(&args("storm --port 3014 --server-pid 9")).is_err());
        assert!(parse_args(&args(
            "storm --port 3014,3024 --server-pid 9,10 --restart-cmd x"
        ))
        .is_err());
        assert!(parse_args(&args("connect --server-pid 9 --restart-cmd x")).is_err());
        assert!(parse_args(&args("echo --transport upgrade")).is_err());
        assert!(parse_args(&args("connect --transport upgrade")).is_ok());
        assert!(parse_args(&args("storm --server-pid 9 --restart-cmd x --backoff 1,2")).is_err());
        assert!(parse_args(&args(
            "storm --server-pid 9 --restart-cmd x --backoff 1,2,3"
        ))
        .is_err());
    }

    #[test]
    fn the_client_backoff() {
        let b = Backoff::CLIENT_DEFAULT;
        let mut rng = proto::Rng::new(3);
        let ms = |d: Duration| d.as_millis() as f64;
        let first: Vec<f64> = (0..2000).map(|_| ms(b.delay(0, &mut rng))).collect();
        // 1 s moved by up to half of it, both ways, spread over the whole range.
        assert!(first.iter().all(|&d| (500.0..=1500.0).contains(&d)));
        assert!(first.iter().any(|&d| d < 600.0) && first.iter().any(|&d| d > 1400.0));
        let mean = first.iter().sum::<f64>() / first.len() as f64;
        assert!((950.0..1050.0).contains(&mean), "{mean}");
        // Doubled per attempt, never above the maximum.
        assert!((0..200).all(|_| (1000.0..=3000.0).contains(&ms(b.delay(1, &mut rng)))));
        assert!((0..200).all(|_| ms(b.delay(2, &mut rng)) <= 5000.0));
        assert!((0..200).all(|_| ms(b.delay(40, &mut rng)) == 5000.0));
        let exact = Backoff {
            min_ms: 100.0,
            max_ms: 1000.0,
            jitter: 0.0,
        };
        let d: Vec<f64> = (0..5).map(|n| ms(exact.delay(n, &mut rng))).collect();
        assert_eq!(d, [100.0, 200.0, 400.0, 800.0, 1000.0]);
    }

    #[test]
    fn open_files_for_a_storm() {
        let storm = parse_args(&args(
            "storm --transport upgrade --clients 10000 --server-pid 9 --restart-cmd x",
        ))
        .unwrap();
        // Up to three connections per client while they all reconnect.
        assert!(open_files_needed(&storm, 1) > 30_000);
        assert!(open_files_needed(&storm, 2) < 20_000);
        // A ramp holds the polling connections of --concurrency clients at most.
        let ramp = parse_args(&args("connect --transport upgrade --clients 10000")).unwrap();
        assert!(open_files_needed(&ramp, 1) < 11_000);
    }

    #[test]
    fn sums_need_every_process() {
        let t = |u: f64, s: f64| Some(procfs::CpuTimes { user: u, system: s });
        let total = sum_all(&[t(1.0, 2.0), t(0.5, 0.25), t(0.0, 1.0)]).unwrap();
        assert_eq!((total.user, total.system), (1.5, 3.25));
        // A process that could not be read makes the sum unknown, not smaller.
        assert_eq!(sum_all(&[t(1.0, 2.0), None]), None);
        assert_eq!(sum_all::<u64>(&[]), None);
        assert_eq!(sum_all(&[Some(3u64), Some(4)]), Some(7));
    }
}
