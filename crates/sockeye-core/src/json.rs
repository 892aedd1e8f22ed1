//! A validating JSON skimmer: finds the elements of the array a packet carries without
//! building any value.
//!
//! It accepts exactly the texts `serde_json` accepts as a `Vec<&RawValue>` (same grammar; no
//! nesting limit inside the elements, as there), which a differential test checks, but walks
//! the text once and allocates nothing below 128 levels of nesting. It keeps one bit per open
//! container, never a stack frame, so deep nesting costs no stack. Handlers parse the
//! arguments they ask for later, from the ranges found here.

use std::ops::Range;

use smallvec::SmallVec;

/// The ranges of an array's elements (most packets have few arguments).
pub(crate) type Ranges = SmallVec<[Range<usize>; 4]>;

/// The text is not a JSON array (or nests deeper than [`MAX_DEPTH`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

/// The length of the prefix of `b` without `"`, `\\` or a control character, eight bytes at
/// a time.
#[inline]
pub(crate) fn plain_run(b: &[u8]) -> usize {
    let mut chunks = b.chunks_exact(8);
    let mut i = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mask = special_bytes(u64::from_le_bytes(word));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return i;
    }
    let word = if b.len() >= 8 {
        // The last eight bytes again, shifted so that the ones checked above fall out; the
        // zeros shifted in count as control characters, so the run stops at the end.
        let mut word = [0u8; 8];
        word.copy_from_slice(b.get(b.len() - 8..).unwrap_or_default());
        u64::from_le_bytes(word) >> ((8 - rest.len()) * 8)
    } else {
        // A short text, padded with zeros the same way.
        let mut word = [0u8; 8];
        for (w, &c) in word.iter_mut().zip(rest) {
            *w = c;
        }
        u64::from_le_bytes(word)
    };
    i + (special_bytes(word).trailing_zeros() / 8) as usize
}

/// The high bit of each byte of `w` (little-endian) that is `"`, `\\` or below 0x20.
///
/// Each term is the classic zero-byte test, which can also flag bytes above a flagged one
/// (a borrow): so the lowest flagged byte is exact, which is all `plain_run` uses. A byte at
/// or above 0x80 is never flagged (`!w` clears its high bit).
#[inline]
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    ((quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (w.wrapping_sub(ONES * 0x20) & !w))
        & HIGH
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    /// The byte at the cursor, or 0 past the end (0 is valid nowhere outside a string, and
    /// inside one it is a control character: an error either way).
    #[inline]
    fn peek(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }

    #[inline]
    fn ws(&mut self) {
        while matches!(self.peek(), b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// A string, the cursor on its opening quote.
    fn string(&mut self) -> Result<(), Invalid> {
        self.i += 1;
        loop {
            // Plain bytes first: the text is UTF-8 already, only these three matter.
            self.i += plain_run(self.b.get(self.i..).unwrap_or_default());
            match self.peek() {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek() {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            self.i += 1;
                            for _ in 0..4 {
                                if !self.peek().is_ascii_hexdigit() {
                                    return Err(Invalid);
                                }
                                self.i += 1;
                            }
                        }
                        _ => return Err(Invalid),
                    }
                }
                _ => return Err(Invalid),
            }
        }
    }

    fn digits(&mut self) -> Result<(), Invalid> {
        if !self.peek().is_ascii_digit() {
            return Err(Invalid);
        }
        while self.peek().is_ascii_digit() {
            self.i += 1;
        }
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), Invalid> {
        if self.peek() == b'-' {
            self.i += 1;
        }
        if self.peek() == b'0' {
            self.i += 1;
            if self.peek().is_ascii_digit() {
                return Err(Invalid);
            }
        } else {
            self.digits()?;
        }
        if self.peek() == b'.' {
            self.i += 1;
            self.digits()?;
        }
        if matches!(self.peek(), b'e' | b'E') {
            self.i += 1;
            if matches!(self.peek(), b'+' | b'-') {
                self.i += 1;
            }
            self.digits()?;
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Invalid> {
        let end = self.i + word.len();
        if self.b.get(self.i..end) != Some(word) {
            return Err(Invalid);
        }
        self.i = end;
        Ok(())
    }

    /// An object key and its colon, the cursor on the key's quote.
    fn key(&mut self) -> Result<(), Invalid> {
        if self.peek() != b'"' {
            return Err(Invalid);
        }
        self.string()?;
        self.ws();
        if self.peek() != b':' {
            return Err(Invalid);
        }
        self.i += 1;
        Ok(())
    }
}

/// The ranges (into `text`) of the elements of the JSON array `text`, which may end with
/// whitespace but must start with `[`.
pub(crate) fn array_elements(text: &[u8]) -> Result<Ranges, Invalid> {
    if text.first() != Some(&b'[') {
        return Err(Invalid);
    }
    let mut s = Scan { b: text, i: 1 };
    let mut out = Ranges::new();
    // Bit d - 1 of `objects` says whether the container at depth d is an object; depth 1 is the
    // top-level array.
    let mut objects: SmallVec<[u64; 2]> = SmallVec::from_buf([0; 2]);
    let mut depth: usize = 1;
    let mut elem_start = 0;
    s.ws();
    if s.peek() == b']' {
        s.i += 1;
        depth = 0;
    }
    while depth > 0 {
        // A value starts here.
        s.ws();
        if depth == 1 {
            elem_start = s.i;
        }
        let opened = match s.peek() {
            b'"' => {
                s.string()?;
                false
            }
            b'-' | b'0'..=b'9' => {
                s.number()?;
                false
            }
            b't' => {
                s.literal(b"true")?;
                false
            }
            b'f' => {
                s.literal(b"false")?;
                false
            }
            b'n' => {
                s.literal(b"null")?;
                false
            }
            c @ (b'[' | b'{') => {
                s.i += 1;
                depth += 1;
                let object = c == b'{';
                let (word, bit) = ((depth - 1) / 64, (depth - 1) % 64);
                if word >= objects.len() {
                    objects.resize(word + 1, 0);
                }
                if object {
                    objects[word] |= 1 << bit;
                } else {
                    objects[word] &= !(1 << bit);
                }
                s.ws();
                let close = if object { b'}' } else { b']' };
                if s.peek() == close {
                    s.i += 1;
                    depth -= 1;
                    false
                } else {
                    if object {
                        s.key()?;
                    }
                    true
                }
            }
            _ => return Err(Invalid),
        };
        if opened {
            continue;
        }
        // A value ended: close containers until one expects another value.
        loop {
            if depth == 1 {
                out.push(elem_start..s.i);
            }
            s.ws();
            let object = objects[(depth - 1) / 64] & (1 << ((depth - 1) % 64)) != 0;
            match s.peek() {
                b',' => {
                    s.i += 1;
                    if object {
                        s.ws();
                        s.key()?;
                    }
                    break;
                }
                b']' if !object => {}
                b'}' if object => {}
                _ => return Err(Invalid),
            }
            s.i += 1;
            depth -= 1;
            if depth == 0 {
                break;
            }
        }
    }
    s.ws();
    if s.i != text.len() {
        return Err(Invalid);
    }
    Ok(out)
}

/// What `serde_json` makes of `text` as a `Vec<&RawValue>`: the element ranges, or `None` when
/// it refuses the text. The reference the tests and the fuzz target hold the skimmer to.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn serde_reference(text: &str) -> Option<Vec<Range<usize>>> {
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).ok()?;
    let base = text.as_ptr() as usize;
    Some(
        items
            .iter()
            .map(|r| {
                let start = r.get().as_ptr() as usize - base;
                start..start + r.get().len()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use super::serde_reference as reference;

    fn check(text: &str) {
        let ours = array_elements(text.as_bytes()).ok().map(|r| r.to_vec());
        let theirs = if text.starts_with('[') {
            reference(text)
        } else {
            None
        };
        assert_eq!(ours, theirs, "{text:?}");
    }

    #[test]
    fn agrees_with_serde_json_on_edge_cases() {
        for text in [
            "[]",
            "[ ]",
            "[] ",
            "[]x",
            "[,]",
            "[1,]",
            "[1 2]",
            "[\"message\",\"hello\"]",
            "[ \"a\" , 1 , {\"k\" : [true,false,null]} ]\n",
            "[{}]",
            "[{ }]",
            "[{,}]",
            "[{\"a\"}]",
            "[{\"a\":}]",
            "[{\"a\":1,}]",
            "[{1:2}]",
            "[{\"a\":1 \"b\":2}]",
            "[[[]],[[],[]]]",
            "[[1],[2,[3,{\"x\":[4]}]]]",
            "[0]",
            "[-0]",
            "[01]",
            "[-]",
            "[1.]",
            "[.5]",
            "[1.5e]",
            "[1.5e+3]",
            "[1E-3]",
            "[1e3.5]",
            "[-12.25e10]",
            "[1234567890123456789012345678901234567890]",
            "[+1]",
            "[tru]",
            "[true]",
            "[truex]",
            "[nul]",
            "[NaN]",
            "[Infinity]",
            "[\"\\u00e9\\n\\\"\\\\\\/\\b\\f\\r\\t\"]",
            "[\"\\ud83d\\ude00\"]",
            "[\"\\ud800\"]",
            "[\"\\x\"]",
            "[\"\\u12\"]",
            "[\"\\u12g4\"]",
            "[\"tab\there\"]",
            "[\"unterminated]",
            "[\"a\\\"]",
            "[\"héllo 🌍\"]",
            "[",
            "[1",
            "[1,",
            "[{",
            "[{\"a\":1",
            "[[]",
            "{}",
            "1",
            "\"a\"",
            " []",
            "[]\u{a0}",
            "[1]\t\r\n ",
            "[\"a\"]]",
            "[{}}]",
            "[[}]",
            "[{]}",
        ] {
            check(text);
        }
    }

    #[test]
    fn deep_nesting_agrees_with_serde_json() {
        for depth in [1, 2, 63, 64, 65, 100, 127, 128, 129, 200, 1000, 100_000] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            check(&text);
            let text = format!("[{}{}]", "{\"a\":".repeat(depth - 1), "}".repeat(depth - 1));
            let text = text.replacen("{\"a\":}", "{}", 1);
            check(&text);
            let text = format!("[{}1{}]", "[{\"a\":".repeat(depth), "}]".repeat(depth));
            check(&text);
        }
    }

    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| f.to_string()),
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-z\\\\\"]{0,4}", inner), 0..4).prop_map(|kv| {
                    let items: Vec<String> = kv
                        .into_iter()
                        .map(|(k, v)| {
                            format!("{}: {v}", serde_json::to_string(&k).unwrap_or_default())
                        })
                        .collect();
                    format!("{{ {} }}", items.join(" , "))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn valid_arrays_agree(items in prop::collection::vec(json_value(), 0..6), ws in "[ \t\n\r]{0,2}") {
            let text = format!("[{ws}{}{ws}]{ws}", items.join(&format!("{ws},{ws}")));
            check(&text);
            prop_assert!(array_elements(text.as_bytes()).is_ok());
        }

        #[test]
        fn mutated_arrays_agree(items in prop::collection::vec(json_value(), 1..4), at in any::<prop::sample::Index>(), with in "[\\[\\]{}\",:0-9a-z\\\\ .eE+-]{0,2}", cut in any::<bool>()) {
            let mut text = format!("[{}]", items.join(","));
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            if cut {
                text.truncate(i);
            }
            text.insert_str(i.min(text.len()), &with);
            check(&text);
        }

        #[test]
        fn plain_run_finds_the_first_special_byte(b in prop::collection::vec(prop_oneof![any::<u8>(), 0x20u8..0x7f], 0..40)) {
            let naive = b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).unwrap_or(b.len());
            prop_assert_eq!(plain_run(&b), naive);
        }

        #[test]
        fn arbitrary_text_agrees(text in "\\[[\\[\\]{}\",:0-9a-z\\\\ .eE+-]{0,24}") {
            check(&text);
        }
    }
}
