//! An aggregate joined back to the rows it summarises becomes a window over them.
//!
//! TPC-H q17 compares each line of some parts with the average quantity of that part's
//! lines. DataFusion decorrelates the subquery into an aggregate of all of `lineitem` by
//! part, joined with `lineitem ⋈ σ(part)` on the part key, so it reads the 6 M lines twice
//! to keep six thousand. When the joined rows `X = T ⋈ R` hold every row of `T` whose
//! group key `R` keeps, once (`R` unique on the key it meets `T`'s group column with, or
//! the join a semi join, and that equality its only condition), each group the join meets
//! is exactly `X`'s rows of that key, and
//!
//! ```text
//! Join(X, γ(T.g; agg(T.c)) on X.k = T.g)   =   Window(agg(c) OVER (PARTITION BY k), X)
//! ```
//!
//! with the join's own condition a filter over the window. `T` is read once; the window
//! sorts `X`'s rows, which pays only where `R` keeps few of its rows, by the estimates.
//! Only `sum`, `count`, `min`, `max` and `avg` (which ignore their input's order), without
//! `DISTINCT`, `FILTER` or volatile arguments, grouped by one column, over a scan of the
//! same table, qualify.
//! Either scan may be filtered on the group column
//! alone (DataFusion copies `i_item_sk < 500` to `s_item < 500` through the join), which
//! keeps or drops whole groups, so long as the aggregate's conditions are among the joined
//! scan's. The rewrite runs in the query planner before the join order, under the same
//! switch.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, JoinType, NullEquality, Result};
use datafusion::functions_aggregate::average::Avg;
use datafusion::functions_aggregate::count::Count;
use datafusion::functions_aggregate::min_max::{Max, Min};
use datafusion::functions_aggregate::sum::Sum;
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, Expr, Filter, Join, LogicalPlan, LogicalPlanBuilder, Operator,
    Projection, TableScan, WindowFunctionDefinition,
};
use datafusion::physical_planner::DefaultPhysicalPlanner;
use futures::future::BoxFuture;

use super::group_keys::passes_columns;
use super::join_order::estimate;
use super::keys::{is_added_key_set, unique_on};
use super::node::inputs_rewritten;

/// The largest share of its rows the joined relation `R` may keep, by the estimates: the
/// window sorts the joined rows, where the join it replaces hashed an aggregate of all of
/// `T`, so only a join that keeps few of `T`'s rows gains.
const MAX_KEPT: f64 = 0.1;

/// `plan` with every qualifying aggregate joined back to its rows computed as a window,
/// or `None` when none qualifies. `planner` plans the joined relations to estimate them.
pub(super) fn aggregates_as_windows<'a>(
    plan: &'a LogicalPlan,
    planner: &'a DefaultPhysicalPlanner,
    session: &'a dyn Session,
) -> BoxFuture<'a, Result<Option<LogicalPlan>>> {
    Box::pin(async move {
        let rebuilt =
            inputs_rewritten(plan, |input| aggregates_as_windows(input, planner, session)).await?;
        let current = rebuilt.as_ref().unwrap_or(plan);
        if let LogicalPlan::Join(join) = current
            && let Some(windowed) = as_window(join, planner, session).await?
        {
            return Ok(Some(windowed));
        }
        Ok(rebuilt)
    })
}

/// The aggregate side of a join: an aliased aggregate by one column of a scan.
struct Grouped<'a> {
    /// The alias the join's conditions name its columns by.
    alias: &'a LogicalPlan,
    /// The projection between alias and aggregate, if any.
    projection: Option<&'a Projection>,
    aggregate: &'a Aggregate,
    scan: &'a TableScan,
    /// The scan's column the aggregate groups by.
    group: Column,
    /// The conditions on the scan, all on that column.
    conditions: Vec<Expr>,
}

/// The joined side: `T ⋈ R` (or `T ⋉ R`) on one equality of `T`'s group column with
/// `R`'s key.
struct Joined<'a> {
    /// The scan of `T` within it.
    scan: &'a TableScan,
    /// The other relation, unique on `key`.
    other: &'a LogicalPlan,
    key: Column,
    /// `T`'s group column, as the joined rows name it.
    group: Column,
}

/// `join` computed as a window over its joined side, when it qualifies and the estimates
/// say the window pays.
async fn as_window(
    join: &Join,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Result<Option<LogicalPlan>> {
    let [(left_key, right_key)] = join.on.as_slice() else {
        return Ok(None);
    };
    let sides = match join.join_type {
        JoinType::Inner => vec![(true, left_key, right_key), (false, right_key, left_key)],
        JoinType::LeftSemi => vec![(true, left_key, right_key)],
        JoinType::RightSemi => vec![(false, right_key, left_key)],
        _ => return Ok(None),
    };
    for (joined_on_left, joined_key, grouped_key) in sides {
        let (joined_plan, grouped_plan) = match joined_on_left {
            true => (join.left.as_ref(), join.right.as_ref()),
            false => (join.right.as_ref(), join.left.as_ref()),
        };
        let (Expr::Column(joined_key), Expr::Column(grouped_key)) = (joined_key, grouped_key)
        else {
            continue;
        };
        let Some(grouped) = grouped(grouped_plan) else {
            continue;
        };
        let joined = joined(
            joined_plan,
            grouped.scan,
            &grouped.group.name,
            &grouped.conditions,
        );
        let Some(joined) = joined else {
            continue;
        };
        // The join must meet the group on the key the joined rows are partitioned by.
        let keyed = *joined_key == joined.key || *joined_key == joined.group;
        if !keyed || !groups_on(&grouped, grouped_key) {
            continue;
        }
        if !keeps_few(joined.other, &joined.key, planner, session).await {
            continue;
        }
        // A rewrite that cannot be built leaves the join as it is.
        if let Ok(Some(plan)) = windowed(join, joined_plan, joined_key, &grouped, &joined) {
            return Ok(Some(plan));
        }
    }
    Ok(None)
}

/// `plan` as an aggregate grouped by one column of an unfiltered scan, under an alias and
/// perhaps a projection; the scan may be semi-joined with a key set Canon added (which
/// keeps only groups the query meets anyway).
fn grouped(plan: &LogicalPlan) -> Option<Grouped<'_>> {
    let LogicalPlan::SubqueryAlias(alias) = plan else {
        return None;
    };
    let (projection, below) = match alias.input.as_ref() {
        LogicalPlan::Projection(p) => (Some(p), p.input.as_ref()),
        other => (None, other),
    };
    let LogicalPlan::Aggregate(aggregate) = below else {
        return None;
    };
    let [Expr::Column(group)] = aggregate.group_expr.as_slice() else {
        return None;
    };
    let (scan, conditions) = match aggregate.input.as_ref() {
        LogicalPlan::Join(semi)
            if semi.join_type == JoinType::LeftSemi
                && semi.filter.is_none()
                && is_added_key_set(&semi.right)
                && matches!(semi.on.as_slice(), [(Expr::Column(c), _)] if c == group) =>
        {
            group_scan(&semi.left, &group.name)?
        }
        other => group_scan(other, &group.name)?,
    };
    Some(Grouped {
        alias: plan,
        projection,
        aggregate,
        scan,
        group: group.clone(),
        conditions,
    })
}

/// `plan` as a scan of a table filtered only on its column `group`, through column-only
/// projections, with the conditions on it: such conditions keep or drop whole groups.
fn group_scan<'a>(plan: &'a LogicalPlan, group: &str) -> Option<(&'a TableScan, Vec<Expr>)> {
    let on_group = |e: &Expr| {
        let read = e.column_refs();
        !e.is_volatile() && !read.is_empty() && read.iter().all(|c| c.name == group)
    };
    match plan {
        LogicalPlan::Projection(p) if passes_columns(p) => group_scan(&p.input, group),
        LogicalPlan::Filter(filter) => {
            let (scan, mut conditions) = group_scan(&filter.input, group)?;
            for condition in split_conjunction(&filter.predicate) {
                if !on_group(condition) {
                    return None;
                }
                if !conditions.contains(condition) {
                    conditions.push(condition.clone());
                }
            }
            Some((scan, conditions))
        }
        LogicalPlan::TableScan(scan) if scan.fetch.is_none() => {
            let conditions: Vec<Expr> = scan
                .filters
                .iter()
                .flat_map(split_conjunction)
                .cloned()
                .collect();
            conditions
                .iter()
                .all(on_group)
                .then_some((scan, conditions))
        }
        _ => None,
    }
}

/// `plan` as an inner or semi join of a scan of `table`'s table with another relation, met
/// by one equality of the scan's column `group` with a key (of an inner join, one the
/// other relation is unique on),
/// through column-only projections. The scan is filtered on `group` alone, by at least
/// the conditions `kept` (the aggregate's).
fn joined<'a>(
    plan: &'a LogicalPlan,
    table: &TableScan,
    group: &str,
    kept: &[Expr],
) -> Option<Joined<'a>> {
    let join = match plan {
        LogicalPlan::Projection(p) if passes_columns(p) => {
            return joined(&p.input, table, group, kept);
        }
        LogicalPlan::Join(join) => join,
        _ => return None,
    };
    if join.null_equality != NullEquality::NullEqualsNothing {
        return None;
    }
    // A semi join keeps each row of the scan's side at most once; an inner join does only
    // where the other side is unique on its key.
    let (left, right) = (&join.left, &join.right);
    let sides = match join.join_type {
        JoinType::Inner => vec![(left, right, true), (right, left, true)],
        JoinType::LeftSemi => vec![(left, right, false)],
        JoinType::RightSemi => vec![(right, left, false)],
        _ => return None,
    };
    let mut equalities: Vec<(&Expr, &Expr)> = join.on.iter().map(|(l, r)| (l, r)).collect();
    for condition in join.filter.iter().flat_map(split_conjunction) {
        match condition {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => equalities.push((left, right)),
            _ => return None,
        }
    }
    let [(Expr::Column(a), Expr::Column(b))] = equalities.as_slice() else {
        return None;
    };
    for (scan_side, other, needs_unique) in sides {
        let Some((scan, conditions)) = group_scan(scan_side, group) else {
            continue;
        };
        // A group the aggregate drops must not be met: the window would keep its rows.
        if !kept.iter().all(|c| conditions.contains(c)) {
            continue;
        }
        if scan.table_name != table.table_name || !Arc::ptr_eq(&scan.source, &table.source) {
            continue;
        }
        let scanned = scan_side.schema();
        let (own, key) = match (scanned.has_column(a), scanned.has_column(b)) {
            (true, false) => (a, b),
            (false, true) => (b, a),
            _ => continue,
        };
        let unique = || unique_on(other.schema(), [&Expr::Column(key.clone())]);
        if own.name != group || (needs_unique && !unique()) {
            continue;
        }
        return Some(Joined {
            scan,
            other,
            key: key.clone(),
            group: own.clone(),
        });
    }
    None
}

/// Whether `column`, a column of the aggregate side's output, is its group column.
fn groups_on(grouped: &Grouped, column: &Column) -> bool {
    let outputs = grouped.alias.schema().columns();
    let Some(index) = outputs.iter().position(|c| c == column) else {
        return false;
    };
    matches!(grouped.source(index), Some(Expr::Column(source)) if source == grouped.group)
}

impl Grouped<'_> {
    /// What the aggregate side's output column at `index` computes from the aggregate's
    /// columns: the projection's expression there, or the aggregate's own column.
    fn source(&self, index: usize) -> Option<Expr> {
        match self.projection {
            Some(projection) => projection.expr.get(index).map(|e| e.clone().unalias()),
            None => self
                .aggregate
                .schema
                .columns()
                .get(index)
                .map(|c| Expr::Column(c.clone())),
        }
    }
}

/// Whether the estimates say `other` keeps at most [`MAX_KEPT`] of its table's rows.
async fn keeps_few(
    other: &LogicalPlan,
    key: &Column,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> bool {
    let Some(index) = other.schema().maybe_index_of_column(key) else {
        return false;
    };
    let Some(estimate) = estimate::relation(other, &[], planner, session).await else {
        return false;
    };
    match estimate.domain_of(index) {
        Some(table_rows) if table_rows > 0.0 => estimate.rows / table_rows <= MAX_KEPT,
        _ => false,
    }
}

/// The join's output computed from a window over `joined_plan`, partitioned by
/// `partition`; `None` when an aggregate does not qualify or reads a column the joined
/// rows do not carry.
fn windowed(
    join: &Join,
    joined_plan: &LogicalPlan,
    partition: &Column,
    grouped: &Grouped,
    joined: &Joined,
) -> Result<Option<LogicalPlan>> {
    // The aggregate's scan columns, as the joined rows name them.
    let carried = joined_plan.schema();
    let renamed = |column: &Column| -> Option<Column> {
        let from_scan = grouped
            .scan
            .projected_schema
            .has_column(column)
            .then(|| Column::new(Some(joined.scan.table_name.clone()), &column.name))?;
        carried.has_column(&from_scan).then_some(from_scan)
    };
    // Without an aggregate there is no window to compute (`SELECT DISTINCT`), and an
    // expression over the groups that varies must be evaluated once per group.
    let projected = grouped
        .projection
        .map(|p| p.expr.as_slice())
        .unwrap_or_default();
    if grouped.aggregate.aggr_expr.is_empty() || projected.iter().any(Expr::is_volatile) {
        return Ok(None);
    }
    // One window per distinct aggregate (a window's name must be unique), and where each
    // of the aggregate's outputs is among them.
    let mut windows: Vec<Expr> = Vec::with_capacity(grouped.aggregate.aggr_expr.len());
    let mut at = Vec::with_capacity(grouped.aggregate.aggr_expr.len());
    for expr in &grouped.aggregate.aggr_expr {
        let Expr::AggregateFunction(AggregateFunction { func, params }) = expr.clone().unalias()
        else {
            return Ok(None);
        };
        // The window reads the rows in another order than the aggregate did, so only
        // functions whose result does not depend on it.
        let inner = func.inner();
        let ignores_order = inner.is::<Sum>()
            || inner.is::<Count>()
            || inner.is::<Min>()
            || inner.is::<Max>()
            || inner.is::<Avg>();
        if !ignores_order
            || params.distinct
            || params.filter.is_some()
            || !params.order_by.is_empty()
            || params.null_treatment.is_some()
            || params.args.iter().any(Expr::is_volatile)
        {
            return Ok(None);
        }
        let mut args = Vec::with_capacity(params.args.len());
        for arg in params.args {
            let mut missing = false;
            let arg = arg
                .transform_up(|e| match e {
                    Expr::Column(c) => match renamed(&c) {
                        Some(c) => Ok(Transformed::yes(Expr::Column(c))),
                        None => {
                            missing = true;
                            Ok(Transformed::no(Expr::Column(c)))
                        }
                    },
                    other => Ok(Transformed::no(other)),
                })?
                .data;
            if missing {
                return Ok(None);
            }
            args.push(arg);
        }
        let mut window = WindowFunction::new(WindowFunctionDefinition::AggregateUDF(func), args);
        window.params.partition_by = vec![Expr::Column(partition.clone())];
        let window = Expr::from(window);
        match windows.iter().position(|w| *w == window) {
            Some(i) => at.push(i),
            None => {
                at.push(windows.len());
                windows.push(window);
            }
        }
    }
    let windowed = LogicalPlanBuilder::from(joined_plan.clone())
        .window(windows)?
        .build()?;
    // The aggregate's output columns, as the window computes them.
    let window_columns = windowed.schema().columns();
    let first_window = carried.fields().len();
    let aggregate_columns = grouped.aggregate.schema.columns();
    let mut values: HashMap<Column, Expr> = HashMap::new();
    for (i, column) in aggregate_columns.into_iter().enumerate() {
        let value = match i.checked_sub(grouped.aggregate.group_expr.len()) {
            None => Expr::Column(partition.clone()),
            Some(a) => match at.get(a).and_then(|i| window_columns.get(first_window + i)) {
                Some(window) => Expr::Column(window.clone()),
                None => return Ok(None),
            },
        };
        values.insert(column, value);
    }
    // The aggregate side's columns under the alias the join's condition names them by.
    let mut exprs: Vec<Expr> = carried.columns().into_iter().map(Expr::Column).collect();
    let aliased = grouped.alias.schema().columns();
    for (i, column) in aliased.into_iter().enumerate() {
        let Some(source) = grouped.source(i) else {
            return Ok(None);
        };
        let value = source
            .transform_up(|e| match e {
                Expr::Column(c) => match values.get(&c) {
                    Some(v) => Ok(Transformed::yes(v.clone())),
                    None => Ok(Transformed::no(Expr::Column(c))),
                },
                other => Ok(Transformed::no(other)),
            })?
            .data;
        exprs.push(value.alias_qualified(column.relation, column.name));
    }
    let mut plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(windowed))?);
    if let Some(condition) = &join.filter {
        plan = LogicalPlan::Filter(Filter::try_new(condition.clone(), Arc::new(plan))?);
    }
    // The join's own columns, in its order.
    let output = join
        .schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    Ok(Some(LogicalPlan::Projection(Projection::try_new(
        output,
        Arc::new(plan),
    )?)))
}
