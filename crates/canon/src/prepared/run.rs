//! The session side of prepared statements: what PREPARE, EXECUTE and DEALLOCATE do in
//! Canon before (and after) DataFusion runs them.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    Deallocate, Execute, Expr, LogicalPlan, Prepare, Statement as PlanStatement,
};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use super::{Declared, Entry, Parameter, PreparedError, PreparedOrigin};
use crate::diagnostics::Event;
use crate::error::{CanonError, Result};
use crate::policy::StatementClass;
use crate::session::Session;

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

impl Session {
    /// Runs a statement that passed the policy; prepared-statement plans go through
    /// Canon's registry, everything else straight to DataFusion.
    pub(crate) async fn run_plan(
        &self,
        plan: LogicalPlan,
        text: &str,
        typed: bool,
    ) -> Result<DataFrame> {
        match plan {
            LogicalPlan::Statement(PlanStatement::Prepare(prepare)) => {
                self.prepare_plan(prepare, text, typed, None).await
            }
            LogicalPlan::Statement(PlanStatement::Execute(execute)) => {
                self.execute_plan(execute).await
            }
            LogicalPlan::Statement(PlanStatement::Deallocate(deallocate)) => {
                self.deallocate_plan(deallocate).await
            }
            plan => Ok(self.ctx.execute_logical_plan(plan).await?),
        }
    }

    /// Executes a prepared statement (this session's, the project's or Canon's) with
    /// parameter values, under the same checks as SQL `EXECUTE`.
    pub async fn execute(&self, name: &str, params: Vec<ScalarValue>) -> Result<DataFrame> {
        let parameters: Vec<Expr> = params.into_iter().map(|v| Expr::Literal(v, None)).collect();
        let shown: Vec<String> = parameters.iter().map(sql_text).collect();
        let text = format!("EXECUTE {name}({})", shown.join(", "));
        let plan = LogicalPlan::Statement(PlanStatement::Execute(Execute {
            name: name.to_string(),
            parameters,
        }));
        self.policy
            .check_plan(&plan)
            .map_err(|v| self.rejected(v))?;
        self.run(plan, StatementClass::Query, text, false).await
    }

    /// Executes a prepared statement with parameter values given as text, each read as its
    /// parameter's type (untyped parameters: a number or boolean when the text reads as
    /// one, otherwise a string).
    pub async fn execute_text(&self, name: &str, params: &[String]) -> Result<DataFrame> {
        let entry = self.ensure_prepared(name).await?;
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
        self.execute(name, values).await
    }

    /// The parameters of a statement this session can execute.
    pub async fn parameters(&self, name: &str) -> Result<Vec<Parameter>> {
        Ok(self.ensure_prepared(name).await?.params)
    }

    /// This session's entry for `name`, preparing a declared statement on first use.
    async fn ensure_prepared(&self, name: &str) -> Result<Entry> {
        if let Some(entry) = self.prepared.entry(name) {
            return Ok(entry);
        }
        let Some(declared) = self.prepared.declared(name).cloned() else {
            let known = self.prepared.known();
            return Err(PreparedError::Unknown {
                name: name.to_string(),
                known,
            }
            .into());
        };
        let statement = declared
            .parse(self.sql_policy())?
            .into_iter()
            .next()
            .ok_or_else(|| {
                CanonError::DataFusion(datafusion::error::DataFusionError::Plan(format!(
                    "declared statement `{name}` is empty"
                )))
            })?;
        let typed = declares_types(&statement);
        let (plan, class, text) = self.plan_statement(statement).await?;
        // PREPARE runs directly in DataFusion, past the plan hook: recorded here.
        self.record_planned(&plan, class, &text)?;
        let LogicalPlan::Statement(PlanStatement::Prepare(prepare)) = plan else {
            return Err(CanonError::DataFusion(
                datafusion::error::DataFusionError::Plan(format!(
                    "declared statement `{name}` did not plan to PREPARE"
                )),
            ));
        };
        self.prepare_plan(prepare, &declared.sql, typed, Some(&declared))
            .await?;
        self.prepared.entry(name).ok_or_else(|| {
            let known = self.prepared.known();
            PreparedError::Unknown {
                name: name.to_string(),
                known,
            }
            .into()
        })
    }

    async fn prepare_plan(
        &self,
        prepare: Prepare,
        text: &str,
        typed: bool,
        declared: Option<&Declared>,
    ) -> Result<DataFrame> {
        let name = prepare.name.clone();
        if declared.is_none()
            && let Some(d) = self.prepared.declared(&name)
        {
            return Err(PreparedError::Reserved {
                name,
                what: holder(d),
            }
            .into());
        }
        if self.prepared.entry(&name).is_some() {
            return Err(PreparedError::AlreadyPrepared { name }.into());
        }
        let params = parameters(&prepare, typed)?;
        let origin = declared.map_or(PreparedOrigin::Session, |d| d.origin);
        let df = self
            .ctx
            .execute_logical_plan(LogicalPlan::Statement(PlanStatement::Prepare(prepare)))
            .await?;
        self.prepared.insert(
            name.clone(),
            Entry {
                origin,
                sql: text.to_string(),
                params: params.clone(),
                executions: 0,
            },
        );
        self.diagnostics.record(Event::StatementPrepared {
            session: self.id(),
            name,
            origin,
            parameters: params,
            statement: text.to_string(),
        })?;
        Ok(df)
    }

    async fn execute_plan(&self, execute: Execute) -> Result<DataFrame> {
        let name = execute.name.clone();
        let entry = self.ensure_prepared(&name).await?;
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
                .with_config_options(Arc::clone(self.ctx.copied_config().options()))
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
        self.diagnostics.record(Event::StatementExecuted {
            session: self.id(),
            name: name.clone(),
            parameters: shown,
        })?;
        self.prepared.executed(&name);
        Ok(self
            .ctx
            .execute_logical_plan(LogicalPlan::Statement(PlanStatement::Execute(execute)))
            .await?)
    }

    async fn deallocate_plan(&self, deallocate: Deallocate) -> Result<DataFrame> {
        let name = deallocate.name.clone();
        if let Some(d) = self.prepared.declared(&name) {
            return Err(PreparedError::Reserved {
                name,
                what: holder(d),
            }
            .into());
        }
        if self.prepared.entry(&name).is_none() {
            let known = self.prepared.known();
            return Err(PreparedError::Unknown { name, known }.into());
        }
        let df = self
            .ctx
            .execute_logical_plan(LogicalPlan::Statement(PlanStatement::Deallocate(
                deallocate,
            )))
            .await?;
        self.prepared.remove(&name);
        Ok(df)
    }
}

/// What holds a declared statement's name, for refusals.
fn holder(declared: &Declared) -> String {
    match (&declared.origin, &declared.location) {
        (PreparedOrigin::System, _) => "one of Canon's system statements".into(),
        (_, Some(at)) => format!("declared in the project file at {at}"),
        _ => "declared in the project file".into(),
    }
}
