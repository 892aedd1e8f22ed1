//! Engine.IO v3 long-polling payloads: `payload_v3::decode_text` (UTF-16 length prefixes) and
//! `payload_v3::decode_binary` (kind byte, decimal digits, 255), both on every input, and a
//! differential round trip through `payload_v3::encode` in both formats.
//!
//! * The packet cap only ever turns a success into `TooManyPackets`.
//! * What decodes and can be sent by a server (messages, binaries, empty pings and pongs,
//!   noops, closes) is re-encoded, in the text and in the binary format, and decoded again
//!   with the matching decoder: the packets must come back equal.
//! * Under a `max_payload` taken from the input, every body respects it (one oversized packet
//!   alone excepted) and repeated calls cover the whole queue.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_engineio::packet::Packet;
use sockeye_engineio::payload::Outgoing;
use sockeye_engineio::payload_v3::{decode_binary, decode_text, encode};
use sockeye_engineio::PacketError;

const CAP: usize = 4;

type Decode = fn(Bytes, usize) -> Result<Vec<Packet>, PacketError>;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    for decode in [decode_text as Decode, decode_binary as Decode] {
        let full = decode(body.clone(), usize::MAX);
        let capped = decode(body.clone(), CAP);
        match (&full, &capped) {
            (Ok(all), Ok(some)) => assert!(all.len() <= CAP && all == some),
            (Ok(all), Err(PacketError::TooManyPackets)) => assert!(all.len() > CAP),
            (Err(e1), Err(e2)) => assert!(e1 == e2 || *e2 == PacketError::TooManyPackets),
            other => panic!("capped and uncapped decodes disagree: {other:?}"),
        }
        if let Ok(packets) = full {
            round_trip(&packets, data);
        }
    }
});

fn round_trip(packets: &[Packet], data: &[u8]) {
    let queue: Vec<Outgoing> = packets
        .iter()
        .filter_map(|p| match p {
            Packet::Message(d) => Some(Outgoing::Message(d.clone())),
            Packet::Binary(d) => Some(Outgoing::Binary(d.clone())),
            Packet::Ping(d) if d.is_empty() => Some(Outgoing::Ping),
            Packet::Pong(d) if d.is_empty() => Some(Outgoing::Pong),
            Packet::Noop => Some(Outgoing::Noop),
            Packet::Close => Some(Outgoing::Close),
            _ => None,
        })
        .collect();
    if queue.is_empty() {
        return;
    }
    let expected: Vec<Packet> = queue.iter().map(outgoing_to_packet).collect();
    let has_binary = queue.iter().any(|p| matches!(p, Outgoing::Binary(_)));

    for binary in [false, true] {
        let (body, as_binary, n) = encode(&queue, binary, usize::MAX);
        assert_eq!(n, queue.len());
        assert_eq!(as_binary, binary && has_binary);
        if !as_binary {
            assert!(std::str::from_utf8(&body).is_ok(), "text payload not UTF-8");
        }
        let again = decode_as(body, as_binary).expect("re-encoded payload decodes");
        assert_eq!(again, expected, "round trip (binary: {binary})");

        let max_payload = usize::from(data[0]) % 64 + data.len() / 4;
        let mut rest = &queue[..];
        let mut decoded = Vec::new();
        while !rest.is_empty() {
            let (body, as_binary, n) = encode(rest, binary, max_payload);
            assert!(n >= 1 && n <= rest.len());
            assert!(
                body.len() <= max_payload || n == 1,
                "{} bytes over a limit of {max_payload} with {n} packets",
                body.len()
            );
            decoded.extend(decode_as(body, as_binary).expect("chunk decodes"));
            rest = &rest[n..];
        }
        assert_eq!(decoded, expected, "round trip under max_payload {max_payload}");
    }
}

fn decode_as(body: Vec<u8>, binary: bool) -> Result<Vec<Packet>, PacketError> {
    if binary {
        decode_binary(Bytes::from(body), usize::MAX)
    } else {
        decode_text(Bytes::from(body), usize::MAX)
    }
}

fn outgoing_to_packet(o: &Outgoing) -> Packet {
    match o {
        Outgoing::Message(d) => Packet::Message(d.clone()),
        Outgoing::Binary(d) => Packet::Binary(d.clone()),
        Outgoing::Ping => Packet::Ping(Bytes::new()),
        Outgoing::Pong => Packet::Pong(Bytes::new()),
        Outgoing::Noop => Packet::Noop,
        Outgoing::Close => Packet::Close,
        _ => unreachable!(),
    }
}
