//! Opening a node's data directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::Notify;

use alliance_core::disclosure::MIN_DISCLOSURE_THRESHOLD;
use alliance_core::framework::Framework;
use alliance_core::validate::MAX_DISCLOSURE_THRESHOLD;
use alliance_daemon::tls;
use alliance_envelope::{Envelope, payload_type, verify_pinned};
use alliance_store::{NodeStore, StoreError};

use super::keys::read_key;
use super::status::LinkState;
use super::{Node, NodeError};
use crate::config::{CONFIG_FILE, DB_DIR, NodeConfig};
use crate::upstream::Upstream;

/// Why a node could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("there is no node in {0}: run `alliance-node init --data DIR --join CODE` first")]
    Missing(PathBuf),
    #[error(
        "the node in {0} has not finished enrolling: run `alliance-node init` again with the same join code"
    )]
    NotEnrolled(PathBuf),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Damaged(String),
}

impl Node {
    /// Opens the node in `data_dir`, then signs and queues any revision a crash left stored but
    /// unsigned.
    pub fn open(data_dir: &Path) -> Result<Node, OpenError> {
        if !data_dir.join(CONFIG_FILE).exists() {
            return Err(OpenError::Missing(data_dir.to_owned()));
        }
        let config = NodeConfig::load(data_dir).map_err(|e| OpenError::Config(format!("{e:#}")))?;
        let threshold = config.disclosure.threshold;
        if !(MIN_DISCLOSURE_THRESHOLD..=MAX_DISCLOSURE_THRESHOLD).contains(&threshold) {
            return Err(OpenError::Config(format!(
                "{CONFIG_FILE}: disclosure.threshold {threshold} is outside {MIN_DISCLOSURE_THRESHOLD}..={MAX_DISCLOSURE_THRESHOLD}"
            )));
        }
        let store = NodeStore::open(&data_dir.join(DB_DIR), config.store.cache_capacity_bytes)?;
        let setup = store
            .setup()?
            .ok_or_else(|| OpenError::NotEnrolled(data_dir.to_owned()))?;
        let framework = store
            .framework()?
            .ok_or_else(|| OpenError::NotEnrolled(data_dir.to_owned()))?;
        let framework = open_framework(&framework, &setup.hub_public_key)
            .map_err(|e| OpenError::Damaged(format!("the stored framework: {e}")))?;

        let mut keys = BTreeMap::new();
        for org in store.orgs()? {
            if org.enrolled_at.is_none() {
                continue;
            }
            let key = read_key(data_dir, &org.key_id)
                .map_err(|e| OpenError::Damaged(format!("the key of {}: {e}", org.org)))?;
            keys.insert(org.org, key);
        }
        if !keys.contains_key(&setup.own_org) {
            return Err(OpenError::NotEnrolled(data_dir.to_owned()));
        }
        let tls = tls::client_config(&setup.ca_der)
            .map_err(|e| OpenError::Damaged(format!("the pinned CA certificate: {e}")))?;
        let upstream = Upstream::new(
            config.upstream.clone(),
            tls,
            setup.hub_public_key,
            config.request_timeout(),
        );
        let node = Node {
            data_dir: data_dir.to_owned(),
            config,
            store,
            setup,
            framework,
            keys: Mutex::new(keys),
            upstream,
            revisions: tokio::sync::Mutex::new(()),
            outbox_wake: Notify::new(),
            link: Mutex::new(LinkState::default()),
            held_polled: Mutex::new(None),
        };
        node.finish_drafts().map_err(|e| match e {
            NodeError::Storage(e) => OpenError::Store(e),
            other => OpenError::Damaged(format!("finishing a stored revision: {other}")),
        })?;
        Ok(node)
    }
}

/// Verifies a framework envelope under the pinned hub key, decodes it and checks it.
pub(crate) fn open_framework(envelope: &Envelope, hub_key: &[u8; 32]) -> Result<Framework, String> {
    let verified = verify_pinned(envelope, payload_type::FRAMEWORK, hub_key)
        .map_err(|e| format!("not signed by the pinned hub key: {e}"))?;
    let framework = alliance_proto::decode_framework(verified.payload())
        .map_err(|e| format!("does not decode: {e}"))?;
    framework.check().map_err(|e| e.to_string())?;
    Ok(framework)
}
