//! Eager aggregation: an aggregate over an inner join computed in part below the join, on
//! the side its arguments come from, grouped by that side's join keys, when the estimates
//! say that removes most of that side's rows.
//!
//! TPC-DS q22 averages a year of inventory (2.3 M rows at SF 1) by a rollup of four text
//! columns of `item`. DataFusion joins every inventory row with its item and groups the
//! joined rows by text, five grouping sets each; the items are 18 K. Summed and counted per
//! item key first, the join meets 18 K rows and the rollup groups as many. This is the
//! rewrite of Yan and Larson's "eager aggregation": for an aggregate whose arguments all
//! come from one side of its input join,
//!
//! ```text
//! Aggregate(G; sum(x), count(x), min(x), max(x), avg(x))
//!   Join(S, R; S.k = R.k)
//! ```
//!
//! becomes, with `P` grouped by `S.k` and the grouping columns of `G` that `S` has,
//!
//! ```text
//! Projection(G; s, c, mn, mx, s / c)
//!   Aggregate(G; s = sum(ps), c = sum(pc), mn = min(pmn), mx = max(pmx))
//!     Join(P, R; P.k = R.k)
//!       P = Aggregate(S.k, G ∩ S; ps = sum(x), pc = count(x), pmn = min(x), pmx = max(x))
//! ```
//!
//! Each joined row of the original stands for one pair of an `S` row and an `R` row, so a
//! sum over the pairs is the sum over `R`'s matches of the partial sums, whatever the join's
//! multiplicity. Only decomposable aggregates qualify (sum, count, min, max, and avg of a
//! float), without `DISTINCT`, `FILTER` or `ORDER BY`, grouped by some column of `R`, `R`
//! one table. It pays only where the partial groups are few next to `S`'s rows and the
//! join keeps most of them (a join that filters `S` is better met first), by the join
//! order's estimates.
//! The partial aggregate may move on below the next join of `S` in turn. The rewrite runs
//! in the query planner after the join order, under the same switch (`join_order =
//! "written"` keeps the written plan).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::Session;
use datafusion::common::{Column, DFSchema, Result};
use datafusion::functions_aggregate::average::Avg;
use datafusion::functions_aggregate::count::{Count, count_udaf};
use datafusion::functions_aggregate::min_max::{Max, Min};
use datafusion::functions_aggregate::sum::{Sum, sum_udaf};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{
    Aggregate, AggregateUDF, Expr, ExprSchemable, GroupingSet, Join, LogicalPlan, Projection, cast,
};
use datafusion::physical_planner::DefaultPhysicalPlanner;
use futures::future::BoxFuture;

use super::group_keys::passes_columns;
use super::join_order::{JoinOrderNode, estimate, region_join};
use super::node::inputs_rewritten;

/// How many rows of the joined side each partial group must stand for, by the estimates,
/// for the rewrite: a partial aggregate costs a hash table over that side's rows, which
/// only a large reduction repays.
const REQUIRED_REDUCTION: f64 = 10.0;

/// The same where the aggregate groups by text of the other side: the join copies that
/// text onto every row of this side, and grouping by text costs several times what
/// grouping by integer keys does. TPC-DS q4, q11 and q74 group a year of sales (523 K rows)
/// by customer names and addresses; summed per customer key first, about 90 K rows meet
/// them. The estimate of the groups is the key's distinct values in the whole table, which
/// a year of catalog orders (ten lines each, one customer) overstates: q4's catalog and web
/// sides, rated 2.9× fewer groups than rows, have ten times fewer, and the query runs in
/// four fifths of the time with them grouped early.
const TEXT_REQUIRED_REDUCTION: f64 = 2.5;

/// The least share of the joined side's rows the join must keep, by the estimates.
const MIN_KEPT: f64 = 0.5;

/// The most joins the joined side may hold.
const MAX_JOINS_BELOW: usize = 2;

/// `plan` with every aggregate that qualifies computed in part below its join, or `None`
/// when none does. `planner` plans the joined sides to read their statistics.
pub(super) fn aggregate_early<'a>(
    plan: &'a LogicalPlan,
    planner: &'a DefaultPhysicalPlanner,
    session: &'a dyn Session,
) -> BoxFuture<'a, Result<Option<LogicalPlan>>> {
    Box::pin(async move {
        let names = AtomicUsize::new(0);
        visit(plan, &names, planner, session).await
    })
}

/// `plan` rewritten from the top down, so that a partial aggregate placed below one join
/// is tried below the next. `names` numbers the partial results' columns (shared by every
/// input's walk, hence a counter behind a shared reference).
fn visit<'a>(
    plan: &'a LogicalPlan,
    names: &'a AtomicUsize,
    planner: &'a DefaultPhysicalPlanner,
    session: &'a dyn Session,
) -> BoxFuture<'a, Result<Option<LogicalPlan>>> {
    Box::pin(async move {
        if let LogicalPlan::Aggregate(aggregate) = plan
            && let Some(rewritten) = push_down(aggregate, names, planner, session).await?
        {
            let again = visit(&rewritten, names, planner, session).await?;
            return Ok(Some(again.unwrap_or(rewritten)));
        }
        inputs_rewritten(plan, |input| visit(input, names, planner, session)).await
    })
}

/// The join below an aggregate (its plan and the join), through column-only projections
/// and the nodes that plan to their input (a reordered region's), with those nodes from
/// the top down.
fn join_below(plan: &LogicalPlan) -> Option<(Vec<&LogicalPlan>, &LogicalPlan, &Join)> {
    let mut wrappers = Vec::new();
    let mut current = plan;
    loop {
        match current {
            LogicalPlan::Projection(p) if passes_columns(p) => current = &p.input,
            LogicalPlan::Extension(e) if e.node.as_any().is::<JoinOrderNode>() => {
                wrappers.push(current);
                current = e.node.inputs().first().copied()?;
            }
            _ => break,
        }
    }
    region_join(current).map(|join| (wrappers, current, join))
}

/// The aggregate computed in part below its join, under a projection that gives the
/// aggregate's own columns, or `None` when it does not qualify or would not pay.
async fn push_down(
    aggregate: &Aggregate,
    names: &AtomicUsize,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Result<Option<LogicalPlan>> {
    let Some((wrappers, join_plan, join)) = join_below(&aggregate.input) else {
        return Ok(None);
    };
    let Some(grouping) = grouping_columns(&aggregate.group_expr) else {
        return Ok(None);
    };
    // The side every aggregate's arguments come from.
    let mut columns = Vec::new();
    for expr in &aggregate.aggr_expr {
        columns.extend(expr.column_refs().into_iter().cloned());
    }
    let left_has = |c: &Column| join.left.schema().has_column(c);
    let right_has = |c: &Column| join.right.schema().has_column(c);
    let left_side = match (columns.iter().all(left_has), columns.iter().all(right_has)) {
        _ if columns.is_empty() => return Ok(None),
        (true, false) => true,
        (false, true) => false,
        _ => return Ok(None),
    };
    let (side, other) = match left_side {
        true => (&join.left, &join.right),
        false => (&join.right, &join.left),
    };
    // A side that is grouped already gains nothing from a second grouping (and the
    // rewrite's own result would be tried again).
    if matches!(strip_projections(side), LogicalPlan::Aggregate(_)) {
        return Ok(None);
    }
    // Grouped only by the side's own columns, the join above merely filters the groups:
    // nothing is saved there, and the side's rows are grouped twice.
    if !grouping.iter().any(|c| other.schema().has_column(c)) {
        return Ok(None);
    }
    // DataFusion's estimates for a deeper join are too rough to go by, and planning it to
    // read them costs time on every query. The other side's keys after a join of its own
    // are a guess, and where that join keeps few of them (TPC-DS q8's stores near the
    // right zip codes), the join's dynamic filter prunes this side's scan at run time,
    // which a partial aggregate in between would stop.
    if joins_in(side) > MAX_JOINS_BELOW || joins_in(other) > 0 {
        return Ok(None);
    }
    // The side's columns the rest of the plan reads: its join keys, the join's other
    // condition, and the grouping columns.
    let mut pairs: Vec<(Column, Column)> = Vec::new();
    for (l, r) in &join.on {
        let (Expr::Column(l), Expr::Column(r)) = (l, r) else {
            return Ok(None);
        };
        pairs.push(match left_side {
            true => (l.clone(), r.clone()),
            false => (r.clone(), l.clone()),
        });
    }
    let by_text = grouping.iter().any(|c| {
        other
            .schema()
            .qualified_field_from_column(c)
            .is_ok_and(|(_, f)| f.data_type().is_string())
    });
    let required = match by_text {
        true => TEXT_REQUIRED_REDUCTION,
        false => REQUIRED_REDUCTION,
    };
    let mut keys: Vec<Column> = pairs.iter().map(|(own, _)| own.clone()).collect();
    if let Some(filter) = &join.filter {
        keys.extend(filter.column_refs().into_iter().cloned());
    }
    keys.extend(grouping);
    let mut unique_keys: Vec<Column> = Vec::with_capacity(keys.len());
    for key in keys {
        if side.schema().has_column(&key) && !unique_keys.contains(&key) {
            unique_keys.push(key);
        }
    }
    let Some(split) = split_aggregates(aggregate, side.schema(), names)? else {
        return Ok(None);
    };
    if !pays(
        side,
        other,
        &pairs,
        &unique_keys,
        required,
        planner,
        session,
    )
    .await
    {
        return Ok(None);
    }
    let partial = LogicalPlan::Aggregate(Aggregate::try_new(
        Arc::clone(side),
        unique_keys.into_iter().map(Expr::Column).collect(),
        split.partial,
    )?);
    let joined_inputs = match left_side {
        true => vec![partial, other.as_ref().clone()],
        false => vec![other.as_ref().clone(), partial],
    };
    let mut joined = join_plan.with_new_exprs(join_plan.expressions(), joined_inputs)?;
    for wrapper in wrappers.into_iter().rev() {
        joined = wrapper.with_new_exprs(wrapper.expressions(), vec![joined])?;
    }
    let merged = Aggregate::try_new(Arc::new(joined), aggregate.group_expr.clone(), split.merge)?;
    let group_fields = merged.group_expr_len()?;
    let merged_schema = Arc::clone(&merged.schema);
    let mut exprs: Vec<Expr> = merged_schema
        .iter()
        .take(group_fields)
        .map(|(qualifier, field)| Expr::Column(Column::new(qualifier.cloned(), field.name())))
        .collect();
    for (finish, (qualifier, field)) in split
        .finish
        .into_iter()
        .zip(aggregate.schema.iter().skip(group_fields))
    {
        let typed = match finish.get_type(&merged_schema)? {
            t if &t == field.data_type() => finish,
            _ => cast(finish, field.data_type().clone()),
        };
        exprs.push(typed.alias_qualified(qualifier.cloned(), field.name()));
    }
    let projection = Projection::try_new(exprs, Arc::new(LogicalPlan::Aggregate(merged)))?;
    // The plan above reads the aggregate's columns by name and type: anything else and the
    // aggregate stays as it was.
    let same = projection.schema.fields().len() == aggregate.schema.fields().len()
        && projection
            .schema
            .iter()
            .zip(aggregate.schema.iter())
            .all(|((q1, f1), (q2, f2))| {
                q1 == q2 && f1.name() == f2.name() && f1.data_type() == f2.data_type()
            });
    Ok(same.then_some(LogicalPlan::Projection(projection)))
}

/// The columns an aggregate groups by, in any of its grouping sets, or `None` when one is
/// not a plain column.
fn grouping_columns(group_expr: &[Expr]) -> Option<Vec<Column>> {
    let mut columns = Vec::new();
    for expr in group_expr {
        let members: Vec<&Expr> = match expr {
            Expr::GroupingSet(GroupingSet::Rollup(exprs) | GroupingSet::Cube(exprs)) => {
                exprs.iter().collect()
            }
            Expr::GroupingSet(GroupingSet::GroupingSets(sets)) => sets.iter().flatten().collect(),
            other => vec![other],
        };
        for member in members {
            let Expr::Column(column) = member else {
                return None;
            };
            if !columns.contains(column) {
                columns.push(column.clone());
            }
        }
    }
    Some(columns)
}

/// `plan` below its projections.
fn strip_projections(plan: &LogicalPlan) -> &LogicalPlan {
    match plan {
        LogicalPlan::Projection(p) => strip_projections(&p.input),
        other => other,
    }
}

/// Whether grouping `side` by `keys` pays, by the estimates (`false` without them): each
/// group stands for `required` of its rows, and the join with `other` on `pairs` (the
/// side's column, the other's) keeps at least half of them. A join that filters the side
/// (a week of dates) is better met first: below it, the partial aggregate would group
/// every row the join would have dropped.
async fn pays(
    side: &LogicalPlan,
    other: &LogicalPlan,
    pairs: &[(Column, Column)],
    keys: &[Column],
    required: f64,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> bool {
    // The other side first: usually one table, cheap to plan, and often what rules out.
    let theirs: Vec<&Column> = pairs.iter().map(|(_, theirs)| theirs).collect();
    let Some(others) = estimate::relation(other, &theirs, planner, session).await else {
        return false;
    };
    let mine: Vec<&Column> = pairs.iter().map(|(mine, _)| mine).chain(keys).collect();
    let Some(own) = estimate::relation(side, &mine, planner, session).await else {
        return false;
    };
    let distinct = |relation: &estimate::Relation, plan: &LogicalPlan, column: &Column| {
        plan.schema()
            .maybe_index_of_column(column)
            .map(|index| relation.distinct_of(index))
    };
    for (mine, theirs) in pairs {
        let (Some(mine), Some(theirs)) =
            (distinct(&own, side, mine), distinct(&others, other, theirs))
        else {
            return false;
        };
        // Under containment, the share of this side's key values the other side has.
        if theirs / mine < MIN_KEPT {
            return false;
        }
    }
    let mut groups = 1.0_f64;
    for key in keys {
        let Some(d) = distinct(&own, side, key) else {
            return false;
        };
        groups *= d;
    }
    groups.min(own.rows) * required <= own.rows
}

/// How many joins `plan` holds.
fn joins_in(plan: &LogicalPlan) -> usize {
    let below: usize = plan.inputs().into_iter().map(joins_in).sum();
    below + usize::from(matches!(plan, LogicalPlan::Join(_)))
}

/// An aggregate's expressions split in three: the partial aggregates below the join, the
/// aggregates that merge them above it, and the expressions that finish each of the
/// original aggregates from the merged columns.
struct Split {
    partial: Vec<Expr>,
    merge: Vec<Expr>,
    finish: Vec<Expr>,
}

/// The split of `aggregate`'s expressions over `side`, or `None` when one does not
/// decompose.
fn split_aggregates(
    aggregate: &Aggregate,
    side: &DFSchema,
    names: &AtomicUsize,
) -> Result<Option<Split>> {
    let mut split = Split {
        partial: Vec::new(),
        merge: Vec::new(),
        finish: Vec::new(),
    };
    // One partial column and its merge: `merge` applied to the partial result `partial`.
    let add = |split: &mut Split, partial: Expr, merge: &dyn Fn(Expr) -> Expr| {
        // The walk is sequential: the counter only needs to hand out each number once.
        let n = names.fetch_add(1, Ordering::Relaxed) + 1;
        let partial_name = format!("__canon_partial_{n}");
        let merged_name = format!("__canon_merged_{n}");
        split.partial.push(partial.alias(&partial_name));
        split
            .merge
            .push(merge(Expr::Column(Column::from_name(partial_name))).alias(&merged_name));
        Expr::Column(Column::from_name(merged_name))
    };
    for expr in &aggregate.aggr_expr {
        let Expr::AggregateFunction(function) = strip_alias(expr) else {
            return Ok(None);
        };
        if !is_plain(function) {
            return Ok(None);
        }
        let args = &function.params.args;
        let finish = if let Some(merge) = merging(function) {
            // A sum of sums or of counts (a group above the join has one joined row at
            // least, so a sum of counts is never null, as a count is not), a minimum of
            // minimums, a maximum of maximums.
            let partial = Expr::AggregateFunction(function.clone());
            add(&mut split, partial, &|merged| merge.call(vec![merged]))
        } else if function.func.inner().is::<Avg>() && is_float(args, side)? {
            // The sum of the sums over the sum of the counts (nulls counted by neither).
            let sum = add(&mut split, sum_udaf().call(args.clone()), &|merged| {
                sum_udaf().call(vec![merged])
            });
            let counted = add(&mut split, count_udaf().call(args.clone()), &|merged| {
                sum_udaf().call(vec![merged])
            });
            sum / cast(counted, DataType::Float64)
        } else {
            return Ok(None);
        };
        split.finish.push(finish);
    }
    Ok(Some(split))
}

/// Whether `args` is one 64-bit float (an average DataFusion computes in floats, whose
/// sum of sums is the same sum in another order).
fn is_float(args: &[Expr], side: &DFSchema) -> Result<bool> {
    match args {
        [arg] => Ok(arg.get_type(side)? == DataType::Float64),
        _ => Ok(false),
    }
}

/// Whether `function` aggregates its arguments as they come: no `DISTINCT`, `FILTER`,
/// `ORDER BY` or null treatment.
pub(super) fn is_plain(function: &AggregateFunction) -> bool {
    let params = &function.params;
    !params.distinct
        && params.filter.is_none()
        && params.order_by.is_empty()
        && params.null_treatment.is_none()
}

/// The aggregate that merges `function`'s results over parts of a group into the group's:
/// the same sum, minimum or maximum, or the sum of counts; `None` for any other.
pub(super) fn merging(function: &AggregateFunction) -> Option<Arc<AggregateUDF>> {
    let inner = function.func.inner();
    if inner.is::<Sum>() || inner.is::<Min>() || inner.is::<Max>() {
        Some(Arc::clone(&function.func))
    } else if inner.is::<Count>() {
        Some(sum_udaf())
    } else {
        None
    }
}

/// `expr` without the aliases around it.
pub(super) fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => strip_alias(&alias.expr),
        other => other,
    }
}
