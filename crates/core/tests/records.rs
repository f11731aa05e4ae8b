//! Properties of building a period's values from records: flows add up, every breakdown carried
//! adds up to its total, the order of the records changes nothing, and what is built passes the
//! framework's check of a report and is taken by disclosure control.

use std::collections::BTreeMap;

use alliance_core::disclosure::protect;
use alliance_core::framework::{ConventionStatus, Framework, IndicatorId, Temporal, ValueKind};
use alliance_core::record::{Record, RecordValue, build_values};
use alliance_core::report::{Cell, Report, Value};
use alliance_core::{Period, Timestamp};
use proptest::prelude::*;
use time::{Date, Duration};

/// The year the records are built for; generated dates fall in 2008 to 2010 so that some lie
/// outside it.
const YEAR: u16 = 2009;

fn period() -> Period {
    Period::year(YEAR).expect("a year periods can name")
}

fn base() -> Date {
    Date::from_calendar_date(2008, time::Month::January, 1).expect("a date")
}

/// A record of `indicator` with a value of its kind and, per breakdown, either no value or one of
/// the dimension's values, so that it always passes `Record::check`.
fn record_of(
    framework: &Framework,
    indicator: &IndicatorId,
) -> impl Strategy<Value = Record> + use<> {
    let i = framework
        .indicator(indicator)
        .expect("an indicator of the framework")
        .clone();
    let dims: Vec<(String, Vec<String>)> = i
        .breakdowns
        .iter()
        .map(|d| {
            let dim = framework
                .dimension(d)
                .expect("a dimension of the framework");
            (d.clone(), dim.values.iter().map(|v| v.id.clone()).collect())
        })
        .collect();
    let status = i.kind == ValueKind::Status;
    let breakdowns = dims
        .into_iter()
        .map(move |(d, values)| {
            let n = values.len();
            // A status must give its dimension; others may leave any dimension out.
            let pick = if status {
                (0..n).prop_map(Some).boxed()
            } else {
                prop::option::of(0..n).boxed()
            };
            pick.prop_map(move |p| p.map(|k| (d.clone(), values[k].clone())))
        })
        .collect::<Vec<_>>();
    let value = match i.kind {
        ValueKind::Count => (0u64..1000).prop_map(RecordValue::Count).boxed(),
        ValueKind::Status => prop::sample::select(ConventionStatus::ALL.to_vec())
            .prop_map(RecordValue::Status)
            .boxed(),
        ValueKind::Flag => any::<bool>().prop_map(RecordValue::Flag).boxed(),
        ValueKind::Amount => (
            prop::sample::select(vec!["EUR", "USD", "BRL"]),
            0u64..1_000_000,
        )
            .prop_map(|(c, hundredths)| RecordValue::Amount {
                currency: c.parse().expect("a currency"),
                hundredths,
            })
            .boxed(),
    };
    let id = i.id.clone();
    (0i64..3 * 365, value, breakdowns).prop_map(move |(day, value, bd)| Record {
        id: 0,
        org: "cut-brazil".parse().expect("an org id"),
        date: base() + Duration::days(day),
        indicator: id.clone(),
        value,
        breakdowns: bd.into_iter().flatten().collect(),
        note: String::new(),
        recorded_at: Timestamp(0),
    })
}

/// Records of any indicator of version 1, with unique ids as a store assigns them.
fn records() -> impl Strategy<Value = Vec<Record>> {
    let f = Framework::v1();
    let ids: Vec<IndicatorId> = f.indicators.iter().map(|i| i.id.clone()).collect();
    let one = prop::sample::select(ids).prop_flat_map(move |id| record_of(&f, &id));
    prop::collection::vec(one, 0..40).prop_map(numbered)
}

/// Records of one count flow with breakdowns, to exercise the sums.
fn flow_records() -> impl Strategy<Value = Vec<Record>> {
    let f = Framework::v1();
    let flows: Vec<IndicatorId> = f
        .indicators
        .iter()
        .filter(|i| i.kind == ValueKind::Count && i.temporal == Temporal::Flow)
        .map(|i| i.id.clone())
        .collect();
    prop::sample::select(flows)
        .prop_flat_map(move |id| prop::collection::vec(record_of(&f, &id), 1..30))
        .prop_map(numbered)
}

fn numbered(mut records: Vec<Record>) -> Vec<Record> {
    for (n, r) in records.iter_mut().enumerate() {
        r.id = n as u64 + 1;
    }
    records
}

fn in_period(r: &Record) -> bool {
    period().start() <= r.date && r.date < period().end_exclusive()
}

fn report_of(values: BTreeMap<IndicatorId, Value>) -> Report {
    Report {
        org: "cut-brazil".parse().expect("an org id"),
        period: period(),
        framework_version: 1,
        revision: 1,
        prepared_at: Timestamp(0),
        prepared_by: "cut-brazil".parse().expect("an org id"),
        disclosure_threshold: 5,
        withdrawn: false,
        narratives: BTreeMap::new(),
        values,
    }
}

proptest! {
    #[test]
    fn flow_totals_are_sums_and_breakdowns_add_up(records in flow_records()) {
        let f = Framework::v1();
        let built = build_values(&f, period(), &records);
        let id = &records[0].indicator;
        let counted: Vec<&Record> = records.iter().filter(|r| in_period(r)).collect();
        let sum: u64 = counted
            .iter()
            .map(|r| match r.value {
                RecordValue::Count(n) => n,
                _ => 0,
            })
            .sum();
        match built.values.get(id) {
            None => prop_assert!(counted.is_empty()),
            Some(Value::Count(c)) => {
                prop_assert_eq!(c.total, Cell::Published(sum));
                for (dimension, cells) in &c.breakdowns {
                    let cell_sum: u64 = cells.values().filter_map(|c| c.published()).sum();
                    prop_assert_eq!(cell_sum, sum, "breakdown by {}", dimension);
                }
                // A breakdown no record gives is not kept, silently. One that some records
                // give and others lack is left out when the dimension has no `unknown` value,
                // and then a warning says so.
                let indicator = f.indicator(id).unwrap();
                for dimension in &indicator.breakdowns {
                    let dropped = !c.breakdowns.contains_key(dimension);
                    let has_unknown = f.dimension(dimension).unwrap().has_value("unknown");
                    let lacking = counted.iter().any(|r| !r.breakdowns.contains_key(dimension));
                    let given = counted.iter().any(|r| r.breakdowns.contains_key(dimension));
                    prop_assert_eq!(dropped, !given || (lacking && !has_unknown));
                    let warned = built.warnings.iter().any(|w| w.field.ends_with(&format!("[{dimension:?}]")));
                    prop_assert_eq!(warned, given && lacking && !has_unknown);
                }
            }
            Some(other) => prop_assert!(false, "not a count: {:?}", other),
        }
    }

    #[test]
    fn the_order_of_the_records_changes_nothing(
        (records, shuffled) in records().prop_flat_map(|r| (Just(r.clone()), Just(r).prop_shuffle()))
    ) {
        let f = Framework::v1();
        prop_assert_eq!(build_values(&f, period(), &records), build_values(&f, period(), &shuffled));
    }

    #[test]
    fn what_is_built_passes_the_framework_check(records in records()) {
        let f = Framework::v1();
        for r in &records {
            r.check(&f).unwrap();
        }
        let built = build_values(&f, period(), &records);
        // Every indicator with a record in the period has a value, and no other.
        let expected: std::collections::BTreeSet<&IndicatorId> =
            records.iter().filter(|r| in_period(r)).map(|r| &r.indicator).collect();
        let got: std::collections::BTreeSet<&IndicatorId> = built.values.keys().collect();
        prop_assert_eq!(got, expected);
        let report = report_of(built.values);
        if let Err(e) = f.check_report(&report) {
            prop_assert!(false, "{}", e);
        }
        // They are true values, which is what disclosure control takes.
        if let Err(e) = protect(&report, &f, 5, &[]) {
            prop_assert!(false, "{}", e);
        }
    }
}
