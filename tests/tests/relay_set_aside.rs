//! BAD_INPUTS 26 at a relay: the hub refuses one envelope for good in the middle of the relay's
//! queue. Here the hub's `limits.max_message_bytes` is smaller than the relay's, and one of three
//! reports queued while the hub is down carries long narratives. When the hub is back, the big
//! one is set aside at the relay with the hub's reason, the affiliate is told that reason
//! (its status, and `GetReceipt` through the relay), and the reports behind it are decided.

use alliance_proto::pb;
use alliance_tests::HubProcess;
use alliance_tests::node::report_in;
use alliance_tests::relay::{RELAYED_DELIVERY, affiliate_via, relay_client, start_relay, unhex};

/// The hub's message limit in this test; the relay keeps its default of 4 MiB.
const HUB_LIMIT: i64 = 16 * 1024;

#[tokio::test]
async fn an_envelope_the_hub_refuses_is_set_aside_at_the_relay_and_the_queue_goes_on() {
    let mut hub = HubProcess::init();
    hub.set_config("limits", "max_message_bytes", HUB_LIMIT);
    hub.serve().await;
    let (mut relay, address) = start_relay(&hub).await;
    let mut affiliate = affiliate_via(&hub, "ke-cotu", "KE", &address);
    affiliate.serve().await;
    // A first report while the hub is up, so that the relay has fetched the registry that holds
    // the affiliate's key.
    affiliate.add_activities("2008-03-01", 3);
    let (_, warm_up) = affiliate.submit("2008");
    affiliate
        .wait_for(
            |s| report_in(s, &warm_up)["state"] == "decided",
            RELAYED_DELIVERY,
        )
        .await;

    // Three reports queued at the relay while the hub is down; the middle one is too big for
    // the hub (three narratives of 7 KB), not for the relay.
    hub.stop().await;
    let long = "Forced labour case documented in detail. ".repeat(180);
    assert!(long.len() > 7000 && long.len() < 8 * 1024);
    for action_point in ["awareness", "exposure", "monitoring"] {
        affiliate.cli_ok([
            "report",
            "narrative",
            "--period",
            "2010",
            "--action-point",
            action_point,
            "--text",
            &long,
        ]);
    }
    affiliate.add_activities("2009-03-01", 12);
    affiliate.add_activities("2010-03-01", 30);
    affiliate.add_activities("2011-03-01", 7);
    let (_, before) = affiliate.submit("2009");
    let (_, big) = affiliate.submit("2010");
    let (_, behind) = affiliate.submit("2011");
    for id in [&before, &big, &behind] {
        affiliate
            .wait_for(
                |s| report_in(s, id)["state"] == "held_by_relay",
                RELAYED_DELIVERY,
            )
            .await;
    }
    let relay_status = relay.status_json();
    assert_eq!(relay_status["relayed"]["pending"], 3, "{relay_status:#}");

    // The hub is back.
    hub.serve().await;
    let relay_status = relay
        .wait_for(
            |s| s["relayed"]["pending"] == 0 && s["relayed"]["set_aside"] == 1,
            RELAYED_DELIVERY,
        )
        .await;
    assert_eq!(relay_status["relayed"]["decided"], 3, "{relay_status:#}");

    // What the relay answers about the big one: the hub's refusal, naming the size.
    let mut client = relay_client(&relay, &address).await;
    let answer = client
        .get_receipt(pb::GetReceiptRequest {
            report_id: unhex(&big).to_vec(),
        })
        .await
        .expect("the relay answers a look-up of a report it holds")
        .into_inner();
    let Some(pb::get_receipt_response::State::Refused(refusal)) = answer.state else {
        panic!("the relay does not hand back the hub's refusal: {answer:?}");
    };
    assert!(
        refusal.message.to_lowercase().contains("too large"),
        "the refusal does not name the cause: {refusal:?}"
    );

    // The affiliate is told, and the reports behind are decided.
    let status = affiliate
        .wait_for(
            |s| {
                report_in(s, &big)["state"] == "set_aside"
                    && report_in(s, &behind)["state"] == "decided"
                    && report_in(s, &before)["state"] == "decided"
            },
            RELAYED_DELIVERY,
        )
        .await;
    let set_aside = report_in(&status, &big);
    assert!(
        set_aside["refusal"]["message"]
            .as_str()
            .is_some_and(|m| m.to_lowercase().contains("too large")),
        "the affiliate is not told the hub's reason: {set_aside:#}"
    );
    assert!(set_aside["receipt"].is_null(), "{set_aside:#}");
    for id in [&before, &behind] {
        assert_eq!(
            report_in(&status, id)["receipt"]["outcome"],
            "accepted",
            "{status:#}"
        );
    }
    assert_eq!(status["organisations"][0]["set_aside"], 1, "{status:#}");

    // The hub holds nothing of the big one; the others are in its view.
    hub.assert_not_stored(unhex(&big)).await;
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));
    assert_eq!(hub.activities_total("2011", "org", "ke-cotu"), (7, 7));
    let view_2010 = hub.view_json("2010", "org");
    assert_eq!(
        alliance_tests::view::rows_of(&view_2010, "ke-cotu"),
        0,
        "{view_2010:#}"
    );
    hub.assert_healthy().await;
    affiliate.stop().await;
    relay.stop().await;
}
