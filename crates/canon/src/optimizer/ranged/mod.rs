//! Grouped aggregates finished within their partitions, where the partitions read disjoint
//! ranges of the group key.
//!
//! With a declared `ordered_by`, DataFusion aggregates each partition of a sorted scan as
//! it streams, then hash-repartitions the partial rows to finish them. Grouped by the sort
//! key itself, the partial aggregate hardly reduces anything: TPC-H q18 sums the quantity
//! of each order's lines, and at SF 1 its 1.5 M partial rows, one per order, cross a
//! repartition into hash tables of half a million groups each, 240 ms of work in a query
//! of 280 ms. Yet the partitions of one sorted file read consecutive byte ranges of it, so
//! a key is in two partitions only where one ends and the next begins; the same holds for
//! whole files whose ranges of the key meet at most at their ends by their statistics.
//! There the rule finishes each partition's groups in that partition, streaming in key
//! order, and gathers only each partition's first and last group, the keys another
//! partition may share, to finish them once every partition has ended (see
//! [`RangedFinalExec`]).
//!
//! Layers: the rule (this module) reads the plan and the scan's files; [`exec`] runs.

mod exec;

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, InputOrderMode, Partitioning};

pub use exec::RangedFinalExec;

/// Finishes grouped aggregates within their partitions where the partitions read disjoint
/// ranges of the group key (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct RangedFinalAggregates;

impl PhysicalOptimizerRule for RangedFinalAggregates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let stealing = config.execution.enable_file_stream_work_stealing;
        let rewritten = Arc::clone(&plan).transform_up(|node| {
            Ok(match ranged(node.as_ref(), stealing)? {
                Some(ranged) => Transformed::yes(ranged),
                None => Transformed::no(node),
            })
        })?;
        // The finished groups are no longer hash-partitioned: where an operator above
        // needs them to be (a partitioned join on the key), the plan stays as it was.
        Ok(super::node::sane_or(plan, rewritten, config))
    }

    fn name(&self) -> &str {
        "canon_ranged_final_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` finished within the partitions of its partial aggregate, when it is the final
/// half of an aggregate grouped by one column whose partial half streams over partitions
/// that read disjoint ranges of that column. `stealing`: whether a scan's partitions may
/// take files from each other as they run (DataFusion's
/// `enable_file_stream_work_stealing`).
fn ranged(node: &dyn ExecutionPlan, stealing: bool) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(last) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let Some(repartition) = last.input().downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let Some(first) = repartition.input().downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let qualifies = *last.mode() == AggregateMode::FinalPartitioned
        && last.limit_options().is_none()
        && matches!(repartition.partitioning(), Partitioning::Hash(..))
        && !repartition.preserve_order()
        && *first.mode() == AggregateMode::Partial
        && *first.input_order_mode() == InputOrderMode::Sorted
        && first.group_expr().is_single();
    let [(key, _)] = first.group_expr().expr() else {
        return Ok(None);
    };
    let Some(key) = key.downcast_ref::<Column>() else {
        return Ok(None);
    };
    // Runs of equal keys are found by comparing values, which nested types do not allow.
    let flat = !key.data_type(&first.input().schema())?.is_nested();
    if !qualifies || !flat || !disjoint(first.input().as_ref(), key.index(), stealing) {
        return Ok(None);
    }
    let input = Arc::clone(repartition.input());
    Ok(Some(Arc::new(RangedFinalExec::try_new(input, last)?)))
}

/// Whether no value of column `index` of `plan`'s output is in two of its partitions
/// but where one partition's range of it ends and another's begins: `plan` passes on the
/// partitions of a scan of files (through projections and filters) whose partitions are
/// byte ranges of one file, or files whose ranges of the column meet at most at their
/// ends by their statistics, and keep their files while they run.
fn disjoint(plan: &dyn ExecutionPlan, index: usize, stealing: bool) -> bool {
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let Some(expr) = projection.projection_expr().iter().nth(index) else {
            return false;
        };
        return match expr.expr.downcast_ref::<Column>() {
            Some(column) => disjoint(projection.input().as_ref(), column.index(), stealing),
            None => false,
        };
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        let index = match filter.projection() {
            Some(projection) => match projection.get(index) {
                Some(&index) => index,
                None => return false,
            },
            None => index,
        };
        return disjoint(filter.input().as_ref(), index, stealing);
    }
    let Some(scan) = plan.downcast_ref::<DataSourceExec>() else {
        return false;
    };
    let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() else {
        return false;
    };
    let keeps_files = config.preserve_order || config.output_partitioning.is_some() || !stealing;
    let Some(column) = file_column(config, index) else {
        return false;
    };
    let pieces: Vec<&[PartitionedFile]> = config.file_groups.iter().map(|g| g.files()).collect();
    keeps_files && (ranges_of_one_file(&pieces) || files_apart(&pieces, column))
}

/// The file column that column `index` of the scan's output reads as it is, or `None`
/// when that column is computed or is a partition value.
fn file_column(config: &FileScanConfig, index: usize) -> Option<usize> {
    let column = match config.file_source().projection() {
        Some(projection) => {
            let expr = &projection.iter().nth(index)?.expr;
            expr.downcast_ref::<Column>()?.index()
        }
        None => index,
    };
    (column < config.file_schema().fields().len()).then_some(column)
}

/// Whether each partition reads one byte range of the same file, and no two ranges
/// overlap: the file is sorted, so consecutive ranges hold consecutive keys.
fn ranges_of_one_file(partitions: &[&[PartitionedFile]]) -> bool {
    let mut location = None;
    let mut ranges = Vec::with_capacity(partitions.len());
    let one_file = partitions.iter().all(|files| match files {
        [file] => {
            let here = &file.object_meta.location;
            ranges.extend(file.range.as_ref().map(|r| (r.start, r.end)));
            *location.get_or_insert(here) == here
        }
        _ => false,
    });
    ranges.sort_unstable();
    one_file
        && ranges.len() == partitions.len()
        && ranges.windows(2).all(|pair| pair[0].1 <= pair[1].0)
}

/// Whether each partition reads whole files that hold no nulls in `column`, and the
/// partitions' ranges of it (from the files' statistics) meet at most at their ends.
fn files_apart(partitions: &[&[PartitionedFile]], column: usize) -> bool {
    let mut ranges: Vec<(ScalarValue, ScalarValue)> = Vec::with_capacity(partitions.len());
    for files in partitions {
        let mut range: Option<(ScalarValue, ScalarValue)> = None;
        for file in *files {
            let Some((min, max)) = whole_file_range(file, column) else {
                return false;
            };
            range = Some(match range {
                None => (min, max),
                Some((low, high)) => {
                    let (Some(below), Some(above)) =
                        (min.partial_cmp(&low), max.partial_cmp(&high))
                    else {
                        return false;
                    };
                    (
                        if below.is_lt() { min } else { low },
                        if above.is_gt() { max } else { high },
                    )
                }
            });
        }
        ranges.extend(range);
    }
    ranges.iter().enumerate().all(|(i, (low, high))| {
        ranges[i + 1..]
            .iter()
            .all(|(other_low, other_high)| high <= other_low || other_high <= low)
    })
}

/// The exact minimum and maximum of `column` in `file`, when it is read whole and its
/// statistics tell them and that the column holds no nulls.
fn whole_file_range(file: &PartitionedFile, column: usize) -> Option<(ScalarValue, ScalarValue)> {
    if file.range.is_some() {
        return None;
    }
    let stats = file.statistics.as_ref()?.column_statistics.get(column)?;
    match (&stats.min_value, &stats.max_value, &stats.null_count) {
        (Precision::Exact(min), Precision::Exact(max), Precision::Exact(0))
            if !min.is_null() && !max.is_null() && min <= max =>
        {
            Some((min.clone(), max.clone()))
        }
        _ => None,
    }
}
