//! Crashes while a report goes through a relay (BAD_INPUTS 23): an affiliate that aborts right
//! after sending its report to the relay (crash point `after-sending`), one that aborts after the
//! relay handed it the hub's receipt and before it stored it (`before-receipt-stored`), one killed
//! with SIGKILL right after queueing, and a relay that aborts right after forwarding to the hub.
//! After the restart every revision is decided exactly once at the affiliate, once at the relay,
//! and the hub holds it once, accepted or superseded; its view shows the latest revision once.

use std::time::Duration;

use alliance_core::OutcomeKind;
use alliance_tests::node::{all_reports, report_in};
use alliance_tests::relay::{RELAY_ORG, RELAYED_DELIVERY, affiliate_via, start_relay, unhex};
use alliance_tests::view::equivocations;
use alliance_tests::{HubProcess, NodeProcess};
use serde_json::Value;

/// Waits until the affiliate holds `count` reports, all decided.
async fn all_decided(affiliate: &NodeProcess, count: usize) -> Value {
    affiliate
        .wait_for(
            |s| {
                let reports = all_reports(s);
                reports.len() == count && reports.iter().all(|r| r["state"] == "decided")
            },
            RELAYED_DELIVERY,
        )
        .await
}

/// Every revision in the status once, decided accepted or superseded, held by the hub once with
/// that outcome; the relay decided each once; the view shows `total`, once.
async fn assert_exactly_once(hub: &HubProcess, relay: &NodeProcess, status: &Value, total: u64) {
    let reports = all_reports(status);
    let mut revisions: Vec<u64> = reports
        .iter()
        .map(|r| r["revision"].as_u64().expect("a revision"))
        .collect();
    revisions.sort_unstable();
    let expected: Vec<u64> = (1..=reports.len() as u64).collect();
    assert_eq!(
        revisions, expected,
        "revisions lost or given twice: {status:#}"
    );
    let latest = *revisions.last().expect("a report");
    for report in &reports {
        let revision = report["revision"].as_u64().expect("a revision");
        let outcome = &report["receipt"]["outcome"];
        let want = if revision == latest {
            "accepted"
        } else {
            "superseded"
        };
        assert!(
            outcome == want || (revision != latest && outcome == "accepted"),
            "revision {revision} shows {outcome}: {status:#}"
        );
        let id = report["report_id"].as_str().expect("an id");
        let stored = hub
            .get_receipt(unhex(id))
            .await
            .unwrap_or_else(|e| panic!("the hub does not hold revision {revision}: {e:?}"));
        let receipt = hub.open_receipt(&stored);
        assert_eq!(receipt.revision, revision);
        assert!(
            matches!(
                receipt.outcome.kind,
                OutcomeKind::Accepted | OutcomeKind::Superseded
            ),
            "the hub gave revision {revision} the outcome {:?}",
            receipt.outcome.kind
        );
    }
    let relay_status = relay
        .wait_for(
            |s| s["relayed"]["decided"] == reports.len(),
            RELAYED_DELIVERY,
        )
        .await;
    assert_eq!(relay_status["relayed"]["pending"], 0, "{relay_status:#}");
    assert_eq!(relay_status["relayed"]["set_aside"], 0, "{relay_status:#}");
    let view = hub.view_json("2009", "org");
    assert!(equivocations(&view).is_empty(), "{view:#}");
    assert_eq!(
        hub.activities_total("2009", "org", "ke-cotu"),
        (total, total),
        "the view is not the latest revision's, once"
    );
}

/// The affiliate aborts at `point` during its first delivery through the relay; after the
/// restart it delivers that revision and a second one, each exactly once.
async fn affiliate_crashes_at(point: &str) {
    let hub = HubProcess::start().await;
    let (mut relay, address) = start_relay(&hub).await;
    let mut affiliate = affiliate_via(&hub, "ke-cotu", "KE", &address);
    let armed = format!("{point}=return");
    affiliate.serve_with_env(&[("FAILPOINTS", &armed)]).await;
    affiliate.add_activities("2009-03-01", 12);
    let (_, first) = affiliate.submit("2009");

    let exit = affiliate.wait_exit(RELAYED_DELIVERY).await;
    assert!(!exit.success(), "the affiliate exited with {exit}");
    assert!(
        affiliate
            .log()
            .contains(&format!("crash point {point} reached")),
        "the affiliate did not abort at {point}: {}",
        affiliate.log()
    );
    // The relay took the envelope before the affiliate died.
    let relay_status = relay.status_json();
    assert_eq!(
        relay_status["relayed"]["pending"].as_u64().unwrap_or(0)
            + relay_status["relayed"]["decided"].as_u64().unwrap_or(0),
        1,
        "{relay_status:#}"
    );

    affiliate.serve().await;
    all_decided(&affiliate, 1).await;
    affiliate.add_activities("2009-06-01", 5);
    let (revision, _) = affiliate.submit("2009");
    assert_eq!(revision, 2, "a revision number was given out twice");
    let status = all_decided(&affiliate, 2).await;
    assert_eq!(
        report_in(&status, &first)["custody_receipt"]["relay"],
        RELAY_ORG,
        "{status:#}"
    );
    assert_exactly_once(&hub, &relay, &status, 17).await;
    affiliate.stop().await;
    relay.stop().await;
}

#[tokio::test]
async fn an_affiliate_crashing_after_sending_to_the_relay_counts_nothing_twice() {
    affiliate_crashes_at("after-sending").await;
}

#[tokio::test]
async fn an_affiliate_crashing_before_storing_the_hubs_receipt_counts_nothing_twice() {
    affiliate_crashes_at("before-receipt-stored").await;
}

#[tokio::test]
async fn an_affiliate_killed_while_pushing_to_the_relay_loses_nothing() {
    let hub = HubProcess::start().await;
    let (relay, address) = start_relay(&hub).await;
    let mut affiliate = affiliate_via(&hub, "ke-cotu", "KE", &address);
    affiliate.serve().await;
    affiliate.add_activities("2009-03-01", 12);
    affiliate.submit("2009");
    affiliate.add_activities("2009-06-01", 5);
    affiliate.submit("2009");
    // Somewhere in the push of the two revisions, different at each run.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    tokio::time::sleep(Duration::from_millis(u64::from(nanos % 200))).await;
    affiliate.kill();

    affiliate.serve().await;
    let status = all_decided(&affiliate, 2).await;
    assert_exactly_once(&hub, &relay, &status, 17).await;
    affiliate.stop().await;
}

#[tokio::test]
async fn a_relay_crashing_after_forwarding_to_the_hub_counts_nothing_twice() {
    let hub = HubProcess::start().await;
    let (mut relay, address) = start_relay(&hub).await;
    let mut affiliate = affiliate_via(&hub, "ke-cotu", "KE", &address);
    relay.stop().await;
    relay
        .serve_with_env(&[("FAILPOINTS", "after-sending=return")])
        .await;
    affiliate.serve().await;
    affiliate.add_activities("2009-03-01", 12);
    affiliate.submit("2009");

    let exit = relay.wait_exit(RELAYED_DELIVERY).await;
    assert!(!exit.success(), "the relay exited with {exit}");
    assert!(
        relay.log().contains("crash point after-sending reached"),
        "the relay did not abort after forwarding: {}",
        relay.log()
    );
    relay.serve().await;
    all_decided(&affiliate, 1).await;
    affiliate.add_activities("2009-06-01", 5);
    affiliate.submit("2009");
    let status = all_decided(&affiliate, 2).await;
    assert_exactly_once(&hub, &relay, &status, 17).await;
    affiliate.stop().await;
    relay.stop().await;
}
