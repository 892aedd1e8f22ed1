//! gzip and deflate compression of long-polling responses, as Node's `httpCompression`: a
//! response is compressed when it is at least the threshold, one of its packets allows it
//! (Node's per-packet `compress` option, true unless an emit said `compress(false)`), and the
//! request's `Accept-Encoding` takes gzip or deflate (chosen as Node's `accepts` package
//! chooses between `["gzip", "deflate"]`).
//!
//! Request bodies are never inflated: Node reads a POST's bytes as they come, whatever its
//! `Content-Encoding`, so a compressed body is not a valid payload and closes its session
//! (`parse error`), and it counts against `max_payload` as sent.

use std::io::Write;

use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use http::header::ACCEPT_ENCODING;
use http::HeaderMap;

/// The options of HTTP compression (Node's `httpCompression`).
///
/// # Examples
/// ```
/// use sockeye_engineio::HttpCompression;
/// let c = HttpCompression::new().threshold(4096);
/// assert_eq!(c.threshold, 4096);
/// assert_eq!(HttpCompression::default().threshold, 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpCompression {
    /// Responses smaller than this many bytes are sent as they are. Default 1024, as Node.
    pub threshold: usize,
    /// The zlib compression level, 0 to 9. Default 6 (zlib's and Node's default).
    pub level: u32,
}

impl Default for HttpCompression {
    fn default() -> Self {
        HttpCompression {
            threshold: 1024,
            level: 6,
        }
    }
}

impl HttpCompression {
    /// The defaults (Node's).
    pub fn new() -> HttpCompression {
        HttpCompression::default()
    }

    /// Sets [`HttpCompression::threshold`].
    #[must_use]
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Sets [`HttpCompression::level`] (at most 9).
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }
}

/// A content coding the engine answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Gzip,
    /// The zlib format, as HTTP's `deflate` and Node's `zlib.createDeflate`.
    Deflate,
}

impl Encoding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }
}

/// One element of `Accept-Encoding`: its coding, quality and position.
struct Spec<'a> {
    coding: &'a str,
    q: f64,
    order: usize,
}

/// What the negotiator package computes for a provided coding: how well the best matching
/// element matches (`s`: 1 exact, 0 `*`), its quality and position, and the coding's index.
#[derive(Clone, Copy)]
struct Priority {
    s: f64,
    q: f64,
    o: f64,
    i: f64,
}

/// JavaScript's `a || b` on numbers: 0 and NaN are false.
fn or(a: f64, b: f64) -> f64 {
    if a != 0.0 && !a.is_nan() {
        a
    } else {
        b
    }
}

/// The coding to answer with for these request headers, as Node's engine.io chooses it
/// (`accepts(req).encodings(["gzip", "deflate"])`, negotiator 0.6): by quality, then exact
/// match over `*`, then the element's position, then gzip first. `None` when neither is
/// acceptable (no header accepts only `identity`).
pub(crate) fn choose(headers: &HeaderMap) -> Option<Encoding> {
    let joined = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let specs: Vec<Spec<'_>> = joined
        .split(',')
        .enumerate()
        .filter_map(|(order, part)| parse_spec(part.trim(), order))
        .collect();
    let provided = [Encoding::Gzip, Encoding::Deflate];
    let mut best: Option<(Priority, Encoding)> = None;
    for (i, coding) in provided.into_iter().enumerate() {
        let mut p = Priority {
            s: 0.0,
            q: 0.0,
            o: -1.0,
            i: i as f64,
        };
        for spec in &specs {
            let s = if spec.coding.eq_ignore_ascii_case(coding.name()) {
                1.0
            } else if spec.coding == "*" {
                0.0
            } else {
                continue;
            };
            let cand = Priority {
                s,
                q: spec.q,
                o: spec.order as f64,
                i: i as f64,
            };
            if or(p.s - cand.s, or(p.q - cand.q, p.o - cand.o)) < 0.0 {
                p = cand;
            }
        }
        // negotiator's `isQuality`: a NaN quality is not one.
        if p.q.is_nan() || p.q <= 0.0 {
            continue;
        }
        let better = match &best {
            None => true,
            // negotiator's `compareSpecs(p, b) < 0`: `p` sorts first.
            Some((b, _)) => or(b.q - p.q, or(b.s - p.s, or(p.o - b.o, p.i - b.i))) < 0.0,
        };
        if better {
            best = Some((p, coding));
        }
    }
    best.map(|(_, c)| c)
}

/// One element, as negotiator's `/^\s*([^\s;]+)\s*(?:;(.*))?$/` reads it; the first `q`
/// parameter is its quality (`parseFloat`, NaN when it is not a number).
fn parse_spec(part: &str, order: usize) -> Option<Spec<'_>> {
    let (head, params) = match part.split_once(';') {
        Some((h, p)) => (h, Some(p)),
        None => (part, None),
    };
    let coding = head.trim();
    if coding.is_empty() || coding.contains(char::is_whitespace) {
        return None;
    }
    let mut q = 1.0;
    if let Some(params) = params.filter(|p| !p.is_empty()) {
        for p in params.split(';') {
            let mut kv = p.trim().split('=');
            if kv.next() == Some("q") {
                q = parse_float(kv.next().unwrap_or(""));
                break;
            }
        }
    }
    Some(Spec { coding, q, order })
}

/// JavaScript's `parseFloat`: the longest decimal prefix after leading spaces, else NaN.
fn parse_float(s: &str) -> f64 {
    let s = s.trim_start();
    let bytes = s.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits_start = end;
    while bytes.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    if bytes.get(end) == Some(&b'.') {
        end += 1;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    let num = s.get(..end).unwrap_or("");
    if num.len() == digits_start || num.get(digits_start..) == Some(".") {
        return f64::NAN;
    }
    num.parse().unwrap_or(f64::NAN)
}

/// Compresses a response body.
pub(crate) fn compress(body: &[u8], encoding: Encoding, level: u32) -> Vec<u8> {
    let level = Compression::new(level.min(9));
    let out = Vec::with_capacity(body.len() / 3 + 64);
    // Writing to a `Vec` cannot fail.
    match encoding {
        Encoding::Gzip => {
            let mut e = GzEncoder::new(out, level);
            let _ = e.write_all(body);
            e.finish().unwrap_or_default()
        }
        Encoding::Deflate => {
            let mut e = ZlibEncoder::new(out, level);
            let _ = e.write_all(body);
            e.finish().unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pick(accept: &[&str]) -> Option<Encoding> {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(ACCEPT_ENCODING, a.parse().expect("header"));
        }
        choose(&h)
    }

    #[test]
    fn chooses_as_node_does() {
        use Encoding::{Deflate, Gzip};
        assert_eq!(pick(&[]), None);
        assert_eq!(pick(&[""]), None);
        assert_eq!(pick(&["identity"]), None);
        assert_eq!(pick(&["br"]), None);
        assert_eq!(pick(&["gzip, deflate, br"]), Some(Gzip));
        // Position in the header decides between equals.
        assert_eq!(pick(&["deflate, gzip"]), Some(Deflate));
        assert_eq!(pick(&["deflate", "gzip"]), Some(Deflate));
        assert_eq!(pick(&["gzip;q=0.5, deflate"]), Some(Deflate));
        assert_eq!(pick(&["gzip;q=0, deflate;q=0"]), None);
        assert_eq!(pick(&["GZIP"]), Some(Gzip));
        // `*` matches both (gzip first), an exact element wins over it.
        assert_eq!(pick(&["*"]), Some(Gzip));
        assert_eq!(pick(&["*;q=0.5, deflate"]), Some(Deflate));
        assert_eq!(pick(&["gzip;q=0, *"]), Some(Deflate));
        // Malformed elements are skipped; a quality that is not a number refuses.
        assert_eq!(pick(&["gz ip, deflate"]), Some(Deflate));
        assert_eq!(pick(&["gzip;q=abc, deflate;q=0.1"]), Some(Deflate));
        assert_eq!(pick(&["gzip;q=0.8x"]), Some(Gzip));
    }

    #[test]
    fn bodies_decompress() {
        let body = b"4hello\x1e".repeat(500);
        let gz = compress(&body, Encoding::Gzip, 6);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .expect("gunzip");
        assert_eq!(back, body);
        let z = compress(&body, Encoding::Deflate, 6);
        back.clear();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_end(&mut back)
            .expect("inflate");
        assert_eq!(back, body);
        assert!(z.len() < body.len() / 10);
    }
}
