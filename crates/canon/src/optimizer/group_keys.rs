//! Group-key reduction: a grouped aggregate that an inner join meets on its group keys
//! reads only the rows whose keys the join's other side can hold.
//!
//! DataFusion decorrelates TPC-H q17's `l_quantity < (SELECT 0.2 * avg(l_quantity) FROM
//! lineitem WHERE l_partkey = p_partkey)` into an aggregate of all of lineitem grouped by
//! part, inner-joined with the few parts that qualify: it averages 200,000 parts to keep
//! about 200. A group survives an inner join on its keys only if the other side holds its
//! key, and the other side's keys are among those of the filtered scan that feeds them
//! through inner joins. So the aggregate may read `input ⋉ π_keys(filtered scan)` instead
//! of its input: a group that survives keeps every row, one that cannot is never built.
//! The same holds wherever the aggregate's rows reach the output only through a match:
//! as the filtering side of a semi or anti join (q17 becomes one once the keys show the
//! aggregate unique), or as the optional side of an outer join.
//!
//! The key source is always a filtered scan of files (a `Filter`, or a scan with filters,
//! over nothing but projections and one listing table) with no volatile expression and no
//! limit: selective, cheap to read a second time, and the same rows both times. A scan of
//! such a table semi-joined with a filtered one on a key column (q20's partsupp for the
//! parts that match) is one too. A Delta table is not a key source: each scan loads the
//! newest snapshot. The rule does not reduce an aggregate twice.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, JoinConstraint, JoinType, NullEquality, Result};
use datafusion::logical_expr::{
    Aggregate, Expr, Filter, Join, LogicalPlan, Projection, SubqueryAlias,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::keys::{GROUP_KEYS_ALIAS, is_unique};
use super::node::with_sides;

/// Whether a table reads the same rows each time a query scans it (files, not a table
/// whose scans load its newest version); only such tables give key sets.
pub type RereadsAlike = fn(&dyn TableProvider) -> bool;

/// Semi-joins the input of a grouped aggregate, met by a join on its group keys, with the
/// keys of the filtered scan that feeds the join's other side.
#[derive(Debug, Clone, Copy)]
pub struct GroupKeyReduction {
    rereads_alike: RereadsAlike,
}

impl GroupKeyReduction {
    /// The rule, taking key sets only from tables `rereads_alike` vouches for.
    pub fn new(rereads_alike: RereadsAlike) -> Self {
        Self { rereads_alike }
    }
}

impl OptimizerRule for GroupKeyReduction {
    fn name(&self) -> &str {
        "canon_group_key_reduction"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // The aggregate's rows must reach the output only through matches with the other
        // side. A null-aware anti join (`NOT IN`) also reads a NULL key the reduction drops.
        let sides: &[Side] = match join.join_type {
            _ if join.null_aware || join.on.is_empty() => &[],
            JoinType::Inner => &[Side::Right, Side::Left],
            JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti => &[Side::Right],
            JoinType::Right | JoinType::RightSemi | JoinType::RightAnti => &[Side::Left],
            _ => &[],
        };
        for &side in sides {
            if let Some(reduced) = reduce(join, side, self.rereads_alike)? {
                return Ok(Transformed::yes(LogicalPlan::Join(reduced)));
            }
        }
        Ok(Transformed::no(plan))
    }
}

/// Which input of the join holds the aggregate.
#[derive(Clone, Copy)]
enum Side {
    Left,
    Right,
}

/// The join with the aggregate on `side` reduced, or `None` when the rule does not apply.
fn reduce(join: &Join, side: Side, rereads_alike: RereadsAlike) -> Result<Option<Join>> {
    let (grouped, other) = match side {
        Side::Left => (&join.left, &join.right),
        Side::Right => (&join.right, &join.left),
    };
    let mut grouped_keys = Vec::with_capacity(join.on.len());
    let mut other_keys = Vec::with_capacity(join.on.len());
    for (left, right) in &join.on {
        let (g, o) = match side {
            Side::Left => (left, right),
            Side::Right => (right, left),
        };
        let (Expr::Column(g), Expr::Column(o)) = (g, o) else {
            return Ok(None);
        };
        let (Some(g), Some(o)) = (
            grouped.schema().maybe_index_of_column(g),
            other.schema().maybe_index_of_column(o),
        ) else {
            return Ok(None);
        };
        grouped_keys.push(g);
        other_keys.push(o);
    }
    // The key set is built only once an aggregate to reduce is found: most joins have none.
    let keys = || key_set(other, &other_keys, rereads_alike, GROUP_KEYS_ALIAS);
    let Some(reduced) = reduce_aggregate(grouped, &grouped_keys, &keys, join.null_equality)? else {
        return Ok(None);
    };
    let (left, right) = match side {
        Side::Left => (Arc::new(reduced), Arc::clone(&join.right)),
        Side::Right => (Arc::clone(&join.left), Arc::new(reduced)),
    };
    with_sides(join, left, right).map(Some)
}

/// `plan` with the aggregate under it (reached through aliases, filters and column
/// projections of the key columns at `indices`) reading only rows whose group keys are in
/// the key set `keys` builds; `None` when there is no such aggregate, it is reduced
/// already, or there is no key set.
fn reduce_aggregate(
    plan: &LogicalPlan,
    indices: &[usize],
    keys: &dyn Fn() -> Result<Option<LogicalPlan>>,
    null_equality: NullEquality,
) -> Result<Option<LogicalPlan>> {
    let rebuilt = match plan {
        LogicalPlan::Aggregate(aggregate) => {
            if is_reduced(&aggregate.input)? {
                return Ok(None);
            }
            let mut on = Vec::with_capacity(indices.len());
            for (position, &index) in indices.iter().enumerate() {
                let Some(Expr::Column(group)) = aggregate.group_expr.get(index) else {
                    return Ok(None);
                };
                let key = Column::new(Some(GROUP_KEYS_ALIAS), key_name(position));
                on.push((Expr::Column(group.clone()), Expr::Column(key)));
            }
            let Some(keys) = keys()? else {
                return Ok(None);
            };
            let input = Join::try_new(
                Arc::clone(&aggregate.input),
                Arc::new(keys),
                on,
                None,
                JoinType::LeftSemi,
                JoinConstraint::On,
                null_equality,
                false,
            )?;
            let aggregate = Aggregate::try_new(
                Arc::new(LogicalPlan::Join(input)),
                aggregate.group_expr.clone(),
                aggregate.aggr_expr.clone(),
            )?;
            Some(LogicalPlan::Aggregate(aggregate))
        }
        _ => through_columns(plan, indices, |input, inner| {
            reduce_aggregate(input, inner, keys, null_equality)
        })?,
    };
    Ok(rebuilt)
}

/// For an alias, a filter or a projection of the columns at `indices`: `rewrite` applied to
/// its input at the columns they come from, and the node rebuilt over what it returns.
/// `None` for any other node, or when `rewrite` returns `None`.
pub(super) fn through_columns(
    plan: &LogicalPlan,
    indices: &[usize],
    rewrite: impl FnOnce(&LogicalPlan, &[usize]) -> Result<Option<LogicalPlan>>,
) -> Result<Option<LogicalPlan>> {
    let rebuilt = match plan {
        LogicalPlan::SubqueryAlias(alias) => rewrite(&alias.input, indices)?
            .map(|input| SubqueryAlias::try_new(Arc::new(input), alias.alias.clone()))
            .transpose()?
            .map(LogicalPlan::SubqueryAlias),
        LogicalPlan::Filter(filter) => rewrite(&filter.input, indices)?
            .map(|input| Filter::try_new(filter.predicate.clone(), Arc::new(input)))
            .transpose()?
            .map(LogicalPlan::Filter),
        LogicalPlan::Projection(projection) => {
            let Some(inner) = projected_indices(projection, indices) else {
                return Ok(None);
            };
            rewrite(&projection.input, &inner)?
                .map(|input| {
                    Projection::try_new_with_schema(
                        projection.expr.clone(),
                        Arc::new(input),
                        Arc::clone(&projection.schema),
                    )
                })
                .transpose()?
                .map(LogicalPlan::Projection)
        }
        _ => None,
    };
    Ok(rebuilt)
}

/// Whether an aggregate's input already reads a key set this rule added (perhaps moved
/// down since by another rule).
fn is_reduced(input: &LogicalPlan) -> Result<bool> {
    input.exists(|plan| {
        Ok(matches!(plan, LogicalPlan::SubqueryAlias(alias) if alias.alias.table() == GROUP_KEYS_ALIAS))
    })
}

/// The name of the key set's column for the join's `position`th key.
pub(super) fn key_name(position: usize) -> String {
    format!("k{position}")
}

/// Whether the projection only passes columns on, unrenamed: rows and column names are its
/// input's.
pub(super) fn passes_columns(projection: &Projection) -> bool {
    projection.expr.iter().all(|e| matches!(e, Expr::Column(_)))
}

/// Where the projection's outputs at `indices` come from in its input, if each is a column
/// passed on (perhaps renamed).
pub(super) fn projected_indices(projection: &Projection, indices: &[usize]) -> Option<Vec<usize>> {
    let input = projection.input.schema();
    indices
        .iter()
        .map(|&i| match projection.expr.get(i)?.clone().unalias() {
            Expr::Column(column) => input.maybe_index_of_column(&column),
            _ => None,
        })
        .collect()
}

/// The key columns at `indices` of `plan`, as `alias(k0, k1, …)` read from the filtered
/// scan they come from; `None` without one.
pub(super) fn key_set(
    plan: &LogicalPlan,
    indices: &[usize],
    rereads_alike: RereadsAlike,
    alias: &str,
) -> Result<Option<LogicalPlan>> {
    let Some((scan, indices)) = filtered_scan(plan, indices.to_vec(), rereads_alike) else {
        return Ok(None);
    };
    let schema = scan.schema();
    let columns = indices
        .iter()
        .enumerate()
        .map(|(position, &i)| {
            Expr::Column(Column::from(schema.qualified_field(i))).alias(key_name(position))
        })
        .collect();
    let projection = Projection::try_new(columns, Arc::new(scan.clone()))?;
    let alias = SubqueryAlias::try_new(Arc::new(LogicalPlan::Projection(projection)), alias)?;
    Ok(Some(LogicalPlan::SubqueryAlias(alias)))
}

/// The filtered scan below `plan` that every value of its columns at `indices` comes
/// from, through projections of columns and inner or semi joins (which only drop rows),
/// with the indices of those columns in it.
fn filtered_scan(
    plan: &LogicalPlan,
    indices: Vec<usize>,
    rereads_alike: RereadsAlike,
) -> Option<(&LogicalPlan, Vec<usize>)> {
    let stable = |plan| is_stable_scan(plan, rereads_alike);
    match plan {
        LogicalPlan::Filter(filter) if keeps_fewer([&filter.predicate]) && stable(plan) => {
            Some((plan, indices))
        }
        LogicalPlan::TableScan(scan) if keeps_fewer(&scan.filters) && stable(plan) => {
            Some((plan, indices))
        }
        LogicalPlan::Filter(filter) => filtered_scan(&filter.input, indices, rereads_alike),
        LogicalPlan::SubqueryAlias(alias) => filtered_scan(&alias.input, indices, rereads_alike),
        LogicalPlan::Projection(projection) => {
            let inner = projected_indices(projection, &indices)?;
            filtered_scan(&projection.input, inner, rereads_alike)
        }
        LogicalPlan::Join(join) => {
            let left_width = join.left.schema().fields().len();
            let on_left = indices.iter().all(|&i| i < left_width);
            match join.join_type {
                // An unfiltered scan that a semi join filters (q20's partsupp, kept for
                // the parts whose names match) is a key source as a whole, when fewer rows
                // mean fewer keys: the semi join reads a key column, or a key column is
                // unique. A year of sales holds nearly every item; TPC-DS q64 with keys
                // read its sales again to filter the items of a year, and filtered nothing.
                JoinType::LeftSemi if on_left => {
                    match filtered_scan(&join.left, indices.clone(), rereads_alike) {
                        None if is_filtering_semi_join(join, rereads_alike)
                            && filters_keys(join, &indices) =>
                        {
                            Some((plan, indices))
                        }
                        found => found,
                    }
                }
                JoinType::LeftAnti if on_left => filtered_scan(&join.left, indices, rereads_alike),
                JoinType::Inner if on_left => filtered_scan(&join.left, indices, rereads_alike),
                JoinType::Inner => {
                    let right = indices
                        .iter()
                        .map(|&i| i.checked_sub(left_width))
                        .collect::<Option<_>>()?;
                    filtered_scan(&join.right, right, rereads_alike)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether the rows a semi join keeps of its left side hold fewer of the key columns at
/// `indices` than its input does: the join matches one of them, or one is unique there.
fn filters_keys(join: &Join, indices: &[usize]) -> bool {
    let schema = join.left.schema();
    join.on.iter().any(|(left, _)| {
        matches!(left, Expr::Column(column)
            if schema.maybe_index_of_column(column).is_some_and(|i| indices.contains(&i)))
    }) || indices.iter().any(|&i| is_unique(schema, i))
}

/// Whether `conditions` can drop some rows and keep others: one reads a column. A constant
/// keeps all or none; TPC-DS q74's `'s' = 's'`, left on its customers by a union's
/// `sale_type = 's'` and folded to `true` later, took every customer for a key set.
fn keeps_fewer<'a>(conditions: impl IntoIterator<Item = &'a Expr>) -> bool {
    conditions.into_iter().any(|c| !c.column_refs().is_empty())
}

/// Whether a semi join keeps the rows of a stable scan that match a filtered stable scan:
/// selective, and the same rows when read again.
fn is_filtering_semi_join(join: &Join, rereads_alike: RereadsAlike) -> bool {
    let filtered = |plan: &LogicalPlan| match plan {
        LogicalPlan::Filter(filter) => keeps_fewer([&filter.predicate]),
        LogicalPlan::TableScan(scan) => keeps_fewer(&scan.filters),
        _ => false,
    };
    !join.filter.as_ref().is_some_and(Expr::is_volatile)
        && !join
            .on
            .iter()
            .any(|(l, r)| l.is_volatile() || r.is_volatile())
        && is_stable_scan(&join.left, rereads_alike)
        && is_stable_scan(&join.right, rereads_alike)
        && join.right.exists(|p| Ok(filtered(p))).unwrap_or(false)
}

/// Whether `plan` is nothing but projections, filters and aliases over one scan that reads
/// the same rows when read again: no volatile expression, no limit, and a table
/// `rereads_alike` vouches for.
fn is_stable_scan(plan: &LogicalPlan, rereads_alike: RereadsAlike) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => {
            scan.fetch.is_none()
                && !scan.filters.iter().any(Expr::is_volatile)
                && source_as_provider(&scan.source).is_ok_and(|p| rereads_alike(p.as_ref()))
        }
        LogicalPlan::Filter(filter) => {
            !filter.predicate.is_volatile() && is_stable_scan(&filter.input, rereads_alike)
        }
        LogicalPlan::Projection(projection) => {
            !projection.expr.iter().any(Expr::is_volatile)
                && is_stable_scan(&projection.input, rereads_alike)
        }
        LogicalPlan::SubqueryAlias(alias) => is_stable_scan(&alias.input, rereads_alike),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::catalog::MemTable;
    use datafusion::datasource::provider_as_source;
    use datafusion::logical_expr::{LogicalPlanBuilder, col, lit};

    use super::*;

    /// A scan of a one-column table with `filters` pushed into it.
    fn scan(filters: Vec<Expr>) -> Result<LogicalPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let table = MemTable::try_new(schema, vec![vec![]])?;
        LogicalPlanBuilder::scan_with_filters(
            "t",
            provider_as_source(Arc::new(table)),
            None,
            filters,
        )?
        .build()
    }

    #[test]
    fn a_scan_filtered_only_by_constants_gives_no_key_set() -> Result<()> {
        let rereads_alike: RereadsAlike = |_| true;
        let key_set_of = |filters| key_set(&scan(filters)?, &[0], rereads_alike, "keys");
        assert!(key_set_of(vec![lit(true)])?.is_none());
        assert!(key_set_of(vec![lit("s").eq(lit("s")), lit(true)])?.is_none());
        assert!(key_set_of(vec![lit(true), col("k").gt(lit(1_i64))])?.is_some());
        Ok(())
    }
}
