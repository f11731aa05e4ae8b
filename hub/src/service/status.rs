//! Hub errors as gRPC statuses: the one place where that mapping is made.

use alliance_proto::pb;
use tonic::Status;

use crate::hub::{HubError, Refused, now};

/// The status for a hub error. A refusal carries the encoded `Refusal` in its details, so a
/// relay can hand the exact reason back; a storage failure is UNAVAILABLE, which senders retry
/// (the hub acknowledged nothing, and a restarted hub will take it).
pub fn status_of(error: HubError) -> Status {
    match error {
        HubError::Refused(refused) => refusal(&refused),
        HubError::NotFound(message) => Status::not_found(message),
        HubError::Invalid(message) => Status::invalid_argument(message),
        HubError::Storage(message) => Status::unavailable(format!(
            "the hub cannot store anything and acknowledges nothing more: {message}"
        )),
    }
}

/// The status of a final refusal.
pub fn refusal(refused: &Refused) -> Status {
    alliance_proto::status::refusal_status(&wire_refusal(refused))
}

/// A refusal as the wire carries it.
pub fn wire_refusal(refused: &Refused) -> pb::Refusal {
    pb::Refusal {
        reason: refused.reason as i32,
        message: refused.message.clone(),
        refused_at_unix_seconds: now().0,
    }
}
