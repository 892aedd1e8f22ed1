//! Engine.IO packet decoder: `Packet::decode_text` (with and without base64, as WebSocket text
//! frames and polling records use it) and `Packet::decode_binary` (v3 and v4).
//!
//! Besides "no panic", checks what each variant must hold: the data after the type byte,
//! canonical base64 for `b` packets, and which inputs must be refused.
#![no_main]

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_engineio::packet::Packet;
use sockeye_engineio::{PacketError, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);

    for allow_base64 in [false, true] {
        let result = Packet::decode_text(input.clone(), allow_base64);
        let Some((&ty, rest)) = data.split_first() else {
            assert_eq!(result, Err(PacketError::Empty));
            continue;
        };
        match result {
            Ok(Packet::Open(d)) => assert!(ty == b'0' && d == rest),
            Ok(Packet::Close) => assert_eq!(ty, b'1'),
            Ok(Packet::Ping(d)) => assert!(ty == b'2' && d == rest),
            Ok(Packet::Pong(d)) => assert!(ty == b'3' && d == rest),
            Ok(Packet::Message(d)) => {
                assert!(ty == b'4' && d == rest);
                // The packet's own promise: a UTF-8 frame gives a UTF-8 message.
                if std::str::from_utf8(data).is_ok() {
                    assert!(std::str::from_utf8(&d).is_ok());
                }
            }
            Ok(Packet::Upgrade) => assert_eq!(ty, b'5'),
            Ok(Packet::Noop) => assert_eq!(ty, b'6'),
            Ok(Packet::Binary(d)) => {
                assert!(allow_base64 && ty == b'b', "binary from {data:?}");
                // Only canonical base64 (padded or not) may decode: encoding back gives the input.
                let padded = STANDARD.encode(&d);
                let unpadded = STANDARD_NO_PAD.encode(&d);
                assert!(
                    rest == padded.as_bytes() || rest == unpadded.as_bytes(),
                    "non-canonical base64 accepted: {rest:?} -> {d:?}"
                );
            }
            Ok(other) => panic!("unexpected packet {other:?}"),
            Err(PacketError::BadBase64) => assert!(allow_base64 && ty == b'b'),
            Err(PacketError::UnknownType) => {
                assert!(!b"0123456".contains(&ty));
                assert!(!(allow_base64 && ty == b'b'));
            }
            Err(e) => panic!("unexpected error {e:?} for {data:?}"),
        }
    }

    match Packet::decode_binary(input.clone(), ProtocolVersion::V4) {
        Ok(Packet::Binary(d)) => assert_eq!(d, input),
        other => panic!("v4 binary frame: {other:?}"),
    }
    match (Packet::decode_binary(input, ProtocolVersion::V3), data.split_first()) {
        (Ok(Packet::Binary(d)), Some((4, rest))) => assert_eq!(&d[..], rest),
        (Err(PacketError::UnknownType), first) => assert!(first.map(|(b, _)| *b) != Some(4)),
        (other, _) => panic!("v3 binary frame {data:?}: {other:?}"),
    }
});
