//! The errors of this crate. Each message names the file or address concerned and the cause, so a
//! binary can print it as it is.

use std::path::PathBuf;
use std::time::Duration;

/// Reading, checking or generating TLS material, or building a rustls configuration from it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read, or is not PEM.
    #[error("could not read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PEM file holds no `CERTIFICATE` block.
    #[error("{} holds no certificate (no CERTIFICATE block)", path.display())]
    NoCertificate { path: PathBuf },
    /// A PEM file holds no private key block.
    #[error("{} holds no private key (no PRIVATE KEY block)", path.display())]
    NoPrivateKey { path: PathBuf },
    /// The private key is not one rustls with ring can sign with.
    #[error("the private key in {} is not usable: {source}", path.display())]
    InvalidKey {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// The server certificate does not chain to the CA certificate (or is expired, or malformed).
    #[error(
        "the server certificate in {} is not issued by the CA in {}: {source}",
        cert.display(),
        ca.display()
    )]
    NotIssuedByCa {
        cert: PathBuf,
        ca: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// The private key is not the key of the server certificate.
    #[error(
        "the private key in {} does not belong to the server certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// The certificate in a CA file is not one rustls can trust.
    #[error("the certificate in {} is not usable as a CA: {source}", path.display())]
    InvalidCaFile {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// A CA certificate given as DER is not one rustls can trust.
    #[error("the CA certificate is not usable as a trust anchor: {0}")]
    InvalidCa(#[source] rustls::Error),
    /// A host name for a generated certificate is neither a DNS name nor an IP address.
    #[error("{host:?} is neither a DNS name nor an IP address")]
    InvalidHost { host: String },
    /// rcgen failed to generate a key or certificate.
    #[error("could not generate TLS material: {0}")]
    Generate(#[source] rcgen::Error),
    /// rustls refused to build a configuration.
    #[error("could not build the TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// Serving and connecting: the admin socket, client channels.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The admin socket could not be bound.
    #[error(transparent)]
    AdminSocket(#[from] AdminSocketError),
    /// An address is not `host:port`.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    /// Connecting (TCP, TLS or HTTP/2) failed; `cause` is the whole chain of causes.
    #[error("could not connect to {address}: {cause}")]
    Connect { address: String, cause: String },
    /// Connecting did not finish in time.
    #[error("could not connect to {address}: no answer within {}s", timeout.as_secs())]
    ConnectTimeout { address: String, timeout: Duration },
    /// Nothing listens on the admin socket: the daemon is not running (or the path is wrong).
    #[error("no daemon is listening on {}", path.display())]
    AdminNotRunning { path: PathBuf },
}

/// Binding the admin socket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminSocketError {
    /// A live process answers on the socket.
    #[error(
        "another process is serving this data directory (it answers on {})",
        path.display()
    )]
    InUse { path: PathBuf },
    /// Something other than a socket is in the way; it is not ours to remove.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket { path: PathBuf },
    /// The file system refused.
    #[error("could not bind the admin socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
