//! The pieces both wire formats share: messages as [`Value`]s, JSON as `JSON.stringify`
//! writes it, broadcast options, packets and sockets as Node's adapters lay them out.

use std::borrow::Cow;
use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use smallvec::SmallVec;
use sockeye_core::adapter::{BroadcastOptions, BroadcastPacket, HandshakeInfo, SocketInfo};
use sockeye_core::value::{msgpack, Value};
use sockeye_core::{AdapterError, Payload, Room};

/// Why a message from Redis was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Neither JSON nor msgpack (or nested too deep, or truncated).
    Undecodable,
    /// It decodes, but not to the shape its type needs.
    Shape(&'static str),
    /// Larger than the configured maximum.
    TooLarge,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Undecodable => f.write_str("neither JSON nor msgpack"),
            Malformed::Shape(what) => write!(f, "not {what}"),
            Malformed::TooLarge => f.write_str("larger than max_message_size"),
        }
    }
}

/// Decodes a message as Node's adapters do: JSON when it starts with `{`, msgpack otherwise.
pub(crate) fn decode(payload: &Bytes) -> Result<Value, Malformed> {
    if payload.first() == Some(&b'{') {
        // serde_json refuses nesting deeper than 128, like the msgpack decoder.
        serde_json::from_slice(payload).map_err(|_| Malformed::Undecodable)
    } else {
        msgpack::decode_bytes(payload).map_err(|_| Malformed::Undecodable)
    }
}

/// A map built in order, as a JavaScript object literal.
pub(crate) struct Obj(Vec<(String, Value)>);

impl Obj {
    pub(crate) fn new() -> Obj {
        Obj(Vec::with_capacity(6))
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Obj {
        self.0.push((key.to_owned(), value.into()));
        self
    }

    /// Adds `key` only when there is a value (an `undefined` property is left out).
    pub(crate) fn with_opt(self, key: &str, value: Option<Value>) -> Obj {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    pub(crate) fn build(self) -> Value {
        Value::Map(self.0)
    }
}

impl From<Obj> for Value {
    fn from(o: Obj) -> Value {
        o.build()
    }
}

/// `value` as `JSON.stringify` writes it: a binary value as a Node `Buffer`'s JSON
/// (`{"type":"Buffer","data":[...]}`), non-finite numbers as `null`.
pub(crate) fn json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) if !f.is_finite() => out.extend_from_slice(b"null"),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => {
            // JavaScript writes 2.0 as 2.
            let _ = write!(out, "{}", *f as i128);
        }
        Value::Float(f) => {
            let _ = serde_json::to_writer(&mut *out, f);
        }
        Value::Str(s) => {
            let _ = serde_json::to_writer(&mut *out, s.as_str());
        }
        Value::Bin(b) => {
            out.extend_from_slice(b"{\"type\":\"Buffer\",\"data\":[");
            for (i, byte) in b.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = write!(out, "{byte}");
            }
            out.extend_from_slice(b"]}");
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, v);
            }
            out.push(b']');
        }
        Value::Map(m) => {
            out.push(b'{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, k.as_str());
                out.push(b':');
                write_json(out, v);
            }
            out.push(b'}');
        }
    }
}

/// A room name from a message: text, or a number (Node allows `socket.join(1)`) as its text.
pub(crate) fn room(v: &Value) -> Option<Room> {
    match v {
        Value::Str(s) => Some(Cow::Owned(s.clone())),
        Value::Int(i) => Some(Cow::Owned(i.to_string())),
        Value::UInt(u) => Some(Cow::Owned(u.to_string())),
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 => {
            Some(Cow::Owned(format!("{}", *f as i128)))
        }
        Value::Float(f) if f.is_finite() => Some(Cow::Owned(f.to_string())),
        _ => None,
    }
}

/// A list of rooms; missing or `null` is an empty list.
pub(crate) fn rooms(v: Option<&Value>) -> Result<SmallVec<[Room; 2]>, Malformed> {
    match v {
        None | Some(Value::Null) => Ok(SmallVec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| room(r).ok_or(Malformed::Shape("a list of rooms")))
            .collect(),
        Some(_) => Err(Malformed::Shape("a list of rooms")),
    }
}

pub(crate) fn room_list(rooms: &[Room]) -> Value {
    Value::Array(rooms.iter().map(|r| Value::Str(r.to_string())).collect())
}

/// Broadcast flags as Node's `BroadcastOperator` sets them: only those that differ from the
/// default, and the timeout in milliseconds (`timeout`, or the options' own).
pub(crate) fn flags(opts: &BroadcastOptions, timeout: Option<Duration>) -> Value {
    let timeout = timeout.or(opts.flags.timeout);
    let mut f = Obj::new();
    if opts.flags.volatile {
        f = f.with("volatile", true);
    }
    if !opts.flags.compress {
        f = f.with("compress", false);
    }
    if let Some(t) = timeout {
        f = f.with("timeout", Value::Int(millis(t)));
    }
    f.build()
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `{rooms, except}` (requests of the classic adapter).
pub(crate) fn opts_rooms(opts: &BroadcastOptions) -> Value {
    Obj::new()
        .with("rooms", room_list(&opts.rooms))
        .with("except", room_list(&opts.except))
        .build()
}

/// `{rooms, except, flags}` (broadcasts, and every message of the sharded adapter).
pub(crate) fn opts_full(opts: &BroadcastOptions, timeout: Option<Duration>) -> Value {
    Obj::new()
        .with("rooms", room_list(&opts.rooms))
        .with("except", room_list(&opts.except))
        .with("flags", flags(opts, timeout))
        .build()
}

/// Options from a message; `with_flags` reads `volatile` and `compress` too (Node's receivers
/// of requests use only the rooms).
pub(crate) fn opts_from(
    v: Option<&Value>,
    with_flags: bool,
) -> Result<BroadcastOptions, Malformed> {
    let mut opts = BroadcastOptions::new();
    let Some(v) = v else {
        return Ok(opts);
    };
    if !matches!(v, Value::Map(_)) {
        return Err(Malformed::Shape("broadcast options"));
    }
    opts.rooms = rooms(v.get("rooms"))?;
    opts.except = rooms(v.get("except"))?;
    if with_flags {
        if let Some(flags) = v.get("flags") {
            opts.flags.volatile = truthy(flags.get("volatile"));
            opts.flags.compress = flags.get("compress") != Some(&Value::Bool(false));
        }
    }
    Ok(opts)
}

/// JavaScript truthiness of an optional value.
pub(crate) fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Int(i)) => *i != 0,
        Some(Value::UInt(_)) => true,
        Some(Value::Float(f)) => *f != 0.0 && !f.is_nan(),
        Some(Value::Str(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// The ack timeout a broadcast request carries in `flags.timeout`, within bounds: a peer
/// cannot make this server hold its sockets' ack entries for more than `max`.
pub(crate) fn ack_timeout(opts: Option<&Value>, default: Duration, max: Duration) -> Duration {
    let ms = opts
        .and_then(|o| o.get("flags"))
        .and_then(|f| f.get("timeout"))
        .and_then(Value::as_u64);
    ms.map_or(default, Duration::from_millis).min(max)
}

/// The event and its arguments as one array (`["event", ...args]`).
pub(crate) fn event_array(event: &str, args: &Payload) -> Result<Value, AdapterError> {
    let values = args
        .to_values()
        .map_err(|e| AdapterError::Encode(e.to_string()))?;
    let mut data = Vec::with_capacity(values.len() + 1);
    data.push(Value::Str(event.to_owned()));
    data.extend(values);
    Ok(Value::Array(data))
}

/// A broadcast's packet as socket.io hands it to its adapter: `{type: 2, data, nsp}` (the
/// sharded adapter publishes it before `nsp` is set).
pub(crate) fn packet(packet: &BroadcastPacket, with_nsp: bool) -> Result<Value, AdapterError> {
    let data = event_array(packet.event(), packet.args())?;
    let mut p = Obj::new().with("type", Value::Int(2)).with("data", data);
    if with_nsp {
        p = p.with("nsp", packet.ns());
    }
    Ok(p.build())
}

/// The event name and arguments of `[event, ...args]`.
pub(crate) fn split_event(data: Option<&Value>) -> Result<(String, Payload), Malformed> {
    match data {
        Some(Value::Array(items)) => match items.split_first() {
            Some((Value::Str(event), args)) => {
                Ok((event.clone(), Payload::from_values(args.to_vec())))
            }
            _ => Err(Malformed::Shape("an event (a name then arguments)")),
        },
        _ => Err(Malformed::Shape("an event (a name then arguments)")),
    }
}

/// The packet of a broadcast from another server, for the namespace `ns`; `Ok(None)` when
/// `check_ns` and it is another namespace's (its `nsp`, or `/` when it has none, as Node).
/// Without `check_ns` its `nsp` is not looked at (the channel says the namespace).
pub(crate) fn packet_from(
    v: Option<&Value>,
    ns: &str,
    check_ns: bool,
) -> Result<Option<BroadcastPacket>, Malformed> {
    let Some(p @ Value::Map(_)) = v else {
        return Err(Malformed::Shape("a packet"));
    };
    if check_ns {
        let packet_ns = match p.get("nsp") {
            None | Some(Value::Null) => "/",
            Some(Value::Str(s)) => s.as_str(),
            Some(_) => return Err(Malformed::Shape("a packet")),
        };
        if packet_ns != ns {
            return Ok(None);
        }
    }
    // EVENT, or BINARY_EVENT from an encoder that set it.
    if !matches!(p.get("type").and_then(Value::as_u64), Some(2 | 5)) {
        return Err(Malformed::Shape("an event packet"));
    }
    let (event, args) = split_event(p.get("data"))?;
    Ok(Some(BroadcastPacket::new(ns, event, args)))
}

/// An ack's answer on the wire: its first argument (Node passes only that one), or nothing.
pub(crate) fn first_arg(answer: &Payload) -> Option<Value> {
    answer.to_values().ok().and_then(|v| v.into_iter().next())
}

/// What crosses the cluster of a socket (Node's `fetchSockets` response item).
pub(crate) fn socket(s: &SocketInfo) -> Value {
    let h = &s.handshake;
    let handshake = Obj::new()
        .with("headers", h.headers.clone())
        .with("time", h.time.as_str())
        .with("address", h.address.as_str())
        .with("xdomain", h.xdomain)
        .with("secure", h.secure)
        .with("issued", Value::Int(h.issued))
        .with("url", h.url.as_str())
        .with("query", h.query.clone())
        .with("auth", h.auth.clone())
        .build();
    Obj::new()
        .with("id", s.id.as_str())
        .with("handshake", handshake)
        .with("rooms", room_list(&s.rooms))
        .with("data", s.data.clone())
        .build()
}

/// A socket of another server; `None` when it has no valid id.
pub(crate) fn socket_from(v: &Value) -> Option<SocketInfo> {
    let id = v.get("id")?.as_str()?.parse().ok()?;
    let h = v.get("handshake");
    let field = |k: &str| h.and_then(|h| h.get(k));
    let text = |k: &str| {
        field(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let handshake = HandshakeInfo {
        headers: field("headers").cloned().unwrap_or_default(),
        time: text("time"),
        address: text("address"),
        xdomain: field("xdomain") == Some(&Value::Bool(true)),
        secure: field("secure") == Some(&Value::Bool(true)),
        issued: match field("issued") {
            Some(Value::Int(i)) => *i,
            Some(Value::Float(f)) if f.is_finite() => *f as i64,
            _ => 0,
        },
        url: text("url"),
        query: field("query").cloned().unwrap_or_default(),
        auth: field("auth").cloned().unwrap_or_default(),
    };
    let rooms = match v.get("rooms") {
        Some(Value::Array(a)) => a.iter().filter_map(room).collect(),
        _ => Vec::new(),
    };
    let data = v.get("data").cloned().unwrap_or_default();
    Some(SocketInfo::new(id, handshake, rooms, data))
}

/// Whether `room` has the length of a socket id in JavaScript (20 UTF-16 units), which the
/// sharded adapter's dynamic mode keeps on the main channel.
pub(crate) fn looks_like_socket_id(room: &str) -> bool {
    room.len() >= 20 && room.encode_utf16().count() == 20
}

/// A request id, as `uid2(6)` makes them (62 letters and digits).
pub(crate) fn uid6() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// An id as `randomBytes(8).toString("hex")` makes them (socket.io-adapter's cluster ids).
pub(crate) fn hex16() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `requestId` of a message, as text (Node's are strings; anything else is no id).
pub(crate) fn request_id(v: &Value) -> Option<&str> {
    v.get("requestId").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_as_javascript_writes_it() {
        let v = Obj::new()
            .with("a", Value::Float(2.0))
            .with("b", Value::Float(f64::NAN))
            .with("c", Value::Bin(Bytes::from_static(&[1, 255])))
            .with("d", "q\"uote\n")
            .with("e", Value::Array(vec![Value::Float(0.5), Value::Null]))
            .build();
        assert_eq!(
            String::from_utf8(json(&v)).unwrap(),
            r#"{"a":2,"b":null,"c":{"type":"Buffer","data":[1,255]},"d":"q\"uote\n","e":[0.5,null]}"#
        );
    }

    #[test]
    fn rooms_accept_numbers_as_node_does() {
        let v = Value::Array(vec![
            "a".into(),
            Value::Int(1),
            Value::Float(2.0),
            Value::Float(1.5),
        ]);
        let r = rooms(Some(&v)).unwrap();
        assert_eq!(r.as_slice(), ["a", "1", "2", "1.5"]);
        assert!(rooms(Some(&Value::Array(vec![Value::Null]))).is_err());
        assert!(rooms(Some(&Value::Str("a".into()))).is_err());
        assert!(rooms(None).unwrap().is_empty());
    }

    #[test]
    fn socket_id_length_counts_utf16_units() {
        assert!(looks_like_socket_id("hUvDDmXSf-TMuMvIAAAB"));
        assert!(!looks_like_socket_id("hUvDDmXSf-TMuMvIAAA"));
        // 19 characters, 20 UTF-16 units (an emoji is two).
        assert!(looks_like_socket_id("😀hUvDDmXSf-TMuMvIAA"));
        assert!(!looks_like_socket_id("éUvDDmXSf-TMuMvIAAA"));
    }

    #[test]
    fn ids_have_node_shapes() {
        let a = uid6();
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        let h = hex16();
        assert_eq!(h.len(), 16);
        assert!(h
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn packets_of_other_namespaces_are_not_errors() {
        let p = Obj::new()
            .with("type", Value::Int(2))
            .with("data", Value::Array(vec!["ev".into(), Value::Int(1)]))
            .with("nsp", "/admin")
            .build();
        assert!(packet_from(Some(&p), "/", true).unwrap().is_none());
        let got = packet_from(Some(&p), "/admin", true).unwrap().unwrap();
        assert_eq!(got.event(), "ev");
        assert_eq!(got.args().values(), Some(&[Value::Int(1)][..]));
        // No nsp: the main namespace.
        let bare = Obj::new()
            .with("type", Value::Int(2))
            .with("data", Value::Array(vec!["ev".into()]))
            .build();
        assert!(packet_from(Some(&bare), "/", true).unwrap().is_some());
        for bad in [
            Value::Null,
            Obj::new()
                .with("type", Value::Int(3))
                .with("data", Value::Array(vec!["e".into()]))
                .build(),
            Obj::new()
                .with("type", Value::Int(2))
                .with("data", Value::Array(vec![Value::Int(1)]))
                .build(),
            Obj::new()
                .with("type", Value::Int(2))
                .with("data", Value::Array(vec![]))
                .build(),
            Obj::new()
                .with("type", Value::Int(2))
                .with("nsp", Value::Int(1))
                .build(),
        ] {
            assert!(packet_from(Some(&bad), "/", true).is_err(), "{bad:?}");
        }
    }
}
