//! `NodeAdminService`, on the node's admin socket.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use alliance_core::framework::IndicatorId;
use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::record::Record;
use alliance_proto::pb;
use alliance_proto::pb::node_admin_service_server::NodeAdminService;
use alliance_store::{DeliveryState, ReportEntry};

use super::status_of;
use crate::node::{Node, NodeStatus};
use crate::upstream::open_receipt;

/// The admin service over a node.
#[derive(Debug, Clone)]
pub struct AdminService {
    node: Arc<Node>,
}

impl AdminService {
    pub fn new(node: Arc<Node>) -> Self {
        AdminService { node }
    }

    fn org(&self, org: &str) -> Result<OrgId, Status> {
        self.node.org_or_own(org).map_err(status_of)
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl NodeAdminService for AdminService {
    async fn add_record(
        &self,
        request: Request<pb::AddRecordRequest>,
    ) -> Answer<pb::AddRecordResponse> {
        let wire = request
            .into_inner()
            .record
            .ok_or_else(|| Status::invalid_argument("record: missing"))?;
        let org = self.org(&wire.org_id)?;
        let mut wire = wire;
        wire.org_id = org.to_string();
        let record = Record::try_from(wire).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let record = self.node.add_record(record).await.map_err(status_of)?;
        Ok(Response::new(pb::AddRecordResponse {
            record: Some((&record).into()),
        }))
    }

    async fn import_records(
        &self,
        request: Request<pb::ImportRecordsRequest>,
    ) -> Answer<pb::ImportRecordsResponse> {
        let request = request.into_inner();
        let org = self.org(&request.org_id)?;
        let records = self
            .node
            .import_records(&org, &request.csv)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::ImportRecordsResponse {
            records: records.iter().map(Into::into).collect(),
        }))
    }

    async fn list_records(
        &self,
        request: Request<pb::ListRecordsRequest>,
    ) -> Answer<pb::ListRecordsResponse> {
        let request = request.into_inner();
        let org = self.org(&request.org_id)?;
        let period = optional_period(&request.period)?;
        let indicator = if request.indicator.is_empty() {
            None
        } else {
            Some(
                request
                    .indicator
                    .parse::<IndicatorId>()
                    .map_err(|e| Status::invalid_argument(format!("indicator: {e}")))?,
            )
        };
        let records = self
            .node
            .list_records(&org, period, indicator.as_ref())
            .map_err(status_of)?;
        let mut sensitive: Vec<String> = records
            .iter()
            .filter(|r| self.node.is_sensitive(&r.indicator))
            .map(|r| r.indicator.to_string())
            .collect();
        sensitive.dedup();
        sensitive.sort();
        sensitive.dedup();
        Ok(Response::new(pb::ListRecordsResponse {
            records: records.iter().map(Into::into).collect(),
            sensitive_indicators: sensitive,
        }))
    }

    async fn delete_record(
        &self,
        request: Request<pb::DeleteRecordRequest>,
    ) -> Answer<pb::DeleteRecordResponse> {
        let request = request.into_inner();
        let org = self.org(&request.org_id)?;
        let record = self
            .node
            .delete_record(&org, request.record_id)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::DeleteRecordResponse {
            record: Some((&record).into()),
        }))
    }

    async fn preview_report(
        &self,
        request: Request<pb::PreviewReportRequest>,
    ) -> Answer<pb::PreviewReportResponse> {
        let request = request.into_inner();
        let org = self.org(&request.org_id)?;
        let period = period(&request.period)?;
        let preview = self.node.preview(&org, period).map_err(status_of)?;
        Ok(Response::new(pb::PreviewReportResponse {
            report: Some((&preview.report).into()),
            warnings: preview
                .warnings
                .into_iter()
                .map(|w| pb::PreviewWarning {
                    field: w.field,
                    message: w.message,
                })
                .collect(),
        }))
    }

    async fn submit_report(
        &self,
        request: Request<pb::SubmitReportRequest>,
    ) -> Answer<pb::SubmitReportResponse> {
        let request = request.into_inner();
        let org = self.org(&request.org_id)?;
        let period = period(&request.period)?;
        let submitted = self.node.submit(&org, period).await.map_err(status_of)?;
        Ok(Response::new(pb::SubmitReportResponse {
            report_id: submitted.report_id.0.to_vec(),
            revision: submitted.revision,
        }))
    }

    async fn withdraw_report(
        &self,
        request: Request<pb::WithdrawReportRequest>,
    ) -> Answer<pb::WithdrawReportResponse> {
        let request = request.into_inner();
        let org = self.org(&request.org_id)?;
        let period = period(&request.period)?;
        let submitted = self.node.withdraw(&org, period).await.map_err(status_of)?;
        Ok(Response::new(pb::WithdrawReportResponse {
            report_id: submitted.report_id.0.to_vec(),
            revision: submitted.revision,
        }))
    }

    async fn set_narrative(
        &self,
        request: Request<pb::SetNarrativeRequest>,
    ) -> Answer<pb::SetNarrativeResponse> {
        let request = request.into_inner();
        let org = self.org(&request.org_id)?;
        let period = period(&request.period)?;
        self.node
            .set_narrative(&org, period, &request.action_point, &request.text)
            .map_err(status_of)?;
        Ok(Response::new(pb::SetNarrativeResponse {}))
    }

    async fn export_report(
        &self,
        request: Request<pb::ExportReportRequest>,
    ) -> Answer<pb::ExportReportResponse> {
        let request = request.into_inner();
        let org = self.org(&request.org_id)?;
        let period = period(&request.period)?;
        let entry = self
            .node
            .export(&org, period, request.revision)
            .map_err(status_of)?;
        Ok(Response::new(pb::ExportReportResponse {
            envelope: Some((&entry.envelope).into()),
            report_id: entry.report_id.0.to_vec(),
            revision: entry.revision,
        }))
    }

    async fn get_status(
        &self,
        request: Request<pb::GetStatusRequest>,
    ) -> Answer<pb::GetStatusResponse> {
        let request = request.into_inner();
        let org = if request.org_id.is_empty() {
            None
        } else {
            Some(self.org(&request.org_id)?)
        };
        let status = self.node.status(org.as_ref()).map_err(status_of)?;
        Ok(Response::new(status_response(
            &status,
            &self.node.hub_key(),
        )))
    }

    async fn rotate_key(
        &self,
        request: Request<pb::NodeAdminServiceRotateKeyRequest>,
    ) -> Answer<pb::NodeAdminServiceRotateKeyResponse> {
        let org = self.org(&request.into_inner().org_id)?;
        let rotated = self.node.rotate_key(&org).await.map_err(status_of)?;
        Ok(Response::new(pb::NodeAdminServiceRotateKeyResponse {
            old_key_id: rotated.old_key_id,
            new_key_id: rotated.new_key_id,
            grace_until_unix_seconds: rotated.grace_until_unix_seconds,
            resigned: rotated.resigned,
        }))
    }

    async fn add_hosted_organisation(
        &self,
        request: Request<pb::AddHostedOrganisationRequest>,
    ) -> Answer<pb::AddHostedOrganisationResponse> {
        let hosted = self
            .node
            .add_hosted(&request.into_inner().join_code)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::AddHostedOrganisationResponse {
            org_id: hosted.org.to_string(),
            key_id: hosted.key_id,
        }))
    }
}

/// The wire form of the node's status. Receipts were verified when they were stored; they are
/// opened again here only to be shown.
fn status_response(status: &NodeStatus, hub_key: &[u8; 32]) -> pb::GetStatusResponse {
    pb::GetStatusResponse {
        organisations: status
            .orgs
            .iter()
            .map(|org| pb::OrganisationStatus {
                org_id: org.org.to_string(),
                key_id: org.key_id.clone(),
                reports: org
                    .reports
                    .iter()
                    .map(|e| report_status(e, hub_key))
                    .collect(),
            })
            .collect(),
        upstream: status.upstream.clone(),
        last_error: status.link.last_error.clone().unwrap_or_default(),
        last_error_at_unix_seconds: status.link.last_error_at.map(|t| t.0),
        last_contact_at_unix_seconds: status.link.last_contact_at.map(|t| t.0),
        relayed: status.relayed.map(|r| pb::RelayedSummary {
            pending: r.pending,
            decided: r.decided,
            set_aside: r.set_aside,
        }),
    }
}

fn report_status(entry: &ReportEntry, hub_key: &[u8; 32]) -> pb::ReportStatus {
    let receipt = entry
        .receipt
        .as_ref()
        .and_then(|envelope| open_receipt(envelope, hub_key, entry.report_id).ok())
        .map(|receipt| pb::Receipt::from(&receipt));
    let custody_receipt = entry.custody_receipt.as_ref().and_then(|envelope| {
        alliance_proto::decode_custody_receipt(&envelope.payload)
            .ok()
            .map(|c| pb::CustodyReceipt::from(&c))
    });
    pb::ReportStatus {
        report_id: entry.report_id.0.to_vec(),
        period: entry.period.to_string(),
        revision: entry.revision,
        withdrawn: entry.withdrawn,
        state: match entry.state {
            DeliveryState::Pending => pb::DeliveryState::Pending,
            DeliveryState::HeldByRelay => pb::DeliveryState::HeldByRelay,
            DeliveryState::Decided => pb::DeliveryState::Decided,
            DeliveryState::SetAside => pb::DeliveryState::SetAside,
        } as i32,
        queued_at_unix_seconds: entry.queued_at.0,
        attempts: entry.attempts,
        custody_receipt,
        receipt,
        refusal: entry.refusal.as_ref().map(|r| pb::Refusal {
            reason: pb::RefusalReason::from_str_name(&r.reason)
                .unwrap_or(pb::RefusalReason::Unspecified) as i32,
            message: r.message.clone(),
            refused_at_unix_seconds: 0,
        }),
    }
}

fn period(text: &str) -> Result<Period, Status> {
    text.parse()
        .map_err(|e| Status::invalid_argument(format!("period: {e}")))
}

fn optional_period(text: &str) -> Result<Option<Period>, Status> {
    if text.is_empty() {
        Ok(None)
    } else {
        period(text).map(Some)
    }
}
