//! A real `alliance-node` on a temporary data directory, driven through its command line as an
//! operator drives it: `init` with a join code from a [`HubProcess`], `serve` (waiting until its
//! admin socket answers a health check), the record, report, status and key commands, and the
//! ways a process ends: SIGTERM, SIGKILL, or an abort at one of its named crash points
//! (`FAILPOINTS=after-signing=return`, the binary being built with the `failpoints` feature).
//!
//! Every node the harness enrolls gets a quick outbox (100 ms first backoff, 1 s at most), so
//! retries after a hub outage take a second, not minutes.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::hub::{admin_channel, is_serving};
use crate::process::{Daemon, POLL_INTERVAL, READY_TIMEOUT, parse_json, set_toml};
use crate::{Binary, HubProcess, Run, TempDir, temp_dir};

/// The data directory's name inside the test's temporary directory.
const DATA_DIR: &str = "node";
/// Where `serve` writes its standard output and error, beside the data directory.
const LOG_FILE: &str = "serve.log";
/// How long a delivery may take in the tests (several backoffs of at most a second each).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// A node process on its own temporary data directory.
#[derive(Debug)]
pub struct NodeProcess {
    /// The `serve` process. Declared first so that it is killed before the temporary directory
    /// is removed.
    daemon: Daemon,
    temp: TempDir,
    data: PathBuf,
}

impl Default for NodeProcess {
    fn default() -> Self {
        NodeProcess::new()
    }
}

impl NodeProcess {
    /// A node not initialised yet: its data directory does not exist.
    pub fn new() -> NodeProcess {
        let temp = temp_dir();
        let data = temp.path().join(DATA_DIR);
        NodeProcess {
            daemon: Daemon::new(Binary::Node, "node", temp.path().join(LOG_FILE)),
            temp,
            data,
        }
    }

    /// Registers `org_id` at `hub` (a national centre in Kenya) and enrolls a new node with the
    /// join code, with a quick outbox. Returns the node and `init --json`'s summary.
    pub fn enrolled(hub: &HubProcess, org_id: &str) -> (NodeProcess, Value) {
        let code = hub.add_org(org_id, "national_centre", "KE", "africa");
        let node = NodeProcess::new();
        let summary = node.init_ok(&code.to_string());
        (node, summary)
    }

    /// Runs `alliance-node init --data DIR --join CODE --json`, without asserting anything.
    pub fn init(&self, join_code: &str) -> Run {
        Binary::Node.run([
            "init".as_ref(),
            "--data".as_ref(),
            self.data.as_os_str(),
            "--join".as_ref(),
            join_code.as_ref(),
            "--json".as_ref(),
        ])
    }

    /// `init` that must succeed; then sets a quick outbox. Returns the summary it printed.
    pub fn init_ok(&self, join_code: &str) -> Value {
        let run = self.init(join_code);
        assert!(run.success(), "alliance-node init failed: {run:?}");
        assert!(
            self.data.join("node.toml").is_file(),
            "init succeeded without writing node.toml: {run:?}"
        );
        self.set_config("outbox", "min_backoff_ms", 100);
        self.set_config("outbox", "max_backoff_seconds", 1);
        self.set_config("outbox", "request_timeout_seconds", 5);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("init --json did not print JSON ({e}): {run:?}"))
    }

    /// Sets `key` of `[table]` in `node.toml` (the top level when `table` is empty). Takes
    /// effect at the next `serve` or direct-mode command.
    pub fn set_config(&self, table: &str, key: &str, value: impl Into<toml::Value>) {
        set_toml(&self.data.join("node.toml"), table, key, value.into());
    }

    /// Starts `alliance-node serve` and waits until its admin socket answers SERVING.
    pub async fn serve(&mut self) {
        self.serve_with_env(&[]).await;
    }

    /// [`NodeProcess::serve`] with extra environment variables, such as
    /// `("FAILPOINTS", "after-sending=return")`.
    pub async fn serve_with_env(&mut self, env: &[(&str, &str)]) {
        if let Err(exit) = self.serve_armed(env).await {
            panic!(
                "alliance-node serve exited ({exit}) before it was ready; its log:\n{}",
                self.log()
            );
        }
    }

    /// [`NodeProcess::serve_with_env`] for a node armed to crash, which may reach its crash point
    /// before it is ready (its outbox starts at once): then the error is how it exited.
    pub async fn serve_armed(&mut self, env: &[(&str, &str)]) -> Result<(), ExitStatus> {
        self.daemon.spawn(&self.data, |command| {
            command.env_remove("FAILPOINTS");
            for (name, value) in env {
                command.env(name, value);
            }
        });
        self.wait_ready().await
    }

    /// Waits until the admin socket answers SERVING, or until the process exits: then the
    /// error is how it exited.
    async fn wait_ready(&mut self) -> Result<(), ExitStatus> {
        let started = Instant::now();
        let socket = self.socket_path();
        loop {
            if let Some(exit) = self.daemon.exited() {
                return Err(exit);
            }
            if socket.exists()
                && let Ok(channel) = admin_channel(&socket).await
                && is_serving(channel).await
            {
                return Ok(());
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "alliance-node serve was not ready within {READY_TIMEOUT:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Stops the node with SIGTERM and waits for it to exit, which must be with status 0.
    pub async fn stop(&mut self) {
        self.daemon.stop().await;
    }

    /// Kills the node with SIGKILL.
    pub fn kill(&mut self) {
        self.daemon.kill();
    }

    /// Waits for a node that ends by itself (at a crash point) to exit, and returns how it did.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.daemon.wait_exit(timeout).await
    }

    /// Whether the `serve` process runs.
    pub fn is_running(&mut self) -> bool {
        self.daemon.is_running()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// A scratch directory beside the data directory, removed with it.
    pub fn scratch_dir(&self) -> &Path {
        self.temp.path()
    }

    /// The admin socket's path.
    pub fn socket_path(&self) -> PathBuf {
        self.data.join("admin.sock")
    }

    /// Everything `serve` printed so far (over every restart).
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// The ids of the key files in `DIR/keys/`.
    pub fn key_files(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.data.join("keys"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".key"))
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Runs `alliance-node ARGS --data DIR` to completion.
    pub fn cli<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cli_with_env(args, &[])
    }

    /// [`NodeProcess::cli`] with extra environment variables.
    pub fn cli_with_env<I, S>(&self, args: I, env: &[(&str, &str)]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(Binary::Node.path());
        command
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .stdin(Stdio::null())
            .env_remove("RUST_BACKTRACE")
            .env_remove("FAILPOINTS");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("could not start alliance-node: {e}"));
        Run::from(output)
    }

    /// Runs `alliance-node ARGS --data DIR` and asserts that it succeeded.
    pub fn cli_ok<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let run = self.cli(&args);
        assert!(
            run.success(),
            "alliance-node {args:?} failed: {run:?}\nserve log:\n{}",
            self.log()
        );
        run
    }

    /// Runs `alliance-node ARGS --json --data DIR`, which must succeed, and parses its output.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let run = self.cli_ok(&args);
        parse_json(Binary::Node, &args, &run.stdout)
    }

    /// Runs a command that must fail, and returns its error output (lowercase), which must name
    /// `word`.
    pub fn cli_err(&self, args: &[&str], word: &str) -> String {
        let run = self.cli(args);
        assert!(
            !run.success(),
            "alliance-node {args:?} succeeded where it must fail: {run:?}"
        );
        let stderr = run.stderr.to_lowercase();
        assert!(
            stderr.contains(&word.to_lowercase()),
            "the error of alliance-node {args:?} does not name the cause ({word:?}): {run:?}"
        );
        stderr
    }

    /// `status --json`.
    pub fn status_json(&self) -> Value {
        self.cli_json(&["status"])
    }

    /// `report preview --period P --json`.
    pub fn preview_json(&self, period: &str) -> Value {
        self.cli_json(&["report", "preview", "--period", period])
    }

    /// `record add` with `args` after the command, which must succeed.
    pub fn record_add(&self, args: &[&str]) {
        let mut all = vec!["record", "add"];
        all.extend_from_slice(args);
        self.cli_ok(&all);
    }

    /// `record add` of `value` awareness activities (awareness.activities) on `date`, which must
    /// succeed.
    pub fn add_activities(&self, date: &str, value: u64) {
        self.record_add(&[
            "--date",
            date,
            "--indicator",
            "awareness.activities",
            "--value",
            &value.to_string(),
        ]);
    }

    /// `report submit --period P`, which must succeed; returns (revision, report id in hex) as
    /// printed.
    pub fn submit(&self, period: &str) -> (u64, String) {
        let run = self.cli_ok(["report", "submit", "--period", period]);
        parse_queued(&run.stdout)
            .unwrap_or_else(|| panic!("report submit printed no revision and id: {run:?}"))
    }

    /// Polls `status --json` until `done` holds; panics with the last status after `timeout`.
    pub async fn wait_for(&self, done: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let status = self.status_json();
            if done(&status) {
                return status;
            }
            assert!(
                started.elapsed() < timeout,
                "the node's status did not reach the expected state within {timeout:?}:\n{status:#}\nserve log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `status --json` until the report `report_id` (hex) is decided, and returns the
    /// status.
    pub async fn wait_decided(&self, report_id: &str) -> Value {
        self.wait_for(
            |s| report_in(s, report_id)["state"] == "decided",
            DELIVERY_TIMEOUT,
        )
        .await
    }

    /// Waits until nothing is pending (or held by a relay) and at least `reports` reports are
    /// in the status.
    pub async fn wait_all_delivered(&self, reports: usize) -> Value {
        self.wait_for(
            |s| {
                let all = all_reports(s);
                all.len() >= reports
                    && all
                        .iter()
                        .all(|r| r["state"] == "decided" || r["state"] == "set_aside")
            },
            DELIVERY_TIMEOUT,
        )
        .await
    }
}

/// The revision and report id a `report submit` or `report withdraw` printed:
/// `report of P queued: revision R, report id HEX`.
pub fn parse_queued(stdout: &str) -> Option<(u64, String)> {
    let rest = &stdout[stdout.find("revision ")? + "revision ".len()..];
    let revision = rest.split(',').next()?.trim().parse().ok()?;
    let rest = &rest[rest.find("report id ")? + "report id ".len()..];
    let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (id.len() == 64).then_some((revision, id))
}

/// Every report of every organisation in a `status --json`.
pub fn all_reports(status: &Value) -> Vec<Value> {
    status["organisations"]
        .as_array()
        .unwrap_or_else(|| panic!("the status has no organisations array:\n{status:#}"))
        .iter()
        .flat_map(|org| org["reports"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The report with `report_id` (hex) in a `status --json`.
pub fn report_in(status: &Value, report_id: &str) -> Value {
    all_reports(status)
        .into_iter()
        .find(|r| r["report_id"] == report_id)
        .unwrap_or_else(|| panic!("report {report_id} is not in the status:\n{status:#}"))
}

/// Asserts that the hub's view (`view --by org --json`) shows, for `org` (in `country`), exactly
/// the values of a node's `report preview --json`: published cells exactly, withheld cells as a
/// range from 0, nothing else for the organisation.
pub fn assert_view_shows_preview(view: &Value, preview: &Value, org: &str, country: &str) {
    let values = preview["report"]["values"]
        .as_object()
        .unwrap_or_else(|| panic!("the preview has no values:\n{preview:#}"));
    let rows = crate::view::rows(view);
    let row = |group: &str, indicator: &str, dimension: Option<&str>, value: Option<&str>| {
        rows.iter()
            .find(|r| {
                r["group"] == group
                    && r["indicator"] == indicator
                    && r["dimension"].as_str() == dimension
                    && r["value"].as_str() == value
            })
            .unwrap_or_else(|| {
                panic!(
                    "the hub's view has no row for {group} {indicator} {dimension:?} {value:?}:\n{view:#}"
                )
            })
    };
    let check_cell = |cell: &Value, row: &Value, what: &str| {
        let count = &row["count"];
        match cell {
            Value::Number(n) => {
                let n = n
                    .as_u64()
                    .unwrap_or_else(|| panic!("{what}: {n} is not a count"));
                assert_eq!(
                    (count["lo"].as_u64(), count["hi"].as_u64()),
                    (Some(n), Some(n)),
                    "{what}: the node published {n}, the hub shows {row:#}"
                );
                assert_eq!(count["exact"], true, "{what}: {row:#}");
            }
            Value::String(s) if s == "withheld" => {
                assert_eq!(
                    count["exact"], false,
                    "{what}: withheld, yet exact: {row:#}"
                );
                assert_eq!(count["lo"].as_u64(), Some(0), "{what}: {row:#}");
                assert!(
                    count["hi"].as_u64().is_some_and(|hi| hi >= 1),
                    "{what}: a withheld cell shown as {row:#}"
                );
            }
            other => panic!("{what}: unexpected cell {other} in the preview"),
        }
    };
    let mut expected_rows = 0;
    for (indicator, value) in values {
        if let Some(status) = value.get("status") {
            for (convention, status) in status.as_object().into_iter().flatten() {
                let r = row(country, indicator, Some("convention"), Some(convention));
                assert_eq!(&r["status"], status, "{indicator} {convention}: {r:#}");
            }
        } else if let Some(amounts) = value.get("amount") {
            let amounts = amounts.as_object().expect("amounts by currency");
            assert_eq!(amounts.len(), 1, "one currency per test report");
            let (currency, amount) = amounts.iter().next().expect("one");
            let r = row(org, indicator, None, None);
            assert_eq!(r["amount"]["currency"], currency.as_str(), "{r:#}");
            assert_eq!(&r["amount"]["value"], amount, "{indicator}: {r:#}");
            expected_rows += 1;
        } else if let Some(flag) = value.get("flag") {
            let r = row(org, indicator, None, None);
            let (yes, no) = if flag == true { (1, 0) } else { (0, 1) };
            assert_eq!(r["flag"]["yes"], yes, "{indicator}: {r:#}");
            assert_eq!(r["flag"]["no"], no, "{indicator}: {r:#}");
            expected_rows += 1;
        } else {
            check_cell(
                &value["total"],
                row(org, indicator, None, None),
                &format!("{indicator} total"),
            );
            expected_rows += 1;
            for (dimension, cells) in value["breakdowns"].as_object().into_iter().flatten() {
                for (name, cell) in cells.as_object().into_iter().flatten() {
                    check_cell(
                        cell,
                        row(org, indicator, Some(dimension), Some(name)),
                        &format!("{indicator} {dimension}={name}"),
                    );
                    expected_rows += 1;
                }
            }
        }
    }
    let org_rows = crate::view::rows_of(view, org);
    assert_eq!(
        org_rows, expected_rows,
        "the hub shows other values for {org} than the node's preview:\npreview {preview:#}\nview {view:#}"
    );
}
