//! `relay_drain`: a relay forwarding a backlog of envelopes after an outage of the hub, against
//! the hub's own ingest rate measured in the same run, with the process's memory sampled.
//!
//! Everything runs in this process through the libraries, as the daemons run it, on sled files
//! on a real disk: the hub (`alliance_hub::serve::run` on a loopback TLS listener) in one
//! runtime, the relay (`alliance_node::serve::run` with its TLS listener for affiliates) in
//! another, and the affiliates' side (a gRPC client) in a third.
//!
//! 1. Setup, not timed: hub init; a regional organisation registered and enrolled as a relay
//!    (`init_relay`, `[outbox] min_backoff_ms = 50, max_backoff_seconds = 1`); `--affiliates`
//!    national centres registered `--via` it, their keys enrolled at the hub directly and kept
//!    here to sign. The relay starts serving while the hub is up, so it fetches the registry
//!    that names them.
//! 2. Signing, not timed: `--envelopes` reports to relay (affiliate × period × `--revisions`,
//!    years from 1900 upward; with one revision every envelope is a period of its own), and
//!    `--direct` more for the reference (later years, one revision), on every core.
//! 3. Reference: the `--direct` envelopes submitted to the hub itself, timed, half with one
//!    `Submit` per envelope and half in `SubmitBatch` calls of the relay outbox's page size,
//!    16 calls in flight (as the relay's outbox has): the hub's ingest rate is the faster.
//! 4. Outage: the hub's server is stopped (its data and its `Hub` kept), then every envelope is
//!    pushed to the relay's `Submit` (`--intake-in-flight` at once; each answer must be a
//!    custody receipt): the relay's intake rate. Then the hub serves again on the same port and
//!    the clock runs until the relay's outbox is empty: the drain rate.
//! 5. The process's RSS (`VmRSS`) is sampled every second through intake and drain.
//! 6. Checks: the hub stored exactly `--envelopes` new reports during the drain (its view
//!    generation rises once per new report, not for a duplicate), holds a receipt of each with
//!    outcome `accepted` (or `superseded`, for a revision that reached the hub after a higher
//!    one), the last revision of each (affiliate, period) accepted as the winner, and the relay
//!    counts them all decided, none pending or set aside.
//! 7. The reference again after the checks: half as many envelopes as `--direct` more, in
//!    `SubmitBatch` calls, into the hub that now holds every relayed report, so that the drain
//!    can be compared with the hub's ingest at the store size the drain ended with as well.
//!
//! `--pin`, the deployment-like mode. In deployment the relay and the hub are separate
//! machines. Unpinned (the default), the three runtimes share every CPU of this one: on a
//! 2-CPU box the drain pays for the hub and the relay on the same two cores, while the
//! reference pays for the hub alone (the client only sends pre-signed envelopes), so the ratio
//! says how fast one box hosting both drains, relative to that box hosting only the hub; a
//! lower bound. With `--pin` every thread of the hub's runtime runs on CPU 0, and every thread
//! of the relay's and the client's on CPU 1; the hub's and the relay's setup run on a thread
//! pinned to their CPU, so the threads their stores start (sled's log flusher, the group-commit
//! flusher, sled's I/O pool) inherit it, and the client's side of the timed phases (this
//! process's own driving thread) runs on CPU 1 too. The hub then has one CPU to itself in the
//! reference and in the drain alike, and the ratio is the relay's drain against the ingest rate
//! of the same one-CPU hub: what a relay on a machine of its own achieves. One thing cannot be
//! split: sled's I/O pool (`sled-io-*`) is one per process, shared by both stores, and starts
//! on the hub's CPU (the hub's store is opened first), so in the drain the relay's log writes
//! also cost the hub's CPU (in a 40,000-envelope run, roughly a tenth of the drain's time; the
//! CPU seconds by thread show it): the pinned ratio leans low, never high. A pinned hub also
//! sees one CPU, so it checks a batch on one thread, as it would on a one-CPU machine. The
//! pinning is checked, not assumed: each thread's allowed CPUs are read from `/proc/self/task`
//! after setup and halfway through the drain, printed by kind of thread name, and the run fails
//! if a thread of the hub is allowed off CPU 0, one of the relay or the client off CPU 1, or
//! any other (but the waiting main thread) on both.

#[path = "../disk.rs"]
#[allow(dead_code)]
mod disk;
#[path = "../fixture.rs"]
#[allow(dead_code)]
mod fixture;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alliance_core::org::Region;
use alliance_core::period::Period;
use alliance_core::receipt::{OutcomeKind, ReportId};
use alliance_daemon::{client, serve as daemon_serve, tls};
use alliance_envelope::{Envelope, JoinCode, SigningKey, payload_type, sign};
use alliance_hub::cli::{DataArgs, InitArgs, ShowArgs};
use alliance_hub::hub::{EnrollCall, Hub};
use alliance_node::config::{CONFIG_FILE, NodeConfig};
use alliance_node::node::Node;
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::{EnrollProof, pb};
use anyhow::{Context, Result, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tonic::transport::Channel;

/// The relay's organisation.
const RELAY: &str = "afr-relay";
/// The first year of the periods; each affiliate reports once per period.
const FIRST_YEAR: u16 = 1900;
/// Calls in flight for the hub reference: as many as the relay's outbox has.
const HUB_IN_FLIGHT: usize = alliance_node::node::IN_FLIGHT;
/// How often the RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often the end of the drain is looked for.
const POLL: Duration = Duration::from_millis(10);
/// The longest the drain may take before the run is called off.
const GIVE_UP: Duration = Duration::from_secs(1800);
/// Longer than the hub's signed registry may lag its changes.
const REGISTRY_LAG: Duration = Duration::from_secs(2);
/// African countries, for the affiliates of an African regional organisation.
const COUNTRIES: [&str; 8] = ["KE", "ZA", "NG", "SN", "GH", "TZ", "UG", "ET"];
/// Under `--pin`: the hub's CPU.
const HUB_CPU: usize = 0;
/// Under `--pin`: the relay's and the client's CPU.
const RELAY_CPU: usize = 1;
/// Under `--pin`, how often a snapshot of the threads is read again when one breaks the pinning
/// (a thread just started may not have pinned itself yet).
const PIN_CHECK_TRIES: usize = 5;

/// A relay draining a backlog after an outage, against the hub's ingest rate in the same run.
#[derive(Debug, Parser)]
struct Args {
    /// Envelopes pushed to the relay during the outage.
    #[arg(long, default_value_t = 100_000)]
    envelopes: usize,
    /// National centres registered via the relay.
    #[arg(long, default_value_t = 1000)]
    affiliates: usize,
    /// Envelopes submitted to the hub directly for the reference [default: a fifth of
    /// --envelopes].
    #[arg(long)]
    direct: Option<usize>,
    /// Revisions of each (affiliate, period) in the backlog, queued one after another: 1 makes
    /// every envelope a report of its own period (the most the hub must hold in full); more is
    /// the shape of a long outage, in which affiliates revise the same few reports.
    #[arg(long, default_value_t = 1)]
    revisions: usize,
    /// Submissions in flight when pushing the backlog to the relay.
    #[arg(long, default_value_t = 64)]
    intake_in_flight: usize,
    /// Where the data directories go; must be on a real disk, not tmpfs [default:
    /// target/bench-tmp in the workspace].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON document instead of the summary.
    #[arg(long)]
    json: bool,
    /// Keep the data directories.
    #[arg(long)]
    keep: bool,
    /// Deployment-like: the hub's threads on CPU 0, the relay's and the client's on CPU 1 (see
    /// the module documentation).
    #[arg(long)]
    pin: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.envelopes == 0 || args.affiliates == 0 || args.intake_in_flight == 0 {
        bail!("--envelopes, --affiliates and --intake-in-flight must be at least 1");
    }
    if args.pin {
        let cpus: Vec<usize> = core_affinity::get_core_ids()
            .context("--pin: cannot read this process's CPU affinity")?
            .iter()
            .map(|core| core.id)
            .collect();
        if !cpus.contains(&HUB_CPU) || !cpus.contains(&RELAY_CPU) {
            bail!(
                "--pin puts the hub on CPU {HUB_CPU} and the relay and the client on CPU {RELAY_CPU}, but this process may use {} CPU(s): {cpus:?}",
                cpus.len()
            );
        }
    }
    tls::install_crypto_provider();
    let disk::RunDir {
        dir,
        mount_point,
        fs_type,
    } = disk::run_dir(args.dir.as_deref())?;
    let direct = args.direct.unwrap_or(args.envelopes / 5).max(1);
    eprintln!(
        "relay_drain: {} envelopes via the relay from {} affiliates, {direct} direct, data in {} ({fs_type} at {})",
        args.envelopes,
        args.affiliates,
        dir.path().display(),
        mount_point.display()
    );
    // Under `--pin` each runtime's threads (workers and blocking threads alike) pin themselves
    // as they start.
    let runtime = |name: &str, cpu: usize| {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.thread_name(name).enable_all();
        if args.pin {
            builder.on_thread_start(move || pin_current_thread(cpu));
        }
        builder
            .build()
            .with_context(|| format!("starting the {name} runtime"))
    };
    let rts = Runtimes {
        hub: runtime("hub", HUB_CPU)?,
        relay: runtime("relay", RELAY_CPU)?,
        client: runtime("client", RELAY_CPU)?,
        pinned: args.pin,
    };
    let measured = run(&rts, dir.path(), &args, direct);
    if args.keep {
        eprintln!("kept {}", dir.keep().display());
    }
    let m = measured?;

    let rate = |(n, time): (usize, Duration)| n as f64 / time.as_secs_f64();
    let (hub_single_rate, hub_batch_rate) = (rate(m.hub_ingest_single), rate(m.hub_ingest_batch));
    let hub_rate = hub_single_rate.max(hub_batch_rate);
    let intake_rate = args.envelopes as f64 / m.intake.as_secs_f64();
    let drain_rate = args.envelopes as f64 / m.drain.as_secs_f64();
    let stored_rate = args.envelopes as f64 / m.hub_stored_all.as_secs_f64();
    let ratio = drain_rate / hub_rate;
    let hub_batch_after_rate = rate(m.hub_ingest_batch_after);
    let ratio_after = drain_rate / hub_batch_after_rate;
    let rss = |phase: &str| {
        let v: Vec<u64> = m
            .samples
            .iter()
            .filter(|s| s.phase == phase)
            .map(|s| s.rss_kib)
            .collect();
        (
            v.len(),
            v.iter().min().copied().unwrap_or(0),
            v.iter().max().copied().unwrap_or(0),
            v.last().copied().unwrap_or(0),
        )
    };
    let per_report = |from: u64, to: u64, n: usize| to.saturating_sub(from) as f64 / n as f64;
    let reference_growth = per_report(m.rss_before_reference, m.rss_before_intake, direct);
    let intake_growth = per_report(m.rss_before_intake, m.rss_restart, args.envelopes);
    let drain_growth = per_report(m.rss_restart, m.rss_hub_all, args.envelopes);
    let (intake_n, intake_min, intake_max, intake_last) = rss("intake");
    let (drain_n, drain_min, drain_max, drain_last) = rss("drain");
    if args.json {
        let doc = json!({
            "envelopes": args.envelopes,
            "affiliates": args.affiliates,
            "pinned": args.pin,
            "pinning": args.pin.then(|| m
                .pinning
                .iter()
                .map(|(when, pinning)| ((*when).to_owned(), pinning_json(pinning)))
                .collect::<serde_json::Map<_, _>>()),
            "direct": direct,
            "intake_in_flight": args.intake_in_flight,
            "hub_in_flight": HUB_IN_FLIGHT,
            "filesystem": fs_type,
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "load_average_start": m.load_start,
            "load_average_end": m.load_end,
            "signing_s": m.signing.as_secs_f64(),
            "hub_ingest_submit_per_s": hub_single_rate,
            "hub_ingest_batch_per_s": hub_batch_rate,
            "hub_ingest_batch_after_drain_per_s": hub_batch_after_rate,
            "ratio_to_batch_after_drain": ratio_after,
            "hub_ingest_per_s": hub_rate,
            "relay_intake_s": m.intake.as_secs_f64(),
            "relay_intake_per_s": intake_rate,
            "drain_s": m.drain.as_secs_f64(),
            "drain_per_s": drain_rate,
            "hub_stored_all_s": m.hub_stored_all.as_secs_f64(),
            "hub_stored_per_s": stored_rate,
            "first_forward_after_restart_s": m.first_forward.map(|d| d.as_secs_f64()),
            "drain_over_hub_ingest": ratio,
            "target_ratio": 0.8,
            "rss_kib_before_reference": m.rss_before_reference,
            "rss_kib_before_intake": m.rss_before_intake,
            "cpu_seconds_by_thread": m.cpu,
            "rss_kib_intake": {"samples": intake_n, "min": intake_min, "max": intake_max, "last": intake_last},
            "rss_kib_drain": {"samples": drain_n, "min": drain_min, "max": drain_max, "last": drain_last},
            "rss_kib_at_restart": m.rss_restart,
            "rss_kib_hub_stored_all": m.rss_hub_all,
            "rss_kib_after_checks": m.rss_after,
            "rss_growth_kib_per_report": {"hub_reference": reference_growth, "relay_intake": intake_growth, "drain": drain_growth},
            "samples": m.samples.iter().map(|s| json!({
                "t_s": s.at.as_secs_f64(),
                "phase": s.phase,
                "rss_kib": s.rss_kib,
                "hub_new_reports": s.hub_new,
            })).collect::<Vec<_>>(),
            "hub_outcomes": m.outcomes,
            "relay_relayed": {"pending": m.relayed.pending, "decided": m.relayed.decided, "set_aside": m.relayed.set_aside},
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "relay drain after an outage, loopback TLS, {fs_type} at {}, {} CPUs, {}",
        mount_point.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if args.pin {
            format!(
                "pinned (--pin): the hub on CPU {HUB_CPU}, the relay and the client on CPU {RELAY_CPU}"
            )
        } else {
            "not pinned: the hub, the relay and the client share every CPU".to_owned()
        }
    );
    println!(
        "{} envelopes via the relay ({} affiliates × {} periods × {} revisions), {direct} direct to the hub",
        args.envelopes,
        args.affiliates,
        args.envelopes
            .div_ceil(args.affiliates * args.revisions.max(1)),
        args.revisions.max(1)
    );
    println!(
        "load average: {} at the start, {} at the end",
        m.load_start, m.load_end
    );
    for (when, pinning) in &m.pinning {
        println!("pinning {when}: {}", render_pinning(pinning));
    }
    println!(
        "signing (not timed in the rates): {:.1} s",
        m.signing.as_secs_f64()
    );
    println!(
        "hub direct ingest, Submit, {HUB_IN_FLIGHT} in flight: {} in {:.2} s = {hub_single_rate:.0}/s",
        m.hub_ingest_single.0,
        m.hub_ingest_single.1.as_secs_f64()
    );
    println!(
        "hub direct ingest, SubmitBatch of {}, {HUB_IN_FLIGHT} in flight: {} in {:.2} s = {hub_batch_rate:.0}/s",
        alliance_node::node::WINDOW,
        m.hub_ingest_batch.0,
        m.hub_ingest_batch.1.as_secs_f64()
    );
    println!(
        "relay intake during the outage, Submit, {} in flight: {} in {:.2} s = {intake_rate:.0}/s",
        args.intake_in_flight,
        args.envelopes,
        m.intake.as_secs_f64()
    );
    println!(
        "relay drain, hub restart → relay outbox empty: {} in {:.2} s = {drain_rate:.0}/s (first report stored at the hub {} after the restart; all stored at the hub after {:.2} s = {stored_rate:.0}/s)",
        args.envelopes,
        m.drain.as_secs_f64(),
        m.first_forward
            .map_or("never".to_owned(), |d| format!("{:.2} s", d.as_secs_f64())),
        m.hub_stored_all.as_secs_f64()
    );
    println!(
        "hub direct ingest after the drain (every relayed report stored), SubmitBatch of {}, {HUB_IN_FLIGHT} in flight: {} in {:.2} s = {hub_batch_after_rate:.0}/s",
        alliance_node::node::WINDOW,
        m.hub_ingest_batch_after.0,
        m.hub_ingest_batch_after.1.as_secs_f64()
    );
    println!(
        "ratio drain / hub ingest (the faster of the two, before the outage) = {ratio:.2} (target ≥ 0.8): {}",
        if ratio >= 0.8 { "met" } else { "NOT met" }
    );
    println!("ratio drain / hub SubmitBatch after the drain = {ratio_after:.2}");
    println!("RSS (VmRSS, whole process: hub + relay + client + the signed envelopes held):");
    println!(
        "  before the hub reference: {} MiB; after it (before intake): {} MiB",
        mib(m.rss_before_reference),
        mib(m.rss_before_intake)
    );
    println!(
        "  intake: {intake_n} samples, min {} max {} last {} MiB",
        mib(intake_min),
        mib(intake_max),
        mib(intake_last)
    );
    println!(
        "  drain:  {drain_n} samples, min {} max {} last {} MiB",
        mib(drain_min),
        mib(drain_max),
        mib(drain_last)
    );
    println!(
        "  at the restart {} MiB; when the hub held every relayed report {} MiB; after the checks (relay status read all, receipts re-signed) {} MiB",
        mib(m.rss_restart),
        mib(m.rss_hub_all),
        mib(m.rss_after)
    );
    println!(
        "  growth per report: hub reference (hub alone) {reference_growth:.1} KiB, relay intake (relay alone) {intake_growth:.1} KiB, drain (hub + relay) {drain_growth:.1} KiB"
    );
    println!(
        "  drain samples (s since restart: MiB, reports at the hub): {}",
        m.samples
            .iter()
            .filter(|s| s.phase == "drain")
            .map(|s| format!(
                "{:.0}: {} ({})",
                s.at.as_secs_f64(),
                mib(s.rss_kib),
                s.hub_new
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("CPU seconds by thread name (live threads only), per phase:");
    for (phase, by_name) in &m.cpu {
        let total: f64 = by_name.values().sum();
        println!(
            "  {phase:<9} total {total:6.2}: {}",
            by_name
                .iter()
                .map(|(name, s)| format!("{name} {s:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "checks: hub stored {} new reports during the drain, receipts {}; relay: {} decided, {} pending, {} set aside",
        args.envelopes,
        json!(m.outcomes),
        m.relayed.decided,
        m.relayed.pending,
        m.relayed.set_aside
    );
    Ok(())
}

struct Runtimes {
    hub: Runtime,
    relay: Runtime,
    client: Runtime,
    /// `--pin`: the hub's runtime on [`HUB_CPU`], the relay's and the client's on [`RELAY_CPU`].
    pinned: bool,
}

impl Runtimes {
    /// Where the hub's side runs: its CPU under `--pin`, else anywhere.
    fn hub_cpu(&self) -> Option<usize> {
        self.pinned.then_some(HUB_CPU)
    }

    /// Where the relay's and the client's side runs: its CPU under `--pin`, else anywhere.
    fn relay_cpu(&self) -> Option<usize> {
        self.pinned.then_some(RELAY_CPU)
    }
}

/// One RSS sample.
#[derive(Debug, Clone)]
struct Sample {
    /// Since the start of its phase.
    at: Duration,
    phase: &'static str,
    rss_kib: u64,
    /// New reports the hub stored since the outage began.
    hub_new: u64,
}

/// What one run measured.
#[derive(Debug, Default)]
struct Measured {
    signing: Duration,
    /// Envelopes the hub took one per `Submit`, and the time.
    hub_ingest_single: (usize, Duration),
    /// Envelopes the hub took in `SubmitBatch` calls, and the time.
    hub_ingest_batch: (usize, Duration),
    /// The same after the drain, with every relayed report stored.
    hub_ingest_batch_after: (usize, Duration),
    intake: Duration,
    /// From the restart until the relay's outbox was seen empty.
    drain: Duration,
    /// From the restart until the hub had stored every relayed report.
    hub_stored_all: Duration,
    /// From the restart until the hub stored the first relayed report.
    first_forward: Option<Duration>,
    samples: Vec<Sample>,
    rss_before_reference: u64,
    rss_before_intake: u64,
    /// At the restart, and when the hub had stored every relayed report.
    rss_restart: u64,
    rss_hub_all: u64,
    rss_after: u64,
    /// CPU seconds by thread name, per phase.
    cpu: BTreeMap<&'static str, BTreeMap<String, f64>>,
    outcomes: BTreeMap<String, usize>,
    relayed: alliance_node::node::RelayedSummary,
    /// Under `--pin`: the threads' pinning after setup and halfway through the drain.
    pinning: Vec<(&'static str, Pinning)>,
    load_start: String,
    load_end: String,
}

/// The hub serving in its runtime.
struct HubServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl HubServer {
    fn start(rt: &Runtime, hub: &Arc<Hub>, listener: TcpListener) -> Result<HubServer> {
        let socket = hub.data_dir().join(alliance_hub::config::ADMIN_SOCKET);
        let admin = {
            let _entered = rt.enter();
            daemon_serve::bind_admin_socket(&socket)
                .with_context(|| format!("binding {}", socket.display()))?
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(alliance_hub::serve::run(
            Arc::clone(hub),
            listener,
            admin,
            async {
                let _ = stopped.await;
            },
        ));
        Ok(HubServer { stop, task })
    }

    fn stop(self, rt: &Runtime) -> Result<()> {
        let _ = self.stop.send(());
        rt.block_on(self.task)
            .context("the hub's task panicked")?
            .context("the hub stopped with an error")
    }
}

fn run(rts: &Runtimes, dir: &Path, args: &Args, direct: usize) -> Result<Measured> {
    let mut m = Measured {
        load_start: load_average()?,
        ..Measured::default()
    };

    // The hub, its port known before init so that join codes name it. Under `--pin` each
    // side's setup runs on a thread pinned to its CPU, so that the threads its store starts
    // inherit that CPU.
    let data = dir.join("hub");
    let (hub, hub_address, hub_ca_der, server) = on_cpu(rts.hub_cpu(), "hub-setup", || {
        let listener = rts
            .hub
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("binding the hub's port")?;
        let hub_address = listener.local_addr().context("the hub's port")?;
        alliance_hub::init::init(&InitArgs {
            show: ShowArgs {
                data: DataArgs { data: data.clone() },
                json: false,
            },
            listen: "127.0.0.1:0".into(),
            public_addr: Some(hub_address.to_string()),
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
        })
        .context("initialising the hub's data directory")?;
        let hub = Arc::new(
            Hub::open(&data).with_context(|| format!("opening the hub at {}", data.display()))?,
        );
        let hub_ca = alliance_hub::config::HubConfig::resolve(&data, &hub.config().tls.ca);
        let hub_ca_der = tls::read_ca_pem(&hub_ca).context("the hub's CA")?;
        let server = HubServer::start(&rts.hub, &hub, listener)?;
        Ok((hub, hub_address, hub_ca_der, server))
    })?;
    let mut server = Some(server);

    // The relay: registered, enrolled with `init_relay`, its outbox retrying quickly.
    let relay_dir = dir.join("relay");
    let relay_listener = on_cpu(rts.relay_cpu(), "relay-setup", || {
        rts.relay
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("binding the relay's port")
    })?;
    let relay_address = relay_listener.local_addr().context("the relay's port")?;
    let code = on_cpu(rts.hub_cpu(), "hub-setup", || {
        let issued = rts
            .hub
            .block_on(hub.import_orgs(
                format!("id,name,kind,country,region\n{RELAY},ITUC Africa,regional_organisation,TG,africa\n")
                    .as_bytes(),
                "relay_drain",
            ))
            .context("registering the relay's organisation")?;
        issued
            .first()
            .map(|(_, code)| code.code.clone())
            .context("no join code issued")
    })?;
    on_cpu(rts.relay_cpu(), "relay-setup", || {
        rts.relay
            .block_on(alliance_node::init::init_relay(
                &relay_dir,
                &code,
                &alliance_node::init::RelayInit {
                    listen: relay_address.to_string(),
                    public_address: relay_address.to_string(),
                },
            ))
            .context("enrolling the relay")
    })?;
    let mut config = NodeConfig::load(&relay_dir)?;
    config.outbox.min_backoff_ms = 50;
    config.outbox.max_backoff_seconds = 1;
    std::fs::write(
        relay_dir.join(CONFIG_FILE),
        toml::to_string_pretty(&config).context("writing the relay's configuration")?,
    )
    .context("writing the relay's node.toml")?;

    // The affiliates, via the relay, enrolled at the hub directly.
    let affiliates = affiliates(args.affiliates)?;
    on_cpu(rts.hub_cpu(), "hub-setup", || {
        rts.hub.block_on(enroll_all(&hub, &affiliates))
    })?;
    // Above 1000 organisations the hub's signed registry may lag its changes by up to a second;
    // the relay must fetch one that names every affiliate before the outage (during it, an
    // unknown key can only be answered "unavailable, try again later").
    std::thread::sleep(REGISTRY_LAG);

    // The relay serves, and fetches the registry that names the affiliates, while the hub is up.
    let (node, relay_task, stop_relay) = on_cpu(rts.relay_cpu(), "relay-setup", || {
        let node = Arc::new(Node::open(&relay_dir).context("opening the relay")?);
        let relay_socket = relay_dir.join(alliance_node::config::ADMIN_SOCKET);
        let relay_admin = {
            let _entered = rts.relay.enter();
            daemon_serve::bind_admin_socket(&relay_socket)
                .with_context(|| format!("binding {}", relay_socket.display()))?
        };
        let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
        let relay_task = rts.relay.spawn(alliance_node::serve::run(
            Arc::clone(&node),
            relay_admin,
            Some(relay_listener),
            async {
                let _ = relay_stopped.await;
            },
        ));
        Ok((node, relay_task, stop_relay))
    })?;
    let relay_ca_der = tls::read_ca_pem(&relay_dir.join(alliance_node::config::RELAY_CA_CERT))
        .context("the relay's CA")?;

    // Signing, on every core, before anything is timed.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let signing = Instant::now();
    let revisions = args.revisions.max(1);
    let periods = args.envelopes.div_ceil(args.affiliates * revisions);
    // Envelope i is affiliate i mod A's k-th (k = i div A): revision k mod R + 1 of its period
    // k div R, so each affiliate's revisions of one period are queued in order.
    let items = |from: usize, n: usize, revisions: usize| -> Result<Vec<fixture::Item>> {
        (from..from + n)
            .map(|i| {
                let k = i / args.affiliates;
                let year = u16::try_from(k / revisions)
                    .ok()
                    .and_then(|y| FIRST_YEAR.checked_add(y))
                    .context("too many periods")?;
                Ok(fixture::Item {
                    org: i % args.affiliates,
                    period: Period::year(year)?,
                    revision: (k % revisions + 1) as u64,
                })
            })
            .collect()
    };
    let relayed_items = items(0, args.envelopes, revisions)?;
    let relayed = fixture::sign_all(&affiliates, &relayed_items, threads)?;
    // The reference's reports are of later periods, one revision each: `direct` before the
    // outage, and half as many again in batches after the drain.
    let direct_after = (direct / 2).max(1);
    let mut direct_envelopes = fixture::sign_all(
        &affiliates,
        &items(periods * args.affiliates, direct + direct_after, 1)?,
        threads,
    )?;
    let after_envelopes = direct_envelopes.split_off(direct);
    // The last revision of each (affiliate, period) must win.
    let mut last = std::collections::HashMap::new();
    for item in &relayed_items {
        last.insert((item.org, item.period), item.revision);
    }
    m.signing = signing.elapsed();
    let relayed_ids: Vec<ReportId> = relayed
        .iter()
        .map(|e| ReportId(alliance_envelope::report_id(&Envelope::from(e.clone()))))
        .collect();

    // The client's side of the timed phases (and the drain's watch, and the checks) runs on a
    // thread pinned with the client under `--pin`; here otherwise.
    let measured = on_cpu(rts.relay_cpu(), "client-driver", || {
        if rts.pinned {
            m.pinning.push(("after setup", pinning_checked()?));
        }
        // The reference: the hub's own ingest rate.
        let hub_client = rts.client.block_on(connect(hub_address, &hub_ca_der))?;
        let after_client = hub_client.clone();
        m.rss_before_reference = rss_kib()?;
        let cpu = cpu_by_thread()?;
        // Half one envelope per call, half in batches the size of the relay's (one page of its
        // outbox): the hub's rate is the faster of the two.
        let mut direct_envelopes = direct_envelopes;
        let batched = direct_envelopes.split_off(direct_envelopes.len() / 2);
        m.hub_ingest_single = (
            direct_envelopes.len(),
            rts.client.block_on(push(
                hub_client.clone(),
                direct_envelopes,
                HUB_IN_FLIGHT,
                Expect::HubReceipt,
            ))?,
        );
        m.hub_ingest_batch = (
            batched.len(),
            rts.client
                .block_on(push_batches(hub_client, batched, HUB_IN_FLIGHT))?,
        );

        m.cpu.insert("reference", cpu_since(&cpu)?);

        // The outage.
        server
            .take()
            .context("the hub is not serving")?
            .stop(&rts.hub)?;
        let before = hub.view_generation();
        let sampling = Arc::new(AtomicBool::new(true));
        m.rss_before_intake = rss_kib()?;
        let sampler = spawn_sampler(Arc::clone(&sampling), Arc::clone(&hub), before, "intake");
        let relay_client = rts.client.block_on(connect(relay_address, &relay_ca_der))?;
        let cpu = cpu_by_thread()?;
        let intake = rts.client.block_on(push(
            relay_client,
            relayed,
            args.intake_in_flight,
            Expect::CustodyReceipt,
        ));
        sampling.store(false, Ordering::SeqCst);
        m.samples.extend(join_sampler(sampler)?);
        m.intake = intake?;
        m.cpu.insert("intake", cpu_since(&cpu)?);
        if hub.view_generation() != before {
            bail!("the hub stored reports while it was down");
        }

        // The hub again, on the same port: the clock runs until the relay's outbox is empty.
        let listener = rts
            .hub
            .block_on(TcpListener::bind(hub_address))
            .with_context(|| format!("binding {hub_address} again"))?;
        let sampling = Arc::new(AtomicBool::new(true));
        let cpu = cpu_by_thread()?;
        m.rss_restart = rss_kib()?;
        let restart = Instant::now();
        server = Some(HubServer::start(&rts.hub, &hub, listener)?);
        node.wake_outbox();
        let sampler = spawn_sampler(Arc::clone(&sampling), Arc::clone(&hub), before, "drain");
        let target = u64::try_from(args.envelopes)?;
        let drained = (|| {
            loop {
                let stored = hub.view_generation() - before;
                if stored > 0 && m.first_forward.is_none() {
                    m.first_forward = Some(restart.elapsed());
                }
                if rts.pinned && stored >= target / 2 && m.pinning.len() < 2 {
                    m.pinning
                        .push(("halfway through the drain", pinning_checked()?));
                }
                if stored >= target {
                    m.hub_stored_all = restart.elapsed();
                    m.cpu.insert("drain", cpu_since(&cpu)?);
                    m.rss_hub_all = rss_kib()?;
                    break;
                }
                if restart.elapsed() > GIVE_UP {
                    bail!("the hub holds {stored} of {target} relayed reports after {GIVE_UP:?}");
                }
                std::thread::sleep(POLL);
            }
            // The hub holds them all; the relay's outbox empties as it stores the last
            // receipts. Its status reads every report it holds, so it is asked only now.
            loop {
                let status = node.status(None).context("the relay's status")?;
                let relayed = status
                    .relayed
                    .context("the relay shows no relayed reports")?;
                if relayed.pending == 0 {
                    m.drain = restart.elapsed();
                    m.relayed = relayed;
                    return Ok(());
                }
                if restart.elapsed() > GIVE_UP {
                    bail!("the relay still holds {relayed:?} after {GIVE_UP:?}");
                }
                std::thread::sleep(POLL);
            }
        })();
        sampling.store(false, Ordering::SeqCst);
        m.samples.extend(join_sampler(sampler)?);
        drained?;

        // Checks: exactly the relayed reports, each accepted, none lost or doubled.
        let stored = hub.view_generation() - before;
        if stored != target {
            bail!("the hub stored {stored} new reports during the drain, not {target}");
        }
        for (i, id) in relayed_ids.iter().enumerate() {
            let receipt = hub
                .receipt(id)
                .map_err(|e| anyhow::anyhow!("the hub's receipt of {id}: {e}"))?
                .with_context(|| format!("the hub holds no report {id}"))?;
            let receipt = alliance_proto::decode_receipt(&receipt.payload)
                .context("decoding a hub receipt")?;
            // The last revision is the highest, so it was accepted as the winner whenever it
            // arrived; what an earlier one says depended on what the hub held then.
            let item = relayed_items[i];
            let top = last[&(item.org, item.period)];
            if item.revision == top
                && (receipt.outcome.kind != OutcomeKind::Accepted
                    || receipt.outcome.winning_revision != top)
            {
                bail!(
                    "report {id}, the last revision ({top}) of affiliate {} for {}, was not accepted as the winner: {:?}",
                    item.org,
                    item.period,
                    receipt.outcome
                );
            }
            *m.outcomes
                .entry(receipt.outcome.kind.as_str().to_owned())
                .or_default() += 1;
        }
        // Revisions in flight together may reach the hub in either order, so a lower one is
        // accepted or superseded; nothing else is right.
        let decided = m.outcomes.get("accepted").copied().unwrap_or(0)
            + m.outcomes.get("superseded").copied().unwrap_or(0);
        if decided != args.envelopes || (revisions == 1 && m.outcomes.len() != 1) {
            bail!("hub outcomes of the relayed reports: {:?}", m.outcomes);
        }
        if m.relayed.decided != target || m.relayed.set_aside != 0 {
            bail!("the relay counts {:?}", m.relayed);
        }
        m.rss_after = rss_kib()?;

        // The reference again, in batches, now that the hub holds every relayed report too: a
        // store as large as at the end of the drain.
        let cpu = cpu_by_thread()?;
        m.hub_ingest_batch_after = (
            after_envelopes.len(),
            rts.client
                .block_on(push_batches(after_client, after_envelopes, HUB_IN_FLIGHT))?,
        );
        m.cpu.insert("reference after", cpu_since(&cpu)?);
        anyhow::Ok(())
    });

    let _ = stop_relay.send(());
    let relay_ended = rts.relay.block_on(relay_task);
    let hub_ended = server.map_or(Ok(()), |s| s.stop(&rts.hub));
    measured?;
    relay_ended
        .context("the relay panicked")?
        .context("the relay stopped with an error")?;
    hub_ended?;
    m.load_end = load_average()?;
    Ok(m)
}

/// Pins the calling thread to `cpu`; a failure is reported here and caught by the checks of
/// the pinning (a runtime's thread-start hook cannot return an error).
fn pin_current_thread(cpu: usize) {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        eprintln!(
            "relay_drain: cannot pin thread {:?} to CPU {cpu}",
            std::thread::current().name()
        );
    }
}

/// Runs `f` on a thread of its own named `name` and pinned to `cpu`, so that `f` and the threads
/// it starts (which inherit the affinity, and the name when they have none of their own) run
/// there; or on this thread when `cpu` is `None` (unpinned).
fn on_cpu<T: Send>(
    cpu: Option<usize>,
    name: &str,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    let Some(cpu) = cpu else {
        return f();
    };
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(scope, move || {
                pin_current_thread(cpu);
                f()
            })
            .with_context(|| format!("starting the {name} thread"))?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// What a thread is, by its name: one of the three runtimes (or a setup or driving thread named
/// after one), sled's (its I/O pool and each database's log flusher), the store's group-commit
/// flusher, the main thread (or an unnamed thread it started, which carries its name), or other.
const THREAD_KINDS: [&str; 7] = [
    "hub",
    "relay",
    "client",
    "sled",
    "store-flush",
    "main",
    "other",
];

/// Threads of one kind: how many may run on which CPUs (`Cpus_allowed_list`), and how many last
/// ran on which CPU (field 39 of `stat`).
#[derive(Debug, Default, Clone)]
struct ThreadsOfKind {
    allowed: BTreeMap<String, usize>,
    last_cpu: BTreeMap<String, usize>,
}

/// This process's threads by kind, in the order of [`THREAD_KINDS`].
type Pinning = Vec<(&'static str, ThreadsOfKind)>;

/// The kind of the thread named `name`; see [`THREAD_KINDS`].
fn thread_kind(name: &str, is_main: bool) -> &'static str {
    if is_main {
        "main"
    } else if name.starts_with("hub") {
        "hub"
    } else if name.starts_with("relay") {
        "relay"
    } else if name.starts_with("client") {
        "client"
    } else if name.starts_with("sled") || name == "log flusher" {
        "sled"
    } else if name.starts_with("alliance-store") {
        "store-flush"
    } else {
        "other"
    }
}

/// Where this process's threads may run and last ran, by kind, from `/proc/self/task`.
fn thread_pinning() -> Result<Pinning> {
    let main_tid = std::process::id().to_string();
    let name_of = |stat: &str| -> Option<String> {
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        Some(stat[open + 1..close].to_owned())
    };
    let main_name = std::fs::read_to_string(format!("/proc/self/task/{main_tid}/stat"))
        .ok()
        .as_deref()
        .and_then(name_of)
        .context("reading the main thread's name")?;
    let mut out: Pinning = THREAD_KINDS
        .iter()
        .map(|kind| (*kind, ThreadsOfKind::default()))
        .collect();
    for task in std::fs::read_dir("/proc/self/task").context("reading /proc/self/task")? {
        let task = task.context("a task")?.path();
        // A thread may end between the listing and the reads.
        let (Ok(stat), Ok(status)) = (
            std::fs::read_to_string(task.join("stat")),
            std::fs::read_to_string(task.join("status")),
        ) else {
            continue;
        };
        let (Some(name), Some(close)) = (name_of(&stat), stat.rfind(')')) else {
            continue;
        };
        // After the name: state is field 3, so field 39 (the CPU last run on) is the 37th.
        let last_cpu = stat[close + 1..]
            .split_whitespace()
            .nth(36)
            .unwrap_or("?")
            .to_owned();
        let allowed = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .map_or("?".to_owned(), |cpus| cpus.trim().to_owned());
        let is_main = task.file_name().is_some_and(|tid| *tid == *main_tid) || name == main_name;
        let kind = thread_kind(&name, is_main);
        if let Some((_, threads)) = out.iter_mut().find(|(k, _)| *k == kind) {
            *threads.allowed.entry(allowed).or_default() += 1;
            *threads.last_cpu.entry(last_cpu).or_default() += 1;
        }
    }
    Ok(out)
}

/// What breaks the pinning in `pinning`, if anything: a hub thread allowed anywhere but on
/// [`HUB_CPU`], a relay or client thread anywhere but on [`RELAY_CPU`], or any other thread
/// allowed on more than one of them (sled's and the store's threads belong to one side or the
/// other). The main thread is exempt: under `--pin` it only waits for the pinned threads.
fn pinning_broken(pinning: &Pinning) -> Option<String> {
    let (hub, relay) = (HUB_CPU.to_string(), RELAY_CPU.to_string());
    for (kind, threads) in pinning {
        for cpus in threads.allowed.keys() {
            let held = match *kind {
                "hub" => *cpus == hub,
                "relay" | "client" => *cpus == relay,
                "main" => true,
                _ => *cpus == hub || *cpus == relay,
            };
            if !held {
                return Some(format!("{kind} threads are allowed on CPUs {cpus}"));
            }
        }
    }
    None
}

/// [`thread_pinning`], failing if the pinning does not hold. A snapshot that breaks it is read
/// again a few times first: a thread just started may not have pinned itself yet.
fn pinning_checked() -> Result<Pinning> {
    let mut tries = 1;
    loop {
        let pinning = thread_pinning()?;
        match pinning_broken(&pinning) {
            None => return Ok(pinning),
            Some(broken) if tries >= PIN_CHECK_TRIES => bail!(
                "--pin does not hold: {broken} (threads by kind: {})",
                render_pinning(&pinning)
            ),
            Some(_) => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// One line: per kind, the number of threads, the CPUs they may run on, the CPU each last ran on.
fn render_pinning(pinning: &Pinning) -> String {
    let list = |counts: &BTreeMap<String, usize>| {
        counts
            .iter()
            .map(|(cpus, n)| format!("{n}×[{cpus}]"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    pinning
        .iter()
        .map(|(kind, threads)| {
            let n: usize = threads.allowed.values().sum();
            if n == 0 {
                format!("{kind} none")
            } else {
                format!(
                    "{kind} {n} allowed {} last ran {}",
                    list(&threads.allowed),
                    list(&threads.last_cpu)
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The pinning as JSON: per kind, the threads, the CPUs they may run on, the CPU each last ran on.
fn pinning_json(pinning: &Pinning) -> serde_json::Value {
    pinning
        .iter()
        .map(|(kind, threads)| {
            (
                (*kind).to_owned(),
                json!({
                    "threads": threads.allowed.values().sum::<usize>(),
                    "allowed_cpus": threads.allowed,
                    "last_cpu": threads.last_cpu,
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `n` national centres in Africa, `nc-00000` onwards, each with a key derived from its index.
fn affiliates(n: usize) -> Result<Vec<fixture::Org>> {
    (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            seed[8..20].copy_from_slice(b"relay_drain!");
            Ok(fixture::Org {
                id: format!("nc-{i:05}").parse()?,
                country: COUNTRIES[i % COUNTRIES.len()].parse()?,
                region: Region::Africa,
                key: SigningKey::from_seed(&seed),
            })
        })
        .collect()
}

/// Registers the affiliates `via` the relay with one CSV import and enrolls each one's key at
/// the hub, as a node would (a proof of possession for the token of its join code).
async fn enroll_all(hub: &Arc<Hub>, orgs: &[fixture::Org]) -> Result<()> {
    let mut csv = String::from("id,name,kind,country,region,via\n");
    for org in orgs {
        csv.push_str(&format!(
            "{},Union {},national_centre,{},africa,{RELAY}\n",
            org.id,
            org.id,
            org.country.as_str()
        ));
    }
    let issued = hub
        .import_orgs(csv.as_bytes(), "relay_drain")
        .await
        .context("registering the affiliates")?;
    if issued.len() != orgs.len() {
        bail!("{} affiliates registered, not {}", issued.len(), orgs.len());
    }
    futures::stream::iter(orgs.iter().zip(issued))
        .map(|(org, (_, code))| async move {
            let join: JoinCode = code
                .code
                .parse()
                .with_context(|| format!("the join code of {}", org.id))?;
            let public_key = org.key.public_key();
            let proof = EnrollProof {
                org: org.id.clone(),
                token: join.token.clone(),
                public_key,
                hub_key_fingerprint: join.hub_key_fingerprint,
                relay: None,
            };
            let call = EnrollCall {
                org_id: org.id.to_string(),
                token: join.token,
                public_key: public_key.to_vec(),
                proof: sign(
                    &org.key,
                    payload_type::ENROLL_PROOF,
                    alliance_proto::encode_enroll_proof(&proof),
                ),
                relay: None,
            };
            hub.enroll(call, "relay_drain")
                .await
                .map(drop)
                .with_context(|| format!("enrolling {}", org.id))
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn connect(address: SocketAddr, ca_der: &[u8]) -> Result<HubServiceClient<Channel>> {
    let channel = client::connect_tls(&address.to_string(), tls::client_config(ca_der)?)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    Ok(HubServiceClient::new(channel))
}

/// What every answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    HubReceipt,
    CustodyReceipt,
}

/// Submits every envelope, `in_flight` at once over one connection; returns the time taken.
async fn push(
    client: HubServiceClient<Channel>,
    envelopes: Vec<pb::Envelope>,
    in_flight: usize,
    expect: Expect,
) -> Result<Duration> {
    let start = Instant::now();
    futures::stream::iter(envelopes)
        .map(|envelope| {
            let mut client = client.clone();
            async move {
                let answer = client
                    .submit(pb::SubmitRequest {
                        envelope: Some(envelope),
                        custody_receipt: None,
                    })
                    .await
                    .context("Submit failed")?
                    .into_inner();
                match (expect, answer.receipt) {
                    (Expect::HubReceipt, Some(pb::submit_response::Receipt::HubReceipt(_)))
                    | (
                        Expect::CustodyReceipt,
                        Some(pb::submit_response::Receipt::CustodyReceipt(_)),
                    ) => Ok(()),
                    (_, other) => bail!("Submit answered {other:?} where {expect:?} was expected"),
                }
            }
        })
        .buffer_unordered(in_flight)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(start.elapsed())
}

/// Submits `envelopes` to the hub in `SubmitBatch` calls of the relay outbox's page size,
/// `in_flight` at once; every item must be stored.
async fn push_batches(
    client: HubServiceClient<Channel>,
    envelopes: Vec<pb::Envelope>,
    in_flight: usize,
) -> Result<Duration> {
    let start = Instant::now();
    let batches: Vec<Vec<pb::Envelope>> = envelopes
        .chunks(alliance_node::node::WINDOW)
        .map(<[_]>::to_vec)
        .collect();
    futures::stream::iter(batches)
        .map(|envelopes| {
            let mut client = client.clone();
            async move {
                let answer = client
                    .submit_batch(pb::SubmitBatchRequest {
                        envelopes,
                        custody_receipts: Vec::new(),
                        custody_batch: None,
                    })
                    .await
                    .context("SubmitBatch failed")?
                    .into_inner();
                match answer.receipts {
                    Some(pb::submit_batch_response::Receipts::BatchReceipt(_))
                        if answer.refusals.is_empty() =>
                    {
                        Ok(())
                    }
                    _ => bail!("SubmitBatch did not store every item: {answer:?}"),
                }
            }
        })
        .buffer_unordered(in_flight)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(start.elapsed())
}

/// Samples the RSS and the hub's count of new reports every second until `running` turns false.
fn spawn_sampler(
    running: Arc<AtomicBool>,
    hub: Arc<Hub>,
    before: u64,
    phase: &'static str,
) -> std::thread::JoinHandle<Result<Vec<Sample>>> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut out = Vec::new();
        let mut next = start;
        while running.load(Ordering::SeqCst) {
            if Instant::now() >= next {
                out.push(Sample {
                    at: start.elapsed(),
                    phase,
                    rss_kib: rss_kib()?,
                    hub_new: hub.view_generation() - before,
                });
                next += SAMPLE_EVERY;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        out.push(Sample {
            at: start.elapsed(),
            phase,
            rss_kib: rss_kib()?,
            hub_new: hub.view_generation() - before,
        });
        Ok(out)
    })
}

fn join_sampler(handle: std::thread::JoinHandle<Result<Vec<Sample>>>) -> Result<Vec<Sample>> {
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("the sampler panicked"))?
}

/// The process's resident set, in KiB.
fn rss_kib() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")
}

/// CPU time (user + system, in clock ticks) of this process's live threads, summed by thread
/// name: `hub`, `relay` and `client` are the three runtimes; sled's threads have their own names.
/// Threads that ended in between are not counted.
fn cpu_by_thread() -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").context("reading /proc/self/task")? {
        let path = task.context("a task")?.path().join("stat");
        // A thread may end between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the name: state is field 3, utime 14 and stime 15.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        *out.entry(name).or_default() += ticks(11) + ticks(12);
    }
    Ok(out)
}

/// CPU seconds by thread name since `before` (100 ticks a second, Linux's USER_HZ).
fn cpu_since(before: &BTreeMap<String, u64>) -> Result<BTreeMap<String, f64>> {
    Ok(cpu_by_thread()?
        .into_iter()
        .map(|(name, t)| {
            let d = t.saturating_sub(before.get(&name).copied().unwrap_or(0));
            (name, d as f64 / 100.0)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect())
}

fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

fn load_average() -> Result<String> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    Ok(text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" "))
}
