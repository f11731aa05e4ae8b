//! The hub's gRPC services: thin adapters that turn wire requests into domain calls on
//! [`Hub`](crate::hub::Hub) and domain answers into wire responses. Errors become gRPC statuses
//! in one place ([`status`]).
//!
//! - [`IngestService`] (`HubService`): the network-facing port, over TLS.
//! - [`AdminService`] (`HubAdminService`) and [`QueryService`]: the admin socket only.

mod admin;
mod ingest;
mod query;
pub mod status;

pub use admin::{AdminService, LocalActor};
pub use ingest::IngestService;
pub use query::QueryService;

use tonic::Request;

/// Who sent a request, for the audit log: the network peer's address, the admin socket peer's
/// user id, or the local user when the CLI opened the database directly.
fn actor<T>(request: &Request<T>) -> String {
    if let Some(local) = request.extensions().get::<LocalActor>() {
        return local.0.clone();
    }
    if let Some(info) = request
        .extensions()
        .get::<tonic::transport::server::UdsConnectInfo>()
    {
        return match info.peer_cred {
            Some(cred) => format!("admin socket uid {}", cred.uid()),
            None => "admin socket".to_owned(),
        };
    }
    match request.remote_addr() {
        Some(addr) => addr.to_string(),
        None => "unknown peer".to_owned(),
    }
}
