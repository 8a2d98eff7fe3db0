//! SQL macros: `CREATE FUNCTION name(arg TYPE, …) RETURNS TYPE RETURN expr` and the
//! project's `[[function]]` declarations, both built by one
//! [`MacroFactory`](super::factory::MacroFactory).
//!
//! A macro is a typed expression over its arguments. Its body is type-checked when it is
//! created; at planning it is inlined into the calling expression (so the optimizer sees
//! through it), and where DataFusion evaluates a call directly (constant folding) the
//! compiled body is evaluated on the arguments.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::cast as arrow_cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    cast,
};
use datafusion::physical_expr::PhysicalExpr;

/// A SQL macro: a named, typed expression over its arguments.
#[derive(Debug)]
pub struct SqlMacro {
    pub(super) name: String,
    pub(super) params: Vec<(Option<String>, DataType)>,
    pub(super) returns: DataType,
    /// The type-checked body; argument `i` is the column [`arg_column`]`(i)`.
    pub(super) body: Expr,
    /// The type the body evaluates to (cast to `returns` when it differs).
    pub(super) body_type: DataType,
    /// The body as SQL, for people.
    pub(super) text: String,
    pub(super) signature: Signature,
    pub(super) documentation: Documentation,
    /// The compiled body, over a batch of the arguments.
    pub(super) compiled: Arc<dyn PhysicalExpr>,
    pub(super) arguments: SchemaRef,
}

impl PartialEq for SqlMacro {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, &self.params, &self.returns, &self.body)
            == (&other.name, &other.params, &other.returns, &other.body)
    }
}

impl Eq for SqlMacro {}

impl Hash for SqlMacro {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (&self.name, &self.params, &self.returns, &self.body).hash(state);
    }
}

/// The internal column standing for argument `i` inside a macro body.
pub(super) fn arg_column(i: usize) -> String {
    format!("__canon_macro_arg_{i}")
}

impl SqlMacro {
    /// The body as SQL.
    pub fn body_sql(&self) -> &str {
        &self.text
    }

    /// The arguments as `name TYPE, …`.
    pub fn arguments(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(n, t)| match n {
                Some(n) => format!("{n} {t}"),
                None => t.to_string(),
            })
            .collect();
        params.join(", ")
    }

    /// The declared return type.
    pub fn return_type(&self) -> &DataType {
        &self.returns
    }
}

/// Whether a value of type `from` may be passed (and cast) where `to` is declared, or a
/// body of type `from` returned as `to`: the same type, NULL, or the same family
/// (numbers, strings, binary, temporal); strings may also be passed as temporal values.
pub(super) fn passes_as(from: &DataType, to: &DataType, argument: bool) -> bool {
    let string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let binary = |t: &DataType| {
        matches!(
            t,
            DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        )
    };
    if let DataType::Dictionary(_, values) = from {
        return passes_as(values, to, argument);
    }
    from == to
        || from.is_null()
        || (from.is_numeric() && to.is_numeric())
        || (string(from) && string(to))
        || (binary(from) && binary(to))
        || (from.is_temporal() && to.is_temporal())
        || (argument && string(from) && to.is_temporal())
}

impl ScalarUDFImpl for SqlMacro {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != self.params.len() {
            return plan_err!(
                "macro `{}` takes {} argument(s) ({}), not {}",
                self.name,
                self.params.len(),
                self.arguments(),
                arg_types.len()
            );
        }
        for (i, (given, (name, declared))) in arg_types.iter().zip(&self.params).enumerate() {
            if !passes_as(given, declared, true) {
                let which = name.clone().unwrap_or_else(|| format!("${}", i + 1));
                return plan_err!(
                    "macro `{}`: argument {} ({which}) is {declared}; a {given} cannot be passed",
                    self.name,
                    i + 1
                );
            }
        }
        Ok(self.params.iter().map(|(_, t)| t.clone()).collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let columns = args
            .args
            .iter()
            .zip(self.arguments.fields())
            .map(|(a, field)| {
                let array = a.to_array(rows)?;
                match array.data_type() == field.data_type() {
                    true => Ok(array),
                    false => Ok(arrow_cast(&array, field.data_type())?),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let batch =
            RecordBatch::try_new_with_options(Arc::clone(&self.arguments), columns, &options)?;
        self.compiled.evaluate(&batch)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // Arguments arrive coerced to the declared types (see `coerce_types`); a cast is
        // added only where one is still needed, so plans read like the body.
        let typed = |expr: Expr, t: &DataType| match info.get_data_type(&expr) {
            Ok(actual) if actual == *t => expr,
            _ => cast(expr, t.clone()),
        };
        let inlined = self
            .body
            .clone()
            .transform_up(|e| match &e {
                Expr::Column(c) if c.relation.is_none() => {
                    match (0..args.len()).find(|i| arg_column(*i) == c.name) {
                        Some(i) => Ok(Transformed::yes(typed(args[i].clone(), &self.params[i].1))),
                        None => Ok(Transformed::no(e)),
                    }
                }
                _ => Ok(Transformed::no(e)),
            })?
            .data;
        let result = match self.body_type == self.returns {
            true => inlined,
            false => cast(inlined, self.returns.clone()),
        };
        Ok(ExprSimplifyResult::Simplified(result))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.documentation)
    }
}

/// `name(arg TYPE, …) -> TYPE` for a macro; the name alone for other functions.
pub(crate) fn signature_text(udf: &ScalarUDF) -> String {
    let inner: &dyn std::any::Any = udf.inner().as_ref();
    let Some(m) = inner.downcast_ref::<SqlMacro>() else {
        return udf.name().to_string();
    };
    format!("{}({}) -> {}", m.name, m.arguments(), m.returns)
}
