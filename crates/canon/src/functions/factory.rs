//! Canon's `FunctionFactory`: every `CREATE FUNCTION` (in a session, where the policy
//! allows DDL) and every `[[function]]` (at start-up) becomes a [`SqlMacro`] through
//! [`MacroFactory`], which checks the name, binds the arguments, type-checks the body
//! and compiles it.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result, plan_datafusion_err, plan_err};
use datafusion::execution::context::{FunctionFactory, RegisterFunction, SessionState};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    CreateFunction, DdlStatement, DocSection, Documentation, Expr, ExprSchemable, LogicalPlan,
    ScalarUDF, Signature, Volatility, cast,
};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    CreateFunctionBody, Expr as SqlExpr, Ident, Statement as SqlStatement, Value,
    visit_expressions_mut,
};

use super::MacroSpec;
use super::macros::{SqlMacro, arg_column, passes_as, signature_text};
use super::{Overrides, clash};
use crate::diagnostics::{Diagnostics, Event};

/// Lets a macro body name its arguments plainly (`amount * rate`): DataFusion reads
/// arguments in a body only as `$amount` or `$1`, so unquoted identifiers that name an
/// argument become those placeholders before the statement is planned.
pub(crate) fn bind_argument_names(statement: &mut Statement) {
    let Statement::Statement(sql) = statement else {
        return;
    };
    let SqlStatement::CreateFunction(create) = sql.as_mut() else {
        return;
    };
    let names: Vec<(String, String)> = create
        .args
        .iter()
        .flatten()
        .filter_map(|a| a.name.as_ref())
        .map(|i| (normalized(i), i.value.clone()))
        .collect();
    let body = match &mut create.function_body {
        Some(
            CreateFunctionBody::Return(e)
            | CreateFunctionBody::AsAfterOptions(e)
            | CreateFunctionBody::AsBeforeOptions { body: e, .. },
        ) => e,
        _ => return,
    };
    let _ = visit_expressions_mut(body, |e| {
        if let SqlExpr::Identifier(ident) = e
            && let Some((_, written)) = names.iter().find(|(n, _)| *n == normalized(ident))
        {
            *e = SqlExpr::Value(Value::Placeholder(format!("${written}")).with_empty_span());
        }
        ControlFlow::<()>::Continue(())
    });
}

fn normalized(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// Canon's `FunctionFactory`: every `CREATE FUNCTION` makes a [`SqlMacro`].
#[derive(Debug)]
pub struct MacroFactory {
    overrides: Overrides,
    diagnostics: Diagnostics,
}

impl MacroFactory {
    pub(crate) fn new(overrides: Overrides, diagnostics: Diagnostics) -> Self {
        Self {
            overrides,
            diagnostics,
        }
    }

    /// Builds a declared macro through the same path as `CREATE FUNCTION`.
    pub(crate) async fn declare(
        &self,
        state: &SessionState,
        spec: &MacroSpec,
    ) -> Result<Arc<ScalarUDF>> {
        let dialect = state.config().options().sql_parser.dialect;
        let mut statement = state.sql_to_statement(&spec.create_sql(), &dialect)?;
        bind_argument_names(&mut statement);
        let LogicalPlan::Ddl(DdlStatement::CreateFunction(create)) =
            state.statement_to_plan(statement).await?
        else {
            return plan_err!("the declaration did not plan to CREATE FUNCTION");
        };
        let udf = build(state, *create, spec.description.clone(), &self.overrides)?;
        Ok(Arc::new(ScalarUDF::new_from_impl(udf)))
    }
}

#[async_trait]
impl FunctionFactory for MacroFactory {
    async fn create(
        &self,
        state: &SessionState,
        statement: CreateFunction,
    ) -> Result<RegisterFunction> {
        let replaced = super::existing(state, &statement.name);
        let udf = Arc::new(ScalarUDF::new_from_impl(build(
            state,
            statement,
            None,
            &self.overrides,
        )?));
        // The macro exists once DataFusion registers it; a failure to record is not a
        // reason to refuse it.
        let _ = self.diagnostics.record(Event::MacroCreated {
            session: state.session_id().to_string(),
            name: udf.name().to_string(),
            signature: signature_text(&udf),
            replaces: replaced,
        });
        Ok(RegisterFunction::Scalar(udf))
    }
}

/// Checks a `CREATE FUNCTION` and compiles its body.
fn build(
    state: &SessionState,
    create: CreateFunction,
    description: Option<String>,
    overrides: &BTreeSet<String>,
) -> Result<SqlMacro> {
    let name = create.name.clone();
    if name != name.to_lowercase() {
        return plan_err!(
            "macro names are lowercase (SQL folds unquoted names to lowercase, so `{name}` \
             could not be called)"
        );
    }
    if let Some(reason) = clash(state, &name, overrides, create.or_replace) {
        return plan_err!("{reason}");
    }
    if let Some(language) = &create.params.language
        && !language.value.eq_ignore_ascii_case("sql")
    {
        return plan_err!("macro `{name}`: only SQL bodies are supported, not LANGUAGE {language}");
    }
    let Some(returns) = create.return_type.clone() else {
        return plan_err!("macro `{name}` needs a return type: RETURNS <type>");
    };
    let Some(body) = create.params.function_body.clone() else {
        return plan_err!("macro `{name}` needs a body: RETURN <expression>");
    };
    let mut params = Vec::new();
    for arg in create.args.iter().flatten() {
        if arg.default_expr.is_some() {
            return plan_err!("macro `{name}`: argument defaults are not supported");
        }
        let arg_name = arg.name.as_ref().map(|i| match i.quote_style {
            Some(_) => i.value.clone(),
            None => i.value.to_lowercase(),
        });
        params.push((arg_name, arg.data_type.clone()));
    }

    let text = body_text(&body, &params);
    let body = bind_arguments(&name, body, &params)?;
    let fields: Vec<Field> = params
        .iter()
        .enumerate()
        .map(|(i, (_, t))| Field::new(arg_column(i), t.clone(), true))
        .collect();
    let arguments = Arc::new(Schema::new(fields));
    let df_schema = DFSchema::try_from(Arc::clone(&arguments))?;
    let context = SimplifyContext::builder()
        .with_schema(Arc::new(df_schema.clone()))
        .with_config_options(Arc::clone(state.config_options()))
        .build();
    let body = ExprSimplifier::new(context)
        .coerce(body, &df_schema)
        .map_err(|e| {
            plan_datafusion_err!(
                "macro `{name}`: body does not type-check: {}",
                crate::error::plain(&e)
            )
        })?;
    let body_type = body.get_type(&df_schema)?;
    if !passes_as(&body_type, &returns, false) {
        return plan_err!(
            "macro `{name}` declares RETURNS {returns} but its body is {body_type}; cast in \
             the body if that is intended"
        );
    }
    let compiled = state.create_physical_expr(cast(body.clone(), returns.clone()), &df_schema)?;
    let volatility = volatility(&body, create.params.behavior);

    let mut doc = Documentation::builder(
        DocSection {
            include: false,
            label: "SQL Macros",
            description: None,
        },
        description.unwrap_or_else(|| format!("SQL macro: RETURN {text}")),
        format!("{name}({})", call_args(&params)),
    );
    // information_schema names parameters from the documentation, positionally.
    if params.iter().all(|(n, _)| n.is_some()) {
        for (n, t) in &params {
            doc = doc.with_argument(n.clone().unwrap_or_default(), t.to_string());
        }
    }
    Ok(SqlMacro {
        name,
        params,
        returns,
        body,
        body_type,
        text,
        // Arguments are checked by `coerce_types`, so that `g(3)` works for an INT
        // argument (an exact signature refuses the BIGINT literal).
        signature: Signature::user_defined(volatility),
        documentation: doc.build(),
        compiled,
        arguments,
    })
}

/// The body as SQL, with named arguments by name rather than DataFusion's `$n`.
fn body_text(body: &Expr, params: &[(Option<String>, DataType)]) -> String {
    let named = body
        .clone()
        .transform(|e| match &e {
            Expr::Placeholder(p) => {
                let name =
                    p.id.trim_start_matches('$')
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| {
                            params
                                .get(n.wrapping_sub(1))
                                .and_then(|(name, _)| name.clone())
                        });
                Ok(match name {
                    Some(n) => Transformed::yes(Expr::Column(Column::new_unqualified(n))),
                    None => Transformed::no(e),
                })
            }
            _ => Ok(Transformed::no(e)),
        })
        .map_or_else(|_| body.clone(), |t| t.data);
    datafusion::sql::unparser::expr_to_sql(&named)
        .map_or_else(|_| named.to_string(), |sql| sql.to_string())
}

fn call_args(params: &[(Option<String>, DataType)]) -> String {
    let names: Vec<String> = params
        .iter()
        .enumerate()
        .map(|(i, (n, _))| n.clone().unwrap_or_else(|| format!("${}", i + 1)))
        .collect();
    names.join(", ")
}

/// Replaces references to arguments (`x`, `$x` or `$1`) with internal columns, and
/// refuses anything else a scalar expression over the arguments cannot contain.
fn bind_arguments(name: &str, body: Expr, params: &[(Option<String>, DataType)]) -> Result<Expr> {
    let by_name = |n: &str| params.iter().position(|(p, _)| p.as_deref() == Some(n));
    let column = |i: usize| Expr::Column(Column::new_unqualified(arg_column(i)));
    let mut refused = None;
    body.apply(|e| {
        let what = match e {
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) => "subqueries",
            Expr::AggregateFunction(_) => "aggregate functions",
            Expr::WindowFunction(_) => "window functions",
            _ => return Ok(TreeNodeRecursion::Continue),
        };
        refused = Some(what);
        Ok(TreeNodeRecursion::Stop)
    })?;
    if let Some(what) = refused {
        return plan_err!(
            "macro `{name}`: a macro body is a scalar expression; {what} are not allowed"
        );
    }
    body.transform_up(|e| match &e {
        Expr::Placeholder(p) => {
            let id = p.id.trim_start_matches('$');
            let index = match id.parse::<usize>() {
                Ok(n) if (1..=params.len()).contains(&n) => Some(n - 1),
                Ok(_) => None,
                Err(_) => by_name(id),
            };
            match index {
                Some(i) => Ok(Transformed::yes(column(i))),
                None => plan_err!("macro `{name}`: `{}` is not one of its arguments", p.id),
            }
        }
        Expr::Column(c) if c.relation.is_none() => match by_name(&c.name) {
            Some(i) => Ok(Transformed::yes(column(i))),
            None => plan_err!(
                "macro `{name}`: the body refers to `{}`, which is not one of its arguments",
                c.name
            ),
        },
        Expr::Column(c) => plan_err!(
            "macro `{name}`: the body refers to column `{c}`; a macro sees only its arguments"
        ),
        _ => Ok(Transformed::no(e)),
    })
    .map(|t| t.data)
}

/// A macro is immutable when its body is; otherwise it is volatile, so that DataFusion
/// inlines it at planning rather than folding a call with the body's time or randomness.
fn volatility(body: &Expr, declared: Option<Volatility>) -> Volatility {
    let mut immutable = declared.is_none_or(|v| v == Volatility::Immutable);
    let _ = body.apply(|e| {
        if let Expr::ScalarFunction(f) = e
            && f.func.signature().volatility != Volatility::Immutable
        {
            immutable = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    if immutable {
        Volatility::Immutable
    } else {
        Volatility::Volatile
    }
}
