//! The demo's story, step by step, driving the hub and the nodes through their command lines as
//! operators would: set up, enroll, record, submit, lose a relay and get it back, look.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::binaries::Binaries;
use crate::checks;
use crate::orgs::{ORGS, Org, org};
use crate::process::{Daemon, free_port};
use crate::sample::{self, YEARS};

/// The relay the demo takes down during the second year's submissions.
pub const RELAY_TAKEN_DOWN: &str = "ituc-africa";
/// How long every report may take to be decided by the hub.
const DECISION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the relay stays down while its affiliates submit.
const OUTAGE: Duration = Duration::from_secs(5);

/// The running alliance: the hub, the nodes, and where everything is.
#[derive(Debug)]
pub struct Alliance {
    bins: Binaries,
    pub dir: PathBuf,
    hub_dir: String,
    hub: Daemon,
    /// Node daemons by organisation id (hosted organisations have none: their relay's).
    nodes: BTreeMap<&'static str, Daemon>,
    /// The records of every organisation and year.
    pub records: BTreeMap<(&'static str, u16), Vec<sample::Record>>,
}

/// Prints a step of the story.
fn step(text: &str) {
    println!("\n==> {text}");
}

fn utf8(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not valid UTF-8", path.display()))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Alliance {
    /// Initialises the hub in `dir/hub` and starts it.
    pub fn start_hub(bins: Binaries, dir: PathBuf) -> Result<Alliance> {
        for sub in ["nodes", "records", "logs"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        let hub_path = dir.join("hub");
        let hub_dir = utf8(&hub_path)?;
        let port = free_port()?;
        let address = loopback(port).to_string();
        step(&format!("The ITUC hub: init and serve on {address} (TLS)"));
        bins.hub.run(&[
            "init",
            "--data",
            &hub_dir,
            "--listen",
            &address,
            "--public-addr",
            &address,
        ])?;
        let mut hub = Daemon::new(
            "hub",
            &bins.hub,
            &hub_path,
            &dir.join("logs/hub.log"),
            vec![loopback(port)],
        );
        hub.start()?;
        println!("    hub running, data in {hub_dir}");
        Ok(Alliance {
            bins,
            dir,
            hub_dir,
            hub,
            nodes: BTreeMap::new(),
            records: BTreeMap::new(),
        })
    }

    /// `alliance-hub ARGS --data HUB`.
    pub fn hub(&self, args: &[&str]) -> Result<String> {
        let mut all = args.to_vec();
        all.extend(["--data", &self.hub_dir]);
        self.bins.hub.run(&all)
    }

    pub fn hub_json(&self, args: &[&str]) -> Result<Value> {
        let mut all = args.to_vec();
        all.extend(["--data", &self.hub_dir, "--json"]);
        self.bins.hub.json(&all)
    }

    /// The data directory of the node that keeps `org`'s records.
    pub fn node_dir(&self, org: &Org) -> PathBuf {
        self.dir.join("nodes").join(org.node())
    }

    /// `alliance-node ARGS --data DIR --org ORG` on the node that keeps `org`'s records.
    pub fn node(&self, org: &Org, args: &[&str]) -> Result<String> {
        let dir = utf8(&self.node_dir(org))?;
        let mut all = args.to_vec();
        all.extend(["--data", &dir, "--org", org.id]);
        self.bins.node.run(&all)
    }

    /// `alliance-node status --data DIR --org ORG --json`.
    pub fn status(&self, org: &Org) -> Result<Value> {
        let dir = utf8(&self.node_dir(org))?;
        self.bins
            .node
            .json(&["status", "--data", &dir, "--org", org.id, "--json"])
    }

    /// The coverage of the demo's years only counts organisations registered before each
    /// period's deadline; the years are past and the organisations are registered today, so the
    /// operator moves the deadlines a year ahead.
    pub fn set_deadlines(&self) -> Result<()> {
        let at = time::OffsetDateTime::now_utc().date() + time::Duration::days(365);
        let at = format!(
            "{:04}-{:02}-{:02}",
            at.year(),
            u8::from(at.month()),
            at.day()
        );
        step(&format!(
            "Deadlines of {} and {} moved to {at} (the sample years are past; the organisations are registered today)",
            YEARS[0], YEARS[1]
        ));
        for year in YEARS {
            let period = year.to_string();
            print!(
                "    {}",
                self.hub(&["deadline", "--period", &period, "--at", &at])?
            );
        }
        Ok(())
    }

    /// Registers every organisation at the hub and enrolls its node with its join code: the
    /// relays first (`init --relay`), then the others, directly, through a relay or hosted on one.
    pub fn enroll_all(&mut self) -> Result<()> {
        step("Regional organisations: registered at the hub, enrolled as relays, serving");
        for org in ORGS.iter().filter(|o| o.is_relay()) {
            let code = self.register(org)?;
            let port = free_port()?;
            let address = loopback(port).to_string();
            let dir = self.node_dir(org);
            self.bins.node.run(&[
                "init",
                "--data",
                &utf8(&dir)?,
                "--join",
                &code,
                "--relay",
                "--listen",
                &address,
                "--public-addr",
                &address,
            ])?;
            self.start_node(org, vec![loopback(port)])?;
            println!("    {:<18} relay on {address}", org.id);
        }
        step("Affiliates and the GUF: registered (join codes), enrolled with their codes, serving");
        for org in ORGS.iter().filter(|o| !o.is_relay()) {
            let code = self.register(org)?;
            let how = match org.relay() {
                None => "directly to the hub".to_owned(),
                Some(relay) if org.is_hosted() => {
                    format!("hosted on the {relay} relay (no node of its own)")
                }
                Some(relay) => format!("through the {relay} relay"),
            };
            if org.is_hosted() {
                let relay_dir = utf8(&self.node_dir(org))?;
                self.bins
                    .node
                    .run(&["org", "add", "--data", &relay_dir, "--join", &code])?;
            } else {
                let dir = utf8(&self.node_dir(org))?;
                self.bins
                    .node
                    .run(&["init", "--data", &dir, "--join", &code])?;
                self.start_node(org, Vec::new())?;
            }
            println!("    {:<18} {:<16} {how}", org.id, org.kind);
        }
        Ok(())
    }

    /// `alliance-hub org add` for `org`; returns its join code.
    fn register(&self, org: &Org) -> Result<String> {
        let sectors = org.sectors.join(",");
        let mut args = vec![
            "org", "add", "--id", org.id, "--name", org.name, "--kind", org.kind, "--region",
            org.region,
        ];
        if let Some(country) = org.country {
            args.extend(["--country", country]);
        }
        if org.kind == "guf" {
            args.extend(["--sector", &sectors]);
        }
        if let Some(relay) = org.relay() {
            args.extend(["--via", relay]);
        }
        if org.is_hosted() {
            args.push("--hosted");
        }
        let added = self.hub_json(&args)?;
        added["join_code"]["join_code"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("org add printed no join code: {added}"))
    }

    /// Sets a quick outbox (retries within two seconds, not minutes) and starts `serve`.
    fn start_node(&mut self, org: &Org, listens: Vec<SocketAddr>) -> Result<()> {
        let dir = self.node_dir(org);
        quick_outbox(&dir.join("node.toml"))?;
        let log = self.dir.join("logs").join(format!("{}.log", org.id));
        let name = format!("{} node", org.id);
        let mut daemon = Daemon::new(&name, &self.bins.node, &dir, &log, listens);
        daemon.start()?;
        self.nodes.insert(org.id, daemon);
        Ok(())
    }

    /// Writes the sample records of every organisation and year and imports them.
    pub fn record_all(&mut self) -> Result<()> {
        step(&format!(
            "Records for {} and {} across all 11 action points (CSV files, `record import`)",
            YEARS[0], YEARS[1]
        ));
        for org in ORGS {
            let mut counts = Vec::new();
            for year in YEARS {
                let records = sample::records(org, year);
                let file = self
                    .dir
                    .join("records")
                    .join(format!("{}-{year}.csv", org.id));
                sample::write_csv(&file, &records)?;
                self.node(org, &["record", "import", &utf8(&file)?])?;
                counts.push(format!("{year}: {:>3}", records.len()));
                self.records.insert((org.id, year), records);
            }
            println!("    {:<18} records {}", org.id, counts.join(", "));
        }
        Ok(())
    }

    /// `report submit` of `year` for every organisation.
    pub fn submit_all(&self, year: u16) -> Result<()> {
        let period = year.to_string();
        for org in ORGS {
            let out = self.node(org, &["report", "submit", "--period", &period])?;
            let mut lines = out.lines();
            println!("    {:<18} {}", org.id, lines.next().unwrap_or_default());
            for line in lines {
                println!("    {:<18} {line}", "");
            }
        }
        Ok(())
    }

    /// Year one: submitted, and decided by the hub for everyone.
    pub fn first_year(&self) -> Result<()> {
        step(&format!(
            "Reports for {}: submitted by every organisation",
            YEARS[0]
        ));
        self.submit_all(YEARS[0])?;
        self.wait_decided(&YEARS[..1])
    }

    /// Year two, with the relay down while its affiliates submit.
    pub fn second_year_with_outage(&mut self) -> Result<()> {
        let relay = self
            .nodes
            .get_mut(RELAY_TAKEN_DOWN)
            .context("the relay to take down has no node")?;
        step(&format!("The {RELAY_TAKEN_DOWN} relay goes down (SIGTERM)"));
        relay.stop()?;
        step(&format!(
            "Reports for {}: submitted by every organisation while {RELAY_TAKEN_DOWN} is down",
            YEARS[1]
        ));
        self.submit_all(YEARS[1])?;
        std::thread::sleep(OUTAGE);
        let period = YEARS[1].to_string();
        for org in ORGS
            .iter()
            .filter(|o| o.relay() == Some(RELAY_TAKEN_DOWN) || o.id == RELAY_TAKEN_DOWN)
        {
            let status = self.status(org)?;
            let state = checks::report_of(&status, org.id, &period)
                .and_then(|r| r["state"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "not queued".into());
            let whereabouts = if org.node() == RELAY_TAKEN_DOWN {
                "on the stopped relay's disk".to_owned()
            } else {
                let error = status["last_error"].as_str().unwrap_or("none");
                format!("in its outbox; last error: {error}")
            };
            println!(
                "    after {}s: {:<18} {period} {state}, {whereabouts}",
                OUTAGE.as_secs(),
                org.id
            );
        }
        step(&format!("The {RELAY_TAKEN_DOWN} relay comes back"));
        self.nodes
            .get_mut(RELAY_TAKEN_DOWN)
            .context("the relay to bring back has no node")?
            .start()?;
        self.wait_decided(&YEARS)
    }

    /// Waits until every organisation's reports of `years` are decided by the hub.
    fn wait_decided(&self, years: &[u16]) -> Result<()> {
        let started = Instant::now();
        let expected = ORGS.len() * years.len();
        let mut shown = usize::MAX;
        loop {
            let mut waiting = Vec::new();
            for org in ORGS {
                let status = self.status(org)?;
                for year in years {
                    let period = year.to_string();
                    let state = checks::report_of(&status, org.id, &period)
                        .and_then(|r| r["state"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| "not queued".into());
                    if state == "set_aside" {
                        bail!(
                            "the report of {} for {period} was set aside: {status:#}",
                            org.id
                        );
                    }
                    if state != "decided" {
                        waiting.push(format!("{} {period} ({state})", org.id));
                    }
                }
            }
            let decided = expected - waiting.len();
            if decided != shown {
                println!(
                    "    {:>5.1}s: {decided} of {expected} reports decided by the hub",
                    started.elapsed().as_secs_f64()
                );
                shown = decided;
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if started.elapsed() > DECISION_TIMEOUT {
                bail!(
                    "not decided within {DECISION_TIMEOUT:?}: {}",
                    waiting.join(", ")
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Prints the view of both years by region, and each year's coverage.
    pub fn show(&self) -> Result<()> {
        let span = format!("{}..{}", YEARS[0], YEARS[1]);
        step(&format!(
            "The alliance-wide view, {span}, by region (alliance-hub view)"
        ));
        print!(
            "{}",
            self.hub(&["view", "--period", &span, "--by", "region"])?
        );
        for year in YEARS {
            let period = year.to_string();
            step(&format!("Coverage of {period} (alliance-hub coverage)"));
            print!("{}", self.hub(&["coverage", "--period", &period])?);
        }
        Ok(())
    }

    /// Stops every daemon with SIGTERM: the nodes, then the hub.
    pub fn stop(&mut self) -> Result<()> {
        let mut failures = Vec::new();
        for daemon in self.nodes.values_mut() {
            if let Err(e) = daemon.stop() {
                failures.push(format!("{e:#}"));
            }
        }
        if let Err(e) = self.hub.stop() {
            failures.push(format!("{e:#}"));
        }
        if !failures.is_empty() {
            bail!("{}", failures.join("\n"));
        }
        Ok(())
    }

    /// Where the data is, and the commands that explore it.
    pub fn explain(&self) {
        let dir = self.dir.display();
        let hub = &self.hub_dir;
        let nodes = self.dir.join("nodes");
        let nodes = nodes.display();
        let cotu = org("cotu-kenya");
        let ghana = org("tuc-ghana");
        step("Where the data is, and how to explore it");
        println!("    everything       {dir}");
        println!("    hub              {hub}");
        for o in ORGS.iter().filter(|o| !o.is_hosted()) {
            let hosts: Vec<&str> = ORGS
                .iter()
                .filter(|h| h.is_hosted() && h.node() == o.id)
                .map(|h| h.id)
                .collect();
            let hosting = if hosts.is_empty() {
                String::new()
            } else {
                format!(" (also hosts {})", hosts.join(", "))
            };
            println!("    {:<16} {nodes}/{}{hosting}", o.id, o.id);
        }
        println!("    sample records   {dir}/records/ORG-YEAR.csv");
        println!("    daemon logs      {dir}/logs/");
        println!();
        println!("  The daemons are stopped; these commands open the databases directly:");
        println!("    alliance-hub view --data {hub} --period 2025 --by country");
        println!(
            "    alliance-hub view --data {hub} --period 2024..2025 --action-point exposure --by org"
        );
        println!("    alliance-hub coverage --data {hub} --period 2025");
        println!("    alliance-hub org list --data {hub}");
        println!("    alliance-hub audit --data {hub}");
        println!("    alliance-hub export --data {hub} --period 2025 --format sdmx-csv");
        println!("    alliance-node status --data {nodes}/{}", cotu.id);
        println!(
            "    alliance-node report preview --data {nodes}/{} --period 2025",
            cotu.id
        );
        println!(
            "    alliance-node record list --data {nodes}/{} --period 2024",
            cotu.id
        );
        println!(
            "    alliance-node status --data {nodes}/{} --org {}",
            ghana.node(),
            ghana.id
        );
        println!(
            "  (the binaries are in {})",
            self.bins
                .node
                .path
                .parent()
                .map_or_else(String::new, |p| p.display().to_string())
        );
    }
}

/// Sets `[outbox]` of `node.toml` so that retries after an outage come within two seconds.
fn quick_outbox(path: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let outbox = config
        .entry("outbox")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let table = outbox
        .as_table_mut()
        .with_context(|| format!("[outbox] of {} is not a table", path.display()))?;
    table.insert("min_backoff_ms".into(), toml::Value::Integer(200));
    table.insert("max_backoff_seconds".into(), toml::Value::Integer(2));
    table.insert("request_timeout_seconds".into(), toml::Value::Integer(5));
    let text = toml::to_string(&config).context("writing the node's configuration")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
