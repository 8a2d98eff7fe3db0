//! Filters that test their conditions on a bitmap of the rows still in.
//!
//! DataFusion evaluates `a AND b AND c` as nested binary expressions. Where the rows the
//! left of an `AND` keeps are at most a fifth of the batch, it filters every column of the
//! batch down to them, evaluates the right on those, and scatters that result back one
//! row at a time, slicing it once per run of kept rows (`pre_selection_scatter`). For a
//! condition that compares a column with a constant, which costs about a nanosecond a row
//! on the whole batch, that is the most expensive way to evaluate it: `perf` puts a fifth
//! of TPC-H q6's time and a tenth of q12's in the scatter and its slices.
//!
//! The rule gives each filter of two or more conditions a [`Conjunction`], which keeps the
//! conditions in their order and the rows still in as a bitmap. A condition that compares
//! columns and constants of fixed-width types is evaluated on the whole batch and its bits
//! ANDed with the bitmap a word at a time; any other condition is evaluated on the rows
//! still in, once they are at most a fifth of the batch, over a batch of only the columns
//! it reads, and its bits are set at those rows. A batch no row is left of ends the
//! evaluation. The filter keeps null as false, so the bitmap holds no nulls.
//!
//! Canon's query planner applies the rule to the plan a query runs, last, rather than
//! listing it among the session's physical rules: the join order plans subplans for the
//! statistics DataFusion derives from them, which it reads off a filter's own
//! expressions, and a distributed plan, whose expressions cross processes, keeps
//! DataFusion's.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::buffer::{BooleanBuffer, MutableBuffer};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::util::bit_util;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr, Column, IsNotNullExpr, IsNullExpr, Literal, NotExpr,
};
use datafusion::physical_expr::utils::{collect_columns, split_conjunction};
use datafusion::physical_expr_common::physical_expr::fmt_sql;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, PhysicalExpr, ReplaceChildrenOptions,
};

/// At most this share of a batch left, a condition that is not a plain comparison is
/// evaluated on the rows still in rather than on every row: DataFusion's own threshold.
const ON_ROWS_STILL_IN: usize = 5;

/// Gives each filter of two or more conditions a [`Conjunction`] (see the module
/// documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct ConjunctionFilters;

impl PhysicalOptimizerRule for ConjunctionFilters {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(with_conjunctions(plan)?.data)
    }

    fn name(&self) -> &str {
        "canon_conjunction_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The conditions of a filter, tested in order on a bitmap of the rows still in; true
/// where all hold, false where any is false or null.
#[derive(Debug)]
pub struct Conjunction {
    conditions: Vec<Condition>,
    /// The filter's input, which the conditions' columns index.
    schema: SchemaRef,
}

/// One condition of a [`Conjunction`] and how to evaluate it.
#[derive(Debug)]
struct Condition {
    expr: Arc<dyn PhysicalExpr>,
    /// Whether it compares columns and constants of fixed-width types: cheap on every
    /// row, and never an error.
    plain: bool,
    /// The input columns it reads, in order, and the condition over a batch of only those.
    reads: Vec<usize>,
    narrowed: Arc<dyn PhysicalExpr>,
}

impl Conjunction {
    /// The conjunction of `conditions` over rows of `schema`.
    pub fn try_new(conditions: Vec<Arc<dyn PhysicalExpr>>, schema: SchemaRef) -> Result<Self> {
        let conditions = conditions
            .into_iter()
            .map(|expr| Condition::try_new(expr, &schema))
            .collect::<Result<_>>()?;
        Ok(Self { conditions, schema })
    }
}

impl Condition {
    fn try_new(expr: Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<Self> {
        let mut reads: Vec<usize> = collect_columns(&expr).iter().map(Column::index).collect();
        reads.sort_unstable();
        reads.dedup();
        let narrowed = Arc::clone(&expr)
            .transform_up(|e| match e.downcast_ref::<Column>() {
                Some(column) => match reads.binary_search(&column.index()) {
                    Ok(at) => Ok(Transformed::yes(
                        Arc::new(Column::new(column.name(), at)) as _
                    )),
                    Err(_) => internal_err!("{column} is not among the columns {e} reads"),
                },
                None => Ok(Transformed::no(e)),
            })?
            .data;
        Ok(Self {
            plain: is_plain(expr.as_ref(), schema),
            expr,
            reads,
            narrowed,
        })
    }

    /// The rows of `batch` it holds on, among the `kept` ones (a bitmap and its count).
    fn holds(
        &self,
        batch: &RecordBatch,
        kept: Option<&(BooleanBuffer, usize)>,
    ) -> Result<BooleanBuffer> {
        let rows = batch.num_rows();
        match kept {
            Some((kept, count))
                if !self.plain && count.saturating_mul(ON_ROWS_STILL_IN) <= rows =>
            {
                let selection = BooleanArray::new(kept.clone(), None);
                let still_in = filter_record_batch(&batch.project(&self.reads)?, &selection)?;
                let holds = truth(self.narrowed.evaluate(&still_in)?, still_in.num_rows())?;
                Ok(scatter(kept, &holds))
            }
            Some((kept, _)) => Ok(kept & &truth(self.expr.evaluate(batch)?, rows)?),
            None => truth(self.expr.evaluate(batch)?, rows),
        }
    }
}

/// `plan` with a [`Conjunction`] in each filter of two or more conditions. Every other
/// node keeps the properties DataFusion derived for it: the conjunction changes how a
/// filter runs, not what it keeps, and DataFusion reads a filter's constants and equal
/// columns off a nested `AND` only.
fn with_conjunctions(plan: Arc<dyn ExecutionPlan>) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let mut changed = false;
    let mut children = Vec::with_capacity(plan.children().len());
    for child in plan.children() {
        let child = with_conjunctions(Arc::clone(child))?;
        changed |= child.transformed;
        children.push(child.data);
    }
    let node = match changed {
        true => plan.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
        )?,
        false => plan,
    };
    let Some(filter) = node.downcast_ref::<FilterExec>() else {
        return Ok(Transformed::new_transformed(node, changed));
    };
    let conditions = split_conjunction(filter.predicate());
    if conditions.len() < 2 {
        return Ok(Transformed::new_transformed(node, changed));
    }
    let conditions = conditions.into_iter().cloned().collect();
    let conjunction = Conjunction::try_new(conditions, filter.input().schema())?;
    let rebuilt = FilterExecBuilder::from(filter)
        .with_predicate(Arc::new(conjunction))
        .build()?;
    Ok(Transformed::yes(Arc::new(rebuilt)))
}

/// Whether `expr` compares columns and constants of fixed-width types, or tests one for
/// null: vectorised on every row, and never an error.
fn is_plain(expr: &dyn PhysicalExpr, schema: &Schema) -> bool {
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        use Operator::*;
        return match binary.op() {
            And => {
                is_plain(binary.left().as_ref(), schema)
                    && is_plain(binary.right().as_ref(), schema)
            }
            Eq | NotEq | Lt | LtEq | Gt | GtEq => {
                is_fixed_width(binary.left().as_ref(), schema)
                    && is_fixed_width(binary.right().as_ref(), schema)
            }
            _ => false,
        };
    }
    if let Some(not) = expr.downcast_ref::<NotExpr>() {
        return is_plain(not.arg().as_ref(), schema);
    }
    if let Some(null) = expr.downcast_ref::<IsNullExpr>() {
        return null.arg().is::<Column>();
    }
    if let Some(null) = expr.downcast_ref::<IsNotNullExpr>() {
        return null.arg().is::<Column>();
    }
    expr.is::<Column>() && expr.data_type(schema).is_ok_and(|t| t == DataType::Boolean)
}

/// Whether `expr` is a column or a constant of a number, decimal, time or boolean.
fn is_fixed_width(expr: &dyn PhysicalExpr, schema: &Schema) -> bool {
    (expr.is::<Column>() || expr.is::<Literal>())
        && expr
            .data_type(schema)
            .is_ok_and(|t| t.is_primitive() || t == DataType::Boolean)
}

/// The rows where a condition's value is true: null counts as false.
fn truth(value: ColumnarValue, rows: usize) -> Result<BooleanBuffer> {
    match value {
        ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))) => Ok(BooleanBuffer::new_set(rows)),
        ColumnarValue::Scalar(ScalarValue::Boolean(_)) => Ok(BooleanBuffer::new_unset(rows)),
        ColumnarValue::Scalar(other) => {
            internal_err!(
                "a filter's condition gave {}, not a boolean",
                other.data_type()
            )
        }
        ColumnarValue::Array(array) => {
            let Some(values) = array.as_boolean_opt() else {
                return internal_err!("a filter's condition gave {}", array.data_type());
            };
            if values.len() != rows {
                return internal_err!("a filter's condition gave {} rows of {rows}", values.len());
            }
            Ok(
                match values.nulls().filter(|nulls| nulls.null_count() > 0) {
                    Some(nulls) => values.values() & nulls.inner(),
                    None => values.values().clone(),
                },
            )
        }
    }
}

/// The bits of `holds`, one per row kept, set at the rows `kept` keeps.
fn scatter(kept: &BooleanBuffer, holds: &BooleanBuffer) -> BooleanBuffer {
    let mut bits = MutableBuffer::from_len_zeroed(kept.len().div_ceil(8));
    for (row, holds) in kept.set_indices().zip(holds.iter()) {
        if holds {
            bit_util::set_bit(bits.as_slice_mut(), row);
        }
    }
    BooleanBuffer::new(bits.into(), 0, kept.len())
}

impl PhysicalExpr for Conjunction {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let mut kept: Option<(BooleanBuffer, usize)> = None;
        for condition in &self.conditions {
            let holds = condition.holds(batch, kept.as_ref())?;
            let count = holds.count_set_bits();
            kept = Some((holds, count));
            if count == 0 {
                break;
            }
        }
        let kept = match kept {
            Some((kept, _)) => kept,
            None => BooleanBuffer::new_set(batch.num_rows()),
        };
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(
            kept, None,
        ))))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        self.conditions.iter().map(|c| &c.expr).collect()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(Self::try_new(children, Arc::clone(&self.schema))?))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_conditions(f, |expr, f| write!(f, "{}", fmt_sql(expr)))
    }
}

impl Conjunction {
    /// The conditions joined by `AND`, each written by `write`, in parentheses where it
    /// binds less tightly.
    fn write_conditions(
        &self,
        f: &mut fmt::Formatter<'_>,
        write: impl Fn(&dyn PhysicalExpr, &mut fmt::Formatter<'_>) -> fmt::Result,
    ) -> fmt::Result {
        for (at, condition) in self.conditions.iter().enumerate() {
            if at > 0 {
                write!(f, " AND ")?;
            }
            let looser = condition
                .expr
                .downcast_ref::<BinaryExpr>()
                .is_some_and(|b| b.op() == &Operator::Or);
            if looser {
                write!(f, "(")?;
            }
            write(condition.expr.as_ref(), f)?;
            if looser {
                write!(f, ")")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Conjunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_conditions(f, |expr, f| write!(f, "{expr}"))
    }
}

impl PartialEq for Conjunction {
    fn eq(&self, other: &Self) -> bool {
        self.children() == other.children()
    }
}

impl Eq for Conjunction {}

impl Hash for Conjunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for condition in &self.conditions {
            condition.expr.hash(state);
        }
    }
}
