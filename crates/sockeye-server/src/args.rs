//! Command-line flags.

use std::path::PathBuf;
use std::time::Duration;

/// The packet codec: Node's `parser` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParserChoice {
    /// `socket.io-parser` (JSON text, binary as attachments): what every client speaks.
    Json,
    /// `socket.io-msgpack-parser`: clients need it too (or the `socket.io.msgpack.min.js`
    /// bundle).
    Msgpack,
}

/// The parsed flags.
#[derive(Debug, Clone)]
pub struct Args {
    pub host: String,
    pub port: u16,
    pub static_dir: Option<PathBuf>,
    pub client_dir: Option<PathBuf>,
    pub no_client: bool,
    pub eio3: bool,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub max_payload: usize,
    pub parser: ParserChoice,
    /// Connection state recovery's window, when on.
    pub recovery: Option<Duration>,
    pub cors: Vec<String>,
    /// The Redis server of the cluster, when joining one.
    pub redis: Option<String>,
    /// The channel prefix of the cluster's Redis messages.
    pub redis_key: Option<String>,
    pub workers: Option<usize>,
    pub log_level: tracing::Level,
    /// WebSocket `permessage-deflate`, when on.
    pub per_message_deflate: Option<sockeye::PerMessageDeflate>,
    /// gzip/deflate polling responses, when on.
    pub http_compression: Option<sockeye::HttpCompression>,
    /// Where to serve `/metrics`, when asked.
    pub metrics: Option<std::net::SocketAddr>,
    pub log_format: crate::logging::Format,
    /// The admin UI's namespace and files, when asked for.
    pub admin: Option<AdminArgs>,
    /// The publish endpoint, when asked for.
    pub publish: Option<PublishArgs>,
}

/// `--admin-ui` and its companions.
#[derive(Clone)]
pub struct AdminArgs {
    /// `SOCKEYE_ADMIN_USER` and `SOCKEYE_ADMIN_PASSWORD_HASH`; `None` with
    /// `--admin-ui-no-auth`.
    pub credentials: Option<(String, String)>,
    pub readonly: bool,
    /// Where the UI's files are (`@socket.io/admin-ui`'s `ui/dist`).
    pub dir: Option<PathBuf>,
}

impl std::fmt::Debug for AdminArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminArgs")
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("readonly", &self.readonly)
            .field("dir", &self.dir)
            .finish()
    }
}

/// `--publish-token` (or its file) and its companions.
#[derive(Clone)]
pub struct PublishArgs {
    pub token: String,
    pub max_bytes: usize,
}

impl std::fmt::Debug for PublishArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishArgs")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// What to do.
pub enum Parsed {
    Run(Box<Args>),
    Exit(String),
}

pub const HELP: &str = "\
sockeye: the Socket.IO reversing echo (the python-socketio tutorial's app), in Rust

Usage: sockeye [FLAGS]

Serves a page at / and Socket.IO at /socket.io/ on one port. Every `message` event is
printed (`Socket ID: <id>` then the message) and its reverse is emitted to every client.

Flags:
  --host HOST            address to listen on                  [default: 0.0.0.0]
  --port PORT            port to listen on (also env PORT)     [default: 8080]
  --static DIR           serve this folder instead of the built-in page
  --client-dir DIR       where socket.io.js is (socket.io-client's dist folder)
                         [default: node_modules/socket.io-client/dist, then e2e/node_modules/...]
  --no-client            do not serve the client bundle (the page uses the CDN)
  --no-eio3              refuse Engine.IO v3 clients (socket.io-client 1.x/2.x),
                         which are served by default
  --ping-interval MS     heartbeat interval in milliseconds    [default: 25000]
  --ping-timeout MS      heartbeat timeout in milliseconds     [default: 20000]
  --max-payload BYTES    largest message a client may send     [default: 1000000]
  --parser PARSER        json, or msgpack (socket.io-msgpack-parser: clients must use
                         it too; the page then loads socket.io.msgpack.min.js, and
                         Engine.IO v3 clients are refused)
                                                               [default: json]
  --recovery SECONDS     connection state recovery: a client whose connection drops
                         and comes back within SECONDS gets its id, rooms and the
                         messages it missed                    [default: off]
  --cors ORIGIN          allow this origin (repeatable)        [default: same origin only]
  --redis URL            join a cluster through this Redis server (also env SOCKEYE_REDIS):
                         redis://[:password@]host[:port][/db], or rediss:// for TLS; Node
                         socket.io nodes with @socket.io/redis-adapter may share it
                                                               [default: no cluster]
  --redis-key KEY        the prefix of the cluster's Redis channels (Node's `key`)
                                                               [default: socket.io]
  --per-message-deflate[=MODE]
                         WebSocket compression (permessage-deflate) with clients that
                         offer it, from 1024-byte messages; MODE `on` (the bare flag:
                         Node's perMessageDeflate: true, context takeover both ways),
                         `no-context-takeover` (each message compressed alone both ways:
                         nothing kept per connection, a broadcast compressed once) or
                         `off`                                 [default: off]
  --http-compression MODE
                         gzip/deflate compression of polling responses by
                         Accept-Encoding: `on` (from 1024 bytes), `off`, or the
                         threshold in bytes                    [default: on]
  --workers N            runtime worker threads                [default: one per core]
  --log-level LEVEL      error, warn, info, debug or trace     [default: warn]
  --log-format FORMAT    text, or json (one JSON object a line, with the client's
                         connection and socket spans)          [default: text]
  --metrics ADDR         serve Prometheus metrics at http://ADDR/metrics, on a listener
                         of its own (e.g. 127.0.0.1:9464)      [default: off]
  -h, --help             print this help
  -V, --version          print the version

Admin UI (the official @socket.io/admin-ui, off by default):
  --admin-ui             serve its namespace /admin, with the credentials of
                         SOCKEYE_ADMIN_USER and SOCKEYE_ADMIN_PASSWORD_HASH (a bcrypt
                         hash of the password), and its page at /admin/ when its files
                         are installed (scripts/admin-ui.sh)
  --admin-ui-no-auth     no credentials: anyone who reaches the server may administer it
  --admin-ui-readonly    the UI may look, not act (no emit, join, leave, disconnect)
  --admin-ui-dir DIR     where its files are (@socket.io/admin-ui's ui/dist)
                         [default: admin-ui/node_modules/@socket.io/admin-ui/ui/dist]

Publish API (POST /publish, off by default):
  --publish-token TOKEN  accept broadcasts from requests with `Authorization: Bearer TOKEN`
                         (also env SOCKEYE_PUBLISH_TOKEN; 16 characters at least)
  --publish-token-file PATH   the same, the token read from a file
  --publish-max-bytes BYTES   largest request body               [default: 1000000]

On Linux with glibc the server runs itself again with GLIBC_TUNABLES=glibc.malloc.hugetlb=1
(its heap in transparent huge pages, cheaper with many connections) unless GLIBC_TUNABLES is
already set; set it, even empty, to keep the default allocator settings.
";

impl Args {
    /// Parses the flags (without the program name), with `PORT`, `SOCKEYE_REDIS`,
    /// `SOCKEYE_PUBLISH_TOKEN` and the admin UI's credentials from the environment.
    pub fn parse(it: impl Iterator<Item = String>) -> Result<Parsed, String> {
        Args::parse_with(it, |name| std::env::var(name).ok())
    }

    /// Parses the flags, reading the environment through `env`.
    fn parse_with(
        mut it: impl Iterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Parsed, String> {
        let port = match env("PORT").ok_or(()) {
            Ok(p) => p
                .parse()
                .map_err(|_| format!("PORT={p} is not a port number"))?,
            Err(_) => 8080,
        };
        let mut a = Args {
            host: "0.0.0.0".into(),
            port,
            static_dir: None,
            client_dir: None,
            no_client: false,
            eio3: true,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            parser: ParserChoice::Json,
            recovery: None,
            cors: Vec::new(),
            redis: env("SOCKEYE_REDIS").filter(|u| !u.is_empty()),
            redis_key: None,
            workers: None,
            log_level: tracing::Level::WARN,
            per_message_deflate: None,
            http_compression: Some(sockeye::HttpCompression::new()),
            metrics: None,
            log_format: crate::logging::Format::Text,
            admin: None,
            publish: None,
        };
        let mut admin_ui = false;
        let mut admin_no_auth = false;
        let mut admin_readonly = false;
        let mut admin_dir: Option<PathBuf> = None;
        let mut publish_token = env("SOCKEYE_PUBLISH_TOKEN").filter(|t| !t.is_empty());
        let mut publish_max_bytes: Option<usize> = None;
        while let Some(flag) = it.next() {
            let (flag, inline) = match flag.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (flag, None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
                v.parse()
                    .map_err(|_| format!("{flag}: `{v}` is not a valid number"))
            }
            match flag.as_str() {
                "-h" | "--help" => return Ok(Parsed::Exit(HELP.to_owned())),
                "-V" | "--version" => {
                    return Ok(Parsed::Exit(format!(
                        "sockeye {}\n",
                        env!("CARGO_PKG_VERSION")
                    )))
                }
                "--host" => a.host = value("--host")?,
                "--port" => a.port = num("--port", value("--port")?)?,
                "--static" => a.static_dir = Some(value("--static")?.into()),
                "--client-dir" => a.client_dir = Some(value("--client-dir")?.into()),
                "--no-client" => a.no_client = true,
                "--no-eio3" => a.eio3 = false,
                "--ping-interval" => {
                    a.ping_interval =
                        Duration::from_millis(num("--ping-interval", value("--ping-interval")?)?)
                }
                "--ping-timeout" => {
                    a.ping_timeout =
                        Duration::from_millis(num("--ping-timeout", value("--ping-timeout")?)?)
                }
                "--max-payload" => a.max_payload = num("--max-payload", value("--max-payload")?)?,
                "--parser" => {
                    a.parser = match value("--parser")?.as_str() {
                        "json" => ParserChoice::Json,
                        "msgpack" => ParserChoice::Msgpack,
                        other => return Err(format!("--parser: `{other}` is not json or msgpack")),
                    }
                }
                "--recovery" => {
                    let secs: u64 = num("--recovery", value("--recovery")?)?;
                    if secs == 0 {
                        return Err("--recovery must be at least 1 second".into());
                    }
                    a.recovery = Some(Duration::from_secs(secs));
                }
                "--cors" => a.cors.push(value("--cors")?),
                "--redis" => a.redis = Some(value("--redis")?),
                "--redis-key" => a.redis_key = Some(value("--redis-key")?),
                "--workers" => {
                    let n: usize = num("--workers", value("--workers")?)?;
                    if n == 0 {
                        return Err("--workers must be at least 1".into());
                    }
                    a.workers = Some(n);
                }
                "--log-level" => {
                    a.log_level = value("--log-level")?.parse().map_err(|_| {
                        "--log-level: use error, warn, info, debug or trace".to_owned()
                    })?
                }
                // The bare flag turns it on: only an inline value is read.
                "--per-message-deflate" => {
                    let on = sockeye::PerMessageDeflate::new();
                    a.per_message_deflate = match inline.as_deref() {
                        None | Some("on") => Some(on),
                        Some("no-context-takeover") => Some(
                            on.server_no_context_takeover(true)
                                .client_no_context_takeover(true),
                        ),
                        Some("off") => None,
                        Some(v) => {
                            return Err(format!(
                                "--per-message-deflate: `{v}`: use on, no-context-takeover or off"
                            ))
                        }
                    }
                }
                "--http-compression" => {
                    let on = sockeye::HttpCompression::new();
                    a.http_compression = match value("--http-compression")?.as_str() {
                        "on" => Some(on),
                        "off" => None,
                        v => Some(on.threshold(num("--http-compression", v.to_owned())?)),
                    }
                }
                "--admin-ui" => admin_ui = true,
                "--admin-ui-no-auth" => admin_no_auth = true,
                "--admin-ui-readonly" => admin_readonly = true,
                "--admin-ui-dir" => admin_dir = Some(value("--admin-ui-dir")?.into()),
                "--publish-token" => publish_token = Some(value("--publish-token")?),
                "--publish-token-file" => {
                    let path = value("--publish-token-file")?;
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("--publish-token-file {path}: {e}"))?;
                    publish_token = Some(text.trim().to_owned());
                }
                "--publish-max-bytes" => {
                    publish_max_bytes =
                        Some(num("--publish-max-bytes", value("--publish-max-bytes")?)?)
                }
                "--log-format" => {
                    a.log_format = match value("--log-format")?.as_str() {
                        "text" => crate::logging::Format::Text,
                        "json" => crate::logging::Format::Json,
                        other => {
                            return Err(format!("--log-format: use text or json, not `{other}`"))
                        }
                    }
                }
                "--metrics" => {
                    let v = value("--metrics")?;
                    a.metrics = Some(v.parse().map_err(|_| {
                        format!("--metrics: `{v}` is not an address like 127.0.0.1:9464")
                    })?);
                }
                other => return Err(format!("unknown flag `{other}`")),
            }
        }
        if a.redis_key.is_some() && a.redis.is_none() {
            return Err("--redis-key needs --redis URL (or SOCKEYE_REDIS)".into());
        }
        a.admin = admin_args(admin_ui, admin_no_auth, admin_readonly, admin_dir, &env)?;
        a.publish = match (publish_token, publish_max_bytes) {
            (Some(token), max) => Some(PublishArgs {
                token,
                max_bytes: max.unwrap_or(1_000_000),
            }),
            (None, Some(_)) => {
                return Err("--publish-max-bytes needs --publish-token (or its file)".into())
            }
            (None, None) => None,
        };
        if let Some(dir) = &a.static_dir {
            if !dir.is_dir() {
                return Err(format!("--static: {} is not a folder", dir.display()));
            }
        }
        Ok(Parsed::Run(Box::new(a)))
    }
}

/// The admin UI's settings: `--admin-ui` with credentials from the environment, or with
/// `--admin-ui-no-auth` explicitly; its other flags only with it.
fn admin_args(
    on: bool,
    no_auth: bool,
    readonly: bool,
    dir: Option<PathBuf>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<AdminArgs>, String> {
    if !on {
        if no_auth || readonly || dir.is_some() {
            return Err(
                "--admin-ui-no-auth, --admin-ui-readonly and --admin-ui-dir need --admin-ui".into(),
            );
        }
        return Ok(None);
    }
    let user = env("SOCKEYE_ADMIN_USER").filter(|v| !v.is_empty());
    let hash = env("SOCKEYE_ADMIN_PASSWORD_HASH").filter(|v| !v.is_empty());
    let credentials =
        match (user, hash, no_auth) {
            (Some(u), Some(h), false) => Some((u, h)),
            (None, None, true) => None,
            (_, _, true) => return Err(
                "--admin-ui-no-auth with SOCKEYE_ADMIN_USER or SOCKEYE_ADMIN_PASSWORD_HASH set: \
                        unset them, or drop --admin-ui-no-auth"
                    .into(),
            ),
            _ => {
                return Err("--admin-ui needs credentials: set SOCKEYE_ADMIN_USER and \
                        SOCKEYE_ADMIN_PASSWORD_HASH (a bcrypt hash of the password, e.g. from \
                        `htpasswd -nbBC 10 \"\" PASSWORD | cut -d: -f2`), or pass \
                        --admin-ui-no-auth to run it without any"
                    .into())
            }
        };
    Ok(Some(AdminArgs {
        credentials,
        readonly,
        dir,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Parsed, String> {
        Args::parse_with(v.iter().map(|s| s.to_string()), |_| None)
    }

    #[test]
    fn flags() {
        let Ok(Parsed::Run(a)) = parse(&[
            "--host",
            "127.0.0.1",
            "--port=9000",
            "--cors",
            "http://a.example",
        ]) else {
            panic!()
        };
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 9000));
        assert_eq!(a.cors, vec!["http://a.example"]);
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Exit(h)) if h.contains("--static")));
        assert!(parse(&["--port", "x"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--workers", "0"]).is_err());
        assert!(a.recovery.is_none(), "recovery is off by default");
        assert_eq!(a.parser, ParserChoice::Json, "JSON by default");
        let Ok(Parsed::Run(a)) = parse(&["--parser", "msgpack"]) else {
            panic!()
        };
        assert_eq!(a.parser, ParserChoice::Msgpack);
        assert!(parse(&["--parser", "cbor"]).is_err());
        assert!(parse(&["--parser"]).is_err());
        let Ok(Parsed::Run(a)) = parse(&["--recovery", "30"]) else {
            panic!()
        };
        assert_eq!(a.recovery, Some(Duration::from_secs(30)));
        assert!(parse(&["--recovery", "0"]).is_err());
        assert!(parse(&["--recovery", "-1"]).is_err());
        let Ok(Parsed::Run(a)) = parse(&["--redis", "redis://127.0.0.1:6379", "--redis-key=k"])
        else {
            panic!()
        };
        assert_eq!(a.redis.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(a.redis_key.as_deref(), Some("k"));
        assert!(parse(&["--redis-key", "k"]).is_err());
        // Compression: WebSocket off and polling on by default, as in Node.
        let Ok(Parsed::Run(a)) = parse(&[]) else {
            panic!()
        };
        assert!(a.per_message_deflate.is_none());
        assert_eq!(a.http_compression.map(|c| c.threshold), Some(1024));
        let Ok(Parsed::Run(a)) = parse(&["--per-message-deflate", "--http-compression", "off"])
        else {
            panic!()
        };
        let d = a.per_message_deflate.expect("on");
        assert!(!d.server_no_context_takeover && d.threshold == 1024);
        assert!(a.http_compression.is_none());
        let Ok(Parsed::Run(a)) = parse(&[
            "--per-message-deflate=no-context-takeover",
            "--http-compression=2048",
        ]) else {
            panic!()
        };
        let d = a.per_message_deflate.expect("on");
        assert!(d.server_no_context_takeover && d.client_no_context_takeover);
        assert_eq!(a.http_compression.map(|c| c.threshold), Some(2048));
        assert!(parse(&["--per-message-deflate=maybe"]).is_err());
        assert!(parse(&["--http-compression", "x"]).is_err());
        let env = |name: &str| (name == "SOCKEYE_REDIS").then(|| "redis://h:1".to_owned());
        let Ok(Parsed::Run(a)) =
            Args::parse_with(["--redis-key", "k"].map(String::from).into_iter(), env)
        else {
            panic!()
        };
        assert_eq!(a.redis.as_deref(), Some("redis://h:1"));
    }

    #[test]
    fn admin_ui_needs_credentials_or_an_explicit_no_auth() {
        let Ok(Parsed::Run(a)) = parse(&[]) else {
            panic!()
        };
        assert!(
            a.admin.is_none() && a.publish.is_none(),
            "both off by default"
        );
        let err = parse(&["--admin-ui"]).err().unwrap();
        assert!(err.contains("SOCKEYE_ADMIN_PASSWORD_HASH"), "{err}");
        let Ok(Parsed::Run(a)) = parse(&["--admin-ui", "--admin-ui-no-auth"]) else {
            panic!()
        };
        assert!(a.admin.unwrap().credentials.is_none());
        assert!(parse(&["--admin-ui-readonly"]).is_err());
        let env = |name: &str| match name {
            "SOCKEYE_ADMIN_USER" => Some("ops".to_owned()),
            "SOCKEYE_ADMIN_PASSWORD_HASH" => Some("$2a$10$x".to_owned()),
            _ => None,
        };
        let args = |v: &[&str]| Args::parse_with(v.iter().map(|s| s.to_string()), env);
        let Ok(Parsed::Run(a)) = args(&["--admin-ui", "--admin-ui-readonly"]) else {
            panic!()
        };
        let admin = a.admin.unwrap();
        assert_eq!(admin.credentials.as_ref().unwrap().0, "ops");
        assert!(admin.readonly);
        assert!(
            !format!("{admin:?}").contains("$2a$"),
            "the hash stays out of logs"
        );
        assert!(args(&["--admin-ui", "--admin-ui-no-auth"]).is_err());
        // Only one of the two set is no credentials.
        let half = |name: &str| (name == "SOCKEYE_ADMIN_USER").then(|| "ops".to_owned());
        assert!(Args::parse_with(["--admin-ui".to_owned()].into_iter(), half).is_err());
    }

    #[test]
    fn publish_token_from_a_flag_a_file_or_the_environment() {
        let Ok(Parsed::Run(a)) = parse(&["--publish-token", "t0123456789abcdef"]) else {
            panic!()
        };
        let p = a.publish.unwrap();
        assert_eq!(
            (p.token.as_str(), p.max_bytes),
            ("t0123456789abcdef", 1_000_000)
        );
        assert!(
            !format!("{p:?}").contains("t0123"),
            "the token stays out of logs"
        );
        let dir = std::env::temp_dir().join(format!("sockeye-token-{}", std::process::id()));
        std::fs::write(&dir, "from-a-file-0123456789\n").unwrap();
        let path = dir.display().to_string();
        let Ok(Parsed::Run(a)) = parse(&["--publish-token-file", &path, "--publish-max-bytes=64"])
        else {
            panic!()
        };
        let _ = std::fs::remove_file(&dir);
        let p = a.publish.unwrap();
        assert_eq!(
            (p.token.as_str(), p.max_bytes),
            ("from-a-file-0123456789", 64)
        );
        assert!(parse(&["--publish-token-file", "/nonexistent/token"]).is_err());
        assert!(parse(&["--publish-max-bytes", "10"]).is_err());
        let env = |name: &str| {
            (name == "SOCKEYE_PUBLISH_TOKEN").then(|| "env-token-0123456789".to_owned())
        };
        let Ok(Parsed::Run(a)) = Args::parse_with(std::iter::empty(), env) else {
            panic!()
        };
        assert_eq!(a.publish.unwrap().token, "env-token-0123456789");
    }

    #[test]
    fn metrics_and_log_format() {
        let Ok(Parsed::Run(a)) = parse(&[]) else {
            panic!()
        };
        assert_eq!(a.metrics, None, "no metrics unless asked for");
        assert_eq!(a.log_format, crate::logging::Format::Text);
        let Ok(Parsed::Run(a)) = parse(&["--metrics", "127.0.0.1:9464", "--log-format=json"])
        else {
            panic!()
        };
        assert_eq!(a.metrics, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(a.log_format, crate::logging::Format::Json);
        assert!(parse(&["--metrics", "9464"]).is_err());
        assert!(parse(&["--metrics"]).is_err());
        assert!(parse(&["--log-format", "xml"]).is_err());
    }
}
