//! One hash table for a join, or both sides repartitioned, chosen by both sides.
//!
//! DataFusion's join selection builds one hash table for all partitions from a side it
//! estimates under a threshold, and repartitions both sides otherwise: it looks at the
//! build side alone. Canon's sessions raise the threshold to 16 MiB (see `profile`),
//! because after the join order the selective joins come first and DataFusion overrates
//! the sides above them. Two cases go wrong either way:
//!
//! - The other side is about as large. One thread builds the whole table, and every
//!   partition probes a table too large for its cache, where repartitioning both sides
//!   would have split the work: TPC-DS q95 meets all 719 K web sales with all of them
//!   again, by order number, and ran 0.85× the plain session's speed. A build side that
//!   only Canon's raised threshold admitted, whose row count is known rather than guessed,
//!   is repartitioned unless the other side is estimated at [`PROBE_TO_BUILD`] times its
//!   rows. Guessed sizes are left to the threshold: a filter DataFusion cannot estimate is
//!   rated a fifth of its table, and q26's demographics, 27 K rows rated 384 K, are still
//!   best built as one table.
//! - The other side is far larger. Repartitioning it costs more than one thread building
//!   the smaller side: TPC-H q5 at SF 10 repartitioned 60 M lines to meet 457 K orders of
//!   Asia's customers. A build side estimated at up to [`MAX_ONE_TABLE_ROWS`] rows, whose
//!   other side holds [`PROBE_TO_ONE_TABLE`] times as many, is built as one table. The
//!   rule runs before a reordered region's estimates are forgotten, so it reads them.
//!
//! A third case is one table that only the raised threshold admitted, under a partial
//! aggregate grouped by the join's key. Repartitioned sides leave the join's rows
//! partitioned by that key, so DataFusion finishes the aggregate in each partition; one
//! table leaves them in any partition, so every partition's partial aggregate holds nearly
//! every key and all of them cross a repartition to be finished. TPC-H q13 counts the
//! orders of each of 150 K customers, left-joined as one table of 1.2 MB: 0.92–0.95× the
//! plain session's speed, which repartitions both sides. There the join is repartitioned,
//! as DataFusion would have it, unless the other side is [`PROBE_TO_ONE_TABLE`] times the
//! larger.

use std::sync::{Arc, LazyLock};

use datafusion::common::JoinType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

use super::node::passed_column;

/// The fewest rows a build side must hold to be repartitioned: a table of a hundred
/// thousand rows is built by one thread about as fast as repartitioning costs (TPC-H q5
/// meets 150 K customers with 228 K orders, 4 % faster as one table).
pub const MIN_PARTITIONED_BUILD: usize = 256 * 1024;

/// How many times the build side's rows the other side must be estimated at for one hash
/// table to pay: below it, repartitioning both sides splits the build and keeps each
/// partition's table small. TPC-DS q64 meets 287 K store returns with 2.9 M store sales
/// (10×), where one table is faster; q95 meets 719 K rows with as many (1×), where it is not.
pub const PROBE_TO_BUILD: usize = 4;

/// Beyond this many estimated rows a build side is not made one table, whatever the side
/// it meets: a single thread builds it, and an estimate this far off DataFusion's own
/// threshold (128 K rows) may be far off the rows too.
pub const MAX_ONE_TABLE_ROWS: usize = 4 * 1024 * 1024;

/// How many times its estimated rows the other side must hold for a build side that
/// DataFusion repartitions to be built as one table instead: the repartition of a side
/// that large costs more than one thread building the smaller. TPC-H q5 at SF 10 meets
/// 457 K orders of Asia's customers, estimated too large for one table, with 60 M lines.
pub const PROBE_TO_ONE_TABLE: usize = 16;

/// DataFusion's own threshold for one hash table, read once: a side under it is built as
/// one table whatever the other side, as in a plain session.
static PLAIN_THRESHOLD: LazyLock<usize> = LazyLock::new(|| {
    ConfigOptions::default()
        .optimizer
        .hash_join_single_partition_threshold
});

/// Chooses between one hash table and repartitioned sides by both sides of a join, where
/// DataFusion's join selection looked at the build side alone (see the module
/// documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct BuildBySides;

impl PhysicalOptimizerRule for BuildBySides {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plain = *PLAIN_THRESHOLD;
        let raised = config.optimizer.hash_join_single_partition_threshold > plain;
        let partitions = config.execution.target_partitions;
        if partitions < 2 || !config.optimizer.join_reordering {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            if let Some(aggregate) = node.downcast_ref::<AggregateExec>() {
                // Groups are finished in place only where DataFusion repartitions both
                // joins and aggregates.
                let repartitions =
                    config.optimizer.repartition_joins && config.optimizer.repartition_aggregations;
                let keyed = (raised && repartitions)
                    .then(|| keyed_below(aggregate, plain))
                    .flatten();
                return Ok(match keyed {
                    Some(input) => {
                        Transformed::yes(replace_children_if_necessary(node, vec![input?])?)
                    }
                    None => Transformed::no(node),
                });
            }
            // A null-aware anti join needs the whole build side in every partition.
            let Some(join) = node
                .downcast_ref::<HashJoinExec>()
                .filter(|join| !join.null_aware)
            else {
                return Ok(Transformed::no(node));
            };
            let mode = match join.partition_mode() {
                PartitionMode::CollectLeft if raised && alike(join, plain) => {
                    PartitionMode::Partitioned
                }
                PartitionMode::Partitioned if much_smaller(join) => PartitionMode::CollectLeft,
                _ => return Ok(Transformed::no(node)),
            };
            Ok(Transformed::yes(in_mode(join, mode)?))
        })
        .data()
    }

    fn name(&self) -> &str {
        "canon_build_by_sides"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The input of `aggregate` with the join below it repartitioned, when `aggregate` is a
/// partial aggregate grouped by the key of a join (through projections) that is one table
/// of at least `plain` bytes whose other side is not [`PROBE_TO_ONE_TABLE`] times as large
/// (see the module documentation).
fn keyed_below(aggregate: &AggregateExec, plain: usize) -> Option<Result<Arc<dyn ExecutionPlan>>> {
    if *aggregate.mode() != AggregateMode::Partial || aggregate.group_expr().has_grouping_set() {
        return None;
    }
    let columns = aggregate
        .group_expr()
        .expr()
        .iter()
        .map(|(expr, _)| expr.downcast_ref::<Column>().map(Column::index))
        .collect::<Option<Vec<_>>>()?;
    repartitioned(aggregate.input(), columns, plain)
}

/// `plan` with the join it passes on (through projections) repartitioned, when that join
/// is keyed on exactly its output columns `columns` and qualifies (see [`keyed_below`]).
fn repartitioned(
    plan: &Arc<dyn ExecutionPlan>,
    columns: Vec<usize>,
    plain: usize,
) -> Option<Result<Arc<dyn ExecutionPlan>>> {
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let below = columns
            .iter()
            .map(|&i| passed_column(projection, i))
            .collect::<Option<Vec<_>>>()?;
        let input = repartitioned(projection.input(), below, plain)?;
        return Some(
            input.and_then(|input| replace_children_if_necessary(Arc::clone(plan), vec![input])),
        );
    }
    let join = plan.downcast_ref::<HashJoinExec>()?;
    let qualifies = *join.partition_mode() == PartitionMode::CollectLeft
        && !join.null_aware
        && matches!(join.join_type(), JoinType::Inner | JoinType::Left)
        && keyed_on(join, &columns)
        && built_large(join, plain)
        && !much_smaller(join);
    qualifies.then(|| in_mode(join, PartitionMode::Partitioned))
}

/// `join` as it is but for its partition mode.
fn in_mode(join: &HashJoinExec, mode: PartitionMode) -> Result<Arc<dyn ExecutionPlan>> {
    let chosen = join.builder().with_partition_mode(mode).build()?;
    Ok(Arc::new(chosen))
}

/// Whether `columns` of `join`'s output are its key on one side, in the order of its
/// conditions: the hash partitioning repartitioned sides leave it with, which DataFusion
/// matches to an aggregate's grouping in order.
fn keyed_on(join: &HashJoinExec, columns: &[usize]) -> bool {
    let Some(columns) = columns
        .iter()
        .map(|&i| match &join.projection {
            Some(projection) => projection.get(i).copied(),
            None => Some(i),
        })
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let left_len = join.left().schema().fields().len();
    let keys = |right: bool| {
        join.on()
            .iter()
            .map(|(left, other)| {
                let (expr, offset) = if right { (other, left_len) } else { (left, 0) };
                expr.downcast_ref::<Column>()?.index().checked_add(offset)
            })
            .collect::<Option<Vec<_>>>()
    };
    // An inner join's output is partitioned alike by either side's key, a left join's by
    // the left side's alone: its unmatched rows carry no right key.
    !columns.is_empty()
        && (keys(false).as_ref() == Some(&columns)
            || (*join.join_type() == JoinType::Inner && keys(true).as_ref() == Some(&columns)))
}

/// Whether `join`'s build side is estimated at `plain` bytes or more: only Canon's raised
/// threshold made it one table.
fn built_large(join: &HashJoinExec, plain: usize) -> bool {
    statistics(join.left()).is_some_and(|build| large(&build, plain))
}

/// Whether a side of `stats` is estimated at `plain` bytes or more.
fn large(stats: &datafusion::common::Statistics, plain: usize) -> bool {
    stats
        .total_byte_size
        .get_value()
        .is_some_and(|&bytes| bytes >= plain)
}

/// The statistics of `plan` as DataFusion's join selection reads them.
fn statistics(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<datafusion::common::Statistics>> {
    StatisticsContext::new()
        .compute(plan.as_ref(), &StatisticsArgs::new())
        .ok()
}

/// Whether `join`'s build side holds a known number of rows, at least
/// [`MIN_PARTITIONED_BUILD`] and more than DataFusion's own threshold of `plain` bytes, and
/// its other side is estimated under [`PROBE_TO_BUILD`] times that.
fn alike(join: &HashJoinExec, plain: usize) -> bool {
    let (Some(build), Some(probe)) = (statistics(join.left()), statistics(join.right())) else {
        return false;
    };
    let Precision::Exact(build_rows) = build.num_rows else {
        return false;
    };
    let Some(&probe_rows) = probe.num_rows.get_value() else {
        return false;
    };
    large(&build, plain)
        && build_rows >= MIN_PARTITIONED_BUILD
        && probe_rows < build_rows.saturating_mul(PROBE_TO_BUILD)
}

/// Whether `join`'s build side is estimated at no more than [`MAX_ONE_TABLE_ROWS`] rows
/// and its other side at [`PROBE_TO_ONE_TABLE`] times as many or more.
fn much_smaller(join: &HashJoinExec) -> bool {
    let (Some(build), Some(probe)) = (statistics(join.left()), statistics(join.right())) else {
        return false;
    };
    let (Some(&build_rows), Some(&probe_rows)) =
        (build.num_rows.get_value(), probe.num_rows.get_value())
    else {
        return false;
    };
    build_rows <= MAX_ONE_TABLE_ROWS && probe_rows >= build_rows.saturating_mul(PROBE_TO_ONE_TABLE)
}
