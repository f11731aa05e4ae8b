//! Reports: built from the records of a period, disclosure control applied, stored as a new
//! revision before they are signed, then queued (DESIGN.md §3, §5, §7).
//!
//! The order of a submission is what makes a crash at any instant harmless:
//!
//! 1. ask the upstream for the hub's winning revision of the period, when it answers;
//! 2. build the report with the next revision above everything known, and store it as a draft,
//!    flushed (crash point `after-revision-stored`): the number is never given out twice;
//! 3. sign it and queue it, in one transaction that also removes the draft, flushed (crash point
//!    `after-signing`). A draft a crash left unsigned is signed and queued when the node opens.
//!
//! Signing is deterministic and the payload is stored, so whichever process finishes a draft
//! produces the same envelope and the same report id.

use alliance_core::disclosure::protect;
use alliance_core::org::OrgId;
use alliance_core::period::{Period, PeriodKind};
use alliance_core::receipt::ReportId;
use alliance_core::record::build_values;
use alliance_core::report::Report;
use alliance_envelope::{Envelope, payload_type, sign};
use alliance_store::{DeliveryState, Draft, ReportEntry};

use super::{Node, NodeError, now};
use crate::crash;

/// What would leave the node.
#[derive(Debug, Clone)]
pub struct Preview {
    /// Exactly as a submission now would send it, with the revision it would get.
    pub report: Report,
    pub warnings: Vec<Warning>,
}

/// Something the operator should know before submitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The field concerned; empty for the report as a whole.
    pub field: String,
    pub message: String,
}

/// A queued report.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub report_id: ReportId,
    pub revision: u64,
    pub envelope: Envelope,
}

impl Node {
    /// The report of `period` as a submission would send it now, without asking the upstream.
    pub fn preview(&self, org: &OrgId, period: Period) -> Result<Preview, NodeError> {
        let revision = self.store.revision_floor(org, period)? + 1;
        self.build(org, period, revision, false)
    }

    /// Builds, stores, signs and queues a new revision of `period`'s report.
    pub async fn submit(&self, org: &OrgId, period: Period) -> Result<Submitted, NodeError> {
        self.new_revision(org, period, false).await
    }

    /// Queues a retraction of `period`'s report: a new revision marked withdrawn, with no values.
    pub async fn withdraw(&self, org: &OrgId, period: Period) -> Result<Submitted, NodeError> {
        if self.store.revision_floor(org, period)? == 0 {
            return Err(NodeError::NotFound(format!(
                "{org} has no report of {period} to withdraw"
            )));
        }
        self.new_revision(org, period, true).await
    }

    /// A signed report of `period`: the given revision, or the latest (0). For an affiliate that
    /// must carry it by hand; the hub imports it like any other envelope.
    pub fn export(
        &self,
        org: &OrgId,
        period: Period,
        revision: u64,
    ) -> Result<ReportEntry, NodeError> {
        self.store
            .reports(Some(org))?
            .into_iter()
            .filter(|e| e.period == period && (revision == 0 || e.revision == revision))
            .max_by_key(|e| e.revision)
            .ok_or_else(|| {
                NodeError::NotFound(if revision == 0 {
                    format!("{org} has no signed report of {period}: submit one first")
                } else {
                    format!("{org} has no signed revision {revision} of {period}")
                })
            })
    }

    /// Sets or, with empty text, removes the narrative of an action point in `period`'s report.
    pub fn set_narrative(
        &self,
        org: &OrgId,
        period: Period,
        action_point: &str,
        text: &str,
    ) -> Result<(), NodeError> {
        if self.framework.action_point(action_point).is_none() {
            return Err(NodeError::Invalid(format!(
                "action_point: {action_point:?} is not an action point of framework version {}",
                self.framework.version
            )));
        }
        self.store.put_narrative(org, period, action_point, text)?;
        self.store.flush()?;
        Ok(())
    }

    /// Signs and queues every draft a crash left unsigned. Called when the node opens.
    pub(super) fn finish_drafts(&self) -> Result<(), NodeError> {
        let drafts = self.store.drafts()?;
        for draft in &drafts {
            let entry = self.sign_draft(draft)?;
            tracing::info!(org = %draft.org, period = %draft.period, revision = draft.revision, report_id = %entry.report_id, "signed and queued a revision stored before a crash");
        }
        if !drafts.is_empty() {
            self.store.flush()?;
        }
        Ok(())
    }

    async fn new_revision(
        &self,
        org: &OrgId,
        period: Period,
        withdrawn: bool,
    ) -> Result<Submitted, NodeError> {
        let _one_at_a_time = self.revisions.lock().await;
        // Going past the hub's winner keeps a restored node from reusing a number. Unreachable
        // is fine: the node's own floor is still respected, and the hub sorts out the rest.
        match self.upstream.winning_revision(org, period).await {
            Ok(revision) => {
                self.note_contact();
                self.store.note_hub_revision(org, period, revision)?;
            }
            Err(error) => {
                tracing::warn!(%org, %period, %error, "could not ask the upstream for the winning revision; going on with what the node knows");
                self.note_error(&error);
            }
        }
        let revision = self.store.revision_floor(org, period)? + 1;
        let preview = self.build(org, period, revision, withdrawn)?;
        let draft = Draft {
            org: org.clone(),
            period,
            revision,
            withdrawn,
            payload: alliance_proto::encode_report(&preview.report),
            created_at: now(),
        };
        self.store.put_draft(&draft)?;
        self.store.durable().await?;
        crash::point(crash::AFTER_REVISION_STORED);

        let entry = self.sign_draft(&draft)?;
        self.store.durable().await?;
        crash::point(crash::AFTER_SIGNING);
        self.outbox_wake.notify_one();
        tracing::info!(%org, %period, revision, withdrawn, report_id = %entry.report_id, "report queued");
        Ok(Submitted {
            report_id: entry.report_id,
            revision,
            envelope: entry.envelope,
        })
    }

    /// Signs a stored draft and queues it (removing the draft in the same transaction).
    fn sign_draft(&self, draft: &Draft) -> Result<ReportEntry, NodeError> {
        let key = self.key_of(&draft.org)?;
        let envelope = sign(&key, payload_type::REPORT, draft.payload.clone());
        let entry = ReportEntry {
            report_id: ReportId(alliance_envelope::report_id(&envelope)),
            org: draft.org.clone(),
            period: draft.period,
            revision: draft.revision,
            withdrawn: draft.withdrawn,
            envelope,
            queued_at: now(),
            attempts: 0,
            state: DeliveryState::Pending,
            custody_receipt: None,
            receipt: None,
            refusal: None,
        };
        self.store.queue(&entry)?;
        Ok(entry)
    }

    /// The report of (org, period) at `revision` from the records, disclosure control applied
    /// against the earlier revisions the node signed.
    fn build(
        &self,
        org: &OrgId,
        period: Period,
        revision: u64,
        withdrawn: bool,
    ) -> Result<Preview, NodeError> {
        let framework = &self.framework;
        if period.kind() != framework.period_kind {
            return Err(NodeError::Invalid(format!(
                "period: framework version {} reports by {}, and {period} is not one",
                framework.version,
                kind_name(framework.period_kind)
            )));
        }
        let mut warnings = Vec::new();
        let (values, narratives) = if withdrawn {
            Default::default()
        } else {
            let records = self.store.records(org)?;
            let built = build_values(framework, period, &records);
            warnings.extend(built.warnings.into_iter().map(|w| Warning {
                field: w.field,
                message: w.message,
            }));
            (built.values, self.store.narratives(org, period)?)
        };
        // Always said, not only when there are narratives: the operator should know it before
        // writing one.
        warnings.push(Warning {
            field: "narratives".to_owned(),
            message: format!(
                "narratives are free text and not covered by disclosure control ({} in this \
                 report): make sure they name no victim or anyone who could identify one",
                narratives.len()
            ),
        });
        if values.is_empty() && !withdrawn {
            warnings.push(Warning {
                field: String::new(),
                message: format!("there are no records of {period}: the report would be empty"),
            });
        }
        let report = Report {
            org: org.clone(),
            period,
            framework_version: framework.version,
            revision,
            prepared_at: now(),
            prepared_by: self.setup.own_org.clone(),
            disclosure_threshold: self.config.disclosure.threshold,
            withdrawn,
            narratives,
            values,
        };
        let earlier = self.earlier_revisions(org, period)?;
        let protected = protect(
            &report,
            framework,
            self.config.disclosure.threshold,
            &earlier,
        )
        .map_err(|e| NodeError::Invalid(format!("disclosure control: {e}")))?;
        framework
            .check_report(&protected)
            .map_err(|e| NodeError::Invalid(format!("the report would not be valid: {e}")))?;
        Ok(Preview {
            report: protected,
            warnings,
        })
    }

    /// The published forms of the revisions of (org, period) this node signed.
    fn earlier_revisions(&self, org: &OrgId, period: Period) -> Result<Vec<Report>, NodeError> {
        self.store
            .reports(Some(org))?
            .into_iter()
            .filter(|e| e.period == period)
            .map(|e| {
                alliance_proto::decode_report(&e.envelope.payload).map_err(|error| {
                    NodeError::Invalid(format!(
                        "the stored revision {} of {period} does not decode: {error}",
                        e.revision
                    ))
                })
            })
            .collect()
    }
}

/// A period kind as the operator reads it.
fn kind_name(kind: PeriodKind) -> &'static str {
    match kind {
        PeriodKind::Year => "calendar years (such as 2009)",
        PeriodKind::Half => "half years (such as 2009-H1)",
        PeriodKind::Quarter => "quarters (such as 2009-Q3)",
    }
}
