//! The ITUC hub: registry of organisations and keys, enrollment, verified ingest, the merged
//! alliance-wide view, coverage, exports and the audit log.
//!
//! - [`hub::Hub`]: the state and every operation, independent of the transport.
//! - [`service`]: the gRPC services, thin adapters over the hub.
//! - [`serve::run`]: the daemon, started in-process by tests exactly as `main` starts it.
//! - [`cli`], [`commands`], [`admin_client`], [`init`]: the command line; commands reach a
//!   running hub over its admin socket, or open its database directly while it is stopped.
//! - [`render`], [`export`]: what the command line prints and exports.

pub mod admin_client;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crash;
pub mod export;
pub mod hub;
pub mod init;
pub mod render;
pub mod serve;
pub mod service;
