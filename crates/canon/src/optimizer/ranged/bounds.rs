//! The range of a column each partition of a parquet scan reads, by the files' statistics
//! and, for byte ranges of a file, its row groups' statistics.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::stats::Precision;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};

/// The least and greatest value of one column in the rows a partition reads.
pub(super) type Bounds = (ScalarValue, ScalarValue);

/// Whether values of `data_type` are bounded by statistics as they compare: not floating
/// point, whose NaN statistics leave out, nor dictionaries or nested values.
pub(super) fn bounded_type(data_type: &DataType) -> bool {
    data_type.is_integer()
        || data_type.is_temporal()
        || matches!(
            data_type,
            DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        )
}

/// Each partition's bounds of file column `column` (`None` for a partition that reads no
/// rows), when every file or byte range the scan reads tells them, more than one
/// partition reads rows, and no two partitions' bounds overlap but where one's greatest
/// value is another's least. A byte range of a parquet file is told by the row groups
/// DataFusion reads for it (those whose first page starts in the range), from the footer
/// in the runtime's metadata cache.
pub(super) fn partition_bounds(
    config: &FileScanConfig,
    column: usize,
    metadata: &FileMetadataCache,
) -> Option<Vec<Option<Bounds>>> {
    let name = config.file_schema().field(column).name();
    let parquet = config.file_source().file_type() == "parquet";
    let all = config
        .file_groups
        .iter()
        .map(|group| {
            union(
                group
                    .files()
                    .iter()
                    .map(|file| match whole_file(file, column) {
                        Some(bounds) => Some(Some(bounds)),
                        None if parquet => row_groups(file, name, config, metadata),
                        None => None,
                    }),
            )
        })
        .collect::<Option<Vec<_>>>()?;
    // One partition that reads rows has nothing to gain: its groups are all its own
    // already, and a final half over several partitions finishes them in parallel.
    let read: Vec<Bounds> = all.iter().flatten().cloned().collect();
    (read.len() > 1 && apart(&read)).then_some(all)
}

/// Whether no two of `bounds` overlap but at one's end and another's start.
pub(super) fn apart(bounds: &[Bounds]) -> bool {
    bounds.iter().enumerate().all(|(i, (low, high))| {
        bounds[i + 1..]
            .iter()
            .all(|(other_low, other_high)| high <= other_low || other_high <= low)
    })
}

/// The bounds that hold all of `pieces` (`Some(None)` when there are none, or none reads a
/// row), or `None` when a piece's bounds are not known (`None`) or do not compare.
pub(super) fn union(
    pieces: impl IntoIterator<Item = Option<Option<Bounds>>>,
) -> Option<Option<Bounds>> {
    let mut all: Option<Bounds> = None;
    for piece in pieces {
        all = match (all, piece?) {
            (Some(bounds), Some(piece)) => Some(widened(bounds, piece)?),
            (bounds, piece) => bounds.or(piece),
        };
    }
    Some(all)
}

/// `bounds` widened to hold `other`, or `None` when their values do not compare.
fn widened((low, high): Bounds, (min, max): Bounds) -> Option<Bounds> {
    let below = min.partial_cmp(&low)?.is_lt();
    let above = max.partial_cmp(&high)?.is_gt();
    Some((
        if below { min } else { low },
        if above { max } else { high },
    ))
}

/// The exact bounds of `column` in `file`, when it is read whole and its statistics tell
/// them and that the column holds no nulls.
pub(super) fn whole_file(file: &PartitionedFile, column: usize) -> Option<Bounds> {
    if file.range.is_some() {
        return None;
    }
    let stats = file.statistics.as_ref()?.column_statistics.get(column)?;
    match (&stats.min_value, &stats.max_value, &stats.null_count) {
        (Precision::Exact(min), Precision::Exact(max), Precision::Exact(0))
            if !min.is_null() && !max.is_null() && min <= max =>
        {
            Some((min.clone(), max.clone()))
        }
        _ => None,
    }
}

/// The bounds of column `name` over the row groups of the parquet file that `file` reads
/// (the whole file, or the row groups whose first page starts in its range), when the
/// runtime's metadata cache holds the file's footer and every such row group's statistics
/// tell them; `Some(None)` when it reads no row group. A row group's minimum and maximum
/// need not occur in it (a writer may shorten long text): they bound it all the same.
/// Nulls are left out of them, and the aggregate finishes null keys with the bounds'.
fn row_groups(
    file: &PartitionedFile,
    name: &str,
    config: &FileScanConfig,
    metadata: &FileMetadataCache,
) -> Option<Option<Bounds>> {
    let entry = metadata.get(&file.object_meta.location)?;
    if !entry.is_valid_for(&file.object_meta) {
        return None;
    }
    let footer: &Arc<ParquetMetaData> = entry
        .file_metadata
        .as_any()
        .downcast_ref::<CachedParquetMetaData>()?
        .parquet_metadata();
    let read: Vec<&RowGroupMetaData> = footer
        .row_groups()
        .iter()
        .filter(|group| match &file.range {
            None => true,
            Some(range) => group.columns().first().is_some_and(|first| {
                let offset = first
                    .dictionary_page_offset()
                    .unwrap_or_else(|| first.data_page_offset());
                range.start <= offset && offset < range.end
            }),
        })
        .collect();
    // The statistics are read as the file's own column, found by name: the table may
    // order its columns otherwise, or read them as another type.
    let parquet = footer.file_metadata().schema_descr();
    let own = parquet_to_arrow_schema(parquet, footer.file_metadata().key_value_metadata()).ok()?;
    let converter = StatisticsConverter::try_new(name, &own, parquet).ok()?;
    let (_, field) = own.column_with_name(name)?;
    let table_type = config.file_schema().field_with_name(name).ok()?.data_type();
    if !same_order(field.data_type(), table_type) {
        return None;
    }
    let mins = converter.row_group_mins(read.iter().copied()).ok()?;
    let maxes = converter.row_group_maxes(read.iter().copied()).ok()?;
    if mins.null_count() > 0 || maxes.null_count() > 0 {
        return None;
    }
    union((0..read.len()).map(|i| {
        let piece = (value(&mins, i, table_type)?, value(&maxes, i, table_type)?);
        Some(Some(piece))
    }))
}

/// Whether values of a file's `own` type keep their order read as the table's `read`
/// type: the same type, text as text, bytes as bytes, or integers as integers (a value a
/// cast cannot carry is refused where it is read).
fn same_order(own: &DataType, read: &DataType) -> bool {
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let bytes = |t: &DataType| {
        matches!(
            t,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView
        )
    };
    own == read
        || (text(own) && text(read))
        || (bytes(own) && bytes(read))
        || (own.is_integer() && read.is_integer())
}

/// The value at `i` of `array` as the table reads it (`read`), when it is one.
fn value(array: &ArrayRef, i: usize, read: &DataType) -> Option<ScalarValue> {
    ScalarValue::try_from_array(array, i)
        .and_then(|value| value.cast_to(read))
        .ok()
        .filter(|value| !value.is_null())
}
