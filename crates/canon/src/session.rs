//! Sessions: cheap per-user contexts made from the runtime's template, sharing its
//! datasets, profile and policy, each with its own scratch tables and settings.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::exec_err;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::Statement;

use crate::diagnostics::{Diagnostics, Event};
use crate::error::{CanonError, Result};
use crate::policy::{PolicyViolation, SqlPolicy, StatementClass};
use crate::prepared::SessionStatements;

/// The default schema of every session: the project's datasets, read-only, plus the
/// session's own tables (from `CREATE TABLE`, where the policy allows it).
#[derive(Debug)]
pub(crate) struct SessionSchema {
    datasets: DatasetTables,
    local: MemorySchemaProvider,
}

impl SessionSchema {
    pub(crate) fn new(datasets: DatasetTables) -> Self {
        Self {
            datasets,
            local: MemorySchemaProvider::new(),
        }
    }
}

#[async_trait]
impl SchemaProvider for SessionSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.datasets.keys().cloned().collect();
        names.extend(self.local.table_names());
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match self.datasets.get(name) {
            Some(table) => Ok(Some(Arc::clone(table))),
            None => self.local.table(name).await,
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.datasets.contains_key(&name) {
            return exec_err!(
                "`{name}` is a dataset of the project; its definition comes from the project file"
            );
        }
        self.local.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.datasets.contains_key(name) {
            return exec_err!(
                "`{name}` is a dataset of the project and cannot be dropped from a session"
            );
        }
        self.local.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.datasets.contains_key(name) || self.local.table_exist(name)
    }
}

/// The project's datasets by name, shared read-only by every session.
pub(crate) type DatasetTables = Arc<BTreeMap<String, Arc<dyn TableProvider>>>;

/// A session: every statement passes the policy, is recorded, then runs.
#[derive(Clone)]
pub struct Session {
    pub(crate) ctx: SessionContext,
    pub(crate) policy: Arc<SqlPolicy>,
    datasets: DatasetTables,
    pub(crate) diagnostics: Diagnostics,
    /// This session's prepared statements (also in its config, for `canon.prepared`).
    pub(crate) prepared: Arc<SessionStatements>,
}

impl Session {
    pub(crate) fn new(
        ctx: SessionContext,
        policy: Arc<SqlPolicy>,
        datasets: DatasetTables,
        diagnostics: Diagnostics,
        prepared: Arc<SessionStatements>,
    ) -> Self {
        Self {
            ctx,
            policy,
            datasets,
            diagnostics,
            prepared,
        }
    }

    /// This session's id, as recorded in diagnostics.
    pub fn id(&self) -> String {
        self.ctx.session_id()
    }

    /// Parses SQL text into statements, in the policy's dialect.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        self.policy.parse(sql)
    }

    /// Runs one SQL statement and returns its result as a DataFrame.
    ///
    /// DDL, DML and statements take effect when this returns; queries run when the
    /// DataFrame is collected.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let mut statements = self.parse(sql)?;
        match statements.len() {
            1 => self.statement(statements.remove(0)).await,
            n => Err(CanonError::DataFusion(
                datafusion::error::DataFusionError::Plan(format!(
                    "expected exactly one SQL statement, found {n}; run scripts statement by statement"
                )),
            )),
        }
    }

    /// Runs an already-parsed statement under the same policy as SQL text.
    ///
    /// Queries are recorded by the plan hook when they run; DDL and `SET`, which DataFusion
    /// runs here without a physical plan, are recorded here.
    pub async fn statement(&self, mut statement: Statement) -> Result<DataFrame> {
        crate::functions::factory::bind_argument_names(&mut statement);
        let typed = crate::prepared::declares_types(&statement);
        let (plan, class, text) = self.plan_statement(statement).await?;
        self.run(plan, class, text, typed).await
    }

    /// Runs a plan that passed [`Self::plan_statement`] (or was built by Canon and checked
    /// the same way); `typed` says whether a PREPARE declared its parameter types.
    pub(crate) async fn run(
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
        self.record_planned(&plan, class, &text)?;
        let df = self.run_plan(plan, &text, typed).await?;
        Ok(crate::hook::annotate_recorded(df, text))
    }

    /// Records a plan DataFusion runs directly (without the plan hook seeing it).
    pub(crate) fn record_planned(
        &self,
        plan: &LogicalPlan,
        class: StatementClass,
        text: &str,
    ) -> Result<()> {
        let state = self.ctx.state();
        crate::hook::record(
            &self.diagnostics,
            &self.id(),
            class,
            text.to_string(),
            plan,
            state.config_options(),
        )
    }

    /// Checks and plans a statement without running it: the policy on the statement, then
    /// on the plan. Returns the plan, its class and the statement's text.
    pub(crate) async fn plan_statement(
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
        crate::functions::guard_drop(&self.ctx, &plan)?;
        Ok((plan, class, text))
    }

    /// A DataFrame over a dataset or session table, for building queries with DataFusion's
    /// DataFrame API. Its plans pass the same policy and are recorded like SQL when they run.
    pub async fn table(&self, name: &str) -> Result<DataFrame> {
        Ok(self.ctx.table(name).await?)
    }

    /// The session's DataFusion context.
    pub(crate) fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The policy this session runs under.
    pub(crate) fn sql_policy(&self) -> &SqlPolicy {
        &self.policy
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
            return Err(CanonError::DataFusion(DataFusionError::Plan(format!(
                "`{}` is a dataset of the project and cannot be dropped from a session",
                resolved.table
            ))));
        }
        Ok(())
    }

    /// Records a refusal; recording is best effort so the refusal itself is what returns.
    pub(crate) fn rejected(&self, violation: PolicyViolation) -> CanonError {
        let _ = self.diagnostics.record(Event::from(&violation));
        violation.into()
    }
}
