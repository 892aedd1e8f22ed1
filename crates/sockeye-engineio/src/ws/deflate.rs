//! `permessage-deflate` (RFC 7692): the negotiation in the opening handshake, and the
//! compression of messages both ways. Sans-IO like the rest of [`crate::ws`].
//!
//! What a connection keeps, and why:
//!
//! * **Inflating** (client to server). Without `client_no_context_takeover` a client's message
//!   may refer to the bytes of its earlier messages, up to its window (2^`client_max_window_bits`
//!   bytes). A connection keeps only those bytes, never a zlib state: each message is inflated
//!   by a decompressor of the worker thread, given the connection's last bytes as its
//!   dictionary. An idle connection so holds at most the window (32 KiB), and only as many
//!   bytes as its client has sent; with `client_no_context_takeover`, nothing.
//! * **Deflating** (server to client). With `server_no_context_takeover` every message is
//!   compressed alone, by a compressor of the worker thread: no connection holds one, and a
//!   message shared by many connections (a broadcast) is compressed once for all of them.
//!   Without it (the default, as in Node), each connection compresses with its own compressor
//!   (about 310 KiB), made at its first compressed message and dropped when a heartbeat finds
//!   it unused since the previous one ([`Encoder::idle`]): RFC 7692 lets a server start afresh
//!   at any message (the client's window only grows), so an idle connection gives it back.
//!
//! Messages smaller than [`PerMessageDeflate::threshold`] are sent as they are, whatever the
//! context takeover (Node's `ws` compresses every message when context takeover is on).

use std::cell::RefCell;
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use http::HeaderValue;

use super::frame::{encode_header_rsv1, OpCode, ProtocolError};

/// The name of the extension in `Sec-WebSocket-Extensions`.
const EXTENSION: &str = "permessage-deflate";

/// What the sender strips from the end of each compressed message (RFC 7692 §7.2.1) and the
/// receiver appends again before inflating it (§7.2.2).
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The options of the `permessage-deflate` extension: Node's `perMessageDeflate` (the options
/// of the `ws` package, with socket.io's `threshold`).
///
/// # Examples
/// ```
/// use sockeye_engineio::ws::PerMessageDeflate;
/// let deflate = PerMessageDeflate::new()
///     .threshold(512)
///     .server_no_context_takeover(true);
/// assert_eq!(deflate.threshold, 512);
/// assert_eq!(deflate.client_max_window_bits, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerMessageDeflate {
    /// Messages smaller than this many bytes (of the WebSocket message: for Engine.IO, the
    /// packet with its type) are sent uncompressed. Default 1024, as socket.io passes it.
    pub threshold: usize,
    /// Always agree `server_no_context_takeover`: each message the server sends is compressed
    /// alone. Default false (agreed only when the client asks for it, as `ws` does).
    pub server_no_context_takeover: bool,
    /// Always agree `client_no_context_takeover`: the client compresses each message alone
    /// and the server keeps nothing of its earlier messages. Default false.
    pub client_no_context_takeover: bool,
    /// The window the server compresses with, 8 to 15 (as 2^n bytes): answered to every
    /// client, and offers asking for a smaller one are refused. Default `None`: 15, or what
    /// the client asks for.
    pub server_max_window_bits: Option<u8>,
    /// The window the client must compress with, 8 to 15: answered to every client, and
    /// offers that do not allow it are refused. Default `None`: what the client offers, else 15.
    pub client_max_window_bits: Option<u8>,
    /// The zlib compression level of the server's messages, 0 to 9. Default 6 (zlib's and
    /// Node's default).
    pub level: u32,
}

impl Default for PerMessageDeflate {
    fn default() -> Self {
        PerMessageDeflate {
            threshold: 1024,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            level: 6,
        }
    }
}

impl PerMessageDeflate {
    /// The defaults (Node's `perMessageDeflate: true` in socket.io 4).
    pub fn new() -> PerMessageDeflate {
        PerMessageDeflate::default()
    }

    /// Sets [`PerMessageDeflate::threshold`].
    #[must_use]
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Sets [`PerMessageDeflate::server_no_context_takeover`].
    #[must_use]
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Sets [`PerMessageDeflate::client_no_context_takeover`].
    #[must_use]
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Sets [`PerMessageDeflate::server_max_window_bits`] (clamped to 8..=15).
    #[must_use]
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = Some(bits.clamp(8, 15));
        self
    }

    /// Sets [`PerMessageDeflate::client_max_window_bits`] (clamped to 8..=15).
    #[must_use]
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = Some(bits.clamp(8, 15));
        self
    }

    /// Sets [`PerMessageDeflate::level`] (at most 9).
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }
}

/// The parameters both sides agreed on in the handshake (RFC 7692's "agreed parameters").
///
/// # Examples
/// ```
/// use sockeye_engineio::ws::Agreed;
/// // What a bare `permessage-deflate` answer means.
/// let agreed = Agreed::default();
/// assert!(!agreed.server_no_context_takeover);
/// assert_eq!(agreed.client_max_window_bits, 15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Agreed {
    /// The server compresses each message alone.
    pub server_no_context_takeover: bool,
    /// The client compresses each message alone.
    pub client_no_context_takeover: bool,
    /// The server's window, 8 to 15.
    pub server_max_window_bits: u8,
    /// The client's window, 8 to 15.
    pub client_max_window_bits: u8,
}

impl Default for Agreed {
    fn default() -> Self {
        Agreed {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// A `Sec-WebSocket-Extensions` header that cannot be parsed, or whose `permessage-deflate`
/// offers are all invalid or unacceptable. Node's `ws` answers `400` with this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid or unacceptable Sec-WebSocket-Extensions header")]
pub struct ExtensionError;

/// One parameter of an offer, in the order it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    ServerNoContextTakeover,
    ClientNoContextTakeover,
    ServerMaxWindowBits(u8),
    /// `None`: the client offers it without a value (it can use any window).
    ClientMaxWindowBits(Option<u8>),
}

impl Param {
    /// The position of the parameter's name in [`Param::NAMES`].
    fn slot(self) -> usize {
        match self {
            Param::ServerNoContextTakeover => 0,
            Param::ClientNoContextTakeover => 1,
            Param::ServerMaxWindowBits(_) => 2,
            Param::ClientMaxWindowBits(_) => 3,
        }
    }

    const NAMES: [&'static str; 4] = [
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    ];
}

/// Negotiates `permessage-deflate` from the request's `Sec-WebSocket-Extensions` values, as
/// Node's `ws` 8 does as a server: the first acceptable offer is taken, and the answer holds
/// its parameters (in their order) changed by `config`. Returns the agreed parameters and the
/// response header value, or `None` when the client offers no `permessage-deflate`.
///
/// # Errors
/// [`ExtensionError`] when the header is malformed, an offer has an unknown, repeated or
/// invalid parameter, or no offer can be accepted (Node then answers `400`).
///
/// # Examples
/// ```
/// use http::HeaderValue;
/// use sockeye_engineio::ws::{negotiate, PerMessageDeflate};
/// // What Chromium offers.
/// let offer = HeaderValue::from_static("permessage-deflate; client_max_window_bits");
/// let (agreed, answer) = negotiate(&PerMessageDeflate::new(), [&offer])?.unwrap();
/// assert_eq!(answer, "permessage-deflate");
/// assert_eq!(agreed.client_max_window_bits, 15);
///
/// let config = PerMessageDeflate::new().server_no_context_takeover(true);
/// let (agreed, answer) = negotiate(&config, [&offer])?.unwrap();
/// assert_eq!(answer, "permessage-deflate; server_no_context_takeover");
/// assert!(agreed.server_no_context_takeover);
/// # Ok::<(), sockeye_engineio::ws::ExtensionError>(())
/// ```
pub fn negotiate<'a>(
    config: &PerMessageDeflate,
    values: impl IntoIterator<Item = &'a HeaderValue>,
) -> Result<Option<(Agreed, HeaderValue)>, ExtensionError> {
    // Several header lines are one comma-separated list.
    let mut joined = Vec::new();
    for v in values {
        if !joined.is_empty() {
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if joined.is_empty() {
        return Ok(None);
    }
    let offers = parse_header(&joined).ok_or(ExtensionError)?;
    let mut ours = Vec::new();
    for (name, params) in offers {
        if name == EXTENSION.as_bytes() {
            ours.push(normalize(&params).ok_or(ExtensionError)?);
        }
    }
    if ours.is_empty() {
        return Ok(None);
    }
    let accepted = ours
        .into_iter()
        .find(|offer| acceptable(config, offer))
        .ok_or(ExtensionError)?;
    let answer = answer(config, accepted);
    let mut agreed = Agreed::default();
    let mut text = String::from(EXTENSION);
    for p in &answer {
        text.push_str("; ");
        text.push_str(Param::NAMES[p.slot()]);
        match *p {
            Param::ServerNoContextTakeover => agreed.server_no_context_takeover = true,
            Param::ClientNoContextTakeover => agreed.client_no_context_takeover = true,
            Param::ServerMaxWindowBits(n) => {
                agreed.server_max_window_bits = n;
                text.push_str(&format!("={n}"));
            }
            Param::ClientMaxWindowBits(n) => {
                // `answer` keeps only values here.
                if let Some(n) = n {
                    agreed.client_max_window_bits = n;
                    text.push_str(&format!("={n}"));
                }
            }
        }
    }
    let value = HeaderValue::from_str(&text).map_err(|_| ExtensionError)?;
    Ok(Some((agreed, value)))
}

type RawParams<'a> = Vec<(&'a [u8], Option<Vec<u8>>)>;

/// Parses an extension list (RFC 6455 §9.1: tokens, `;` parameters, values as tokens or
/// quoted strings of token characters, spaces around the separators), as strictly as `ws`:
/// `None` on anything else.
fn parse_header(s: &[u8]) -> Option<Vec<(&[u8], RawParams<'_>)>> {
    let mut p = Cursor { s, i: 0 };
    let mut out = Vec::new();
    loop {
        p.spaces();
        let name = p.token()?;
        p.spaces();
        let mut params = Vec::new();
        while p.eat(b';') {
            p.spaces();
            let key = p.token()?;
            // No spaces around `=`.
            let value = if p.eat(b'=') {
                Some(if p.peek() == Some(b'"') {
                    p.quoted()?
                } else {
                    p.token()?.to_vec()
                })
            } else {
                None
            };
            p.spaces();
            params.push((key, value));
        }
        out.push((name, params));
        if p.peek().is_none() {
            return Some(out);
        }
        if !p.eat(b',') {
            return None;
        }
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        self.s.get(start..self.i).filter(|t| !t.is_empty())
    }

    /// A quoted string of token characters (a backslash escapes one), not empty.
    fn quoted(&mut self) -> Option<Vec<u8>> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' if !out.is_empty() => return Some(out),
                b'\\' => {
                    let c = self.peek().filter(|&c| is_tchar(c))?;
                    self.i += 1;
                    out.push(c);
                }
                c if is_tchar(c) => out.push(c),
                _ => return None,
            }
        }
    }
}

/// RFC 7230 `tchar`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// An offer's parameters, checked as `ws` checks them; `None` for an unknown, repeated or
/// invalid one.
fn normalize(params: &RawParams<'_>) -> Option<Vec<Param>> {
    let mut out: Vec<Param> = Vec::with_capacity(params.len());
    for (key, value) in params {
        let bits = |v: &Option<Vec<u8>>| -> Option<u8> {
            let v = v.as_deref()?;
            if v.is_empty() || v.len() > 3 || !v.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n: u8 = std::str::from_utf8(v).ok()?.parse().ok()?;
            (8..=15).contains(&n).then_some(n)
        };
        let param = match *key {
            b"server_no_context_takeover" if value.is_none() => Param::ServerNoContextTakeover,
            b"client_no_context_takeover" if value.is_none() => Param::ClientNoContextTakeover,
            b"server_max_window_bits" => Param::ServerMaxWindowBits(bits(value)?),
            b"client_max_window_bits" => Param::ClientMaxWindowBits(match value {
                None => None,
                v => Some(bits(v)?),
            }),
            _ => return None,
        };
        if out.iter().any(|p| p.slot() == param.slot()) {
            return None;
        }
        out.push(param);
    }
    Some(out)
}

/// Whether `ws` with these options would accept the offer.
fn acceptable(config: &PerMessageDeflate, offer: &[Param]) -> bool {
    for p in offer {
        if let (Param::ServerMaxWindowBits(asked), Some(ours)) = (p, config.server_max_window_bits)
        {
            if ours > *asked {
                return false;
            }
        }
    }
    if let Some(ours) = config.client_max_window_bits {
        let offered = offer.iter().find_map(|p| match p {
            Param::ClientMaxWindowBits(v) => Some(*v),
            _ => None,
        });
        match offered {
            // The client did not say it can use another window.
            None => return false,
            Some(Some(n)) if ours > n => return false,
            _ => {}
        }
    }
    true
}

/// The accepted offer changed by the server's options, as `ws` builds its answer: the
/// offer's parameters in their order, the ones the options add after them.
fn answer(config: &PerMessageDeflate, mut params: Vec<Param>) -> Vec<Param> {
    let mut set = |p: Param| match params.iter_mut().find(|q| q.slot() == p.slot()) {
        Some(q) => *q = p,
        None => params.push(p),
    };
    if config.server_no_context_takeover {
        set(Param::ServerNoContextTakeover);
    }
    if config.client_no_context_takeover {
        set(Param::ClientNoContextTakeover);
    }
    if let Some(n) = config.server_max_window_bits {
        set(Param::ServerMaxWindowBits(n.clamp(8, 15)));
    }
    if let Some(n) = config.client_max_window_bits {
        set(Param::ClientMaxWindowBits(Some(n.clamp(8, 15))));
    }
    // A bare `client_max_window_bits` only says the client could take a value.
    params.retain(|p| *p != Param::ClientMaxWindowBits(None));
    params
}

thread_local! {
    /// Each worker thread's decompressor: connections keep only their window (see the module).
    static INFLATE: RefCell<Option<Decompress>> = const { RefCell::new(None) };
    /// Each worker thread's compressors for messages compressed alone, by window bits and
    /// level (one in practice).
    static DEFLATE: RefCell<Vec<(u8, u32, Compress)>> = const { RefCell::new(Vec::new()) };
    /// Where messages are compressed before they are framed.
    static DEFLATED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The receiving side of a connection's `permessage-deflate`.
#[derive(Debug)]
pub(crate) struct Inflater {
    /// Without `client_no_context_takeover`: the client's last bytes, at most its window, which
    /// its next message may refer to.
    window: Option<Vec<u8>>,
    window_size: usize,
}

impl Inflater {
    pub(crate) fn new(agreed: &Agreed) -> Inflater {
        Inflater {
            window: (!agreed.client_no_context_takeover).then(Vec::new),
            window_size: 1 << agreed.client_max_window_bits.clamp(8, 15),
        }
    }

    /// Inflates one message (its compressed bytes, the trailer stripped), producing at most
    /// `limit` bytes: one more and it stops with 1009, whatever the input would give.
    pub(crate) fn inflate(&mut self, input: &[u8], limit: usize) -> Result<Vec<u8>, ProtocolError> {
        let out = INFLATE.with(|cell| {
            let mut slot = cell.borrow_mut();
            // The window is 15 bits whatever the client's: a client that keeps to a smaller
            // one is read the same, and one that refers further back than it may fails below,
            // as its window is all the dictionary holds.
            let d = slot.get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
            d.reset(false);
            if let Some(window) = self.window.as_deref().filter(|w| !w.is_empty()) {
                d.set_dictionary(window)
                    .map_err(|_| ProtocolError::invalid_compressed())?;
            }
            inflate_limited(d, input, limit)
        })?;
        if let Some(window) = &mut self.window {
            keep_tail(window, &out, self.window_size);
        }
        Ok(out)
    }
}

/// Runs `d` over `input` and the trailer, into a buffer that grows as needed up to `limit + 1`
/// bytes.
fn inflate_limited(
    d: &mut Decompress,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, ProtocolError> {
    let cap_max = limit.saturating_add(1);
    // Text compresses 3 to 10 times; start there and double.
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).max(256).min(cap_max));
    for chunk in [input, &TRAILER[..]] {
        let mut rest = chunk;
        loop {
            let (in_before, out_before) = (d.total_in(), d.total_out());
            let status = d
                .decompress_vec(rest, &mut out, FlushDecompress::Sync)
                .map_err(|_| ProtocolError::invalid_compressed())?;
            let used = usize::try_from(d.total_in() - in_before).unwrap_or(usize::MAX);
            let made = d.total_out() - out_before;
            rest = rest.get(used..).unwrap_or_default();
            if out.len() > limit {
                return Err(ProtocolError::too_big());
            }
            if status == Status::StreamEnd {
                // A final block: what follows it (the trailer at least) is not data.
                return Ok(out);
            }
            if out.len() == out.capacity() {
                if out.capacity() >= cap_max {
                    return Err(ProtocolError::too_big());
                }
                let grown = out.capacity().saturating_mul(2).min(cap_max);
                out.reserve_exact(grown - out.len());
                continue;
            }
            if rest.is_empty() {
                break;
            }
            if used == 0 && made == 0 {
                return Err(ProtocolError::invalid_compressed());
            }
        }
    }
    // Most messages are read and dropped at once; one that is kept should not carry spare room.
    if out.capacity() - out.len() > out.len() / 2 + 64 {
        out.shrink_to_fit();
    }
    Ok(out)
}

/// Appends `data` to `window`, keeping only its last `size` bytes.
fn keep_tail(window: &mut Vec<u8>, data: &[u8], size: usize) {
    if data.len() >= size {
        window.clear();
        window.extend_from_slice(&data[data.len() - size..]);
        window.shrink_to(size);
        return;
    }
    let drop = (window.len() + data.len()).saturating_sub(size);
    window.drain(..drop);
    let len = window.len() + data.len();
    if len > window.capacity() {
        // Doubling, but never past the window.
        let want = len.max(window.capacity().saturating_mul(2)).min(size);
        window.reserve_exact(want - window.len());
    }
    window.extend_from_slice(data);
}

/// The compressed form of a message that several connections send (see
/// [`crate::payload::SharedMessage`]), made by the first one that needs it.
#[derive(Debug, Default)]
pub(crate) struct DeflateCache(OnceLock<(u8, u32, Bytes)>);

/// The sending side of a connection's `permessage-deflate`.
#[derive(Debug)]
struct Deflater {
    agreed: Agreed,
    threshold: usize,
    level: u32,
    /// With context takeover: the connection's own compressor, made at its first compressed
    /// message and dropped by [`Encoder::idle`] when unused since the previous call.
    own: Option<Compress>,
    used: bool,
}

impl Deflater {
    /// The window bits zlib compresses with: raw deflate cannot use 8, and 9 is fine for a
    /// client that allows 8, as zlib never refers more than 2^n - 262 bytes back.
    fn bits(&self) -> u8 {
        self.agreed.server_max_window_bits.clamp(9, 15)
    }

    /// Compresses `parts` (one message) into `out` (cleared first), trailer stripped.
    fn compress(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) -> bool {
        if self.agreed.server_no_context_takeover {
            return compress_alone(self.bits(), self.level, parts, out);
        }
        self.used = true;
        let bits = self.bits();
        let level = self.level;
        let c = self.own.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
        if deflate_parts(c, parts, out) {
            return true;
        }
        // A compressor that failed is not trusted with the next message.
        self.own = None;
        false
    }
}

/// Compresses one message with the thread's compressor, from a fresh state.
fn compress_alone(bits: u8, level: u32, parts: &[&[u8]], out: &mut Vec<u8>) -> bool {
    DEFLATE.with(|cell| {
        let mut pool = cell.borrow_mut();
        let i = match pool.iter().position(|(b, l, _)| *b == bits && *l == level) {
            Some(i) => i,
            None => {
                let c = Compress::new_with_window_bits(Compression::new(level), false, bits);
                pool.push((bits, level, c));
                pool.len() - 1
            }
        };
        let c = &mut pool[i].2;
        c.reset();
        deflate_parts(c, parts, out)
    })
}

/// Runs `c` over `parts` with a sync flush at the end, into `out`; strips the trailer.
fn deflate_parts(c: &mut Compress, parts: &[&[u8]], out: &mut Vec<u8>) -> bool {
    out.clear();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    out.reserve(total / 2 + 64);
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.iter().enumerate() {
        let flush = if i == last {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let mut rest = *part;
        loop {
            let before = c.total_in();
            if c.compress_vec(rest, out, flush).is_err() {
                return false;
            }
            let used = usize::try_from(c.total_in() - before).unwrap_or(usize::MAX);
            rest = rest.get(used..).unwrap_or_default();
            // A flush is complete when zlib stops with room left.
            if rest.is_empty() && (i != last || out.len() < out.capacity()) {
                break;
            }
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(256));
            }
        }
    }
    if out.ends_with(&TRAILER) {
        out.truncate(out.len() - TRAILER.len());
    }
    true
}

/// Writes the server's data frames, compressing them when `permessage-deflate` was agreed.
///
/// # Examples
/// ```
/// use bytes::BytesMut;
/// use sockeye_engineio::ws::{Agreed, Encoder, OpCode, PerMessageDeflate};
///
/// let mut plain = Encoder::new();
/// let mut out = BytesMut::new();
/// plain.message(OpCode::Text, &[b"4", b"hello"], true, &mut out);
/// assert_eq!(&out[..], b"\x81\x064hello");
///
/// let mut deflating = Encoder::with_deflate(Agreed::default(), &PerMessageDeflate::new().threshold(0));
/// out.clear();
/// deflating.message(OpCode::Text, &[b"4", b"hello"], true, &mut out);
/// assert_eq!(out[0], 0xC1); // FIN, RSV1 (compressed), text
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    deflate: Option<Box<Deflater>>,
}

impl Encoder {
    /// An encoder without compression.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// An encoder for a connection that agreed `permessage-deflate` with `agreed`.
    pub fn with_deflate(agreed: Agreed, config: &PerMessageDeflate) -> Encoder {
        Encoder {
            deflate: Some(Box::new(Deflater {
                agreed,
                threshold: config.threshold,
                level: config.level.min(9),
                own: None,
                used: false,
            })),
        }
    }

    /// Whether messages may be compressed on this connection.
    pub fn is_deflating(&self) -> bool {
        self.deflate.is_some()
    }

    /// Whether the connection holds a compressor of its own now (context takeover, in use).
    pub fn holds_compressor(&self) -> bool {
        self.deflate.as_ref().is_some_and(|d| d.own.is_some())
    }

    /// Appends one unfragmented data message whose payload is `parts` joined. It is
    /// compressed when `permessage-deflate` was agreed, `compress` is true and the payload is
    /// at least the threshold.
    pub fn message(&mut self, opcode: OpCode, parts: &[&[u8]], compress: bool, out: &mut BytesMut) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if let Some(d) = self
            .deflate
            .as_mut()
            .filter(|d| compress && len >= d.threshold)
        {
            let done = DEFLATED.with(|cell| {
                let mut buf = cell.borrow_mut();
                let done = d.compress(parts, &mut buf);
                if done {
                    put_compressed(opcode, &buf, out);
                }
                if buf.capacity() > 1 << 20 {
                    *buf = Vec::new();
                }
                done
            });
            if done {
                return;
            }
        }
        put_plain(opcode, parts, len, out);
    }

    /// As [`Encoder::message`] for a message several connections send: when the server
    /// compresses each message alone, its compressed form is made once, kept in `cache`, and
    /// framed for every connection with the same window.
    pub(crate) fn shared(
        &mut self,
        opcode: OpCode,
        parts: &[&[u8]],
        compress: bool,
        cache: &DeflateCache,
        out: &mut BytesMut,
    ) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let Some(d) = self
            .deflate
            .as_mut()
            .filter(|d| compress && len >= d.threshold && d.agreed.server_no_context_takeover)
        else {
            return self.message(opcode, parts, compress, out);
        };
        let (bits, level) = (d.bits(), d.level);
        if let Some((_, _, bytes)) = cache.0.get().filter(|c| c.0 == bits && c.1 == level) {
            return put_compressed(opcode, bytes, out);
        }
        let mut buf = Vec::new();
        if !compress_alone(bits, level, parts, &mut buf) {
            return put_plain(opcode, parts, len, out);
        }
        put_compressed(opcode, &buf, out);
        let _ = cache.0.set((bits, level, Bytes::from(buf)));
    }

    /// Called at each heartbeat: drops the connection's own compressor when no message used
    /// it since the previous call (see the module's notes). A message compressed later starts
    /// a fresh one, which the client reads the same.
    pub fn idle(&mut self) {
        if let Some(d) = self.deflate.as_mut() {
            if !std::mem::take(&mut d.used) {
                d.own = None;
            }
        }
    }
}

fn put_plain(opcode: OpCode, parts: &[&[u8]], len: usize, out: &mut BytesMut) {
    out.reserve(10 + len);
    super::frame::encode_header(opcode, len, true, out);
    for p in parts {
        out.extend_from_slice(p);
    }
}

fn put_compressed(opcode: OpCode, data: &[u8], out: &mut BytesMut) {
    out.reserve(10 + data.len());
    encode_header_rsv1(opcode, data.len(), out);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    fn answer_for(
        config: &PerMessageDeflate,
        offer: &'static str,
    ) -> Result<Option<String>, ExtensionError> {
        let v = hv(offer);
        Ok(negotiate(config, [&v])?.map(|(_, h)| h.to_str().unwrap_or("").to_owned()))
    }

    #[test]
    fn negotiation_answers_as_ws_does() {
        let d = PerMessageDeflate::new();
        // Chromium and Node's ws client.
        assert_eq!(
            answer_for(&d, "permessage-deflate; client_max_window_bits")
                .unwrap()
                .as_deref(),
            Some("permessage-deflate")
        );
        // Firefox and Safari.
        assert_eq!(
            answer_for(&d, "permessage-deflate").unwrap().as_deref(),
            Some("permessage-deflate")
        );
        // What the client asks for is kept, in its order.
        assert_eq!(
            answer_for(&d, "permessage-deflate; server_max_window_bits=10; client_no_context_takeover; client_max_window_bits=12").unwrap().as_deref(),
            Some("permessage-deflate; server_max_window_bits=10; client_no_context_takeover; client_max_window_bits=12")
        );
        // The server's options are added after.
        let both = PerMessageDeflate::new()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
            .client_max_window_bits(10);
        assert_eq!(
            answer_for(&both, "permessage-deflate; client_max_window_bits").unwrap().as_deref(),
            Some("permessage-deflate; client_max_window_bits=10; server_no_context_takeover; client_no_context_takeover")
        );
        // Other extensions are ignored; the first acceptable offer wins.
        assert_eq!(
            answer_for(&d, "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=9, permessage-deflate").unwrap().as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
        assert_eq!(answer_for(&d, "x-webkit-deflate-frame").unwrap(), None);
        // Quoted values.
        assert_eq!(
            answer_for(&d, "permessage-deflate; client_max_window_bits=\"9\"")
                .unwrap()
                .as_deref(),
            Some("permessage-deflate; client_max_window_bits=9")
        );
    }

    #[test]
    fn negotiation_refuses_what_ws_refuses() {
        let d = PerMessageDeflate::new();
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate;",
            "permessage-deflate, ",
            "permessage-deflate; client_max_window_bits =10",
            "permessage-deflate; client_max_window_bits=\"\"",
            "permessage-deflate; client_max_window_bits=\"1 0\"",
            ",permessage-deflate",
            // A bad offer fails the header even beside a good one.
            "permessage-deflate; nope, permessage-deflate",
        ] {
            assert_eq!(answer_for(&d, bad), Err(ExtensionError), "{bad}");
        }
        // Unacceptable: smaller than the server's window, or no room for the client's.
        let server10 = PerMessageDeflate::new().server_max_window_bits(10);
        assert_eq!(
            answer_for(&server10, "permessage-deflate; server_max_window_bits=9"),
            Err(ExtensionError)
        );
        let client10 = PerMessageDeflate::new().client_max_window_bits(10);
        assert_eq!(
            answer_for(&client10, "permessage-deflate"),
            Err(ExtensionError)
        );
        assert_eq!(
            answer_for(&client10, "permessage-deflate; client_max_window_bits=9"),
            Err(ExtensionError)
        );
        assert!(answer_for(&client10, "permessage-deflate; client_max_window_bits=11").is_ok());
    }

    /// The payload of one server frame, checking its length field.
    fn payload(frame: &[u8]) -> &[u8] {
        let (at, len) = match frame[1] {
            126 => (4, usize::from(u16::from_be_bytes([frame[2], frame[3]]))),
            127 => (
                10,
                usize::try_from(u64::from_be_bytes(frame[2..10].try_into().unwrap())).unwrap(),
            ),
            n => (2, usize::from(n)),
        };
        assert_eq!(frame.len(), at + len);
        &frame[at..]
    }

    fn deflate_raw(data: &[u8], bits: u8, level: u32) -> Vec<u8> {
        let mut c = Compress::new_with_window_bits(Compression::new(level), false, bits);
        let mut out = Vec::new();
        assert!(deflate_parts(&mut c, &[data], &mut out));
        out
    }

    #[test]
    fn messages_round_trip_with_and_without_context() {
        for agreed in [
            Agreed::default(),
            Agreed {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 9,
                client_max_window_bits: 8,
            },
        ] {
            let config = PerMessageDeflate::new().threshold(0);
            let mut enc = Encoder::with_deflate(agreed, &config);
            // The client side of the same agreement, as the server's inflater reads it.
            let mut client_agreed = agreed;
            client_agreed.client_no_context_takeover = agreed.server_no_context_takeover;
            client_agreed.client_max_window_bits = agreed.server_max_window_bits;
            let mut inflater = Inflater::new(&client_agreed);
            for i in 0..50 {
                let text = format!(
                    "42[\"tick\",{{\"n\":{i},\"s\":\"{}\"}}]",
                    "abc".repeat(i * 37)
                );
                let mut out = BytesMut::new();
                enc.message(OpCode::Text, &[b"4", text.as_bytes()], true, &mut out);
                assert_eq!(out[0] & 0x40, 0x40, "RSV1");
                let got = inflater.inflate(payload(&out), 1 << 20).expect("inflate");
                assert_eq!(got, [b"4", text.as_bytes()].concat());
            }
        }
    }

    #[test]
    fn context_takeover_refers_back_and_no_context_does_not() {
        // Quotes whose keys repeat from one message to the next, with other numbers.
        let msg: Vec<u8> = (0..40)
            .map(|i| {
                format!(
                    "{{\"symbol\":\"S{i}\",\"price\":{}.{},\"volume\":{}}},",
                    i * 7 % 13,
                    i * 31 % 97,
                    i * 1013 % 7919
                )
            })
            .collect::<String>()
            .into_bytes();
        let sizes = |agreed: Agreed| {
            let mut enc = Encoder::with_deflate(agreed, &PerMessageDeflate::new());
            (0..3)
                .map(|_| {
                    let mut out = BytesMut::new();
                    enc.message(OpCode::Text, &[&msg], true, &mut out);
                    out.len()
                })
                .collect::<Vec<_>>()
        };
        let with = sizes(Agreed::default());
        assert!(with[1] < with[0] / 4, "{with:?}");
        let nct = Agreed {
            server_no_context_takeover: true,
            ..Agreed::default()
        };
        let without = sizes(nct);
        assert_eq!(without[0], without[1]);
        assert_eq!(without[0], with[0]);
    }

    #[test]
    fn threshold_and_compress_flag() {
        let mut enc = Encoder::with_deflate(Agreed::default(), &PerMessageDeflate::new());
        let mut out = BytesMut::new();
        enc.message(OpCode::Text, &[b"4", &[b'x'; 1022]], true, &mut out);
        assert_eq!(out[0], 0x81, "1023 bytes: below the threshold");
        out.clear();
        enc.message(OpCode::Text, &[b"4", &[b'x'; 1023]], true, &mut out);
        assert_eq!(out[0], 0xC1, "1024 bytes: compressed");
        out.clear();
        enc.message(OpCode::Binary, &[&[7u8; 5000]], false, &mut out);
        assert_eq!(out[0], 0x82, "compress false");
        assert!(!Encoder::new().is_deflating());
    }

    #[test]
    fn an_idle_connection_gives_its_compressor_back() {
        let mut enc =
            Encoder::with_deflate(Agreed::default(), &PerMessageDeflate::new().threshold(0));
        assert!(!enc.holds_compressor());
        let mut out = BytesMut::new();
        enc.message(OpCode::Text, &[b"hello"], true, &mut out);
        assert!(enc.holds_compressor());
        enc.idle();
        assert!(enc.holds_compressor(), "used since the last heartbeat");
        enc.idle();
        assert!(!enc.holds_compressor(), "unused for a whole interval");
        // The next message starts afresh, and the client (which kept its window) reads it.
        let mut inflater = Inflater::new(&Agreed::default());
        assert_eq!(inflater.inflate(payload(&out), 100).unwrap(), b"hello");
        out.clear();
        enc.message(OpCode::Text, &[b"hello again"], true, &mut out);
        assert_eq!(
            inflater.inflate(payload(&out), 100).unwrap(),
            b"hello again"
        );
        // Without context takeover nothing is ever held.
        let nct = Agreed {
            server_no_context_takeover: true,
            ..Agreed::default()
        };
        let mut enc = Encoder::with_deflate(nct, &PerMessageDeflate::new().threshold(0));
        enc.message(OpCode::Text, &[b"hello"], true, &mut out);
        assert!(!enc.holds_compressor());
    }

    #[test]
    fn a_shared_message_is_compressed_once_per_window() {
        let nct = Agreed {
            server_no_context_takeover: true,
            ..Agreed::default()
        };
        let config = PerMessageDeflate::new().threshold(0);
        let cache = DeflateCache::default();
        let data = b"the same broadcast for everyone ".repeat(40);
        let mut frames = Vec::new();
        for _ in 0..3 {
            let mut enc = Encoder::with_deflate(nct, &config);
            let mut out = BytesMut::new();
            enc.shared(OpCode::Text, &[b"4", &data], true, &cache, &mut out);
            frames.push(out);
        }
        assert!(cache.0.get().is_some());
        assert!(frames.windows(2).all(|w| w[0] == w[1]));
        let mut inflater = Inflater::new(&Agreed::default());
        assert_eq!(
            inflater.inflate(payload(&frames[0]), 1 << 20).unwrap(),
            [b"4", &data[..]].concat()
        );
        // Context takeover: per connection, the cache is not used.
        let cache = DeflateCache::default();
        let mut enc = Encoder::with_deflate(Agreed::default(), &config);
        let mut out = BytesMut::new();
        enc.shared(OpCode::Text, &[b"4", &data], true, &cache, &mut out);
        assert!(cache.0.get().is_none());
        assert!(enc.holds_compressor());
    }

    #[test]
    fn inflating_stops_at_the_limit() {
        // 10 MB of zeros deflate to about 10 KB.
        let bomb = deflate_raw(&vec![0u8; 10_000_000], 15, 9);
        assert!(bomb.len() < 20_000);
        let mut inflater = Inflater::new(&Agreed::default());
        let err = inflater.inflate(&bomb, 100_000).unwrap_err();
        assert_eq!(err.code, 1009);
        // Exactly at the limit is fine.
        let exact = deflate_raw(&[b'a'; 100_000], 15, 6);
        assert_eq!(inflater.inflate(&exact, 100_000).unwrap().len(), 100_000);
        let over = deflate_raw(&[b'a'; 100_001], 15, 6);
        assert_eq!(inflater.inflate(&over, 100_000).unwrap_err().code, 1009);
    }

    #[test]
    fn invalid_data_is_1007() {
        let mut inflater = Inflater::new(&Agreed::default());
        // BTYPE 11 is reserved.
        assert_eq!(
            inflater
                .inflate(&[0xff, 0xff, 0xff], 1000)
                .unwrap_err()
                .code,
            1007
        );
        // A distance further back than anything received.
        let mut no_ctx = Inflater::new(&Agreed {
            client_no_context_takeover: true,
            ..Agreed::default()
        });
        let first = deflate_raw(b"hello hello hello", 15, 6);
        assert!(no_ctx.inflate(&first, 1000).is_ok());
        // A second message compressed as the continuation of the first.
        let mut ctx = Inflater::new(&Agreed::default());
        let mut c2 = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let mut a = Vec::new();
        let mut b = Vec::new();
        assert!(deflate_parts(
            &mut c2,
            &[b"hello world, hello world"],
            &mut a
        ));
        assert!(deflate_parts(
            &mut c2,
            &[b"hello world, hello world"],
            &mut b
        ));
        assert!(ctx.inflate(&a, 1000).is_ok());
        assert_eq!(ctx.inflate(&b, 1000).unwrap(), b"hello world, hello world");
        // Without the context, the second message refers to nothing.
        let mut fresh = Inflater::new(&Agreed::default());
        assert_eq!(fresh.inflate(&b, 1000).unwrap_err().code, 1007);
        assert!(no_ctx.inflate(&a, 1000).is_ok());
        assert_eq!(no_ctx.inflate(&b, 1000).unwrap_err().code, 1007);
    }

    #[test]
    fn the_window_keeps_only_the_last_bytes() {
        let mut w = Vec::new();
        keep_tail(&mut w, b"abc", 4);
        assert_eq!(w, b"abc");
        keep_tail(&mut w, b"de", 4);
        assert_eq!(w, b"bcde");
        keep_tail(&mut w, b"0123456789", 4);
        assert_eq!(w, b"6789");
        assert!(w.capacity() <= 16);
    }
}
