//! The hub's store: the registry's organisations, join tokens, stored report envelopes with
//! the outcome each was given, the audit log, coverage deadlines and a few counters.
//!
//! Receipts are not stored: a receipt is a function of the stored report and its outcome, and
//! Ed25519 signatures are deterministic, so the hub signs the same receipt again, byte for
//! byte, whenever it is asked for it.
//!
//! | tree | key | value (after the version byte) |
//! |---|---|---|
//! | `meta` | `registry_serial`, `audit_sequence`, `refusals_total` | `u64` big-endian |
//! | `orgs` | organisation id | `alliance.v1.Organisation` protobuf, with its relay part |
//! | `join_tokens` | the token | JSON ([`JoinToken`]) |
//! | `reports` | report id (32 bytes) | received at (`i64` BE), outcome, custody time if any, report envelope (see `encode_report`) |
//! | `audit_admin` | audit sequence number (`u64` BE) | JSON ([`AuditRecord`]) |
//! | `audit_refusals` | refusal number (`u64` BE, 1 for the first refusal ever) | JSON ([`AuditRecord`]) |
//! | `deadlines` | period (`2009`, `2009-H1`) | `i64` BE, seconds since the Unix epoch |
//!
//! Refusals are keyed by their own number rather than the audit sequence so that the entry to
//! delete when a new one comes (number − [`REFUSALS_KEPT`]) is known without a scan, inside the
//! same transaction that adds the new one and counts it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use alliance_core::org::{OrgId, Organisation};
use alliance_core::period::Period;
use alliance_core::receipt::{Outcome, OutcomeKind, ReportId};
use alliance_core::timestamp::Timestamp;
use alliance_envelope::Envelope;
use alliance_proto::RelayInfo;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::db::{Database, Kind, META, WriteError, io};
use crate::error::StoreError;
use crate::flusher::GroupCommit;
use crate::value::{self, corrupt, decode_json, decode_u64, encode_json, encode_u64, versioned};

/// How many refusal entries the audit log keeps (DESIGN.md §6): nothing an unauthenticated
/// client sends may grow the store without bound. Admin actions are all kept.
pub const REFUSALS_KEPT: u64 = 10_000;

/// The hub database's format version. Raise it when a tree or key changes meaning.
pub const HUB_FORMAT_VERSION: u32 = 2;

const HUB: Kind = Kind {
    name: "hub",
    format_version: HUB_FORMAT_VERSION,
};

const ORGS: &str = "orgs";
const TOKENS: &str = "join_tokens";
const REPORTS: &str = "reports";
const AUDIT_ADMIN: &str = "audit_admin";
const AUDIT_REFUSALS: &str = "audit_refusals";
const DEADLINES: &str = "deadlines";

const REGISTRY_SERIAL: &str = "registry_serial";
const AUDIT_SEQUENCE: &str = "audit_sequence";
const REFUSALS_TOTAL: &str = "refusals_total";

/// The hub's database. Cheap to clone; clones share the database, its group commit and its
/// failed state.
#[derive(Clone)]
pub struct HubStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    commit: GroupCommit,
    orgs: sled::Tree,
    tokens: sled::Tree,
    reports: sled::Tree,
    audit_admin: sled::Tree,
    audit_refusals: sled::Tree,
    deadlines: sled::Tree,
    /// The number of stored reports, kept here because sled counts a tree by walking it.
    report_count: AtomicUsize,
}

/// A one-time join token and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The secret in the join code; the key it is stored under.
    pub token: String,
    pub org: OrgId,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// The full join code text, so `org show` can print codes that are still open.
    pub code: String,
    /// Issued by `org reissue`: enrolling with it revokes the organisation's other keys.
    pub reissue: bool,
    /// A newer code for the organisation was issued; this one no longer works.
    pub replaced: bool,
    /// The public key enrolled with it.
    pub used_by: Option<[u8; 32]>,
    pub used_at: Option<Timestamp>,
}

/// A stored report envelope, exactly as received, with the outcome the hub gave it when it
/// received it (its receipt was issued at `received_at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    pub report_id: ReportId,
    pub envelope: Envelope,
    pub received_at: Timestamp,
    pub outcome: Outcome,
    /// The time of the earliest verified relay custody receipt that came with the envelope (or
    /// with a later copy of it), if any: the report counts as received at the earlier of this
    /// and `received_at` (DESIGN.md §4).
    pub custody_at: Option<Timestamp>,
}

impl StoredReport {
    /// When the report was first held: the earlier of the relay's custody time and the hub's
    /// receipt.
    pub fn first_received_at(&self) -> Timestamp {
        self.custody_at
            .map_or(self.received_at, |custody| custody.min(self.received_at))
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Assigned by [`HubStore::append_audit`] (which ignores the value given) and rising;
    /// admin actions and refusals share one sequence.
    pub sequence: u64,
    pub at: Timestamp,
    pub kind: AuditKind,
    pub actor: String,
    pub action: String,
    pub org: Option<String>,
    pub reason: Option<String>,
    pub detail: String,
}

/// The two kinds of audit entry, kept differently (see [`REFUSALS_KEPT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// An operator's action; all are kept.
    Admin,
    /// A refused request; only the latest [`REFUSALS_KEPT`] are kept, all are counted.
    Refusal,
}

impl HubStore {
    /// Creates a new hub database in `path`; refuses with `Exists` if there is one already.
    pub fn create(path: &Path, cache_capacity_bytes: u64) -> Result<Self, StoreError> {
        Self::with(Database::create(path, cache_capacity_bytes, HUB)?)
    }

    /// Opens the hub database in `path`: `Missing` if there is none, `Locked` if another
    /// process has it open, `FormatVersion` if another build wrote it.
    pub fn open(path: &Path, cache_capacity_bytes: u64) -> Result<Self, StoreError> {
        Self::with(Database::open(path, cache_capacity_bytes, HUB)?)
    }

    /// Resolves once every write that completed before this call is on disk (group commit:
    /// concurrent callers share one flush). Call it after writing and before acknowledging.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.inner.commit.durable().await
    }

    /// Flushes every write so far to disk, blocking: for shutdown and the CLI's direct mode.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.commit.flush()
    }

    /// Stores an organisation with its relay info, replacing what was stored under its id.
    pub fn put_org(&self, org: &Organisation, relay: Option<&RelayInfo>) -> Result<(), StoreError> {
        let value = versioned(&alliance_proto::encode_organisation(org, relay));
        self.write(|| self.inner.orgs.insert(org.id.as_str(), value))
    }

    /// Every organisation with its relay info, by id.
    pub fn orgs(&self) -> Result<Vec<(Organisation, Option<RelayInfo>)>, StoreError> {
        self.inner
            .orgs
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(io)?;
                decode_org(&key, &value)
            })
            .collect()
    }

    /// Stores a join token, replacing what was stored under the same token.
    pub fn put_token(&self, token: &JoinToken) -> Result<(), StoreError> {
        let value = encode_json(TOKENS, &TokenValue::from(token))?;
        self.write(|| self.inner.tokens.insert(token.token.as_bytes(), value))
    }

    /// The join token `token`, if one was issued.
    pub fn token(&self, token: &str) -> Result<Option<JoinToken>, StoreError> {
        let key = token.as_bytes();
        self.inner
            .tokens
            .get(key)
            .map_err(io)?
            .map(|value| decode_token(key, &value))
            .transpose()
    }

    /// Every join token ever issued, in token order.
    pub fn tokens(&self) -> Result<Vec<JoinToken>, StoreError> {
        self.inner
            .tokens
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(io)?;
                decode_token(&key, &value)
            })
            .collect()
    }

    /// Stores reports, all or none: one report is one insert, several are one sled batch,
    /// which is applied atomically. A report already stored under its id is replaced.
    pub fn put_reports(&self, reports: &[StoredReport]) -> Result<(), StoreError> {
        let inner = &self.inner;
        let added = inner.db.write(|| {
            let mut added = 0;
            if let [report] = reports {
                let value = encode_report(report);
                if inner.reports.insert(report.report_id.0, value)?.is_none() {
                    added += 1;
                }
                return Ok(added);
            }
            let mut batch = sled::Batch::default();
            for report in reports {
                if !inner.reports.contains_key(report.report_id.0)? {
                    added += 1;
                }
                batch.insert(&report.report_id.0, encode_report(report));
            }
            inner.reports.apply_batch(batch)?;
            Ok(added)
        })?;
        inner.report_count.fetch_add(added, Ordering::SeqCst);
        Ok(())
    }

    /// The stored report with this id.
    pub fn report(&self, id: &ReportId) -> Result<Option<StoredReport>, StoreError> {
        self.inner
            .reports
            .get(id.0)
            .map_err(io)?
            .map(|value| decode_report(&id.0, &value))
            .transpose()
    }

    /// Every stored report, in report id order: for rebuilding the ledger and view at start.
    pub fn reports(&self) -> impl Iterator<Item = Result<StoredReport, StoreError>> + '_ {
        self.inner.reports.iter().map(|item| {
            let (key, value) = item.map_err(io)?;
            decode_report(&key, &value)
        })
    }

    /// How many reports are stored.
    pub fn report_count(&self) -> usize {
        self.inner.report_count.load(Ordering::SeqCst)
    }

    /// Adds an entry to the audit log and returns the sequence number it was given. A refusal
    /// is counted, and the oldest kept refusal is deleted once more than [`REFUSALS_KEPT`] are
    /// kept, in the same transaction.
    pub fn append_audit(&self, record: &AuditRecord) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let meta = inner.db.meta();
        let audit_tree = match record.kind {
            AuditKind::Admin => AUDIT_ADMIN,
            AuditKind::Refusal => AUDIT_REFUSALS,
        };
        inner.db.write(|| {
            Ok(
                (meta, &inner.audit_admin, &inner.audit_refusals).transaction(
                    |(meta, admin, refusals)| {
                        let sequence = tx_counter(meta, AUDIT_SEQUENCE)?.saturating_add(1);
                        meta.insert(AUDIT_SEQUENCE, encode_u64(sequence))?;
                        let value = encode_json(audit_tree, &AuditValue::new(record, sequence))
                            .map_err(ConflictableTransactionError::Abort)?;
                        match record.kind {
                            AuditKind::Admin => {
                                admin.insert(&sequence.to_be_bytes(), value)?;
                            }
                            AuditKind::Refusal => {
                                let number = tx_counter(meta, REFUSALS_TOTAL)?.saturating_add(1);
                                meta.insert(REFUSALS_TOTAL, encode_u64(number))?;
                                refusals.insert(&number.to_be_bytes(), value)?;
                                if let Some(oldest) = number.checked_sub(REFUSALS_KEPT) {
                                    refusals.remove(&oldest.to_be_bytes())?;
                                }
                            }
                        }
                        Ok::<_, ConflictableTransactionError<StoreError>>(sequence)
                    },
                )?,
            )
        })
    }

    /// The audit log, newest first: at most `limit` entries (0: all that are kept), of one
    /// kind or both.
    pub fn audit(
        &self,
        limit: usize,
        kind: Option<AuditKind>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let admin = || audit_newest_first(&self.inner.audit_admin, AUDIT_ADMIN, AuditKind::Admin);
        let refusals = || {
            audit_newest_first(
                &self.inner.audit_refusals,
                AUDIT_REFUSALS,
                AuditKind::Refusal,
            )
        };
        match kind {
            Some(AuditKind::Admin) => admin().take(limit).collect(),
            Some(AuditKind::Refusal) => refusals().take(limit).collect(),
            None => merge_newest_first(admin(), refusals(), limit),
        }
    }

    /// How many refusals were ever recorded, including those no longer kept.
    pub fn refusals_total(&self) -> Result<u64, StoreError> {
        self.meta_counter(REFUSALS_TOTAL)
    }

    /// Sets the coverage deadline of a period, replacing any earlier one.
    pub fn set_deadline(&self, period: Period, at: Timestamp) -> Result<(), StoreError> {
        let value = versioned(&at.0.to_be_bytes());
        self.write(|| self.inner.deadlines.insert(period.to_string(), value))
    }

    /// Every deadline the operator set.
    pub fn deadlines(&self) -> Result<BTreeMap<Period, Timestamp>, StoreError> {
        self.inner
            .deadlines
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(io)?;
                let period = std::str::from_utf8(&key)
                    .ok()
                    .and_then(|text| text.parse::<Period>().ok())
                    .ok_or_else(|| corrupt(DEADLINES, &key, "the key is not a period"))?;
                let body = value::body(DEADLINES, &key, &value)?;
                let at = value::fixed::<8>(DEADLINES, &key, body).map(i64::from_be_bytes)?;
                Ok((period, Timestamp(at)))
            })
            .collect()
    }

    /// The registry's serial number: 0 until it is first set.
    pub fn registry_serial(&self) -> Result<u64, StoreError> {
        self.meta_counter(REGISTRY_SERIAL)
    }

    /// Records the registry's serial number (the caller raises it with every change).
    pub fn set_registry_serial(&self, serial: u64) -> Result<(), StoreError> {
        let meta = self.inner.db.meta();
        self.write(|| meta.insert(REGISTRY_SERIAL, encode_u64(serial)))
    }

    /// Fault injection for tests of storage errors (BAD_INPUTS 25): after `writes` more
    /// successful writes, every write, flush and [`durable`](Self::durable) fails with an `Io`
    /// error ("injected storage fault ..."), and the store is failed from then on.
    #[cfg(feature = "fault-injection")]
    pub fn inject_failure_after(&self, writes: u64) {
        self.inner.db.inject_failure_after(writes);
    }

    /// How many sled flushes this store has made (for tests of group commit).
    #[doc(hidden)]
    pub fn flush_count(&self) -> u64 {
        self.inner.db.flush_count()
    }

    fn with(db: Database) -> Result<Self, StoreError> {
        let db = Arc::new(db);
        let reports = db.tree(REPORTS)?;
        let inner = Inner {
            orgs: db.tree(ORGS)?,
            tokens: db.tree(TOKENS)?,
            report_count: AtomicUsize::new(reports.len()),
            reports,
            audit_admin: db.tree(AUDIT_ADMIN)?,
            audit_refusals: db.tree(AUDIT_REFUSALS)?,
            deadlines: db.tree(DEADLINES)?,
            commit: GroupCommit::new(Arc::clone(&db)),
            db,
        };
        Ok(HubStore {
            inner: Arc::new(inner),
        })
    }

    /// A single-key write through the database's latch.
    fn write<T>(&self, op: impl FnOnce() -> sled::Result<T>) -> Result<(), StoreError> {
        self.inner
            .db
            .write(|| op().map(drop).map_err(WriteError::Sled))
    }

    fn meta_counter(&self, key: &'static str) -> Result<u64, StoreError> {
        let value = self.inner.db.meta().get(key).map_err(io)?;
        decode_u64(META, key.as_bytes(), value.as_deref())
    }
}

// sled's own Debug for a tree walks and prints all of it.
impl fmt::Debug for HubStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubStore")
            .field("db", &self.inner.db)
            .field("report_count", &self.report_count())
            .finish_non_exhaustive()
    }
}

/// A counter in the meta tree, inside a transaction.
fn tx_counter(
    meta: &TransactionalTree,
    key: &'static str,
) -> Result<u64, ConflictableTransactionError<StoreError>> {
    let value = meta.get(key)?;
    decode_u64(META, key.as_bytes(), value.as_deref()).map_err(ConflictableTransactionError::Abort)
}

fn decode_org(key: &[u8], value: &[u8]) -> Result<(Organisation, Option<RelayInfo>), StoreError> {
    let body = value::body(ORGS, key, value)?;
    let (org, relay) =
        alliance_proto::decode_organisation(body).map_err(|e| corrupt(ORGS, key, e))?;
    if org.id.as_str().as_bytes() != key {
        return Err(corrupt(
            ORGS,
            key,
            format_args!("holds organisation {:?}", org.id.as_str()),
        ));
    }
    Ok((org, relay))
}

/// The value of a stored report: received at (`i64` BE); the outcome: its kind (1 accepted,
/// 2 superseded, 3 equivocation, 4 duplicate, as on the wire), the winning revision (`u64` BE)
/// and the winning report id (32 bytes); then, only in values of version
/// [`REPORT_WITH_CUSTODY`], the relay's custody time (`i64` BE); then the report envelope,
/// protobuf, to the end.
///
/// A report without a custody time is written exactly as before custody times were kept
/// (value version 1), so values written by earlier builds read unchanged and the database's
/// format version stays; only a report that has one is written under value version 2. (The
/// envelope runs to the end of the value, so a field cannot simply be appended after it.)
fn encode_report(report: &StoredReport) -> Vec<u8> {
    let envelope = alliance_proto::encode_envelope(&report.envelope);
    let mut value = Vec::with_capacity(1 + 8 + 1 + 8 + 32 + 8 + envelope.len());
    value.push(match report.custody_at {
        Some(_) => REPORT_WITH_CUSTODY,
        None => value::VALUE_VERSION,
    });
    value.extend_from_slice(&report.received_at.0.to_be_bytes());
    value.push(outcome_tag(report.outcome.kind));
    value.extend_from_slice(&report.outcome.winning_revision.to_be_bytes());
    value.extend_from_slice(&report.outcome.winning_report_id.0);
    if let Some(custody) = report.custody_at {
        value.extend_from_slice(&custody.0.to_be_bytes());
    }
    value.extend_from_slice(&envelope);
    value
}

/// The value version of a stored report that carries a relay's custody time.
const REPORT_WITH_CUSTODY: u8 = 2;

fn outcome_tag(kind: OutcomeKind) -> u8 {
    match kind {
        OutcomeKind::Accepted => 1,
        OutcomeKind::Superseded => 2,
        OutcomeKind::Equivocation => 3,
        OutcomeKind::Duplicate => 4,
    }
}

fn decode_report(key: &[u8], value: &[u8]) -> Result<StoredReport, StoreError> {
    let report_id = ReportId(value::fixed::<32>(REPORTS, key, key)?);
    let (with_custody, rest) = match value.split_first() {
        Some((&REPORT_WITH_CUSTODY, body)) => (true, body),
        // Version 1, or the error naming a version this build does not read.
        _ => (false, value::body(REPORTS, key, value)?),
    };
    let mut body = Reader { key, rest };
    let received_at = Timestamp(i64::from_be_bytes(body.fixed::<8>()?));
    let kind = match body.fixed::<1>()? {
        [1] => OutcomeKind::Accepted,
        [2] => OutcomeKind::Superseded,
        [3] => OutcomeKind::Equivocation,
        [4] => OutcomeKind::Duplicate,
        [tag] => {
            return Err(corrupt(
                REPORTS,
                key,
                format_args!("unknown outcome tag {tag}"),
            ));
        }
    };
    let outcome = Outcome {
        kind,
        winning_revision: u64::from_be_bytes(body.fixed::<8>()?),
        winning_report_id: ReportId(body.fixed::<32>()?),
    };
    let custody_at = match with_custody {
        true => Some(Timestamp(i64::from_be_bytes(body.fixed::<8>()?))),
        false => None,
    };
    let envelope = alliance_proto::decode_envelope(body.rest)
        .map_err(|e| corrupt(REPORTS, key, format_args!("envelope: {e}")))?;
    Ok(StoredReport {
        report_id,
        envelope,
        received_at,
        outcome,
        custody_at,
    })
}

/// Reads a stored report's fields in order; running out is corruption.
struct Reader<'a> {
    key: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: u64) -> Result<&'a [u8], StoreError> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.rest.len())
            .ok_or_else(|| corrupt(REPORTS, self.key, "truncated"))?;
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let bytes = self.take(N as u64)?;
        value::fixed::<N>(REPORTS, self.key, bytes)
    }
}

/// A join token as stored (JSON, after the version byte).
#[derive(Serialize, Deserialize)]
struct TokenValue {
    token: String,
    org: String,
    issued_at: i64,
    expires_at: i64,
    code: String,
    reissue: bool,
    replaced: bool,
    used_by: Option<[u8; 32]>,
    used_at: Option<i64>,
}

impl From<&JoinToken> for TokenValue {
    fn from(t: &JoinToken) -> Self {
        TokenValue {
            token: t.token.clone(),
            org: t.org.to_string(),
            issued_at: t.issued_at.0,
            expires_at: t.expires_at.0,
            code: t.code.clone(),
            reissue: t.reissue,
            replaced: t.replaced,
            used_by: t.used_by,
            used_at: t.used_at.map(|t| t.0),
        }
    }
}

fn decode_token(key: &[u8], value: &[u8]) -> Result<JoinToken, StoreError> {
    let t: TokenValue = decode_json(TOKENS, key, value)?;
    if t.token.as_bytes() != key {
        return Err(corrupt(TOKENS, key, "holds another token"));
    }
    Ok(JoinToken {
        org: t
            .org
            .parse()
            .map_err(|e| corrupt(TOKENS, key, format_args!("org: {e}")))?,
        token: t.token,
        issued_at: Timestamp(t.issued_at),
        expires_at: Timestamp(t.expires_at),
        code: t.code,
        reissue: t.reissue,
        replaced: t.replaced,
        used_by: t.used_by,
        used_at: t.used_at.map(Timestamp),
    })
}

/// An audit entry as stored (JSON, after the version byte).
#[derive(Serialize, Deserialize)]
struct AuditValue {
    sequence: u64,
    at: i64,
    kind: AuditKindValue,
    actor: String,
    action: String,
    org: Option<String>,
    reason: Option<String>,
    detail: String,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum AuditKindValue {
    Admin,
    Refusal,
}

impl AuditValue {
    fn new(r: &AuditRecord, sequence: u64) -> Self {
        AuditValue {
            sequence,
            at: r.at.0,
            kind: match r.kind {
                AuditKind::Admin => AuditKindValue::Admin,
                AuditKind::Refusal => AuditKindValue::Refusal,
            },
            actor: r.actor.clone(),
            action: r.action.clone(),
            org: r.org.clone(),
            reason: r.reason.clone(),
            detail: r.detail.clone(),
        }
    }
}

/// The entries of one audit tree, newest first, checked to be of the tree's kind.
fn audit_newest_first(
    tree: &sled::Tree,
    name: &'static str,
    kind: AuditKind,
) -> impl Iterator<Item = Result<AuditRecord, StoreError>> {
    tree.iter().rev().map(move |item| {
        let (key, value) = item.map_err(io)?;
        let a: AuditValue = decode_json(name, &key, &value)?;
        let found = match a.kind {
            AuditKindValue::Admin => AuditKind::Admin,
            AuditKindValue::Refusal => AuditKind::Refusal,
        };
        if found != kind {
            return Err(corrupt(name, &key, format_args!("holds a {found:?} entry")));
        }
        Ok(AuditRecord {
            sequence: a.sequence,
            at: Timestamp(a.at),
            kind,
            actor: a.actor,
            action: a.action,
            org: a.org,
            reason: a.reason,
            detail: a.detail,
        })
    })
}

/// The first `limit` entries of two newest-first lists, newest first. An error is returned as
/// soon as it is met.
fn merge_newest_first(
    a: impl Iterator<Item = Result<AuditRecord, StoreError>>,
    b: impl Iterator<Item = Result<AuditRecord, StoreError>>,
    limit: usize,
) -> Result<Vec<AuditRecord>, StoreError> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    let mut merged = Vec::new();
    while merged.len() < limit {
        let from_a = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) | (Some(Err(_)), _) => true,
            (None, Some(_)) | (_, Some(Err(_))) => false,
            (Some(Ok(x)), Some(Ok(y))) => x.sequence > y.sequence,
        };
        let next = if from_a { a.next() } else { b.next() };
        if let Some(record) = next {
            merged.push(record?);
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::assert_corrupt;

    fn store() -> (tempfile::TempDir, HubStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::create(&dir.path().join("hub"), 1 << 20).unwrap();
        (dir, store)
    }

    #[test]
    fn undecodable_values_are_corrupt_naming_tree_and_key() {
        let (_dir, store) = store();
        let inner = &store.inner;

        inner.orgs.insert("gtuc", b"\x01\xff\xff").unwrap();
        assert_corrupt(store.orgs().unwrap_err(), ORGS, "\"gtuc\"", "Organisation");

        inner.tokens.insert("t", b"\x02{}").unwrap();
        assert_corrupt(
            store.token("t").unwrap_err(),
            TOKENS,
            "\"t\"",
            "format version 2",
        );
        inner.tokens.insert("t", b"\x01{\"token\":1}").unwrap();
        assert_corrupt(store.tokens().unwrap_err(), TOKENS, "\"t\"", "invalid type");

        let id = [0xab; 32];
        let hex_id = "ab".repeat(32);
        inner.reports.insert(id, b"\x01\0\0").unwrap();
        assert_corrupt(
            store.report(&ReportId(id)).unwrap_err(),
            REPORTS,
            &hex_id,
            "truncated",
        );
        let mut bad_tag = vec![VALUE_VERSION_FOR_TESTS];
        bad_tag.extend_from_slice(&[0; 8]);
        bad_tag.push(9);
        inner.reports.insert(id, bad_tag).unwrap();
        assert_corrupt(
            store.reports().next().unwrap().unwrap_err(),
            REPORTS,
            &hex_id,
            "unknown outcome tag 9",
        );
        inner.reports.insert([1; 5], b"\x01").unwrap();
        assert!(store.reports().any(|r| r.is_err()));

        inner
            .deadlines
            .insert("2009-X", versioned(&[0; 8]))
            .unwrap();
        assert_corrupt(
            store.deadlines().unwrap_err(),
            DEADLINES,
            "\"2009-X\"",
            "not a period",
        );

        inner
            .audit_admin
            .insert(1u64.to_be_bytes(), b"\x01\"text\"")
            .unwrap();
        assert_corrupt(
            store.audit(0, None).unwrap_err(),
            AUDIT_ADMIN,
            "0000000000000001",
            "invalid type",
        );
    }

    #[test]
    fn a_corrupt_counter_refuses_the_write_without_failing_the_store() {
        let (_dir, store) = store();
        store
            .inner
            .db
            .meta()
            .insert(AUDIT_SEQUENCE, b"\x01abc")
            .unwrap();
        let record = AuditRecord {
            sequence: 0,
            at: Timestamp(1),
            kind: AuditKind::Admin,
            actor: "uid 0".into(),
            action: "org add".into(),
            org: None,
            reason: None,
            detail: String::new(),
        };
        assert_corrupt(
            store.append_audit(&record).unwrap_err(),
            META,
            "\"audit_sequence\"",
            "3 bytes where 8",
        );
        store.set_registry_serial(1).unwrap();
        store.flush().unwrap();
    }

    #[test]
    fn a_stored_report_has_the_documented_layout() {
        let report = StoredReport {
            report_id: ReportId([3; 32]),
            envelope: Envelope::unsigned("p", vec![4]),
            received_at: Timestamp(-2),
            outcome: Outcome {
                kind: OutcomeKind::Superseded,
                winning_revision: 7,
                winning_report_id: ReportId([9; 32]),
            },
            custody_at: None,
        };
        let value = encode_report(&report);
        assert_eq!(value[0], VALUE_VERSION_FOR_TESTS);
        assert_eq!(value[1..9], (-2i64).to_be_bytes());
        assert_eq!(value[9], 2, "superseded, as on the wire");
        assert_eq!(value[10..18], 7u64.to_be_bytes());
        assert_eq!(value[18..50], [9; 32]);
        assert_eq!(
            value[50..],
            alliance_proto::encode_envelope(&report.envelope)[..]
        );
        assert_eq!(decode_report(&[3; 32], &value).unwrap(), report);

        // With a custody time: value version 2, the time after the outcome.
        let relayed = StoredReport {
            custody_at: Some(Timestamp(-5)),
            ..report.clone()
        };
        let value = encode_report(&relayed);
        assert_eq!(value[0], REPORT_WITH_CUSTODY);
        assert_eq!(value[1..50], encode_report(&report)[1..50]);
        assert_eq!(value[50..58], (-5i64).to_be_bytes());
        assert_eq!(
            value[58..],
            alliance_proto::encode_envelope(&report.envelope)[..]
        );
        assert_eq!(decode_report(&[3; 32], &value).unwrap(), relayed);
        assert_eq!(relayed.first_received_at(), Timestamp(-5));
        assert_eq!(report.first_received_at(), Timestamp(-2));
    }

    #[test]
    fn a_report_value_written_before_custody_times_were_kept_still_reads() {
        // The layout of earlier builds, byte by byte: version 1, received at, outcome,
        // envelope to the end.
        let envelope = Envelope::unsigned("p", vec![4, 5]);
        let mut old = vec![1u8];
        old.extend_from_slice(&1_300_000_000i64.to_be_bytes());
        old.push(1);
        old.extend_from_slice(&3u64.to_be_bytes());
        old.extend_from_slice(&[7; 32]);
        old.extend_from_slice(&alliance_proto::encode_envelope(&envelope));
        let (_dir, store) = store();
        store.inner.reports.insert([7; 32], old.clone()).unwrap();
        let read = store.report(&ReportId([7; 32])).unwrap().unwrap();
        assert_eq!(
            read,
            StoredReport {
                report_id: ReportId([7; 32]),
                envelope,
                received_at: Timestamp(1_300_000_000),
                outcome: Outcome {
                    kind: OutcomeKind::Accepted,
                    winning_revision: 3,
                    winning_report_id: ReportId([7; 32]),
                },
                custody_at: None,
            }
        );
        // And written back without a custody time, it is the very same bytes.
        assert_eq!(encode_report(&read), old);

        // A version this build does not read is corruption, named as such.
        let mut future = old;
        future[0] = 3;
        store.inner.reports.insert([7; 32], future).unwrap();
        assert_corrupt(
            store.report(&ReportId([7; 32])).unwrap_err(),
            REPORTS,
            &"07".repeat(32),
            "format version 3",
        );
    }

    const VALUE_VERSION_FOR_TESTS: u8 = value::VALUE_VERSION;
}
