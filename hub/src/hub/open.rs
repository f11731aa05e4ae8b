//! Opening a hub's data directory: configuration, signing key, CA, store, and the ledger rebuilt
//! from every stored envelope.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use alliance_core::merge::{Entry, Ledger};
use alliance_core::org::{OrgId, OrgKey, Registry};
use alliance_core::validate::Frameworks;
use alliance_envelope::{Envelope, KeyId, PublicKey, SigningKey};
use alliance_store::{HubStore, StoreError, StoredReport};

use super::{Hub, State};
use crate::config::{CONFIG_FILE, DB_DIR, HubConfig, KEY_FILE};

/// Why a hub's data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid hub configuration: {problem}")]
    Config { path: PathBuf, problem: String },
    #[error("{path} does not hold a hub signing key (32 bytes)")]
    Key { path: PathBuf },
    #[error("the CA certificate {path}: {problem}")]
    Ca { path: PathBuf, problem: String },
    #[error("opening the database: {0}")]
    Store(#[from] StoreError),
    #[error("rebuilding the view from the stored reports: {0}")]
    Rebuild(String),
}

pub(super) fn open(data_dir: &Path) -> Result<Hub, OpenError> {
    let config = read_config(data_dir)?;
    let signing_key = read_key(&data_dir.join(KEY_FILE))?;
    let ca_path = HubConfig::resolve(data_dir, &config.tls.ca);
    let ca_der = alliance_daemon::tls::read_ca_pem(&ca_path).map_err(|e| OpenError::Ca {
        path: ca_path.clone(),
        problem: e.to_string(),
    })?;
    let ca_fingerprint = alliance_daemon::tls::fingerprint(&ca_der);
    let store = HubStore::open(&data_dir.join(DB_DIR), config.store.cache_capacity_bytes)?;

    let mut registry = Registry::default();
    let mut relays = BTreeMap::new();
    for (org, relay) in store.orgs()? {
        if let Some(relay) = relay {
            relays.insert(org.id.clone(), relay);
        }
        registry.insert(org);
    }
    let ledger = rebuild(&store, &registry)?;
    let registry_serial = store.registry_serial()?;
    let frameworks = Frameworks::builtin();
    let mut state = State {
        keys: key_index(&registry),
        registry,
        relays,
        ledger,
        generation: 0,
        registry_envelope: Envelope::unsigned("", Vec::new()),
        registry_signed_at: std::time::Instant::now(),
        registry_dirty: false,
        registry_serial,
    };
    state.registry_envelope = super::admin::sign_registry(&signing_key, &state, super::now());
    tracing::info!(
        organisations = state.registry.orgs.len(),
        reports = store.report_count(),
        "hub opened"
    );
    Ok(Hub {
        data_dir: data_dir.to_owned(),
        config,
        store,
        signing_key,
        ca_fingerprint,
        frameworks,
        state: Mutex::new(state),
        failure: Mutex::new(None),
    })
}

/// The ledger built from every stored envelope, independently of the one kept up to date
/// request by request: both must give the same answer.
pub(super) fn rebuild(store: &HubStore, registry: &Registry) -> Result<Ledger, OpenError> {
    // The entries are decoded one at a time as the ledger takes them, so that only the
    // winners' reports are held at once, not every stored report.
    let mut failed = None;
    let entries = store.reports().map_while(|stored| {
        match stored.map_err(OpenError::from).and_then(entry_of) {
            Ok(entry) => Some(entry),
            Err(error) => {
                failed = Some(error);
                None
            }
        }
    });
    let ledger =
        Ledger::from_entries(registry, entries).map_err(|e| OpenError::Rebuild(e.to_string()))?;
    match failed {
        Some(error) => Err(error),
        None => Ok(ledger),
    }
}

/// The ledger's view of a stored envelope. Its signature was verified when it arrived; keys
/// revoked since do not undo what was accepted then (BAD_INPUTS 7), so it is not verified again;
/// nor is its custody receipt, which was verified when it came. It counts as received at the
/// earlier of its custody time and the hub's receipt, as when it arrived.
fn entry_of(stored: StoredReport) -> Result<Entry, OpenError> {
    let report = alliance_proto::decode_report(&stored.envelope.payload)
        .map_err(|e| OpenError::Rebuild(format!("stored report {}: {e}", stored.report_id)))?;
    Ok(Entry {
        report_id: stored.report_id,
        received_at: stored.first_received_at(),
        report,
    })
}

/// Every key ever enrolled, by key id, decompressed once here rather than at every
/// verification.
pub(super) fn key_index(registry: &Registry) -> HashMap<String, (OrgId, PublicKey)> {
    registry
        .orgs
        .values()
        .flat_map(|org| {
            org.keys.iter().filter_map(|key| {
                let key_id = KeyId::of(&key.public_key).into_string();
                let public_key = usable_key(&org.id, &key_id, key)?;
                Some((key_id, (org.id.clone(), public_key)))
            })
        })
        .collect()
}

/// `key` of `org`, decompressed for the key index; `None`, with a warning, if it is not a usable
/// Ed25519 key.
///
/// Enrollment and rotation refuse such keys, so the registry should hold none. If it does, the
/// key is left out of the index rather than stopping the hub, and signatures by it are refused
/// as by an unknown key.
pub(super) fn usable_key(org: &OrgId, key_id: &str, key: &OrgKey) -> Option<PublicKey> {
    match PublicKey::from_bytes(&key.public_key) {
        Ok(public_key) => Some(public_key),
        Err(error) => {
            tracing::warn!(
                %org,
                key_id,
                %error,
                "a registered key is not a usable Ed25519 key: signatures by it are refused"
            );
            None
        }
    }
}

fn read_config(data_dir: &Path) -> Result<HubConfig, OpenError> {
    let path = data_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| OpenError::Read {
        path: path.clone(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| OpenError::Config {
        path,
        problem: e.to_string(),
    })
}

fn read_key(path: &Path) -> Result<SigningKey, OpenError> {
    let bytes = std::fs::read(path).map_err(|source| OpenError::Read {
        path: path.to_owned(),
        source,
    })?;
    let seed: [u8; 32] = bytes.try_into().map_err(|_| OpenError::Key {
        path: path.to_owned(),
    })?;
    Ok(SigningKey::from_seed(&seed))
}

#[cfg(test)]
mod tests {
    use alliance_core::org::{KeyState, OrgKind, Organisation, Region};
    use alliance_core::timestamp::Timestamp;

    use super::*;

    fn org(id: &str, keys: &[[u8; 32]]) -> Organisation {
        Organisation {
            id: id.parse().expect("a valid test org id"),
            name: id.to_owned(),
            kind: OrgKind::NationalCentre,
            country: Some("BR".parse().expect("a valid test country")),
            region: Region::Americas,
            sectors: Vec::new(),
            via: None,
            hosted: false,
            registered_at: Timestamp(0),
            enrolled_at: Some(Timestamp(0)),
            deactivated_at: None,
            keys: keys
                .iter()
                .map(|public_key| OrgKey {
                    key_id: KeyId::of(public_key).into_string(),
                    public_key: *public_key,
                    added_at: Timestamp(0),
                    state: KeyState::Active,
                })
                .collect(),
        }
    }

    #[test]
    fn the_key_index_leaves_out_keys_that_are_not_usable() {
        let good = SigningKey::generate().public_key();
        // The identity point: a valid encoding, but of order 1.
        let mut weak = [0; 32];
        weak[0] = 1;
        // y = 2 is not the y-coordinate of any point of the curve.
        let mut not_a_point = [0; 32];
        not_a_point[0] = 2;
        let mut registry = Registry::default();
        registry.insert(org("cut-brazil", &[weak, good, not_a_point]));

        let index = key_index(&registry);
        assert_eq!(index.len(), 1);
        let (owner, public_key) = &index[KeyId::of(&good).as_str()];
        assert_eq!(owner.as_str(), "cut-brazil");
        assert_eq!(public_key.to_bytes(), good);
    }
}
