//! Concurrent submissions to a running hub: the decision for one (org, period) is taken in one
//! order for everyone, concurrent requests share flushes without losing any, and what was
//! acknowledged under load survives SIGKILL.

use alliance_core::OutcomeKind;
use alliance_envelope::report_id;
use alliance_tests::view::count_total;
use alliance_tests::{HubProcess, ReportBuilder};
use futures::future::join_all;

/// How many calls are in flight at once.
const IN_FLIGHT: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_copies_of_one_report_are_accepted_once() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let envelope = ReportBuilder::new("ke-cotu").sign(&cotu.key);

    let receipts = join_all((0..IN_FLIGHT).map(|_| hub.submit(&envelope))).await;

    let receipts: Vec<_> = receipts
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("a copy was refused: {e:?}")))
        .collect();
    let accepted = receipts
        .iter()
        .filter(|r| r.outcome.kind == OutcomeKind::Accepted)
        .count();
    assert_eq!(accepted, 1, "{receipts:?}");
    assert!(receipts.iter().all(|r| matches!(
        r.outcome.kind,
        OutcomeKind::Accepted | OutcomeKind::Duplicate
    )));
    let first = receipts[0].first_received_at;
    assert!(receipts.iter().all(|r| r.first_received_at == first));
    let view = hub.view_json("2009", "org");
    assert_eq!(
        count_total(&view, "ke-cotu", "awareness.activities"),
        (12, 12)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_equivocating_reports_get_one_acceptance_and_one_equivocation() {
    let hub = HubProcess::start().await;
    let cotu = hub.new_org("ke-cotu").await;
    let a = ReportBuilder::new("ke-cotu")
        .narrative("awareness", "a")
        .sign(&cotu.key);
    let b = ReportBuilder::new("ke-cotu")
        .narrative("awareness", "b")
        .sign(&cotu.key);

    let (ra, rb) = futures::join!(hub.submit(&a), hub.submit(&b));

    let mut kinds = [
        ra.expect("stored").outcome.kind,
        rb.expect("stored").outcome.kind,
    ];
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(kinds, [OutcomeKind::Accepted, OutcomeKind::Equivocation]);
    let view = hub.view_json("2009", "org");
    assert_eq!(
        view["equivocations"].as_array().map(Vec::len),
        Some(1),
        "{view:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_reports_in_flight_are_all_stored_and_survive_sigkill() {
    let mut hub = HubProcess::start().await;
    let mut orgs = Vec::new();
    for i in 0..8 {
        orgs.push(hub.new_org(&format!("org-{i}")).await);
    }
    let envelopes: Vec<_> = orgs
        .iter()
        .flat_map(|org| {
            (2001..2009).map(|year| {
                ReportBuilder::new(&org.org_id)
                    .period(&year.to_string())
                    .sign(&org.key)
            })
        })
        .collect();
    assert_eq!(envelopes.len(), IN_FLIGHT);

    let receipts = join_all(envelopes.iter().map(|e| hub.submit(e))).await;

    for receipt in &receipts {
        let receipt = receipt
            .as_ref()
            .unwrap_or_else(|e| panic!("refused under load: {e:?}"));
        assert_eq!(receipt.outcome.kind, OutcomeKind::Accepted);
    }
    let view = hub.view_json("2001..2008", "alliance");
    let total = 12 * IN_FLIGHT as u64;
    assert_eq!(
        count_total(&view, "alliance", "awareness.activities"),
        (total, total)
    );

    hub.kill();
    hub.serve().await;

    assert_eq!(hub.view_json("2001..2008", "alliance"), view);
    for envelope in &envelopes {
        hub.get_receipt(report_id(envelope))
            .await
            .unwrap_or_else(|e| panic!("an acknowledged report was lost: {e:?}"));
    }
}
