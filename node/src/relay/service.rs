//! `HubService` as a relay offers it to the affiliates registered `--via` it: a thin adapter
//! over [`super::Relay`] and the upstream's pass-through.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use alliance_core::receipt::ReportId;
use alliance_envelope::Envelope;
use alliance_proto::pb::{self, RefusalReason, hub_service_server::HubService};
use alliance_proto::status::refusal_status;

use super::{Held, Relay, RelayError, verify::refusal};
use crate::node::now;
use crate::service::status_of;

/// The relay's network-facing service.
#[derive(Debug, Clone)]
pub struct RelayService {
    relay: Arc<Relay>,
}

impl RelayService {
    pub fn new(relay: Arc<Relay>) -> Self {
        RelayService { relay }
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl HubService for RelayService {
    async fn enroll(&self, request: Request<pb::EnrollRequest>) -> Answer<pb::EnrollResponse> {
        let request = request.into_inner();
        let answer = self
            .relay
            .node()
            .upstream()
            .pass(|mut client| async move { client.enroll(request).await })
            .await?;
        self.relay.registry_is_stale().await;
        Ok(Response::new(answer))
    }

    async fn enroll_relay(
        &self,
        _request: Request<pb::EnrollRelayRequest>,
    ) -> Answer<pb::EnrollRelayResponse> {
        Err(Status::failed_precondition(
            "a relay enrolls with the hub directly, not through another relay",
        ))
    }

    async fn submit(&self, request: Request<pb::SubmitRequest>) -> Answer<pb::SubmitResponse> {
        let envelope = required(request.into_inner().envelope)?;
        let custody = self.relay.submit(envelope).await.map_err(status)?;
        crate::crash::point(crate::crash::RELAY_AFTER_CUSTODY_STORED);
        Ok(Response::new(pb::SubmitResponse {
            receipt: Some(pb::submit_response::Receipt::CustodyReceipt(
                (&custody).into(),
            )),
        }))
    }

    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Answer<pb::SubmitBatchResponse> {
        let envelopes = request
            .into_inner()
            .envelopes
            .into_iter()
            .map(Envelope::from)
            .collect();
        let (receipts, refusals) = self.relay.submit_batch(envelopes).await.map_err(status)?;
        crate::crash::point(crate::crash::RELAY_AFTER_CUSTODY_STORED);
        Ok(Response::new(pb::SubmitBatchResponse {
            receipts: (!receipts.is_empty()).then(|| {
                pb::submit_batch_response::Receipts::CustodyReceipts(pb::CustodyReceiptList {
                    receipts: receipts.iter().map(Into::into).collect(),
                })
            }),
            refusals: refusals
                .into_iter()
                .map(|(index, refusal)| pb::ItemRefusal {
                    index,
                    refusal: Some(refusal),
                })
                .collect(),
        }))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Answer<pb::GetReceiptResponse> {
        let request = request.into_inner();
        let id: [u8; 32] = request.report_id.as_slice().try_into().map_err(|_| {
            Status::invalid_argument(format!(
                "report_id: {} bytes where a report id has 32",
                request.report_id.len()
            ))
        })?;
        use pb::get_receipt_response::State;
        let state = match self.relay.held(&ReportId(id)).map_err(status)? {
            Some(Held::Receipt(receipt)) => State::Receipt((&receipt).into()),
            Some(Held::Refused(refusal)) => State::Refused(refusal),
            Some(Held::Pending {
                custody,
                last_error,
            }) => State::Pending(pb::ReceiptPending {
                custody_receipt: custody.as_ref().map(Into::into),
                last_error: last_error.unwrap_or_default(),
            }),
            None => {
                let answer = self
                    .relay
                    .node()
                    .upstream()
                    .pass(|mut client| async move { client.get_receipt(request).await })
                    .await?;
                return Ok(Response::new(answer));
            }
        };
        Ok(Response::new(pb::GetReceiptResponse { state: Some(state) }))
    }

    async fn get_winning_revision(
        &self,
        request: Request<pb::GetWinningRevisionRequest>,
    ) -> Answer<pb::GetWinningRevisionResponse> {
        let request = request.into_inner();
        let answer = self
            .relay
            .node()
            .upstream()
            .pass(|mut client| async move { client.get_winning_revision(request).await })
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_framework(
        &self,
        request: Request<pb::GetFrameworkRequest>,
    ) -> Answer<pb::GetFrameworkResponse> {
        let request = request.into_inner();
        let answer = self
            .relay
            .node()
            .upstream()
            .pass(|mut client| async move { client.get_framework(request).await })
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_registry(
        &self,
        request: Request<pb::GetRegistryRequest>,
    ) -> Answer<pb::GetRegistryResponse> {
        let request = request.into_inner();
        let answer = self
            .relay
            .node()
            .upstream()
            .pass(|mut client| async move { client.get_registry(request).await })
            .await?;
        Ok(Response::new(answer))
    }

    async fn rotate_key(
        &self,
        request: Request<pb::RotateKeyRequest>,
    ) -> Answer<pb::RotateKeyResponse> {
        let request = request.into_inner();
        let answer = self
            .relay
            .node()
            .upstream()
            .pass(|mut client| async move { client.rotate_key(request).await })
            .await?;
        self.relay.registry_is_stale().await;
        Ok(Response::new(answer))
    }
}

/// The envelope a submission must carry.
fn required(envelope: Option<pb::Envelope>) -> Result<Envelope, Status> {
    envelope.map(Envelope::from).ok_or_else(|| {
        refusal_status(&refusal(
            RefusalReason::Malformed,
            "the request carries no envelope",
            now(),
        ))
    })
}

/// A relay error as a status: a refusal with its details, a storage failure as UNAVAILABLE
/// (nothing was acknowledged).
fn status(error: RelayError) -> Status {
    match error {
        RelayError::Refused(refusal) => refusal_status(&refusal),
        RelayError::Storage(error) => Status::unavailable(format!(
            "the relay cannot store anything and acknowledges nothing more: {error}"
        )),
        RelayError::Node(error) => status_of(error),
        RelayError::Unavailable(message) => Status::unavailable(message),
    }
}
