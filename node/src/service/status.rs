//! Node errors as gRPC statuses: the one place where that mapping is made.

use tonic::Status;

use crate::node::NodeError;
use crate::upstream::UpstreamError;

/// The status for a node error. An upstream refusal keeps its reason in the details, so the
/// command line can say exactly why; a storage failure is UNAVAILABLE (nothing was
/// acknowledged).
pub fn status_of(error: NodeError) -> Status {
    match error {
        NodeError::Invalid(message) => Status::invalid_argument(message),
        NodeError::NotFound(message) => Status::not_found(message),
        NodeError::Upstream(UpstreamError::Refused(refusal)) => {
            alliance_proto::status::refusal_status(&refusal)
        }
        NodeError::Upstream(UpstreamError::NotFound(message)) => {
            Status::failed_precondition(format!("the upstream: {message}"))
        }
        NodeError::Upstream(error) => Status::unavailable(format!("the upstream: {error}")),
        NodeError::Storage(error) => Status::unavailable(format!(
            "the node cannot store anything and acknowledges nothing more: {error}"
        )),
    }
}
