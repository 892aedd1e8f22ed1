//! `server_stats`, every 2 seconds, to every admin client of every server.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use sockeye_engineio::TransportKind;

use crate::io::IoInner;
use crate::ns::Namespace;
use crate::SocketIo;

use super::observer::{AdminObserver, SeenTransport};

/// When the process was first instrumented (the `uptime` origin).
static STARTED: OnceLock<Instant> = OnceLock::new();

/// The machine's host name (Node's `os.hostname()`), or `localhost` when it has none that is
/// text.
pub(super) fn hostname() -> String {
    gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Sends the statistics now, then every `every`, while the server and its admin namespace
/// exist.
pub(super) async fn run(
    io: Weak<IoInner>,
    admin: Weak<Namespace>,
    observer: Arc<AdminObserver>,
    server_id: String,
    every: Duration,
) {
    let started = *STARTED.get_or_init(Instant::now);
    let hostname = hostname();
    let pid = std::process::id();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (Some(io), Some(admin)) = (io.upgrade(), admin.upgrade()) else {
            return;
        };
        let io = SocketIo::from_inner(io);
        let (namespaces, polling) = survey(&io, &observer);
        let stats = json!({
            "serverId": server_id,
            "hostname": hostname,
            "pid": pid,
            "uptime": started.elapsed().as_secs_f64(),
            "clientsCount": io.connection_count(),
            "pollingClientsCount": polling,
            "aggregatedEvents": observer.drain(),
            "namespaces": namespaces,
        });
        let op = admin.operator();
        drop((io, admin));
        if let Err(e) = op.emit("server_stats", &stats).await {
            tracing::debug!("admin UI: server_stats not sent: {e}");
        }
    }
}

/// Each namespace with its number of sockets here (`/` first), and how many connections are
/// on long-polling; reports the upgrades since the last look.
fn survey(io: &SocketIo, observer: &AdminObserver) -> (Vec<Json>, usize) {
    let mut namespaces = io.inner().namespaces();
    namespaces.sort_by(|a, b| (a.name() != "/", a.name()).cmp(&(b.name() != "/", b.name())));
    let mut polling = HashSet::new();
    let mut list = Vec::with_capacity(namespaces.len());
    for ns in &namespaces {
        let sockets = ns.all_sockets();
        list.push(json!({"name": ns.name(), "socketsCount": sockets.len()}));
        for s in sockets.iter() {
            let now = s.conn.transport();
            if now == TransportKind::Polling {
                polling.insert(s.engine_id());
            }
            if s.extension::<SeenTransport>() != Some(SeenTransport(now)) {
                observer.upgraded(s, now);
            }
        }
    }
    (list, polling.len())
}
