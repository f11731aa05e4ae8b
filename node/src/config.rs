//! The node's data directory and its configuration file, `node.toml`.
//!
//! Layout of a data directory (created by `alliance-node init`, mode 0700):
//!
//! ```text
//! DIR/node.toml          this configuration
//! DIR/keys/              signing keys, one file per key: KEY_ID.key, 32 raw seed bytes, mode 0600
//! DIR/db/                the sled database: records, revisions, signed reports, the outbox
//! DIR/admin.sock         the admin socket while `serve` runs (mode 0600)
//! ```
//!
//! The upstream's CA certificate and the hub's key, pinned at enrollment, are kept in the
//! database rather than in files, so nobody edits them by mistake.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use alliance_core::report::DEFAULT_DISCLOSURE_THRESHOLD;

/// The configuration file's name inside the data directory.
pub const CONFIG_FILE: &str = "node.toml";
/// The directory of signing keys inside the data directory.
pub const KEYS_DIR: &str = "keys";
/// The database directory's name inside the data directory.
pub const DB_DIR: &str = "db";
/// The admin socket's name inside the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The upstream (the hub, or the relay the node reports through), `host:port`, from the join
    /// code. Change it only if the upstream moved: its CA stays pinned.
    pub upstream: String,
    #[serde(default)]
    pub disclosure: DisclosureSettings,
    #[serde(default)]
    pub outbox: OutboxSettings,
    #[serde(default)]
    pub store: StoreSettings,
}

/// Disclosure control (DESIGN.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureSettings {
    /// Sensitive cells from 1 to threshold − 1 are withheld. At least 2.
    pub threshold: u64,
}

/// How the outbox talks to the upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// The first wait after a failed attempt; it doubles (with jitter) after each failure.
    pub min_backoff_ms: u64,
    /// The longest wait between attempts.
    pub max_backoff_seconds: u64,
    /// How long one call to the upstream may take before it counts as failed.
    pub request_timeout_seconds: u64,
}

/// The database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// sled's page cache, in bytes. Small by default: a node holds little and runs on small
    /// office machines.
    pub cache_capacity_bytes: u64,
}

impl Default for DisclosureSettings {
    fn default() -> Self {
        DisclosureSettings {
            threshold: DEFAULT_DISCLOSURE_THRESHOLD,
        }
    }
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            min_backoff_ms: 500,
            max_backoff_seconds: 300,
            request_timeout_seconds: 30,
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            cache_capacity_bytes: 4 * 1024 * 1024,
        }
    }
}

impl NodeConfig {
    /// The configuration a new node starts with.
    pub fn new(upstream: String) -> Self {
        NodeConfig {
            upstream,
            disclosure: DisclosureSettings::default(),
            outbox: OutboxSettings::default(),
            store: StoreSettings::default(),
        }
    }

    /// Reads `DIR/node.toml`.
    pub fn load(data_dir: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let path = data_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.outbox.request_timeout_seconds.max(1))
    }
}

/// Where the key with `key_id` is kept.
pub fn key_path(data_dir: &Path, key_id: &str) -> PathBuf {
    data_dir.join(KEYS_DIR).join(format!("{key_id}.key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let config: NodeConfig = toml::from_str("upstream = \"hub.example:7443\"\n").unwrap();
        assert_eq!(config, NodeConfig::new("hub.example:7443".to_owned()));
        assert_eq!(config.disclosure.threshold, 5);
    }

    #[test]
    fn an_unknown_setting_is_refused() {
        let error =
            toml::from_str::<NodeConfig>("upstream = \"h:1\"\nthreshold = 3\n").unwrap_err();
        assert!(error.to_string().contains("threshold"), "{error}");
    }
}
