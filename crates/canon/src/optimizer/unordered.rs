//! Hash repartitions that do not merge: DataFusion makes a repartition order-preserving
//! whenever its input is sorted and an aggregate above could stream on that order, which
//! a declared `ordered_by` makes common. Merging the sorted inputs of every output
//! partition costs more than hashing saves (apache/datafusion#23338; TPC-H q3 at SF 1 takes
//! 1.7× the time of the same plan without the order, 2.4× at SF 10). What the order buys
//! is memory: a streaming aggregate holds one group at a time, where a hashing one holds
//! them all, or spills them.
//!
//! So the rule turns order-preserving hash repartitions back into plain ones, and keeps the
//! plan as it was unless every operator's ordering requirement still holds (DataFusion's
//! own sanity check decides). When the runtime's memory is limited, only inputs known to be
//! small are hashed: there the bound on memory is what the profile asked for.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{ExecutionPlan, Partitioning};

/// Under a memory limit, above this many input rows (or when the count is unknown) a
/// repartition keeps the order, so that the aggregate above streams. TPC-H's lineitem
/// holds 6 M rows at SF 1, where every query completes under 256 MiB hashing.
pub const MAX_UNORDERED_ROWS: usize = 16_000_000;

/// Makes order-preserving hash repartitions plain ones, where nothing needs the order;
/// the default hashes inputs of any size.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnorderedRepartitions {
    /// The largest input hashed; `None`: any input.
    max_rows: Option<usize>,
}

impl UnorderedRepartitions {
    /// The rule for a runtime whose memory pool has `limit`: any input is hashed when
    /// memory is unbounded, only inputs of at most [`MAX_UNORDERED_ROWS`] otherwise.
    pub fn for_memory(limit: MemoryLimit) -> Self {
        let max_rows = match limit {
            MemoryLimit::Infinite => None,
            MemoryLimit::Finite(_) | MemoryLimit::Unknown => Some(MAX_UNORDERED_ROWS),
        };
        Self { max_rows }
    }

    /// Whether a repartition of `input` may hash: always without a bound, else when the
    /// input is known to hold at most that many rows.
    fn hashes(&self, input: &Arc<dyn ExecutionPlan>) -> bool {
        match self.max_rows {
            None => true,
            Some(max) => row_bound(input).is_some_and(|rows| rows <= max),
        }
    }
}

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
            if !repartition.preserve_order() || !hashed || !self.hashes(repartition.input()) {
                return Ok(Transformed::no(node));
            }
            let plain = RepartitionExec::try_new(
                Arc::clone(repartition.input()),
                repartition.partitioning().clone(),
            )?;
            Ok(Transformed::yes(Arc::new(plain) as Arc<dyn ExecutionPlan>))
        })?;
        // The parents were rebuilt on unordered inputs (an aggregate recomputes its mode);
        // anything that still requires the order keeps the original plan.
        Ok(super::node::sane_or(plan, rewritten, config))
    }

    fn name(&self) -> &str {
        "canon_unordered_repartitions"
    }

    fn schema_check(&self) -> bool {
        true
    }
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
