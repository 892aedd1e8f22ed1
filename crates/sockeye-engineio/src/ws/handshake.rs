//! The server side of the WebSocket opening handshake (RFC 6455 §4.2).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha1::{Digest, Sha1};

/// The GUID appended to the client key (RFC 6455 §1.3).
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Length of a valid `Sec-WebSocket-Key`: base64 of 16 bytes, padded.
const KEY_BASE64_LEN: usize = 24;

/// Why an HTTP request is not an acceptable WebSocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// No `Upgrade` header containing the `websocket` token.
    #[error("missing `Upgrade: websocket` header")]
    MissingUpgrade,
    /// No `Connection` header containing the `upgrade` token.
    #[error("missing `Connection: upgrade` header")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` missing or not exactly `13`. Answer with
    /// `426 Upgrade Required` and `Sec-WebSocket-Version: 13`.
    #[error("unsupported or missing Sec-WebSocket-Version (only 13 is supported)")]
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` missing, repeated, or not the base64 encoding of
    /// exactly 16 bytes.
    #[error("missing or malformed Sec-WebSocket-Key")]
    BadKey,
}

/// Computes the `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`:
/// base64(SHA-1(key ++ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
///
/// # Examples
///
/// ```
/// use sockeye_engineio::ws::accept_key;
/// assert_eq!(
///     accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
#[must_use]
pub fn accept_key(key: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(key);
    hasher.update(WEBSOCKET_GUID);
    STANDARD.encode(hasher.finalize())
}

/// Checks the headers of an HTTP/1.1 WebSocket upgrade request and returns
/// the `Sec-WebSocket-Accept` value for the `101 Switching Protocols`
/// response.
///
/// Requires `Upgrade` to contain the token `websocket` and `Connection` the
/// token `upgrade` (both case-insensitive, in comma-separated lists, possibly
/// over several header lines), exactly one `Sec-WebSocket-Version: 13`, and
/// exactly one `Sec-WebSocket-Key` that is the base64 encoding of 16 bytes.
/// Checking the method (`GET`) and HTTP version is the caller's job.
///
/// # Errors
///
/// The first failing check, in the order above, as a [`HandshakeError`].
///
/// # Examples
///
/// ```
/// use http::HeaderMap;
/// use sockeye_engineio::ws::{validate_upgrade, HandshakeError};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("upgrade", "websocket".parse().unwrap());
/// headers.insert("connection", "keep-alive, Upgrade".parse().unwrap());
/// headers.insert("sec-websocket-version", "13".parse().unwrap());
/// headers.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap());
/// assert_eq!(validate_upgrade(&headers).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
///
/// headers.insert("sec-websocket-version", "8".parse().unwrap());
/// assert_eq!(validate_upgrade(&headers), Err(HandshakeError::UnsupportedVersion));
/// ```
pub fn validate_upgrade(headers: &HeaderMap) -> Result<HeaderValue, HandshakeError> {
    if !has_token(headers, &UPGRADE, b"websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !has_token(headers, &CONNECTION, b"upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    match single_value(headers, &SEC_WEBSOCKET_VERSION) {
        Some(b"13") => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let key = single_value(headers, &SEC_WEBSOCKET_KEY).ok_or(HandshakeError::BadKey)?;
    if key.len() != KEY_BASE64_LEN {
        return Err(HandshakeError::BadKey);
    }
    let mut decoded = [0u8; 18];
    match STANDARD.decode_slice(key, &mut decoded) {
        Ok(16) => {}
        _ => return Err(HandshakeError::BadKey),
    }
    // Base64 output is always a valid header value.
    HeaderValue::try_from(accept_key(key)).map_err(|_| HandshakeError::BadKey)
}

/// Whether any `name` header line holds `token` (ASCII case-insensitive) in
/// its comma-separated list. Linear in the size of the header values.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &[u8]) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| trim(item).eq_ignore_ascii_case(token))
    })
}

/// The trimmed value of `name` if it appears exactly once.
fn single_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a [u8]> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(trim(value.as_bytes())),
        _ => None,
    }
}

/// Strips leading and trailing spaces and tabs (HTTP optional whitespace).
fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn request(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("host", "example.com"),
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-key", KEY),
            ("sec-websocket-version", "13"),
        ]
    }

    fn with(name: &'static str, value: Option<&'static str>) -> HeaderMap {
        let mut pairs: Vec<_> = good().into_iter().filter(|(n, _)| *n != name).collect();
        if let Some(value) = value {
            pairs.push((name, value));
        }
        request(&pairs)
    }

    #[test]
    fn rfc_accept_key_example() {
        assert_eq!(accept_key(KEY.as_bytes()), ACCEPT);
    }

    #[test]
    fn accept_key_other_values() {
        // Cross-checked with Python: base64(sha1(key + GUID)).
        assert_eq!(accept_key(b""), "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
        assert_eq!(
            accept_key(b"x3JJHMbDL1EzLkh9GBhXDw=="),
            "HSmrc0sMlYUkAGmm5OPpG2HaGWk="
        );
    }

    #[test]
    fn valid_request() {
        assert_eq!(
            validate_upgrade(&request(&good())),
            Ok(HeaderValue::from_static(ACCEPT))
        );
    }

    #[test]
    fn token_lists_and_case() {
        for value in [
            "keep-alive, Upgrade",
            "Upgrade, keep-alive",
            "UPGRADE",
            "upgrade",
            "keep-alive,upgrade",
            " keep-alive ,\tUpgrade\t",
        ] {
            assert_eq!(
                validate_upgrade(&with("connection", Some(value))),
                Ok(HeaderValue::from_static(ACCEPT)),
                "{value}"
            );
        }
        for value in [
            "WebSocket",
            "websocket",
            "h2c, websocket",
            "WEBSOCKET , foo",
        ] {
            assert_eq!(
                validate_upgrade(&with("upgrade", Some(value))),
                Ok(HeaderValue::from_static(ACCEPT)),
                "{value}"
            );
        }
        // Tokens over several header lines.
        let mut pairs = good();
        pairs.retain(|(n, _)| *n != "connection");
        pairs.push(("connection", "keep-alive"));
        pairs.push(("connection", "upgrade"));
        assert!(validate_upgrade(&request(&pairs)).is_ok());
    }

    #[test]
    fn missing_or_wrong_upgrade() {
        for value in [
            None,
            Some(""),
            Some("h2c"),
            Some("websockets"),
            Some("web socket"),
        ] {
            assert_eq!(
                validate_upgrade(&with("upgrade", value)),
                Err(HandshakeError::MissingUpgrade),
                "{value:?}"
            );
        }
    }

    #[test]
    fn missing_or_wrong_connection() {
        for value in [
            None,
            Some("keep-alive"),
            Some("upgraded"),
            Some("close"),
            Some(""),
        ] {
            assert_eq!(
                validate_upgrade(&with("connection", value)),
                Err(HandshakeError::MissingConnectionUpgrade),
                "{value:?}"
            );
        }
    }

    #[test]
    fn unsupported_version() {
        for value in [
            None,
            Some("8"),
            Some("12"),
            Some("14"),
            Some("13, 8"),
            Some(""),
        ] {
            assert_eq!(
                validate_upgrade(&with("sec-websocket-version", value)),
                Err(HandshakeError::UnsupportedVersion),
                "{value:?}"
            );
        }
        let mut pairs = good();
        pairs.push(("sec-websocket-version", "8"));
        assert_eq!(
            validate_upgrade(&request(&pairs)),
            Err(HandshakeError::UnsupportedVersion)
        );
    }

    #[test]
    fn bad_keys() {
        for value in [
            None,
            Some(""),
            Some("AAECAwQFBgcICQoLDA0O"),         // 15 bytes
            Some("AAECAwQFBgcICQoLDA0ODxA="),     // 17 bytes
            Some("AAECAwQFBgcICQoLDA0ODxAREhMU"), // 21 bytes
            Some("!!!!!!!!!!!!!!!!!!!!!!!!"),     // 24 chars, not base64
            Some("dGhlIHNhbXBsZSBub25jZQ"),       // unpadded
            Some("dGhlIHNhbXBsZSBub25jZR=="),     // non-canonical trailing bits
            Some("dGhlIHNhbXBsZSBub25jZQ=A"),
        ] {
            assert_eq!(
                validate_upgrade(&with("sec-websocket-key", value)),
                Err(HandshakeError::BadKey),
                "{value:?}"
            );
        }
        // Two keys.
        let mut pairs = good();
        pairs.push(("sec-websocket-key", KEY));
        assert_eq!(
            validate_upgrade(&request(&pairs)),
            Err(HandshakeError::BadKey)
        );
    }

    #[test]
    fn other_valid_key() {
        let headers = with("sec-websocket-key", Some("AAECAwQFBgcICQoLDA0ODw=="));
        let expected = accept_key(b"AAECAwQFBgcICQoLDA0ODw==");
        assert_eq!(validate_upgrade(&headers).unwrap(), expected.as_str());
    }

    #[test]
    fn check_order() {
        // Everything wrong: the Upgrade check comes first.
        assert_eq!(
            validate_upgrade(&HeaderMap::new()),
            Err(HandshakeError::MissingUpgrade)
        );
        let headers = request(&[("upgrade", "websocket")]);
        assert_eq!(
            validate_upgrade(&headers),
            Err(HandshakeError::MissingConnectionUpgrade)
        );
        let headers = request(&[("upgrade", "websocket"), ("connection", "upgrade")]);
        assert_eq!(
            validate_upgrade(&headers),
            Err(HandshakeError::UnsupportedVersion)
        );
    }

    #[test]
    fn trim_whitespace() {
        assert_eq!(trim(b"  a b\t "), b"a b");
        assert_eq!(trim(b" \t "), b"");
        assert_eq!(trim(b""), b"");
    }
}
