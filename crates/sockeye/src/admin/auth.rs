//! Basic authentication of the admin UI: a user name and a bcrypt hash of the password,
//! checked by a connect middleware, and the sessions a logged-in UI reconnects with.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use subtle::ConstantTimeEq;

use crate::extract::Refusal;
use crate::{NsHandle, SocketRef};

use super::AdminError;

/// How many sessions are kept (the oldest go first).
const MAX_SESSIONS: usize = 1000;
/// How long a session is valid (the lifetime of Node's `RedisStore` sessions).
const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);
/// The message of a refused login, as Node's (the UI shows its login form again on it).
const INVALID: &str = "invalid credentials";

/// How an admin client proves who it is (Node's `auth` option).
///
/// # Examples
/// ```
/// # fn f() -> Result<(), sockeye::admin::AdminError> {
/// use sockeye::admin::AdminAuth;
/// // The hash of "changeit", made with bcrypt (cost 10).
/// let auth = AdminAuth::basic("admin", "$2a$10$1Za/4tgsbP5p22OPaKiWtexQOC0vwZAj11WRcFjmaXgCt4.t1h/Vi")?;
/// let open = AdminAuth::None; // anyone who reaches the namespace: only behind other protection
/// # let _ = (auth, open); Ok(()) }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum AdminAuth {
    /// No authentication (Node's `auth: false`): anyone who can reach the server may watch,
    /// and act unless read-only.
    None,
    /// A user name and a bcrypt hash of the password (Node's `{type: "basic", username,
    /// password}`), made with [`AdminAuth::basic`].
    Basic(BasicAuth),
}

/// The credentials of [`AdminAuth::Basic`].
///
/// # Examples
/// ```
/// # fn f() -> Result<(), sockeye::admin::AdminError> {
/// use sockeye::admin::AdminAuth;
/// let hash = "$2a$10$1Za/4tgsbP5p22OPaKiWtexQOC0vwZAj11WRcFjmaXgCt4.t1h/Vi";
/// if let AdminAuth::Basic(basic) = AdminAuth::basic("admin", hash)? {
///     assert_eq!(basic.username(), "admin");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    username: String,
    hash: String,
}

impl BasicAuth {
    /// The user name.
    ///
    /// # Examples
    /// See [`BasicAuth`].
    pub fn username(&self) -> &str {
        &self.username
    }
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminAuth::None => f.write_str("None"),
            // The hash stays out of logs.
            AdminAuth::Basic(b) => f
                .debug_struct("Basic")
                .field("username", &b.username)
                .finish_non_exhaustive(),
        }
    }
}

impl AdminAuth {
    /// Basic authentication: `username`, and `password_hash`, a bcrypt hash of the password
    /// (`$2a$`, `$2b$` or `$2y$`, as `htpasswd -nbBC 10 "" PASSWORD`, Python's `bcrypt` or
    /// Node's `bcryptjs` make it). The password itself is never given to the server.
    ///
    /// # Examples
    /// ```
    /// # fn f() -> Result<(), sockeye::admin::AdminError> {
    /// use sockeye::admin::AdminAuth;
    /// let auth = AdminAuth::basic("admin", "$2a$10$1Za/4tgsbP5p22OPaKiWtexQOC0vwZAj11WRcFjmaXgCt4.t1h/Vi")?;
    /// # let _ = auth; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`AdminError::InvalidHash`] when `password_hash` is not a bcrypt hash (as Node's
    /// `instrument` throws), [`AdminError::EmptyUsername`].
    pub fn basic(
        username: impl Into<String>,
        password_hash: impl Into<String>,
    ) -> Result<AdminAuth, AdminError> {
        let username = username.into();
        let hash = password_hash.into().trim().to_owned();
        if username.is_empty() {
            return Err(AdminError::EmptyUsername);
        }
        hash.parse::<bcrypt::HashParts>()
            .map_err(|e| AdminError::InvalidHash(e.to_string()))?;
        Ok(AdminAuth::Basic(BasicAuth { username, hash }))
    }
}

/// The sessions of logged-in admin clients: ids handed out, newest last.
#[derive(Default)]
struct Sessions {
    ids: Mutex<VecDeque<(String, Instant)>>,
}

impl Sessions {
    fn new_session(&self) -> String {
        let id = format!("{:016x}", rand::random::<u64>());
        let mut ids = self.ids.lock();
        if ids.len() >= MAX_SESSIONS {
            ids.pop_front();
        }
        ids.push_back((id.clone(), Instant::now()));
        id
    }

    fn is_valid(&self, id: &str) -> bool {
        let mut ids = self.ids.lock();
        while ids
            .front()
            .is_some_and(|(_, made)| made.elapsed() > SESSION_TTL)
        {
            ids.pop_front();
        }
        ids.iter()
            .any(|(known, _)| ct_eq(known.as_bytes(), id.as_bytes()))
    }
}

/// Adds the middleware that checks `auth` to the admin namespace (nothing for
/// [`AdminAuth::None`]).
pub(super) fn install(handle: NsHandle, auth: AdminAuth) -> NsHandle {
    let AdminAuth::Basic(basic) = auth else {
        tracing::warn!("the admin UI's namespace has no authentication");
        return handle;
    };
    let basic = Arc::new(basic);
    let sessions = Arc::new(Sessions::default());
    // bcrypt costs tens of milliseconds of CPU by design: a few at a time, off the runtime's
    // workers, so that a flood of logins cannot starve the server.
    let checks = Arc::new(tokio::sync::Semaphore::new(2));
    handle.with(move |socket: SocketRef| {
        let (basic, sessions, checks) = (basic.clone(), sessions.clone(), checks.clone());
        async move {
            let auth = &socket.handshake().auth;
            if let Some(id) = auth.get("sessionId").and_then(|v| v.as_str()) {
                if sessions.is_valid(id) {
                    return Ok(());
                }
            }
            let user = auth.get("username").and_then(|v| v.as_str());
            let password = auth.get("password").and_then(|v| v.as_str());
            let (Some(user), Some(password)) = (user, password) else {
                return Err(Refusal::new(INVALID));
            };
            if !ct_eq(user.as_bytes(), basic.username.as_bytes()) || password.len() > 1024 {
                return Err(Refusal::new(INVALID));
            }
            let Ok(_permit) = checks.acquire().await else {
                return Err(Refusal::new(INVALID));
            };
            let (password, hash) = (password.to_owned(), basic.hash.clone());
            let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or(false);
            if !matches {
                return Err(Refusal::new(INVALID));
            }
            // As Node: the session id leaves before the CONNECT acknowledgement (the client
            // hands it to its listeners once connected).
            let id = sessions.new_session();
            // In the server's parser: the admin UI may use msgpack too.
            let packet = socket.parser().encode(sockeye_core::parser::Packet::Event {
                ns: socket.ns().name(),
                event: "session",
                args: sockeye_core::parser::Args::Data(&id, sockeye_core::parser::ArgsMode::One),
                id: None,
                offset: None,
            });
            if let Ok(packet) = packet {
                socket.send_unconnected(&packet);
            }
            Ok(())
        }
    })
}

/// Whether two byte strings are equal, in time that does not depend on where they differ
/// (their lengths aside), so that a wrong guess does not tell how much of it was right.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_checked_up_front() {
        assert!(matches!(
            AdminAuth::basic("admin", "plain password"),
            Err(AdminError::InvalidHash(_))
        ));
        assert!(matches!(
            AdminAuth::basic(
                "",
                "$2a$10$1Za/4tgsbP5p22OPaKiWtexQOC0vwZAj11WRcFjmaXgCt4.t1h/Vi"
            ),
            Err(AdminError::EmptyUsername)
        ));
        let ok = AdminAuth::basic(
            "admin",
            "$2a$10$1Za/4tgsbP5p22OPaKiWtexQOC0vwZAj11WRcFjmaXgCt4.t1h/Vi\n",
        );
        assert!(matches!(ok, Ok(AdminAuth::Basic(_))));
        // The hash is not shown.
        assert!(!format!("{:?}", ok.unwrap()).contains("$2b$"));
    }

    /// The README's `htpasswd -nbBC` makes `$2y$` hashes, Node's `bcryptjs` `$2a$`/`$2b$`:
    /// the same algorithm under three names, all taken and all checked.
    #[test]
    fn every_bcrypt_prefix_is_accepted_and_verified() {
        let made = bcrypt::hash("the password", 4).expect("hash");
        assert!(made.starts_with("$2b$"), "{made}");
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let hash = format!("{prefix}{}", &made[4..]);
            let Ok(AdminAuth::Basic(basic)) = AdminAuth::basic("ops", hash.as_str()) else {
                panic!("{prefix} refused");
            };
            assert!(bcrypt::verify("the password", &basic.hash).expect("verify"));
            assert!(!bcrypt::verify("the passwore", &basic.hash).expect("verify"));
        }
    }

    #[test]
    fn sessions_are_bounded_and_checked() {
        let s = Sessions::default();
        let first = s.new_session();
        assert!(s.is_valid(&first));
        assert!(!s.is_valid("0000000000000000"));
        assert!(!s.is_valid(""));
        for _ in 0..MAX_SESSIONS {
            s.new_session();
        }
        assert_eq!(s.ids.lock().len(), MAX_SESSIONS);
        assert!(!s.is_valid(&first), "the oldest session went first");
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"admin", b"admin"));
        assert!(!ct_eq(b"admin", b"admim"));
        assert!(!ct_eq(b"admin", b"admin2"));
        assert!(ct_eq(b"", b""));
    }
}
