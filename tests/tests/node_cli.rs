//! What the node issue must show, from the command line only, on temporary directories: a hub
//! and a node set up as their operators would, records of every value kind, a report submitted
//! and delivered, the hub's view showing exactly what the node's preview said would leave it,
//! and the node's status showing the hub's receipt. Then the record commands (list, CSV import
//! all or nothing, delete) and the commands in direct mode while the node is stopped.

use alliance_tests::node::{assert_view_shows_preview, report_in};
use alliance_tests::view::rows_of;
use alliance_tests::{HubProcess, NodeProcess};
use serde_json::Value;

/// A count, a sensitive count with a sex breakdown, a status per convention, a flag and an
/// amount with its currency, all in 2009.
fn add_records_of_every_kind(node: &NodeProcess) {
    let date = ["--date", "2009-03-01"];
    let add = |rest: &[&str]| {
        let mut args = date.to_vec();
        args.extend_from_slice(rest);
        node.record_add(&args);
    };
    add(&["--indicator", "awareness.activities", "--value", "12"]);
    add(&["--indicator", "awareness.activities", "--value", "3"]);
    add(&[
        "--indicator",
        "exposure.cases_documented",
        "--value",
        "3",
        "--sex",
        "female",
    ]);
    add(&[
        "--indicator",
        "exposure.cases_documented",
        "--value",
        "9",
        "--sex",
        "male",
    ]);
    add(&[
        "--indicator",
        "ratification.convention_status",
        "--status",
        "ratified",
        "--convention",
        "c29",
    ]);
    add(&[
        "--indicator",
        "internal_support.policy_adopted",
        "--flag",
        "yes",
    ]);
    add(&[
        "--indicator",
        "internal_support.budget_allocated",
        "--amount",
        "10.50",
        "--currency",
        "EUR",
    ]);
}

#[tokio::test]
async fn a_report_made_from_the_command_line_reaches_the_hub_exactly_as_previewed() {
    let hub = HubProcess::start().await;
    let (mut node, summary) = NodeProcess::enrolled(&hub, "ke-cotu");
    assert_eq!(summary["org"], "ke-cotu");
    assert_eq!(summary["framework_version"], 1);
    node.serve().await;

    add_records_of_every_kind(&node);
    let preview = node.preview_json("2009");
    let values = &preview["report"]["values"];
    assert_eq!(values["awareness.activities"]["total"], 15);
    // 3 female cases is below the threshold of 5: withheld, and so is the rest of the breakdown.
    assert_eq!(
        values["exposure.cases_documented"]["breakdowns"]["sex"]["female"],
        "withheld"
    );
    assert_eq!(values["exposure.cases_documented"]["total"], 12);
    assert_eq!(
        values["ratification.convention_status"]["status"]["c29"],
        "ratified"
    );
    assert_eq!(values["internal_support.policy_adopted"]["flag"], true);
    assert_eq!(
        values["internal_support.budget_allocated"]["amount"]["EUR"],
        "10.50"
    );
    let (revision, report_id) = node.submit("2009");
    assert_eq!(revision, 1);

    let status = node.wait_decided(&report_id).await;
    let report = report_in(&status, &report_id);
    assert_eq!(report["receipt"]["outcome"], "accepted", "{report:#}");
    assert_eq!(report["receipt"]["revision"], 1);
    assert_eq!(report["receipt"]["winning_report_id"], report_id.as_str());
    assert_eq!(status["running"], true);
    assert!(status["last_contact_at"].is_string(), "{status:#}");

    let view = hub.view_json("2009", "org");
    let mut sent = preview.clone();
    // The preview was made before the submission; what was sent is the same values.
    sent["report"]["revision"] = Value::from(1);
    assert_view_shows_preview(&view, &sent, "ke-cotu", "KE");
    node.stop().await;
}

#[tokio::test]
async fn record_list_marks_sensitive_indicators() {
    let hub = HubProcess::start().await;
    let (node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    add_records_of_every_kind(&node);

    let list = node.cli_json(&["record", "list"]);
    let list = list.as_array().expect("a list of records");
    assert_eq!(list.len(), 7);
    for record in list {
        let sensitive = record["indicator"] == "exposure.cases_documented";
        assert_eq!(record["sensitive"], sensitive, "{record:#}");
    }
    let only = node.cli_json(&["record", "list", "--indicator", "exposure.cases_documented"]);
    assert_eq!(only.as_array().map(Vec::len), Some(2), "{only:#}");
}

#[tokio::test]
async fn a_csv_import_stores_every_row_or_none_naming_the_bad_line_and_column() {
    let hub = HubProcess::start().await;
    let (node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    let good = node.scratch_dir().join("good.csv");
    std::fs::write(
        &good,
        "date,indicator,value,sex\n\
         2009-01-10,awareness.activities,4,\n\
         2009-02-10,awareness.people_reached,30,female\n\
         2009-03-10,awareness.people_reached,20,male\n",
    )
    .expect("write the CSV");
    let run = node.cli_ok(["record".as_ref(), "import".as_ref(), good.as_os_str()]);
    assert!(run.stdout.contains('3'), "{run:?}");
    let list = node.cli_json(&["record", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(3), "{list:#}");

    // Line 4 (the header is line 1) has a sex that is not one.
    let bad = node.scratch_dir().join("bad.csv");
    std::fs::write(
        &bad,
        "date,indicator,value,sex\n\
         2009-01-11,awareness.activities,5,\n\
         2009-02-11,awareness.people_reached,31,female\n\
         2009-03-11,awareness.people_reached,21,martian\n\
         2009-04-11,awareness.activities,1,\n",
    )
    .expect("write the CSV");
    let run = node.cli(["record".as_ref(), "import".as_ref(), bad.as_os_str()]);
    assert!(!run.success(), "a bad row was imported: {run:?}");
    assert!(run.stderr.contains("line 4"), "{run:?}");
    assert!(
        run.stderr.contains("sex"),
        "the error names the column: {run:?}"
    );
    let after = node.cli_json(&["record", "list"]);
    assert_eq!(after, list, "a failed import stored something");
}

#[tokio::test]
async fn a_deleted_record_no_longer_counts() {
    let hub = HubProcess::start().await;
    let (node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    node.add_activities("2009-03-01", 12);
    node.add_activities("2009-04-01", 5);
    let list = node.cli_json(&["record", "list"]);
    let id = list[1]["id"].as_u64().expect("a record id").to_string();
    assert_eq!(
        node.preview_json("2009")["report"]["values"]["awareness.activities"]["total"],
        17
    );

    node.cli_ok(["record", "delete", &id]);

    let list = node.cli_json(&["record", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list:#}");
    assert_ne!(
        list[0]["id"].as_u64().map(|i| i.to_string()),
        Some(id.clone())
    );
    assert_eq!(
        node.preview_json("2009")["report"]["values"]["awareness.activities"]["total"],
        12
    );
    node.cli_err(&["record", "delete", &id], &id);
}

#[tokio::test]
async fn a_record_the_framework_refuses_is_not_stored_and_the_error_names_the_field() {
    let hub = HubProcess::start().await;
    let (node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    node.cli_err(
        &[
            "record",
            "add",
            "--date",
            "2009-03-01",
            "--indicator",
            "awareness.activities",
            "--value",
            "3",
            "--sex",
            "martian",
        ],
        "sex",
    );
    node.cli_err(
        &[
            "record",
            "add",
            "--date",
            "2009-03-01",
            "--indicator",
            "awareness.no_such_thing",
            "--value",
            "3",
        ],
        "indicator",
    );
    let list = node.cli_json(&["record", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list:#}");
}

#[tokio::test]
async fn commands_work_while_the_node_is_stopped_and_serve_delivers_what_they_queued() {
    let hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    node.add_activities("2009-03-01", 7);
    let run = node.cli_ok(["report", "submit", "--period", "2009"]);
    assert!(run.stdout.contains("serve"), "{run:?}");
    let status = node.status_json();
    assert_eq!(status["running"], false);
    assert_eq!(status["organisations"][0]["pending"], 1, "{status:#}");
    assert_eq!(
        rows_of(&hub.view_json("2009", "org"), "ke-cotu"),
        0,
        "nothing is delivered while the node is stopped"
    );

    node.serve().await;
    let status = node.wait_all_delivered(1).await;
    assert_eq!(
        status["organisations"][0]["reports"][0]["receipt"]["outcome"], "accepted",
        "{status:#}"
    );
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (7, 7));
    node.stop().await;
    // And status reads the stopped node's database.
    let stopped = node.status_json();
    assert_eq!(stopped["running"], false);
    assert_eq!(stopped["organisations"][0]["decided"], 1, "{stopped:#}");
}
