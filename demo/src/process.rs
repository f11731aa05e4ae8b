//! The processes the demo starts: daemons (`serve`) that run until the demo stops them, and
//! one-shot commands whose output it reads.
//!
//! Every daemon is kept in one registry, so that whatever happens (a failed step, a panic,
//! ctrl-c or SIGTERM to the demo) none is left running: a daemon dropped while running is
//! stopped with SIGTERM (then SIGKILL if it does not exit), and a signal to the demo stops them
//! all before it exits.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// How long a daemon may take to be ready, or to exit after SIGTERM.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// The running daemons, by process id.
static RUNNING: Mutex<BTreeMap<u32, Child>> = Mutex::new(BTreeMap::new());

fn running() -> MutexGuard<'static, BTreeMap<u32, Child>> {
    RUNNING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A binary the demo runs: `alliance-hub` or `alliance-node`.
#[derive(Debug, Clone)]
pub struct Tool {
    pub path: PathBuf,
}

impl Tool {
    fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// Runs the tool with `args` and returns its standard output; fails with its standard error
    /// when it exits with a failure.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let output = Command::new(&self.path)
            .args(args)
            .env_remove("FAILPOINTS")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", self.path.display()))?;
        if !output.status.success() {
            bail!(
                "`{} {}` failed ({}):\n{}{}",
                self.name(),
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&output.stdout),
            );
        }
        String::from_utf8(output.stdout).with_context(|| {
            format!(
                "`{} {}` printed text that is not UTF-8",
                self.name(),
                args.join(" ")
            )
        })
    }

    /// Runs the tool with `args` (which should include `--json`) and parses what it prints.
    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let out = self.run(args)?;
        serde_json::from_str(&out).with_context(|| {
            format!(
                "`{} {}` did not print JSON:\n{out}",
                self.name(),
                args.join(" ")
            )
        })
    }
}

/// A daemon: `TOOL serve --data DIR`, logging to a file.
#[derive(Debug)]
pub struct Daemon {
    pub name: String,
    tool: Tool,
    pub data: PathBuf,
    pub log: PathBuf,
    /// Addresses that accept connections once it is ready (the hub's and a relay's listener).
    listens: Vec<SocketAddr>,
    pid: Option<u32>,
}

impl Daemon {
    pub fn new(
        name: &str,
        tool: &Tool,
        data: &Path,
        log: &Path,
        listens: Vec<SocketAddr>,
    ) -> Daemon {
        Daemon {
            name: name.to_owned(),
            tool: tool.clone(),
            data: data.to_owned(),
            log: log.to_owned(),
            listens,
            pid: None,
        }
    }

    /// Starts `serve` and waits until its admin socket and its listeners answer.
    pub fn start(&mut self) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(&self.tool.path)
            .arg("serve")
            .arg("--data")
            .arg(&self.data)
            .env_remove("FAILPOINTS")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} serve", self.tool.path.display()))?;
        let pid = child.id();
        running().insert(pid, child);
        self.pid = Some(pid);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        let socket = self.data.join("admin.sock");
        loop {
            if let Some(status) = self.exited()? {
                bail!(
                    "the {} exited ({status}) before it was ready; see {}",
                    self.name,
                    self.log.display()
                );
            }
            let listening = self
                .listens
                .iter()
                .all(|a| TcpStream::connect_timeout(a, POLL).is_ok());
            if listening && socket.exists() {
                return Ok(());
            }
            if started.elapsed() > DAEMON_TIMEOUT {
                bail!(
                    "the {} was not ready within {DAEMON_TIMEOUT:?}; see {}",
                    self.name,
                    self.log.display()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The exit status, if the process has exited (and is then no longer running).
    fn exited(&mut self) -> Result<Option<ExitStatus>> {
        let Some(pid) = self.pid else {
            return Ok(None);
        };
        let mut running = running();
        let Some(child) = running.get_mut(&pid) else {
            return Ok(None);
        };
        let status = child
            .try_wait()
            .with_context(|| format!("waiting for the {}", self.name))?;
        if status.is_some() {
            running.remove(&pid);
            self.pid = None;
        }
        Ok(status)
    }

    /// Stops the daemon with SIGTERM and waits for it to exit, which must be with status 0.
    pub fn stop(&mut self) -> Result<()> {
        let Some(pid) = self.pid.take() else {
            return Ok(());
        };
        let Some(child) = running().remove(&pid) else {
            return Ok(());
        };
        let status = terminate(child)?;
        if !status.success() {
            bail!(
                "the {} exited with {status} after SIGTERM; see {}",
                self.name,
                self.log.display()
            );
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take()
            && let Some(child) = running().remove(&pid)
        {
            let _ = terminate(child);
        }
    }
}

/// SIGTERM, then SIGKILL if the process has not exited within [`DAEMON_TIMEOUT`].
fn terminate(mut child: Child) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    // `kill` the command: the workspace forbids the unsafe code a direct kill(2) would need.
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let started = Instant::now();
    while sent && started.elapsed() < DAEMON_TIMEOUT {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(POLL);
    }
    child.kill()?;
    let status = child.wait()?;
    Err(anyhow!(
        "process {} did not exit after SIGTERM and was killed ({status})",
        child.id()
    ))
}

/// Stops every running daemon (SIGTERM, then SIGKILL): for the demo's exit on a signal.
fn terminate_all() {
    let children: Vec<Child> = std::mem::take(&mut *running()).into_values().collect();
    for child in children {
        let _ = terminate(child);
    }
}

/// On SIGINT (ctrl-c) or SIGTERM, stops every daemon and exits with status 130.
pub fn stop_everything_on_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    let (mut interrupt, mut term) = {
        let _guard = runtime.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = term.recv() => {}
                }
            });
            eprintln!("\nalliance-demo: interrupted; stopping the processes it started");
            terminate_all();
            std::process::exit(130);
        })
        .context("starting the signal handler")?;
    Ok(())
}

/// A free port on the loopback interface (bound, then let go).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
