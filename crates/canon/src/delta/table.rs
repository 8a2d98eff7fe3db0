//! A Delta dataset as a DataFusion table: delta-rs's scan, configured from the contract,
//! over the latest snapshot (or the pinned one), with Canon's write path behind
//! `INSERT INTO` / `INSERT OVERWRITE`.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result, not_impl_err, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use deltalake_core::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use deltalake_core::protocol::SaveMode;
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use super::spec::{DeltaSpec, TimeTravel};
use super::write::DeltaSink;

/// A named CHECK constraint enforced on Canon's writes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Constraint {
    /// The name it is stored under in the table (`delta.constraints.<name>`).
    pub name: String,
    /// The SQL boolean expression.
    pub expression: String,
    /// Whether the table itself stores it, so every Delta writer enforces it.
    pub stored: bool,
}

/// One loaded version of the table and the scan built over it.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub table: DeltaTable,
    pub scan: Arc<DeltaScanNext>,
    pub version: u64,
}

/// State shared by the table and its write sinks.
#[derive(Debug)]
pub(crate) struct Inner {
    pub name: String,
    pub url: Url,
    pub spec: DeltaSpec,
    /// The table's own (logical) schema, which equals the contract's.
    pub logical: SchemaRef,
    /// Every constraint a Canon write checks, with its name.
    pub constraints: RwLock<Vec<Constraint>>,
    pub current: RwLock<Arc<Loaded>>,
}

/// A registered Delta dataset.
#[derive(Debug, Clone)]
pub struct DeltaDataset {
    pub(crate) inner: Arc<Inner>,
}

/// Opens a Delta table at a location, at a version or timestamp when asked.
pub(crate) async fn open(
    url: &Url,
    travel: Option<&TimeTravel>,
) -> Result<DeltaTable, DeltaTableError> {
    let builder = DeltaTableBuilder::from_url(url.clone())?;
    let builder = match travel {
        None => builder,
        Some(TimeTravel::Version(v)) => builder.with_version(*v),
        Some(TimeTravel::Timestamp(t)) => builder.with_datestring(t)?,
    };
    builder.load().await
}

/// The scan configuration a dataset's `[dataset.delta]` asks for.
pub(crate) fn scan_config(spec: &DeltaSpec) -> DeltaScanConfig {
    let mut config = DeltaScanConfig::new()
        .with_parquet_pushdown(spec.parquet_pushdown)
        .with_wrap_partition_values(spec.wrap_partition_values);
    config.schema_force_view_types = spec.view_types;
    if let Some(column) = &spec.file_column {
        config = config.with_file_column_name(column);
    }
    config
}

pub(crate) fn load(table: DeltaTable, spec: &DeltaSpec) -> Result<Loaded, DeltaTableError> {
    let state = table.snapshot()?;
    let version = state.version();
    let scan = DeltaScanNext::new(state.snapshot().clone(), scan_config(spec))
        .map_err(|e| DeltaTableError::Generic(e.strip_backtrace()))?;
    Ok(Loaded {
        version,
        scan: Arc::new(scan),
        table,
    })
}

impl DeltaDataset {
    pub(crate) fn new(
        name: String,
        url: Url,
        spec: DeltaSpec,
        logical: SchemaRef,
        loaded: Loaded,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                name,
                url,
                spec,
                logical,
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

impl Inner {
    pub(crate) fn loaded(&self) -> Arc<Loaded> {
        Arc::clone(&read(&self.current))
    }

    /// The latest snapshot, reloaded when another writer (or session) has committed since;
    /// a pinned dataset always reads its pinned version.
    pub(crate) async fn fresh(&self) -> Result<Arc<Loaded>> {
        let loaded = self.loaded();
        if self.spec.time_travel.is_some() {
            return Ok(loaded);
        }
        let latest = loaded.table.get_latest_version().await.map_err(external)?;
        if latest == loaded.version {
            return Ok(loaded);
        }
        let mut table = loaded.table.clone();
        table.update_incremental(None).await.map_err(external)?;
        self.replace(table)
    }

    /// Makes `table` the current version, after checking it still matches the contract.
    pub(crate) fn replace(&self, table: DeltaTable) -> Result<Arc<Loaded>> {
        let loaded = load(table, &self.spec).map_err(external)?;
        let schema = loaded
            .table
            .snapshot()
            .map_err(external)?
            .snapshot()
            .arrow_schema();
        let diffs = crate::registry::schema_diffs(&self.logical, &schema);
        if !diffs.is_empty() {
            return plan_err!(
                "Delta dataset `{}` at version {} no longer matches its contract: {}",
                self.name,
                loaded.version,
                diffs.join("; ")
            );
        }
        let loaded = Arc::new(loaded);
        let mut current = write(&self.current);
        // Another task may have loaded a newer version meanwhile; keep the newest.
        if current.version < loaded.version {
            *current = Arc::clone(&loaded);
        }
        Ok(loaded)
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
        if let Some(travel) = &self.inner.spec.time_travel {
            let pinned = match travel {
                TimeTravel::Version(v) => format!("version {v}"),
                TimeTravel::Timestamp(t) => format!("timestamp {t}"),
            };
            return plan_err!(
                "Delta dataset `{}` is pinned to {pinned} ([dataset.delta]); writes go to a \
                 table's latest version, through a dataset that does not time-travel",
                self.inner.name
            );
        }
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
}

pub(crate) fn external(e: DeltaTableError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

// A poisoned lock only means another thread panicked mid-update of a plain value; the
// value itself is still whole, so it is used as is.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
