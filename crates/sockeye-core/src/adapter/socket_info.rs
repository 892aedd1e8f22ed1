//! A socket as `fetch_sockets` reports it, from this server or another.

use serde::{Deserialize, Serialize};

use crate::room::Room;
use crate::value::Value;
use crate::Sid;

/// A socket as [`Adapter::fetch_sockets`](super::Adapter::fetch_sockets) reports it: what
/// crosses the cluster of a socket (Node's `RemoteSocket` data).
///
/// # Examples
/// ```
/// use sockeye_core::adapter::SocketInfo;
/// let json = r#"{"id":"hUvDDmXSf-TMuMvIAAAB","handshake":{"address":"::1","auth":{}},"rooms":["hUvDDmXSf-TMuMvIAAAB","news"],"data":{"user":"ada"}}"#;
/// let s: SocketInfo = serde_json::from_str(json).unwrap();
/// assert_eq!(s.rooms.len(), 2);
/// assert_eq!(s.handshake.address, "::1");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SocketInfo {
    /// The socket's id.
    pub id: Sid,
    /// What its client's handshake carried.
    #[serde(default)]
    pub handshake: HandshakeInfo,
    /// Its rooms (its own id among them).
    #[serde(default)]
    pub rooms: Vec<Room>,
    /// The application's data on it (Node's `socket.data`).
    #[serde(default)]
    pub data: Value,
}

impl SocketInfo {
    /// A socket's description.
    pub fn new(id: Sid, handshake: HandshakeInfo, rooms: Vec<Room>, data: Value) -> SocketInfo {
        SocketInfo {
            id,
            handshake,
            rooms,
            data,
        }
    }
}

/// A client's handshake as it crosses the cluster: the fields of Node's `socket.handshake`.
///
/// # Examples
/// ```
/// use sockeye_core::adapter::HandshakeInfo;
/// let h = HandshakeInfo { address: "127.0.0.1".into(), ..Default::default() };
/// assert_eq!(h.address, "127.0.0.1");
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HandshakeInfo {
    /// The handshake request's headers, names in lowercase (an object of strings).
    pub headers: Value,
    /// When it happened, as JavaScript's `Date.prototype.toString` writes it.
    pub time: String,
    /// The client's address.
    pub address: String,
    /// Whether the request came from another origin (it had an `Origin` header).
    pub xdomain: bool,
    /// Whether the connection was encrypted.
    pub secure: bool,
    /// When it happened, in milliseconds since the Unix epoch.
    pub issued: i64,
    /// The request's URL (path and query).
    pub url: String,
    /// The query of the URL (an object of strings).
    pub query: Value,
    /// The auth payload of the namespace connect.
    pub auth: Value,
}
