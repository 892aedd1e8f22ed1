//! A namespace's rooms on this server: which local sockets are in which room.

use std::collections::{HashMap, HashSet};

use parking_lot::RwLock;
use sockeye_core::adapter::BroadcastOptions;
use sockeye_core::{Room, Sid};

/// The socket a room name stands for: its id, or `<namespace>#<id>` (how a v4-protocol
/// client names its socket outside `/`).
pub(crate) fn own_room(ns: &str, room: &str) -> Option<Sid> {
    let id = match room.strip_prefix(ns) {
        Some(rest) => rest.strip_prefix('#').unwrap_or(room),
        None => room,
    };
    id.parse().ok()
}

#[derive(Default)]
struct Maps {
    rooms: HashMap<Room, HashSet<Sid>>,
    sids: HashMap<Sid, HashSet<Room>>,
}

/// Rooms in two maps (room to members and member to rooms), removed when empty. The room
/// named by a socket's id holds that socket without an entry in the maps (it costs nothing
/// per connection).
#[derive(Default)]
pub(crate) struct RoomIndex {
    state: RwLock<Maps>,
}

/// What [`RoomIndex::select`] found.
pub(crate) enum Selection {
    /// Every socket of the namespace.
    All,
    /// These sockets, each once.
    Some(Vec<Sid>),
    /// Every socket of the namespace whose id passes the filter (an exception list).
    AllBut(HashSet<Sid>),
}

impl RoomIndex {
    /// The local sockets `opts` selects, each once, in no particular order (`ns`: the
    /// namespace's name, for the `<namespace>#<id>` form of a socket's own room).
    pub(crate) fn select(&self, ns: &str, opts: &BroadcastOptions) -> Selection {
        if opts.is_everyone() {
            return Selection::All;
        }
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
        if opts.rooms.is_empty() {
            return Selection::AllBut(except);
        }
        let keep = |sid: &Sid| !except.contains(sid);
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
        Selection::Some(sids)
    }

    /// Adds a socket to rooms; `created` is called (under the lock) with each room that had
    /// no member before.
    pub(crate) fn add_all(&self, sid: Sid, rooms: &[Room], mut created: impl FnMut(&str)) {
        let mut st = self.state.write();
        for r in rooms {
            let members = st.rooms.entry(r.clone()).or_default();
            if members.is_empty() {
                created(r);
            }
            members.insert(sid);
            st.sids.entry(sid).or_default().insert(r.clone());
        }
    }

    /// Removes a socket from a room; `deleted` is called (under the lock) when it was the
    /// room's last member.
    pub(crate) fn del(&self, sid: Sid, room: &str, mut deleted: impl FnMut(&str)) {
        let mut st = self.state.write();
        if let Some(m) = st.rooms.get_mut(room) {
            m.remove(&sid);
            if m.is_empty() {
                st.rooms.remove(room);
                deleted(room);
            }
        }
        if let Some(rs) = st.sids.get_mut(&sid) {
            rs.remove(room);
            if rs.is_empty() {
                st.sids.remove(&sid);
            }
        }
    }

    /// Removes a socket from every room; `deleted` is called (under the lock) with each room
    /// it was the last member of.
    pub(crate) fn del_all(&self, sid: Sid, mut deleted: impl FnMut(&str)) {
        let mut st = self.state.write();
        let Some(rooms) = st.sids.remove(&sid) else {
            return;
        };
        for r in rooms {
            if let Some(m) = st.rooms.get_mut(&r) {
                m.remove(&sid);
                if m.is_empty() {
                    st.rooms.remove(&r);
                    deleted(&r);
                }
            }
        }
    }

    /// The rooms a socket is in, its own id first.
    pub(crate) fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        let mut rooms: Vec<Room> = vec![Room::Owned(sid.to_string())];
        if let Some(r) = self.state.read().sids.get(&sid) {
            rooms.extend(r.iter().cloned());
        }
        rooms
    }

    /// Every room that has a member (sockets' own rooms aside).
    pub(crate) fn rooms(&self) -> Vec<Room> {
        self.state.read().rooms.keys().cloned().collect()
    }

    /// How many rooms have a member (sockets' own rooms aside).
    pub(crate) fn len(&self) -> usize {
        self.state.read().rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(rooms: &[&'static str], except: &[&'static str]) -> BroadcastOptions {
        let mut o = BroadcastOptions::default();
        o.rooms.extend(rooms.iter().map(|r| Room::Borrowed(r)));
        o.except.extend(except.iter().map(|r| Room::Borrowed(r)));
        o
    }

    fn some(s: Selection) -> HashSet<Sid> {
        match s {
            Selection::Some(v) => v.into_iter().collect(),
            _ => panic!("not a list"),
        }
    }

    #[test]
    fn selects_rooms_minus_exceptions_and_own_rooms() {
        let idx = RoomIndex::default();
        let (a, b, c) = (Sid::new(), Sid::new(), Sid::new());
        let mut created = Vec::new();
        idx.add_all(a, &["x".into(), "y".into()], |r| created.push(r.to_owned()));
        idx.add_all(b, &["x".into()], |r| created.push(r.to_owned()));
        idx.add_all(c, &["y".into()], |r| created.push(r.to_owned()));
        created.sort();
        assert_eq!(created, ["x", "y"]);
        assert_eq!(some(idx.select("/", &opts(&["x"], &[]))), [a, b].into());
        assert_eq!(
            some(idx.select("/", &opts(&["x", "y"], &["x"]))),
            [c].into()
        );
        let own: &'static str = Box::leak(a.to_string().into_boxed_str());
        assert_eq!(some(idx.select("/", &opts(&["y"], &[own]))), [c].into());
        let ns_own: &'static str = Box::leak(format!("/n#{b}").into_boxed_str());
        assert_eq!(some(idx.select("/n", &opts(&[ns_own], &[]))), [b].into());
        match idx.select("/", &opts(&[], &["y"])) {
            Selection::AllBut(ex) => assert_eq!(ex, [a, c].into()),
            _ => panic!(),
        }
        assert!(matches!(idx.select("/", &opts(&[], &[])), Selection::All));
        let mut deleted = Vec::new();
        idx.del_all(a, |r| deleted.push(r.to_owned()));
        assert!(deleted.is_empty());
        idx.del(b, "x", |r| deleted.push(r.to_owned()));
        assert_eq!(deleted, ["x"]);
        assert_eq!(idx.rooms(), vec![Room::from("y")]);
        assert_eq!(idx.socket_rooms(c).len(), 2);
    }
}
