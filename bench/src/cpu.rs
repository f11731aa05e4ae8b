//! How busy the process kept the machine's cores during a phase, from `/proc/self/stat`.
//!
//! A phase that used every core is bound by computation; one that left cores idle waits on
//! something else (a lock, a flush, the network). Client and server share the process, as they
//! share the machine, so the figure covers both.

use std::time::Instant;

use anyhow::{Context, Result, anyhow};

/// Linux reports CPU time in USER_HZ ticks, 100 per second on every architecture it runs on
/// with this layout of `/proc/self/stat`.
const TICKS_PER_SECOND: f64 = 100.0;

/// The process's CPU time (user and system, every thread including ended ones) at an instant.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    ticks: u64,
    at: Instant,
}

impl Clock {
    pub fn now() -> Result<Clock> {
        let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
        // The command name, in parentheses, may hold spaces: count fields after its end.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow!("/proc/self/stat has no command name"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line; the state, field 3, comes first here.
        let field = |i: usize| -> Result<u64> {
            fields
                .get(i)
                .context("/proc/self/stat is too short")?
                .parse()
                .context("a CPU time in /proc/self/stat is not a number")
        };
        Ok(Clock {
            ticks: field(11)? + field(12)?,
            at: Instant::now(),
        })
    }

    /// Cores kept busy on average since `self`.
    pub fn busy_cores(&self) -> Result<f64> {
        let now = Clock::now()?;
        let wall = now.at.duration_since(self.at).as_secs_f64();
        Ok((now.ticks.saturating_sub(self.ticks)) as f64 / TICKS_PER_SECOND / wall.max(1e-9))
    }
}
