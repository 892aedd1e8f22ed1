//! The `tracing` span of a session's work, so that a subscriber can follow one client.
//!
//! Spans are made when work for a session starts (a connection's task, a POST, a close) and
//! not kept with the session: an idle connection holds none, and with the level off (the
//! INFO level of target `sockeye_engineio`) making one costs a level check. Each is a root
//! span (no parent): work for one client done while another's span is entered (a handler
//! closing another client) is logged under its own client only.

use crate::packet::ProtocolVersion;
use crate::socket::{Socket, TransportKind};

/// The span `connection{sid, transport, protocol, remote}` of `socket`'s work.
pub(crate) fn span<D>(socket: &Socket<D>) -> tracing::Span {
    span_via(socket, socket.transport())
}

/// [`span`] for work on `transport` (a WebSocket probing an upgrade of a polling session).
pub(crate) fn span_via<D>(socket: &Socket<D>, transport: TransportKind) -> tracing::Span {
    tracing::info_span!(
        target: "sockeye_engineio",
        parent: None,
        "connection",
        sid = %socket.sid(),
        transport = transport.as_str(),
        protocol = protocol_number(socket.protocol()),
        remote = socket.request().remote_addr.map(tracing::field::display),
    )
}

fn protocol_number(v: ProtocolVersion) -> u8 {
    match v {
        ProtocolVersion::V3 => 3,
        _ => 4,
    }
}
