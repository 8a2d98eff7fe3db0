//! Canon's own optimizer rules, appended to DataFusion's in every session: logical ones,
//! and physical ones that run after DataFusion's.
//!
//! Each rule keeps every answer DataFusion would give (the tests run the same queries with
//! and without it) and is kept only for the figure it earned in BENCHMARKS.md.

mod group_keys;
mod semi_join;
mod shared;
mod shared_exec;
mod unordered;

use std::sync::Arc;

use datafusion::optimizer::OptimizerRule;
use datafusion::physical_optimizer::PhysicalOptimizerRule;

pub use group_keys::GroupKeyReduction;
pub use semi_join::SemiJoinPushdown;
pub use shared::SharedSubplans;
pub use unordered::{MAX_UNORDERED_ROWS, UnorderedRepartitions};

/// The logical rules Canon adds after DataFusion's own, in order.
pub fn rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    vec![Arc::new(SemiJoinPushdown), Arc::new(GroupKeyReduction)]
}

/// The physical rules Canon adds after DataFusion's own, in order. A distributed plan
/// shares no subplans: its stages run apart, and workers know only DataFusion's nodes.
pub fn physical_rules(distributes: bool) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> =
        vec![Arc::new(UnorderedRepartitions)];
    if !distributes {
        rules.push(Arc::new(SharedSubplans));
    }
    rules
}
