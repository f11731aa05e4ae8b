//! The ceiling for one report per call: gRPC over loopback TLS doing nothing.
//!
//! The echo implements the hub's own service, served and dialled exactly as the hub is (the
//! daemon crate's TLS listener and client channels, rustls with ring), with the same calls in
//! flight over the same connections. Its `Submit` sends back the request's envelope as the
//! "receipt" without looking at it, so each call carries the same signed ~40-value report the
//! hub ingests, and a little more back than the hub's receipt.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alliance_daemon::{serve, tls};
use alliance_proto::pb;
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::pb::hub_service_server::{HubService, HubServiceServer};
use anyhow::{Context, Result, anyhow, bail};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

use crate::Runtimes;
use crate::load::{self, Pool, Run};

/// Serves the echo, then calls it with `in_flight` calls over `connections` connections for
/// `duration`, sending the `sample` envelopes round and round.
pub fn measure(
    runtimes: &Runtimes,
    dir: &Path,
    sample: Vec<pb::Envelope>,
    in_flight: usize,
    connections: usize,
    duration: Duration,
) -> Result<Run> {
    let (server_config, ca_der) = tls_identity(&dir.join("echo-tls"))?;
    let listener = runtimes
        .server
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .context("binding the echo's port")?;
    let address = listener.local_addr().context("the echo's port")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtimes.server.spawn(
        Server::builder()
            .add_service(HubServiceServer::new(Echo))
            .serve_with_incoming_shutdown(serve::tls_incoming(listener, server_config), async {
                let _ = stopped.await;
            }),
    );

    let run = runtimes.client.block_on(async {
        let channels = channels(address, &ca_der, connections).await?;
        load::in_flight(
            in_flight,
            duration,
            Pool::cycling(sample),
            move |worker, envelope: pb::Envelope| {
                let mut client = HubServiceClient::new(channels[worker % channels.len()].clone());
                async move {
                    let sent = envelope.payload.len();
                    let answer = client
                        .submit(pb::SubmitRequest {
                            envelope: Some(envelope),
                            custody_receipt: None,
                        })
                        .await
                        .context("an echo call failed")?
                        .into_inner();
                    match answer.receipt {
                        Some(pb::submit_response::Receipt::HubReceipt(back))
                            if back.payload.len() == sent =>
                        {
                            Ok(1)
                        }
                        other => bail!("the echo answered {other:?}"),
                    }
                }
            },
        )
        .await
    });
    let _ = stop.send(());
    runtimes
        .server
        .block_on(server)
        .context("the echo server panicked")?
        .context("the echo server failed")?;
    run
}

/// Generates a CA and a server certificate for 127.0.0.1 into `dir`, loads them the way the hub
/// does, and returns the server's TLS configuration and the CA (DER) clients pin.
pub fn tls_identity(dir: &Path) -> Result<(Arc<rustls::ServerConfig>, Vec<u8>)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let generated = tls::generate("alliance-bench echo", &[])?;
    let write = |name: &str, pem: &str| -> Result<std::path::PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let ca = write("ca.pem", &generated.ca_cert_pem)?;
    let cert = write("server.pem", &generated.server_cert_pem)?;
    let key = write("server-key.pem", &generated.server_key_pem)?;
    let identity = tls::load_server_identity(&cert, &key, &ca)?;
    Ok((tls::server_config(&identity)?, identity.ca_der().to_vec()))
}

/// `n` HTTP/2 connections (at least one) to `address` over TLS, trusting only `ca_der`. Each
/// is its own TCP connection: a channel is dialled once per connection.
pub async fn channels(address: SocketAddr, ca_der: &[u8], n: usize) -> Result<Arc<Vec<Channel>>> {
    let config = tls::client_config(ca_der)?;
    let mut channels = Vec::with_capacity(n.max(1));
    for _ in 0..n.max(1) {
        let channel = alliance_daemon::client::connect_tls(&address.to_string(), config.clone())
            .await
            .with_context(|| format!("connecting to {address}"))?;
        channels.push(channel);
    }
    if channels.is_empty() {
        return Err(anyhow!("no connection"));
    }
    Ok(Arc::new(channels))
}

/// The hub's service doing nothing: `Submit` answers with the envelope it was sent.
#[derive(Debug)]
struct Echo;

#[tonic::async_trait]
impl HubService for Echo {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let envelope = request
            .into_inner()
            .envelope
            .ok_or_else(|| Status::invalid_argument("no envelope"))?;
        Ok(Response::new(pb::SubmitResponse {
            receipt: Some(pb::submit_response::Receipt::HubReceipt(envelope)),
        }))
    }

    async fn enroll(
        &self,
        _: Request<pb::EnrollRequest>,
    ) -> Result<Response<pb::EnrollResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn enroll_relay(
        &self,
        _: Request<pb::EnrollRelayRequest>,
    ) -> Result<Response<pb::EnrollRelayResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn submit_batch(
        &self,
        _: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn get_receipt(
        &self,
        _: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn get_winning_revision(
        &self,
        _: Request<pb::GetWinningRevisionRequest>,
    ) -> Result<Response<pb::GetWinningRevisionResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn get_framework(
        &self,
        _: Request<pb::GetFrameworkRequest>,
    ) -> Result<Response<pb::GetFrameworkResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn get_registry(
        &self,
        _: Request<pb::GetRegistryRequest>,
    ) -> Result<Response<pb::GetRegistryResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn rotate_key(
        &self,
        _: Request<pb::RotateKeyRequest>,
    ) -> Result<Response<pb::RotateKeyResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
}
