//! The node store through its public interface: everything round-trips and survives a reopen,
//! a hub database is not opened as a node's, revisions only rise, and queueing, answering and
//! re-signing move reports through the outbox in single transactions.

use std::path::PathBuf;

use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::receipt::ReportId;
use alliance_core::record::{Record, RecordValue, parse_date};
use alliance_core::timestamp::Timestamp;
use alliance_envelope::{Envelope, Signature};
use alliance_store::{
    DeliveryState, Draft, HubStore, NodeStore, OrgEntry, ReportEntry, Setup, StoreError,
    StoredRefusal,
};

/// A small cache: the tests store little.
const CACHE: u64 = 4 << 20;

#[test]
fn create_and_open_round_trip_setup_framework_registry_and_orgs() {
    let (_dir, path, store) = new_store();
    assert_eq!(store.setup().unwrap(), None);
    assert_eq!(store.framework().unwrap(), None);
    assert_eq!(store.registry().unwrap(), None);
    assert!(store.orgs().unwrap().is_empty());

    let setup = Setup {
        upstream: "hub.example:7443".into(),
        ca_der: vec![0x30, 0x82, 1, 2, 0],
        hub_public_key: [7; 32],
        own_org: org("gtuc"),
        relay: true,
    };
    store.put_setup(&setup).unwrap();
    store.put_framework(&envelope("framework", 1)).unwrap();
    store.put_framework(&envelope("framework", 2)).unwrap();
    store.put_registry(&envelope("registry", 3)).unwrap();
    let own = OrgEntry {
        org: org("gtuc"),
        key_id: "k2".into(),
        previous_key_ids: vec!["k1".into()],
        enrolled_at: Some(Timestamp(1_000)),
        join_token: "secret".into(),
        hosted: false,
    };
    let hosted = OrgEntry {
        org: org("gtuc-2"),
        key_id: "h1".into(),
        previous_key_ids: vec![],
        enrolled_at: None,
        join_token: "other".into(),
        hosted: true,
    };
    store.put_org(&hosted).unwrap();
    store.put_org(&own).unwrap();
    store.flush().unwrap();
    drop(store);

    let store = NodeStore::open(&path, CACHE).unwrap();
    assert_eq!(store.setup().unwrap(), Some(setup));
    assert_eq!(store.framework().unwrap(), Some(envelope("framework", 2)));
    assert_eq!(store.registry().unwrap(), Some(envelope("registry", 3)));
    assert_eq!(store.org(&org("gtuc")).unwrap(), Some(own.clone()));
    assert_eq!(store.org(&org("nobody")).unwrap(), None);
    assert_eq!(store.orgs().unwrap(), vec![own, hosted]);
}

#[test]
fn create_and_open_refuse_what_is_not_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node");
    assert_eq!(
        NodeStore::open(&path, CACHE).unwrap_err(),
        StoreError::Missing(path.clone())
    );
    let store = NodeStore::create(&path, CACHE).unwrap();
    assert_eq!(
        NodeStore::open(&path, CACHE).unwrap_err(),
        StoreError::Locked(path.clone())
    );
    drop(store);
    assert_eq!(
        NodeStore::create(&path, CACHE).unwrap_err(),
        StoreError::Exists(path.clone())
    );

    // A hub's database is not a node's, and the other way round.
    let hub_path = dir.path().join("hub");
    drop(HubStore::create(&hub_path, CACHE).unwrap());
    let e = NodeStore::open(&hub_path, CACHE).unwrap_err();
    assert!(
        e.to_string()
            .contains("this is a \"hub\" database, not a node database"),
        "{e}"
    );
    let e = HubStore::open(&path, CACHE).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
}

#[test]
fn record_ids_rise_are_kept_per_organisation_and_survive_a_reopen() {
    let (_dir, path, store) = new_store();
    let gtuc = org("gtuc");
    let mut first = vec![record("gtuc", 0, 3), record("gtuc", 0, 4)];
    store.put_records(&mut first).unwrap();
    assert!(first[0].id > 0 && first[1].id > first[0].id, "{first:?}");
    assert_eq!(first[1], record("gtuc", first[1].id, 4));
    // An organisation whose id starts like another's keeps its records apart.
    let mut other = vec![record("gtuc-2", 0, 5)];
    store.put_records(&mut other).unwrap();
    assert_eq!(store.records(&gtuc).unwrap(), first);
    store.flush().unwrap();
    drop(store);

    let store = NodeStore::open(&path, CACHE).unwrap();
    assert_eq!(store.records(&gtuc).unwrap(), first);
    let mut later = vec![record("gtuc", 0, 6), record("gtuc", first[0].id, 7)];
    store.put_records(&mut later).unwrap();
    assert!(
        later[0].id > first[1].id,
        "ids rise after a reopen: {later:?}"
    );
    assert_eq!(later[1].id, first[0].id, "a given id is kept");
    assert_eq!(
        store.records(&gtuc).unwrap(),
        vec![later[1].clone(), first[1].clone(), later[0].clone()]
    );

    assert_eq!(
        store.delete_record(&gtuc, first[1].id).unwrap(),
        Some(first[1].clone())
    );
    assert_eq!(store.delete_record(&gtuc, first[1].id).unwrap(), None);
    assert_eq!(store.records(&gtuc).unwrap().len(), 2);
    assert_eq!(store.records(&org("gtuc-2")).unwrap(), other);
}

#[test]
fn the_revision_floor_is_the_higher_of_own_and_hub() {
    let (_dir, path, store) = new_store();
    let (gtuc, p) = (org("gtuc"), period("2009"));
    assert_eq!(store.revision_floor(&gtuc, p).unwrap(), 0);
    store.note_hub_revision(&gtuc, p, 4).unwrap();
    store.note_hub_revision(&gtuc, p, 2).unwrap();
    assert_eq!(store.revision_floor(&gtuc, p).unwrap(), 4, "only raised");
    store.put_draft(&draft("gtuc", "2009", 6)).unwrap();
    assert_eq!(store.revision_floor(&gtuc, p).unwrap(), 6);
    store.note_hub_revision(&gtuc, p, 5).unwrap();
    assert_eq!(store.revision_floor(&gtuc, p).unwrap(), 6);
    store.note_hub_revision(&gtuc, p, 9).unwrap();
    assert_eq!(store.revision_floor(&gtuc, p).unwrap(), 9);
    // Other periods and organisations are apart.
    assert_eq!(store.revision_floor(&gtuc, period("2009-H1")).unwrap(), 0);
    assert_eq!(store.revision_floor(&org("gtuc-2"), p).unwrap(), 0);
    store.flush().unwrap();
    drop(store);
    let store = NodeStore::open(&path, CACHE).unwrap();
    assert_eq!(store.revision_floor(&gtuc, p).unwrap(), 9);
}

#[test]
fn put_draft_refuses_a_revision_not_above_the_floor_and_writes_nothing() {
    let (_dir, _path, store) = new_store();
    store.put_draft(&draft("gtuc", "2009", 1)).unwrap();
    let e = store.put_draft(&draft("gtuc", "2009", 1)).unwrap_err();
    assert_eq!(
        e,
        StoreError::RevisionNotAbove {
            org: org("gtuc"),
            period: period("2009"),
            revision: 1,
            floor: 1
        }
    );
    assert!(e.to_string().contains("revision 1 of gtuc for 2009"), "{e}");
    store
        .note_hub_revision(&org("gtuc"), period("2009"), 3)
        .unwrap();
    assert!(matches!(
        store.put_draft(&draft("gtuc", "2009", 3)),
        Err(StoreError::RevisionNotAbove { floor: 3, .. })
    ));
    assert_eq!(store.drafts().unwrap(), vec![draft("gtuc", "2009", 1)]);
    // A refusal is not a storage error: the store still takes writes.
    store.put_draft(&draft("gtuc", "2009", 4)).unwrap();
    store.flush().unwrap();
}

#[test]
fn drafts_come_back_in_organisation_and_period_order() {
    let (_dir, path, store) = new_store();
    let mut withdrawn = draft("gtuc", "2009-H2", 1);
    withdrawn.withdrawn = true;
    withdrawn.payload = vec![];
    for d in [
        draft("gtuc-2", "2009", 1),
        withdrawn.clone(),
        draft("gtuc", "2010", 2),
        draft("gtuc", "2009-Q2", 1),
        draft("gtuc", "2009", 1),
    ] {
        store.put_draft(&d).unwrap();
    }
    store.flush().unwrap();
    drop(store);
    let store = NodeStore::open(&path, CACHE).unwrap();
    assert_eq!(
        store.drafts().unwrap(),
        vec![
            draft("gtuc", "2009", 1),
            draft("gtuc", "2009-Q2", 1),
            withdrawn,
            draft("gtuc", "2010", 2),
            draft("gtuc-2", "2009", 1),
        ]
    );
}

#[test]
fn queue_removes_the_draft_and_appends_to_the_outbox_in_order() {
    let (_dir, path, store) = new_store();
    store.put_draft(&draft("gtuc", "2009", 1)).unwrap();
    store.put_draft(&draft("gtuc", "2010", 1)).unwrap();
    let (a, b, c) = (
        entry(3, "gtuc", "2010", 1, 100),
        entry(1, "gtuc", "2009", 1, 200),
        entry(2, "gtuc-2", "2009", 1, 150),
    );
    store.queue(&a).unwrap();
    assert_eq!(store.drafts().unwrap(), vec![draft("gtuc", "2009", 1)]);
    store.queue(&b).unwrap();
    store.queue(&c).unwrap();
    assert!(store.drafts().unwrap().is_empty());
    // Queued again (a retry after a crash): neither stored nor queued twice.
    store.queue(&a).unwrap();
    assert_eq!(store.outbox_len(), 3);
    assert_eq!(
        store.outbox(0).unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(store.outbox(2).unwrap(), vec![a.clone(), b.clone()]);
    store.flush().unwrap();
    drop(store);

    let store = NodeStore::open(&path, CACHE).unwrap();
    assert_eq!(store.outbox_len(), 3);
    assert_eq!(
        store.outbox(0).unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(store.report(&a.report_id).unwrap(), Some(a.clone()));
    assert_eq!(store.report(&ReportId([9; 32])).unwrap(), None);
    // Newest first by time queued.
    assert_eq!(
        store.reports(None).unwrap(),
        vec![b.clone(), c.clone(), a.clone()]
    );
    assert_eq!(store.reports(Some(&org("gtuc"))).unwrap(), vec![b, a]);
    // After a reopen the sequence goes on from where it was.
    let d = entry(4, "gtuc", "2011", 1, 50);
    store.queue(&d).unwrap();
    assert_eq!(store.outbox(0).unwrap().last(), Some(&d));
}

#[test]
fn a_report_leaves_the_outbox_only_when_asked() {
    let (_dir, path, store) = new_store();
    let (a, b) = (
        entry(1, "gtuc", "2009", 1, 100),
        entry(2, "gtuc", "2010", 1, 200),
    );
    store.queue(&a).unwrap();
    store.queue(&b).unwrap();

    let mut held = a.clone();
    held.attempts = 1;
    held.state = DeliveryState::HeldByRelay;
    held.custody_receipt = Some(envelope("custody", 5));
    store.update_report(&held, false).unwrap();
    assert_eq!(store.outbox_len(), 2);
    assert_eq!(store.outbox(0).unwrap(), vec![held.clone(), b.clone()]);

    let mut decided = held.clone();
    decided.attempts = 2;
    decided.state = DeliveryState::Decided;
    decided.receipt = Some(envelope("receipt", 6));
    store.update_report(&decided, true).unwrap();
    assert_eq!(store.outbox_len(), 1);
    assert_eq!(store.outbox(0).unwrap(), vec![b.clone()]);
    assert_eq!(store.report(&a.report_id).unwrap(), Some(decided.clone()));
    // Leaving twice changes nothing more.
    store.update_report(&decided, true).unwrap();
    assert_eq!(store.outbox_len(), 1);

    let mut set_aside = b.clone();
    set_aside.state = DeliveryState::SetAside;
    set_aside.refusal = Some(StoredRefusal {
        reason: "UNKNOWN_KEY".into(),
        message: "the key k1 is not registered".into(),
    });
    store.update_report(&set_aside, true).unwrap();
    assert_eq!(store.outbox_len(), 0);
    assert!(store.outbox(0).unwrap().is_empty());

    let unknown = entry(9, "gtuc", "2011", 1, 300);
    assert_eq!(
        store.update_report(&unknown, true).unwrap_err(),
        StoreError::UnknownReport(unknown.report_id)
    );
    store.flush().unwrap();
    drop(store);
    let store = NodeStore::open(&path, CACHE).unwrap();
    assert_eq!(store.outbox_len(), 0);
    assert_eq!(store.reports(None).unwrap(), vec![set_aside, decided]);
}

#[test]
fn one_batch_receipt_answers_several_reports_in_one_transaction_and_is_stored_once() {
    let (_dir, path, store) = new_store();
    let entries: Vec<ReportEntry> = (1..=3)
        .map(|n| entry(n, "gtuc", &format!("{}", 2008 + u32::from(n)), 1, 100))
        .collect();
    for e in &entries {
        store.queue(e).unwrap();
    }
    let batch_receipt = Envelope {
        payload_type: alliance_envelope::payload_type::BATCH_RECEIPT.to_owned(),
        payload: vec![7; 4000],
        signatures: vec![],
    };
    let decided: Vec<ReportEntry> = entries[..2]
        .iter()
        .map(|e| ReportEntry {
            state: DeliveryState::Decided,
            receipt: Some(batch_receipt.clone()),
            ..e.clone()
        })
        .collect();
    let unknown = entry(9, "gtuc", "2011", 1, 300);
    let mut with_unknown = decided.clone();
    with_unknown.push(unknown.clone());
    assert_eq!(
        store.update_reports(&with_unknown, true).unwrap_err(),
        StoreError::UnknownReport(unknown.report_id),
        "all or none"
    );
    assert_eq!(store.outbox_len(), 3);

    store.update_reports(&decided, true).unwrap();
    assert_eq!(store.outbox_len(), 1);
    assert_eq!(store.outbox(0).unwrap(), vec![entries[2].clone()]);
    let mut states = Vec::new();
    store
        .delivery_states(|org, state| states.push((org.to_owned(), state)))
        .unwrap();
    states.sort_by_key(|(_, state)| *state == DeliveryState::Pending);
    assert_eq!(
        states,
        [
            ("gtuc".to_owned(), DeliveryState::Decided),
            ("gtuc".to_owned(), DeliveryState::Decided),
            ("gtuc".to_owned(), DeliveryState::Pending),
        ]
    );
    assert_eq!(store.reports(Some(&org("ctu"))).unwrap(), vec![]);
    assert_eq!(store.reports(Some(&org("gtuc"))).unwrap().len(), 3);
    for e in &decided {
        assert_eq!(store.report(&e.report_id).unwrap().as_ref(), Some(e));
    }
    // Re-signing keeps the shared receipt.
    let resigned = ReportEntry {
        envelope: envelope("report-k2", 21),
        ..decided[0].clone()
    };
    store
        .replace_envelopes(std::slice::from_ref(&resigned))
        .unwrap();
    store.flush().unwrap();
    drop(store);

    let store = NodeStore::open(&path, CACHE).unwrap();
    assert_eq!(store.report(&resigned.report_id).unwrap(), Some(resigned));
    assert_eq!(
        store.report(&decided[1].report_id).unwrap().as_ref(),
        Some(&decided[1])
    );
}

#[test]
fn replace_envelopes_keeps_everything_else_and_is_all_or_none() {
    let (_dir, _path, store) = new_store();
    let (a, b) = (
        entry(1, "gtuc", "2009", 1, 100),
        entry(2, "gtuc", "2010", 1, 200),
    );
    store.queue(&a).unwrap();
    store.queue(&b).unwrap();
    let mut decided = b.clone();
    decided.state = DeliveryState::Decided;
    store.update_report(&decided, true).unwrap();

    let resigned = |e: &ReportEntry, n: u8| ReportEntry {
        envelope: envelope("report-k2", n),
        // What else the caller passes is not stored: only the envelope is replaced.
        attempts: 99,
        ..e.clone()
    };
    let unknown = entry(9, "gtuc", "2011", 1, 300);
    assert_eq!(
        store
            .replace_envelopes(&[resigned(&a, 11), resigned(&unknown, 12)])
            .unwrap_err(),
        StoreError::UnknownReport(unknown.report_id)
    );
    assert_eq!(store.report(&a.report_id).unwrap(), Some(a.clone()));

    store
        .replace_envelopes(&[resigned(&a, 11), resigned(&decided, 13)])
        .unwrap();
    let expect_a = ReportEntry {
        envelope: envelope("report-k2", 11),
        ..a
    };
    assert_eq!(store.outbox(0).unwrap(), vec![expect_a]);
    let expect_b = ReportEntry {
        envelope: envelope("report-k2", 13),
        ..decided
    };
    assert_eq!(store.report(&b.report_id).unwrap(), Some(expect_b));
    assert_eq!(store.outbox_len(), 1);
}

#[test]
fn narratives_round_trip_and_empty_text_deletes() {
    let (_dir, path, store) = new_store();
    let (gtuc, p) = (org("gtuc"), period("2009"));
    store.put_narrative(&gtuc, p, "ap-2", "Second.").unwrap();
    store
        .put_narrative(&gtuc, p, "ap-1", "First, draft.")
        .unwrap();
    store.put_narrative(&gtuc, p, "ap-1", "First.").unwrap();
    store.put_narrative(&gtuc, p, "ap-3", "Gone soon.").unwrap();
    store.put_narrative(&gtuc, p, "ap-3", "").unwrap();
    // Neither another period nor another organisation shows through.
    store
        .put_narrative(&gtuc, period("2009-H1"), "ap-1", "Half.")
        .unwrap();
    store
        .put_narrative(&org("gtuc-2"), p, "ap-1", "Other.")
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let store = NodeStore::open(&path, CACHE).unwrap();
    let got = store.narratives(&gtuc, p).unwrap();
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        vec![
            ("ap-1".to_owned(), "First.".to_owned()),
            ("ap-2".to_owned(), "Second.".to_owned())
        ]
    );
    assert!(store.narratives(&gtuc, period("2010")).unwrap().is_empty());
}

#[test]
fn the_store_is_send_sync_clone_and_debug() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_send_sync_clone::<NodeStore>();
    let (_dir, _path, store) = new_store();
    let debug = format!("{store:?}");
    assert!(debug.contains("outbox_len"), "{debug}");
}

#[cfg(feature = "fault-injection")]
mod fault_injection {
    use super::*;

    #[tokio::test]
    async fn a_failed_queue_leaves_nothing_half_written() {
        let (_dir, path, store) = new_store();
        store.put_draft(&draft("gtuc", "2009", 1)).unwrap();
        // A blocking flush rather than `durable`, whose flusher thread may still hold the
        // database for a moment after answering, which would make the reopen below `Locked`.
        store.flush().unwrap();
        let flushes = store.flush_count();

        store.inject_failure_after(0);
        let a = entry(1, "gtuc", "2009", 1, 100);
        let e = store.queue(&a).unwrap_err();
        assert!(
            matches!(&e, StoreError::Io(m) if m.contains("injected storage fault")),
            "{e:?}"
        );
        assert_eq!(store.outbox_len(), 0);
        assert!(store.outbox(0).unwrap().is_empty());
        assert_eq!(store.report(&a.report_id).unwrap(), None);
        assert_eq!(store.drafts().unwrap(), vec![draft("gtuc", "2009", 1)]);
        assert!(matches!(
            store.durable().await.unwrap_err(),
            StoreError::Failed(_)
        ));
        assert_eq!(
            store.flush_count(),
            flushes,
            "a failed store does not flush"
        );
        drop(store);

        // After a restart the draft is still there to be signed and queued again.
        let store = NodeStore::open(&path, CACHE).unwrap();
        assert_eq!(store.drafts().unwrap(), vec![draft("gtuc", "2009", 1)]);
        store.queue(&a).unwrap();
        store.durable().await.unwrap();
        assert_eq!(store.outbox(0).unwrap(), vec![a]);
        assert!(store.drafts().unwrap().is_empty());
    }

    #[test]
    fn a_failed_put_draft_assigns_no_revision() {
        let (_dir, _path, store) = new_store();
        store.inject_failure_after(0);
        assert!(store.put_draft(&draft("gtuc", "2009", 1)).is_err());
        assert_eq!(
            store.revision_floor(&org("gtuc"), period("2009")).unwrap(),
            0
        );
        assert!(store.drafts().unwrap().is_empty());
        assert!(matches!(
            store.note_hub_revision(&org("gtuc"), period("2009"), 1),
            Err(StoreError::Failed(_))
        ));
    }
}

/// A new node store in a temporary directory (kept alive by the returned guard).
fn new_store() -> (tempfile::TempDir, PathBuf, NodeStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("node");
    let store = NodeStore::create(&path, CACHE).expect("a new node store");
    (dir, path, store)
}

fn org(id: &str) -> OrgId {
    id.parse().expect("a valid organisation id")
}

fn period(p: &str) -> Period {
    p.parse().expect("a valid period")
}

fn draft(o: &str, p: &str, revision: u64) -> Draft {
    Draft {
        org: org(o),
        period: period(p),
        revision,
        withdrawn: false,
        payload: format!("{o} {p} {revision}").into_bytes(),
        created_at: Timestamp(1_000 + i64::try_from(revision).expect("small")),
    }
}

/// A count record of `count` people reached.
fn record(o: &str, id: u64, count: u64) -> Record {
    Record {
        id,
        org: org(o),
        date: parse_date("2009-03-01").expect("a valid date"),
        indicator: "awareness.people_reached".parse().expect("an indicator id"),
        value: RecordValue::Count(count),
        breakdowns: [("sex".to_owned(), "women".to_owned())].into(),
        note: format!("note {count}"),
        recorded_at: Timestamp(2_000),
    }
}

/// A queued report with id `[n; 32]`.
fn entry(n: u8, o: &str, p: &str, revision: u64, queued_at: i64) -> ReportEntry {
    ReportEntry {
        report_id: ReportId([n; 32]),
        org: org(o),
        period: period(p),
        revision,
        withdrawn: false,
        envelope: envelope("report", n),
        queued_at: Timestamp(queued_at),
        attempts: 0,
        state: DeliveryState::Pending,
        custody_receipt: None,
        receipt: None,
        refusal: None,
    }
}

/// An envelope with a recognisable payload and one signature (its bytes are not checked here).
fn envelope(what: &str, n: u8) -> Envelope {
    Envelope {
        payload_type: format!("application/vnd.test.{what}"),
        payload: vec![n; 40],
        signatures: vec![Signature {
            keyid: format!("key-{n}"),
            sig: vec![n; 64],
        }],
    }
}
