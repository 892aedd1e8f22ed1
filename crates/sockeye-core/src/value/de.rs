//! A [`Value`] into any `Deserialize` type (and `Value` itself as `Deserialize`).

use bytes::Bytes;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Error;

use super::Value;

/// Converts a [`Value`] into a `T`. [`Value::Bin`] deserializes as bytes (`bytes::Bytes`,
/// `serde_bytes::ByteBuf`) or as a sequence of numbers (`Vec<u8>`).
///
/// # Examples
/// ```
/// use sockeye_core::value::{from_value, Value};
/// #[derive(serde::Deserialize)]
/// struct Quote { symbol: String, price: f64 }
/// let v = Value::Map(vec![("symbol".into(), "ACME".into()), ("price".into(), Value::Int(12))]);
/// let q: Quote = from_value(v).unwrap();
/// assert_eq!((q.symbol.as_str(), q.price), ("ACME", 12.0));
/// ```
///
/// # Errors
/// When the value does not have the shape of a `T`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(value)
}

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(v),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bin(Bytes::copy_from_slice(v)))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bin(Bytes::from(v)))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // The size hint may come from a peer: never trusted for more than a little.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.push((k, v));
        }
        Ok(Value::Map(out))
    }
}

impl IntoDeserializer<'_, Error> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(b),
            Value::Int(i) => v.visit_i64(i),
            Value::UInt(u) => v.visit_u64(u),
            Value::Float(f) => v.visit_f64(f),
            Value::Str(s) => v.visit_string(s),
            Value::Bin(b) => v.visit_byte_buf(Vec::from(b)),
            Value::Array(a) => {
                let len = a.len();
                let mut seq = de::value::SeqDeserializer::new(a.into_iter());
                let out = v.visit_seq(&mut seq)?;
                seq.end()
                    .map_err(|_| de::Error::invalid_length(len, &"fewer elements"))?;
                Ok(out)
            }
            Value::Map(m) => {
                let mut map = de::value::MapDeserializer::new(m.into_iter());
                let out = v.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self {
            Value::Null => v.visit_none(),
            other => v.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self {
            Value::Str(s) => v.visit_enum(s.into_deserializer()),
            Value::Map(mut m) if m.len() == 1 => {
                let (variant, value) = m.pop().unwrap_or_default();
                v.visit_enum(EnumAccess { variant, value })
            }
            _ => Err(de::Error::custom(
                "an enum is a string or a map with one entry",
            )),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self {
            Value::Bin(b) => v.visit_byte_buf(Vec::from(b)),
            other => other.deserialize_any(v),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(v)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self {
            // `Vec<u8>` asks for a sequence: a buffer's bytes are one.
            Value::Bin(b) => {
                let mut seq = de::value::SeqDeserializer::new(b.into_iter());
                let out = v.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            other => other.deserialize_any(v),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self {
            Value::Null => v.visit_unit(),
            other => other.deserialize_any(v),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

struct EnumAccess {
    variant: String,
    value: Value,
}

impl<'de> de::EnumAccess<'de> for EnumAccess {
    type Error = Error;
    type Variant = Value;
    fn variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Value), Error> {
        let name = seed.deserialize(self.variant.into_deserializer())?;
        Ok((name, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for Value {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self {
            Value::Null => Ok(()),
            _ => Err(de::Error::custom("expected a unit variant")),
        }
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(self, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::to_value;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum E {
        Unit,
        New(u8),
        Tuple(u8, String),
        Struct { a: Option<u8> },
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct S {
        e: Vec<E>,
        bin: bytes::Bytes,
        raw: Vec<u8>,
        f: f32,
        t: (i8, u64),
        none: Option<String>,
    }

    #[test]
    fn round_trips_through_value() {
        let s = S {
            e: vec![
                E::Unit,
                E::New(1),
                E::Tuple(2, "x".into()),
                E::Struct { a: None },
            ],
            bin: bytes::Bytes::from_static(b"\x00\xff"),
            raw: vec![1, 2, 3],
            f: 1.5,
            t: (-3, u64::MAX),
            none: None,
        };
        let v = to_value(&s).unwrap();
        assert_eq!(
            v.get("bin"),
            Some(&Value::Bin(bytes::Bytes::from_static(b"\x00\xff")))
        );
        let back: S = from_value(v).unwrap();
        assert_eq!(back, s);
        // From JSON text too (no binary there).
        let json = serde_json::json!({"a": [1, -2, 2.5, "x", null, true, {"b": {}}]});
        let v: Value = serde_json::from_value(json.clone()).unwrap();
        let back: serde_json::Value = from_value(v).unwrap();
        assert_eq!(back, json);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        assert!(from_value::<u8>(Value::Str("x".into())).is_err());
        assert!(from_value::<(u8, u8)>(Value::Array(vec![Value::Int(1)])).is_err());
        assert!(from_value::<(u8,)>(Value::Array(vec![Value::Int(1), Value::Int(2)])).is_err());
        assert!(from_value::<E>(Value::Map(vec![])).is_err());
        assert!(from_value::<u8>(Value::Int(300)).is_err());
    }
}
