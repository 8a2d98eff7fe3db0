//! What the estimates read from parquet files' column chunks, kept by chunk for the
//! runtime's life: one version of a file never changes, so neither does what was read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use datafusion::catalog::Session;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::source::DataSourceExec;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::ExecutionPlan;
use object_store::{ObjectMeta, ObjectStore};

/// One column chunk of one version of a file (for a sample, row group 0 stands for the
/// file's first values).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ChunkKey {
    /// The file's path in its store.
    pub location: String,
    /// Its size and last modification, which tell one version from the next.
    pub size: u64,
    /// Milliseconds since the epoch.
    pub modified: i64,
    /// The row group's index in the file.
    pub row_group: usize,
    /// The column's name in the file.
    pub column: String,
}

impl ChunkKey {
    /// The chunk of `column` in row group `row_group` of the file version `meta` describes.
    pub(super) fn new(meta: &ObjectMeta, row_group: usize, column: &str) -> Self {
        Self {
            location: meta.location.to_string(),
            size: meta.size,
            modified: meta.last_modified.timestamp_millis(),
            row_group,
            column: column.to_string(),
        }
    }
}

/// What was read of each column chunk so far (`None` where it told nothing): one per
/// runtime and kind of reading, shared by its sessions through their configuration. A
/// session keeps one extension per type, so each kind of reading needs its own `V`.
#[derive(Debug, Default)]
pub struct ChunkReads<V> {
    read: Mutex<HashMap<ChunkKey, Option<V>>>,
}

impl<V: Copy> ChunkReads<V> {
    /// What was read of `key`, if it was.
    pub(super) fn get(&self, key: &ChunkKey) -> Option<Option<V>> {
        self.lock().get(key).copied()
    }

    /// Keeps what was read of `key`.
    pub(super) fn put(&self, key: ChunkKey, value: Option<V>) {
        self.lock().insert(key, value);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ChunkKey, Option<V>>> {
        // A panic elsewhere while the map was held leaves it whole: every entry is written
        // in one insert.
        self.read.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The scan of parquet files under `plan`, through operators with one input.
pub(super) fn parquet_scan(plan: &dyn ExecutionPlan) -> Option<&FileScanConfig> {
    file_scan(plan).filter(|config| config.file_source().file_type() == "parquet")
}

/// The file scan under `plan`, through operators with one input.
fn file_scan(plan: &dyn ExecutionPlan) -> Option<&FileScanConfig> {
    if let Some(source) = plan.downcast_ref::<DataSourceExec>() {
        return source.data_source().downcast_ref::<FileScanConfig>();
    }
    match plan.children()[..] {
        [only] => file_scan(only.as_ref()),
        _ => None,
    }
}

/// The parquet metadata of the file `meta` describes in `store`, through the runtime's
/// metadata cache, with the index of `column` among its leaf columns; `None` when the
/// footer cannot be read or the file has no such column.
pub(super) async fn column_metadata(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
    column: &str,
    session: &dyn Session,
) -> Option<(Arc<ParquetMetaData>, usize)> {
    let cache = session
        .runtime_env()
        .cache_manager
        .get_file_metadata_cache();
    let metadata = DFParquetMetadata::new(store, meta)
        .with_file_metadata_cache(Some(cache))
        .fetch_metadata()
        .await
        .ok()?;
    let leaf = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts() == [column])?;
    Some((metadata, leaf))
}
