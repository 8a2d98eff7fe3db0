//! What a plan's schema knows about keys.

use std::collections::HashSet;

use datafusion::common::{DFSchema, Dependency};
use datafusion::logical_expr::{Expr, LogicalPlan};

/// The alias of the key set the scan reduction semi-joins a scan with.
pub(super) const SCAN_KEYS_ALIAS: &str = "__canon_scan_keys";

/// The alias of the key set the group-key reduction semi-joins an aggregate's input with.
pub(super) const GROUP_KEYS_ALIAS: &str = "__canon_group_keys";

/// Whether `plan` is a key set one of Canon's reductions added: a copy of a filter the
/// query applies elsewhere too, so it filters nothing the query does not.
pub(super) fn is_added_key_set(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::SubqueryAlias(alias)
        if [SCAN_KEYS_ALIAS, GROUP_KEYS_ALIAS].contains(&alias.alias.table()))
}

/// Whether the column at `index` is a unique key of `schema`'s rows: a declared key or a
/// grouping key that survived the plan, as a functional dependency.
pub(crate) fn is_unique(schema: &DFSchema, index: usize) -> bool {
    schema.functional_dependencies().iter().any(|dependence| {
        dependence.mode == Dependency::Single && dependence.source_indices == [index]
    })
}

/// Whether `schema`'s rows have at most one row per value of the columns `keys` read
/// (under SQL's equality, where NULL matches nothing): some unique key lies within them.
/// `false` when a key is not a plain column of `schema`.
pub(crate) fn unique_on<'a>(schema: &DFSchema, keys: impl IntoIterator<Item = &'a Expr>) -> bool {
    let mut indices = HashSet::new();
    for key in keys {
        let Expr::Column(column) = key else {
            return false;
        };
        match schema.maybe_index_of_column(column) {
            Some(index) => indices.insert(index),
            None => return false,
        };
    }
    schema.functional_dependencies().iter().any(|dependence| {
        dependence.mode == Dependency::Single
            && !dependence.source_indices.is_empty()
            && dependence
                .source_indices
                .iter()
                .all(|i| indices.contains(i))
    })
}
