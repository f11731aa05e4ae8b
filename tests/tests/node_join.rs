//! Enrolling a node with `alliance-node init --join CODE` (DESIGN.md §6, BAD_INPUTS 19 and 21):
//! a malformed, expired, altered or reused code is refused, each saying which; an upstream whose
//! certificate comes from another CA gets nothing; and `init` run again with the same code after
//! the hub was down enrolls the key the first run made.

use alliance_tests::{HubProcess, NodeProcess};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A hub with `ke-cotu` registered; returns its join code's text.
async fn hub_with_code() -> (HubProcess, String) {
    let hub = HubProcess::start().await;
    let code = hub.add_org("ke-cotu", "national_centre", "KE", "africa");
    (hub, code.to_string())
}

fn assert_init_refused(node: &NodeProcess, code: &str, word: &str) {
    let run = node.init(code);
    assert!(!run.success(), "init succeeded with a bad code: {run:?}");
    assert!(
        run.stderr.to_lowercase().contains(word),
        "the error does not name the cause ({word:?}): {run:?}"
    );
    assert!(
        !node.data_dir().join("node.toml").exists(),
        "a refused init left a node.toml"
    );
}

#[tokio::test]
async fn a_malformed_code_is_refused_as_such_before_anything_is_created() {
    let node = NodeProcess::new();
    assert_init_refused(&node, "not-a-join-code", "alliance-join:");
    assert_init_refused(&node, "alliance-join:!!!not base64!!!", "base64");
    assert!(
        !node.data_dir().exists(),
        "a malformed code created the data directory"
    );
}

#[tokio::test]
async fn an_altered_code_is_refused_by_its_checksum() {
    let (hub, code) = hub_with_code().await;
    let raw = code
        .strip_prefix("alliance-join:")
        .expect("the code's prefix");
    let mut bytes = STANDARD.decode(raw).expect("the code is base64");
    // Change one character of the organisation id (line 2): ke-cotu → ke-coxu.
    let at = bytes
        .windows(7)
        .position(|w| w == b"ke-cotu")
        .expect("the org id is in the code");
    bytes[at + 5] = b'x';
    let altered = format!("alliance-join:{}", STANDARD.encode(&bytes));
    let node = NodeProcess::new();

    assert_init_refused(&node, &altered, "checksum");

    // Nothing reached the hub: the genuine code still enrolls.
    let fresh = NodeProcess::new();
    fresh.init_ok(&code);
    drop(hub);
}

#[tokio::test]
async fn an_expired_code_is_refused_as_expired() {
    let mut hub = HubProcess::init();
    hub.set_config("keys", "join_code_ttl_days", 0);
    hub.serve().await;
    let code = hub
        .add_org("ke-cotu", "national_centre", "KE", "africa")
        .to_string();
    let node = NodeProcess::new();

    assert_init_refused(&node, &code, "expired");
}

#[tokio::test]
async fn a_code_used_by_another_node_is_refused_saying_so() {
    let (hub, code) = hub_with_code().await;
    let first = NodeProcess::new();
    let summary = first.init_ok(&code);
    let second = NodeProcess::new();

    let run = second.init(&code);

    assert!(
        !run.success(),
        "a second key enrolled with one code: {run:?}"
    );
    let error = run.stderr.to_lowercase();
    assert!(
        error.contains("already used") || error.contains("another key"),
        "the error does not say the code was used: {run:?}"
    );
    assert!(!second.data_dir().join("node.toml").exists());
    // The hub refused it, counted it, and the first node's key stays the registered one.
    let audit = hub.audit_json();
    assert_eq!(audit["refusals_total"], 1, "{audit:#}");
    let show = hub.cli_json(&["org", "show", "ke-cotu"]);
    assert!(
        show.to_string()
            .contains(summary["key_id"].as_str().expect("key id")),
        "the first node's key is not registered: {show:#}"
    );
}

#[tokio::test]
async fn an_upstream_with_a_certificate_from_another_ca_is_sent_nothing() {
    let hub_a = HubProcess::start().await;
    let hub_b = HubProcess::start().await;
    let mut code = hub_a.add_org("ke-cotu", "national_centre", "KE", "africa");
    let genuine = code.to_string();
    code.upstream = hub_b.addr();
    let diverted = code.to_string();
    let node = NodeProcess::new();

    let run = node.init(&diverted);

    assert!(
        !run.success(),
        "init enrolled at a hub of another CA: {run:?}"
    );
    let error = run.stderr.to_lowercase();
    assert!(
        error.contains("nothing was sent") || error.contains("certificate"),
        "the error does not name the certificate: {run:?}"
    );
    assert!(!node.data_dir().join("node.toml").exists());
    let audit = hub_b.audit_json();
    assert_eq!(
        audit["refusals_total"], 0,
        "hub B heard an enrollment: {audit:#}"
    );
    // The token was not spent: hub A enrolls a node with it.
    let fresh = NodeProcess::new();
    let summary = fresh.init_ok(&genuine);
    assert_eq!(summary["org"], "ke-cotu");
}

#[tokio::test]
async fn init_run_again_after_the_hub_was_down_enrolls_the_key_of_the_first_run() {
    let mut hub = HubProcess::init();
    let code = hub
        .add_org("ke-cotu", "national_centre", "KE", "africa")
        .to_string();
    let node = NodeProcess::new();

    let run = node.init(&code);
    assert!(
        !run.success(),
        "init succeeded against a stopped hub: {run:?}"
    );
    assert!(
        run.stderr.contains(&hub.addr()),
        "the error does not name the upstream: {run:?}"
    );
    assert!(!node.data_dir().join("node.toml").exists());
    let keys = node.key_files();
    assert_eq!(keys.len(), 1, "the first run made one key: {keys:?}");

    hub.serve().await;
    let summary = node.init_ok(&code);

    assert_eq!(summary["key_id"], keys[0].as_str(), "{summary:#}");
    assert_eq!(node.key_files(), keys, "the second run made another key");
    let show = hub.cli_json(&["org", "show", "ke-cotu"]);
    assert!(
        show.to_string().contains(&keys[0]),
        "the hub did not register the first run's key: {show:#}"
    );
}
