//! What a plan's schema knows about keys.

use datafusion::common::{DFSchema, Dependency};

/// Whether the column at `index` is a unique key of `schema`'s rows: a declared key or a
/// grouping key that survived the plan, as a functional dependency.
pub(crate) fn is_unique(schema: &DFSchema, index: usize) -> bool {
    schema.functional_dependencies().iter().any(|dependence| {
        dependence.mode == Dependency::Single && dependence.source_indices == [index]
    })
}
