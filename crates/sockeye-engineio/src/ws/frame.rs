//! WebSocket frame decoding (client to server) and encoding (server to
//! client), RFC 6455 §5.
//!
//! Everything here is sans-IO: the [`Decoder`] consumes bytes from a
//! [`BytesMut`] the caller fills from the socket, and the `encode_*`
//! functions append bytes to a [`BytesMut`] the caller writes out.

use bytes::{Buf, Bytes, BytesMut};

use super::deflate::{Agreed, Inflater};

/// Close code 1002: the peer violated the protocol.
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code 1007: a text message (or close reason) was not valid UTF-8.
const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close code 1008: the message violates a local policy.
const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// Close code 1009: the message is larger than we accept.
const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;

/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// Largest close reason that fits in a control frame after the 2-byte code.
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// A WebSocket frame opcode (RFC 6455 §5.2), with its wire value as
/// discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// `0x0`: continuation of a fragmented data message.
    Continuation = 0x0,
    /// `0x1`: first frame of a text (UTF-8) message.
    Text = 0x1,
    /// `0x2`: first frame of a binary message.
    Binary = 0x2,
    /// `0x8`: connection close control frame.
    Close = 0x8,
    /// `0x9`: ping control frame.
    Ping = 0x9,
    /// `0xA`: pong control frame.
    Pong = 0xA,
}

impl OpCode {
    /// Maps a 4-bit wire opcode to an [`OpCode`]; `None` for the reserved
    /// values `0x3..=0x7` and `0xB..=0xF` (and anything above `0xF`).
    ///
    /// # Examples
    ///
    /// ```
    /// use sockeye_engineio::ws::OpCode;
    /// assert_eq!(OpCode::from_u8(0x9), Some(OpCode::Ping));
    /// assert_eq!(OpCode::from_u8(0x3), None);
    /// ```
    pub const fn from_u8(bits: u8) -> Option<Self> {
        match bits {
            0x0 => Some(Self::Continuation),
            0x1 => Some(Self::Text),
            0x2 => Some(Self::Binary),
            0x8 => Some(Self::Close),
            0x9 => Some(Self::Ping),
            0xA => Some(Self::Pong),
            _ => None,
        }
    }

    /// Whether this is a control opcode (close, ping, pong).
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// Resource limits enforced by the [`Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest data message (sum of all its fragments' payloads) accepted,
    /// in bytes. A frame header announcing a payload that would exceed it is
    /// rejected with close code 1009 before its payload is read.
    pub max_message_size: usize,
    /// Largest number of frames (the first one plus continuations, empty
    /// ones included) a fragmented data message may span; one more is
    /// rejected with close code 1008.
    pub max_fragments: usize,
}

impl Default for Limits {
    /// 1,000,000 bytes and 1024 fragments.
    fn default() -> Self {
        Self {
            max_message_size: 1_000_000,
            max_fragments: 1024,
        }
    }
}

/// A complete message received from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message; the bytes are guaranteed to be valid UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping; the payload (at most 125 bytes) should be echoed in a pong.
    Ping(Bytes),
    /// A pong (solicited or not).
    Pong(Bytes),
    /// A close frame; `None` when it carried no status code.
    Close(Option<CloseFrame>),
}

/// Payload of a close frame that carried a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code, one of the codes valid on the wire (1000-1003,
    /// 1007-1011, 3000-4999).
    pub code: u16,
    /// The reason; guaranteed to be valid UTF-8 (possibly empty).
    pub reason: Bytes,
}

/// A violation of RFC 6455 (or of the [`Limits`]) by the client.
///
/// The connection should be failed: send a close frame with `code` (and
/// possibly `reason`, see [`encode_close`]) and close the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("WebSocket protocol error (close code {code}): {reason}")]
pub struct ProtocolError {
    /// Close code to send: 1002 (protocol error), 1007 (invalid UTF-8),
    /// 1008 (too many fragments) or 1009 (message too big).
    pub code: u16,
    /// Short human-readable description (fits in a close frame).
    pub reason: &'static str,
}

impl ProtocolError {
    const fn protocol(reason: &'static str) -> Self {
        Self {
            code: CLOSE_PROTOCOL_ERROR,
            reason,
        }
    }

    const fn invalid_utf8() -> Self {
        Self {
            code: CLOSE_INVALID_PAYLOAD,
            reason: "invalid UTF-8 in a text message or close reason",
        }
    }

    pub(crate) const fn too_big() -> Self {
        Self {
            code: CLOSE_MESSAGE_TOO_BIG,
            reason: "message too big",
        }
    }

    /// Compressed data (`permessage-deflate`) that does not inflate: 1007, as `ws` closes.
    pub(crate) const fn invalid_compressed() -> Self {
        Self {
            code: CLOSE_INVALID_PAYLOAD,
            reason: "invalid compressed data",
        }
    }

    const fn too_many_fragments() -> Self {
        Self {
            code: CLOSE_POLICY_VIOLATION,
            reason: "too many fragments",
        }
    }
}

/// A fragmented data message being reassembled.
#[derive(Debug)]
struct Partial {
    /// Text (validated as UTF-8) or binary.
    text: bool,
    /// Compressed (RSV1 on its first frame): `data` is inflated when the message completes,
    /// and its UTF-8 checked then.
    compressed: bool,
    /// Payload received so far (owned by the decoder, not by the read buffer).
    data: BytesMut,
    /// Number of frames received so far, the first one included.
    frames: usize,
    /// Length of the prefix of `data` known to be valid UTF-8 (text only);
    /// `data[utf8_checked..]` is at most an incomplete 3-byte sequence.
    utf8_checked: usize,
}

impl Partial {
    /// Validates the newly appended text bytes, failing as soon as an
    /// invalid sequence is seen; when `fin`, an incomplete trailing sequence
    /// is invalid too. Linear overall: at most 3 bytes are rescanned.
    fn check_utf8(&mut self, fin: bool) -> Result<(), ProtocolError> {
        let unchecked = self.data.get(self.utf8_checked..).unwrap_or_default();
        match std::str::from_utf8(unchecked) {
            Ok(_) => {
                self.utf8_checked = self.data.len();
                Ok(())
            }
            Err(e) if e.error_len().is_none() && !fin => {
                self.utf8_checked += e.valid_up_to();
                Ok(())
            }
            Err(_) => Err(ProtocolError::invalid_utf8()),
        }
    }
}

/// A parsed, validated frame header whose whole frame is in the buffer.
#[derive(Debug)]
struct Header {
    fin: bool,
    /// RSV1 on the first frame of a data message: compressed (`permessage-deflate`).
    compressed: bool,
    opcode: OpCode,
    mask: [u8; 4],
    header_len: usize,
    payload_len: usize,
}

/// Incremental decoder of client-to-server WebSocket frames.
///
/// Validates everything RFC 6455 requires of a client (masking, RSV bits,
/// opcodes, control frame rules, fragmentation, UTF-8, close payloads) and
/// enforces [`Limits`]. Any [`ProtocolError`] is fatal for the connection;
/// the decoder need not be used after one.
///
/// With `permessage-deflate` agreed ([`Decoder::with_deflate`]) it inflates compressed
/// messages (RSV1 on their first frame; RFC 7692 §6): [`Limits::max_message_size`] bounds the
/// compressed and the inflated size alike, and inflating stops with 1009 one byte past it.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use sockeye_engineio::ws::{Decoder, Limits, Message};
///
/// let mut decoder = Decoder::new(Limits::default());
/// // A masked "Hello" text frame (RFC 6455 §5.7), arriving in two reads.
/// let mut buf = BytesMut::from(&[0x81, 0x85, 0x37, 0xfa, 0x21][..]);
/// assert_eq!(decoder.decode(&mut buf)?, None); // need more bytes
/// buf.extend_from_slice(&[0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// assert_eq!(
///     decoder.decode(&mut buf)?,
///     Some(Message::Text("Hello".into()))
/// );
/// assert!(buf.is_empty());
/// # Ok::<(), sockeye_engineio::ws::ProtocolError>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    /// A fragmented message being assembled (boxed: rare, and the decoder lives in every
    /// connection).
    partial: Option<Box<Partial>>,
    /// `permessage-deflate`, when agreed (boxed: only such connections pay for it).
    inflate: Option<Box<Inflater>>,
}

impl Default for Decoder {
    /// A decoder with the default [`Limits`].
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Decoder {
    /// Creates a decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            partial: None,
            inflate: None,
        }
    }

    /// Creates a decoder enforcing `limits` on a connection that agreed `permessage-deflate`:
    /// compressed messages are accepted and inflated.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use sockeye_engineio::ws::{Agreed, Decoder, Limits, Message};
    ///
    /// let mut decoder = Decoder::with_deflate(Limits::default(), Agreed::default());
    /// // "Hello" compressed (RFC 7692 §7.2.3.1), in a masked frame with RSV1 set.
    /// let mask = [1, 2, 3, 4];
    /// let payload = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    /// let mut frame = vec![0xC1, 0x80 | 7, 1, 2, 3, 4];
    /// frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    /// let mut buf = BytesMut::from(&frame[..]);
    /// assert_eq!(decoder.decode(&mut buf)?, Some(Message::Text("Hello".into())));
    /// # Ok::<(), sockeye_engineio::ws::ProtocolError>(())
    /// ```
    pub fn with_deflate(limits: Limits, agreed: Agreed) -> Self {
        Self {
            limits,
            partial: None,
            inflate: Some(Box::new(Inflater::new(&agreed))),
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Decodes the next complete message from the front of `buf`.
    ///
    /// Frames are consumed from `buf` only once they are entirely there.
    /// Returns `Ok(Some(message))` after consuming the frame that completes a
    /// message (a control frame, an unfragmented data frame, or the final
    /// fragment). Non-final fragments found on the way are consumed and
    /// buffered inside the decoder. Returns `Ok(None)` when `buf` holds no
    /// further complete frame (a partial frame is left untouched): read more
    /// bytes into `buf` and call again. Call repeatedly until `Ok(None)`, as
    /// `buf` may hold several messages.
    ///
    /// Single-frame messages are zero-copy: the payload is unmasked in place
    /// and split off `buf`. Fragmented messages are reassembled in a buffer
    /// owned by the decoder, released when the message completes.
    ///
    /// Never reserves memory based on a declared length: a header announcing
    /// a message larger than [`Limits::max_message_size`] is rejected with
    /// 1009 as soon as its length field is complete.
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] with close code 1002 (protocol violation), 1007
    /// (invalid UTF-8 in a text message), 1008 (more than
    /// [`Limits::max_fragments`] fragments) or 1009 (message too big).
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use sockeye_engineio::ws::{Decoder, Message};
    ///
    /// let mut decoder = Decoder::default();
    /// // A masked, empty ping followed by an unmasked frame (forbidden).
    /// let mut buf = BytesMut::from(&[0x89, 0x80, 1, 2, 3, 4, 0x81, 0x00][..]);
    /// assert_eq!(decoder.decode(&mut buf)?, Some(Message::Ping("".into())));
    /// let err = decoder.decode(&mut buf).unwrap_err();
    /// assert_eq!(err.code, 1002);
    /// # Ok::<(), sockeye_engineio::ws::ProtocolError>(())
    /// ```
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        self.decode_from(buf, false)
    }

    /// As [`Decoder::decode`], but the message's payload is copied out of `buf` (into an
    /// allocation of its exact size) instead of split off it, so `buf` never shares its
    /// memory with a message and can be cleared and reused for the next read: a buffer per
    /// thread instead of one per connection.
    ///
    /// # Errors
    /// As [`Decoder::decode`].
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use sockeye_engineio::ws::{Decoder, Message};
    ///
    /// let mut decoder = Decoder::default();
    /// let mut buf = BytesMut::with_capacity(4096);
    /// buf.extend_from_slice(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    /// let msg = decoder.decode_copied(&mut buf)?;
    /// assert_eq!(msg, Some(Message::Text("Hello".into())));
    /// buf.clear();
    /// buf.reserve(4096); // reuses the same memory: nothing points into it
    /// # Ok::<(), sockeye_engineio::ws::ProtocolError>(())
    /// ```
    pub fn decode_copied(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        self.decode_from(buf, true)
    }

    fn decode_from(
        &mut self,
        buf: &mut BytesMut,
        copy: bool,
    ) -> Result<Option<Message>, ProtocolError> {
        loop {
            let Some(header) = self.parse_header(buf)? else {
                return Ok(None);
            };
            // `parse_header` checked that the whole frame is in `buf`.
            buf.advance(header.header_len);
            if header.compressed && header.fin {
                // A compressed message in one frame: inflated straight from `buf`.
                let data = &mut buf[..header.payload_len];
                apply_mask(data, header.mask);
                let message = self.inflate_message(header.opcode == OpCode::Text, data);
                buf.advance(header.payload_len);
                return message.map(Some);
            }
            let payload = if copy {
                let data = &mut buf[..header.payload_len];
                apply_mask(data, header.mask);
                let payload = BytesMut::from(&data[..]);
                buf.advance(header.payload_len);
                payload
            } else {
                let mut payload = buf.split_to(header.payload_len);
                apply_mask(&mut payload, header.mask);
                payload
            };
            if let Some(message) =
                self.on_frame(header.fin, header.compressed, header.opcode, payload)?
            {
                return Ok(Some(message));
            }
        }
    }

    /// Parses and validates the frame header at the front of `buf`.
    ///
    /// Errors are reported as early as the bytes allow; `Ok(None)` means the
    /// header or the payload is incomplete.
    fn parse_header(&self, buf: &[u8]) -> Result<Option<Header>, ProtocolError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        if b0 & 0x30 != 0 {
            return Err(ProtocolError::protocol("reserved bits set"));
        }
        let fin = b0 & 0x80 != 0;
        let Some(opcode) = OpCode::from_u8(b0 & 0x0F) else {
            return Err(ProtocolError::protocol("reserved opcode"));
        };
        // RSV1 marks a compressed message: only with `permessage-deflate`, and only on the
        // first frame of a data message (RFC 7692 §6).
        let compressed = b0 & 0x40 != 0;
        if compressed
            && (self.inflate.is_none() || opcode.is_control() || opcode == OpCode::Continuation)
        {
            return Err(ProtocolError::protocol("reserved bits set"));
        }
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::protocol("fragmented control frame"));
            }
        } else {
            match (opcode, &self.partial) {
                (OpCode::Continuation, None) => {
                    return Err(ProtocolError::protocol(
                        "continuation frame without a fragmented message",
                    ));
                }
                (OpCode::Continuation, Some(partial)) => {
                    if partial.frames >= self.limits.max_fragments {
                        return Err(ProtocolError::too_many_fragments());
                    }
                }
                (_, Some(_)) => {
                    return Err(ProtocolError::protocol(
                        "new data frame while a fragmented message is open",
                    ));
                }
                (_, None) => {
                    if !fin && self.limits.max_fragments == 0 {
                        return Err(ProtocolError::too_many_fragments());
                    }
                }
            }
        }

        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        if b1 & 0x80 == 0 {
            return Err(ProtocolError::protocol("unmasked client frame"));
        }
        let len7 = b1 & 0x7F;
        if opcode.is_control() && usize::from(len7) > MAX_CONTROL_PAYLOAD {
            return Err(ProtocolError::protocol("control frame payload too long"));
        }
        let (declared, len_end): (u64, usize) = match len7 {
            126 => match buf.get(2..4) {
                Some(&[hi, lo]) => (u64::from(u16::from_be_bytes([hi, lo])), 4),
                _ => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                Some(bytes) => {
                    let len = u64::from_be_bytes(bytes);
                    if len >> 63 != 0 {
                        return Err(ProtocolError::protocol("64-bit length with top bit set"));
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        // Too big for this platform means too big for the limit too.
        let payload_len = usize::try_from(declared).map_err(|_| ProtocolError::too_big())?;
        if !opcode.is_control() {
            let so_far = self.partial.as_ref().map_or(0, |p| p.data.len());
            if payload_len > self.limits.max_message_size.saturating_sub(so_far) {
                return Err(ProtocolError::too_big());
            }
        }

        let header_len = len_end + 4;
        let Some(&[m0, m1, m2, m3]) = buf.get(len_end..header_len) else {
            return Ok(None);
        };
        if buf.len() - header_len < payload_len {
            return Ok(None);
        }
        Ok(Some(Header {
            fin,
            compressed,
            opcode,
            mask: [m0, m1, m2, m3],
            header_len,
            payload_len,
        }))
    }

    /// Handles one complete, unmasked frame; returns the message it
    /// completes, if any.
    fn on_frame(
        &mut self,
        fin: bool,
        compressed: bool,
        opcode: OpCode,
        payload: BytesMut,
    ) -> Result<Option<Message>, ProtocolError> {
        match opcode {
            OpCode::Ping => Ok(Some(Message::Ping(payload.freeze()))),
            OpCode::Pong => Ok(Some(Message::Pong(payload.freeze()))),
            OpCode::Close => parse_close(payload).map(Some),
            OpCode::Text | OpCode::Binary if fin => {
                let text = opcode == OpCode::Text;
                // Most messages are ASCII: checked inline, without a call into the full decoder.
                if text && !payload.is_ascii() && std::str::from_utf8(&payload).is_err() {
                    return Err(ProtocolError::invalid_utf8());
                }
                let payload = payload.freeze();
                Ok(Some(if text {
                    Message::Text(payload)
                } else {
                    Message::Binary(payload)
                }))
            }
            OpCode::Text | OpCode::Binary => {
                let mut partial = Partial {
                    text: opcode == OpCode::Text,
                    compressed,
                    data: BytesMut::new(),
                    frames: 1,
                    utf8_checked: 0,
                };
                partial.data.extend_from_slice(&payload);
                if partial.text && !compressed {
                    partial.check_utf8(false)?;
                }
                self.partial = Some(Box::new(partial));
                Ok(None)
            }
            OpCode::Continuation => {
                let Some(partial) = self.partial.as_mut() else {
                    // Already rejected by `parse_header`.
                    return Err(ProtocolError::protocol(
                        "continuation frame without a fragmented message",
                    ));
                };
                partial.frames += 1;
                partial.data.extend_from_slice(&payload);
                if partial.text && !partial.compressed {
                    partial.check_utf8(fin)?;
                }
                if !fin {
                    return Ok(None);
                }
                let Some(partial) = self.partial.take() else {
                    return Ok(None);
                };
                let Partial {
                    text,
                    compressed,
                    data,
                    ..
                } = *partial;
                if compressed {
                    return self.inflate_message(text, &data).map(Some);
                }
                let data = data.freeze();
                Ok(Some(if text {
                    Message::Text(data)
                } else {
                    Message::Binary(data)
                }))
            }
        }
    }
}

impl Decoder {
    /// Inflates a whole compressed message and checks a text one is UTF-8.
    fn inflate_message(&mut self, text: bool, data: &[u8]) -> Result<Message, ProtocolError> {
        let Some(inflater) = self.inflate.as_mut() else {
            // `parse_header` refuses RSV1 without `permessage-deflate`.
            return Err(ProtocolError::protocol("reserved bits set"));
        };
        let out = inflater.inflate(data, self.limits.max_message_size)?;
        if text && !out.is_ascii() && std::str::from_utf8(&out).is_err() {
            return Err(ProtocolError::invalid_utf8());
        }
        let out = Bytes::from(out);
        Ok(if text {
            Message::Text(out)
        } else {
            Message::Binary(out)
        })
    }
}

/// Whether `code` may appear in a close frame received from a peer.
fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Parses the (unmasked) payload of a close frame.
fn parse_close(mut payload: BytesMut) -> Result<Message, ProtocolError> {
    if payload.is_empty() {
        return Ok(Message::Close(None));
    }
    let Some(&[hi, lo]) = payload.get(..2) else {
        return Err(ProtocolError::protocol("close payload of one byte"));
    };
    let code = u16::from_be_bytes([hi, lo]);
    if !is_valid_close_code(code) {
        return Err(ProtocolError::protocol("invalid close code"));
    }
    let reason = payload.split_off(2);
    if std::str::from_utf8(&reason).is_err() {
        return Err(ProtocolError::invalid_utf8());
    }
    Ok(Message::Close(Some(CloseFrame {
        code,
        reason: reason.freeze(),
    })))
}

/// XORs `data` with the 4-byte `mask` (RFC 6455 §5.3), eight bytes at a time.
fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let [m0, m1, m2, m3] = mask;
    let wide = u64::from_ne_bytes([m0, m1, m2, m3, m0, m1, m2, m3]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, hence of 4: mask index 0.
    for (byte, m) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= m;
    }
}

/// Appends an unmasked (server-to-client) frame header: 2, 4 or 10 bytes.
///
/// The caller then appends exactly `payload_len` bytes of payload, in as many
/// pieces as it likes. Control frames (close, ping, pong) must have `fin` set
/// and at most 125 bytes of payload; that is the caller's responsibility.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use sockeye_engineio::ws::{encode_header, OpCode};
///
/// let mut out = BytesMut::new();
/// encode_header(OpCode::Text, 4, true, &mut out);
/// out.extend_from_slice(b"4");
/// out.extend_from_slice(b"abc");
/// assert_eq!(&out[..], b"\x81\x044abc");
///
/// out.clear();
/// encode_header(OpCode::Binary, 256, false, &mut out);
/// assert_eq!(&out[..], [0x02, 0x7E, 0x01, 0x00]);
/// ```
pub fn encode_header(opcode: OpCode, payload_len: usize, fin: bool, out: &mut BytesMut) {
    let b0 = if fin { 0x80 } else { 0 } | opcode as u8;
    put_header(b0, payload_len, out);
}

/// The header of an unfragmented, compressed data frame (FIN and RSV1 set).
pub(crate) fn encode_header_rsv1(opcode: OpCode, payload_len: usize, out: &mut BytesMut) {
    put_header(0xC0 | opcode as u8, payload_len, out);
}

fn put_header(b0: u8, payload_len: usize, out: &mut BytesMut) {
    if let Ok(len @ 0..=125) = u8::try_from(payload_len) {
        out.extend_from_slice(&[b0, len]);
    } else if let Ok(len) = u16::try_from(payload_len) {
        let [hi, lo] = len.to_be_bytes();
        out.extend_from_slice(&[b0, 126, hi, lo]);
    } else {
        // usize is at most 64 bits on every supported target.
        let [a, b, c, d, e, f, g, h] = (payload_len as u64).to_be_bytes();
        out.extend_from_slice(&[b0, 127, a, b, c, d, e, f, g, h]);
    }
}

/// Appends a complete, unfragmented, unmasked frame.
///
/// For control opcodes the payload must be at most 125 bytes (the caller's
/// responsibility).
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use sockeye_engineio::ws::{encode_frame, OpCode};
///
/// let mut out = BytesMut::new();
/// encode_frame(OpCode::Text, b"Hello", &mut out);
/// assert_eq!(&out[..], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
/// ```
pub fn encode_frame(opcode: OpCode, payload: &[u8], out: &mut BytesMut) {
    out.reserve(10 + payload.len());
    encode_header(opcode, payload.len(), true, out);
    out.extend_from_slice(payload);
}

/// Appends a close frame carrying `code` and `reason`.
///
/// The reason is truncated (at a character boundary) to 123 bytes so the
/// frame fits the 125-byte control frame limit. `code` is written as is.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use sockeye_engineio::ws::encode_close;
///
/// let mut out = BytesMut::new();
/// encode_close(1000, "bye", &mut out);
/// assert_eq!(&out[..], [0x88, 0x05, 0x03, 0xE8, b'b', b'y', b'e']);
/// ```
pub fn encode_close(code: u16, reason: &str, out: &mut BytesMut) {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = reason.get(..end).unwrap_or_default().as_bytes();
    out.reserve(4 + reason.len());
    encode_header(OpCode::Close, 2 + reason.len(), true, out);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HELLO_MASKED: [u8; 11] = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// Test-only client encoder: one masked frame with first byte `b0`.
    fn client_frame(b0: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
        out.push(b0);
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    }

    fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        client_frame(b0, payload, MASK, &mut out);
        out
    }

    /// Decodes everything in `bytes` (one buffer) until `Ok(None)` or error.
    fn decode_all(bytes: &[u8], limits: Limits) -> Result<Vec<Message>, ProtocolError> {
        let mut decoder = Decoder::new(limits);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(msg) = decoder.decode(&mut buf)? {
            out.push(msg);
        }
        Ok(out)
    }

    /// Feeds `bytes` in the given chunks, draining messages after each one.
    fn decode_chunked(
        chunks: &[&[u8]],
        limits: Limits,
    ) -> Result<(Vec<Message>, usize), ProtocolError> {
        let mut decoder = Decoder::new(limits);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(msg) = decoder.decode(&mut buf)? {
                out.push(msg);
            }
        }
        Ok((out, buf.len()))
    }

    fn err_code(bytes: &[u8]) -> u16 {
        err_code_with(bytes, Limits::default())
    }

    fn err_code_with(bytes: &[u8], limits: Limits) -> u16 {
        match decode_all(bytes, limits) {
            Ok(msgs) => panic!("expected an error, got {msgs:?}"),
            Err(e) => e.code,
        }
    }

    fn text(s: &'static str) -> Message {
        Message::Text(Bytes::from_static(s.as_bytes()))
    }

    fn close(code: u16, reason: &'static str) -> Message {
        Message::Close(Some(CloseFrame {
            code,
            reason: Bytes::from_static(reason.as_bytes()),
        }))
    }

    fn limits(max_message_size: usize, max_fragments: usize) -> Limits {
        Limits {
            max_message_size,
            max_fragments,
        }
    }

    // ---- RFC 6455 §5.7 vectors ----

    #[test]
    fn rfc_masked_hello() {
        assert_eq!(
            decode_all(&HELLO_MASKED, Limits::default()),
            Ok(vec![text("Hello")])
        );
    }

    #[test]
    fn rfc_unmasked_hello_encodes_and_is_rejected_from_client() {
        let unmasked = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let mut out = BytesMut::new();
        encode_frame(OpCode::Text, b"Hello", &mut out);
        assert_eq!(&out[..], unmasked);
        assert_eq!(err_code(&unmasked), 1002);
    }

    #[test]
    fn rfc_fragmented_hello() {
        // Server side: the exact §5.7 bytes.
        let mut out = BytesMut::new();
        encode_header(OpCode::Text, 3, false, &mut out);
        out.extend_from_slice(b"Hel");
        encode_header(OpCode::Continuation, 2, true, &mut out);
        out.extend_from_slice(b"lo");
        assert_eq!(
            &out[..],
            [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]
        );
        // Client side: the same frames, masked.
        let mut bytes = frame(0x01, b"Hel");
        bytes.extend(frame(0x80, b"lo"));
        assert_eq!(
            decode_all(&bytes, Limits::default()),
            Ok(vec![text("Hello")])
        );
    }

    #[test]
    fn rfc_ping_and_masked_pong() {
        let mut out = BytesMut::new();
        encode_frame(OpCode::Ping, b"Hello", &mut out);
        assert_eq!(&out[..], [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);

        let pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            decode_all(&pong, Limits::default()),
            Ok(vec![Message::Pong(Bytes::from_static(b"Hello"))])
        );
        assert_eq!(
            decode_all(&frame(0x89, b"Hello"), Limits::default()),
            Ok(vec![Message::Ping(Bytes::from_static(b"Hello"))])
        );
    }

    #[test]
    fn rfc_256_byte_binary() {
        let payload: Vec<u8> = (0..256).map(|i| i as u8).collect();
        let mut out = BytesMut::new();
        encode_frame(OpCode::Binary, &payload, &mut out);
        assert_eq!(&out[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(&out[4..], &payload[..]);

        let bytes = frame(0x82, &payload);
        assert_eq!(&bytes[..4], [0x82, 0xFE, 0x01, 0x00]);
        assert_eq!(
            decode_all(&bytes, Limits::default()),
            Ok(vec![Message::Binary(payload.into())])
        );
    }

    #[test]
    fn rfc_64k_binary() {
        let payload: Vec<u8> = (0..65536).map(|i| (i * 7) as u8).collect();
        let mut out = BytesMut::new();
        encode_frame(OpCode::Binary, &payload, &mut out);
        assert_eq!(
            &out[..10],
            [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
        assert_eq!(&out[10..], &payload[..]);

        let bytes = frame(0x82, &payload);
        assert_eq!(
            &bytes[..10],
            [0x82, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
        assert_eq!(
            decode_all(&bytes, Limits::default()),
            Ok(vec![Message::Binary(payload.into())])
        );
    }

    // ---- incremental feeding ----

    /// A stream exercising every kind of frame and all three length forms.
    fn mixed_stream() -> (Vec<u8>, Vec<Message>) {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let mid: Vec<u8> = (0..300u32).map(|i| (i % 13) as u8).collect();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&HELLO_MASKED);
        client_frame(0x01, b"Hel", [1, 2, 3, 4], &mut bytes);
        client_frame(0x89, b"ping!", [5, 6, 7, 8], &mut bytes);
        client_frame(0x00, b"", [9, 9, 9, 9], &mut bytes);
        client_frame(
            0x80,
            "lo \u{1F600}".as_bytes(),
            [0xAA, 0, 0xFF, 1],
            &mut bytes,
        );
        client_frame(0x82, &big, [0x12, 0x34, 0x56, 0x78], &mut bytes);
        client_frame(0x02, &mid[..100], [1, 1, 1, 1], &mut bytes);
        client_frame(0x80, &mid[100..], [2, 2, 2, 2], &mut bytes);
        client_frame(0x8A, b"", [3, 3, 3, 3], &mut bytes);
        client_frame(0x81, b"", [4, 4, 4, 4], &mut bytes);
        client_frame(0x88, b"\x03\xE8done", [5, 5, 5, 5], &mut bytes);
        let expected = vec![
            text("Hello"),
            Message::Ping(Bytes::from_static(b"ping!")),
            text("Hello \u{1F600}"),
            Message::Binary(big.into()),
            Message::Binary(mid.into()),
            Message::Pong(Bytes::new()),
            text(""),
            close(1000, "done"),
        ];
        (bytes, expected)
    }

    #[test]
    fn whole_buffer_decodes_mixed_stream() {
        let (bytes, expected) = mixed_stream();
        assert_eq!(decode_all(&bytes, Limits::default()), Ok(expected));
    }

    #[test]
    fn copied_decoding_matches_and_leaves_the_buffer_unshared() {
        let (bytes, expected) = mixed_stream();
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::with_capacity(bytes.len() + 64);
        let start = buf.as_ptr();
        // In reads of 7 bytes, the leftover moved along as a connection does.
        let mut out = Vec::new();
        let mut rest = BytesMut::new();
        for chunk in bytes.chunks(7) {
            buf.extend_from_slice(&rest);
            buf.extend_from_slice(chunk);
            while let Some(msg) = decoder.decode_copied(&mut buf).unwrap() {
                out.push(msg);
            }
            rest = BytesMut::from(&buf[..]);
            buf.clear();
            buf.reserve(bytes.len() + 64);
            assert_eq!(buf.as_ptr(), start, "the buffer was reallocated");
        }
        assert_eq!(out, expected);
        assert!(rest.is_empty());
    }

    #[test]
    fn byte_at_a_time_matches_whole_buffer() {
        let (bytes, expected) = mixed_stream();
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(
            decode_chunked(&chunks, Limits::default()),
            Ok((expected, 0))
        );
    }

    #[test]
    fn every_split_point_matches_whole_buffer() {
        // A smaller stream (no 70 kB frame) so that all split points are cheap.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&HELLO_MASKED);
        client_frame(0x01, &[0xF0, 0x9F], [1, 2, 3, 4], &mut bytes);
        client_frame(0x89, b"p", [5, 6, 7, 8], &mut bytes);
        client_frame(0x80, &[0x98, 0x80], [9, 8, 7, 6], &mut bytes);
        client_frame(0x82, &[7u8; 200], [0xDE, 0xAD, 0xBE, 0xEF], &mut bytes);
        client_frame(0x88, b"", [0, 0, 0, 0], &mut bytes);
        let expected = vec![
            text("Hello"),
            Message::Ping(Bytes::from_static(b"p")),
            text("\u{1F600}"),
            Message::Binary(vec![7u8; 200].into()),
            Message::Close(None),
        ];
        assert_eq!(decode_all(&bytes, Limits::default()), Ok(expected.clone()));
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(
                decode_chunked(&[a, b], Limits::default()),
                Ok((expected.clone(), 0)),
                "split at {split}"
            );
        }
    }

    #[test]
    fn incomplete_frame_consumes_nothing() {
        let mut decoder = Decoder::default();
        for len in 0..HELLO_MASKED.len() {
            let mut buf = BytesMut::from(&HELLO_MASKED[..len]);
            assert_eq!(decoder.decode(&mut buf), Ok(None));
            assert_eq!(buf.len(), len);
        }
        // Extended-length headers too.
        let bytes = frame(0x82, &[0u8; 70_000]);
        for len in [1, 2, 3, 5, 9, 10, 13, 14, 1000, bytes.len() - 1] {
            let mut buf = BytesMut::from(&bytes[..len]);
            assert_eq!(decoder.decode(&mut buf), Ok(None));
            assert_eq!(buf.len(), len);
        }
    }

    #[test]
    fn single_frame_is_zero_copy() {
        let mut bytes = frame(0x82, &[0x55; 1000]);
        bytes.extend_from_slice(&HELLO_MASKED[..3]);
        let mut buf = BytesMut::from(&bytes[..]);
        let start = buf.as_ptr() as usize;
        let end = start + buf.len();
        let Some(Message::Binary(payload)) = Decoder::default().decode(&mut buf).unwrap() else {
            panic!("expected a binary message");
        };
        let p = payload.as_ptr() as usize;
        assert!(p >= start && p + payload.len() <= end);
        assert_eq!(&payload[..], &[0x55; 1000][..]);
        assert_eq!(&buf[..], &HELLO_MASKED[..3]);
    }

    #[test]
    fn fragment_buffer_released_after_message() {
        let mut bytes = frame(0x02, b"abc");
        bytes.extend(frame(0x80, b"def"));
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(&bytes[..6 + 3]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
        assert!(decoder.partial.is_some());
        buf.extend_from_slice(&bytes[9..]);
        assert_eq!(
            decoder.decode(&mut buf),
            Ok(Some(Message::Binary(Bytes::from_static(b"abcdef"))))
        );
        assert!(decoder.partial.is_none());
        // The decoder is reusable for the next message.
        let mut buf = BytesMut::from(&HELLO_MASKED[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(Some(text("Hello"))));
    }

    #[test]
    fn unmask_all_lengths_and_offsets() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mask = [0x01, 0x80, 0xFE, 0x3C];
            let mut masked = data.clone();
            apply_mask(&mut masked, mask);
            let naive: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(masked, naive);
            apply_mask(&mut masked, mask);
            assert_eq!(masked, data);
        }
    }

    // ---- hostile input ----

    #[test]
    fn huge_declared_length_rejected_before_payload() {
        let mut bytes = vec![0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        // Even before the mask arrives.
        assert_eq!(err_code(&bytes), 1009);
        bytes.extend_from_slice(&MASK);
        assert_eq!(err_code(&bytes), 1009);
        // Same on a continuation of an open message.
        let mut cont = frame(0x02, b"x");
        cont.extend_from_slice(&[0x80, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(err_code(&cont), 1009);
        // And with a huge limit, the length still can't be buffered: the
        // decoder just waits (it never reserves by declared length).
        let mut decoder = Decoder::new(limits(usize::MAX, 1024));
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert!(buf.capacity() < 1 << 20);
    }

    #[test]
    fn length_with_top_bit_set_is_protocol_error() {
        let mut bytes = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(err_code(&bytes), 1002);
        bytes.extend_from_slice(&MASK);
        assert_eq!(err_code(&bytes), 1002);
        let bytes = [0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(err_code(&bytes), 1002);
    }

    #[test]
    fn one_frame_over_the_limit() {
        let max = 1000;
        let lim = limits(max, 1024);
        let ok = frame(0x82, &vec![1u8; max]);
        assert_eq!(decode_all(&ok, lim).map(|m| m.len()), Ok(1));
        let too_big = frame(0x82, &vec![1u8; max + 1]);
        assert_eq!(err_code_with(&too_big, lim), 1009);
        // The header alone is enough.
        assert_eq!(err_code_with(&too_big[..4], lim), 1009);
        // Default limit: 1,000,001 bytes.
        let too_big = frame(0x82, &vec![0u8; 1_000_001]);
        assert_eq!(err_code(&too_big[..10]), 1009);
        assert_eq!(err_code(&too_big), 1009);
        let ok = frame(0x81, &vec![b'a'; 1_000_000]);
        assert_eq!(decode_all(&ok, Limits::default()).map(|m| m.len()), Ok(1));
    }

    #[test]
    fn continuations_over_the_limit() {
        let lim = limits(1000, 1024);
        let mut bytes = frame(0x02, &[0u8; 400]);
        bytes.extend(frame(0x00, &[0u8; 400]));
        bytes.extend(frame(0x80, &[0u8; 200]));
        assert_eq!(decode_all(&bytes, lim).map(|m| m.len()), Ok(1));

        let mut bytes = frame(0x01, &[b'a'; 400]);
        bytes.extend(frame(0x00, &[b'a'; 400]));
        let last = frame(0x80, &[b'a'; 201]);
        // Rejected on the header of the last fragment alone.
        bytes.extend_from_slice(&last[..4]);
        assert_eq!(err_code_with(&bytes, lim), 1009);

        // Many small continuations under the default limit.
        let mut bytes = frame(0x02, &[0u8; 1000]);
        for _ in 0..1000 {
            bytes.extend(frame(0x00, &[0u8; 1000]));
        }
        assert_eq!(err_code(&bytes), 1009);
    }

    #[test]
    fn a_million_empty_continuations() {
        let mut bytes = frame(0x02, b"");
        let empty = frame(0x00, b"");
        for _ in 0..1_000_000 {
            bytes.extend_from_slice(&empty);
        }
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(&bytes[..]);
        let err = decoder.decode(&mut buf).unwrap_err();
        assert_eq!(err.code, 1008);
        // Exactly max_fragments (1024) frames were accepted.
        assert_eq!(bytes.len() - buf.len(), 1024 * 6);
    }

    #[test]
    fn fragment_count_boundary() {
        let lim = limits(1000, 3);
        let mut bytes = frame(0x01, b"a");
        bytes.extend(frame(0x00, b""));
        bytes.extend(frame(0x80, b"b"));
        assert_eq!(decode_all(&bytes, lim), Ok(vec![text("ab")]));
        let mut bytes = frame(0x01, b"a");
        bytes.extend(frame(0x00, b""));
        bytes.extend(frame(0x00, b""));
        bytes.extend(frame(0x80, b"b"));
        assert_eq!(err_code_with(&bytes, lim), 1008);
        // Unfragmented messages are never affected.
        assert_eq!(
            decode_all(&HELLO_MASKED, limits(1000, 0)),
            Ok(vec![text("Hello")])
        );
        assert_eq!(err_code_with(&frame(0x01, b"a"), limits(1000, 0)), 1008);
    }

    #[test]
    fn unmasked_frame() {
        assert_eq!(err_code(&[0x81, 0x02, 0x34, 0x30]), 1002);
        assert_eq!(err_code(&[0x81, 0x02]), 1002);
        assert_eq!(err_code(&[0x89, 0x00]), 1002);
    }

    #[test]
    fn rsv_bits() {
        for b0 in [0xC1, 0xA1, 0x91, 0xF1, 0xC2, 0xC9] {
            assert_eq!(err_code(&frame(b0, b"hi")), 1002, "{b0:#x}");
            // Rejected from the first byte alone.
            assert_eq!(err_code(&[b0]), 1002, "{b0:#x}");
        }
    }

    // ---- permessage-deflate (RFC 7692) ----

    /// Raw deflate of `data` with a sync flush, the trailer stripped (what a client sends).
    fn deflated(data: &[u8]) -> Vec<u8> {
        use flate2::{Compress, Compression, FlushCompress};
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 64);
        c.compress_vec(data, &mut out, FlushCompress::Sync)
            .expect("deflate");
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    }

    fn decode_deflate(
        bytes: &[u8],
        limits: Limits,
        copy: bool,
    ) -> Result<Vec<Message>, ProtocolError> {
        let mut decoder = Decoder::with_deflate(limits, super::super::deflate::Agreed::default());
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            let m = if copy {
                decoder.decode_copied(&mut buf)?
            } else {
                decoder.decode(&mut buf)?
            };
            match m {
                Some(m) => out.push(m),
                None => return Ok(out),
            }
        }
    }

    #[test]
    fn rfc7692_hello_vectors() {
        // §7.2.3.1: "Hello" compressed, in one frame and in two fragments (RSV1 on the first).
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let one = frame(0xC1, &hello);
        let mut two = frame(0x41, &hello[..3]);
        two.extend(frame(0x80, &hello[3..]));
        // §7.2.3.2: the second "Hello" of a connection with context takeover.
        let mut again = one.clone();
        again.extend(frame(0xC1, &[0xf2, 0x00, 0x11, 0x00, 0x00]));
        // §7.2.3.3: no compression (a stored block).
        let stored = frame(
            0xC1,
            &[
                0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
        );
        for copy in [false, true] {
            let hello_msg = Message::Text("Hello".into());
            assert_eq!(
                decode_deflate(&one, Limits::default(), copy),
                Ok(vec![hello_msg.clone()])
            );
            assert_eq!(
                decode_deflate(&two, Limits::default(), copy),
                Ok(vec![hello_msg.clone()])
            );
            assert_eq!(
                decode_deflate(&again, Limits::default(), copy),
                Ok(vec![hello_msg.clone(), hello_msg.clone()])
            );
            assert_eq!(
                decode_deflate(&stored, Limits::default(), copy),
                Ok(vec![hello_msg])
            );
        }
    }

    #[test]
    fn compressed_messages_in_fragments_and_chunks() {
        let text = "{\"event\":\"tick\",\"values\":[1,2,3,4,5,6,7,8,9]}".repeat(50);
        let z = deflated(text.as_bytes());
        // Three fragments, a ping between two of them, and an uncompressed message after.
        let mut stream = frame(0x41, &z[..z.len() / 3]);
        stream.extend(frame(0x00, &z[z.len() / 3..2 * z.len() / 3]));
        stream.extend(frame(0x89, b"p"));
        stream.extend(frame(0x80, &z[2 * z.len() / 3..]));
        stream.extend(frame(0x82, &[1, 2, 3]));
        let want = vec![
            Message::Ping("p".into()),
            Message::Text(text.clone().into()),
            Message::Binary(vec![1, 2, 3].into()),
        ];
        for copy in [false, true] {
            assert_eq!(
                decode_deflate(&stream, Limits::default(), copy),
                Ok(want.clone())
            );
        }
        // Every split point.
        for at in 0..=stream.len() {
            let mut decoder =
                Decoder::with_deflate(Limits::default(), super::super::deflate::Agreed::default());
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in [&stream[..at], &stream[at..]] {
                buf.extend_from_slice(chunk);
                while let Some(m) = decoder.decode_copied(&mut buf).expect("decode") {
                    got.push(m);
                }
            }
            assert_eq!(got, want, "split at {at}");
        }
    }

    #[test]
    fn rsv1_rules() {
        let z = deflated(b"hi");
        // Not agreed: a compressed frame is a protocol error, as RSV2 and RSV3 always are.
        assert_eq!(err_code(&frame(0xC1, &z)), 1002);
        let d = Limits::default();
        for bad in [
            frame(0xA1, b"hi"),
            frame(0x91, b"hi"),
            frame(0xE1, &z),
            // RSV1 on control frames.
            frame(0xC9, b""),
            frame(0xCA, b""),
            frame(0xC8, &[0x03, 0xe8]),
        ] {
            assert_eq!(
                decode_deflate(&bad, d, false).unwrap_err().code,
                1002,
                "{:#x}",
                bad[0]
            );
        }
        // RSV1 on a continuation frame.
        let mut cont = frame(0x41, &z[..1]);
        cont.extend(frame(0xC0, &z[1..]));
        assert_eq!(decode_deflate(&cont, d, false).unwrap_err().code, 1002);
        // Invalid deflate data, and invalid UTF-8 inside valid deflate data.
        assert_eq!(
            decode_deflate(&frame(0xC1, &[0xff, 0xff]), d, false)
                .unwrap_err()
                .code,
            1007
        );
        let bad_utf8 = deflated(&[0x66, 0xff, 0x66]);
        assert_eq!(
            decode_deflate(&frame(0xC1, &bad_utf8), d, true)
                .unwrap_err()
                .code,
            1007
        );
        // The same bytes as binary are fine.
        assert_eq!(
            decode_deflate(&frame(0xC2, &bad_utf8), d, true),
            Ok(vec![Message::Binary(vec![0x66, 0xff, 0x66].into())])
        );
    }

    #[test]
    fn a_decompression_bomb_is_1009() {
        // 5 MB of zeros: about 5 KB compressed, well under the 100 KB limit.
        let z = deflated(&vec![0u8; 5_000_000]);
        assert!(z.len() < 10_000);
        let small = limits(100_000, 16);
        assert_eq!(
            decode_deflate(&frame(0xC2, &z), small, false)
                .unwrap_err()
                .code,
            1009
        );
        // In fragments too.
        let mut frags = frame(0x42, &z[..z.len() / 2]);
        frags.extend(frame(0x80, &z[z.len() / 2..]));
        assert_eq!(decode_deflate(&frags, small, true).unwrap_err().code, 1009);
        // The compressed size is bounded as well.
        assert_eq!(
            decode_deflate(&frame(0xC2, &[0u8; 100_001]), small, false)
                .unwrap_err()
                .code,
            1009
        );
    }

    #[test]
    fn reserved_opcodes() {
        for op in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(err_code(&frame(0x80 | op, b"")), 1002, "{op:#x}");
            assert_eq!(err_code(&frame(op, b"x")), 1002, "{op:#x}");
        }
    }

    #[test]
    fn bad_control_frames() {
        assert_eq!(err_code(&frame(0x89, &[0u8; 126])), 1002);
        assert_eq!(err_code(&frame(0x8A, &[0u8; 126])), 1002);
        assert_eq!(err_code(&frame(0x88, &[0u8; 200])), 1002);
        assert_eq!(err_code(&frame(0x89, &[0u8; 70_000])), 1002);
        // Non-FIN control frames.
        assert_eq!(err_code(&frame(0x09, b"")), 1002);
        assert_eq!(err_code(&frame(0x0A, b"x")), 1002);
        assert_eq!(err_code(&frame(0x08, b"")), 1002);
        // 125 is fine.
        assert_eq!(
            decode_all(&frame(0x89, &[1u8; 125]), Limits::default()),
            Ok(vec![Message::Ping(vec![1u8; 125].into())])
        );
    }

    #[test]
    fn orphan_continuation() {
        assert_eq!(err_code(&frame(0x80, b"x")), 1002);
        assert_eq!(err_code(&frame(0x00, b"")), 1002);
        // After a completed message, too.
        let mut bytes = HELLO_MASKED.to_vec();
        bytes.extend(frame(0x80, b"x"));
        assert_eq!(err_code(&bytes), 1002);
    }

    #[test]
    fn data_frame_while_fragmented_open() {
        for b0 in [0x81, 0x01, 0x82, 0x02] {
            let mut bytes = frame(0x01, b"Hel");
            bytes.extend(frame(b0, b"lo"));
            assert_eq!(err_code(&bytes), 1002, "{b0:#x}");
        }
    }

    #[test]
    fn control_frames_interleaved_in_fragments() {
        let mut bytes = frame(0x02, b"a");
        bytes.extend(frame(0x89, b"1"));
        bytes.extend(frame(0x00, b"b"));
        bytes.extend(frame(0x8A, b"2"));
        bytes.extend(frame(0x80, b"c"));
        assert_eq!(
            decode_all(&bytes, Limits::default()),
            Ok(vec![
                Message::Ping(Bytes::from_static(b"1")),
                Message::Pong(Bytes::from_static(b"2")),
                Message::Binary(Bytes::from_static(b"abc")),
            ])
        );
    }

    #[test]
    fn invalid_utf8() {
        for bad in [
            &[0xC0, 0xAF][..],
            &[0xED, 0xA0, 0x80],
            &[0xFF],
            &[0xF0, 0x9F],
        ] {
            assert_eq!(err_code(&frame(0x81, bad)), 1007, "{bad:x?}");
            // Fragmented: first fragment, middle, last.
            let mut bytes = frame(0x01, bad);
            bytes.extend(frame(0x80, b""));
            assert_eq!(err_code(&bytes), 1007, "{bad:x?}");
            let mut bytes = frame(0x01, b"ok");
            bytes.extend(frame(0x00, bad));
            bytes.extend(frame(0x80, b""));
            assert_eq!(err_code(&bytes), 1007, "{bad:x?}");
        }
        // Fail fast: the invalid first fragment is enough, no FIN needed.
        assert_eq!(err_code(&frame(0x01, &[b'a', 0xC0, 0xAF])), 1007);
        // A truncated sequence completed by a non-continuation byte.
        let mut bytes = frame(0x01, &[0xF0, 0x9F]);
        bytes.extend(frame(0x00, b"a"));
        assert_eq!(err_code(&bytes), 1007);
        // Binary messages are not checked.
        assert_eq!(
            decode_all(&frame(0x82, &[0xC0, 0xAF]), Limits::default()),
            Ok(vec![Message::Binary(Bytes::from_static(&[0xC0, 0xAF]))])
        );
    }

    #[test]
    fn four_byte_char_split_across_fragments() {
        let smile = "\u{1F600}".as_bytes();
        for split in 0..=4 {
            let mut bytes = frame(0x01, &smile[..split]);
            bytes.extend(frame(0x80, &smile[split..]));
            assert_eq!(
                decode_all(&bytes, Limits::default()),
                Ok(vec![text("\u{1F600}")]),
                "split at {split}"
            );
        }
        // One byte per fragment.
        let mut bytes = frame(0x01, &smile[..1]);
        bytes.extend(frame(0x00, &smile[1..2]));
        bytes.extend(frame(0x00, &smile[2..3]));
        bytes.extend(frame(0x80, &smile[3..]));
        assert_eq!(
            decode_all(&bytes, Limits::default()),
            Ok(vec![text("\u{1F600}")])
        );
    }

    #[test]
    fn close_frames() {
        assert_eq!(
            decode_all(&frame(0x88, b""), Limits::default()),
            Ok(vec![Message::Close(None)])
        );
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice("bye \u{e9}".as_bytes());
            assert_eq!(
                decode_all(&frame(0x88, &payload), Limits::default()),
                Ok(vec![close(code, "bye \u{e9}")]),
                "{code}"
            );
            assert_eq!(
                decode_all(&frame(0x88, &code.to_be_bytes()), Limits::default()),
                Ok(vec![close(code, "")]),
                "{code}"
            );
        }
        assert_eq!(err_code(&frame(0x88, &[0x03])), 1002);
        for code in [
            0u16, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999, 5000, 65535,
        ] {
            assert_eq!(err_code(&frame(0x88, &code.to_be_bytes())), 1002, "{code}");
        }
        // A reason that is not UTF-8 is invalid data (1007), as for a text message.
        assert_eq!(err_code(&frame(0x88, &[0x03, 0xE8, 0xC0, 0xAF])), 1007);
        assert_eq!(err_code(&frame(0x88, &[0x03, 0xE8, b'a', 0xFF])), 1007);
    }

    #[test]
    fn error_display() {
        let err = decode_all(&[0x81, 0x02, 0x34, 0x30], Limits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "WebSocket protocol error (close code 1002): unmasked client frame"
        );
        let _: &dyn std::error::Error = &err;
    }

    // ---- encoding ----

    #[test]
    fn encode_header_lengths() {
        let cases: [(usize, &[u8]); 7] = [
            (0, &[0x82, 0]),
            (125, &[0x82, 125]),
            (126, &[0x82, 126, 0, 126]),
            (65535, &[0x82, 126, 0xFF, 0xFF]),
            (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
            (1 << 32, &[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]),
            (
                usize::MAX >> 1,
                &[0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            ),
        ];
        for (len, expected) in cases {
            let mut out = BytesMut::new();
            encode_header(OpCode::Binary, len, true, &mut out);
            assert_eq!(&out[..], expected, "{len}");
        }
        let mut out = BytesMut::new();
        encode_header(OpCode::Continuation, 1, false, &mut out);
        encode_header(OpCode::Pong, 0, true, &mut out);
        assert_eq!(&out[..], [0x00, 0x01, 0x8A, 0x00]);
    }

    #[test]
    fn encode_close_truncates_at_char_boundary() {
        let mut out = BytesMut::new();
        encode_close(1009, "message too big", &mut out);
        assert_eq!(&out[..4], [0x88, 17, 0x03, 0xF1]);
        assert_eq!(&out[4..], b"message too big");

        // 61 two-byte chars + 'a' = 123 bytes fits exactly; one more 'é'
        // must be dropped entirely rather than split.
        let reason = format!("a{}\u{e9}", "\u{e9}".repeat(61));
        assert_eq!(reason.len(), 125);
        let mut out = BytesMut::new();
        encode_close(1000, &reason, &mut out);
        assert_eq!(out[1] as usize, out.len() - 2);
        assert_eq!(out.len() - 2, 2 + 123);
        assert_eq!(&out[4..], &reason.as_bytes()[..123]);

        let reason = "\u{e9}".repeat(70); // 140 bytes, boundary at 122
        let mut out = BytesMut::new();
        encode_close(1000, &reason, &mut out);
        assert_eq!(out.len() - 4, 122);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }

    #[test]
    fn opcode_values() {
        for (op, v) in [
            (OpCode::Continuation, 0u8),
            (OpCode::Text, 1),
            (OpCode::Binary, 2),
            (OpCode::Close, 8),
            (OpCode::Ping, 9),
            (OpCode::Pong, 10),
        ] {
            assert_eq!(op as u8, v);
            assert_eq!(OpCode::from_u8(v), Some(op));
            assert_eq!(op.is_control(), v >= 8);
        }
        for v in (3..=7).chain(11..=255) {
            assert_eq!(OpCode::from_u8(v), None);
        }
        assert_eq!(Limits::default(), limits(1_000_000, 1024));
    }

    // ---- property tests ----

    /// A data or control message and how the client sends it.
    #[derive(Debug, Clone)]
    enum Sent {
        Text(String, Vec<prop::sample::Index>),
        Binary(Vec<u8>, Vec<prop::sample::Index>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    fn close_code() -> impl Strategy<Value = u16> {
        prop_oneof![1000u16..=1003, 1007u16..=1011, 3000u16..=4999]
    }

    fn short_reason() -> impl Strategy<Value = String> {
        any::<String>().prop_map(|s| {
            let mut end = s.len().min(MAX_CLOSE_REASON);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_owned()
        })
    }

    fn sent() -> impl Strategy<Value = Sent> {
        let cuts = || prop::collection::vec(any::<prop::sample::Index>(), 0..6);
        prop_oneof![
            3 => (any::<String>(), cuts()).prop_map(|(s, c)| Sent::Text(s, c)),
            3 => (prop::collection::vec(any::<u8>(), 0..600), cuts())
                .prop_map(|(b, c)| Sent::Binary(b, c)),
            1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Sent::Ping),
            1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Sent::Pong),
            1 => prop::option::of((close_code(), short_reason())).prop_map(Sent::Close),
        ]
    }

    /// Deterministic mask sequence from a seed (xorshift64).
    struct Masks(u64);

    impl Masks {
        fn next(&mut self) -> [u8; 4] {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 as u32).to_le_bytes()
        }
    }

    /// Encodes `msgs` as a client would; a ping is interleaved after the
    /// first fragment of each fragmented message. Returns the bytes and the
    /// messages the server should see.
    fn encode_client(msgs: &[Sent], seed: u64) -> (Vec<u8>, Vec<Message>) {
        let mut masks = Masks(seed | 1);
        let mut out = Vec::new();
        let mut expected = Vec::new();
        for msg in msgs {
            match msg {
                Sent::Text(_, cuts) | Sent::Binary(_, cuts) => {
                    let (op, payload, full) = match msg {
                        Sent::Text(s, _) => (
                            0x1,
                            s.as_bytes(),
                            Message::Text(Bytes::copy_from_slice(s.as_bytes())),
                        ),
                        Sent::Binary(b, _) => (0x2, &b[..], Message::Binary(b.clone().into())),
                        _ => unreachable!(),
                    };
                    let mut points: Vec<usize> =
                        cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
                    points.sort_unstable();
                    points.push(payload.len());
                    let mut start = 0;
                    let last = points.len() - 1;
                    for (n, &end) in points.iter().enumerate() {
                        let b0 = if n == 0 { op } else { 0 } | if n == last { 0x80 } else { 0 };
                        client_frame(b0, &payload[start..end], masks.next(), &mut out);
                        if n == 0 && n != last {
                            client_frame(0x89, b"mid", masks.next(), &mut out);
                            expected.push(Message::Ping(Bytes::from_static(b"mid")));
                        }
                        start = end;
                    }
                    expected.push(full);
                }
                Sent::Ping(p) => {
                    client_frame(0x89, p, masks.next(), &mut out);
                    expected.push(Message::Ping(p.clone().into()));
                }
                Sent::Pong(p) => {
                    client_frame(0x8A, p, masks.next(), &mut out);
                    expected.push(Message::Pong(p.clone().into()));
                }
                Sent::Close(None) => {
                    client_frame(0x88, b"", masks.next(), &mut out);
                    expected.push(Message::Close(None));
                }
                Sent::Close(Some((code, reason))) => {
                    let mut payload = code.to_be_bytes().to_vec();
                    payload.extend_from_slice(reason.as_bytes());
                    client_frame(0x88, &payload, masks.next(), &mut out);
                    expected.push(Message::Close(Some(CloseFrame {
                        code: *code,
                        reason: Bytes::copy_from_slice(reason.as_bytes()),
                    })));
                }
            }
        }
        (out, expected)
    }

    /// Parses one server frame: (fin, opcode bits, payload, total length).
    fn parse_server_frame(bytes: &[u8]) -> (bool, u8, &[u8], usize) {
        let fin = bytes[0] & 0x80 != 0;
        assert_eq!(bytes[0] & 0x70, 0, "RSV bits");
        assert_eq!(bytes[1] & 0x80, 0, "server frames are unmasked");
        let (len, start) = match bytes[1] & 0x7F {
            126 => {
                let len = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
                assert!(len >= 126, "minimal length encoding");
                (len, 4)
            }
            127 => {
                let len = u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize;
                assert!(len > 0xFFFF, "minimal length encoding");
                (len, 10)
            }
            n => (n as usize, 2),
        };
        (
            fin,
            bytes[0] & 0x0F,
            &bytes[start..start + len],
            start + len,
        )
    }

    proptest! {
        #[test]
        fn client_messages_roundtrip(
            msgs in prop::collection::vec(sent(), 1..6),
            seed in any::<u64>(),
            chunk_sizes in prop::collection::vec(1usize..64, 1..8),
        ) {
            let (bytes, expected) = encode_client(&msgs, seed);
            prop_assert_eq!(decode_all(&bytes, Limits::default()), Ok(expected.clone()));

            // Same stream fed in random-sized chunks.
            let mut chunks = Vec::new();
            let mut rest = &bytes[..];
            let mut sizes = chunk_sizes.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap()).min(rest.len());
                let (a, b) = rest.split_at(n);
                chunks.push(a);
                rest = b;
            }
            prop_assert_eq!(decode_chunked(&chunks, Limits::default()), Ok((expected, 0)));
        }

        #[test]
        fn encode_frame_parses_back(
            op in prop::sample::select(vec![
                OpCode::Text, OpCode::Binary, OpCode::Continuation,
                OpCode::Close, OpCode::Ping, OpCode::Pong,
            ]),
            len in prop_oneof![0usize..300, 65_530usize..65_542, 65_536usize..80_000],
            fill in any::<u8>(),
        ) {
            let len = if op.is_control() { len % 126 } else { len };
            let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(fill)).collect();
            let mut out = BytesMut::new();
            encode_frame(op, &payload, &mut out);
            let (fin, bits, parsed, total) = parse_server_frame(&out);
            prop_assert!(fin);
            prop_assert_eq!(bits, op as u8);
            prop_assert_eq!(parsed, &payload[..]);
            prop_assert_eq!(total, out.len());

            // The header alone, non-final, followed by the payload in two pieces.
            let mut split = BytesMut::new();
            encode_header(op, len, false, &mut split);
            split.extend_from_slice(&payload[..len / 2]);
            split.extend_from_slice(&payload[len / 2..]);
            let (fin, bits, parsed, total) = parse_server_frame(&split);
            prop_assert!(!fin);
            prop_assert_eq!(bits, op as u8);
            prop_assert_eq!(parsed, &payload[..]);
            prop_assert_eq!(total, split.len());
            prop_assert_eq!(&split[1..], &out[1..]);
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_all(&bytes, limits(100, 4));
        }
    }
}
