//! The alliance-wide view `federation_load` expects, computed here from the reports it signed,
//! and its comparison with what the hub's `QueryService` answers.
//!
//! The expectation is written apart from the hub's merge code on purpose: it sums the values of
//! the winning revision of each (organisation, period) straight from the reports, so that a
//! report lost, counted twice or counted with the values of another revision shows up as a
//! difference in some cell. It covers every cell of the alliance group: each count's total and
//! breakdown cells (a withheld cell as the range the rest of its report leaves it), each flag's
//! tally, each amount, and the status of every convention in every country.

use std::collections::{BTreeMap, BTreeSet};

use alliance_core::report::{Cell, Report, Value};
use alliance_proto::pb;

/// The group key of the whole alliance in view rows.
const ALLIANCE: &str = "alliance";
/// The dimension of status rows.
const CONVENTION: &str = "convention";
/// The dimension value of the part of a total that was not broken down.
const NOT_BROKEN_DOWN: &str = "not_broken_down";

/// One row's place: group, indicator, dimension, dimension value, currency.
type RowKey = (String, String, String, String, String);

/// What one row must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Count {
        lo: u128,
        hi: u128,
        suppressed: u64,
        organisations: u64,
    },
    Flag {
        yes: u64,
        no: u64,
    },
    Amount {
        hundredths: u128,
        organisations: u64,
    },
    /// Organisations by the wire value of the status they gave.
    Status(BTreeMap<i32, BTreeSet<String>>),
}

/// The view of one period's alliance group, as the winners make it.
#[derive(Debug, Default)]
pub struct Expected {
    rows: BTreeMap<RowKey, Want>,
    /// Per (indicator, dimension), the reports that gave the breakdown: a value none of them
    /// listed is a published zero from each.
    given: BTreeMap<(String, String), u64>,
}

impl Expected {
    /// The expected view of the winners, each with its organisation's country code.
    pub fn of(winners: &[(Report, String)]) -> Expected {
        let mut e = Expected::default();
        for (report, country) in winners {
            for (id, value) in &report.values {
                let indicator = id.as_str().to_owned();
                match value {
                    Value::Count(count) => e.add_count(&indicator, count),
                    Value::Flag(flag) => {
                        let key = row(ALLIANCE, &indicator, "", "", "");
                        let want = e.rows.entry(key).or_insert(Want::Flag { yes: 0, no: 0 });
                        if let Want::Flag { yes, no } = want {
                            *yes += u64::from(flag.value);
                            *no += u64::from(!flag.value);
                        }
                    }
                    Value::Amount(amounts) => {
                        for (currency, v) in amounts {
                            let key = row(ALLIANCE, &indicator, "", "", &currency.to_string());
                            let want = e.rows.entry(key).or_insert(Want::Amount {
                                hundredths: 0,
                                organisations: 0,
                            });
                            if let Want::Amount {
                                hundredths,
                                organisations,
                            } = want
                            {
                                *hundredths += u128::from(*v);
                                *organisations += 1;
                            }
                        }
                    }
                    Value::Status(statuses) => {
                        for (convention, status) in statuses {
                            let key = row(country, &indicator, CONVENTION, convention, "");
                            let want = e
                                .rows
                                .entry(key)
                                .or_insert_with(|| Want::Status(BTreeMap::new()));
                            if let Want::Status(by_status) = want {
                                by_status
                                    .entry(alliance_proto::enums::convention_status_to_i32(*status))
                                    .or_default()
                                    .insert(report.org.to_string());
                            }
                        }
                    }
                }
            }
        }
        e
    }

    fn add_count(&mut self, indicator: &str, count: &alliance_core::report::CountValue) {
        let mut add = |key: RowKey, cell: Cell, room: u128| {
            let want = self.rows.entry(key).or_insert(Want::Count {
                lo: 0,
                hi: 0,
                suppressed: 0,
                organisations: 0,
            });
            if let Want::Count {
                lo,
                hi,
                suppressed,
                organisations,
            } = want
            {
                *organisations += 1;
                match cell {
                    Cell::Published(v) => {
                        *lo += u128::from(v);
                        *hi += u128::from(v);
                    }
                    // A withheld cell lies between zero and what the rest of its report leaves.
                    Cell::Suppressed => {
                        *suppressed += 1;
                        *hi += room;
                    }
                }
            }
        };
        // The fixture publishes every total; a withheld one would need the threshold here.
        let total = match count.total {
            Cell::Published(t) => u128::from(t),
            Cell::Suppressed => 0,
        };
        add(row(ALLIANCE, indicator, "", "", ""), count.total, total);
        for (dimension, cells) in &count.breakdowns {
            *self
                .given
                .entry((indicator.to_owned(), dimension.clone()))
                .or_default() += 1;
            let published: u128 = cells
                .values()
                .filter_map(|c| match c {
                    Cell::Published(v) => Some(u128::from(*v)),
                    Cell::Suppressed => None,
                })
                .sum();
            let room = total.saturating_sub(published);
            for (value, cell) in cells {
                add(row(ALLIANCE, indicator, dimension, value, ""), *cell, room);
            }
        }
    }

    /// How many cells the expectation holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The differences between the hub's view of the alliance group and this expectation, as
    /// messages (empty when they agree). Rows of other groups than the alliance and the
    /// countries of status rows are not looked at.
    pub fn differences(&self, view: &pb::ViewResponse) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for r in &view.rows {
            let currency = match &r.value {
                Some(pb::view_row::Value::Amount(a)) => a.currency.clone(),
                _ => String::new(),
            };
            let key = row(
                &r.group,
                &r.indicator,
                &r.dimension,
                &r.dimension_value,
                &currency,
            );
            let place = format!(
                "{} {} {}={} {}",
                r.group, r.indicator, r.dimension, r.dimension_value, currency
            );
            match self.rows.get(&key) {
                Some(want) => {
                    seen.insert(key.clone());
                    if let Some(problem) = mismatch(want, r) {
                        out.push(format!("{place}: {problem}"));
                    }
                }
                None => {
                    // A value of a breakdown that no report listed: a published zero from
                    // every report that gave the breakdown.
                    let zero = match &r.value {
                        Some(pb::view_row::Value::Count(c)) => {
                            !r.dimension.is_empty()
                                && r.dimension_value != NOT_BROKEN_DOWN
                                && c.lo == 0
                                && c.hi == 0
                                && c.suppressed_contributions == 0
                                && self
                                    .given
                                    .get(&(r.indicator.clone(), r.dimension.clone()))
                                    .is_some_and(|g| *g == u64::from(r.organisations))
                        }
                        _ => false,
                    };
                    let ours = r.group == ALLIANCE || r.dimension == CONVENTION;
                    if ours && !zero {
                        out.push(format!("{place}: not expected: {:?}", r.value));
                    }
                }
            }
        }
        for key in self.rows.keys().filter(|k| !seen.contains(*k)) {
            out.push(format!(
                "{} {} {}={} {}: missing from the view",
                key.0, key.1, key.2, key.3, key.4
            ));
        }
        out
    }
}

fn row(group: &str, indicator: &str, dimension: &str, value: &str, currency: &str) -> RowKey {
    (
        group.to_owned(),
        indicator.to_owned(),
        dimension.to_owned(),
        value.to_owned(),
        currency.to_owned(),
    )
}

/// What is wrong with row `r` against `want`, if anything.
fn mismatch(want: &Want, r: &pb::ViewRow) -> Option<String> {
    use pb::view_row::Value as V;
    let organisations = u64::from(r.organisations);
    let ok = match (want, &r.value) {
        (
            Want::Count {
                lo,
                hi,
                suppressed,
                organisations: n,
            },
            Some(V::Count(c)),
        ) => {
            u128::from(c.lo) == *lo
                && u128::from(c.hi) == *hi
                && u64::from(c.suppressed_contributions) == *suppressed
                && c.exact == (*suppressed == 0)
                && organisations == *n
        }
        (Want::Flag { yes, no }, Some(V::Flag(f))) => {
            u64::from(f.yes) == *yes && u64::from(f.no) == *no && organisations == yes + no
        }
        (
            Want::Amount {
                hundredths,
                organisations: n,
            },
            Some(V::Amount(a)),
        ) => a.hundredths == hundredths.to_string() && organisations == *n,
        (Want::Status(by_status), Some(V::Status(cell))) => {
            let total: usize = by_status.values().map(BTreeSet::len).sum();
            let agrees = match &cell.state {
                Some(pb::status_cell::State::Status(s)) => {
                    by_status.len() == 1 && by_status.contains_key(s)
                }
                Some(pb::status_cell::State::Conflict(conflict)) => {
                    let got: BTreeMap<i32, BTreeSet<String>> = conflict
                        .statuses
                        .iter()
                        .map(|s| (s.status, s.org_ids.iter().cloned().collect()))
                        .collect();
                    by_status.len() > 1 && got == *by_status
                }
                None => false,
            };
            agrees && organisations == total as u64
        }
        _ => false,
    };
    (!ok).then(|| {
        format!(
            "expected {want:?}, the hub shows {:?} from {organisations} organisations",
            r.value
        )
    })
}
