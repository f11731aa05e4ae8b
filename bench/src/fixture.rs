//! What every phase sends: organisations with their keys, and realistic signed reports of
//! framework version 1 with about 40 values each.
//!
//! Everything is derived from fixed seeds, so two runs send the same bytes. Reports are built,
//! validated against the built-in framework (a report the hub would refuse measures nothing),
//! encoded and signed before any phase is timed, on every core.

use std::collections::BTreeMap;

use alliance_core::framework::{ConventionStatus, IndicatorId};
use alliance_core::org::{Country, OrgId, Region};
use alliance_core::report::{Cell, CountValue, Currency, FlagValue, Report, Value};
use alliance_core::validate::Frameworks;
use alliance_core::{Period, Timestamp};
use alliance_envelope::{Envelope, SigningKey, payload_type, sign};
use alliance_proto::pb;
use anyhow::{Context, Result, anyhow};

/// The first reporting year; the benchmark's periods are consecutive years from here.
pub const FIRST_YEAR: u16 = 2009;

/// One organisation of the benchmark's alliance, with the key its node signs with.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: OrgId,
    pub country: Country,
    pub region: Region,
    pub key: SigningKey,
}

/// One report to sign: which organisation (an index into the org list), period and revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub org: usize,
    pub period: Period,
    pub revision: u64,
}

/// `n` organisations, `org-00000` onwards, spread over countries of every region, each with a
/// key derived from its index.
pub fn orgs(n: usize) -> Result<Vec<Org>> {
    (0..n)
        .map(|i| {
            let (country, region) = COUNTRIES[i % COUNTRIES.len()];
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            seed[8..16].copy_from_slice(b"alliance");
            Ok(Org {
                id: format!("org-{i:05}").parse()?,
                country: country.parse()?,
                region,
                key: SigningKey::from_seed(&seed),
            })
        })
        .collect()
}

/// The `index`th period of the benchmark.
pub fn period(index: usize) -> Result<Period> {
    let year = u16::try_from(index)
        .ok()
        .and_then(|i| FIRST_YEAR.checked_add(i))
        .ok_or_else(|| anyhow!("period index {index} is out of range"))?;
    Ok(Period::year(year)?)
}

/// Builds, validates, encodes and signs the reports of `items`, on `threads` threads, as wire
/// envelopes ready to send.
pub fn sign_all(orgs: &[Org], items: &[Item], threads: usize) -> Result<Vec<pb::Envelope>> {
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || sign_part(orgs, part)))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for worker in workers {
            let part = worker
                .join()
                .map_err(|_| anyhow!("a signing thread panicked"))??;
            out.extend(part);
        }
        Ok(out)
    })
}

/// The domain form of one signed report, for the bare verification phase.
pub fn sign_one(orgs: &[Org], item: Item) -> Result<Envelope> {
    let frameworks = Frameworks::builtin();
    let org = orgs
        .get(item.org)
        .ok_or_else(|| anyhow!("no organisation {}", item.org))?;
    let report = report(org, item)?;
    frameworks
        .check_report(&report)
        .with_context(|| format!("the generated report of {} is not valid", org.id))?;
    Ok(sign(
        &org.key,
        payload_type::REPORT,
        alliance_proto::encode_report(&report),
    ))
}

/// How many numbers a report carries: each count total and breakdown cell, status, flag and
/// amount is one. This is what "about 40 values" counts.
pub fn value_count(report: &Report) -> usize {
    report
        .values
        .values()
        .map(|value| match value {
            Value::Count(c) => 1 + c.breakdowns.values().map(|b| b.len()).sum::<usize>(),
            Value::Status(s) => s.len(),
            Value::Flag(f) => 1 + f.breakdowns.values().map(|b| b.len()).sum::<usize>(),
            Value::Amount(a) => a.len(),
        })
        .sum()
}

/// The report of `item`: values vary with the organisation, period and revision, so that every
/// envelope differs and the view sums real numbers.
pub fn report(org: &Org, item: Item) -> Result<Report> {
    let year = match item.period {
        Period::Year(y) => u64::from(y),
        other => return Err(anyhow!("the benchmark uses years, not {other}")),
    };
    let mut rng = SplitMix(
        (item.org as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(year << 20)
            .wrapping_add(item.revision),
    );
    let mut values = BTreeMap::new();
    let mut put = |id: &str, value: Value| -> Result<()> {
        values.insert(id.parse::<IndicatorId>()?, value);
        Ok(())
    };

    put(
        "ratification.convention_status",
        Value::Status(BTreeMap::from([
            ("c29".to_owned(), ConventionStatus::Ratified),
            ("c105".to_owned(), ConventionStatus::Ratified),
            ("c181".to_owned(), status(rng.below(4))),
        ])),
    )?;
    put("ratification.supervisory_comments", count(rng.below(3)))?;
    put("awareness.activities", count(rng.below(40)))?;
    put(
        "awareness.people_reached",
        split(
            &mut rng,
            "sex",
            &["female", "male", "other", "unknown"],
            5000,
        ),
    )?;
    put("awareness.materials_produced", count(rng.below(12)))?;
    put(
        "negotiation.agreements_with_clauses",
        split(&mut rng, "agreement_kind", &["bipartite", "tripartite"], 20),
    )?;
    put("negotiation.negotiations_raised", count(rng.below(30)))?;
    put("internal_support.policy_adopted", flag(true))?;
    put("internal_support.focal_point", flag(rng.below(4) > 0))?;
    put(
        "internal_support.budget_allocated",
        Value::Amount(BTreeMap::from([(
            "EUR".parse::<Currency>()?,
            100 * (1000 + rng.below(50_000)),
        )])),
    )?;
    put("monitoring.agencies_monitored", count(rng.below(60)))?;
    put("monitoring.companies_monitored", count(rng.below(200)))?;
    put(
        "monitoring.abuses_detected",
        split(&mut rng, "sector", &["agriculture", "construction"], 50),
    )?;
    put("exposure.cases_documented", sensitive(&mut rng, 40))?;
    put("exposure.persons_concerned", count(rng.below(120)))?;
    put("exposure.cases_exposed_publicly", count(rng.below(10)))?;
    put(
        "cooperation.union_agreements",
        split(&mut rng, "scope", &["bilateral", "regional"], 8),
    )?;
    put(
        "authorities.referrals",
        split(&mut rng, "authority", &["labour_inspection", "police"], 30),
    )?;
    put("authorities.joint_actions", count(rng.below(15)))?;
    put(
        "outreach.workers_reached",
        split(&mut rng, "sex", &["female", "male"], 3000),
    )?;
    put("equality.gender_focused_activities", count(rng.below(20)))?;
    put("gufs.joint_activities", count(rng.below(10)))?;

    Ok(Report {
        org: org.id.clone(),
        period: item.period,
        framework_version: 1,
        revision: item.revision,
        prepared_at: Timestamp(1_600_000_000 + i64::try_from(item.revision)?),
        prepared_by: org.id.clone(),
        disclosure_threshold: alliance_core::report::DEFAULT_DISCLOSURE_THRESHOLD,
        withdrawn: false,
        narratives: BTreeMap::from([
            (
                "exposure".to_owned(),
                "Cases documented in construction sites and on farms; two referred.".to_owned(),
            ),
            (
                "outreach".to_owned(),
                "Migrant domestic workers organised in three cities.".to_owned(),
            ),
        ]),
        values,
    })
}

fn sign_part(orgs: &[Org], items: &[Item]) -> Result<Vec<pb::Envelope>> {
    items
        .iter()
        .map(|item| sign_one(orgs, *item).map(pb::Envelope::from))
        .collect()
}

fn count(n: u64) -> Value {
    Value::Count(CountValue::total(n))
}

fn flag(value: bool) -> Value {
    Value::Flag(FlagValue {
        value,
        breakdowns: BTreeMap::new(),
    })
}

fn status(i: u64) -> ConventionStatus {
    ConventionStatus::ALL[usize::try_from(i).unwrap_or(0) % ConventionStatus::ALL.len()]
}

/// A published total with one breakdown whose cells add up to it.
fn split(rng: &mut SplitMix, dimension: &str, cells: &[&str], max: u64) -> Value {
    let total = rng.below(max);
    let mut left = total;
    let mut breakdown = BTreeMap::new();
    for (i, cell) in cells.iter().enumerate() {
        let v = if i + 1 == cells.len() {
            left
        } else {
            rng.below(left + 1)
        };
        left -= v;
        breakdown.insert((*cell).to_owned(), Cell::Published(v));
    }
    Value::Count(CountValue {
        total: Cell::Published(total),
        breakdowns: BTreeMap::from([(dimension.to_owned(), breakdown)]),
    })
}

/// A sensitive count by sex as a node publishes it: small cells withheld, as disclosure control
/// does (with the default threshold of 5), so the view has ranges to compute too.
fn sensitive(rng: &mut SplitMix, max: u64) -> Value {
    let total = rng.below(max);
    let female = rng.below(total + 1);
    let male = total - female;
    let small = |v: u64| v > 0 && v < alliance_core::report::DEFAULT_DISCLOSURE_THRESHOLD;
    let cell = |v| {
        if small(female) || small(male) {
            Cell::Suppressed
        } else {
            Cell::Published(v)
        }
    };
    Value::Count(CountValue {
        total: Cell::Published(total),
        breakdowns: BTreeMap::from([(
            "sex".to_owned(),
            BTreeMap::from([
                ("female".to_owned(), cell(female)),
                ("male".to_owned(), cell(male)),
            ]),
        )]),
    })
}

/// Countries of every region the hub groups by.
const COUNTRIES: &[(&str, Region)] = &[
    ("BR", Region::Americas),
    ("AR", Region::Americas),
    ("CO", Region::Americas),
    ("US", Region::Americas),
    ("ZA", Region::Africa),
    ("KE", Region::Africa),
    ("NG", Region::Africa),
    ("SN", Region::Africa),
    ("IN", Region::AsiaPacific),
    ("JP", Region::AsiaPacific),
    ("ID", Region::AsiaPacific),
    ("PH", Region::AsiaPacific),
    ("DE", Region::Europe),
    ("FR", Region::Europe),
    ("IT", Region::Europe),
    ("PL", Region::Europe),
];

/// SplitMix64: a tiny, good-enough generator, so that the fixture needs no random crate and is
/// the same on every run.
#[derive(Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_valid_and_carry_about_forty_values() {
        let orgs = orgs(3).expect("orgs");
        for (org, p) in [(0, 0), (1, 1), (2, 5)] {
            let item = Item {
                org,
                period: period(p).expect("period"),
                revision: 1 + p as u64,
            };
            let report = report(&orgs[org], item).expect("report");
            Frameworks::builtin()
                .check_report(&report)
                .expect("the generated report is valid");
            let n = value_count(&report);
            assert!((36..=44).contains(&n), "{n} values");
        }
    }

    #[test]
    fn envelopes_verify_under_the_org_key() {
        let orgs = orgs(2).expect("orgs");
        let item = Item {
            org: 1,
            period: period(0).expect("period"),
            revision: 1,
        };
        let envelope = sign_one(&orgs, item).expect("signed");
        let key = orgs[1].key.public_key();
        alliance_envelope::verify_signed(
            &envelope,
            payload_type::REPORT,
            alliance_envelope::keys_by_id(&[key]),
        )
        .expect("verifies");
    }
}
