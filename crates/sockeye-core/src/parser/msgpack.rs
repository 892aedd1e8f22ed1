//! The msgpack parser: `socket.io-msgpack-parser` 3.x, sans-IO (feature `msgpack`).
//!
//! A packet is one binary message: the packet object `{type, data, nsp, id}` encoded with
//! notepack.io (see [`value::msgpack`] for what that writes), binary
//! values inline as msgpack `bin`. There are no attachments and no binary packet types
//! (5 and 6): every packet is an `EVENT`, `ACK`, `CONNECT`, `DISCONNECT` or `CONNECT_ERROR`.
//!
//! What a client may send, as Node's `socket.io-msgpack-parser` 3.0.2 checks it (anything
//! else closes the client's connection, as there): a map whose `type` is an integer from 0 to
//! 3 (4, `CONNECT_ERROR`, is the server's), `nsp` a string, `id` absent, `undefined` or an
//! integer, and `data` absent or `undefined` for `DISCONNECT`, absent, `undefined` or a map
//! for `CONNECT`, an array for `EVENT` and `ACK`. Keys it does not know are ignored
//! (socket.io-client sends `options`). Like the JSON parser, and stricter than Node's msgpack
//! parser, it also requires an `EVENT` to start with its name (a string or a number, not one of
//! [`RESERVED_EVENTS`](super::RESERVED_EVENTS)), an `ACK` to have an id, ack ids below 2^53,
//! no id on `CONNECT` and `DISCONNECT`, and nesting no deeper than 128 inside an argument.
//! Text messages, which this parser never sends, are refused.
//!
//! The arguments are not decoded here: they stay ranges of the message
//! ([`Payload::from_msgpack_parts`]), checked (as
//! [`value::msgpack::decode`] would) without being built, and
//! relaying them to another msgpack client copies their bytes.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use smallvec::SmallVec;

use super::{
    is_reserved, with_scratch, Args, ArgsMode, DecodeLimits, DecodeState, Encoded, EventName,
    Incoming, Message, Packet, PacketType, Parser, MAX_ACK_ID,
};
use crate::errors::ParseError;
use crate::payload::Payload;
use crate::value::msgpack::{self as mp, DecodeError, Field, Reader};
use crate::value::{self, Value};

/// The msgpack parser (`socket.io-msgpack-parser` 3.x): each packet is one binary message.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{Args, DecodeLimits, DecodeState, Incoming, Message, MsgpackParser, Packet, Parser};
/// use sockeye_core::value::{msgpack, Value};
/// // What socket.io-client sends for `socket.emit("hello", 1)`:
/// let packet = Value::Map(vec![
///     ("type".into(), Value::Int(2)),
///     ("data".into(), Value::Array(vec!["hello".into(), Value::Int(1)])),
///     ("nsp".into(), "/".into()),
/// ]);
/// let msg = Message::Binary(msgpack::encode(&packet).into());
/// let mut state = DecodeState::default();
/// let Ok(Some(Incoming::Event { payload, .. })) = MsgpackParser.decode(msg, &mut state, &DecodeLimits::default()) else {
///     panic!("not an event");
/// };
/// assert_eq!(payload.arg::<i32>(0).unwrap(), 1);
/// // Relaying it to another client copies its bytes.
/// let out = MsgpackParser.encode(Packet::Event { ns: "/", event: "hello", args: Args::Payload(&payload), id: None, offset: None }).unwrap();
/// assert_eq!(msgpack::decode(out.message.as_bytes()).unwrap(), Value::Map(vec![
///     ("type".into(), Value::Int(2)),
///     ("data".into(), Value::Array(vec!["hello".into(), Value::Int(1)])),
///     ("nsp".into(), "/".into()),
/// ]));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsgpackParser;

impl Parser for MsgpackParser {
    fn decode(
        &self,
        msg: Message,
        _state: &mut DecodeState,
        _limits: &DecodeLimits,
    ) -> Result<Option<Incoming>, ParseError> {
        match msg {
            Message::Binary(data) => decode(data).map(Some),
            Message::Text(_) => Err(ParseError::UnexpectedText),
        }
    }

    fn encode(&self, packet: Packet<'_>) -> Result<Encoded, serde_json::Error> {
        encode(packet)
    }
}

fn invalid(_: DecodeError) -> ParseError {
    ParseError::InvalidMsgpack
}

/// What a packet's `data` held.
enum Data {
    /// notepack's `undefined`.
    Undefined,
    /// An array: where each element is.
    Array(SmallVec<[Range<usize>; 4]>),
    /// A map: where it is.
    Map(Range<usize>),
    /// Anything else.
    Other,
}

/// Decodes one binary message from a client (see the [module docs](self)).
///
/// # Examples
/// ```
/// use sockeye_core::parser::{msgpack, Incoming};
/// use sockeye_core::ParseError;
/// // {type: 0, nsp: "/admin", data: {token: "x"}}
/// let connect = b"\x83\xa4type\x00\xa3nsp\xa6/admin\xa4data\x81\xa5token\xa1x";
/// match msgpack::decode(bytes::Bytes::from_static(connect)) {
///     Ok(Incoming::Connect { ns, auth: Some(auth), .. }) => {
///         assert_eq!(ns, "/admin");
///         assert_eq!(auth.arg::<serde_json::Value>(0).unwrap()["token"], "x");
///     }
///     other => panic!("{other:?}"),
/// }
/// // A declared length of 4 billion items, with nothing after it.
/// assert_eq!(msgpack::decode(bytes::Bytes::from_static(b"\xdd\xff\xff\xff\xff")).err(), Some(ParseError::InvalidMsgpack));
/// ```
///
/// # Errors
/// [`ParseError::InvalidMsgpack`] for bytes that are not one msgpack value (nothing is
/// allocated from a declared length), the other [`ParseError`]s for a packet of the wrong
/// shape.
pub fn decode(src: Bytes) -> Result<Incoming, ParseError> {
    let mut r = Reader::new(&src);
    let Some(n) = r.map_len().map_err(invalid)? else {
        // Not a packet: tell bytes that are no msgpack at all from another value.
        r.skip().map_err(invalid)?;
        return Err(ParseError::InvalidType);
    };
    let (mut ty, mut nsp, mut id, mut data) = (None, None, None, None);
    for _ in 0..n {
        // As in a JavaScript object, the last of repeated keys wins.
        match r.key().map_err(invalid)? {
            Some(b"type") => ty = Some(scalar(&mut r)?),
            Some(b"nsp") => nsp = Some(scalar(&mut r)?),
            Some(b"id") => id = Some(scalar(&mut r)?),
            Some(b"data") => data = Some(read_data(&mut r)?),
            _ => r.skip().map_err(invalid)?,
        }
    }
    if r.remaining() > 0 {
        return Err(ParseError::InvalidMsgpack);
    }
    let ty = match ty.as_ref().and_then(as_u64) {
        Some(0) => PacketType::Connect,
        Some(1) => PacketType::Disconnect,
        Some(2) => PacketType::Event,
        Some(3) => PacketType::Ack,
        // 4 (CONNECT_ERROR) is sent by servers only.
        _ => return Err(ParseError::InvalidType),
    };
    let ns: Cow<'static, str> = match nsp {
        Some(Field::Value(Value::Str(s))) => {
            if s == "/" {
                Cow::Borrowed("/")
            } else {
                Cow::Owned(s)
            }
        }
        _ => return Err(ParseError::InvalidPayload),
    };
    let id = match id {
        None | Some(Field::Undefined) => None,
        Some(f) => Some(
            as_u64(&f)
                .filter(|&id| id < MAX_ACK_ID)
                .ok_or(ParseError::InvalidNumber)?,
        ),
    };
    Ok(match ty {
        PacketType::Connect => {
            let auth = match (data, id) {
                (None | Some(Data::Undefined), None) => None,
                (Some(Data::Map(at)), None) => Some(Payload::from_msgpack_parts(
                    src,
                    std::iter::once(at).collect(),
                )),
                _ => return Err(ParseError::InvalidPayload),
            };
            Incoming::Connect {
                ns,
                auth,
                query: None,
            }
        }
        PacketType::Disconnect => match (data, id) {
            (None | Some(Data::Undefined), None) => Incoming::Disconnect { ns },
            _ => return Err(ParseError::InvalidPayload),
        },
        PacketType::Event => {
            let Some(Data::Array(mut args)) = data else {
                return Err(ParseError::InvalidPayload);
            };
            if args.is_empty() {
                return Err(ParseError::InvalidPayload);
            }
            let event = event_name(&src, args.remove(0))?;
            Incoming::Event {
                ns,
                event,
                payload: Payload::from_msgpack_parts(src, args),
                id,
            }
        }
        _ => {
            let (Some(Data::Array(args)), Some(id)) = (data, id) else {
                return Err(ParseError::InvalidPayload);
            };
            Incoming::Ack {
                ns,
                id,
                payload: Payload::from_msgpack_parts(src, args),
            }
        }
    })
}

/// `type`, `nsp` or `id`: decoded when it is a scalar or text, skipped (and `Null`, which no
/// check accepts) when it is anything larger, so that no field makes a large value.
fn scalar(r: &mut Reader<'_>) -> Result<Field, ParseError> {
    let start = r.pos();
    if r.array_len().map_err(invalid)?.is_some() || r.map_len().map_err(invalid)?.is_some() {
        r.rewind(start);
        r.skip().map_err(invalid)?;
        return Ok(Field::Value(Value::Null));
    }
    match r.field().map_err(invalid)? {
        Field::Value(Value::Bin(_) | Value::Array(_) | Value::Map(_)) => {
            Ok(Field::Value(Value::Null))
        }
        f => Ok(f),
    }
}

fn as_u64(f: &Field) -> Option<u64> {
    match f {
        Field::Value(v) => v.as_u64(),
        Field::Undefined => None,
    }
}

/// `data`: where its elements are (an array), where it is (a map), or what it is.
fn read_data(r: &mut Reader<'_>) -> Result<Data, ParseError> {
    let start = r.pos();
    if let Some(n) = r.array_len().map_err(invalid)? {
        let mut items = SmallVec::with_capacity(n.min(16));
        for _ in 0..n {
            let at = r.pos();
            r.skip().map_err(invalid)?;
            items.push(at..r.pos());
        }
        return Ok(Data::Array(items));
    }
    if r.map_len().map_err(invalid)?.is_some() {
        r.rewind(start);
        r.skip().map_err(invalid)?;
        return Ok(Data::Map(start..r.pos()));
    }
    Ok(match r.field().map_err(invalid)? {
        Field::Undefined => Data::Undefined,
        Field::Value(_) => Data::Other,
    })
}

/// The event's name: the first element of `data`, a string or a number (matched as its
/// JavaScript text), not a reserved one.
fn event_name(src: &[u8], at: Range<usize>) -> Result<EventName, ParseError> {
    let bytes = src.get(at.clone()).unwrap_or_default();
    let mut r = Reader::new(bytes);
    let name = match r.str_range().map_err(invalid)? {
        Some(text) => {
            let raw = bytes.get(text.clone()).unwrap_or_default();
            if std::str::from_utf8(raw).is_ok() {
                EventName::InSource(at.start + text.start..at.start + text.end)
            } else {
                // As Node reads it: invalid sequences become U+FFFD.
                EventName::Owned(String::from_utf8_lossy(raw).into_owned())
            }
        }
        None => match mp::decode(bytes) {
            Ok(Value::Int(i)) => EventName::Owned(i.to_string()),
            Ok(Value::UInt(u)) => EventName::Owned(u.to_string()),
            Ok(Value::Float(f)) => EventName::Owned(mp::js_number_text(f)),
            _ => return Err(ParseError::InvalidPayload),
        },
    };
    if is_reserved(name.bytes(src)) {
        return Err(ParseError::ReservedEvent);
    }
    Ok(name)
}

/// Encodes a packet as one binary message: `{type, data, nsp, id}` as notepack writes it.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{msgpack, Packet};
/// use sockeye_core::value::{msgpack as mp, Value};
/// let e = msgpack::encode(Packet::Connect { ns: "/", sid: "abc", pid: None }).unwrap();
/// assert_eq!(mp::decode(e.message.as_bytes()).unwrap(), Value::Map(vec![
///     ("type".into(), Value::Int(0)),
///     ("data".into(), Value::Map(vec![("sid".into(), "abc".into())])),
///     ("nsp".into(), "/".into()),
/// ]));
/// ```
///
/// # Errors
/// When [`Args::Data`] does not serialize (to an array, when spread), or a JSON payload's
/// text does not parse.
pub fn encode(packet: Packet<'_>) -> Result<Encoded, serde_json::Error> {
    with_scratch(|out| {
        match packet {
            Packet::Connect { ns, sid, pid } => {
                head(out, 3, PacketType::Connect);
                mp::write_str(out, "data");
                map_len(out, 1 + usize::from(pid.is_some()));
                mp::write_str(out, "sid");
                mp::write_str(out, sid);
                if let Some(pid) = pid {
                    mp::write_str(out, "pid");
                    mp::write_str(out, pid);
                }
                nsp(out, ns);
            }
            Packet::ConnectError { ns, message, data } => {
                head(out, 3, PacketType::ConnectError);
                mp::write_str(out, "data");
                map_len(out, 1 + usize::from(data.is_some()));
                mp::write_str(out, "message");
                mp::write_str(out, message);
                if let Some(data) = data {
                    mp::write_str(out, "data");
                    mp::encode_into(out, &value::to_value(data)?);
                }
                nsp(out, ns);
            }
            Packet::Disconnect { ns } => {
                head(out, 2, PacketType::Disconnect);
                nsp(out, ns);
            }
            Packet::Event {
                ns,
                event,
                args,
                id,
                offset,
            } => {
                head(out, 3 + usize::from(id.is_some()), PacketType::Event);
                mp::write_str(out, "data");
                let extra = 1 + usize::from(offset.is_some());
                write_args(out, args, extra, |out| mp::write_str(out, event))?;
                if let Some(offset) = offset {
                    mp::write_str(out, offset);
                }
                nsp(out, ns);
                if let Some(id) = id {
                    mp::write_str(out, "id");
                    let _ = rmp::encode::write_uint(out, id);
                }
            }
            Packet::Ack { ns, id, args } => {
                head(out, 4, PacketType::Ack);
                mp::write_str(out, "data");
                write_args(out, args, 0, |_| {})?;
                nsp(out, ns);
                mp::write_str(out, "id");
                let _ = rmp::encode::write_uint(out, id);
            }
        }
        Ok(Encoded::binary(Bytes::copy_from_slice(out)))
    })
}

/// A map of `entries` keys, the first being `type`.
fn head(out: &mut Vec<u8>, entries: usize, ty: PacketType) {
    map_len(out, entries);
    mp::write_str(out, "type");
    out.push(ty as u8);
}

fn map_len(out: &mut Vec<u8>, n: usize) {
    // Writing to a `Vec` cannot fail.
    let _ = rmp::encode::write_map_len(out, u32::try_from(n).unwrap_or(u32::MAX));
}

fn nsp(out: &mut Vec<u8>, ns: &str) {
    mp::write_str(out, "nsp");
    mp::write_str(out, ns);
}

/// The `data` array: `extra` items written first by `before` (the event's name) and after
/// (the offset, by the caller), the arguments between them.
fn write_args(
    out: &mut Vec<u8>,
    args: Args<'_>,
    extra: usize,
    before: impl FnOnce(&mut Vec<u8>),
) -> Result<(), serde_json::Error> {
    let array = |out: &mut Vec<u8>, n: usize| {
        let _ = rmp::encode::write_array_len(out, u32::try_from(n).unwrap_or(u32::MAX));
    };
    match args {
        Args::Payload(p) => {
            if let Some((src, ranges)) = p.msgpack_parts() {
                // Received in msgpack: the arguments' bytes as they came.
                array(out, ranges.len() + extra);
                before(out);
                for r in ranges {
                    out.extend_from_slice(src.get(r.clone()).unwrap_or(&[0xc0]));
                }
            } else {
                let values: Cow<'_, [Value]> = match p.values() {
                    Some(v) => Cow::Borrowed(v),
                    None => Cow::Owned(p.to_values()?),
                };
                array(out, values.len() + extra);
                before(out);
                for v in values.iter() {
                    mp::encode_into(out, v);
                }
            }
        }
        Args::Data(data, mode) => {
            let v = data.to_value()?;
            match (mode, v) {
                (ArgsMode::Spread, Value::Array(items)) => {
                    array(out, items.len() + extra);
                    before(out);
                    for v in &items {
                        mp::encode_into(out, v);
                    }
                }
                (ArgsMode::Spread, _) => {
                    return Err(serde::ser::Error::custom(
                        "the arguments must serialize to an array",
                    ))
                }
                (ArgsMode::One, v) => {
                    array(out, 1 + extra);
                    before(out);
                    mp::encode_into(out, &v);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Value)>) -> Bytes {
        let v = Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect());
        Bytes::from(mp::encode(&v))
    }

    fn event(data: Vec<Value>) -> Bytes {
        map(vec![
            ("type", Value::Int(2)),
            ("data", Value::Array(data)),
            ("nsp", "/".into()),
        ])
    }

    #[test]
    fn what_socket_io_client_sends() {
        // `socket.emit("m", 1, "a", cb)`: socket.io-client 4.8 adds `options`; key order is its.
        let src = map(vec![
            ("type", Value::Int(2)),
            (
                "data",
                Value::Array(vec!["m".into(), Value::Int(1), "a".into()]),
            ),
            (
                "options",
                Value::Map(vec![("compress".into(), Value::Bool(true))]),
            ),
            ("id", Value::Int(7)),
            ("nsp", "/chat".into()),
        ]);
        match decode(src) {
            Ok(Incoming::Event {
                ns,
                event,
                payload,
                id,
            }) => {
                assert_eq!((&*ns, id), ("/chat", Some(7)));
                assert_eq!(event.bytes(payload.src()), b"m");
                assert_eq!(payload.args::<(u8, String)>().unwrap(), (1, "a".into()));
            }
            other => panic!("{other:?}"),
        }
        // CONNECT without auth: notepack 2's `undefined` (fixext 1, type 0) as `data`.
        let mut undefined = map(vec![("type", Value::Int(0)), ("nsp", "/".into())]).to_vec();
        undefined[0] += 1;
        undefined.extend_from_slice(b"\xa4data\xd4\x00\x00");
        assert!(matches!(
            decode(undefined.into()),
            Ok(Incoming::Connect { auth: None, .. })
        ));
        // An ACK, binary inline.
        let ack = map(vec![
            ("type", Value::Int(3)),
            (
                "data",
                Value::Array(vec![Value::Bin(Bytes::from_static(b"\x00\x01"))]),
            ),
            ("nsp", "/".into()),
            ("id", Value::Float(5.0)),
        ]);
        match decode(ack) {
            Ok(Incoming::Ack { id: 5, payload, .. }) => {
                assert_eq!(payload.binaries(), vec![Bytes::from_static(b"\x00\x01")]);
                assert_eq!(
                    payload.arg::<Bytes>(0).unwrap(),
                    Bytes::from_static(b"\x00\x01")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(map(vec![("type", Value::Int(1)), ("nsp", "/a".into())])),
            Ok(Incoming::Disconnect { ns }) if ns == "/a"
        ));
        // A numeric event name is matched as its text.
        match decode(event(vec![Value::Float(1.5), Value::Null])) {
            Ok(Incoming::Event { event, .. }) => {
                assert_eq!(event, EventName::Owned("1.5".into()))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_shapes_are_refused() {
        let s = |v: &str| Value::Str(v.into());
        let bad: Vec<(Bytes, ParseError)> = vec![
            (
                Bytes::from_static(b"\x93\x02\x90\xa1/"),
                ParseError::InvalidType,
            ),
            (Bytes::new(), ParseError::InvalidMsgpack),
            (Bytes::from_static(b"\xc1"), ParseError::InvalidMsgpack),
            (map(vec![("nsp", s("/"))]), ParseError::InvalidType),
            (
                map(vec![("type", Value::Int(4)), ("nsp", s("/"))]),
                ParseError::InvalidType,
            ),
            (
                map(vec![("type", Value::Int(5)), ("nsp", s("/"))]),
                ParseError::InvalidType,
            ),
            (
                map(vec![("type", Value::Float(2.5)), ("nsp", s("/"))]),
                ParseError::InvalidType,
            ),
            (
                map(vec![("type", s("2")), ("nsp", s("/"))]),
                ParseError::InvalidType,
            ),
            (
                map(vec![
                    ("type", Value::Int(2)),
                    ("data", Value::Array(vec![s("m")])),
                ]),
                ParseError::InvalidPayload,
            ),
            (
                map(vec![
                    ("type", Value::Int(2)),
                    ("data", Value::Array(vec![s("m")])),
                    ("nsp", Value::Int(1)),
                ]),
                ParseError::InvalidPayload,
            ),
            (event(vec![]), ParseError::InvalidPayload),
            (event(vec![Value::Null]), ParseError::InvalidPayload),
            (
                event(vec![Value::Map(vec![("toString".into(), s("x"))])]),
                ParseError::InvalidPayload,
            ),
            (event(vec![s("disconnect")]), ParseError::ReservedEvent),
            (
                map(vec![
                    ("type", Value::Int(2)),
                    ("data", s("m")),
                    ("nsp", s("/")),
                ]),
                ParseError::InvalidPayload,
            ),
            (
                map(vec![
                    ("type", Value::Int(2)),
                    ("data", Value::Array(vec![s("m")])),
                    ("nsp", s("/")),
                    ("id", Value::Int(-1)),
                ]),
                ParseError::InvalidNumber,
            ),
            (
                map(vec![
                    ("type", Value::Int(2)),
                    ("data", Value::Array(vec![s("m")])),
                    ("nsp", s("/")),
                    ("id", Value::Null),
                ]),
                ParseError::InvalidNumber,
            ),
            (
                map(vec![
                    ("type", Value::Int(2)),
                    ("data", Value::Array(vec![s("m")])),
                    ("nsp", s("/")),
                    ("id", Value::Int(1 << 53)),
                ]),
                ParseError::InvalidNumber,
            ),
            (
                map(vec![
                    ("type", Value::Int(3)),
                    ("data", Value::Array(vec![])),
                    ("nsp", s("/")),
                ]),
                ParseError::InvalidPayload,
            ),
            (
                map(vec![
                    ("type", Value::Int(0)),
                    ("data", Value::Null),
                    ("nsp", s("/")),
                ]),
                ParseError::InvalidPayload,
            ),
            (
                map(vec![
                    ("type", Value::Int(0)),
                    ("data", Value::Array(vec![])),
                    ("nsp", s("/")),
                ]),
                ParseError::InvalidPayload,
            ),
            (
                map(vec![
                    ("type", Value::Int(1)),
                    ("data", Value::Null),
                    ("nsp", s("/")),
                ]),
                ParseError::InvalidPayload,
            ),
        ];
        for (input, want) in bad {
            assert_eq!(decode(input.clone()).err(), Some(want), "{input:x?}");
        }
        // Trailing bytes after the packet.
        let mut trailing = event(vec![s("m")]).to_vec();
        trailing.push(0xc0);
        assert_eq!(
            decode(trailing.into()).err(),
            Some(ParseError::InvalidMsgpack)
        );
        // A text message.
        let mut state = DecodeState::default();
        assert_eq!(
            MsgpackParser
                .decode(
                    Message::Text("2[\"m\"]".into()),
                    &mut state,
                    &DecodeLimits::default()
                )
                .err(),
            Some(ParseError::UnexpectedText)
        );
    }

    #[test]
    fn hostile_input_is_bounded() {
        // Deep nesting inside an argument: refused at 129 levels, never a stack overflow.
        let nested = |levels: usize| {
            let mut v = b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1m".to_vec();
            v.extend(std::iter::repeat_n(0x91, levels));
            v.push(0xc0);
            Bytes::from(v)
        };
        assert!(decode(nested(128)).is_ok());
        assert_eq!(decode(nested(129)).err(), Some(ParseError::InvalidMsgpack));
        assert_eq!(
            decode(nested(1_000_000)).err(),
            Some(ParseError::InvalidMsgpack)
        );
        // Declared lengths far past the bytes: refused before anything is made.
        for input in [
            &b"\xdf\xff\xff\xff\xff"[..],
            b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\xdd\xff\xff\xff\xff",
            b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1m\xc6\xff\xff\xff\xff",
            b"\x83\xa4type\x02\xa3nsp\xdb\xff\xff\xff\xff/",
            b"\x81\xa2id",
        ] {
            assert_eq!(
                decode(Bytes::copy_from_slice(input)).err(),
                Some(ParseError::InvalidMsgpack),
                "{input:x?}"
            );
        }
        // A large value where a scalar belongs is skipped, not built.
        let mut big = b"\x83\xa4type\xdd\x00\x01\x00\x00".to_vec();
        big.extend(std::iter::repeat_n(0xc0, 65_536));
        big.extend_from_slice(b"\xa3nsp\xa1/\xa4data\x91\xa1m");
        assert_eq!(decode(big.into()).err(), Some(ParseError::InvalidType));
    }

    #[test]
    fn encodes_as_socket_io_msgpack_parser_reads() {
        let dec = |e: Encoded| {
            assert!(e.message.is_binary() && e.bins.is_empty());
            mp::decode(e.message.as_bytes()).unwrap()
        };
        let bin = Bytes::from_static(b"\x01\x02");
        let args = Payload::from_values(vec!["a".into(), Value::Bin(bin.clone())]);
        let e = encode(Packet::Event {
            ns: "/chat",
            event: "m",
            args: Args::Payload(&args),
            id: Some(3),
            offset: Some("off"),
        })
        .unwrap();
        assert_eq!(
            dec(e),
            Value::Map(vec![
                ("type".into(), Value::Int(2)),
                (
                    "data".into(),
                    Value::Array(vec!["m".into(), "a".into(), Value::Bin(bin), "off".into()])
                ),
                ("nsp".into(), "/chat".into()),
                ("id".into(), Value::Int(3)),
            ])
        );
        let e = encode(Packet::Ack {
            ns: "/",
            id: 9,
            args: Args::Data(&("x", 1.5), ArgsMode::Spread),
        })
        .unwrap();
        assert_eq!(
            dec(e),
            Value::Map(vec![
                ("type".into(), Value::Int(3)),
                (
                    "data".into(),
                    Value::Array(vec!["x".into(), Value::Float(1.5)])
                ),
                ("nsp".into(), "/".into()),
                ("id".into(), Value::Int(9)),
            ])
        );
        let refusal = serde_json::json!({"reason": "bad"});
        let e = encode(Packet::ConnectError {
            ns: "/",
            message: "no",
            data: Some(&refusal),
        })
        .unwrap();
        assert_eq!(
            dec(e),
            Value::Map(vec![
                ("type".into(), Value::Int(4)),
                (
                    "data".into(),
                    Value::Map(vec![
                        ("message".into(), "no".into()),
                        (
                            "data".into(),
                            Value::Map(vec![("reason".into(), "bad".into())])
                        ),
                    ])
                ),
                ("nsp".into(), "/".into()),
            ])
        );
        let e = encode(Packet::Disconnect { ns: "/x" }).unwrap();
        assert_eq!(
            dec(e),
            Value::Map(vec![
                ("type".into(), Value::Int(1)),
                ("nsp".into(), "/x".into())
            ])
        );
        // A JSON payload (placeholders and attachments) goes through values.
        let json = Payload::from_args(
            &[serde_json::json!({"_placeholder": true, "num": 0})],
            vec![Bytes::from_static(b"z")],
        )
        .unwrap();
        let e = encode(Packet::Event {
            ns: "/",
            event: "j",
            args: Args::Payload(&json),
            id: None,
            offset: None,
        })
        .unwrap();
        assert_eq!(
            dec(e).get("data"),
            Some(&Value::Array(vec![
                "j".into(),
                Value::Bin(Bytes::from_static(b"z"))
            ]))
        );
        assert!(encode(Packet::Event {
            ns: "/",
            event: "m",
            args: Args::Data(&1, ArgsMode::Spread),
            id: None,
            offset: None,
        })
        .is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoder_never_panics(input: Vec<u8>) {
            let _ = decode(input.into());
        }

        #[test]
        fn relayed_events_keep_their_bytes(args: Vec<String>, nums: Vec<i64>, id in proptest::option::of(0u64..MAX_ACK_ID)) {
            let mut data = vec![Value::from("ev")];
            data.extend(args.iter().map(|a| Value::from(a.as_str())));
            data.extend(nums.iter().map(|&n| Value::Int(n)));
            let mut entries = vec![("type", Value::Int(2)), ("data", Value::Array(data.clone())), ("nsp", "/".into())];
            if let Some(id) = id {
                entries.push(("id", Value::UInt(id)));
            }
            let src = map(entries);
            let Ok(Incoming::Event { payload, id: got_id, .. }) = decode(src.clone()) else {
                panic!("not an event");
            };
            proptest::prop_assert_eq!(got_id, id);
            let out = encode(Packet::Event { ns: "/", event: "ev", args: Args::Payload(&payload), id, offset: None }).unwrap();
            proptest::prop_assert_eq!(out.message.as_bytes(), &mp::encode(&mp::decode(&src).unwrap()));
            proptest::prop_assert_eq!(payload.to_values().unwrap(), data[1..].to_vec());
        }
    }
}
