//! The real daemons of `federation_load`: `alliance-hub` and `alliance-node` processes started
//! from their command line, their logs, and what `/proc` says about them (resident memory and
//! CPU time).
//!
//! Nothing here knows the load: it starts, watches and stops processes, and runs one-shot
//! commands, so that the benchmark drives the daemons exactly as an operator's scripts would.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The two release binaries the benchmark runs, found beside its own executable.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub hub: PathBuf,
    pub node: PathBuf,
}

impl Binaries {
    /// `alliance-hub` and `alliance-node` in the directory of the running executable, or an
    /// error that says how to build them.
    pub fn beside_self() -> Result<Binaries> {
        let exe = std::env::current_exe().context("finding this executable")?;
        let dir = exe
            .parent()
            .context("this executable lies in no directory")?
            .to_owned();
        let binaries = Binaries {
            hub: dir.join("alliance-hub"),
            node: dir.join("alliance-node"),
        };
        for path in [&binaries.hub, &binaries.node] {
            if !path.is_file() {
                bail!(
                    "{} is missing: the benchmark runs the release daemons beside it; build them \
                     first with `cargo build --release --workspace --bins`, then run \
                     ./target/release/federation_load",
                    path.display()
                );
            }
        }
        Ok(binaries)
    }
}

/// Runs a one-shot command (`init`, `org add`, ...) to completion and returns its standard
/// output; a failure is an error with its standard error.
pub fn run_command(binary: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} {} exited with {}: {}",
            binary.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("the output of {} {}", binary.display(), args.join(" ")))
}

/// A `serve` process with its standard output and error appended to a log file. Dropping it
/// kills the process, so that a failed run leaves nothing behind.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Option<Child>,
    pid: u32,
    log: PathBuf,
}

impl Daemon {
    /// Starts `BINARY serve --data DATA`, logging to `log`. It does not wait for readiness.
    pub fn spawn(name: &str, binary: &Path, data: &Path, log: &Path) -> Result<Daemon> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening the log {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("opening the log {}", log.display()))?;
        let child = Command::new(binary)
            .arg("serve")
            .arg("--data")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {} serve for the {name}", binary.display()))?;
        Ok(Daemon {
            name: name.to_owned(),
            pid: child.id(),
            child: Some(child),
            log: log.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// An error if the process has exited (it should run until stopped).
    pub fn check_running(&mut self) -> Result<()> {
        let child = self
            .child
            .as_mut()
            .with_context(|| format!("the {} was stopped", self.name))?;
        if let Some(status) = child.try_wait().context("asking whether a daemon runs")? {
            bail!(
                "the {} exited by itself with {status}; see {}",
                self.name,
                self.log.display()
            );
        }
        Ok(())
    }

    /// SIGKILL: nothing in flight is finished, nothing more is flushed. Reaps the process.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .with_context(|| format!("the {} is not running", self.name))?;
        child
            .kill()
            .with_context(|| format!("killing the {}", self.name))?;
        child
            .wait()
            .with_context(|| format!("reaping the {}", self.name))
    }

    /// SIGTERM (through `kill`, since this crate has no unsafe code for `libc::kill`), then
    /// waits up to `timeout` for a graceful exit, which must be with status 0.
    pub fn terminate(&mut self, timeout: Duration) -> Result<()> {
        let mut child = self
            .child
            .take()
            .with_context(|| format!("the {} is not running", self.name))?;
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .context("running kill -TERM")?;
        if !sent.success() {
            bail!("kill -TERM {} failed: {sent}", child.id());
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().context("waiting for a daemon")? {
                if !status.success() {
                    bail!(
                        "the {} exited with {status} after SIGTERM; see {}",
                        self.name,
                        self.log.display()
                    );
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the {} did not exit within {timeout:?} of SIGTERM; see {}",
                    self.name,
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last `lines` lines of a log file (at most its last 64 KiB), for an error report.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))?;
        // The cut may fall inside a character: read bytes, decode leniently.
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}

/// What `/proc/PID` says about a process at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcStat {
    /// Resident set now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set since the process started (`VmHWM`), KiB.
    pub hwm_kib: u64,
    /// User + system CPU time, in clock ticks (100 a second, Linux's USER_HZ).
    pub cpu_ticks: u64,
}

impl ProcStat {
    /// The figures of process `pid`; `None` if it has gone (or never was).
    pub fn of(pid: u32) -> Option<ProcStat> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The name in parentheses may hold spaces; the fields after it are fixed.
        let fields: Vec<&str> = stat
            .get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        Some(ProcStat {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
            cpu_ticks: ticks(11)? + ticks(12)?,
        })
    }

    /// CPU seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_ticks as f64 / 100.0
    }
}

/// A loopback port that was free a moment ago. Another process may take it before the daemon
/// binds it; the daemon then fails to start and says so in its log.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(listener.local_addr().context("a bound port")?.port())
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> Result<String> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    Ok(text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" "))
}

/// The CPU model, from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// KiB as MiB, for printing.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
