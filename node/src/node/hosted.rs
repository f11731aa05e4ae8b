//! Hosted affiliates (DESIGN.md §1): a relay takes on an affiliate that runs no node. The
//! relay makes and keeps the affiliate's key, by delegation, and the hub knows it (the code was
//! issued with `alliance-hub org add --via RELAY --hosted`). The affiliate's records and reports
//! then live on the relay's node, picked with `--org ID`; its reports say the relay prepared
//! them.
//!
//! Like `init`, this is safe to repeat after a crash: the key and the token are stored before
//! the hub hears of them, and enrolling again with the same token and key is accepted.

use alliance_core::org::OrgId;
use alliance_envelope::{JoinCode, SigningKey, fingerprint_bytes};
use alliance_proto::pb;
use alliance_store::OrgEntry;

use super::keys::{read_key, write_key};
use super::{Node, NodeError, now};
use crate::init::{check, enroll_proof};
use crate::upstream::classify;

/// A hosted affiliate, enrolled.
#[derive(Debug, Clone)]
pub struct Hosted {
    pub org: OrgId,
    pub key_id: String,
}

impl Node {
    /// Takes on the affiliate the join code `code` was issued for.
    pub async fn add_hosted(&self, code: &str) -> Result<Hosted, NodeError> {
        if !self.setup.relay {
            return Err(NodeError::Invalid(
                "only a relay hosts affiliates: this node was not initialised with --relay"
                    .to_owned(),
            ));
        }
        let code: JoinCode = code
            .trim()
            .parse()
            .map_err(|e| NodeError::Invalid(format!("the join code: {e}")))?;
        code.check_fresh(now().0)
            .map_err(|e| NodeError::Invalid(format!("the join code: {e}")))?;
        if code.hub_key_fingerprint != fingerprint_bytes(&self.setup.hub_public_key) {
            return Err(NodeError::Invalid(
                "the join code was issued by another hub than the one this relay reports to"
                    .to_owned(),
            ));
        }
        let org: OrgId = code
            .org_id
            .parse()
            .map_err(|e| NodeError::Invalid(format!("the join code's organisation: {e}")))?;
        // One enrollment or revision at a time, as for submissions.
        let _one_at_a_time = self.revisions.lock().await;
        let key = self.hosted_key(&org, &code).await?;

        let request = pb::EnrollRequest {
            org_id: org.to_string(),
            token: code.token.clone(),
            public_key: key.public_key().to_vec(),
            proof: Some((&enroll_proof(&code, &org, &key, None)).into()),
        };
        let enrollment = self
            .upstream
            .pass(|mut client| async move { client.enroll(request).await })
            .await
            .map_err(|status| NodeError::Upstream(classify(&status)))?
            .enrollment
            .ok_or_else(|| NodeError::Invalid("the hub's answer holds no enrollment".to_owned()))?;
        let checked = check(&code, &key, enrollment, self.setup.ca_der.clone())
            .map_err(|e| NodeError::Invalid(format!("{e:#}")))?;
        if checked.hub_key != self.setup.hub_public_key {
            return Err(NodeError::Invalid(
                "the enrollment is signed by another hub key than the pinned one".to_owned(),
            ));
        }
        for (period, revision) in checked.winning {
            self.store.note_hub_revision(&org, period, revision)?;
        }
        self.store.put_org(&OrgEntry {
            org: org.clone(),
            key_id: key.key_id().as_str().to_owned(),
            previous_key_ids: Vec::new(),
            enrolled_at: Some(now()),
            join_token: code.token.clone(),
            hosted: true,
        })?;
        self.store.durable().await?;
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert(org.clone(), key.clone());
        }
        tracing::info!(%org, key = %key.key_id().as_str(), "hosted affiliate taken on");
        Ok(Hosted {
            key_id: key.key_id().as_str().to_owned(),
            org,
        })
    }

    /// The key for a hosted affiliate: the one an earlier attempt with the same code made, or
    /// a new one, saved and stored before anything is sent.
    async fn hosted_key(&self, org: &OrgId, code: &JoinCode) -> Result<SigningKey, NodeError> {
        match self.store.org(org)? {
            Some(entry) if entry.enrolled_at.is_some() => {
                Err(NodeError::Invalid(format!("this node already holds {org}")))
            }
            Some(entry) if entry.join_token == code.token => {
                read_key(&self.data_dir, &entry.key_id).map_err(|e| {
                    NodeError::Invalid(format!("the key an earlier attempt made: {e}"))
                })
            }
            Some(_) => Err(NodeError::Invalid(format!(
                "an unfinished enrollment of {org} with another join code is stored: finish it with that code"
            ))),
            None => {
                let key = SigningKey::generate();
                write_key(&self.data_dir, &key)
                    .map_err(|e| NodeError::Invalid(format!("saving the new key: {e}")))?;
                self.store.put_org(&OrgEntry {
                    org: org.clone(),
                    key_id: key.key_id().as_str().to_owned(),
                    previous_key_ids: Vec::new(),
                    enrolled_at: None,
                    join_token: code.token.clone(),
                    hosted: true,
                })?;
                self.store.durable().await?;
                Ok(key)
            }
        }
    }
}
