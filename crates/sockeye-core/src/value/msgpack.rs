//! [`Value`] to and from MessagePack, as notepack.io 3 writes and reads it.
//!
//! notepack.io is the encoder of Node's `@socket.io/redis-adapter` and
//! `@socket.io/redis-emitter` (and of `socket.io-msgpack-parser`), so these are the bytes the
//! servers of a mixed cluster exchange. [`encode`] writes what notepack writes for the same
//! JavaScript value:
//!
//! | value | msgpack |
//! |---|---|
//! | integers (and floats without a fraction, as JavaScript has one number type) | the smallest int or uint format |
//! | other floats, NaN, infinities | float 64 |
//! | text | fixstr, str 8/16/32 |
//! | binary | bin 8/16/32 |
//! | arrays, maps (text keys, in order) | fixarray/array 16/32, fixmap/map 16/32 |
//! | null | nil |
//!
//! (notepack writes an integral number of 2^64 or more as a wrapped uint64; this writes it as
//! a float 64, which notepack reads back as the same number.)
//!
//! [`decode`] reads any msgpack a peer may send, as a Node server would see it: float 32
//! widened, extension values as `[type, <binary>]`, notepack's own extensions (an undefined
//! value, an `ArrayBuffer`) and timestamps (a JavaScript `Date`) as the ISO 8601 text a Node
//! server sends its clients for a date; map keys that are numbers, booleans or nil as their
//! text; the last of duplicate keys wins (at the place of the first); text that is not UTF-8
//! with replacement characters. Input is untrusted: nesting deeper than
//! [`MAX_DEPTH`], a declared length longer than the bytes left, an unknown
//! type byte, a key that is an array, map or binary, or trailing bytes are errors, never a
//! panic, and nothing is allocated from a declared length alone.
//!
//! # Examples
//! ```
//! use sockeye_core::value::{msgpack, Value};
//! let v = Value::Array(vec!["price".into(), Value::Float(12.5), Value::Int(3)]);
//! let bytes = msgpack::encode(&v);
//! assert_eq!(bytes, b"\x93\xa5price\xcb\x40\x29\x00\x00\x00\x00\x00\x00\x03");
//! assert_eq!(msgpack::decode(&bytes).unwrap(), v);
//! ```

use bytes::Bytes;
use rmp::Marker;

use super::{Value, MAX_DEPTH};

/// Why bytes are not a msgpack value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside a value (or a declared length is longer than what is left).
    #[error("msgpack input is truncated")]
    Truncated,
    /// Arrays and maps nest deeper than [`MAX_DEPTH`].
    #[error("msgpack value nests too deep")]
    TooDeep,
    /// A type byte that msgpack never uses (`0xc1`), or a malformed timestamp.
    #[error("invalid msgpack type byte {0:#04x}")]
    InvalidType(u8),
    /// A map key that is an array, a map or binary.
    #[error("msgpack map key is not text or a number")]
    InvalidKey,
    /// Bytes after the value.
    #[error("{0} bytes after the msgpack value")]
    TrailingBytes(usize),
}

/// Encodes `value` as notepack.io encodes the same JavaScript value.
///
/// # Examples
/// ```
/// use sockeye_core::value::{msgpack, Value};
/// assert_eq!(msgpack::encode(&Value::Int(300)), [0xcd, 0x01, 0x2c]);
/// // JavaScript has one number type: 2.0 is the integer 2.
/// assert_eq!(msgpack::encode(&Value::Float(2.0)), [0x02]);
/// ```
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_into(&mut out, value);
    out
}

/// Appends the encoding of `value` to `out` (see [`encode`]).
///
/// # Examples
/// ```
/// use sockeye_core::value::{msgpack, Value};
/// let mut out = vec![0x92];
/// msgpack::encode_into(&mut out, &Value::Null);
/// msgpack::encode_into(&mut out, &Value::Bool(true));
/// assert_eq!(msgpack::decode(&out).unwrap(), Value::Array(vec![Value::Null, Value::Bool(true)]));
/// ```
pub fn encode_into(out: &mut Vec<u8>, value: &Value) {
    // An explicit stack: values the application builds may nest deeper than peers' may.
    enum Item<'a> {
        Value(&'a Value),
        Key(&'a str),
    }
    let mut stack = vec![Item::Value(value)];
    while let Some(item) = stack.pop() {
        let v = match item {
            Item::Key(k) => {
                write_str(out, k);
                continue;
            }
            Item::Value(v) => v,
        };
        // Writing to a `Vec` cannot fail: the results below are all `Ok`.
        match v {
            Value::Null => {
                let _ = rmp::encode::write_nil(out);
            }
            Value::Bool(b) => {
                let _ = rmp::encode::write_bool(out, *b);
            }
            Value::Int(i) => {
                let _ = rmp::encode::write_sint(out, *i);
            }
            Value::UInt(u) => {
                let _ = rmp::encode::write_uint(out, *u);
            }
            Value::Float(f) => write_number(out, *f),
            Value::Str(s) => write_str(out, s),
            Value::Bin(b) => {
                let _ = rmp::encode::write_bin(out, b);
            }
            Value::Array(a) => {
                let _ = rmp::encode::write_array_len(out, len32(a.len()));
                stack.extend(a.iter().rev().map(Item::Value));
            }
            Value::Map(m) => {
                let _ = rmp::encode::write_map_len(out, len32(m.len()));
                for (k, v) in m.iter().rev() {
                    stack.push(Item::Value(v));
                    stack.push(Item::Key(k));
                }
            }
        }
    }
}

/// A length as msgpack's 32 bits: longer collections cannot be encoded, by notepack either
/// (it throws); 4 billion items is far past any message a server could publish.
fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = rmp::encode::write_str_len(out, len32(s.len()));
    out.extend_from_slice(s.as_bytes());
}

/// A JavaScript number: integral values as integers (as notepack), the rest as float 64.
fn write_number(out: &mut Vec<u8>, f: f64) {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    if f.is_finite() && f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_64).contains(&f) {
        // In range, so the casts are exact (and -0.0 becomes 0, as in notepack).
        if f < TWO_POW_63 {
            let _ = rmp::encode::write_sint(out, f as i64);
        } else {
            let _ = rmp::encode::write_uint(out, f as u64);
        }
    } else {
        let _ = rmp::encode::write_f64(out, f);
    }
}

/// Decodes one msgpack value that must fill `input` (see the [module docs](self)).
///
/// # Examples
/// ```
/// use sockeye_core::value::{msgpack, Value};
/// assert_eq!(msgpack::decode(&[0x81, 0xa1, b'a', 0x01]).unwrap(),
///            Value::Map(vec![("a".into(), Value::Int(1))]));
/// assert!(msgpack::decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err()); // 4 billion items, no bytes
/// ```
///
/// # Errors
/// See [`DecodeError`].
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    Decoder {
        input,
        pos: 0,
        owner: None,
    }
    .run()
}

/// [`decode`], with binary values sharing `input`'s memory instead of being copied.
///
/// # Examples
/// ```
/// use sockeye_core::value::{msgpack, Value};
/// let input = bytes::Bytes::from_static(&[0xc4, 0x02, 0xca, 0xfe]);
/// let v = msgpack::decode_bytes(&input).unwrap();
/// assert_eq!(v, Value::Bin(bytes::Bytes::from_static(&[0xca, 0xfe])));
/// ```
///
/// # Errors
/// See [`DecodeError`].
pub fn decode_bytes(input: &Bytes) -> Result<Value, DecodeError> {
    Decoder {
        input,
        pos: 0,
        owner: Some(input),
    }
    .run()
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    /// The input as `Bytes`, when binary values may share it.
    owner: Option<&'a Bytes>,
}

/// Collections longer than this get a vector that grows as items come, not one sized from
/// their declared length (each item takes at least one byte, but a `Value` takes 32).
const MAX_PREALLOCATED: usize = 64;

impl<'a> Decoder<'a> {
    fn run(mut self) -> Result<Value, DecodeError> {
        let v = self.value(0)?;
        match self.input.len() - self.pos {
            0 => Ok(v),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let input: &'a [u8] = self.input;
        let s = input.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    /// A declared length, checked against the bytes left (each item takes at least `min`).
    fn len(&mut self, declared: u32, min: usize) -> Result<usize, DecodeError> {
        let n = declared as usize;
        if n.saturating_mul(min) > self.input.len() - self.pos {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    fn bin(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        let slice = self.take(n)?;
        Ok(match self.owner {
            Some(owner) => owner.slice(start..start + n),
            None => Bytes::copy_from_slice(slice),
        })
    }

    fn str(&mut self, n: usize) -> Result<String, DecodeError> {
        // Node's `buffer.toString("utf8")`: invalid sequences become U+FFFD.
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let byte = self.u8()?;
        Ok(match Marker::from_u8(byte) {
            Marker::FixPos(n) => Value::Int(n.into()),
            Marker::FixNeg(n) => Value::Int(n.into()),
            Marker::Null => Value::Null,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::U8 => Value::Int(self.u8()?.into()),
            Marker::U16 => Value::Int(self.u16()?.into()),
            Marker::U32 => Value::Int(self.u32()?.into()),
            Marker::U64 => {
                let u = self.u64()?;
                i64::try_from(u).map_or(Value::UInt(u), Value::Int)
            }
            Marker::I8 => Value::Int(self.i8()?.into()),
            Marker::I16 => Value::Int(i16::from_be_bytes(self.array()?).into()),
            Marker::I32 => Value::Int(i32::from_be_bytes(self.array()?).into()),
            Marker::I64 => Value::Int(i64::from_be_bytes(self.array()?)),
            Marker::F32 => Value::Float(f32::from_be_bytes(self.array()?).into()),
            Marker::F64 => Value::Float(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(n) => {
                let n = self.len(n.into(), 1)?;
                Value::Str(self.str(n)?)
            }
            Marker::Str8 => {
                let n = self.u8()?;
                let n = self.len(n.into(), 1)?;
                Value::Str(self.str(n)?)
            }
            Marker::Str16 => {
                let n = self.u16()?;
                let n = self.len(n.into(), 1)?;
                Value::Str(self.str(n)?)
            }
            Marker::Str32 => {
                let n = self.u32()?;
                let n = self.len(n, 1)?;
                Value::Str(self.str(n)?)
            }
            Marker::Bin8 => {
                let n = self.u8()?;
                let n = self.len(n.into(), 1)?;
                Value::Bin(self.bin(n)?)
            }
            Marker::Bin16 => {
                let n = self.u16()?;
                let n = self.len(n.into(), 1)?;
                Value::Bin(self.bin(n)?)
            }
            Marker::Bin32 => {
                let n = self.u32()?;
                let n = self.len(n, 1)?;
                Value::Bin(self.bin(n)?)
            }
            Marker::FixArray(n) => self.seq(n.into(), depth)?,
            Marker::Array16 => {
                let n = self.u16()?;
                self.seq(n.into(), depth)?
            }
            Marker::Array32 => {
                let n = self.u32()?;
                self.seq(n, depth)?
            }
            Marker::FixMap(n) => self.map(n.into(), depth)?,
            Marker::Map16 => {
                let n = self.u16()?;
                self.map(n.into(), depth)?
            }
            Marker::Map32 => {
                let n = self.u32()?;
                self.map(n, depth)?
            }
            Marker::FixExt1 => self.ext(1, byte)?,
            Marker::FixExt2 => self.ext(2, byte)?,
            Marker::FixExt4 => self.ext(4, byte)?,
            Marker::FixExt8 => self.ext(8, byte)?,
            Marker::FixExt16 => self.ext(16, byte)?,
            Marker::Ext8 => {
                let n = self.u8()?;
                self.ext(n.into(), byte)?
            }
            Marker::Ext16 => {
                let n = self.u16()?;
                self.ext(n.into(), byte)?
            }
            Marker::Ext32 => {
                let n = self.u32()?;
                self.ext(n, byte)?
            }
            Marker::Reserved => return Err(DecodeError::InvalidType(byte)),
        })
    }

    fn seq(&mut self, declared: u32, depth: usize) -> Result<Value, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let n = self.len(declared, 1)?;
        let mut items = Vec::with_capacity(n.min(MAX_PREALLOCATED));
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, declared: u32, depth: usize) -> Result<Value, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let n = self.len(declared, 2)?;
        let mut entries: Vec<(String, Value)> = Vec::with_capacity(n.min(MAX_PREALLOCATED));
        // Where each key is, once the map is large enough for a linear search to cost.
        let mut index: Option<std::collections::HashMap<String, usize>> = None;
        for _ in 0..n {
            let key = self.key(depth)?;
            let value = self.value(depth + 1)?;
            if entries.len() == 16 && index.is_none() {
                index = Some(
                    entries
                        .iter()
                        .enumerate()
                        .map(|(i, (k, _))| (k.clone(), i))
                        .collect(),
                );
            }
            // A JavaScript object: the last value of a key wins, at the first one's place.
            let found = match &index {
                Some(index) => index.get(&key).copied(),
                None => entries.iter().position(|(k, _)| *k == key),
            };
            match found {
                Some(i) => entries[i].1 = value,
                None => {
                    if let Some(index) = &mut index {
                        index.insert(key.clone(), entries.len());
                    }
                    entries.push((key, value));
                }
            }
        }
        Ok(Value::Map(entries))
    }

    /// A map key as a JavaScript property name.
    fn key(&mut self, depth: usize) -> Result<String, DecodeError> {
        Ok(match self.value(depth + 1)? {
            Value::Str(s) => s,
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Float(f) => js_number_text(f),
            Value::Bool(b) => b.to_string(),
            Value::Null => "null".to_owned(),
            Value::Bin(_) | Value::Array(_) | Value::Map(_) => return Err(DecodeError::InvalidKey),
        })
    }

    /// An extension value of `n` bytes, after its length (`marker` for errors).
    fn ext(&mut self, declared: u32, marker: u8) -> Result<Value, DecodeError> {
        let kind = self.i8()?;
        let n = self.len(declared, 1)?;
        let fixed = (0xd4..=0xd8).contains(&marker);
        Ok(match (kind, marker) {
            // notepack's own: `undefined` (fixext 1, type 0) and an `ArrayBuffer` (ext 8/16/32).
            (0, 0xd4) => {
                self.take(1)?;
                Value::Null
            }
            (0, _) if !fixed => Value::Bin(self.bin(n)?),
            // notepack's legacy date: milliseconds as a signed 64-bit integer.
            (0, 0xd7) => {
                let hi = i32::from_be_bytes(self.array()?);
                let lo = self.u32()?;
                date(f64::from(hi) * 4_294_967_296.0 + f64::from(lo))
            }
            // The timestamp extension: 32, 64 or 96 bits.
            (-1, 0xd6) => date(f64::from(self.u32()?) * 1e3),
            (-1, 0xd7) => {
                let hi = self.u32()?;
                let lo = self.u32()?;
                let secs = f64::from(hi & 0x3) * 4_294_967_296.0 + f64::from(lo);
                date(secs * 1e3 + f64::from(hi >> 2) / 1e6)
            }
            (-1, 0xc7) if n == 12 => {
                let nanos = self.u32()?;
                let hi = i32::from_be_bytes(self.array()?);
                let lo = self.u32()?;
                let secs = f64::from(hi) * 4_294_967_296.0 + f64::from(lo);
                date(secs * 1e3 + f64::from(nanos) / 1e6)
            }
            // notepack would read 12 bytes whatever the length says.
            (-1, 0xc7) => return Err(DecodeError::InvalidType(marker)),
            (kind, _) => Value::Array(vec![Value::Int(kind.into()), Value::Bin(self.bin(n)?)]),
        })
    }
}

/// A JavaScript `Date` of `ms` milliseconds since the epoch, as `JSON.stringify` writes it:
/// ISO 8601 text, or null for an invalid date.
fn date(ms: f64) -> Value {
    const MAX_MS: f64 = 8.64e15;
    if !ms.is_finite() || ms.abs() > MAX_MS {
        return Value::Null;
    }
    // Exact: |ms| <= 8.64e15 < 2^53.
    let ms = ms.trunc() as i64;
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = crate::time::civil_from_days(days);
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y < 0 {
        format!("-{:06}", -y)
    } else {
        format!("+{y:06}")
    };
    Value::Str(format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    ))
}

/// A number as JavaScript's `String(n)` writes it, for the usual cases (integers, short
/// fractions); others get Rust's shortest round-trip text.
fn js_number_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i128)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_without_fraction_are_integers_as_in_javascript() {
        assert_eq!(encode(&Value::Float(-0.0)), [0x00]);
        assert_eq!(encode(&Value::Float(-33.0)), [0xd0, 0xdf]);
        assert_eq!(
            encode(&Value::Float(4_294_967_296.0)),
            [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        // 2^64 and beyond: float 64 (notepack would wrap them).
        let big: f64 = 1e300;
        let mut want = vec![0xcb];
        want.extend_from_slice(&big.to_be_bytes());
        assert_eq!(encode(&Value::Float(big)), want);
        assert_eq!(decode(&want).unwrap(), Value::Float(big));
        let nan = decode(&encode(&Value::Float(f64::NAN))).unwrap();
        assert!(matches!(nan, Value::Float(f) if f.is_nan()));
    }

    #[test]
    fn long_collections_use_32_bit_lengths() {
        let s = "x".repeat(65_536);
        let bytes = encode(&Value::Str(s.clone()));
        assert_eq!(&bytes[..5], [0xdb, 0, 1, 0, 0]);
        assert_eq!(decode(&bytes).unwrap(), Value::Str(s));
        let a = Value::Array(vec![Value::Null; 65_536]);
        let bytes = encode(&a);
        assert_eq!(&bytes[..5], [0xdd, 0, 1, 0, 0]);
        assert_eq!(decode(&bytes).unwrap(), a);
        let b = Value::Bin(Bytes::from(vec![7u8; 65_536]));
        let bytes = encode(&b);
        assert_eq!(&bytes[..5], [0xc6, 0, 1, 0, 0]);
        assert_eq!(decode(&bytes).unwrap(), b);
        let m = Value::Map(
            (0..65_536)
                .map(|i| (format!("{i}"), Value::Int(i)))
                .collect(),
        );
        let bytes = encode(&m);
        assert_eq!(&bytes[..5], [0xdf, 0, 1, 0, 0]);
        assert_eq!(decode(&bytes).unwrap(), m);
    }

    #[test]
    fn nesting_is_bounded() {
        let mut ok = vec![0x91; MAX_DEPTH];
        ok.push(0xc0);
        assert!(decode(&ok).is_ok());
        let mut deep = vec![0x91; MAX_DEPTH + 1];
        deep.push(0xc0);
        assert_eq!(decode(&deep), Err(DecodeError::TooDeep));
        let mut deep_maps = Vec::new();
        for _ in 0..=MAX_DEPTH {
            deep_maps.extend_from_slice(&[0x81, 0xa1, b'k']);
        }
        deep_maps.push(0xc0);
        assert_eq!(decode(&deep_maps), Err(DecodeError::TooDeep));
        // A million levels: an error, not a stack overflow.
        assert_eq!(decode(&vec![0x91; 1_000_000]), Err(DecodeError::TooDeep));
        // Encoding a deep value the application made does not recurse.
        let mut v = Value::Null;
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(encode(&v).len(), 100_001);
        // Dropping such a value recurses in `Vec`'s drop: unwrap it level by level instead.
        while let Value::Array(mut a) = v {
            v = a.pop().unwrap_or_default();
        }
    }

    #[test]
    fn declared_lengths_are_checked_before_anything_is_made() {
        for input in [
            &[0xdd, 0xff, 0xff, 0xff, 0xff][..],
            &[0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0, 0xc0],
            &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
            &[0xc6, 0xff, 0xff, 0xff, 0xff],
            &[0xc9, 0xff, 0xff, 0xff, 0xff, 0x01],
            &[0xde, 0x00, 0x02, 0xa1, b'a', 0x01],
        ] {
            assert_eq!(decode(input), Err(DecodeError::Truncated), "{input:x?}");
        }
    }

    #[test]
    fn dates_are_iso_text() {
        assert_eq!(date(0.0), Value::Str("1970-01-01T00:00:00.000Z".into()));
        assert_eq!(date(-1.0), Value::Str("1969-12-31T23:59:59.999Z".into()));
        assert_eq!(
            date(951_782_400_000.0),
            Value::Str("2000-02-29T00:00:00.000Z".into())
        );
        assert_eq!(
            date(8.64e15),
            Value::Str("+275760-09-13T00:00:00.000Z".into())
        );
        assert_eq!(
            date(-8.64e15),
            Value::Str("-271821-04-20T00:00:00.000Z".into())
        );
        assert_eq!(
            date(-62_198_755_200_000.0),
            Value::Str("-000001-01-01T00:00:00.000Z".into())
        );
        assert_eq!(date(8.64e15 + 1.0), Value::Null);
        // Timestamp 64 at its largest (as Node: `new Date(17179869183e3 + 1073741823 / 1e6)`).
        let v = decode(&[0xd7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(v, Value::Str("2514-05-30T01:53:04.073Z".into()));
        // Timestamp 96 past the range of a JavaScript date.
        let mut ts96 = vec![0xc7, 0x0c, 0xff, 0, 0, 0, 0, 0x7f];
        ts96.extend_from_slice(&[0xff; 7]);
        assert_eq!(decode(&ts96).unwrap(), Value::Null);
        // A timestamp extension of another size.
        assert_eq!(
            decode(&[0xc7, 0x01, 0xff, 0x00]),
            Err(DecodeError::InvalidType(0xc7))
        );
    }

    #[test]
    fn keys_as_javascript_property_names() {
        assert_eq!(js_number_text(1.0), "1");
        assert_eq!(js_number_text(-2.5), "-2.5");
        assert_eq!(js_number_text(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(
            decode(&[0x81, 0x91, 0x01, 0x01]),
            Err(DecodeError::InvalidKey)
        );
        assert_eq!(
            decode(&[0x81, 0xc4, 0x00, 0x01]),
            Err(DecodeError::InvalidKey)
        );
        // Many duplicate keys: the index keeps this linear.
        let mut input = vec![0xde, 0xff, 0xff];
        for i in 0..0xffffu32 {
            input.extend_from_slice(&[0xa1, b'a' + (i % 20) as u8, 0x01]);
        }
        match decode(&input).unwrap() {
            Value::Map(m) => assert_eq!(m.len(), 20),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn binary_shares_the_input() {
        let input = Bytes::from(vec![0x91, 0xc4, 0x03, 1, 2, 3]);
        let v = decode_bytes(&input).unwrap();
        let Value::Array(a) = v else { panic!() };
        let Value::Bin(b) = &a[0] else { panic!() };
        assert_eq!(b.as_ptr(), input[3..].as_ptr());
    }
}
