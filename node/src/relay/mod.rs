//! Relay mode (DESIGN.md §1, §6): a regional organisation's node offers the affiliates
//! registered `--via` it the hub's interface.
//!
//! - `Submit`: the envelope's exact bytes are verified against the hub's signed registry
//!   ([`verify::check_report`]), so junk is refused before anything is stored; an unknown key
//!   fetches the registry again (at most once per [`UNKNOWN_KEY_REFRESH`]). The envelope is then
//!   queued in the node's own outbox with the relay's signed custody receipt, flushed, and only
//!   then answered with that receipt. The same envelope again gets the same receipt.
//! - Forwarding is the outbox's: in order, unchanged, with the custody receipt attached; the
//!   hub's receipt (verified under the pinned key) or final refusal is stored as the entry's
//!   outcome, and the queue goes on.
//! - `GetReceipt` answers from what the relay holds (the hub's receipt, the hub's refusal, or
//!   pending with the custody receipt), and asks the hub about anything else.
//! - Everything else the hub signs is passed through unchanged: the affiliate verifies it under
//!   the hub key it pinned, so the relay cannot fake it. A relay cannot alter an affiliate's
//!   report either: the hub verifies the affiliate's signature itself.
//!
//! [`service::RelayService`] is the gRPC adapter.

pub mod service;
pub mod verify;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, watch};

use alliance_core::receipt::{CustodyReceipt, ReportId};
use alliance_envelope::{Envelope, payload_type, sign};
use alliance_proto::RegistryDocument;
use alliance_proto::pb::{self, RefusalReason};
use alliance_store::{DeliveryState, ReportEntry, StoreError};

use crate::node::{Node, NodeError, now};
use crate::upstream::{UpstreamError, open_registry};
use verify::{Rejection, check_report, refusal};

/// The shortest time between two registry fetches caused by envelopes signed with keys the
/// relay does not know, so that junk cannot make it hammer the hub.
pub const UNKNOWN_KEY_REFRESH: Duration = Duration::from_secs(10);

/// The most envelopes one `SubmitBatch` may carry.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// The relay: the node it runs on, and the hub's registry as it last fetched it.
#[derive(Debug)]
pub struct Relay {
    node: Arc<Node>,
    registry: RwLock<Option<RegistryDocument>>,
    /// When the registry was last fetched.
    fetched: Mutex<Option<Instant>>,
    /// Held while a submission checks for an earlier copy and queues, so that two copies of one
    /// envelope arriving together get the same custody receipt.
    custody: Mutex<()>,
}

/// Why a relay operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Refused for good; nothing was stored.
    #[error("refused: {}", .0.message)]
    Refused(pb::Refusal),
    /// The store failed; nothing was acknowledged.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    #[error("{0}")]
    Node(#[from] NodeError),
    /// Cannot be decided now; the sender tries again later.
    #[error("{0}")]
    Unavailable(String),
}

/// What the relay knows of a report, for `GetReceipt`.
#[derive(Debug, Clone)]
pub enum Held {
    /// The hub's receipt.
    Receipt(Envelope),
    /// The hub's final refusal.
    Refused(pb::Refusal),
    /// Stored, not answered by the hub yet.
    Pending {
        custody: Option<Envelope>,
        last_error: Option<String>,
    },
}

impl Relay {
    /// The relay on `node`, with the registry the node stored (verified under the pinned hub
    /// key).
    pub fn new(node: Arc<Node>) -> Result<Relay, RelayError> {
        let registry = match node.store().registry()? {
            Some(envelope) => match open_registry(&envelope, &node.hub_key()) {
                Ok(registry) => Some(registry),
                Err(error) => {
                    tracing::warn!(%error, "the stored registry does not verify: fetching it again");
                    None
                }
            },
            None => None,
        };
        Ok(Relay {
            node,
            registry: RwLock::new(registry),
            fetched: Mutex::new(None),
            custody: Mutex::new(()),
        })
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Fetches the hub's registry, verified under the pinned key, and keeps it (and stores it)
    /// unless the one held is newer.
    pub async fn refresh_registry(&self) -> Result<(), RelayError> {
        let mut fetched = self.fetched.lock().await;
        self.fetch(&mut fetched).await
    }

    /// Fetches the registry again every `every` until `stop` turns true. Failures are logged
    /// and tried again at the next turn; a storage failure ends it.
    pub async fn run_registry_refresh(
        &self,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), RelayError> {
        loop {
            match self.refresh_registry().await {
                Ok(()) => {}
                Err(RelayError::Storage(error)) => return Err(RelayError::Storage(error)),
                Err(error) => tracing::warn!(%error, "could not refresh the hub's registry"),
            }
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    async fn fetch(&self, fetched: &mut Option<Instant>) -> Result<(), RelayError> {
        *fetched = Some(Instant::now());
        let (registry, envelope) = self
            .node
            .upstream()
            .registry()
            .await
            .map_err(NodeError::from)?;
        let newer = self
            .registry
            .read()
            .map(|held| held.as_ref().is_none_or(|h| registry.serial >= h.serial))
            .unwrap_or(true);
        if newer {
            self.node.store().put_registry(&envelope)?;
            if let Ok(mut held) = self.registry.write() {
                *held = Some(registry);
            }
        }
        Ok(())
    }

    /// Checks an envelope against the registry held, fetching a newer one once if its key is
    /// unknown (and the last fetch is older than [`UNKNOWN_KEY_REFRESH`]).
    async fn check(
        &self,
        envelope: &Envelope,
    ) -> Result<(alliance_core::report::Report, ReportId), RelayError> {
        let relay = self.node.own_org().clone();
        // Checked under the read lock rather than on a copy: the registry of a large alliance
        // is megabytes, and copying it for every envelope made intake CPU-bound.
        let attempt = |this: &Self| {
            let empty = alliance_core::org::Registry::default();
            match this.registry.read() {
                Ok(held) => check_report(
                    envelope,
                    held.as_ref().map_or(&empty, |r| &r.registry),
                    &relay,
                    now(),
                ),
                Err(_) => check_report(envelope, &empty, &relay, now()),
            }
        };
        let arrived = Instant::now();
        match attempt(self) {
            Ok(checked) => Ok(checked),
            Err(Rejection::Refused(refusal)) => Err(RelayError::Refused(refusal)),
            Err(Rejection::UnknownKey(_)) => {
                let refreshed = {
                    let mut fetched = self.fetched.lock().await;
                    if fetched.is_some_and(|at| at >= arrived) {
                        // Another request fetched it while this one waited.
                        true
                    } else if fetched.is_none_or(|at| at.elapsed() >= UNKNOWN_KEY_REFRESH) {
                        match self.fetch(&mut fetched).await {
                            Ok(()) => true,
                            Err(RelayError::Storage(error)) => {
                                return Err(RelayError::Storage(error));
                            }
                            Err(error) => {
                                tracing::warn!(%error, "could not refresh the hub's registry");
                                false
                            }
                        }
                    } else {
                        false
                    }
                };
                match attempt(self) {
                    Ok(checked) => Ok(checked),
                    Err(Rejection::Refused(refusal)) => Err(RelayError::Refused(refusal)),
                    // Unknown in a registry fetched after the envelope came: refused for good.
                    Err(Rejection::UnknownKey(refusal)) if refreshed => {
                        Err(RelayError::Refused(refusal))
                    }
                    // The registry could not be fetched again just now: the key may be new, so
                    // the sender tries again later rather than setting its envelope aside.
                    Err(Rejection::UnknownKey(refusal)) => Err(RelayError::Unavailable(format!(
                        "{}; the relay could not fetch a newer registry just now, try again later",
                        refusal.message
                    ))),
                }
            }
        }
    }

    /// Forgets when the registry was last fetched, so that the next envelope signed by a key
    /// the relay does not know fetches it at once: after an enrollment or a key rotation passed
    /// through the relay, the next envelope is likely signed by the new key.
    pub async fn registry_is_stale(&self) {
        *self.fetched.lock().await = None;
    }

    /// Takes one envelope from an affiliate: checks it, stores it durably in the outbox with a
    /// custody receipt, and returns that receipt (the stored one, for an envelope already held).
    pub async fn submit(&self, envelope: Envelope) -> Result<Envelope, RelayError> {
        let (report, id) = self.check(&envelope).await?;
        let custody = self.hold(envelope, &report, id).await?;
        self.node.store().durable().await?;
        self.node.wake_outbox();
        Ok(custody)
    }

    /// Takes several envelopes: the custody receipts of those stored, in order, and the
    /// refusals by index. A storage failure fails the whole batch (nothing is acknowledged).
    pub async fn submit_batch(
        &self,
        envelopes: Vec<Envelope>,
    ) -> Result<(Vec<Envelope>, Vec<(u32, pb::Refusal)>), RelayError> {
        if envelopes.len() > MAX_BATCH_ITEMS {
            return Err(RelayError::Refused(refusal(
                RefusalReason::TooLarge,
                format!(
                    "the batch holds {} envelopes, more than the limit of {MAX_BATCH_ITEMS}",
                    envelopes.len()
                ),
                now(),
            )));
        }
        let mut receipts = Vec::new();
        let mut refusals = Vec::new();
        for (index, envelope) in envelopes.into_iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            match self.check(&envelope).await {
                Ok((report, id)) => receipts.push(self.hold(envelope, &report, id).await?),
                Err(RelayError::Refused(refusal)) => refusals.push((index, refusal)),
                Err(error) => return Err(error),
            }
        }
        self.node.store().durable().await?;
        if !receipts.is_empty() {
            self.node.wake_outbox();
        }
        Ok((receipts, refusals))
    }

    /// Queues a checked envelope with a new custody receipt, or finds the one held. Not yet
    /// durable: the caller waits for the flush before it answers.
    async fn hold(
        &self,
        envelope: Envelope,
        report: &alliance_core::report::Report,
        id: ReportId,
    ) -> Result<Envelope, RelayError> {
        let _one_at_a_time = self.custody.lock().await;
        let store = self.node.store();
        if let Some(custody) = store.report(&id)?.and_then(|held| held.custody_receipt) {
            return Ok(custody);
        }
        let received_at = now();
        let receipt = CustodyReceipt {
            report_id: id,
            relay: self.node.own_org().clone(),
            org: report.org.clone(),
            period: report.period,
            revision: report.revision,
            received_at,
        };
        let key = self.node.own_key()?;
        let custody = sign(
            &key,
            payload_type::CUSTODY_RECEIPT,
            alliance_proto::encode_custody_receipt(&receipt),
        );
        store.queue(&ReportEntry {
            report_id: id,
            org: report.org.clone(),
            period: report.period,
            revision: report.revision,
            withdrawn: report.withdrawn,
            envelope,
            queued_at: received_at,
            attempts: 0,
            state: DeliveryState::Pending,
            custody_receipt: Some(custody.clone()),
            receipt: None,
            refusal: None,
        })?;
        tracing::info!(report_id = %id, org = %report.org, period = %report.period, revision = report.revision, "relayed report stored");
        Ok(custody)
    }

    /// What the relay holds of report `id`; `None` if it holds nothing.
    pub fn held(&self, id: &ReportId) -> Result<Option<Held>, RelayError> {
        let Some(entry) = self.node.store().report(id)? else {
            return Ok(None);
        };
        Ok(Some(match entry.state {
            DeliveryState::Decided => match entry.receipt {
                Some(receipt) => Held::Receipt(receipt),
                None => Held::Pending {
                    custody: entry.custody_receipt,
                    last_error: None,
                },
            },
            DeliveryState::SetAside => {
                let stored = entry
                    .refusal
                    .unwrap_or_else(|| alliance_store::StoredRefusal {
                        reason: String::new(),
                        message: "refused by the hub".to_owned(),
                    });
                let reason = RefusalReason::from_str_name(&stored.reason)
                    .unwrap_or(RefusalReason::Unspecified);
                Held::Refused(pb::Refusal {
                    reason: reason as i32,
                    message: stored.message,
                    refused_at_unix_seconds: 0,
                })
            }
            DeliveryState::Pending | DeliveryState::HeldByRelay => Held::Pending {
                custody: entry.custody_receipt,
                last_error: self.node.link().last_error,
            },
        }))
    }
}

impl From<UpstreamError> for RelayError {
    fn from(error: UpstreamError) -> Self {
        RelayError::Node(NodeError::Upstream(error))
    }
}
