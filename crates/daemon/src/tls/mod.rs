//! TLS for the daemons: rustls with ring as its only crypto provider.
//!
//! Trust is narrow on purpose. A server presents its certificate followed by the CA that issued
//! it; a client trusts exactly one CA — pinned by its DER ([`client_config`]) or, on first contact,
//! by the SHA-256 fingerprint a join code carries ([`client_config_by_fingerprint`]) — and never
//! the system's or webpki's roots.

mod generate;
mod identity;
mod pem;
mod pinned;

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};

pub use crate::error::TlsError;
pub use generate::{GeneratedTls, generate};
pub use identity::{ServerIdentity, load_server_identity};
pub use pinned::{SeenCa, client_config_by_fingerprint};

/// The only application protocol the daemons speak over TLS: gRPC needs HTTP/2.
const ALPN_H2: &[u8] = b"h2";

/// Installs ring as the process-wide rustls provider. Idempotent; call it at the start of every
/// binary and test.
///
/// The configurations built here name ring explicitly and do not need this; it is for any other
/// rustls user in the process, which would otherwise have to guess a provider.
pub fn install_crypto_provider() {
    // An error means a provider is already installed. With no other provider in the build it can
    // only be ring, installed by an earlier call.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The SHA-256 of `der` (a certificate's DER encoding): what join codes and logs name a CA by.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// The first certificate in the PEM file at `path`, as DER.
pub fn read_ca_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    Ok(pem::first_certificate(path)?.to_vec())
}

/// A server configuration presenting `identity`, without client authentication (clients prove
/// who they are with signed documents, not certificates), speaking only HTTP/2.
pub fn server_config(identity: &ServerIdentity) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(identity.presented_chain(), identity.key())
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that trusts exactly the CA `ca_der` and nothing else (no system roots,
/// no webpki roots), speaking only HTTP/2.
pub fn client_config(ca_der: &[u8]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .map_err(TlsError::InvalidCa)?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// ring, named explicitly in every configuration so that nothing depends on which provider (if
/// any) the process installed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
