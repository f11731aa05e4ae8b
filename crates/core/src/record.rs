//! A node's local records, and how the true values of a period's report are built from them.
//!
//! A [`Record`] is one observation an operator enters on a node: a date, an indicator, the
//! dimension values it falls under, a value and a note. Records never leave the node; only the
//! reports built from them do. [`build_values`] turns the records of a period into the true
//! values of its report; disclosure control ([`crate::disclosure::protect`]) is applied to them
//! afterwards by the caller.
//!
//! # How a period's values are built
//!
//! Only records dated inside the period count (`period.start() <= date < period.end_exclusive()`).
//! A record that does not fit the framework ([`Record::check`]) is left out with a warning, so
//! that the values built always pass [`Framework::check_report`]. An indicator with no record in
//! the period is absent from the report.
//!
//! - **Count, flow**: the total is the sum of the records. For each dimension the indicator
//!   breaks down by, the cells are the sums per dimension value. Breakdowns are marginal: each
//!   must add up to the total, so a breakdown is only carried when every record gives that
//!   dimension. Otherwise it is left out, with a warning saying how many records lack it. The
//!   exception is a dimension with an `unknown` value (sex, migrant status): a record that does
//!   not give it counts as `unknown`, and the breakdown is kept. Cells list the dimension values
//!   the records give (an unlisted value reads as a published zero).
//! - **Count, stock**: the value at the latest date within the period that has records of the
//!   indicator. The records of that date are parts of one value (union agreements by scope, say),
//!   so they are summed, with breakdowns as for flows over those records only.
//! - **Amount**: summed per currency over the period (a flow). Were an amount indicator a stock,
//!   the latest date's records would be summed per currency.
//! - **Status**: per convention, the status of the latest record; records of the same date are
//!   ordered by record id, the highest winning, since it was entered last.
//! - **Flag**: the latest record without breakdown gives the value (ties: the highest id). A flag
//!   that breaks down (sectors targeted, by sector) keeps per dimension value the latest record.
//!   Without a record that has no breakdown, the flag is yes when any cell is yes. A flag of no
//!   beside a cell of yes would contradict itself, so the flag is then given as yes, with a
//!   warning.
//!
//! A sum that would overflow leaves its indicator out, with a warning; it cannot be a true count.

use std::collections::BTreeMap;
use std::fmt;

use time::{Date, Month};

use crate::framework::{ConventionStatus, Framework, Indicator, IndicatorId, Temporal, ValueKind};
use crate::org::OrgId;
use crate::period::{MAX_YEAR, MIN_YEAR, Period};
use crate::report::{Cell, CountValue, Currency, FlagValue, Value};
use crate::timestamp::Timestamp;

/// The dimension value a record that does not give a dimension counts under, where the
/// dimension has it.
pub const UNKNOWN_VALUE: &str = "unknown";

/// One observation recorded on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Assigned by the node's store; 0 before it is stored.
    pub id: u64,
    pub org: OrgId,
    /// The day the observation is about; it decides the period.
    pub date: Date,
    pub indicator: IndicatorId,
    pub value: RecordValue,
    /// Dimension id → dimension value id, at most one value per dimension.
    pub breakdowns: BTreeMap<String, String>,
    /// Free text for the operator; never leaves the node.
    pub note: String,
    pub recorded_at: Timestamp,
}

/// The value of one record, of its indicator's value kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordValue {
    Count(u64),
    Status(ConventionStatus),
    Flag(bool),
    /// Money in hundredths of the currency unit.
    Amount {
        currency: Currency,
        hundredths: u64,
    },
}

/// A record that does not fit the framework: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RecordError {
    pub field: RecordField,
    pub problem: RecordProblem,
}

/// The field of a record an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordField {
    Indicator,
    Value,
    /// The breakdown by this dimension id.
    Breakdown(String),
}

/// What is wrong with a field of a record, in words an operator understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordProblem {
    #[error("{0} is not an indicator of the framework")]
    UnknownIndicator(IndicatorId),
    #[error("{0} is retired and takes no new records")]
    RetiredIndicator(IndicatorId),
    #[error("{indicator} takes {}, not {}", article(*expected), article(*got))]
    WrongKind {
        indicator: IndicatorId,
        expected: ValueKind,
        got: ValueKind,
    },
    #[error("{indicator} is not broken down by {dimension}{}", allowed(breakdowns))]
    UnknownDimension {
        indicator: IndicatorId,
        dimension: String,
        breakdowns: Vec<String>,
    },
    #[error("{value:?} is not a value of {dimension} (one of: {})", known.join(", "))]
    UnknownValue {
        dimension: String,
        value: String,
        known: Vec<String>,
    },
    #[error("{indicator} is a status per {dimension}: say which {dimension} it is about")]
    MissingDimension {
        indicator: IndicatorId,
        dimension: String,
    },
}

/// Why an amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("no amount given")]
    Empty,
    #[error("{0:?} is negative: amounts are zero or more")]
    Negative(String),
    #[error("{0:?} has more than two decimals")]
    TooManyDecimals(String),
    #[error("{0:?} is too large")]
    Overflow(String),
    #[error("{0:?} is not an amount such as 10, 10.5 or 10.50")]
    Syntax(String),
}

/// Why a record's date could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("{0:?} is not a date of the form YYYY-MM-DD")]
    Syntax(String),
    #[error("{0:?} is outside the years {MIN_YEAR} to {MAX_YEAR}")]
    Year(String),
    #[error("{0:?} is not a day of the calendar")]
    NoSuchDay(String),
}

/// The true values of a period's report, built from records, with what the operator should know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Built {
    pub values: BTreeMap<IndicatorId, Value>,
    pub warnings: Vec<BuildWarning>,
}

/// Something the operator should know about the values built, such as a breakdown left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildWarning {
    /// The field of the report concerned, such as `values["awareness.people_reached"]`.
    pub field: String,
    pub message: String,
}

impl Record {
    /// Checks that the record fits `framework`: a known, current indicator; a value of its kind;
    /// breakdowns by its dimensions with values of them; for a status, the dimension it is per.
    pub fn check(&self, framework: &Framework) -> Result<(), RecordError> {
        let indicator = framework
            .indicator(&self.indicator)
            .ok_or_else(|| RecordError {
                field: RecordField::Indicator,
                problem: RecordProblem::UnknownIndicator(self.indicator.clone()),
            })?;
        if indicator.retired {
            return Err(RecordError {
                field: RecordField::Indicator,
                problem: RecordProblem::RetiredIndicator(self.indicator.clone()),
            });
        }
        let got = self.value.kind();
        if got != indicator.kind {
            return Err(RecordError {
                field: RecordField::Value,
                problem: RecordProblem::WrongKind {
                    indicator: self.indicator.clone(),
                    expected: indicator.kind,
                    got,
                },
            });
        }
        for (dimension, value) in &self.breakdowns {
            let field = || RecordField::Breakdown(dimension.clone());
            let known = indicator.breakdowns.contains(dimension);
            let Some(dim) = framework.dimension(dimension).filter(|_| known) else {
                return Err(RecordError {
                    field: field(),
                    problem: RecordProblem::UnknownDimension {
                        indicator: self.indicator.clone(),
                        dimension: dimension.clone(),
                        breakdowns: indicator.breakdowns.clone(),
                    },
                });
            };
            if !dim.has_value(value) {
                return Err(RecordError {
                    field: field(),
                    problem: RecordProblem::UnknownValue {
                        dimension: dimension.clone(),
                        value: value.clone(),
                        known: dim.values.iter().map(|v| v.id.clone()).collect(),
                    },
                });
            }
        }
        // A status is per value of its one dimension (the convention): without it the record
        // would say nothing about any convention.
        if indicator.kind == ValueKind::Status {
            for dimension in &indicator.breakdowns {
                if !self.breakdowns.contains_key(dimension) {
                    return Err(RecordError {
                        field: RecordField::Breakdown(dimension.clone()),
                        problem: RecordProblem::MissingDimension {
                            indicator: self.indicator.clone(),
                            dimension: dimension.clone(),
                        },
                    });
                }
            }
        }
        Ok(())
    }
}

impl RecordValue {
    pub fn kind(&self) -> ValueKind {
        match self {
            RecordValue::Count(_) => ValueKind::Count,
            RecordValue::Status(_) => ValueKind::Status,
            RecordValue::Flag(_) => ValueKind::Flag,
            RecordValue::Amount { .. } => ValueKind::Amount,
        }
    }
}

impl fmt::Display for RecordField {
    /// `indicator`, `value` or `breakdowns["sex"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordField::Indicator => f.write_str("indicator"),
            RecordField::Value => f.write_str("value"),
            RecordField::Breakdown(dimension) => write!(f, "breakdowns[{dimension:?}]"),
        }
    }
}

/// Reads a record's date, `YYYY-MM-DD`, in the years periods can name.
pub fn parse_date(text: &str) -> Result<Date, DateError> {
    let syntax = || DateError::Syntax(text.to_owned());
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return Err(syntax());
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<u16>().map_err(|_| syntax());
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(DateError::Year(text.to_owned()));
    }
    let no_such_day = || DateError::NoSuchDay(text.to_owned());
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(no_such_day)?;
    let day = u8::try_from(day).map_err(|_| no_such_day())?;
    Date::from_calendar_date(i32::from(year), month, day).map_err(|_| no_such_day())
}

/// A record's date as [`parse_date`] reads it, `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Reads an amount such as `10`, `10.5` or `10.50` as hundredths of the currency unit.
pub fn parse_amount(text: &str) -> Result<u64, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.starts_with('-') {
        return Err(AmountError::Negative(text.to_owned()));
    }
    let (units, decimals) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    // "10." and ".5" are refused: an operator who typed them may have meant something else.
    if units.is_empty() || !digits(units) || !digits(decimals) || text.ends_with('.') {
        return Err(AmountError::Syntax(text.to_owned()));
    }
    if decimals.len() > 2 {
        return Err(AmountError::TooManyDecimals(text.to_owned()));
    }
    let overflow = || AmountError::Overflow(text.to_owned());
    let units: u64 = units.parse().map_err(|_| overflow())?;
    let cents: u64 = match decimals.len() {
        0 => 0,
        1 => u64::from(decimals.as_bytes()[0] - b'0') * 10,
        _ => decimals.parse().map_err(|_| overflow())?,
    };
    units
        .checked_mul(100)
        .and_then(|h| h.checked_add(cents))
        .ok_or_else(overflow)
}

/// The true values of `period`'s report from `records`, by the rules of the module documentation.
pub fn build_values(framework: &Framework, period: Period, records: &[Record]) -> Built {
    let mut built = Built::default();
    let mut by_indicator: BTreeMap<&IndicatorId, Vec<&Record>> = BTreeMap::new();
    for record in records {
        if record.date < period.start() || record.date >= period.end_exclusive() {
            continue;
        }
        if let Err(e) = record.check(framework) {
            built.warnings.push(BuildWarning {
                field: value_field(&record.indicator),
                message: format!("record {} is left out: {e}", record.id),
            });
            continue;
        }
        by_indicator
            .entry(&record.indicator)
            .or_default()
            .push(record);
    }
    for (id, mut group) in by_indicator {
        // The input order must not matter: sort by what the rules order by, the date, then the
        // record id, which the node's store makes unique.
        group.sort_by_key(|r| (r.date, r.id));
        // Record::check has found the indicator, so this always succeeds.
        let Some(indicator) = framework.indicator(id) else {
            continue;
        };
        let mut warnings = Vec::new();
        let value = match indicator.kind {
            ValueKind::Count => count_value(framework, indicator, &group, &mut warnings),
            ValueKind::Amount => amount_value(indicator, &group, &mut warnings),
            ValueKind::Status => Some(status_value(&group)),
            ValueKind::Flag => Some(flag_value(indicator, &group, &mut warnings)),
        };
        built.warnings.append(&mut warnings);
        if let Some(value) = value {
            built.values.insert(id.clone(), value);
        }
    }
    built
}

/// `a count`, `a status`, `a flag`, `an amount`.
fn article(kind: ValueKind) -> String {
    match kind {
        ValueKind::Amount => "an amount".to_owned(),
        other => format!("a {other}"),
    }
}

/// ` (only by sex, migrant_status)`, or ` (it has no breakdown)`.
fn allowed(breakdowns: &[String]) -> String {
    if breakdowns.is_empty() {
        " (it has no breakdown)".to_owned()
    } else {
        format!(" (only by {})", breakdowns.join(", "))
    }
}

fn value_field(id: &IndicatorId) -> String {
    format!("values[{:?}]", id.as_str())
}

/// The records a stock takes its value from: those of the latest date. `group` is sorted by date.
fn latest_date<'a>(group: &[&'a Record]) -> Vec<&'a Record> {
    match group.last() {
        Some(last) => group
            .iter()
            .filter(|r| r.date == last.date)
            .copied()
            .collect(),
        None => Vec::new(),
    }
}

fn count_value(
    framework: &Framework,
    indicator: &Indicator,
    group: &[&Record],
    warnings: &mut Vec<BuildWarning>,
) -> Option<Value> {
    let records = match indicator.temporal {
        Temporal::Flow => group.to_vec(),
        Temporal::Stock => latest_date(group),
    };
    let counts: Vec<(&Record, u64)> = records
        .iter()
        .filter_map(|r| match r.value {
            RecordValue::Count(n) => Some((*r, n)),
            _ => None,
        })
        .collect();
    let field = value_field(&indicator.id);
    let overflow = |warnings: &mut Vec<BuildWarning>| {
        warnings.push(BuildWarning {
            field: field.clone(),
            message: format!(
                "the records of {} add up to more than can be counted; it is left out",
                indicator.id
            ),
        });
    };
    let Some(total) = counts
        .iter()
        .try_fold(0u64, |sum, (_, n)| sum.checked_add(*n))
    else {
        overflow(warnings);
        return None;
    };
    let mut breakdowns = BTreeMap::new();
    for dimension in &indicator.breakdowns {
        let has_unknown = framework
            .dimension(dimension)
            .is_some_and(|d| d.has_value(UNKNOWN_VALUE));
        let lacking = counts
            .iter()
            .filter(|(r, _)| !r.breakdowns.contains_key(dimension))
            .count();
        // A breakdown no record gives is simply not kept: there is nothing to warn about, and
        // a breakdown of nothing but "unknown" would say nothing.
        if lacking == counts.len() {
            continue;
        }
        if lacking > 0 && !has_unknown {
            warnings.push(BuildWarning {
                field: format!("{field}.breakdowns[{dimension:?}]"),
                message: format!(
                    "{lacking} of {} records do not give {dimension}; the breakdown by \
                     {dimension} is left out",
                    counts.len()
                ),
            });
            continue;
        }
        let mut cells: BTreeMap<String, u64> = BTreeMap::new();
        for (record, n) in &counts {
            let value = record
                .breakdowns
                .get(dimension)
                .map_or(UNKNOWN_VALUE, String::as_str);
            let cell = cells.entry(value.to_owned()).or_default();
            // Every cell is at most the total, which did not overflow.
            *cell = cell.saturating_add(*n);
        }
        let cells = cells
            .into_iter()
            .map(|(value, n)| (value, Cell::Published(n)))
            .collect();
        breakdowns.insert(dimension.clone(), cells);
    }
    Some(Value::Count(CountValue {
        total: Cell::Published(total),
        breakdowns,
    }))
}

fn amount_value(
    indicator: &Indicator,
    group: &[&Record],
    warnings: &mut Vec<BuildWarning>,
) -> Option<Value> {
    let records = match indicator.temporal {
        Temporal::Flow => group.to_vec(),
        Temporal::Stock => latest_date(group),
    };
    let mut amounts: BTreeMap<Currency, u64> = BTreeMap::new();
    for record in records {
        if let RecordValue::Amount {
            currency,
            hundredths,
        } = record.value
        {
            let sum = amounts.entry(currency).or_default();
            let Some(next) = sum.checked_add(hundredths) else {
                warnings.push(BuildWarning {
                    field: value_field(&indicator.id),
                    message: format!(
                        "the {currency} amounts of {} add up to more than can be counted; it is \
                         left out",
                        indicator.id
                    ),
                });
                return None;
            };
            *sum = next;
        }
    }
    Some(Value::Amount(amounts))
}

/// Per dimension value, the latest status. `group` is sorted by (date, id), so the last one
/// written into the map wins.
fn status_value(group: &[&Record]) -> Value {
    let mut statuses = BTreeMap::new();
    for record in group {
        if let RecordValue::Status(status) = record.value {
            // A status record names exactly one dimension value (Record::check); the framework
            // gives a status indicator exactly one dimension.
            for value in record.breakdowns.values() {
                statuses.insert(value.clone(), status);
            }
        }
    }
    Value::Status(statuses)
}

fn flag_value(indicator: &Indicator, group: &[&Record], warnings: &mut Vec<BuildWarning>) -> Value {
    let mut overall = None;
    let mut breakdowns: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    // `group` is sorted by (date, id): the latest record of each kind is written last.
    for record in group {
        let RecordValue::Flag(yes) = record.value else {
            continue;
        };
        if record.breakdowns.is_empty() {
            overall = Some(yes);
        }
        for (dimension, value) in &record.breakdowns {
            breakdowns
                .entry(dimension.clone())
                .or_default()
                .insert(value.clone(), yes);
        }
    }
    let any_cell = breakdowns.values().flat_map(|b| b.values()).any(|yes| *yes);
    let value = match overall {
        Some(false) if any_cell => {
            warnings.push(BuildWarning {
                field: value_field(&indicator.id),
                message: format!(
                    "the latest record of {} says no, but a record by {} says yes; it is \
                     reported as yes",
                    indicator.id,
                    indicator.breakdowns.join(", ")
                ),
            });
            true
        }
        Some(yes) => yes,
        None => any_cell,
    };
    Value::Flag(FlagValue { value, breakdowns })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
    }

    fn record(
        id: u64,
        day: Date,
        indicator: &str,
        value: RecordValue,
        bd: &[(&str, &str)],
    ) -> Record {
        Record {
            id,
            org: "cut-brazil".parse().unwrap(),
            date: day,
            indicator: indicator.parse().unwrap(),
            value,
            breakdowns: bd
                .iter()
                .map(|(d, v)| ((*d).to_owned(), (*v).to_owned()))
                .collect(),
            note: String::new(),
            recorded_at: Timestamp(0),
        }
    }

    fn count(id: u64, day: Date, indicator: &str, n: u64, bd: &[(&str, &str)]) -> Record {
        record(id, day, indicator, RecordValue::Count(n), bd)
    }

    fn y2009() -> Period {
        "2009".parse().unwrap()
    }

    fn id(s: &str) -> IndicatorId {
        s.parse().unwrap()
    }

    fn report_of(values: BTreeMap<IndicatorId, Value>) -> Report {
        Report {
            org: "cut-brazil".parse().unwrap(),
            period: y2009(),
            framework_version: 1,
            revision: 1,
            prepared_at: Timestamp(0),
            prepared_by: "cut-brazil".parse().unwrap(),
            disclosure_threshold: 5,
            withdrawn: false,
            narratives: BTreeMap::new(),
            values,
        }
    }

    fn cells(pairs: &[(&str, u64)]) -> BTreeMap<String, Cell> {
        pairs
            .iter()
            .map(|(v, n)| ((*v).to_owned(), Cell::Published(*n)))
            .collect()
    }

    #[test]
    fn check_accepts_sound_records() {
        let f = Framework::v1();
        let d = date(2009, 3, 1);
        count(0, d, "exposure.cases_documented", 3, &[("sex", "female")])
            .check(&f)
            .unwrap();
        record(
            0,
            d,
            "ratification.convention_status",
            RecordValue::Status(ConventionStatus::Ratified),
            &[("convention", "c29")],
        )
        .check(&f)
        .unwrap();
    }

    #[test]
    fn check_names_the_field_and_says_what_is_wrong() {
        let f = Framework::v1();
        let d = date(2009, 3, 1);
        let err = |r: Record| {
            let e = r.check(&f).unwrap_err();
            (e.field.to_string(), e.problem.to_string())
        };
        assert_eq!(
            err(count(0, d, "awareness.nope", 1, &[])),
            (
                "indicator".to_owned(),
                "awareness.nope is not an indicator of the framework".to_owned()
            )
        );
        assert_eq!(
            err(record(
                0,
                d,
                "awareness.activities",
                RecordValue::Status(ConventionStatus::Ratified),
                &[]
            )),
            (
                "value".to_owned(),
                "awareness.activities takes a count, not a status".to_owned()
            )
        );
        let (field, message) = err(record(
            0,
            d,
            "awareness.activities",
            RecordValue::Amount {
                currency: "EUR".parse().unwrap(),
                hundredths: 1,
            },
            &[],
        ));
        assert_eq!(field, "value");
        assert!(message.ends_with("not an amount"), "{message}");
        let (field, message) = err(count(0, d, "awareness.activities", 1, &[("sex", "female")]));
        assert_eq!(field, r#"breakdowns["sex"]"#);
        assert!(message.contains("has no breakdown"), "{message}");
        let (field, message) = err(count(
            0,
            d,
            "awareness.people_reached",
            1,
            &[("sex", "femal")],
        ));
        assert_eq!(field, r#"breakdowns["sex"]"#);
        assert!(
            message.contains("female, male, other, unknown"),
            "{message}"
        );
        let (field, message) = err(record(
            0,
            d,
            "ratification.convention_status",
            RecordValue::Status(ConventionStatus::Ratified),
            &[],
        ));
        assert_eq!(field, r#"breakdowns["convention"]"#);
        assert!(message.contains("which convention"), "{message}");

        let mut retired = Framework::v1();
        retired.indicators[2].retired = true;
        let e = count(0, d, "awareness.activities", 1, &[])
            .check(&retired)
            .unwrap_err();
        assert_eq!(e.field, RecordField::Indicator);
        assert!(matches!(e.problem, RecordProblem::RetiredIndicator(_)));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2009-03-01"), Ok(date(2009, 3, 1)));
        assert_eq!(format_date(date(2009, 3, 1)), "2009-03-01");
        assert_eq!(parse_date("2008-02-29"), Ok(date(2008, 2, 29)));
        for bad in [
            "2009-3-1",
            "2009/03/01",
            "",
            "20090301",
            "2009-03-01 ",
            "+209-03-01",
        ] {
            assert!(
                matches!(parse_date(bad), Err(DateError::Syntax(_))),
                "{bad:?}"
            );
        }
        for bad in ["2009-02-29", "2009-13-01", "2009-00-10", "2009-04-31"] {
            assert!(
                matches!(parse_date(bad), Err(DateError::NoSuchDay(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(parse_date("0001-01-01"), Err(DateError::Year(_))));
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("10"), Ok(1000));
        assert_eq!(parse_amount("10.5"), Ok(1050));
        assert_eq!(parse_amount("10.50"), Ok(1050));
        assert_eq!(parse_amount("0.07"), Ok(7));
        assert_eq!(parse_amount(""), Err(AmountError::Empty));
        assert!(matches!(parse_amount("-1"), Err(AmountError::Negative(_))));
        assert!(matches!(
            parse_amount("1.005"),
            Err(AmountError::TooManyDecimals(_))
        ));
        assert!(matches!(
            parse_amount("184467440737095517"),
            Err(AmountError::Overflow(_))
        ));
        assert!(matches!(
            parse_amount("99999999999999999999999"),
            Err(AmountError::Overflow(_))
        ));
        for bad in ["1,5", "10.", ".5", "1.2.3", "+1", "ten", " 1"] {
            assert!(
                matches!(parse_amount(bad), Err(AmountError::Syntax(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn flows_sum_with_marginal_breakdowns() {
        let f = Framework::v1();
        let d = date(2009, 5, 1);
        let records = [
            count(
                1,
                d,
                "outreach.workers_reached",
                4,
                &[("sex", "female"), ("migrant_status", "migrant")],
            ),
            count(2, d, "outreach.workers_reached", 3, &[("sex", "male")]),
            count(3, d, "outreach.workers_reached", 2, &[]),
            // Outside the period.
            count(4, date(2010, 1, 1), "outreach.workers_reached", 100, &[]),
            count(5, date(2008, 12, 31), "outreach.workers_reached", 100, &[]),
        ];
        let built = build_values(&f, y2009(), &records);
        let value = &built.values[&id("outreach.workers_reached")];
        let Value::Count(c) = value else {
            panic!("{value:?}")
        };
        assert_eq!(c.total, Cell::Published(9));
        // Sex and migrant status both have `unknown`, so both breakdowns are kept.
        assert_eq!(
            c.breakdowns["sex"],
            cells(&[("female", 4), ("male", 3), ("unknown", 2)])
        );
        assert_eq!(
            c.breakdowns["migrant_status"],
            cells(&[("migrant", 4), ("unknown", 5)])
        );
        assert!(built.warnings.is_empty());
        f.check_report(&report_of(built.values)).unwrap();
    }

    #[test]
    fn a_breakdown_some_records_lack_is_left_out_with_a_warning() {
        let f = Framework::v1();
        let d = date(2009, 5, 1);
        let mut records: Vec<Record> = (1..=4)
            .map(|i| {
                count(
                    i,
                    d,
                    "monitoring.abuses_detected",
                    i,
                    &[("sector", "mining")],
                )
            })
            .collect();
        records.extend((5..=7).map(|i| count(i, d, "monitoring.abuses_detected", 1, &[])));
        let built = build_values(&f, y2009(), &records);
        let Value::Count(c) = &built.values[&id("monitoring.abuses_detected")] else {
            panic!()
        };
        assert_eq!(c.total, Cell::Published(13));
        assert!(c.breakdowns.is_empty());
        assert_eq!(
            built.warnings,
            [BuildWarning {
                field: r#"values["monitoring.abuses_detected"].breakdowns["sector"]"#.to_owned(),
                message: "3 of 7 records do not give sector; the breakdown by sector is left out"
                    .to_owned(),
            }]
        );
        f.check_report(&report_of(built.values)).unwrap();
    }

    #[test]
    fn stocks_take_the_latest_date_summing_its_parts() {
        let f = Framework::v1();
        let i = "cooperation.union_agreements";
        let records = [
            count(1, date(2009, 2, 1), i, 10, &[("scope", "bilateral")]),
            count(2, date(2009, 11, 1), i, 2, &[("scope", "bilateral")]),
            count(3, date(2009, 11, 1), i, 3, &[("scope", "regional")]),
            count(4, date(2010, 2, 1), i, 50, &[("scope", "regional")]),
        ];
        let built = build_values(&f, y2009(), &records);
        assert_eq!(
            built.values[&id(i)],
            Value::Count(CountValue {
                total: Cell::Published(5),
                breakdowns: [(
                    "scope".to_owned(),
                    cells(&[("bilateral", 2), ("regional", 3)])
                )]
                .into(),
            })
        );
        f.check_report(&report_of(built.values)).unwrap();
    }

    #[test]
    fn amounts_sum_per_currency() {
        let f = Framework::v1();
        let i = "internal_support.budget_allocated";
        let money = |id, c: &str, h| {
            record(
                id,
                date(2009, 6, 1),
                i,
                RecordValue::Amount {
                    currency: c.parse().unwrap(),
                    hundredths: h,
                },
                &[],
            )
        };
        let built = build_values(
            &f,
            y2009(),
            &[
                money(1, "EUR", 150),
                money(2, "BRL", 7),
                money(3, "EUR", 50),
            ],
        );
        assert_eq!(
            built.values[&id(i)],
            Value::Amount([("BRL".parse().unwrap(), 7), ("EUR".parse().unwrap(), 200)].into())
        );
        f.check_report(&report_of(built.values)).unwrap();
    }

    #[test]
    fn statuses_take_the_latest_per_convention() {
        let f = Framework::v1();
        let i = "ratification.convention_status";
        let status =
            |id, day, s, c| record(id, day, i, RecordValue::Status(s), &[("convention", c)]);
        let records = [
            status(1, date(2009, 1, 1), ConventionStatus::NotRatified, "c29"),
            status(2, date(2009, 9, 1), ConventionStatus::Ratified, "c29"),
            // Same date: the highest id wins, whatever the input order.
            status(
                9,
                date(2009, 4, 1),
                ConventionStatus::RatifiedWithGaps,
                "c105",
            ),
            status(
                3,
                date(2009, 4, 1),
                ConventionStatus::CampaignUnderWay,
                "c105",
            ),
        ];
        let built = build_values(&f, y2009(), &records);
        assert_eq!(
            built.values[&id(i)],
            Value::Status(
                [
                    ("c105".to_owned(), ConventionStatus::RatifiedWithGaps),
                    ("c29".to_owned(), ConventionStatus::Ratified)
                ]
                .into()
            )
        );
        f.check_report(&report_of(built.values)).unwrap();
    }

    #[test]
    fn flags_take_the_latest_record() {
        let f = Framework::v1();
        let i = "internal_support.policy_adopted";
        let flag = |id, day, yes| record(id, day, i, RecordValue::Flag(yes), &[]);
        let built = build_values(
            &f,
            y2009(),
            &[
                flag(2, date(2009, 3, 1), true),
                flag(1, date(2009, 3, 1), false),
            ],
        );
        assert_eq!(
            built.values[&id(i)],
            Value::Flag(FlagValue {
                value: true,
                breakdowns: BTreeMap::new()
            })
        );
    }

    #[test]
    fn flags_by_sector_keep_the_latest_per_sector() {
        let f = Framework::v1();
        let i = "gufs.sectors_targeted";
        let flag =
            |id, day, yes, bd: &[(&str, &str)]| record(id, day, i, RecordValue::Flag(yes), bd);
        let records = [
            flag(1, date(2009, 1, 1), true, &[("sector", "mining")]),
            flag(2, date(2009, 6, 1), false, &[("sector", "mining")]),
            flag(3, date(2009, 2, 1), true, &[("sector", "fishing")]),
        ];
        let built = build_values(&f, y2009(), &records);
        let expect = |value| {
            Value::Flag(FlagValue {
                value,
                breakdowns: [(
                    "sector".to_owned(),
                    [("fishing".to_owned(), true), ("mining".to_owned(), false)].into(),
                )]
                .into(),
            })
        };
        assert_eq!(built.values[&id(i)], expect(true));
        f.check_report(&report_of(built.values)).unwrap();

        // A later "no" without breakdown cannot stand beside a sector that says yes.
        let mut more = records.to_vec();
        more.push(flag(4, date(2009, 12, 1), false, &[]));
        let built = build_values(&f, y2009(), &more);
        assert_eq!(built.values[&id(i)], expect(true));
        assert_eq!(built.warnings.len(), 1);
        f.check_report(&report_of(built.values)).unwrap();
    }

    #[test]
    fn records_that_do_not_fit_are_left_out_with_a_warning() {
        let f = Framework::v1();
        let d = date(2009, 5, 1);
        let records = [
            count(1, d, "awareness.activities", 2, &[]),
            count(2, d, "awareness.activities", 2, &[("sex", "female")]),
        ];
        let built = build_values(&f, y2009(), &records);
        assert_eq!(
            built.values[&id("awareness.activities")],
            Value::Count(CountValue::total(2))
        );
        assert_eq!(built.warnings.len(), 1);
        assert!(
            built.warnings[0]
                .message
                .starts_with("record 2 is left out")
        );
    }

    #[test]
    fn overflowing_sums_leave_the_indicator_out() {
        let f = Framework::v1();
        let d = date(2009, 5, 1);
        let records = [
            count(1, d, "awareness.activities", u64::MAX, &[]),
            count(2, d, "awareness.activities", 1, &[]),
        ];
        let built = build_values(&f, y2009(), &records);
        assert!(built.values.is_empty());
        assert_eq!(built.warnings.len(), 1);
    }

    #[test]
    fn no_records_no_values() {
        let built = build_values(&Framework::v1(), y2009(), &[]);
        assert_eq!(built, Built::default());
    }
}
