//! `alliance-node serve`: the outbox and the admin API.
//!
//! - The outbox pushes signed reports to the upstream (see `node/outbox.rs`).
//! - `NodeAdminService`, gRPC health and reflection listen on the admin socket
//!   (`DIR/admin.sock`, mode 0600). Whoever can open the socket is the operator.
//! - On a relay (a `[relay]` section in `node.toml`): `HubService` for the affiliates `--via`
//!   it, with gRPC health, over TLS on the relay's listen address, and a task that fetches the
//!   hub's registry every `registry_refresh_seconds`.
//!
//! Both stop when the shutdown future resolves (SIGTERM or ctrl-c in the binary): requests in
//! flight are finished (for at most [`DRAIN_GRACE`]), the outbox stops between two entries, the
//! database is flushed. A storage error stops the node too, wherever it happened (an operator's
//! command, an affiliate's submission, the outbox), and [`run`] returns it, so the process exits
//! non-zero with it (BAD_INPUTS 25).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use alliance_daemon::{serve as daemon_serve, tls};
use alliance_proto::FILE_DESCRIPTOR_SET;
use alliance_proto::pb::hub_service_server::HubServiceServer;
use alliance_proto::pb::node_admin_service_server::NodeAdminServiceServer;

use crate::config::{ADMIN_SOCKET, RelaySettings, resolve};
use crate::node::Node;
use crate::relay::Relay;
use crate::relay::service::RelayService;
use crate::service::AdminService;

/// How long a shutdown waits for requests in flight.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// How often the store's failure latch is looked at while serving.
const FAILURE_POLL: Duration = Duration::from_millis(200);

/// The largest request the admin socket takes: a CSV import of a few hundred thousand records.
const ADMIN_MESSAGE_LIMIT: usize = 256 * 1024 * 1024;

/// Opens the node in `data_dir` and serves it until SIGTERM or ctrl-c.
pub async fn serve_dir(data_dir: &Path) -> anyhow::Result<()> {
    tls::install_crypto_provider();
    let node = Node::open(data_dir)
        .with_context(|| format!("opening the node at {}", data_dir.display()))?;
    arm_storage_fault(&node)?;
    let socket = data_dir.join(ADMIN_SOCKET);
    let relay = match &node.config().relay {
        Some(relay) => Some(
            TcpListener::bind(&relay.listen)
                .await
                .with_context(|| format!("listening for affiliates on {}", relay.listen))?,
        ),
        None => None,
    };
    let admin = daemon_serve::bind_admin_socket(&socket)
        .with_context(|| format!("binding the admin socket {}", socket.display()))?;
    run(
        Arc::new(node),
        admin,
        relay,
        daemon_serve::shutdown_signal(),
    )
    .await
}

/// Serves `node` on `admin` (bound at `DIR/admin.sock`) and runs its outbox until `shutdown`
/// resolves or the store fails; then finishes what is in flight, flushes and removes the
/// socket file. A relay also serves affiliates on `relay` (TLS), which must then be given.
pub async fn run(
    node: Arc<Node>,
    admin: UnixListener,
    relay: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let socket_path = node.data_dir().join(ADMIN_SOCKET);
    let relay_settings = match (&node.config().relay, relay) {
        (Some(settings), Some(listener)) => Some((settings.clone(), listener)),
        (None, None) => None,
        (Some(_), None) => anyhow::bail!(
            "this node relays ([relay] in its configuration) but no listener was given for it"
        ),
        (None, Some(_)) => anyhow::bail!(
            "a relay listener was given, but this node has no [relay] section in its configuration"
        ),
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    health
        .set_service_status("alliance.v1.NodeAdminService", ServingStatus::Serving)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;

    let (stop, stopped) = watch::channel(false);
    let mut admin_server = tokio::spawn(
        Server::builder()
            .add_service(health_service.clone())
            .add_service(reflection)
            .add_service(
                NodeAdminServiceServer::new(AdminService::new(node.clone()))
                    .max_decoding_message_size(ADMIN_MESSAGE_LIMIT),
            )
            .serve_with_incoming_shutdown(daemon_serve::uds_incoming(admin), {
                let mut stopped = stopped.clone();
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                }
            }),
    );
    let mut relay_tasks = Vec::new();
    if let Some((settings, listener)) = relay_settings {
        health
            .set_service_status("alliance.v1.HubService", ServingStatus::Serving)
            .await;
        relay_tasks = start_relay(&node, &settings, listener, &health_service, &stopped)?;
    }
    let mut outbox = tokio::spawn({
        let node = node.clone();
        async move { node.run_outbox(stopped).await }
    });
    tracing::info!(path = %socket_path.display(), upstream = node.config().upstream, "node serving");

    let mut outbox_done = None;
    // A storage error anywhere (an operator's command, an affiliate's submission, the outbox)
    // leaves the store refusing every write: the node can acknowledge nothing more, so it stops.
    let mut storage_failed = None;
    tokio::select! {
        () = shutdown => tracing::info!("shutting down: finishing requests in flight"),
        result = &mut outbox => outbox_done = Some(result),
        message = failed(&node) => {
            tracing::error!(%message, "storage failed: shutting down");
            storage_failed = Some(message);
        }
        result = &mut admin_server => {
            let _ = stop.send(true);
            outbox.abort();
            return match result {
                Ok(Ok(())) => Err(anyhow::anyhow!("the admin server stopped unexpectedly")),
                Ok(Err(error)) => Err(anyhow::Error::new(error).context("the admin server failed")),
                Err(join) => Err(anyhow::anyhow!("the admin server task panicked: {join}")),
            };
        }
    }
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let _ = stop.send(true);
    // An entry leaves the outbox only once its answer is stored, so stopping the outbox in the
    // middle of a call loses nothing: the call is made again after the restart.
    let outbox = match outbox_done {
        Some(done) => done,
        None => {
            outbox.abort();
            outbox.await
        }
    };
    let drained = tokio::time::timeout(DRAIN_GRACE, admin_server).await;
    for task in relay_tasks {
        match tokio::time::timeout(DRAIN_GRACE, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                tracing::warn!(error = %format!("{error:#}"), "the relay stopped with an error")
            }
            Ok(Err(join)) => tracing::warn!(%join, "a relay task panicked"),
            Err(_) => tracing::warn!(
                "relay connections still open after the grace period: stopped without them"
            ),
        }
    }
    match std::fs::remove_file(&socket_path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(path = %socket_path.display(), %error, "could not remove the admin socket");
        }
    }
    if let Some(message) = storage_failed {
        anyhow::bail!("storage failed, the node acknowledges nothing more: {message}");
    }
    match outbox {
        Ok(result) => result.context("the outbox stopped: the node acknowledges nothing more")?,
        Err(join) if join.is_cancelled() => {}
        Err(join) => anyhow::bail!("the outbox task panicked: {join}"),
    }
    match drained {
        Ok(Ok(result)) => result.context("the admin server failed")?,
        Ok(Err(join)) => anyhow::bail!("the admin server task panicked: {join}"),
        Err(_) => tracing::warn!(
            seconds = DRAIN_GRACE.as_secs(),
            "admin requests still in flight after the grace period: stopped without them"
        ),
    }
    node.flush().context("flushing the database at shutdown")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves with the store's failure once there is one.
async fn failed(node: &Node) -> String {
    let mut poll = tokio::time::interval(FAILURE_POLL);
    loop {
        poll.tick().await;
        if let Some(message) = node.storage_failure() {
            return message;
        }
    }
}

/// Arms the store's fault injection when `ALLIANCE_FAULT_AFTER_WRITES` says so, for the
/// end-to-end tests of a full disk (BAD_INPUTS 25). Only builds with the `fault-injection`
/// feature have it.
#[cfg(feature = "fault-injection")]
fn arm_storage_fault(node: &Node) -> anyhow::Result<()> {
    use alliance_daemon::fault::{FAULT_AFTER_WRITES, fault_after_writes};
    if let Some(writes) = fault_after_writes().map_err(anyhow::Error::msg)? {
        tracing::warn!(
            writes,
            "fault injection armed by {FAULT_AFTER_WRITES}: every store write after these fails"
        );
        node.inject_storage_failure_after(writes);
    }
    Ok(())
}

/// A build without the `fault-injection` feature cannot fail on demand; it says so rather than
/// letting a test believe its fault was armed.
#[cfg(not(feature = "fault-injection"))]
fn arm_storage_fault(_node: &Node) -> anyhow::Result<()> {
    use alliance_daemon::fault::FAULT_AFTER_WRITES;
    if std::env::var_os(FAULT_AFTER_WRITES).is_some() {
        tracing::warn!(
            "{FAULT_AFTER_WRITES} is set, but this build has no fault injection: ignored"
        );
    }
    Ok(())
}

/// Starts a relay's TLS server (`HubService` and health) on `listener` and its registry refresh;
/// both stop when `stopped` turns true.
fn start_relay(
    node: &Arc<Node>,
    settings: &RelaySettings,
    listener: TcpListener,
    health: &tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<anyhow::Result<()>>>> {
    let data_dir = node.data_dir();
    let identity = tls::load_server_identity(
        &resolve(data_dir, &settings.tls.cert),
        &resolve(data_dir, &settings.tls.key),
        &resolve(data_dir, &settings.tls.ca),
    )
    .context("loading the relay's TLS certificate and key")?;
    let tls_config = tls::server_config(&identity).context("configuring the relay's TLS")?;
    let relay = Arc::new(Relay::new(node.clone()).context("starting the relay")?);
    let address = listener
        .local_addr()
        .context("reading the relay's listen address")?;
    let server = Server::builder()
        .add_service(health.clone())
        .add_service(
            HubServiceServer::new(RelayService::new(relay.clone()))
                .max_decoding_message_size(settings.max_message_bytes),
        )
        .serve_with_incoming_shutdown(daemon_serve::tls_incoming(listener, tls_config), {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        });
    let serving = tokio::spawn(async move { server.await.context("the relay's server failed") });
    let every = settings.registry_refresh();
    let refresh = tokio::spawn({
        let stopped = stopped.clone();
        async move {
            relay
                .run_registry_refresh(every, stopped)
                .await
                .map_err(|e| anyhow::anyhow!("refreshing the hub's registry: {e}"))
        }
    });
    tracing::info!(%address, public_address = settings.public_address, "relaying for affiliates over TLS");
    Ok(vec![serving, refresh])
}
