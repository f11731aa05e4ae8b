//! Coverage: who has and has not reported a period, and whether on time (DESIGN.md §4).

use std::collections::{BTreeMap, BTreeSet};

use super::Ledger;
use crate::framework::Framework;
use crate::org::{OrgId, Region, Registry};
use crate::period::Period;
use crate::timestamp::Timestamp;

/// Coverage of one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub period: Period,
    pub deadline: Timestamp,
    /// Every organisation expected to report: registered and not deactivated at the deadline,
    /// enrolled or not.
    pub orgs: BTreeMap<OrgId, OrgCoverage>,
    /// Counts per region (GUFs are global); only regions with an expected organisation.
    pub by_region: BTreeMap<Region, CoverageCounts>,
    pub total: CoverageCounts,
    /// Organisations with entries for the period that were not expected: not in the registry,
    /// registered after the deadline or deactivated by it. Their reports still count in the
    /// view; coverage only says they were not asked for.
    pub unexpected: BTreeSet<OrgId>,
}

/// One expected organisation's standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgCoverage {
    pub region: Region,
    /// False for an organisation that never enrolled a key, which is itself a finding.
    pub enrolled: bool,
    pub submission: Submission,
    /// The earliest receipt of any of its entries for the period: each entry's
    /// [`Entry::received_at`](super::Entry::received_at), which is the earlier of a relay's
    /// custody receipt and the hub's receipt.
    pub first_received_at: Option<Timestamp>,
    pub winning_revision: Option<u64>,
}

/// Where an expected organisation's report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Submission {
    /// First received before the deadline, by the hub or, earlier, by the relay it came
    /// through (its custody receipt).
    OnTime,
    /// First received at or after the deadline.
    Late,
    /// Nothing received.
    Missing,
    /// The winner is withdrawn: reported, then retracted.
    Withdrawn,
}

/// Counts of expected organisations. `expected = reported + withdrawn + missing`, and
/// `reported = on_time + late`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CoverageCounts {
    pub expected: u64,
    pub reported: u64,
    pub on_time: u64,
    pub late: u64,
    pub missing: u64,
    pub withdrawn: u64,
    /// Expected organisations that never enrolled a key, whatever they reported (a hosted one
    /// may have been reported for by its relay).
    pub never_enrolled: u64,
}

/// The framework's default deadline for a period: midnight UTC `deadline_days` days after the
/// period ends.
pub fn default_deadline(framework: &Framework, period: Period) -> Timestamp {
    let days = time::Duration::days(i64::from(framework.deadline_days));
    let date = period
        .end_exclusive()
        .checked_add(days)
        .unwrap_or(time::Date::MAX);
    Timestamp::start_of(date)
}

impl Ledger {
    /// Coverage of `period` against `registry`, with the framework's default deadline unless the
    /// operator gives another.
    pub fn coverage(
        &self,
        registry: &Registry,
        framework: &Framework,
        period: Period,
        deadline: Option<Timestamp>,
    ) -> Coverage {
        let deadline = deadline.unwrap_or_else(|| default_deadline(framework, period));
        let mut coverage = Coverage {
            period,
            deadline,
            orgs: BTreeMap::new(),
            by_region: BTreeMap::new(),
            total: CoverageCounts::default(),
            unexpected: BTreeSet::new(),
        };
        for org in registry.orgs.values().filter(|o| o.expected_at(deadline)) {
            let first_received_at = self.history(&org.id, period).map(|e| e.received_at).min();
            let winner = self.winner(&org.id, period);
            let submission = match (winner, first_received_at) {
                (Some(w), _) if w.report.withdrawn => Submission::Withdrawn,
                (_, Some(at)) if at < deadline => Submission::OnTime,
                (_, Some(_)) => Submission::Late,
                (_, None) => Submission::Missing,
            };
            let standing = OrgCoverage {
                region: org.region,
                enrolled: org.enrolled_at.is_some(),
                submission,
                first_received_at,
                winning_revision: winner.map(|w| w.report.revision),
            };
            coverage.total.count(&standing);
            coverage
                .by_region
                .entry(org.region)
                .or_default()
                .count(&standing);
            coverage.orgs.insert(org.id.clone(), standing);
        }
        coverage.unexpected = self
            .slots
            .iter()
            .filter(|(org, periods)| {
                periods.contains_key(&period) && !coverage.orgs.contains_key(*org)
            })
            .map(|(org, _)| org.clone())
            .collect();
        coverage
    }
}

impl CoverageCounts {
    fn count(&mut self, org: &OrgCoverage) {
        self.expected += 1;
        match org.submission {
            Submission::OnTime => {
                self.reported += 1;
                self.on_time += 1;
            }
            Submission::Late => {
                self.reported += 1;
                self.late += 1;
            }
            Submission::Missing => self.missing += 1,
            Submission::Withdrawn => self.withdrawn += 1,
        }
        if !org.enrolled {
            self.never_enrolled += 1;
        }
    }
}
