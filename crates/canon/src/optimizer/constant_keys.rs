//! Constant group keys: an aggregate stops grouping by a column its input holds at one
//! value, and projects that value back.
//!
//! DataFusion counts a column that an equality filter fixes (`d_year = 2000`) as sorted,
//! so an aggregate grouped by it and by other keys runs in its partially sorted mode. That
//! mode never emits early here (the one value never ends), and it gives up the vectorised
//! group table: TPC-DS q78 grouped half a million sales rows by a fixed year, an item and
//! a customer at 3.5× the time of the same aggregate without the year. Grouping by the
//! other keys gives the same groups, and the projection gives each the one value.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, JoinType, Result, ScalarValue};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Aggregate, BinaryExpr, Expr, LogicalPlan, Operator, Projection};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// Drops the group keys an aggregate's input holds at one value, when other keys remain,
/// and projects the value in their place.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConstantGroupKeys;

impl OptimizerRule for ConstantGroupKeys {
    fn name(&self) -> &str {
        "canon_constant_group_keys"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        super::node::rewrite_aggregate(plan, without_constant_keys)
    }
}

/// `aggregate` grouped by its keys that vary, under a projection that puts each constant
/// key's value back in its place; `None` when no key is constant, or every key is (an
/// aggregate without keys would give a row for an empty input).
fn without_constant_keys(aggregate: &Aggregate) -> Result<Option<LogicalPlan>> {
    if has_grouping_sets(aggregate) {
        return Ok(None);
    }
    let held = constants(&aggregate.input);
    let fields = aggregate.schema.fields();
    let values: Vec<Option<&ScalarValue>> = aggregate
        .group_expr
        .iter()
        .zip(fields.iter())
        .map(|(key, field)| match key {
            Expr::Column(column) => held
                .get(column)
                .filter(|value| value.data_type() == *field.data_type()),
            _ => None,
        })
        .collect();
    let constant = values.iter().filter(|v| v.is_some()).count();
    if constant == 0 || constant == values.len() {
        return Ok(None);
    }
    let varying = aggregate
        .group_expr
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(key, _)| key.clone())
        .collect();
    let grouped = Aggregate::try_new(
        Arc::clone(&aggregate.input),
        varying,
        aggregate.aggr_expr.clone(),
    )?;
    // The new aggregate's columns are the old ones without the constant keys, in order.
    let mut inner = grouped.schema.columns().into_iter();
    let mut projected = Vec::with_capacity(aggregate.schema.fields().len());
    for (index, column) in aggregate.schema.columns().into_iter().enumerate() {
        match values.get(index).copied().flatten() {
            Some(value) => projected.push(
                Expr::Literal(value.clone(), None).alias_qualified(column.relation, column.name),
            ),
            None => match inner.next() {
                Some(kept) => projected.push(Expr::Column(kept)),
                None => return Ok(None),
            },
        }
    }
    let projection = Projection::try_new(projected, Arc::new(LogicalPlan::Aggregate(grouped)))?;
    Ok(Some(LogicalPlan::Projection(projection)))
}

/// The columns `plan`'s every output row holds at one non-null value, as far as its
/// filters' equalities with literals show.
fn constants(plan: &LogicalPlan) -> HashMap<Column, ScalarValue> {
    match plan {
        LogicalPlan::Filter(filter) => {
            let mut held = constants(&filter.input);
            held.extend(
                split_conjunction(&filter.predicate)
                    .into_iter()
                    .filter_map(equality),
            );
            held
        }
        LogicalPlan::Projection(projection) => {
            let input = constants(&projection.input);
            projection
                .expr
                .iter()
                .zip(projection.schema.columns())
                .filter_map(|(expr, column)| {
                    let value = match expr.clone().unalias() {
                        Expr::Column(source) => input.get(&source).cloned(),
                        Expr::Literal(value, _) if !value.is_null() => Some(value),
                        _ => None,
                    };
                    value.map(|value| (column, value))
                })
                .collect()
        }
        LogicalPlan::SubqueryAlias(alias) => {
            by_name(alias.schema.columns(), by_position(&alias.input))
        }
        LogicalPlan::Join(join) => match join.join_type {
            JoinType::Inner => {
                let mut held = constants(&join.left);
                held.extend(constants(&join.right));
                held
            }
            JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => {
                constants(&join.left)
            }
            JoinType::Right | JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
                constants(&join.right)
            }
            JoinType::Full => HashMap::new(),
        },
        LogicalPlan::Union(union) => {
            // A column is fixed when every input fixes it at the same value.
            let mut inputs = union.inputs.iter().map(|input| by_position(input));
            let Some(mut fixed) = inputs.next() else {
                return HashMap::new();
            };
            for other in inputs {
                for (value, other) in fixed.iter_mut().zip(other) {
                    if *value != other {
                        *value = None;
                    }
                }
            }
            by_name(union.schema.columns(), fixed)
        }
        LogicalPlan::Aggregate(aggregate) if !has_grouping_sets(aggregate) => {
            let input = constants(&aggregate.input);
            aggregate
                .group_expr
                .iter()
                .zip(aggregate.schema.columns())
                .filter_map(|(key, column)| match key {
                    Expr::Column(source) => input.get(source).map(|v| (column, v.clone())),
                    _ => None,
                })
                .collect()
        }
        LogicalPlan::Sort(sort) => constants(&sort.input),
        LogicalPlan::Limit(limit) => constants(&limit.input),
        LogicalPlan::Repartition(repartition) => constants(&repartition.input),
        _ => HashMap::new(),
    }
}

/// The values [`constants`] finds for `plan`'s output columns, by position.
fn by_position(plan: &LogicalPlan) -> Vec<Option<ScalarValue>> {
    let held = constants(plan);
    let columns = plan.schema().columns();
    columns.iter().map(|c| held.get(c).cloned()).collect()
}

/// The fixed `values` by position under the names `columns` gives them.
fn by_name(columns: Vec<Column>, values: Vec<Option<ScalarValue>>) -> HashMap<Column, ScalarValue> {
    columns
        .into_iter()
        .zip(values)
        .filter_map(|(column, value)| Some((column, value?)))
        .collect()
}

/// Whether the aggregate groups by grouping sets (`ROLLUP`, `CUBE`, `GROUPING SETS`).
fn has_grouping_sets(aggregate: &Aggregate) -> bool {
    aggregate
        .group_expr
        .iter()
        .any(|e| matches!(e, Expr::GroupingSet(_)))
}

/// The column and value of `column = literal` (either way round), the literal not null.
fn equality(conjunct: &Expr) -> Option<(Column, ScalarValue)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = conjunct
    else {
        return None;
    };
    match (left.as_ref(), right.as_ref()) {
        (Expr::Column(column), Expr::Literal(value, _))
        | (Expr::Literal(value, _), Expr::Column(column))
            if !value.is_null() =>
        {
            Some((column.clone(), value.clone()))
        }
        _ => None,
    }
}
