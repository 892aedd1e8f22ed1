//! Namespaces.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use sockeye_engineio::Sid;

use crate::adapter::Adapter;
use crate::client::Conn;
use crate::handler::{
    box_middleware, BoxedConnectHandler, BoxedMiddleware, ConnectParts, Middleware,
};
use crate::io::IoInner;
use crate::operators::BroadcastOperator;
use crate::parser;
use crate::socket::{Socket, SocketRef};

/// The sockets connected to a namespace, and the list of them all while it holds.
#[derive(Default)]
struct Members {
    map: HashMap<Sid, SocketRef>,
    all: Option<Arc<[SocketRef]>>,
}

impl Members {
    fn insert(&mut self, socket: SocketRef) {
        self.map.insert(socket.id(), socket);
        self.all = None;
    }

    fn remove(&mut self, sid: Sid) {
        if self.map.remove(&sid).is_some() {
            self.all = None;
        }
    }
}

impl std::ops::Deref for Members {
    type Target = HashMap<Sid, SocketRef>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

/// A namespace: its sockets, its adapter (rooms), its connect handler and middlewares.
pub struct Namespace {
    name: String,
    io: Arc<IoInner>,
    sockets: RwLock<Members>,
    pending: Mutex<HashSet<Sid>>,
    adapter: Arc<dyn Adapter>,
    handler: BoxedConnectHandler,
    middlewares: Arc<RwLock<Vec<BoxedMiddleware>>>,
    ack_ids: AtomicU64,
    dynamic: bool,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("sockets", &self.sockets.read().len())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub(crate) fn new(
        name: String,
        io: Arc<IoInner>,
        handler: BoxedConnectHandler,
        middlewares: Arc<RwLock<Vec<BoxedMiddleware>>>,
        dynamic: bool,
    ) -> Namespace {
        let adapter = (io.adapter_factory)(&name);
        Namespace {
            name,
            io,
            sockets: RwLock::new(Members::default()),
            pending: Mutex::new(HashSet::new()),
            adapter,
            handler,
            middlewares,
            ack_ids: AtomicU64::new(0),
            dynamic,
        }
    }

    /// The namespace's name, e.g. `/` or `/admin`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The adapter.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }

    pub(crate) fn io_inner(&self) -> &Arc<IoInner> {
        &self.io
    }

    /// How many sockets are connected here.
    pub fn socket_count(&self) -> usize {
        self.sockets.read().len()
    }

    /// A connected socket by id.
    pub fn get_socket(&self, sid: Sid) -> Option<SocketRef> {
        self.sockets.read().get(&sid).cloned()
    }

    /// The connected sockets with these ids.
    pub fn get_sockets(&self, sids: &[Sid]) -> Vec<SocketRef> {
        let map = self.sockets.read();
        sids.iter().filter_map(|s| map.get(s).cloned()).collect()
    }

    /// Every connected socket, shared: the list is made once after each change of the
    /// namespace's members, so a broadcast to all does not collect (and count references to)
    /// every socket each time.
    pub(crate) fn all_sockets(&self) -> Arc<[SocketRef]> {
        if let Some(all) = &self.sockets.read().all {
            return all.clone();
        }
        let mut members = self.sockets.write();
        let members = &mut *members;
        members
            .all
            .get_or_insert_with(|| members.map.values().cloned().collect())
            .clone()
    }

    /// The connected sockets whose id passes `keep`.
    pub fn local_sockets(&self, keep: impl Fn(&Sid) -> bool) -> Vec<SocketRef> {
        self.sockets
            .read()
            .iter()
            .filter(|(sid, _)| keep(sid))
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// An operator over every socket of the namespace.
    pub fn operator(self: &Arc<Self>) -> BroadcastOperator {
        BroadcastOperator::new(self.clone())
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn is_pending(&self, sid: Sid) -> bool {
        self.pending.lock().contains(&sid)
    }

    /// Adds a connect middleware; they run in order, each may refuse the client.
    pub(crate) fn add_middleware<M: Middleware<T>, T>(&self, mw: M) {
        self.middlewares.write().push(box_middleware(mw));
    }

    pub(crate) fn remove_socket(&self, sid: Sid) {
        self.sockets.write().remove(sid);
        self.adapter.del_all(sid);
        if self.dynamic && self.sockets.read().is_empty() && self.pending.lock().is_empty() {
            self.io.remove_child_ns(&self.name);
        }
    }

    /// A client asks to join: runs the middlewares, then connects the socket.
    pub(crate) fn connect(self: &Arc<Self>, conn: &Arc<Conn>, auth: Option<Bytes>) {
        let socket = Arc::new(Socket::new(self.clone(), conn.clone(), auth.as_ref()));
        let parts = ConnectParts { auth };
        let middlewares = self.middlewares.read().clone();
        if middlewares.is_empty() {
            self.finish_connect(socket, parts);
            return;
        }
        let sid = socket.id();
        self.pending.lock().insert(sid);
        let closed = conn.data().add_pending(&self.name);
        if conn.is_closed() {
            // Closed meanwhile: its pending list may already have been cleared.
            conn.data().remove_pending(&self.name);
        }
        let ns = self.clone();
        let conn = conn.clone();
        let fut = async move {
            let chain = async {
                for mw in middlewares {
                    mw(socket.clone(), parts.clone()).await?;
                }
                Ok::<(), crate::extract::Refusal>(())
            };
            // A middleware that never finishes is dropped when the connection closes.
            let outcome = tokio::select! {
                done = chain => Some(done),
                _ = closed => None,
            };
            ns.pending.lock().remove(&sid);
            conn.data().remove_pending(&ns.name);
            match outcome {
                Some(Ok(())) => return ns.finish_connect(socket, parts),
                Some(Err(refusal)) => {
                    ns.adapter.del_all(sid);
                    let packet = crate::client::connect_error(
                        &conn,
                        &ns.name,
                        &refusal.message,
                        refusal.data.as_ref(),
                    );
                    let _ = conn.send_text(packet);
                }
                None => ns.adapter.del_all(sid),
            }
            drop(socket);
            if ns.dynamic && ns.sockets.read().is_empty() && ns.pending.lock().is_empty() {
                ns.io.remove_child_ns(&ns.name);
            }
        };
        crate::handler::run(fut);
    }

    fn finish_connect(self: &Arc<Self>, socket: SocketRef, parts: ConnectParts) {
        let conn = socket.conn.clone();
        if conn.is_closed() {
            self.adapter.del_all(socket.id());
            return;
        }
        socket.set_connected();
        self.sockets.write().insert(socket.clone());
        conn.data().add_socket(socket.clone());
        let ack = match conn.protocol() {
            sockeye_engineio::ProtocolVersion::V3 => parser::encode_connect_v4(&self.name),
            _ => parser::encode_connect(&self.name, socket.id().as_str()),
        };
        let _ = conn.send_text(ack);
        (self.handler)(socket, parts);
    }
}
