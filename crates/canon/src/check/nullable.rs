//! A table read with every column nullable, whatever its schema declares: `canon check`
//! asks whether a NOT NULL column holds nulls, and against the declared schema DataFusion's
//! optimizer would fold `col IS NULL` to false before anything is read. It declares no
//! keys either, for the same reason: the check verifies them.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// `inner`, with a schema that makes no nullability claims; scans are `inner`'s own.
#[derive(Debug)]
pub(super) struct AllNullable {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
}

impl AllNullable {
    pub(super) fn new(inner: Arc<dyn TableProvider>) -> Self {
        let fields: Vec<Field> = inner
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        Self {
            inner,
            schema: Arc::new(Schema::new(fields)),
        }
    }
}

#[async_trait]
impl TableProvider for AllNullable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters stay above the scan, so no NOT NULL claim of the inner table's can
        // decide them.
        Ok(vec![
            TableProviderFilterPushDown::Unsupported;
            filters.len()
        ])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, &[], limit).await
    }
}
