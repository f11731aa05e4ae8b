//! The hub's data directory and its configuration file, `hub.toml`.
//!
//! Layout of a data directory (created by `alliance-hub init`, mode 0700):
//!
//! ```text
//! DIR/hub.toml          this configuration
//! DIR/hub.key           the hub's Ed25519 signing key: 32 raw seed bytes, mode 0600
//! DIR/db/               the sled database
//! DIR/tls/ca.pem        the CA certificate whose fingerprint goes into join codes
//! DIR/tls/ca.key        the CA's private key, when the hub generated the CA (mode 0600)
//! DIR/tls/server.pem    the server certificate chain presented on the ingest port
//! DIR/tls/server.key    its private key (mode 0600)
//! DIR/admin.sock        the admin socket while `serve` runs (mode 0600)
//! ```
//!
//! Paths in the configuration are relative to the data directory unless absolute, so that a
//! data directory can be moved or restored elsewhere as a whole.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The configuration file's name inside the data directory.
pub const CONFIG_FILE: &str = "hub.toml";
/// The signing key's file name inside the data directory.
pub const KEY_FILE: &str = "hub.key";
/// The database directory's name inside the data directory.
pub const DB_DIR: &str = "db";
/// The admin socket's name inside the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// `hub.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Where the ingest and enrollment port listens, such as `0.0.0.0:7443`.
    pub listen: String,
    /// Where nodes reach the hub, `host:port`: it goes into join codes, and its host into the
    /// server certificate the hub generates.
    pub public_address: String,
    pub tls: TlsFiles,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub keys: KeySettings,
}

/// The TLS files, relative to the data directory unless absolute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The server certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA certificate that issued it (PEM); its SHA-256 fingerprint goes into join codes.
    pub ca: PathBuf,
}

/// Limits on what the network may send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The largest gRPC message accepted, in bytes; larger ones are refused before decoding.
    pub max_message_bytes: usize,
    /// The most envelopes one SubmitBatch may carry.
    pub max_batch_items: usize,
}

/// The database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// sled's page cache, in bytes.
    pub cache_capacity_bytes: u64,
}

/// Join codes and keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// How long a join code stays usable.
    pub join_code_ttl_days: u32,
    /// How long a rotated key is still accepted (DESIGN.md §6: 30 days).
    pub rotation_grace_days: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 4 * 1024 * 1024,
            max_batch_items: 1000,
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            cache_capacity_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            join_code_ttl_days: 14,
            rotation_grace_days: 30,
        }
    }
}

impl HubConfig {
    /// Resolves a configured path against the data directory.
    pub fn resolve(data_dir: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            data_dir.join(path)
        }
    }
}
