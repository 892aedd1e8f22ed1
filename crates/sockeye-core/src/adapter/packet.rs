//! A broadcast's packet.

use std::sync::{Arc, OnceLock};

use crate::parser::{self, Encoded};
use crate::payload::Payload;

/// The packet of a broadcast: its namespace, event and arguments (binary included), with its
/// encoded form made once, on first use, and shared by every recipient on this server.
///
/// Cloning it is cheap (a reference count). An adapter sends the event and arguments to other
/// servers in its own format ([`Payload::to_values`] gives them structured).
///
/// # Examples
/// ```
/// use sockeye_core::{adapter::BroadcastPacket, Payload, value::to_value};
/// let p = BroadcastPacket::new("/", "price", Payload::from_values(vec![to_value(&12.5).unwrap()]));
/// assert_eq!(&p.encoded().text[..], b"2[\"price\",12.5]");
/// ```
#[derive(Clone)]
pub struct BroadcastPacket(Arc<Inner>);

struct Inner {
    ns: String,
    event: String,
    args: Payload,
    encoded: OnceLock<Encoded>,
}

impl std::fmt::Debug for BroadcastPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastPacket")
            .field("ns", &self.0.ns)
            .field("event", &self.0.event)
            .field("args", &self.0.args)
            .finish()
    }
}

impl BroadcastPacket {
    /// An event packet.
    pub fn new(ns: impl Into<String>, event: impl Into<String>, args: Payload) -> BroadcastPacket {
        BroadcastPacket(Arc::new(Inner {
            ns: ns.into(),
            event: event.into(),
            args,
            encoded: OnceLock::new(),
        }))
    }

    /// The namespace.
    pub fn ns(&self) -> &str {
        &self.0.ns
    }

    /// The event's name.
    pub fn event(&self) -> &str {
        &self.0.event
    }

    /// The event's arguments.
    pub fn args(&self) -> &Payload {
        &self.0.args
    }

    /// The packet as this server's clients get it (made on first call, then shared).
    pub fn encoded(&self) -> &Encoded {
        self.0.encoded.get_or_init(|| {
            parser::encode_event_payload(&self.0.ns, &self.0.event, &self.0.args, None)
        })
    }

    /// The packet with an ack id, for a broadcast with acks (each server numbers its own).
    pub fn encoded_with_id(&self, id: u64) -> Encoded {
        parser::encode_event_payload(&self.0.ns, &self.0.event, &self.0.args, Some(id))
    }
}
