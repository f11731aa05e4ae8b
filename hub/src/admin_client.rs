//! How the CLI reaches a hub: over its admin socket while `serve` runs, or by opening its
//! database directly while it is stopped (DESIGN.md §8).
//!
//! Either way the commands call the same `HubAdminService` and `QueryService` methods with the
//! same requests: over gRPC through the generated clients, or in-process on the very service
//! types `serve` mounts. So the two paths cannot drift apart, and a refusal reads the same.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use futures::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use alliance_daemon::client;
use alliance_proto::pb;
use alliance_proto::pb::hub_admin_service_client::HubAdminServiceClient;
use alliance_proto::pb::hub_admin_service_server::HubAdminService as _;
use alliance_proto::pb::query_service_client::QueryServiceClient;
use alliance_proto::pb::query_service_server::QueryService as _;

use crate::config::{ADMIN_SOCKET, CONFIG_FILE};
use crate::hub::{Hub, OpenError};
use crate::service::{AdminService, LocalActor, QueryService};

/// The chunks of an export, whichever way they come.
pub type ExportChunks = Pin<Box<dyn Stream<Item = Result<pb::ExportResponse, Status>> + Send>>;

/// A connection to a hub, through which every command other than `init` and `serve` works.
// A process makes one; boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum HubConnection {
    /// `serve` runs: gRPC over `DIR/admin.sock`.
    Socket {
        admin: HubAdminServiceClient<Channel>,
        query: QueryServiceClient<Channel>,
    },
    /// The hub is stopped: its database, opened by this process.
    Direct {
        hub: Arc<Hub>,
        admin: AdminService,
        query: QueryService,
    },
}

/// The largest answer the command line takes from its hub's admin socket.
const LOCAL_ANSWER_LIMIT: usize = 1 << 30;

impl HubConnection {
    /// Connects to the hub in `data_dir`: its admin socket if it answers, else its database.
    pub async fn connect(data_dir: &Path) -> anyhow::Result<Self> {
        let socket = data_dir.join(ADMIN_SOCKET);
        if socket.exists() {
            match client::connect_admin(&socket).await {
                Ok(channel) => {
                    tracing::debug!(path = %socket.display(), "using the admin socket");
                    // The operator's own hub on a local socket: a view by organisation of a
                    // large alliance is tens of megabytes, far over tonic's default 4 MiB.
                    return Ok(HubConnection::Socket {
                        admin: HubAdminServiceClient::new(channel.clone())
                            .max_decoding_message_size(LOCAL_ANSWER_LIMIT),
                        query: QueryServiceClient::new(channel)
                            .max_decoding_message_size(LOCAL_ANSWER_LIMIT),
                    });
                }
                // A socket left by a hub that was killed: the database is free to open.
                Err(error) => {
                    tracing::debug!(%error, "the admin socket does not answer; opening the database");
                }
            }
        }
        Self::open(data_dir)
    }

    /// Opens the hub's database in this process.
    fn open(data_dir: &Path) -> anyhow::Result<Self> {
        if !data_dir.join(CONFIG_FILE).exists() {
            anyhow::bail!(
                "{} holds no hub (no {CONFIG_FILE}); create one with `alliance-hub init --data {}`",
                data_dir.display(),
                data_dir.display()
            );
        }
        let hub = match Hub::open(data_dir) {
            Ok(hub) => Arc::new(hub),
            Err(error) if is_locked(&error) => anyhow::bail!(
                "the hub at {} is running but its admin socket does not answer ({error})",
                data_dir.display()
            ),
            Err(error) => {
                return Err(anyhow::Error::new(error)
                    .context(format!("opening the hub at {}", data_dir.display())));
            }
        };
        tracing::debug!("the hub is not running; opened its database directly");
        Ok(HubConnection::Direct {
            admin: AdminService::new(hub.clone()),
            query: QueryService::new(hub.clone()),
            hub,
        })
    }

    /// Ends the connection; a directly opened database is flushed before it is closed.
    pub async fn close(self) -> anyhow::Result<()> {
        match self {
            HubConnection::Socket { .. } => Ok(()),
            HubConnection::Direct { hub, .. } => hub.flush().context("flushing the database"),
        }
    }

    /// The chunks of an export.
    pub async fn export(&mut self, request: pb::ExportRequest) -> Result<ExportChunks, Status> {
        match self {
            HubConnection::Socket { query, .. } => {
                let stream = query.export(request).await?.into_inner();
                Ok(stream.boxed())
            }
            HubConnection::Direct { query, .. } => {
                let stream = query.export(local_request(request)).await?.into_inner();
                Ok(stream.boxed())
            }
        }
    }
}

/// Declares a method per unary call: the request goes to the generated client or to the
/// in-process service, and the response comes back the same way.
macro_rules! unary_calls {
    ($($(#[$doc:meta])* $method:ident($side:ident, $request:ident) -> $response:ident;)+) => {
        impl HubConnection {
            $(
                $(#[$doc])*
                pub async fn $method(
                    &mut self,
                    request: pb::$request,
                ) -> Result<pb::$response, Status> {
                    match self {
                        HubConnection::Socket { $side, .. } => {
                            $side.$method(request).await.map(Response::into_inner)
                        }
                        HubConnection::Direct { $side, .. } => {
                            $side.$method(local_request(request)).await.map(Response::into_inner)
                        }
                    }
                }
            )+
        }
    };
}

unary_calls! {
    add_organisation(admin, AddOrganisationRequest) -> AddOrganisationResponse;
    import_organisations(admin, ImportOrganisationsRequest) -> ImportOrganisationsResponse;
    list_organisations(admin, ListOrganisationsRequest) -> ListOrganisationsResponse;
    get_organisation(admin, GetOrganisationRequest) -> GetOrganisationResponse;
    reissue_join_code(admin, ReissueJoinCodeRequest) -> ReissueJoinCodeResponse;
    revoke_key(admin, RevokeKeyRequest) -> RevokeKeyResponse;
    deactivate_organisation(admin, DeactivateOrganisationRequest) -> DeactivateOrganisationResponse;
    set_deadline(admin, SetDeadlineRequest) -> SetDeadlineResponse;
    import_envelopes(admin, ImportEnvelopesRequest) -> ImportEnvelopesResponse;
    list_audit(admin, ListAuditRequest) -> ListAuditResponse;
    view(query, ViewRequest) -> ViewResponse;
    coverage(query, CoverageRequest) -> CoverageResponse;
}

/// A request made in-process, naming the local user for the audit log (over the socket the
/// hub reads the peer's uid from the socket itself).
fn local_request<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(LocalActor(local_actor()));
    request
}

/// "local uid 1000 (database opened directly)": the uid owning this process's /proc entry,
/// which is its real uid, read without a libc call.
fn local_actor() -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self") {
        Ok(meta) => format!("local uid {} (database opened directly)", meta.uid()),
        Err(_) => "local user (database opened directly)".to_owned(),
    }
}

/// Whether opening failed because another process holds the database.
fn is_locked(error: &OpenError) -> bool {
    matches!(
        error,
        OpenError::Store(alliance_store::StoreError::Locked(_))
    )
}
