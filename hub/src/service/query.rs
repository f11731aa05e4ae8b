//! `QueryService`: the merged view, coverage and exports, on the admin socket.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use alliance_core::merge::{GroupBy, Query};
use alliance_core::period::{Period, PeriodSpan};
use alliance_core::timestamp::Timestamp;
use alliance_proto::pb::{self, query_service_server::QueryService as QueryApi};
use futures::Stream;
use tonic::{Request, Response, Status};

use super::status::status_of;
use crate::export::{ExportFormat, export};
use crate::hub::Hub;

/// The size of the chunks an export is streamed in.
const EXPORT_CHUNK_BYTES: usize = 64 * 1024;

/// How many views the cache keeps; when full it starts again empty.
const VIEW_CACHE_ENTRIES: usize = 64;

/// The read-only query service.
#[derive(Debug, Clone)]
pub struct QueryService {
    hub: Arc<Hub>,
    /// Views already answered, with the hub's view generation they were computed at. A view
    /// is a function of the ledger, so it is answered again from here until the ledger moves;
    /// the operator's dashboards ask the same questions over and over between reports.
    cache: Arc<Mutex<BTreeMap<ViewKey, (u64, pb::ViewResponse)>>>,
}

/// What a view depends on besides the ledger: the span as asked, the grouping and the action
/// point.
type ViewKey = (String, GroupBy, Option<String>);

impl QueryService {
    pub fn new(hub: Arc<Hub>) -> Self {
        QueryService {
            hub,
            cache: Arc::default(),
        }
    }

    /// The view a request asks for, on the wire: from the cache if the ledger has not moved
    /// since it was computed, else computed (and kept).
    fn view_of(
        &self,
        period: &str,
        group_by: GroupBy,
        action_point: Option<String>,
    ) -> Result<pb::ViewResponse, Status> {
        let key = (period.to_owned(), group_by, action_point);
        // Read before computing: a view computed while the ledger moves is kept under the older
        // generation, so the next question computes it again rather than trusting it.
        let generation = self.hub.view_generation();
        if let Some((_, view)) = self.cache().get(&key).filter(|(at, _)| *at == generation) {
            return Ok(view.clone());
        }
        let view = self.compute_view(&key.0, key.1, key.2.clone())?;
        let mut cache = self.cache();
        if cache.len() >= VIEW_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, (generation, view.clone()));
        Ok(view)
    }

    fn cache(&self) -> MutexGuard<'_, BTreeMap<ViewKey, (u64, pb::ViewResponse)>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The view a request asks for, computed from the hub's kept totals.
    fn compute_view(
        &self,
        period: &str,
        group_by: GroupBy,
        action_point: Option<String>,
    ) -> Result<pb::ViewResponse, Status> {
        let span: PeriodSpan = period
            .parse()
            .map_err(|e| Status::invalid_argument(format!("period: {e}")))?;
        let mut query = Query::new(span, group_by);
        if let Some(action_point) = action_point {
            if !self.hub.knows_action_point(&action_point) {
                return Err(Status::invalid_argument(format!(
                    "action_point: {action_point:?} is not an action point of the framework"
                )));
            }
            query = query.action_point(action_point);
        }
        let view = self.hub.view(&query).map_err(status_of)?;
        Ok(alliance_proto::view_response(&view))
    }
}

type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportResponse, Status>> + Send>>;

#[tonic::async_trait]
impl QueryApi for QueryService {
    async fn view(
        &self,
        request: Request<pb::ViewRequest>,
    ) -> Result<Response<pb::ViewResponse>, Status> {
        let request = request.into_inner();
        let group_by = alliance_proto::group_by_from_wire(request.group_by)
            .map_err(|e| Status::invalid_argument(format!("group_by: {e}")))?;
        self.view_of(&request.period, group_by, request.action_point)
            .map(Response::new)
    }

    async fn coverage(
        &self,
        request: Request<pb::CoverageRequest>,
    ) -> Result<Response<pb::CoverageResponse>, Status> {
        let request = request.into_inner();
        let period: Period = request
            .period
            .parse()
            .map_err(|e| Status::invalid_argument(format!("period: {e}")))?;
        let (coverage, registry) = self
            .hub
            .coverage(period, request.deadline_unix_seconds.map(Timestamp))
            .map_err(status_of)?;
        Ok(Response::new(alliance_proto::coverage_response(
            &coverage, &registry,
        )))
    }

    type ExportStream = ExportStream;

    /// The view of a period by country (the grouping statistical tools expect, as REF_AREA),
    /// in the format asked for, in chunks.
    async fn export(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let request = request.into_inner();
        let format = match pb::ExportFormat::try_from(request.format) {
            Ok(pb::ExportFormat::Csv) => ExportFormat::Csv,
            Ok(pb::ExportFormat::Json) => ExportFormat::Json,
            Ok(pb::ExportFormat::SdmxCsv) => ExportFormat::SdmxCsv,
            _ => {
                return Err(Status::invalid_argument(
                    "format: one of csv, json or sdmx-csv is needed",
                ));
            }
        };
        let view = self.view_of(&request.period, GroupBy::Country, None)?;
        let bytes = export(&view, format)
            .map_err(|e| Status::internal(format!("exporting the view: {e}")))?;
        let chunks: Vec<Result<pb::ExportResponse, Status>> = bytes
            .chunks(EXPORT_CHUNK_BYTES)
            .map(|chunk| {
                Ok(pb::ExportResponse {
                    chunk: chunk.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}
