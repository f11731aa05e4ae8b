//! The hub store through its public interface: every record kind round-trips and survives a
//! reopen, databases are created and opened only as asked, the refusal log is bounded, and
//! group commit really shares flushes.

mod common;

use std::collections::BTreeMap;

use alliance_core::org::{KeyState, OrgKey, OrgKind, Region};
use alliance_core::period::Period;
use alliance_core::receipt::{OutcomeKind, ReportId};
use alliance_core::timestamp::Timestamp;
use alliance_proto::RelayInfo;
use alliance_store::{AuditKind, HubStore, REFUSALS_KEPT, StoreError};

use common::{CACHE, audit, new_store, org, report, token};

#[test]
fn create_refuses_an_existing_database_and_open_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub");
    assert_eq!(
        HubStore::open(&path, CACHE).unwrap_err(),
        StoreError::Missing(path.clone())
    );
    drop(HubStore::create(&path, CACHE).unwrap());
    let e = HubStore::create(&path, CACHE).unwrap_err();
    assert_eq!(e, StoreError::Exists(path.clone()));
    assert!(e.to_string().contains("already exists"), "{e}");
    drop(HubStore::open(&path, CACHE).unwrap());
}

#[test]
fn a_database_open_elsewhere_is_locked() {
    let (_dir, path, store) = new_store();
    let e = HubStore::open(&path, CACHE).unwrap_err();
    assert_eq!(e, StoreError::Locked(path.clone()));
    assert!(
        e.to_string()
            .contains("in use by another process (is its daemon, `alliance-hub serve` or `alliance-node serve`, running?)"),
        "{e}"
    );
    drop(store);
    drop(HubStore::open(&path, CACHE).unwrap());
}

#[test]
fn organisations_round_trip_with_and_without_relay_info() {
    let (_dir, path, store) = new_store();
    let mut relay = org("ituc-africa", OrgKind::RegionalOrganisation, Some("TG"));
    relay.enrolled_at = Some(Timestamp(600));
    relay.keys = vec![
        OrgKey {
            key_id: "k1".into(),
            public_key: [1; 32],
            added_at: Timestamp(600),
            state: KeyState::Rotated {
                grace_until: Timestamp(9_000),
            },
        },
        OrgKey {
            key_id: "k2".into(),
            public_key: [2; 32],
            added_at: Timestamp(700),
            state: KeyState::Active,
        },
    ];
    let info = RelayInfo {
        ca_certificate_der: vec![0x30, 0x82, 1, 2],
        public_address: "relay.example:7443".into(),
    };
    let mut affiliate = org("gtuc", OrgKind::NationalCentre, Some("GH"));
    affiliate.via = Some(relay.id.clone());
    affiliate.hosted = true;
    let guf = {
        let mut g = org("bwi", OrgKind::Guf, None);
        g.region = Region::Global;
        g.sectors = vec!["construction".into()];
        g
    };
    store.put_org(&relay, Some(&info)).unwrap();
    store.put_org(&affiliate, None).unwrap();
    store.put_org(&guf, None).unwrap();
    let expected = vec![
        (guf.clone(), None),
        (affiliate.clone(), None),
        (relay.clone(), Some(info.clone())),
    ];
    assert_eq!(store.orgs().unwrap(), expected, "by id");

    // Replacing keeps one entry per id.
    affiliate.deactivated_at = Some(Timestamp(5_000));
    store.put_org(&affiliate, None).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = HubStore::open(&path, CACHE).unwrap();
    let orgs = store.orgs().unwrap();
    assert_eq!(orgs.len(), 3);
    assert_eq!(orgs[1].0, affiliate);
    assert_eq!(orgs[2], (relay, Some(info)));
}

#[test]
fn join_tokens_round_trip() {
    let (_dir, path, store) = new_store();
    let open = token("tok-a", "gtuc");
    let mut used = token("tok-b", "bwi");
    used.reissue = true;
    used.used_by = Some([7; 32]);
    used.used_at = Some(Timestamp(1_234));
    let mut replaced = token("tok-c", "gtuc");
    replaced.replaced = true;
    for t in [&open, &used, &replaced] {
        store.put_token(t).unwrap();
    }
    assert_eq!(store.token("tok-b").unwrap(), Some(used.clone()));
    assert_eq!(store.token("tok-x").unwrap(), None);
    assert_eq!(
        store.tokens().unwrap(),
        vec![open.clone(), used.clone(), replaced.clone()]
    );

    store.flush().unwrap();
    drop(store);
    let store = HubStore::open(&path, CACHE).unwrap();
    assert_eq!(store.tokens().unwrap(), vec![open, used, replaced]);
}

#[test]
fn reports_round_trip_alone_or_in_batches() {
    let (_dir, path, store) = new_store();
    assert_eq!(store.report_count(), 0);
    let single = report(1, OutcomeKind::Accepted);
    store.put_reports(std::slice::from_ref(&single)).unwrap();
    let batched = [
        report(2, OutcomeKind::Superseded),
        report(3, OutcomeKind::Equivocation),
    ];
    store.put_reports(&batched).unwrap();
    assert_eq!(store.report_count(), 3);

    assert_eq!(
        store.report(&single.report_id).unwrap(),
        Some(single.clone())
    );
    assert_eq!(store.report(&ReportId([9; 32])).unwrap(), None);
    let all: Vec<_> = store.reports().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        all,
        vec![single.clone(), batched[0].clone(), batched[1].clone()]
    );

    // Storing a report again replaces it and is not counted twice, alone or in a batch.
    store.put_reports(std::slice::from_ref(&single)).unwrap();
    store
        .put_reports(&[batched[0].clone(), report(4, OutcomeKind::Accepted)])
        .unwrap();
    assert_eq!(store.report_count(), 4);

    store.flush().unwrap();
    drop(store);
    let store = HubStore::open(&path, CACHE).unwrap();
    assert_eq!(store.report_count(), 4);
    assert_eq!(store.reports().count(), 4);
    assert_eq!(
        store.report(&batched[1].report_id).unwrap(),
        Some(batched[1].clone())
    );
}

#[test]
fn deadlines_and_the_registry_serial_round_trip() {
    let (_dir, path, store) = new_store();
    assert_eq!(store.registry_serial().unwrap(), 0);
    assert!(store.deadlines().unwrap().is_empty());
    let y2009: Period = "2009".parse().unwrap();
    let h1: Period = "2010-H1".parse().unwrap();
    let q3: Period = "2008-Q3".parse().unwrap();
    store.set_deadline(y2009, Timestamp(100)).unwrap();
    store.set_deadline(h1, Timestamp(-5)).unwrap();
    store.set_deadline(q3, Timestamp(7)).unwrap();
    store.set_deadline(y2009, Timestamp(200)).unwrap();
    store.set_registry_serial(41).unwrap();
    store.set_registry_serial(42).unwrap();
    let expected = BTreeMap::from([
        (q3, Timestamp(7)),
        (y2009, Timestamp(200)),
        (h1, Timestamp(-5)),
    ]);
    assert_eq!(store.deadlines().unwrap(), expected);

    store.flush().unwrap();
    drop(store);
    let store = HubStore::open(&path, CACHE).unwrap();
    assert_eq!(store.deadlines().unwrap(), expected);
    assert_eq!(store.registry_serial().unwrap(), 42);
}

#[test]
fn the_audit_log_is_newest_first_by_kind_or_both() {
    let (_dir, path, store) = new_store();
    let kinds = [
        AuditKind::Admin,
        AuditKind::Refusal,
        AuditKind::Refusal,
        AuditKind::Admin,
        AuditKind::Refusal,
    ];
    let mut written = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let mut record = audit(kind, i as i64);
        record.sequence = 999; // ignored
        let sequence = store.append_audit(&record).unwrap();
        record.sequence = sequence;
        written.push(record);
    }
    let sequences: Vec<_> = written.iter().map(|r| r.sequence).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");

    let newest_first: Vec<_> = written.iter().rev().cloned().collect();
    assert_eq!(store.audit(0, None).unwrap(), newest_first);
    assert_eq!(store.audit(2, None).unwrap(), newest_first[..2]);
    assert_eq!(
        store.audit(0, Some(AuditKind::Admin)).unwrap(),
        vec![written[3].clone(), written[0].clone()]
    );
    assert_eq!(
        store.audit(2, Some(AuditKind::Refusal)).unwrap(),
        vec![written[4].clone(), written[2].clone()]
    );
    assert_eq!(store.refusals_total().unwrap(), 3);

    store.flush().unwrap();
    drop(store);
    let store = HubStore::open(&path, CACHE).unwrap();
    assert_eq!(store.audit(0, None).unwrap(), newest_first);
    let next = store.append_audit(&audit(AuditKind::Admin, 9)).unwrap();
    assert!(next > sequences[4], "sequence keeps rising after reopen");
}

#[test]
fn only_the_newest_refusals_are_kept_but_all_are_counted() {
    let (_dir, path, store) = new_store();
    let extra = 100;
    let total = REFUSALS_KEPT + extra;
    store.append_audit(&audit(AuditKind::Admin, -1)).unwrap();
    for i in 0..total {
        store
            .append_audit(&audit(AuditKind::Refusal, i as i64))
            .unwrap();
    }
    store.append_audit(&audit(AuditKind::Admin, -2)).unwrap();
    assert_eq!(store.refusals_total().unwrap(), total);

    let kept = store.audit(0, Some(AuditKind::Refusal)).unwrap();
    assert_eq!(kept.len() as u64, REFUSALS_KEPT);
    assert_eq!(kept[0].at, Timestamp(total as i64 - 1), "newest first");
    assert_eq!(
        kept.last().unwrap().at,
        Timestamp(extra as i64),
        "the oldest {extra} are gone"
    );
    // Admin entries are never dropped.
    let all = store.audit(0, None).unwrap();
    assert_eq!(all.len() as u64, REFUSALS_KEPT + 2);
    assert_eq!(all[0].at, Timestamp(-2));
    assert_eq!(all.last().unwrap().at, Timestamp(-1));

    store.flush().unwrap();
    drop(store);
    let store = HubStore::open(&path, CACHE).unwrap();
    store
        .append_audit(&audit(AuditKind::Refusal, total as i64))
        .unwrap();
    assert_eq!(store.refusals_total().unwrap(), total + 1);
    let kept = store.audit(0, Some(AuditKind::Refusal)).unwrap();
    assert_eq!(kept.len() as u64, REFUSALS_KEPT);
    assert_eq!(kept.last().unwrap().at, Timestamp(extra as i64 + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_writers_share_flushes() {
    let (_dir, _path, store) = new_store();
    let writers = 64;
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_token(&token(&format!("tok-{i}"), "gtuc"))
                    .unwrap();
                store.durable().await.unwrap();
                // Every write acknowledged is there.
                assert!(store.token(&format!("tok-{i}")).unwrap().is_some());
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let flushes = store.flush_count();
    assert!(flushes >= 1);
    assert!(
        flushes <= writers / 4,
        "{flushes} flushes for {writers} concurrent writers: group commit did not coalesce"
    );
    // Nothing new was written, so nothing more is flushed.
    store.durable().await.unwrap();
    assert_eq!(store.flush_count(), flushes);
}

#[tokio::test]
async fn durable_data_survives_a_reopen() {
    let (_dir, path, store) = new_store();
    store.put_token(&token("tok-a", "gtuc")).unwrap();
    store.durable().await.unwrap();
    drop(store);
    let store = HubStore::open(&path, CACHE).unwrap();
    assert!(store.token("tok-a").unwrap().is_some());
}

#[test]
fn the_store_is_send_sync_clone_and_debug() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    check::<HubStore>();
    let (_dir, _path, store) = new_store();
    let debug = format!("{store:?}");
    assert!(debug.contains("HubStore"), "{debug}");
}
