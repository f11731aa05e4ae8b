//! An upstream that answers with a forged hub receipt (DESIGN.md §1, §6: hub receipts are
//! signed by the hub's key, which every node pins, so a relay cannot fake them).
//!
//! The fake upstream runs in the test process: a `HubService` over TLS that presents the hub's
//! own server certificate (so it chains to the CA the node pinned, as a relay or a thief of the
//! hub's TLS key could), passes every hub-signed call through to the real hub, and answers
//! `Submit` with a well-formed `HubReceipt` for the right report, signed by a key that is not
//! the hub's. The node, enrolled with the real hub and then pointed at the fake, must keep the
//! report pending, show that the receipt is not signed by the pinned hub key, and mark nothing
//! decided; pointed back at the hub, it delivers the report once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alliance_core::{Outcome, OutcomeKind, Receipt, ReportId};
use alliance_envelope::{Envelope, SigningKey, payload_type, sign};
use alliance_proto::pb;
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::pb::hub_service_server::{HubService, HubServiceServer};
use alliance_tests::node::{DELIVERY_TIMEOUT, report_in};
use alliance_tests::relay::unhex;
use alliance_tests::{HubProcess, NodeProcess, now};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

/// A `HubService` that forges the receipts of submissions and passes the rest to the hub.
#[derive(Clone)]
struct ForgingUpstream {
    hub: Channel,
    forger: SigningKey,
    forged: Arc<AtomicU64>,
}

type Answer<T> = Result<Response<T>, Status>;

impl ForgingUpstream {
    fn hub(&self) -> HubServiceClient<Channel> {
        HubServiceClient::new(self.hub.clone())
    }

    /// A receipt for `envelope` saying accepted, as the hub would write it, signed by the forger.
    fn forge(&self, envelope: &Envelope) -> Result<Envelope, Status> {
        let report = alliance_proto::decode_report(&envelope.payload)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let id = ReportId(alliance_envelope::report_id(envelope));
        let receipt = Receipt {
            report_id: id,
            org: report.org,
            period: report.period,
            revision: report.revision,
            outcome: Outcome {
                kind: OutcomeKind::Accepted,
                winning_revision: report.revision,
                winning_report_id: id,
            },
            issued_at: now(),
            first_received_at: now(),
        };
        Ok(sign(
            &self.forger,
            payload_type::RECEIPT,
            alliance_proto::encode_receipt(&receipt),
        ))
    }
}

#[tonic::async_trait]
impl HubService for ForgingUpstream {
    async fn enroll(&self, request: Request<pb::EnrollRequest>) -> Answer<pb::EnrollResponse> {
        self.hub().enroll(request.into_inner()).await
    }

    async fn enroll_relay(
        &self,
        request: Request<pb::EnrollRelayRequest>,
    ) -> Answer<pb::EnrollRelayResponse> {
        self.hub().enroll_relay(request.into_inner()).await
    }

    async fn submit(&self, request: Request<pb::SubmitRequest>) -> Answer<pb::SubmitResponse> {
        let envelope: Envelope = request
            .into_inner()
            .envelope
            .ok_or_else(|| Status::invalid_argument("no envelope"))?
            .into();
        let forged = self.forge(&envelope)?;
        self.forged.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(pb::SubmitResponse {
            receipt: Some(pb::submit_response::Receipt::HubReceipt((&forged).into())),
        }))
    }

    async fn submit_batch(
        &self,
        _request: Request<pb::SubmitBatchRequest>,
    ) -> Answer<pb::SubmitBatchResponse> {
        Err(Status::unimplemented(
            "the fake takes one envelope at a time",
        ))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Answer<pb::GetReceiptResponse> {
        self.hub().get_receipt(request.into_inner()).await
    }

    async fn get_winning_revision(
        &self,
        request: Request<pb::GetWinningRevisionRequest>,
    ) -> Answer<pb::GetWinningRevisionResponse> {
        self.hub().get_winning_revision(request.into_inner()).await
    }

    async fn get_framework(
        &self,
        request: Request<pb::GetFrameworkRequest>,
    ) -> Answer<pb::GetFrameworkResponse> {
        self.hub().get_framework(request.into_inner()).await
    }

    async fn get_registry(
        &self,
        request: Request<pb::GetRegistryRequest>,
    ) -> Answer<pb::GetRegistryResponse> {
        self.hub().get_registry(request.into_inner()).await
    }

    async fn rotate_key(
        &self,
        request: Request<pb::RotateKeyRequest>,
    ) -> Answer<pb::RotateKeyResponse> {
        self.hub().rotate_key(request.into_inner()).await
    }
}

/// Serves `service` over TLS on a free loopback port with the hub's own server certificate,
/// which chains to the CA the node pinned. Returns the address.
async fn serve_fake(hub: &HubProcess, service: ForgingUpstream) -> String {
    let tls = hub.data_dir().join("tls");
    let identity = alliance_daemon::tls::load_server_identity(
        &tls.join("server.pem"),
        &tls.join("server.key"),
        &tls.join("ca.pem"),
    )
    .expect("the hub's TLS files");
    let config = alliance_daemon::tls::server_config(&identity).expect("a server config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("an address").to_string();
    tokio::spawn(async move {
        let _ = Server::builder()
            .add_service(HubServiceServer::new(service))
            .serve_with_incoming(alliance_daemon::serve::tls_incoming(listener, config))
            .await;
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_not_signed_by_the_pinned_hub_key_is_refused_by_the_node() {
    let hub = HubProcess::start().await;
    let forger = SigningKey::generate();
    assert_ne!(forger.public_key(), hub.hub_key());
    let forged = Arc::new(AtomicU64::new(0));
    let fake = ForgingUpstream {
        hub: hub.channel().await,
        forger,
        forged: forged.clone(),
    };
    let fake_address = serve_fake(&hub, fake).await;

    // Enrolled with the real hub, then pointed at the fake.
    let (mut node, _) = NodeProcess::enrolled(&hub, "ke-cotu");
    node.set_config("", "upstream", fake_address.as_str());
    node.serve().await;
    node.add_activities("2009-03-01", 12);
    let (_, report_id) = node.submit("2009");

    let status = node
        .wait_for(
            |s| {
                s["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("not signed by the pinned hub key"))
                    && report_in(s, &report_id)["attempts"].as_u64() >= Some(2)
            },
            DELIVERY_TIMEOUT,
        )
        .await;
    assert!(
        forged.load(Ordering::SeqCst) >= 2,
        "the fake was not asked twice"
    );
    let report = report_in(&status, &report_id);
    assert_eq!(report["state"], "pending", "{status:#}");
    assert!(
        report["receipt"].is_null(),
        "a forged receipt was kept: {report:#}"
    );
    assert_eq!(status["organisations"][0]["decided"], 0, "{status:#}");
    assert!(
        hub.get_receipt(unhex(&report_id)).await.is_err(),
        "the fake forwarded the report"
    );
    assert!(
        hub.view_json("2009", "org")["rows"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "the hub shows something"
    );

    // Stopped and restarted, the node still holds it pending: nothing forged was stored.
    node.stop().await;
    let status = node.status_json();
    let report = report_in(&status, &report_id);
    assert_eq!(report["state"], "pending", "{status:#}");
    assert!(report["receipt"].is_null(), "{report:#}");

    // Pointed back at the real hub, the node delivers it once.
    node.set_config("", "upstream", hub.addr().as_str());
    node.serve().await;
    let status = node.wait_decided(&report_id).await;
    assert_eq!(
        report_in(&status, &report_id)["receipt"]["outcome"],
        "accepted",
        "{status:#}"
    );
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));
    node.stop().await;
}
