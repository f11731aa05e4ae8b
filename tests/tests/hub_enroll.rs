//! Enrollment and transport against a running hub (BAD_INPUTS.md 19–21): join codes used again,
//! expired, altered or for another organisation; proofs of possession by another key; plaintext
//! against the TLS port; a client that pins another CA.
//!
//! A refused enrollment is checked like any refusal: the status code, the refusal reason and a
//! word of the message naming the cause, nothing stored (the organisation's keys unchanged, as
//! `org show --json` prints them), and the hub healthy afterwards.

use alliance_envelope::{JoinCode, SigningKey};
use alliance_proto::pb::{self, RefusalReason};
use alliance_tests::{HubProcess, ReportBuilder, assert_refusal, enroll_request, is_serving};
use tonic::Code;
use tonic::transport::Endpoint;

#[tokio::test]
async fn an_enrolled_key_is_registered_and_the_enrollment_is_signed_by_the_hub() {
    let hub = HubProcess::start().await;
    let code = hub.add_org("ke-cotu", "national_centre", "KE", "africa");

    let cotu = hub.enroll(&code).await;

    assert_eq!(cotu.enrollment.key_id, cotu.key.key_id().as_str());
    for (document, kind) in [
        (
            &cotu.enrollment.framework,
            alliance_envelope::payload_type::FRAMEWORK,
        ),
        (
            &cotu.enrollment.registry,
            alliance_envelope::payload_type::REGISTRY,
        ),
    ] {
        let envelope = document.clone().expect("present").into();
        alliance_envelope::verify_pinned(&envelope, kind, &hub.hub_key())
            .unwrap_or_else(|e| panic!("{kind} is not signed by the hub: {e}"));
    }
    let shown = org_show(&hub, "ke-cotu");
    assert!(
        shown.to_string().contains(cotu.key.key_id().as_str()),
        "{shown:#}"
    );
}

#[tokio::test]
async fn the_same_code_and_the_same_key_enroll_again() {
    let hub = HubProcess::start().await;
    let code = hub.add_org("ke-cotu", "national_centre", "KE", "africa");
    let key = SigningKey::generate();
    let mut client = hub.ingest_client().await;

    let first = client
        .enroll(enroll_request(&code, &key, &key))
        .await
        .expect("enrolled")
        .into_inner();
    let again = client
        .enroll(enroll_request(&code, &key, &key))
        .await
        .expect("a crash mid-enrollment is harmless")
        .into_inner();

    let (first, again) = (
        first.enrollment.expect("an enrollment"),
        again.enrollment.expect("an enrollment"),
    );
    assert_eq!(again.key_id, first.key_id);
    assert_eq!(
        again.enrolled_at_unix_seconds,
        first.enrolled_at_unix_seconds
    );
    let envelope = ReportBuilder::new("ke-cotu").sign(&key);
    hub.submit_ok(&envelope).await;
}

#[tokio::test]
async fn a_code_used_again_with_another_key_is_refused() {
    let mut hub = HubProcess::start().await;
    let code = hub.add_org("ke-cotu", "national_centre", "KE", "africa");
    hub.enroll(&code).await;
    let other = SigningKey::generate();

    assert_enroll_refused(
        &mut hub,
        enroll_request(&code, &other, &other),
        Code::PermissionDenied,
        RefusalReason::JoinToken,
        "already used",
    )
    .await;
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let mut hub = HubProcess::init();
    // Codes that live zero days expire the moment they are issued.
    hub.set_config("keys", "join_code_ttl_days", 0);
    hub.serve().await;
    let code = hub.add_org("ke-cotu", "national_centre", "KE", "africa");
    let key = SigningKey::generate();

    assert_enroll_refused(
        &mut hub,
        enroll_request(&code, &key, &key),
        Code::PermissionDenied,
        RefusalReason::JoinToken,
        "expired",
    )
    .await;
}

#[tokio::test]
async fn an_altered_token_is_refused() {
    let mut hub = HubProcess::start().await;
    let mut code = hub.add_org("ke-cotu", "national_centre", "KE", "africa");
    code.token = flip_last_hex_digit(&code.token);
    let key = SigningKey::generate();

    assert_enroll_refused(
        &mut hub,
        enroll_request(&code, &key, &key),
        Code::PermissionDenied,
        RefusalReason::JoinToken,
        "unknown",
    )
    .await;
}

#[tokio::test]
async fn a_code_for_another_organisation_is_refused() {
    let mut hub = HubProcess::start().await;
    let for_cotu = hub.add_org("ke-cotu", "national_centre", "KE", "africa");
    hub.add_org("ug-notu", "national_centre", "UG", "africa");
    let code = JoinCode {
        org_id: "ug-notu".to_owned(),
        ..for_cotu
    };
    let key = SigningKey::generate();

    assert_enroll_refused(
        &mut hub,
        enroll_request(&code, &key, &key),
        Code::PermissionDenied,
        RefusalReason::JoinToken,
        "ke-cotu",
    )
    .await;
    assert!(
        !org_show(&hub, "ke-cotu")
            .to_string()
            .contains(key.key_id().as_str())
    );
}

#[tokio::test]
async fn a_proof_of_possession_signed_by_another_key_is_refused() {
    let mut hub = HubProcess::start().await;
    let code = hub.add_org("ke-cotu", "national_centre", "KE", "africa");
    let (key, impostor) = (SigningKey::generate(), SigningKey::generate());

    assert_enroll_refused(
        &mut hub,
        enroll_request(&code, &key, &impostor),
        Code::Unauthenticated,
        RefusalReason::ProofOfPossession,
        "proof of possession",
    )
    .await;
    // The code is still good for the key that holds it.
    hub.enroll(&code).await;
}

#[tokio::test]
async fn refused_enrollments_are_in_the_audit_log_with_reason_and_peer() {
    let hub = HubProcess::start().await;
    let mut code = hub.add_org("ke-cotu", "national_centre", "KE", "africa");
    code.token = flip_last_hex_digit(&code.token);
    let key = SigningKey::generate();
    hub.ingest_client()
        .await
        .enroll(enroll_request(&code, &key, &key))
        .await
        .expect_err("refused");

    let audit = hub.audit_json();

    let newest = &audit["entries"][0];
    assert_eq!(newest["kind"], "refusal", "{audit:#}");
    assert_eq!(newest["reason"], "join_token", "{audit:#}");
    assert_eq!(newest["org_id"], "ke-cotu", "{audit:#}");
    let actor = newest["actor"].as_str().unwrap_or_default();
    assert!(
        actor.contains("127.0.0.1"),
        "the peer is not named: {audit:#}"
    );
    assert_eq!(audit["refusals_total"], 1, "{audit:#}");
}

/// Sends `request` and asserts that it is refused with `code`, `reason` and `word` in the
/// message, that the organisation's registry entry is unchanged, and that the hub is healthy.
async fn assert_enroll_refused(
    hub: &mut HubProcess,
    request: pb::EnrollRequest,
    code: Code,
    reason: RefusalReason,
    word: &str,
) {
    let org = request.org_id.clone();
    let before = org_show(hub, &org);
    let status = hub
        .ingest_client()
        .await
        .enroll(request)
        .await
        .expect_err("the enrollment is refused");
    assert_refusal(&status, code, reason, word);
    assert_eq!(
        org_show(hub, &org),
        before,
        "a refused enrollment changed the registry"
    );
    hub.assert_healthy().await;
}

// BAD_INPUTS.md 21: transport.

#[tokio::test]
async fn plaintext_http2_against_the_tls_port_is_refused_and_the_hub_keeps_serving() {
    let mut hub = HubProcess::start().await;

    let plaintext = Endpoint::from_shared(format!("http://{}", hub.addr()))
        .expect("an endpoint")
        .connect_timeout(alliance_tests::READY_TIMEOUT)
        .connect()
        .await;
    let answered = match plaintext {
        Ok(channel) => is_serving(channel).await,
        Err(_) => false,
    };

    assert!(!answered, "the TLS port answered plaintext HTTP/2");
    hub.assert_healthy().await;
}

#[tokio::test]
async fn a_client_pinning_another_ca_cannot_connect() {
    let hub = HubProcess::start().await;
    let other = HubProcess::init();

    let connected = alliance_tests::tls_channel(&hub.addr(), &other.ca_der()).await;

    assert!(connected.is_err(), "a client trusting another CA connected");
    assert!(hub.health_ok().await);
}

#[tokio::test]
async fn the_admin_socket_answers_health() {
    let hub = HubProcess::start().await;

    let channel = alliance_tests::admin_channel(&hub.data_dir().join("admin.sock"))
        .await
        .expect("the admin socket accepts connections");

    assert!(is_serving(channel).await);
}

/// `org show ID --json`.
fn org_show(hub: &HubProcess, id: &str) -> serde_json::Value {
    hub.cli_json(&["org", "show", id])
}

/// The token with its last hex digit changed: still well formed, no longer issued.
fn flip_last_hex_digit(token: &str) -> String {
    let (head, last) = token.split_at(token.len() - 1);
    let changed = if last == "0" { "1" } else { "0" };
    format!("{head}{changed}")
}
