//! `alliance-hub serve`: the hub's two gRPC servers.
//!
//! - On the network, over TLS: `HubService` (ingest and enrollment), gRPC health and
//!   reflection.
//! - On the admin socket (`DIR/admin.sock`, mode 0600): `HubAdminService` and `QueryService`,
//!   health and reflection. Whoever can open the socket is the operator.
//!
//! Both stop together, finishing the requests in flight, when the shutdown future resolves
//! (SIGTERM or ctrl-c in the binary) or when the hub's storage fails; in the second case
//! [`run`] returns the storage error, so the process exits non-zero with it (BAD_INPUTS 25).
//!
//! [`run`] takes bound listeners, so tests serve on `127.0.0.1:0` in-process.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use alliance_daemon::{serve as daemon_serve, tls};
use alliance_proto::FILE_DESCRIPTOR_SET;
use alliance_proto::pb::hub_admin_service_server::HubAdminServiceServer;
use alliance_proto::pb::hub_service_server::HubServiceServer;
use alliance_proto::pb::query_service_server::QueryServiceServer;

use crate::config::{ADMIN_SOCKET, HubConfig};
use crate::hub::Hub;
use crate::service::{AdminService, IngestService, QueryService};

/// How long a shutdown waits for requests in flight before it closes the connections left.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// HTTP/2 keepalive: a peer that answers no ping within the timeout is disconnected, so dead
/// connections do not pile up on a hub whose nodes sit behind unreliable links.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How often the hub's failure latch is looked at while serving.
const FAILURE_POLL: Duration = Duration::from_millis(200);

/// The gRPC service names health reports on, besides "" (the whole server).
const HEALTH_SERVICES: [&str; 3] = [
    "alliance.v1.HubService",
    "alliance.v1.HubAdminService",
    "alliance.v1.QueryService",
];

/// Opens the hub in `data_dir` and serves it on its configured address and admin socket until
/// SIGTERM or ctrl-c. The crypto provider is installed here; logging is the caller's.
pub async fn serve_dir(data_dir: &Path) -> anyhow::Result<()> {
    tls::install_crypto_provider();
    let hub = Hub::open(data_dir)
        .with_context(|| format!("opening the hub at {}", data_dir.display()))?;
    arm_storage_fault(&hub)?;
    let listen = hub.config().listen.clone();
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let socket = data_dir.join(ADMIN_SOCKET);
    let admin = daemon_serve::bind_admin_socket(&socket)
        .with_context(|| format!("binding the admin socket {}", socket.display()))?;
    run(
        Arc::new(hub),
        listener,
        admin,
        daemon_serve::shutdown_signal(),
    )
    .await
}

/// Serves `hub` on `listener` (TLS, the network-facing services) and `admin` (the admin
/// socket, bound at `DIR/admin.sock` by [`alliance_daemon::serve::bind_admin_socket`]) until `shutdown` resolves or the hub's storage fails; then finishes what is in
/// flight, flushes, and removes the admin socket file. Returns the storage error if that is
/// what stopped it.
pub async fn run(
    hub: Arc<Hub>,
    listener: TcpListener,
    admin: UnixListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = hub.config().clone();
    let tls_config = server_tls(hub.data_dir(), &config)?;
    let network_address = listener
        .local_addr()
        .context("reading the listen address")?;
    // The socket's own address may be a temporary name it was bound under before being moved
    // into place, so the data directory's layout says where it is.
    let socket_path = hub.data_dir().join(ADMIN_SOCKET);

    let limit = config.limits.max_message_bytes;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    for name in HEALTH_SERVICES {
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("building the reflection service")
    };

    let (stop, stopped) = watch::channel(false);
    let network = Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .add_service(health_service.clone())
        .add_service(reflection()?)
        .add_service(
            HubServiceServer::new(IngestService::new(hub.clone())).max_decoding_message_size(limit),
        )
        .serve_with_incoming_shutdown(
            daemon_serve::tls_incoming(listener, tls_config),
            stop_requested(stopped.clone()),
        );
    let admin_server = Server::builder()
        .add_service(health_service)
        .add_service(reflection()?)
        .add_service(
            HubAdminServiceServer::new(AdminService::new(hub.clone()))
                .max_decoding_message_size(limit),
        )
        .add_service(
            QueryServiceServer::new(QueryService::new(hub.clone()))
                .max_decoding_message_size(limit),
        )
        .serve_with_incoming_shutdown(daemon_serve::uds_incoming(admin), stop_requested(stopped));
    let mut servers = JoinSet::new();
    servers.spawn(async move { ("the network server", network.await) });
    servers.spawn(async move { ("the admin server", admin_server.await) });
    tracing::info!(address = %network_address, "serving ingest and enrollment over TLS");
    tracing::info!(path = %socket_path.display(), "serving administration on the admin socket");

    // Whatever comes first stops both servers: the signal, a storage failure, or one server
    // ending on its own (which only happens on an error).
    let stop_reason = tokio::select! {
        () = shutdown => Stop::Requested,
        message = failed(&hub) => Stop::StorageFailed(message),
        Some(joined) = servers.join_next() => Stop::ServerEnded(server_ended(joined)),
    };
    match &stop_reason {
        Stop::Requested => tracing::info!("shutting down: finishing requests in flight"),
        Stop::StorageFailed(message) => tracing::error!(%message, "storage failed: shutting down"),
        Stop::ServerEnded(error) => tracing::error!(error = %format!("{error:#}"), "shutting down"),
    }
    for name in std::iter::once("").chain(HEALTH_SERVICES) {
        health
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
    // `send` fails only when every receiver is gone, that is when both servers have ended.
    let _ = stop.send(true);
    let mut drained = Ok(());
    let drain = async {
        while let Some(joined) = servers.join_next().await {
            if let (Ok(()), Ok((name, Err(error)))) = (&drained, joined) {
                drained = Err(anyhow::Error::new(error).context(format!("{name} failed")));
            }
        }
    };
    // A peer that stopped responding (a suspended process, a partitioned link) would hold a
    // graceful shutdown open for ever; after the grace period its connection is cut. What it
    // had not been answered was not acknowledged, so nothing acknowledged is lost.
    if tokio::time::timeout(DRAIN_GRACE, drain).await.is_err() {
        tracing::warn!(
            seconds = DRAIN_GRACE.as_secs(),
            "connections still open after the grace period: closing them"
        );
        servers.abort_all();
    }

    // Gone already is fine: a test may have served on a socket elsewhere.
    match std::fs::remove_file(&socket_path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(path = %socket_path.display(), %error, "could not remove the admin socket");
        }
    }
    match stop_reason {
        Stop::StorageFailed(message) => {
            anyhow::bail!("storage failed, the hub acknowledges nothing more: {message}")
        }
        Stop::ServerEnded(error) => Err(error),
        Stop::Requested => {
            drained?;
            hub.flush().context("flushing the database at shutdown")?;
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// Arms the store's fault injection when `ALLIANCE_FAULT_AFTER_WRITES` says so, for the
/// end-to-end tests of a full disk (BAD_INPUTS 25). Only builds with the `fault-injection`
/// feature have it.
#[cfg(feature = "fault-injection")]
fn arm_storage_fault(hub: &Hub) -> anyhow::Result<()> {
    use alliance_daemon::fault::{FAULT_AFTER_WRITES, fault_after_writes};
    if let Some(writes) = fault_after_writes().map_err(anyhow::Error::msg)? {
        tracing::warn!(
            writes,
            "fault injection armed by {FAULT_AFTER_WRITES}: every store write after these fails"
        );
        hub.inject_storage_failure_after(writes);
    }
    Ok(())
}

/// A build without the `fault-injection` feature cannot fail on demand; it says so rather than
/// letting a test believe its fault was armed.
#[cfg(not(feature = "fault-injection"))]
fn arm_storage_fault(_hub: &Hub) -> anyhow::Result<()> {
    use alliance_daemon::fault::FAULT_AFTER_WRITES;
    if std::env::var_os(FAULT_AFTER_WRITES).is_some() {
        tracing::warn!(
            "{FAULT_AFTER_WRITES} is set, but this build has no fault injection: ignored"
        );
    }
    Ok(())
}

/// Why serving stopped.
enum Stop {
    Requested,
    StorageFailed(String),
    /// A server ended before it was asked to: the error that ended it.
    ServerEnded(anyhow::Error),
}

/// The rustls configuration of the network server, from the configured files.
fn server_tls(data_dir: &Path, config: &HubConfig) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let cert = HubConfig::resolve(data_dir, &config.tls.cert);
    let key = HubConfig::resolve(data_dir, &config.tls.key);
    let ca = HubConfig::resolve(data_dir, &config.tls.ca);
    let identity = tls::load_server_identity(&cert, &key, &ca)
        .context("loading the hub's TLS certificate and key")?;
    tls::server_config(&identity).context("configuring TLS")
}

/// Resolves when the stop flag is raised (or its sender is gone).
async fn stop_requested(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Resolves with the hub's storage error once there is one.
async fn failed(hub: &Hub) -> String {
    let mut poll = tokio::time::interval(FAILURE_POLL);
    loop {
        poll.tick().await;
        if let Some(message) = hub.failure() {
            return message;
        }
    }
}

/// What a server that ended before it was asked to stop ended with, as an error.
fn server_ended(
    joined: Result<(&'static str, Result<(), tonic::transport::Error>), tokio::task::JoinError>,
) -> anyhow::Error {
    match joined {
        Ok((name, Ok(()))) => anyhow::anyhow!("{name} stopped unexpectedly"),
        Ok((name, Err(error))) => anyhow::Error::new(error).context(format!("{name} failed")),
        Err(join) => anyhow::anyhow!("a server task panicked: {join}"),
    }
}
