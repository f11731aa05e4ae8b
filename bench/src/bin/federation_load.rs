//! `federation_load`: the whole federation under load, as real processes, with the hub killed
//! and started again half-way: it checks that no report is lost or counted twice, and samples
//! every daemon's memory over the run so that whether it stays bounded can be judged.
//!
//! Run it with `cargo build --release --workspace --bins && ./target/release/federation_load`.
//! It runs the release `alliance-hub` and `alliance-node` that lie beside it.
//!
//! What runs where (all on loopback, with TLS, data directories under `target/bench-tmp`, which
//! must be a real disk):
//! - The hub: an `alliance-hub` process (`init`, then `serve`).
//! - `--relays` relays: `alliance-node` processes. Each regional organisation is registered with
//!   `alliance-hub org add --kind regional_organisation`, enrolled with `alliance-node init
//!   --relay --join CODE --listen ... --public-addr ...` and started with `alliance-node serve`.
//!   Their `node.toml` is left as `init` wrote it.
//! - `--nodes` simulated affiliate nodes, in this process: each is its own national centre with
//!   its own Ed25519 key, registered `--via` a relay (round robin) in one `ImportOrganisations`
//!   call on the hub's admin socket, enrolled with its join code through its relay's
//!   `HubService.Enroll` (as a real node does), and holding its own TLS connection to its relay.
//! - A reference set of organisations (a tenth of the nodes, at least `--in-flight` of them,
//!   registered without a relay and enrolled at the hub) whose reports go to the hub directly.
//!
//! The run, in order:
//! 1. Signing, not timed: `--reports` reports, `--reports / (--nodes × --periods)` revisions of
//!    each (organisation, period), built by `fixture.rs` (about 40 values each; the values
//!    differ with every revision), and the reference's reports for later periods.
//! 2. Setup, not timed: hub, relays, registration, enrollment, then a pause so that the hub's
//!    signed registry (re-signed at most once a second above 1,000 organisations) names every
//!    key before the relays fetch it.
//! 3. Reference: the reference organisations push their reports to the hub itself, one
//!    `Submit` per report, in order per organisation, with `--in-flight` calls in flight overall:
//!    the hub's direct ingest rate on this machine in this run. Speeds below are also given as
//!    ratios to it.
//! 4. Load: every simulated node submits its revisions in order (revision by revision, each
//!    over all periods) to its relay with `Submit`, `--in-flight` calls in flight overall, and
//!    needs the relay's custody receipt for each before it sends the next; UNAVAILABLE and the
//!    other transient statuses are retried after a short backoff. When `--restart-at` of the
//!    reports have been handed to relays, the hub is killed with SIGKILL and `alliance-hub
//!    serve` is started again on the same data directory and port; the nodes go on pushing to
//!    their relays meanwhile.
//! 5. Drain: once every report is handed over, the hub is asked (every half second) for the
//!    report each relay took last; once it holds it, that relay's status is read on its admin
//!    socket (every half second) until its outbox holds nothing and it counts every relayed
//!    report decided, or until `--drain-timeout` runs out. (A relay's outbox retries the hub
//!    after a backoff that grows with each failed round, and every report an affiliate hands it
//!    starts a round: when the intake ends while the hub is down or soon after, the drain waits
//!    for that backoff, up to the relay's `[outbox] max_backoff_seconds`, 300 by default.)
//! 6. Checks (the run exits 1 if any fails):
//!    - every custody receipt verifies under its relay's key in the hub's signed registry and
//!      names the report, the relay, the organisation and the revision;
//!    - `GetReceipt` at the hub (over TLS) for every report id gives a receipt that verifies
//!      under the hub key (as `alliance_node::upstream::open_receipt` does): the highest
//!      revision of each (organisation, period) `accepted`, every other `accepted` or
//!      `superseded`; none missing (0 lost);
//!    - `GetWinningRevision` of each (organisation, period) names its highest revision;
//!    - the relays count every relayed report decided, none pending, none set aside;
//!    - the hub's view (`QueryService.View` on its admin socket) of each period equals, cell by
//!      cell, the view this program computes from the values it signed of each winner
//!      (`federation_view.rs`): every count total and breakdown cell, flag, amount and
//!      convention status of the alliance (0 counted twice); and it shows no equivocation;
//!    - after the hub is stopped (SIGTERM), its database holds exactly the reports sent (those
//!      of the load and of the reference), each once, none other. (The hub's in-memory view
//!      generation starts again at 0 on every start, so the stored count stands in for it.)
//! 7. Memory: the resident set (`VmRSS`) of the hub (whichever incarnation runs), of each relay
//!    and of this process is sampled every second, and taken when 25, 50, 75 and 100 % of the
//!    reports have been handed over and when the relays have drained; the peak (`VmHWM`) of each
//!    hub incarnation is read just before it is killed or stopped, that of each relay before it
//!    is stopped.
//!
//! Everything shares the machine: the hub, the relays and this process (signing is done before
//! anything is timed, but the simulated nodes' TLS and gRPC work is not free), so the figures
//! are for the federation on one machine, and the CPU seconds of each process are printed with
//! them. Progress goes to stderr; the summary (or, with `--json`, one JSON document) to stdout.

// The JSON document is one `json!` literal, deeper than the default limit lets it expand.
#![recursion_limit = "256"]

#[path = "../disk.rs"]
#[allow(dead_code)]
mod disk;
#[path = "../federation.rs"]
mod federation;
#[path = "../federation_view.rs"]
mod federation_view;
#[path = "../fixture.rs"]
#[allow(dead_code)]
mod fixture;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alliance_core::receipt::{OutcomeKind, ReportId};
use alliance_daemon::{client, tls};
use alliance_envelope::{Envelope, JoinCode, SigningKey, payload_type, sign, verify_pinned};
use alliance_proto::pb::hub_admin_service_client::HubAdminServiceClient;
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::pb::node_admin_service_client::NodeAdminServiceClient;
use alliance_proto::pb::query_service_client::QueryServiceClient;
use alliance_proto::status::is_transient;
use alliance_proto::{EnrollProof, pb};
use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use futures::StreamExt;
use rustls::ClientConfig;
use serde_json::{Value as Json, json};
use tokio::sync::{Notify, Semaphore};
use tonic::transport::Channel;

use federation::{Binaries, Daemon, ProcStat, mib};
use federation_view::Expected;

/// How long a daemon may take to answer after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a daemon may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Longer than the hub's signed registry may lag its changes (a second above 1,000
/// organisations), so that the relays fetch one naming every enrolled key.
const REGISTRY_LAG: Duration = Duration::from_secs(2);
/// How long one call may take before it counts as a transient failure and is made again.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one report may be retried before the run is called off.
const CALL_GIVE_UP: Duration = Duration::from_secs(600);
/// The first and the longest wait before a call is made again.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The fewest reports of the reference unless `--reference-reports` says otherwise.
const MIN_REFERENCE: usize = 5000;
/// Calls in flight while enrolling and while checking.
const SETUP_IN_FLIGHT: usize = 16;
const CHECK_IN_FLIGHT: usize = 64;
/// Connections to the hub for the checks.
const CHECK_CONNECTIONS: usize = 4;
/// How often memory is sampled, and how often the relays are asked whether they have drained.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
const DRAIN_POLL: Duration = Duration::from_millis(500);
/// The largest answer taken from the hub (a registry of a large alliance is megabytes).
const MAX_ANSWER: usize = 256 * 1024 * 1024;
/// The relays' homes: country and region, in turn.
const RELAY_HOMES: [(&str, &str); 4] = [
    ("KE", "africa"),
    ("BR", "americas"),
    ("JP", "asia_pacific"),
    ("DE", "europe"),
];
/// The phases the samples are tagged with.
const PHASES: [&str; 5] = ["setup", "reference", "load", "drain", "checks"];

/// The federation under load: the hub and its relays as real processes, simulated nodes in
/// this process, the hub killed and started again half-way; checks that nothing was lost or
/// counted twice and samples memory.
#[derive(Debug, Parser)]
struct Args {
    /// Reports in all; a multiple of --nodes × --periods.
    #[arg(long, default_value_t = 100_000)]
    reports: usize,
    /// Simulated nodes, each its own organisation and key.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Relays (alliance-node processes); the nodes are spread over them in turn.
    #[arg(long, default_value_t = 4)]
    relays: usize,
    /// Periods (years) each node reports for; the rest are revisions.
    #[arg(long, default_value_t = 4)]
    periods: usize,
    /// Submit calls in flight overall, over all nodes.
    #[arg(long, default_value_t = 128)]
    in_flight: usize,
    /// Reports for the hub's direct ingest reference, rounded up to a whole number of revisions
    /// per organisation and period [default: a tenth of --reports, at least 5,000].
    #[arg(long)]
    reference_reports: Option<usize>,
    /// The share of the reports handed to relays after which the hub is killed and restarted.
    #[arg(long, default_value_t = 0.5)]
    restart_at: f64,
    /// Seconds the relays may take to drain after the last report was handed over.
    #[arg(long, default_value_t = 900)]
    drain_timeout: u64,
    /// Where the data directories go; must be on a real disk, not tmpfs [default:
    /// target/bench-tmp in the workspace].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON document instead of the summary.
    #[arg(long)]
    json: bool,
    /// Keep the data directories and logs.
    #[arg(long)]
    keep: bool,
    /// The hub's sled cache in MiB (`[store] cache_capacity_bytes` in hub.toml) [default: what
    /// `alliance-hub init` writes].
    #[arg(long)]
    hub_cache_mib: Option<u64>,
}

/// The sizes of the run, derived from the arguments.
#[derive(Debug, Clone, Copy)]
struct Plan {
    reports: usize,
    nodes: usize,
    relays: usize,
    periods: usize,
    /// Revisions of each (node, period).
    revisions: usize,
    in_flight: usize,
    /// Reports handed to relays when the hub is killed.
    restart_after: usize,
    reference_orgs: usize,
    reference_revisions: usize,
    /// The hub's sled cache, if not init's default.
    hub_cache_bytes: Option<u64>,
}

impl Plan {
    fn of(args: &Args) -> Result<Plan> {
        if args.nodes == 0 || args.relays == 0 || args.periods == 0 || args.in_flight == 0 {
            bail!("--nodes, --relays, --periods and --in-flight must be at least 1");
        }
        if args.relays > args.nodes {
            bail!(
                "--relays ({}) exceeds --nodes ({})",
                args.relays,
                args.nodes
            );
        }
        let per_revision = args.nodes * args.periods;
        if args.reports == 0 || !args.reports.is_multiple_of(per_revision) {
            bail!(
                "--reports ({}) must be a positive multiple of --nodes × --periods ({per_revision}): \
                 every (node, period) gets the same number of revisions",
                args.reports
            );
        }
        if !(args.restart_at > 0.0 && args.restart_at < 1.0) {
            bail!("--restart-at must lie strictly between 0 and 1");
        }
        // As many organisations as calls in flight, each sending in order, so that the
        // reference has as many calls in flight as the load.
        let reference_orgs = (args.nodes / 10).max(args.in_flight);
        // Long enough to be timed well on a small run too.
        let reference = args
            .reference_reports
            .unwrap_or((args.reports / 10).max(MIN_REFERENCE));
        let reference_revisions = reference.div_ceil(reference_orgs * args.periods).max(1);
        Ok(Plan {
            reports: args.reports,
            nodes: args.nodes,
            relays: args.relays,
            periods: args.periods,
            revisions: args.reports / per_revision,
            in_flight: args.in_flight,
            restart_after: ((args.reports as f64 * args.restart_at) as usize)
                .clamp(1, args.reports),
            reference_orgs,
            reference_revisions,
            hub_cache_bytes: args.hub_cache_mib.map(|mib| mib * 1024 * 1024),
        })
    }

    fn reference_reports(&self) -> usize {
        self.reference_orgs * self.periods * self.reference_revisions
    }

    /// The item of report `g` of the load: node-major, then revision, then period, so that
    /// each node's reports are one run of `periods × revisions`, in the order it sends them.
    fn item(&self, g: usize) -> Result<fixture::Item> {
        let per_node = self.periods * self.revisions;
        let within = g % per_node;
        Ok(fixture::Item {
            org: g / per_node,
            period: fixture::period(within % self.periods)?,
            revision: (within / self.periods + 1) as u64,
        })
    }

    /// The index of the report of (`node`, `period`, `revision`).
    fn index(&self, node: usize, period: usize, revision: usize) -> usize {
        node * self.periods * self.revisions + (revision - 1) * self.periods + period
    }
}

fn main() -> ExitCode {
    match main_inner() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("federation_load: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark; `Ok(false)` when it ran but a check failed.
fn main_inner() -> Result<bool> {
    let args = Args::parse();
    let plan = Plan::of(&args)?;
    let binaries = Binaries::beside_self()?;
    tls::install_crypto_provider();
    let disk::RunDir {
        dir,
        mount_point,
        fs_type,
    } = disk::run_dir(args.dir.as_deref())?;
    eprintln!(
        "federation_load: {} reports from {} nodes ({} periods × {} revisions) through {} relays, \
         hub restarted after {}; reference {} reports from {} organisations; data in {} ({fs_type} at {})",
        plan.reports,
        plan.nodes,
        plan.periods,
        plan.revisions,
        plan.relays,
        plan.restart_after,
        plan.reference_reports(),
        plan.reference_orgs,
        dir.path().display(),
        mount_point.display()
    );
    if let Some(bytes) = plan.hub_cache_bytes {
        eprintln!("the hub's sled cache: {} MiB", bytes / (1024 * 1024));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(run(&plan, &binaries, dir.path(), args.drain_timeout));
    // The daemons are stopped by now (or killed when `run` failed): the directory can go.
    let outcome = match outcome {
        Ok(measured) => measured,
        Err((error, logs)) => {
            for log in logs {
                eprintln!(
                    "--- the last lines of {}:\n{}",
                    log.display(),
                    federation::log_tail(&log, 20)
                );
            }
            if args.keep {
                eprintln!("kept {}", dir.keep().display());
            }
            return Err(error);
        }
    };
    if args.keep {
        eprintln!("kept {}", dir.keep().display());
    }
    let machine = json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": federation::cpu_model(),
        "filesystem": fs_type,
        "mount_point": mount_point.display().to_string(),
    });
    let passed = outcome.checks.iter().all(|c| c.passed);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome.to_json(&plan, machine))?
        );
    } else {
        outcome.print(&plan, &machine);
    }
    Ok(passed)
}

/// One check and whether it passed.
#[derive(Debug, Clone)]
struct Check {
    name: &'static str,
    passed: bool,
    detail: String,
}

/// Memory (and CPU) of every daemon at one moment.
#[derive(Debug, Clone)]
struct Snapshot {
    /// Since the load began.
    t_s: f64,
    phase: &'static str,
    handed: usize,
    hub: Option<ProcStat>,
    relays: Vec<Option<ProcStat>>,
    bench: Option<ProcStat>,
}

impl Snapshot {
    fn take(watch: &Watch) -> Snapshot {
        let hub = match watch.hub_pid.load(Ordering::SeqCst) {
            0 => None,
            pid => ProcStat::of(pid),
        };
        Snapshot {
            t_s: watch.since_load(),
            phase: PHASES
                .get(watch.phase.load(Ordering::SeqCst))
                .copied()
                .unwrap_or("?"),
            handed: watch.handed.load(Ordering::SeqCst),
            hub,
            relays: watch.relay_pids.iter().map(|p| ProcStat::of(*p)).collect(),
            bench: ProcStat::of(std::process::id()),
        }
    }

    fn to_json(&self) -> Json {
        json!({
            "t_s": self.t_s,
            "phase": self.phase,
            "handed": self.handed,
            "hub_rss_kib": self.hub.map(|s| s.rss_kib),
            "hub_cpu_s": self.hub.map(|s| s.cpu_seconds()),
            "relays_rss_kib": self.relays.iter().map(|r| r.map(|s| s.rss_kib)).collect::<Vec<_>>(),
            "relays_cpu_s": self.relays.iter().map(|r| r.map(|s| s.cpu_seconds())).collect::<Vec<_>>(),
            "bench_rss_kib": self.bench.map(|s| s.rss_kib),
        })
    }

    fn line(&self) -> String {
        let rss = |s: &Option<ProcStat>| {
            s.map_or("down".to_owned(), |s| format!("{:.0}", mib(s.rss_kib)))
        };
        format!(
            "t={:>6.1}s handed {:>7}  hub {:>5} MiB  relays {} MiB  bench {} MiB",
            self.t_s,
            self.handed,
            rss(&self.hub),
            self.relays.iter().map(rss).collect::<Vec<_>>().join("/"),
            rss(&self.bench)
        )
    }
}

/// What the sampler and the milestones read, shared with the load.
#[derive(Debug)]
struct Watch {
    /// The running hub's process id; 0 while it is down.
    hub_pid: AtomicU32,
    relay_pids: Vec<u32>,
    /// Reports the relays have given custody receipts for.
    handed: AtomicUsize,
    /// An index into [`PHASES`].
    phase: AtomicUsize,
    stop: AtomicBool,
    /// When the load began; the samples are timed from it (negative before).
    load_start: Mutex<Option<Instant>>,
    created: Instant,
}

impl Watch {
    fn since_load(&self) -> f64 {
        let start = self.load_start.lock().ok().and_then(|s| *s);
        match start {
            Some(start) => {
                let now = Instant::now();
                if now >= start {
                    (now - start).as_secs_f64()
                } else {
                    -(start - now).as_secs_f64()
                }
            }
            None => -(self.created.elapsed().as_secs_f64()),
        }
    }

    fn set_phase(&self, phase: &str) {
        if let Some(i) = PHASES.iter().position(|p| *p == phase) {
            self.phase.store(i, Ordering::SeqCst);
        }
    }
}

/// Samples every daemon's memory every second until told to stop, printing a line to stderr
/// every ten.
fn spawn_sampler(watch: Arc<Watch>) -> std::thread::JoinHandle<Vec<Snapshot>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut next = Instant::now();
        while !watch.stop.load(Ordering::SeqCst) {
            if Instant::now() >= next {
                let s = Snapshot::take(&watch);
                if out.len() % 10 == 0 {
                    eprintln!("  {:<9} {}", s.phase, s.line());
                }
                out.push(s);
                next += SAMPLE_EVERY;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        out
    })
}

/// A relay: its organisation, data directory, address, the TLS its clients use, and its
/// process.
#[derive(Debug)]
struct Relay {
    id: String,
    dir: PathBuf,
    address: String,
    tls: Arc<ClientConfig>,
    ca_fingerprint: [u8; 32],
    daemon: Daemon,
}

/// The hub as its clients see it.
#[derive(Debug, Clone)]
struct HubSide {
    dir: PathBuf,
    address: String,
    tls: Arc<ClientConfig>,
    key: [u8; 32],
}

/// Everything the run measured and checked.
#[derive(Debug, Default)]
struct Outcome {
    load_average_start: String,
    load_average_end: String,
    /// The whole run: signing, setup, load, drain and checks.
    wall_s: f64,
    signing_s: f64,
    setup_s: f64,
    reference_s: f64,
    intake_s: f64,
    /// From the start of the load until every relay had drained.
    total_s: f64,
    /// From the SIGKILL until the new hub answered.
    hub_down_s: f64,
    /// From the SIGKILL until the new process was started, and from then until it answered.
    hub_respawn_s: f64,
    hub_open_s: f64,
    /// Load time of the kill, and reports handed over by then.
    killed_at_s: f64,
    handed_at_kill: usize,
    /// From the new hub's first answer until every relay had drained, and per relay.
    drained_after_restart_s: f64,
    drained_after_restart_by_relay_s: Vec<f64>,
    /// From the last report handed over until every relay had drained.
    drained_after_intake_s: f64,
    retries: BTreeMap<String, u64>,
    /// Peak RSS and CPU of the first hub (at its kill), the second (at its stop) and each relay
    /// (at its stop), and of this process at the end.
    hub_first: Option<ProcStat>,
    hub_second: Option<ProcStat>,
    relays_final: Vec<Option<ProcStat>>,
    bench_final: Option<ProcStat>,
    milestones: Vec<(String, Snapshot)>,
    samples: Vec<Snapshot>,
    outcomes: BTreeMap<String, usize>,
    view_cells: usize,
    stored_reports: usize,
    checks: Vec<Check>,
}

/// A failed run: the error, and the logs worth reading.
type Failed = (anyhow::Error, Vec<PathBuf>);

async fn run(
    plan: &Plan,
    binaries: &Binaries,
    dir: &Path,
    drain_timeout: u64,
) -> Result<Outcome, Failed> {
    let logs_dir = dir.join("logs");
    let logs = |n: usize| -> Vec<PathBuf> {
        let mut v = vec![logs_dir.join("hub-1.log"), logs_dir.join("hub-2.log")];
        v.extend((0..n).map(|r| logs_dir.join(format!("relay-{r}.log"))));
        v
    };
    run_inner(plan, binaries, dir, Duration::from_secs(drain_timeout))
        .await
        .map_err(|e| (e, logs(plan.relays)))
}

async fn run_inner(
    plan: &Plan,
    binaries: &Binaries,
    dir: &Path,
    drain_timeout: Duration,
) -> Result<Outcome> {
    let mut out = Outcome {
        load_average_start: federation::load_average()?,
        ..Outcome::default()
    };
    let run_started = Instant::now();
    std::fs::create_dir_all(dir.join("logs")).context("creating the logs directory")?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());

    // 1. Signing, before any daemon runs.
    let started = Instant::now();
    let orgs = fixture::orgs(plan.nodes)?;
    let items: Vec<fixture::Item> = (0..plan.reports)
        .map(|g| plan.item(g))
        .collect::<Result<_>>()?;
    let envelopes = fixture::sign_all(&orgs, &items, threads)?;
    let ids: Vec<ReportId> = envelopes.iter().map(report_id).collect();
    let reference_orgs = reference_orgs(plan.reference_orgs)?;
    let reference_items: Vec<fixture::Item> = (0..plan.reference_orgs)
        .flat_map(|org| {
            (1..=plan.reference_revisions)
                .flat_map(move |revision| (0..plan.periods).map(move |p| (org, revision, p)))
        })
        .map(|(org, revision, p)| {
            Ok(fixture::Item {
                org,
                period: fixture::period(plan.periods + p)?,
                revision: revision as u64,
            })
        })
        .collect::<Result<_>>()?;
    let reference_envelopes = fixture::sign_all(&reference_orgs, &reference_items, threads)?;
    let reference_ids: Vec<ReportId> = reference_envelopes.iter().map(report_id).collect();
    out.signing_s = started.elapsed().as_secs_f64();
    eprintln!(
        "signed {} + {} reports in {:.1} s",
        envelopes.len(),
        reference_envelopes.len(),
        out.signing_s
    );

    // 2. Setup.
    let started = Instant::now();
    let hub_dir = dir.join("hub");
    let hub_address = format!("127.0.0.1:{}", federation::free_port()?);
    let hub_dir_s = path_str(&hub_dir)?;
    federation::run_command(
        &binaries.hub,
        &[
            "init",
            "--data",
            hub_dir_s,
            "--listen",
            &hub_address,
            "--public-addr",
            &hub_address,
        ],
    )?;
    if let Some(bytes) = plan.hub_cache_bytes {
        set_hub_cache(&hub_dir, bytes)?;
    }
    let seed = std::fs::read(hub_dir.join(alliance_hub::config::KEY_FILE))
        .context("reading the hub's key")?;
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("hub.key holds {} bytes, not a 32-byte seed", seed.len()))?;
    let hub_ca = tls::read_ca_pem(&hub_dir.join("tls/ca.pem")).context("the hub's CA")?;
    let hub = HubSide {
        dir: hub_dir.clone(),
        address: hub_address.clone(),
        tls: tls::client_config(&hub_ca)?,
        key: SigningKey::from_seed(&seed).public_key(),
    };
    let mut hub_daemon =
        Daemon::spawn("hub", &binaries.hub, &hub_dir, &dir.join("logs/hub-1.log"))?;
    wait_hub(&hub, &mut hub_daemon).await?;
    eprintln!("hub serving at {hub_address}");

    let mut relays = Vec::with_capacity(plan.relays);
    for r in 0..plan.relays {
        relays.push(start_relay(r, binaries, dir, &hub).await?);
    }
    for relay in &mut relays {
        wait_relay(relay).await?;
    }
    eprintln!(
        "{} relays serving at {}",
        relays.len(),
        relays
            .iter()
            .map(|r| r.address.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let watch = Arc::new(Watch {
        hub_pid: AtomicU32::new(hub_daemon.pid()),
        relay_pids: relays.iter().map(|r| r.daemon.pid()).collect(),
        handed: AtomicUsize::new(0),
        phase: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        load_start: Mutex::new(None),
        created: Instant::now(),
    });
    let sampler = spawn_sampler(Arc::clone(&watch));
    let result = measure(
        plan,
        binaries,
        &hub,
        hub_daemon,
        &mut relays,
        &watch,
        Load {
            orgs: &orgs,
            envelopes,
            ids: &ids,
            reference_orgs: &reference_orgs,
            reference_envelopes,
            reference_ids: &reference_ids,
            drain_timeout,
            setup_started: started,
        },
        &mut out,
    )
    .await;
    watch.stop.store(true, Ordering::SeqCst);
    out.samples = sampler
        .join()
        .map_err(|_| anyhow!("the memory sampler panicked"))?;
    result?;
    out.wall_s = run_started.elapsed().as_secs_f64();
    out.load_average_end = federation::load_average()?;
    Ok(out)
}

/// What the load sends.
struct Load<'a> {
    orgs: &'a [fixture::Org],
    envelopes: Vec<pb::Envelope>,
    ids: &'a [ReportId],
    reference_orgs: &'a [fixture::Org],
    reference_envelopes: Vec<pb::Envelope>,
    reference_ids: &'a [ReportId],
    drain_timeout: Duration,
    setup_started: Instant,
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    plan: &Plan,
    binaries: &Binaries,
    hub: &HubSide,
    hub_daemon: Daemon,
    relays: &mut [Relay],
    watch: &Arc<Watch>,
    load: Load<'_>,
    out: &mut Outcome,
) -> Result<()> {
    let drain_timeout = load.drain_timeout;
    // Registration: the affiliates via their relays and the reference without one, in one
    // import on the hub's admin socket (1,000 `org add` commands would each open a connection
    // and write the audit log).
    let admin_channel = client::connect_admin(&hub.dir.join(alliance_hub::config::ADMIN_SOCKET))
        .await
        .context("connecting to the hub's admin socket")?;
    let mut admin = HubAdminServiceClient::new(admin_channel)
        .max_decoding_message_size(MAX_ANSWER)
        .max_encoding_message_size(MAX_ANSWER);
    let mut csv = String::from("id,name,kind,country,region,via\n");
    for (i, org) in load.orgs.iter().enumerate() {
        csv.push_str(&format!(
            "{},Union {},national_centre,{},{},{}\n",
            org.id,
            org.id,
            org.country.as_str(),
            org.region.as_str(),
            relays[i % relays.len()].id
        ));
    }
    for org in load.reference_orgs {
        csv.push_str(&format!(
            "{},Union {},national_centre,{},{},\n",
            org.id,
            org.id,
            org.country.as_str(),
            org.region.as_str()
        ));
    }
    let imported = admin
        .import_organisations(pb::ImportOrganisationsRequest {
            csv: csv.into_bytes(),
        })
        .await
        .context("registering the organisations")?
        .into_inner();
    let mut codes: BTreeMap<String, String> = imported
        .organisations
        .into_iter()
        .filter_map(|o| o.join_code)
        .map(|c| (c.org_id, c.join_code))
        .collect();
    let mut code_of = |org: &fixture::Org| {
        codes
            .remove(org.id.as_str())
            .with_context(|| format!("no join code was issued for {}", org.id))
    };

    // Enrollment: each affiliate through its relay, as a real node does; the reference at the
    // hub. Each keeps its connection to push on.
    let mut to_enroll = Vec::new();
    for (i, org) in load.orgs.iter().enumerate() {
        let relay = &relays[i % relays.len()];
        to_enroll.push((
            org.clone(),
            code_of(org)?,
            relay.address.clone(),
            Arc::clone(&relay.tls),
            relay.ca_fingerprint,
        ));
    }
    let hub_ca_fingerprint = hub_ca_fingerprint(hub)?;
    for org in load.reference_orgs {
        to_enroll.push((
            org.clone(),
            code_of(org)?,
            hub.address.clone(),
            Arc::clone(&hub.tls),
            hub_ca_fingerprint,
        ));
    }
    let hub_key = hub.key;
    let mut clients: Vec<HubServiceClient<Channel>> = futures::stream::iter(to_enroll)
        .map(|(org, code, address, tls, ca)| async move {
            enroll(&org, &code, &address, tls, ca, &hub_key)
                .await
                .with_context(|| format!("enrolling {}", org.id))
        })
        .buffered(SETUP_IN_FLIGHT)
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let reference_clients = clients.split_off(load.orgs.len());
    tokio::time::sleep(REGISTRY_LAG).await;
    out.setup_s = load.setup_started.elapsed().as_secs_f64();
    eprintln!(
        "{} affiliates and {} reference organisations registered and enrolled; setup took {:.1} s",
        load.orgs.len(),
        load.reference_orgs.len(),
        out.setup_s
    );

    // 3. The reference: the hub's own ingest rate.
    watch.set_phase("reference");
    let per_reference_org = plan.periods * plan.reference_revisions;
    let streams = reference_clients
        .into_iter()
        .enumerate()
        .map(|(o, client)| Stream {
            client,
            items: (o * per_reference_org..(o + 1) * per_reference_org).collect(),
        })
        .collect();
    let pusher = Pusher {
        envelopes: Arc::new(load.reference_envelopes),
        ids: Arc::new(load.reference_ids.to_vec()),
        expect: Expect::HubReceipt,
        semaphore: Arc::new(Semaphore::new(plan.in_flight)),
        retries: Arc::new(Mutex::new(BTreeMap::new())),
        handed: Arc::new(AtomicUsize::new(0)),
        on_handed: Arc::new(|_, _| {}),
        abort: Arc::new(AtomicBool::new(false)),
    };
    let started = Instant::now();
    pusher.push(streams).await.context("the reference")?;
    out.reference_s = started.elapsed().as_secs_f64();
    eprintln!(
        "reference: {} reports to the hub directly in {:.1} s = {:.0}/s",
        plan.reference_reports(),
        out.reference_s,
        plan.reference_reports() as f64 / out.reference_s
    );
    drop(pusher);

    // 4. The load, with the hub killed and started again on the way.
    let per_node = plan.periods * plan.revisions;
    let streams: Vec<Stream> = clients
        .into_iter()
        .enumerate()
        .map(|(n, client)| Stream {
            client,
            items: (n * per_node..(n + 1) * per_node).collect(),
        })
        .collect();
    let restart_now = Arc::new(Notify::new());
    let milestones: Arc<Mutex<Vec<(String, Snapshot)>>> = Arc::new(Mutex::new(Vec::new()));
    // The report each relay took last: once the hub holds it, the relay's outbox is close to
    // empty (it forwards in queue order), and only then is the relay asked for its status.
    let last_by_relay: Arc<Vec<AtomicUsize>> =
        Arc::new((0..relays.len()).map(|_| AtomicUsize::new(0)).collect());
    let on_handed = {
        let last_by_relay = Arc::clone(&last_by_relay);
        let relay_count = relays.len();
        let watch = Arc::clone(watch);
        let restart_now = Arc::clone(&restart_now);
        let milestones = Arc::clone(&milestones);
        let total = plan.reports;
        let restart_after = plan.restart_after;
        move |g: usize, n: usize| {
            if let Some(last) = last_by_relay.get((g / per_node) % relay_count) {
                last.store(g, Ordering::SeqCst);
            }
            watch.handed.fetch_max(n, Ordering::SeqCst);
            for quarter in 1..=4 {
                if n == (total * quarter / 4).max(1) {
                    let snapshot = Snapshot::take(&watch);
                    if let Ok(mut m) = milestones.lock() {
                        m.push((format!("{}% handed to relays", quarter * 25), snapshot));
                    }
                }
            }
            if n == restart_after {
                restart_now.notify_one();
            }
        }
    };
    let restart = tokio::spawn(restart_hub(
        RestartHub {
            binaries: binaries.clone(),
            hub: hub.clone(),
            daemon: hub_daemon,
            log: hub
                .dir
                .parent()
                .map_or_else(|| PathBuf::from("hub-2.log"), |d| d.join("logs/hub-2.log")),
            watch: Arc::clone(watch),
        },
        Arc::clone(&restart_now),
    ));
    let pusher = Pusher {
        envelopes: Arc::new(load.envelopes),
        ids: Arc::new(load.ids.to_vec()),
        expect: Expect::CustodyReceipt,
        semaphore: Arc::new(Semaphore::new(plan.in_flight)),
        retries: Arc::new(Mutex::new(BTreeMap::new())),
        handed: Arc::new(AtomicUsize::new(0)),
        on_handed: Arc::new(on_handed),
        abort: Arc::new(AtomicBool::new(false)),
    };
    watch.set_phase("load");
    let load_start = Instant::now();
    if let Ok(mut start) = watch.load_start.lock() {
        *start = Some(load_start);
    }
    let pushed = pusher.push(streams).await;
    let intake_end = Instant::now();
    let custody = match pushed {
        Ok(custody) => custody,
        Err(error) => {
            restart.abort();
            return Err(error.context("the load"));
        }
    };
    out.intake_s = (intake_end - load_start).as_secs_f64();
    out.retries = pusher.retries.lock().map(|r| r.clone()).unwrap_or_default();
    eprintln!(
        "intake: {} reports handed to relays in {:.1} s = {:.0}/s",
        plan.reports,
        out.intake_s,
        plan.reports as f64 / out.intake_s
    );
    let restarted = restart
        .await
        .context("the restart task panicked")?
        .context("restarting the hub")?;
    let mut hub_daemon = restarted.daemon;
    out.hub_first = restarted.before_kill;
    out.killed_at_s = (restarted.killed_at - load_start).as_secs_f64();
    out.handed_at_kill = restarted.handed_at_kill;
    out.hub_respawn_s = (restarted.spawned_at - restarted.killed_at).as_secs_f64();
    out.hub_open_s = (restarted.ready_at - restarted.spawned_at).as_secs_f64();
    out.hub_down_s = (restarted.ready_at - restarted.killed_at).as_secs_f64();

    // 5. Drain: until every relay's outbox is empty.
    watch.set_phase("drain");
    let mut relay_admins = Vec::with_capacity(relays.len());
    for relay in relays.iter() {
        let channel = client::connect_admin(&relay.dir.join(alliance_node::config::ADMIN_SOCKET))
            .await
            .with_context(|| format!("connecting to the admin socket of {}", relay.id))?;
        relay_admins
            .push(NodeAdminServiceClient::new(channel).max_decoding_message_size(MAX_ANSWER));
    }
    let expected_by_relay: Vec<u64> = (0..relays.len())
        .map(|r| ((r..plan.nodes).step_by(relays.len()).count() * per_node) as u64)
        .collect();
    let mut drained: Vec<Option<(Instant, pb::RelayedSummary)>> = vec![None; relays.len()];
    let mut hub_has_last = vec![false; relays.len()];
    let probe = connect(&hub.address, Arc::clone(&hub.tls)).await?;
    loop {
        for (r, admin) in relay_admins.iter_mut().enumerate() {
            if drained[r].is_some() {
                continue;
            }
            relays[r].daemon.check_running()?;
            if !hub_has_last[r] {
                // Asking the hub is cheap; a relay's status reads the header of every report it
                // ever held.
                let last = load
                    .ids
                    .get(last_by_relay[r].load(Ordering::SeqCst))
                    .context("no last report")?;
                hub_has_last[r] = hub_holds(&probe, last).await?;
                if !hub_has_last[r] {
                    continue;
                }
            }
            let status = admin
                .get_status(pb::GetStatusRequest {
                    org_id: String::new(),
                })
                .await
                .with_context(|| format!("the status of {}", relays[r].id))?
                .into_inner();
            let summary = status
                .relayed
                .with_context(|| format!("{} shows no relayed reports", relays[r].id))?;
            if summary.pending == 0 && summary.decided + summary.set_aside >= expected_by_relay[r] {
                drained[r] = Some((Instant::now(), summary));
            }
        }
        if drained.iter().all(Option::is_some) {
            break;
        }
        if intake_end.elapsed() > drain_timeout {
            bail!(
                "the relays have not drained {drain_timeout:?} after the last report was handed \
                 over: {}",
                drained
                    .iter()
                    .enumerate()
                    .map(|(r, d)| format!(
                        "{}: {}",
                        relays[r].id,
                        if d.is_some() {
                            "drained"
                        } else {
                            "not drained"
                        }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let last_drained = drained
        .iter()
        .filter_map(|d| d.as_ref().map(|(at, _)| *at))
        .max()
        .unwrap_or(intake_end);
    out.total_s = (last_drained - load_start).as_secs_f64();
    out.drained_after_intake_s = (last_drained - intake_end).as_secs_f64();
    out.drained_after_restart_s = (last_drained - restarted.ready_at).as_secs_f64();
    out.drained_after_restart_by_relay_s = drained
        .iter()
        .map(|d| {
            d.as_ref()
                .map_or(0.0, |(at, _)| (*at - restarted.ready_at).as_secs_f64())
        })
        .collect();
    if let Ok(mut m) = milestones.lock() {
        m.push(("relays drained".to_owned(), Snapshot::take(watch)));
        out.milestones = m.clone();
    }
    eprintln!(
        "drained: every relay's outbox empty {:.1} s after the last report was handed over, \
         {:.1} s after the hub's restart; {:.1} s in all",
        out.drained_after_intake_s, out.drained_after_restart_s, out.total_s
    );

    // 6. Checks.
    watch.set_phase("checks");
    let summaries: Vec<pb::RelayedSummary> = drained
        .into_iter()
        .map(|d| d.map(|(_, s)| s).unwrap_or_default())
        .collect();
    out.checks
        .push(check_relays(relays, &summaries, &expected_by_relay));
    let mut hub_clients = Vec::with_capacity(CHECK_CONNECTIONS);
    for _ in 0..CHECK_CONNECTIONS {
        hub_clients.push(connect(&hub.address, Arc::clone(&hub.tls)).await?);
    }
    out.checks.push(
        check_custody(
            plan,
            relays,
            hub,
            &hub_clients[0],
            &pusher,
            &custody,
            load.orgs,
        )
        .await?,
    );
    let (receipts_check, outcomes) = check_receipts(plan, hub, &hub_clients, load.ids).await?;
    out.checks.push(receipts_check);
    out.outcomes = outcomes;
    out.checks
        .push(check_winners(plan, hub, &hub_clients, load.orgs, load.ids).await?);
    let (view_check, cells) = check_view(plan, hub, load.orgs).await?;
    out.checks.push(view_check);
    out.view_cells = cells;

    // Stop everything, the peaks read first, then count what the hub stored.
    for relay in relays.iter_mut() {
        out.relays_final.push(ProcStat::of(relay.daemon.pid()));
        relay.daemon.terminate(STOP_TIMEOUT)?;
    }
    out.hub_second = ProcStat::of(hub_daemon.pid());
    watch.hub_pid.store(0, Ordering::SeqCst);
    hub_daemon.terminate(STOP_TIMEOUT)?;
    out.bench_final = ProcStat::of(std::process::id());
    let mut sent: HashSet<ReportId> = load.ids.iter().copied().collect();
    sent.extend(load.reference_ids.iter().copied());
    let (store_check, stored) = check_store(hub, &sent)?;
    out.checks.push(store_check);
    out.stored_reports = stored;
    Ok(())
}

/// The reference organisations, `ref-00000` onwards, with keys of their own.
fn reference_orgs(n: usize) -> Result<Vec<fixture::Org>> {
    fixture::orgs(n)?
        .into_iter()
        .enumerate()
        .map(|(i, mut org)| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            seed[8..20].copy_from_slice(b"reference-ha");
            org.id = format!("ref-{i:05}").parse()?;
            org.key = SigningKey::from_seed(&seed);
            Ok(org)
        })
        .collect()
}

fn report_id(envelope: &pb::Envelope) -> ReportId {
    ReportId(alliance_envelope::report_id(&Envelope::from(
        envelope.clone(),
    )))
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

fn hub_ca_fingerprint(hub: &HubSide) -> Result<[u8; 32]> {
    let der = tls::read_ca_pem(&hub.dir.join("tls/ca.pem")).context("the hub's CA")?;
    Ok(tls::fingerprint(&der))
}

async fn connect(address: &str, tls: Arc<ClientConfig>) -> Result<HubServiceClient<Channel>> {
    let channel = client::connect_tls(address, tls)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    Ok(HubServiceClient::new(channel)
        .max_decoding_message_size(MAX_ANSWER)
        .max_encoding_message_size(MAX_ANSWER))
}

/// Waits until the hub answers over TLS; an error if its process exits first.
async fn wait_hub(hub: &HubSide, daemon: &mut Daemon) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        daemon.check_running()?;
        if let Ok(mut client) = connect(&hub.address, Arc::clone(&hub.tls)).await
            && client
                .get_framework(pb::GetFrameworkRequest { version: 0 })
                .await
                .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the hub did not answer within {READY_TIMEOUT:?}; see {}",
                daemon.log().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Registers relay `r` at the hub (`org add`), enrolls it (`init --relay`) and starts it.
/// Sets the hub's sled cache in its hub.toml, before it first opens the store.
fn set_hub_cache(hub_dir: &Path, bytes: u64) -> Result<()> {
    let path = hub_dir.join(alliance_hub::config::CONFIG_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: alliance_hub::config::HubConfig =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    config.store.cache_capacity_bytes = bytes;
    let text = toml::to_string_pretty(&config).context("writing the hub's configuration")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

async fn start_relay(r: usize, binaries: &Binaries, dir: &Path, hub: &HubSide) -> Result<Relay> {
    let id = format!("relay-{r}");
    let (country, region) = RELAY_HOMES[r % RELAY_HOMES.len()];
    let name = format!("Regional organisation {r}");
    let added = federation::run_command(
        &binaries.hub,
        &[
            "org",
            "add",
            "--data",
            path_str(&hub.dir)?,
            "--id",
            &id,
            "--name",
            &name,
            "--kind",
            "regional_organisation",
            "--country",
            country,
            "--region",
            region,
            "--json",
        ],
    )?;
    let added: Json = serde_json::from_str(&added).context("reading `org add --json`")?;
    let code = added["join_code"]["join_code"]
        .as_str()
        .context("`org add --json` shows no join code")?
        .to_owned();
    let relay_dir = dir.join(&id);
    let address = format!("127.0.0.1:{}", federation::free_port()?);
    federation::run_command(
        &binaries.node,
        &[
            "init",
            "--data",
            path_str(&relay_dir)?,
            "--join",
            &code,
            "--relay",
            "--listen",
            &address,
            "--public-addr",
            &address,
        ],
    )?;
    let ca = tls::read_ca_pem(&relay_dir.join(alliance_node::config::RELAY_CA_CERT))
        .with_context(|| format!("the CA of {id}"))?;
    let daemon = Daemon::spawn(
        &id,
        &binaries.node,
        &relay_dir,
        &dir.join(format!("logs/{id}.log")),
    )?;
    Ok(Relay {
        id,
        dir: relay_dir,
        address,
        tls: tls::client_config(&ca)?,
        ca_fingerprint: tls::fingerprint(&ca),
        daemon,
    })
}

/// Waits until a relay answers on its admin socket and over TLS (a call it passes to the hub).
async fn wait_relay(relay: &mut Relay) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let socket = relay.dir.join(alliance_node::config::ADMIN_SOCKET);
    loop {
        relay.daemon.check_running()?;
        if client::connect_admin(&socket).await.is_ok()
            && let Ok(mut c) = connect(&relay.address, Arc::clone(&relay.tls)).await
            && c.get_framework(pb::GetFrameworkRequest { version: 0 })
                .await
                .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not answer within {READY_TIMEOUT:?}; see {}",
                relay.id,
                relay.daemon.log().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Enrolls `org` with its join code at the upstream the code names, as a node does: the
/// upstream's CA and the hub key checked against the code's fingerprints, a proof of possession
/// signed by the new key. Returns the connection to push on.
async fn enroll(
    org: &fixture::Org,
    code: &str,
    address: &str,
    tls: Arc<ClientConfig>,
    ca_fingerprint: [u8; 32],
    hub_key: &[u8; 32],
) -> Result<HubServiceClient<Channel>> {
    let join: JoinCode = code.parse().context("reading the join code")?;
    if join.upstream != address {
        bail!(
            "the join code names {} where {address} was expected",
            join.upstream
        );
    }
    if join.ca_fingerprint != ca_fingerprint {
        bail!("the join code's CA fingerprint is not that of {address}");
    }
    if join.hub_key_fingerprint != alliance_envelope::fingerprint_bytes(hub_key) {
        bail!("the join code's hub key fingerprint is not that of the hub's key");
    }
    let proof = EnrollProof {
        org: org.id.clone(),
        token: join.token.clone(),
        public_key: org.key.public_key(),
        hub_key_fingerprint: join.hub_key_fingerprint,
        relay: None,
    };
    let proof = sign(
        &org.key,
        payload_type::ENROLL_PROOF,
        alliance_proto::encode_enroll_proof(&proof),
    );
    let request = pb::EnrollRequest {
        org_id: org.id.to_string(),
        token: join.token,
        public_key: org.key.public_key().to_vec(),
        proof: Some((&proof).into()),
    };
    let client = connect(address, tls).await?;
    let enrollment = retrying(|| {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.enroll(request).await }
    })
    .await?
    .enrollment
    .context("the enrollment answer is empty")?;
    if enrollment.hub_public_key != hub_key.as_slice() {
        bail!("the enrollment names another hub key");
    }
    Ok(client)
}

/// A call made again after transient failures (with a doubling backoff), for the setup and the
/// checks.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = Instant::now() + CALL_GIVE_UP;
    let mut backoff = MIN_BACKOFF;
    loop {
        match tokio::time::timeout(CALL_TIMEOUT, call()).await {
            Ok(Ok(answer)) => return Ok(answer.into_inner()),
            Ok(Err(status)) if !is_transient(status.code()) => {
                bail!("{:?}: {}", status.code(), status.message())
            }
            Ok(Err(status)) if Instant::now() > deadline => {
                bail!(
                    "still {:?} after {CALL_GIVE_UP:?}: {}",
                    status.code(),
                    status.message()
                )
            }
            Err(_) if Instant::now() > deadline => bail!("no answer after {CALL_GIVE_UP:?}"),
            _ => {}
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The hub killed and started again.
struct RestartHub {
    binaries: Binaries,
    hub: HubSide,
    daemon: Daemon,
    log: PathBuf,
    watch: Arc<Watch>,
}

/// When the restart happened, and the new process.
struct Restarted {
    daemon: Daemon,
    before_kill: Option<ProcStat>,
    handed_at_kill: usize,
    killed_at: Instant,
    spawned_at: Instant,
    ready_at: Instant,
}

/// Waits for `now`, then kills the hub with SIGKILL and serves its data directory again.
async fn restart_hub(mut r: RestartHub, now: Arc<Notify>) -> Result<Restarted> {
    now.notified().await;
    let before_kill = ProcStat::of(r.daemon.pid());
    let handed_at_kill = r.watch.handed.load(Ordering::SeqCst);
    let killed_at = Instant::now();
    r.watch.hub_pid.store(0, Ordering::SeqCst);
    let status = r.daemon.kill()?;
    eprintln!(
        "hub killed (SIGKILL, {status}) after {handed_at_kill} reports were handed to relays"
    );
    let mut daemon = Daemon::spawn("hub", &r.binaries.hub, &r.hub.dir, &r.log)?;
    let spawned_at = Instant::now();
    r.watch.hub_pid.store(daemon.pid(), Ordering::SeqCst);
    wait_hub(&r.hub, &mut daemon).await?;
    let ready_at = Instant::now();
    eprintln!(
        "hub serving again {:.2} s after the kill",
        (ready_at - killed_at).as_secs_f64()
    );
    Ok(Restarted {
        daemon,
        before_kill,
        handed_at_kill,
        killed_at,
        spawned_at,
        ready_at,
    })
}

/// What an answer to `Submit` must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    HubReceipt,
    CustodyReceipt,
}

/// One sender's reports, in the order it sends them, and its connection.
struct Stream {
    client: HubServiceClient<Channel>,
    items: Vec<usize>,
}

/// Pushes streams of reports concurrently, each in order, with a bound on the calls in flight
/// overall.
struct Pusher {
    envelopes: Arc<Vec<pb::Envelope>>,
    ids: Arc<Vec<ReportId>>,
    expect: Expect,
    semaphore: Arc<Semaphore>,
    /// Transient failures by status code.
    retries: Arc<Mutex<BTreeMap<String, u64>>>,
    handed: Arc<AtomicUsize>,
    /// Called with the index of each report handed over and the count so far.
    on_handed: Arc<dyn Fn(usize, usize) + Send + Sync>,
    /// Set when one stream failed, so that the others stop.
    abort: Arc<AtomicBool>,
}

impl Pusher {
    /// Every stream pushed; the answers (hub or custody receipts) by report index.
    async fn push(&self, streams: Vec<Stream>) -> Result<Vec<(usize, pb::Envelope)>> {
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|stream| {
                let this = self.shared();
                tokio::spawn(async move {
                    let result = this.push_stream(stream).await;
                    if result.is_err() {
                        this.abort.store(true, Ordering::SeqCst);
                    }
                    result
                })
            })
            .collect();
        let mut answers = Vec::with_capacity(self.envelopes.len());
        let mut first_error = None;
        for task in tasks {
            match task.await {
                Ok(Ok(part)) => answers.extend(part),
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(error) => {
                    first_error.get_or_insert(anyhow!("a sender panicked: {error}"));
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(answers),
        }
    }

    fn shared(&self) -> Pusher {
        Pusher {
            envelopes: Arc::clone(&self.envelopes),
            ids: Arc::clone(&self.ids),
            expect: self.expect,
            semaphore: Arc::clone(&self.semaphore),
            retries: Arc::clone(&self.retries),
            handed: Arc::clone(&self.handed),
            on_handed: Arc::clone(&self.on_handed),
            abort: Arc::clone(&self.abort),
        }
    }

    async fn push_stream(&self, stream: Stream) -> Result<Vec<(usize, pb::Envelope)>> {
        let mut answers = Vec::with_capacity(stream.items.len());
        for g in stream.items {
            if self.abort.load(Ordering::SeqCst) {
                bail!("stopped: another sender failed");
            }
            let answer = self.submit(&stream.client, g).await?;
            answers.push((g, answer));
            let n = self.handed.fetch_add(1, Ordering::SeqCst) + 1;
            (self.on_handed)(g, n);
        }
        Ok(answers)
    }

    /// Submits report `g` until it is answered with the receipt expected, retrying transient
    /// failures; the permit to call is given back while waiting to retry.
    async fn submit(&self, client: &HubServiceClient<Channel>, g: usize) -> Result<pb::Envelope> {
        let envelope = self
            .envelopes
            .get(g)
            .with_context(|| format!("no report {g}"))?;
        let id = self
            .ids
            .get(g)
            .with_context(|| format!("no report id {g}"))?;
        let deadline = Instant::now() + CALL_GIVE_UP;
        let mut backoff = MIN_BACKOFF;
        loop {
            let permit = self
                .semaphore
                .acquire()
                .await
                .context("the semaphore closed")?;
            let mut client = client.clone();
            let answer = tokio::time::timeout(
                CALL_TIMEOUT,
                client.submit(pb::SubmitRequest {
                    envelope: Some(envelope.clone()),
                    custody_receipt: None,
                }),
            )
            .await;
            drop(permit);
            let failure = match answer {
                Ok(Ok(answer)) => return self.check_answer(answer.into_inner(), id),
                Ok(Err(status)) if is_transient(status.code()) => {
                    (format!("{:?}", status.code()), status.message().to_owned())
                }
                Ok(Err(status)) => bail!(
                    "report {id} was refused for good: {:?}: {}",
                    status.code(),
                    status.message()
                ),
                Err(_) => (
                    "timeout".to_owned(),
                    format!("no answer in {CALL_TIMEOUT:?}"),
                ),
            };
            if let Ok(mut retries) = self.retries.lock() {
                *retries.entry(failure.0.clone()).or_default() += 1;
            }
            if Instant::now() > deadline {
                bail!(
                    "report {id} still fails after {CALL_GIVE_UP:?}: {}: {}",
                    failure.0,
                    failure.1
                );
            }
            // Jitter from the report's index, so that the senders do not retry in step.
            let jitter = backoff.mul_f64((g % 97) as f64 / 194.0);
            tokio::time::sleep(backoff - jitter).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The answer must be the receipt expected, about this report (its signature is checked
    /// after the run, so that the timed part does not spend this process's CPU on it).
    fn check_answer(&self, answer: pb::SubmitResponse, id: &ReportId) -> Result<pb::Envelope> {
        use pb::submit_response::Receipt;
        match (self.expect, answer.receipt) {
            (Expect::CustodyReceipt, Some(Receipt::CustodyReceipt(envelope))) => {
                let custody = alliance_proto::decode_custody_receipt(&envelope.payload)
                    .context("decoding a custody receipt")?;
                if custody.report_id != *id {
                    bail!(
                        "the custody receipt for {id} is about {}",
                        custody.report_id
                    );
                }
                Ok(envelope)
            }
            (Expect::HubReceipt, Some(Receipt::HubReceipt(envelope))) => {
                let receipt = alliance_proto::decode_receipt(&envelope.payload)
                    .context("decoding a hub receipt")?;
                if receipt.report_id != *id {
                    bail!("the hub's receipt for {id} is about {}", receipt.report_id);
                }
                Ok(envelope)
            }
            (expect, other) => bail!("Submit answered {other:?} where {expect:?} was expected"),
        }
    }
}

/// Whether the hub holds report `id` (a transient failure counts as no).
async fn hub_holds(client: &HubServiceClient<Channel>, id: &ReportId) -> Result<bool> {
    let mut client = client.clone();
    let asked = client.get_receipt(pb::GetReceiptRequest {
        report_id: id.0.to_vec(),
    });
    match tokio::time::timeout(CALL_TIMEOUT, asked).await {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(status)) if status.code() == tonic::Code::NotFound => Ok(false),
        Ok(Err(status)) if is_transient(status.code()) => Ok(false),
        Ok(Err(status)) => bail!(
            "asking the hub for report {id}: {:?}: {}",
            status.code(),
            status.message()
        ),
        Err(_) => Ok(false),
    }
}

/// The relays count every relayed report decided, none pending or set aside.
fn check_relays(relays: &[Relay], summaries: &[pb::RelayedSummary], expected: &[u64]) -> Check {
    let mut problems = Vec::new();
    for ((relay, s), want) in relays.iter().zip(summaries).zip(expected) {
        if s.decided != *want || s.pending != 0 || s.set_aside != 0 {
            problems.push(format!(
                "{}: {} decided (of {want}), {} pending, {} set aside",
                relay.id, s.decided, s.pending, s.set_aside
            ));
        }
    }
    Check {
        name: "relays: every relayed report decided, none pending or set aside",
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!(
                "{} decided over {} relays",
                summaries.iter().map(|s| s.decided).sum::<u64>(),
                relays.len()
            )
        } else {
            problems.join("; ")
        },
    }
}

/// Every report got a custody receipt that verifies under its relay's key (from the hub's
/// signed registry) and names the report, the relay, the organisation and the revision.
async fn check_custody(
    plan: &Plan,
    relays: &[Relay],
    hub: &HubSide,
    client: &HubServiceClient<Channel>,
    pusher: &Pusher,
    custody: &[(usize, pb::Envelope)],
    orgs: &[fixture::Org],
) -> Result<Check> {
    let registry = retrying(|| {
        let mut c = client.clone();
        async move { c.get_registry(pb::GetRegistryRequest {}).await }
    })
    .await
    .context("fetching the registry")?
    .registry
    .context("no registry in the answer")?;
    let registry = alliance_node::upstream::open_registry(&Envelope::from(registry), &hub.key)
        .map_err(|e| anyhow!("the hub's registry: {e}"))?;
    let mut keys = Vec::with_capacity(relays.len());
    for relay in relays {
        let id: alliance_core::org::OrgId = relay.id.parse()?;
        let org = registry
            .registry
            .get(&id)
            .with_context(|| format!("the registry does not name {}", relay.id))?;
        keys.push(
            org.keys
                .first()
                .map(|k| k.public_key)
                .with_context(|| format!("{} has no key in the registry", relay.id))?,
        );
    }
    let mut held = vec![false; plan.reports];
    let problems: Vec<String> = {
        let check_one = |(g, envelope): &(usize, pb::Envelope)| -> Result<(), String> {
            let item = plan.item(*g).map_err(|e| e.to_string())?;
            let r = item.org % relays.len();
            let verified = verify_pinned(
                &Envelope::from(envelope.clone()),
                payload_type::CUSTODY_RECEIPT,
                &keys[r],
            )
            .map_err(|e| format!("report {g}: the custody receipt does not verify: {e}"))?;
            let c = alliance_proto::decode_custody_receipt(verified.payload())
                .map_err(|e| format!("report {g}: {e}"))?;
            let right = Some(&c.report_id) == pusher.ids.get(*g)
                && c.relay.as_str() == relays[r].id
                && orgs.get(item.org).is_some_and(|o| o.id == c.org)
                && c.period == item.period
                && c.revision == item.revision;
            if right {
                Ok(())
            } else {
                Err(format!("report {g}: the custody receipt names {c:?}"))
            }
        };
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = custody.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = custody
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .filter_map(|item| check_one(item).err())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| {
                    w.join()
                        .unwrap_or_else(|_| vec!["a checking thread panicked".to_owned()])
                })
                .collect()
        })
    };
    for (g, _) in custody {
        if let Some(h) = held.get_mut(*g) {
            *h = true;
        }
    }
    let missing = held.iter().filter(|h| !**h).count();
    let passed = problems.is_empty() && missing == 0 && custody.len() == plan.reports;
    Ok(Check {
        name: "custody: every report has its relay's signed custody receipt",
        passed,
        detail: if passed {
            format!(
                "{} custody receipts verified under the relays' keys",
                custody.len()
            )
        } else {
            format!(
                "{} receipts, {missing} reports without one, {} bad: {}",
                custody.len(),
                problems.len(),
                first(&problems)
            )
        },
    })
}

/// `GetReceipt` at the hub for every report: present (0 lost), verified under the hub key, the
/// highest revision of each (organisation, period) accepted, the others accepted or superseded.
async fn check_receipts(
    plan: &Plan,
    hub: &HubSide,
    clients: &[HubServiceClient<Channel>],
    ids: &[ReportId],
) -> Result<(Check, BTreeMap<String, usize>)> {
    let started = Instant::now();
    let answers: Vec<Result<pb::Envelope, String>> = futures::stream::iter(ids.iter().enumerate())
        .map(|(g, id)| {
            let client = clients[g % clients.len()].clone();
            async move {
                let answer = retrying(|| {
                    let mut client = client.clone();
                    async move {
                        client
                            .get_receipt(pb::GetReceiptRequest {
                                report_id: id.0.to_vec(),
                            })
                            .await
                    }
                })
                .await;
                match answer.map(|a| a.state) {
                    Ok(Some(pb::get_receipt_response::State::Receipt(envelope))) => Ok(envelope),
                    Ok(other) => Err(format!("report {g} ({id}): the hub answers {other:?}")),
                    Err(error) => Err(format!("report {g} ({id}): {error:#}")),
                }
            }
        })
        .buffered(CHECK_IN_FLIGHT)
        .collect()
        .await;
    eprintln!(
        "{} receipts fetched from the hub in {:.1} s",
        answers.len(),
        started.elapsed().as_secs_f64()
    );
    let hub_key = hub.key;
    // Verify on every core; each result is the outcome or a problem.
    let opened: Vec<Result<OutcomeKind, String>> = {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = answers.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = answers
                .chunks(chunk)
                .enumerate()
                .map(|(c, part)| {
                    scope.spawn(move || {
                        part.iter()
                            .enumerate()
                            .map(|(k, answer)| {
                                let g = c * chunk + k;
                                let envelope = answer.as_ref().map_err(Clone::clone)?;
                                let id = ids.get(g).ok_or("no such report")?;
                                let receipt = alliance_node::upstream::open_receipt(
                                    &Envelope::from(envelope.clone()),
                                    &hub_key,
                                    *id,
                                )
                                .map_err(|e| format!("report {g}: {e}"))?;
                                let item = plan.item(g).map_err(|e| e.to_string())?;
                                if receipt.revision != item.revision
                                    || receipt.period != item.period
                                {
                                    return Err(format!(
                                        "report {g}: the receipt names {} revision {}",
                                        receipt.period, receipt.revision
                                    ));
                                }
                                Ok(receipt.outcome.kind)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| {
                    w.join()
                        .unwrap_or_else(|_| vec![Err("a checking thread panicked".to_owned())])
                })
                .collect()
        })
    };
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut missing = 0;
    for (g, opened) in opened.iter().enumerate() {
        let item = plan.item(g)?;
        match opened {
            Ok(kind) => {
                *outcomes.entry(kind.as_str().to_owned()).or_default() += 1;
                let highest = item.revision == plan.revisions as u64;
                let fine = match kind {
                    OutcomeKind::Accepted => true,
                    OutcomeKind::Superseded => !highest,
                    OutcomeKind::Equivocation | OutcomeKind::Duplicate => false,
                };
                if !fine {
                    problems.push(format!(
                        "report {g} (org {}, {}, revision {}{}): {}",
                        item.org,
                        item.period,
                        item.revision,
                        if highest { ", the highest" } else { "" },
                        kind.as_str()
                    ));
                }
            }
            Err(problem) => {
                missing += 1;
                problems.push(problem.clone());
            }
        }
    }
    let passed = problems.is_empty() && opened.len() == plan.reports;
    Ok((
        Check {
            name: "receipts: every report decided at the hub, the highest revision accepted",
            passed,
            detail: if passed {
                format!(
                    "{} receipts verified under the hub key: {}",
                    opened.len(),
                    json!(outcomes)
                )
            } else {
                format!(
                    "{missing} missing or unverifiable, {} problems: {}",
                    problems.len(),
                    first(&problems)
                )
            },
        },
        outcomes,
    ))
}

/// `GetWinningRevision` of every (organisation, period) names its highest revision.
async fn check_winners(
    plan: &Plan,
    hub: &HubSide,
    clients: &[HubServiceClient<Channel>],
    orgs: &[fixture::Org],
    ids: &[ReportId],
) -> Result<Check> {
    let pairs: Vec<(usize, usize)> = (0..plan.nodes)
        .flat_map(|n| (0..plan.periods).map(move |p| (n, p)))
        .collect();
    let hub_key = hub.key;
    let problems: Vec<String> = futures::stream::iter(pairs.iter().copied().enumerate())
        .map(|(k, (n, p))| {
            let client = clients[k % clients.len()].clone();
            async move {
                let period = fixture::period(p).map_err(|e| e.to_string())?;
                let org = orgs.get(n).ok_or("no such node")?;
                let answer = retrying(|| {
                    let mut client = client.clone();
                    let request = pb::GetWinningRevisionRequest {
                        org_id: org.id.to_string(),
                        period: period.to_string(),
                    };
                    async move { client.get_winning_revision(request).await }
                })
                .await
                .map_err(|e| format!("{} {period}: {e:#}", org.id))?;
                let envelope = answer
                    .winning_revision
                    .ok_or_else(|| format!("{} {period}: no winning revision", org.id))?;
                let winning = alliance_node::upstream::open_winning_revision(
                    &Envelope::from(envelope),
                    &hub_key,
                )
                .map_err(|e| format!("{} {period}: {e}", org.id))?;
                let want = ids
                    .get(plan.index(n, p, plan.revisions))
                    .ok_or("no such report")?;
                match winning.winner {
                    Some(w)
                        if w.revision == plan.revisions as u64
                            && w.report_id == *want
                            && winning.org == org.id
                            && winning.period == period =>
                    {
                        Ok(())
                    }
                    other => Err(format!(
                        "{} {period}: the hub names {other:?} as the winner, not revision {}",
                        org.id, plan.revisions
                    )),
                }
            }
        })
        .buffer_unordered(CHECK_IN_FLIGHT)
        .filter_map(|r: Result<(), String>| async move { r.err() })
        .collect()
        .await;
    Ok(Check {
        name: "winners: the highest revision wins every (organisation, period)",
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("{} (organisation, period) pairs", pairs.len())
        } else {
            format!("{} wrong: {}", problems.len(), first(&problems))
        },
    })
}

/// The hub's view of each period equals the one computed here from the winners' values, and
/// shows no equivocation.
async fn check_view(plan: &Plan, hub: &HubSide, orgs: &[fixture::Org]) -> Result<(Check, usize)> {
    let channel = client::connect_admin(&hub.dir.join(alliance_hub::config::ADMIN_SOCKET))
        .await
        .context("connecting to the hub's admin socket")?;
    let mut query = QueryServiceClient::new(channel).max_decoding_message_size(MAX_ANSWER);
    let mut problems = Vec::new();
    let mut cells = 0;
    let mut periods = Vec::new();
    for p in 0..plan.periods {
        let period = fixture::period(p)?;
        periods.push(period);
        let winners = orgs
            .iter()
            .enumerate()
            .map(|(n, org)| {
                let item = fixture::Item {
                    org: n,
                    period,
                    revision: plan.revisions as u64,
                };
                Ok((fixture::report(org, item)?, org.country.as_str().to_owned()))
            })
            .collect::<Result<Vec<_>>>()?;
        let expected = Expected::of(&winners);
        cells += expected.len();
        let view = query
            .view(pb::ViewRequest {
                period: period.to_string(),
                group_by: pb::GroupBy::Alliance as i32,
                action_point: None,
            })
            .await
            .with_context(|| format!("the view of {period}"))?
            .into_inner();
        problems.extend(
            expected
                .differences(&view)
                .into_iter()
                .map(|d| format!("{period}: {d}")),
        );
        if !view.equivocations.is_empty() {
            problems.push(format!(
                "{period}: {} equivocations",
                view.equivocations.len()
            ));
        }
    }
    let span = match (periods.first(), periods.last()) {
        (Some(first), Some(last)) => format!("{first}..{last}"),
        _ => String::new(),
    };
    let whole = query
        .view(pb::ViewRequest {
            period: span.clone(),
            group_by: pb::GroupBy::Alliance as i32,
            action_point: None,
        })
        .await
        .with_context(|| format!("the view of {span}"))?
        .into_inner();
    if !whole.equivocations.is_empty() {
        problems.push(format!(
            "{span}: {} equivocations",
            whole.equivocations.len()
        ));
    }
    Ok((
        Check {
            name: "view: each (organisation, period) counted once, with its highest revision's values",
            passed: problems.is_empty(),
            detail: if problems.is_empty() {
                format!(
                    "{cells} cells over {} periods equal the sums of the winners' values; no \
                     equivocation",
                    plan.periods
                )
            } else {
                format!("{} differences: {}", problems.len(), first(&problems))
            },
        },
        cells,
    ))
}

/// The stopped hub's database holds exactly the reports sent, each once. Returns the count.
fn check_store(hub: &HubSide, sent: &HashSet<ReportId>) -> Result<(Check, usize)> {
    let store = alliance_store::HubStore::open(
        &hub.dir.join(alliance_hub::config::DB_DIR),
        64 * 1024 * 1024,
    )
    .context("opening the hub's database")?;
    let mut seen = HashSet::with_capacity(sent.len());
    let mut strangers = 0;
    let mut twice = 0;
    for stored in store.reports() {
        let stored = stored.context("reading a stored report")?;
        if !sent.contains(&stored.report_id) {
            strangers += 1;
        }
        if !seen.insert(stored.report_id) {
            twice += 1;
        }
    }
    let counted = store.report_count();
    let missing = sent.len() - sent.intersection(&seen).count();
    let passed = missing == 0 && strangers == 0 && twice == 0 && counted == sent.len();
    Ok((
        Check {
            name: "store: the hub holds exactly the reports sent, each once",
            passed,
            detail: format!(
                "{} stored (count {counted}) of {} sent: {missing} missing, {strangers} not sent, \
                 {twice} twice",
                seen.len(),
                sent.len()
            ),
        },
        seen.len(),
    ))
}

/// The first few of a list of problems.
fn first(problems: &[String]) -> String {
    let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
    let more = problems.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{}; and {more} more", shown.join("; "))
    } else {
        shown.join("; ")
    }
}

impl Outcome {
    fn rates(&self, plan: &Plan) -> (f64, f64, f64) {
        let reference = plan.reference_reports() as f64 / self.reference_s;
        let intake = plan.reports as f64 / self.intake_s;
        let end_to_end = plan.reports as f64 / self.total_s;
        (reference, intake, end_to_end)
    }

    /// The highest RSS sampled per process in a phase: the hub's and each relay's.
    fn peak_sampled(&self, phase: Option<&str>) -> (u64, Vec<u64>) {
        let samples = self
            .samples
            .iter()
            .filter(|s| phase.is_none_or(|p| s.phase == p));
        let mut hub = 0;
        let mut relays = vec![0; self.relays_final.len()];
        for s in samples {
            hub = hub.max(s.hub.map_or(0, |h| h.rss_kib));
            for (r, stat) in s.relays.iter().enumerate() {
                if let (Some(peak), Some(stat)) = (relays.get_mut(r), stat) {
                    *peak = (*peak).max(stat.rss_kib);
                }
            }
        }
        (hub, relays)
    }

    fn to_json(&self, plan: &Plan, machine: Json) -> Json {
        let (reference, intake, end_to_end) = self.rates(plan);
        let stat = |s: &Option<ProcStat>| {
            s.map(|s| json!({"peak_rss_kib": s.hwm_kib, "rss_kib": s.rss_kib, "cpu_s": s.cpu_seconds()}))
        };
        json!({
            "reports": plan.reports,
            "nodes": plan.nodes,
            "relays": plan.relays,
            "periods": plan.periods,
            "revisions": plan.revisions,
            "in_flight": plan.in_flight,
            "restart_after_reports": plan.restart_after,
            "hub_cache_bytes": plan.hub_cache_bytes,
            "machine": machine,
            "load_average_start": self.load_average_start,
            "load_average_end": self.load_average_end,
            "wall_s": self.wall_s,
            "signing_s": self.signing_s,
            "setup_s": self.setup_s,
            "reference": {
                "reports": plan.reference_reports(),
                "organisations": plan.reference_orgs,
                "s": self.reference_s,
                "hub_direct_ingest_per_s": reference,
            },
            "intake_s": self.intake_s,
            "intake_per_s": intake,
            "intake_over_hub_direct": intake / reference,
            "total_s": self.total_s,
            "end_to_end_per_s": end_to_end,
            "end_to_end_over_hub_direct": end_to_end / reference,
            "hub_killed_at_s": self.killed_at_s,
            "handed_at_kill": self.handed_at_kill,
            "hub_down_s": self.hub_down_s,
            "hub_respawn_s": self.hub_respawn_s,
            "hub_open_s": self.hub_open_s,
            "drained_after_restart_s": self.drained_after_restart_s,
            "drained_after_restart_by_relay_s": self.drained_after_restart_by_relay_s,
            "drained_after_intake_s": self.drained_after_intake_s,
            "retries": self.retries,
            "hub_first": stat(&self.hub_first),
            "hub_second": stat(&self.hub_second),
            "relays": self.relays_final.iter().map(stat).collect::<Vec<_>>(),
            "bench": stat(&self.bench_final),
            "milestones": self.milestones.iter().map(|(name, s)| {
                let mut j = s.to_json();
                j["at"] = json!(name);
                j
            }).collect::<Vec<_>>(),
            "samples": self.samples.iter().map(Snapshot::to_json).collect::<Vec<_>>(),
            "hub_outcomes": self.outcomes,
            "view_cells_checked": self.view_cells,
            "stored_reports": self.stored_reports,
            "checks": self.checks.iter().map(|c| json!({
                "name": c.name,
                "passed": c.passed,
                "detail": c.detail,
            })).collect::<Vec<_>>(),
        })
    }

    fn print(&self, plan: &Plan, machine: &Json) {
        let (reference, intake, end_to_end) = self.rates(plan);
        println!(
            "federation load: {} reports from {} nodes ({} periods × {} revisions) through {} relays, \
             {} calls in flight, hub SIGKILLed and restarted after {} of them",
            plan.reports,
            plan.nodes,
            plan.periods,
            plan.revisions,
            plan.relays,
            plan.in_flight,
            self.handed_at_kill
        );
        println!(
            "machine: {} CPUs ({}), {} at {}; load average {} at the start, {} at the end",
            machine["cpus"],
            machine["cpu_model"].as_str().unwrap_or("?"),
            machine["filesystem"].as_str().unwrap_or("?"),
            machine["mount_point"].as_str().unwrap_or("?"),
            self.load_average_start,
            self.load_average_end
        );
        println!(
            "wall time {:.1} s; not timed: signing {:.1} s, setup (hub, relays, registration, \
             enrollment) {:.1} s",
            self.wall_s, self.signing_s, self.setup_s
        );
        println!(
            "reference, the hub's direct ingest (Submit, {} in flight, {} organisations): {} in {:.1} s = {reference:.0}/s",
            plan.in_flight,
            plan.reference_orgs,
            plan.reference_reports(),
            self.reference_s
        );
        println!(
            "intake, reports handed to relays: {} in {:.1} s = {intake:.0}/s = {:.2} × the hub's direct ingest",
            plan.reports,
            self.intake_s,
            intake / reference
        );
        println!(
            "end to end, from the first report sent until every relay had every hub receipt: {:.1} s = {end_to_end:.0}/s = {:.2} × the hub's direct ingest",
            self.total_s,
            end_to_end / reference
        );
        println!(
            "hub restart: SIGKILL at {:.1} s ({} handed over); down {:.2} s (new process started after {:.2} s, answering {:.2} s later)",
            self.killed_at_s,
            self.handed_at_kill,
            self.hub_down_s,
            self.hub_respawn_s,
            self.hub_open_s
        );
        println!(
            "drain: every relay's outbox empty {:.1} s after the restart ({}), {:.1} s after the last report was handed over",
            self.drained_after_restart_s,
            self.drained_after_restart_by_relay_s
                .iter()
                .map(|s| format!("{s:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.drained_after_intake_s
        );
        println!(
            "retries of Submit on transient failures: {}",
            if self.retries.is_empty() {
                "none".to_owned()
            } else {
                json!(self.retries).to_string()
            }
        );
        let peak = |s: &Option<ProcStat>| {
            s.map_or("?".to_owned(), |s| {
                format!(
                    "peak {:.0} MiB (now {:.0}), {:.1} CPU s",
                    mib(s.hwm_kib),
                    mib(s.rss_kib),
                    s.cpu_seconds()
                )
            })
        };
        println!("memory (VmHWM read before each process ended) and CPU time:");
        println!(
            "  hub, first incarnation (at its SIGKILL): {}",
            peak(&self.hub_first)
        );
        println!(
            "  hub, second incarnation (at its stop):  {}",
            peak(&self.hub_second)
        );
        for (r, s) in self.relays_final.iter().enumerate() {
            println!("  relay-{r}: {}", peak(s));
        }
        println!(
            "  this process (the simulated nodes, and the signed reports): {}",
            peak(&self.bench_final)
        );
        println!("RSS at milestones (MiB; hub, relays, this process):");
        for (name, s) in &self.milestones {
            println!("  {name:<24} {}", s.line());
        }
        let (load_hub, load_relays) = self.peak_sampled(Some("load"));
        let (drain_hub, drain_relays) = self.peak_sampled(Some("drain"));
        println!(
            "peak sampled RSS (MiB), load: hub {:.0}, relays {}; drain: hub {:.0}, relays {}",
            mib(load_hub),
            load_relays
                .iter()
                .map(|k| format!("{:.0}", mib(*k)))
                .collect::<Vec<_>>()
                .join("/"),
            mib(drain_hub),
            drain_relays
                .iter()
                .map(|k| format!("{:.0}", mib(*k)))
                .collect::<Vec<_>>()
                .join("/"),
        );
        let timed: Vec<&Snapshot> = self
            .samples
            .iter()
            .filter(|s| s.phase == "load" || s.phase == "drain")
            .collect();
        let step = timed.len().div_ceil(20).max(1);
        println!("RSS over time (every {step} s of load and drain; --json has every second):");
        for s in timed.iter().step_by(step) {
            println!("  {:<6} {}", s.phase, s.line());
        }
        println!("checks:");
        for c in &self.checks {
            println!(
                "  [{}] {}: {}",
                if c.passed { "ok" } else { "FAILED" },
                c.name,
                c.detail
            );
        }
    }
}
