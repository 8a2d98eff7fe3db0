//! The coordinator's side of distributed plans: datafusion-distributed's planner, the
//! workers tasks are routed among, and Canon's bounded channels to them.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateBuilder;
use datafusion_distributed::{
    DistributedExec, DistributedExt, SessionStateBuilderExt, WorkerResolver,
};
use tonic::codegen::http::HeaderValue;
use url::Url;

use super::channels::{Channels, Timeouts};
use super::{TOKEN_ENV, worker_token};
use crate::error::WorkerError;
use canon_model::distributed::DistributedSpec;

/// The fixed worker list of a project.
#[derive(Debug, Clone)]
struct WorkerList(Arc<Vec<Url>>);

impl WorkerResolver for WorkerList {
    fn get_urls(&self) -> DfResult<Vec<Url>> {
        Ok(self.0.as_ref().clone())
    }
}

/// Channels to workers under the project's bounds, presenting `CANON_WORKER_TOKEN` when
/// it is set.
pub(crate) fn channels(spec: &DistributedSpec) -> Result<Channels, WorkerError> {
    let timeouts = Timeouts {
        connect: spec.connect_timeout,
        keepalive: spec.keepalive_timeout,
    };
    Ok(Channels::new(timeouts, secret()?))
}

/// The `authorization` value of `CANON_WORKER_TOKEN`, when it is set.
fn secret() -> Result<Option<HeaderValue>, WorkerError> {
    let Some(token) = worker_token()? else {
        return Ok(None);
    };
    let mut value =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| WorkerError::List {
            variable: TOKEN_ENV,
            message: "must be printable ASCII".to_string(),
        })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// The coordinator's side: the distributed planner over the template's query planner,
/// the workers to route tasks to and Canon's bounded channels to them. Call it before the
/// plan hook is installed, so that the hook sees every plan, distributed or not.
pub(crate) fn coordinate(
    builder: SessionStateBuilder,
    workers: Vec<Url>,
    spec: &DistributedSpec,
) -> DfResult<SessionStateBuilder> {
    let bytes = usize::try_from(spec.bytes_per_partition).unwrap_or(usize::MAX);
    let channels = channels(spec).map_err(|e| DataFusionError::External(Box::new(e)))?;
    builder
        .with_distributed_worker_resolver(WorkerList(Arc::new(workers)))
        .with_distributed_channel_resolver(channels)
        .with_distributed_planner()
        .with_distributed_file_scan_config_bytes_per_partition(bytes)
}

/// Whether the plan is a distributed one, with stages on workers.
pub fn is_distributed_plan(plan: &dyn datafusion::physical_plan::ExecutionPlan) -> bool {
    plan.is::<DistributedExec>()
}
