//! A table that scans without file statistics; see
//! [`EvolutionSpec::conflicts_with_statistics`](super::EvolutionSpec::conflicts_with_statistics).

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::{Constraints, Result};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// Wraps a table so its scans run with `datafusion.execution.collect_statistics` off.
///
/// Statistics collection is a session setting in DataFusion 55, not a table option, so
/// the wrapper scans with a copy of the session state that has it off.
#[derive(Debug)]
pub struct WithoutFileStatistics {
    inner: Arc<dyn TableProvider>,
}

impl WithoutFileStatistics {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn TableProvider>) -> Self {
        Self { inner }
    }

    fn state_without_statistics(state: &dyn Session) -> Option<SessionState> {
        let mut state = state.as_any().downcast_ref::<SessionState>()?.clone();
        state
            .config_mut()
            .options_mut()
            .execution
            .collect_statistics = false;
        Some(state)
    }
}

#[async_trait]
impl TableProvider for WithoutFileStatistics {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.inner.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match Self::state_without_statistics(state) {
            Some(quiet) => self.inner.scan(&quiet, projection, filters, limit).await,
            None => self.inner.scan(state, projection, filters, limit).await,
        }
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> Result<ScanResult> {
        match Self::state_without_statistics(state) {
            Some(quiet) => self.inner.scan_with_args(&quiet, args).await,
            None => self.inner.scan_with_args(state, args).await,
        }
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
}
