//! Static files: the official client bundle, and a folder of pages.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;

/// The file names served from the bundle folder: nothing else is ever served from it.
const BUNDLE_FILES: [&str; 6] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
];

struct File {
    body: Bytes,
    etag: HeaderValue,
    content_type: &'static str,
}

/// The official client bundle (`socket.io-client`'s `dist` folder), held in memory and served
/// under the endpoint path (`/socket.io/socket.io.js`, `/socket.io/socket.io.min.js`, ...)
/// with an ETag, like Node's `serveClient`.
///
/// # Examples
/// ```no_run
/// let bundle = sockeye::ClientBundle::from_dir("node_modules/socket.io-client/dist").unwrap();
/// let (layer, io) = sockeye::SocketIo::builder().serve_client(bundle).build_layer();
/// # let _ = (layer, io);
/// ```
#[derive(Clone)]
pub struct ClientBundle {
    files: Arc<HashMap<&'static str, File>>,
}

impl std::fmt::Debug for ClientBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBundle")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn etag_of(data: &[u8]) -> HeaderValue {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    HeaderValue::from_str(&format!("\"{:016x}\"", h.finish()))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

impl ClientBundle {
    /// Loads the bundle files found in `dir` (at least `socket.io.js` or
    /// `socket.io.min.js`).
    ///
    /// # Examples
    /// ```
    /// match sockeye::ClientBundle::from_dir("node_modules/socket.io-client/dist") {
    ///     Ok(bundle) => println!("serving {:?}", bundle.file_names()),
    ///     Err(e) => println!("no client bundle: {e}"),
    /// }
    /// ```
    ///
    /// # Errors
    /// When neither file can be read.
    pub fn from_dir(dir: impl AsRef<Path>) -> std::io::Result<ClientBundle> {
        let mut files = HashMap::new();
        for name in BUNDLE_FILES {
            if let Ok(body) = std::fs::read(dir.as_ref().join(name)) {
                let content_type = if name.ends_with(".map") {
                    "application/json"
                } else {
                    "application/javascript; charset=utf-8"
                };
                files.insert(
                    name,
                    File {
                        etag: etag_of(&body),
                        body: Bytes::from(body),
                        content_type,
                    },
                );
            }
        }
        if !files.contains_key("socket.io.js") && !files.contains_key("socket.io.min.js") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no socket.io.js in {}", dir.as_ref().display()),
            ));
        }
        Ok(ClientBundle {
            files: Arc::new(files),
        })
    }

    /// Which files were loaded.
    ///
    /// # Examples
    /// ```
    /// # fn f(bundle: sockeye::ClientBundle) {
    /// assert!(bundle.file_names().contains(&"socket.io.js"));
    /// # }
    /// ```
    pub fn file_names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.files.keys().copied().collect();
        v.sort_unstable();
        v
    }

    pub(crate) fn respond<B>(&self, name: &str, req: &Request<B>) -> Option<Response<Full<Bytes>>> {
        let file = self.files.get(name)?;
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return None;
        }
        let fresh = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v == file.etag);
        let mut res = if fresh {
            let mut r = Response::new(Full::default());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else if req.method() == Method::HEAD {
            Response::new(Full::default())
        } else {
            Response::new(Full::new(file.body.clone()))
        };
        let h = res.headers_mut();
        h.insert(header::ETAG, file.etag.clone());
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=0"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        );
        Some(res)
    }
}

/// A tower service that serves the files of a folder (GET and HEAD), `index.html` for
/// folders, 404 for anything else. Paths that leave the folder are refused.
///
/// # Examples
/// ```
/// let svc = sockeye::StaticDir::new("public");
/// let (layer, io) = sockeye::SocketIo::new_layer();
/// let app = tower_layer::Layer::layer(&layer, svc);
/// # let _ = (app, io);
/// ```
#[derive(Debug, Clone)]
pub struct StaticDir {
    root: Arc<PathBuf>,
}

impl StaticDir {
    /// Serves `root`.
    ///
    /// # Examples
    /// ```
    /// let pages = sockeye::StaticDir::new("public");
    /// # let _ = pages;
    /// ```
    pub fn new(root: impl Into<PathBuf>) -> StaticDir {
        StaticDir {
            root: Arc::new(root.into()),
        }
    }

    fn resolve(&self, path: &str) -> Option<PathBuf> {
        let decoded = percent_decode_path(path)?;
        let mut out = (*self.root).clone();
        for c in Path::new(decoded.trim_start_matches('/')).components() {
            match c {
                Component::Normal(p) => out.push(p),
                Component::CurDir => {}
                _ => return None,
            }
        }
        if out.is_dir() {
            out.push("index.html");
        }
        Some(out)
    }
}

fn percent_decode_path(path: &str) -> Option<String> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
            if v == 0 {
                return None;
            }
            out.push(v);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") | Some("htm") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "application/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") | Some("map") => "application/json",
        Some("png") => "image/png",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        code.canonical_reason().unwrap_or("error"),
    )));
    *r.status_mut() = code;
    r
}

impl<B> tower_service::Service<Request<B>> for StaticDir {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let head = req.method() == Method::HEAD;
        if req.method() != Method::GET && !head {
            return Box::pin(std::future::ready(Ok(status(
                StatusCode::METHOD_NOT_ALLOWED,
            ))));
        }
        let path = self.resolve(req.uri().path());
        Box::pin(async move {
            let Some(path) = path else {
                return Ok(status(StatusCode::NOT_FOUND));
            };
            match tokio::fs::read(&path).await {
                Ok(body) => {
                    let len = body.len();
                    let mut res = Response::new(if head {
                        Full::default()
                    } else {
                        Full::new(Bytes::from(body))
                    });
                    res.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(content_type(&path)),
                    );
                    res.headers_mut()
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                    Ok(res)
                }
                Err(_) => Ok(status(StatusCode::NOT_FOUND)),
            }
        })
    }
}
