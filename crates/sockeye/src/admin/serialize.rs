//! Sockets as the admin UI reads them (`SerializedSocket` of `@socket.io/admin-ui`).

use serde_json::{json, Map, Value as Json};
use sockeye_core::adapter::HandshakeInfo;
use sockeye_core::value::Value;
use sockeye_engineio::TransportKind;

use crate::operators::RemoteSocket;
use crate::socket::SocketRef;

/// The key under which Node's admin UI keeps its own fields in `socket.data`.
pub(super) const ADMIN_KEY: &str = "_admin";

/// How many characters of the engine id the UI gets as the client's id (Node's: "this
/// information is quite sensitive").
const CLIENT_ID_LEN: usize = 12;

pub(super) fn transport_name(t: TransportKind) -> &'static str {
    match t {
        TransportKind::Websocket => "websocket",
        _ => "polling",
    }
}

/// The client id the UI groups a connection's sockets by.
pub(super) fn client_id(socket: &SocketRef) -> String {
    socket
        .engine_id()
        .as_str()
        .chars()
        .take(CLIENT_ID_LEN)
        .collect()
}

/// The `{clientId, transport}` that Node keeps in `socket.data._admin`.
pub(super) fn admin_fields(socket: &SocketRef) -> Value {
    Value::Map(vec![
        ("clientId".into(), Value::Str(client_id(socket))),
        (
            "transport".into(),
            Value::Str(transport_name(socket.conn.transport()).into()),
        ),
    ])
}

/// `data` without the admin UI's own fields, as JSON.
pub(super) fn visible_data(data: &Value) -> Json {
    let json = serde_json::to_value(data).unwrap_or(Json::Null);
    match json {
        Json::Object(mut m) => {
            m.remove(ADMIN_KEY);
            Json::Object(m)
        }
        other => other,
    }
}

/// The handshake fields the UI shows (not the auth, which may hold secrets), with the
/// address a proxy reports when there is one (Cloudflare's header, then `X-Forwarded-For`).
fn handshake(h: &HandshakeInfo) -> Json {
    let headers = serde_json::to_value(&h.headers).unwrap_or(Json::Null);
    let forwarded = ["cf-connecting-ip", "x-forwarded-for"]
        .iter()
        .find_map(|k| headers.get(*k).and_then(|v| v.as_str()).map(str::to_owned));
    json!({
        "address": forwarded.unwrap_or_else(|| h.address.clone()),
        "headers": headers,
        "query": serde_json::to_value(&h.query).unwrap_or(Json::Null),
        "issued": h.issued,
        "secure": h.secure,
        "time": h.time,
        "url": h.url,
        "xdomain": h.xdomain,
    })
}

/// A socket connected here.
pub(super) fn local(socket: &SocketRef) -> Json {
    let info = socket.info();
    let mut out = Map::new();
    out.insert("id".into(), Json::String(socket.id_string()));
    out.insert("clientId".into(), Json::String(client_id(socket)));
    out.insert(
        "transport".into(),
        Json::String(transport_name(socket.conn.transport()).into()),
    );
    out.insert("nsp".into(), Json::String(socket.ns().name().to_owned()));
    out.insert("data".into(), visible_data(&info.data));
    out.insert("handshake".into(), handshake(&info.handshake));
    out.insert("rooms".into(), rooms(&info.rooms));
    Json::Object(out)
}

/// A socket as `fetch_sockets` reported it: of this server (then read here) or another
/// (then its client id and transport come from `data._admin`, as Node's UI reads them).
pub(super) fn fetched(s: &RemoteSocket, nsp: &str) -> Json {
    if let Some(here) = s.local_socket() {
        return local(&here);
    }
    let data = s.data_value();
    let admin = data.get(ADMIN_KEY);
    let field = |k: &str| {
        admin
            .and_then(|a| a.get(k))
            .and_then(|v| v.as_str())
            .map_or(Json::Null, |v| Json::String(v.to_owned()))
    };
    json!({
        "id": s.id().as_str(),
        "clientId": field("clientId"),
        "transport": field("transport"),
        "nsp": nsp,
        "data": visible_data(data),
        "handshake": handshake(s.handshake()),
        "rooms": rooms(s.rooms()),
    })
}

fn rooms(rooms: &[sockeye_core::Room]) -> Json {
    Json::Array(rooms.iter().map(|r| Json::String(r.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_fields_are_left_out_of_the_data() {
        let data = Value::Map(vec![
            ("_admin".into(), Value::Map(vec![])),
            ("user".into(), Value::Str("ada".into())),
        ]);
        assert_eq!(visible_data(&data), json!({"user": "ada"}));
        assert_eq!(visible_data(&Value::Str("x".into())), json!("x"));
    }

    #[test]
    fn a_proxy_address_wins() {
        let mut h = HandshakeInfo {
            address: "10.0.0.2".into(),
            ..Default::default()
        };
        assert_eq!(handshake(&h)["address"], "10.0.0.2");
        h.headers = Value::Map(vec![(
            "x-forwarded-for".into(),
            Value::Str("203.0.113.9".into()),
        )]);
        assert_eq!(handshake(&h)["address"], "203.0.113.9");
        assert!(handshake(&h).get("auth").is_none(), "the auth stays out");
    }
}
