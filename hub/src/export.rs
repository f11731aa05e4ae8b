//! `alliance-hub export`: the view of a period as a file, in three formats.
//!
//! - **csv**: a header row, then one line per view row, then one line per equivocation (so that
//!   the file, like the view, flags them rather than hiding them). Columns: `period, group_by,
//!   group, indicator, dimension, dimension_value, organisations, kind, lo, hi, exact,
//!   suppressed_contributions, status, conflict, yes, no, currency, amount, revision,
//!   report_ids`; a line fills the columns of its `kind` (`count`, `status`, `flag`, `amount`,
//!   `equivocation`) and leaves the others empty. A status conflict reads `conflict` with the
//!   statuses and their organisations in `conflict` (`ratified: cut-brazil; ...`).
//!   Spreadsheets run a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return as
//!   a formula, so every such cell is written with a leading `'`.
//! - **json**: exactly the JSON of `alliance-hub view --json` (see [`crate::render`]).
//! - **sdmx-csv**: SDMX-CSV 1.0, for statistical tooling: columns `DATAFLOW` (always
//!   [`DATAFLOW`]), the dimensions `GROUP_BY, GROUP, INDICATOR, BREAKDOWN, BREAKDOWN_VALUE,
//!   TIME_PERIOD`, then `OBS_VALUE` and the attributes `OBS_STATUS, CONF_STATUS, UNIT_MEASURE`.
//!   Decisions, as SDMX code lists have them:
//!   - a total has `BREAKDOWN` `_Z` (not applicable) and `BREAKDOWN_VALUE` `_T` (total); the part
//!     of a total that was not broken down has `BREAKDOWN_VALUE` `_X` (not allocated);
//!   - an exact count: `OBS_VALUE` the count, `OBS_STATUS` `A` (normal value), `CONF_STATUS` `F`
//!     (free for publication), `UNIT_MEASURE` `NUMBER`;
//!   - a count with suppressed contributions: `OBS_VALUE` **empty**, `OBS_STATUS` `Q` (missing
//!     value; suppressed), `CONF_STATUS` `C` (confidential statistical information). Tools read
//!     `OBS_VALUE` as the value and would sum or chart a lower bound as if it were one,
//!     understating the cases; the bounds are in the csv and json exports;
//!   - a flag: `OBS_VALUE` the organisations that said yes, `UNIT_MEASURE` `ORG` (the no
//!     answers are in the csv and json exports);
//!   - an amount: `OBS_VALUE` in currency units with two decimals, `UNIT_MEASURE` the ISO 4217
//!     code;
//!   - statuses are codes, not measures, and are left out; so are equivocations;
//!   - `TIME_PERIOD` in SDMX's notation: `2009`, `2009-S1`, `2009-Q3`, and a span as a start date
//!     and a duration, `2008-01-01/P3Y`.

use std::fmt;
use std::str::FromStr;

use alliance_core::{Period, PeriodSpan};
use alliance_proto::pb;
use pb::view_row::Value as RowValue;

use crate::render::{self, Render};

/// The SDMX dataflow the SDMX-CSV export declares: agency, id and version.
pub const DATAFLOW: &str = "ITUC:ALLIANCE_FL(1.0)";

/// A file format of `export`. The command line's words are `csv`, `json` and `sdmx-csv`; the
/// wire's are [`pb::ExportFormat`], which also has an unspecified value that this type refuses
/// to stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
    SdmxCsv,
}

/// A format name that is not `csv`, `json` or `sdmx-csv`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown export format {0:?} (csv, json, sdmx-csv)")]
pub struct UnknownFormat(pub String);

/// Why an export could not be written. Writing to memory does not fail in practice; this keeps
/// the path free of panics all the same.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the CSV export: {0}")]
    Csv(#[source] csv::Error),
    #[error("cannot write the JSON export: {0}")]
    Json(#[source] serde_json::Error),
}

/// The view in `format`, as the bytes of the file.
pub fn export(view: &pb::ViewResponse, format: ExportFormat) -> Result<Vec<u8>, ExportError> {
    match format {
        ExportFormat::Csv => csv_export(view).map_err(ExportError::Csv),
        ExportFormat::Json => {
            let mut bytes = serde_json::to_vec_pretty(&view.json()).map_err(ExportError::Json)?;
            bytes.push(b'\n');
            Ok(bytes)
        }
        ExportFormat::SdmxCsv => sdmx_csv_export(view).map_err(ExportError::Csv),
    }
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 3] =
        [ExportFormat::Csv, ExportFormat::Json, ExportFormat::SdmxCsv];

    /// The command line's word.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::SdmxCsv => "sdmx-csv",
        }
    }

    /// The format a wire value names; none for unspecified or unknown values.
    pub fn from_wire(value: i32) -> Option<Self> {
        match pb::ExportFormat::try_from(value) {
            Ok(pb::ExportFormat::Csv) => Some(ExportFormat::Csv),
            Ok(pb::ExportFormat::Json) => Some(ExportFormat::Json),
            Ok(pb::ExportFormat::SdmxCsv) => Some(ExportFormat::SdmxCsv),
            Ok(pb::ExportFormat::Unspecified) | Err(_) => None,
        }
    }

    /// The wire value.
    pub fn to_wire(self) -> pb::ExportFormat {
        match self {
            ExportFormat::Csv => pb::ExportFormat::Csv,
            ExportFormat::Json => pb::ExportFormat::Json,
            ExportFormat::SdmxCsv => pb::ExportFormat::SdmxCsv,
        }
    }
}

impl FromStr for ExportFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExportFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Makes a cell safe to open in a spreadsheet: one that would be read as a formula gets a
/// leading `'`, which spreadsheets show as text.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// CSV

const CSV_HEADER: [&str; 20] = [
    "period",
    "group_by",
    "group",
    "indicator",
    "dimension",
    "dimension_value",
    "organisations",
    "kind",
    "lo",
    "hi",
    "exact",
    "suppressed_contributions",
    "status",
    "conflict",
    "yes",
    "no",
    "currency",
    "amount",
    "revision",
    "report_ids",
];

/// Column positions of [`CSV_HEADER`] that a line fills depending on its kind.
const LO: usize = 8;
const STATUS: usize = 12;
const YES: usize = 14;
const CURRENCY: usize = 16;
const REVISION: usize = 18;

fn csv_export(view: &pb::ViewResponse) -> csv::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADER)?;
    let group_by = render::group_by_word(view.group_by);
    for row in &view.rows {
        write_safe(&mut writer, &csv_row(&view.period, &group_by, row))?;
    }
    for e in &view.equivocations {
        write_safe(&mut writer, &equivocation_line(&group_by, e))?;
    }
    finish(writer)
}

fn csv_row(period: &str, group_by: &str, row: &pb::ViewRow) -> [String; 20] {
    let mut line: [String; 20] = Default::default();
    line[..8].clone_from_slice(&[
        period.to_owned(),
        group_by.to_owned(),
        row.group.clone(),
        row.indicator.clone(),
        row.dimension.clone(),
        row.dimension_value.clone(),
        row.organisations.to_string(),
        kind(row.value.as_ref()).to_owned(),
    ]);
    match row.value.as_ref() {
        Some(RowValue::Count(c)) => line[LO..STATUS].clone_from_slice(&[
            c.lo.to_string(),
            c.hi.to_string(),
            c.exact.to_string(),
            c.suppressed_contributions.to_string(),
        ]),
        Some(RowValue::Status(s)) => {
            let (status, conflict) = status_cells(s);
            line[STATUS] = status;
            line[STATUS + 1] = conflict;
        }
        Some(RowValue::Flag(f)) => {
            line[YES] = f.yes.to_string();
            line[YES + 1] = f.no.to_string();
        }
        Some(RowValue::Amount(a)) => {
            line[CURRENCY] = a.currency.clone();
            line[CURRENCY + 1] = render::decimal(&a.hundredths);
        }
        None => {}
    }
    line
}

fn equivocation_line(group_by: &str, e: &pb::Equivocation) -> [String; 20] {
    let mut line: [String; 20] = Default::default();
    line[0] = e.period.clone();
    line[1] = group_by.to_owned();
    line[2] = e.org_id.clone();
    line[7] = "equivocation".to_owned();
    line[REVISION] = e.revision.to_string();
    let ids: Vec<String> = e.report_ids.iter().map(|id| render::hex(id)).collect();
    line[REVISION + 1] = ids.join(" ");
    line
}

fn kind(value: Option<&RowValue>) -> &'static str {
    match value {
        Some(RowValue::Count(_)) => "count",
        Some(RowValue::Status(_)) => "status",
        Some(RowValue::Flag(_)) => "flag",
        Some(RowValue::Amount(_)) => "amount",
        None => "",
    }
}

/// The status word, and for a conflict each status with its organisations.
fn status_cells(cell: &pb::StatusCell) -> (String, String) {
    let json = render::view_row_json(&pb::ViewRow {
        value: Some(RowValue::Status(cell.clone())),
        ..Default::default()
    });
    let status = json["status"].as_str().unwrap_or_default().to_owned();
    let conflict = json["conflict"]
        .as_array()
        .map(|statuses| {
            statuses
                .iter()
                .map(|s| {
                    let orgs: Vec<&str> = s["org_ids"]
                        .as_array()
                        .map(|ids| ids.iter().filter_map(|id| id.as_str()).collect())
                        .unwrap_or_default();
                    format!(
                        "{}: {}",
                        s["status"].as_str().unwrap_or_default(),
                        orgs.join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    (status, conflict)
}

// ---------------------------------------------------------------------------------------------
// SDMX-CSV

const SDMX_HEADER: [&str; 11] = [
    "DATAFLOW",
    "GROUP_BY",
    "GROUP",
    "INDICATOR",
    "BREAKDOWN",
    "BREAKDOWN_VALUE",
    "TIME_PERIOD",
    "OBS_VALUE",
    "OBS_STATUS",
    "CONF_STATUS",
    "UNIT_MEASURE",
];

/// SDMX's reserved codes, and those of CL_OBS_STATUS and CL_CONF_STATUS used here.
const NOT_APPLICABLE: &str = "_Z";
const TOTAL: &str = "_T";
const NOT_ALLOCATED: &str = "_X";
const NORMAL_VALUE: &str = "A";
const SUPPRESSED: &str = "Q";
const FREE: &str = "F";
const CONFIDENTIAL: &str = "C";

fn sdmx_csv_export(view: &pb::ViewResponse) -> csv::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(SDMX_HEADER)?;
    let group_by = render::group_by_word(view.group_by);
    let time_period = sdmx_time_period(&view.period);
    for row in &view.rows {
        let Some(observation) = observation(row.value.as_ref()) else {
            continue;
        };
        let (breakdown, breakdown_value) = sdmx_breakdown(row);
        let line = [
            DATAFLOW,
            &group_by,
            &row.group,
            &row.indicator,
            breakdown,
            breakdown_value,
            &time_period,
            &observation.value,
            observation.status,
            observation.confidentiality,
            &observation.unit,
        ];
        write_safe(&mut writer, &line)?;
    }
    finish(writer)
}

/// The measure and attributes of one SDMX observation.
struct Observation {
    value: String,
    status: &'static str,
    confidentiality: &'static str,
    unit: String,
}

/// The observation a view row gives; none for statuses, which are not measures.
fn observation(value: Option<&RowValue>) -> Option<Observation> {
    let published = |value: String, unit: &str| Observation {
        value,
        status: NORMAL_VALUE,
        confidentiality: FREE,
        unit: unit.to_owned(),
    };
    match value? {
        RowValue::Count(c) if c.exact => Some(published(c.lo.to_string(), "NUMBER")),
        RowValue::Count(_) => Some(Observation {
            value: String::new(),
            status: SUPPRESSED,
            confidentiality: CONFIDENTIAL,
            unit: "NUMBER".to_owned(),
        }),
        RowValue::Flag(f) => Some(published(f.yes.to_string(), "ORG")),
        RowValue::Amount(a) => Some(published(render::decimal(&a.hundredths), &a.currency)),
        RowValue::Status(_) => None,
    }
}

fn sdmx_breakdown(row: &pb::ViewRow) -> (&str, &str) {
    match (row.dimension.as_str(), row.dimension_value.as_str()) {
        ("", _) => (NOT_APPLICABLE, TOTAL),
        (dimension, alliance_proto::NOT_BROKEN_DOWN) => (dimension, NOT_ALLOCATED),
        (dimension, value) => (dimension, value),
    }
}

/// A period or span in SDMX's time notation; anything unparsable is passed through.
fn sdmx_time_period(span: &str) -> String {
    let Ok(span) = span.parse::<PeriodSpan>() else {
        return span.to_owned();
    };
    if span.first == span.last {
        return match span.first {
            Period::Year(y) => format!("{y:04}"),
            Period::Half(y, h) => format!("{y:04}-S{h}"),
            Period::Quarter(y, q) => format!("{y:04}-Q{q}"),
        };
    }
    let (start, end) = (span.first.start(), span.last.end_exclusive());
    let months = (end.year() - start.year()) * 12 + i32::from(u8::from(end.month()))
        - i32::from(u8::from(start.month()));
    if months % 12 == 0 {
        format!("{start}/P{}Y", months / 12)
    } else {
        format!("{start}/P{months}M")
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

fn write_safe<S: AsRef<str>>(writer: &mut csv::Writer<Vec<u8>>, line: &[S]) -> csv::Result<()> {
    writer.write_record(
        line.iter()
            .map(|cell| spreadsheet_safe(cell.as_ref()).into_owned()),
    )
}

fn finish(writer: csv::Writer<Vec<u8>>) -> csv::Result<Vec<u8>> {
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::sample_view;

    #[test]
    fn csv_has_a_header_one_line_per_row_and_the_equivocations() {
        let text = export_text(ExportFormat::Csv);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER.join(","));
        assert_eq!(lines.len(), 1 + 6 + 1);
        assert_eq!(
            lines[1],
            "2009,alliance,alliance,awareness.activities,,,2,count,7,7,true,0,,,,,,,,"
        );
        assert_eq!(
            lines[2],
            "2009,alliance,alliance,exposure.cases_documented,sex,male,2,count,9,14,false,1,,,,,,,,"
        );
        assert!(lines[3].ends_with(",flag,,,,,,,2,1,,,,"), "{}", lines[3]);
        assert!(
            lines[4].ends_with(",amount,,,,,,,,,EUR,1334.56,,"),
            "{}",
            lines[4]
        );
        assert!(
            lines[5].contains(
                ",status,,,,,conflict,ratified: cut-brazil; ratified_with_gaps: fs-brazil,"
            ),
            "{}",
            lines[5]
        );
        assert!(
            lines[6].contains(",status,,,,,not_ratified,,"),
            "{}",
            lines[6]
        );
        let ids = format!("{} {}", "04".repeat(32), "05".repeat(32));
        assert_eq!(
            lines[7],
            format!("2009,alliance,ghana-tuc,,,,,equivocation,,,,,,,,,,,1,{ids}")
        );
    }

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_quoted() {
        for cell in ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(cell), format!("'{cell}"));
        }
        for cell in ["cut-brazil", "", "12", "a=b"] {
            assert_eq!(spreadsheet_safe(cell), cell);
        }
        let mut view = sample_view();
        view.rows[0].group = "=cmd|' /C calc'!A0".to_owned();
        view.rows[0].indicator = "@evil".to_owned();
        let text = String::from_utf8(export(&view, ExportFormat::Csv).unwrap_or_default())
            .unwrap_or_default();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let first = reader.records().next().and_then(Result::ok);
        let first = first.as_ref();
        assert_eq!(first.and_then(|r| r.get(2)), Some("'=cmd|' /C calc'!A0"));
        assert_eq!(first.and_then(|r| r.get(3)), Some("'@evil"));
        let sdmx = String::from_utf8(export(&view, ExportFormat::SdmxCsv).unwrap_or_default())
            .unwrap_or_default();
        assert!(sdmx.contains(",'=cmd|' /C calc'!A0,'@evil,"), "{sdmx}");
    }

    #[test]
    fn json_is_the_view_json() {
        let bytes = export(&sample_view(), ExportFormat::Json).unwrap_or_default();
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(parsed, sample_view().json());
    }

    #[test]
    fn sdmx_csv_marks_ranges_confidential_and_leaves_statuses_out() {
        let text = export_text(ExportFormat::SdmxCsv);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "DATAFLOW,GROUP_BY,GROUP,INDICATOR,BREAKDOWN,BREAKDOWN_VALUE,TIME_PERIOD,OBS_VALUE,OBS_STATUS,CONF_STATUS,UNIT_MEASURE",
                "ITUC:ALLIANCE_FL(1.0),alliance,alliance,awareness.activities,_Z,_T,2009,7,A,F,NUMBER",
                "ITUC:ALLIANCE_FL(1.0),alliance,alliance,exposure.cases_documented,sex,male,2009,,Q,C,NUMBER",
                "ITUC:ALLIANCE_FL(1.0),alliance,alliance,internal_support.policy_adopted,_Z,_T,2009,2,A,F,ORG",
                "ITUC:ALLIANCE_FL(1.0),alliance,alliance,internal_support.budget_allocated,_Z,_T,2009,1334.56,A,F,EUR",
            ]
        );
    }

    #[test]
    fn sdmx_rows_not_broken_down_are_not_allocated() {
        let mut view = sample_view();
        view.rows[1].dimension_value = alliance_proto::NOT_BROKEN_DOWN.to_owned();
        let text = String::from_utf8(export(&view, ExportFormat::SdmxCsv).unwrap_or_default())
            .unwrap_or_default();
        assert!(
            text.contains(",exposure.cases_documented,sex,_X,2009,"),
            "{text}"
        );
    }

    #[test]
    fn sdmx_time_periods() {
        assert_eq!(sdmx_time_period("2009"), "2009");
        assert_eq!(sdmx_time_period("2009-H2"), "2009-S2");
        assert_eq!(sdmx_time_period("2009-Q3"), "2009-Q3");
        assert_eq!(sdmx_time_period("2008..2010"), "2008-01-01/P3Y");
        assert_eq!(sdmx_time_period("2009-Q2..2009-Q3"), "2009-04-01/P6M");
        assert_eq!(sdmx_time_period("nonsense"), "nonsense");
    }

    #[test]
    fn formats_read_from_words_and_the_wire() {
        for format in ExportFormat::ALL {
            assert_eq!(format.as_str().parse(), Ok(format));
            assert_eq!(
                ExportFormat::from_wire(format.to_wire() as i32),
                Some(format)
            );
        }
        assert_eq!(ExportFormat::from_wire(0), None);
        assert!("xlsx".parse::<ExportFormat>().is_err());
    }

    fn export_text(format: ExportFormat) -> String {
        let bytes = export(&sample_view(), format).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }
}
