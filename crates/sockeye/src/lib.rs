#![doc = include_str!("../README.md")]

mod ack;
#[cfg(feature = "admin-ui")]
pub mod admin;
mod client;
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
pub mod __fuzz {
    use bytes::Bytes;

    use sockeye_core::parser::{self, DecodeLimits, Decoded, Incoming};

    /// Decodes one client text packet; a binary packet is completed with `attachments` made
    /// of the input's bytes, then its placeholders are checked. `Ok` when everything is valid.
    // The fuzz target asks only whether the packet is valid, not why it is not.
    #[allow(clippy::result_unit_err)]
    pub fn decode(data: Bytes, max_attachments: usize) -> Result<(), ()> {
        // The engine hands the parser text messages only, checked as UTF-8.
        std::str::from_utf8(&data).map_err(|_| ())?;
        let limits = DecodeLimits { max_attachments };
        match parser::decode(data.clone(), limits).map_err(|_| ())? {
            Decoded::Whole(_) => Ok(()),
            Decoded::Partial(p) => {
                let bins: Vec<Bytes> = (0..p.expected).map(|_| data.clone()).collect();
                let payload = match p.header {
                    Incoming::Event { payload, .. } | Incoming::Ack { payload, .. } => payload,
                    _ => return Err(()),
                };
                parser::check_placeholders(&payload.with_bins(bins)).map_err(|_| ())
            }
        }
    }

    /// Runs the JSON array skimmer and `serde_json` on the same text; panics when they
    /// disagree on whether it is a valid array or on where its elements are.
    pub fn json_array(text: &[u8]) {
        sockeye_core::__fuzz::json_array(text);
    }

    /// Decodes an event, re-encodes it from its payload and decodes that again: the event
    /// name, namespace, ack id and argument texts must survive. Panics on a mismatch.
    pub fn round_trip(data: Bytes) {
        let limits = DecodeLimits {
            max_attachments: 10,
        };
        if std::str::from_utf8(&data).is_err() {
            return;
        }
        let Ok(Decoded::Whole(Incoming::Event {
            ns,
            event,
            payload,
            id,
        })) = parser::decode(data, limits)
        else {
            return;
        };
        let name = event.into_string(payload.src());
        let again = parser::encode_event_payload(&ns, &name, &payload, id);
        match parser::decode(again.text, limits) {
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
