//! Enrollment and key rotation (DESIGN.md §6): proof of possession, one-time join tokens that
//! can be repeated with the same key, re-issued codes that revoke the lost key, relays with
//! their CA, and rotation with a grace period.

use alliance_core::org::{KeyState, OrgId, OrgKey};
use alliance_core::period::Period;
use alliance_core::timestamp::Timestamp;
use alliance_envelope::{
    Envelope, KeyId, check_public_key, fingerprint_bytes, payload_type, sign, verify_pinned,
    verify_signed,
};
use alliance_proto::pb::RefusalReason;
use alliance_proto::{RelayInfo, Winner, WinningRevision};

use super::{Hub, HubError, Refused, State, now};

/// An enrollment request, as the network sent it.
#[derive(Debug, Clone)]
pub struct EnrollCall {
    pub org_id: String,
    pub token: String,
    pub public_key: Vec<u8>,
    /// An enroll-proof envelope signed by the key being enrolled.
    pub proof: Envelope,
    /// For a relay: the CA certificate (DER) and public address it registers.
    pub relay: Option<RelayInfo>,
}

/// What an enrolled node needs to start, all signed by the hub.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub framework: Envelope,
    pub registry: Envelope,
    pub winning_revisions: Vec<Envelope>,
    pub hub_public_key: [u8; 32],
    pub key_id: String,
    pub enrolled_at: Timestamp,
}

/// A key rotation request.
#[derive(Debug, Clone)]
pub struct RotateCall {
    pub org_id: String,
    pub new_public_key: Vec<u8>,
    /// A key-rotation envelope signed by the organisation's current key.
    pub statement: Envelope,
    /// The same payload type and bytes, signed by the new key.
    pub proof: Envelope,
}

/// The answer to a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub new_key_id: String,
    pub grace_until: Timestamp,
}

impl Hub {
    /// Enrolls a key with a one-time join token. The same token with the same key again
    /// succeeds with the same answer; another key is refused.
    pub async fn enroll(&self, call: EnrollCall, peer: &str) -> Result<Enrollment, HubError> {
        self.check_healthy()?;
        let action = if call.relay.is_some() {
            "enroll relay"
        } else {
            "enroll"
        };
        let org = call.org_id.clone();
        let enrolled = self.enroll_checked(call);
        let (org_id, public_key, enrolled_at) = match enrolled {
            Ok(enrolled) => enrolled,
            Err(HubError::Refused(refused)) => {
                return Err(self.refuse(peer, action, Some(org), refused));
            }
            Err(e) => return Err(e),
        };
        self.durable().await?;
        self.audit_admin(
            peer,
            action,
            Some(org_id.to_string()),
            format!("key {}", KeyId::of(&public_key)),
        )
        .await?;
        let framework = self
            .framework_envelope(0)
            .ok_or_else(|| HubError::Invalid("the hub knows no framework".into()))?;
        let mut state = self.state();
        Ok(Enrollment {
            framework,
            registry: self.current_registry(&mut state),
            winning_revisions: self.winning_revisions_of(&state, &org_id),
            hub_public_key: self.public_key(),
            key_id: KeyId::of(&public_key).into_string(),
            enrolled_at,
        })
    }

    /// Replaces an organisation's key: the statement signed by its current key, the proof by
    /// the new one. The old key stays accepted for the grace period.
    pub async fn rotate_key(&self, call: RotateCall, peer: &str) -> Result<Rotated, HubError> {
        self.check_healthy()?;
        let org = call.org_id.clone();
        match self.rotate_checked(call) {
            Ok(rotated) => {
                self.durable().await?;
                self.audit_admin(
                    peer,
                    "rotate key",
                    Some(org),
                    format!("new key {}", rotated.new_key_id),
                )
                .await?;
                Ok(rotated)
            }
            Err(HubError::Refused(refused)) => {
                Err(self.refuse(peer, "rotate key", Some(org), refused))
            }
            Err(e) => Err(e),
        }
    }

    /// The hub's signed statement of the winning revision of an (org, period).
    pub fn winning_revision(&self, org: &OrgId, period: Period) -> Envelope {
        let state = self.state();
        self.sign_winning_revision(&state, org, period)
    }

    /// A framework version signed by the hub; 0 asks for the latest.
    pub fn framework_envelope(&self, version: u32) -> Option<Envelope> {
        let framework = match version {
            0 => self.frameworks.latest()?,
            v => self.frameworks.get(v)?,
        };
        Some(sign(
            &self.signing_key,
            payload_type::FRAMEWORK,
            alliance_proto::encode_framework(framework),
        ))
    }

    /// The current registry, signed by the hub.
    pub fn registry_envelope(&self) -> Envelope {
        let mut state = self.state();
        self.current_registry(&mut state)
    }

    fn enroll_checked(&self, call: EnrollCall) -> Result<(OrgId, [u8; 32], Timestamp), HubError> {
        let public_key = check_public_key(&call.public_key)
            .map_err(|e| Refused::new(RefusalReason::Malformed, format!("public_key: {e}")))?;
        let verified = verify_pinned(&call.proof, payload_type::ENROLL_PROOF, &public_key)
            .map_err(|e| {
                Refused::new(
                    RefusalReason::ProofOfPossession,
                    format!("the proof of possession is not signed by the key being enrolled: {e}"),
                )
            })?;
        let proof = alliance_proto::decode_enroll_proof(verified.payload()).map_err(|e| {
            Refused::new(
                RefusalReason::Malformed,
                format!("the proof of possession: {e}"),
            )
        })?;
        let mismatch = |what: &str| {
            Refused::new(
                RefusalReason::ProofOfPossession,
                format!("the proof of possession does not match the request: {what} differs"),
            )
        };
        if proof.org.as_str() != call.org_id {
            return Err(mismatch("the organisation").into());
        }
        if proof.token != call.token {
            return Err(mismatch("the token").into());
        }
        if proof.public_key != public_key {
            return Err(mismatch("the public key").into());
        }
        if proof.hub_key_fingerprint != fingerprint_bytes(&self.public_key()) {
            return Err(Refused::new(
                RefusalReason::ProofOfPossession,
                "the proof of possession is for another hub (its hub key fingerprint is not this hub's)",
            )
            .into());
        }
        match (&proof.relay, &call.relay) {
            (None, None) => {}
            (Some(bound), Some(relay))
                if bound.ca_certificate_sha256
                    == alliance_daemon::tls::fingerprint(&relay.ca_certificate_der)
                    && bound.public_address == relay.public_address => {}
            _ => return Err(mismatch("the relay's CA certificate or address").into()),
        }

        let now = now();
        let mut state = self.state();
        let refuse_token = |message: String| Refused::new(RefusalReason::JoinToken, message);
        let Some(mut token) = self.store.token(&call.token).map_err(|e| self.fail(e))? else {
            return Err(refuse_token(
                "the join code's token is unknown to this hub (was it altered?)".into(),
            )
            .into());
        };
        if token.org.as_str() != call.org_id {
            return Err(refuse_token(format!(
                "the join code is for organisation {}, not {}",
                token.org, call.org_id
            ))
            .into());
        }
        let org_id = token.org.clone();
        if let Some(used_by) = token.used_by {
            if used_by == public_key {
                // The same code and key again: a node that crashed mid-enrollment retries.
                let at = token.used_at.unwrap_or(now);
                return Ok((org_id, public_key, at));
            }
            return Err(refuse_token(
                "the join code was already used to enroll another key".into(),
            )
            .into());
        }
        if token.replaced {
            return Err(refuse_token(
                "the join code was replaced by a newer one (org reissue)".into(),
            )
            .into());
        }
        if now >= token.expires_at {
            return Err(
                refuse_token(format!("the join code expired at {}", token.expires_at)).into(),
            );
        }
        let Some(mut org) = state.registry.get(&org_id).cloned() else {
            return Err(Refused::new(
                RefusalReason::UnknownOrganisation,
                format!("organisation {org_id} is not registered"),
            )
            .into());
        };
        if let Some(at) = org.deactivated_at {
            return Err(Refused::new(
                RefusalReason::OrganisationDeactivated,
                format!("organisation {org_id} was deactivated at {at}"),
            )
            .into());
        }
        let key_id = KeyId::of(&public_key).into_string();
        if let Some((owner, _)) = state.keys.get(&key_id) {
            return Err(Refused::new(
                RefusalReason::WrongOrganisation,
                format!("this key is already registered to organisation {owner}"),
            )
            .into());
        }
        if token.reissue {
            // A lost key: enrolling with the re-issued code ends every earlier key at once.
            for key in &mut org.keys {
                if !matches!(key.state, KeyState::Revoked { .. }) {
                    key.state = KeyState::Revoked { at: now };
                }
            }
        }
        org.keys.push(OrgKey {
            key_id: key_id.clone(),
            public_key,
            added_at: now,
            state: KeyState::Active,
        });
        org.enrolled_at.get_or_insert(now);
        if let Some(relay) = call.relay {
            state.relays.insert(org_id.clone(), relay);
        }
        token.used_by = Some(public_key);
        token.used_at = Some(now);
        self.store.put_token(&token).map_err(|e| self.fail(e))?;
        self.save_org(&mut state, org)?;
        Ok((org_id, public_key, now))
    }

    fn rotate_checked(&self, call: RotateCall) -> Result<Rotated, HubError> {
        let new_key = check_public_key(&call.new_public_key)
            .map_err(|e| Refused::new(RefusalReason::Malformed, format!("new_public_key: {e}")))?;
        let refuse = |message: String| Refused::new(RefusalReason::KeyRotation, message);
        let org_id: OrgId = call
            .org_id
            .parse()
            .map_err(|e| Refused::new(RefusalReason::Malformed, format!("org_id: {e}")))?;
        let now = now();
        let mut state = self.state();
        let Some(mut org) = state.registry.get(&org_id).cloned() else {
            return Err(Refused::new(
                RefusalReason::UnknownOrganisation,
                format!("organisation {org_id} is not registered"),
            )
            .into());
        };
        let current: Vec<[u8; 32]> = org
            .keys
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .map(|k| k.public_key)
            .collect();
        let statement = verify_signed(
            &call.statement,
            payload_type::KEY_ROTATION,
            alliance_envelope::keys_by_id(&current),
        )
        .map_err(|e| {
            refuse(format!(
                "the rotation statement is not signed by the organisation's current key: {e}"
            ))
        })?;
        if call.proof.payload_type != call.statement.payload_type
            || call.proof.payload != call.statement.payload
        {
            return Err(Refused::new(
                RefusalReason::ProofOfPossession,
                "the new key's proof does not carry the rotation statement's bytes",
            )
            .into());
        }
        verify_pinned(&call.proof, payload_type::KEY_ROTATION, &new_key).map_err(|e| {
            Refused::new(
                RefusalReason::ProofOfPossession,
                format!("the proof is not signed by the new key: {e}"),
            )
        })?;
        let rotation = alliance_proto::decode_key_rotation(statement.payload()).map_err(|e| {
            Refused::new(
                RefusalReason::Malformed,
                format!("the rotation statement: {e}"),
            )
        })?;
        if rotation.org != org_id
            || rotation.new_public_key != new_key
            || !statement.is_signed_by(&rotation.old_public_key)
        {
            return Err(refuse("the rotation statement does not match the request".into()).into());
        }
        if rotation.hub_key_fingerprint != fingerprint_bytes(&self.public_key()) {
            return Err(refuse("the rotation statement is for another hub".into()).into());
        }
        let new_key_id = KeyId::of(&new_key).into_string();
        if let Some((owner, _)) = state.keys.get(&new_key_id) {
            return Err(Refused::new(
                RefusalReason::WrongOrganisation,
                format!("the new key is already registered to organisation {owner}"),
            )
            .into());
        }
        let grace_until =
            Timestamp(now.0 + i64::from(self.config.keys.rotation_grace_days) * 86_400);
        for key in &mut org.keys {
            if key.public_key == rotation.old_public_key {
                key.state = KeyState::Rotated { grace_until };
            }
        }
        org.keys.push(OrgKey {
            key_id: new_key_id.clone(),
            public_key: new_key,
            added_at: now,
            state: KeyState::Active,
        });
        self.save_org(&mut state, org)?;
        Ok(Rotated {
            new_key_id,
            grace_until,
        })
    }

    fn winning_revisions_of(&self, state: &State, org: &OrgId) -> Vec<Envelope> {
        state
            .ledger
            .winning_revisions(org)
            .into_keys()
            .map(|period| self.sign_winning_revision(state, org, period))
            .collect()
    }

    fn sign_winning_revision(&self, state: &State, org: &OrgId, period: Period) -> Envelope {
        let winner = state.ledger.winner(org, period).map(|w| Winner {
            revision: w.report.revision,
            report_id: w.report_id,
        });
        let statement = WinningRevision {
            org: org.clone(),
            period,
            winner,
            as_of: now(),
        };
        sign(
            &self.signing_key,
            payload_type::WINNING_REVISION,
            alliance_proto::encode_winning_revision(&statement),
        )
    }
}
