//! Why an envelope, a key or a piece of base64 was refused.

/// Why an envelope, a key or a piece of base64 was refused. Each message names the cause
/// precisely, since it ends up in refusals shown to operators and sent to nodes.
///
/// Strings taken from the input (payload types, key ids) are shortened to
/// [`EnvelopeError::QUOTE_LIMIT`] characters, so that an attacker cannot make a refusal message,
/// which the hub keeps for audit, arbitrarily large.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The envelope's payload type is the empty string.
    #[error("empty payload type")]
    EmptyPayloadType,
    /// The payload type is not one the verifier supports.
    #[error("payload type {0:?} is not supported")]
    UnsupportedPayloadType(String),
    /// The payload type is not the one the caller expects.
    #[error("payload type {actual:?} is not the expected {expected:?}")]
    UnexpectedPayloadType {
        /// The type the envelope claims (shortened).
        actual: String,
        /// The type the caller expected.
        expected: String,
    },
    /// The payload is empty; no alliance document is.
    #[error("empty payload")]
    EmptyPayload,
    /// The envelope carries no signature at all.
    #[error("no signatures")]
    NoSignatures,
    /// A signature on an alliance envelope has no key id.
    #[error("signature {index} has no key id")]
    MissingKeyId {
        /// The position of the signature in the envelope.
        index: usize,
    },
    /// A signature's key id names no key the verifier knows.
    #[error("signature {index} names unknown key {key_id:?}")]
    UnknownKey {
        /// The position of the signature in the envelope.
        index: usize,
        /// The key id the signature carries (shortened).
        key_id: String,
    },
    /// A signature does not verify under the key its key id names.
    #[error("signature {index} does not verify under key {key_id}")]
    BadSignature {
        /// The position of the signature in the envelope.
        index: usize,
        /// The key id the signature carries (shortened).
        key_id: String,
    },
    /// Fewer distinct trusted keys signed than the threshold needs.
    #[error("{valid} distinct trusted key(s) signed validly, {threshold} needed")]
    ThresholdNotMet {
        /// How many distinct trusted keys produced a valid signature.
        valid: usize,
        /// How many were needed.
        threshold: usize,
    },
    /// A verifier was configured with a threshold it can never or always meet.
    #[error("threshold {threshold} is not between 1 and the number of trusted keys ({keys})")]
    InvalidThreshold {
        /// The threshold asked for.
        threshold: usize,
        /// How many trusted keys there are.
        keys: usize,
    },
    /// Bytes offered as a public key are not 32 bytes long.
    #[error("public key is {0} bytes, not 32")]
    PublicKeyLength(usize),
    /// Bytes offered as a public key do not encode a point of the curve.
    #[error("public key {0} is not a valid Ed25519 point")]
    InvalidPublicKey(String),
    /// A public key of small order, under which forged signatures can verify.
    #[error("public key {0} is a weak (small-order) Ed25519 key")]
    WeakPublicKey(String),
    /// Text that should be base64 is not.
    #[error("invalid base64 in {field}: {reason}")]
    Base64 {
        /// What the text was meant to be (for example `payload` or `signature 0`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The JSON envelope form could not be read.
    #[error("invalid JSON envelope: {0}")]
    Json(String),
}

impl EnvelopeError {
    /// How many characters of a string taken from the input a message quotes at most.
    pub const QUOTE_LIMIT: usize = 100;

    /// Builds [`EnvelopeError::UnexpectedPayloadType`], shortening the received type.
    pub(crate) fn unexpected_type(actual: &str, expected: &str) -> Self {
        Self::UnexpectedPayloadType {
            actual: quote(actual),
            expected: expected.to_owned(),
        }
    }

    /// Builds [`EnvelopeError::UnknownKey`], shortening the received key id.
    pub(crate) fn unknown_key(index: usize, key_id: &str) -> Self {
        Self::UnknownKey {
            index,
            key_id: quote(key_id),
        }
    }

    /// Builds [`EnvelopeError::BadSignature`], shortening the received key id.
    pub(crate) fn bad_signature(index: usize, key_id: &str) -> Self {
        Self::BadSignature {
            index,
            key_id: quote(key_id),
        }
    }
}

/// Shortens a string taken from the input to [`EnvelopeError::QUOTE_LIMIT`] characters.
pub(crate) fn quote(s: &str) -> String {
    match s.char_indices().nth(EnvelopeError::QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_cause() {
        assert_eq!(
            EnvelopeError::unexpected_type("x", "y").to_string(),
            "payload type \"x\" is not the expected \"y\""
        );
        assert_eq!(
            EnvelopeError::bad_signature(0, "abcd").to_string(),
            "signature 0 does not verify under key abcd"
        );
        assert_eq!(
            EnvelopeError::MissingKeyId { index: 2 }.to_string(),
            "signature 2 has no key id"
        );
        assert_eq!(EnvelopeError::EmptyPayload.to_string(), "empty payload");
    }

    #[test]
    fn long_input_is_shortened_on_a_char_boundary() {
        let long = "ä".repeat(1000);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), EnvelopeError::QUOTE_LIMIT + 1);
        assert!(quoted.ends_with('…'));
        assert_eq!(quote("short"), "short");
    }
}
