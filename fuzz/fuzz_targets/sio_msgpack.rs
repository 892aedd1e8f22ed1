//! The msgpack packet decoder (`sockeye_core::parser::msgpack::decode`, what
//! `MsgpackParser` reads from a client of `socket.io-msgpack-parser`), through
//! `sockeye::__fuzz::decode_msgpack` (features `fuzzing` and `msgpack`).
//!
//! Besides "no panic, no hang, no allocation from a declared length": every argument of a
//! packet that decodes must decode on its own as a value, and an event re-encoded from its
//! payload must decode again with the same namespace, name, ack id and arguments. A text
//! message is always refused.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sockeye::__fuzz::decode_msgpack(Bytes::copy_from_slice(data));
    assert!(
        sockeye::__fuzz::msgpack_text_refused(Bytes::copy_from_slice(data)),
        "a text message was accepted by the msgpack parser"
    );
});
