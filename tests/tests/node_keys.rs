//! Key rotation from the node's command line (DESIGN.md §3, §6): queued reports are re-signed
//! with the new key and keep their report ids; an envelope exported before the rotation, signed
//! by the old key, is still accepted by the hub within the grace period.

use alliance_tests::node::report_in;
use alliance_tests::{HubProcess, NodeProcess};

#[tokio::test]
async fn queued_reports_are_re_signed_on_rotation_and_keep_their_report_ids() {
    let hub = HubProcess::start().await;
    let (mut node, summary) = NodeProcess::enrolled(&hub, "ke-cotu");
    let old_key = summary["key_id"].as_str().expect("key id").to_owned();
    node.add_activities("2009-03-01", 12);
    let (_, report_id) = node.submit("2009");
    let exported = node.scratch_dir().join("2009.json");
    node.cli_ok([
        "report".as_ref(),
        "export".as_ref(),
        "--period".as_ref(),
        "2009".as_ref(),
        "--output".as_ref(),
        exported.as_os_str(),
    ]);

    let run = node.cli_ok(["key", "rotate"]);

    assert!(run.stdout.contains("1 queued reports re-signed"), "{run:?}");
    let keys = node.key_files();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let new_key = keys
        .iter()
        .find(|k| **k != old_key)
        .expect("a new key file")
        .clone();
    assert!(run.stdout.contains(&new_key), "{run:?}");
    let status = node.status_json();
    assert_eq!(status["organisations"][0]["key_id"], new_key.as_str());
    assert_eq!(
        report_in(&status, &report_id)["state"],
        "pending",
        "{status:#}"
    );
    let show = hub.cli_json(&["org", "show", "ke-cotu"]);
    let hub_keys = show["organisation"]["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys: {show:#}"));
    let state_of = |id: &str| {
        hub_keys
            .iter()
            .find(|k| k["key_id"] == id)
            .map(|k| k["state"].clone())
            .unwrap_or_else(|| panic!("the hub does not know key {id}: {show:#}"))
    };
    assert_eq!(state_of(&new_key), "active");
    assert_eq!(state_of(&old_key), "rotated");

    // The envelope exported before the rotation, signed by the old key, within its grace.
    let import = hub.cli_json(&["import", exported.to_str().expect("a UTF-8 path")]);
    let result = &import["results"][0];
    assert_eq!(result["result"], "stored", "{import:#}");
    assert_eq!(result["receipt"]["outcome"], "accepted", "{import:#}");
    assert_eq!(
        result["receipt"]["report_id"],
        report_id.as_str(),
        "{import:#}"
    );

    // The re-signed envelope: same report id, so the hub counts it once.
    node.serve().await;
    let status = node.wait_all_delivered(1).await;
    let report = report_in(&status, &report_id);
    assert_eq!(report["state"], "decided", "{status:#}");
    assert_eq!(report["receipt"]["outcome"], "accepted", "{report:#}");
    assert_eq!(report["receipt"]["winning_report_id"], report_id.as_str());
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));

    // New reports are signed by the new key, which the hub accepts.
    let (revision, second) = node.submit("2009");
    assert_eq!(revision, 2);
    let status = node.wait_decided(&second).await;
    assert_eq!(
        report_in(&status, &second)["receipt"]["outcome"],
        "accepted",
        "{status:#}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_rotation_the_hub_cannot_hear_changes_nothing() {
    let mut hub = HubProcess::start().await;
    let (node, summary) = NodeProcess::enrolled(&hub, "ke-cotu");
    let old_key = summary["key_id"].as_str().expect("key id").to_owned();
    hub.stop().await;

    let run = node.cli(["key", "rotate"]);

    assert!(
        !run.success(),
        "a rotation succeeded with the hub down: {run:?}"
    );
    assert!(
        run.stderr.contains(&hub.addr()) || run.stderr.to_lowercase().contains("upstream"),
        "the error does not name the upstream: {run:?}"
    );
    assert_eq!(
        node.status_json()["organisations"][0]["key_id"],
        old_key.as_str()
    );
}
