//! Explanations: a query's logical, optimized and physical plans, its lineage, fingerprint
//! and canonical SQL, and with `analyze` its runtime metrics.

use std::sync::Arc;

use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{collect, displayable};
use datafusion::physical_planner::DefaultPhysicalPlanner;
use serde::Serialize;

use super::{Lineage, canonical_sql, fingerprint, lineage};
use crate::distributed::DistributedView;
use crate::error::{CanonError, Result};
use crate::finished::unwrapped;

/// Everything Canon can say about one query's plan.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The SQL statement as parsed; empty for a DataFrame.
    pub statement: String,
    /// The fingerprint of the optimized plan, as recorded when the query runs.
    pub fingerprint: String,
    /// The plan as planned, before optimization, with each node's schema.
    pub logical_plan: String,
    /// The plan after DataFusion's optimizer and Canon's join order, with each node's
    /// schema.
    pub optimized_plan: String,
    /// The physical plan.
    pub physical_plan: String,
    /// The tables read and each output column's source columns.
    pub lineage: Lineage,
    /// The query rendered back to SQL in the policy's dialect, when the unparser can.
    pub canonical_sql: Option<String>,
    /// Why there is no canonical SQL, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical_sql_error: Option<String>,
    /// The physical plan with the metrics of a run, when analyzed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// For a distributed plan, the workers its stages run on: the task each worker ran
    /// when analyzed, else the workers tasks are routed among when it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<String>,
}

/// Explains a plan as it would run in `state`: canonical SQL in `dialect`, the optimized
/// and physical plans (made through the session's plan hook, so the policy applies and the
/// plan is recorded), lineage and fingerprint; with `analyze` it also runs the plan.
pub(crate) async fn explain_plan(
    state: SessionState,
    plan: LogicalPlan,
    statement: String,
    dialect: &str,
    analyze: bool,
) -> Result<Explanation> {
    let (canonical_sql, canonical_sql_error) = match canonical_sql(&plan, dialect) {
        Ok(sql) => (Some(sql), None),
        Err(e) => (None, Some(e.strip_backtrace())),
    };
    let optimized = state.optimize(&plan)?;
    // What the query planner will run: each region of joins in the order it chooses, with
    // its estimates (a `CanonJoinOrder` line), and aggregates computed early.
    let ordered =
        crate::optimizer::plan_by_cost(&optimized, &DefaultPhysicalPlanner::default(), &state)
            .await
            .map_err(CanonError::from)?;
    let mut state = state;
    let distributed = DistributedView::install(&mut state);
    // The session's query planner is the plan hook: the policy applies and the plan is
    // recorded, as when the query runs.
    let physical = state
        .query_planner()
        .create_physical_plan(&optimized, &state)
        .await
        .map_err(CanonError::from)?;
    let run = unwrapped(&physical);
    let metrics = if analyze {
        collect(Arc::clone(&physical), state.task_ctx()).await?;
        Some(match distributed.metrics(run).await? {
            Some(per_task) => per_task,
            None => DisplayableExecutionPlan::with_metrics(run.as_ref())
                .indent(true)
                .to_string(),
        })
    } else {
        None
    };
    let workers = distributed.workers(&state, run, analyze)?;
    let catalog = &state.config_options().catalog;
    Ok(Explanation {
        statement,
        fingerprint: fingerprint(&optimized),
        logical_plan: plan.display_indent_schema().to_string(),
        optimized_plan: ordered
            .as_ref()
            .unwrap_or(&optimized)
            .display_indent_schema()
            .to_string(),
        physical_plan: distributed
            .plan(run)
            .unwrap_or_else(|| displayable(run.as_ref()).indent(true).to_string()),
        lineage: lineage::of(
            &optimized,
            &catalog.default_catalog,
            &catalog.default_schema,
        ),
        canonical_sql,
        canonical_sql_error,
        metrics,
        workers,
    })
}
