//! Storage errors on demand (cargo feature `fault-injection`): the store fails at the write it
//! was told to, stays failed, and what was flushed before is there after a reopen.
//!
//! Run with `cargo test -p alliance-store --features fault-injection`.

#![cfg(feature = "fault-injection")]

mod common;

use alliance_core::receipt::OutcomeKind;
use alliance_store::{AuditKind, HubStore, StoreError};

use common::{CACHE, audit, new_store, report, token};

fn is_injected(e: &StoreError) -> bool {
    matches!(e, StoreError::Io(m) if m.contains("injected storage fault"))
}

fn is_failed(e: &StoreError) -> bool {
    matches!(e, StoreError::Failed(m) if m.contains("injected storage fault"))
}

#[tokio::test]
async fn writes_fail_after_n_and_the_failure_is_sticky() {
    let (_dir, path, store) = new_store();
    store.put_token(&token("before", "gtuc")).unwrap();
    store.durable().await.unwrap();

    store.inject_failure_after(2);
    store.put_token(&token("allowed-1", "gtuc")).unwrap();
    store.append_audit(&audit(AuditKind::Refusal, 1)).unwrap();
    let e = store.put_token(&token("refused", "gtuc")).unwrap_err();
    assert!(is_injected(&e), "{e:?}");

    // Sticky: every later write, durable and flush is refused with the first message.
    let e = store
        .put_reports(&[report(1, OutcomeKind::Accepted)])
        .unwrap_err();
    assert!(is_failed(&e), "{e:?}");
    assert!(is_failed(&store.set_registry_serial(3).unwrap_err()));
    assert!(is_failed(&store.durable().await.unwrap_err()));
    assert!(is_failed(&store.flush().unwrap_err()));
    assert!(e.to_string().contains("accepts no more writes"), "{e}");

    // Reads still work.
    assert!(store.token("before").unwrap().is_some());
    assert!(store.token("refused").unwrap().is_none());
    assert_eq!(store.report_count(), 0);

    drop(store);
    let store = HubStore::open(&path, CACHE).unwrap();
    assert!(
        store.token("before").unwrap().is_some(),
        "flushed before the fault"
    );
    assert!(store.token("refused").unwrap().is_none());
    // A reopened store is healthy again (a restart with space recovers).
    store.put_token(&token("after", "gtuc")).unwrap();
    store.durable().await.unwrap();
}

#[tokio::test]
async fn once_the_allowance_is_used_durable_fails_too() {
    let (_dir, _path, store) = new_store();
    store.inject_failure_after(1);
    store.put_token(&token("a", "gtuc")).unwrap();
    let e = store.durable().await.unwrap_err();
    assert!(is_injected(&e), "{e:?}");
    assert!(is_failed(&store.durable().await.unwrap_err()));
    assert!(is_failed(
        &store.put_token(&token("b", "gtuc")).unwrap_err()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_waiter_hears_of_a_failed_flush() {
    let (_dir, _path, store) = new_store();
    // The writes use up the allowance, so the flush all the waiters share is the one that fails.
    // (A waiter whose flush ran before the allowance was used up would rightly succeed, so the
    // writes are all made first.)
    store.inject_failure_after(16);
    for i in 0..16 {
        store.put_token(&token(&format!("t{i}"), "gtuc")).unwrap();
    }
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.durable().await })
        })
        .collect();
    for task in tasks {
        let e = task.await.unwrap().unwrap_err();
        assert!(is_injected(&e) || is_failed(&e), "{e:?}");
    }
}

#[test]
fn zero_fails_the_very_next_write() {
    let (_dir, _path, store) = new_store();
    store.inject_failure_after(0);
    assert!(is_injected(
        &store.append_audit(&audit(AuditKind::Admin, 1)).unwrap_err()
    ));
    assert!(is_failed(&store.flush().unwrap_err()));
}
