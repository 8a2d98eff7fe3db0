//! Explanations: a query's logical, optimized and physical plans, its lineage, fingerprint
//! and canonical SQL, and with `analyze` its runtime metrics.

use std::sync::Arc;

use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{collect, displayable};
use serde::Serialize;

use super::{Lineage, canonical_sql, fingerprint};
use crate::error::{CanonError, Result};
use crate::hook;
use crate::session::Session;

/// Everything Canon can say about one query's plan.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The SQL statement as parsed; empty for a DataFrame.
    pub statement: String,
    /// The fingerprint of the optimized plan, as recorded when the query runs.
    pub fingerprint: String,
    /// The plan as planned, before optimization, with each node's schema.
    pub logical_plan: String,
    /// The plan after DataFusion's optimizer, with each node's schema.
    pub optimized_plan: String,
    /// The physical plan.
    pub physical_plan: String,
    /// The tables read and each output column's source columns.
    pub lineage: Lineage,
    /// The query rendered back to SQL in the policy's dialect, when the unparser can.
    pub canonical_sql: Option<String>,
    /// Why there is no canonical SQL, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical_sql_error: Option<String>,
    /// The physical plan with the metrics of a run, when analyzed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
}

impl Session {
    /// Explains one SQL statement under the session's policy; with `analyze` it also runs
    /// it (through the same policy and hook as any query) and reports the metrics.
    pub async fn explain(&self, sql: &str, analyze: bool) -> Result<Explanation> {
        let mut statements = self.parse(sql)?;
        if statements.len() != 1 {
            return Err(DataFusionError::Plan(format!(
                "explain takes exactly one SQL statement, found {}",
                statements.len()
            ))
            .into());
        }
        let (plan, class, text) = self.plan_statement(statements.remove(0)).await?;
        if hook::runs_directly(&plan) {
            return Err(DataFusionError::Plan(format!(
                "explain shows query plans; this {class} statement has none: {text}"
            ))
            .into());
        }
        // Lazy for everything that has a physical plan; `EXECUTE` binds its parameters here.
        let df = self.context().execute_logical_plan(plan).await?;
        let (state, plan) = hook::annotate(df, text.clone()).into_parts();
        self.explain_plan(state, plan, text, analyze).await
    }

    /// Explains a DataFrame built with the DataFrame API, exactly as it would run.
    pub async fn explain_dataframe(&self, df: DataFrame, analyze: bool) -> Result<Explanation> {
        let (state, plan) = df.into_parts();
        self.explain_plan(state, plan, String::new(), analyze).await
    }

    async fn explain_plan(
        &self,
        state: SessionState,
        plan: LogicalPlan,
        statement: String,
        analyze: bool,
    ) -> Result<Explanation> {
        let (canonical_sql, canonical_sql_error) =
            match canonical_sql(&plan, &self.sql_policy().dialect) {
                Ok(sql) => (Some(sql), None),
                Err(e) => (None, Some(e.strip_backtrace())),
            };
        let optimized = state.optimize(&plan)?;
        // The session's query planner is the plan hook: the policy applies and the plan is
        // recorded, as when the query runs.
        let physical = state
            .query_planner()
            .create_physical_plan(&optimized, &state)
            .await
            .map_err(CanonError::from)?;
        let metrics = if analyze {
            collect(Arc::clone(&physical), state.task_ctx()).await?;
            let with_metrics = DisplayableExecutionPlan::with_metrics(physical.as_ref());
            Some(with_metrics.indent(true).to_string())
        } else {
            None
        };
        let catalog = &state.config_options().catalog;
        Ok(Explanation {
            statement,
            fingerprint: fingerprint(&optimized),
            logical_plan: plan.display_indent_schema().to_string(),
            optimized_plan: optimized.display_indent_schema().to_string(),
            physical_plan: displayable(physical.as_ref()).indent(true).to_string(),
            lineage: Lineage::of(
                &optimized,
                &catalog.default_catalog,
                &catalog.default_schema,
            ),
            canonical_sql,
            canonical_sql_error,
            metrics,
        })
    }
}
