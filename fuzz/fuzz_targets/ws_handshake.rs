//! The WebSocket opening handshake check, `ws::validate_upgrade`, on headers built from the
//! input, compared with a small reference model of RFC 6455 §4.2.1.
//!
//! Input: header lines separated by `\n`. A line whose first byte is below `0x20` names one of
//! `KNOWN` (that byte modulo its length) and the rest of the line is the value; any other line
//! is `name:value` (lines whose name or value `http` refuses are skipped).
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use sockeye_engineio::ws::{accept_key, validate_upgrade, HandshakeError};

const KNOWN: [&str; 8] = [
    "upgrade",
    "connection",
    "sec-websocket-version",
    "sec-websocket-key",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "origin",
    "host",
];

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let (name, value) = match line.split_first() {
            Some((&b, rest)) if b < 0x20 => (
                HeaderName::from_static(KNOWN[usize::from(b) % KNOWN.len()]),
                rest,
            ),
            Some(_) => {
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    continue;
                };
                let Ok(name) = HeaderName::from_bytes(&line[..colon]) else {
                    continue;
                };
                (name, &line[colon + 1..])
            }
            None => continue,
        };
        let Ok(value) = HeaderValue::from_bytes(value) else {
            continue;
        };
        headers.append(name, value);
    }

    let got = validate_upgrade(&headers);
    let want = reference(&headers);
    assert_eq!(got, want, "headers: {headers:?}");
});

/// What RFC 6455 asks of the server, in the order `validate_upgrade` documents.
fn reference(headers: &HeaderMap) -> Result<HeaderValue, HandshakeError> {
    let trim = |v: &[u8]| -> Vec<u8> {
        let s: &[u8] = v;
        let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
        let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |i| i + 1);
        s[start..end].to_vec()
    };
    let has_token = |name: &str, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|item| trim(item).eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    let single = |name: &str| {
        let all: Vec<_> = headers.get_all(name).iter().collect();
        (all.len() == 1).then(|| trim(all[0].as_bytes()))
    };
    if !has_token("upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !has_token("connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    if single("sec-websocket-version").as_deref() != Some(b"13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = single("sec-websocket-key").ok_or(HandshakeError::BadKey)?;
    match STANDARD.decode(&key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(HandshakeError::BadKey),
    }
    Ok(HeaderValue::from_str(&accept_key(&key)).expect("base64 is a valid header value"))
}
