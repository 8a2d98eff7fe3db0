//! A table that scans without file statistics; see
//! [`EvolutionSpec::conflicts_with_statistics`](super::EvolutionSpec::conflicts_with_statistics).

use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProviderList, ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::config::{ConfigOptions, TableOptions};
use datafusion::common::{Constraints, DFSchema, DFSchemaRef, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::config::SessionConfig;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::dml::{InsertOp, MergeIntoClause};
use datafusion::logical_expr::execution_props::ExecutionProps;
use datafusion::logical_expr::registry::ExtensionTypeRegistryRef;
use datafusion::logical_expr::{
    AggregateUDF, Expr, HigherOrderUDF, LogicalPlan, ScalarUDF, TableProviderFilterPushDown,
    TableType, WindowUDF,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::operator_statistics::StatisticsRegistry;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};

/// Wraps a table so its scans run with `datafusion.execution.collect_statistics` off.
///
/// Statistics collection is a session setting in DataFusion 55, not a table option, which
/// listing tables read through [`Session::config`]; the wrapper scans with a view of the
/// caller's session (whatever its type) whose config has it off. Writes pass through.
#[derive(Debug)]
pub struct WithoutFileStatistics {
    inner: Arc<dyn TableProvider>,
}

impl WithoutFileStatistics {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn TableProvider>) -> Self {
        Self { inner }
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
        let quiet = SessionView::without_statistics(state);
        self.inner.scan(&quiet, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> Result<ScanResult> {
        let quiet = SessionView::without_statistics(state);
        self.inner.scan_with_args(&quiet, args).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    // `statistics` keeps the default (none): the point of the wrapper.

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.insert_into(state, input, insert_op).await
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.delete_from(state, filters).await
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.update(state, assignments, filters).await
    }

    async fn truncate(&self, state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.truncate(state).await
    }

    async fn merge_into(
        &self,
        state: &dyn Session,
        source: Arc<dyn ExecutionPlan>,
        merge_schema: DFSchemaRef,
        on: Expr,
        clauses: Vec<MergeIntoClause>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner
            .merge_into(state, source, merge_schema, on, clauses)
            .await
    }
}

/// A caller's session seen with other settings: everything but the config is the caller's.
///
/// `as_any` is the caller's, so code that downcasts to a concrete session type sees that
/// session whole; listing tables do not (they are built without the engine's session
/// type) and read `collect_statistics` through [`Session::config`], which is this view's.
struct SessionView<'a> {
    inner: &'a dyn Session,
    config: SessionConfig,
    table_options: TableOptions,
    /// What `as_any` shows instead of the caller's session, if anything.
    any: Option<&'static (dyn Any + Send + Sync)>,
}

impl<'a> SessionView<'a> {
    fn new(inner: &'a dyn Session, edit: impl FnOnce(&mut ConfigOptions)) -> Self {
        let mut config = inner.config().clone();
        edit(config.options_mut());
        Self {
            inner,
            config,
            table_options: inner.table_options().clone(),
            any: None,
        }
    }

    fn without_statistics(inner: &'a dyn Session) -> Self {
        Self::new(inner, |options| {
            options.execution.collect_statistics = false
        })
    }
}

#[async_trait]
impl Session for SessionView<'_> {
    fn session_id(&self) -> &str {
        self.inner.session_id()
    }

    fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn catalog_list(&self) -> Arc<dyn CatalogProviderList> {
        self.inner.catalog_list()
    }

    fn config_options(&self) -> &ConfigOptions {
        self.config.options()
    }

    fn query_planner(&self) -> Arc<dyn QueryPlanner + Send + Sync> {
        self.inner.query_planner()
    }

    fn optimize(&self, plan: &LogicalPlan) -> Result<LogicalPlan> {
        self.inner.optimize(plan)
    }

    fn physical_optimizers(&self) -> &[Arc<dyn PhysicalOptimizerRule + Send + Sync>] {
        self.inner.physical_optimizers()
    }

    fn statistics_registry(&self) -> Option<&StatisticsRegistry> {
        self.inner.statistics_registry()
    }

    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.create_physical_plan(logical_plan).await
    }

    fn create_physical_expr(
        &self,
        expr: Expr,
        df_schema: &DFSchema,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        self.inner.create_physical_expr(expr, df_schema)
    }

    fn scalar_functions(&self) -> &HashMap<String, Arc<ScalarUDF>> {
        self.inner.scalar_functions()
    }

    fn higher_order_functions(&self) -> &HashMap<String, Arc<HigherOrderUDF>> {
        self.inner.higher_order_functions()
    }

    fn aggregate_functions(&self) -> &HashMap<String, Arc<AggregateUDF>> {
        self.inner.aggregate_functions()
    }

    fn window_functions(&self) -> &HashMap<String, Arc<WindowUDF>> {
        self.inner.window_functions()
    }

    fn extension_type_registry(&self) -> &ExtensionTypeRegistryRef {
        self.inner.extension_type_registry()
    }

    fn runtime_env(&self) -> &Arc<RuntimeEnv> {
        self.inner.runtime_env()
    }

    fn execution_props(&self) -> &ExecutionProps {
        self.inner.execution_props()
    }

    fn as_any(&self) -> &dyn Any {
        match self.any {
            Some(any) => any,
            None => self.inner.as_any(),
        }
    }

    fn table_options(&self) -> &TableOptions {
        &self.table_options
    }

    fn table_options_mut(&mut self) -> &mut TableOptions {
        &mut self.table_options
    }

    fn task_ctx(&self) -> Arc<TaskContext> {
        self.inner.task_ctx()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::common::stats::Precision;
    use datafusion::datasource::listing::{
        ListingTable, ListingTableConfig, ListingTableConfigExt, ListingTableUrl,
    };
    use datafusion::execution::context::SessionState;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A session of another type than `SessionState` (a view that changes nothing) gets
    /// scans without statistics too; the table alone scans with them.
    #[tokio::test]
    async fn scans_without_statistics_through_any_session() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("part-0.parquet");
        let batch =
            RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)])?;
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&path)?, batch.schema(), None)?;
        writer.write(&batch)?;
        writer.close()?;

        let state = SessionContext::new().state();
        let url = ListingTableUrl::parse(dir.path().to_string_lossy())?;
        let config = ListingTableConfig::new(url).infer(&state).await?;
        let table: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config)?);
        // Not a `SessionState` to anyone who asks.
        let foreign = SessionView {
            any: Some(&()),
            ..SessionView::new(&state, |_| {})
        };
        assert!(foreign.as_any().downcast_ref::<SessionState>().is_none());

        let rows = |plan: Arc<dyn ExecutionPlan>| -> Result<Precision<usize>> {
            let stats = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new())?;
            Ok(stats.num_rows)
        };
        let with = table.scan(&foreign, None, &[], None).await?;
        assert_eq!(rows(with)?, Precision::Exact(3));
        let wrapped = WithoutFileStatistics::new(Arc::clone(&table));
        let without = wrapped.scan(&foreign, None, &[], None).await?;
        assert_eq!(rows(without)?, Precision::Absent);
        Ok(())
    }
}
