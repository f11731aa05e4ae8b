//! Version 1 of the framework, from ITUC circular 3(2008).

use super::{
    ActionPoint, Convention, DEFAULT_DEADLINE_DAYS, Dimension, DimensionValue, Framework,
    Indicator, IndicatorId, Temporal, ValueKind,
};
use crate::period::PeriodKind;

const ACTION_POINTS: [(&str, &str); 11] = [
    (
        "ratification",
        "Ratification and effective implementation of ILO C29, C105, C81, C129, C181, C97 and C143",
    ),
    (
        "awareness",
        "Awareness raising for members, officials and the wider public",
    ),
    (
        "negotiation",
        "Forced labour and trafficking in bipartite and tripartite negotiations and agreements",
    ),
    (
        "internal_support",
        "Political and material support within union organisations for policies against forced labour",
    ),
    (
        "monitoring",
        "Monitoring employment agencies and companies, including supply chains",
    ),
    (
        "exposure",
        "Identification, documentation and public exposure of cases",
    ),
    (
        "cooperation",
        "Bilateral, sectoral or regional union agreements; alliances with civil society",
    ),
    (
        "authorities",
        "Cooperation with labour inspection, law enforcement and other authorities",
    ),
    (
        "outreach",
        "Outreach and direct support to informal, unprotected and migrant workers, including organising them",
    ),
    (
        "equality",
        "Racism, discrimination and the gender dimension",
    ),
    (
        "gufs",
        "Work with Global Union Federations on the sectors most at risk",
    ),
];

type Values = &'static [(&'static str, &'static str)];

const SEX: Values = &[
    ("female", "Female"),
    ("male", "Male"),
    ("other", "Other"),
    ("unknown", "Unknown"),
];
const MIGRANT_STATUS: Values = &[
    ("migrant", "Migrant"),
    ("non_migrant", "Not a migrant"),
    ("unknown", "Unknown"),
];
/// Sectors, after the ILO's breakdown of forced labour by economic activity.
const SECTOR: Values = &[
    ("agriculture", "Agriculture"),
    ("fishing", "Fishing and aquaculture"),
    ("forestry", "Forestry"),
    ("mining", "Mining and quarrying"),
    ("construction", "Construction"),
    ("manufacturing", "Manufacturing"),
    ("textiles", "Textiles, garments and footwear"),
    ("domestic_work", "Domestic work"),
    ("hospitality", "Accommodation and food services"),
    ("transport", "Transport"),
    ("trade", "Wholesale and retail trade"),
    ("personal_services", "Personal services"),
    ("other", "Other sectors"),
];
const AGREEMENT_KIND: Values = &[("bipartite", "Bipartite"), ("tripartite", "Tripartite")];
const SCOPE: Values = &[
    ("bilateral", "Bilateral"),
    ("sectoral", "Sectoral"),
    ("regional", "Regional"),
];
const AUTHORITY: Values = &[
    ("labour_inspection", "Labour inspection"),
    ("police", "Police"),
    ("other", "Other authorities"),
];

use Temporal::{Flow, Stock};
use ValueKind::{Amount, Count, Flag, Status};

/// (id, title, kind, temporal, breakdowns, sensitive)
type Row = (
    &'static str,
    &'static str,
    ValueKind,
    Temporal,
    &'static [&'static str],
    bool,
);

const INDICATORS: &[Row] = &[
    (
        "ratification.convention_status",
        "Status of each convention",
        Status,
        Stock,
        &["convention"],
        false,
    ),
    (
        "ratification.supervisory_comments",
        "Comments sent to the ILO supervisory bodies",
        Count,
        Flow,
        &["convention"],
        false,
    ),
    (
        "awareness.activities",
        "Awareness-raising activities held",
        Count,
        Flow,
        &[],
        false,
    ),
    (
        "awareness.people_reached",
        "People reached by awareness raising",
        Count,
        Flow,
        &["sex"],
        false,
    ),
    (
        "awareness.materials_produced",
        "Materials produced",
        Count,
        Flow,
        &[],
        false,
    ),
    (
        "negotiation.agreements_with_clauses",
        "Agreements with clauses on forced labour and trafficking",
        Count,
        Flow,
        &["agreement_kind"],
        false,
    ),
    (
        "negotiation.negotiations_raised",
        "Negotiations in which the issue was raised",
        Count,
        Flow,
        &[],
        false,
    ),
    (
        "internal_support.policy_adopted",
        "A policy against forced labour is adopted",
        Flag,
        Stock,
        &[],
        false,
    ),
    (
        "internal_support.focal_point",
        "A focal point is appointed",
        Flag,
        Stock,
        &[],
        false,
    ),
    (
        "internal_support.budget_allocated",
        "Budget allocated to work against forced labour",
        Amount,
        Flow,
        &[],
        false,
    ),
    (
        "monitoring.agencies_monitored",
        "Employment agencies monitored",
        Count,
        Stock,
        &[],
        false,
    ),
    (
        "monitoring.companies_monitored",
        "Companies monitored, including supply chains",
        Count,
        Stock,
        &[],
        false,
    ),
    (
        "monitoring.abuses_detected",
        "Abuses detected",
        Count,
        Flow,
        &["sector"],
        false,
    ),
    (
        "exposure.cases_documented",
        "Cases of forced labour or trafficking documented",
        Count,
        Flow,
        &["sex", "migrant_status", "sector"],
        true,
    ),
    (
        "exposure.persons_concerned",
        "Persons concerned by the documented cases",
        Count,
        Flow,
        &["sex", "migrant_status"],
        true,
    ),
    (
        "exposure.cases_exposed_publicly",
        "Cases exposed publicly",
        Count,
        Flow,
        &[],
        false,
    ),
    (
        "cooperation.union_agreements",
        "Union agreements in force",
        Count,
        Stock,
        &["scope"],
        false,
    ),
    (
        "cooperation.civil_society_alliances",
        "Alliances with civil society in force",
        Count,
        Stock,
        &[],
        false,
    ),
    (
        "authorities.referrals",
        "Cases referred to authorities",
        Count,
        Flow,
        &["authority"],
        false,
    ),
    (
        "authorities.joint_actions",
        "Joint actions with authorities",
        Count,
        Flow,
        &[],
        false,
    ),
    (
        "authorities.working_groups",
        "Working groups with authorities",
        Count,
        Stock,
        &[],
        false,
    ),
    (
        "outreach.workers_reached",
        "Informal, unprotected and migrant workers reached",
        Count,
        Flow,
        &["sex", "migrant_status"],
        false,
    ),
    (
        "outreach.new_members",
        "New members organised among them",
        Count,
        Flow,
        &["sex", "migrant_status"],
        false,
    ),
    (
        "outreach.workers_assisted",
        "Workers given direct assistance",
        Count,
        Flow,
        &["sex", "migrant_status"],
        true,
    ),
    (
        "equality.gender_focused_activities",
        "Activities focused on the gender dimension",
        Count,
        Flow,
        &[],
        false,
    ),
    (
        "equality.women_in_focal_roles",
        "Women in focal roles",
        Count,
        Stock,
        &[],
        false,
    ),
    (
        "gufs.joint_activities",
        "Joint activities with Global Union Federations",
        Count,
        Flow,
        &["sector"],
        false,
    ),
    (
        "gufs.sectors_targeted",
        "Sectors targeted with Global Union Federations",
        Flag,
        Stock,
        &["sector"],
        false,
    ),
];

pub(super) fn framework() -> Framework {
    let conventions: Vec<(&str, &str)> = Convention::ALL
        .iter()
        .map(|c| (c.id(), c.title()))
        .collect();
    let dimensions = vec![
        dimension("sex", "Sex", SEX),
        dimension("migrant_status", "Migrant status", MIGRANT_STATUS),
        dimension("sector", "Sector", SECTOR),
        dimension("convention", "ILO convention", &conventions),
        dimension("agreement_kind", "Kind of agreement", AGREEMENT_KIND),
        dimension("scope", "Scope of agreement", SCOPE),
        dimension("authority", "Authority", AUTHORITY),
    ];
    Framework {
        version: 1,
        period_kind: PeriodKind::Year,
        deadline_days: DEFAULT_DEADLINE_DAYS,
        action_points: ACTION_POINTS
            .iter()
            .map(|(id, title)| ActionPoint {
                id: (*id).into(),
                title: (*title).into(),
            })
            .collect(),
        dimensions,
        indicators: INDICATORS
            .iter()
            .map(
                |&(id, title, kind, temporal, breakdowns, sensitive)| Indicator {
                    id: IndicatorId(id.to_owned()),
                    title: title.into(),
                    kind,
                    temporal,
                    breakdowns: breakdowns.iter().map(|b| (*b).to_owned()).collect(),
                    sensitive,
                    retired: false,
                },
            )
            .collect(),
    }
}

fn dimension(id: &str, title: &str, values: &[(&str, &str)]) -> Dimension {
    Dimension {
        id: id.into(),
        title: title.into(),
        values: values
            .iter()
            .map(|(id, title)| DimensionValue {
                id: (*id).into(),
                title: (*title).into(),
            })
            .collect(),
    }
}
