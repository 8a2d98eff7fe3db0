//! A Delta table's loaded state, shared by the dataset that scans it and the sinks that
//! write to it: the version loaded and the scan over it, reloaded when others commit.

use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result, plan_err};
use deltalake_core::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use deltalake_core::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use crate::stores::Stores;

use canon_model::delta::{DeltaSpec, TimeTravel};
use canon_model::store::PROJECT_SCHEME;

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
    /// The runtime's object stores, which decide whether commits to the table are safe.
    pub stores: Arc<Stores>,
    /// Every constraint a Canon write checks, with its name.
    pub constraints: RwLock<Vec<Constraint>>,
    pub current: RwLock<Arc<Loaded>>,
}

/// Opens a Delta table at a location, at a version or timestamp when asked. Tables in
/// object storage are opened on the runtime's own store for their bucket, so that delta-rs
/// and DataFusion share its configuration and its request counts.
pub(crate) async fn open(
    url: &Url,
    travel: Option<&TimeTravel>,
    stores: &Stores,
) -> Result<DeltaTable, DeltaTableError> {
    let builder = builder(url, stores)?;
    let builder = match travel {
        None => builder,
        Some(TimeTravel::Version(v)) => builder.with_version(*v),
        Some(TimeTravel::Timestamp(t)) => builder.with_datestring(t)?,
    };
    builder.load().await
}

/// A table builder for a location, on the runtime's store when it is not local.
pub(crate) fn builder(url: &Url, stores: &Stores) -> Result<DeltaTableBuilder, DeltaTableError> {
    let builder = DeltaTableBuilder::from_url(url.clone())?;
    if url.scheme() == "file" {
        return Ok(builder);
    }
    register_log_stores();
    let store = stores
        .store(url)
        .map_err(|e| DeltaTableError::generic(e.to_string()))?;
    Ok(builder.with_storage_backend(store, url.clone()))
}

/// delta-rs finds a log store by URL scheme. For the object-store schemes and the project
/// directory's (`project:///…`) Canon registers delta-rs's default log store, which
/// commits with put-if-absent, so commits are atomic wherever the store supports
/// conditional put; one registered already (an embedding program's, such as
/// deltalake-aws's) is kept.
fn register_log_stores() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let factories = logstore_factories();
        let schemes = [
            "s3",
            "s3a",
            "az",
            "azure",
            "abfs",
            "abfss",
            "adl",
            "gs",
            "http",
            "https",
            PROJECT_SCHEME,
        ];
        for scheme in schemes {
            if let Ok(url) = Url::parse(&format!("{scheme}://")) {
                factories
                    .entry(url)
                    .or_insert_with(|| Arc::new(DefaultLogStores));
            }
        }
    });
}

/// delta-rs's default log store, for the schemes above.
struct DefaultLogStores;

impl LogStoreFactory for DefaultLogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
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

impl Inner {
    /// Refuses a write to a dataset pinned to a version or timestamp, or to a store that
    /// cannot take commits safely.
    pub(crate) fn refuse_write(&self) -> Result<()> {
        self.stores
            .check_delta_writes(&self.url)
            .map_err(|e| DataFusionError::Plan(format!("Delta dataset `{}`: {e}", self.name)))?;
        let Some(travel) = &self.spec.time_travel else {
            return Ok(());
        };
        let pinned = match travel {
            TimeTravel::Version(v) => format!("version {v}"),
            TimeTravel::Timestamp(t) => format!("timestamp {t}"),
        };
        plan_err!(
            "Delta dataset `{}` is pinned to {pinned} ([dataset.delta]); writes go to a \
             table's latest version, through a dataset that does not time-travel",
            self.name
        )
    }

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
        let diffs = crate::contract::schema_diffs(&self.logical, &schema);
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

pub(crate) fn external(e: DeltaTableError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

// A poisoned lock only means another thread panicked mid-update of a plain value; the
// value itself is still whole, so it is used as is.
pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
