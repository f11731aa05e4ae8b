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
pub async fn shutdown_signal() {
    // If a handler cannot be installed its branch never fires; the process can still be stopped
    // by the other signal (or SIGKILL), which beats shutting down at once.
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGINT");
                std::future::pending().await
            }
        }
    };
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
                "SIGTERM"
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    let received = tokio::select! {
        name = ctrl_c => name,
        name = terminate => name,
    };
    tracing::info!(signal = received, "shutting down");
}
