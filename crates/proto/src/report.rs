//! Reports to and from the wire.
//!
//! The way in refuses what is structurally unsound (bad ids and periods, unknown or unspecified
//! enum values, keys given twice, a cell or value with no variant set, unknown currencies).
//! Whether the report fits its framework version is `alliance_core::validate`'s business.

use alliance_core::framework::IndicatorId;
use alliance_core::report::{Cell, CountValue, Currency, FlagValue, Report, Value};
use alliance_core::timestamp::Timestamp;

use crate::enums;
use crate::error::{WireError, Within, parse, required, unique_entries};
use crate::pb;
use crate::pb::indicator_value::Value as PbValue;

impl TryFrom<pb::Report> for Report {
    type Error = WireError;

    fn try_from(report: pb::Report) -> Result<Self, WireError> {
        Ok(Report {
            org: parse(&report.org_id).within("org_id")?,
            period: parse(&report.period).within("period")?,
            framework_version: report.framework_version,
            revision: report.revision,
            prepared_at: Timestamp(report.prepared_at_unix_seconds),
            prepared_by: parse(&report.prepared_by).within("prepared_by")?,
            disclosure_threshold: report.disclosure_threshold,
            withdrawn: report.withdrawn,
            narratives: unique_entries(report.narratives, "narratives", "action_point", |n| {
                Ok((n.action_point, n.text))
            })?,
            values: unique_entries(report.values, "values", "indicator", indicator_value)?,
        })
    }
}

impl From<&Report> for pb::Report {
    fn from(report: &Report) -> Self {
        pb::Report {
            org_id: report.org.to_string(),
            period: report.period.to_string(),
            framework_version: report.framework_version,
            revision: report.revision,
            prepared_at_unix_seconds: report.prepared_at.0,
            prepared_by: report.prepared_by.to_string(),
            disclosure_threshold: report.disclosure_threshold,
            withdrawn: report.withdrawn,
            narratives: report
                .narratives
                .iter()
                .map(|(action_point, text)| pb::Narrative {
                    action_point: action_point.clone(),
                    text: text.clone(),
                })
                .collect(),
            values: report
                .values
                .iter()
                .map(|(indicator, value)| pb::IndicatorValue {
                    indicator: indicator.to_string(),
                    value: Some(value_to_pb(value)),
                })
                .collect(),
        }
    }
}

/// A cell on the wire: the published count, or the empty `Suppressed` marker.
impl From<Cell> for pb::Cell {
    fn from(cell: Cell) -> Self {
        let state = match cell {
            Cell::Published(n) => pb::cell::State::Published(n),
            Cell::Suppressed => pb::cell::State::Suppressed(pb::Suppressed {}),
        };
        pb::Cell { state: Some(state) }
    }
}

impl TryFrom<pb::Cell> for Cell {
    type Error = WireError;

    fn try_from(cell: pb::Cell) -> Result<Self, WireError> {
        match cell.state {
            Some(pb::cell::State::Published(n)) => Ok(Cell::Published(n)),
            Some(pb::cell::State::Suppressed(pb::Suppressed {})) => Ok(Cell::Suppressed),
            None => Err(WireError::problem(
                "neither published nor suppressed: one of the two is required",
            ))
            .within("state"),
        }
    }
}

fn indicator_value(value: pb::IndicatorValue) -> Result<(IndicatorId, Value), WireError> {
    let id: IndicatorId = parse(&value.indicator).within("indicator")?;
    let value = match value.value {
        Some(PbValue::Count(count)) => Value::Count(count_value(count).within("count")?),
        Some(PbValue::Status(status)) => Value::Status(
            unique_entries(status.entries, "entries", "key", |entry| {
                let status = enums::convention_status(entry.status).within("status")?;
                Ok((entry.key, status))
            })
            .within("status")?,
        ),
        Some(PbValue::Flag(flag)) => Value::Flag(flag_value(flag).within("flag")?),
        Some(PbValue::Amount(amount)) => Value::Amount(
            unique_entries(amount.amounts, "amounts", "currency", |money| {
                let currency: Currency = parse(&money.currency).within("currency")?;
                Ok((currency, money.hundredths))
            })
            .within("amount")?,
        ),
        None => {
            return Err(WireError::problem(
                "no value: one of count, status, flag or amount is required",
            ))
            .within("value");
        }
    };
    Ok((id, value))
}

fn count_value(count: pb::CountValue) -> Result<CountValue, WireError> {
    let total = required(count.total)
        .and_then(Cell::try_from)
        .within("total")?;
    let breakdowns = unique_entries(count.breakdowns, "breakdowns", "dimension", |breakdown| {
        let cells = unique_entries(breakdown.cells, "cells", "value", |cell| {
            let value = required(cell.cell)
                .and_then(Cell::try_from)
                .within("cell")?;
            Ok((cell.value, value))
        })?;
        Ok((breakdown.dimension, cells))
    })?;
    Ok(CountValue { total, breakdowns })
}

fn flag_value(flag: pb::FlagValue) -> Result<FlagValue, WireError> {
    let breakdowns = unique_entries(flag.breakdowns, "breakdowns", "dimension", |breakdown| {
        let cells = unique_entries(breakdown.cells, "cells", "value", |cell| {
            Ok((cell.value, cell.yes))
        })?;
        Ok((breakdown.dimension, cells))
    })?;
    Ok(FlagValue {
        value: flag.value,
        breakdowns,
    })
}

fn value_to_pb(value: &Value) -> PbValue {
    match value {
        Value::Count(count) => PbValue::Count(pb::CountValue {
            total: Some(count.total.into()),
            breakdowns: count
                .breakdowns
                .iter()
                .map(|(dimension, cells)| pb::CountBreakdown {
                    dimension: dimension.clone(),
                    cells: cells
                        .iter()
                        .map(|(value, cell)| pb::CountCell {
                            value: value.clone(),
                            cell: Some((*cell).into()),
                        })
                        .collect(),
                })
                .collect(),
        }),
        Value::Status(statuses) => PbValue::Status(pb::StatusValue {
            entries: statuses
                .iter()
                .map(|(key, status)| pb::StatusEntry {
                    key: key.clone(),
                    status: enums::convention_status_to_i32(*status),
                })
                .collect(),
        }),
        Value::Flag(flag) => PbValue::Flag(pb::FlagValue {
            value: flag.value,
            breakdowns: flag
                .breakdowns
                .iter()
                .map(|(dimension, cells)| pb::FlagBreakdown {
                    dimension: dimension.clone(),
                    cells: cells
                        .iter()
                        .map(|(value, yes)| pb::FlagCell {
                            value: value.clone(),
                            yes: *yes,
                        })
                        .collect(),
                })
                .collect(),
        }),
        Value::Amount(amounts) => PbValue::Amount(pb::AmountValue {
            amounts: amounts.iter().map(money_to_pb).collect(),
        }),
    }
}

fn money_to_pb((currency, hundredths): (&Currency, &u64)) -> pb::Money {
    pb::Money {
        currency: currency.to_string(),
        hundredths: *hundredths,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alliance_core::framework::ConventionStatus;
    use std::collections::BTreeMap;

    fn count(total: Option<pb::Cell>, cells: Vec<(&str, Option<pb::Cell>)>) -> pb::IndicatorValue {
        pb::IndicatorValue {
            indicator: "exposure.cases_documented".into(),
            value: Some(PbValue::Count(pb::CountValue {
                total,
                breakdowns: vec![pb::CountBreakdown {
                    dimension: "sex".into(),
                    cells: cells
                        .into_iter()
                        .map(|(value, cell)| pb::CountCell {
                            value: value.into(),
                            cell,
                        })
                        .collect(),
                }],
            })),
        }
    }

    fn published(n: u64) -> Option<pb::Cell> {
        Some(Cell::Published(n).into())
    }

    fn report(values: Vec<pb::IndicatorValue>) -> pb::Report {
        pb::Report {
            org_id: "cut-brazil".into(),
            period: "2009".into(),
            framework_version: 1,
            revision: 1,
            prepared_at_unix_seconds: 1_262_304_000,
            prepared_by: "cut-brazil".into(),
            disclosure_threshold: 5,
            withdrawn: false,
            narratives: vec![],
            values,
        }
    }

    fn refusal(report: pb::Report) -> (String, String) {
        match Report::try_from(report) {
            Err(WireError::Field { field, problem }) => (field, problem),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_sound_report_converts_both_ways() {
        let wire = report(vec![count(
            published(12),
            vec![
                ("female", published(7)),
                ("male", Some(Cell::Suppressed.into())),
            ],
        )]);
        let domain = Report::try_from(wire.clone()).unwrap();
        let Value::Count(c) = &domain.values[&"exposure.cases_documented".parse().unwrap()] else {
            panic!("not a count");
        };
        assert_eq!(c.total, Cell::Published(12));
        assert_eq!(c.breakdowns["sex"]["male"], Cell::Suppressed);
        assert_eq!(pb::Report::from(&domain), wire);
    }

    #[test]
    fn refusals_name_the_field() {
        let mut r = report(vec![]);
        r.org_id = "CUT Brazil".into();
        assert_eq!(refusal(r).0, "org_id");

        let mut r = report(vec![]);
        r.period = "2009-Q5".into();
        assert_eq!(refusal(r).0, "period");

        let mut r = report(vec![]);
        r.prepared_by = String::new();
        assert_eq!(refusal(r).0, "prepared_by");

        let r = report(vec![
            count(published(1), vec![]),
            count(
                published(2),
                vec![("female", published(1)), ("female", published(1))],
            ),
        ]);
        let (field, problem) = refusal(r);
        assert_eq!(field, "values[1].count.breakdowns[0].cells[1].value");
        assert!(problem.contains("more than once"), "{problem}");

        let r = report(vec![
            count(published(1), vec![]),
            count(published(1), vec![]),
        ]);
        assert_eq!(refusal(r).0, "values[1].indicator");

        let r = report(vec![count(
            published(3),
            vec![("female", Some(pb::Cell { state: None }))],
        )]);
        assert_eq!(
            refusal(r).0,
            "values[0].count.breakdowns[0].cells[0].cell.state"
        );

        let r = report(vec![count(published(3), vec![("female", None)])]);
        assert_eq!(refusal(r).0, "values[0].count.breakdowns[0].cells[0].cell");

        let r = report(vec![count(None, vec![])]);
        assert_eq!(refusal(r).0, "values[0].count.total");

        let r = report(vec![pb::IndicatorValue {
            indicator: "awareness.activities".into(),
            value: None,
        }]);
        assert_eq!(refusal(r).0, "values[0].value");

        let r = report(vec![pb::IndicatorValue {
            indicator: "awareness".into(),
            value: None,
        }]);
        assert_eq!(refusal(r).0, "values[0].indicator");
    }

    #[test]
    fn enums_and_currencies_are_checked() {
        let status = |status: i32| pb::IndicatorValue {
            indicator: "ratification.convention_status".into(),
            value: Some(PbValue::Status(pb::StatusValue {
                entries: vec![pb::StatusEntry {
                    key: "c29".into(),
                    status,
                }],
            })),
        };
        let ok = Report::try_from(report(vec![status(3)])).unwrap();
        assert_eq!(
            ok.values[&"ratification.convention_status".parse().unwrap()],
            Value::Status(BTreeMap::from([(
                "c29".to_owned(),
                ConventionStatus::Ratified
            )]))
        );
        for bad in [0, 5, -3] {
            assert_eq!(
                refusal(report(vec![status(bad)])).0,
                "values[0].status.entries[0].status"
            );
        }

        let money = |currency: &str| pb::IndicatorValue {
            indicator: "internal_support.budget_allocated".into(),
            value: Some(PbValue::Amount(pb::AmountValue {
                amounts: vec![
                    pb::Money {
                        currency: "EUR".into(),
                        hundredths: 100,
                    },
                    pb::Money {
                        currency: currency.into(),
                        hundredths: 5,
                    },
                ],
            })),
        };
        assert!(Report::try_from(report(vec![money("USD")])).is_ok());
        assert_eq!(
            refusal(report(vec![money("XXX")])).0,
            "values[0].amount.amounts[1].currency"
        );
        // Currency codes are case-insensitive on the way in, so "eur" is a second EUR.
        assert_eq!(
            refusal(report(vec![money("eur")])).0,
            "values[0].amount.amounts[1].currency"
        );
    }

    #[test]
    fn duplicate_narratives_and_flag_cells_are_refused() {
        let mut r = report(vec![]);
        for text in ["a", "b"] {
            r.narratives.push(pb::Narrative {
                action_point: "awareness".into(),
                text: text.into(),
            });
        }
        assert_eq!(refusal(r).0, "narratives[1].action_point");

        let flag = pb::IndicatorValue {
            indicator: "gufs.sectors_targeted".into(),
            value: Some(PbValue::Flag(pb::FlagValue {
                value: true,
                breakdowns: vec![
                    pb::FlagBreakdown {
                        dimension: "sector".into(),
                        cells: vec![],
                    },
                    pb::FlagBreakdown {
                        dimension: "sector".into(),
                        cells: vec![],
                    },
                ],
            })),
        };
        assert_eq!(
            refusal(report(vec![flag])).0,
            "values[0].flag.breakdowns[1].dimension"
        );
    }
}
