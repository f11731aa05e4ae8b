//! Ed25519 keys: the signing key wrapper, signing, and the one strict verification every path
//! uses.

use std::fmt;

use ed25519_dalek::Signer as _;
use rand_core::OsRng;

use crate::envelope::{Envelope, Signature};
use crate::error::EnvelopeError;
use crate::ids::KeyId;

/// The length of a raw Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// The length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 signing key, with its key id computed once.
///
/// Its `Debug` output shows the key id only, never the secret, so the key can sit in structs
/// that get logged. The secret is wiped from memory when the key is dropped.
#[derive(Clone)]
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    key_id: KeyId,
}

impl SigningKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Self {
        Self::from_inner(ed25519_dalek::SigningKey::generate(&mut OsRng))
    }

    /// The key whose 32-byte secret seed is `seed` (RFC 8032's "private key").
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self::from_inner(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte secret seed, for storing the key. Handle the result as a secret.
    pub fn to_seed(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.inner.verifying_key().to_bytes()
    }

    /// The key id of the public key.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Signs PAE bytes, labelling the signature with this key's id.
    pub(crate) fn sign_pae(&self, pae: &[u8]) -> Signature {
        Signature {
            keyid: self.key_id.as_str().to_owned(),
            sig: self.inner.sign(pae).to_bytes().to_vec(),
        }
    }

    fn from_inner(inner: ed25519_dalek::SigningKey) -> Self {
        let key_id = KeyId::of(&inner.verifying_key().to_bytes());
        Self { inner, key_id }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id.as_str())
            .finish_non_exhaustive()
    }
}

/// Signs `payload` as a document of type `payload_type`: an envelope with one signature by
/// `key`, carrying its key id.
pub fn sign(key: &SigningKey, payload_type: &str, payload: impl Into<Vec<u8>>) -> Envelope {
    let mut envelope = Envelope::unsigned(payload_type, payload);
    envelope.add_signature(key);
    envelope
}

/// Checks bytes offered as an Ed25519 public key (at enrollment or rotation, say): 32 bytes that
/// encode a curve point that is not of small order. Returns the key.
///
/// Verification refuses weak keys anyway; refusing them when they are offered gives the
/// operator a clearer reason and keeps them out of the registry.
pub fn check_public_key(bytes: &[u8]) -> Result<[u8; 32], EnvelopeError> {
    let raw: [u8; 32] = bytes
        .try_into()
        .map_err(|_| EnvelopeError::PublicKeyLength(bytes.len()))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .map_err(|_| EnvelopeError::InvalidPublicKey(KeyId::of(&raw).into_string()))?;
    if key.is_weak() {
        return Err(EnvelopeError::WeakPublicKey(KeyId::of(&raw).into_string()));
    }
    Ok(raw)
}

/// Whether `sig` is a valid Ed25519 signature of `message` under `public_key`, by
/// `verify_strict`: it refuses a non-canonical S (S ≥ L), a small-order R and a small-order
/// (weak) public key, under which signatures can be forged or made malleable.
pub(crate) fn verify_strict(public_key: &[u8; 32], message: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify_strict(message, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pae::pae;

    /// RFC 8032 §7.1 TEST 1.
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn rfc_key() -> SigningKey {
        let mut seed = [0; 32];
        hex::decode_to_slice(SEED, &mut seed).expect("test seed is hex");
        SigningKey::from_seed(&seed)
    }

    #[test]
    fn seed_round_trips_and_gives_the_rfc_public_key() {
        let key = rfc_key();
        assert_eq!(hex::encode(key.public_key()), PUBLIC);
        assert_eq!(hex::encode(key.to_seed()), SEED);
        assert_eq!(*key.key_id(), KeyId::of(&key.public_key()));
        assert_eq!(
            SigningKey::from_seed(&key.to_seed()).public_key(),
            key.public_key()
        );
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            SigningKey::generate().public_key(),
            SigningKey::generate().public_key()
        );
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let key = rfc_key();
        let shown = format!("{key:?} {key:#?}");
        assert!(shown.contains(key.key_id().as_str()));
        assert!(!shown.to_lowercase().contains(&SEED[..16]));
        let seed_bytes = format!("{:?}", key.to_seed());
        assert!(!shown.contains(&seed_bytes[1..20]));
    }

    #[test]
    fn sign_labels_the_signature_with_the_key_id() {
        let key = rfc_key();
        let envelope = sign(&key, "t", b"payload".to_vec());
        assert_eq!(envelope.signatures.len(), 1);
        let signature = &envelope.signatures[0];
        assert_eq!(signature.keyid, key.key_id().as_str());
        assert_eq!(signature.sig.len(), SIGNATURE_LEN);
        assert!(verify_strict(
            &key.public_key(),
            &pae("t", b"payload"),
            &signature.sig
        ));
        assert!(!verify_strict(
            &key.public_key(),
            &pae("u", b"payload"),
            &signature.sig
        ));
        assert!(!verify_strict(
            &key.public_key(),
            &pae("t", b"payload"),
            &signature.sig[..63]
        ));
    }

    #[test]
    fn check_public_key_refuses_bad_keys() {
        let good = rfc_key().public_key();
        assert_eq!(check_public_key(&good), Ok(good));
        assert_eq!(
            check_public_key(&good[..31]),
            Err(EnvelopeError::PublicKeyLength(31))
        );
        // The identity point: a valid encoding, but of order 1.
        let mut identity = [0; 32];
        identity[0] = 1;
        assert!(matches!(
            check_public_key(&identity),
            Err(EnvelopeError::WeakPublicKey(_))
        ));
        // y = 2 is not the y-coordinate of any point of the curve.
        let mut not_a_point = [0; 32];
        not_a_point[0] = 2;
        assert!(matches!(
            check_public_key(&not_a_point),
            Err(EnvelopeError::InvalidPublicKey(_))
        ));
    }
}
