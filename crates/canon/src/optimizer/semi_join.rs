//! Semi-join pushdown: a key-set semi join moves below the inner joins, onto the input
//! that holds its keys, or goes where the scan reduction's copy of it already filters.
//!
//! DataFusion decorrelates `x IN (SELECT k … GROUP BY k HAVING …)` into a left semi join
//! on top of the query's joins, so TPC-H q18 joins every order with all of lineitem before
//! keeping the handful of orders whose key is in the set. A semi join only filters its left
//! input by columns of that input, so it commutes with an inner join whenever those columns
//! all come from one side: `(A ⋈ B) ⋉ S = (A ⋉ S) ⋈ B`. The rule applies that identity
//! when the right side is a *key set*, unique on the join keys (an aggregate grouped by
//! them, or a declared key), so that each left row meets at most one set row and the semi
//! join is a plain membership filter. It leaves correlated `EXISTS` over a detail table
//! (TPC-H q21) where DataFusion put it: pushed onto the big side, that would filter more
//! rows, not fewer.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, JoinType, Result};
use datafusion::logical_expr::{Expr, Join, LogicalPlan, Projection};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::group_keys::passes_columns;
use super::join_order::is_dimension;
use super::keys::{is_added_key_set, unique_on};
use super::node::with_sides;
use super::scan_keys::is_reduced_like;

/// Moves a left semi join whose right side is unique on the join keys below the inner
/// joins under it, onto the input that holds every left column it reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct SemiJoinPushdown;

impl OptimizerRule for SemiJoinPushdown {
    fn name(&self) -> &str {
        "canon_semi_join_pushdown"
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
        let LogicalPlan::Join(semi) = plan else {
            return Ok(Transformed::no(plan));
        };
        match push_down(&semi)? {
            Some(pushed) => Ok(Transformed::yes(pushed)),
            None => Ok(Transformed::no(LogicalPlan::Join(semi))),
        }
    }
}

/// `(A ⋈ B) ⋉ S` as `(A ⋉ S) ⋈ B` (or `A ⋈ (B ⋉ S)`), when that is sound and `S` is a
/// key set; the left input alone where the semi join keeps every row of it (see
/// [`is_redundant`]); `None` when the rule does not apply. A projection of plain columns
/// between the semi join and the inner join (DataFusion prunes columns there) is passed
/// first.
fn push_down(semi: &Join) -> Result<Option<LogicalPlan>> {
    if semi.join_type != JoinType::LeftSemi || semi.on.is_empty() || !is_key_set(semi) {
        return Ok(None);
    }
    match semi.left.as_ref() {
        LogicalPlan::Join(inner) if inner.join_type == JoinType::Inner => {
            below_inner_join(semi, inner)
        }
        LogicalPlan::Projection(projection)
            if passes_columns(projection)
                && matches!(projection.input.as_ref(),
                    LogicalPlan::Join(j) if j.join_type == JoinType::Inner) =>
        {
            // The semi join reads only columns the projection passes on, and keeps its
            // input's schema, so the projection's output is unchanged.
            let moved = on_input(semi, &projection.input)?;
            let projection = Projection::try_new_with_schema(
                projection.expr.clone(),
                moved,
                Arc::clone(&projection.schema),
            )?;
            Ok(Some(LogicalPlan::Projection(projection)))
        }
        // Held up by a subquery's semi or anti join, it may still be redundant below.
        left => Ok(is_redundant(semi, &left_columns(semi), left, false).then(|| left.clone())),
    }
}

/// The semi join moved onto the inner join's side that holds every left column it reads.
fn below_inner_join(semi: &Join, inner: &Join) -> Result<Option<LogicalPlan>> {
    let read = left_columns(semi);
    let onto_left = holds_all(&inner.left, &read);
    if !onto_left && !holds_all(&inner.right, &read) {
        return Ok(None);
    }
    let (left, right) = if onto_left {
        (on_input(semi, &inner.left)?, Arc::clone(&inner.right))
    } else {
        (Arc::clone(&inner.left), on_input(semi, &inner.right)?)
    };
    // A semi join keeps its left input's schema, so the inner join's is unchanged.
    Ok(Some(LogicalPlan::Join(with_sides(inner, left, right)?)))
}

/// The same semi join, with another left input; the input itself when the scan reduction
/// already semi-joined it with the same keys (q11: supplier with Germany's nation key,
/// before the join with nation became this semi join), since it would keep every row.
fn on_input(semi: &Join, input: &Arc<LogicalPlan>) -> Result<Arc<LogicalPlan>> {
    if is_reduced_like(input, semi) {
        return Ok(Arc::clone(input));
    }
    let join = with_sides(semi, Arc::clone(input), Arc::clone(&semi.right))?;
    Ok(Arc::new(LogicalPlan::Join(join)))
}

/// Whether `plan`'s rows (the semi join's left input, or rows it passes on unchanged; `read`
/// the left columns the semi join reads) all have their key in the semi join's set already, so that the semi join can go: some input
/// below was semi-joined with the same keys by the scan reduction, and a subquery's semi
/// or anti join, which holds the semi join up, lies between (`held`), with only column
/// projections, filters, inner joins and semi and anti joins besides; each passes the key
/// column on as it is. TPC-DS q32 joins its sales with a quarter's dates after its items
/// and its subquery's averages; the scan reduction copied the dates onto the sales as a key
/// set, and DataFusion made the join a semi join, which then only read the dates again.
/// Where nothing holds it up, it moves down, and the join order places it and drops the
/// key set beside it.
fn is_redundant(semi: &Join, read: &[Column], plan: &LogicalPlan, held: bool) -> bool {
    if held && is_reduced_like(plan, semi) {
        return true;
    }
    match plan {
        LogicalPlan::Projection(projection) if passes_columns(projection) => {
            is_redundant(semi, read, &projection.input, held)
        }
        LogicalPlan::Filter(filter) => is_redundant(semi, read, &filter.input, held),
        LogicalPlan::Join(join) => match join.join_type {
            JoinType::LeftSemi | JoinType::LeftAnti => {
                // A semi join with a dimension or a key set would let it pass.
                let subquery = !is_dimension(&join.right) && !is_added_key_set(&join.right);
                is_redundant(semi, read, &join.left, held || subquery)
            }
            JoinType::Inner => [&join.left, &join.right]
                .into_iter()
                .find(|side| holds_all(side, read))
                .is_some_and(|side| is_redundant(semi, read, side, held)),
            _ => false,
        },
        _ => false,
    }
}

/// Whether the semi join's right side has at most one row per value of its join keys:
/// some unique key of the right input lies within them.
fn is_key_set(semi: &Join) -> bool {
    unique_on(semi.right.schema(), semi.on.iter().map(|(_, right)| right))
}

/// Whether `side` of an inner join holds every column in `read`.
fn holds_all(side: &LogicalPlan, read: &[Column]) -> bool {
    read.iter().all(|c| side.schema().has_column(c))
}

/// Every column of the semi join's left input that its keys and filter read.
fn left_columns(semi: &Join) -> Vec<Column> {
    let left = semi.left.schema();
    let mut read: Vec<Column> = Vec::new();
    let mut add = |expr: &Expr| {
        for column in expr.column_refs() {
            if left.has_column(column) && !read.contains(column) {
                read.push(column.clone());
            }
        }
    };
    for (l, _) in &semi.on {
        add(l);
    }
    if let Some(filter) = &semi.filter {
        add(filter);
    }
    read
}
