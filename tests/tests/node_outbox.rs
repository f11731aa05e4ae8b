//! The node's outbox (DESIGN.md §1, §7; BAD_INPUTS 21, 24, 26): a report submitted while the hub
//! is down is queued and delivered when it comes back, without another command; an upstream
//! whose certificate does not chain to the pinned CA gets nothing; an envelope the hub refuses for
//! good is set aside with its reason while the queue goes on; a withdrawal takes the
//! organisation's values out of the hub's view.

use alliance_tests::node::{DELIVERY_TIMEOUT, report_in};
use alliance_tests::view::{rows, rows_of};
use alliance_tests::{HubProcess, NodeProcess};

#[tokio::test]
async fn a_report_submitted_while_the_hub_is_down_is_delivered_when_it_comes_back() {
    let mut hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    node.serve().await;
    node.add_activities("2009-03-01", 12);
    hub.stop().await;

    let (revision, report_id) = node.submit("2009");
    assert_eq!(revision, 1);

    let status = node
        .wait_for(|s| s["last_error"].is_string(), DELIVERY_TIMEOUT)
        .await;
    let report = report_in(&status, &report_id);
    assert_eq!(report["state"], "pending", "{status:#}");
    assert!(status["last_error_at"].is_string(), "{status:#}");
    assert_eq!(status["organisations"][0]["pending"], 1, "{status:#}");

    hub.serve().await;
    let status = node.wait_decided(&report_id).await;
    let report = report_in(&status, &report_id);
    assert_eq!(report["receipt"]["outcome"], "accepted", "{report:#}");
    assert!(
        report["attempts"].as_u64().is_some_and(|a| a >= 2),
        "delivered at the first attempt while the hub was down? {report:#}"
    );
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));
    node.stop().await;
}

#[tokio::test]
async fn an_upstream_whose_certificate_comes_from_another_ca_is_sent_nothing() {
    let hub_a = HubProcess::start().await;
    let hub_b = HubProcess::start().await;
    // Hub B knows an organisation of the same id, so a delivery there would show in its view.
    hub_b.add_org("ke-cotu", "national_centre", "KE", "africa");
    let (mut node, _) = NodeProcess::enrolled(&hub_a, "ke-cotu");
    node.set_config("", "upstream", hub_b.addr());
    node.add_activities("2009-03-01", 12);
    node.serve().await;

    let (_, report_id) = node.submit("2009");

    let status = node
        .wait_for(|s| s["last_error"].is_string(), DELIVERY_TIMEOUT)
        .await;
    let error = status["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        error.contains("certificate") || error.contains("tls") || error.contains("issuer"),
        "the last error does not name the certificate problem: {status:#}"
    );
    // Give it a few more attempts: it must go on refusing to talk to hub B.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let status = node.status_json();
    assert_eq!(
        report_in(&status, &report_id)["state"],
        "pending",
        "{status:#}"
    );
    assert_eq!(rows_of(&hub_b.view_json("2009", "org"), "ke-cotu"), 0);
    assert_eq!(rows_of(&hub_a.view_json("2009", "org"), "ke-cotu"), 0);
    let audit = hub_b.audit_json();
    assert_eq!(
        audit["refusals_total"], 0,
        "hub B heard something: {audit:#}"
    );
    node.stop().await;
}

#[tokio::test]
async fn an_envelope_refused_for_good_is_set_aside_and_the_queue_goes_on() {
    // Tonic refuses a request over the limit with OUT_OF_RANGE before the service sees it: a
    // final refusal without details.
    let mut hub = HubProcess::init();
    hub.set_config("limits", "max_message_bytes", 3000);
    hub.serve().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    node.add_activities("2009-03-01", 12);
    node.add_activities("2010-03-01", 20);
    let narrative = "Awareness raising in the Mombasa port area. ".repeat(120);
    assert!(narrative.len() > 5000);
    node.cli_ok([
        "report",
        "narrative",
        "--period",
        "2009",
        "--action-point",
        "awareness",
        "--text",
        &narrative,
    ]);
    let (_, too_big) = node.submit("2009");
    let (_, fine) = node.submit("2010");

    node.serve().await;
    let status = node.wait_all_delivered(2).await;

    let set_aside = report_in(&status, &too_big);
    assert_eq!(set_aside["state"], "set_aside", "{status:#}");
    let message = set_aside["refusal"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        message.contains("too large") || message.contains("limit"),
        "the refusal does not name the cause: {set_aside:#}"
    );
    let delivered = report_in(&status, &fine);
    assert_eq!(delivered["state"], "decided", "{status:#}");
    assert_eq!(delivered["receipt"]["outcome"], "accepted", "{status:#}");
    assert_eq!(status["organisations"][0]["set_aside"], 1, "{status:#}");
    assert_eq!(status["organisations"][0]["decided"], 1, "{status:#}");
    assert_eq!(rows_of(&hub.view_json("2009", "org"), "ke-cotu"), 0);
    assert_eq!(hub.activities_total("2010", "org", "ke-cotu"), (20, 20));
    // The text status shows it too.
    let text = node.cli_ok(["status"]);
    assert!(text.stdout.contains("set aside"), "{text:?}");
    node.stop().await;
}

#[tokio::test]
async fn a_report_sent_after_its_key_was_revoked_is_set_aside_with_the_hubs_reason() {
    let hub = HubProcess::start().await;
    let (mut node, summary) = NodeProcess::enrolled(&hub, "ke-cotu");
    let key_id = summary["key_id"].as_str().expect("key id").to_owned();
    node.add_activities("2009-03-01", 12);
    node.add_activities("2010-03-01", 20);
    let (_, first) = node.submit("2009");
    hub.cli_ok([
        "org",
        "revoke-key",
        "ke-cotu",
        "--key",
        &key_id,
        "--reason",
        "lost laptop",
    ]);
    let (_, second) = node.submit("2010");

    node.serve().await;
    let status = node.wait_all_delivered(2).await;

    for id in [&first, &second] {
        let report = report_in(&status, id);
        assert_eq!(report["state"], "set_aside", "{status:#}");
        assert!(
            report["refusal"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains("revoked"),
            "the refusal does not say the key is revoked: {report:#}"
        );
        assert_ne!(report["refusal"]["reason"], "REFUSAL_REASON_UNSPECIFIED");
    }
    assert_eq!(status["organisations"][0]["set_aside"], 2, "{status:#}");
    assert!(node.is_running(), "the outbox stopped the node");
    node.stop().await;
}

#[tokio::test]
async fn a_withdrawal_takes_the_organisations_values_out_of_the_view() {
    let hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    let (other, _) = NodeProcess::enrolled(&hub, "ug-notu");
    node.add_activities("2009-03-01", 12);
    other.add_activities("2009-05-01", 4);
    other.submit("2009");
    node.submit("2009");
    node.serve().await;
    let mut other = other;
    other.serve().await;
    node.wait_all_delivered(1).await;
    other.wait_all_delivered(1).await;
    assert_eq!(
        hub.activities_total("2009", "alliance", "alliance"),
        (16, 16)
    );

    let run = node.cli_ok(["report", "withdraw", "--period", "2009"]);
    let (revision, id) =
        alliance_tests::node::parse_queued(&run.stdout).expect("withdraw prints the revision");
    assert_eq!(revision, 2);
    let status = node.wait_decided(&id).await;
    let report = report_in(&status, &id);
    assert_eq!(report["withdrawn"], true, "{report:#}");
    assert_eq!(report["receipt"]["outcome"], "accepted", "{report:#}");

    let view = hub.view_json("2009", "org");
    assert!(
        rows(&view)
            .iter()
            .filter(|r| r["group"] == "ke-cotu")
            .all(|r| r["count"]["hi"] == 0 || r["count"].is_null()),
        "the withdrawn organisation still counts: {view:#}"
    );
    assert_eq!(hub.activities_total("2009", "alliance", "alliance"), (4, 4));
    node.stop().await;
    other.stop().await;
}
