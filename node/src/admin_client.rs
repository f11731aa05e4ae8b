//! How the CLI reaches a node: over its admin socket while `serve` runs, or by opening its
//! database directly while it is stopped (DESIGN.md §8). Either way the same `NodeAdminService`
//! methods run with the same requests, so the two paths cannot drift apart.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tonic::transport::Channel;

use alliance_daemon::{client, tls};
use alliance_proto::pb::node_admin_service_client::NodeAdminServiceClient;

use crate::config::ADMIN_SOCKET;
use crate::node::Node;
use crate::service::AdminService;

/// A connection to a node.
#[derive(Debug)]
pub enum NodeConnection {
    /// `serve` runs: gRPC over `DIR/admin.sock`.
    Socket(NodeAdminServiceClient<Channel>),
    /// The node is stopped: its database, opened by this process.
    Direct {
        node: Arc<Node>,
        service: AdminService,
    },
}

/// Calls one `NodeAdminService` method on a [`NodeConnection`], returning the response message
/// or the status.
#[macro_export]
macro_rules! admin_call {
    ($connection:expr, $method:ident, $request:expr) => {{
        use alliance_proto::pb::node_admin_service_server::NodeAdminService as _;
        match $connection {
            $crate::admin_client::NodeConnection::Socket(client) => client.$method($request).await,
            $crate::admin_client::NodeConnection::Direct { service, .. } => {
                service.$method(tonic::Request::new($request)).await
            }
        }
        .map(tonic::Response::into_inner)
    }};
}

impl NodeConnection {
    /// Connects to the node in `data_dir`: its admin socket if it answers, else its database.
    pub async fn connect(data_dir: &Path) -> anyhow::Result<Self> {
        let socket = data_dir.join(ADMIN_SOCKET);
        if socket.exists() {
            match client::connect_admin(&socket).await {
                Ok(channel) => {
                    return Ok(NodeConnection::Socket(
                        NodeAdminServiceClient::new(channel)
                            .max_decoding_message_size(1 << 30)
                            .max_encoding_message_size(1 << 30),
                    ));
                }
                Err(error) => {
                    tracing::debug!(%error, "the admin socket does not answer; opening the database");
                }
            }
        }
        tls::install_crypto_provider();
        let node = Arc::new(
            Node::open(data_dir)
                .with_context(|| format!("opening the node at {}", data_dir.display()))?,
        );
        Ok(NodeConnection::Direct {
            service: AdminService::new(node.clone()),
            node,
        })
    }

    /// Whether the command runs on the database directly (no daemon is running).
    pub fn is_direct(&self) -> bool {
        matches!(self, NodeConnection::Direct { .. })
    }

    /// Flushes the database if this process opened it.
    pub fn close(self) -> anyhow::Result<()> {
        if let NodeConnection::Direct { node, .. } = self {
            node.flush().context("flushing the database")?;
        }
        Ok(())
    }
}
