//! What Canon's own plan nodes and rules share.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::{Aggregate, Expr, Join, LogicalPlan};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::sanity_checker::SanityCheckPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use futures::future::BoxFuture;

/// The one input of Canon's plan nodes that take one input and no expressions (a shared
/// result, a reordered region), or an internal error naming the node.
pub(crate) fn one_input(
    node: &str,
    exprs: Vec<Expr>,
    inputs: Vec<LogicalPlan>,
) -> Result<LogicalPlan> {
    match (exprs.is_empty(), <[LogicalPlan; 1]>::try_from(inputs)) {
        (true, Ok([input])) => Ok(input),
        _ => internal_err!("{node} takes one input and no expressions"),
    }
}

/// `rewritten`, a physical rule's rewrite of `plan`, where it changed something and every
/// operator's requirements of its inputs still hold (DataFusion's own sanity check
/// decides); `plan` otherwise.
pub(crate) fn sane_or(
    plan: Arc<dyn ExecutionPlan>,
    rewritten: Transformed<Arc<dyn ExecutionPlan>>,
    config: &ConfigOptions,
) -> Arc<dyn ExecutionPlan> {
    match rewritten.transformed && sane(&rewritten.data, config) {
        true => rewritten.data,
        false => plan,
    }
}

/// Whether every operator's requirements of its inputs hold in `plan`, as DataFusion's own
/// sanity check decides.
pub(crate) fn sane(plan: &Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> bool {
    SanityCheckPlan::new()
        .optimize(Arc::clone(plan), config)
        .is_ok()
}

/// The input column that column `index` of `projection`'s output passes on as it is, or
/// `None` when that column is computed.
pub(crate) fn passed_column(projection: &ProjectionExec, index: usize) -> Option<usize> {
    let expr = &projection.projection_expr().iter().nth(index)?.expr;
    Some(expr.downcast_ref::<Column>()?.index())
}

/// The one child of Canon's execution plans that take one (a shared result's reader, a
/// region's estimate), or an internal error naming the plan.
pub(crate) fn one_child(
    node: &str,
    children: Vec<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    match <[Arc<dyn ExecutionPlan>; 1]>::try_from(children) {
        Ok([child]) => Ok(child),
        Err(_) => internal_err!("{node} takes one input"),
    }
}

/// `plan` as `rewrite` gives it when `plan` is an aggregate `rewrite` changes, else as it
/// is: the rewrite of Canon's rules that take one aggregate at a time.
pub(crate) fn rewrite_aggregate(
    plan: LogicalPlan,
    rewrite: impl FnOnce(&Aggregate) -> Result<Option<LogicalPlan>>,
) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Aggregate(aggregate) = plan else {
        return Ok(Transformed::no(plan));
    };
    match rewrite(&aggregate)? {
        Some(rewritten) => Ok(Transformed::yes(rewritten)),
        None => Ok(Transformed::no(LogicalPlan::Aggregate(aggregate))),
    }
}

/// `join` over other inputs with the same columns, its conditions and kind as they were.
pub(crate) fn with_sides(
    join: &Join,
    left: Arc<LogicalPlan>,
    right: Arc<LogicalPlan>,
) -> Result<Join> {
    Join::try_new(
        left,
        right,
        join.on.clone(),
        join.filter.clone(),
        join.join_type,
        join.join_constraint,
        join.null_equality,
        join.null_aware,
    )
}

/// `plan` over its inputs as `rewrite` gives each, or `None` when it changes none: the walk
/// of Canon's rewrites in the query planner, which plan subplans as they go. Subqueries in
/// expressions keep their plans.
pub(crate) async fn inputs_rewritten<'a>(
    plan: &'a LogicalPlan,
    mut rewrite: impl FnMut(&'a LogicalPlan) -> BoxFuture<'a, Result<Option<LogicalPlan>>>,
) -> Result<Option<LogicalPlan>> {
    let inputs = plan.inputs();
    let mut changed = false;
    let mut new_inputs = Vec::with_capacity(inputs.len());
    for input in inputs {
        match rewrite(input).await? {
            Some(new) => {
                changed = true;
                new_inputs.push(new);
            }
            None => new_inputs.push(input.clone()),
        }
    }
    match changed {
        true => Ok(Some(plan.with_new_exprs(plan.expressions(), new_inputs)?)),
        false => Ok(None),
    }
}
