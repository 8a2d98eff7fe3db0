//! Scan reduction: an input that meets a filtered table through an inner join, with other
//! joins in between, reads only the rows whose key that table holds.
//!
//! TPC-H q7 keeps the shipments between two nations: DataFusion joins all of supplier with
//! two years of lineitem, then orders and customer, and only then meets `nation` filtered
//! to France and Germany, so 1.8 M rows cross three joins to leave 5,900. A row of the
//! join's other side survives only if its key is among those of the filtered scan, and
//! that key is a column some input deeper down passes on unchanged through inner joins,
//! filters and projections. So that input may read `input ⋉ π_key(filtered scan)` instead:
//! supplier keeps the suppliers of the two nations before it meets lineitem.
//!
//! The key source is a filtered scan of files, as for the group-key reduction (selective,
//! cheap to read again, the same rows both times), and the key is unique there (a declared
//! key): the join looks up a filtered dimension, whose keys are few next to the rows they
//! filter. Without that, q3 would read two thirds of lineitem again to filter orders. For
//! the same reason the reduced input's column is not part of its own declared key: q8's
//! lineitem is not filtered by the 457,000 orders of two years. The input reduced is the first one on
//! the key's way down that has no join under it, and only when a join lies between it and
//! the filtering join: right under that join, DataFusion's own dynamic filter does the
//! work. An input is not reduced twice by the same key.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Constraint, JoinConstraint, JoinType, NullEquality, Result};
use datafusion::logical_expr::{Expr, Filter, Join, LogicalPlan, Projection};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::RereadsAlike;
use super::group_keys::{key_name, key_set, passes_columns, projected_indices, through_columns};
use super::keys::{SCAN_KEYS_ALIAS, is_unique};
use super::node::with_sides;

/// Semi-joins an input deep in one side of an inner join with the keys of the filtered
/// scan on the other side.
#[derive(Debug, Clone, Copy)]
pub struct ScanReduction {
    rereads_alike: RereadsAlike,
}

impl ScanReduction {
    /// The rule, taking key sets only from tables `rereads_alike` vouches for.
    pub fn new(rereads_alike: RereadsAlike) -> Self {
        Self { rereads_alike }
    }
}

impl OptimizerRule for ScanReduction {
    fn name(&self) -> &str {
        "canon_scan_reduction"
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
        if join.join_type != JoinType::Inner || join.null_aware {
            return Ok(Transformed::no(plan));
        }
        for keys_on_right in [true, false] {
            if let Some(reduced) = reduce(join, keys_on_right, self.rereads_alike)? {
                return Ok(Transformed::yes(LogicalPlan::Join(reduced)));
            }
        }
        Ok(Transformed::no(plan))
    }
}

/// The join with one input of its reduced side semi-joined with the other side's keys, or
/// `None` when no equi-join key allows it.
fn reduce(join: &Join, keys_on_right: bool, rereads_alike: RereadsAlike) -> Result<Option<Join>> {
    let (reduced_side, key_side) = if keys_on_right {
        (&join.left, &join.right)
    } else {
        (&join.right, &join.left)
    };
    for (left, right) in &join.on {
        let (reduced_key, key) = if keys_on_right {
            (left, right)
        } else {
            (right, left)
        };
        let (Expr::Column(reduced_key), Expr::Column(key)) = (reduced_key, key) else {
            continue;
        };
        let (Some(index), Some(key_index)) = (
            reduced_side.schema().maybe_index_of_column(reduced_key),
            key_side.schema().maybe_index_of_column(key),
        ) else {
            continue;
        };
        // Each key-side row then meets its own rows of the other side, the shape of a
        // filtered dimension, whose keys are few next to what they filter.
        if !is_unique(key_side.schema(), key_index) {
            continue;
        }
        // The key set is built only once an input to reduce is found.
        let keys = || key_set(key_side, &[key_index], rereads_alike, SCAN_KEYS_ALIAS);
        let Some(reduced) = reduce_input(reduced_side, index, &keys, join.null_equality, false)?
        else {
            continue;
        };
        let reduced = Arc::new(reduced);
        let (left, right) = if keys_on_right {
            (reduced, Arc::clone(&join.right))
        } else {
            (Arc::clone(&join.left), reduced)
        };
        return with_sides(join, left, right).map(Some);
    }
    Ok(None)
}

/// `plan` with the input that passes on its column at `index` semi-joined with `keys`:
/// the first input on the way down without a join under it, reached through inner joins,
/// left semi and anti joins, filters, aliases and column projections. `None` when there
/// is none, no join lies between (`below_join`), it is reduced by this key already, or
/// there is no key set.
fn reduce_input(
    plan: &LogicalPlan,
    index: usize,
    keys: &dyn Fn() -> Result<Option<LogicalPlan>>,
    null_equality: NullEquality,
    below_join: bool,
) -> Result<Option<LogicalPlan>> {
    let has_join = plan
        .exists(|p| Ok(matches!(p, LogicalPlan::Join(_))))
        .unwrap_or(true);
    if !has_join {
        if !below_join || is_in_key(plan, index) {
            return Ok(None);
        }
        let Some(keys) = keys()? else {
            return Ok(None);
        };
        let column = Column::from(plan.schema().qualified_field(index));
        let key = Column::new(Some(SCAN_KEYS_ALIAS), key_name(0));
        let semi = Join::try_new(
            Arc::new(plan.clone()),
            Arc::new(keys),
            vec![(Expr::Column(column), Expr::Column(key))],
            None,
            JoinType::LeftSemi,
            JoinConstraint::On,
            null_equality,
            false,
        )?;
        return Ok(Some(LogicalPlan::Join(semi)));
    }
    match plan {
        LogicalPlan::Join(join) => reduce_join_input(join, index, keys, null_equality),
        _ => through_columns(plan, &[index], |input, inner| match inner {
            [inner] => reduce_input(input, *inner, keys, null_equality, below_join),
            _ => Ok(None),
        }),
    }
}

/// The join with the side that holds its column at `index` reduced.
fn reduce_join_input(
    join: &Join,
    index: usize,
    keys: &dyn Fn() -> Result<Option<LogicalPlan>>,
    null_equality: NullEquality,
) -> Result<Option<LogicalPlan>> {
    let left_width = join.left.schema().fields().len();
    let (left, right) = match join.join_type {
        JoinType::LeftSemi | JoinType::LeftAnti if is_reduced_by(join, index) => return Ok(None),
        JoinType::LeftSemi | JoinType::LeftAnti | JoinType::Inner if index < left_width => {
            match reduce_input(&join.left, index, keys, null_equality, true)? {
                Some(left) => (Arc::new(left), Arc::clone(&join.right)),
                None => return Ok(None),
            }
        }
        JoinType::Inner => {
            let Some(inner) = index.checked_sub(left_width) else {
                return Ok(None);
            };
            match reduce_input(&join.right, inner, keys, null_equality, true)? {
                Some(right) => (Arc::clone(&join.left), Arc::new(right)),
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    with_sides(join, left, right).map(|join| Some(LogicalPlan::Join(join)))
}

/// Whether the column at `index` of `plan` is a table's column that is part of a key the
/// table declares: a detail table's key holds its master's (lineitem's holds the order),
/// and a master is no small dimension; filtering by its keys builds a hash table as large
/// as the join it precedes. Unknown origins count as keys.
fn is_in_key(plan: &LogicalPlan, index: usize) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let column = match &scan.projection {
                Some(projection) => projection.get(index).copied(),
                None => Some(index),
            };
            let Some(column) = column else {
                return true;
            };
            scan.source.constraints().is_some_and(|constraints| {
                constraints.iter().any(|constraint| match constraint {
                    Constraint::PrimaryKey(columns) | Constraint::Unique(columns) => {
                        columns.contains(&column)
                    }
                })
            })
        }
        LogicalPlan::Filter(filter) => is_in_key(&filter.input, index),
        LogicalPlan::SubqueryAlias(alias) => is_in_key(&alias.input, index),
        LogicalPlan::Projection(projection) => match projected_indices(projection, &[index]) {
            Some(inner) => inner
                .first()
                .is_none_or(|&i| is_in_key(&projection.input, i)),
            None => true,
        },
        _ => true,
    }
}

/// Whether `join` is a key set this rule added for the left column at `index`.
fn is_reduced_by(join: &Join, index: usize) -> bool {
    let column = Column::from(join.left.schema().qualified_field(index));
    key_set_on(join, &column).is_some()
}

/// The key set this rule semi-joined `join`'s left `column` with (below its alias), when
/// `join` is one of the rule's.
fn key_set_on<'a>(join: &'a Join, column: &Column) -> Option<&'a LogicalPlan> {
    let LogicalPlan::SubqueryAlias(alias) = join.right.as_ref() else {
        return None;
    };
    let on_column = join
        .on
        .iter()
        .any(|(left, _)| matches!(left, Expr::Column(c) if c == column));
    (alias.alias.table() == SCAN_KEYS_ALIAS && on_column).then_some(alias.input.as_ref())
}

/// Whether `plan` is semi-joined by this rule with the keys `semi` filters by: on the same
/// column, with a key set of the same column of the rows `semi`'s right side reads (through
/// projections of columns). `semi` then keeps every row of `plan`.
pub(super) fn is_reduced_like(plan: &LogicalPlan, semi: &Join) -> bool {
    let [(Expr::Column(column), Expr::Column(key))] = semi.on.as_slice() else {
        return false;
    };
    let reduced = match plan {
        LogicalPlan::Join(join) => join,
        LogicalPlan::Projection(projection) if passes_columns(projection) => {
            return is_reduced_like(&projection.input, semi);
        }
        _ => return false,
    };
    let Some(LogicalPlan::Projection(keys)) = key_set_on(reduced, column) else {
        return false;
    };
    reduced.join_type == JoinType::LeftSemi
        && reduced.filter.is_none()
        && semi.filter.is_none()
        && semi.null_equality == reduced.null_equality
        && reads_column_of(&semi.right, key, keys)
}

/// Whether `plan`'s column `key` is the single column the key set projection `keys`
/// projects, over the same rows.
fn reads_column_of(plan: &LogicalPlan, key: &Column, keys: &Projection) -> bool {
    let [Expr::Alias(projected)] = keys.expr.as_slice() else {
        return false;
    };
    if !matches!(projected.expr.as_ref(), Expr::Column(c) if c == key) {
        return false;
    }
    let mut plan = plan;
    loop {
        if plan == keys.input.as_ref() {
            return true;
        }
        match plan {
            LogicalPlan::Projection(projection) if passes_columns(projection) => {
                plan = &projection.input;
            }
            _ => return false,
        }
    }
}

/// `plan` without the key sets the join order made redundant, or `None` when none is:
/// an input reduced by the keys of a filtered scan and then joined or semi-joined with
/// that same scan on the key column keeps only rows with those keys anyway, and the join's
/// dynamic filter prunes its scan as the semi join did. The rule reduces inputs for the
/// written order; once the order puts the scan right next to the input (TPC-DS q74's year
/// of dates next to its sales), the semi join only costs a second read of the scan and a
/// hash table.
pub(super) fn drop_redundant(plan: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    // Every query is planned through here, and most hold no key set: the rewrite below
    // rebuilds the whole plan, the walk only reads it.
    let mut has_key_set = false;
    plan.apply_with_subqueries(|node| {
        has_key_set = matches!(node, LogicalPlan::SubqueryAlias(alias)
            if alias.alias.table() == SCAN_KEYS_ALIAS);
        Ok(match has_key_set {
            true => TreeNodeRecursion::Stop,
            false => TreeNodeRecursion::Continue,
        })
    })?;
    if !has_key_set {
        return Ok(None);
    }
    let rewritten = plan.clone().transform_up_with_subqueries(|node| {
        let LogicalPlan::Join(join) = &node else {
            return Ok(Transformed::no(node));
        };
        let mut current = join.clone();
        let mut changed = false;
        while let Some(next) = without_one_key_set(&current)? {
            current = next;
            changed = true;
        }
        Ok(match changed {
            true => Transformed::yes(LogicalPlan::Join(current)),
            false => Transformed::no(node),
        })
    })?;
    Ok(rewritten.transformed.then_some(rewritten.data))
}

/// `join` with one redundant key set below one of its sides removed, if there is one.
fn without_one_key_set(join: &Join) -> Result<Option<Join>> {
    // The sides whose rows the join keeps only where they match the other's (a semi join
    // that is one already, where the dimension's columns are not read: TPC-DS q7 with
    // keys). A join that keeps NULL keys would keep rows a semi join on them had dropped.
    let (left_side, right_side) = match join.join_type {
        _ if join.null_equality != NullEquality::NullEqualsNothing => return Ok(None),
        JoinType::Inner => (true, true),
        JoinType::LeftSemi => (true, false),
        JoinType::RightSemi => (false, true),
        _ => return Ok(None),
    };
    for (left, right) in &join.on {
        let (Expr::Column(left), Expr::Column(right)) = (left, right) else {
            continue;
        };
        if left_side && let Some(new_left) = without_key_set(&join.left, left, &join.right, right)?
        {
            return with_sides(join, Arc::new(new_left), Arc::clone(&join.right)).map(Some);
        }
        if right_side
            && let Some(new_right) = without_key_set(&join.right, right, &join.left, left)?
        {
            return with_sides(join, Arc::clone(&join.left), Arc::new(new_right)).map(Some);
        }
    }
    Ok(None)
}

/// `side` without the key set on its `column` that holds the keys of `other`'s `key`
/// column (the same rows of the same table), reached through column projections, filters
/// and the kept side of semi and anti joins, which only drop rows (TPC-DS q79 with keys
/// semi-joins its sales with the dates between the key set and the demographics); `None`
/// when there is none. Not through inner joins: there the key set spares the join rows.
fn without_key_set(
    side: &LogicalPlan,
    column: &Column,
    other: &LogicalPlan,
    key: &Column,
) -> Result<Option<LogicalPlan>> {
    match side {
        LogicalPlan::Projection(projection) if passes_columns(projection) => {
            let Some(input) = without_key_set(&projection.input, column, other, key)? else {
                return Ok(None);
            };
            let projection = Projection::try_new_with_schema(
                projection.expr.clone(),
                Arc::new(input),
                Arc::clone(&projection.schema),
            )?;
            Ok(Some(LogicalPlan::Projection(projection)))
        }
        LogicalPlan::Filter(filter) => {
            let Some(input) = without_key_set(&filter.input, column, other, key)? else {
                return Ok(None);
            };
            Filter::try_new(filter.predicate.clone(), Arc::new(input))
                .map(|filter| Some(LogicalPlan::Filter(filter)))
        }
        LogicalPlan::Join(semi)
            if matches!(semi.join_type, JoinType::LeftSemi | JoinType::LeftAnti) =>
        {
            if semi.join_type == JoinType::LeftSemi
                && let Some(LogicalPlan::Projection(keys)) = key_set_on(semi, column)
                && keys_of(keys, other, key)
            {
                return Ok(Some(semi.left.as_ref().clone()));
            }
            let Some(left) = without_key_set(&semi.left, column, other, key)? else {
                return Ok(None);
            };
            with_sides(semi, Arc::new(left), Arc::clone(&semi.right))
                .map(|semi| Some(LogicalPlan::Join(semi)))
        }
        LogicalPlan::Join(semi)
            if matches!(semi.join_type, JoinType::RightSemi | JoinType::RightAnti) =>
        {
            let Some(right) = without_key_set(&semi.right, column, other, key)? else {
                return Ok(None);
            };
            with_sides(semi, Arc::clone(&semi.left), Arc::new(right))
                .map(|semi| Some(LogicalPlan::Join(semi)))
        }
        _ => Ok(None),
    }
}

/// Whether the key set projection `keys` projects the column named as `key` from the same
/// rows `other` reads.
fn keys_of(keys: &Projection, other: &LogicalPlan, key: &Column) -> bool {
    let [Expr::Alias(projected)] = keys.expr.as_slice() else {
        return false;
    };
    matches!(projected.expr.as_ref(), Expr::Column(c) if c.name == key.name)
        && same_rows(&keys.input, other)
}

/// Whether `a` and `b` read the same rows of the same table: the same filters over a scan
/// of it, under column projections and aliases.
fn same_rows(a: &LogicalPlan, b: &LogicalPlan) -> bool {
    match (a, b) {
        (LogicalPlan::Projection(p), _) if passes_columns(p) => same_rows(&p.input, b),
        (_, LogicalPlan::Projection(p)) if passes_columns(p) => same_rows(a, &p.input),
        (LogicalPlan::SubqueryAlias(alias), _) => same_rows(&alias.input, b),
        (_, LogicalPlan::SubqueryAlias(alias)) => same_rows(a, &alias.input),
        (LogicalPlan::Filter(x), LogicalPlan::Filter(y)) => {
            x.predicate == y.predicate && same_rows(&x.input, &y.input)
        }
        (LogicalPlan::TableScan(x), LogicalPlan::TableScan(y)) => {
            x.table_name == y.table_name
                && x.filters == y.filters
                && x.fetch.is_none()
                && y.fetch.is_none()
        }
        _ => false,
    }
}
