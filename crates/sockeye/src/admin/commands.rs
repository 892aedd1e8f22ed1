//! The admin namespace's connect handler: the configuration and the socket list for the UI,
//! and its commands (emit, join, leave, disconnect), done on every server through the
//! adapters.

use std::sync::Arc;

use serde_json::{json, Value as Json};
use sockeye_core::parser::RESERVED_EVENTS;
use sockeye_core::Payload;

use crate::operators::BroadcastOperator;
use crate::{SocketIo, SocketRef};

use super::serialize;
use super::AdminMode;

/// The UI features this server offers (Node's `Feature`, in Node's order): the commands
/// unless read-only (Sockeye has every operation of socket.io 4, the `M*` ones included),
/// then the aggregated events, and every event in development mode.
pub(super) fn features(readonly: bool, mode: AdminMode) -> Arc<[&'static str]> {
    let mut f = Vec::new();
    if !readonly {
        f.extend([
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
        ]);
    }
    f.push("AGGREGATED_EVENTS");
    if mode == AdminMode::Development {
        f.push("ALL_EVENTS");
    }
    f.into()
}

/// The handler of an admin client that connected (its credentials checked).
pub(super) fn on_admin_connect(
    features: Arc<[&'static str]>,
    mode: AdminMode,
    readonly: bool,
) -> impl Fn(SocketRef) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync + 'static {
    move |socket: SocketRef| {
        let features = features.clone();
        Box::pin(async move {
            if !readonly {
                register(&socket);
            }
            let _ = socket.emit("config", &json!({ "supportedFeatures": &*features }));
            if mode == AdminMode::Development {
                match all_sockets(&socket.io()).await {
                    Ok(list) => {
                        let _ = socket.emit("all_sockets", &list);
                    }
                    Err(e) => tracing::warn!("admin UI: listing the sockets failed: {e}"),
                }
            }
        })
    }
}

/// Every socket of every namespace, on every server (Node's `fetchAllSockets`).
async fn all_sockets(io: &SocketIo) -> Result<Vec<Json>, crate::EmitError> {
    let mut namespaces = io.inner().namespaces();
    namespaces.sort_by(|a, b| a.name().cmp(b.name()));
    let mut out = Vec::new();
    for ns in namespaces {
        for s in ns.operator().fetch_sockets().await? {
            out.push(serialize::fetched(&s, ns.name()));
        }
    }
    Ok(out)
}

/// The sockets of namespace `nsp` in room `filter` (all of them without one, as Node's
/// `if (filter)`), when the namespace exists.
fn select(io: &SocketIo, nsp: Option<String>, filter: Option<String>) -> Option<BroadcastOperator> {
    let op = io.of(&nsp?)?;
    Some(match filter.filter(|f| !f.is_empty()) {
        Some(room) => op.within(room),
        None => op,
    })
}

/// Argument `i` as text, when it is.
fn text(p: &Payload, i: usize) -> Option<String> {
    p.arg::<Option<String>>(i).ok().flatten()
}

/// The commands of a UI that may act (Node's `registerFeatureHandlers`).
fn register(socket: &SocketRef) {
    // emit(nsp, filter, event, ...args)
    socket.on("emit", |s: SocketRef, p: Payload| {
        let (Some(op), Some(event)) = (select(&s.io(), text(&p, 0), text(&p, 1)), text(&p, 2))
        else {
            return;
        };
        if RESERVED_EVENTS.contains(&event.as_str()) {
            return;
        }
        let args = p.skip(3);
        crate::handler::run(async move {
            let _ = op.emit_payload(&event, &args).await;
        });
    });
    // join(nsp, room, filter?) and leave(nsp, room, filter?)
    socket.on("join", |s: SocketRef, p: Payload| {
        let (Some(op), Some(room)) = (select(&s.io(), text(&p, 0), text(&p, 2)), text(&p, 1))
        else {
            return;
        };
        crate::handler::run(async move {
            let _ = op.sockets_join(room).await;
        });
    });
    socket.on("leave", |s: SocketRef, p: Payload| {
        let (Some(op), Some(room)) = (select(&s.io(), text(&p, 0), text(&p, 2)), text(&p, 1))
        else {
            return;
        };
        crate::handler::run(async move {
            let _ = op.sockets_leave(room).await;
        });
    });
    // _disconnect(nsp, close, filter?)
    socket.on("_disconnect", |s: SocketRef, p: Payload| {
        let Some(op) = select(&s.io(), text(&p, 0), text(&p, 2)) else {
            return;
        };
        let close = p.arg::<bool>(1).unwrap_or(false);
        crate::handler::run(async move {
            let _ = op.disconnect_sockets(close).await;
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_as_node_lists_them() {
        assert_eq!(
            &*features(false, AdminMode::Development),
            [
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
                "AGGREGATED_EVENTS",
                "ALL_EVENTS"
            ]
        );
        assert_eq!(
            &*features(true, AdminMode::Development),
            ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        );
        assert_eq!(
            &*features(true, AdminMode::Production),
            ["AGGREGATED_EVENTS"]
        );
    }
}
