//! The merged view and coverage as `QueryService` answers: a ledger built from a few reports,
//! then the rows the wire carries, asserted one by one.

use std::collections::BTreeMap;

use alliance_core::framework::{ConventionStatus, Framework};
use alliance_core::merge::{Entry, GroupBy, Ledger, Query, default_deadline};
use alliance_core::org::{OrgKind, Region};
use alliance_core::report::FlagValue;
use alliance_core::{
    Cell, CountValue, IndicatorId, OrgId, Organisation, Period, PeriodSpan, Registry, Report,
    ReportId, Timestamp, Value,
};
use alliance_proto::pb::view_row::Value as RowValue;
use alliance_proto::{NOT_BROKEN_DOWN, coverage_response, pb, view_response};

#[test]
fn an_exact_count_is_one_total_row() {
    let view = view_of(GroupBy::Alliance);
    let row = row(&view, "alliance", "awareness.activities", "", "");
    assert_eq!(row.organisations, 2);
    assert_eq!(
        count(row),
        pb::CountRange {
            lo: 7,
            hi: 7,
            suppressed_contributions: 0,
            exact: true
        }
    );
}

#[test]
fn a_withheld_cell_is_a_range_with_its_suppressed_contributions() {
    let view = view_of(GroupBy::Alliance);
    // cut-brazil published 12 cases, 7 of them women, and withheld men and unknown; ghana-tuc
    // published 11 women and 9 men.
    let total = row(&view, "alliance", "exposure.cases_documented", "", "");
    assert_eq!((count(total).lo, count(total).exact), (32, true));
    let male = row(
        &view,
        "alliance",
        "exposure.cases_documented",
        "sex",
        "male",
    );
    assert_eq!(male.organisations, 2);
    assert_eq!(
        count(male),
        pb::CountRange {
            lo: 9,
            hi: 14,
            suppressed_contributions: 1,
            exact: false
        }
    );
    let female = row(
        &view,
        "alliance",
        "exposure.cases_documented",
        "sex",
        "female",
    );
    assert_eq!((count(female).lo, count(female).exact), (18, true));
    // Nobody broke the cases down by sector: no rows for it, rather than rows of false zeros.
    assert!(
        !view
            .rows
            .iter()
            .any(|r| r.indicator == "exposure.cases_documented" && r.dimension == "sector")
    );
}

#[test]
fn a_breakdown_given_by_some_contributions_carries_the_rest_as_not_broken_down() {
    let view = view_of(GroupBy::Alliance);
    // Only cut-brazil broke its 3 people reached down by sex; ghana-tuc's 4 are not broken down.
    let rest = row(
        &view,
        "alliance",
        "awareness.people_reached",
        "sex",
        NOT_BROKEN_DOWN,
    );
    assert_eq!(
        (count(rest).lo, count(rest).exact, rest.organisations),
        (4, true, 1)
    );
    let values: Vec<&str> = view
        .rows
        .iter()
        .filter(|r| r.indicator == "awareness.people_reached" && r.dimension == "sex")
        .map(|r| r.dimension_value.as_str())
        .collect();
    assert_eq!(
        values,
        ["female", "male", "other", "unknown", NOT_BROKEN_DOWN]
    );
}

#[test]
fn organisations_of_one_country_that_disagree_show_a_conflict_grouped_by_country() {
    // By organisation, each organisation's group holds only its own status; the rows still come
    // out per country, where the disagreement shows.
    for group_by in [GroupBy::Alliance, GroupBy::Org] {
        let view = view_of(group_by);
        let c29 = row(
            &view,
            "BR",
            "ratification.convention_status",
            "convention",
            "c29",
        );
        assert_eq!(c29.organisations, 2, "{group_by}");
        let Some(RowValue::Status(pb::StatusCell {
            state: Some(pb::status_cell::State::Conflict(conflict)),
        })) = &c29.value
        else {
            panic!("expected a conflict by {group_by}, got {:?}", c29.value);
        };
        let statuses: Vec<(i32, Vec<String>)> = conflict
            .statuses
            .iter()
            .map(|s| (s.status, s.org_ids.clone()))
            .collect();
        assert_eq!(
            statuses,
            [
                (
                    pb::ConventionStatus::Ratified as i32,
                    vec!["cut-brazil".to_owned()]
                ),
                (
                    pb::ConventionStatus::RatifiedWithGaps as i32,
                    vec!["fs-brazil".to_owned()]
                ),
            ]
        );
        let gh = row(
            &view,
            "GH",
            "ratification.convention_status",
            "convention",
            "c29",
        );
        assert_eq!(
            gh.value,
            Some(RowValue::Status(pb::StatusCell {
                state: Some(pb::status_cell::State::Status(
                    pb::ConventionStatus::NotRatified as i32
                )),
            }))
        );
    }
}

#[test]
fn flags_are_yes_no_tallies_and_amounts_decimal_hundredths_per_currency() {
    let view = view_of(GroupBy::Alliance);
    let policy = row(&view, "alliance", "internal_support.policy_adopted", "", "");
    assert_eq!(policy.organisations, 3);
    assert_eq!(
        policy.value,
        Some(RowValue::Flag(pb::FlagTally { yes: 2, no: 1 }))
    );

    let amounts: Vec<(&str, &str, u32)> = view
        .rows
        .iter()
        .filter(|r| r.indicator == "internal_support.budget_allocated")
        .map(|r| match &r.value {
            Some(RowValue::Amount(a)) => {
                (a.currency.as_str(), a.hundredths.as_str(), r.organisations)
            }
            other => panic!("expected an amount, got {other:?}"),
        })
        .collect();
    assert_eq!(amounts, [("EUR", "133456", 2), ("USD", "5000", 1)]);
}

#[test]
fn equivocations_are_listed_winner_first() {
    let view = view_of(GroupBy::Alliance);
    assert_eq!(
        view.equivocations,
        [pb::Equivocation {
            org_id: "ghana-tuc".to_owned(),
            period: "2009".to_owned(),
            revision: 1,
            report_ids: vec![vec![4; 32], vec![5; 32]],
        }]
    );
}

#[test]
fn rows_come_out_in_group_then_indicator_order_and_describe_the_query() {
    let view = view_of(GroupBy::Region);
    assert_eq!(view.period, "2009");
    assert_eq!(view.group_by, pb::GroupBy::Region as i32);
    let keys: Vec<(&str, &str, &str, &str)> = view
        .rows
        .iter()
        .map(|r| {
            (
                r.group.as_str(),
                r.indicator.as_str(),
                r.dimension.as_str(),
                r.dimension_value.as_str(),
            )
        })
        .collect();
    let mut groups: Vec<&str> = keys.iter().map(|k| k.0).collect();
    groups.dedup();
    // Regions in the domain's order, then the countries of status rows.
    assert_eq!(groups, ["africa", "americas", "global", "BR", "GH"]);
    for pair in keys.windows(2) {
        let same_group = pair[0].0 == pair[1].0;
        assert!(
            !same_group || pair[0].1 <= pair[1].1,
            "indicators out of order: {pair:?}"
        );
    }
    // The same ledger gives the same bytes.
    assert_eq!(view_of(GroupBy::Region), view);
}

#[test]
fn coverage_rows_carry_the_registry_and_regions_their_counts() {
    let (registry, ledger) = ledger();
    let framework = Framework::v1();
    let coverage = ledger.coverage(&registry, &framework, year(2009), None);
    let response = coverage_response(&coverage, &registry);
    assert_eq!(response.period, "2009");
    assert_eq!(
        response.deadline_unix_seconds,
        default_deadline(&framework, year(2009)).seconds()
    );

    let ids: Vec<&str> = response.rows.iter().map(|r| r.org_id.as_str()).collect();
    assert_eq!(
        ids,
        ["bwi", "cut-brazil", "fs-brazil", "ghana-tuc", "sactu"]
    );
    let cut = &response.rows[1];
    assert_eq!(
        cut,
        &pb::CoverageRow {
            org_id: "cut-brazil".to_owned(),
            name: "CUT-BRAZIL".to_owned(),
            kind: pb::OrgKind::NationalCentre as i32,
            country: "BR".to_owned(),
            region: pb::Region::Americas as i32,
            enrolled: true,
            state: pb::CoverageState::OnTime as i32,
            received_at_unix_seconds: Some(100),
            revision: 1,
        }
    );
    let sactu = &response.rows[4];
    assert_eq!(
        (
            sactu.enrolled,
            sactu.state,
            sactu.received_at_unix_seconds,
            sactu.revision
        ),
        (false, pb::CoverageState::Missing as i32, None, 0)
    );
    let bwi = &response.rows[0];
    assert_eq!(
        (bwi.country.as_str(), bwi.kind),
        ("", pb::OrgKind::Guf as i32)
    );

    let regions: BTreeMap<i32, (u32, u32, u32, u32, u32, u32)> = response
        .regions
        .iter()
        .map(|r| {
            let counts = (
                r.expected,
                r.on_time,
                r.late,
                r.missing,
                r.withdrawn,
                r.never_enrolled,
            );
            (r.region, counts)
        })
        .collect();
    assert_eq!(
        regions,
        BTreeMap::from([
            (pb::Region::Africa as i32, (2, 0, 1, 1, 0, 1)),
            (pb::Region::Americas as i32, (2, 2, 0, 0, 0, 0)),
            (pb::Region::Global as i32, (1, 1, 0, 0, 0, 0)),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// The view of 2009 over [`ledger`], as the wire sends it.
fn view_of(group_by: GroupBy) -> pb::ViewResponse {
    let (_, ledger) = ledger();
    let query = Query::new(PeriodSpan::single(year(2009)), group_by);
    view_response(&ledger.view(&query, &Framework::v1()))
}

/// Two Brazilian centres that disagree on C29, a Ghanaian centre that equivocated (two reports
/// of revision 1) and reported after the deadline, a GUF, and a South African centre that never
/// enrolled or reported.
fn ledger() -> (Registry, Ledger) {
    let mut registry = Registry::default();
    let orgs = [
        (
            "cut-brazil",
            OrgKind::NationalCentre,
            Some("BR"),
            Region::Americas,
        ),
        (
            "fs-brazil",
            OrgKind::NationalCentre,
            Some("BR"),
            Region::Americas,
        ),
        (
            "ghana-tuc",
            OrgKind::NationalCentre,
            Some("GH"),
            Region::Africa,
        ),
        ("sactu", OrgKind::NationalCentre, Some("ZA"), Region::Africa),
        ("bwi", OrgKind::Guf, None, Region::Global),
    ];
    for (id, kind, country, region) in orgs {
        registry.insert(organisation(id, kind, country, region));
    }
    if let Some(sactu) = registry.orgs.get_mut(&org("sactu")) {
        sactu.enrolled_at = None;
    }

    let late = default_deadline(&Framework::v1(), year(2009)).seconds() + 1;
    let cut = values(&[
        ("awareness.activities", total(3)),
        (
            "awareness.people_reached",
            split(3, "sex", &[("female", Cell::Published(3))]),
        ),
        (
            "exposure.cases_documented",
            split(
                12,
                "sex",
                &[
                    ("female", Cell::Published(7)),
                    ("male", Cell::Suppressed),
                    ("unknown", Cell::Suppressed),
                ],
            ),
        ),
        (
            "ratification.convention_status",
            status("c29", ConventionStatus::Ratified),
        ),
        ("internal_support.policy_adopted", flag(true)),
        (
            "internal_support.budget_allocated",
            amounts(&[("EUR", 123_456), ("USD", 5_000)]),
        ),
    ]);
    let fs = values(&[
        ("awareness.activities", total(4)),
        (
            "ratification.convention_status",
            status("c29", ConventionStatus::RatifiedWithGaps),
        ),
        ("internal_support.policy_adopted", flag(false)),
        (
            "internal_support.budget_allocated",
            amounts(&[("EUR", 10_000)]),
        ),
    ]);
    let ghana = values(&[
        ("awareness.people_reached", total(4)),
        (
            "exposure.cases_documented",
            split(
                20,
                "sex",
                &[
                    ("female", Cell::Published(11)),
                    ("male", Cell::Published(9)),
                ],
            ),
        ),
        (
            "ratification.convention_status",
            status("c29", ConventionStatus::NotRatified),
        ),
    ]);
    let mut ghana_again = ghana.clone();
    ghana_again.insert(id("awareness.activities"), total(1));
    let bwi = values(&[("internal_support.policy_adopted", flag(true))]);

    let entries = [
        entry(1, report("cut-brazil", cut), 100),
        entry(2, report("fs-brazil", fs), 100),
        // The same revision twice under two report ids: the smaller id wins.
        entry(4, report("ghana-tuc", ghana), late),
        entry(5, report("ghana-tuc", ghana_again), late),
        entry(3, report("bwi", bwi), 100),
    ];
    let ledger = Ledger::from_entries(&registry, entries).expect("a ledger");
    (registry, ledger)
}

fn organisation(id: &str, kind: OrgKind, country: Option<&str>, region: Region) -> Organisation {
    Organisation {
        id: org(id),
        name: id.to_uppercase(),
        kind,
        country: country.map(|c| c.parse().expect("a country")),
        region,
        sectors: vec![],
        via: None,
        hosted: false,
        registered_at: Timestamp(0),
        enrolled_at: Some(Timestamp(0)),
        deactivated_at: None,
        keys: vec![],
    }
}

fn report(org_id: &str, values: BTreeMap<IndicatorId, Value>) -> Report {
    Report {
        org: org(org_id),
        period: year(2009),
        framework_version: 1,
        revision: 1,
        prepared_at: Timestamp(0),
        prepared_by: org(org_id),
        disclosure_threshold: 5,
        withdrawn: false,
        narratives: BTreeMap::new(),
        values,
    }
}

fn entry(id_byte: u8, report: Report, received_at: i64) -> Entry {
    Entry {
        report_id: ReportId([id_byte; 32]),
        report,
        received_at: Timestamp(received_at),
    }
}

fn values(pairs: &[(&str, Value)]) -> BTreeMap<IndicatorId, Value> {
    pairs.iter().map(|(i, v)| (id(i), v.clone())).collect()
}

fn total(n: u64) -> Value {
    Value::Count(CountValue::total(n))
}

fn split(total: u64, dimension: &str, cells: &[(&str, Cell)]) -> Value {
    let cells = cells.iter().map(|(v, c)| ((*v).to_owned(), *c)).collect();
    Value::Count(CountValue {
        total: Cell::Published(total),
        breakdowns: BTreeMap::from([(dimension.to_owned(), cells)]),
    })
}

fn status(convention: &str, status: ConventionStatus) -> Value {
    Value::Status(BTreeMap::from([(convention.to_owned(), status)]))
}

fn flag(value: bool) -> Value {
    Value::Flag(FlagValue {
        value,
        breakdowns: BTreeMap::new(),
    })
}

fn amounts(pairs: &[(&str, u64)]) -> Value {
    let amounts = pairs
        .iter()
        .map(|(c, n)| (c.parse().expect("a currency"), *n))
        .collect();
    Value::Amount(amounts)
}

/// The one row with this key; there must be exactly one.
fn row<'a>(
    view: &'a pb::ViewResponse,
    group: &str,
    indicator: &str,
    dimension: &str,
    value: &str,
) -> &'a pb::ViewRow {
    let found: Vec<&pb::ViewRow> = view
        .rows
        .iter()
        .filter(|r| {
            (
                r.group.as_str(),
                r.indicator.as_str(),
                r.dimension.as_str(),
                r.dimension_value.as_str(),
            ) == (group, indicator, dimension, value)
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "rows for {group} {indicator} {dimension} {value}: {found:?}"
    );
    found[0]
}

fn count(row: &pb::ViewRow) -> pb::CountRange {
    match &row.value {
        Some(RowValue::Count(c)) => *c,
        other => panic!("expected a count, got {other:?}"),
    }
}

fn id(s: &str) -> IndicatorId {
    s.parse().expect("an indicator id")
}

fn org(s: &str) -> OrgId {
    s.parse().expect("an organisation id")
}

fn year(y: u16) -> Period {
    Period::Year(y)
}
