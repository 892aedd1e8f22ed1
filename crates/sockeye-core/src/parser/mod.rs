//! How a Socket.IO packet becomes bytes, and back: the [`Parser`] seam.
//!
//! Node's socket.io lets a server choose its packet codec (`new Server({ parser })`); so does
//! Sockeye (`SocketIoBuilder::parser`). A parser turns the Engine.IO messages a client sends
//! (text and binary, see [`Message`]) into [`Incoming`] packets, and the server's packets
//! ([`Packet`]) into the messages its clients get ([`Encoded`]). Everything else (namespaces,
//! acks, rooms, broadcasts) is the same whatever the parser.
//!
//! | parser | Node's counterpart | a packet on the wire |
//! |---|---|---|
//! | [`JsonParser`] (the default) | `socket.io-parser` | a text message `2["event",…]`; binary values become placeholders, their bytes binary messages after it |
//! | `MsgpackParser` (feature `msgpack`) | `socket.io-msgpack-parser` 3.x | one binary message: the packet `{type, data, nsp, id}` in MessagePack, binary values inline |
//!
//! The server has one parser, as in Node; clients must use the same one. A broadcast is
//! encoded once for it and shared by every recipient
//! ([`BroadcastPacket::encoded`](crate::adapter::BroadcastPacket::encoded)). Arguments a
//! client sent stay in the form they came in ([`Payload`]), so relaying them to clients of the
//! same parser copies bytes and encodes nothing again.
//!
//! # Examples
//! ```
//! use sockeye_core::parser::{Args, JsonParser, Message, Packet, Parser};
//! use sockeye_core::Payload;
//! let args = Payload::from_args(&("ACME", 12.5), vec![]).unwrap();
//! let packet = Packet::Event { ns: "/", event: "price", args: Args::Payload(&args), id: None, offset: None };
//! let encoded = JsonParser.encode(packet).unwrap();
//! assert_eq!(encoded.message, Message::Text(br#"2["price","ACME",12.5]"#[..].into()));
//! ```

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use serde::Serialize;

use crate::errors::ParseError;
use crate::payload::Payload;
use crate::value::Value;

pub mod json;
#[cfg(feature = "msgpack")]
pub mod msgpack;

pub use json::JsonParser;
#[cfg(feature = "msgpack")]
pub use msgpack::MsgpackParser;

/// A packet codec: a client's messages into packets, the server's packets into messages.
///
/// A server holds one (`SocketIoBuilder::parser`), shared by all its connections; what a
/// parser must remember between two messages of one connection (the JSON parser's binary
/// packet waiting for its attachments) lives in that connection's [`DecodeState`].
///
/// Implementations must not panic on any input: whatever a client sends reaches
/// [`Parser::decode`], and an error closes that client's connection (and nothing else).
///
/// # Examples
/// A parser that logs what it decodes, around the JSON one:
/// ```
/// use sockeye_core::parser::{DecodeLimits, DecodeState, Encoded, Incoming, JsonParser, Message, Packet, Parser};
/// use sockeye_core::ParseError;
///
/// #[derive(Debug)]
/// struct Logged(JsonParser);
///
/// impl Parser for Logged {
///     fn decode(&self, msg: Message, state: &mut DecodeState, limits: &DecodeLimits)
///         -> Result<Option<Incoming>, ParseError> {
///         let packet = self.0.decode(msg, state, limits);
///         if let Err(e) = &packet {
///             eprintln!("closing a client: {e}");
///         }
///         packet
///     }
///     fn encode(&self, packet: Packet<'_>) -> Result<Encoded, serde_json::Error> {
///         self.0.encode(packet)
///     }
/// }
///
/// let mut state = DecodeState::default();
/// let got = Logged(JsonParser).decode(Message::Text("2[\"hi\"]".into()), &mut state, &DecodeLimits::default());
/// assert!(matches!(got, Ok(Some(Incoming::Event { .. }))));
/// ```
pub trait Parser: std::any::Any + Send + Sync + std::fmt::Debug {
    /// Decodes one message a client sent: `Ok(Some(packet))` when it completes a packet,
    /// `Ok(None)` when the packet waits for more messages (kept in `state`).
    ///
    /// # Errors
    /// When the message is not a valid packet in this format, breaks `limits`, or comes when
    /// `state` does not expect it; the server then closes the client's connection.
    fn decode(
        &self,
        msg: Message,
        state: &mut DecodeState,
        limits: &DecodeLimits,
    ) -> Result<Option<Incoming>, ParseError>;

    /// Encodes a packet for a client.
    ///
    /// # Errors
    /// When [`Args::Data`] does not serialize (or does not serialize to an array when spread),
    /// or a [`Payload`] holds text that is not the JSON it should be.
    fn encode(&self, packet: Packet<'_>) -> Result<Encoded, serde_json::Error>;
}

/// One Engine.IO message: text or binary.
///
/// # Examples
/// ```
/// use sockeye_core::parser::Message;
/// let m = Message::Text("40".into());
/// assert_eq!(&m.as_bytes()[..], b"40");
/// assert!(!m.is_binary());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (UTF-8, which the engine checked for messages from a client).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The message's bytes.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::parser::Message;
    /// assert_eq!(&Message::Binary(vec![0x80].into()).as_bytes()[..], [0x80]);
    /// ```
    pub fn as_bytes(&self) -> &Bytes {
        match self {
            Message::Text(b) | Message::Binary(b) => b,
        }
    }

    /// Whether it is a binary message.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::parser::Message;
    /// assert!(Message::Binary(bytes::Bytes::new()).is_binary());
    /// ```
    pub fn is_binary(&self) -> bool {
        matches!(self, Message::Binary(_))
    }
}

/// A packet encoded for the wire: one message, then the binary attachments that follow it
/// (the JSON parser's binary packets; none for msgpack, whose packets are one binary message).
/// Broadcasts share one, by reference count, between every recipient.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{Encoded, Message};
/// let e = Encoded::text("2[\"tick\"]".into());
/// assert_eq!(e.message, Message::Text("2[\"tick\"]".into()));
/// assert_eq!(e.len(), 9);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The packet's message (for the JSON parser, the text without the Engine.IO `4`).
    pub message: Message,
    /// Binary messages sent right after it, in order.
    pub bins: Vec<Bytes>,
}

impl Encoded {
    /// A packet that is one text message.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::parser::Encoded;
    /// assert!(Encoded::text("1".into()).bins.is_empty());
    /// ```
    pub fn text(text: Bytes) -> Encoded {
        Encoded {
            message: Message::Text(text),
            bins: Vec::new(),
        }
    }

    /// A packet that is one binary message.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::parser::Encoded;
    /// assert!(Encoded::binary(vec![0x81].into()).message.is_binary());
    /// ```
    pub fn binary(data: Bytes) -> Encoded {
        Encoded {
            message: Message::Binary(data),
            bins: Vec::new(),
        }
    }

    /// The bytes of every message, added up.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::parser::Encoded;
    /// let mut e = Encoded::text("51-[\"b\",{\"_placeholder\":true,\"num\":0}]".into());
    /// e.bins.push(vec![1, 2, 3].into());
    /// assert_eq!(e.len(), 38 + 3);
    /// ```
    pub fn len(&self) -> usize {
        self.message.as_bytes().len() + self.bins.iter().map(Bytes::len).sum::<usize>()
    }

    /// Whether every message is empty (never the case for a packet a parser made).
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::parser::Encoded;
    /// assert!(Encoded::text(bytes::Bytes::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A packet the server sends, for [`Parser::encode`].
///
/// # Examples
/// ```
/// use sockeye_core::parser::{JsonParser, Message, Packet, Parser};
/// let e = JsonParser.encode(Packet::Disconnect { ns: "/chat" }).unwrap();
/// assert_eq!(e.message, Message::Text("1/chat,".into()));
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Packet<'a> {
    /// `CONNECT`: a namespace joined, with the socket's id, and its private id when
    /// connection state recovery is on.
    Connect {
        /// The namespace.
        ns: &'a str,
        /// The socket's id.
        sid: &'a str,
        /// The private session id a client sends back to recover its session.
        pid: Option<&'a str>,
    },
    /// `CONNECT_ERROR`: a namespace refused, with a message and optional data.
    ConnectError {
        /// The namespace.
        ns: &'a str,
        /// Why (the client's `err.message`).
        message: &'a str,
        /// Details (the client's `err.data`).
        data: Option<&'a serde_json::Value>,
    },
    /// `DISCONNECT`: the server leaves the namespace.
    Disconnect {
        /// The namespace.
        ns: &'a str,
    },
    /// `EVENT`: an event, with an ack id when the server waits for an answer.
    Event {
        /// The namespace.
        ns: &'a str,
        /// The event's name.
        event: &'a str,
        /// Its arguments.
        args: Args<'a>,
        /// The ack id, when the server asks for an answer.
        id: Option<u64>,
        /// A connection state recovery offset, sent as one more (last) string argument.
        offset: Option<&'a str>,
    },
    /// `ACK`: the answer to a client's event.
    Ack {
        /// The namespace.
        ns: &'a str,
        /// The id of the client's event.
        id: u64,
        /// The answer's arguments.
        args: Args<'a>,
    },
}

/// The arguments of an event or ack to encode.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{Args, ArgsMode};
/// let data = ("a", 1);
/// let args = Args::Data(&data, ArgsMode::Spread);
/// assert_eq!(args.to_payload().unwrap().len(), 2);
/// ```
#[derive(Clone, Copy)]
pub enum Args<'a> {
    /// A payload: received (relayed as it came when the parser is the one it came with),
    /// or made of values.
    Payload(&'a Payload),
    /// The application's data, serialized by the parser.
    Data(&'a dyn DynSerialize, ArgsMode),
}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Args::Payload(p) => f.debug_tuple("Payload").field(p).finish(),
            Args::Data(_, mode) => f.debug_tuple("Data").field(mode).finish(),
        }
    }
}

impl Args<'_> {
    /// The arguments as a payload (application data serialized into values), for parsers
    /// that work from values.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::parser::{Args, ArgsMode};
    /// use sockeye_core::value::Value;
    /// let p = Args::Data(&"hi", ArgsMode::One).to_payload().unwrap();
    /// assert_eq!(p.values(), Some(&[Value::from("hi")][..]));
    /// ```
    ///
    /// # Errors
    /// When the data does not serialize, or is spread and does not serialize to an array.
    pub fn to_payload(&self) -> Result<Cow<'_, Payload>, serde_json::Error> {
        match *self {
            Args::Payload(p) => Ok(Cow::Borrowed(p)),
            Args::Data(data, ArgsMode::One) => {
                Ok(Cow::Owned(Payload::from_values(vec![data.to_value()?])))
            }
            Args::Data(data, ArgsMode::Spread) => match data.to_value()? {
                Value::Array(items) => Ok(Cow::Owned(Payload::from_values(items))),
                _ => Err(serde::ser::Error::custom(
                    "the arguments must serialize to an array",
                )),
            },
        }
    }
}

/// How the data of an emit becomes the arguments after the event name.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{Args, ArgsMode};
/// assert_eq!(Args::Data(&[1, 2], ArgsMode::One).to_payload().unwrap().len(), 1);
/// assert_eq!(Args::Data(&[1, 2], ArgsMode::Spread).to_payload().unwrap().len(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgsMode {
    /// The data is one argument.
    One,
    /// The data serializes to an array whose items are the arguments.
    Spread,
}

/// A `Serialize` value behind a `dyn` (the trait's methods are not generic): what a parser
/// needs of the data of an emit. Implemented for every `Serialize + Sized` type; for an
/// unsized one (`str`, a slice), pass a reference to its reference.
///
/// # Examples
/// ```
/// use sockeye_core::parser::DynSerialize;
/// use sockeye_core::value::Value;
/// let text: &str = "hi";
/// let data: &dyn DynSerialize = &text;
/// assert_eq!(data.to_value().unwrap(), Value::from("hi"));
/// ```
pub trait DynSerialize {
    /// The value, binary values as [`Value::Bin`].
    ///
    /// # Errors
    /// When `Serialize` fails.
    fn to_value(&self) -> Result<Value, serde_json::Error>;

    /// Writes the value as JSON to `out`, each binary value as the JSON parser's placeholder
    /// `{"_placeholder":true,"num":N}` with its bytes pushed on `bins` (N being their index),
    /// without building a [`Value`] first.
    ///
    /// # Errors
    /// When `Serialize` fails.
    fn write_json(&self, out: &mut Vec<u8>, bins: &mut Vec<Bytes>)
        -> Result<(), serde_json::Error>;
}

impl<T: Serialize> DynSerialize for T {
    fn to_value(&self) -> Result<Value, serde_json::Error> {
        crate::value::to_value(self)
    }

    fn write_json(
        &self,
        out: &mut Vec<u8>,
        bins: &mut Vec<Bytes>,
    ) -> Result<(), serde_json::Error> {
        let mut ser = serde_json::Serializer::with_formatter(out, json::BinFormatter { bins });
        self.serialize(&mut ser)
    }
}

/// Packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: join a namespace (client), or its acceptance (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event.
    Event = 2,
    /// `3`: the answer to an event that asked for one.
    Ack = 3,
    /// `4`: a namespace refused (server only).
    ConnectError = 4,
    /// `5`: an event with binary attachments (JSON parser).
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments (JSON parser).
    BinaryAck = 6,
}

/// Event names a client may not use: they belong to the server's lifecycle.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is one of [`RESERVED_EVENTS`] (a match on the length first).
pub(crate) fn is_reserved(name: &[u8]) -> bool {
    matches!(
        name,
        b"connect"
            | b"connect_error"
            | b"disconnect"
            | b"disconnecting"
            | b"newListener"
            | b"removeListener"
    )
}

/// An event's name as decoded: where it lies in the message, or made when it had to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventName {
    /// The name's UTF-8 bytes as they are in the message (no escapes), as a range of the
    /// payload's source: the usual name costs no allocation.
    InSource(Range<usize>),
    /// A name that had escapes or was not valid UTF-8, or a number's decimal text.
    Owned(String),
}

impl EventName {
    /// The name's bytes, `src` being the payload's source.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::parser::EventName;
    /// assert_eq!(EventName::InSource(3..6).bytes(b"2[\"hey\"]"), b"hey");
    /// ```
    pub fn bytes<'a>(&'a self, src: &'a [u8]) -> &'a [u8] {
        match self {
            EventName::InSource(r) => src.get(r.clone()).unwrap_or_default(),
            EventName::Owned(s) => s.as_bytes(),
        }
    }

    /// The name as text, `src` being the payload's source.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::parser::EventName;
    /// assert_eq!(EventName::Owned("7".into()).into_string(b""), "7");
    /// ```
    pub fn into_string(self, src: &[u8]) -> String {
        match self {
            // Parsers check that an in-source name is UTF-8: the lossy path is never taken.
            EventName::InSource(_) => String::from_utf8_lossy(self.bytes(src)).into_owned(),
            EventName::Owned(s) => s,
        }
    }
}

/// The largest ack id (exclusive): ids must be exact JavaScript integers.
pub const MAX_ACK_ID: u64 = 1 << 53;

/// Limits a parser applies while decoding a client's messages.
///
/// # Examples
/// ```
/// use sockeye_core::parser::DecodeLimits;
/// let l = DecodeLimits::default();
/// assert_eq!((l.max_attachments, l.max_attachment_bytes), (10, 10_000_000));
/// let strict = DecodeLimits::new(2, 64 << 10);
/// assert_eq!(strict.max_attachments, 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// The most attachments a binary packet may announce (Node's `maxAttachments`, 10).
    pub max_attachments: usize,
    /// The most bytes a binary packet's attachments may add up to.
    pub max_attachment_bytes: usize,
}

impl DecodeLimits {
    /// Limits with these values.
    ///
    /// # Examples
    /// ```
    /// let l = sockeye_core::parser::DecodeLimits::new(1, 1024);
    /// assert_eq!(l.max_attachment_bytes, 1024);
    /// ```
    pub fn new(max_attachments: usize, max_attachment_bytes: usize) -> DecodeLimits {
        DecodeLimits {
            max_attachments,
            max_attachment_bytes,
        }
    }
}

impl Default for DecodeLimits {
    /// Node's defaults: 10 attachments; 10 MB of them (ten times Node's `maxHttpBufferSize`).
    fn default() -> DecodeLimits {
        DecodeLimits::new(10, 10_000_000)
    }
}

/// A decoded client packet.
#[derive(Debug)]
pub enum Incoming {
    /// `CONNECT`: join a namespace, with the auth payload (an object) when given, and the
    /// query string a v4-protocol client (socket.io-client 2.x) puts after the name.
    Connect {
        /// The namespace.
        ns: Cow<'static, str>,
        /// The auth object, as a payload of one argument.
        auth: Option<Payload>,
        /// A v4-protocol client's query string.
        query: Option<String>,
    },
    /// `DISCONNECT`: leave a namespace.
    Disconnect {
        /// The namespace.
        ns: Cow<'static, str>,
    },
    /// `EVENT` (or `BINARY_EVENT`): an event.
    Event {
        /// The namespace.
        ns: Cow<'static, str>,
        /// The event's name.
        event: EventName,
        /// The arguments after the name.
        payload: Payload,
        /// The ack id, when the client asks for an answer.
        id: Option<u64>,
    },
    /// `ACK` (or `BINARY_ACK`): the answer to a server ack.
    Ack {
        /// The namespace.
        ns: Cow<'static, str>,
        /// The id of the server's emit it answers.
        id: u64,
        /// The answer's arguments.
        payload: Payload,
    },
}

/// A packet waiting for binary attachments (the JSON parser's binary packets).
#[derive(Debug)]
pub struct Partial {
    /// The packet, its payload without attachments yet.
    pub header: Incoming,
    /// How many attachments it announced.
    pub expected: usize,
    /// The attachments so far.
    pub bins: Vec<Bytes>,
    /// Their bytes so far.
    pub bytes: usize,
}

/// What a parser keeps between two messages of one connection: a packet waiting for its
/// binary attachments. One per connection; empty while no packet is waiting.
///
/// # Examples
/// ```
/// use sockeye_core::parser::{DecodeLimits, DecodeState, JsonParser, Message, Parser};
/// let mut state = DecodeState::default();
/// let limits = DecodeLimits::default();
/// let head = Message::Text(r#"51-["file",{"_placeholder":true,"num":0}]"#.into());
/// assert!(JsonParser.decode(head, &mut state, &limits).unwrap().is_none());
/// assert!(state.is_waiting());
/// let done = JsonParser.decode(Message::Binary(vec![1, 2].into()), &mut state, &limits).unwrap();
/// assert!(done.is_some() && !state.is_waiting());
/// ```
#[derive(Debug, Default)]
pub struct DecodeState {
    /// The packet waiting for its attachments.
    pub partial: Option<Box<Partial>>,
}

impl DecodeState {
    /// Whether a packet waits for more messages.
    ///
    /// # Examples
    /// ```
    /// assert!(!sockeye_core::parser::DecodeState::default().is_waiting());
    /// ```
    pub fn is_waiting(&self) -> bool {
        self.partial.is_some()
    }

    /// Forgets the waiting packet, if any (the connection is closing).
    ///
    /// # Examples
    /// ```
    /// let mut s = sockeye_core::parser::DecodeState::default();
    /// s.clear();
    /// assert!(!s.is_waiting());
    /// ```
    pub fn clear(&mut self) {
        self.partial = None;
    }
}

thread_local! {
    /// Packets are built here, then copied out at their exact size: one allocation each,
    /// and a `Bytes` whose clones (one per broadcast recipient) share it.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's (cleared) scratch buffer.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut out) => {
            out.clear();
            let r = f(&mut out);
            if out.capacity() > 64 << 10 {
                *out = Vec::new();
            }
            r
        }
        // A `Serialize` impl that emits while being serialized.
        Err(_) => f(&mut Vec::new()),
    })
}
