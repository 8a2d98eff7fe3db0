//! The plan hook: the one point every executed plan passes, whichever way it was built —
//! SQL text, a parsed statement, a prepared statement or the DataFrame API.
//!
//! It is a [`QueryPlanner`] wrapped around the session template's own, so DataFusion calls
//! it with the optimized logical plan each time it makes a physical plan. There it applies
//! the SQL policy to the plan and records a `QueryPlanned` event with the plan's fingerprint
//! and column lineage, before any table is scanned; the physical plan it returns records a
//! `QueryFinished` event with its spill metrics when its run ends (see `finished`).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session as DfSession;
use datafusion::common::config::ConfigOptions;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::logical_expr::{DdlStatement, LogicalPlan, Statement};
use datafusion::physical_plan::ExecutionPlan;

use crate::diagnostics::{Diagnostics, Event};
use crate::error::CanonError;
use crate::finished::{PlanRecord, RecordFinished};
use crate::optimizer::ShapeKeptNode;
use crate::plans::reused;
use crate::policy::{SqlPolicy, StatementClass, classify_plan};
use crate::sql::{Lineage, fingerprint, lineage};

/// The SQL statement a DataFrame was made from, carried in the DataFrame's own session
/// config so that the hook can record it when the DataFrame runs.
#[derive(Debug)]
pub(crate) struct StatementOrigin {
    statement: String,
    /// The statement already ran and was recorded; its DataFrame is an empty result.
    recorded: bool,
}

/// Marks a DataFrame as made from `statement`.
///
/// DataFrames derived from it (`filter`, `select`, …) keep the mark, so their events name
/// the statement they started from.
pub(crate) fn annotate(df: DataFrame, statement: String) -> DataFrame {
    mark(df, statement, false)
}

/// Marks the empty result of a statement that ran directly and was recorded, so that
/// collecting it records nothing more.
pub(crate) fn annotate_recorded(df: DataFrame, statement: String) -> DataFrame {
    mark(df, statement, true)
}

fn mark(df: DataFrame, statement: String, recorded: bool) -> DataFrame {
    let (mut state, plan) = df.into_parts();
    state.config_mut().set_extension(Arc::new(StatementOrigin {
        statement,
        recorded,
    }));
    DataFrame::new(state, plan)
}

/// The session template with the hook around its query planner.
pub(crate) fn install(
    state: SessionState,
    policy: Arc<SqlPolicy>,
    diagnostics: Diagnostics,
    memory_limit: Option<u64>,
) -> SessionState {
    let inner = Arc::clone(state.query_planner());
    SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(PlanHook {
            inner,
            policy,
            diagnostics,
            memory_limit,
        }))
        .build()
}

/// Whether DataFusion runs this plan itself, without ever making a physical plan (and so
/// without passing the hook): the DDL and statements `SessionContext` executes directly.
pub(crate) fn runs_directly(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Ddl(ddl) => matches!(
            ddl,
            DdlStatement::CreateExternalTable(_)
                | DdlStatement::CreateMemoryTable(_)
                | DdlStatement::CreateView(_)
                | DdlStatement::CreateCatalogSchema(_)
                | DdlStatement::CreateCatalog(_)
                | DdlStatement::DropTable(_)
                | DdlStatement::DropView(_)
                | DdlStatement::DropCatalogSchema(_)
                | DdlStatement::CreateFunction(_)
                | DdlStatement::DropFunction(_)
        ),
        LogicalPlan::Statement(statement) => matches!(
            statement,
            Statement::SetVariable(_)
                | Statement::ResetVariable(_)
                | Statement::Prepare(_)
                | Statement::Deallocate(_)
        ),
        _ => false,
    }
}

/// Records that a plan passed the policy: the only place `QueryPlanned` events are made.
/// Returns what the plan's `QueryFinished` event needs to refer back to it.
pub(crate) fn record(
    diagnostics: &Diagnostics,
    session: &str,
    class: StatementClass,
    statement: String,
    plan: &LogicalPlan,
    options: &ConfigOptions,
) -> Result<PlanRecord, CanonError> {
    let written = Written {
        fingerprint: fingerprint(plan),
        lineage: lineage_of(plan, options),
        writes: writes(plan, options),
    };
    record_known(diagnostics, session, class, statement, written)
}

/// What a plan's `QueryPlanned` event says about it beside its statement.
struct Written {
    fingerprint: String,
    lineage: Lineage,
    writes: Option<String>,
}

/// The table a DML plan writes, named as lineage names the tables it reads.
fn writes(plan: &LogicalPlan, options: &ConfigOptions) -> Option<String> {
    let LogicalPlan::Dml(dml) = plan else {
        return None;
    };
    Some(lineage::table_in_session(&dml.table_name, options))
}

/// A plan's column lineage; a DML plan's is that of the rows it writes (its own output is
/// a count), named as the target's columns.
fn lineage_of(plan: &LogicalPlan, options: &ConfigOptions) -> Lineage {
    match plan {
        LogicalPlan::Dml(dml) => lineage::in_session(&dml.input, options),
        plan => lineage::in_session(plan, options),
    }
}

/// [`record`] for a plan whose fingerprint and lineage are known already.
fn record_known(
    diagnostics: &Diagnostics,
    session: &str,
    class: StatementClass,
    statement: String,
    written: Written,
) -> Result<PlanRecord, CanonError> {
    let Written {
        fingerprint,
        lineage,
        writes,
    } = written;
    let planned = diagnostics.record(Event::QueryPlanned {
        session: session.to_string(),
        class,
        statement,
        fingerprint: fingerprint.clone(),
        lineage,
        writes,
    })?;
    Ok(PlanRecord {
        diagnostics: diagnostics.clone(),
        session: session.to_string(),
        planned,
        fingerprint,
        memory_limit: None,
    })
}

/// Wraps the template's query planner; see the module documentation.
#[derive(Debug)]
struct PlanHook {
    inner: Arc<dyn QueryPlanner + Send + Sync>,
    policy: Arc<SqlPolicy>,
    diagnostics: Diagnostics,
    /// The profile's `memory_limit`, named when a run runs out of memory.
    memory_limit: Option<u64>,
}

#[async_trait]
impl QueryPlanner for PlanHook {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn DfSession,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // A statement run from its kept plan: the plan it was optimized to, as it was then.
        let reusable = reused(plan).map(Arc::clone);
        let plan = reusable.as_ref().map_or(plan, |r| &r.optimized);
        // A session with a policy of its own in its config (a model build's, whose writes
        // the project declares) runs under it; every other session under the project's.
        let policy = session
            .config()
            .get_extension::<SqlPolicy>()
            .unwrap_or_else(|| Arc::clone(&self.policy));
        if let Err(violation) = policy.check_plan(plan) {
            // Best effort: the refusal itself is what returns.
            let rejected = Event::policy_rejected(session.session_id().to_string(), &violation);
            let _ = self.diagnostics.record(rejected);
            return Err(DataFusionError::External(Box::new(violation)));
        }
        // Checked here: once DataFusion's file sink runs, a refused write is reported only
        // as a failure to finalize, without its cause.
        if let LogicalPlan::Copy(copy) = plan {
            crate::stores::check_write_target(&copy.output_url)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
        }
        // A kept plan goes to the query planner with its shape's memo, to be shaped by
        // cost on its first run only.
        let shape_kept = reusable
            .as_ref()
            .map(|r| ShapeKeptNode::plan(r.optimized.clone(), Arc::clone(&r.shape)));
        let to_plan = shape_kept.as_ref().unwrap_or(plan);
        let origin = session.config().get_extension::<StatementOrigin>();
        if origin.as_ref().is_some_and(|o| o.recorded) {
            return self.inner.create_physical_plan(to_plan, session).await;
        }
        let statement = origin.map(|o| o.statement.clone()).unwrap_or_default();
        // Recorded before the physical plan exists: system tables are read while it is made,
        // and `canon.diagnostics` should show the query that reads it.
        let (fingerprint, lineage) = match &reusable {
            Some(r) => (r.fingerprint.clone(), r.lineage.clone()),
            None => (
                fingerprint(plan),
                lineage_of(plan, session.config_options()),
            ),
        };
        let (id, class) = (session.session_id(), classify_plan(plan));
        let written = Written {
            fingerprint,
            lineage,
            writes: writes(plan, session.config_options()),
        };
        let planned = record_known(&self.diagnostics, id, class, statement, written);
        let mut planned = planned.map_err(CanonError::into_datafusion)?;
        planned.memory_limit = self.memory_limit;
        let physical = self.inner.create_physical_plan(to_plan, session).await?;
        Ok(RecordFinished::wrap(physical, planned))
    }
}
