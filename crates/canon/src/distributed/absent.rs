//! Stand-ins for a build without the cargo feature `distributed`: no plan is ever
//! distributed, so explanations have nothing of workers to show.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::context::SessionState;
use datafusion::physical_plan::ExecutionPlan;

/// The distributed side of one explanation, which without the feature is always empty.
pub(crate) struct DistributedView;

impl DistributedView {
    /// Nothing to record: no task leaves this process.
    pub(crate) fn install(_state: &mut SessionState) -> Self {
        Self
    }

    /// No plan is distributed.
    pub(crate) fn plan(&self, _plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
        None
    }

    /// No plan is distributed.
    pub(crate) async fn metrics(&self, _plan: &Arc<dyn ExecutionPlan>) -> Result<Option<String>> {
        Ok(None)
    }

    /// No plan is distributed.
    pub(crate) fn workers(
        &self,
        _state: &SessionState,
        _plan: &Arc<dyn ExecutionPlan>,
        _ran: bool,
    ) -> Result<Option<String>> {
        Ok(None)
    }
}
