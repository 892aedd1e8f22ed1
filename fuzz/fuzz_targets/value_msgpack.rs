//! The msgpack value decoder of `sockeye_core::value::msgpack` (feature `msgpack`): what the
//! Redis adapter reads from other servers.
//!
//! Decodes the input twice (copying binary, and sharing it with `decode_bytes`), which must
//! agree; a value that decodes is encoded and decoded again and must come back the same
//! (NaN equal to NaN; a float without a fraction comes back an integer, as in JavaScript).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_core::value::{msgpack, Value};

fuzz_target!(|data: &[u8]| {
    let copied = msgpack::decode(data);
    let shared = msgpack::decode_bytes(&Bytes::copy_from_slice(data));
    assert!(same_result(&copied, &shared), "{copied:?} vs {shared:?}");
    if let Ok(v) = copied {
        let again = msgpack::encode(&v);
        let back = msgpack::decode(&again).expect("our own encoding decodes");
        assert!(same(&back, &v), "{back:?} vs {v:?}");
    }
});

fn same_result(
    a: &Result<Value, msgpack::DecodeError>,
    b: &Result<Value, msgpack::DecodeError>,
) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => same(a, b),
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Int(i), Value::Float(f)) | (Value::Float(f), Value::Int(i)) => *i as f64 == *f,
        (Value::UInt(u), Value::Float(f)) | (Value::Float(f), Value::UInt(u)) => *u as f64 == *f,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, a), (l, b))| k == l && same(a, b))
        }
        _ => a == b,
    }
}
