//! The sample data: for every organisation and year, records across all eleven action points,
//! written as the CSV that `alliance-node record import` takes.
//!
//! The data is deterministic: a small generator seeded from the organisation and the year gives
//! the same records on every run, so the totals the demo expects are the same every time. Cases
//! and assisted workers come in small numbers, so disclosure control has cells to withhold.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::orgs::Org;

/// The years the demo reports on (the framework's period kind is the calendar year).
pub const YEARS: [u16; 2] = [2024, 2025];

/// The columns of `record import`, in the order the demo writes them.
const COLUMNS: &str = "date,indicator,value,status,flag,amount,currency,sex,migrant_status,sector,convention,agreement_kind,authority,scope,note";
/// The columns that name a dimension, in the order of [`COLUMNS`].
const DIMENSIONS: [&str; 7] = [
    "sex",
    "migrant_status",
    "sector",
    "convention",
    "agreement_kind",
    "authority",
    "scope",
];

/// A record's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Count(u64),
    Status(&'static str),
    Flag(bool),
    /// Hundredths of the currency unit.
    Amount(u64, &'static str),
}

/// One record, as one line of the CSV.
#[derive(Debug, Clone)]
pub struct Record {
    pub date: String,
    pub indicator: &'static str,
    pub value: Value,
    /// Dimension id → value id.
    pub dims: Vec<(&'static str, &'static str)>,
    pub note: String,
}

/// The records of `org` for `year`.
pub fn records(org: &Org, year: u16) -> Vec<Record> {
    let mut g = Generator {
        rng: Rng::seeded(org.id, year),
        org,
        year,
        records: Vec::new(),
    };
    g.ratification();
    g.awareness();
    g.negotiation();
    g.internal_support();
    g.monitoring();
    g.exposure();
    g.cooperation();
    g.authorities();
    g.outreach();
    g.equality();
    g.gufs();
    g.records
}

/// The sum of the counts of `indicator` in `records`.
pub fn total(records: &[Record], indicator: &str) -> u64 {
    records
        .iter()
        .filter(|r| r.indicator == indicator)
        .map(|r| match r.value {
            Value::Count(n) => n,
            _ => 0,
        })
        .sum()
}

/// Writes `records` to `path` as a CSV with a header row.
pub fn write_csv(path: &Path, records: &[Record]) -> Result<()> {
    let mut out = String::from(COLUMNS);
    out.push('\n');
    for r in records {
        let (value, status, flag, amount, currency) = match &r.value {
            Value::Count(n) => (n.to_string(), "", "", String::new(), ""),
            Value::Status(s) => (String::new(), *s, "", String::new(), ""),
            Value::Flag(f) => (
                String::new(),
                "",
                if *f { "yes" } else { "no" },
                String::new(),
                "",
            ),
            Value::Amount(h, c) => (
                String::new(),
                "",
                "",
                format!("{}.{:02}", h / 100, h % 100),
                *c,
            ),
        };
        let _ = write!(
            out,
            "{},{},{value},{status},{flag},{amount},{currency}",
            r.date, r.indicator
        );
        for dimension in DIMENSIONS {
            let cell = r
                .dims
                .iter()
                .find(|(d, _)| *d == dimension)
                .map_or("", |(_, v)| v);
            let _ = write!(out, ",{cell}");
        }
        let _ = writeln!(out, ",{}", quoted(&r.note));
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// A CSV field, quoted when it needs to be.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// SplitMix64, seeded with FNV-1a of the organisation and the year: the same numbers on every
/// run and every platform.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn seeded(org: &str, year: u16) -> Rng {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in org.bytes().chain(year.to_be_bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(hash)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number from `lo` to `hi`, both included.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let len = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let index = usize::try_from(self.next() % len).unwrap_or(0);
        &items[index]
    }
}

#[derive(Debug)]
struct Generator<'a> {
    rng: Rng,
    org: &'a Org,
    year: u16,
    records: Vec<Record>,
}

const SEXES: [&str; 2] = ["female", "male"];
const MIGRANT: [&str; 2] = ["migrant", "non_migrant"];

impl Generator<'_> {
    fn date(&self, month: u8, day: u8) -> String {
        format!("{}-{month:02}-{day:02}", self.year)
    }

    fn add(
        &mut self,
        (month, day): (u8, u8),
        indicator: &'static str,
        value: Value,
        dims: &[(&'static str, &'static str)],
        note: impl Into<String>,
    ) {
        let date = self.date(month, day);
        self.records.push(Record {
            date,
            indicator,
            value,
            dims: dims.to_vec(),
            note: note.into(),
        });
    }

    fn count(
        &mut self,
        when: (u8, u8),
        indicator: &'static str,
        n: u64,
        dims: &[(&'static str, &'static str)],
        note: impl Into<String>,
    ) {
        if n > 0 {
            self.add(when, indicator, Value::Count(n), dims, note);
        }
    }

    fn size(&self) -> u64 {
        self.org.size
    }

    /// Whether this is the second year (when some campaigns have moved on).
    fn later(&self) -> bool {
        self.year > YEARS[0]
    }

    fn ratification(&mut self) {
        for &(convention, first, second) in self.org.conventions {
            let status = if self.later() { second } else { first };
            self.add(
                (6, 30),
                "ratification.convention_status",
                Value::Status(status),
                &[("convention", convention)],
                "Status checked against NORMLEX",
            );
        }
        if !self.org.conventions.is_empty() {
            self.count(
                (8, 31),
                "ratification.supervisory_comments",
                1,
                &[("convention", "c29")],
                "Observations on C29 sent to the Committee of Experts",
            );
            let c81 = self.rng.range(0, 1);
            self.count(
                (8, 31),
                "ratification.supervisory_comments",
                c81,
                &[("convention", "c81")],
                "Observations on labour inspection (C81)",
            );
        }
    }

    fn awareness(&mut self) {
        let city = self.org.city;
        let s = self.size();
        for (month, what) in [
            (2, "Workshop for shop stewards"),
            (5, "Radio programme on recruitment fees"),
            (8, "Community meeting with migrant workers"),
            (11, "Training of officials"),
        ] {
            let when = (month, 12);
            let n = self.rng.range(1, 2 * s + 1);
            self.count(
                when,
                "awareness.activities",
                n,
                &[],
                format!("{what}, {city}"),
            );
            for sex in SEXES {
                let reached = self.rng.range(15, 60) * s;
                self.count(
                    when,
                    "awareness.people_reached",
                    reached,
                    &[("sex", sex)],
                    "",
                );
            }
        }
        let materials = self.rng.range(2, 4 * s);
        self.count(
            (3, 15),
            "awareness.materials_produced",
            materials,
            &[],
            "Leaflets and posters in local languages",
        );
    }

    fn negotiation(&mut self) {
        let s = self.size();
        let bipartite = self.rng.range(1, 2 * s);
        self.count(
            (4, 20),
            "negotiation.agreements_with_clauses",
            bipartite,
            &[("agreement_kind", "bipartite")],
            "Collective agreements with a clause on recruitment fees",
        );
        let tripartite = self.rng.range(0, 1);
        self.count(
            (9, 18),
            "negotiation.agreements_with_clauses",
            tripartite,
            &[("agreement_kind", "tripartite")],
            "National action plan on forced labour",
        );
        for month in [6, 10] {
            let n = self.rng.range(2, 3 * s);
            self.count((month, 5), "negotiation.negotiations_raised", n, &[], "");
        }
    }

    fn internal_support(&mut self) {
        // A small centre adopts its policy and appoints its focal point in the second year.
        let established = self.org.size > 1 || self.later();
        for indicator in [
            "internal_support.policy_adopted",
            "internal_support.focal_point",
        ] {
            self.add((1, 31), indicator, Value::Flag(established), &[], "");
        }
        let currency = self.org.currency;
        let yearly = self.org.budget * if self.later() { 110 } else { 100 };
        let supplement = yearly / 10 * self.rng.range(0, 2);
        self.add(
            (1, 31),
            "internal_support.budget_allocated",
            Value::Amount(yearly, currency),
            &[],
            "Budget adopted by the executive board",
        );
        if supplement > 0 {
            self.add(
                (7, 1),
                "internal_support.budget_allocated",
                Value::Amount(supplement, currency),
                &[],
                "Supplementary allocation",
            );
        }
    }

    fn monitoring(&mut self) {
        let s = self.size();
        let agencies = self.rng.range(2, 5 * s);
        let companies = self.rng.range(3, 8 * s);
        for (when, grown) in [((6, 30), 0), ((12, 15), self.rng.range(0, 3))] {
            self.count(
                when,
                "monitoring.agencies_monitored",
                agencies + grown,
                &[],
                "",
            );
            self.count(
                when,
                "monitoring.companies_monitored",
                companies + grown,
                &[],
                "",
            );
        }
        for &sector in self.org.sectors {
            let n = self.rng.range(1, 4 * s);
            let month = u8::try_from(self.rng.range(2, 11)).unwrap_or(6);
            self.count(
                (month, 9),
                "monitoring.abuses_detected",
                n,
                &[("sector", sector)],
                "Passports withheld, unpaid wages",
            );
        }
    }

    fn exposure(&mut self) {
        let cases = 3 + self.rng.range(0, 2 * self.size());
        for _ in 0..cases {
            let month = u8::try_from(self.rng.range(1, 12)).unwrap_or(6);
            let when = (month, 20);
            let n = self.rng.range(1, 3);
            let sex = *self.rng.pick(&SEXES);
            let migrant = *self.rng.pick(&MIGRANT);
            let sector = *self.rng.pick(self.org.sectors);
            let dims = [
                ("sex", sex),
                ("migrant_status", migrant),
                ("sector", sector),
            ];
            self.count(
                when,
                "exposure.cases_documented",
                n,
                &dims,
                "Case file kept by the legal officer",
            );
            let persons = n * self.rng.range(1, 6);
            let dims = [("sex", sex), ("migrant_status", migrant)];
            self.count(when, "exposure.persons_concerned", persons, &dims, "");
        }
        let exposed = self.rng.range(1, 3);
        self.count(
            (11, 30),
            "exposure.cases_exposed_publicly",
            exposed,
            &[],
            "Press conference",
        );
    }

    fn cooperation(&mut self) {
        let bilateral = self.rng.range(1, 3);
        let sectoral = self.rng.range(0, 2);
        let regional = 1;
        // Stocks: the latest date counts; earlier in the year there were fewer agreements.
        self.count(
            (3, 1),
            "cooperation.union_agreements",
            bilateral,
            &[("scope", "bilateral")],
            "",
        );
        for (scope, n) in [
            ("bilateral", bilateral),
            ("sectoral", sectoral),
            ("regional", regional),
        ] {
            self.count(
                (12, 1),
                "cooperation.union_agreements",
                n,
                &[("scope", scope)],
                "",
            );
        }
        let alliances = self.rng.range(2, 3 + self.size());
        self.count(
            (12, 1),
            "cooperation.civil_society_alliances",
            alliances,
            &[],
            "Migrant rights groups and anti-trafficking NGOs",
        );
    }

    fn authorities(&mut self) {
        let s = self.size();
        for (authority, hi, month) in [
            ("labour_inspection", 3 * s, 4),
            ("police", 2 * s, 7),
            ("other", 2, 10),
        ] {
            let n = self.rng.range(0, hi);
            self.count(
                (month, 14),
                "authorities.referrals",
                n,
                &[("authority", authority)],
                "",
            );
        }
        for month in [3, 9] {
            let n = self.rng.range(1, s);
            self.count(
                (month, 25),
                "authorities.joint_actions",
                n,
                &[],
                "Joint inspection visits",
            );
        }
        let groups = self.rng.range(1, 3);
        self.count((12, 1), "authorities.working_groups", groups, &[], "");
    }

    fn outreach(&mut self) {
        let s = self.size();
        for sex in SEXES {
            for migrant in MIGRANT {
                let dims = [("sex", sex), ("migrant_status", migrant)];
                let reached = self.rng.range(50, 300) * s;
                self.count((6, 1), "outreach.workers_reached", reached, &dims, "");
                let members = self.rng.range(5, 40) * s;
                self.count((9, 1), "outreach.new_members", members, &dims, "");
                let assisted = self.rng.range(1, 9);
                self.count((10, 1), "outreach.workers_assisted", assisted, &dims, "");
            }
        }
    }

    fn equality(&mut self) {
        let s = self.size();
        let march = self.rng.range(1, s);
        self.count(
            (3, 8),
            "equality.gender_focused_activities",
            march,
            &[],
            "International Women's Day: women migrant domestic workers",
        );
        let later = self.rng.range(0, s);
        self.count(
            (11, 25),
            "equality.gender_focused_activities",
            later,
            &[],
            "",
        );
        let women = self.rng.range(2, 4 + s);
        self.count((12, 1), "equality.women_in_focal_roles", women, &[], "");
    }

    fn gufs(&mut self) {
        let sectors: Vec<&'static str> = if self.org.kind == "guf" {
            self.org.sectors.to_vec()
        } else {
            self.org.sectors.iter().take(2).copied().collect()
        };
        for sector in sectors {
            let n = self.rng.range(1, 3);
            self.count(
                (5, 1),
                "gufs.joint_activities",
                n,
                &[("sector", sector)],
                "Joint campaign with the Global Union Federation",
            );
            self.add(
                (1, 15),
                "gufs.sectors_targeted",
                Value::Flag(true),
                &[("sector", sector)],
                "",
            );
        }
    }
}
