//! `alliance-node init --join CODE`: enrollment (DESIGN.md §6).
//!
//! 1. The code is checked: its form, its checksum, its expiry.
//! 2. The key is made on the node and saved (mode 0600) before anything is sent; it is saved
//!    together with the join token in the database, so running `init` again after a crash
//!    enrolls the same key, which the hub accepts again.
//! 3. First contact: the upstream must present a CA certificate with the code's fingerprint,
//!    or nothing is sent. That CA is then the only root the node trusts.
//! 4. Enrollment with proof of possession. The hub's key in the answer must have the code's
//!    fingerprint, and the framework, registry and winning revisions must be signed by it, or
//!    nothing is kept.
//! 5. Everything is stored and flushed; `node.toml` is written last, so its presence means the
//!    node is ready.
//!
//! A relay (`init --relay --listen ADDR --public-addr HOST:PORT`) first generates its CA and
//! server certificate in `DIR/tls/` (kept if an earlier run left them), then enrolls with
//! `EnrollRelay`, binding its CA's fingerprint and public address into the proof of possession;
//! the hub registers both and puts them in the join codes of affiliates `--via` the relay.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use alliance_core::org::OrgId;
use alliance_daemon::{client, files, tls};
use alliance_envelope::{
    Envelope, JoinCode, SigningKey, fingerprint, fingerprint_bytes, payload_type, sign,
    verify_pinned,
};
use alliance_proto::pb;
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::{EnrollProof, RelayBinding, encode_enroll_proof};
use alliance_store::{NodeStore, OrgEntry, Setup};

use crate::config::{
    CONFIG_FILE, DB_DIR, NodeConfig, RELAY_CA_CERT, RELAY_CA_KEY, RELAY_SERVER_CERT,
    RELAY_SERVER_KEY, RELAY_TLS_DIR, RelaySettings, StoreSettings, resolve,
};
use crate::node::keys::{read_key, write_key};
use crate::node::{now, open_framework};
use crate::upstream::{UpstreamError, classify, open_winning_revision};

/// What `init` did, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct InitSummary {
    pub data_dir: PathBuf,
    pub org: String,
    pub key_id: String,
    pub upstream: String,
    pub hub_key_fingerprint: String,
    pub framework_version: u32,
    /// Periods the hub already holds reports of, with their winning revisions.
    pub winning_revisions: Vec<(String, u64)>,
    /// For a relay: where it listens and where affiliates reach it, and its CA's fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<RelaySummary>,
}

/// What `init --relay` set up.
#[derive(Debug, Clone, Serialize)]
pub struct RelaySummary {
    pub listen: String,
    pub public_address: String,
    /// The SHA-256 fingerprint of the relay's CA certificate, as affiliates' join codes carry it.
    pub ca_fingerprint: String,
}

/// What `init --relay` is given.
#[derive(Debug, Clone)]
pub struct RelayInit {
    /// Where the relay listens for affiliates.
    pub listen: String,
    /// Where affiliates reach it, `host:port`.
    pub public_address: String,
}

/// Enrolls the node in `data_dir` with the join code `code`.
pub async fn init(data_dir: &Path, code: &str) -> anyhow::Result<InitSummary> {
    init_with(data_dir, code, None).await
}

/// Enrolls the node in `data_dir` as a relay.
pub async fn init_relay(
    data_dir: &Path,
    code: &str,
    relay: &RelayInit,
) -> anyhow::Result<InitSummary> {
    init_with(data_dir, code, Some(relay)).await
}

async fn init_with(
    data_dir: &Path,
    code: &str,
    relay: Option<&RelayInit>,
) -> anyhow::Result<InitSummary> {
    tls::install_crypto_provider();
    let code: JoinCode = code.trim().parse().context("reading the join code")?;
    code.check_fresh(now().0)
        .context("checking the join code")?;
    let org: OrgId = code
        .org_id
        .parse()
        .context("reading the join code's organisation")?;
    if data_dir.join(CONFIG_FILE).exists() {
        bail!(
            "{} already holds an enrolled node (its {CONFIG_FILE} exists); use another directory",
            data_dir.display()
        );
    }

    let relay = relay.map(check_relay_args).transpose()?;

    let (store, key) = prepare(data_dir, &org, &code)?;
    let relay_identity = match &relay {
        Some(relay) => Some(relay_tls(data_dir, relay)?),
        None => None,
    };
    let enrollment = enroll(&code, &org, &key, relay_identity.as_ref()).await?;

    store.put_setup(&Setup {
        upstream: code.upstream.clone(),
        ca_der: enrollment.ca_der.clone(),
        hub_public_key: enrollment.hub_key,
        own_org: org.clone(),
        relay: relay.is_some(),
    })?;
    store.put_framework(&enrollment.framework)?;
    store.put_registry(&enrollment.registry)?;
    for (period, revision) in &enrollment.winning {
        store.note_hub_revision(&org, *period, *revision)?;
    }
    store.put_org(&OrgEntry {
        org: org.clone(),
        key_id: key.key_id().as_str().to_owned(),
        previous_key_ids: Vec::new(),
        enrolled_at: Some(now()),
        join_token: code.token.clone(),
        hosted: false,
    })?;
    store.flush().context("flushing the database")?;
    drop(store);
    let mut config = NodeConfig::new(code.upstream.clone());
    config.relay = relay
        .as_ref()
        .map(|r| RelaySettings::new(r.listen.clone(), r.public_address.clone()));
    if relay.is_some() {
        config.store = StoreSettings::relay();
    }
    let config = toml::to_string_pretty(&config).context("writing the configuration")?;
    files::write_private_file(&data_dir.join(CONFIG_FILE), config.as_bytes())
        .with_context(|| format!("writing {}", data_dir.join(CONFIG_FILE).display()))?;

    Ok(InitSummary {
        data_dir: data_dir.to_owned(),
        org: org.to_string(),
        key_id: key.key_id().as_str().to_owned(),
        upstream: code.upstream,
        hub_key_fingerprint: fingerprint(&enrollment.hub_key),
        framework_version: enrollment.framework_version,
        winning_revisions: enrollment
            .winning
            .iter()
            .map(|(p, r)| (p.to_string(), *r))
            .collect(),
        relay: relay.zip(relay_identity).map(|(r, identity)| RelaySummary {
            listen: r.listen,
            public_address: r.public_address,
            ca_fingerprint: hex::encode(identity.ca_fingerprint),
        }),
    })
}

/// A relay's TLS identity, as registered with the hub.
struct RelayIdentity {
    ca_der: Vec<u8>,
    ca_fingerprint: [u8; 32],
    public_address: String,
}

/// Checks `--listen` and `--public-addr` before anything is written.
fn check_relay_args(relay: &RelayInit) -> anyhow::Result<RelayInit> {
    let _: std::net::SocketAddr = relay.listen.parse().with_context(|| {
        format!(
            "--listen {:?} is not an address such as 0.0.0.0:7444",
            relay.listen
        )
    })?;
    let (_, port) = client::split_host_port(&relay.public_address)
        .with_context(|| format!("--public-addr {:?}", relay.public_address))?;
    if port == 0 {
        bail!(
            "--public-addr {:?}: port 0 cannot go into join codes; give the port affiliates connect to",
            relay.public_address
        );
    }
    Ok(relay.clone())
}

/// The relay's CA and server certificate in `DIR/tls/`: generated unless an earlier run of
/// `init` left them (so a retried enrollment registers the same CA), then loaded and checked.
fn relay_tls(data_dir: &Path, relay: &RelayInit) -> anyhow::Result<RelayIdentity> {
    let ca = data_dir.join(RELAY_CA_CERT);
    let cert = data_dir.join(RELAY_SERVER_CERT);
    let key = data_dir.join(RELAY_SERVER_KEY);
    if !(ca.exists() && cert.exists() && key.exists()) {
        let (host, _) = client::split_host_port(&relay.public_address)?;
        let mut hosts = vec![host.to_owned()];
        if let Ok(listen) = relay.listen.parse::<std::net::SocketAddr>() {
            let ip = listen.ip();
            if !ip.is_unspecified() && host.parse::<std::net::IpAddr>().ok() != Some(ip) {
                hosts.push(ip.to_string());
            }
        }
        let generated = tls::generate(&format!("alliance relay {host}"), &hosts)
            .context("generating the relay's CA and server certificate")?;
        let dir = data_dir.join(RELAY_TLS_DIR);
        if !dir.exists() {
            files::create_private_dir(&dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        let write = |name: &str, bytes: &[u8], private: bool| {
            let path = data_dir.join(name);
            let written = if private {
                files::write_private_file(&path, bytes)
            } else {
                files::write_public_file(&path, bytes)
            };
            written.with_context(|| format!("writing {}", path.display()))
        };
        write(RELAY_SERVER_KEY, generated.server_key_pem.as_bytes(), true)?;
        write(RELAY_CA_KEY, generated.ca_key_pem.as_bytes(), true)?;
        write(
            RELAY_SERVER_CERT,
            generated.server_cert_pem.as_bytes(),
            false,
        )?;
        // Last: the CA certificate's presence means the set is complete.
        write(RELAY_CA_CERT, generated.ca_cert_pem.as_bytes(), false)?;
    }
    let settings = RelaySettings::new(relay.listen.clone(), relay.public_address.clone());
    let identity = tls::load_server_identity(
        &resolve(data_dir, &settings.tls.cert),
        &resolve(data_dir, &settings.tls.key),
        &resolve(data_dir, &settings.tls.ca),
    )
    .context("checking the relay's TLS files")?;
    Ok(RelayIdentity {
        ca_der: identity.ca_der().to_vec(),
        ca_fingerprint: identity.ca_fingerprint(),
        public_address: relay.public_address.clone(),
    })
}

/// The checked result of an enrollment.
pub(crate) struct Enrolled {
    pub(crate) ca_der: Vec<u8>,
    pub(crate) hub_key: [u8; 32],
    pub(crate) framework: Envelope,
    pub(crate) framework_version: u32,
    pub(crate) registry: Envelope,
    pub(crate) winning: Vec<(alliance_core::period::Period, u64)>,
}

/// Creates the data directory, the database and the key, or finds the ones an earlier run of
/// `init` with the same code left.
fn prepare(
    data_dir: &Path,
    org: &OrgId,
    code: &JoinCode,
) -> anyhow::Result<(NodeStore, SigningKey)> {
    let db = data_dir.join(DB_DIR);
    let cache = NodeConfig::new(String::new()).store.cache_capacity_bytes;
    let store = if db.exists() {
        NodeStore::open(&db, cache).context("opening the database an earlier init left")?
    } else {
        if data_dir.exists() {
            let mut entries = std::fs::read_dir(data_dir)
                .with_context(|| format!("reading {}", data_dir.display()))?;
            if entries.next().is_some() {
                bail!(
                    "{} is not empty and holds no node; give a new or empty directory",
                    data_dir.display()
                );
            }
        } else {
            files::create_private_dir(data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
        }
        NodeStore::create(&db, cache).context("creating the database")?
    };
    if let Some(entry) = store.org(org)? {
        if entry.join_token != code.token {
            bail!(
                "{} holds an unfinished enrollment of {org} with another join code: finish it with that code, or start in a new directory",
                data_dir.display()
            );
        }
        let key = read_key(data_dir, &entry.key_id)
            .map_err(anyhow::Error::msg)
            .context("reading the key an earlier init made")?;
        return Ok((store, key));
    }
    let key = SigningKey::generate();
    write_key(data_dir, &key).context("saving the new key")?;
    store.put_org(&OrgEntry {
        org: org.clone(),
        key_id: key.key_id().as_str().to_owned(),
        previous_key_ids: Vec::new(),
        enrolled_at: None,
        join_token: code.token.clone(),
        hosted: false,
    })?;
    store.flush().context("flushing the database")?;
    Ok((store, key))
}

/// First contact and enrollment: `Enroll`, or `EnrollRelay` for a relay.
async fn enroll(
    code: &JoinCode,
    org: &OrgId,
    key: &SigningKey,
    relay: Option<&RelayIdentity>,
) -> anyhow::Result<Enrolled> {
    let (tls, seen) = tls::client_config_by_fingerprint(code.ca_fingerprint)
        .context("configuring TLS for first contact")?;
    let channel = client::connect_tls(&code.upstream, tls).await.with_context(|| {
        format!(
            "connecting to {} with the CA certificate the join code names (fingerprint {}); nothing was sent",
            code.upstream,
            hex::encode(code.ca_fingerprint)
        )
    })?;
    let ca_der = seen
        .get()
        .context("the TLS handshake finished without showing the CA certificate")?;

    let proof = enroll_proof(
        code,
        org,
        key,
        relay.map(|r| RelayBinding {
            ca_certificate_sha256: r.ca_fingerprint,
            public_address: r.public_address.clone(),
        }),
    );
    let mut client = HubServiceClient::new(channel);
    let answer = match relay {
        None => client
            .enroll(pb::EnrollRequest {
                org_id: org.to_string(),
                token: code.token.clone(),
                public_key: key.public_key().to_vec(),
                proof: Some((&proof).into()),
            })
            .await
            .map(|r| r.into_inner().enrollment),
        Some(relay) => client
            .enroll_relay(pb::EnrollRelayRequest {
                org_id: org.to_string(),
                token: code.token.clone(),
                public_key: key.public_key().to_vec(),
                proof: Some((&proof).into()),
                ca_certificate_der: relay.ca_der.clone(),
                public_address: relay.public_address.clone(),
            })
            .await
            .map(|r| r.into_inner().enrollment),
    };
    let enrollment = match answer {
        Ok(enrollment) => enrollment.context("the upstream's answer holds no enrollment")?,
        Err(status) => match classify(&status) {
            UpstreamError::Refused(refusal) => {
                bail!("the upstream refused the enrollment: {}", refusal.message)
            }
            other => bail!("enrolling at {}: {other}", code.upstream),
        },
    };
    check(code, key, enrollment, ca_der)
}

/// The proof of possession of `key` for enrolling `org` with `code`: signed by the key itself,
/// bound to the token, the hub key's fingerprint and, for a relay, its TLS identity.
pub(crate) fn enroll_proof(
    code: &JoinCode,
    org: &OrgId,
    key: &SigningKey,
    relay: Option<RelayBinding>,
) -> Envelope {
    let proof = EnrollProof {
        org: org.clone(),
        token: code.token.clone(),
        public_key: key.public_key(),
        hub_key_fingerprint: code.hub_key_fingerprint,
        relay,
    };
    sign(key, payload_type::ENROLL_PROOF, encode_enroll_proof(&proof))
}

/// Checks an enrollment against the join code: the hub key's fingerprint, and the hub's
/// signature on everything else.
pub(crate) fn check(
    code: &JoinCode,
    key: &SigningKey,
    enrollment: pb::Enrollment,
    ca_der: Vec<u8>,
) -> anyhow::Result<Enrolled> {
    let hub_key: [u8; 32] = enrollment
        .hub_public_key
        .as_slice()
        .try_into()
        .context("the hub key in the enrollment is not 32 bytes")?;
    if fingerprint_bytes(&hub_key) != code.hub_key_fingerprint {
        bail!(
            "the upstream answered with a hub key whose fingerprint {} is not the join code's {}; nothing was kept",
            fingerprint(&hub_key),
            hex::encode(code.hub_key_fingerprint)
        );
    }
    if enrollment.key_id != key.key_id().as_str() {
        bail!(
            "the hub registered key {} where this node enrolled {}",
            enrollment.key_id,
            key.key_id().as_str()
        );
    }
    let framework: Envelope = enrollment
        .framework
        .context("the enrollment holds no framework")?
        .into();
    let framework_version = open_framework(&framework, &hub_key)
        .map_err(anyhow::Error::msg)
        .context("checking the framework")?
        .version;
    let registry: Envelope = enrollment
        .registry
        .context("the enrollment holds no registry")?
        .into();
    verify_pinned(&registry, payload_type::REGISTRY, &hub_key)
        .context("checking the registry's signature")?;
    let mut winning = Vec::new();
    for envelope in enrollment.winning_revisions {
        let statement = open_winning_revision(&envelope.into(), &hub_key)
            .map_err(anyhow::Error::msg)
            .context("checking a winning revision")?;
        if let Some(winner) = statement.winner {
            winning.push((statement.period, winner.revision));
        }
    }
    Ok(Enrolled {
        ca_der,
        hub_key,
        framework,
        framework_version,
        registry,
        winning,
    })
}
