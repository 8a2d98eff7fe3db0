//! Small generated parquet files for the start-up and cache benchmarks.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use canon::datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use canon::datafusion::parquet::arrow::ArrowWriter;

use crate::BenchResult;

/// The columns of every generated file.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// The same columns as a contract's `columns = [...]` (without the key).
pub const CONTRACT_COLUMNS: &str = "[\n  { name = \"id\", type = \"Int64\", nullable = false },\n  \
     { name = \"name\", type = \"Utf8\" },\n  { name = \"value\", type = \"Float64\" },\n]";

/// The same columns as a hand-written setup declares them in plain DDL (`VARCHAR` plans to
/// `Utf8View` there, which DataFusion reads the files' `Utf8` as).
pub const DDL_COLUMNS: &str = "(id BIGINT NOT NULL, name VARCHAR, value DOUBLE)";

/// Writes one parquet file of `rows` rows whose ids start at `first_id`.
pub fn write_file(path: &Path, first_id: i64, rows: i64) -> BenchResult<()> {
    let ids = first_id..first_id + rows;
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                ids.clone().map(|i| format!("n{i}")),
            )),
            Arc::new(Float64Array::from_iter_values(
                ids.map(|i| (i % 1000) as f64),
            )),
        ],
    )?;
    let file = File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema(), None)?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

/// The two queries over the `many` dataset of `files` files of `rows_per_file` rows each
/// (ids ascending across files): a full scan, and an id range only one file holds.
pub fn queries(files: usize, rows_per_file: i64) -> [(&'static str, String); 2] {
    let middle = files as i64 * rows_per_file / 2;
    [
        (
            "full scan",
            "SELECT count(*), sum(value) FROM many".to_string(),
        ),
        (
            "one file by id",
            format!(
                "SELECT count(*), sum(value) FROM many WHERE id BETWEEN {middle} AND {}",
                middle + rows_per_file - 1
            ),
        ),
    ]
}

/// Empties `dir` (when it exists) and creates it again.
pub fn fresh_dir(dir: &Path) -> BenchResult<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(())
}
