//! `alliance-demo`: the whole alliance on one machine. A hub, two relays (ITUC Africa and ITUC
//! Asia-Pacific) and the nodes of national centres and a GUF run as real processes on loopback
//! with TLS; they enroll with join codes, record two years of sample data across all eleven
//! action points and submit it; one relay goes down and comes back in the middle. Then the demo
//! prints the alliance-wide view and coverage and where the data is, and exits 0 only if every
//! submitted report was accepted exactly once.

mod binaries;
mod checks;
mod orgs;
mod process;
mod sample;
mod scenario;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

use scenario::Alliance;

/// Runs the alliance on this machine: a hub, two relays and nine organisations, two years of
/// reports and a relay outage; prints the view and coverage. Exits 0 only if every report was
/// accepted exactly once.
#[derive(Debug, Parser)]
#[command(name = "alliance-demo", version)]
struct Args {
    /// Where to put the data directories (must not exist or be empty). Default: a new directory
    /// under the system's temporary directory. Kept at the end.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let result = run(args);
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(true) => {
            println!("\nalliance-demo: all checks passed in {seconds:.1} s");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("\nalliance-demo: checks failed (after {seconds:.1} s)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("\nalliance-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<bool> {
    process::stop_everything_on_signal()?;
    let bins = binaries::locate()?;
    let dir = data_dir(args.dir)?;
    println!("alliance demo: data under {}", dir.display());
    story(bins, &dir).with_context(|| format!("the data and logs are kept in {}", dir.display()))
}

fn story(bins: binaries::Binaries, dir: &std::path::Path) -> Result<bool> {
    let mut alliance = Alliance::start_hub(bins, dir.to_owned())?;
    alliance.set_deadlines()?;
    alliance.enroll_all()?;
    alliance.record_all()?;
    alliance.first_year()?;
    alliance.second_year_with_outage()?;
    alliance.show()?;
    let outcome = checks::run(&alliance)?;
    println!("\n==> Stopping every process (SIGTERM)");
    alliance.stop()?;
    alliance.explain();
    println!("\n==> Checks");
    for passed in &outcome.passed {
        println!("    ok      {passed}");
    }
    for failed in &outcome.failed {
        println!("    FAILED  {failed}");
    }
    Ok(outcome.failed.is_empty())
}

/// `--dir`, which must be new or empty, or a new directory under the temporary directory.
fn data_dir(dir: Option<PathBuf>) -> Result<PathBuf> {
    let dir = match dir {
        Some(dir) => dir,
        None => {
            let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
            std::env::temp_dir().join(format!("alliance-demo-{stamp}-{}", std::process::id()))
        }
    };
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: give a new or empty directory with --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Absolute, so that the commands printed at the end work from anywhere.
    dir.canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))
}
