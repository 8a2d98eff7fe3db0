//! The runtime for Python: a project loaded once, handing out sessions.

use std::path::PathBuf;
use std::sync::Arc;

use canon::Runtime;
use pyo3::prelude::*;

use crate::blocking::wait;
use crate::errors::raise;
use crate::interop::{PyCatalog, PyScalarUdf};
use crate::result::QueryResult;
use crate::session::PySession;

/// A Canon runtime: the project's profile, policy and registered datasets.
#[pyclass(module = "canon", name = "Runtime", frozen)]
pub struct PyRuntime {
    runtime: Arc<Runtime>,
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
            runtime: Arc::new(runtime),
        })
    }

    /// A new session under the project's policy.
    fn session(&self) -> PySession {
        let dialect = self.runtime.project().policy.dialect.clone();
        PySession::new(self.runtime.session(), dialect)
    }

    /// The registered datasets (`canon.datasets`), as a `pyarrow.Table`.
    fn datasets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.runtime.session();
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
        PyCatalog::new(self.runtime.catalog())
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
        let project = self.runtime.project();
        format!(
            "canon.Runtime({:?}, {} datasets)",
            project.name,
            self.runtime.datasets().len()
        )
    }
}
