//! Waiting on Canon from Python: one Tokio runtime for the process, the GIL released
//! while a query plans or runs, and Ctrl-C (KeyboardInterrupt) cancelling it.

use std::sync::OnceLock;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How often a waiting call looks for a pending signal (Ctrl-C) from Python.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// The process's Tokio runtime, made on first use.
pub fn runtime() -> PyResult<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("canon")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start Canon's async runtime: {e}")))
}

/// Runs the future `work` makes to completion without holding the GIL. A signal Python
/// raises meanwhile (KeyboardInterrupt on Ctrl-C) drops the future, which cancels it, and
/// is raised instead. The future is made and polled on this thread, so it need not be
/// `Send`.
pub fn wait<T, F>(py: Python<'_>, work: impl FnOnce() -> F + Send) -> PyResult<T>
where
    F: Future<Output = PyResult<T>>,
    T: Send,
{
    let runtime = runtime()?;
    py.detach(move || {
        runtime.block_on(async move {
            let work = work();
            tokio::pin!(work);
            loop {
                tokio::select! {
                    result = &mut work => return result,
                    () = tokio::time::sleep(SIGNAL_CHECK) => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    })
}
