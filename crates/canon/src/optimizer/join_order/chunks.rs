//! What the estimates read from parquet files' column chunks, kept by chunk for the
//! runtime's life: one version of a file never changes, so neither does what was read.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;

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
