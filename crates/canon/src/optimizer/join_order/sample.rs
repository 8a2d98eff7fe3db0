//! Distinct values of a wide-ranging integer column, from the first values of its files.
//!
//! An integer column has no more distinct values than its range holds, and a range as wide
//! as the table says nothing more: TPC-H's `l_orderkey` runs from 1 to 60 M over 60 M rows
//! at scale factor 10 but holds 15 M values, about four lines to an order. Taken for
//! unique, it made orders ⋈ lineitem look like a quarter of its rows in a project that
//! declares no keys, and q5 joined it early. Where the range allows a near-unique column
//! in a large table, the estimate reads the column's first values in one of its files (at
//! most [`SAMPLE_ROWS`]), counts how many differ, and takes that share of the table's rows.
//! The count only ever lowers the range's bound, so a join never looks smaller than
//! before; values that come in runs, as in a file sorted by them, give the share exactly,
//! and values spread at random give about one, which changes nothing.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::Session;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    DefaultParquetFileReaderFactory, ParquetFileReaderFactory,
};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use datafusion::parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::TryStreamExt;

use super::chunks::{ChunkKey, ChunkReads, column_metadata, parquet_scan};

/// The most values read: enough for a share, little enough to cost the planning well under
/// a millisecond once the file's metadata is cached.
const SAMPLE_ROWS: usize = 65_536;

/// The fewest non-null values a share is taken from.
const FEWEST_VALUES: usize = 1_024;

/// The fewest rows a table needs for its columns to be sampled: below, a wrong distinct
/// count costs little and the read would cost more.
pub(super) const MIN_ROWS: f64 = 100_000.0;

/// Shares of distinct values sampled so far, by file and column: one per runtime, shared
/// by its sessions through their configuration.
pub type SampledShares = ChunkReads<f64>;

/// Whether a column of `data_type` is one whose range bounds its distinct values closely
/// enough to be worth a sample when the range is as wide as the table.
pub(super) fn sampled_type(data_type: &DataType) -> bool {
    data_type.is_integer()
}

/// The share of distinct values among the first non-null values of `column` in the first
/// of the parquet files `scan` (a table scan's physical plan, under operators with one
/// input) reads; `None` when the session keeps no [`SampledShares`], the scan is not of
/// parquet files, or the column is not an integer one with enough values to go by.
pub(super) async fn distinct_share(
    scan: &Arc<dyn ExecutionPlan>,
    column: &str,
    session: &dyn Session,
) -> Option<f64> {
    let shares = session.config().get_extension::<SampledShares>()?;
    let config = parquet_scan(scan.as_ref())?;
    // The first file by name, so that the same files always give the same share.
    let file = config
        .file_groups
        .iter()
        .flat_map(|group| group.iter())
        .min_by(|a, b| a.object_meta.location.cmp(&b.object_meta.location))?;
    let meta = &file.object_meta;
    let key = ChunkKey::new(meta, 0, column);
    if let Some(known) = shares.get(&key) {
        return known;
    }
    // Kept whether or not it tells anything: a file that gave no share gives none the next
    // time either, and should not be read again for every query.
    let share = sampled_share(file, &config.object_store_url, column, session).await;
    tracing::debug!(file = %meta.location, column, ?share, "sampled a column's distinct values");
    shares.put(key, share);
    share
}

/// The share of distinct values among the first non-null values of `column` in `file`, read
/// from the store at `url`.
async fn sampled_share(
    file: &PartitionedFile,
    url: &ObjectStoreUrl,
    column: &str,
    session: &dyn Session,
) -> Option<f64> {
    let store = session.runtime_env().object_store(url).ok()?;
    let (metadata, leaf) =
        column_metadata(store.as_ref(), &file.object_meta, column, session).await?;
    let mask = ProjectionMask::leaves(metadata.file_metadata().schema_descr(), [leaf]);
    let reader_metadata = ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::new()).ok()?;
    // DataFusion's own reader of parquet files, as a scan of the table would use.
    let reader: Box<dyn AsyncFileReader> = DefaultParquetFileReaderFactory::new(store)
        .create_reader(0, file.clone(), None, &ExecutionPlanMetricsSet::new())
        .ok()?;
    let batches: Vec<_> =
        ParquetRecordBatchStreamBuilder::new_with_metadata(reader, reader_metadata)
            .with_projection(mask)
            .with_limit(SAMPLE_ROWS)
            .build()
            .ok()?
            .try_collect()
            .await
            .ok()?;
    let mut values = Vec::with_capacity(SAMPLE_ROWS);
    for batch in &batches {
        let column = batch.columns().first()?;
        if !sampled_type(column.data_type()) {
            return None;
        }
        let wide = cast(column, &DataType::Int64).ok()?;
        let wide = wide.as_any().downcast_ref::<Int64Array>()?;
        values.extend(wide.iter().flatten());
    }
    share_of_distinct(values)
}

/// The share of distinct values in `values`, `None` for too few to go by.
fn share_of_distinct(mut values: Vec<i64>) -> Option<f64> {
    if values.len() < FEWEST_VALUES {
        return None;
    }
    // Values that come in runs are sorted already, which sorting finds in one pass.
    values.sort_unstable();
    let all = values.len() as f64;
    values.dedup();
    Some(values.len() as f64 / all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_counts_each_value_once_and_wants_enough_of_them() {
        let four_each: Vec<i64> = (0..4_000).map(|i| i / 4).collect();
        assert_eq!(share_of_distinct(four_each), Some(0.25));
        let shuffled: Vec<i64> = (0..2_000).map(|i| (i * 7_919) % 2_000).collect();
        assert_eq!(share_of_distinct(shuffled), Some(1.0));
        assert_eq!(share_of_distinct(vec![1; 100]), None);
    }
}
