//! The adapter: where rooms live and how a broadcast reaches its sockets.
//!
//! The [`Adapter`] trait receives the whole description of a broadcast (namespace, rooms,
//! exceptions, flags), so an adapter for several servers forwards one message per broadcast,
//! not one per socket. [`LocalAdapter`] keeps everything in this process; a remote adapter
//! wraps it and adds the forwarding.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use parking_lot::RwLock;
use smallvec::SmallVec;
use sockeye_engineio::Sid;

use crate::errors::AdapterError;
use crate::ns::Namespace;
use crate::parser::Encoded;
use crate::socket::SocketRef;

/// A room name.
pub type Room = Cow<'static, str>;

/// A boxed future, as adapter methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Values that name one room or several.
///
/// # Examples
/// ```
/// use sockeye::adapter::IntoRooms;
/// assert_eq!("a".into_rooms().len(), 1);
/// assert_eq!(["a", "b"].into_rooms().len(), 2);
/// assert_eq!(vec![String::from("c")].into_rooms().len(), 1);
/// ```
pub trait IntoRooms {
    /// The rooms.
    fn into_rooms(self) -> SmallVec<[Room; 2]>;
}

impl IntoRooms for &'static str {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Cow::Borrowed(self)]
    }
}
impl IntoRooms for String {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Cow::Owned(self)]
    }
}
impl IntoRooms for Room {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![self]
    }
}
impl IntoRooms for Sid {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Cow::Owned(self.to_string())]
    }
}
impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}
impl<T: IntoRooms, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

/// Who a broadcast goes to.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BroadcastOptions {
    /// The rooms (all sockets of the namespace when empty).
    pub rooms: SmallVec<[Room; 2]>,
    /// Sockets in these rooms are left out.
    pub except: SmallVec<[Room; 2]>,
    /// This socket is left out (a broadcast from a socket).
    pub except_sid: Option<Sid>,
    /// Drop the packet for a client whose queue is not empty, instead of queueing it.
    pub volatile: bool,
    /// Only this server's sockets (a remote adapter does not forward).
    pub local: bool,
}

/// A packet to broadcast, encoded once for every recipient.
#[derive(Debug, Clone)]
pub struct BroadcastPacket {
    /// The namespace.
    pub ns: String,
    /// The wire form.
    pub encoded: Encoded,
}

/// Where rooms live and how broadcasts are delivered.
///
/// Room membership is kept locally and is synchronous; the operations that may involve other
/// servers are async.
pub trait Adapter: Send + Sync + 'static {
    /// Adds a socket to rooms.
    fn add_all(&self, sid: Sid, rooms: &[Room]);
    /// Removes a socket from a room.
    fn del(&self, sid: Sid, room: &str);
    /// Removes a socket from every room.
    fn del_all(&self, sid: Sid);
    /// The rooms a socket is in.
    fn socket_rooms(&self, sid: Sid) -> Vec<Room>;
    /// Every room that has a member.
    fn rooms(&self) -> Vec<Room>;
    /// The sockets of this server that `opts` selects.
    fn local_sockets(&self, ns: &Namespace, opts: &BroadcastOptions) -> Vec<SocketRef>;
    /// Delivers a packet to the sockets `opts` selects.
    fn broadcast<'a>(
        &'a self,
        ns: &'a Namespace,
        packet: &'a BroadcastPacket,
        opts: &'a BroadcastOptions,
    ) -> BoxFuture<'a, Result<(), AdapterError>>;
    /// The ids of the sockets `opts` selects.
    fn sockets<'a>(
        &'a self,
        ns: &'a Namespace,
        opts: &'a BroadcastOptions,
    ) -> BoxFuture<'a, Result<Vec<Sid>, AdapterError>>;
    /// Makes the sockets `opts` selects join `rooms`.
    fn add_sockets<'a>(
        &'a self,
        ns: &'a Namespace,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> BoxFuture<'a, Result<(), AdapterError>>;
    /// Makes the sockets `opts` selects leave `rooms`.
    fn del_sockets<'a>(
        &'a self,
        ns: &'a Namespace,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> BoxFuture<'a, Result<(), AdapterError>>;
    /// Disconnects the sockets `opts` selects (and closes their connections when `close`).
    fn disconnect_sockets<'a>(
        &'a self,
        ns: &'a Namespace,
        opts: &'a BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'a, Result<(), AdapterError>>;
}

/// The socket a room name stands for: its id, or `<namespace>#<id>` (how a v4-protocol
/// client names its socket outside `/`).
fn own_room(ns: &Namespace, room: &str) -> Option<Sid> {
    let id = match room.strip_prefix(ns.name()) {
        Some(rest) => rest.strip_prefix('#').unwrap_or(room),
        None => room,
    };
    id.parse().ok()
}

#[derive(Default)]
struct Rooms {
    rooms: HashMap<Room, HashSet<Sid>>,
    sids: HashMap<Sid, HashSet<Room>>,
}

/// The in-process adapter: rooms in two maps (room to members and member to rooms), removed
/// when empty. The room named by a socket's id holds that socket without an entry in the
/// maps (it costs nothing per connection).
///
/// # Examples
/// ```
/// use sockeye::adapter::{Adapter, LocalAdapter};
/// use sockeye_engineio::Sid;
/// let a = LocalAdapter::new();
/// let sid = Sid::new();
/// a.add_all(sid, &["lobby".into()]);
/// assert_eq!(a.socket_rooms(sid), vec![sid.to_string(), "lobby".to_string()]);
/// a.del_all(sid);
/// assert!(a.rooms().is_empty());
/// ```
#[derive(Default)]
pub struct LocalAdapter {
    state: RwLock<Rooms>,
}

impl std::fmt::Debug for LocalAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAdapter")
            .field("rooms", &self.state.read().rooms.len())
            .finish()
    }
}

impl LocalAdapter {
    /// An empty adapter.
    pub fn new() -> LocalAdapter {
        LocalAdapter::default()
    }

    /// The local sockets `opts` selects, each once, in no particular order.
    pub fn select(&self, ns: &Namespace, opts: &BroadcastOptions) -> Vec<SocketRef> {
        let st = self.state.read();
        let mut except: HashSet<Sid> = HashSet::new();
        for r in &opts.except {
            if let Some(m) = st.rooms.get(r) {
                except.extend(m.iter().copied());
            }
            // Every socket is in the room named by its id, without an entry in the maps.
            if let Some(sid) = own_room(ns, r) {
                except.insert(sid);
            }
        }
        let keep = |sid: &Sid| Some(*sid) != opts.except_sid && !except.contains(sid);
        if opts.rooms.is_empty() {
            drop(st);
            return ns.local_sockets(keep);
        }
        let own = |r: &Room| own_room(ns, r);
        let sids: Vec<Sid> = if let [room] = &opts.rooms[..] {
            match st.rooms.get(room) {
                Some(m) => m.iter().copied().filter(keep).collect(),
                None => own(room).into_iter().filter(keep).collect(),
            }
        } else {
            let mut seen = HashSet::new();
            opts.rooms
                .iter()
                .flat_map(|r| {
                    let members = st.rooms.get(r).into_iter().flat_map(|m| m.iter().copied());
                    members.chain(own(r))
                })
                .filter(|s| keep(s) && seen.insert(*s))
                .collect()
        };
        drop(st);
        ns.get_sockets(&sids)
    }

    /// Delivers to the local sockets `opts` selects (what [`Adapter::broadcast`] does here).
    pub fn deliver(&self, ns: &Namespace, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        if opts.rooms.is_empty() && opts.except.is_empty() && opts.except_sid.is_none() {
            send_each(&ns.all_sockets(), packet, opts);
        } else {
            send_each(&self.select(ns, opts), packet, opts);
        }
    }
}

/// Sends a broadcast's packet to each of `sockets`.
fn send_each(sockets: &[SocketRef], packet: &BroadcastPacket, opts: &BroadcastOptions) {
    for (i, s) in sockets.iter().enumerate() {
        // With many sockets each one's lines are cold: start loading the Socket.IO socket
        // twice as far ahead as the session it points to, so that those loads overlap
        // instead of following one another.
        if let Some(ahead) = sockets.get(i + 2 * PREFETCH_AHEAD) {
            sockeye_engineio::prefetch(std::sync::Arc::as_ptr(ahead));
        }
        if let Some(ahead) = sockets.get(i + PREFETCH_AHEAD) {
            ahead.conn.prefetch();
        }
        if opts.volatile && s.conn.queued_bytes() > 0 {
            crate::metrics::VOLATILE_DROPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        let _ = s.send_shared(&packet.encoded);
    }
}

/// How many sockets ahead of the one it sends to a broadcast starts loading a session.
const PREFETCH_AHEAD: usize = 4;

impl Adapter for LocalAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        let mut st = self.state.write();
        for r in rooms {
            st.rooms.entry(r.clone()).or_default().insert(sid);
            st.sids.entry(sid).or_default().insert(r.clone());
        }
    }

    fn del(&self, sid: Sid, room: &str) {
        let mut st = self.state.write();
        if let Some(m) = st.rooms.get_mut(room) {
            m.remove(&sid);
            if m.is_empty() {
                st.rooms.remove(room);
            }
        }
        if let Some(rs) = st.sids.get_mut(&sid) {
            rs.remove(room);
            if rs.is_empty() {
                st.sids.remove(&sid);
            }
        }
    }

    fn del_all(&self, sid: Sid) {
        let mut st = self.state.write();
        let Some(rooms) = st.sids.remove(&sid) else {
            return;
        };
        for r in rooms {
            if let Some(m) = st.rooms.get_mut(&r) {
                m.remove(&sid);
                if m.is_empty() {
                    st.rooms.remove(&r);
                }
            }
        }
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        let mut rooms: Vec<Room> = vec![Cow::Owned(sid.to_string())];
        if let Some(r) = self.state.read().sids.get(&sid) {
            rooms.extend(r.iter().cloned());
        }
        rooms
    }

    fn rooms(&self) -> Vec<Room> {
        self.state.read().rooms.keys().cloned().collect()
    }

    fn local_sockets(&self, ns: &Namespace, opts: &BroadcastOptions) -> Vec<SocketRef> {
        self.select(ns, opts)
    }

    fn broadcast<'a>(
        &'a self,
        ns: &'a Namespace,
        packet: &'a BroadcastPacket,
        opts: &'a BroadcastOptions,
    ) -> BoxFuture<'a, Result<(), AdapterError>> {
        self.deliver(ns, packet, opts);
        Box::pin(std::future::ready(Ok(())))
    }

    fn sockets<'a>(
        &'a self,
        ns: &'a Namespace,
        opts: &'a BroadcastOptions,
    ) -> BoxFuture<'a, Result<Vec<Sid>, AdapterError>> {
        let ids = self.select(ns, opts).iter().map(|s| s.id()).collect();
        Box::pin(std::future::ready(Ok(ids)))
    }

    fn add_sockets<'a>(
        &'a self,
        ns: &'a Namespace,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> BoxFuture<'a, Result<(), AdapterError>> {
        for s in self.select(ns, opts) {
            self.add_all(s.id(), rooms);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn del_sockets<'a>(
        &'a self,
        ns: &'a Namespace,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> BoxFuture<'a, Result<(), AdapterError>> {
        for s in self.select(ns, opts) {
            for r in rooms {
                self.del(s.id(), r);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn disconnect_sockets<'a>(
        &'a self,
        ns: &'a Namespace,
        opts: &'a BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'a, Result<(), AdapterError>> {
        for s in self.select(ns, opts) {
            if close {
                s.disconnect_connection();
            } else {
                s.disconnect();
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }
}
