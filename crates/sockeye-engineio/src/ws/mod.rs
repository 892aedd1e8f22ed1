//! WebSocket (RFC 6455) server-side codec, sans-IO.
//!
//! * [`validate_upgrade`] checks an HTTP/1.1 upgrade request and computes
//!   the `Sec-WebSocket-Accept` value ([`accept_key`]).
//! * [`Decoder`] turns bytes read from the client into [`Message`]s,
//!   enforcing the protocol and the [`Limits`]; a [`ProtocolError`] carries
//!   the close code to fail the connection with.
//! * [`encode_header`], [`encode_frame`] and [`encode_close`] write the
//!   server's (unmasked) frames; an [`Encoder`] writes data messages, compressed
//!   when `permessage-deflate` (RFC 7692) was agreed ([`negotiate`], [`PerMessageDeflate`]).
//!
//! No I/O happens here: the caller owns the socket and the buffers.

pub(crate) mod deflate;
pub mod frame;
pub mod handshake;

pub use deflate::{negotiate, Agreed, Encoder, ExtensionError, PerMessageDeflate};

pub use frame::{
    encode_close, encode_frame, encode_header, CloseFrame, Decoder, Limits, Message, OpCode,
    ProtocolError,
};
pub use handshake::{accept_key, validate_upgrade, HandshakeError};
