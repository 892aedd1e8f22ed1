//! The arguments of an event or an ack.

use std::ops::Range;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use smallvec::SmallVec;

use crate::value::{self, Value};

/// The arguments of an event or an ack: what a client sent, what another server of the
/// cluster relayed, or what the application built.
///
/// A payload received from a client stays in the form it arrived in (JSON text, or MessagePack
/// with the msgpack parser) until a handler asks for a type, and relaying it to clients of the
/// same parser sends those bytes on unchanged. In JSON text, binary values are placeholders
/// (`{"_placeholder":true,"num":N}`) whose bytes are in [`Payload::bins`], in order; in
/// MessagePack they are inline. A payload made of [`Value`]s (from another server, or
/// [`Payload::from_values`]) holds its binary values in place. [`Payload::arg`],
/// [`Payload::args`], [`Payload::to_values`] and [`Payload::binaries`] read any of the three
/// the same way.
///
/// # Examples
/// ```
/// # use sockeye_core::Payload;
/// fn show(p: &Payload) {
///     for i in 0..p.len() {
///         println!("arg {i}: {:?}", p.arg::<serde_json::Value>(i));
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Payload {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// JSON text, the ranges of its arguments, and the attachments its placeholders name.
    Json {
        src: Bytes,
        args: SmallVec<[Range<usize>; 4]>,
        bins: Vec<Bytes>,
    },
    /// MessagePack (the msgpack parser's packet) and the ranges of its arguments, each one
    /// msgpack value (binary inline).
    #[cfg(feature = "msgpack")]
    Msgpack {
        src: Bytes,
        args: SmallVec<[Range<usize>; 4]>,
    },
    /// Structured arguments.
    Values(Vec<Value>),
}

impl Default for Payload {
    fn default() -> Self {
        Payload {
            repr: Repr::Values(Vec::new()),
        }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.repr {
            Repr::Json { bins, .. } => {
                let args: Vec<_> = (0..self.len()).filter_map(|i| self.arg_text(i)).collect();
                f.debug_struct("Payload")
                    .field("args", &args)
                    .field("bins", &bins.len())
                    .finish()
            }
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { args, .. } => match self.to_values() {
                Ok(v) => f.debug_struct("Payload").field("msgpack", &v).finish(),
                Err(_) => f.debug_struct("Payload").field("msgpack", &args).finish(),
            },
            Repr::Values(v) => f.debug_struct("Payload").field("values", v).finish(),
        }
    }
}

/// A msgpack argument that does not decode (only a payload made with wrong ranges has one).
#[cfg(feature = "msgpack")]
fn msgpack_error(e: impl std::fmt::Display) -> serde_json::Error {
    serde::de::Error::custom(format!("msgpack argument: {e}"))
}

impl Payload {
    /// A payload of JSON text: `args` are ranges of `src` (each one valid JSON), `bins` the
    /// attachments its placeholders name. The parser makes these; ranges outside `src` read
    /// as `null`.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let src = bytes::Bytes::from_static(b"[1,\"a\"]");
    /// let p = Payload::from_json_parts(src, [1..2, 3..6].into_iter().collect(), vec![]);
    /// assert_eq!(p.arg::<String>(1).unwrap(), "a");
    /// ```
    pub fn from_json_parts(
        src: Bytes,
        args: SmallVec<[Range<usize>; 4]>,
        bins: Vec<Bytes>,
    ) -> Payload {
        Payload {
            repr: Repr::Json { src, args, bins },
        }
    }

    /// A payload of MessagePack: `args` are ranges of `src`, each one msgpack value. The
    /// msgpack parser makes these; an argument that is not valid msgpack is an error when read.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// // [1, "a"]: a fixarray of two, then the values.
    /// let src = bytes::Bytes::from_static(b"\x92\x01\xa1a");
    /// let p = Payload::from_msgpack_parts(src, [1..2, 2..4].into_iter().collect());
    /// assert_eq!(p.args::<(u8, String)>().unwrap(), (1, "a".to_string()));
    /// ```
    #[cfg(feature = "msgpack")]
    pub fn from_msgpack_parts(src: Bytes, args: SmallVec<[Range<usize>; 4]>) -> Payload {
        Payload {
            repr: Repr::Msgpack { src, args },
        }
    }

    /// A payload of structured arguments.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::{Payload, value::Value};
    /// let p = Payload::from_values(vec![Value::Int(1), "a".into()]);
    /// assert_eq!(p.args::<(u8, String)>().unwrap(), (1, "a".to_string()));
    /// ```
    pub fn from_values(values: Vec<Value>) -> Payload {
        Payload {
            repr: Repr::Values(values),
        }
    }

    /// The same payload with these attachments (the JSON form's; a structured payload keeps
    /// its binary in place and ignores them).
    #[doc(hidden)]
    pub fn with_bins(mut self, new: Vec<Bytes>) -> Payload {
        if let Repr::Json { bins, .. } = &mut self.repr {
            *bins = new;
        }
        self
    }

    /// The bytes the arguments are ranges of: the JSON text or the msgpack packet (empty for
    /// a structured payload). An [`EventName`](crate::parser::EventName) in the source is a
    /// range of these.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// assert!(Payload::default().src().is_empty());
    /// ```
    pub fn src(&self) -> &Bytes {
        static EMPTY: Bytes = Bytes::new();
        match &self.repr {
            Repr::Json { src, .. } => src,
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { src, .. } => src,
            Repr::Values(_) => &EMPTY,
        }
    }

    /// The ranges of the JSON arguments (none for another form).
    #[doc(hidden)]
    pub fn arg_ranges(&self) -> &[Range<usize>] {
        match &self.repr {
            Repr::Json { args, .. } => args,
            Repr::Values(_) => &[],
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => &[],
        }
    }

    /// The JSON text and the ranges of its arguments, when the payload is JSON text.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let p = Payload::from_args(&[1, 2], vec![]).unwrap();
    /// let (src, ranges) = p.json_parts().unwrap();
    /// assert_eq!((&src[..], ranges), (&b"[1,2]"[..], &[1..2, 3..4][..]));
    /// ```
    pub fn json_parts(&self) -> Option<(&Bytes, &[Range<usize>])> {
        match &self.repr {
            Repr::Json { src, args, .. } => Some((src, args)),
            Repr::Values(_) => None,
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => None,
        }
    }

    /// The msgpack bytes and the ranges of its arguments, when the payload is MessagePack.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let p = Payload::from_msgpack_parts(bytes::Bytes::from_static(b"\x91\x07"), [1..2].into_iter().collect());
    /// assert_eq!(p.msgpack_parts().map(|(_, r)| r.len()), Some(1));
    /// assert!(Payload::default().msgpack_parts().is_none());
    /// ```
    #[cfg(feature = "msgpack")]
    pub fn msgpack_parts(&self) -> Option<(&Bytes, &[Range<usize>])> {
        match &self.repr {
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { src, args } => Some((src, args)),
            Repr::Json { .. } | Repr::Values(_) => None,
        }
    }

    /// The structured arguments, when the payload is made of them.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::{Payload, value::Value};
    /// assert_eq!(Payload::from_values(vec![Value::Null]).values(), Some(&[Value::Null][..]));
    /// ```
    pub fn values(&self) -> Option<&[Value]> {
        match &self.repr {
            Repr::Values(v) => Some(v),
            Repr::Json { .. } => None,
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => None,
        }
    }

    /// How many arguments there are.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// assert_eq!(Payload::from_args(&("a", 1), vec![]).unwrap().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Json { args, .. } => args.len(),
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { args, .. } => args.len(),
            Repr::Values(v) => v.len(),
        }
    }

    /// Whether there are no arguments.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// assert!(Payload::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The JSON text of argument `i`, when the payload is JSON text.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let p = Payload::from_args(&("a", [1, 2]), vec![]).unwrap();
    /// assert_eq!(p.arg_text(1), Some("[1,2]"));
    /// ```
    pub fn arg_text(&self, i: usize) -> Option<&str> {
        match &self.repr {
            Repr::Json { src, args, .. } => {
                let r = args.get(i)?;
                std::str::from_utf8(src.get(r.clone())?).ok()
            }
            Repr::Values(_) => None,
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => None,
        }
    }

    /// Argument `i` as a [`Value`] (a JSON argument's placeholders stay objects; see
    /// [`Payload::to_values`]).
    #[cfg(feature = "msgpack")]
    fn arg_value(&self, i: usize) -> Result<Value, serde_json::Error> {
        let missing = || serde::de::Error::custom(format!("no argument {i}"));
        match &self.repr {
            Repr::Json { src, args, .. } => {
                let text = args.get(i).and_then(|r| src.get(r.clone()));
                serde_json::from_slice(text.ok_or_else(missing)?)
            }
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { src, args } => {
                let r = args.get(i).ok_or_else(missing)?;
                value::msgpack::decode_in(src, r.clone()).map_err(msgpack_error)
            }
            Repr::Values(v) => v.get(i).cloned().ok_or_else(missing),
        }
    }

    /// Argument `i` as a `T`.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let p = Payload::from_args(&("a", 7), vec![]).unwrap();
    /// assert_eq!(p.arg::<u32>(1).unwrap(), 7);
    /// assert!(p.arg::<u32>(0).is_err());
    /// ```
    ///
    /// # Errors
    /// When there is no such argument or it does not deserialize as a `T`.
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Result<T, serde_json::Error> {
        match &self.repr {
            Repr::Json { src, args, .. } => match args.get(i).and_then(|r| src.get(r.clone())) {
                Some(text) => serde_json::from_slice(text),
                None => Err(serde::de::Error::custom(format!("no argument {i}"))),
            },
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => value::from_value(self.arg_value(i)?),
            Repr::Values(v) => match v.get(i) {
                Some(v) => value::from_value(v.clone()),
                None => Err(serde::de::Error::custom(format!("no argument {i}"))),
            },
        }
    }

    /// The arguments as a `T`: the single argument when there is one, otherwise all of them
    /// as an array (so a tuple or a `Vec` takes several arguments).
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let p = Payload::from_args(&("a", 7), vec![]).unwrap();
    /// assert_eq!(p.args::<(String, u8)>().unwrap(), ("a".to_string(), 7));
    /// ```
    ///
    /// # Errors
    /// When the arguments do not deserialize as a `T`.
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        if self.len() == 1 {
            return self.arg(0);
        }
        match &self.repr {
            Repr::Json { src, args, .. } => {
                let mut text = Vec::with_capacity(src.len() + 2);
                text.push(b'[');
                for (i, r) in args.iter().enumerate() {
                    if i > 0 {
                        text.push(b',');
                    }
                    text.extend_from_slice(src.get(r.clone()).unwrap_or(b"null"));
                }
                text.push(b']');
                serde_json::from_slice(&text)
            }
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => {
                let all = (0..self.len()).map(|i| self.arg_value(i));
                value::from_value(Value::Array(all.collect::<Result<_, _>>()?))
            }
            Repr::Values(v) => value::from_value(Value::Array(v.clone())),
        }
    }

    /// The arguments after the first `n`, with all the attachments (so the placeholders they
    /// hold stay valid).
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let p = Payload::from_args(&("room", "event", 42), vec![]).unwrap();
    /// assert_eq!(p.skip(2).arg_text(0), Some("42"));
    /// ```
    pub fn skip(&self, n: usize) -> Payload {
        let repr = match &self.repr {
            Repr::Json { src, args, bins } => Repr::Json {
                src: src.clone(),
                args: args.iter().skip(n).cloned().collect(),
                bins: bins.clone(),
            },
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { src, args } => Repr::Msgpack {
                src: src.clone(),
                args: args.iter().skip(n).cloned().collect(),
            },
            Repr::Values(v) => Repr::Values(v.iter().skip(n).cloned().collect()),
        };
        Payload { repr }
    }

    /// A payload made of the items of `args` (a tuple, array or `Vec`, serialized as a JSON
    /// array) and attachments. Placeholders (`{"_placeholder":true,"num":N}`) in `args`
    /// refer to `bins` by index.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let p = Payload::from_args(&["a", "b"], vec![]).unwrap();
    /// assert_eq!(p.len(), 2);
    /// ```
    ///
    /// # Errors
    /// When `args` does not serialize to a JSON array.
    pub fn from_args<T: serde::Serialize + ?Sized>(
        args: &T,
        bins: Vec<Bytes>,
    ) -> Result<Payload, serde_json::Error> {
        let src = Bytes::from(serde_json::to_vec(args)?);
        let args = crate::parser::json::split_array(&src, 0..src.len())
            .map_err(|_| serde::de::Error::custom("the arguments must be a JSON array"))?;
        Ok(Payload::from_json_parts(src, args, bins))
    }

    /// The binary attachments of a JSON payload, in placeholder order (none for another
    /// form, whose binary values are in place: see [`Payload::binaries`]).
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let bin = bytes::Bytes::from_static(b"\x01");
    /// let p = Payload::from_args(&[serde_json::json!({"_placeholder": true, "num": 0})], vec![bin.clone()]).unwrap();
    /// assert_eq!(p.bins(), &[bin]);
    /// ```
    pub fn bins(&self) -> &[Bytes] {
        match &self.repr {
            Repr::Json { bins, .. } => bins,
            Repr::Values(_) => &[],
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => &[],
        }
    }

    /// Takes the binary attachments of a JSON payload out.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::Payload;
    /// let mut p = Payload::from_args(&[1], vec![bytes::Bytes::from_static(b"x")]).unwrap();
    /// assert_eq!(p.take_bins().len(), 1);
    /// assert!(p.bins().is_empty());
    /// ```
    pub fn take_bins(&mut self) -> Vec<Bytes> {
        match &mut self.repr {
            Repr::Json { bins, .. } => std::mem::take(bins),
            Repr::Values(_) => Vec::new(),
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => Vec::new(),
        }
    }

    /// Every binary value of the arguments, in order (depth first, as Node's JSON parser
    /// numbers its attachments): a JSON payload's attachments, or the binary values found in
    /// the others. Arguments that do not decode are skipped.
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::{Payload, value::Value};
    /// let (a, b) = (bytes::Bytes::from_static(b"a"), bytes::Bytes::from_static(b"b"));
    /// let p = Payload::from_values(vec![
    ///     Value::Map(vec![("x".into(), Value::Bin(a.clone()))]),
    ///     Value::Array(vec![Value::Int(1), Value::Bin(b.clone())]),
    /// ]);
    /// assert_eq!(p.binaries(), vec![a, b]);
    /// ```
    pub fn binaries(&self) -> Vec<Bytes> {
        fn walk(v: &Value, out: &mut Vec<Bytes>) {
            let mut stack = vec![v];
            while let Some(v) = stack.pop() {
                match v {
                    Value::Bin(b) => out.push(b.clone()),
                    Value::Array(a) => stack.extend(a.iter().rev()),
                    Value::Map(m) => stack.extend(m.iter().rev().map(|(_, v)| v)),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        match &self.repr {
            Repr::Json { bins, .. } => out.extend(bins.iter().cloned()),
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => {
                for i in 0..self.len() {
                    if let Ok(v) = self.arg_value(i) {
                        walk(&v, &mut out);
                    }
                }
            }
            Repr::Values(values) => values.iter().for_each(|v| walk(v, &mut out)),
        }
        out
    }

    /// The arguments as [`Value`]s, binary values in place (a JSON payload is parsed, its
    /// placeholders replaced by their attachments).
    ///
    /// # Examples
    /// ```
    /// # use sockeye_core::{Payload, value::Value};
    /// let bin = bytes::Bytes::from_static(b"\x01");
    /// let p = Payload::from_args(&("x", serde_json::json!({"_placeholder": true, "num": 0})), vec![bin.clone()]).unwrap();
    /// assert_eq!(p.to_values().unwrap(), vec![Value::from("x"), Value::Bin(bin)]);
    /// ```
    ///
    /// # Errors
    /// When an argument is not valid JSON (or msgpack), nests deeper than 128, or has a
    /// placeholder that names no attachment.
    pub fn to_values(&self) -> Result<Vec<Value>, serde_json::Error> {
        match &self.repr {
            Repr::Json { src, args, bins } => args
                .iter()
                .map(|r| value::json::parse(src.get(r.clone()).unwrap_or(b"null"), bins))
                .collect(),
            #[cfg(feature = "msgpack")]
            Repr::Msgpack { .. } => (0..self.len()).map(|i| self.arg_value(i)).collect(),
            Repr::Values(v) => Ok(v.clone()),
        }
    }
}
