//! Connection state recovery: what a namespace keeps of a client whose connection dropped
//! (its session) and the broadcasts it may have missed, so that it comes back with its id,
//! rooms and data and gets every packet it missed (Node's `connectionStateRecovery`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::{BroadcastOptions, BroadcastPacket};
use crate::room::Room;
use crate::value::Value;
use crate::Sid;

/// Connection state recovery (Node's `connectionStateRecovery` option): a client whose
/// connection drops comes back, within [`max_disconnection_duration`], with its socket id,
/// rooms and data, and gets every broadcast it missed meanwhile.
///
/// Off unless set on the builder (`SocketIoBuilder::connection_state_recovery`), as in Node.
/// The defaults of the first two fields are Node's; the bounds are Sockeye's (Node keeps
/// every session and packet of the window, without a bound).
///
/// How it works (as in Node): each socket gets a private session id (`pid`) in its CONNECT
/// acknowledgement; every broadcast that may be asked for again (not volatile, without ack)
/// gets an offset as its last argument, and the namespace's adapter keeps it for the window;
/// when a connection drops for a reason that allows it (transport closed or failed, ping
/// timeout, forced close, server shutting down) the adapter keeps the socket's session; a
/// client that reconnects with `{pid, offset}` in its auth gets them back, with every kept
/// packet after its offset that its rooms would have received.
///
/// [`max_disconnection_duration`]: ConnectionStateRecovery::max_disconnection_duration
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use sockeye_core::adapter::ConnectionStateRecovery;
/// let rec = ConnectionStateRecovery::new()
///     .max_disconnection_duration(Duration::from_secs(30))
///     .skip_middlewares(false);
/// assert_eq!(rec.max_sessions, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStateRecovery {
    /// How long a session and the packets broadcast are kept after they happen. Default 2
    /// minutes (Node's). A client away longer gets a new session.
    pub max_disconnection_duration: Duration,
    /// Whether the connect middlewares are skipped for a client whose session is recovered.
    /// Default true (Node's).
    pub skip_middlewares: bool,
    /// The most sessions kept per namespace. At the bound, keeping one more drops the oldest
    /// (the client that left first, nearest to expiry); its client gets a new session when it
    /// comes back. Default 10,000.
    pub max_sessions: usize,
    /// The most broadcast packets kept per namespace. At the bound the oldest is dropped; a
    /// client whose offset was dropped gets a new session when it comes back (as when its
    /// offset is older than the window). Default 10,000 (with many broadcasts a second, this
    /// bound, not the duration, decides how long a client may stay away).
    pub max_packets: usize,
    /// The most bytes of broadcast packets kept per namespace (their encoded text and binary
    /// attachments), with the same policy as [`ConnectionStateRecovery::max_packets`].
    /// Default 16 MiB.
    pub max_packet_bytes: usize,
}

impl Default for ConnectionStateRecovery {
    fn default() -> Self {
        ConnectionStateRecovery {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_sessions: 10_000,
            max_packets: 10_000,
            max_packet_bytes: 16 << 20,
        }
    }
}

impl ConnectionStateRecovery {
    /// The defaults (2 minutes, middlewares skipped).
    ///
    /// # Examples
    /// ```
    /// use sockeye_core::adapter::ConnectionStateRecovery;
    /// assert!(ConnectionStateRecovery::new().skip_middlewares);
    /// ```
    pub fn new() -> ConnectionStateRecovery {
        ConnectionStateRecovery::default()
    }

    /// Sets [`ConnectionStateRecovery::max_disconnection_duration`].
    ///
    /// # Examples
    /// ```
    /// # use std::time::Duration;
    /// use sockeye_core::adapter::ConnectionStateRecovery;
    /// let rec = ConnectionStateRecovery::new().max_disconnection_duration(Duration::from_secs(30));
    /// # let _ = rec;
    /// ```
    #[must_use]
    pub fn max_disconnection_duration(mut self, d: Duration) -> Self {
        self.max_disconnection_duration = d;
        self
    }

    /// Sets [`ConnectionStateRecovery::skip_middlewares`].
    ///
    /// # Examples
    /// ```
    /// # use std::time::Duration;
    /// use sockeye_core::adapter::ConnectionStateRecovery;
    /// let rec = ConnectionStateRecovery::new().skip_middlewares(false);
    /// # let _ = rec;
    /// ```
    #[must_use]
    pub fn skip_middlewares(mut self, skip: bool) -> Self {
        self.skip_middlewares = skip;
        self
    }

    /// Sets [`ConnectionStateRecovery::max_sessions`] (at least 1).
    ///
    /// # Examples
    /// ```
    /// # use std::time::Duration;
    /// use sockeye_core::adapter::ConnectionStateRecovery;
    /// let rec = ConnectionStateRecovery::new().max_sessions(1_000);
    /// # let _ = rec;
    /// ```
    #[must_use]
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n.max(1);
        self
    }

    /// Sets [`ConnectionStateRecovery::max_packets`] (at least 1).
    ///
    /// # Examples
    /// ```
    /// # use std::time::Duration;
    /// use sockeye_core::adapter::ConnectionStateRecovery;
    /// let rec = ConnectionStateRecovery::new().max_packets(100_000);
    /// # let _ = rec;
    /// ```
    #[must_use]
    pub fn max_packets(mut self, n: usize) -> Self {
        self.max_packets = n.max(1);
        self
    }

    /// Sets [`ConnectionStateRecovery::max_packet_bytes`].
    ///
    /// # Examples
    /// ```
    /// # use std::time::Duration;
    /// use sockeye_core::adapter::ConnectionStateRecovery;
    /// let rec = ConnectionStateRecovery::new().max_packet_bytes(64 << 20);
    /// # let _ = rec;
    /// ```
    #[must_use]
    pub fn max_packet_bytes(mut self, bytes: usize) -> Self {
        self.max_packet_bytes = bytes;
        self
    }
}

/// What a socket leaves behind when its connection drops, to be recovered (Node's
/// `SessionToPersist`).
///
/// # Examples
/// ```
/// use sockeye_core::{adapter::Session, value::Value, Sid};
/// let sid = Sid::new();
/// let s = Session::new(sid, Sid::new(), vec![sid.to_string().into(), "news".into()], Value::Null);
/// assert_eq!(s.rooms.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The socket's id, which it gets back.
    pub sid: Sid,
    /// The private session id its client sends back (never shown to other clients).
    pub pid: Sid,
    /// Its rooms, its own id among them.
    pub rooms: Vec<Room>,
    /// The application's data on it.
    #[serde(default)]
    pub data: Value,
}

impl Session {
    /// A socket's session.
    pub fn new(sid: Sid, pid: Sid, rooms: Vec<Room>, data: Value) -> Session {
        Session {
            sid,
            pid,
            rooms,
            data,
        }
    }
}

/// A recovered session and the packets its client missed, oldest first (Node's `Session`
/// with its `missedPackets`).
///
/// # Examples
/// ```
/// use sockeye_core::{adapter::{RestoredSession, Session}, value::Value, Sid};
/// let r = RestoredSession::new(Session::new(Sid::new(), Sid::new(), vec![], Value::Null), vec![]);
/// assert!(r.missed.is_empty());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestoredSession {
    /// The session.
    pub session: Session,
    /// The packets broadcast after the client's offset that its rooms select, each with its
    /// own offset, in the order they were broadcast.
    pub missed: Vec<BroadcastPacket>,
}

impl RestoredSession {
    /// A session and the packets it missed.
    pub fn new(session: Session, missed: Vec<BroadcastPacket>) -> RestoredSession {
        RestoredSession { session, missed }
    }
}

/// Whether a packet broadcast with `opts` reaches a socket in `rooms` (Node's
/// `shouldIncludePacket`): every socket when no room was named, else a member of one of them,
/// and never a member of an excluded room.
pub(crate) fn reaches(rooms: &[Room], to: &[Room], except: &[Room]) -> bool {
    let included = to.is_empty() || rooms.iter().any(|r| to.contains(r));
    included && !rooms.iter().any(|r| except.contains(r))
}

/// The alphabet of offsets (that of Node's `yeast` ids).
const ALPHABET: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

/// An offset's text: `n` in base 64.
pub(crate) fn encode_offset(mut n: u64) -> String {
    let mut buf = [0u8; 11];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = ALPHABET[(n % 64) as usize];
        n /= 64;
        if n == 0 {
            break;
        }
    }
    String::from_utf8_lossy(&buf[i..]).into_owned()
}

/// The number an offset's text stands for; `None` for text that is not one (any string a
/// client sends: an application's own last argument, for instance).
pub(crate) fn decode_offset(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 11 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, c| {
        let d = ALPHABET.iter().position(|&a| a == c)?;
        n.checked_mul(64)?.checked_add(d as u64)
    })
}

/// A broadcast kept for clients that may come back.
struct Kept {
    id: u64,
    at: Instant,
    size: usize,
    packet: BroadcastPacket,
    to: SmallVec<[Room; 2]>,
    except: SmallVec<[Room; 2]>,
}

/// A session kept for a client that may come back.
struct Left {
    session: Session,
    at: Instant,
}

struct State {
    /// The id of the next kept packet.
    next: u64,
    /// Kept packets, oldest first (their ids increase).
    packets: VecDeque<Kept>,
    bytes: usize,
    sessions: HashMap<Sid, Left>,
    /// Sessions in the order they were kept (pid and time), for expiry and eviction; an entry
    /// whose session was kept again since is skipped.
    order: VecDeque<(Instant, Sid)>,
}

/// The sessions and packets one namespace keeps on this server, within the bounds of its
/// [`ConnectionStateRecovery`]: the work of [`LocalAdapter`](super::LocalAdapter)'s
/// `persist_session` and `restore_session`.
///
/// Expired entries are dropped whenever the store is used (a packet kept, a session kept or
/// restored): there is no timer, and nothing grows while the store is not used.
pub(crate) struct SessionStore {
    config: ConnectionStateRecovery,
    state: Mutex<State>,
}

impl SessionStore {
    pub(crate) fn new(config: ConnectionStateRecovery) -> SessionStore {
        // Offsets start from the clock, so that they rarely look like those of an earlier run
        // (whose sessions are gone anyway) or like an application's strings.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        SessionStore {
            config,
            state: Mutex::new(State {
                next: now_ms << 10,
                packets: VecDeque::new(),
                bytes: 0,
                sessions: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next packet id and its offset text. The caller keeps the packet with
    /// [`SessionStore::keep`] after delivering it, both under the namespace's delivery lock,
    /// so that ids are kept in the order clients get them.
    pub(crate) fn next_offset(&self) -> (u64, String) {
        let mut st = self.state();
        let id = st.next;
        st.next += 1;
        (id, encode_offset(id))
    }

    /// Keeps a delivered packet (with its offset) for clients that come back.
    pub(crate) fn keep(
        &self,
        id: u64,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        now: Instant,
    ) {
        let rooms: usize = opts.rooms.iter().chain(&opts.except).map(|r| r.len()).sum();
        let size = packet.size_hint() + rooms + std::mem::size_of::<Kept>();
        let mut st = self.state();
        st.packets.push_back(Kept {
            id,
            at: now,
            size,
            packet,
            to: opts.rooms,
            except: opts.except,
        });
        st.bytes += size;
        self.prune(&mut st, now);
    }

    /// Keeps a socket's session (replacing one kept with the same pid).
    pub(crate) fn persist(&self, session: Session, now: Instant) {
        let mut st = self.state();
        let pid = session.pid;
        st.order.push_back((now, pid));
        st.sessions.insert(pid, Left { session, at: now });
        self.prune(&mut st, now);
    }

    /// The session `pid` and the packets after `offset` that reach it; `None` when the
    /// session is unknown or expired, or the offset is not a kept packet's (too old, or not
    /// one of ours). As in Node's in-memory adapter, the session stays until it expires (or
    /// its socket's connection drops again and keeps a new one): a client that comes back
    /// again within the window with the same pid gets it again.
    pub(crate) fn restore(&self, pid: Sid, offset: &str, now: Instant) -> Option<RestoredSession> {
        let mut st = self.state();
        // Expired sessions go here, before the lookup.
        self.prune(&mut st, now);
        let left = st.sessions.get(&pid)?;
        let id = decode_offset(offset)?;
        let at = st.packets.binary_search_by_key(&id, |k| k.id).ok()?;
        let rooms = &left.session.rooms;
        let missed = st
            .packets
            .range(at + 1..)
            .filter(|k| reaches(rooms, &k.to, &k.except))
            .map(|k| k.packet.clone())
            .collect();
        Some(RestoredSession::new(left.session.clone(), missed))
    }

    fn expired(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) > self.config.max_disconnection_duration
    }

    /// Drops what expired, then the oldest entries past the bounds.
    fn prune(&self, st: &mut State, now: Instant) {
        let c = &self.config;
        while let Some(k) = st.packets.front() {
            let over = st.packets.len() > c.max_packets || st.bytes > c.max_packet_bytes;
            if !over && !self.expired(k.at, now) {
                break;
            }
            st.bytes -= k.size;
            st.packets.pop_front();
        }
        while let Some(&(at, pid)) = st.order.front() {
            let over = st.sessions.len() > c.max_sessions;
            if !over && !self.expired(at, now) {
                break;
            }
            st.order.pop_front();
            // Only if the entry is still the one kept then (not kept again since).
            if st.sessions.get(&pid).is_some_and(|l| l.at == at) {
                st.sessions.remove(&pid);
            }
        }
        // Entries of sessions kept again stay in `order` until they expire: compact it when
        // they outnumber the sessions (a client that keeps dropping and coming back).
        if st.order.len() > 2 * st.sessions.len() + 64 {
            let State {
                order, sessions, ..
            } = st;
            order.retain(|(at, pid)| sessions.get(pid).is_some_and(|l| l.at == *at));
        }
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize, usize) {
        let st = self.state();
        (st.sessions.len(), st.packets.len(), st.order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::to_value;
    use crate::Payload;

    fn packet(n: i64) -> BroadcastPacket {
        BroadcastPacket::new("/", "n", Payload::from_values(vec![to_value(&n).unwrap()]))
    }

    fn opts(to: &[&'static str], except: &[&'static str]) -> BroadcastOptions {
        let mut o = BroadcastOptions::default();
        o.rooms.extend(to.iter().map(|r| Room::Borrowed(r)));
        o.except.extend(except.iter().map(|r| Room::Borrowed(r)));
        o
    }

    /// Keeps a packet as the local adapter does; its offset.
    fn keep(store: &SessionStore, n: i64, o: BroadcastOptions, now: Instant) -> String {
        let (id, offset) = store.next_offset();
        let p = packet(n).with_offset(offset.clone());
        store.keep(id, p, o, now);
        offset
    }

    fn session(sid: Sid, rooms: &[&str]) -> Session {
        let mut all: Vec<Room> = vec![sid.to_string().into()];
        all.extend(rooms.iter().map(|r| Room::Owned(r.to_string())));
        Session::new(sid, Sid::new(), all, Value::Str("data".into()))
    }

    fn missed_numbers(r: &RestoredSession) -> Vec<i64> {
        r.missed
            .iter()
            .map(|p| p.args().arg::<i64>(0).unwrap())
            .collect()
    }

    #[test]
    fn offsets_round_trip_and_refuse_foreign_text() {
        for n in [0, 1, 63, 64, 4095, 1 << 40, u64::MAX] {
            assert_eq!(decode_offset(&encode_offset(n)), Some(n));
        }
        assert_eq!(encode_offset(64), "10");
        // Not offsets: other characters, too long, or past u64 (refused, not wrapped).
        for bad in ["", "hello world", "a.b", "ÿ", "zzzzzzzzzzzz", "___________"] {
            assert_eq!(decode_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn restores_rooms_data_and_the_packets_its_rooms_select_in_order() {
        let store = SessionStore::new(ConnectionStateRecovery::new());
        let t0 = Instant::now();
        let sid = Sid::new();
        let own: &'static str = Box::leak(sid.to_string().into_boxed_str());
        let last_seen = keep(&store, 0, opts(&[], &[]), t0);
        let s = session(sid, &["news"]);
        let pid = s.pid;
        store.persist(s.clone(), t0);
        keep(&store, 1, opts(&[], &[]), t0); // everyone
        keep(&store, 2, opts(&["sport"], &[]), t0); // another room
        keep(&store, 3, opts(&["news"], &[]), t0); // its room
        keep(&store, 4, opts(&["news"], &[own]), t0); // a broadcast from it
        keep(&store, 5, opts(&[own], &[]), t0); // to it alone
        keep(&store, 6, opts(&[], &["news"]), t0); // everyone but its room
        keep(&store, 7, opts(&["sport", "news"], &[]), t0);
        let r = store.restore(pid, &last_seen, t0).expect("restored");
        assert_eq!(r.session, s);
        assert_eq!(missed_numbers(&r), [1, 3, 5, 7]);
        // Each missed packet carries its own offset, last.
        let last = r.missed.last().unwrap();
        let encoded = last.encoded(&crate::parser::JsonParser).unwrap();
        let text = std::str::from_utf8(encoded.message.as_bytes())
            .unwrap()
            .to_owned();
        assert!(
            text.ends_with(&format!(",\"{}\"]", last.offset().unwrap())),
            "{text}"
        );
        // Kept until it expires, as in Node's in-memory adapter: restored again from a later
        // offset, with what came after it.
        let later = r.missed[1].offset().unwrap().to_owned();
        let again = store.restore(pid, &later, t0).expect("restored again");
        assert_eq!(missed_numbers(&again), [5, 7]);
    }

    #[test]
    fn the_latest_offset_misses_nothing_and_unknown_offsets_restore_nothing() {
        let store = SessionStore::new(ConnectionStateRecovery::new());
        let t0 = Instant::now();
        keep(&store, 1, opts(&[], &[]), t0);
        let latest = keep(&store, 2, opts(&[], &[]), t0);
        let s = session(Sid::new(), &[]);
        store.persist(s.clone(), t0);
        let r = store.restore(s.pid, &latest, t0).unwrap();
        assert!(r.missed.is_empty());
        for offset in ["nope", "", "0"] {
            let s = session(Sid::new(), &[]);
            store.persist(s.clone(), t0);
            assert!(store.restore(s.pid, offset, t0).is_none(), "{offset}");
        }
        assert!(store.restore(Sid::new(), &latest, t0).is_none());
    }

    #[test]
    fn sessions_and_packets_expire_after_the_window() {
        let window = Duration::from_secs(10);
        let store =
            SessionStore::new(ConnectionStateRecovery::new().max_disconnection_duration(window));
        let t0 = Instant::now();
        let offset = keep(&store, 1, opts(&[], &[]), t0);
        let s = session(Sid::new(), &[]);
        store.persist(s.clone(), t0);
        // Just inside the window: restored.
        assert!(store.restore(s.pid, &offset, t0 + window).is_some());
        // Just past it: gone, session and packets alike.
        let s = session(Sid::new(), &[]);
        store.persist(s.clone(), t0);
        let late = t0 + window + Duration::from_millis(1);
        assert!(store.restore(s.pid, &offset, late).is_none());
        assert_eq!(store.counts(), (0, 0, 0));
        // A session kept now, with an offset whose packet expired: not restored.
        let s = session(Sid::new(), &[]);
        store.persist(s.clone(), late);
        assert!(store.restore(s.pid, &offset, late).is_none());
    }

    #[test]
    fn at_the_packet_bound_the_oldest_packets_go() {
        let store = SessionStore::new(ConnectionStateRecovery::new().max_packets(3));
        let t0 = Instant::now();
        let first = keep(&store, 0, opts(&[], &[]), t0);
        let second = keep(&store, 1, opts(&[], &[]), t0);
        let s1 = session(Sid::new(), &[]);
        let s2 = session(Sid::new(), &[]);
        store.persist(s1.clone(), t0);
        store.persist(s2.clone(), t0);
        for n in 2..5 {
            keep(&store, n, opts(&[], &[]), t0);
        }
        assert_eq!(store.counts().1, 3);
        // The first two offsets were dropped: the client whose offset went gets nothing.
        assert!(store.restore(s1.pid, &first, t0).is_none());
        assert!(store.restore(s2.pid, &second, t0).is_none());
        let s3 = session(Sid::new(), &[]);
        store.persist(s3.clone(), t0);
        let offsets: Vec<String> = (5..8)
            .map(|n| keep(&store, n, opts(&[], &[]), t0))
            .collect();
        let r = store.restore(s3.pid, &offsets[0], t0).unwrap();
        assert_eq!(missed_numbers(&r), [6, 7]);
    }

    #[test]
    fn at_the_byte_bound_the_oldest_packets_go() {
        let one = {
            let store = SessionStore::new(ConnectionStateRecovery::new());
            keep(&store, 0, opts(&[], &[]), Instant::now());
            let bytes = store.state().bytes;
            bytes
        };
        let store =
            SessionStore::new(ConnectionStateRecovery::new().max_packet_bytes(3 * one + one / 2));
        let t0 = Instant::now();
        for n in 0..10 {
            keep(&store, n, opts(&[], &[]), t0);
        }
        let st = store.state();
        assert_eq!(st.packets.len(), 3);
        assert!(st.bytes <= 3 * one + one / 2);
        assert_eq!(
            st.packets
                .front()
                .map(|k| k.packet.args().arg::<i64>(0).unwrap()),
            Some(7)
        );
    }

    #[test]
    fn at_the_session_bound_the_oldest_session_goes() {
        let store = SessionStore::new(ConnectionStateRecovery::new().max_sessions(2));
        let t0 = Instant::now();
        let offset = keep(&store, 0, opts(&[], &[]), t0);
        let sessions: Vec<Session> = (0..3).map(|_| session(Sid::new(), &[])).collect();
        for (i, s) in sessions.iter().enumerate() {
            store.persist(s.clone(), t0 + Duration::from_millis(i as u64));
        }
        let now = t0 + Duration::from_millis(5);
        assert!(store.restore(sessions[0].pid, &offset, now).is_none());
        assert!(store.restore(sessions[1].pid, &offset, now).is_some());
        assert!(store.restore(sessions[2].pid, &offset, now).is_some());
    }

    #[test]
    fn a_client_that_keeps_coming_back_does_not_grow_the_store() {
        let store = SessionStore::new(ConnectionStateRecovery::new());
        let t0 = Instant::now();
        let mut offset = keep(&store, 0, opts(&[], &[]), t0);
        let mut s = session(Sid::new(), &["room"]);
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_micros(i);
            store.persist(s.clone(), now);
            let r = store.restore(s.pid, &offset, now).expect("restored");
            s = r.session;
            offset = keep(&store, 1, opts(&[], &[]), now);
        }
        let (sessions, packets, order) = store.counts();
        assert_eq!(sessions, 1);
        assert!(order <= 66, "{order} stale entries");
        assert!(packets <= 10_000);
    }
}
