//! Verified ingest (DESIGN.md §3–4): verify the envelope bytes, check the key, decode and
//! validate the report, decide its outcome, store, flush, and only then answer with a receipt
//! signed by the hub.

use alliance_core::merge::{Entry, MergeError};
use alliance_core::receipt::{BatchReceipt, Outcome, OutcomeKind, Receipt, ReportId};
use alliance_core::report::Report;
use alliance_core::timestamp::Timestamp;
use alliance_core::validate::Problem;
use alliance_envelope::{Envelope, EnvelopeError, Verified, payload_type, sign, verify_signed};
use alliance_proto::WireError;
use alliance_proto::pb::RefusalReason;
use alliance_store::{AuditKind, AuditRecord, StoredReport};

use super::{Hub, HubError, Refused, State, now};

/// The answer to a batch: one hub signature over the receipts of every stored item (none when
/// every item was refused), and the refusals by index.
#[derive(Debug, Clone)]
pub struct BatchAnswer {
    pub batch_receipt: Option<Envelope>,
    pub refusals: Vec<(u32, Refused)>,
}

/// What became of one envelope imported by hand: its receipt, or why it was refused.
pub type ImportResult = Result<Receipt, Refused>;

impl Hub {
    /// Ingests one envelope and answers with the hub-signed receipt, once the envelope is on
    /// disk. `peer` names the sender for the audit log.
    pub async fn submit(&self, envelope: Envelope, peer: &str) -> Result<Envelope, HubError> {
        self.check_healthy()?;
        let now = now();
        let checked = match self.check(&envelope, now) {
            Ok(checked) => checked,
            Err((refused, org)) => return Err(self.refuse(peer, "submit", org, refused)),
        };
        let org = checked.report.org.to_string();
        let decided = {
            let mut state = self.state();
            self.decide(&mut state, checked, now).and_then(|decided| {
                if decided.store {
                    let stored = stored(&decided.receipt, envelope, now);
                    self.store
                        .put_reports(std::slice::from_ref(&stored))
                        .map_err(|e| self.fail(e))?;
                }
                Ok(decided)
            })
        };
        let receipt = match decided {
            Ok(decided) => decided.receipt,
            Err(HubError::Refused(refused)) => {
                return Err(self.refuse(peer, "submit", Some(org), refused));
            }
            Err(e) => return Err(e),
        };
        // Signed outside the lock: the receipt is a function of what was decided under it.
        let signed = self.sign_receipt(&receipt);
        self.durable().await?;
        Ok(signed)
    }

    /// Ingests a batch: every authentic, valid item is stored and answered under one hub
    /// signature, in request order; the others are refused one by one and nothing of them is
    /// stored. The items are verified on every core.
    pub async fn submit_batch(
        &self,
        envelopes: Vec<Envelope>,
        peer: &str,
    ) -> Result<BatchAnswer, HubError> {
        self.check_healthy()?;
        let now = now();
        let mut refusals = Vec::new();
        let mut checked = Vec::with_capacity(envelopes.len());
        for (index, (envelope, result)) in self.check_all(envelopes, now).into_iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            match result {
                Ok(c) => checked.push((index, c, envelope)),
                Err((refused, org)) => refusals.push((index, org, refused)),
            }
        }
        let receipts = {
            let mut state = self.state();
            let mut receipts = Vec::with_capacity(checked.len());
            let mut to_store = Vec::with_capacity(checked.len());
            for (index, c, envelope) in checked {
                let org = c.report.org.to_string();
                match self.decide(&mut state, c, now) {
                    Ok(decided) => {
                        if decided.store {
                            to_store.push(stored(&decided.receipt, envelope, now));
                        }
                        receipts.push(decided.receipt);
                    }
                    Err(HubError::Refused(refused)) => refusals.push((index, Some(org), refused)),
                    Err(e) => return Err(e),
                }
            }
            if !to_store.is_empty() {
                self.store
                    .put_reports(&to_store)
                    .map_err(|e| self.fail(e))?;
            }
            receipts
        };
        let batch_receipt = (!receipts.is_empty()).then(|| {
            sign(
                &self.signing_key,
                payload_type::BATCH_RECEIPT,
                alliance_proto::encode_batch_receipt(&BatchReceipt {
                    issued_at: now,
                    receipts,
                }),
            )
        });
        let mut answer = Vec::with_capacity(refusals.len());
        for (index, org, refused) in refusals {
            self.refuse(peer, "submit batch", org, refused.clone());
            answer.push((index, refused));
        }
        answer.sort_by_key(|(index, _)| *index);
        self.check_healthy()?;
        self.durable().await?;
        Ok(BatchAnswer {
            batch_receipt,
            refusals: answer,
        })
    }

    /// Ingests envelopes carried by hand, exactly as if they had been submitted one by one.
    pub async fn import_envelopes(
        &self,
        envelopes: Vec<Envelope>,
        actor: &str,
    ) -> Result<Vec<ImportResult>, HubError> {
        let mut results = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            match self.submit(envelope, actor).await {
                Ok(receipt) => {
                    let receipt = alliance_proto::decode_receipt(&receipt.payload)
                        .map_err(|e| HubError::Storage(format!("reading back a receipt: {e}")))?;
                    results.push(Ok(receipt));
                }
                Err(HubError::Refused(refused)) => results.push(Err(refused)),
                Err(e) => return Err(e),
            }
        }
        self.audit_admin(
            actor,
            "import",
            None,
            format!(
                "{} envelopes, {} refused",
                results.len(),
                results.iter().filter(|r| r.is_err()).count()
            ),
        )
        .await?;
        Ok(results)
    }

    /// The receipt of a stored report, signed again: it is a function of the stored report and
    /// the outcome it was given, and Ed25519 signatures are deterministic, so these are the
    /// bytes the sender received (for an item of a batch, the same receipt on its own).
    pub fn receipt(&self, report_id: &ReportId) -> Result<Option<Envelope>, HubError> {
        let Some(stored) = self.store.report(report_id).map_err(|e| self.fail(e))? else {
            return Ok(None);
        };
        let report = alliance_proto::decode_report(&stored.envelope.payload).map_err(|e| {
            HubError::Storage(format!("stored report {report_id} does not decode: {e}"))
        })?;
        let receipt = receipt_of(
            &report,
            *report_id,
            stored.outcome,
            stored.received_at,
            stored.received_at,
        );
        Ok(Some(self.sign_receipt(&receipt)))
    }

    fn sign_receipt(&self, receipt: &Receipt) -> Envelope {
        sign(
            &self.signing_key,
            payload_type::RECEIPT,
            alliance_proto::encode_receipt(receipt),
        )
    }

    /// [`Hub::check`] for every envelope of a batch, spread over the machine's cores; the
    /// results in request order, each with its envelope.
    fn check_all(&self, envelopes: Vec<Envelope>, now: Timestamp) -> Vec<(Envelope, CheckResult)> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = envelopes.len().div_ceil(threads).max(MIN_PARALLEL_CHUNK);
        if envelopes.len() <= chunk {
            return envelopes
                .into_iter()
                .map(|e| {
                    let result = self.check(&e, now);
                    (e, result)
                })
                .collect();
        }
        let mut chunks: Vec<Vec<Envelope>> = Vec::new();
        let mut rest = envelopes.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(chunk).collect());
        }
        // Scoped threads rather than the async runtime's workers: checking is pure computation,
        // and a batch of hundreds is worth the few microseconds a thread costs.
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .into_iter()
                            .map(|e| {
                                let result = self.check(&e, now);
                                (e, result)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(checked) => checked,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    }

    /// Verifies, decodes and validates an envelope: everything that needs no lock. A refusal
    /// names the organisation the report claims to be from once the payload has decoded, for
    /// the audit log.
    fn check(
        &self,
        envelope: &Envelope,
        now: Timestamp,
    ) -> Result<Checked, (Refused, Option<String>)> {
        let (verified, keys) = self.verify(envelope).map_err(|r| (r, None))?;
        let report = alliance_proto::decode_report(verified.payload())
            .map_err(|e| (refusal_of_wire(e), None))?;
        let org = report.org.to_string();
        self.check_report(&verified, &keys, report, now)
            .map_err(|r| (r, Some(org)))
    }

    /// Verifies an envelope's signatures over the bytes received, with every key the hub ever
    /// enrolled (their states are checked afterwards, so a revoked key is named as such).
    fn verify(&self, envelope: &Envelope) -> Result<(Verified, Vec<KnownKey>), Refused> {
        let keys: Vec<KnownKey> = {
            let state = self.state();
            envelope
                .signatures
                .iter()
                .filter_map(|s| {
                    state
                        .keys
                        .get(&s.keyid)
                        .map(|(org, key)| (s.keyid.clone(), org.clone(), *key))
                })
                .collect()
        };
        let verified = verify_signed(envelope, payload_type::REPORT, |key_id| {
            keys.iter().find(|(id, _, _)| id == key_id).map(|k| k.2)
        })
        .map_err(refusal_of_envelope)?;
        Ok((verified, keys))
    }

    /// Checks that a verified report is signed by an accepted key of the organisation it
    /// names, which is registered and active, and that it fits its framework version.
    fn check_report(
        &self,
        verified: &Verified,
        keys: &[KnownKey],
        report: Report,
        now: Timestamp,
    ) -> Result<Checked, Refused> {
        let state = self.state();
        let Some(org) = state.registry.get(&report.org) else {
            return Err(Refused::new(
                RefusalReason::UnknownOrganisation,
                format!("organisation {} is not registered at this hub", report.org),
            ));
        };
        let own_keys: Vec<_> = org
            .keys
            .iter()
            .filter(|k| verified.is_signed_by(&k.public_key))
            .collect();
        if own_keys.is_empty() {
            let signer = &verified.signers()[0];
            let owner = keys
                .iter()
                .find(|(_, _, key)| *key == signer.public_key)
                .map(|(_, owner, _)| owner.to_string())
                .unwrap_or_default();
            return Err(Refused::new(
                RefusalReason::WrongOrganisation,
                format!(
                    "the report names organisation {} but is signed by key {} of organisation {owner}",
                    report.org, signer.key_id
                ),
            ));
        }
        if !own_keys.iter().any(|k| k.accepts_at(now)) {
            let key = own_keys[0];
            let why = match key.state {
                alliance_core::org::KeyState::Revoked { at } => format!("was revoked at {at}"),
                alliance_core::org::KeyState::Rotated { grace_until } => {
                    format!("was rotated and its grace period ended at {grace_until}")
                }
                alliance_core::org::KeyState::Active => "is not accepted".to_owned(),
            };
            return Err(Refused::new(
                RefusalReason::KeyNotAccepted,
                format!(
                    "key {} of organisation {} {why}",
                    alliance_envelope::KeyId::of(&key.public_key),
                    report.org
                ),
            ));
        }
        if let Some(at) = org.deactivated_at {
            return Err(Refused::new(
                RefusalReason::OrganisationDeactivated,
                format!("organisation {} was deactivated at {at}", report.org),
            ));
        }
        drop(state);
        self.frameworks
            .check_report(&report)
            .map_err(refusal_of_report)?;
        Ok(Checked {
            report_id: ReportId(verified.report_id()),
            report,
        })
    }

    /// Decides a checked envelope's outcome and applies it to the ledger; `store` says whether
    /// the caller must write it (a duplicate changes nothing and is not written, so a sender
    /// repeating itself cannot grow the store). The caller writes it under the same lock, so a
    /// later outcome that names this report as the winner is only ever acknowledged after it
    /// (the flush that acknowledges the later one covers every write before it). After a failed
    /// write the hub fails, so the ledger never runs ahead of what it acknowledges.
    fn decide(
        &self,
        state: &mut State,
        checked: Checked,
        now: Timestamp,
    ) -> Result<Decided, HubError> {
        let Checked { report_id, report } = checked;
        let (org, period, revision) = (report.org.clone(), report.period, report.revision);
        let outcome = state
            .ledger
            .insert(Entry {
                report_id,
                report,
                received_at: now,
            })
            .map_err(refusal_of_merge)?;
        let duplicate = outcome.kind == OutcomeKind::Duplicate;
        if !duplicate {
            state.generation += 1;
        }
        let first_received_at = match duplicate {
            true => state.ledger.first_received_at(&report_id).unwrap_or(now),
            false => now,
        };
        Ok(Decided {
            receipt: Receipt {
                report_id,
                org,
                period,
                revision,
                outcome,
                issued_at: now,
                first_received_at,
            },
            store: !duplicate,
        })
    }

    /// Counts and records a refusal (the latest 10,000 are kept) and turns it into the error to
    /// answer. A failure to record it fails the hub, as any storage error does.
    pub(super) fn refuse(
        &self,
        peer: &str,
        action: &str,
        org: Option<String>,
        refused: Refused,
    ) -> HubError {
        tracing::info!(%peer, action, reason = ?refused.reason, cause = %refused.message, "refused");
        let record = AuditRecord {
            sequence: 0,
            at: now(),
            kind: AuditKind::Refusal,
            actor: peer.to_owned(),
            action: action.to_owned(),
            org,
            reason: Some(reason_name(refused.reason).to_owned()),
            detail: refused.message.clone(),
        };
        if let Err(e) = self.store.append_audit(&record) {
            return self.fail(e);
        }
        HubError::Refused(refused)
    }
}

/// A key the hub enrolled, as a signature names it: key id, owner, public key.
type KnownKey = (String, alliance_core::OrgId, [u8; 32]);

/// An envelope that verified and whose report fits its framework.
#[derive(Debug)]
struct Checked {
    report_id: ReportId,
    report: Report,
}

/// A checked envelope, or why it is refused with the organisation its report names (once it
/// decoded), for the audit log.
type CheckResult = Result<Checked, (Refused, Option<String>)>;

/// Below this many envelopes per thread, a batch is checked on the calling thread alone.
const MIN_PARALLEL_CHUNK: usize = 16;

/// A decided envelope: its receipt, and whether it is to be stored (not a duplicate).
#[derive(Debug)]
struct Decided {
    receipt: Receipt,
    store: bool,
}

/// What is stored of a decided envelope: the envelope as received and its outcome.
fn stored(receipt: &Receipt, envelope: Envelope, now: Timestamp) -> StoredReport {
    StoredReport {
        report_id: receipt.report_id,
        envelope,
        received_at: now,
        outcome: receipt.outcome,
    }
}

fn receipt_of(
    report: &Report,
    report_id: ReportId,
    outcome: Outcome,
    now: Timestamp,
    first_received_at: Timestamp,
) -> Receipt {
    Receipt {
        report_id,
        org: report.org.clone(),
        period: report.period,
        revision: report.revision,
        outcome,
        issued_at: now,
        first_received_at,
    }
}

/// The wire name of a refusal reason, for the audit log.
pub(super) fn reason_name(reason: RefusalReason) -> &'static str {
    reason
        .as_str_name()
        .strip_prefix("REFUSAL_REASON_")
        .unwrap_or("UNSPECIFIED")
}

fn refusal_of_envelope(error: EnvelopeError) -> Refused {
    let reason = match &error {
        EnvelopeError::EmptyPayloadType
        | EnvelopeError::UnsupportedPayloadType(_)
        | EnvelopeError::UnexpectedPayloadType { .. } => RefusalReason::PayloadType,
        EnvelopeError::EmptyPayload => RefusalReason::Malformed,
        EnvelopeError::UnknownKey { .. } => RefusalReason::UnknownKey,
        _ => RefusalReason::Signature,
    };
    Refused::new(reason, error.to_string())
}

fn refusal_of_wire(error: WireError) -> Refused {
    let reason = match error {
        WireError::Decode { .. } => RefusalReason::Malformed,
        WireError::Field { .. } => RefusalReason::InvalidReport,
    };
    Refused::new(reason, format!("the report is invalid: {error}"))
}

fn refusal_of_report(error: alliance_core::validate::ReportError) -> Refused {
    let reason = match error.problem {
        Problem::UnknownFrameworkVersion { .. } => RefusalReason::UnknownFrameworkVersion,
        Problem::PeriodKind { .. } => RefusalReason::PeriodNotAllowed,
        _ => RefusalReason::InvalidReport,
    };
    Refused::new(reason, format!("the report is invalid: {error}"))
}

fn refusal_of_merge(error: MergeError) -> HubError {
    let reason = match error {
        MergeError::OverlappingPeriod { .. } => RefusalReason::PeriodNotAllowed,
        MergeError::ReportIdReused { .. } => RefusalReason::Malformed,
    };
    HubError::Refused(Refused::new(reason, error.to_string()))
}
