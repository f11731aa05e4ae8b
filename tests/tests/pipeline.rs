//! The foundation's pieces composed the way the node and the hub will compose them: true values
//! → disclosure control → protobuf → signed envelope → (carried as JSON) → verified bytes →
//! decoded → validated → merged → the view. Each piece has its own tests; this one shows that
//! they fit, and that what the hub ends up showing is exactly what the node let out.

use std::collections::BTreeMap;

use alliance_core::framework::Framework;
use alliance_core::merge::{Entry, GroupBy, GroupKey, Ledger, Query};
use alliance_core::org::{KeyState, OrgKey, OrgKind, Organisation, Region, Registry};
use alliance_core::report::DEFAULT_DISCLOSURE_THRESHOLD;
use alliance_core::validate::Frameworks;
use alliance_core::{
    Cell, CountValue, OutcomeKind, Report, ReportId, Timestamp, Value, disclosure,
};
use alliance_envelope::{Envelope, EnvelopeError, SigningKey, payload_type, sign, verify_signed};

const NOW: Timestamp = Timestamp(1_270_000_000); // 2010-03-31, before the 2009 deadline

/// What the hub does with envelope bytes, in the order the design requires: verify the bytes,
/// then check the key belongs to the organisation the payload names, then decode, then validate,
/// then merge.
fn ingest(
    ledger: &mut Ledger,
    registry: &Registry,
    envelope: &Envelope,
) -> Result<(ReportId, OutcomeKind), String> {
    let lookup = |key_id: &str| {
        registry
            .orgs
            .values()
            .flat_map(|o| &o.keys)
            .find(|k| k.key_id == key_id)
            .map(|k| k.public_key)
    };
    let verified =
        verify_signed(envelope, payload_type::REPORT, lookup).map_err(|e| e.to_string())?;
    let (owner, _) = registry
        .key_owner(&verified.public_key(), NOW)
        .ok_or("the key is not active")?;
    let report = alliance_proto::decode_report(verified.payload()).map_err(|e| e.to_string())?;
    if owner.id != report.org {
        return Err(format!(
            "signed by a key of {}, not of {}",
            owner.id, report.org
        ));
    }
    Frameworks::builtin()
        .check_report(&report)
        .map_err(|e| e.to_string())?;
    let report_id = ReportId(verified.report_id());
    let outcome = ledger
        .insert(Entry {
            report_id,
            report,
            received_at: NOW,
        })
        .map_err(|e| e.to_string())?;
    Ok((report_id, outcome.kind))
}

#[test]
fn what_the_node_lets_out_is_what_the_hub_shows() {
    let framework = Framework::v1();
    let cut = SigningKey::generate();
    let other = SigningKey::generate();
    let registry = registry(&[("cut-brazil", &cut), ("cgt-argentina", &other)]);
    let mut ledger = Ledger::new(&registry);

    // The node's true values: six documented cases, five of women and one of a man.
    let truth = report_of_true_values();
    let published = disclosure::protect(&truth, &framework, DEFAULT_DISCLOSURE_THRESHOLD, &[])
        .expect("disclosure control runs");
    let cases = count(&published, "exposure.cases_documented");
    assert_eq!(cases.total, Cell::Published(6));
    assert!(
        cases.breakdowns["sex"].values().all(|c| c.is_suppressed()),
        "{cases:?}"
    );

    // Signed, carried by hand as JSON, verified and merged at the hub.
    let envelope = sign(
        &cut,
        payload_type::REPORT,
        alliance_proto::encode_report(&published),
    );
    let carried = Envelope::from_json(&envelope.to_json()).expect("the JSON form reads back");
    let (report_id, outcome) = ingest(&mut ledger, &registry, &carried).expect("accepted");
    assert_eq!(outcome, OutcomeKind::Accepted);

    let view = ledger.view(
        &Query::new("2009".parse().expect("period"), GroupBy::Alliance),
        &framework,
    );
    let group = &view.groups[&GroupKey::Alliance];
    let shown = &group.counts[&"exposure.cases_documented".parse().expect("id")];
    assert_eq!((shown.total.lo, shown.total.hi), (6, 6));
    assert!(shown.total.is_exact());
    let women = shown.breakdowns["sex"].cells["female"];
    assert_eq!(
        (women.lo, women.hi, women.suppressed),
        (0, 6, 1),
        "a withheld cell is a range"
    );
    let activities = &group.counts[&"awareness.activities".parse().expect("id")];
    assert_eq!((activities.total.lo, activities.total.hi), (12, 12));

    // Re-signing with a new key keeps the report id: the hub sees a duplicate.
    let mut resigned = envelope.clone();
    let rotated = SigningKey::generate();
    resigned.resign(&rotated);
    let registry = registry_with_extra_key(&registry, "cut-brazil", &rotated);
    ledger.set_registry(&registry);
    assert_eq!(
        ingest(&mut ledger, &registry, &resigned),
        Ok((report_id, OutcomeKind::Duplicate))
    );
}

#[test]
fn the_hub_refuses_what_is_not_authentic() {
    let cut = SigningKey::generate();
    let other = SigningKey::generate();
    let registry = registry(&[("cut-brazil", &cut), ("cgt-argentina", &other)]);
    let mut ledger = Ledger::new(&registry);
    let payload = alliance_proto::encode_report(&report_of_true_values());

    // A bit flipped in the payload after signing (BAD_INPUTS.md 4).
    let mut flipped = sign(&cut, payload_type::REPORT, payload.clone());
    flipped.payload[3] ^= 0x01;
    let err = ingest(&mut ledger, &registry, &flipped).unwrap_err();
    assert!(err.contains("does not verify"), "{err}");

    // Signed by a registered key of another organisation (BAD_INPUTS.md 6).
    let foreign = sign(&other, payload_type::REPORT, payload.clone());
    let err = ingest(&mut ledger, &registry, &foreign).unwrap_err();
    assert!(err.contains("not of cut-brazil"), "{err}");

    // The payload type changed after signing (BAD_INPUTS.md 1).
    let mut retyped = sign(&cut, payload_type::REPORT, payload);
    retyped.payload_type = payload_type::RECEIPT.to_owned();
    let err = ingest(&mut ledger, &registry, &retyped).unwrap_err();
    assert!(err.contains("payload type"), "{err}");

    // An unknown framework version (BAD_INPUTS.md 13), authentic but not valid.
    let mut future = report_of_true_values();
    future.framework_version = 9;
    let signed = sign(
        &cut,
        payload_type::REPORT,
        alliance_proto::encode_report(&future),
    );
    let err = ingest(&mut ledger, &registry, &signed).unwrap_err();
    assert!(err.contains("framework version 9 is not known"), "{err}");

    // Nothing of it was stored.
    assert!(ledger.is_empty());
    let stripped = Envelope {
        signatures: vec![],
        ..sign(&cut, payload_type::REPORT, vec![1])
    };
    assert_eq!(
        verify_signed(&stripped, payload_type::REPORT, |_| None).map(|_| ()),
        Err(EnvelopeError::NoSignatures)
    );
}

#[test]
fn revoked_and_expired_keys_sign_nothing_new() {
    let old = SigningKey::generate();
    let new = SigningKey::generate();
    let registry = registry(&[("cut-brazil", &old)]);
    let mut ledger = Ledger::new(&registry);
    let mut report = report_of_true_values();
    let mut signed_by = |key: &SigningKey, revision| {
        report.revision = revision;
        sign(
            key,
            payload_type::REPORT,
            alliance_proto::encode_report(&report),
        )
    };

    // Rotated: the old key stays valid within its grace period (BAD_INPUTS.md 7)...
    let rotated = registry_with_extra_key(&registry, "cut-brazil", &new);
    ledger.set_registry(&rotated);
    let (_, outcome) = ingest(&mut ledger, &rotated, &signed_by(&old, 1)).expect("within grace");
    assert_eq!(outcome, OutcomeKind::Accepted);

    // ...but not after it, nor once revoked; the report accepted before stays.
    let mut expired = rotated.clone();
    for key in &mut expired.orgs.values_mut().flat_map(|o| &mut o.keys) {
        if key.public_key == old.public_key() {
            key.state = KeyState::Rotated { grace_until: NOW };
        }
    }
    assert_eq!(
        ingest(&mut ledger, &expired, &signed_by(&old, 2)),
        Err("the key is not active".into())
    );
    let mut revoked = rotated.clone();
    for key in &mut revoked.orgs.values_mut().flat_map(|o| &mut o.keys) {
        if key.public_key == old.public_key() {
            key.state = KeyState::Revoked {
                at: Timestamp(NOW.0 - 1),
            };
        }
    }
    assert_eq!(
        ingest(&mut ledger, &revoked, &signed_by(&old, 2)),
        Err("the key is not active".into())
    );
    assert_eq!(ledger.len(), 1);
    let (_, outcome) =
        ingest(&mut ledger, &revoked, &signed_by(&new, 2)).expect("the new key signs");
    assert_eq!(outcome, OutcomeKind::Accepted);
}

fn report_of_true_values() -> Report {
    let mut values = BTreeMap::new();
    values.insert(
        "awareness.activities".parse().expect("id"),
        Value::Count(CountValue::total(12)),
    );
    let sex = [
        ("female".to_owned(), Cell::Published(5)),
        ("male".to_owned(), Cell::Published(1)),
    ];
    values.insert(
        "exposure.cases_documented".parse().expect("id"),
        Value::Count(CountValue {
            total: Cell::Published(6),
            breakdowns: [("sex".to_owned(), sex.into_iter().collect())].into(),
        }),
    );
    Report {
        org: "cut-brazil".parse().expect("org id"),
        period: "2009".parse().expect("period"),
        framework_version: 1,
        revision: 1,
        prepared_at: Timestamp(1_265_000_000),
        prepared_by: "cut-brazil".parse().expect("org id"),
        disclosure_threshold: DEFAULT_DISCLOSURE_THRESHOLD,
        withdrawn: false,
        narratives: [("exposure".to_owned(), "Cases in charcoal camps.".to_owned())].into(),
        values,
    }
}

fn count<'a>(report: &'a Report, indicator: &str) -> &'a CountValue {
    match report.values.get(&indicator.parse().expect("id")) {
        Some(Value::Count(c)) => c,
        other => panic!("{indicator} is not a count: {other:?}"),
    }
}

fn registry(orgs: &[(&str, &SigningKey)]) -> Registry {
    let mut registry = Registry::default();
    for (i, (id, key)) in orgs.iter().enumerate() {
        registry.insert(Organisation {
            id: id.parse().expect("org id"),
            name: id.to_uppercase(),
            kind: OrgKind::NationalCentre,
            country: Some(["BR", "AR"][i % 2].parse().expect("country")),
            region: Region::Americas,
            sectors: vec![],
            via: None,
            hosted: false,
            registered_at: Timestamp(0),
            enrolled_at: Some(Timestamp(0)),
            deactivated_at: None,
            keys: vec![org_key(key)],
        });
    }
    registry
}

fn registry_with_extra_key(registry: &Registry, org: &str, key: &SigningKey) -> Registry {
    let mut registry = registry.clone();
    let org = registry
        .orgs
        .get_mut(&org.parse().expect("org id"))
        .expect("registered");
    for old in &mut org.keys {
        old.state = KeyState::Rotated {
            grace_until: Timestamp(NOW.0 + 30 * 86_400),
        };
    }
    org.keys.push(org_key(key));
    registry
}

fn org_key(key: &SigningKey) -> OrgKey {
    OrgKey {
        key_id: key.key_id().to_string(),
        public_key: key.public_key(),
        added_at: Timestamp(0),
        state: KeyState::Active,
    }
}
