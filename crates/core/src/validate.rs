//! Whether a report fits the framework version it names.
//!
//! Every refusal names the offending field, in a path such as
//! `values["exposure.cases_documented"].breakdowns["sex"]["femal"]`, so that whoever wrote the
//! report can find it.

use std::collections::BTreeMap;
use std::fmt;

use crate::framework::{Framework, Indicator, ValueKind};
use crate::period::{Period, PeriodKind};
use crate::report::{Cell, CountValue, FlagValue, Report, Value};

/// The longest narrative accepted per action point, in bytes of UTF-8.
pub const MAX_NARRATIVE_BYTES: usize = 8 * 1024;

/// The largest count a report may give: far above any real count of people, cases or
/// activities, and low enough that the hub's sums over millions of reports cannot overflow a
/// `u64` (a negative count sent through an unsigned field arrives near 2^64 and is refused).
pub const MAX_COUNT: u64 = 1_000_000_000_000;

/// The largest amount a report may give, in hundredths of the currency unit.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000_000;

/// The largest disclosure threshold a report may name.
pub const MAX_DISCLOSURE_THRESHOLD: u64 = 1000;

/// A report that does not fit its framework: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ReportError {
    pub field: String,
    pub problem: Problem,
}

/// What is wrong with a field of a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the report follows framework version {report}, checked against version {framework}")]
    FrameworkVersion { report: u32, framework: u32 },
    #[error("framework version {version} is not known here (known: {known})")]
    UnknownFrameworkVersion { version: u32, known: String },
    #[error(
        "period {period} is not allowed: framework version {version} uses {expected:?} periods"
    )]
    PeriodKind {
        period: Period,
        version: u32,
        expected: PeriodKind,
    },
    #[error("revisions start at 1")]
    RevisionZero,
    #[error("disclosure threshold must be between 1 and {MAX_DISCLOSURE_THRESHOLD}")]
    Threshold,
    #[error("a withdrawn report carries no values")]
    WithdrawnWithValues,
    #[error("unknown action point")]
    UnknownActionPoint,
    #[error("narrative is {len} bytes, more than {MAX_NARRATIVE_BYTES}")]
    NarrativeTooLong { len: usize },
    #[error("unknown indicator")]
    UnknownIndicator,
    #[error("indicator is retired and takes no new values")]
    RetiredIndicator,
    #[error("wrong value kind: the indicator takes {expected}, the report gives {got}")]
    WrongKind { expected: ValueKind, got: ValueKind },
    #[error("the indicator has no breakdown by this dimension")]
    UnknownBreakdown,
    #[error("unknown value of dimension {dimension:?}")]
    UnknownValue { dimension: String },
    #[error("the sum of the cells overflows")]
    Overflow,
    #[error("{value} is more than the largest value accepted, {max}")]
    TooLarge { value: u64, max: u64 },
    #[error("the published cells add up to {sum}, more than the total {total}")]
    CellsExceedTotal { sum: u64, total: u64 },
    #[error("the cells add up to {sum}, not to the total {total}")]
    CellsDoNotAddUp { sum: u64, total: u64 },
    #[error("a count withheld by disclosure control needs a threshold of at least 2")]
    SuppressedBelowThreshold,
    #[error("the flag is no, but a cell of its breakdown is yes")]
    FlagContradiction,
    #[error("an amount needs at least one currency")]
    NoCurrency,
    /// Only disclosure control refuses this: it takes true values, never published forms.
    #[error("already suppressed: disclosure control takes the true values")]
    AlreadySuppressed,
}

impl Framework {
    /// Checks that `report` fits this framework version. The caller picks the version the report
    /// names; a version the hub does not know is refused before this is called.
    pub fn check_report(&self, report: &Report) -> Result<(), ReportError> {
        let top = |field: &str, problem| ReportError {
            field: field.to_owned(),
            problem,
        };
        if report.framework_version != self.version {
            return Err(top(
                "framework_version",
                Problem::FrameworkVersion {
                    report: report.framework_version,
                    framework: self.version,
                },
            ));
        }
        if report.period.kind() != self.period_kind {
            return Err(top(
                "period",
                Problem::PeriodKind {
                    period: report.period,
                    version: self.version,
                    expected: self.period_kind,
                },
            ));
        }
        if report.revision == 0 {
            return Err(top("revision", Problem::RevisionZero));
        }
        if !(1..=MAX_DISCLOSURE_THRESHOLD).contains(&report.disclosure_threshold) {
            return Err(top("disclosure_threshold", Problem::Threshold));
        }
        if report.withdrawn && !report.values.is_empty() {
            return Err(top("values", Problem::WithdrawnWithValues));
        }
        for (action_point, text) in &report.narratives {
            let field = || format!("narratives[{action_point:?}]");
            if self.action_point(action_point).is_none() {
                return Err(ReportError {
                    field: field(),
                    problem: Problem::UnknownActionPoint,
                });
            }
            if text.len() > MAX_NARRATIVE_BYTES {
                return Err(ReportError {
                    field: field(),
                    problem: Problem::NarrativeTooLong { len: text.len() },
                });
            }
        }
        for (id, value) in &report.values {
            let path = Path(format!("values[{:?}]", id.as_str()));
            let indicator = self
                .indicator(id)
                .ok_or_else(|| path.err(Problem::UnknownIndicator))?;
            if indicator.retired {
                return Err(path.err(Problem::RetiredIndicator));
            }
            self.check_value(&path, indicator, value, report.disclosure_threshold)?;
        }
        Ok(())
    }

    fn check_value(
        &self,
        path: &Path,
        indicator: &Indicator,
        value: &Value,
        threshold: u64,
    ) -> Result<(), ReportError> {
        let got = value.kind();
        if got != indicator.kind {
            return Err(path.err(Problem::WrongKind {
                expected: indicator.kind,
                got,
            }));
        }
        match value {
            Value::Count(count) => self.check_count(path, indicator, count, threshold),
            Value::Status(statuses) => {
                // A status indicator has exactly one breakdown (Framework::check).
                let dimension = indicator
                    .breakdowns
                    .first()
                    .map(String::as_str)
                    .unwrap_or_default();
                self.check_keys(&path.sub("statuses"), dimension, statuses)
            }
            Value::Flag(flag) => self.check_flag(path, indicator, flag),
            Value::Amount(amounts) if amounts.is_empty() => Err(path.err(Problem::NoCurrency)),
            Value::Amount(amounts) => match amounts.iter().find(|(_, v)| **v > MAX_AMOUNT) {
                Some((currency, value)) => {
                    Err(path.sub(&currency.to_string()).err(Problem::TooLarge {
                        value: *value,
                        max: MAX_AMOUNT,
                    }))
                }
                None => Ok(()),
            },
        }
    }

    fn check_count(
        &self,
        path: &Path,
        indicator: &Indicator,
        count: &CountValue,
        threshold: u64,
    ) -> Result<(), ReportError> {
        let any_suppressed = count.total.is_suppressed()
            || count
                .breakdowns
                .values()
                .flat_map(|b| b.values())
                .any(|c| c.is_suppressed());
        if any_suppressed && threshold < 2 {
            return Err(path.err(Problem::SuppressedBelowThreshold));
        }
        let too_large = |path: Path, cell: &Cell| match cell {
            Cell::Published(value) if *value > MAX_COUNT => Err(path.err(Problem::TooLarge {
                value: *value,
                max: MAX_COUNT,
            })),
            _ => Ok(()),
        };
        too_large(path.sub("total"), &count.total)?;
        for (dimension, cells) in &count.breakdowns {
            for (value, cell) in cells {
                too_large(path.sub("breakdowns").sub(dimension).sub(value), cell)?;
            }
        }
        for (dimension, cells) in &count.breakdowns {
            let bpath = path.sub("breakdowns").sub(dimension);
            if !indicator.breakdowns.contains(dimension) {
                return Err(bpath.err(Problem::UnknownBreakdown));
            }
            self.check_keys(&bpath, dimension, cells)?;
            let mut sum: u64 = 0;
            for cell in cells.values() {
                if let Cell::Published(v) = cell {
                    sum = sum
                        .checked_add(*v)
                        .ok_or_else(|| bpath.err(Problem::Overflow))?;
                }
            }
            let complete = cells.values().all(|c| !c.is_suppressed());
            if let Cell::Published(total) = count.total {
                if sum > total {
                    return Err(bpath.err(Problem::CellsExceedTotal { sum, total }));
                }
                if complete && sum != total {
                    return Err(bpath.err(Problem::CellsDoNotAddUp { sum, total }));
                }
            }
        }
        Ok(())
    }

    fn check_flag(
        &self,
        path: &Path,
        indicator: &Indicator,
        flag: &FlagValue,
    ) -> Result<(), ReportError> {
        for (dimension, cells) in &flag.breakdowns {
            let bpath = path.sub("breakdowns").sub(dimension);
            if !indicator.breakdowns.contains(dimension) {
                return Err(bpath.err(Problem::UnknownBreakdown));
            }
            self.check_keys(&bpath, dimension, cells)?;
            if !flag.value && cells.values().any(|yes| *yes) {
                return Err(bpath.err(Problem::FlagContradiction));
            }
        }
        Ok(())
    }

    /// Every key of `cells` is a value of `dimension`.
    fn check_keys<T>(
        &self,
        path: &Path,
        dimension: &str,
        cells: &BTreeMap<String, T>,
    ) -> Result<(), ReportError> {
        let Some(dim) = self.dimension(dimension) else {
            return Err(path.err(Problem::UnknownBreakdown));
        };
        match cells.keys().find(|k| !dim.has_value(k)) {
            Some(bad) => Err(path.sub(bad).err(Problem::UnknownValue {
                dimension: dimension.to_owned(),
            })),
            None => Ok(()),
        }
    }
}

/// The framework versions a hub or node knows, by version number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frameworks {
    versions: BTreeMap<u32, Framework>,
}

impl Frameworks {
    /// The versions that ship with alliance: version 1.
    pub fn builtin() -> Self {
        let mut set = Frameworks::default();
        set.insert(Framework::v1());
        set
    }

    pub fn insert(&mut self, framework: Framework) {
        self.versions.insert(framework.version, framework);
    }

    pub fn get(&self, version: u32) -> Option<&Framework> {
        self.versions.get(&version)
    }

    /// The highest version, which serves for reading any report: indicator ids never change
    /// meaning between versions.
    pub fn latest(&self) -> Option<&Framework> {
        self.versions.values().next_back()
    }

    /// Checks `report` against the version it names, refusing a version not known here.
    pub fn check_report(&self, report: &Report) -> Result<&Framework, ReportError> {
        let framework = self
            .get(report.framework_version)
            .ok_or_else(|| ReportError {
                field: "framework_version".to_owned(),
                problem: Problem::UnknownFrameworkVersion {
                    version: report.framework_version,
                    known: self
                        .versions
                        .keys()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            })?;
        framework.check_report(report)?;
        Ok(framework)
    }
}

impl Value {
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Count(_) => ValueKind::Count,
            Value::Status(_) => ValueKind::Status,
            Value::Flag(_) => ValueKind::Flag,
            Value::Amount(_) => ValueKind::Amount,
        }
    }
}

/// A field path being built up while descending into a report.
struct Path(String);

impl Path {
    /// A named field (`.breakdowns`) or a map key (`["sex"]`) below this one.
    fn sub(&self, key: &str) -> Path {
        if matches!(key, "breakdowns" | "statuses" | "total") {
            Path(format!("{}.{key}", self.0))
        } else {
            Path(format!("{}[{key:?}]", self.0))
        }
    }

    fn err(&self, problem: Problem) -> ReportError {
        ReportError {
            field: self.0.clone(),
            problem,
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::ConventionStatus;
    use crate::report::{Currency, DEFAULT_DISCLOSURE_THRESHOLD};
    use crate::timestamp::Timestamp;

    fn report() -> Report {
        let mut values = BTreeMap::new();
        values.insert(
            "awareness.activities".parse().unwrap(),
            Value::Count(CountValue::total(12)),
        );
        let mut sex = BTreeMap::new();
        sex.insert("female".to_owned(), Cell::Published(7));
        sex.insert("male".to_owned(), Cell::Suppressed);
        sex.insert("unknown".to_owned(), Cell::Suppressed);
        let mut breakdowns = BTreeMap::new();
        breakdowns.insert("sex".to_owned(), sex);
        values.insert(
            "exposure.cases_documented".parse().unwrap(),
            Value::Count(CountValue {
                total: Cell::Published(12),
                breakdowns,
            }),
        );
        values.insert(
            "ratification.convention_status".parse().unwrap(),
            Value::Status([("c29".to_owned(), ConventionStatus::Ratified)].into()),
        );
        values.insert(
            "internal_support.budget_allocated".parse().unwrap(),
            Value::Amount([("EUR".parse::<Currency>().unwrap(), 100_000)].into()),
        );
        Report {
            org: "cut-brazil".parse().unwrap(),
            period: "2009".parse().unwrap(),
            framework_version: 1,
            revision: 1,
            prepared_at: Timestamp(1_262_304_000),
            prepared_by: "cut-brazil".parse().unwrap(),
            disclosure_threshold: DEFAULT_DISCLOSURE_THRESHOLD,
            withdrawn: false,
            narratives: [("awareness".to_owned(), "Campaign in São Paulo.".to_owned())].into(),
            values,
        }
    }

    fn check(r: &Report) -> Result<(), ReportError> {
        Framework::v1().check_report(r)
    }

    fn field_of(r: &Report) -> String {
        check(r).unwrap_err().field
    }

    #[test]
    fn a_sound_report_passes() {
        check(&report()).unwrap();
    }

    #[test]
    fn refusals_name_the_field() {
        let mut r = report();
        r.values.insert(
            "awareness.nope".parse().unwrap(),
            Value::Count(CountValue::total(1)),
        );
        assert_eq!(field_of(&r), r#"values["awareness.nope"]"#);

        let mut r = report();
        r.values.insert(
            "awareness.activities".parse().unwrap(),
            Value::Flag(FlagValue {
                value: true,
                breakdowns: BTreeMap::new(),
            }),
        );
        let e = check(&r).unwrap_err();
        assert_eq!(e.field, r#"values["awareness.activities"]"#);
        assert!(matches!(
            e.problem,
            Problem::WrongKind {
                expected: ValueKind::Count,
                got: ValueKind::Flag
            }
        ));

        let mut r = report();
        if let Some(Value::Count(c)) = r
            .values
            .get_mut(&"exposure.cases_documented".parse().unwrap())
        {
            c.breakdowns
                .get_mut("sex")
                .unwrap()
                .insert("femal".into(), Cell::Published(0));
        }
        assert_eq!(
            field_of(&r),
            r#"values["exposure.cases_documented"].breakdowns["sex"]["femal"]"#
        );

        let mut r = report();
        if let Some(Value::Count(c)) = r
            .values
            .get_mut(&"exposure.cases_documented".parse().unwrap())
        {
            c.breakdowns.insert("authority".into(), BTreeMap::new());
        }
        assert_eq!(
            field_of(&r),
            r#"values["exposure.cases_documented"].breakdowns["authority"]"#
        );

        let mut r = report();
        r.narratives.insert("nope".into(), "x".into());
        assert_eq!(field_of(&r), r#"narratives["nope"]"#);

        let mut r = report();
        r.values.insert(
            "ratification.convention_status".parse().unwrap(),
            Value::Status([("c30".to_owned(), ConventionStatus::Ratified)].into()),
        );
        assert_eq!(
            field_of(&r),
            r#"values["ratification.convention_status"].statuses["c30"]"#
        );
    }

    #[test]
    fn sums_must_hold() {
        let mut r = report();
        let id: crate::IndicatorId = "awareness.people_reached".parse().unwrap();
        let cells = |a, b| {
            let mut m = BTreeMap::new();
            m.insert("female".to_owned(), Cell::Published(a));
            m.insert("male".to_owned(), Cell::Published(b));
            [("sex".to_owned(), m)].into()
        };
        r.values.insert(
            id.clone(),
            Value::Count(CountValue {
                total: Cell::Published(10),
                breakdowns: cells(4, 5),
            }),
        );
        assert!(matches!(
            check(&r).unwrap_err().problem,
            Problem::CellsDoNotAddUp { sum: 9, total: 10 }
        ));
        r.values.insert(
            id.clone(),
            Value::Count(CountValue {
                total: Cell::Published(10),
                breakdowns: cells(u64::MAX, 5),
            }),
        );
        // Each cell is bounded first, so the sum of one breakdown cannot overflow.
        assert!(matches!(
            check(&r).unwrap_err().problem,
            Problem::TooLarge { .. }
        ));
        r.values.insert(
            id.clone(),
            Value::Count(CountValue {
                total: Cell::Published(MAX_COUNT),
                breakdowns: cells(MAX_COUNT - 5, 5),
            }),
        );
        check(&r).unwrap();
    }

    #[test]
    fn counts_and_amounts_above_the_limits_are_refused_naming_the_field() {
        // -1 through an unsigned field arrives as 2^64 - 1.
        let negative = u64::MAX;
        let mut r = report();
        r.values.insert(
            "awareness.activities".parse().unwrap(),
            Value::Count(CountValue::total(negative)),
        );
        let e = check(&r).unwrap_err();
        assert_eq!(e.field, r#"values["awareness.activities"].total"#);
        assert_eq!(
            e.problem,
            Problem::TooLarge {
                value: negative,
                max: MAX_COUNT
            }
        );
        r.values.insert(
            "awareness.activities".parse().unwrap(),
            Value::Count(CountValue::total(MAX_COUNT)),
        );
        check(&r).unwrap();

        let mut r = report();
        let cells: BTreeMap<String, Cell> = [
            ("female".to_owned(), Cell::Published(MAX_COUNT + 1)),
            ("male".to_owned(), Cell::Suppressed),
        ]
        .into();
        r.values.insert(
            "awareness.people_reached".parse().unwrap(),
            Value::Count(CountValue {
                total: Cell::Suppressed,
                breakdowns: [("sex".to_owned(), cells)].into(),
            }),
        );
        assert_eq!(
            field_of(&r),
            r#"values["awareness.people_reached"].breakdowns["sex"]["female"]"#
        );

        let mut r = report();
        r.values.insert(
            "internal_support.budget_allocated".parse().unwrap(),
            Value::Amount([("EUR".parse::<Currency>().unwrap(), MAX_AMOUNT + 1)].into()),
        );
        assert_eq!(
            field_of(&r),
            r#"values["internal_support.budget_allocated"]["EUR"]"#
        );
    }

    #[test]
    fn unknown_framework_versions_are_refused() {
        let mut r = report();
        r.framework_version = 7;
        let e = Frameworks::builtin().check_report(&r).unwrap_err();
        assert_eq!(e.field, "framework_version");
        assert_eq!(
            e.to_string(),
            "framework_version: framework version 7 is not known here (known: 1)"
        );
        r.framework_version = 1;
        assert_eq!(Frameworks::builtin().check_report(&r).unwrap().version, 1);
    }

    #[test]
    fn report_level_rules() {
        let mut r = report();
        r.period = "2009-Q1".parse().unwrap();
        assert_eq!(field_of(&r), "period");
        let mut r = report();
        r.framework_version = 2;
        assert_eq!(field_of(&r), "framework_version");
        let mut r = report();
        r.revision = 0;
        assert_eq!(field_of(&r), "revision");
        let mut r = report();
        r.withdrawn = true;
        assert_eq!(field_of(&r), "values");
        r.values.clear();
        check(&r).unwrap();
        let mut r = report();
        r.disclosure_threshold = 1;
        assert_eq!(
            check(&r).unwrap_err().problem,
            Problem::SuppressedBelowThreshold
        );
    }
}
