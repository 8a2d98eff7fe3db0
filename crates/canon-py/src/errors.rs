//! Canon's errors as Python exceptions: one class per kind of failure, all under
//! `canon.CanonError`, each carrying the message the `canon` CLI prints for it.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::{PyErr, create_exception};

create_exception!(
    canon,
    CanonError,
    PyException,
    "Every error Canon raises: a bad project, a refused statement or a failed query."
);
create_exception!(
    canon,
    ProjectError,
    CanonError,
    "The project file could not be read or validated, or its datasets could not be \
     registered; the message names the file, line and dataset."
);
create_exception!(
    canon,
    PolicyViolation,
    CanonError,
    "The SQL policy refused a statement; nothing ran."
);
create_exception!(
    canon,
    QueryError,
    CanonError,
    "A statement failed to parse, plan or run; the message points into the SQL when it \
     can."
);

/// The exception for a Canon error, its message rendered as the CLI renders it (against
/// `sql` when the error came from SQL text).
pub fn raise(error: canon::CanonError, sql: Option<&str>) -> PyErr {
    let message = match sql {
        Some(sql) => canon::sql::render_error(&error, sql),
        None => error.to_string(),
    };
    match error {
        canon::CanonError::Policy(_) => PolicyViolation::new_err(message),
        e if e.is_project_error() => ProjectError::new_err(message),
        _ => QueryError::new_err(message),
    }
}

/// Adds the exception classes to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("CanonError", py.get_type::<CanonError>())?;
    module.add("ProjectError", py.get_type::<ProjectError>())?;
    module.add("PolicyViolation", py.get_type::<PolicyViolation>())?;
    module.add("QueryError", py.get_type::<QueryError>())?;
    Ok(())
}
