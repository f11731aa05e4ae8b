//! What `status` shows: per organisation, every signed report and where it stands, with the
//! state of the link to the upstream.

use alliance_core::org::OrgId;
use alliance_core::timestamp::Timestamp;
use alliance_store::{DeliveryState, ReportEntry};

use super::{Node, NodeError, now};
use crate::upstream::UpstreamError;

/// The link to the upstream, as the outbox last saw it. Kept in memory: a stopped node has no
/// link to speak of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    /// The latest failure; cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    pub last_contact_at: Option<Timestamp>,
}

/// The node's status.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub upstream: String,
    pub link: LinkState,
    pub orgs: Vec<OrgStatus>,
    /// On a relay: the envelopes it holds for affiliates, by where they stand.
    pub relayed: Option<RelayedSummary>,
}

/// The envelopes a relay took from affiliates, by where they stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayedSummary {
    /// Not yet answered by the hub.
    pub pending: u64,
    /// Given a receipt by the hub.
    pub decided: u64,
    /// Refused by the hub for good.
    pub set_aside: u64,
}

/// One organisation's reports.
#[derive(Debug, Clone)]
pub struct OrgStatus {
    pub org: OrgId,
    pub key_id: String,
    /// Newest first.
    pub reports: Vec<ReportEntry>,
}

impl Node {
    /// The status of `org`, or of every organisation the node holds.
    pub fn status(&self, org: Option<&OrgId>) -> Result<NodeStatus, NodeError> {
        let mut orgs = Vec::new();
        for entry in self.store.orgs()? {
            if entry.enrolled_at.is_none() || org.is_some_and(|o| *o != entry.org) {
                continue;
            }
            orgs.push(OrgStatus {
                reports: self.store.reports(Some(&entry.org))?,
                org: entry.org,
                key_id: entry.key_id,
            });
        }
        let relayed = if self.setup.relay {
            Some(self.relayed_summary()?)
        } else {
            None
        };
        Ok(NodeStatus {
            upstream: self.upstream.address().to_owned(),
            link: self.link.lock().map(|l| l.clone()).unwrap_or_default(),
            orgs,
            relayed,
        })
    }

    /// Counts the reports of organisations the node does not hold: those it relays.
    fn relayed_summary(&self) -> Result<RelayedSummary, NodeError> {
        // The organisations the node holds, as `holds` sees them, by the id a stored report's
        // header gives.
        let held: Vec<String> = self
            .keys
            .lock()
            .map(|keys| keys.keys().map(OrgId::to_string).collect())
            .unwrap_or_default();
        let mut summary = RelayedSummary::default();
        self.store.delivery_states(|org, state| {
            if held.iter().any(|h| h == org) {
                return;
            }
            match state {
                DeliveryState::Pending | DeliveryState::HeldByRelay => summary.pending += 1,
                DeliveryState::Decided => summary.decided += 1,
                DeliveryState::SetAside => summary.set_aside += 1,
            }
        })?;
        Ok(summary)
    }

    pub(super) fn note_contact(&self) {
        if let Ok(mut link) = self.link.lock() {
            link.last_error = None;
            link.last_contact_at = Some(now());
        }
    }

    pub(super) fn note_error(&self, error: &UpstreamError) {
        if let Ok(mut link) = self.link.lock() {
            link.last_error = Some(error.to_string());
            link.last_error_at = Some(now());
        }
    }
}
