//! A real hub, started from its command line on a temporary directory, ingesting signed reports
//! over TLS: what the hub issue must show (a valid report accepted and shown in the view, a
//! lower revision superseded, the same view after a graceful restart and after SIGKILL), and
//! the delivery cases of BAD_INPUTS.md (15–18), which are not refusals: the envelope is
//! authentic, so it is stored and answered with a signed outcome.

use alliance_core::OutcomeKind;
use alliance_envelope::{Envelope, SigningKey, report_id, verify_pinned};
use alliance_proto::{WinningRevision, pb};
use alliance_tests::view::{count_cell, count_total, equivocations, rows};
use alliance_tests::{HubProcess, ReportBuilder};
use serde_json::Value;

#[tokio::test]
async fn a_valid_report_from_an_enrolled_organisation_is_accepted_and_shown_in_the_view() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;

    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let receipt = hub.submit_ok(&envelope).await;

    assert_eq!(receipt.outcome.kind, OutcomeKind::Accepted);
    assert_eq!(receipt.org.as_str(), "ke-cotu");
    assert_eq!(receipt.period.to_string(), "2009");
    assert_eq!(receipt.revision, 1);
    assert_eq!(receipt.outcome.winning_revision, 1);
    assert_eq!(receipt.outcome.winning_report_id.0, report_id(&envelope));
    assert_eq!(receipt.first_received_at, receipt.issued_at);
    let view = hub.view_json("2009", "org");
    assert_eq!(
        count_total(&view, "ke-cotu", "awareness.activities"),
        (12, 12)
    );
    assert_eq!(
        count_cell(
            &view,
            "ke-cotu",
            "awareness.people_reached",
            "sex",
            "female"
        ),
        (25, 25)
    );
    let alliance = hub.view_json("2009", "alliance");
    assert_eq!(
        count_total(&alliance, "alliance", "awareness.activities"),
        (12, 12)
    );
}

#[tokio::test]
async fn the_stored_receipt_is_the_one_given() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let given = hub.submit_ok(&envelope).await;

    let stored = hub
        .get_receipt(report_id(&envelope))
        .await
        .expect("the hub holds the receipt");

    assert_eq!(hub.open_receipt(&stored), given);
}

#[tokio::test]
async fn a_lower_revision_is_superseded_naming_the_winning_revision() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let second = ReportBuilder::new("ke-cotu")
        .revision(2)
        .count("awareness.activities", 20)
        .sign(&cotu.key);
    hub.submit_ok(&second).await;
    let view = hub.view_json("2009", "org");

    let first = ReportBuilder::new("ke-cotu").revision(1).sign(&cotu.key);
    let receipt = hub.submit_ok(&first).await;

    assert_eq!(receipt.outcome.kind, OutcomeKind::Superseded);
    assert_eq!(receipt.revision, 1);
    assert_eq!(receipt.outcome.winning_revision, 2);
    assert_eq!(receipt.outcome.winning_report_id.0, report_id(&second));
    assert_eq!(
        hub.view_json("2009", "org"),
        view,
        "a superseded report changes nothing"
    );
    assert_eq!(
        count_total(&view, "ke-cotu", "awareness.activities"),
        (20, 20)
    );
    // Kept in history: its receipt is stored.
    let stored = hub.get_receipt(report_id(&first)).await.expect("kept");
    assert_eq!(
        hub.open_receipt(&stored).outcome.kind,
        OutcomeKind::Superseded
    );
}

#[tokio::test]
async fn a_restarted_hub_shows_the_same_view() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let receipt = hub.submit_ok(&envelope).await;
    let view = hub.view_json("2009", "org");

    hub.stop().await;
    let stopped = hub.view_json("2009", "org");
    hub.serve().await;

    assert_eq!(
        stopped, view,
        "the CLI reads the same view from the stopped hub's database"
    );
    assert_eq!(hub.view_json("2009", "org"), view);
    let stored = hub.get_receipt(report_id(&envelope)).await.expect("kept");
    assert_eq!(hub.open_receipt(&stored), receipt);
    // And it goes on ingesting with the same key.
    let next = ReportBuilder::new("ke-cotu").revision(2).sign(&cotu.key);
    assert_eq!(
        hub.submit_ok(&next).await.outcome.kind,
        OutcomeKind::Accepted
    );
}

#[tokio::test]
async fn everything_acknowledged_survives_sigkill() {
    let mut hub = HubProcess::start().await;
    let orgs = [hub.new_org("ke-cotu").await, hub.new_org("ug-notu").await];
    let mut receipts = Vec::new();
    let mut envelopes = Vec::new();
    for (i, org) in orgs.iter().enumerate() {
        for revision in 1..=3 {
            let envelope = ReportBuilder::new(&org.org_id)
                .revision(revision)
                .count("awareness.activities", 10 * i as u64 + revision)
                .sign(&org.key);
            receipts.push(hub.submit_ok(&envelope).await);
            envelopes.push(envelope);
        }
    }
    let view = hub.view_json("2009", "org");

    hub.kill();
    hub.serve().await;

    assert_eq!(hub.view_json("2009", "org"), view);
    for (envelope, receipt) in envelopes.iter().zip(&receipts) {
        let stored = hub.get_receipt(report_id(envelope)).await.expect("kept");
        assert_eq!(&hub.open_receipt(&stored), receipt);
    }
    // Nothing is counted twice: a resubmission after the restart is a duplicate.
    let again = hub.submit_ok(&envelopes[2]).await;
    assert_eq!(again.outcome.kind, OutcomeKind::Duplicate);
    assert_eq!(hub.view_json("2009", "org"), view);
}

#[tokio::test]
async fn envelopes_imported_into_a_stopped_hub_are_served_when_it_starts() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let file = hub.scratch_dir().join("carried.json");
    std::fs::write(&file, envelope.to_json()).expect("write the file");
    hub.stop().await;

    hub.cli_ok(["import".as_ref(), file.as_os_str()]);
    hub.serve().await;

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
async fn a_client_that_connects_and_says_nothing_does_not_hold_up_shutdown() {
    let mut hub = HubProcess::start().await;
    let _silent = std::net::TcpStream::connect(hub.addr()).expect("the port accepts");

    hub.stop().await;
}

#[tokio::test]
async fn a_connected_client_that_stops_responding_does_not_hold_up_shutdown() {
    let mut hub = HubProcess::start().await;
    // A client on a runtime of its own makes a call, then freezes (as a suspended process or a
    // partitioned network would) while holding its HTTP/2 connection open. A graceful shutdown
    // asks it to go away and waits; it must not wait forever.
    let frozen = FrozenClient::connect(&hub).await;

    hub.stop().await;

    frozen.release();
}

/// A gRPC client whose runtime is blocked until released, with a connection to the hub open.
struct FrozenClient {
    release: std::sync::mpsc::Sender<()>,
}

impl FrozenClient {
    async fn connect(hub: &HubProcess) -> FrozenClient {
        let (addr, ca) = (hub.addr(), hub.ca_der());
        let (connected, wait_connected) = tokio::sync::oneshot::channel();
        let (release, wait_release) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let channel = runtime.block_on(async {
                let channel = alliance_tests::tls_channel(&addr, &ca)
                    .await
                    .expect("connects");
                assert!(alliance_tests::is_serving(channel.clone()).await);
                channel
            });
            let _ = connected.send(());
            // Blocks the runtime: nothing answers the server on this connection any more.
            let _ = wait_release.recv();
            drop(channel);
        });
        wait_connected.await.expect("the client connected");
        FrozenClient { release }
    }

    fn release(self) {
        let _ = self.release.send(());
    }
}

#[tokio::test]
async fn coverage_shows_who_reported_who_did_not_and_who_never_enrolled() {
    let hub = HubProcess::start().await;
    // Only organisations registered by a period's deadline are expected, so the period is the
    // current year, whose deadline is still ahead.
    let year = &alliance_tests::now().to_string()[..4];
    let cotu = hub.new_org("ke-cotu").await;
    hub.new_org("ug-notu").await;
    hub.add_org("tz-tucta", "national_centre", "TZ", "africa");
    let envelope = ReportBuilder::new("ke-cotu").period(year).sign(&cotu.key);
    hub.submit_ok(&envelope).await;

    let coverage = hub.cli_json(&["coverage", "--period", year]);

    let state = |org: &str| {
        coverage["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["org_id"] == org))
            .unwrap_or_else(|| panic!("{org} is not in the coverage:\n{coverage:#}"))
            .clone()
    };
    assert_eq!(state("ke-cotu")["state"], "on_time", "{coverage:#}");
    assert_eq!(state("ke-cotu")["revision"], 1, "{coverage:#}");
    assert_eq!(state("ug-notu")["state"], "missing", "{coverage:#}");
    assert_eq!(state("ug-notu")["enrolled"], true, "{coverage:#}");
    assert_eq!(state("tz-tucta")["state"], "missing", "{coverage:#}");
    assert_eq!(state("tz-tucta")["enrolled"], false, "{coverage:#}");
    let africa = coverage["regions"]
        .as_array()
        .and_then(|regions| regions.iter().find(|r| r["region"] == "africa"))
        .unwrap_or_else(|| panic!("no africa in the coverage:\n{coverage:#}"));
    assert_eq!(africa["expected"], 3, "{coverage:#}");
    assert_eq!(africa["on_time"], 1, "{coverage:#}");
    assert_eq!(africa["missing"], 2, "{coverage:#}");
    assert_eq!(africa["never_enrolled"], 1, "{coverage:#}");
}

// BAD_INPUTS.md 15: an exact duplicate is answered as such, with the original time, and
// counted once.
#[tokio::test]
async fn a_duplicate_is_answered_with_the_original_first_received_time_and_counted_once() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let first = hub.submit_ok(&envelope).await;
    let view = hub.view_json("2009", "org");

    let again = hub.submit_ok(&envelope).await;
    // The same report re-signed (as after a key rotation) has the same id: also a duplicate.
    let mut resigned = envelope.clone();
    resigned.resign(&cotu.key);
    let third = hub.submit_ok(&resigned).await;

    for duplicate in [&again, &third] {
        assert_eq!(duplicate.outcome.kind, OutcomeKind::Duplicate);
        assert_eq!(duplicate.report_id, first.report_id);
        assert_eq!(duplicate.first_received_at, first.first_received_at);
        assert_eq!(duplicate.outcome.winning_revision, 1);
    }
    assert_eq!(hub.view_json("2009", "org"), view);
    assert_eq!(
        count_total(&view, "ke-cotu", "awareness.activities"),
        (12, 12)
    );
}

// BAD_INPUTS.md 16: see also `a_lower_revision_is_superseded_naming_the_winning_revision`;
// here the lower revision arrives after a gap and a replay of the winner.
#[tokio::test]
async fn an_old_revision_arriving_after_a_gap_is_superseded_and_a_replay_is_a_duplicate() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let revisions: Vec<Envelope> = [1, 5]
        .into_iter()
        .map(|r| {
            ReportBuilder::new("ke-cotu")
                .revision(r)
                .count("awareness.activities", r)
                .sign(&cotu.key)
        })
        .collect();
    hub.submit_ok(&revisions[0]).await;
    let winner = hub.submit_ok(&revisions[1]).await;
    assert_eq!(winner.outcome.kind, OutcomeKind::Accepted);
    let view = hub.view_json("2009", "org");

    let replay = hub.submit_ok(&revisions[0]).await;

    assert_eq!(replay.outcome.kind, OutcomeKind::Duplicate);
    assert_eq!(replay.outcome.winning_revision, 5);
    let late = ReportBuilder::new("ke-cotu").revision(3).sign(&cotu.key);
    let late = hub.submit_ok(&late).await;
    assert_eq!(late.outcome.kind, OutcomeKind::Superseded);
    assert_eq!(late.outcome.winning_revision, 5);
    assert_eq!(hub.view_json("2009", "org"), view);
    assert_eq!(
        count_total(&view, "ke-cotu", "awareness.activities"),
        (5, 5)
    );
}

// BAD_INPUTS.md 17: same revision, different bytes.
#[tokio::test]
async fn an_equivocation_is_stored_flagged_in_the_view_and_answered_as_such() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let a = ReportBuilder::new("ke-cotu").revision(2).sign(&cotu.key);
    let b = ReportBuilder::new("ke-cotu")
        .revision(2)
        .count("awareness.activities", 99)
        .sign(&cotu.key);
    hub.submit_ok(&a).await;

    let receipt = hub.submit_ok(&b).await;

    assert_eq!(receipt.outcome.kind, OutcomeKind::Equivocation);
    assert_eq!(receipt.outcome.winning_revision, 2);
    let smallest = report_id(&a).min(report_id(&b));
    assert_eq!(
        receipt.outcome.winning_report_id.0, smallest,
        "the smallest id wins"
    );
    let view = hub.view_json("2009", "org");
    let flagged = equivocations(&view);
    assert_eq!(flagged.len(), 1, "{view:#}");
    assert_eq!(flagged[0]["org_id"], "ke-cotu", "{view:#}");
    assert_eq!(flagged[0]["revision"], 2, "{view:#}");
    let shown = count_total(&view, "ke-cotu", "awareness.activities");
    let expected = if smallest == report_id(&a) { 12 } else { 99 };
    assert_eq!(shown, (expected, expected), "the view shows the winner");
    for envelope in [&a, &b] {
        hub.get_receipt(report_id(envelope))
            .await
            .expect("both kept as evidence");
    }
}

// BAD_INPUTS.md 18: rev 3a, rev 4 and rev 3b in every order give the same view, with the
// equivocation flagged in all.
#[tokio::test]
async fn every_order_of_two_equivocating_revisions_and_a_higher_one_gives_the_same_view() {
    let hub = HubProcess::start().await;
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut views = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        let org_id = format!("order-{i}");
        let org = hub.new_org(&org_id).await;
        let reports = three_reports(&org_id, &org.key);
        let mut outcomes = Vec::new();
        for &which in order {
            outcomes.push((which, hub.submit_ok(&reports[which]).await));
        }

        // Whichever of 3a and 3b came second is an equivocation; rev 4 wins in the end.
        let second_three = outcomes
            .iter()
            .filter(|(which, _)| *which != 1)
            .nth(1)
            .map(|(_, receipt)| receipt)
            .expect("two reports of revision 3");
        assert_eq!(
            second_three.outcome.kind,
            OutcomeKind::Equivocation,
            "order {order:?}: {outcomes:?}"
        );
        let last = &outcomes[2].1;
        assert_eq!(last.outcome.winning_revision, 4, "order {order:?}");
        assert_eq!(last.outcome.winning_report_id.0, report_id(&reports[1]));
        let winner = winning_revision(&hub, &org_id)
            .await
            .winner
            .expect("a winner");
        assert_eq!(
            (winner.revision, winner.report_id.0),
            (4, report_id(&reports[1]))
        );

        let view = hub.view_json("2009", "org");
        let flagged: Vec<&Value> = equivocations(&view)
            .iter()
            .filter(|e| e["org_id"] == org_id.as_str())
            .collect();
        assert_eq!(flagged.len(), 1, "order {order:?}: {view:#}");
        assert_eq!(flagged[0]["revision"], 3, "order {order:?}");
        views.push(org_part(&view, &org_id));
    }
    for (order, view) in orders.iter().zip(&views) {
        assert_eq!(view, &views[0], "order {order:?} gives another view");
    }
}

/// Rev 3a, rev 4 and rev 3b of one organisation's 2009 report.
fn three_reports(org: &str, key: &SigningKey) -> [Envelope; 3] {
    [
        ReportBuilder::new(org)
            .revision(3)
            .narrative("awareness", "3a")
            .sign(key),
        ReportBuilder::new(org)
            .revision(4)
            .count("awareness.activities", 44)
            .sign(key),
        ReportBuilder::new(org)
            .revision(3)
            .narrative("awareness", "3b")
            .sign(key),
    ]
}

#[tokio::test]
async fn a_batch_is_answered_with_one_hub_signature_and_its_refusals_by_index() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let notu = hub.new_org("ug-notu").await;
    let good = ReportBuilder::new("ke-cotu").sign(&cotu.key);
    let mut forged = ReportBuilder::new("ug-notu").sign(&notu.key);
    forged.payload[5] ^= 1;
    let other = ReportBuilder::new("ug-notu").sign(&notu.key);
    let envelopes = [&good, &forged, &other];

    let response = hub
        .ingest_client()
        .await
        .submit_batch(pb::SubmitBatchRequest {
            envelopes: envelopes.iter().map(|e| pb::Envelope::from(*e)).collect(),
            custody_receipts: Vec::new(),
            custody_batch: None,
        })
        .await
        .expect("a batch with one bad item is answered")
        .into_inner();

    let Some(pb::submit_batch_response::Receipts::BatchReceipt(batch)) = response.receipts else {
        panic!("no batch receipt: {:?}", response.receipts);
    };
    let batch = verify_pinned(
        &batch.into(),
        alliance_envelope::payload_type::BATCH_RECEIPT,
        &hub.hub_key(),
    )
    .expect("the batch receipt is signed by the hub");
    let batch = alliance_proto::decode_batch_receipt(batch.payload()).expect("decodes");
    let ids: Vec<[u8; 32]> = batch.receipts.iter().map(|r| r.report_id.0).collect();
    assert_eq!(ids, [report_id(&good), report_id(&other)]);
    assert!(
        batch
            .receipts
            .iter()
            .all(|r| r.outcome.kind == OutcomeKind::Accepted)
    );
    assert_eq!(response.refusals.len(), 1, "{:?}", response.refusals);
    assert_eq!(response.refusals[0].index, 1);
    let refusal = response.refusals[0].refusal.as_ref().expect("a reason");
    assert_eq!(refusal.reason(), pb::RefusalReason::Signature);
    hub.assert_not_stored(report_id(&forged)).await;
    // GetReceipt answers for the stored items.
    hub.get_receipt(report_id(&other)).await.expect("stored");
}

#[tokio::test]
async fn an_unknown_report_id_has_no_receipt() {
    let hub = HubProcess::start().await;

    hub.assert_not_stored([7; 32]).await;
}

#[tokio::test]
async fn the_winning_revision_is_a_signed_statement() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let second = ReportBuilder::new("ke-cotu").revision(2).sign(&cotu.key);
    hub.submit_ok(&second).await;
    hub.submit_ok(&ReportBuilder::new("ke-cotu").sign(&cotu.key))
        .await;

    let winning = winning_revision(&hub, "ke-cotu").await;

    assert_eq!(winning.org.as_str(), "ke-cotu");
    assert_eq!(winning.period.to_string(), "2009");
    let winner = winning.winner.expect("a winner");
    assert_eq!(winner.revision, 2);
    assert_eq!(winner.report_id.0, report_id(&second));
}

/// `GetWinningRevision` of the organisation's 2009, verified under the hub key.
async fn winning_revision(hub: &HubProcess, org: &str) -> WinningRevision {
    let answer = hub
        .ingest_client()
        .await
        .get_winning_revision(pb::GetWinningRevisionRequest {
            org_id: org.to_owned(),
            period: "2009".to_owned(),
        })
        .await
        .expect("the hub answers")
        .into_inner()
        .winning_revision
        .expect("a statement");
    let verified = verify_pinned(
        &answer.into(),
        alliance_envelope::payload_type::WINNING_REVISION,
        &hub.hub_key(),
    )
    .expect("signed by the hub");
    alliance_proto::decode_winning_revision(verified.payload()).expect("decodes")
}

/// The rows and equivocations of one organisation, with its id and report ids taken out, so
/// that the views of different organisations can be compared.
fn org_part(view: &Value, org: &str) -> Value {
    let rows: Vec<Value> = rows(view)
        .iter()
        .filter(|row| row["group"] == org)
        .map(|row| {
            let mut row = row.clone();
            row["group"] = Value::Null;
            row
        })
        .collect();
    let equivocations: Vec<Value> = equivocations(view)
        .iter()
        .filter(|e| e["org_id"] == org)
        .map(|e| serde_json::json!({ "period": e["period"], "revision": e["revision"] }))
        .collect();
    serde_json::json!({ "rows": rows, "equivocations": equivocations })
}
