#![doc = include_str!("../README.md")]

mod ack;
pub mod adapter;
mod client;
mod errors;
mod handler;
mod io;
pub mod metrics;
mod ns;
mod operators;
mod parser;
mod payload;
mod serve;
mod service;
mod socket;
mod static_files;

pub use ack::{AckFuture, AckSender};
pub use errors::{AckError, AdapterError, EmitError, ParseError};
pub use io::{AdapterFactory, NsHandle, SocketIo, SocketIoBuilder};
pub use ns::Namespace;
pub use operators::BroadcastOperator;
pub use parser::Encoded;
pub use payload::Payload;
pub use serve::serve;
pub use service::{NotFound, ResponseFuture, SioBody, SocketIoLayer, SocketIoService};
pub use socket::{DisconnectReason, Handshake, Socket, SocketRef, TimeoutSocket};
pub use static_files::{ClientBundle, StaticDir};

pub use sockeye_engineio::{Cors, OverflowPolicy, Sid};

/// Re-exported so that [`SocketIoLayer`] can be applied without a direct dependency.
pub use tower_layer;

/// Extractors and handler traits.
pub mod extract {
    pub use crate::handler::{
        Bin, ConnectHandler, ConnectParts, Data, DisconnectHandler, Event, ExtractError,
        FromConnectParts, FromDisconnectParts, FromMessageParts, IsAsync, IsSync, MessageHandler,
        MessageParts, Middleware, MiddlewareFuture, Refusal, State, TryData,
    };
}
