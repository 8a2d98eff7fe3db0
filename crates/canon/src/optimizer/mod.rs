//! Canon's own logical optimizer rules, appended to DataFusion's in every session.
//!
//! Each rule keeps every answer DataFusion would give (the tests run the same queries with
//! and without it) and is kept only for the figure it earned in BENCHMARKS.md.

mod semi_join;

use std::sync::Arc;

use datafusion::optimizer::OptimizerRule;

pub use semi_join::SemiJoinPushdown;

/// The rules Canon adds after DataFusion's own, in order.
pub fn rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    vec![Arc::new(SemiJoinPushdown)]
}
