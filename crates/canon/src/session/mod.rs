//! Sessions: cheap per-user contexts made from the runtime's template, sharing its
//! datasets, profile and policy, each with its own scratch tables and settings.
//!
//! Everything a caller can do with a session is in the one `impl Session` below: SQL text,
//! parsed statements, prepared statements, DataFrames, writes and explanations. Each
//! method checks the policy and records what it runs, then hands the work to the layer
//! that does it (`prepared`, `sql::explain`, DataFusion itself).

mod listing;
mod schema;

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::execution::context::SessionContext;
use datafusion::execution::options::{
    ArrowReadOptions, CsvReadOptions, JsonReadOptions, ParquetReadOptions,
};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, Statement as PlanStatement};
use datafusion::sql::parser::Statement;

use crate::diagnostics::{Diagnostics, Event};
use crate::error::{CanonError, Result, SessionError};
use crate::plans::{PlanCache, Reusable};
use crate::policy::{PolicyViolation, SqlPolicy, StatementClass};
use crate::prepared::run::{self as prepared, Scope};
use crate::prepared::{Entry, Parameter, SessionStatements, declares_types};
use crate::registry::DatasetTables;
use crate::sql::Explanation;
use crate::sql::explain::explain_plan;

pub use listing::{TableEntry, TableKind};

/// The schema of every session that holds Canon's system tables.
pub const SYSTEM_SCHEMA: &str = "canon";
pub(crate) use schema::SessionSchema;

/// A session: every statement passes the policy, is recorded, then runs.
#[derive(Clone)]
pub struct Session {
    pub(crate) ctx: SessionContext,
    pub(crate) policy: Arc<SqlPolicy>,
    datasets: DatasetTables,
    pub(crate) diagnostics: Diagnostics,
    /// This session's prepared statements (also in its config, for `canon.prepared`).
    pub(crate) prepared: Arc<SessionStatements>,
    /// The plans of queries this session ran, by SQL text; none in a session that
    /// distributes, whose planner plans only what it made itself.
    plans: Option<Arc<PlanCache>>,
}

impl Session {
    pub(crate) fn new(
        ctx: SessionContext,
        policy: Arc<SqlPolicy>,
        datasets: DatasetTables,
        diagnostics: Diagnostics,
        prepared: Arc<SessionStatements>,
    ) -> Self {
        let distributes = crate::distributed::is_distributed(ctx.state_ref().read().config());
        Self {
            ctx,
            policy,
            datasets,
            diagnostics,
            prepared,
            plans: (!distributes).then(Arc::default),
        }
    }

    /// This session under another policy, for the parts of Canon that run statements the
    /// project declares (a model build's writes): the plan hook reads it from the config.
    pub(crate) fn with_policy(&self, policy: SqlPolicy) -> Self {
        let policy = Arc::new(policy);
        Self {
            policy: Arc::clone(&policy),
            ..self.with_extension(policy)
        }
    }

    /// This session with `extension` in its config, where Canon's own layers read it (the
    /// plan hook a session's policy, a format's sink what its commits record).
    pub(crate) fn with_extension<T: Send + Sync + 'static>(&self, extension: Arc<T>) -> Self {
        let state = self.ctx.state();
        let config = state.config().clone().with_extension(extension);
        let state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .build();
        Self {
            ctx: SessionContext::new_with_state(state),
            ..self.clone()
        }
    }

    /// This session's id, as recorded in diagnostics.
    pub fn id(&self) -> String {
        self.ctx.session_id()
    }

    /// Parses SQL text into statements, in the policy's dialect, nesting at most as deep
    /// as the session's `datafusion.sql_parser.recursion_limit`.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        let limit = {
            let state = self.ctx.state_ref();
            let state = state.read();
            state.config_options().sql_parser.recursion_limit.get()
        };
        Ok(self.policy.parse_with_limit(sql, limit)?)
    }

    /// Runs one SQL statement and returns its result as a DataFrame.
    ///
    /// DDL, DML and statements take effect when this returns; queries run when the
    /// DataFrame is collected.
    ///
    /// A query this session ran before, with the same text, runs from the plan it was
    /// optimized to then, when nothing it depends on has changed (see `plans`).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        if let Some(plans) = &self.plans
            && let Some(reusable) = plans.get(&self.ctx, sql).await
        {
            let df = DataFrame::new(self.ctx.state(), reusable.plan());
            return Ok(crate::hook::annotate(df, reusable.statement.clone()));
        }
        let statement = self.one_statement(sql)?;
        self.run_statement(statement, Some(sql)).await
    }

    /// The logical plan of one statement of SQL text, checked by the policy as
    /// [`Self::sql`] checks it, as planned now: never a kept plan, so that a caller may
    /// rewrite it (a model build reads its upstream's changes in its place).
    pub(crate) async fn fresh_plan(&self, sql: &str) -> Result<LogicalPlan> {
        let statement = self.one_statement(sql)?;
        Ok(self.plan_statement(statement).await?.0)
    }

    /// Runs an already-parsed statement under the same policy as SQL text.
    ///
    /// Queries are recorded by the plan hook when they run; DDL and `SET`, which DataFusion
    /// runs here without a physical plan, are recorded here.
    pub async fn statement(&self, statement: Statement) -> Result<DataFrame> {
        self.run_statement(statement, None).await
    }

    /// Runs a parsed statement; a query's optimized plan is kept under `sql`, its text,
    /// when there is one and the plan may be kept.
    async fn run_statement(
        &self,
        mut statement: Statement,
        sql: Option<&str>,
    ) -> Result<DataFrame> {
        crate::functions::factory::bind_argument_names(&mut statement);
        let typed = declares_types(&statement);
        let (plan, class, text) = self.plan_statement(statement).await?;
        if let (Some(sql), Some(plans), StatementClass::Query) = (sql, &self.plans, class) {
            let state = self.ctx.state();
            if let Some(reusable) = Reusable::of(&self.ctx, &state, &text, &plan).await {
                plans.insert(sql, Arc::clone(&reusable));
                let df = DataFrame::new(state, reusable.plan());
                return Ok(crate::hook::annotate(df, text));
            }
        }
        self.run(plan, class, text, typed).await
    }

    /// Runs a plan that passed [`Self::plan_statement`] (or was built by Canon and checked
    /// the same way); `typed` says whether a PREPARE declared its parameter types.
    async fn run(
        &self,
        plan: LogicalPlan,
        class: StatementClass,
        text: String,
        typed: bool,
    ) -> Result<DataFrame> {
        tracing::debug!(session = %self.id(), %class, "planned");
        if !crate::hook::runs_directly(&plan) {
            let df = self.run_plan(plan, &text, typed).await?;
            return Ok(crate::hook::annotate(df, text));
        }
        // DDL and `SET` change what names mean and how plans are optimized.
        self.forget_plans();
        self.record_planned(&plan, class, &text)?;
        let df = self.run_plan(plan, &text, typed).await?;
        Ok(crate::hook::annotate_recorded(df, text))
    }

    /// Records a plan DataFusion runs directly (without the plan hook seeing it).
    fn record_planned(&self, plan: &LogicalPlan, class: StatementClass, text: &str) -> Result<()> {
        let state = self.ctx.state();
        crate::hook::record(
            &self.diagnostics,
            &self.id(),
            class,
            text.to_string(),
            plan,
            state.config_options(),
        )
        .map(drop)
    }

    /// Checks and plans a statement without running it: the policy on the statement, then
    /// on the plan. Returns the plan, its class and the statement's text.
    async fn plan_statement(
        &self,
        statement: Statement,
    ) -> Result<(LogicalPlan, StatementClass, String)> {
        let text = statement.to_string();
        let class = self
            .policy
            .check(&statement)
            .map_err(|v| self.rejected(v))?;
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        self.policy
            .check_plan(&plan)
            .map_err(|v| self.rejected(v))?;
        self.guard_datasets(&plan)?;
        guard_owned_settings(&plan)?;
        crate::functions::guard_drop(&self.ctx, &plan)?;
        Ok((plan, class, text))
    }

    /// The columns a statement would return and the `$n` parameters it takes, in order,
    /// with the types planning gives them; planned under the policy but not run.
    pub async fn describe(&self, sql: &str) -> Result<(SchemaRef, Vec<Parameter>)> {
        let statement = self.one_statement(sql)?;
        let (plan, _, _) = self.plan_statement(statement).await?;
        let mut parameters: Vec<Parameter> = plan
            .get_parameter_types()?
            .into_iter()
            .map(|(name, data_type)| Parameter {
                name,
                data_type,
                inferred: true,
            })
            .collect();
        parameters.sort_by_key(|p| {
            let position = p.name.trim_start_matches('$').parse::<usize>();
            (position.unwrap_or(usize::MAX), p.name.clone())
        });
        Ok((Arc::clone(plan.schema().inner()), parameters))
    }

    /// Every table this session can query: datasets, its own tables and Canon's system
    /// tables, ordered by catalog, schema and name.
    pub async fn tables(&self) -> Result<Vec<TableEntry>> {
        listing::tables(&self.ctx).await
    }

    /// Installs what a front end needs into this session alone, such as a Postgres
    /// `pg_catalog` schema and its functions: `install` gets the session's context.
    ///
    /// The session's catalogs and functions are its own, so nothing reaches other
    /// sessions; statements run afterwards still pass the policy and the plan hook.
    pub fn extend<F>(&self, install: F) -> Result<()>
    where
        F: FnOnce(&SessionContext) -> datafusion::error::Result<()>,
    {
        self.forget_plans();
        Ok(install(&self.ctx)?)
    }

    /// Forgets the plans of queries this session ran, once names or settings may mean
    /// something else.
    fn forget_plans(&self) {
        if let Some(plans) = &self.plans {
            plans.clear();
        }
    }

    /// The catalog and schema that unqualified names resolve in
    /// (`datafusion.catalog.default_catalog` and `default_schema`).
    pub fn default_namespace(&self) -> (String, String) {
        let state = self.ctx.state_ref();
        let state = state.read();
        let catalog = &state.config_options().catalog;
        (
            catalog.default_catalog.clone(),
            catalog.default_schema.clone(),
        )
    }

    /// A DataFrame over a dataset or session table, for building queries with DataFusion's
    /// DataFrame API. Its plans pass the same policy and are recorded like SQL when they run.
    pub async fn table(&self, name: &str) -> Result<DataFrame> {
        Ok(self.ctx.table(name).await?)
    }

    /// Appends `rows` to a dataset, or replaces its rows when `overwrite`; returns how many
    /// rows were written. The write is a DataFrame `INSERT`, so it passes the same policy
    /// (`allow_dml`) and plan hook as `INSERT INTO` in SQL.
    pub async fn insert(&self, dataset: &str, rows: DataFrame, overwrite: bool) -> Result<u64> {
        let op = if overwrite {
            InsertOp::Overwrite
        } else {
            InsertOp::Append
        };
        let options = DataFrameWriteOptions::new().with_insert_operation(op);
        let batches = rows.write_table(dataset, options).await?;
        Ok(rows_affected(&batches))
    }

    /// The rows of one data file (parquet, csv, json/ndjson or arrow, by its extension).
    pub async fn read_file(&self, path: &Path) -> Result<DataFrame> {
        let text = path.to_string_lossy();
        let ctx = &self.ctx;
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let df = match extension.as_deref() {
            Some("parquet") => {
                ctx.read_parquet(text.as_ref(), ParquetReadOptions::default())
                    .await
            }
            Some("csv") => ctx.read_csv(text.as_ref(), CsvReadOptions::default()).await,
            Some(ext @ ("json" | "ndjson" | "jsonl")) => {
                let dotted = format!(".{ext}");
                let options = JsonReadOptions::default().file_extension(&dotted);
                ctx.read_json(text.as_ref(), options).await
            }
            Some("arrow") => {
                ctx.read_arrow(text.as_ref(), ArrowReadOptions::default())
                    .await
            }
            _ => {
                let path = path.to_path_buf();
                return Err(SessionError::UnknownFileFormat { path }.into());
            }
        };
        Ok(df?)
    }

    /// Executes a prepared statement (this session's, the project's or Canon's) with
    /// parameter values, under the same checks as SQL `EXECUTE`.
    pub async fn execute(&self, name: &str, params: Vec<ScalarValue>) -> Result<DataFrame> {
        let (plan, text) = prepared::execute_plan(name, params);
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
        let values = prepared::values_from_text(name, entry, params)?;
        self.execute(name, values).await
    }

    /// The parameters of a statement this session can execute.
    pub async fn parameters(&self, name: &str) -> Result<Vec<Parameter>> {
        Ok(self.ensure_prepared(name).await?.params)
    }

    /// Explains one SQL statement under the session's policy; with `analyze` it also runs
    /// it (through the same policy and hook as any query) and reports the metrics.
    pub async fn explain(&self, sql: &str, analyze: bool) -> Result<Explanation> {
        let statement = self.one_statement(sql)?;
        let (plan, class, text) = self.plan_statement(statement).await?;
        if crate::hook::runs_directly(&plan) {
            let class = class.to_string();
            return Err(SessionError::NoQueryPlan {
                class,
                statement: text,
            }
            .into());
        }
        // Lazy for everything that has a physical plan; `EXECUTE` binds its parameters here.
        let df = self.ctx.execute_logical_plan(plan).await?;
        let (state, plan) = crate::hook::annotate(df, text.clone()).into_parts();
        explain_plan(state, plan, text, &self.policy.dialect, analyze).await
    }

    /// Explains a DataFrame built with the DataFrame API, exactly as it would run.
    pub async fn explain_dataframe(&self, df: DataFrame, analyze: bool) -> Result<Explanation> {
        let (state, plan) = df.into_parts();
        let plan = crate::plans::expanded(plan);
        explain_plan(state, plan, String::new(), &self.policy.dialect, analyze).await
    }

    /// The one statement of `sql`; scripts run statement by statement.
    fn one_statement(&self, sql: &str) -> Result<Statement> {
        let mut statements = self.parse(sql)?;
        match statements.len() {
            1 => Ok(statements.remove(0)),
            found => Err(SessionError::NotOneStatement { found }.into()),
        }
    }

    /// What prepared statements need of this session.
    fn scope(&self) -> Scope<'_> {
        Scope {
            ctx: &self.ctx,
            statements: &self.prepared,
            diagnostics: &self.diagnostics,
        }
    }

    /// Runs a statement that passed the policy; prepared-statement plans go through
    /// Canon's registry of them, everything else straight to DataFusion.
    async fn run_plan(&self, plan: LogicalPlan, text: &str, typed: bool) -> Result<DataFrame> {
        match plan {
            LogicalPlan::Statement(PlanStatement::Prepare(prepare)) => {
                prepared::prepare(&self.scope(), prepare, text, typed, None).await
            }
            LogicalPlan::Statement(PlanStatement::Execute(execute)) => {
                let entry = self.ensure_prepared(&execute.name).await?;
                prepared::execute(&self.scope(), execute, entry).await
            }
            LogicalPlan::Statement(PlanStatement::Deallocate(deallocate)) => {
                prepared::deallocate(&self.scope(), deallocate).await
            }
            plan => Ok(self.ctx.execute_logical_plan(plan).await?),
        }
    }

    /// This session's entry for `name`, preparing a declared statement on first use.
    async fn ensure_prepared(&self, name: &str) -> Result<Entry> {
        if let Some(entry) = self.prepared.entry(name) {
            return Ok(entry);
        }
        let Some(declared) = self.prepared.declared(name).cloned() else {
            return Err(prepared::unknown(&self.prepared, name));
        };
        let declared_error = |problem| SessionError::Declared {
            name: name.to_string(),
            problem,
        };
        let statement = declared
            .parse(&self.policy)?
            .into_iter()
            .next()
            .ok_or_else(|| declared_error("is empty"))?;
        let typed = declares_types(&statement);
        let (plan, class, text) = self.plan_statement(statement).await?;
        // PREPARE runs directly in DataFusion, past the plan hook: recorded here.
        self.record_planned(&plan, class, &text)?;
        let LogicalPlan::Statement(PlanStatement::Prepare(prepare)) = plan else {
            return Err(declared_error("did not plan to PREPARE").into());
        };
        prepared::prepare(
            &self.scope(),
            prepare,
            &declared.sql,
            typed,
            Some(&declared),
        )
        .await?;
        self.prepared
            .entry(name)
            .ok_or_else(|| prepared::unknown(&self.prepared, name))
    }

    /// Dataset tables come from the project file and outlive sessions. The session schema
    /// refuses to deregister them, but DataFusion's DROP TABLE turns that refusal into
    /// "doesn't exist" (or silent success with IF EXISTS), so drops are refused here.
    fn guard_datasets(&self, plan: &LogicalPlan) -> Result<()> {
        let LogicalPlan::Ddl(DdlStatement::DropTable(drop)) = plan else {
            return Ok(());
        };
        let state = self.ctx.state();
        let options = state.config().options();
        let resolved = drop.name.clone().resolve(
            &options.catalog.default_catalog,
            &options.catalog.default_schema,
        );
        let in_default_schema = *resolved.catalog == options.catalog.default_catalog
            && *resolved.schema == options.catalog.default_schema;
        if in_default_schema && self.datasets.contains_key(resolved.table.as_ref()) {
            let dataset = resolved.table.to_string();
            return Err(SessionError::DropDataset { dataset }.into());
        }
        Ok(())
    }

    /// Records a refusal; recording is best effort so the refusal itself is what returns.
    fn rejected(&self, violation: PolicyViolation) -> CanonError {
        let _ = self
            .diagnostics
            .record(Event::policy_rejected(self.id(), &violation));
        violation.into()
    }
}

/// The row count a DML statement's result carries (DataFusion's one UInt64 `count`
/// column), summed over its batches; 0 for results without one.
pub fn rows_affected(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter(|b| b.num_columns() == 1)
        .filter_map(|b| b.column(0).as_any().downcast_ref::<UInt64Array>())
        .flat_map(|counts| counts.iter().flatten())
        .fold(0, u64::saturating_add)
}

/// `SET` and `RESET` of a setting the profile or the policy owns are refused: DataFusion
/// would accept them, but Canon reads some of them elsewhere (the dialect and identifier
/// rule decide how Canon parses and names things; the runtime's memory pool, caches and
/// spill directory are shared by every session; dataset tables took the parquet options at
/// registration), so the session would report one value and run under another.
///
/// Checked on the planned `SetVariable` / `ResetVariable`, before anything runs: planning
/// these only names the key, and it is DataFusion's own normalization of it (lowercase,
/// `timezone` as `datafusion.execution.time_zone`) that is checked.
fn guard_owned_settings(plan: &LogicalPlan) -> Result<()> {
    let key = match plan {
        LogicalPlan::Statement(PlanStatement::SetVariable(set)) => &set.variable,
        LogicalPlan::Statement(PlanStatement::ResetVariable(reset)) => &reset.variable,
        _ => return Ok(()),
    };
    match crate::profile::owner_of_setting(key) {
        Some(owner) => Err(SessionError::OwnedSetting {
            key: key.clone(),
            owner,
        }
        .into()),
        None => Ok(()),
    }
}
