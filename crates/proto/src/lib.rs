//! The `alliance.v1` wire contract: the generated protobuf messages and gRPC services, and the
//! conversions between them and the domain. This is the only crate that knows protobuf; the
//! domain crate never sees a generated type.
//!
//! - [`pb`]: everything generated from `proto/alliance/v1/*.proto`: messages, enums, and the
//!   tonic clients and servers of `HubService`, `QueryService`, `HubAdminService` and
//!   `NodeAdminService` (such as [`pb::hub_service_server::HubServiceServer`]).
//! - Conversions: `TryFrom<pb::X>` into the domain refuses what is structurally unsound with a
//!   [`WireError`] that names the field (`values[2].count.breakdowns[0].cells[1].value`);
//!   `From<&Domain>` for `pb::X` cannot fail. They exist for reports, frameworks, organisations
//!   and their keys, the registry ([`RegistryDocument`]), receipts, batch and custody receipts,
//!   winning revisions ([`WinningRevision`]), enrollment proofs ([`EnrollProof`]), key rotations
//!   ([`KeyRotation`]), envelopes, and a node's records ([`encode_record`], which its store uses).
//! - The merged view and coverage as `QueryService` answers: [`view_response`] (flat rows in a
//!   fixed order) and [`coverage_response`]; [`group_by_from_wire`] reads a grouping.
//! - [`enums`]: protobuf enum values (`i32` on the wire) to and from the domain's enums.
//! - `decode_*` / `encode_*`: envelope payloads as bytes to checked documents and back.
//! - [`status`]: final refusals as gRPC statuses (with the `Refusal` in their details), and
//!   which statuses are transient and retried.
//!
//! Times on the wire are whole seconds since the Unix epoch, in `int64` fields named
//! `*_unix_seconds`, exactly like `alliance_core::Timestamp`.

pub mod enums;
pub mod status;

mod codec;
mod envelope;
mod error;
mod framework;
mod keys;
mod receipt;
mod record;
mod registry;
mod report;
mod view;

pub use codec::{
    decode_batch_receipt, decode_custody_batch, decode_custody_receipt, decode_enroll_proof,
    decode_envelope, decode_framework, decode_key_rotation, decode_organisation, decode_receipt,
    decode_record, decode_registry, decode_report, decode_winning_revision, encode_batch_receipt,
    encode_custody_batch, encode_custody_receipt, encode_enroll_proof, encode_envelope,
    encode_framework, encode_key_rotation, encode_organisation, encode_receipt, encode_record,
    encode_registry, encode_report, encode_winning_revision,
};
pub use error::WireError;
pub use keys::{EnrollProof, KeyRotation, RelayBinding};
pub use receipt::{Winner, WinningRevision};
pub use registry::{RegistryDocument, RelayInfo};
pub use view::{
    CONVENTION_DIMENSION, NOT_BROKEN_DOWN, coverage_response, group_by_from_wire, group_by_to_i32,
    view_response,
};

/// The code generated from `proto/alliance/v1` by prost and tonic.
///
/// Generated code follows its generator's style, not this workspace's lints.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unused_qualifications,
    clippy::all,
    clippy::pedantic
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/alliance.v1.rs"));
}

/// The encoded `FileDescriptorSet` of `alliance.v1` and its imports, with source info (the
/// comments of the .proto files), for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/alliance_v1_descriptor.bin"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_set_describes_every_service_with_comments() {
        let contains = |needle: &str| {
            FILE_DESCRIPTOR_SET
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        };
        for name in [
            "HubService",
            "QueryService",
            "HubAdminService",
            "NodeAdminService",
            "alliance/v1/report.proto",
        ] {
            assert!(contains(name), "{name} missing from the descriptor set");
        }
        // Source info is kept, so reflection clients see the documentation.
        assert!(contains("A DSSE envelope: the signed unit of alliance."));
    }
}
