//! The server's certificate chain, key and CA, loaded from PEM files and checked before use.

use std::path::Path;

use rustls::RootCertStore;
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;

use super::{fingerprint, pem, provider};
use crate::error::TlsError;

/// A server's TLS identity: its certificate chain and key, and the CA that issued them.
pub struct ServerIdentity {
    /// What the server presents: its own certificate(s), then the CA.
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ca: CertificateDer<'static>,
}

impl ServerIdentity {
    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca
    }

    /// The SHA-256 fingerprint of the CA certificate: what join codes carry.
    pub fn ca_fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.ca)
    }

    /// The chain presented to clients: the server certificate(s), then the CA, so that a client
    /// that knows only the CA's fingerprint can find it.
    pub(crate) fn presented_chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            ca: self.ca.clone(),
        }
    }
}

impl std::fmt::Debug for ServerIdentity {
    // The key stays out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("chain_len", &self.chain.len())
            .field("ca_fingerprint", &hex::encode(self.ca_fingerprint()))
            .finish_non_exhaustive()
    }
}

/// Loads the server chain (`cert_pem`: the server certificate first, then any intermediates), its
/// key and the issuing CA, whether an operator's own files or generated ones.
///
/// Refuses, naming the files, a server certificate that does not chain to the CA now (other
/// issuer, expired, malformed) and a key that is not the server certificate's: both would
/// otherwise only show as failed handshakes on the clients.
pub fn load_server_identity(
    cert_pem: &Path,
    key_pem: &Path,
    ca_pem: &Path,
) -> Result<ServerIdentity, TlsError> {
    let certs = pem::certificates(cert_pem)?;
    let key = pem::private_key(key_pem)?;
    let ca = pem::first_certificate(ca_pem)?;

    // The CA is added back at the end below; an operator's file may or may not include it.
    let mut chain: Vec<_> = certs.into_iter().filter(|cert| *cert != ca).collect();
    let Some(end_entity) = chain.first() else {
        // The file held only the CA itself.
        return Err(TlsError::NotIssuedByCa {
            cert: cert_pem.into(),
            ca: ca_pem.into(),
            source: rustls::Error::General("the certificate file holds only the CA".into()),
        });
    };

    let not_issued = |source| TlsError::NotIssuedByCa {
        cert: cert_pem.into(),
        ca: ca_pem.into(),
        source,
    };
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|source| TlsError::InvalidCaFile {
            path: ca_pem.into(),
            source,
        })?;
    let parsed = ParsedCertificate::try_from(end_entity).map_err(not_issued)?;
    verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &roots,
        &chain[1..],
        UnixTime::now(),
        provider().signature_verification_algorithms.all,
    )
    .map_err(not_issued)?;

    let signing_key = provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|source| TlsError::InvalidKey {
            path: key_pem.into(),
            source,
        })?;
    // ring's keys always know their public key, so "unknown" is refused like a mismatch.
    CertifiedKey::new(vec![end_entity.clone()], signing_key)
        .keys_match()
        .map_err(|_| TlsError::KeyMismatch {
            cert: cert_pem.into(),
            key: key_pem.into(),
        })?;

    chain.push(ca.clone());
    Ok(ServerIdentity { chain, key, ca })
}
