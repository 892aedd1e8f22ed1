//! The JSON parser: Node's default `socket.io-parser` (Socket.IO v5, and v4 for
//! socket.io-client 2.x), sans-IO.
//!
//! A packet is `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`. Binary packets
//! (types 5 and 6) replace each binary value by `{"_placeholder":true,"num":N}` and travel as
//! the text packet followed by N binary messages.
//!
//! [`JsonParser`] is the [`Parser`] over the functions below; they stay public
//! for the v4 protocol's own packets (`encode_connect_v4`, `encode_connect_error_v4`), which
//! only this parser speaks, and for tests and fuzzing.

use std::borrow::Cow;
use std::io;
use std::ops::Range;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{
    is_reserved, with_scratch, Args, ArgsMode, DecodeLimits, DecodeState, DynSerialize, Encoded,
    EventName, Incoming, Message, Packet, PacketType, Parser, Partial, MAX_ACK_ID,
};
use crate::errors::ParseError;
use crate::payload::Payload;

/// The JSON parser, Node's default (`socket.io-parser`): text packets, binary values as
/// placeholders whose bytes follow as binary messages.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{DecodeLimits, DecodeState, Incoming, JsonParser, Message, Parser};
/// let mut state = DecodeState::default();
/// let msg = Message::Text(r#"2/chat,7["hello","world"]"#.into());
/// match JsonParser.decode(msg, &mut state, &DecodeLimits::default()) {
///     Ok(Some(Incoming::Event { ns, id, payload, .. })) => {
///         assert_eq!((&*ns, id, payload.arg::<String>(0).unwrap().as_str()), ("/chat", Some(7), "world"));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonParser;

impl Parser for JsonParser {
    fn decode(
        &self,
        msg: Message,
        state: &mut DecodeState,
        limits: &DecodeLimits,
    ) -> Result<Option<Incoming>, ParseError> {
        match msg {
            Message::Text(text) => {
                if state.partial.is_some() {
                    // Node: "got plaintext data when reconstructing a packet".
                    return Err(ParseError::UnexpectedText);
                }
                decode_text(text, *limits, state)
            }
            Message::Binary(data) => attachment(data, state, limits),
        }
    }

    fn encode(&self, packet: Packet<'_>) -> Result<Encoded, serde_json::Error> {
        match packet {
            Packet::Event {
                ns,
                event,
                args: Args::Payload(p),
                id,
                offset,
            } => encode_from_payload(PacketType::Event, ns, Some(event), p, id, offset),
            Packet::Event {
                ns,
                event,
                args: Args::Data(data, mode),
                id,
                offset,
            } => {
                if offset.is_some() {
                    // The offset is one more argument: through a payload (recovery is not
                    // the hot path).
                    let args = Args::Data(data, mode);
                    let p = args.to_payload()?;
                    encode_from_payload(PacketType::Event, ns, Some(event), &p, id, offset)
                } else {
                    encode_event_dyn(ns, event, data, mode, id)
                }
            }
            Packet::Ack {
                ns,
                id,
                args: Args::Payload(p),
            } => encode_ack_payload(ns, id, p),
            Packet::Ack {
                ns,
                id,
                args: Args::Data(data, mode),
            } => encode_ack_dyn(ns, id, data, mode),
            Packet::Connect { ns, sid, pid } => {
                Ok(Encoded::text(encode_connect_with_pid(ns, sid, pid)))
            }
            Packet::ConnectError { ns, message, data } => {
                Ok(Encoded::text(encode_connect_error(ns, message, data)))
            }
            Packet::Disconnect { ns } => Ok(Encoded::text(encode_disconnect(ns))),
        }
    }
}

/// One binary message for the packet `state` waits for: the packet, once it has them all.
fn attachment(
    data: Bytes,
    state: &mut DecodeState,
    limits: &DecodeLimits,
) -> Result<Option<Incoming>, ParseError> {
    let Some(p) = state.partial.as_mut() else {
        return Err(ParseError::UnexpectedBinary);
    };
    p.bytes = p.bytes.saturating_add(data.len());
    if p.bytes > limits.max_attachment_bytes {
        state.partial = None;
        return Err(ParseError::AttachmentsTooLarge);
    }
    p.bins.push(data);
    if p.bins.len() < p.expected {
        return Ok(None);
    }
    let Some(done) = state.partial.take() else {
        return Ok(None);
    };
    let Partial { header, bins, .. } = *done;
    let packet = match header {
        Incoming::Event {
            ns,
            event,
            payload,
            id,
        } => Incoming::Event {
            ns,
            event,
            payload: payload.with_bins(bins),
            id,
        },
        Incoming::Ack { ns, id, payload } => Incoming::Ack {
            ns,
            id,
            payload: payload.with_bins(bins),
        },
        other => other,
    };
    if let Incoming::Event { payload, .. } | Incoming::Ack { payload, .. } = &packet {
        check_placeholders(payload)?;
    }
    Ok(Some(packet))
}

/// Either a whole packet or the start of a binary one.
#[derive(Debug)]
pub enum Decoded {
    /// A complete packet.
    Whole(Incoming),
    /// A binary packet: its attachments follow as binary messages.
    Partial(Partial),
}

fn digits(s: &[u8], pos: &mut usize, max_digits: usize) -> Result<Option<u64>, ParseError> {
    let start = *pos;
    let mut v: u64 = 0;
    while let Some(&c) = s.get(*pos) {
        if !c.is_ascii_digit() {
            break;
        }
        if *pos - start >= max_digits {
            return Err(ParseError::InvalidNumber);
        }
        v = v * 10 + u64::from(c - b'0');
        *pos += 1;
    }
    Ok((*pos > start).then_some(v))
}

/// Decodes one text packet from a client.
///
/// `src` is a text message, which the engine checked is UTF-8 (a WebSocket text frame or a
/// polling payload); the arguments stay the bytes they came as, and only the short pieces
/// turned into strings here (namespace, query, event name) are checked again.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{json::{decode, Decoded}, DecodeLimits, Incoming};
/// let Ok(Decoded::Partial(p)) = decode(r#"51-["up",{"_placeholder":true,"num":0}]"#.into(), DecodeLimits::default()) else {
///     panic!("a binary packet");
/// };
/// assert!(matches!(p.header, Incoming::Event { .. }) && p.expected == 1);
/// ```
///
/// # Errors
/// When the text is not a valid client packet, or announces more attachments than allowed.
pub fn decode(src: Bytes, limits: DecodeLimits) -> Result<Decoded, ParseError> {
    let mut state = DecodeState::default();
    match decode_text(src, limits, &mut state)? {
        Some(p) => Ok(Decoded::Whole(p)),
        None => match state.partial {
            Some(p) => Ok(Decoded::Partial(*p)),
            None => Err(ParseError::InvalidAttachments),
        },
    }
}

/// [`decode`], a binary packet's start kept in `state` (no move of the whole packet on the
/// usual path: it is made where the caller reads it).
fn decode_text(
    src: Bytes,
    limits: DecodeLimits,
    state: &mut DecodeState,
) -> Result<Option<Incoming>, ParseError> {
    let b: &[u8] = &src;
    let utf8 = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| ParseError::InvalidUtf8)
    };
    let ty = match b.first() {
        Some(b'0') => PacketType::Connect,
        Some(b'1') => PacketType::Disconnect,
        Some(b'2') => PacketType::Event,
        Some(b'3') => PacketType::Ack,
        Some(b'5') => PacketType::BinaryEvent,
        Some(b'6') => PacketType::BinaryAck,
        // 4 (CONNECT_ERROR) is sent by servers only.
        _ => return Err(ParseError::InvalidType),
    };
    let mut pos = 1;
    let mut attachments = 0;
    if matches!(ty, PacketType::BinaryEvent | PacketType::BinaryAck) {
        let n = digits(b, &mut pos, 10)?.ok_or(ParseError::InvalidAttachments)?;
        if b.get(pos) != Some(&b'-') || n == 0 {
            return Err(ParseError::InvalidAttachments);
        }
        if n > limits.max_attachments as u64 {
            return Err(ParseError::TooManyAttachments);
        }
        attachments = n as usize;
        pos += 1;
    }
    let mut query = None;
    let ns = if b.get(pos) == Some(&b'/') {
        let rest = b.get(pos..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|&c| c == b',')
            .map_or(b.len(), |i| pos + i);
        let mut ns = b.get(pos..end).unwrap_or_default();
        // A v4-protocol query string after the name is not part of the name.
        if let Some(q) = ns.iter().position(|&c| c == b'?') {
            query = Some(utf8(ns.get(q + 1..).unwrap_or_default())?);
            ns = ns.get(..q).unwrap_or_default();
        }
        pos = if end < b.len() { end + 1 } else { end };
        Cow::Owned(utf8(ns)?)
    } else {
        Cow::Borrowed("/")
    };
    let id = digits(b, &mut pos, 16)?;
    if id.is_some_and(|id| id >= MAX_ACK_ID) {
        return Err(ParseError::InvalidNumber);
    }
    let json = pos..b.len();
    let has_json = !json.is_empty();
    let incoming = match ty {
        PacketType::Connect => {
            if id.is_some() {
                return Err(ParseError::InvalidPayload);
            }
            let auth = if has_json {
                let text = std::str::from_utf8(b.get(json.clone()).unwrap_or_default())
                    .map_err(|_| ParseError::InvalidUtf8)?;
                let v: &RawValue =
                    serde_json::from_str(text).map_err(|_| ParseError::InvalidJson)?;
                if !v.get().starts_with('{') {
                    return Err(ParseError::InvalidPayload);
                }
                Some(Payload::from_json_parts(
                    src.clone(),
                    std::iter::once(json).collect(),
                    Vec::new(),
                ))
            } else {
                None
            };
            Incoming::Connect { ns, auth, query }
        }
        PacketType::Disconnect => {
            if has_json || id.is_some() {
                return Err(ParseError::InvalidPayload);
            }
            Incoming::Disconnect { ns }
        }
        PacketType::Event | PacketType::BinaryEvent => {
            let mut args = split_array(b, json)?;
            if args.is_empty() {
                return Err(ParseError::InvalidPayload);
            }
            let first = args.remove(0);
            let event = event_name(b, first)?;
            let payload = Payload::from_json_parts(src, args, Vec::new());
            if attachments == 0 {
                // The usual packet, made where the caller reads it.
                return Ok(Some(Incoming::Event {
                    ns,
                    event,
                    payload,
                    id,
                }));
            }
            Incoming::Event {
                ns,
                event,
                payload,
                id,
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            let id = id.ok_or(ParseError::InvalidPayload)?;
            let args = split_array(b, json)?;
            Incoming::Ack {
                ns,
                id,
                payload: Payload::from_json_parts(src, args, Vec::new()),
            }
        }
        PacketType::ConnectError => return Err(ParseError::InvalidType),
    };
    if attachments > 0 {
        state.partial = Some(Box::new(Partial {
            header: incoming,
            expected: attachments,
            bins: Vec::new(),
            bytes: 0,
        }));
        return Ok(None);
    }
    Ok(Some(incoming))
}

type ArgRanges = crate::json::Ranges;

/// The ranges (into `s`) of the elements of the JSON array at `json`.
pub fn split_array(s: &[u8], json: Range<usize>) -> Result<ArgRanges, ParseError> {
    let text = s.get(json.clone()).unwrap_or_default();
    if !text.starts_with(b"[") {
        return Err(ParseError::InvalidPayload);
    }
    let mut items = crate::json::array_elements(text).map_err(|_| ParseError::InvalidJson)?;
    for r in items.iter_mut() {
        *r = r.start + json.start..r.end + json.start;
    }
    Ok(items)
}

/// The event name at `at` in `b` (the first element of the array).
fn event_name(b: &[u8], at: Range<usize>) -> Result<EventName, ParseError> {
    let raw = b.get(at.clone()).unwrap_or_default();
    let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
    let name = if raw.first() == Some(&b'"') && crate::json::plain_run(inner) == inner.len() {
        // Validated JSON already: without escapes, the name is the text between the quotes.
        EventName::InSource(at.start + 1..at.end - 1)
    } else if raw.starts_with(b"\"") {
        let raw = std::str::from_utf8(raw).map_err(|_| ParseError::InvalidUtf8)?;
        EventName::Owned(
            serde_json::from_str::<String>(raw).map_err(|_| ParseError::InvalidPayload)?,
        )
    } else if raw
        .first()
        .is_some_and(|&c| c == b'-' || c.is_ascii_digit())
    {
        // Node accepts a numeric event name; it is matched as its decimal text.
        let n: serde_json::Number =
            serde_json::from_slice(raw).map_err(|_| ParseError::InvalidPayload)?;
        EventName::Owned(n.to_string())
    } else {
        return Err(ParseError::InvalidPayload);
    };
    if is_reserved(name.bytes(b)) {
        return Err(ParseError::ReservedEvent);
    }
    Ok(name)
}

/// Checks the placeholders of a completed binary packet: each `{"_placeholder":true,...}`
/// must carry an integer `num` below the number of attachments.
pub fn check_placeholders(payload: &Payload) -> Result<(), ParseError> {
    let n = payload.bins().len() as u64;
    let Some((src, ranges)) = payload.json_parts() else {
        return Ok(());
    };
    for range in ranges {
        let Some(text) = src.get(range.clone()) else {
            return Err(ParseError::InvalidPayload);
        };
        // serde_json refuses nesting deeper than 128, so the walk below is bounded too.
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|_| ParseError::InvalidJson)?;
        let mut stack = vec![&value];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Array(a) => stack.extend(a.iter()),
                serde_json::Value::Object(o) => {
                    if o.get("_placeholder") == Some(&serde_json::Value::Bool(true)) {
                        let ok = o
                            .get("num")
                            .and_then(serde_json::Value::as_u64)
                            .is_some_and(|num| num < n);
                        if !ok {
                            return Err(ParseError::InvalidAttachments);
                        }
                    } else {
                        stack.extend(o.values());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A serde_json formatter that writes binary values as placeholders and keeps the bytes.
pub(crate) struct BinFormatter<'a> {
    pub(crate) bins: &'a mut Vec<Bytes>,
}

impl serde_json::ser::Formatter for BinFormatter<'_> {
    fn write_byte_array<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        value: &[u8],
    ) -> io::Result<()> {
        write!(w, "{{\"_placeholder\":true,\"num\":{}}}", self.bins.len())?;
        self.bins.push(Bytes::copy_from_slice(value));
        Ok(())
    }
}

/// Writes the packet header for `ty` (the attachment count is patched in later).
fn header(out: &mut Vec<u8>, ty: PacketType, ns: &str, id: Option<u64>) {
    out.push(b'0' + ty as u8);
    header_rest(out, ns, id);
}

/// The packet built in `out`, as a binary packet when its JSON held binary values.
fn finish(out: &[u8], bins: Vec<Bytes>, binary_ty: PacketType) -> Encoded {
    let text = if bins.is_empty() {
        Bytes::copy_from_slice(out)
    } else {
        let mut head = vec![b'0' + binary_ty as u8];
        head.extend_from_slice(bins.len().to_string().as_bytes());
        head.push(b'-');
        head.extend_from_slice(out.get(1..).unwrap_or_default());
        Bytes::from(head)
    };
    Encoded {
        message: Message::Text(text),
        bins,
    }
}

/// Serializes `data` after `prefix` (e.g. `["event",`), handling [`ArgsMode`].
fn write_args(
    out: &mut Vec<u8>,
    data: &dyn DynSerialize,
    mode: ArgsMode,
    bins: &mut Vec<Bytes>,
    has_prefix: bool,
) -> Result<(), serde_json::Error> {
    let at = out.len();
    data.write_json(out, bins)?;
    match mode {
        ArgsMode::One => {
            if !has_prefix {
                out.insert(at, b'[');
            }
            out.push(b']');
        }
        ArgsMode::Spread => {
            if out.get(at) != Some(&b'[') {
                return Err(serde::ser::Error::custom(
                    "the arguments must serialize to a JSON array",
                ));
            }
            if has_prefix {
                if out.len() - at == 2 {
                    // `["event",[]` → `["event"]`
                    out.truncate(at - 1);
                    out.push(b']');
                } else {
                    out.remove(at);
                }
            }
        }
    }
    Ok(())
}

/// Encodes an EVENT packet: `2[/ns,][id]["event",...args]`.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{json, ArgsMode, Message};
/// let e = json::encode_event("/", "m", &(1, "a"), ArgsMode::Spread, Some(4)).unwrap();
/// assert_eq!(e.message, Message::Text(r#"24["m",1,"a"]"#.into()));
/// ```
///
/// # Errors
/// When `data` does not serialize (to an array, when spread).
pub fn encode_event<T: Serialize + ?Sized>(
    ns: &str,
    event: &str,
    data: &T,
    mode: ArgsMode,
    id: Option<u64>,
) -> Result<Encoded, serde_json::Error> {
    encode_event_dyn(ns, event, &data, mode, id)
}

/// [`encode_event`] behind a `dyn`.
fn encode_event_dyn(
    ns: &str,
    event: &str,
    data: &dyn DynSerialize,
    mode: ArgsMode,
    id: Option<u64>,
) -> Result<Encoded, serde_json::Error> {
    with_scratch(|out| {
        header(out, PacketType::Event, ns, id);
        out.push(b'[');
        crate::value::json::write_str(out, event);
        out.push(b',');
        let mut bins = Vec::new();
        write_args(out, data, mode, &mut bins, true)?;
        Ok(finish(out, bins, PacketType::BinaryEvent))
    })
}

/// Encodes an EVENT packet from a [`Payload`] (a received one's arguments and attachments as
/// they came).
///
/// # Examples
/// ```
/// use sockeye_core::{parser::{json, Message}, Payload};
/// let args = Payload::from_args(&["ACME"], vec![]).unwrap();
/// let e = json::encode_event_payload("/", "price", &args, None).unwrap();
/// assert_eq!(e.message, Message::Text(r#"2["price","ACME"]"#.into()));
/// ```
///
/// # Errors
/// When the payload is in another parser's form and does not convert (it is not valid).
pub fn encode_event_payload(
    ns: &str,
    event: &str,
    payload: &Payload,
    id: Option<u64>,
) -> Result<Encoded, serde_json::Error> {
    encode_from_payload(PacketType::Event, ns, Some(event), payload, id, None)
}

/// Encodes an EVENT packet from a [`Payload`] with `offset` as one more (last) argument: how
/// a broadcast that a reconnecting client may ask for again travels when connection state
/// recovery is on (the client keeps the last string argument of each event as its offset).
///
/// # Examples
/// ```
/// use sockeye_core::{parser::{json, Message}, Payload};
/// let args = Payload::from_args(&["ACME"], vec![]).unwrap();
/// let e = json::encode_event_with_offset("/", "price", &args, "MsR7a3l").unwrap();
/// assert_eq!(e.message, Message::Text(r#"2["price","ACME","MsR7a3l"]"#.into()));
/// ```
///
/// # Errors
/// As [`encode_event_payload`].
pub fn encode_event_with_offset(
    ns: &str,
    event: &str,
    payload: &Payload,
    offset: &str,
) -> Result<Encoded, serde_json::Error> {
    encode_from_payload(
        PacketType::Event,
        ns,
        Some(event),
        payload,
        None,
        Some(offset),
    )
}

/// An EVENT (with its name first) or an ACK made of a payload's arguments, as a binary packet
/// when the payload has attachments.
/// `tail`, when given, is one more string argument after the payload's (a recovery offset).
fn encode_from_payload(
    ty: PacketType,
    ns: &str,
    event: Option<&str>,
    payload: &Payload,
    id: Option<u64>,
    tail: Option<&str>,
) -> Result<Encoded, serde_json::Error> {
    let Some((src, ranges)) = payload.json_parts() else {
        return Ok(match payload.values() {
            Some(values) => encode_values(ty, ns, event, values, id, tail),
            // Another parser's form (msgpack): through values.
            None => encode_values(ty, ns, event, &payload.to_values()?, id, tail),
        });
    };
    // A packet with a tail (an offset: connection state recovery) takes the general path,
    // which keeps the usual one as lean as it was.
    if payload.bins().is_empty() && tail.is_none() {
        if let Some(text) = encode_plain(ty, ns, event, src, ranges, id) {
            return Ok(Encoded::text(text));
        }
    }
    Ok(encode_from_payload_general(
        ty, ns, event, payload, id, tail,
    ))
}

/// An EVENT or an ACK made of structured arguments, their binary values as attachments.
fn encode_values(
    ty: PacketType,
    ns: &str,
    event: Option<&str>,
    values: &[crate::value::Value],
    id: Option<u64>,
    tail: Option<&str>,
) -> Encoded {
    with_scratch(|out| {
        header(out, ty, ns, id);
        out.push(b'[');
        let mut first = true;
        if let Some(event) = event {
            crate::value::json::write_str(out, event);
            first = false;
        }
        let mut bins = Vec::new();
        for v in values {
            if !first {
                out.push(b',');
            }
            first = false;
            crate::value::json::write(out, v, &mut bins);
        }
        write_tail(out, tail, first);
        out.push(b']');
        let binary_ty = match ty {
            PacketType::Ack => PacketType::BinaryAck,
            _ => PacketType::BinaryEvent,
        };
        finish(out, bins, binary_ty)
    })
}

/// [`encode_from_payload`] for any JSON payload, through the thread's scratch buffer.
fn encode_from_payload_general(
    ty: PacketType,
    ns: &str,
    event: Option<&str>,
    payload: &Payload,
    id: Option<u64>,
    tail: Option<&str>,
) -> Encoded {
    let binary = !payload.bins().is_empty();
    let ty = match (ty, binary) {
        (PacketType::Event, true) => PacketType::BinaryEvent,
        (PacketType::Ack, true) => PacketType::BinaryAck,
        (ty, _) => ty,
    };
    let (src, ranges) = match payload.json_parts() {
        Some((src, ranges)) => (&src[..], ranges),
        None => (&[][..], &[][..]),
    };
    let text = with_scratch(|out| {
        out.push(b'0' + ty as u8);
        if binary {
            out.extend_from_slice(payload.bins().len().to_string().as_bytes());
            out.push(b'-');
        }
        header_rest(out, ns, id);
        out.push(b'[');
        let mut first = true;
        if let Some(event) = event {
            crate::value::json::write_str(out, event);
            first = false;
        }
        for r in ranges {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(src.get(r.clone()).unwrap_or(b"null"));
        }
        write_tail(out, tail, first);
        out.push(b']');
        Bytes::copy_from_slice(out)
    });
    Encoded {
        message: Message::Text(text),
        bins: payload.bins().to_vec(),
    }
}

/// The usual case of [`encode_from_payload`] (no attachments, an event name with nothing to
/// escape) built at its exact size: one allocation, which the `Bytes` then owns as it is.
fn encode_plain(
    ty: PacketType,
    ns: &str,
    event: Option<&str>,
    src: &[u8],
    args: &[Range<usize>],
    id: Option<u64>,
) -> Option<Bytes> {
    if event.is_some_and(|e| crate::json::plain_run(e.as_bytes()) != e.len()) {
        return None;
    }
    if args.iter().any(|r| r.end > src.len() || r.start > r.end) {
        return None;
    }
    let ns_len = if ns == "/" { 0 } else { ns.len() + 1 };
    let id_len = id.map_or(0, |id| id.checked_ilog10().unwrap_or(0) as usize + 1);
    let items = args.len() + usize::from(event.is_some());
    let len = 1
        + ns_len
        + id_len
        + 2
        + event.map_or(0, |e| e.len() + 2)
        + args.iter().map(|r| r.len()).sum::<usize>()
        + items.saturating_sub(1);
    let mut out = Vec::with_capacity(len);
    out.push(b'0' + ty as u8);
    header_rest(&mut out, ns, id);
    out.push(b'[');
    if let Some(e) = event {
        out.push(b'"');
        out.extend_from_slice(e.as_bytes());
        out.push(b'"');
    }
    for (i, r) in args.iter().enumerate() {
        if i > 0 || event.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(src.get(r.clone()).unwrap_or_default());
    }
    out.push(b']');
    debug_assert_eq!(out.len(), len);
    Some(Bytes::from(out))
}

/// Writes `tail` as one more string element of the array being built (`first`: whether
/// nothing was written in it yet).
fn write_tail(out: &mut Vec<u8>, tail: Option<&str>, first: bool) {
    if let Some(t) = tail {
        if !first {
            out.push(b',');
        }
        crate::value::json::write_str(out, t);
    }
}

fn header_rest(out: &mut Vec<u8>, ns: &str, id: Option<u64>) {
    if ns != "/" {
        out.extend_from_slice(ns.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        use std::io::Write as _;
        let _ = write!(out, "{id}");
    }
}

/// Encodes an ACK packet: `3[/ns,]id[...args]`.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{json, ArgsMode, Message};
/// let e = json::encode_ack("/x", 3, &"ok", ArgsMode::One).unwrap();
/// assert_eq!(e.message, Message::Text(r#"3/x,3["ok"]"#.into()));
/// ```
///
/// # Errors
/// When `data` does not serialize (to an array, when spread).
pub fn encode_ack<T: Serialize + ?Sized>(
    ns: &str,
    id: u64,
    data: &T,
    mode: ArgsMode,
) -> Result<Encoded, serde_json::Error> {
    encode_ack_dyn(ns, id, &data, mode)
}

/// [`encode_ack`] behind a `dyn`.
fn encode_ack_dyn(
    ns: &str,
    id: u64,
    data: &dyn DynSerialize,
    mode: ArgsMode,
) -> Result<Encoded, serde_json::Error> {
    with_scratch(|out| {
        header(out, PacketType::Ack, ns, Some(id));
        let mut bins = Vec::new();
        write_args(out, data, mode, &mut bins, false)?;
        Ok(finish(out, bins, PacketType::BinaryAck))
    })
}

/// Encodes an ACK packet from a [`Payload`] (a received one's arguments and attachments as
/// they came).
///
/// # Examples
/// ```
/// use sockeye_core::{parser::{json, Message}, Payload};
/// let e = json::encode_ack_payload("/", 9, &Payload::default()).unwrap();
/// assert_eq!(e.message, Message::Text("39[]".into()));
/// ```
///
/// # Errors
/// As [`encode_event_payload`].
pub fn encode_ack_payload(
    ns: &str,
    id: u64,
    payload: &Payload,
) -> Result<Encoded, serde_json::Error> {
    encode_from_payload(PacketType::Ack, ns, None, payload, Some(id), None)
}

/// `0[/ns,]{"sid":"..."}`
pub fn encode_connect(ns: &str, sid: &str) -> Bytes {
    encode_connect_with_pid(ns, sid, None)
}

/// `0[/ns,]{"sid":"...","pid":"..."}`: the CONNECT acknowledgement with the private session
/// id that a client sends back to recover its session (connection state recovery).
///
/// # Examples
/// ```
/// use sockeye_core::parser::json::encode_connect_with_pid;
/// let p = encode_connect_with_pid("/chat", "hUvDDmXSf-TMuMvIAAAB", Some("oSO0OpakmZUVoxUiAAAC"));
/// assert_eq!(&p[..], br#"0/chat,{"sid":"hUvDDmXSf-TMuMvIAAAB","pid":"oSO0OpakmZUVoxUiAAAC"}"#);
/// ```
pub fn encode_connect_with_pid(ns: &str, sid: &str, pid: Option<&str>) -> Bytes {
    let mut out = Vec::with_capacity(64 + ns.len());
    header(&mut out, PacketType::Connect, ns, None);
    out.extend_from_slice(b"{\"sid\":");
    crate::value::json::write_str(&mut out, sid);
    if let Some(pid) = pid {
        out.extend_from_slice(b",\"pid\":");
        crate::value::json::write_str(&mut out, pid);
    }
    out.push(b'}');
    Bytes::from(out)
}

/// The CONNECT acknowledgement of the v4 protocol (socket.io-client 2.x): `0` or `0/ns,`,
/// without a payload.
pub fn encode_connect_v4(ns: &str) -> Bytes {
    let mut out = Vec::with_capacity(4 + ns.len());
    header(&mut out, PacketType::Connect, ns, None);
    Bytes::from(out)
}

/// The error packet of the v4 protocol: `4[/ns,]` then the data when there is some, else the
/// message as a JSON string.
pub fn encode_connect_error_v4(ns: &str, message: &str, data: Option<&serde_json::Value>) -> Bytes {
    let mut out = Vec::with_capacity(32 + ns.len());
    header(&mut out, PacketType::ConnectError, ns, None);
    let _ = match data {
        Some(d) => serde_json::to_writer(&mut out, d),
        None => serde_json::to_writer(&mut out, message),
    };
    Bytes::from(out)
}

/// `1[/ns,]`
pub fn encode_disconnect(ns: &str) -> Bytes {
    let mut out = Vec::with_capacity(4 + ns.len());
    header(&mut out, PacketType::Disconnect, ns, None);
    Bytes::from(out)
}

/// `4[/ns,]{"message":...,"data":...}`
pub fn encode_connect_error(ns: &str, message: &str, data: Option<&serde_json::Value>) -> Bytes {
    #[derive(Serialize)]
    struct Err<'a> {
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a serde_json::Value>,
    }
    let mut out = Vec::with_capacity(48 + ns.len());
    header(&mut out, PacketType::ConnectError, ns, None);
    let _ = serde_json::to_writer(&mut out, &Err { message, data });
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::super::RESERVED_EVENTS;
    use super::*;

    const LIMITS: DecodeLimits = DecodeLimits {
        max_attachments: 10,
        max_attachment_bytes: 1 << 20,
    };

    fn text(e: &Encoded) -> &[u8] {
        assert!(!e.message.is_binary());
        e.message.as_bytes()
    }

    fn dec(s: &str) -> Result<Decoded, ParseError> {
        decode(Bytes::from(s.to_owned()), LIMITS)
    }

    fn whole(s: &str) -> Incoming {
        match dec(s) {
            Ok(Decoded::Whole(p)) => p,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn spec_vectors() {
        assert!(matches!(whole("0"), Incoming::Connect { ns, auth: None, .. } if ns == "/"));
        match whole("0/admin,{\"token\":\"123\"}") {
            Incoming::Connect {
                ns, auth: Some(a), ..
            } => {
                assert_eq!(ns, "/admin");
                assert_eq!(a.arg_text(0), Some("{\"token\":\"123\"}"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(whole("1/admin,"), Incoming::Disconnect { ns } if ns == "/admin"));
        match whole("2[\"foo\"]") {
            Incoming::Event {
                ns,
                event,
                payload,
                id,
            } => {
                assert_eq!(
                    (&*ns, event.bytes(payload.src()), id),
                    ("/", &b"foo"[..], None)
                );
                assert_eq!(payload.len(), 0);
            }
            other => panic!("{other:?}"),
        }
        match whole("2/admin,456[\"project:delete\",123]") {
            Incoming::Event {
                ns,
                event,
                payload,
                id,
            } => {
                assert_eq!(
                    (&*ns, event.bytes(payload.src()), id),
                    ("/admin", &b"project:delete"[..], Some(456))
                );
                assert_eq!(payload.arg_text(0), Some("123"));
            }
            other => panic!("{other:?}"),
        }
        match whole("3/admin,456[]") {
            Incoming::Ack { ns, id, payload } => {
                assert_eq!((&*ns, id, payload.len()), ("/admin", 456, 0));
            }
            other => panic!("{other:?}"),
        }
        match dec("51-[\"hello\",{\"_placeholder\":true,\"num\":0}]") {
            Ok(Decoded::Partial(p)) => assert_eq!(p.expected, 1),
            other => panic!("{other:?}"),
        }
        match dec("61-/admin,456[{\"_placeholder\":true,\"num\":0}]") {
            Ok(Decoded::Partial(Partial {
                header: Incoming::Ack { id: 456, .. },
                expected: 1,
                ..
            })) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_text() {
        let bad = [
            "",
            "4{\"message\":\"x\"}",
            "7",
            "9",
            "4abc",
            "42{}",
            "2{}",
            "2\"x\"",
            "2[]",
            "2null",
            "2[\"m\",]",
            "2[{\"toString\":\"x\"}]",
            "2[null]",
            "2[true]",
            "2abc[\"m\"]",
            "2-1[\"m\"]",
            "2 1[\"m\"]",
            "212345678901234567890123[\"m\"]",
            "29007199254740992[\"m\"]",
            "0[1]",
            "0\"x\"",
            "0/c,1",
            "1/a,{}",
            "3[\"x\"]",
            "511-[\"m\"]",
            "5-[\"m\"]",
            "5a-[\"m\"]",
            "50-[\"m\"]",
            "5-1-[\"m\"]",
            "599999999999999999999-[\"m\"]",
            "51[\"m\"]",
        ];
        for b in bad {
            assert!(dec(b).is_err(), "{b:?} was accepted");
        }
        for r in RESERVED_EVENTS {
            assert_eq!(
                dec(&format!("2[\"{r}\"]")).err(),
                Some(ParseError::ReservedEvent)
            );
        }
        // Accepted: numeric names, "error" as an ordinary event, the largest id.
        assert!(
            matches!(whole("2[1,2]"), Incoming::Event { event, payload, .. } if event.bytes(payload.src()) == b"1")
        );
        assert!(
            matches!(whole("2[\"error\"]"), Incoming::Event { event, payload, .. } if event.bytes(payload.src()) == b"error")
        );
        assert!(matches!(
            whole("29007199254740991[\"m\"]"),
            Incoming::Event {
                id: Some(9007199254740991),
                ..
            }
        ));
        // The query part of a v4-era namespace is not part of its name.
        assert!(matches!(
            whole("0/nsp?x=1,{}"),
            Incoming::Connect { ns, query: Some(q), .. } if ns == "/nsp" && q == "x=1"
        ));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        // The arguments stay raw text: decoding walks them without recursion, and turning
        // them into values stops at serde_json's depth limit (128), never at the stack's end.
        let deep = format!("2[\"m\",{}{}]", "[".repeat(400_000), "]".repeat(400_000));
        match dec(&deep) {
            Ok(Decoded::Whole(Incoming::Event { payload, .. })) => {
                assert!(payload.arg::<serde_json::Value>(0).is_err());
            }
            Err(_) => {}
            other => panic!("{other:?}"),
        }
        let ok = format!("2[\"m\",{}{}]", "[".repeat(100), "]".repeat(100));
        assert!(dec(&ok).is_ok());
    }

    #[test]
    fn placeholders_are_checked() {
        let check = |json: &str, n: usize| {
            let Ok(Decoded::Partial(p)) = dec(&format!("5{n}-{json}")) else {
                panic!("{json}")
            };
            let Incoming::Event { payload, .. } = p.header else {
                panic!()
            };
            let payload = payload.with_bins((0..n).map(|_| Bytes::from_static(b"x")).collect());
            check_placeholders(&payload)
        };
        assert!(check("[\"m\",{\"_placeholder\":true,\"num\":0}]", 1).is_ok());
        assert!(check("[\"m\",{\"a\":[{\"_placeholder\":true,\"num\":1}]}]", 2).is_ok());
        for bad in ["5", "\"splice\"", "-1", "1.5", "null", "\"0\""] {
            let json = format!("[\"m\",{{\"_placeholder\":true,\"num\":{bad}}}]");
            assert!(check(&json, 2).is_err(), "{json}");
        }
        // Only `_placeholder: true` makes a placeholder.
        assert!(check("[\"m\",{\"_placeholder\":\"true\",\"num\":9}]", 1).is_ok());
    }

    #[test]
    fn encodes() {
        let e = encode_event("/", "message", &"hi", ArgsMode::One, None).unwrap();
        assert_eq!(text(&e), b"2[\"message\",\"hi\"]");
        let e = encode_event("/admin", "m", &(1, "a"), ArgsMode::Spread, Some(12)).unwrap();
        assert_eq!(text(&e), b"2/admin,12[\"m\",1,\"a\"]");
        let e = encode_event("/", "m", &(), ArgsMode::Spread, None);
        assert!(e.is_err());
        let empty: [u8; 0] = [];
        let e = encode_event("/", "m", &empty, ArgsMode::Spread, None).unwrap();
        assert_eq!(text(&e), b"2[\"m\"]");
        let e = encode_event("/", "m", &Bytes::from_static(&[1, 2]), ArgsMode::One, None).unwrap();
        assert_eq!(text(&e), b"51-[\"m\",{\"_placeholder\":true,\"num\":0}]");
        assert_eq!(e.bins, vec![Bytes::from_static(&[1, 2])]);
        let e = encode_ack("/", 3, &("ok", Bytes::from_static(&[9])), ArgsMode::Spread).unwrap();
        assert_eq!(text(&e), b"61-3[\"ok\",{\"_placeholder\":true,\"num\":0}]");
        let e = encode_ack("/x", 3, &"ok", ArgsMode::One).unwrap();
        assert_eq!(text(&e), b"3/x,3[\"ok\"]");
        assert_eq!(&encode_connect("/", "abc")[..], b"0{\"sid\":\"abc\"}");
        assert_eq!(
            &encode_connect_with_pid("/", "abc", Some("xyz"))[..],
            b"0{\"sid\":\"abc\",\"pid\":\"xyz\"}"
        );
        // A binary event keeps its offset after the placeholders' arguments.
        let bin = Payload::from_values(vec![crate::value::Value::Bin(Bytes::from_static(b"\x01"))]);
        let e = encode_event_with_offset("/", "b", &bin, "off").unwrap();
        assert_eq!(
            text(&e),
            b"51-[\"b\",{\"_placeholder\":true,\"num\":0},\"off\"]"
        );
        let e = encode_event_with_offset("/", "none", &Payload::default(), "off").unwrap();
        assert_eq!(text(&e), b"2[\"none\",\"off\"]");
        assert_eq!(&encode_disconnect("/a")[..], b"1/a,");
        assert_eq!(
            &encode_connect_error("/a", "Invalid namespace", None)[..],
            b"4/a,{\"message\":\"Invalid namespace\"}"
        );
    }

    proptest::proptest! {
        #[test]
        fn decoder_never_panics(s: String) {
            let _ = dec(&s);
        }

        #[test]
        fn plain_encoding_matches_the_general_one(event in "[a-z\"\\\\\u{e9}]{0,6}", args: Vec<String>, id in proptest::option::of(0u64..MAX_ACK_ID), ns in "(/|/[a-z]{1,5})", ack: bool, tail in proptest::option::of("[a-zA-Z0-9\"._-]{0,9}")) {
            let e = encode_event("/", "x", &args, ArgsMode::Spread, None).unwrap();
            let Decoded::Whole(Incoming::Event { payload, .. }) = decode(e.message.as_bytes().clone(), LIMITS).unwrap() else {
                panic!("not an event");
            };
            let (ty, name) = if ack { (PacketType::Ack, None) } else { (PacketType::Event, Some(event.as_str())) };
            let tail = tail.as_deref();
            let general = encode_from_payload_general(ty, &ns, name, &payload, id, tail);
            let (src, ranges) = payload.json_parts().unwrap();
            if tail.is_none() {
                match encode_plain(ty, &ns, name, src, ranges, id) {
                    Some(text) => proptest::prop_assert_eq!(&text, general.message.as_bytes()),
                    None => proptest::prop_assert!(name.is_some_and(|n| crate::json::plain_run(n.as_bytes()) != n.len())),
                }
            }
            // The structured form writes the same packet.
            let values = payload.to_values().unwrap();
            let structured = encode_values(ty, &ns, name, &values, id, tail);
            proptest::prop_assert_eq!(structured.message, general.message);
        }

        #[test]
        fn the_offset_is_the_last_argument(args: Vec<String>, offset in "[0-9A-Za-z_-]{1,11}") {
            let payload = Payload::from_args(&args, vec![]).unwrap();
            let e = encode_event_with_offset("/n", "ev", &payload, &offset).unwrap();
            let Decoded::Whole(Incoming::Event { payload: back, id, .. }) = decode(e.message.as_bytes().clone(), LIMITS).unwrap() else {
                panic!("not an event");
            };
            proptest::prop_assert_eq!(id, None);
            proptest::prop_assert_eq!(back.len(), args.len() + 1);
            proptest::prop_assert_eq!(back.arg::<String>(args.len()).unwrap(), offset);
        }

        #[test]
        fn event_round_trip(event in "[a-z]{1,8}", args: Vec<String>, id in proptest::option::of(0u64..MAX_ACK_ID), ns in "(/|/[a-z]{1,5})") {
            proptest::prop_assume!(!RESERVED_EVENTS.contains(&event.as_str()));
            let e = encode_event(&ns, &event, &args, ArgsMode::Spread, id).unwrap();
            match decode(e.message.as_bytes().clone(), LIMITS).unwrap() {
                Decoded::Whole(Incoming::Event { ns: n2, event: e2, payload, id: i2 }) => {
                    proptest::prop_assert_eq!(n2, ns.clone());
                    proptest::prop_assert_eq!(e2.bytes(payload.src()), event.as_bytes());
                    proptest::prop_assert_eq!(i2, id);
                    let back: Vec<String> = (0..payload.len()).map(|i| payload.arg::<String>(i).unwrap()).collect();
                    proptest::prop_assert_eq!(back, args.clone());
                    let again = encode_event_payload(&ns, &event, &payload, id).unwrap();
                    proptest::prop_assert_eq!(again.message, e.message);
                }
                other => proptest::prop_assert!(false, "{:?}", other),
            }
        }
    }
}
