//! Questions about the merged view (DESIGN.md §4): the view itself and coverage.

use alliance_core::merge::{Coverage, Query, View, default_deadline};
use alliance_core::org::Registry;
use alliance_core::period::Period;
use alliance_core::timestamp::Timestamp;

use super::{Hub, HubError};

impl Hub {
    /// The merged view a query asks for, from the totals kept up to date with every insert.
    pub fn view(&self, query: &Query) -> Result<View, HubError> {
        let framework = self
            .frameworks
            .latest()
            .ok_or_else(|| HubError::Invalid("the hub knows no framework".into()))?;
        Ok(self.state().ledger.view(query, framework))
    }

    /// A number that rises whenever the view may have changed: a view computed after reading
    /// it stays right for as long as it has not moved.
    pub fn view_generation(&self) -> u64 {
        self.state().generation
    }

    /// Coverage of a period against its deadline (the operator's, else the framework
    /// default), or against `deadline` for this question only; with the registry it was
    /// computed from, for names and regions.
    pub fn coverage(
        &self,
        period: Period,
        deadline: Option<Timestamp>,
    ) -> Result<(Coverage, Registry), HubError> {
        let deadline = match deadline {
            Some(deadline) => deadline,
            None => self.deadline(period)?,
        };
        let framework = self
            .frameworks
            .latest()
            .ok_or_else(|| HubError::Invalid("the hub knows no framework".into()))?;
        let state = self.state();
        let coverage = state
            .ledger
            .coverage(&state.registry, framework, period, Some(deadline));
        Ok((coverage, state.registry.clone()))
    }

    /// A period's deadline: the operator's, else the framework default.
    pub fn deadline(&self, period: Period) -> Result<Timestamp, HubError> {
        let set = self.store.deadlines().map_err(|e| self.fail(e))?;
        if let Some(at) = set.get(&period) {
            return Ok(*at);
        }
        let framework = self
            .frameworks
            .latest()
            .ok_or_else(|| HubError::Invalid("the hub knows no framework".into()))?;
        Ok(default_deadline(framework, period))
    }

    /// Whether the latest framework has an action point of this id.
    pub fn knows_action_point(&self, id: &str) -> bool {
        self.frameworks
            .latest()
            .is_some_and(|f| f.action_point(id).is_some())
    }

    /// Rebuilds the ledger from the stored envelopes and says whether it equals the one kept
    /// up to date request by request (it must: both are functions of the stored set).
    pub fn rebuild_matches(&self) -> Result<bool, HubError> {
        let registry = self.state().registry.clone();
        let rebuilt = super::open::rebuild(&self.store, &registry)
            .map_err(|e| HubError::Storage(e.to_string()))?;
        Ok(self.state().ledger == rebuilt)
    }
}
