//! v4 long-polling payloads: `payload::decode_v4`, and a differential round trip through
//! `payload::encode_v4`.
//!
//! * The packet cap only ever turns a success into `TooManyPackets`.
//! * What decodes and can be sent by a server (messages, binaries, empty pings and pongs,
//!   noops, closes) is re-encoded and decoded again: the packets must come back equal.
//! * Encoding under a `max_payload` (taken from the input) must respect it (one oversized
//!   packet alone excepted), account for every byte with `Outgoing::polling_len`, and cover the
//!   whole queue when called repeatedly.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_engineio::packet::Packet;
use sockeye_engineio::payload::{decode_v4, encode_v4, Outgoing};
use sockeye_engineio::PacketError;

/// The cap used for the capped decode.
const CAP: usize = 4;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let full = decode_v4(body.clone(), usize::MAX);
    let capped = decode_v4(body, CAP);
    match (&full, &capped) {
        (Ok(all), Ok(some)) => assert!(all.len() <= CAP && all == some),
        (Ok(all), Err(PacketError::TooManyPackets)) => assert!(all.len() > CAP),
        (Err(e1), Err(e2)) => assert!(e1 == e2 || *e2 == PacketError::TooManyPackets),
        other => panic!("capped and uncapped decodes disagree: {other:?}"),
    }
    if data.iter().all(|&b| b == 0x1e) {
        assert_eq!(full, Ok(vec![]), "empty records are ignored");
    }
    let Ok(packets) = full else {
        return;
    };
    // Separators never end up inside a packet.
    for p in &packets {
        if let Packet::Open(d) | Packet::Ping(d) | Packet::Pong(d) | Packet::Message(d) = p {
            assert!(!d.contains(&0x1e));
        }
    }

    // Re-encode what a server could send and decode it again.
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
    let expected: Vec<Packet> = queue.iter().map(outgoing_to_packet).collect();

    let (body, n) = encode_v4(&queue, usize::MAX);
    assert_eq!(n, queue.len());
    assert_eq!(body.len(), encoded_len(&queue));
    let again = decode_v4(Bytes::from(body), usize::MAX).expect("re-encoded payload decodes");
    assert_eq!(again, expected, "round trip");

    // The same queue under a size limit taken from the input.
    if queue.is_empty() {
        return;
    }
    let max_payload = usize::from(data[0]) % 64 + data.len() / 4;
    let mut rest = &queue[..];
    let mut decoded = Vec::new();
    while !rest.is_empty() {
        let (body, n) = encode_v4(rest, max_payload);
        assert!(n >= 1 && n <= rest.len(), "took {n} of {}", rest.len());
        assert!(
            body.len() <= max_payload || n == 1,
            "{} bytes over a limit of {max_payload} with {n} packets",
            body.len()
        );
        assert_eq!(body.len(), encoded_len(&rest[..n]));
        decoded.extend(decode_v4(Bytes::from(body), usize::MAX).expect("chunk decodes"));
        rest = &rest[n..];
    }
    assert_eq!(decoded, expected, "round trip under max_payload {max_payload}");
});

/// The packet a client would decode from what the server sent.
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

/// The payload size that `polling_len` promises: the packets plus one separator between each.
fn encoded_len(queue: &[Outgoing]) -> usize {
    queue.iter().map(Outgoing::polling_len).sum::<usize>() + queue.len().saturating_sub(1)
}
