//! The node's state and every operation on it, independent of transport: the admin service,
//! the command line in direct mode and the outbox all call these methods.
//!
//! - `open.rs`: data directory → [`Node`], finishing drafts a crash left unsigned.
//! - `records.rs`: local records, which never leave the node.
//! - `reports.rs`: building, previewing, submitting, withdrawing and exporting reports.
//! - `outbox.rs`: pushing signed reports upstream, in order, until the hub has answered.
//! - `keys.rs`: key files and rotation.
//! - `hosted.rs`: affiliates a relay hosts.
//! - `status.rs`: what `status` shows.

mod hosted;
pub(crate) mod keys;
mod open;
mod outbox;
mod records;
mod reports;
mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::Notify;

use alliance_core::framework::Framework;
use alliance_core::org::OrgId;
use alliance_core::timestamp::Timestamp;
use alliance_envelope::SigningKey;
use alliance_store::{NodeStore, Setup, StoreError};

use crate::config::NodeConfig;
use crate::upstream::{Upstream, UpstreamError};

pub use hosted::Hosted;
pub use keys::Rotated;
pub use open::OpenError;
pub(crate) use open::open_framework;
pub use outbox::{IN_FLIGHT, WINDOW};
pub use reports::Warning;
pub use reports::{Preview, Submitted};
pub use status::{LinkState, NodeStatus, OrgStatus, RelayedSummary};

/// An opened node.
#[derive(Debug)]
pub struct Node {
    data_dir: PathBuf,
    config: NodeConfig,
    store: NodeStore,
    setup: Setup,
    framework: Framework,
    /// The key each organisation signs with now.
    keys: Mutex<BTreeMap<OrgId, SigningKey>>,
    upstream: Upstream,
    /// Held while a revision is assigned, stored and signed, so two submissions of one period
    /// cannot take the same number.
    revisions: tokio::sync::Mutex<()>,
    /// Wakes the outbox when something is queued.
    outbox_wake: Notify,
    link: Mutex<LinkState>,
    /// When the reports held by a relay were last looked up at the upstream.
    held_polled: Mutex<Option<std::time::Instant>>,
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The request is not valid; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The upstream refused or could not be reached.
    #[error("the upstream: {0}")]
    Upstream(#[from] UpstreamError),
    /// The database failed; nothing was acknowledged.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
}

impl Node {
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    pub fn framework(&self) -> &Framework {
        &self.framework
    }

    /// The organisation a request names, or the node's own when it names none.
    pub fn org_or_own(&self, org: &str) -> Result<OrgId, NodeError> {
        if org.is_empty() {
            return Ok(self.setup.own_org.clone());
        }
        let id: OrgId = org
            .parse()
            .map_err(|e| NodeError::Invalid(format!("org_id: {e}")))?;
        if self.keys.lock().is_ok_and(|keys| keys.contains_key(&id)) {
            Ok(id)
        } else {
            Err(NodeError::NotFound(format!(
                "this node does not hold organisation {id}"
            )))
        }
    }

    /// The key `org` signs with now.
    fn key_of(&self, org: &OrgId) -> Result<SigningKey, NodeError> {
        self.keys
            .lock()
            .map_err(|_| NodeError::Invalid("the key table is poisoned".to_owned()))?
            .get(org)
            .cloned()
            .ok_or_else(|| NodeError::NotFound(format!("this node holds no key for {org}")))
    }

    /// The hub's key, pinned at enrollment.
    pub fn hub_key(&self) -> [u8; 32] {
        self.setup.hub_public_key
    }

    /// The organisation that runs this node.
    pub fn own_org(&self) -> &OrgId {
        &self.setup.own_org
    }

    /// Whether this node was enrolled as a relay.
    pub fn is_relay(&self) -> bool {
        self.setup.relay
    }

    /// The key the node's own organisation signs with now (a relay signs custody receipts
    /// with it).
    pub(crate) fn own_key(&self) -> Result<SigningKey, NodeError> {
        self.key_of(&self.setup.own_org)
    }

    /// Whether the node holds `org` (its own, or one it hosts); a report of any other
    /// organisation in its store is one it relays.
    pub(crate) fn holds(&self, org: &OrgId) -> bool {
        self.keys.lock().is_ok_and(|keys| keys.contains_key(org))
    }

    pub(crate) fn store(&self) -> &NodeStore {
        &self.store
    }

    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The link to the upstream as the outbox last saw it.
    pub(crate) fn link(&self) -> LinkState {
        self.link.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Flushes everything written so far: at shutdown and after direct-mode commands.
    pub fn flush(&self) -> Result<(), NodeError> {
        Ok(self.store.flush()?)
    }

    /// The first storage error, if one happened: then the node acknowledges nothing more and
    /// `serve` must stop.
    pub fn storage_failure(&self) -> Option<String> {
        self.store.failure()
    }

    /// Breaks the store after `writes` more writes, for tests of storage errors.
    #[cfg(feature = "fault-injection")]
    pub fn inject_storage_failure_after(&self, writes: u64) {
        self.store.inject_failure_after(writes);
    }
}

/// The current time, as the domain counts it.
pub fn now() -> Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp(i64::try_from(seconds).unwrap_or(i64::MAX))
}
