//! A Delta dataset as a DataFusion table: delta-rs's scan, configured from the contract,
//! over the latest snapshot (or the pinned one), with Canon's write path behind
//! `INSERT INTO` / `INSERT OVERWRITE`.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchemaRef, Result, not_impl_err};
use datafusion::datasource::TableType;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::dml::MergeIntoClause;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use deltalake_core::DeltaTable;
use deltalake_core::protocol::SaveMode;
use url::Url;

use super::dml::{self, Change};
use super::merge;
use super::state::{Constraint, Inner, Loaded, external, read, write};
use super::write::DeltaSink;
use canon_model::delta::DeltaSpec;

use crate::stores::Stores;

/// A registered Delta dataset.
#[derive(Debug, Clone)]
pub struct DeltaDataset {
    pub(crate) inner: Arc<Inner>,
}

impl DeltaDataset {
    pub(crate) fn new(
        name: String,
        url: Url,
        spec: DeltaSpec,
        logical: SchemaRef,
        loaded: Loaded,
        stores: Arc<Stores>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                name,
                url,
                spec,
                logical,
                stores,
                constraints: RwLock::new(Vec::new()),
                current: RwLock::new(Arc::new(loaded)),
            }),
        }
    }

    /// The dataset's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The table's location.
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// The object stores the table is read and written through.
    pub(crate) fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// The scan configuration from the contract.
    pub fn spec(&self) -> &DeltaSpec {
        &self.inner.spec
    }

    /// The constraints Canon's writes check.
    pub fn constraints(&self) -> Vec<Constraint> {
        read(&self.inner.constraints).clone()
    }

    pub(crate) fn set_constraints(&self, constraints: Vec<Constraint>) {
        *write(&self.inner.constraints) = constraints;
    }

    /// The schema scans produce: the table's, with the configured view and dictionary types.
    pub fn schema_of_scan(&self) -> SchemaRef {
        self.inner.loaded().scan.schema()
    }

    /// The table as last loaded (at registration, or by the latest scan or write).
    pub fn table(&self) -> DeltaTable {
        self.inner.loaded().table.clone()
    }

    /// The table version the dataset last read or wrote.
    pub fn version(&self) -> u64 {
        self.inner.loaded().version
    }

    /// The table at its latest version (the pinned one for a time-travel dataset).
    pub async fn latest(&self) -> Result<DeltaTable> {
        Ok(self.inner.fresh().await?.table.clone())
    }
}

#[async_trait]
impl TableProvider for DeltaDataset {
    fn schema(&self) -> SchemaRef {
        self.inner.loaded().scan.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        None
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let loaded = self.inner.fresh().await?;
        if crate::distributed::is_distributed(session.config()) {
            return super::spread::scan(&self.inner, &loaded, session, projection, filters, limit);
        }
        loaded
            .table
            .update_datafusion_session(session)
            .map_err(external)?;
        loaded.scan.scan(session, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.loaded().scan.supports_filters_pushdown(filters)
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.refuse_write()?;
        let mode = match insert_op {
            InsertOp::Append => SaveMode::Append,
            InsertOp::Overwrite => SaveMode::Overwrite,
            InsertOp::Replace => {
                return not_impl_err!("REPLACE INTO a Delta dataset; use INSERT OVERWRITE");
            }
        };
        let sink = DeltaSink::new(Arc::clone(&self.inner), mode, state)?;
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let predicate = dml::predicate(filters)?;
        dml::plan(Arc::clone(&self.inner), Change::Delete { predicate }, state)
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let predicate = dml::predicate(filters)?;
        let assignments = assignments
            .into_iter()
            .map(|(column, value)| Ok((column, dml::unqualified(value)?)))
            .collect::<Result<Vec<_>>>()?;
        let change = Change::Update {
            assignments,
            predicate,
        };
        dml::plan(Arc::clone(&self.inner), change, state)
    }

    async fn merge_into(
        &self,
        state: &dyn Session,
        source: Arc<dyn ExecutionPlan>,
        merge_schema: DFSchemaRef,
        on: Expr,
        clauses: Vec<MergeIntoClause>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let columns = self.inner.logical.fields().len();
        let (on, clauses) = merge::renamed(columns, &merge_schema, on, clauses)?;
        let source = dml::optimized(source, state)?;
        let change = Change::Merge {
            source,
            on,
            clauses,
        };
        dml::plan(Arc::clone(&self.inner), change, state)
    }
}
