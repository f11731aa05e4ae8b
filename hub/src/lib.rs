//! The ITUC hub: registry of organisations and keys, enrollment, verified ingest, the merged
//! alliance-wide view, coverage, exports and the audit log.
//!
//! For now the library holds the command line only; the daemon arrives with the hub issue and
//! will be exposed as `run(listener, shutdown)` so that tests start the real server in-process.

pub mod cli;
