//! Organisations of the alliance: affiliates (national centres), regional organisations and
//! Global Union Federations, and the registry the hub keeps of them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::timestamp::Timestamp;

/// The longest organisation id accepted.
pub const MAX_ORG_ID_LEN: usize = 64;

/// A stable organisation id: 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, starting with a
/// letter or digit. Ids appear in file names, CSV files and join codes, so they are kept plain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(String);

/// Why an organisation field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    #[error(
        "organisation id {0:?} must be 1 to 64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
    )]
    Id(String),
    #[error("{0:?} is not an ISO 3166-1 alpha-2 country code")]
    Country(String),
    #[error("unknown organisation kind {0:?} (national_centre, regional_organisation, guf)")]
    Kind(String),
    #[error("unknown region {0:?} (africa, americas, asia_pacific, europe, global)")]
    Region(String),
    #[error("a {kind} needs {what}")]
    Shape { kind: OrgKind, what: &'static str },
    #[error("organisation name must not be empty")]
    EmptyName,
}

impl OrgId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OrgId {
    type Err = OrgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= MAX_ORG_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && s.as_bytes()[0].is_ascii_alphanumeric();
        if ok {
            Ok(OrgId(s.to_owned()))
        } else {
            Err(OrgError::Id(s.to_owned()))
        }
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code, such as `BR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country([u8; 2]);

impl Country {
    pub fn as_str(&self) -> &str {
        // Only ASCII letters from the code list are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl FromStr for Country {
    type Err = OrgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.to_ascii_uppercase();
        if upper.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == upper) {
            let b = upper.as_bytes();
            Ok(Country([b[0], b[1]]))
        } else {
            Err(OrgError::Country(s.to_owned()))
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of organisation this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrgKind {
    NationalCentre,
    RegionalOrganisation,
    Guf,
}

impl OrgKind {
    pub const ALL: [OrgKind; 3] = [
        OrgKind::NationalCentre,
        OrgKind::RegionalOrganisation,
        OrgKind::Guf,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::NationalCentre => "national_centre",
            OrgKind::RegionalOrganisation => "regional_organisation",
            OrgKind::Guf => "guf",
        }
    }
}

impl FromStr for OrgKind {
    type Err = OrgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| OrgError::Kind(s.to_owned()))
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ITUC's regions; GUFs are global.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Region {
    Africa,
    Americas,
    AsiaPacific,
    Europe,
    Global,
}

impl Region {
    pub const ALL: [Region; 5] = [
        Region::Africa,
        Region::Americas,
        Region::AsiaPacific,
        Region::Europe,
        Region::Global,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Region::Africa => "africa",
            Region::Americas => "americas",
            Region::AsiaPacific => "asia_pacific",
            Region::Europe => "europe",
            Region::Global => "global",
        }
    }
}

impl FromStr for Region {
    type Err = OrgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| OrgError::Region(s.to_owned()))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One organisation as the hub's registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    pub kind: OrgKind,
    /// None only for GUFs.
    pub country: Option<Country>,
    pub region: Region,
    /// Sectors a GUF covers (values of the framework's `sector` dimension); empty for others.
    pub sectors: Vec<String>,
    /// The relay the organisation reports through, if any.
    pub via: Option<OrgId>,
    /// Whether that relay hosts the organisation (holds its key by delegation).
    pub hosted: bool,
    pub registered_at: Timestamp,
    /// When the organisation first enrolled a key; None if it never has.
    pub enrolled_at: Option<Timestamp>,
    /// When the operator deactivated it; it is no longer expected to report after that.
    pub deactivated_at: Option<Timestamp>,
    /// Every key the organisation has enrolled, with its state; kept after rotation and
    /// revocation so that old reports can still be traced to the key that signed them.
    pub keys: Vec<OrgKey>,
}

/// One Ed25519 public key of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgKey {
    /// Derived from the public key (see the envelope crate); only a look-up hint.
    pub key_id: String,
    pub public_key: [u8; 32],
    pub added_at: Timestamp,
    pub state: KeyState,
}

/// Whether a key may sign now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    /// Replaced by a newer key; still accepted until the end of its grace period.
    Rotated {
        grace_until: Timestamp,
    },
    /// Ended by the operator, or by enrolment with a re-issued join code.
    Revoked {
        at: Timestamp,
    },
}

impl OrgKey {
    /// Whether a signature by this key is accepted at `now`.
    pub fn accepts_at(&self, now: Timestamp) -> bool {
        match self.state {
            KeyState::Active => true,
            KeyState::Rotated { grace_until } => now < grace_until,
            KeyState::Revoked { .. } => false,
        }
    }
}

impl Organisation {
    /// Checks the rules that tie the fields together: a GUF is global with no country; any
    /// other organisation has a country and a region other than global; hosting needs a relay.
    pub fn check(&self) -> Result<(), OrgError> {
        if self.name.trim().is_empty() {
            return Err(OrgError::EmptyName);
        }
        let shape = |what| {
            Err(OrgError::Shape {
                kind: self.kind,
                what,
            })
        };
        match self.kind {
            OrgKind::Guf if self.country.is_some() => shape("no country"),
            OrgKind::Guf if self.region != Region::Global => shape("the global region"),
            OrgKind::NationalCentre | OrgKind::RegionalOrganisation if self.country.is_none() => {
                shape("a country")
            }
            OrgKind::NationalCentre | OrgKind::RegionalOrganisation
                if self.region == Region::Global =>
            {
                shape("a region other than global")
            }
            _ if self.hosted && self.via.is_none() => shape("a relay (--via) to be hosted"),
            _ => Ok(()),
        }
    }

    /// Whether the organisation is expected to report by `deadline`: registered by then and not
    /// deactivated before it. Enrolment does not matter: never enrolling is itself a finding.
    pub fn expected_at(&self, deadline: Timestamp) -> bool {
        self.registered_at <= deadline && self.deactivated_at.is_none_or(|d| d > deadline)
    }
}

/// The organisations of the alliance by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    pub orgs: BTreeMap<OrgId, Organisation>,
}

impl Registry {
    pub fn get(&self, id: &OrgId) -> Option<&Organisation> {
        self.orgs.get(id)
    }

    /// The organisation whose key verified a signature, with that key, if the key is accepted
    /// at `now`. Ed25519 keys are not shared, so at most one organisation holds a key.
    pub fn key_owner(
        &self,
        public_key: &[u8; 32],
        now: Timestamp,
    ) -> Option<(&Organisation, &OrgKey)> {
        self.orgs.values().find_map(|o| {
            o.keys
                .iter()
                .find(|k| &k.public_key == public_key && k.accepts_at(now))
                .map(|k| (o, k))
        })
    }

    pub fn insert(&mut self, org: Organisation) {
        self.orgs.insert(org.id.clone(), org);
    }
}

/// The officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE \
DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS \
GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW \
KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW \
MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO \
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM \
TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;

    fn org(kind: OrgKind, country: Option<&str>, region: Region) -> Organisation {
        Organisation {
            id: "x".parse().unwrap(),
            name: "X".into(),
            kind,
            country: country.map(|c| c.parse().unwrap()),
            region,
            sectors: vec![],
            via: None,
            hosted: false,
            registered_at: Timestamp(0),
            enrolled_at: None,
            deactivated_at: None,
            keys: vec![],
        }
    }

    #[test]
    fn ids() {
        assert!("cut-brazil_1".parse::<OrgId>().is_ok());
        for bad in ["", "CUT", "-x", "a b", "é", &"a".repeat(65)] {
            assert!(bad.parse::<OrgId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn countries() {
        assert_eq!("br".parse::<Country>().unwrap().as_str(), "BR");
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
        for bad in ["XX", "B", "BRA", "", "ZZ"] {
            assert!(bad.parse::<Country>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shapes() {
        assert!(
            org(OrgKind::NationalCentre, Some("BR"), Region::Americas)
                .check()
                .is_ok()
        );
        assert!(org(OrgKind::Guf, None, Region::Global).check().is_ok());
        assert!(
            org(OrgKind::Guf, Some("BR"), Region::Global)
                .check()
                .is_err()
        );
        assert!(
            org(OrgKind::NationalCentre, None, Region::Americas)
                .check()
                .is_err()
        );
        assert!(
            org(OrgKind::NationalCentre, Some("BR"), Region::Global)
                .check()
                .is_err()
        );
        let mut hosted = org(OrgKind::NationalCentre, Some("GH"), Region::Africa);
        hosted.hosted = true;
        assert!(hosted.check().is_err());
    }

    #[test]
    fn key_states() {
        let key = |state| OrgKey {
            key_id: "k".into(),
            public_key: [1; 32],
            added_at: Timestamp(0),
            state,
        };
        assert!(key(KeyState::Active).accepts_at(Timestamp(100)));
        let rotated = key(KeyState::Rotated {
            grace_until: Timestamp(50),
        });
        assert!(rotated.accepts_at(Timestamp(49)) && !rotated.accepts_at(Timestamp(50)));
        assert!(!key(KeyState::Revoked { at: Timestamp(0) }).accepts_at(Timestamp(0)));
    }

    #[test]
    fn expected() {
        let mut o = org(OrgKind::NationalCentre, Some("BR"), Region::Americas);
        o.registered_at = Timestamp(10);
        assert!(!o.expected_at(Timestamp(5)));
        assert!(o.expected_at(Timestamp(10)));
        o.deactivated_at = Some(Timestamp(20));
        assert!(o.expected_at(Timestamp(19)) && !o.expected_at(Timestamp(20)));
    }
}
