//! The affiliate's node: local records that never leave it, reports with disclosure control,
//! signing, and a durable outbox that pushes to the hub or a relay.
//!
//! - [`node::Node`] is the state and every operation on it; [`service`] holds the gRPC adapters
//!   of the admin socket; [`serve::run`] is the daemon, which tests start in-process.
//! - [`init`] enrolls a new node; [`upstream`] is the client of the hub's interface.
//! - [`relay`] is relay mode: the hub's interface offered to affiliates `--via` this node.
//! - [`cli`], [`commands`], [`admin_client`] and [`render`] are the command line.

pub mod admin_client;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crash;
pub mod init;
pub mod node;
pub mod records;
pub mod relay;
pub mod render;
pub mod serve;
pub mod service;
pub mod upstream;
