//! Disclosure control: what a node withholds from sensitive counts before a report leaves it.
//!
//! Some counts are about victims of forced labour (cases documented, persons concerned, workers
//! assisted), and a small number in a breakdown can point at a person. [`protect`] takes a report
//! of true values and returns the form that may leave the node. It is a pure function of its
//! arguments, so the node's preview and its submission show exactly the same thing.
//!
//! # The rules, for a threshold `t` (DESIGN.md §5)
//!
//! They apply to every count of every indicator the framework marks sensitive; everything else
//! passes through unchanged.
//!
//! 1. A total or a cell from 1 to `t − 1` is suppressed (primary suppression).
//! 2. In a breakdown with any suppressed cell, zeros are suppressed too: a published zero beside
//!    one suppressed cell says who the victims are.
//! 3. The rule to meet: for every suppressed cell, every value from 0 to `t − 1` stays consistent
//!    with everything the report publishes, a suppressed cell being known only to be at least 0.
//!    With a published total `T`, breakdowns do not constrain each other (each adds up to the same
//!    known `T`), and inside one breakdown a suppressed cell can take every value from 0 to the
//!    remainder `R` (`T` minus the published cells) when another cell is suppressed too, but only
//!    `R` itself when it is alone. So a breakdown meets the rule when it suppresses nothing, or at
//!    least two cells with `R ≥ t − 1`. Complementary suppression adds published cells, smallest
//!    first and ties broken by value id, until that holds.
//! 4. Where a breakdown cannot meet it with the total published, the total is suppressed and so
//!    is every cell of every breakdown: with everything unknown, each cell can take any value.
//!    With a published total `T ≥ t`, suppressing a whole breakdown always meets the rule
//!    (`R = T ≥ t − 1`, and a framework's dimensions have at least two values), so a total is
//!    only withheld when it is below `t`. The hub's view relies on that bound.
//!
//! A breakdown that suppresses anything lists every value of its dimension, taken from the
//! framework, because an unlisted value reads as a published zero. A breakdown that suppresses
//! nothing leaves exactly as it came.
//!
//! # Later revisions
//!
//! The node passes the published forms of the earlier revisions of the same period that it holds,
//! so that all of them together reveal no more than the rule allows.
//!
//! - **Cells are sticky.** A cell that any earlier revision suppressed, in a breakdown the new
//!   revision carries too, is suppressed again before zeros and complementary suppression are
//!   applied. Without this, a cell suppressed only to protect another (a 10 beside a 1) could be
//!   published by the next revision and the small cell of the earlier one worked out by
//!   difference. With the same true values and threshold, the new revision then suppresses
//!   exactly what the earlier one did in every breakdown both carry, breakdowns do not constrain
//!   each other once the total is known, and the total gets the same decision, so the union of
//!   both publications meets the rule: the integration tests check exactly that, by brute force.
//! - **A total is sticky only below `t`.** A withheld total was below `t` (rule 4), so a total
//!   that is now `t` or more cannot be the value that was withheld, and publishing it says
//!   nothing about it; making it sticky would hide the indicator and every cell of it for the
//!   rest of the period once it had been small, and would break the hub's bound on withheld
//!   totals. A total from 1 to `t − 1` is withheld anyway, which leaves 0: a total withheld
//!   earlier stays withheld when it is now 0, since the withheld value may have been 0 (withheld
//!   because of sticky cells).
//!
//! Limits, which the node's preview should state beside the narratives warning:
//!
//! - Lowering the threshold between revisions makes the union meet the rule at the new threshold
//!   only: a total withheld under the old one may now be published. Raising it cannot take back
//!   what earlier revisions published.
//! - Where true values change between revisions, the difference between two published totals
//!   shows by how much the count changed (20, then 21: one case was added), and a cell published
//!   earlier and unchanged since narrows what the new revision's suppressed cells can be for an
//!   observer who guesses it unchanged. The rule is about a period's values, not about changes,
//!   and hiding those would mean withholding totals of `t` or more, which the hub's bounds do not
//!   allow.
//!
//! # Threshold
//!
//! The threshold must be from 2 to [`MAX_DISCLOSURE_THRESHOLD`]. A threshold of 1 would suppress
//! nothing at all and send every victim count as it is; rather than do that quietly, [`protect`]
//! refuses it, and a node that is configured with it fails loudly.

use std::collections::{BTreeMap, BTreeSet};

use crate::framework::{Dimension, Framework, IndicatorId};
use crate::period::Period;
use crate::report::{Cell, CountValue, Report, Value};
use crate::validate::{MAX_DISCLOSURE_THRESHOLD, Problem, ReportError};

/// The smallest threshold disclosure control accepts: a threshold of 1 would suppress nothing.
pub const MIN_DISCLOSURE_THRESHOLD: u64 = 2;

/// Why disclosure control could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisclosureError {
    #[error(
        "disclosure threshold {0} is outside {MIN_DISCLOSURE_THRESHOLD}..={MAX_DISCLOSURE_THRESHOLD}"
    )]
    Threshold(u64),
    #[error(
        "an earlier revision given is of {org} {period}, not of the report's organisation and period"
    )]
    EarlierOfAnotherPeriod { org: String, period: Period },
    /// A field of the input does not hold true values that fit the framework. The field is a path
    /// such as `values["exposure.cases_documented"].breakdowns["sex"]`.
    #[error(transparent)]
    Input(ReportError),
}

/// The form of `report` that may leave the node, with disclosure control applied at `threshold`
/// to every count of every indicator that `framework` marks sensitive.
///
/// `report` holds true values: every cell published, every breakdown adding up to its total.
/// `earlier` holds the published forms of the earlier revisions of the same organisation and
/// period that the node holds, in any order; see the module documentation for what is done with
/// them. Values of other indicators pass through unchanged, and the result carries
/// `disclosure_threshold = threshold`. Whenever `report` passes [`Framework::check_report`], so
/// does the result.
pub fn protect(
    report: &Report,
    framework: &Framework,
    threshold: u64,
    earlier: &[Report],
) -> Result<Report, DisclosureError> {
    check_threshold(threshold)?;
    if let Some(other) = earlier.iter().find(|e| e.key() != report.key()) {
        return Err(DisclosureError::EarlierOfAnotherPeriod {
            org: other.org.to_string(),
            period: other.period,
        });
    }
    let mut out = report.clone();
    out.disclosure_threshold = threshold;
    for (id, value) in &report.values {
        let field = || format!("values[{:?}]", id.as_str());
        let indicator = framework
            .indicator(id)
            .ok_or_else(|| input_error(field(), Problem::UnknownIndicator))?;
        // Only counts can be sensitive (Framework::check); anything else passes through.
        let Value::Count(count) = value else {
            continue;
        };
        if !indicator.sensitive {
            continue;
        }
        // A dimension the framework does not define cannot be a breakdown of this count; the
        // check of the count's keys against `dimensions` reports it.
        let dimensions: Vec<&Dimension> = indicator
            .breakdowns
            .iter()
            .filter_map(|d| framework.dimension(d))
            .collect();
        let before: Vec<&CountValue> = earlier.iter().filter_map(|e| count_of(e, id)).collect();
        let protected = protect_count(count, &dimensions, threshold, &before)
            .map_err(|e| e.within(&field()))?;
        out.values.insert(id.clone(), Value::Count(protected));
    }
    Ok(out)
}

/// The form of one sensitive count that may leave the node, at `threshold`.
///
/// `value` holds true values; `dimensions` are the dimensions the indicator breaks down by (every
/// breakdown of `value` must be one of them, and its values are listed in full where a breakdown
/// suppresses anything); `earlier` holds the published forms of the same indicator in the earlier
/// revisions of the period.
pub fn protect_count(
    value: &CountValue,
    dimensions: &[&Dimension],
    threshold: u64,
    earlier: &[&CountValue],
) -> Result<CountValue, DisclosureError> {
    check_threshold(threshold)?;
    let total = value
        .total
        .published()
        .ok_or_else(|| input_error("total".to_owned(), Problem::AlreadySuppressed))?;
    let breakdowns = true_breakdowns(value, dimensions, total)?;

    if (1..threshold).contains(&total) {
        return Ok(suppress_everything(&breakdowns));
    }
    // A total withheld earlier was below the threshold, so only a total still below it could be
    // that value; from 1 up it was withheld just above, which leaves 0 (see the module docs).
    if total == 0 && earlier.iter().any(|e| e.total.is_suppressed()) {
        return Ok(suppress_everything(&breakdowns));
    }

    let mut out = CountValue {
        total: Cell::Published(total),
        breakdowns: BTreeMap::new(),
    };
    for b in &breakdowns {
        let sticky = sticky_cells(earlier, b.dimension);
        match plan_breakdown(b, total, threshold, &sticky) {
            Plan::Unchanged => {
                out.breakdowns
                    .insert(b.dimension.id.clone(), b.input.clone());
            }
            Plan::Suppress(cells) => {
                out.breakdowns.insert(b.dimension.id.clone(), cells);
            }
            Plan::Infeasible => return Ok(suppress_everything(&breakdowns)),
        }
    }
    Ok(out)
}

/// One breakdown of the input, with every value of its dimension in the dimension's order.
struct TrueBreakdown<'a> {
    dimension: &'a Dimension,
    /// The breakdown as it came, returned as it is when nothing in it is suppressed.
    input: &'a BTreeMap<String, Cell>,
    /// (value id, true count) for every value of the dimension, unlisted ones as 0.
    cells: Vec<(&'a str, u64)>,
}

/// What to do with one breakdown when the total is published.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Nothing in it is suppressed.
    Unchanged,
    /// Every value of the dimension, some suppressed.
    Suppress(BTreeMap<String, Cell>),
    /// The rule cannot be met with the total published.
    Infeasible,
}

fn check_threshold(threshold: u64) -> Result<(), DisclosureError> {
    if (MIN_DISCLOSURE_THRESHOLD..=MAX_DISCLOSURE_THRESHOLD).contains(&threshold) {
        Ok(())
    } else {
        Err(DisclosureError::Threshold(threshold))
    }
}

fn count_of<'a>(report: &'a Report, id: &IndicatorId) -> Option<&'a CountValue> {
    match report.values.get(id) {
        Some(Value::Count(count)) => Some(count),
        _ => None,
    }
}

/// The breakdowns of `value` with every value of their dimension, after checking that they hold
/// true values that add up to `total`: the reasoning of rule 3 holds only for those.
fn true_breakdowns<'a>(
    value: &'a CountValue,
    dimensions: &[&'a Dimension],
    total: u64,
) -> Result<Vec<TrueBreakdown<'a>>, DisclosureError> {
    let mut out = Vec::with_capacity(value.breakdowns.len());
    for (dimension_id, input) in &value.breakdowns {
        let field = format!("breakdowns[{dimension_id:?}]");
        let dimension = dimensions
            .iter()
            .copied()
            .find(|d| &d.id == dimension_id)
            .ok_or_else(|| input_error(field.clone(), Problem::UnknownBreakdown))?;
        let mut sum: u64 = 0;
        for (value_id, cell) in input {
            let cell_field = || format!("{field}[{value_id:?}]");
            if !dimension.has_value(value_id) {
                return Err(input_error(
                    cell_field(),
                    Problem::UnknownValue {
                        dimension: dimension_id.clone(),
                    },
                ));
            }
            let Cell::Published(n) = cell else {
                return Err(input_error(cell_field(), Problem::AlreadySuppressed));
            };
            sum = sum
                .checked_add(*n)
                .ok_or_else(|| input_error(field.clone(), Problem::Overflow))?;
        }
        if sum != total {
            return Err(input_error(field, Problem::CellsDoNotAddUp { sum, total }));
        }
        let cells = dimension
            .values
            .iter()
            .map(|v| {
                let n = input
                    .get(&v.id)
                    .and_then(|c| c.published())
                    .unwrap_or_default();
                (v.id.as_str(), n)
            })
            .collect();
        out.push(TrueBreakdown {
            dimension,
            input,
            cells,
        });
    }
    Ok(out)
}

/// The values of `dimension` that an earlier revision suppressed in its breakdown by it.
fn sticky_cells<'a>(earlier: &[&'a CountValue], dimension: &Dimension) -> BTreeSet<&'a str> {
    earlier
        .iter()
        .filter_map(|e| e.breakdowns.get(&dimension.id))
        .flat_map(|cells| cells.iter())
        .filter(|(_, cell)| cell.is_suppressed())
        .map(|(value_id, _)| value_id.as_str())
        .collect()
}

/// Rules 1 to 3 for one breakdown of a published `total`.
fn plan_breakdown(
    breakdown: &TrueBreakdown<'_>,
    total: u64,
    threshold: u64,
    sticky: &BTreeSet<&str>,
) -> Plan {
    let mut suppressed: BTreeSet<&str> = breakdown
        .cells
        .iter()
        .filter(|(id, n)| (1..threshold).contains(n) || sticky.contains(id))
        .map(|(id, _)| *id)
        .collect();
    if suppressed.is_empty() {
        return Plan::Unchanged;
    }
    suppressed.extend(
        breakdown
            .cells
            .iter()
            .filter(|(_, n)| *n == 0)
            .map(|(id, _)| *id),
    );

    // The remainder is the sum of the suppressed true values; the input adds up to `total`, so
    // it cannot overflow.
    let mut remainder: u64 = breakdown
        .cells
        .iter()
        .filter(|(id, _)| suppressed.contains(id))
        .map(|(_, n)| n)
        .sum();
    let mut candidates: Vec<(u64, &str)> = breakdown
        .cells
        .iter()
        .filter(|(id, _)| !suppressed.contains(id))
        .map(|&(id, n)| (n, id))
        .collect();
    candidates.sort_unstable();
    let mut candidates = candidates.into_iter();
    let meets_rule = |count: usize, remainder: u64| count >= 2 && remainder >= threshold - 1;
    while !meets_rule(suppressed.len(), remainder) {
        let Some((n, id)) = candidates.next() else {
            return Plan::Infeasible;
        };
        suppressed.insert(id);
        remainder += n;
    }
    // With a published total, the remainder never exceeds it.
    debug_assert!(remainder <= total);

    let cells = breakdown
        .cells
        .iter()
        .map(|&(id, n)| {
            let cell = if suppressed.contains(id) {
                Cell::Suppressed
            } else {
                Cell::Published(n)
            };
            (id.to_owned(), cell)
        })
        .collect();
    Plan::Suppress(cells)
}

/// Rule 4: the total and every cell of every breakdown withheld.
fn suppress_everything(breakdowns: &[TrueBreakdown<'_>]) -> CountValue {
    CountValue {
        total: Cell::Suppressed,
        breakdowns: breakdowns
            .iter()
            .map(|b| {
                let cells = b
                    .cells
                    .iter()
                    .map(|(id, _)| ((*id).to_owned(), Cell::Suppressed))
                    .collect();
                (b.dimension.id.clone(), cells)
            })
            .collect(),
    }
}

fn input_error(field: String, problem: Problem) -> DisclosureError {
    DisclosureError::Input(ReportError { field, problem })
}

impl DisclosureError {
    /// The same error with its field placed inside `parent`, such as `values["x.y"]`.
    fn within(self, parent: &str) -> Self {
        match self {
            DisclosureError::Input(e) => input_error(format!("{parent}.{}", e.field), e.problem),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sex() -> Dimension {
        Framework::v1()
            .dimension("sex")
            .cloned()
            .expect("v1 has sex")
    }

    fn breakdown<'a>(dimension: &'a Dimension, cells: &[(&'a str, u64)]) -> TrueBreakdown<'a> {
        // plan_breakdown does not look at the input map; it is only returned when unchanged.
        static NO_INPUT: BTreeMap<String, Cell> = BTreeMap::new();
        TrueBreakdown {
            dimension,
            input: &NO_INPUT,
            cells: dimension
                .values
                .iter()
                .map(|v| {
                    let n = cells
                        .iter()
                        .find(|(id, _)| *id == v.id)
                        .map_or(0, |(_, n)| *n);
                    (v.id.as_str(), n)
                })
                .collect(),
        }
    }

    fn suppressed_ids(plan: &Plan) -> Vec<&str> {
        match plan {
            Plan::Suppress(cells) => cells
                .iter()
                .filter(|(_, c)| c.is_suppressed())
                .map(|(id, _)| id.as_str())
                .collect(),
            other => panic!("expected suppression, got {other:?}"),
        }
    }

    #[test]
    fn complementary_takes_the_smallest_then_the_first_id() {
        let sex = sex();
        // other 1 and the zero of unknown leave a remainder of 1: one more cell is needed, and
        // female and male tie at 9.
        let b = breakdown(&sex, &[("female", 9), ("male", 9), ("other", 1)]);
        let plan = plan_breakdown(&b, 19, 5, &BTreeSet::new());
        assert_eq!(suppressed_ids(&plan), ["female", "other", "unknown"]);
        // A smaller published cell goes first, whatever its id.
        let b = breakdown(&sex, &[("female", 9), ("male", 6), ("other", 1)]);
        let plan = plan_breakdown(&b, 16, 5, &BTreeSet::new());
        assert_eq!(suppressed_ids(&plan), ["male", "other", "unknown"]);
    }

    #[test]
    fn a_breakdown_with_nothing_small_is_unchanged() {
        let sex = sex();
        let b = breakdown(&sex, &[("female", 12)]);
        assert_eq!(plan_breakdown(&b, 12, 5, &BTreeSet::new()), Plan::Unchanged);
    }

    #[test]
    fn sticky_cells_with_a_zero_total_cannot_be_protected() {
        let sex = sex();
        let b = breakdown(&sex, &[]);
        let sticky = BTreeSet::from(["male"]);
        assert_eq!(plan_breakdown(&b, 0, 5, &sticky), Plan::Infeasible);
    }

    #[test]
    fn thresholds_outside_the_range_are_refused() {
        for t in [0, 1, MAX_DISCLOSURE_THRESHOLD + 1] {
            assert_eq!(check_threshold(t), Err(DisclosureError::Threshold(t)));
        }
        for t in [2, 5, MAX_DISCLOSURE_THRESHOLD] {
            assert_eq!(check_threshold(t), Ok(()));
        }
    }
}
