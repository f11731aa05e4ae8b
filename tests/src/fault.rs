//! Fault injection over a whole federation (BAD_INPUTS 23): a hub, two relays, affiliates behind
//! them and nodes that report to the hub directly, all real processes on loopback TLS; trial
//! after trial one of them crashes, at a named crash point or with SIGKILL at a random instant,
//! and is restarted, while the nodes go on submitting new revisions. At the end, once every
//! outbox has drained, the hub must hold every revision the nodes submitted exactly once and
//! show the view those submissions call for.
//!
//! # A trial
//!
//! - **A named crash point**: the process is stopped (SIGTERM) and served again with
//!   `FAILPOINTS=<point>=return`, which makes it abort at that point (`alliance_node::crash`,
//!   `alliance_hub::crash`), then submissions are driven through it until it dies there, or a
//!   timeout passes ("not hit"; it is then killed with SIGKILL, since an armed point could fire
//!   during a graceful shutdown). It is served again without the point.
//! - **SIGKILL at a random instant**: a node is killed a random moment after its submissions
//!   returned (while its outbox pushes them); a relay or the hub while submissions flow through
//!   it from another thread. It is served again at once.
//!
//! The first trials go round the named points, each where it fires quickly (the node's points in
//! direct nodes, affiliates and relays: in a relay, `after-sending` and `before-receipt-stored`
//! are the relay mid-forward), then one SIGKILL of each kind of process; the rest are drawn at
//! random from the seed.
//!
//! # What the harness knows
//!
//! The expected view is computed here from what the harness asked each node to record and
//! submit, with plain sums, without the project's merge or disclosure code: every record's value
//! is at least the disclosure threshold (5), so nothing is withheld, and the latest revision of
//! an (organisation, period) holds every record of it. No submission is left in doubt: a node's
//! own command runs only while no point that could kill it mid-command, other than the one that
//! command is meant to reach, is armed (a revision queued for an outbox point is queued while the
//! node is stopped), and a crash at `after-revision-stored` or `after-signing` comes after the
//! revision is stored, so it counts.
//!
//! # The invariant checked at the end
//!
//! - every node shows each revision it was asked to submit once (1, 2, … in order, one report id
//!   each), decided; an affiliate's with its relay's custody receipt; each relay decided every
//!   envelope it took, once;
//! - the hub holds each of them (GetReceipt) with the outcome accepted or superseded, the latest
//!   revision accepted: each (organisation, period, revision) decided once, no equivocation;
//! - `view --json` by organisation, region and alliance equals the expected view, row for row,
//!   and again after the hub is killed and rebuilds its ledger from the store; the hub refused
//!   nothing.
//!
//! Seeded: `ALLIANCE_FAULT_SEED` (decimal or 0x-hex) fixes every choice and delay the harness
//! makes (the processes' own timing still varies), `ALLIANCE_FAULT_TRIALS` the number of trials.
//! A failure prints the seed and the command that runs it again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use alliance_core::OutcomeKind;
use alliance_node::crash as node_crash;
use serde_json::Value;

use crate::node::parse_queued;
use crate::process::POLL_INTERVAL;
use crate::relay::{affiliate_of, init_relay_of, unhex};
use crate::{Binary, HubProcess, NodeProcess, Run};

/// The environment variable that sets the seed.
pub const SEED_VAR: &str = "ALLIANCE_FAULT_SEED";
/// The environment variable that sets the number of trials.
pub const TRIALS_VAR: &str = "ALLIANCE_FAULT_TRIALS";

/// The hub's crash point: stored and flushed, not answered.
pub const HUB_AFTER_STORE: &str = alliance_hub::crash::AFTER_STORE;

/// Every named crash point of the federation: the node's (which a relay has too) and the hub's.
pub const ALL_POINTS: [&str; 6] = [
    node_crash::AFTER_REVISION_STORED,
    node_crash::AFTER_SIGNING,
    node_crash::AFTER_SENDING,
    node_crash::BEFORE_RECEIPT_STORED,
    node_crash::RELAY_AFTER_CUSTODY_STORED,
    HUB_AFTER_STORE,
];

/// The node's crash points (a relay also has `relay-after-custody-stored`).
const NODE_POINTS: [&str; 4] = [
    node_crash::AFTER_REVISION_STORED,
    node_crash::AFTER_SIGNING,
    node_crash::AFTER_SENDING,
    node_crash::BEFORE_RECEIPT_STORED,
];

/// The periods the nodes report for.
const PERIODS: [&str; 2] = ["2009", "2010"];
/// The disclosure threshold every node uses (the default): every value recorded is at least it.
const THRESHOLD: u64 = 5;
/// The largest value a record gets.
const MAX_VALUE: u64 = 30;
/// How long an armed process may take to reach its point before the trial counts "not hit".
const POINT_TIMEOUT: Duration = Duration::from_secs(20);
/// An affiliate learns the hub's receipt by looking its held reports up every 10 s: its
/// `before-receipt-stored` may take that long.
const HELD_POINT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often more submissions are driven through a process armed at a point they reach.
const DRIVE_EVERY: Duration = Duration::from_millis(1500);
/// How many submissions at most one trial drives.
const MAX_DRIVES: usize = 4;
/// Time for every outbox to drain at the end (an affiliate looks held reports up every 10 s).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(90);

/// What one run does: how many trials, from which seed.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub trials: usize,
    pub seed: u64,
}

impl Config {
    /// The trials and seed from [`TRIALS_VAR`] and [`SEED_VAR`], else `trials` and `seed` (a
    /// seed from the clock when `None`).
    pub fn from_env(trials: usize, seed: Option<u64>) -> Config {
        let trials = match std::env::var(TRIALS_VAR) {
            Ok(text) => text
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{TRIALS_VAR}={text:?} is not a number: {e}")),
            Err(_) => trials,
        };
        let seed = match std::env::var(SEED_VAR) {
            Ok(text) => parse_seed(&text)
                .unwrap_or_else(|| panic!("{SEED_VAR}={text:?} is not a number (decimal or 0x…)")),
            Err(_) => seed.unwrap_or_else(clock_seed),
        };
        Config { trials, seed }
    }
}

fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_secs() ^ u64::from(now.subsec_nanos()).rotate_left(32)
}

/// SplitMix64: small, seedable, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// An index below `len` (which must not be 0).
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.next_u64() % len as u64).unwrap_or(0)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }
}

/// What a node of the federation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Reports to the hub directly.
    Direct,
    /// Reports through the relay that is member `relay`.
    Affiliate { relay: usize },
    /// A regional organisation's node in relay mode; it reports its own organisation too.
    Relay,
}

impl Role {
    fn word(self) -> &'static str {
        match self {
            Role::Direct => "node",
            Role::Affiliate { .. } => "affiliate",
            Role::Relay => "relay",
        }
    }
}

/// A node of the federation: organisation, where it is, what it is, and its process.
#[derive(Debug)]
struct Member {
    org: &'static str,
    /// The region, as the view names it.
    region: &'static str,
    role: Role,
    node: NodeProcess,
}

/// Which process a trial crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Hub,
    Member(usize),
}

/// How it crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Armed at this named crash point.
    Point(&'static str),
    /// SIGKILL at a random instant.
    Kill,
}

/// The two indicators recorded: a plain count, and a sensitive count broken down by sex and
/// migrant status (each record gives both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indicator {
    Activities,
    Persons,
}

const ACTIVITIES: &str = "awareness.activities";
const PERSONS: &str = "exposure.persons_concerned";
/// The values recorded, and every value of the two dimensions (framework version 1): a breakdown
/// a report carries counts a value it does not list as a published zero, and the view shows it.
const SEXES: [&str; 2] = ["female", "male"];
const MIGRANT: [&str; 2] = ["migrant", "non_migrant"];
const SEX_VALUES: [&str; 4] = ["female", "male", "other", "unknown"];
const MIGRANT_VALUES: [&str; 3] = ["migrant", "non_migrant", "unknown"];

/// One record the harness asks a node to add.
#[derive(Debug, Clone)]
struct Rec {
    indicator: Indicator,
    date: String,
    value: u64,
    sex: &'static str,
    migrant: &'static str,
}

impl Rec {
    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "record".into(),
            "add".into(),
            "--date".into(),
            self.date.clone(),
            "--value".into(),
            self.value.to_string(),
            "--indicator".into(),
        ];
        match self.indicator {
            Indicator::Activities => args.push(ACTIVITIES.into()),
            Indicator::Persons => args.extend([
                PERSONS.into(),
                "--sex".into(),
                self.sex.into(),
                "--migrant".into(),
                self.migrant.into(),
            ]),
        }
        args
    }
}

/// One submission: a record of `period` added on member `member`, then `report submit`.
#[derive(Debug, Clone)]
struct Submission {
    member: usize,
    period: &'static str,
    rec: Rec,
}

/// What the harness asked of one (organisation, period): the records, and how many revisions
/// were submitted (each after the latest record, so the latest revision holds them all).
#[derive(Debug, Default)]
struct Asked {
    records: Vec<Rec>,
    revisions: u64,
}

/// A row of a view: (group, indicator, dimension, value).
type RowKey = (String, String, Option<String>, Option<String>);

/// A count row of a view: lo, hi, exact, how many organisations contribute.
type Count = (u64, u64, bool, u64);

/// How often a (crash point or SIGKILL, kind of process) was tried and hit.
#[derive(Debug, Default)]
struct Tally {
    rows: BTreeMap<(String, &'static str), (u32, u32)>,
}

impl Tally {
    fn record(&mut self, what: &str, role: &'static str, hit: bool) {
        let row = self.rows.entry((what.to_owned(), role)).or_default();
        row.0 += 1;
        row.1 += u32::from(hit);
    }

    fn hits_of(&self, what: &str) -> u32 {
        self.rows
            .iter()
            .filter(|((w, _), _)| w == what)
            .map(|(_, (_, hits))| hits)
            .sum()
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<28} {:<10} {:>6} {:>6} {:>8}",
            "CRASH", "PROCESS", "TRIALS", "HIT", "NOT HIT"
        );
        for ((what, role), (trials, hits)) in &self.rows {
            let _ = writeln!(
                out,
                "{what:<28} {role:<10} {trials:>6} {hits:>6} {:>8}",
                trials - hits
            );
        }
        out
    }
}

/// Prints the seed and how to run it again when the run fails (drops while panicking).
#[derive(Debug)]
struct RerunHint {
    config: Config,
    ignored: bool,
}

impl Drop for RerunHint {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\nfault injection FAILED with seed {seed} ({trials} trials). Run it again with:\n  \
                 {SEED_VAR}={seed} {TRIALS_VAR}={trials} cargo test -p alliance-tests --test \
                 fault_injection -- {ignored}--nocapture\n(after `cargo build --workspace --bins`)",
                seed = self.config.seed,
                trials = self.config.trials,
                ignored = if self.ignored { "--ignored " } else { "" },
            );
        }
    }
}

/// What a run found: the hit table, and how the end went.
#[derive(Debug)]
pub struct Outcome {
    pub table: String,
    pub trials: usize,
    pub revisions: u64,
    pub elapsed: Duration,
}

/// Runs the fault injection: builds the federation, runs `config.trials` trials, drains every
/// outbox and checks the invariant; panics (printing the seed) when it does not hold. `ignored`
/// says whether the calling test is `#[ignore]`d, for the rerun hint.
pub async fn run(config: Config, ignored: bool) -> Outcome {
    let hint = RerunHint { config, ignored };
    let started = Instant::now();
    println!(
        "fault injection: seed {} ({SEED_VAR}), {} trials ({TRIALS_VAR})",
        config.seed, config.trials
    );
    let mut federation = Federation::start(config.seed).await;
    println!(
        "federation up in {:.1?}: hub, {} relays, {} affiliates, {} direct nodes",
        started.elapsed(),
        federation.of_role(|r| r == Role::Relay).len(),
        federation
            .of_role(|r| matches!(r, Role::Affiliate { .. }))
            .len(),
        federation.of_role(|r| r == Role::Direct).len(),
    );
    let plan = federation.opening_plan();
    for n in 0..config.trials {
        let (target, fault) = match plan.get(n) {
            Some(&planned) => planned,
            None => federation.random_trial(),
        };
        federation.trial(n + 1, config.trials, target, fault).await;
    }
    let drained = Instant::now();
    federation.drain().await;
    println!("every outbox drained in {:.1?}", drained.elapsed());
    federation.check_invariant().await;
    let table = federation.tally.table();
    println!("\ncrash points hit (seed {}):\n{table}", config.seed);
    if config.trials >= plan.len() {
        for point in ALL_POINTS {
            assert!(
                federation.tally.hits_of(point) > 0,
                "the crash point {point} was never reached:\n{table}"
            );
        }
    }
    let revisions = federation.asked.values().map(|a| a.revisions).sum();
    federation.stop_all().await;
    let outcome = Outcome {
        table,
        trials: config.trials,
        revisions,
        elapsed: started.elapsed(),
    };
    println!(
        "fault injection passed: seed {}, {} trials, {} revisions, {:.1?}",
        config.seed, outcome.trials, outcome.revisions, outcome.elapsed
    );
    drop(hint);
    outcome
}

/// The running federation, what the harness asked of it, and the tally.
#[derive(Debug)]
struct Federation {
    hub: HubProcess,
    members: Vec<Member>,
    rng: Rng,
    asked: BTreeMap<(String, &'static str), Asked>,
    tally: Tally,
}

/// The relays: (organisation, country, region as `org add` takes it and as the view names it).
const RELAYS: [(&str, &str, &str); 2] = [("ituc-africa", "KE", "africa"), ("etuc", "BE", "europe")];
/// The affiliates: (organisation, country, index of their relay in [`RELAYS`]).
const AFFILIATES: [(&str, &str, usize); 3] = [
    ("ke-cotu", "KE", 0),
    ("ug-nou", "UG", 0),
    ("it-cgil", "IT", 1),
];
/// The nodes that report to the hub directly: (organisation, country, region).
const DIRECT: [(&str, &str, &str); 2] = [("br-cut", "BR", "americas"), ("de-dgb", "DE", "europe")];

impl Federation {
    async fn start(seed: u64) -> Federation {
        let hub = HubProcess::start().await;
        let mut members = Vec::new();
        let mut relay_addresses = Vec::new();
        for (org, country, region) in RELAYS {
            let (mut node, address) = init_relay_of(&hub, org, country, region);
            node.serve().await;
            relay_addresses.push((members.len(), address));
            members.push(Member {
                org,
                region,
                role: Role::Relay,
                node,
            });
        }
        for (org, country, relay) in AFFILIATES {
            let (relay_index, address) = &relay_addresses[relay];
            let relay_org = RELAYS[relay].0;
            let mut node = affiliate_of(&hub, org, country, RELAYS[relay].2, relay_org, address);
            node.serve().await;
            members.push(Member {
                org,
                region: RELAYS[relay].2,
                role: Role::Affiliate {
                    relay: *relay_index,
                },
                node,
            });
        }
        for (org, country, region) in DIRECT {
            let code = hub.add_org(org, "national_centre", country, region);
            let mut node = NodeProcess::new();
            node.init_ok(&code.to_string());
            node.serve().await;
            members.push(Member {
                org,
                region,
                role: Role::Direct,
                node,
            });
        }
        Federation {
            hub,
            members,
            rng: Rng::new(seed),
            asked: BTreeMap::new(),
            tally: Tally::default(),
        }
    }

    fn of_role(&self, role: impl Fn(Role) -> bool) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| role(self.members[i].role))
            .collect()
    }

    /// The trials that open every run: each named point where it fires quickly, then a SIGKILL
    /// of each kind of process.
    fn opening_plan(&self) -> Vec<(Target, Fault)> {
        let direct = self.of_role(|r| r == Role::Direct);
        let affiliates = self.of_role(|r| matches!(r, Role::Affiliate { .. }));
        let relays = self.of_role(|r| r == Role::Relay);
        let last = |v: &[usize]| v[v.len() - 1];
        vec![
            (
                Target::Member(direct[0]),
                Fault::Point(node_crash::AFTER_REVISION_STORED),
            ),
            (
                Target::Member(affiliates[0]),
                Fault::Point(node_crash::AFTER_SIGNING),
            ),
            (
                Target::Member(last(&direct)),
                Fault::Point(node_crash::AFTER_SENDING),
            ),
            (
                Target::Member(direct[0]),
                Fault::Point(node_crash::BEFORE_RECEIPT_STORED),
            ),
            // The relay mid-forward: after the hub answered, before the answer is looked at;
            // after the hub's receipt is verified, before it is stored.
            (
                Target::Member(relays[0]),
                Fault::Point(node_crash::AFTER_SENDING),
            ),
            (
                Target::Member(last(&relays)),
                Fault::Point(node_crash::BEFORE_RECEIPT_STORED),
            ),
            (
                Target::Member(relays[0]),
                Fault::Point(node_crash::RELAY_AFTER_CUSTODY_STORED),
            ),
            (Target::Hub, Fault::Point(HUB_AFTER_STORE)),
            (Target::Hub, Fault::Kill),
            (Target::Member(last(&relays)), Fault::Kill),
            (Target::Member(last(&affiliates)), Fault::Kill),
            (
                Target::Member(last(&affiliates)),
                Fault::Point(node_crash::AFTER_SENDING),
            ),
        ]
    }

    /// A trial drawn at random: a quarter SIGKILLs, the rest a point the process has.
    fn random_trial(&mut self) -> (Target, Fault) {
        let target = match self.rng.index(self.members.len() + 1) {
            0 => Target::Hub,
            i => Target::Member(i - 1),
        };
        if self.rng.range(0, 3) == 0 {
            return (target, Fault::Kill);
        }
        let point = match target {
            Target::Hub => HUB_AFTER_STORE,
            Target::Member(i) if self.members[i].role == Role::Relay => {
                *self.rng.pick(&node_crash::ALL)
            }
            Target::Member(_) => *self.rng.pick(&NODE_POINTS),
        };
        (target, Fault::Point(point))
    }

    fn name(&self, target: Target) -> String {
        match target {
            Target::Hub => "hub".to_owned(),
            Target::Member(i) => format!("{} {}", self.members[i].role.word(), self.members[i].org),
        }
    }

    fn role_word(&self, target: Target) -> &'static str {
        match target {
            Target::Hub => "hub",
            Target::Member(i) => self.members[i].role.word(),
        }
    }

    fn log(&self, target: Target) -> String {
        match target {
            Target::Hub => self.hub.log(),
            Target::Member(i) => self.members[i].node.log(),
        }
    }

    fn is_running(&mut self, target: Target) -> bool {
        match target {
            Target::Hub => self.hub.is_running(),
            Target::Member(i) => self.members[i].node.is_running(),
        }
    }

    async fn stop(&mut self, target: Target) {
        match target {
            Target::Hub => self.hub.stop().await,
            Target::Member(i) => self.members[i].node.stop().await,
        }
    }

    fn kill(&mut self, target: Target) {
        match target {
            Target::Hub => self.hub.kill(),
            Target::Member(i) => self.members[i].node.kill(),
        }
    }

    async fn serve(&mut self, target: Target) {
        match target {
            Target::Hub => self.hub.serve().await,
            Target::Member(i) => self.members[i].node.serve().await,
        }
    }

    /// Serves `target` armed at `point`; `Some(exit)` when it died before it was ready (the hub
    /// gives no exit status then, only its log: `None` inside).
    async fn serve_armed(&mut self, target: Target, point: &str) -> Option<Option<ExitStatus>> {
        let armed = format!("{point}=return");
        let env = [("FAILPOINTS", armed.as_str())];
        match target {
            Target::Hub => self.hub.serve_with_env(&env).await.err().map(|_| None),
            Target::Member(i) => self.members[i].node.serve_armed(&env).await.err().map(Some),
        }
    }

    async fn wait_exit(&mut self, target: Target) -> ExitStatus {
        match target {
            Target::Hub => self.hub.wait_exit(crate::READY_TIMEOUT).await,
            Target::Member(i) => self.members[i].node.wait_exit(crate::READY_TIMEOUT).await,
        }
    }

    /// One trial; prints what happened.
    async fn trial(&mut self, n: usize, of: usize, target: Target, fault: Fault) {
        let started = Instant::now();
        let name = self.name(target);
        let (what, hit) = match fault {
            Fault::Point(point) => (point, self.point_trial(target, point).await),
            Fault::Kill => {
                self.kill_trial(target).await;
                ("SIGKILL (random instant)", true)
            }
        };
        self.tally.record(what, self.role_word(target), hit);
        self.assert_all_running();
        println!(
            "trial {n:>3}/{of}: {name:<22} {what:<28} {} ({:.1?})",
            if hit { "hit" } else { "NOT HIT" },
            started.elapsed()
        );
    }

    /// Arms `point` in `target`, drives submissions until it dies there (or the timeout), and
    /// serves it again. Returns whether the point was reached.
    async fn point_trial(&mut self, target: Target, point: &'static str) -> bool {
        let marker = format!("crash point {point} reached");
        let before = self.log(target).matches(&marker).count();
        self.stop(target).await;
        let outbox_point =
            point == node_crash::AFTER_SENDING || point == node_crash::BEFORE_RECEIPT_STORED;
        let node_outbox = match target {
            Target::Member(i) => outbox_point && self.members[i].role != Role::Relay,
            Target::Hub => false,
        };
        if let Target::Member(i) = target
            && node_outbox
        {
            // Something for the armed outbox to send, queued while the node is stopped, so that
            // no command of its own is under way when it dies.
            let submission = self.new_submission(i);
            self.submit_here(&submission, None);
        }
        let timeout = match target {
            Target::Member(i)
                if point == node_crash::BEFORE_RECEIPT_STORED
                    && matches!(self.members[i].role, Role::Affiliate { .. }) =>
            {
                HELD_POINT_TIMEOUT
            }
            _ => POINT_TIMEOUT,
        };
        let started = Instant::now();
        let mut exit = self.serve_armed(target, point).await;
        let mut drives = 0;
        let mut last_drive: Option<Instant> = None;
        while exit.is_none() {
            if !self.is_running(target) {
                exit = Some(Some(self.wait_exit(target).await));
                break;
            }
            if started.elapsed() > timeout {
                break;
            }
            let due = last_drive.is_none_or(|at| at.elapsed() >= DRIVE_EVERY);
            if !node_outbox && drives < MAX_DRIVES && due {
                drives += 1;
                last_drive = Some(Instant::now());
                self.drive(target, point).await;
                continue;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        let hit = match exit {
            Some(exit) => {
                if let Some(exit) = exit {
                    assert!(!exit.success(), "{} exited with {exit}", self.name(target));
                }
                let after = self.log(target).matches(&marker).count();
                assert!(
                    after > before,
                    "the {} died, but not at its crash point {point}; its log:\n{}",
                    self.name(target),
                    tail(&self.log(target))
                );
                true
            }
            None => {
                // Not reached in time. SIGKILL rather than SIGTERM: the armed point could fire
                // during a graceful shutdown.
                self.kill(target);
                false
            }
        };
        self.serve(target).await;
        hit
    }

    /// One submission that reaches `point` armed in `target`.
    async fn drive(&mut self, target: Target, point: &str) {
        let member = match target {
            Target::Hub => self.rng.index(self.members.len()),
            Target::Member(i)
                if point == node_crash::AFTER_REVISION_STORED
                    || point == node_crash::AFTER_SIGNING =>
            {
                i
            }
            // The relay's outbox and intake: an affiliate of it submits.
            Target::Member(i) => *self
                .rng
                .pick(&self.of_role(|r| r == Role::Affiliate { relay: i })),
        };
        let submission = self.new_submission(member);
        let in_command = Target::Member(member) == target;
        self.submit_here(&submission, in_command.then_some(point));
        if in_command {
            // The command failed when the node died in it; wait for its exit to be seen.
            let node = &mut self.members[member].node;
            let started = Instant::now();
            while node.is_running() && started.elapsed() < Duration::from_secs(2) {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
    }

    /// Kills `target` at a random instant while submissions flow through it, and serves it
    /// again.
    async fn kill_trial(&mut self, target: Target) {
        match target {
            Target::Member(i) if self.members[i].role != Role::Relay => {
                // Its own submissions returned; the kill lands while its outbox pushes them.
                for _ in 0..self.rng.range(1, 2) {
                    let submission = self.new_submission(i);
                    self.submit_here(&submission, None);
                }
                let delay = self.rng.millis(0, 400);
                tokio::time::sleep(delay).await;
                self.kill(target);
                self.serve(target).await;
            }
            _ => {
                // Submissions from other nodes go through it from another thread.
                let through: Vec<usize> = match target {
                    Target::Member(i) => self.of_role(|r| r == Role::Affiliate { relay: i }),
                    Target::Hub => (0..self.members.len()).collect(),
                };
                let count = self.rng.range(2, 4);
                let submissions: Vec<Submission> = (0..count)
                    .map(|_| {
                        let member = *self.rng.pick(&through);
                        self.new_submission(member)
                    })
                    .collect();
                let dirs: Vec<PathBuf> = self
                    .members
                    .iter()
                    .map(|m| m.node.data_dir().to_owned())
                    .collect();
                let background = submissions.clone();
                let thread = std::thread::spawn(move || {
                    background
                        .iter()
                        .map(|s| run_submission(&dirs[s.member], s))
                        .collect::<Vec<_>>()
                });
                let delay = self.rng.millis(0, 1000);
                let down = self.rng.millis(0, 300);
                tokio::time::sleep(delay).await;
                self.kill(target);
                tokio::time::sleep(down).await;
                self.serve(target).await;
                let runs = thread.join().expect("the submitting thread");
                for (submission, (add, submit)) in submissions.iter().zip(runs) {
                    self.note(submission, &add, &submit, false);
                }
            }
        }
    }

    /// A new record for member `member`, of a random period, with a random value of at least
    /// the threshold.
    fn new_submission(&mut self, member: usize) -> Submission {
        let period = *self.rng.pick(&PERIODS);
        let indicator = if self.rng.range(0, 1) == 0 {
            Indicator::Activities
        } else {
            Indicator::Persons
        };
        let date = format!(
            "{period}-{:02}-{:02}",
            self.rng.range(1, 12),
            self.rng.range(1, 28)
        );
        let rec = Rec {
            indicator,
            date,
            value: self.rng.range(THRESHOLD, MAX_VALUE),
            sex: SEXES[self.rng.index(SEXES.len())],
            migrant: MIGRANT[self.rng.index(MIGRANT.len())],
        };
        Submission {
            member,
            period,
            rec,
        }
    }

    /// Runs a submission from this thread. `in_command` names the point armed in that very node
    /// that the command itself may reach (`after-revision-stored`, `after-signing`).
    fn submit_here(&mut self, submission: &Submission, in_command: Option<&str>) {
        let node = &self.members[submission.member].node;
        let marker = in_command.map(|point| format!("crash point {point} reached"));
        let reached = |node: &NodeProcess| {
            marker
                .as_ref()
                .map_or(0, |m| node.log().matches(m.as_str()).count())
        };
        let before = reached(node);
        let (add, submit) = run_submission(node.data_dir(), submission);
        let died_there = reached(node) > before;
        self.note(submission, &add, &submit, died_there);
    }

    /// Notes what a submission did in what the harness asked; panics when a command failed
    /// other than by the node dying at the point armed for the command (`died_there`), which
    /// comes after the revision is stored.
    fn note(&mut self, submission: &Submission, add: &Run, submit: &Run, died_there: bool) {
        let member = &self.members[submission.member];
        assert!(
            add.success(),
            "record add on {} failed: {add:?}\nits log:\n{}",
            member.org,
            tail(&member.node.log())
        );
        let asked = self
            .asked
            .entry((member.org.to_owned(), submission.period))
            .or_default();
        asked.records.push(submission.rec.clone());
        asked.revisions += 1;
        if submit.success() {
            let (revision, _) = parse_queued(&submit.stdout)
                .unwrap_or_else(|| panic!("report submit printed no revision: {submit:?}"));
            assert_eq!(
                revision,
                asked.revisions,
                "{} {}: the node gave out revision {revision}, the harness asked for the \
                 revision after {} ({submit:?})",
                member.org,
                submission.period,
                asked.revisions - 1
            );
            return;
        }
        assert!(
            died_there,
            "report submit on {} failed: {submit:?}\nits log:\n{}",
            member.org,
            tail(&member.node.log())
        );
    }

    /// Panics unless every process runs: only a trial's target may die, and it is served again.
    fn assert_all_running(&mut self) {
        assert!(
            self.hub.is_running(),
            "the hub died unexpectedly; its log:\n{}",
            tail(&self.hub.log())
        );
        for member in &mut self.members {
            assert!(
                member.node.is_running(),
                "{} {} died unexpectedly; its log:\n{}",
                member.role.word(),
                member.org,
                tail(&member.node.log())
            );
        }
    }

    /// Waits until every node holds every revision it was asked for, decided, and every relay
    /// decided everything it took.
    async fn drain(&self) {
        for member in &self.members {
            let org = member.org;
            let own: u64 = self
                .asked
                .iter()
                .filter(|((o, _), _)| o == org)
                .map(|(_, a)| a.revisions)
                .sum();
            let relayed: u64 = match member.role {
                Role::Relay => self
                    .members
                    .iter()
                    .filter(|m| matches!(m.role, Role::Affiliate { relay } if self.members[relay].org == org))
                    .flat_map(|m| {
                        self.asked
                            .iter()
                            .filter(move |((o, _), _)| o == m.org)
                            .map(|(_, a)| a.revisions)
                    })
                    .sum(),
                _ => 0,
            };
            let is_relay = member.role == Role::Relay;
            member
                .node
                .wait_for(
                    |s| {
                        let reports = own_reports(s, org);
                        reports.len() as u64 == own
                            && reports.iter().all(|r| r["state"] == "decided")
                            && (!is_relay
                                || (s["relayed"]["pending"] == 0
                                    && s["relayed"]["decided"] == relayed))
                    },
                    DRAIN_TIMEOUT,
                )
                .await;
        }
    }

    /// The invariant (see the module's documentation).
    async fn check_invariant(&mut self) {
        for member in &self.members {
            let status = member.node.status_json();
            if member.role == Role::Relay {
                assert_eq!(status["relayed"]["set_aside"], 0, "{status:#}");
            }
            let reports = own_reports(&status, member.org);
            for period in PERIODS {
                let asked = self
                    .asked
                    .get(&(member.org.to_owned(), period))
                    .map_or(0, |a| a.revisions);
                let mut held: Vec<&Value> =
                    reports.iter().filter(|r| r["period"] == period).collect();
                held.sort_by_key(|r| r["revision"].as_u64());
                let revisions: Vec<u64> =
                    held.iter().filter_map(|r| r["revision"].as_u64()).collect();
                let expected: Vec<u64> = (1..=asked).collect();
                assert_eq!(
                    revisions, expected,
                    "{} {period}: the node holds other revisions than the harness asked for:\n{status:#}",
                    member.org
                );
                let ids: BTreeSet<&str> = held
                    .iter()
                    .filter_map(|r| r["report_id"].as_str())
                    .collect();
                assert_eq!(
                    ids.len(),
                    held.len(),
                    "a report id appears twice:\n{status:#}"
                );
                for report in held {
                    self.check_report(member, period, report, asked).await;
                }
            }
        }
        self.check_views("the hub's view");
        let audit = self.hub.audit_json();
        assert_eq!(
            audit["refusals_total"], 0,
            "the hub refused something: {audit:#}"
        );
        // The ledger rebuilt from the store shows the same.
        self.hub.kill();
        self.hub.serve().await;
        self.check_views("the hub's view after a restart (rebuilt from the store)");
    }

    /// One revision as a node shows it, and as the hub holds it.
    async fn check_report(&self, member: &Member, period: &str, report: &Value, latest: u64) {
        let revision = report["revision"].as_u64().unwrap_or(0);
        let what = format!("{} {period} revision {revision}", member.org);
        assert_eq!(report["state"], "decided", "{what}: {report:#}");
        let outcome = report["receipt"]["outcome"].as_str().unwrap_or("");
        // A node that sent a report again after a crash keeps the hub's `duplicate` answer if
        // it cannot fetch the first one's receipt; the hub's own record is checked below.
        assert!(
            ["accepted", "superseded", "duplicate"].contains(&outcome),
            "{what}: the node shows outcome {outcome:?}: {report:#}"
        );
        if let Role::Affiliate { relay } = member.role {
            assert_eq!(
                report["custody_receipt"]["relay"], self.members[relay].org,
                "{what}: no custody receipt of its relay: {report:#}"
            );
        }
        let id = report["report_id"].as_str().unwrap_or("");
        let stored = self
            .hub
            .get_receipt(unhex(id))
            .await
            .unwrap_or_else(|e| panic!("{what}: the hub does not hold it: {e:?}"));
        let receipt = self.hub.open_receipt(&stored);
        assert_eq!(
            (
                receipt.org.to_string(),
                receipt.period.to_string(),
                receipt.revision
            ),
            (member.org.to_owned(), period.to_owned(), revision),
            "{what}: the hub's receipt is of another report"
        );
        let expected = if revision == latest {
            vec![OutcomeKind::Accepted]
        } else {
            vec![OutcomeKind::Accepted, OutcomeKind::Superseded]
        };
        assert!(
            expected.contains(&receipt.outcome.kind),
            "{what}: the hub decided {:?} (the latest revision is {latest}): {receipt:?}",
            receipt.outcome.kind
        );
        if revision == latest {
            assert_eq!(
                receipt.outcome.winning_revision, latest,
                "{what}: {receipt:?}"
            );
        }
    }

    /// Compares the hub's view of every period by organisation, region and alliance with the
    /// view the harness expects.
    fn check_views(&self, what: &str) {
        for period in PERIODS {
            for by in ["org", "region", "alliance"] {
                let view = self.hub.view_json(period, by);
                let equivocations = crate::view::equivocations(&view);
                assert!(
                    equivocations.is_empty(),
                    "{what} flags equivocations: {view:#}"
                );
                let shown = view_rows(&view);
                let expected = self.expected_rows(period, by);
                if shown != expected {
                    panic!(
                        "{what} of {period} by {by} is not the one the submissions call for:\n{}",
                        diff(&expected, &shown)
                    );
                }
            }
        }
    }

    /// The view the harness expects, from what it asked each node to record and submit: the
    /// latest revision of each (organisation, period) holds all its records, with both
    /// breakdowns of exposure.persons_concerned (every record gives both), every value of their
    /// dimensions shown (0 where no record gives it); a group's count is the sum of its
    /// organisations', exact (nothing is withheld), and names how many contribute.
    fn expected_rows(&self, period: &str, by: &str) -> BTreeMap<RowKey, Count> {
        let mut sums: BTreeMap<RowKey, (u64, BTreeSet<&str>)> = BTreeMap::new();
        for member in &self.members {
            let Some(asked) = self.asked.get(&(member.org.to_owned(), period)) else {
                continue;
            };
            if asked.revisions == 0 {
                continue;
            }
            let group = match by {
                "org" => member.org,
                "region" => member.region,
                _ => "alliance",
            };
            let mut add = |indicator: &str, cell: Option<(&str, &str)>, value: u64| {
                let key = (
                    group.to_owned(),
                    indicator.to_owned(),
                    cell.map(|c| c.0.to_owned()),
                    cell.map(|c| c.1.to_owned()),
                );
                let entry = sums.entry(key).or_default();
                entry.0 += value;
                entry.1.insert(member.org);
            };
            if asked
                .records
                .iter()
                .any(|r| r.indicator == Indicator::Persons)
            {
                for sex in SEX_VALUES {
                    add(PERSONS, Some(("sex", sex)), 0);
                }
                for migrant in MIGRANT_VALUES {
                    add(PERSONS, Some(("migrant_status", migrant)), 0);
                }
            }
            for rec in &asked.records {
                match rec.indicator {
                    Indicator::Activities => add(ACTIVITIES, None, rec.value),
                    Indicator::Persons => {
                        add(PERSONS, None, rec.value);
                        add(PERSONS, Some(("sex", rec.sex)), rec.value);
                        add(PERSONS, Some(("migrant_status", rec.migrant)), rec.value);
                    }
                }
            }
        }
        sums.into_iter()
            .map(|(key, (sum, orgs))| (key, (sum, sum, true, orgs.len() as u64)))
            .collect()
    }

    async fn stop_all(&mut self) {
        for member in &mut self.members {
            member.node.stop().await;
        }
        self.hub.stop().await;
    }
}

/// The reports of `org` in a node's `status --json`.
fn own_reports(status: &Value, org: &str) -> Vec<Value> {
    status["organisations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["org"] == org)
        .flat_map(|o| o["reports"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Every row of a `view --json` as (key → count); a row that is not a count is a failure.
fn view_rows(view: &Value) -> BTreeMap<RowKey, Count> {
    crate::view::rows(view)
        .iter()
        .map(|row| {
            assert_eq!(row["kind"], "count", "a row that is not a count: {row:#}");
            let text = |v: &Value| v.as_str().map(str::to_owned);
            let key = (
                text(&row["group"]).unwrap_or_default(),
                text(&row["indicator"]).unwrap_or_default(),
                text(&row["dimension"]),
                text(&row["value"]),
            );
            let count = &row["count"];
            let number = |v: &Value| {
                v.as_u64()
                    .unwrap_or_else(|| panic!("not a number in the row {row:#}"))
            };
            (
                key,
                (
                    number(&count["lo"]),
                    number(&count["hi"]),
                    count["exact"] == true,
                    number(&row["organisations"]),
                ),
            )
        })
        .collect()
}

/// The rows that differ between the expected and the shown view.
fn diff(expected: &BTreeMap<RowKey, Count>, shown: &BTreeMap<RowKey, Count>) -> String {
    let mut out = String::from("row: expected (lo, hi, exact, organisations) / shown\n");
    let keys: BTreeSet<&RowKey> = expected.keys().chain(shown.keys()).collect();
    for key in keys {
        let (e, s) = (expected.get(key), shown.get(key));
        if e != s {
            let _ = writeln!(out, "  {key:?}: {e:?} / {s:?}");
        }
    }
    out
}

/// The end of a long log.
fn tail(log: &str) -> &str {
    const KEEP: usize = 12_000;
    if log.len() <= KEEP {
        return log;
    }
    let mut start = log.len() - KEEP;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// `alliance-node ARGS --data DIR`, with no FAILPOINTS: the command's own process arms
/// nothing.
fn node_cli(data: &Path, args: &[String]) -> Run {
    let output = Command::new(Binary::Node.path())
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::null())
        .env_remove("RUST_BACKTRACE")
        .env_remove("FAILPOINTS")
        .output()
        .unwrap_or_else(|e| panic!("could not start alliance-node: {e}"));
    Run::from(output)
}

/// `record add` then `report submit` on the node in `data`; the submit is only run when the
/// record was added.
fn run_submission(data: &Path, submission: &Submission) -> (Run, Run) {
    let add = node_cli(data, &submission.rec.args());
    if !add.success() {
        let skipped = Run {
            code: None,
            stdout: String::new(),
            stderr: "not run: record add failed".to_owned(),
        };
        return (add, skipped);
    }
    let submit = node_cli(
        data,
        &[
            "report".into(),
            "submit".into(),
            "--period".into(),
            submission.period.into(),
        ],
    );
    (add, submit)
}
