//! Channels a daemon or command dials: an upstream over TLS, a local daemon over its admin socket.
//!
//! Both connect eagerly, within [`CONNECT_TIMEOUT`], so a wrong address, an untrusted server or a
//! stopped daemon is an error at once rather than on the first request. Once connected, a channel
//! reconnects by itself (with the same TLS configuration) when the connection drops.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::{TcpStream, UnixStream};
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

use crate::error::DaemonError;

/// How long connecting (TCP, TLS and HTTP/2 together) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel to `address` ("host:port", IPv6 hosts in brackets) over TLS with `config`; the TLS
/// server name is the host (a DNS name or an IP address). Connects eagerly.
pub async fn connect_tls(address: &str, config: Arc<ClientConfig>) -> Result<Channel, DaemonError> {
    let host = host_of(address)?;
    let server_name = ServerName::try_from(host.to_owned()).map_err(|_| {
        invalid_address(address, "the host is neither a DNS name nor an IP address")
    })?;
    // TLS is done by the connector below, so tonic sees plain "http". Its own `tls-*` features
    // stay off: one rustls set-up, with ring, configured in one place.
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|err| invalid_address(address, &err.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT);

    let tls = tokio_rustls::TlsConnector::from(config);
    let target = address.to_owned();
    let connector = service_fn(move |_: Uri| {
        let (tls, target, server_name) = (tls.clone(), target.clone(), server_name.clone());
        async move {
            let tcp = TcpStream::connect(&target).await?;
            tcp.set_nodelay(true)?;
            let stream = tls.connect(server_name, tcp).await?;
            Ok::<_, io::Error>(TokioIo::new(stream))
        }
    });
    let connecting = endpoint.connect_with_connector(connector);
    with_timeout(connecting, address)
        .await?
        .map_err(|err| connect_error(address, &err))
}

/// A channel to the daemon listening on the admin socket at `path`. Connects eagerly; nothing
/// listening there (no file, or a stale one) is [`DaemonError::AdminNotRunning`], so a command can
/// fall back to opening the data directory itself.
pub async fn connect_admin(path: &Path) -> Result<Channel, DaemonError> {
    // The URI is required but unused: every connection goes to the socket. Its authority only
    // fills in the HTTP/2 `:authority` header.
    let endpoint = Endpoint::from_static("http://localhost").connect_timeout(CONNECT_TIMEOUT);
    let socket = path.to_owned();
    let connector = service_fn(move |_: Uri| {
        let socket = socket.clone();
        async move { Ok::<_, io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
    });
    let connecting = endpoint.connect_with_connector(connector);
    let address = path.display().to_string();
    match with_timeout(connecting, &address).await? {
        Ok(channel) => Ok(channel),
        Err(err) if nothing_listens(&err) => {
            Err(DaemonError::AdminNotRunning { path: path.into() })
        }
        Err(err) => Err(connect_error(&address, &err)),
    }
}

/// The endpoint's own timeout covers TCP and TLS only; this one covers the HTTP/2 handshake too.
async fn with_timeout(
    connecting: impl Future<Output = Result<Channel, tonic::transport::Error>>,
    address: &str,
) -> Result<Result<Channel, tonic::transport::Error>, DaemonError> {
    tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| DaemonError::ConnectTimeout {
            address: address.to_owned(),
            timeout: CONNECT_TIMEOUT,
        })
}

fn connect_error(address: &str, err: &tonic::transport::Error) -> DaemonError {
    DaemonError::Connect {
        address: address.to_owned(),
        cause: causes(err),
    }
}

/// The messages of `err` and its sources, joined, without tonic's uninformative "transport error"
/// and without repeats (wrappers often repeat their source's message).
fn causes(err: &(dyn StdError + 'static)) -> String {
    let mut messages: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(err) = next {
        let message = err.to_string();
        if message != "transport error" && !messages.iter().any(|m| m.contains(&message)) {
            messages.push(message);
        }
        next = err.source();
    }
    if messages.is_empty() {
        err.to_string()
    } else {
        messages.join(": ")
    }
}

/// Whether connecting failed because no process listens on the socket: it does not exist, or it
/// is a stale file left by a killed daemon.
fn nothing_listens(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            );
        }
        next = err.source();
    }
    false
}

/// The host of "host:port" ("[v6]:port" for IPv6), checked to have a port.
fn host_of(address: &str) -> Result<&str, DaemonError> {
    split_host_port(address).map(|(host, _)| host)
}

/// The host and port of `host:port` or `[v6]:port`: one reading of addresses for the clients,
/// the hub's `--public-addr` and a relay's.
pub fn split_host_port(address: &str) -> Result<(&str, u16), DaemonError> {
    let (host, port) = match address.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid_address(address, "missing ']' after an IPv6 host"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| invalid_address(address, "expected host:port"))?;
            (host, port)
        }
        None => address
            .rsplit_once(':')
            .filter(|(host, _)| !host.contains(':'))
            .ok_or_else(|| {
                invalid_address(address, "expected host:port (IPv6 hosts in brackets)")
            })?,
    };
    if host.is_empty() {
        return Err(invalid_address(address, "the host is empty"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid_address(address, "the port is not a number from 0 to 65535"))?;
    Ok((host, port))
}

fn invalid_address(address: &str, reason: &str) -> DaemonError {
    DaemonError::InvalidAddress {
        address: address.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(
            host_of("hub.example.org:7443").ok(),
            Some("hub.example.org")
        );
        assert_eq!(host_of("127.0.0.1:1").ok(), Some("127.0.0.1"));
        assert_eq!(host_of("[::1]:443").ok(), Some("::1"));
        assert_eq!(split_host_port("[::1]:443").ok(), Some(("::1", 443)));
        for bad in [
            "hub",
            "hub:",
            "hub:70000",
            ":443",
            "::1:443",
            "[::1]443",
            "[::1",
        ] {
            assert!(
                matches!(host_of(bad), Err(DaemonError::InvalidAddress { .. })),
                "{bad:?} was accepted"
            );
        }
    }
}
