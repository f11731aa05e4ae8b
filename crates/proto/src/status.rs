//! Refusals as gRPC statuses, and which statuses are worth retrying.
//!
//! Both ends of every hop must agree on this, so it is part of the contract: a refusal is final
//! (the sender sets the envelope aside), anything transient is retried in order. A refused
//! `Submit` is an error status whose details carry the encoded `alliance.v1.Refusal`, so that a
//! relay can hand the hub's exact reason back to the affiliate the envelope came from.

use prost::Message;
use tonic::codegen::Bytes;
use tonic::{Code, Status};

use crate::pb::{Refusal, RefusalReason};

/// The status for a final refusal: a code that is never retried, the refusal's message, and the
/// encoded refusal in the details.
pub fn refusal_status(refusal: &Refusal) -> Status {
    let code = refusal_code(refusal.reason());
    Status::with_details(
        code,
        refusal.message.clone(),
        Bytes::from(refusal.encode_to_vec()),
    )
}

/// The refusal a status carries, if it is one made by [`refusal_status`]. A status from
/// elsewhere (tonic itself, a proxy) yields `None` even with details, unless they decode as a
/// refusal with a known reason.
pub fn refusal_of(status: &Status) -> Option<Refusal> {
    if status.code() == Code::Ok || is_transient(status.code()) || status.details().is_empty() {
        return None;
    }
    let refusal = Refusal::decode(status.details()).ok()?;
    match RefusalReason::try_from(refusal.reason) {
        Ok(RefusalReason::Unspecified) | Err(_) => None,
        Ok(_) => Some(refusal),
    }
}

/// The gRPC code a refusal reason is sent with. None of them is transient.
pub fn refusal_code(reason: RefusalReason) -> Code {
    match reason {
        RefusalReason::Unspecified
        | RefusalReason::Malformed
        | RefusalReason::PayloadType
        | RefusalReason::InvalidReport
        | RefusalReason::UnknownFrameworkVersion
        | RefusalReason::PeriodNotAllowed
        // Too large is final: resending the same bytes can only fail the same way.
        | RefusalReason::TooLarge => Code::InvalidArgument,
        RefusalReason::Signature
        | RefusalReason::UnknownKey
        | RefusalReason::ProofOfPossession
        | RefusalReason::KeyRotation => Code::Unauthenticated,
        RefusalReason::WrongOrganisation
        | RefusalReason::KeyNotAccepted
        | RefusalReason::UnknownOrganisation
        | RefusalReason::OrganisationDeactivated
        | RefusalReason::NotRelayed
        | RefusalReason::JoinToken => Code::PermissionDenied,
    }
}

/// Whether a failed call should be retried later, in order, rather than set aside: the
/// upstream was unreachable, overloaded, timed out, or gave up mid-way.
pub fn is_transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_survives_the_status() {
        let refusal = Refusal {
            reason: RefusalReason::WrongOrganisation as i32,
            message: "signed by a key of another organisation".into(),
            refused_at_unix_seconds: 12,
        };
        let status = refusal_status(&refusal);
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(status.message(), refusal.message);
        assert!(!is_transient(status.code()));
        assert_eq!(refusal_of(&status), Some(refusal));
    }

    #[test]
    fn other_statuses_are_not_refusals() {
        assert_eq!(refusal_of(&Status::unavailable("down")), None);
        assert_eq!(refusal_of(&Status::invalid_argument("no details")), None);
        let garbage = Status::with_details(Code::InvalidArgument, "x", Bytes::from_static(&[0xff]));
        assert_eq!(refusal_of(&garbage), None);
    }

    #[test]
    fn no_refusal_code_is_transient() {
        for reason in (0..=16).filter_map(|r| RefusalReason::try_from(r).ok()) {
            assert!(!is_transient(refusal_code(reason)), "{reason:?}");
        }
    }
}
