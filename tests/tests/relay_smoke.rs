//! Relay mode end to end (DESIGN.md §1, §6): a regional organisation's node enrolls as a relay;
//! an affiliate registered `--via` it enrolls through the relay's address with its join code and
//! submits; the relay answers with its custody receipt, forwards the envelope unchanged, and
//! hands the hub's receipt back. The relay refuses envelopes of organisations that do not report
//! through it before storing anything.

use std::time::Duration;

use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::pb::{self, RefusalReason};
use alliance_tests::node::report_in;
use alliance_tests::{
    HubProcess, NodeProcess, ReportBuilder, assert_refusal, join_code_in, read_ca, sign_report,
    tls_channel,
};
use tonic::Code;
use tonic::transport::Channel;

/// Time for a report to go affiliate → relay → hub and the answer back (the affiliate looks a
/// held report up every 10 s).
const RELAYED_DELIVERY: Duration = Duration::from_secs(45);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A relay for `ituc-africa`, enrolled with `init --relay` on a free local port and serving;
/// returns it with its address.
async fn start_relay(hub: &HubProcess) -> (NodeProcess, String) {
    // The relay: a regional organisation's node, enrolled with `init --relay`.
    let relay_code = hub.add_org("ituc-africa", "regional_organisation", "KE", "africa");
    let mut relay = NodeProcess::new();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let run = alliance_tests::Binary::Node.run([
        "init".as_ref(),
        "--data".as_ref(),
        relay.data_dir().as_os_str(),
        "--join".as_ref(),
        relay_code.to_string().as_ref(),
        "--relay".as_ref(),
        "--listen".as_ref(),
        address.as_ref(),
        "--public-addr".as_ref(),
        address.as_ref(),
        "--json".as_ref(),
    ]);
    assert!(run.success(), "init --relay failed: {run:?}");
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("init --json");
    assert_eq!(summary["relay"]["public_address"], address, "{summary:#}");
    // A relay holds every report it relays, so `init --relay` gives it a larger cache than a
    // node's default.
    let written = std::fs::read_to_string(relay.data_dir().join("node.toml")).expect("node.toml");
    let config: toml::Value = toml::from_str(&written).expect("node.toml parses");
    let relay_cache = alliance_node::config::StoreSettings::relay().cache_capacity_bytes;
    assert!(relay_cache > alliance_node::config::StoreSettings::default().cache_capacity_bytes);
    assert_eq!(
        config["store"]["cache_capacity_bytes"].as_integer(),
        i64::try_from(relay_cache).ok(),
        "{written}"
    );
    relay.set_config("outbox", "min_backoff_ms", 100);
    relay.set_config("outbox", "max_backoff_seconds", 1);
    relay.serve().await;
    (relay, address)
}

/// Registers `ke-cotu` via the relay and enrolls its node through the relay's address.
fn enrolled_affiliate(hub: &HubProcess, address: &str) -> NodeProcess {
    let run = hub.cli_ok([
        "org",
        "add",
        "--id",
        "ke-cotu",
        "--name",
        "COTU Kenya",
        "--kind",
        "national_centre",
        "--country",
        "KE",
        "--region",
        "africa",
        "--via",
        "ituc-africa",
    ]);
    let code = join_code_in(&run.stdout).expect("org add printed a join code");
    assert_eq!(code.upstream, address, "the join code names the relay");
    let affiliate = NodeProcess::new();
    affiliate.init_ok(&code.to_string());
    affiliate
}

async fn relay_client(relay: &NodeProcess, address: &str) -> HubServiceClient<Channel> {
    let channel = tls_channel(address, &read_ca(&relay.data_dir().join("tls/ca.pem")))
        .await
        .expect("a TLS channel to the relay, pinning its CA");
    HubServiceClient::new(channel)
}

#[tokio::test]
async fn an_affiliate_reports_through_a_relay_and_gets_the_hubs_receipt() {
    let hub = HubProcess::start().await;
    let (mut relay, address) = start_relay(&hub).await;

    // The affiliate, registered via the relay: its join code points at the relay.
    let mut affiliate = enrolled_affiliate(&hub, &address);
    affiliate.serve().await;
    affiliate.add_activities("2009-03-01", 12);
    let (_, report_id) = affiliate.submit("2009");

    let status = affiliate
        .wait_for(
            |s| {
                let state = &report_in(s, &report_id)["state"];
                state == "held_by_relay" || state == "decided"
            },
            RELAYED_DELIVERY,
        )
        .await;
    let report = report_in(&status, &report_id);
    assert!(
        report["custody_receipt"]["relay"] == "ituc-africa" || report["state"] == "decided",
        "{report:#}"
    );

    let status = affiliate
        .wait_for(
            |s| report_in(s, &report_id)["state"] == "decided",
            RELAYED_DELIVERY,
        )
        .await;
    let report = report_in(&status, &report_id);
    assert_eq!(report["receipt"]["outcome"], "accepted", "{report:#}");
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));

    let relay_status = relay
        .wait_for(|s| s["relayed"]["decided"] == 1, RELAYED_DELIVERY)
        .await;
    assert_eq!(relay_status["relayed"]["pending"], 0, "{relay_status:#}");
    assert_eq!(relay_status["relayed"]["set_aside"], 0, "{relay_status:#}");

    // An organisation that reports to the hub directly gets nothing stored at the relay.
    let direct = hub.new_org("ug-nou").await;
    let envelope = sign_report(&ReportBuilder::new("ug-nou").build_valid(), &direct.key);
    let status = relay_client(&relay, &address)
        .await
        .submit(pb::SubmitRequest {
            envelope: Some((&envelope).into()),
            custody_receipt: None,
        })
        .await
        .expect_err("the relay refuses an organisation it does not relay for");
    assert_refusal(
        &status,
        Code::PermissionDenied,
        RefusalReason::NotRelayed,
        "ituc-africa",
    );
    let relay_status = relay.status_json();
    assert_eq!(relay_status["relayed"]["pending"], 0, "{relay_status:#}");
    assert_eq!(relay_status["relayed"]["decided"], 1, "{relay_status:#}");

    affiliate.stop().await;
    relay.stop().await;
}

#[tokio::test]
async fn a_hub_refusal_is_the_envelopes_outcome_and_the_queue_goes_on() {
    let hub = HubProcess::start().await;
    let (mut relay, address) = start_relay(&hub).await;
    let affiliate = enrolled_affiliate(&hub, &address);
    let key_id = affiliate
        .key_files()
        .pop()
        .expect("the affiliate's key file");
    let seed: [u8; 32] = std::fs::read(
        affiliate
            .data_dir()
            .join("keys")
            .join(format!("{key_id}.key")),
    )
    .expect("reading the affiliate's key")
    .try_into()
    .expect("a 32-byte key");
    let key = alliance_envelope::SigningKey::from_seed(&seed);

    // Authentic, so the relay takes it, but of a framework version the hub does not know.
    let refused = sign_report(
        &ReportBuilder::new("ke-cotu").framework_version(99).build(),
        &key,
    );
    let accepted = sign_report(
        &ReportBuilder::new("ke-cotu").revision(2).build_valid(),
        &key,
    );
    let mut client = relay_client(&relay, &address).await;
    for envelope in [&refused, &accepted] {
        let answer = client
            .submit(pb::SubmitRequest {
                envelope: Some(envelope.into()),
                custody_receipt: None,
            })
            .await
            .expect("the relay takes an authentic envelope of its affiliate")
            .into_inner();
        assert!(
            matches!(
                answer.receipt,
                Some(pb::submit_response::Receipt::CustodyReceipt(_))
            ),
            "{answer:?}"
        );
    }

    let state_of = |envelope: &alliance_envelope::Envelope| {
        let id = alliance_envelope::report_id(envelope).to_vec();
        let mut client = client.clone();
        async move {
            client
                .get_receipt(pb::GetReceiptRequest { report_id: id })
                .await
                .expect("the relay answers a look-up of a report it holds")
                .into_inner()
                .state
        }
    };
    let started = std::time::Instant::now();
    loop {
        use pb::get_receipt_response::State;
        let first = state_of(&refused).await;
        let second = state_of(&accepted).await;
        if let (Some(State::Refused(refusal)), Some(State::Receipt(_))) = (&first, &second) {
            assert_eq!(
                refusal.reason(),
                RefusalReason::UnknownFrameworkVersion,
                "{refusal:?}"
            );
            break;
        }
        assert!(
            started.elapsed() < RELAYED_DELIVERY,
            "the relay did not get the hub's answers: {first:?} {second:?}\n{}",
            relay.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(hub.activities_total("2009", "org", "ke-cotu"), (12, 12));
    let status = relay.status_json();
    assert_eq!(status["relayed"]["set_aside"], 1, "{status:#}");
    assert_eq!(status["relayed"]["decided"], 1, "{status:#}");
    relay.stop().await;
}
