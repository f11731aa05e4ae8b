//! Verification of alliance's own envelopes: stricter than generic DSSE.
//!
//! An alliance envelope must have exactly the payload type the caller expects, a non-empty
//! payload, and at least one signature; every signature must carry a key id, the id must name a
//! key the caller knows, and the signature must verify under that key. One bad signature refuses
//! the whole envelope, so nothing unauthenticated rides along with something authentic.

use crate::envelope::Envelope;
use crate::error::EnvelopeError;
use crate::ids::{KeyId, report_id};
use crate::keys::VerificationKey;

/// Proof that an envelope verified: its payload, who signed it and its report id.
///
/// It can only be made by [`verify_signed`], [`verify_signed_with`] or [`verify_pinned`], so
/// holding one means the checks were done. What it does not say is whether the signer may speak
/// for the organisation the payload names: the key id is only a look-up hint, and the caller
/// must check that [`Verified::public_key`] (or every one of [`Verified::signers`]) belongs to
/// that organisation and is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    payload: Vec<u8>,
    report_id: [u8; 32],
    signers: Vec<Signer>,
}

/// A key that made a valid signature on a verified envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The key id the signature carried (the one the look-up answered to).
    pub key_id: String,
    /// The public key the signature verified under.
    pub public_key: [u8; 32],
}

impl Verified {
    /// The payload bytes, exactly as signed; decode these, never a re-encoding.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload bytes, taken out of the proof.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// The report id: SHA-256 of the PAE bytes.
    pub fn report_id(&self) -> [u8; 32] {
        self.report_id
    }

    /// The public key of the first signature. Alliance envelopes normally carry exactly one.
    pub fn public_key(&self) -> [u8; 32] {
        self.first_signer().public_key
    }

    /// The key id of the first signature.
    pub fn key_id(&self) -> &str {
        &self.first_signer().key_id
    }

    /// Every distinct key that signed, in the order of their first signature (never empty).
    /// A document signed by more than one key, such as a key rotation signed by the old and the
    /// new key, is checked through this.
    pub fn signers(&self) -> &[Signer] {
        &self.signers
    }

    /// Whether `public_key` is among the keys that signed.
    pub fn is_signed_by(&self, public_key: &[u8; 32]) -> bool {
        self.signers
            .iter()
            .any(|signer| signer.public_key == *public_key)
    }

    fn first_signer(&self) -> &Signer {
        // `verify_signed` refuses an envelope without signatures, so there is always a first.
        &self.signers[0]
    }
}

/// Verifies an alliance envelope of type `expected_type`, finding each signature's key with
/// `lookup` (key id in, raw public key out; [`keys_by_id`] makes one from a list of keys).
///
/// Refuses, in this order: an empty payload type, a type other than `expected_type`, an empty
/// payload, an envelope without signatures, and then for each signature in turn one without a
/// key id, one whose key id `lookup` does not know, and one that does not verify (strictly)
/// over `PAE(type, payload)` under the key looked up. The exact bytes received are verified.
///
/// Each key is decompressed for every signature; a verifier that checks many envelopes under
/// the same keys should keep them as [`PublicKey`](crate::PublicKey)s and call
/// [`verify_signed_with`].
pub fn verify_signed(
    envelope: &Envelope,
    expected_type: &str,
    lookup: impl Fn(&str) -> Option<[u8; 32]>,
) -> Result<Verified, EnvelopeError> {
    verify_signed_with(envelope, expected_type, lookup)
}

/// [`verify_signed`], with a look-up that answers with either raw public keys or
/// [`PublicKey`](crate::PublicKey)s, which are not decompressed again. It refuses and accepts
/// exactly what [`verify_signed`] does, in the same order and with the same errors, and its
/// [`Signer`]s report the raw public key either way.
pub fn verify_signed_with<K: VerificationKey>(
    envelope: &Envelope,
    expected_type: &str,
    lookup: impl Fn(&str) -> Option<K>,
) -> Result<Verified, EnvelopeError> {
    if envelope.payload_type.is_empty() {
        return Err(EnvelopeError::EmptyPayloadType);
    }
    if envelope.payload_type != expected_type {
        return Err(EnvelopeError::unexpected_type(
            &envelope.payload_type,
            expected_type,
        ));
    }
    if envelope.payload.is_empty() {
        return Err(EnvelopeError::EmptyPayload);
    }
    if envelope.signatures.is_empty() {
        return Err(EnvelopeError::NoSignatures);
    }
    let message = envelope.pae();
    let mut signers: Vec<Signer> = Vec::new();
    for (index, signature) in envelope.signatures.iter().enumerate() {
        if signature.keyid.is_empty() {
            return Err(EnvelopeError::MissingKeyId { index });
        }
        let key = lookup(&signature.keyid)
            .ok_or_else(|| EnvelopeError::unknown_key(index, &signature.keyid))?;
        if !key.verifies(&message, &signature.sig) {
            return Err(EnvelopeError::bad_signature(index, &signature.keyid));
        }
        let public_key = key.raw();
        if !signers.iter().any(|signer| signer.public_key == public_key) {
            signers.push(Signer {
                key_id: signature.keyid.clone(),
                public_key,
            });
        }
    }
    Ok(Verified {
        payload: envelope.payload.clone(),
        report_id: report_id(envelope),
        signers,
    })
}

/// Verifies a document that exactly one pinned key may sign, as a node does with the hub's
/// receipts, framework and registry. Every signature must be by `pinned` (named by its key id),
/// given as raw bytes or as a [`PublicKey`](crate::PublicKey).
pub fn verify_pinned<K: VerificationKey>(
    envelope: &Envelope,
    expected_type: &str,
    pinned: &K,
) -> Result<Verified, EnvelopeError> {
    // The same look-up as `keys_by_id` over the one key, with its key id hashed once rather
    // than for every signature.
    let pinned_id = KeyId::of(&pinned.raw());
    verify_signed_with(envelope, expected_type, |key_id| {
        (pinned_id == key_id).then_some(*pinned)
    })
}

/// A look-up for [`verify_signed`] over a list of candidate public keys: a key id names the key
/// whose [`KeyId`] it is.
pub fn keys_by_id(keys: &[[u8; 32]]) -> impl Fn(&str) -> Option<[u8; 32]> + '_ {
    move |key_id| {
        keys.iter()
            .find(|key| KeyId::of(key).as_str() == key_id)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    use crate::keys::{PublicKey, SigningKey, sign};
    use crate::payload_type::{RECEIPT, REPORT};

    #[test]
    fn returns_payload_signer_and_report_id() {
        let key = SigningKey::generate();
        let envelope = sign(&key, REPORT, b"report".to_vec());
        let verified = verify_signed(&envelope, REPORT, keys_by_id(&[key.public_key()]))
            .expect("a fresh signature verifies");
        assert_eq!(verified.payload(), b"report");
        assert_eq!(verified.public_key(), key.public_key());
        assert_eq!(verified.key_id(), key.key_id().as_str());
        assert_eq!(verified.report_id(), report_id(&envelope));
        assert!(verified.is_signed_by(&key.public_key()));
        assert_eq!(verified.into_payload(), b"report");
    }

    #[test]
    fn pinned_key_only() {
        let (hub, other) = (SigningKey::generate(), SigningKey::generate());
        let receipt = sign(&hub, RECEIPT, b"r".to_vec());
        assert!(verify_pinned(&receipt, RECEIPT, &hub.public_key()).is_ok());
        assert_eq!(
            verify_pinned(&receipt, RECEIPT, &other.public_key()),
            Err(EnvelopeError::unknown_key(0, hub.key_id().as_str()))
        );
        let mut forged = sign(&other, RECEIPT, b"r".to_vec());
        forged.signatures[0].keyid = hub.key_id().to_string();
        assert_eq!(
            verify_pinned(&forged, RECEIPT, &hub.public_key()),
            Err(EnvelopeError::bad_signature(0, hub.key_id().as_str()))
        );
    }

    #[test]
    fn several_signers_must_all_verify() {
        let (old, new) = (SigningKey::generate(), SigningKey::generate());
        let lookup = |id: &str| keys_by_id(&[old.public_key(), new.public_key()])(id);
        let mut envelope = sign(&old, REPORT, b"rotate".to_vec());
        envelope.add_signature(&new);
        envelope.add_signature(&old);
        let verified = verify_signed(&envelope, REPORT, lookup).expect("both verify");
        assert_eq!(verified.signers().len(), 2);
        assert!(verified.is_signed_by(&new.public_key()));
        envelope.signatures[1].sig[5] ^= 1;
        assert_eq!(
            verify_signed(&envelope, REPORT, lookup),
            Err(EnvelopeError::bad_signature(1, new.key_id().as_str()))
        );
    }

    #[test]
    fn refusals_in_order() {
        let key = SigningKey::generate();
        let lookup = |id: &str| keys_by_id(&[key.public_key()])(id);
        let check = |envelope: &Envelope| verify_signed(envelope, REPORT, lookup);

        assert_eq!(
            check(&sign(&key, "", b"x".to_vec())),
            Err(EnvelopeError::EmptyPayloadType)
        );
        assert_eq!(
            check(&sign(&key, RECEIPT, b"x".to_vec())),
            Err(EnvelopeError::unexpected_type(RECEIPT, REPORT))
        );
        assert_eq!(
            check(&sign(&key, REPORT, Vec::new())),
            Err(EnvelopeError::EmptyPayload)
        );
        assert_eq!(
            check(&Envelope::unsigned(REPORT, b"x".to_vec())),
            Err(EnvelopeError::NoSignatures)
        );
    }

    #[test]
    fn public_keys_verify_what_raw_keys_verify() {
        let (key, other) = (SigningKey::generate(), SigningKey::generate());
        let public = PublicKey::from_bytes(&key.public_key()).expect("a generated key is valid");
        let raw =
            |envelope: &Envelope| verify_signed(envelope, REPORT, keys_by_id(&[key.public_key()]));
        let decompressed = |envelope: &Envelope| {
            verify_signed_with(envelope, REPORT, |id| {
                (id == key.key_id().as_str()).then_some(public)
            })
        };

        let envelope = sign(&key, REPORT, b"report".to_vec());
        let verified = decompressed(&envelope).expect("a fresh signature verifies");
        assert_eq!(verified.public_key(), key.public_key());
        assert_eq!(Ok(verified), raw(&envelope));
        assert_eq!(
            verify_pinned(&envelope, REPORT, &public),
            verify_pinned(&envelope, REPORT, &key.public_key())
        );

        let mut flipped = envelope.clone();
        flipped.signatures[0].sig[17] ^= 0x40;
        let bad = Err(EnvelopeError::bad_signature(0, key.key_id().as_str()));
        assert_eq!(decompressed(&flipped), bad);
        assert_eq!(raw(&flipped), bad);

        // Another key's signature, labelled with this key's id.
        let mut forged = sign(&other, REPORT, b"report".to_vec());
        forged.signatures[0].keyid = key.key_id().to_string();
        assert_eq!(decompressed(&forged), bad);
        assert_eq!(raw(&forged), bad);

        let unknown = Err(EnvelopeError::unknown_key(0, other.key_id().as_str()));
        let by_other = sign(&other, REPORT, b"report".to_vec());
        assert_eq!(decompressed(&by_other), unknown);
        assert_eq!(raw(&by_other), unknown);
        assert_eq!(verify_pinned(&by_other, REPORT, &public), unknown);
    }

    /// How a generated envelope is damaged before it is verified.
    #[derive(Debug, Clone)]
    enum Damage {
        None,
        SignatureBit(Index, u8),
        PayloadBit(Index, u8),
        /// The signature replaced by arbitrary bytes, of any length.
        Signature(Vec<u8>),
        /// Signed by another key, still labelled with the first key's id.
        OtherSigner([u8; 32]),
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            Just(Damage::None),
            (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Damage::SignatureBit(at, bit)),
            (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Damage::PayloadBit(at, bit)),
            prop::collection::vec(any::<u8>(), 0..80).prop_map(Damage::Signature),
            any::<[u8; 32]>().prop_map(Damage::OtherSigner),
        ]
    }

    proptest! {
        #[test]
        fn both_key_forms_give_the_same_answer(
            seed in any::<[u8; 32]>(),
            payload in prop::collection::vec(any::<u8>(), 1..256),
            damage in damage(),
        ) {
            let key = SigningKey::from_seed(&seed);
            let mut envelope = sign(&key, REPORT, payload);
            let signature = &mut envelope.signatures[0];
            match &damage {
                Damage::None => {}
                Damage::SignatureBit(at, bit) => {
                    let i = at.index(signature.sig.len());
                    signature.sig[i] ^= 1 << bit;
                }
                Damage::PayloadBit(at, bit) => {
                    let i = at.index(envelope.payload.len());
                    envelope.payload[i] ^= 1 << bit;
                }
                Damage::Signature(bytes) => signature.sig.clone_from(bytes),
                Damage::OtherSigner(other) => {
                    let other = SigningKey::from_seed(other);
                    signature.sig = sign(&other, REPORT, envelope.payload.clone()).signatures[0]
                        .sig
                        .clone();
                }
            }
            let public = PublicKey::from_bytes(&key.public_key())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let raw = verify_signed(&envelope, REPORT, keys_by_id(&[key.public_key()]));
            let decompressed = verify_signed_with(&envelope, REPORT, |id| {
                (id == key.key_id().as_str()).then_some(public)
            });
            if matches!(damage, Damage::None) {
                prop_assert!(raw.is_ok());
            }
            prop_assert_eq!(&decompressed, &raw);
            prop_assert_eq!(verify_pinned(&envelope, REPORT, &public), raw);
        }
    }
}
