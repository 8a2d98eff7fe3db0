//! Query results for Python: a result is a planned DataFrame that runs when it is read,
//! handed over through the Arrow PyCapsule stream interface, so pyarrow, pandas, polars
//! and DuckDB take its batches without a copy.

use std::ffi::CStr;
use std::sync::Mutex;

use arrow::ffi_stream::FFI_ArrowArrayStream;
use canon::datafusion::arrow::array::{RecordBatchIterator, RecordBatchReader};
use canon::datafusion::arrow::datatypes::SchemaRef;
use canon::datafusion::arrow::error::ArrowError;
use canon::datafusion::arrow::record_batch::RecordBatch;
use canon::datafusion::dataframe::DataFrame;
use canon::datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::blocking::wait;
use crate::errors::raise;

/// The capsule name the Arrow C stream interface requires.
const STREAM_CAPSULE: &CStr = c"arrow_array_stream";

/// The result of a statement; reading it (`pyarrow.table(r)`, `r.to_pandas()`, …) runs
/// the query, and every read runs it again.
#[pyclass(module = "canon", name = "Result", frozen)]
pub struct QueryResult {
    df: DataFrame,
    /// The SQL text the result came from, for errors that point into it.
    sql: Option<String>,
}

impl QueryResult {
    /// The result of `df`, planned from `sql` when it came from SQL text.
    pub fn new(df: DataFrame, sql: Option<String>) -> Self {
        Self { df, sql }
    }
}

#[pymethods]
impl QueryResult {
    /// The Arrow C stream of the result's batches (the Arrow PyCapsule interface).
    /// `requested_schema` is accepted and ignored: the contract's schema is the answer.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let df = self.df.clone();
        let sql = self.sql.clone();
        let stream = wait(py, move || async move {
            df.execute_stream()
                .await
                .map_err(|e| raise(e.into(), sql.as_deref()))
        })?;
        let reader = BlockingReader {
            schema: stream.schema(),
            stream,
        };
        export(py, Box::new(reader))
    }

    /// The whole result as a `pyarrow.Table`. The query runs without the GIL and Ctrl-C
    /// cancels it (KeyboardInterrupt); its batches then pass to pyarrow without a copy.
    pub fn to_pyarrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let df = this.df.clone();
        let sql = this.sql.clone();
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = wait(py, move || async move {
            df.collect()
                .await
                .map_err(|e| raise(e.into(), sql.as_deref()))
        })?;
        batches_to_pyarrow(py, schema, batches)
    }

    /// The whole result as a `pandas.DataFrame` (through pyarrow).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::to_pyarrow(slf)?.call_method0("to_pandas")
    }

    /// The whole result as a `polars.DataFrame` (through pyarrow, without copying).
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let table = Self::to_pyarrow(slf)?;
        slf.py()
            .import("polars")?
            .call_method1("from_arrow", (table,))
    }

    /// The result's column names.
    #[getter]
    fn columns(&self) -> Vec<String> {
        let schema = self.df.schema().as_arrow();
        schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    fn __repr__(&self) -> String {
        let schema = self.df.schema().as_arrow();
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), f.data_type()))
            .collect();
        format!("canon.Result({})", columns.join(", "))
    }
}

/// Batches already computed, as a `pyarrow.Table`, without copying them.
pub fn batches_to_pyarrow(
    py: Python<'_>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PyResult<Bound<'_, PyAny>> {
    let collected = Bound::new(
        py,
        Collected {
            schema,
            batches: Mutex::new(Some(batches)),
        },
    )?;
    py.import("pyarrow")?
        .getattr("RecordBatchReader")?
        .call_method1("from_stream", (collected,))?
        .call_method0("read_all")
}

/// Batches already computed, handed to pyarrow once through the C stream interface.
#[pyclass(module = "canon", frozen)]
struct Collected {
    schema: SchemaRef,
    batches: Mutex<Option<Vec<RecordBatch>>>,
}

#[pymethods]
impl Collected {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batches = self
            .batches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        let reader = RecordBatchIterator::new(
            batches.into_iter().map(Ok),
            std::sync::Arc::clone(&self.schema),
        );
        export(py, Box::new(reader))
    }
}

/// A reader as an Arrow C stream in a capsule, for whoever imports it.
fn export(
    py: Python<'_>,
    reader: Box<dyn RecordBatchReader + Send>,
) -> PyResult<Bound<'_, PyCapsule>> {
    let ffi = FFI_ArrowArrayStream::new(reader);
    PyCapsule::new_with_value(py, ffi, STREAM_CAPSULE)
}

/// A result stream read batch by batch from C: each batch is awaited on Canon's runtime
/// without the GIL, so other Python threads go on while it is produced.
struct BlockingReader {
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
}

impl Iterator for BlockingReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let stream = &mut self.stream;
        let next = Python::attach(|py| wait(py, || async { Ok(stream.next().await) }));
        match next {
            Ok(batch) => batch.map(|b| b.map_err(ArrowError::from)),
            Err(e) => Some(Err(ArrowError::ExternalError(Box::new(e)))),
        }
    }
}

impl RecordBatchReader for BlockingReader {
    fn schema(&self) -> SchemaRef {
        std::sync::Arc::clone(&self.schema)
    }
}
