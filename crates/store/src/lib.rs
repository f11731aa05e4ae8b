//! The only crate that knows sled: the hub's database behind a small typed interface
//! ([`HubStore`]), with a format version on every value and an explicit flush discipline.
//!
//! # Layout
//!
//! One sled database per daemon, in a directory of its own, opened with an explicit cache size.
//! Each kind of record has its own tree (the hub's are listed in [`hub`]); the `meta` tree
//! records what the database is — its kind (`hub`) and its format version, checked on open —
//! and a few counters. Every stored value starts with a format-version byte (1), so that one
//! kind of value can change without rewriting the rest. Anything that cannot be decoded is
//! reported as [`StoreError::Corrupt`] naming the tree and key, never a panic.
//!
//! # Durability
//!
//! A write returns when sled has it in memory, not on disk. Nothing may be acknowledged until
//! [`HubStore::durable`] has resolved: it waits for a flush (fsync) that began after every
//! write completed before the call. Concurrent callers share flushes (group commit), so a busy
//! hub makes one flush per round rather than one per request. Writes that must survive a crash
//! together are made in one sled transaction (a batch receipt with its reports; an audit entry
//! with its counters).
//!
//! After the first failed write or flush (a full disk, an unwritable file) the store is
//! *failed*: every later write, flush and `durable` is refused with [`StoreError::Failed`]
//! carrying the first error, because what is on disk is no longer known. Reads may still work.
//! A restart reopens the database as sled last flushed it, which holds everything acknowledged.
//!
//! # Parts
//!
//! The generic parts are kept apart from the hub's trees so that a node store can reuse them:
//! opening, creating and checking a database, the failed-state latch and the write sequence
//! (`db`), group commit (`flusher`), value framing (`value`) and fault injection (`fault`,
//! behind the cargo feature `fault-injection`).

mod db;
mod error;
#[cfg(feature = "fault-injection")]
mod fault;
mod flusher;
pub mod hub;
pub mod node;
mod value;

pub use error::StoreError;
pub use hub::{
    AuditKind, AuditRecord, HUB_FORMAT_VERSION, HubStore, JoinToken, REFUSALS_KEPT, StoredReport,
};
pub use node::{
    DeliveryState, Draft, NODE_FORMAT_VERSION, NodeStore, OrgEntry, ReportEntry, Setup,
    StoredRefusal,
};
