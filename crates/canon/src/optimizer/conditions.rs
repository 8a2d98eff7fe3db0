//! Each filter on a table tests its most selective conditions first.
//!
//! DataFusion evaluates a conjunction in the order it was written and, once the
//! conditions before keep at most a fifth of a batch, evaluates the next one only on the
//! rows they kept (its pre-selection). A query that writes its most selective condition
//! last tests every row against all the others first: TPC-H q12 compares two ship modes
//! and two pairs of dates on all 6 M line items before the year of receipt that keeps one
//! in seven. Canon estimates each condition on a table as the join order does (the
//! files' minimum and maximum, distinct values counted in dictionaries) and orders them
//! by the share of rows they keep: the bounds on one column together, as one range;
//! pattern matches, dearer per row, after the comparisons; anything that may fail or
//! costs more (functions, arithmetic, casts that narrow) last and as written, so it never
//! sees a row it would not have seen in the written order.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Between, BinaryExpr, Cast, Expr, ExprSchemable, Filter, Like, LogicalPlan, Operator,
};
use datafusion::physical_planner::DefaultPhysicalPlanner;

use super::join_order::estimate::Table;
use super::join_order::selectivity::bounded_column;

/// `plan` with the conditions of each filter on a table in the order that drops rows
/// soonest, or `None` when every filter keeps its order.
pub(super) async fn most_selective_first(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Result<Option<LogicalPlan>> {
    let mut filters = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Filter(filter) = node
            && matches!(filter.input.as_ref(), LogicalPlan::TableScan(_))
            && split_conjunction(&filter.predicate).len() > 1
            && !filters.contains(filter)
        {
            filters.push(filter.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let mut reordered = Vec::new();
    for filter in filters {
        let schema = filter.input.schema();
        let mut groups = groups(&filter.predicate, schema);
        // Estimates only order groups of one cost that may move; reading them plans the
        // scan, which costs a short query's planning a few milliseconds.
        let several = |cost| groups.iter().filter(|g| g.cost == cost).count() > 1;
        if several(Cost::Comparison) || several(Cost::Pattern) {
            let Some(table) = Table::of(&filter.input, &filter.predicate, planner, session).await
            else {
                continue;
            };
            estimate(&mut groups, |e| table.kept(e));
        }
        if let Some(predicate) = in_order(&filter.predicate, groups) {
            reordered.push((filter, predicate));
        }
    }
    if reordered.is_empty() {
        return Ok(None);
    }
    let rewritten = plan.clone().transform_up_with_subqueries(|node| {
        let LogicalPlan::Filter(filter) = &node else {
            return Ok(Transformed::no(node));
        };
        match reordered.iter().find(|(old, _)| old == filter) {
            Some((_, predicate)) => Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
                predicate.clone(),
                Arc::clone(&filter.input),
            )?))),
            None => Ok(Transformed::no(node)),
        }
    })?;
    Ok(Some(rewritten.data))
}

/// What a condition costs per row, in the order conditions are tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cost {
    /// Comparisons of columns and values, `IN` lists, null tests, and `AND`, `OR`, `NOT`
    /// of them: cheap, and they cannot fail.
    Comparison,
    /// `LIKE` and `SIMILAR TO`: they cannot fail, but match text row by row.
    Pattern,
    /// Anything else: it may cost more, or fail on a row the written order kept from it.
    Other,
}

/// Conditions that move together: the bounds on one column, or one condition.
struct Group<'e> {
    conditions: Vec<&'e Expr>,
    /// The column the conditions bound, when they do.
    column: Option<&'e Expr>,
    cost: Cost,
    /// The share of rows they keep, estimated.
    kept: f64,
    /// Where the first of them was written.
    at: usize,
}

/// `predicate`'s conditions (on a table with `schema`) as groups that move together, as
/// written, each keeping all rows until [`estimate`]d.
fn groups<'e>(predicate: &'e Expr, schema: &DFSchema) -> Vec<Group<'e>> {
    let mut groups: Vec<Group> = Vec::new();
    for (at, condition) in split_conjunction(predicate).into_iter().enumerate() {
        let cost = cost(condition, schema);
        let column = bounded_column(condition).filter(|_| cost == Cost::Comparison);
        match column.and_then(|c| groups.iter_mut().find(|g| g.column == Some(c))) {
            Some(group) => group.conditions.push(condition),
            None => groups.push(Group {
                conditions: vec![condition],
                column,
                cost,
                kept: 1.0,
                at,
            }),
        }
    }
    groups
}

/// Sets the share of rows each group that may move keeps, as `kept` estimates it.
fn estimate(groups: &mut [Group], kept: impl Fn(&Expr) -> f64) {
    for group in groups.iter_mut().filter(|g| g.cost != Cost::Other) {
        let together = conjunction(group.conditions.iter().map(|c| (*c).clone()));
        group.kept = together.map_or(1.0, |p| kept(&p));
    }
}

/// `predicate`'s conditions, in `groups`, cheapest first and then by the share they keep,
/// or `None` when that is the written order.
fn in_order(predicate: &Expr, mut groups: Vec<Group>) -> Option<Expr> {
    groups.sort_by(|a, b| {
        (a.cost.cmp(&b.cost))
            .then(a.kept.total_cmp(&b.kept))
            .then(a.at.cmp(&b.at))
    });
    let ordered: Vec<&Expr> = groups.iter().flat_map(|g| g.conditions.clone()).collect();
    if ordered == split_conjunction(predicate) {
        return None;
    }
    conjunction(ordered.into_iter().cloned())
}

/// What `expr`, over a table with `schema`, costs per row.
fn cost(expr: &Expr, schema: &DFSchema) -> Cost {
    match expr {
        Expr::Column(_) | Expr::Literal(..) => Cost::Comparison,
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if tests(*op) => {
            dearest([left.as_ref(), right.as_ref()], schema)
        }
        Expr::Between(Between {
            expr, low, high, ..
        }) => dearest([expr.as_ref(), low.as_ref(), high.as_ref()], schema),
        Expr::InList(InList { expr, list, .. }) => {
            dearest(std::iter::once(expr.as_ref()).chain(list), schema)
        }
        Expr::Not(e)
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNotFalse(e)
        | Expr::IsUnknown(e)
        | Expr::IsNotUnknown(e) => cost(e, schema),
        Expr::Like(Like { expr, pattern, .. }) | Expr::SimilarTo(Like { expr, pattern, .. }) => {
            Cost::Pattern.max(dearest([expr.as_ref(), pattern.as_ref()], schema))
        }
        Expr::TryCast(cast) => cost(&cast.expr, schema),
        Expr::Cast(Cast { expr, field }) => match expr.get_type(schema) {
            Ok(from) if widens(&from, field.data_type()) => cost(expr, schema),
            _ => Cost::Other,
        },
        _ => Cost::Other,
    }
}

/// What the dearest of `exprs` costs per row (a comparison's, when there are none).
fn dearest<'e>(exprs: impl IntoIterator<Item = &'e Expr>, schema: &DFSchema) -> Cost {
    exprs
        .into_iter()
        .map(|e| cost(e, schema))
        .max()
        .unwrap_or(Cost::Comparison)
}

/// Whether `op` compares or combines truth values: the operators that cannot fail.
fn tests(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
            | Operator::And
            | Operator::Or
    )
}

/// Whether every value of type `from` casts to `to` without error: the casts type
/// coercion adds to compare a column with a wider value.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let integer_digits = |t: &DataType| -> Option<i16> {
        Some(match t {
            Int8 | UInt8 => 3,
            Int16 | UInt16 => 5,
            Int32 | UInt32 => 10,
            Int64 => 19,
            UInt64 => 20,
            Decimal128(p, s) | Decimal256(p, s) => i16::from(*p) - i16::from(*s),
            _ => return None,
        })
    };
    let scale = |t: &DataType| match t {
        Decimal128(_, s) | Decimal256(_, s) => i16::from(*s),
        _ => 0,
    };
    if from == to || (text(from) && text(to)) {
        return true;
    }
    match to {
        Float64 => integer_digits(from).is_some() || matches!(from, Float32),
        Int16 | Int32 | Int64 if from.is_signed_integer() || from.is_unsigned_integer() => {
            from.primitive_width() < to.primitive_width()
        }
        Decimal128(..) | Decimal256(..) => match integer_digits(from) {
            Some(digits) => {
                integer_digits(to).is_some_and(|room| room >= digits) && scale(to) >= scale(from)
            }
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::{cast, col, lit};

    use super::*;

    fn schema() -> DFSchema {
        let fields = vec![
            Field::new("d", DataType::Date32, false),
            Field::new("n", DataType::Int32, false),
            Field::new("t", DataType::Utf8, false),
            Field::new("p", DataType::Decimal128(7, 2), false),
        ];
        DFSchema::try_from(Schema::new(fields)).unwrap_or_else(|_| DFSchema::empty())
    }

    /// The estimate a test gives each condition: by the column it reads.
    fn kept(expr: &Expr) -> f64 {
        let columns = expr.column_refs();
        if columns.iter().any(|c| c.name == "n") {
            0.05
        } else if columns.iter().any(|c| c.name == "t") {
            0.3
        } else {
            0.5
        }
    }

    fn order(predicate: Expr) -> Option<String> {
        let schema = schema();
        let mut groups = groups(&predicate, &schema);
        estimate(&mut groups, kept);
        in_order(&predicate, groups).map(|p| p.to_string())
    }

    #[test]
    fn selective_first_bounds_together_failing_last() {
        let written = col("t")
            .eq(lit("a"))
            .and(col("n").gt_eq(lit(3)))
            .and(col("d").lt(col("d")))
            .and(col("n").lt(lit(9)));
        assert_eq!(
            order(written).as_deref(),
            Some("n >= Int32(3) AND n < Int32(9) AND t = Utf8(\"a\") AND d < d")
        );
        // Arithmetic may fail (overflow), so it stays behind the comparisons.
        let arithmetic = (col("n") + lit(1)).gt(lit(2)).and(col("n").eq(lit(1)));
        assert_eq!(
            order(arithmetic).as_deref(),
            Some("n = Int32(1) AND n + Int32(1) > Int32(2)")
        );
        // Patterns after comparisons, however selective they look.
        let pattern = col("t").like(lit("%x%")).and(col("d").gt(col("d")));
        assert_eq!(
            order(pattern).as_deref(),
            Some("d > d AND t LIKE Utf8(\"%x%\")")
        );
        // Already in order.
        assert_eq!(order(col("n").eq(lit(1)).and(col("t").eq(lit("a")))), None);
    }

    #[test]
    fn widening_casts_are_comparisons() {
        let s = schema();
        let wide = cast(col("p"), DataType::Decimal128(22, 2)).gt(lit(1));
        assert_eq!(cost(&wide, &s), Cost::Comparison);
        let narrow = cast(col("p"), DataType::Decimal128(4, 2)).gt(lit(1));
        assert_eq!(cost(&narrow, &s), Cost::Other);
        assert_eq!(cost(&cast(col("t"), DataType::Int64), &s), Cost::Other);
        assert_eq!(cost(&cast(col("n"), DataType::Int64), &s), Cost::Comparison);
    }
}
