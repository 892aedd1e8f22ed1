//! The WebSocket frame decoder (`ws::Decoder::decode`) fed the client's bytes in arbitrary
//! chunks, with tight `Limits` so the 1008/1009 paths are reached.
//!
//! Input layout: `[limits] [k] [k chunk sizes] [stream...]`
//! * `limits`: bits 0-2 pick `max_message_size` from `SIZES`, bits 3-5 give `max_fragments`
//!   (0-7);
//! * `k % 8` chunk sizes (0-255 bytes each, used in a cycle; `k % 8 == 0` feeds all at once).
//!
//! Checks, after every call to `decode`:
//! * the bytes left in the buffer are exactly the unconsumed suffix of the stream (nothing is
//!   consumed beyond what was fed, nothing unconsumed is altered), and the consumed prefix ends
//!   on a frame boundary, after an error too;
//! * messages keep their promises (UTF-8 text, sizes within the limits, valid close frames);
//! * errors carry one of the documented close codes;
//! * chunking does not matter: the same messages and the same final outcome as one decode of
//!   the whole stream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sockeye_engineio::ws::{Decoder, Limits, Message, ProtocolError};

const SIZES: [usize; 8] = [0, 1, 5, 125, 126, 300, 65_535, 1_000_000];

#[derive(Debug, PartialEq)]
enum Outcome {
    /// No error; this many bytes are left unconsumed.
    Pending(usize),
    Failed(ProtocolError),
}

fuzz_target!(|data: &[u8]| {
    let Some((&lim, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_message_size: SIZES[usize::from(lim & 7)],
        max_fragments: usize::from((lim >> 3) & 7),
    };
    let (chunks, stream) = match rest.split_first() {
        Some((&k, rest)) => {
            let k = usize::from(k % 8).min(rest.len());
            let (sizes, stream) = rest.split_at(k);
            (sizes.to_vec(), stream)
        }
        None => (Vec::new(), rest),
    };
    let boundaries = frame_boundaries(stream);

    // Reference: the whole stream at once.
    let (whole_msgs, whole_outcome) = run(stream, &[], limits, &boundaries);
    // The same stream in chunks.
    let (msgs, outcome) = run(stream, &chunks, limits, &boundaries);
    assert_eq!(msgs, whole_msgs, "chunking changed the messages");
    assert_eq!(outcome, whole_outcome, "chunking changed the outcome");
});

/// Feeds `stream` to a fresh decoder in chunks of the given sizes (cycled), draining after
/// each chunk, and checks the invariants of every step.
fn run(
    stream: &[u8],
    sizes: &[u8],
    limits: Limits,
    boundaries: &[usize],
) -> (Vec<Message>, Outcome) {
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    let mut msgs = Vec::new();
    let mut fed = 0;
    let mut consumed = 0;
    let mut sizes_iter = sizes.iter().cycle();
    let mut idle = 0;
    loop {
        let step = if sizes.is_empty() || idle > sizes.len() {
            stream.len() - fed
        } else {
            usize::from(*sizes_iter.next().unwrap_or(&255))
        };
        idle = if step == 0 { idle + 1 } else { 0 };
        let step = step.min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + step]);
        fed += step;
        loop {
            let before = buf.len();
            let result = decoder.decode(&mut buf);
            assert!(buf.len() <= before, "decode grew the buffer");
            consumed += before - buf.len();
            assert!(consumed <= fed);
            assert_eq!(&buf[..], &stream[consumed..fed], "unconsumed bytes altered");
            assert!(
                boundaries.binary_search(&consumed).is_ok(),
                "consumed {consumed} bytes, not a frame boundary (boundaries {boundaries:?})"
            );
            match result {
                Ok(Some(msg)) => {
                    check_message(&msg, limits);
                    msgs.push(msg);
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(
                        matches!(e.code, 1002 | 1007 | 1008 | 1009),
                        "unexpected close code {e:?}"
                    );
                    assert!(e.reason.len() <= 123);
                    return (msgs, Outcome::Failed(e));
                }
            }
        }
        if fed == stream.len() {
            return (msgs, Outcome::Pending(buf.len()));
        }
    }
}

fn check_message(msg: &Message, limits: Limits) {
    match msg {
        Message::Text(d) => {
            assert!(std::str::from_utf8(d).is_ok(), "text message not UTF-8");
            assert!(d.len() <= limits.max_message_size);
        }
        Message::Binary(d) => assert!(d.len() <= limits.max_message_size),
        Message::Ping(d) | Message::Pong(d) => assert!(d.len() <= 125),
        Message::Close(None) => {}
        Message::Close(Some(c)) => {
            assert!(matches!(c.code, 1000..=1003 | 1007..=1011 | 3000..=4999));
            assert!(c.reason.len() <= 123);
            assert!(std::str::from_utf8(&c.reason).is_ok());
        }
    }
}

/// Offsets at which complete frames end (0 included), read with a minimal, independent parser
/// of frame lengths (no validation beyond what is needed to find the next frame).
fn frame_boundaries(stream: &[u8]) -> Vec<usize> {
    let mut out = vec![0];
    let mut pos = 0;
    loop {
        let Some(&b1) = stream.get(pos + 1) else {
            return out;
        };
        let (len, mut header) = match b1 & 0x7F {
            126 => match stream.get(pos + 2..pos + 4) {
                Some(s) => (u64::from(u16::from_be_bytes([s[0], s[1]])), 4),
                None => return out,
            },
            127 => match stream.get(pos + 2..pos + 10) {
                Some(s) => (u64::from_be_bytes(s.try_into().unwrap()), 10),
                None => return out,
            },
            n => (u64::from(n), 2),
        };
        if b1 & 0x80 != 0 {
            header += 4;
        }
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (pos + header).checked_add(l))
        else {
            return out;
        };
        if end > stream.len() {
            return out;
        }
        out.push(end);
        pos = end;
    }
}
