//! DSSE envelopes for alliance: the pre-authentication encoding (PAE), the JSON envelope form,
//! Ed25519 signatures verified strictly, and the key ids and report ids derived from them.
//!
//! There are two layers. The generic DSSE layer ([`pae`], [`Envelope`], [`DsseVerifier`])
//! follows the DSSE v1 protocol and passes its public test vectors. The alliance layer
//! ([`sign`], [`verify_signed`], [`verify_pinned`], [`payload_type`]) sits on top and is
//! stricter: every signature must carry a key id, name a known key and verify, and the payload
//! type must be exactly the one the caller expects. A verifier that checks many envelopes under
//! the same keys keeps them as [`PublicKey`]s, decompressed once, and calls
//! [`verify_signed_with`].
//!
//! Signatures are always checked over the exact bytes received. Nothing here decodes or
//! re-encodes a payload, because protobuf encoding is not canonical and a re-encoded payload
//! would not be the one that was signed.
//!
//! It also holds the text form of join codes ([`JoinCode`]), which carry the hub key's
//! fingerprint and share the lenient base64 reader.
//!
//! This crate does no I/O: no files, no sockets, no clock and no async runtime.

mod dsse;
mod envelope;
mod error;
mod ids;
mod join;
mod json;
mod keys;
mod pae;
pub mod payload_type;
pub mod text;
mod verify;

pub use dsse::{DsseVerifier, TrustedKey};
pub use envelope::{Envelope, Signature};
pub use error::EnvelopeError;
pub use ids::{KeyId, fingerprint, fingerprint_bytes, report_id};
pub use join::{JOIN_CODE_PREFIX, JoinCode, JoinCodeError};
pub use keys::{
    PUBLIC_KEY_LEN, PublicKey, SIGNATURE_LEN, SigningKey, VerificationKey, check_public_key, sign,
};
pub use pae::pae;
pub use verify::{Signer, Verified, keys_by_id, verify_pinned, verify_signed, verify_signed_with};
