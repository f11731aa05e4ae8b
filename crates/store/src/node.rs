//! The node's store: its setup (the upstream and the hub it pinned at init), the framework and
//! registry the hub last sent, the organisations it holds, local records, the revisions it
//! assigned, unsigned drafts, signed reports with their delivery state, the outbox, and
//! narratives.
//!
//! | tree | key | value (after the version byte) |
//! |---|---|---|
//! | `meta` | `outbox_sequence` | `u64` BE: the last outbox sequence number given |
//! | `meta` | `record_sequence` | `u64` BE: the last record id given |
//! | `settings` | `setup` | JSON ([`Setup`]) |
//! | `settings` | `framework`, `registry` | the hub-signed envelope, protobuf |
//! | `orgs` | organisation id | JSON ([`OrgEntry`]) |
//! | `records` | organisation id, 0, record id (`u64` BE) | the record, protobuf (`alliance_proto::encode_record`) |
//! | `revisions` | organisation id, 0, period (`2009-H1`) | last assigned (`u64` BE), hub's winning (`u64` BE) |
//! | `drafts` | organisation id, 0, period, 0, revision (`u64` BE) | created at (`i64` BE), withdrawn (1 byte), payload to the end |
//! | `reports` | report id (32 bytes) | JSON header, then the envelope, custody receipt and receipt (see `encode_report`) |
//! | `outbox` | outbox sequence (`u64` BE) | report id (32 bytes) |
//! | `shared_receipts` | SHA-256 of the receipt's bytes | a hub batch receipt, protobuf |
//! | `narratives` | organisation id, 0, period, 0, action point id | the text, UTF-8 |
//!
//! A hub batch receipt answers many reports with one signature; it is stored once in
//! `shared_receipts` and each report it answers refers to it, rather than holding a copy whose
//! size grows with the batch.
//!
//! Organisation ids and periods never contain a 0 byte, so the 0 separator keeps one
//! organisation's (or period's) keys apart from another's whose id merely starts the same way.
//!
//! A revision is stored (in `revisions`, with its draft) before it is signed, so a node that
//! crashes after signing never reuses the number. Queueing a signed report removes its draft,
//! stores the report and appends it to the outbox in one transaction, and a report leaves the
//! outbox in the same transaction that stores the hub's answer: at no instant is a report both
//! unsigned and queued, or answered and still waiting.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::receipt::ReportId;
use alliance_core::record::Record;
use alliance_core::timestamp::Timestamp;
use alliance_envelope::{Envelope, payload_type};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::db::{Database, Kind, META, WriteError, io};
use crate::error::StoreError;
use crate::flusher::GroupCommit;
use crate::value::{self, corrupt, decode_json, decode_u64, encode_json, encode_u64, versioned};

/// The node database's format version. Raise it when a tree or key changes meaning.
pub const NODE_FORMAT_VERSION: u32 = 1;

const NODE: Kind = Kind {
    name: "node",
    format_version: NODE_FORMAT_VERSION,
};

const SETTINGS: &str = "settings";
const ORGS: &str = "orgs";
const RECORDS: &str = "records";
const REVISIONS: &str = "revisions";
const DRAFTS: &str = "drafts";
const REPORTS: &str = "reports";
const OUTBOX: &str = "outbox";
const NARRATIVES: &str = "narratives";
const SHARED_RECEIPTS: &str = "shared_receipts";

const SETUP_KEY: &str = "setup";
const FRAMEWORK_KEY: &str = "framework";
const REGISTRY_KEY: &str = "registry";
const OUTBOX_SEQUENCE: &str = "outbox_sequence";
const RECORD_SEQUENCE: &str = "record_sequence";

/// The node's database. Cheap to clone; clones share the database, its group commit and its
/// failed state.
#[derive(Clone)]
pub struct NodeStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    commit: GroupCommit,
    settings: sled::Tree,
    orgs: sled::Tree,
    records: sled::Tree,
    revisions: sled::Tree,
    drafts: sled::Tree,
    reports: sled::Tree,
    outbox: sled::Tree,
    narratives: sled::Tree,
    shared_receipts: sled::Tree,
    /// The number of reports in the outbox, kept here because sled counts a tree by walking it.
    /// Signed because a report may leave the outbox (and be counted out) just before the
    /// writer that queued it counts it in.
    outbox_len: AtomicIsize,
}

/// What the node pinned at init: where it sends reports and whom it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// The upstream (the hub or a relay), `host:port`.
    pub upstream: String,
    /// The CA certificate (DER) the upstream's TLS certificate must chain to.
    pub ca_der: Vec<u8>,
    /// The hub's Ed25519 public key, which signs receipts, frameworks and registries.
    pub hub_public_key: [u8; 32],
    /// The organisation that runs this node.
    pub own_org: OrgId,
    /// Whether this node relays for other nodes and hosts affiliates.
    pub relay: bool,
}

/// An organisation the node holds: its own, or one it hosts as a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgEntry {
    pub org: OrgId,
    /// The key it signs with now.
    pub key_id: String,
    /// Keys it signed with before a rotation, newest last.
    pub previous_key_ids: Vec<String>,
    /// `None` while the key is made but enrollment has not finished.
    pub enrolled_at: Option<Timestamp>,
    pub join_token: String,
    /// Hosted by this node (a relay) for an affiliate that runs no node of its own.
    pub hosted: bool,
}

/// A new revision's report payload (encoded, disclosure control applied), stored before it is
/// signed so that the revision number is never given out twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub org: OrgId,
    pub period: Period,
    pub revision: u64,
    pub withdrawn: bool,
    pub payload: Vec<u8>,
    pub created_at: Timestamp,
}

/// Where a signed report is on its way to the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// In the outbox, not yet answered.
    Pending,
    /// A relay gave a custody receipt and will forward it.
    HeldByRelay,
    /// The hub stored it and gave a receipt.
    Decided,
    /// Refused for good (the refusal says why); it is no longer sent.
    SetAside,
}

/// A refusal as the node keeps it: the reason code and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefusal {
    pub reason: String,
    pub message: String,
}

/// A signed report and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEntry {
    pub report_id: ReportId,
    pub org: OrgId,
    pub period: Period,
    pub revision: u64,
    pub withdrawn: bool,
    pub envelope: Envelope,
    pub queued_at: Timestamp,
    /// How many times it was sent.
    pub attempts: u32,
    pub state: DeliveryState,
    pub custody_receipt: Option<Envelope>,
    pub receipt: Option<Envelope>,
    pub refusal: Option<StoredRefusal>,
}

impl NodeStore {
    /// Creates a new node database in `path`; refuses with `Exists` if there is one already.
    pub fn create(path: &Path, cache_capacity_bytes: u64) -> Result<Self, StoreError> {
        Self::with(Database::create(path, cache_capacity_bytes, NODE)?)
    }

    /// Opens the node database in `path`: `Missing` if there is none, `Locked` if another
    /// process has it open, `Corrupt` if it is another kind's (a hub's), `FormatVersion` if
    /// another build wrote it.
    pub fn open(path: &Path, cache_capacity_bytes: u64) -> Result<Self, StoreError> {
        Self::with(Database::open(path, cache_capacity_bytes, NODE)?)
    }

    /// Resolves once every write that completed before this call is on disk (group commit:
    /// concurrent callers share one flush). Call it after writing and before signing or
    /// acknowledging.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.inner.commit.durable().await
    }

    /// Flushes every write so far to disk, blocking: for shutdown and the command line.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.commit.flush()
    }

    /// The message of the first write or flush that failed, once one has: from then on every
    /// write is refused, so the node can acknowledge nothing more and must stop.
    pub fn failure(&self) -> Option<String> {
        self.inner.db.failure().map(str::to_owned)
    }

    /// Stores the setup, replacing any earlier one.
    pub fn put_setup(&self, setup: &Setup) -> Result<(), StoreError> {
        let value = encode_json(SETTINGS, &SetupValue::from(setup))?;
        self.write(|| self.inner.settings.insert(SETUP_KEY, value))
    }

    /// The setup, once `init` has stored it.
    pub fn setup(&self) -> Result<Option<Setup>, StoreError> {
        let key = SETUP_KEY.as_bytes();
        self.inner
            .settings
            .get(key)
            .map_err(io)?
            .map(|value| decode_setup(key, &value))
            .transpose()
    }

    /// Stores the hub-signed framework envelope, replacing the one stored (the caller checks
    /// that it is newer).
    pub fn put_framework(&self, envelope: &Envelope) -> Result<(), StoreError> {
        self.put_setting_envelope(FRAMEWORK_KEY, envelope)
    }

    /// The framework envelope last stored.
    pub fn framework(&self) -> Result<Option<Envelope>, StoreError> {
        self.setting_envelope(FRAMEWORK_KEY)
    }

    /// Stores the hub-signed registry envelope, replacing the one stored (the caller checks
    /// that it is newer).
    pub fn put_registry(&self, envelope: &Envelope) -> Result<(), StoreError> {
        self.put_setting_envelope(REGISTRY_KEY, envelope)
    }

    /// The registry envelope last stored.
    pub fn registry(&self) -> Result<Option<Envelope>, StoreError> {
        self.setting_envelope(REGISTRY_KEY)
    }

    /// Stores an organisation the node holds, replacing what was stored under its id.
    pub fn put_org(&self, org: &OrgEntry) -> Result<(), StoreError> {
        let value = encode_json(ORGS, &OrgValue::from(org))?;
        self.write(|| self.inner.orgs.insert(org.org.as_str(), value))
    }

    /// The organisation `id`, if the node holds it.
    pub fn org(&self, id: &OrgId) -> Result<Option<OrgEntry>, StoreError> {
        let key = id.as_str().as_bytes();
        self.inner
            .orgs
            .get(key)
            .map_err(io)?
            .map(|value| decode_org(key, &value))
            .transpose()
    }

    /// Every organisation the node holds, by id.
    pub fn orgs(&self) -> Result<Vec<OrgEntry>, StoreError> {
        self.inner
            .orgs
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(io)?;
                decode_org(&key, &value)
            })
            .collect()
    }

    /// Stores records, all or none (one sled batch). A record whose id is 0 is new: it is
    /// given the next number of a counter kept in the same transaction (so ids start at 1,
    /// rise, and are never reused, even after a crash), written back into `records` once the batch is applied. A record with an id
    /// replaces the one stored under its organisation and id.
    pub fn put_records(&self, records: &mut [Record]) -> Result<(), StoreError> {
        let inner = &self.inner;
        let meta = inner.db.meta();
        let ids = inner.db.write(|| {
            Ok((meta, &inner.records).transaction(|(meta, stored)| {
                let mut sequence = tx_counter(meta, RECORD_SEQUENCE)?;
                let mut ids = Vec::with_capacity(records.len());
                for record in records.iter() {
                    let id = match record.id {
                        0 => {
                            sequence = sequence.saturating_add(1);
                            sequence
                        }
                        id => id,
                    };
                    // The encoding carries the id, so a new record is encoded with the one it
                    // gets.
                    let value = alliance_proto::encode_record(&Record {
                        id,
                        ..record.clone()
                    });
                    stored.insert(record_key(&record.org, id), versioned(&value))?;
                    ids.push(id);
                }
                meta.insert(RECORD_SEQUENCE, encode_u64(sequence))?;
                Ok(ids)
            })?)
        })?;
        for (record, id) in records.iter_mut().zip(ids) {
            record.id = id;
        }
        Ok(())
    }

    /// Every record of `org`, by id.
    pub fn records(&self, org: &OrgId) -> Result<Vec<Record>, StoreError> {
        self.inner
            .records
            .scan_prefix(org_prefix(org))
            .map(|item| {
                let (key, value) = item.map_err(io)?;
                decode_record(org, &key, &value)
            })
            .collect()
    }

    /// Deletes the record `id` of `org`, returning it if it was stored.
    pub fn delete_record(&self, org: &OrgId, id: u64) -> Result<Option<Record>, StoreError> {
        let key = record_key(org, id);
        let removed = self
            .inner
            .db
            .write(|| Ok(self.inner.records.remove(&key)?))?;
        removed
            .map(|value| decode_record(org, &key, &value))
            .transpose()
    }

    /// The revision floor of (`org`, `period`): the higher of the last revision this node
    /// assigned and the highest winning revision the hub reported. A new revision must be
    /// above it; 0 when neither is known.
    pub fn revision_floor(&self, org: &OrgId, period: Period) -> Result<u64, StoreError> {
        let key = period_key(org, period);
        let value = self.inner.revisions.get(&key).map_err(io)?;
        Ok(decode_revisions(&key, value.as_deref())?.floor())
    }

    /// Records the hub's winning revision of (`org`, `period`), if it is higher than the one
    /// recorded (answers may arrive out of order).
    pub fn note_hub_revision(
        &self,
        org: &OrgId,
        period: Period,
        revision: u64,
    ) -> Result<(), StoreError> {
        let key = period_key(org, period);
        let inner = &self.inner;
        inner.db.write(|| {
            Ok(inner.revisions.transaction(|revisions| {
                let mut known = tx_revisions(revisions, &key)?;
                if revision > known.hub {
                    known.hub = revision;
                    revisions.insert(key.as_slice(), known.encode())?;
                }
                Ok(())
            })?)
        })
    }

    /// Stores a draft and, in the same transaction, makes its revision the last one assigned.
    /// Refuses with `RevisionNotAbove` a revision not above the floor, writing nothing.
    pub fn put_draft(&self, draft: &Draft) -> Result<(), StoreError> {
        let key = period_key(&draft.org, draft.period);
        let draft_value = encode_draft(draft);
        let inner = &self.inner;
        inner.db.write(|| {
            Ok(
                (&inner.revisions, &inner.drafts).transaction(|(revisions, drafts)| {
                    let mut known = tx_revisions(revisions, &key)?;
                    let floor = known.floor();
                    if draft.revision <= floor {
                        return Err(ConflictableTransactionError::Abort(
                            StoreError::RevisionNotAbove {
                                org: draft.org.clone(),
                                period: draft.period,
                                revision: draft.revision,
                                floor,
                            },
                        ));
                    }
                    known.own = draft.revision;
                    revisions.insert(key.as_slice(), known.encode())?;
                    drafts.insert(
                        draft_key(&draft.org, draft.period, draft.revision),
                        draft_value.as_slice(),
                    )?;
                    Ok(())
                })?,
            )
        })
    }

    /// The drafts not yet signed (a crash came between storing and queueing), in
    /// (organisation, period, revision) order.
    pub fn drafts(&self) -> Result<Vec<Draft>, StoreError> {
        let mut drafts = self
            .inner
            .drafts
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(io)?;
                decode_draft(&key, &value)
            })
            .collect::<Result<Vec<_>, _>>()?;
        drafts.sort_by(|a, b| (&a.org, a.period, a.revision).cmp(&(&b.org, b.period, b.revision)));
        Ok(drafts)
    }

    /// Queues a signed report, in one transaction: removes the draft of its (organisation,
    /// period, revision) if there is one, stores the entry and appends its id to the outbox
    /// (after every report queued before it). A report already stored under the same id (the
    /// same signed bytes queued again after a retry) is left as it is and not queued twice.
    pub fn queue(&self, entry: &ReportEntry) -> Result<(), StoreError> {
        let inner = &self.inner;
        let meta = inner.db.meta();
        let draft = draft_key(&entry.org, entry.period, entry.revision);
        let encoded = encode_report(entry)?;
        let appended = inner.db.write(|| {
            Ok((
                meta,
                &inner.drafts,
                &inner.reports,
                &inner.outbox,
                &inner.shared_receipts,
            )
                .transaction(|(meta, drafts, reports, outbox, shared)| {
                    drafts.remove(draft.as_slice())?;
                    if reports.get(entry.report_id.0)?.is_some() {
                        return Ok(false);
                    }
                    let sequence = tx_counter(meta, OUTBOX_SEQUENCE)?.saturating_add(1);
                    meta.insert(OUTBOX_SEQUENCE, encode_u64(sequence))?;
                    if let Some((key, bytes)) = &encoded.shared {
                        shared.insert(key, bytes.as_slice())?;
                    }
                    let value = encoded
                        .value(Some(sequence))
                        .map_err(ConflictableTransactionError::Abort)?;
                    reports.insert(&entry.report_id.0, value)?;
                    outbox.insert(&sequence.to_be_bytes(), versioned(&entry.report_id.0))?;
                    Ok(true)
                })?)
        })?;
        if appended {
            inner.outbox_len.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// The oldest `limit` reports in the outbox (0: all), oldest first.
    pub fn outbox(&self, limit: usize) -> Result<Vec<ReportEntry>, StoreError> {
        Ok(self
            .outbox_after(0, limit)?
            .into_iter()
            .map(|(_, entry)| entry)
            .collect())
    }

    /// The next `limit` reports in the outbox (0: all) after the outbox position `after` (0:
    /// from the start), oldest first, each with its position: for paging through a long outbox
    /// with bounded memory.
    pub fn outbox_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, ReportEntry)>, StoreError> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let start = after.saturating_add(1).to_be_bytes();
        self.inner
            .outbox
            .range(start..)
            .take(limit)
            .map(|item| {
                let (key, value) = item.map_err(io)?;
                let sequence = value::fixed::<8>(OUTBOX, &key, &key).map(u64::from_be_bytes)?;
                let body = value::body(OUTBOX, &key, &value)?;
                let id = ReportId(value::fixed::<32>(OUTBOX, &key, body)?);
                // Reports are never deleted, so an outbox entry whose report is missing means
                // the database was damaged.
                let entry = self.report(&id)?.ok_or_else(|| {
                    corrupt(OUTBOX, &key, format_args!("report {id} is not stored"))
                })?;
                Ok((sequence, entry))
            })
            .collect()
    }

    /// How many reports are in the outbox.
    pub fn outbox_len(&self) -> usize {
        usize::try_from(self.inner.outbox_len.load(Ordering::SeqCst)).unwrap_or(0)
    }

    /// The signed report with this id.
    pub fn report(&self, id: &ReportId) -> Result<Option<ReportEntry>, StoreError> {
        self.inner
            .reports
            .get(id.0)
            .map_err(io)?
            .map(|value| self.decode_report(&id.0, &value).map(|(entry, _)| entry))
            .transpose()
    }

    /// Every signed report (of `org`, or of every organisation), newest first: by time
    /// queued, then revision, then report id.
    pub fn reports(&self, org: Option<&OrgId>) -> Result<Vec<ReportEntry>, StoreError> {
        let mut entries = Vec::new();
        for item in self.inner.reports.iter() {
            let (key, value) = item.map_err(io)?;
            // Only the header is read of another organisation's report: a relay holds many.
            if let Some(org) = org
                && decode_header(&key, &value)?.org != org.as_str()
            {
                continue;
            }
            let (entry, _) = self.decode_report(&key, &value)?;
            entries.push(entry);
        }
        entries.sort_by(|a, b| {
            (b.queued_at, b.revision, b.report_id).cmp(&(a.queued_at, a.revision, a.report_id))
        });
        Ok(entries)
    }

    /// Calls `each` with the organisation and delivery state of every signed report, reading
    /// only what it needs of each: for counting a relay's many reports in bounded memory.
    pub fn delivery_states(
        &self,
        mut each: impl FnMut(&str, DeliveryState),
    ) -> Result<(), StoreError> {
        for item in self.inner.reports.iter() {
            let (key, value) = item.map_err(io)?;
            let header = decode_header(&key, &value)?;
            each(&header.org, header.state.into());
        }
        Ok(())
    }

    /// Replaces a stored report's entry (its delivery state, attempts, receipts, refusal). If
    /// `leaves_outbox`, it also leaves the outbox in the same transaction: call it so once the
    /// hub's receipt or refusal is in `entry`, so that the answer is never lost while the
    /// report is no longer sent. `UnknownReport` if no report is stored under its id.
    pub fn update_report(
        &self,
        entry: &ReportEntry,
        leaves_outbox: bool,
    ) -> Result<(), StoreError> {
        self.update_reports(std::slice::from_ref(entry), leaves_outbox)
    }

    /// [`NodeStore::update_report`] of several entries in one transaction: all or none.
    pub fn update_reports(
        &self,
        entries: &[ReportEntry],
        leaves_outbox: bool,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let encoded = encode_reports(entries)?;
        let left = inner.db.write(|| {
            Ok(
                (&inner.reports, &inner.outbox, &inner.shared_receipts).transaction(
                    |(reports, outbox, shared)| {
                        let mut left = 0;
                        for (entry, encoded) in entries.iter().zip(&encoded) {
                            let mut sequence = tx_outbox_position(reports, &entry.report_id)?;
                            if let (true, Some(n)) = (leaves_outbox, sequence) {
                                outbox.remove(&n.to_be_bytes())?;
                                sequence = None;
                                left += 1;
                            }
                            if let Some((key, bytes)) = &encoded.shared {
                                shared.insert(key, bytes.as_slice())?;
                            }
                            let value = encoded
                                .value(sequence)
                                .map_err(ConflictableTransactionError::Abort)?;
                            reports.insert(&entry.report_id.0, value)?;
                        }
                        Ok(left)
                    },
                )?,
            )
        })?;
        inner.outbox_len.fetch_sub(left, Ordering::SeqCst);
        Ok(())
    }

    /// Replaces the envelopes of stored reports, all or none, keeping everything else stored
    /// about them: after a key rotation the node re-signs its queued reports, whose ids (a
    /// hash of the signed bytes, not of the signatures) stay the same. `UnknownReport` if one
    /// is not stored, and then nothing changes.
    pub fn replace_envelopes(&self, entries: &[ReportEntry]) -> Result<(), StoreError> {
        let reports = &self.inner.reports;
        self.inner.db.write(|| {
            Ok(reports.transaction(|reports| {
                for entry in entries {
                    // Only the envelope changes: the receipt, if any, is kept as stored.
                    let (mut stored, sequence, shared) = tx_report(reports, &entry.report_id)?;
                    stored.envelope = entry.envelope.clone();
                    let value = encode_report_with(&stored, shared)
                        .and_then(|encoded| encoded.value(sequence))
                        .map_err(ConflictableTransactionError::Abort)?;
                    reports.insert(&entry.report_id.0, value)?;
                }
                Ok(())
            })?)
        })
    }

    /// Stores the narrative of one action point of (`org`, `period`); empty text deletes it.
    pub fn put_narrative(
        &self,
        org: &OrgId,
        period: Period,
        action_point: &str,
        text: &str,
    ) -> Result<(), StoreError> {
        let key = narrative_key(org, period, action_point);
        let narratives = &self.inner.narratives;
        if text.is_empty() {
            self.write(|| narratives.remove(key))
        } else {
            let value = versioned(text.as_bytes());
            self.write(|| narratives.insert(key, value))
        }
    }

    /// The narratives of (`org`, `period`), by action point id.
    pub fn narratives(
        &self,
        org: &OrgId,
        period: Period,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut prefix = period_key(org, period);
        prefix.push(0);
        self.inner
            .narratives
            .scan_prefix(&prefix)
            .map(|item| {
                let (key, value) = item.map_err(io)?;
                let action_point = std::str::from_utf8(&key[prefix.len()..])
                    .map_err(|_| corrupt(NARRATIVES, &key, "the action point is not UTF-8"))?;
                let text = std::str::from_utf8(value::body(NARRATIVES, &key, &value)?)
                    .map_err(|_| corrupt(NARRATIVES, &key, "the text is not UTF-8"))?;
                Ok((action_point.to_owned(), text.to_owned()))
            })
            .collect()
    }

    /// Fault injection for tests of storage errors (BAD_INPUTS 25): after `writes` more
    /// successful writes, every write, flush and [`durable`](Self::durable) fails with an `Io`
    /// error ("injected storage fault ..."), and the store is failed from then on.
    #[cfg(feature = "fault-injection")]
    pub fn inject_failure_after(&self, writes: u64) {
        self.inner.db.inject_failure_after(writes);
    }

    /// How many sled flushes this store has made (for tests of group commit).
    #[cfg(feature = "fault-injection")]
    pub fn flush_count(&self) -> u64 {
        self.inner.db.flush_count()
    }

    fn with(db: Database) -> Result<Self, StoreError> {
        let db = Arc::new(db);
        let outbox = db.tree(OUTBOX)?;
        let inner = Inner {
            settings: db.tree(SETTINGS)?,
            orgs: db.tree(ORGS)?,
            records: db.tree(RECORDS)?,
            revisions: db.tree(REVISIONS)?,
            drafts: db.tree(DRAFTS)?,
            reports: db.tree(REPORTS)?,
            outbox_len: AtomicIsize::new(isize::try_from(outbox.len()).unwrap_or(isize::MAX)),
            outbox,
            narratives: db.tree(NARRATIVES)?,
            shared_receipts: db.tree(SHARED_RECEIPTS)?,
            commit: GroupCommit::new(Arc::clone(&db)),
            db,
        };
        Ok(NodeStore {
            inner: Arc::new(inner),
        })
    }

    /// A stored report with its receipt, read from `shared_receipts` if it is shared.
    fn decode_report(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> Result<(ReportEntry, Option<u64>), StoreError> {
        let (mut entry, outbox, shared) = decode_report(key, value)?;
        if let Some(shared) = shared {
            let stored = self.inner.shared_receipts.get(shared).map_err(io)?;
            // Shared receipts are never deleted, so a missing one means a damaged database.
            let stored = stored.ok_or_else(|| {
                corrupt(REPORTS, key, "its receipt is not in tree shared_receipts")
            })?;
            let body = value::body(SHARED_RECEIPTS, &shared, &stored)?;
            let receipt = alliance_proto::decode_envelope(body)
                .map_err(|e| corrupt(SHARED_RECEIPTS, &shared, e))?;
            entry.receipt = Some(receipt);
        }
        Ok((entry, outbox))
    }

    /// A single-key write through the database's latch.
    fn write<T>(&self, op: impl FnOnce() -> sled::Result<T>) -> Result<(), StoreError> {
        self.inner
            .db
            .write(|| op().map(drop).map_err(WriteError::Sled))
    }

    fn put_setting_envelope(&self, key: &str, envelope: &Envelope) -> Result<(), StoreError> {
        let value = versioned(&alliance_proto::encode_envelope(envelope));
        self.write(|| self.inner.settings.insert(key, value))
    }

    fn setting_envelope(&self, key: &str) -> Result<Option<Envelope>, StoreError> {
        let key = key.as_bytes();
        let Some(value) = self.inner.settings.get(key).map_err(io)? else {
            return Ok(None);
        };
        let body = value::body(SETTINGS, key, &value)?;
        alliance_proto::decode_envelope(body)
            .map(Some)
            .map_err(|e| corrupt(SETTINGS, key, e))
    }
}

// sled's own Debug for a tree walks and prints all of it.
impl fmt::Debug for NodeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeStore")
            .field("db", &self.inner.db)
            .field("outbox_len", &self.outbox_len())
            .finish_non_exhaustive()
    }
}

/// A transaction's error: a conflict or sled's, or the store's own reason to abort.
type TxError = ConflictableTransactionError<StoreError>;

/// `org`, 0: the start of every key of one organisation.
fn org_prefix(org: &OrgId) -> Vec<u8> {
    let mut key = org.as_str().as_bytes().to_vec();
    key.push(0);
    key
}

/// `org`, 0, `period`.
fn period_key(org: &OrgId, period: Period) -> Vec<u8> {
    let mut key = org_prefix(org);
    key.extend_from_slice(period.to_string().as_bytes());
    key
}

fn record_key(org: &OrgId, id: u64) -> Vec<u8> {
    let mut key = org_prefix(org);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

fn draft_key(org: &OrgId, period: Period, revision: u64) -> Vec<u8> {
    let mut key = period_key(org, period);
    key.push(0);
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

fn narrative_key(org: &OrgId, period: Period, action_point: &str) -> Vec<u8> {
    let mut key = period_key(org, period);
    key.push(0);
    key.extend_from_slice(action_point.as_bytes());
    key
}

/// A counter in the meta tree, inside a transaction.
fn tx_counter(meta: &TransactionalTree, key: &'static str) -> Result<u64, TxError> {
    let value = meta.get(key)?;
    decode_u64(META, key.as_bytes(), value.as_deref()).map_err(ConflictableTransactionError::Abort)
}

/// A stored record, checked to be the one its key names.
fn decode_record(org: &OrgId, key: &[u8], value: &[u8]) -> Result<Record, StoreError> {
    let id = key
        .strip_prefix(org_prefix(org).as_slice())
        .ok_or_else(|| corrupt(RECORDS, key, "not a key of this organisation"))?;
    let id = value::fixed::<8>(RECORDS, key, id).map(u64::from_be_bytes)?;
    let record = alliance_proto::decode_record(value::body(RECORDS, key, value)?)
        .map_err(|e| corrupt(RECORDS, key, e))?;
    if record.id != id || record.org != *org {
        return Err(corrupt(
            RECORDS,
            key,
            format_args!("holds record {} of {}", record.id, record.org),
        ));
    }
    Ok(record)
}

/// What a node knows of the revisions of one (organisation, period).
#[derive(Debug, Clone, Copy, Default)]
struct Revisions {
    /// The last revision this node assigned.
    own: u64,
    /// The highest winning revision the hub reported.
    hub: u64,
}

impl Revisions {
    fn floor(self) -> u64 {
        self.own.max(self.hub)
    }

    fn encode(self) -> Vec<u8> {
        let mut body = [0; 16];
        body[..8].copy_from_slice(&self.own.to_be_bytes());
        body[8..].copy_from_slice(&self.hub.to_be_bytes());
        versioned(&body)
    }
}

/// The stored revisions of a key; none stored is all zero.
fn decode_revisions(key: &[u8], value: Option<&[u8]>) -> Result<Revisions, StoreError> {
    let Some(value) = value else {
        return Ok(Revisions::default());
    };
    let body = value::fixed::<16>(REVISIONS, key, value::body(REVISIONS, key, value)?)?;
    let (own, hub) = body.split_at(8);
    // Both halves are 8 bytes by construction; `fixed` only restates it for the types.
    Ok(Revisions {
        own: u64::from_be_bytes(value::fixed::<8>(REVISIONS, key, own)?),
        hub: u64::from_be_bytes(value::fixed::<8>(REVISIONS, key, hub)?),
    })
}

fn tx_revisions(revisions: &TransactionalTree, key: &[u8]) -> Result<Revisions, TxError> {
    let value = revisions.get(key)?;
    decode_revisions(key, value.as_deref()).map_err(ConflictableTransactionError::Abort)
}

/// A draft's value: created at (`i64` BE), withdrawn (1 or 0), then the payload to the end.
/// The organisation, period and revision are in the key.
fn encode_draft(draft: &Draft) -> Vec<u8> {
    let mut body = Vec::with_capacity(9 + draft.payload.len());
    body.extend_from_slice(&draft.created_at.0.to_be_bytes());
    body.push(u8::from(draft.withdrawn));
    body.extend_from_slice(&draft.payload);
    versioned(&body)
}

fn decode_draft(key: &[u8], value: &[u8]) -> Result<Draft, StoreError> {
    let bad_key = || corrupt(DRAFTS, key, "the key is not organisation, period, revision");
    let (org, rest) = split_at_zero(key).ok_or_else(bad_key)?;
    let (period, revision) = split_at_zero(rest).ok_or_else(bad_key)?;
    let org = std::str::from_utf8(org)
        .ok()
        .and_then(|org| org.parse::<OrgId>().ok())
        .ok_or_else(bad_key)?;
    let period = std::str::from_utf8(period)
        .ok()
        .and_then(|period| period.parse::<Period>().ok())
        .ok_or_else(bad_key)?;
    let revision = value::fixed::<8>(DRAFTS, key, revision).map(u64::from_be_bytes)?;
    let body = value::body(DRAFTS, key, value)?;
    let (created_at, rest) = body
        .split_at_checked(8)
        .ok_or_else(|| corrupt(DRAFTS, key, "truncated"))?;
    let (withdrawn, payload) = rest
        .split_first()
        .ok_or_else(|| corrupt(DRAFTS, key, "truncated"))?;
    let withdrawn = match withdrawn {
        0 => false,
        1 => true,
        other => return Err(corrupt(DRAFTS, key, format_args!("withdrawn flag {other}"))),
    };
    Ok(Draft {
        org,
        period,
        revision,
        withdrawn,
        payload: payload.to_vec(),
        created_at: Timestamp(i64::from_be_bytes(value::fixed::<8>(
            DRAFTS, key, created_at,
        )?)),
    })
}

/// The bytes before the first 0 and those after it.
fn split_at_zero(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == 0)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// A stored report, inside a transaction, with its outbox sequence number if it is in the
/// outbox; the transaction aborts with `UnknownReport` if none is stored under `id`.
fn tx_report(reports: &TransactionalTree, id: &ReportId) -> Result<DecodedReport, TxError> {
    let Some(value) = reports.get(id.0)? else {
        return Err(ConflictableTransactionError::Abort(
            StoreError::UnknownReport(*id),
        ));
    };
    decode_report(&id.0, &value).map_err(ConflictableTransactionError::Abort)
}

/// A stored report's position in the outbox, inside a transaction, reading only its header;
/// the transaction aborts with `UnknownReport` if none is stored under `id`.
fn tx_outbox_position(reports: &TransactionalTree, id: &ReportId) -> Result<Option<u64>, TxError> {
    let Some(value) = reports.get(id.0)? else {
        return Err(ConflictableTransactionError::Abort(
            StoreError::UnknownReport(*id),
        ));
    };
    decode_header(&id.0, &value)
        .map(|header| header.outbox)
        .map_err(ConflictableTransactionError::Abort)
}

/// [`encode_report`] of each entry, for one transaction. The entries a hub batch answered
/// come in a row with the same batch receipt: it is encoded, hashed and stored once for the
/// row, not once per entry.
fn encode_reports(entries: &[ReportEntry]) -> Result<Vec<EncodedReport>, StoreError> {
    let mut previous: Option<(&Envelope, [u8; 32])> = None;
    entries
        .iter()
        .map(|entry| {
            let same = match (&entry.receipt, previous) {
                (Some(receipt), Some((shared, key))) if receipt == shared => Some(key),
                _ => None,
            };
            let encoded = encode_report_with(entry, same)?;
            if let (Some(receipt), Some((key, _))) = (&entry.receipt, &encoded.shared) {
                previous = Some((receipt, *key));
            }
            Ok(encoded)
        })
        .collect()
}

/// The value of a stored report: sections, each a `u32` BE length and that many bytes: the
/// JSON header ([`ReportHeader`]), then the report envelope; then the custody receipt and the
/// receipt, each a byte (0 absent, 1 present, 2 shared) followed by a section when present or
/// by the 32-byte key of the receipt in `shared_receipts` when shared. Envelopes are protobuf,
/// kept as bytes rather than JSON arrays of numbers.
fn encode_report(entry: &ReportEntry) -> Result<EncodedReport, StoreError> {
    encode_report_with(entry, None)
}

/// [`encode_report`] of an entry whose receipt is the shared one under `shared_key`, already
/// stored or stored by the caller (the receipt in `entry`, if any, is then not read).
fn encode_report_with(
    entry: &ReportEntry,
    shared_key: Option<[u8; 32]>,
) -> Result<EncodedReport, StoreError> {
    let mut tail = Vec::new();
    put_section(&mut tail, &alliance_proto::encode_envelope(&entry.envelope))?;
    put_optional(&mut tail, entry.custody_receipt.as_ref())?;
    let mut shared = None;
    match (&entry.receipt, shared_key) {
        (_, Some(key)) => {
            tail.push(2);
            tail.extend_from_slice(&key);
        }
        (Some(receipt), None) if receipt.payload_type == payload_type::BATCH_RECEIPT => {
            let bytes = alliance_proto::encode_envelope(receipt);
            let key: [u8; 32] = Sha256::digest(&bytes).into();
            tail.push(2);
            tail.extend_from_slice(&key);
            shared = Some((key, versioned(&bytes)));
        }
        (receipt, None) => put_optional(&mut tail, receipt.as_ref())?,
    }
    Ok(EncodedReport {
        header: ReportHeader::new(entry, None),
        tail,
        shared,
    })
}

/// A stored report's value but for its outbox position, which a transaction fills in, and the
/// shared receipt to store with it.
struct EncodedReport {
    header: ReportHeader,
    tail: Vec<u8>,
    shared: Option<([u8; 32], Vec<u8>)>,
}

impl EncodedReport {
    fn value(&self, outbox: Option<u64>) -> Result<Vec<u8>, StoreError> {
        let header = serde_json::to_vec(&ReportHeader {
            outbox,
            ..self.header.clone()
        })
        .map_err(|e| StoreError::Io(format!("cannot encode a value for tree {REPORTS}: {e}")))?;
        let mut body = Vec::with_capacity(4 + header.len() + self.tail.len());
        put_section(&mut body, &header)?;
        body.extend_from_slice(&self.tail);
        Ok(versioned(&body))
    }
}

fn put_optional(body: &mut Vec<u8>, envelope: Option<&Envelope>) -> Result<(), StoreError> {
    match envelope {
        None => body.push(0),
        Some(envelope) => {
            body.push(1);
            put_section(body, &alliance_proto::encode_envelope(envelope))?;
        }
    }
    Ok(())
}

fn put_section(body: &mut Vec<u8>, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len()).map_err(|_| {
        StoreError::Io(format!(
            "cannot store a report: a part of {} bytes is over 4 GiB",
            bytes.len()
        ))
    })?;
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(bytes);
    Ok(())
}

/// A stored report as [`decode_report`] reads it.
type DecodedReport = (ReportEntry, Option<u64>, Option<[u8; 32]>);

/// A stored report, its outbox sequence number if it is in the outbox, and the key of its
/// receipt in `shared_receipts` if that is where its receipt is (`receipt` is then `None`: see
/// [`NodeStore::decode_report`], which reads it).
fn decode_report(key: &[u8], value: &[u8]) -> Result<DecodedReport, StoreError> {
    let report_id = ReportId(value::fixed::<32>(REPORTS, key, key)?);
    let mut reader = Reader {
        key,
        rest: value::body(REPORTS, key, value)?,
    };
    let header: ReportHeader =
        serde_json::from_slice(reader.section()?).map_err(|e| corrupt(REPORTS, key, e))?;
    let envelope = reader.envelope("envelope")?;
    let custody_receipt = reader.optional_envelope("custody receipt")?;
    let (receipt, shared) = match reader.rest.first() {
        Some(2) => {
            reader.take(1)?;
            let shared = value::fixed::<32>(REPORTS, key, reader.take(32)?)?;
            (None, Some(shared))
        }
        _ => (reader.optional_envelope("receipt")?, None),
    };
    if !reader.rest.is_empty() {
        return Err(corrupt(REPORTS, key, "bytes after the last part"));
    }
    let field =
        |name: &str, e: &dyn fmt::Display| corrupt(REPORTS, key, format_args!("{name}: {e}"));
    let entry = ReportEntry {
        report_id,
        org: header.org.parse().map_err(|e| field("org", &e))?,
        period: header.period.parse().map_err(|e| field("period", &e))?,
        revision: header.revision,
        withdrawn: header.withdrawn,
        envelope,
        queued_at: Timestamp(header.queued_at),
        attempts: header.attempts,
        state: header.state.into(),
        custody_receipt,
        receipt,
        refusal: header.refusal.map(|r| StoredRefusal {
            reason: r.reason,
            message: r.message,
        }),
    };
    Ok((entry, header.outbox, shared))
}

/// The header of a stored report, without reading its envelopes.
fn decode_header(key: &[u8], value: &[u8]) -> Result<ReportHeader, StoreError> {
    let mut reader = Reader {
        key,
        rest: value::body(REPORTS, key, value)?,
    };
    serde_json::from_slice(reader.section()?).map_err(|e| corrupt(REPORTS, key, e))
}

/// Reads a stored report's parts in order; running out is corruption.
struct Reader<'a> {
    key: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], StoreError> {
        let (taken, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or_else(|| corrupt(REPORTS, self.key, "truncated"))?;
        self.rest = rest;
        Ok(taken)
    }

    fn section(&mut self) -> Result<&'a [u8], StoreError> {
        let len = value::fixed::<4>(REPORTS, self.key, self.take(4)?).map(u32::from_be_bytes)?;
        let len = usize::try_from(len).map_err(|_| corrupt(REPORTS, self.key, "truncated"))?;
        self.take(len)
    }

    fn envelope(&mut self, what: &str) -> Result<Envelope, StoreError> {
        let bytes = self.section()?;
        alliance_proto::decode_envelope(bytes)
            .map_err(|e| corrupt(REPORTS, self.key, format_args!("{what}: {e}")))
    }

    fn optional_envelope(&mut self, what: &str) -> Result<Option<Envelope>, StoreError> {
        match self.take(1)? {
            [0] => Ok(None),
            [1] => self.envelope(what).map(Some),
            [tag] => Err(corrupt(
                REPORTS,
                self.key,
                format_args!("{what}: presence byte {tag}"),
            )),
            _ => Err(corrupt(REPORTS, self.key, "truncated")),
        }
    }
}

/// The setup as stored (JSON, after the version byte).
#[derive(Serialize, Deserialize)]
struct SetupValue {
    upstream: String,
    ca_der: Vec<u8>,
    hub_public_key: [u8; 32],
    own_org: String,
    relay: bool,
}

impl From<&Setup> for SetupValue {
    fn from(s: &Setup) -> Self {
        SetupValue {
            upstream: s.upstream.clone(),
            ca_der: s.ca_der.clone(),
            hub_public_key: s.hub_public_key,
            own_org: s.own_org.to_string(),
            relay: s.relay,
        }
    }
}

fn decode_setup(key: &[u8], value: &[u8]) -> Result<Setup, StoreError> {
    let s: SetupValue = decode_json(SETTINGS, key, value)?;
    Ok(Setup {
        own_org: s
            .own_org
            .parse()
            .map_err(|e| corrupt(SETTINGS, key, format_args!("own_org: {e}")))?,
        upstream: s.upstream,
        ca_der: s.ca_der,
        hub_public_key: s.hub_public_key,
        relay: s.relay,
    })
}

/// An organisation as stored (JSON, after the version byte).
#[derive(Serialize, Deserialize)]
struct OrgValue {
    org: String,
    key_id: String,
    previous_key_ids: Vec<String>,
    enrolled_at: Option<i64>,
    join_token: String,
    hosted: bool,
}

impl From<&OrgEntry> for OrgValue {
    fn from(o: &OrgEntry) -> Self {
        OrgValue {
            org: o.org.to_string(),
            key_id: o.key_id.clone(),
            previous_key_ids: o.previous_key_ids.clone(),
            enrolled_at: o.enrolled_at.map(|t| t.0),
            join_token: o.join_token.clone(),
            hosted: o.hosted,
        }
    }
}

fn decode_org(key: &[u8], value: &[u8]) -> Result<OrgEntry, StoreError> {
    let o: OrgValue = decode_json(ORGS, key, value)?;
    if o.org.as_bytes() != key {
        return Err(corrupt(
            ORGS,
            key,
            format_args!("holds organisation {:?}", o.org),
        ));
    }
    Ok(OrgEntry {
        org: o
            .org
            .parse()
            .map_err(|e| corrupt(ORGS, key, format_args!("org: {e}")))?,
        key_id: o.key_id,
        previous_key_ids: o.previous_key_ids,
        enrolled_at: o.enrolled_at.map(Timestamp),
        join_token: o.join_token,
        hosted: o.hosted,
    })
}

/// A report entry's fields other than its envelopes and id, as stored (JSON).
#[derive(Clone, Serialize, Deserialize)]
struct ReportHeader {
    org: String,
    period: String,
    revision: u64,
    withdrawn: bool,
    queued_at: i64,
    attempts: u32,
    state: StateValue,
    refusal: Option<RefusalValue>,
    /// The report's key in the outbox tree while it is there, so that leaving the outbox
    /// needs no scan.
    outbox: Option<u64>,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StateValue {
    Pending,
    HeldByRelay,
    Decided,
    SetAside,
}

impl From<StateValue> for DeliveryState {
    fn from(state: StateValue) -> Self {
        match state {
            StateValue::Pending => DeliveryState::Pending,
            StateValue::HeldByRelay => DeliveryState::HeldByRelay,
            StateValue::Decided => DeliveryState::Decided,
            StateValue::SetAside => DeliveryState::SetAside,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct RefusalValue {
    reason: String,
    message: String,
}

impl ReportHeader {
    fn new(e: &ReportEntry, outbox: Option<u64>) -> Self {
        ReportHeader {
            org: e.org.to_string(),
            period: e.period.to_string(),
            revision: e.revision,
            withdrawn: e.withdrawn,
            queued_at: e.queued_at.0,
            attempts: e.attempts,
            state: match e.state {
                DeliveryState::Pending => StateValue::Pending,
                DeliveryState::HeldByRelay => StateValue::HeldByRelay,
                DeliveryState::Decided => StateValue::Decided,
                DeliveryState::SetAside => StateValue::SetAside,
            },
            refusal: e.refusal.as_ref().map(|r| RefusalValue {
                reason: r.reason.clone(),
                message: r.message.clone(),
            }),
            outbox,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::assert_corrupt;

    fn store() -> (tempfile::TempDir, NodeStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = NodeStore::create(&dir.path().join("node"), 1 << 20).unwrap();
        (dir, store)
    }

    fn gtuc() -> OrgId {
        "gtuc".parse().unwrap()
    }

    fn entry() -> ReportEntry {
        ReportEntry {
            report_id: ReportId([3; 32]),
            org: gtuc(),
            period: "2009-H1".parse().unwrap(),
            revision: 2,
            withdrawn: true,
            envelope: Envelope::unsigned("p", vec![4]),
            queued_at: Timestamp(-2),
            attempts: 3,
            state: DeliveryState::SetAside,
            custody_receipt: None,
            receipt: Some(Envelope::unsigned("r", vec![5])),
            refusal: Some(StoredRefusal {
                reason: "STALE".into(),
                message: "m".into(),
            }),
        }
    }

    #[test]
    fn undecodable_values_are_corrupt_naming_tree_and_key() {
        let (_dir, store) = store();
        let inner = &store.inner;

        inner.orgs.insert("gtuc", b"\x01{}").unwrap();
        assert_corrupt(store.orgs().unwrap_err(), ORGS, "\"gtuc\"", "missing field");
        inner.settings.insert(FRAMEWORK_KEY, b"\x01\xff").unwrap();
        assert_corrupt(
            store.framework().unwrap_err(),
            SETTINGS,
            "\"framework\"",
            "",
        );
        inner.settings.insert(SETUP_KEY, b"\x02{}").unwrap();
        assert_corrupt(
            store.setup().unwrap_err(),
            SETTINGS,
            "\"setup\"",
            "format version 2",
        );

        let key = period_key(&gtuc(), Period::Year(2009));
        inner.revisions.insert(&key, versioned(&[0; 8])).unwrap();
        assert_corrupt(
            store
                .revision_floor(&gtuc(), Period::Year(2009))
                .unwrap_err(),
            REVISIONS,
            "677475630032303039",
            "8 bytes where 16",
        );

        inner.drafts.insert(b"gtuc\0".as_slice(), b"\x01").unwrap();
        assert_corrupt(
            store.drafts().unwrap_err(),
            DRAFTS,
            "6774756300",
            "not organisation, period, revision",
        );

        let truncated = encode_report(&entry()).unwrap().value(None).unwrap();
        inner
            .reports
            .insert([4; 32], &truncated[..truncated.len() - 1])
            .unwrap();
        assert_corrupt(
            store.report(&ReportId([4; 32])).unwrap_err(),
            REPORTS,
            &"04".repeat(32),
            "truncated",
        );

        inner
            .outbox
            .insert(7u64.to_be_bytes(), versioned(&[9; 32]))
            .unwrap();
        assert_corrupt(
            store.outbox(0).unwrap_err(),
            OUTBOX,
            "0000000000000007",
            "is not stored",
        );
    }

    #[test]
    fn a_batch_receipt_is_stored_once_for_all_the_reports_it_answers() {
        let (_dir, store) = store();
        let batch = Envelope::unsigned(payload_type::BATCH_RECEIPT, vec![7; 4000]);
        let other = Envelope::unsigned(payload_type::BATCH_RECEIPT, vec![9; 4000]);
        let entries: Vec<ReportEntry> = (10..14)
            .map(|n| ReportEntry {
                report_id: ReportId([n; 32]),
                state: DeliveryState::Pending,
                receipt: None,
                refusal: None,
                ..entry()
            })
            .collect();
        for e in &entries {
            store.queue(e).unwrap();
        }
        // Two batches' answers in one update, one of them not in a row.
        let receipts = [&batch, &batch, &other, &batch];
        let decided: Vec<ReportEntry> = entries
            .iter()
            .zip(receipts)
            .map(|(e, receipt)| ReportEntry {
                state: DeliveryState::Decided,
                receipt: Some(receipt.clone()),
                ..e.clone()
            })
            .collect();
        store.update_reports(&decided, true).unwrap();
        assert_eq!(store.inner.shared_receipts.len(), 2);
        assert_eq!(store.outbox_len(), 0);
        for e in &decided {
            let raw = store.inner.reports.get(e.report_id.0).unwrap().unwrap();
            assert!(
                raw.len() < 1000,
                "{} bytes: the receipt is copied",
                raw.len()
            );
            assert_eq!(store.report(&e.report_id).unwrap().as_ref(), Some(e));
        }
        // A receipt that answers one report alone stays inline.
        let single = ReportEntry {
            receipt: Some(Envelope::unsigned(payload_type::RECEIPT, vec![8; 100])),
            ..decided[0].clone()
        };
        store.update_report(&single, false).unwrap();
        assert_eq!(store.report(&single.report_id).unwrap(), Some(single));

        store.inner.shared_receipts.clear().unwrap();
        assert_corrupt(
            store.report(&decided[1].report_id).unwrap_err(),
            REPORTS,
            &"0b".repeat(32),
            "not in tree shared_receipts",
        );
    }

    #[test]
    fn a_stored_report_round_trips_with_its_outbox_sequence() {
        let value = encode_report(&entry()).unwrap().value(Some(7)).unwrap();
        assert_eq!(value[0], value::VALUE_VERSION);
        assert_eq!(
            decode_report(&[3; 32], &value).unwrap(),
            (entry(), Some(7), None)
        );
        let mut trailing = value.clone();
        trailing.push(0);
        assert_corrupt(
            decode_report(&[3; 32], &trailing).unwrap_err(),
            REPORTS,
            &"03".repeat(32),
            "bytes after the last part",
        );
    }

    #[test]
    fn a_corrupt_revision_refuses_the_draft_without_failing_the_store() {
        let (_dir, store) = store();
        let key = period_key(&gtuc(), Period::Year(2009));
        store.inner.revisions.insert(&key, b"\x01abc").unwrap();
        let draft = Draft {
            org: gtuc(),
            period: Period::Year(2009),
            revision: 1,
            withdrawn: false,
            payload: vec![],
            created_at: Timestamp(0),
        };
        assert!(matches!(
            store.put_draft(&draft),
            Err(StoreError::Corrupt {
                tree: REVISIONS,
                ..
            })
        ));
        assert!(store.drafts().unwrap().is_empty());
        store
            .put_narrative(&gtuc(), Period::Year(2009), "ap", "t")
            .unwrap();
        store.flush().unwrap();
    }
}
