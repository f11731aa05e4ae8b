//! Ed25519 keys: the signing key wrapper, signing, public keys checked once, and the one strict
//! verification every path uses.

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
    PublicKey::from_bytes(&raw).map(|key| key.to_bytes())
}

/// An Ed25519 public key that has been decompressed and checked once, so that verifying under
/// it does not decompress the curve point again, which is a sizeable share of a verification.
///
/// It is made only by [`PublicKey::from_bytes`], which refuses what [`check_public_key`]
/// refuses, so holding one means the key is a usable one. A verifier that checks many
/// signatures under the same keys (the hub, with every enrolled key) keeps these; a
/// [`verify_signed_with`](crate::verify_signed_with) look-up may answer with one. Two keys are
/// equal when their 32-byte encodings are.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    // `ed25519_dalek::VerifyingKey` keeps the bytes it was made from next to the decompressed
    // point, and compares and hashes by those bytes.
    inner: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// The key `bytes` encode. Refuses bytes that do not encode a point of the curve
    /// ([`EnvelopeError::InvalidPublicKey`]) and a point of small order
    /// ([`EnvelopeError::WeakPublicKey`]), naming the key by its key id.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, EnvelopeError> {
        let inner = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| EnvelopeError::InvalidPublicKey(KeyId::of(bytes).into_string()))?;
        if inner.is_weak() {
            return Err(EnvelopeError::WeakPublicKey(KeyId::of(bytes).into_string()));
        }
        Ok(Self { inner })
    }

    /// The raw 32-byte public key, exactly the bytes it was made from.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }

    /// The raw 32-byte public key, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.inner.as_bytes()
    }

    /// The key id of the public key.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(self.as_bytes())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes in hex, as they are written elsewhere, rather than dalek's field dump of
        // the decompressed point.
        f.debug_tuple("PublicKey")
            .field(&hex::encode(self.as_bytes()))
            .finish()
    }
}

/// A public key as a [`verify_signed_with`](crate::verify_signed_with) look-up may answer it:
/// raw bytes (`[u8; 32]`), decompressed for every signature, or a [`PublicKey`], decompressed
/// once when it was made. Both verify exactly the same signatures.
///
/// The trait is sealed: verification stays the crate's one strict verification, whatever the
/// caller passes.
pub trait VerificationKey: sealed::Sealed {}

impl VerificationKey for [u8; 32] {}

impl VerificationKey for PublicKey {}

/// The methods of [`VerificationKey`], out of reach of other crates so that nothing outside
/// can implement it or call them.
pub(crate) mod sealed {
    pub trait Sealed: Copy {
        /// The raw 32-byte public key, which a [`crate::Signer`] reports.
        fn raw(&self) -> [u8; 32];

        /// Whether `sig` is a valid signature of `message` under this key, by
        /// [`super::verify_strict`]'s rules.
        fn verifies(&self, message: &[u8], sig: &[u8]) -> bool;
    }

    impl Sealed for [u8; 32] {
        fn raw(&self) -> [u8; 32] {
            *self
        }

        fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
            super::verify_strict(self, message, sig)
        }
    }

    impl Sealed for super::PublicKey {
        fn raw(&self) -> [u8; 32] {
            self.to_bytes()
        }

        fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
            super::verify_strict_under(&self.inner, message, sig)
        }
    }
}

/// Whether `sig` is a valid Ed25519 signature of `message` under `public_key`, by
/// `verify_strict`: it refuses a non-canonical S (S ≥ L), a small-order R and a small-order
/// (weak) public key, under which signatures can be forged or made malleable. Bytes that do not
/// encode a point verify nothing.
pub(crate) fn verify_strict(public_key: &[u8; 32], message: &[u8], sig: &[u8]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    verify_strict_under(&key, message, sig)
}

/// [`verify_strict`] under a key already decompressed. Only the decompression is saved:
/// `verify_strict` still refuses a weak key here, though a [`PublicKey`] never is one.
fn verify_strict_under(key: &ed25519_dalek::VerifyingKey, message: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
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
    fn public_key_keeps_its_bytes() {
        let raw = rfc_key().public_key();
        let key = PublicKey::from_bytes(&raw).expect("the RFC key is a valid key");
        assert_eq!(key.to_bytes(), raw);
        assert_eq!(key.as_bytes(), &raw);
        assert_eq!(key.key_id(), KeyId::of(&raw));
        assert_eq!(format!("{key:?}"), format!("PublicKey({PUBLIC:?})"));
        assert_eq!(PublicKey::from_bytes(&raw), Ok(key));
        let other = SigningKey::generate().public_key();
        assert_ne!(PublicKey::from_bytes(&other), Ok(key));
    }

    #[test]
    fn public_key_refuses_weak_and_invalid_keys() {
        // Every point of small order: the identity, the point of order 2, the two of order 4
        // and the four of order 8 (each order-8 encoding also with its sign bit set).
        let weak = [
            "0100000000000000000000000000000000000000000000000000000000000000",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000080",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        ];
        for hex_key in weak {
            let mut raw = [0; 32];
            hex::decode_to_slice(hex_key, &mut raw).expect("test key is hex");
            assert_eq!(
                PublicKey::from_bytes(&raw),
                Err(EnvelopeError::WeakPublicKey(KeyId::of(&raw).into_string())),
                "{hex_key}"
            );
            assert_eq!(
                check_public_key(&raw),
                Err(EnvelopeError::WeakPublicKey(KeyId::of(&raw).into_string()))
            );
        }
        // y = 2 is not the y-coordinate of any point of the curve.
        let mut not_a_point = [0; 32];
        not_a_point[0] = 2;
        assert_eq!(
            PublicKey::from_bytes(&not_a_point),
            Err(EnvelopeError::InvalidPublicKey(
                KeyId::of(&not_a_point).into_string()
            ))
        );
    }

    #[test]
    fn a_public_key_verifies_exactly_what_its_bytes_verify() {
        use sealed::Sealed as _;

        let (signer, other) = (rfc_key(), SigningKey::generate());
        let message = pae("t", b"payload");
        let good = sign(&signer, "t", b"payload".to_vec()).signatures[0]
            .sig
            .clone();
        let mut flipped = good.clone();
        flipped[10] ^= 1;
        let mut non_canonical = good.clone();
        add_l_to_s(&mut non_canonical);
        let cases: [(&SigningKey, &[u8], bool); 5] = [
            (&signer, &good, true),
            (&signer, &flipped, false),
            (&signer, &good[..63], false),
            (&signer, &non_canonical, false),
            (&other, &good, false),
        ];
        for (number, (key, sig, valid)) in cases.into_iter().enumerate() {
            let raw = key.public_key();
            let public = PublicKey::from_bytes(&raw).expect("a generated key is valid");
            assert_eq!(verify_strict(&raw, &message, sig), valid, "case {number}");
            assert_eq!(raw.verifies(&message, sig), valid, "case {number}");
            assert_eq!(public.verifies(&message, sig), valid, "case {number}");
            assert_eq!(public.raw(), raw);
        }
    }

    /// Adds the group order L to a signature's S: the same S modulo L, but a non-canonical
    /// encoding of it, which `verify_strict` refuses (signatures would be malleable otherwise).
    fn add_l_to_s(sig: &mut [u8]) {
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (byte, l) in sig[32..].iter_mut().zip(L) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = sum.to_le_bytes()[0];
            carry = sum >> 8;
        }
        // S < L < 2^253, so S + L < 2^254 fits in 32 bytes.
        assert_eq!(carry, 0);
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
