//! The load generator shared by the echo and the hub: a fixed number of calls in flight, each
//! worker starting its next call as soon as its last one is answered, for a fixed time.
//!
//! Rates are completed work over the wall time from the first call to the last answer, so calls
//! still in flight at the deadline are waited for and counted; nothing is extrapolated.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

/// What the workers send: each item once, or round and round.
#[derive(Debug)]
pub struct Pool<T> {
    items: Vec<T>,
    next: AtomicUsize,
    cycle: bool,
}

impl<T: Clone> Pool<T> {
    /// Each item is sent once; the run ends early when they are all sent. For ingest, where a
    /// repeated report would be a duplicate and cost the hub less than a new one.
    pub fn once(items: Vec<T>) -> Arc<Self> {
        Arc::new(Pool {
            items,
            next: AtomicUsize::new(0),
            cycle: false,
        })
    }

    /// Items are sent round and round, for the echo, which does not care.
    pub fn cycling(items: Vec<T>) -> Arc<Self> {
        Arc::new(Pool {
            items,
            next: AtomicUsize::new(0),
            cycle: true,
        })
    }

    /// How many items were taken (at most all of them, for a pool used once).
    pub fn taken(&self) -> usize {
        let n = self.next.load(Ordering::Relaxed);
        if self.cycle {
            n
        } else {
            n.min(self.items.len())
        }
    }

    /// The items not taken yet, for a pool used once.
    pub fn rest(&self) -> &[T] {
        &self.items[self.taken().min(self.items.len())..]
    }

    fn take(&self) -> Option<T> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if self.items.is_empty() {
            return None;
        }
        let i = if self.cycle { i % self.items.len() } else { i };
        self.items.get(i).cloned()
    }
}

/// The result of one timed run.
#[derive(Debug, Clone)]
pub struct Run {
    pub calls: u64,
    /// Reports acknowledged (a batch call acknowledges many).
    pub reports: u64,
    pub elapsed: Duration,
    /// Whether the run stopped because the pool ran out rather than at the deadline.
    pub exhausted: bool,
    /// Cores the whole process (client and server) kept busy on average.
    pub busy_cores: f64,
    /// Every call's latency, sorted.
    latencies: Vec<Duration>,
}

impl Run {
    pub fn calls_per_s(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    pub fn reports_per_s(&self) -> f64 {
        self.reports as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency below which `q` (0 to 1) of the calls were answered.
    pub fn latency(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }
}

/// Runs `concurrency` workers on the current tokio runtime for `duration` (or until the pool
/// runs out). `call(worker, item)` makes one call and returns how many reports it acknowledged.
/// The first failed call stops every worker and is the run's error.
pub async fn in_flight<T, F, Fut>(
    concurrency: usize,
    duration: Duration,
    pool: Arc<Pool<T>>,
    call: F,
) -> Result<Run>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(usize, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64>> + Send + 'static,
{
    let call = Arc::new(call);
    let stop = Arc::new(AtomicBool::new(false));
    let exhausted = Arc::new(AtomicBool::new(false));
    let cpu = crate::cpu::Clock::now()?;
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (pool, call, stop, exhausted) =
                (pool.clone(), call.clone(), stop.clone(), exhausted.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut reports = 0;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let Some(item) = pool.take() else {
                        exhausted.store(true, Ordering::Relaxed);
                        break;
                    };
                    let sent = Instant::now();
                    match call(worker, item).await {
                        Ok(n) => reports += n,
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    latencies.push(sent.elapsed());
                }
                Ok((latencies, reports))
            })
        })
        .collect();
    let mut run = Run {
        calls: 0,
        reports: 0,
        elapsed: Duration::ZERO,
        exhausted: false,
        busy_cores: 0.0,
        latencies: Vec::new(),
    };
    let mut first_error = None;
    for worker in workers {
        match worker.await.context("a load worker panicked")? {
            Ok((latencies, reports)) => {
                run.calls += latencies.len() as u64;
                run.reports += reports;
                run.latencies.extend(latencies);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    run.elapsed = start.elapsed();
    run.busy_cores = cpu.busy_cores()?;
    if let Some(e) = first_error {
        return Err(e);
    }
    if run.calls == 0 {
        return Err(anyhow!("no call completed"));
    }
    run.exhausted = exhausted.load(Ordering::Relaxed);
    run.latencies.sort_unstable();
    Ok(run)
}
