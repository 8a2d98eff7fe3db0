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
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

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
