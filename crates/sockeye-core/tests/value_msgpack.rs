//! `value::msgpack` against the bytes of the real notepack.io 3 (tests/data/notepack-vectors.json,
//! made by tests/data/notepack-vectors.js), and round trips.

use bytes::Bytes;
use proptest::prelude::*;
use sockeye_core::value::{msgpack, Value, MAX_DEPTH};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A tagged JSON value of the vectors file as a `Value` (see the script for the tags).
fn untag(v: Value) -> Value {
    match v {
        Value::Map(m) if m.len() == 1 && m[0].0.starts_with('$') => {
            let (tag, inner) = m.into_iter().next().unwrap();
            match (tag.as_str(), inner) {
                ("$bin", Value::Str(h)) => Value::Bin(Bytes::from(hex(&h))),
                ("$int", Value::Str(d)) => match d.parse::<i64>() {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::UInt(d.parse().unwrap()),
                },
                ("$float", Value::Str(f)) => Value::Float(match f.as_str() {
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    other => panic!("{other}"),
                }),
                ("$float", Value::Int(i)) => Value::Float(i as f64),
                ("$float", f @ Value::Float(_)) => f,
                (tag, v) => panic!("unknown tag {tag}: {v:?}"),
            }
        }
        Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, untag(v))).collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(untag).collect()),
        other => other,
    }
}

struct Vectors {
    encoded: Vec<(String, Value, Vec<u8>)>,
    decoded: Vec<(String, Vec<u8>, Value)>,
    refused: Vec<(String, Vec<u8>)>,
}

fn vectors() -> Vectors {
    let text = include_str!("data/notepack-vectors.json");
    let all: Value = serde_json::from_str(text).unwrap();
    let list = |name: &str| all.get(name).unwrap().as_array().unwrap().to_vec();
    let name = |v: &Value| v.get("name").unwrap().as_str().unwrap().to_owned();
    let bytes = |v: &Value| hex(v.get("hex").unwrap().as_str().unwrap());
    let value = |v: &Value| untag(v.get("value").cloned().unwrap_or_default());
    Vectors {
        encoded: list("encoded")
            .iter()
            .map(|v| (name(v), value(v), bytes(v)))
            .collect(),
        decoded: list("decoded")
            .iter()
            .map(|v| (name(v), bytes(v), value(v)))
            .collect(),
        refused: list("refused")
            .iter()
            .map(|v| (name(v), bytes(v)))
            .collect(),
    }
}

#[test]
fn encodes_as_notepack_does() {
    let v = vectors();
    assert!(v.encoded.len() > 60);
    for (name, value, bytes) in &v.encoded {
        assert_eq!(&msgpack::encode(value), bytes, "{name}: {value:?}");
    }
}

#[test]
fn decodes_what_notepack_encodes() {
    for (name, value, bytes) in &vectors().encoded {
        // notepack writes integral floats as integers: they come back as integers.
        let want = match value {
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Value::Int(*f as i64),
            other => other.clone(),
        };
        assert_eq!(msgpack::decode(bytes).as_ref(), Ok(&want), "{name}");
        assert_eq!(
            msgpack::decode_bytes(&Bytes::from(bytes.clone())),
            Ok(want),
            "{name}"
        );
    }
}

#[test]
fn decodes_other_encoders_as_a_node_server_sees_them() {
    let v = vectors();
    assert!(v.decoded.len() > 30);
    for (name, bytes, want) in &v.decoded {
        assert_eq!(msgpack::decode(bytes).as_ref(), Ok(want), "{name}");
    }
}

#[test]
fn refuses_what_notepack_refuses() {
    let v = vectors();
    assert!(v.refused.len() > 10);
    for (name, bytes) in &v.refused {
        assert!(msgpack::decode(bytes).is_err(), "{name}");
    }
}

#[test]
fn every_truncation_of_every_vector_is_an_error() {
    for (name, _, bytes) in &vectors().encoded {
        for cut in 0..bytes.len() {
            assert!(
                msgpack::decode(&bytes[..cut]).is_err(),
                "{name} cut at {cut}"
            );
        }
    }
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::UInt),
        // Floats with a fraction (integral ones become integers, as in JavaScript).
        any::<f64>()
            .prop_filter("a fraction", |f| f.fract() != 0.0 && !f.is_nan())
            .prop_map(Value::Float),
        ".{0,40}".prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| Value::Bin(b.into())),
    ];
    leaf.prop_recursive(6, 200, 20, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
            // Distinct keys: a map with duplicates decodes as one without.
            proptest::collection::btree_map(".{0,8}", inner, 0..20)
                .prop_map(|m| Value::Map(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn round_trips(v in value()) {
        let bytes = msgpack::encode(&v);
        prop_assert_eq!(msgpack::decode(&bytes), Ok(v));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(v) = msgpack::decode(&bytes) {
            // What decodes encodes, and decodes again to the same value.
            let again = msgpack::encode(&v);
            let back = msgpack::decode(&again).unwrap();
            prop_assert!(same(&back, &v), "{:?} vs {:?}", back, v);
        }
    }

    #[test]
    fn mutated_vectors_never_panic(i in 0usize..64, pos in any::<usize>(), byte in any::<u8>()) {
        let v = vectors();
        let (_, _, bytes) = &v.encoded[i % v.encoded.len()];
        let mut bytes = bytes.clone();
        if !bytes.is_empty() {
            let p = pos % bytes.len();
            bytes[p] = byte;
        }
        let _ = msgpack::decode(&bytes);
    }
}

/// Equality where NaN equals NaN and an integral float equals its integer.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) if x.is_nan() && y.is_nan() => true,
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

#[test]
fn depth_limit_matches_the_json_side() {
    let mut ok = vec![0x91; MAX_DEPTH];
    ok.push(0x90);
    assert!(
        msgpack::decode(&ok).is_err(),
        "MAX_DEPTH arrays holding one more"
    );
    ok.pop();
    ok.push(0xc0);
    assert!(msgpack::decode(&ok).is_ok());
}
