//! Disclosure control, checked from the outside.
//!
//! The checker here is written apart from the suppression code and calls nothing of it: it looks
//! only at published forms and works out, by enumeration, which values every withheld total or
//! cell can still take given everything published. True values come from generated crossed
//! tables, so that every marginal breakdown of a count adds up to the same total as it does in a
//! node's records.

use std::collections::{BTreeMap, BTreeSet};

use alliance_core::disclosure::{DisclosureError, protect, protect_count};
use alliance_core::framework::{ConventionStatus, Dimension, Framework};
use alliance_core::report::{
    Cell, CountValue, Currency, DEFAULT_DISCLOSURE_THRESHOLD, FlagValue, Report, Value,
};
use alliance_core::validate::{Problem, ReportError};
use alliance_core::{IndicatorId, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// The sensitive counts of framework version 1 that the properties exercise.
const SENSITIVE: [&str; 3] = [
    "exposure.cases_documented",
    "exposure.persons_concerned",
    "outreach.workers_assisted",
];

// ------------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// One revision alone: published values are true, small ones are withheld, and every withheld
    /// value can still be anything from 0 to t − 1.
    #[test]
    fn one_revision_meets_the_rule(case in case()) {
        let f = Framework::v1();
        let (input, truths) = build(&f, &case.tables, case.masks, case.explicit_zeros, 1);
        prop_assert_eq!(f.check_report(&input), Ok(()));
        let out = protect(&input, &f, case.threshold, &[]).expect("protect");
        check_protected(&f, &input, &truths, &out, case.threshold)?;
    }

    /// Two revisions of the same true values that carry different breakdowns: what both publish
    /// together still leaves every withheld value anything from 0 to t − 1.
    #[test]
    fn two_revisions_of_the_same_values_meet_the_rule_together(
        case in case(),
        masks2 in masks(),
        zeros2 in any::<bool>(),
    ) {
        let f = Framework::v1();
        let t = case.threshold;
        let (in1, truths1) = build(&f, &case.tables, case.masks, case.explicit_zeros, 1);
        let (in2, truths2) = build(&f, &case.tables, masks2, zeros2, 2);
        let rev1 = protect(&in1, &f, t, &[]).expect("protect revision 1");
        let rev2 = protect(&in2, &f, t, std::slice::from_ref(&rev1)).expect("protect revision 2");
        check_protected(&f, &in1, &truths1, &rev1, t)?;
        check_protected(&f, &in2, &truths2, &rev2, t)?;
        for id in SENSITIVE {
            let dims = dimensions(&f, id);
            let forms: Vec<&CountValue> =
                [&rev1, &rev2].into_iter().filter_map(|r| count_in(r, id)).collect();
            withheld_anywhere_stays_unknown(&forms, &dims, id)?;
            rule_holds(&forms, &dims, t, id)?;
        }
    }

    /// The same, with the threshold lowered for the second revision: the union meets the rule at
    /// the new threshold, and no cell withheld by the first is published by the second.
    #[test]
    fn a_lowered_threshold_keeps_cells_withheld(
        case in case(),
        lower_by in 0u64..=8,
        masks2 in masks(),
    ) {
        let f = Framework::v1();
        let t1 = case.threshold;
        let t2 = t1.saturating_sub(lower_by).max(2);
        let (in1, _) = build(&f, &case.tables, case.masks, case.explicit_zeros, 1);
        let (in2, truths2) = build(&f, &case.tables, masks2, false, 2);
        let rev1 = protect(&in1, &f, t1, &[]).expect("protect revision 1");
        let rev2 = protect(&in2, &f, t2, std::slice::from_ref(&rev1)).expect("protect revision 2");
        check_protected(&f, &in2, &truths2, &rev2, t2)?;
        for id in SENSITIVE {
            let dims = dimensions(&f, id);
            let (Some(p1), Some(p2)) = (count_in(&rev1, id), count_in(&rev2, id)) else {
                continue;
            };
            cells_stay_withheld(p1, p2, &dims, id)?;
            rule_holds(&[p1, p2], &dims, t2, id)?;
        }
    }

    /// A later revision whose true values changed: every cell an earlier revision withheld stays
    /// withheld, and each revision meets the rule alone.
    #[test]
    fn changed_values_keep_earlier_cells_withheld(
        case in case(),
        changes in prop::collection::vec(prop::option::of(0u64..=12), 8),
        extra in prop::collection::vec((coords(), 0u64..=12), 0..=3),
        masks2 in masks(),
        masks3 in masks(),
    ) {
        let f = Framework::v1();
        let t = case.threshold;
        let tables2 = case.tables.clone().map(|mut table| {
            for (entry, change) in table.iter_mut().zip(&changes) {
                if let Some(n) = change {
                    entry.1 = *n;
                }
            }
            table.extend(extra.iter().copied());
            table
        });
        let (in1, _) = build(&f, &case.tables, case.masks, case.explicit_zeros, 1);
        let (in2, truths2) = build(&f, &tables2, masks2, false, 2);
        let (in3, truths3) = build(&f, &tables2, masks3, true, 3);
        let rev1 = protect(&in1, &f, t, &[]).expect("protect revision 1");
        let rev2 = protect(&in2, &f, t, std::slice::from_ref(&rev1)).expect("protect revision 2");
        let rev3 = protect(&in3, &f, t, &[rev2.clone(), rev1.clone()]).expect("protect revision 3");
        check_protected(&f, &in2, &truths2, &rev2, t)?;
        check_protected(&f, &in3, &truths3, &rev3, t)?;
        for id in SENSITIVE {
            let dims = dimensions(&f, id);
            let (p1, p2, p3) = (count_in(&rev1, id), count_in(&rev2, id), count_in(&rev3, id));
            for (earlier, later) in [(p1, p2), (p1, p3), (p2, p3)] {
                if let (Some(earlier), Some(later)) = (earlier, later) {
                    cells_stay_withheld(earlier, later, &dims, id)?;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Examples with exact output

#[test]
fn total_six_with_one_man_withholds_the_whole_breakdown() {
    let out = protect_one(count(6, &[("sex", &[("female", 5), ("male", 1)])]), 5, &[]);
    assert_eq!(
        out,
        count_cells(
            Cell::Published(6),
            &[(
                "sex",
                &[
                    ("female", Cell::Suppressed),
                    ("male", Cell::Suppressed),
                    ("other", Cell::Suppressed),
                    ("unknown", Cell::Suppressed),
                ],
            )],
        )
    );
}

#[test]
fn a_total_below_the_threshold_withholds_everything() {
    let input = count(
        3,
        &[
            ("sex", &[("female", 2), ("male", 1)]),
            ("migrant_status", &[("migrant", 3)]),
        ],
    );
    let out = protect_one(input, 5, &[]);
    assert_eq!(out.total, Cell::Suppressed);
    let f = Framework::v1();
    for (dim, cells) in &out.breakdowns {
        let every: BTreeSet<&str> = dimension(&f, dim)
            .values
            .iter()
            .map(|v| v.id.as_str())
            .collect();
        assert_eq!(
            cells.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            every
        );
        assert!(cells.values().all(|c| c.is_suppressed()), "{dim}");
    }
    assert_eq!(out.breakdowns.len(), 2);
}

#[test]
fn a_zero_total_is_published_as_it_is() {
    let input = count(0, &[("sex", &[]), ("migrant_status", &[("migrant", 0)])]);
    assert_eq!(protect_one(input.clone(), 5, &[]), input);
}

#[test]
fn twelve_women_are_published_as_they_are() {
    let input = count(12, &[("sex", &[("female", 12)])]);
    assert_eq!(protect_one(input.clone(), 5, &[]), input);
}

#[test]
fn complementary_suppression_takes_the_smallest_cell_first_then_the_first_id() {
    // other 1 and unknown 0 leave a remainder of 1 < 4: female and male tie at 9, female goes.
    // The migrant breakdown has nothing small and stays as it is: with the total published it
    // says nothing about the sex breakdown.
    let input = count(
        19,
        &[
            ("sex", &[("female", 9), ("male", 9), ("other", 1)]),
            ("migrant_status", &[("migrant", 10), ("non_migrant", 9)]),
        ],
    );
    let out = protect_one(input, 5, &[]);
    assert_eq!(
        out,
        count_cells(
            Cell::Published(19),
            &[
                (
                    "sex",
                    &[
                        ("female", Cell::Suppressed),
                        ("male", Cell::Published(9)),
                        ("other", Cell::Suppressed),
                        ("unknown", Cell::Suppressed),
                    ],
                ),
                (
                    "migrant_status",
                    &[
                        ("migrant", Cell::Published(10)),
                        ("non_migrant", Cell::Published(9))
                    ],
                ),
            ],
        )
    );
}

#[test]
fn a_later_revision_keeps_earlier_cells_withheld() {
    let rev1 = protect_one(
        count(19, &[("sex", &[("female", 9), ("male", 9), ("other", 1)])]),
        5,
        &[],
    );
    // Nothing is small any more, but female, other and unknown were withheld before: publishing
    // them now would give revision 1's other = 1 away by difference.
    let rev2 = protect_one(
        count(24, &[("sex", &[("female", 9), ("male", 9), ("other", 6)])]),
        5,
        &[&rev1],
    );
    assert_eq!(
        rev2,
        count_cells(
            Cell::Published(24),
            &[(
                "sex",
                &[
                    ("female", Cell::Suppressed),
                    ("male", Cell::Published(9)),
                    ("other", Cell::Suppressed),
                    ("unknown", Cell::Suppressed),
                ],
            )],
        )
    );
}

#[test]
fn a_withheld_total_is_published_once_it_reaches_the_threshold() {
    let rev1 = protect_one(count(3, &[("sex", &[("female", 3)])]), 5, &[]);
    assert_eq!(rev1.total, Cell::Suppressed);
    let rev2 = protect_one(count(40, &[("sex", &[("female", 40)])]), 5, &[&rev1]);
    // The cells stay withheld; the total cannot be the withheld one, which was below 5.
    assert_eq!(rev2.total, Cell::Published(40));
    assert!(rev2.breakdowns["sex"].values().all(|c| c.is_suppressed()));
}

#[test]
fn a_withheld_total_that_falls_to_zero_stays_withheld() {
    let rev1 = protect_one(count(3, &[]), 5, &[]);
    assert_eq!(rev1, count_cells(Cell::Suppressed, &[]));
    let rev2 = protect_one(count(0, &[]), 5, &[&rev1]);
    assert_eq!(rev2, count_cells(Cell::Suppressed, &[]));
    // Without the earlier revision, zero is published.
    assert_eq!(protect_one(count(0, &[]), 5, &[]), count(0, &[]));
}

#[test]
fn sticky_cells_with_a_zero_total_withhold_the_total() {
    let rev1 = protect_one(count(6, &[("sex", &[("female", 5), ("male", 1)])]), 5, &[]);
    let rev2 = protect_one(count(0, &[("sex", &[])]), 5, &[&rev1]);
    assert_eq!(rev2.total, Cell::Suppressed);
    assert!(rev2.breakdowns["sex"].values().all(|c| c.is_suppressed()));
}

#[test]
fn the_threshold_must_be_at_least_two() {
    let f = Framework::v1();
    let r = report(1, vec![(SENSITIVE[0], Value::Count(CountValue::total(3)))]);
    for t in [0, 1, 1001] {
        assert_eq!(protect(&r, &f, t, &[]), Err(DisclosureError::Threshold(t)));
    }
    let out = protect(&r, &f, 2, &[]).expect("threshold 2");
    assert_eq!(out.disclosure_threshold, 2);
    assert_eq!(
        out.values[&id(SENSITIVE[0])],
        Value::Count(CountValue::total(3))
    );
}

#[test]
fn other_values_pass_through_and_the_threshold_is_recorded() {
    let f = Framework::v1();
    let r = report(1, other_values());
    let out = protect(&r, &f, DEFAULT_DISCLOSURE_THRESHOLD, &[]).expect("protect");
    assert_eq!(out.values, r.values);
    assert_eq!(out.disclosure_threshold, DEFAULT_DISCLOSURE_THRESHOLD);

    let mut withdrawn = report(2, vec![]);
    withdrawn.withdrawn = true;
    let out = protect(&withdrawn, &f, 7, &[]).expect("protect");
    assert_eq!(
        out,
        Report {
            disclosure_threshold: 7,
            ..withdrawn
        }
    );
    f.check_report(&out).expect("still valid");
}

#[test]
fn input_that_is_not_true_values_is_refused() {
    let f = Framework::v1();
    let refused = |value: CountValue| {
        let r = report(1, vec![(SENSITIVE[0], Value::Count(value))]);
        match protect(&r, &f, 5, &[]) {
            Err(DisclosureError::Input(ReportError { field, problem })) => (field, problem),
            other => panic!("expected an input error, got {other:?}"),
        }
    };
    let mut suppressed = count(6, &[("sex", &[("female", 6)])]);
    suppressed
        .breakdowns
        .get_mut("sex")
        .expect("sex")
        .insert("male".into(), Cell::Suppressed);
    assert_eq!(
        refused(suppressed),
        (
            r#"values["exposure.cases_documented"].breakdowns["sex"]["male"]"#.to_owned(),
            Problem::AlreadySuppressed
        )
    );
    assert_eq!(
        refused(count_cells(Cell::Suppressed, &[])).1,
        Problem::AlreadySuppressed
    );
    assert_eq!(
        refused(count(6, &[("sex", &[("female", 5)])])).1,
        Problem::CellsDoNotAddUp { sum: 5, total: 6 }
    );
    assert_eq!(
        refused(count(6, &[("authority", &[("police", 6)])])).1,
        Problem::UnknownBreakdown
    );
    assert_eq!(
        refused(count(6, &[("sex", &[("femal", 6)])])).1,
        Problem::UnknownValue {
            dimension: "sex".into()
        }
    );

    let r = report(
        1,
        vec![("awareness.nope", Value::Count(CountValue::total(1)))],
    );
    assert!(matches!(
        protect(&r, &f, 5, &[]),
        Err(DisclosureError::Input(ReportError {
            problem: Problem::UnknownIndicator,
            ..
        }))
    ));
}

#[test]
fn earlier_revisions_must_be_of_the_same_period() {
    let f = Framework::v1();
    let r = report(2, vec![]);
    let mut other = report(1, vec![]);
    other.period = "2010".parse().expect("period");
    assert!(matches!(
        protect(&r, &f, 5, &[other]),
        Err(DisclosureError::EarlierOfAnotherPeriod { .. })
    ));
}

// ------------------------------------------------------------------------------------------------
// The checker: works from published forms only.

/// What an observer knows about one count from the published forms of it: a total or a cell is
/// known when any form publishes it, and each breakdown any form carries says that its cells add
/// up to the total. A value a form leaves out of a breakdown it carries is a published zero.
#[derive(Debug)]
struct Knowledge {
    total: Option<u64>,
    breakdowns: BTreeMap<String, BTreeMap<String, Option<u64>>>,
}

/// A withheld value: the total or one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unknown<'a> {
    Total,
    Cell(&'a str, &'a str),
}

fn knowledge(forms: &[&CountValue], dims: &[&Dimension]) -> Result<Knowledge, TestCaseError> {
    let mut k = Knowledge {
        total: None,
        breakdowns: BTreeMap::new(),
    };
    for form in forms {
        if let Cell::Published(n) = form.total {
            prop_assert!(k.total.is_none_or(|m| m == n), "totals disagree");
            k.total = Some(n);
        }
        for (dim_id, cells) in &form.breakdowns {
            let dim = dims
                .iter()
                .find(|d| &d.id == dim_id)
                .ok_or_else(|| TestCaseError::fail(format!("unknown breakdown {dim_id}")))?;
            let known = k
                .breakdowns
                .entry(dim_id.clone())
                .or_insert_with(|| dim.values.iter().map(|v| (v.id.clone(), None)).collect());
            for v in &dim.values {
                if let Cell::Published(n) = cells.get(&v.id).copied().unwrap_or(Cell::Published(0))
                {
                    let slot = known.get_mut(&v.id).expect("every value has a slot");
                    prop_assert!(slot.is_none_or(|m| m == n), "cells disagree");
                    *slot = Some(n);
                }
            }
        }
    }
    Ok(k)
}

impl Knowledge {
    fn unknowns(&self) -> Vec<Unknown<'_>> {
        let mut out = Vec::new();
        if self.total.is_none() {
            out.push(Unknown::Total);
        }
        for (dim, cells) in &self.breakdowns {
            for (value, cell) in cells {
                if cell.is_none() {
                    out.push(Unknown::Cell(dim, value));
                }
            }
        }
        out
    }

    fn is_unknown(&self, target: Unknown<'_>) -> bool {
        match target {
            Unknown::Total => self.total.is_none(),
            Unknown::Cell(dim, value) => {
                matches!(
                    self.breakdowns.get(dim).and_then(|c| c.get(value)),
                    Some(None)
                )
            }
        }
    }

    /// Whether `target` can be `x` given everything known: tries every total that could work.
    ///
    /// For a given total, a breakdown is satisfiable when its known cells (with `x` in place of
    /// the target) add up to exactly the total and no unknown cell is left, or to at most the
    /// total with at least one unknown cell left (unknown cells are any integers ≥ 0, so one or
    /// more of them can make up any non-negative rest). Every total that can work is at most the
    /// largest known sum of a breakdown, or is `x` itself for the total, so the search is finite.
    fn possible(&self, target: Unknown<'_>, x: u64) -> bool {
        let sums: Vec<(u64, usize)> = self
            .breakdowns
            .iter()
            .map(|(dim, cells)| {
                let mut known = 0;
                let mut free = 0;
                for (value, cell) in cells {
                    match cell {
                        Some(n) => known += n,
                        None if target == Unknown::Cell(dim, value) => known += x,
                        None => free += 1,
                    }
                }
                (known, free)
            })
            .collect();
        let fits = |total: u64| {
            sums.iter().all(|&(known, free)| {
                if free == 0 {
                    known == total
                } else {
                    known <= total
                }
            })
        };
        match (self.total, target) {
            (Some(total), _) => target != Unknown::Total && fits(total),
            (None, Unknown::Total) => fits(x),
            (None, Unknown::Cell(..)) => {
                let bound = sums.iter().map(|s| s.0).max().unwrap_or(0);
                (0..=bound).any(fits)
            }
        }
    }
}

/// The rule over everything `forms` publish together: every withheld value can be anything from
/// 0 to t − 1.
fn rule_holds(
    forms: &[&CountValue],
    dims: &[&Dimension],
    t: u64,
    what: &str,
) -> Result<(), TestCaseError> {
    let k = knowledge(forms, dims)?;
    for target in k.unknowns() {
        for x in 0..t {
            prop_assert!(
                k.possible(target, x),
                "{what}: {target:?} cannot be {x} at threshold {t}, given {k:?}"
            );
        }
    }
    Ok(())
}

/// Everything any of `forms` withholds is still unknown given all of them.
fn withheld_anywhere_stays_unknown(
    forms: &[&CountValue],
    dims: &[&Dimension],
    what: &str,
) -> Result<(), TestCaseError> {
    let k = knowledge(forms, dims)?;
    for form in forms {
        if form.total.is_suppressed() {
            prop_assert!(
                k.is_unknown(Unknown::Total),
                "{what}: total published later"
            );
        }
        for (dim, cells) in &form.breakdowns {
            for (value, cell) in cells {
                if cell.is_suppressed() {
                    prop_assert!(
                        k.is_unknown(Unknown::Cell(dim, value)),
                        "{what}: {dim}/{value} withheld once, published by another revision"
                    );
                }
            }
        }
    }
    Ok(())
}

/// Every cell `earlier` withholds is withheld by `later` wherever `later` carries its breakdown.
fn cells_stay_withheld(
    earlier: &CountValue,
    later: &CountValue,
    dims: &[&Dimension],
    what: &str,
) -> Result<(), TestCaseError> {
    for (dim, cells) in &earlier.breakdowns {
        let Some(later_cells) = later.breakdowns.get(dim) else {
            continue;
        };
        prop_assert!(dims.iter().any(|d| &d.id == dim));
        for (value, cell) in cells {
            if cell.is_suppressed() {
                prop_assert_eq!(
                    later_cells.get(value),
                    Some(&Cell::Suppressed),
                    "{}: {}/{} withheld earlier",
                    what,
                    dim,
                    value
                );
            }
        }
    }
    Ok(())
}

/// Everything a single protected report must satisfy.
fn check_protected(
    f: &Framework,
    input: &Report,
    truths: &BTreeMap<String, Truth>,
    out: &Report,
    t: u64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(f.check_report(out), Ok(()));
    prop_assert_eq!(out.disclosure_threshold, t);
    prop_assert_eq!(
        out.values.keys().collect::<Vec<_>>(),
        input.values.keys().collect::<Vec<_>>()
    );
    for (key, value) in &input.values {
        if !SENSITIVE.contains(&key.as_str()) {
            prop_assert_eq!(&out.values[key], value, "{} changed", key);
        }
    }
    for (key, truth) in truths {
        let dims = dimensions(f, key);
        let (Some(Value::Count(given)), Some(Value::Count(published))) =
            (input.values.get(&id(key)), out.values.get(&id(key)))
        else {
            return Err(TestCaseError::fail(format!("{key} is not a count")));
        };
        check_count(truth, given, published, &dims, t, key)?;
        rule_holds(&[published], &dims, t, key)?;
    }
    Ok(())
}

fn check_count(
    truth: &Truth,
    given: &CountValue,
    published: &CountValue,
    dims: &[&Dimension],
    t: u64,
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        published.breakdowns.keys().collect::<Vec<_>>(),
        given.breakdowns.keys().collect::<Vec<_>>(),
        "{}: breakdowns carried",
        what
    );
    match published.total {
        Cell::Published(n) => prop_assert_eq!(n, truth.total, "{}: total", what),
        Cell::Suppressed => prop_assert!(truth.total < t, "{what}: total {} withheld", truth.total),
    }
    let small = |n: u64| (1..t).contains(&n);
    prop_assert!(!small(truth.total) || published.total.is_suppressed());
    for (dim_id, cells) in &published.breakdowns {
        let dim = dims
            .iter()
            .find(|d| &d.id == dim_id)
            .ok_or_else(|| TestCaseError::fail("unknown breakdown"))?;
        let any_withheld = cells.values().any(|c| c.is_suppressed());
        if any_withheld {
            prop_assert_eq!(
                cells.len(),
                dim.values.len(),
                "{}/{}: not listed in full",
                what,
                dim_id
            );
        }
        if published.total.is_suppressed() {
            prop_assert!(any_withheld && cells.values().all(|c| c.is_suppressed()));
        }
        let mut sum = 0;
        for v in &dim.values {
            let true_n = truth.cells[dim_id][&v.id];
            match cells.get(&v.id).copied().unwrap_or(Cell::Published(0)) {
                Cell::Published(n) => {
                    prop_assert_eq!(n, true_n, "{}: {}/{}", what, dim_id, v.id);
                    prop_assert!(!small(n), "{what}: {dim_id}/{} = {n} published", v.id);
                    prop_assert!(
                        !(any_withheld && n == 0),
                        "{what}: zero {dim_id}/{} published beside a withheld cell",
                        v.id
                    );
                    sum += n;
                }
                Cell::Suppressed => {}
            }
        }
        if let Cell::Published(total) = published.total {
            prop_assert!(sum <= total, "{what}/{dim_id}: {sum} > {total}");
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Generated input

/// Cases as (crossed cell, count): coordinates pick a value of each breakdown, in the order the
/// indicator lists them, by remainder.
type Table = Vec<([usize; 3], u64)>;

#[derive(Debug, Clone)]
struct Case {
    threshold: u64,
    /// One table per indicator of [`SENSITIVE`].
    tables: [Table; 3],
    /// Which breakdowns each indicator carries, one bit per breakdown.
    masks: [u8; 3],
    /// Whether breakdowns list their zeros.
    explicit_zeros: bool,
}

/// True values of one count: the total and every cell of every breakdown the indicator has.
#[derive(Debug, Clone)]
struct Truth {
    total: u64,
    cells: BTreeMap<String, BTreeMap<String, u64>>,
}

fn case() -> impl Strategy<Value = Case> {
    (2u64..=10).prop_flat_map(|t| {
        (
            Just(t),
            [table(t), table(t), table(t)],
            masks(),
            any::<bool>(),
        )
            .prop_map(|(threshold, tables, masks, explicit_zeros)| Case {
                threshold,
                tables,
                masks,
                explicit_zeros,
            })
    })
}

fn masks() -> impl Strategy<Value = [u8; 3]> {
    [0u8..8, 0u8..8, 0u8..8]
}

fn coords() -> impl Strategy<Value = [usize; 3]> {
    [0usize..60, 0usize..60, 0usize..60]
}

/// Tables that cover the hard cases on purpose, besides mixed ones.
fn table(t: u64) -> impl Strategy<Value = Table> {
    prop_oneof![
        // All zeros.
        Just(Vec::new()),
        // A single non-zero cell, small or not.
        (coords(), 1..=3 * t).prop_map(|(c, n)| vec![(c, n)]),
        // Several cells of 1.
        prop::collection::vec((coords(), Just(1u64)), 1..=6),
        // A total just around the threshold (t − 1 to t + 2), mostly in one cell, the rest ones.
        (prop::collection::vec(coords(), 1..=3), (t - 1)..=(t + 2)).prop_map(|(cells, n)| {
            let ones = (cells.len() as u64 - 1).min(n);
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| (*c, if i == 0 { n - ones } else { 1 }))
                .collect()
        }),
        // Mixed: zeros, small and large cells.
        prop::collection::vec((coords(), prop_oneof![0u64..=2, 1..t, t..=3 * t]), 1..=8),
    ]
}

/// A report of the three sensitive counts from `tables` (with the breakdowns `masks` pick) and
/// some values of other kinds, with the true values of the sensitive counts.
fn build(
    f: &Framework,
    tables: &[Table; 3],
    masks: [u8; 3],
    explicit_zeros: bool,
    revision: u64,
) -> (Report, BTreeMap<String, Truth>) {
    let mut values = other_values();
    let mut truths = BTreeMap::new();
    for ((key, table), mask) in SENSITIVE.iter().zip(tables).zip(masks) {
        let dims = dimensions(f, key);
        let truth = truth_of(&dims, table);
        let mut value = CountValue::total(truth.total);
        for (i, dim) in dims.iter().enumerate() {
            if mask & (1 << i) == 0 {
                continue;
            }
            let cells = truth.cells[&dim.id]
                .iter()
                .filter(|(_, n)| explicit_zeros || **n > 0)
                .map(|(v, n)| (v.clone(), Cell::Published(*n)))
                .collect();
            value.breakdowns.insert(dim.id.clone(), cells);
        }
        values.push((key, Value::Count(value)));
        truths.insert((*key).to_owned(), truth);
    }
    (report(revision, values), truths)
}

fn truth_of(dims: &[&Dimension], table: &Table) -> Truth {
    let mut truth = Truth {
        total: table.iter().map(|(_, n)| n).sum(),
        cells: dims
            .iter()
            .map(|d| {
                let zeros = d.values.iter().map(|v| (v.id.clone(), 0)).collect();
                (d.id.clone(), zeros)
            })
            .collect(),
    };
    for (coords, n) in table {
        for (dim, c) in dims.iter().zip(coords) {
            let value = &dim.values[c % dim.values.len()].id;
            *truth
                .cells
                .get_mut(&dim.id)
                .and_then(|cells| cells.get_mut(value))
                .expect("every value has a cell") += n;
        }
    }
    truth
}

/// Values of indicators that are not sensitive, with small counts that must pass unchanged.
fn other_values() -> Vec<(&'static str, Value)> {
    vec![
        ("awareness.activities", Value::Count(CountValue::total(1))),
        (
            "awareness.people_reached",
            Value::Count(count(3, &[("sex", &[("female", 1), ("male", 2)])])),
        ),
        (
            "ratification.convention_status",
            Value::Status([("c29".to_owned(), ConventionStatus::Ratified)].into()),
        ),
        (
            "internal_support.budget_allocated",
            Value::Amount([("EUR".parse::<Currency>().expect("EUR"), 10_000)].into()),
        ),
        (
            "internal_support.policy_adopted",
            Value::Flag(FlagValue {
                value: true,
                breakdowns: BTreeMap::new(),
            }),
        ),
    ]
}

// ------------------------------------------------------------------------------------------------
// Small helpers

fn report(revision: u64, values: Vec<(&str, Value)>) -> Report {
    Report {
        org: "cut-brazil".parse().expect("org id"),
        period: "2009".parse().expect("period"),
        framework_version: 1,
        revision,
        prepared_at: Timestamp(1_262_304_000),
        prepared_by: "cut-brazil".parse().expect("org id"),
        disclosure_threshold: DEFAULT_DISCLOSURE_THRESHOLD,
        withdrawn: false,
        narratives: BTreeMap::new(),
        values: values.into_iter().map(|(k, v)| (id(k), v)).collect(),
    }
}

fn id(key: &str) -> IndicatorId {
    key.parse().expect("indicator id")
}

fn dimension<'f>(f: &'f Framework, id: &str) -> &'f Dimension {
    f.dimension(id).expect("dimension of v1")
}

fn dimensions<'f>(f: &'f Framework, key: &str) -> Vec<&'f Dimension> {
    f.indicator(&id(key))
        .expect("indicator of v1")
        .breakdowns
        .iter()
        .map(|d| dimension(f, d))
        .collect()
}

fn count_in<'r>(report: &'r Report, key: &str) -> Option<&'r CountValue> {
    match report.values.get(&id(key)) {
        Some(Value::Count(c)) => Some(c),
        _ => None,
    }
}

/// A count of true values.
fn count(total: u64, breakdowns: &[(&str, &[(&str, u64)])]) -> CountValue {
    CountValue {
        total: Cell::Published(total),
        breakdowns: breakdowns
            .iter()
            .map(|(dim, cells)| {
                let cells = cells
                    .iter()
                    .map(|(v, n)| ((*v).to_owned(), Cell::Published(*n)))
                    .collect();
                ((*dim).to_owned(), cells)
            })
            .collect(),
    }
}

/// A count given cell by cell.
fn count_cells(total: Cell, breakdowns: &[(&str, &[(&str, Cell)])]) -> CountValue {
    CountValue {
        total,
        breakdowns: breakdowns
            .iter()
            .map(|(dim, cells)| {
                let cells = cells.iter().map(|(v, c)| ((*v).to_owned(), *c)).collect();
                ((*dim).to_owned(), cells)
            })
            .collect(),
    }
}

/// `exposure.cases_documented` protected through `protect_count` at threshold `t`.
fn protect_one(value: CountValue, t: u64, earlier: &[&CountValue]) -> CountValue {
    let f = Framework::v1();
    let dims = dimensions(&f, SENSITIVE[0]);
    protect_count(&value, &dims, t, earlier).expect("protect_count")
}
