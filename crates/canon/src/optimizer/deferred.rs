//! Build sides read when their join first asks for them.
//!
//! A join that builds one table for all its partitions (a hash join in `CollectLeft` mode,
//! a nested-loop or cross join) executes its build side as soon as the plan is executed,
//! and the `CoalescePartitionsExec` that gathers that side starts a task per input
//! partition right then. When a join above ends without reading this join's rows, because
//! its own build side came back empty, those tasks have scanned and filtered their table
//! for nothing. TPC-DS q27 at SF 1 lists six states no store is in; Canon builds the
//! customer demographics as one table under the stores' join and read 1.9 M of them per
//! run (0.8× the plain session's speed, whose repartitioned join starts only when polled).
//! The rule wraps each such build side in a [`DeferredExec`], which executes its input on
//! the first poll of its stream: a join polls its build side before anything else, so
//! every build that is needed still starts first. The builds of a chain of such joins now
//! run one after another rather than together; on local files the two cores are busy
//! either way, over an object store each build's first request waits in turn.

use std::fmt;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, Statistics};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PartitionMode,
};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};
use futures::{StreamExt, TryStreamExt, stream};

/// Defers the execution of each join's gathered build side to the first poll of its
/// stream (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct DeferredBuilds;

impl PhysicalOptimizerRule for DeferredBuilds {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(build) = gathered_build_side(node.as_ref()) else {
                return Ok(Transformed::no(node));
            };
            let mut children: Vec<Arc<dyn ExecutionPlan>> =
                node.children().into_iter().cloned().collect();
            children[0] = Arc::new(DeferredExec::new(build));
            Ok(Transformed::yes(replace_children_if_necessary(
                node, children,
            )?))
        })
        .data()
    }

    fn name(&self) -> &str {
        "canon_deferred_builds"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The build side of a join that collects it whole at `execute()`, when gathering it
/// starts tasks there: a `CoalescePartitionsExec` on the left of a single-table hash join,
/// a nested-loop join or a cross join.
fn gathered_build_side(node: &dyn ExecutionPlan) -> Option<Arc<dyn ExecutionPlan>> {
    let collects_left = match node.downcast_ref::<HashJoinExec>() {
        Some(join) => *join.partition_mode() == PartitionMode::CollectLeft,
        None => node.is::<NestedLoopJoinExec>() || node.is::<CrossJoinExec>(),
    };
    let left = node.children().first().copied().cloned()?;
    (collects_left && left.is::<CoalescePartitionsExec>()).then_some(left)
}

/// Executes its input when its stream is first polled rather than when it is executed.
#[derive(Debug)]
pub struct DeferredExec {
    input: Arc<dyn ExecutionPlan>,
}

impl DeferredExec {
    /// `input`, executed on its stream's first poll.
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Self { input }
    }
}

impl DisplayAs for DeferredExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CanonDeferred")
    }
}

impl ExecutionPlan for DeferredExec {
    fn name(&self) -> &str {
        "CanonDeferred"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        // The input's, shared, so that the join above keeps its own; that they call the
        // gathering eager no longer matters once the rule runs, after DataFusion's.
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = crate::optimizer::node::one_child("CanonDeferred", children)?;
        Ok(Arc::new(Self::new(input)))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(match input_stats.first() {
            Some(input) => Arc::clone(input),
            None => Arc::new(Statistics::new_unknown(&self.schema())),
        })
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = Arc::clone(&self.input);
        let started = stream::once(async move { input.execute(partition, context) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            started.try_flatten().boxed(),
        )))
    }
}
