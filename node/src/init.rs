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
use alliance_proto::{EnrollProof, encode_enroll_proof};
use alliance_store::{NodeStore, OrgEntry, Setup};

use crate::config::{CONFIG_FILE, DB_DIR, NodeConfig};
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
}

/// Enrolls the node in `data_dir` with the join code `code`.
pub async fn init(data_dir: &Path, code: &str) -> anyhow::Result<InitSummary> {
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

    let (store, key) = prepare(data_dir, &org, &code)?;
    let enrollment = enroll(&code, &org, &key).await?;

    store.put_setup(&Setup {
        upstream: code.upstream.clone(),
        ca_der: enrollment.ca_der.clone(),
        hub_public_key: enrollment.hub_key,
        own_org: org.clone(),
        relay: false,
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
    let config = toml::to_string_pretty(&NodeConfig::new(code.upstream.clone()))
        .context("writing the configuration")?;
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
    })
}

/// The checked result of an enrollment.
struct Enrolled {
    ca_der: Vec<u8>,
    hub_key: [u8; 32],
    framework: Envelope,
    framework_version: u32,
    registry: Envelope,
    winning: Vec<(alliance_core::period::Period, u64)>,
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

/// First contact and enrollment.
async fn enroll(code: &JoinCode, org: &OrgId, key: &SigningKey) -> anyhow::Result<Enrolled> {
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

    let proof = EnrollProof {
        org: org.clone(),
        token: code.token.clone(),
        public_key: key.public_key(),
        hub_key_fingerprint: code.hub_key_fingerprint,
        relay: None,
    };
    let proof = sign(key, payload_type::ENROLL_PROOF, encode_enroll_proof(&proof));
    let request = pb::EnrollRequest {
        org_id: org.to_string(),
        token: code.token.clone(),
        public_key: key.public_key().to_vec(),
        proof: Some((&proof).into()),
    };
    let answer = HubServiceClient::new(channel).enroll(request).await;
    let enrollment = match answer {
        Ok(response) => response
            .into_inner()
            .enrollment
            .context("the upstream's answer holds no enrollment")?,
        Err(status) => match classify(&status) {
            UpstreamError::Refused(refusal) => {
                bail!("the upstream refused the enrollment: {}", refusal.message)
            }
            other => bail!("enrolling at {}: {other}", code.upstream),
        },
    };
    check(code, key, enrollment, ca_der)
}

/// Checks an enrollment against the join code: the hub key's fingerprint, and the hub's
/// signature on everything else.
fn check(
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
