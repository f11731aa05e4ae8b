//! The part of a running daemon that the hub and the node share: an `alliance-hub serve` or
//! `alliance-node serve` process writing to a log file beside its data directory, and the ways it
//! ends (SIGTERM, SIGKILL, exiting by itself, or being killed when the test drops it).
//!
//! [`HubProcess`](crate::HubProcess) and [`NodeProcess`](crate::NodeProcess) each hold one
//! [`Daemon`] and add what is particular to them: how they are initialised and configured, and
//! when they count as ready.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Binary;

/// How long a hub or a node may take to start answering, or to exit after SIGTERM. Generous:
/// this is for readiness on a loaded machine, never for correctness.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How often readiness, status and exits are polled.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A `serve` process of one of the binaries (or none, while it is stopped), with the log file
/// that every start appends to.
#[derive(Debug)]
pub(crate) struct Daemon {
    binary: Binary,
    /// What the messages call it: "hub" or "node".
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// A daemon of `binary` that is not running yet, whose `serve` writes to the file `log`.
    pub(crate) fn new(binary: Binary, name: &'static str, log: PathBuf) -> Daemon {
        Daemon {
            binary,
            name,
            child: None,
            log,
        }
    }

    /// Starts `serve --data DATA` with no standard input, its standard output and error appended
    /// to the log, `RUST_LOG=info`, `NO_COLOR=1` and no `RUST_BACKTRACE`. `configure` may change
    /// the command further (its environment) before it is spawned. It does not wait for anything.
    pub(crate) fn spawn(&mut self, data: &Path, configure: impl FnOnce(&mut Command)) {
        assert!(self.child.is_none(), "the {} is already running", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("could not open the serve log: {e}"));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("could not open the serve log: {e}"));
        let mut command = Command::new(self.binary.path());
        command
            .arg("serve")
            .arg("--data")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .env_remove("RUST_BACKTRACE")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        configure(&mut command);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {} serve: {e}", self.binary.name()));
        self.child = Some(child);
    }

    /// Whether a process was started and has not been stopped, killed or seen to exit since
    /// (it may still have exited on its own).
    pub(crate) fn is_started(&self) -> bool {
        self.child.is_some()
    }

    /// How the process exited, when it has exited on its own; then it is no longer started.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        let exit = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(exit)
    }

    /// Stops the process with SIGTERM and waits (asynchronously, so that the test's runtime goes
    /// on driving the connections it holds) for it to exit, which must be with status 0.
    pub(crate) async fn stop(&mut self) {
        let name = self.name;
        let mut child = self.take_child();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("could not run kill -TERM: {e}"));
        assert!(status.success(), "kill -TERM failed: {status}");
        let Some(exit) = wait_with_timeout(&mut child, READY_TIMEOUT, name).await else {
            kill_and_reap(&mut child);
            panic!(
                "the {name} did not exit within {READY_TIMEOUT:?} of SIGTERM; its log:\n{}",
                self.log()
            );
        };
        assert!(
            exit.success(),
            "the {name} exited with {exit} after SIGTERM; its log:\n{}",
            self.log()
        );
    }

    /// Kills the process with SIGKILL and reaps it.
    pub(crate) fn kill(&mut self) {
        let name = self.name;
        let mut child = self.take_child();
        child
            .kill()
            .unwrap_or_else(|e| panic!("could not kill the {name}: {e}"));
        let _ = child.wait();
    }

    /// Waits for a process that ends by itself to exit, and returns how it did; after `timeout`
    /// it kills the process and panics with the log.
    pub(crate) async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let name = self.name;
        let mut child = self.take_child();
        match wait_with_timeout(&mut child, timeout, name).await {
            Some(exit) => exit,
            None => {
                kill_and_reap(&mut child);
                panic!(
                    "the {name} did not exit by itself within {timeout:?}; its log:\n{}",
                    self.log()
                );
            }
        }
    }

    /// Whether the process runs right now.
    pub(crate) fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Everything `serve` printed so far (over every restart).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The running process, which is then no longer this daemon's; panics when there is none.
    fn take_child(&mut self) -> Child {
        self.child
            .take()
            .unwrap_or_else(|| panic!("the {} is not running", self.name))
    }
}

impl Drop for Daemon {
    /// Kills a process that still runs, so that no test leaves one behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }
}

/// Kills `child` with SIGKILL, ignoring that it may have exited already, and reaps it.
fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `child` (the `name`) to exit, polling, for at most `timeout`; `None` when it did
/// not exit in time.
async fn wait_with_timeout(child: &mut Child, timeout: Duration, name: &str) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => tokio::time::sleep(POLL_INTERVAL).await,
            Err(e) => panic!("could not wait for the {name}: {e}"),
        }
    }
    None
}

/// Sets `key` of `[table]` in the TOML file at `path` (the top level when `table` is empty,
/// creating the table if needed).
pub(crate) fn set_toml(path: &Path, table: &str, key: &str, value: toml::Value) {
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()));
    let mut config: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{file} is not TOML: {e}\n{text}"));
    let section = if table.is_empty() {
        &mut config
    } else {
        config
            .entry(table)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap_or_else(|| panic!("[{table}] in {file} is not a table:\n{text}"))
    };
    section.insert(key.to_owned(), value);
    std::fs::write(path, config.to_string())
        .unwrap_or_else(|e| panic!("could not write {}: {e}", path.display()));
}

/// Parses what `binary ARGS` printed as JSON, panicking with the output when it is not.
pub(crate) fn parse_json(binary: Binary, args: &[&str], stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| {
        panic!(
            "{} {args:?} did not print JSON ({e}):\n{stdout}",
            binary.name()
        )
    })
}
