//! Long-polling payloads: several packets in one HTTP body.
//!
//! In v4 the packets are separated by the record separator `\x1e` and binary packets are
//! `b<base64>`.

use std::sync::Arc;

use bytes::Bytes;

use crate::errors::PacketError;
use crate::packet::{encode_base64, Packet};
use crate::ws::deflate::DeflateCache;

/// The separator between packets in a v4 polling payload.
pub const SEPARATOR: u8 = 0x1e;

/// A packet the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outgoing {
    /// A text message (`4` + the bytes). The bytes must be valid UTF-8.
    Message(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A heartbeat ping (`2`).
    Ping,
    /// A heartbeat pong (`3`), the answer to a v3 client's ping.
    Pong,
    /// `6`, answered to a pending poll during an upgrade.
    Noop,
    /// `1`: the server closes the session.
    Close,
    /// A text or binary message with its options, possibly shared by several sessions (a
    /// broadcast): see [`SharedMessage`].
    Shared(Arc<SharedMessage>),
}

/// A message prepared once for any number of sessions, with Node's per-packet `compress`
/// option. When a WebSocket connection compresses it and the server compresses each message
/// alone (`server_no_context_takeover`), its compressed form is made once and shared too.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use sockeye_engineio::payload::{Outgoing, SharedMessage};
/// let msg = Arc::new(SharedMessage::text("2[\"tick\",1]".into()).compress(false));
/// let packet = Outgoing::Shared(msg.clone());
/// assert!(!packet.may_compress());
/// assert_eq!(packet.queue_len(), 12); // the packet and its type
/// ```
#[derive(Debug)]
pub struct SharedMessage {
    data: Bytes,
    binary: bool,
    compress: bool,
    deflated: DeflateCache,
}

impl SharedMessage {
    /// A text message (the bytes must be UTF-8), which may be compressed.
    pub fn text(data: Bytes) -> SharedMessage {
        SharedMessage {
            data,
            binary: false,
            compress: true,
            deflated: DeflateCache::default(),
        }
    }

    /// A binary message, which may be compressed.
    pub fn binary(data: Bytes) -> SharedMessage {
        SharedMessage {
            binary: true,
            ..SharedMessage::text(data)
        }
    }

    /// Whether the message may be compressed (`permessage-deflate`, HTTP compression of a
    /// polling response). Default true, as Node's `compress` option.
    #[must_use]
    pub fn compress(mut self, on: bool) -> SharedMessage {
        self.compress = on;
        self
    }

    /// The message's bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Whether it is a binary message.
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// Whether it may be compressed (see [`SharedMessage::compress`]).
    pub fn compress_allowed(&self) -> bool {
        self.compress
    }

    pub(crate) fn deflated(&self) -> &DeflateCache {
        &self.deflated
    }
}

impl PartialEq for SharedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data && self.binary == other.binary && self.compress == other.compress
    }
}

impl Eq for SharedMessage {}

/// What an [`Outgoing`] packet is, with its bytes.
pub(crate) enum View<'a> {
    Text(&'a Bytes),
    Binary(&'a Bytes),
    Ping,
    Pong,
    Noop,
    Close,
}

impl Outgoing {
    /// The number of bytes this packet adds to a v4 polling payload.
    pub fn polling_len(&self) -> usize {
        match self.view() {
            View::Text(b) => 1 + b.len(),
            View::Binary(b) => 1 + b.len().div_ceil(3) * 4,
            _ => 1,
        }
    }

    /// How many bytes this packet counts for in a client's outbound queue.
    pub fn queue_len(&self) -> usize {
        match self.view() {
            View::Text(b) | View::Binary(b) => b.len() + 1,
            _ => 1,
        }
    }

    /// Whether the packet may be compressed: true but for a [`SharedMessage`] sent with
    /// `compress(false)` (as in Node, where every packet has the option, true by default).
    pub fn may_compress(&self) -> bool {
        match self {
            Outgoing::Shared(m) => m.compress,
            _ => true,
        }
    }

    pub(crate) fn view(&self) -> View<'_> {
        match self {
            Outgoing::Message(b) => View::Text(b),
            Outgoing::Binary(b) => View::Binary(b),
            Outgoing::Shared(m) if m.binary => View::Binary(&m.data),
            Outgoing::Shared(m) => View::Text(&m.data),
            Outgoing::Ping => View::Ping,
            Outgoing::Pong => View::Pong,
            Outgoing::Noop => View::Noop,
            Outgoing::Close => View::Close,
        }
    }
}

/// Decodes a v4 polling payload (the body of a POST).
///
/// Empty records (an empty body, a trailing separator) are ignored, as Node does.
///
/// # Examples
/// ```
/// use sockeye_engineio::{packet::Packet, payload};
/// let packets = payload::decode_v4(bytes::Bytes::from_static(b"4hello\x1ebAQID"), 16).unwrap();
/// assert_eq!(packets.len(), 2);
/// ```
///
/// # Errors
/// Invalid UTF-8, more than `max_packets` packets, or an invalid packet.
pub fn decode_v4(body: Bytes, max_packets: usize) -> Result<Vec<Packet>, PacketError> {
    if std::str::from_utf8(&body).is_err() {
        return Err(PacketError::InvalidUtf8);
    }
    let mut packets = Vec::new();
    let mut start = 0;
    while start <= body.len() {
        let end = body[start..]
            .iter()
            .position(|&b| b == SEPARATOR)
            .map_or(body.len(), |i| start + i);
        if end > start {
            if packets.len() >= max_packets {
                return Err(PacketError::TooManyPackets);
            }
            packets.push(Packet::decode_text(body.slice(start..end), true)?);
        }
        start = end + 1;
    }
    Ok(packets)
}

/// Encodes queued packets into one v4 polling payload of at most `max_payload` bytes
/// (at least one packet is always taken). Returns the body and how many packets it holds.
///
/// # Examples
/// ```
/// use sockeye_engineio::payload::{encode_v4, Outgoing};
/// let queue = [Outgoing::Message("hi".into()), Outgoing::Binary(vec![1, 2, 3].into())];
/// let (body, n) = encode_v4(&queue, 1_000_000);
/// assert_eq!(&body[..], b"4hi\x1ebAQID");
/// assert_eq!(n, 2);
/// ```
pub fn encode_v4(queue: &[Outgoing], max_payload: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut taken = 0;
    for p in queue {
        let sep = usize::from(taken > 0);
        if taken > 0 && out.len() + sep + p.polling_len() > max_payload {
            break;
        }
        if taken > 0 {
            out.push(SEPARATOR);
        }
        match p.view() {
            View::Text(b) => {
                out.push(b'4');
                out.extend_from_slice(b);
            }
            View::Binary(b) => {
                out.push(b'b');
                encode_base64(b, &mut out);
            }
            View::Ping => out.push(b'2'),
            View::Pong => out.push(b'3'),
            View::Noop => out.push(b'6'),
            View::Close => out.push(b'1'),
        }
        taken += 1;
    }
    (out, taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(s: &'static [u8]) -> Result<Vec<Packet>, PacketError> {
        decode_v4(Bytes::from_static(s), 16)
    }

    #[test]
    fn spec_vectors() {
        assert_eq!(
            dec(b"4hello\x1e2\x1e4world").unwrap(),
            vec![
                Packet::Message("hello".into()),
                Packet::Ping(Bytes::new()),
                Packet::Message("world".into())
            ]
        );
        assert_eq!(
            dec(b"4hello\x1ebAQIDBA==").unwrap(),
            vec![
                Packet::Message("hello".into()),
                Packet::Binary(Bytes::from_static(&[1, 2, 3, 4]))
            ]
        );
    }

    #[test]
    fn edge_cases() {
        assert_eq!(dec(b"").unwrap(), vec![]);
        assert_eq!(dec(b"40\x1e").unwrap(), vec![Packet::Message("0".into())]);
        assert_eq!(dec(b"\x1e40").unwrap(), vec![Packet::Message("0".into())]);
        assert_eq!(dec(b"\x1e\x1e").unwrap(), vec![]);
        assert_eq!(dec(b"abc"), Err(PacketError::UnknownType));
        assert_eq!(dec(b"4a\x1eb!!!"), Err(PacketError::BadBase64));
        assert_eq!(dec(b"\x34\xff\xfe"), Err(PacketError::InvalidUtf8));
        let many = "4a\x1e".repeat(17);
        assert_eq!(
            decode_v4(Bytes::from(many), 16),
            Err(PacketError::TooManyPackets)
        );
    }

    #[test]
    fn encoder_respects_max_payload() {
        let queue: Vec<Outgoing> = (0..1000)
            .map(|i| {
                if i % 3 == 0 {
                    Outgoing::Binary(Bytes::from(vec![i as u8; 100]))
                } else {
                    Outgoing::Message(Bytes::from("x".repeat(50 + i % 7)))
                }
            })
            .collect();
        let mut rest = &queue[..];
        let mut decoded = Vec::new();
        while !rest.is_empty() {
            let (body, n) = encode_v4(rest, 2000);
            assert!(body.len() <= 2000, "{}", body.len());
            assert!(n > 0);
            decoded.extend(decode_v4(Bytes::from(body), usize::MAX).unwrap());
            rest = &rest[n..];
        }
        assert_eq!(decoded.len(), 1000);
        for (d, q) in decoded.iter().zip(&queue) {
            match (d, q) {
                (Packet::Message(a), Outgoing::Message(b)) => assert_eq!(a, b),
                (Packet::Binary(a), Outgoing::Binary(b)) => assert_eq!(a, b),
                other => panic!("mismatch {other:?}"),
            }
        }
    }

    #[test]
    fn one_oversized_packet_is_still_sent() {
        let q = [Outgoing::Message(Bytes::from("y".repeat(50)))];
        let (body, n) = encode_v4(&q, 10);
        assert_eq!((body.len(), n), (51, 1));
    }

    proptest! {
        #[test]
        fn round_trip(items in proptest::collection::vec(
            prop_oneof![
                "[^\x1e]{0,40}".prop_map(|s| Outgoing::Message(Bytes::from(s))),
                proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Outgoing::Binary(Bytes::from(v))),
            ], 1..20)) {
            let (body, n) = encode_v4(&items, usize::MAX);
            prop_assert_eq!(n, items.len());
            let back = decode_v4(Bytes::from(body), usize::MAX).unwrap();
            prop_assert_eq!(back.len(), items.len());
            for (d, q) in back.iter().zip(&items) {
                match (d, q) {
                    (Packet::Message(a), Outgoing::Message(b)) => prop_assert_eq!(a, b),
                    (Packet::Binary(a), Outgoing::Binary(b)) => prop_assert_eq!(a, b),
                    _ => prop_assert!(false),
                }
            }
        }

        #[test]
        fn decoder_never_panics(data: Vec<u8>) {
            let _ = decode_v4(Bytes::from(data), 64);
        }
    }
}
