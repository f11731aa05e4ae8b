//! `HubService`: enrollment, ingest, receipts, and the signed documents nodes need.

use std::sync::Arc;

use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::receipt::ReportId;
use alliance_envelope::Envelope;
use alliance_proto::RelayInfo;
use alliance_proto::pb::{self, RefusalReason, hub_service_server::HubService};
use tonic::{Request, Response, Status};

use super::actor;
use super::status::{refusal, status_of, wire_refusal};
use crate::hub::{Custody, EnrollCall, Enrollment, Hub, Refused, RotateCall};

/// The network-facing service.
#[derive(Debug, Clone)]
pub struct IngestService {
    hub: Arc<Hub>,
}

impl IngestService {
    pub fn new(hub: Arc<Hub>) -> Self {
        IngestService { hub }
    }
}

#[tonic::async_trait]
impl HubService for IngestService {
    async fn enroll(
        &self,
        request: Request<pb::EnrollRequest>,
    ) -> Result<Response<pb::EnrollResponse>, Status> {
        let peer = actor(&request);
        let request = request.into_inner();
        let call = EnrollCall {
            org_id: request.org_id,
            token: request.token,
            public_key: request.public_key,
            proof: required(request.proof, "proof")?,
            relay: None,
        };
        let enrollment = self.hub.enroll(call, &peer).await.map_err(status_of)?;
        Ok(Response::new(pb::EnrollResponse {
            enrollment: Some(wire_enrollment(enrollment)),
        }))
    }

    async fn enroll_relay(
        &self,
        request: Request<pb::EnrollRelayRequest>,
    ) -> Result<Response<pb::EnrollRelayResponse>, Status> {
        let peer = actor(&request);
        let request = request.into_inner();
        let relay = RelayInfo::try_from(pb::RelayInfo {
            ca_certificate_der: request.ca_certificate_der,
            public_address: request.public_address,
        })
        .map_err(|e| malformed(format!("the relay's identity: {e}")))?;
        let call = EnrollCall {
            org_id: request.org_id,
            token: request.token,
            public_key: request.public_key,
            proof: required(request.proof, "proof")?,
            relay: Some(relay),
        };
        let enrollment = self.hub.enroll(call, &peer).await.map_err(status_of)?;
        Ok(Response::new(pb::EnrollRelayResponse {
            enrollment: Some(wire_enrollment(enrollment)),
        }))
    }

    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let peer = actor(&request);
        let request = request.into_inner();
        let envelope = required(request.envelope, "envelope")?;
        let custody = request.custody_receipt.map(Envelope::from);
        let receipt = self
            .hub
            .submit_with_custody(envelope, custody, &peer)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::SubmitResponse {
            receipt: Some(pb::submit_response::Receipt::HubReceipt((&receipt).into())),
        }))
    }

    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        let peer = actor(&request);
        let request = request.into_inner();
        let (envelopes, custody) = (request.envelopes, request.custody_receipts);
        let limit = self.hub.config().limits.max_batch_items;
        for (count, what) in [
            (envelopes.len(), "envelopes"),
            (custody.len(), "custody receipts"),
        ] {
            if count > limit {
                return Err(refusal(&Refused::new(
                    RefusalReason::TooLarge,
                    format!("the batch holds {count} {what}, more than the limit of {limit}"),
                )));
            }
        }
        let envelopes = envelopes.into_iter().map(Envelope::from).collect();
        let custody = Custody {
            receipts: custody.into_iter().map(Envelope::from).collect(),
            batch: request.custody_batch.map(Envelope::from),
        };
        let answer = self
            .hub
            .submit_batch_with_custody(envelopes, custody, &peer)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::SubmitBatchResponse {
            receipts: answer
                .batch_receipt
                .map(|r| pb::submit_batch_response::Receipts::BatchReceipt((&r).into())),
            refusals: answer
                .refusals
                .iter()
                .map(|(index, refused)| pb::ItemRefusal {
                    index: *index,
                    refusal: Some(wire_refusal(refused)),
                })
                .collect(),
        }))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        let bytes = request.into_inner().report_id;
        let id: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            Status::invalid_argument(format!(
                "report_id: {} bytes where a report id has 32",
                bytes.len()
            ))
        })?;
        let id = ReportId(id);
        match self.hub.receipt(&id).map_err(status_of)? {
            Some(receipt) => Ok(Response::new(pb::GetReceiptResponse {
                state: Some(pb::get_receipt_response::State::Receipt((&receipt).into())),
            })),
            None => Err(Status::not_found(format!("the hub holds no report {id}"))),
        }
    }

    async fn get_winning_revision(
        &self,
        request: Request<pb::GetWinningRevisionRequest>,
    ) -> Result<Response<pb::GetWinningRevisionResponse>, Status> {
        let request = request.into_inner();
        let org: OrgId = request
            .org_id
            .parse()
            .map_err(|e| Status::invalid_argument(format!("org_id: {e}")))?;
        let period: Period = request
            .period
            .parse()
            .map_err(|e| Status::invalid_argument(format!("period: {e}")))?;
        let statement = self.hub.winning_revision(&org, period);
        Ok(Response::new(pb::GetWinningRevisionResponse {
            winning_revision: Some((&statement).into()),
        }))
    }

    async fn get_framework(
        &self,
        request: Request<pb::GetFrameworkRequest>,
    ) -> Result<Response<pb::GetFrameworkResponse>, Status> {
        let version = request.into_inner().version;
        match self.hub.framework_envelope(version) {
            Some(framework) => Ok(Response::new(pb::GetFrameworkResponse {
                framework: Some((&framework).into()),
            })),
            None => Err(Status::not_found(format!(
                "framework version {version} is not known here"
            ))),
        }
    }

    async fn get_registry(
        &self,
        _request: Request<pb::GetRegistryRequest>,
    ) -> Result<Response<pb::GetRegistryResponse>, Status> {
        Ok(Response::new(pb::GetRegistryResponse {
            registry: Some((&self.hub.registry_envelope()).into()),
        }))
    }

    async fn rotate_key(
        &self,
        request: Request<pb::RotateKeyRequest>,
    ) -> Result<Response<pb::RotateKeyResponse>, Status> {
        let peer = actor(&request);
        let request = request.into_inner();
        let call = RotateCall {
            org_id: request.org_id,
            new_public_key: request.new_public_key,
            statement: required(request.statement, "statement")?,
            proof: required(request.proof, "proof")?,
        };
        let rotated = self.hub.rotate_key(call, &peer).await.map_err(status_of)?;
        Ok(Response::new(pb::RotateKeyResponse {
            new_key_id: rotated.new_key_id,
            grace_until_unix_seconds: rotated.grace_until.0,
        }))
    }
}

/// An envelope field the request must carry.
fn required(envelope: Option<pb::Envelope>, field: &str) -> Result<Envelope, Status> {
    envelope
        .map(Envelope::from)
        .ok_or_else(|| malformed(format!("the request carries no {field}")))
}

fn malformed(message: String) -> Status {
    refusal(&Refused::new(RefusalReason::Malformed, message))
}

fn wire_enrollment(enrollment: Enrollment) -> pb::Enrollment {
    pb::Enrollment {
        framework: Some((&enrollment.framework).into()),
        registry: Some((&enrollment.registry).into()),
        winning_revisions: enrollment
            .winning_revisions
            .iter()
            .map(Into::into)
            .collect(),
        hub_public_key: enrollment.hub_public_key.to_vec(),
        key_id: enrollment.key_id,
        enrolled_at_unix_seconds: enrollment.enrolled_at.0,
    }
}
