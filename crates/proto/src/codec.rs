//! Bytes to checked documents and back: the payloads of alliance's envelopes.
//!
//! Decoding uses prost with its default recursion limit, so deeply nested input is an error and
//! never a stack overflow. Verify an envelope's signatures over the bytes as received before
//! decoding its payload, and never re-encode a payload to verify it: protobuf encoding is not
//! canonical, and the report id is a hash of the exact bytes.

use alliance_core::framework::Framework;
use alliance_core::org::Organisation;
use alliance_core::receipt::{BatchReceipt, CustodyBatch, CustodyReceipt, Receipt};
use alliance_core::record::Record;
use alliance_core::report::Report;
use alliance_envelope::Envelope;
use prost::Message;

use crate::error::{WireError, Within};
use crate::keys::{EnrollProof, KeyRotation};
use crate::pb;
use crate::receipt::WinningRevision;
use crate::registry::{RegistryDocument, RelayInfo};

/// A report from the payload of a report envelope.
pub fn decode_report(bytes: &[u8]) -> Result<Report, WireError> {
    decode::<pb::Report, _>(bytes, "alliance.v1.Report")
}

/// The payload of a report envelope.
pub fn encode_report(report: &Report) -> Vec<u8> {
    pb::Report::from(report).encode_to_vec()
}

/// A hub receipt from the payload of a receipt envelope.
pub fn decode_receipt(bytes: &[u8]) -> Result<Receipt, WireError> {
    decode::<pb::Receipt, _>(bytes, "alliance.v1.Receipt")
}

/// The payload of a receipt envelope.
pub fn encode_receipt(receipt: &Receipt) -> Vec<u8> {
    pb::Receipt::from(receipt).encode_to_vec()
}

/// A batch receipt from the payload of a batch-receipt envelope.
pub fn decode_batch_receipt(bytes: &[u8]) -> Result<BatchReceipt, WireError> {
    decode::<pb::BatchReceipt, _>(bytes, "alliance.v1.BatchReceipt")
}

/// The payload of a batch-receipt envelope.
pub fn encode_batch_receipt(batch: &BatchReceipt) -> Vec<u8> {
    pb::BatchReceipt::from(batch).encode_to_vec()
}

/// A relay's custody receipt from the payload of a custody-receipt envelope.
pub fn decode_custody_receipt(bytes: &[u8]) -> Result<CustodyReceipt, WireError> {
    decode::<pb::CustodyReceipt, _>(bytes, "alliance.v1.CustodyReceipt")
}

/// The payload of a custody-receipt envelope.
pub fn encode_custody_receipt(custody: &CustodyReceipt) -> Vec<u8> {
    pb::CustodyReceipt::from(custody).encode_to_vec()
}

/// A relay's custody receipts for a batch from the payload of a custody-batch envelope.
pub fn decode_custody_batch(bytes: &[u8]) -> Result<CustodyBatch, WireError> {
    decode::<pb::CustodyBatch, _>(bytes, "alliance.v1.CustodyBatch")
}

/// The payload of a custody-batch envelope.
pub fn encode_custody_batch(batch: &CustodyBatch) -> Vec<u8> {
    pb::CustodyBatch::from(batch).encode_to_vec()
}

/// A winning-revision statement from the payload of a winning-revision envelope.
pub fn decode_winning_revision(bytes: &[u8]) -> Result<WinningRevision, WireError> {
    decode::<pb::WinningRevision, _>(bytes, "alliance.v1.WinningRevision")
}

/// The payload of a winning-revision envelope.
pub fn encode_winning_revision(winning: &WinningRevision) -> Vec<u8> {
    pb::WinningRevision::from(winning).encode_to_vec()
}

/// A framework from the payload of a framework envelope, checked with [`Framework::check`].
pub fn decode_framework(bytes: &[u8]) -> Result<Framework, WireError> {
    decode::<pb::Framework, _>(bytes, "alliance.v1.Framework")
}

/// The payload of a framework envelope.
pub fn encode_framework(framework: &Framework) -> Vec<u8> {
    pb::Framework::from(framework).encode_to_vec()
}

/// A registry from the payload of a registry envelope.
pub fn decode_registry(bytes: &[u8]) -> Result<RegistryDocument, WireError> {
    decode::<pb::Registry, _>(bytes, "alliance.v1.Registry")
}

/// The payload of a registry envelope.
pub fn encode_registry(registry: &RegistryDocument) -> Vec<u8> {
    pb::Registry::from(registry).encode_to_vec()
}

/// An enrollment proof from the payload of an enroll-proof envelope.
pub fn decode_enroll_proof(bytes: &[u8]) -> Result<EnrollProof, WireError> {
    decode::<pb::EnrollProof, _>(bytes, "alliance.v1.EnrollProof")
}

/// The payload of an enroll-proof envelope.
pub fn encode_enroll_proof(proof: &EnrollProof) -> Vec<u8> {
    pb::EnrollProof::from(proof).encode_to_vec()
}

/// A key rotation statement from the payload of a key-rotation envelope.
pub fn decode_key_rotation(bytes: &[u8]) -> Result<KeyRotation, WireError> {
    decode::<pb::KeyRotation, _>(bytes, "alliance.v1.KeyRotation")
}

/// The payload of a key-rotation envelope.
pub fn encode_key_rotation(rotation: &KeyRotation) -> Vec<u8> {
    pb::KeyRotation::from(rotation).encode_to_vec()
}

/// An organisation with its relay part, from the encoding [`encode_organisation`] makes (how
/// the hub's store keeps the registry). The organisation is checked as in a registry document.
pub fn decode_organisation(bytes: &[u8]) -> Result<(Organisation, Option<RelayInfo>), WireError> {
    let mut org = pb::Organisation::decode(bytes).map_err(|source| WireError::Decode {
        message: "alliance.v1.Organisation",
        source,
    })?;
    let relay = org
        .relay
        .take()
        .map(RelayInfo::try_from)
        .transpose()
        .within("relay")?;
    Ok((Organisation::try_from(org)?, relay))
}

/// The protobuf encoding of an organisation with its relay part, if it is a relay.
pub fn encode_organisation(org: &Organisation, relay: Option<&RelayInfo>) -> Vec<u8> {
    pb::Organisation {
        relay: relay.map(pb::RelayInfo::from),
        ..pb::Organisation::from(org)
    }
    .encode_to_vec()
}

/// A node's record from the encoding [`encode_record`] makes (how the node's store keeps its
/// records). The record is parsed, not checked against a framework.
pub fn decode_record(bytes: &[u8]) -> Result<Record, WireError> {
    decode::<pb::Record, _>(bytes, "alliance.v1.Record")
}

/// The protobuf encoding of a node's record.
pub fn encode_record(record: &Record) -> Vec<u8> {
    pb::Record::from(record).encode_to_vec()
}

/// An envelope from its protobuf encoding (as stored, or as carried in a file).
pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope, WireError> {
    pb::Envelope::decode(bytes)
        .map(Envelope::from)
        .map_err(|source| WireError::Decode {
            message: "alliance.v1.Envelope",
            source,
        })
}

/// The protobuf encoding of an envelope.
pub fn encode_envelope(envelope: &Envelope) -> Vec<u8> {
    pb::Envelope::from(envelope).encode_to_vec()
}

/// Decodes a generated message, then converts it to the checked type.
fn decode<M, T>(bytes: &[u8], message: &'static str) -> Result<T, WireError>
where
    M: Message + Default,
    T: TryFrom<M, Error = WireError>,
{
    let decoded = M::decode(bytes).map_err(|source| WireError::Decode { message, source })?;
    T::try_from(decoded)
}
