//! A relay's outages and the hub's, seen from an affiliate registered `--via` the relay
//! (DESIGN.md §1, BAD_INPUTS 24): with the relay down the report stays pending with the error
//! shown; once the relay is back it is held by the relay, then decided by the hub. With the hub
//! down the relay holds what it took (its status counts it pending); once the hub is back the
//! affiliate learns the outcome and the hub's view shows the values once.

use alliance_core::OutcomeKind;
use alliance_tests::HubProcess;
use alliance_tests::node::report_in;
use alliance_tests::relay::{RELAY_ORG, RELAYED_DELIVERY, affiliate_via, start_relay, unhex};
use alliance_tests::view::equivocations;

#[tokio::test]
async fn a_relay_outage_then_a_hub_outage_delay_reports_but_lose_and_double_nothing() {
    let mut hub = HubProcess::start().await;
    let (mut relay, address) = start_relay(&hub).await;
    let mut affiliate = affiliate_via(&hub, "ke-cotu", "KE", &address);

    // The relay is down: the report is signed and queued, and stays pending with the error.
    relay.stop().await;
    affiliate.serve().await;
    affiliate.add_activities("2009-03-01", 12);
    let (first_revision, first) = affiliate.submit("2009");
    assert_eq!(first_revision, 1);
    let status = affiliate
        .wait_for(
            |s| s["last_error"].is_string() && report_in(s, &first)["attempts"].as_u64() >= Some(2),
            RELAYED_DELIVERY,
        )
        .await;
    let report = report_in(&status, &first);
    assert_eq!(report["state"], "pending", "{status:#}");
    assert!(report["receipt"].is_null(), "{status:#}");
    assert!(report["custody_receipt"].is_null(), "{status:#}");
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&address) || e.to_lowercase().contains("connect")),
        "the last error does not say the relay is unreachable: {status:#}"
    );
    assert!(
        hub.get_receipt(unhex(&first)).await.is_err(),
        "the hub holds it already"
    );

    // The relay is back: it takes the report (custody receipt), then the hub decides it.
    relay.serve().await;
    let status = affiliate
        .wait_for(
            |s| report_in(s, &first)["state"] != "pending",
            RELAYED_DELIVERY,
        )
        .await;
    let report = report_in(&status, &first);
    assert_eq!(
        report["state"], "held_by_relay",
        "the affiliate looks held reports up every 10 s, so it is held first: {status:#}"
    );
    assert_eq!(report["custody_receipt"]["relay"], RELAY_ORG, "{report:#}");
    assert!(status["last_error"].is_null(), "{status:#}");
    let status = affiliate
        .wait_for(
            |s| report_in(s, &first)["state"] == "decided",
            RELAYED_DELIVERY,
        )
        .await;
    assert_eq!(
        report_in(&status, &first)["receipt"]["outcome"],
        "accepted",
        "{status:#}"
    );
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));

    // The hub is down: the relay takes the next revision and holds it.
    hub.stop().await;
    affiliate.add_activities("2009-06-01", 5);
    let (second_revision, second) = affiliate.submit("2009");
    assert_eq!(second_revision, 2);
    affiliate
        .wait_for(
            |s| report_in(s, &second)["state"] == "held_by_relay",
            RELAYED_DELIVERY,
        )
        .await;
    let relay_status = relay
        .wait_for(
            |s| s["relayed"]["pending"] == 1 && s["last_error"].is_string(),
            RELAYED_DELIVERY,
        )
        .await;
    assert_eq!(relay_status["relayed"]["decided"], 1, "{relay_status:#}");
    assert_eq!(relay_status["relayed"]["set_aside"], 0, "{relay_status:#}");

    // The hub is back: the relay forwards, the affiliate learns the outcome.
    hub.serve().await;
    let status = affiliate
        .wait_for(
            |s| report_in(s, &second)["state"] == "decided",
            RELAYED_DELIVERY,
        )
        .await;
    let report = report_in(&status, &second);
    assert_eq!(report["receipt"]["outcome"], "accepted", "{report:#}");
    assert_eq!(report["receipt"]["winning_revision"], 2, "{report:#}");
    assert_eq!(
        report_in(&status, &first)["receipt"]["outcome"],
        "accepted",
        "the first revision's receipt is what it was when it was given"
    );
    let relay_status = relay
        .wait_for(|s| s["relayed"]["decided"] == 2, RELAYED_DELIVERY)
        .await;
    assert_eq!(relay_status["relayed"]["pending"], 0, "{relay_status:#}");

    // The hub holds both revisions once, the second winning; its view shows it once.
    for (id, revision, kind) in [
        (&first, 1, OutcomeKind::Accepted),
        (&second, 2, OutcomeKind::Accepted),
    ] {
        let stored = hub
            .get_receipt(unhex(id))
            .await
            .unwrap_or_else(|e| panic!("the hub does not hold revision {revision}: {e:?}"));
        let receipt = hub.open_receipt(&stored);
        assert_eq!(receipt.revision, revision);
        assert_eq!(receipt.outcome.kind, kind);
    }
    let view = hub.view_json("2009", "org");
    assert!(equivocations(&view).is_empty(), "{view:#}");
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (17, 17));
    assert_eq!(hub.activities_total("2009", "region", "africa"), (17, 17));
    affiliate.stop().await;
    relay.stop().await;
}
