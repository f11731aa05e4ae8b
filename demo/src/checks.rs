//! What the demo checks before it says it worked: every submitted report accepted exactly once
//! (on its node, as the hub's signed receipt says), relays holding nothing back, the hub's view
//! equal to the totals of the sample data (so a report counted twice or lost shows), every
//! indicator of the framework in the view, and every organisation on time in the coverage.

use alliance_core::framework::Framework;
use anyhow::Result;
use serde_json::Value;

use crate::orgs::{Link, ORGS};
use crate::sample::{self, YEARS};
use crate::scenario::Alliance;

/// Flow counts without disclosure control: the view's alliance total of each must be exactly
/// the sum of the sample records.
const EXACT_FLOWS: [&str; 8] = [
    "awareness.activities",
    "awareness.people_reached",
    "awareness.materials_produced",
    "negotiation.negotiations_raised",
    "authorities.joint_actions",
    "outreach.workers_reached",
    "equality.gender_focused_activities",
    "gufs.joint_activities",
];

/// The outcome of every check: what was checked, and what was wrong, if anything.
#[derive(Debug, Default)]
pub struct Outcome {
    pub passed: Vec<String>,
    pub failed: Vec<String>,
}

impl Outcome {
    fn check(&mut self, what: String, problems: Vec<String>) {
        if problems.is_empty() {
            self.passed.push(what);
        } else {
            self.failed
                .push(format!("{what}:\n      {}", problems.join("\n      ")));
        }
    }
}

/// The report of `org` for `period` in a node's `status --json`, if there is one.
pub fn report_of<'a>(status: &'a Value, org: &str, period: &str) -> Option<&'a Value> {
    reports_of(status, org)
        .into_iter()
        .find(|r| r["period"] == period)
}

fn reports_of<'a>(status: &'a Value, org: &str) -> Vec<&'a Value> {
    status["organisations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["org"] == org)
        .flat_map(|o| o["reports"].as_array().into_iter().flatten())
        .collect()
}

/// Runs every check.
pub fn run(alliance: &Alliance) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    reports_accepted_once(alliance, &mut outcome)?;
    relays_hold_nothing(alliance, &mut outcome)?;
    view_totals(alliance, &mut outcome)?;
    view_covers_the_framework(alliance, &mut outcome)?;
    everyone_on_time(alliance, &mut outcome)?;
    Ok(outcome)
}

fn reports_accepted_once(alliance: &Alliance, outcome: &mut Outcome) -> Result<()> {
    let mut problems = Vec::new();
    for org in ORGS {
        let status = alliance.status(org)?;
        let reports = reports_of(&status, org.id);
        if reports.len() != YEARS.len() {
            problems.push(format!(
                "{}: {} reports on its node, expected {}",
                org.id,
                reports.len(),
                YEARS.len()
            ));
        }
        for year in YEARS {
            let period = year.to_string();
            let of_period: Vec<_> = reports.iter().filter(|r| r["period"] == period).collect();
            let [report] = of_period.as_slice() else {
                problems.push(format!(
                    "{}: {} reports for {period}",
                    org.id,
                    of_period.len()
                ));
                continue;
            };
            let receipt = &report["receipt"];
            if report["state"] != "decided"
                || receipt["outcome"] != "accepted"
                || report["revision"] != 1
                || receipt["winning_report_id"] != report["report_id"]
            {
                problems.push(format!(
                    "{} {period}: state {}, outcome {}, revision {}",
                    org.id, report["state"], receipt["outcome"], report["revision"]
                ));
            }
        }
    }
    outcome.check(
        format!(
            "every organisation's {} reports decided by the hub: accepted, revision 1, once each ({} reports)",
            YEARS.len(),
            ORGS.len() * YEARS.len()
        ),
        problems,
    );
    Ok(())
}

fn relays_hold_nothing(alliance: &Alliance, outcome: &mut Outcome) -> Result<()> {
    let mut problems = Vec::new();
    for relay in ORGS.iter().filter(|o| o.is_relay()) {
        let relayed = ORGS
            .iter()
            .filter(|o| o.link == Link::Via(relay.id))
            .count()
            * YEARS.len();
        let status = alliance.status(relay)?;
        let summary = &status["relayed"];
        if summary["pending"] != 0 || summary["set_aside"] != 0 || summary["decided"] != relayed {
            problems.push(format!(
                "{}: {summary}, expected {relayed} decided",
                relay.id
            ));
        }
    }
    outcome.check(
        "the relays hold nothing back: every relayed report decided, none pending or set aside"
            .into(),
        problems,
    );
    Ok(())
}

/// The alliance total row of `indicator` (no breakdown) in a `view --json`.
fn total_row<'a>(view: &'a Value, indicator: &str) -> Option<&'a Value> {
    view["rows"].as_array()?.iter().find(|r| {
        r["indicator"] == indicator && r["dimension"].is_null() && r["group"] == "alliance"
    })
}

fn view_totals(alliance: &Alliance, outcome: &mut Outcome) -> Result<()> {
    let span = format!("{}..{}", YEARS[0], YEARS[1]);
    let periods: Vec<(String, Vec<u16>)> = YEARS
        .iter()
        .map(|y| (y.to_string(), vec![*y]))
        .chain([(span, YEARS.to_vec())])
        .collect();
    let mut problems = Vec::new();
    for (period, years) in &periods {
        let view = alliance.hub_json(&["view", "--period", period])?;
        for indicator in EXACT_FLOWS {
            let expected: u64 = ORGS
                .iter()
                .flat_map(|o| years.iter().map(move |y| (o.id, *y)))
                .filter_map(|key| alliance.records.get(&key))
                .map(|records| sample::total(records, indicator))
                .sum();
            let Some(row) = total_row(&view, indicator) else {
                problems.push(format!("{period} {indicator}: not in the view"));
                continue;
            };
            let count = &row["count"];
            if count["exact"] != true || count["lo"] != expected || count["hi"] != expected {
                problems.push(format!(
                    "{period} {indicator}: the view says {count}, the sample data {expected}"
                ));
            }
        }
    }
    outcome.check(
        format!(
            "the view's alliance totals equal the sample data's for {} flow indicators in {}",
            EXACT_FLOWS.len(),
            periods
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        problems,
    );
    Ok(())
}

fn view_covers_the_framework(alliance: &Alliance, outcome: &mut Outcome) -> Result<()> {
    let framework = Framework::v1();
    let span = format!("{}..{}", YEARS[0], YEARS[1]);
    let view = alliance.hub_json(&["view", "--period", &span, "--by", "region"])?;
    let rows = view["rows"].as_array().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    let current: Vec<_> = framework.indicators.iter().filter(|i| !i.retired).collect();
    for indicator in &current {
        if !rows.iter().any(|r| r["indicator"] == indicator.id.as_str()) {
            problems.push(format!("{} is not in the view", indicator.id.as_str()));
        }
    }
    outcome.check(
        format!(
            "the view shows all {} action points: every one of the framework's {} indicators",
            framework.action_points.len(),
            current.len()
        ),
        problems,
    );
    Ok(())
}

fn everyone_on_time(alliance: &Alliance, outcome: &mut Outcome) -> Result<()> {
    let mut problems = Vec::new();
    for year in YEARS {
        let period = year.to_string();
        let coverage = alliance.hub_json(&["coverage", "--period", &period])?;
        let rows = coverage["rows"].as_array().cloned().unwrap_or_default();
        for org in ORGS {
            match rows.iter().find(|r| r["org_id"] == org.id) {
                None => problems.push(format!("{period}: {} is not expected", org.id)),
                Some(row) if row["state"] != "on_time" => {
                    problems.push(format!("{period}: {} is {}", org.id, row["state"]));
                }
                Some(_) => {}
            }
        }
        if rows.len() != ORGS.len() {
            problems.push(format!(
                "{period}: {} organisations expected, not {}",
                rows.len(),
                ORGS.len()
            ));
        }
    }
    outcome.check(
        format!(
            "the coverage of {} and {}: all {} organisations on time",
            YEARS[0],
            YEARS[1],
            ORGS.len()
        ),
        problems,
    );
    Ok(())
}
