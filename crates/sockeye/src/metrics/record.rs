//! The copy of the figures into the `metrics` recorder (feature `metrics`).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use metrics::{counter, describe_counter, describe_gauge, gauge};

use super::*;
use crate::SocketIo;

/// Copies every figure of the server (and of the Engine.IO layer under it) into the
/// installed [`metrics`] recorder, with its description: counters as absolute values,
/// gauges as they are now, namespaces labelled as the [module](crate::metrics) says. Call it
/// right before rendering a scrape (it walks the namespaces, not the sockets); without a
/// recorder it does nothing.
///
/// The counters are the process's; the gauges of namespaces are `io`'s (with two servers in
/// one process, record one of them, or give each its own recorder).
///
/// # Examples
/// ```
/// # fn f(io: sockeye::SocketIo) {
/// sockeye::metrics::record(&io);
/// # }
/// ```
pub fn record(io: &SocketIo) {
    sockeye_engineio::metrics::record();
    describe();
    let simple = [
        ("sockeye_broadcasts_total", &BROADCASTS),
        ("sockeye_broadcast_deliveries_total", &DELIVERIES),
        ("sockeye_volatile_drops_total", &VOLATILE_DROPS),
        ("sockeye_read_pauses_total", &READ_PAUSES),
        ("sockeye_ack_timeouts_total", &ACK_TIMEOUTS),
        ("sockeye_adapter_errors_total", &ADAPTER_ERRORS),
    ];
    for (name, c) in simple {
        counter!(name).absolute(c.load(Relaxed));
    }
    let reasons = ["middleware", "invalid_namespace", "too_many_namespaces"];
    for (i, reason) in reasons.iter().enumerate() {
        counter!("sockeye_connect_refusals_total", "reason" => *reason)
            .absolute(CONNECT_REFUSALS[i].load(Relaxed));
    }
    record_namespaces(io);
}

/// `sockeye_sockets{namespace}` and `sockeye_namespaces{kind}`, with bounded labels.
fn record_namespaces(io: &SocketIo) {
    let mut declared: BTreeMap<String, usize> = BTreeMap::new();
    let (mut dynamic, mut dynamic_sockets) = (0usize, 0usize);
    for ns in io.inner.namespaces() {
        if ns.is_dynamic() {
            dynamic += 1;
            dynamic_sockets += ns.socket_count();
        } else {
            declared.insert(ns.name().to_owned(), ns.socket_count());
        }
    }
    gauge!("sockeye_namespaces", "kind" => "static").set(declared.len() as f64);
    gauge!("sockeye_namespaces", "kind" => "dynamic").set(dynamic as f64);
    let mut other = None;
    for (i, (name, n)) in declared.into_iter().enumerate() {
        if i < MAX_NAMESPACE_LABELS {
            gauge!("sockeye_sockets", "namespace" => name).set(n as f64);
        } else {
            *other.get_or_insert(0) += n;
        }
    }
    if let Some(n) = other {
        gauge!("sockeye_sockets", "namespace" => "(other)").set(n as f64);
    }
    if io.inner.has_dynamic_namespaces() {
        gauge!("sockeye_sockets", "namespace" => "(dynamic)").set(dynamic_sockets as f64);
    }
}

fn describe() {
    describe_gauge!(
        "sockeye_sockets",
        "Socket.IO sockets connected now, by namespace; (dynamic) sums the children of dynamic namespaces, (other) the declared namespaces past the label limit."
    );
    describe_gauge!(
        "sockeye_namespaces",
        "Namespaces that exist now: declared (static) or made by a dynamic namespace (dynamic)."
    );
    describe_counter!(
        "sockeye_connect_refusals_total",
        "Namespace CONNECTs refused, by reason."
    );
    describe_counter!(
        "sockeye_broadcasts_total",
        "Broadcasts delivered to this server's sockets, made here or by another server of the cluster."
    );
    describe_counter!(
        "sockeye_broadcast_deliveries_total",
        "Packets queued for clients by broadcasts."
    );
    describe_counter!(
        "sockeye_volatile_drops_total",
        "Volatile packets dropped because their client had not read the previous one."
    );
    describe_counter!(
        "sockeye_read_pauses_total",
        "Times a connection stopped being read because it had max_waiting_handlers async handlers waiting."
    );
    describe_counter!(
        "sockeye_ack_timeouts_total",
        "Acks asked of clients that did not come in time."
    );
    describe_counter!(
        "sockeye_adapter_errors_total",
        "Adapter operations that failed (the other servers could not be reached)."
    );
}
