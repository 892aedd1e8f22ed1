//! The server side of the official Socket.IO admin UI (`@socket.io/admin-ui` 0.5), feature
//! `admin-ui`: Node's `instrument(io, { auth, readonly, namespaceName, serverId, mode })`.
//!
//! [`instrument`] adds a namespace (`/admin` by default) that the admin UI (hosted at
//! <https://admin.socket.io>, or its own files served by you: the npm package's `ui/dist`)
//! connects to, and speaks its protocol there:
//!
//! - **Authentication**: basic, with a bcrypt hash of the password ([`AdminAuth::basic`]); a
//!   client with wrong credentials gets a `connect_error` "invalid credentials", as in Node.
//!   A client that logged in gets a session id (`session`) with which it may reconnect
//!   without the password. [`AdminAuth::None`] turns authentication off, explicitly.
//! - **`config`**: the features the UI may use (its buttons): emit, join, leave and
//!   disconnect, unless [`AdminOptions::readonly`].
//! - **`server_stats`** every 2 seconds, to every admin client of every server: `serverId`,
//!   `hostname`, `pid`, `uptime`, `clientsCount`, `pollingClientsCount`, the namespaces with
//!   their socket counts, and the aggregated events of the dashboard's charts (connections,
//!   disconnections by reason, messages and bytes in and out).
//! - In [`AdminMode::Development`] (the default, as Node's unless `NODE_ENV` is set): the
//!   list of every socket of every namespace on every server (`all_sockets`, with its
//!   handshake, rooms and data) when an admin client connects, then each change as it
//!   happens: `socket_connected`, `socket_updated` (its data set, its transport upgraded),
//!   `socket_disconnected`, `room_joined`, `room_left`, and each event received from or sent
//!   to a client (`event_received`, `event_sent`).
//! - **Commands** from the UI: `emit` (nsp, room or none, event, args…), `join` and `leave`
//!   (nsp, room, room or socket id to select), `_disconnect` (nsp, close, room or socket id),
//!   done through the namespace's adapter, so on every server.
//!
//! ```
//! # async fn run() -> Result<(), sockeye::admin::AdminError> {
//! use sockeye::admin::{instrument, AdminAuth, AdminOptions};
//! let (layer, io) = sockeye::SocketIo::new_layer();
//! // A bcrypt hash of the password, made once (here of "changeit", e.g. with `htpasswd -nbBC 10 "" changeit`):
//! let hash = "$2a$10$1Za/4tgsbP5p22OPaKiWtexQOC0vwZAj11WRcFjmaXgCt4.t1h/Vi";
//! instrument(&io, AdminOptions::new(AdminAuth::basic("admin", hash)?).readonly(true))?;
//! # let _ = layer; Ok(()) }
//! ```
//!
//! # What differs from Node
//! - Node puts `{_admin: {clientId, transport}}` into each socket's `data` (and leaves it out
//!   of what the UI shows); so does Sockeye, in development mode, when the data is an object
//!   (it is `{}` until the application sets it), so that the admin UI of any node of a mixed
//!   cluster can show another node's sockets. [`crate::Socket::set_data`] replaces the whole
//!   value, as assigning `socket.data` does in Node, and drops it too; the UI then shows that
//!   socket of another server without its client id and transport.
//! - Node reports `socket_updated` when a property of `socket.data` is set (it wraps the
//!   object in a proxy), and not when `socket.data` is assigned; Sockeye reports each
//!   [`crate::Socket::set_data`].
//! - A transport upgrade is reported at the next statistics tick (within 2 seconds), not at
//!   once.
//! - A command for a namespace that does not exist does nothing (Node's `io.of(nsp)` would
//!   create it); an `emit` of a reserved event name (`connect`, `disconnect`, ...) does
//!   nothing.
//! - Sessions (the ids a logged-in UI reconnects with) are kept in memory on the server that
//!   made them, at most 1,000 of them (the oldest go first), each for 24 hours. Node's
//!   default store keeps them forever; its Redis store (`RedisStore`) is not implemented.
//! - The aggregated message and byte counts are of Socket.IO packets (each attachment a
//!   packet of its own); Node counts Engine.IO packets that carry data. Broadcasts with acks
//!   are not counted.
//! - `uptime` is the number of seconds since [`instrument`] was first called in the process.

mod auth;
mod commands;
mod observer;
mod serialize;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use crate::SocketIo;

pub use auth::{AdminAuth, BasicAuth};

/// The name of the admin namespace unless [`AdminOptions::namespace`] says otherwise.
pub const DEFAULT_NAMESPACE: &str = "/admin";

/// How often `server_stats` is sent (Node's interval).
const STATS_INTERVAL: Duration = Duration::from_secs(2);

/// What the admin namespace sends: all of it, or the statistics only.
///
/// # Examples
/// ```
/// use sockeye::admin::AdminMode;
/// assert_eq!(AdminMode::default(), AdminMode::Development);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AdminMode {
    /// Every socket and room, each change and each event (Node's `mode: "development"`,
    /// its default).
    #[default]
    Development,
    /// The statistics and aggregated events only, for a busy server (Node's
    /// `mode: "production"`): no socket list, no per-event messages.
    Production,
}

/// The options of [`instrument`] (Node's `instrument(io, opts)`).
///
/// # Examples
/// ```
/// use sockeye::admin::{AdminAuth, AdminMode, AdminOptions};
/// let opts = AdminOptions::new(AdminAuth::None)
///     .namespace("/ops")
///     .readonly(true)
///     .server_id("eu-1")
///     .mode(AdminMode::Production);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AdminOptions {
    auth: AdminAuth,
    namespace: String,
    readonly: bool,
    server_id: Option<String>,
    mode: AdminMode,
}

impl AdminOptions {
    /// The options with `auth` (which must be given, as in Node, where `auth: false` is
    /// explicit), namespace `/admin`, commands allowed, the host name as the server's id,
    /// development mode.
    ///
    /// # Examples
    /// ```
    /// # fn f() -> Result<(), sockeye::admin::AdminError> {
    /// use sockeye::admin::{AdminAuth, AdminOptions};
    /// let hash = "$2a$10$1Za/4tgsbP5p22OPaKiWtexQOC0vwZAj11WRcFjmaXgCt4.t1h/Vi";
    /// let opts = AdminOptions::new(AdminAuth::basic("admin", hash)?);
    /// # let _ = opts; Ok(()) }
    /// ```
    pub fn new(auth: AdminAuth) -> AdminOptions {
        AdminOptions {
            auth,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            readonly: false,
            server_id: None,
            mode: AdminMode::Development,
        }
    }

    /// The admin namespace's name (Node's `namespaceName`; default `/admin`).
    ///
    /// # Examples
    /// ```
    /// # use sockeye::admin::{AdminAuth, AdminOptions};
    /// let opts = AdminOptions::new(AdminAuth::None).namespace("/ops");
    /// # let _ = opts;
    /// ```
    pub fn namespace(mut self, name: impl Into<String>) -> AdminOptions {
        self.namespace = name.into();
        self
    }

    /// Read-only: the UI can look but not act (no emit, join, leave or disconnect; Node's
    /// `readonly`, default false).
    ///
    /// # Examples
    /// ```
    /// # use sockeye::admin::{AdminAuth, AdminOptions};
    /// let opts = AdminOptions::new(AdminAuth::None).readonly(true);
    /// # let _ = opts;
    /// ```
    pub fn readonly(mut self, readonly: bool) -> AdminOptions {
        self.readonly = readonly;
        self
    }

    /// The server's id in the UI's server list (Node's `serverId`; default: the host name).
    /// Give each server of a cluster its own when several run on one host.
    ///
    /// # Examples
    /// ```
    /// # use sockeye::admin::{AdminAuth, AdminOptions};
    /// let opts = AdminOptions::new(AdminAuth::None).server_id(format!("node-{}", std::process::id()));
    /// # let _ = opts;
    /// ```
    pub fn server_id(mut self, id: impl Into<String>) -> AdminOptions {
        self.server_id = Some(id.into());
        self
    }

    /// Everything, or the statistics only (Node's `mode`; default
    /// [`AdminMode::Development`]).
    ///
    /// # Examples
    /// ```
    /// # use sockeye::admin::{AdminAuth, AdminMode, AdminOptions};
    /// let opts = AdminOptions::new(AdminAuth::None).mode(AdminMode::Production);
    /// # let _ = opts;
    /// ```
    pub fn mode(mut self, mode: AdminMode) -> AdminOptions {
        self.mode = mode;
        self
    }
}

/// Why the admin UI could not be set up.
///
/// # Examples
/// ```
/// use sockeye::admin::{AdminAuth, AdminError};
/// assert!(matches!(AdminAuth::basic("admin", "not a hash"), Err(AdminError::InvalidHash(_))));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The password is not a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`, a cost, 53
    /// characters of salt and hash).
    #[error("the password must be a valid bcrypt hash: {0}")]
    InvalidHash(String),
    /// The user name is empty.
    #[error("the user name must not be empty")]
    EmptyUsername,
    /// The namespace name does not start with `/`.
    #[error("the admin namespace `{0}` must start with `/`")]
    InvalidNamespace(String),
    /// The application already declared the namespace: the admin UI would replace its
    /// handler.
    #[error(
        "the namespace `{0}` is declared already; choose another with `AdminOptions::namespace`"
    )]
    NamespaceTaken(String),
    /// This server is instrumented already.
    #[error("this server is instrumented already")]
    AlreadyInstrumented,
    /// [`instrument`] was called outside a Tokio runtime (its statistics run on a task).
    #[error("instrument must be called within a Tokio runtime")]
    NoRuntime,
}

/// Sets up the admin UI's namespace on `io` (Node's `instrument(io, opts)`): see the
/// [module docs](self). Call it once, at start-up, within the Tokio runtime that serves
/// `io`; every namespace, declared before or after, is watched.
///
/// # Examples
/// ```
/// # async fn run() -> Result<(), sockeye::admin::AdminError> {
/// use sockeye::admin::{instrument, AdminAuth, AdminOptions};
/// let (layer, io) = sockeye::SocketIo::new_layer();
/// io.ns("/", |socket: sockeye::SocketRef| socket.join("lobby"));
/// instrument(&io, AdminOptions::new(AdminAuth::None))?;
/// # let _ = layer; Ok(()) }
/// ```
///
/// # Errors
/// [`AdminError::InvalidNamespace`] or [`AdminError::NamespaceTaken`] for the namespace,
/// [`AdminError::AlreadyInstrumented`] when called twice for one server,
/// [`AdminError::NoRuntime`] outside a Tokio runtime.
pub fn instrument(io: &SocketIo, options: AdminOptions) -> Result<(), AdminError> {
    let AdminOptions {
        auth,
        namespace,
        readonly,
        server_id,
        mode,
    } = options;
    if !namespace.starts_with('/') {
        return Err(AdminError::InvalidNamespace(namespace));
    }
    if io.inner().get_ns(&namespace).is_some() {
        return Err(AdminError::NamespaceTaken(namespace));
    }
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| AdminError::NoRuntime)?;
    let observer = Arc::new(observer::AdminObserver::new(mode));
    if !io.inner().set_observer(observer.clone()) {
        return Err(AdminError::AlreadyInstrumented);
    }
    let features = commands::features(readonly, mode);
    let handle = io.ns(
        namespace,
        commands::on_admin_connect(features, mode, readonly),
    );
    let handle = auth::install(handle, auth);
    observer.set_admin(handle.ns());
    let server_id = server_id.unwrap_or_else(stats::hostname);
    runtime.spawn(stats::run(
        Arc::downgrade(io.inner()),
        Arc::downgrade(handle.ns()),
        observer,
        server_id,
        STATS_INTERVAL,
    ));
    Ok(())
}
