//! Scale-out on datafusion-distributed: with workers declared (`[distributed] workers`, or
//! `CANON_WORKERS`), every session plans distributed queries. The coordinator is the
//! ordinary session, so the policy, the plan hook and diagnostics apply there as always;
//! the stages below it run on workers, which are Canon processes of the same project
//! (`canon worker`) with the same functions, stores and profile.
//!
//! Layers, bottom to top: `routes` (which worker ran which task), `channels` (bounded
//! connections whose errors name the worker), `worker` (the sessions a worker runs its
//! tasks in), `coordinator` (the planner and channels a session template gets) and
//! `view` (what an explanation shows of a distributed plan). This module holds what does
//! not need the engine: which workers are declared, the shared secret, and the marker of
//! a distributing session.
//!
//! All but this module need the cargo feature `distributed` (on by default). Without
//! it, `absent` stands in for `view`, and a project that declares workers is refused
//! when its runtime is built.

#[cfg(not(feature = "distributed"))]
mod absent;
#[cfg(feature = "distributed")]
mod channels;
#[cfg(feature = "distributed")]
mod coordinator;
#[cfg(feature = "distributed")]
mod routes;
#[cfg(feature = "distributed")]
mod view;
#[cfg(feature = "distributed")]
mod worker;

use std::sync::Arc;

use datafusion::execution::context::SessionState;
use datafusion::prelude::SessionConfig;
use url::Url;

use crate::error::WorkerError;
use canon_model::distributed::{DistributedSpec, WORKERS_ENV, parse_workers};

#[cfg(not(feature = "distributed"))]
pub(crate) use absent::DistributedView;
#[cfg(feature = "distributed")]
pub use coordinator::is_distributed_plan;
#[cfg(feature = "distributed")]
pub(crate) use coordinator::{channels, coordinate};
#[cfg(feature = "distributed")]
pub(crate) use view::DistributedView;
#[cfg(feature = "distributed")]
pub(crate) use worker::{DatasetFiles, WorkerSessions};

#[cfg(feature = "distributed")]
pub use datafusion_distributed::{
    DistributedExec, DistributedGetterExt, DistributedMetricsFormat, Worker, display_plan_ascii,
    explain_analyze,
};

/// The workers sessions distribute to: `CANON_WORKERS` when it is set (empty turns
/// distribution off), else the project's `[distributed] workers`.
pub fn workers(spec: &DistributedSpec) -> Result<Vec<Url>, WorkerError> {
    let (workers, origin) = match variable(WORKERS_ENV)? {
        Some(value) => {
            let workers = parse_workers(&value).map_err(|message| WorkerError::List {
                variable: WORKERS_ENV,
                message,
            })?;
            (workers, WORKERS_ENV)
        }
        None => (spec.workers.clone(), "[distributed] workers"),
    };
    if cfg!(not(feature = "distributed")) && !workers.is_empty() {
        return Err(WorkerError::NotBuilt { origin });
    }
    Ok(workers)
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

/// The environment variable holding the secret workers and coordinators share.
pub const TOKEN_ENV: &str = "CANON_WORKER_TOKEN";

/// The workers' shared secret, when `CANON_WORKER_TOKEN` is set and not empty.
pub fn worker_token() -> Result<Option<String>, WorkerError> {
    Ok(variable(TOKEN_ENV)?.filter(|token| !token.is_empty()))
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
