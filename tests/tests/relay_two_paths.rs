//! The same report by two paths (BAD_INPUTS 15): an affiliate submits through its relay, and
//! the same signed envelope, exported with `report export`, is carried by hand to the hub with
//! `alliance-hub import`. The hub counts it once: the view is not doubled, the relay's delivery
//! is accepted and the import is a duplicate naming the first receipt's time; the report id is
//! the same both ways.

use alliance_core::OutcomeKind;
use alliance_tests::HubProcess;
use alliance_tests::node::report_in;
use alliance_tests::relay::{RELAYED_DELIVERY, affiliate_via, export_envelope, start_relay, unhex};
use alliance_tests::view::equivocations;

#[tokio::test]
async fn a_report_through_the_relay_and_by_hand_is_counted_once() {
    let hub = HubProcess::start().await;
    let (mut relay, address) = start_relay(&hub).await;
    let mut affiliate = affiliate_via(&hub, "ke-cotu", "KE", &address);
    affiliate.add_activities("2009-03-01", 12);
    let (_, report_id) = affiliate.submit("2009");
    let (envelope, file) = export_envelope(&affiliate, None, "2009");
    assert_eq!(
        alliance_tests::hex(&alliance_envelope::report_id(&envelope)),
        report_id,
        "the exported envelope is the queued one"
    );

    // Path 1: through the relay.
    affiliate.serve().await;
    let status = affiliate
        .wait_for(
            |s| report_in(s, &report_id)["state"] == "decided",
            RELAYED_DELIVERY,
        )
        .await;
    let report = report_in(&status, &report_id);
    assert_eq!(report["receipt"]["outcome"], "accepted", "{report:#}");
    let first_received = report["receipt"]["first_received_at"].clone();
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));
    let view = hub.view_json("2009", "org");

    // Path 2: the same envelope, carried by hand.
    let import = hub.cli_json(&["import", &file]);
    let result = &import["results"][0];
    assert_eq!(result["result"], "stored", "{import:#}");
    assert_eq!(result["receipt"]["outcome"], "duplicate", "{import:#}");
    assert_eq!(
        result["receipt"]["report_id"],
        report_id.as_str(),
        "{import:#}"
    );
    assert_eq!(
        result["receipt"]["first_received_at"], first_received,
        "the duplicate names when the hub first held it: {import:#}"
    );

    assert_eq!(hub.view_json("2009", "org"), view, "the view changed");
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));
    assert_eq!(hub.activities_total("2009", "region", "africa"), (12, 12));
    assert!(equivocations(&view).is_empty(), "{view:#}");
    let stored = hub.get_receipt(unhex(&report_id)).await.expect("stored");
    assert_eq!(
        hub.open_receipt(&stored).outcome.kind,
        OutcomeKind::Accepted,
        "the hub's stored receipt is still the first delivery's"
    );
    let relay_status = relay.status_json();
    assert_eq!(relay_status["relayed"]["decided"], 1, "{relay_status:#}");

    affiliate.stop().await;
    relay.stop().await;
}

#[tokio::test]
async fn a_report_carried_by_hand_first_then_through_the_relay_is_counted_once() {
    let hub = HubProcess::start().await;
    let (mut relay, address) = start_relay(&hub).await;
    let mut affiliate = affiliate_via(&hub, "ke-cotu", "KE", &address);
    affiliate.add_activities("2009-03-01", 12);
    let (_, report_id) = affiliate.submit("2009");
    let (_, file) = export_envelope(&affiliate, None, "2009");

    let import = hub.cli_json(&["import", &file]);
    assert_eq!(import["results"][0]["result"], "stored", "{import:#}");
    assert_eq!(
        import["results"][0]["receipt"]["outcome"], "accepted",
        "{import:#}"
    );
    let view = hub.view_json("2009", "org");
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));

    // The affiliate's own delivery reaches the hub second: a duplicate, so the affiliate is
    // shown the receipt of the first delivery.
    affiliate.serve().await;
    let status = affiliate
        .wait_for(
            |s| report_in(s, &report_id)["state"] == "decided",
            RELAYED_DELIVERY,
        )
        .await;
    let report = report_in(&status, &report_id);
    assert!(
        report["receipt"]["outcome"] == "accepted" || report["receipt"]["outcome"] == "duplicate",
        "{report:#}"
    );
    assert_eq!(report["receipt"]["winning_revision"], 1, "{report:#}");
    assert_eq!(hub.view_json("2009", "org"), view, "the view changed");
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));
    let relay_status = relay.status_json();
    assert_eq!(relay_status["relayed"]["decided"], 1, "{relay_status:#}");
    assert_eq!(relay_status["relayed"]["set_aside"], 0, "{relay_status:#}");

    affiliate.stop().await;
    relay.stop().await;
}
