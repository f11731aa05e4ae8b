//! `relay_drain`: a relay forwarding a backlog of envelopes after an outage of the hub, against
//! the hub's own ingest rate measured in the same run, with both processes' memory sampled.
//!
//! The relay is the real `alliance-node serve` process, as in deployment. The hub runs in this
//! process through its library (`alliance_hub::serve::run` on a loopback TLS listener, in a
//! runtime of its own), so that it can be stopped and served again without losing its state,
//! and the affiliates' side (a gRPC client) runs in another runtime. Both stores are sled files
//! on a real disk.
//!
//! 1. Setup, not timed: hub init; a regional organisation registered and enrolled as a relay
//!    (`init_relay`), its `[outbox]` set to `min_backoff_ms = 50, max_backoff_seconds = 1`;
//!    `--affiliates` national centres registered `--via` it, their keys enrolled at the hub
//!    directly and kept here to sign. The hub's twin, for the reference: a second hub
//!    initialised the same way, the same affiliates registered and enrolled at it, reporting
//!    directly. Once the hub's signed registry names them all, `alliance-node serve` starts
//!    (and fetches that registry while the hub is up); the run waits until its admin socket
//!    answers.
//! 2. Signing, not timed: `--envelopes` reports to relay (affiliate × period × `--revisions`,
//!    years from 1900 upward; with one revision every envelope is a period of its own), and
//!    `--direct` more (later years, one revision), on every core. Signed reports name no hub,
//!    so the same envelopes are good at both hubs.
//! 3. Reference: the hub's twin takes the very envelopes the relay will forward, from the same
//!    start, in `SubmitBatch` calls of the relay outbox's page size, 16 in flight (as the relay's
//!    outbox has); then the `--direct` ones, one `Submit` each. The hub's ingest rate is the
//!    faster of the two. The twin is then closed. So the drain and its reference do the same
//!    work into stores of the same sizes; a reference of other envelopes into the hub itself
//!    would run at another store size, and a hub's ingest slows as its store grows (by a
//!    quarter to a third from 20,000 to 120,000 reports, in runs of the earlier design).
//! 4. Outage: the hub's server is stopped (its data and its `Hub` kept), then every envelope is
//!    pushed to the relay's `Submit` (`--intake-in-flight` at once; each answer must be a
//!    custody receipt): the relay's intake rate. Then the hub serves again on the same port.
//!    The relay finds it at its next retry (after its backoff: at most a second and a jitter,
//!    printed but not counted); the drain runs from the first relayed report the hub stores
//!    until the relay's admin `GetStatus` shows none pending: the drain rate.
//! 5. Each process's RSS (`VmRSS`) is sampled every second through intake and drain. This
//!    process's held the twin until it closed, and the hub reuses what the twin freed, so it
//!    says little of the hub's own growth (`federation_load` measures that); the relay's is the
//!    relay's alone.
//! 6. Checks: the hub stored exactly `--envelopes` new reports during the drain (its view
//!    generation rises once per new report, not for a duplicate), holds a receipt of each with
//!    outcome `accepted` (or `superseded`, for a revision that reached the hub after a higher
//!    one), the last revision of each (affiliate, period) accepted as the winner, and the relay
//!    counts them all decided, none pending or set aside; the twin stored every envelope it was
//!    sent.
//! 7. The relay is stopped with SIGTERM and must exit cleanly.
//!
//! CPU time is read per process from `/proc/PID/stat` (every thread, ended ones included), and
//! per live thread by name.
//!
//! `--pin`, the deployment-like mode. In deployment the relay and the hub are separate
//! machines. Unpinned (the default), the processes share every CPU of this one: on a 2-CPU box
//! the drain pays for the hub and the relay on the same two cores, while the reference pays
//! for the hub alone (the client only sends pre-signed envelopes), so the ratio says how fast
//! one box hosting both drains, relative to that box hosting only the hub; a lower bound. With
//! `--pin` every thread of the hub's runtime runs on CPU 0, the client's and the relay
//! process's on CPU 1. The hub's setup runs on a thread pinned to CPU 0, so the threads its
//! store starts (sled's I/O pool and log flusher, the group-commit flusher) inherit it; the
//! relay process is started from a thread pinned to CPU 1, so every thread of it inherits that;
//! the client's side of the timed phases (this process's own driving thread) runs on CPU 1 too.
//! The hub then has one CPU to itself in the reference and in the drain alike, and the ratio is
//! the relay's drain against the ingest rate of the same one-CPU hub: what a relay on a machine
//! of its own achieves. A pinned hub also sees one CPU, so it checks a batch on one thread, as
//! it would on a one-CPU machine. The pinning is checked, not assumed: each thread's allowed
//! CPUs are read from `/proc/self/task` and `/proc/RELAY/task` after setup and halfway through
//! the drain, printed by kind of thread, and the run fails if a thread of the hub is allowed off
//! CPU 0, one of the relay or the client off CPU 1, or any other (but the waiting main thread)
//! on both.

#[path = "../disk.rs"]
#[allow(dead_code)]
mod disk;
#[path = "../federation.rs"]
#[allow(dead_code)]
mod federation;
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
use alliance_hub::hub::{EnrollCall, Hub};
use alliance_node::config::{CONFIG_FILE, NodeConfig};
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::pb::node_admin_service_client::NodeAdminServiceClient;
use alliance_proto::{EnrollProof, pb};
use anyhow::{Context, Result, bail};
use clap::Parser;
use federation::{Binaries, Daemon, ProcStat};
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
/// How long the relay process may take to answer on its admin socket after it starts.
const RELAY_READY: Duration = Duration::from_secs(60);
/// How long the relay process may take to exit after SIGTERM.
const RELAY_STOP: Duration = Duration::from_secs(60);
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
    /// Envelopes submitted one `Submit` each to the hub's twin, after the relayed ones in
    /// batches, for the `Submit` reference [default: a fifth of --envelopes].
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
    let binaries = Binaries::beside_self()?;
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
        client: runtime("client", RELAY_CPU)?,
        pinned: args.pin,
    };
    let measured = run(&rts, &binaries, dir.path(), &args, direct);
    if args.keep {
        eprintln!("kept {}", dir.keep().display());
    }
    let m = measured?;

    let rate = |(n, time): (usize, Duration)| n as f64 / time.as_secs_f64();
    let (hub_single_rate, hub_batch_rate) = (rate(m.hub_ingest_single), rate(m.hub_ingest_batch));
    let hub_rate = hub_single_rate.max(hub_batch_rate);
    let intake_rate = args.envelopes as f64 / m.intake.as_secs_f64();
    let first_forward = m
        .first_forward
        .context("the hub stored no relayed report")?;
    let drain = m.drained_at.saturating_sub(first_forward);
    let drain_rate = args.envelopes as f64 / drain.as_secs_f64();
    let since_restart_rate = args.envelopes as f64 / m.drained_at.as_secs_f64();
    let stored_rate = args.envelopes as f64 / m.hub_stored_all.as_secs_f64();
    let ratio = drain_rate / hub_rate;
    // Per process and phase: samples, min, max, last.
    let rss = |phase: &str, of: fn(&Rss) -> u64| {
        let v: Vec<u64> = m
            .samples
            .iter()
            .filter(|s| s.phase == phase)
            .map(|s| of(&s.rss))
            .collect();
        json!({
            "samples": v.len(),
            "min": v.iter().min().copied().unwrap_or(0),
            "max": v.iter().max().copied().unwrap_or(0),
            "last": v.last().copied().unwrap_or(0),
        })
    };
    let this: fn(&Rss) -> u64 = |r| r.this;
    let relay: fn(&Rss) -> u64 = |r| r.relay;
    let per_report = |from: u64, to: u64, n: usize| to.saturating_sub(from) as f64 / n as f64;
    let growth = json!({
        "hub_process_reference": per_report(m.rss_before_reference.this, m.rss_before_intake.this, args.envelopes + direct),
        "relay_intake": per_report(m.rss_before_intake.relay, m.rss_restart.relay, args.envelopes),
        "hub_process_drain": per_report(m.rss_restart.this, m.rss_hub_all.this, args.envelopes),
        "relay_drain": per_report(m.rss_restart.relay, m.rss_hub_all.relay, args.envelopes),
    });
    let cpu = m
        .cpu
        .iter()
        .map(|(phase, c)| {
            (
                (*phase).to_owned(),
                json!({"this_process_s": c.this, "relay_process_s": c.relay, "live_threads_s": c.threads}),
            )
        })
        .collect::<serde_json::Map<_, _>>();
    let at_points = |of: fn(&Rss) -> u64| {
        json!({
            "before_reference": of(&m.rss_before_reference),
            "before_intake": of(&m.rss_before_intake),
            "at_restart": of(&m.rss_restart),
            "hub_stored_all": of(&m.rss_hub_all),
            "after_checks": of(&m.rss_after),
        })
    };
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
        "hub_ingest_per_s": hub_rate,
        "relay_intake_s": m.intake.as_secs_f64(),
        "relay_intake_per_s": intake_rate,
        "first_forward_after_restart_s": first_forward.as_secs_f64(),
        "drain_s": drain.as_secs_f64(),
        "drain_per_s": drain_rate,
        "drained_after_restart_s": m.drained_at.as_secs_f64(),
        "drain_since_restart_per_s": since_restart_rate,
        "hub_stored_all_s": m.hub_stored_all.as_secs_f64(),
        "hub_stored_per_s": stored_rate,
        "drain_over_hub_ingest": ratio,
        "target_ratio": 0.8,
        "cpu_seconds": cpu,
        "rss_kib": {
            "hub_process": {"at": at_points(this), "intake": rss("intake", this), "drain": rss("drain", this)},
            "relay_process": {"at": at_points(relay), "intake": rss("intake", relay), "drain": rss("drain", relay)},
        },
        "rss_growth_kib_per_report": growth,
        "samples": m.samples.iter().map(|s| json!({
            "t_s": s.at.as_secs_f64(),
            "phase": s.phase,
            "hub_process_rss_kib": s.rss.this,
            "relay_rss_kib": s.rss.relay,
            "hub_new_reports": s.hub_new,
        })).collect::<Vec<_>>(),
        "hub_outcomes": m.outcomes,
        "relay_relayed": {"pending": m.relayed.pending, "decided": m.relayed.decided, "set_aside": m.relayed.set_aside},
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "relay drain after an outage, loopback TLS, {fs_type} at {}, {} CPUs, the relay a process of its own, {}",
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
        "{} envelopes via the relay ({} affiliates × {} periods × {} revisions), {direct} more to the hub's twin",
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
        "reference: the hub's twin takes the relayed envelopes directly, SubmitBatch of {}, {HUB_IN_FLIGHT} in flight: {} in {:.2} s = {hub_batch_rate:.0}/s",
        alliance_node::node::WINDOW,
        m.hub_ingest_batch.0,
        m.hub_ingest_batch.1.as_secs_f64()
    );
    println!(
        "reference: then Submit, {HUB_IN_FLIGHT} in flight: {} in {:.2} s = {hub_single_rate:.0}/s",
        m.hub_ingest_single.0,
        m.hub_ingest_single.1.as_secs_f64()
    );
    println!(
        "relay intake during the outage, Submit, {} in flight: {} in {:.2} s = {intake_rate:.0}/s",
        args.intake_in_flight,
        args.envelopes,
        m.intake.as_secs_f64()
    );
    println!(
        "relay drain, first report stored at the hub → relay outbox empty: {} in {:.2} s = {drain_rate:.0}/s (the relay's retry found the hub {:.2} s after the restart; from the restart {since_restart_rate:.0}/s; all stored at the hub {:.2} s after the restart = {stored_rate:.0}/s)",
        args.envelopes,
        drain.as_secs_f64(),
        first_forward.as_secs_f64(),
        m.hub_stored_all.as_secs_f64()
    );
    println!(
        "ratio drain / hub ingest (the faster of the two) = {ratio:.2} (target ≥ 0.8): {}",
        match (ratio >= 0.8, args.pin) {
            (true, _) => "met",
            (false, true) => "NOT met",
            // The reference has the box to the hub alone; the drain shares it with the relay.
            (false, false) => {
                "NOT met with the hub and the relay on one box (--pin gives each a CPU of its own, as in deployment)"
            }
        }
    );
    for (name, of) in [
        (
            "this process (hub + client + the signed envelopes held)",
            this,
        ),
        ("the relay process", relay),
    ] {
        println!(
            "RSS of {name}, MiB: before the reference {}, before intake {}, at the restart {}, when the hub held every relayed report {}, after the checks {}",
            mib(of(&m.rss_before_reference)),
            mib(of(&m.rss_before_intake)),
            mib(of(&m.rss_restart)),
            mib(of(&m.rss_hub_all)),
            mib(of(&m.rss_after))
        );
    }
    println!("RSS growth, KiB per report: {growth}");
    println!(
        "drain samples (s since restart: hub process / relay MiB, reports at the hub): {}",
        m.samples
            .iter()
            .filter(|s| s.phase == "drain")
            .map(|s| format!(
                "{:.0}: {}/{} ({})",
                s.at.as_secs_f64(),
                mib(s.rss.this),
                mib(s.rss.relay),
                s.hub_new
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("CPU seconds per phase: each process (every thread), then live threads by name:");
    for (phase, c) in &m.cpu {
        println!(
            "  {phase:<15} this process {:6.2}, relay {:6.2}: {}",
            c.this,
            c.relay,
            c.threads
                .iter()
                .map(|(name, s)| format!("{name} {s:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(c) = m.cpu.get("drain") {
        let per = |s: f64| s * 1e6 / args.envelopes as f64;
        println!(
            "  drain CPU per relayed envelope: this process (the hub) {:.0} µs, relay {:.0} µs",
            per(c.this),
            per(c.relay)
        );
    }
    println!(
        "checks: hub stored {} new reports during the drain, receipts {}; relay: {} decided, {} pending, {} set aside; the relay exited cleanly on SIGTERM",
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
    client: Runtime,
    /// `--pin`: the hub's runtime on [`HUB_CPU`], the client's (and the relay process) on
    /// [`RELAY_CPU`].
    pinned: bool,
}

impl Runtimes {
    /// Where the hub's side runs: its CPU under `--pin`, else anywhere.
    fn hub_cpu(&self) -> Option<usize> {
        self.pinned.then_some(HUB_CPU)
    }

    /// Where the relay and the client run: their CPU under `--pin`, else anywhere.
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
    rss: Rss,
    /// New reports the hub stored since the outage began.
    hub_new: u64,
}

/// What one run measured.
#[derive(Debug, Default)]
struct Measured {
    signing: Duration,
    /// Envelopes the hub's twin took in `SubmitBatch` calls (the relayed ones), and the time.
    hub_ingest_batch: (usize, Duration),
    /// Envelopes the hub's twin then took one per `Submit`, and the time.
    hub_ingest_single: (usize, Duration),
    intake: Duration,
    /// From the restart until the relay's outbox was seen empty.
    drained_at: Duration,
    /// From the restart until the hub had stored every relayed report.
    hub_stored_all: Duration,
    /// From the restart until the hub stored the first relayed report.
    first_forward: Option<Duration>,
    samples: Vec<Sample>,
    rss_before_reference: Rss,
    rss_before_intake: Rss,
    /// At the restart, and when the hub had stored every relayed report.
    rss_restart: Rss,
    rss_hub_all: Rss,
    rss_after: Rss,
    /// CPU seconds per phase.
    cpu: BTreeMap<&'static str, CpuPhase>,
    outcomes: BTreeMap<String, usize>,
    relayed: pb::RelayedSummary,
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

fn run(
    rts: &Runtimes,
    binaries: &Binaries,
    dir: &Path,
    args: &Args,
    direct: usize,
) -> Result<Measured> {
    let mut m = Measured {
        load_start: federation::load_average()?,
        ..Measured::default()
    };

    // The hub, and its twin for the reference. Under `--pin` each side's setup runs on a thread
    // pinned to its CPU, so that the threads its store starts inherit that CPU.
    let (hub, hub_address, _, server) = start_hub(rts, &dir.join("hub"))?;
    let mut server = Some(server);

    // The relay's organisation, registered; the relay enrolls next, before organisations can
    // be registered via it.
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
    // The relay: enrolled with `init_relay`, its outbox retrying quickly, then its own process.
    let relay_dir = dir.join("relay");
    let relay_address: SocketAddr = format!("127.0.0.1:{}", federation::free_port()?)
        .parse()
        .context("the relay's address")?;
    // On the relay's CPU: the threads its store starts here (until it closes) inherit it.
    on_cpu(rts.relay_cpu(), "relay-setup", || {
        rts.client
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
        rts.hub.block_on(enroll_all(&hub, &affiliates, Some(RELAY)))
    })?;
    // The hub's twin, for the reference: set up as the hub, its affiliates reporting directly.
    let (twin, twin_address, twin_ca_der, twin_server) =
        start_hub(rts, &dir.join("reference-hub"))?;
    on_cpu(rts.hub_cpu(), "hub-setup", || {
        rts.hub.block_on(enroll_all(&twin, &affiliates, None))
    })?;
    // Above 1000 organisations the hub's signed registry may lag its changes by up to a second;
    // the relay must fetch one that names every affiliate before the outage (during it, an
    // unknown key can only be answered "unavailable, try again later"). It fetches the registry
    // when it starts serving, while the hub is up.
    std::thread::sleep(REGISTRY_LAG);
    let mut relay = on_cpu(rts.relay_cpu(), "relay-start", || {
        Daemon::spawn("relay", &binaries.node, &relay_dir, &dir.join("relay.log"))
    })?;
    let mut relay_admin = rts.client.block_on(relay_admin(&mut relay, &relay_dir))?;
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
    // The `Submit` reference's reports are of later periods, one revision each.
    let direct_envelopes = fixture::sign_all(
        &affiliates,
        &items(periods * args.affiliates, direct, 1)?,
        threads,
    )?;
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
    let relay_pid = relay.pid();
    let measured = on_cpu(rts.relay_cpu(), "client-driver", || {
        if rts.pinned {
            m.pinning.push(("after setup", pinning_checked(relay_pid)?));
        }
        // The reference: the hub's twin takes the very envelopes the relay will forward, from
        // the same start, in `SubmitBatch` calls of the relay outbox's page size; then `--direct`
        // more, one `Submit` each. Then it is closed.
        let twin_client = rts.client.block_on(connect(twin_address, &twin_ca_der))?;
        let twin_before = twin.view_generation();
        m.rss_before_reference = Rss::now(relay_pid)?;
        let cpu = Cpu::now(relay_pid)?;
        m.hub_ingest_batch = (
            relayed.len(),
            rts.client
                .block_on(push_batches(twin_client.clone(), &relayed, HUB_IN_FLIGHT))?,
        );
        m.cpu.insert("reference", cpu.since(relay_pid)?);
        m.hub_ingest_single = (
            direct_envelopes.len(),
            rts.client.block_on(push(
                twin_client,
                &direct_envelopes,
                HUB_IN_FLIGHT,
                Expect::HubReceipt,
            ))?,
        );
        let twin_stored = twin.view_generation() - twin_before;
        if twin_stored != u64::try_from(relayed.len() + direct_envelopes.len())? {
            bail!(
                "the reference hub stored {twin_stored} new reports of {} sent",
                relayed.len() + direct_envelopes.len()
            );
        }
        twin_server.stop(&rts.hub)?;
        drop(twin);

        // The outage.
        server
            .take()
            .context("the hub is not serving")?
            .stop(&rts.hub)?;
        let before = hub.view_generation();
        let sampling = Arc::new(AtomicBool::new(true));
        m.rss_before_intake = Rss::now(relay_pid)?;
        let sampler = spawn_sampler(
            Arc::clone(&sampling),
            Arc::clone(&hub),
            relay_pid,
            before,
            "intake",
        );
        let relay_client = rts.client.block_on(connect(relay_address, &relay_ca_der))?;
        let cpu = Cpu::now(relay_pid)?;
        let intake = rts.client.block_on(push(
            relay_client,
            &relayed,
            args.intake_in_flight,
            Expect::CustodyReceipt,
        ));
        sampling.store(false, Ordering::SeqCst);
        m.samples.extend(join_sampler(sampler)?);
        m.intake = intake?;
        m.cpu.insert("intake", cpu.since(relay_pid)?);
        if hub.view_generation() != before {
            bail!("the hub stored reports while it was down");
        }

        // The hub again, on the same port. The relay finds it at its next retry; the drain is
        // timed from the first relayed report the hub stores until the relay's outbox is empty.
        let listener = rts
            .hub
            .block_on(TcpListener::bind(hub_address))
            .with_context(|| format!("binding {hub_address} again"))?;
        let sampling = Arc::new(AtomicBool::new(true));
        let cpu = Cpu::now(relay_pid)?;
        m.rss_restart = Rss::now(relay_pid)?;
        let restart = Instant::now();
        server = Some(HubServer::start(&rts.hub, &hub, listener)?);
        let sampler = spawn_sampler(
            Arc::clone(&sampling),
            Arc::clone(&hub),
            relay_pid,
            before,
            "drain",
        );
        let target = u64::try_from(args.envelopes)?;
        let drained = (|| {
            loop {
                relay.check_running()?;
                let stored = hub.view_generation() - before;
                if stored > 0 && m.first_forward.is_none() {
                    m.first_forward = Some(restart.elapsed());
                }
                if rts.pinned && stored >= target / 2 && m.pinning.len() < 2 {
                    m.pinning
                        .push(("halfway through the drain", pinning_checked(relay_pid)?));
                }
                if stored >= target {
                    m.hub_stored_all = restart.elapsed();
                    m.rss_hub_all = Rss::now(relay_pid)?;
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
                let relayed = rts.client.block_on(relayed_summary(&mut relay_admin))?;
                if relayed.pending == 0 {
                    m.drained_at = restart.elapsed();
                    m.cpu.insert("drain", cpu.since(relay_pid)?);
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
        m.rss_after = Rss::now(relay_pid)?;
        anyhow::Ok(())
    });

    let relay_ended = relay.terminate(RELAY_STOP);
    let hub_ended = server.map_or(Ok(()), |s| s.stop(&rts.hub));
    measured.with_context(|| {
        format!(
            "the relay's log ({}) ends: {}",
            relay.log().display(),
            federation::log_tail(relay.log(), 5)
        )
    })?;
    relay_ended?;
    hub_ended?;
    m.load_end = federation::load_average()?;
    Ok(m)
}

/// A hub initialised in `data` and serving on a loopback port (known before init, so that join
/// codes name it), set up on the hub's CPU: the hub, its address, its CA (DER) and its server.
fn start_hub(rts: &Runtimes, data: &Path) -> Result<(Arc<Hub>, SocketAddr, Vec<u8>, HubServer)> {
    on_cpu(rts.hub_cpu(), "hub-setup", || {
        let listener = rts
            .hub
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("binding the hub's port")?;
        let address = listener.local_addr().context("the hub's port")?;
        let hub = disk::init_hub(data, &address.to_string())?;
        let ca = alliance_hub::config::HubConfig::resolve(data, &hub.config().tls.ca);
        let ca_der = tls::read_ca_pem(&ca).context("the hub's CA")?;
        let server = HubServer::start(&rts.hub, &hub, listener)?;
        Ok((hub, address, ca_der, server))
    })
}

/// The relay's admin client, once its admin socket answers (it has opened its store and
/// serves), or an error if it exits or does not answer within [`RELAY_READY`].
async fn relay_admin(relay: &mut Daemon, dir: &Path) -> Result<NodeAdminServiceClient<Channel>> {
    let socket = dir.join(alliance_node::config::ADMIN_SOCKET);
    let deadline = Instant::now() + RELAY_READY;
    loop {
        relay.check_running()?;
        if let Ok(channel) = client::connect_admin(&socket).await {
            let mut admin = NodeAdminServiceClient::new(channel);
            if relayed_summary(&mut admin).await.is_ok() {
                return Ok(admin);
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the relay did not answer on {} within {RELAY_READY:?}; its log ends: {}",
                socket.display(),
                federation::log_tail(relay.log(), 5)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the relay's status says of the reports it relays.
async fn relayed_summary(
    admin: &mut NodeAdminServiceClient<Channel>,
) -> Result<pb::RelayedSummary> {
    admin
        .get_status(pb::GetStatusRequest {
            org_id: String::new(),
        })
        .await
        .context("the relay's status")?
        .into_inner()
        .relayed
        .context("the relay shows no relayed reports")
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

/// What a thread is: any thread of the relay process; in this process, by its name, one of the
/// two runtimes (or a setup or driving thread named after one), sled's (its I/O pool and the log
/// flusher), the store's group-commit flusher, the main thread (or an unnamed thread it started,
/// which carries its name), or other.
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

/// Both processes' threads by kind, in the order of [`THREAD_KINDS`].
type Pinning = Vec<(&'static str, ThreadsOfKind)>;

/// The kind of this process's thread named `name`; see [`THREAD_KINDS`].
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

/// Where the threads of this process and of the relay process may run and last ran, by kind,
/// from `/proc/self/task` and `/proc/RELAY/task`.
fn thread_pinning(relay: u32) -> Result<Pinning> {
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
    let processes = [
        (PathBuf::from("/proc/self/task"), false),
        (PathBuf::from(format!("/proc/{relay}/task")), true),
    ];
    for (tasks, of_relay) in processes {
        let listing =
            std::fs::read_dir(&tasks).with_context(|| format!("reading {}", tasks.display()))?;
        for task in listing {
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
            let kind = if of_relay {
                "relay"
            } else {
                let is_main =
                    task.file_name().is_some_and(|tid| *tid == *main_tid) || name == main_name;
                thread_kind(&name, is_main)
            };
            if let Some((_, threads)) = out.iter_mut().find(|(k, _)| *k == kind) {
                *threads.allowed.entry(allowed).or_default() += 1;
                *threads.last_cpu.entry(last_cpu).or_default() += 1;
            }
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
fn pinning_checked(relay: u32) -> Result<Pinning> {
    let mut tries = 1;
    loop {
        let pinning = thread_pinning(relay)?;
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

/// Registers the affiliates (`via` the relay, or reporting directly) with one CSV import and
/// enrolls each one's key at the hub, as a node would (a proof of possession for the token of
/// its join code).
async fn enroll_all(hub: &Arc<Hub>, orgs: &[fixture::Org], via: Option<&str>) -> Result<()> {
    let mut csv = String::from("id,name,kind,country,region,via\n");
    for org in orgs {
        csv.push_str(&format!(
            "{},Union {},national_centre,{},africa,{}\n",
            org.id,
            org.id,
            org.country.as_str(),
            via.unwrap_or_default()
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
    envelopes: &[pb::Envelope],
    in_flight: usize,
    expect: Expect,
) -> Result<Duration> {
    let start = Instant::now();
    // Each envelope is copied as its call is made, rather than all of them up front.
    futures::stream::iter(envelopes.iter().cloned())
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
    envelopes: &[pb::Envelope],
    in_flight: usize,
) -> Result<Duration> {
    let start = Instant::now();
    // Each batch is copied as its call is made, rather than all of them up front.
    futures::stream::iter(
        envelopes
            .chunks(alliance_node::node::WINDOW)
            .map(<[_]>::to_vec),
    )
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

/// Samples both processes' RSS and the hub's count of new reports every second until `running`
/// turns false.
fn spawn_sampler(
    running: Arc<AtomicBool>,
    hub: Arc<Hub>,
    relay: u32,
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
                    rss: Rss::now(relay)?,
                    hub_new: hub.view_generation() - before,
                });
                next += SAMPLE_EVERY;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        out.push(Sample {
            at: start.elapsed(),
            phase,
            rss: Rss::now(relay)?,
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

/// Resident sets (`VmRSS`), KiB: this process's (the hub, the client and the signed envelopes
/// it holds) and the relay process's.
#[derive(Debug, Default, Clone, Copy)]
struct Rss {
    this: u64,
    relay: u64,
}

impl Rss {
    fn now(relay: u32) -> Result<Rss> {
        Ok(Rss {
            this: proc_stat(std::process::id(), "this process")?.rss_kib,
            relay: proc_stat(relay, "the relay")?.rss_kib,
        })
    }
}

fn proc_stat(pid: u32, what: &str) -> Result<ProcStat> {
    ProcStat::of(pid).with_context(|| format!("reading /proc/{pid} ({what}): has it exited?"))
}

/// CPU time (user + system, in clock ticks) of both processes (every thread, ended ones
/// included), and of their live threads by name, the relay's prefixed `relay/`.
#[derive(Debug, Clone)]
struct Cpu {
    this: u64,
    relay: u64,
    threads: BTreeMap<String, u64>,
}

/// CPU seconds over one phase.
#[derive(Debug, Default, Clone)]
struct CpuPhase {
    this: f64,
    relay: f64,
    /// Live threads only: a thread that ended in the phase is in its process's total alone.
    threads: BTreeMap<String, f64>,
}

impl Cpu {
    fn now(relay: u32) -> Result<Cpu> {
        let mut threads = BTreeMap::new();
        cpu_by_thread(Path::new("/proc/self/task"), "", &mut threads)?;
        cpu_by_thread(
            Path::new(&format!("/proc/{relay}/task")),
            "relay/",
            &mut threads,
        )?;
        Ok(Cpu {
            this: proc_stat(std::process::id(), "this process")?.cpu_ticks,
            relay: proc_stat(relay, "the relay")?.cpu_ticks,
            threads,
        })
    }

    /// CPU seconds since `self` (100 ticks a second, Linux's USER_HZ).
    fn since(&self, relay: u32) -> Result<CpuPhase> {
        let now = Cpu::now(relay)?;
        let seconds = |now: u64, before: u64| now.saturating_sub(before) as f64 / 100.0;
        Ok(CpuPhase {
            this: seconds(now.this, self.this),
            relay: seconds(now.relay, self.relay),
            threads: now
                .threads
                .into_iter()
                .map(|(name, t)| {
                    let before = self.threads.get(&name).copied().unwrap_or(0);
                    (name, seconds(t, before))
                })
                .filter(|(_, s)| *s > 0.0)
                .collect(),
        })
    }
}

/// Adds the CPU ticks of the live threads under `tasks` (a `/proc/PID/task`) to `out`, by
/// thread name with `prefix`: `hub` and `client` are this process's two runtimes; sled's
/// threads have their own names.
fn cpu_by_thread(tasks: &Path, prefix: &str, out: &mut BTreeMap<String, u64>) -> Result<()> {
    for task in std::fs::read_dir(tasks).with_context(|| format!("reading {}", tasks.display()))? {
        let path = task.context("a task")?.path().join("stat");
        // A thread may end between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = format!("{prefix}{}", &stat[open + 1..close]);
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
    Ok(())
}

fn mib(kib: u64) -> String {
    format!("{:.0}", federation::mib(kib))
}
