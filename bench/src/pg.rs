//! The peer baseline: `../shared/bench/pg-baseline.sh`, run where it lies (it belongs to the
//! brief, not to the project), with the same organisations, periods and values per report as
//! the hub's phases.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};

/// What the script reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub ingest_per_s: f64,
    pub query_ms: f64,
    pub rows: u64,
}

/// Where PostgreSQL 15's binaries must be for the script to run.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Why the baseline was not measured, when it was not.
#[derive(Debug)]
pub enum Skipped {
    NoScript(PathBuf),
    NoPostgres,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::NoScript(path) => write!(f, "{} is not there", path.display()),
            Skipped::NoPostgres => write!(
                f,
                "PostgreSQL 15 is not installed ({PG_BIN}/initdb is missing); \
                 install it with `apt-get install -y postgresql-15`"
            ),
        }
    }
}

/// Whether the baseline can run: the script is there and PostgreSQL 15 is installed.
pub fn check(script: &Path) -> Result<(), Skipped> {
    if !script.is_file() {
        return Err(Skipped::NoScript(script.to_owned()));
    }
    if !Path::new(PG_BIN).join("initdb").is_file() {
        return Err(Skipped::NoPostgres);
    }
    Ok(())
}

/// Runs the script for `seconds` of ingest with `clients` concurrent clients and parses its
/// one line. It needs root (it runs PostgreSQL as the `postgres` user).
pub fn run(
    script: &Path,
    seconds: u64,
    clients: usize,
    orgs: usize,
    periods: usize,
    values: usize,
) -> Result<Baseline> {
    let dir = script
        .parent()
        .with_context(|| format!("{} has no directory", script.display()))?;
    let output = Command::new("bash")
        .arg(script)
        .arg(seconds.to_string())
        .arg(clients.to_string())
        .env("ORGS", orgs.to_string())
        .env("PERIODS", periods.to_string())
        .env("VALUES", values.to_string())
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}{}",
            script.display(),
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("postgres baseline:"))
        .ok_or_else(|| anyhow!("no result line in the script's output: {}", stdout.trim()))?;
    parse(line)
}

/// Reads `postgres baseline: ingest N reports/s (...); alliance-total query avg T ms over R rows`.
pub fn parse(line: &str) -> Result<Baseline> {
    let number_after = |marker: &str| -> Result<&str> {
        let rest = line
            .split_once(marker)
            .map(|(_, rest)| rest.trim_start())
            .with_context(|| format!("{marker:?} missing from {line:?}"))?;
        rest.split_whitespace()
            .next()
            .filter(|n| !n.is_empty())
            .with_context(|| format!("no number after {marker:?} in {line:?}"))
    };
    let ingest_per_s = number_after("ingest")?
        .parse()
        .with_context(|| format!("ingest rate in {line:?}"))?;
    let query_ms = number_after("query avg")?
        .parse()
        .with_context(|| format!("query time in {line:?}"))?;
    let rows = number_after(" over")?
        .parse()
        .with_context(|| format!("row count in {line:?}"))?;
    Ok(Baseline {
        ingest_per_s,
        query_ms,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_script_line() {
        let line = "postgres baseline: ingest 1052.3 reports/s (40 values each, 8 clients, \
                    durable); alliance-total query avg 151.2 ms over 4800000 rows";
        assert_eq!(
            parse(line).expect("parses"),
            Baseline {
                ingest_per_s: 1052.3,
                query_ms: 151.2,
                rows: 4_800_000
            }
        );
    }

    #[test]
    fn a_failed_measurement_is_an_error() {
        // pgbench printed nothing: the script's variables are empty.
        let line = "postgres baseline: ingest  reports/s (40 values each, 8 clients, durable); \
                    alliance-total query avg  over 4800000 rows";
        assert!(parse(line).is_err());
    }
}
