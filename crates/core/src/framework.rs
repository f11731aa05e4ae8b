//! The reporting framework: action points, indicators and the dimensions they break down by.
//!
//! The framework is data. Version 1 ([`Framework::v1`]) ships with the hub; the hub signs and
//! sends it to nodes, which validate against whatever version they were sent, so a new version
//! needs no node upgrade. An indicator id never changes meaning; a retired indicator stays
//! readable in old reports but new reports may not use it.

mod v1;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::period::PeriodKind;

/// The default number of days after a period's end by which its reports are due.
pub const DEFAULT_DEADLINE_DAYS: u32 = 90;

/// One version of the reporting framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framework {
    pub version: u32,
    /// The one period kind this version's reports use.
    pub period_kind: PeriodKind,
    /// Days after a period's end by which its reports are due (the operator may override it).
    pub deadline_days: u32,
    pub action_points: Vec<ActionPoint>,
    pub dimensions: Vec<Dimension>,
    pub indicators: Vec<Indicator>,
}

/// One of the eleven action points of the alliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPoint {
    pub id: String,
    pub title: String,
}

/// A dimension that counts break down by, such as sex or sector, with its closed list of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimension {
    pub id: String,
    pub title: String,
    pub values: Vec<DimensionValue>,
}

/// One value of a dimension, such as `female`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimensionValue {
    pub id: String,
    pub title: String,
}

/// One indicator of an action point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    pub id: IndicatorId,
    pub title: String,
    pub kind: ValueKind,
    pub temporal: Temporal,
    /// Ids of the dimensions this indicator breaks down by. Breakdowns are marginal: each one is a
    /// separate split of the same total.
    pub breakdowns: Vec<String>,
    /// Sensitive counts can identify victims: nodes apply disclosure control to them.
    pub sensitive: bool,
    /// Retired indicators stay readable but new reports may not carry them.
    pub retired: bool,
}

/// What kind of value an indicator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValueKind {
    /// A non-negative integer, with optional marginal breakdowns.
    Count,
    /// A [`ConventionStatus`] per value of the indicator's one breakdown (the convention).
    Status,
    /// Yes or no; the view counts organisations.
    Flag,
    /// Money in one or more ISO 4217 currencies, summed per currency only.
    Amount,
}

/// How values combine over several periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Temporal {
    /// Summed over time (activities held, cases documented).
    Flow,
    /// The latest value stands (agencies monitored, a policy adopted, a ratification status).
    Stock,
}

/// Where a convention stands in a country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConventionStatus {
    NotRatified,
    CampaignUnderWay,
    Ratified,
    RatifiedWithGaps,
}

/// The ILO conventions the alliance campaigns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Convention {
    C29,
    C105,
    C81,
    C129,
    C181,
    C97,
    C143,
}

/// An indicator id, `action_point.indicator`, both parts of `a-z`, `0-9` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndicatorId(String);

/// Why a framework document or an indicator id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameworkError {
    #[error("indicator id {0:?} is not of the form action_point.indicator")]
    IndicatorId(String),
    #[error("{what} {id:?} is defined twice")]
    Duplicate { what: &'static str, id: String },
    #[error("indicator {indicator} names unknown {what} {id:?}")]
    Dangling {
        indicator: String,
        what: &'static str,
        id: String,
    },
    #[error("indicator {0}: a status indicator breaks down by exactly one dimension")]
    StatusShape(String),
    #[error("indicator {0}: only counts can be sensitive")]
    SensitiveKind(String),
    #[error("unknown convention status {0:?}")]
    Status(String),
    #[error("dimension {0:?} has fewer than two values")]
    DimensionTooSmall(String),
    #[error("framework version must be at least 1")]
    Version,
}

impl Framework {
    /// Version 1, from ITUC circular 3(2008).
    pub fn v1() -> Framework {
        v1::framework()
    }

    pub fn indicator(&self, id: &IndicatorId) -> Option<&Indicator> {
        self.indicators.iter().find(|i| &i.id == id)
    }

    pub fn dimension(&self, id: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.id == id)
    }

    pub fn action_point(&self, id: &str) -> Option<&ActionPoint> {
        self.action_points.iter().find(|a| a.id == id)
    }

    /// The indicators of one action point, in framework order.
    pub fn indicators_of<'a>(
        &'a self,
        action_point: &'a str,
    ) -> impl Iterator<Item = &'a Indicator> {
        self.indicators
            .iter()
            .filter(move |i| i.id.action_point() == action_point)
    }

    /// Checks that a framework received from elsewhere hangs together: ids unique, every
    /// reference resolves, status indicators have one breakdown, dimensions have two values or
    /// more (a breakdown of one value would publish its total twice).
    pub fn check(&self) -> Result<(), FrameworkError> {
        if self.version == 0 {
            return Err(FrameworkError::Version);
        }
        unique(
            "action point",
            self.action_points.iter().map(|a| a.id.as_str()),
        )?;
        unique("dimension", self.dimensions.iter().map(|d| d.id.as_str()))?;
        unique("indicator", self.indicators.iter().map(|i| i.id.as_str()))?;
        for d in &self.dimensions {
            unique("dimension value", d.values.iter().map(|v| v.id.as_str()))?;
            if d.values.len() < 2 {
                return Err(FrameworkError::DimensionTooSmall(d.id.clone()));
            }
        }
        for i in &self.indicators {
            let dangling = |what, id: &str| FrameworkError::Dangling {
                indicator: i.id.to_string(),
                what,
                id: id.to_owned(),
            };
            if self.action_point(i.id.action_point()).is_none() {
                return Err(dangling("action point", i.id.action_point()));
            }
            unique("breakdown", i.breakdowns.iter().map(String::as_str))?;
            if let Some(b) = i.breakdowns.iter().find(|b| self.dimension(b).is_none()) {
                return Err(dangling("dimension", b));
            }
            if i.kind == ValueKind::Status && i.breakdowns.len() != 1 {
                return Err(FrameworkError::StatusShape(i.id.to_string()));
            }
            if i.sensitive && i.kind != ValueKind::Count {
                return Err(FrameworkError::SensitiveKind(i.id.to_string()));
            }
        }
        Ok(())
    }
}

fn unique<'a>(
    what: &'static str,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), FrameworkError> {
    let mut seen = BTreeSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(FrameworkError::Duplicate {
                what,
                id: id.to_owned(),
            });
        }
    }
    Ok(())
}

impl Dimension {
    pub fn has_value(&self, id: &str) -> bool {
        self.values.iter().any(|v| v.id == id)
    }
}

impl IndicatorId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The action point part, before the dot.
    pub fn action_point(&self) -> &str {
        self.0.split_once('.').map_or("", |(a, _)| a)
    }
}

impl FromStr for IndicatorId {
    type Err = FrameworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let part = |p: &str| {
            !p.is_empty()
                && p.len() <= 64
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        match s.split_once('.') {
            Some((a, i)) if part(a) && part(i) => Ok(IndicatorId(s.to_owned())),
            _ => Err(FrameworkError::IndicatorId(s.to_owned())),
        }
    }
}

impl fmt::Display for IndicatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Count => "count",
            ValueKind::Status => "status",
            ValueKind::Flag => "flag",
            ValueKind::Amount => "amount",
        }
    }
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ConventionStatus {
    pub const ALL: [ConventionStatus; 4] = [
        ConventionStatus::NotRatified,
        ConventionStatus::CampaignUnderWay,
        ConventionStatus::Ratified,
        ConventionStatus::RatifiedWithGaps,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConventionStatus::NotRatified => "not_ratified",
            ConventionStatus::CampaignUnderWay => "campaign_under_way",
            ConventionStatus::Ratified => "ratified",
            ConventionStatus::RatifiedWithGaps => "ratified_with_gaps",
        }
    }
}

impl FromStr for ConventionStatus {
    type Err = FrameworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConventionStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| FrameworkError::Status(s.to_owned()))
    }
}

impl fmt::Display for ConventionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Convention {
    pub const ALL: [Convention; 7] = [
        Convention::C29,
        Convention::C105,
        Convention::C81,
        Convention::C129,
        Convention::C181,
        Convention::C97,
        Convention::C143,
    ];

    /// The value id in the `convention` dimension, such as `c29`.
    pub fn id(self) -> &'static str {
        match self {
            Convention::C29 => "c29",
            Convention::C105 => "c105",
            Convention::C81 => "c81",
            Convention::C129 => "c129",
            Convention::C181 => "c181",
            Convention::C97 => "c97",
            Convention::C143 => "c143",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Convention::C29 => "Forced Labour Convention, 1930 (No. 29)",
            Convention::C105 => "Abolition of Forced Labour Convention, 1957 (No. 105)",
            Convention::C81 => "Labour Inspection Convention, 1947 (No. 81)",
            Convention::C129 => "Labour Inspection (Agriculture) Convention, 1969 (No. 129)",
            Convention::C181 => "Private Employment Agencies Convention, 1997 (No. 181)",
            Convention::C97 => "Migration for Employment Convention (Revised), 1949 (No. 97)",
            Convention::C143 => {
                "Migrant Workers (Supplementary Provisions) Convention, 1975 (No. 143)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_hangs_together() {
        let f = Framework::v1();
        f.check().unwrap();
        assert_eq!(f.version, 1);
        assert_eq!(f.period_kind, PeriodKind::Year);
        assert_eq!(f.action_points.len(), 11);
        for ap in &f.action_points {
            assert!(
                f.indicators_of(&ap.id).count() >= 1,
                "{} has no indicator",
                ap.id
            );
        }
    }

    #[test]
    fn v1_has_every_indicator_of_the_circular() {
        let f = Framework::v1();
        let expect = [
            (
                "ratification.convention_status",
                ValueKind::Status,
                Temporal::Stock,
                &["convention"][..],
                false,
            ),
            (
                "ratification.supervisory_comments",
                ValueKind::Count,
                Temporal::Flow,
                &["convention"],
                false,
            ),
            (
                "awareness.activities",
                ValueKind::Count,
                Temporal::Flow,
                &[],
                false,
            ),
            (
                "awareness.people_reached",
                ValueKind::Count,
                Temporal::Flow,
                &["sex"],
                false,
            ),
            (
                "awareness.materials_produced",
                ValueKind::Count,
                Temporal::Flow,
                &[],
                false,
            ),
            (
                "negotiation.agreements_with_clauses",
                ValueKind::Count,
                Temporal::Flow,
                &["agreement_kind"],
                false,
            ),
            (
                "negotiation.negotiations_raised",
                ValueKind::Count,
                Temporal::Flow,
                &[],
                false,
            ),
            (
                "internal_support.policy_adopted",
                ValueKind::Flag,
                Temporal::Stock,
                &[],
                false,
            ),
            (
                "internal_support.focal_point",
                ValueKind::Flag,
                Temporal::Stock,
                &[],
                false,
            ),
            (
                "internal_support.budget_allocated",
                ValueKind::Amount,
                Temporal::Flow,
                &[],
                false,
            ),
            (
                "monitoring.agencies_monitored",
                ValueKind::Count,
                Temporal::Stock,
                &[],
                false,
            ),
            (
                "monitoring.companies_monitored",
                ValueKind::Count,
                Temporal::Stock,
                &[],
                false,
            ),
            (
                "monitoring.abuses_detected",
                ValueKind::Count,
                Temporal::Flow,
                &["sector"],
                false,
            ),
            (
                "exposure.cases_documented",
                ValueKind::Count,
                Temporal::Flow,
                &["sex", "migrant_status", "sector"],
                true,
            ),
            (
                "exposure.persons_concerned",
                ValueKind::Count,
                Temporal::Flow,
                &["sex", "migrant_status"],
                true,
            ),
            (
                "exposure.cases_exposed_publicly",
                ValueKind::Count,
                Temporal::Flow,
                &[],
                false,
            ),
            (
                "cooperation.union_agreements",
                ValueKind::Count,
                Temporal::Stock,
                &["scope"],
                false,
            ),
            (
                "cooperation.civil_society_alliances",
                ValueKind::Count,
                Temporal::Stock,
                &[],
                false,
            ),
            (
                "authorities.referrals",
                ValueKind::Count,
                Temporal::Flow,
                &["authority"],
                false,
            ),
            (
                "authorities.joint_actions",
                ValueKind::Count,
                Temporal::Flow,
                &[],
                false,
            ),
            (
                "authorities.working_groups",
                ValueKind::Count,
                Temporal::Stock,
                &[],
                false,
            ),
            (
                "outreach.workers_reached",
                ValueKind::Count,
                Temporal::Flow,
                &["sex", "migrant_status"],
                false,
            ),
            (
                "outreach.new_members",
                ValueKind::Count,
                Temporal::Flow,
                &["sex", "migrant_status"],
                false,
            ),
            (
                "outreach.workers_assisted",
                ValueKind::Count,
                Temporal::Flow,
                &["sex", "migrant_status"],
                true,
            ),
            (
                "equality.gender_focused_activities",
                ValueKind::Count,
                Temporal::Flow,
                &[],
                false,
            ),
            (
                "equality.women_in_focal_roles",
                ValueKind::Count,
                Temporal::Stock,
                &[],
                false,
            ),
            (
                "gufs.joint_activities",
                ValueKind::Count,
                Temporal::Flow,
                &["sector"],
                false,
            ),
            (
                "gufs.sectors_targeted",
                ValueKind::Flag,
                Temporal::Stock,
                &["sector"],
                false,
            ),
        ];
        assert_eq!(f.indicators.len(), expect.len());
        for (id, kind, temporal, breakdowns, sensitive) in expect {
            let i = f
                .indicator(&id.parse().unwrap())
                .unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(
                (i.kind, i.temporal, i.sensitive),
                (kind, temporal, sensitive),
                "{id}"
            );
            assert_eq!(i.breakdowns, breakdowns, "{id}");
        }
        let sex = f.dimension("sex").unwrap();
        let ids: Vec<_> = sex.values.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["female", "male", "other", "unknown"]);
        assert_eq!(f.dimension("convention").unwrap().values.len(), 7);
    }

    #[test]
    fn check_refuses_broken_frameworks() {
        let mut f = Framework::v1();
        f.indicators[0].breakdowns.push("nope".into());
        assert!(matches!(f.check(), Err(FrameworkError::Dangling { .. })));
        let mut f = Framework::v1();
        f.dimensions.push(f.dimensions[0].clone());
        assert!(matches!(f.check(), Err(FrameworkError::Duplicate { .. })));
    }

    #[test]
    fn indicator_ids() {
        let id: IndicatorId = "exposure.cases_documented".parse().unwrap();
        assert_eq!(id.action_point(), "exposure");
        for bad in ["exposure", ".x", "x.", "Exposure.x", "a.b.c", "a-b.c"] {
            assert!(bad.parse::<IndicatorId>().is_err(), "{bad:?}");
        }
    }
}
