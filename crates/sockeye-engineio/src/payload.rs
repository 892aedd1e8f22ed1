//! Long-polling payloads: several packets in one HTTP body.
//!
//! In v4 the packets are separated by the record separator `\x1e` and binary packets are
//! `b<base64>`.

use bytes::Bytes;

use crate::errors::PacketError;
use crate::packet::{encode_base64, Packet};

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
}

impl Outgoing {
    /// The number of bytes this packet adds to a v4 polling payload.
    pub fn polling_len(&self) -> usize {
        match self {
            Outgoing::Message(b) => 1 + b.len(),
            Outgoing::Binary(b) => 1 + b.len().div_ceil(3) * 4,
            _ => 1,
        }
    }

    /// How many bytes this packet counts for in a client's outbound queue.
    pub fn queue_len(&self) -> usize {
        match self {
            Outgoing::Message(b) | Outgoing::Binary(b) => b.len() + 1,
            _ => 1,
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
        match p {
            Outgoing::Message(b) => {
                out.push(b'4');
                out.extend_from_slice(b);
            }
            Outgoing::Binary(b) => {
                out.push(b'b');
                encode_base64(b, &mut out);
            }
            Outgoing::Ping => out.push(b'2'),
            Outgoing::Pong => out.push(b'3'),
            Outgoing::Noop => out.push(b'6'),
            Outgoing::Close => out.push(b'1'),
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
