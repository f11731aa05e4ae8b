//! `HubAdminService`: the operator's calls, on the admin socket (or in-process from the CLI).

use std::sync::Arc;

use alliance_core::org::{OrgKind, Organisation};
use alliance_core::timestamp::Timestamp;
use alliance_envelope::Envelope;
use alliance_proto::RelayInfo;
use alliance_proto::pb::{self, hub_admin_service_server::HubAdminService};
use alliance_store::{AuditKind, AuditRecord};
use tonic::{Request, Response, Status};

use super::actor;
use super::status::{status_of, wire_refusal};
use crate::hub::{AuditQuery, Hub, IssuedCode};

/// The operator's service.
#[derive(Debug, Clone)]
pub struct AdminService {
    hub: Arc<Hub>,
}

/// Who the audit log names when the CLI calls the service in-process (the daemon is stopped
/// and the CLI opened the database itself). Insert it into the request's extensions.
#[derive(Debug, Clone)]
pub struct LocalActor(pub String);

impl AdminService {
    pub fn new(hub: Arc<Hub>) -> Self {
        AdminService { hub }
    }
}

#[tonic::async_trait]
impl HubAdminService for AdminService {
    async fn add_organisation(
        &self,
        request: Request<pb::AddOrganisationRequest>,
    ) -> Result<Response<pb::AddOrganisationResponse>, Status> {
        let actor = actor(&request);
        let Some(mut wire) = request.into_inner().organisation else {
            return Err(Status::invalid_argument(
                "the request carries no organisation",
            ));
        };
        // GUFs are global by definition, so the operator need not say so.
        if wire.kind == pb::OrgKind::Guf as i32 && wire.region == pb::Region::Unspecified as i32 {
            wire.region = pb::Region::Global as i32;
        }
        wire.keys.clear();
        wire.relay = None;
        let org = Organisation::try_from(wire)
            .map_err(|e| Status::invalid_argument(format!("the organisation: {e}")))?;
        let (org, code) = self.hub.add_org(org, &actor).await.map_err(status_of)?;
        Ok(Response::new(pb::AddOrganisationResponse {
            organisation: Some(wire_org(&org, None)),
            join_code: Some(wire_code(&code)),
        }))
    }

    async fn import_organisations(
        &self,
        request: Request<pb::ImportOrganisationsRequest>,
    ) -> Result<Response<pb::ImportOrganisationsResponse>, Status> {
        let actor = actor(&request);
        let csv = request.into_inner().csv;
        let imported = self
            .hub
            .import_orgs(&csv, &actor)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::ImportOrganisationsResponse {
            organisations: imported
                .iter()
                .map(|(org, code)| pb::RegisteredOrganisation {
                    organisation: Some(wire_org(org, None)),
                    join_code: Some(wire_code(code)),
                })
                .collect(),
        }))
    }

    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        let include = request.into_inner().include_deactivated;
        Ok(Response::new(pb::ListOrganisationsResponse {
            organisations: self
                .hub
                .orgs(include)
                .iter()
                .map(|(org, relay)| wire_org(org, relay.as_ref()))
                .collect(),
        }))
    }

    async fn get_organisation(
        &self,
        request: Request<pb::GetOrganisationRequest>,
    ) -> Result<Response<pb::GetOrganisationResponse>, Status> {
        let id = request.into_inner().org_id;
        let (org, relay, codes) = self.hub.org(&id).map_err(status_of)?;
        Ok(Response::new(pb::GetOrganisationResponse {
            organisation: Some(wire_org(&org, relay.as_ref())),
            open_join_codes: codes.iter().map(wire_code).collect(),
        }))
    }

    async fn reissue_join_code(
        &self,
        request: Request<pb::ReissueJoinCodeRequest>,
    ) -> Result<Response<pb::ReissueJoinCodeResponse>, Status> {
        let actor = actor(&request);
        let id = request.into_inner().org_id;
        let code = self.hub.reissue(&id, &actor).await.map_err(status_of)?;
        Ok(Response::new(pb::ReissueJoinCodeResponse {
            join_code: Some(wire_code(&code)),
        }))
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::RevokeKeyResponse>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        let key = self
            .hub
            .revoke_key(&request.org_id, &request.key_id, &request.reason, &actor)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::RevokeKeyResponse {
            key: Some((&key).into()),
        }))
    }

    async fn deactivate_organisation(
        &self,
        request: Request<pb::DeactivateOrganisationRequest>,
    ) -> Result<Response<pb::DeactivateOrganisationResponse>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        let org = self
            .hub
            .deactivate(&request.org_id, &request.reason, &actor)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::DeactivateOrganisationResponse {
            organisation: Some(wire_org(&org, None)),
        }))
    }

    async fn set_deadline(
        &self,
        request: Request<pb::SetDeadlineRequest>,
    ) -> Result<Response<pb::SetDeadlineResponse>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        let period = request
            .period
            .parse()
            .map_err(|e| Status::invalid_argument(format!("period: {e}")))?;
        let (at, previous) = self
            .hub
            .set_deadline(period, Timestamp(request.deadline_unix_seconds), &actor)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::SetDeadlineResponse {
            period: request.period,
            deadline_unix_seconds: at.0,
            previous_deadline_unix_seconds: previous.0,
        }))
    }

    async fn import_envelopes(
        &self,
        request: Request<pb::ImportEnvelopesRequest>,
    ) -> Result<Response<pb::ImportEnvelopesResponse>, Status> {
        let actor = actor(&request);
        let envelopes: Vec<Envelope> = request
            .into_inner()
            .envelopes
            .into_iter()
            .map(Envelope::from)
            .collect();
        let results = self
            .hub
            .import_envelopes(envelopes, &actor)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::ImportEnvelopesResponse {
            results: results
                .iter()
                .enumerate()
                .map(|(index, result)| pb::ImportedEnvelope {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    answer: Some(match result {
                        Ok(receipt) => pb::imported_envelope::Answer::Receipt(receipt.into()),
                        Err(refused) => {
                            pb::imported_envelope::Answer::Refusal(wire_refusal(refused))
                        }
                    }),
                })
                .collect(),
        }))
    }

    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let request = request.into_inner();
        let kind = match pb::AuditKind::try_from(request.kind) {
            Ok(pb::AuditKind::AdminAction) => Some(AuditKind::Admin),
            Ok(pb::AuditKind::Refusal) => Some(AuditKind::Refusal),
            Ok(pb::AuditKind::Unspecified) => None,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "kind: {} is not an audit kind",
                    request.kind
                )));
            }
        };
        let query = AuditQuery {
            limit: usize::try_from(request.limit).unwrap_or(usize::MAX),
            kind,
        };
        let (records, total) = self.hub.audit(query).map_err(status_of)?;
        Ok(Response::new(pb::ListAuditResponse {
            entries: records.iter().map(wire_audit).collect(),
            refusals_total: total,
        }))
    }
}

/// An organisation on the wire, with its relay details when it runs a relay.
fn wire_org(org: &Organisation, relay: Option<&RelayInfo>) -> pb::Organisation {
    let mut wire = pb::Organisation::from(org);
    wire.relay = relay.map(Into::into);
    if org.kind == OrgKind::Guf {
        wire.country.clear();
    }
    wire
}

fn wire_code(code: &IssuedCode) -> pb::IssuedJoinCode {
    pb::IssuedJoinCode {
        org_id: code.org.to_string(),
        join_code: code.code.clone(),
        expires_at_unix_seconds: code.expires_at.0,
    }
}

fn wire_audit(record: &AuditRecord) -> pb::AuditEntry {
    let reason = record
        .reason
        .as_deref()
        .and_then(|r| pb::RefusalReason::from_str_name(&format!("REFUSAL_REASON_{r}")))
        .unwrap_or(pb::RefusalReason::Unspecified);
    pb::AuditEntry {
        sequence: record.sequence,
        at_unix_seconds: record.at.0,
        kind: match record.kind {
            AuditKind::Admin => pb::AuditKind::AdminAction,
            AuditKind::Refusal => pb::AuditKind::Refusal,
        } as i32,
        actor: record.actor.clone(),
        action: record.action.clone(),
        org_id: record.org.clone().unwrap_or_default(),
        reason: reason as i32,
        detail: record.detail.clone(),
    }
}
