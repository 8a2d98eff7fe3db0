//! Writing into a dataset from Rust: the DataFrame API's `INSERT`, so the write passes
//! the same policy (`allow_dml`) and plan hook as `INSERT INTO` in SQL.

use std::path::Path;

use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::execution::options::{
    ArrowReadOptions, CsvReadOptions, JsonReadOptions, ParquetReadOptions,
};
use datafusion::logical_expr::dml::InsertOp;

use crate::error::{CanonError, Result};
use crate::session::Session;

impl Session {
    /// Appends `rows` to a dataset, or replaces its rows when `overwrite`; returns how many
    /// rows were written.
    pub async fn insert(&self, dataset: &str, rows: DataFrame, overwrite: bool) -> Result<u64> {
        let op = if overwrite {
            InsertOp::Overwrite
        } else {
            InsertOp::Append
        };
        let options = DataFrameWriteOptions::new().with_insert_operation(op);
        let batches = rows.write_table(dataset, options).await?;
        let count = batches
            .first()
            .filter(|b| b.num_columns() == 1 && b.num_rows() == 1)
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<UInt64Array>()
                    .map(|c| c.value(0))
            })
            .unwrap_or_default();
        Ok(count)
    }

    /// The rows of one data file (parquet, csv, json/ndjson or arrow, by its extension).
    pub async fn read_file(&self, path: &Path) -> Result<DataFrame> {
        let text = path.to_string_lossy();
        let ctx = self.context();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let df = match extension.as_deref() {
            Some("parquet") => {
                ctx.read_parquet(text.as_ref(), ParquetReadOptions::default())
                    .await
            }
            Some("csv") => ctx.read_csv(text.as_ref(), CsvReadOptions::default()).await,
            Some(ext @ ("json" | "ndjson" | "jsonl")) => {
                let dotted = format!(".{ext}");
                let options = JsonReadOptions::default().file_extension(&dotted);
                ctx.read_json(text.as_ref(), options).await
            }
            Some("arrow") => {
                ctx.read_arrow(text.as_ref(), ArrowReadOptions::default())
                    .await
            }
            _ => {
                return Err(CanonError::DataFusion(
                    datafusion::error::DataFusionError::Plan(format!(
                        "{}: cannot tell the file's format; expected a .parquet, .csv, .json, \
                         .ndjson or .arrow file",
                        path.display()
                    )),
                ));
            }
        };
        Ok(df?)
    }
}
