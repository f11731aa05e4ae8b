//! Delivery cases of BAD_INPUTS from a real node's side (`hub_ingest.rs` covers the hub's
//! outcomes with envelopes made by hand):
//!
//! - 16 and 17: a node restored from a backup has forgotten the revisions it sent, so with the
//!   hub out of reach it signs a revision the hub already holds, with other bytes. The hub keeps
//!   both as evidence and answers *equivocation*, naming the winning revision; the node shows that
//!   in its status and moves past the winner named, without having to ask the hub again.
//! - 24: a backlog longer than a page of the outbox, queued while the hub is down, drains once
//!   it is back: every revision decided once, and the view as it would have been without the
//!   outage.

use alliance_tests::node::{all_reports, report_in};
use alliance_tests::view::{count_total, equivocations};
use alliance_tests::{HubProcess, NodeProcess};

const ORG: &str = "ke-cotu";

#[tokio::test]
async fn a_node_restored_from_a_backup_sees_its_equivocation_in_its_status_and_moves_past_it() {
    let mut hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, ORG);
    // The backup: the data directory as enrollment left it, copied while the node is stopped.
    let backup = node.scratch_dir().join("backup");
    copy_dir(node.data_dir(), &backup);
    node.serve().await;
    node.add_activities("2009-03-01", 12);
    let (revision, first) = node.submit("2009");
    assert_eq!(revision, 1);
    node.wait_decided(&first).await;
    node.add_activities("2009-06-01", 5);
    let (revision, second) = node.submit("2009");
    assert_eq!(revision, 2);
    node.wait_decided(&second).await;
    node.stop().await;
    assert_eq!(hub.activities_total("2009", "org", ORG), (17, 17));

    // Restored while the hub cannot be asked for its winning revision.
    std::fs::remove_dir_all(node.data_dir()).expect("remove the data directory");
    copy_dir(&backup, node.data_dir());
    hub.stop().await;
    node.serve().await;
    node.add_activities("2009-03-01", 30);
    let (revision, restored) = node.submit("2009");
    assert_eq!(
        revision, 1,
        "the restored node knows of no earlier revision"
    );

    hub.serve().await;
    let status = node.wait_decided(&restored).await;

    let receipt = &report_in(&status, &restored)["receipt"];
    assert_eq!(receipt["outcome"], "equivocation", "{status:#}");
    assert_eq!(receipt["revision"], 1, "{status:#}");
    assert_eq!(receipt["winning_revision"], 2, "{status:#}");
    let text = node.cli_ok(["status"]).stdout;
    assert!(
        text.contains("equivocation (revision 2 wins)"),
        "the status does not show the equivocation:\n{text}"
    );
    // The hub flags the two revisions 1 and still shows revision 2: the view does not change.
    let view = hub.view_json("2009", "org");
    let flagged: Vec<_> = equivocations(&view)
        .iter()
        .filter(|e| e["org_id"] == ORG)
        .collect();
    assert_eq!(flagged.len(), 1, "{view:#}");
    assert_eq!(flagged[0]["revision"], 1, "{view:#}");
    assert_eq!(count_total(&view, ORG, "awareness.activities"), (17, 17));

    // The receipt named revision 2 as the winner, so the next revision is 3 even while the hub
    // cannot be asked; it wins.
    hub.stop().await;
    let (revision, latest) = node.submit("2009");
    assert_eq!(revision, 3);
    hub.serve().await;
    let status = node.wait_decided(&latest).await;
    assert_eq!(
        report_in(&status, &latest)["receipt"]["outcome"],
        "accepted",
        "{status:#}"
    );
    assert_eq!(hub.activities_total("2009", "org", ORG), (30, 30));
    node.stop().await;
}

#[tokio::test]
async fn a_backlog_longer_than_a_page_drains_after_an_outage_and_ends_as_without_it() {
    // More than one page of the outbox (32 entries), so that the backlog crosses pages.
    const REVISIONS: u64 = 40;
    let mut hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, ORG);
    hub.stop().await;
    // Revision r counts r activities. Queued while the node and the hub are stopped (the commands
    // open the node's database directly and cannot ask the hub).
    let mut queued = Vec::new();
    for revision in 1..=REVISIONS {
        node.add_activities("2009-03-01", 1);
        let (signed, report_id) = node.submit("2009");
        assert_eq!(signed, revision);
        queued.push(report_id);
    }
    node.serve().await;
    node.wait_for(
        |s| s["last_error"].is_string(),
        alliance_tests::node::DELIVERY_TIMEOUT,
    )
    .await;

    hub.serve().await;
    let status = node.wait_all_delivered(queued.len()).await;

    // The outbox makes its calls in queue order but several at once, so the hub may decide a
    // later revision first: an earlier one is then superseded at once rather than accepted
    // first (node/src/node/outbox.rs). Either way each revision is decided once, never as an
    // equivocation, and only ever loses to a later revision.
    assert_eq!(all_reports(&status).len(), queued.len(), "{status:#}");
    for (i, report_id) in queued.iter().enumerate() {
        let revision = i as u64 + 1;
        let report = report_in(&status, report_id);
        assert_eq!(report["state"], "decided", "{report:#}");
        let receipt = &report["receipt"];
        assert_eq!(receipt["revision"], revision, "{report:#}");
        let winner = receipt["winning_revision"].as_u64().expect("a revision");
        match receipt["outcome"].as_str() {
            Some("accepted") => assert_eq!(winner, revision, "{report:#}"),
            Some("superseded") => assert!(winner > revision, "{report:#}"),
            _ => panic!("revision {revision} was not accepted or superseded: {report:#}"),
        }
    }
    let last = report_in(&status, &queued[queued.len() - 1]);
    assert_eq!(last["receipt"]["outcome"], "accepted", "{last:#}");
    // Without the outage the view would show the last revision: all the activities, once.
    let view = hub.view_json("2009", "org");
    assert_eq!(
        count_total(&view, ORG, "awareness.activities"),
        (REVISIONS, REVISIONS)
    );
    assert!(equivocations(&view).is_empty(), "{view:#}");
    node.stop().await;
}

/// Copies the directory `from` to `to` (which must not exist), keeping modes.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(
        status.success(),
        "cp -a {} {} failed",
        from.display(),
        to.display()
    );
}
