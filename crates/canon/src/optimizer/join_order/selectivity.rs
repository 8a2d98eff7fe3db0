//! The share of a table's rows a filter keeps, from the columns' minimum, maximum,
//! distinct values and nulls.
//!
//! DataFusion's own estimate bounds ranges on numbers well, but any predicate it cannot
//! analyse (an equality on text, an `IN` list, an `OR`) keeps a default fifth of the rows
//! however many conditions there are, and a dimension filtered by three of them looks as
//! large as one filtered by none. Each condition here gets its own estimate, and a
//! conjunction combines them with exponential backoff (the most selective counts whole,
//! the next by its square root, and so on), since conditions on one table tend to be
//! correlated.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Like, Operator};

/// What a predicate that cannot be analysed keeps (DataFusion's default selectivity).
const UNKNOWN: f64 = 0.2;

/// What an equality keeps on a column whose distinct values are unknown (text, mostly):
/// PostgreSQL's default. Too small an estimate joins a filtered table early, which costs
/// little when it filters less than thought; too large a one joins it late, after the
/// rows it would have removed went through every other join (TPC-H q8's part type, one of
/// 150, taken as a tenth of the parts, ordered the query 1.4× slower).
const EQUALITY: f64 = 0.005;

/// What a pattern match keeps.
const PATTERN: f64 = 0.05;

/// One column of the table a filter reads.
#[derive(Debug, Clone, Default)]
pub(super) struct ColumnFacts {
    /// Smallest and largest value, as numbers, where the column's type is numeric.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Distinct values, where known.
    pub distinct: Option<f64>,
    /// Share of its values that are null.
    pub null_fraction: f64,
}

/// The share of `rows` rows that `predicate` keeps, at least one row's worth; `column`
/// gives what is known of a column the predicate reads.
pub(super) fn selectivity<'a>(
    predicate: &Expr,
    rows: f64,
    column: &dyn Fn(&Expr) -> Option<&'a ColumnFacts>,
) -> f64 {
    let floor = 1.0 / rows.max(1.0);
    Estimator { column }.of(predicate).clamp(floor, 1.0)
}

struct Estimator<'f, 'a> {
    column: &'f dyn Fn(&Expr) -> Option<&'a ColumnFacts>,
}

impl Estimator<'_, '_> {
    fn of(&self, expr: &Expr) -> f64 {
        if let Some(bounds) = Bounds::of(expr) {
            return self.range(&bounds);
        }
        match expr {
            Expr::BinaryExpr(BinaryExpr {
                op: Operator::And, ..
            }) => self.all(expr),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => self.binary(left, *op, right),
            Expr::Between(Between {
                expr,
                negated: true,
                low,
                high,
            }) => {
                let inside = Bounds::between(expr, low, high).map_or(UNKNOWN, |b| self.range(&b));
                1.0 - inside
            }
            Expr::InList(InList {
                expr,
                list,
                negated,
            }) => {
                let one = self.equality(expr, None);
                let any = (one * list.len() as f64).min(1.0);
                negate(any, *negated)
            }
            Expr::Not(inner) => 1.0 - self.of(inner),
            Expr::IsNull(inner) => (self.column)(inner).map_or(UNKNOWN, |c| c.null_fraction),
            Expr::IsNotNull(inner) => {
                (self.column)(inner).map_or(1.0 - UNKNOWN, |c| 1.0 - c.null_fraction)
            }
            Expr::Like(Like { negated, .. }) | Expr::SimilarTo(Like { negated, .. }) => {
                negate(PATTERN, *negated)
            }
            Expr::Literal(ScalarValue::Boolean(Some(keep)), _) => f64::from(u8::from(*keep)),
            _ => UNKNOWN,
        }
    }

    /// What a conjunction keeps. Bounds on one column make one range: `d >= a AND d <= b`
    /// (DataFusion's form of `BETWEEN`) is the share between `a` and `b`, where the two
    /// halves taken as independent conditions keep about a third of the rows (TPC-DS q80's
    /// month of dates looked like a third of the calendar and was joined last).
    fn all(&self, expr: &Expr) -> f64 {
        let mut ranges: Vec<Bounds> = Vec::new();
        let mut parts = Vec::new();
        for condition in split_conjunction(expr) {
            match Bounds::of(condition) {
                Some(bounds) => match ranges.iter_mut().find(|r| r.column == bounds.column) {
                    Some(range) => range.narrow(&bounds),
                    None => ranges.push(bounds),
                },
                None => parts.push(self.of(condition)),
            }
        }
        parts.extend(ranges.iter().map(|r| self.range(r)));
        conjunction(&parts)
    }

    fn binary(&self, left: &Expr, op: Operator, right: &Expr) -> f64 {
        match op {
            Operator::Or => {
                let (a, b) = (self.of(left), self.of(right));
                a + b - a * b
            }
            _ => {
                // The column on the left, the value on the right.
                let (column, value, op) = match (literal(right), literal(left)) {
                    (Some(value), _) => (left, value, op),
                    (None, Some(value)) => match op.swap() {
                        Some(swapped) => (right, value, swapped),
                        None => return UNKNOWN,
                    },
                    (None, None) => return UNKNOWN,
                };
                match op {
                    Operator::Eq => self.equality(column, Some(value)),
                    Operator::NotEq => 1.0 - self.equality(column, Some(value)),
                    _ => UNKNOWN,
                }
            }
        }
    }

    /// What `column = value` keeps: nothing outside the column's range, else one of its
    /// distinct values.
    fn equality(&self, column: &Expr, value: Option<&ScalarValue>) -> f64 {
        let Some(facts) = (self.column)(column) else {
            return EQUALITY;
        };
        if let (Some(v), Some(min), Some(max)) = (value.and_then(number), facts.min, facts.max)
            && (v < min || v > max)
        {
            return 0.0;
        }
        facts.distinct.map_or(EQUALITY, |d| 1.0 / d.max(1.0))
    }

    /// What `bounds` keep: the share of the column's range between them.
    fn range(&self, bounds: &Bounds) -> f64 {
        let Some(facts) = (self.column)(bounds.column) else {
            return UNKNOWN;
        };
        let (Some(min), Some(max)) = (facts.min, facts.max) else {
            return UNKNOWN;
        };
        let from = bounds.low.map_or(min, |v| v.max(min));
        let to = bounds.high.map_or(max, |v| v.min(max));
        if to < from {
            return 0.0;
        }
        // A range of whole values holds its ends: [5, 5] is one of max - min + 1 values.
        let step = facts.distinct.map_or(0.0, |d| (max - min) / d.max(1.0));
        ((to - from + step) / (max - min + step).max(f64::MIN_POSITIVE)).clamp(0.0, 1.0)
    }
}

/// The column `condition` bounds by a number (`column < value`, `column BETWEEN low AND
/// high`), if it is such a condition: conditions on one column are estimated as one range.
pub(in crate::optimizer) fn bounded_column(condition: &Expr) -> Option<&Expr> {
    Bounds::of(condition).map(|bounds| bounds.column)
}

/// A condition that bounds one column by numbers: `column < value`, `value <= column`,
/// `column BETWEEN low AND high`. Whether an end is open or closed is below what an
/// estimate can tell.
struct Bounds<'e> {
    column: &'e Expr,
    low: Option<f64>,
    high: Option<f64>,
}

impl<'e> Bounds<'e> {
    /// The bounds `condition` sets, if it is such a condition.
    fn of(condition: &'e Expr) -> Option<Self> {
        match condition {
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => Self::between(expr, low, high),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (column, value, op) = match (literal(right), literal(left)) {
                    (Some(value), _) => (left, value, *op),
                    (None, Some(value)) => (right, value, op.swap()?),
                    (None, None) => return None,
                };
                let value = number(value)?;
                match op {
                    Operator::Lt | Operator::LtEq => Some(Bounds {
                        column,
                        low: None,
                        high: Some(value),
                    }),
                    Operator::Gt | Operator::GtEq => Some(Bounds {
                        column,
                        low: Some(value),
                        high: None,
                    }),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The bounds of `column BETWEEN low AND high`, where both ends are numbers.
    fn between(column: &'e Expr, low: &Expr, high: &Expr) -> Option<Self> {
        Some(Bounds {
            column,
            low: Some(number(literal(low)?)?),
            high: Some(number(literal(high)?)?),
        })
    }

    /// Keeps only what both these bounds and `other` (on the same column) allow.
    fn narrow(&mut self, other: &Bounds) {
        self.low = match (self.low, other.low) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.high = match (self.high, other.high) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// What all of `parts` keep together: the most selective whole, each next by the square
/// root of the one before's exponent.
pub(super) fn conjunction(parts: &[f64]) -> f64 {
    let mut sorted = parts.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut exponent = 1.0;
    let mut kept = 1.0;
    for s in sorted.into_iter().take(4) {
        kept *= s.powf(exponent);
        exponent /= 2.0;
    }
    kept
}

fn negate(share: f64, negated: bool) -> f64 {
    if negated { 1.0 - share } else { share }
}

/// The value of a literal, through casts.
fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) if !value.is_null() => Some(value),
        Expr::Cast(cast) => literal(&cast.expr),
        Expr::TryCast(cast) => literal(&cast.expr),
        _ => None,
    }
}

/// A value as a number on the line its column's minimum and maximum lie on.
pub(super) fn number(value: &ScalarValue) -> Option<f64> {
    Some(match value {
        ScalarValue::Int8(Some(v)) => f64::from(*v),
        ScalarValue::Int16(Some(v)) => f64::from(*v),
        ScalarValue::Int32(Some(v)) => f64::from(*v),
        ScalarValue::Int64(Some(v)) => *v as f64,
        ScalarValue::UInt8(Some(v)) => f64::from(*v),
        ScalarValue::UInt16(Some(v)) => f64::from(*v),
        ScalarValue::UInt32(Some(v)) => f64::from(*v),
        ScalarValue::UInt64(Some(v)) => *v as f64,
        ScalarValue::Float32(Some(v)) => f64::from(*v),
        ScalarValue::Float64(Some(v)) => *v,
        ScalarValue::Date32(Some(v)) => f64::from(*v),
        ScalarValue::Date64(Some(v)) => *v as f64 / 86_400_000.0,
        ScalarValue::Decimal128(Some(v), _, scale) => *v as f64 / 10f64.powi(i32::from(*scale)),
        ScalarValue::TimestampSecond(Some(v), _)
        | ScalarValue::TimestampMillisecond(Some(v), _)
        | ScalarValue::TimestampMicrosecond(Some(v), _)
        | ScalarValue::TimestampNanosecond(Some(v), _) => *v as f64,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn facts(min: f64, max: f64, distinct: f64) -> ColumnFacts {
        ColumnFacts {
            min: Some(min),
            max: Some(max),
            distinct: Some(distinct),
            null_fraction: 0.0,
        }
    }

    /// Looks columns up by name in `columns`.
    fn by_name<'a>(
        columns: &'a [(&'a str, ColumnFacts)],
    ) -> impl Fn(&Expr) -> Option<&'a ColumnFacts> + 'a {
        move |e| match e {
            Expr::Column(c) => columns.iter().find(|(n, _)| *n == c.name).map(|(_, f)| f),
            _ => None,
        }
    }

    fn estimate(predicate: Expr) -> f64 {
        let columns = [
            ("d_year", facts(1900.0, 2099.0, 200.0)),
            ("d_dow", facts(0.0, 6.0, 7.0)),
        ];
        selectivity(&predicate, 73_049.0, &by_name(&columns))
    }

    #[test]
    fn each_condition_counts() {
        let one_year = estimate(col("d_year").eq(lit(2000)));
        assert!((one_year - 1.0 / 200.0).abs() < 1e-9, "{one_year}");
        let three_years =
            estimate(col("d_year").in_list(vec![lit(1998), lit(1999), lit(2000)], false));
        assert!((three_years - 3.0 / 200.0).abs() < 1e-9, "{three_years}");
        let both = estimate(
            col("d_year")
                .in_list(vec![lit(1998), lit(1999), lit(2000)], false)
                .and(col("d_dow").eq(lit(1))),
        );
        // The most selective whole, the other by its square root.
        let expected = 3.0 / 200.0 * (1.0_f64 / 7.0).sqrt();
        assert!((both - expected).abs() < 1e-9, "{both}");
    }

    #[test]
    fn ranges_outside_values_and_unknowns() {
        let decade = estimate(col("d_year").between(lit(2000), lit(2009)));
        assert!((decade - 0.05).abs() < 0.001, "{decade}");
        let other_years = estimate(col("d_year").not_between(lit(2000), lit(2009)));
        assert!((other_years - 0.95).abs() < 0.001, "{other_years}");
        // DataFusion's own form of BETWEEN: two bounds on one column make one range.
        let bounds = estimate(
            col("d_year")
                .gt_eq(lit(2000))
                .and(col("d_dow").eq(lit(1)))
                .and(lit(2009).gt_eq(col("d_year"))),
        );
        let expected = 0.05 * (1.0_f64 / 7.0).sqrt();
        assert!((bounds - expected).abs() < 0.001, "{bounds}");
        let outside = estimate(col("d_year").gt(lit(2010)).and(col("d_year").lt(lit(2000))));
        assert_eq!(outside, 1.0 / 73_049.0);
        let later = estimate(col("d_year").gt(lit(2049)));
        assert!((later - 0.25).abs() < 0.01, "{later}");
        let none = estimate(col("d_year").eq(lit(1066)));
        assert!(none <= 1.0 / 73_049.0 + 1e-12, "{none}");
        let text = estimate(col("d_day_name").eq(lit("Monday")));
        assert_eq!(text, EQUALITY);
        let either = estimate(col("d_dow").eq(lit(0)).or(col("d_dow").eq(lit(6))));
        let one = 1.0 / 7.0;
        assert!((either - (2.0 * one - one * one)).abs() < 1e-9, "{either}");
    }
}
