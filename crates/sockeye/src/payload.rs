//! The arguments of a received event or ack.

use std::ops::Range;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use smallvec::SmallVec;

/// The arguments a client sent with an event or an ack, and its binary attachments.
///
/// The arguments stay as the JSON text they arrived as, until a handler asks for a type.
/// Binary values inside them are placeholders (`{"_placeholder":true,"num":N}`) whose bytes
/// are in [`Payload::bins`], in order.
///
/// # Examples
/// ```
/// # use sockeye::Payload;
/// fn show(p: &Payload) {
///     for i in 0..p.len() {
///         println!("arg {i}: {:?}", p.arg_text(i));
///     }
/// }
/// ```
#[derive(Clone, Default)]
pub struct Payload {
    src: Bytes,
    args: SmallVec<[Range<usize>; 4]>,
    bins: Vec<Bytes>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let args: Vec<_> = (0..self.len()).filter_map(|i| self.arg_text(i)).collect();
        f.debug_struct("Payload")
            .field("args", &args)
            .field("bins", &self.bins.len())
            .finish()
    }
}

impl Payload {
    pub(crate) fn from_parts(
        src: Bytes,
        args: SmallVec<[Range<usize>; 4]>,
        bins: Vec<Bytes>,
    ) -> Payload {
        Payload { src, args, bins }
    }

    pub(crate) fn with_bins(mut self, bins: Vec<Bytes>) -> Payload {
        self.bins = bins;
        self
    }

    pub(crate) fn src(&self) -> &Bytes {
        &self.src
    }

    pub(crate) fn arg_ranges(&self) -> &[Range<usize>] {
        &self.args
    }

    /// How many arguments there are.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// The JSON text of argument `i`.
    pub fn arg_text(&self, i: usize) -> Option<&str> {
        let r = self.args.get(i)?;
        std::str::from_utf8(self.src.get(r.clone())?).ok()
    }

    /// Argument `i` as a `T`.
    ///
    /// # Errors
    /// When there is no such argument or it does not deserialize as a `T`.
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Result<T, serde_json::Error> {
        match self.args.get(i).and_then(|r| self.src.get(r.clone())) {
            Some(text) => serde_json::from_slice(text),
            None => Err(serde::de::Error::custom(format!("no argument {i}"))),
        }
    }

    /// The arguments as a `T`: the single argument when there is one, otherwise all of them
    /// as an array (so a tuple or a `Vec` takes several arguments).
    ///
    /// # Errors
    /// When the arguments do not deserialize as a `T`.
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        if self.args.len() == 1 {
            return self.arg(0);
        }
        let mut text = Vec::with_capacity(self.src.len() + 2);
        text.push(b'[');
        for (i, r) in self.args.iter().enumerate() {
            if i > 0 {
                text.push(b',');
            }
            text.extend_from_slice(self.src.get(r.clone()).unwrap_or(b"null"));
        }
        text.push(b']');
        serde_json::from_slice(&text)
    }

    /// The arguments after the first `n`, with all the attachments (so the placeholders they
    /// hold stay valid).
    ///
    /// # Examples
    /// ```
    /// # use sockeye::Payload;
    /// let p = Payload::from_args(&("room", "event", 42), vec![]).unwrap();
    /// assert_eq!(p.skip(2).arg_text(0), Some("42"));
    /// ```
    pub fn skip(&self, n: usize) -> Payload {
        Payload {
            src: self.src.clone(),
            args: self.args.iter().skip(n).cloned().collect(),
            bins: self.bins.clone(),
        }
    }

    /// A payload made of the items of `args` (a tuple, array or `Vec`, serialized as a JSON
    /// array) and attachments. Placeholders (`{"_placeholder":true,"num":N}`) in `args`
    /// refer to `bins` by index.
    ///
    /// # Examples
    /// ```
    /// # use sockeye::Payload;
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
        let text = serde_json::to_vec(args)?;
        let src = Bytes::from(text);
        let s = std::str::from_utf8(&src).map_err(serde::de::Error::custom)?;
        let args = crate::parser::split_array(s.as_bytes(), 0..s.len())
            .map_err(|_| serde::de::Error::custom("the arguments must be a JSON array"))?;
        Ok(Payload { src, args, bins })
    }

    /// The binary attachments, in placeholder order.
    pub fn bins(&self) -> &[Bytes] {
        &self.bins
    }

    /// Takes the binary attachments out.
    pub fn take_bins(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.bins)
    }
}
