//! The payload types of alliance's signed documents.
//!
//! Each document kind has its own type so that a signature over one kind can never be accepted
//! as another: the type is part of the signed PAE bytes.

/// A report, signed by a node key of the organisation it names.
pub const REPORT: &str = "application/vnd.alliance.report.v1+protobuf";
/// The hub's receipt for one envelope.
pub const RECEIPT: &str = "application/vnd.alliance.receipt.v1+protobuf";
/// The hub's receipt for a batch of envelopes.
pub const BATCH_RECEIPT: &str = "application/vnd.alliance.batch-receipt.v1+protobuf";
/// A relay's receipt that it holds an envelope in custody.
pub const CUSTODY_RECEIPT: &str = "application/vnd.alliance.custody-receipt.v1+protobuf";
/// A relay's custody receipts for the items of a batch it forwards, signed once.
pub const CUSTODY_BATCH: &str = "application/vnd.alliance.custody-batch.v1+protobuf";
/// A reporting framework version, signed by the hub.
pub const FRAMEWORK: &str = "application/vnd.alliance.framework.v1+protobuf";
/// The registry of organisations and keys, signed by the hub.
pub const REGISTRY: &str = "application/vnd.alliance.registry.v1+protobuf";
/// The hub's statement of the winning revision of a period.
pub const WINNING_REVISION: &str = "application/vnd.alliance.winning-revision.v1+protobuf";
/// A node's proof of possession of its key at enrollment.
pub const ENROLL_PROOF: &str = "application/vnd.alliance.enroll-proof.v1+protobuf";
/// A key rotation: the new key, signed by the old one.
pub const KEY_ROTATION: &str = "application/vnd.alliance.key-rotation.v1+protobuf";

/// Every payload type alliance signs or accepts.
pub const ALL: &[&str] = &[
    REPORT,
    RECEIPT,
    BATCH_RECEIPT,
    CUSTODY_RECEIPT,
    CUSTODY_BATCH,
    FRAMEWORK,
    REGISTRY,
    WINNING_REVISION,
    ENROLL_PROOF,
    KEY_ROTATION,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_distinct() {
        let mut sorted = ALL.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ALL.len());
    }
}
