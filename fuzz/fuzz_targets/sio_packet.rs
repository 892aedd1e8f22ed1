//! The Socket.IO packet decoder (`parser::decode`, then `parser::check_placeholders` for
//! binary packets) and the event re-encoder, through `sockeye::__fuzz` (feature `fuzzing`).
//!
//! `__fuzz::decode` completes a binary packet with as many attachments as it announces and
//! checks its placeholders; `__fuzz::round_trip` decodes an event, re-encodes it and decodes it
//! again, panicking if the namespace, name, ack id or arguments change; `__fuzz::json_array`
//! compares the JSON array skimmer with `serde_json` on the same text.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    for max_attachments in [0, 10] {
        let ok = sockeye::__fuzz::decode(input.clone(), max_attachments).is_ok();
        if ok {
            // Only client packet types decode, and only from UTF-8.
            assert!(std::str::from_utf8(data).is_ok());
            assert!(matches!(data.first(), Some(b'0' | b'1' | b'2' | b'3' | b'5' | b'6')));
            if max_attachments == 0 {
                assert!(!matches!(data.first(), Some(b'5' | b'6')));
            }
        }
    }
    sockeye::__fuzz::round_trip(input);
    // The argument skimmer must agree with serde_json on any text after the type byte.
    sockeye::__fuzz::json_array(data.get(1..).unwrap_or_default());
});
