//! Verified ingest (DESIGN.md §3–4): verify the envelope bytes, check the key, decode and
//! validate the report, decide its outcome, store, flush, and only then answer with a receipt
//! signed by the hub.
//!
//! # Custody receipts
//!
//! A relay that forwards a report may send its own signed custody receipt with it. When the
//! receipt checks out (see [`Hub::check_custody`]), the report counts as received at the
//! earlier of the custody time and the hub's own receipt: that is the time the ledger keeps for
//! it, so coverage counts it as on time if the relay held it before the deadline, and the
//! receipt's `first_received_at` says so. The custody time is stored with the report, so a
//! rebuild from the store gives the same answer; a copy that arrives later with an earlier
//! custody time lowers it (the earliest known time stands, as for any duplicate).
//!
//! A custody receipt that does not check out is *ignored for timing*, and the submission goes on:
//! the report envelope is authentic and valid by itself, and refusing it would be final for
//! the affiliate's envelope (the relay hands the refusal back and the outbox sets the report
//! aside), so a relay's fault, such as a skewed clock or a receipt signed by a key rotated out,
//! would lose the report altogether; the hub's own receipt time is the safe fallback. The
//! ignored receipt is logged and audited as a refusal (action `custody receipt`), naming why.
//!
//! A relay forwarding a batch sends its custody receipts as one *custody batch*, an envelope
//! that carries what each item's receipt says under one signature of the relay, so that the
//! hub checks one signature per batch rather than one per item. Each entry is then checked as a
//! custody receipt is, but for the signature; a batch whose signature does not check out is
//! audited and ignored as a whole.

use std::collections::{BTreeMap, BTreeSet};

use alliance_core::merge::{Entry, MergeError};
use alliance_core::receipt::{
    BatchReceipt, CustodyReceipt, Outcome, OutcomeKind, Receipt, ReportId,
};
use alliance_core::report::Report;
use alliance_core::timestamp::Timestamp;
use alliance_core::validate::Problem;
use alliance_envelope::{
    Envelope, EnvelopeError, PublicKey, Verified, payload_type, sign, verify_signed_with,
};
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
        self.submit_with_custody(envelope, None, peer).await
    }

    /// [`Hub::submit`], with the custody receipt of the relay that forwards the envelope, if
    /// any: when it checks out, the report counts as received at the custody time if that is
    /// earlier; when it does not, it is audited and ignored (see the module documentation).
    pub async fn submit_with_custody(
        &self,
        envelope: Envelope,
        custody_receipt: Option<Envelope>,
        peer: &str,
    ) -> Result<Envelope, HubError> {
        self.check_healthy()?;
        let now = now();
        let (custody, mut custody_refusals) = self.index_custody(Custody {
            receipts: custody_receipt.into_iter().collect(),
            batch: None,
        });
        let checked = match self.check(&envelope, &custody, now) {
            Ok(checked) => checked,
            Err((refused, org)) => return Err(self.refuse(peer, "submit", org, refused)),
        };
        let org = checked.report.org.to_string();
        custody_refusals.extend(checked.custody_refusals.iter().cloned());
        custody_refusals.extend(unmatched_custody(
            &custody,
            &BTreeSet::from([checked.report_id]),
            "the report it came with",
        ));
        self.audit_custody(peer, custody_refusals)?;
        let decided = {
            let mut state = self.state();
            self.decide(&mut state, checked, now).and_then(|decided| {
                let stored = match decided.write {
                    Write::New => Some(stored(&decided, envelope, now)),
                    Write::EarlierCustody(at) => {
                        Some(self.with_earlier_custody(&decided.receipt.report_id, at, &[])?)
                    }
                    Write::Nothing => None,
                };
                if let Some(stored) = stored {
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
        crate::crash::point(crate::crash::AFTER_STORE);
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
        self.submit_batch_with_custody(envelopes, Custody::default(), peer)
            .await
    }

    /// [`Hub::submit_batch`], with the custody receipts of relayed items in any order, each
    /// matched to the item whose report id it names (see [`Hub::submit_with_custody`]). A
    /// custody receipt that names no item of the batch that was itself accepted for processing
    /// is audited and ignored.
    pub async fn submit_batch_with_custody(
        &self,
        envelopes: Vec<Envelope>,
        custody: Custody,
        peer: &str,
    ) -> Result<BatchAnswer, HubError> {
        self.check_healthy()?;
        let now = now();
        let (custody, mut custody_refusals) = self.index_custody(custody);
        let mut refusals = Vec::new();
        let mut checked = Vec::with_capacity(envelopes.len());
        for (index, (envelope, result)) in self
            .check_all(envelopes, &custody, now)
            .into_iter()
            .enumerate()
        {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            match result {
                Ok(c) => checked.push((index, c, envelope)),
                Err((refused, org)) => refusals.push((index, org, refused)),
            }
        }
        let matched: BTreeSet<ReportId> = checked.iter().map(|(_, c, _)| c.report_id).collect();
        for (_, c, _) in &checked {
            custody_refusals.extend(c.custody_refusals.iter().cloned());
        }
        custody_refusals.extend(unmatched_custody(
            &custody,
            &matched,
            "any report of the batch that was accepted for processing",
        ));
        self.audit_custody(peer, custody_refusals)?;
        let receipts = {
            let mut state = self.state();
            let mut receipts = Vec::with_capacity(checked.len());
            let mut to_store: Vec<StoredReport> = Vec::with_capacity(checked.len());
            for (index, c, envelope) in checked {
                let org = c.report.org.to_string();
                match self.decide(&mut state, c, now) {
                    Ok(decided) => {
                        match decided.write {
                            Write::New => to_store.push(stored(&decided, envelope, now)),
                            Write::EarlierCustody(at) => {
                                let id = decided.receipt.report_id;
                                let updated = self.with_earlier_custody(&id, at, &to_store)?;
                                // An item stored or updated earlier in this batch is updated
                                // in place; one batch holds one value per report id.
                                match to_store.iter_mut().find(|s| s.report_id == id) {
                                    Some(held) => *held = updated,
                                    None => to_store.push(updated),
                                }
                            }
                            Write::Nothing => {}
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
        crate::crash::point(crate::crash::AFTER_STORE);
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
            stored.first_received_at(),
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
    fn check_all(
        &self,
        envelopes: Vec<Envelope>,
        custody: &CustodyIndex,
        now: Timestamp,
    ) -> Vec<(Envelope, CheckResult)> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = envelopes.len().div_ceil(threads).max(MIN_PARALLEL_CHUNK);
        if envelopes.len() <= chunk {
            return envelopes
                .into_iter()
                .map(|e| {
                    let result = self.check(&e, custody, now);
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
                                let result = self.check(&e, custody, now);
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

    /// Verifies, decodes and validates an envelope, and checks the custody receipts that name
    /// its report id: everything that needs no lasting lock. A refusal names the organisation
    /// the report claims to be from once the payload has decoded, for the audit log.
    fn check(
        &self,
        envelope: &Envelope,
        custody: &CustodyIndex,
        now: Timestamp,
    ) -> Result<Checked, (Refused, Option<String>)> {
        let (verified, keys) = self
            .verify(envelope, payload_type::REPORT)
            .map_err(|r| (r, None))?;
        let report = alliance_proto::decode_report(verified.payload())
            .map_err(|e| (refusal_of_wire(e), None))?;
        let org = report.org.to_string();
        let mut checked = self
            .check_report(&verified, &keys, report, now)
            .map_err(|r| (r, Some(org.clone())))?;
        for claim in custody.get(&checked.report_id).into_iter().flatten() {
            let result = match claim {
                Claim::Receipt(receipt) => {
                    self.check_custody(receipt, &checked.report_id, &checked.report, now)
                }
                Claim::Batch { signer, custody } => self.check_custody_claim(
                    signer,
                    custody,
                    &checked.report_id,
                    &checked.report,
                    now,
                ),
            };
            match result {
                Ok(at) => {
                    checked.custody_at = Some(checked.custody_at.map_or(at, |held| held.min(at)));
                }
                Err(refused) => checked
                    .custody_refusals
                    .push((Some(org.clone()), ignored_custody(refused))),
            }
        }
        Ok(checked)
    }

    /// Checks a relay's custody receipt for a checked report and answers its custody time. It
    /// must be an envelope of type custody-receipt signed by an accepted key (active, or rotated
    /// and in its grace period) of the relay it names; that organisation must be a registered
    /// relay and the one the report's organisation reports through; it must name the report's
    /// id (and its organisation, period and revision); and its time may be neither in the future
    /// (beyond [`CUSTODY_CLOCK_SKEW`]) nor before the report's period began.
    fn check_custody(
        &self,
        envelope: &Envelope,
        report_id: &ReportId,
        report: &Report,
        now: Timestamp,
    ) -> Result<Timestamp, Refused> {
        let (verified, keys) = self.verify(envelope, payload_type::CUSTODY_RECEIPT)?;
        let custody = alliance_proto::decode_custody_receipt(verified.payload()).map_err(|e| {
            Refused::new(
                RefusalReason::Malformed,
                format!("the custody receipt is invalid: {e}"),
            )
        })?;
        self.check_custody_claim(&Signer { verified, keys }, &custody, report_id, report, now)
    }

    /// [`Hub::check_custody`] for what a custody receipt says, signed by `signer`: everything
    /// but the signature, which the caller verified (one receipt's, or one batch's for all its
    /// entries).
    fn check_custody_claim(
        &self,
        signer: &Signer,
        custody: &CustodyReceipt,
        report_id: &ReportId,
        report: &Report,
        now: Timestamp,
    ) -> Result<Timestamp, Refused> {
        let Signer { verified, keys } = signer;
        {
            let state = self.state();
            let Some(relay) = state.registry.get(&custody.relay) else {
                return Err(Refused::new(
                    RefusalReason::UnknownOrganisation,
                    format!(
                        "the custody receipt names relay {}, which is not registered at this hub",
                        custody.relay
                    ),
                ));
            };
            let own_keys = signing_keys_of(
                relay,
                verified,
                keys,
                &format!("the custody receipt names relay {}", custody.relay),
            )?;
            if !own_keys.iter().any(|k| k.accepts_at(now)) {
                return Err(Refused::new(
                    RefusalReason::KeyNotAccepted,
                    format!(
                        "the custody receipt is signed by key {} of relay {}, which is no longer accepted",
                        own_keys[0].key_id, custody.relay
                    ),
                ));
            }
            if !state.relays.contains_key(&custody.relay) {
                return Err(Refused::new(
                    RefusalReason::NotRelayed,
                    format!(
                        "the custody receipt names organisation {}, which is not a relay",
                        custody.relay
                    ),
                ));
            }
            let via = state.registry.get(&report.org).and_then(|o| o.via.as_ref());
            if via != Some(&custody.relay) {
                return Err(Refused::new(
                    RefusalReason::NotRelayed,
                    format!(
                        "the custody receipt is from relay {}, but organisation {} reports {}",
                        custody.relay,
                        report.org,
                        match via {
                            Some(via) => format!("through relay {via}"),
                            None => "to the hub directly".to_owned(),
                        }
                    ),
                ));
            }
        }
        if custody.report_id != *report_id {
            return Err(Refused::new(
                RefusalReason::Malformed,
                format!(
                    "the custody receipt names report {}, not {report_id}",
                    custody.report_id
                ),
            ));
        }
        if (&custody.org, custody.period, custody.revision)
            != (&report.org, report.period, report.revision)
        {
            return Err(Refused::new(
                RefusalReason::Malformed,
                format!(
                    "the custody receipt describes {} {} revision {}, but the report is {} {} revision {}",
                    custody.org,
                    custody.period,
                    custody.revision,
                    report.org,
                    report.period,
                    report.revision
                ),
            ));
        }
        let latest = Timestamp(now.0.saturating_add(CUSTODY_CLOCK_SKEW));
        if custody.received_at > latest {
            return Err(Refused::new(
                RefusalReason::Malformed,
                format!(
                    "the custody receipt is dated {}, in the future (the hub's clock says {now})",
                    custody.received_at
                ),
            ));
        }
        let began = Timestamp::start_of(report.period.start());
        if custody.received_at < began {
            return Err(Refused::new(
                RefusalReason::Malformed,
                format!(
                    "the custody receipt is dated {}, before period {} began ({began})",
                    custody.received_at, report.period
                ),
            ));
        }
        Ok(custody.received_at)
    }

    /// Indexes custody receipts and a custody batch by the report id each entry names. A receipt
    /// that is not of type custody-receipt or does not decode cannot be matched to a report; a
    /// batch that does not verify under an enrolled key, does not decode or holds more entries
    /// than a batch may hold items is not trusted for any: each is ignored, with its refusal to
    /// audit.
    fn index_custody(&self, custody: Custody) -> (CustodyIndex, Vec<(Option<String>, Refused)>) {
        let mut index = CustodyIndex::new();
        let mut refusals = Vec::new();
        for receipt in custody.receipts {
            if receipt.payload_type != payload_type::CUSTODY_RECEIPT {
                refusals.push((
                    None,
                    ignored_custody(Refused::new(
                        RefusalReason::PayloadType,
                        format!(
                            "the custody receipt has payload type {:?}, not {}",
                            receipt.payload_type,
                            payload_type::CUSTODY_RECEIPT
                        ),
                    )),
                ));
                continue;
            }
            match alliance_proto::decode_custody_receipt(&receipt.payload) {
                Ok(custody) => index
                    .entry(custody.report_id)
                    .or_default()
                    .push(Claim::Receipt(receipt)),
                Err(e) => refusals.push((
                    None,
                    ignored_custody(Refused::new(
                        RefusalReason::Malformed,
                        format!("the custody receipt is invalid: {e}"),
                    )),
                )),
            }
        }
        if let Some(batch) = custody.batch {
            match self.check_custody_batch(&batch) {
                Ok((signer, receipts)) => {
                    let signer = std::sync::Arc::new(signer);
                    for custody in receipts {
                        index
                            .entry(custody.report_id)
                            .or_default()
                            .push(Claim::Batch {
                                signer: std::sync::Arc::clone(&signer),
                                custody,
                            });
                    }
                }
                Err(refused) => refusals.push((None, ignored_custody(refused))),
            }
        }
        (index, refusals)
    }

    /// Verifies a custody batch and answers its signer and entries.
    fn check_custody_batch(
        &self,
        batch: &Envelope,
    ) -> Result<(Signer, Vec<CustodyReceipt>), Refused> {
        let (verified, keys) = self
            .verify(batch, payload_type::CUSTODY_BATCH)
            .map_err(|r| Refused {
                message: format!("the custody batch: {}", r.message),
                ..r
            })?;
        let decoded = alliance_proto::decode_custody_batch(verified.payload()).map_err(|e| {
            Refused::new(
                RefusalReason::Malformed,
                format!("the custody batch is invalid: {e}"),
            )
        })?;
        let limit = self.config.limits.max_batch_items;
        if decoded.receipts.len() > limit {
            return Err(Refused::new(
                RefusalReason::TooLarge,
                format!(
                    "the custody batch holds {} entries, more than the limit of {limit}",
                    decoded.receipts.len()
                ),
            ));
        }
        Ok((Signer { verified, keys }, decoded.receipts))
    }

    /// Records the custody receipts that are ignored for timing as refusals in the audit log
    /// (the submission itself goes on). A failure to record one fails the hub.
    fn audit_custody(
        &self,
        peer: &str,
        refusals: Vec<(Option<String>, Refused)>,
    ) -> Result<(), HubError> {
        for (org, refused) in refusals {
            if let HubError::Storage(message) = self.refuse(peer, "custody receipt", org, refused) {
                return Err(HubError::Storage(message));
            }
        }
        Ok(())
    }

    /// The stored record of a report already held, with a custody time lowered to `at`: from
    /// `pending` (records of this batch not yet written) if it is there, else from the store.
    fn with_earlier_custody(
        &self,
        report_id: &ReportId,
        at: Timestamp,
        pending: &[StoredReport],
    ) -> Result<StoredReport, HubError> {
        let held = match pending.iter().find(|s| s.report_id == *report_id) {
            Some(held) => held.clone(),
            None => self
                .store
                .report(report_id)
                .map_err(|e| self.fail(e))?
                .ok_or_else(|| {
                    HubError::Storage(format!(
                        "report {report_id} is held in the ledger but not in the store"
                    ))
                })?,
        };
        Ok(StoredReport {
            custody_at: Some(held.custody_at.map_or(at, |c| c.min(at))),
            ..held
        })
    }

    /// Verifies an envelope's signatures over the bytes received, with every key the hub ever
    /// enrolled (their states are checked afterwards, so a revoked key is named as such).
    fn verify(
        &self,
        envelope: &Envelope,
        expected_type: &str,
    ) -> Result<(Verified, Vec<KnownKey>), Refused> {
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
        let verified = verify_signed_with(envelope, expected_type, |key_id| {
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
        let own_keys = signing_keys_of(
            org,
            verified,
            keys,
            &format!("the report names organisation {}", report.org),
        )?;
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
            custody_at: None,
            custody_refusals: Vec::new(),
        })
    }

    /// Decides a checked envelope's outcome and applies it to the ledger; `write` says what the
    /// caller must write (a duplicate is not written, so a sender repeating itself cannot grow
    /// the store, unless it brings an earlier custody time, which replaces the stored record's).
    /// The caller writes it under the same lock, so a later outcome that names this report as
    /// the winner is only ever acknowledged after it (the flush that acknowledges the later one
    /// covers every write before it). After a failed write the hub fails, so the ledger never
    /// runs ahead of what it acknowledges.
    ///
    /// The ledger's time for the report is the earlier of its verified custody time and `now`,
    /// which is what coverage compares with the deadline.
    fn decide(
        &self,
        state: &mut State,
        checked: Checked,
        now: Timestamp,
    ) -> Result<Decided, HubError> {
        let Checked {
            report_id,
            report,
            custody_at,
            ..
        } = checked;
        let received_at = custody_at.map_or(now, |at| at.min(now));
        let (org, period, revision) = (report.org.clone(), report.period, report.revision);
        let entry = Entry {
            report_id,
            report,
            received_at,
        };
        let held_since = state.ledger.first_received_at(&entry);
        let outcome = state.ledger.insert(entry).map_err(refusal_of_merge)?;
        let duplicate = outcome.kind == OutcomeKind::Duplicate;
        let write = match (duplicate, custody_at, held_since) {
            (false, _, _) => Write::New,
            (true, Some(at), Some(held)) if at < held => Write::EarlierCustody(at),
            (true, _, _) => Write::Nothing,
        };
        if write != Write::Nothing {
            state.generation += 1;
        }
        // A duplicate keeps the earliest time any copy was received, this one's included.
        let first_received_at = match (duplicate, held_since) {
            (true, Some(held)) => held.min(received_at),
            _ => received_at,
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
            custody_at,
            write,
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
type KnownKey = (String, alliance_core::OrgId, PublicKey);

/// An envelope that verified and whose report fits its framework.
#[derive(Debug)]
struct Checked {
    report_id: ReportId,
    report: Report,
    /// The earliest time of the custody receipts that came with it and checked out.
    custody_at: Option<Timestamp>,
    /// The custody receipts that came with it and did not check out, to audit (with the
    /// organisation the report is from); they are ignored for timing.
    custody_refusals: Vec<(Option<String>, Refused)>,
}

/// What a relay sends to say when it took custody of the items it forwards: custody receipts,
/// one envelope each, and a custody batch, one envelope for many items. Both are optional.
#[derive(Debug, Clone, Default)]
pub struct Custody {
    pub receipts: Vec<Envelope>,
    pub batch: Option<Envelope>,
}

/// The custody claims of a submission, by the report id each names. A receipt's id is read from
/// its payload before it is verified, only to find the report it belongs to; the receipt is
/// then verified against that report ([`Hub::check_custody`]). A batch is verified once, when
/// it is indexed.
type CustodyIndex = BTreeMap<ReportId, Vec<Claim>>;

/// One relay's word on when it took custody of one report.
#[derive(Debug)]
enum Claim {
    /// A custody receipt, not verified yet.
    Receipt(Envelope),
    /// An entry of a custody batch whose signature checked out.
    Batch {
        signer: std::sync::Arc<Signer>,
        custody: CustodyReceipt,
    },
}

/// Who signed a verified custody document, with the enrolled keys its signatures name.
#[derive(Debug)]
struct Signer {
    verified: Verified,
    keys: Vec<KnownKey>,
}

/// How far in the future, by the hub's clock, a relay's custody time may be, in seconds.
const CUSTODY_CLOCK_SKEW: i64 = 5 * 60;

/// A checked envelope, or why it is refused with the organisation its report names (once it
/// decoded), for the audit log.
type CheckResult = Result<Checked, (Refused, Option<String>)>;

/// Below this many envelopes per thread, a batch is checked on the calling thread alone.
const MIN_PARALLEL_CHUNK: usize = 16;

/// A decided envelope: its receipt, its verified custody time, and what is to be written.
#[derive(Debug)]
struct Decided {
    receipt: Receipt,
    custody_at: Option<Timestamp>,
    write: Write,
}

/// What a decided envelope asks of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Not held before: store it.
    New,
    /// A duplicate with a custody time earlier than any time known for the report: lower the
    /// stored record's custody time to it.
    EarlierCustody(Timestamp),
    /// A duplicate that changes nothing.
    Nothing,
}

/// What is stored of a newly decided envelope: the envelope as received, when the hub received
/// it, its outcome and its verified custody time.
fn stored(decided: &Decided, envelope: Envelope, now: Timestamp) -> StoredReport {
    StoredReport {
        report_id: decided.receipt.report_id,
        envelope,
        received_at: now,
        outcome: decided.receipt.outcome,
        custody_at: decided.custody_at,
    }
}

/// The refusals of custody receipts that name none of `matched`, the report ids of the
/// submission's envelopes that were accepted for processing (`what` says what that is).
fn unmatched_custody(
    custody: &CustodyIndex,
    matched: &BTreeSet<ReportId>,
    what: &str,
) -> Vec<(Option<String>, Refused)> {
    custody
        .iter()
        .filter(|(id, _)| !matched.contains(*id))
        .flat_map(|(id, claims)| {
            claims.iter().map(move |claim| {
                // Named by the organisation it is about; a receipt was decoded before, when it
                // was indexed.
                let org = match claim {
                    Claim::Receipt(receipt) => {
                        alliance_proto::decode_custody_receipt(&receipt.payload)
                            .ok()
                            .map(|custody| custody.org.to_string())
                    }
                    Claim::Batch { custody, .. } => Some(custody.org.to_string()),
                };
                (
                    org,
                    ignored_custody(Refused::new(
                        RefusalReason::Malformed,
                        format!("the custody receipt names report {id}, which is not {what}"),
                    )),
                )
            })
        })
        .collect()
}

/// A custody receipt's refusal, saying that it is only ignored for timing.
fn ignored_custody(refused: Refused) -> Refused {
    Refused {
        message: format!(
            "{}; the custody receipt is ignored, the report counts as received when the hub received it",
            refused.message
        ),
        ..refused
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

/// The keys of `org` that signed `verified`; none is WRONG_ORGANISATION, naming the organisation
/// the signing key does belong to (from `known`). `named` says what named `org`, such as "the
/// report names organisation ke-cotu".
fn signing_keys_of<'a>(
    org: &'a alliance_core::org::Organisation,
    verified: &Verified,
    known: &[KnownKey],
    named: &str,
) -> Result<Vec<&'a alliance_core::org::OrgKey>, Refused> {
    let own: Vec<_> = org
        .keys
        .iter()
        .filter(|k| verified.is_signed_by(&k.public_key))
        .collect();
    if own.is_empty() {
        let signer = &verified.signers()[0];
        let owner = known
            .iter()
            .find(|(_, _, key)| *key.as_bytes() == signer.public_key)
            .map(|(_, owner, _)| owner.to_string())
            .unwrap_or_default();
        return Err(Refused::new(
            RefusalReason::WrongOrganisation,
            format!(
                "{named} but is signed by key {} of organisation {owner}",
                signer.key_id
            ),
        ));
    }
    Ok(own)
}
