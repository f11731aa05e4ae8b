//! Statements about keys: the enrollment proof of possession and the key rotation statement.
//!
//! The domain crate has no types for these (they concern signing, not reporting), so they are
//! defined here, already checked: keys and fingerprints of the right length, ids that parse.

use alliance_core::org::OrgId;
use alliance_core::timestamp::Timestamp;

use crate::error::{WireError, Within, fixed_bytes, parse};
use crate::pb;

/// What a new key signs to prove that whoever enrolls holds it (payload type enroll-proof).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollProof {
    pub org: OrgId,
    /// The one-time token from the join code.
    pub token: String,
    /// The Ed25519 public key being enrolled.
    pub public_key: [u8; 32],
    /// SHA-256 of the hub's signing public key, as pinned from the join code.
    pub hub_key_fingerprint: [u8; 32],
    /// Set when a relay enrolls: the TLS identity it registers.
    pub relay: Option<RelayBinding>,
}

/// The TLS identity a relay's enrollment proof binds to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayBinding {
    /// SHA-256 of the relay's DER CA certificate.
    pub ca_certificate_sha256: [u8; 32],
    /// Where affiliates reach the relay, `host:port`.
    pub public_address: String,
}

/// An organisation replacing its key (payload type key-rotation): signed once by the old key
/// and once, over the same bytes, by the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    pub org: OrgId,
    pub old_public_key: [u8; 32],
    pub new_public_key: [u8; 32],
    /// SHA-256 of the hub's signing public key, so the statement is for this hub only.
    pub hub_key_fingerprint: [u8; 32],
    pub issued_at: Timestamp,
}

impl TryFrom<pb::EnrollProof> for EnrollProof {
    type Error = WireError;

    fn try_from(proof: pb::EnrollProof) -> Result<Self, WireError> {
        if proof.token.is_empty() {
            return Err(WireError::missing()).within("token");
        }
        // Both relay fields or neither: a half-bound relay identity would enroll a relay that
        // affiliates cannot reach or cannot authenticate.
        let relay = match (
            proof.relay_ca_certificate_sha256.is_empty(),
            proof.relay_public_address.is_empty(),
        ) {
            (true, true) => None,
            (false, false) => Some(RelayBinding {
                ca_certificate_sha256: fixed_bytes(&proof.relay_ca_certificate_sha256)
                    .within("relay_ca_certificate_sha256")?,
                public_address: proof.relay_public_address,
            }),
            (true, false) => {
                return Err(WireError::problem("required with relay_public_address"))
                    .within("relay_ca_certificate_sha256");
            }
            (false, true) => {
                return Err(WireError::problem(
                    "required with relay_ca_certificate_sha256",
                ))
                .within("relay_public_address");
            }
        };
        Ok(EnrollProof {
            org: parse(&proof.org_id).within("org_id")?,
            token: proof.token,
            public_key: fixed_bytes(&proof.public_key).within("public_key")?,
            hub_key_fingerprint: fixed_bytes(&proof.hub_key_fingerprint)
                .within("hub_key_fingerprint")?,
            relay,
        })
    }
}

impl From<&EnrollProof> for pb::EnrollProof {
    fn from(proof: &EnrollProof) -> Self {
        pb::EnrollProof {
            org_id: proof.org.to_string(),
            token: proof.token.clone(),
            public_key: proof.public_key.to_vec(),
            hub_key_fingerprint: proof.hub_key_fingerprint.to_vec(),
            relay_ca_certificate_sha256: proof
                .relay
                .as_ref()
                .map(|r| r.ca_certificate_sha256.to_vec())
                .unwrap_or_default(),
            relay_public_address: proof
                .relay
                .as_ref()
                .map(|r| r.public_address.clone())
                .unwrap_or_default(),
        }
    }
}

impl TryFrom<pb::KeyRotation> for KeyRotation {
    type Error = WireError;

    fn try_from(rotation: pb::KeyRotation) -> Result<Self, WireError> {
        let converted = KeyRotation {
            org: parse(&rotation.org_id).within("org_id")?,
            old_public_key: fixed_bytes(&rotation.old_public_key).within("old_public_key")?,
            new_public_key: fixed_bytes(&rotation.new_public_key).within("new_public_key")?,
            hub_key_fingerprint: fixed_bytes(&rotation.hub_key_fingerprint)
                .within("hub_key_fingerprint")?,
            issued_at: Timestamp(rotation.issued_at_unix_seconds),
        };
        if converted.old_public_key == converted.new_public_key {
            return Err(WireError::problem("is the same key as old_public_key"))
                .within("new_public_key");
        }
        Ok(converted)
    }
}

impl From<&KeyRotation> for pb::KeyRotation {
    fn from(rotation: &KeyRotation) -> Self {
        pb::KeyRotation {
            org_id: rotation.org.to_string(),
            old_public_key: rotation.old_public_key.to_vec(),
            new_public_key: rotation.new_public_key.to_vec(),
            hub_key_fingerprint: rotation.hub_key_fingerprint.to_vec(),
            issued_at_unix_seconds: rotation.issued_at.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(relay: Option<RelayBinding>) -> EnrollProof {
        EnrollProof {
            org: "cut-brazil".parse().unwrap(),
            token: "tok".into(),
            public_key: [1; 32],
            hub_key_fingerprint: [2; 32],
            relay,
        }
    }

    #[test]
    fn proofs_round_trip() {
        let relay = RelayBinding {
            ca_certificate_sha256: [3; 32],
            public_address: "relay.example:7443".into(),
        };
        for p in [proof(None), proof(Some(relay))] {
            assert_eq!(EnrollProof::try_from(pb::EnrollProof::from(&p)).unwrap(), p);
        }
        let rotation = KeyRotation {
            org: "cut-brazil".parse().unwrap(),
            old_public_key: [1; 32],
            new_public_key: [4; 32],
            hub_key_fingerprint: [2; 32],
            issued_at: Timestamp(77),
        };
        assert_eq!(
            KeyRotation::try_from(pb::KeyRotation::from(&rotation)).unwrap(),
            rotation
        );
    }

    #[test]
    fn half_set_or_short_fields_are_refused() {
        let mut wire = pb::EnrollProof::from(&proof(None));
        wire.relay_public_address = "relay.example:7443".into();
        assert_eq!(
            EnrollProof::try_from(wire).unwrap_err().field(),
            Some("relay_ca_certificate_sha256")
        );
        let mut wire = pb::EnrollProof::from(&proof(None));
        wire.hub_key_fingerprint.push(0);
        assert_eq!(
            EnrollProof::try_from(wire).unwrap_err().field(),
            Some("hub_key_fingerprint")
        );
        let mut wire = pb::EnrollProof::from(&proof(None));
        wire.token.clear();
        assert_eq!(
            EnrollProof::try_from(wire).unwrap_err().field(),
            Some("token")
        );
        let same = pb::KeyRotation {
            org_id: "x".into(),
            old_public_key: vec![1; 32],
            new_public_key: vec![1; 32],
            hub_key_fingerprint: vec![2; 32],
            issued_at_unix_seconds: 0,
        };
        assert_eq!(
            KeyRotation::try_from(same).unwrap_err().field(),
            Some("new_public_key")
        );
    }
}
