//! What a relay checks before it takes an envelope, and what an affiliate checks of a relay's
//! custody receipt: pure functions of the envelope, the hub's signed registry and the time.
//!
//! The relay refuses junk early, so that it stores nothing that the hub would refuse for want
//! of authenticity; the hub checks everything again (the relay is not trusted with reports it
//! only relays), and validates the report against its framework.

use alliance_core::org::{KeyState, OrgId, Registry};
use alliance_core::receipt::{CustodyReceipt, ReportId};
use alliance_core::report::Report;
use alliance_core::timestamp::Timestamp;
use alliance_envelope::{Envelope, EnvelopeError, payload_type, verify_signed};
use alliance_proto::WireError;
use alliance_proto::pb::{self, RefusalReason};

/// Why an envelope was not taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// A signature's key id names no key of the registry: a newer registry may know it.
    UnknownKey(pb::Refusal),
    /// Refused for good.
    Refused(pb::Refusal),
}

impl Rejection {
    /// The refusal, whichever it is.
    pub fn into_refusal(self) -> pb::Refusal {
        match self {
            Rejection::UnknownKey(refusal) | Rejection::Refused(refusal) => refusal,
        }
    }
}

/// A refusal with `reason` and `message`, made at `now`.
pub fn refusal(reason: RefusalReason, message: impl Into<String>, now: Timestamp) -> pb::Refusal {
    pb::Refusal {
        reason: reason as i32,
        message: message.into(),
        refused_at_unix_seconds: now.0,
    }
}

/// Checks an affiliate's envelope at the relay `relay`: the exact bytes verify under the key its
/// key id names in the hub's registry, the payload is a report, the key belongs to the report's
/// organisation and is accepted at `now` (active, or rotated and within its grace), the
/// organisation is active and reports through this relay.
pub fn check_report(
    envelope: &Envelope,
    registry: &Registry,
    relay: &OrgId,
    now: Timestamp,
) -> Result<(Report, ReportId), Rejection> {
    let refused = |reason, message: String| Rejection::Refused(refusal(reason, message, now));
    let verified = verify_signed(envelope, payload_type::REPORT, |key_id| {
        registry
            .orgs
            .values()
            .flat_map(|org| org.keys.iter())
            .find(|key| key.key_id == key_id)
            .map(|key| key.public_key)
    })
    .map_err(|error| {
        let reason = match &error {
            EnvelopeError::EmptyPayloadType
            | EnvelopeError::UnsupportedPayloadType(_)
            | EnvelopeError::UnexpectedPayloadType { .. } => RefusalReason::PayloadType,
            EnvelopeError::EmptyPayload => RefusalReason::Malformed,
            EnvelopeError::UnknownKey { .. } => {
                return Rejection::UnknownKey(refusal(
                    RefusalReason::UnknownKey,
                    format!("{error} (not in the hub's registry)"),
                    now,
                ));
            }
            _ => RefusalReason::Signature,
        };
        refused(reason, error.to_string())
    })?;
    let report = alliance_proto::decode_report(verified.payload()).map_err(|error| {
        let reason = match error {
            WireError::Decode { .. } => RefusalReason::Malformed,
            WireError::Field { .. } => RefusalReason::InvalidReport,
        };
        refused(reason, format!("the report is invalid: {error}"))
    })?;

    let signer = &verified.signers()[0];
    let owner = registry
        .orgs
        .values()
        .find(|org| org.keys.iter().any(|k| k.public_key == signer.public_key))
        .map(|org| org.id.to_string())
        .unwrap_or_default();
    let Some(org) = registry.get(&report.org) else {
        return Err(refused(
            RefusalReason::WrongOrganisation,
            format!(
                "the report names organisation {}, which the hub's registry does not hold, and is signed by key {} of organisation {owner}",
                report.org, signer.key_id
            ),
        ));
    };
    let own_keys: Vec<_> = org
        .keys
        .iter()
        .filter(|k| verified.is_signed_by(&k.public_key))
        .collect();
    if own_keys.is_empty() {
        return Err(refused(
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
            KeyState::Revoked { at } => format!("was revoked at {at}"),
            KeyState::Rotated { grace_until } => {
                format!("was rotated and its grace period ended at {grace_until}")
            }
            KeyState::Active => "is not accepted".to_owned(),
        };
        return Err(refused(
            RefusalReason::KeyNotAccepted,
            format!("key {} of organisation {} {why}", key.key_id, report.org),
        ));
    }
    if let Some(at) = org.deactivated_at {
        return Err(refused(
            RefusalReason::OrganisationDeactivated,
            format!("organisation {} was deactivated at {at}", report.org),
        ));
    }
    if org.via.as_ref() != Some(relay) {
        let through = match &org.via {
            Some(other) => format!("through relay {other}"),
            None => "to the hub directly".to_owned(),
        };
        return Err(refused(
            RefusalReason::NotRelayed,
            format!(
                "organisation {} does not report through relay {relay}: it reports {through}",
                report.org
            ),
        ));
    }
    Ok((report, ReportId(verified.report_id())))
}

/// Why an affiliate does not trust a custody receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustodyProblem {
    /// Its key id names no key in the registry: a newer registry may know it.
    UnknownKey(String),
    /// It does not verify, or says something else than it should.
    Untrusted(String),
}

/// Checks a relay's custody receipt for report `id`: signed by an accepted key of the relay it
/// names, that relay being the one `org` reports through in the hub's registry.
pub fn check_custody(
    custody: &Envelope,
    registry: &Registry,
    org: &OrgId,
    id: ReportId,
    now: Timestamp,
) -> Result<CustodyReceipt, CustodyProblem> {
    let untrusted = |message: String| CustodyProblem::Untrusted(message);
    let verified = verify_signed(custody, payload_type::CUSTODY_RECEIPT, |key_id| {
        registry
            .orgs
            .values()
            .flat_map(|org| org.keys.iter())
            .find(|key| key.key_id == key_id)
            .map(|key| key.public_key)
    })
    .map_err(|error| match error {
        EnvelopeError::UnknownKey { .. } => CustodyProblem::UnknownKey(format!(
            "the custody receipt is signed by a key the hub's registry does not hold: {error}"
        )),
        error => untrusted(format!("the custody receipt does not verify: {error}")),
    })?;
    let receipt = alliance_proto::decode_custody_receipt(verified.payload())
        .map_err(|e| untrusted(format!("the custody receipt does not decode: {e}")))?;
    if receipt.report_id != id {
        return Err(untrusted(format!(
            "the custody receipt is for report {}, not {id}",
            receipt.report_id
        )));
    }
    if receipt.org != *org {
        return Err(untrusted(format!(
            "the custody receipt is for organisation {}, not {org}",
            receipt.org
        )));
    }
    let relay = registry.get(&receipt.relay).ok_or_else(|| {
        untrusted(format!(
            "the custody receipt names relay {}, which the hub's registry does not hold",
            receipt.relay
        ))
    })?;
    if !relay
        .keys
        .iter()
        .any(|k| verified.is_signed_by(&k.public_key) && k.accepts_at(now))
    {
        return Err(untrusted(format!(
            "the custody receipt is not signed by an accepted key of relay {}",
            receipt.relay
        )));
    }
    let via = registry.get(org).and_then(|o| o.via.as_ref());
    if via != Some(&receipt.relay) {
        return Err(untrusted(format!(
            "the custody receipt comes from relay {}, which {org} does not report through",
            receipt.relay
        )));
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    use alliance_core::org::{OrgKey, OrgKind, Organisation, Region};
    use alliance_envelope::{SigningKey, sign};

    const NOW: Timestamp = Timestamp(1_300_000_000);

    fn id(s: &str) -> OrgId {
        s.parse().unwrap()
    }

    fn org(name: &str, via: Option<&str>, key: &SigningKey, state: KeyState) -> Organisation {
        Organisation {
            id: id(name),
            name: name.to_owned(),
            kind: OrgKind::NationalCentre,
            country: Some("KE".parse().unwrap()),
            region: Region::Africa,
            sectors: vec![],
            via: via.map(id),
            hosted: false,
            registered_at: Timestamp(0),
            enrolled_at: Some(Timestamp(0)),
            deactivated_at: None,
            keys: vec![OrgKey {
                key_id: key.key_id().as_str().to_owned(),
                public_key: key.public_key(),
                added_at: Timestamp(0),
                state,
            }],
        }
    }

    fn report(org: &str) -> Vec<u8> {
        alliance_proto::encode_report(&Report {
            org: id(org),
            period: "2009".parse().unwrap(),
            framework_version: 1,
            revision: 1,
            prepared_at: Timestamp(0),
            prepared_by: id(org),
            disclosure_threshold: 5,
            withdrawn: false,
            narratives: Default::default(),
            values: Default::default(),
        })
    }

    struct World {
        registry: Registry,
        affiliate: SigningKey,
        direct: SigningKey,
        revoked: SigningKey,
        relay: SigningKey,
    }

    fn world() -> World {
        let affiliate = SigningKey::generate();
        let direct = SigningKey::generate();
        let revoked = SigningKey::generate();
        let relay = SigningKey::generate();
        let mut registry = Registry::default();
        registry.insert(org("relay", None, &relay, KeyState::Active));
        registry.insert(org("ke-cotu", Some("relay"), &affiliate, KeyState::Active));
        registry.insert(org("ug-nou", None, &direct, KeyState::Active));
        registry.insert(org(
            "tz-tucta",
            Some("relay"),
            &revoked,
            KeyState::Revoked { at: Timestamp(5) },
        ));
        World {
            registry,
            affiliate,
            direct,
            revoked,
            relay,
        }
    }

    fn reason(result: Result<(Report, ReportId), Rejection>) -> RefusalReason {
        match result {
            Err(Rejection::Refused(r)) | Err(Rejection::UnknownKey(r)) => r.reason(),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn an_affiliate_of_this_relay_signed_by_its_registered_key_is_taken() {
        let w = world();
        let envelope = sign(&w.affiliate, payload_type::REPORT, report("ke-cotu"));
        let (report, report_id) = check_report(&envelope, &w.registry, &id("relay"), NOW).unwrap();
        assert_eq!(report.org, id("ke-cotu"));
        assert_eq!(report_id.0, alliance_envelope::report_id(&envelope));
    }

    #[test]
    fn a_key_the_registry_does_not_hold_asks_for_a_newer_registry() {
        let w = world();
        let stranger = SigningKey::generate();
        let envelope = sign(&stranger, payload_type::REPORT, report("ke-cotu"));
        let result = check_report(&envelope, &w.registry, &id("relay"), NOW);
        assert!(
            matches!(result, Err(Rejection::UnknownKey(_))),
            "{result:?}"
        );
        assert_eq!(reason(result), RefusalReason::UnknownKey);
    }

    #[test]
    fn an_organisation_that_does_not_report_through_this_relay_is_not_relayed() {
        let w = world();
        let envelope = sign(&w.direct, payload_type::REPORT, report("ug-nou"));
        let result = check_report(&envelope, &w.registry, &id("relay"), NOW);
        assert_eq!(reason(result), RefusalReason::NotRelayed);
        // Through another relay, the same.
        let envelope = sign(&w.affiliate, payload_type::REPORT, report("ke-cotu"));
        let result = check_report(&envelope, &w.registry, &id("other-relay"), NOW);
        assert_eq!(reason(result), RefusalReason::NotRelayed);
    }

    #[test]
    fn a_revoked_key_is_not_accepted() {
        let w = world();
        let envelope = sign(&w.revoked, payload_type::REPORT, report("tz-tucta"));
        let result = check_report(&envelope, &w.registry, &id("relay"), NOW);
        assert_eq!(reason(result), RefusalReason::KeyNotAccepted);
    }

    #[test]
    fn a_rotated_key_is_accepted_within_its_grace_only() {
        let mut w = world();
        let org = w.registry.orgs.get_mut(&id("ke-cotu")).unwrap();
        org.keys[0].state = KeyState::Rotated {
            grace_until: Timestamp(NOW.0 + 10),
        };
        let envelope = sign(&w.affiliate, payload_type::REPORT, report("ke-cotu"));
        assert!(check_report(&envelope, &w.registry, &id("relay"), NOW).is_ok());
        let later = Timestamp(NOW.0 + 11);
        let result = check_report(&envelope, &w.registry, &id("relay"), later);
        assert_eq!(reason(result), RefusalReason::KeyNotAccepted);
    }

    #[test]
    fn a_report_signed_by_another_organisations_key_is_refused() {
        let w = world();
        let envelope = sign(&w.affiliate, payload_type::REPORT, report("tz-tucta"));
        let result = check_report(&envelope, &w.registry, &id("relay"), NOW);
        assert_eq!(reason(result), RefusalReason::WrongOrganisation);
    }

    #[test]
    fn altered_bytes_junk_and_other_types_are_refused() {
        let w = world();
        let mut envelope = sign(&w.affiliate, payload_type::REPORT, report("ke-cotu"));
        envelope.payload.push(0);
        let result = check_report(&envelope, &w.registry, &id("relay"), NOW);
        assert_eq!(reason(result), RefusalReason::Signature);

        let envelope = sign(&w.affiliate, payload_type::REPORT, vec![0xff, 0xff, 0xff]);
        let result = check_report(&envelope, &w.registry, &id("relay"), NOW);
        assert_eq!(reason(result), RefusalReason::Malformed);

        let envelope = sign(&w.affiliate, payload_type::RECEIPT, report("ke-cotu"));
        let result = check_report(&envelope, &w.registry, &id("relay"), NOW);
        assert_eq!(reason(result), RefusalReason::PayloadType);
    }

    fn custody(key: &SigningKey, relay: &str, report_id: ReportId) -> Envelope {
        let receipt = CustodyReceipt {
            report_id,
            relay: id(relay),
            org: id("ke-cotu"),
            period: "2009".parse().unwrap(),
            revision: 1,
            received_at: NOW,
        };
        sign(
            key,
            payload_type::CUSTODY_RECEIPT,
            alliance_proto::encode_custody_receipt(&receipt),
        )
    }

    #[test]
    fn a_custody_receipt_must_come_from_the_relay_the_affiliate_reports_through() {
        let w = world();
        let report_id = ReportId([7; 32]);
        let good = custody(&w.relay, "relay", report_id);
        let org = id("ke-cotu");
        assert!(check_custody(&good, &w.registry, &org, report_id, NOW).is_ok());
        // For another report.
        let other = ReportId([8; 32]);
        assert!(matches!(
            check_custody(&good, &w.registry, &org, other, NOW),
            Err(CustodyProblem::Untrusted(_))
        ));
        // Signed by a key that is not the relay's, naming the relay.
        let forged = custody(&w.direct, "relay", report_id);
        assert!(matches!(
            check_custody(&forged, &w.registry, &org, report_id, NOW),
            Err(CustodyProblem::Untrusted(_))
        ));
        // By a key nobody registered.
        let stranger = custody(&SigningKey::generate(), "relay", report_id);
        assert!(matches!(
            check_custody(&stranger, &w.registry, &org, report_id, NOW),
            Err(CustodyProblem::UnknownKey(_))
        ));
    }
}
