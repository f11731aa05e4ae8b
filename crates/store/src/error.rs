//! The one error type of the store.

use std::path::PathBuf;

use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::receipt::ReportId;

/// Why a store operation failed.
///
/// `Io` and `Failed` mean the store can no longer be trusted to keep what it is given: after
/// the first failed write or flush every later write, flush and [`durable`] answers `Failed`
/// with the first error's message (reads may still work).
///
/// [`durable`]: crate::HubStore::durable
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `create` on a directory that already holds a database.
    #[error("a database already exists in {}", .0.display())]
    Exists(PathBuf),
    /// `open` where there is no database.
    #[error("there is no database in {}", .0.display())]
    Missing(PathBuf),
    /// Another process has the database open: sled holds an exclusive lock on its file.
    #[error(
        "the database in {} is in use by another process (is its daemon, `alliance-hub serve` or `alliance-node serve`, running?)",
        .0.display()
    )]
    Locked(PathBuf),
    /// The database was written by a build with another layout.
    #[error(
        "the database has format version {found}, but this build supports only version {supported}"
    )]
    FormatVersion { found: u32, supported: u32 },
    /// A stored key or value cannot be decoded.
    #[error("the database is corrupt: tree {tree}, key {key}: {problem}")]
    Corrupt {
        tree: &'static str,
        key: String,
        problem: String,
    },
    /// A node was asked to store a revision that is not above the highest one it assigned
    /// or learned from the hub: signing it could reuse a number.
    #[error(
        "cannot store revision {revision} of {org} for {period}: revisions must rise above {floor}, the highest already assigned or won at the hub"
    )]
    RevisionNotAbove {
        org: OrgId,
        period: Period,
        revision: u64,
        floor: u64,
    },
    /// A node was asked to update a signed report it does not hold.
    #[error("cannot update report {0}: no signed report with this id is stored")]
    UnknownReport(ReportId),
    /// sled or the file system failed (including a full disk).
    #[error("storage error: {0}")]
    Io(String),
    /// An earlier write or flush failed; the store refuses every write and flush since.
    #[error("the store failed earlier and accepts no more writes: {0}")]
    Failed(String),
}
