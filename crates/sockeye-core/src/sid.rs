//! Session and socket identifiers.

use std::fmt;

use base64::Engine as _;
use rand::RngCore;

/// A 20-character identifier made of 15 random bytes from a CSPRNG, base64url-encoded (120 bits).
///
/// Engine.IO sessions and Socket.IO sockets both use it. A `Sid` is `Copy` and cheap to hash.
///
/// # Examples
/// ```
/// use sockeye_core::Sid;
/// let a = Sid::new();
/// assert_eq!(a.as_str().len(), 20);
/// assert_eq!(a.as_str().parse::<Sid>().unwrap(), a);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; 20]);

impl Sid {
    /// A new random id.
    pub fn new() -> Sid {
        let mut raw = [0u8; 15];
        rand::thread_rng().fill_bytes(&mut raw);
        let mut out = [0u8; 20];
        // 15 bytes encode to exactly 20 characters, so this cannot fail.
        let _ = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(raw, &mut out);
        Sid(out)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only base64url characters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for Sid {
    fn default() -> Self {
        Sid::new()
    }
}

/// A string that is not a well-formed [`Sid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed sid")]
pub struct InvalidSid;

impl std::str::FromStr for Sid {
    type Err = InvalidSid;
    fn from_str(s: &str) -> Result<Sid, InvalidSid> {
        let bytes: [u8; 20] = s.as_bytes().try_into().map_err(|_| InvalidSid)?;
        if bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            Ok(Sid(bytes))
        } else {
            Err(InvalidSid)
        }
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Sid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Sid, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_and_parseable() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let s = Sid::new();
            assert!(seen.insert(s));
            assert_eq!(s.to_string().parse::<Sid>(), Ok(s));
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "__proto__",
            "constructor",
            "\0",
            "aaaaaaaaaaaaaaaaaaa=",
            "aaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(bad.parse::<Sid>(), Err(InvalidSid), "{bad:?}");
        }
    }
}
