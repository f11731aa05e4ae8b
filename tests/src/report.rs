//! Reports as a node would build them: valid under framework version 1 unless a test makes them
//! otherwise on purpose.

use std::collections::BTreeMap;

use alliance_core::report::DEFAULT_DISCLOSURE_THRESHOLD;
use alliance_core::validate::Frameworks;
use alliance_core::{Cell, CountValue, Report, Timestamp, Value};
use alliance_envelope::{Envelope, SigningKey, payload_type, sign};

/// When the reports of the tests say they were prepared: 2010-02-01, after the 2009 year.
pub const PREPARED_AT: Timestamp = Timestamp(1_265_000_000);

/// Builds a [`Report`] of framework version 1 for the year 2009, revision 1, with a few counts.
#[derive(Debug, Clone)]
pub struct ReportBuilder {
    report: Report,
}

impl ReportBuilder {
    /// A valid report of `org` for 2009: 12 awareness activities, 40 people reached (25 women,
    /// 15 men) and a narrative.
    pub fn new(org: &str) -> Self {
        let org_id = org
            .parse()
            .unwrap_or_else(|e| panic!("{org:?} is not an organisation id: {e}"));
        let mut builder = ReportBuilder {
            report: Report {
                org: org_id,
                prepared_by: org
                    .parse()
                    .unwrap_or_else(|e| panic!("{org:?} is not an organisation id: {e}")),
                period: "2009".parse().expect("2009 is a period"),
                framework_version: 1,
                revision: 1,
                prepared_at: PREPARED_AT,
                disclosure_threshold: DEFAULT_DISCLOSURE_THRESHOLD,
                withdrawn: false,
                narratives: [(
                    "awareness".to_owned(),
                    "Workshops with domestic workers.".to_owned(),
                )]
                .into(),
                values: BTreeMap::new(),
            },
        };
        builder = builder.count("awareness.activities", 12);
        builder.count_by(
            "awareness.people_reached",
            40,
            "sex",
            &[("female", 25), ("male", 15)],
        )
    }

    /// The period, such as `2009` or `2009-H1` (which framework version 1 does not allow).
    pub fn period(mut self, period: &str) -> Self {
        self.report.period = period
            .parse()
            .unwrap_or_else(|e| panic!("{period:?} is not a period: {e}"));
        self
    }

    pub fn revision(mut self, revision: u64) -> Self {
        self.report.revision = revision;
        self
    }

    pub fn framework_version(mut self, version: u32) -> Self {
        self.report.framework_version = version;
        self
    }

    /// Sets a narrative, which changes the report's bytes without changing its counts.
    pub fn narrative(mut self, action_point: &str, text: &str) -> Self {
        self.report
            .narratives
            .insert(action_point.to_owned(), text.to_owned());
        self
    }

    /// A published count without breakdowns.
    pub fn count(self, indicator: &str, total: u64) -> Self {
        self.value(indicator, Value::Count(CountValue::total(total)))
    }

    /// A published count with one breakdown, every cell published.
    pub fn count_by(
        self,
        indicator: &str,
        total: u64,
        dimension: &str,
        cells: &[(&str, u64)],
    ) -> Self {
        let cells = cells
            .iter()
            .map(|(value, n)| ((*value).to_owned(), Cell::Published(*n)))
            .collect();
        self.value(
            indicator,
            Value::Count(CountValue {
                total: Cell::Published(total),
                breakdowns: [(dimension.to_owned(), cells)].into(),
            }),
        )
    }

    /// Sets any value, valid or not: the indicator id only has to be well formed.
    pub fn value(mut self, indicator: &str, value: Value) -> Self {
        let id = indicator
            .parse()
            .unwrap_or_else(|e| panic!("{indicator:?} is not an indicator id: {e}"));
        self.report.values.insert(id, value);
        self
    }

    /// The report, as built.
    pub fn build(self) -> Report {
        self.report
    }

    /// The report, after checking that framework version 1 accepts it (so a test of a valid
    /// report cannot be wrong about its validity).
    pub fn build_valid(self) -> Report {
        if let Err(e) = Frameworks::builtin().check_report(&self.report) {
            panic!("the test built an invalid report: {e}");
        }
        self.report
    }

    /// The report encoded and signed by `key` as a report envelope.
    pub fn sign(self, key: &SigningKey) -> Envelope {
        sign_report(&self.build(), key)
    }
}

/// `report` encoded and signed by `key` as a report envelope.
pub fn sign_report(report: &Report, key: &SigningKey) -> Envelope {
    sign(
        key,
        payload_type::REPORT,
        alliance_proto::encode_report(report),
    )
}
