//! Records as an operator types them: the flags of `record add` and the rows of
//! `record import FILE.csv`.
//!
//! Both go through [`record_from_fields`], so a value `record add` accepts is accepted in a CSV
//! file and refused there for the same reason. A record is built from its text fields, then
//! checked against the framework ([`Record::check`]); every error names the column (or flag) it
//! is about.
//!
//! A CSV import is all rows or none: the first bad row fails the whole import, naming its line as
//! a text editor shows it (the header is line 1; a quoted field that spans lines counts all of
//! them).

use std::collections::BTreeMap;

use alliance_core::framework::{ConventionStatus, Framework, IndicatorId};
use alliance_core::record::{Record, RecordField, RecordValue, parse_amount, parse_date};
use alliance_core::report::Currency;
use alliance_core::{OrgId, Timestamp};

/// The columns of a records CSV file, which are also the `record add` flags.
pub const COLUMNS: [&str; 15] = [
    "date",
    "indicator",
    "value",
    "status",
    "flag",
    "amount",
    "currency",
    "sex",
    "migrant_status",
    "sector",
    "convention",
    "agreement_kind",
    "authority",
    "scope",
    "note",
];

/// The text fields of one record as typed or as read from a CSV row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFields {
    pub date: String,
    pub indicator: String,
    pub value: Option<String>,
    pub status: Option<String>,
    pub flag: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub sex: Option<String>,
    pub migrant_status: Option<String>,
    pub sector: Option<String>,
    pub convention: Option<String>,
    pub agreement_kind: Option<String>,
    pub authority: Option<String>,
    pub scope: Option<String>,
    pub note: Option<String>,
}

/// A field of a record that was refused: the CSV column or `record add` flag (without `--`),
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column}: {message}")]
pub struct FieldError {
    pub column: &'static str,
    pub message: String,
}

/// Why a CSV import was refused. Nothing of the file is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("line 1: unknown column {0:?} (the columns are {list})", list = COLUMNS.join(", "))]
    UnknownColumn(String),
    #[error("line 1: column {0:?} is given twice")]
    DuplicateColumn(String),
    #[error("line 1: column {0:?} is required")]
    MissingColumn(&'static str),
    #[error("line {line}, column {column:?}: {message}")]
    Field {
        line: u64,
        column: &'static str,
        message: String,
    },
    /// A problem with a line as a whole: not UTF-8, or not as many fields as the header.
    #[error("line {line}: {message}")]
    Line { line: u64, message: String },
}

/// Builds a record of `org` from its text fields and checks it against `framework`. Empty fields
/// count as absent; `now` becomes the record's `recorded_at`.
pub fn record_from_fields(
    org: &OrgId,
    fields: &RecordFields,
    framework: &Framework,
    now: Timestamp,
) -> Result<Record, FieldError> {
    let date = parse_date(fields.date.trim()).map_err(|e| field_error("date", e))?;
    let indicator: IndicatorId = required("indicator", Some(&fields.indicator))?
        .parse()
        .map_err(|e| field_error("indicator", e))?;
    let (value, value_column) = value_of(fields)?;
    let mut breakdowns = BTreeMap::new();
    for (dimension, text) in dimension_fields(fields) {
        if let Some(text) = present(text) {
            // Convention ids are lower case (`c29`), but conventions are written `C29` as often.
            let text = if dimension == "convention" {
                text.to_ascii_lowercase()
            } else {
                text.to_owned()
            };
            breakdowns.insert(dimension.to_owned(), text);
        }
    }
    let record = Record {
        id: 0,
        org: org.clone(),
        date,
        indicator,
        value,
        breakdowns,
        note: present(fields.note.as_deref())
            .unwrap_or_default()
            .to_owned(),
        recorded_at: now,
    };
    record.check(framework).map_err(|e| {
        let column = match &e.field {
            RecordField::Indicator => "indicator",
            RecordField::Value => value_column,
            RecordField::Breakdown(dimension) => COLUMNS
                .into_iter()
                .find(|c| c == dimension)
                .unwrap_or("indicator"),
        };
        field_error(column, e.problem)
    })?;
    Ok(record)
}

/// Reads the records of a CSV file (UTF-8, header row first), all or none. An empty file or a
/// header alone gives no records.
pub fn parse_csv(
    org: &OrgId,
    csv: &[u8],
    framework: &Framework,
    now: Timestamp,
) -> Result<Vec<Record>, CsvError> {
    // Spreadsheets often write a byte order mark first; it is not part of the first column name.
    let csv = csv.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(csv);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv);
    let mut rows = reader.byte_records();
    let Some(header) = rows.next() else {
        return Ok(Vec::new());
    };
    let header = header.map_err(csv_error)?;
    let columns = header_columns(&header)?;
    let mut records = Vec::new();
    for row in rows {
        let row = row.map_err(csv_error)?;
        let line = line_of(&row);
        if row.len() != columns.len() {
            return Err(CsvError::Line {
                line,
                message: format!(
                    "the row has {} fields, the header {}",
                    row.len(),
                    columns.len()
                ),
            });
        }
        let mut fields = RecordFields::default();
        for (column, bytes) in columns.iter().zip(row.iter()) {
            let text = std::str::from_utf8(bytes).map_err(|_| not_utf8(line))?;
            set_field(&mut fields, column, text);
        }
        let record =
            record_from_fields(org, &fields, framework, now).map_err(|e| CsvError::Field {
                line,
                column: e.column,
                message: e.message,
            })?;
        records.push(record);
    }
    Ok(records)
}

fn field_error(column: &'static str, problem: impl std::fmt::Display) -> FieldError {
    FieldError {
        column,
        message: problem.to_string(),
    }
}

/// The text of a field, or `None` when it is absent or blank.
fn present(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

fn required<'a>(column: &'static str, text: Option<&'a str>) -> Result<&'a str, FieldError> {
    present(text).ok_or_else(|| field_error(column, "required but missing"))
}

/// The breakdown fields, under the ids of the dimensions they give. Column names are the
/// dimension ids of the framework, so a dimension error can name its column.
fn dimension_fields(fields: &RecordFields) -> [(&'static str, Option<&str>); 7] {
    [
        ("sex", fields.sex.as_deref()),
        ("migrant_status", fields.migrant_status.as_deref()),
        ("sector", fields.sector.as_deref()),
        ("convention", fields.convention.as_deref()),
        ("agreement_kind", fields.agreement_kind.as_deref()),
        ("authority", fields.authority.as_deref()),
        ("scope", fields.scope.as_deref()),
    ]
}

/// The one value given, and the column it came from.
fn value_of(fields: &RecordFields) -> Result<(RecordValue, &'static str), FieldError> {
    let given: Vec<(&'static str, &str)> = [
        ("value", fields.value.as_deref()),
        ("status", fields.status.as_deref()),
        ("flag", fields.flag.as_deref()),
        ("amount", fields.amount.as_deref()),
    ]
    .into_iter()
    .filter_map(|(column, text)| present(text).map(|t| (column, t)))
    .collect();
    let currency = present(fields.currency.as_deref());
    let (column, text) = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(field_error(
                "value",
                "give one of value (a count), status, flag or amount",
            ));
        }
        [(first, _), (second, _), ..] => {
            return Err(field_error(
                second,
                format!(
                    "give only one of value, status, flag and amount, not both {first} and {second}"
                ),
            ));
        }
    };
    if column != "amount" && currency.is_some() {
        return Err(field_error(
            "currency",
            "a currency goes only with an amount",
        ));
    }
    let value = match column {
        "value" => RecordValue::Count(text.parse().map_err(|_| {
            field_error(
                "value",
                format!("{text:?} is not a count: give a whole number, 0 or more"),
            )
        })?),
        "status" => RecordValue::Status(text.parse().map_err(|_| {
            let known: Vec<&str> = ConventionStatus::ALL.iter().map(|s| s.as_str()).collect();
            field_error(
                "status",
                format!("{text:?} is not a status (one of: {})", known.join(", ")),
            )
        })?),
        "flag" => RecordValue::Flag(parse_flag(text)?),
        _ => {
            let hundredths = parse_amount(text).map_err(|e| field_error("amount", e))?;
            let currency: Currency = required("currency", currency)?
                .parse()
                .map_err(|e| field_error("currency", e))?;
            RecordValue::Amount {
                currency,
                hundredths,
            }
        }
    };
    Ok((value, column))
}

fn parse_flag(text: &str) -> Result<bool, FieldError> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(field_error(
            "flag",
            format!("{text:?} is not a flag: give yes or no"),
        )),
    }
}

/// The column of each field of the header, refusing unknown, repeated and missing columns.
fn header_columns(header: &csv::ByteRecord) -> Result<Vec<&'static str>, CsvError> {
    let mut columns = Vec::with_capacity(header.len());
    for bytes in header {
        let name = std::str::from_utf8(bytes)
            .map_err(|_| not_utf8(1))?
            .to_ascii_lowercase();
        let Some(column) = COLUMNS.into_iter().find(|c| *c == name) else {
            return Err(CsvError::UnknownColumn(name));
        };
        if columns.contains(&column) {
            return Err(CsvError::DuplicateColumn(name));
        }
        columns.push(column);
    }
    for needed in ["date", "indicator"] {
        if !columns.contains(&needed) {
            return Err(CsvError::MissingColumn(needed));
        }
    }
    Ok(columns)
}

fn set_field(fields: &mut RecordFields, column: &str, text: &str) {
    let text = text.to_owned();
    match column {
        "date" => fields.date = text,
        "indicator" => fields.indicator = text,
        "value" => fields.value = Some(text),
        "status" => fields.status = Some(text),
        "flag" => fields.flag = Some(text),
        "amount" => fields.amount = Some(text),
        "currency" => fields.currency = Some(text),
        "sex" => fields.sex = Some(text),
        "migrant_status" => fields.migrant_status = Some(text),
        "sector" => fields.sector = Some(text),
        "convention" => fields.convention = Some(text),
        "agreement_kind" => fields.agreement_kind = Some(text),
        "authority" => fields.authority = Some(text),
        "scope" => fields.scope = Some(text),
        // header_columns admits only the columns above.
        _ => fields.note = Some(text),
    }
}

/// The line a row starts on, as a text editor counts (csv's positions count from 1).
fn line_of(row: &csv::ByteRecord) -> u64 {
    row.position().map_or(0, csv::Position::line)
}

fn not_utf8(line: u64) -> CsvError {
    CsvError::Line {
        line,
        message: "not UTF-8 text: save the file as UTF-8".to_owned(),
    }
}

/// A parse error of the csv reader. Reading from memory cannot fail with I/O, and rows of any
/// length are accepted (the length is checked here), so this is rare; it keeps csv's line.
fn csv_error(e: csv::Error) -> CsvError {
    CsvError::Line {
        line: e.position().map_or(0, csv::Position::line),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alliance_core::framework::ConventionStatus;
    use alliance_core::record::format_date;

    fn org() -> OrgId {
        "cut-brazil".parse().unwrap()
    }

    fn now() -> Timestamp {
        Timestamp(1_262_304_000)
    }

    fn fields(date: &str, indicator: &str) -> RecordFields {
        RecordFields {
            date: date.into(),
            indicator: indicator.into(),
            ..RecordFields::default()
        }
    }

    fn build(f: &RecordFields) -> Result<Record, FieldError> {
        record_from_fields(&org(), f, &Framework::v1(), now())
    }

    fn refused(f: RecordFields) -> (&'static str, String) {
        let e = build(&f).unwrap_err();
        (e.column, e.message)
    }

    fn csv(text: &str) -> Result<Vec<Record>, CsvError> {
        parse_csv(&org(), text.as_bytes(), &Framework::v1(), now())
    }

    #[test]
    fn every_kind_of_value_is_read() {
        let r = build(&RecordFields {
            value: Some("3".into()),
            sex: Some("female".into()),
            migrant_status: Some("migrant".into()),
            sector: Some("".into()),
            note: Some(" Port of Santos ".into()),
            ..fields("2009-03-01", "exposure.cases_documented")
        })
        .unwrap();
        assert_eq!(r.value, RecordValue::Count(3));
        assert_eq!(r.id, 0);
        assert_eq!(r.org, org());
        assert_eq!(r.recorded_at, now());
        assert_eq!(format_date(r.date), "2009-03-01");
        assert_eq!(r.note, "Port of Santos");
        assert_eq!(
            r.breakdowns,
            [
                ("migrant_status".to_owned(), "migrant".to_owned()),
                ("sex".to_owned(), "female".to_owned())
            ]
            .into()
        );

        let r = build(&RecordFields {
            status: Some("ratified_with_gaps".into()),
            convention: Some("C29".into()),
            ..fields("2009-03-01", "ratification.convention_status")
        })
        .unwrap();
        assert_eq!(
            r.value,
            RecordValue::Status(ConventionStatus::RatifiedWithGaps)
        );
        assert_eq!(r.breakdowns["convention"], "c29");

        for (text, yes) in [
            ("yes", true),
            ("No", false),
            ("true", true),
            ("false", false),
        ] {
            let r = build(&RecordFields {
                flag: Some(text.into()),
                ..fields("2009-03-01", "internal_support.policy_adopted")
            })
            .unwrap();
            assert_eq!(r.value, RecordValue::Flag(yes), "{text}");
        }

        let r = build(&RecordFields {
            amount: Some("10.5".into()),
            currency: Some("eur".into()),
            ..fields("2009-03-01", "internal_support.budget_allocated")
        })
        .unwrap();
        assert_eq!(
            r.value,
            RecordValue::Amount {
                currency: "EUR".parse().unwrap(),
                hundredths: 1050
            }
        );
    }

    #[test]
    fn field_errors_name_the_column() {
        let count = |n: &str| RecordFields {
            value: Some(n.into()),
            ..fields("2009-03-01", "awareness.activities")
        };
        assert_eq!(
            refused(RecordFields {
                date: "2009-02-30".into(),
                ..count("1")
            })
            .0,
            "date"
        );
        assert_eq!(
            refused(RecordFields {
                date: "".into(),
                ..count("1")
            })
            .0,
            "date"
        );
        assert_eq!(
            refused(RecordFields {
                indicator: "".into(),
                ..count("1")
            }),
            ("indicator", "required but missing".to_owned())
        );
        assert_eq!(
            refused(RecordFields {
                indicator: "Awareness".into(),
                ..count("1")
            })
            .0,
            "indicator"
        );
        assert_eq!(
            refused(RecordFields {
                indicator: "awareness.nope".into(),
                ..count("1")
            })
            .0,
            "indicator"
        );
        assert_eq!(refused(count("-1")).0, "value");
        assert_eq!(refused(count("3.5")).0, "value");
        assert_eq!(
            refused(fields("2009-03-01", "awareness.activities")).0,
            "value"
        );
        let (column, message) = refused(RecordFields {
            flag: Some("yes".into()),
            ..count("1")
        });
        assert_eq!(column, "flag");
        assert!(message.contains("not both value and flag"), "{message}");
        assert_eq!(
            refused(RecordFields {
                status: Some("ratified".into()),
                ..fields("2009-03-01", "awareness.activities")
            }),
            (
                "status",
                "awareness.activities takes a count, not a status".to_owned()
            )
        );
        let (column, message) = refused(RecordFields {
            status: Some("signed".into()),
            convention: Some("c29".into()),
            ..fields("2009-03-01", "ratification.convention_status")
        });
        assert_eq!(column, "status");
        assert!(message.contains("not_ratified"), "{message}");
        assert_eq!(
            refused(RecordFields {
                status: Some("ratified".into()),
                ..fields("2009-03-01", "ratification.convention_status")
            })
            .0,
            "convention"
        );
        assert_eq!(
            refused(RecordFields {
                status: Some("ratified".into()),
                convention: Some("c999".into()),
                ..fields("2009-03-01", "ratification.convention_status")
            })
            .0,
            "convention"
        );
        assert_eq!(
            refused(RecordFields {
                flag: Some("maybe".into()),
                ..fields("2009-03-01", "internal_support.policy_adopted")
            })
            .0,
            "flag"
        );
        let money = |amount: &str, currency: Option<&str>| RecordFields {
            amount: Some(amount.into()),
            currency: currency.map(Into::into),
            ..fields("2009-03-01", "internal_support.budget_allocated")
        };
        assert_eq!(refused(money("10", None)).0, "currency");
        assert_eq!(refused(money("10", Some("XXX"))).0, "currency");
        assert_eq!(refused(money("10.505", Some("EUR"))).0, "amount");
        assert_eq!(refused(money("-10", Some("EUR"))).0, "amount");
        assert_eq!(
            refused(RecordFields {
                currency: Some("EUR".into()),
                ..count("1")
            })
            .0,
            "currency"
        );
        assert_eq!(
            refused(RecordFields {
                sex: Some("female".into()),
                ..count("1")
            })
            .0,
            "sex"
        );
        assert_eq!(
            refused(RecordFields {
                agreement_kind: Some("trilateral".into()),
                ..fields("2009-03-01", "negotiation.agreements_with_clauses")
            })
            .0,
            "value"
        );
        assert_eq!(
            refused(RecordFields {
                value: Some("1".into()),
                agreement_kind: Some("trilateral".into()),
                ..fields("2009-03-01", "negotiation.agreements_with_clauses")
            })
            .0,
            "agreement_kind"
        );
    }

    #[test]
    fn a_csv_file_with_every_kind_of_value() {
        let records = csv(
            "\u{feff}indicator,date,value,status,flag,amount,currency,sex,migrant_status,sector,convention,agreement_kind,authority,scope,note\n\
             awareness.people_reached,2009-03-01,40,,,,,female,,,,,,,\n\
             ratification.convention_status,2009-04-01,,ratified,,,,,,,c29,,,,\n\
             gufs.sectors_targeted,2009-05-01,,,yes,,,,,mining,,,,,\n\
             internal_support.budget_allocated,2009-06-01,,,,1200.50,EUR,,,,,,,,\"a note\n\
             on two lines, with a comma\"\n\
             authorities.referrals,2009-07-01,2,,,,,,,,,,police,,\n\
             cooperation.union_agreements,2009-08-01,1,,,,,,,,,,,regional,\n\
             negotiation.agreements_with_clauses,2009-09-01,1,,,,,,,,,bipartite,,,\n",
        )
        .unwrap();
        assert_eq!(records.len(), 7);
        assert_eq!(records[0].value, RecordValue::Count(40));
        assert_eq!(
            records[1].value,
            RecordValue::Status(ConventionStatus::Ratified)
        );
        assert_eq!(records[2].value, RecordValue::Flag(true));
        assert_eq!(records[3].note, "a note\non two lines, with a comma");
        assert_eq!(records[4].breakdowns["authority"], "police");
        assert_eq!(records[5].breakdowns["scope"], "regional");
        assert_eq!(records[6].breakdowns["agreement_kind"], "bipartite");
    }

    #[test]
    fn empty_files_and_header_only_give_no_records() {
        assert_eq!(csv(""), Ok(vec![]));
        assert_eq!(csv("date,indicator,value\n"), Ok(vec![]));
        assert_eq!(csv("date,indicator,value"), Ok(vec![]));
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            csv("date,indicator,count\n"),
            Err(CsvError::UnknownColumn("count".into()))
        );
        assert!(
            csv("date,indicator,count\n")
                .unwrap_err()
                .to_string()
                .starts_with("line 1: unknown column \"count\" (the columns are date, indicator,")
        );
        assert_eq!(
            csv("date,indicator,value,date\n"),
            Err(CsvError::DuplicateColumn("date".into()))
        );
        assert_eq!(
            csv("date,value\n"),
            Err(CsvError::MissingColumn("indicator"))
        );
        assert_eq!(
            csv("indicator,value\n"),
            Err(CsvError::MissingColumn("date"))
        );
    }

    #[test]
    fn the_first_bad_row_fails_the_import_naming_line_and_column() {
        let e = csv("date,indicator,value,note\n\
             2009-01-01,awareness.activities,1,\"first\nsecond\nthird\"\n\
             2009-01-02,awareness.activities,2,\n\
             2009-01-03,awareness.activities,three,\n\
             2009-01-04,awareness.activities,oops,\n")
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 6, column \"value\": \"three\" is not a count: give a whole number, 0 or more"
        );
    }

    #[test]
    fn rows_of_the_wrong_length_are_refused() {
        assert_eq!(
            csv("date,indicator,value\n2009-01-01,awareness.activities\n"),
            Err(CsvError::Line {
                line: 2,
                message: "the row has 2 fields, the header 3".into()
            })
        );
        assert!(matches!(
            csv("date,indicator,value\n2009-01-01,awareness.activities,1,2\n"),
            Err(CsvError::Line { line: 2, .. })
        ));
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_naming_the_line() {
        let mut bytes =
            b"date,indicator,value,note\n2009-01-01,awareness.activities,1,ok\n".to_vec();
        bytes.extend_from_slice(b"2009-01-01,awareness.activities,1,caf\xe9\n");
        let e = parse_csv(&org(), &bytes, &Framework::v1(), now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3: not UTF-8 text: save the file as UTF-8"
        );
        let e = parse_csv(&org(), b"date,indicator,n\xe9\n", &Framework::v1(), now()).unwrap_err();
        assert!(matches!(e, CsvError::Line { line: 1, .. }));
    }

    #[test]
    fn framework_errors_in_a_row_name_the_column() {
        let e = csv("date,indicator,sex,value\n2009-01-01,awareness.activities,female,1\n")
            .unwrap_err();
        assert!(
            matches!(
                &e,
                CsvError::Field {
                    line: 2,
                    column: "sex",
                    ..
                }
            ),
            "{e}"
        );
    }
}
