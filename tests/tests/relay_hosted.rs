//! A hosted affiliate (DESIGN.md §1, §3, §6): an affiliate that runs no node. The hub issues a
//! code with `org add --via RELAY --hosted`; the relay takes it on with `alliance-node org add`,
//! making and keeping its key by delegation; records and reports then live on the relay's node,
//! picked with `--org ID`. The report is decided by the hub, the hub's view shows it as the
//! affiliate's (never the relay's own), and it says the relay prepared it.

use alliance_tests::node::{assert_view_shows_preview, report_in};
use alliance_tests::relay::{RELAY_ORG, start_relay};
use alliance_tests::{HubProcess, join_code_in};

#[tokio::test]
async fn a_relay_reports_for_a_hosted_affiliate_and_says_it_prepared_the_report() {
    let hub = HubProcess::start().await;
    let (mut relay, _) = start_relay(&hub).await;
    let relay_keys = relay.key_files();

    let run = hub.cli_ok([
        "org",
        "add",
        "--id",
        "bi-cosybu",
        "--name",
        "COSYBU Burundi",
        "--kind",
        "national_centre",
        "--country",
        "BI",
        "--region",
        "africa",
        "--via",
        RELAY_ORG,
        "--hosted",
    ]);
    let code = join_code_in(&run.stdout).expect("org add --hosted printed a join code");
    assert_eq!(code.org_id, "bi-cosybu");

    let run = relay.cli_ok(["org", "add", "--join", &code.to_string()]);
    assert!(run.stdout.contains("bi-cosybu"), "{run:?}");
    // A new key on the relay for the hosted affiliate, known to the hub as its key.
    let keys = relay.key_files();
    assert_eq!(keys.len(), relay_keys.len() + 1, "{keys:?}");
    let hosted_key = keys
        .iter()
        .find(|k| !relay_keys.contains(k))
        .expect("the hosted affiliate's key")
        .clone();
    let show = hub.cli_json(&["org", "show", "bi-cosybu"]);
    let hub_keys = show["organisation"]["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys: {show:#}"));
    assert!(
        hub_keys
            .iter()
            .any(|k| k["key_id"] == hosted_key.as_str() && k["state"] == "active"),
        "the hub does not hold the hosted key as active: {show:#}"
    );
    // The same code again is refused: the relay already holds the affiliate.
    let again = relay.cli(["org", "add", "--join", &code.to_string()]);
    assert!(!again.success(), "{again:?}");

    relay.cli_ok([
        "record",
        "add",
        "--org",
        "bi-cosybu",
        "--date",
        "2009-03-01",
        "--indicator",
        "awareness.activities",
        "--value",
        "9",
    ]);
    let preview = relay.cli_json(&[
        "report",
        "preview",
        "--period",
        "2009",
        "--org",
        "bi-cosybu",
    ]);
    assert_eq!(preview["report"]["org"], "bi-cosybu", "{preview:#}");
    assert_eq!(preview["report"]["prepared_by"], RELAY_ORG, "{preview:#}");

    let run = relay.cli_ok(["report", "submit", "--period", "2009", "--org", "bi-cosybu"]);
    let (revision, report_id) = alliance_tests::node::parse_queued(&run.stdout)
        .unwrap_or_else(|| panic!("report submit printed no revision and id: {run:?}"));
    assert_eq!(revision, 1);
    let status = relay.wait_decided(&report_id).await;
    let report = report_in(&status, &report_id);
    assert_eq!(report["receipt"]["outcome"], "accepted", "{report:#}");
    // A hosted affiliate's report is the relay's own work, not relayed for someone else.
    assert_eq!(status["relayed"]["decided"], 0, "{status:#}");
    let hosted = status["organisations"]
        .as_array()
        .expect("organisations")
        .iter()
        .find(|o| o["org"] == "bi-cosybu")
        .unwrap_or_else(|| panic!("the status does not show the hosted affiliate: {status:#}"));
    assert_eq!(hosted["key_id"], hosted_key.as_str(), "{status:#}");

    let view = hub.view_json("2009", "org");
    assert_eq!(hub.activities_total("2009", "org", "bi-cosybu"), (9, 9));
    assert_view_shows_preview(&view, &preview, "bi-cosybu", "BI");
    assert_eq!(
        alliance_tests::view::rows_of(&view, RELAY_ORG),
        0,
        "the hosted affiliate's report counted as the relay's own: {view:#}"
    );
    // The hub holds it as prepared by the relay.
    let stored = hub
        .get_receipt(alliance_tests::relay::unhex(&report_id))
        .await
        .expect("the hub holds the report");
    let receipt = hub.open_receipt(&stored);
    assert_eq!(receipt.org.to_string(), "bi-cosybu");
    relay.stop().await;
}
