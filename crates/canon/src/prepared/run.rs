//! The session side of prepared statements: what PREPARE, EXECUTE and DEALLOCATE do in
//! Canon before (and after) DataFusion runs them. The session calls these with the parts
//! of itself they need (a [`Scope`]).

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    Deallocate, Execute, Expr, LogicalPlan, Prepare, Statement as PlanStatement,
};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use super::{Declared, Entry, Parameter, PreparedOrigin, SessionStatements};
use crate::diagnostics::{Diagnostics, Event};
use crate::error::{CanonError, PreparedError, Result};

/// Whether a parsed statement is a PREPARE that declares its parameter types.
pub(crate) fn declares_types(statement: &Statement) -> bool {
    matches!(statement, Statement::Statement(s)
        if matches!(s.as_ref(), SqlStatement::Prepare { data_types, .. } if !data_types.is_empty()))
}

/// The parameters of a planned PREPARE: declared types, else the types the statement
/// determines; a statement that determines only some of them is refused.
pub(crate) fn parameters(prepare: &Prepare, typed: bool) -> Result<Vec<Parameter>> {
    let name = &prepare.name;
    let mut numbers = Vec::new();
    for id in prepare.input.get_parameter_names()? {
        match id.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n >= 1 => numbers.push(n),
            _ => {
                let param = id.clone();
                return Err(PreparedError::NotPositional {
                    name: name.clone(),
                    param,
                }
                .into());
            }
        }
    }
    numbers.sort_unstable();
    let used = numbers.len();
    if let Some(missing) = (1..=used).find(|n| numbers.binary_search(n).is_err()) {
        let highest = numbers.last().copied().unwrap_or(missing);
        return Err(PreparedError::Gap {
            name: name.clone(),
            missing,
            highest,
        }
        .into());
    }
    let param_name = |i: usize| format!("${}", i + 1);
    if !prepare.fields.is_empty() && prepare.fields.len() != used {
        if typed {
            let declared = prepare.fields.len();
            return Err(PreparedError::TypeCount {
                name: name.clone(),
                declared,
                used,
            }
            .into());
        }
        let fields = prepare.input.get_parameter_fields()?;
        let untyped = (0..used)
            .map(param_name)
            .find(|p| fields.get(p).is_none_or(Option::is_none))
            .unwrap_or_else(|| param_name(used.saturating_sub(1)));
        return Err(PreparedError::Untyped {
            name: name.clone(),
            param: untyped,
        }
        .into());
    }
    Ok((0..used)
        .map(|i| Parameter {
            name: param_name(i),
            data_type: prepare.fields.get(i).map(|f| f.data_type().clone()),
            inferred: !typed && !prepare.fields.is_empty(),
        })
        .collect())
}

/// A constant as SQL, for messages and diagnostics.
fn sql_text(value: &Expr) -> String {
    datafusion::sql::unparser::expr_to_sql(value)
        .map_or_else(|_| value.to_string(), |e| e.to_string())
}

/// A value typed on the command line for an untyped parameter: a number or boolean when
/// it reads as one, text otherwise.
fn guess(text: &str) -> ScalarValue {
    if let Ok(i) = text.parse::<i64>() {
        ScalarValue::Int64(Some(i))
    } else if let Ok(f) = text.parse::<f64>() {
        ScalarValue::Float64(Some(f))
    } else if let Ok(b) = text.parse::<bool>() {
        ScalarValue::Boolean(Some(b))
    } else {
        ScalarValue::Utf8(Some(text.to_string()))
    }
}

/// What prepared statements need of the session they run in.
pub(crate) struct Scope<'a> {
    /// The session's DataFusion context.
    pub ctx: &'a SessionContext,
    /// The session's prepared statements.
    pub statements: &'a SessionStatements,
    /// The runtime's event stream.
    pub diagnostics: &'a Diagnostics,
}

impl Scope<'_> {
    fn session_id(&self) -> String {
        self.ctx.session_id()
    }
}

/// The plan of an `EXECUTE` of `name` with parameter values.
pub(crate) fn execute_plan(name: &str, params: Vec<ScalarValue>) -> (LogicalPlan, String) {
    let parameters: Vec<Expr> = params.into_iter().map(|v| Expr::Literal(v, None)).collect();
    let shown: Vec<String> = parameters.iter().map(sql_text).collect();
    let text = format!("EXECUTE {name}({})", shown.join(", "));
    let plan = LogicalPlan::Statement(PlanStatement::Execute(Execute {
        name: name.to_string(),
        parameters,
    }));
    (plan, text)
}

/// Parameter values given as text, each read as its parameter's type (untyped
/// parameters: a number or boolean when the text reads as one, otherwise a string).
pub(crate) fn values_from_text(
    name: &str,
    entry: Entry,
    params: &[String],
) -> Result<Vec<ScalarValue>> {
    if params.len() != entry.params.len() {
        return Err(PreparedError::ParameterCount {
            name: name.to_string(),
            params: entry.params,
            given: params.len(),
        }
        .into());
    }
    let mut values = Vec::with_capacity(params.len());
    for (text, param) in params.iter().zip(&entry.params) {
        let value = match &param.data_type {
            None => guess(text),
            Some(t) => ScalarValue::try_from_string(text.clone(), t).map_err(|e| {
                PreparedError::ParameterType {
                    name: name.to_string(),
                    param: param.name.clone(),
                    expected: t.to_string(),
                    value: format!("`{text}`"),
                    reason: e.strip_backtrace(),
                }
            })?,
        };
        values.push(value);
    }
    Ok(values)
}

/// The error for a name nothing is prepared or declared under.
pub(crate) fn unknown(statements: &SessionStatements, name: &str) -> CanonError {
    PreparedError::Unknown {
        name: name.to_string(),
        known: statements.known(),
    }
    .into()
}

/// Runs a planned PREPARE: checks the name and parameters, then records the statement.
pub(crate) async fn prepare(
    scope: &Scope<'_>,
    prepare: Prepare,
    text: &str,
    typed: bool,
    declared: Option<&Declared>,
) -> Result<DataFrame> {
    let name = prepare.name.clone();
    if declared.is_none()
        && let Some(d) = scope.statements.declared(&name)
    {
        return Err(PreparedError::Reserved {
            name,
            what: holder(d),
        }
        .into());
    }
    if scope.statements.entry(&name).is_some() {
        return Err(PreparedError::AlreadyPrepared { name }.into());
    }
    let params = parameters(&prepare, typed)?;
    let origin = declared.map_or(PreparedOrigin::Session, |d| d.origin);
    let df = scope
        .ctx
        .execute_logical_plan(LogicalPlan::Statement(PlanStatement::Prepare(prepare)))
        .await?;
    scope.statements.insert(
        name.clone(),
        Entry {
            origin,
            sql: text.to_string(),
            params: params.clone(),
            executions: 0,
        },
    );
    scope.diagnostics.record(Event::StatementPrepared {
        session: scope.session_id(),
        name,
        origin,
        parameters: params,
        statement: text.to_string(),
    })?;
    Ok(df)
}

/// Runs a planned EXECUTE of the prepared statement `entry`: each value must be a
/// constant of its parameter's type.
pub(crate) async fn execute(
    scope: &Scope<'_>,
    execute: Execute,
    entry: Entry,
) -> Result<DataFrame> {
    let name = execute.name.clone();
    if execute.parameters.len() != entry.params.len() {
        let given = execute.parameters.len();
        return Err(PreparedError::ParameterCount {
            name,
            params: entry.params,
            given,
        }
        .into());
    }
    let simplifier = ExprSimplifier::new(
        SimplifyContext::builder()
            .with_config_options(Arc::clone(scope.ctx.copied_config().options()))
            .build(),
    );
    let mut shown = Vec::with_capacity(entry.params.len());
    for (expr, param) in execute.parameters.iter().zip(&entry.params) {
        let value = simplifier.simplify(expr.clone())?;
        let Expr::Literal(scalar, _) = &value else {
            let (param, value) = (param.name.clone(), sql_text(expr));
            return Err(PreparedError::NotConstant { name, param, value }.into());
        };
        if let Some(t) = &param.data_type
            && let Err(e) = scalar.cast_to(t)
        {
            return Err(PreparedError::ParameterType {
                name,
                param: param.name.clone(),
                expected: t.to_string(),
                value: format!("{} ({})", sql_text(&value), scalar.data_type()),
                reason: e.strip_backtrace(),
            }
            .into());
        }
        shown.push(sql_text(&value));
    }
    scope.diagnostics.record(Event::StatementExecuted {
        session: scope.session_id(),
        name: name.clone(),
        parameters: shown,
    })?;
    scope.statements.executed(&name);
    Ok(scope
        .ctx
        .execute_logical_plan(LogicalPlan::Statement(PlanStatement::Execute(execute)))
        .await?)
}

/// Runs a planned DEALLOCATE of a statement this session prepared.
pub(crate) async fn deallocate(scope: &Scope<'_>, deallocate: Deallocate) -> Result<DataFrame> {
    let name = deallocate.name.clone();
    if let Some(d) = scope.statements.declared(&name) {
        return Err(PreparedError::Reserved {
            name,
            what: holder(d),
        }
        .into());
    }
    if scope.statements.entry(&name).is_none() {
        return Err(unknown(scope.statements, &name));
    }
    let df = scope
        .ctx
        .execute_logical_plan(LogicalPlan::Statement(PlanStatement::Deallocate(
            deallocate,
        )))
        .await?;
    scope.statements.remove(&name);
    Ok(df)
}

/// What holds a declared statement's name, for refusals.
fn holder(declared: &Declared) -> String {
    match (&declared.origin, &declared.location) {
        (PreparedOrigin::System, _) => "one of Canon's system statements".into(),
        (_, Some(at)) => format!("declared in the project file at {at}"),
        _ => "declared in the project file".into(),
    }
}
