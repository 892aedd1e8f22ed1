//! The WebSocket decoder with `permessage-deflate` agreed (`ws::Decoder::with_deflate`): the
//! inflater behind it, fed hostile compressed messages and valid ones, in one frame or two.
//!
//! Input layout: `[limits] [agreed] (flags len data[len])*`
//! * `limits`: bits 0-2 pick `max_message_size` from `SIZES`;
//! * `agreed`: bit 0 `client_no_context_takeover`, bits 1-3 the client's window (8 + n);
//! * per message: `flags` bit 0 text (else binary), bit 1 `data` is compressed here first (a
//!   valid message, compressed alone; else `data` is sent as the compressed bytes), bit 2 in
//!   two fragments, bit 3 without RSV1 (not compressed); `len` is one byte.
//!
//! Checks: no panic, no allocation past the limit (a message is never longer than
//! `max_message_size`, whatever the input inflates to); text is UTF-8; errors carry 1002,
//! 1007, 1008 or 1009 only; a valid compressed message comes back exactly as it went in when
//! it fits the limit (and is UTF-8 for text), and fails with 1009 when it does not.
#![no_main]

use bytes::BytesMut;
use flate2::{Compress, Compression, FlushCompress};
use libfuzzer_sys::fuzz_target;
use sockeye_engineio::ws::{Agreed, Decoder, Limits, Message};

const SIZES: [usize; 8] = [0, 1, 16, 125, 300, 4096, 65_536, 1_000_000];

fuzz_target!(|data: &[u8]| {
    let [lim, agreed_bits, rest @ ..] = data else {
        return;
    };
    let limits = Limits {
        max_message_size: SIZES[usize::from(lim & 7)],
        max_fragments: 8,
    };
    let mut agreed = Agreed::default();
    agreed.client_no_context_takeover = agreed_bits & 1 != 0;
    agreed.client_max_window_bits = 8 + ((agreed_bits >> 1) & 7);
    let mut decoder = Decoder::with_deflate(limits, agreed);
    let mut buf = BytesMut::new();
    let mut rest = rest;
    let mut copy = false;
    while let [flags, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(n);
        rest = next;
        let text = flags & 1 != 0;
        let valid = flags & 2 != 0;
        let fragmented = flags & 4 != 0;
        let compressed = flags & 8 == 0;
        // A valid message is larger than its byte: repeat it, so that the limits are reached.
        let plain: Vec<u8> = body.repeat(1 + usize::from(flags >> 4) * 16);
        let payload = if valid && compressed {
            deflate_alone(&plain)
        } else {
            body.to_vec()
        };
        let opcode = if text { 0x1 } else { 0x2 };
        let rsv1 = if compressed { 0x40 } else { 0 };
        buf.clear();
        if fragmented && payload.len() >= 2 {
            let (a, b) = payload.split_at(payload.len() / 2);
            client_frame(rsv1 | opcode, a, &mut buf);
            client_frame(0x80, b, &mut buf);
        } else {
            client_frame(0x80 | rsv1 | opcode, &payload, &mut buf);
        }
        // The two decode paths alternate.
        copy = !copy;
        let result = if copy {
            decoder.decode_copied(&mut buf)
        } else {
            decoder.decode(&mut buf)
        };
        let msg = match result {
            Ok(m) => m,
            Err(e) => {
                assert!(matches!(e.code, 1002 | 1007 | 1008 | 1009), "{e:?}");
                if valid && compressed && payload.len() <= limits.max_message_size {
                    // A valid message only fails for its size or its UTF-8.
                    assert!(
                        e.code == 1009 && plain.len() > limits.max_message_size
                            || e.code == 1007 && text && std::str::from_utf8(&plain).is_err(),
                        "valid message refused: {e:?}, {} bytes",
                        plain.len()
                    );
                }
                return;
            }
        };
        let Some(msg) = msg else {
            panic!("a whole message did not decode");
        };
        let got = match msg {
            Message::Text(t) => {
                assert!(text);
                assert!(std::str::from_utf8(&t).is_ok());
                t
            }
            Message::Binary(b) => {
                assert!(!text);
                b
            }
            other => panic!("not a data message: {other:?}"),
        };
        assert!(got.len() <= limits.max_message_size, "{} bytes", got.len());
        if valid && compressed {
            assert_eq!(&got[..], &plain[..], "a valid message changed");
        }
        if !compressed {
            assert_eq!(&got[..], &payload[..]);
        }
    }
});

/// Raw deflate of one message, alone, sync flush, trailer stripped.
fn deflate_alone(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut rest = data;
    loop {
        let before = c.total_in();
        if c.compress_vec(rest, &mut out, FlushCompress::Sync).is_err() {
            return out;
        }
        let used = usize::try_from(c.total_in() - before).unwrap_or(rest.len());
        rest = &rest[used.min(rest.len())..];
        if rest.is_empty() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

/// A masked client frame with first byte `b0`.
fn client_frame(b0: u8, payload: &[u8], out: &mut BytesMut) {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    out.extend_from_slice(&[b0]);
    match payload.len() {
        n @ 0..=125 => out.extend_from_slice(&[0x80 | n as u8]),
        n @ 126..=65_535 => {
            out.extend_from_slice(&[0x80 | 126]);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.extend_from_slice(&[0x80 | 127]);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}
