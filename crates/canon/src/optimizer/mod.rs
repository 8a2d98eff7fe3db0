//! Canon's own optimizer rules, appended to DataFusion's in every session: logical ones,
//! physical ones that run after DataFusion's, and the query planner that orders each
//! region of inner joins by estimated cost, computes an aggregate in part below its join
//! where that removes most rows, an aggregate joined back to the few rows it summarises as
//! a window over them, and a repeated aggregate once.
//!
//! Each rule keeps every answer DataFusion would give (the tests run the same queries with
//! and without it) and is kept only for the figure it earned in BENCHMARKS.md.

mod build_side;
mod conditions;
mod conjunction;
mod constant_keys;
mod decimal_scales;
mod deferred;
mod eager;
mod finest_groups;
mod group_keys;
mod join_order;
mod kept;
mod keys;
mod node;
mod null_keys;
mod ranged;
mod reserved;
mod scan_keys;
mod semi_join;
mod shared;
mod unordered;
mod windowed;

use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::OptimizerRule;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_planner::DefaultPhysicalPlanner;

pub use build_side::{
    BuildBySides, MAX_ONE_TABLE_ROWS, MIN_PARTITIONED_BUILD, PROBE_TO_BUILD, PROBE_TO_ONE_TABLE,
};
pub use conjunction::{Conjunction, ConjunctionFilters};
pub use constant_keys::ConstantGroupKeys;
pub use decimal_scales::DecimalLiteralScales;
pub use deferred::{DeferredBuilds, DeferredExec};
pub use finest_groups::FinestGroupsFirst;
pub use group_keys::{GroupKeyReduction, RereadsAlike};
pub use join_order::{
    ChunkReads, DictionaryCounts, EstimatedRowsExec, ForgetEstimates, JoinOrderNode,
    JoinOrderPlanner, SampledShares,
};
pub use kept::{KeptShape, ShapeKeptNode};
pub use null_keys::OuterJoinsMetOnKeys;
pub use ranged::{RangedFinalAggregates, RangedFinalExec, RangedSingleExec};
pub use reserved::ReservedAliases;
pub use scan_keys::ScanReduction;
pub use semi_join::SemiJoinPushdown;
pub use shared::{SharedExec, SharedNode, SharedResult, SharingPlanner, share_repeated};
pub use unordered::{MAX_UNORDERED_ROWS, UnorderedRepartitions};

/// The logical rules Canon adds after DataFusion's own, in order; `rereads_alike` tells
/// the tables a key set may be read from a second time.
pub fn rules(rereads_alike: RereadsAlike) -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    vec![
        Arc::new(OuterJoinsMetOnKeys),
        Arc::new(SemiJoinPushdown),
        Arc::new(GroupKeyReduction::new(rereads_alike)),
        Arc::new(ScanReduction::new(rereads_alike)),
        Arc::new(FinestGroupsFirst),
        Arc::new(ConstantGroupKeys),
        Arc::new(DecimalLiteralScales),
    ]
}

/// DataFusion's physical rules with Canon's [`BuildBySides`] and
/// [`ForgetEstimates`] right after the join selection that reads the estimates (first, if
/// there is none), before DataFusion enforces the distributions.
pub fn with_estimates_forgotten(
    mut rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>,
) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let at = rules
        .iter()
        .position(|rule| rule.name() == ForgetEstimates::AFTER)
        .map_or(0, |i| i + 1);
    // Before the estimates are forgotten: a region's own sets the sides' sizes.
    rules.insert(at, Arc::new(BuildBySides));
    rules.insert(at + 1, Arc::new(ForgetEstimates));
    rules
}

/// The physical rules Canon adds after DataFusion's own, in order, for a runtime whose
/// memory pool has `memory` and whose cache of file footers is `metadata`; a plan that
/// `distributes` crosses processes, which only DataFusion's own nodes do.
pub fn physical_rules(
    memory: MemoryLimit,
    metadata: Arc<FileMetadataCache>,
    distributes: bool,
) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> =
        vec![Arc::new(UnorderedRepartitions::for_memory(memory))];
    if !distributes {
        rules.push(Arc::new(RangedFinalAggregates::with_metadata(metadata)));
        rules.push(Arc::new(DeferredBuilds));
    }
    rules
}

/// `plan` as the query planner runs it, or `None` when nothing changed: each aggregate
/// joined back to the few rows it summarises computed as a window over them, each region
/// of inner joins in the cheapest order found, the scan reduction's key sets that the new
/// order made redundant dropped, each aggregate that qualifies computed in part below its
/// join, and each filter on a table testing its most selective conditions first.
/// `planner` plans subplans to read their statistics. With `[profile] join_order =
/// "written"` or DataFusion's `datafusion.optimizer.join_reordering` off, the joins stay
/// as written.
pub async fn plan_by_cost(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Result<Option<LogicalPlan>> {
    join_order::estimate::remembering(async {
        let joined = match join_order::by_cost(session) {
            true => joins_by_cost(plan, planner, session).await?,
            false => None,
        };
        let current = joined.as_ref().unwrap_or(plan);
        let filtered = conditions::most_selective_first(current, planner, session).await?;
        Ok(filtered.or(joined))
    })
    .await
}

/// `plan` with its aggregates joined back to their rows as windows, its joins ordered and
/// its aggregates computed in part by cost (see [`plan_by_cost`]), or `None` when nothing
/// changed.
async fn joins_by_cost(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Result<Option<LogicalPlan>> {
    // Before the join order, which would take the joined rows apart.
    let windowed = windowed::aggregates_as_windows(plan, planner, session).await?;
    let current = windowed.as_ref().unwrap_or(plan);
    let ordered = join_order::reorder(current, planner, session).await?;
    let ordered = ordered.or(windowed);
    let dropped = scan_keys::drop_redundant(ordered.as_ref().unwrap_or(plan))?;
    let ordered = dropped.or(ordered);
    let current = ordered.as_ref().unwrap_or(plan);
    match eager::aggregate_early(current, planner, session).await? {
        Some(eager) => Ok(Some(eager)),
        None => Ok(ordered),
    }
}
