//! Cache introspection: `list_files_cache()`, `metadata_cache()` and `statistics_cache()`,
//! table functions in every session, one row per entry of the runtime's shared caches
//! with the configured limit alongside. Rows are read when the table is scanned, so a
//! prepared query over them always shows the caches as they are.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMillisecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::execution::cache::cache_manager::CacheManager;
use object_store::ObjectMeta;

use crate::registry::TableFunctionSpec;
use crate::view::{SystemView, ViewRows};

/// Which of DataFusion's caches a function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheKind {
    ListFiles,
    Metadata,
    Statistics,
}

impl CacheKind {
    /// The table function's name.
    fn name(self) -> &'static str {
        match self {
            Self::ListFiles => "list_files_cache",
            Self::Metadata => "metadata_cache",
            Self::Statistics => "statistics_cache",
        }
    }
}

/// A cache introspection table function.
#[derive(Debug)]
pub(crate) struct CacheFunction {
    kind: CacheKind,
}

const FUNCTIONS: [(&str, CacheKind, &str); 3] = [
    (
        "list_files_cache",
        CacheKind::ListFiles,
        "One row per cached directory listing: table, path, files listed, size, hits and time \
         to expiry, with the cache's limit and TTL",
    ),
    (
        "metadata_cache",
        CacheKind::Metadata,
        "One row per cached file footer (parquet metadata and page index): path, file size and \
         time, cached size, hits and details, with the cache's limit",
    ),
    (
        "statistics_cache",
        CacheKind::Statistics,
        "One row per cached file's statistics: table, path, file size and time, row count, \
         cached size and hits, with the cache's limit",
    ),
];

/// Canon's cache table functions, by name.
pub(crate) fn functions() -> Vec<TableFunctionSpec> {
    FUNCTIONS
        .iter()
        .map(|(name, kind, description)| TableFunctionSpec {
            name,
            description,
            function: Arc::new(CacheFunction { kind: *kind }),
        })
        .collect()
}

impl TableFunctionImpl for CacheFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            let name = FUNCTIONS
                .iter()
                .find(|(_, k, _)| *k == self.kind)
                .map_or("cache function", |(n, _, _)| n);
            return plan_err!("{name}() takes no arguments");
        }
        Ok(Arc::new(SystemView::new(
            self.kind.name(),
            schema(self.kind),
            self.kind,
        )))
    }
}

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The columns of a cache's table.
fn schema(kind: CacheKind) -> SchemaRef {
    {
        let u64 = |name: &str| Field::new(name, DataType::UInt64, false);
        let fields = match kind {
            CacheKind::ListFiles => vec![
                Field::new("table", DataType::Utf8, true),
                Field::new("path", DataType::Utf8, false),
                u64("files"),
                u64("size_bytes"),
                u64("hits"),
                Field::new("expires_in_ms", DataType::Int64, true),
                u64("limit_bytes"),
                Field::new("ttl_ms", DataType::UInt64, true),
            ],
            CacheKind::Metadata => vec![
                Field::new("path", DataType::Utf8, false),
                u64("file_size"),
                Field::new("last_modified", utc_millis(), false),
                u64("size_bytes"),
                u64("hits"),
                Field::new("details", DataType::Utf8, false),
                u64("limit_bytes"),
            ],
            CacheKind::Statistics => vec![
                Field::new("table", DataType::Utf8, true),
                Field::new("path", DataType::Utf8, false),
                u64("file_size"),
                Field::new("last_modified", utc_millis(), false),
                Field::new("num_rows", DataType::UInt64, true),
                Field::new("num_rows_exact", DataType::Boolean, false),
                u64("size_bytes"),
                u64("hits"),
                u64("limit_bytes"),
            ],
        };
        Arc::new(Schema::new(fields))
    }
}

#[async_trait]
impl ViewRows for CacheKind {
    async fn columns(&self, state: &dyn Session) -> Result<Vec<ArrayRef>> {
        let caches = &state.runtime_env().cache_manager;
        Ok(match self {
            CacheKind::ListFiles => list_files(caches),
            CacheKind::Metadata => metadata(caches),
            CacheKind::Statistics => statistics(caches),
        })
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn file_columns(metas: &[&ObjectMeta]) -> (ArrayRef, ArrayRef) {
    let sizes = UInt64Array::from_iter_values(metas.iter().map(|m| m.size));
    let times = TimestampMillisecondArray::from_iter_values(
        metas.iter().map(|m| m.last_modified.timestamp_millis()),
    )
    .with_timezone("UTC");
    (Arc::new(sizes), Arc::new(times))
}

fn list_files(caches: &CacheManager) -> Vec<ArrayRef> {
    let limit = as_u64(caches.get_list_files_cache_limit());
    let ttl = caches
        .get_list_files_cache_ttl()
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut rows: Vec<_> = caches
        .get_list_files_cache()
        .map(|c| c.list_entries().into_iter().collect())
        .unwrap_or_default();
    rows.sort_by_cached_key(|(k, _)| (k.path.to_string(), k.table.as_ref().map(|t| t.to_string())));
    let now = datafusion::common::instant::Instant::now();
    vec![
        Arc::new(StringArray::from_iter(
            rows.iter()
                .map(|(k, _)| k.table.as_ref().map(|t| t.to_string())),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|(k, _)| k.path.to_string()),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, e)| as_u64(e.value.files.len())),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, e)| as_u64(e.size_bytes)),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, e)| as_u64(e.hits)),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|(_, e)| {
            e.expires.map(|at| {
                i64::try_from(at.saturating_duration_since(now).as_millis()).unwrap_or(i64::MAX)
            })
        }))),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|_| limit))),
        Arc::new(UInt64Array::from_iter(rows.iter().map(|_| ttl))),
    ]
}

fn metadata(caches: &CacheManager) -> Vec<ArrayRef> {
    let cache = caches.get_file_metadata_cache();
    let limit = as_u64(cache.cache_limit());
    let mut rows: Vec<_> = cache.list_entries().into_iter().collect();
    rows.sort_by_cached_key(|(k, _)| k.to_string());
    let metas: Vec<&ObjectMeta> = rows.iter().map(|(_, e)| &e.value.meta).collect();
    let (sizes, times) = file_columns(&metas);
    let details: Vec<String> = rows
        .iter()
        .map(|(_, e)| {
            let info: BTreeMap<String, String> =
                e.value.file_metadata.extra_info().into_iter().collect();
            serde_json::to_string(&info).unwrap_or_else(|_| "{}".into())
        })
        .collect();
    vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|(k, _)| k.to_string()),
        )),
        sizes,
        times,
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, e)| as_u64(e.size_bytes)),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, e)| as_u64(e.hits)),
        )),
        Arc::new(StringArray::from_iter_values(details)),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|_| limit))),
    ]
}

fn statistics(caches: &CacheManager) -> Vec<ArrayRef> {
    let limit = as_u64(caches.get_file_statistic_cache_limit());
    let mut rows: Vec<_> = caches
        .get_file_statistic_cache()
        .map(|c| {
            c.list_entries()
                .into_iter()
                .map(|(k, v)| ((k.path.to_string(), k.table.map(|t| t.to_string())), v))
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let metas: Vec<&ObjectMeta> = rows.iter().map(|(_, e)| &e.value.meta).collect();
    let (sizes, times) = file_columns(&metas);
    vec![
        Arc::new(StringArray::from_iter(
            rows.iter().map(|((_, t), _)| t.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|((p, _), _)| p.as_str()),
        )),
        sizes,
        times,
        Arc::new(UInt64Array::from_iter(rows.iter().map(|(_, e)| {
            e.value.statistics.num_rows.get_value().map(|n| as_u64(*n))
        }))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|(_, e)| {
            Some(e.value.statistics.num_rows.is_exact() == Some(true))
        }))),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, e)| as_u64(e.size_bytes)),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, e)| as_u64(e.hits)),
        )),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|_| limit))),
    ]
}
