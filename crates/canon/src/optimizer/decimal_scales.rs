//! Decimal literals at their operand's scale: `1 - l_discount` adds and subtracts at one
//! scale instead of rescaling both sides of every row.
//!
//! Type coercion turns the integer literal of `1 - l_discount` into `Decimal128(20, 0)`,
//! while the column is `Decimal128(15, 2)`. Arrow adds and subtracts decimals of different
//! scales by multiplying both sides, row by row, with overflow checks, before the checked
//! subtraction: TPC-H q1 spent a fifth of its time in `1 - l_discount` and `1 + l_tax`.
//! The same literal written at the column's scale, `Decimal128(22, 2)`, gives the same
//! result type (the digits before the point and the scale are unchanged) and the same
//! values, with one checked subtraction per row.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DFSchemaRef, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// Rescales the decimal literal of an addition or subtraction to its other operand's
/// scale, where the result's type stays the same.
#[derive(Debug, Default, Clone, Copy)]
pub struct DecimalLiteralScales;

impl OptimizerRule for DecimalLiteralScales {
    fn name(&self) -> &str {
        "canon_decimal_literal_scales"
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
        // A scan's pushed filters only prune; the filter above it evaluates the rows.
        if plan.inputs().is_empty() {
            return Ok(Transformed::no(plan));
        }
        let schema: DFSchemaRef = Arc::new(merge_schema(&plan.inputs()));
        // The rewritten expressions keep their names, so the plan's schema is unchanged.
        let names = NamePreserver::new(&plan);
        let mut rewrite = |expr: Expr| {
            let name = names.save(&expr);
            let rescaled = expr.transform_up(|expr| rescaled(expr, &schema))?;
            Ok(rescaled.update_data(|expr| name.restore(expr)))
        };
        plan.map_expressions(|expr| match expr {
            // A grouping set's expressions are named one by one.
            Expr::GroupingSet(_) => expr.map_children(&mut rewrite),
            expr => rewrite(expr),
        })
    }
}

/// `expr` with its decimal literal at the other operand's scale, when it is an addition or
/// subtraction that the rescaling leaves of the same type.
fn rescaled(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    if !matches!(op, Operator::Plus | Operator::Minus) {
        return Ok(Transformed::no(expr));
    }
    let (left, right) = match (left.as_ref(), right.as_ref()) {
        (Expr::Literal(value, metadata), other) => match at_scale_of(value, other, schema)? {
            Some(value) => (Expr::Literal(value, metadata.clone()), other.clone()),
            None => return Ok(Transformed::no(expr)),
        },
        (other, Expr::Literal(value, metadata)) => match at_scale_of(value, other, schema)? {
            Some(value) => (other.clone(), Expr::Literal(value, metadata.clone())),
            None => return Ok(Transformed::no(expr)),
        },
        _ => return Ok(Transformed::no(expr)),
    };
    let candidate = Expr::BinaryExpr(BinaryExpr::new(Box::new(left), *op, Box::new(right)));
    // Arrow's decimal arithmetic keeps the digits before the point and the larger scale,
    // which the rescaling does not change; checked here rather than assumed.
    let same = match (candidate.get_type(schema), expr.get_type(schema)) {
        (Ok(new), Ok(old)) => new == old,
        // An operand whose type is not known here is left as it is.
        _ => false,
    };
    if same {
        Ok(Transformed::yes(candidate))
    } else {
        Ok(Transformed::no(expr))
    }
}

/// `value`, a decimal of a smaller scale than `other`'s decimal type, at that scale; `None`
/// when either is no decimal, the scales already agree, or the digits would not fit.
fn at_scale_of(
    value: &ScalarValue,
    other: &Expr,
    schema: &DFSchema,
) -> Result<Option<ScalarValue>> {
    let ScalarValue::Decimal128(digits, precision, scale) = value else {
        return Ok(None);
    };
    let Ok(DataType::Decimal128(_, wanted)) = other.get_type(schema) else {
        return Ok(None);
    };
    if wanted <= *scale || *scale < 0 {
        return Ok(None);
    }
    let Ok(shift) = u8::try_from(i16::from(wanted) - i16::from(*scale)) else {
        return Ok(None);
    };
    let Some(widened) = precision.checked_add(shift).filter(|p| *p <= 38) else {
        return Ok(None);
    };
    let digits = match digits {
        Some(digits) => match 10_i128
            .checked_pow(u32::from(shift))
            .and_then(|factor| digits.checked_mul(factor))
        {
            Some(digits) => Some(digits),
            None => return Ok(None),
        },
        None => None,
    };
    Ok(Some(ScalarValue::Decimal128(digits, widened, wanted)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::{col, lit};

    fn schema() -> DFSchema {
        let fields = vec![
            Field::new("discount", DataType::Decimal128(15, 2), false),
            Field::new("wide", DataType::Decimal128(38, 2), false),
            Field::new("ratio", DataType::Float64, false),
        ];
        DFSchema::try_from(Schema::new(fields)).expect("a schema")
    }

    fn decimal(digits: i128, precision: u8, scale: i8) -> Expr {
        lit(ScalarValue::Decimal128(Some(digits), precision, scale))
    }

    fn rewrite(expr: Expr) -> Transformed<Expr> {
        expr.transform_up(|e| rescaled(e, &schema()))
            .expect("a rewrite")
    }

    #[test]
    fn an_integer_literal_takes_the_columns_scale_on_either_side() {
        let one = decimal(1, 20, 0);
        let done = rewrite(one.clone() - col("discount"));
        assert!(done.transformed);
        assert_eq!(done.data, decimal(100, 22, 2) - col("discount"));
        let done = rewrite(col("discount") + one);
        assert_eq!(done.data, col("discount") + decimal(100, 22, 2));
    }

    #[test]
    fn products_wide_columns_and_other_types_stay() {
        for expr in [
            decimal(1, 20, 0) * col("discount"),
            // 38 digits leave no room for two more.
            decimal(1, 38, 0) - col("wide"),
            decimal(1, 20, 0) + col("ratio"),
            // A literal of a larger scale would need the column rescaled.
            decimal(5, 4, 3) - col("discount"),
        ] {
            let done = rewrite(expr.clone());
            assert!(!done.transformed, "{expr}");
            assert_eq!(done.data, expr);
        }
    }
}
