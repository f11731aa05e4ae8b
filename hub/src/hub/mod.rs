//! The hub's state and its operations: the registry, enrollment, verified ingest, the merged
//! view, coverage and the audit log. The gRPC services in `crate::service` are thin adapters
//! over [`Hub`]; the CLI calls the same services in-process when the daemon is not running.
//!
//! # Concurrency and durability
//!
//! Signatures are verified and reports decoded and validated outside any lock, so they use every
//! core. The decision (what outcome an envelope gets), the signing of its receipt, the write to
//! the store and the update of the in-memory ledger happen together under one lock, so that two
//! concurrent submissions of one (org, period) are decided in a single order. The answer is sent
//! only after [`HubStore::durable`] says the write is on disk; concurrent requests share one
//! flush (group commit).
//!
//! After any storage error the hub is *failed*: it acknowledges nothing more, answers every call
//! with UNAVAILABLE, and `serve` exits with the error (BAD_INPUTS 25). What it acknowledged
//! before was flushed, so a restart with space has all of it.

mod admin;
mod enroll;
mod ingest;
mod open;
mod query;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use alliance_core::merge::Ledger;
use alliance_core::org::{OrgId, Registry};
use alliance_core::timestamp::Timestamp;
use alliance_core::validate::Frameworks;
use alliance_envelope::{Envelope, PublicKey, SigningKey};
use alliance_proto::RelayInfo;
use alliance_proto::pb::RefusalReason;
use alliance_store::{HubStore, StoreError};

use crate::config::HubConfig;

pub use admin::{AuditQuery, IssuedCode};
pub use enroll::{EnrollCall, Enrollment, RotateCall, Rotated};
pub use ingest::{BatchAnswer, Custody, ImportResult};
pub use open::OpenError;

/// The hub: everything `serve` and the CLI need, behind one handle shared by every request.
#[derive(Debug)]
pub struct Hub {
    data_dir: PathBuf,
    config: HubConfig,
    store: HubStore,
    signing_key: SigningKey,
    /// SHA-256 of the hub's CA certificate (DER), for join codes.
    ca_fingerprint: [u8; 32],
    frameworks: Frameworks,
    state: Mutex<State>,
    /// Set by the first storage error; from then on nothing is acknowledged.
    failure: Mutex<Option<String>>,
}

/// Why a call failed. The services map these to gRPC statuses in one place
/// (`crate::service::status`).
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A final refusal of what the caller sent; nothing was stored.
    #[error("{0}")]
    Refused(#[from] Refused),
    /// The operator asked for something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operator's request cannot be carried out as given (a duplicate id, a bad CSV row).
    #[error("{0}")]
    Invalid(String),
    /// The store failed; the hub acknowledges nothing more.
    #[error("storage failed, the hub acknowledges nothing more: {0}")]
    Storage(String),
}

/// A final refusal, with the reason sent on the wire and a message that names the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub reason: RefusalReason,
    pub message: String,
}

/// What is read and changed together under the hub's lock.
#[derive(Debug)]
struct State {
    registry: Registry,
    relays: std::collections::BTreeMap<OrgId, RelayInfo>,
    /// Key id to (owner, public key), for every key ever enrolled, so that a signature by a
    /// revoked key is refused as such rather than as unknown. The keys are held decompressed,
    /// so that verifying a report does not decompress its key again.
    keys: std::collections::HashMap<String, (OrgId, PublicKey)>,
    ledger: Ledger,
    /// Rises whenever the ledger changes (a report stored, organisations re-filed), so that
    /// answers derived from it can be cached until it moves.
    generation: u64,
    /// The registry as last signed, and when.
    registry_envelope: Envelope,
    registry_signed_at: std::time::Instant,
    /// The registry changed since it was last signed.
    registry_dirty: bool,
    registry_serial: u64,
}

impl Hub {
    /// Opens the hub in `data_dir`: its configuration, key, TLS CA, store, and the ledger
    /// rebuilt from every stored envelope.
    pub fn open(data_dir: &Path) -> Result<Hub, OpenError> {
        open::open(data_dir)
    }

    /// The hub's public signing key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key.public_key()
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The first storage error, if one happened: then the hub acknowledges nothing more and
    /// `serve` must stop.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    /// Makes every store write fail after `writes` more, as a full or broken disk would, for
    /// tests of storage errors (BAD_INPUTS 25).
    #[cfg(feature = "fault-injection")]
    pub fn inject_storage_failure_after(&self, writes: u64) {
        self.store.inject_failure_after(writes);
    }

    /// Flushes everything to disk (at shutdown).
    pub fn flush(&self) -> Result<(), HubError> {
        self.store.flush().map_err(|e| self.fail(e))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Records a storage error as the hub's failure and turns it into the error to answer.
    fn fail(&self, error: StoreError) -> HubError {
        let message = error.to_string();
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            tracing::error!(%message, "storage failed; the hub acknowledges nothing more");
            *failure = Some(message.clone());
        }
        HubError::Storage(message)
    }

    /// Refuses to go on once storage has failed.
    fn check_healthy(&self) -> Result<(), HubError> {
        match self.failure() {
            Some(message) => Err(HubError::Storage(message)),
            None => Ok(()),
        }
    }

    /// Waits until every write made so far is on disk.
    async fn durable(&self) -> Result<(), HubError> {
        self.store.durable().await.map_err(|e| self.fail(e))
    }
}

/// The clock. The domain never reads it; the hub reads it here only.
pub fn now() -> Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Timestamp(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// A poisoned lock means a panic mid-update in another request; the state it guards is still
/// the best there is, and the store holds the durable copy, so carry on with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Refused {
    pub fn new(reason: RefusalReason, message: impl Into<String>) -> Self {
        Refused {
            reason,
            message: message.into(),
        }
    }
}
