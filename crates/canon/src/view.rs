//! Views computed at scan time: a read-only table whose rows are produced when it is
//! scanned, so it always shows the current state. Canon's system tables, the function
//! catalog, the prepared-statement list and the cache table functions are all such views.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// How a read-only system view computes its columns when it is scanned.
#[async_trait]
pub(crate) trait ViewRows: Send + Sync + 'static {
    /// The view's columns, for the session that scans it.
    async fn columns(&self, state: &dyn Session) -> Result<Vec<ArrayRef>>;
}

/// A read-only table whose rows are produced at scan time, so it always shows the current
/// state: Canon's system tables and the cache table functions.
pub(crate) struct SystemView<R> {
    name: &'static str,
    schema: SchemaRef,
    rows: R,
}

impl<R: ViewRows> SystemView<R> {
    /// A view named `name` (for debugging output) with the given schema and rows.
    pub(crate) fn new(name: &'static str, schema: SchemaRef, rows: R) -> Self {
        Self { name, schema, rows }
    }
}

impl<R> fmt::Debug for SystemView<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemView")
            .field("name", &self.name)
            .finish()
    }
}

#[async_trait]
impl<R: ViewRows> TableProvider for SystemView<R> {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch =
            RecordBatch::try_new(Arc::clone(&self.schema), self.rows.columns(state).await?)?;
        let exec =
            MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema(), projection.cloned())?;
        Ok(exec)
    }
}
