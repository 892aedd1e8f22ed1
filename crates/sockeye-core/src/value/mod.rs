//! [`Value`]: a Socket.IO argument with its structure, binary included.
//!
//! What a JavaScript peer sends is JSON with binary buffers inside it (the JSON parser carries
//! them as attachments, msgpack and the cluster's wire format carry them inline). A `Value`
//! holds such an argument whatever its wire form, so that one packet can be encoded for local
//! clients and for other servers without going through text first.
//!
//! [`to_value`] and [`from_value`] convert from and to any serde type: `bytes::Bytes`,
//! `serde_bytes` and other values serialized as bytes become [`Value::Bin`]. With the
//! `msgpack` feature, the `msgpack` module reads and writes values as MessagePack, as Node's cluster
//! adapters do.

mod de;
pub(crate) mod json;
#[cfg(feature = "msgpack")]
pub mod msgpack;
mod ser;

use bytes::Bytes;

pub use de::from_value;
pub use ser::to_value;

/// How deep values decoded from a peer may nest (serde_json's own limit).
pub const MAX_DEPTH: usize = 128;

/// One argument of a packet (or a part of one), as a JavaScript peer would see it.
///
/// Maps keep their keys' order (a JavaScript object's order) and have text keys only.
/// Decoders of peer input ([`Payload`](crate::Payload)'s JSON, msgpack) refuse nesting
/// deeper than [`MAX_DEPTH`], so dropping or walking a value never exhausts the stack.
///
/// # Examples
/// ```
/// use sockeye_core::value::{from_value, to_value, Value};
/// let v = to_value(&serde_json::json!({"symbol": "ACME", "price": 12.5})).unwrap();
/// assert_eq!(v.get("symbol"), Some(&Value::Str("ACME".into())));
/// let back: serde_json::Value = from_value(v).unwrap();
/// assert_eq!(back["price"], 12.5);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null` (and JavaScript's `undefined`).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer that fits an `i64`.
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    /// A number with a fraction (or too large for an integer).
    Float(f64),
    /// Text.
    Str(String),
    /// A binary buffer (a `Buffer`, `ArrayBuffer` or typed array on the JavaScript side).
    Bin(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// An object, its entries in order.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The value of `key` when this is a map that has it.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::value::Value;
    /// let v = Value::Map(vec![("a".into(), Value::Int(1))]);
    /// assert_eq!(v.get("a"), Some(&Value::Int(1)));
    /// assert_eq!(v.get("b"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text when this is a string.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::value::Value;
    /// assert_eq!(Value::Str("x".into()).as_str(), Some("x"));
    /// assert_eq!(Value::Null.as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number as a `u64` when it is a non-negative integer (a float with no fraction
    /// counts, as JavaScript numbers are floats).
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::value::Value;
    /// assert_eq!(Value::Int(3).as_u64(), Some(3));
    /// assert_eq!(Value::Float(3.0).as_u64(), Some(3));
    /// assert_eq!(Value::Float(3.5).as_u64(), None);
    /// assert_eq!(Value::Int(-1).as_u64(), None);
    /// ```
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) => u64::try_from(i).ok(),
            Value::UInt(u) => Some(u),
            Value::Float(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 => {
                Some(f as u64)
            }
            _ => None,
        }
    }

    /// The items when this is an array.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::value::Value;
    /// assert_eq!(Value::Array(vec![Value::Null]).as_array().map(<[_]>::len), Some(1));
    /// ```
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this value holds binary data anywhere inside it.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::value::Value;
    /// let v = Value::Array(vec![Value::Int(1), Value::Bin(bytes::Bytes::from_static(b"x"))]);
    /// assert!(v.has_binary());
    /// assert!(!Value::Str("x".into()).has_binary());
    /// ```
    pub fn has_binary(&self) -> bool {
        let mut stack = vec![self];
        while let Some(v) = stack.pop() {
            match v {
                Value::Bin(_) => return true,
                Value::Array(a) => stack.extend(a),
                Value::Map(m) => stack.extend(m.iter().map(|(_, v)| v)),
                _ => {}
            }
        }
        false
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Value {
        Value::Bin(b)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Value {
        Value::Array(a)
    }
}
