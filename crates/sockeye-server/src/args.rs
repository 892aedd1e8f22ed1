//! Command-line flags.

use std::path::PathBuf;
use std::time::Duration;

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

On Linux with glibc the server runs itself again with GLIBC_TUNABLES=glibc.malloc.hugetlb=1
(its heap in transparent huge pages, cheaper with many connections) unless GLIBC_TUNABLES is
already set; set it, even empty, to keep the default allocator settings.
";

impl Args {
    /// Parses the flags (without the program name), with `PORT` and `SOCKEYE_REDIS` from the
    /// environment.
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
        };
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
        if let Some(dir) = &a.static_dir {
            if !dir.is_dir() {
                return Err(format!("--static: {} is not a folder", dir.display()));
            }
        }
        Ok(Parsed::Run(Box::new(a)))
    }
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
