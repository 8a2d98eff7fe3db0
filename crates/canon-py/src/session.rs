//! Sessions for Python: SQL text, Ibis expressions and sqlglot trees all run through the
//! session's policy, plan hook and diagnostics; explanations and prepared statements as
//! the CLI gives them.

use canon::Session;
use canon::datafusion::common::ScalarValue;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString};

use crate::blocking::wait;
use crate::errors::raise;
use crate::result::QueryResult;

/// A Canon session: its own scratch tables and settings over the runtime's datasets.
#[pyclass(module = "canon", name = "Session", frozen)]
pub struct PySession {
    session: Session,
    /// The policy's dialect, in which Ibis and sqlglot queries are rendered.
    dialect: String,
}

impl PySession {
    /// `session`, whose policy reads SQL in `dialect`.
    pub fn new(session: Session, dialect: String) -> Self {
        Self { session, dialect }
    }

    /// Runs SQL text and returns its result.
    fn run(&self, py: Python<'_>, sql: String) -> PyResult<QueryResult> {
        let session = self.session.clone();
        let text = sql.clone();
        let df = wait(py, move || async move {
            session.sql(&text).await.map_err(|e| raise(e, Some(&text)))
        })?;
        Ok(QueryResult::new(df, Some(sql)))
    }
}

#[pymethods]
impl PySession {
    /// Runs one statement: SQL text, an Ibis expression (compiled for DataFusion) or a
    /// sqlglot expression (rendered in the policy's dialect).
    fn sql(&self, py: Python<'_>, query: &Bound<'_, PyAny>) -> PyResult<QueryResult> {
        let sql = match query.cast::<PyString>() {
            Ok(text) => text.to_string(),
            Err(_) => py
                .import("canon._compile")?
                .call_method1("to_sql", (query, &self.dialect))?
                .extract()?,
        };
        self.run(py, sql)
    }

    /// Explains one SQL statement as `canon explain` does: `.fingerprint`, `.lineage`,
    /// `.plan` and the rest. With `analyze=True` it runs the query and adds its metrics.
    #[pyo3(signature = (sql, analyze=false))]
    fn explain(&self, py: Python<'_>, sql: String, analyze: bool) -> PyResult<Explanation> {
        let session = self.session.clone();
        let explanation = wait(py, move || async move {
            session
                .explain(&sql, analyze)
                .await
                .map_err(|e| raise(e, Some(&sql)))
        })?;
        Explanation::new(py, explanation)
    }

    /// Executes a prepared statement (the project's, or one this session prepared) with
    /// parameter values: `int`, `float`, `bool`, `str`, `bytes` or `None`.
    #[pyo3(signature = (name, params=None))]
    fn execute(
        &self,
        py: Python<'_>,
        name: String,
        params: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<QueryResult> {
        let values = params
            .unwrap_or_default()
            .iter()
            .map(scalar)
            .collect::<PyResult<Vec<_>>>()?;
        let session = self.session.clone();
        let df = wait(py, move || async move {
            session
                .execute(&name, values)
                .await
                .map_err(|e| raise(e, None))
        })?;
        Ok(QueryResult::new(df, None))
    }

    /// An unbound Ibis table with a dataset's (or session table's) schema, for building
    /// expressions that `sql()` runs.
    fn ibis<'py>(&self, py: Python<'py>, table: String) -> PyResult<Bound<'py, PyAny>> {
        let session = self.session.clone();
        let name = table.clone();
        let empty = wait(py, move || async move {
            let df = session.table(&name).await.map_err(|e| raise(e, None))?;
            df.limit(0, Some(0))
                .map_err(|e| raise(canon::CanonError::from(e), None))
        })?;
        let empty = Bound::new(py, QueryResult::new(empty, None))?;
        let schema = QueryResult::to_pyarrow(&empty)?.getattr("schema")?;
        py.import("canon._compile")?
            .call_method1("ibis_table", (table, schema))
    }

    /// The events this runtime has recorded (`canon.diagnostics`), as a `pyarrow.Table`.
    fn diagnostics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let result = self.run(py, "SELECT * FROM canon.diagnostics".into())?;
        QueryResult::to_pyarrow(&Bound::new(py, result)?)
    }

    /// This session's id, as diagnostics record it.
    #[getter]
    fn id(&self) -> String {
        self.session.id()
    }
}

/// A Python value as a parameter value.
fn scalar(value: &Bound<'_, PyAny>) -> PyResult<ScalarValue> {
    if value.is_none() {
        Ok(ScalarValue::Null)
    } else if value.is_instance_of::<PyBool>() {
        Ok(ScalarValue::Boolean(Some(value.extract()?)))
    } else if value.is_instance_of::<PyInt>() {
        Ok(ScalarValue::Int64(Some(value.extract()?)))
    } else if value.is_instance_of::<PyFloat>() {
        Ok(ScalarValue::Float64(Some(value.extract()?)))
    } else if value.is_instance_of::<PyString>() {
        Ok(ScalarValue::Utf8(Some(value.extract()?)))
    } else if let Ok(bytes) = value.cast::<PyBytes>() {
        Ok(ScalarValue::Binary(Some(bytes.as_bytes().to_vec())))
    } else {
        Err(PyTypeError::new_err(format!(
            "a parameter must be int, float, bool, str, bytes or None, not {}",
            value.get_type().name()?
        )))
    }
}

/// What `canon explain` reports of a statement.
#[pyclass(module = "canon", name = "Explanation", frozen, get_all)]
pub struct Explanation {
    /// The fingerprint of the optimized plan, as recorded when the query runs.
    fingerprint: String,
    /// The tables read and each output column's sources, as `canon explain --format json`.
    lineage: Py<PyAny>,
    /// The optimized logical plan.
    plan: String,
    /// The plan as planned, before optimization.
    logical_plan: String,
    /// The physical plan.
    physical_plan: String,
    /// The query rendered back to SQL in the policy's dialect, when it can be.
    canonical_sql: Option<String>,
    /// The physical plan with the metrics of a run, when analyzed.
    metrics: Option<String>,
}

impl Explanation {
    fn new(py: Python<'_>, explanation: canon::Explanation) -> PyResult<Self> {
        let lineage = serde_json::to_string(&explanation.lineage)
            .map_err(|e| PyTypeError::new_err(e.to_string()))?;
        let lineage = py
            .import("json")?
            .call_method1("loads", (lineage,))?
            .unbind();
        Ok(Self {
            fingerprint: explanation.fingerprint,
            lineage,
            plan: explanation.optimized_plan,
            logical_plan: explanation.logical_plan,
            physical_plan: explanation.physical_plan,
            canonical_sql: explanation.canonical_sql,
            metrics: explanation.metrics,
        })
    }
}

#[pymethods]
impl Explanation {
    fn __repr__(&self) -> String {
        format!("canon.Explanation(fingerprint={:?})", self.fingerprint)
    }
}
