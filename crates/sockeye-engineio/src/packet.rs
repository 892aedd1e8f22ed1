//! Engine.IO packets: the sans-IO codec for one packet.
//!
//! A text packet is one ASCII digit (its type) followed by its data. Over WebSocket a binary
//! message is a raw binary frame (v4) or a frame whose first byte is `4` (v3); over v4
//! long-polling it is `b` followed by base64.

use base64::Engine as _;
use bytes::{Buf, Bytes};

use crate::errors::PacketError;

/// The protocol revision a session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// Engine.IO v3 (socket.io-client 1.x and 2.x).
    V3,
    /// Engine.IO v4 (socket.io-client 3.x and 4.x).
    V4,
}

/// One Engine.IO packet, as read from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet {
    /// `0`: the handshake, sent by the server only.
    Open(Bytes),
    /// `1`: close the session.
    Close,
    /// `2`, with its data (`probe` during an upgrade).
    Ping(Bytes),
    /// `3`, with its data (`probe` during an upgrade).
    Pong(Bytes),
    /// `4`: a text message. The bytes are valid UTF-8.
    Message(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// `5`: the upgrade is complete.
    Upgrade,
    /// `6`: nothing; used to end a pending poll during an upgrade.
    Noop,
}

impl Packet {
    /// Decodes a text packet (a WebSocket text frame or one record of a polling payload).
    ///
    /// `b<base64>` is accepted only when `allow_base64` is set (long-polling).
    ///
    /// # Examples
    /// ```
    /// use sockeye_engineio::packet::Packet;
    /// let p = Packet::decode_text(bytes::Bytes::from_static(b"4hello"), false).unwrap();
    /// assert_eq!(p, Packet::Message(bytes::Bytes::from_static(b"hello")));
    /// ```
    ///
    /// # Errors
    /// [`PacketError`] for an empty packet, an unknown type or bad base64.
    pub fn decode_text(data: Bytes, allow_base64: bool) -> Result<Packet, PacketError> {
        let Some(&ty) = data.first() else {
            return Err(PacketError::Empty);
        };
        // Moves the start instead of slicing: a slice is a clone, and the first clone of a
        // `Bytes` made from a `Vec` allocates its reference count.
        let mut rest = data;
        rest.advance(1);
        Ok(match ty {
            b'0' => Packet::Open(rest),
            b'1' => Packet::Close,
            b'2' => Packet::Ping(rest),
            b'3' => Packet::Pong(rest),
            b'4' => Packet::Message(rest),
            b'5' => Packet::Upgrade,
            b'6' => Packet::Noop,
            b'b' if allow_base64 => Packet::Binary(decode_base64(&rest)?),
            _ => return Err(PacketError::UnknownType),
        })
    }

    /// Decodes a WebSocket binary frame.
    ///
    /// # Errors
    /// In v3 the frame must start with the byte 4 (a message).
    pub fn decode_binary(data: Bytes, version: ProtocolVersion) -> Result<Packet, PacketError> {
        match version {
            ProtocolVersion::V4 => Ok(Packet::Binary(data)),
            ProtocolVersion::V3 => match data.first() {
                Some(4) => {
                    let mut data = data;
                    data.advance(1);
                    Ok(Packet::Binary(data))
                }
                _ => Err(PacketError::UnknownType),
            },
        }
    }
}

/// Decodes standard base64 (with or without padding).
pub(crate) fn decode_base64(data: &[u8]) -> Result<Bytes, PacketError> {
    let engine = &base64::engine::general_purpose::STANDARD;
    match engine.decode(data) {
        Ok(v) => Ok(Bytes::from(v)),
        Err(_) => base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(data)
            .map(Bytes::from)
            .map_err(|_| PacketError::BadBase64),
    }
}

/// Appends standard base64 (padded) of `data` to `out`.
pub(crate) fn encode_base64(data: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(data, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &'static str) -> Result<Packet, PacketError> {
        Packet::decode_text(Bytes::from_static(s.as_bytes()), true)
    }

    #[test]
    fn spec_vectors() {
        assert_eq!(text("1"), Ok(Packet::Close));
        assert_eq!(text("2"), Ok(Packet::Ping(Bytes::new())));
        assert_eq!(
            text("2probe"),
            Ok(Packet::Ping(Bytes::from_static(b"probe")))
        );
        assert_eq!(
            text("3probe"),
            Ok(Packet::Pong(Bytes::from_static(b"probe")))
        );
        assert_eq!(
            text("4hello"),
            Ok(Packet::Message(Bytes::from_static(b"hello")))
        );
        assert_eq!(text("5"), Ok(Packet::Upgrade));
        assert_eq!(text("6"), Ok(Packet::Noop));
        assert_eq!(
            text("bAQIDBA=="),
            Ok(Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])))
        );
        assert_eq!(
            text("bAQIDBA"),
            Ok(Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])))
        );
    }

    #[test]
    fn hostile_packets() {
        assert_eq!(text(""), Err(PacketError::Empty));
        assert_eq!(text("9"), Err(PacketError::UnknownType));
        assert_eq!(text("abc"), Err(PacketError::UnknownType));
        assert_eq!(text("éabcd"), Err(PacketError::UnknownType));
        assert_eq!(text("4éabc"), Ok(Packet::Message(Bytes::from("éabc"))));
        assert_eq!(text("b!!!"), Err(PacketError::BadBase64));
        assert_eq!(text("bQQ"), Ok(Packet::Binary(Bytes::from_static(b"A"))));
        assert!(Packet::decode_text(Bytes::from_static(b"bAQID"), false).is_err());
        assert_eq!(
            Packet::decode_binary(Bytes::from_static(&[1, 2]), ProtocolVersion::V3),
            Err(PacketError::UnknownType)
        );
        assert_eq!(
            Packet::decode_binary(Bytes::new(), ProtocolVersion::V3),
            Err(PacketError::UnknownType)
        );
    }

    proptest::proptest! {
        #[test]
        fn base64_round_trip(data: Vec<u8>) {
            let mut out = Vec::new();
            encode_base64(&data, &mut out);
            proptest::prop_assert_eq!(decode_base64(&out).unwrap(), Bytes::from(data));
        }
    }
}
