//! Scale-out on datafusion-distributed: with workers declared (`[distributed] workers`, or
//! `CANON_WORKERS`), every session plans distributed queries. The coordinator is the
//! ordinary session, so the policy, the plan hook and diagnostics apply there as always;
//! the stages below it run on workers, which are Canon processes of the same project
//! (`canon worker`) with the same functions, stores and profile.
//!
//! Layers, bottom to top: `routes` (which worker ran which task), `channels` (bounded
//! connections whose errors name the worker), `worker` (the sessions a worker runs its
//! tasks in); this module installs the coordinator's side into the session template.

mod channels;
mod routes;
mod worker;

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::prelude::SessionConfig;
use datafusion_distributed::{DistributedExt, SessionStateBuilderExt, WorkerResolver};
use tonic::codegen::http::HeaderValue;
use url::Url;

use crate::error::WorkerError;
use canon_model::distributed::{DistributedSpec, WORKERS_ENV, parse_workers};
use channels::Timeouts;

pub(crate) use channels::Channels;
pub(crate) use routes::Routes;
pub(crate) use worker::{DatasetFiles, WorkerSessions};

pub use datafusion_distributed::{
    DistributedExec, DistributedGetterExt, DistributedMetricsFormat, Worker, display_plan_ascii,
    explain_analyze,
};

/// The workers sessions distribute to: `CANON_WORKERS` when it is set (empty turns
/// distribution off), else the project's `[distributed] workers`.
pub fn workers(spec: &DistributedSpec) -> Result<Vec<Url>, WorkerError> {
    match variable(WORKERS_ENV)? {
        Some(value) => parse_workers(&value).map_err(|message| WorkerError::List {
            variable: WORKERS_ENV,
            message,
        }),
        None => Ok(spec.workers.clone()),
    }
}

/// An environment variable's value, `None` when it is not set.
fn variable(name: &'static str) -> Result<Option<String>, WorkerError> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(WorkerError::List {
            variable: name,
            message: "is not valid UTF-8".to_string(),
        }),
    }
}

/// The fixed worker list of a project.
#[derive(Debug, Clone)]
struct WorkerList(Arc<Vec<Url>>);

impl WorkerResolver for WorkerList {
    fn get_urls(&self) -> DfResult<Vec<Url>> {
        Ok(self.0.as_ref().clone())
    }
}

/// The environment variable holding the secret workers and coordinators share.
pub const TOKEN_ENV: &str = "CANON_WORKER_TOKEN";

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

/// The workers' shared secret, when `CANON_WORKER_TOKEN` is set and not empty.
pub fn worker_token() -> Result<Option<String>, WorkerError> {
    Ok(variable(TOKEN_ENV)?.filter(|token| !token.is_empty()))
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

/// Whether sessions with this config plan distributed queries, so that tables whose own
/// scans cannot cross processes hand the planner plain file scans instead.
#[cfg_attr(not(feature = "delta"), allow(dead_code))]
pub(crate) fn is_distributed(config: &SessionConfig) -> bool {
    config.get_extension::<Marker>().is_some()
}

/// Present in the config of sessions that distribute.
#[derive(Debug)]
struct Marker;

/// Marks a template's config as distributing (see [`is_distributed`]).
pub(crate) fn mark(state: &mut SessionState) {
    state.config_mut().set_extension(Arc::new(Marker));
}

/// Whether the plan is a distributed one, with stages on workers.
pub fn is_distributed_plan(plan: &dyn datafusion::physical_plan::ExecutionPlan) -> bool {
    plan.is::<DistributedExec>()
}
