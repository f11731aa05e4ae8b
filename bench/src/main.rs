//! `alliance-bench`: the hub's benchmark, in one run on one machine.
//!
//! Phases, in order, each timed on its own:
//! 1. bare `verify_strict` (and whole-envelope verification) on as many threads as the hub has
//!    workers: the ceiling for ingest;
//! 2. a bare tonic echo over loopback TLS with the ingest's calls in flight: the ceiling for one
//!    report per call;
//! 3. the hub, in-process on a fresh data directory on a real disk: ingest one report per call
//!    and in batches, then the view of 10,000 organisations × 12 periods;
//! 4. the PostgreSQL baseline of `../shared/bench/pg-baseline.sh`, when it is there.
//!
//! Then every figure, and the ratios the issue sets targets for. Progress goes to stderr; the
//! summary (or, with `--json`, one JSON document) to stdout.

mod cpu;
mod disk;
mod echo;
mod figures;
mod fixture;
mod hub;
mod load;
mod pg;
mod verify;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alliance_proto::pb;
use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::json;

use crate::figures::{Bound, Figures, Target};

/// The hub's benchmark: verify, echo, ingest and view figures, the PostgreSQL baseline, and
/// their ratios against the targets.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where the hub's data directory goes; must be on a real disk, not tmpfs [default:
    /// target/bench-tmp in the workspace].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seconds each timed phase runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Organisations registered at the hub (and in the PostgreSQL baseline).
    #[arg(long, default_value_t = 10_000)]
    orgs: usize,
    /// Periods (years) each organisation reports for.
    #[arg(long, default_value_t = 12)]
    periods: usize,
    /// Calls in flight for the echo and for ingest.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// HTTP/2 connections the calls in flight share (the same for the echo and the hub).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// SubmitBatch calls in flight.
    #[arg(long, default_value_t = 16)]
    batch_in_flight: usize,
    /// Reports per SubmitBatch call; each size is a phase.
    #[arg(long, value_delimiter = ',', default_value = "100,500")]
    batch_sizes: Vec<usize>,
    /// View queries of the alliance totals of one period to average over.
    #[arg(long, default_value_t = 20)]
    queries: usize,
    /// The PostgreSQL baseline script [default: ../shared/bench/pg-baseline.sh from the
    /// workspace].
    #[arg(long, conflicts_with = "no_pg")]
    pg: Option<PathBuf>,
    /// Skip the PostgreSQL baseline.
    #[arg(long)]
    no_pg: bool,
    /// Concurrent clients of the PostgreSQL baseline.
    #[arg(long, default_value_t = 8)]
    pg_clients: usize,
    /// Print the figures as one JSON document.
    #[arg(long)]
    json: bool,
    /// Keep the hub's data directory (with every report sent) after the run, to look at it or
    /// to serve it with `alliance-hub serve --data DIR`.
    #[arg(long)]
    keep: bool,
}

/// The ratios the issue sets targets for (item 7).
const TARGETS: &[Target] = &[
    Target {
        numerator: hub::BATCH_BEST,
        denominator: "verify_strict",
        bound: Bound::AtLeast(0.5),
    },
    Target {
        numerator: hub::BATCH_BEST,
        denominator: "pg_ingest",
        bound: Bound::AtLeast(10.0),
    },
    Target {
        numerator: hub::SUBMIT,
        denominator: "echo",
        bound: Bound::AtLeast(0.3),
    },
    Target {
        numerator: hub::SUBMIT,
        denominator: "pg_ingest",
        bound: Bound::AtLeast(5.0),
    },
    Target {
        numerator: hub::VIEW_ALLIANCE,
        denominator: "pg_query",
        bound: Bound::AtMost(0.01),
    },
    // The same target for the first query after the ledger changed, which the hub computes
    // from its kept totals rather than answering from its cache of views.
    Target {
        numerator: hub::VIEW_FIRST,
        denominator: "pg_query",
        bound: Bound::AtMost(0.01),
    },
];

fn main() -> Result<()> {
    let args = Args::parse();
    if args.orgs == 0 || args.periods == 0 {
        bail!("--orgs and --periods must be at least 1");
    }
    let started = Instant::now();
    alliance_daemon::tls::install_crypto_provider();
    let disk::RunDir {
        dir,
        mount_point,
        fs_type,
    } = disk::run_dir(args.dir.as_deref())?;
    // The hub's runtime has one worker per core (tokio's default), so "the cores the hub uses"
    // are all of them.
    let threads = std::thread::available_parallelism()
        .context("counting cores")?
        .get();
    let duration = Duration::from_secs(args.seconds);
    let mut figures = Figures::default();
    // The machine may be shared: what else kept it busy is part of the context of the figures.
    figures.note(format!("load average at the start: {}", load_average()?));
    eprintln!(
        "alliance-bench: {} s per phase, {} cores, {} in flight over {} connection(s), data in {} ({fs_type} at {})",
        args.seconds,
        threads,
        args.in_flight,
        args.connections,
        dir.path().display(),
        mount_point.display()
    );

    let orgs = fixture::orgs(args.orgs)?;
    // A sample of distinct organisations' reports, for the phases that resend the same ones.
    let sample_items: Vec<_> = (0..args.orgs.min(1024))
        .map(|org| {
            Ok(fixture::Item {
                org,
                period: fixture::period(0)?,
                revision: 1,
            })
        })
        .collect::<Result<_>>()?;
    let signed: Vec<_> = sample_items
        .iter()
        .map(|item| {
            Ok((
                fixture::sign_one(&orgs, *item)?,
                orgs[item.org].key.public_key(),
            ))
        })
        .collect::<Result<_>>()?;
    let sample: Vec<pb::Envelope> = signed.iter().map(|(e, _)| pb::Envelope::from(e)).collect();
    let one = fixture::report(&orgs[0], sample_items[0])?;
    let values = fixture::value_count(&one);
    let envelope_bytes = alliance_proto::encode_envelope(&signed[0].0).len();
    figures.add(
        "disk_flush_ms",
        "disk flush (4 KiB write + fdatasync)",
        disk::flush_latency(dir.path(), 50)?.as_secs_f64() * 1e3,
        "ms",
    );
    figures.add(
        "values_per_report",
        "values per report",
        values as f64,
        "values",
    );
    figures.add(
        "envelope_bytes",
        "signed envelope",
        envelope_bytes as f64,
        "bytes",
    );

    eprintln!("[1/4] bare verification on {threads} threads");
    let rates = verify::measure(&signed, threads, duration)?;
    figures.add(
        "verify_strict",
        "bare verify_strict",
        rates.bare_per_s,
        "signatures/s",
    );
    figures.add(
        "verify_envelope",
        "envelope verify_signed",
        rates.envelope_per_s,
        "envelopes/s",
    );

    let runtimes = Runtimes::new(threads)?;
    eprintln!("[2/4] bare tonic echo over loopback TLS");
    let echo = echo::measure(
        &runtimes,
        dir.path(),
        sample,
        args.in_flight,
        args.connections,
        duration,
    )?;
    figures.add("echo", "bare echo", echo.calls_per_s(), "calls/s");
    figures.add(
        "echo_cpu",
        "bare echo, cores busy (client and server)",
        echo.busy_cores,
        "cores",
    );
    figures.add(
        "echo_p99_ms",
        "bare echo latency p99",
        echo.latency(0.99).as_secs_f64() * 1e3,
        "ms",
    );

    eprintln!("[3/4] the hub: ingest and view");
    hub::measure(
        &runtimes,
        dir.path(),
        &orgs,
        &hub::Plan {
            periods: args.periods,
            in_flight: args.in_flight,
            batch_in_flight: args.batch_in_flight,
            connections: args.connections,
            batch_sizes: args.batch_sizes.clone(),
            queries: args.queries,
            duration,
            threads,
            ceiling_per_s: rates.bare_per_s,
        },
        &mut figures,
    )?;
    drop(runtimes);
    if args.keep {
        let kept = dir.keep();
        figures.note(format!("hub data directory kept: {}", kept.display()));
    } else {
        drop(dir);
    }

    eprintln!("[4/4] the PostgreSQL baseline");
    if args.no_pg {
        figures.note("PostgreSQL baseline skipped (--no-pg)");
    } else {
        let script = match args.pg.clone() {
            Some(script) => script,
            None => disk::workspace()?.join("../shared/bench/pg-baseline.sh"),
        };
        match pg::check(&script) {
            Err(skipped) => figures.note(format!("PostgreSQL baseline skipped: {skipped}")),
            Ok(()) => {
                let baseline = pg::run(
                    &script,
                    args.seconds,
                    args.pg_clients,
                    args.orgs,
                    args.periods,
                    values,
                )?;
                figures.add(
                    "pg_ingest",
                    "PostgreSQL ingest",
                    baseline.ingest_per_s,
                    "reports/s",
                );
                figures.add(
                    "pg_query",
                    "PostgreSQL alliance-total query",
                    baseline.query_ms,
                    "ms",
                );
                figures.add(
                    "pg_rows",
                    "PostgreSQL data-value rows",
                    baseline.rows as f64,
                    "rows",
                );
            }
        }
    }
    figures.note(format!("load average at the end: {}", load_average()?));
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());

    if args.json {
        let context = json!({
            "seconds_per_phase": args.seconds,
            "cores": threads,
            "in_flight": args.in_flight,
            "connections": args.connections,
            "orgs": args.orgs,
            "periods": args.periods,
            "filesystem": fs_type,
            "mount_point": mount_point,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&figures.json(TARGETS, context))?
        );
    } else {
        print!("{}", figures.text(TARGETS));
    }
    Ok(())
}

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg`.
fn load_average() -> Result<String> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    Ok(text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" "))
}

/// The server's and the client's tokio runtimes. They are apart so that the server gets the
/// same runtime the hub daemon has (one worker per core) whatever the load generator does; both
/// share the machine's cores, for the echo exactly as for the hub.
#[derive(Debug)]
pub struct Runtimes {
    pub server: tokio::runtime::Runtime,
    pub client: tokio::runtime::Runtime,
}

impl Runtimes {
    fn new(threads: usize) -> Result<Self> {
        let build = |name: &str| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name(name)
                .enable_all()
                .build()
                .with_context(|| format!("starting the {name} runtime"))
        };
        Ok(Runtimes {
            server: build("server")?,
            client: build("client")?,
        })
    }
}
