//! The merged view and coverage as wire messages (`QueryService`).
//!
//! The view goes out as flat rows, one per (group, indicator, dimension, dimension value), so
//! that the schema does not follow the domain's nesting. Rows come out in one deterministic
//! order: by group (the domain's order of [`GroupKey`]s), then indicator id, then the total
//! before its breakdowns, dimensions by id, values by id, and amounts by currency.
//!
//! What the rows hold, beyond what `query_service.proto` says:
//! - `organisations` is the number of contributions: reports, that is (organisation, period)
//!   pairs, so over a span of several periods an organisation that reported each period counts
//!   once per period for flows.
//! - A breakdown is sent only when at least one contribution gave it; then, if other
//!   contributions did not give it, a row with the dimension value [`NOT_BROKEN_DOWN`] carries
//!   their part of the total, so that the cells of the breakdown still add up to the total.
//! - Status rows are merged over the groups of the view and sent per country (the group is the
//!   country code, `none` for organisations without a country, `unregistered` for organisations
//!   the registry does not know), with the dimension `convention`, whatever the grouping: a
//!   country's organisations must be seen together for a disagreement to show as a conflict.
//! - Flag breakdown rows tally, per value, the organisations that gave the breakdown: `yes` those
//!   that said yes for the value, `no` the others.

use std::collections::BTreeMap;

use alliance_core::framework::IndicatorId;
use alliance_core::merge::{
    AmountCell, CountCell, CountView, Coverage, CoverageCounts, Equivocation, FlagView, GroupBy,
    GroupKey, OrgCoverage, StatusCell, Submission, View,
};
use alliance_core::org::{OrgId, Registry};
use alliance_core::report::Currency;

use crate::enums;
use crate::error::WireError;
use crate::pb;

/// The dimension value of the row that carries the part of a total given by contributions that
/// did not break it down by that dimension.
pub const NOT_BROKEN_DOWN: &str = "not_broken_down";

/// The dimension of status rows: statuses are given per convention.
pub const CONVENTION_DIMENSION: &str = "convention";

/// The view as the wire sends it, with every equivocation the view covers.
pub fn view_response(view: &View) -> pb::ViewResponse {
    let mut groups: BTreeMap<GroupKey, Vec<SortedRow>> = BTreeMap::new();
    for (key, group) in &view.groups {
        let rows = groups.entry(key.clone()).or_default();
        let name = key.to_string();
        for (indicator, count) in &group.counts {
            rows.extend(count_rows(&name, indicator, count));
        }
        for (indicator, flag) in &group.flags {
            rows.extend(flag_rows(&name, indicator, flag));
        }
        for (indicator, amounts) in &group.amounts {
            rows.extend(amount_rows(&name, indicator, amounts));
        }
    }
    for (country, rows) in status_rows(view) {
        groups.entry(country).or_default().extend(rows);
    }
    let rows = groups
        .into_values()
        .flat_map(|mut rows| {
            rows.sort_by(|a, b| a.key.cmp(&b.key));
            rows.into_iter().map(|r| r.row)
        })
        .collect();
    let mut equivocations = view.equivocations.clone();
    equivocations.sort();
    pb::ViewResponse {
        period: view.span.to_string(),
        group_by: group_by_to_i32(view.group_by),
        rows,
        equivocations: equivocations.iter().map(equivocation).collect(),
    }
}

impl From<&View> for pb::ViewResponse {
    fn from(view: &View) -> Self {
        view_response(view)
    }
}

/// Coverage as the wire sends it. Names, kinds and countries come from `registry`, the one the
/// coverage was computed against; an organisation it does not hold is sent with an empty name
/// and an unspecified kind rather than dropped.
pub fn coverage_response(coverage: &Coverage, registry: &Registry) -> pb::CoverageResponse {
    pb::CoverageResponse {
        period: coverage.period.to_string(),
        deadline_unix_seconds: coverage.deadline.seconds(),
        rows: coverage
            .orgs
            .iter()
            .map(|(id, standing)| coverage_row(id, standing, registry))
            .collect(),
        regions: coverage
            .by_region
            .iter()
            .map(|(region, counts)| region_coverage(enums::region_to_i32(*region), counts))
            .collect(),
    }
}

/// A grouping from the wire. `GROUP_BY_UNSPECIFIED` reads as the whole alliance, so that an
/// empty request shows everything.
pub fn group_by_from_wire(value: i32) -> Result<GroupBy, WireError> {
    match pb::GroupBy::try_from(value) {
        Ok(pb::GroupBy::Unspecified | pb::GroupBy::Alliance) => Ok(GroupBy::Alliance),
        Ok(pb::GroupBy::Region) => Ok(GroupBy::Region),
        Ok(pb::GroupBy::Country) => Ok(GroupBy::Country),
        Ok(pb::GroupBy::Kind) => Ok(GroupBy::Kind),
        Ok(pb::GroupBy::Sector) => Ok(GroupBy::Sector),
        Ok(pb::GroupBy::Organisation) => Ok(GroupBy::Org),
        Err(_) => Err(WireError::problem(format_args!(
            "unknown GroupBy value {value}"
        ))),
    }
}

/// The wire value of a [`GroupBy`].
pub fn group_by_to_i32(group_by: GroupBy) -> i32 {
    let wire = match group_by {
        GroupBy::Alliance => pb::GroupBy::Alliance,
        GroupBy::Region => pb::GroupBy::Region,
        GroupBy::Country => pb::GroupBy::Country,
        GroupBy::Kind => pb::GroupBy::Kind,
        GroupBy::Sector => pb::GroupBy::Sector,
        GroupBy::Org => pb::GroupBy::Organisation,
    };
    wire as i32
}

/// A row with the key it is ordered by within its group.
struct SortedRow {
    key: RowKey,
    row: pb::ViewRow,
}

/// Indicator, dimension (empty, so first, for the total), whether the row is the part not broken
/// down (after the values), value, and currency for amounts.
type RowKey = (String, String, bool, String, String);

impl SortedRow {
    fn new(
        group: &str,
        indicator: &IndicatorId,
        cell: (&str, &str),
        organisations: u64,
        value: pb::view_row::Value,
    ) -> Self {
        let (dimension, dimension_value) = cell;
        let currency = match &value {
            pb::view_row::Value::Amount(a) => a.currency.clone(),
            _ => String::new(),
        };
        SortedRow {
            key: (
                indicator.as_str().to_owned(),
                dimension.to_owned(),
                dimension_value == NOT_BROKEN_DOWN,
                dimension_value.to_owned(),
                currency,
            ),
            row: pb::ViewRow {
                group: group.to_owned(),
                indicator: indicator.as_str().to_owned(),
                dimension: dimension.to_owned(),
                dimension_value: dimension_value.to_owned(),
                organisations: saturate(organisations),
                value: Some(value),
            },
        }
    }
}

/// The total of a count, then every breakdown some contribution gave.
fn count_rows(group: &str, indicator: &IndicatorId, count: &CountView) -> Vec<SortedRow> {
    let row = |cell: (&str, &str), c: &CountCell| {
        let value = pb::view_row::Value::Count(count_range(c));
        SortedRow::new(group, indicator, cell, c.contributions, value)
    };
    let mut rows = vec![row(("", ""), &count.total)];
    for (dimension, breakdown) in &count.breakdowns {
        let given = breakdown.cells.values().any(|c| c.contributions > 0);
        if !given {
            continue;
        }
        for (value, cell) in &breakdown.cells {
            rows.push(row((dimension, value), cell));
        }
        if breakdown.not_broken_down.contributions > 0 {
            rows.push(row(
                (dimension, NOT_BROKEN_DOWN),
                &breakdown.not_broken_down,
            ));
        }
    }
    rows
}

/// The yes/no tally of a flag, then every breakdown some organisation gave.
fn flag_rows(group: &str, indicator: &IndicatorId, flag: &FlagView) -> Vec<SortedRow> {
    let tally = |yes: u64, no: u64| {
        pb::view_row::Value::Flag(pb::FlagTally {
            yes: saturate(yes),
            no: saturate(no),
        })
    };
    let total = flag.yes.saturating_add(flag.no);
    let mut rows = vec![SortedRow::new(
        group,
        indicator,
        ("", ""),
        total,
        tally(flag.yes, flag.no),
    )];
    for (dimension, breakdown) in flag.breakdowns.iter().filter(|(_, b)| b.organisations > 0) {
        for (value, yes) in &breakdown.yes {
            let no = breakdown.organisations.saturating_sub(*yes);
            let cell = (dimension.as_str(), value.as_str());
            rows.push(SortedRow::new(
                group,
                indicator,
                cell,
                breakdown.organisations,
                tally(*yes, no),
            ));
        }
    }
    rows
}

/// One row per currency: amounts are never converted.
fn amount_rows(
    group: &str,
    indicator: &IndicatorId,
    amounts: &BTreeMap<Currency, AmountCell>,
) -> Vec<SortedRow> {
    amounts
        .iter()
        .map(|(currency, cell)| {
            let value = pb::view_row::Value::Amount(pb::AmountSum {
                currency: currency.to_string(),
                hundredths: cell.total.to_string(),
            });
            SortedRow::new(group, indicator, ("", ""), cell.contributions, value)
        })
        .collect()
}

/// Status rows per country, merged over the view's groups.
///
/// Every organisation lies in at least one group of any grouping, so the merge sees each
/// organisation's status; an organisation in several groups (a GUF in several sectors) is the
/// same status seen twice, which the union absorbs.
fn status_rows(view: &View) -> BTreeMap<GroupKey, Vec<SortedRow>> {
    type Cells = BTreeMap<(IndicatorId, GroupKey, String), StatusCell>;
    let mut merged: Cells = BTreeMap::new();
    for group in view.groups.values() {
        for (indicator, countries) in &group.statuses {
            for (country, conventions) in countries {
                for (convention, cell) in conventions {
                    let key = (indicator.clone(), country.clone(), convention.clone());
                    merged
                        .entry(key)
                        .and_modify(|held| merge_status(held, cell))
                        .or_insert_with(|| cell.clone());
                }
            }
        }
    }
    let mut rows: BTreeMap<GroupKey, Vec<SortedRow>> = BTreeMap::new();
    for ((indicator, country, convention), cell) in merged {
        let organisations = cell.orgs.values().map(|o| o.len() as u64).sum();
        let row = SortedRow::new(
            &country.to_string(),
            &indicator,
            (CONVENTION_DIMENSION, &convention),
            organisations,
            pb::view_row::Value::Status(status_cell(&cell)),
        );
        rows.entry(country).or_default().push(row);
    }
    rows
}

/// A country shows its organisations' statuses of the latest period among them.
fn merge_status(held: &mut StatusCell, other: &StatusCell) {
    if other.period > held.period {
        *held = other.clone();
    } else if other.period == held.period {
        for (status, orgs) in &other.orgs {
            held.orgs
                .entry(*status)
                .or_default()
                .extend(orgs.iter().cloned());
        }
    }
}

fn status_cell(cell: &StatusCell) -> pb::StatusCell {
    let state = match cell.status() {
        Some(status) => pb::status_cell::State::Status(enums::convention_status_to_i32(status)),
        None => pb::status_cell::State::Conflict(pb::StatusConflict {
            statuses: cell
                .orgs
                .iter()
                .map(|(status, orgs)| pb::StatusOrganisations {
                    status: enums::convention_status_to_i32(*status),
                    org_ids: orgs.iter().map(OrgId::to_string).collect(),
                })
                .collect(),
        }),
    };
    pb::StatusCell { state: Some(state) }
}

fn count_range(cell: &CountCell) -> pb::CountRange {
    pb::CountRange {
        lo: u64::try_from(cell.lo).unwrap_or(u64::MAX),
        hi: u64::try_from(cell.hi).unwrap_or(u64::MAX),
        suppressed_contributions: saturate(cell.suppressed),
        exact: cell.is_exact(),
    }
}

fn equivocation(e: &Equivocation) -> pb::Equivocation {
    pb::Equivocation {
        org_id: e.org.to_string(),
        period: e.period.to_string(),
        revision: e.revision,
        report_ids: e.report_ids.iter().map(|id| id.0.to_vec()).collect(),
    }
}

fn coverage_row(id: &OrgId, standing: &OrgCoverage, registry: &Registry) -> pb::CoverageRow {
    let org = registry.get(id);
    pb::CoverageRow {
        org_id: id.to_string(),
        name: org.map(|o| o.name.clone()).unwrap_or_default(),
        kind: org.map_or(pb::OrgKind::Unspecified as i32, |o| {
            enums::org_kind_to_i32(o.kind)
        }),
        country: org
            .and_then(|o| o.country)
            .map(|c| c.to_string())
            .unwrap_or_default(),
        region: enums::region_to_i32(standing.region),
        enrolled: standing.enrolled,
        state: coverage_state(standing.submission) as i32,
        received_at_unix_seconds: standing.first_received_at.map(|t| t.seconds()),
        revision: standing.winning_revision.unwrap_or(0),
    }
}

fn coverage_state(submission: Submission) -> pb::CoverageState {
    match submission {
        Submission::OnTime => pb::CoverageState::OnTime,
        Submission::Late => pb::CoverageState::Late,
        Submission::Missing => pb::CoverageState::Missing,
        Submission::Withdrawn => pb::CoverageState::Withdrawn,
    }
}

fn region_coverage(region: i32, counts: &CoverageCounts) -> pb::RegionCoverage {
    pb::RegionCoverage {
        region,
        expected: saturate(counts.expected),
        on_time: saturate(counts.on_time),
        late: saturate(counts.late),
        missing: saturate(counts.missing),
        withdrawn: saturate(counts.withdrawn),
        never_enrolled: saturate(counts.never_enrolled),
    }
}

/// A count for a `uint32` field; no real alliance comes near the limit, but a wrapped count
/// would be a lie where a saturated one is merely capped.
fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_unspecified_reads_as_the_alliance_and_every_grouping_round_trips() {
        assert_eq!(group_by_from_wire(0), Ok(GroupBy::Alliance));
        for g in GroupBy::ALL {
            assert_eq!(group_by_from_wire(group_by_to_i32(g)), Ok(g));
        }
        let unknown = group_by_from_wire(42).unwrap_err().to_string();
        assert!(unknown.contains("unknown GroupBy value 42"), "{unknown}");
    }

    #[test]
    fn counts_beyond_the_wire_saturate() {
        let cell = CountCell {
            lo: u128::from(u64::MAX) + 1,
            hi: u128::MAX,
            contributions: 2,
            suppressed: u64::MAX,
        };
        let range = count_range(&cell);
        assert_eq!((range.lo, range.hi), (u64::MAX, u64::MAX));
        assert_eq!(range.suppressed_contributions, u32::MAX);
        assert!(!range.exact);
    }
}
