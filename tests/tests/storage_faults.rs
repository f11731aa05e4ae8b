//! BAD_INPUTS 25: a full disk or an unwritable data directory, with the real binaries. The hub, a
//! node and a relay each answer the write the disk could not take with a clear error (never a
//! receipt, a custody receipt or "added"), stop acknowledging, exit non-zero naming the storage
//! failure, and after a restart with space have everything they had acknowledged, counted once.
//!
//! Two ways to fill the disk:
//!
//! - The store's fault injection, armed in the real binary by `ALLIANCE_FAULT_AFTER_WRITES=N`
//!   (the binaries the tests use are built with the `fault-injection` feature): after N more
//!   writes every write and flush fails with "no space left on device". It runs everywhere, so
//!   these tests always run.
//! - A real full disk: the data directory moved onto a small tmpfs that a filler file has filled.
//!   That needs the right to mount (root with CAP_SYS_ADMIN); without it those tests print why
//!   and return, since the fault-injection tests above cover the same behaviour.
//!
//! An unwritable data directory is made read-only with a read-only bind mount when the test may
//! mount, or by taking away the write permission when it does not run as root (root ignores
//! permissions); as root without the right to mount the test prints why and returns.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alliance_core::validate::{Frameworks, MAX_NARRATIVE_BYTES};
use alliance_core::{OutcomeKind, Receipt};
use alliance_daemon::fault::FAULT_AFTER_WRITES;
use alliance_envelope::{Envelope, SigningKey};
use alliance_proto::pb;
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_tests::node::{DELIVERY_TIMEOUT, all_reports};
use alliance_tests::relay::{RELAYED_DELIVERY, affiliate_via, export_envelope, relay_client};
use alliance_tests::view::rows;
use alliance_tests::{Binary, HubProcess, NodeProcess, READY_TIMEOUT, ReportBuilder, Run};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// What the daemons log when `ALLIANCE_FAULT_AFTER_WRITES` armed their store.
const ARMED: &str = "fault injection armed";
/// What the injected fault and a real full disk have in common in their messages.
const NO_SPACE: &str = "no space left on device";
/// What the daemons say when they stop because their storage failed.
const STORAGE_FAILED: &str = "storage failed";
/// What every answer of a daemon whose store failed says.
const ACKNOWLEDGES_NOTHING_MORE: &str = "acknowledges nothing more";
/// How long a daemon may take to notice its failed store and exit (it looks every 200 ms and
/// then finishes what is in flight). Generous, for a loaded machine; never a measurement.
const EXIT_TIMEOUT: Duration = READY_TIMEOUT;
/// The organisation the tests report for.
const ORG: &str = "ke-cotu";
/// The indicator the tests count.
const ACTIVITIES: &str = "awareness.activities";

// The hub.

#[tokio::test]
async fn a_hub_whose_disk_fails_acknowledges_nothing_more_exits_and_keeps_what_it_acknowledged() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org(ORG).await;
    let before = year_report(&cotu.key, 1990);
    hub.submit_ok(&before).await;
    hub.stop().await;

    serve_armed(&mut hub, 6).await;
    let mut client = hub.ingest_client().await;
    let mut acknowledged = vec![before];
    let mut refused = None;
    for year in 1991..=2009 {
        let envelope = year_report(&cotu.key, year);
        match submit_over(&hub, &mut client, &envelope).await {
            Ok(receipt) => {
                assert_eq!(receipt.outcome.kind, OutcomeKind::Accepted, "{receipt:?}");
                acknowledged.push(envelope);
            }
            Err(status) => {
                refused = Some((envelope, status));
                break;
            }
        }
    }
    let (unacknowledged, status) = refused.expect("the fault struck within 19 submissions");
    assert!(
        acknowledged.len() >= 2,
        "the test needs a report acknowledged while the fault was armed, before it struck"
    );
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_names_storage_failure(status.message());

    // Nothing more is acknowledged, not even a duplicate that needs no write (the hub may have
    // exited already, which refuses it just as well).
    let again = submit_over(&hub, &mut client, &acknowledged[1]).await;
    assert!(
        again.is_err(),
        "a hub whose store failed acknowledged: {again:?}"
    );
    let exit = hub.wait_exit(EXIT_TIMEOUT).await;
    assert!(!exit.success(), "the hub exited with {exit}");
    assert_log_names_storage_failure(&hub.log(), "hub");

    // Restarted with space: everything acknowledged is there, with its receipt.
    hub.serve().await;
    for envelope in &acknowledged {
        let receipt = hub
            .get_receipt(alliance_envelope::report_id(envelope))
            .await
            .unwrap_or_else(|e| panic!("an acknowledged report is gone after the restart: {e:?}"));
        assert_eq!(
            hub.open_receipt(&receipt).outcome.kind,
            OutcomeKind::Accepted
        );
    }
    // The report that was not acknowledged is sent again, as a node's outbox does; whether or not
    // its write reached the disk, it is then counted once.
    let retry = hub.submit_ok(&unacknowledged).await;
    assert!(
        matches!(
            retry.outcome.kind,
            OutcomeKind::Accepted | OutcomeKind::Duplicate
        ),
        "{retry:?}"
    );
    let years = acknowledged.len() as u64 + 1;
    for year in 1990..1990 + years {
        assert_eq!(
            activities(&hub, &year.to_string()),
            Some(year_value(year)),
            "{year}"
        );
    }
    let total: u64 = (1990..1990 + years).map(year_value).sum();
    assert_eq!(
        activities(&hub, &format!("1990..{}", 1989 + years)),
        Some(total)
    );
}

#[tokio::test]
async fn an_admin_change_the_hubs_disk_cannot_take_is_not_acknowledged() {
    let mut hub = HubProcess::start().await;
    hub.add_org(ORG, "national_centre", "KE", "africa");
    hub.stop().await;
    serve_armed(&mut hub, 0).await;

    let run = hub.cli([
        "org",
        "add",
        "--id",
        "ug-notu",
        "--name",
        "Uganda",
        "--kind",
        "national_centre",
        "--country",
        "UG",
        "--region",
        "africa",
    ]);

    assert!(
        !run.success(),
        "org add succeeded on a failed disk: {run:?}"
    );
    assert!(
        alliance_tests::join_code_in(&run.stdout).is_none(),
        "a join code was handed out for a registration that was not stored: {run:?}"
    );
    assert_names_storage_failure(&run.stderr);
    let exit = hub.wait_exit(EXIT_TIMEOUT).await;
    assert!(!exit.success(), "the hub exited with {exit}");
    assert_log_names_storage_failure(&hub.log(), "hub");

    // Restarted with space, the registration acknowledged before is there, and the one refused
    // can be made.
    hub.serve().await;
    let list = hub.cli_json(&["org", "list"]).to_string();
    assert!(list.contains(ORG), "{list}");
    hub.add_org("ug-notu", "national_centre", "UG", "africa");
}

// A node.

#[tokio::test]
async fn a_node_whose_disk_fails_refuses_the_record_exits_and_keeps_every_record_it_acknowledged() {
    let hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, ORG);
    node.serve_with_env(&[(FAULT_AFTER_WRITES, "3")]).await;
    assert_armed(&node.log(), "node");

    let mut acknowledged = Vec::new();
    let mut refused = None;
    for day in 1..=20u64 {
        let run = record_add(&node, day);
        if run.success() {
            acknowledged.push((added_record_id(&run), day));
        } else {
            refused = Some(run);
            break;
        }
    }
    let refused = refused.expect("the fault struck within 20 records");
    assert!(
        !acknowledged.is_empty(),
        "the test needs a record acknowledged while the fault was armed, before it struck"
    );
    assert_names_storage_failure(&refused.stderr);
    let exit = node.wait_exit(EXIT_TIMEOUT).await;
    assert!(!exit.success(), "the node exited with {exit}");
    assert_log_names_storage_failure(&node.log(), "node");

    // Restarted with space: every acknowledged record is there once.
    node.serve().await;
    assert_records_kept(&hub, &node, &acknowledged).await;
    node.stop().await;
}

#[tokio::test]
async fn a_report_the_nodes_disk_cannot_take_is_not_queued_and_uses_no_revision() {
    let hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, ORG);
    node.add_activities("2009-03-01", 12);
    node.serve_with_env(&[(FAULT_AFTER_WRITES, "0")]).await;
    assert_armed(&node.log(), "node");

    let run = node.cli(["report", "submit", "--period", "2009"]);

    assert!(!run.success(), "report submit succeeded: {run:?}");
    assert!(
        !run.stdout.contains("queued"),
        "the report was said to be queued: {run:?}"
    );
    assert_names_storage_failure(&run.stderr);
    let exit = node.wait_exit(EXIT_TIMEOUT).await;
    assert!(!exit.success(), "the node exited with {exit}");
    assert_log_names_storage_failure(&node.log(), "node");

    // Restarted with space: nothing was queued, so the report submitted now is revision 1, and
    // the hub counts it once.
    node.serve().await;
    assert!(
        all_reports(&node.status_json()).is_empty(),
        "{:#}",
        node.status_json()
    );
    let (revision, report_id) = node.submit("2009");
    assert_eq!(revision, 1);
    node.wait_decided(&report_id).await;
    assert_eq!(activities(&hub, "2009"), Some(12));
    node.stop().await;
}

#[tokio::test]
async fn a_node_whose_disk_fails_while_delivering_sends_again_after_restart_and_counts_once() {
    let hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, ORG);
    // Queued while the node is stopped (the commands open its database directly): acknowledged
    // to the operator, not yet delivered.
    let years = 2004..=2009u64;
    let mut queued = Vec::new();
    for year in years.clone() {
        node.add_activities(&format!("{year}-03-01"), year_value(year));
        queued.push(node.submit(&year.to_string()).1);
    }

    // The outbox uses up the allowance storing delivery attempts and the hub's receipts, so the
    // node fails on its own, at a point that depends on how its calls interleave; it may fail
    // before it would count as ready, so it is run to its exit rather than waited on.
    let run = serve_until_exit(
        Binary::Node,
        node.data_dir(),
        &[(FAULT_AFTER_WRITES, "6")],
        DELIVERY_TIMEOUT,
    )
    .await;

    assert!(!run.success(), "the node exited with {run:?}");
    assert_names_storage_failure(&run.stderr);

    // Restarted with space, it delivers every queued report. The hub answers those it had stored
    // before the node could store their receipts as duplicates (the node then shows the first
    // delivery's receipt); each period is counted once.
    node.serve().await;
    let status = node.wait_all_delivered(queued.len()).await;
    let reports = all_reports(&status);
    assert_eq!(reports.len(), queued.len(), "{status:#}");
    for report_id in &queued {
        let report = reports
            .iter()
            .find(|r| r["report_id"] == report_id.as_str())
            .unwrap_or_else(|| panic!("report {report_id} is gone: {status:#}"));
        assert_eq!(report["state"], "decided", "{report:#}");
        let outcome = &report["receipt"]["outcome"];
        assert!(
            outcome == "accepted" || outcome == "duplicate",
            "{report:#}"
        );
    }
    for year in years.clone() {
        assert_eq!(
            activities(&hub, &year.to_string()),
            Some(year_value(year)),
            "{year}"
        );
    }
    assert_eq!(
        activities(&hub, "2004..2009"),
        Some(years.map(year_value).sum())
    );
    node.stop().await;
}

// A relay.

#[tokio::test]
async fn a_relay_whose_disk_fails_gives_no_custody_receipt_exits_and_forwards_after_restart() {
    let hub = HubProcess::start().await;
    let (mut relay, address) = alliance_tests::relay::start_relay(&hub).await;
    let mut cotu = affiliate_via(&hub, ORG, "KE", &address);
    // One report through the relay before the fault, so that the relay holds the registry that
    // names its affiliate and has something acknowledged to keep.
    cotu.add_activities("2008-03-01", 8);
    cotu.serve().await;
    let (_, first) = cotu.submit("2008");
    cotu.wait_for(
        |s| alliance_tests::node::report_in(s, &first)["state"] == "decided",
        RELAYED_DELIVERY,
    )
    .await;
    cotu.stop().await;
    cotu.add_activities("2009-03-01", 9);
    cotu.submit("2009");
    let (envelope, _) = export_envelope(&cotu, None, "2009");

    // One write is allowed (the registry the relay fetches when it starts), so the affiliate's
    // submission is what fails, whichever comes first.
    relay.stop().await;
    relay.serve_with_env(&[(FAULT_AFTER_WRITES, "1")]).await;
    assert_armed(&relay.log(), "relay");
    let answer = relay_client(&relay, &address)
        .await
        .submit(pb::SubmitRequest {
            envelope: Some((&envelope).into()),
            custody_receipt: None,
        })
        .await;

    let status = match answer {
        Ok(response) => panic!("the relay answered {response:?} on a failed disk"),
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_names_storage_failure(status.message());
    let exit = relay.wait_exit(EXIT_TIMEOUT).await;
    assert!(!exit.success(), "the relay exited with {exit}");
    assert_log_names_storage_failure(&relay.log(), "relay");

    // Restarted with space, the relay still knows what it relayed, takes the report the
    // affiliate's outbox sends again, and the hub counts each once.
    relay.serve().await;
    cotu.serve().await;
    let status = cotu
        .wait_for(
            |s| {
                let all = all_reports(s);
                all.len() == 2 && all.iter().all(|r| r["state"] == "decided")
            },
            RELAYED_DELIVERY,
        )
        .await;
    for report in all_reports(&status) {
        assert_eq!(report["receipt"]["outcome"], "accepted", "{report:#}");
    }
    assert_eq!(activities(&hub, "2008"), Some(8));
    assert_eq!(activities(&hub, "2009"), Some(9));
    assert_eq!(activities(&hub, "2008..2009"), Some(17));
    let relayed = relay.status_json();
    assert_eq!(relayed["relayed"]["decided"], 2, "{relayed:#}");
    cotu.stop().await;
    relay.stop().await;
}

// An unwritable data directory.

#[tokio::test]
async fn a_hub_whose_data_directory_is_unwritable_says_so_at_start() {
    let mut hub = HubProcess::init();
    let db = hub.data_dir().join("db");
    let Some(read_only) = ReadOnly::make(&db) else {
        return;
    };

    let run = serve_until_exit(Binary::Hub, hub.data_dir(), &[], EXIT_TIMEOUT).await;

    assert!(
        !run.success(),
        "serve started on a read-only database: {run:?}"
    );
    assert_names_unwritable(&run.stderr, &db);
    // An operator's command in direct mode says so too, and changes nothing.
    let add = hub.cli([
        "org",
        "add",
        "--id",
        ORG,
        "--name",
        "Kenya",
        "--kind",
        "national_centre",
        "--country",
        "KE",
        "--region",
        "africa",
    ]);
    assert!(!add.success(), "org add succeeded: {add:?}");
    assert_names_unwritable(&add.stderr, &db);

    // Writable again, the hub starts and works.
    drop(read_only);
    hub.serve().await;
    hub.new_org(ORG).await;
}

#[tokio::test]
async fn a_node_whose_data_directory_is_unwritable_says_so_at_start() {
    let hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, ORG);
    node.add_activities("2009-03-01", 12);
    let db = node.data_dir().join("db");
    let Some(read_only) = ReadOnly::make(&db) else {
        return;
    };

    let run = serve_until_exit(Binary::Node, node.data_dir(), &[], EXIT_TIMEOUT).await;

    assert!(
        !run.success(),
        "serve started on a read-only database: {run:?}"
    );
    assert_names_unwritable(&run.stderr, &db);

    drop(read_only);
    node.serve().await;
    let (_, report_id) = node.submit("2009");
    node.wait_decided(&report_id).await;
    assert_eq!(activities(&hub, "2009"), Some(12));
    node.stop().await;
}

// A real full disk.

#[tokio::test]
async fn a_hub_on_a_full_disk_acknowledges_nothing_more_exits_and_recovers_with_space() {
    let mut hub = HubProcess::start().await;
    let cotu = hub.new_org(ORG).await;
    let before = year_report(&cotu.key, 2008);
    hub.submit_ok(&before).await;
    hub.stop().await;
    let Some(disk) = Tmpfs::over(hub.data_dir()) else {
        return;
    };
    hub.serve().await;
    disk.fill();

    // sled's log has room left in the segment it already holds, so it takes large reports, a
    // few hundred kilobytes' worth, before a write needs a page the disk does not have.
    let mut client = hub.ingest_client().await;
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for revision in 1..=FULL_DISK_ATTEMPTS {
        let envelope = large_report(&cotu.key, revision);
        match submit_over(&hub, &mut client, &envelope).await {
            Ok(receipt) => {
                assert_eq!(receipt.outcome.kind, OutcomeKind::Accepted, "{receipt:?}");
                acknowledged.push(envelope);
            }
            Err(status) => {
                refused = Some((revision, envelope, status));
                break;
            }
        }
    }
    let (last, unacknowledged, status) = refused.unwrap_or_else(|| {
        panic!(
            "{FULL_DISK_ATTEMPTS} large reports were acknowledged on a full disk; the hub's \
             log:\n{}",
            hub.log()
        )
    });
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_names_storage_failure(status.message());
    let exit = hub.wait_exit(EXIT_TIMEOUT).await;
    assert!(!exit.success(), "the hub exited with {exit}");
    assert_log_names_storage_failure(&hub.log(), "hub");

    disk.make_room();
    hub.serve().await;
    for envelope in acknowledged.iter().chain([&before]) {
        hub.get_receipt(alliance_envelope::report_id(envelope))
            .await
            .unwrap_or_else(|e| panic!("an acknowledged report is gone after the restart: {e:?}"));
    }
    assert_eq!(activities(&hub, "2008"), Some(year_value(2008)));
    // Sent again, as a node's outbox does, the refused revision wins, counted once.
    let retry = hub.submit_ok(&unacknowledged).await;
    assert!(
        matches!(
            retry.outcome.kind,
            OutcomeKind::Accepted | OutcomeKind::Duplicate
        ),
        "{retry:?}"
    );
    assert_eq!(activities(&hub, "2009"), Some(last));
    hub.stop().await;
}

#[tokio::test]
async fn a_node_on_a_full_disk_refuses_the_narrative_exits_and_recovers_with_space() {
    let hub = HubProcess::start().await;
    let (mut node, _) = NodeProcess::enrolled(&hub, ORG);
    let Some(disk) = Tmpfs::over(node.data_dir()) else {
        return;
    };
    node.serve().await;
    disk.fill();

    // Narratives are the largest thing an operator writes: each takes close to 8 KiB, so a few
    // dozen use up the room sled's log has left.
    let action_points: Vec<String> = Frameworks::builtin()
        .get(1)
        .expect("framework version 1")
        .action_points
        .iter()
        .map(|a| a.id.clone())
        .collect();
    let mut acknowledged = Vec::new();
    let mut refused = None;
    'writing: for year in 1990..=2009u64 {
        for action_point in &action_points {
            let text = filler_text(year * 100 + acknowledged.len() as u64);
            let period = year.to_string();
            let run = node.cli([
                "report",
                "narrative",
                "--period",
                &period,
                "--action-point",
                action_point,
                "--text",
                &text,
            ]);
            if run.success() {
                acknowledged.push((period, action_point.clone(), text));
            } else {
                refused = Some(run);
                break 'writing;
            }
        }
    }
    let refused = refused.unwrap_or_else(|| {
        panic!(
            "{} narratives were acknowledged on a full disk; the node's log:\n{}",
            acknowledged.len(),
            node.log()
        )
    });
    assert_names_storage_failure(&refused.stderr);
    let exit = node.wait_exit(EXIT_TIMEOUT).await;
    assert!(!exit.success(), "the node exited with {exit}");
    assert_log_names_storage_failure(&node.log(), "node");

    disk.make_room();
    node.serve().await;
    for (period, action_point, text) in &acknowledged {
        let preview = node.preview_json(period);
        assert_eq!(
            preview["report"]["narratives"][action_point].as_str(),
            Some(text.as_str()),
            "the narrative of {action_point} in {period} is not the one acknowledged"
        );
    }
    node.stop().await;
}

/// How many large reports the full-disk test sends at most: several megabytes, more than any
/// room sled's log could have left.
const FULL_DISK_ATTEMPTS: u64 = 100;

/// A report of [`ORG`] for 2009, revision `revision` with `revision` activities, carrying a
/// narrative of nearly the largest size for every action point: about 90 KB.
fn large_report(key: &SigningKey, revision: u64) -> Envelope {
    let framework = Frameworks::builtin();
    let mut builder = ReportBuilder::new(ORG)
        .revision(revision)
        .count(ACTIVITIES, revision);
    for (i, action_point) in framework
        .get(1)
        .expect("framework version 1")
        .action_points
        .iter()
        .enumerate()
    {
        builder = builder.narrative(&action_point.id, &filler_text(revision * 100 + i as u64));
    }
    builder.sign(key)
}

/// Text of nearly the largest narrative, different for every `seed`, that does not compress.
fn filler_text(seed: u64) -> String {
    // A linear congruential generator is plenty: the text only has to differ and not repeat.
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..MAX_NARRATIVE_BYTES - 64)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'a' + ((state >> 33) % 26) as u8)
        })
        .collect()
}

// Helpers.

/// A report of [`ORG`] for `year` with [`year_value`] activities, signed by `key`.
fn year_report(key: &SigningKey, year: u64) -> Envelope {
    ReportBuilder::new(ORG)
        .period(&year.to_string())
        .count(ACTIVITIES, year_value(year))
        .sign(key)
}

/// The activities reported for `year`: different every year, so that a sum says which were
/// counted.
fn year_value(year: u64) -> u64 {
    year - 1980
}

/// Submits `envelope` over `client`; on success checks the hub's receipt and returns it. A hub
/// that went away is an error like any other: nothing was acknowledged.
async fn submit_over(
    hub: &HubProcess,
    client: &mut HubServiceClient<Channel>,
    envelope: &Envelope,
) -> Result<Receipt, Status> {
    let response = client
        .submit(pb::SubmitRequest {
            envelope: Some(envelope.into()),
            custody_receipt: None,
        })
        .await?
        .into_inner();
    match response.receipt {
        Some(pb::submit_response::Receipt::HubReceipt(receipt)) => {
            Ok(hub.open_receipt(&receipt.into()))
        }
        other => panic!("the hub answered without a hub receipt: {other:?}"),
    }
}

/// The total of awareness activities the hub's view of `period` shows for [`ORG`], if any.
fn activities(hub: &HubProcess, period: &str) -> Option<u64> {
    let view = hub.view_json(period, "org");
    let row = rows(&view).iter().find(|r| {
        r["group"] == ORG
            && r["indicator"] == ACTIVITIES
            && r["dimension"].as_str().unwrap_or("").is_empty()
    })?;
    let (lo, hi) = (row["count"]["lo"].as_u64(), row["count"]["hi"].as_u64());
    assert_eq!(lo, hi, "an exact count is shown as a range: {row:#}");
    lo
}

/// Asserts, after a restart with space, that every record the node acknowledged (id, value) is
/// there once, and at most the refused one besides: whether its write reached the disk is the
/// disk's business, it was not promised. Then the report built from them counts each stored
/// record once, and so does the hub.
async fn assert_records_kept(hub: &HubProcess, node: &NodeProcess, acknowledged: &[(u64, u64)]) {
    let list = node.cli_json(&["record", "list"]);
    let stored: Vec<(u64, u64)> = list
        .as_array()
        .unwrap_or_else(|| panic!("record list is not a list: {list:#}"))
        .iter()
        .map(|r| {
            let id = r["id"].as_u64().expect("a record id");
            let value = r["value"]["count"].as_u64().expect("a count");
            (id, value)
        })
        .collect();
    for (id, value) in acknowledged {
        let copies = stored.iter().filter(|(i, _)| i == id).count();
        assert_eq!(copies, 1, "record {id}: {list:#}");
        assert!(stored.contains(&(*id, *value)), "record {id}: {list:#}");
    }
    assert!(
        stored.len() <= acknowledged.len() + 1,
        "records appeared that nobody added: {list:#}"
    );
    let (_, report_id) = node.submit("2009");
    node.wait_decided(&report_id).await;
    let total: u64 = stored.iter().map(|(_, value)| value).sum();
    assert_eq!(activities(hub, "2009"), Some(total));
}

/// `record add` of `day` awareness activities on 2009-03-DAY, without asserting anything.
fn record_add(node: &NodeProcess, day: u64) -> Run {
    node.cli([
        "record",
        "add",
        "--date",
        &format!("2009-03-{day:02}"),
        "--indicator",
        ACTIVITIES,
        "--value",
        &day.to_string(),
    ])
}

/// The record id `record add` printed (`record N added`).
fn added_record_id(run: &Run) -> u64 {
    run.stdout
        .split_whitespace()
        .nth(1)
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("record add printed no record id: {run:?}"))
}

/// Serves `hub` with its store armed to fail after `writes` more writes, and checks that it was.
async fn serve_armed(hub: &mut HubProcess, writes: u64) {
    hub.serve_with_env(&[(FAULT_AFTER_WRITES, &writes.to_string())])
        .await
        .unwrap_or_else(|log| panic!("the hub exited before it was ready; its log:\n{log}"));
    assert_armed(&hub.log(), "hub");
}

/// Asserts that a daemon's log says its store was armed: a binary built without the
/// `fault-injection` feature would run the test without its fault.
fn assert_armed(log: &str, who: &str) {
    assert!(
        log.contains(ARMED),
        "the {who} did not arm its fault injection: build the binaries with \
         `cargo build --workspace --bins` (the test package turns the feature on); its log:\n{log}"
    );
}

/// Asserts that an error shown to a client names the storage failure: that nothing more is
/// acknowledged, and why.
fn assert_names_storage_failure(message: &str) {
    let message = message.to_lowercase();
    assert!(
        message.contains(ACKNOWLEDGES_NOTHING_MORE),
        "the error does not say that nothing more is acknowledged: {message}"
    );
    assert!(
        message.contains(NO_SPACE),
        "the error does not name the disk's error: {message}"
    );
}

/// Asserts that a daemon's log says it stopped because its storage failed, and why.
fn assert_log_names_storage_failure(log: &str, who: &str) {
    let lower = log.to_lowercase();
    assert!(
        lower.contains(STORAGE_FAILED) || lower.contains(ACKNOWLEDGES_NOTHING_MORE),
        "the {who}'s log does not say that its storage failed:\n{log}"
    );
    assert!(
        lower.contains(NO_SPACE),
        "the {who}'s log does not name the disk's error:\n{log}"
    );
}

/// Asserts that an error names the unwritable database and why it is unwritable.
fn assert_names_unwritable(stderr: &str, db: &Path) {
    assert!(
        stderr.contains(&db.display().to_string()),
        "the error does not name the database {}: {stderr}",
        db.display()
    );
    let lower = stderr.to_lowercase();
    assert!(
        lower.contains("read-only file system") || lower.contains("permission denied"),
        "the error does not say why the database cannot be written: {stderr}"
    );
}

/// Runs `BINARY serve --data DATA` with `env` until it exits by itself, and returns what it
/// printed; after `timeout` it kills it and panics.
async fn serve_until_exit(
    binary: Binary,
    data: &Path,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Run {
    let mut command = Command::new(binary.path());
    command
        .arg("serve")
        .arg("--data")
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_BACKTRACE")
        .env_remove("FAILPOINTS")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {} serve: {e}", binary.name()));
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < timeout => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(None) => {
                let _ = child.kill();
                let output = child
                    .wait_with_output()
                    .expect("the killed process's output");
                panic!(
                    "{} serve did not exit by itself within {timeout:?}: {:?}",
                    binary.name(),
                    Run::from(output)
                );
            }
            Err(e) => panic!("could not wait for {} serve: {e}", binary.name()),
        }
    }
    Run::from(
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("could not read what {} printed: {e}", binary.name())),
    )
}

/// Who this test process is, as far as mounting and permissions go.
#[derive(Debug, Clone, Copy)]
struct Privileges {
    root: bool,
    /// CAP_SYS_ADMIN, which `mount` needs.
    may_mount: bool,
}

impl Privileges {
    /// Read from `/proc/self/status` (Linux); elsewhere, an unprivileged user.
    fn of_this_process() -> Privileges {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::trim)
                .unwrap_or("")
                .to_owned()
        };
        // "Uid:" lists the real, effective, saved and filesystem ids; the effective one counts.
        let root = field("Uid:").split_whitespace().nth(1) == Some("0");
        const CAP_SYS_ADMIN: u32 = 21;
        let may_mount = u64::from_str_radix(&field("CapEff:"), 16)
            .is_ok_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0);
        Privileges { root, may_mount }
    }
}

/// Runs a command that must succeed (mount, umount, cp).
fn run_ok(program: &str, args: &[&std::ffi::OsStr]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A directory made unwritable for the length of a test: a read-only bind mount of itself, or
/// its write permission taken away (with its files').
#[derive(Debug)]
enum ReadOnly {
    Mount(PathBuf),
    Modes(Vec<(PathBuf, std::fs::Permissions)>),
}

impl ReadOnly {
    /// Makes `dir` unwritable, or prints why it cannot and returns `None`: as root without
    /// CAP_SYS_ADMIN nothing makes a directory unwritable (root ignores permissions).
    fn make(dir: &Path) -> Option<ReadOnly> {
        let who = Privileges::of_this_process();
        if who.may_mount {
            run_ok(
                "mount",
                &["--bind".as_ref(), dir.as_os_str(), dir.as_os_str()],
            );
            let read_only = ReadOnly::Mount(dir.to_owned());
            run_ok(
                "mount",
                &["-o".as_ref(), "remount,bind,ro".as_ref(), dir.as_os_str()],
            );
            return Some(read_only);
        }
        if who.root {
            println!(
                "skipped: running as root without CAP_SYS_ADMIN, so neither a read-only mount \
                 nor file permissions can make a directory unwritable"
            );
            return None;
        }
        use std::os::unix::fs::PermissionsExt as _;
        let mut saved = Vec::new();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("the directory's entries")
            .map(|e| e.expect("an entry").path())
            .collect();
        // The files first, then the directory, so that listing it still works meanwhile.
        paths.push(dir.to_owned());
        for path in paths {
            let permissions = std::fs::metadata(&path).expect("metadata").permissions();
            let mut read_only = permissions.clone();
            read_only.set_mode(permissions.mode() & !0o222);
            std::fs::set_permissions(&path, read_only).expect("chmod");
            saved.push((path, permissions));
        }
        Some(ReadOnly::Modes(saved))
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        match self {
            ReadOnly::Mount(dir) => {
                let _ = Command::new("umount").arg(&*dir).status();
            }
            ReadOnly::Modes(saved) => {
                // The directory was changed last, so it is given back first.
                for (path, permissions) in saved.iter().rev() {
                    let _ = std::fs::set_permissions(path, permissions.clone());
                }
            }
        }
    }
}

/// A small tmpfs mounted over a data directory, holding a copy of what the directory held, that
/// a filler file can fill to the last byte.
#[derive(Debug)]
struct Tmpfs {
    dir: PathBuf,
}

/// The tmpfs's size: room for the data directory, which the filler then takes.
const TMPFS_BYTES: u64 = 16 * 1024 * 1024;
/// The filler file's name inside the data directory.
const FILLER: &str = "filler";

impl Tmpfs {
    /// Moves `dir`'s contents onto a new tmpfs mounted over it, or prints why it cannot and
    /// returns `None`.
    fn over(dir: &Path) -> Option<Tmpfs> {
        let who = Privileges::of_this_process();
        if !who.may_mount {
            println!(
                "skipped: mounting a tmpfs needs root with CAP_SYS_ADMIN (root: {}); the \
                 fault-injection tests cover the same behaviour",
                who.root
            );
            return None;
        }
        let on_disk = dir.with_extension("on-disk");
        std::fs::rename(dir, &on_disk).expect("move the data directory aside");
        std::fs::create_dir(dir).expect("an empty mount point");
        let options = format!("size={TMPFS_BYTES},mode=0700");
        run_ok(
            "mount",
            &[
                "-t".as_ref(),
                "tmpfs".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "tmpfs".as_ref(),
                dir.as_os_str(),
            ],
        );
        let disk = Tmpfs {
            dir: dir.to_owned(),
        };
        run_ok(
            "cp",
            &[
                "-a".as_ref(),
                on_disk.join(".").as_os_str(),
                dir.as_os_str(),
            ],
        );
        Some(disk)
    }

    /// Writes the filler until the tmpfs has no byte left.
    fn fill(&self) {
        use std::io::Write as _;
        let mut filler = std::fs::File::create(self.dir.join(FILLER)).expect("the filler file");
        let chunk = vec![0x55u8; 64 * 1024];
        loop {
            match filler.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(ENOSPC) => break,
                Err(e) => panic!("could not fill the tmpfs: {e}"),
            }
        }
        // Fill the last partial chunk byte by byte, so that not even a page is left.
        loop {
            match filler.write(&[0x55]) {
                Ok(1) => {}
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(ENOSPC) => break,
                Err(e) => panic!("could not fill the tmpfs: {e}"),
            }
        }
    }

    /// Removes the filler: a restart with space.
    fn make_room(&self) {
        std::fs::remove_file(self.dir.join(FILLER)).expect("remove the filler");
    }
}

/// ENOSPC on Linux.
const ENOSPC: i32 = 28;

impl Drop for Tmpfs {
    /// Unmounts lazily, so that a daemon a failed test left running does not keep the mount.
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
