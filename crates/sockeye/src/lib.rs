#![doc = include_str!("../README.md")]

mod ack;
#[cfg(feature = "admin-ui")]
pub mod admin;
mod client;
mod connect_timeout;
mod errors;
mod fast_hash;
mod handler;
mod hooks;
pub mod huge_pages;
mod io;
pub mod metrics;
mod ns;
mod observe;
mod operators;
mod parent;
#[cfg(feature = "publish")]
pub mod publish;
mod rooms;
mod serve;
mod server_event;
mod service;
mod socket;
mod static_files;

pub use ack::{AckFuture, AckSender};
pub use errors::{AckError, AdapterError, EmitError, ParseError, ServerAckError};
pub use hooks::ListenerId;
pub use io::{AdapterFactory, NsHandle, SocketIo, SocketIoBuilder};
pub use ns::Namespace;
pub use operators::{BroadcastOperator, RemoteSocket};
pub use parent::{ParentNamespace, ParentOperator};
pub use serve::serve;
pub use server_event::ServerEvent;
pub use service::{NotFound, ResponseFuture, SioBody, SocketIoLayer, SocketIoService};
pub use socket::{DisconnectReason, Handshake, Socket, SocketEmitter, SocketRef};
pub use static_files::{ClientBundle, StaticDir};

pub use sockeye_core::adapter::ConnectionStateRecovery;
pub use sockeye_core::parser::Encoded;

/// The parser seam (from [`sockeye_core::parser`]): how a packet becomes bytes and back.
/// [`parser::JsonParser`] is the default; `parser::MsgpackParser` comes with the `msgpack`
/// feature. Chosen with [`SocketIoBuilder::parser`].
pub use sockeye_core::parser;
pub use sockeye_core::{value, IntoRooms, Payload, Room};
pub use sockeye_engineio::{
    ConnectionError, Cookie, Cors, HttpCompression, HttpError, OverflowPolicy, PerMessageDeflate,
    RequestRefusal, SameSite, Sid, TransportKind,
};

/// The adapter seam (from [`sockeye_core::adapter`]): how server-wide operations reach every
/// server. [`adapter::LocalAdapter`] is the default; `sockeye-redis` provides a cluster one.
pub use sockeye_core::adapter;

/// Re-exported so that [`SocketIoLayer`] can be applied without a direct dependency.
pub use tower_layer;

/// Extractors and handler traits.
///
/// [`Payload`] is an extractor too: the event's arguments as they arrived, to
/// relay unchanged. As a handler's last argument it is taken from the message; before other
/// arguments it is a clone that shares the message's bytes (its `FromMessageParts`
/// implementation says what that costs).
pub mod extract {
    pub use crate::handler::{
        Bin, ConnectHandler, ConnectParts, Data, DisconnectHandler, Event, ExtractError,
        FromConnectParts, FromDisconnectParts, FromMessageParts, IsAsync, IsSync, MessageHandler,
        MessageParts, Middleware, MiddlewareFuture, Refusal, State, TryData,
    };
    pub use crate::hooks::PacketMiddleware;
}

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`); not a public API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
// Valid or not is all a fuzz target asks.
#[allow(clippy::result_unit_err)]
pub mod __fuzz {
    use bytes::Bytes;

    use sockeye_core::parser::json::{self, Decoded};
    use sockeye_core::parser::{DecodeLimits, DecodeState, Incoming, JsonParser, Message, Parser};

    /// Decodes one client text packet; a binary packet is completed with `attachments` made
    /// of the input's bytes (placeholders checked). `Ok` when everything is valid.
    pub fn decode(data: Bytes, max_attachments: usize) -> Result<(), ()> {
        // The engine hands the parser text messages only, checked as UTF-8.
        std::str::from_utf8(&data).map_err(|_| ())?;
        let limits = DecodeLimits::new(max_attachments, usize::MAX);
        let mut state = DecodeState::default();
        let mut got = JsonParser
            .decode(Message::Text(data.clone()), &mut state, &limits)
            .map_err(|_| ())?;
        while got.is_none() {
            got = JsonParser
                .decode(Message::Binary(data.clone()), &mut state, &limits)
                .map_err(|_| ())?;
        }
        Ok(())
    }

    /// Decodes one msgpack packet as a client's binary message. When it is valid: every
    /// argument decodes on its own, and an event re-encoded from its payload carries the
    /// same arguments. Panics on a mismatch; `Ok` when the packet was valid.
    #[cfg(feature = "msgpack")]
    pub fn decode_msgpack(data: Bytes) -> Result<(), ()> {
        use sockeye_core::parser::{msgpack, Args, Incoming, Packet, Parser};
        let packet = msgpack::decode(data).map_err(|_| ())?;
        let (ns, event, payload, id) = match packet {
            Incoming::Event {
                ns,
                event,
                payload,
                id,
            } => {
                let name = event.into_string(payload.src());
                (ns, name, payload, id)
            }
            Incoming::Ack { payload, .. } => {
                payload.to_values().expect("a checked argument decodes");
                return Ok(());
            }
            Incoming::Connect { auth, .. } => {
                if let Some(auth) = auth {
                    auth.to_values().expect("a checked auth decodes");
                }
                return Ok(());
            }
            Incoming::Disconnect { .. } => return Ok(()),
        };
        let values = payload.to_values().expect("a checked argument decodes");
        let again = sockeye_core::parser::MsgpackParser
            .encode(Packet::Event {
                ns: &ns,
                event: &event,
                args: Args::Payload(&payload),
                id,
                offset: None,
            })
            .expect("a received payload encodes");
        match msgpack::decode(again.message.as_bytes().clone()) {
            Ok(Incoming::Event {
                ns: n2,
                event: e2,
                payload: p2,
                id: i2,
            }) => {
                assert_eq!((&ns, event.as_bytes(), id), (&n2, e2.bytes(p2.src()), i2));
                // Compared as encoded bytes: a NaN argument is not equal to itself.
                let again = p2.to_values().expect("decodes again");
                assert_eq!(
                    sockeye_core::value::msgpack::encode(&sockeye_core::value::Value::Array(
                        values
                    )),
                    sockeye_core::value::msgpack::encode(&sockeye_core::value::Value::Array(again)),
                );
            }
            other => panic!("re-encoded event does not decode: {other:?}"),
        }
        Ok(())
    }

    /// Whether the msgpack parser refuses `data` sent as a text message (it always must:
    /// its packets are binary).
    #[cfg(feature = "msgpack")]
    pub fn msgpack_text_refused(data: Bytes) -> bool {
        use sockeye_core::parser::MsgpackParser;
        let mut state = DecodeState::default();
        MsgpackParser
            .decode(Message::Text(data), &mut state, &DecodeLimits::default())
            .is_err()
    }

    /// Runs the msgpack value checker and decoder on the same bytes; panics when they
    /// disagree.
    #[cfg(feature = "msgpack")]
    pub fn msgpack_skip(input: &[u8]) {
        sockeye_core::__fuzz::msgpack_skip(input);
    }

    /// Runs the JSON array skimmer and `serde_json` on the same text; panics when they
    /// disagree on whether it is a valid array or on where its elements are.
    pub fn json_array(text: &[u8]) {
        sockeye_core::__fuzz::json_array(text);
    }

    /// Decodes an event, re-encodes it from its payload and decodes that again: the event
    /// name, namespace, ack id and argument texts must survive. Panics on a mismatch.
    pub fn round_trip(data: Bytes) {
        let limits = DecodeLimits::new(10, usize::MAX);
        if std::str::from_utf8(&data).is_err() {
            return;
        }
        let Ok(Decoded::Whole(Incoming::Event {
            ns,
            event,
            payload,
            id,
        })) = json::decode(data, limits)
        else {
            return;
        };
        let name = event.into_string(payload.src());
        let again = json::encode_event_payload(&ns, &name, &payload, id).expect("JSON encodes");
        match json::decode(again.message.as_bytes().clone(), limits) {
            Ok(Decoded::Whole(Incoming::Event {
                ns: n2,
                event: e2,
                payload: p2,
                id: i2,
            })) => {
                assert_eq!((ns, name.as_bytes(), id), (n2, e2.bytes(p2.src()), i2));
                assert_eq!(payload.len(), p2.len());
                for i in 0..payload.len() {
                    assert_eq!(payload.arg_text(i), p2.arg_text(i));
                }
            }
            other => panic!("re-encoded event does not decode: {other:?}"),
        }
    }
}
