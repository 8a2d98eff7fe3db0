//! Hash repartitions that do not merge: DataFusion makes a repartition order-preserving
//! whenever its input is sorted and an aggregate above could stream on that order, which
//! a declared `ordered_by` makes common. Merging the sorted inputs of every output
//! partition costs more than hashing saves while the data is small (apache/datafusion#23338;
//! TPC-H q3 at SF 1 takes 1.7× the time of the same plan without the order), and pays
//! only once an aggregate's groups would not fit in memory.
//!
//! So the rule turns order-preserving hash repartitions back into plain ones when the
//! input is known to be small, and keeps the plan as it was unless every operator's
//! ordering requirement still holds (DataFusion's own sanity check decides).

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::sanity_checker::SanityCheckPlan;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{ExecutionPlan, Partitioning};

/// Above this many input rows (or when the count is unknown) a repartition keeps the
/// order: a streaming aggregate then bounds memory. TPC-H's lineitem holds 6 M rows at
/// SF 1, where hashing wins, and 60 M at SF 10, where the order pays.
pub const MAX_UNORDERED_ROWS: usize = 16_000_000;

/// Makes small order-preserving hash repartitions plain ones, where nothing needs the order.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnorderedRepartitions;

impl PhysicalOptimizerRule for UnorderedRepartitions {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rewritten = Arc::clone(&plan).transform_up(|node| {
            let Some(repartition) = node.downcast_ref::<RepartitionExec>() else {
                return Ok(Transformed::no(node));
            };
            let hashed = matches!(repartition.partitioning(), Partitioning::Hash(..));
            if !repartition.preserve_order() || !hashed || !is_small(repartition.input())? {
                return Ok(Transformed::no(node));
            }
            let plain = RepartitionExec::try_new(
                Arc::clone(repartition.input()),
                repartition.partitioning().clone(),
            )?;
            Ok(Transformed::yes(Arc::new(plain) as Arc<dyn ExecutionPlan>))
        })?;
        if !rewritten.transformed {
            return Ok(plan);
        }
        // The parents were rebuilt on unordered inputs (an aggregate recomputes its mode);
        // anything that still requires the order keeps the original plan.
        match SanityCheckPlan::new().optimize(Arc::clone(&rewritten.data), config) {
            Ok(_) => Ok(rewritten.data),
            Err(_) => Ok(plan),
        }
    }

    fn name(&self) -> &str {
        "canon_unordered_repartitions"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether the input is known to hold at most [`MAX_UNORDERED_ROWS`] rows.
fn is_small(input: &Arc<dyn ExecutionPlan>) -> Result<bool> {
    Ok(row_bound(input).is_some_and(|rows| rows <= MAX_UNORDERED_ROWS))
}

/// An upper bound of a plan's rows: its own statistics' count, or through operators that
/// never add rows (aggregates, filters, projections, repartitions), its input's. Joins and
/// anything else give no bound.
fn row_bound(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    let statistics = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new());
    let counted = statistics.ok().and_then(|s| match s.num_rows {
        Precision::Exact(n) | Precision::Inexact(n) => Some(n),
        Precision::Absent => None,
    });
    if counted.is_some() {
        return counted;
    }
    let never_adds_rows = plan.is::<AggregateExec>()
        || plan.is::<FilterExec>()
        || plan.is::<ProjectionExec>()
        || plan.is::<RepartitionExec>()
        || plan.is::<CoalescePartitionsExec>();
    match plan.children().as_slice() {
        [child] if never_adds_rows => row_bound(child),
        _ => None,
    }
}
