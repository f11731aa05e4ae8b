//! TLS end to end: a real tonic server behind `tls_incoming`, dialled with `connect_tls` and each
//! of the client configurations; and loading identities from PEM files.

#![allow(clippy::unwrap_used)]

mod support;

use alliance_daemon::DaemonError;
use alliance_daemon::client::connect_tls;
use alliance_daemon::tls::{self, TlsError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, PKCS_ECDSA_P384_SHA384,
    PKCS_ED25519,
};
use support::{STEP, TlsServer, generated_identity, health, write_generated, write_pem};
use tokio::io::AsyncReadExt;
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;

fn setup() -> tempfile::TempDir {
    tls::install_crypto_provider();
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn a_client_pinning_the_ca_gets_serving_by_name_and_by_ip() {
    let dir = setup();
    let identity = generated_identity(dir.path(), "hub");
    let server = TlsServer::start(&identity).await;
    let config = tls::client_config(identity.ca_der()).unwrap();

    for host in ["localhost", "127.0.0.1"] {
        let channel = connect_tls(&server.address(host), config.clone())
            .await
            .unwrap();
        assert_eq!(health(channel).await, ServingStatus::Serving);
    }
    // Handlers see who called.
    let remote = server.remote_addrs.lock().unwrap().clone();
    assert_eq!(remote.len(), 2);
    assert!(
        remote
            .iter()
            .all(|addr| addr.is_some_and(|a| a.ip().is_loopback()))
    );
}

#[tokio::test]
async fn a_client_pinning_another_ca_fails_and_the_server_keeps_serving() {
    let dir = setup();
    let identity = generated_identity(dir.path(), "hub");
    let other = generated_identity(dir.path(), "other");
    let server = TlsServer::start(&identity).await;

    let wrong = tls::client_config(other.ca_der()).unwrap();
    let err = connect_tls(&server.address("localhost"), wrong)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, DaemonError::Connect { .. }), "{err:?}");
    assert!(message.contains(&server.address("localhost")), "{message}");
    assert!(message.contains("certificate"), "{message}");

    let right = tls::client_config(identity.ca_der()).unwrap();
    let channel = connect_tls(&server.address("localhost"), right)
        .await
        .unwrap();
    assert_eq!(health(channel).await, ServingStatus::Serving);
}

#[tokio::test]
async fn plaintext_and_silent_clients_neither_connect_nor_block_others() {
    let dir = setup();
    let identity = generated_identity(dir.path(), "hub");
    let server = TlsServer::start(&identity).await;

    // A client that connects and says nothing: its handshake waits, others must not.
    let _silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();

    let plaintext = Endpoint::from_shared(format!("http://{}", server.addr)).unwrap();
    let attempt = tokio::time::timeout(STEP, async {
        let channel = plaintext.connect().await?;
        Ok::<_, Box<dyn std::error::Error>>(health_status(channel).await?)
    })
    .await
    .expect("the plaintext client hung");
    assert!(
        attempt.is_err(),
        "a plaintext client was served: {attempt:?}"
    );

    let config = tls::client_config(identity.ca_der()).unwrap();
    let channel = connect_tls(&server.address("localhost"), config)
        .await
        .unwrap();
    assert_eq!(health(channel).await, ServingStatus::Serving);
}

async fn health_status(channel: tonic::transport::Channel) -> Result<i32, tonic::Status> {
    let response = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await?;
    Ok(response.into_inner().status)
}

#[tokio::test]
async fn first_contact_by_fingerprint_hands_back_the_ca() {
    let dir = setup();
    let identity = generated_identity(dir.path(), "hub");
    let server = TlsServer::start(&identity).await;

    let (config, seen) = tls::client_config_by_fingerprint(identity.ca_fingerprint()).unwrap();
    assert_eq!(seen.get(), None);
    let channel = connect_tls(&server.address("localhost"), config)
        .await
        .unwrap();
    assert_eq!(health(channel).await, ServingStatus::Serving);
    let ca = seen.get().expect("the CA was not handed back");
    assert_eq!(ca, identity.ca_der());
    assert_eq!(tls::fingerprint(&ca), identity.ca_fingerprint());

    // From then on the CA can be pinned by DER.
    let pinned = tls::client_config(&ca).unwrap();
    let channel = connect_tls(&server.address("127.0.0.1"), pinned)
        .await
        .unwrap();
    assert_eq!(health(channel).await, ServingStatus::Serving);
}

#[tokio::test]
async fn first_contact_with_a_wrong_fingerprint_fails() {
    let dir = setup();
    let identity = generated_identity(dir.path(), "hub");
    let other = generated_identity(dir.path(), "other");
    let server = TlsServer::start(&identity).await;

    for fp in [other.ca_fingerprint(), [0; 32]] {
        let (config, seen) = tls::client_config_by_fingerprint(fp).unwrap();
        let err = connect_tls(&server.address("localhost"), config)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("fingerprint"), "{err}");
        assert_eq!(seen.get(), None);
    }
}

#[tokio::test]
async fn first_contact_still_checks_the_server_name() {
    let dir = setup();
    // An operator's CA and a certificate for another name only.
    let ca = OperatorCa::new("Operator CA", &PKCS_ECDSA_P384_SHA384);
    let (cert, key) = ca.issue(&["hub.example.org"]);
    let files = write_pem(dir.path(), "op", &cert, &key, &ca.cert_pem);
    let identity = files.load().unwrap();
    let server = TlsServer::start(&identity).await;

    let (config, seen) = tls::client_config_by_fingerprint(identity.ca_fingerprint()).unwrap();
    let err = connect_tls(&server.address("localhost"), config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    assert_eq!(seen.get(), None);
}

#[tokio::test]
async fn an_operators_pem_files_load_and_serve() {
    let dir = setup();
    for (name, alg) in [
        ("p384", &PKCS_ECDSA_P384_SHA384),
        ("ed25519", &PKCS_ED25519),
    ] {
        let ca = OperatorCa::new(&format!("{name} CA"), alg);
        let (cert, key) = ca.issue(&["localhost"]);
        // Operators often put the CA after their certificate; it must not be presented twice.
        let chain = format!("{cert}{}", ca.cert_pem);
        let files = write_pem(dir.path(), name, &chain, &key, &ca.cert_pem);
        let identity = files.load().unwrap();
        assert_eq!(identity.ca_der(), ca.der());

        let server = TlsServer::start(&identity).await;
        let config = tls::client_config(identity.ca_der()).unwrap();
        let channel = connect_tls(&server.address("localhost"), config)
            .await
            .unwrap();
        assert_eq!(health(channel).await, ServingStatus::Serving);

        let (config, seen) = tls::client_config_by_fingerprint(tls::fingerprint(ca.der())).unwrap();
        let channel = connect_tls(&server.address("localhost"), config)
            .await
            .unwrap();
        assert_eq!(health(channel).await, ServingStatus::Serving);
        assert_eq!(seen.get().as_deref(), Some(ca.der()));
    }
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let dir = setup();
    let a = tls::generate("a", &[]).unwrap();
    let b = tls::generate("b", &[]).unwrap();
    let files = write_pem(
        dir.path(),
        "mixed",
        &a.server_cert_pem,
        &a.server_key_pem,
        &b.ca_cert_pem,
    );
    let err = files.load().unwrap_err();
    assert!(matches!(err, TlsError::NotIssuedByCa { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("mixed-cert.pem") && message.contains("mixed-ca.pem"),
        "{message}"
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let dir = setup();
    let a = tls::generate("a", &[]).unwrap();
    let b = tls::generate("b", &[]).unwrap();
    let files = write_pem(
        dir.path(),
        "mixed",
        &a.server_cert_pem,
        &b.server_key_pem,
        &a.ca_cert_pem,
    );
    let err = files.load().unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("mixed-key.pem"), "{err}");
}

#[test]
fn missing_and_empty_files_are_named() {
    let dir = setup();
    let generated = tls::generate("hub", &[]).unwrap();
    let files = write_generated(dir.path(), "hub", &generated);

    std::fs::remove_file(&files.ca).unwrap();
    let err = files.load().unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("hub-ca.pem"), "{err}");
    assert!(tls::read_ca_pem(&files.ca).is_err());

    std::fs::write(&files.ca, "").unwrap();
    let err = files.load().unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");

    std::fs::write(&files.ca, &generated.ca_cert_pem).unwrap();
    std::fs::write(&files.key, &generated.server_cert_pem).unwrap();
    let err = files.load().unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
}

#[test]
fn read_ca_pem_gives_the_der_the_identity_pins() {
    let dir = setup();
    let generated = tls::generate("hub", &["hub.example.org".into()]).unwrap();
    let files = write_generated(dir.path(), "hub", &generated);
    let identity = files.load().unwrap();
    assert_eq!(tls::read_ca_pem(&files.ca).unwrap(), identity.ca_der());
    assert_eq!(
        tls::fingerprint(identity.ca_der()),
        identity.ca_fingerprint()
    );
}

#[tokio::test]
async fn graceful_shutdown_returns_once_the_signal_resolves() {
    let dir = setup();
    let identity = generated_identity(dir.path(), "hub");
    let server = TlsServer::start(&identity).await;
    let addr = server.addr;
    let config = tls::client_config(identity.ca_der()).unwrap();
    // A connected client stays open across the shutdown.
    let channel = connect_tls(&server.address("localhost"), config)
        .await
        .unwrap();
    assert_eq!(health(channel.clone()).await, ServingStatus::Serving);

    server.shut_down().await.unwrap();

    // The listener is closed: nothing accepts any more.
    let refused = tokio::net::TcpStream::connect(addr).await;
    if let Ok(mut stream) = refused {
        // A connection can still land in a backlog being torn down; it must then be closed.
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(STEP, stream.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}

/// An operator's own CA, made with rcgen directly rather than with `tls::generate`.
struct OperatorCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    cert_pem: String,
}

impl OperatorCa {
    fn new(name: &str, alg: &'static rcgen::SignatureAlgorithm) -> Self {
        let key = KeyPair::generate_for(alg).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let cert_pem = cert.pem();
        Self {
            cert,
            key,
            cert_pem,
        }
    }

    fn der(&self) -> &[u8] {
        self.cert.der()
    }

    /// A server certificate and key (PEM) for `names`.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}
