//! Shared plumbing for the `alliance-hub` and `alliance-node` daemons.
//!
//! Everything here is about processes, files and sockets, never about reports: TLS material and
//! rustls configurations ([`tls`], ring as the only crypto provider), the listeners a daemon serves
//! gRPC on ([`serve`]: TLS on the network, a mode-0600 Unix socket for administration), the
//! channels it dials ([`client`]), its log output ([`logging`]), files that must be private
//! from the moment they exist ([`files`]) and the variable that arms storage faults in test builds
//! ([`fault`]).

pub mod client;
mod error;
pub mod fault;
pub mod files;
pub mod logging;
pub mod serve;
pub mod tls;

pub use error::{AdminSocketError, DaemonError, TlsError};
