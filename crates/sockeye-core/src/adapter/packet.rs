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
    /// The connection state recovery offset, sent as one more (last) argument.
    offset: Option<String>,
    encoded: OnceLock<Encoded>,
}

impl std::fmt::Debug for BroadcastPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastPacket")
            .field("ns", &self.0.ns)
            .field("event", &self.0.event)
            .field("args", &self.0.args)
            .field("offset", &self.0.offset)
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
            offset: None,
            encoded: OnceLock::new(),
        }))
    }

    /// The same packet with a connection state recovery offset: its clients get `offset` as
    /// one more, last, argument (socket.io-client keeps the last string argument of each event
    /// and sends it back when it reconnects). [`BroadcastPacket::args`] stay without it.
    ///
    /// The packet is changed in place when this is its only handle (the usual case: an adapter
    /// sets the offset before anything else sees the packet), copied otherwise.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::{adapter::BroadcastPacket, Payload, value::to_value};
    /// let p = BroadcastPacket::new("/", "price", Payload::from_values(vec![to_value(&12.5).unwrap()]));
    /// let p = p.with_offset("MsR7a3l");
    /// assert_eq!(p.offset(), Some("MsR7a3l"));
    /// assert_eq!(&p.encoded().text[..], b"2[\"price\",12.5,\"MsR7a3l\"]");
    /// assert_eq!(p.args().len(), 1);
    /// ```
    pub fn with_offset(mut self, offset: impl Into<String>) -> BroadcastPacket {
        let offset = Some(offset.into());
        match Arc::get_mut(&mut self.0) {
            Some(inner) => {
                inner.offset = offset;
                inner.encoded = OnceLock::new();
                self
            }
            None => BroadcastPacket(Arc::new(Inner {
                ns: self.0.ns.clone(),
                event: self.0.event.clone(),
                args: self.0.args.clone(),
                offset,
                encoded: OnceLock::new(),
            })),
        }
    }

    /// The connection state recovery offset, when the packet has one (see
    /// [`BroadcastPacket::with_offset`]).
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::{adapter::BroadcastPacket, Payload};
    /// let p = BroadcastPacket::new("/", "tick", Payload::default());
    /// assert_eq!(p.offset(), None);
    /// ```
    pub fn offset(&self) -> Option<&str> {
        self.0.offset.as_deref()
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

    /// The packet as this server's clients get it (made on first call, then shared): its
    /// arguments, then its offset when it has one.
    pub fn encoded(&self) -> &Encoded {
        self.0.encoded.get_or_init(|| match &self.0.offset {
            Some(offset) => {
                parser::encode_event_with_offset(&self.0.ns, &self.0.event, &self.0.args, offset)
            }
            None => parser::encode_event_payload(&self.0.ns, &self.0.event, &self.0.args, None),
        })
    }

    /// The packet with an ack id, for a broadcast with acks (each server numbers its own). A
    /// packet with an ack has no offset (its ack could not be answered after a reconnection).
    pub fn encoded_with_id(&self, id: u64) -> Encoded {
        parser::encode_event_payload(&self.0.ns, &self.0.event, &self.0.args, Some(id))
    }
}
