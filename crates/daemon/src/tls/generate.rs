//! A new CA and a server certificate it signs, for a daemon whose operator brings no TLS files.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::pki_types::ServerName;
use time::{Duration, OffsetDateTime};

use crate::error::TlsError;

/// Names every generated server certificate is valid for, so that a daemon can always be reached
/// on its own machine.
const ALWAYS_HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];

/// How long generated certificates are valid. Long on purpose: nodes pin the CA by fingerprint and
/// there is no rotation of TLS material yet, so an expiry would cut the federation off.
const VALIDITY: Duration = Duration::days(25 * 365);

/// How far back validity starts, so that a peer whose clock is somewhat behind still accepts a
/// certificate generated a moment ago.
const CLOCK_SKEW: Duration = Duration::days(1);

/// Generated TLS material, in PEM, ready to be written to files (the keys privately).
#[derive(Clone)]
pub struct GeneratedTls {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl std::fmt::Debug for GeneratedTls {
    // Keys stay out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedTls")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("server_cert_pem", &self.server_cert_pem)
            .finish_non_exhaustive()
    }
}

/// A new CA named after `common_name` and a server certificate it signs for `hosts` (DNS names or
/// IP literals; "localhost" and "127.0.0.1" are always added). Keys are ECDSA P-256, which ring
/// signs and verifies and every TLS peer accepts.
pub fn generate(common_name: &str, hosts: &[String]) -> Result<GeneratedTls, TlsError> {
    let now = OffsetDateTime::now_utc();

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(TlsError::Generate)?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = common_name_dn(&format!("{common_name} CA"));
    // The CA signs server certificates directly, never another CA.
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = now - CLOCK_SKEW;
    ca_params.not_after = now + VALIDITY;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(TlsError::Generate)?;

    let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(TlsError::Generate)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name_dn(common_name);
    params.subject_alt_names = subject_alt_names(hosts)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + VALIDITY;
    let server_cert = params
        .signed_by(&server_key, &ca_cert, &ca_key)
        .map_err(TlsError::Generate)?;

    Ok(GeneratedTls {
        ca_cert_pem: ca_cert.pem(),
        ca_key_pem: ca_key.serialize_pem(),
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
    })
}

fn common_name_dn(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// `hosts` and [`ALWAYS_HOSTS`], without repeats, each checked the way a client will check it.
fn subject_alt_names(hosts: &[String]) -> Result<Vec<SanType>, TlsError> {
    let mut names: Vec<&str> = Vec::new();
    for host in hosts.iter().map(String::as_str).chain(ALWAYS_HOSTS) {
        if !names.contains(&host) {
            names.push(host);
        }
    }
    names
        .into_iter()
        .map(|host| {
            let invalid = || TlsError::InvalidHost { host: host.into() };
            // rustls's parser is the one clients apply to the names they dial, so a name it
            // refuses would be a certificate nobody can use.
            match ServerName::try_from(host).map_err(|_| invalid())? {
                ServerName::IpAddress(_) => host
                    .parse::<IpAddr>()
                    .map(SanType::IpAddress)
                    .map_err(|_| invalid()),
                _ => host
                    .to_owned()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|_| invalid()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_names_localhost_and_refuses_bad_hosts() {
        let sans = subject_alt_names(&["hub.example.org".into(), "localhost".into()])
            .expect("valid hosts");
        assert_eq!(sans.len(), 3, "localhost is not repeated: {sans:?}");
        assert!(sans.contains(&SanType::IpAddress("127.0.0.1".parse().expect("ip"))));

        for bad in ["", "hub.example.org:443", "two words"] {
            assert!(
                matches!(
                    subject_alt_names(&[bad.into()]),
                    Err(TlsError::InvalidHost { .. })
                ),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn generates_pem() {
        let tls = generate("hub", &["10.0.0.1".into()]).expect("generate");
        assert!(tls.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(tls.server_key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{tls:?}").contains("PRIVATE KEY"));
    }
}
