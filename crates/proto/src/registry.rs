//! Organisations, their keys and the registry document to and from the wire.
//!
//! The registry document carries more than `alliance_core::Registry`: a serial number, the time
//! it was issued, and the TLS identity of every relay. [`RegistryDocument`] holds those; the
//! plain [`Organisation`] conversions leave the relay part out.

use std::collections::{BTreeMap, BTreeSet};

use alliance_core::org::{KeyState, OrgId, OrgKey, Organisation, Registry};
use alliance_core::timestamp::Timestamp;

use crate::enums;
use crate::error::{WireError, Within, fixed_bytes, parse, parse_optional};
use crate::pb;

/// The registry as the hub signs and sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryDocument {
    /// Rises with every change, so a node can tell a newer registry from an older one.
    pub serial: u64,
    pub issued_at: Timestamp,
    pub registry: Registry,
    /// How to reach and authenticate each enrolled relay, by the relay's organisation id.
    pub relays: BTreeMap<OrgId, RelayInfo>,
}

/// A relay's TLS identity and address, as registered when it enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayInfo {
    /// The relay's CA certificate, DER-encoded.
    pub ca_certificate_der: Vec<u8>,
    /// Where affiliates reach the relay, `host:port`.
    pub public_address: String,
}

impl TryFrom<pb::Registry> for RegistryDocument {
    type Error = WireError;

    fn try_from(registry: pb::Registry) -> Result<Self, WireError> {
        let mut orgs = BTreeMap::new();
        let mut relays = BTreeMap::new();
        // Ed25519 keys are not shared: the hub finds a signature's organisation by its key, so
        // a key listed twice would make the answer depend on the order of the list.
        let mut keys = BTreeSet::new();
        for (index, mut org) in registry.organisations.into_iter().enumerate() {
            let relay = org
                .relay
                .take()
                .map(RelayInfo::try_from)
                .transpose()
                .within("relay")
                .within_at("organisations", index)?;
            let org = Organisation::try_from(org).within_at("organisations", index)?;
            if orgs.contains_key(&org.id) {
                return Err(WireError::problem(format_args!(
                    "{:?} is given more than once",
                    org.id.as_str()
                )))
                .within("id")
                .within_at("organisations", index);
            }
            if let Some(k) = org.keys.iter().position(|k| !keys.insert(k.public_key)) {
                return Err(WireError::problem("the key is listed more than once"))
                    .within("public_key")
                    .within_at("keys", k)
                    .within_at("organisations", index);
            }
            if let Some(relay) = relay {
                relays.insert(org.id.clone(), relay);
            }
            orgs.insert(org.id.clone(), org);
        }
        Ok(RegistryDocument {
            serial: registry.serial,
            issued_at: Timestamp(registry.issued_at_unix_seconds),
            registry: Registry { orgs },
            relays,
        })
    }
}

impl From<&RegistryDocument> for pb::Registry {
    fn from(document: &RegistryDocument) -> Self {
        pb::Registry {
            serial: document.serial,
            issued_at_unix_seconds: document.issued_at.0,
            organisations: document
                .registry
                .orgs
                .values()
                .map(|org| pb::Organisation {
                    relay: document.relays.get(&org.id).map(pb::RelayInfo::from),
                    ..pb::Organisation::from(org)
                })
                .collect(),
        }
    }
}

/// Converts one organisation, checking its shape with [`Organisation::check`]. Its `relay`
/// field is not part of the domain type and is left out; read it with [`RegistryDocument`] or
/// [`RelayInfo::try_from`].
impl TryFrom<pb::Organisation> for Organisation {
    type Error = WireError;

    fn try_from(org: pb::Organisation) -> Result<Self, WireError> {
        let converted = Organisation {
            id: parse(&org.id).within("id")?,
            name: org.name,
            kind: enums::org_kind(org.kind).within("kind")?,
            country: parse_optional(&org.country).within("country")?,
            region: enums::region(org.region).within("region")?,
            sectors: org.sectors,
            via: parse_optional(&org.via_relay_id).within("via_relay_id")?,
            hosted: org.hosted,
            registered_at: Timestamp(org.registered_at_unix_seconds),
            enrolled_at: org.enrolled_at_unix_seconds.map(Timestamp),
            deactivated_at: org.deactivated_at_unix_seconds.map(Timestamp),
            keys: org
                .keys
                .into_iter()
                .enumerate()
                .map(|(index, key)| OrgKey::try_from(key).within_at("keys", index))
                .collect::<Result<_, _>>()?,
        };
        // The shape rules tie several fields together, so the organisation as a whole is named.
        converted.check().map_err(WireError::problem)?;
        Ok(converted)
    }
}

/// An organisation on the wire, without its relay part (see [`RegistryDocument`]).
impl From<&Organisation> for pb::Organisation {
    fn from(org: &Organisation) -> Self {
        pb::Organisation {
            id: org.id.to_string(),
            name: org.name.clone(),
            kind: enums::org_kind_to_i32(org.kind),
            country: org.country.map(|c| c.to_string()).unwrap_or_default(),
            region: enums::region_to_i32(org.region),
            sectors: org.sectors.clone(),
            via_relay_id: org.via.as_ref().map(OrgId::to_string).unwrap_or_default(),
            hosted: org.hosted,
            registered_at_unix_seconds: org.registered_at.0,
            enrolled_at_unix_seconds: org.enrolled_at.map(|t| t.0),
            deactivated_at_unix_seconds: org.deactivated_at.map(|t| t.0),
            keys: org.keys.iter().map(pb::OrgKey::from).collect(),
            relay: None,
        }
    }
}

impl TryFrom<pb::OrgKey> for OrgKey {
    type Error = WireError;

    fn try_from(key: pb::OrgKey) -> Result<Self, WireError> {
        if key.key_id.is_empty() {
            return Err(WireError::missing()).within("key_id");
        }
        let public_key = fixed_bytes(&key.public_key).within("public_key")?;
        let state = match pb::KeyState::try_from(key.state) {
            Ok(pb::KeyState::Active) => KeyState::Active,
            Ok(pb::KeyState::Rotated) => KeyState::Rotated {
                grace_until: Timestamp(
                    key.grace_until_unix_seconds
                        .ok_or_else(WireError::missing)
                        .within("grace_until_unix_seconds")?,
                ),
            },
            Ok(pb::KeyState::Revoked) => KeyState::Revoked {
                at: Timestamp(
                    key.revoked_at_unix_seconds
                        .ok_or_else(WireError::missing)
                        .within("revoked_at_unix_seconds")?,
                ),
            },
            Ok(pb::KeyState::Unspecified) => {
                return Err(WireError::problem(
                    "unspecified: a KeyState value is required",
                ))
                .within("state");
            }
            Err(_) => {
                return Err(WireError::problem(format_args!(
                    "unknown KeyState value {}",
                    key.state
                )))
                .within("state");
            }
        };
        // A time that does not belong to the state is refused rather than dropped, so that two
        // readers cannot disagree on what the key's state is.
        let stray = match state {
            KeyState::Active => key
                .grace_until_unix_seconds
                .map(|_| "grace_until_unix_seconds")
                .or(key
                    .revoked_at_unix_seconds
                    .map(|_| "revoked_at_unix_seconds")),
            KeyState::Rotated { .. } => key
                .revoked_at_unix_seconds
                .map(|_| "revoked_at_unix_seconds"),
            KeyState::Revoked { .. } => key
                .grace_until_unix_seconds
                .map(|_| "grace_until_unix_seconds"),
        };
        if let Some(field) = stray {
            return Err(WireError::problem(
                "set, but the key's state has no such time",
            ))
            .within(field);
        }
        Ok(OrgKey {
            key_id: key.key_id,
            public_key,
            added_at: Timestamp(key.added_at_unix_seconds),
            state,
        })
    }
}

impl From<&OrgKey> for pb::OrgKey {
    fn from(key: &OrgKey) -> Self {
        let (state, grace_until, revoked_at) = match key.state {
            KeyState::Active => (pb::KeyState::Active, None, None),
            KeyState::Rotated { grace_until } => (pb::KeyState::Rotated, Some(grace_until.0), None),
            KeyState::Revoked { at } => (pb::KeyState::Revoked, None, Some(at.0)),
        };
        pb::OrgKey {
            key_id: key.key_id.clone(),
            public_key: key.public_key.to_vec(),
            added_at_unix_seconds: key.added_at.0,
            state: state as i32,
            grace_until_unix_seconds: grace_until,
            revoked_at_unix_seconds: revoked_at,
        }
    }
}

impl TryFrom<pb::RelayInfo> for RelayInfo {
    type Error = WireError;

    fn try_from(relay: pb::RelayInfo) -> Result<Self, WireError> {
        if relay.ca_certificate_der.is_empty() {
            return Err(WireError::missing()).within("ca_certificate_der");
        }
        if relay.public_address.is_empty() {
            return Err(WireError::missing()).within("public_address");
        }
        Ok(RelayInfo {
            ca_certificate_der: relay.ca_certificate_der,
            public_address: relay.public_address,
        })
    }
}

impl From<&RelayInfo> for pb::RelayInfo {
    fn from(relay: &RelayInfo) -> Self {
        pb::RelayInfo {
            ca_certificate_der: relay.ca_certificate_der.clone(),
            public_address: relay.public_address.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alliance_core::org::{OrgKind, Region};

    fn key(byte: u8, state: KeyState) -> OrgKey {
        OrgKey {
            key_id: format!("key-{byte}"),
            public_key: [byte; 32],
            added_at: Timestamp(1_000),
            state,
        }
    }

    fn org(id: &str, kind: OrgKind, country: Option<&str>, region: Region) -> Organisation {
        Organisation {
            id: id.parse().unwrap(),
            name: id.to_uppercase(),
            kind,
            country: country.map(|c| c.parse().unwrap()),
            region,
            sectors: vec![],
            via: None,
            hosted: false,
            registered_at: Timestamp(500),
            enrolled_at: None,
            deactivated_at: None,
            keys: vec![],
        }
    }

    fn document() -> RegistryDocument {
        let mut relay = org(
            "ituc-africa",
            OrgKind::RegionalOrganisation,
            Some("TG"),
            Region::Africa,
        );
        relay.enrolled_at = Some(Timestamp(600));
        relay.keys = vec![key(1, KeyState::Active)];
        let mut hosted = org("gtuc", OrgKind::NationalCentre, Some("GH"), Region::Africa);
        hosted.via = Some(relay.id.clone());
        hosted.hosted = true;
        hosted.deactivated_at = Some(Timestamp(9_000));
        hosted.keys = vec![
            key(
                2,
                KeyState::Rotated {
                    grace_until: Timestamp(2_000),
                },
            ),
            key(
                3,
                KeyState::Revoked {
                    at: Timestamp(1_500),
                },
            ),
            key(4, KeyState::Active),
        ];
        let mut guf = org("bwi", OrgKind::Guf, None, Region::Global);
        guf.sectors = vec!["construction".into(), "forestry".into()];
        let mut registry = Registry::default();
        let relays = BTreeMap::from([(
            relay.id.clone(),
            RelayInfo {
                ca_certificate_der: vec![0x30, 0x82, 1, 2],
                public_address: "relay.example:7443".into(),
            },
        )]);
        for o in [relay, hosted, guf] {
            registry.insert(o);
        }
        RegistryDocument {
            serial: 7,
            issued_at: Timestamp(10_000),
            registry,
            relays,
        }
    }

    #[test]
    fn the_registry_round_trips_with_keys_and_relays() {
        let doc = document();
        let wire = pb::Registry::from(&doc);
        assert!(wire.organisations.iter().any(|o| o.relay.is_some()));
        assert_eq!(RegistryDocument::try_from(wire).unwrap(), doc);
    }

    #[test]
    fn duplicates_and_shapes_are_refused() {
        let mut wire = pb::Registry::from(&document());
        let copy = wire.organisations[2].clone();
        wire.organisations.push(copy);
        let e = RegistryDocument::try_from(wire).unwrap_err();
        assert_eq!(e.field(), Some("organisations[3].id"));

        let mut wire = pb::Registry::from(&document());
        let shared = wire.organisations[2].keys[0].clone();
        wire.organisations[0].keys.push(shared);
        let e = RegistryDocument::try_from(wire).unwrap_err();
        assert_eq!(e.field(), Some("organisations[2].keys[0].public_key"));

        let mut wire = pb::Registry::from(&document());
        wire.organisations[0].country = String::new();
        wire.organisations[0].kind = pb::OrgKind::NationalCentre as i32;
        let e = RegistryDocument::try_from(wire).unwrap_err();
        assert_eq!(e.field(), Some("organisations[0]"));

        let mut wire = pb::Registry::from(&document());
        wire.organisations[1].country = "XX".into();
        let e = RegistryDocument::try_from(wire).unwrap_err();
        assert_eq!(e.field(), Some("organisations[1].country"));
    }

    #[test]
    fn key_states_must_carry_their_times() {
        let good = pb::OrgKey::from(&key(
            5,
            KeyState::Rotated {
                grace_until: Timestamp(3),
            },
        ));
        let mut k = good.clone();
        k.grace_until_unix_seconds = None;
        assert_eq!(
            OrgKey::try_from(k).unwrap_err().field(),
            Some("grace_until_unix_seconds")
        );
        let mut k = good.clone();
        k.revoked_at_unix_seconds = Some(4);
        assert_eq!(
            OrgKey::try_from(k).unwrap_err().field(),
            Some("revoked_at_unix_seconds")
        );
        let mut k = good.clone();
        k.state = pb::KeyState::Unspecified as i32;
        assert_eq!(OrgKey::try_from(k).unwrap_err().field(), Some("state"));
        let mut k = good;
        k.public_key.pop();
        assert_eq!(OrgKey::try_from(k).unwrap_err().field(), Some("public_key"));
    }
}
