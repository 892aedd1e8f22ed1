//! The tower `Service` and `Layer`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use sockeye_engineio::Engine;

use crate::client::IoHandler;
use crate::static_files::ClientBundle;

/// The response body: the engine's own, or the inner service's.
///
/// # Examples
/// ```
/// use sockeye::{NotFound, SioBody, SocketIoService};
/// // A standalone service answers with this body type.
/// let (svc, _io): (SocketIoService<NotFound>, _) = sockeye::SocketIo::new_svc();
/// fn body_type<S: tower_service::Service<http::Request<()>, Response = http::Response<SioBody<B>>>, B>(_: &S) {}
/// # let _ = svc;
/// ```
#[derive(Debug)]
pub enum SioBody<B> {
    /// Written by Sockeye.
    Full(Full<Bytes>),
    /// Written by the inner service.
    Inner(B),
}

impl<B> Body for SioBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.get_mut() {
            SioBody::Full(b) => match Pin::new(b).poll_frame(cx) {
                Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f))),
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            SioBody::Inner(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SioBody::Full(b) => b.is_end_stream(),
            SioBody::Inner(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SioBody::Full(b) => b.size_hint(),
            SioBody::Inner(b) => b.size_hint(),
        }
    }
}

/// The inner service of a standalone server: 404 for everything.
///
/// # Examples
/// ```
/// let (svc, io) = sockeye::SocketIo::new_svc(); // a SocketIoService<NotFound>
/// # let _ = (svc, io);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> tower_service::Service<Request<B>> for NotFound {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut res = Response::new(Full::new(Bytes::from_static(b"Not Found")));
        *res.status_mut() = StatusCode::NOT_FOUND;
        std::future::ready(Ok(res))
    }
}

/// Serves Socket.IO on its path and hands every other request to the inner service.
///
/// # Examples
/// With plain hyper:
/// ```no_run
/// use hyper_util::rt::TokioIo;
/// use hyper_util::service::TowerToHyperService;
///
/// # async fn run() -> std::io::Result<()> {
/// let (svc, io) = sockeye::SocketIo::new_svc();
/// io.ns("/", |_: sockeye::SocketRef| {});
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// loop {
///     let (stream, _) = listener.accept().await?;
///     let svc = TowerToHyperService::new(svc.clone());
///     tokio::spawn(async move {
///         let _ = hyper::server::conn::http1::Builder::new()
///             .serve_connection(TokioIo::new(stream), svc)
///             .with_upgrades()
///             .await;
///     });
/// }
/// # }
/// ```
pub struct SocketIoService<S> {
    engine: Engine<IoHandler>,
    bundle: Option<ClientBundle>,
    inner: S,
}

impl<S: Clone> Clone for SocketIoService<S> {
    fn clone(&self) -> Self {
        SocketIoService {
            engine: self.engine.clone(),
            bundle: self.bundle.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S> std::fmt::Debug for SocketIoService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoService").finish_non_exhaustive()
    }
}

impl<S> SocketIoService<S> {
    pub(crate) fn new(engine: Engine<IoHandler>, bundle: Option<ClientBundle>, inner: S) -> Self {
        SocketIoService {
            engine,
            bundle,
            inner,
        }
    }

    /// Replaces the inner service.
    ///
    /// # Examples
    /// ```
    /// let (svc, io) = sockeye::SocketIo::new_svc();
    /// // Pages from a folder where Sockeye does not answer.
    /// let svc = svc.with_inner(sockeye::StaticDir::new("public"));
    /// # let _ = (svc, io);
    /// ```
    pub fn with_inner<S2>(self, inner: S2) -> SocketIoService<S2> {
        SocketIoService {
            engine: self.engine,
            bundle: self.bundle,
            inner,
        }
    }
}

type EngineFuture = Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

pin_project_lite::pin_project! {
    /// The future of [`SocketIoService`].
    ///
    /// # Examples
    /// ```
    /// use std::convert::Infallible;
    /// use tower_service::Service;
    /// # async fn f() -> Result<(), Infallible> {
    /// let (mut svc, _io) = sockeye::SocketIo::new_svc();
    /// let req = http::Request::get("/socket.io/?EIO=4&transport=polling").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    /// let res = svc.call(req).await?; // a ResponseFuture, awaited
    /// assert_eq!(res.status(), 200);
    /// # Ok(()) }
    /// ```
    #[project = ResponseFutureProj]
    #[allow(missing_docs)]
    pub enum ResponseFuture<F> {
        /// Answered by Sockeye.
        Engine { fut: EngineFuture },
        /// Answered by the inner service.
        Inner { #[pin] fut: F },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<SioBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Engine { fut } => {
                fut.as_mut().poll(cx).map(|r| Ok(r.map(SioBody::Full)))
            }
            ResponseFutureProj::Inner { fut } => {
                fut.poll(cx).map(|r| r.map(|r| r.map(SioBody::Inner)))
            }
        }
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for SocketIoService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<SioBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if self.engine.is_engine_request(&req) {
            let engine = self.engine.clone();
            return ResponseFuture::Engine {
                fut: Box::pin(async move { engine.handle(req).await }),
            };
        }
        if let Some(bundle) = &self.bundle {
            if let Some(file) = req
                .uri()
                .path()
                .strip_prefix(self.engine.config().path.as_str())
            {
                if let Some(res) = bundle.respond(file, &req) {
                    return ResponseFuture::Engine {
                        fut: Box::pin(std::future::ready(res)),
                    };
                }
            }
        }
        ResponseFuture::Inner {
            fut: self.inner.call(req),
        }
    }
}

/// Wraps a service (an axum `Router`, say) so that Socket.IO answers on its path.
///
/// # Examples
/// ```
/// let (layer, io) = sockeye::SocketIo::new_layer();
/// let app: axum::Router = axum::Router::new().layer(layer);
/// # let _ = (app, io);
/// ```
#[derive(Clone)]
pub struct SocketIoLayer {
    engine: Engine<IoHandler>,
    bundle: Option<ClientBundle>,
}

impl std::fmt::Debug for SocketIoLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoLayer").finish_non_exhaustive()
    }
}

impl SocketIoLayer {
    pub(crate) fn new(engine: Engine<IoHandler>, bundle: Option<ClientBundle>) -> Self {
        SocketIoLayer { engine, bundle }
    }
}

impl<S> tower_layer::Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SocketIoService::new(self.engine.clone(), self.bundle.clone(), inner)
    }
}
