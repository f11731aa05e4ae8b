//! Group commit: many callers waiting for durability share one flush.
//!
//! Every completed write raises the database's write sequence ([`Database::written`]). A caller
//! of [`GroupCommit::durable`] takes the current value as its *ticket* and waits until a flush
//! that started after the sequence reached the ticket has finished. One flusher thread at a
//! time reads the sequence (its *target*), flushes, and wakes every waiter whose ticket is at
//! most the target; waiters that arrived with a higher ticket while it flushed are served by its
//! next round, and it stops when nobody waits. So under load there is one flush in progress and
//! one gathering waiters, however many callers there are.
//!
//! The flusher is a plain thread rather than a tokio task: sled's flush blocks, and a thread
//! works under any executor (or none) and cannot be starved of the runtime's blocking pool.
//! Starting one per busy spell costs microseconds against a flush's milliseconds.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::oneshot;

use crate::db::Database;
use crate::error::StoreError;

/// The group-commit state of one database. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    db: Arc<Database>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Every write up to this sequence number is known to be on disk.
    flushed: u64,
    /// Whether a flusher thread is running (it clears this when it stops, under the lock).
    running: bool,
    /// Callers waiting, with their tickets.
    waiters: Vec<(u64, oneshot::Sender<Result<(), StoreError>>)>,
}

impl GroupCommit {
    pub(crate) fn new(db: Arc<Database>) -> Self {
        GroupCommit {
            shared: Arc::new(Shared {
                db,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Resolves once every write that completed before this call is on disk.
    pub(crate) async fn durable(&self) -> Result<(), StoreError> {
        let shared = &self.shared;
        shared.db.check_flushable()?;
        let ticket = shared.db.written();
        let answer = {
            let mut state = shared.lock();
            if state.flushed >= ticket {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            state.waiters.push((ticket, tx));
            if !state.running {
                state.running = true;
                let flusher = Arc::downgrade(shared);
                let spawned = std::thread::Builder::new()
                    .name("alliance-store-flush".to_owned())
                    .spawn(move || Shared::run(&flusher));
                if let Err(e) = spawned {
                    // Nobody will flush: answer everyone waiting now, so nobody hangs. Nothing
                    // was written wrongly, so the store is not latched; a later call retries.
                    state.running = false;
                    let error = StoreError::Io(format!("cannot start the flusher thread: {e}"));
                    for (_, waiter) in state.waiters.drain(..) {
                        let _ = waiter.send(Err(error.clone()));
                    }
                }
            }
            rx
        };
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Io(
                "the flusher stopped before answering".to_owned(),
            ))
        })
    }

    /// Flushes now, blocking, and records what it covered (for shutdown and direct CLI use).
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let target = self.shared.db.written();
        self.shared.db.flush()?;
        let mut state = self.shared.lock();
        state.flushed = state.flushed.max(target);
        Ok(())
    }
}

impl Shared {
    /// The flusher thread: flush rounds until nobody waits.
    ///
    /// It holds the database only while it flushes: waiters are answered after it has let go,
    /// so a caller that drops its store once `durable()` returns can open the database again at
    /// once without finding it still held by this thread.
    fn run(weak: &Weak<Shared>) {
        loop {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            // Read before flushing: every write counted here completed before the flush began,
            // so the flush covers it.
            let target = shared.db.written();
            let result = shared.db.flush();
            let mut state = shared.lock();
            let (answer, done) = match result {
                Ok(()) => {
                    state.flushed = state.flushed.max(target);
                    let flushed = state.flushed;
                    let (done, waiting) = std::mem::take(&mut state.waiters)
                        .into_iter()
                        .partition::<Vec<_>, _>(|(ticket, _)| *ticket <= flushed);
                    state.waiters = waiting;
                    tracing::trace!(target, woken = done.len(), "group commit flushed");
                    (Ok(()), done)
                }
                // The store is latched as failed now: everyone waiting hears of it, and later
                // callers are refused before they wait.
                Err(error) => (Err(error), std::mem::take(&mut state.waiters)),
            };
            let finished = state.waiters.is_empty();
            if finished {
                state.running = false;
            }
            drop(state);
            drop(shared);
            for (_, waiter) in done {
                let _ = waiter.send(answer.clone());
            }
            if finished {
                return;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock guards plain bookkeeping that is consistent between statements, so a panic
        // elsewhere while holding it leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Kind;

    const TEST: Kind = Kind {
        name: "test",
        format_version: 1,
    };

    fn commit() -> (tempfile::TempDir, Arc<Database>, GroupCommit) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(&dir.path().join("db"), 1 << 20, TEST).unwrap());
        let commit = GroupCommit::new(Arc::clone(&db));
        (dir, db, commit)
    }

    fn write(db: &Database, key: &str) {
        db.write(|| Ok(db.meta().insert(key, "x")?)).unwrap();
    }

    #[tokio::test]
    async fn nothing_written_needs_no_flush() {
        let (_dir, db, commit) = commit();
        commit.durable().await.unwrap();
        assert_eq!(db.flush_count(), 0);
    }

    #[tokio::test]
    async fn each_write_is_flushed_once() {
        let (_dir, db, commit) = commit();
        write(&db, "a");
        commit.durable().await.unwrap();
        assert_eq!(db.flush_count(), 1);
        // Already covered: no second flush.
        commit.durable().await.unwrap();
        assert_eq!(db.flush_count(), 1);
        write(&db, "b");
        commit.durable().await.unwrap();
        assert_eq!(db.flush_count(), 2);
        // A blocking flush counts as covering too.
        write(&db, "c");
        commit.flush().unwrap();
        commit.durable().await.unwrap();
        assert_eq!(db.flush_count(), 3);
    }

    #[test]
    fn durable_works_outside_tokio() {
        // The flusher is a thread and the waiter a oneshot, so any executor can wait.
        let (_dir, db, commit) = commit();
        write(&db, "a");
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut durable = std::pin::pin!(commit.durable());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let std::task::Poll::Ready(result) = durable.as_mut().poll(&mut cx) {
                result.unwrap();
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "durable never resolved"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(db.flush_count(), 1);
    }
}
