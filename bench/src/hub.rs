//! The hub under load: ingest one report per call and in batches, and the view.
//! (Phase 2: waits for `alliance_hub`'s in-process server.)

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::Runtimes;
use crate::figures::Figures;
use crate::fixture::Org;

/// Figure keys the targets name.
pub const SUBMIT: &str = "hub_submit";
pub const BATCH_BEST: &str = "hub_batch_best";
pub const VIEW_ALLIANCE: &str = "view_alliance_ms";

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub periods: usize,
    pub in_flight: usize,
    pub connections: usize,
    pub batch_sizes: Vec<usize>,
    pub queries: usize,
    pub duration: Duration,
    pub threads: usize,
}

pub fn measure(
    _runtimes: &Runtimes,
    _dir: &Path,
    _orgs: &[Org],
    _plan: &Plan,
    figures: &mut Figures,
) -> Result<()> {
    figures.note("the hub phases are not written yet");
    Ok(())
}
