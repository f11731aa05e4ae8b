//! BAD_INPUTS 23: a node killed between saving a revision, signing and sending restarts with
//! nothing lost and nothing counted twice. Each named crash point (node/src/crash.rs) is armed
//! in turn with `FAILPOINTS=<point>=return`, which aborts the process there as `kill -9` would;
//! then a SIGKILL at a random moment of a burst of submissions.
//!
//! After the restart the invariant is the same every time: every revision the node signed is in
//! its status exactly once, decided; the hub holds each of them with the outcome accepted or
//! superseded (never an equivocation), and its view shows the latest revision's values, once.

use std::time::Duration;

use alliance_core::OutcomeKind;
use alliance_tests::node::{DELIVERY_TIMEOUT, all_reports};
use alliance_tests::view::{count_total, equivocations};
use alliance_tests::{Binary, HubProcess, NodeProcess};
use serde_json::Value;

fn unhex(text: &str) -> [u8; 32] {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect();
    bytes.try_into().expect("32 bytes")
}

/// The invariant after every crash: see the module's documentation. `total` is the latest
/// revision's value of awareness.activities.
async fn assert_nothing_lost_nothing_doubled(hub: &HubProcess, status: &Value, total: u64) {
    let reports = all_reports(status);
    assert!(!reports.is_empty(), "the node holds no reports: {status:#}");
    let mut revisions: Vec<u64> = reports
        .iter()
        .map(|r| r["revision"].as_u64().expect("a revision"))
        .collect();
    revisions.sort_unstable();
    let mut unique = revisions.clone();
    unique.dedup();
    assert_eq!(
        unique, revisions,
        "a revision appears more than once in the status: {status:#}"
    );
    let mut ids: Vec<&str> = reports
        .iter()
        .map(|r| r["report_id"].as_str().expect("an id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        reports.len(),
        "a report id appears twice: {status:#}"
    );
    let latest = *revisions.last().expect("one");
    for report in &reports {
        assert_eq!(report["state"], "decided", "{status:#}");
        let outcome = &report["receipt"]["outcome"];
        assert!(
            outcome == "accepted" || outcome == "superseded",
            "the node shows outcome {outcome} for revision {}: {status:#}",
            report["revision"]
        );
        assert_eq!(
            report["receipt"]["winning_revision"]
                .as_u64()
                .map(|w| w >= report["revision"].as_u64().unwrap_or(0)),
            Some(true),
            "{report:#}"
        );
        // The hub holds it, once, with the same outcome.
        let id = report["report_id"].as_str().expect("an id");
        let stored = hub.get_receipt(unhex(id)).await.unwrap_or_else(|e| {
            panic!(
                "the hub does not hold revision {}: {e:?}",
                report["revision"]
            )
        });
        let receipt = hub.open_receipt(&stored);
        assert!(
            matches!(
                receipt.outcome.kind,
                OutcomeKind::Accepted | OutcomeKind::Superseded
            ),
            "the hub gave revision {} the outcome {:?}",
            report["revision"],
            receipt.outcome.kind
        );
        assert_eq!(
            receipt.revision,
            report["revision"].as_u64().expect("revision")
        );
    }
    let newest = reports
        .iter()
        .find(|r| r["revision"] == latest)
        .expect("the latest");
    assert_eq!(newest["receipt"]["outcome"], "accepted", "{status:#}");
    let view = hub.view_json("2009", "org");
    assert!(equivocations(&view).is_empty(), "{view:#}");
    assert_eq!(
        count_total(&view, "ke-cotu", "awareness.activities"),
        (total, total),
        "the hub's view is not the latest revision's, once"
    );
    assert_eq!(
        newest["receipt"]["winning_revision"], latest,
        "the hub's winner is not the node's latest revision: {status:#}"
    );
}

/// Arms `point`, makes the node abort there during a submission, restarts it, submits a second
/// revision and checks the invariant.
async fn crash_at(point: &str, during_the_command: bool) {
    let hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    let armed = format!("{point}=return");
    node.serve_with_env(&[("FAILPOINTS", &armed)]).await;
    node.add_activities("2009-03-01", 12);

    let run = node.cli(["report", "submit", "--period", "2009"]);
    if during_the_command {
        assert!(
            !run.success(),
            "submit succeeded although the node aborted during it: {run:?}"
        );
    } else {
        assert!(run.success(), "{run:?}\n{}", node.log());
    }
    let exit = node.wait_exit(DELIVERY_TIMEOUT).await;
    assert!(!exit.success(), "the node exited with {exit}");
    assert!(
        node.log().contains(&format!("crash point {point} reached")),
        "the node did not abort at {point}: {}",
        node.log()
    );

    node.serve().await;
    node.wait_all_delivered(1).await;
    node.add_activities("2009-06-01", 5);
    let (revision, _) = node.submit("2009");
    assert!(revision >= 2, "a revision number was given out twice");
    let status = node
        .wait_for(
            |s| {
                all_reports(s)
                    .iter()
                    .any(|r| r["revision"] == revision && r["state"] == "decided")
            },
            DELIVERY_TIMEOUT,
        )
        .await;
    assert_eq!(all_reports(&status).len(), 2, "{status:#}");
    assert_nothing_lost_nothing_doubled(&hub, &status, 17).await;
    node.stop().await;
}

#[tokio::test]
async fn a_crash_after_the_revision_is_stored_loses_nothing() {
    crash_at("after-revision-stored", true).await;
}

#[tokio::test]
async fn a_crash_after_signing_loses_nothing() {
    crash_at("after-signing", true).await;
}

#[tokio::test]
async fn a_crash_after_sending_counts_nothing_twice() {
    crash_at("after-sending", false).await;
}

#[tokio::test]
async fn a_crash_before_the_receipt_is_stored_counts_nothing_twice() {
    crash_at("before-receipt-stored", false).await;
}

#[tokio::test]
async fn sigkill_during_a_burst_of_submissions_loses_nothing_and_counts_nothing_twice() {
    let hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    node.add_activities("2009-03-01", 12);
    node.serve().await;

    let data = node.data_dir().to_owned();
    let burst = std::thread::spawn(move || {
        (0..12)
            .map(|_| {
                Binary::Node.run([
                    "report".as_ref(),
                    "submit".as_ref(),
                    "--period".as_ref(),
                    "2009".as_ref(),
                    "--data".as_ref(),
                    data.as_os_str(),
                ])
            })
            .collect::<Vec<_>>()
    });
    // A moment somewhere in the burst, different at each run.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let delay = Duration::from_millis(50 + u64::from(nanos % 400));
    tokio::time::sleep(delay).await;
    node.kill();
    let runs = burst.join().expect("the burst thread");
    let queued = runs.iter().filter(|r| r.success()).count();
    assert!(queued >= 1, "no submission went through: {runs:?}");

    node.serve().await;
    let status = node.wait_all_delivered(queued).await;
    assert_nothing_lost_nothing_doubled(&hub, &status, 12).await;
    node.stop().await;
}
