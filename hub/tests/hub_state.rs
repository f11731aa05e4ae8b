//! The hub's operations in-process, without the network: enrollment, ingest outcomes, refusals,
//! key rotation and revocation, reopening, and the rebuild that must equal the live view.
//! The same behaviour over TLS against the real binary is tested in the `tests` package.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use alliance_core::merge::{GroupBy, GroupKey, Query};
use alliance_core::org::{OrgKind, Organisation, Region};
use alliance_core::receipt::{OutcomeKind, Receipt, ReportId};
use alliance_core::report::{CountValue, DEFAULT_DISCLOSURE_THRESHOLD, Report, Value};
use alliance_core::timestamp::Timestamp;
use alliance_envelope::{
    Envelope, JoinCode, SigningKey, fingerprint_bytes, payload_type, sign, verify_pinned,
};
use alliance_hub::cli::{Cli, Command};
use alliance_hub::hub::{EnrollCall, Hub, HubError, RotateCall};
use alliance_proto::pb::RefusalReason;
use alliance_proto::{EnrollProof, KeyRotation};
use clap::Parser;

#[tokio::test]
async fn an_enrolled_organisation_reports_and_the_outcomes_follow_the_merge_rules() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let cotu = Member::join(&hub, "ke-cotu", "KE", Region::Africa).await;

    let first = cotu.report(2009, 2, 12);
    let signed = hub.submit(cotu.sign(&first), "test").await.unwrap();
    // The receipt looked up later is the very one given: the same bytes, signed again.
    let id = alliance_envelope::report_id(&cotu.sign(&first));
    assert_eq!(hub.receipt(&ReportId(id)).unwrap(), Some(signed.clone()));
    let verified = verify_pinned(&signed, payload_type::RECEIPT, &hub.public_key()).unwrap();
    let accepted = alliance_proto::decode_receipt(verified.payload()).unwrap();
    assert_eq!(accepted.outcome.kind, OutcomeKind::Accepted);
    let receipt = submit(&hub, &cotu.sign(&first)).await.unwrap();
    assert_eq!(receipt.outcome.kind, OutcomeKind::Duplicate);
    assert_eq!(receipt.first_received_at, accepted.first_received_at);
    assert_eq!(receipt.outcome.winning_revision, 2);
    assert_eq!(activities(&hub, "2009"), Some(12));

    // A lower revision is kept in history but changes nothing.
    let lower = submit(&hub, &cotu.sign(&cotu.report(2009, 1, 99)))
        .await
        .unwrap();
    assert_eq!(lower.outcome.kind, OutcomeKind::Superseded);
    assert_eq!(lower.outcome.winning_revision, 2);
    assert_eq!(activities(&hub, "2009"), Some(12));

    // The same bytes again: a duplicate, with the time first received.
    let again = submit(&hub, &cotu.sign(&first)).await.unwrap();
    assert_eq!(again.outcome.kind, OutcomeKind::Duplicate);
    assert_eq!(again.first_received_at, receipt.first_received_at);

    // Another report at the same revision: equivocation, flagged in the view.
    let twin = submit(&hub, &cotu.sign(&cotu.report(2009, 2, 13)))
        .await
        .unwrap();
    assert_eq!(twin.outcome.kind, OutcomeKind::Equivocation);
    let view = hub.view(&query("2009", GroupBy::Alliance)).unwrap();
    assert_eq!(view.equivocations.len(), 1);

    assert!(
        hub.rebuild_matches().unwrap(),
        "live view differs from a rebuild"
    );
    let before = hub.view(&query("2009", GroupBy::Org)).unwrap();
    hub.flush().unwrap();
    drop(hub);
    let reopened = Hub::open(dir.path()).unwrap();
    assert_eq!(reopened.view(&query("2009", GroupBy::Org)).unwrap(), before);
}

#[tokio::test]
async fn a_batch_is_answered_under_one_signature_with_refusals_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let cotu = Member::join(&hub, "ke-cotu", "KE", Region::Africa).await;
    let other = Member::join(&hub, "gh-tuc", "GH", Region::Africa).await;
    let mut forged = other.report(2010, 1, 5);
    forged.org = "ke-cotu".parse().unwrap();
    let batch = vec![
        cotu.sign(&cotu.report(2008, 1, 3)),
        other.sign(&forged),
        cotu.sign(&cotu.report(2009, 1, 4)),
    ];
    let answer = hub.submit_batch(batch, "test").await.unwrap();
    assert_eq!(answer.refusals.len(), 1);
    assert_eq!(answer.refusals[0].0, 1);
    assert_eq!(
        answer.refusals[0].1.reason,
        RefusalReason::WrongOrganisation
    );
    let signed = answer.batch_receipt.expect("two items stored");
    let verified = verify_pinned(&signed, payload_type::BATCH_RECEIPT, &hub.public_key()).unwrap();
    let batch = alliance_proto::decode_batch_receipt(verified.payload()).unwrap();
    assert_eq!(batch.receipts.len(), 2);
    assert!(
        batch
            .receipts
            .iter()
            .all(|r| r.outcome.kind == OutcomeKind::Accepted)
    );
    // Each stored item can be looked up: its own receipt, with the batch's contents for it.
    let found = hub.receipt(&batch.receipts[1].report_id).unwrap().unwrap();
    let found = verify_pinned(&found, payload_type::RECEIPT, &hub.public_key()).unwrap();
    assert_eq!(
        alliance_proto::decode_receipt(found.payload()).unwrap(),
        batch.receipts[1]
    );
    assert_eq!(activities(&hub, "2008..2009"), Some(7));
    assert!(hub.rebuild_matches().unwrap());
}

#[tokio::test]
async fn refusals_name_their_cause_store_nothing_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let cotu = Member::join(&hub, "ke-cotu", "KE", Region::Africa).await;
    let stranger = SigningKey::generate();
    let report = cotu.report(2009, 1, 12);

    let mut wrong_type = cotu.sign(&report);
    wrong_type.payload_type = payload_type::RECEIPT.to_owned();
    let mut flipped = cotu.sign(&report);
    flipped.payload[3] ^= 1;
    let mut quarter = cotu.report(2009, 1, 12);
    quarter.period = "2009-Q1".parse().unwrap();
    let mut unknown_version = cotu.report(2009, 1, 12);
    unknown_version.framework_version = 9;
    let mut unknown_org = cotu.report(2009, 1, 12);
    unknown_org.org = "nobody".parse().unwrap();

    let cases: Vec<(Envelope, RefusalReason)> = vec![
        (wrong_type, RefusalReason::PayloadType),
        (flipped, RefusalReason::Signature),
        (
            sign(
                &stranger,
                payload_type::REPORT,
                alliance_proto::encode_report(&report),
            ),
            RefusalReason::UnknownKey,
        ),
        (cotu.sign(&quarter), RefusalReason::PeriodNotAllowed),
        (
            cotu.sign(&unknown_version),
            RefusalReason::UnknownFrameworkVersion,
        ),
        (cotu.sign(&unknown_org), RefusalReason::UnknownOrganisation),
    ];
    let count = cases.len();
    for (envelope, reason) in cases {
        match hub.submit(envelope, "198.51.100.7:5000").await {
            Err(HubError::Refused(refused)) => {
                assert_eq!(refused.reason, reason, "{}", refused.message)
            }
            other => panic!("expected a refusal ({reason:?}), got {other:?}"),
        }
    }
    assert_eq!(activities(&hub, "2009"), None);
    let (records, total) = hub
        .audit(alliance_hub::hub::AuditQuery {
            limit: 0,
            kind: Some(alliance_store::AuditKind::Refusal),
        })
        .unwrap();
    assert_eq!(total, count as u64);
    assert_eq!(records.len(), count);
    assert_eq!(records[0].actor, "198.51.100.7:5000");
    assert_eq!(records[0].reason.as_deref(), Some("UNKNOWN_ORGANISATION"));
}

#[tokio::test]
async fn join_codes_are_one_time_per_key_and_reissue_revokes_the_lost_key() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let (_, code) = hub
        .add_org(org("ke-cotu", "KE", Region::Africa), "test")
        .await
        .unwrap();
    let code: JoinCode = code.code.parse().unwrap();
    let key = SigningKey::generate();

    enroll(&hub, &code, &key).await.unwrap();
    // A crash mid-enrollment: the same code and key again succeed.
    enroll(&hub, &code, &key).await.unwrap();
    // Another key with the same code: refused.
    let thief = SigningKey::generate();
    assert_refused(
        enroll(&hub, &code, &thief).await,
        RefusalReason::JoinToken,
        "another key",
    );
    // An altered token: unknown.
    let mut altered = code.clone();
    altered.token = "00".repeat(32);
    assert_refused(
        enroll(&hub, &altered, &thief).await,
        RefusalReason::JoinToken,
        "unknown",
    );
    // The proof signed by another key than the one enrolled.
    let mut call = enroll_call(&hub, &code, &thief);
    call.proof = proof(&hub, &code, &thief.public_key(), &key);
    assert_refused(
        hub.enroll(call, "test").await.map(|_| ()),
        RefusalReason::ProofOfPossession,
        "not signed by the key",
    );
    // A code for one organisation used for another.
    let (_, other_code) = hub
        .add_org(org("gh-tuc", "GH", Region::Africa), "test")
        .await
        .unwrap();
    let mut wrong_org: JoinCode = other_code.code.parse().unwrap();
    wrong_org.org_id = "ke-cotu".into();
    assert_refused(
        enroll(&hub, &wrong_org, &thief).await,
        RefusalReason::JoinToken,
        "is for organisation gh-tuc",
    );

    // The key is lost: a re-issued code enrolls a new key and revokes the old one.
    let reissued: JoinCode = hub
        .reissue("ke-cotu", "test")
        .await
        .unwrap()
        .code
        .parse()
        .unwrap();
    let new_key = SigningKey::generate();
    enroll(&hub, &reissued, &new_key).await.unwrap();
    let member = Member {
        key: key.clone(),
        org: "ke-cotu".into(),
    };
    assert_refused(
        hub.submit(member.sign(&member.report(2009, 1, 3)), "test")
            .await
            .map(|_| ()),
        RefusalReason::KeyNotAccepted,
        "revoked",
    );
    let member = Member {
        key: new_key,
        org: "ke-cotu".into(),
    };
    hub.submit(member.sign(&member.report(2009, 1, 3)), "test")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let config = dir.path().join("hub.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("join_code_ttl_days = 14"), "{text}");
    std::fs::write(
        &config,
        text.replace("join_code_ttl_days = 14", "join_code_ttl_days = 0"),
    )
    .unwrap();
    let hub = Hub::open(dir.path()).unwrap();
    let (_, code) = hub
        .add_org(org("ke-cotu", "KE", Region::Africa), "test")
        .await
        .unwrap();
    let code: JoinCode = code.code.parse().unwrap();
    assert_refused(
        enroll(&hub, &code, &SigningKey::generate()).await,
        RefusalReason::JoinToken,
        "expired",
    );
}

#[tokio::test]
async fn a_rotated_key_signs_through_its_grace_period_and_a_revoked_one_never() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let old = Member::join(&hub, "ke-cotu", "KE", Region::Africa).await;
    let accepted_before = old.report(2008, 1, 7);
    submit(&hub, &old.sign(&accepted_before)).await.unwrap();

    let new_key = SigningKey::generate();
    let rotation = KeyRotation {
        org: "ke-cotu".parse().unwrap(),
        old_public_key: old.key.public_key(),
        new_public_key: new_key.public_key(),
        hub_key_fingerprint: fingerprint_bytes(&hub.public_key()),
        issued_at: Timestamp(1_800_000_000),
    };
    let bytes = alliance_proto::encode_key_rotation(&rotation);
    let call = RotateCall {
        org_id: "ke-cotu".into(),
        new_public_key: new_key.public_key().to_vec(),
        statement: sign(&old.key, payload_type::KEY_ROTATION, bytes.clone()),
        proof: sign(&new_key, payload_type::KEY_ROTATION, bytes.clone()),
    };
    // A statement signed by a stranger is refused.
    let mut forged = call.clone();
    forged.statement = sign(&SigningKey::generate(), payload_type::KEY_ROTATION, bytes);
    assert_refused(
        hub.rotate_key(forged, "test").await.map(|_| ()),
        RefusalReason::KeyRotation,
        "current key",
    );
    let rotated = hub.rotate_key(call, "test").await.unwrap();
    assert!(rotated.grace_until > Timestamp(0));

    // Within the grace period both keys sign.
    submit(&hub, &old.sign(&old.report(2009, 1, 1)))
        .await
        .unwrap();
    let new = Member {
        key: new_key,
        org: "ke-cotu".into(),
    };
    submit(&hub, &new.sign(&new.report(2009, 2, 2)))
        .await
        .unwrap();

    // Revoked: the old key is refused, what it signed before stays.
    let old_id = old.key.key_id().to_string();
    hub.revoke_key("ke-cotu", &old_id, "lost laptop", "test")
        .await
        .unwrap();
    assert_refused(
        hub.submit(old.sign(&old.report(2009, 3, 1)), "test")
            .await
            .map(|_| ()),
        RefusalReason::KeyNotAccepted,
        "revoked",
    );
    assert_eq!(activities(&hub, "2008"), Some(7));
    assert_eq!(activities(&hub, "2009"), Some(2));
}

#[tokio::test]
async fn after_a_storage_error_nothing_more_is_acknowledged_and_serve_stops() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = alliance_daemon::serve::bind_admin_socket(&dir.path().join("admin.sock")).unwrap();
    let serving = tokio::spawn(alliance_hub::serve::run(
        hub.clone(),
        listener,
        admin,
        std::future::pending(),
    ));
    let cotu = Member::join(&hub, "ke-cotu", "KE", Region::Africa).await;
    for year in 2008..=2010 {
        submit(&hub, &cotu.sign(&cotu.report(year, 1, 10)))
            .await
            .unwrap();
    }

    // The disk fails: the next write fails, and nothing is acknowledged from then on, not even
    // what needs no write (a duplicate).
    hub.inject_storage_failure_after(0);
    let failed = hub
        .submit(cotu.sign(&cotu.report(2011, 1, 10)), "test")
        .await;
    assert!(matches!(failed, Err(HubError::Storage(_))), "{failed:?}");
    let duplicate = hub
        .submit(cotu.sign(&cotu.report(2008, 1, 10)), "test")
        .await;
    assert!(
        matches!(duplicate, Err(HubError::Storage(_))),
        "{duplicate:?}"
    );
    assert!(hub.failure().unwrap().contains("injected"));

    // serve stops by itself and says why.
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), serving)
        .await
        .expect("serve stops after a storage failure")
        .unwrap();
    let message = format!("{:#}", stopped.expect_err("serve reports the failure"));
    assert!(message.contains("injected"), "{message}");

    // Restarted (with space), the hub has everything it acknowledged.
    drop(hub);
    let reopened = Hub::open(dir.path()).unwrap();
    assert_eq!(activities(&reopened, "2008..2010"), Some(30));
}

#[tokio::test]
async fn a_relay_enrolls_with_its_ca_and_codes_for_its_affiliates_point_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let mut relay = org("africa-relay", "KE", Region::Africa);
    relay.kind = OrgKind::RegionalOrganisation;
    let (_, code) = hub.add_org(relay, "test").await.unwrap();
    let code: JoinCode = code.code.parse().unwrap();

    // Affiliates cannot be registered through a relay that has not enrolled: its address and
    // CA are not known yet.
    let mut affiliate = org("bw-bftu", "BW", Region::Africa);
    affiliate.via = Some("africa-relay".parse().unwrap());
    let early = hub.add_org(affiliate.clone(), "test").await;
    assert!(
        matches!(&early, Err(HubError::Invalid(m)) if m.contains("not enrolled")),
        "{early:?}"
    );

    let tls =
        alliance_daemon::tls::generate("africa-relay", &["relay.example.org".into()]).unwrap();
    let ca_path = dir.path().join("relay-ca.pem");
    std::fs::write(&ca_path, &tls.ca_cert_pem).unwrap();
    let ca_der = alliance_daemon::tls::read_ca_pem(&ca_path).unwrap();
    let relay_info = alliance_proto::RelayInfo {
        ca_certificate_der: ca_der.clone(),
        public_address: "relay.example.org:7444".into(),
    };
    let key = SigningKey::generate();
    let mut call = enroll_call(&hub, &code, &key);
    call.relay = Some(relay_info.clone());
    // A proof that does not bind the relay's identity is refused.
    assert_refused(
        hub.enroll(call.clone(), "test").await.map(|_| ()),
        RefusalReason::ProofOfPossession,
        "relay",
    );
    let proof = EnrollProof {
        org: code.org_id.parse().unwrap(),
        token: code.token.clone(),
        public_key: key.public_key(),
        hub_key_fingerprint: fingerprint_bytes(&hub.public_key()),
        relay: Some(alliance_proto::RelayBinding {
            ca_certificate_sha256: alliance_daemon::tls::fingerprint(&ca_der),
            public_address: relay_info.public_address.clone(),
        }),
    };
    call.proof = sign(
        &key,
        payload_type::ENROLL_PROOF,
        alliance_proto::encode_enroll_proof(&proof),
    );
    let enrollment = hub.enroll(call, "test").await.unwrap();
    let registry = verify_pinned(
        &enrollment.registry,
        payload_type::REGISTRY,
        &hub.public_key(),
    )
    .unwrap();
    let registry = alliance_proto::decode_registry(registry.payload()).unwrap();
    assert_eq!(
        registry.relays.get(&"africa-relay".parse().unwrap()),
        Some(&relay_info)
    );

    let (_, code) = hub.add_org(affiliate, "test").await.unwrap();
    let code: JoinCode = code.code.parse().unwrap();
    assert_eq!(code.upstream, "relay.example.org:7444");
    assert_eq!(
        code.ca_fingerprint,
        alliance_daemon::tls::fingerprint(&ca_der)
    );
    assert_eq!(
        code.hub_key_fingerprint,
        fingerprint_bytes(&hub.public_key())
    );
}

#[tokio::test]
async fn an_import_registers_every_row_or_none_and_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let bad = "id,name,kind,country,region,sectors\n\
               ke-cotu,COTU (K),national_centre,KE,africa,\n\
               bwi,BWI,guf,,,construction;forestry\n\
               gh-tuc,GTUC,national_centre,GH,atlantis,\n";
    let refused = hub.import_orgs(bad.as_bytes(), "test").await;
    match refused {
        Err(HubError::Invalid(message)) => {
            assert!(message.contains("line 4, column region"), "{message}")
        }
        other => panic!("expected the bad line named, got {other:?}"),
    }
    assert!(
        hub.orgs(true).is_empty(),
        "a refused import registered something"
    );

    let twice = "id,name,kind,country,region\nke-cotu,A,national_centre,KE,africa\nke-cotu,B,national_centre,KE,africa\n";
    assert!(matches!(
        hub.import_orgs(twice.as_bytes(), "test").await,
        Err(HubError::Invalid(m)) if m.contains("line 3") && m.contains("already registered")
    ));

    let good = bad.replace("atlantis", "africa");
    let imported = hub.import_orgs(good.as_bytes(), "test").await.unwrap();
    let ids: Vec<String> = imported.iter().map(|(o, _)| o.id.to_string()).collect();
    assert_eq!(ids, ["ke-cotu", "bwi", "gh-tuc"]);
    let bwi = &imported[1].0;
    assert_eq!(bwi.region, Region::Global);
    assert_eq!(bwi.sectors, ["construction", "forestry"]);
    for (org, code) in &imported {
        let code: JoinCode = code.code.parse().unwrap();
        assert_eq!(code.org_id, org.id.to_string());
    }
    assert_eq!(hub.orgs(false).len(), 3);
}

#[tokio::test]
async fn coverage_counts_who_reported_before_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let cotu = Member::join(&hub, "ke-cotu", "KE", Region::Africa).await;
    hub.add_org(org("gh-tuc", "GH", Region::Africa), "test")
        .await
        .unwrap();
    hub.add_org(org("br-cut", "BR", Region::Americas), "test")
        .await
        .unwrap();
    // A period that ends after the organisations were registered, so all of them are expected.
    let period = alliance_core::period::Period::year(2200).unwrap();
    submit(&hub, &cotu.sign(&cotu.report(2200, 1, 4)))
        .await
        .unwrap();

    let (coverage, _) = hub.coverage(period, None).unwrap();
    assert_eq!(coverage.total.expected, 3);
    assert_eq!(coverage.total.on_time, 1);
    assert_eq!(coverage.total.missing, 2);
    assert_eq!(coverage.total.never_enrolled, 2);
    let africa = &coverage.by_region[&Region::Africa];
    assert_eq!((africa.expected, africa.on_time), (2, 1));

    // A deadline moved before the report makes it late, for good once set.
    let (_, previous) = hub
        .set_deadline(period, Timestamp(1), "test")
        .await
        .unwrap();
    assert!(previous > Timestamp(1));
    let (coverage, _) = hub.coverage(period, None).unwrap();
    assert_eq!((coverage.total.on_time, coverage.total.late), (0, 0));
    assert_eq!(
        coverage.total.expected, 0,
        "nobody was registered by the new deadline"
    );
}

#[tokio::test]
async fn a_repeated_view_is_never_older_than_the_ledger() {
    use alliance_proto::pb::query_service_server::QueryService as _;
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let queries = alliance_hub::service::QueryService::new(hub.clone());
    let cotu = Member::join(&hub, "ke-cotu", "KE", Region::Africa).await;
    let total = |view: &alliance_proto::pb::ViewResponse| {
        view.rows
            .iter()
            .find(|r| r.indicator == "awareness.activities" && r.dimension.is_empty())
            .and_then(|r| match &r.value {
                Some(alliance_proto::pb::view_row::Value::Count(c)) => Some(c.lo),
                _ => None,
            })
    };
    let ask = || async {
        let request = alliance_proto::pb::ViewRequest {
            period: "2009".into(),
            group_by: alliance_proto::pb::GroupBy::Alliance as i32,
            action_point: None,
        };
        queries
            .view(tonic::Request::new(request))
            .await
            .unwrap()
            .into_inner()
    };
    assert_eq!(total(&ask().await), None);
    submit(&hub, &cotu.sign(&cotu.report(2009, 1, 5)))
        .await
        .unwrap();
    assert_eq!(total(&ask().await), Some(5));
    assert_eq!(total(&ask().await), Some(5), "asked again, unchanged");
    submit(&hub, &cotu.sign(&cotu.report(2009, 2, 8)))
        .await
        .unwrap();
    assert_eq!(total(&ask().await), Some(8));
}

// --- helpers ---------------------------------------------------------------------------------

/// An enrolled organisation: its key and id.
struct Member {
    key: SigningKey,
    org: String,
}

impl Member {
    async fn join(hub: &Hub, id: &str, country: &str, region: Region) -> Member {
        let (_, code) = hub
            .add_org(org(id, country, region), "test")
            .await
            .expect("test setup");
        let code: JoinCode = code.code.parse().expect("a valid literal");
        let key = SigningKey::generate();
        enroll(hub, &code, &key).await.expect("test setup");
        Member {
            key,
            org: id.to_owned(),
        }
    }

    /// A report of `activities` awareness activities.
    fn report(&self, year: u16, revision: u64, activities: u64) -> Report {
        let mut values = BTreeMap::new();
        values.insert(
            "awareness.activities".parse().expect("a valid literal"),
            Value::Count(CountValue::total(activities)),
        );
        Report {
            org: self.org.parse().expect("a valid literal"),
            period: alliance_core::period::Period::year(year).expect("a valid year"),
            framework_version: 1,
            revision,
            prepared_at: Timestamp(1_265_000_000),
            prepared_by: self.org.parse().expect("a valid literal"),
            disclosure_threshold: DEFAULT_DISCLOSURE_THRESHOLD,
            withdrawn: false,
            narratives: BTreeMap::new(),
            values,
        }
    }

    fn sign(&self, report: &Report) -> Envelope {
        sign(
            &self.key,
            payload_type::REPORT,
            alliance_proto::encode_report(report),
        )
    }
}

fn init(dir: &Path) {
    let data = dir.to_str().expect("test setup");
    let cli = Cli::parse_from([
        "alliance-hub",
        "init",
        "--data",
        data,
        "--listen",
        "127.0.0.1:0",
        "--public-addr",
        "localhost:7443",
    ]);
    let Command::Init(args) = cli.command else {
        unreachable!()
    };
    alliance_hub::init::init(&args).expect("test setup");
}

fn new_hub(dir: &Path) -> Arc<Hub> {
    init(dir);
    Arc::new(Hub::open(dir).expect("test setup"))
}

fn org(id: &str, country: &str, region: Region) -> Organisation {
    Organisation {
        id: id.parse().expect("a valid literal"),
        name: id.to_uppercase(),
        kind: OrgKind::NationalCentre,
        country: Some(country.parse().expect("a valid literal")),
        region,
        sectors: vec![],
        via: None,
        hosted: false,
        registered_at: Timestamp(0),
        enrolled_at: None,
        deactivated_at: None,
        keys: vec![],
    }
}

async fn enroll(hub: &Hub, code: &JoinCode, key: &SigningKey) -> Result<(), HubError> {
    hub.enroll(enroll_call(hub, code, key), "test")
        .await
        .map(|_| ())
}

fn enroll_call(hub: &Hub, code: &JoinCode, key: &SigningKey) -> EnrollCall {
    EnrollCall {
        org_id: code.org_id.clone(),
        token: code.token.clone(),
        public_key: key.public_key().to_vec(),
        proof: proof(hub, code, &key.public_key(), key),
        relay: None,
    }
}

/// An enrollment proof for `public_key`, signed by `signer`.
fn proof(hub: &Hub, code: &JoinCode, public_key: &[u8; 32], signer: &SigningKey) -> Envelope {
    let proof = EnrollProof {
        org: code.org_id.parse().expect("a valid literal"),
        token: code.token.clone(),
        public_key: *public_key,
        hub_key_fingerprint: fingerprint_bytes(&hub.public_key()),
        relay: None,
    };
    sign(
        signer,
        payload_type::ENROLL_PROOF,
        alliance_proto::encode_enroll_proof(&proof),
    )
}

async fn submit(hub: &Hub, envelope: &Envelope) -> Result<Receipt, HubError> {
    let signed = hub.submit(envelope.clone(), "test").await?;
    let verified =
        verify_pinned(&signed, payload_type::RECEIPT, &hub.public_key()).expect("test setup");
    Ok(alliance_proto::decode_receipt(verified.payload()).expect("test setup"))
}

fn assert_refused(result: Result<(), HubError>, reason: RefusalReason, cause: &str) {
    match result {
        Err(HubError::Refused(refused)) => {
            assert_eq!(refused.reason, reason, "{}", refused.message);
            assert!(
                refused.message.contains(cause),
                "{:?} does not say {cause:?}",
                refused.message
            );
        }
        other => panic!("expected a refusal ({reason:?}), got {other:?}"),
    }
}

fn query(span: &str, by: GroupBy) -> Query {
    Query::new(span.parse().expect("a valid literal"), by)
}

/// The alliance-wide total of awareness activities, if anyone reported it.
fn activities(hub: &Hub, span: &str) -> Option<u128> {
    let view = hub
        .view(&query(span, GroupBy::Alliance))
        .expect("test setup");
    let group = view.groups.get(&GroupKey::Alliance)?;
    let count = group
        .counts
        .get(&"awareness.activities".parse().expect("a valid literal"))?;
    assert!(count.total.is_exact());
    Some(count.total.lo)
}
