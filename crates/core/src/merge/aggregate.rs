//! Totals: the sums a view is derived from. They can be added and subtracted, which is what lets
//! the ledger keep them up to date as winners change.

use std::collections::{BTreeMap, BTreeSet};

use super::group::GroupKey;
use super::view::{AmountCell, CountCell, StatusCell};
use crate::framework::{Framework, IndicatorId, Temporal};
use crate::org::OrgId;
use crate::report::{Cell, CountValue, Currency, FlagValue, Report, Value};

/// The sums over the winners of one group: what the ledger keeps per period and group, and what a
/// view is derived from.
///
/// Totals carry no framework knowledge: a breakdown a report did not give, and the zeros of the
/// values a breakdown did not list, are worked out when the view is derived, so a new framework
/// version never makes stored totals stale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Organisations whose winner counts (it is not withdrawn).
    pub(crate) reporting: BTreeSet<OrgId>,
    /// Organisations whose winner is withdrawn.
    pub(crate) withdrawn: BTreeSet<OrgId>,
    pub(crate) counts: BTreeMap<IndicatorId, CountTotals>,
    pub(crate) flags: BTreeMap<IndicatorId, FlagTotals>,
    pub(crate) amounts: BTreeMap<IndicatorId, BTreeMap<Currency, AmountCell>>,
    /// Indicator → country (a [`GroupKey::Country`], [`GroupKey::None`] or
    /// [`GroupKey::Unregistered`]) → convention → statuses.
    pub(crate) statuses: BTreeMap<IndicatorId, BTreeMap<GroupKey, BTreeMap<String, StatusCell>>>,
}

/// The sums of one count indicator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CountTotals {
    pub(crate) total: CountCell,
    /// Per dimension, the totals of the reports that gave that breakdown. The difference to
    /// `total` is what was not broken down.
    pub(crate) given: BTreeMap<String, CountCell>,
    /// Per dimension and value, the cells the reports listed. A value a report's breakdown does
    /// not list is a published zero, so it needs no entry here.
    pub(crate) listed: BTreeMap<String, BTreeMap<String, CountCell>>,
}

/// The sums of one flag indicator, in organisations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FlagTotals {
    pub(crate) yes: u64,
    pub(crate) no: u64,
    /// Per dimension, the organisations that gave that breakdown.
    pub(crate) given: BTreeMap<String, u64>,
    /// Per dimension and value, the organisations that said yes.
    pub(crate) yes_by: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Whether a change adds to the totals or takes away from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    Add,
    Sub,
}

/// A value that other values of its type can be added to and subtracted from. Subtracting what
/// was added restores the value exactly, and a value that comes back to zero says so, so that
/// maps can drop it: then totals built incrementally equal totals built from scratch, field by
/// field. For that, a contribution never holds a zero value at any depth (no empty map), since
/// one would be kept or dropped depending on the order of the changes.
pub(crate) trait Additive {
    fn apply(&mut self, other: &Self, sign: Sign);
    fn is_zero(&self) -> bool;
}

impl Totals {
    /// The contribution of one report, whose organisation's statuses are shown under `country`.
    /// A withdrawn report counts as empty: it only marks its organisation as withdrawn.
    pub(crate) fn of_report(report: &Report, country: &GroupKey) -> Totals {
        let mut t = Totals::default();
        if report.withdrawn {
            t.withdrawn.insert(report.org.clone());
            return t;
        }
        t.reporting.insert(report.org.clone());
        for (id, value) in &report.values {
            match value {
                Value::Count(count) => {
                    let totals = CountTotals::of(count, report.disclosure_threshold);
                    t.counts.insert(id.clone(), totals);
                }
                Value::Flag(flag) => {
                    t.flags.insert(id.clone(), FlagTotals::of(flag));
                }
                // Validation refuses an amount without a currency; were one to come, it adds
                // nothing rather than an empty entry a subtraction would not remove.
                Value::Amount(amounts) if amounts.is_empty() => {}
                Value::Amount(amounts) => {
                    let cells = amounts
                        .iter()
                        .map(|(currency, v)| (*currency, AmountCell::one(*v)))
                        .collect();
                    t.amounts.insert(id.clone(), cells);
                }
                Value::Status(statuses) => {
                    let cells = statuses
                        .iter()
                        .map(|(convention, status)| {
                            let orgs = [(*status, [report.org.clone()].into())].into();
                            let cell = StatusCell {
                                period: report.period,
                                orgs,
                            };
                            (convention.clone(), cell)
                        })
                        .collect();
                    t.statuses
                        .insert(id.clone(), [(country.clone(), cells)].into());
                }
            }
        }
        t
    }

    /// Folds one organisation's totals of a later period into those of its earlier periods:
    /// flows are summed, stocks and flags take the later value where it gives one, statuses
    /// take the later period's (see [`StatusCell`]).
    pub(crate) fn follow(&mut self, later: &Totals, framework: &Framework) {
        let temporal =
            |id: &IndicatorId, default| framework.indicator(id).map_or(default, |i| i.temporal);
        self.reporting.apply(&later.reporting, Sign::Add);
        self.withdrawn.apply(&later.withdrawn, Sign::Add);
        for (id, count) in &later.counts {
            match temporal(id, Temporal::Flow) {
                Temporal::Stock => {
                    self.counts.insert(id.clone(), count.clone());
                }
                Temporal::Flow => apply_one(&mut self.counts, id, count, Sign::Add),
            }
        }
        // A flag is a state (a policy adopted), so the latest word stands whatever the framework
        // says about time: each organisation counts once over the span.
        for (id, flag) in &later.flags {
            self.flags.insert(id.clone(), flag.clone());
        }
        for (id, amounts) in &later.amounts {
            match temporal(id, Temporal::Flow) {
                Temporal::Stock => {
                    self.amounts.insert(id.clone(), amounts.clone());
                }
                Temporal::Flow => apply_one(&mut self.amounts, id, amounts, Sign::Add),
            }
        }
        self.statuses.apply(&later.statuses, Sign::Add);
    }

    /// Whether nothing has been counted.
    pub fn is_empty(&self) -> bool {
        self.is_zero()
    }
}

impl Additive for Totals {
    fn apply(&mut self, other: &Self, sign: Sign) {
        self.reporting.apply(&other.reporting, sign);
        self.withdrawn.apply(&other.withdrawn, sign);
        self.counts.apply(&other.counts, sign);
        self.flags.apply(&other.flags, sign);
        self.amounts.apply(&other.amounts, sign);
        self.statuses.apply(&other.statuses, sign);
    }

    fn is_zero(&self) -> bool {
        self.reporting.is_empty()
            && self.withdrawn.is_empty()
            && self.counts.is_empty()
            && self.flags.is_empty()
            && self.amounts.is_empty()
            && self.statuses.is_empty()
    }
}

impl CountTotals {
    /// One report's count: published cells exactly, withheld ones as the range the rest of the
    /// report leaves them.
    fn of(count: &CountValue, threshold: u64) -> Self {
        // Disclosure control withholds values from 1 to threshold − 1, but a withheld cell is
        // only known to be at least zero (zeros are withheld too).
        let below_threshold = u128::from(threshold.saturating_sub(1));
        let total = CountCell::of(count.total, below_threshold);
        let mut given = BTreeMap::new();
        let mut listed = BTreeMap::new();
        for (dimension, cells) in &count.breakdowns {
            let published: u128 = cells
                .values()
                .filter_map(|c| c.published())
                .map(u128::from)
                .sum();
            // A withheld cell is at most what its total leaves after the published cells; under
            // a withheld total that total is itself at most threshold − 1.
            let room = match count.total {
                Cell::Published(t) => u128::from(t).saturating_sub(published),
                Cell::Suppressed => below_threshold.saturating_sub(published),
            };
            given.insert(dimension.clone(), total);
            // A breakdown that lists nothing published zeros only, which `given` records; an
            // empty map here would survive the subtraction that removes this report.
            if !cells.is_empty() {
                listed.insert(
                    dimension.clone(),
                    cells
                        .iter()
                        .map(|(value, cell)| (value.clone(), CountCell::of(*cell, room)))
                        .collect(),
                );
            }
        }
        CountTotals {
            total,
            given,
            listed,
        }
    }
}

impl Additive for CountTotals {
    fn apply(&mut self, other: &Self, sign: Sign) {
        self.total.apply(&other.total, sign);
        self.given.apply(&other.given, sign);
        self.listed.apply(&other.listed, sign);
    }

    fn is_zero(&self) -> bool {
        self.total.is_zero() && self.given.is_empty() && self.listed.is_empty()
    }
}

impl FlagTotals {
    fn of(flag: &FlagValue) -> Self {
        FlagTotals {
            yes: u64::from(flag.value),
            no: u64::from(!flag.value),
            given: flag.breakdowns.keys().map(|d| (d.clone(), 1)).collect(),
            // Only yes is kept per value: an unlisted value is no, so a no adds nothing. A
            // breakdown without a yes gets no entry, which is what subtraction leaves behind.
            yes_by: flag
                .breakdowns
                .iter()
                .map(|(dimension, cells)| {
                    let yes: BTreeMap<String, u64> = cells
                        .iter()
                        .filter(|(_, yes)| **yes)
                        .map(|(value, _)| (value.clone(), 1))
                        .collect();
                    (dimension.clone(), yes)
                })
                .filter(|(_, yes)| !yes.is_empty())
                .collect(),
        }
    }
}

impl Additive for FlagTotals {
    fn apply(&mut self, other: &Self, sign: Sign) {
        self.yes.apply(&other.yes, sign);
        self.no.apply(&other.no, sign);
        self.given.apply(&other.given, sign);
        self.yes_by.apply(&other.yes_by, sign);
    }

    fn is_zero(&self) -> bool {
        self.yes == 0 && self.no == 0 && self.given.is_empty() && self.yes_by.is_empty()
    }
}

impl CountCell {
    /// One report's cell; a withheld one lies in `0..=room`.
    fn of(cell: Cell, room: u128) -> Self {
        match cell {
            Cell::Published(v) => CountCell {
                lo: u128::from(v),
                hi: u128::from(v),
                contributions: 1,
                suppressed: 0,
            },
            Cell::Suppressed => CountCell {
                lo: 0,
                hi: room,
                contributions: 1,
                suppressed: 1,
            },
        }
    }
}

impl Additive for CountCell {
    fn apply(&mut self, other: &Self, sign: Sign) {
        self.lo.apply(&other.lo, sign);
        self.hi.apply(&other.hi, sign);
        self.contributions.apply(&other.contributions, sign);
        self.suppressed.apply(&other.suppressed, sign);
    }

    fn is_zero(&self) -> bool {
        *self == CountCell::default()
    }
}

impl AmountCell {
    fn one(amount: u64) -> Self {
        AmountCell {
            total: u128::from(amount),
            contributions: 1,
        }
    }
}

impl Additive for AmountCell {
    fn apply(&mut self, other: &Self, sign: Sign) {
        self.total.apply(&other.total, sign);
        self.contributions.apply(&other.contributions, sign);
    }

    fn is_zero(&self) -> bool {
        *self == AmountCell::default()
    }
}

impl Additive for StatusCell {
    /// Statuses of a later period replace those of an earlier one, statuses of the same period
    /// join them, and an earlier period's are ignored. Subtraction is only ever asked for within
    /// one period (the ledger's per-period totals), where it is exact.
    fn apply(&mut self, other: &Self, sign: Sign) {
        match sign {
            Sign::Add if other.is_zero() => {}
            Sign::Add if self.is_zero() || other.period > self.period => *self = other.clone(),
            Sign::Add | Sign::Sub if other.period == self.period => {
                self.orgs.apply(&other.orgs, sign);
            }
            Sign::Add | Sign::Sub => {}
        }
    }

    fn is_zero(&self) -> bool {
        self.orgs.is_empty()
    }
}

impl Additive for u64 {
    fn apply(&mut self, other: &Self, sign: Sign) {
        // Totals only ever take away what they were given, so neither direction can leave the
        // range; saturating keeps a logic error from turning into a panic.
        *self = match sign {
            Sign::Add => self.saturating_add(*other),
            Sign::Sub => self.saturating_sub(*other),
        };
    }

    fn is_zero(&self) -> bool {
        *self == 0
    }
}

impl Additive for u128 {
    fn apply(&mut self, other: &Self, sign: Sign) {
        *self = match sign {
            Sign::Add => self.saturating_add(*other),
            Sign::Sub => self.saturating_sub(*other),
        };
    }

    fn is_zero(&self) -> bool {
        *self == 0
    }
}

impl<T: Ord + Clone> Additive for BTreeSet<T> {
    fn apply(&mut self, other: &Self, sign: Sign) {
        match sign {
            Sign::Add => self.extend(other.iter().cloned()),
            // One removal per element taken away, not a pass over the whole set: the
            // alliance's set of reporting organisations is large, a contribution's is one.
            Sign::Sub => {
                for x in other {
                    self.remove(x);
                }
            }
        }
    }

    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

impl<K: Ord + Clone, V: Additive + Clone> Additive for BTreeMap<K, V> {
    fn apply(&mut self, other: &Self, sign: Sign) {
        for (key, value) in other {
            apply_one(self, key, value, sign);
        }
    }

    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

/// Applies one keyed value, dropping the key when it comes back to zero.
fn apply_one<K: Ord + Clone, V: Additive + Clone>(
    map: &mut BTreeMap<K, V>,
    key: &K,
    value: &V,
    sign: Sign,
) {
    match map.get_mut(key) {
        Some(mine) => {
            mine.apply(value, sign);
            if mine.is_zero() {
                map.remove(key);
            }
        }
        None if sign == Sign::Add && !value.is_zero() => {
            map.insert(key.clone(), value.clone());
        }
        None => {}
    }
}
