//! BAD_INPUTS 22: a relay cannot forge or alter a report of an affiliate it only relays
//! (DESIGN.md §6). Played here by a test that holds what a dishonest relay holds: the envelopes
//! its affiliates gave it (made with `report export`) and the relay's own key (read from its
//! `DIR/keys/`), submitting straight to the hub's ingest port. Each attempt is refused with a
//! status that names the cause, stores nothing, leaves the view as it was, and the hub keeps
//! serving; the genuine envelopes are accepted afterwards.

use alliance_envelope::{Envelope, payload_type, sign};
use alliance_proto::pb::RefusalReason;
use alliance_tests::relay::{affiliate_via, export_envelope, only_key, start_relay};
use alliance_tests::{HubProcess, ReportBuilder};
use tonic::Code;

#[tokio::test]
async fn a_relay_that_alters_swaps_or_forges_reports_is_refused_by_the_hub() {
    let mut hub = HubProcess::start().await;
    let (mut relay, address) = start_relay(&hub).await;
    let cotu = affiliate_via(&hub, "ke-cotu", "KE", &address);
    let nou = affiliate_via(&hub, "ug-nou", "UG", &address);
    cotu.add_activities("2009-03-01", 12);
    nou.add_activities("2009-03-01", 20);
    // Queued at the affiliates (not serving), so nothing reaches the hub but what the test sends.
    cotu.submit("2009");
    nou.submit("2009");
    let (cotu_envelope, _) = export_envelope(&cotu, None, "2009");
    let (nou_envelope, _) = export_envelope(&nou, None, "2009");
    let relay_key = only_key(&relay);
    let view = hub.view_json("2009", "org");

    // One byte of the payload flipped: the affiliate's signature no longer covers it.
    let mut flipped = cotu_envelope.clone();
    let middle = flipped.payload.len() / 2;
    flipped.payload[middle] ^= 0x01;
    hub.assert_refused(
        &flipped,
        Code::Unauthenticated,
        RefusalReason::Signature,
        "signature",
    )
    .await;

    // Payloads swapped between the two affiliates: each signature is over the other payload.
    let swapped = Envelope {
        payload: nou_envelope.payload.clone(),
        ..cotu_envelope.clone()
    };
    hub.assert_refused(
        &swapped,
        Code::Unauthenticated,
        RefusalReason::Signature,
        "signature",
    )
    .await;
    let swapped_back = Envelope {
        payload: cotu_envelope.payload.clone(),
        ..nou_envelope.clone()
    };
    hub.assert_refused(
        &swapped_back,
        Code::Unauthenticated,
        RefusalReason::Signature,
        "signature",
    )
    .await;

    // The affiliate's exact payload re-signed by the relay's own key: not the affiliate's key.
    let resigned = sign(
        &relay_key,
        payload_type::REPORT,
        cotu_envelope.payload.clone(),
    );
    let status = hub
        .assert_refused(
            &resigned,
            Code::PermissionDenied,
            RefusalReason::WrongOrganisation,
            "ke-cotu",
        )
        .await;
    assert!(
        status.message().contains("ituc-africa"),
        "the message does not name whose key signed: {status:?}"
    );

    // A report in an affiliate's name the relay made up and signed with its own key.
    let forged = ReportBuilder::new("ke-cotu")
        .count("awareness.activities", 999)
        .sign(&relay_key);
    hub.assert_refused(
        &forged,
        Code::PermissionDenied,
        RefusalReason::WrongOrganisation,
        "ituc-africa",
    )
    .await;

    // The relay's signature added beside the affiliate's, on the other affiliate's payload: the
    // affiliate's signature does not verify, and the relay's key is not ug-nou's.
    let mut doubly = sign(
        &relay_key,
        payload_type::REPORT,
        nou_envelope.payload.clone(),
    );
    doubly.signatures.extend(cotu_envelope.signatures.clone());
    let status = match hub.submit(&doubly).await {
        Ok(receipt) => panic!("the hub accepted a report signed by the relay: {receipt:?}"),
        Err(status) => status,
    };
    assert!(
        matches!(
            status.code(),
            Code::Unauthenticated | Code::PermissionDenied
        ),
        "{status:?}"
    );
    assert_eq!(hub.view_json("2009", "org"), view, "the view changed");
    hub.assert_healthy().await;

    // The genuine envelopes still go through, each counted for its own organisation.
    hub.submit_ok(&cotu_envelope).await;
    hub.submit_ok(&nou_envelope).await;
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));
    assert_eq!(hub.activities_total("2009", "org", "ug-nou"), (20, 20));
    let audit = hub.audit_json();
    assert!(
        audit["refusals_total"].as_u64() >= Some(6),
        "the refusals are not counted: {audit:#}"
    );
    relay.stop().await;
}
