//! Canon's tables for other DataFusion contexts (datafusion-python through the FFI, an
//! embedder's own `SessionContext`): each scan is planned and run in a Canon session's
//! state, whatever context asks, because only Canon's runtime has the project's object
//! stores (`project://`, the buckets it configured), caches and memory pool.
//!
//! The asking context still plans and runs everything above the scan, so Canon's policy,
//! plan hook and diagnostics do not apply to its queries.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{SchemaProvider, Session as CatalogSession, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Constraints, DataFusionError};
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

/// A schema whose tables scan in `state`.
#[derive(Debug)]
pub(crate) struct HostedSchema {
    inner: Arc<dyn SchemaProvider>,
    state: Arc<SessionState>,
}

impl HostedSchema {
    /// `inner`'s tables, scanned in `state`.
    pub(crate) fn new(inner: Arc<dyn SchemaProvider>, state: Arc<SessionState>) -> Self {
        Self { inner, state }
    }
}

#[async_trait]
impl SchemaProvider for HostedSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let table = self.inner.table(name).await?;
        Ok(table.map(|inner| {
            Arc::new(HostedTable {
                inner,
                state: Arc::clone(&self.state),
            }) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// A table whose scans are planned and run in a Canon session's state.
#[derive(Debug)]
struct HostedTable {
    inner: Arc<dyn TableProvider>,
    state: Arc<SessionState>,
}

#[async_trait]
impl TableProvider for HostedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        _state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let state: &SessionState = &self.state;
        let input = self.inner.scan(state, projection, filters, limit).await?;
        Ok(Arc::new(HostedExec {
            input,
            task: Arc::new(TaskContext::from(state)),
        }))
    }
}

/// A scan that runs with the task context of Canon's session, not the one it is given.
/// A leaf to the asking context, which cannot see into a plan of another runtime.
#[derive(Debug)]
struct HostedExec {
    input: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
}

impl DisplayAs for HostedExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "CanonHostedScan: ")?;
                self.input.fmt_as(t, f)
            }
            DisplayFormatType::TreeRender => Ok(()),
        }
    }
}

impl ExecutionPlan for HostedExec {
    fn name(&self) -> &str {
        "CanonHostedScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "CanonHostedScan is a leaf and takes no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        self.input.execute(partition, Arc::clone(&self.task))
    }
}
