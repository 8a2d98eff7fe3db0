//! Canon from Python: the extension module `canon._canon` behind the `canon` package.
//!
//! Layers, bottom to top; each imports only from those below it:
//! 1. `errors`: Canon's errors as Python exceptions under `canon.CanonError`.
//! 2. `blocking`: the process's Tokio runtime; waiting without the GIL, Ctrl-C cancels.
//! 3. `result`: results as Arrow C streams (the PyCapsule interface); `interop`: the
//!    catalog and functions as datafusion-python's FFI capsules.
//! 4. `session`: SQL, Ibis and sqlglot queries, explanations, prepared statements.
//! 5. `runtime`: loading a project and handing out sessions and the catalog.

mod blocking;
mod errors;
mod interop;
mod result;
mod runtime;
mod session;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _canon(module: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(module)?;
    module.add_class::<runtime::PyRuntime>()?;
    module.add_class::<session::PySession>()?;
    module.add_class::<session::Explanation>()?;
    module.add_class::<result::QueryResult>()?;
    module.add_class::<interop::PyCatalog>()?;
    module.add_class::<interop::PyScalarUdf>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
