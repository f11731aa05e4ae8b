//! Relay mode in the end-to-end tests (DESIGN.md §1, §6): a regional organisation's node enrolled
//! with `init --relay` on a free loopback port, affiliates registered `--via` it and enrolled
//! through its address, a `HubService` client that pins the relay's CA, and the keys and exported
//! envelopes the tests read from the nodes' data directories.
//!
//! A report behind a relay goes affiliate → relay (custody receipt) → hub, and the affiliate
//! looks its held reports up every 10 s, so the waits here are longer than a direct delivery's.

use std::path::Path;
use std::time::Duration;

use alliance_envelope::{Envelope, SigningKey};
use alliance_proto::pb::hub_service_client::HubServiceClient;
use serde_json::Value;
use tonic::transport::Channel;

use crate::{Binary, HubProcess, NodeProcess, join_code_in, read_ca, tls_channel};

/// The relay's organisation id in these tests.
pub const RELAY_ORG: &str = "ituc-africa";

/// Time for a report to go affiliate → relay → hub and for the affiliate to learn the hub's
/// answer (it looks a held report up every 10 s), with room for a backoff or two.
pub const RELAYED_DELIVERY: Duration = Duration::from_secs(45);

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("could not bind a loopback port: {e}"))
}

/// Registers [`RELAY_ORG`] at `hub` and enrolls a node for it with `init --relay` on a free
/// loopback port, with a quick outbox; does not serve it. Returns the node and its address.
pub fn init_relay(hub: &HubProcess) -> (NodeProcess, String) {
    init_relay_of(hub, RELAY_ORG, "KE", "africa")
}

/// [`init_relay`] for the regional organisation `org` of `country` and `region`.
pub fn init_relay_of(
    hub: &HubProcess,
    org: &str,
    country: &str,
    region: &str,
) -> (NodeProcess, String) {
    let code = hub.add_org(org, "regional_organisation", country, region);
    let relay = NodeProcess::new();
    let address = format!("127.0.0.1:{}", free_port());
    let run = Binary::Node.run([
        "init".as_ref(),
        "--data".as_ref(),
        relay.data_dir().as_os_str(),
        "--join".as_ref(),
        code.to_string().as_ref(),
        "--relay".as_ref(),
        "--listen".as_ref(),
        address.as_ref(),
        "--public-addr".as_ref(),
        address.as_ref(),
        "--json".as_ref(),
    ]);
    assert!(run.success(), "init --relay of {org} failed: {run:?}");
    let summary: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("init --relay --json did not print JSON ({e}): {run:?}"));
    assert_eq!(summary["relay"]["public_address"], address, "{summary:#}");
    relay.set_config("outbox", "min_backoff_ms", 100);
    relay.set_config("outbox", "max_backoff_seconds", 1);
    relay.set_config("outbox", "request_timeout_seconds", 5);
    (relay, address)
}

/// [`init_relay`], then serves the relay.
pub async fn start_relay(hub: &HubProcess) -> (NodeProcess, String) {
    let (mut relay, address) = init_relay(hub);
    relay.serve().await;
    (relay, address)
}

/// Registers `org` (a national centre of `country`, in Africa) `--via` [`RELAY_ORG`], and
/// enrolls a new node for it through the relay at `address` (which must be serving). The node
/// is not served.
pub fn affiliate_via(hub: &HubProcess, org: &str, country: &str, address: &str) -> NodeProcess {
    affiliate_of(hub, org, country, "africa", RELAY_ORG, address)
}

/// Registers `org` (a national centre of `country`, in `region`) `--via` the relay `relay_org`
/// and enrolls a new node for it through the relay at `address` (which must be serving). The
/// node is not served.
pub fn affiliate_of(
    hub: &HubProcess,
    org: &str,
    country: &str,
    region: &str,
    relay_org: &str,
    address: &str,
) -> NodeProcess {
    let name = format!("Affiliate {org}");
    let run = hub.cli_ok([
        "org",
        "add",
        "--id",
        org,
        "--name",
        &name,
        "--kind",
        "national_centre",
        "--country",
        country,
        "--region",
        region,
        "--via",
        relay_org,
    ]);
    let code = join_code_in(&run.stdout)
        .unwrap_or_else(|| panic!("org add --via printed no join code: {run:?}"));
    assert_eq!(code.upstream, address, "the join code names the relay");
    let affiliate = NodeProcess::new();
    affiliate.init_ok(&code.to_string());
    affiliate
}

/// A `HubService` client of the relay at `address`, pinning the relay's CA.
pub async fn relay_client(relay: &NodeProcess, address: &str) -> HubServiceClient<Channel> {
    let channel = tls_channel(address, &read_ca(&relay.data_dir().join("tls/ca.pem")))
        .await
        .unwrap_or_else(|e| panic!("could not connect over TLS to the relay at {address}: {e}"));
    HubServiceClient::new(channel)
}

/// The signing key `key_id` of `node`, read from `DIR/keys/KEY_ID.key`.
pub fn node_key(node: &NodeProcess, key_id: &str) -> SigningKey {
    let path = node.data_dir().join("keys").join(format!("{key_id}.key"));
    let seed = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("could not read the key {}: {e}", path.display()));
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("{} holds {} bytes, not a seed", path.display(), seed.len()));
    SigningKey::from_seed(&seed)
}

/// The only signing key of `node` (panics if it holds none or several).
pub fn only_key(node: &NodeProcess) -> SigningKey {
    let keys = node.key_files();
    assert_eq!(keys.len(), 1, "expected one key file: {keys:?}");
    node_key(node, &keys[0])
}

/// `report export --period P --output FILE` of `node` (for `--org ORG` when given), read back.
pub fn export_envelope(node: &NodeProcess, org: Option<&str>, period: &str) -> (Envelope, String) {
    let file = node
        .scratch_dir()
        .join(format!("{}-{period}.json", org.unwrap_or("own")));
    let file_text = file.to_str().expect("a UTF-8 path").to_owned();
    let mut args = vec![
        "report", "export", "--period", period, "--output", &file_text,
    ];
    if let Some(org) = org {
        args.extend(["--org", org]);
    }
    node.cli_ok(&args);
    (read_envelope(&file), file_text)
}

/// A JSON envelope file, as `report export` writes it.
pub fn read_envelope(path: &Path) -> Envelope {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()));
    Envelope::from_json(&text)
        .unwrap_or_else(|e| panic!("{} is not a JSON envelope ({e}):\n{text}", path.display()))
}

/// A report id from its lowercase hex.
pub fn unhex(text: &str) -> [u8; 32] {
    assert_eq!(text.len(), 64, "{text:?} is not a report id");
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16)
                .unwrap_or_else(|e| panic!("{text:?} is not hex: {e}"))
        })
        .collect();
    bytes.try_into().expect("32 bytes")
}
