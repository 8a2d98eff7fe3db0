//! One hash table for a whole join only where the side it meets is much larger.
//!
//! Canon's sessions let DataFusion build one hash table for all partitions from a side of
//! up to 16 MiB (see `profile`), because after the join order the selective joins come
//! first and DataFusion overrates the sides above them. But DataFusion decides from the
//! build side alone: when the other side is about as large, one thread builds the whole
//! table and every partition probes a table too large for its cache, where repartitioning
//! both sides would have split the work. TPC-DS q95 meets all 719 K web sales with all 719 K
//! again, by order number: built as one table it ran 0.85× the plain session's speed.
//!
//! So a join whose build side only Canon's larger threshold admitted, and whose row count
//! is known rather than guessed, is repartitioned unless the side it meets is estimated at
//! least [`PROBE_TO_BUILD`] times larger. Guessed sizes are left to the threshold: a filter
//! DataFusion cannot estimate is rated a fifth of its table, and q26's demographics, 27 K
//! rows rated 384 K, are still best built as one table.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

/// The fewest rows a build side must hold to be repartitioned: a table of a hundred
/// thousand rows is built by one thread about as fast as repartitioning costs (TPC-H q5
/// meets 150 K customers with 228 K orders, 4 % faster as one table).
pub const MIN_PARTITIONED_BUILD: usize = 256 * 1024;

/// How many times the build side's rows the other side must be estimated at for one hash
/// table to pay: below it, repartitioning both sides splits the build and keeps each
/// partition's table small. TPC-DS q64 meets 287 K store returns with 2.9 M store sales
/// (10×), where one table is faster; q95 meets 719 K rows with as many (1×), where it is not.
pub const PROBE_TO_BUILD: usize = 4;

/// Repartitions both sides of a join built as one table, where the build side is large
/// and not much smaller than the side it meets (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct PartitionedWhereAlike;

impl PhysicalOptimizerRule for PartitionedWhereAlike {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // DataFusion's own threshold: a side under it is built as one table whatever the
        // other side, as in a plain session.
        let plain = ConfigOptions::default()
            .optimizer
            .hash_join_single_partition_threshold;
        let raised = config.optimizer.hash_join_single_partition_threshold;
        let partitions = config.execution.target_partitions;
        if raised <= plain || partitions < 2 || !config.optimizer.join_reordering {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if *join.partition_mode() != PartitionMode::CollectLeft
                || join.null_aware
                || !alike(join, plain)
            {
                return Ok(Transformed::no(node));
            }
            let partitioned = join
                .builder()
                .with_partition_mode(PartitionMode::Partitioned)
                .build()?;
            Ok(Transformed::yes(Arc::new(partitioned) as _))
        })
        .data()
    }

    fn name(&self) -> &str {
        "canon_partitioned_where_alike"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether `join`'s build side holds a known number of rows, at least
/// [`MIN_PARTITIONED_BUILD`] and more than DataFusion's own threshold of `plain` bytes, and
/// its other side is estimated under [`PROBE_TO_BUILD`]
/// times that.
fn alike(join: &HashJoinExec, plain: usize) -> bool {
    let statistics = |plan: &Arc<dyn ExecutionPlan>| {
        StatisticsContext::new()
            .compute(plan.as_ref(), &StatisticsArgs::new())
            .ok()
    };
    let (Some(build), Some(probe)) = (statistics(join.left()), statistics(join.right())) else {
        return false;
    };
    let Precision::Exact(build_rows) = build.num_rows else {
        return false;
    };
    let large = match build.total_byte_size.get_value() {
        Some(&bytes) => bytes >= plain,
        None => false,
    };
    let Some(&probe_rows) = probe.num_rows.get_value() else {
        return false;
    };
    large
        && build_rows >= MIN_PARTITIONED_BUILD
        && probe_rows < build_rows.saturating_mul(PROBE_TO_BUILD)
}
