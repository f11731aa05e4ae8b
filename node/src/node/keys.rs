//! Signing keys: one file per key in `DIR/keys/`, and rotation (DESIGN.md §6).
//!
//! A key file is written and synced before the hub hears of the key, so a key the hub knows is
//! never lost to a crash. Old key files are kept: they are what signed the reports already on
//! their way, and removing them would save nothing worth the risk.

use std::path::Path;

use alliance_core::org::OrgId;
use alliance_daemon::files;
use alliance_envelope::{SigningKey, fingerprint_bytes, payload_type, sign};
use alliance_proto::{KeyRotation, pb};
use alliance_store::ReportEntry;

use super::{Node, NodeError, now};
use crate::config::{KEYS_DIR, key_path};

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub old_key_id: String,
    pub new_key_id: String,
    pub grace_until_unix_seconds: i64,
    /// Queued envelopes re-signed with the new key.
    pub resigned: u32,
}

/// Writes `key` to its file (mode 0600, synced), creating the keys directory if needed.
pub(crate) fn write_key(data_dir: &Path, key: &SigningKey) -> std::io::Result<()> {
    let dir = data_dir.join(KEYS_DIR);
    if !dir.exists() {
        files::create_private_dir(&dir)?;
    }
    files::write_private_file(&key_path(data_dir, key.key_id().as_str()), &key.to_seed())
}

/// Reads the key with `key_id` from its file.
pub(crate) fn read_key(data_dir: &Path, key_id: &str) -> Result<SigningKey, String> {
    let path = key_path(data_dir, key_id);
    let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("{} does not hold a 32-byte key", path.display()))?;
    let key = SigningKey::from_seed(&seed);
    if key.key_id().as_str() != key_id {
        return Err(format!(
            "{} holds another key than {key_id}",
            path.display()
        ));
    }
    Ok(key)
}

impl Node {
    /// Replaces `org`'s key: a new key is made and saved, the hub accepts it (the statement is
    /// signed by the old key, the proof by the new one), then queued envelopes are re-signed
    /// with it; their report ids do not change.
    pub async fn rotate_key(&self, org: &OrgId) -> Result<Rotated, NodeError> {
        // No report may be signed with the old key while the queue is re-signed.
        let _revisions = self.revisions.lock().await;
        let old = self.key_of(org)?;
        let new = SigningKey::generate();
        write_key(&self.data_dir, &new)
            .map_err(|e| NodeError::Invalid(format!("saving the new key: {e}")))?;
        let rotation = KeyRotation {
            org: org.clone(),
            old_public_key: old.public_key(),
            new_public_key: new.public_key(),
            hub_key_fingerprint: fingerprint_bytes(&self.setup.hub_public_key),
            issued_at: now(),
        };
        let payload = alliance_proto::encode_key_rotation(&rotation);
        let statement = sign(&old, payload_type::KEY_ROTATION, payload.clone());
        let proof = sign(&new, payload_type::KEY_ROTATION, payload);
        let answer = self
            .upstream
            .rotate_key(pb::RotateKeyRequest {
                org_id: org.to_string(),
                new_public_key: new.public_key().to_vec(),
                statement: Some((&statement).into()),
                proof: Some((&proof).into()),
            })
            .await?;

        let mut entry = self
            .store
            .org(org)?
            .ok_or_else(|| NodeError::NotFound(format!("this node does not hold {org}")))?;
        let old_key_id = entry.key_id.clone();
        entry.previous_key_ids.push(old_key_id.clone());
        entry.key_id = new.key_id().as_str().to_owned();
        self.store.put_org(&entry)?;

        let resigned: Vec<ReportEntry> = self
            .store
            .outbox(usize::MAX)?
            .into_iter()
            .filter(|e| e.org == *org)
            .map(|mut e| {
                e.envelope = sign(&new, payload_type::REPORT, e.envelope.payload.clone());
                e
            })
            .collect();
        self.store.replace_envelopes(&resigned)?;
        self.store.durable().await?;
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert(org.clone(), new.clone());
        }
        tracing::info!(%org, old = %old_key_id, new = %new.key_id().as_str(), resigned = resigned.len(), "key rotated");
        Ok(Rotated {
            old_key_id,
            new_key_id: answer.new_key_id,
            grace_until_unix_seconds: answer.grace_until_unix_seconds,
            resigned: u32::try_from(resigned.len()).unwrap_or(u32::MAX),
        })
    }
}
