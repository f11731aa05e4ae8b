//! The hub's merge rules (DESIGN.md §4, BAD_INPUTS 12 and 15–18): properties over generated sets
//! of entries, then worked examples.
//!
//! The properties say that the ledger is a function of the set of stored entries: any order, any
//! duplicates, one at a time or rebuilt at once, give the same winners, equivocation flags, views
//! and kept totals; and that the outcomes and totals agree with a naive model written here.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use alliance_core::framework::{ConventionStatus, Framework};
use alliance_core::merge::{
    CountCell, Entry, GroupBy, GroupKey, Ledger, MergeError, Query, StatusCell, Submission, View,
    default_deadline,
};
use alliance_core::org::{OrgKind, Region};
use alliance_core::report::{Currency, FlagValue};
use alliance_core::{
    Cell, CountValue, IndicatorId, OrgId, Organisation, Outcome, OutcomeKind, Period, PeriodSpan,
    Registry, Report, ReportId, Timestamp, Value,
};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------------------------
// Properties

/// Organisations the generated reports come from: two in one country (for status conflicts), two
/// in another region, a GUF in two sectors and one the registry does not know.
const ORGS: [&str; 6] = [
    "cut-brazil",
    "fs-brazil",
    "ghana-tuc",
    "ituc-africa",
    "bwi",
    "ghost",
];
const YEARS: [u16; 3] = [2008, 2009, 2010];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// (a) Any permutation, with any entries repeated (and received at other times), gives the
    /// same winners, equivocation flags, views and totals as the set in its original order; each
    /// outcome follows the rules applied to what was held at that moment; a duplicate keeps the
    /// earliest receipt.
    #[test]
    fn order_and_duplicates_change_nothing((pool, arrivals) in arrivals()) {
        let (registry, framework) = (registry(), Framework::v1());
        let in_order = insert_all(&registry, &pool);

        let mut shuffled = Ledger::new(&registry);
        let mut held: Vec<Entry> = Vec::new();
        for entry in &arrivals {
            let expected = naive_outcome(&held, entry);
            prop_assert_eq!(shuffled.decide(entry).unwrap(), expected);
            prop_assert_eq!(shuffled.insert(entry.clone()).unwrap(), expected);
            if !held.iter().any(|h| h.report_id == entry.report_id) {
                held.push(entry.clone());
            }
        }

        prop_assert_eq!(winners(&in_order), winners(&shuffled));
        prop_assert_eq!(in_order.equivocated(), shuffled.equivocated());
        prop_assert_eq!(in_order.equivocated(), naive_equivocated(&pool));
        prop_assert_eq!(in_order.aggregates(), shuffled.aggregates());
        for query in queries() {
            prop_assert_eq!(in_order.view(&query, &framework), shuffled.view(&query, &framework));
        }
        prop_assert_eq!(shuffled.len(), pool.len());
        for entry in &pool {
            let earliest = arrivals
                .iter()
                .filter(|a| a.report_id == entry.report_id)
                .map(|a| a.received_at)
                .min();
            prop_assert_eq!(shuffled.first_received_at(entry), earliest);
        }
        // A rebuild from the arrivals in yet another order is the same ledger, receipt times
        // included.
        let rebuilt = Ledger::from_entries(&registry, arrivals.iter().rev().cloned()).unwrap();
        prop_assert_eq!(rebuilt, shuffled);
    }

    /// (b) Inserting one at a time, which keeps the totals by subtracting old winners and adding
    /// new ones, equals a rebuild; a view from the kept totals equals one computed from the
    /// winners; and both agree with sums taken naively over the winners. A registry change
    /// re-files organisations exactly as a rebuild with the new registry would.
    #[test]
    fn incremental_equals_rebuild(pool in pool()) {
        let (registry, framework) = (registry(), Framework::v1());
        for entry in &pool {
            prop_assert_eq!(framework.check_report(&entry.report), Ok(()));
        }
        let incremental = insert_all(&registry, &pool);
        let rebuilt = Ledger::from_entries(&registry, pool.iter().cloned()).unwrap();
        prop_assert_eq!(incremental.aggregates(), rebuilt.aggregates());
        prop_assert_eq!(&incremental, &rebuilt);
        for query in queries() {
            let view = incremental.view(&query, &framework);
            prop_assert_eq!(&view, &rebuilt.view(&query, &framework));
            prop_assert_eq!(&view, &incremental.view_from_winners(&query, &framework));
        }
        for span in spans() {
            check_against_naive_sums(&incremental, &pool, span, &framework)?;
        }

        let moved = moved_registry();
        let mut refiled = incremental.clone();
        refiled.set_registry(&moved);
        let rebuilt = Ledger::from_entries(&moved, pool.iter().cloned()).unwrap();
        prop_assert_eq!(refiled.aggregates(), rebuilt.aggregates());
        prop_assert_eq!(&refiled, &rebuilt);
    }
}

/// Every report id is unique in a pool; arrivals repeat some of them, received at other times,
/// and come in any order.
fn arrivals() -> impl Strategy<Value = (Vec<Entry>, Vec<Entry>)> {
    let copies = prop::collection::vec((any::<Index>(), 0..2_000i64), 0..8);
    (pool(), copies).prop_flat_map(|(pool, copies)| {
        let mut arrivals = pool.clone();
        if !pool.is_empty() {
            for (index, at) in copies {
                let mut copy = pool[index.index(pool.len())].clone();
                copy.received_at = Timestamp(at);
                arrivals.push(copy);
            }
        }
        (Just(pool), Just(arrivals).prop_shuffle())
    })
}

/// Up to 24 entries over 6 organisations, 3 years and 4 revisions, so that keys often hold
/// several revisions and sometimes two reports of one revision. Report ids start with a random
/// byte, so which of two equal revisions wins is random too.
fn pool() -> impl Strategy<Value = Vec<Entry>> {
    let spec = (
        0..ORGS.len(),
        0..YEARS.len(),
        1..=4u64,
        any::<u8>(),
        prop::bool::weighted(0.15),
        values(),
        0..1_000i64,
    );
    prop::collection::vec(spec, 0..24).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (org, year, revision, tag, withdrawn, values, at))| {
                let mut id = [0u8; 32];
                id[0] = tag;
                id[1] = i as u8;
                let values = if withdrawn { BTreeMap::new() } else { values };
                let mut report = report(ORGS[org], Period::Year(YEARS[year]), revision, values);
                report.withdrawn = withdrawn;
                Entry {
                    report_id: ReportId(id),
                    report,
                    received_at: Timestamp(at),
                }
            })
            .collect()
    })
}

/// Values of every kind: a flow, a flow with an optional breakdown, a stock, a sensitive count
/// with withheld cells or total, statuses, flags with and without a breakdown, amounts in two
/// currencies.
fn values() -> impl Strategy<Value = BTreeMap<IndicatorId, Value>> {
    let status = || prop::sample::select(ConventionStatus::ALL.to_vec());
    (
        prop::option::of(0..50u64),
        prop::option::of((0..50u64, prop::option::of(0..=50u64))),
        prop::option::of(0..30u64),
        prop::option::of((0..4u8, 0..30u64, 0..30u64)),
        prop::option::of((status(), prop::option::of(status()))),
        prop::option::of(any::<bool>()),
        prop::option::of((any::<bool>(), any::<bool>())),
        prop::option::of((1..100_000u64, prop::option::of(1..100_000u64))),
    )
        .prop_map(
            |(activities, reached, agencies, cases, statuses, policy, sectors, budget)| {
                let mut values = BTreeMap::new();
                if let Some(n) = activities {
                    values.insert(id("awareness.activities"), count(n));
                }
                if let Some((total, female)) = reached {
                    let value = match female {
                        Some(f) => {
                            let f = f.min(total);
                            published_split(total, "sex", &[("female", f), ("male", total - f)])
                        }
                        None => count(total),
                    };
                    values.insert(id("awareness.people_reached"), value);
                }
                if let Some(n) = agencies {
                    values.insert(id("monitoring.agencies_monitored"), count(n));
                }
                if let Some((mode, a, b)) = cases {
                    values.insert(id("exposure.cases_documented"), sensitive(mode, a, b));
                }
                if let Some((c29, c105)) = statuses {
                    let mut by_convention = BTreeMap::from([("c29".to_owned(), c29)]);
                    if let Some(s) = c105 {
                        by_convention.insert("c105".to_owned(), s);
                    }
                    values.insert(
                        id("ratification.convention_status"),
                        Value::Status(by_convention),
                    );
                }
                if let Some(yes) = policy {
                    values.insert(id("internal_support.policy_adopted"), flag(yes, &[]));
                }
                if let Some((construction, fishing)) = sectors {
                    let cells = [("construction", construction), ("fishing", fishing)];
                    values.insert(
                        id("gufs.sectors_targeted"),
                        flag(construction || fishing, &cells),
                    );
                }
                if let Some((eur, usd)) = budget {
                    let mut amounts = BTreeMap::from([(currency("EUR"), eur)]);
                    if let Some(usd) = usd {
                        amounts.insert(currency("USD"), usd);
                    }
                    values.insert(
                        id("internal_support.budget_allocated"),
                        Value::Amount(amounts),
                    );
                }
                values
            },
        )
}

/// A sensitive count in one of the shapes disclosure control leaves: published with no
/// breakdown, published in full, a published total with withheld cells, a withheld total.
fn sensitive(mode: u8, a: u64, b: u64) -> Value {
    match mode {
        0 => count(a),
        1 => published_split(a + b, "sex", &[("female", a), ("male", b)]),
        2 => Value::Count(CountValue {
            total: Cell::Published(a + b + 8),
            breakdowns: BTreeMap::from([
                (
                    "sex".to_owned(),
                    cells(&[
                        ("female", Cell::Published(a)),
                        ("male", Cell::Suppressed),
                        ("unknown", Cell::Suppressed),
                    ]),
                ),
                (
                    "migrant_status".to_owned(),
                    cells(&[
                        ("migrant", Cell::Suppressed),
                        ("non_migrant", Cell::Suppressed),
                        ("unknown", Cell::Published(b)),
                    ]),
                ),
            ]),
        }),
        _ => Value::Count(CountValue {
            total: Cell::Suppressed,
            breakdowns: BTreeMap::from([(
                "sex".to_owned(),
                cells(&[("female", Cell::Suppressed), ("male", Cell::Suppressed)]),
            )]),
        }),
    }
}

/// Every roll-up over single years and runs of years, for all action points and for one.
fn queries() -> Vec<Query> {
    let mut queries = Vec::new();
    for span in spans() {
        for by in GroupBy::ALL {
            queries.push(Query::new(span, by));
            queries.push(Query::new(span, by).action_point("exposure"));
        }
    }
    queries
}

fn spans() -> Vec<PeriodSpan> {
    ["2008", "2009", "2010", "2008..2010", "2009..2010"]
        .iter()
        .map(|s| s.parse().expect("a span"))
        .collect()
}

/// The outcome by the rules of DESIGN.md §4, from the list of what is already held.
fn naive_outcome(held: &[Entry], entry: &Entry) -> Outcome {
    let same_key: Vec<&Entry> = held
        .iter()
        .filter(|h| h.report.key() == entry.report.key())
        .collect();
    let revision = entry.report.revision;
    let kind = if held.iter().any(|h| h.report_id == entry.report_id) {
        OutcomeKind::Duplicate
    } else if same_key.iter().any(|h| h.report.revision == revision) {
        OutcomeKind::Equivocation
    } else if same_key.iter().any(|h| h.report.revision > revision) {
        OutcomeKind::Superseded
    } else {
        OutcomeKind::Accepted
    };
    let winner = same_key
        .into_iter()
        .chain([entry])
        .max_by_key(|e| (e.report.revision, Reverse(e.report_id)))
        .expect("the entry itself is a candidate");
    Outcome {
        kind,
        winning_revision: winner.report.revision,
        winning_report_id: winner.report_id,
    }
}

fn naive_winners(entries: &[Entry]) -> BTreeMap<(OrgId, Period), &Entry> {
    let mut winners: BTreeMap<(OrgId, Period), &Entry> = BTreeMap::new();
    for e in entries {
        let rank = |e: &Entry| (e.report.revision, Reverse(e.report_id));
        let slot = winners.entry(e.report.key()).or_insert(e);
        if rank(e) > rank(slot) {
            *slot = e;
        }
    }
    winners
}

fn naive_equivocated(entries: &[Entry]) -> BTreeSet<(OrgId, Period)> {
    let mut flagged = BTreeSet::new();
    for a in entries {
        for b in entries {
            let same = a.report.key() == b.report.key() && a.report.revision == b.report.revision;
            if same && a.report_id != b.report_id {
                flagged.insert(a.report.key());
            }
        }
    }
    flagged
}

/// Compares the alliance view with sums taken directly over the winners: a flow summed, a stock
/// from each organisation's latest report that gives it, a sensitive total as a range.
fn check_against_naive_sums(
    ledger: &Ledger,
    entries: &[Entry],
    span: PeriodSpan,
    framework: &Framework,
) -> Result<(), TestCaseError> {
    let winners: Vec<&Entry> = naive_winners(entries)
        .into_values()
        .filter(|w| span.contains(w.report.period) && !w.report.withdrawn)
        .collect();
    let view = ledger.view(&Query::new(span, GroupBy::Alliance), framework);
    let alliance = view.groups.get(&GroupKey::Alliance);
    let reporting: BTreeSet<OrgId> = winners.iter().map(|w| w.report.org.clone()).collect();
    prop_assert_eq!(
        alliance.map(|g| g.reporting.clone()).unwrap_or_default(),
        reporting
    );

    let total = |w: &Entry, name: &str| match w.report.values.get(&id(name)) {
        Some(Value::Count(c)) => Some(c.total),
        _ => None,
    };
    let cell = |name: &str| {
        alliance
            .and_then(|g| g.counts.get(&id(name)))
            .map(|c| c.total)
    };

    let activities: Vec<Cell> = winners
        .iter()
        .filter_map(|w| total(w, "awareness.activities"))
        .collect();
    prop_assert_eq!(cell("awareness.activities"), naive_cell(&activities));

    let mut latest: BTreeMap<&OrgId, (Period, Cell)> = BTreeMap::new();
    for w in &winners {
        if let Some(c) = total(w, "monitoring.agencies_monitored") {
            let slot = latest.entry(&w.report.org).or_insert((w.report.period, c));
            if w.report.period > slot.0 {
                *slot = (w.report.period, c);
            }
        }
    }
    let agencies: Vec<Cell> = latest.into_values().map(|(_, c)| c).collect();
    prop_assert_eq!(cell("monitoring.agencies_monitored"), naive_cell(&agencies));

    let cases: Vec<Cell> = winners
        .iter()
        .filter_map(|w| total(w, "exposure.cases_documented"))
        .collect();
    prop_assert_eq!(cell("exposure.cases_documented"), naive_cell(&cases));
    Ok(())
}

/// A sum of report totals, a withheld one being anywhere from 0 to threshold − 1 (4).
fn naive_cell(cells: &[Cell]) -> Option<CountCell> {
    if cells.is_empty() {
        return None;
    }
    let mut sum = CountCell::default();
    for c in cells {
        sum.contributions += 1;
        match c {
            Cell::Published(v) => {
                sum.lo += u128::from(*v);
                sum.hi += u128::from(*v);
            }
            Cell::Suppressed => {
                sum.hi += 4;
                sum.suppressed += 1;
            }
        }
    }
    Some(sum)
}

// ---------------------------------------------------------------------------------------------
// BAD_INPUTS 18: rev 3a, rev 4, rev 3b in every order

#[test]
fn equivocation_is_flagged_in_every_order() {
    let (registry, framework) = (registry(), Framework::v1());
    let rev3a = entry_with(
        rid(0x30),
        report("cut-brazil", year(2009), 3, activities(3)),
        10,
    );
    let rev4 = entry_with(
        rid(0x40),
        report("cut-brazil", year(2009), 4, activities(4)),
        11,
    );
    let rev3b = entry_with(
        rid(0x31),
        report("cut-brazil", year(2009), 3, activities(33)),
        12,
    );
    let all = [rev3a, rev4, rev3b];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let query = Query::new(PeriodSpan::single(year(2009)), GroupBy::Alliance);
    let mut views: Vec<View> = Vec::new();
    for order in orders {
        let mut ledger = Ledger::new(&registry);
        let mut threes_seen = 0;
        let mut highest = 0;
        for i in order {
            let entry = &all[i];
            let outcome = ledger.insert(entry.clone()).unwrap();
            let superseded = highest > entry.report.revision;
            highest = highest.max(entry.report.revision);
            assert_eq!(outcome.winning_revision, highest, "order {order:?}");
            let expected = if entry.report.revision == 3 {
                threes_seen += 1;
                // The second of the two is an equivocation, even when rev 4 already wins.
                match (threes_seen, superseded) {
                    (2, _) => OutcomeKind::Equivocation,
                    (_, true) => OutcomeKind::Superseded,
                    (_, false) => OutcomeKind::Accepted,
                }
            } else {
                OutcomeKind::Accepted
            };
            assert_eq!(outcome.kind, expected, "order {order:?}, entry {i}");
        }
        let winner = ledger.winner(&org("cut-brazil"), year(2009)).unwrap();
        assert_eq!(winner.report_id, rid(0x40), "order {order:?}");
        assert_eq!(
            ledger.equivocated(),
            BTreeSet::from([(org("cut-brazil"), year(2009))]),
            "order {order:?}"
        );
        let equivocations = ledger.equivocations();
        assert_eq!(equivocations.len(), 1);
        assert_eq!(equivocations[0].revision, 3);
        assert_eq!(equivocations[0].report_ids, vec![rid(0x30), rid(0x31)]);
        let view = ledger.view(&query, &framework);
        assert_eq!(view.equivocations, equivocations);
        assert_eq!(
            view.groups[&GroupKey::Alliance].counts[&id("awareness.activities")].total,
            exact(4, 1)
        );
        views.push(view);
    }
    assert!(views.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn at_equal_revision_the_smallest_report_id_wins() {
    let registry = registry();
    let mut ledger = Ledger::new(&registry);
    let high = entry_with(rid(0x90), report("bwi", year(2009), 2, activities(1)), 1);
    let low = entry_with(rid(0x10), report("bwi", year(2009), 2, activities(2)), 2);
    assert_eq!(
        ledger.insert(high).unwrap().kind,
        OutcomeKind::Accepted,
        "the first report of a key is accepted"
    );
    let outcome = ledger.insert(low).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Equivocation);
    assert_eq!(
        (outcome.winning_revision, outcome.winning_report_id),
        (2, rid(0x10))
    );
}

#[test]
fn a_replaced_winner_leaves_no_trace_in_the_totals() {
    // Found by the properties: a breakdown with nothing to count (a flag that is no in every
    // sector, a count breakdown listing no value) once left an empty entry in the totals or not
    // depending on the order of additions and subtractions.
    let registry = registry();
    let mut ledger = Ledger::new(&registry);
    let mut quiet = BTreeMap::from([(
        id("gufs.sectors_targeted"),
        flag(false, &[("construction", false)]),
    )]);
    quiet.insert(
        id("awareness.people_reached"),
        Value::Count(CountValue {
            total: Cell::Published(0),
            breakdowns: BTreeMap::from([("sex".to_owned(), BTreeMap::new())]),
        }),
    );
    let entries = [
        entry_with(rid(1), report("bwi", year(2009), 1, quiet.clone()), 1),
        entry_with(rid(2), report("ghana-tuc", year(2009), 1, quiet), 2),
        entry_with(rid(3), withdrawn("bwi", year(2009), 2), 3),
    ];
    for entry in &entries {
        ledger.insert(entry.clone()).unwrap();
    }
    let rebuilt = Ledger::from_entries(&registry, entries.into_iter().rev()).unwrap();
    assert_eq!(ledger.aggregates(), rebuilt.aggregates());
}

// ---------------------------------------------------------------------------------------------
// Outcomes: BAD_INPUTS 12, 15, 16

#[test]
fn a_duplicate_answers_with_the_first_receipt() {
    let mut ledger = Ledger::new(&registry());
    let first = entry_with(
        rid(1),
        report("ghana-tuc", year(2009), 1, activities(5)),
        100,
    );
    assert_eq!(
        ledger.insert(first.clone()).unwrap(),
        Outcome {
            kind: OutcomeKind::Accepted,
            winning_revision: 1,
            winning_report_id: rid(1),
        }
    );
    // The same report through a relay whose custody receipt is older than the hub's.
    let via_relay = Entry {
        received_at: Timestamp(50),
        ..first.clone()
    };
    let retry = Entry {
        received_at: Timestamp(300),
        ..first.clone()
    };
    for copy in [via_relay, retry] {
        let outcome = ledger.insert(copy).unwrap();
        assert_eq!(outcome.kind, OutcomeKind::Duplicate);
        assert_eq!(outcome.winning_report_id, rid(1));
        assert_eq!(ledger.first_received_at(&first), Some(Timestamp(50)));
    }
    assert_eq!(ledger.len(), 1);
    let view = ledger.view(
        &Query::new(PeriodSpan::single(year(2009)), GroupBy::Alliance),
        &Framework::v1(),
    );
    assert_eq!(
        view.groups[&GroupKey::Alliance].counts[&id("awareness.activities")].total,
        exact(5, 1),
        "counted once"
    );
}

#[test]
fn a_lower_revision_is_superseded_and_changes_nothing() {
    let framework = Framework::v1();
    let mut ledger = Ledger::new(&registry());
    let rev2 = entry_with(
        rid(2),
        report("ghana-tuc", year(2009), 2, activities(20)),
        1,
    );
    let rev1 = entry_with(
        rid(1),
        report("ghana-tuc", year(2009), 1, activities(10)),
        2,
    );
    ledger.insert(rev2).unwrap();
    let before: Vec<View> = queries()
        .iter()
        .map(|q| ledger.view(q, &framework))
        .collect();
    let aggregates = ledger.aggregates().clone();

    let outcome = ledger.insert(rev1).unwrap();
    assert_eq!(
        outcome,
        Outcome {
            kind: OutcomeKind::Superseded,
            winning_revision: 2,
            winning_report_id: rid(2),
        }
    );
    let after: Vec<View> = queries()
        .iter()
        .map(|q| ledger.view(q, &framework))
        .collect();
    assert_eq!(before, after);
    assert_eq!(&aggregates, ledger.aggregates());
    let history: Vec<u64> = ledger
        .history(&org("ghana-tuc"), year(2009))
        .map(|h| h.revision)
        .collect();
    assert_eq!(history, [1, 2], "kept in history, the winner last");
    assert_eq!(
        ledger.winning_revisions(&org("ghana-tuc")),
        BTreeMap::from([(year(2009), 2)])
    );
}

#[test]
fn a_period_overlapping_another_kind_is_refused_naming_both() {
    let registry = registry();
    let mut ledger = Ledger::new(&registry);
    let first = entry_with(
        rid(1),
        report("cut-brazil", year(2009), 1, activities(1)),
        1,
    );
    ledger.insert(first.clone()).unwrap();
    let before = ledger.clone();

    let half = Period::Half(2009, 1);
    let refused = entry_with(rid(2), report("cut-brazil", half, 1, activities(1)), 2);
    let expected = MergeError::OverlappingPeriod {
        org: org("cut-brazil"),
        period: half,
        held: year(2009),
    };
    assert_eq!(ledger.decide(&refused), Err(expected.clone()));
    assert_eq!(ledger.insert(refused.clone()), Err(expected.clone()));
    let message = expected.to_string();
    assert!(
        message.contains("2009-H1") && message.contains("period 2009,"),
        "{message}"
    );
    assert_eq!(ledger, before, "nothing stored");
    assert_eq!(ledger.first_received_at(&refused), None);

    // Another organisation, or a half that does not overlap, is fine.
    let other = entry_with(rid(3), report("fs-brazil", half, 1, activities(1)), 3);
    assert_eq!(
        ledger.insert(other.clone()).unwrap().kind,
        OutcomeKind::Accepted
    );
    let later = entry_with(
        rid(4),
        report("cut-brazil", Period::Half(2010, 1), 1, activities(1)),
        4,
    );
    assert_eq!(
        ledger.insert(later.clone()).unwrap().kind,
        OutcomeKind::Accepted
    );
    // And the other way round: a year over a half already reported.
    let year_over_half = entry_with(rid(5), report("fs-brazil", year(2009), 1, activities(1)), 5);
    assert_eq!(
        ledger.insert(year_over_half),
        Err(MergeError::OverlappingPeriod {
            org: org("fs-brazil"),
            period: year(2009),
            held: half,
        })
    );
    // A stored set never holds an overlap, so a rebuild of it succeeds.
    let rebuilt = Ledger::from_entries(&registry, [first, other, later]).unwrap();
    assert_eq!(rebuilt, ledger);
}

#[test]
fn one_report_id_cannot_name_two_reports() {
    let mut ledger = Ledger::new(&registry());
    ledger
        .insert(entry_with(
            rid(1),
            report("bwi", year(2009), 1, activities(1)),
            1,
        ))
        .unwrap();
    let forged = entry_with(rid(1), report("bwi", year(2009), 1, activities(2)), 2);
    assert_eq!(
        ledger.insert(forged),
        Err(MergeError::ReportIdReused { report_id: rid(1) })
    );
}

// ---------------------------------------------------------------------------------------------
// The view

#[test]
fn flows_are_summed_and_stocks_take_the_latest_value_over_a_span() {
    let framework = Framework::v1();
    let with = |a: u64, agencies: Option<u64>| {
        let mut values = activities(a);
        if let Some(n) = agencies {
            values.insert(id("monitoring.agencies_monitored"), count(n));
        }
        values
    };
    let entries = [
        entry_with(
            rid(1),
            report("cut-brazil", year(2008), 1, with(3, Some(10))),
            1,
        ),
        entry_with(
            rid(2),
            report("cut-brazil", year(2009), 1, with(4, Some(12))),
            2,
        ),
        // 2010 gives no stock, so 2009's stands.
        entry_with(
            rid(3),
            report("cut-brazil", year(2010), 1, with(5, None)),
            3,
        ),
        entry_with(
            rid(4),
            report("ghana-tuc", year(2009), 1, with(1, Some(2))),
            4,
        ),
        entry_with(
            rid(5),
            report("ghana-tuc", year(2010), 1, with(1, Some(7))),
            5,
        ),
        // A withdrawn winner counts as empty: fs-brazil's 2010 stock is gone, its 2009 stands.
        entry_with(
            rid(6),
            report("fs-brazil", year(2009), 1, with(2, Some(100))),
            6,
        ),
        entry_with(rid(7), withdrawn("fs-brazil", year(2010), 2), 7),
        entry_with(
            rid(8),
            report("fs-brazil", year(2010), 1, with(2, Some(999))),
            8,
        ),
    ];
    let ledger = Ledger::from_entries(&registry(), entries).unwrap();
    let total = |span: &str, name: &str| {
        let view = ledger.view(
            &Query::new(span.parse().unwrap(), GroupBy::Alliance),
            &framework,
        );
        view.groups[&GroupKey::Alliance].counts[&id(name)].total
    };
    assert_eq!(total("2008..2010", "awareness.activities"), exact(16, 6));
    assert_eq!(
        total("2008..2010", "monitoring.agencies_monitored"),
        exact(12 + 7 + 100, 3)
    );
    assert_eq!(
        total("2008..2009", "monitoring.agencies_monitored"),
        exact(12 + 2 + 100, 3)
    );
    assert_eq!(total("2010", "monitoring.agencies_monitored"), exact(7, 1));
    assert_eq!(total("2010", "awareness.activities"), exact(6, 2));

    let view = ledger.view(&Query::new(year_span(2010), GroupBy::Org), &framework);
    let fs = &view.groups[&GroupKey::Org(org("fs-brazil"))];
    assert!(fs.reporting.is_empty() && fs.counts.is_empty());
    assert_eq!(fs.withdrawn, BTreeSet::from([org("fs-brazil")]));
}

#[test]
fn organisations_of_one_country_that_disagree_are_a_conflict() {
    use ConventionStatus::{CampaignUnderWay, NotRatified, Ratified, RatifiedWithGaps};
    let framework = Framework::v1();
    let statuses = |pairs: &[(&str, ConventionStatus)]| {
        let map = pairs.iter().map(|(c, s)| ((*c).to_owned(), *s)).collect();
        BTreeMap::from([(id("ratification.convention_status"), Value::Status(map))])
    };
    let entries = [
        entry_with(
            rid(1),
            report(
                "cut-brazil",
                year(2009),
                1,
                statuses(&[("c29", Ratified), ("c105", Ratified)]),
            ),
            1,
        ),
        entry_with(
            rid(2),
            report(
                "fs-brazil",
                year(2009),
                1,
                statuses(&[("c29", RatifiedWithGaps), ("c105", Ratified)]),
            ),
            1,
        ),
        entry_with(
            rid(3),
            report("cut-brazil", year(2010), 1, statuses(&[("c29", Ratified)])),
            1,
        ),
        entry_with(
            rid(4),
            report(
                "ghana-tuc",
                year(2009),
                1,
                statuses(&[("c29", NotRatified)]),
            ),
            1,
        ),
        entry_with(
            rid(5),
            report(
                "ghana-tuc",
                year(2008),
                1,
                statuses(&[("c29", CampaignUnderWay)]),
            ),
            1,
        ),
    ];
    let ledger = Ledger::from_entries(&registry(), entries).unwrap();
    let brazil = GroupKey::Country("BR".parse().unwrap());
    let ghana = GroupKey::Country("GH".parse().unwrap());
    let status_of = |span: PeriodSpan, country: &GroupKey, convention: &str| -> StatusCell {
        let view = ledger.view(&Query::new(span, GroupBy::Region), &framework);
        view.groups
            .values()
            .find_map(|g| {
                g.statuses
                    .get(&id("ratification.convention_status"))?
                    .get(country)
            })
            .and_then(|c| c.get(convention))
            .cloned()
            .unwrap()
    };

    let c29 = status_of(year_span(2009), &brazil, "c29");
    assert!(c29.is_conflict());
    assert_eq!(c29.status(), None);
    assert_eq!(
        c29.orgs,
        BTreeMap::from([
            (Ratified, BTreeSet::from([org("cut-brazil")])),
            (RatifiedWithGaps, BTreeSet::from([org("fs-brazil")])),
        ])
    );
    let c105 = status_of(year_span(2009), &brazil, "c105");
    assert_eq!(
        (c105.status(), c105.orgs[&Ratified].len()),
        (Some(Ratified), 2)
    );

    // Over 2009–2010 the country shows its latest period, 2010, where only one organisation
    // spoke: no conflict. c105 was last given in 2009.
    let span = "2009..2010".parse().unwrap();
    let c29 = status_of(span, &brazil, "c29");
    assert_eq!((c29.period, c29.status()), (year(2010), Some(Ratified)));
    let c105 = status_of(span, &brazil, "c105");
    assert_eq!((c105.period, c105.status()), (year(2009), Some(Ratified)));
    let gh = status_of("2008..2010".parse().unwrap(), &ghana, "c29");
    assert_eq!((gh.period, gh.status()), (year(2009), Some(NotRatified)));
}

#[test]
fn withheld_contributions_are_ranges_exact_only_when_all_published() {
    let framework = Framework::v1();
    let cases = |value: Value| BTreeMap::from([(id("exposure.cases_documented"), value)]);
    let partly_withheld = Value::Count(CountValue {
        total: Cell::Published(12),
        breakdowns: BTreeMap::from([(
            "sex".to_owned(),
            cells(&[
                ("female", Cell::Published(7)),
                ("male", Cell::Suppressed),
                ("unknown", Cell::Suppressed),
            ]),
        )]),
    });
    let entries = vec![
        entry_with(
            rid(1),
            report("cut-brazil", year(2009), 1, cases(partly_withheld)),
            1,
        ),
        entry_with(
            rid(2),
            report(
                "ghana-tuc",
                year(2009),
                1,
                cases(published_split(20, "sex", &[("female", 11), ("male", 9)])),
            ),
            1,
        ),
    ];
    let query = Query::new(year_span(2009), GroupBy::Alliance).action_point("exposure");
    let ledger = Ledger::from_entries(&registry(), entries.clone()).unwrap();
    let view = ledger.view(&query, &framework);
    let cases_view = &view.groups[&GroupKey::Alliance].counts[&id("exposure.cases_documented")];
    assert_eq!(cases_view.total, exact(32, 2));
    assert!(cases_view.total.is_exact());
    let sex = &cases_view.breakdowns["sex"];
    assert_eq!(sex.cells["female"], exact(18, 2));
    assert_eq!(sex.cells["male"], range(9, 14, 2, 1));
    assert!(!sex.cells["male"].is_exact());
    assert_eq!(
        sex.cells["other"],
        exact(0, 2),
        "unlisted values are published zeros"
    );
    assert_eq!(sex.cells["unknown"], range(0, 5, 2, 1));
    assert_eq!(sex.not_broken_down, exact(0, 0));
    // Nobody broke the cases down by migrant status or sector: the whole total shows as not
    // broken down, so the breakdown still adds up.
    for dimension in ["migrant_status", "sector"] {
        let b = &cases_view.breakdowns[dimension];
        assert_eq!(b.not_broken_down, exact(32, 2));
        assert!(b.cells.values().all(|c| *c == exact(0, 0)));
    }

    // A report that withholds its total (threshold 5: at most 4) makes the total a range.
    let withheld_total = Value::Count(CountValue {
        total: Cell::Suppressed,
        breakdowns: BTreeMap::from([(
            "sex".to_owned(),
            cells(&[("female", Cell::Suppressed), ("male", Cell::Suppressed)]),
        )]),
    });
    let mut entries = entries;
    entries.push(entry_with(
        rid(3),
        report("bwi", year(2009), 1, cases(withheld_total)),
        1,
    ));
    let ledger = Ledger::from_entries(&registry(), entries).unwrap();
    let view = ledger.view(&query, &framework);
    let cases_view = &view.groups[&GroupKey::Alliance].counts[&id("exposure.cases_documented")];
    assert_eq!(cases_view.total, range(32, 36, 3, 1));
    let sex = &cases_view.breakdowns["sex"];
    assert_eq!(sex.cells["female"], range(18, 22, 3, 1));
    assert_eq!(sex.cells["male"], range(9, 18, 3, 2));
    assert_eq!(
        cases_view.breakdowns["migrant_status"].not_broken_down,
        range(32, 36, 3, 1)
    );
}

#[test]
fn roll_ups_file_every_organisation() {
    let framework = Framework::v1();
    let mut entries = Vec::new();
    for (i, name) in ORGS.iter().enumerate() {
        let mut values = activities(1);
        values.insert(
            id("internal_support.budget_allocated"),
            Value::Amount(BTreeMap::from([(currency("EUR"), 100)])),
        );
        values.insert(
            id("gufs.sectors_targeted"),
            flag(true, &[("construction", true)]),
        );
        entries.push(entry_with(
            rid(i as u8),
            report(name, year(2009), 1, values),
            1,
        ));
    }
    let ledger = Ledger::from_entries(&registry(), entries).unwrap();
    let groups = |by: GroupBy| -> BTreeMap<String, u128> {
        let view = ledger.view(&Query::new(year_span(2009), by), &framework);
        view.groups
            .iter()
            .map(|(k, g)| {
                (
                    k.to_string(),
                    g.counts[&id("awareness.activities")].total.hi,
                )
            })
            .collect()
    };
    let expect = |pairs: &[(&str, u128)]| -> BTreeMap<String, u128> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    assert_eq!(groups(GroupBy::Alliance), expect(&[("alliance", 6)]));
    assert_eq!(
        groups(GroupBy::Region),
        expect(&[
            ("africa", 2),
            ("americas", 2),
            ("global", 1),
            ("unregistered", 1)
        ])
    );
    assert_eq!(
        groups(GroupBy::Country),
        expect(&[
            ("BR", 2),
            ("GH", 1),
            ("TG", 1),
            ("none", 1),
            ("unregistered", 1)
        ])
    );
    assert_eq!(
        groups(GroupBy::Kind),
        expect(&[
            ("national_centre", 3),
            ("regional_organisation", 1),
            ("guf", 1),
            ("unregistered", 1)
        ])
    );
    assert_eq!(
        groups(GroupBy::Sector),
        expect(&[
            ("construction", 1),
            ("forestry", 1),
            ("none", 4),
            ("unregistered", 1)
        ])
    );
    assert_eq!(groups(GroupBy::Org).len(), 6);

    let view = ledger.view(&Query::new(year_span(2009), GroupBy::Alliance), &framework);
    let alliance = &view.groups[&GroupKey::Alliance];
    let budget = &alliance.amounts[&id("internal_support.budget_allocated")][&currency("EUR")];
    assert_eq!((budget.total, budget.contributions), (600, 6));
    let targeted = &alliance.flags[&id("gufs.sectors_targeted")];
    assert_eq!((targeted.yes, targeted.no), (6, 0));
    assert_eq!(targeted.breakdowns["sector"].organisations, 6);
    assert_eq!(targeted.breakdowns["sector"].yes["construction"], 6);
    assert_eq!(targeted.breakdowns["sector"].yes["fishing"], 0);

    // Registering the unknown organisation re-files it.
    let mut registry = registry();
    registry.insert(organisation(
        "ghost",
        OrgKind::NationalCentre,
        Some("GH"),
        Region::Africa,
        &[],
    ));
    let mut ledger = ledger;
    ledger.set_registry(&registry);
    let view = ledger.view(&Query::new(year_span(2009), GroupBy::Region), &framework);
    assert!(!view.groups.contains_key(&GroupKey::Unregistered));
    assert_eq!(
        view.groups[&GroupKey::Region(Region::Africa)]
            .reporting
            .len(),
        3
    );
}

#[test]
fn a_view_over_one_year_counts_shorter_periods_within_it() {
    let framework = Framework::v1();
    let entries = [
        entry_with(
            rid(1),
            report("cut-brazil", year(2009), 1, activities(10)),
            1,
        ),
        entry_with(
            rid(2),
            report("ghana-tuc", Period::Half(2009, 1), 1, activities(1)),
            1,
        ),
        entry_with(
            rid(3),
            report("ghana-tuc", Period::Half(2009, 2), 1, activities(2)),
            1,
        ),
    ];
    let ledger = Ledger::from_entries(&registry(), entries).unwrap();
    let query = Query::new(year_span(2009), GroupBy::Alliance);
    let view = ledger.view(&query, &framework);
    assert_eq!(view, ledger.view_from_winners(&query, &framework));
    assert_eq!(
        view.groups[&GroupKey::Alliance].counts[&id("awareness.activities")].total,
        exact(13, 3)
    );
}

// ---------------------------------------------------------------------------------------------
// Coverage

#[test]
fn coverage_counts_on_time_late_missing_withdrawn_and_never_enrolled() {
    let framework = Framework::v1();
    let period = year(2009);
    let deadline = default_deadline(&framework, period);
    assert_eq!(deadline.to_string(), "2010-04-01T00:00:00Z");
    let before = Timestamp(deadline.0 - 1);
    let after = Timestamp(deadline.0 + 1);

    let mut registry = registry();
    // Registered, never enrolled, never reported.
    registry
        .orgs
        .get_mut(&org("fs-brazil"))
        .unwrap()
        .enrolled_at = None;
    // Deactivated before the deadline: no longer expected, though it reported.
    registry
        .orgs
        .get_mut(&org("ituc-africa"))
        .unwrap()
        .deactivated_at = Some(before);
    // Registered after the deadline: not expected for 2009.
    let mut late_joiner = organisation(
        "sactu",
        OrgKind::NationalCentre,
        Some("ZA"),
        Region::Africa,
        &[],
    );
    late_joiner.registered_at = after;
    registry.insert(late_joiner);

    let entries = [
        // On time with revision 1; revision 2 came late, but the first receipt decides.
        entry_with(
            rid(1),
            report("cut-brazil", period, 1, activities(1)),
            before.0,
        ),
        entry_with(
            rid(2),
            report("cut-brazil", period, 2, activities(2)),
            after.0,
        ),
        // Late.
        entry_with(
            rid(3),
            report("ghana-tuc", period, 1, activities(1)),
            after.0,
        ),
        entry_with(rid(4), report("ituc-africa", period, 1, activities(1)), 1),
        // Reported on time, then withdrawn.
        entry_with(rid(5), report("bwi", period, 1, activities(1)), 1),
        entry_with(rid(6), withdrawn("bwi", period, 2), 2),
        // Not in the registry at all.
        entry_with(rid(7), report("ghost", period, 1, activities(1)), 1),
        // Another period does not count.
        entry_with(rid(8), report("fs-brazil", year(2010), 1, activities(1)), 1),
    ];
    let ledger = Ledger::from_entries(&registry, entries).unwrap();
    let coverage = ledger.coverage(&registry, &framework, period, None);
    assert_eq!(coverage.deadline, deadline);

    let submission = |name: &str| coverage.orgs[&org(name)].submission;
    assert_eq!(submission("cut-brazil"), Submission::OnTime);
    assert_eq!(submission("ghana-tuc"), Submission::Late);
    assert_eq!(submission("fs-brazil"), Submission::Missing);
    assert_eq!(submission("bwi"), Submission::Withdrawn);
    assert!(!coverage.orgs[&org("fs-brazil")].enrolled);
    assert_eq!(
        coverage.orgs[&org("cut-brazil")].first_received_at,
        Some(before)
    );
    assert_eq!(coverage.orgs[&org("cut-brazil")].winning_revision, Some(2));
    assert_eq!(
        coverage.orgs.keys().cloned().collect::<Vec<_>>(),
        [
            org("bwi"),
            org("cut-brazil"),
            org("fs-brazil"),
            org("ghana-tuc")
        ]
    );
    assert_eq!(
        coverage.unexpected,
        BTreeSet::from([org("ghost"), org("ituc-africa")])
    );

    let t = coverage.total;
    assert_eq!(
        (
            t.expected,
            t.reported,
            t.on_time,
            t.late,
            t.missing,
            t.withdrawn,
            t.never_enrolled
        ),
        (4, 2, 1, 1, 1, 1, 1)
    );
    let americas = coverage.by_region[&Region::Americas];
    assert_eq!(
        (
            americas.expected,
            americas.on_time,
            americas.missing,
            americas.never_enrolled
        ),
        (2, 1, 1, 1)
    );
    let africa = coverage.by_region[&Region::Africa];
    assert_eq!((africa.expected, africa.late), (1, 1));
    assert_eq!(coverage.by_region[&Region::Global].withdrawn, 1);

    // The operator moves the deadline: the late report is on time.
    let extended = ledger.coverage(&registry, &framework, period, Some(Timestamp(after.0 + 1)));
    assert_eq!(
        extended.orgs[&org("ghana-tuc")].submission,
        Submission::OnTime
    );
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn registry() -> Registry {
    let mut registry = Registry::default();
    for o in [
        organisation(
            "cut-brazil",
            OrgKind::NationalCentre,
            Some("BR"),
            Region::Americas,
            &[],
        ),
        organisation(
            "fs-brazil",
            OrgKind::NationalCentre,
            Some("BR"),
            Region::Americas,
            &[],
        ),
        organisation(
            "ghana-tuc",
            OrgKind::NationalCentre,
            Some("GH"),
            Region::Africa,
            &[],
        ),
        organisation(
            "ituc-africa",
            OrgKind::RegionalOrganisation,
            Some("TG"),
            Region::Africa,
            &[],
        ),
        organisation(
            "bwi",
            OrgKind::Guf,
            None,
            Region::Global,
            &["construction", "forestry"],
        ),
    ] {
        registry.insert(o);
    }
    registry
}

/// The registry after changes that move organisations between groups: one moves region and
/// country, the GUF's sectors change, one is removed and the unknown one is registered.
fn moved_registry() -> Registry {
    let mut registry = registry();
    if let Some(o) = registry.orgs.get_mut(&org("fs-brazil")) {
        o.country = Some("PT".parse().expect("a country"));
        o.region = Region::Europe;
    }
    if let Some(o) = registry.orgs.get_mut(&org("bwi")) {
        o.sectors = vec!["forestry".into(), "mining".into()];
    }
    registry.orgs.remove(&org("ituc-africa"));
    registry.insert(organisation(
        "ghost",
        OrgKind::NationalCentre,
        Some("BR"),
        Region::Americas,
        &[],
    ));
    registry
}

fn organisation(
    id: &str,
    kind: OrgKind,
    country: Option<&str>,
    region: Region,
    sectors: &[&str],
) -> Organisation {
    Organisation {
        id: org(id),
        name: id.to_uppercase(),
        kind,
        country: country.map(|c| c.parse().expect("a country")),
        region,
        sectors: sectors.iter().map(|s| (*s).to_owned()).collect(),
        via: None,
        hosted: false,
        registered_at: Timestamp(0),
        enrolled_at: Some(Timestamp(0)),
        deactivated_at: None,
        keys: vec![],
    }
}

fn report(
    org_id: &str,
    period: Period,
    revision: u64,
    values: BTreeMap<IndicatorId, Value>,
) -> Report {
    Report {
        org: org(org_id),
        period,
        framework_version: 1,
        revision,
        prepared_at: Timestamp(0),
        prepared_by: org(org_id),
        disclosure_threshold: 5,
        withdrawn: false,
        narratives: BTreeMap::new(),
        values,
    }
}

fn withdrawn(org_id: &str, period: Period, revision: u64) -> Report {
    Report {
        withdrawn: true,
        ..report(org_id, period, revision, BTreeMap::new())
    }
}

fn entry_with(report_id: ReportId, report: Report, received_at: i64) -> Entry {
    Entry {
        report_id,
        report,
        received_at: Timestamp(received_at),
    }
}

fn insert_all(registry: &Registry, entries: &[Entry]) -> Ledger {
    let mut ledger = Ledger::new(registry);
    for entry in entries {
        ledger.insert(entry.clone()).expect("stored");
    }
    ledger
}

fn winners(ledger: &Ledger) -> Vec<(OrgId, Period, ReportId)> {
    ledger
        .winners()
        .map(|w| (w.report.org.clone(), w.report.period, w.report_id))
        .collect()
}

fn activities(n: u64) -> BTreeMap<IndicatorId, Value> {
    BTreeMap::from([(id("awareness.activities"), count(n))])
}

fn count(n: u64) -> Value {
    Value::Count(CountValue::total(n))
}

fn published_split(total: u64, dimension: &str, split: &[(&str, u64)]) -> Value {
    let split: Vec<(&str, Cell)> = split
        .iter()
        .map(|(v, n)| (*v, Cell::Published(*n)))
        .collect();
    Value::Count(CountValue {
        total: Cell::Published(total),
        breakdowns: BTreeMap::from([(dimension.to_owned(), cells(&split))]),
    })
}

fn cells(pairs: &[(&str, Cell)]) -> BTreeMap<String, Cell> {
    pairs.iter().map(|(v, c)| ((*v).to_owned(), *c)).collect()
}

fn flag(value: bool, sectors: &[(&str, bool)]) -> Value {
    let breakdowns = if sectors.is_empty() {
        BTreeMap::new()
    } else {
        let cells = sectors.iter().map(|(s, y)| ((*s).to_owned(), *y)).collect();
        BTreeMap::from([("sector".to_owned(), cells)])
    };
    Value::Flag(FlagValue { value, breakdowns })
}

fn exact(value: u128, contributions: u64) -> CountCell {
    range(value, value, contributions, 0)
}

fn range(lo: u128, hi: u128, contributions: u64, suppressed: u64) -> CountCell {
    CountCell {
        lo,
        hi,
        contributions,
        suppressed,
    }
}

fn id(s: &str) -> IndicatorId {
    s.parse().expect("an indicator id")
}

fn org(s: &str) -> OrgId {
    s.parse().expect("an organisation id")
}

fn currency(s: &str) -> Currency {
    s.parse().expect("a currency")
}

fn year(y: u16) -> Period {
    Period::Year(y)
}

fn year_span(y: u16) -> PeriodSpan {
    PeriodSpan::single(year(y))
}

fn rid(b: u8) -> ReportId {
    ReportId([b; 32])
}
