//! Engine.IO v3 long-polling payloads (socket.io-client 1.x and 2.x).
//!
//! Text payloads prefix each packet with its length in UTF-16 code units and a colon
//! (`6:4hello`); binary packets travel as `b4<base64>`. The binary payload format (sent when
//! the client supports binary and a packet is binary; posted with `Content-Type:
//! application/octet-stream`) prefixes each packet with a kind byte (0 text, 1 binary), its
//! length as one byte per decimal digit, and 255.

use bytes::Bytes;

use crate::errors::PacketError;
use crate::packet::{decode_base64, encode_base64, Packet};
use crate::payload::{Outgoing, View};

/// Longest length prefix accepted (in digits); Node's parser gives up past a few hundred.
const MAX_DIGITS: usize = 10;

/// Decodes one v3 text packet (no length prefix). `b4<base64>` is a binary message.
fn decode_packet(src: &Bytes, start: usize, end: usize) -> Result<Packet, PacketError> {
    let data = src.slice(start..end);
    if data.first() == Some(&b'b') {
        if data.get(1) != Some(&b'4') {
            return Err(PacketError::UnknownType);
        }
        return Ok(Packet::Binary(decode_base64(&data[2..])?));
    }
    Packet::decode_text(data, false)
}

/// Decodes a v3 text payload: `<len>:<packet>` repeated, lengths in UTF-16 code units.
///
/// # Examples
/// ```
/// use sockeye_engineio::payload_v3;
/// let p = payload_v3::decode_text(bytes::Bytes::from("6:4hello3:4𝕊"), 16).unwrap();
/// assert_eq!(p.len(), 2);
/// ```
///
/// # Errors
/// A missing or malformed length, a length that cuts a character (a UTF-16 surrogate pair)
/// or runs past the end, an invalid packet, or more than `max_packets` packets.
pub fn decode_text(body: Bytes, max_packets: usize) -> Result<Vec<Packet>, PacketError> {
    let s = std::str::from_utf8(&body).map_err(|_| PacketError::InvalidUtf8)?;
    if s.is_empty() {
        // Node's v3 parser refuses an empty payload.
        return Err(PacketError::InvalidLength);
    }
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos < s.len() {
        let rest = &s[pos..];
        let colon = rest
            .bytes()
            .take(MAX_DIGITS + 1)
            .position(|b| b == b':')
            .ok_or(PacketError::InvalidLength)?;
        let digits = &rest[..colon];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PacketError::InvalidLength);
        }
        let len: usize = digits.parse().map_err(|_| PacketError::InvalidLength)?;
        let start = pos + colon + 1;
        // Walk `len` UTF-16 code units.
        let mut units = 0;
        let mut end = start;
        for ch in s[start..].chars() {
            if units == len {
                break;
            }
            units += ch.len_utf16();
            end += ch.len_utf8();
        }
        if units != len || len == 0 {
            // Runs past the end, splits a surrogate pair, or is empty.
            return Err(PacketError::InvalidLength);
        }
        if packets.len() >= max_packets {
            return Err(PacketError::TooManyPackets);
        }
        packets.push(decode_packet(&body, start, end)?);
        pos = end;
    }
    Ok(packets)
}

/// Decodes a v3 binary payload.
///
/// # Examples
/// ```
/// use sockeye_engineio::payload_v3;
/// let body = bytes::Bytes::from_static(&[0, 2, 255, b'4', b'a', 1, 3, 255, 4, 1, 2]);
/// assert_eq!(payload_v3::decode_binary(body, 16).unwrap().len(), 2);
/// ```
///
/// # Errors
/// A bad kind byte, a length of more than 10 digits or without its 255 terminator, a length
/// past the end, an invalid packet, or more than `max_packets` packets.
pub fn decode_binary(body: Bytes, max_packets: usize) -> Result<Vec<Packet>, PacketError> {
    if body.is_empty() {
        return Err(PacketError::InvalidLength);
    }
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let kind = body[pos];
        if kind > 1 {
            return Err(PacketError::InvalidLength);
        }
        let mut len: usize = 0;
        let mut i = pos + 1;
        loop {
            let Some(&d) = body.get(i) else {
                return Err(PacketError::InvalidLength);
            };
            i += 1;
            if d == 255 {
                break;
            }
            if d > 9 || i - pos - 1 > MAX_DIGITS {
                return Err(PacketError::InvalidLength);
            }
            len = len * 10 + usize::from(d);
        }
        if i - pos == 2 {
            return Err(PacketError::InvalidLength); // no digit at all
        }
        let end = i.checked_add(len).ok_or(PacketError::InvalidLength)?;
        if end > body.len() {
            return Err(PacketError::InvalidLength);
        }
        if packets.len() >= max_packets {
            return Err(PacketError::TooManyPackets);
        }
        let data = body.slice(i..end);
        packets.push(if kind == 0 {
            if std::str::from_utf8(&data).is_err() {
                return Err(PacketError::InvalidUtf8);
            }
            decode_packet(&body, i, end)?
        } else {
            match data.first() {
                Some(4) => Packet::Binary(data.slice(1..)),
                _ => return Err(PacketError::UnknownType),
            }
        });
        pos = end;
    }
    Ok(packets)
}

/// The text form of one outgoing packet in v3 (binary as `b4<base64>`).
fn text_form(p: &Outgoing, out: &mut Vec<u8>) {
    match p.view() {
        View::Text(b) => {
            out.push(b'4');
            out.extend_from_slice(b);
        }
        View::Binary(b) => {
            out.extend_from_slice(b"b4");
            encode_base64(b, out);
        }
        View::Ping => out.push(b'2'),
        View::Pong => out.push(b'3'),
        View::Noop => out.push(b'6'),
        View::Close => out.push(b'1'),
    }
}

fn utf16_len(bytes: &[u8]) -> usize {
    std::str::from_utf8(bytes).map_or(bytes.len(), |s| s.chars().map(char::len_utf16).sum())
}

/// Encodes queued packets as one v3 payload of at most `max_payload` bytes (at least one
/// packet). With `binary` (the client supports binary and did not ask for `b64`) and a binary
/// packet among them, the binary payload format is used. Returns the body, whether it is the
/// binary format, and how many packets it holds.
///
/// # Examples
/// ```
/// use sockeye_engineio::{payload::Outgoing, payload_v3};
/// let (body, binary, n) = payload_v3::encode(&[Outgoing::Message("hé".into())], false, 1000);
/// assert_eq!((&body[..], binary, n), ("3:4hé".as_bytes(), false, 1));
/// ```
pub fn encode(queue: &[Outgoing], binary: bool, max_payload: usize) -> (Vec<u8>, bool, usize) {
    let as_binary = binary && queue.iter().any(|p| matches!(p.view(), View::Binary(_)));
    let mut out = Vec::new();
    let mut taken = 0;
    let mut one = Vec::new();
    for p in queue {
        one.clear();
        if as_binary {
            if let View::Binary(b) = p.view() {
                if taken > 0 && out.len() + b.len() + 14 > max_payload {
                    break;
                }
                out.push(1);
                push_digits(&mut out, b.len() + 1);
                out.push(255);
                out.push(4);
                out.extend_from_slice(b);
            } else {
                text_form(p, &mut one);
                if taken > 0 && out.len() + one.len() + 13 > max_payload {
                    break;
                }
                out.push(0);
                push_digits(&mut out, one.len());
                out.push(255);
                out.extend_from_slice(&one);
            }
        } else {
            text_form(p, &mut one);
            let prefix = utf16_len(&one).to_string();
            if taken > 0 && out.len() + prefix.len() + 1 + one.len() > max_payload {
                break;
            }
            out.extend_from_slice(prefix.as_bytes());
            out.push(b':');
            out.extend_from_slice(&one);
        }
        taken += 1;
    }
    (out, as_binary, taken)
}

fn push_digits(out: &mut Vec<u8>, n: usize) {
    for d in n.to_string().bytes() {
        out.push(d - b'0');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Result<Vec<Packet>, PacketError> {
        decode_text(Bytes::from(s.to_owned()), 64)
    }

    #[test]
    fn text_vectors() {
        assert_eq!(
            text("6:4hello3:4𝕊").unwrap(),
            vec![Packet::Message("hello".into()), Packet::Message("𝕊".into())]
        );
        assert_eq!(text("1:2").unwrap(), vec![Packet::Ping(Bytes::new())]);
        assert_eq!(
            text("6:b4AQID").unwrap(),
            vec![Packet::Binary(Bytes::from_static(&[1, 2, 3]))]
        );
        assert!(text("").is_err());
    }

    #[test]
    fn text_hostile() {
        for bad in [
            "2:4𝕊", // cuts the surrogate pair
            "abc",  // no length
            ":4a",  // empty length
            "0:",   // empty packet
            "-1:4a",
            "1e3:4a",
            "99999999999999999999:4a",
            "5:4a",      // past the end
            "3:4ab3:4a", // second one past the end
            "2:9a",      // unknown type
            "3:b5A",     // base64 of a non-message
            "4:b4!!",    // bad base64
        ] {
            assert!(text(bad).is_err(), "{bad:?} accepted");
        }
        let digits = "9".repeat(1_000_000) + ":";
        assert!(text(&digits).is_err());
        assert_eq!(text(&"1:6".repeat(65)), Err(PacketError::TooManyPackets));
    }

    #[test]
    fn binary_vectors_and_hostile() {
        let ok = decode_binary(
            Bytes::from_static(&[0, 2, 255, b'4', b'a', 1, 3, 255, 4, 1, 2]),
            8,
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![
                Packet::Message("a".into()),
                Packet::Binary(Bytes::from_static(&[1, 2]))
            ]
        );
        for bad in [
            &[1, 5, 255, 4, 1, 2][..],                      // truncated
            &[0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 255][..], // too many digits
            &[0, 9, 9, 9][..],                              // no terminator
            &[2, 1, 255, b'4'][..],                         // bad kind
            &[1, 1, 255, 3][..],                            // binary not a message
            &[0, 255][..],                                  // no digits
            &[0, 2, 255, 0xff, 0xfe][..],                   // not UTF-8
        ] {
            assert!(
                decode_binary(Bytes::copy_from_slice(bad), 8).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn encodes_text_with_utf16_lengths() {
        let q = [
            Outgoing::Message("𝕊".into()),
            Outgoing::Pong,
            Outgoing::Binary(Bytes::from_static(&[1, 2, 3])),
        ];
        let (body, binary, n) = encode(&q, false, 10_000);
        assert!(!binary);
        assert_eq!(n, 3);
        assert_eq!(std::str::from_utf8(&body).unwrap(), "3:4𝕊1:36:b4AQID");
        let back = decode_text(Bytes::from(body), 8).unwrap();
        assert_eq!(back[0], Packet::Message("𝕊".into()));
        assert_eq!(back[2], Packet::Binary(Bytes::from_static(&[1, 2, 3])));
    }

    #[test]
    fn encodes_binary_format() {
        let q = [
            Outgoing::Message("é".into()),
            Outgoing::Binary(Bytes::from_static(&[7; 12])),
        ];
        let (body, binary, n) = encode(&q, true, 10_000);
        assert!(binary);
        assert_eq!(n, 2);
        assert_eq!(&body[..6], &[0, 3, 255, b'4', 0xc3, 0xa9]);
        assert_eq!(&body[6..11], &[1, 1, 3, 255, 4]);
        let back = decode_binary(Bytes::from(body), 8).unwrap();
        assert_eq!(back[0], Packet::Message("é".into()));
        assert_eq!(back[1], Packet::Binary(Bytes::from_static(&[7; 12])));
    }

    #[test]
    fn encoder_respects_max_payload() {
        let q: Vec<Outgoing> = (0..200)
            .map(|i| Outgoing::Message(Bytes::from("x".repeat(i % 30 + 1))))
            .collect();
        let mut rest = &q[..];
        let mut total = 0;
        while !rest.is_empty() {
            let (body, _, n) = encode(rest, false, 300);
            assert!(body.len() <= 300);
            total += decode_text(Bytes::from(body), 1000).unwrap().len();
            rest = &rest[n..];
        }
        assert_eq!(total, 200);
    }

    proptest::proptest! {
        #[test]
        fn text_decoder_never_panics(s: String) {
            let _ = decode_text(Bytes::from(s), 64);
        }

        #[test]
        fn binary_decoder_never_panics(v: Vec<u8>) {
            let _ = decode_binary(Bytes::from(v), 64);
        }

        #[test]
        fn round_trip(msgs: Vec<String>, bins: Vec<Vec<u8>>, binary: bool) {
            let mut q: Vec<Outgoing> = msgs.into_iter().map(|m| Outgoing::Message(Bytes::from(m))).collect();
            q.extend(bins.into_iter().map(|b| Outgoing::Binary(Bytes::from(b))));
            proptest::prop_assume!(!q.is_empty());
            let (body, as_binary, n) = encode(&q, binary, usize::MAX);
            proptest::prop_assert_eq!(n, q.len());
            let back = if as_binary { decode_binary(Bytes::from(body), usize::MAX) } else { decode_text(Bytes::from(body), usize::MAX) };
            let back = back.unwrap();
            for (d, o) in back.iter().zip(&q) {
                match (d, o) {
                    (Packet::Message(a), Outgoing::Message(b)) => proptest::prop_assert_eq!(a, b),
                    (Packet::Binary(a), Outgoing::Binary(b)) => proptest::prop_assert_eq!(a, b),
                    _ => proptest::prop_assert!(false),
                }
            }
        }
    }
}
