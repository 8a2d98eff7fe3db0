//! What an explanation shows of a distributed plan: its stages, each task's metrics and
//! the workers its tasks went to.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::context::SessionState;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::{
    DistributedGetterExt, DistributedMetricsFormat, display_plan_ascii, explain_analyze,
};

use super::is_distributed_plan;
use super::routes::Routes;

/// The distributed side of one explanation; every method answers `None` for a plan that
/// runs on this process alone.
pub(crate) struct DistributedView {
    routes: Arc<Routes>,
}

impl DistributedView {
    /// Records which worker runs which task, in this explanation's state only.
    pub(crate) fn install(state: &mut SessionState) -> Self {
        let routes = Arc::new(Routes::default());
        state.config_mut().set_extension(Arc::clone(&routes));
        Self { routes }
    }

    /// The plan drawn stage by stage, when it is distributed.
    pub(crate) fn plan(&self, plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
        is_distributed_plan(plan.as_ref()).then(|| display_plan_ascii(plan.as_ref(), false))
    }

    /// Each task's metrics after the plan ran, when it is distributed.
    pub(crate) async fn metrics(&self, plan: &Arc<dyn ExecutionPlan>) -> Result<Option<String>> {
        if !is_distributed_plan(plan.as_ref()) {
            return Ok(None);
        }
        let text = explain_analyze(Arc::clone(plan), DistributedMetricsFormat::PerTask).await?;
        Ok(Some(text))
    }

    /// The workers of a distributed plan: the task each ran when it has run, else the
    /// workers its tasks are routed among when it runs.
    pub(crate) fn workers(
        &self,
        state: &SessionState,
        plan: &Arc<dyn ExecutionPlan>,
        ran: bool,
    ) -> Result<Option<String>> {
        if !is_distributed_plan(plan.as_ref()) {
            return Ok(None);
        }
        if ran {
            return Ok(Some(self.routes.render()));
        }
        let urls = state.get_distributed_worker_resolver()?.get_urls()?;
        let urls: Vec<String> = urls.iter().map(ToString::to_string).collect();
        Ok(Some(format!(
            "each stage's tasks are assigned when the query runs, among: {}\n",
            urls.join(", ")
        )))
    }
}
