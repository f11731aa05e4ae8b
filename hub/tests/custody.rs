//! A relay's custody receipt (DESIGN.md §4: "On time = the earliest of the relay's custody
//! receipt and the hub's receipt is before the deadline"), in-process: a report a relay held
//! before the deadline counts as on time although the hub received it after; a custody receipt
//! that does not check out is ignored for timing and audited, and the report is still taken;
//! the custody time is stored, so the rebuild and a reopened hub agree.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use alliance_core::merge::Submission;
use alliance_core::org::{OrgKind, Organisation, Region};
use alliance_core::period::Period;
use alliance_core::receipt::{CustodyBatch, CustodyReceipt, OutcomeKind, Receipt, ReportId};
use alliance_core::report::{CountValue, DEFAULT_DISCLOSURE_THRESHOLD, Report, Value};
use alliance_core::timestamp::Timestamp;
use alliance_envelope::{Envelope, JoinCode, SigningKey, fingerprint_bytes, payload_type, sign};
use alliance_hub::cli::{Cli, Command};
use alliance_hub::hub::{AuditQuery, Custody, EnrollCall, Hub};
use alliance_proto::EnrollProof;
use alliance_proto::pb::{self, hub_service_server::HubService as _};
use alliance_store::AuditKind;
use clap::Parser;

/// When the relay took the reports: early in 2010, long before the deadline set below.
const CUSTODY: Timestamp = Timestamp(1_265_000_000);

/// `seconds` after [`CUSTODY`].
fn at(seconds: i64) -> Timestamp {
    Timestamp(CUSTODY.0 + seconds)
}

#[tokio::test]
async fn a_report_the_relay_held_before_the_deadline_is_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let relay = Relay::enroll(&hub, dir.path(), "africa-relay", "KE").await;
    let relayed = Member::join(&hub, "bw-bftu", "BW", Some("africa-relay")).await;
    let plain = Member::join(&hub, "na-ntuc", "NA", Some("africa-relay")).await;
    let direct = Member::join(&hub, "ke-cotu", "KE", None).await;
    let deadline = set_deadline_after_registration(&hub).await;
    let period = year(2009);

    // With the relay's custody receipt: on time, and the receipt says when the relay held it.
    let report = relayed.report(1, 4);
    let envelope = relayed.sign(&report);
    let custody = relay.custody(&report, &envelope, CUSTODY);
    let receipt = submit(&hub, &envelope, Some(custody)).await;
    assert_eq!(receipt.outcome.kind, OutcomeKind::Accepted);
    assert_eq!(receipt.first_received_at, CUSTODY);
    assert!(receipt.issued_at >= deadline, "the hub received it late");
    // The receipt asked for later is the same one.
    let id = ReportId(alliance_envelope::report_id(&envelope));
    assert_eq!(stored_receipt(&hub, &id), receipt);

    // Without one: late.
    let late = plain.sign(&plain.report(1, 4));
    let late_receipt = submit(&hub, &late, None).await;
    assert_eq!(late_receipt.first_received_at, late_receipt.issued_at);

    // A custody receipt for an organisation that reports to the hub directly is not used.
    let direct_report = direct.report(1, 4);
    let direct_envelope = direct.sign(&direct_report);
    let custody = relay.custody(&direct_report, &direct_envelope, CUSTODY);
    let direct_receipt = submit(&hub, &direct_envelope, Some(custody)).await;
    assert_eq!(direct_receipt.first_received_at, direct_receipt.issued_at);

    let (coverage, _) = hub.coverage(period, None).unwrap();
    assert_eq!(coverage.deadline, deadline);
    let standing = |org: &str| &coverage.orgs[&org.parse().unwrap()];
    assert_eq!(standing("bw-bftu").submission, Submission::OnTime);
    assert_eq!(standing("bw-bftu").first_received_at, Some(CUSTODY));
    assert_eq!(standing("na-ntuc").submission, Submission::Late);
    assert_eq!(standing("ke-cotu").submission, Submission::Late);
    assert!(hub.rebuild_matches().unwrap());

    // The late one comes again with the relay's custody receipt (the relay had held it all
    // along): the earliest known time stands, in the receipt, in coverage and in the store.
    let plain_report = plain.report(1, 4);
    let custody = relay.custody(&plain_report, &late, at(60));
    let again = submit(&hub, &late, Some(custody)).await;
    assert_eq!(again.outcome.kind, OutcomeKind::Duplicate);
    assert_eq!(again.first_received_at, at(60));
    let late_id = ReportId(alliance_envelope::report_id(&late));
    assert_eq!(stored_receipt(&hub, &late_id).first_received_at, at(60));
    // A later custody time changes nothing.
    let custody = relay.custody(&plain_report, &late, at(120));
    let later = submit(&hub, &late, Some(custody)).await;
    assert_eq!(later.first_received_at, at(60));
    let (coverage, _) = hub.coverage(period, None).unwrap();
    assert_eq!(
        coverage.orgs[&"na-ntuc".parse().unwrap()].submission,
        Submission::OnTime
    );
    assert_eq!((coverage.total.on_time, coverage.total.late), (2, 1));
    assert!(hub.rebuild_matches().unwrap());

    // Only the custody receipt for the direct organisation was refused.
    let refusals = custody_refusals(&hub);
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    assert_eq!(refusals[0].org.as_deref(), Some("ke-cotu"));
    assert!(
        refusals[0].detail.contains("to the hub directly"),
        "{:?}",
        refusals[0]
    );

    // Reopened from the store: the same coverage and receipts.
    hub.flush().unwrap();
    drop(hub);
    let reopened = Hub::open(dir.path()).unwrap();
    assert_eq!(reopened.coverage(period, None).unwrap().0, coverage);
    assert_eq!(stored_receipt(&reopened, &id).first_received_at, CUSTODY);
    assert_eq!(
        stored_receipt(&reopened, &late_id).first_received_at,
        at(60)
    );
}

#[tokio::test]
async fn a_custody_receipt_that_does_not_check_out_is_ignored_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let relay = Relay::enroll(&hub, dir.path(), "africa-relay", "KE").await;
    let other_relay = Relay::enroll(&hub, dir.path(), "americas-relay", "BR").await;
    let mut members = Vec::new();
    for (id, country) in [
        ("bw-bftu", "BW"),
        ("na-ntuc", "NA"),
        ("zm-zctu", "ZM"),
        ("gh-tuc", "GH"),
        ("ng-nlc", "NG"),
        ("sn-cnts", "SN"),
        ("tz-tucta", "TZ"),
    ] {
        members.push(Member::join(&hub, id, country, Some("africa-relay")).await);
    }
    set_deadline_after_registration(&hub).await;
    let stranger = Relay {
        id: "africa-relay".into(),
        key: SigningKey::generate(),
    };

    // Each case: the organisation, its custody receipt, and the reason it is ignored.
    let mut cases: Vec<(&Member, Envelope, &str)> = Vec::new();
    let custody_for = |member: &Member, signer: &Relay, at: Timestamp| {
        let report = member.report(1, 4);
        signer.custody(&report, &member.sign(&report), at)
    };
    // Signed by a key the hub does not know, naming the right relay.
    cases.push((
        &members[0],
        custody_for(&members[0], &stranger, CUSTODY),
        "UNKNOWN_KEY",
    ));
    // For another report of the same organisation.
    let other_report = members[1].report(2, 4);
    let other = relay.custody(&other_report, &members[1].sign(&other_report), CUSTODY);
    cases.push((&members[1], other, "MALFORMED"));
    // From a relay the organisation does not report through.
    cases.push((
        &members[2],
        custody_for(&members[2], &other_relay, CUSTODY),
        "NOT_RELAYED",
    ));
    // Dated in the future, beyond the clock skew allowed.
    let future = Timestamp(alliance_hub::hub::now().0 + 3600);
    cases.push((
        &members[3],
        custody_for(&members[3], &relay, future),
        "MALFORMED",
    ));
    // Dated before the period began.
    cases.push((
        &members[4],
        custody_for(&members[4], &relay, Timestamp(1_200_000_000)),
        "MALFORMED",
    ));
    // Signed by the relay, but naming the other relay as its issuer.
    let report = members[5].report(1, 4);
    let mut named = relay.custody_receipt(&report, &members[5].sign(&report), CUSTODY);
    named.relay = "americas-relay".parse().unwrap();
    let wrong_name = sign(
        &relay.key,
        payload_type::CUSTODY_RECEIPT,
        alliance_proto::encode_custody_receipt(&named),
    );
    cases.push((&members[5], wrong_name, "WRONG_ORGANISATION"));
    // Not a custody receipt at all.
    cases.push((
        &members[6],
        members[6].sign(&members[6].report(1, 4)),
        "PAYLOAD_TYPE",
    ));

    let count = cases.len();
    for (member, custody, _) in &cases {
        let receipt = submit(
            &hub,
            &member.sign(&member.report(1, 4)),
            Some(custody.clone()),
        )
        .await;
        assert_eq!(
            receipt.outcome.kind,
            OutcomeKind::Accepted,
            "{}",
            member.org
        );
        assert_eq!(
            receipt.first_received_at, receipt.issued_at,
            "{}: the custody receipt was used",
            member.org
        );
    }
    let (coverage, _) = hub.coverage(year(2009), None).unwrap();
    assert_eq!(coverage.total.late, count as u64);
    assert_eq!(coverage.total.on_time, 0);
    assert!(hub.rebuild_matches().unwrap());

    // Each was audited as a refusal of the custody receipt, naming why it was ignored.
    let refusals = custody_refusals(&hub);
    assert_eq!(refusals.len(), count, "{refusals:#?}");
    for ((member, _, reason), record) in cases.iter().zip(refusals.iter().rev()) {
        assert_eq!(record.reason.as_deref(), Some(*reason), "{record:?}");
        assert!(record.detail.contains("ignored"), "{}", record.detail);
        if *reason != "PAYLOAD_TYPE" {
            assert_eq!(
                record.org.as_deref(),
                Some(member.org.as_str()),
                "{record:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_batch_matches_custody_receipts_to_its_items_by_report_id_over_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let relay = Relay::enroll(&hub, dir.path(), "africa-relay", "KE").await;
    let a = Member::join(&hub, "bw-bftu", "BW", Some("africa-relay")).await;
    let b = Member::join(&hub, "na-ntuc", "NA", Some("africa-relay")).await;
    let c = Member::join(&hub, "zm-zctu", "ZM", Some("africa-relay")).await;
    set_deadline_after_registration(&hub).await;
    let service = alliance_hub::service::IngestService::new(hub.clone());

    // One report, submitted alone over the service with its custody receipt.
    let report = c.report(1, 4);
    let envelope = c.sign(&report);
    let answer = service
        .submit(tonic::Request::new(pb::SubmitRequest {
            envelope: Some((&envelope).into()),
            custody_receipt: Some((&relay.custody(&report, &envelope, CUSTODY)).into()),
        }))
        .await
        .unwrap()
        .into_inner();
    let Some(pb::submit_response::Receipt::HubReceipt(signed)) = answer.receipt else {
        panic!("no hub receipt: {answer:?}");
    };
    let receipt = open_receipt(&hub, &Envelope::from(signed));
    assert_eq!(receipt.first_received_at, CUSTODY);

    // A batch of two, their custody receipts in the other order.
    let (ra, rb) = (a.report(1, 4), b.report(1, 4));
    let (ea, eb) = (a.sign(&ra), b.sign(&rb));
    let answer = service
        .submit_batch(tonic::Request::new(pb::SubmitBatchRequest {
            envelopes: vec![(&ea).into(), (&eb).into()],
            custody_receipts: vec![
                (&relay.custody(&rb, &eb, at(2))).into(),
                (&relay.custody(&ra, &ea, at(1))).into(),
            ],
            custody_batch: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.refusals.is_empty(), "{:?}", answer.refusals);
    let Some(pb::submit_batch_response::Receipts::BatchReceipt(signed)) = answer.receipts else {
        panic!("no batch receipt");
    };
    let verified = alliance_envelope::verify_pinned(
        &Envelope::from(signed),
        payload_type::BATCH_RECEIPT,
        &hub.public_key(),
    )
    .unwrap();
    let batch = alliance_proto::decode_batch_receipt(verified.payload()).unwrap();
    let times: Vec<Timestamp> = batch.receipts.iter().map(|r| r.first_received_at).collect();
    assert_eq!(times, [at(1), at(2)]);
    for r in &batch.receipts {
        assert_eq!(stored_receipt(&hub, &r.report_id), *r);
    }

    // The same batch again, with an earlier custody time for one item given twice: the
    // earliest stands, stored once.
    let answer = hub
        .submit_batch_with_custody(
            vec![ea.clone(), ea.clone()],
            Custody {
                receipts: vec![
                    relay.custody(&ra, &ea, at(-10)),
                    relay.custody(&ra, &ea, at(-5)),
                ],
                batch: None,
            },
            "test",
        )
        .await
        .unwrap();
    assert!(answer.refusals.is_empty());
    let id = ReportId(alliance_envelope::report_id(&ea));
    assert_eq!(stored_receipt(&hub, &id).first_received_at, at(-10));

    let (coverage, _) = hub.coverage(year(2009), None).unwrap();
    assert_eq!(coverage.total.on_time, 3);
    assert!(hub.rebuild_matches().unwrap());
    assert!(custody_refusals(&hub).is_empty());

    // Too many custody receipts for one batch: refused as too large.
    let limit = hub.config().limits.max_batch_items;
    let status = service
        .submit_batch(tonic::Request::new(pb::SubmitBatchRequest {
            envelopes: vec![(&ea).into()],
            custody_receipts: vec![(&relay.custody(&ra, &ea, CUSTODY)).into(); limit + 1],
            custody_batch: None,
        }))
        .await
        .unwrap_err();
    assert!(status.message().contains("custody receipts"), "{status:?}");
}

#[tokio::test]
async fn a_custody_batch_is_verified_once_and_each_entry_checked_as_a_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let hub = new_hub(dir.path());
    let relay = Relay::enroll(&hub, dir.path(), "africa-relay", "KE").await;
    let other_relay = Relay::enroll(&hub, dir.path(), "americas-relay", "BR").await;
    let a = Member::join(&hub, "bw-bftu", "BW", Some("africa-relay")).await;
    let b = Member::join(&hub, "na-ntuc", "NA", Some("africa-relay")).await;
    let c = Member::join(&hub, "zm-zctu", "ZM", Some("africa-relay")).await;
    set_deadline_after_registration(&hub).await;
    let service = alliance_hub::service::IngestService::new(hub.clone());

    // Three items under one custody batch over the service: a's and b's entries check out;
    // c's describes another revision, and one entry names a report that is not in the batch.
    let (ra, rb, rc) = (a.report(1, 4), b.report(1, 4), c.report(1, 4));
    let (ea, eb, ec) = (a.sign(&ra), b.sign(&rb), c.sign(&rc));
    let mut wrong_revision = relay.custody_receipt(&rc, &ec, at(3));
    wrong_revision.revision = 2;
    let absent = c.report(2, 4);
    let batch = relay.custody_batch(vec![
        relay.custody_receipt(&rb, &eb, at(2)),
        relay.custody_receipt(&ra, &ea, at(1)),
        wrong_revision,
        relay.custody_receipt(&absent, &c.sign(&absent), at(4)),
    ]);
    let answer = service
        .submit_batch(tonic::Request::new(pb::SubmitBatchRequest {
            envelopes: vec![(&ea).into(), (&eb).into(), (&ec).into()],
            custody_receipts: Vec::new(),
            custody_batch: Some((&batch).into()),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.refusals.is_empty(), "{:?}", answer.refusals);
    let times: Vec<(String, Timestamp)> = [&ea, &eb, &ec]
        .iter()
        .map(|e| {
            let r = stored_receipt(&hub, &ReportId(alliance_envelope::report_id(e)));
            (r.org.to_string(), r.first_received_at)
        })
        .collect();
    assert_eq!(times[0], ("bw-bftu".to_owned(), at(1)));
    assert_eq!(times[1], ("na-ntuc".to_owned(), at(2)));
    assert!(times[2].1 > at(3), "c's entry was used: {times:?}");
    let refusals = custody_refusals(&hub);
    assert_eq!(refusals.len(), 2, "{refusals:#?}");
    for record in &refusals {
        assert_eq!(record.reason.as_deref(), Some("MALFORMED"), "{record:?}");
        assert_eq!(record.org.as_deref(), Some("zm-zctu"), "{record:?}");
        assert!(record.detail.contains("ignored"), "{}", record.detail);
    }
    assert!(refusals.iter().any(|r| r.detail.contains("revision 2")));
    assert!(refusals.iter().any(|r| r.detail.contains("not any report")));

    // Batches that are not to be trusted for any entry: each item is taken, at the hub's own
    // time, and the batch is audited once (or, from a relay its organisations do not report
    // through, once per entry).
    let stranger = Relay {
        id: "africa-relay".into(),
        key: SigningKey::generate(),
    };
    let cases: [(&Relay, &str, &str, usize); 3] = [
        (&stranger, payload_type::CUSTODY_BATCH, "UNKNOWN_KEY", 1),
        (&relay, payload_type::CUSTODY_RECEIPT, "PAYLOAD_TYPE", 1),
        (&other_relay, payload_type::CUSTODY_BATCH, "NOT_RELAYED", 2),
    ];
    for (revision, (signer, kind, reason, audited)) in (2..).zip(cases) {
        let (ra, rb) = (a.report(revision, 4), b.report(revision, 4));
        let (ea, eb) = (a.sign(&ra), b.sign(&rb));
        let entries = CustodyBatch {
            receipts: vec![
                signer.custody_receipt(&ra, &ea, at(1)),
                signer.custody_receipt(&rb, &eb, at(2)),
            ],
        };
        let batch = sign(
            &signer.key,
            kind,
            alliance_proto::encode_custody_batch(&entries),
        );
        let before = custody_refusals(&hub).len();
        let answer = hub
            .submit_batch_with_custody(
                vec![ea.clone(), eb.clone()],
                Custody {
                    receipts: Vec::new(),
                    batch: Some(batch),
                },
                "test",
            )
            .await
            .unwrap();
        assert!(
            answer.refusals.is_empty(),
            "{reason}: {:?}",
            answer.refusals
        );
        for e in [&ea, &eb] {
            let receipt = stored_receipt(&hub, &ReportId(alliance_envelope::report_id(e)));
            assert_eq!(receipt.outcome.kind, OutcomeKind::Accepted, "{reason}");
            assert_eq!(
                receipt.first_received_at, receipt.issued_at,
                "{reason}: the custody batch was used"
            );
        }
        let refusals = custody_refusals(&hub);
        assert_eq!(refusals.len() - before, audited, "{reason}: {refusals:#?}");
        for record in &refusals[..audited] {
            assert_eq!(record.reason.as_deref(), Some(reason), "{record:?}");
            assert!(record.detail.contains("ignored"), "{}", record.detail);
        }
    }
    assert!(hub.rebuild_matches().unwrap());
}

// --- helpers ---------------------------------------------------------------------------------

/// Sets the deadline of 2009 to the moment the last organisation was registered, so that every
/// one is expected and whatever the hub receives from now on is late; returns it.
async fn set_deadline_after_registration(hub: &Hub) -> Timestamp {
    let deadline = hub
        .orgs(true)
        .iter()
        .map(|(o, _)| o.registered_at)
        .max()
        .expect("test setup");
    hub.set_deadline(year(2009), deadline, "test")
        .await
        .expect("test setup");
    deadline
}

fn year(y: u16) -> Period {
    Period::year(y).expect("test setup")
}

/// An enrolled relay: its id and key.
struct Relay {
    id: String,
    key: SigningKey,
}

impl Relay {
    async fn enroll(hub: &Hub, dir: &Path, id: &str, country: &str) -> Relay {
        let mut org = org(id, country, None);
        org.kind = OrgKind::RegionalOrganisation;
        let (_, code) = hub.add_org(org, "test").await.expect("test setup");
        let code: JoinCode = code.code.parse().expect("test setup");
        let tls =
            alliance_daemon::tls::generate(id, &[format!("{id}.example.org")]).expect("test setup");
        let ca_path = dir.join(format!("{id}-ca.pem"));
        std::fs::write(&ca_path, &tls.ca_cert_pem).expect("test setup");
        let ca_der = alliance_daemon::tls::read_ca_pem(&ca_path).expect("test setup");
        let relay_info = alliance_proto::RelayInfo {
            ca_certificate_der: ca_der.clone(),
            public_address: format!("{id}.example.org:7444"),
        };
        let key = SigningKey::generate();
        let proof = EnrollProof {
            org: code.org_id.parse().expect("test setup"),
            token: code.token.clone(),
            public_key: key.public_key(),
            hub_key_fingerprint: fingerprint_bytes(&hub.public_key()),
            relay: Some(alliance_proto::RelayBinding {
                ca_certificate_sha256: alliance_daemon::tls::fingerprint(&ca_der),
                public_address: relay_info.public_address.clone(),
            }),
        };
        let call = EnrollCall {
            org_id: code.org_id.clone(),
            token: code.token.clone(),
            public_key: key.public_key().to_vec(),
            proof: sign(
                &key,
                payload_type::ENROLL_PROOF,
                alliance_proto::encode_enroll_proof(&proof),
            ),
            relay: Some(relay_info),
        };
        hub.enroll(call, "test").await.expect("test setup");
        Relay {
            id: id.to_owned(),
            key,
        }
    }

    fn custody_receipt(
        &self,
        report: &Report,
        envelope: &Envelope,
        at: Timestamp,
    ) -> CustodyReceipt {
        CustodyReceipt {
            report_id: ReportId(alliance_envelope::report_id(envelope)),
            relay: self.id.parse().expect("test setup"),
            org: report.org.clone(),
            period: report.period,
            revision: report.revision,
            received_at: at,
        }
    }

    /// The relay's custody batch of `entries`, signed once.
    fn custody_batch(&self, entries: Vec<CustodyReceipt>) -> Envelope {
        sign(
            &self.key,
            payload_type::CUSTODY_BATCH,
            alliance_proto::encode_custody_batch(&CustodyBatch { receipts: entries }),
        )
    }

    /// The relay's signed custody receipt for `envelope`, holding `report`, taken at `at`.
    fn custody(&self, report: &Report, envelope: &Envelope, at: Timestamp) -> Envelope {
        sign(
            &self.key,
            payload_type::CUSTODY_RECEIPT,
            alliance_proto::encode_custody_receipt(&self.custody_receipt(report, envelope, at)),
        )
    }
}

/// An enrolled organisation: its key and id.
struct Member {
    key: SigningKey,
    org: String,
}

impl Member {
    async fn join(hub: &Hub, id: &str, country: &str, via: Option<&str>) -> Member {
        let (_, code) = hub
            .add_org(org(id, country, via), "test")
            .await
            .expect("test setup");
        let code: JoinCode = code.code.parse().expect("test setup");
        let key = SigningKey::generate();
        let proof = EnrollProof {
            org: code.org_id.parse().expect("test setup"),
            token: code.token.clone(),
            public_key: key.public_key(),
            hub_key_fingerprint: fingerprint_bytes(&hub.public_key()),
            relay: None,
        };
        let call = EnrollCall {
            org_id: code.org_id.clone(),
            token: code.token.clone(),
            public_key: key.public_key().to_vec(),
            proof: sign(
                &key,
                payload_type::ENROLL_PROOF,
                alliance_proto::encode_enroll_proof(&proof),
            ),
            relay: None,
        };
        hub.enroll(call, "test").await.expect("test setup");
        Member {
            key,
            org: id.to_owned(),
        }
    }

    /// A report for 2009 of `activities` awareness activities.
    fn report(&self, revision: u64, activities: u64) -> Report {
        let mut values = BTreeMap::new();
        values.insert(
            "awareness.activities".parse().expect("test setup"),
            Value::Count(CountValue::total(activities)),
        );
        Report {
            org: self.org.parse().expect("test setup"),
            period: year(2009),
            framework_version: 1,
            revision,
            prepared_at: Timestamp(1_265_000_000),
            prepared_by: self.org.parse().expect("test setup"),
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

fn org(id: &str, country: &str, via: Option<&str>) -> Organisation {
    Organisation {
        id: id.parse().expect("test setup"),
        name: id.to_uppercase(),
        kind: OrgKind::NationalCentre,
        country: Some(country.parse().expect("test setup")),
        region: if matches!(country, "BR") {
            Region::Americas
        } else {
            Region::Africa
        },
        sectors: vec![],
        via: via.map(|v| v.parse().expect("test setup")),
        hosted: false,
        registered_at: Timestamp(0),
        enrolled_at: None,
        deactivated_at: None,
        keys: vec![],
    }
}

fn new_hub(dir: &Path) -> Arc<Hub> {
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
    Arc::new(Hub::open(dir).expect("test setup"))
}

async fn submit(hub: &Hub, envelope: &Envelope, custody: Option<Envelope>) -> Receipt {
    let signed = hub
        .submit_with_custody(envelope.clone(), custody, "test")
        .await
        .expect("test setup");
    open_receipt(hub, &signed)
}

fn open_receipt(hub: &Hub, signed: &Envelope) -> Receipt {
    let verified =
        alliance_envelope::verify_pinned(signed, payload_type::RECEIPT, &hub.public_key())
            .expect("test setup");
    alliance_proto::decode_receipt(verified.payload()).expect("test setup")
}

/// The receipt the hub signs again for a stored report.
fn stored_receipt(hub: &Hub, id: &ReportId) -> Receipt {
    open_receipt(hub, &hub.receipt(id).expect("test setup").expect("stored"))
}

/// The audited refusals of custody receipts, newest first.
fn custody_refusals(hub: &Hub) -> Vec<alliance_store::AuditRecord> {
    let (records, _) = hub
        .audit(AuditQuery {
            limit: 0,
            kind: Some(AuditKind::Refusal),
        })
        .expect("test setup");
    records
        .into_iter()
        .filter(|r| r.action == "custody receipt")
        .collect()
}
