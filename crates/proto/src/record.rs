//! A node's records to and from the wire (the node's admin interface and its store).
//!
//! The way in parses but does not validate: it refuses what cannot be a record at all (a bad
//! id, date or indicator id, no value, an unknown currency or status, a dimension given twice),
//! naming the field. Whether the record fits a framework is [`Record::check`]'s business.

use std::collections::BTreeMap;

use alliance_core::record::{Record, RecordValue, format_date, parse_date};
use alliance_core::report::Currency;
use alliance_core::timestamp::Timestamp;

use crate::enums;
use crate::error::{WireError, Within, parse, unique_entries};
use crate::pb;
use crate::pb::record::Value as PbValue;

impl From<&Record> for pb::Record {
    fn from(record: &Record) -> Self {
        let value = match &record.value {
            RecordValue::Count(n) => PbValue::Count(*n),
            RecordValue::Status(status) => {
                PbValue::Status(enums::convention_status_to_i32(*status))
            }
            RecordValue::Flag(yes) => PbValue::Flag(*yes),
            RecordValue::Amount {
                currency,
                hundredths,
            } => PbValue::Amount(pb::Money {
                currency: currency.to_string(),
                hundredths: *hundredths,
            }),
        };
        pb::Record {
            id: record.id,
            org_id: record.org.to_string(),
            date: format_date(record.date),
            indicator: record.indicator.to_string(),
            value: Some(value),
            breakdowns: record
                .breakdowns
                .iter()
                .map(|(dimension, value)| pb::BreakdownValue {
                    dimension: dimension.clone(),
                    value: value.clone(),
                })
                .collect(),
            note: record.note.clone(),
            recorded_at_unix_seconds: record.recorded_at.0,
        }
    }
}

impl TryFrom<pb::Record> for Record {
    type Error = WireError;

    fn try_from(record: pb::Record) -> Result<Self, WireError> {
        let value = match record.value {
            Some(PbValue::Count(n)) => RecordValue::Count(n),
            Some(PbValue::Status(status)) => {
                RecordValue::Status(enums::convention_status(status).within("status")?)
            }
            Some(PbValue::Flag(yes)) => RecordValue::Flag(yes),
            Some(PbValue::Amount(money)) => RecordValue::Amount {
                currency: parse::<Currency>(&money.currency)
                    .within("currency")
                    .within("amount")?,
                hundredths: money.hundredths,
            },
            None => {
                return Err(WireError::problem(
                    "no value: one of count, status, flag or amount is required",
                ))
                .within("value");
            }
        };
        let breakdowns: BTreeMap<String, String> =
            unique_entries(record.breakdowns, "breakdowns", "dimension", |b| {
                Ok((b.dimension, b.value))
            })?;
        Ok(Record {
            id: record.id,
            org: parse(&record.org_id).within("org_id")?,
            date: parse_date(&record.date)
                .map_err(WireError::problem)
                .within("date")?,
            indicator: parse(&record.indicator).within("indicator")?,
            value,
            breakdowns,
            note: record.note,
            recorded_at: Timestamp(record.recorded_at_unix_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_record, encode_record};
    use alliance_core::framework::ConventionStatus;

    fn record(value: RecordValue, breakdowns: &[(&str, &str)]) -> Record {
        Record {
            id: 42,
            org: "cut-brazil".parse().unwrap(),
            date: parse_date("2009-03-01").unwrap(),
            indicator: "exposure.cases_documented".parse().unwrap(),
            value,
            breakdowns: breakdowns
                .iter()
                .map(|(d, v)| ((*d).to_owned(), (*v).to_owned()))
                .collect(),
            note: "Reported by the São Paulo office.".to_owned(),
            recorded_at: Timestamp(1_236_000_000),
        }
    }

    fn refusal(record: pb::Record) -> (String, String) {
        match Record::try_from(record) {
            Err(WireError::Field { field, problem }) => (field, problem),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn every_kind_of_record_round_trips() {
        for r in [
            record(
                RecordValue::Count(3),
                &[("sex", "female"), ("migrant_status", "migrant")],
            ),
            record(
                RecordValue::Status(ConventionStatus::RatifiedWithGaps),
                &[("convention", "c29")],
            ),
            record(RecordValue::Flag(false), &[]),
            record(
                RecordValue::Amount {
                    currency: "EUR".parse().unwrap(),
                    hundredths: 1050,
                },
                &[],
            ),
        ] {
            assert_eq!(decode_record(&encode_record(&r)).unwrap(), r);
            assert_eq!(Record::try_from(pb::Record::from(&r)).unwrap(), r);
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let good = pb::Record::from(&record(RecordValue::Count(1), &[("sex", "female")]));

        let bad_date = pb::Record {
            date: "2009-02-30".into(),
            ..good.clone()
        };
        let (field, problem) = refusal(bad_date);
        assert_eq!(field, "date");
        assert!(problem.contains("not a day of the calendar"), "{problem}");

        let no_value = pb::Record {
            value: None,
            ..good.clone()
        };
        assert_eq!(refusal(no_value).0, "value");

        let mut twice = good.clone();
        twice.breakdowns.push(pb::BreakdownValue {
            dimension: "sex".into(),
            value: "male".into(),
        });
        let (field, problem) = refusal(twice);
        assert_eq!(field, "breakdowns[1].dimension");
        assert!(problem.contains("more than once"), "{problem}");

        let bad_indicator = pb::Record {
            indicator: "Exposure".into(),
            ..good.clone()
        };
        assert_eq!(refusal(bad_indicator).0, "indicator");

        let bad_org = pb::Record {
            org_id: String::new(),
            ..good.clone()
        };
        assert_eq!(refusal(bad_org).0, "org_id");

        let bad_currency = pb::Record {
            value: Some(PbValue::Amount(pb::Money {
                currency: "XXX".into(),
                hundredths: 1,
            })),
            ..good.clone()
        };
        assert_eq!(refusal(bad_currency).0, "amount.currency");

        let unspecified = pb::Record {
            value: Some(PbValue::Status(0)),
            ..good
        };
        assert_eq!(refusal(unspecified).0, "status");
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(
            decode_record(&[0xff, 0xff, 0xff]),
            Err(WireError::Decode { .. })
        ));
    }
}
