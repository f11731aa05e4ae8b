//! The operator's side of the registry (DESIGN.md §6, §8): organisations, join codes, key
//! revocation, deactivation, deadlines, and the audit log that records every admin action.

use std::collections::BTreeMap;

use alliance_core::org::{KeyState, OrgId, OrgKey, OrgKind, Organisation, Region};
use alliance_core::period::Period;
use alliance_core::timestamp::Timestamp;
use alliance_envelope::{Envelope, JoinCode, SigningKey, fingerprint_bytes, payload_type, sign};
use alliance_proto::{RegistryDocument, RelayInfo};
use alliance_store::{AuditKind, AuditRecord, JoinToken};
use rand_core::{OsRng, RngCore};

use super::{Hub, HubError, State, now};

/// A join code as issued to an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCode {
    pub org: OrgId,
    /// The text to hand over, `alliance-join:...`.
    pub code: String,
    pub expires_at: Timestamp,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// The most entries to return; 0 means all that are kept.
    pub limit: usize,
    pub kind: Option<AuditKind>,
}

/// Above this many organisations the signed registry may lag its changes by up to a second.
const LARGE_REGISTRY: usize = 1000;

/// The CSV columns of `org import`, in this order in the header (`sectors` is a list separated
/// by `;`, `hosted` is `true` or `false`; empty cells mean none).
pub const IMPORT_COLUMNS: [&str; 8] = [
    "id", "name", "kind", "country", "region", "sectors", "via", "hosted",
];

impl Hub {
    /// Registers an organisation and issues its first join code. What the hub keeps track of
    /// itself (registration time, keys, enrollment) is set here, whatever `org` says.
    pub async fn add_org(
        &self,
        org: Organisation,
        actor: &str,
    ) -> Result<(Organisation, IssuedCode), HubError> {
        self.check_healthy()?;
        let now = now();
        let (org, code) = {
            let mut state = self.state();
            let org = self.admit(&state, org, now, &BTreeMap::new())?;
            let code = self.issue_code(&state, &org, now, false)?;
            self.save_org(&mut state, org.clone())?;
            let State {
                ledger, registry, ..
            } = &mut *state;
            ledger.set_registry(registry);
            (org, code)
        };
        self.audit_admin(actor, "org add", Some(org.id.to_string()), describe(&org))
            .await?;
        Ok((org, code))
    }

    /// Registers organisations from CSV (see [`IMPORT_COLUMNS`]): all rows or none. An error
    /// names the line and the column.
    pub async fn import_orgs(
        &self,
        csv: &[u8],
        actor: &str,
    ) -> Result<Vec<(Organisation, IssuedCode)>, HubError> {
        self.check_healthy()?;
        let now = now();
        let rows = parse_import(csv, now)?;
        let imported = {
            let mut state = self.state();
            // Admitted rows by id, so that a later row may name an earlier one as its relay and
            // an id given twice is refused; file order is kept for the answer.
            let mut admitted: BTreeMap<OrgId, Organisation> = BTreeMap::new();
            let mut order = Vec::with_capacity(rows.len());
            for (line, org) in rows {
                let org = self
                    .admit(&state, org, now, &admitted)
                    .map_err(|e| HubError::Invalid(format!("line {line}: {e}")))?;
                order.push(org.id.clone());
                admitted.insert(org.id.clone(), org);
            }
            let mut imported = Vec::with_capacity(order.len());
            for org in order.iter().filter_map(|id| admitted.remove(id)) {
                let code = self.issue_code(&state, &org, now, false)?;
                self.save_org(&mut state, org.clone())?;
                imported.push((org, code));
            }
            let State {
                ledger, registry, ..
            } = &mut *state;
            ledger.set_registry(registry);
            imported
        };
        self.audit_admin(
            actor,
            "org import",
            None,
            format!("{} organisations", imported.len()),
        )
        .await?;
        Ok(imported)
    }

    /// The registry, by id, with each relay's details.
    pub fn orgs(&self, include_deactivated: bool) -> Vec<(Organisation, Option<RelayInfo>)> {
        let state = self.state();
        state
            .registry
            .orgs
            .values()
            .filter(|o| include_deactivated || o.deactivated_at.is_none())
            .map(|o| (o.clone(), state.relays.get(&o.id).cloned()))
            .collect()
    }

    /// One organisation with its relay details and its open join codes.
    pub fn org(
        &self,
        id: &str,
    ) -> Result<(Organisation, Option<RelayInfo>, Vec<IssuedCode>), HubError> {
        let org_id = parse_org_id(id)?;
        let (org, relay) = {
            let state = self.state();
            let org = state
                .registry
                .get(&org_id)
                .cloned()
                .ok_or_else(|| not_found(&org_id))?;
            (org, state.relays.get(&org_id).cloned())
        };
        let now = now();
        let open = self
            .store
            .tokens()
            .map_err(|e| self.fail(e))?
            .into_iter()
            .filter(|t| t.org == org_id && t.used_by.is_none() && !t.replaced && t.expires_at > now)
            .map(|t| IssuedCode {
                org: t.org,
                code: t.code,
                expires_at: t.expires_at,
            })
            .collect();
        Ok((org, relay, open))
    }

    /// Issues a new join code for an organisation that lost its key: earlier unused codes stop
    /// working, and enrolling with the new one revokes every earlier key.
    pub async fn reissue(&self, id: &str, actor: &str) -> Result<IssuedCode, HubError> {
        self.check_healthy()?;
        let org_id = parse_org_id(id)?;
        let now = now();
        let code = {
            let state = self.state();
            let org = state
                .registry
                .get(&org_id)
                .cloned()
                .ok_or_else(|| not_found(&org_id))?;
            if org.deactivated_at.is_some() {
                return Err(HubError::Invalid(format!(
                    "organisation {org_id} is deactivated; it cannot enroll again"
                )));
            }
            self.issue_code(&state, &org, now, true)?
        };
        self.audit_admin(
            actor,
            "org reissue",
            Some(org_id.to_string()),
            String::new(),
        )
        .await?;
        Ok(code)
    }

    /// Ends a key at once. Reports it signed before stay in history and in the view.
    pub async fn revoke_key(
        &self,
        id: &str,
        key_id: &str,
        reason: &str,
        actor: &str,
    ) -> Result<OrgKey, HubError> {
        self.check_healthy()?;
        let org_id = parse_org_id(id)?;
        let now = now();
        let key = self.change_org(&org_id, |org| {
            let key = org
                .keys
                .iter_mut()
                .find(|k| k.key_id == key_id)
                .ok_or_else(|| {
                    HubError::NotFound(format!("organisation {org_id} has no key {key_id}"))
                })?;
            if !matches!(key.state, KeyState::Revoked { .. }) {
                key.state = KeyState::Revoked { at: now };
            }
            Ok(key.clone())
        })?;
        self.audit_admin(
            actor,
            "org revoke-key",
            Some(org_id.to_string()),
            format!("key {key_id}: {reason}"),
        )
        .await?;
        Ok(key)
    }

    /// Stops expecting reports from an organisation; its history stays.
    pub async fn deactivate(
        &self,
        id: &str,
        reason: &str,
        actor: &str,
    ) -> Result<Organisation, HubError> {
        self.check_healthy()?;
        let org_id = parse_org_id(id)?;
        let now = now();
        let org = self.change_org(&org_id, |org| {
            org.deactivated_at.get_or_insert(now);
            Ok(org.clone())
        })?;
        self.audit_admin(
            actor,
            "org deactivate",
            Some(org_id.to_string()),
            reason.to_owned(),
        )
        .await?;
        Ok(org)
    }

    /// Changes a registered organisation under the lock and stores it, unless `change` fails.
    fn change_org<T>(
        &self,
        org_id: &OrgId,
        change: impl FnOnce(&mut Organisation) -> Result<T, HubError>,
    ) -> Result<T, HubError> {
        let mut state = self.state();
        let mut org = state
            .registry
            .get(org_id)
            .cloned()
            .ok_or_else(|| not_found(org_id))?;
        let answer = change(&mut org)?;
        self.save_org(&mut state, org)?;
        Ok(answer)
    }

    /// Sets a period's coverage deadline; answers the new and the previous one.
    pub async fn set_deadline(
        &self,
        period: Period,
        at: Timestamp,
        actor: &str,
    ) -> Result<(Timestamp, Timestamp), HubError> {
        self.check_healthy()?;
        let previous = self.deadline(period)?;
        self.store
            .set_deadline(period, at)
            .map_err(|e| self.fail(e))?;
        self.audit_admin(
            actor,
            "deadline",
            None,
            format!("{period}: {previous} -> {at}"),
        )
        .await?;
        Ok((at, previous))
    }

    /// Audit entries, newest first, with the count of every refusal ever given.
    pub fn audit(&self, query: AuditQuery) -> Result<(Vec<AuditRecord>, u64), HubError> {
        let records = self
            .store
            .audit(query.limit, query.kind)
            .map_err(|e| self.fail(e))?;
        let total = self.store.refusals_total().map_err(|e| self.fail(e))?;
        Ok((records, total))
    }

    /// Records an admin action (kept in full) and waits until it is on disk with everything
    /// before it, so an answered action is never lost.
    pub(super) async fn audit_admin(
        &self,
        actor: &str,
        action: &str,
        org: Option<String>,
        detail: String,
    ) -> Result<(), HubError> {
        let record = AuditRecord {
            sequence: 0,
            at: now(),
            kind: AuditKind::Admin,
            actor: actor.to_owned(),
            action: action.to_owned(),
            org,
            reason: None,
            detail,
        };
        self.store.append_audit(&record).map_err(|e| self.fail(e))?;
        self.durable().await
    }

    /// Stores a changed organisation and brings the registry, its key index and its signed
    /// form up to date. The caller holds the lock.
    pub(super) fn save_org(&self, state: &mut State, org: Organisation) -> Result<(), HubError> {
        self.store
            .put_org(&org, state.relays.get(&org.id))
            .map_err(|e| self.fail(e))?;
        for key in &org.keys {
            if state.keys.contains_key(&key.key_id) {
                continue;
            }
            // A key new to the index (enrolled or rotated in just now, or one `open` left out)
            // is decompressed once, here.
            if let Some(public_key) = super::open::usable_key(&org.id, &key.key_id, key) {
                state
                    .keys
                    .insert(key.key_id.clone(), (org.id.clone(), public_key));
            }
        }
        state.registry.insert(org);
        state.registry_serial += 1;
        self.store
            .set_registry_serial(state.registry_serial)
            .map_err(|e| self.fail(e))?;
        state.registry_dirty = true;
        Ok(())
    }

    /// The signed registry, re-signed if it changed. A large registry (over
    /// [`LARGE_REGISTRY`] organisations) is re-signed at most once a second, so that enrolling
    /// thousands of organisations does not sign thousands of megabyte-sized documents; nodes
    /// refresh it regularly, and its serial says how recent it is.
    pub(super) fn current_registry(&self, state: &mut State) -> Envelope {
        let large = state.registry.orgs.len() > LARGE_REGISTRY;
        let recent = state.registry_signed_at.elapsed() < std::time::Duration::from_secs(1);
        if state.registry_dirty && !(large && recent) {
            state.registry_envelope = sign_registry(&self.signing_key, state, now());
            state.registry_signed_at = std::time::Instant::now();
            state.registry_dirty = false;
        }
        state.registry_envelope.clone()
    }

    /// Checks an organisation the operator describes before it is registered: a fresh id,
    /// the shape its kind needs, sectors the framework knows, a registered relay.
    fn admit(
        &self,
        state: &State,
        mut org: Organisation,
        now: Timestamp,
        also: &BTreeMap<OrgId, Organisation>,
    ) -> Result<Organisation, HubError> {
        if state.registry.get(&org.id).is_some() || also.contains_key(&org.id) {
            return Err(HubError::Invalid(format!(
                "organisation {} is already registered",
                org.id
            )));
        }
        org.check().map_err(|e| HubError::Invalid(e.to_string()))?;
        if let Some(framework) = self.frameworks.latest() {
            let sectors = framework.dimension("sector");
            for sector in &org.sectors {
                if !sectors.is_some_and(|d| d.values.iter().any(|v| &v.id == sector)) {
                    return Err(HubError::Invalid(format!(
                        "sector {sector:?} is not a value of the framework's sector dimension"
                    )));
                }
            }
        }
        if let Some(via) = &org.via {
            let relay = state.registry.get(via).or_else(|| also.get(via));
            if relay.is_none() {
                return Err(HubError::Invalid(format!("relay {via} is not registered")));
            }
            if !state.relays.contains_key(via) {
                return Err(HubError::Invalid(format!(
                    "relay {via} has not enrolled yet, so its address and CA are unknown; enroll the relay first"
                )));
            }
        } else if org.hosted {
            return Err(HubError::Invalid(
                "a hosted organisation needs --via RELAY".into(),
            ));
        }
        org.registered_at = now;
        org.enrolled_at = None;
        org.deactivated_at = None;
        org.keys = Vec::new();
        Ok(org)
    }

    /// Issues a join code for `org`, pointing at the hub or at the relay it reports through.
    /// Earlier unused codes of the organisation stop working.
    fn issue_code(
        &self,
        state: &State,
        org: &Organisation,
        now: Timestamp,
        reissue: bool,
    ) -> Result<IssuedCode, HubError> {
        let (upstream, ca_fingerprint) =
            match org.via.as_ref().and_then(|via| state.relays.get(via)) {
                Some(relay) => (
                    relay.public_address.clone(),
                    alliance_daemon::tls::fingerprint(&relay.ca_certificate_der),
                ),
                None => (self.config.public_address.clone(), self.ca_fingerprint),
            };
        let mut token = [0u8; 32];
        OsRng.fill_bytes(&mut token);
        let expires_at = Timestamp(now.0 + i64::from(self.config.keys.join_code_ttl_days) * 86_400);
        let code = JoinCode {
            org_id: org.id.to_string(),
            upstream,
            ca_fingerprint,
            hub_key_fingerprint: fingerprint_bytes(&self.public_key()),
            token: hex::encode(token),
            expires_at_unix_seconds: expires_at.0,
        };
        // A new organisation has no earlier codes, so only a re-issue looks for them.
        if reissue {
            for mut old in self.store.tokens().map_err(|e| self.fail(e))? {
                if old.org == org.id && old.used_by.is_none() && !old.replaced {
                    old.replaced = true;
                    self.store.put_token(&old).map_err(|e| self.fail(e))?;
                }
            }
        }
        let text = code.to_string();
        self.store
            .put_token(&JoinToken {
                token: code.token,
                org: org.id.clone(),
                issued_at: now,
                expires_at,
                code: text.clone(),
                reissue,
                replaced: false,
                used_by: None,
                used_at: None,
            })
            .map_err(|e| self.fail(e))?;
        Ok(IssuedCode {
            org: org.id.clone(),
            code: text,
            expires_at,
        })
    }
}

/// The registry signed by the hub, as nodes and relays receive it.
pub(super) fn sign_registry(key: &SigningKey, state: &State, now: Timestamp) -> Envelope {
    let document = RegistryDocument {
        serial: state.registry_serial,
        issued_at: now,
        registry: state.registry.clone(),
        relays: state.relays.clone(),
    };
    sign(
        key,
        payload_type::REGISTRY,
        alliance_proto::encode_registry(&document),
    )
}

/// The rows of an import, each with its line number, parsed but not yet admitted.
fn parse_import(csv: &[u8], now: Timestamp) -> Result<Vec<(u64, Organisation)>, HubError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv);
    let headers = reader
        .headers()
        .map_err(|e| HubError::Invalid(format!("line 1: {e}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    for required in ["id", "name", "kind"] {
        if column(required).is_none() {
            return Err(HubError::Invalid(format!(
                "line 1: the header has no {required:?} column (columns: {})",
                IMPORT_COLUMNS.join(",")
            )));
        }
    }
    if let Some(unknown) = headers.iter().find(|h| !IMPORT_COLUMNS.contains(h)) {
        return Err(HubError::Invalid(format!(
            "line 1: unknown column {unknown:?} (columns: {})",
            IMPORT_COLUMNS.join(",")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| HubError::Invalid(format!("reading the CSV: {e}")))?;
        let line = record.position().map_or(0, |p| p.line());
        let cell = |name: &str| column(name).and_then(|i| record.get(i)).unwrap_or("");
        let bad = |name: &str, problem: String| {
            HubError::Invalid(format!("line {line}, column {name}: {problem}"))
        };
        let kind: OrgKind = cell("kind")
            .parse()
            .map_err(|e: alliance_core::org::OrgError| bad("kind", e.to_string()))?;
        let region: Region = match cell("region") {
            "" if kind == OrgKind::Guf => Region::Global,
            "" => return Err(bad("region", "a region is needed".into())),
            r => r
                .parse()
                .map_err(|e: alliance_core::org::OrgError| bad("region", e.to_string()))?,
        };
        let country = match cell("country") {
            "" => None,
            c => Some(
                c.parse()
                    .map_err(|e: alliance_core::org::OrgError| bad("country", e.to_string()))?,
            ),
        };
        let via = match cell("via") {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|e: alliance_core::org::OrgError| bad("via", e.to_string()))?,
            ),
        };
        let hosted = match cell("hosted") {
            "" | "false" | "no" => false,
            "true" | "yes" => true,
            other => return Err(bad("hosted", format!("{other:?} is not true or false"))),
        };
        let org = Organisation {
            id: cell("id")
                .parse()
                .map_err(|e: alliance_core::org::OrgError| bad("id", e.to_string()))?,
            name: cell("name").to_owned(),
            kind,
            country,
            region,
            sectors: cell("sectors")
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            via,
            hosted,
            registered_at: now,
            enrolled_at: None,
            deactivated_at: None,
            keys: Vec::new(),
        };
        rows.push((line, org));
    }
    Ok(rows)
}

fn parse_org_id(id: &str) -> Result<OrgId, HubError> {
    id.parse()
        .map_err(|e: alliance_core::org::OrgError| HubError::Invalid(e.to_string()))
}

fn not_found(org: &OrgId) -> HubError {
    HubError::NotFound(format!("organisation {org} is not registered"))
}

/// An organisation in one line, for the audit log.
fn describe(org: &Organisation) -> String {
    let mut text = format!("{} ({}, {}", org.name, org.kind, org.region);
    if let Some(country) = &org.country {
        text.push_str(&format!(", {country}"));
    }
    if let Some(via) = &org.via {
        text.push_str(&format!(", via {via}"));
        if org.hosted {
            text.push_str(", hosted");
        }
    }
    text.push(')');
    text
}
