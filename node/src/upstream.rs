//! The node's side of the upstream interface: the hub, or a relay that offers the same
//! `HubService` (DESIGN.md §1).
//!
//! The channel trusts exactly one CA, pinned at enrollment, and every hub-signed answer
//! (receipts, winning revisions) is verified here under the pinned hub key before anyone else
//! sees it, so a relay can delay or drop but cannot fake an answer.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use tokio::sync::Mutex;
use tonic::transport::Channel;
use tonic::{Code, Status};

use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::receipt::{Receipt, ReportId};
use alliance_daemon::client;
use alliance_envelope::{Envelope, payload_type, verify_pinned};
use alliance_proto::RegistryDocument;
use alliance_proto::pb;
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::status::{is_transient, refusal_of};

/// A connection to the upstream, made on first use and made again after a failure.
#[derive(Debug)]
pub struct Upstream {
    address: String,
    tls: Arc<ClientConfig>,
    hub_key: [u8; 32],
    timeout: Duration,
    channel: Mutex<Option<Channel>>,
}

/// Why a call to the upstream failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// Final: the envelope or request is refused for good (not authentic, not valid).
    #[error("refused: {}", .0.message)]
    Refused(pb::Refusal),
    /// Transient: unreachable, overloaded, timed out. Try again later.
    #[error("{0}")]
    Unavailable(String),
    /// The upstream answered with something the node does not trust (a receipt not signed by
    /// the pinned hub key, for another report): treated as transient, and shown.
    #[error("the upstream's answer cannot be trusted: {0}")]
    Untrusted(String),
    /// The upstream knows nothing of what was asked.
    #[error("{0}")]
    NotFound(String),
}

/// What the upstream said to a submission.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The hub's receipt, verified.
    Decided {
        receipt: Receipt,
        envelope: Envelope,
    },
    /// A relay's custody receipt: it holds the report and will forward it.
    HeldByRelay { custody: Envelope },
}

impl Upstream {
    /// The upstream at `address`, trusted through the pinned CA certificate `ca_der`, whose
    /// hub-signed answers are verified under `hub_key`.
    pub fn new(
        address: String,
        tls: Arc<ClientConfig>,
        hub_key: [u8; 32],
        timeout: Duration,
    ) -> Self {
        Upstream {
            address,
            tls,
            hub_key,
            timeout,
            channel: Mutex::new(None),
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Submits one signed report.
    pub async fn submit(&self, envelope: &Envelope) -> Result<Delivery, UpstreamError> {
        self.submit_with_custody(envelope, None).await
    }

    /// Submits one signed report, unchanged; a relay forwarding an affiliate's report attaches
    /// its own custody receipt.
    pub async fn submit_with_custody(
        &self,
        envelope: &Envelope,
        custody: Option<&Envelope>,
    ) -> Result<Delivery, UpstreamError> {
        let id = alliance_envelope::report_id(envelope);
        let response = self
            .call(|mut client| {
                let request = pb::SubmitRequest {
                    envelope: Some(envelope.into()),
                    custody_receipt: custody.map(Into::into),
                };
                async move { client.submit(request).await }
            })
            .await?;
        match response.receipt {
            Some(pb::submit_response::Receipt::HubReceipt(receipt)) => {
                let envelope = Envelope::from(receipt);
                let receipt = open_receipt(&envelope, &self.hub_key, ReportId(id))
                    .map_err(UpstreamError::Untrusted)?;
                Ok(Delivery::Decided { receipt, envelope })
            }
            Some(pb::submit_response::Receipt::CustodyReceipt(custody)) => {
                Ok(Delivery::HeldByRelay {
                    custody: custody.into(),
                })
            }
            None => Err(UpstreamError::Untrusted(
                "the answer to a submission holds no receipt".to_owned(),
            )),
        }
    }

    /// Submits several signed reports in one call, with a relay's custody batch for those it
    /// relays: what became of each, in order. The hub answers with one signature over all the
    /// receipts, verified here once; a relay with a custody receipt per stored item.
    pub async fn submit_batch(
        &self,
        items: &[&Envelope],
        custody_batch: Option<&Envelope>,
    ) -> Result<Vec<Result<Delivery, pb::Refusal>>, UpstreamError> {
        let response = self
            .call(|mut client| {
                let request = pb::SubmitBatchRequest {
                    envelopes: items.iter().map(|e| (*e).into()).collect(),
                    custody_receipts: Vec::new(),
                    custody_batch: custody_batch.map(Into::into),
                };
                async move { client.submit_batch(request).await }
            })
            .await?;
        let untrusted =
            |what: String| UpstreamError::Untrusted(format!("the answer to a batch {what}"));
        let mut refused: Vec<Option<pb::Refusal>> = vec![None; items.len()];
        for item in response.refusals {
            let slot = usize::try_from(item.index)
                .ok()
                .and_then(|i| refused.get_mut(i))
                .ok_or_else(|| {
                    untrusted(format!(
                        "refuses item {}, which it does not hold",
                        item.index
                    ))
                })?;
            *slot = Some(item.refusal.unwrap_or_default());
        }
        let stored = refused.iter().filter(|r| r.is_none()).count();
        let answers: Vec<Delivery> = match response.receipts {
            Some(pb::submit_batch_response::Receipts::BatchReceipt(receipt)) => {
                let envelope = Envelope::from(receipt);
                let verified = verify_pinned(&envelope, payload_type::BATCH_RECEIPT, &self.hub_key)
                    .map_err(|e| untrusted(format!("is not signed by the pinned hub key: {e}")))?;
                let batch = alliance_proto::decode_batch_receipt(verified.payload())
                    .map_err(|e| untrusted(format!("does not decode: {e}")))?;
                let mut by_id: BTreeMap<ReportId, Receipt> = batch
                    .receipts
                    .into_iter()
                    .map(|r| (r.report_id, r))
                    .collect();
                items
                    .iter()
                    .zip(&refused)
                    .filter(|(_, refusal)| refusal.is_none())
                    .map(|(e, _)| {
                        let id = ReportId(alliance_envelope::report_id(e));
                        let receipt = by_id
                            .remove(&id)
                            .ok_or_else(|| untrusted(format!("has no receipt of report {id}")))?;
                        Ok(Delivery::Decided {
                            receipt,
                            envelope: envelope.clone(),
                        })
                    })
                    .collect::<Result<_, UpstreamError>>()?
            }
            Some(pb::submit_batch_response::Receipts::CustodyReceipts(list)) => list
                .receipts
                .into_iter()
                .map(|custody| Delivery::HeldByRelay {
                    custody: custody.into(),
                })
                .collect(),
            None => Vec::new(),
        };
        if answers.len() != stored {
            return Err(untrusted(format!(
                "holds {} receipts for {stored} items not refused",
                answers.len()
            )));
        }
        // Receipts come in request order, one per item not refused.
        let mut answers = answers.into_iter();
        Ok(refused
            .into_iter()
            .map(|refusal| match refusal {
                Some(refusal) => Err(refusal),
                None => answers.next().ok_or(pb::Refusal::default()),
            })
            .collect())
    }

    /// The hub's receipt for `id`, verified; `None` while a relay holds it without one.
    pub async fn receipt(
        &self,
        id: ReportId,
    ) -> Result<Option<(Receipt, Envelope)>, UpstreamError> {
        let response = self
            .call(|mut client| {
                let request = pb::GetReceiptRequest {
                    report_id: id.0.to_vec(),
                };
                async move { client.get_receipt(request).await }
            })
            .await?;
        match response.state {
            Some(pb::get_receipt_response::State::Receipt(receipt)) => {
                let envelope = Envelope::from(receipt);
                let receipt =
                    open_receipt(&envelope, &self.hub_key, id).map_err(UpstreamError::Untrusted)?;
                Ok(Some((receipt, envelope)))
            }
            Some(pb::get_receipt_response::State::Refused(refusal)) => {
                Err(UpstreamError::Refused(refusal))
            }
            Some(_) => Ok(None),
            None => Err(UpstreamError::Untrusted(
                "the answer to a receipt look-up is empty".to_owned(),
            )),
        }
    }

    /// The hub's winning revision of (org, period), verified; 0 when the hub holds none.
    pub async fn winning_revision(
        &self,
        org: &OrgId,
        period: Period,
    ) -> Result<u64, UpstreamError> {
        let response = self
            .call(|mut client| {
                let request = pb::GetWinningRevisionRequest {
                    org_id: org.to_string(),
                    period: period.to_string(),
                };
                async move { client.get_winning_revision(request).await }
            })
            .await?;
        let envelope: Envelope = response
            .winning_revision
            .ok_or_else(|| {
                UpstreamError::Untrusted("no winning revision in the answer".to_owned())
            })?
            .into();
        let winning =
            open_winning_revision(&envelope, &self.hub_key).map_err(UpstreamError::Untrusted)?;
        if winning.org != *org || winning.period != period {
            return Err(UpstreamError::Untrusted(format!(
                "asked for the winning revision of {org} {period}, got {} {}",
                winning.org, winning.period
            )));
        }
        Ok(winning.winner.map_or(0, |w| w.revision))
    }

    /// Asks the hub to replace a key.
    pub async fn rotate_key(
        &self,
        request: pb::RotateKeyRequest,
    ) -> Result<pb::RotateKeyResponse, UpstreamError> {
        self.call(|mut client| {
            let request = request.clone();
            async move { client.rotate_key(request).await }
        })
        .await
    }

    /// The hub's current registry, verified under the pinned hub key.
    pub async fn registry(&self) -> Result<(RegistryDocument, Envelope), UpstreamError> {
        let response = self
            .call(|mut client| async move { client.get_registry(pb::GetRegistryRequest {}).await })
            .await?;
        let envelope: Envelope = response
            .registry
            .ok_or_else(|| UpstreamError::Untrusted("no registry in the answer".to_owned()))?
            .into();
        let registry = open_registry(&envelope, &self.hub_key).map_err(UpstreamError::Untrusted)?;
        Ok((registry, envelope))
    }

    /// Passes a call through to the upstream as it is, for a relay that offers the upstream's
    /// interface: the answer comes back unchanged (the node that asked verifies what the hub
    /// signed), a failure as the upstream's status with its refusal details, and an upstream
    /// that cannot be reached as UNAVAILABLE.
    pub async fn pass<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: FnOnce(HubServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let channel = self
            .channel()
            .await
            .map_err(|e| Status::unavailable(format!("the relay cannot reach the hub: {e}")))?;
        let client = HubServiceClient::new(channel);
        match tokio::time::timeout(self.timeout, call(client)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => {
                if is_transient(status.code()) {
                    *self.channel.lock().await = None;
                }
                Err(Status::with_details(
                    status.code(),
                    status.message().to_owned(),
                    status.details().to_vec().into(),
                ))
            }
            Err(_) => {
                *self.channel.lock().await = None;
                Err(Status::unavailable(format!(
                    "the hub did not answer the relay within {} s",
                    self.timeout.as_secs()
                )))
            }
        }
    }

    /// Makes one call with the cached channel (connecting first if there is none), within the
    /// timeout. A failed call drops the channel, so the next one connects afresh.
    async fn call<T, F, Fut>(&self, call: F) -> Result<T, UpstreamError>
    where
        F: FnOnce(HubServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let channel = self.channel().await?;
        let client = HubServiceClient::new(channel);
        let answer = tokio::time::timeout(self.timeout, call(client)).await;
        let result = match answer {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(classify(&status)),
            Err(_) => Err(UpstreamError::Unavailable(format!(
                "{} did not answer within {} s",
                self.address,
                self.timeout.as_secs()
            ))),
        };
        if matches!(result, Err(UpstreamError::Unavailable(_))) {
            *self.channel.lock().await = None;
        }
        result
    }

    async fn channel(&self) -> Result<Channel, UpstreamError> {
        let mut cached = self.channel.lock().await;
        if let Some(channel) = cached.as_ref() {
            return Ok(channel.clone());
        }
        let channel = client::connect_tls(&self.address, self.tls.clone())
            .await
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        *cached = Some(channel.clone());
        Ok(channel)
    }
}

/// A status as the outbox sees it. A status carrying a refusal is final. A status with a final
/// code but no refusal (a peer that is not alliance, or a message refused by the transport
/// before it reached the service) is final too, so one bad envelope cannot block the queue for
/// ever; anything else is retried.
pub fn classify(status: &Status) -> UpstreamError {
    if let Some(refusal) = refusal_of(status) {
        return UpstreamError::Refused(refusal);
    }
    let code = status.code();
    if is_transient(code) {
        return UpstreamError::Unavailable(format!("{code:?}: {}", status.message()));
    }
    match code {
        Code::NotFound => UpstreamError::NotFound(status.message().to_owned()),
        Code::InvalidArgument
        | Code::OutOfRange
        | Code::FailedPrecondition
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::AlreadyExists => UpstreamError::Refused(pb::Refusal {
            reason: pb::RefusalReason::Unspecified as i32,
            message: format!("{code:?}: {}", status.message()),
            refused_at_unix_seconds: 0,
        }),
        _ => UpstreamError::Unavailable(format!("{code:?}: {}", status.message())),
    }
}

/// Verifies a hub receipt under `hub_key` and checks it is about `id`: an envelope of type
/// receipt, or of type batch-receipt whose list holds `id`.
pub fn open_receipt(
    envelope: &Envelope,
    hub_key: &[u8; 32],
    id: ReportId,
) -> Result<Receipt, String> {
    if envelope.payload_type == payload_type::BATCH_RECEIPT {
        let verified = verify_pinned(envelope, payload_type::BATCH_RECEIPT, hub_key)
            .map_err(|e| format!("the batch receipt is not signed by the pinned hub key: {e}"))?;
        let batch = alliance_proto::decode_batch_receipt(verified.payload())
            .map_err(|e| format!("the batch receipt does not decode: {e}"))?;
        return batch
            .receipts
            .into_iter()
            .find(|r| r.report_id == id)
            .ok_or_else(|| format!("the batch receipt does not list report {id}"));
    }
    let verified = verify_pinned(envelope, payload_type::RECEIPT, hub_key)
        .map_err(|e| format!("the receipt is not signed by the pinned hub key: {e}"))?;
    let receipt = alliance_proto::decode_receipt(verified.payload())
        .map_err(|e| format!("the receipt does not decode: {e}"))?;
    if receipt.report_id != id {
        return Err(format!(
            "the receipt is for report {}, not {id}",
            receipt.report_id
        ));
    }
    Ok(receipt)
}

/// Verifies a registry under `hub_key` and decodes it.
pub fn open_registry(envelope: &Envelope, hub_key: &[u8; 32]) -> Result<RegistryDocument, String> {
    let verified = verify_pinned(envelope, payload_type::REGISTRY, hub_key)
        .map_err(|e| format!("the registry is not signed by the pinned hub key: {e}"))?;
    alliance_proto::decode_registry(verified.payload())
        .map_err(|e| format!("the registry does not decode: {e}"))
}

/// Verifies a winning-revision statement under `hub_key`.
pub fn open_winning_revision(
    envelope: &Envelope,
    hub_key: &[u8; 32],
) -> Result<alliance_proto::WinningRevision, String> {
    let verified = verify_pinned(envelope, payload_type::WINNING_REVISION, hub_key)
        .map_err(|e| format!("the winning revision is not signed by the pinned hub key: {e}"))?;
    alliance_proto::decode_winning_revision(verified.payload())
        .map_err(|e| format!("the winning revision does not decode: {e}"))
}
