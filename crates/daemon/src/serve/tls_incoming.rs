//! TLS connections accepted from a TCP listener, handshakes run concurrently.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesUnordered, Stream, StreamExt};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long a client has to complete its TLS handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many handshakes run at once; beyond it new connections wait in the kernel's
/// backlog, so a flood of idle clients cannot grow memory without bound.
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// After an accept error that is not about one connection (no file descriptors left, say),
/// accepting pauses this long rather than spinning; handshakes in progress go on.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(500);

/// A TLS connection accepted by [`tls_incoming`]: tokio I/O for tonic's server, whose request
/// handlers see the client's address through `request.remote_addr()`.
#[derive(Debug)]
pub struct TlsConn(TlsStream<TcpStream>);

/// The TLS connections accepted from `listener` with `config`, for tonic's
/// `serve_with_incoming_shutdown`.
///
/// Handshakes run concurrently, so a slow, silent or plaintext client never holds up others; a
/// handshake that fails or takes longer than 10 s is logged at debug and dropped. Accept errors are
/// logged and retried rather than yielded, because tonic ends the whole server on most of them:
/// the stream never yields `Err` and ends only when dropped.
pub fn tls_incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> impl Stream<Item = Result<TlsConn, io::Error>> + Send + 'static {
    let incoming = Incoming {
        listener,
        acceptor: TlsAcceptor::from(config),
        handshakes: FuturesUnordered::new(),
        paused_until: None,
    };
    futures::stream::unfold(incoming, |mut incoming| async move {
        let conn = incoming.next_conn().await;
        Some((Ok(conn), incoming))
    })
}

impl Connected for TlsConn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

type Handshake = Pin<Box<dyn Future<Output = Option<TlsConn>> + Send>>;

/// The accept loop's state. The handshakes live inside the stream (no spawned tasks), so dropping
/// the stream — as tonic does on shutdown — closes the listener and abandons them all.
struct Incoming {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: FuturesUnordered<Handshake>,
    paused_until: Option<Instant>,
}

impl Incoming {
    /// Accepts and handshakes until one connection is ready. Cancel-safe: every branch below is.
    async fn next_conn(&mut self) -> TlsConn {
        loop {
            let accepting =
                self.paused_until.is_none() && self.handshakes.len() < MAX_PENDING_HANDSHAKES;
            let resume_at = self.paused_until.unwrap_or_else(Instant::now);
            tokio::select! {
                accepted = self.listener.accept(), if accepting => match accepted {
                    Ok((tcp, peer)) => self.handshakes.push(handshake(&self.acceptor, tcp, peer)),
                    Err(err) if is_per_connection(&err) => {
                        tracing::debug!(error = %err, "accept failed for one connection");
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed; pausing");
                        self.paused_until = Some(Instant::now() + ACCEPT_ERROR_PAUSE);
                    }
                },
                () = tokio::time::sleep_until(resume_at), if self.paused_until.is_some() => {
                    self.paused_until = None;
                }
                Some(done) = self.handshakes.next(), if !self.handshakes.is_empty() => {
                    if let Some(conn) = done {
                        return conn;
                    }
                }
            }
        }
    }
}

fn handshake(acceptor: &TlsAcceptor, tcp: TcpStream, peer: SocketAddr) -> Handshake {
    let accept = acceptor.accept(tcp);
    Box::pin(async move {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
            Ok(Ok(tls)) => {
                // gRPC messages are small and latency matters more than packet count.
                if let Err(err) = tls.get_ref().0.set_nodelay(true) {
                    tracing::debug!(%peer, error = %err, "could not set TCP_NODELAY");
                }
                Some(TlsConn(tls))
            }
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                None
            }
        }
    })
}

/// Errors that concern only the connection being accepted; the listener itself is fine.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
