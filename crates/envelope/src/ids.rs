//! Ids derived by hashing: key ids (and hub key fingerprints) and report ids.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::envelope::Envelope;

/// The id of an Ed25519 public key: the lowercase hex of the SHA-256 of its 32 raw bytes
/// (64 characters).
///
/// A signature carries it as a look-up hint. Because it is derived from the key, anyone can
/// compute it, and two parties always agree on it without a registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// The key id of a raw Ed25519 public key.
    pub fn of(public_key: &[u8; 32]) -> Self {
        Self(hex::encode(Sha256::digest(public_key)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for KeyId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for KeyId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> Self {
        id.0
    }
}

/// The fingerprint of a public key as join codes carry it (for the hub's signing key). It is
/// the key id: the same function, so there is one way to name a key.
pub fn fingerprint(public_key: &[u8; 32]) -> String {
    KeyId::of(public_key).into_string()
}

/// The fingerprint of a public key as raw bytes (the SHA-256 of the key), as join codes,
/// enrollment proofs and rotation statements carry it.
pub fn fingerprint_bytes(public_key: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(public_key).into()
}

/// The id of an envelope: the SHA-256 of its PAE bytes.
///
/// It covers the payload type and the exact payload bytes but not the signatures, so re-signing
/// with a rotated key keeps it, while any re-encoding of the payload changes it.
pub fn report_id(envelope: &Envelope) -> [u8; 32] {
    Sha256::digest(envelope.pae()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_lowercase_hex_sha256_of_the_raw_key() {
        // SHA-256 of 32 zero bytes.
        let id = KeyId::of(&[0; 32]);
        assert_eq!(
            id,
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert_eq!(fingerprint(&[0; 32]), id.as_str());
    }

    #[test]
    fn report_id_ignores_signatures_but_not_type_or_payload() {
        let mut envelope = Envelope::unsigned("t", b"p".to_vec());
        let id = report_id(&envelope);
        assert_eq!(id, <[u8; 32]>::from(Sha256::digest(b"DSSEv1 1 t 1 p")));
        envelope.signatures.push(crate::Signature {
            keyid: "k".into(),
            sig: vec![1; 64],
        });
        assert_eq!(report_id(&envelope), id);
        assert_ne!(report_id(&Envelope::unsigned("u", b"p".to_vec())), id);
        assert_ne!(report_id(&Envelope::unsigned("t", b"q".to_vec())), id);
    }
}
