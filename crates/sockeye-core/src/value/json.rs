//! [`Value`] to and from the JSON parser's form: text in which each binary value is a
//! placeholder (`{"_placeholder":true,"num":N}`) standing for attachment N.

use std::io::Write as _;

use bytes::Bytes;
use serde::de::Error as _;
use serde_json::Error;

use super::Value;

/// Parses one JSON argument, putting attachment N in place of each placeholder that names it.
///
/// Like Node's parser, an object with `_placeholder: true` is a placeholder and must carry an
/// integer `num` below the number of attachments; anything else is an error. Nesting is
/// bounded by serde_json's limit (128).
pub(crate) fn parse(text: &[u8], bins: &[Bytes]) -> Result<Value, Error> {
    let mut v: Value = serde_json::from_slice(text)?;
    if !bins.is_empty() || memchr_placeholder(text) {
        fill(&mut v, bins)?;
    }
    Ok(v)
}

/// Whether `text` may hold a placeholder (so that plain arguments skip the walk).
fn memchr_placeholder(text: &[u8]) -> bool {
    text.windows(12).any(|w| w == b"_placeholder")
}

fn fill(v: &mut Value, bins: &[Bytes]) -> Result<(), Error> {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        if let Some(bin) = placeholder(v, bins)? {
            *v = Value::Bin(bin);
            continue;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter_mut()),
            Value::Map(m) => stack.extend(m.iter_mut().map(|(_, v)| v)),
            _ => {}
        }
    }
    Ok(())
}

/// The attachment a placeholder object stands for; `None` when `v` is not a placeholder.
fn placeholder(v: &Value, bins: &[Bytes]) -> Result<Option<Bytes>, Error> {
    if v.get("_placeholder") != Some(&Value::Bool(true)) {
        return Ok(None);
    }
    let bin = match v.get("num") {
        Some(Value::Int(n)) => usize::try_from(*n).ok().and_then(|n| bins.get(n)),
        _ => None,
    };
    bin.cloned()
        .map(Some)
        .ok_or_else(|| Error::custom("a placeholder names no attachment"))
}

/// Writes `v` as JSON, each binary value as a placeholder whose attachment is pushed on
/// `bins`. Numbers that JSON cannot hold (NaN, infinities) are written `null`, as
/// `JSON.stringify` does.
pub(crate) fn write(out: &mut Vec<u8>, v: &Value, bins: &mut Vec<Bytes>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) if f.is_finite() => {
            // serde_json writes the shortest text that reads back as the same float.
            let _ = serde_json::to_writer(&mut *out, f);
        }
        Value::Float(_) => out.extend_from_slice(b"null"),
        Value::Str(s) => write_str(out, s),
        Value::Bin(b) => {
            let _ = write!(out, "{{\"_placeholder\":true,\"num\":{}}}", bins.len());
            bins.push(b.clone());
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, v, bins);
            }
            out.push(b']');
        }
        Value::Map(m) => {
            out.push(b'{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write(out, v, bins);
            }
            out.push(b'}');
        }
    }
}

/// Writes `s` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    if crate::json::plain_run(s.as_bytes()) == s.len() {
        // Nothing to escape (the usual event name or key).
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a `str` to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &Value) -> (String, Vec<Bytes>) {
        let mut out = Vec::new();
        let mut bins = Vec::new();
        write(&mut out, v, &mut bins);
        (String::from_utf8(out).unwrap(), bins)
    }

    #[test]
    fn binary_round_trips_through_placeholders() {
        let b1 = Bytes::from_static(b"\x01\x02");
        let b2 = Bytes::from_static(b"");
        let v = Value::Map(vec![
            ("a".into(), Value::Bin(b1.clone())),
            (
                "list".into(),
                Value::Array(vec![Value::Bin(b2.clone()), Value::Float(f64::NAN)]),
            ),
            ("q\"uote".into(), Value::Str("line\nbreak".into())),
        ]);
        let (json, bins) = text(&v);
        assert_eq!(
            json,
            r#"{"a":{"_placeholder":true,"num":0},"list":[{"_placeholder":true,"num":1},null],"q\"uote":"line\nbreak"}"#
        );
        assert_eq!(bins, vec![b1.clone(), b2.clone()]);
        let back = parse(json.as_bytes(), &bins).unwrap();
        assert_eq!(back.get("a"), Some(&Value::Bin(b1)));
        assert_eq!(back.get("q\"uote"), Some(&Value::Str("line\nbreak".into())));
    }

    #[test]
    fn bad_placeholders_are_errors() {
        let bins = [Bytes::from_static(b"x")];
        for bad in [
            r#"{"_placeholder":true,"num":1}"#,
            r#"{"_placeholder":true,"num":-1}"#,
            r#"{"_placeholder":true,"num":0.5}"#,
            r#"{"_placeholder":true}"#,
            r#"[{"_placeholder":true,"num":"0"}]"#,
        ] {
            assert!(parse(bad.as_bytes(), &bins).is_err(), "{bad}");
        }
        // Not a placeholder: `_placeholder` is not `true`.
        let v = parse(br#"{"_placeholder":"true","num":9}"#, &bins).unwrap();
        assert_eq!(v.get("num"), Some(&Value::Int(9)));
        // Deeper than serde_json's limit.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(deep.as_bytes(), &[]).is_err());
    }
}
