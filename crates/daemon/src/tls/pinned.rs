//! First contact with an upstream known only by the fingerprint of its CA.
//!
//! A join code carries the SHA-256 of the upstream's CA certificate. The server presents its chain
//! with the CA at the end; the client looks for the certificate with that fingerprint in what it
//! was sent, then verifies the server certificate against it exactly as if that CA had been pinned
//! all along (chain, validity, server name). The CA it saw is handed back so the caller can pin it
//! by DER ([`super::client_config`]) from then on.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use super::{ALPN_H2, fingerprint, provider};
use crate::error::TlsError;

/// The CA certificate (DER) the server presented, once a handshake has verified against it.
#[derive(Clone, Debug, Default)]
pub struct SeenCa(Arc<Mutex<Option<Vec<u8>>>>);

impl SeenCa {
    /// The CA's DER, or `None` if no handshake has succeeded yet.
    pub fn get(&self) -> Option<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, der: &[u8]) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(der.to_vec());
    }
}

/// A client configuration that accepts a server only if the chain it presents contains a
/// certificate whose SHA-256 is `fp` and the server certificate verifies against that certificate
/// as the only root, for the server name dialled. [`SeenCa`] then holds that CA's DER.
pub fn client_config_by_fingerprint(fp: [u8; 32]) -> Result<(Arc<ClientConfig>, SeenCa), TlsError> {
    let seen = SeenCa::default();
    let verifier = FingerprintVerifier {
        fingerprint: fp,
        provider: provider(),
        seen: seen.clone(),
    };
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok((Arc::new(config), seen))
}

#[derive(Debug)]
struct FingerprintVerifier {
    fingerprint: [u8; 32],
    provider: Arc<CryptoProvider>,
    seen: SeenCa,
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = std::iter::once(end_entity)
            .chain(intermediates)
            .find(|cert| fingerprint(cert) == self.fingerprint)
            .ok_or_else(|| {
                invalid(format!(
                    "the server presented no certificate with the expected CA fingerprint {}",
                    hex::encode(self.fingerprint)
                ))
            })?;

        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let pinned = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&self.provider),
        )
        .build()
        .map_err(|err| invalid(format!("the presented CA is not usable: {err}")))?;
        let verified = pinned.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;

        self.seen.set(ca);
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// An error carrying our own explanation. Not `InvalidCertificate(CertificateError::Other)`, whose
/// message rustls prints with `Debug`: this one is what an operator reads when a join fails.
fn invalid(message: String) -> rustls::Error {
    rustls::Error::Other(OtherError(Arc::new(std::io::Error::other(message))))
}
