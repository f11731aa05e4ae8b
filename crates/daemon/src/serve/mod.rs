//! What a daemon serves gRPC on: TLS connections from the network, and the admin Unix socket.
//!
//! Both plug into `tonic::transport::Server::builder()...serve_with_incoming_shutdown(incoming,
//! shutdown)`; [`shutdown_signal`] is the usual `shutdown`.

mod admin_socket;
mod tls_incoming;

use futures::Stream;
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio_stream::wrappers::UnixListenerStream;

pub use admin_socket::bind_admin_socket;
pub use tls_incoming::{TlsConn, tls_incoming};

/// Connections accepted on the admin socket. Request handlers see the peer's credentials through
/// `tonic::transport::server::UdsConnectInfo`.
///
/// No TLS: the socket's mode (0600) is the access control.
pub fn uds_incoming(
    listener: UnixListener,
) -> impl Stream<Item = std::io::Result<UnixStream>> + Send + 'static {
    UnixListenerStream::new(listener)
}

/// Resolves on SIGTERM or SIGINT (ctrl-c): the signal to stop accepting, finish what is in flight
/// and exit.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // The handlers are installed now, not when the future is first polled: a daemon that has
    // bound its sockets but not yet reached its serving loop must still shut down gracefully on
    // SIGTERM, rather than die of the signal's default action. If a handler cannot be installed
    // its branch never fires; the process can still be stopped by the other signal (or SIGKILL),
    // which beats shutting down at once.
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let received = tokio::select! {
            name = wait_for(terminate, "SIGTERM") => name,
            name = wait_for(interrupt, "SIGINT") => name,
        };
        tracing::info!(signal = received, "shutting down");
    }
}

/// Resolves with `name` when the signal arrives; never, if its handler could not be installed.
async fn wait_for(
    handler: std::io::Result<tokio::signal::unix::Signal>,
    name: &'static str,
) -> &'static str {
    match handler {
        Ok(mut handler) => {
            handler.recv().await;
            name
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for {name}");
            std::future::pending().await
        }
    }
}
