//! The generic DSSE verifier: trusted keys, a threshold of distinct keys, supported types.
//!
//! This is the protocol as specified, with key ids optional. Alliance's own documents go
//! through the stricter [`crate::verify_signed`] instead.

use crate::envelope::Envelope;
use crate::error::EnvelopeError;
use crate::keys::verify_strict;

/// A public key the generic verifier trusts, with an optional key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The id signatures may name this key by; `None` if it has none.
    pub keyid: Option<String>,
    /// The raw Ed25519 public key.
    pub public_key: [u8; 32],
}

impl TrustedKey {
    /// A trusted key without a key id.
    pub fn new(public_key: [u8; 32]) -> Self {
        Self {
            keyid: None,
            public_key,
        }
    }

    /// A trusted key that signatures may name by `keyid`.
    pub fn with_keyid(keyid: impl Into<String>, public_key: [u8; 32]) -> Self {
        Self {
            keyid: Some(keyid.into()),
            public_key,
        }
    }
}

/// Verifies DSSE envelopes: accepts one iff its payload type is non-empty and supported and at
/// least `threshold` distinct trusted keys made a valid signature over its PAE.
#[derive(Debug, Clone)]
pub struct DsseVerifier {
    keys: Vec<TrustedKey>,
    threshold: usize,
    supported_types: Vec<String>,
}

impl DsseVerifier {
    /// A verifier trusting `keys`, needing `threshold` distinct ones, for `supported_types`.
    ///
    /// A threshold of 0 would accept anything and one above the number of distinct keys could
    /// never be met, so both are refused here rather than at every verification.
    pub fn new<T: Into<String>>(
        keys: Vec<TrustedKey>,
        threshold: usize,
        supported_types: impl IntoIterator<Item = T>,
    ) -> Result<Self, EnvelopeError> {
        let distinct = distinct_keys(&keys);
        if threshold == 0 || threshold > distinct {
            return Err(EnvelopeError::InvalidThreshold {
                threshold,
                keys: distinct,
            });
        }
        Ok(Self {
            keys,
            threshold,
            supported_types: supported_types.into_iter().map(Into::into).collect(),
        })
    }

    /// Verifies `envelope` and returns the distinct trusted public keys whose signatures are
    /// valid, in the order their first valid signature appears.
    ///
    /// A signature with a key id is tried only against trusted keys with that id (and those
    /// with no id, which cannot be told apart by id); one without a key id is tried against
    /// every trusted key. Signatures that do not verify are ignored, as the protocol says; only
    /// the count of distinct keys decides, so one key's signature repeated counts once.
    pub fn verify(&self, envelope: &Envelope) -> Result<Vec<[u8; 32]>, EnvelopeError> {
        if envelope.payload_type.is_empty() {
            return Err(EnvelopeError::EmptyPayloadType);
        }
        if !self.supported_types.contains(&envelope.payload_type) {
            return Err(EnvelopeError::UnsupportedPayloadType(crate::error::quote(
                &envelope.payload_type,
            )));
        }
        let message = envelope.pae();
        let mut valid: Vec<[u8; 32]> = Vec::new();
        for signature in &envelope.signatures {
            let signer = self
                .candidates(&signature.keyid)
                .find(|key| verify_strict(&key.public_key, &message, &signature.sig));
            if let Some(key) = signer
                && !valid.contains(&key.public_key)
            {
                valid.push(key.public_key);
            }
        }
        if valid.len() < self.threshold {
            return Err(EnvelopeError::ThresholdNotMet {
                valid: valid.len(),
                threshold: self.threshold,
            });
        }
        Ok(valid)
    }

    /// The trusted keys a signature labelled `keyid` may have been made by.
    fn candidates<'a>(&'a self, keyid: &'a str) -> impl Iterator<Item = &'a TrustedKey> {
        self.keys.iter().filter(move |key| match &key.keyid {
            Some(id) if !keyid.is_empty() => id == keyid,
            _ => true,
        })
    }
}

/// How many different public keys a list of trusted keys holds.
fn distinct_keys(keys: &[TrustedKey]) -> usize {
    let mut seen: Vec<&[u8; 32]> = keys.iter().map(|key| &key.public_key).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{SigningKey, sign};

    const TYPE: &str = "application/x";

    fn verifier(keys: &[&SigningKey], threshold: usize) -> DsseVerifier {
        let trusted = keys
            .iter()
            .map(|key| TrustedKey::with_keyid(key.key_id().as_str(), key.public_key()))
            .collect();
        DsseVerifier::new(trusted, threshold, [TYPE]).expect("valid threshold")
    }

    #[test]
    fn threshold_must_be_reachable_and_positive() {
        let key = SigningKey::generate();
        let same_twice = vec![
            TrustedKey::new(key.public_key()),
            TrustedKey::with_keyid("x", key.public_key()),
        ];
        assert_eq!(
            DsseVerifier::new(same_twice.clone(), 2, [TYPE]).map(|_| ()),
            Err(EnvelopeError::InvalidThreshold {
                threshold: 2,
                keys: 1
            })
        );
        assert!(DsseVerifier::new(same_twice, 0, [TYPE]).is_err());
    }

    #[test]
    fn one_key_repeated_counts_once() {
        let (a, b) = (SigningKey::generate(), SigningKey::generate());
        let mut envelope = sign(&a, TYPE, b"x".to_vec());
        envelope.add_signature(&a);
        assert_eq!(
            verifier(&[&a, &b], 2).verify(&envelope),
            Err(EnvelopeError::ThresholdNotMet {
                valid: 1,
                threshold: 2
            })
        );
        envelope.add_signature(&b);
        assert_eq!(
            verifier(&[&a, &b], 2).verify(&envelope),
            Ok(vec![a.public_key(), b.public_key()])
        );
    }

    #[test]
    fn a_key_id_restricts_the_keys_tried() {
        let (a, b) = (SigningKey::generate(), SigningKey::generate());
        let mut envelope = sign(&a, TYPE, b"x".to_vec());
        // Labelled with b's id, a's valid signature is only tried against b, and fails.
        envelope.signatures[0].keyid = b.key_id().to_string();
        assert!(verifier(&[&a, &b], 1).verify(&envelope).is_err());
        // Without a label, every key is tried.
        envelope.signatures[0].keyid.clear();
        assert_eq!(
            verifier(&[&a, &b], 1).verify(&envelope),
            Ok(vec![a.public_key()])
        );
    }

    #[test]
    fn type_must_be_non_empty_and_supported() {
        let a = SigningKey::generate();
        assert_eq!(
            verifier(&[&a], 1).verify(&sign(&a, "", b"x".to_vec())),
            Err(EnvelopeError::EmptyPayloadType)
        );
        assert_eq!(
            verifier(&[&a], 1).verify(&sign(&a, "other", b"x".to_vec())),
            Err(EnvelopeError::UnsupportedPayloadType("other".into()))
        );
    }
}
