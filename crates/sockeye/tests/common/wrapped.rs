//! A listener for `axum::serve` whose connections are not a plain `TcpStream` (as a TLS
//! listener's are not): Sockeye reads and writes them through its generic stream path.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP stream behind a type of its own, passing every call through.
pub struct WrappedStream(TcpStream);

impl AsyncRead for WrappedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for WrappedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// A `TcpListener` whose connections come as [`WrappedStream`]s.
pub struct WrappedListener(pub TcpListener);

impl axum::serve::Listener for WrappedListener {
    type Io = WrappedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (WrappedStream, SocketAddr) {
        loop {
            if let Ok((s, addr)) = self.0.accept().await {
                return (WrappedStream(s), addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}
