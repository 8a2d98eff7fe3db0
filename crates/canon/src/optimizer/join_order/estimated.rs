//! A reordered region's estimated rows, told to DataFusion's join selection and then
//! taken out of the plan.
//!
//! DataFusion estimates a join's output from its inputs' distinct counts and, where they
//! are missing, not at all; it builds one hash table for a join above a region only when
//! it knows that side to be small. TPC-H q21 without declared keys asks whether each late
//! line of Saudi suppliers' orders (about 75 K of 6 M lines) has another supplier's line:
//! with no estimate for the region below, DataFusion repartitioned all 6 M lines by order
//! to meet them. Canon's estimate of the region's rows stands in for DataFusion's while it
//! chooses how to build each join, and the node that carries it is removed right after.

use std::fmt;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::{Precision, Statistics};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, SortMergeJoinExec,
};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

/// A reordered region's joins as its order joins them, each with its estimated rows: what
/// DataFusion's join selection is told of the joins below the region's root, whose rows it
/// cannot estimate without distinct counts (TPC-DS q72 met 11.7 M rows of inventory with
/// the 65 K sales before them as if both were large, and repartitioned them all).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(super) enum JoinShape {
    /// One of the region's relations, which DataFusion estimates itself.
    Relation,
    /// Two shapes joined, and the rows the join is estimated to give.
    Join(Box<JoinShape>, Box<JoinShape>, usize),
}

/// A region's plan with Canon's estimate of its rows; runs as its input.
#[derive(Debug)]
pub struct EstimatedRowsExec {
    input: Arc<dyn ExecutionPlan>,
    rows: usize,
}

impl EstimatedRowsExec {
    /// `input`, estimated to give `rows` rows.
    pub fn new(input: Arc<dyn ExecutionPlan>, rows: usize) -> Self {
        Self { input, rows }
    }

    /// `plan`, the physical plan of a region's joins in the order `shape` describes, with
    /// each join below its root that meets a side too large to build a hash table from
    /// (by `small`, the session's thresholds) under the estimate of its rows: there,
    /// without one, DataFusion would repartition both sides. Elsewhere DataFusion's own
    /// statistics pick the build side, which Canon's estimates moved to a join's larger
    /// side as often as to its smaller one (TPC-DS q17, q30 and q66 ran 10–20 % slower).
    /// `plan` as it is when its joins are not `shape`'s.
    pub(super) fn within(
        plan: Arc<dyn ExecutionPlan>,
        shape: &JoinShape,
        small: &Small,
    ) -> Arc<dyn ExecutionPlan> {
        estimate_joins(&plan, shape, small).unwrap_or(plan)
    }
}

/// DataFusion's thresholds for building one hash table from a join's side.
#[derive(Debug, Clone, Copy)]
pub(super) struct Small {
    /// The size in bytes a side must stay under, when its statistics tell one.
    pub bytes: usize,
    /// The rows a side must stay under, when its statistics tell no size in bytes.
    pub rows: usize,
}

impl Small {
    /// The thresholds of `options`.
    pub(super) fn of(options: &ConfigOptions) -> Self {
        Self {
            bytes: options.optimizer.hash_join_single_partition_threshold,
            rows: options.optimizer.hash_join_single_partition_threshold_rows,
        }
    }

    /// Whether DataFusion's statistics of `plan` let it build one hash table from it, as
    /// its join selection decides.
    fn holds(&self, plan: &dyn ExecutionPlan) -> bool {
        let Ok(stats) = StatisticsContext::new().compute(plan, &StatisticsArgs::new()) else {
            return false;
        };
        match (
            stats.total_byte_size.get_value(),
            stats.num_rows.get_value(),
        ) {
            (Some(&bytes), _) => bytes != 0 && bytes < self.bytes,
            (None, Some(&rows)) => rows != 0 && rows < self.rows,
            (None, None) => false,
        }
    }
}

/// `plan` with the joins of `shape` below it estimated where they meet a large side (see
/// [`EstimatedRowsExec::within`]), or `None` when its joins are not `shape`'s. DataFusion
/// plans a region's rebuilt joins as they are, left side left, with projections and
/// filters between them and nothing else until its physical rules run.
fn estimate_joins(
    plan: &Arc<dyn ExecutionPlan>,
    shape: &JoinShape,
    small: &Small,
) -> Option<Arc<dyn ExecutionPlan>> {
    let JoinShape::Join(left, right, _) = shape else {
        return Some(Arc::clone(plan));
    };
    let children = plan.children();
    if passes_through(plan.as_ref()) {
        let [child] = children.as_slice() else {
            return None;
        };
        let new = estimate_joins(child, shape, small)?;
        return replace_children_if_necessary(Arc::clone(plan), vec![new]).ok();
    }
    let ([l, r], true) = (children.as_slice(), is_join(plan.as_ref())) else {
        return None;
    };
    let mut estimated = Vec::with_capacity(2);
    for (child, side, other) in [(l, left, r), (r, right, l)] {
        let inner = estimate_joins(child, side, small)?;
        estimated.push(match side.as_ref() {
            JoinShape::Join(_, _, rows) if !small.holds(other.as_ref()) => {
                Arc::new(EstimatedRowsExec::new(inner, *rows))
            }
            _ => inner,
        });
    }
    replace_children_if_necessary(Arc::clone(plan), estimated).ok()
}

/// Whether `plan` is a node the physical planner puts between a region's joins.
fn passes_through(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<ProjectionExec>() || plan.is::<FilterExec>()
}

/// Whether `plan` joins two inputs, the left one first.
fn is_join(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<HashJoinExec>()
        || plan.is::<NestedLoopJoinExec>()
        || plan.is::<CrossJoinExec>()
        || plan.is::<SortMergeJoinExec>()
}

impl DisplayAs for EstimatedRowsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CanonEstimatedRows: rows≈{}", self.rows)
    }
}

impl ExecutionPlan for EstimatedRowsExec {
    fn name(&self) -> &str {
        "CanonEstimatedRows"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
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
        let input = crate::optimizer::node::one_child("CanonEstimatedRows", children)?;
        Ok(Arc::new(Self::new(input, self.rows)))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let Some(input) = input_stats.first() else {
            return Ok(Arc::new(Statistics::new_unknown(&self.schema())));
        };
        // The estimate is the whole region's; a partition's share is not known.
        if args.partition().is_some() {
            return Ok(Arc::clone(input));
        }
        let mut stats = input.as_ref().clone();
        let rows = Precision::Inexact(self.rows);
        stats.num_rows = rows;
        // Bytes are compared before rows, and DataFusion's were counted for its own
        // estimate of the rows: without them the joins above compare rows.
        stats.total_byte_size = Precision::Absent;
        for column in &mut stats.column_statistics {
            column.byte_size = Precision::Absent;
            column.sum_value = Precision::Absent;
            column.distinct_count = column.distinct_count.to_inexact().min(&rows);
            column.null_count = column.null_count.to_inexact().min(&rows);
        }
        Ok(Arc::new(stats))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

/// Removes each [`EstimatedRowsExec`] once DataFusion's join selection has read it, so
/// that no later rule meets a node it does not know.
#[derive(Debug, Default, Clone, Copy)]
pub struct ForgetEstimates;

impl ForgetEstimates {
    /// The name of DataFusion's rule this one must follow.
    pub const AFTER: &'static str = "join_selection";
}

impl PhysicalOptimizerRule for ForgetEstimates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| match node.downcast_ref::<EstimatedRowsExec>() {
            Some(estimated) => Ok(Transformed::yes(Arc::clone(&estimated.input))),
            None => Ok(Transformed::no(node)),
        })
        .data()
    }

    fn name(&self) -> &str {
        "canon_forget_estimates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
