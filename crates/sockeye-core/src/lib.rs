//! # sockeye-core
//!
//! The seams of [Sockeye](https://docs.rs/sockeye), in one small crate that adapters and
//! other extensions depend on instead of the whole server:
//!
//! - [`adapter`]: the [`Adapter`](adapter::Adapter) trait every server-wide operation goes
//!   through (broadcasts, acks, fetching, joining, leaving and disconnecting sockets,
//!   server-to-server events), the [`LocalNamespace`](adapter::LocalNamespace) side it
//!   drives on each server, and the in-process [`LocalAdapter`](adapter::LocalAdapter);
//! - [`parser`]: how a Socket.IO packet becomes bytes and back (JSON, with binary
//!   attachments);
//! - [`Payload`]: the arguments of an event or ack, received or made; [`value::Value`]:
//!   one argument with its structure, binary included, for formats other than JSON;
//! - [`Sid`], [`Room`], [`IntoRooms`] and the shared error types.
//!
//! Nothing here does IO: it is bytes and values in, bytes and values out.
//!
//! ## Example: a broadcast's packet, structured and encoded
//! ```
//! use sockeye_core::{adapter::BroadcastPacket, value::to_value, Payload};
//! let args = Payload::from_values(vec![to_value(&("ACME", 12.5)).unwrap()]);
//! let packet = BroadcastPacket::new("/", "price", args);
//! // What this server's clients get (made once, shared by all of them):
//! assert_eq!(&packet.encoded().text[..], b"2[\"price\",[\"ACME\",12.5]]");
//! // What an adapter sends other servers, in its own format:
//! assert_eq!(packet.args().to_values().unwrap().len(), 1);
//! ```

pub mod adapter;
mod errors;
mod json;
pub mod parser;
mod payload;
mod room;
mod sid;
pub mod time;
pub mod value;

pub use errors::{AdapterError, ParseError};
pub use payload::Payload;
pub use room::{IntoRooms, Room};
pub use sid::{InvalidSid, Sid};

/// The JSON array skimmer and its reference, for the fuzz targets in `fuzz/`; not a public
/// API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz {
    /// Runs the JSON array skimmer and `serde_json` on the same text; panics when they
    /// disagree on whether it is a valid array or on where its elements are.
    pub fn json_array(text: &[u8]) {
        let ours = crate::json::array_elements(text).ok().map(|r| r.to_vec());
        let theirs = std::str::from_utf8(text)
            .ok()
            .filter(|t| t.starts_with('['))
            .and_then(crate::json::serde_reference);
        if std::str::from_utf8(text).is_ok() {
            assert_eq!(ours, theirs, "skimmer and serde_json disagree on {text:?}");
        }
    }
}
