//! The runtime for Python: a project loaded once, handing out sessions.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use canon::Runtime;
use canon::datafusion::arrow::array::{
    ArrayRef, Float64Array, ListBuilder, RecordBatch, StringArray, StringBuilder, UInt64Array,
};
use canon::datafusion::arrow::datatypes::SchemaRef;
use canon::models::{BuildOptions, BuildReport, Compiled};
use pyo3::prelude::*;

use crate::blocking::wait;
use crate::errors::raise;
use crate::interop::{PyCatalog, PyScalarUdf};
use crate::result::{QueryResult, batches_to_pyarrow};
use crate::session::PySession;

/// A Canon runtime: the project's profile, policy and registered datasets.
#[pyclass(module = "canon", name = "Runtime", frozen)]
pub struct PyRuntime {
    /// Replaced after a build, so that sessions see the models' new tables.
    runtime: RwLock<Arc<Runtime>>,
}

impl PyRuntime {
    /// The runtime sessions are made from now.
    fn current(&self) -> Arc<Runtime> {
        Arc::clone(&self.runtime.read().unwrap_or_else(|e| e.into_inner()))
    }
}

#[pymethods]
impl PyRuntime {
    /// Loads a project file (`canon.toml`): validates it, registers every dataset and
    /// verifies its schema. Raises `canon.ProjectError` naming the file, line and dataset.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let runtime = wait(py, move || async move {
            Runtime::load(&path).await.map_err(|e| raise(e, None))
        })?;
        Ok(Self {
            runtime: RwLock::new(Arc::new(runtime)),
        })
    }

    /// Compiles every model against the contracts it reads, without reading data, and
    /// returns the models in build order as a `pyarrow.Table` (`model`, `kind`, `reads`).
    /// Raises `canon.ProjectError` listing every problem, pointing into each model's SQL.
    fn compile<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let project = self.current().project().clone();
        let compiled = wait(py, move || async move {
            canon::models::compile(&project)
                .await
                .map_err(|e| raise(e, None))
        })?;
        let (schema, batch) = graph_batch(&compiled).map_err(arrow_error)?;
        batches_to_pyarrow(py, schema, vec![batch])
    }

    /// Builds the models (all of them when `models` is None) in dependency order,
    /// write-audit-publish, and returns the per-model summary as a `pyarrow.Table`
    /// (`model`, `kind`, `status`, `rows`, `seconds`, `message`). A model that fails
    /// commits nothing and its downstream models are skipped; the summary says so. Sessions
    /// made after the build see the models' new tables. `jobs` bounds how many models
    /// build at once (default: the number of cores).
    #[pyo3(signature = (models=None, full_refresh=false, upstream=false, downstream=false, jobs=None))]
    fn build<'py>(
        &self,
        py: Python<'py>,
        models: Option<Vec<String>>,
        full_refresh: bool,
        upstream: bool,
        downstream: bool,
        jobs: Option<std::num::NonZeroUsize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let current = self.current();
        let project = current.project().clone();
        let diagnostics = current.diagnostics().clone();
        let options = BuildOptions {
            models: models.unwrap_or_default(),
            upstream,
            downstream,
            full_refresh,
            jobs: jobs.map_or(0, usize::from),
        };
        let (report, reloaded) = wait(py, move || async move {
            let report =
                canon::models::build(project.clone(), diagnostics.clone(), &options, &mut |_| {})
                    .await
                    .map_err(|e| raise(e, None))?;
            let reloaded = Runtime::new(project, diagnostics)
                .await
                .map_err(|e| raise(e, None))?;
            Ok((report, reloaded))
        })?;
        *self.runtime.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(reloaded);
        let (schema, batch) = report_batch(&report).map_err(arrow_error)?;
        batches_to_pyarrow(py, schema, vec![batch])
    }

    /// A new session under the project's policy.
    fn session(&self) -> PySession {
        let runtime = self.current();
        let dialect = runtime.project().policy.dialect.clone();
        PySession::new(runtime.session(), dialect)
    }

    /// The registered datasets (`canon.datasets`), as a `pyarrow.Table`.
    fn datasets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.current().session();
        let sql = "SELECT * FROM canon.datasets";
        let df = wait(py, move || async move {
            session.sql(sql).await.map_err(|e| raise(e, Some(sql)))
        })?;
        QueryResult::to_pyarrow(&Bound::new(py, QueryResult::new(df, Some(sql.into())))?)
    }

    /// The datasets and system tables as a catalog for a datafusion-python
    /// `SessionContext.register_catalog_provider(name, catalog)`. Canon's policy does not
    /// govern that context's queries.
    fn catalog(&self) -> PyCatalog {
        PyCatalog::new(self.current().catalog())
    }

    /// Canon's scalar functions (`stable_hash64`, `stable_id`, …) for datafusion-python's
    /// `udf()`.
    fn udfs(&self) -> Vec<PyScalarUdf> {
        canon::functions::udfs::all()
            .into_iter()
            .map(PyScalarUdf::new)
            .collect()
    }

    fn __repr__(&self) -> String {
        let runtime = self.current();
        format!(
            "canon.Runtime({:?}, {} datasets)",
            runtime.project().name,
            runtime.datasets().len()
        )
    }
}

fn arrow_error(e: canon::datafusion::arrow::error::ArrowError) -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err(e.to_string())
}

/// The compiled graph as one batch: `model`, `kind`, `reads` (a list of names).
fn graph_batch(
    compiled: &Compiled,
) -> Result<(SchemaRef, RecordBatch), canon::datafusion::arrow::error::ArrowError> {
    let mut reads = ListBuilder::new(StringBuilder::new());
    for model in &compiled.models {
        for name in &model.reads {
            reads.values().append_value(name);
        }
        reads.append(true);
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "model",
            Arc::new(StringArray::from_iter_values(
                compiled.models.iter().map(|m| &m.name),
            )),
        ),
        (
            "kind",
            Arc::new(StringArray::from_iter_values(
                compiled.models.iter().map(|m| m.kind.name()),
            )),
        ),
        ("reads", Arc::new(reads.finish())),
    ];
    let batch = RecordBatch::try_from_iter(columns)?;
    Ok((batch.schema(), batch))
}

/// A build's summary as one batch: `model`, `kind`, `status`, `rows`, `seconds`, `message`.
fn report_batch(
    report: &BuildReport,
) -> Result<(SchemaRef, RecordBatch), canon::datafusion::arrow::error::ArrowError> {
    let models = &report.models;
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "model",
            Arc::new(StringArray::from_iter_values(
                models.iter().map(|m| &m.model),
            )),
        ),
        (
            "kind",
            Arc::new(StringArray::from_iter_values(
                models.iter().map(|m| m.kind.name()),
            )),
        ),
        (
            "status",
            Arc::new(StringArray::from_iter_values(
                models.iter().map(|m| m.status.name()),
            )),
        ),
        (
            "rows",
            Arc::new(UInt64Array::from_iter(models.iter().map(|m| m.rows))),
        ),
        (
            "seconds",
            Arc::new(Float64Array::from_iter_values(
                models.iter().map(|m| m.seconds),
            )),
        ),
        (
            "message",
            Arc::new(StringArray::from_iter(
                models.iter().map(|m| m.message.as_deref()),
            )),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns)?;
    Ok((batch.schema(), batch))
}
