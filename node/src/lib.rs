//! The affiliate's node: local records that never leave it, reports with disclosure control,
//! signing, and a durable outbox that pushes to the hub or a relay. With relaying on, the same
//! daemon serves smaller affiliates and hosts those that run no node.
//!
//! For now the library holds the command line only; the daemon arrives with the node issue and
//! will be exposed as `run(listener, shutdown)` so that tests start the real server in-process.

pub mod cli;
