//! The hub killed (SIGKILL) and restarted while several affiliates' reports flow through a relay
//! (BAD_INPUTS 23, 24): every revision ends decided exactly once at its affiliate and at the
//! relay, the hub holds each with the outcome accepted or superseded (never an equivocation, never
//! refused), and the hub's view totals equal what the affiliates submitted, counted once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alliance_core::OutcomeKind;
use alliance_tests::node::all_reports;
use alliance_tests::relay::{RELAYED_DELIVERY, affiliate_via, start_relay, unhex};
use alliance_tests::view::equivocations;
use alliance_tests::{Binary, HubProcess, NodeProcess};

/// The affiliates: (organisation, country, activities of revision 1, activities added for
/// revision 2).
const AFFILIATES: [(&str, &str, u64, u64); 3] = [
    ("ke-cotu", "KE", 12, 5),
    ("ug-nou", "UG", 20, 3),
    ("tz-tucta", "TZ", 7, 9),
];

fn node_cli(data: &Path, args: &[&str]) -> alliance_tests::Run {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.push("--data".as_ref());
    all.push(data.as_os_str());
    Binary::Node.run(all)
}

#[tokio::test]
async fn a_hub_killed_mid_ingest_counts_every_relayed_report_exactly_once() {
    let mut hub = HubProcess::start().await;
    let (mut relay, address) = start_relay(&hub).await;
    let mut affiliates: Vec<NodeProcess> = Vec::new();
    for (org, country, first, _) in AFFILIATES {
        let mut affiliate = affiliate_via(&hub, org, country, &address);
        affiliate.serve().await;
        affiliate.add_activities("2009-03-01", first);
        affiliates.push(affiliate);
    }

    // Two revisions of each affiliate, submitted from another thread while the hub is killed.
    let dirs: Vec<PathBuf> = affiliates.iter().map(|a| a.data_dir().to_owned()).collect();
    let burst = std::thread::spawn(move || {
        let mut runs = Vec::new();
        for dir in &dirs {
            runs.push(node_cli(dir, &["report", "submit", "--period", "2009"]));
        }
        for (dir, (_, _, _, more)) in dirs.iter().zip(AFFILIATES) {
            let more = more.to_string();
            let add = node_cli(
                dir,
                &[
                    "record",
                    "add",
                    "--date",
                    "2009-06-01",
                    "--indicator",
                    "awareness.activities",
                    "--value",
                    &more,
                ],
            );
            assert!(add.success(), "{add:?}");
            runs.push(node_cli(dir, &["report", "submit", "--period", "2009"]));
        }
        runs
    });
    // A moment somewhere in the flow, different at each run.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    tokio::time::sleep(Duration::from_millis(100 + u64::from(nanos % 500))).await;
    hub.kill();
    let runs = burst.join().expect("the submitting thread");
    for run in &runs {
        assert!(
            run.success(),
            "a submission failed while the hub was down: {run:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    hub.serve().await;

    // Every revision decided once, at its affiliate.
    let mut sum = 0;
    for (affiliate, (org, _, first, more)) in affiliates.iter().zip(AFFILIATES) {
        let status = affiliate
            .wait_for(
                |s| {
                    let reports = all_reports(s);
                    reports.len() == 2 && reports.iter().all(|r| r["state"] == "decided")
                },
                RELAYED_DELIVERY,
            )
            .await;
        let mut revisions: Vec<u64> = all_reports(&status)
            .iter()
            .map(|r| r["revision"].as_u64().expect("a revision"))
            .collect();
        revisions.sort_unstable();
        assert_eq!(revisions, [1, 2], "{org}: {status:#}");
        for report in all_reports(&status) {
            let outcome = &report["receipt"]["outcome"];
            let revision = report["revision"].as_u64().expect("a revision");
            let expected = if revision == 2 {
                "accepted"
            } else {
                // Revision 1 is accepted, or superseded if revision 2 reached the hub first.
                if outcome == "superseded" {
                    "superseded"
                } else {
                    "accepted"
                }
            };
            assert_eq!(outcome, expected, "{org} revision {revision}: {status:#}");
            let id = report["report_id"].as_str().expect("an id");
            let stored = hub.get_receipt(unhex(id)).await.unwrap_or_else(|e| {
                panic!("the hub does not hold {org} revision {revision}: {e:?}")
            });
            let receipt = hub.open_receipt(&stored);
            assert_eq!(receipt.revision, revision);
            assert!(
                matches!(
                    receipt.outcome.kind,
                    OutcomeKind::Accepted | OutcomeKind::Superseded
                ),
                "the hub gave {org} revision {revision} the outcome {:?}",
                receipt.outcome.kind
            );
            assert!(receipt.outcome.winning_revision >= revision, "{receipt:?}");
            // The relay's custody time counts, alone or in a custody batch: the hub was down
            // for a while after the relay took the report.
            assert_eq!(
                report["receipt"]["first_received_at"], report["custody_receipt"]["received_at"],
                "{org} revision {revision}: the hub did not count the relay's custody time: {report:#}"
            );
        }
        let total = first + more;
        assert_eq!(
            hub.activities_total("2009", "org", org),
            (total, total),
            "{org}: the view is not its latest revision, once"
        );
        sum += total;
    }

    let view = hub.view_json("2009", "org");
    assert!(equivocations(&view).is_empty(), "{view:#}");
    assert_eq!(hub.activities_total("2009", "region", "africa"), (sum, sum));
    let relay_status = relay
        .wait_for(|s| s["relayed"]["decided"] == 6, RELAYED_DELIVERY)
        .await;
    assert_eq!(relay_status["relayed"]["pending"], 0, "{relay_status:#}");
    assert_eq!(relay_status["relayed"]["set_aside"], 0, "{relay_status:#}");
    let audit = hub.audit_json();
    assert_eq!(
        audit["refusals_total"], 0,
        "the hub refused something: {audit:#}"
    );

    for affiliate in &mut affiliates {
        affiliate.stop().await;
    }
    relay.stop().await;
}
