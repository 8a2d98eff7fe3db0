//! Outer joins met on their nullable side: an outer join whose null-padded side an inner
//! join above meets on a key is an inner join.
//!
//! An inner join's equality drops every row whose key is null, so the rows an outer join
//! below added, with nulls for the other side's columns, never pass it when the key is one
//! of those columns. DataFusion turns an outer join into an inner one only under a filter
//! that rejects nulls. TPC-DS q93 left-joins each store sale with its return and keeps the
//! returns of one reason, through a join with `reason` on the return's reason: DataFusion
//! met all 2.9 M sales with all 287 K returns before the reason kept one in thirty-five
//! (its `filter_null_join_keys`, which gives it that filter, slowed q23 eight times over by
//! filtering every nullable key). As an inner join, the sales, returns and reason are one
//! region, which the join order orders.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, JoinType, NullEquality, Result};
use datafusion::logical_expr::{Expr, Join, LogicalPlan};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::group_keys::passes_columns;

/// Makes inner the outer joins under an inner join that meets their null-padded side on a
/// key.
#[derive(Debug, Default, Clone, Copy)]
pub struct OuterJoinsMetOnKeys;

impl OptimizerRule for OuterJoinsMetOnKeys {
    fn name(&self) -> &str {
        "canon_outer_joins_met_on_keys"
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
        if join.join_type != JoinType::Inner
            || join.null_equality != NullEquality::NullEqualsNothing
            || join.null_aware
        {
            return Ok(Transformed::no(plan));
        }
        let keys: Vec<&Column> = join
            .on
            .iter()
            .flat_map(|(l, r)| [l, r])
            .filter_map(|e| match e {
                Expr::Column(c) => Some(c),
                _ => None,
            })
            .collect();
        // The join itself is inner, so its keys go on into both sides.
        match inner_below(&plan, &keys)? {
            Some(rewritten) => Ok(Transformed::yes(rewritten)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

/// `plan` with each outer join whose null-padded side gives one of `keys` (passed on
/// unchanged through filters, column projections and joins) made inner, or `None` when
/// there is none.
fn inner_below(plan: &LogicalPlan, keys: &[&Column]) -> Result<Option<LogicalPlan>> {
    let keys: Vec<&Column> = keys
        .iter()
        .copied()
        .filter(|k| plan.schema().has_column(k))
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    match plan {
        LogicalPlan::Filter(_) => one_input(plan, &keys),
        LogicalPlan::Projection(p) if passes_columns(p) => one_input(plan, &keys),
        LogicalPlan::Join(join) => {
            let holds = |side: &LogicalPlan| keys.iter().any(|k| side.schema().has_column(k));
            let join_type = match join.join_type {
                JoinType::Left if holds(&join.right) => JoinType::Inner,
                JoinType::Right if holds(&join.left) => JoinType::Inner,
                other => other,
            };
            // Below an outer join that stays, only its preserved side passes values on
            // unchanged; the null-padded side's keys may be nulls it added.
            let (into_left, into_right) = match join_type {
                JoinType::Inner => (true, true),
                JoinType::Left => (true, false),
                JoinType::Right => (false, true),
                _ => (false, false),
            };
            let left = if into_left {
                inner_below(&join.left, &keys)?
            } else {
                None
            };
            let right = if into_right {
                inner_below(&join.right, &keys)?
            } else {
                None
            };
            if join_type == join.join_type && left.is_none() && right.is_none() {
                return Ok(None);
            }
            let left = left.map_or_else(|| Arc::clone(&join.left), Arc::new);
            let right = right.map_or_else(|| Arc::clone(&join.right), Arc::new);
            Ok(Some(LogicalPlan::Join(Join::try_new(
                left,
                right,
                join.on.clone(),
                join.filter.clone(),
                join_type,
                join.join_constraint,
                join.null_equality,
                join.null_aware,
            )?)))
        }
        _ => Ok(None),
    }
}

/// `plan`, a node with one input that passes the `keys` on unchanged, over its input with
/// the outer joins below made inner.
fn one_input(plan: &LogicalPlan, keys: &[&Column]) -> Result<Option<LogicalPlan>> {
    let [input] = plan.inputs()[..] else {
        return Ok(None);
    };
    match inner_below(input, keys)? {
        Some(new) => Ok(Some(plan.with_new_exprs(plan.expressions(), vec![new])?)),
        None => Ok(None),
    }
}
