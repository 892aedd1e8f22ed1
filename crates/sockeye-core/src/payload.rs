//! The arguments of an event or an ack.

use std::ops::Range;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use smallvec::SmallVec;

use crate::value::{self, Value};

/// The arguments of an event or an ack: what a client sent, what another server of the
/// cluster relayed, or what the application built.
///
/// A payload received from a client stays the JSON text it arrived as until a handler asks
/// for a type, and relaying it sends that text on unchanged. Binary values inside it are
/// placeholders (`{"_placeholder":true,"num":N}`) whose bytes are in [`Payload::bins`], in
/// order. A payload made of [`Value`]s (from another server, or [`Payload::from_values`])
/// holds its binary values in place.
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
            Repr::Values(v) => f.debug_struct("Payload").field("values", v).finish(),
        }
    }
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

    /// The JSON text (empty for a structured payload).
    #[doc(hidden)]
    pub fn src(&self) -> &Bytes {
        static EMPTY: Bytes = Bytes::new();
        match &self.repr {
            Repr::Json { src, .. } => src,
            Repr::Values(_) => &EMPTY,
        }
    }

    /// The ranges of the JSON arguments (none for a structured payload).
    #[doc(hidden)]
    pub fn arg_ranges(&self) -> &[Range<usize>] {
        match &self.repr {
            Repr::Json { args, .. } => args,
            Repr::Values(_) => &[],
        }
    }

    /// The JSON text and the ranges of its arguments, when the payload is JSON text.
    pub fn json_parts(&self) -> Option<(&Bytes, &[Range<usize>])> {
        match &self.repr {
            Repr::Json { src, args, .. } => Some((src, args)),
            Repr::Values(_) => None,
        }
    }

    /// The structured arguments, when the payload is made of them.
    pub fn values(&self) -> Option<&[Value]> {
        match &self.repr {
            Repr::Values(v) => Some(v),
            Repr::Json { .. } => None,
        }
    }

    /// How many arguments there are.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Json { args, .. } => args.len(),
            Repr::Values(v) => v.len(),
        }
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The JSON text of argument `i`, when the payload is JSON text.
    pub fn arg_text(&self, i: usize) -> Option<&str> {
        match &self.repr {
            Repr::Json { src, args, .. } => {
                let r = args.get(i)?;
                std::str::from_utf8(src.get(r.clone())?).ok()
            }
            Repr::Values(_) => None,
        }
    }

    /// Argument `i` as a `T`.
    ///
    /// # Errors
    /// When there is no such argument or it does not deserialize as a `T`.
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Result<T, serde_json::Error> {
        match &self.repr {
            Repr::Json { src, args, .. } => match args.get(i).and_then(|r| src.get(r.clone())) {
                Some(text) => serde_json::from_slice(text),
                None => Err(serde::de::Error::custom(format!("no argument {i}"))),
            },
            Repr::Values(v) => match v.get(i) {
                Some(v) => value::from_value(v.clone()),
                None => Err(serde::de::Error::custom(format!("no argument {i}"))),
            },
        }
    }

    /// The arguments as a `T`: the single argument when there is one, otherwise all of them
    /// as an array (so a tuple or a `Vec` takes several arguments).
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
        let args = crate::parser::split_array(&src, 0..src.len())
            .map_err(|_| serde::de::Error::custom("the arguments must be a JSON array"))?;
        Ok(Payload::from_json_parts(src, args, bins))
    }

    /// The binary attachments of a JSON payload, in placeholder order (none for a structured
    /// payload, whose binary values are in place).
    pub fn bins(&self) -> &[Bytes] {
        match &self.repr {
            Repr::Json { bins, .. } => bins,
            Repr::Values(_) => &[],
        }
    }

    /// Takes the binary attachments out.
    pub fn take_bins(&mut self) -> Vec<Bytes> {
        match &mut self.repr {
            Repr::Json { bins, .. } => std::mem::take(bins),
            Repr::Values(_) => Vec::new(),
        }
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
    /// When an argument is not valid JSON, nests deeper than 128, or has a placeholder that
    /// names no attachment.
    pub fn to_values(&self) -> Result<Vec<Value>, serde_json::Error> {
        match &self.repr {
            Repr::Json { src, args, bins } => args
                .iter()
                .map(|r| value::json::parse(src.get(r.clone()).unwrap_or(b"null"), bins))
                .collect(),
            Repr::Values(v) => Ok(v.clone()),
        }
    }
}
