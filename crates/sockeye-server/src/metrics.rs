//! `--metrics ADDR`: Prometheus metrics on a listener of their own.
//!
//! The library's figures go through the `metrics` facade into
//! `metrics-exporter-prometheus`'s recorder (see `sockeye::metrics` for why), which renders
//! the Prometheus text format. Each scrape first copies the current figures in
//! (`sockeye::metrics::record`, and the Redis adapter's with a cluster), then renders: a
//! scrape costs a walk over the namespaces, and nothing happens between scrapes.
//!
//! The listener is separate from the Socket.IO port so that it can stay on a private
//! address (`127.0.0.1:9464`, or the cluster's internal network) while the app is public.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sockeye::SocketIo;

/// The text exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers `GET /metrics` (and `HEAD`), 404 elsewhere.
#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    io: SocketIo,
    redis: Option<sockeye_redis::RedisAdapter>,
}

impl Scrape {
    fn answer<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        let mut res = Response::new(Full::default());
        if req.uri().path() != "/metrics" {
            *res.status_mut() = StatusCode::NOT_FOUND;
            return res;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return res;
        }
        sockeye::metrics::record(&self.io);
        if let Some(redis) = &self.redis {
            redis.record_metrics();
        }
        let text = self.handle.render();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if req.method() == Method::GET {
            *res.body_mut() = Full::new(Bytes::from(text));
        }
        res
    }
}

impl<B> tower_service::Service<Request<B>> for Scrape {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        std::future::ready(Ok(self.answer(&req)))
    }
}

/// Installs the Prometheus recorder for the process and serves `/metrics` on `addr` in the
/// background (until the process ends). Returns the address it listens on.
///
/// # Errors
/// When `addr` cannot be listened on, or a recorder is installed already.
pub async fn serve(
    addr: SocketAddr,
    io: SocketIo,
    redis: Option<sockeye_redis::RedisAdapter>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("--metrics: cannot listen on {addr}: {e}; pick another address"),
        )
    })?;
    let bound = listener.local_addr()?;
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(std::io::Error::other)?;
    let svc = Scrape { handle, io, redis };
    tokio::spawn(sockeye::serve(listener, svc, std::future::pending()));
    Ok(bound)
}
