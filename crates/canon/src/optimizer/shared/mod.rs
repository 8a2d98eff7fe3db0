//! Shared subplans: an aggregate that a query computes more than once, identically, is
//! computed once and read by every place that needs it.
//!
//! TPC-H q15 names its revenue view once and reads it twice, for the suppliers and for
//! the maximum revenue; DataFusion inlines a common table expression at each reference,
//! so it scans and aggregates three months of lineitem twice. Canon's query planner
//! finds the aggregates that occur more than once in the optimized plan (its scalar
//! subqueries included), wraps each occurrence in one [`SharedNode`] that refers to one
//! [`SharedResult`], and plans them with DataFusion's own physical planner. The first
//! reader to run computes the rows (in a task of their own, so no reader waits on
//! another's polling) and every reader replays them.
//!
//! Only aggregates, and window functions over them, are shared: their results are usually
//! small next to their input, and what they cost is the input. (TPC-DS q47 ranks a
//! monthly aggregate and joins it with itself twice; the ranking, a sort of every group,
//! is computed once too.) A subtree with a volatile expression or an outer
//! reference is not shared (each evaluation may differ), nor is anything in a plan with
//! a recursive query (its work table changes between iterations).
//!
//! Layers: a logical node and the rewrite that places it (here), its physical plan
//! ([`exec`]).

mod exec;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchemaRef, Result, internal_err};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

pub use exec::{SharedExec, SharedResult};

use super::join_order::JoinOrderPlanner;

/// The query planner of sessions that run on one node: DataFusion's own physical planner,
/// after the plan is shaped by cost ([`super::plan_by_cost`], once for a
/// [`super::ShapeKeptNode`]) and repeated aggregates are marked to be computed once; the
/// filters of the plan it returns test their conditions as [`super::Conjunction`]s.
pub struct SharingPlanner {
    planner: DefaultPhysicalPlanner,
}

impl SharingPlanner {
    /// DataFusion's physical planner, able to plan shared subplans.
    pub fn new() -> Self {
        Self::with_planners(Vec::new())
    }

    /// DataFusion's physical planner, able to plan shared subplans and what `planners`
    /// plan.
    pub fn with_planners(mut planners: Vec<Arc<dyn ExtensionPlanner + Send + Sync>>) -> Self {
        planners.insert(0, Arc::new(SharedPlanner));
        planners.insert(1, Arc::new(JoinOrderPlanner));
        Self {
            planner: DefaultPhysicalPlanner::with_extension_planners(planners),
        }
    }
}

impl Default for SharingPlanner {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SharingPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharingPlanner")
    }
}

#[async_trait]
impl QueryPlanner for SharingPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let ordered = super::kept::plan_by_cost_kept(plan, &self.planner, session).await?;
        let plan = share_repeated(ordered.unwrap_or_else(|| plan.clone()))?;
        let physical = self.planner.create_physical_plan(&plan, session).await?;
        super::ConjunctionFilters.optimize(physical, session.config_options())
    }
}

/// Wraps every maximal aggregate, or window over one, that occurs more than once in `plan`
/// (scalar subqueries included) in a [`SharedNode`], one [`SharedResult`] per distinct
/// subplan.
pub fn share_repeated(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut counts: HashMap<LogicalPlan, usize> = HashMap::new();
    let mut recursive = false;
    count(&plan, &mut counts, &mut recursive)?;
    counts.retain(|_, n| *n > 1);
    if recursive || counts.is_empty() {
        return Ok(plan);
    }
    counts.retain(|aggregate, _| is_deterministic(aggregate));
    // A window read fewer times than an aggregate in it would compute that aggregate
    // again beside the shared window: share the aggregate alone then.
    let computed_again: Vec<LogicalPlan> = counts
        .iter()
        .filter(|(node, n)| {
            matches!(node, LogicalPlan::Window(_))
                && node
                    .exists(|inner| Ok(counts.get(inner).is_some_and(|m| m > n)))
                    .unwrap_or(true)
        })
        .map(|(node, _)| node.clone())
        .collect();
    for window in &computed_again {
        counts.remove(window);
    }
    let mut results: HashMap<LogicalPlan, Arc<SharedResult>> = HashMap::new();
    let mut next = 0;
    plan.transform_down_with_subqueries(|node| {
        if !counts.contains_key(&node) {
            return Ok(Transformed::no(node));
        }
        let result = results.entry(node.clone()).or_insert_with(|| {
            next += 1;
            Arc::new(SharedResult::new(next))
        });
        let shared = SharedNode::new(node, Arc::clone(result));
        let wrapped = LogicalPlan::Extension(Extension {
            node: Arc::new(shared),
        });
        // Everything below is computed once already.
        Ok(Transformed::new(wrapped, true, TreeNodeRecursion::Jump))
    })
    .map(|t| t.data)
}

/// Counts the aggregates of `plan` and its subqueries, and the windows over them. Sets
/// `recursive` on a recursive query.
fn count(
    plan: &LogicalPlan,
    counts: &mut HashMap<LogicalPlan, usize>,
    recursive: &mut bool,
) -> Result<()> {
    match plan {
        LogicalPlan::RecursiveQuery(_) => {
            *recursive = true;
            return Ok(());
        }
        LogicalPlan::Extension(e) if e.node.as_any().is::<SharedNode>() => return Ok(()),
        LogicalPlan::Aggregate(_) => *counts.entry(plan.clone()).or_default() += 1,
        LogicalPlan::Window(_) if over_aggregate(plan) => {
            *counts.entry(plan.clone()).or_default() += 1
        }
        _ => {}
    }
    for input in plan.inputs() {
        count(input, counts, recursive)?;
    }
    plan.apply_subqueries(|subquery| {
        count(subquery, counts, recursive)?;
        Ok(TreeNodeRecursion::Jump)
    })?;
    Ok(())
}

/// Whether `window` computes over an aggregate's rows, which are few next to what the
/// aggregate reads.
fn over_aggregate(window: &LogicalPlan) -> bool {
    window
        .exists(|node| Ok(matches!(node, LogicalPlan::Aggregate(_))))
        .unwrap_or(false)
}

/// Whether every evaluation of `plan` gives the same rows: no volatile expression and no
/// reference to an outer query anywhere in it.
fn is_deterministic(plan: &LogicalPlan) -> bool {
    let varies = |e: &Expr| e.is_volatile() || e.contains_outer();
    !plan
        .exists(|node| Ok(node.expressions().iter().any(varies)))
        .unwrap_or(true)
}

/// One occurrence of a subplan whose rows are computed once for all its occurrences.
#[derive(Debug, Clone)]
pub struct SharedNode {
    input: LogicalPlan,
    result: Arc<SharedResult>,
}

impl SharedNode {
    /// `input`, whose rows `result` holds once computed.
    pub fn new(input: LogicalPlan, result: Arc<SharedResult>) -> Self {
        Self { input, result }
    }
}

impl PartialEq for SharedNode {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.result, &other.result) && self.input == other.input
    }
}

impl Eq for SharedNode {}

impl Hash for SharedNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.result.id().hash(state);
        self.input.hash(state);
    }
}

impl PartialOrd for SharedNode {
    /// Occurrences of one shared result order as their inputs do; others do not compare.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        if Arc::ptr_eq(&self.result, &other.result) {
            self.input.partial_cmp(&other.input)
        } else {
            None
        }
    }
}

impl UserDefinedLogicalNodeCore for SharedNode {
    fn name(&self) -> &str {
        "CanonShared"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CanonShared: result={}", self.result.id())
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let input = super::node::one_input(UserDefinedLogicalNodeCore::name(self), exprs, inputs)?;
        Ok(Self::new(input, Arc::clone(&self.result)))
    }
}

/// Plans a [`SharedNode`] as a [`SharedExec`] over its planned input.
struct SharedPlanner;

#[async_trait]
impl ExtensionPlanner for SharedPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(shared) = node.as_any().downcast_ref::<SharedNode>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return internal_err!("CanonShared takes one input");
        };
        Ok(Some(Arc::new(SharedExec::new(
            Arc::clone(input),
            Arc::clone(&shared.result),
        ))))
    }
}
