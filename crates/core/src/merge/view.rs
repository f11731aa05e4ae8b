//! The alliance-wide view: roll-ups of the winners over one or several periods.
//!
//! Only winners count, and a withdrawn winner counts as empty (so over a span an organisation's
//! earlier value of a stock stands when its latest report is withdrawn). Counts are ranges: published
//! values are exact, a withheld cell lies between zero and what the rest of its report leaves it,
//! and a sum with any withheld contribution says how many. Flows are summed over the span;
//! stocks, flags and statuses take each organisation's latest value within it.

use std::collections::{BTreeMap, BTreeSet};

use super::Equivocation;
use super::aggregate::{Additive, CountTotals, FlagTotals, Sign, Totals};
use super::group::{GroupBy, GroupKey};
use super::{Aggregates, Ledger};
use crate::framework::{ConventionStatus, Framework, IndicatorId};
use crate::org::OrgId;
use crate::period::{Period, PeriodSpan};
use crate::report::Currency;

/// What a view shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// One period, or a run of them such as the 2008–2010 programme. Every period that lies
    /// within the span counts.
    pub span: PeriodSpan,
    pub group_by: GroupBy,
    /// Only this action point's indicators, if given.
    pub action_point: Option<String>,
}

/// The view: one [`GroupView`] per group that has a winner in the span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub span: PeriodSpan,
    pub group_by: GroupBy,
    pub action_point: Option<String>,
    pub groups: BTreeMap<GroupKey, GroupView>,
    /// Every equivocation of a period within the span, whichever report won.
    pub equivocations: Vec<Equivocation>,
}

/// The roll-up of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupView {
    /// Organisations with a winner in the span that is not withdrawn.
    pub reporting: BTreeSet<OrgId>,
    /// Organisations with a withdrawn winner in the span (over several periods an organisation
    /// can be in both sets).
    pub withdrawn: BTreeSet<OrgId>,
    pub counts: BTreeMap<IndicatorId, CountView>,
    pub flags: BTreeMap<IndicatorId, FlagView>,
    /// Per indicator, per currency: amounts are never converted.
    pub amounts: BTreeMap<IndicatorId, BTreeMap<Currency, AmountCell>>,
    /// Per indicator, per country (a [`GroupKey::Country`], or [`GroupKey::None`] for GUFs,
    /// [`GroupKey::Unregistered`] for organisations the registry does not know), per convention.
    pub statuses: BTreeMap<IndicatorId, BTreeMap<GroupKey, BTreeMap<String, StatusCell>>>,
}

/// A count indicator summed over a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountView {
    pub total: CountCell,
    /// Every breakdown the framework gives the indicator (and any other a report gave), by
    /// dimension id.
    pub breakdowns: BTreeMap<String, BreakdownView>,
}

/// One marginal breakdown of a count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakdownView {
    /// Every value of the dimension. A contribution that gave the breakdown but did not list a
    /// value counts there as a published zero.
    pub cells: BTreeMap<String, CountCell>,
    /// The totals of the contributions that did not give this breakdown, so that the cells and
    /// this amount together add up to the total.
    pub not_broken_down: CountCell,
}

/// A sum of counts that may include withheld contributions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CountCell {
    /// The least the sum can be, given what the reports publish.
    pub lo: u128,
    /// The most the sum can be.
    pub hi: u128,
    /// The reports (organisation-periods) that contribute.
    pub contributions: u64,
    /// Of them, those that withheld this cell.
    pub suppressed: u64,
}

/// A flag indicator, in organisations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagView {
    pub yes: u64,
    pub no: u64,
    /// Every breakdown the framework gives the indicator, by dimension id.
    pub breakdowns: BTreeMap<String, FlagBreakdownView>,
}

/// One breakdown of a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagBreakdownView {
    /// The organisations that gave this breakdown.
    pub organisations: u64,
    /// Per value of the dimension, the organisations that said yes.
    pub yes: BTreeMap<String, u64>,
}

/// An amount in one currency summed over a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AmountCell {
    /// In hundredths of the currency unit.
    pub total: u128,
    pub contributions: u64,
}

/// Where one convention stands in one country.
///
/// Each organisation gives its latest status within the span; the country shows those of its
/// organisations at the latest period among them. Organisations that disagree are a conflict,
/// shown with each status and who gave it, never averaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCell {
    pub period: Period,
    pub orgs: BTreeMap<ConventionStatus, BTreeSet<OrgId>>,
}

impl Query {
    /// A query over `span` by `group_by`, of every action point.
    pub fn new(span: PeriodSpan, group_by: GroupBy) -> Self {
        Query {
            span,
            group_by,
            action_point: None,
        }
    }

    /// Limits the query to one action point.
    pub fn action_point(mut self, action_point: impl Into<String>) -> Self {
        self.action_point = Some(action_point.into());
        self
    }
}

impl Ledger {
    /// The view a query asks for. Over one period it is derived from the totals the ledger
    /// keeps; over several, or by organisation (the ledger keeps no per-organisation totals),
    /// it is computed from the winners, as [`Ledger::view_from_winners`].
    pub fn view(&self, query: &Query, framework: &Framework) -> View {
        let kept = query.group_by != GroupBy::Org;
        match single_period(&self.aggregates, &query.span).filter(|_| kept) {
            Some(period) => {
                let groups = self
                    .aggregates
                    .get(&period)
                    .into_iter()
                    .flatten()
                    .filter(|((by, _), _)| *by == query.group_by)
                    .map(|((_, key), totals)| (key, totals));
                self.assemble(query, framework, groups)
            }
            None => self.view_from_winners(query, framework),
        }
    }

    /// The view computed from the winners alone, without the kept totals. The same answer as
    /// [`Ledger::view`]; it serves views over several periods and checks of the totals.
    pub fn view_from_winners(&self, query: &Query, framework: &Framework) -> View {
        let mut groups: BTreeMap<GroupKey, Totals> = BTreeMap::new();
        for (org, periods) in &self.slots {
            let country = self.directory.country_key(org);
            let mut own = Totals::default();
            // Periods order by start, and one organisation's periods never overlap, so this
            // goes from the earliest to the latest.
            for (_, slot) in periods.iter().filter(|(p, _)| query.span.contains(**p)) {
                if let Some(winner) = slot.winner() {
                    own.follow(&Totals::of_report(&winner.report, &country), framework);
                }
            }
            if own.is_empty() {
                continue;
            }
            for key in self.directory.groups(org, query.group_by) {
                groups.entry(key).or_default().apply(&own, Sign::Add);
            }
        }
        self.assemble(query, framework, groups.iter())
    }

    fn assemble<'a>(
        &self,
        query: &Query,
        framework: &Framework,
        groups: impl Iterator<Item = (&'a GroupKey, &'a Totals)>,
    ) -> View {
        View {
            span: query.span,
            group_by: query.group_by,
            action_point: query.action_point.clone(),
            groups: groups
                .map(|(key, totals)| {
                    let view = GroupView::of(totals, framework, query.action_point.as_deref());
                    (key.clone(), view)
                })
                .collect(),
            equivocations: self.equivocations_where(|p| query.span.contains(p)),
        }
    }
}

impl GroupView {
    fn of(totals: &Totals, framework: &Framework, action_point: Option<&str>) -> Self {
        let wanted = |id: &&IndicatorId| action_point.is_none_or(|a| id.action_point() == a);
        GroupView {
            reporting: totals.reporting.clone(),
            withdrawn: totals.withdrawn.clone(),
            counts: totals
                .counts
                .iter()
                .filter(|(id, _)| wanted(id))
                .map(|(id, c)| (id.clone(), CountView::of(id, c, framework)))
                .collect(),
            flags: totals
                .flags
                .iter()
                .filter(|(id, _)| wanted(id))
                .map(|(id, f)| (id.clone(), FlagView::of(id, f, framework)))
                .collect(),
            amounts: totals
                .amounts
                .iter()
                .filter(|(id, _)| wanted(id))
                .map(|(id, a)| (id.clone(), a.clone()))
                .collect(),
            statuses: totals
                .statuses
                .iter()
                .filter(|(id, _)| wanted(id))
                .map(|(id, s)| (id.clone(), s.clone()))
                .collect(),
        }
    }
}

impl CountView {
    fn of(id: &IndicatorId, totals: &CountTotals, framework: &Framework) -> Self {
        let dimensions = breakdowns_of(
            framework,
            id,
            totals.given.keys().chain(totals.listed.keys()),
        );
        let breakdowns = dimensions
            .into_iter()
            .map(|dimension| {
                let given = totals.given.get(&dimension).copied().unwrap_or_default();
                let listed = totals.listed.get(&dimension);
                let values = values_of(framework, &dimension, listed.into_iter().flatten());
                let cells = values
                    .into_iter()
                    .map(|value| {
                        let cell = listed.and_then(|l| l.get(&value)).copied();
                        let cell = cell.unwrap_or_default();
                        // Every contribution that gave the breakdown but did not list this value
                        // published a zero for it.
                        let cell = CountCell {
                            contributions: given.contributions,
                            ..cell
                        };
                        (value, cell)
                    })
                    .collect();
                let mut not_broken_down = totals.total;
                not_broken_down.apply(&given, Sign::Sub);
                let view = BreakdownView {
                    cells,
                    not_broken_down,
                };
                (dimension, view)
            })
            .collect();
        CountView {
            total: totals.total,
            breakdowns,
        }
    }
}

impl FlagView {
    fn of(id: &IndicatorId, totals: &FlagTotals, framework: &Framework) -> Self {
        let dimensions = breakdowns_of(
            framework,
            id,
            totals.given.keys().chain(totals.yes_by.keys()),
        );
        let breakdowns = dimensions
            .into_iter()
            .map(|dimension| {
                let yes_by = totals.yes_by.get(&dimension);
                let yes = values_of(framework, &dimension, yes_by.into_iter().flatten())
                    .into_iter()
                    .map(|value| {
                        let yes = yes_by.and_then(|y| y.get(&value)).copied();
                        (value, yes.unwrap_or(0))
                    })
                    .collect();
                let view = FlagBreakdownView {
                    organisations: totals.given.get(&dimension).copied().unwrap_or(0),
                    yes,
                };
                (dimension, view)
            })
            .collect();
        FlagView {
            yes: totals.yes,
            no: totals.no,
            breakdowns,
        }
    }
}

impl CountCell {
    /// Whether every contribution published this cell, so that the sum is known exactly.
    pub fn is_exact(&self) -> bool {
        self.suppressed == 0
    }
}

impl StatusCell {
    /// The status, when the organisations agree.
    pub fn status(&self) -> Option<ConventionStatus> {
        match self.orgs.keys().collect::<Vec<_>>().as_slice() {
            [one] => Some(**one),
            _ => None,
        }
    }

    /// Whether organisations of the country disagree.
    pub fn is_conflict(&self) -> bool {
        self.orgs.len() > 1
    }
}

/// The period a one-period query can be answered from the kept totals for, if no period of
/// another, shorter kind lies within it.
fn single_period(aggregates: &Aggregates, span: &PeriodSpan) -> Option<Period> {
    let period = span.first;
    let alone = span.first == span.last
        && aggregates
            .keys()
            .all(|p| *p == period || !span.contains(*p));
    alone.then_some(period)
}

/// The breakdowns of an indicator: the framework's, and any other the data has.
fn breakdowns_of<'a>(
    framework: &'a Framework,
    id: &IndicatorId,
    seen: impl Iterator<Item = &'a String>,
) -> BTreeSet<String> {
    let defined = framework
        .indicator(id)
        .into_iter()
        .flat_map(|i| i.breakdowns.iter());
    defined.chain(seen).cloned().collect()
}

/// The values of a dimension: the framework's, and any other the data has.
fn values_of<'a, V: 'a>(
    framework: &'a Framework,
    dimension: &str,
    seen: impl Iterator<Item = (&'a String, V)>,
) -> BTreeSet<String> {
    let defined = framework
        .dimension(dimension)
        .into_iter()
        .flat_map(|d| d.values.iter().map(|v| &v.id));
    defined.chain(seen.map(|(k, _)| k)).cloned().collect()
}
