//! Wire formats the load generator needs: client WebSocket frames (masked), server frame
//! parsing, a reusable input buffer, and a minimal HTTP/1.1 response parser for polling.

use std::io;
use std::ops::Range;

/// WebSocket opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// WebSocket opcode of a binary frame (a msgpack packet).
pub const OP_BINARY: u8 = 0x2;
/// WebSocket opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// WebSocket opcode of a ping frame.
pub const OP_PING: u8 = 0x9;

/// What RFC 7692 strips from a compressed message's end, and a reader puts back.
const DEFLATE_TRAILER: [u8; 4] = [0, 0, 0xff, 0xff];

/// One client-to-server text frame whose payload is `payload` compressed (`permessage-deflate`,
/// RSV1 set), each message compressed alone (valid with or without context takeover).
pub fn client_frame_deflated(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut z = Vec::with_capacity(payload.len() + 64);
    loop {
        let done = c.total_in() as usize;
        c.compress_vec(&payload[done..], &mut z, flate2::FlushCompress::Sync)
            .expect("deflate into a Vec");
        if c.total_in() as usize == payload.len() && z.len() < z.capacity() {
            break;
        }
        z.reserve(z.capacity().max(64));
    }
    if z.ends_with(&DEFLATE_TRAILER) {
        z.truncate(z.len() - 4);
    }
    let mut f = client_frame(OP_TEXT, &z, mask);
    f[0] |= 0x40;
    f
}

/// The client side of `permessage-deflate`: inflates the server's compressed messages.
pub struct Inflate {
    z: flate2::Decompress,
    /// The server compresses each message alone: start afresh for each.
    reset: bool,
    /// The last message inflated.
    pub out: Vec<u8>,
}

impl Inflate {
    /// For a connection whose answer was `extensions` (the `Sec-WebSocket-Extensions` value).
    pub fn new(extensions: &str) -> Inflate {
        Inflate {
            z: flate2::Decompress::new(false),
            reset: extensions.contains("server_no_context_takeover"),
            out: Vec::new(),
        }
    }

    /// Inflates one message into [`Inflate::out`].
    pub fn inflate(&mut self, data: &[u8]) -> io::Result<()> {
        if self.reset {
            self.z.reset(false);
        }
        self.out.clear();
        self.out.reserve(data.len() * 4 + 64);
        for chunk in [data, &DEFLATE_TRAILER[..]] {
            let mut rest = chunk;
            loop {
                let before = self.z.total_in();
                self.z
                    .decompress_vec(rest, &mut self.out, flate2::FlushDecompress::Sync)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                rest = &rest[(self.z.total_in() - before) as usize..];
                if rest.is_empty() && self.out.len() < self.out.capacity() {
                    break;
                }
                if self.out.len() > MAX_FRAME {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "inflated too large",
                    ));
                }
                self.out.reserve(self.out.capacity().max(256));
            }
        }
        Ok(())
    }
}

/// Encodes one client-to-server frame (FIN set), masking the payload with `mask` as RFC 6455
/// requires for every client frame.
pub fn client_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let len = payload.len();
    let mut f = Vec::with_capacity(len + 14);
    f.push(0x80 | opcode);
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    f
}

/// A small xorshift generator: mask keys and jitter, no dependency and no syscall.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator (any seed, zero included).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next pseudo-random 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A uniform value in [0, 1) (53 random bits), as `Math.random()` gives.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A non-zero WebSocket mask key.
    pub fn mask(&mut self) -> [u8; 4] {
        loop {
            let m = (self.next_u64() as u32).to_le_bytes();
            if m != [0; 4] {
                return m;
            }
        }
    }
}

/// One frame parsed out of an [`Inbuf`]: its opcode and where its payload sits in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The WebSocket opcode.
    pub opcode: u8,
    /// RSV1: a compressed message (`permessage-deflate`).
    pub compressed: bool,
    /// The payload's byte range in [`Inbuf::data`] (valid until the next [`Inbuf::space`]).
    pub payload: Range<usize>,
    /// The whole frame's length on the wire (header and payload as sent, compressed or not).
    pub wire_len: usize,
}

/// A growable input buffer: bytes are read into [`Inbuf::space`] and consumed from the front.
#[derive(Debug)]
pub struct Inbuf {
    /// Storage; the unconsumed bytes are `data[start..end]`.
    pub data: Vec<u8>,
    start: usize,
    end: usize,
}

/// The largest server frame accepted (the Engine.IO default `maxPayload` plus headers).
const MAX_FRAME: usize = 2 << 20;

impl Inbuf {
    /// An empty buffer with `cap` bytes of room.
    pub fn new(cap: usize) -> Self {
        Inbuf {
            data: vec![0; cap.max(64)],
            start: 0,
            end: 0,
        }
    }

    /// The unconsumed bytes.
    pub fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Marks `n` more bytes (written into the slice from [`Inbuf::space`]) as filled.
    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// Consumes `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Appends bytes (tests feed frames this way).
    #[cfg(test)]
    pub fn push(&mut self, bytes: &[u8]) {
        let s = self.space_for(bytes.len());
        s[..bytes.len()].copy_from_slice(bytes);
        self.filled(bytes.len());
    }

    /// Free room to read into, compacting or growing the buffer when little is left.
    pub fn space(&mut self) -> &mut [u8] {
        self.space_for(1024)
    }

    fn space_for(&mut self, min: usize) -> &mut [u8] {
        if self.data.len() - self.end < min {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.data.len() - self.end < min {
                let want = (self.end + min).max(self.data.len() * 2);
                self.data.resize(want, 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// Takes the next complete server frame off the front, if there is one.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let d = self.pending();
        let Some((opcode, range, total)) = parse_frame(d)? else {
            return Ok(None);
        };
        let compressed = d[0] & 0x40 != 0;
        let base = self.start;
        self.start += total;
        // Keep the payload addressable: do not reset start/end here even when empty.
        Ok(Some(Frame {
            opcode,
            compressed,
            payload: base + range.start..base + range.end,
            wire_len: total,
        }))
    }

    /// Resets to empty once everything parsed so far has been used.
    pub fn settle(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }
}

/// Parses one frame at the start of `d`: `(opcode, payload range, frame length)`, or `None`
/// when it is incomplete. Fragmented frames are rejected: no server sends them for the small
/// messages of these scenarios.
fn parse_frame(d: &[u8]) -> io::Result<Option<(u8, Range<usize>, usize)>> {
    if d.len() < 2 {
        return Ok(None);
    }
    let fin = d[0] & 0x80 != 0;
    let opcode = d[0] & 0x0f;
    let masked = d[1] & 0x80 != 0;
    let mut len = (d[1] & 0x7f) as usize;
    let mut h = 2;
    if len == 126 {
        if d.len() < 4 {
            return Ok(None);
        }
        len = u16::from_be_bytes([d[2], d[3]]) as usize;
        h = 4;
    } else if len == 127 {
        if d.len() < 10 {
            return Ok(None);
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[2..10]);
        len = usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX);
        h = 10;
    }
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "server frame too large",
        ));
    }
    if !fin || opcode == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "fragmented server frame",
        ));
    }
    if masked {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "masked server frame",
        ));
    }
    if d.len() < h + len {
        return Ok(None);
    }
    Ok(Some((opcode, h..h + len, h + len)))
}

/// Finds `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A complete HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// How many input bytes the response used.
    pub consumed: usize,
}

/// Parses an HTTP/1.1 response at the start of `d` (Content-Length or chunked body), or
/// `None` when it is incomplete.
pub fn parse_response(d: &[u8]) -> io::Result<Option<Response>> {
    let Some(hend) = find(d, b"\r\n\r\n") else {
        if d.len() > 64 << 10 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP header too large",
            ));
        }
        return Ok(None);
    };
    let head = &d[..hend];
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let status = head
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| head.starts_with(b"HTTP/1."))
        .ok_or_else(|| bad("bad HTTP status line"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok());
            content_length = Some(v.ok_or_else(|| bad("bad content-length"))?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value.eq_ignore_ascii_case(b"chunked");
        }
    }
    let body_start = hend + 4;
    if chunked {
        let mut body = Vec::new();
        let mut p = body_start;
        loop {
            let Some(le) = find(&d[p..], b"\r\n") else {
                return Ok(None);
            };
            let size_str = std::str::from_utf8(&d[p..p + le]).map_err(|_| bad("bad chunk size"))?;
            let size_str = size_str.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_str, 16).map_err(|_| bad("bad chunk size"))?;
            p += le + 2;
            if size == 0 {
                // Optional trailers, then the final CRLF.
                let Some(te) = find(&d[p..], b"\r\n") else {
                    return Ok(None);
                };
                if te == 0 {
                    return Ok(Some(Response {
                        status,
                        body,
                        consumed: p + 2,
                    }));
                }
                let Some(te) = find(&d[p..], b"\r\n\r\n") else {
                    return Ok(None);
                };
                return Ok(Some(Response {
                    status,
                    body,
                    consumed: p + te + 4,
                }));
            }
            if d.len() < p + size + 2 {
                return Ok(None);
            }
            body.extend_from_slice(&d[p..p + size]);
            p += size + 2;
        }
    }
    let len = content_length.unwrap_or(0);
    if d.len() < body_start + len {
        return Ok(None);
    }
    Ok(Some(Response {
        status,
        body: d[body_start..body_start + len].to_vec(),
        consumed: body_start + len,
    }))
}

/// Parses a broadcast tick payload `42["tick",[t,n,m]]` (spaces allowed, as Python's JSON
/// encoder writes them) into `(publisher time in µs since the Unix epoch, sequence, mark)`.
pub fn parse_tick(p: &[u8]) -> Option<(u64, u64, u64)> {
    let rest = p.strip_prefix(b"42[\"tick\"")?;
    let open = rest.iter().position(|&b| b == b'[')?;
    let mut it = rest[open + 1..].split(|&b| b == b',');
    let mut num = || -> Option<u64> {
        let s = it.next()?.trim_ascii();
        let end = s.iter().rposition(|&b| b != b']').map_or(0, |e| e + 1);
        let s = s[..end].trim_ascii();
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    Some((num()?, num()?, num()?))
}

/// The Socket.IO packet encoding the clients speak (`--parser`): JSON text (`42[...]`), or
/// Node's `socket.io-msgpack-parser` (each packet one binary message, a MessagePack map of
/// `type`, `nsp` and `data`, as notepack.io writes it: integers in their smallest form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// The default parser.
    Json,
    /// `socket.io-msgpack-parser`.
    Msgpack,
}

/// What a client makes of one Socket.IO packet from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The namespace CONNECT's reply.
    Connected,
    /// CONNECT_ERROR: the namespace refused the client.
    Refused,
    /// A `message` event (an echo).
    Message,
    /// A `tick` event: `(publisher time in µs since the Unix epoch, sequence, mark)`.
    Tick(u64, u64, u64),
    /// Anything else.
    Other,
}

impl Codec {
    /// The WebSocket opcode of this encoding's packets.
    pub fn opcode(self) -> u8 {
        match self {
            Codec::Json => OP_TEXT,
            Codec::Msgpack => OP_BINARY,
        }
    }

    /// `packet` in a masked client frame.
    pub fn frame(self, packet: &[u8], mask: [u8; 4]) -> Vec<u8> {
        client_frame(self.opcode(), packet, mask)
    }

    /// The CONNECT to namespace `/`.
    pub fn connect(self) -> Vec<u8> {
        match self {
            Codec::Json => b"40".to_vec(),
            Codec::Msgpack => {
                let mut b = Vec::with_capacity(16);
                mp_map(&mut b, 2);
                mp_str(&mut b, "type");
                mp_uint(&mut b, 0);
                mp_str(&mut b, "nsp");
                mp_str(&mut b, "/");
                b
            }
        }
    }

    /// The `message` event every echo client sends, a string of `size` `x`.
    pub fn message(self, size: usize) -> Vec<u8> {
        let text = "x".repeat(size);
        match self {
            Codec::Json => format!("42[\"message\",\"{text}\"]").into_bytes(),
            Codec::Msgpack => {
                let mut b = Vec::with_capacity(size + 32);
                mp_event_head(&mut b, "message", 1);
                mp_str(&mut b, &text);
                b
            }
        }
    }

    /// A `tick` event, `[t, seq, mark]`; `extra` (JSON only, see `--tick-size`) is appended
    /// to that array as it is.
    pub fn tick(self, t: u64, seq: u64, mark: u64, extra: &str) -> Vec<u8> {
        match self {
            Codec::Json => format!("42[\"tick\",[{t},{seq},{mark}{extra}]]").into_bytes(),
            Codec::Msgpack => {
                let mut b = Vec::with_capacity(48);
                mp_event_head(&mut b, "tick", 1);
                mp_array(&mut b, 3);
                for n in [t, seq, mark] {
                    mp_uint(&mut b, n);
                }
                b
            }
        }
    }

    /// Reads a server packet: for JSON an Engine.IO message's text (`4...`), for msgpack a
    /// binary message's bytes.
    pub fn seen(self, p: &[u8]) -> Seen {
        match self {
            Codec::Json => {
                if p.starts_with(b"40") {
                    Seen::Connected
                } else if p.starts_with(b"44") {
                    Seen::Refused
                } else if p.starts_with(b"42[\"message\"") {
                    Seen::Message
                } else if let Some((t, n, m)) = parse_tick(p) {
                    Seen::Tick(t, n, m)
                } else {
                    Seen::Other
                }
            }
            Codec::Msgpack => seen_msgpack(p).unwrap_or(Seen::Other),
        }
    }
}

fn mp_map(b: &mut Vec<u8>, n: u32) {
    rmp::encode::write_map_len(b, n).expect("write to a Vec");
}

fn mp_array(b: &mut Vec<u8>, n: u32) {
    rmp::encode::write_array_len(b, n).expect("write to a Vec");
}

fn mp_str(b: &mut Vec<u8>, s: &str) {
    rmp::encode::write_str(b, s).expect("write to a Vec");
}

fn mp_uint(b: &mut Vec<u8>, n: u64) {
    rmp::encode::write_uint(b, n).expect("write to a Vec");
}

/// `{type: 2, nsp: "/", data: [event, ` with `args` arguments to follow.
fn mp_event_head(b: &mut Vec<u8>, event: &str, args: u32) {
    mp_map(b, 3);
    mp_str(b, "type");
    mp_uint(b, 2);
    mp_str(b, "nsp");
    mp_str(b, "/");
    mp_str(b, "data");
    mp_array(b, args + 1);
    mp_str(b, event);
}

/// A msgpack packet's kind, whatever the order of its keys.
fn seen_msgpack(mut p: &[u8]) -> Option<Seen> {
    let rmpv::Value::Map(fields) = rmpv::decode::read_value(&mut p).ok()? else {
        return None;
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v)
    };
    match field("type")?.as_u64()? {
        0 => return Some(Seen::Connected),
        4 => return Some(Seen::Refused),
        2 => {}
        _ => return Some(Seen::Other),
    }
    let data = field("data")?.as_array()?;
    Some(match data.first()?.as_str()? {
        "message" => Seen::Message,
        "tick" => {
            let n = data.get(1)?.as_array()?;
            Seen::Tick(
                n.first()?.as_u64()?,
                n.get(1)?.as_u64()?,
                n.get(2)?.as_u64()?,
            )
        }
        _ => Seen::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x81];
        if payload.len() < 126 {
            f.push(payload.len() as u8);
        } else {
            f.push(126);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn client_frames_are_masked() {
        let f = client_frame(OP_TEXT, b"40", [1, 2, 3, 4]);
        assert_eq!(f, vec![0x81, 0x82, 1, 2, 3, 4, b'4' ^ 1, b'0' ^ 2]);
        let big = client_frame(OP_TEXT, &[7u8; 300], [9, 9, 9, 9]);
        assert_eq!(&big[..4], &[0x81, 0x80 | 126, 1, 44]);
        assert_eq!(big.len(), 4 + 4 + 300);
    }

    #[test]
    fn frames_split_across_reads() {
        let mut wire = server_frame(b"2");
        wire.extend(server_frame(&[b'x'; 200]));
        let mut buf = Inbuf::new(64);
        let mut got = Vec::new();
        for chunk in wire.chunks(7) {
            buf.push(chunk);
            while let Some(f) = buf.next_frame().unwrap() {
                got.push(buf.data[f.payload.clone()].to_vec());
            }
            buf.settle();
        }
        assert_eq!(got, vec![b"2".to_vec(), vec![b'x'; 200]]);
    }

    #[test]
    fn http_responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP")
            .unwrap()
            .unwrap();
        assert_eq!((r.status, &r.body[..], r.consumed), (200, &b"ok"[..], 40));
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok")
                .unwrap()
                .is_none()
        );
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse_response(c).unwrap().unwrap();
        assert_eq!((&r.body[..], r.consumed), (&b"abcde"[..], c.len()));
    }

    #[test]
    fn deflated_frames_round_trip() {
        let msg = b"42[\"message\",\"hello hello hello hello\"]";
        let f = client_frame_deflated(msg, [0, 0, 0, 0]);
        assert_eq!(f[0], 0xC1);
        let payload = &f[6..];
        let mut inflate = Inflate::new("permessage-deflate");
        inflate.inflate(payload).unwrap();
        assert_eq!(inflate.out, msg);
        // A second message with context (a fresh stream here): still read.
        inflate.inflate(payload).unwrap();
        assert_eq!(inflate.out, msg);
    }

    #[test]
    fn ticks() {
        assert_eq!(parse_tick(b"42[\"tick\",[17,2,1]]"), Some((17, 2, 1)));
        assert_eq!(parse_tick(b"42[\"tick\", [17, 2, 1]]"), Some((17, 2, 1)));
        assert_eq!(
            parse_tick(b"42[\"tick\",[17,2,1,{\"a\":[1,2]}]]"),
            Some((17, 2, 1))
        );
        assert_eq!(parse_tick(b"42[\"message\",[1,2,3]]"), None);
    }

    #[test]
    fn codecs_read_what_they_write() {
        for codec in [Codec::Json, Codec::Msgpack] {
            assert_eq!(codec.seen(&codec.message(5)), Seen::Message, "{codec:?}");
            assert_eq!(
                codec.seen(&codec.tick(1_733_000_000_000_000, 7, 1, "")),
                Seen::Tick(1_733_000_000_000_000, 7, 1),
                "{codec:?}"
            );
        }
        assert_eq!(Codec::Json.seen(b"40{\"sid\":\"a\"}"), Seen::Connected);
        assert_eq!(Codec::Json.seen(b"44{\"message\":\"no\"}"), Seen::Refused);
    }

    #[test]
    fn msgpack_packets_as_notepack_writes_them() {
        // {type: 0, nsp: "/"}: what socket.io-msgpack-parser sends for a CONNECT.
        assert_eq!(
            Codec::Msgpack.connect(),
            b"\x82\xa4type\x00\xa3nsp\xa1/".to_vec()
        );
        // The server's reply, keys in Node's order, with data: {sid}.
        let reply = b"\x83\xa4type\x00\xa4data\x81\xa3sid\xa2ab\xa3nsp\xa1/";
        assert_eq!(Codec::Msgpack.seen(reply), Seen::Connected);
        let refused = b"\x83\xa4type\x04\xa4data\x81\xa7message\xa2no\xa3nsp\xa1/";
        assert_eq!(Codec::Msgpack.seen(refused), Seen::Refused);
        // Another event, a truncated packet and a JSON text: none is taken for a tick.
        let other = b"\x83\xa4type\x02\xa4data\x91\xa3foo\xa3nsp\xa1/";
        assert_eq!(Codec::Msgpack.seen(other), Seen::Other);
        let tick = Codec::Msgpack.tick(1, 2, 3, "");
        assert_eq!(Codec::Msgpack.seen(&tick[..tick.len() - 1]), Seen::Other);
        assert_eq!(Codec::Msgpack.seen(b"42[\"tick\",[1,2,3]]"), Seen::Other);
    }
}
