//! Helpers shared by the integration tests: TLS material on disk and a real tonic health server.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alliance_daemon::serve::tls_incoming;
use alliance_daemon::tls::{self, GeneratedTls, ServerIdentity};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Long enough for any step on a loaded CI machine; short enough that a hang fails the test.
pub const STEP: Duration = Duration::from_secs(20);

/// PEM files for one server: its certificate (chain), key and CA.
#[derive(Debug, Clone)]
pub struct PemFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl PemFiles {
    pub fn load(&self) -> Result<ServerIdentity, tls::TlsError> {
        tls::load_server_identity(&self.cert, &self.key, &self.ca)
    }
}

/// Writes `generated` into `dir` under `name`-prefixed files.
pub fn write_generated(dir: &Path, name: &str, generated: &GeneratedTls) -> PemFiles {
    write_pem(
        dir,
        name,
        &generated.server_cert_pem,
        &generated.server_key_pem,
        &generated.ca_cert_pem,
    )
}

pub fn write_pem(dir: &Path, name: &str, cert: &str, key: &str, ca: &str) -> PemFiles {
    let files = PemFiles {
        cert: dir.join(format!("{name}-cert.pem")),
        key: dir.join(format!("{name}-key.pem")),
        ca: dir.join(format!("{name}-ca.pem")),
    };
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.key, key).unwrap();
    std::fs::write(&files.ca, ca).unwrap();
    files
}

/// A generated identity, loaded from files in `dir`.
pub fn generated_identity(dir: &Path, name: &str) -> ServerIdentity {
    let generated = tls::generate(name, &[]).unwrap();
    write_generated(dir, name, &generated).load().unwrap()
}

/// A tonic health server on 127.0.0.1 behind `tls_incoming`, recording the remote address every
/// request arrives from.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub remote_addrs: Arc<Mutex<Vec<Option<SocketAddr>>>>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl TlsServer {
    pub async fn start(identity: &ServerIdentity) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tls_incoming(listener, tls::server_config(identity).unwrap());
        let (_reporter, health) = tonic_health::server::health_reporter();
        let remote_addrs = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&remote_addrs);
        let record = move |request: tonic::Request<()>| {
            seen.lock().unwrap().push(request.remote_addr());
            Ok(request)
        };
        let (shutdown, stop) = oneshot::channel::<()>();
        let handle = tokio::spawn(
            Server::builder()
                .layer(tonic::service::InterceptorLayer::new(record))
                .add_service(health)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stop.await;
                }),
        );
        Self {
            addr,
            remote_addrs,
            shutdown: Some(shutdown),
            handle: Some(handle),
        }
    }

    pub fn address(&self, host: &str) -> String {
        format!("{host}:{}", self.addr.port())
    }

    /// Resolves the shutdown future and waits for the server to return.
    pub async fn shut_down(mut self) -> Result<(), tonic::transport::Error> {
        let _ = self.shutdown.take().unwrap().send(());
        tokio::time::timeout(STEP, self.handle.take().unwrap())
            .await
            .expect("the server did not return after shutdown")
            .unwrap()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

/// The overall health status the server at the other end of `channel` reports.
pub async fn health(channel: Channel) -> ServingStatus {
    let response = tokio::time::timeout(
        STEP,
        HealthClient::new(channel).check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .expect("health check timed out")
    .expect("health check failed");
    response.into_inner().status()
}
