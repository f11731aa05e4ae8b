//! The hub's merge rules (DESIGN.md §4): which stored report wins each (organisation, period),
//! what each envelope's outcome is, the alliance-wide view and coverage.
//!
//! # Design
//!
//! The [`Ledger`] holds every stored report per (organisation, period): the winner in full (an
//! [`Entry`]), the others as what outcomes, history and coverage need of them ([`Held`]: report
//! id, revision, first received), so that memory grows with the winners' values and only a few
//! dozen bytes with each superseded revision. Its answers depend only on the *set* of entries: the winner of a key is the highest revision, at equal revision
//! the smallest report id; a duplicate keeps the earliest time it was received; the equivocation
//! flags are the keys holding two report ids at one revision. So order, duplicates and retries
//! change nothing, and [`Ledger::from_entries`] rebuilds the same ledger from what the hub stored.
//!
//! The view is kept up to date incrementally. For every period the ledger keeps [`Totals`] per
//! group of every roll-up (the alliance, each region, country, kind and sector; the view by
//! organisation is computed from the winners, since per-organisation totals would copy every
//! report).
//! When an insert changes a key's winner, the old winner's contribution is subtracted from each
//! group of its organisation and the new winner's added; a withdrawn winner contributes only the
//! mark that its organisation withdrew. Totals are sums that subtract exactly and drop whatever
//! comes back to zero, so totals kept this way equal totals built from scratch, field by field
//! ([`Ledger::aggregates`] exposes them so tests can compare). A view over one period is then
//! derived from that period's totals without looking at any report; a view over several periods
//! is computed from the winners in the span ([`Ledger::view_from_winners`]), because stocks and
//! statuses need each organisation's latest value, which a sum cannot give.
//!
//! Totals know nothing of the framework: what a report did not break down and the published
//! zeros of values a breakdown does not list are worked out when the view is derived, with the
//! framework passed to the query. Indicator ids never change meaning, so the latest framework
//! serves for reports of every version.
//!
//! # Limits
//!
//! - The ledger files each organisation under the registry attributes it was last given
//!   ([`Ledger::new`], [`Ledger::from_entries`], [`Ledger::set_registry`]). After a registry
//!   change (an organisation added, moved to another region, given sectors) the hub calls
//!   [`Ledger::set_registry`], which re-files the winners of the organisations whose attributes
//!   changed; until then the view shows the old grouping. Views never mix the two.
//! - A view over one period falls back to the winners when another period of a shorter kind lies
//!   within it (a report for `2009-H1` when the view asks for `2009`), since per-period totals
//!   cannot tell which of them is an organisation's latest.
//! - Views over several periods cost time in proportion to the winners in the span.
//! - Every winner, narratives included, is held in memory; the hub's store is the durable copy.
//! - A report id is the hash of the signed bytes, so it names one report. The ledger keeps no
//!   index of report ids: it looks for an id only under its report's organisation, period and
//!   revision, and checks that a report arriving again under a held id is the same report only
//!   against the winner, the one report whose values it keeps.
//! - Coverage reads the registry passed to it (it needs registration and deactivation dates,
//!   which the ledger does not keep).

mod aggregate;
mod coverage;
mod group;
mod view;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

pub use aggregate::Totals;
pub use coverage::{Coverage, CoverageCounts, OrgCoverage, Submission, default_deadline};
pub use group::{GroupBy, GroupByError, GroupKey};
pub use view::{
    AmountCell, BreakdownView, CountCell, CountView, FlagBreakdownView, FlagView, GroupView, Query,
    StatusCell, View,
};

use crate::org::{OrgId, Registry};
use crate::period::Period;
use crate::receipt::{Outcome, OutcomeKind, ReportId};
use crate::report::Report;
use crate::timestamp::Timestamp;
use aggregate::{Additive, Sign};
use group::Directory;

/// One stored envelope, as the merge rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The SHA-256 of the signed PAE bytes.
    pub report_id: ReportId,
    /// The report, already verified as authentic and checked against its framework version.
    pub report: Report,
    /// The earliest of the relay's custody receipt and the hub's receipt.
    pub received_at: Timestamp,
}

/// What the ledger keeps of every stored report, the winner's values aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub report_id: ReportId,
    pub revision: u64,
    /// The earliest time any copy of it was received.
    pub received_at: Timestamp,
}

/// Why an envelope cannot be stored. Nothing is stored when it is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Counting both would count the overlap twice (BAD_INPUTS 12).
    #[error(
        "period {period} overlaps period {held}, which organisation {org} has already reported under another period kind"
    )]
    OverlappingPeriod {
        org: OrgId,
        period: Period,
        held: Period,
    },
    /// A report id is the hash of the signed bytes, so one id can only ever name one report;
    /// this is a caller's mistake, refused rather than letting one id stand for two reports.
    #[error("report id {report_id} is already held for a different report")]
    ReportIdReused { report_id: ReportId },
}

/// One revision of one (organisation, period) held under two or more report ids: evidence the
/// hub keeps and flags, whichever report wins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Equivocation {
    pub org: OrgId,
    pub period: Period,
    pub revision: u64,
    /// Ascending, so the first is the one that wins if this revision is the highest.
    pub report_ids: Vec<ReportId>,
}

/// The ledger's totals: per period, per roll-up and group, the sums over the winners.
pub type Aggregates = BTreeMap<Period, BTreeMap<(GroupBy, GroupKey), Totals>>;

/// Every stored entry per (organisation, period), the winners and the view's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    slots: BTreeMap<OrgId, BTreeMap<Period, Slot>>,
    /// Every (organisation, period, revision) held under two or more report ids. Entries are
    /// never removed, so noting each one as it arrives keeps this exact, and a view need not
    /// look at every entry to list the equivocations in its span.
    equivocated: BTreeSet<(OrgId, Period, u64)>,
    directory: Directory,
    aggregates: Aggregates,
}

impl Ledger {
    /// An empty ledger that files organisations under the attributes `registry` gives them.
    pub fn new(registry: &Registry) -> Self {
        Ledger {
            directory: Directory::from_registry(registry),
            ..Ledger::default()
        }
    }

    /// Rebuilds a ledger from every stored entry, in any order, with duplicates or not. The
    /// totals are computed once from the final winners, not by replaying the changes, so this
    /// is an independent path to the same answer as inserting one entry at a time.
    pub fn from_entries(
        registry: &Registry,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Self, MergeError> {
        let mut ledger = Ledger::new(registry);
        for entry in entries {
            let outcome = ledger.decide(&entry)?;
            ledger.store(entry, outcome);
        }
        let keys: Vec<(OrgId, Period)> = ledger.winners().map(|w| w.report.key()).collect();
        ledger.refile(&keys, Sign::Add);
        Ok(ledger)
    }

    /// What storing `entry` would do, without storing it.
    ///
    /// Duplicate if its report id is held; else equivocation if another entry of its key has the
    /// same revision; else superseded if a higher revision is held; else accepted. The outcome
    /// names the winner of the key as it would be after the insert.
    pub fn decide(&self, entry: &Entry) -> Result<Outcome, MergeError> {
        let report = &entry.report;
        if self.held(entry).is_some() {
            let winner = self.winner(&report.org, report.period);
            if let Some(winner) = winner.filter(|w| w.report_id == entry.report_id)
                && winner.report != *report
            {
                return Err(MergeError::ReportIdReused {
                    report_id: entry.report_id,
                });
            }
            return Ok(match winner {
                Some(winner) => outcome(OutcomeKind::Duplicate, winner),
                None => outcome(OutcomeKind::Duplicate, entry),
            });
        }
        if let Some(held) = self.overlapping(&report.org, report.period) {
            return Err(MergeError::OverlappingPeriod {
                org: report.org.clone(),
                period: report.period,
                held,
            });
        }
        let slot = self.slot(&report.org, report.period);
        let held = || slot.into_iter().flat_map(|s| s.held.keys());
        let kind = if held().any(|(revision, _)| *revision == report.revision) {
            OutcomeKind::Equivocation
        } else if held().any(|(revision, _)| *revision > report.revision) {
            OutcomeKind::Superseded
        } else {
            OutcomeKind::Accepted
        };
        let winner = match slot.and_then(Slot::winner) {
            Some(w) if rank(w) > rank(entry) => w,
            _ => entry,
        };
        Ok(outcome(kind, winner))
    }

    /// Stores `entry` and keeps the totals up to date; see [`Ledger::decide`] for the outcome.
    /// A duplicate changes nothing but the time the report was first received, which becomes
    /// the earlier of the two.
    pub fn insert(&mut self, entry: Entry) -> Result<Outcome, MergeError> {
        let outcome = self.decide(&entry)?;
        let takes_over =
            outcome.kind != OutcomeKind::Duplicate && outcome.winning_report_id == entry.report_id;
        if takes_over {
            let (org, period) = (&entry.report.org, entry.report.period);
            if let Some(old) = self.winner(org, period).map(|w| self.contribution(w)) {
                self.file(org, period, &old, Sign::Sub);
            }
            let new = self.contribution(&entry);
            self.file(org, period, &new, Sign::Add);
        }
        self.store(entry, outcome);
        Ok(outcome)
    }

    /// Takes the group attributes of a changed registry, re-filing the winners of every
    /// organisation whose attributes changed (subtracted under the old groups, added under the
    /// new), so that the totals equal those of a rebuild with the new registry.
    pub fn set_registry(&mut self, registry: &Registry) {
        let new = Directory::from_registry(registry);
        let changed: Vec<OrgId> = self
            .slots
            .keys()
            .filter(|org| self.directory.get(org) != new.get(org))
            .cloned()
            .collect();
        let keys: Vec<(OrgId, Period)> = changed
            .iter()
            .flat_map(|org| self.slots.get(org).into_iter().flatten())
            .filter_map(|(period, slot)| slot.winner().map(|w| (w.report.org.clone(), *period)))
            .collect();
        self.refile(&keys, Sign::Sub);
        self.directory = new;
        self.refile(&keys, Sign::Add);
    }

    /// What is held of `entry`'s report: it is looked for under its own organisation, period
    /// and revision, where a report id, the hash of the signed bytes, can only ever be filed.
    pub fn held(&self, entry: &Entry) -> Option<Held> {
        let (org, period) = (&entry.report.org, entry.report.period);
        let received_at = *self.slot(org, period)?.held.get(&rank(entry))?;
        Some(Held {
            report_id: entry.report_id,
            revision: entry.report.revision,
            received_at,
        })
    }

    /// When `entry`'s report was first received, if it is held: the earliest `received_at` of
    /// all its copies. A duplicate's receipt carries it.
    pub fn first_received_at(&self, entry: &Entry) -> Option<Timestamp> {
        self.held(entry).map(|h| h.received_at)
    }

    /// The winner of one (organisation, period).
    pub fn winner(&self, org: &OrgId, period: Period) -> Option<&Entry> {
        self.slot(org, period)?.winner()
    }

    /// The winner of every (organisation, period), by organisation, then period.
    pub fn winners(&self) -> impl Iterator<Item = &Entry> {
        self.slots
            .values()
            .flat_map(|periods| periods.values())
            .filter_map(Slot::winner)
    }

    /// The winning revision of each period an organisation has reported, so that a re-enrolled
    /// or restored node can move past them.
    pub fn winning_revisions(&self, org: &OrgId) -> BTreeMap<Period, u64> {
        self.slots
            .get(org)
            .into_iter()
            .flatten()
            .filter_map(|(period, slot)| slot.winner().map(|w| (*period, w.report.revision)))
            .collect()
    }

    /// Every report held for one (organisation, period), from the lowest rank to the winner:
    /// by revision, and within one revision by descending report id.
    pub fn history(&self, org: &OrgId, period: Period) -> impl Iterator<Item = Held> + '_ {
        self.slot(org, period).into_iter().flat_map(Slot::history)
    }

    /// The number of held entries.
    pub fn len(&self) -> usize {
        self.slots
            .values()
            .flat_map(BTreeMap::values)
            .map(|slot| slot.held.len())
            .sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every revision held under two or more report ids, by organisation, period and revision.
    pub fn equivocations(&self) -> Vec<Equivocation> {
        self.equivocations_where(|_| true)
    }

    /// The equivocation flags: every (organisation, period) holding an equivocation.
    pub fn equivocated(&self) -> BTreeSet<(OrgId, Period)> {
        self.equivocated
            .iter()
            .map(|(org, period, _)| (org.clone(), *period))
            .collect()
    }

    /// The totals kept incrementally, per period and group.
    pub fn aggregates(&self) -> &Aggregates {
        &self.aggregates
    }

    /// The equivocations of the periods `wanted` accepts.
    fn equivocations_where(&self, wanted: impl Fn(Period) -> bool) -> Vec<Equivocation> {
        self.equivocated
            .iter()
            .filter(|(_, period, _)| wanted(*period))
            .map(|(org, period, revision)| {
                let mut report_ids: Vec<ReportId> = self
                    .history(org, *period)
                    .filter(|h| h.revision == *revision)
                    .map(|h| h.report_id)
                    .collect();
                report_ids.sort();
                Equivocation {
                    org: org.clone(),
                    period: *period,
                    revision: *revision,
                    report_ids,
                }
            })
            .collect()
    }

    fn slot(&self, org: &OrgId, period: Period) -> Option<&Slot> {
        self.slots.get(org)?.get(&period)
    }

    /// A period the organisation already holds entries for that overlaps `period` under
    /// another kind (periods of one kind tile time, so only another kind can overlap).
    fn overlapping(&self, org: &OrgId, period: Period) -> Option<Period> {
        self.slots
            .get(org)?
            .keys()
            .copied()
            .find(|held| held.kind() != period.kind() && held.overlaps(period))
    }

    /// Stores an entry whose outcome has been decided; the totals are the caller's business.
    fn store(&mut self, entry: Entry, outcome: Outcome) {
        let (org, period) = entry.report.key();
        let periods = self.slots.entry(org.clone()).or_default();
        let slot = periods.entry(period).or_default();
        if outcome.kind == OutcomeKind::Duplicate {
            // The earliest receipt stands whatever order the copies came in.
            if let Some(at) = slot.held.get_mut(&rank(&entry)) {
                *at = (*at).min(entry.received_at);
            }
            if let Some(winner) = slot
                .winner
                .as_mut()
                .filter(|w| w.report_id == entry.report_id)
            {
                winner.received_at = winner.received_at.min(entry.received_at);
            }
            return;
        }
        if outcome.kind == OutcomeKind::Equivocation {
            self.equivocated
                .insert((org.clone(), period, entry.report.revision));
        }
        slot.held.insert(rank(&entry), entry.received_at);
        // Only the winner's values are kept; a report that loses to it is history.
        if slot.winner.as_ref().is_none_or(|w| rank(w) < rank(&entry)) {
            slot.winner = Some(entry);
        }
    }

    /// One winner's contribution to the totals, under its organisation's current attributes.
    fn contribution(&self, winner: &Entry) -> Totals {
        let country = self.directory.country_key(&winner.report.org);
        Totals::of_report(&winner.report, &country)
    }

    /// Adds or subtracts the contributions of the winners of `keys`, one at a time, so that
    /// only one winner's totals exist besides the ledger's at any moment (a rebuild files
    /// thousands of winners).
    fn refile(&mut self, keys: &[(OrgId, Period)], sign: Sign) {
        for (org, period) in keys {
            let Some(totals) = self.winner(org, *period).map(|w| self.contribution(w)) else {
                continue;
            };
            self.file(org, *period, &totals, sign);
        }
    }

    /// Adds or subtracts a contribution in every group of its organisation, dropping totals that
    /// come back to empty so that the map equals one built from scratch.
    fn file(&mut self, org: &OrgId, period: Period, totals: &Totals, sign: Sign) {
        let groups = self.directory.all_groups(org);
        let per_group = self.aggregates.entry(period).or_default();
        for group in groups {
            match per_group.get_mut(&group) {
                Some(mine) => {
                    mine.apply(totals, sign);
                    if mine.is_zero() {
                        per_group.remove(&group);
                    }
                }
                None if sign == Sign::Add => {
                    per_group.insert(group, totals.clone());
                }
                None => {}
            }
        }
        if per_group.is_empty() {
            self.aggregates.remove(&period);
        }
    }
}

/// The reports of one (organisation, period).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Slot {
    /// Every report held, by rank (the winner last), with the time it was first received.
    held: BTreeMap<Rank, Timestamp>,
    /// The report of the greatest rank, in full.
    winner: Option<Entry>,
}

/// Orders entries so that the winner is the greatest: the highest revision, then the smallest
/// report id.
type Rank = (u64, Reverse<ReportId>);

impl Slot {
    fn winner(&self) -> Option<&Entry> {
        self.winner.as_ref()
    }

    fn history(&self) -> impl Iterator<Item = Held> + '_ {
        self.held
            .iter()
            .map(|((revision, Reverse(report_id)), received_at)| Held {
                report_id: *report_id,
                revision: *revision,
                received_at: *received_at,
            })
    }
}

fn rank(entry: &Entry) -> Rank {
    (entry.report.revision, Reverse(entry.report_id))
}

fn outcome(kind: OutcomeKind, winner: &Entry) -> Outcome {
    Outcome {
        kind,
        winning_revision: winner.report.revision,
        winning_report_id: winner.report_id,
    }
}
