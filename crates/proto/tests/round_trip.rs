//! Properties of the wire layer as a whole: every domain report survives domain → protobuf →
//! bytes → protobuf → domain unchanged, and no input bytes, however broken, make decoding panic.

use std::collections::BTreeMap;

use alliance_core::framework::{ConventionStatus, Framework, IndicatorId};
use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::report::{Cell, CountValue, Currency, FlagValue, Report, Value};
use alliance_core::timestamp::Timestamp;
use alliance_proto::{WireError, decode_framework, decode_report, encode_framework, encode_report};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn reports_round_trip_through_bytes(report in report()) {
        let bytes = encode_report(&report);
        prop_assert_eq!(decode_report(&bytes), Ok(report));
    }

    #[test]
    fn garbage_is_an_error_or_a_report_never_a_panic(bytes in vec(any::<u8>(), 0..512)) {
        // Random bytes occasionally form a valid message; what matters is that nothing panics
        // and that anything accepted re-encodes to a report that decodes to itself.
        if let Ok(report) = decode_report(&bytes) {
            prop_assert_eq!(decode_report(&encode_report(&report)), Ok(report));
        }
    }

    #[test]
    fn truncated_reports_never_decode_to_the_original(report in report(), cut in any::<prop::sample::Index>()) {
        let bytes = encode_report(&report);
        let cut = cut.index(bytes.len().max(1));
        prop_assume!(cut < bytes.len());
        prop_assert_ne!(decode_report(&bytes[..cut]), Ok(report));
    }
}

#[test]
fn a_cut_inside_a_field_is_a_decode_error() {
    let report = Report {
        narratives: BTreeMap::from([("awareness".to_owned(), "x".repeat(40))]),
        ..sample()
    };
    let bytes = encode_report(&report);
    // The last field is the narrative; cutting its text leaves a length that runs past the end.
    let e = decode_report(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(matches!(e, WireError::Decode { .. }), "{e:?}");
}

#[test]
fn deep_nesting_hits_the_recursion_limit_not_the_stack() {
    // Unknown fields of the group wire type nest without limit in the encoding; prost skips
    // them recursively and stops at its recursion limit.
    let start_group = (15 << 3) | 3;
    let bytes = vec![start_group; 100_000];
    let e = decode_report(&bytes).unwrap_err();
    assert!(matches!(e, WireError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("recursion limit"), "{e}");
}

#[test]
fn the_empty_message_is_refused_with_its_first_field() {
    let e = decode_report(&[]).unwrap_err();
    assert_eq!(e.field(), Some("org_id"));
}

#[test]
fn framework_v1_round_trips_through_bytes_and_still_checks() {
    let v1 = Framework::v1();
    let back = decode_framework(&encode_framework(&v1)).unwrap();
    assert_eq!(back, v1);
    back.check().unwrap();
}

#[test]
fn every_sample_fits_framework_v1() {
    // The sample is sound for v1 itself, so the round trip also covers a realistic report.
    let report = sample();
    Framework::v1().check_report(&report).unwrap();
    assert_eq!(decode_report(&encode_report(&report)), Ok(report));
}

/// A report that fits framework v1, with every value kind and suppressed cells.
fn sample() -> Report {
    let id = |s: &str| s.parse::<IndicatorId>().expect("indicator id");
    let mut sex = BTreeMap::new();
    sex.insert("female".to_owned(), Cell::Published(7));
    sex.insert("male".to_owned(), Cell::Suppressed);
    sex.insert("unknown".to_owned(), Cell::Suppressed);
    let values = BTreeMap::from([
        (
            id("awareness.activities"),
            Value::Count(CountValue::total(12)),
        ),
        (
            id("exposure.cases_documented"),
            Value::Count(CountValue {
                total: Cell::Published(12),
                breakdowns: BTreeMap::from([("sex".to_owned(), sex)]),
            }),
        ),
        (
            id("ratification.convention_status"),
            Value::Status(BTreeMap::from([
                ("c29".to_owned(), ConventionStatus::Ratified),
                ("c181".to_owned(), ConventionStatus::CampaignUnderWay),
            ])),
        ),
        (
            id("gufs.sectors_targeted"),
            Value::Flag(FlagValue {
                value: true,
                breakdowns: BTreeMap::from([(
                    "sector".to_owned(),
                    BTreeMap::from([
                        ("agriculture".to_owned(), true),
                        ("fishing".to_owned(), false),
                    ]),
                )]),
            }),
        ),
        (
            id("internal_support.budget_allocated"),
            Value::Amount(BTreeMap::from([
                ("EUR".parse::<Currency>().expect("EUR"), 100_000),
                ("BRL".parse::<Currency>().expect("BRL"), 25_000),
            ])),
        ),
    ]);
    Report {
        org: "cut-brazil".parse().expect("org id"),
        period: "2009".parse().expect("period"),
        framework_version: 1,
        revision: 2,
        prepared_at: Timestamp(1_262_304_000),
        prepared_by: "cut-brazil".parse().expect("org id"),
        disclosure_threshold: 5,
        withdrawn: false,
        narratives: BTreeMap::from([("awareness".to_owned(), "Campaign in São Paulo.".to_owned())]),
        values,
    }
}

// Generators of structurally sound domain reports. They need not fit a framework: the wire
// layer must carry any report the domain can hold.

fn report() -> impl Strategy<Value = Report> {
    (
        (
            org_id(),
            period(),
            any::<u32>(),
            any::<u64>(),
            any::<i64>(),
            org_id(),
        ),
        (
            any::<u64>(),
            any::<bool>(),
            btree_map(key(), ".{0,40}", 0..4),
            btree_map(indicator_id(), value(), 0..6),
        ),
    )
        .prop_map(
            |(
                (org, period, framework_version, revision, prepared_at, prepared_by),
                (disclosure_threshold, withdrawn, narratives, values),
            )| Report {
                org,
                period,
                framework_version,
                revision,
                prepared_at: Timestamp(prepared_at),
                prepared_by,
                disclosure_threshold,
                withdrawn,
                narratives,
                values,
            },
        )
}

fn org_id() -> impl Strategy<Value = OrgId> {
    "[a-z0-9][a-z0-9_-]{0,20}".prop_filter_map("valid org id", |s| s.parse().ok())
}

fn period() -> impl Strategy<Value = Period> {
    (1900u16..=9998, 0u8..3, 1u8..=4).prop_filter_map("valid period", |(y, kind, part)| {
        match kind {
            0 => Period::year(y),
            1 => Period::half(y, 1 + part % 2),
            _ => Period::quarter(y, part),
        }
        .ok()
    })
}

fn indicator_id() -> impl Strategy<Value = IndicatorId> {
    "[a-z_]{1,12}\\.[a-z0-9_]{1,16}".prop_filter_map("valid indicator id", |s| s.parse().ok())
}

/// A dimension or dimension value id, or an action point id.
fn key() -> impl Strategy<Value = String> {
    "[a-z_]{1,10}"
}

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        any::<u64>().prop_map(Cell::Published),
        Just(Cell::Published(0)),
        Just(Cell::Suppressed),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (
            cell(),
            btree_map(key(), btree_map(key(), cell(), 0..5), 0..3)
        )
            .prop_map(|(total, breakdowns)| Value::Count(CountValue { total, breakdowns })),
        btree_map(key(), convention_status(), 0..7).prop_map(Value::Status),
        (
            any::<bool>(),
            btree_map(key(), btree_map(key(), any::<bool>(), 0..5), 0..2)
        )
            .prop_map(|(value, breakdowns)| Value::Flag(FlagValue { value, breakdowns })),
        btree_map(currency(), any::<u64>(), 0..4).prop_map(Value::Amount),
    ]
}

fn convention_status() -> impl Strategy<Value = ConventionStatus> {
    prop::sample::select(ConventionStatus::ALL.to_vec())
}

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["EUR", "USD", "BRL", "GHS", "JPY", "INR", "ZAR"])
        .prop_filter_map("valid currency", |c| c.parse().ok())
}
