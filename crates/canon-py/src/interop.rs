//! datafusion-python interop: Canon's datasets as a catalog that a datafusion-python
//! `SessionContext` registers, and Canon's scalar UDFs as FFI functions it calls.
//!
//! A foreign context reads the datasets with their contract-exact schemas, evolution
//! adapters and Delta scans, but Canon's policy, plan hook and diagnostics govern only
//! Canon's own sessions: the foreign context plans and runs its queries itself. The FFI
//! has no version check, so the package pins datafusion-python to DataFusion's major.

use std::ptr::NonNull;
use std::sync::Arc;

use canon::datafusion::catalog::CatalogProvider;
use canon::datafusion::logical_expr::ScalarUDF;
use datafusion_ffi::catalog_provider::FFI_CatalogProvider;
use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_ffi::udf::FFI_ScalarUDF;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::blocking::runtime;

/// Canon's datasets and system tables as a catalog for another DataFusion context.
#[pyclass(module = "canon", name = "Catalog", frozen)]
pub struct PyCatalog {
    catalog: Arc<dyn CatalogProvider>,
}

impl PyCatalog {
    /// The catalog `catalog`.
    pub fn new(catalog: Arc<dyn CatalogProvider>) -> Self {
        Self { catalog }
    }
}

#[pymethods]
impl PyCatalog {
    /// The catalog as datafusion-python's `register_catalog_provider` takes it: an FFI
    /// capsule, using `session`'s logical extension codec. Canon's scans run on Canon's
    /// own Tokio runtime.
    fn __datafusion_catalog_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = logical_codec(session)?;
        let handle = runtime()?.handle().clone();
        let provider =
            FFI_CatalogProvider::new_with_ffi_codec(Arc::clone(&self.catalog), Some(handle), codec);
        PyCapsule::new_with_value(py, provider, c"datafusion_catalog_provider")
    }

    /// The catalog's schemas.
    fn schema_names(&self) -> Vec<String> {
        self.catalog.schema_names()
    }

    fn __repr__(&self) -> String {
        format!("canon.Catalog({})", self.catalog.schema_names().join(", "))
    }
}

/// One of Canon's scalar functions, for datafusion-python's `udf()` or `register_udf()`.
#[pyclass(module = "canon", name = "ScalarUDF", frozen)]
pub struct PyScalarUdf {
    udf: Arc<ScalarUDF>,
}

impl PyScalarUdf {
    /// The function `udf`.
    pub fn new(udf: Arc<ScalarUDF>) -> Self {
        Self { udf }
    }
}

#[pymethods]
impl PyScalarUdf {
    /// The function as an FFI capsule.
    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let udf = FFI_ScalarUDF::from(Arc::clone(&self.udf));
        PyCapsule::new_with_value(py, udf, c"datafusion_scalar_udf")
    }

    /// The function's name.
    #[getter]
    fn name(&self) -> String {
        self.udf.name().to_string()
    }

    fn __repr__(&self) -> String {
        format!("canon.ScalarUDF({})", self.udf.name())
    }
}

/// The logical extension codec a datafusion-python session hands over: a capsule, or an
/// object that makes one.
fn logical_codec(session: Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    const METHOD: &str = "__datafusion_logical_extension_codec__";
    let capsule = if session.hasattr(METHOD)? {
        session.getattr(METHOD)?.call0()?
    } else {
        session
    };
    let capsule = capsule.cast::<PyCapsule>()?;
    let data: NonNull<FFI_LogicalExtensionCodec> = capsule
        .pointer_checked(Some(c"datafusion_logical_extension_codec"))?
        .cast();
    // SAFETY: the capsule's name says it holds an FFI_LogicalExtensionCodec, and the
    // capsule (borrowed here) keeps it alive while it is cloned.
    let codec = unsafe { data.as_ref() };
    Ok(codec.clone())
}
