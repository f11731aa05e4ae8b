//! BAD_INPUTS.md 1–14 as they reach a running hub over TLS (`tests/README.md` maps every case to
//! its tests). Each refusal is checked as that
//! file's introduction asks, by `HubProcess::assert_refused`: the status code, the refusal
//! reason in the details and a word of the message that names the cause, the view unchanged,
//! nothing stored under the report id (GetReceipt answers NOT_FOUND), and the hub healthy
//! afterwards. The refusals are then found in `audit --json`.

use alliance_core::framework::ConventionStatus;
use alliance_core::report::FlagValue;
use alliance_core::{Cell, CountValue, OutcomeKind, Value};
use alliance_envelope::{Envelope, Signature, SigningKey, payload_type, report_id, sign};
use alliance_proto::pb::RefusalReason;
use alliance_proto::{KeyRotation, pb};
use alliance_tests::view::count_total;
use alliance_tests::wire::{self, RawCodec};
use alliance_tests::{HubProcess, ReportBuilder};
use tonic::Code;

// Case 1: the payload type is part of what is signed.

#[tokio::test]
async fn a_report_relabelled_as_another_type_is_refused_for_its_payload_type() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let mut envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    envelope.payload_type = payload_type::RECEIPT.to_owned();

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::PayloadType,
        "payload type",
    )
    .await;
}

#[tokio::test]
async fn another_type_relabelled_as_a_report_is_refused_for_its_signature() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let report = ReportBuilder::new("ke-cotu").build_valid();
    let mut envelope = sign(
        &cotu.key,
        payload_type::RECEIPT,
        alliance_proto::encode_report(&report),
    );
    envelope.payload_type = payload_type::REPORT.to_owned();

    hub.assert_refused(
        &envelope,
        Code::Unauthenticated,
        RefusalReason::Signature,
        "does not verify",
    )
    .await;
}

// Case 2: empty and unsupported payload types; an empty payload.

#[tokio::test]
async fn an_empty_payload_type_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let report = ReportBuilder::new("ke-cotu").build_valid();
    let envelope = sign(&cotu.key, "", alliance_proto::encode_report(&report));

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::PayloadType,
        "empty payload type",
    )
    .await;
}

#[tokio::test]
async fn an_unsupported_payload_type_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = sign(&cotu.key, "application/json", b"{}".to_vec());

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::PayloadType,
        "application/json",
    )
    .await;
}

#[tokio::test]
async fn an_empty_payload_is_refused_as_a_report() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = sign(&cotu.key, payload_type::REPORT, Vec::new());

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::Malformed,
        "empty payload",
    )
    .await;
}

// Case 3: one key's signature repeated counts once; a signature without a key id is refused.

#[tokio::test]
async fn one_keys_signature_repeated_counts_once_and_is_accepted() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let mut envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let copy = envelope.signatures[0].clone();
    envelope.signatures.push(copy.clone());
    envelope.signatures.push(copy);

    let receipt = hub.submit_ok(&envelope).await;

    assert_eq!(receipt.outcome.kind, OutcomeKind::Accepted);
    let view = hub.view_json("2009", "org");
    assert_eq!(
        count_total(&view, "ke-cotu", "awareness.activities"),
        (12, 12)
    );
}

#[tokio::test]
async fn a_signature_without_a_key_id_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let mut envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    envelope.signatures[0].keyid.clear();

    hub.assert_refused(
        &envelope,
        Code::Unauthenticated,
        RefusalReason::Signature,
        "no key id",
    )
    .await;
}

#[tokio::test]
async fn a_valid_signature_does_not_carry_one_without_a_key_id() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let mut envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    envelope.add_signature(&cotu.key);
    envelope.signatures[1].keyid.clear();

    hub.assert_refused(
        &envelope,
        Code::Unauthenticated,
        RefusalReason::Signature,
        "signature 1 has no key id",
    )
    .await;
}

// Case 4: a bit flipped in the payload or in the signature.

#[tokio::test]
async fn a_bit_flipped_in_the_payload_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);

    for at in [0, envelope.payload.len() / 2, envelope.payload.len() - 1] {
        let mut flipped = envelope.clone();
        flipped.payload[at] ^= 0x10;
        hub.assert_refused(
            &flipped,
            Code::Unauthenticated,
            RefusalReason::Signature,
            "does not verify",
        )
        .await;
    }
}

#[tokio::test]
async fn a_bit_flipped_in_the_signature_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);

    for at in [0, 31, 32, 63] {
        let mut flipped = envelope.clone();
        flipped.signatures[0].sig[at] ^= 0x01;
        hub.assert_refused(
            &flipped,
            Code::Unauthenticated,
            RefusalReason::Signature,
            "does not verify",
        )
        .await;
    }
}

// Case 5: no signature at all; a signature by a key the hub does not know.

#[tokio::test]
async fn a_stripped_signature_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let mut envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    envelope.signatures.clear();

    hub.assert_refused(
        &envelope,
        Code::Unauthenticated,
        RefusalReason::Signature,
        "no signatures",
    )
    .await;
}

#[tokio::test]
async fn a_signature_by_an_unknown_key_is_refused() {
    let mut hub = HubProcess::start().await;
    hub.new_org("ke-cotu").await;
    let stranger = SigningKey::generate();
    let envelope = ReportBuilder::new("ke-cotu").sign(&stranger);

    hub.assert_refused(
        &envelope,
        Code::Unauthenticated,
        RefusalReason::UnknownKey,
        stranger.key_id().as_str(),
    )
    .await;
}

#[tokio::test]
async fn a_signature_under_a_known_key_id_by_another_key_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let stranger = SigningKey::generate();
    let mut envelope = ReportBuilder::new("ke-cotu").sign(&stranger);
    envelope.signatures[0].keyid = cotu.key.key_id().to_string();

    hub.assert_refused(
        &envelope,
        Code::Unauthenticated,
        RefusalReason::Signature,
        "does not verify",
    )
    .await;
}

// Case 6: a known key of another organisation; and an organisation nobody registered.

#[tokio::test]
async fn a_report_signed_by_a_key_of_another_organisation_is_refused() {
    let mut hub = HubProcess::start().await;
    hub.new_org("ke-cotu").await;
    let notu = hub.new_org("ug-notu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&notu.key);

    let status = hub
        .assert_refused(
            &envelope,
            Code::PermissionDenied,
            RefusalReason::WrongOrganisation,
            "ke-cotu",
        )
        .await;

    assert!(status.message().contains("ug-notu"), "{status:?}");
}

#[tokio::test]
async fn a_report_naming_an_unregistered_organisation_is_refused() {
    let mut hub = HubProcess::start().await;
    let notu = hub.new_org("ug-notu").await;
    let envelope = ReportBuilder::new("zz-nobody").sign(&notu.key);

    hub.assert_refused(
        &envelope,
        Code::PermissionDenied,
        RefusalReason::UnknownOrganisation,
        "zz-nobody",
    )
    .await;
}

// Case 7: revoked keys, and rotated keys within and after their grace period.

#[tokio::test]
async fn a_revoked_key_signs_nothing_new_and_what_it_signed_before_stays() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    hub.submit_ok(&ReportBuilder::new("ke-cotu").sign(&cotu.key))
        .await;

    hub.cli_ok([
        "org",
        "revoke-key",
        "ke-cotu",
        "--key",
        cotu.key.key_id().as_str(),
    ]);

    let later = ReportBuilder::new("ke-cotu")
        .revision(2)
        .count("awareness.activities", 30)
        .sign(&cotu.key);
    hub.assert_refused(
        &later,
        Code::PermissionDenied,
        RefusalReason::KeyNotAccepted,
        "revoked",
    )
    .await;
    let view = hub.view_json("2009", "org");
    assert_eq!(
        count_total(&view, "ke-cotu", "awareness.activities"),
        (12, 12)
    );
    // A restart rebuilds the view from the stored envelopes without judging their keys again:
    // what was accepted before the revocation stays in history.
    hub.restart().await;
    assert_eq!(hub.view_json("2009", "org"), view);
    hub.assert_not_stored(report_id(&later)).await;
}

#[tokio::test]
async fn a_rotated_key_is_accepted_within_its_grace_period() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let new_key = SigningKey::generate();
    rotate(&hub, &cotu.org_id, &cotu.key, &new_key).await;

    let by_old = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let by_new = ReportBuilder::new("ke-cotu").revision(2).sign(&new_key);

    assert_eq!(
        hub.submit_ok(&by_old).await.outcome.kind,
        OutcomeKind::Accepted
    );
    assert_eq!(
        hub.submit_ok(&by_new).await.outcome.kind,
        OutcomeKind::Accepted
    );
}

#[tokio::test]
async fn a_rotated_key_past_its_grace_period_is_refused() {
    let mut hub = HubProcess::init();
    // A grace period of zero days ends the moment the key is rotated.
    hub.set_config("keys", "rotation_grace_days", 0);
    hub.serve().await;
    let cotu = hub.new_org("ke-cotu").await;
    let before_rotation = ReportBuilder::new("ke-cotu")
        .period("2008")
        .count("awareness.activities", 8)
        .sign(&cotu.key);
    hub.submit_ok(&before_rotation).await;
    let new_key = SigningKey::generate();
    rotate(&hub, &cotu.org_id, &cotu.key, &new_key).await;

    let by_old = ReportBuilder::new("ke-cotu").sign(&cotu.key);

    hub.assert_refused(
        &by_old,
        Code::PermissionDenied,
        RefusalReason::KeyNotAccepted,
        "grace period",
    )
    .await;
    let by_new = ReportBuilder::new("ke-cotu").sign(&new_key);
    assert_eq!(
        hub.submit_ok(&by_new).await.outcome.kind,
        OutcomeKind::Accepted
    );
    // The report the old key signed before the rotation stays, also after a restart.
    hub.restart().await;
    assert_eq!(hub.activities_total("2008", "org", "ke-cotu"), (8, 8));
    hub.get_receipt(report_id(&before_rotation))
        .await
        .expect("the report signed before the rotation is kept");
}

/// Rotates `org`'s key from `old` to `new` with `RotateKey`, as a node does.
async fn rotate(hub: &HubProcess, org: &str, old: &SigningKey, new: &SigningKey) {
    let rotation = KeyRotation {
        org: org.parse().expect("an organisation id"),
        old_public_key: old.public_key(),
        new_public_key: new.public_key(),
        hub_key_fingerprint: alliance_envelope::fingerprint_bytes(&hub.hub_key()),
        issued_at: alliance_tests::PREPARED_AT,
    };
    let payload = alliance_proto::encode_key_rotation(&rotation);
    let statement = sign(old, payload_type::KEY_ROTATION, payload.clone());
    let proof = sign(new, payload_type::KEY_ROTATION, payload);
    hub.ingest_client()
        .await
        .rotate_key(pb::RotateKeyRequest {
            org_id: org.to_owned(),
            new_public_key: new.public_key().to_vec(),
            statement: Some(statement.into()),
            proof: Some(proof.into()),
        })
        .await
        .unwrap_or_else(|e| panic!("the rotation was refused: {e:?}"));
}

// Case 8: re-encoded bytes.

#[tokio::test]
async fn re_encoded_report_bytes_do_not_verify_under_the_original_signature() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let mut re_encoded = envelope.clone();
    re_encoded.payload = wire::reverse_fields(&envelope.payload);
    assert_ne!(re_encoded.payload, envelope.payload);
    let mut with_unknown_field = envelope.clone();
    wire::put_varint_field(&mut with_unknown_field.payload, 99, 1);

    for changed in [&re_encoded, &with_unknown_field] {
        assert_ne!(report_id(changed), report_id(&envelope));
        hub.assert_refused(
            changed,
            Code::Unauthenticated,
            RefusalReason::Signature,
            "does not verify",
        )
        .await;
    }
}

#[tokio::test]
async fn re_encoded_bytes_signed_as_such_are_another_report_with_another_id() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let re_encoded = sign(
        &cotu.key,
        payload_type::REPORT,
        wire::reverse_fields(&envelope.payload),
    );
    let first = hub.submit_ok(&envelope).await;

    let second = hub.submit_ok(&re_encoded).await;

    assert_ne!(second.report_id, first.report_id);
    assert_eq!(second.report_id.0, report_id(&re_encoded));
    // Same revision, other bytes: an equivocation, however equal the decoded reports are.
    assert_eq!(second.outcome.kind, OutcomeKind::Equivocation);
}

// Case 9: Ed25519 edge cases, refused by `verify_strict`.

#[tokio::test]
async fn a_signature_with_a_non_canonical_s_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let mut envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    add_group_order_to_s(&mut envelope.signatures[0]);

    hub.assert_refused(
        &envelope,
        Code::Unauthenticated,
        RefusalReason::Signature,
        "does not verify",
    )
    .await;
}

#[tokio::test]
async fn a_small_order_key_cannot_enroll() {
    let mut hub = HubProcess::start().await;
    let code = hub.add_org("ke-cotu", "national_centre", "KE", "africa");
    // The identity point: of order 1. With R = identity and S = 0, a signature "verifies" under
    // it for any message unless verification is strict.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut request =
        alliance_tests::enroll_request(&code, &SigningKey::generate(), &SigningKey::generate());
    request.public_key = identity.to_vec();
    let mut proof: Envelope = request.proof.take().expect("a proof").into();
    let mut forged = [0u8; 64];
    forged[0] = 1;
    proof.signatures = vec![Signature {
        keyid: alliance_envelope::KeyId::of(&identity).into_string(),
        sig: forged.to_vec(),
    }];
    request.proof = Some(proof.into());

    let before = hub.cli_json(&["org", "show", "ke-cotu"]);

    let status = hub
        .ingest_client()
        .await
        .enroll(request)
        .await
        .expect_err("a small-order key is refused");

    alliance_tests::assert_refusal(
        &status,
        Code::InvalidArgument,
        RefusalReason::Malformed,
        "weak",
    );
    assert_eq!(
        hub.cli_json(&["org", "show", "ke-cotu"]),
        before,
        "a refused enrollment changed the registry"
    );
    hub.assert_healthy().await;
    // Nothing was bound to the code: a real key still enrolls with it.
    hub.enroll(&code).await;
}

/// Adds the order L of the Ed25519 group to the S half of a signature: S + L ≡ S (mod L), so
/// the signature still satisfies the group equation, but S is no longer below L.
fn add_group_order_to_s(signature: &mut Signature) {
    // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let s = &mut signature.sig[32..64];
    let mut carry = 0u16;
    for (byte, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 256 bits since S < L < 2^253");
}

// Case 10: envelopes carried by hand as JSON, in either base64 alphabet.

#[tokio::test]
async fn an_imported_json_envelope_in_url_safe_base64_without_padding_is_accepted() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let file = hub.scratch_dir().join("report.json");
    std::fs::write(&file, url_safe_json(&envelope)).expect("write the file");

    let run = hub.cli_ok(["import".as_ref(), file.as_os_str(), "--json".as_ref()]);

    let printed: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(printed["results"][0]["result"], "stored", "{printed:#}");
    assert_eq!(
        printed["results"][0]["receipt"]["outcome"], "accepted",
        "{printed:#}"
    );
    let stored = hub.get_receipt(report_id(&envelope)).await.expect("stored");
    assert_eq!(
        hub.open_receipt(&stored).outcome.kind,
        OutcomeKind::Accepted
    );
    let view = hub.view_json("2009", "org");
    assert_eq!(
        count_total(&view, "ke-cotu", "awareness.activities"),
        (12, 12)
    );
}

#[tokio::test]
async fn an_imported_json_envelope_with_trailing_garbage_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let view = hub.view_json("2009", "org");
    let in_base64 = hub.scratch_dir().join("garbage-in-base64.json");
    let mut json: serde_json::Value = serde_json::from_str(&envelope.to_json()).expect("JSON");
    json["payload"] = format!("{}!!", json["payload"].as_str().expect("text")).into();
    std::fs::write(&in_base64, json.to_string()).expect("write");
    let after_json = hub.scratch_dir().join("garbage-after.json");
    std::fs::write(&after_json, format!("{} trailing", envelope.to_json())).expect("write");

    for (file, cause) in [(&in_base64, "base64"), (&after_json, "trailing")] {
        let run = hub.cli(["import".as_ref(), file.as_os_str()]);
        assert!(!run.success(), "{} was imported: {run:?}", file.display());
        assert!(
            run.stderr.contains(cause),
            "the error does not name the cause ({cause}): {run:?}"
        );
    }

    assert_eq!(hub.view_json("2009", "org"), view);
    hub.assert_not_stored(report_id(&envelope)).await;
    hub.assert_healthy().await;
}

#[tokio::test]
async fn an_imported_envelope_that_does_not_verify_is_refused_with_its_reason() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let mut envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    envelope.payload[4] ^= 1;
    let file = hub.scratch_dir().join("flipped.json");
    std::fs::write(&file, envelope.to_json()).expect("write the file");
    let view = hub.view_json("2009", "org");

    let run = hub.cli(["import".as_ref(), file.as_os_str()]);

    assert!(!run.success(), "a forged envelope was imported: {run:?}");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains("refused"), "{run:?}");
    assert!(said.contains("does not verify"), "{run:?}");
    assert_eq!(hub.view_json("2009", "org"), view);
    hub.assert_not_stored(report_id(&envelope)).await;
    hub.assert_healthy().await;
}

/// The JSON envelope form with every base64 field in the URL-safe alphabet, without padding.
fn url_safe_json(envelope: &Envelope) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut json: serde_json::Value =
        serde_json::from_str(&envelope.to_json()).expect("the JSON form");
    json["payload"] = engine.encode(&envelope.payload).into();
    for (i, signature) in envelope.signatures.iter().enumerate() {
        json["signatures"][i]["sig"] = engine.encode(&signature.sig).into();
    }
    let text = json.to_string();
    assert_ne!(
        text,
        envelope.to_json(),
        "the test needs URL-safe characters or missing padding to mean something"
    );
    text
}

// Case 11: reports that do not fit framework version 1, refused with the field named.

#[tokio::test]
async fn an_unknown_indicator_is_refused_naming_it() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu")
        .count("awareness.unicorns_sighted", 3)
        .sign(&cotu.key);

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::InvalidReport,
        "awareness.unicorns_sighted",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_breakdown_value_is_refused_naming_it() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu")
        .count_by("awareness.people_reached", 3, "sex", &[("femal", 3)])
        .sign(&cotu.key);

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::InvalidReport,
        "femal",
    )
    .await;
}

#[tokio::test]
async fn a_narrative_for_an_unknown_action_point_is_refused_naming_it() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu")
        .narrative("unicorn_welfare", "Stables inspected.")
        .sign(&cotu.key);

    let status = hub
        .assert_refused(
            &envelope,
            Code::InvalidArgument,
            RefusalReason::InvalidReport,
            "narratives[\"unicorn_welfare\"]",
        )
        .await;

    assert!(status.message().contains("action point"), "{status:?}");
}

#[tokio::test]
async fn a_negative_count_as_a_signed_encoder_writes_it_is_refused_naming_the_indicator() {
    // Counts are unsigned on the wire. A sender that writes -1 as a signed 64-bit integer puts
    // the varint of 2^64 - 1 there, which is what the hub decodes.
    let minus_one = u64::from_ne_bytes((-1i64).to_ne_bytes());
    let mut varint = Vec::new();
    wire::put_varint(&mut varint, minus_one);
    assert_eq!(
        varint,
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
    );
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    // A negative cell.
    let negative_cell = ReportBuilder::new("ke-cotu")
        .count_by(
            "awareness.people_reached",
            40,
            "sex",
            &[("female", 41), ("male", minus_one)],
        )
        .sign(&cotu.key);
    // A negative total.
    let negative_total = ReportBuilder::new("ke-cotu")
        .count_by(
            "awareness.people_reached",
            minus_one,
            "sex",
            &[("female", 25), ("male", 15)],
        )
        .sign(&cotu.key);
    // A negative total with no breakdown to contradict it.
    let negative_alone = ReportBuilder::new("ke-cotu")
        .count("awareness.activities", minus_one)
        .sign(&cotu.key);

    for (envelope, field) in [
        (&negative_cell, "awareness.people_reached"),
        (&negative_total, "awareness.people_reached"),
        (&negative_alone, "awareness.activities"),
    ] {
        let status = hub
            .assert_refused(
                envelope,
                Code::InvalidArgument,
                RefusalReason::InvalidReport,
                field,
            )
            .await;
        assert!(
            status
                .message()
                .contains("more than the largest value accepted"),
            "{status:?}"
        );
    }
}

#[tokio::test]
async fn a_value_of_the_wrong_kind_is_refused_naming_the_indicator() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu")
        .value(
            "awareness.activities",
            Value::Flag(FlagValue {
                value: true,
                breakdowns: Default::default(),
            }),
        )
        .sign(&cotu.key);

    let status = hub
        .assert_refused(
            &envelope,
            Code::InvalidArgument,
            RefusalReason::InvalidReport,
            "awareness.activities",
        )
        .await;

    assert!(status.message().contains("kind"), "{status:?}");
}

#[tokio::test]
async fn a_status_for_an_unknown_convention_is_refused_naming_it() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu")
        .value(
            "ratification.convention_status",
            Value::Status([("c999".to_owned(), ConventionStatus::Ratified)].into()),
        )
        .sign(&cotu.key);

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::InvalidReport,
        "c999",
    )
    .await;
}

#[tokio::test]
async fn breakdown_cells_whose_sum_overflows_are_refused_naming_the_breakdown() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu")
        .value(
            "awareness.people_reached",
            Value::Count(CountValue {
                total: Cell::Published(u64::MAX),
                breakdowns: [(
                    "sex".to_owned(),
                    [
                        ("female".to_owned(), Cell::Published(u64::MAX)),
                        ("male".to_owned(), Cell::Published(1)),
                    ]
                    .into(),
                )]
                .into(),
            }),
        )
        .sign(&cotu.key);

    let status = hub
        .assert_refused(
            &envelope,
            Code::InvalidArgument,
            RefusalReason::InvalidReport,
            "awareness.people_reached",
        )
        .await;

    // Every count is bounded (`alliance_core::validate::MAX_COUNT`) before cells are summed,
    // so that neither a breakdown's sum nor the hub's totals over every report can overflow.
    assert!(
        status
            .message()
            .contains("more than the largest value accepted"),
        "{status:?}"
    );
}

// Case 12: periods that do not exist, that the framework version does not allow, or that
// overlap a period already reported.

#[tokio::test]
async fn a_half_year_under_framework_version_1_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu")
        .period("2009-H1")
        .sign(&cotu.key);

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::PeriodNotAllowed,
        "2009-H1",
    )
    .await;
}

#[tokio::test]
async fn a_half_year_overlapping_a_reported_year_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    hub.submit_ok(&ReportBuilder::new("ke-cotu").sign(&cotu.key))
        .await;
    let envelope = ReportBuilder::new("ke-cotu")
        .period("2009-H2")
        .sign(&cotu.key);

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::PeriodNotAllowed,
        "2009-H2",
    )
    .await;
}

#[tokio::test]
async fn a_period_that_does_not_exist_is_refused_naming_the_field() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let valid = alliance_proto::encode_report(&ReportBuilder::new("ke-cotu").build_valid());

    for period in ["2009-Q5", "2009-H3", "0000"] {
        let payload = with_string_field(&valid, 2, period);
        let envelope = sign(&cotu.key, payload_type::REPORT, payload);
        hub.assert_refused(
            &envelope,
            Code::InvalidArgument,
            RefusalReason::InvalidReport,
            "period",
        )
        .await;
    }
}

/// `message` with its string field `field` replaced by `value`.
fn with_string_field(message: &[u8], field: u32, value: &str) -> Vec<u8> {
    let mut tag = Vec::new();
    wire::put_varint(&mut tag, (u64::from(field) << 3) | 2);
    let mut out = Vec::new();
    for part in wire::split_fields(message) {
        if part.starts_with(&tag) {
            wire::put_bytes_field(&mut out, field, value.as_bytes());
        } else {
            out.extend_from_slice(part);
        }
    }
    out
}

// Case 13: a framework version the hub does not know.

#[tokio::test]
async fn an_unknown_framework_version_is_refused() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu")
        .framework_version(9)
        .sign(&cotu.key);

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::UnknownFrameworkVersion,
        "framework version 9",
    )
    .await;
}

// Case 14: oversized and deeply nested input.

#[tokio::test]
async fn a_message_over_the_configured_limit_is_refused_before_decoding() {
    const LIMIT: i64 = 64 * 1024;
    let mut hub = HubProcess::init();
    hub.set_config("limits", "max_message_bytes", LIMIT);
    hub.serve().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = sign(
        &cotu.key,
        payload_type::REPORT,
        vec![0x42; 2 * LIMIT as usize],
    );
    let view = hub.view_json("2009", "org");

    let status = hub
        .submit(&envelope)
        .await
        .expect_err("an oversized message is refused");

    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    assert!(status.message().contains("too large"), "{status:?}");
    assert_eq!(hub.view_json("2009", "org"), view);
    hub.assert_not_stored(report_id(&envelope)).await;
    hub.assert_healthy().await;
    // A report within the limit still gets through.
    let fits = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    assert_eq!(
        hub.submit_ok(&fits).await.outcome.kind,
        OutcomeKind::Accepted
    );
}

#[tokio::test]
async fn a_deeply_nested_payload_is_refused_as_malformed_without_a_crash() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let valid = alliance_proto::encode_report(&ReportBuilder::new("ke-cotu").build_valid());
    let mut nested = valid.clone();
    nested.extend(wire::nested_groups(99, 10_000));
    let envelope = sign(&cotu.key, payload_type::REPORT, nested);

    hub.assert_refused(
        &envelope,
        Code::InvalidArgument,
        RefusalReason::Malformed,
        "recursion",
    )
    .await;
}

#[tokio::test]
async fn a_deeply_nested_grpc_request_is_refused_without_a_crash() {
    let mut hub = HubProcess::start().await;
    let view = hub.view_json("2009", "org");
    let request = wire::nested_groups(99, 10_000);
    let mut grpc = tonic::client::Grpc::new(hub.channel().await);
    grpc.ready().await.expect("the channel is ready");

    let status = grpc
        .unary(
            tonic::Request::new(request),
            tonic::codegen::http::uri::PathAndQuery::from_static("/alliance.v1.HubService/Submit"),
            RawCodec,
        )
        .await
        .expect_err("a request nested 10,000 deep is refused");

    assert_ne!(status.code(), Code::Ok);
    assert!(status.message().contains("recursion"), "{status:?}");
    assert_eq!(hub.view_json("2009", "org"), view, "the view changed");
    hub.assert_healthy().await;
}

// The audit log: refusals are counted and shown, newest first, with their reason and peer.

#[tokio::test]
async fn refusals_are_listed_by_audit_newest_first_with_reason_and_peer() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let mut flipped = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    flipped.payload[3] ^= 1;
    let future = ReportBuilder::new("ke-cotu")
        .framework_version(9)
        .sign(&cotu.key);
    hub.submit(&flipped).await.expect_err("refused");
    hub.submit(&future).await.expect_err("refused");

    let audit = hub.audit_json();

    let refusals: Vec<&serde_json::Value> = audit["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries: {audit:#}"))
        .iter()
        .filter(|e| e["kind"] == "refusal")
        .collect();
    assert_eq!(refusals.len(), 2, "{audit:#}");
    assert_eq!(
        refusals[0]["reason"], "unknown_framework_version",
        "{audit:#}"
    );
    assert_eq!(refusals[1]["reason"], "signature", "{audit:#}");
    for refusal in &refusals {
        let actor = refusal["actor"].as_str().unwrap_or_default();
        assert!(
            actor.contains("127.0.0.1"),
            "the peer is not named: {refusal:#}"
        );
    }
    assert!(
        refusals[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("framework version 9"),
        "{audit:#}"
    );
    assert_eq!(audit["refusals_total"], 2, "{audit:#}");
}
