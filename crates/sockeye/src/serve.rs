//! A ready-made HTTP/1.1 server loop for a Sockeye service.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// Serves `svc` on `listener` until `shutdown` resolves: HTTP/1.1 with upgrades, the peer
/// address in each request's extensions (as [`std::net::SocketAddr`], which
/// [`crate::Handshake::address`] reports), a 10 s header read timeout and at most 100
/// headers per request. Accept errors (such as running out of file descriptors) back off
/// instead of spinning.
///
/// It returns when `shutdown` resolves; connections already open are not awaited. For a
/// graceful stop, close them inside `shutdown` ([`crate::SocketIo::shutdown`]), while the
/// listener still accepts: a polling client's next request then gets its close packet instead
/// of a refused connection.
///
/// # Examples
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let (svc, io) = sockeye::SocketIo::new_svc();
/// io.ns("/", |_: sockeye::SocketRef| {});
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// sockeye::serve(listener, svc, async {
///     let _ = tokio::signal::ctrl_c().await;
///     io.shutdown(std::time::Duration::from_secs(3)).await;
/// })
/// .await;
/// # Ok(()) }
/// ```
pub async fn serve<S, B>(listener: TcpListener, svc: S, shutdown: impl Future<Output = ()>)
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.accept() => r,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        tokio::spawn(serve_connection(stream, addr, svc));
    }
}

async fn serve_connection<S, B>(stream: tokio::net::TcpStream, addr: SocketAddr, svc: S)
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(addr);
        let mut svc = svc.clone();
        tower_service::Service::call(&mut svc, req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_headers(100)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!("connection from {addr}: {e}");
    }
}
