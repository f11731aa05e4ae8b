//! Records to store, shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

use alliance_core::org::{OrgKind, Organisation, Region};
use alliance_core::receipt::{Outcome, OutcomeKind, ReportId};
use alliance_core::timestamp::Timestamp;
use alliance_envelope::{Envelope, Signature};
use alliance_store::{AuditKind, AuditRecord, HubStore, JoinToken, StoredReport};

/// A small cache: the tests store little.
pub const CACHE: u64 = 4 << 20;

/// A new hub store in a temporary directory (kept alive by the returned guard).
pub fn new_store() -> (tempfile::TempDir, PathBuf, HubStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("hub");
    let store = HubStore::create(&path, CACHE).expect("a new hub store");
    (dir, path, store)
}

/// A valid organisation: national centres and regional organisations need a country and a
/// region other than global; GUFs neither.
pub fn org(id: &str, kind: OrgKind, country: Option<&str>) -> Organisation {
    Organisation {
        id: id.parse().expect("a valid organisation id"),
        name: id.to_uppercase(),
        kind,
        country: country.map(|c| c.parse().expect("a country code")),
        region: if country.is_some() {
            Region::Africa
        } else {
            Region::Global
        },
        sectors: vec![],
        via: None,
        hosted: false,
        registered_at: Timestamp(500),
        enrolled_at: None,
        deactivated_at: None,
        keys: vec![],
    }
}

pub fn token(token: &str, org: &str) -> JoinToken {
    JoinToken {
        token: token.into(),
        org: org.parse().expect("a valid organisation id"),
        issued_at: Timestamp(1_000),
        expires_at: Timestamp(2_000),
        code: format!("alliance-join:{token}"),
        reissue: false,
        replaced: false,
        used_by: None,
        used_at: None,
    }
}

/// An envelope with a recognisable payload and one signature (its bytes are not checked here).
pub fn envelope(what: &str, n: u8) -> Envelope {
    Envelope {
        payload_type: format!("application/vnd.test.{what}"),
        payload: vec![n; 40],
        signatures: vec![Signature {
            keyid: format!("key-{n}"),
            sig: vec![n; 64],
        }],
    }
}

pub fn report(n: u8, kind: OutcomeKind) -> StoredReport {
    StoredReport {
        report_id: ReportId([n; 32]),
        envelope: envelope("report", n),
        received_at: Timestamp(10_000 + i64::from(n)),
        outcome: Outcome {
            kind,
            winning_revision: u64::from(n),
            winning_report_id: ReportId([n; 32]),
        },
        custody_at: None,
    }
}

pub fn audit(kind: AuditKind, at: i64) -> AuditRecord {
    AuditRecord {
        sequence: 0,
        at: Timestamp(at),
        kind,
        actor: "operator".into(),
        action: match kind {
            AuditKind::Admin => "org add".into(),
            AuditKind::Refusal => "submit".into(),
        },
        org: Some("gtuc".into()),
        reason: (kind == AuditKind::Refusal).then(|| "UNKNOWN_KEY".into()),
        detail: format!("entry at {at}"),
    }
}
