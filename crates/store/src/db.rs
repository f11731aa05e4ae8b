//! The parts every store shares: creating and opening a sled database and checking what it is,
//! the failed-state latch, the write sequence that group commit waits on, and fault injection.
//!
//! A store (such as [`crate::HubStore`]) owns one [`Database`] behind an `Arc`, opens its own
//! trees from it, and sends every write through [`Database::write`] and every flush through
//! [`Database::flush`]. Those two are where errors latch the store as failed, where the write
//! sequence rises, and where injected faults strike.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StoreError;
use crate::value;

/// Which store a database belongs to, and the layout version this build reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kind {
    /// Recorded in the meta tree, so that a node database is never opened as a hub's.
    pub name: &'static str,
    /// The database format version: it changes when trees or keys change meaning.
    pub format_version: u32,
}

/// The tree that records what the database is; stores may keep their own counters in it too.
pub(crate) const META: &str = "meta";
/// Meta key: the database format version, a big-endian `u32` (the one meta value that has no
/// version byte: it *is* the version).
const FORMAT_VERSION_KEY: &str = "format_version";
/// Meta key: the store kind's name, UTF-8.
const KIND_KEY: &str = "kind";

/// What sled says when another process holds the database file's lock (sled 0.34,
/// `Config::try_lock`). sled reports it as a plain I/O error, so the text is all there is.
const SLED_LOCK_MESSAGE: &str = "could not acquire lock";

/// One open sled database with its failure latch and write sequence.
pub(crate) struct Database {
    db: sled::Db,
    meta: sled::Tree,
    path: PathBuf,
    /// sled's log file, opened again to be synced after each flush (see [`Database::flush`]).
    log: std::fs::File,
    /// The message of the first write or flush that failed. Once set, never cleared: the
    /// store's state on disk is unknown, so nothing more may be acknowledged.
    failure: OnceLock<String>,
    /// How many writes have completed. It rises only after sled returned, so a flush that
    /// starts after reading `n` here covers the first `n` writes.
    written: AtomicU64,
    /// How many sled flushes were made (for tests of group commit).
    flushes: AtomicU64,
    #[cfg(feature = "fault-injection")]
    fault: crate::fault::Fault,
}

/// A write's failure: sled's (which latches the store) or the store's own (a corrupt counter
/// found before anything was written, which does not).
#[derive(Debug)]
pub(crate) enum WriteError {
    Sled(sled::Error),
    Store(StoreError),
}

impl Database {
    /// Creates a new database in `path` (creating the directory if needed), records its kind
    /// and format version, and flushes them. A crash before that flush leaves a database
    /// without them, which `open` reports as corrupt rather than guessing what it is.
    pub(crate) fn create(
        path: &Path,
        cache_capacity_bytes: u64,
        kind: Kind,
    ) -> Result<Database, StoreError> {
        if database_file(path).exists() {
            return Err(StoreError::Exists(path.to_owned()));
        }
        // create_new makes sled refuse an existing data file, so a race with another create
        // cannot end with two processes believing they made the database.
        let db = config(path, cache_capacity_bytes)
            .create_new(true)
            .open()
            .map_err(|e| open_error(path, e))?;
        let meta = db.open_tree(META).map_err(io)?;
        meta.insert(FORMAT_VERSION_KEY, &kind.format_version.to_be_bytes())
            .map_err(io)?;
        meta.insert(KIND_KEY, kind.name).map_err(io)?;
        let database = Database::new(db, meta, path)?;
        database.persist()?;
        Ok(database)
    }

    /// Opens an existing database, checking that it is of this kind and format version.
    pub(crate) fn open(
        path: &Path,
        cache_capacity_bytes: u64,
        kind: Kind,
    ) -> Result<Database, StoreError> {
        // Without this check sled would quietly create an empty database, and a mistyped data
        // directory would look like a hub that lost everything.
        if !database_file(path).is_file() {
            return Err(StoreError::Missing(path.to_owned()));
        }
        let db = open_waiting_for_lock(path, cache_capacity_bytes)?;
        let meta = db.open_tree(META).map_err(io)?;
        check_kind(&meta, kind)?;
        Database::new(db, meta, path)
    }

    /// Opens (creating if needed) one tree. Call it when the store is opened, not per write.
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(name).map_err(io)
    }

    /// The meta tree.
    pub(crate) fn meta(&self) -> &sled::Tree {
        &self.meta
    }

    /// Runs one write operation (which may touch several keys or trees, but counts as one
    /// write for the write sequence and fault injection). A sled error latches the store as
    /// failed and is returned as `Io`; once failed, every write is refused with `Failed`.
    pub(crate) fn write<T>(
        &self,
        op: impl FnOnce() -> Result<T, WriteError>,
    ) -> Result<T, StoreError> {
        self.check_failed()?;
        #[cfg(feature = "fault-injection")]
        if let Err(message) = self.fault.take_write() {
            return Err(self.fail(message));
        }
        match op() {
            Ok(value) => {
                self.written.fetch_add(1, Ordering::SeqCst);
                Ok(value)
            }
            Err(WriteError::Sled(e)) => Err(self.fail(e.to_string())),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    /// Flushes every write completed so far to disk (fsync), blocking. Group commit
    /// ([`crate::flusher::GroupCommit`]) calls this from its own thread.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.check_flushable()?;
        self.flushes.fetch_add(1, Ordering::SeqCst);
        self.persist()
    }

    /// sled's flush, then fdatasync of its log file. On Linux sled 0.34 makes its log writes
    /// stable with `sync_file_range`, which neither commits the file's size nor empties the
    /// disk's write cache: what it flushed survives a killed process, not a power cut.
    /// fdatasync does both, and group commit shares it between everyone waiting.
    fn persist(&self) -> Result<(), StoreError> {
        if let Err(e) = self.db.flush() {
            return Err(self.fail(e.to_string()));
        }
        self.log.sync_data().map_err(|e| {
            self.fail(format!(
                "syncing {}: {e}",
                database_file(&self.path).display()
            ))
        })
    }

    /// What a flush would answer without flushing: `Failed` if the store has failed (and, with
    /// fault injection, the injected fault once it has struck). Group commit asks this before
    /// deciding that a caller has nothing to wait for, so that a failed store never reports
    /// anything durable.
    pub(crate) fn check_flushable(&self) -> Result<(), StoreError> {
        self.check_failed()?;
        #[cfg(feature = "fault-injection")]
        if let Err(message) = self.fault.check_flush() {
            return Err(self.fail(message));
        }
        Ok(())
    }

    /// How many writes have completed (see the field).
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// How many sled flushes were made.
    pub(crate) fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::SeqCst)
    }

    /// The first failure's message, if the store has failed.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// `Failed` with the first failure's message, if the store has failed.
    pub(crate) fn check_failed(&self) -> Result<(), StoreError> {
        match self.failure.get() {
            Some(message) => Err(StoreError::Failed(message.clone())),
            None => Ok(()),
        }
    }

    /// See [`crate::HubStore::inject_failure_after`].
    #[cfg(feature = "fault-injection")]
    pub(crate) fn inject_failure_after(&self, writes: u64) {
        self.fault.arm(writes);
    }

    fn new(db: sled::Db, meta: sled::Tree, path: &Path) -> Result<Database, StoreError> {
        let log = std::fs::File::open(database_file(path)).map_err(|e| {
            StoreError::Io(format!("opening {}: {e}", database_file(path).display()))
        })?;
        Ok(Database {
            db,
            meta,
            path: path.to_owned(),
            log,
            failure: OnceLock::new(),
            written: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            #[cfg(feature = "fault-injection")]
            fault: crate::fault::Fault::default(),
        })
    }

    /// Latches the store as failed (keeping the first message if several writes fail at once)
    /// and returns the error for the operation that failed.
    fn fail(&self, message: String) -> StoreError {
        let _ = self.failure.set(message.clone());
        StoreError::Io(message)
    }
}

// sled's own Debug for a tree walks and prints all of it.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("failure", &self.failure.get())
            .field("written", &self.written())
            .field("flushes", &self.flush_count())
            .finish_non_exhaustive()
    }
}

impl From<sled::Error> for WriteError {
    fn from(e: sled::Error) -> Self {
        WriteError::Sled(e)
    }
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

/// A transaction aborts with a `StoreError` (a corrupt value found inside it); anything else
/// is sled's.
impl From<sled::transaction::TransactionError<StoreError>> for WriteError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => WriteError::Store(e),
            sled::transaction::TransactionError::Storage(e) => WriteError::Sled(e),
        }
    }
}

/// A sled error on a read (or while opening) as an `Io` error. Reads do not latch the store:
/// nothing was changed, and a later read may succeed.
pub(crate) fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// The sled configuration every store uses.
///
/// sled's periodic background flush (every 500 ms by default) is left on: it only makes data
/// durable sooner, and durability is never assumed from it — acknowledgements wait for
/// [`Database::flush`]. Turning it off would just lose writes that were never acknowledged
/// anyway, while making an idle store's data reach the disk later.
fn config(path: &Path, cache_capacity_bytes: u64) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(cache_capacity_bytes)
}

/// sled's data file in a database directory; its presence is what "a database exists" means.
fn database_file(path: &Path) -> PathBuf {
    path.join("db")
}

/// How long `open` waits for a lock held by a handle that is going away.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens with sled, waiting up to [`LOCK_WAIT`] while the database is locked: sled's
/// background threads hold the lock for a moment after the last handle of this process is
/// dropped, and a command that stops and reopens a database (or a test) would otherwise be
/// refused. A lock held by a running daemon outlasts the wait and is refused as `Locked`.
fn open_waiting_for_lock(path: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match config(path, cache_capacity_bytes).open() {
            Ok(db) => return Ok(db),
            Err(e) => match open_error(path, e) {
                StoreError::Locked(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                error => return Err(error),
            },
        }
    }
}

/// Maps an error of sled's `open` to `Locked` or `Exists` where it is one of those.
fn open_error(path: &Path, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists => {
            StoreError::Exists(path.to_owned())
        }
        sled::Error::Io(io) if io.to_string().contains(SLED_LOCK_MESSAGE) => {
            StoreError::Locked(path.to_owned())
        }
        _ => StoreError::Io(format!(
            "cannot open the database in {}: {e}",
            path.display()
        )),
    }
}

/// Checks the meta tree's kind and format version against what this build expects.
fn check_kind(meta: &sled::Tree, kind: Kind) -> Result<(), StoreError> {
    let corrupt = |key: &str, problem: String| StoreError::Corrupt {
        tree: META,
        key: key.to_owned(),
        problem,
    };
    let never_created =
        || "missing: the database was never completely created (a crash during create?)";
    let found_kind = meta
        .get(KIND_KEY)
        .map_err(io)?
        .ok_or_else(|| corrupt(KIND_KEY, never_created().to_owned()))?;
    if found_kind != kind.name.as_bytes() {
        return Err(corrupt(
            KIND_KEY,
            format!(
                "this is a {} database, not a {} database",
                value::display_key(&found_kind),
                kind.name
            ),
        ));
    }
    let version = meta
        .get(FORMAT_VERSION_KEY)
        .map_err(io)?
        .ok_or_else(|| corrupt(FORMAT_VERSION_KEY, never_created().to_owned()))?;
    let found = <[u8; 4]>::try_from(version.as_ref())
        .map(u32::from_be_bytes)
        .map_err(|_| {
            corrupt(
                FORMAT_VERSION_KEY,
                format!("{} bytes where 4 were expected", version.len()),
            )
        })?;
    if found != kind.format_version {
        return Err(StoreError::FormatVersion {
            found,
            supported: kind.format_version,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Kind = Kind {
        name: "test",
        format_version: 3,
    };
    const CACHE: u64 = 1 << 20;

    #[test]
    fn create_then_open_checks_kind_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        drop(Database::create(&path, CACHE, TEST).unwrap());
        assert!(matches!(
            Database::create(&path, CACHE, TEST),
            Err(StoreError::Exists(p)) if p == path
        ));
        drop(Database::open(&path, CACHE, TEST).unwrap());

        let newer = Kind {
            format_version: 4,
            ..TEST
        };
        assert_eq!(
            Database::open(&path, CACHE, newer).unwrap_err(),
            StoreError::FormatVersion {
                found: 3,
                supported: 4
            }
        );
        let other = Kind {
            name: "other",
            ..TEST
        };
        let e = Database::open(&path, CACHE, other).unwrap_err();
        assert!(
            matches!(&e, StoreError::Corrupt { tree: META, key, .. } if key == KIND_KEY),
            "{e:?}"
        );
    }

    #[test]
    fn open_refuses_a_missing_database_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nothing");
        assert_eq!(
            Database::open(&path, CACHE, TEST).unwrap_err(),
            StoreError::Missing(path.clone())
        );
        assert!(!path.exists());
    }

    #[test]
    fn a_second_open_in_the_same_process_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let first = Database::create(&path, CACHE, TEST).unwrap();
        let e = Database::open(&path, CACHE, TEST).unwrap_err();
        assert_eq!(e, StoreError::Locked(path.clone()));
        assert!(e.to_string().contains("in use by another process"), "{e}");
        drop(first);
    }

    #[test]
    fn a_write_error_latches_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(&dir.path().join("store"), CACHE, TEST).unwrap();
        db.write(|| Ok(db.meta().insert("a", "1")?)).unwrap();
        assert_eq!(db.written(), 1);
        let e = db
            .write(|| -> Result<(), _> {
                Err(WriteError::Sled(sled::Error::Unsupported(
                    "disk full".into(),
                )))
            })
            .unwrap_err();
        assert!(
            matches!(&e, StoreError::Io(m) if m.contains("disk full")),
            "{e:?}"
        );
        let failed = db.write(|| Ok(db.meta().insert("b", "2")?)).unwrap_err();
        assert!(matches!(&failed, StoreError::Failed(m) if m.contains("disk full")));
        assert!(matches!(db.flush(), Err(StoreError::Failed(_))));
        assert_eq!(db.written(), 1);
        // Reads still work.
        assert!(db.meta().get("a").unwrap().is_some());
    }

    #[test]
    fn a_store_error_inside_a_write_does_not_latch() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(&dir.path().join("store"), CACHE, TEST).unwrap();
        let e = db
            .write(|| -> Result<(), _> { Err(StoreError::Io("x".into()).into()) })
            .unwrap_err();
        assert_eq!(e, StoreError::Io("x".into()));
        db.write(|| Ok(db.meta().insert("a", "1")?)).unwrap();
        db.flush().unwrap();
    }
}
