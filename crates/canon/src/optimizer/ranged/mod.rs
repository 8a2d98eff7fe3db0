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
//! Without a declared order the partial half hashes its groups, and still each partition
//! of a file written in key order reads its own range of keys: the row groups' statistics
//! tell each partition's least and greatest key. Where those ranges meet at most at their
//! bounds, the rule drops both halves for one aggregate in each partition (see
//! [`RangedSingleExec`]): only the keys at a partition's bounds may be in another, and their
//! rows are summarised and finished together. TPC-H q18 over a project of columns only
//! hashes 6 M lines into 1.5 M groups, then 1.5 M partial rows again after a repartition.
//!
//! Layers: the rule (this module) reads the plan and the scan's files, through [`bounds`]
//! for the statistics; [`exec`] and [`single`] run.

mod bounds;
mod exec;
mod single;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, InputOrderMode, Partitioning};

pub use exec::RangedFinalExec;
pub use single::RangedSingleExec;

/// Finishes grouped aggregates within their partitions where the partitions read disjoint
/// ranges of the group key (see the module documentation).
#[derive(Clone, Default)]
pub struct RangedFinalAggregates {
    /// The runtime's cache of parquet footers, whose row groups' statistics tell the
    /// ranges of keys that byte ranges of a file hold.
    metadata: Option<Arc<FileMetadataCache>>,
}

impl RangedFinalAggregates {
    /// The rule reading row groups' statistics from the footers in `metadata`.
    pub fn with_metadata(metadata: Arc<FileMetadataCache>) -> Self {
        Self {
            metadata: Some(metadata),
        }
    }
}

impl std::fmt::Debug for RangedFinalAggregates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangedFinalAggregates")
            .field("metadata", &self.metadata.is_some())
            .finish()
    }
}

impl PhysicalOptimizerRule for RangedFinalAggregates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let stealing = config.execution.enable_file_stream_work_stealing;
        let metadata = self.metadata.as_deref();
        // The finished groups are no longer hash-partitioned. Where an operator above
        // needs them to be (a partitioned join on the key), they are repartitioned by
        // their key once finished: no more rows than the partial rows DataFusion
        // repartitions, and one aggregation fewer. Where an operator refuses them as its
        // input (a union that interleaves partitions hashed alike), or the plan is still
        // not sane, it stays as it was.
        let attempt = |rehashed: bool| {
            let rewritten = Arc::clone(&plan)
                .transform_up(|node| {
                    Ok(match ranged(node.as_ref(), stealing, metadata, rehashed)? {
                        Some(ranged) => Transformed::yes(ranged),
                        None => Transformed::no(node),
                    })
                })
                .ok()?;
            (rewritten.transformed && super::node::sane(&rewritten.data, config))
                .then_some(rewritten.data)
        };
        Ok(attempt(false).or_else(|| attempt(true)).unwrap_or(plan))
    }

    fn name(&self) -> &str {
        "canon_ranged_final_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` finished within the partitions of its partial aggregate, when it is the final
/// half of an aggregate grouped by one column whose partial half reads partitions that
/// hold disjoint ranges of that column: streaming, when the partial half streams in key
/// order; in one step, when `metadata`'s footers bound each partition's keys; and
/// hash-repartitioned by the key as DataFusion's final half was where `rehashed`.
/// `stealing`: whether a scan's partitions may take files from each other as they run
/// (DataFusion's `enable_file_stream_work_stealing`).
fn ranged(
    node: &dyn ExecutionPlan,
    stealing: bool,
    metadata: Option<&FileMetadataCache>,
    rehashed: bool,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
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
        && first.group_expr().is_single();
    let [(key, _)] = first.group_expr().expr() else {
        return Ok(None);
    };
    let Some(key) = key.downcast_ref::<Column>() else {
        return Ok(None);
    };
    // Runs of equal keys are found by comparing values, which nested types do not allow.
    let flat = !key.data_type(&first.input().schema())?.is_nested();
    if !qualifies || !flat {
        return Ok(None);
    }
    let Some((config, column)) = scanned(first.input().as_ref(), key.index()) else {
        return Ok(None);
    };
    let keeps_files = config.preserve_order || config.output_partitioning.is_some() || !stealing;
    if *first.input_order_mode() == InputOrderMode::Sorted {
        let pieces: Vec<&[PartitionedFile]> =
            config.file_groups.iter().map(|g| g.files()).collect();
        if !keeps_files || (!ranges_of_one_file(&pieces) && !files_apart(&pieces, column)) {
            return Ok(None);
        }
        let input = Arc::clone(repartition.input());
        let finished = Arc::new(RangedFinalExec::try_new(input, last)?);
        return rehash(finished, repartition, rehashed).map(Some);
    }
    let key_type = config.file_schema().field(column).data_type();
    let bounds = match bounds::bounded_type(key_type) {
        true => metadata.and_then(|m| bounds::partition_bounds(config, column, m)),
        false => None,
    };
    let Some(bounds) = bounds else {
        return Ok(None);
    };
    // The bounds hold only while each partition reads its own files: kept so whatever
    // the setting reads when the plan runs.
    let input = files_kept(Arc::clone(first.input()))?;
    // An aggregate whose halves cannot be run in one step stays as it was.
    match RangedSingleExec::try_new(input, first, last, bounds) {
        Ok(single) => rehash(Arc::new(single), repartition, rehashed).map(Some),
        Err(_) => Ok(None),
    }
}

/// `finished` as it is, or where `rehashed` repartitioned as `repartition` did the partial
/// rows: the key is the first column of both.
fn rehash(
    finished: Arc<dyn ExecutionPlan>,
    repartition: &RepartitionExec,
    rehashed: bool,
) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(match rehashed {
        true => Arc::new(RepartitionExec::try_new(
            finished,
            repartition.partitioning().clone(),
        )?),
        false => finished,
    })
}

/// The scan of files that `plan` passes on the partitions of (through projections and
/// filters), with the file column that column `index` of `plan`'s output reads.
fn scanned(plan: &dyn ExecutionPlan, index: usize) -> Option<(&FileScanConfig, usize)> {
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let column = super::node::passed_column(projection, index)?;
        return scanned(projection.input().as_ref(), column);
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        let index = match filter.projection() {
            Some(projection) => *projection.get(index)?,
            None => index,
        };
        return scanned(filter.input().as_ref(), index);
    }
    let scan = plan.downcast_ref::<DataSourceExec>()?;
    let config = scan.data_source().downcast_ref::<FileScanConfig>()?;
    Some((config, file_column(config, index)?))
}

/// `plan` with its scans of files keeping each partition's files to that partition, where
/// DataFusion would let an idle partition take another's: what `preserve_order` does
/// when no order is to be kept.
fn files_kept(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(config) = node
            .downcast_ref::<DataSourceExec>()
            .and_then(|scan| scan.data_source().downcast_ref::<FileScanConfig>())
        else {
            return Ok(Transformed::no(node));
        };
        let mut config = config.clone();
        config.preserve_order = true;
        Ok(Transformed::yes(
            DataSourceExec::from_data_source(config) as _
        ))
    })
    .map(|kept| kept.data)
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
    let ranges = partitions
        .iter()
        .map(|files| {
            bounds::union(
                files
                    .iter()
                    .map(|f| bounds::whole_file(f, column).map(Some)),
            )
        })
        .collect::<Option<Vec<_>>>();
    ranges.is_some_and(|ranges| bounds::apart(&ranges.into_iter().flatten().collect::<Vec<_>>()))
}
