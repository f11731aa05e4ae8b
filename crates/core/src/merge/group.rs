//! The groups the view rolls organisations up into, and the registry attributes that decide them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::org::{Country, OrgId, OrgKind, Region, Registry};

/// What the view rolls organisations up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupBy {
    /// One group: the whole alliance.
    Alliance,
    Region,
    Country,
    /// National centre, regional organisation or GUF.
    Kind,
    /// A GUF's sectors; an organisation in several sectors counts in each.
    Sector,
    Org,
}

/// One group of a roll-up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupKey {
    Alliance,
    Region(Region),
    Country(Country),
    Kind(OrgKind),
    /// A value of the framework's `sector` dimension.
    Sector(String),
    Org(OrgId),
    /// The organisation has no value for the attribute: a GUF has no country, and an
    /// organisation other than a GUF usually has no sectors.
    None,
    /// The organisation is not in the registry, so its attributes are unknown. Its reports are
    /// still counted (in the alliance and under its own id) rather than dropped.
    Unregistered,
}

/// A roll-up name that is not one of `alliance`, `region`, `country`, `kind`, `sector`, `org`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown roll-up {0:?} (alliance, region, country, kind, sector, org)")]
pub struct GroupByError(pub String);

impl GroupBy {
    /// Every roll-up, from the widest to the narrowest.
    pub const ALL: [GroupBy; 6] = [
        GroupBy::Alliance,
        GroupBy::Region,
        GroupBy::Country,
        GroupBy::Kind,
        GroupBy::Sector,
        GroupBy::Org,
    ];

    /// The name a command line uses, such as `region`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Alliance => "alliance",
            GroupBy::Region => "region",
            GroupBy::Country => "country",
            GroupBy::Kind => "kind",
            GroupBy::Sector => "sector",
            GroupBy::Org => "org",
        }
    }
}

impl FromStr for GroupBy {
    type Err = GroupByError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GroupBy::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| GroupByError(s.to_owned()))
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for GroupKey {
    /// The plain id of the group, as a command line or a CSV column shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupKey::Alliance => f.write_str("alliance"),
            GroupKey::Region(r) => f.write_str(r.as_str()),
            GroupKey::Country(c) => f.write_str(c.as_str()),
            GroupKey::Kind(k) => f.write_str(k.as_str()),
            GroupKey::Sector(s) => f.write_str(s),
            GroupKey::Org(o) => f.write_str(o.as_str()),
            GroupKey::None => f.write_str("none"),
            GroupKey::Unregistered => f.write_str("unregistered"),
        }
    }
}

/// The attributes of one registered organisation that decide its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    region: Region,
    country: Option<Country>,
    kind: OrgKind,
    sectors: BTreeSet<String>,
}

/// The group attributes of every registered organisation, as the ledger last saw the registry.
///
/// The ledger keeps its own copy so that the aggregates and the view are always filed under the
/// same attributes; [`super::Ledger::set_registry`] replaces it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Directory(BTreeMap<OrgId, Attributes>);

impl Directory {
    pub(crate) fn from_registry(registry: &Registry) -> Self {
        Directory(
            registry
                .orgs
                .iter()
                .map(|(id, o)| {
                    let attributes = Attributes {
                        region: o.region,
                        country: o.country,
                        kind: o.kind,
                        sectors: o.sectors.iter().cloned().collect(),
                    };
                    (id.clone(), attributes)
                })
                .collect(),
        )
    }

    pub(crate) fn get(&self, org: &OrgId) -> Option<&Attributes> {
        self.0.get(org)
    }

    /// Every group of every roll-up the ledger keeps totals for that `org` belongs to. Not the
    /// organisation itself: its totals would be one more copy of every report it sent, which
    /// at the alliance's scale is most of the ledger's memory; the view by organisation is
    /// computed from the winners instead ([`super::Ledger::view_from_winners`]).
    pub(crate) fn all_groups(&self, org: &OrgId) -> Vec<(GroupBy, GroupKey)> {
        GroupBy::ALL
            .into_iter()
            .filter(|by| *by != GroupBy::Org)
            .flat_map(|by| self.groups(org, by).into_iter().map(move |k| (by, k)))
            .collect()
    }

    /// The groups of one roll-up that `org` belongs to: one, except for sectors, where a GUF
    /// counts in each of its sectors.
    pub(crate) fn groups(&self, org: &OrgId, by: GroupBy) -> Vec<GroupKey> {
        let attributes = self.get(org);
        match (by, attributes) {
            (GroupBy::Alliance, _) => vec![GroupKey::Alliance],
            (GroupBy::Org, _) => vec![GroupKey::Org(org.clone())],
            (_, None) => vec![GroupKey::Unregistered],
            (GroupBy::Region, Some(a)) => vec![GroupKey::Region(a.region)],
            (GroupBy::Country, Some(_)) => vec![self.country_key(org)],
            (GroupBy::Kind, Some(a)) => vec![GroupKey::Kind(a.kind)],
            (GroupBy::Sector, Some(a)) if a.sectors.is_empty() => vec![GroupKey::None],
            (GroupBy::Sector, Some(a)) => a.sectors.iter().cloned().map(GroupKey::Sector).collect(),
        }
    }

    /// The key statuses are shown under: the organisation's country.
    pub(crate) fn country_key(&self, org: &OrgId) -> GroupKey {
        match self.get(org) {
            None => GroupKey::Unregistered,
            Some(a) => a.country.map_or(GroupKey::None, GroupKey::Country),
        }
    }
}
