//! The DSSE envelope: a payload, its type, and signatures over their PAE.

use crate::keys::SigningKey;
use crate::pae::pae;

/// A DSSE envelope, as received or about to be sent.
///
/// The payload is kept as the exact bytes that were signed; nothing in this crate re-encodes
/// it. Its JSON form is read and written by [`Envelope::from_json`] and [`Envelope::to_json`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// What the payload is, for example [`crate::payload_type::REPORT`]. Part of the signed
    /// bytes.
    pub payload_type: String,
    /// The serialized document, exactly as signed.
    pub payload: Vec<u8>,
    /// Signatures over `PAE(payload_type, payload)`.
    pub signatures: Vec<Signature>,
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    /// A hint naming the key that made the signature; empty when absent. Not signed, so a
    /// verifier must never trust it beyond using it to pick a key.
    pub keyid: String,
    /// The signature bytes (64 for Ed25519; other lengths simply never verify).
    pub sig: Vec<u8>,
}

impl Envelope {
    /// An envelope with no signatures yet.
    pub fn unsigned(payload_type: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            payload_type: payload_type.into(),
            payload: payload.into(),
            signatures: Vec::new(),
        }
    }

    /// The bytes every signature of this envelope covers.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Adds a signature by `key`, with its key id, keeping the signatures already there.
    pub fn add_signature(&mut self, key: &SigningKey) {
        let signature = key.sign_pae(&self.pae());
        self.signatures.push(signature);
    }

    /// Replaces every signature with one by `key`. The payload and its type are untouched, so
    /// the report id stays the same; this is how a node re-signs queued envelopes after a key
    /// rotation.
    pub fn resign(&mut self, key: &SigningKey) {
        self.signatures.clear();
        self.add_signature(key);
    }
}
