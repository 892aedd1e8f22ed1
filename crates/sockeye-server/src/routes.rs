//! What the binary serves besides Socket.IO and its page: the publish endpoint
//! (`POST /publish`) and the admin UI's files (`/admin/`), each when asked for.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use sockeye::publish::Publisher;
use sockeye::{SioBody, StaticDir};

/// Where the admin UI's page is served.
pub const ADMIN_PATH: &str = "/admin/";

/// The admin UI's files: `@socket.io/admin-ui`'s `ui/dist`, and the fonts its page would
/// otherwise load from CDNs when they are installed beside it (`@fontsource/roboto`,
/// `@mdi/font`).
pub struct AdminUi {
    dist: StaticDir,
    roboto: Option<StaticDir>,
    mdi: Option<StaticDir>,
    index: Bytes,
    /// Where the files were found, for the start-up line.
    pub found_in: PathBuf,
}

/// The CDN links of the UI's page that installed fonts replace.
const ROBOTO_CDN: &str = r#"<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto:100,300,400,500,700,900">"#;
const MDI_CDN: &str =
    "https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css";

impl AdminUi {
    /// The UI from the first folder that has its `index.html`: `explicit` when given (and
    /// then only it), else the install of `scripts/admin-ui.sh` from the current folder, then
    /// from the source tree. Err lists the folders tried.
    pub fn find(explicit: Option<&Path>) -> Result<AdminUi, Vec<PathBuf>> {
        let candidates: Vec<PathBuf> = match explicit {
            Some(dir) => vec![dir.to_owned()],
            None => vec![
                "admin-ui/node_modules/@socket.io/admin-ui/ui/dist".into(),
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../admin-ui/node_modules/@socket.io/admin-ui/ui/dist"
                )
                .into(),
            ],
        };
        for dir in &candidates {
            if let Ok(index) = std::fs::read_to_string(dir.join("index.html")) {
                return Ok(AdminUi::at(dir, index));
            }
        }
        Err(candidates)
    }

    fn at(dist: &Path, mut index: String) -> AdminUi {
        // `<node_modules>/@socket.io/admin-ui/ui/dist` -> `<node_modules>`.
        let modules = dist.ancestors().nth(4).map(Path::to_path_buf);
        let beside = |rel: &str, probe: &str| {
            let dir = modules.as_ref()?.join(rel);
            dir.join(probe).is_file().then_some(dir)
        };
        let roboto = beside("@fontsource/roboto", "400.css");
        let mdi = beside("@mdi/font", "css/materialdesignicons.min.css");
        if roboto.is_some() {
            let links: String = [100, 300, 400, 500, 700, 900]
                .iter()
                .map(|w| format!(r#"<link rel="stylesheet" href="fonts/roboto/{w}.css">"#))
                .collect();
            index = index.replace(ROBOTO_CDN, &links);
        }
        if mdi.is_some() {
            index = index.replace(MDI_CDN, "fonts/mdi/css/materialdesignicons.min.css");
        }
        AdminUi {
            dist: StaticDir::new(dist),
            roboto: roboto.map(StaticDir::new),
            mdi: mdi.map(StaticDir::new),
            index: Bytes::from(index),
            found_in: dist.to_owned(),
        }
    }

    /// Whether the page loads everything from this server (no CDN).
    pub fn self_contained(&self) -> bool {
        self.roboto.is_some() && self.mdi.is_some()
    }

    /// Answers a request under [`ADMIN_PATH`] (`rest`: the path after it).
    async fn respond(&self, method: http::Method, rest: &str) -> Response<Full<Bytes>> {
        if rest.is_empty() || rest == "index.html" {
            let mut res = Response::new(Full::new(self.index.clone()));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            return res;
        }
        let (dir, path) = if let Some(p) = rest.strip_prefix("fonts/roboto/") {
            (self.roboto.as_ref(), p)
        } else if let Some(p) = rest.strip_prefix("fonts/mdi/") {
            (self.mdi.as_ref(), p)
        } else {
            (Some(&self.dist), rest)
        };
        let Some(dir) = dir else {
            return status(StatusCode::NOT_FOUND);
        };
        let Ok(inner) = Request::builder()
            .method(method)
            .uri(format!("/{path}"))
            .body(())
        else {
            return status(StatusCode::BAD_REQUEST);
        };
        let mut dir = dir.clone();
        match tower_service::Service::call(&mut dir, inner).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        code.canonical_reason().unwrap_or("error"),
    )));
    *r.status_mut() = code;
    r
}

/// The binary's routes in front of its page (or `--static` folder): `POST /publish` when a
/// token is set, `/admin/` when the UI's files are there, the rest to `inner`.
#[derive(Clone)]
pub struct Routes<S> {
    pub publisher: Option<Publisher>,
    pub admin_ui: Option<Arc<AdminUi>>,
    pub inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for Routes<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<SioBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let path = req.uri().path();
        if let (Some(p), "/publish") = (&self.publisher, path) {
            let p = p.clone();
            return Box::pin(async move { Ok(p.handle(req).await.map(SioBody::Full)) });
        }
        if let Some(ui) = &self.admin_ui {
            if path == ADMIN_PATH.trim_end_matches('/') {
                let mut res = status(StatusCode::PERMANENT_REDIRECT);
                res.headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static(ADMIN_PATH));
                return Box::pin(std::future::ready(Ok(res.map(SioBody::Full))));
            }
            if let Some(rest) = path.strip_prefix(ADMIN_PATH) {
                let (ui, rest, method) = (ui.clone(), rest.to_owned(), req.method().clone());
                return Box::pin(
                    async move { Ok(ui.respond(method, &rest).await.map(SioBody::Full)) },
                );
            }
        }
        let fut = self.inner.call(req);
        Box::pin(async move { fut.await.map(|r| r.map(SioBody::Inner)) })
    }
}
