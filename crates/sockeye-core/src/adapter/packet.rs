//! A broadcast's packet.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use crate::parser::{Args, Encoded, Packet, Parser};
use crate::payload::Payload;

/// The packet of a broadcast: its namespace, event and arguments (binary included), with its
/// encoded form made once, on first use, and shared by every recipient on this server.
///
/// Cloning it is cheap (a reference count). An adapter sends the event and arguments to other
/// servers in its own format ([`Payload::to_values`] gives them structured).
///
/// # Examples
/// ```
/// use sockeye_core::{adapter::BroadcastPacket, parser::{JsonParser, Message}, Payload, value::to_value};
/// let p = BroadcastPacket::new("/", "price", Payload::from_values(vec![to_value(&12.5).unwrap()]));
/// assert_eq!(p.encoded(&JsonParser).unwrap().message, Message::Text("2[\"price\",12.5]".into()));
/// ```
#[derive(Clone)]
pub struct BroadcastPacket(Arc<Inner>);

struct Inner {
    ns: String,
    event: String,
    args: Payload,
    /// The connection state recovery offset, sent as one more (last) argument.
    offset: Option<String>,
    /// The encoded form for the first parser that asked (the server's: it has one), with
    /// that parser's type.
    encoded: OnceLock<(TypeId, Encoded)>,
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
    /// let e = p.encoded(&sockeye_core::parser::JsonParser).unwrap();
    /// assert_eq!(e.message.as_bytes(), &b"2[\"price\",12.5,\"MsR7a3l\"]"[..]);
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
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::{adapter::BroadcastPacket, Payload};
    /// assert_eq!(BroadcastPacket::new("/chat", "m", Payload::default()).ns(), "/chat");
    /// ```
    pub fn ns(&self) -> &str {
        &self.0.ns
    }

    /// The event's name.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::{adapter::BroadcastPacket, Payload};
    /// assert_eq!(BroadcastPacket::new("/", "m", Payload::default()).event(), "m");
    /// ```
    pub fn event(&self) -> &str {
        &self.0.event
    }

    /// The event's arguments.
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::{adapter::BroadcastPacket, Payload};
    /// assert!(BroadcastPacket::new("/", "m", Payload::default()).args().is_empty());
    /// ```
    pub fn args(&self) -> &Payload {
        &self.0.args
    }

    /// The packet as this server's clients get it, encoded by `parser`: its arguments, then
    /// its offset when it has one. Made on the first call and kept, then shared by every
    /// recipient; a server has one parser, and a call with a parser of another type gets a
    /// fresh encoding each time (nothing breaks, but nothing is shared).
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::{adapter::BroadcastPacket, parser::JsonParser, Payload};
    /// let p = BroadcastPacket::new("/", "tick", Payload::from_args(&[1], vec![]).unwrap());
    /// let first = p.encoded(&JsonParser).unwrap();
    /// let again = p.encoded(&JsonParser).unwrap();
    /// assert!(std::ptr::eq(&*first, &*again)); // encoded once
    /// ```
    ///
    /// # Errors
    /// When the parser cannot encode the arguments (see [`Parser::encode`]).
    pub fn encoded(&self, parser: &dyn Parser) -> Result<Cow<'_, Encoded>, serde_json::Error> {
        let ty = (parser as &dyn Any).type_id();
        if let Some((kept, e)) = self.0.encoded.get() {
            return if *kept == ty {
                Ok(Cow::Borrowed(e))
            } else {
                self.encode(parser, None).map(Cow::Owned)
            };
        }
        let fresh = self.encode(parser, None)?;
        // Another thread may have made it meanwhile: either one does, they are the same.
        let _ = self.0.encoded.set((ty, fresh));
        match self.0.encoded.get() {
            Some((kept, e)) if *kept == ty => Ok(Cow::Borrowed(e)),
            _ => self.encode(parser, None).map(Cow::Owned),
        }
    }

    /// The packet with an ack id, for a broadcast with acks (each server numbers its own). A
    /// packet with an ack has no offset (its ack could not be answered after a reconnection).
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::{adapter::BroadcastPacket, parser::{JsonParser, Message}, Payload};
    /// let p = BroadcastPacket::new("/", "vote", Payload::default());
    /// assert_eq!(p.encoded_with_id(&JsonParser, 4).unwrap().message, Message::Text("24[\"vote\"]".into()));
    /// ```
    ///
    /// # Errors
    /// As [`BroadcastPacket::encoded`].
    pub fn encoded_with_id(
        &self,
        parser: &dyn Parser,
        id: u64,
    ) -> Result<Encoded, serde_json::Error> {
        self.encode(parser, Some(id))
    }

    /// About how many bytes the packet takes on the wire: its encoded size when it was
    /// encoded, else its arguments' size (for the memory bounds of what is kept).
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::{adapter::BroadcastPacket, Payload};
    /// let p = BroadcastPacket::new("/", "tick", Payload::from_args(&[12345], vec![]).unwrap());
    /// assert!(p.size_hint() >= 5);
    /// ```
    pub fn size_hint(&self) -> usize {
        if let Some((_, e)) = self.0.encoded.get() {
            return e.len();
        }
        let args = &self.0.args;
        let bins: usize = args.bins().iter().map(|b| b.len()).sum();
        let text = if args.values().is_some() {
            // Structured: about what JSON would take.
            args.values()
                .map(|v| serde_json::to_vec(v).map_or(0, |t| t.len()))
                .unwrap_or(0)
        } else {
            args.src().len()
        };
        self.0.ns.len()
            + self.0.event.len()
            + self.0.offset.as_ref().map_or(0, String::len)
            + text
            + bins
            + 8
    }

    fn encode(&self, parser: &dyn Parser, id: Option<u64>) -> Result<Encoded, serde_json::Error> {
        parser.encode(Packet::Event {
            ns: &self.0.ns,
            event: &self.0.event,
            args: Args::Payload(&self.0.args),
            id,
            offset: if id.is_some() {
                None
            } else {
                self.0.offset.as_deref()
            },
        })
    }
}
