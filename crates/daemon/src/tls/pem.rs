//! Reading PEM files, with errors that name the file.

use std::path::Path;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::TlsError;

/// Every `CERTIFICATE` block in the file at `path`, in order; at least one.
pub(super) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| read_error(path, source))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.into() });
    }
    Ok(certs)
}

/// The first `CERTIFICATE` block in the file at `path`.
pub(super) fn first_certificate(path: &Path) -> Result<CertificateDer<'static>, TlsError> {
    let mut certs = certificates(path)?;
    Ok(certs.swap_remove(0))
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in the file at `path`.
pub(super) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    rustls_pemfile::private_key(&mut bytes.as_slice())
        .map_err(|source| read_error(path, source))?
        .ok_or_else(|| TlsError::NoPrivateKey { path: path.into() })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| read_error(path, source))
}

fn read_error(path: &Path, source: std::io::Error) -> TlsError {
    TlsError::Read {
        path: path.into(),
        source,
    }
}
